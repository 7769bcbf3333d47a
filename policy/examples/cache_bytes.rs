//! How many bytes the engine's per-principal caches really hold, against
//! what they count (`PolicyEngine::cache_usage`), to check that their byte
//! bounds over-estimate. Run under heaptrack, once with no principals and
//! once with many; the difference in memory left at exit is what the caches
//! hold:
//!
//! ```sh
//! cargo build --release -p policy --example cache_bytes
//! heaptrack -o /tmp/cb0 target/release/examples/cache_bytes 0
//! heaptrack -o /tmp/cbN target/release/examples/cache_bytes 100000
//! heaptrack_print -f /tmp/cbN.zst | grep 'memory leaked'   # minus /tmp/cb0's
//! ```
//!
//! The process exits without dropping the engine, so everything it holds
//! is still allocated ("leaked") at exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use policy::{ClaimsByType, DecisionRequest, PolicyEngine, RiskContext, TypedClaims};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let engine = PolicyEngine::load(
        &deploy.join("didgate.cedarschema"),
        std::slice::from_ref(&deploy),
    )
    .unwrap();
    // The load harness's credentials: three short claims.
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"role": "engineer", "department": "eng", "name": "bench user"}"#)
            .unwrap();
    let typed: ClaimsByType = [(
        "EmployeeCredential".to_owned(),
        TypedClaims {
            issuer: "did:key:z6MkIssuerIssuerIssuerIssuerIssuerIssuerIssuer".into(),
            claims: Arc::new(claims),
        },
    )]
    .into();
    let types = ["EmployeeCredential".to_owned()];
    let issuers = ["did:key:z6MkIssuerIssuerIssuerIssuerIssuerIssuerIssuer".to_owned()];
    let factors = ["new_network"];
    for i in 0..n {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&i.to_le_bytes());
        let did = format!("did:key:z6MkHolder{i:040}");
        engine.decide(&DecisionRequest {
            principal_key: Some(key),
            principal_did: &did,
            issuers: &issuers,
            credential_types: &types,
            claims: &typed,
            action: "GET",
            app: "demo",
            host: "localhost",
            path: "/eng/docs",
            auth_method: "vp_jwt",
            client_ip: IpAddr::from([10, 1, 2, 3]),
            now_unix: 1_800_000_000 + i64::from(i / 1000),
            risk: RiskContext {
                score: 0.2,
                factors: &factors,
                cold_start: false,
            },
        });
    }
    let u = engine.cache_usage();
    let total = u.entity_stores.0 + u.contexts.0 + u.decisions.0;
    println!(
        "{n} principals; counted bytes: entity stores {} of {}, contexts {} of {}, decisions {} of {}; total {total}",
        u.entity_stores.0, u.entity_stores.1, u.contexts.0, u.contexts.1, u.decisions.0, u.decisions.1
    );
    std::process::exit(0);
}
