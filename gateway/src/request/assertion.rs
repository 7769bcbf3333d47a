//! The identity assertion: a short-lived JWT, signed by the gateway's own
//! Ed25519 key, that tells the upstream who was let in and why. Upstreams
//! verify it with the key published at `/.well-known/jwks.json`.
//!
//! An assertion says the same thing for every request of one principal to
//! one app in one risk band, so it is signed once and reused while more than
//! half of its lifetime is left (`AssertionCache`): a signature costs more
//! than the rest of a session request's checks together. Its `jti` names the
//! assertion; each request's decision id travels in `x-didgate-decision-id`.

use std::hash::{BuildHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use credentials::{jws, KeyType, SigningKey};
use http::HeaderValue;
use serde_json::{json, Map, Value};

use crate::request::principal::Principal;

/// Header carrying the assertion to the upstream. Clients can't set it:
/// every incoming `x-didgate-*` header is removed first.
pub const ASSERTION_HEADER: &str = "x-didgate-assertion";
/// Header carrying the decision id (also the assertion's `jti`).
pub const DECISION_HEADER: &str = "x-didgate-decision-id";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is not a private JWK: {reason}")]
    Invalid { path: String, reason: String },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Read a private JWK key file (as written by `didgate did create`).
pub fn read_key_file(path: &Path) -> Result<(SigningKey, Option<String>), KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let jwk: credentials::Jwk = serde_json::from_str(&text).map_err(|e| KeyFileError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let key = SigningKey::from_jwk(&jwk).map_err(|e| KeyFileError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok((key, jwk.kid))
}

/// Write a private JWK to `path`, readable by the owner only.
pub fn write_key_file(
    path: &Path,
    key: &SigningKey,
    kid: Option<&str>,
) -> Result<(), KeyFileError> {
    let mut jwk = key.to_jwk();
    jwk.kid = kid.map(str::to_owned);
    let text = serde_json::to_string_pretty(&jwk).unwrap_or_default() + "\n";
    let err = |source| KeyFileError::Write {
        path: path.display().to_string(),
        source,
    };
    write_secret_file(path, text.as_bytes()).map_err(err)
}

/// Write `bytes` to `path` readable by its owner only (mode 0600 on Unix),
/// creating its folder.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    std::fs::write(path, bytes)
}

/// The gateway's signing identity.
pub struct AssertionSigner {
    key: SigningKey,
    kid: String,
    issuer: String,
    ttl_secs: i64,
    jwks: String,
}

/// What the upstream is told about an allowed request.
pub struct AssertionInput<'a> {
    pub subject: &'a str,
    pub audience: &'a str,
    /// The assertion's `jti`.
    pub id: &'a str,
    pub issuers: &'a [String],
    pub credential_types: &'a [String],
    /// Per credential type, that credential's claims.
    pub claims: &'a policy::ClaimsByType,
    /// Claims to copy (`role` from every type, or `EmployeeCredential.role`);
    /// empty: all of them.
    pub forward_claims: &'a [String],
    pub auth_method: &'a str,
    pub risk_score: f64,
    pub now: i64,
}

/// The risk an assertion states: the score rounded to 0.05, the band a
/// reused assertion stands for.
pub fn risk_band(score: f64) -> f64 {
    if score.is_finite() {
        (score.clamp(0.0, 1.0) * 20.0).round() / 20.0
    } else {
        1.0
    }
}

/// What an assertion is about: an allowed request.
#[derive(Clone, Copy)]
pub struct Allowed<'a> {
    pub principal: &'a Arc<Principal>,
    /// The route (app) name.
    pub audience: &'a Arc<str>,
    pub forward_claims: &'a [String],
    pub auth_method: &'static str,
    pub risk_score: f64,
    pub now: i64,
}

/// Signed assertions, reused for the same principal, app, method of
/// authentication and risk band while more than half their lifetime is left.
pub struct AssertionCache {
    entries: moka::sync::Cache<u64, Arc<CachedAssertion>>,
    hasher: std::hash::RandomState,
}

