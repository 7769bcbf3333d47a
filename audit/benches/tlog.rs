//! The transparency log's cost on the request path and its throughput:
//!
//! - `tlog/encode`: one typical decision encoded into a batch (what the
//!   request path pays per decision; target ≤ 2 µs);
//! - `tlog/append`: batches of 1024 framed entries appended, hashed into the
//!   tree, with full tiles, bundles and a checkpoint a second written, at
//!   `Fsync::Batch`, on a tmpfs (`/dev/shm`) when there is one, else in
//!   the temp dir, or in `$TLOG_BENCH_DIR` (target ≥ 200,000 entries a
//!   second on one core).
//!
//! - `tlog/decode_full` and `tlog/decode_row`: one entry read back, as
//!   `audit verify` reads it (owned fields) and as the SQL indexer reads
//!   it (strings borrowed, arrays kept as their JSON text), plus what the
//!   indexer then turned the full form into before it had rows to bind
//!   (the arrays re-encoded as JSON, the policy set as hex).
//!
//!   cargo bench -p audit --bench tlog
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit::tlog::{decode, decode_row, Batch, Entry, Fsync, Tlog, TlogConfig};
use audit::{DecisionRecord, Effect};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A decision as the gateway logs it: a wallet-authenticated employee,
/// allowed, with one credential and two risk factors.
fn typical() -> DecisionRecord {
    DecisionRecord {
        id: "0192f0c4-5a3e-7b41-9c2d-4e5f6a7b8c9d".into(),
        ts_ms: 1_800_000_000_123,
        gateway: Arc::from("gw-1"),
        route: Some(Arc::from("eng-dashboards")),
        method: "GET".into(),
        host: "dash.corp.example".into(),
        path: "/eng/dashboards/latency?range=24h".into(),
        client_ip: IpAddr::from([10, 20, 30, 40]),
        subject: Some("did:ethr:0x5FbDB2315678afecb367f032d93F642f64180aa3".into()),
        auth_method: Some("session"),
        credential_types: vec!["EmployeeCredential".into()],
        issuers: vec!["did:ethr:0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".into()],
        effect: Effect::Allow,
        status: None,
        reason: "allowed",
        policies: vec!["eng-read".into(), "office-hours".into()],
        risk_score: 0.137,
        risk_factors: vec![
            risk::Factor {
                name: "new_device",
                weight: 0.09,
            },
            risk::Factor {
                name: "unusual_hour",
                weight: 0.047,
            },
        ],
        policy_set: [0; 32],
        credential_ids: Vec::new(),
    }
}

const POLICY_SET: [u8; 32] = [0x3c; 32];

fn encode(c: &mut Criterion) {
    let rec = typical();
    let ids = ["urn:uuid:5b0c8e3a-8d1f-4a3b-9f1e-2c3d4e5f6a7b".to_owned()];
    let entry = Entry {
        record: &rec,
        policy_set: &POLICY_SET,
        credential_ids: &ids,
    };
    let mut batch = Batch::with_capacity(1 << 20);
    let mut g = c.benchmark_group("tlog");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        b.iter(|| {
            if batch.len() == 1024 {
                batch.clear();
            }
            black_box(batch.push(black_box(&entry)).unwrap());
        })
    });
    g.finish();
}

fn read_back(c: &mut Criterion) {
    let rec = typical();
    let ids = ["urn:uuid:5b0c8e3a-8d1f-4a3b-9f1e-2c3d4e5f6a7b".to_owned()];
    let mut bytes = Vec::new();
    Entry {
        record: &rec,
        policy_set: &POLICY_SET,
        credential_ids: &ids,
    }
    .encode_into(&mut bytes)
    .unwrap();
    let mut g = c.benchmark_group("tlog");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_full", |b| {
        b.iter(|| {
            let d = decode(black_box(&bytes)).unwrap();
            let json = |v: &Vec<String>| serde_json::to_string(v).unwrap();
            black_box((
                json(&d.credential_types),
                json(&d.credential_ids),
                json(&d.issuers),
                json(&d.policies),
                serde_json::to_string(&d.risk_factors).unwrap(),
                hex::encode(d.policy_set),
                d,
            ))
        })
    });
    g.bench_function("decode_row", |b| {
        b.iter(|| black_box(decode_row(black_box(&bytes)).unwrap()))
    });
    g.finish();
}

/// `TLOG_BENCH_DIR`, else a tmpfs, else the temp dir.
fn scratch_dir() -> PathBuf {
    let base = if let Some(dir) = std::env::var_os("TLOG_BENCH_DIR") {
        PathBuf::from(dir)
    } else if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("didgate-tlog-bench-{}", std::process::id()))
}

fn append(c: &mut Criterion) {
    let rec = typical();
    let mut template = Batch::new();
    for i in 0..1024u32 {
        let mut r = rec.clone();
        r.path = format!("/eng/dashboards/latency?range=24h&n={i}");
        let ids = [format!("urn:uuid:{i:08x}-8d1f-4a3b-9f1e-2c3d4e5f6a7b")];
        template
            .push(&Entry {
                record: &r,
                policy_set: &POLICY_SET,
                credential_ids: &ids,
            })
            .unwrap();
    }
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = TlogConfig::new("didgate.example/bench", [7; 32]);
    config.fsync = Fsync::Batch;
    config.checkpoint_interval = Duration::from_secs(1);
    let (mut log, _) = Tlog::open(&dir, &config).unwrap();

    let mut g = c.benchmark_group("tlog");
    g.throughput(Throughput::Elements(template.len()));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("append", |b| {
        b.iter(|| {
            let mut batch = template.clone();
            log.append(&mut batch).unwrap();
            log.tick().unwrap();
        })
    });
    g.finish();
    let size = log.size();
    let last = log.close().unwrap();
    assert_eq!(last.size, size);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, encode, read_back, append);
criterion_main!(benches);
