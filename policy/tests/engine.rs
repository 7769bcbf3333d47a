//! The policy engine against the shipped schema and demo policies, and each
//! way a policy set must refuse to load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use policy::{ClaimsByType, DecisionRequest, Effect, PolicyEngine, RiskContext, TypedClaims};
use serde_json::{json, Map, Value};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies")
}

fn schema_src() -> String {
    std::fs::read_to_string(deploy().join("didgate.cedarschema")).unwrap()
}

fn engine(policies: &str) -> Result<PolicyEngine, policy::PolicyError> {
    PolicyEngine::from_strings(&schema_src(), &[("test.cedar".into(), policies.into())])
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// One credential with `claims` that counts for each of `types`.
fn typed(claims: &Map<String, Value>, types: &[String]) -> ClaimsByType {
    let claims = std::sync::Arc::new(claims.clone());
    types
        .iter()
        .map(|t| {
            let c = TypedClaims {
                issuer: "did:key:zIss".into(),
                claims: claims.clone(),
            };
            (t.clone(), c)
        })
        .collect()
}

fn ask(
    e: &PolicyEngine,
    claims: &Map<String, Value>,
    types: &[String],
    method: &str,
    path: &str,
    risk: f64,
) -> policy::Decision {
    e.decide(&DecisionRequest {
        principal_key: None,
        principal_did: "did:key:z6Mk",
        issuers: &["did:key:zIss".into()],
        credential_types: types,
        claims: &typed(claims, types),
        action: method,
        app: "demo",
        host: "localhost",
        path,
        auth_method: "vp_jwt",
        client_ip: IpAddr::from([10, 1, 2, 3]),
        now_unix: 1_800_000_000,
        risk: RiskContext {
            score: risk,
            factors: &[],
            cold_start: false,
        },
    })
}

fn demo() -> PolicyEngine {
    PolicyEngine::load(&deploy().join("didgate.cedarschema"), &[deploy()]).unwrap()
}

#[test]
fn shipped_demo_policies_load_and_their_tests_pass() {
    let e = demo();
    assert_eq!(e.policy_count(), 8);
    let report = policy::run_tests(&e, &deploy().join("demo-tests.toml")).unwrap();
    assert_eq!(report.failures, 0, "{report}");
    assert!(report.cases.len() >= 10);
}

#[test]
fn allow_names_the_permit() {
    let e = demo();
    let d = ask(
        &e,
        &obj(json!({"department": "eng"})),
        &["EmployeeCredential".into()],
        "GET",
        "/eng/x",
        0.0,
    );
    assert_eq!(d.effect, Effect::Allow);
    assert_eq!(d.reason.as_str(), "allowed");
    assert_eq!(
        d.determining_policies,
        vec!["engineers-read-eng".to_owned()]
    );
}

#[test]
fn default_deny_when_nothing_permits() {
    let e = demo();
    let d = ask(
        &e,
        &obj(json!({"department": "eng"})),
        &["EmployeeCredential".into()],
        "DELETE",
        "/eng/x",
        0.0,
    );
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.reason.as_str(), "policy_denied");
    assert!(d.determining_policies.is_empty());
}

#[test]
fn forbid_overrides_permit_and_is_named() {
    let e = demo();
    let d = ask(
        &e,
        &obj(json!({"department": "eng"})),
        &["EmployeeCredential".into()],
        "GET",
        "/eng/x",
        0.9,
    );
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.determining_policies, vec!["risk-deny".to_owned()]);
}

#[test]
fn step_up_band() {
    let e = demo();
    let d = ask(
        &e,
        &obj(json!({"department": "eng"})),
        &["EmployeeCredential".into()],
        "GET",
        "/eng/x",
        0.6,
    );
    assert_eq!(d.effect, Effect::StepUp);
    assert_eq!(d.reason.as_str(), "step_up_required");
}

#[test]
fn unknown_method_denied_not_panicking() {
    let e = demo();
    let d = ask(&e, &Map::new(), &[], "BREW", "/", 0.0);
    assert_eq!(d.reason.as_str(), "method_not_allowed");
}

