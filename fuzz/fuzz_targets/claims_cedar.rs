//! Arbitrary credential claims into Cedar (`policy::PolicyEngine::decide`
//! with the shipped schema and demo policies): claims are converted by the
//! schema's declared types (a claim that does not fit is dropped), then the
//! request is evaluated.
//!
//! Input, one field per line (so that seeds and the dictionary are text):
//!
//! ```text
//! GET                          action (the HTTP method)
//! demo                         app
//! /eng/docs                    path
//! gw.example                   host
//! did:key:z6Mk…                the holder's DID
//! vp_jwt                       auth method
//! 10.0.0.1                     client IP (127.0.0.1 if it does not parse)
//! 1700000000 0.42 0            now, risk score, cold start
//! new_network,new_device       risk factors
//! {"EmployeeCredential": {"issuer": "did:…", "claims": {"role": "admin"}}}
//! ```
//!
//! The last part (the rest of the input) is JSON: per credential type,
//! `{"issuer", "claims"}` or the claims object itself; the credential
//! types and issuers are derived from it, as the gateway derives them.
//!
//! Checks, beyond not panicking: a request decided with a `principal_key`
//! (the session path: entities and context cached) decides exactly as
//! without one, twice over (cold and warm cache); the reason code agrees
//! with the effect.
#![no_main]

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use policy::{
    ClaimsByType, Decision, DecisionRequest, Effect, PolicyEngine, RiskContext, TypedClaims,
};
use serde_json::Value;

const SCHEMA: &str = include_str!("../../deploy/policies/didgate.cedarschema");
const POLICIES: &str = include_str!("../../deploy/policies/demo.cedar");
const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        PolicyEngine::from_strings(SCHEMA, &[("demo.cedar".to_owned(), POLICIES.to_owned())])
            .unwrap_or_else(|e| panic!("the shipped schema and policies load: {e}"))
    })
}

fn claims_of(json: &str) -> ClaimsByType {
    let mut out = ClaimsByType::new();
    let Ok(Value::Object(types)) = serde_json::from_str::<Value>(json) else {
        return out;
    };
    for (ty, v) in types {
        let Value::Object(mut o) = v else { continue };
        let (issuer, claims) = match o.remove("claims") {
            Some(Value::Object(c)) => (
                o.get("issuer")
                    .and_then(Value::as_str)
                    .unwrap_or("did:key:zIssuer")
                    .to_owned(),
                c,
            ),
            Some(other) => {
                o.insert("claims".into(), other);
                ("did:key:zIssuer".to_owned(), o)
            }
            None => ("did:key:zIssuer".to_owned(), o),
        };
        out.insert(
            ty,
            TypedClaims {
                issuer,
                claims: Arc::new(claims),
            },
        );
    }
    out
}

fn same(a: &Decision, b: &Decision, what: &str) {
    assert_eq!(a.effect, b.effect, "{what}: {a:?} vs {b:?}");
    assert_eq!(a.reason.as_str(), b.reason.as_str(), "{what}");
    let set = |d: &Decision| {
        d.determining_policies
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(set(a), set(b), "{what}");
    assert_eq!(a.errors.len(), b.errors.len(), "{what}: {a:?} vs {b:?}");
}

fuzz_target!(init: { engine(); }, |data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(10, '\n');
    let mut next = || lines.next().unwrap_or("");
    let (action, app, path, host, did, auth_method) = (next(), next(), next(), next(), next(), next());
    let client_ip: IpAddr = next().trim().parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut nums = next().split_whitespace();
    let now_unix: i64 = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let score: f64 = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
    let cold_start = nums.next() == Some("1");
    let factors_line = next();
    let factors: Vec<&str> = factors_line.split(',').filter(|f| !f.is_empty()).collect();
    let claims_json = next();

    let claims = claims_of(claims_json);
    let credential_types: Vec<String> = claims.keys().cloned().collect();
    let mut issuers: Vec<String> = claims.values().map(|c| c.issuer.clone()).collect();
    issuers.sort();
    issuers.dedup();

    // A session's key names its principal: same DID, issuers, types, claims.
    let mut key = [0u8; 16];
    for (i, half) in key.chunks_mut(8).enumerate() {
        let mut h = DefaultHasher::new();
        (i, did, &issuers, claims_json).hash(&mut h);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    let mut request = DecisionRequest {
        principal_key: None,
        principal_did: did,
        issuers: &issuers,
        credential_types: &credential_types,
        claims: &claims,
        action,
        app,
        host,
        path,
        auth_method,
        client_ip,
        now_unix,
        risk: RiskContext {
            score,
            factors: &factors,
            cold_start,
        },
    };
    let engine = engine();
    let plain = engine.decide(&request);
    match plain.effect {
        Effect::Allow => {
            assert_eq!(plain.reason.as_str(), "allowed");
            assert!(!plain.determining_policies.is_empty());
        }
        Effect::StepUp => assert_eq!(plain.reason.as_str(), "step_up_required"),
        Effect::Deny => assert!(
            ["policy_denied", "method_not_allowed", "policy_error"].contains(&plain.reason.as_str()),
            "{plain:?}"
        ),
    }
    if !METHODS.contains(&action) {
        assert_eq!(plain.reason.as_str(), "method_not_allowed");
    }
    request.principal_key = Some(key);
    let cold = engine.decide(&request);
    same(&plain, &cold, "keyed, cold cache");
    let warm = engine.decide(&request);
    same(&plain, &warm, "keyed, warm cache");
});
