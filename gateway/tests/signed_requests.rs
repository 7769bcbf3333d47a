//! Signed requests (RFC 9421) end to end: a real gateway in front of the
//! sample app, services signing with `didgate-client` (and with the npm
//! package `http-message-signatures`, an independent implementation), each
//! refusal with its own reason code, and every decision in the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use credentials::{Format, KeyType, SigningKey};
use didgate::sample_app::SampleApp;
use didgate_client::Signer;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::Full;
use http_signatures::{signature_base, Component, Param, RequestView, SignatureParams};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use support::*;

/// Policies for services: the `svc` DID may GET /svc/*; a billing
/// engineer (by presented credentials) may POST /orders, signed only.
fn policies(svc: &Service) -> String {
    format!(
        r#"
@id("svc-reads")
permit (principal == Didgate::Holder::"{did}", action == Didgate::Action::"GET", resource)
when {{ resource.path like "/svc/*" && context.auth_method == "http_signature" }};

@id("billing-orders")
permit (principal, action == Didgate::Action::"POST", resource)
when {{ resource.path like "/orders*" && context.auth_method == "http_signature"
        && principal.claims has EmployeeCredential.department
        && principal.claims.EmployeeCredential.department == "billing" }};
"#,
        did = svc.did
    )
}

/// The gateway, with a route that decides method overrides (`/legacy`).
async fn start(svc: &Service) -> Harness {
    let app = SampleApp::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None)
        .await
        .unwrap();
    let legacy = format!(
        "[[route]]\nname = \"legacy\"\npath_prefix = \"/legacy\"\nupstream = \"http://{}\"\nmethod_override = \"decide\"\n",
        app.addr
    );
    // The app lives as long as the test process; each test starts its own.
    std::mem::forget(app);
    Harness::start_full(None, "", "", &legacy, &policies(svc)).await
}

/// A request to the gateway, as the service builds it.
fn request(h: &Harness, method: Method, path: &str, body: &[u8]) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(format!("{}{path}", h.url))
        .body(body.to_vec())
        .unwrap()
}

/// Send `req` as it is (its body as built, unless `body` replaces it).
async fn send_raw(req: Request<Vec<u8>>, body: Option<&[u8]>) -> Resp {
    let (parts, b) = req.into_parts();
    let b = body.map_or(b, <[u8]>::to_vec);
    send_request(Request::from_parts(parts, Full::new(Bytes::from(b)))).await
}

async fn signed(signer: &Signer, mut req: Request<Vec<u8>>) -> Resp {
    signer.sign_request(&mut req).unwrap();
    send_raw(req, None).await
}

/// Sign `req` by hand, covering `components` with `params` (for the
/// signatures `Signer` never makes).
fn sign_by_hand(
    key: &SigningKey,
    req: &mut Request<Vec<u8>>,
    components: Vec<Component>,
    params: Vec<Param>,
) {
    let mut sp = SignatureParams::new(components);
    for p in params {
        sp = sp.with(p);
    }
    let authority = req.uri().authority().unwrap().as_str().to_owned();
    let view = RequestView::from_request(req, http::uri::Scheme::HTTP).with_authority(&authority);
    let base = signature_base(&view, &sp).unwrap();
    let sig = key.sign(&base);
    let input = http_signatures::signature_input_header("didgate", &sp).unwrap();
    let value = http_signatures::signature_header("didgate", &sig).unwrap();
    req.headers_mut().insert("signature-input", input);
    req.headers_mut().insert("signature", value);
}

