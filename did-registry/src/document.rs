//! DID documents (DID Core): verification methods and the relationships that
//! say what each key may be used for.

use serde_json::{json, Value};

use crate::key::PublicKey;
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

/// A key in a DID document.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationMethod {
    /// Absolute DID URL, e.g. `did:key:z6Mk…#z6Mk…`.
    pub id: String,
    /// `JsonWebKey2020` or `Multikey`.
    pub type_: String,
    pub controller: String,
    pub public_key: PublicKey,
    /// For `Multikey`: the `publicKeyMultibase` value.
    pub(crate) multibase: Option<String>,
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
}

impl DidDocument {
    /// The document as DID Core JSON.
    pub fn to_json(&self) -> Value {
        let vms: Vec<Value> = self
            .verification_method
            .iter()
            .map(|vm| {
                let mut v = json!({ "id": vm.id, "type": vm.type_, "controller": vm.controller });
                match &vm.multibase {
                    Some(mb) => v["publicKeyMultibase"] = json!(mb),
                    None => {
                        v["publicKeyJwk"] =
                            serde_json::to_value(vm.public_key.to_jwk()).unwrap_or(Value::Null)
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

    /// The key a token names (`kid`) for a purpose. `kid` may be an absolute
    /// DID URL (its DID must be this document's) or a `#fragment`; without a
    /// `kid`, the document must have exactly one key for the purpose.
    pub fn key_for(
        &self,
        kid: Option<&str>,
        purpose: Purpose,
    ) -> Result<&VerificationMethod, ResolveError> {
        let allowed = match purpose {
            Purpose::Authentication => &self.authentication,
            Purpose::AssertionMethod => &self.assertion_method,
        };
        match kid {
            Some(kid) => {
                let absolute = if kid.starts_with('#') {
                    format!("{}{kid}", self.id)
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
                    .ok_or_else(|| ResolveError::KeyNotFound {
                        kid: kid.to_owned(),
                        reason: "no such verification method".into(),
                    })
            }
            None => {
                let mut candidates = self
                    .verification_method
                    .iter()
                    .filter(|vm| allowed.contains(&vm.id));
                match (candidates.next(), candidates.next()) {
                    (Some(vm), None) => Ok(vm),
                    (None, _) => Err(ResolveError::KeyNotFound {
                        kid: String::new(),
                        reason: format!("{} has no {} key", self.id, purpose.as_str()),
                    }),
                    (Some(_), Some(_)) => Err(ResolveError::AmbiguousKey {
                        did: self.id.clone(),
                    }),
                }
            }
        }
    }
}
