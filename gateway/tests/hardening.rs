//! What the policy decides is what the app receives, and trust never leaks:
//! the classes of flaws an outside test found, each proven refused over the
//! wire (HTTP/1.1 written byte by byte, and HTTP/2), with the good case beside
//! each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use credentials::{CredentialRequest, Format, KeyType};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A raw HTTP/1.x exchange: `head` is everything before the blank line
/// (request line and headers, `\r\n`-separated); returns the status and body.
async fn raw(addr: std::net::SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the gateway answers")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // A chunked body: good enough to find JSON fields in.
    (status, body.to_owned())
}

/// `GET target` by alice (a fresh presentation), written byte by byte.
async fn get_raw(h: &Harness, target: &str) -> (u16, String) {
    let vp = h.alice_vp();
    raw(
        h.addr,
        &format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {vp}"),
    )
    .await
}

/// The JSON object in a raw response body (chunk sizes around it ignored).
fn json_of(body: &str) -> Value {
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(body.get(start..end).unwrap_or("")).unwrap_or(Value::Null)
}

fn code_of(body: &str) -> String {
    json_of(body)["error"].as_str().unwrap_or("").to_owned()
}

fn app_path(body: &str) -> String {
    json_of(body)["path"].as_str().unwrap_or("").to_owned()
}

/// An HTTP/2 request (prior knowledge, cleartext).
async fn h2(base: &str, path: &str, bearer: &str) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = Request::builder()
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {bearer}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Every spelling of a path that leaves `/public` for `/secret` is decided
/// as `/secret/…` (forbidden by the `no-secrets` policy), over HTTP/1.1 and
/// HTTP/2; the decision log records the normalised path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_are_decided_as_the_app_would_read_them() {
    let h = Harness::start(None, "").await;
    for path in [
        "/public/../secret/plans",
        "/public/%2e%2e/secret/plans",
        "/public/%2E%2e/secret/plans",
        "/public/.%2e/secret/plans",
        "/public/./../secret/plans",
        "/public/x/../../secret/plans",
        "/public//../secret/plans",
        "/../../secret/plans",
        "/%73ecret/plans",
    ] {
        let (status, body) = get_raw(&h, path).await;
        assert_eq!(
            (status, code_of(&body).as_str()),
            (403, "policy_denied"),
            "HTTP/1.1 {path}: {body}"
        );
        let r = h2(&h.url, path, &h.alice_vp()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "HTTP/2 {path}");
        assert_eq!(r.code(), "policy_denied", "HTTP/2 {path}");
    }
    let d = h.decisions_with(&["policy_denied"]).await;
    assert!(d
        .iter()
        .filter(|d| d.reason == "policy_denied")
        .all(|d| d.path == "/secret/plans"));
    h.stop().await;
}

/// An allowed request reaches the app with exactly the path that was decided
/// (canonical encoding), its query untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_receives_the_path_that_was_decided() {
    let h = Harness::start(None, "").await;
    for (sent, received) in [
        ("/eng/./docs/../docs", "/eng/docs"),
        ("/eng/%64ocs?q=%2e%2e/x", "/eng/docs?q=%2e%2e/x"),
        ("/eng/caf%c3%a9", "/eng/caf%C3%A9"),
        ("/eng/a%3bb", "/eng/a%3Bb"),
        ("/eng//docs", "/eng/docs"),
        ("/eng/a[1]", "/eng/a%5B1%5D"),
    ] {
        let (status, body) = get_raw(&h, sent).await;
        assert_eq!(status, 200, "{sent}: {body}");
        assert_eq!(app_path(&body), received, "{sent}");
        let r = h2(&h.url, sent, &h.alice_vp()).await;
        r.assert_ok();
        assert_eq!(r.json()["path"], received, "HTTP/2 {sent}");
    }
    h.stop().await;
}

