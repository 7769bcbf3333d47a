//! Verification of VP-JWTs and the VC-JWTs inside them, in both formats:
//! VCDM 1.1 JWT-VC (`vc` / `vp` claims, as `did-jwt-vc` makes them) and
//! VCDM 2.0 VC-JOSE-COSE (`typ: vc+jwt` / `vp+jwt`, payload is the
//! credential; credentials in a VP may be enveloped as `data:` URLs).
//!
//! Order of checks: structure and algorithm → key from the signer's DID
//! document → signature → time → audience / replay id → each credential
//! (same order, then `credentialStatus`) → holder binding → issuer trust. Nothing from a payload is
//! believed before its signature verifies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use did_registry::ethr::{StatusChecker, StatusEntry, StatusError};
use did_registry::{DidDocument, DidResolver, Purpose, ResolveError, VerificationMethod};
use moka::sync::Cache;
use serde_json::{Map, Value};

use crate::jws;
use crate::CredentialError;

/// Most credentials accepted in one presentation.
pub const MAX_CREDENTIALS: usize = 16;

/// VC/VP encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// VCDM 1.1 JWT-VC: registered claims plus a `vc` / `vp` claim.
    JwtVc11,
    /// VCDM 2.0 VC-JOSE-COSE: `vc+jwt` / `vp+jwt`, the payload is the credential.
    VcJwt20,
}

/// Which issuers are trusted for which credential types.
#[derive(Debug, Clone, Default)]
pub struct TrustedIssuers {
    by_type: HashMap<String, HashSet<String>>,
}

impl TrustedIssuers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `issuer_did` to issue credentials of `credential_type`.
    pub fn trust(&mut self, credential_type: &str, issuer_did: &str) {
        self.by_type
            .entry(credential_type.to_owned())
            .or_default()
            .insert(issuer_did.to_owned());
    }

    /// Trusted for at least one of the credential's own types
    /// (`VerifiableCredential` alone never is).
    pub fn is_trusted(&self, types: &[String], issuer: &str) -> bool {
        types
            .iter()
            .filter(|t| t.as_str() != "VerifiableCredential")
            .any(|t| self.by_type.get(t).is_some_and(|s| s.contains(issuer)))
    }
}

/// What a verifier accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Accepted `aud` values (the gateway's URLs).
    pub audiences: Vec<String>,
    pub clock_skew_secs: i64,
    pub max_presentation_lifetime_secs: i64,
    pub trusted_issuers: TrustedIssuers,
}

impl VerifierConfig {
    /// Defaults: 60 s clock skew, presentations valid for at most 15 minutes.
    pub fn new(audiences: Vec<String>, trusted_issuers: TrustedIssuers) -> Self {
        Self {
            audiences,
            clock_skew_secs: 60,
            max_presentation_lifetime_secs: 900,
            trusted_issuers,
        }
    }
}

/// A presentation whose every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedPresentation {
    pub holder: String,
    /// `jti`, else `nonce`: remember it until `expires_at` to refuse replays.
    pub replay_id: String,
    /// The presentation's `nonce`, when it has one (a gateway challenge it answers).
    pub nonce: Option<String>,
    pub expires_at: i64,
    pub credentials: Vec<VerifiedCredential>,
}

/// A credential whose signature and validity period checked out.
#[derive(Debug, Clone)]
pub struct VerifiedCredential {
    pub id: Option<String>,
    pub issuer: String,
    pub subject: String,
    pub types: Vec<String>,
    /// `credentialSubject` without `id`.
    pub claims: Map<String, Value>,
    pub expires_at: Option<i64>,
    pub format: Format,
}

/// What a presentation must be bound to beyond the verifier's own
/// configuration: an OpenID4VP login names the request's `client_id` as its
/// audience and must echo the request's `nonce`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    /// Accept exactly this `aud` instead of the configured audiences.
    pub audience: Option<&'a str>,
    /// The presentation's `nonce` must be exactly this.
    pub nonce: Option<&'a str>,
}

