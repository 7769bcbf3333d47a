//! The evaluation harness: generate labelled traffic ([`generator`]), run
//! the engine and the Freeman baseline over the same stream, measure them
//! ([`metrics`]) and write `RESULTS.md` with ROC plots ([`plot`]).

pub mod generator;
pub mod metrics;
pub mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use generator::{AttackKind, AttackLabel, LabelledEvent};

use crate::{Event, Scorer};

/// How much traffic to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// ~40 identities, 10 days: seconds in a debug build (the test suite).
    Small,
    /// ~400 identities, 30 days: the published numbers (release build).
    Full,
}

/// What to evaluate on.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub seed: u64,
    pub size: Size,
}

/// One scorer's numbers on one attack kind (or on all attacks together,
/// `kind: None`). Negatives are always all benign events.
#[derive(Debug, Clone)]
pub struct KindMetrics {
    pub kind: Option<AttackKind>,
    /// Attack events of this kind.
    pub positives: usize,
    pub instances: usize,
    pub auc: f64,
    pub tpr_at_1pct_fpr: f64,
    pub tpr_at_0_1pct_fpr: f64,
    /// The 1%-FPR threshold (see [`metrics`] for the convention).
    pub threshold_1pct: f64,
    /// Median, over detected instances, of the instance's events before its
    /// first event at or above the 1%-FPR threshold.
    pub median_delay: Option<f64>,
    /// Instances with at least one event at or above the 1%-FPR threshold.
    pub detected_fraction: f64,
    /// The ROC curve, thinned for plotting.
    pub roc: Vec<metrics::RocPoint>,
}

/// One scorer's results.
#[derive(Debug, Clone)]
pub struct ScorerReport {
    pub name: &'static str,
    /// Wall time per `score_and_learn`, nanoseconds.
    pub ns_per_event: f64,
    pub overall: KindMetrics,
    pub kinds: Vec<KindMetrics>,
}

impl ScorerReport {
    /// The numbers for one attack kind.
    pub fn kind(&self, kind: AttackKind) -> Option<&KindMetrics> {
        self.kinds.iter().find(|k| k.kind == Some(kind))
    }
}

/// Everything `RESULTS.md` says.
#[derive(Debug, Clone)]
pub struct EvalReport {
    pub seed: u64,
    pub size: Size,
    pub population: generator::Population,
    pub events: usize,
    pub benign_events: usize,
    /// Records the scorers could not read (should be 0).
    pub skipped: usize,
    /// Per kind: (instances, events).
    pub attacks: Vec<(AttackKind, usize, usize)>,
    pub generate_secs: f64,
    /// "debug" or "release" (`cfg!(debug_assertions)`).
    pub build: &'static str,
    pub scorers: Vec<ScorerReport>,
}

impl EvalReport {
    /// A scorer's results by name ("didgate", "freeman").
    pub fn scorer(&self, name: &str) -> Option<&ScorerReport> {
        self.scorers.iter().find(|s| s.name == name)
    }
}

/// Generate the stream for `config`, score it with `crate::Engine` and
/// [`crate::freeman::Freeman`], and measure both.
pub fn run(config: &EvalConfig, engine: crate::RiskConfig) -> EvalReport {
    let started = Instant::now();
    let stream = generator::generate(config.seed, config.size);
    let generate_secs = started.elapsed().as_secs_f64();
    let mut labels = Vec::with_capacity(stream.len());
    let mut events: Vec<Event<'_>> = Vec::with_capacity(stream.len());
    let mut skipped = 0;
    for e in &stream {
        match e.record.as_event() {
            Ok(ev) => {
                events.push(ev);
                labels.push(e.label);
            }
            Err(_) => skipped += 1,
        }
    }
    let mut scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(crate::Engine::new(engine)),
        Box::new(crate::freeman::Freeman::new()),
    ];
    let reports = scorers
        .iter_mut()
        .map(|scorer| {
            let t = Instant::now();
            let scores: Vec<f64> = events
                .iter()
                .map(|ev| scorer.score_and_learn(ev).score)
                .collect();
            let ns = t.elapsed().as_nanos() as f64 / events.len().max(1) as f64;
            measure(scorer.name(), ns, &scores, &labels)
        })
        .collect();
    let attacks = AttackKind::ALL
        .iter()
        .map(|&k| {
            let evs: Vec<u32> = labels
                .iter()
                .filter_map(|l| l.filter(|l| l.kind == k).map(|l| l.instance))
                .collect();
            let instances: std::collections::BTreeSet<u32> = evs.iter().copied().collect();
            (k, instances.len(), evs.len())
        })
        .collect();
    EvalReport {
        seed: config.seed,
        size: config.size,
        population: generator::population(config.size),
        events: events.len(),
        benign_events: labels.iter().filter(|l| l.is_none()).count(),
        skipped,
        attacks,
        generate_secs,
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        scorers: reports,
    }
}

