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

    /// The credential's own types that `issuer` is trusted for
    /// (`VerifiableCredential` never counts): a credential counts only for
    /// these, whatever else it says it is.
    pub fn trusted_types(&self, types: &[String], issuer: &str) -> Vec<String> {
        types
            .iter()
            .filter(|t| t.as_str() != "VerifiableCredential")
            .filter(|t| self.by_type.get(*t).is_some_and(|s| s.contains(issuer)))
            .cloned()
            .collect()
    }

    /// Trusted for at least one of the credential's own types.
    pub fn is_trusted(&self, types: &[String], issuer: &str) -> bool {
        !self.trusted_types(types, issuer).is_empty()
    }

    /// The types for a credential of `issuer` stating `types`, or why it
    /// counts for none.
    fn check(&self, types: &[String], issuer: &str) -> Result<Vec<String>, CredentialError> {
        let trusted = self.trusted_types(types, issuer);
        if trusted.is_empty() {
            return Err(CredentialError::IssuerNotTrusted {
                issuer: issuer.to_owned(),
                types: types.to_vec(),
            });
        }
        Ok(trusted)
    }
}

/// Earliest time accepted in a token: 1970-01-01T00:00:00Z.
pub const MIN_TIME: i64 = 0;
/// Latest time accepted in a token: 9999-12-31T23:59:59Z. Outside these a
/// time is refused (`time_out_of_range`), so no arithmetic on it can overflow.
pub const MAX_TIME: i64 = 253_402_300_799;

fn in_range(claim: &'static str, t: i64) -> Result<i64, CredentialError> {
    if (MIN_TIME..=MAX_TIME).contains(&t) {
        Ok(t)
    } else {
        Err(CredentialError::TimeOutOfRange { claim })
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
    /// SHA-256 over the holder and the credential tokens, in the order
    /// presented (each behind its length). Two presentations with the same
    /// value carry the same verified holder, issuers, types and claims,
    /// whatever their own `jti`, `nonce` or times: a name for the principal
    /// that lets a caller reuse what it built from it.
    pub principal_digest: [u8; 32],
}

/// [`VerifiedPresentation::principal_digest`].
fn principal_digest(holder: &str, vc_tokens: &[&str]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"didgate principal v1\0");
    for part in std::iter::once(holder).chain(vc_tokens.iter().copied()) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// A credential whose signature and validity period checked out.
#[derive(Debug, Clone)]
pub struct VerifiedCredential {
    pub id: Option<String>,
    pub issuer: String,
    pub subject: String,
    /// In a verified presentation: the types the credential counts for (its
    /// stated types that its issuer is trusted for). From
    /// [`Verifier::verify_credential`]: its stated types.
    pub types: Vec<String>,
    /// `credentialSubject` without `id`.
    /// Shared: a cached credential hands out the same map to every
    /// presentation that carries it.
    pub claims: Arc<Map<String, Value>>,
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

/// A presentation's holder and its VC-JWTs (VCDM 1.1 `vp` claim, or 2.0
/// `vp+jwt` with enveloped credentials), structure only: nothing verified.
fn presentation_parts<'p>(
    parsed: &'p jws::Parsed<'_>,
) -> Result<(&'p str, Vec<&'p str>), CredentialError> {
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
        let holder = str_field(p, "iss")
            .ok_or_else(|| CredentialError::malformed("the presentation has no iss (holder)"))?;
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
    let tokens = list
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.as_str()),
            Value::Object(o) => {
                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                id.strip_prefix("data:application/vc+jwt,")
                    .or_else(|| id.strip_prefix("data:application/vc-ld+jwt,"))
                    .ok_or_else(|| {
                        CredentialError::malformed(
                            "credentials must be VC-JWTs or EnvelopedVerifiableCredential data: URLs",
                        )
                    })
            }
            _ => Err(CredentialError::malformed(
                "a credential entry is neither a JWT nor an object",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((holder, tokens))
}

/// At most one credential counts for each type: a policy that reads the
/// claims of "the EmployeeCredential" reads one credential's, never a merge.
fn one_per_type(credentials: &[VerifiedCredential]) -> Result<(), CredentialError> {
    let mut seen: HashSet<&str> = HashSet::new();
    for t in credentials.iter().flat_map(|c| c.types.iter()) {
        if !seen.insert(t) {
            return Err(CredentialError::DuplicateCredentialType { ty: t.clone() });
        }
    }
    Ok(())
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

/// A NumericDate claim (RFC 7519 §2: seconds, fractions allowed), within
/// [`MIN_TIME`]..=[`MAX_TIME`].
fn int_field(v: &Value, k: &'static str) -> Result<Option<i64>, CredentialError> {
    let secs = match v.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => i,
            None => {
                let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                    CredentialError::malformed(format!("{k} is not a number of seconds"))
                })?;
                // Compared as a float first: a cast would saturate silently.
                if !(MIN_TIME as f64..=MAX_TIME as f64).contains(&f) {
                    return Err(CredentialError::TimeOutOfRange { claim: k });
                }
                f as i64
            }
        },
        Some(_) => return Err(CredentialError::malformed(format!("{k} is not a number"))),
    };
    in_range(k, secs).map(Some)
}

