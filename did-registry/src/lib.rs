//! DID resolution for didgate.
//!
//! Owns: turning a DID into a DID document and a key into something that can
//! check a JOSE signature. Today that is `did:key` and `did:jwk`, both derived
//! from the identifier with no I/O ([`LocalResolver`]). The on-chain
//! ERC-1056 registry behind `did:ethr` will implement the same
//! [`DidResolver`] trait.
//!
//! Does not own: credential formats or token parsing (`credentials`), or
//! which issuers are trusted (the gateway's config).

mod document;
mod key;
mod method_local;

use std::sync::Arc;

pub use document::{DidDocument, Purpose, VerificationMethod};
pub use key::{Jwk, KeyError, KeyType, PublicKey, SignatureError};
pub use method_local::{default_key_id, did_jwk, did_key};

/// Why a DID or key could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid DID {did:?}: {reason}")]
    InvalidDid { did: String, reason: String },
    #[error("DID method {method:?} is not supported (did:key and did:jwk are)")]
    UnsupportedMethod { method: String },
    #[error("key {kid:?} not found: {reason}")]
    KeyNotFound { kid: String, reason: String },
    #[error("{did} has several keys; the token must name one with kid")]
    AmbiguousKey { did: String },
}

impl ResolveError {
    /// Stable reason code for refusals and the decision log.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ResolveError::InvalidDid { .. } => "invalid_did",
            ResolveError::UnsupportedMethod { .. } => "unsupported_did_method",
            ResolveError::KeyNotFound { .. } | ResolveError::AmbiguousKey { .. } => "key_not_found",
        }
    }
}

/// Resolves a DID to its document.
#[async_trait::async_trait]
pub trait DidResolver: Send + Sync {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError>;
}

/// `did:key` and `did:jwk`: pure computation, no I/O.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalResolver;

#[async_trait::async_trait]
impl DidResolver for LocalResolver {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError> {
        method_local::resolve_local(did).map(Arc::new)
    }
}
