//! `didgate risk score` and `didgate risk eval`: the risk engine offline.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use risk::eval::{EvalConfig, Size};
use risk::{Engine, EventRecord, RiskAssessment, RiskConfig};

/// Longest input line accepted (a longer one is reported as malformed).
const MAX_LINE: usize = 1 << 20;

/// What `score` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    pub lines: u64,
    pub malformed: u64,
    /// Identities profiled, and their profiles' approximate size in bytes.
    pub identities: usize,
    pub profile_bytes: usize,
}

/// Score a JSONL stream of events in order: one `{"score":…,"factors":[…]}`
/// line out per line in. A line that is not a valid event is reported on
/// `errors` with its line number, written as `{"score":0.0,"factors":[]}`
/// and not learned from.
pub fn score_stream(
    input: impl Read,
    output: impl Write,
    mut errors: impl Write,
    config: RiskConfig,
) -> Result<ScoreSummary> {
    let engine = Engine::new(config);
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut summary = ScoreSummary::default();
    let mut buf = Vec::with_capacity(1024);
    let mut line_out = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("cannot read the input")?;
        if n == 0 {
            break;
        }
        summary.lines += 1;
        let too_long = buf.len() > MAX_LINE && buf.last() != Some(&b'\n');
        if too_long {
            // Skip the rest of this line without holding it in memory.
            loop {
                let chunk = reader.fill_buf().context("cannot read the input")?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let n = chunk.len();
                        reader.consume(n);
                    }
                }
            }
        }
        let line = trim_newline(&buf);
        let parsed = if too_long {
            Err(format!("longer than {MAX_LINE} bytes"))
        } else {
            parse_event(line)
        };
        let assessment = match parsed {
            Ok(record) => match record.as_event() {
                Ok(ev) => Some(engine.score(&ev)),
                Err(e) => {
                    report(&mut errors, summary.lines, &e.to_string());
                    None
                }
            },
            Err(e) => {
                report(&mut errors, summary.lines, &e);
                None
            }
        };
        if assessment.is_none() {
            summary.malformed += 1;
        }
        line_out.clear();
        write_score(&mut line_out, assessment.as_ref());
        out.write_all(&line_out)
            .context("cannot write the output")?;
    }
    out.flush().context("cannot write the output")?;
    (summary.identities, summary.profile_bytes) = engine.memory();
    Ok(summary)
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn parse_event(line: &[u8]) -> Result<EventRecord, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_owned())?;
    if text.trim().is_empty() {
        return Err("empty line".to_owned());
    }
    serde_json::from_str(text).map_err(|e| format!("not an event: {e}"))
}

fn report(errors: &mut impl Write, line: u64, problem: &str) {
    // One report per line: a problem can quote the input (serde names an
    // unknown variant as written), whose control characters are escaped.
    let mut shown = String::with_capacity(problem.len());
    for c in problem.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    let _ = writeln!(errors, "line {line}: {shown}; scored as nothing");
}

/// `{"score":0.42,"factors":["new_network","new_device"]}` and a newline.
fn write_score(out: &mut Vec<u8>, a: Option<&RiskAssessment>) {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        score: f64,
        factors: Vec<&'a str>,
    }
    let line = match a {
        Some(a) => Line {
            score: a.score,
            factors: a.factor_names().collect(),
        },
        None => Line {
            score: 0.0,
            factors: Vec::new(),
        },
    };
    // Serializing plain numbers and strings cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// `didgate risk score --input F --output F` (`-` = stdin/stdout).
pub fn score(input: &Path, output: &Path) -> Result<()> {
    let started = Instant::now();
    let reader: Box<dyn Read> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(input)
                .with_context(|| format!("cannot open {}", input.display()))?,
        )
    };
    let writer: Box<dyn Write> = if output == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(output)
                .with_context(|| format!("cannot create {}", output.display()))?,
        )
    };
    let summary = score_stream(reader, writer, std::io::stderr(), RiskConfig::default())?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "scored {} lines ({} malformed) in {:.2} s ({:.2} µs per line); {} identities, {:.1} KiB of profiles ({} bytes each on average)",
        summary.lines,
        summary.malformed,
        secs,
        secs * 1e6 / summary.lines.max(1) as f64,
        summary.identities,
        summary.profile_bytes as f64 / 1024.0,
        summary.profile_bytes / summary.identities.max(1)
    );
    Ok(())
}

/// `didgate risk eval` on a blocking thread (scoring is CPU work, kept off the async workers).
pub async fn eval_blocking(
    size: Size,
    seed: u64,
    out: PathBuf,
    events: Option<PathBuf>,
) -> Result<()> {
    tokio::task::spawn_blocking(move || eval(size, seed, &out, events.as_ref()))
        .await
        .context("the evaluation panicked")?
}

