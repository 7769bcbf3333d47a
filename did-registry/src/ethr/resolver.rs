//! Resolves did:ethr from the event index: a cache hit is a memory lookup;
//! a miss is one indexed query. Freshness is explicit: the follower
//! invalidates an identity's cached document when it indexes a change to it,
//! a document with a `validTo` is cached no longer than that, and when the
//! node has not answered for `max_staleness` resolution fails closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use alloy_primitives::Address;
use moka::sync::Cache;

use super::chain::Chain;
use super::did::{hex_chain_id, EthrDid};
use super::document::{build_document, EthrResolution};
use super::index::EventIndex;
use crate::{DidDocument, DidResolver, ResolveError};

/// One followed chain, from the config.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The name DIDs use (`did:ethr:<name>:0x…`); the hex chain id works too.
    pub name: String,
    pub rpc_url: String,
    pub registry: Address,
    /// Expected chain id; learned from the node when `None`.
    pub chain_id: Option<u64>,
    /// Blocks to wait before indexing a block (0: index the head).
    pub confirmations: u64,
    pub poll_interval: Duration,
    /// How long the index may be used without hearing from the node.
    pub max_staleness: Duration,
    /// First block to index (the registry's deployment block).
    pub start_block: u64,
    /// Largest `eth_getLogs` range per call.
    pub max_block_range: u64,
}

/// Which version of a document: the latest, as of a block (`versionId`), or
/// as of a time in unix seconds (`versionTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Block(u64),
    Time(u64),
}

/// A cached resolution.
struct Cached {
    address: Address,
    doc: Arc<DidDocument>,
    deactivated: bool,
    valid_until: Option<u64>,
}

/// State shared by a network's follower and the resolver.
pub struct EthrNetwork {
    pub config: NetworkConfig,
    pub(crate) index: EventIndex,
    pub(crate) chain_id: AtomicU64,
    pub(crate) indexed: AtomicU64,
    pub(crate) head: AtomicU64,
    pub(crate) last_ok_ms: AtomicI64,
    /// Bumped on every invalidation, so a miss that read the index before a
    /// change landed never leaves its (stale) document in the cache.
    generation: AtomicU64,
    cache: Cache<String, Arc<Cached>>,
    /// The chain the follower reads (set by [`ChainFollower`](super::ChainFollower)):
    /// a historical resolution reads its block's time from it.
    chain: OnceLock<Arc<dyn Chain>>,
}

/// What `chain status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkStatus {
    pub name: String,
    pub chain_id: u64,
    pub head: u64,
    pub indexed: u64,
    /// Milliseconds since the node last answered (`None`: never).
    pub since_last_ok_ms: Option<i64>,
}

impl EthrNetwork {
    pub fn new(config: NetworkConfig, index: EventIndex) -> Arc<Self> {
        Arc::new(Self {
            chain_id: AtomicU64::new(config.chain_id.unwrap_or(0)),
            config,
            index,
            indexed: AtomicU64::new(0),
            head: AtomicU64::new(0),
            last_ok_ms: AtomicI64::new(0),
            generation: AtomicU64::new(0),
            cache: Cache::builder()
                .max_capacity(100_000)
                // Freshness comes from invalidation; the TTL only bounds memory held by idle DIDs.
                .time_to_idle(std::time::Duration::from_secs(3600))
                .support_invalidation_closures()
                .build(),
            chain: OnceLock::new(),
        })
    }

    /// The chain this network's follower reads (the first one attached wins).
    pub(crate) fn attach_chain(&self, chain: Arc<dyn Chain>) {
        let _ = self.chain.set(chain);
    }

    pub fn status(&self) -> NetworkStatus {
        let last = self.last_ok_ms.load(Ordering::Acquire);
        NetworkStatus {
            name: self.config.name.clone(),
            chain_id: self.chain_id.load(Ordering::Acquire),
            head: self.head.load(Ordering::Acquire),
            indexed: self.indexed.load(Ordering::Acquire),
            since_last_ok_ms: (last > 0).then(|| monotonic_ms().saturating_sub(last)),
        }
    }

