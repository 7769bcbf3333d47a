//! [`Signer`]: a service's DID key and what it puts in every signature
//! (`keyid`, label, validity, clock), and signing one request.

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use credentials::SigningKey;
use did_registry::KeyType;
use http::header::HeaderName;
use http::request::Parts;
use http_signatures::content_digest::{self, DigestAlgorithm};
use http_signatures::{
    signature_base, signature_header, signature_input_header, Algorithm, Component, Param,
    RequestView, SignatureParams,
};
use rand::RngCore as _;

use crate::error::SignError;
use crate::{key_file, target};

/// The `tag` of every signature this crate makes: the gateway's application.
pub const TAG: &str = "didgate";
/// The label a signature has in `Signature-Input` and `Signature` unless set.
pub const DEFAULT_LABEL: &str = "didgate";
/// Seconds from `created` to `expires` unless set.
pub const DEFAULT_VALIDITY_SECS: u64 = 60;
/// The shortest validity a signer accepts.
pub const MIN_VALIDITY_SECS: u64 = 1;
/// The longest validity a signer accepts: a signature is a short-lived
/// proof for one request, not a token.
pub const MAX_VALIDITY_SECS: u64 = 3600;
/// Random bytes in each `nonce` (128 bits).
const NONCE_BYTES: usize = 16;

const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");
const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");

