//! DID methods whose documents are derived from the identifier itself, with
//! no I/O: `did:key` (multicodec + base58btc multibase) and `did:jwk`
//! (base64url JSON Web Key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::document::{DidDocument, KeyMaterial, VerificationMethod};
use crate::key::{Jwk, PublicKey};
use crate::ResolveError;

/// Longest DID accepted (a P-256 did:jwk is ~150 characters).
const MAX_DID_LEN: usize = 2048;

// Multicodec prefixes (unsigned varint encoded).
const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const SECP256K1_PUB: [u8; 2] = [0xe7, 0x01];
const P256_PUB: [u8; 2] = [0x80, 0x24];

/// `did:key` for a public key.
pub fn did_key(pk: &PublicKey) -> String {
    format!("did:key:{}", multibase(pk))
}

fn multibase(pk: &PublicKey) -> String {
    let prefix = match pk {
        PublicKey::Ed25519(_) => ED25519_PUB,
        PublicKey::P256(_) => P256_PUB,
        PublicKey::Secp256k1(_) => SECP256K1_PUB,
    };
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(&pk.multicodec_bytes());
    format!("z{}", bs58::encode(bytes).into_string())
}

/// `did:jwk` for a public key: members in lexicographic order, no kid/alg.
pub fn did_jwk(pk: &PublicKey) -> String {
    let jwk = pk.to_jwk();
    // Serialize with sorted keys via a BTreeMap.
    let mut m = std::collections::BTreeMap::new();
    m.insert("kty", jwk.kty);
    if let Some(c) = jwk.crv {
        m.insert("crv", c);
    }
    if let Some(x) = jwk.x {
        m.insert("x", x);
    }
    if let Some(y) = jwk.y {
        m.insert("y", y);
    }
    let json = serde_json::to_string(&m).unwrap_or_default();
    format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(json))
}

/// The DID URL of the only key of a `did:key` or `did:jwk`.
pub fn default_key_id(did: &str) -> Result<String, ResolveError> {
    let doc = resolve_local(did)?;
    doc.verification_method
        .first()
        .map(|vm| vm.id.clone())
        .ok_or_else(|| ResolveError::KeyNotFound {
            kid: did.to_owned(),
            reason: "no verification method".into(),
        })
}

fn invalid(did: &str, reason: impl Into<String>) -> ResolveError {
    let shown: String = did.chars().take(80).collect();
    ResolveError::InvalidDid {
        did: shown,
        reason: reason.into(),
    }
}

/// Resolve `did:key` and `did:jwk`; anything else is `UnsupportedMethod`.
pub(crate) fn resolve_local(did: &str) -> Result<DidDocument, ResolveError> {
    if did.len() > MAX_DID_LEN {
        return Err(invalid(did, "longer than 2048 characters"));
    }
    let mut parts = did.splitn(3, ':');
    let (scheme, method, id) = (parts.next(), parts.next(), parts.next());
    if scheme != Some("did") {
        return Err(invalid(did, "does not start with \"did:\""));
    }
    let (Some(method), Some(id)) = (method, id) else {
        return Err(invalid(did, "expected did:<method>:<id>"));
    };
    if did.contains(['#', '?', '/']) {
        return Err(invalid(did, "a DID, not a DID URL, is expected here"));
    }
    match method {
        "key" => resolve_key(did, id),
        "jwk" => resolve_jwk(did, id),
        m if !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Err(ResolveError::UnsupportedMethod {
                method: m.to_owned(),
            })
        }
        _ => Err(invalid(
            did,
            "the method name must be lowercase letters and digits",
        )),
    }
}