    /// Called by the follower after a change to `identity` is committed to the index.
    pub(crate) fn invalidate(&self, identity: Address) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        // Applies to every entry inserted before this call; never fails once
        // closures are enabled on the builder.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| v.address == identity);
    }

    pub(crate) fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }

    fn check_fresh(&self) -> Result<(), ResolveError> {
        let last = self.last_ok_ms.load(Ordering::Acquire);
        let age_ms = monotonic_ms().saturating_sub(last);
        if last == 0 || age_ms > staleness_ms(&self.config) {
            return Err(ResolveError::ChainUnavailable {
                network: self.config.name.clone(),
                seconds: if last == 0 {
                    u64::MAX
                } else {
                    (age_ms / 1000) as u64
                },
            });
        }
        Ok(())
    }

    /// Whether the index may be behind: the chain has not answered for more
    /// than two poll intervals (it is still used until `max_staleness`).
    pub fn is_stale(&self) -> bool {
        let last = self.last_ok_ms.load(Ordering::Acquire);
        let slack = i64::try_from(self.config.poll_interval.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_mul(2)
            .saturating_add(1000);
        last == 0 || monotonic_ms().saturating_sub(last) > slack
    }

    /// Resolve from the index (no cache), latest or as of a block.
    pub async fn resolve_full(
        &self,
        did: &EthrDid,
        at_block: Option<u64>,
    ) -> Result<EthrResolution, ResolveError> {
        self.resolve_as_of(did, at_block.map_or(AsOf::Latest, AsOf::Block))
            .await
    }

    /// Resolve from the index (no cache) as of a point in the chain's history.
    pub async fn resolve_as_of(
        &self,
        did: &EthrDid,
        as_of: AsOf,
    ) -> Result<EthrResolution, ResolveError> {
        let name = &self.config.name;
        // A version is checked against the indexed head read before the
        // events, so the events hold every change up to that head.
        let head = match as_of {
            AsOf::Block(_) => self
                .index
                .cursor(name)
                .await
                .map_err(|e| ResolveError::Index(e.to_string()))?
                .map(|c| c.block_number),
            AsOf::Latest | AsOf::Time(_) => None,
        };
        let events = self
            .index
            .events_for(name, &did.address)
            .await
            .map_err(|e| ResolveError::Index(e.to_string()))?;
        let first = events.first().map_or(0, |e| e.block_number);
        let times: HashMap<u64, u64> = self
            .index
            .block_times(name, first)
            .await
            .map_err(|e| ResolveError::Index(e.to_string()))?
            .into_iter()
            .collect();
        let (at_block, now) = match as_of {
            AsOf::Latest => (None, now_secs()),
            // versionId: the document at that block, its `validTo`s evaluated
            // at that block's own time (as ethr-did-resolver does).
            AsOf::Block(at) => (Some(at), self.block_time(&did.did, at, head, &times).await?),
            // versionTime: the last change at or before that time.
            AsOf::Time(t) => {
                let at = times
                    .iter()
                    .filter(|(_, ts)| **ts <= t)
                    .map(|(n, _)| *n)
                    .max()
                    .unwrap_or(0);
                (Some(at), t)
            }
        };
        let chain_id = self.chain_id.load(Ordering::Acquire);
        let lookup = |n: u64| times.get(&n).copied();
        Ok(build_document(
            did, chain_id, &events, at_block, now, &lookup,
        ))
    }

    /// The timestamp of block `at`, for a historical resolution: from the
    /// index when the block carried registry events, else from the chain
    /// (one header lookup). A block above the indexed `head` is refused: the
    /// index may not hold its changes yet.
    async fn block_time(
        &self,
        did: &str,
        at: u64,
        head: Option<u64>,
        indexed_times: &HashMap<u64, u64>,
    ) -> Result<u64, ResolveError> {
        let name = &self.config.name;
        let version_not_found = |reason: String| ResolveError::VersionNotFound {
            did: did.to_owned(),
            reason,
        };
        match head {
            None => {
                return Err(version_not_found(format!(
                    "{name} is not indexed yet, so no version can be read"
                )))
            }
            Some(head) if at > head => {
                return Err(version_not_found(format!(
                    "block {at} is above the indexed head of {name} (block {head})"
                )))
            }
            Some(_) => {}
        }
        if let Some(t) = indexed_times.get(&at) {
            return Ok(*t);
        }
        let unavailable = |reason: String| ResolveError::BlockUnavailable {
            network: name.clone(),
            block: at,
            reason,
        };
        let chain = self
            .chain
            .get()
            .ok_or_else(|| unavailable("no chain is attached to read it from".into()))?;
        match chain.block(at).await {
            Ok(Some(b)) => Ok(b.timestamp),
            Ok(None) => Err(version_not_found(format!(
                "block {at} is not on {}",
                chain.describe()
            ))),
            Err(e) => Err(unavailable(e.to_string())),
        }
    }

    async fn resolve_cached(&self, did: &EthrDid) -> Result<Arc<DidDocument>, ResolveError> {
        self.check_fresh()?;
        let now = now_secs();
        let hit = self
            .cache
            .get(&did.did)
            .filter(|c| c.valid_until.is_none_or(|v| v >= now));
        let cached = match hit {
            Some(c) => c,
            None => {
                let generation = self.generation.load(Ordering::Acquire);
                let r = self.resolve_full(did, None).await?;
                let c = Arc::new(Cached {
                    address: did.address,
                    doc: Arc::new(r.typed),
                    deactivated: r.deactivated,
                    valid_until: r.valid_until,
                });
                self.cache.insert(did.did.clone(), c.clone());
                // A change indexed while we read may be missing from `c`: if the
                // follower invalidated meanwhile, drop what we just cached (its
                // own invalidation covers an insert that happens before it).
                if self.generation.load(Ordering::Acquire) != generation {
                    self.cache.invalidate(&did.did);
                }
                c
            }
        };
        if cached.deactivated {
            return Err(ResolveError::Deactivated {
                did: did.did.clone(),
            });
        }
        Ok(cached.doc.clone())
    }
}

