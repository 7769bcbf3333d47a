//! `didgate risk score`'s JSONL reader (`didgate::cli::risk_commands::score_stream`
//! over `risk::EventRecord` lines): each line parsed, validated
//! (`EventRecord::as_event`) and scored by a fresh engine that learns from
//! the lines before it.
//!
//! Checks, beyond not panicking: one output line per input line, each a
//! JSON object whose `score` is in [0, 1] and whose `factors` are strings;
//! a malformed line scores exactly `{"score":0.0,"factors":[]}`; the
//! summary's counts agree with the input.
#![no_main]

use didgate::cli::risk_commands::score_stream;
use libfuzzer_sys::fuzz_target;
use risk::RiskConfig;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let summary = score_stream(data, &mut out, &mut errors, RiskConfig::default())
        .expect("reading and writing memory cannot fail");
    let lines = data.split_inclusive(|b| *b == b'\n').count() as u64;
    assert_eq!(summary.lines, lines);
    assert!(summary.malformed <= summary.lines);
    let text = std::str::from_utf8(&out).expect("the output is UTF-8");
    let out_lines: Vec<&str> = text.lines().collect();
    assert_eq!(out_lines.len() as u64, lines);
    let errors = String::from_utf8_lossy(&errors);
    assert_eq!(errors.lines().count() as u64, summary.malformed);
    for report in errors.lines() {
        let n: usize = report
            .strip_prefix("line ")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a report names its line: {report}"));
        assert_eq!(
            out_lines[n - 1],
            r#"{"score":0.0,"factors":[]}"#,
            "{report}"
        );
    }
    for line in out_lines {
        let v: Value = serde_json::from_str(line).expect("each output line is JSON");
        let score = v["score"].as_f64().expect("a score");
        assert!((0.0..=1.0).contains(&score), "{line}");
        let factors = v["factors"].as_array().expect("factors");
        assert!(factors.iter().all(Value::is_string), "{line}");
    }
});
