//! Private keys: generate, load/save as JWK, sign with the JOSE algorithm of
//! the key type (EdDSA, ES256, ES256K; ECDSA signatures as raw r||s, low-S).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use did_registry::{Jwk, KeyType, PublicKey};
use rand::rngs::OsRng;

use crate::CredentialError;

/// A signing key of one of the supported types.
pub enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "SigningKey({})", self.key_type())
    }
}

impl SigningKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate(kind: KeyType) -> Self {
        match kind {
            KeyType::Ed25519 => {
                SigningKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
            }
            KeyType::P256 => SigningKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyType::Secp256k1 => {
                SigningKey::Secp256k1(k256::ecdsa::SigningKey::random(&mut OsRng))
            }
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            SigningKey::Ed25519(_) => KeyType::Ed25519,
            SigningKey::P256(_) => KeyType::P256,
            SigningKey::Secp256k1(_) => KeyType::Secp256k1,
        }
    }

    /// Load a private JWK (with `d`); the public part, if present, must match.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CredentialError> {
        let bad = |reason: &str| CredentialError::InvalidKey {
            reason: reason.to_owned(),
        };
        let d = jwk
            .d
            .as_deref()
            .ok_or_else(|| bad("the JWK has no private part \"d\""))?;
        let d = URL_SAFE_NO_PAD
            .decode(d)
            .map_err(|_| bad("\"d\" is not base64url"))?;
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let bytes: [u8; 32] = d
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("an Ed25519 \"d\" is 32 bytes"))?;
                SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&bytes))
            }
            ("EC", Some("P-256")) => SigningKey::P256(
                p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| bad("invalid P-256 scalar"))?,
            ),
            ("EC", Some("secp256k1")) => SigningKey::Secp256k1(
                k256::ecdsa::SigningKey::from_slice(&d)
                    .map_err(|_| bad("invalid secp256k1 scalar"))?,
            ),
            _ => {
                return Err(bad(
                    "unsupported key type (OKP/Ed25519, EC/P-256, EC/secp256k1 are)",
                ))
            }
        };
        if jwk.x.is_some() {
            let public = key.public_key().to_jwk();
            if public.x != jwk.x || (jwk.y.is_some() && public.y != jwk.y) {
                return Err(bad("the public part does not match the private key"));
            }
        }
        Ok(key)
    }

    /// The private JWK (includes `d`: keep it secret).
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = self.public_key().to_jwk();
        let d = match self {
            SigningKey::Ed25519(k) => k.to_bytes().to_vec(),
            SigningKey::P256(k) => k.to_bytes().to_vec(),
            SigningKey::Secp256k1(k) => k.to_bytes().to_vec(),
        };
        jwk.d = Some(URL_SAFE_NO_PAD.encode(d));
        jwk
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            SigningKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            SigningKey::Secp256k1(k) => PublicKey::Secp256k1(*k.verifying_key()),
        }
    }

    /// The private key as PKCS#8 DER (RFC 5208/5958), for TLS: a client
    /// certificate's key (`didgate_client::ClientCertificate`). TLS has no
    /// signature scheme for secp256k1, so such a key is refused.
    pub fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, CredentialError> {
        let doc = match self {
            SigningKey::Ed25519(k) => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                k.to_pkcs8_der()
            }
            SigningKey::P256(k) => {
                use p256::pkcs8::EncodePrivateKey;
                k.to_pkcs8_der()
            }
            SigningKey::Secp256k1(_) => {
                return Err(CredentialError::InvalidKey {
                    reason: "TLS cannot use a secp256k1 key; use an Ed25519 or P-256 key".into(),
                })
            }
        }
        .map_err(|e| CredentialError::InvalidKey {
            reason: format!("cannot encode the key as PKCS#8: {e}"),
        })?;
        Ok(zeroize::Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The JOSE `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        self.key_type().jose_alg()
    }

    /// Sign `message` (deterministic signatures: Ed25519, RFC 6979 ECDSA).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => {
                use ed25519_dalek::Signer;
                k.sign(message).to_bytes().to_vec()
            }
            SigningKey::P256(k) => {
                use p256::ecdsa::signature::Signer;
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_bytes().to_vec()
            }
            SigningKey::Secp256k1(k) => {
                use k256::ecdsa::signature::Signer;
                let s: k256::ecdsa::Signature = k.sign(message);
                s.normalize_s().unwrap_or(s).to_bytes().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn jwk_round_trip_and_signatures_verify() {
        for kt in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
            let k = SigningKey::generate(kt);
            let back = SigningKey::from_jwk(&k.to_jwk()).unwrap();
            assert_eq!(back.public_key(), k.public_key());
            let sig = back.sign(b"hello");
            k.public_key().verify_jose(k.alg(), b"hello", &sig).unwrap();
            assert!(k.public_key().verify_jose(k.alg(), b"hullo", &sig).is_err());
        }
    }

    #[test]
    fn mismatched_public_part_refused() {
        let a = SigningKey::generate(KeyType::Ed25519).to_jwk();
        let mut b = SigningKey::generate(KeyType::Ed25519).to_jwk();
        b.x = a.x.clone();
        assert!(SigningKey::from_jwk(&b).is_err());
        let mut public_only = a.clone();
        public_only.d = None;
        assert!(SigningKey::from_jwk(&public_only).is_err());
    }

    #[test]
    fn pkcs8_round_trips_for_tls_keys_and_refuses_secp256k1() {
        let ed = SigningKey::generate(KeyType::Ed25519);
        let der = ed.to_pkcs8_der().unwrap();
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let back = ed25519_dalek::SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(PublicKey::Ed25519(back.verifying_key()), ed.public_key());
        let p = SigningKey::generate(KeyType::P256);
        let der = p.to_pkcs8_der().unwrap();
        let back = p256::ecdsa::SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(PublicKey::P256(*back.verifying_key()), p.public_key());
        assert!(SigningKey::generate(KeyType::Secp256k1)
            .to_pkcs8_der()
            .is_err());
    }

    #[test]
    fn debug_hides_key_material() {
        let k = SigningKey::generate(KeyType::P256);
        assert_eq!(format!("{k:?}"), "SigningKey(P-256)");
    }
}
