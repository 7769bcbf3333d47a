//! The decision log's cost. On the request path it is `AuditLog::record`, a
//! push on a bounded queue, while the real writer task appends batches to a
//! SQLite database in a temporary folder (as `server.rs` builds it: one
//! writer, queue of `database.audit_queue` = 65,536). Behind it, how many
//! records per second the writer gets into the database: through the queue
//! and writer, and `audit::DecisionDb::insert` alone (one transaction per
//! batch of 1,024, the writer's largest).
//!
//!   cargo bench -p didgate --bench audit
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::{AuditLog, AuditWriter, DecisionRecord, Effect};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use didgate::store::Store;

/// The default `database.audit_queue`.
const QUEUE: usize = 65_536;
/// Most records pushed between two checks that the queue has room (a full
/// queue refuses, which is not the path measured).
const CHUNK: u64 = 4096;
/// Records queued before `decision_log_append`, so its writer is busy.
const BACKLOG: u64 = 2048;
/// The writer's largest batch (`audit.rs`).
const BATCH: usize = 1024;
/// Rows in `store_insert_varied_1_to_32`: one transaction of each size 1..=32.
const VARIED_ROWS: usize = 32 * 33 / 2;

/// An allowed, forwarded request, as `path.rs` fills the record.
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
    }
}

/// `n` records with fresh ids (the primary key), built off the clock.
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

/// Block until the writer has written `target` records in all.
fn wait_written(log: &AuditLog, target: u64) {
    while log.stats().written.load(Ordering::Relaxed) < target {
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// The writer's store, as `server.rs` opens it: its own connection.
async fn store(dir: &Path, name: &str) -> Store {
    Store::connect(&format!("sqlite://{}", dir.join(name).display()))
        .await
        .unwrap()
        .dedicated()
        .await
        .unwrap()
}

/// A runtime whose one worker thread runs the writer; the bench thread
/// plays the request path. And a temporary folder for the databases.
fn setup(what: &str) -> (tokio::runtime::Runtime, PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("didgate-bench-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (rt, dir)
}

/// A decision log with its writer running on a fresh SQLite database.
struct Log {
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
    store: Store,
    log: AuditLog,
    writer: AuditWriter,
    pushed: u64,
}

impl Log {
    fn start(what: &str) -> Self {
        let (rt, dir) = setup(what);
        let store = rt.block_on(store(&dir, "audit.db"));
        let (log, writer) = {
            let _rt = rt.enter();
            AuditLog::spawn(store.decisions(), QUEUE)
        };
        Log {
            rt,
            dir,
            store,
            log,
            writer,
            pushed: 0,
        }
    }

    /// Flush, check every record pushed was written, remove the database.
    fn finish(self) {
        let Log {
            rt,
            dir,
            store,
            log,
            writer,
            pushed,
        } = self;
        drop(log);
        rt.block_on(async {
            writer.finish().await;
            assert_eq!(
                store.decisions().count().await.unwrap(),
                i64::try_from(pushed).unwrap()
            );
            store.close().await;
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The request path under load: one queue push per decision, the writer
/// busy with earlier batches (a backlog is kept queued), so a push is the
/// channel operation alone.
fn append(c: &mut Criterion) {
    let template = template();
    let mut l = Log::start("audit-append");
    for r in records(&template, BACKLOG as usize) {
        l.log.try_record(r).unwrap();
    }
    l.pushed += BACKLOG;
    c.bench_function("decision_log_append", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                // Room for `n` more; what is left queued keeps the writer busy.
                wait_written(&l.log, l.pushed.saturating_sub(QUEUE as u64 - n));
                let batch = records(&template, n as usize);
                let start = Instant::now();
                for r in batch {
                    l.log.try_record(black_box(r)).unwrap();
                }
                timed += start.elapsed();
                l.pushed += n;
                left -= n;
            }
            timed
        })
    });
    l.finish();
}

/// The request path at low load: every push finds the writer waiting on an
/// empty queue, and wakes it.
fn append_idle_writer(c: &mut Criterion) {
    let template = template();
    let mut l = Log::start("audit-append-idle");
    // The writer's first transactions (connection, statement cache) off the clock.
    for r in records(&template, 3) {
        l.log.try_record(r).unwrap();
        l.pushed += 1;
        wait_written(&l.log, l.pushed);
    }
    c.bench_function("decision_log_append_idle_writer", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let r = records(&template, 1).pop().unwrap();
                // Everything written and the writer back to waiting.
                wait_written(&l.log, l.pushed);
                std::thread::sleep(Duration::from_micros(200));
                let start = Instant::now();
                l.log.try_record(black_box(r)).unwrap();
                timed += start.elapsed();
                l.pushed += 1;
            }
            timed
        })
    });
    l.finish();
}

/// Records per second into the database.
fn write_throughput(c: &mut Criterion) {
    let template = template();
    let mut l = Log::start("audit-write");
    let mut g = c.benchmark_group("decision_log_write_throughput");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));

    // Through the queue and the writer: push 1,024, wait until written.
    g.bench_function("writer_1024", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let batch = records(&template, BATCH);
                let start = Instant::now();
                for r in batch {
                    l.log.try_record(r).unwrap();
                }
                l.pushed += BATCH as u64;
                wait_written(&l.log, l.pushed);
                timed += start.elapsed();
            }
            timed
        })
    });

    // One transaction of 1,024 rows, no queue (a database of its own).
    let insert = l.rt.block_on(store(&l.dir, "insert.db"));
    g.bench_function("store_insert_1024", |b| {
        b.to_async(&l.rt).iter_batched(
            || records(&template, BATCH),
            |batch| {
                let store = &insert;
                async move { store.decisions().insert(&batch).await.unwrap() }
            },
            BatchSize::PerIteration,
        )
    });

    // What the writer sees below saturation: small transactions of varied
    // sizes (1 to 32 rows; 528 in all), one per linger window.
    let varied = l.rt.block_on(store(&l.dir, "varied.db"));
    g.throughput(Throughput::Elements(VARIED_ROWS as u64));
    g.bench_function("store_insert_varied_1_to_32", |b| {
        b.to_async(&l.rt).iter_batched(
            || (1..=32).map(|n| records(&template, n)).collect::<Vec<_>>(),
            |batches| {
                let store = &varied;
                async move {
                    for batch in &batches {
                        store.decisions().insert(batch).await.unwrap();
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    l.rt.block_on(varied.close());
    l.rt.block_on(insert.close());
    l.finish();
}

// Criterion sizes a run from the wall time of its warm-up, waits and record
// building included, so these times bound the wall time; what is reported is
// the pushes alone. Every record pushed is written by the writer, at the
// database's pace: the queue bounds the backlog left at the end.
criterion_group! {
    name = append_benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(60));
    targets = append
}
// Each push here first waits for a one-record transaction (milliseconds).
criterion_group! {
    name = append_idle_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_secs(2));
    targets = append_idle_writer
}
criterion_group!(throughput_benches, write_throughput);
criterion_main!(append_benches, append_idle_benches, throughput_benches);
