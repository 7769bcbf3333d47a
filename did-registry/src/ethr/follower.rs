//! Follows one chain: polls new heads over JSON-RPC (alloy), fetches the
//! registry's logs in block ranges (`eth_getLogs`, never one call per
//! change), and writes them to the index. Confirmations keep unsettled
//! blocks out; a reorganisation is detected by the indexed block's hash and
//! rolled back to the newest block both chains share.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter};

use super::events::{decode_log, RegistryEvent};
use super::index::{Cursor, IndexError, IndexedBlock};
use super::resolver::{unix_ms, EthrNetwork};

/// One block's registry events as fetched: the block hash the logs name, and
/// each event with its transaction hash.
type BlockLogs = (Option<B256>, Vec<(RegistryEvent, B256)>);

/// How far back a reorganisation is looked for when no indexed block matches.
const REORG_WINDOW: u64 = 128;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("the node at {url} did not answer: {source}")]
    Rpc {
        url: String,
        source: alloy_provider::transport::TransportError,
    },
    #[error("the node at {url} is on chain id {actual}, the config says {expected}")]
    WrongChain {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("block {0} changed while it was being indexed (reorganisation); retrying")]
    Reorganised(u64),
    #[error("block {0} is missing on the node")]
    MissingBlock(u64),
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("invalid RPC URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub head: u64,
    pub indexed: u64,
    pub events: usize,
    pub rolled_back_to: Option<u64>,
}

/// Indexes one network's registry events from its node.
pub struct ChainFollower {
    network: Arc<EthrNetwork>,
    provider: RootProvider,
}

