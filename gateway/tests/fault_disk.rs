//! Fault injection: the disk under the decision log fills up. The gateway's
//! transparency log (`[audit] dir`) lives on a filesystem of its own (a
//! 16 MiB tmpfs, `test_support::Tmpfs`), which the test fills to the last
//! byte while clients keep sending requests, then frees.
//!
//! While the disk is full, the writer's `write` of a batch fails (ENOSPC):
//! what it wrote of the batch is cut back, the batch's requests are refused
//! `503 audit_unavailable` (never forwarded unaudited), and each later batch
//! is tried again, so the process does not crash (its health endpoint
//! answers) and memory stays bounded (a request waits for its own batch
//! only). Recovery is automatic: once space is freed the next batch is
//! written and requests are allowed again. Every request a client saw
//! answered, but for `audit_unavailable`, has exactly one entry in the log
//! and so one row in the index built from it; the log verifies after.
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
    let mut h = Harness::start(None, "").await;
    let log_dir = fs.path().join("log");
    h.reconfigure(|c| c.audit.dir = log_dir.clone()).await;

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
    let vkey = h.gw().log_vkey().to_owned();
    h.stop().await;
    // What was written while the disk filled and emptied is a log that
    // verifies, every entry in a signed checkpoint.
    let report = audit::tlog::verify_log(&log_dir, &vkey).unwrap();
    assert!(report.is_ok(), "{report:?}");
    drop(fs);
    let _ = std::fs::remove_dir_all(&dir);
}
