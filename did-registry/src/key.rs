//! Public keys as they appear in DID documents (JWK, multibase) and JOSE
//! signature verification with an algorithm allow-list per key type
//! (RFC 8725 §3.1: the key decides the algorithm, never the token).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The signature key types didgate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ed25519,
    P256,
    Secp256k1,
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyType::Ed25519 => "Ed25519",
            KeyType::P256 => "P-256",
            KeyType::Secp256k1 => "secp256k1",
        })
    }
}

impl KeyType {
    /// The one JOSE `alg` this key type signs with.
    pub fn jose_alg(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "EdDSA",
            KeyType::P256 => "ES256",
            KeyType::Secp256k1 => "ES256K",
        }
    }
}

/// A verification key.
#[derive(Clone, Debug, PartialEq)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Secp256k1(k256::ecdsa::VerifyingKey),
}

/// A JSON Web Key (RFC 7517), public or private.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

/// A key that can't be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported key: kty {kty:?}, crv {crv:?} (supported: OKP/Ed25519, EC/P-256, EC/secp256k1)")]
    Unsupported { kty: String, crv: Option<String> },
    #[error("invalid {what} key: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl KeyError {
    pub fn reason_code(&self) -> &'static str {
        "invalid_key"
    }
}

/// A signature that doesn't check out.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("algorithm {alg:?} is not allowed for a {key_type} key (allowed: {allowed})")]
    AlgorithmNotAllowed {
        alg: String,
        key_type: KeyType,
        allowed: &'static str,
    },
    #[error("signature does not verify")]
    BadSignature,
}

impl SignatureError {
    pub fn reason_code(&self) -> &'static str {
        match self {
            SignatureError::AlgorithmNotAllowed { .. } => "alg_not_allowed",
            SignatureError::BadSignature => "bad_signature",
        }
    }
}

fn b64(field: &'static str, v: &Option<String>) -> Result<Vec<u8>, KeyError> {
    let s = v.as_deref().ok_or(KeyError::Invalid {
        what: "JWK",
        reason: format!("member {field:?} is missing"),
    })?;
    URL_SAFE_NO_PAD.decode(s).map_err(|_| KeyError::Invalid {
        what: "JWK",
        reason: format!("member {field:?} is not base64url"),
    })
}

impl PublicKey {
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::P256(_) => KeyType::P256,
            PublicKey::Secp256k1(_) => KeyType::Secp256k1,
        }
    }

    /// Parse a public JWK (a private one is accepted; `d` is ignored).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x = b64("x", &jwk.x)?;
                let bytes: [u8; 32] = x.as_slice().try_into().map_err(|_| KeyError::Invalid {
                    what: "Ed25519",
                    reason: "x must be 32 bytes".into(),
                })?;
                Self::ed25519_from_bytes(&bytes)
            }
            ("EC", Some(crv @ ("P-256" | "secp256k1"))) => {
                let x = b64("x", &jwk.x)?;
                let y = b64("y", &jwk.y)?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::Invalid {
                        what: "EC",
                        reason: "x and y must be 32 bytes".into(),
                    });
                }
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                if crv == "P-256" {
                    Self::p256_from_sec1(&sec1)
                } else {
                    Self::secp256k1_from_sec1(&sec1)
                }
            }
            (kty, crv) => Err(KeyError::Unsupported {
                kty: kty.to_owned(),
                crv: crv.map(str::to_owned),
            }),
        }
    }

    pub fn ed25519_from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey::Ed25519)
            .map_err(|e| KeyError::Invalid {
                what: "Ed25519",
                reason: e.to_string(),
            })
    }

    pub fn p256_from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
            .map(PublicKey::P256)
            .map_err(|_| KeyError::Invalid {
                what: "P-256",
                reason: "not a point on the curve".into(),
            })
    }

    pub fn secp256k1_from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
            .map(PublicKey::Secp256k1)
            .map_err(|_| KeyError::Invalid {
                what: "secp256k1",
                reason: "not a point on the curve".into(),
            })
    }

    /// The public JWK (no `kid`, no `alg`).
    pub fn to_jwk(&self) -> Jwk {
        match self {
            PublicKey::Ed25519(k) => Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(URL_SAFE_NO_PAD.encode(k.as_bytes())),
                ..Jwk::default()
            },
            PublicKey::P256(k) => {
                let p = k.to_encoded_point(false);
                ec_jwk("P-256", p.as_bytes())
            }
            PublicKey::Secp256k1(k) => {
                let p = k.to_encoded_point(false);
                ec_jwk("secp256k1", p.as_bytes())
            }
        }
    }

    /// Compressed/raw bytes used by `did:key` multicodec.
    pub(crate) fn multicodec_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.as_bytes().to_vec(),
            PublicKey::P256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            PublicKey::Secp256k1(k) => k.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// Verify a JOSE signature over `message`. The algorithm must be the one
    /// this key type signs with: never `none`, never HMAC, never a different curve.
    pub fn verify_jose(
        &self,
        alg: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let kt = self.key_type();
        let allowed = match kt {
            KeyType::Ed25519 => matches!(alg, "EdDSA" | "Ed25519"),
            KeyType::P256 => alg == "ES256",
            KeyType::Secp256k1 => alg == "ES256K",
        };
        if !allowed {
            return Err(SignatureError::AlgorithmNotAllowed {
                alg: alg.to_owned(),
                key_type: kt,
                allowed: kt.jose_alg(),
            });
        }
        match self {
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::BadSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| SignatureError::BadSignature)
            }
            PublicKey::P256(k) => {
                use p256::ecdsa::signature::Verifier;
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::BadSignature)?;
                k.verify(message, &sig)
                    .map_err(|_| SignatureError::BadSignature)
            }
            PublicKey::Secp256k1(k) => {
                use k256::ecdsa::signature::Verifier;
                let sig = k256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::BadSignature)?;
                // did-jwt and other signers may emit high-S; the message is still bound.
                let sig = sig.normalize_s().unwrap_or(sig);
                k.verify(message, &sig)
                    .map_err(|_| SignatureError::BadSignature)
            }
        }
    }
}

