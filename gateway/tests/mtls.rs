//! Mutual TLS with DID-bound client certificates, end to end: a real
//! gateway (`[server.tls] client_auth = "did"`) in front of the sample
//! app, services connecting with certificates made by `didgate-client`
//! (no CA: the URI SAN names the DID, and the key must be the DID's), each
//! refusal with its own reason code, and a key removed on chain ending the
//! identity on a connection that is already open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use credentials::{KeyType, SigningKey};
use didgate_client::{ClientCertificate, Signer};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use support::*;

/// The policies: the `svc` DID may GET /svc/* over mutual TLS; a billing
/// service (by presented credentials) may POST /orders, over mutual TLS.
fn policies(svc_did: &str) -> String {
    format!(
        r#"
@id("svc-reads-mtls")
permit (principal == Didgate::Holder::"{svc_did}", action == Didgate::Action::"GET", resource)
when {{ resource.path like "/svc/*" && context.auth_method == "mtls" }};

@id("billing-orders-mtls")
permit (principal, action == Didgate::Action::"POST", resource)
when {{ resource.path like "/orders*" && context.auth_method == "mtls"
        && principal.claims has EmployeeCredential.department
        && principal.claims.EmployeeCredential.department == "billing" }};
"#
    )
}

/// A gateway with an HTTPS listener asking for DID-bound client
/// certificates; the roots that trust its own certificate.
async fn start(extra: &str, policies: &str) -> (Harness, u16, rustls::RootCertStore) {
    let certs = tempdir("mtls-server");
    let (cert, key) = (certs.join("c.pem"), certs.join("k.pem"));
    didgate::server::tls::write_self_signed(&cert, &key, &["localhost"]).unwrap();
    let server = format!(
        "listen_tls = \"127.0.0.1:0\"\n[server.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_auth = \"did\"\n",
        cert.display(),
        key.display()
    );
    let h = Harness::start_full(None, &server, "", extra, policies).await;
    let port = h.gw().https_addr.unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    (h, port, roots)
}

/// One HTTP/1.1 connection over TLS, presenting `cert` if given.
async fn connect(
    port: u16,
    roots: &rustls::RootCertStore,
    cert: Option<&ClientCertificate>,
) -> SendRequest<Full<Bytes>> {
    didgate::server::tls::install_crypto_provider();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots.clone());
    let cfg = match cert {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(
                vec![rustls::pki_types::CertificateDer::from(
                    c.cert_der().to_vec(),
                )],
                rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_der().to_vec().into()),
            )
            .unwrap(),
    };
    connect_with(port, cfg).await
}

