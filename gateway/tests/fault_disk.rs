//! Fault injection: the disk under the decision log fills up. The gateway's
//! SQLite database lives on a filesystem of its own (a 16 MiB tmpfs,
//! `test_support::Tmpfs`), which the test fills to the last byte while
//! clients keep sending requests, then frees.
//!
//! While the disk is full, SQLite cannot append to its write-ahead log, so
//! the writer's batch fails (`SQLITE_FULL`) and is retried, never dropped.
//! Decisions are queued in memory while the queue (`[database] audit_queue`)
//! has room, and their requests answered as usual; once it is full and the
//! writer is failing, requests are refused `503 audit_unavailable` at once:
//! never forwarded unaudited, the process does not crash (its health
//! endpoint answers), and memory stays bounded. Recovery is automatic: once
//! space is freed the writer's next try (within its backoff, at most 5 s)
//! writes the queued decisions and requests are allowed again. Every request
//! a client saw answered, but for `audit_unavailable`, has exactly one row,
//! visible to every connection (SQLite may end a transaction by itself on a
//! full disk; the writer then replaces its connection, so that its later
//! commits are real ones, not savepoints inside a transaction left open).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use support::*;
use test_support::Tmpfs;

const LOAD: &str = "/eng/load";
const BEFORE: u8 = 0;
const FULL: u8 = 1;
const FREED: u8 = 2;
const OK: (StatusCode, &str) = (StatusCode::OK, "allowed");
const NO_AUDIT: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_under_the_decision_log_refuses_then_recovers() {
    let dir = tempdir("disk-full");
    let fs = Tmpfs::mount(&dir.join("fs"), 16 << 20).unwrap();
    let db = format!("sqlite://{}", fs.path().join("decisions.db").display());
    let mut h = Harness::start(Some(db), "").await;
    h.reconfigure(|c| c.database.audit_queue = 16).await;

    let h = Arc::new(h);
    let load = Load::start(&h, 4, LOAD);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The disk fills up.
    load.set_phase(FULL);
    let full_at = Instant::now();
    let filled = fs.fill().unwrap();
    let refused_at = load
        .wait_for(FULL, NO_AUDIT.0, NO_AUDIT.1, Duration::from_secs(15))
        .await;
    // Full for 3 s more: refused, alive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    h.send(Method::GET, "/.didgate/health", None, &[])
        .await
        .assert_ok();
    let written_while_full = h.gw().decisions_written();

    // Space comes back.
    load.set_phase(FREED);
    fs.free().unwrap();
    let freed_at = Instant::now();
    let resumed_after = load
        .wait_for(FREED, OK.0, OK.1, Duration::from_secs(30))
        .await
        - freed_at;
    let steady = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (answers, errors) = load.stop().await;
    assert!(errors.is_empty(), "transport errors: {errors:?}");
    for (phase, a) in &answers {
        assert!(a.is(OK.0, OK.1) || a.is(NO_AUDIT.0, NO_AUDIT.1), "{a:?}");
        if *phase == BEFORE || a.at > steady {
            assert!(a.is(OK.0, OK.1), "with room on the disk: {a:?}");
        }
    }

    let all: Vec<Answer> = answers.iter().map(|(_, a)| a.clone()).collect();
    let (logged, unlogged) =
        assert_each_answer_logged_once(&h.gw().store, &all, LOAD, Duration::from_secs(30)).await;
    let n = |p, (s, c): (StatusCode, &str)| count_answers(&answers, p, s, c);
    println!(
        "FAULT disk_full answered={} before_ok={} full_ok={} full_503={} freed_ok={} \
         freed_503={} rows={logged} audit_unavailable={unlogged} filled_bytes={filled} \
         refused_after_ms={} written_while_full={written_while_full} resumed_after_free_ms={}",
        all.len(),
        n(BEFORE, OK),
        n(FULL, OK),
        n(FULL, NO_AUDIT),
        n(FREED, OK),
        n(FREED, NO_AUDIT),
        (refused_at - full_at).as_millis(),
        resumed_after.as_millis(),
    );
    let h = Arc::try_unwrap(h).ok().expect("the clients are done");
    h.stop().await;
    drop(fs);
    let _ = std::fs::remove_dir_all(&dir);
}
