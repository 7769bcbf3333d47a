//! A signed request's cost (RFC 9421), both sides:
//! - `signed/sign`: `didgate_client::Signer::sign_request` (the signature
//!   base, an Ed25519 signature, the header fields) for a GET;
//! - `signed/verify`: the gateway's `SignedRequests::authenticate` on a warm
//!   cache: read and bound the fields, check components and times, build
//!   the base, resolve the did:key, verify the Ed25519 signature, remember
//!   the nonce, and recheck the credentials the service presented once.
//!   Each iteration verifies a request signed afresh (its own nonce).
//!
//!   cargo bench -p didgate --bench signed
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use credentials::{
    issue_credential, present, CredentialRequest, Format, KeyType, PresentationRequest, SigningKey,
    TrustedIssuers, Verifier, VerifierConfig,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use did_registry::{DidResolver, MethodResolver};
use didgate::request::signed::{Received, SignatureSettings, SignedRequests};
use didgate_client::Signer;
use http::uri::Scheme;

const URL: &str = "http://gw.bench/eng/docs";

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

fn signed_get(signer: &Signer, extra: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::get(URL);
    if let Some((k, v)) = extra {
        b = b.header(k, v);
    }
    let mut req = b.body(Vec::new()).unwrap();
    signer.sign_request(&mut req).unwrap();
    // As the gateway receives it: origin form and a Host field.
    *req.uri_mut() = "/eng/docs".parse().unwrap();
    req.headers_mut()
        .insert("host", http::HeaderValue::from_static("gw.bench"));
    req
}

fn received(req: &http::Request<Vec<u8>>) -> Received<'_> {
    Received {
        method: req.method(),
        uri: req.uri(),
        version: req.version(),
        headers: req.headers(),
        scheme: Scheme::HTTP,
        has_body: false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (issuer_key, issuer, issuer_kid) = party();
    let (svc_key, svc, svc_kid) = party();
    let mut trusted = TrustedIssuers::new();
    trusted.trust("EmployeeCredential", &issuer);
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(None));
    let verifier = Verifier::new(
        VerifierConfig::new(vec!["http://gw.bench".into()], trusted),
        resolver,
    )
    .with_credential_cache(10_000);
    let t = now();
    let vc = issue_credential(
        &issuer_key,
        &issuer_kid,
        &CredentialRequest {
            issuer: issuer.clone(),
            subject: svc.clone(),
            types: vec!["EmployeeCredential".into()],
            claims: serde_json::json!({"role": "service", "department": "eng"})
                .as_object()
                .cloned()
                .unwrap(),
            valid_for_secs: Some(86_400),
            id: None,
            format: Format::JwtVc11,
        },
        t,
    )
    .unwrap();
    let vp = present(
        &svc_key,
        &svc_kid,
        &PresentationRequest {
            holder: svc.clone(),
            audience: "http://gw.bench".into(),
            nonce: None,
            valid_for_secs: 120,
            credentials: vec![vc],
            format: Format::JwtVc11,
        },
        t,
    )
    .unwrap();
    let signed = SignedRequests::new(SignatureSettings {
        max_validity_secs: 300,
        clock_skew_secs: 60,
        max_body_bytes: 1 << 20,
        nonce_capacity: 10_000_000,
        presented_capacity: 1_000,
    });
    let signer = Signer::new(svc_key, svc_kid).unwrap();
    // The service presents its credentials once.
    let first = signed_get(&signer, Some(("x-didgate-presentation", &vp)));
    let v = rt
        .block_on(signed.authenticate(&verifier, &received(&first), now()))
        .unwrap();
    assert_eq!(v.principal.credential_types, ["EmployeeCredential"]);

    let mut g = c.benchmark_group("signed");
    g.bench_function("sign", |b| {
        b.iter_batched(
            || http::Request::get(URL).body(Vec::<u8>::new()).unwrap(),
            |mut req| {
                signer.sign_request(&mut req).unwrap();
                black_box(req)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("verify", |b| {
        b.iter_batched(
            || signed_get(&signer, None),
            |req| {
                let v = rt
                    .block_on(signed.authenticate(&verifier, &received(&req), now()))
                    .unwrap();
                black_box(v.principal_key)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
