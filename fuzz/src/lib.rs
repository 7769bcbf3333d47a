//! What the fuzz targets and the seed generator (`examples/make_seeds.rs`)
//! share: fixed keys, DIDs, the verifier's clock and audiences, so that the
//! committed seed tokens verify in the `vp_jwt` target forever.
//!
//! These keys are public test fixtures: never trust them anywhere.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use credentials::jws::sign_compact;
use credentials::{Jwk, SigningKey, TrustedIssuers, Verifier, VerifierConfig};
use did_registry::ethr::status::ListUrl;
use did_registry::ethr::{StatusChecker, StatusEntry, StatusError};
use did_registry::MethodResolver;
use serde_json::Value;

/// The verifier's clock (unix seconds): 2023-11-14T22:13:20Z. Seeds are
/// issued just before it.
pub const NOW: i64 = 1_700_000_000;
/// The audience a bearer presentation must name.
pub const AUDIENCE: &str = "https://gw.example";
/// A login presentation's audience (`client_id`) and nonce.
pub const LOGIN_AUDIENCE: &str = "redirect_uri:https://gw.example/.didgate/login/response";
pub const LOGIN_NONCE: &str = "bG9naW4tbm9uY2U";
/// The on-chain status list the seeds' status entries name.
pub const STATUS_LIST: &str =
    "did:ethr:sepolia:0x1111111111111111111111111111111111111111/status/staff";

/// One fixed key per supported type: (kty, crv, 32-byte scalar).
const KEYS: [(&str, &str, [u8; 32]); 3] = [
    ("OKP", "Ed25519", [0x11; 32]),
    ("EC", "P-256", [0x22; 32]),
    ("EC", "secp256k1", [0x33; 32]),
];

/// The fixed signing key `i` (0: Ed25519, 1: P-256, 2: secp256k1; the
/// holder keys are 3..6, the same types with other scalars).
pub fn key(i: usize) -> SigningKey {
    let (kty, crv, mut d) = KEYS[i % KEYS.len()];
    d[0] = d[0].wrapping_add((i / KEYS.len()) as u8);
    let jwk = Jwk {
        kty: kty.into(),
        crv: Some(crv.into()),
        d: Some(URL_SAFE_NO_PAD.encode(d)),
        ..Jwk::default()
    };
    SigningKey::from_jwk(&jwk).unwrap_or_else(|e| panic!("fixture key {i}: {e}"))
}

/// The issuers: did:key for the three key types (keys 0..3), did:jwk for
/// the Ed25519 and P-256 ones. The verifier trusts all but the last.
pub fn issuer_dids() -> Vec<String> {
    let mut out: Vec<String> = (0..3)
        .map(|i| did_registry::did_key(&key(i).public_key()))
        .collect();
    out.push(did_registry::did_jwk(&key(0).public_key()));
    out.push(did_registry::did_jwk(&key(1).public_key()));
    out
}

/// The holders: did:key for keys 3..6, did:jwk for key 3.
pub fn holder_dids() -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = (3..6)
        .map(|i| (i, did_registry::did_key(&key(i).public_key())))
        .collect();
    out.push((3, did_registry::did_jwk(&key(3).public_key())));
    out
}

/// The key index behind an issuer of [`issuer_dids`].
pub fn issuer_key(n: usize) -> usize {
    [0, 1, 2, 0, 1][n]
}

/// A DID's only key (`did:key`/`did:jwk`).
pub fn key_id(did: &str) -> String {
    did_registry::default_key_id(did).unwrap_or_else(|e| panic!("fixture DID {did}: {e}"))
}

/// What each issuer of [`issuer_dids`] is trusted for; the last, nothing.
pub const TRUST: [&[&str]; 5] = [
    &["EmployeeCredential", "ServiceCredential"],
    &["EmployeeCredential"],
    &["ServiceCredential"],
    &["EmployeeCredential", "ServiceCredential"],
    &[],
];

/// On-chain status without a chain: the list URL must parse as the
/// on-chain checker parses it; odd indexes are revoked.
pub struct OddRevoked;

