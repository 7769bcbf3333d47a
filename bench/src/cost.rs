//! `didgate-bench cost`: the request path's parts run a fixed number of
//! times, for instruction counts under `valgrind --tool=callgrind` (exact and
//! repeatable, unlike wall time on a shared machine). Used to measure what a
//! build setting costs, e.g. `overflow-checks` in the release profile:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/didgate-bench cost --part policy --iterations 1000
//! ```
//!
//! Subtract a run with `--iterations 0` (set-up) and divide.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use credentials::{
    issue_credential, present, CredentialRequest, Format, KeyType, PresentationRequest, SigningKey,
    TrustedIssuers, Verifier, VerifierConfig,
};
use did_registry::{DidResolver, MethodResolver};
use policy::{ClaimsByType, DecisionRequest, PolicyEngine, RiskContext, TypedClaims};
use risk::{Engine, Event, Kind, RiskConfig};
use serde_json::json;

/// Which part of the request path to run.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Part {
    /// Path normalisation of a path that needs it (`didgate::request::normalize`).
    Normalize,
    /// One Cedar decision over the demo policies (claims, context, entities).
    Policy,
    /// The risk engine's assess + observe for a warm identity.
    Risk,
    /// A VP-JWT verified with its credential in the verified-credential cache
    /// (one Ed25519 signature).
    Verify,
}

pub fn run(part: Part, iterations: u64) -> Result<()> {
    match part {
        Part::Normalize => normalize(iterations),
        Part::Policy => decide(iterations),
        Part::Risk => score(iterations),
        Part::Verify => verify(iterations),
    }
}

fn normalize(n: u64) -> Result<()> {
    let paths = [
        "/eng/docs/../reports/%32026/q3.pdf",
        "/public/./app.js",
        "/api/v1//builds/1042",
        "/caf%c3%a9/menu",
    ];
    let pass = didgate::request::normalize::Pass::FIRST;
    for i in 0..n {
        let p = paths[(i % 4) as usize];
        black_box(didgate::request::normalize::normalize(black_box(p), pass).ok());
    }
    Ok(())
}

fn decide(n: u64) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let engine = PolicyEngine::load(
        &root.join("didgate.cedarschema"),
        std::slice::from_ref(&root),
    )
    .context("demo policies")?;
    let claims = ClaimsByType::from([(
        "EmployeeCredential".to_owned(),
        TypedClaims {
            issuer: "did:key:zIssuer".into(),
            claims: Arc::new(
                json!({"role": "engineer", "department": "eng", "level": 3})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        },
    )]);
    let types = ["EmployeeCredential".to_owned()];
    let issuers = ["did:key:zIssuer".to_owned()];
    for i in 0..n {
        let d = engine.decide(&DecisionRequest {
            principal_key: None,
            principal_did: "did:key:zHolder",
            issuers: &issuers,
            credential_types: &types,
            claims: &claims,
            action: "GET",
            app: "demo",
            host: "localhost",
            path: "/eng/docs",
            auth_method: "vp_jwt",
            client_ip: IpAddr::from([10, 0, 0, 1]),
            now_unix: 1_800_000_000 + i as i64,
            risk: RiskContext {
                score: 0.1,
                factors: &[],
                cold_start: false,
            },
        });
        black_box(d);
    }
    Ok(())
}

fn score(n: u64) -> Result<()> {
    let engine = Engine::new(RiskConfig::default());
    let office = IpAddr::from([10, 20, 30, 40]);
    let ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36";
    let paths = ["/", "/eng/docs", "/eng/wiki/runbooks", "/api/v1/builds"];
    let event = |ts: i64, path| Event {
        user_agent: Some(ua),
        method: Some("GET"),
        path: Some(path),
        ..Event::new(ts, "did:key:zHolder", Kind::Request, office)
    };
    let mut ts = 1_800_000_000_000_i64;
    for i in 0..500 {
        engine.score(&event(ts, paths[i % 4]));
        ts += 20 * 60_000;
    }
    for i in 0..n {
        ts += 60_000;
        let ev = event(ts, paths[(i % 4) as usize]);
        let keys = engine.event_keys(&ev);
        let a = engine.assess_keyed(&ev, &keys);
        engine.observe_keyed(&ev, &keys, &a);
        black_box(a);
    }
    Ok(())
}

fn verify(n: u64) -> Result<()> {
    let party = || -> Result<(SigningKey, String, String)> {
        let key = SigningKey::generate(KeyType::Ed25519);
        let did = did_registry::did_key(&key.public_key());
        let kid = did_registry::default_key_id(&did).context("kid")?;
        Ok((key, did, kid))
    };
    let (issuer_key, issuer, issuer_kid) = party()?;
    let (holder_key, holder, holder_kid) = party()?;
    let now = 1_800_000_000;
    let vc = issue_credential(
        &issuer_key,
        &issuer_kid,
        &CredentialRequest {
            issuer: issuer.clone(),
            subject: holder.clone(),
            types: vec!["EmployeeCredential".into()],
            claims: json!({"role": "engineer"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        now,
    )?;
    let vp = present(
        &holder_key,
        &holder_kid,
        &PresentationRequest {
            holder,
            audience: "https://gw.bench".into(),
            nonce: None,
            valid_for_secs: 120,
            credentials: vec![vc],
            format: Format::JwtVc11,
        },
        now,
    )?;
    let mut trusted = TrustedIssuers::new();
    trusted.trust("EmployeeCredential", &issuer);
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(None));
    let verifier = Verifier::new(
        VerifierConfig::new(vec!["https://gw.bench".into()], trusted),
        resolver,
    )
    .with_credential_cache(16);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        // The credential is verified once and cached before counting starts.
        verifier.verify_presentation(&vp, now).await?;
        for _ in 0..n {
            black_box(verifier.verify_presentation(black_box(&vp), now).await?);
        }
        Ok::<_, credentials::CredentialError>(())
    })?;
    Ok(())
}
