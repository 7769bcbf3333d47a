//! Signed requests (RFC 9421 HTTP Message Signatures): a service proves
//! each request with its own DID key, and presents the credentials that
//! give it claims once, not per call.
//!
//! What a signature must be for the gateway to accept it (the message
//! format itself is the `http-signatures` crate's):
//! - the one signature tagged `didgate` (or the request's only signature,
//!   untagged);
//! - covering `@method`, and `@target-uri` or `@authority` + `@path` (+
//!   `@query` when the request has a query), and `content-digest` when the
//!   request has a body, whose digest is checked against the body before
//!   anything is forwarded;
//! - with `created`, `expires` (at most `[credentials]
//!   signature_max_validity_secs` after `created`), a `nonce` never seen
//!   before from this DID within the window, and a `keyid` that is a DID
//!   URL of a verification method under the DID's `authentication` as the
//!   DID resolves now (did:key, did:jwk, did:ethr with its on-chain
//!   delegates), whose signature over the base verifies (`ed25519`,
//!   `ecdsa-p256-sha256`, `ecdsa-secp256k1-sha256`; never HMAC).
//!
//! Credentials: a signed request may carry a VP-JWT in
//! [`PRESENTATION_HEADER`], by the signing DID and for this gateway's
//! audience. Once it verifies, its credentials are the service's claims on
//! every later signed request from that DID, checked again on each (expiry,
//! status, issuer keys, the presenting key) at no signature cost, until
//! they expire or are revoked, or the service presents others. A signed
//! request without any is its DID alone: policies can name it.

use std::sync::Arc;
use std::time::Duration;

use credentials::{Binding, Expected, Verifier};
use http::header::HeaderName;
use http::uri::Scheme;
use http::{HeaderMap, Method, Uri};
use http_signatures::{Component, ParsedSignature, RequestView};
use moka::sync::Cache;

use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::{credential_refusal, Refusal};
use crate::request::replay::{ReplayCache, ReplayError};

/// The header a signed request presents its credentials in: a VP-JWT by
/// the signing DID. Stripped before forwarding, like every `x-didgate-*`.
pub const PRESENTATION_HEADER: HeaderName = HeaderName::from_static("x-didgate-presentation");

/// The `tag` of the signatures the gateway reads (RFC 9421 §2.3).
pub const TAG: &str = "didgate";

pub use crate::request::refusal::ACCEPT_SIGNATURE;

/// How long presented credentials are kept for a service that sends no
/// signed request at all.
const PRESENTED_IDLE: Duration = Duration::from_secs(24 * 3600);

/// `[credentials]` settings for signed requests.
#[derive(Debug, Clone, Copy)]
pub struct SignatureSettings {
    pub max_validity_secs: i64,
    pub clock_skew_secs: i64,
    pub max_body_bytes: usize,
    pub nonce_capacity: u64,
    pub presented_capacity: u64,
}

/// The signed-request side of authentication: remembered nonces and
/// presented credentials.
pub struct SignedRequests {
    nonces: ReplayCache,
    presented: Cache<Box<str>, Arc<Presented>>,
    /// The principals of DIDs that presented no credentials, made once.
    did_only: Cache<String, (Arc<Principal>, [u8; 16])>,
    settings: SignatureSettings,
}

/// Credentials a service presented once, kept for its later requests.
#[derive(Debug)]
pub struct Presented {
    token: Box<str>,
    pub principal: Arc<Principal>,
    pub principal_key: [u8; 16],
    binding: Binding,
}

/// What a verified request signature established, kept with the identity
/// (and with an exchange that stays open, to check the key again).
#[derive(Debug)]
pub struct SignedBy {
    /// The DID URL of the key that signed.
    pub keyid: Box<str>,
    /// The credentials the service presented, if any.
    pub presented: Option<Arc<Presented>>,
    /// `content-digest` is covered: the body must match it before the
    /// request goes anywhere.
    pub digest_covered: bool,
}

/// The request as received, before the gateway normalised its target: what
/// the signer signed.
pub struct Received<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub version: http::Version,
    pub headers: &'a HeaderMap,
    /// `https` when the listener terminated TLS.
    pub scheme: Scheme,
    /// Whether a body follows the header section.
    pub has_body: bool,
}

