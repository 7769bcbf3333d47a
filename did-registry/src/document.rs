//! DID documents (DID Core): verification methods and the relationships that
//! say what each key may be used for.

use serde_json::{json, Value};

use crate::key::{KeyType, PublicKey, SignatureError};
use crate::ResolveError;

/// What a key is being used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proving control of the DID (signing presentations, requests).
    Authentication,
    /// Making statements (issuing credentials).
    AssertionMethod,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Authentication => "authentication",
            Purpose::AssertionMethod => "assertionMethod",
        }
    }
}

/// What a verification method checks signatures with.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMaterial {
    /// A public key.
    Key(PublicKey),
    /// An Ethereum account (`EcdsaSecp256k1RecoveryMethod2020` with a
    /// `blockchainAccountId`): the secp256k1 key is recovered from the
    /// signature and must hash to this address.
    EthereumAddress([u8; 20]),
}

/// A key in a DID document.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationMethod {
    /// Absolute DID URL, e.g. `did:key:z6Mk…#z6Mk…`.
    pub id: String,
    /// `JsonWebKey2020`, `Multikey`, `EcdsaSecp256k1RecoveryMethod2020`, …
    pub type_: String,
    pub controller: String,
    pub material: KeyMaterial,
    /// For `Multikey`: the `publicKeyMultibase` value.
    pub(crate) multibase: Option<String>,
}

impl VerificationMethod {
    pub fn new(id: String, type_: String, controller: String, material: KeyMaterial) -> Self {
        Self {
            id,
            type_,
            controller,
            material,
            multibase: None,
        }
    }

    /// The public key, when the method holds one (not for recovery methods).
    pub fn public_key(&self) -> Option<&PublicKey> {
        match &self.material {
            KeyMaterial::Key(k) => Some(k),
            KeyMaterial::EthereumAddress(_) => None,
        }
    }

    /// Verify a JOSE signature with this method (RFC 8725 allow-list per key type).
    /// For an Ethereum account: `ES256K` (64-byte r‖s; both recovery ids are
    /// tried) or `ES256K-R` (65 bytes with the recovery id).
    pub fn verify_jose(
        &self,
        alg: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        match &self.material {
            KeyMaterial::Key(k) => k.verify_jose(alg, message, signature),
            KeyMaterial::EthereumAddress(address) => {
                if alg != "ES256K" && alg != "ES256K-R" {
                    return Err(SignatureError::AlgorithmNotAllowed {
                        alg: alg.to_owned(),
                        key_type: KeyType::Secp256k1,
                        allowed: "ES256K, ES256K-R",
                    });
                }
                crate::key::recover_matches_address(message, signature, alg == "ES256K-R", address)
            }
        }
    }
}

/// A resolved DID document.
#[derive(Debug, Clone, PartialEq)]
pub struct DidDocument {
    pub id: String,
    pub verification_method: Vec<VerificationMethod>,
    /// Verification method ids allowed for authentication.
    pub authentication: Vec<String>,
    /// Verification method ids allowed for assertions.
    pub assertion_method: Vec<String>,
    /// The document exactly as its method renders it, when that is richer
    /// than what is typed here (did:ethr: services, legacy key encodings).
    pub(crate) rendered: Option<Value>,
}

impl DidDocument {
    pub fn new(
        id: String,
        verification_method: Vec<VerificationMethod>,
        authentication: Vec<String>,
        assertion_method: Vec<String>,
    ) -> Self {
        Self {
            id,
            verification_method,
            authentication,
            assertion_method,
            rendered: None,
        }
    }

    pub(crate) fn with_rendered(mut self, json: Value) -> Self {
        self.rendered = Some(json);
        self
    }

    /// The document as DID Core JSON.
    pub fn to_json(&self) -> Value {
        if let Some(r) = &self.rendered {
            return r.clone();
        }
        let vms: Vec<Value> = self
            .verification_method
            .iter()
            .map(|vm| {
                let mut v = json!({ "id": vm.id, "type": vm.type_, "controller": vm.controller });
                match (&vm.multibase, &vm.material) {
                    (Some(mb), _) => v["publicKeyMultibase"] = json!(mb),
                    (None, KeyMaterial::Key(k)) => {
                        v["publicKeyJwk"] = serde_json::to_value(k.to_jwk()).unwrap_or(Value::Null)
                    }
                    (None, KeyMaterial::EthereumAddress(a)) => {
                        v["blockchainAccountId"] = json!(format!("0x{}", hex::encode(a)))
                    }
                }
                v
            })
            .collect();
        json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/suites/jws-2020/v1"],
            "id": self.id,
            "verificationMethod": vms,
            "authentication": self.authentication,
            "assertionMethod": self.assertion_method,
        })
    }

    /// The keys that may have signed a token for a purpose. With a `kid`
    /// (an absolute DID URL of this DID, or a `#fragment`) exactly that key,
    /// if it is listed for the purpose; without one, every key listed for the
    /// purpose (the token verifies if any of them verifies it, as did-jwt does).
    pub fn keys_for(
        &self,
        kid: Option<&str>,
        purpose: Purpose,
    ) -> Result<Vec<&VerificationMethod>, ResolveError> {
        let allowed = match purpose {
            Purpose::Authentication => &self.authentication,
            Purpose::AssertionMethod => &self.assertion_method,
        };
        match kid {
            Some(kid) => {
                let absolute = if let Some(frag) = kid.strip_prefix('#') {
                    format!("{}#{frag}", self.id)
                } else {
                    let did = kid.split('#').next().unwrap_or("");
                    if did != self.id {
                        return Err(ResolveError::KeyNotFound {
                            kid: kid.to_owned(),
                            reason: format!("the key belongs to {did}, not {}", self.id),
                        });
                    }
                    kid.to_owned()
                };
                if !allowed.contains(&absolute) {
                    return Err(ResolveError::KeyNotFound {
                        kid: kid.to_owned(),
                        reason: format!("not listed under {}", purpose.as_str()),
                    });
                }
                self.verification_method
                    .iter()
                    .find(|vm| vm.id == absolute)
                    .map(|vm| vec![vm])
                    .ok_or_else(|| ResolveError::KeyNotFound {
                        kid: kid.to_owned(),
                        reason: "no such verification method".into(),
                    })
            }
            None => {
                let candidates: Vec<&VerificationMethod> = self
                    .verification_method
                    .iter()
                    .filter(|vm| allowed.contains(&vm.id))
                    .collect();
                if candidates.is_empty() {
                    return Err(ResolveError::KeyNotFound {
                        kid: String::new(),
                        reason: format!("{} has no {} key", self.id, purpose.as_str()),
                    });
                }
                Ok(candidates)
            }
        }
    }
}
