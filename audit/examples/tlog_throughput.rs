//! A fixed amount of work for comparing two builds of the log writer on
//! a noisy machine: `N` entries (default 1,048,576) in batches of 1,024,
//! hashed, with tiles, bundles and a checkpoint a second, `Fsync::Batch`,
//! in `DIR` (default a tmpfs). Prints entries per second of wall time; run
//! it under `/usr/bin/time` for the CPU it took.
//!
//!   cargo run --release -p audit --example tlog_throughput -- [DIR] [N]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use audit::tlog::{Batch, Entry, Fsync, Tlog, TlogConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/dev/shm".into()));
    let n: u64 = args.next().map_or(1 << 20, |s| s.parse().unwrap());
    let dir = base.join(format!("didgate-tlog-tput-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut template = Batch::new();
    let policy_set = [0x3c; 32];
    for i in 0..1024u32 {
        let rec = sample(&format!(
            "/eng/dashboards/latency?range=24h&n={i}&view={}",
            "q".repeat(80)
        ));
        let ids = [format!("urn:uuid:{i:08x}-8d1f-4a3b-9f1e-2c3d4e5f6a7b")];
        template
            .push(&Entry {
                record: &rec,
                policy_set: &policy_set,
                credential_ids: &ids,
            })
            .unwrap();
    }
    let mut config = TlogConfig::new("didgate.example/bench", [7; 32]);
    config.fsync = Fsync::Batch;
    config.checkpoint_interval = Duration::from_secs(1);
    let (mut log, _) = Tlog::open(&dir, &config).unwrap();
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let mut batch = template.clone();
        done += log.append(&mut batch).unwrap().count;
        log.tick().unwrap();
    }
    log.close().unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{done} entries, {:.0} bytes each, in {secs:.2} s: {:.0} entries/s",
        template.bytes().len() as f64 / template.len() as f64,
        done as f64 / secs
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A typical allowed decision for `path` (entries of about 800 bytes).
fn sample(path: &str) -> audit::DecisionRecord {
    audit::DecisionRecord {
        id: "0192f0c4-5a3e-7b41-9c2d-4e5f6a7b8c9d".into(),
        ts_ms: 1_800_000_000_123,
        gateway: std::sync::Arc::from("gw-1"),
        route: Some(std::sync::Arc::from("eng-dashboards")),
        method: "GET".into(),
        host: "dash.corp.example".into(),
        path: path.to_owned(),
        client_ip: std::net::IpAddr::from([10, 20, 30, 40]),
        subject: Some("did:ethr:0x5FbDB2315678afecb367f032d93F642f64180aa3".into()),
        auth_method: Some("session"),
        credential_types: vec!["EmployeeCredential".into()],
        issuers: vec!["did:ethr:0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".into()],
        effect: audit::Effect::Allow,
        status: None,
        reason: "allowed",
        policies: vec!["eng-read".into(), "office-hours".into()],
        risk_score: 0.137,
        risk_factors: vec![risk::Factor {
            name: "new_device",
            weight: 0.09,
        }],
        policy_set: [0; 32],
        credential_ids: Vec::new(),
    }
}
