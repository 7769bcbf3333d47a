//! DID resolution for didgate.
//!
//! Owns: turning a DID into a DID document and a key into something that can
//! check a JOSE signature. Today that is `did:key` and `did:jwk`, both derived
//! from the identifier with no I/O ([`LocalResolver`]); and `did:ethr`, the
//! ERC-1056 registry on an EVM chain ([`ethr`]): a follower indexes every
//! registry event into the database and [`ethr::EthrResolver`] answers from
//! that index (and a cache in front of it), never from the chain on the
//! request path. [`MethodResolver`] dispatches by method.
//!
//! Does not own: credential formats or token parsing (`credentials`), or
//! which issuers are trusted (the gateway's config).

mod document;
pub mod ethr;
mod key;
mod method_local;

use std::sync::Arc;

pub use document::{DidDocument, KeyMaterial, Purpose, VerificationMethod};
pub use key::{Jwk, KeyError, KeyType, PublicKey, SignatureError};
pub use method_local::{default_key_id, did_jwk, did_key};

/// Why a DID or key could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid DID {did:?}: {reason}")]
    InvalidDid { did: String, reason: String },
    #[error("DID method {method:?} is not supported (did:key, did:jwk and configured did:ethr networks are)")]
    UnsupportedMethod { method: String },
    #[error("key {kid:?} not found: {reason}")]
    KeyNotFound { kid: String, reason: String },
    #[error("{network} chain data is stale: the node has not answered for {seconds} s")]
    ChainUnavailable { network: String, seconds: u64 },
    #[error("no chain is configured for did:ethr network {network:?}")]
    UnknownNetwork { network: String },
    #[error("the DID index cannot be read: {0}")]
    Index(String),
    #[error("{did} is deactivated")]
    Deactivated { did: String },
}

impl ResolveError {
    /// Stable reason code for refusals and the decision log.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ResolveError::InvalidDid { .. } => "invalid_did",
            ResolveError::UnsupportedMethod { .. } => "unsupported_did_method",
            ResolveError::KeyNotFound { .. } => "key_not_found",
            ResolveError::ChainUnavailable { .. } | ResolveError::Index(_) => "chain_unavailable",
            ResolveError::UnknownNetwork { .. } => "unknown_network",
            ResolveError::Deactivated { .. } => "did_deactivated",
        }
    }
}

/// Resolves a DID to its document.
#[async_trait::async_trait]
pub trait DidResolver: Send + Sync {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError>;
}

/// Dispatches by DID method: `did:key`/`did:jwk` locally, `did:ethr` to the index.
pub struct MethodResolver {
    pub ethr: Option<Arc<ethr::EthrResolver>>,
}

#[async_trait::async_trait]
impl DidResolver for MethodResolver {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError> {
        match (did.starts_with("did:ethr:"), &self.ethr) {
            (true, Some(r)) => r.resolve(did).await,
            _ => LocalResolver.resolve(did).await,
        }
    }
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
