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

pub mod clock;
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
    /// A historical version (`versionId`) that cannot be resolved.
    #[error("cannot resolve that version of {did}: {reason}")]
    VersionNotFound { did: String, reason: String },
    /// A block's header (for a historical version's time) could not be read.
    #[error("block {block} of {network} cannot be read: {reason}")]
    BlockUnavailable {
        network: String,
        block: u64,
        reason: String,
    },
}

impl ResolveError {
    /// Stable reason code for refusals and the decision log.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ResolveError::InvalidDid { .. } => "invalid_did",
            ResolveError::UnsupportedMethod { .. } => "unsupported_did_method",
            ResolveError::KeyNotFound { .. } => "key_not_found",
            ResolveError::ChainUnavailable { .. }
            | ResolveError::Index(_)
            | ResolveError::BlockUnavailable { .. } => "chain_unavailable",
            ResolveError::VersionNotFound { .. } => "version_not_found",
            ResolveError::UnknownNetwork { .. } => "unknown_network",
            ResolveError::Deactivated { .. } => "did_deactivated",
        }
    }

    /// Whether the failure is on the resolver's side (the chain or its index
    /// cannot answer right now), not the DID's: retry, never a pass.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ResolveError::ChainUnavailable { .. }
                | ResolveError::Index(_)
                | ResolveError::BlockUnavailable { .. }
        )
    }
}

/// Resolves a DID to its document.
#[async_trait::async_trait]
pub trait DidResolver: Send + Sync {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError>;
}

/// Dispatches by DID method: `did:key`/`did:jwk` locally, `did:ethr` to the index.
///
/// Local documents are remembered: the DID is the key, so its document can
/// never change, and decoding it (base58/base64, then decompressing the
/// curve point) is a measurable part of checking a signature. The cache is
/// bounded by an estimate of its size in bytes, so that long `did:jwk`
/// identifiers from strangers cannot grow it; DIDs that fail to resolve are
/// never kept.
pub struct MethodResolver {
    ethr: Option<Arc<ethr::EthrResolver>>,
    local: moka::sync::Cache<Arc<str>, Arc<DidDocument>>,
}

/// Bytes of local documents kept (about 20,000 `did:key` documents).
pub const LOCAL_DOCUMENT_CACHE_BYTES: u64 = 16 << 20;

impl MethodResolver {
    pub fn new(ethr: Option<Arc<ethr::EthrResolver>>) -> Self {
        Self::with_local_cache_bytes(ethr, LOCAL_DOCUMENT_CACHE_BYTES)
    }

    /// As [`MethodResolver::new`], keeping at most about `bytes` of local
    /// documents (0 keeps none).
    pub fn with_local_cache_bytes(ethr: Option<Arc<ethr::EthrResolver>>, bytes: u64) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(bytes)
            // The identifier appears in every verification method's id and
            // controller; a few hundred bytes more for keys and the rest.
            .weigher(|did: &Arc<str>, _doc: &Arc<DidDocument>| {
                u32::try_from(did.len().saturating_mul(4).saturating_add(512)).unwrap_or(u32::MAX)
            })
            .build();
        Self { ethr, local }
    }
}

#[async_trait::async_trait]
impl DidResolver for MethodResolver {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError> {
        match (did.starts_with("did:ethr:"), &self.ethr) {
            (true, Some(r)) => r.resolve(did).await,
            _ => {
                if let Some(doc) = self.local.get(did) {
                    return Ok(doc);
                }
                let doc = Arc::new(method_local::resolve_local(did)?);
                self.local.insert(did.into(), doc.clone());
                Ok(doc)
            }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn a_did_key() -> String {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        did_key(&PublicKey::Ed25519(sk.verifying_key()))
    }

    #[tokio::test]
    async fn a_local_document_is_decoded_once() {
        let r = MethodResolver::new(None);
        let did = a_did_key();
        let first = r.resolve(&did).await.unwrap();
        let again = r.resolve(&did).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second resolve decoded again"
        );
        assert_eq!(*first, method_local::resolve_local(&did).unwrap());
    }

    #[tokio::test]
    async fn a_did_that_fails_is_not_remembered() {
        let r = MethodResolver::new(None);
        for did in [
            "did:key:z6MkNOTBASE58!!",
            "did:web:example.com",
            "did:ethr:0x01",
        ] {
            let e1 = r.resolve(did).await.unwrap_err();
            let e2 = r.resolve(did).await.unwrap_err();
            assert_eq!(e1.reason_code(), e2.reason_code());
            assert!(!r.local.contains_key(did), "{did} was cached");
        }
    }

    #[tokio::test]
    async fn a_zero_byte_cache_keeps_nothing() {
        let r = MethodResolver::with_local_cache_bytes(None, 0);
        let did = a_did_key();
        let first = r.resolve(&did).await.unwrap();
        r.local.run_pending_tasks();
        let again = r.resolve(&did).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(first, again);
    }
}