/// A verified signed request: who, under which principal name.
pub struct Verified {
    pub principal: Arc<Principal>,
    pub principal_key: [u8; 16],
    pub signed: SignedBy,
}

/// A refusal of a signed request: `code`, a `Signature` challenge.
pub(crate) fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    let mut r = Refusal::new(Reason::Signature(code), message);
    r.signed = true;
    r
}

fn signature_error(e: &http_signatures::Error) -> Refusal {
    refuse(e.reason(), e.to_string())
}

impl SignedRequests {
    pub fn new(settings: SignatureSettings) -> Self {
        Self {
            nonces: ReplayCache::new(settings.nonce_capacity),
            presented: Cache::builder()
                .max_capacity(settings.presented_capacity)
                .time_to_idle(PRESENTED_IDLE)
                .build(),
            did_only: Cache::builder()
                .max_capacity(settings.presented_capacity)
                .time_to_idle(PRESENTED_IDLE)
                .build(),
            settings,
        }
    }

    /// The largest body a signed request may have (it is read whole to
    /// check its digest).
    pub fn max_body_bytes(&self) -> usize {
        self.settings.max_body_bytes
    }

    /// Verify a signed request at `now` (Unix seconds), or say precisely
    /// why not. Order: the headers are read and bounded, the policy on
    /// components and times is checked, then the key is resolved and the
    /// signature verified, and only then is the nonce remembered and a
    /// presentation looked at: nothing unauthenticated makes the gateway
    /// resolve a presentation's DIDs or fill its caches.
    pub async fn authenticate(
        &self,
        verifier: &Verifier,
        req: &Received<'_>,
        now: i64,
    ) -> Result<Verified, Refusal> {
        let signatures = http_signatures::parse_signature_headers(
            req.headers.get_all("signature-input"),
            req.headers.get_all("signature"),
        )
        .map_err(|e| signature_error(&e))?;
        let sig = pick(&signatures)?;
        let params = &sig.params;
        let digest_covered = self.check_coverage(req, params)?;
        let (keyid, nonce, expires) = self.check_params(params, now)?;

        let authority = authority(req);
        let mut view = RequestView::from_components(
            req.method,
            req.uri,
            req.version,
            req.headers,
            req.scheme.clone(),
        );
        if let Some(a) = authority {
            view = view.with_authority(http_signatures::without_default_port(&req.scheme, a));
        }
        let base =
            http_signatures::signature_base(&view, params).map_err(|e| signature_error(&e))?;
        verifier
            .verify_detached(
                keyid,
                params.alg().map(http_signatures::Algorithm::jose_alg),
                &base,
                &sig.signature,
            )
            .await
            .map_err(|e| {
                let mut r = credential_refusal(&e);
                r.signed = true;
                r
            })?;
        let did = keyid.split_once('#').map_or(keyid, |(did, _)| did);

        match self
            .nonces
            .first_use(did, nonce, expires, now, self.settings.clock_skew_secs)
        {
            Ok(()) => {}
            Err(ReplayError::Replayed) => {
                return Err(refuse(
                    "replayed_signature",
                    "this signature's nonce was already used; sign every request afresh",
                ))
            }
            Err(ReplayError::Full) => {
                tracing::error!(
                    "signature nonce cache full; raise credentials.replay_cache_capacity"
                );
                return Err(Refusal::new(
                    Reason::ReplayCacheFull,
                    "the gateway cannot remember more signatures right now; try again shortly",
                ));
            }
        }

        let presented = self.presented_for(verifier, req.headers, did, now).await?;
        let (principal, principal_key) = self.principal_of(did, presented.as_deref());
        Ok(Verified {
            principal,
            principal_key,
            signed: SignedBy {
                keyid: keyid.into(),
                presented,
                digest_covered,
            },
        })
    }