/// did:ethr over the configured networks.
pub struct EthrResolver {
    by_name: HashMap<String, Arc<EthrNetwork>>,
}

impl EthrResolver {
    pub fn new(networks: Vec<Arc<EthrNetwork>>) -> Self {
        let by_name = networks
            .into_iter()
            .map(|n| (n.config.name.clone(), n))
            .collect();
        Self { by_name }
    }

    /// The network a DID names: by configured name, or by hex chain id.
    pub fn network(&self, did: &EthrDid) -> Result<&Arc<EthrNetwork>, ResolveError> {
        if let Some(n) = self.by_name.get(&did.network) {
            return Ok(n);
        }
        if let Some(id) = hex_chain_id(&did.network) {
            if let Some(n) = self
                .by_name
                .values()
                .find(|n| n.chain_id.load(Ordering::Acquire) == id)
            {
                return Ok(n);
            }
        }
        Err(ResolveError::UnknownNetwork {
            network: did.network.clone(),
        })
    }

    pub fn networks(&self) -> impl Iterator<Item = &Arc<EthrNetwork>> {
        self.by_name.values()
    }

    /// Full resolution with metadata (the `did resolve` command), latest or at a block.
    pub async fn resolve_with_metadata(
        &self,
        did: &str,
        version_id: Option<u64>,
    ) -> Result<EthrResolution, ResolveError> {
        self.resolve_version(did, version_id.map_or(AsOf::Latest, AsOf::Block))
            .await
    }

    /// Full resolution with metadata as of a block or a time.
    pub async fn resolve_version(
        &self,
        did: &str,
        as_of: AsOf,
    ) -> Result<EthrResolution, ResolveError> {
        let parsed = EthrDid::parse(did)?;
        let net = self.network(&parsed)?;
        net.check_fresh()?;
        net.resolve_as_of(&parsed, as_of).await
    }
}

#[async_trait::async_trait]
impl DidResolver for EthrResolver {
    async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError> {
        let parsed = EthrDid::parse(did)?;
        self.network(&parsed)?.resolve_cached(&parsed).await
    }
}

use crate::clock::monotonic_ms;
pub(crate) use crate::clock::unix_ms;

/// Now, in Unix seconds, for comparing with `validTo` and block times.
fn now_secs() -> u64 {
    u64::try_from(crate::clock::unix_secs()).unwrap_or(0)
}

/// The network's staleness bound in milliseconds (saturating).
pub(crate) fn staleness_ms(config: &NetworkConfig) -> i64 {
    i64::try_from(config.max_staleness.as_millis()).unwrap_or(i64::MAX)
}