/// Forms whose meaning differs between servers are refused by default, each
/// with its own code; malformed paths are `bad_path`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_malformed_paths_are_refused() {
    let h = Harness::start(None, "").await;
    for (path, code) in [
        ("/public%2f..%2fsecret/plans", "path_encoded_slash"),
        ("/public/..%2Fsecret/plans", "path_encoded_slash"),
        ("/public%5c..%5csecret/plans", "path_encoded_slash"),
        ("/public\\..\\secret/plans", "path_backslash"),
        ("/public/..;/secret/plans", "path_parameter"),
        ("/eng/docs;jsessionid=1", "path_parameter"),
        ("/eng/%zz", "bad_path"),
        ("/eng/%00", "bad_path"),
        ("/eng/%0d%0aSet-Cookie:x", "bad_path"),
        ("/eng/%ff", "bad_path"),
    ] {
        let (status, body) = get_raw(&h, path).await;
        assert_eq!(
            (status, code_of(&body)),
            (400, code.to_owned()),
            "{path}: {body}"
        );
    }
    let (status, body) = raw(h.addr, "OPTIONS * HTTP/1.1\r\nHost: localhost").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (400, "bad_path"),
        "{body}"
    );
    // Refusals are audited like any other.
    h.decisions_with(&[
        "path_encoded_slash",
        "path_backslash",
        "path_parameter",
        "bad_path",
    ])
    .await;
    h.stop().await;
}

/// A route can keep encoded slashes and strip path parameters, as Envoy's
/// settings allow; a second pass that lands on another route is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_choose_their_own_path_rules() {
    let h = Harness::start(
        None,
        r#"
[[route]]
name = "files"
path_prefix = "/files"
upstream = "http://127.0.0.1:9"
encoded_slashes = "keep"
[[route]]
name = "java"
path_prefix = "/java"
upstream = "http://127.0.0.1:9"
path_parameters = "strip"
"#,
    )
    .await;
    // Both routes point at a closed port: a 502 means the request was
    // decided as allowed and forwarded; the log shows the decided path.
    let (status, body) = get_raw(&h, "/files/a%2fb").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (502, "upstream_unavailable"),
        "{body}"
    );
    let (status, body) = get_raw(&h, "/java/x;jsessionid=1/../y").await;
    assert_eq!(status, 502, "{body}");
    // Stripped, `..;` is `..`: out of /java into the demo route.
    let (status, body) = get_raw(&h, "/java/..;/secret/plans").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (400, "path_ambiguous"),
        "{body}"
    );
    let d = h.decisions_with(&["allowed", "path_ambiguous"]).await;
    let paths: Vec<&str> = d
        .iter()
        .filter(|d| d.reason == "allowed")
        .map(|d| d.path.as_str())
        .collect();
    assert!(paths.contains(&"/files/a%2Fb"), "{paths:?}");
    assert!(paths.contains(&"/java/y"), "{paths:?}");
    h.stop().await;
}

/// RFC 9112 §3.2: one Host, always, in HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_must_be_one_and_well_formed() {
    let h = Harness::start(None, "").await;
    let vp = h.alice_vp();
    for head in [
        format!("GET /eng/docs HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nAuthorization: Bearer {vp}"),
        format!("GET /eng/docs HTTP/1.1\r\nAuthorization: Bearer {vp}"),
        format!("GET /eng/docs HTTP/1.1\r\nHost: user@localhost\r\nAuthorization: Bearer {vp}"),
    ] {
        let (status, body) = raw(h.addr, &head).await;
        assert_eq!((status, code_of(&body).as_str()), (400, "host_invalid"), "{head}: {body}");
    }
    // HTTP/1.0 may omit it.
    let (status, body) = raw(h.addr, "GET /eng/docs HTTP/1.0").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (401, "credential_missing"),
        "{body}"
    );
    h.decisions_with(&["host_invalid"]).await;
    h.stop().await;
}