fn full_params(svc: &Service, created: u64, expires: u64, nonce: &str) -> Vec<Param> {
    vec![
        Param::Created(created),
        Param::Expires(expires),
        Param::Nonce(nonce.to_owned()),
        Param::KeyId(svc.keyid.clone()),
        Param::Tag("didgate".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_is_its_did_and_the_app_sees_who_signed() {
    let svc = Service::new(KeyType::Ed25519);
    let h = start(&svc).await;
    let r = signed(
        &svc.signer(),
        request(&h, Method::GET, "/svc/status?x=1", b""),
    )
    .await;
    r.assert_ok();
    let body = r.json();
    assert_eq!(body["path"], "/svc/status?x=1");
    let assertion = body["headers"]["x-didgate-assertion"].as_str().unwrap();
    let parsed = credentials::jws::parse(assertion).unwrap();
    assert_eq!(parsed.payload["sub"], svc.did.as_str());
    assert_eq!(parsed.payload["auth_method"], "http_signature");

    // Another DID, validly signed, is not the one the policy names.
    let other = Service::new(KeyType::P256);
    let r = signed(
        &other.signer(),
        request(&h, Method::GET, "/svc/status", b""),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.code());
    assert_eq!(r.code(), "policy_denied");
    // The policy demands a signature: the same DID cannot reach it any
    // other way (a session or a bearer would have another auth_method).
    let d = h.decisions(2).await;
    assert!(d
        .iter()
        .any(|d| d.effect == "allow" && d.subject.as_deref() == Some(svc.did.as_str())));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_presented_once_give_claims_to_later_signed_requests() {
    let svc = Service::new(KeyType::Ed25519);
    let h = start(&svc).await;
    let signer = svc.signer();
    let order = br#"{"sku":42}"#;

    // Without credentials the DID has no department: denied.
    let r = signed(&signer, request(&h, Method::POST, "/orders", order)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.code());

    // Presented once, with a signed request: allowed, body intact.
    let mut req = request(&h, Method::POST, "/orders", order);
    req.headers_mut().insert(
        "x-didgate-presentation",
        h.service_presentation(&svc, "billing").parse().unwrap(),
    );
    let r = signed(&signer, req).await;
    r.assert_ok();
    let body = r.json();
    assert_eq!(body["body_bytes"], order.len());
    assert_eq!(
        body["headers"]["content-digest"],
        http_signatures::content_digest::compute(
            http_signatures::content_digest::DigestAlgorithm::Sha256,
            order
        )
        .to_str()
        .unwrap()
    );
    assert!(
        body["headers"].get("x-didgate-presentation").is_none(),
        "the presentation is the gateway's, not the app's"
    );

    // Later requests carry no presentation and keep the claims.
    for _ in 0..3 {
        let r = signed(&signer, request(&h, Method::POST, "/orders/2", order)).await;
        r.assert_ok();
    }

    // A presentation by another DID cannot be attached to this DID's requests.
    let other = Service::new(KeyType::Ed25519);
    let mut req = request(&h, Method::POST, "/orders", order);
    req.headers_mut().insert(
        "x-didgate-presentation",
        h.service_presentation(&other, "billing").parse().unwrap(),
    );
    let r = signed(&signer, req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "presentation_not_signer");

    // New credentials replace the old ones: now in another department.
    let mut req = request(&h, Method::POST, "/orders", order);
    req.headers_mut().insert(
        "x-didgate-presentation",
        h.service_presentation(&svc, "sales").parse().unwrap(),
    );
    let r = signed(&signer, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = signed(&signer, request(&h, Method::POST, "/orders", order)).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the sales credential stays"
    );
    h.stop().await;
}

/// Each way a signed request is refused: its status, its own reason code,
/// a `Signature` challenge with `Accept-Signature`, and a decision row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_signature_has_its_reason_and_is_logged() {
    let svc = Service::new(KeyType::Ed25519);
    let h = start(&svc).await;
    let signer = svc.signer();
    let t = now() as u64;
    let mut seen = Vec::new();
    let mut check = |name: &str, r: Resp, status: StatusCode, code: &str| {
        assert_eq!(
            r.status,
            status,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), code, "{name}");
        if status == StatusCode::UNAUTHORIZED {
            let www = r.headers["www-authenticate"].to_str().unwrap();
            assert!(
                www.starts_with("Signature realm=\"didgate\""),
                "{name}: {www}"
            );
            assert!(www.contains(code), "{name}: {www}");
            assert!(r.headers.contains_key("accept-signature"), "{name}");
        }
        seen.push(code.to_owned());
    };

    // Bad signature: the signature's bytes changed.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    signer.sign_request(&mut req).unwrap();
    let sig = req.headers()["signature"].to_str().unwrap().to_owned();
    let b64 = sig
        .strip_prefix("didgate=:")
        .and_then(|s| s.strip_suffix(':'))
        .unwrap();
    let mut bytes = STANDARD.decode(b64).unwrap();
    bytes[0] ^= 1;
    let flipped = format!("didgate=:{}:", STANDARD.encode(&bytes));
    req.headers_mut()
        .insert("signature", flipped.parse().unwrap());
    check(
        "bad signature",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );

    // Signed for another path than the one sent.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    signer.sign_request(&mut req).unwrap();
    *req.uri_mut() = format!("{}/svc/b", h.url).parse().unwrap();
    check(
        "another target",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );

    // The body changed after signing.
    let req = {
        let mut req = request(&h, Method::POST, "/orders", br#"{"sku":42}"#);
        signer.sign_request(&mut req).unwrap();
        req
    };
    check(
        "body changed",
        send_raw(req, Some(br#"{"sku":43}"#)).await,
        StatusCode::UNAUTHORIZED,
        "content_digest_mismatch",
    );

    // A body whose digest the signature does not cover.
    let mut req = request(&h, Method::POST, "/orders", b"{}");
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method, Component::TargetUri],
        full_params(&svc, t, t + 60, "n-body"),
    );
    check(
        "digest not covered",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "signature_component_required",
    );

    // The target not covered.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method],
        full_params(&svc, t, t + 60, "n-target"),
    );
    check(
        "target not covered",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "signature_component_required",
    );

    // A query not covered by @authority + @path.
    let mut req = request(&h, Method::GET, "/svc/a?admin=1", b"");
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method, Component::Authority, Component::Path],
        full_params(&svc, t, t + 60, "n-query"),
    );
    check(
        "query not covered",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "signature_component_required",
    );

    // Expired, and created in the future.
    let old = svc.signer().with_clock(move || t as i64 - 3600);
    check(
        "expired",
        signed(&old, request(&h, Method::GET, "/svc/a", b"")).await,
        StatusCode::UNAUTHORIZED,
        "signature_expired",
    );
    let future = svc.signer().with_clock(move || t as i64 + 3600);
    check(
        "future",
        signed(&future, request(&h, Method::GET, "/svc/a", b"")).await,
        StatusCode::UNAUTHORIZED,
        "signature_not_yet_valid",
    );
    // Valid for longer than the gateway's 300 s.
    let long = svc.signer().with_validity_secs(3600).unwrap();
    check(
        "validity too long",
        signed(&long, request(&h, Method::GET, "/svc/a", b"")).await,
        StatusCode::UNAUTHORIZED,
        "signature_validity_too_long",
    );

    // No nonce.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    let mut params = full_params(&svc, t, t + 60, "x");
    params.retain(|p| !matches!(p, Param::Nonce(_)));
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method, Component::TargetUri],
        params,
    );
    check(
        "no nonce",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "signature_nonce_missing",
    );

    // The same signed request twice: the second is a replay.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    signer.sign_request(&mut req).unwrap();
    let again = {
        let mut r = request(&h, Method::GET, "/svc/a", b"");
        *r.headers_mut() = req.headers().clone();
        r
    };
    send_raw(req, None).await.assert_ok();
    check(
        "replayed",
        send_raw(again, None).await,
        StatusCode::UNAUTHORIZED,
        "replayed_signature",
    );

    // A key id that is not one of the DID's keys.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    let mut params = full_params(&svc, t, t + 60, "n-kid");
    params.retain(|p| !matches!(p, Param::KeyId(_)));
    params.push(Param::KeyId(format!("{}#not-a-key", svc.did)));
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method, Component::TargetUri],
        params,
    );
    check(
        "unknown key id",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "key_not_found",
    );

    // Another DID's key id over this key's signature.
    let other = Service::new(KeyType::Ed25519);
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    let mut params = full_params(&svc, t, t + 60, "n-other");
    params.retain(|p| !matches!(p, Param::KeyId(_)));
    params.push(Param::KeyId(other.keyid.clone()));
    sign_by_hand(
        &svc.key,
        &mut req,
        vec![Component::Method, Component::TargetUri],
        params,
    );
    check(
        "someone else's key",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );

    // HMAC is never accepted.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    req.headers_mut().insert(
        "signature-input",
        format!(
            "didgate=(\"@method\" \"@target-uri\");created={t};expires={};nonce=\"h\";keyid=\"{}\";alg=\"hmac-sha256\";tag=\"didgate\"",
            t + 60,
            svc.keyid
        )
        .parse()
        .unwrap(),
    );
    req.headers_mut()
        .insert("signature", "didgate=:AAAA:".parse().unwrap());
    check(
        "hmac",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "algorithm_not_allowed",
    );

    // A signature and a bearer presentation at once.
    let mut req = request(&h, Method::GET, "/svc/a", b"");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", h.alice_vp()).parse().unwrap(),
    );
    signer.sign_request(&mut req).unwrap();
    check(
        "signature and bearer",
        send_raw(req, None).await,
        StatusCode::BAD_REQUEST,
        "ambiguous_credentials",
    );

    // A method override the signature does not cover.
    let mut req = request(&h, Method::POST, "/legacy/a", b"");
    req.headers_mut()
        .insert("x-http-method-override", "DELETE".parse().unwrap());
    signer.sign_request(&mut req).unwrap();
    check(
        "method override",
        send_raw(req, None).await,
        StatusCode::UNAUTHORIZED,
        "signature_method_override",
    );

    // A body larger than the gateway reads to check a digest.
    let big = vec![b'x'; (1 << 20) + 1];
    check(
        "body too large",
        signed(&signer, request(&h, Method::POST, "/orders", &big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_body_too_large",
    );

    // A body that is malformed on the wire (a chunk size that is not hex),
    // under a valid signature of a body: refused, never forwarded.
    let mut req = request(&h, Method::POST, "/orders", b"hello");
    signer.sign_request(&mut req).unwrap();
    let mut raw = format!("POST /orders HTTP/1.1\r\nhost: {}\r\n", h.addr);
    for (k, v) in req.headers() {
        raw.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    raw.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    let answer = raw_exchange(h.addr, raw.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("request_body_invalid"),
        "{answer}"
    );
    seen.push("request_body_invalid".to_owned());

    let codes: Vec<&str> = seen.iter().map(String::as_str).collect();
    let d = h.decisions_with(&codes).await;
    assert!(d
        .iter()
        .all(|d| d.effect != "allow" || d.reason == "allowed"));
    h.stop().await;
}

/// Write `bytes` to the gateway on a fresh connection; what it answers
/// until it closes.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_request_is_told_it_may_sign() {
    let svc = Service::new(KeyType::Ed25519);
    let h = start(&svc).await;
    let r = h.send(Method::GET, "/svc/a", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let accept = r.headers["accept-signature"].to_str().unwrap();
    assert!(accept.contains("\"@target-uri\"") && accept.contains("tag=\"didgate\""));
    h.stop().await;
}

/// The npm package `http-message-signatures` (pinned in `interop/`), an
/// independent RFC 9421 implementation, signs with Node's crypto; the
/// gateway accepts its requests, body and all, and refuses them changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_signed_by_an_independent_implementation_pass_the_gateway() {
    let svc = Service::new(KeyType::Ed25519);
    let p256 = Service::new(KeyType::P256);
    let h = start(&svc).await;
    let pres = h.service_presentation(&p256, "billing");
    let t = now();
    let order = br#"{"sku":7}"#;
    // (who, alg, method, path, body, body sent instead, expected code)
    type Case<'a> = (
        &'a Service,
        &'a str,
        &'a str,
        &'a str,
        &'a [u8],
        Option<&'a [u8]>,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (&svc, "ed25519", "GET", "/svc/npm?q=a%20b", b"", None, ""),
        (
            &p256,
            "ecdsa-p256-sha256",
            "POST",
            "/orders/npm",
            order,
            None,
            "",
        ),
        (
            &p256,
            "ecdsa-p256-sha256",
            "POST",
            "/orders/npm",
            order,
            Some(b"{\"sku\":8}"),
            "content_digest_mismatch",
        ),
    ];
    let mut input = Vec::new();
    for (i, (who, alg, method, path, body, _, _)) in cases.iter().enumerate() {
        input.push(json!({
            "op": "sign",
            "request": {
                "method": method,
                "url": format!("{}{path}", h.url),
                "headers": {"host": h.addr.to_string()},
                "body": STANDARD.encode(body),
            },
            "privateJwk": serde_json::to_value(who.key.to_jwk()).unwrap(),
            "keyid": who.keyid,
            "alg": alg,
            "created": t,
            "expires": t + 60,
            "nonce": format!("npm-{i}-{t}"),
        }));
    }
    let out = test_support::node_with_input(
        "http-signatures.mjs",
        &serde_json::to_vec(&json!({ "cases": input })).unwrap(),
    )
    .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    for (i, (who, _, method, path, body, sent, code)) in cases.iter().enumerate() {
        let headers = out["results"][i]["headers"].as_object().unwrap();
        let mut req = request(&h, method.parse().unwrap(), path, body);
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("host") {
                continue;
            }
            map.insert(
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                v.as_str().unwrap().parse().unwrap(),
            );
        }
        if who.did == p256.did {
            map.insert("x-didgate-presentation", pres.parse().unwrap());
        }
        *req.headers_mut() = map;
        let r = send_raw(req, *sent).await;
        if code.is_empty() {
            r.assert_ok();
            assert_eq!(r.json()["body_bytes"], body.len(), "case {i}");
            assert_eq!(r.json()["path"], *path, "case {i}");
        } else {
            assert_eq!(r.code(), *code, "case {i}");
        }
    }
    h.stop().await;
}

