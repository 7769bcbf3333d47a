//! Browser login (OpenID4VP `direct_post`) and sessions, end to end against a
//! real gateway and upstream: the flow a browser and a wallet go through,
//! and every way it must refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use didgate::login::openid4vp::AuthorizationResponse;
use http::{Method, StatusCode};
use serde_json::json;
use support::*;

const COMPLETE: &str = "/.didgate/login/complete";

async fn with_jar(
    h: &Harness,
    jar: &Jar,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let cookie = jar.header();
    let mut headers: Vec<(&str, &str)> = vec![("cookie", &cookie)];
    headers.extend_from_slice(extra);
    send(&h.url, method, path, None, &headers, Bytes::new()).await
}

/// A login page in `jar`'s browser, and the request it shows.
async fn login_page(h: &Harness, jar: &mut Jar) -> didgate::login::openid4vp::AuthorizationRequest {
    let page = browser_get(&h.url, jar, "/.didgate/login?return_to=/eng/docs", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    request_on_page(&page)
}

fn answer(state: &str, vp: String) -> String {
    AuthorizationResponse::Presentation {
        state: state.to_owned(),
        vp_token: vp,
    }
    .to_form()
}

fn error_code(r: &Resp) -> String {
    let d = r.json()["error_description"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    d.split(':').next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_with_a_wallet_and_its_session_reaches_the_app() {
    let h = Harness::start(None, "").await;
    // A browser without a session is sent to the login page, with the way back.
    let mut jar = Jar::default();
    let r = browser_get(&h.url, &mut jar, "/eng/docs?x=1", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"],
        "/.didgate/login?return_to=%2Feng%2Fdocs%3Fx%3D1"
    );
    // An API client gets the 401 instead.
    let api = h.send(Method::GET, "/eng/docs", None, &[]).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.code(), "credential_missing");

    let page = browser_get(
        &h.url,
        &mut jar,
        "/.didgate/login?return_to=%2Feng%2Fdocs%3Fx%3D1",
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(jar.get("__Host-didgate-login").is_some(), "{jar:?}");
    let set = page.headers["set-cookie"].to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let req = request_on_page(&page);
    assert_eq!(
        req.client_id,
        "redirect_uri:https://gateway.test/.didgate/login/response"
    );
    assert_eq!(req.credential_types, vec!["EmployeeCredential".to_owned()]);
    assert!(
        req.nonce.len() >= 22 && req.state.len() >= 22,
        "128+ bits each"
    );

    // The page polls: pending until the wallet answers.
    let status = format!("/.didgate/login/status?state={}", req.state);
    let s = with_jar(&h, &jar, Method::GET, &status, &[]).await;
    assert_eq!(s.json()["status"], "pending");

    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let r = h
        .post_wallet_answer(answer(&req.state, h.login_vp(&h.alice, vec![vc], &req)))
        .await;
    r.assert_ok();
    assert_eq!(r.headers["cache-control"], "no-store");
    let next = r.json()["redirect_uri"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("https://gateway.test/.didgate/login/complete?response_code="),
        "{next}"
    );
    let s = with_jar(&h, &jar, Method::GET, &status, &[]).await;
    assert_eq!(s.json()["status"], "presented");

    // The wallet's redirect, in the browser that started: the session.
    let done = browser_get(&h.url, &mut jar, &local_part(&next), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.headers["location"], "/eng/docs?x=1");
    assert_eq!(done.headers["referrer-policy"], "no-referrer");
    let session = jar
        .get("__Host-didgate")
        .expect("session cookie")
        .to_owned();
    assert_eq!(session.len(), 43);

    // The app sees the holder, never the gateway's cookies.
    let cookie = format!("{}; app=kept", jar.header());
    let r = get_with_cookie(&h.url, "/eng/docs?x=1", &cookie).await;
    r.assert_ok();
    let body = r.json();
    assert_eq!(body["headers"]["cookie"], "app=kept");
    let a =
        credentials::jws::parse(body["headers"]["x-didgate-assertion"].as_str().unwrap()).unwrap();
    assert_eq!(a.payload["sub"], h.alice.did.as_str());
    assert_eq!(a.payload["auth_method"], "session");
    assert_eq!(
        a.payload["claims"]["EmployeeCredential"]["department"],
        "eng"
    );
    // Who am I.
    let me = with_jar(&h, &jar, Method::GET, "/.didgate/session", &[]).await;
    assert_eq!(me.json()["subject"], h.alice.did.as_str());

    // The poll now says done; the same completion again opens nothing new.
    let s = with_jar(&h, &jar, Method::GET, &status, &[]).await;
    assert_eq!(s.json()["status"], "done");
    let again = browser_get(&h.url, &mut Jar::default(), &local_part(&next), &[]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    // Every step is in the decision log, with the same subject.
    let d = h
        .decisions_with(&["login_presented", "session_opened", "allowed"])
        .await;
    let allowed = d.iter().find(|d| d.reason == "allowed").unwrap();
    assert_eq!(allowed.subject.as_deref(), Some(h.alice.did.as_str()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_device_the_page_finishes_the_login_by_polling() {
    let h = Harness::start(None, "").await;
    let mut jar = Jar::default();
    let req = login_page(&h, &mut jar).await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    // The phone answers; its redirect is not used.
    let r = h
        .post_wallet_answer(answer(&req.state, h.login_vp(&h.alice, vec![vc], &req)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let s = with_jar(
        &h,
        &jar,
        Method::GET,
        &format!("/.didgate/login/status?state={}", req.state),
        &[],
    )
    .await;
    let next = s.json()["next"].as_str().unwrap().to_owned();
    assert_eq!(next, format!("{COMPLETE}?state={}", req.state));
    // Another browser polling the same state learns nothing and completes nothing.
    let mut other = Jar::default();
    let _ = login_page(&h, &mut other).await;
    let s = with_jar(
        &h,
        &other,
        Method::GET,
        &format!("/.didgate/login/status?state={}", req.state),
        &[],
    )
    .await;
    assert_eq!(s.status, StatusCode::NOT_FOUND);
    let stolen = browser_get(&h.url, &mut other, &next, &[]).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(other.get("__Host-didgate").is_none());
    let no_cookie = browser_get(&h.url, &mut Jar::default(), &next, &[]).await;
    assert_eq!(no_cookie.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&no_cookie.body).contains("login_other_browser"));
    // The browser that started it gets the session.
    let done = browser_get(&h.url, &mut jar, &next, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_answers_that_must_be_refused() {
    let h = Harness::start(None, "").await;
    let mut jar = Jar::default();
    let req = login_page(&h, &mut jar).await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let post = |form: String| h.post_wallet_answer(form);

    // Bound to this request: its nonce and its client_id as audience.
    let mut wrong_nonce = req.clone();
    wrong_nonce.nonce = "another-nonce".into();
    let r = post(answer(
        &req.state,
        h.login_vp(&h.alice, vec![vc.clone()], &wrong_nonce),
    ))
    .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "wrong_nonce")
    );
    let bearer_vp = h.vp_with_nonce(&h.alice, Some(&req.nonce)); // aud = the gateway URL
    let r = post(answer(&req.state, bearer_vp)).await;
    assert_eq!(error_code(&r), "wrong_audience");
    // A forged credential, an untrusted issuer, someone else's credential.
    let rogue = h.vc_by(
        &h.rogue_issuer,
        &h.alice.did,
        json!({}),
        now(),
        600,
        credentials::Format::JwtVc11,
    );
    let r = post(answer(&req.state, h.login_vp(&h.alice, vec![rogue], &req))).await;
    assert_eq!(error_code(&r), "issuer_not_trusted");
    let carols = h.employee_vc(&h.carol, "admin", "it");
    let r = post(answer(&req.state, h.login_vp(&h.alice, vec![carols], &req))).await;
    assert_eq!(error_code(&r), "subject_not_holder");
    let good = h.login_vp(&h.alice, vec![vc.clone()], &req);
    let (head, rest) = good.split_at(good.len() - 4);
    let tampered = format!("{head}{}", if rest == "AAAA" { "BBBB" } else { "AAAA" });
    let r = post(answer(&req.state, tampered)).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The page shows the last refusal while it waits.
    let s = with_jar(
        &h,
        &jar,
        Method::GET,
        &format!("/.didgate/login/status?state={}", req.state),
        &[],
    )
    .await;
    assert_eq!(s.json()["status"], "pending");
    assert!(s.json()["last_error"].is_string());

    // Malformed answers.
    let r = send(
        &h.url,
        Method::POST,
        "/.didgate/login/response",
        None,
        &[("content-type", "application/json")],
        Bytes::from("{}"),
    )
    .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_media_type")
    );
    let r = post(format!("state={}&vp_token=not-json", req.state)).await;
    assert_eq!(error_code(&r), "malformed_response");
    let r = post(format!(
        "state={}&vp_token={}",
        req.state,
        "A".repeat(300_000)
    ))
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = post(answer("no-such-state", good.clone())).await;
    assert_eq!(error_code(&r), "login_unknown");

    // The right answer once; a replay of it is refused.
    let r = post(answer(&req.state, good.clone())).await;
    r.assert_ok();
    let r = post(answer(&req.state, good)).await;
    assert_eq!(error_code(&r), "login_unknown");

    let mut jar2 = Jar::default();
    let req2 = login_page(&h, &mut jar2).await;

    // The wallet declines: the page says so, nothing opens.
    let declined = AuthorizationResponse::Error {
        state: req2.state.clone(),
        error: "access_denied".into(),
        description: None,
    };
    let r = post(declined.to_form()).await;
    assert_eq!(r.status, StatusCode::OK);
    let s = with_jar(
        &h,
        &jar2,
        Method::GET,
        &format!("/.didgate/login/status?state={}", req2.state),
        &[],
    )
    .await;
    assert_eq!(s.json()["status"], "declined");
    let r = browser_get(
        &h.url,
        &mut jar2,
        &format!("{COMPLETE}?state={}", req2.state),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(jar2.get("__Host-didgate").is_none());

    // Refusals are audited with their reason.
    h.decisions_with(&[
        "wrong_nonce",
        "wrong_audience",
        "issuer_not_trusted",
        "login_declined",
    ])
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_must_be_refused() {
    let h = Harness::start(None, "").await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let secret = jar.get("__Host-didgate").unwrap().to_owned();

    // A cookie the gateway never issued, a malformed one, two of them.
    let (_, unknown) = didgate::request::session::new_secret();
    for (cookie, code) in [
        (format!("__Host-didgate={unknown}"), "session_unknown"),
        ("__Host-didgate=short".to_owned(), "session_invalid"),
        (format!("__Host-didgate={secret}x"), "session_invalid"),
        (
            format!("__Host-didgate={secret}; __Host-didgate={unknown}"),
            "ambiguous_credentials",
        ),
    ] {
        let r = get_with_cookie(&h.url, "/eng/docs", &cookie).await;
        assert_eq!(r.code(), code, "{cookie}");
    }
    // A bearer presentation wins over the cookie: it is its own identity.
    let r = send(
        &h.url,
        Method::GET,
        "/eng/docs",
        Some(&h.alice_vp()),
        &[("cookie", &jar.header())],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        credentials::jws::parse(r.json()["headers"]["x-didgate-assertion"].as_str().unwrap())
            .unwrap()
            .payload["auth_method"],
        "vp_jwt"
    );

    // Cross-site requests cannot use the session to change anything.
    for extra in [
        [("sec-fetch-site", "cross-site")],
        [("sec-fetch-site", "same-site")],
        [("origin", "https://evil.example")],
        [("origin", "null")],
    ] {
        let r = with_jar(&h, &jar, Method::POST, "/eng/docs", &extra).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::FORBIDDEN, "cross_site_request"),
            "{extra:?}"
        );
    }
    // Same origin passes the check (and meets the policy: engineers may not POST).
    let origin = h.url.clone();
    let r = with_jar(&h, &jar, Method::POST, "/eng/docs", &[("origin", &origin)]).await;
    assert_eq!(r.code(), "policy_denied");

    // Logout ends it; a cross-site logout does not.
    let r = with_jar(
        &h,
        &jar,
        Method::POST,
        "/.didgate/logout",
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(r.code(), "cross_site_request");
    let r = with_jar(&h, &jar, Method::POST, "/.didgate/logout", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "logged_out");
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    // A browser with the dead cookie is sent to log in again.
    let mut stale = jar.clone();
    let r = browser_get(&h.url, &mut stale, "/eng/docs", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    h.decisions_with(&["session_closed", "session_revoked", "cross_site_request"])
        .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_with_its_credential_and_its_lifetime() {
    let h = Harness::start_full(
        None,
        "",
        "clock_skew_secs = 0",
        "[sessions]\nlifetime_secs = 4\nidle_timeout_secs = 2\n",
        "",
    )
    .await;
    // A credential valid for three seconds: the session cannot outlive it,
    // although it is used every second (not idle) and is younger than its
    // lifetime. JWT times are whole seconds, so start at the top of a second
    // to give the login its full three (a loaded CI machine is slow).
    let issued = top_of_a_second().await;
    let short = h.vc_by(
        &h.issuer,
        &h.alice.did,
        json!({"role": "engineer", "department": "eng"}),
        issued,
        3,
        credentials::Format::JwtVc11,
    );
    let jar = h.browser_login(&h.alice, vec![short]).await;
    assert_eq!(
        with_jar(&h, &jar, Method::GET, "/eng/docs", &[])
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert!(
        now() < issued + 3,
        "the login took the credential's whole life; the machine is too slow for this test"
    );
    assert_eq!(
        with_jar(&h, &jar, Method::GET, "/eng/docs", &[])
            .await
            .status,
        StatusCode::OK
    );
    sleep_until_unix_ms((issued + 3) * 1000 + 200).await;
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(r.code(), "session_expired");

    // Idle: no request for longer than idle_timeout_secs.
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(r.code(), "session_expired");

    // Absolute: used every second, still over at lifetime_secs.
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        assert_eq!(
            with_jar(&h, &jar, Method::GET, "/eng/docs", &[])
                .await
                .status,
            StatusCode::OK
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
    assert_eq!(r.code(), "session_expired");
    h.stop().await;
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits for the start of the next wall-clock second and returns it.
async fn top_of_a_second() -> i64 {
    let next = unix_ms() / 1000 + 1;
    sleep_until_unix_ms(next * 1000).await;
    next
}

async fn sleep_until_unix_ms(at: i64) {
    let left = at - unix_ms();
    if left > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
    }
}

/// Two gateways on one database: a login on one is a session on the other
/// (read and verified again there), and a logout on either ends it on both.
async fn shared_sessions(db: String) {
    let a = Harness::start(Some(db.clone()), "").await;
    let b_dir = tempdir("twin");
    let mut cfg = a.config.clone();
    cfg.server.instance = "gw-b".into();
    cfg.audit.dir = b_dir.join("log");
    cfg.sessions.sync_interval_ms = 100;
    let _ = &b_dir;
    let b_gw = didgate::start(&cfg).await.unwrap();
    let b_url = format!("http://{}", b_gw.http_addr.unwrap());

    let vc = a.employee_vc(&a.alice, "engineer", "eng");
    let jar = a.browser_login(&a.alice, vec![vc]).await;
    let cookie = jar.header();
    let on_b = get_with_cookie(&b_url, "/eng/docs", &cookie).await;
    on_b.assert_ok();
    // Logout on B; A drops it within its sync interval.
    let r = send(
        &b_url,
        Method::POST,
        "/.didgate/logout",
        None,
        &[("cookie", &cookie)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.json()["status"], "logged_out");
    let mut refused = false;
    for _ in 0..60 {
        let r = get_with_cookie(&a.url, "/eng/docs", &cookie).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(r.code(), "session_revoked");
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "gateway A still accepts a session revoked on B");
    b_gw.shutdown().await;
    a.stop().await;
    let _ = std::fs::remove_dir_all(&b_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_by_gateways_on_postgres() {
    shared_sessions(test_support::fresh_postgres_database()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_by_gateways_on_sqlite() {
    let dir = tempdir("shared-sqlite");
    shared_sessions(format!("sqlite://{}", dir.join("shared.db").display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_can_be_listed_and_revoked_from_the_command_line() {
    let h = Harness::start(None, "").await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap();
    let list = run_ok(&["sessions", "list", "-c", cfg]);
    assert!(
        list.contains(&h.alice.did) && list.contains("live"),
        "{list}"
    );
    run_err(
        &["sessions", "revoke", "-c", cfg, "--id", "zz"],
        "16 hex digits",
    );
    let out = run_ok(&["sessions", "revoke", "-c", cfg, "--subject", &h.alice.did]);
    assert!(out.starts_with("1 session(s) revoked"), "{out}");
    // The gateway drops it within the sync interval.
    let mut refused = false;
    for _ in 0..50 {
        let r = with_jar(&h, &jar, Method::GET, "/eng/docs", &[]).await;
        if r.status == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "revoked from the command line, still accepted");
    let list = run_ok(&["sessions", "list", "-c", cfg, "--all"]);
    assert!(list.contains("revoked"), "{list}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_up_sends_the_browser_to_log_in_again() {
    let h = Harness::start_full(
        None,
        "",
        "",
        "",
        "@id(\"fresh-login\")\n@step_up\nforbid (principal, action, resource) when { resource.path like \"/payroll*\" };\n",
    )
    .await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let mut jar = h.browser_login(&h.alice, vec![vc]).await;
    let r = browser_get(&h.url, &mut jar, "/payroll", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"],
        "/.didgate/login?return_to=%2Fpayroll&step_up=1"
    );
    // The API form of the same refusal.
    let r = with_jar(
        &h,
        &jar,
        Method::GET,
        "/payroll",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(r.code(), "step_up_required");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_can_be_turned_off() {
    let h = Harness::start_full(None, "", "", "[sessions]\nenabled = false\n", "").await;
    let r = h.send(Method::GET, "/.didgate/login", None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let mut jar = Jar::default();
    let r = browser_get(&h.url, &mut jar, "/eng/docs", &[]).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "no redirect to a login that does not exist"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_the_login_did_not_ask_for_is_refused() {
    // The login asks for contractors only; alice's (trusted) employee
    // credential does not answer it.
    let h = Harness::start_full(
        None,
        "",
        "",
        "[sessions]\ncredential_types = [\"ContractorCredential\"]\n\
         [[credentials.trusted_issuers]]\ncredential_type = \"ContractorCredential\"\n\
         issuers = [\"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK\"]\n",
        "",
    )
    .await;
    let mut jar = Jar::default();
    let req = login_page(&h, &mut jar).await;
    assert_eq!(
        req.credential_types,
        vec!["ContractorCredential".to_owned()]
    );
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let r = h
        .post_wallet_answer(answer(&req.state, h.login_vp(&h.alice, vec![vc], &req)))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "credential_not_requested")
    );
    h.stop().await;
}