/// Only websocket upgrades are forwarded; `Upgrade: h2c` (or anything else)
/// goes on as a plain request, and an upstream that switches protocols
/// without a websocket handshake is a 502, never a raw tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_websocket_upgrades_reach_the_app() {
    // An upstream that switches protocols whatever it is asked.
    let rogue = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rogue_addr = rogue.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = rogue.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                    .await;
                let _ = s.read(&mut buf).await;
            });
        }
    });
    let h = Harness::start(
        None,
        &format!("[[route]]\nname = \"rogue\"\npath_prefix = \"/rogue\"\nupstream = \"http://{rogue_addr}\"\n"),
    )
    .await;
    let vp = h.alice_vp();
    let (status, body) = raw(
        h.addr,
        &format!(
            "GET /eng/docs HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nAuthorization: Bearer {vp}"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seen = json_of(&body);
    assert!(seen["headers"].get("upgrade").is_none(), "{seen}");
    assert!(seen["headers"].get("http2-settings").is_none(), "{seen}");
    let (status, body) = get_raw(&h, "/rogue/x").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (502, "upstream_bad_upgrade"),
        "{body}"
    );
    h.stop().await;
}

/// `X-HTTP-Method-Override` and its cousins are stripped by default: the
/// request is decided and forwarded as the method it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_overrides_are_stripped_by_default() {
    let h = Harness::start(None, "").await;
    // alice, an engineer, may read but not write: a POST claiming to be a
    // GET is still a POST.
    let r = h
        .send(
            Method::POST,
            "/eng/docs",
            Some(&h.alice_vp()),
            &[
                ("x-http-method-override", "GET"),
                ("x-method-override", "GET"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "decided as the POST it is");
    let admin_vc = h.employee_vc(&h.alice, "admin", "it");
    let vp = h.vp_for(
        &h.alice,
        vec![admin_vc],
        &h.audience,
        now(),
        Format::JwtVc11,
    );
    let r = h
        .send(
            Method::POST,
            "/eng/docs",
            Some(&vp),
            &[
                ("x-http-method-override", "DELETE"),
                ("x-http-method", "DELETE"),
            ],
        )
        .await;
    r.assert_ok();
    assert_eq!(r.json()["method"], "POST");
    let headers = &r.json()["headers"];
    assert!(headers.get("x-http-method-override").is_none(), "{headers}");
    assert!(headers.get("x-http-method").is_none(), "{headers}");
    // The query's `_method`, however spelled, goes too; the rest stays.
    let r = h
        .send(
            Method::POST,
            "/eng/docs?a=1&_method=DELETE&%5Fmethod=DELETE;_method=PUT&b=2",
            Some(&h.alice_vp()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "still a POST for alice");
    let vp = h.vp_for(
        &h.alice,
        vec![h.employee_vc(&h.alice, "admin", "it")],
        &h.audience,
        now(),
        Format::JwtVc11,
    );
    let r = h
        .send(
            Method::POST,
            "/eng/docs?a=1&_method=DELETE&%5Fmethod=DELETE;_method=PUT&b=2",
            Some(&vp),
            &[],
        )
        .await;
    r.assert_ok();
    assert_eq!(r.json()["path"], "/eng/docs?a=1&b=2");
    h.stop().await;
}

/// Facts only a proxy can know (client address, scheme, host, prefix) and
/// the URL rewrites some frameworks route by never come from the client:
/// the app sees the gateway's own `x-forwarded-*` and nothing else of
/// their kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_never_sees_client_made_forwarding_or_rewrite_headers() {
    let h = Harness::start(None, "").await;
    let forged = [
        ("forwarded", "for=10.9.9.9;proto=https"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-host", "admin.internal"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-port", "8443"),
        ("x-real-ip", "10.9.9.9"),
        ("x-client-ip", "10.9.9.9"),
        ("true-client-ip", "10.9.9.9"),
        ("cf-connecting-ip", "10.9.9.9"),
        ("fastly-client-ip", "10.9.9.9"),
        ("x-cluster-client-ip", "10.9.9.9"),
        ("client-ip", "10.9.9.9"),
        ("x-original-url", "/admin/users"),
        ("x-rewrite-url", "/admin/users"),
        ("x-original-uri", "/admin/users"),
    ];
    let r = h
        .send(Method::GET, "/x", Some(&h.alice_vp()), &forged)
        .await;
    r.assert_ok();
    let headers = &r.json()["headers"];
    for (name, _) in forged {
        match name {
            "x-forwarded-for" => assert_eq!(headers[name], "127.0.0.1", "{headers}"),
            "x-forwarded-host" => assert_ne!(headers[name], "admin.internal", "{headers}"),
            _ => assert!(headers.get(name).is_none(), "{name}: {headers}"),
        }
    }
    h.stop().await;
}

/// A route that honours overrides decides the method they claim (on POST
/// only, all headers agreeing) and forwards the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_may_decide_the_overridden_method() {
    let app = didgate::sample_app::SampleApp::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    )
    .await
    .unwrap();
    let h = Harness::start(
        None,
        &format!(
            "[[route]]\nname = \"legacy\"\npath_prefix = \"/legacy\"\nupstream = \"http://{}\"\nmethod_override = \"decide\"\n",
            app.addr
        ),
    )
    .await;
    let r = h
        .send(
            Method::POST,
            "/legacy/x",
            Some(&h.alice_vp()),
            &[("x-http-method-override", "GET")],
        )
        .await;
    r.assert_ok();
    assert_eq!(
        r.json()["headers"]["x-http-method-override"],
        "GET",
        "forwarded"
    );
    let r = h
        .send(
            Method::POST,
            "/legacy/x",
            Some(&h.alice_vp()),
            &[("x-http-method-override", "DELETE")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "decided as DELETE");
    let r = h
        .send(
            Method::POST,
            "/legacy/x?_method=DELETE",
            Some(&h.alice_vp()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the query's override too");
    let r = h
        .send(
            Method::POST,
            "/legacy/x?_method=GET",
            Some(&h.alice_vp()),
            &[],
        )
        .await;
    r.assert_ok();
    assert_eq!(r.json()["path"], "/legacy/x?_method=GET", "forwarded");
    let r = h
        .send(
            Method::POST,
            "/legacy/x",
            Some(&h.alice_vp()),
            &[
                ("x-http-method-override", "GET"),
                ("x-http-method", "DELETE"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "method_override_invalid")
    );
    let r = h
        .send(
            Method::DELETE,
            "/legacy/x",
            Some(&h.alice_vp()),
            &[("x-http-method-override", "GET")],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "method_override_invalid")
    );
    let d = h
        .decisions_with(&["method_override_invalid", "policy_denied"])
        .await;
    assert!(d
        .iter()
        .any(|d| d.reason == "policy_denied" && d.method == "DELETE"));
    h.stop().await;
    app.stop();
}

/// A VC-JWT of any types and claims, signed by `issuer`.
fn vc_typed(h: &Harness, issuer: &Who, subject: &str, types: &[&str], claims: Value) -> String {
    credentials::issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.to_owned(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            claims: claims.as_object().cloned().unwrap_or_default(),
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        now(),
    )
    .map_err(|e| format!("{e} ({})", h.url))
    .unwrap()
}

/// An issuer trusted only for ServiceCredential cannot make anyone an
/// employee, nor an admin: a credential counts only for the types its
/// issuer is trusted for, and its claims only under those types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_in_an_issuer_does_not_leak_across_types() {
    let platform = Who::new(KeyType::Ed25519, false);
    let h = Harness::start(
        None,
        &format!("[[credentials.trusted_issuers]]\ncredential_type = \"ServiceCredential\"\nissuers = [\"{}\"]\n", platform.did),
    )
    .await;
    let both = vc_typed(
        &h,
        &platform,
        &h.alice.did,
        &["ServiceCredential", "EmployeeCredential"],
        json!({"role": "admin", "department": "eng"}),
    );
    // Alone: it counts as a ServiceCredential only, which reads nothing here.
    let vp = h.vp_for(
        &h.alice,
        vec![both.clone()],
        &h.audience,
        now(),
        Format::JwtVc11,
    );
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Beside alice's real EmployeeCredential (an engineer): she reads /eng
    // as before, and its role=admin makes her no admin.
    let genuine = h.employee_vc(&h.alice, "engineer", "eng");
    for order in [
        vec![both.clone(), genuine.clone()],
        vec![genuine.clone(), both.clone()],
    ] {
        let vp = h.vp_for(&h.alice, order, &h.audience, now(), Format::JwtVc11);
        let r = h.send(Method::POST, "/eng/docs", Some(&vp), &[]).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let vp = h.vp_for(
        &h.alice,
        vec![both, genuine],
        &h.audience,
        now(),
        Format::JwtVc11,
    );
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    r.assert_ok();
    let assertion = r.json()["headers"]["x-didgate-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = credentials::jws::parse(&assertion).unwrap().payload["claims"].clone();
    assert_eq!(claims["EmployeeCredential"]["role"], "engineer", "{claims}");
    assert!(claims.get("role").is_none(), "{claims}");
    // Two credentials counting for one type: refused, never merged.
    let second = h.employee_vc(&h.alice, "admin", "it");
    let first = h.employee_vc(&h.alice, "engineer", "eng");
    let vp = h.vp_for(
        &h.alice,
        vec![first, second],
        &h.audience,
        now(),
        Format::JwtVc11,
    );
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "duplicate_credential_type")
    );
    h.stop().await;
}

/// A presentation signed by `who` with these registered claims.
fn vp_with_times(h: &Harness, who: &Who, times: Value) -> String {
    let vc = h.employee_vc(who, "engineer", "eng");
    let mut payload = json!({
        "iss": who.did,
        "aud": h.audience,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "vp": {"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiablePresentation"], "verifiableCredential": [vc]},
    });
    for (k, v) in times.as_object().unwrap() {
        payload[k] = v.clone();
    }
    credentials::jws::sign_compact(&who.key, Some("JWT"), Some(&who.kid), &payload)
}