/// A verified presentation kept so that it can be checked again, cheaply, on
/// every later request that relies on it (a browser session).
///
/// [`Verifier::recheck`] re-checks what can change after the login: each
/// credential's validity period and status, each issuer's keys (a did:ethr
/// key rotation or deactivation), and the holder's key that signed the login
/// (removed, replaced, or the DID deactivated). On a warm cache that is no
/// I/O and no signature check; only a DID document that changed on chain
/// sends a credential through full verification again.
pub struct Binding {
    holder: String,
    /// The verification method that signed the presentation.
    holder_key: VerificationMethod,
    /// The holder's document at the last check; `None` for DID methods whose
    /// documents cannot change (`did:key`, `did:jwk`).
    holder_doc: ArcSwapOption<DidDocument>,
    credentials: Vec<BoundCredential>,
}

struct BoundCredential {
    token: String,
    checked: ArcSwap<CachedCredential>,
}

impl Binding {
    /// The holder's DID.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The id (DID URL) of the key that signed the presentation.
    pub fn holder_key_id(&self) -> &str {
        &self.holder_key.id
    }

    /// The VC-JWTs, as presented.
    pub fn credential_tokens(&self) -> impl Iterator<Item = &str> {
        self.credentials.iter().map(|c| c.token.as_str())
    }

    /// The earliest expiry among the credentials (unix seconds), if any has one.
    pub fn expires_at(&self) -> Option<i64> {
        self.credentials
            .iter()
            .filter_map(|c| c.checked.load().vc.expires_at)
            .min()
    }
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("holder", &self.holder)
            .field("holder_key", &self.holder_key.id)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

pub struct Verifier {
    config: VerifierConfig,
    resolver: Arc<dyn DidResolver>,
    status: Option<Arc<dyn StatusChecker>>,
    /// VC-JWTs whose signature already verified, by their exact bytes.
    verified: Option<Cache<String, Arc<CachedCredential>>>,
}

/// A VC-JWT that verified once. A later presentation of the very same token
/// skips only its signature check, and only while the issuer's DID document is
/// the one the signature was checked against; time and status are checked
/// again every time.
struct CachedCredential {
    vc: VerifiedCredential,
    /// The issuer document of the signature check. `None` for DID methods whose
    /// documents cannot change (`did:key`, `did:jwk`: the DID is the key).
    issuer_doc: Option<Arc<DidDocument>>,
    /// The latest of `nbf` and `validFrom`/`issuanceDate`.
    not_before: Option<i64>,
    status: Vec<StatusEntry>,
}

/// Documents of these methods are a pure function of the DID.
fn immutable_method(did: &str) -> bool {
    did.starts_with("did:key:") || did.starts_with("did:jwk:")
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `issuer` / `holder` may be a string or an object with `id`.
fn id_of(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

fn int_field(v: &Value, k: &str) -> Result<Option<i64>, CredentialError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| CredentialError::malformed(format!("{k} is not a number of seconds"))),
        Some(_) => Err(CredentialError::malformed(format!("{k} is not a number"))),
    }
}

fn rfc3339(v: &Value, k: &str) -> Result<Option<i64>, CredentialError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| Some(t.unix_timestamp()))
                .map_err(|_| {
                    CredentialError::malformed(format!("{k} is not an RFC 3339 date-time"))
                })
        }
        Some(_) => Err(CredentialError::malformed(format!("{k} is not a string"))),
    }
}

fn types_of(v: Option<&Value>) -> Result<Vec<String>, CredentialError> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| CredentialError::malformed("type entries must be strings"))
            })
            .collect(),
        _ => Err(CredentialError::malformed("missing type")),
    }
}

fn is_typ(typ: Option<&str>, wanted: &[&str]) -> bool {
    typ.is_some_and(|t| {
        let t = t.strip_prefix("application/").unwrap_or(t);
        wanted.iter().any(|w| t.eq_ignore_ascii_case(w))
    })
}