/// One HTTP/1.1 connection over TLS with the client config `cfg`.
async fn connect_with(port: u16, cfg: rustls::ClientConfig) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Send one request on `conn`.
async fn send_on(
    conn: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    conn.ready().await.unwrap();
    let resp = conn.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_its_did_allowed_and_denied_by_policy() {
    let svc = Service::new(KeyType::Ed25519);
    let (h, port, roots) = start("", &policies(&svc.did)).await;
    let mut conn = connect(port, &roots, Some(&svc.cert())).await;

    let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
    r.assert_ok();
    let body = r.json();
    let assertion = body["headers"]["x-didgate-assertion"].as_str().unwrap();
    let parsed = credentials::jws::parse(assertion).unwrap();
    assert_eq!(parsed.payload["sub"], svc.did.as_str());
    assert_eq!(parsed.payload["auth_method"], "mtls");

    // The same DID, where no policy lets it.
    let r = send_on(&mut conn, Method::GET, "/eng/x", &[], b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "policy_denied")
    );

    // Another DID's certificate (P-256) is not the one the policy names.
    let other = Service::new(KeyType::P256);
    let mut other_conn = connect(port, &roots, Some(&other.cert())).await;
    let r = send_on(&mut other_conn, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "policy_denied")
    );

    // No certificate and no credential: as before, credential_missing.
    let mut bare = connect(port, &roots, None).await;
    let r = send_on(&mut bare, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "credential_missing")
    );

    // Every decision is in the log, under the certificate's DID.
    let rows = h
        .decisions_with(&["allowed", "policy_denied", "credential_missing"])
        .await;
    let mine = |reason: &str| {
        rows.iter()
            .any(|d| d.reason == reason && d.subject.as_deref() == Some(svc.did.as_str()))
    };
    assert!(mine("allowed") && mine("policy_denied"), "{rows:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_presented_once_are_the_certificates_claims_on_the_connection() {
    let billing = Service::new(KeyType::Ed25519);
    let (h, port, roots) = start("", &policies("did:key:nobody")).await;
    let mut conn = connect(port, &roots, Some(&billing.cert())).await;
    // Its DID alone may not POST.
    let r = send_on(&mut conn, Method::POST, "/orders", &[], b"{}").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "policy_denied")
    );
    // With its credentials presented once, it may; and then without them.
    let vp = h.service_presentation(&billing, "billing");
    let r = send_on(
        &mut conn,
        Method::POST,
        "/orders",
        &[("x-didgate-presentation", &vp)],
        b"{}",
    )
    .await;
    r.assert_ok();
    let r = send_on(&mut conn, Method::POST, "/orders", &[], b"{}").await;
    r.assert_ok();
    // A presentation by another DID is refused.
    let other = Service::new(KeyType::Ed25519);
    let vp = h.service_presentation(&other, "billing");
    let r = send_on(
        &mut conn,
        Method::POST,
        "/orders",
        &[("x-didgate-presentation", &vp)],
        b"{}",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "presentation_not_signer")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_that_are_no_identity_are_refused_each_with_its_reason() {
    let svc = Service::new(KeyType::Ed25519);
    let (h, port, roots) = start("", &policies(&svc.did)).await;
    let probe = |cert: ClientCertificate| {
        let roots = roots.clone();
        async move {
            let mut conn = connect(port, &roots, Some(&cert)).await;
            let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
            (r.status, r.code())
        }
    };
    let refused = |code: &str| (StatusCode::UNAUTHORIZED, code.to_owned());

    // The key is not the one the named DID lists: a certificate naming the
    // service's DID, made with another key.
    let impostor = Service::new(KeyType::Ed25519);
    let cert = impostor
        .signer_for(&svc.keyid)
        .client_certificate(Duration::from_secs(3600))
        .unwrap();
    assert_eq!(
        probe(cert).await,
        refused("client_certificate_key_not_in_did")
    );

    // A DID URL with a fragment names the one key compared.
    let cert = svc
        .signer_for(&format!("{}#not-a-key", svc.did))
        .client_certificate(Duration::from_secs(3600))
        .unwrap();
    assert_eq!(
        probe(cert).await,
        refused("client_certificate_key_not_in_did")
    );

    // Expired, and not yet valid (the signer's clock set apart).
    let past = svc
        .signer_for(&svc.keyid)
        .with_clock(|| now() - 7200)
        .client_certificate(Duration::from_secs(3600))
        .unwrap();
    assert_eq!(probe(past).await, refused("client_certificate_expired"));
    let future = svc
        .signer_for(&svc.keyid)
        .with_clock(|| now() + 7200)
        .client_certificate(Duration::from_secs(3600))
        .unwrap();
    assert_eq!(
        probe(future).await,
        refused("client_certificate_not_yet_valid")
    );

    // No DID in the certificate: an ordinary certificate for a DNS name is
    // no didgate identity and is ignored, as if none was sent (a browser's
    // corporate certificate still lets its user reach the login page).
    let kp = rcgen::KeyPair::generate().unwrap();
    let plain = rcgen::CertificateParams::new(vec!["svc.example".to_owned()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let mut conn = connect_raw(port, &roots, plain.der().to_vec(), kp.serialize_der()).await;
    let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!((r.status, r.code()), refused("credential_missing"));

    // Two DIDs: which one the key is for is ambiguous.
    let two = {
        let kp = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![
            rcgen::SanType::URI(svc.did.as_str().try_into().unwrap()),
            rcgen::SanType::URI(impostor.did.as_str().try_into().unwrap()),
        ];
        let cert = params.self_signed(&kp).unwrap();
        (cert.der().to_vec(), kp.serialize_der())
    };
    let mut conn = connect_raw(port, &roots, two.0, two.1).await;
    let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!(
        (r.status, r.code()),
        refused("client_certificate_ambiguous")
    );

    // A DID that does not resolve.
    let cert = svc
        .signer_for("did:key:z6MkNotAKeyAtAll#x")
        .client_certificate(Duration::from_secs(3600))
        .unwrap();
    let (status, code) = probe(cert).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{code}");
    assert_ne!(code, "");

    // Each refusal is in the decision log.
    let rows = h
        .decisions_with(&[
            "client_certificate_key_not_in_did",
            "client_certificate_expired",
            "client_certificate_not_yet_valid",
            "client_certificate_ambiguous",
        ])
        .await;
    let n = rows
        .iter()
        .filter(|d| d.reason == "client_certificate_key_not_in_did")
        .count();
    assert_eq!(n, 2, "{rows:?}");
    h.stop().await;
}

/// [`connect`] with any certificate and PKCS#8 key.
async fn connect_raw(
    port: u16,
    roots: &rustls::RootCertStore,
    cert: Vec<u8>,
    key: Vec<u8>,
) -> SendRequest<Full<Bytes>> {
    didgate::server::tls::install_crypto_provider();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(
            vec![rustls::pki_types::CertificateDer::from(cert)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
    connect_with(port, cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_chain_ends_the_identity_on_an_open_connection() {
    // A did:ethr on the embedded chain (its owner a secp256k1 key) adds an
    // Ed25519 key for authentication (sigAuth), which the service's
    // certificate carries; the owner then revokes it.
    let owner = SigningKey::generate(KeyType::Secp256k1);
    let jwk = serde_json::to_string(&owner.public_key().to_jwk()).unwrap();
    let address = did_registry::ethr::address_of(&k256::PublicKey::from_jwk_str(&jwk).unwrap());
    let did = format!("did:ethr:dev:{}", address.to_checksum(None));
    let policy = format!(
        r#"
@id("svc-reads-mtls")
permit (principal == Didgate::Holder::"{did}", action == Didgate::Action::"GET", resource)
when {{ resource.path like "/svc/*" && context.auth_method == "mtls" }};
"#
    );
    let (h, port, roots) = start(
        "[chains.dev]\nembedded = true\npoll_interval_ms = 2000\n",
        &policy,
    )
    .await;
    let owner_path = h.dir.join("owner.jwk");
    didgate::request::assertion::write_key_file(
        &owner_path,
        &owner,
        Some(&format!("{did}#controller")),
    )
    .unwrap();
    let ed = SigningKey::generate(KeyType::Ed25519);
    let ed_path = h.dir.join("svc.jwk");
    didgate::request::assertion::write_key_file(&ed_path, &ed, None).unwrap();
    let cfg = h.dir.join("didgate.toml");
    let did_cli = |verb: &'static str| {
        let args = [
            "did".to_owned(),
            verb.to_owned(),
            "-c".to_owned(),
            cfg.to_str().unwrap().to_owned(),
            "--key".to_owned(),
            owner_path.to_str().unwrap().to_owned(),
            "--public-key".to_owned(),
            ed_path.to_str().unwrap().to_owned(),
            "--purpose".to_owned(),
            "sig-auth".to_owned(),
        ];
        async move {
            let out = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                didgate_cli(&args)
            })
            .await
            .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };

    // The certificate names the DID without a fragment: any of its
    // authentication keys may be the certificate's.
    let cert = Signer::new(
        SigningKey::from_jwk(&ed.to_jwk()).unwrap(),
        format!("{did}#controller"),
    )
    .unwrap()
    .client_certificate_naming(&did, Duration::from_secs(3600))
    .unwrap();
    let mut conn = connect(port, &roots, Some(&cert)).await;
    let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "client_certificate_key_not_in_did"
        )
    );

    did_cli("add-key").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never accepted: {}",
            r.code()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Revoked: the next request on the same, still open, connection is
    // refused (the command returns once the gateway applied the block).
    did_cli("revoke-key").await;
    let r = send_on(&mut conn, Method::GET, "/svc/status", &[], b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "client_certificate_key_not_in_did"
        )
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_certificates_and_calls_over_mutual_tls() {
    let svc = Service::new(KeyType::P256);
    let (h, port, _) = start("", &policies(&svc.did)).await;
    let key = h.dir.join("svc.jwk");
    didgate::request::assertion::write_key_file(&key, &svc.key, Some(&svc.keyid)).unwrap();
    let (crt, pem_key) = (h.dir.join("svc.crt"), h.dir.join("svc.key"));
    let url = format!("https://localhost:{port}/svc/status");
    let (key_s, crt_s, pem_s) = (
        key.to_str().unwrap().to_owned(),
        crt.to_str().unwrap().to_owned(),
        pem_key.to_str().unwrap().to_owned(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let made = run_ok(&[
            "wallet",
            "cert",
            "--key",
            &key_s,
            "--out",
            &crt_s,
            "--key-out",
            &pem_s,
            "--days",
            "2",
        ]);
        let ok = run_ok(&["curl", "--mtls", "-k", "-f", "--key", &key_s, &url]);
        let unsigned = didgate_cli(&[
            "curl",
            "--mtls",
            "-k",
            "-f",
            "--key",
            &key_s,
            &url.replace("/svc/", "/eng/"),
        ]);
        (made, ok, unsigned)
    })
    .await
    .unwrap();
    assert!(out.0.contains(&svc.keyid), "{}", out.0);
    assert!(std::fs::read_to_string(&crt)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&pem_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let body: serde_json::Value = serde_json::from_str(&out.1).unwrap();
    assert_eq!(body["path"], "/svc/status");
    assert_eq!(
        out.2.status.code(),
        Some(22),
        "{}",
        String::from_utf8_lossy(&out.2.stdout)
    );
    h.stop().await;
}