/// Times far outside any sane range are refused before any arithmetic on
/// them; a year-long presentation never passes the 15-minute limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presentation_times_cannot_overflow_the_lifetime_check() {
    let h = Harness::start(None, "").await;
    let t = now();
    for (times, code) in [
        (
            json!({"nbf": i64::MIN + 1, "exp": t + 365 * 86_400}),
            "time_out_of_range",
        ),
        (
            json!({"iat": i64::MIN, "exp": t + 365 * 86_400}),
            "time_out_of_range",
        ),
        (json!({"iat": -1, "exp": t + 60}), "time_out_of_range"),
        (
            json!({"nbf": 0, "exp": t + 365 * 86_400}),
            "presentation_lifetime_too_long",
        ),
        (
            json!({"iat": t - 86_400 * 3650, "exp": t + 86_400 * 365}),
            "presentation_lifetime_too_long",
        ),
        (json!({"exp": i64::MAX}), "time_out_of_range"),
        (json!({"exp": 1e300}), "time_out_of_range"),
        (json!({"exp": -1e300}), "time_out_of_range"),
        (
            json!({"exp": t + 60, "nbf": 9_999_999_999_999_i64}),
            "time_out_of_range",
        ),
    ] {
        let vp = vp_with_times(&h, &h.alice, times.clone());
        let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, code.to_owned()),
            "{times}"
        );
    }
    let vp = vp_with_times(&h, &h.alice, json!({"iat": t, "exp": t + 120}));
    h.send(Method::GET, "/eng/docs", Some(&vp), &[])
        .await
        .assert_ok();
    h.stop().await;
}