struct CachedAssertion {
    /// Bytes held, over-estimated ([`assertion_weight`]).
    weight: u32,
    principal: Arc<Principal>,
    audience: Arc<str>,
    auth_method: &'static str,
    band: u8,
    /// Reused until this unix second; then signed afresh.
    fresh_until: i64,
    header: HeaderValue,
}

/// What a cached assertion costs besides its header and its principal's
/// strings: the entry, its `Arc`s and the moka node.
const ASSERTION_FIXED_BYTES: usize = 1024;

/// Bytes an entry holds, over-estimated. It keeps its principal alive,
/// which may be the only reference left to it, so the principal counts in
/// full: its strings and its claims.
fn assertion_weight(p: &Principal, header: &HeaderValue) -> u32 {
    fn json(v: &serde_json::Value) -> usize {
        // A serde_json value and its map or vector slot, with rounding.
        96 + match v {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(a) => a.iter().map(json).sum(),
            serde_json::Value::Object(m) => m.iter().map(|(k, v)| 32 + k.len() + json(v)).sum(),
            _ => 0,
        }
    }
    let strings = |v: &[String]| -> usize { v.iter().map(|s| 32 + s.len()).sum() };
    let claims: usize = p
        .claims
        .iter()
        .map(|(ty, c)| {
            let fields: usize = c.claims.iter().map(|(k, v)| 32 + k.len() + json(v)).sum();
            128 + ty.len() + c.issuer.len() + fields
        })
        .sum();
    let n = ASSERTION_FIXED_BYTES
        + header.len()
        + p.did.len()
        + strings(&p.issuers)
        + strings(&p.credential_types)
        + strings(&p.credential_ids)
        + claims;
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl AssertionCache {
    /// Keeps at most `capacity_bytes` of assertions and the principals they
    /// hold (estimated generously): a stream of distinct holders cannot pin
    /// more memory than that, however large their claims.
    pub fn new(capacity_bytes: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_, a: &Arc<CachedAssertion>| a.weight)
                .build(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The assertion for an allowed request, signed now or reused.
    pub fn get_or_sign(&self, signer: &AssertionSigner, a: &Allowed<'_>) -> Option<HeaderValue> {
        let Allowed {
            principal,
            audience,
            forward_claims,
            auth_method,
            risk_score,
            now,
        } = *a;
        let risk = risk_band(risk_score);
        let band = (risk * 20.0) as u8;
        let mut h = self.hasher.build_hasher();
        principal.did.hash(&mut h);
        audience.hash(&mut h);
        auth_method.hash(&mut h);
        band.hash(&mut h);
        let key = h.finish();
        if let Some(hit) = self.entries.get(&key) {
            let same = (Arc::ptr_eq(&hit.principal, principal) || *hit.principal == **principal)
                && hit.audience == *audience
                && hit.auth_method == auth_method
                && hit.band == band;
            if same && now < hit.fresh_until {
                return Some(hit.header.clone());
            }
        }
        let id = audit::new_id(crate::clock::unix_ms());
        let token = signer.sign(&AssertionInput {
            subject: &principal.did,
            audience,
            id: &id,
            issuers: &principal.issuers,
            credential_types: &principal.credential_types,
            claims: &principal.claims,
            forward_claims,
            auth_method,
            risk_score: risk,
            now,
        });
        let header = HeaderValue::from_str(&token).ok()?;
        self.entries.insert(
            key,
            Arc::new(CachedAssertion {
                weight: assertion_weight(principal, &header),
                principal: principal.clone(),
                audience: audience.clone(),
                auth_method,
                band,
                fresh_until: now + signer.ttl_secs / 2,
                header: header.clone(),
            }),
        );
        Some(header)
    }
}

impl AssertionSigner {
    /// Load the gateway key, creating an Ed25519 key when the file is missing.
    pub fn load_or_create(path: &Path, issuer: &str, ttl_secs: i64) -> Result<Self, KeyFileError> {
        let key = if path.exists() {
            read_key_file(path)?.0
        } else {
            let key = SigningKey::generate(KeyType::Ed25519);
            write_key_file(path, &key, None)?;
            tracing::info!(path = %path.display(), "created gateway signing key");
            key
        };
        Ok(Self::new(key, issuer, ttl_secs))
    }

    pub fn new(key: SigningKey, issuer: &str, ttl_secs: i64) -> Self {
        let public = key.public_key().to_jwk();
        // RFC 7638 thumbprint as kid: stable across restarts, changes with the key.
        let kid = thumbprint(&public);
        let mut jwk = serde_json::to_value(&public).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), Value::String(kid.clone()));
            m.insert("alg".into(), Value::String(key.alg().to_owned()));
            m.insert("use".into(), Value::String("sig".into()));
        }
        let jwks = json!({ "keys": [jwk] }).to_string();
        Self {
            key,
            kid,
            issuer: issuer.to_owned(),
            ttl_secs,
            jwks,
        }
    }

    /// The key's 32 secret bytes when it is Ed25519: the decision log signs
    /// its checkpoints with it too (signed notes, a format no JWS signing
    /// input can take the shape of).
    pub fn ed25519_secret(&self) -> Option<[u8; 32]> {
        match &self.key {
            SigningKey::Ed25519(k) => Some(k.to_bytes()),
            _ => None,
        }
    }

    /// The JWKS document (RFC 7517) served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    pub fn sign(&self, a: &AssertionInput<'_>) -> String {
        // Per type, as policies see them: a claim is never lifted out of the
        // credential type its issuer vouched for.
        let claims: Map<String, Value> = a
            .claims
            .iter()
            .map(|(ty, c)| {
                let kept: Map<String, Value> = c
                    .claims
                    .iter()
                    .filter(|(k, _)| forwarded(a.forward_claims, ty, k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (ty.clone(), Value::Object(kept))
            })
            .collect();
        let payload = json!({
            "iss": self.issuer,
            "sub": a.subject,
            "aud": a.audience,
            "iat": a.now,
            "nbf": a.now,
            "exp": a.now + self.ttl_secs,
            "jti": a.id,
            "auth_method": a.auth_method,
            "vc_issuers": a.issuers,
            "credential_types": a.credential_types,
            "claims": claims,
            "risk": a.risk_score,
        });
        jws::sign_compact(&self.key, Some("JWT"), Some(&self.kid), &payload)
    }
}