    /// The covered components the gateway requires; whether
    /// `content-digest` is among them.
    fn check_coverage(
        &self,
        req: &Received<'_>,
        params: &http_signatures::SignatureParams,
    ) -> Result<bool, Refusal> {
        let covers = |c: &Component| params.components.contains(c);
        let required = |what: &str| {
            refuse(
                "signature_component_required",
                format!("the signature must cover {what}"),
            )
        };
        if !covers(&Component::Method) {
            return Err(required("\"@method\""));
        }
        let whole_target = covers(&Component::TargetUri);
        if !whole_target {
            if !covers(&Component::Authority) || !covers(&Component::Path) {
                return Err(required(
                    "\"@target-uri\", or \"@authority\" and \"@path\" (and \"@query\")",
                ));
            }
            if req.uri.query().is_some() && !covers(&Component::Query) {
                return Err(required("\"@query\" when the request has a query"));
            }
        }
        let digest = covers(&Component::Field(HeaderName::from_static("content-digest")));
        if req.has_body && !digest {
            return Err(required(
                "\"content-digest\" when the request has a body (RFC 9530)",
            ));
        }
        Ok(digest)
    }

    /// `created`, `expires`, `nonce` and `keyid` as the gateway requires
    /// them: the `keyid`, the `nonce` and `expires` as Unix seconds.
    fn check_params<'p>(
        &self,
        params: &'p http_signatures::SignatureParams,
        now: i64,
    ) -> Result<(&'p str, &'p str, i64), Refusal> {
        let missing = |code, what| refuse(code, format!("the signature has no {what} parameter"));
        // Both are at most 15 digits (RFC 8941 integers): they fit an i64.
        let created = params
            .created()
            .ok_or_else(|| missing("signature_created_missing", "created"))?;
        let expires = params
            .expires()
            .ok_or_else(|| missing("signature_expires_missing", "expires"))?;
        let created = i64::try_from(created).unwrap_or(i64::MAX);
        let expires = i64::try_from(expires).unwrap_or(i64::MAX);
        let nonce = params
            .nonce()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("signature_nonce_missing", "nonce"))?;
        let keyid = params
            .keyid()
            .ok_or_else(|| missing("signature_keyid_missing", "keyid"))?;
        let skew = self.settings.clock_skew_secs;
        let max = self.settings.max_validity_secs;
        if expires < created {
            return Err(refuse(
                "signature_window_invalid",
                "the signature expires before it was created",
            ));
        }
        if expires.saturating_sub(created) > max {
            return Err(refuse(
                "signature_validity_too_long",
                format!("the signature is valid for more than {max} s after created"),
            ));
        }
        if created > now.saturating_add(skew) {
            return Err(refuse(
                "signature_not_yet_valid",
                "the signature was created in the future; check the signer's clock",
            ));
        }
        if expires.saturating_add(skew) < now {
            return Err(refuse(
                "signature_expired",
                "the signature has expired; sign every request afresh",
            ));
        }
        Ok((keyid, nonce, expires))
    }

    /// The principal of a request by `did`: its presented credentials', or
    /// the DID alone (made once per DID, not per request).
    pub(crate) fn principal_of(
        &self,
        did: &str,
        presented: Option<&Presented>,
    ) -> (Arc<Principal>, [u8; 16]) {
        match presented {
            Some(p) => (p.principal.clone(), p.principal_key),
            None => self.did_only.get_with_by_ref(did, || {
                (
                    Arc::new(Principal::from_credentials(did.to_owned(), Vec::new())),
                    did_only_key(did),
                )
            }),
        }
    }

    /// The credentials this request's DID presented: the ones in its
    /// [`PRESENTATION_HEADER`] (verified once, then reused while the same
    /// token comes again), else the ones it presented earlier, checked
    /// again now.
    pub(crate) async fn presented_for(
        &self,
        verifier: &Verifier,
        headers: &HeaderMap,
        did: &str,
        now: i64,
    ) -> Result<Option<Arc<Presented>>, Refusal> {
        let mut values = headers.get_all(&PRESENTATION_HEADER).iter();
        let header = values.next();
        if values.next().is_some() {
            return Err(Refusal::new(
                Reason::AmbiguousCredentials,
                "send at most one X-Didgate-Presentation header",
            ));
        }
        let known = self.presented.get(did);
        if let Some(value) = header {
            let token = value
                .to_str()
                .map_err(|_| {
                    Refusal::new(
                        Reason::MalformedToken,
                        "the X-Didgate-Presentation header is not ASCII",
                    )
                })?
                .trim();
            if known.as_ref().is_none_or(|k| *k.token != *token) {
                return self.present(verifier, did, token, now).await.map(Some);
            }
        }
        let Some(known) = known else {
            return Ok(None);
        };
        let fail = |e: &credentials::CredentialError| {
            let mut r = credential_refusal(e);
            r.message.push_str(
                "; present current credentials in X-Didgate-Presentation with the next signed request",
            );
            r.signed = true;
            r
        };
        if let Err(e) = verifier.recheck(&known.binding, now).await {
            if !e.is_unavailable() {
                self.presented.invalidate(did);
            }
            return Err(fail(&e));
        }
        Ok(Some(known))
    }

    /// Verify a presentation by `did` and keep it for `did`'s requests.
    async fn present(
        &self,
        verifier: &Verifier,
        did: &str,
        token: &str,
        now: i64,
    ) -> Result<Arc<Presented>, Refusal> {
        let (vp, binding) = verifier
            .verify_login(token, now, Expected::default())
            .await
            .map_err(|e| {
                let mut r = credential_refusal(&e);
                r.signed = true;
                r
            })?;
        if vp.holder != did {
            return Err(refuse(
                "presentation_not_signer",
                "the presentation's holder is not the DID the request is authenticated as \
                 (the signing key's, or the client certificate's)",
            ));
        }
        let mut principal_key = [0; 16];
        principal_key.copy_from_slice(&vp.principal_digest[..16]);
        let presented = Arc::new(Presented {
            token: token.into(),
            principal: Arc::new(Principal::from_credentials(vp.holder, vp.credentials)),
            principal_key,
            binding,
        });
        self.presented.insert(did.into(), presented.clone());
        tracing::info!(subject = %did, "service presented credentials");
        Ok(presented)
    }

    /// Check again, at `now`, what an exchange that stays open was allowed
    /// on: the signing key is still the DID's, and the credentials still
    /// hold.
    pub async fn recheck(
        &self,
        verifier: &Verifier,
        signed: &SignedBy,
        now: i64,
    ) -> Result<(), Refusal> {
        verifier
            .check_authentication_key(&signed.keyid)
            .await
            .map_err(|e| credential_refusal(&e))?;
        if let Some(p) = &signed.presented {
            p.recheck(verifier, now).await?;
        }
        Ok(())
    }
}

