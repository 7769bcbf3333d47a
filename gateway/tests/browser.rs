//! A real browser logs in with a wallet: headless Chromium (Debian's, driven
//! by the npm `playwright-core` in `interop/browser-login.mjs`) opens a
//! protected page of a real gateway in front of the sample app, is sent to
//! the login page, and `didgate wallet login` (a separate process, the
//! holder's wallet) answers the OpenID4VP request shown there. Cross-device
//! (the page polls and finishes the login) and same-device (the browser
//! follows the wallet's redirect), the cookies, the logout, and the
//! decision log.
//!
//! Needs Chromium (`scripts/install-browser.sh`) and the npm peers
//! (`scripts/setup-interop.sh`); the test installs both, and fails loudly
//! when it cannot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use credentials::{CredentialRequest, Format, KeyType};
use didgate::sample_app::SampleApp;
use didgate::{Config, RunningGateway};
use serde_json::{json, Map, Value};
use support::*;

/// Run `bash scripts/NAME` from the repository root; it must succeed.
fn run_script(name: &str) {
    let script = test_support::repo_root().join("scripts").join(name);
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(test_support::repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "bash {} failed ({}): the browser test needs it.\nstdout:\n{}\nstderr:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{name}: ok in {:.1}s", started.elapsed().as_secs_f64());
}

/// A gateway whose public URL is where it really listens (the wallet, a
/// separate process, POSTs to the response URI the request names), in front
/// of the sample app, trusting `issuer` for employee credentials.
async fn start_gateway(dir: &Path, issuer: &Who, app: &SampleApp) -> (RunningGateway, String) {
    std::fs::write(
        dir.join("schema.cedarschema"),
        include_str!("../../deploy/policies/didgate.cedarschema"),
    )
    .unwrap();
    std::fs::write(dir.join("test.cedar"), POLICIES).unwrap();
    // A port that was free a moment ago: another process may take it
    // first, so a failed bind is tried again on another.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = test_support::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "{base}"
[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["{iss}"]
[policy]
schema = "schema.cedarschema"
policies = ["test.cedar"]
reload_interval_secs = 1
[database]
url = "sqlite://decisions.db"
[[route]]
name = "demo"
upstream = "http://{app}"
forward_claims = ["role", "department"]
"#,
            iss = issuer.did,
            app = app.addr,
        );
        std::fs::write(dir.join("didgate.toml"), &toml).unwrap();
        let config = Config::load(&dir.join("didgate.toml")).unwrap();
        match didgate::start(&config).await {
            Ok(gw) => {
                assert_eq!(gw.http_addr.map(|a| a.port()), Some(port));
                return (gw, base);
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    panic!("the gateway did not start on a free port: {last_error}");
}

/// An employee credential for `holder` (an engineer in eng), by `issuer`.
fn employee_vc(issuer: &Who, holder: &Who) -> String {
    let Value::Object(claims) = json!({"role": "engineer", "department": "eng"}) else {
        unreachable!()
    };
    let claims: Map<String, Value> = claims;
    credentials::issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: holder.did.clone(),
            types: vec!["EmployeeCredential".into()],
            claims,
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        now(),
    )
    .unwrap()
}

/// `node interop/browser-login.mjs …` on a blocking thread (the gateway
/// keeps serving meanwhile); what it observed.
async fn browser_login(base: &str, holder_key: PathBuf, vc_file: PathBuf) -> Value {
    let script = test_support::repo_root().join("interop/browser-login.mjs");
    let args = vec![
        script.display().to_string(),
        base.to_owned(),
        env!("CARGO_BIN_EXE_didgate").to_owned(),
        holder_key.display().to_string(),
        vc_file.display().to_string(),
    ];
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || Command::new("node").args(&args).output())
        .await
        .unwrap()
        .expect("cannot run node: install Node.js to run the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser-login.mjs failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    eprintln!(
        "browser-login.mjs: ok in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("browser-login.mjs printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("browser-login.mjs printed no JSON ({e}): {line}"))
}