/// Whether `claim` of the credential of type `ty` is forwarded: all are when
/// `forward` is empty; else an entry `claim` (any type) or `ty.claim` names it.
fn forwarded(forward: &[String], ty: &str, claim: &str) -> bool {
    forward.is_empty()
        || forward.iter().any(|f| match f.split_once('.') {
            Some((t, c)) => t == ty && c == claim,
            None => f == claim,
        })
}

fn thumbprint(jwk: &credentials::Jwk) -> String {
    use base64::Engine;
    use sha2::Digest;
    // Required members in lexicographic order (RFC 7638 §3.2).
    let canonical = match (jwk.kty.as_str(), &jwk.crv, &jwk.x, &jwk.y) {
        ("OKP", Some(crv), Some(x), _) => format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#),
        ("EC", Some(crv), Some(x), Some(y)) => {
            format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
        }
        _ => serde_json::to_string(jwk).unwrap_or_default(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn assertion_verifies_with_published_jwks() {
        let signer = AssertionSigner::new(SigningKey::generate(KeyType::Ed25519), "https://gw", 60);
        let employee: Map<String, Value> =
            serde_json::from_str(r#"{"role":"admin","secret":"x"}"#).unwrap();
        let service: Map<String, Value> =
            serde_json::from_str(r#"{"role":"robot","service":"billing"}"#).unwrap();
        let typed = |c: Map<String, Value>| policy::TypedClaims {
            issuer: "did:key:zIss".into(),
            claims: Arc::new(c),
        };
        let claims = policy::ClaimsByType::from([
            ("EmployeeCredential".to_owned(), typed(employee)),
            ("ServiceCredential".to_owned(), typed(service)),
        ]);
        let token = signer.sign(&AssertionInput {
            subject: "did:key:zAlice",
            audience: "app",
            id: "d1",
            issuers: &["did:key:zIss".into()],
            credential_types: &["EmployeeCredential".into()],
            claims: &claims,
            forward_claims: &["EmployeeCredential.role".into(), "service".into()],
            auth_method: "vp_jwt",
            risk_score: 0.0,
            now: 1_000,
        });
        let jwks: Value = serde_json::from_str(signer.jwks()).unwrap();
        let jwk: credentials::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let public = credentials::PublicKey::from_jwk(&jwk).unwrap();
        let parsed = jws::parse(&token).unwrap();
        assert_eq!(
            parsed.header.kid.as_deref(),
            jwks["keys"][0]["kid"].as_str()
        );
        public
            .verify_jose(
                &parsed.header.alg,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
            .unwrap();
        assert_eq!(parsed.payload["sub"], "did:key:zAlice");
        let c = &parsed.payload["claims"];
        assert_eq!(c["EmployeeCredential"]["role"], "admin");
        assert!(c.get("role").is_none(), "claims stay under their type");
        assert!(
            c["EmployeeCredential"].get("secret").is_none(),
            "unselected claim leaked"
        );
        assert!(
            c["ServiceCredential"].get("role").is_none(),
            "EmployeeCredential.role only"
        );
        assert_eq!(c["ServiceCredential"]["service"], "billing");
    }

    fn principal(role: &str) -> Arc<Principal> {
        Arc::new(Principal {
            did: "did:key:zAlice".into(),
            issuers: vec!["did:key:zIss".into()],
            credential_types: vec!["EmployeeCredential".into()],
            credential_ids: Vec::new(),
            claims: policy::ClaimsByType::from([(
                "EmployeeCredential".to_owned(),
                policy::TypedClaims {
                    issuer: "did:key:zIss".into(),
                    claims: Arc::new(
                        serde_json::from_str(&format!(r#"{{"role":"{role}"}}"#)).unwrap(),
                    ),
                },
            )]),
        })
    }

    #[test]
    fn assertions_are_reused_only_for_the_same_statement_and_while_fresh() {
        let signer = AssertionSigner::new(SigningKey::generate(KeyType::Ed25519), "https://gw", 60);
        let cache = AssertionCache::new(1 << 20);
        let app: Arc<str> = Arc::from("app");
        let alice = principal("engineer");
        let get = |p: &Arc<Principal>, aud: &Arc<str>, method, risk, now| {
            cache
                .get_or_sign(
                    &signer,
                    &Allowed {
                        principal: p,
                        audience: aud,
                        forward_claims: &[],
                        auth_method: method,
                        risk_score: risk,
                        now,
                    },
                )
                .unwrap()
        };
        let first = get(&alice, &app, "session", 0.11, 1_000);
        // Same principal (another Arc with equal content), app, method, band.
        assert_eq!(
            get(&principal("engineer"), &app, "session", 0.09, 1_029),
            first
        );
        // Half the lifetime gone: signed afresh.
        assert_ne!(get(&alice, &app, "session", 0.11, 1_030), first);
        let now = 2_000;
        let base = get(&alice, &app, "session", 0.11, now);
        for other in [
            get(&principal("admin"), &app, "session", 0.11, now),
            get(&alice, &Arc::from("other-app"), "session", 0.11, now),
            get(&alice, &app, "vp_jwt", 0.11, now),
            get(&alice, &app, "session", 0.4, now),
        ] {
            assert_ne!(other, base);
        }
        let parsed = jws::parse(base.to_str().unwrap()).unwrap();
        assert_eq!(parsed.payload["risk"], 0.1, "the band, not the score");
        assert_eq!(parsed.payload["exp"], now + 60);
    }

    #[test]
    fn risk_bands() {
        assert_eq!(risk_band(0.0), 0.0);
        assert_eq!(risk_band(0.42), 0.4);
        assert_eq!(risk_band(0.43), 0.45);
        assert_eq!(risk_band(7.0), 1.0);
        assert_eq!(risk_band(f64::NAN), 1.0);
    }
}