/// The time source: Unix seconds.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Signs outgoing requests with one DID key (RFC 9421).
///
/// Each signature covers `@method`, `@target-uri` and, when the body is not
/// empty, `content-digest` (RFC 9530, sha-256), and carries `created`,
/// `expires` (`created` + validity), a fresh 128-bit `nonce`, `keyid`,
/// `alg` (from the key type) and `tag="didgate"`.
pub struct Signer {
    key: SigningKey,
    keyid: String,
    label: String,
    validity_secs: u64,
    clock: Clock,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.key) // prints the key type only
            .field("keyid", &self.keyid)
            .field("label", &self.label)
            .field("validity_secs", &self.validity_secs)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key`, whose verification method is the DID URL `keyid`
    /// (`did:key:z6Mk…#z6Mk…`, `did:ethr:0x…#controller`).
    pub fn new(key: SigningKey, keyid: impl Into<String>) -> Result<Self, SignError> {
        let keyid = keyid.into();
        check_keyid(&keyid)?;
        Ok(Signer {
            key,
            keyid,
            label: DEFAULT_LABEL.to_owned(),
            validity_secs: DEFAULT_VALIDITY_SECS,
            clock: Arc::new(did_registry::clock::unix_secs),
        })
    }

    /// A signer for the `did:key` of `key` (Ed25519, P-256 or secp256k1):
    /// its `keyid` is the DID's one verification method.
    pub fn for_did_key(key: SigningKey) -> Result<Self, SignError> {
        let keyid = did_key_id(&key)?;
        Signer::new(key, keyid)
    }

    /// A signer for the private JWK in the file at `path` (as `didgate did
    /// create` writes it), signing as `keyid`.
    pub fn from_jwk_file(
        path: impl AsRef<Path>,
        keyid: impl Into<String>,
    ) -> Result<Self, SignError> {
        let (key, _) = key_file::read(path.as_ref())?;
        Signer::new(key, keyid)
    }

    /// A signer for the key file at `path`, signing as the DID URL in the
    /// file's `kid` (which `didgate did create` writes).
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self, SignError> {
        let path = path.as_ref();
        let (key, kid) = key_file::read(path)?;
        let kid = kid.ok_or_else(|| SignError::KeyFileWithoutKeyId {
            path: path.display().to_string(),
        })?;
        Signer::new(key, kid)
    }

    /// Labels the signature `label` instead of `didgate` (lower-case
    /// letters, digits, `_ - . *`, starting with a letter).
    pub fn with_label(mut self, label: impl Into<String>) -> Result<Self, SignError> {
        let label = label.into();
        // The header writer is the one judge of what a label may be.
        signature_header(&label, b"-")?;
        self.label = label;
        Ok(self)
    }

    /// Makes each signature valid for `secs` seconds after `created`
    /// ([`MIN_VALIDITY_SECS`]..=[`MAX_VALIDITY_SECS`]).
    pub fn with_validity_secs(mut self, secs: u64) -> Result<Self, SignError> {
        if !(MIN_VALIDITY_SECS..=MAX_VALIDITY_SECS).contains(&secs) {
            return Err(SignError::ValidityOutOfRange {
                secs,
                min: MIN_VALIDITY_SECS,
                max: MAX_VALIDITY_SECS,
            });
        }
        self.validity_secs = secs;
        Ok(self)
    }

    /// Reads the time from `clock` (Unix seconds) instead of the process's
    /// wall clock (`did_registry::clock::unix_secs`, which never goes back).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The DID URL signatures name in `keyid`.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The label of the signature in `Signature-Input` and `Signature`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Seconds from `created` to `expires`.
    pub fn validity_secs(&self) -> u64 {
        self.validity_secs
    }

    /// The `alg` signatures state, from the key type.
    pub fn algorithm(&self) -> Algorithm {
        match self.key.key_type() {
            KeyType::Ed25519 => Algorithm::Ed25519,
            KeyType::P256 => Algorithm::EcdsaP256Sha256,
            KeyType::Secp256k1 => Algorithm::EcdsaSecp256k1Sha256,
        }
    }

    /// The public key, as a verifier resolves it from `keyid`.
    pub fn public_key(&self) -> did_registry::PublicKey {
        self.key.public_key()
    }

    /// Signs the request `parts` with `body`: sets `Content-Digest` (non-empty
    /// body), `Signature-Input` and `Signature`, replacing any earlier ones,
    /// so a retried request can be signed again.
    ///
    /// The URI must be absolute (scheme and authority): `@target-uri` is
    /// signed as `scheme://authority/path?query`, the default port left out.
    pub fn sign(&self, parts: &mut Parts, body: &[u8]) -> Result<(), SignError> {
        // Everything that can fail on the signer's inputs fails before the
        // request is touched.
        let target = target::of(&parts.uri)?;
        let params = self.params(!body.is_empty())?;
        let input = signature_input_header(&self.label, &params)?;
        for stale in [&SIGNATURE_INPUT, &SIGNATURE, &CONTENT_DIGEST] {
            parts.headers.remove(stale);
        }
        if !body.is_empty() {
            let digest = content_digest::compute(DigestAlgorithm::Sha256, body);
            parts.headers.insert(CONTENT_DIGEST, digest);
        }
        let view = RequestView::new(parts, target.scheme).with_authority(&target.authority);
        let base = signature_base(&view, &params)?;
        let signature = signature_header(&self.label, &self.key.sign(&base))?;
        parts.headers.insert(SIGNATURE_INPUT, input);
        parts.headers.insert(SIGNATURE, signature);
        Ok(())
    }

    /// [`Signer::sign`] for a whole request whose body is in memory.
    pub fn sign_request<B: AsRef<[u8]>>(
        &self,
        request: &mut http::Request<B>,
    ) -> Result<(), SignError> {
        // `http::Request` lends no `&mut Parts`: move the parts signing reads
        // and writes out, and back whatever happens.
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = request.method().clone();
        parts.version = request.version();
        parts.uri = std::mem::take(request.uri_mut());
        parts.headers = std::mem::take(request.headers_mut());
        let signed = self.sign(&mut parts, request.body().as_ref());
        *request.uri_mut() = parts.uri;
        *request.headers_mut() = parts.headers;
        signed
    }

    /// The key this signer signs with.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The clock's time, Unix seconds, after 1970.
    pub(crate) fn now(&self) -> Result<i64, SignError> {
        let now = (self.clock)();
        if now > 0 {
            Ok(now)
        } else {
            Err(SignError::ClockBeforeUnixEpoch { unix_secs: now })
        }
    }

    /// The signature parameters of a signature made now.
    fn params(&self, covers_body: bool) -> Result<SignatureParams, SignError> {
        let now = self.now()?;
        let created =
            u64::try_from(now).map_err(|_| SignError::ClockBeforeUnixEpoch { unix_secs: now })?;
        let expires = created.saturating_add(self.validity_secs);
        let mut components = vec![Component::Method, Component::TargetUri];
        if covers_body {
            components.push(Component::Field(CONTENT_DIGEST));
        }
        Ok(SignatureParams::new(components)
            .with(Param::Created(created))
            .with(Param::Expires(expires))
            .with(Param::Nonce(nonce()))
            .with(Param::KeyId(self.keyid.clone()))
            .with(Param::Alg(self.algorithm()))
            .with(Param::Tag(TAG.to_owned())))
    }
}