fn measure(
    name: &'static str,
    ns_per_event: f64,
    scores: &[f64],
    labels: &[Option<AttackLabel>],
) -> ScorerReport {
    let benign: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| l.is_none())
        .map(|(s, _)| *s)
        .collect();
    let neg = metrics::sorted(&benign);
    let one = |kind: Option<AttackKind>| {
        let mine = |l: &Option<AttackLabel>| match (l, kind) {
            (Some(l), Some(k)) => l.kind == k,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let pos: Vec<f64> = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| mine(l))
            .map(|(s, _)| *s)
            .collect();
        let t1 = metrics::threshold_at_fpr(&neg, 0.01);
        let t01 = metrics::threshold_at_fpr(&neg, 0.001);
        // Instances are numbered per kind: key by (kind, instance).
        let per_instance = scores.iter().zip(labels).filter_map(|(s, l)| {
            l.filter(|_| mine(l))
                .map(|l| (kind_index(l.kind) * 1_000_000 + l.instance, *s))
        });
        let delays = metrics::detection_delays(per_instance, t1);
        let (median_delay, detected_fraction) = metrics::summarise_delays(&delays);
        KindMetrics {
            kind,
            positives: pos.len(),
            instances: delays.len(),
            auc: metrics::auc(&pos, &neg),
            tpr_at_1pct_fpr: metrics::rate_at(&pos, t1),
            tpr_at_0_1pct_fpr: metrics::rate_at(&pos, t01),
            threshold_1pct: t1,
            median_delay,
            detected_fraction,
            roc: metrics::thin(&metrics::roc_curve(&pos, &neg), plot::MIN_FPR),
        }
    };
    ScorerReport {
        name,
        ns_per_event,
        overall: one(None),
        kinds: AttackKind::ALL.iter().map(|&k| one(Some(k))).collect(),
    }
}

fn kind_index(kind: AttackKind) -> u32 {
    AttackKind::ALL.iter().position(|&k| k == kind).unwrap_or(0) as u32
}

fn svg_name(kind: Option<AttackKind>) -> String {
    format!("roc-{}.svg", kind.map_or("all-attacks", AttackKind::slug))
}

