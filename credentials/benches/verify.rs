//! Presentation verification cost, per key type: the whole
//! `Verifier::verify_presentation` of a VP-JWT holding one VC-JWT (holder
//! and issuer both did:key), next to the one JWS signature check it is made
//! of (twice: the VP's and the VC's), so the share that is crypto shows.
//!
//!   cargo bench -p credentials --bench verify
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use credentials::{
    issue_credential, jws, present, CredentialRequest, Format, KeyType, PresentationRequest,
    SigningKey, TrustedIssuers, Verifier, VerifierConfig,
};
use criterion::{criterion_group, criterion_main, Criterion};
use did_registry::{default_key_id, did_key, DidResolver, MethodResolver, Purpose};
use serde_json::json;

const AUD: &str = "https://gw.bench";
const NOW: i64 = 1_800_000_000;

const KEY_TYPES: [(&str, KeyType); 3] = [
    ("ed25519", KeyType::Ed25519),
    ("p256", KeyType::P256),
    ("secp256k1", KeyType::Secp256k1),
];

struct Id {
    key: SigningKey,
    did: String,
    kid: String,
}

fn id(kt: KeyType) -> Id {
    let key = SigningKey::generate(kt);
    let did = did_key(&key.public_key());
    let kid = default_key_id(&did).unwrap();
    Id { key, did, kid }
}

/// A VP-JWT (VCDM 1.1, as did-jwt-vc makes them) with one employee VC-JWT.
fn presentation(issuer: &Id, holder: &Id) -> String {
    let vc = issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: holder.did.clone(),
            types: vec!["EmployeeCredential".into()],
            claims: json!({
                "name": "Alice Example",
                "department": "eng",
                "role": "engineer",
                "employee_id": "E-1042",
                "groups": ["eng", "oncall"],
            })
            .as_object()
            .unwrap()
            .clone(),
            valid_for_secs: Some(30 * 86_400),
            id: Some("urn:uuid:7c1e4a52-2a6b-4d0e-9d7e-3f1b2c4d5e6f".into()),
            format: Format::JwtVc11,
        },
        NOW - 3600,
    )
    .unwrap();
    present(
        &holder.key,
        &holder.kid,
        &PresentationRequest {
            holder: holder.did.clone(),
            audience: AUD.into(),
            nonce: None,
            valid_for_secs: 300,
            credentials: vec![vc],
            format: Format::JwtVc11,
        },
        NOW,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // The gateway's resolver (server.rs) with no chain configured: a did:key
    // document is decoded on first use and then comes from its cache.
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(None));

    let cases: Vec<_> = KEY_TYPES
        .iter()
        .map(|&(name, kt)| {
            let issuer = id(kt);
            let holder = id(kt);
            let mut trusted = TrustedIssuers::new();
            trusted.trust("EmployeeCredential", &issuer.did);
            let verifier = Verifier::new(
                VerifierConfig::new(vec![AUD.into()], trusted),
                resolver.clone(),
            );
            let vp = presentation(&issuer, &holder);
            let verified = rt.block_on(verifier.verify_presentation(&vp, NOW)).unwrap();
            assert_eq!(verified.holder, holder.did);
            assert_eq!(verified.credentials.len(), 1);
            (name, verifier, vp)
        })
        .collect();

    let mut g = c.benchmark_group("vp_jwt_verify");
    g.measurement_time(Duration::from_secs(4));
    for (name, verifier, vp) in &cases {
        g.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| async {
                verifier
                    .verify_presentation(black_box(vp), NOW)
                    .await
                    .unwrap()
            })
        });
    }
    g.finish();

    // One signature check, as `Verifier::check_signature` makes it: the
    // VP's compact JWS against the holder's resolved verification method.
    let mut g = c.benchmark_group("jws_signature_verify");
    g.measurement_time(Duration::from_secs(4));
    for (name, _, vp) in &cases {
        let parsed = jws::parse(vp).unwrap();
        let holder = parsed.payload["iss"].as_str().unwrap().to_owned();
        let doc = rt.block_on(resolver.resolve(&holder)).unwrap();
        let vm = doc
            .keys_for(parsed.header.kid.as_deref(), Purpose::Authentication)
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
            .clone();
        let alg = parsed.header.alg.as_str();
        let message = parsed.signing_input.as_bytes();
        let signature = parsed.signature.as_slice();
        vm.verify_jose(alg, message, signature).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| {
                vm.verify_jose(black_box(alg), black_box(message), black_box(signature))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
