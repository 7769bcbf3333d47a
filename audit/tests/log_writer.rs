//! The request path's handle on the log: every decision `record` returns
//! for is in the log, in a checkpoint after `finish`, and verifies; after
//! `finish` decisions are refused.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::time::Duration;

use audit::tlog::{verify_log, Tlog, TlogConfig};
use audit::AuditLog;
use tlog_support::{record, KEY, ORIGIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_decisions_are_in_the_log_and_it_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let config = TlogConfig::new(ORIGIN, KEY);
    let (log, _) = Tlog::open(dir.path(), &config).unwrap();
    let (audit, writer) = AuditLog::spawn(
        log,
        dir.path().to_path_buf(),
        config.clone(),
        Duration::from_millis(5),
    )
    .unwrap();
    // Many requests at once: group commit puts them into few batches.
    let mut tasks = Vec::new();
    for i in 0..2_000u64 {
        let a = audit.clone();
        tasks.push(tokio::spawn(async move { a.record(record(i)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = audit.stats();
    assert_eq!(
        stats.written.load(std::sync::atomic::Ordering::Relaxed),
        2_000
    );
    assert_eq!(stats.size.load(std::sync::atomic::Ordering::Relaxed), 2_000);
    writer.finish().await;
    assert!(
        audit.record(record(9_999)).await.is_err(),
        "refused once closed"
    );
    let report = verify_log(dir.path(), &config.vkey().unwrap()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let (reopened, r) = Tlog::open(dir.path(), &config).unwrap();
    assert_eq!(reopened.size(), 2_000);
    assert_eq!(r.signed, 2_000, "the last checkpoint covers every entry");
}