/// Wait (up to 5 s) until the decision log has `n` rows with `reason`.
async fn decisions_with(gw: &RunningGateway, want: &[(&str, usize)]) -> Vec<audit::StoredDecision> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = gw.store.decisions().recent(1000).await.unwrap();
        let count = |r: &str| rows.iter().filter(|d| d.reason == r).count();
        if want.iter().all(|(r, n)| count(r) >= *n) {
            return rows;
        }
        if Instant::now() > deadline {
            let have: Vec<&str> = rows.iter().map(|d| d.reason.as_str()).collect();
            panic!("the decision log lacks some of {want:?}: {have:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_logs_in_with_the_wallet_and_out_again() {
    // The tools first: a failure here fails the test, it never skips.
    tokio::task::spawn_blocking(|| {
        run_script("install-browser.sh");
        run_script("setup-interop.sh");
    })
    .await
    .unwrap();

    let dir = tempdir("browser");
    let app = SampleApp::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None)
        .await
        .unwrap();
    let issuer = Who::new(KeyType::Ed25519, false);
    let alice = Who::new(KeyType::Ed25519, false);
    let (gw, base) = start_gateway(&dir, &issuer, &app).await;

    // Alice's wallet: her key file (as `didgate did create` writes it) and
    // her credential.
    let key_file = dir.join("alice.jwk");
    didgate::request::assertion::write_key_file(&key_file, &alice.key, Some(&alice.kid)).unwrap();
    let vc_file = dir.join("alice.vc.jwt");
    std::fs::write(&vc_file, employee_vc(&issuer, &alice)).unwrap();

    let seen = browser_login(&base, key_file, vc_file).await;
    eprintln!("observed: {}", serde_json::to_string_pretty(&seen).unwrap());
    let login_page = format!("{base}/.didgate/login?return_to=%2Feng%2Fdocs");
    let app_page = format!("{base}/eng/docs");

    // Cross-device: sent to the login page, which shows the request as a QR
    // code; the wallet answers; the page finishes the login by itself.
    let cross = &seen["cross_device"];
    assert_eq!(cross["redirect_status"], 303, "{cross}");
    assert_eq!(cross["login_url"], login_page.as_str());
    assert_eq!(cross["login_status"], 200);
    assert_eq!(cross["qr"], true);
    assert!(
        cross["complete_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/.didgate/login/complete?state=")),
        "{cross}"
    );
    assert_eq!(cross["complete_status"], 303);
    assert_eq!(cross["final_url"], app_page.as_str());
    assert_eq!(cross["final_status"], 200);
    // The app sees alice, by her session, and none of the gateway's cookies.
    assert_eq!(cross["subject"], alice.did.as_str());
    assert_eq!(cross["auth_method"], "session");
    assert!(
        !cross["app_saw_cookie"]
            .as_str()
            .unwrap_or("")
            .contains("didgate"),
        "{cross}"
    );
    // The cookies as the browser keeps them: HttpOnly, SameSite=Lax, and
    // not Secure on a plain-HTTP gateway.
    let session = &cross["session_cookie"];
    assert_eq!(session["name"], "didgate_session", "{cross}");
    assert_eq!(session["http_only"], true);
    assert_eq!(session["same_site"], "Lax");
    assert_eq!(session["secure"], false);
    assert_eq!(session["path"], "/");
    assert_eq!(cross["login_cookie"]["http_only"], true, "{cross}");
    assert_eq!(cross["login_cookie"]["same_site"], "Lax");
    // The logout from the page ends the session: the cookie is gone and
    // the app's page needs a login again.
    // The wallet's own redirect, followed after the page's poll finished the
    // login, still takes this browser on to the app.
    assert_eq!(cross["late_wallet_redirect"]["status"], 200, "{cross}");
    assert_eq!(cross["late_wallet_redirect"]["url"], app_page.as_str());
    assert_eq!(cross["logout_status"], 200);
    assert_eq!(cross["logout_body"]["status"], "logged_out");
    assert_eq!(cross["session_cookie_after_logout"], false);
    assert_eq!(cross["after_logout_url"], login_page.as_str());
    assert_eq!(cross["logged_out"], true);

    // Same device: the browser follows the wallet's redirect_uri.
    let same = &seen["same_device"];
    assert!(
        same["redirect_uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/.didgate/login/complete?response_code=")),
        "{same}"
    );
    assert_eq!(same["final_url"], app_page.as_str(), "{same}");
    assert_eq!(same["final_status"], 200);
    assert_eq!(same["subject"], alice.did.as_str());
    assert_eq!(same["auth_method"], "session");
    assert_eq!(same["session_cookie"]["http_only"], true);

    // The decision log: two logins presented and sessions opened, one
    // closed, all alice's.
    let rows = decisions_with(
        &gw,
        &[
            ("login_presented", 2),
            ("session_opened", 2),
            ("session_closed", 1),
        ],
    )
    .await;
    for reason in ["login_presented", "session_opened", "session_closed"] {
        for d in rows.iter().filter(|d| d.reason == reason) {
            assert_eq!(d.subject.as_deref(), Some(alice.did.as_str()), "{reason}");
        }
    }
    let closed = rows.iter().find(|d| d.reason == "session_closed").unwrap();
    assert_eq!(
        (closed.method.as_str(), closed.path.as_str()),
        ("POST", "/.didgate/logout")
    );
    assert!(
        rows.iter()
            .any(|d| d.reason == "allowed" && d.path == "/eng/docs"),
        "the app's page was decided and allowed"
    );

    gw.shutdown().await;
    app.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
