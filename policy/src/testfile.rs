//! `didgate policy test`: evaluate sample requests from a TOML file and say,
//! for each, the decision, the policies that made it, and whether it matched
//! the expectation.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::engine::{DecisionRequest, Effect, PolicyEngine, RiskContext};
use crate::PolicyError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default = "default_principal")]
    principal: String,
    /// Per credential type, that credential's claims:
    /// `claims = { EmployeeCredential = { role = "admin" } }`. Each type
    /// named here counts as presented.
    #[serde(default)]
    claims: std::collections::BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Further types presented without claims.
    #[serde(default)]
    credential_types: Vec<String>,
    #[serde(default)]
    issuers: Vec<String>,
    action: String,
    app: String,
    path: String,
    #[serde(default = "default_host")]
    host: String,
    #[serde(default = "default_ip")]
    client_ip: IpAddr,
    #[serde(default)]
    risk: f64,
    #[serde(default)]
    risk_factors: Vec<String>,
    #[serde(default = "default_auth")]
    auth_method: String,
    /// Unix seconds; default: now.
    time: Option<i64>,
    expect: Option<String>,
}

fn default_principal() -> String {
    "did:example:tester".into()
}
fn default_host() -> String {
    "localhost".into()
}
fn default_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_auth() -> String {
    "vp_jwt".into()
}

/// One evaluated case.
#[derive(Debug, Clone)]
pub struct TestCaseResult {
    pub name: String,
    pub effect: Effect,
    pub reason_code: &'static str,
    pub determining_policies: Vec<String>,
    pub expected: Option<Effect>,
    pub passed: bool,
}

/// All cases of a test file.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub cases: Vec<TestCaseResult>,
    pub failures: usize,
}

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
        Effect::StepUp => "step_up",
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            let verdict = match (c.expected, c.passed) {
                (None, _) => "    ",
                (Some(_), true) => "ok  ",
                (Some(_), false) => "FAIL",
            };
            write!(
                f,
                "{verdict} {:<40} {:<8} {:<18}",
                c.name,
                effect_name(c.effect),
                c.reason_code
            )?;
            if !c.determining_policies.is_empty() {
                write!(f, " by {}", c.determining_policies.join(", "))?;
            }
            if let (Some(e), false) = (c.expected, c.passed) {
                write!(f, "  (expected {})", effect_name(e))?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "{} cases, {} passed, {} failed",
            self.cases.len(),
            self.cases.len() - self.failures,
            self.failures
        )
    }
}

/// Evaluate every case in `test_file` against `engine`.
pub fn run_tests(engine: &PolicyEngine, test_file: &Path) -> Result<TestReport, PolicyError> {
    let err = |message: String| PolicyError::TestFile {
        path: test_file.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(test_file).map_err(|e| err(e.to_string()))?;
    let file: TestFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    if file.cases.is_empty() {
        return Err(err("no [[case]] entries".into()));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut cases = Vec::with_capacity(file.cases.len());
    for c in &file.cases {
        let expected = match c.expect.as_deref() {
            None => None,
            Some("allow") => Some(Effect::Allow),
            Some("deny") => Some(Effect::Deny),
            Some("step_up") => Some(Effect::StepUp),
            Some(other) => {
                return Err(err(format!(
                    "case {:?}: expect = {other:?}; use allow, deny or step_up",
                    c.name
                )))
            }
        };
        let factors: Vec<&str> = c.risk_factors.iter().map(String::as_str).collect();
        let issuer = c.issuers.first().cloned().unwrap_or_default();
        let claims: crate::ClaimsByType = c
            .claims
            .iter()
            .map(|(ty, claims)| {
                let typed = crate::TypedClaims {
                    issuer: issuer.clone(),
                    claims: std::sync::Arc::new(claims.clone()),
                };
                (ty.clone(), typed)
            })
            .collect();
        let mut types = c.credential_types.clone();
        for ty in c.claims.keys() {
            if !types.contains(ty) {
                types.push(ty.clone());
            }
        }
        let d = engine.decide(&DecisionRequest {
            principal_key: None,
            principal_did: &c.principal,
            issuers: &c.issuers,
            credential_types: &types,
            claims: &claims,
            action: &c.action,
            app: &c.app,
            host: &c.host,
            path: &c.path,
            auth_method: &c.auth_method,
            client_ip: c.client_ip,
            now_unix: c.time.unwrap_or(now),
            risk: RiskContext {
                score: c.risk,
                factors: &factors,
                cold_start: false,
            },
        });
        let passed = expected.is_none_or(|e| e == d.effect);
        cases.push(TestCaseResult {
            name: c.name.clone(),
            effect: d.effect,
            reason_code: d.reason.as_str(),
            determining_policies: d.determining_policies,
            expected,
            passed,
        });
    }
    let failures = cases.iter().filter(|c| !c.passed).count();
    Ok(TestReport { cases, failures })
}
