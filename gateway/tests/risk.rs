//! The risk engine in the request path: a real gateway, real presentations,
//! Cedar policies over `context.risk`, the step-up challenge, the decision
//! log, and profiles persisted to (and shared through) SQLite/PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use support::{Harness, Who};

/// History counts after five requests; profiles are written every 200 ms.
const RISK: &str = "[risk]\ncold_start_events = 5\nflush_interval_ms = 200\n";
const TRUST_LOCALHOST: &str = "trusted_proxies = [\"127.0.0.1/32\", \"::1/128\"]";
const RISK_POLICIES: &str = r#"
@id("risk-step-up")
@step_up("risk")
forbid (principal, action, resource)
when { context.risk.score.greaterThan(decimal("0.5")) && context.risk.score.lessThanOrEqual(decimal("0.8")) };

@id("risk-deny")
forbid (principal, action, resource)
when { context.risk.score.greaterThan(decimal("0.8")) };
"#;

const CURL: &str = "curl/8.5.0";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn start(db: Option<String>) -> Harness {
    Harness::start_full(db, TRUST_LOCALHOST, "", RISK, RISK_POLICIES).await
}

/// `who`'s usual: GET /whoami with curl from the gateway's own network.
async fn history(h: &Harness, who: &Who, n: usize) {
    for _ in 0..n {
        let vp = h.vp_with_nonce(who, None);
        let r = h
            .send(Method::GET, "/whoami", Some(&vp), &[("user-agent", CURL)])
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

async fn from(
    h: &Harness,
    who: &Who,
    ip: &str,
    ua: &str,
    path: &str,
    nonce: Option<&str>,
) -> support::Resp {
    let vp = h.vp_with_nonce(who, nonce);
    h.send(
        Method::GET,
        path,
        Some(&vp),
        &[("user-agent", ua), ("x-forwarded-for", ip)],
    )
    .await
}

fn challenge(r: &support::Resp) -> String {
    let www = r.headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains("error=\"insufficient_user_authentication\""),
        "{www}"
    );
    let from_header = www
        .split("challenge=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("WWW-Authenticate carries the challenge")
        .to_owned();
    assert_eq!(r.json()["challenge"], from_header.as_str());
    from_header
}

#[tokio::test]
async fn an_unusual_place_is_stepped_up_and_a_challenge_answer_lets_it_in() {
    let h = start(None).await;
    let alice = &h.alice;
    history(&h, alice, 8).await;

    // Same person, new network and a new browser: step up.
    let r = from(&h, alice, "198.51.100.7", FIREFOX, "/whoami", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "step_up_required");
    let c = challenge(&r);

    let rows = h.decisions(10).await;
    let d = &rows[0];
    assert_eq!(d.effect, "step_up");
    assert_eq!(d.reason, "step_up_required");
    assert!(d.risk_score > 0.5 && d.risk_score <= 0.8, "{d:?}");
    assert!(d.risk_factors.contains(&"new_network".to_owned()), "{d:?}");
    assert!(d.risk_factors.contains(&"new_device".to_owned()), "{d:?}");
    assert_eq!(d.policies, vec!["risk-step-up".to_owned()]);
    // The usual requests before it were low risk and logged as such.
    assert!(
        rows[1].risk_score < 0.5 && rows[1].effect == "allow",
        "{:?}",
        rows[1]
    );

    // A made-up challenge changes nothing.
    let r = from(
        &h,
        alice,
        "198.51.100.7",
        FIREFOX,
        "/whoami",
        Some("made-up"),
    )
    .await;
    assert_eq!(r.code(), "step_up_required");

    // Carol (new here, so not stepped up herself) presenting alice's challenge
    // does not complete alice's step-up, and uses the challenge up.
    from(&h, &h.carol, "192.0.2.1", FIREFOX, "/whoami", Some(&c)).await;
    let r = from(&h, alice, "198.51.100.7", FIREFOX, "/whoami", Some(&c)).await;
    assert_eq!(
        r.code(),
        "step_up_required",
        "a used challenge must not work"
    );
    let c = challenge(&r);

    // Alice answers her own challenge: allowed, and the place becomes hers.
    let r = from(&h, alice, "198.51.100.7", FIREFOX, "/whoami", Some(&c)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let claims = &r.json()["identity"]["claims"];
    let risk = claims["risk"]
        .as_f64()
        .expect("the assertion carries the score");
    assert!(risk < 0.5, "{claims}");

    let r = from(&h, alice, "198.51.100.7", FIREFOX, "/whoami", None).await;
    assert_eq!(r.status, StatusCode::OK, "learned after the step-up");
    h.stop().await;
}

#[tokio::test]
async fn probing_from_a_strange_place_is_refused() {
    let h = start(None).await;
    let alice = &h.alice;
    history(&h, alice, 8).await;
    let mut last = None;
    for path in [
        "/admin",
        "/.env",
        "/api/internal/users",
        "/config",
        "/admin/users",
    ] {
        let r = from(&h, alice, "203.0.113.50", FIREFOX, path, None).await;
        assert_ne!(r.status, StatusCode::OK);
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "policy_denied");
    let rows = h.decisions(13).await;
    assert!(rows[0].risk_score > 0.8, "{:?}", rows[0]);
    assert!(
        rows[0].policies.contains(&"risk-deny".to_owned()),
        "{:?}",
        rows[0]
    );
    h.stop().await;
}

#[tokio::test]
async fn failed_presentations_from_one_source_mark_it_as_a_spray() {
    let h = start(None).await;
    let alice = &h.alice;
    history(&h, alice, 8).await;
    // Presentations for other holders signed with the wrong key, all from one address.
    for _ in 0..15 {
        let victim = Who::new(credentials::KeyType::Ed25519, false);
        let mut forged = h.vp_with_nonce(&victim, None);
        forged.push('x');
        let r = h
            .send(
                Method::GET,
                "/whoami",
                Some(&forged),
                &[("x-forwarded-for", "203.0.113.66")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = from(&h, alice, "203.0.113.66", CURL, "/whoami", None).await;
    assert_ne!(r.status, StatusCode::OK);
    let rows = h.decisions(24).await;
    assert!(
        rows[0].risk_factors.contains(&"spray_source".to_owned()),
        "{:?}",
        rows[0]
    );
    h.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    // Not trusted: X-Forwarded-For is ignored, so a claimed new network is not one.
    let h = Harness::start_full(None, "", "", RISK, RISK_POLICIES).await;
    history(&h, &h.alice, 8).await;
    let r = from(&h, &h.alice, "198.51.100.7", CURL, "/whoami", None).await;
    assert_eq!(r.status, StatusCode::OK);
    h.stop().await;

    // Trusted, but not an address list: refused, and logged.
    let h = start(None).await;
    let r = from(
        &h,
        &h.alice,
        "198.51.100.7, not-an-ip",
        CURL,
        "/whoami",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "forwarded_for_invalid");
    assert_eq!(h.decisions(1).await[0].reason, "forwarded_for_invalid");
    // Trusted hops are skipped: the client is the nearest untrusted one.
    let r = from(
        &h,
        &h.alice,
        "198.51.100.9, 127.0.0.1",
        CURL,
        "/whoami",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    h.stop().await;
}

async fn profiles_survive_and_are_shared(db: String) {
    let mut h = start(Some(db)).await;
    history(&h, &h.alice, 8).await;

    // A second gateway on the same database, started while the first runs.
    let mut peer_config = h.config.clone();
    peer_config.server.instance = "gw-peer".into();
    peer_config.audit.dir = h.dir.join("peer-log");
    let peer = didgate::start(&peer_config).await.unwrap();
    let peer_url = format!("http://{}", peer.http_addr.unwrap());
    // The first gateway writes within 200 ms; the peer reads within 200 ms.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let strange = |nonce: Option<&str>| {
        let vp = h.vp_with_nonce(&h.alice, nonce);
        let url = peer_url.clone();
        async move {
            support::send(
                &url,
                Method::GET,
                "/whoami",
                Some(&vp),
                &[("user-agent", FIREFOX), ("x-forwarded-for", "198.51.100.7")],
                bytes::Bytes::new(),
            )
            .await
        }
    };
    // The peer knows alice: her usual place is fine, a new one is stepped up.
    let vp = h.vp_with_nonce(&h.alice, None);
    let usual = support::send(
        &peer_url,
        Method::GET,
        "/whoami",
        Some(&vp),
        &[("user-agent", CURL)],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(usual.status, StatusCode::OK);
    let r = strange(None).await;
    assert_eq!(
        r.code(),
        "step_up_required",
        "the peer did not see alice's history"
    );
    peer.shutdown().await;

    // After a restart of the first gateway, the same: its history was saved.
    h.gw.take().unwrap().shutdown().await;
    let rows = peer_store_rows(&h.config).await;
    assert!(rows >= 1, "profiles were persisted");
    let again = didgate::start(&h.config).await.unwrap();
    let url = format!("http://{}", again.http_addr.unwrap());
    let vp = h.vp_with_nonce(&h.alice, None);
    let r = support::send(
        &url,
        Method::GET,
        "/whoami",
        Some(&vp),
        &[("user-agent", FIREFOX), ("x-forwarded-for", "198.51.100.8")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(r.code(), "step_up_required", "history lost in the restart");
    again.shutdown().await;
    h.stop().await;
}

async fn peer_store_rows(config: &didgate::Config) -> usize {
    let store = didgate::store::Store::connect(&config.database_url())
        .await
        .unwrap();
    let n = store.load_risk_profiles(0, None, 100).await.unwrap().len();
    store.close().await;
    n
}

#[tokio::test]
async fn profiles_are_persisted_and_shared_sqlite() {
    // A file database both gateways open.
    let dir = support::tempdir("risk-db");
    let db = format!("sqlite://{}", dir.join("shared.db").display());
    profiles_survive_and_are_shared(db).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn profiles_are_persisted_and_shared_postgres() {
    let db = test_support::fresh_postgres_database();
    profiles_survive_and_are_shared(db).await;
}

#[tokio::test]
async fn geoip_locations_reveal_impossible_travel() {
    let db = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/geoip/GeoLite2-City-Test.mmdb"
    );
    let risk = format!("{RISK}geoip_city_db = \"{db}\"\n");
    let h = Harness::start_full(None, TRUST_LOCALHOST, "", &risk, RISK_POLICIES).await;
    // A London address (MaxMind's test data), her usual place.
    for _ in 0..8 {
        let r = from(&h, &h.alice, "81.2.69.142", CURL, "/whoami", None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Minutes later from Tokyo: 9,500 km.
    let r = from(&h, &h.alice, "2001:218::1", CURL, "/whoami", None).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let rows = h.decisions(9).await;
    assert!(
        rows[0]
            .risk_factors
            .contains(&"impossible_travel".to_owned()),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[0].risk_factors.contains(&"new_country".to_owned()),
        "{:?}",
        rows[0]
    );
    h.stop().await;
}

#[tokio::test]
async fn a_new_tls_client_fingerprint_is_a_new_device() {
    let h = Harness::start_full(None, "", "", RISK, RISK_POLICIES).await;
    let dir = support::tempdir("risk-tls");
    let (gw, port, roots) = h.start_https_twin(&dir).await;
    // One TLS client per request (no resumption), HTTP/1.1 or HTTP/2 by ALPN:
    // the two offer different ALPN lists, so their JA4 differ.
    let request = |http2: bool| {
        let client = support::https_client(&roots, http2, false);
        let req = http::Request::builder()
            .uri(format!("https://localhost:{port}/whoami"))
            .header("authorization", format!("Bearer {}", h.alice_vp()))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        async move { client.request(req).await.unwrap().status() }
    };
    for _ in 0..8 {
        assert_eq!(request(false).await, StatusCode::OK);
    }
    assert_eq!(request(true).await, StatusCode::OK);
    let store = &gw.store;
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = store.decisions().recent(20).await.unwrap();
        if rows.len() >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        !rows[1].risk_factors.contains(&"new_device".to_owned()),
        "the usual client: {:?}",
        rows[1]
    );
    assert!(
        rows[0].risk_factors.contains(&"new_device".to_owned()),
        "another TLS client: {:?}",
        rows[0]
    );
    gw.shutdown().await;
    h.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
