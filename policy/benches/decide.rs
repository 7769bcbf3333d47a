//! Cedar decision cost for one request, against a generated policy set of
//! 10 and of 1000 policies that validates against the shipped schema
//! (`deploy/policies/didgate.cedarschema`): per-app permits with conditions
//! on the holder's claims (department, role, service, groups), the path and
//! `context.risk.score`, per-app and global forbids (one of them `@step_up`).
//! The request is allowed by exactly one permit.
//!
//!   cargo bench -p policy --bench decide
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy::{DecisionRequest, Effect, PolicyEngine, RiskContext};
use serde_json::{json, Map, Value};

const DEPARTMENTS: [&str; 6] = ["eng", "sales", "finance", "hr", "legal", "ops"];

/// Forbids that apply to every app.
const GLOBAL_FORBIDS: &str = r#"
@id("risk-step-up")
@step_up("risk")
forbid (principal, action, resource)
when {
  context.risk.score.greaterThan(decimal("0.5")) && context.risk.score.lessThanOrEqual(decimal("0.8"))
};

@id("risk-deny")
forbid (principal, action, resource)
when { context.risk.score.greaterThan(decimal("0.8")) };

@id("admin-paths-admins-only")
forbid (principal, action, resource)
when { resource.path like "/admin/*" }
unless { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "admin" };
"#;

/// The `k`-th per-app policy: app `k / 4`, one of four kinds by `k % 4`.
fn app_policy(k: usize) -> String {
    let app = k / 4;
    let dept = DEPARTMENTS[app % DEPARTMENTS.len()];
    match k % 4 {
        0 => format!(
            r#"
@id("app{app}-{dept}-read")
permit (principal, action in Didgate::Action::"read", resource in Didgate::App::"app{app}")
when {{
  context.credential_types.contains("EmployeeCredential") &&
  principal.claims has EmployeeCredential.department && principal.claims.EmployeeCredential.department == "{dept}" &&
  resource.path like "/{dept}/*" &&
  context.risk.score.lessThan(decimal("0.7"))
}};
"#
        ),
        1 => format!(
            r#"
@id("app{app}-{dept}-admins-write")
permit (principal, action in Didgate::Action::"write", resource in Didgate::App::"app{app}")
when {{
  context.credential_types.contains("EmployeeCredential") &&
  principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "admin" &&
  principal.claims has EmployeeCredential.department && principal.claims.EmployeeCredential.department == "{dept}" &&
  context.risk.score.lessThan(decimal("0.3"))
}};
"#
        ),
        2 => format!(
            r#"
@id("app{app}-service-api")
permit (principal, action == Didgate::Action::"GET", resource in Didgate::App::"app{app}")
when {{
  context.credential_types.contains("ServiceCredential") &&
  principal.claims has ServiceCredential.service && principal.claims.ServiceCredential.service == "svc{app}" &&
  resource.path like "/api/v1/*" &&
  !context.risk.cold_start
}};
"#
        ),
        _ => format!(
            r#"
@id("app{app}-writes-from-office")
forbid (principal, action in Didgate::Action::"write", resource in Didgate::App::"app{app}")
unless {{ context.client_ip.isInRange(ip("10.0.0.0/8")) }};
"#
        ),
    }
}

/// `n` policies: the three global forbids, then per-app ones.
fn policy_set(n: usize) -> String {
    let mut src = GLOBAL_FORBIDS.to_owned();
    for k in 0..n - 3 {
        src.push_str(&app_policy(k));
    }
    src
}

fn engine(n: usize) -> PolicyEngine {
    let schema = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies/didgate.cedarschema"),
    )
    .unwrap();
    let e = PolicyEngine::from_strings(&schema, &[("bench.cedar".into(), policy_set(n))]).unwrap();
    assert_eq!(e.policy_count(), n);
    e
}

fn bench(c: &mut Criterion) {
    let claims: Map<String, Value> = json!({
        "name": "Alice Example",
        "department": "eng",
        "role": "engineer",
        "employee_id": "E-1042",
        "groups": ["eng", "oncall"],
        "level": 3,
    })
    .as_object()
    .unwrap()
    .clone();
    let issuers = ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK".to_owned()];
    let types = ["EmployeeCredential".to_owned()];
    let claims = policy::ClaimsByType::from([(
        "EmployeeCredential".to_owned(),
        policy::TypedClaims {
            issuer: issuers[0].clone(),
            claims: std::sync::Arc::new(claims),
        },
    )]);
    let factors = ["new_user_agent"];

    let mut g = c.benchmark_group("cedar_decide");
    g.measurement_time(Duration::from_secs(4));
    for (name, n) in [("10_policies", 10), ("1000_policies", 1000)] {
        let e = engine(n);
        // The last "eng" app of the set: app0 for 10 policies, app246 for 1000.
        let last_app = (n - 3 - 1) / 4;
        let app = format!(
            "app{}",
            (0..=last_app)
                .rev()
                .find(|a| a % DEPARTMENTS.len() == 0)
                .unwrap()
        );
        let req = DecisionRequest {
            principal_key: None,
            principal_did: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
            issuers: &issuers,
            credential_types: &types,
            claims: &claims,
            action: "GET",
            app: &app,
            host: "eng.example.com",
            path: "/eng/reports/2026/q3.pdf",
            auth_method: "vp_jwt",
            client_ip: IpAddr::from([10, 1, 2, 3]),
            now_unix: 1_800_000_000,
            risk: RiskContext {
                score: 0.12,
                factors: &factors,
                cold_start: false,
            },
        };
        let d = e.decide(&req);
        assert_eq!(d.effect, Effect::Allow, "{d:?}");
        assert_eq!(d.determining_policies, vec![format!("{app}-eng-read")]);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        g.bench_function(name, |b| b.iter(|| e.decide(black_box(&req))));
        // A session's requests: the principal's entities are built once.
        let session = DecisionRequest {
            principal_key: Some([7; 16]),
            ..req
        };
        assert_eq!(
            e.decide(&session).determining_policies,
            d.determining_policies
        );
        g.bench_function(format!("{name}_session"), |b| {
            b.iter(|| e.decide(black_box(&session)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