fn resolve_key(did: &str, id: &str) -> Result<DidDocument, ResolveError> {
    let Some(b58) = id.strip_prefix('z') else {
        return Err(invalid(
            did,
            "did:key must be base58btc multibase (start with 'z')",
        ));
    };
    let bytes = bs58::decode(b58)
        .into_vec()
        .map_err(|_| invalid(did, "not valid base58btc"))?;
    let (prefix, key) = bytes.split_at(bytes.len().min(2));
    let pk = match <[u8; 2]>::try_from(prefix).ok() {
        Some(ED25519_PUB) => {
            let k: [u8; 32] = key
                .try_into()
                .map_err(|_| invalid(did, "an Ed25519 key is 32 bytes"))?;
            PublicKey::ed25519_from_bytes(&k).map_err(|e| invalid(did, e.to_string()))?
        }
        Some(P256_PUB) => {
            if key.len() != 33 {
                return Err(invalid(did, "a P-256 key is 33 bytes (compressed)"));
            }
            PublicKey::p256_from_sec1(key).map_err(|e| invalid(did, e.to_string()))?
        }
        Some(SECP256K1_PUB) => {
            if key.len() != 33 {
                return Err(invalid(did, "a secp256k1 key is 33 bytes (compressed)"));
            }
            PublicKey::secp256k1_from_sec1(key).map_err(|e| invalid(did, e.to_string()))?
        }
        _ => {
            return Err(invalid(
                did,
                "unsupported key type (Ed25519, P-256, secp256k1 are)",
            ))
        }
    };
    let vm_id = format!("{did}#{id}");
    let mut vm = VerificationMethod::new(
        vm_id.clone(),
        "Multikey".into(),
        did.to_owned(),
        KeyMaterial::Key(pk),
    );
    vm.multibase = Some(id.to_owned());
    Ok(DidDocument::new(
        did.to_owned(),
        vec![vm],
        vec![vm_id.clone()],
        vec![vm_id],
    ))
}

fn resolve_jwk(did: &str, id: &str) -> Result<DidDocument, ResolveError> {
    let json = URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| invalid(did, "did:jwk must be base64url without padding"))?;
    let jwk: Jwk = serde_json::from_slice(&json).map_err(|_| invalid(did, "not a JSON Web Key"))?;
    if jwk.d.is_some() {
        return Err(invalid(did, "contains a private key"));
    }
    let pk = PublicKey::from_jwk(&jwk).map_err(|e| invalid(did, e.to_string()))?;
    let vm_id = format!("{did}#0");
    Ok(DidDocument::new(
        did.to_owned(),
        vec![VerificationMethod::new(
            vm_id.clone(),
            "JsonWebKey2020".into(),
            did.to_owned(),
            KeyMaterial::Key(pk),
        )],
        vec![vm_id.clone()],
        vec![vm_id],
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Purpose;
    use crate::key::KeyType;

    #[test]
    fn did_key_spec_vectors() {
        // From the did:key specification's test vectors.
        for (did, kt) in [
            (
                "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                KeyType::Ed25519,
            ),
            (
                "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
                KeyType::Ed25519,
            ),
            (
                "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                KeyType::Secp256k1,
            ),
            (
                "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
                KeyType::P256,
            ),
        ] {
            let doc = resolve_local(did).unwrap();
            let vm = doc.keys_for(None, Purpose::Authentication).unwrap()[0];
            assert_eq!(vm.public_key().unwrap().key_type(), kt, "{did}");
            // Re-encoding the key gives the same DID.
            assert_eq!(did_key(vm.public_key().unwrap()), did);
            assert_eq!(default_key_id(did).unwrap(), format!("{did}#{}", &did[8..]));
        }
    }

    #[test]
    fn did_jwk_round_trip_and_spec_example() {
        // did:jwk spec example (P-256).
        let did = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
        let doc = resolve_local(did).unwrap();
        let vm = doc.keys_for(Some("#0"), Purpose::AssertionMethod).unwrap()[0];
        assert_eq!(vm.public_key().unwrap().key_type(), KeyType::P256);
        assert_eq!(did_jwk(vm.public_key().unwrap()), did);
        assert_eq!(
            doc.to_json()["verificationMethod"][0]["publicKeyJwk"]["crv"],
            "P-256"
        );
    }

    #[test]
    fn kid_of_another_did_is_refused() {
        let a = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
        let b = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        let doc = resolve_local(a).unwrap();
        let other = format!("{b}#{}", &b[8..]);
        assert!(matches!(
            doc.keys_for(Some(&other), Purpose::Authentication),
            Err(ResolveError::KeyNotFound { .. })
        ));
        assert!(doc
            .keys_for(Some("#nope"), Purpose::Authentication)
            .is_err());
    }

    #[test]
    fn malformed_dids_are_errors() {
        for d in [
            "",
            "did",
            "did:key",
            "did:key:",
            "did:key:abc",
            "did:key:z",
            "did:key:z111",
            "did:jwk:!!!",
            "did:jwk:e30",
            "dud:key:z6Mk",
            "did:KEY:z6Mk",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#frag",
        ] {
            assert!(resolve_local(d).is_err(), "{d}");
        }
        assert!(matches!(
            resolve_local("did:web:example.com"),
            Err(ResolveError::UnsupportedMethod { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn resolve_never_panics(s in ".{0,300}") {
            let _ = resolve_local(&s);
            let _ = resolve_local(&format!("did:key:z{s}"));
            let _ = resolve_local(&format!("did:jwk:{s}"));
        }
    }
}
