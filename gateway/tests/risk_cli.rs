//! `didgate risk eval` and `didgate risk score` as a user runs them: the small
//! evaluation (what the test command runs), its report and plots, and the
//! generated events scored back through the JSONL interface.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{didgate_cli, tempdir};

#[test]
fn small_evaluation_writes_the_report_and_its_events_score_line_for_line() {
    let dir = tempdir("risk-eval");
    let events = dir.join("events.jsonl");
    let out = didgate_cli(&[
        "risk",
        "eval",
        "--size",
        "small",
        "--seed",
        "7",
        "--out",
        dir.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("didgate") && stdout.contains("freeman"),
        "{stdout}"
    );

    let report = std::fs::read_to_string(dir.join("RESULTS.md")).unwrap();
    assert!(
        report.contains("didgate risk eval --size small --seed 7"),
        "{report}"
    );
    for kind in [
        "account-takeover",
        "session-replay",
        "credential-spray",
        "all-attacks",
    ] {
        let svg = std::fs::read_to_string(dir.join(format!("roc-{kind}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{kind}"
        );
        assert!(report.contains(&format!("roc-{kind}.svg")));
    }

    // The generated events through the offline scorer: one line out per line in.
    let scores = dir.join("scores.jsonl");
    let out = didgate_cli(&[
        "risk",
        "score",
        "--input",
        events.to_str().unwrap(),
        "--output",
        scores.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n_in = std::fs::read_to_string(&events).unwrap().lines().count();
    let labels = std::fs::read_to_string(dir.join("events.labels.jsonl")).unwrap();
    let scored = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(scored.lines().count(), n_in);
    assert_eq!(labels.lines().count(), n_in);
    // Attacks score higher than benign traffic on average.
    let (mut attack, mut benign) = ((0.0, 0), (0.0, 0));
    for (s, l) in scored.lines().zip(labels.lines()) {
        let s: serde_json::Value = serde_json::from_str(s).unwrap();
        let l: serde_json::Value = serde_json::from_str(l).unwrap();
        let x = s["score"].as_f64().unwrap();
        if l["attack"].is_null() {
            benign = (benign.0 + x, benign.1 + 1);
        } else {
            attack = (attack.0 + x, attack.1 + 1);
        }
    }
    let (a, b) = (attack.0 / attack.1 as f64, benign.0 / benign.1 as f64);
    assert!(a > 3.0 * b, "attack mean {a} vs benign mean {b}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn score_refuses_missing_files_clearly() {
    let out = didgate_cli(&[
        "risk",
        "score",
        "--input",
        "/nonexistent/events.jsonl",
        "--output",
        "-",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open /nonexistent/events.jsonl"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}