impl ChainFollower {
    pub fn new(network: Arc<EthrNetwork>) -> Result<Self, FollowError> {
        // reqwest's rustls uses the process-wide provider; install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = &network.config.rpc_url;
        let parsed: reqwest::Url =
            url.parse()
                .map_err(|e: url_error::ParseError| FollowError::BadUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FollowError::BadUrl {
                url: url.clone(),
                reason: "use an http:// or https:// JSON-RPC endpoint".into(),
            });
        }
        Ok(Self {
            provider: RootProvider::new_http(parsed),
            network,
        })
    }

    fn rpc(&self) -> impl Fn(alloy_provider::transport::TransportError) -> FollowError + '_ {
        move |source| FollowError::Rpc {
            url: self.network.config.rpc_url.clone(),
            source,
        }
    }

    /// Follow until `shutdown` flips to true: a sync round every poll interval.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let name = self.network.config.name.clone();
        loop {
            match self.sync_once().await {
                Ok(r) if r.events > 0 || r.rolled_back_to.is_some() => {
                    tracing::info!(network = %name, head = r.head, indexed = r.indexed, events = r.events,
                        rolled_back_to = ?r.rolled_back_to, "did:ethr index updated")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(network = %name, error = %e, "did:ethr follower: sync failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.network.config.poll_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: check for a reorganisation, then index up to head − confirmations.
    pub async fn sync_once(&self) -> Result<SyncReport, FollowError> {
        let net = &self.network;
        let cfg = &net.config;
        let chain_id = self.provider.get_chain_id().await.map_err(self.rpc())?;
        if let Some(expected) = cfg.chain_id {
            if expected != chain_id {
                return Err(FollowError::WrongChain {
                    url: cfg.rpc_url.clone(),
                    expected,
                    actual: chain_id,
                });
            }
        }
        net.chain_id.store(chain_id, Ordering::Release);
        let head = self.provider.get_block_number().await.map_err(self.rpc())?;
        let target = head.saturating_sub(cfg.confirmations);
        let mut report = SyncReport {
            head,
            ..SyncReport::default()
        };

        let mut cursor = match net.index.cursor(&cfg.name).await? {
            Some(c) if c.registry != cfg.registry || c.chain_id != chain_id => {
                tracing::warn!(network = %cfg.name, "registry address or chain id changed: indexing again from the start");
                net.index.reset(&cfg.name).await?;
                net.invalidate_all();
                None
            }
            other => other,
        };
        if let Some(c) = &cursor {
            if let Some(fork) = self.find_fork(c).await? {
                net.index.rollback(&cfg.name, &fork).await?;
                net.invalidate_all();
                report.rolled_back_to = Some(fork.block_number);
                cursor = Some(fork);
            }
        }
        let mut from = cursor
            .as_ref()
            .map_or(cfg.start_block, |c| c.block_number + 1);
        while from <= target {
            let to = target.min(from.saturating_add(cfg.max_block_range.max(1) - 1));
            let (blocks, touched) = self.fetch_range(from, to).await?;
            let to_hash = self.block_hash(to).await?;
            let cursor = Cursor {
                block_number: to,
                block_hash: to_hash,
                chain_id,
                registry: cfg.registry,
            };
            net.index.append(&cfg.name, &blocks, &cursor).await?;
            report.events += blocks.iter().map(|b| b.events.len()).sum::<usize>();
            for a in touched {
                net.invalidate(a);
            }
            net.indexed.store(to, Ordering::Release);
            from = to + 1;
        }
        report.indexed = net
            .index
            .cursor(&cfg.name)
            .await?
            .map_or(0, |c| c.block_number);
        net.indexed.store(report.indexed, Ordering::Release);
        net.head.store(head, Ordering::Release);
        net.last_ok_ms.store(unix_ms(), Ordering::Release);
        Ok(report)
    }

    async fn block_hash(&self, n: u64) -> Result<B256, FollowError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .map_err(self.rpc())?
            .ok_or(FollowError::MissingBlock(n))?;
        Ok(block.header.hash)
    }

    /// `None` when the indexed head is still on the node's chain; otherwise
    /// the newest indexed point that is.
    async fn find_fork(&self, cursor: &Cursor) -> Result<Option<Cursor>, FollowError> {
        let on_chain = |n: u64| async move {
            match self
                .provider
                .get_block_by_number(BlockNumberOrTag::Number(n))
                .await
            {
                Ok(Some(b)) => Ok(Some(b.header.hash)),
                Ok(None) => Ok(None),
                Err(e) => Err(self.rpc()(e)),
            }
        };
        if on_chain(cursor.block_number).await? == Some(cursor.block_hash) {
            return Ok(None);
        }
        let floor = cursor.block_number.saturating_sub(REORG_WINDOW);
        let cfg = &self.network.config;
        for (n, hash) in self.network.index.blocks_from(&cfg.name, floor).await? {
            if on_chain(n).await? == Some(hash) {
                return Ok(Some(Cursor {
                    block_number: n,
                    block_hash: hash,
                    ..cursor.clone()
                }));
            }
        }
        let n = floor.max(cfg.start_block.saturating_sub(1));
        let hash = on_chain(n).await?.ok_or(FollowError::MissingBlock(n))?;
        Ok(Some(Cursor {
            block_number: n,
            block_hash: hash,
            ..cursor.clone()
        }))
    }

    async fn fetch_range(
        &self,
        from: u64,
        to: u64,
    ) -> Result<(Vec<IndexedBlock>, Vec<Address>), FollowError> {
        let filter = Filter::new()
            .address(self.network.config.registry)
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(self.rpc())?;
        let mut by_block: BTreeMap<u64, BlockLogs> = BTreeMap::new();
        let mut touched = Vec::new();
        for log in logs {
            if log.removed {
                continue;
            }
            let (Some(block_number), Some(log_index)) = (log.block_number, log.log_index) else {
                continue;
            };
            let Some((identity, previous_change, kind)) =
                decode_log(log.topics(), &log.data().data)
            else {
                continue;
            };
            if !touched.contains(&identity) {
                touched.push(identity);
            }
            let slot = by_block.entry(block_number).or_default();
            slot.0 = slot.0.or(log.block_hash);
            slot.1.push((
                RegistryEvent {
                    identity,
                    block_number,
                    log_index,
                    previous_change,
                    kind,
                },
                log.transaction_hash.unwrap_or_default(),
            ));
        }
        let mut blocks = Vec::with_capacity(by_block.len());
        for (number, (log_block_hash, mut events)) in by_block {
            let block = self
                .provider
                .get_block_by_number(BlockNumberOrTag::Number(number))
                .await
                .map_err(self.rpc())?
                .ok_or(FollowError::MissingBlock(number))?;
            if log_block_hash.is_some_and(|h| h != block.header.hash) {
                // The chain moved between the two calls: write nothing, retry next round.
                return Err(FollowError::Reorganised(number));
            }
            events.sort_by_key(|(e, _)| e.log_index);
            blocks.push(IndexedBlock {
                number,
                hash: block.header.hash,
                timestamp: block.header.timestamp,
                events,
            });
        }
        Ok((blocks, touched))
    }
}

/// `reqwest::Url`'s parse error, named for the map_err above.
mod url_error {
    pub use reqwest::Url;
    pub type ParseError = <Url as std::str::FromStr>::Err;
}

/// Poll interval default: about a block on most chains' scale, fast enough for tests.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