#[test]
fn claim_of_wrong_type_is_dropped() {
    let e = demo();
    for bad in [
        json!({"role": ["admin"]}),
        json!({"role": 1}),
        json!({"role": {"is": "admin"}}),
    ] {
        let d = ask(
            &e,
            &obj(bad.clone()),
            &["EmployeeCredential".into()],
            "POST",
            "/x",
            0.0,
        );
        assert_eq!(d.effect, Effect::Deny, "{bad}");
    }
    let d = ask(
        &e,
        &obj(json!({"role": "admin", "extra": {"x": 1}})),
        &["EmployeeCredential".into()],
        "POST",
        "/x",
        0.0,
    );
    assert_eq!(
        d.effect,
        Effect::Allow,
        "undeclared claims are ignored, declared ones used"
    );
}

#[test]
fn policy_using_undeclared_attribute_refuses_to_load() {
    let err = engine(
        r#"permit (principal, action, resource) when { principal.claims.EmployeeCredential.clearance == "top" };"#,
    )
    .err()
    .expect("must not load")
    .to_string();
    assert!(
        err.contains("test.cedar") && err.contains("clearance"),
        "{err}"
    );
}

#[test]
fn syntax_error_names_file_and_position() {
    let err = engine("permit (principal, action, resource)\nwhen { nonsense };")
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("test.cedar at 2:"), "{err}");
}

#[test]
fn duplicate_ids_and_step_up_on_permit_refused() {
    let dup = "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") permit (principal, action, resource);";
    assert!(engine(dup).err().unwrap().to_string().contains("\"a\""));
    let bad = "@step_up(\"x\") permit (principal, action, resource);";
    assert!(engine(bad).err().unwrap().to_string().contains("forbid"));
}

/// An engine loaded from `dir`: the shipped schema and `p.cedar`, which
/// permits everything until the caller rewrites it (returned).
fn engine_on_disk(dir: &Path) -> (PolicyEngine, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let schema = dir.join("s.cedarschema");
    std::fs::write(&schema, schema_src()).unwrap();
    let file = dir.join("p.cedar");
    std::fs::write(&file, "@id(\"all\") permit (principal, action, resource);").unwrap();
    let dirs = [dir.to_owned()];
    (PolicyEngine::load(&schema, &dirs).unwrap(), file)
}

