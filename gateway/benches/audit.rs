//! The decision log's cost, as the gateway runs it (`server/decision_log.rs`):
//!
//! - `decision_log/record_64`: 64 requests each `record` a decision at once
//!   and wait until it is in its segment (group commit: the request that
//!   finds the log free writes whatever has gathered in one `write`),
//!   `fsync = "batch"` every 10 ms; what a burst of requests waits for
//!   before being forwarded;
//! - `decision_log/record_1`: one request alone: the latency one decision
//!   adds at low load (one yield, one write);
//! - `decision_index/sqlite_1024`: the indexer's SQL cost, 1,024 entries and
//!   the cursor in one SQLite transaction (off the request path).
//!
//! The log lives on a tmpfs (`/dev/shm`) when there is one, else in the temp
//! dir, or in `$TLOG_BENCH_DIR`.
//!
//!   cargo bench -p didgate --bench audit
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::tlog::{Fsync, Tlog, TlogConfig};
use audit::{AuditLog, Cursor, DecisionRecord, Effect, Indexed, LogRef};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use didgate::store::Store;

/// An allowed, forwarded request, as `request/mod.rs` fills the record.
fn template() -> DecisionRecord {
    DecisionRecord {
        id: String::new(),
        ts_ms: 1_800_000_000_000,
        gateway: Arc::from("gw-bench-1"),
        route: Some(Arc::from("app246")),
        method: "GET".into(),
        host: "eng.example.com".into(),
        path: "/eng/reports/2026/q3.pdf".into(),
        client_ip: IpAddr::from([10, 1, 2, 3]),
        subject: Some("did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH".into()),
        auth_method: Some("vp_jwt"),
        credential_types: vec!["EmployeeCredential".into()],
        issuers: vec!["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK".into()],
        effect: Effect::Allow,
        status: None,
        reason: "allowed",
        policies: vec!["app246-eng-read".into()],
        risk_score: 0.12,
        risk_factors: vec![risk::Factor {
            name: "new_user_agent",
            weight: 0.118,
        }],
        policy_set: [0x3c; 32],
        credential_ids: vec!["urn:uuid:6f1e2d3c-8d1f-4a3b-9f1e-2c3d4e5f6a7b".into()],
    }
}

/// `n` records with fresh ids, built off the clock.
fn records(template: &DecisionRecord, n: usize) -> Vec<DecisionRecord> {
    (0..n)
        .map(|i| {
            let mut r = template.clone();
            r.id = uuid::Uuid::now_v7().to_string();
            r.ts_ms += i as i64;
            r
        })
        .collect()
}

fn scratch(what: &str) -> PathBuf {
    let base = std::env::var_os("TLOG_BENCH_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            shm.is_dir().then_some(shm)
        })
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("didgate-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The request path's side: two runtime workers play the requests, the
/// writer and syncer threads are the gateway's own.
fn record(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = scratch("record");
    let mut config = TlogConfig::new("didgate.example/bench", [7; 32]);
    config.fsync = Fsync::Batch;
    let (tlog, _) = Tlog::open(&dir, &config).unwrap();
    let (log, writer) = {
        let _rt = rt.enter();
        AuditLog::spawn(tlog, dir.clone(), config, Duration::from_millis(10)).unwrap()
    };
    let template = template();
    let mut g = c.benchmark_group("decision_log");
    for burst in [64usize, 1] {
        g.throughput(Throughput::Elements(burst as u64));
        g.bench_function(format!("record_{burst}"), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let batch = records(&template, burst);
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = batch
                            .into_iter()
                            .map(|r| {
                                let log = log.clone();
                                tokio::spawn(async move { log.record(r).await })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap().unwrap();
                        }
                    });
                    timed += start.elapsed();
                }
                timed
            })
        });
    }
    g.finish();
    let written = log.stats().written.load(Ordering::Relaxed);
    rt.block_on(writer.finish());
    let (reopened, report) =
        Tlog::open(&dir, &TlogConfig::new("didgate.example/bench", [7; 32])).unwrap();
    assert_eq!(
        reopened.size(),
        written,
        "every decision recorded is in the log"
    );
    assert_eq!(report.signed, written, "and in the last checkpoint");
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The indexer's transactions: 1,024 rows and the cursor at a time.
fn index(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("didgate-bench-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = rt.block_on(async {
        Store::connect(&format!("sqlite://{}", dir.join("index.db").display()))
            .await
            .unwrap()
    });
    let template = template();
    let log = LogRef {
        gateway: Arc::from("gw-bench-1"),
        log_id: "ab".repeat(32),
    };
    let mut next = 0u64;
    let mut g = c.benchmark_group("decision_index");
    g.throughput(Throughput::Elements(1024));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("sqlite_1024", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let rows: Vec<Indexed> = records(&template, 1024)
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Indexed::from_record(next + i as u64, r).unwrap())
                    .collect();
                next += 1024;
                (rows, next)
            },
            |(rows, next)| {
                let db = store.decisions();
                let log = &log;
                async move {
                    let cursor = Cursor {
                        next_index: next,
                        byte_offset: next * 400,
                    };
                    db.index(log, &rows, cursor, 0).await.unwrap()
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    rt.block_on(async {
        assert_eq!(
            store.decisions().count().await.unwrap(),
            i64::try_from(next).unwrap()
        );
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = record, index
}
criterion_main!(benches);