impl EvalReport {
    /// `RESULTS.md`; `command` is what reproduces it.
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::new();
        let date = time::OffsetDateTime::now_utc().date();
        let p = &self.population;
        let _ = writeln!(s, "# didgate risk engine: evaluation results\n");
        let _ = writeln!(
            s,
            "Generated {date} by\n\n```sh\n{command}\n```\n\n\
             Seed {}, size {:?}, {} build. Scores from `risk::eval::run`.\n",
            self.seed, self.size, self.build
        );
        let _ = writeln!(s, "## Data\n");
        let _ = writeln!(
            s,
            "Synthetic, seeded traffic (`risk::eval::generator`): {} employees and {} services over {} days \
             from Monday 2026-10-05, {} events, {} of them benign{}.\n",
            p.employees,
            p.services,
            p.days,
            self.events,
            self.benign_events,
            if self.skipped > 0 {
                format!(" ({} unreadable records skipped)", self.skipped)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "- **Employees** work weekdays in their own office's time zone (Berlin, London, New York, Bengaluru), \
             from the office (a few NAT addresses shared by everyone there), from home (a residential ISP, \
             occasionally re-leased) or, on trips, from airport and hotel networks abroad after a plausible flight. \
             Evenings bring short sessions from the phone on a mobile carrier (a new address each time). \
             One laptop, often a phone too (user agent, JA4-like `tls_fp`, `device_id`). Sessions are a `login` \
             (`vp_jwt`) then requests to the team's area, with new paths now and then and some 403/404/304/500."
        );
        let _ = writeln!(
            s,
            "- **Services** call a few API paths around the clock from one or two datacenter addresses with one \
             HTTP-library user agent, logging in once an hour."
        );
        let _ = writeln!(
            s,
            "- **Attacks** start after a {:.0}% warm-up and are spread over the rest of the period:\n",
            100.0 * generator::WARMUP
        );
        let _ = writeln!(
            s,
            "| attack | instances | events | what |\n|---|---:|---:|---|"
        );
        for (k, n, e) in &self.attacks {
            let _ = writeln!(s, "| {} | {n} | {e} | {} |", k.title(), k.description());
        }
        let _ = writeln!(s, "\n## Results\n");
        let _ = writeln!(
            s,
            "Positives are one attack kind's events, negatives all benign events. AUC is Mann–Whitney \
             (ties count half). TPR@α: the share of attack events scoring at or above the lowest threshold \
             whose benign FPR does not exceed α (ties at the boundary stay unflagged). Delay: per attack \
             instance, the number of its events before the first one at or above the 1%-FPR threshold \
             (median over detected instances); detected: the share of instances with any such event.\n"
        );
        let _ = writeln!(
            s,
            "| scorer | attack | AUC | TPR@1%FPR | TPR@0.1%FPR | median delay | detected |\n|---|---|---:|---:|---:|---:|---:|"
        );
        for r in &self.scorers {
            for m in r.kinds.iter().chain(std::iter::once(&r.overall)) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} | {:.3} | {:.3} | {} | {:.0}% |",
                    r.name,
                    m.kind.map_or("**all attacks**", AttackKind::title),
                    m.auc,
                    m.tpr_at_1pct_fpr,
                    m.tpr_at_0_1pct_fpr,
                    m.median_delay.map_or("–".to_owned(), |d| format!("{d:.1}")),
                    100.0 * m.detected_fraction
                );
            }
        }
        let _ = writeln!(s, "\n## Cost\n");
        let _ = writeln!(
            s,
            "Wall time per `score_and_learn` ({} build, one thread, total over the stream / events; \
             generation took {:.2} s):\n",
            self.build, self.generate_secs
        );
        for r in &self.scorers {
            let _ = writeln!(s, "- {}: {:.2} µs/event", r.name, r.ns_per_event / 1_000.0);
        }
        let _ = writeln!(s, "\n## ROC curves\n");
        for kind in AttackKind::ALL.iter().map(|&k| Some(k)).chain([None]) {
            let name = svg_name(kind);
            let title = kind.map_or("All attacks", AttackKind::title);
            let _ = writeln!(s, "- [{title}]({name})");
        }
        s
    }

    /// The SVG plots, by file name.
    pub fn svgs(&self) -> Vec<(String, String)> {
        AttackKind::ALL
            .iter()
            .map(|&k| Some(k))
            .chain([None])
            .map(|kind| {
                let series: Vec<plot::Series<'_>> = self
                    .scorers
                    .iter()
                    .filter_map(|r| {
                        let m = match kind {
                            Some(k) => r.kind(k)?,
                            None => &r.overall,
                        };
                        Some(plot::Series {
                            name: r.name,
                            auc: m.auc,
                            points: &m.roc,
                        })
                    })
                    .collect();
                let title = format!("ROC: {}", kind.map_or("all attacks", AttackKind::title));
                (svg_name(kind), plot::roc_svg(&title, &series))
            })
            .collect()
    }

    /// Write `RESULTS.md` and the SVGs into `dir` (created if missing);
    /// returns the paths written.
    pub fn write(&self, dir: &Path, command: &str) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let results = dir.join("RESULTS.md");
        std::fs::write(&results, self.markdown(command))?;
        written.push(results);
        for (name, svg) in self.svgs() {
            let path = dir.join(name);
            std::fs::write(&path, svg)?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn small_run_engine_beats_freeman_which_beats_chance() {
        let report = run(
            &EvalConfig {
                seed: 1,
                size: Size::Small,
            },
            crate::RiskConfig::default(),
        );
        assert_eq!(report.skipped, 0);
        let f = report.scorer("freeman").unwrap();
        let ato = f.kind(AttackKind::AccountTakeover).unwrap();
        assert!(ato.positives > 0 && ato.instances >= 3);
        assert!(ato.auc > 0.7, "freeman ATO AUC {}", ato.auc);
        for m in f.kinds.iter().chain([&f.overall]) {
            assert!((0.0..=1.0).contains(&m.auc));
            assert!((0.0..=1.0).contains(&m.tpr_at_1pct_fpr));
            assert!(m.tpr_at_0_1pct_fpr <= m.tpr_at_1pct_fpr);
        }
        // The engine must beat the baseline: overall, and at 1% FPR on every
        // attack kind (at least match it where both are perfect).
        let d = report.scorer("didgate").unwrap();
        eprintln!("{}", report.markdown("small"));
        assert!(
            d.overall.auc > f.overall.auc && d.overall.tpr_at_1pct_fpr > f.overall.tpr_at_1pct_fpr,
            "didgate {:?} vs freeman {:?}",
            (d.overall.auc, d.overall.tpr_at_1pct_fpr),
            (f.overall.auc, f.overall.tpr_at_1pct_fpr)
        );
        for kind in AttackKind::ALL {
            let (dk, fk) = (d.kind(kind).unwrap(), f.kind(kind).unwrap());
            assert!(
                dk.tpr_at_1pct_fpr + 0.05 >= fk.tpr_at_1pct_fpr,
                "{kind:?}: didgate {} vs freeman {}",
                dk.tpr_at_1pct_fpr,
                fk.tpr_at_1pct_fpr
            );
            assert!(dk.detected_fraction >= 0.5, "{kind:?} mostly missed");
        }
        let md = report.markdown("cargo test -p risk");
        assert!(md.contains("| freeman | Account takeover |"));
        assert!(md.contains("roc-account-takeover.svg"));
        let dir = std::env::temp_dir().join(format!("didgate-eval-{}", std::process::id()));
        let written = report.write(&dir, "cargo test -p risk").unwrap();
        assert_eq!(written.len(), 1 + AttackKind::ALL.len() + 1);
        let svg = std::fs::read_to_string(dir.join("roc-all-attacks.svg")).unwrap();
        assert!(svg.contains(r#"data-name="freeman""#) && svg.contains(r#"data-name="didgate""#));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The published numbers: `DIDGATE_EVAL_OUT=dir cargo test -p risk
    /// --release -- --ignored eval_report` (`DIDGATE_EVAL_SIZE=small` for the
    /// small set).
    #[test]
    #[ignore = "minutes; run in release to refresh RESULTS.md"]
    fn eval_report() {
        let size = match std::env::var("DIDGATE_EVAL_SIZE").as_deref() {
            Ok("small") => Size::Small,
            _ => Size::Full,
        };
        let command = "DIDGATE_EVAL_OUT=DIR cargo test -p risk --release -- --ignored eval_report";
        let t = Instant::now();
        let report = run(&EvalConfig { seed: 1, size }, crate::RiskConfig::default());
        eprintln!("eval ({size:?}): {:.1} s", t.elapsed().as_secs_f64());
        eprintln!("{}", report.markdown(command));
        if let Ok(dir) = std::env::var("DIDGATE_EVAL_OUT") {
            report.write(Path::new(&dir), command).unwrap();
        }
    }
}