#[test]
fn broken_reload_keeps_last_good_set() {
    let dir = std::env::temp_dir().join(format!("didgate-policy-{}", std::process::id()));
    let (e, file) = engine_on_disk(&dir);
    assert!(e.reload_if_changed().is_none(), "nothing changed yet");
    let first = ask(&e, &Map::new(), &[], "GET", "/", 0.0);
    assert_eq!(first.effect, Effect::Allow);
    assert_eq!(first.policy_set, e.policy_set_digest());

    std::fs::write(&file, "permit (principal, action, resource) when { oops").unwrap();
    let err = e
        .reload_if_changed()
        .expect("change detected")
        .unwrap_err()
        .to_string();
    assert!(err.contains("p.cedar"), "{err}");
    let kept = ask(&e, &Map::new(), &[], "GET", "/", 0.0);
    assert_eq!(kept.effect, Effect::Allow, "last good set kept");
    assert_eq!(kept.policy_set, first.policy_set, "and its digest");
    assert!(
        e.reload_if_changed().is_none(),
        "a broken file is reported once"
    );

    std::fs::write(
        &file,
        "@id(\"none\") forbid (principal, action, resource);\n",
    )
    .unwrap();
    e.reload_if_changed().expect("change detected").unwrap();
    let after = ask(&e, &Map::new(), &[], "GET", "/", 0.0);
    assert_eq!(after.effect, Effect::Deny);
    assert_ne!(
        after.policy_set, first.policy_set,
        "a new set, a new digest"
    );
    assert_eq!(after.policy_set, e.policy_set_digest());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The digest the decision log records names the set exactly: any change of
/// a policy's text, a file's name, the schema, or which file holds which
/// text gives another one; the same set gives the same one.
#[test]
fn policy_set_digest_follows_every_byte_of_the_set() {
    let a = "@id(\"a\") permit (principal, action, resource);";
    let b = "@id(\"b\") forbid (principal, action, resource);";
    let set = |schema: &str, files: &[(&str, &str)]| {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        PolicyEngine::from_strings(schema, &files)
            .unwrap()
            .policy_set_digest()
    };
    let schema = schema_src();
    let base = set(&schema, &[("1.cedar", a), ("2.cedar", b)]);
    assert_eq!(base, set(&schema, &[("1.cedar", a), ("2.cedar", b)]));
    let a_spaced = format!("{a} ");
    let schema_commented = format!("{schema}\n// note\n");
    let both = format!("{a}\n{b}");
    for (what, other) in [
        (
            "a policy's text",
            set(&schema, &[("1.cedar", &a_spaced), ("2.cedar", b)]),
        ),
        (
            "a file's name",
            set(&schema, &[("x.cedar", a), ("2.cedar", b)]),
        ),
        (
            "the schema",
            set(&schema_commented, &[("1.cedar", a), ("2.cedar", b)]),
        ),
        (
            "the split into files",
            set(&schema, &[("1.cedar", &both), ("2.cedar", "")]),
        ),
        ("a file fewer", set(&schema, &[("1.cedar", a)])),
    ] {
        assert_ne!(other, base, "{what} changed, the digest did not");
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_claims_never_panic(k in "[a-z_]{1,12}", s in ".{0,40}", n in proptest::num::i64::ANY, f in proptest::num::f64::ANY) {
        let e = demo();
        let claims = obj(json!({
            k.clone(): s.clone(), "role": n, "groups": [s.clone(), n], "level": f, "department": {"x": [s]},
        }));
        let _ = ask(&e, &claims, &[k], "GET", "/eng/x", f);
    }
}

fn ask_app(e: &PolicyEngine, app: &str, key: Option<[u8; 16]>, role: &str) -> policy::Decision {
    let claims = typed(
        &obj(json!({ "role": role })),
        &["EmployeeCredential".to_owned()],
    );
    e.decide(&DecisionRequest {
        principal_key: key,
        principal_did: "did:key:z6Mk",
        issuers: &["did:key:zIss".into()],
        credential_types: &["EmployeeCredential".into()],
        claims: &claims,
        action: "GET",
        app,
        host: "localhost",
        path: "/x",
        auth_method: "session",
        client_ip: IpAddr::from([10, 1, 2, 3]),
        now_unix: 1_800_000_000,
        risk: RiskContext {
            score: 0.0,
            factors: &[],
            cold_start: false,
        },
    })
}

/// Policies are evaluated per app (those scoped to it, and those scoped to
/// no app): the decision is the whole set's, whichever app is asked about.
#[test]
fn per_app_policies_decide_as_the_whole_set_would() {
    let e = engine(
        r#"
@id("a-read") permit (principal, action, resource in Didgate::App::"a");
@id("b-read") permit (principal, action, resource in Didgate::App::"b");
@id("b-no-guests") forbid (principal, action, resource is Didgate::Resource in Didgate::App::"b")
  when { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "guest" };
@id("everywhere-no-interns") forbid (principal, action, resource)
  when { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "intern" };
@id("c-by-condition") permit (principal, action, resource)
  when { resource in Didgate::App::"c" };
"#,
    )
    .unwrap();
    let allowed = |d: policy::Decision| (d.effect, d.determining_policies);
    assert_eq!(
        allowed(ask_app(&e, "a", None, "guest")),
        (Effect::Allow, vec!["a-read".into()])
    );
    assert_eq!(
        allowed(ask_app(&e, "b", None, "guest")),
        (Effect::Deny, vec!["b-no-guests".into()])
    );
    assert_eq!(ask_app(&e, "b", None, "staff").effect, Effect::Allow);
    // A policy scoped to no app applies to every app.
    for app in ["a", "b", "c"] {
        assert_eq!(
            allowed(ask_app(&e, app, None, "intern")),
            (Effect::Deny, vec!["everywhere-no-interns".into()]),
            "{app}"
        );
    }
    // An app's condition in `when` (no scope) still counts.
    assert_eq!(
        allowed(ask_app(&e, "c", None, "staff")),
        (Effect::Allow, vec!["c-by-condition".into()])
    );
    // An app no policy names: only the unscoped ones; nothing permits.
    assert_eq!(ask_app(&e, "z", None, "staff").effect, Effect::Deny);
    assert_eq!(
        ask_app(&e, "z", None, "staff").reason.as_str(),
        "policy_denied"
    );
}

/// Admins may do anything in app "a"; nothing else is allowed.
const ADMINS_OF_APP_A: &str = r#"
@id("admins") permit (principal, action, resource in Didgate::App::"a")
  when { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "admin" };
"#;

/// A keyed principal's entities are reused, never across principals, apps
/// or methods, and never past a reload.
#[test]
fn keyed_principals_reuse_their_entities_and_nothing_else() {
    let e = engine(ADMINS_OF_APP_A).unwrap();
    let admin = Some([1; 16]);
    let guest = Some([2; 16]);
    assert_eq!(ask_app(&e, "a", admin, "admin").effect, Effect::Allow);
    assert_eq!(
        ask_app(&e, "a", admin, "admin").effect,
        Effect::Allow,
        "reused"
    );
    assert_eq!(
        ask_app(&e, "a", guest, "guest").effect,
        Effect::Deny,
        "another key"
    );
    assert_eq!(
        ask_app(&e, "b", admin, "admin").effect,
        Effect::Deny,
        "another app"
    );
}

/// A stream of distinct keyed principals (each new credential is one)
/// cannot make the engine keep more than its bounds, however large their
/// claims: the per-principal caches are bounded in bytes, not entries.
/// Before, each kept 100,000 principals whatever their size, and a load
/// test of fresh credentials grew the gateway to 1.5 GB.
#[test]
fn distinct_principals_with_large_claims_stay_within_the_byte_bounds() {
    let e = engine(ADMINS_OF_APP_A).unwrap();
    let big = "x".repeat(32 * 1024);
    let claims = typed(
        &obj(json!({ "role": "admin", "name": big })),
        &["EmployeeCredential".to_owned()],
    );
    let types = ["EmployeeCredential".to_owned()];
    let issuers = ["did:key:zIss".to_owned()];
    let ask = |i: u32, second: i64| {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&i.to_le_bytes());
        e.decide(&DecisionRequest {
            principal_key: Some(key),
            principal_did: "did:key:z6Mk",
            issuers: &issuers,
            credential_types: &types,
            claims: &claims,
            action: "GET",
            app: "a",
            host: "localhost",
            path: "/x",
            auth_method: "vp_jwt",
            client_ip: IpAddr::from([10, 1, 2, 3]),
            now_unix: 1_800_000_000 + second,
            risk: RiskContext {
                score: 0.0,
                factors: &[],
                cold_start: false,
            },
        })
    };
    // 64 KiB of claims a principal (both copies counted twice over): the
    // 64 MiB bound on entity stores holds about 500 of them.
    for i in 0..3_000 {
        assert_eq!(ask(i, 0).effect, Effect::Allow);
    }
    let usage = e.cache_usage();
    for (name, (held, bound)) in [
        ("entity stores", usage.entity_stores),
        ("contexts", usage.contexts),
        ("decisions", usage.decisions),
    ] {
        assert!(held <= bound, "{name}: {held} bytes held, bound {bound}");
    }
    let (held, bound) = usage.entity_stores;
    assert!(
        held > bound / 2,
        "large claims weigh what they hold: {held} of {bound}"
    );
    // Still exact after evictions: a principal asked again, in a later
    // second, is decided afresh.
    for i in 0..3_000 {
        assert_eq!(ask(i, 1).effect, Effect::Allow);
    }
}

/// A keyed principal's context, and its decisions, are reused only while
/// every input they were made from is the same: the address, the time, the
/// risk score, factors and cold start, the authentication method, the HTTP
/// method, the app, the host and the path each change the decision.
#[test]
fn keyed_contexts_follow_every_input() {
    let e = engine(
        r#"
@id("office") permit (principal, action == Didgate::Action::"GET", resource in Didgate::App::"a")
  when {
    resource.host == "localhost" &&
    resource.path == "/x" &&
    context.client_ip.isInRange(ip("10.0.0.0/8")) &&
    context.time < 1800000100 &&
    context.risk.score.lessThan(decimal("0.5")) &&
    !context.risk.factors.contains("new_device") &&
    !context.risk.cold_start &&
    context.auth_method == "session"
  };
"#,
    )
    .unwrap();
    let claims = ClaimsByType::new();
    let types = ["EmployeeCredential".to_owned()];
    let issuers = ["did:key:zIss".to_owned()];
    let base = DecisionRequest {
        principal_key: Some([7; 16]),
        principal_did: "did:key:z6Mk",
        issuers: &issuers,
        credential_types: &types,
        claims: &claims,
        action: "GET",
        app: "a",
        host: "localhost",
        path: "/x",
        auth_method: "session",
        client_ip: IpAddr::from([10, 1, 2, 3]),
        now_unix: 1_800_000_000,
        risk: RiskContext {
            score: 0.1,
            factors: &["new_network"],
            cold_start: false,
        },
    };
    let effect = |r: &DecisionRequest<'_>| e.decide(r).effect;
    assert_eq!(effect(&base), Effect::Allow);
    assert_eq!(effect(&base), Effect::Allow, "reused");
    let changed: [(&str, DecisionRequest<'_>); 10] = [
        (
            "HTTP method",
            DecisionRequest {
                action: "POST",
                ..base
            },
        ),
        ("app", DecisionRequest { app: "b", ..base }),
        (
            "host",
            DecisionRequest {
                host: "other.example",
                ..base
            },
        ),
        ("path", DecisionRequest { path: "/y", ..base }),
        (
            "address",
            DecisionRequest {
                client_ip: IpAddr::from([192, 0, 2, 1]),
                ..base
            },
        ),
        (
            "time",
            DecisionRequest {
                now_unix: 1_800_000_100,
                ..base
            },
        ),
        (
            "score",
            DecisionRequest {
                risk: RiskContext {
                    score: 0.6,
                    ..base.risk
                },
                ..base
            },
        ),
        (
            "factors",
            DecisionRequest {
                risk: RiskContext {
                    factors: &["new_network", "new_device"],
                    ..base.risk
                },
                ..base
            },
        ),
        (
            "cold start",
            DecisionRequest {
                risk: RiskContext {
                    cold_start: true,
                    ..base.risk
                },
                ..base
            },
        ),
        (
            "authentication method",
            DecisionRequest {
                auth_method: "vp_jwt",
                ..base
            },
        ),
    ];
    for (what, r) in &changed {
        assert_eq!(effect(r), Effect::Deny, "{what} changed");
        assert_eq!(effect(r), Effect::Deny, "{what} changed, asked again");
        // And back: the first inputs are decided as before.
        assert_eq!(effect(&base), Effect::Allow, "after {what}");
    }
}

/// A keyed principal's remembered decisions end with the policy set that
/// made them: after a reload the same request is decided by the new set.
#[test]
fn keyed_decisions_follow_a_reload() {
    let dir = std::env::temp_dir().join(format!("didgate-policy-memo-{}", std::process::id()));
    let (e, file) = engine_on_disk(&dir);
    let key = Some([3; 16]);
    for _ in 0..2 {
        let d = ask_app(&e, "a", key, "engineer");
        assert_eq!(d.effect, Effect::Allow);
        assert_eq!(d.determining_policies, ["all"]);
    }
    std::fs::write(
        &file,
        "@id(\"none\") forbid (principal, action, resource);\n",
    )
    .unwrap();
    e.reload().unwrap();
    let d = ask_app(&e, "a", key, "engineer");
    assert_eq!(d.effect, Effect::Deny, "{d:?}");
    assert_eq!(d.determining_policies, ["none"]);
    assert_eq!(d.policy_set, e.policy_set_digest());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Policies that read every input of a decision, permits and forbids,
/// one `@step_up`, one that fails to evaluate for some principals.
const EVERY_INPUT: &str = r#"
@id("read-eng") permit (principal, action in Didgate::Action::"read", resource in Didgate::App::"a")
  when {
    principal.claims has EmployeeCredential.department &&
    principal.claims.EmployeeCredential.department == "eng" &&
    resource.path like "/eng/*" &&
    context.client_ip.isInRange(ip("10.0.0.0/8"))
  };
@id("write-admin") permit (principal, action in Didgate::Action::"write", resource)
  when {
    principal.claims has EmployeeCredential.role &&
    principal.claims.EmployeeCredential.role == "admin" &&
    resource.host == "admin.example" &&
    context.auth_method == "session"
  };
@id("b-by-day") permit (principal, action, resource in Didgate::App::"b")
  when { context.hour < 12 && context.weekday < 5 && context.time < 1800000001 };
@id("risk-step-up") @step_up("risk") forbid (principal, action, resource)
  when { context.risk.score.greaterThan(decimal("0.5")) };
@id("new-device") forbid (principal, action in Didgate::Action::"write", resource)
  when { context.risk.factors.contains("new_device") || context.risk.cold_start };
@id("level-overflow") forbid (principal, action, resource)
  when { principal.claims has EmployeeCredential.level && principal.claims.EmployeeCredential.level * 4611686018427387904 > 0 };
"#;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// The decision a keyed principal gets, remembered or not, is the one
    /// the same request gets decided from scratch, whatever the sequence
    /// of requests. Each step changes one input of the previous request to
    /// one of two or three values that policies tell apart, so most steps
    /// keep the context and ask again about what was asked before.
    #[test]
    fn keyed_decisions_are_the_ones_made_from_scratch(
        changes in proptest::collection::vec((0usize..11, 0usize..3), 1..80)
    ) {
        let e = engine(EVERY_INPUT).unwrap();
        let types = ["EmployeeCredential".to_owned()];
        let issuers = ["did:key:zIss".to_owned()];
        let principals = [
            typed(&obj(json!({"department": "eng", "role": "admin"})), &types),
            typed(&obj(json!({"department": "sales", "role": "engineer"})), &types),
            typed(&obj(json!({"department": "eng", "level": 7})), &types),
        ];
        let mut s = [0usize; 11];
        for &(input, value) in &changes {
            s[input] = value;
            let pick = |i: usize, n: usize| s[i] % n;
            let who = pick(0, 3);
            let factors: &[&str] = [&["new_network"][..], &["new_device"][..], &[][..]][pick(8, 3)];
            let r = DecisionRequest {
                principal_key: Some([who as u8; 16]),
                principal_did: ["did:key:z6MkA", "did:key:z6MkB", "did:key:z6MkC"][who],
                issuers: &issuers,
                credential_types: &types,
                claims: &principals[who],
                action: ["GET", "POST", "DELETE"][pick(1, 3)],
                app: ["a", "b"][pick(2, 2)],
                host: ["localhost", "admin.example"][pick(3, 2)],
                path: ["/eng/x", "/sales/x", "/"][pick(4, 3)],
                auth_method: ["session", "vp_jwt"][pick(5, 2)],
                client_ip: [IpAddr::from([10, 1, 2, 3]), IpAddr::from([192, 0, 2, 1])][pick(6, 2)],
                // 2027-01-15 (a Friday) 08:00:00 and 08:00:01, and a Saturday 13:00.
                now_unix: [1_800_000_000, 1_800_000_001, 1_800_104_400][pick(7, 3)],
                risk: RiskContext {
                    score: [0.1, 0.7, 0.50005][pick(9, 3)],
                    factors,
                    cold_start: pick(10, 2) == 1,
                },
            };
            let remembered = e.decide(&r);
            let fresh = e.decide(&DecisionRequest { principal_key: None, ..r });
            let sorted = |v: &[String]| { let mut v = v.to_vec(); v.sort(); v };
            proptest::prop_assert_eq!(remembered.effect, fresh.effect, "{:?}", r);
            proptest::prop_assert_eq!(remembered.reason, fresh.reason);
            proptest::prop_assert_eq!(sorted(&remembered.determining_policies), sorted(&fresh.determining_policies));
            proptest::prop_assert_eq!(remembered.errors.len(), fresh.errors.len());
            proptest::prop_assert_eq!(remembered.policy_set, fresh.policy_set);
        }
    }
}

/// A claim counts only under the credential type it came with: a
/// ServiceCredential that says role=admin does not make its holder an admin
/// employee, even beside an EmployeeCredential.
#[test]
fn claims_of_one_type_never_answer_for_another() {
    let e = demo();
    let mut claims = typed(
        &obj(json!({"role": "admin", "department": "eng"})),
        &["ServiceCredential".to_owned()],
    );
    claims.extend(typed(
        &obj(json!({"department": "sales"})),
        &["EmployeeCredential".to_owned()],
    ));
    let types = [
        "ServiceCredential".to_owned(),
        "EmployeeCredential".to_owned(),
    ];
    let d = e.decide(&DecisionRequest {
        principal_key: None,
        principal_did: "did:key:z6Mk",
        issuers: &["did:key:zIss".into()],
        credential_types: &types,
        claims: &claims,
        action: "POST",
        app: "demo",
        host: "localhost",
        path: "/eng/docs",
        auth_method: "vp_jwt",
        client_ip: IpAddr::from([10, 1, 2, 3]),
        now_unix: 1_800_000_000,
        risk: RiskContext {
            score: 0.0,
            factors: &[],
            cold_start: false,
        },
    });
    assert_eq!(d.effect, Effect::Deny, "{:?}", d.determining_policies);
    let d = ask(
        &e,
        &obj(json!({"role": "admin"})),
        &["EmployeeCredential".into()],
        "POST",
        "/eng/docs",
        0.0,
    );
    assert_eq!(d.effect, Effect::Allow, "the same claim under its own type");
}

/// A schema that declares claims the old, flat way is refused at load with
/// what to write instead.
#[test]
fn flat_claims_in_the_schema_are_refused_with_the_fix() {
    let old = schema_src().replace(
        "claims: {\n      EmployeeCredential?: {",
        "claims: {\n      role?: String,\n      EmployeeCredential?: {",
    );
    assert_ne!(old, schema_src());
    let err = PolicyEngine::from_strings(
        &old,
        &[(
            "t.cedar".into(),
            "permit (principal, action, resource);".into(),
        )],
    )
    .err()
    .expect("must not load")
    .to_string();
    assert!(err.contains("Holder.claims.role is not a record"), "{err}");
}

/// Cedar skips a policy whose evaluation errs: for a forbid that would let
/// through what it forbids, so a forbid that errs denies (`policy_error`).
#[test]
fn a_forbid_that_cannot_be_evaluated_denies() {
    let e = engine(
        r#"
@id("all-read") permit (principal, action, resource);
@id("senior-only") forbid (principal, action, resource)
  when { principal.claims has EmployeeCredential.level && principal.claims.EmployeeCredential.level + 1 > 5 };
@id("juniors-extra") permit (principal, action, resource)
  when { principal.claims has EmployeeCredential.level && principal.claims.EmployeeCredential.level * 2 > 0 };
"#,
    )
    .unwrap();
    let types = ["EmployeeCredential".to_owned()];
    let ask_level = |level: i64| {
        ask(
            &e,
            &obj(json!({ "level": level })),
            &types,
            "GET",
            "/x",
            0.0,
        )
    };
    assert_eq!(ask_level(1).effect, Effect::Allow);
    assert_eq!(ask_level(10).reason.as_str(), "policy_denied");
    // level + 1 overflows: the forbid errs, and the request is denied for it.
    let d = ask_level(i64::MAX);
    assert_eq!(
        (d.effect, d.reason.as_str()),
        (Effect::Deny, "policy_error")
    );
    assert_eq!(d.determining_policies, vec!["senior-only".to_owned()]);
    assert!(!d.errors.is_empty());
    // A permit that errs (level * 2 overflows) is only not a permit: the
    // other permit still allows while no forbid errs.
    let e = engine(
        r#"
@id("all-read") permit (principal, action, resource);
@id("juniors-extra") permit (principal, action, resource)
  when { principal.claims has EmployeeCredential.level && principal.claims.EmployeeCredential.level * 2 > 0 };
"#,
    )
    .unwrap();
    let d = ask(
        &e,
        &obj(json!({ "level": i64::MAX })),
        &types,
        "GET",
        "/x",
        0.0,
    );
    assert_eq!(d.effect, Effect::Allow);
}

/// A policy scoped to an app is told apart from one that applies to every
/// app (the gateway's own log reads need the former).
#[test]
fn scoped_policies_are_told_from_unscoped_ones() {
    let e = engine(
        r#"@id("log") permit (principal, action, resource in Didgate::App::"didgate-log");
@id("all") permit (principal, action, resource);
@id("other") permit (principal, action, resource in Didgate::App::"wiki");"#,
    )
    .unwrap();
    assert!(e.is_scoped_to("didgate-log", "log"));
    assert!(!e.is_scoped_to("didgate-log", "all"));
    assert!(!e.is_scoped_to("didgate-log", "other"));
    assert!(!e.is_scoped_to("didgate-log", "missing"));
    assert!(e.is_scoped_to("wiki", "other"));
}
