//! Browser login with presentations didgate did not make: the npm
//! `did-jwt-vc` (an independent implementation, `interop/login-vp.mjs`)
//! answers the login page's OpenID4VP request — a did:key holder (Ed25519
//! or secp256k1) presenting an employee credential signed by the gateway's
//! trusted issuer — and the session it opens reaches the app as that holder.
//! A did-jwt-vc presentation for another audience is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use didgate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};
use http::{Method, StatusCode};
use serde_json::Value;
use support::*;

/// The harness issuer's Ed25519 secret key, in hex (its private JWK's `d`).
fn issuer_secret_hex(h: &Harness) -> String {
    let d = h.issuer.key.to_jwk().d.expect("a private JWK has d");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(d)
        .unwrap();
    assert_eq!(bytes.len(), 32, "an Ed25519 secret key");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `node interop/login-vp.mjs` (did-jwt-vc): a fresh `holder` key type's
/// holder presenting an employee credential by the harness issuer, with
/// `audience` and `nonce`. Returns `{holder, issuer, vc, vp}`.
async fn did_jwt_vc_presentation(h: &Harness, audience: &str, nonce: &str, holder: &str) -> Value {
    let args = [
        issuer_secret_hex(h),
        h.issuer.did.clone(),
        audience.to_owned(),
        nonce.to_owned(),
        holder.to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        test_support::run_node("login-vp.mjs", &args)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("did-jwt-vc could not make the presentation: {e:#}"));
    assert_eq!(out["issuer"], h.issuer.did.as_str());
    out
}

/// A login page in a fresh browser (`jar`), and the request it shows.
async fn login_page(h: &Harness, jar: &mut Jar) -> AuthorizationRequest {
    let page = browser_get(&h.url, jar, "/.didgate/login?return_to=/eng/docs", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    request_on_page(&page)
}

fn answer(state: &str, vp: &Value) -> String {
    AuthorizationResponse::Presentation {
        state: state.to_owned(),
        vp_token: vp.as_str().expect("the VP-JWT").to_owned(),
    }
    .to_form()
}

fn error_description(r: &Resp) -> String {
    r.json()["error_description"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The whole login with a did-jwt-vc wallet of `holder` key type: the
/// session reaches the app as its holder.
async fn logs_in_with_did_jwt_vc(holder: &str) {
    let h = Harness::start(None, "").await;
    let mut jar = Jar::default();
    let req = login_page(&h, &mut jar).await;
    let made = did_jwt_vc_presentation(&h, &req.client_id, &req.nonce, holder).await;
    let did = made["holder"].as_str().unwrap().to_owned();
    assert!(did.starts_with("did:key:z"), "{did}");

    let r = h.post_wallet_answer(answer(&req.state, &made["vp"])).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{holder}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let next = r.json()["redirect_uri"]
        .as_str()
        .expect("a redirect_uri")
        .to_owned();
    assert!(
        next.starts_with("https://gateway.test/.didgate/login/complete?response_code="),
        "{next}"
    );
    // The wallet's redirect, in the browser that started the login.
    let done = browser_get(&h.url, &mut jar, &local_part(&next), &[]).await;
    assert_eq!(
        done.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&done.body)
    );
    assert_eq!(done.headers["location"], "/eng/docs");
    assert!(jar.get("__Host-didgate").is_some(), "{jar:?}");

    // The session is the did-jwt-vc holder's, with its credential's claims.
    let cookie = jar.header();
    let r = h
        .send(Method::GET, "/eng/docs", None, &[("cookie", &cookie)])
        .await;
    r.assert_ok();
    let body = r.json();
    let a =
        credentials::jws::parse(body["headers"]["x-didgate-assertion"].as_str().unwrap()).unwrap();
    assert_eq!(a.payload["sub"], did.as_str());
    assert_eq!(a.payload["auth_method"], "session");
    assert_eq!(
        a.payload["claims"]["EmployeeCredential"]["department"],
        "eng"
    );
    let me = h
        .send(
            Method::GET,
            "/.didgate/session",
            None,
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(me.json()["subject"], did.as_str());
    assert_eq!(me.json()["issuers"][0], h.issuer.did.as_str());

    let rows = h
        .decisions_with(&["login_presented", "session_opened", "allowed"])
        .await;
    for reason in ["login_presented", "session_opened", "allowed"] {
        let d = rows.iter().find(|d| d.reason == reason).unwrap();
        assert_eq!(d.subject.as_deref(), Some(did.as_str()), "{reason}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_jwt_vc_presentation_by_an_ed25519_holder_logs_in() {
    logs_in_with_did_jwt_vc("ed25519").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_jwt_vc_presentation_by_a_secp256k1_holder_logs_in() {
    logs_in_with_did_jwt_vc("secp256k1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_jwt_vc_presentations_for_another_audience_or_nonce_are_refused() {
    let h = Harness::start(None, "").await;
    let mut jar = Jar::default();
    let req = login_page(&h, &mut jar).await;

    // The right nonce, but made for the gateway's URL (a bearer
    // presentation), not for this login's client_id.
    assert_ne!(h.audience, req.client_id);
    let bearer = did_jwt_vc_presentation(&h, &h.audience, &req.nonce, "ed25519").await;
    let r = h
        .post_wallet_answer(answer(&req.state, &bearer["vp"]))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        error_description(&r).starts_with("wrong_audience"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The right audience, another login's nonce.
    let stale = did_jwt_vc_presentation(&h, &req.client_id, "another-nonce", "ed25519").await;
    let r = h.post_wallet_answer(answer(&req.state, &stale["vp"])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        error_description(&r).starts_with("wrong_nonce"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    // Neither opened anything: the login still waits, and says why.
    let status = format!("/.didgate/login/status?state={}", req.state);
    let s = h
        .send(Method::GET, &status, None, &[("cookie", &jar.header())])
        .await;
    assert_eq!(s.json()["status"], "pending");
    let last = s.json()["last_error"].as_str().unwrap_or("").to_owned();
    assert!(last.starts_with("wrong_"), "{last}");
    let rows = h.decisions_with(&["wrong_audience", "wrong_nonce"]).await;
    assert!(!rows.iter().any(|d| d.reason == "session_opened"));
    h.stop().await;
}
