//! Fault injection: PostgreSQL restarted under load. The gateways use a
//! private server (`test_support::PostgresInstance`: its own data directory
//! and port, so the shared server other tests use is never touched), which
//! the test stops in immediate mode (every backend killed, as in a crash)
//! and starts again while clients keep sending requests.
//!
//! The decision log of record is the transparency log on the gateway's own
//! disk; the database holds only its index. So while the database is down,
//! requests are decided, logged and answered as usual: none is refused for
//! the log. What must be read from or written to the database is refused
//! `503 session_store_unavailable`: a session another gateway opened (this
//! one never saw it), and a wallet's login answer (a session must be
//! recorded). Those refusals are logged like any other decision.
//!
//! Recovery is automatic: the pool reconnects, and the indexer, which retries
//! its transaction every 200 ms, catches the index up from its cursor.
//! Nothing is lost and nothing indexed twice: every request a client saw
//! answered has exactly one row (counted by decision id: the
//! `x-didgate-decision-id` the upstream received, or the `decision_id` of a
//! refusal), because the rows and the cursor move in one transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use support::*;
use test_support::PostgresInstance;

const LOAD: &str = "/eng/load";
const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const AFTER: u8 = 2;
const OK: (StatusCode, &str) = (StatusCode::OK, "allowed");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_decision() {
    let mut pg = tokio::task::block_in_place(PostgresInstance::start).unwrap();
    let url = pg.create_database("didgate").unwrap();
    let h = Harness::start(Some(url), "").await;
    // A browser session opened here; a second gateway on the same database
    // has never seen it, so it must read it from the database.
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    let cookie = jar.header();
    let mut twin_config = h.config.clone();
    twin_config.server.instance = "twin".into();
    twin_config.audit.dir = h.dir.join("twin-log");
    let twin = didgate::start(&twin_config).await.unwrap();
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
    assert_eq!(session_code, "session_store_unavailable");
    let login_probe = login_probe.await.unwrap();
    assert_eq!(login_probe.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(login_probe.code(), "session_store_unavailable");
    // Down for 6 s at least: requests are still allowed, and logged.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(down_at.elapsed())).await;
    let logged_while_down = h.gw().decisions_written();
    let health = h
        .send(http::Method::GET, "/.didgate/health", None, &[])
        .await;
    health.assert_ok();

    // It comes back.
    load.set_phase(AFTER);
    tokio::task::block_in_place(|| pg.start_again()).unwrap();
    let down_for = down_at.elapsed();
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (answers, errors) = load.stop().await;
    assert!(errors.is_empty(), "transport errors: {errors:?}");
    for (_, a) in &answers {
        assert!(
            a.is(OK.0, OK.1),
            "the database is not on the request path: {a:?}"
        );
    }
    // The session is read from the database again.
    let r = get_with_cookie(&twin_url, LOAD, &cookie).await;
    r.assert_ok();

    // Every answer has its row once the index has caught up, none twice.
    let mut all: Vec<Answer> = answers.iter().map(|(_, a)| a.clone()).collect();
    all.push(Answer::of(&session_probe));
    all.push(Answer::of(&r));
    let (logged, unlogged) =
        assert_each_answer_logged_once(&h.gw().store, &all, LOAD, Duration::from_secs(30)).await;
    assert_eq!(unlogged, 0);
    let index_caught_up = up_at.elapsed();
    // The wallet's refused answer is in the log too.
    let login_id = login_probe.decision_id().expect("a decision id");
    assert!(
        h.gw()
            .store
            .decisions()
            .locate(&login_id)
            .await
            .unwrap()
            .is_some(),
        "the refused login answer {login_id} is logged"
    );
    let n = |p, (s, c): (StatusCode, &str)| count_answers(&answers, p, s, c);
    println!(
        "FAULT postgres answered={} before_ok={} down_ok={} after_ok={} rows={logged} \
         logged_while_down={logged_while_down} down_ms={} index_caught_up_ms={} \
         session_probe={session_code}",
        all.len(),
        n(BEFORE, OK),
        n(DOWN, OK),
        n(AFTER, OK),
        down_for.as_millis(),
        index_caught_up.as_millis(),
    );
    twin.shutdown().await;
    let h = Arc::try_unwrap(h).ok().expect("the clients are done");
    h.stop().await;
    tokio::task::block_in_place(|| pg.stop()).unwrap();
}
