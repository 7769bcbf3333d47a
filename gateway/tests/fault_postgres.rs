//! Fault injection: PostgreSQL restarted under load. The gateways use a
//! private server (`test_support::PostgresInstance`: its own data directory
//! and port, so the shared server other tests use is never touched), which
//! the test stops in immediate mode (every backend killed, as in a crash)
//! and starts again while clients keep sending requests.
//!
//! While the database is down, the decision log cannot be written. Each
//! decision is queued in memory while the queue (`[database] audit_queue`)
//! has room, and its request is answered — allowed and forwarded, or
//! refused — as usual; its row is written once the database is back. When
//! the queue is full, a request waits for room (up to 2 s) while the writer
//! has not failed yet, and is refused `503 audit_unavailable` at once once
//! it has: nothing is forwarded unaudited, and memory stays bounded. A
//! refusal for `audit_unavailable` has no row (the log could not take it).
//! Sessions that must be read from the database (a session another
//! gateway opened) are refused `503 session_store_unavailable`, and so is a
//! wallet's login answer (it must be recorded): a 503, not a panic.
//!
//! Recovery is automatic: the writer retries its batch (with a backoff of
//! at most 5 s) and the pool reconnects, the queued decisions are written,
//! and requests are allowed again. Nothing is lost: every request a client
//! saw answered, but for `audit_unavailable`, has exactly one row (counted
//! by decision id: the `x-didgate-decision-id` the upstream received, or the
//! `decision_id` of a refusal). A batch whose commit reached the database
//! but whose acknowledgement was lost with the connection is recognised as
//! written when its retry finds its rows, not retried forever.
//!
//! Not guaranteed: a gateway that crashes while the database is down, or is
//! shut down then (it waits 15 s for the log to flush), loses the decisions
//! still queued in memory — at most `audit_queue` plus the batch being
//! retried (≤ 1,024), including those of requests it forwarded. A login
//! endpoint's refusal (here the wallet's answer, `503
//! session_store_unavailable`) is audited like any other
//! (`a_login_refused_for_the_store_is_audited`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::{AuditLog, DecisionRecord, Effect};
use didgate::store::Store;
use http::StatusCode;
use support::*;
use test_support::PostgresInstance;