impl Presented {
    /// Check the presented credentials again at `now` (expiry, status,
    /// issuer keys, the presenting key): an exchange that stays open.
    pub async fn recheck(&self, verifier: &Verifier, now: i64) -> Result<(), Refusal> {
        verifier
            .recheck(&self.binding, now)
            .await
            .map_err(|e| credential_refusal(&e))
    }
}

/// The one signature the gateway reads.
fn pick(signatures: &[ParsedSignature]) -> Result<&ParsedSignature, Refusal> {
    let mut tagged = signatures.iter().filter(|s| s.params.tag() == Some(TAG));
    match (tagged.next(), tagged.next()) {
        (Some(s), None) => Ok(s),
        (Some(_), Some(_)) => Err(refuse(
            "signature_ambiguous",
            "more than one signature is tagged \"didgate\"",
        )),
        (None, _) => match signatures {
            [only] if only.params.tag().is_none() => Ok(only),
            _ => Err(refuse(
                "signature_not_found",
                "no signature is tagged \"didgate\" (or is the request's only, untagged, signature)",
            )),
        },
    }
}

/// The authority the request named: its URI's (HTTP/2, absolute form) or
/// its one `Host`.
fn authority<'a>(req: &Received<'a>) -> Option<&'a str> {
    if let Some(a) = req.uri.authority() {
        return Some(a.as_str());
    }
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().ok(),
        _ => None,
    }
}

/// The principal name of a DID that presented no credentials.
fn did_only_key(did: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"didgate signer v1\0");
    h.update(did.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&h.finalize()[..16]);
    key
}

/// Whether a request is signed at all (then it is authenticated by its
/// signature, and nothing else).
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers.contains_key("signature-input") || headers.contains_key("signature")
}