#[async_trait::async_trait]
impl StatusChecker for OddRevoked {
    async fn check(&self, entry: &StatusEntry) -> Result<(), StatusError> {
        ListUrl::parse(&entry.list)?;
        if entry.index.bit(0) {
            return Err(StatusError::Revoked {
                list: entry.list.clone(),
                index: entry.index,
            });
        }
        Ok(())
    }
}

/// The `vp_jwt` target's verifier: audience [`AUDIENCE`], issuers trusted
/// per [`TRUST`], did:key/did:jwk only, status by [`OddRevoked`], and a
/// verified-credential cache of `cache` entries (0: none).
pub fn verifier(cache: u64) -> Verifier {
    let mut trusted = TrustedIssuers::new();
    for (issuer, types) in issuer_dids().iter().zip(TRUST) {
        for t in types {
            trusted.trust(t, issuer);
        }
    }
    let config = VerifierConfig::new(vec![AUDIENCE.to_owned()], trusted);
    // No local document cache: an input resolves the same way every time.
    let resolver = Arc::new(MethodResolver::with_local_cache_bytes(None, 0));
    Verifier::new(config, resolver)
        .with_status_checker(Arc::new(OddRevoked))
        .with_credential_cache(cache)
}

/// The fixture keys as signers, for the `vp_jwt` target's second input
/// form: a holder or issuer signing payloads of their choosing.
pub struct Signers {
    /// Per issuer of [`issuer_dids`]: its key and key id (a DID URL).
    issuers: Vec<(SigningKey, String)>,
    /// Per holder of [`holder_dids`].
    holders: Vec<(SigningKey, String)>,
}

impl Default for Signers {
    fn default() -> Self {
        Self::new()
    }
}

impl Signers {
    pub fn new() -> Self {
        Self {
            issuers: issuer_dids()
                .iter()
                .enumerate()
                .map(|(n, did)| (key(issuer_key(n)), key_id(did)))
                .collect(),
            holders: holder_dids()
                .into_iter()
                .map(|(k, did)| (key(k), key_id(&did)))
                .collect(),
        }
    }

    /// Sign, from
    ///
    /// ```text
    /// #HI0I1…       holder index H (of holder_dids), then each credential's issuer index
    /// {VP payload}  "$0", "$1"… anywhere in it become the signed credentials
    /// {VC payload 0}
    /// …             (at most 10)
    /// ```
    ///
    /// the presentation and the credentials; `None` if the text is not of
    /// this form or a payload is not JSON. `typ` is `JWT` when the payload
    /// has a `vp`/`vc` member (VCDM 1.1), else `vp+jwt`/`vc+jwt`; `kid` is
    /// the signer's key.
    pub fn sign(&self, text: &str) -> Option<(String, Vec<String>)> {
        let mut lines = text.strip_prefix('#')?.split('\n');
        let signers: Vec<usize> = lines
            .next()?
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| usize::from(b - b'0'))
            .collect();
        let mut vp = lines.next()?.to_owned();
        let mut vcs = Vec::new();
        for (n, payload) in lines.take(10).enumerate() {
            let i = signers.get(n + 1).copied().unwrap_or(0) % self.issuers.len();
            let (k, kid) = &self.issuers[i];
            let v: Value = serde_json::from_str(payload).ok()?;
            let typ = if v.get("vc").is_some() {
                "JWT"
            } else {
                "vc+jwt"
            };
            let vc = sign_compact(k, Some(typ), Some(kid), &v);
            vp = vp.replace(&format!("${n}"), &vc);
            vcs.push(vc);
        }
        let v: Value = serde_json::from_str(&vp).ok()?;
        let h = signers.first().copied().unwrap_or(0) % self.holders.len();
        let (k, kid) = &self.holders[h];
        let typ = if v.get("vp").is_some() {
            "JWT"
        } else {
            "vp+jwt"
        };
        Some((sign_compact(k, Some(typ), Some(kid), &v), vcs))
    }
}