/// `didgate risk eval`: generate labelled traffic, score it with the engine
/// and the Freeman et al. baseline, write the report and ROC plots.
pub fn eval(size: Size, seed: u64, out: &Path, events: Option<&PathBuf>) -> Result<()> {
    let command = format!(
        "didgate risk eval --size {} --seed {seed} --out {}",
        match size {
            Size::Small => "small",
            Size::Full => "full",
        },
        out.display()
    );
    let config = EvalConfig { seed, size };
    if let Some(path) = events {
        let generated = risk::eval::generator::generate(seed, size);
        let labels = path.with_extension("labels.jsonl");
        let write = |p: &Path, labels: bool| -> Result<()> {
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            let w = BufWriter::new(file);
            if labels {
                risk::eval::generator::write_labels_jsonl(&generated, w)
            } else {
                risk::eval::generator::write_jsonl(&generated, w)
            }
            .with_context(|| format!("cannot write {}", p.display()))
        };
        write(path, false)?;
        write(&labels, true)?;
        eprintln!(
            "wrote {} events to {} and their labels to {}",
            generated.len(),
            path.display(),
            labels.display()
        );
    }
    eprintln!("evaluating ({command}) …");
    let report = risk::eval::run(&config, RiskConfig::default());
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let written = report
        .write(out, &command)
        .with_context(|| format!("cannot write the report into {}", out.display()))?;
    for s in &report.scorers {
        println!(
            "{:<8} AUC {:.3}  TPR@1%FPR {:.3}  TPR@0.1%FPR {:.3}  {:.2} µs/event",
            s.name,
            s.overall.auc,
            s.overall.tpr_at_1pct_fpr,
            s.overall.tpr_at_0_1pct_fpr,
            s.ns_per_event / 1000.0
        );
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(input: &str) -> (String, String, ScoreSummary) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let s = score_stream(input.as_bytes(), &mut out, &mut err, RiskConfig::default()).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            s,
        )
    }

    #[test]
    fn one_line_out_per_line_in_with_malformed_lines_reported() {
        let good = r#"{"ts":"2026-11-25T09:00:00Z","subject":"did:ex:a","kind":"login","ip":"10.0.0.1","extra":[1]}"#;
        let input = format!(
            "{good}\nnot json\n\n{{\"ts\":\"x\",\"subject\":\"s\",\"kind\":\"login\",\"ip\":\"1.2.3.4\"}}\n{good}"
        );
        let (out, err, summary) = run(&input);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert_eq!(
            (summary.lines, summary.malformed, summary.identities),
            (5, 3, 1)
        );
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let score = v["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&score));
            assert!(v["factors"].is_array());
            assert_eq!(
                v.as_object().unwrap().len(),
                2,
                "exactly score and factors: {l}"
            );
        }
        assert_eq!(lines[1], r#"{"score":0.0,"factors":[]}"#);
        assert!(err.contains("line 2: not an event"), "{err}");
        assert!(err.contains("line 3: empty line"), "{err}");
        assert!(err.contains("line 4: ts \"x\""), "{err}");
        assert!(!err.contains("line 1:") && !err.contains("line 5:"));
    }

    #[test]
    fn invalid_utf8_and_crlf_do_not_crash() {
        let mut input = b"{\"ts\":\"2026-11-25T09:00:00Z\",\"subject\":\"did:ex:a\",\"kind\":\"request\",\"ip\":\"::1\"}\r\n".to_vec();
        input.extend_from_slice(b"\xff\xfe\n");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let s = score_stream(&input[..], &mut out, &mut err, RiskConfig::default()).unwrap();
        assert_eq!((s.lines, s.malformed), (2, 1));
        assert!(String::from_utf8(err)
            .unwrap()
            .contains("line 2: not UTF-8"));
    }

    /// Found by `fuzz/fuzz_targets/risk_jsonl.rs` (input, minimised:
    /// `b"{\"kind\":\"\\n\""`): serde quotes an unknown variant as written, so
    /// a decoded newline in it split one line's report in two — and could
    /// forge a report for another line.
    #[test]
    fn a_report_is_one_line_whatever_the_input_quotes() {
        let (out, err, s) = run("{\"kind\":\"\\n\"\n{\"kind\":\"\\nline 1: forged\"}\n");
        assert_eq!((s.lines, s.malformed), (2, 2));
        assert_eq!(out.lines().count(), 2);
        assert_eq!(err.lines().count(), 2, "{err}");
        assert!(err.lines().all(|l| l.starts_with("line ")), "{err}");
        assert!(err.contains("unknown variant `\\n`"), "{err}");
    }

    #[test]
    fn an_unusual_event_scores_higher_than_the_usual_one() {
        let mut input = String::new();
        for d in 0..20 {
            for h in 9..17 {
                input.push_str(&format!(
                    "{{\"ts\":\"2026-11-{:02}T{h:02}:00:00Z\",\"subject\":\"did:ex:a\",\"kind\":\"request\",\"ip\":\"10.0.0.1\",\"user_agent\":\"curl/8\",\"path\":\"/x\",\"status\":200}}\n",
                    d + 1
                ));
            }
        }
        input.push_str("{\"ts\":\"2026-11-21T10:00:00Z\",\"subject\":\"did:ex:a\",\"kind\":\"request\",\"ip\":\"10.0.0.1\",\"user_agent\":\"curl/8\",\"path\":\"/x\"}\n");
        input.push_str("{\"ts\":\"2026-11-21T10:01:00Z\",\"subject\":\"did:ex:a\",\"kind\":\"login\",\"ip\":\"203.0.113.9\",\"user_agent\":\"Mozilla/5.0 (Windows NT 10.0) Firefox/120.0\",\"country\":\"BR\",\"asn\":64500}\n");
        let (out, _, _) = run(&input);
        let scores: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let usual = &scores[scores.len() - 2];
        let odd = &scores[scores.len() - 1];
        assert!(usual["score"].as_f64().unwrap() < 0.1, "{usual}");
        assert!(odd["score"].as_f64().unwrap() > 0.5, "{odd}");
        assert!(odd["factors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "new_network"));
    }
}