fn ec_jwk(crv: &str, uncompressed: &[u8]) -> Jwk {
    // 0x04 || x (32) || y (32)
    let (x, y) = if uncompressed.len() == 65 {
        (&uncompressed[1..33], &uncompressed[33..65])
    } else {
        (&[][..], &[][..])
    };
    Jwk {
        kty: "EC".into(),
        crv: Some(crv.into()),
        x: Some(URL_SAFE_NO_PAD.encode(x)),
        y: Some(URL_SAFE_NO_PAD.encode(y)),
        ..Jwk::default()
    }
}

/// ES256K(-R) against an Ethereum address: recover the signer's key from the
/// signature over SHA-256(message) and compare its address. For plain ES256K
/// (64 bytes, no recovery id) both recovery ids are tried.
pub(crate) fn recover_matches_address(
    message: &[u8],
    signature: &[u8],
    with_recovery_id: bool,
    address: &[u8; 20],
) -> Result<(), SignatureError> {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    let (rs, ids): (&[u8], Vec<u8>) = match (with_recovery_id, signature.len()) {
        (false, 64) => (signature, vec![0, 1]),
        (true, 65) => {
            let v = signature[64];
            let v = if v >= 27 { v - 27 } else { v };
            if v > 1 {
                return Err(SignatureError::BadSignature);
            }
            (&signature[..64], vec![v])
        }
        _ => return Err(SignatureError::BadSignature),
    };
    let sig = Signature::from_slice(rs).map_err(|_| SignatureError::BadSignature)?;
    // k256 recovers only low-S signatures; a high-S one (some signers emit
    // them) is the same signature with s negated and the recovery parity flipped.
    let (sig, flip) = match sig.normalize_s() {
        Some(low) => (low, 1),
        None => (sig, 0),
    };
    for id in ids {
        let Some(recid) = RecoveryId::from_byte(id ^ flip) else {
            continue;
        };
        if let Ok(key) = VerifyingKey::recover_from_msg(message, &sig, recid) {
            let pk = k256::PublicKey::from(&key);
            if crate::ethr::address_of(&pk).as_slice() == address {
                return Ok(());
            }
        }
    }
    Err(SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn jwk_round_trip_all_types() {
        let ed =
            PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key());
        let p = PublicKey::P256(
            *p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
                .unwrap()
                .verifying_key(),
        );
        let k = PublicKey::Secp256k1(
            *k256::ecdsa::SigningKey::from_slice(&[7u8; 32])
                .unwrap()
                .verifying_key(),
        );
        for key in [ed, p, k] {
            assert_eq!(PublicKey::from_jwk(&key.to_jwk()).unwrap(), key);
        }
    }

    #[test]
    fn wrong_alg_refused_before_crypto() {
        let ed =
            PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key());
        for alg in ["none", "HS256", "ES256", "RS256", ""] {
            let e = ed.verify_jose(alg, b"m", &[0u8; 64]).unwrap_err();
            assert_eq!(e.reason_code(), "alg_not_allowed", "{alg}");
        }
    }

    #[test]
    fn bad_jwks_are_errors() {
        for j in [
            r#"{"kty":"RSA","n":"x","e":"AQAB"}"#,
            r#"{"kty":"OKP","crv":"Ed25519"}"#,
            r#"{"kty":"OKP","crv":"Ed25519","x":"!!"}"#,
            r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#,
            r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
            r#"{"kty":"oct","k":"c2VjcmV0"}"#,
        ] {
            let jwk: Jwk = serde_json::from_str(j).unwrap();
            assert!(PublicKey::from_jwk(&jwk).is_err(), "{j}");
        }
    }

    #[test]
    fn ethereum_address_recovery_accepts_only_the_signer() {
        use k256::ecdsa::signature::Signer;
        let sk = k256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let address =
            crate::ethr::address_of(&k256::PublicKey::from(sk.verifying_key())).into_array();
        let msg = b"header.payload";
        let sig: k256::ecdsa::Signature = sk.sign(msg);
        let rs = sig.to_bytes();
        recover_matches_address(msg, &rs, false, &address).unwrap();
        // Another address, another message, a truncated signature.
        let other = [7u8; 20];
        assert!(recover_matches_address(msg, &rs, false, &other).is_err());
        assert!(recover_matches_address(b"header.payloaX", &rs, false, &address).is_err());
        assert!(recover_matches_address(msg, &rs[..63], false, &address).is_err());
        // ES256K-R: 65 bytes with the recovery id (0/1 or 27/28); anything else refused.
        let (sig, recid) = sk.sign_recoverable(msg).unwrap();
        let mut r = sig.to_bytes().to_vec();
        r.push(recid.to_byte());
        recover_matches_address(msg, &r, true, &address).unwrap();
        r[64] += 27;
        recover_matches_address(msg, &r, true, &address).unwrap();
        r[64] = 5;
        assert!(recover_matches_address(msg, &r, true, &address).is_err());
        // The high-S twin of a signature (s → n − s, parity flipped) is the same signer.
        let high = k256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
        let mut h = high.to_bytes().to_vec();
        h.push(recid.to_byte() ^ 1);
        recover_matches_address(msg, &h, true, &address).unwrap();
        recover_matches_address(msg, &h[..64], false, &address).unwrap();
        assert!(
            recover_matches_address(msg, &rs, true, &address).is_err(),
            "R needs 65 bytes"
        );
    }
}