/// The shell tools: `didgate did create` makes a service key, `didgate
/// curl` signs and sends (presenting credentials once with `--vc`), and
/// `didgate wallet sign-request` prints headers any HTTP client can send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_sign_request_from_the_command_line() {
    let h = start(&Service::new(KeyType::Ed25519)).await;
    let dir = h.dir.clone();
    let key = dir.join("svc.jwk");
    let key_s = key.to_str().unwrap().to_owned();
    let did = run_ok(&["did", "create", "--method", "key", "--out", &key_s])
        .trim()
        .to_owned();
    let vc = h.vc_by(
        &h.issuer,
        &did,
        json!({"role": "service", "department": "billing"}),
        now(),
        3600,
        Format::JwtVc11,
    );
    let vc_path = dir.join("svc.vc.jwt");
    std::fs::write(&vc_path, &vc).unwrap();
    let url = format!("{}/orders", h.url);

    let cli = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            didgate_cli(&args)
        })
        .await
        .unwrap()
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // curl: signed, with the credentials presented once.
    let out = cli(args(&[
        "curl",
        "--key",
        &key_s,
        "--vc",
        vc_path.to_str().unwrap(),
        "--audience",
        &h.audience,
        "-i",
        "-d",
        r#"{"sku":1}"#,
        &url,
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("HTTP/1.1 200 OK"), "{stdout}");
    assert!(stdout.contains("\"body_bytes\": 9"), "{stdout}");

    // sign-request: the headers, sent by another client with the same body.
    let out = cli(args(&[
        "wallet",
        "sign-request",
        "--key",
        &key_s,
        "-X",
        "POST",
        "-d",
        r#"{"sku":2}"#,
        &url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let headers: Vec<(&str, &str)> = printed
        .lines()
        .map(|l| l.split_once(": ").unwrap())
        .collect();
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["Content-Digest", "Signature-Input", "Signature"]);
    let r = send(
        &h.url,
        Method::POST,
        "/orders",
        None,
        &headers,
        Bytes::from_static(br#"{"sku":2}"#),
    )
    .await;
    r.assert_ok();

    // curl -f: a refusal is exit status 22, its body still printed.
    let out = cli(args(&[
        "curl",
        "-f",
        "--key",
        &key_s,
        &format!("{}/secret", h.url),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(22));
    assert!(String::from_utf8_lossy(&out.stdout).contains("policy_denied"));

    // A key file that is not one.
    let out = cli(args(&["curl", "--key", "/nonexistent.jwk", &url])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key /nonexistent.jwk"));
    h.stop().await;
}