/// A listener that counts the connections it receives (and answers none).
async fn counting_listener() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, hits)
}

fn vc_with_status(issuer: &Who, subject: &str, list: &str) -> String {
    credentials::issue_with_status(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.to_owned(),
            types: vec!["EmployeeCredential".into()],
            claims: json!({"role": "engineer", "department": "eng"})
                .as_object()
                .cloned()
                .unwrap(),
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        Some(&json!({
            "id": format!("{list}#7"), "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation", "statusListIndex": "7", "statusListCredential": list,
        })),
        now(),
    )
    .unwrap()
}

/// No credential makes the gateway touch the network before its issuer is
/// trusted, nor fetch a status list from a place its issuer does not
/// publish at; a fetch that fails is logged, and the client learns only the
/// reason code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_fetched_before_trust_and_fetch_errors_stay_inside() {
    let (target, hits) = counting_listener().await;
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let hr = Who::new(KeyType::Ed25519, false);
    let h = Harness::start(
        None,
        &format!(
            "[[credentials.trusted_issuers]]\ncredential_type = \"EmployeeCredential\"\nissuers = [\"{}\"]\nstatus_list_urls = [\"http://127.0.0.1:{}/lists/\"]\n",
            hr.did,
            closed.port()
        ),
    )
    .await;
    let aimed_at = format!("http://127.0.0.1:{}/status/1", target.port());
    // 1. A self-made issuer aiming the gateway at an address: refused as
    // untrusted, nothing fetched.
    let rogue = Who::new(KeyType::Ed25519, false);
    let vc = vc_with_status(&rogue, &h.alice.did, &aimed_at);
    let vp = h.vp_for(&h.alice, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "issuer_not_trusted")
    );
    // 2. Trusted issuers, lists where they do not publish: refused before
    // any request (the harness's issuer publishes nowhere).
    for issuer in [&hr, &h.issuer] {
        let vc = vc_with_status(issuer, &h.alice.did, &aimed_at);
        let vp = h.vp_for(&h.alice, vec![vc], &h.audience, now(), Format::JwtVc11);
        let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::UNAUTHORIZED, "status_list_not_allowed")
        );
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was fetched"
    );
    // 3. Where it does publish, but the server is down: 503, and not a word
    // of what the fetch ran into.
    let list = format!("http://127.0.0.1:{}/lists/1", closed.port());
    let vc = vc_with_status(&hr, &h.alice.did, &list);
    let vp = h.vp_for(&h.alice, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "status_unavailable")
    );
    let message = r.json()["message"].as_str().unwrap().to_owned();
    for leak in [
        "127.0.0.1",
        "connect",
        "refused",
        "error",
        &closed.port().to_string(),
    ] {
        assert!(!message.contains(leak), "{message}");
    }
    h.stop().await;
}

/// The login cookie is the gateway's own: a well-formed value the client
/// chose is replaced, never adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_cookie_the_client_chose_is_never_adopted() {
    let h = Harness::start(None, "").await;
    // The harness's public URL is https://, so the cookie is __Host- prefixed.
    let name = "__Host-didgate-login";
    let chosen = b64(&[7u8; 32]);
    let r = h
        .send(
            Method::GET,
            "/.didgate/login?return_to=/eng/docs",
            None,
            &[
                ("cookie", &format!("{name}={chosen}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    r.assert_ok();
    let issued = r
        .headers
        .get_all("set-cookie")
        .iter()
        .find_map(|c| {
            c.to_str()
                .unwrap()
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
        .expect("a fresh login cookie");
    let value = issued.split(';').next().unwrap().to_owned();
    assert_ne!(value, chosen);
    // The cookie it issued is kept by the next page load of the same browser.
    let r = h
        .send(
            Method::GET,
            "/.didgate/login",
            None,
            &[
                ("cookie", &format!("{name}={value}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    r.assert_ok();
    assert!(
        r.headers.get("set-cookie").is_none(),
        "the gateway's own cookie is kept"
    );
    h.stop().await;
}