const LOAD: &str = "/eng/load";
const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const AFTER: u8 = 2;
const OK: (StatusCode, &str) = (StatusCode::OK, "allowed");
const NO_AUDIT: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_decision() {
    let mut pg = tokio::task::block_in_place(PostgresInstance::start).unwrap();
    let url = pg.create_database("didgate").unwrap();
    let mut h = Harness::start(Some(url), "").await;
    h.reconfigure(|c| c.database.audit_queue = 16).await;
    // A browser session opened here; a second gateway on the same database
    // has never seen it, so it must read it from the database.
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    let cookie = jar.header();
    let twin = didgate::start(&h.config).await.unwrap();
    let twin_url = format!("http://{}", twin.http_addr.unwrap());
    // A login page (it writes nothing) whose wallet answer comes during the outage.
    let mut browser = Jar::default();
    let page = browser_get(&h.url, &mut browser, "/.didgate/login", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let login = request_on_page(&page);

    // Four clients, steady load.
    let h = Arc::new(h);
    let load = Load::start(&h, 4, LOAD);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // PostgreSQL dies.
    load.set_phase(DOWN);
    let down_at = Instant::now();
    tokio::task::block_in_place(|| pg.stop_immediate()).unwrap();
    let session_probe = {
        let (twin_url, cookie) = (twin_url.clone(), cookie.clone());
        tokio::spawn(async move { get_with_cookie(&twin_url, LOAD, &cookie).await })
    };
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let answer = didgate::login::openid4vp::AuthorizationResponse::Presentation {
        state: login.state.clone(),
        vp_token: h.login_vp(&h.alice, vec![vc], &login),
    };
    let login_probe = {
        let h = h.clone();
        tokio::spawn(async move { h.post_wallet_answer(answer.to_form()).await })
    };
    // Both need the database: 503s, once the pool gives up (5 s), not panics.
    let session_probe = session_probe.await.unwrap();
    assert_eq!(session_probe.status, StatusCode::SERVICE_UNAVAILABLE);
    let session_code = session_probe.code();
    assert!(
        ["session_store_unavailable", "audit_unavailable"].contains(&session_code.as_str()),
        "{session_code}"
    );
    // The refusal is audited like any other: when the log cannot take it
    // either (its queue is full by then), the answer says so instead.
    let login_probe = login_probe.await.unwrap();
    assert_eq!(login_probe.status, StatusCode::SERVICE_UNAVAILABLE);
    let login_code = login_probe.code();
    assert!(
        ["session_store_unavailable", "audit_unavailable"].contains(&login_code.as_str()),
        "{login_code}"
    );
    // Down for 6 s at least; with the queue full, requests are refused.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(down_at.elapsed())).await;
    load.wait_for(DOWN, NO_AUDIT.0, NO_AUDIT.1, Duration::from_secs(10))
        .await;
    let health = h
        .send(http::Method::GET, "/.didgate/health", None, &[])
        .await;
    health.assert_ok();

    // It comes back.
    load.set_phase(AFTER);
    tokio::task::block_in_place(|| pg.start_again()).unwrap();
    let down_for = down_at.elapsed();
    let up_at = Instant::now();
    let resumed_after = load
        .wait_for(AFTER, OK.0, OK.1, Duration::from_secs(30))
        .await
        - up_at;
    // A further second of load: all allowed now.
    let steady = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (answers, errors) = load.stop().await;
    assert!(errors.is_empty(), "transport errors: {errors:?}");
    for (phase, a) in &answers {
        assert!(a.is(OK.0, OK.1) || a.is(NO_AUDIT.0, NO_AUDIT.1), "{a:?}");
        if *phase == BEFORE || a.at > steady {
            assert!(a.is(OK.0, OK.1), "with the database up: {a:?}");
        }
    }
    // The session is read from the database again.
    let r = get_with_cookie(&twin_url, LOAD, &cookie).await;
    r.assert_ok();

    // Every answer has its row, none twice; no row for audit_unavailable.
    let mut all: Vec<Answer> = answers.iter().map(|(_, a)| a.clone()).collect();
    all.push(Answer::of(&session_probe));
    all.push(Answer::of(&r));
    let (logged, unlogged) =
        assert_each_answer_logged_once(&h.gw().store, &all, LOAD, Duration::from_secs(30)).await;
    let n = |p, (s, c): (StatusCode, &str)| count_answers(&answers, p, s, c);
    println!(
        "FAULT postgres answered={} before_ok={} down_ok={} down_503={} after_ok={} \
         after_503={} rows={logged} audit_unavailable={unlogged} down_ms={} \
         first_allowed_after_restart_ms={} session_probe={session_code}",
        all.len(),
        n(BEFORE, OK),
        n(DOWN, OK),
        n(DOWN, NO_AUDIT),
        n(AFTER, OK),
        n(AFTER, NO_AUDIT),
        down_for.as_millis(),
        resumed_after.as_millis(),
    );
    twin.shutdown().await;
    let h = Arc::try_unwrap(h).ok().expect("the clients are done");
    h.stop().await;
    tokio::task::block_in_place(|| pg.stop()).unwrap();
}

/// A wallet's login answer refused because the database is down is a
/// refusal like any other: audited (queued, and written once the database
/// is back), so the `decision_id` its body names exists in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_refused_for_the_store_is_audited() {
    let mut pg = tokio::task::block_in_place(PostgresInstance::start).unwrap();
    let url = pg.create_database("didgate").unwrap();
    let h = Harness::start(Some(url), "").await;
    let mut browser = Jar::default();
    let page = browser_get(&h.url, &mut browser, "/.didgate/login", &[]).await;
    let login = request_on_page(&page);
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let answer = didgate::login::openid4vp::AuthorizationResponse::Presentation {
        state: login.state.clone(),
        vp_token: h.login_vp(&h.alice, vec![vc], &login),
    };
    tokio::task::block_in_place(|| pg.stop_immediate()).unwrap();
    let r = h.post_wallet_answer(answer.to_form()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let id = r.decision_id().expect("a decision id");
    tokio::task::block_in_place(|| pg.start_again()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = h.gw().store.decisions().recent(1000).await;
        if rows.is_ok_and(|rows| rows.iter().any(|d| d.id == id)) {
            break;
        }
        assert!(Instant::now() < deadline, "decision {id} never logged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    h.stop().await;
}

fn record(path: &str) -> DecisionRecord {
    DecisionRecord {
        id: audit::new_id(didgate::clock::unix_ms()),
        ts_ms: 1_700_000_000_000,
        gateway: Arc::from("gw-1"),
        route: Some(Arc::from("demo")),
        method: "GET".into(),
        host: "h".into(),
        path: path.into(),
        client_ip: "127.0.0.1".parse::<IpAddr>().unwrap(),
        subject: None,
        auth_method: Some("vp_jwt"),
        credential_types: vec![],
        issuers: vec![],
        effect: Effect::Allow,
        status: None,
        reason: "allowed",
        policies: vec![],
        risk_score: 0.0,
        risk_factors: vec![],
    }
}

/// The connection dies after PostgreSQL committed a batch but before the
/// writer heard so (a restart can cut any connection there): the writer
/// sees an error and retries the batch, whose rows are in the log already.
/// Simulated by writing the batch before the writer does. Expected: the
/// retry finds its rows and moves on — the batch counted once, the next
/// decisions written — instead of failing on the duplicate ids forever
/// (which would refuse every later request `audit_unavailable`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_committed_before_its_acknowledgement_was_lost_is_not_retried_forever() {
    let store = Store::connect(&test_support::fresh_postgres_database())
        .await
        .unwrap();
    let committed = record("/committed");
    store
        .decisions()
        .insert(std::slice::from_ref(&committed))
        .await
        .unwrap();
    let (log, writer) = AuditLog::spawn(store.decisions(), 16);
    log.record(committed).await.unwrap();
    // After the writer took the first batch (it lingers 20 ms for more).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let next = record("/next");
    log.record(next.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store
        .decisions()
        .recent(10)
        .await
        .unwrap()
        .iter()
        .any(|d| d.id == next.id)
    {
        assert!(
            Instant::now() < deadline,
            "the writer is stuck on the committed batch: {} write errors",
            log.stats().write_errors.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.decisions().count().await.unwrap(), 2, "each row once");
    drop(log);
    writer.finish().await;
}