impl Verifier {
    pub fn new(config: VerifierConfig, resolver: Arc<dyn DidResolver>) -> Self {
        Self {
            config,
            resolver,
            status: None,
            verified: None,
        }
    }

    /// Remember up to `capacity` verified VC-JWTs, so that presenting the same
    /// credential again (a fresh presentation of it each request) costs one
    /// signature check, the presentation's, instead of two. A key rotation or
    /// revocation on chain changes the issuer's document, which sends the
    /// credential through full verification again; expiry and status are
    /// checked on every use. `0` disables the cache.
    pub fn with_credential_cache(mut self, capacity: u64) -> Self {
        self.verified = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                // Bounds how long an unused token's memory is held.
                .time_to_idle(std::time::Duration::from_secs(600))
                .build()
        });
        self
    }

    /// Check `credentialStatus` entries with `status`. Without a checker a
    /// credential that carries a status entry is refused
    /// (`status_list_unsupported`): a status that cannot be checked never passes.
    pub fn with_status_checker(mut self, status: Arc<dyn StatusChecker>) -> Self {
        self.status = Some(status);
        self
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, CredentialError> {
        self.resolver
            .resolve(did)
            .await
            .map_err(|source| CredentialError::Resolve {
                did: did.to_owned(),
                source,
            })
    }

    /// Check the token's signature with `signer`'s key for `purpose`; returns
    /// the document whose key verified it and that key's position in it.
    async fn check_signature(
        &self,
        parsed: &jws::Parsed<'_>,
        signer: &str,
        purpose: Purpose,
        what: &'static str,
    ) -> Result<(Arc<DidDocument>, usize), CredentialError> {
        let doc = self.resolve(signer).await?;
        let candidates = doc
            .keys_for(parsed.header.kid.as_deref(), purpose)
            .map_err(|source| CredentialError::Resolve {
                did: signer.to_owned(),
                source,
            })?;
        let message = parsed.signing_input.as_bytes();
        let mut first_error = None;
        for vm in candidates {
            match vm.verify_jose(&parsed.header.alg, message, &parsed.signature) {
                Ok(()) => {
                    let at = doc
                        .verification_method
                        .iter()
                        .position(|v| std::ptr::eq(v, vm))
                        .unwrap_or(0);
                    return Ok((doc, at));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(CredentialError::Signature {
            what,
            source: first_error.unwrap_or(did_registry::SignatureError::BadSignature),
        })
    }

    /// Verify a VP-JWT and every credential in it. `now` is unix seconds.
    pub async fn verify_presentation(
        &self,
        token: &str,
        now: i64,
    ) -> Result<VerifiedPresentation, CredentialError> {
        Ok(self
            .verify_presentation_inner(token, now, Expected::default(), false)
            .await?
            .0)
    }

    /// Verify a login presentation bound to `expected` (audience and nonce),
    /// and keep what [`Verifier::recheck`] needs to check it again later.
    pub async fn verify_login(
        &self,
        token: &str,
        now: i64,
        expected: Expected<'_>,
    ) -> Result<(VerifiedPresentation, Binding), CredentialError> {
        let (vp, binding) = self
            .verify_presentation_inner(token, now, expected, true)
            .await?;
        let binding = binding.ok_or_else(|| CredentialError::malformed("no binding"))?;
        Ok((vp, binding))
    }

    async fn verify_presentation_inner(
        &self,
        token: &str,
        now: i64,
        expected: Expected<'_>,
        bind: bool,
    ) -> Result<(VerifiedPresentation, Option<Binding>), CredentialError> {
        let parsed = jws::parse(token)?;
        let p = &parsed.payload;
        let v2 = is_typ(
            parsed.header.typ.as_deref(),
            &["vp+jwt", "vp+ld+jwt", "vp-ld+jwt"],
        );
        let (holder, vcs) = if v2 {
            let holder = id_of(p.get("holder"))
                .or_else(|| str_field(p, "iss"))
                .ok_or_else(|| CredentialError::malformed("the presentation names no holder"))?;
            if let Some(iss) = str_field(p, "iss") {
                if iss != holder {
                    return Err(CredentialError::malformed("iss and holder differ"));
                }
            }
            (holder, p.get("verifiableCredential"))
        } else {
            let vp = p.get("vp").filter(|v| v.is_object()).ok_or_else(|| {
                CredentialError::malformed("not a presentation: no vp claim and typ is not vp+jwt")
            })?;
            let holder = str_field(p, "iss").ok_or_else(|| {
                CredentialError::malformed("the presentation has no iss (holder)")
            })?;
            if let Some(h) = id_of(vp.get("holder")) {
                if h != holder {
                    return Err(CredentialError::malformed("iss and vp.holder differ"));
                }
            }
            (holder, vp.get("verifiableCredential"))
        };
        if !holder.starts_with("did:") {
            return Err(CredentialError::malformed("the holder is not a DID"));
        }

        let (holder_doc, holder_key) = self
            .check_signature(&parsed, holder, Purpose::Authentication, "presentation")
            .await?;

        // Time.
        let skew = self.config.clock_skew_secs;
        let exp = int_field(p, "exp")?.ok_or(CredentialError::PresentationExpMissing)?;
        if exp < now - skew {
            return Err(CredentialError::PresentationExpired { exp });
        }
        let nbf = int_field(p, "nbf")?;
        let iat = int_field(p, "iat")?;
        for t in [nbf, iat].into_iter().flatten() {
            if t > now + skew {
                return Err(CredentialError::NotYetValid {
                    what: "presentation",
                    nbf: t,
                });
            }
        }
        let start = nbf.or(iat).unwrap_or(now).min(now);
        let lifetime = exp - start;
        if lifetime > self.config.max_presentation_lifetime_secs {
            return Err(CredentialError::PresentationLifetimeTooLong {
                lifetime,
                max: self.config.max_presentation_lifetime_secs,
            });
        }

        // Audience.
        let accepted = |a: &str| match expected.audience {
            Some(x) => a == x,
            None => self.config.audiences.iter().any(|x| x == a),
        };
        let aud_ok = match p.get("aud") {
            Some(Value::String(a)) => accepted(a),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(accepted),
            _ => false,
        };
        if !aud_ok {
            let got = match p.get("aud") {
                Some(v) => v.to_string(),
                None => "none".into(),
            };
            return Err(CredentialError::WrongAudience {
                got: got.chars().take(200).collect(),
            });
        }

        if let Some(want) = expected.nonce {
            if str_field(p, "nonce") != Some(want) {
                return Err(CredentialError::WrongNonce);
            }
        }

        // Replay id.
        let replay_id = str_field(p, "jti")
            .or_else(|| str_field(p, "nonce"))
            .filter(|s| !s.is_empty())
            .ok_or(CredentialError::ReplayIdMissing)?
            .to_owned();

        // Credentials.
        let list: Vec<&Value> = match vcs {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(other) => vec![other],
        };
        if list.is_empty() {
            return Err(CredentialError::NoCredential);
        }
        if list.len() > MAX_CREDENTIALS {
            return Err(CredentialError::malformed(format!(
                "more than {MAX_CREDENTIALS} credentials"
            )));
        }
        let mut credentials = Vec::with_capacity(list.len());
        let mut bound = Vec::with_capacity(if bind { list.len() } else { 0 });
        for item in list {
            let vc_token = match item {
                Value::String(s) => s.as_str(),
                Value::Object(o) => {
                    let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                    id.strip_prefix("data:application/vc+jwt,")
                        .or_else(|| id.strip_prefix("data:application/vc-ld+jwt,"))
                        .ok_or_else(|| {
                            CredentialError::malformed(
                                "credentials must be VC-JWTs or EnvelopedVerifiableCredential data: URLs",
                            )
                        })?
                }
                _ => {
                    return Err(CredentialError::malformed(
                        "a credential entry is neither a JWT nor an object",
                    ))
                }
            };
            let checked = self.verify_credential_checked(vc_token, now).await?;
            let vc = checked.vc.clone();
            if vc.subject != holder {
                return Err(CredentialError::SubjectNotHolder {
                    subject: vc.subject,
                    holder: holder.to_owned(),
                });
            }
            if !self
                .config
                .trusted_issuers
                .is_trusted(&vc.types, &vc.issuer)
            {
                return Err(CredentialError::IssuerNotTrusted {
                    issuer: vc.issuer,
                    types: vc.types,
                });
            }
            credentials.push(vc);
            if bind {
                bound.push(BoundCredential {
                    token: vc_token.to_owned(),
                    checked: ArcSwap::new(checked),
                });
            }
        }
        let binding = bind.then(|| Binding {
            holder: holder.to_owned(),
            holder_key: holder_doc.verification_method[holder_key].clone(),
            holder_doc: ArcSwapOption::new((!immutable_method(holder)).then_some(holder_doc)),
            credentials: bound,
        });
        Ok((
            VerifiedPresentation {
                holder: holder.to_owned(),
                replay_id,
                nonce: str_field(p, "nonce").map(str::to_owned),
                expires_at: exp,
                credentials,
            },
            binding,
        ))
    }

    /// Check a [`Binding`] again at `now`: the holder's signing key is still
    /// the holder's, and every credential is still valid, unrevoked and
    /// signed by a key its issuer still holds. No signature is checked unless
    /// a DID document changed since the last check.
    pub async fn recheck(&self, binding: &Binding, now: i64) -> Result<(), CredentialError> {
        if let Some(known) = binding.holder_doc.load_full() {
            let doc = self.resolve(&binding.holder).await?;
            if !Arc::ptr_eq(&known, &doc) {
                let kept = doc
                    .keys_for(Some(&binding.holder_key.id), Purpose::Authentication)
                    .is_ok_and(|keys| keys.iter().any(|k| **k == binding.holder_key));
                if !kept {
                    return Err(CredentialError::Resolve {
                        did: binding.holder.clone(),
                        source: ResolveError::KeyNotFound {
                            kid: binding.holder_key.id.clone(),
                            reason: "the key that signed in is no longer the holder's".into(),
                        },
                    });
                }
                binding.holder_doc.store(Some(doc));
            }
        }
        for c in &binding.credentials {
            let checked = c.checked.load();
            if self.still_verified(&checked).await? {
                self.check_time(checked.vc.expires_at, checked.not_before, now)?;
                self.check_status(&checked.status).await?;
            } else {
                let fresh = Arc::new(self.verify_credential_fully(&c.token, now).await?);
                if fresh.vc.subject != binding.holder {
                    return Err(CredentialError::SubjectNotHolder {
                        subject: fresh.vc.subject.clone(),
                        holder: binding.holder.clone(),
                    });
                }
                c.checked.store(fresh);
            }
        }
        Ok(())
    }

    /// Rebuild a [`Binding`] from what a session stored (the holder, the id of
    /// the key that signed in, the VC-JWTs), verifying every credential again
    /// in full: holder binding, trust, signature, time and status. Returns
    /// the credentials as verified now.
    pub async fn rebind(
        &self,
        holder: &str,
        holder_key_id: &str,
        tokens: &[String],
        now: i64,
    ) -> Result<(Vec<VerifiedCredential>, Binding), CredentialError> {
        if tokens.is_empty() {
            return Err(CredentialError::NoCredential);
        }
        let doc = self.resolve(holder).await?;
        let holder_key = doc
            .keys_for(Some(holder_key_id), Purpose::Authentication)
            .map_err(|source| CredentialError::Resolve {
                did: holder.to_owned(),
                source,
            })?
            .first()
            .map(|k| (*k).clone())
            .ok_or_else(|| CredentialError::Resolve {
                did: holder.to_owned(),
                source: ResolveError::KeyNotFound {
                    kid: holder_key_id.to_owned(),
                    reason: "not listed under authentication".into(),
                },
            })?;
        let mut credentials = Vec::with_capacity(tokens.len());
        let mut bound = Vec::with_capacity(tokens.len());
        for token in tokens {
            let checked = self.verify_credential_checked(token, now).await?;
            if checked.vc.subject != holder {
                return Err(CredentialError::SubjectNotHolder {
                    subject: checked.vc.subject.clone(),
                    holder: holder.to_owned(),
                });
            }
            if !self
                .config
                .trusted_issuers
                .is_trusted(&checked.vc.types, &checked.vc.issuer)
            {
                return Err(CredentialError::IssuerNotTrusted {
                    issuer: checked.vc.issuer.clone(),
                    types: checked.vc.types.clone(),
                });
            }
            credentials.push(checked.vc.clone());
            bound.push(BoundCredential {
                token: token.clone(),
                checked: ArcSwap::new(checked),
            });
        }
        Ok((
            credentials,
            Binding {
                holder: holder.to_owned(),
                holder_key,
                holder_doc: ArcSwapOption::new((!immutable_method(holder)).then_some(doc)),
                credentials: bound,
            },
        ))
    }

    /// Verify one VC-JWT's signature, validity period and status (trust and
    /// holder binding are the presentation's checks).
    pub async fn verify_credential(
        &self,
        token: &str,
        now: i64,
    ) -> Result<VerifiedCredential, CredentialError> {
        Ok(self.verify_credential_checked(token, now).await?.vc.clone())
    }

    /// [`Verifier::verify_credential`], returning what was checked.
    async fn verify_credential_checked(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Arc<CachedCredential>, CredentialError> {
        let Some(cache) = &self.verified else {
            return Ok(Arc::new(self.verify_credential_fully(token, now).await?));
        };
        if let Some(hit) = cache.get(token) {
            if self.still_verified(&hit).await? {
                self.check_time(hit.vc.expires_at, hit.not_before, now)?;
                self.check_status(&hit.status).await?;
                return Ok(hit);
            }
        }
        let fresh = Arc::new(self.verify_credential_fully(token, now).await?);
        cache.insert(token.to_owned(), fresh.clone());
        Ok(fresh)
    }

    /// Whether a cached credential's signature still stands: its issuer's
    /// document is the one it was checked against (a did:ethr key change or
    /// deactivation makes a new one, or an error).
    async fn still_verified(&self, hit: &CachedCredential) -> Result<bool, CredentialError> {
        match &hit.issuer_doc {
            None => Ok(true),
            Some(doc) => Ok(Arc::ptr_eq(doc, &self.resolve(&hit.vc.issuer).await?)),
        }
    }

    fn check_time(
        &self,
        expires_at: Option<i64>,
        not_before: Option<i64>,
        now: i64,
    ) -> Result<(), CredentialError> {
        let skew = self.config.clock_skew_secs;
        if let Some(e) = expires_at {
            if e < now - skew {
                return Err(CredentialError::CredentialExpired { exp: e });
            }
        }
        if let Some(t) = not_before {
            if t > now + skew {
                return Err(CredentialError::NotYetValid {
                    what: "credential",
                    nbf: t,
                });
            }
        }
        Ok(())
    }

    async fn check_status(&self, entries: &[StatusEntry]) -> Result<(), CredentialError> {
        for entry in entries {
            match &self.status {
                Some(checker) => checker.check(entry).await?,
                None => {
                    return Err(StatusError::Unsupported {
                        list: entry.list.clone(),
                        reason: "this verifier checks no credential status".into(),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }

    async fn verify_credential_fully(
        &self,
        token: &str,
        now: i64,
    ) -> Result<CachedCredential, CredentialError> {
        let parsed = jws::parse(token)?;
        let p = &parsed.payload;
        let v2 = is_typ(
            parsed.header.typ.as_deref(),
            &["vc+jwt", "vc+ld+jwt", "vc-ld+jwt"],
        );
        let (format, body) = if v2 {
            (Format::VcJwt20, p)
        } else {
            let vc = p.get("vc").filter(|v| v.is_object()).ok_or_else(|| {
                CredentialError::malformed("not a credential: no vc claim and typ is not vc+jwt")
            })?;
            (Format::JwtVc11, vc)
        };
        let issuer = match format {
            Format::JwtVc11 => str_field(p, "iss").or_else(|| id_of(body.get("issuer"))),
            Format::VcJwt20 => id_of(body.get("issuer")).or_else(|| str_field(p, "iss")),
        }
        .ok_or_else(|| CredentialError::malformed("the credential names no issuer"))?;
        for other in [str_field(p, "iss"), id_of(body.get("issuer"))]
            .into_iter()
            .flatten()
        {
            if other != issuer {
                return Err(CredentialError::malformed("iss and issuer differ"));
            }
        }
        if !issuer.starts_with("did:") {
            return Err(CredentialError::malformed("the issuer is not a DID"));
        }

        let (issuer_doc, _) = self
            .check_signature(&parsed, issuer, Purpose::AssertionMethod, "credential")
            .await?;

        let subject_obj = match body.get("credentialSubject") {
            Some(Value::Object(o)) => o,
            Some(Value::Array(a)) if a.len() == 1 => a[0]
                .as_object()
                .ok_or_else(|| CredentialError::malformed("credentialSubject is not an object"))?,
            _ => {
                return Err(CredentialError::malformed(
                    "credentialSubject must be one object",
                ))
            }
        };
        let subject = match (
            str_field(p, "sub"),
            subject_obj.get("id").and_then(Value::as_str),
        ) {
            (Some(a), Some(b)) if a != b => {
                return Err(CredentialError::malformed(
                    "sub and credentialSubject.id differ",
                ))
            }
            (Some(s), _) | (None, Some(s)) => s.to_owned(),
            (None, None) => {
                return Err(CredentialError::malformed("the credential has no subject"))
            }
        };
        let types = types_of(body.get("type"))?;
        if !types.iter().any(|t| t == "VerifiableCredential") {
            return Err(CredentialError::malformed(
                "type does not include VerifiableCredential",
            ));
        }

        // Validity period: every stated bound must hold.
        let exp = int_field(p, "exp")?;
        let until = match format {
            Format::VcJwt20 => rfc3339(body, "validUntil")?,
            Format::JwtVc11 => rfc3339(body, "expirationDate")?,
        };
        let expires_at = [exp, until].into_iter().flatten().min();
        let from = match format {
            Format::VcJwt20 => rfc3339(body, "validFrom")?,
            Format::JwtVc11 => rfc3339(body, "issuanceDate")?,
        };
        let not_before = [int_field(p, "nbf")?, from].into_iter().flatten().max();
        self.check_time(expires_at, not_before, now)?;

        // Status last: only a credential that is otherwise valid is looked up.
        let status = match body.get("credentialStatus") {
            None | Some(Value::Null) => Vec::new(),
            Some(status) => StatusEntry::from_json(issuer, status)?,
        };
        self.check_status(&status).await?;

        let mut claims = subject_obj.clone();
        claims.remove("id");
        let id = str_field(p, "jti")
            .or_else(|| str_field(body, "id"))
            .map(str::to_owned);
        Ok(CachedCredential {
            vc: VerifiedCredential {
                id,
                issuer: issuer.to_owned(),
                subject,
                types,
                claims,
                expires_at,
                format,
            },
            issuer_doc: (!immutable_method(issuer)).then_some(issuer_doc),
            not_before,
            status,
        })
    }
}
