//! A browser session's cost on the request path: `Sessions::authenticate` on
//! a warm cache — find the cookie, decode its secret, hash it (SHA-256), look
//! the session up, check its deadlines and re-check the login's proof
//! (holder key, credential time and status, issuer key). The session was
//! opened through the real login verification (`Verifier::verify_login`)
//! with a did:key holder and issuer, as the load harness's are.
//!
//!   cargo bench -p didgate --bench session
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use credentials::{
    issue_credential, present, CredentialRequest, Expected, Format, KeyType, PresentationRequest,
    SigningKey, TrustedIssuers, Verifier, VerifierConfig,
};
use criterion::{criterion_group, criterion_main, Criterion};
use did_registry::{DidResolver, MethodResolver};
use didgate::request::principal::Principal;
use didgate::request::session::{NewSession, SessionSettings, Sessions};
use didgate::store::Store;
use http::{header, HeaderMap, HeaderValue};

const CLIENT_ID: &str = "redirect_uri:https://gw.bench/.didgate/login/response";

fn party() -> (SigningKey, String, String) {
    let key = SigningKey::generate(KeyType::Ed25519);
    let did = did_registry::did_key(&key.public_key());
    let kid = did_registry::default_key_id(&did).unwrap();
    (key, did, kid)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("didgate-bench-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let store = rt.block_on(Store::connect(&url)).unwrap();

    let (issuer_key, issuer, issuer_kid) = party();
    let (holder_key, holder, holder_kid) = party();
    let mut trusted = TrustedIssuers::new();
    trusted.trust("EmployeeCredential", &issuer);
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(None));
    let verifier =
        Verifier::new(VerifierConfig::new(vec![], trusted), resolver).with_credential_cache(10_000);
    let t = now();
    let claims = serde_json::json!({"role": "engineer", "department": "eng"});
    let vc = issue_credential(
        &issuer_key,
        &issuer_kid,
        &CredentialRequest {
            issuer: issuer.clone(),
            subject: holder.clone(),
            types: vec!["EmployeeCredential".into()],
            claims: claims.as_object().cloned().unwrap(),
            valid_for_secs: Some(86_400),
            id: None,
            format: Format::JwtVc11,
        },
        t,
    )
    .unwrap();
    let vp = present(
        &holder_key,
        &holder_kid,
        &PresentationRequest {
            holder: holder.clone(),
            audience: CLIENT_ID.into(),
            nonce: Some("bench-nonce".into()),
            valid_for_secs: 120,
            credentials: vec![vc],
            format: Format::JwtVc11,
        },
        t,
    )
    .unwrap();
    let (verified, binding) = rt
        .block_on(verifier.verify_login(
            &vp,
            t,
            Expected {
                audience: Some(CLIENT_ID),
                nonce: Some("bench-nonce"),
            },
        ))
        .unwrap();
    let sessions = Sessions::new(
        SessionSettings {
            cookie_name: "didgate_session".into(),
            secure: false,
            lifetime_ms: 8 * 3_600_000,
            idle_ms: 1_800_000,
            cache_capacity: 100_000,
            sync_interval: Duration::from_secs(1),
        },
        store,
        Arc::from("bench"),
    );
    let principal = Principal::from_credentials(verified.holder, verified.credentials);
    let now_ms = t * 1000;
    let (_, secret) = rt
        .block_on(sessions.create(NewSession { principal, binding }, now_ms))
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("theme=dark; didgate_session={secret}; lang=en")).unwrap(),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    // Warm: the first lookup is the cache hit every later one is.
    let first = rt
        .block_on(sessions.authenticate(&verifier, &headers, now_ms))
        .unwrap();
    assert!(first.is_some());

    c.bench_function("session_lookup/warm", |b| {
        b.to_async(&rt).iter(|| async {
            let s = sessions
                .authenticate(&verifier, black_box(&headers), now_ms)
                .await
                .unwrap();
            black_box(s)
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