/// The DID URL of the one verification method of `key`'s `did:key`.
pub fn did_key_id(key: &SigningKey) -> Result<String, SignError> {
    let did = did_registry::did_key(&key.public_key());
    did_registry::default_key_id(&did).map_err(|e| SignError::DidKeyUnavailable {
        reason: e.to_string(),
    })
}

/// A `keyid` names one verification method: `did:<method>:<id>#<fragment>`,
/// printable ASCII (a structured-field string).
fn check_keyid(keyid: &str) -> Result<(), SignError> {
    let printable = keyid.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let well_formed = keyid
        .strip_prefix("did:")
        .and_then(|rest| rest.split_once('#'))
        .is_some_and(|(did, fragment)| {
            did.split_once(':')
                .is_some_and(|(method, id)| !method.is_empty() && !id.is_empty())
                && !fragment.is_empty()
        });
    if printable && well_formed && !keyid.contains(' ') {
        Ok(())
    } else {
        Err(SignError::InvalidKeyId {
            keyid: keyid.to_owned(),
        })
    }
}

/// A fresh random nonce, base64url without padding.
fn nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    const KEYID: &str = "did:key:z6MkExample#z6MkExample";

    fn signer() -> Signer {
        Signer::new(SigningKey::generate(KeyType::Ed25519), KEYID)
            .unwrap()
            .with_clock(|| 1_700_000_000)
    }

    fn post(uri: &str, body: &[u8]) -> http::Request<Vec<u8>> {
        http::Request::post(uri).body(body.to_vec()).unwrap()
    }

    fn params_of(request: &http::Request<Vec<u8>>) -> SignatureParams {
        let h = request.headers();
        let all = http_signatures::parse_signature_headers(
            h.get_all("signature-input"),
            h.get_all("signature"),
        )
        .unwrap();
        assert_eq!(all.len(), 1, "one signature");
        all[0].params.clone()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = signer();
        assert_eq!(s.label(), "didgate");
        assert_eq!(s.validity_secs(), 60);
        assert_eq!(s.keyid(), KEYID);
        assert_eq!(s.algorithm(), Algorithm::Ed25519);
    }

    #[test]
    fn every_parameter_is_set() {
        let mut request = post("https://gw.example/orders", b"{}");
        signer().sign_request(&mut request).unwrap();
        let p = params_of(&request);
        assert_eq!(
            p.components,
            [
                Component::Method,
                Component::TargetUri,
                Component::Field(CONTENT_DIGEST)
            ]
        );
        assert_eq!(p.created(), Some(1_700_000_000));
        assert_eq!(p.expires(), Some(1_700_000_060));
        assert_eq!(p.keyid(), Some(KEYID));
        assert_eq!(p.alg(), Some(Algorithm::Ed25519));
        assert_eq!(p.tag(), Some("didgate"));
        let nonce = URL_SAFE_NO_PAD.decode(p.nonce().unwrap()).unwrap();
        assert!(nonce.len() * 8 >= 128, "{} bits", nonce.len() * 8);
        let input = request.headers()["signature-input"].to_str().unwrap();
        assert!(input.starts_with("didgate=("), "{input}");
    }

    #[test]
    fn an_empty_body_has_no_digest_and_covers_none() {
        let mut request = post("https://gw.example/orders", b"");
        signer().sign_request(&mut request).unwrap();
        assert!(!request.headers().contains_key("content-digest"));
        assert_eq!(
            params_of(&request).components,
            [Component::Method, Component::TargetUri]
        );
    }

    #[test]
    fn re_signing_replaces_every_field() {
        let s = signer();
        let mut request = post("https://gw.example/orders", b"first");
        request
            .headers_mut()
            .append("content-digest", HeaderValue::from_static("sha-256=:AAAA:"));
        s.sign_request(&mut request).unwrap();
        let first_nonce = params_of(&request).nonce().unwrap().to_owned();
        *request.body_mut() = b"second".to_vec();
        s.sign_request(&mut request).unwrap();
        let h = request.headers();
        for name in ["signature-input", "signature", "content-digest"] {
            assert_eq!(h.get_all(name).iter().count(), 1, "{name}");
        }
        assert_ne!(params_of(&request).nonce().unwrap(), first_nonce);
        content_digest::verify(h.get_all("content-digest"), b"second").unwrap();
        // A retry with no body drops the old digest.
        *request.body_mut() = Vec::new();
        s.sign_request(&mut request).unwrap();
        assert!(!request.headers().contains_key("content-digest"));
    }

    #[test]
    fn a_relative_uri_is_refused_and_the_request_kept() {
        let mut request = post("/orders", b"x");
        let err = signer().sign_request(&mut request).unwrap_err();
        assert!(
            matches!(err, SignError::RelativeUri { ref uri } if uri == "/orders"),
            "{err}"
        );
        assert_eq!(request.uri(), "/orders");
        assert!(!request.headers().contains_key("signature"));
    }

    #[test]
    fn the_clock_must_be_set() {
        for now in [0, -5] {
            let s = signer().with_clock(move || now);
            let err = s
                .sign_request(&mut post("https://gw.example/", b""))
                .unwrap_err();
            assert!(
                matches!(err, SignError::ClockBeforeUnixEpoch { unix_secs } if unix_secs == now),
                "{err}"
            );
        }
    }

    #[test]
    fn a_time_past_fifteen_digits_is_an_invalid_header_value() {
        let s = signer().with_clock(|| 1_000_000_000_000_000);
        let err = s
            .sign_request(&mut post("https://gw.example/", b""))
            .unwrap_err();
        assert!(matches!(err, SignError::InvalidHeaderValue { .. }), "{err}");
    }

    #[test]
    fn validity_is_bounded() {
        for secs in [0, MAX_VALIDITY_SECS + 1, u64::MAX] {
            let err = signer().with_validity_secs(secs).unwrap_err();
            assert!(matches!(err, SignError::ValidityOutOfRange { secs: s, .. } if s == secs));
            assert!(err.to_string().contains("use 1 to 3600 seconds"), "{err}");
        }
        for secs in [MIN_VALIDITY_SECS, 300, MAX_VALIDITY_SECS] {
            assert_eq!(
                signer().with_validity_secs(secs).unwrap().validity_secs(),
                secs
            );
        }
    }

    #[test]
    fn keyids_must_be_did_urls_of_one_method() {
        for bad in [
            "",
            "key-1",
            "did:key:z6Mk",
            "did:key:z6Mk#",
            "did::x#k",
            "did:key:#k",
            "did:key:z6Mk#k\u{e9}",
            "did:key:z6Mk#a b",
            "did:key:z6Mk#a\"b\n",
        ] {
            let err = Signer::new(SigningKey::generate(KeyType::Ed25519), bad).unwrap_err();
            assert!(matches!(err, SignError::InvalidKeyId { .. }), "{bad:?}");
        }
        for good in [KEYID, "did:ethr:0x5:0xabc#controller", "did:jwk:eyJ#0"] {
            Signer::new(SigningKey::generate(KeyType::Ed25519), good).unwrap();
        }
    }

    #[test]
    fn labels_follow_structured_field_keys() {
        assert_eq!(signer().with_label("sig-1").unwrap().label(), "sig-1");
        for bad in ["", "Sig", "1sig", "a b", "sig=1"] {
            let err = signer().with_label(bad).unwrap_err();
            assert!(
                matches!(err, SignError::InvalidHeaderValue { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn the_did_key_id_names_the_key() {
        for kind in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
            let key = SigningKey::generate(kind);
            let did = did_registry::did_key(&key.public_key());
            let s = Signer::for_did_key(key).unwrap();
            let (prefix, fragment) = s.keyid().split_once('#').unwrap();
            assert_eq!(prefix, did);
            assert_eq!(format!("did:key:{fragment}"), did);
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let s = signer();
        let jwk_d = s.key.to_jwk().d.unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains(&jwk_d), "{shown}");
        assert!(shown.contains("Ed25519"), "{shown}");
    }
}