/// An RFC 3339 date-time claim, within [`MIN_TIME`]..=[`MAX_TIME`].
fn rfc3339(v: &Value, k: &'static str) -> Result<Option<i64>, CredentialError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    CredentialError::malformed(format!("{k} is not an RFC 3339 date-time"))
                })?;
            in_range(k, t.unix_timestamp()).map(Some)
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
        let (holder, vc_tokens) = presentation_parts(&parsed)?;

        let (holder_doc, holder_key) = self
            .check_signature(&parsed, holder, Purpose::Authentication, "presentation")
            .await?;

        // Time.
        let skew = self.config.clock_skew_secs;
        let exp = int_field(p, "exp")?.ok_or(CredentialError::PresentationExpMissing)?;
        if exp < now.saturating_sub(skew) {
            return Err(CredentialError::PresentationExpired { exp });
        }
        let nbf = int_field(p, "nbf")?;
        let iat = int_field(p, "iat")?;
        for t in [nbf, iat].into_iter().flatten() {
            if t > now.saturating_add(skew) {
                return Err(CredentialError::NotYetValid {
                    what: "presentation",
                    nbf: t,
                });
            }
        }
        let start = nbf.or(iat).unwrap_or(now).min(now);
        // Both are within MIN_TIME..=MAX_TIME, so this cannot overflow; checked anyway.
        let lifetime = exp
            .checked_sub(start)
            .ok_or(CredentialError::TimeOutOfRange { claim: "exp" })?;
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
        let digest = principal_digest(holder, &vc_tokens);
        let mut credentials = Vec::with_capacity(vc_tokens.len());
        let mut bound = Vec::with_capacity(if bind { vc_tokens.len() } else { 0 });
        let mut statuses: Vec<Arc<CachedCredential>> = Vec::with_capacity(vc_tokens.len());
        for vc_token in vc_tokens {
            let (checked, types) = self.verify_trusted(vc_token, holder, now).await?;
            let mut vc = checked.vc.clone();
            vc.types = types;
            credentials.push(vc);
            if bind {
                bound.push(BoundCredential {
                    token: vc_token.to_owned(),
                    checked: ArcSwap::new(checked.clone()),
                });
            }
            statuses.push(checked);
        }
        one_per_type(&credentials)?;
        // Status last, and only once every credential is trusted, bound to
        // the holder and signed: nothing from an untrusted issuer makes the
        // gateway look anything up.
        for c in &statuses {
            self.check_status(&c.status).await?;
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
                principal_digest: digest,
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
                let trust = Some(&self.config.trusted_issuers);
                let fresh = Arc::new(self.verify_credential_fully(&c.token, now, trust).await?);
                if fresh.vc.subject != binding.holder {
                    return Err(CredentialError::SubjectNotHolder {
                        subject: fresh.vc.subject.clone(),
                        holder: binding.holder.clone(),
                    });
                }
                self.check_status(&fresh.status).await?;
                c.checked.store(fresh);
            }
        }
        Ok(())
    }

    /// Check again, at `now`, a presentation that verified earlier (an
    /// exchange it opened is still going): its holder still holds the key
    /// that signed it, and each credential is still trusted, valid,
    /// unrevoked and signed by a key its issuer still holds. The
    /// presentation's own lifetime and replay id are not checked again: it
    /// was a proof of possession at the time it was used. Cheap on a warm
    /// cache: one signature check, no credential signature.
    pub async fn recheck_presentation(&self, token: &str, now: i64) -> Result<(), CredentialError> {
        let parsed = jws::parse(token)?;
        let (holder, vc_tokens) = presentation_parts(&parsed)?;
        self.check_signature(&parsed, holder, Purpose::Authentication, "presentation")
            .await?;
        let mut checked = Vec::with_capacity(vc_tokens.len());
        for vc in vc_tokens {
            checked.push(self.verify_trusted(vc, holder, now).await?.0);
        }
        for c in &checked {
            self.check_status(&c.status).await?;
        }
        Ok(())
    }

    /// Check a detached signature over `message` by the verification method
    /// `keyid` (a DID URL, `did:…#fragment`): an HTTP message signature
    /// (RFC 9421). The key must be listed under its DID's `authentication`
    /// as the DID resolves now, so a key removed or a DID deactivated on
    /// chain fails from the next block the resolver has seen. `alg` is the
    /// JOSE algorithm the signature states; `None` lets the key decide
    /// (`EdDSA`, `ES256`, `ES256K`; an Ethereum address recovers with
    /// `ES256K`).
    pub async fn verify_detached(
        &self,
        keyid: &str,
        alg: Option<&str>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CredentialError> {
        self.authentication_keys(keyid, |candidates| {
            let mut first_error = None;
            for vm in candidates {
                let alg = alg.unwrap_or(match &vm.material {
                    did_registry::KeyMaterial::Key(k) => k.key_type().jose_alg(),
                    did_registry::KeyMaterial::EthereumAddress(_) => "ES256K",
                });
                match vm.verify_jose(alg, message, signature) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(CredentialError::Signature {
                what: "request",
                source: first_error.unwrap_or(did_registry::SignatureError::BadSignature),
            })
        })
        .await?
    }
    /// Whether the verification method `keyid` is still listed under its
    /// DID's `authentication` (an exchange a signed request opened is
    /// still going): no signature is checked.
    pub async fn check_authentication_key(&self, keyid: &str) -> Result<(), CredentialError> {
        self.authentication_keys(keyid, |_| ()).await
    }

    /// The id of the verification method under `did_url`'s DID's
    /// `authentication`, as the DID resolves now, whose public key is
    /// `key` (a client certificate's): `Ok(None)` when no such key is
    /// listed. With a fragment, `did_url` names the one method to compare.
    /// No signature is checked: the TLS handshake proved possession.
    pub async fn authentication_key_matching(
        &self,
        did_url: &str,
        key: &did_registry::PublicKey,
    ) -> Result<Option<String>, CredentialError> {
        let (did, fragment) = match did_url.split_once('#') {
            Some((did, _)) => (did, Some(did_url)),
            None => (did_url, None),
        };
        let doc = self.resolve(did).await?;
        let Ok(keys) = doc.keys_for(fragment, Purpose::Authentication) else {
            return Ok(None);
        };
        Ok(keys
            .into_iter()
            .find(|vm| matches!(&vm.material, did_registry::KeyMaterial::Key(k) if k == key))
            .map(|vm| vm.id.clone()))
    }

    /// `f` of the verification methods `keyid` (a DID URL with a fragment)
    /// names under its DID's `authentication`, as the DID resolves now.
    async fn authentication_keys<R>(
        &self,
        keyid: &str,
        f: impl FnOnce(Vec<&VerificationMethod>) -> R,
    ) -> Result<R, CredentialError> {
        let did = keyid
            .split_once('#')
            .map(|(did, _)| did)
            .filter(|did| !did.is_empty())
            .ok_or_else(|| CredentialError::Resolve {
                did: String::new(),
                source: ResolveError::KeyNotFound {
                    kid: keyid.chars().take(200).collect(),
                    reason: "keyid is not a DID URL with a fragment (did:…#key)".into(),
                },
            })?;
        let doc = self.resolve(did).await?;
        let keys = doc
            .keys_for(Some(keyid), Purpose::Authentication)
            .map_err(|source| CredentialError::Resolve {
                did: did.to_owned(),
                source,
            })?;
        Ok(f(keys))
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
            let (checked, types) = self.verify_trusted(token, holder, now).await?;
            let mut vc = checked.vc.clone();
            vc.types = types;
            credentials.push(vc);
            bound.push(BoundCredential {
                token: token.clone(),
                checked: ArcSwap::new(checked),
            });
        }
        one_per_type(&credentials)?;
        for c in &bound {
            self.check_status(&c.checked.load().status).await?;
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
        let checked = self.verify_credential_checked(token, now, None).await?;
        self.check_status(&checked.status).await?;
        Ok(checked.vc.clone())
    }

    /// A credential of a presentation by `holder`: its issuer trusted for at
    /// least one of its types (checked before anything is resolved), then
    /// its signature and validity period, then bound to the holder. Returns
    /// it with the types it counts for. Its status is the caller's to check.
    async fn verify_trusted(
        &self,
        token: &str,
        holder: &str,
        now: i64,
    ) -> Result<(Arc<CachedCredential>, Vec<String>), CredentialError> {
        let trust = &self.config.trusted_issuers;
        let checked = self
            .verify_credential_checked(token, now, Some(trust))
            .await?;
        if checked.vc.subject != holder {
            return Err(CredentialError::SubjectNotHolder {
                subject: checked.vc.subject.clone(),
                holder: holder.to_owned(),
            });
        }
        let types = trust.check(&checked.vc.types, &checked.vc.issuer)?;
        Ok((checked, types))
    }

    /// Signature and validity period, from the cache when the same token
    /// verified before. With `trust`, an issuer trusted for none of the
    /// credential's types is refused before its DID is resolved. Status is
    /// not checked here.
    async fn verify_credential_checked(
        &self,
        token: &str,
        now: i64,
        trust: Option<&TrustedIssuers>,
    ) -> Result<Arc<CachedCredential>, CredentialError> {
        let cache = match &self.verified {
            Some(cache) => cache,
            None => {
                return Ok(Arc::new(
                    self.verify_credential_fully(token, now, trust).await?,
                ))
            }
        };
        if let Some(hit) = cache.get(token) {
            if let Some(trust) = trust {
                trust.check(&hit.vc.types, &hit.vc.issuer)?;
            }
            if self.still_verified(&hit).await? {
                self.check_time(hit.vc.expires_at, hit.not_before, now)?;
                return Ok(hit);
            }
        }
        let fresh = Arc::new(self.verify_credential_fully(token, now, trust).await?);
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
            if e < now.saturating_sub(skew) {
                return Err(CredentialError::CredentialExpired { exp: e });
            }
        }
        if let Some(t) = not_before {
            if t > now.saturating_add(skew) {
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
        trust: Option<&TrustedIssuers>,
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
        let types = types_of(body.get("type"))?;
        if !types.iter().any(|t| t == "VerifiableCredential") {
            return Err(CredentialError::malformed(
                "type does not include VerifiableCredential",
            ));
        }
        // Trust before any lookup: the issuer and types are not yet verified,
        // but an issuer trusted for none of them is refused whatever the
        // signature says (and, if it verifies, the same check runs again).
        if let Some(trust) = trust {
            trust.check(&types, issuer)?;
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

        // Status entries are read here and checked by the caller, last.
        let status = match body.get("credentialStatus") {
            None | Some(Value::Null) => Vec::new(),
            Some(status) => StatusEntry::from_json(issuer, status)?,
        };

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
                claims: Arc::new(claims),
                expires_at,
                format,
            },
            issuer_doc: (!immutable_method(issuer)).then_some(issuer_doc),
            not_before,
            status,
        })
    }
}
