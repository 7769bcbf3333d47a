//! Follows one chain (any [`Chain`]: a node over JSON-RPC or the embedded
//! chain): polls new heads, fetches the registry's logs in block ranges
//! (`eth_getLogs`, never one call per change), and writes them to the index. Confirmations keep unsettled
//! blocks out; a reorganisation is detected by the indexed block's hash and
//! rolled back to the newest block both chains share. With a status
//! registry ([`ChainFollower::with_status`]) its `StatusChanged` logs are
//! fetched for the same ranges, stored in the same transactions and then
//! applied to the in-memory revoked set. With a log anchor
//! ([`ChainFollower::with_anchors`]) its `Anchored` events are indexed the
//! same way, for `didgate audit status` to check a log against every anchor.
//!
//! A follower that serves requests ([`ChainFollower::reporting`], the
//! gateway's) records after its rounds how far its in-memory state is
//! applied ([`FollowerReport`]), so that a command that changed the chain can
//! wait until every running gateway honours the change.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};

use super::anchor::decode_anchored;
use super::chain::{Chain, ChainError, RpcChain};
use super::events::{decode_log, RegistryEvent, StatusChange};
use super::index::{Cursor, FollowerReport, IndexError, IndexedAnchor, IndexedBlock};
use super::resolver::{unix_ms, EthrNetwork};
use super::status::StatusLists;

/// One block's logs as fetched: the block hash the logs name, each registry
/// event with its transaction hash, the status changes and the anchors.
#[derive(Default)]
struct BlockLogs {
    hash: Option<B256>,
    events: Vec<(RegistryEvent, B256)>,
    status: Vec<StatusChange>,
    anchors: Vec<IndexedAnchor>,
}

impl BlockLogs {
    /// Every log of one block must name the same block hash: two `getLogs`
    /// calls that saw different chains are a reorganisation.
    fn same_block(&mut self, number: u64, hash: B256) -> Result<(), FollowError> {
        match self.hash {
            None => {
                self.hash = Some(hash);
                Ok(())
            }
            Some(h) if h == hash => Ok(()),
            Some(_) => Err(FollowError::Reorganised(number)),
        }
    }
}

/// How far back a reorganisation is looked for when no indexed block matches.
const REORG_WINDOW: u64 = 128;

/// A reporting follower rewrites its report at least this often (its
/// heartbeat), and at once after a round that moved what it has applied.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Reports this old are deleted (processes that ended without removing theirs).
const REPORT_RETENTION_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("{chain} is on chain id {actual}, the config says {expected}")]
    WrongChain {
        chain: String,
        expected: u64,
        actual: u64,
    },
    #[error("block {0} changed while it was being indexed (reorganisation); retrying")]
    Reorganised(u64),
    #[error("block {0} is missing on the node")]
    MissingBlock(u64),
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("another follower advanced the index of {chain}; taking up from its cursor")]
    Moved { chain: String },
    #[error(
        "the index of {chain} tracks a status registry this follower does not follow; give it one"
    )]
    StatusNotFollowed { chain: String },
    #[error(
        "the index of {chain} tracks a log anchor contract this follower does not follow; \
         use the configuration whose [audit.anchor] names it"
    )]
    AnchorsNotFollowed { chain: String },
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub head: u64,
    pub indexed: u64,
    /// This follower's in-memory state (cache, revoked set) reflects every
    /// block up to this one (`indexed` may be ahead when another process
    /// indexed meanwhile; the next round takes that up).
    pub applied: u64,
    pub events: usize,
    pub rolled_back_to: Option<u64>,
}

/// Who a reporting follower is, and what it last wrote.
struct Reporter {
    follower: String,
    instance: String,
    /// (applied block, heartbeat) of the last report written.
    last: std::sync::Mutex<Option<(u64, i64)>>,
}

/// Indexes one network's registry events from its chain.
pub struct ChainFollower {
    network: Arc<EthrNetwork>,
    chain: Arc<dyn Chain>,
    status: Option<Arc<StatusLists>>,
    /// The log anchor whose `Anchored` events are indexed too.
    anchors: Option<Address>,
    progress: Option<Progress>,
    /// The cursor as this follower last wrote or read it: a different one in
    /// the database means another process indexed blocks, whose changes this
    /// process's cache and revoked set have not seen.
    last_cursor: std::sync::Mutex<Option<(u64, B256)>>,
    reporter: Option<Reporter>,
}

/// Called after each indexed range with (indexed block, target block).
type Progress = Box<dyn Fn(u64, u64) + Send + Sync>;

impl ChainFollower {
    /// Follow the network's `rpc_url` over JSON-RPC.
    pub fn new(network: Arc<EthrNetwork>) -> Result<Self, FollowError> {
        let chain = Arc::new(RpcChain::new(&network.config.rpc_url)?);
        Ok(Self::with_chain(network, chain))
    }

    /// Follow any chain (the embedded one, or a node).
    pub fn with_chain(network: Arc<EthrNetwork>, chain: Arc<dyn Chain>) -> Self {
        network.attach_chain(chain.clone());
        Self {
            network,
            chain,
            status: None,
            anchors: None,
            progress: None,
            last_cursor: std::sync::Mutex::new(None),
            reporter: None,
        }
    }

    /// Record in the database, after each successful round, the block up to
    /// which this follower's in-memory state is applied, as `follower`
    /// (unique per process) of gateway `instance` (see [`FollowerReport`]);
    /// [`run`](Self::run) removes the record when it stops. For followers
    /// whose state serves requests: commands that change the chain wait on it.
    pub fn reporting(mut self, instance: &str, follower: &str) -> Self {
        self.reporter = Some(Reporter {
            follower: follower.to_owned(),
            instance: instance.to_owned(),
            last: std::sync::Mutex::new(None),
        });
        self
    }

    /// Follow the network's `rpc_url` over HTTP(S) or WebSocket.
    pub async fn connect(network: Arc<EthrNetwork>) -> Result<Self, FollowError> {
        let chain = Arc::new(RpcChain::connect(&network.config.rpc_url).await?);
        Ok(Self::with_chain(network, chain))
    }

    fn remember(&self, cursor: Option<&Cursor>) {
        if let Ok(mut last) = self.last_cursor.lock() {
            *last = cursor.map(|c| (c.block_number, c.block_hash));
        }
    }

    /// Everything derived from the index in memory is dropped and reloaded.
    async fn forget_derived(&self) -> Result<(), FollowError> {
        self.network.invalidate_all();
        self.reload_status().await
    }

    /// Also index this status registry (on the same network) and keep its
    /// revoked set current.
    pub fn with_status(mut self, lists: Arc<StatusLists>) -> Self {
        self.status = Some(lists);
        self
    }

    /// Also index this log anchor contract's `Anchored` events (on the same network).
    pub fn with_anchors(mut self, contract: Address) -> Self {
        self.anchors = Some(contract);
        self
    }

    fn status_registry(&self) -> Option<Address> {
        self.status.as_ref().map(|s| s.registry())
    }

    async fn reload_status(&self) -> Result<(), FollowError> {
        if let Some(s) = &self.status {
            s.reload().await?;
        }
        Ok(())
    }

    /// The network this follower indexes.
    pub fn network(&self) -> &Arc<EthrNetwork> {
        &self.network
    }

    /// The chain it follows.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    /// Report progress of long syncs (the command-line tools print it).
    pub fn on_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Follow until `shutdown` flips to true: a sync round on every new head
    /// the chain pushes (WebSocket), and every poll interval in any case.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let name = self.network.config.name.clone();
        let mut heads = self.chain.subscribe_heads().await;
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
            let next_head = async {
                match heads.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(self.network.config.poll_interval) => {}
                head = next_head => {
                    if head.is_none() {
                        tracing::warn!(network = %name, "new-heads subscription ended; polling, and subscribing again");
                        heads = self.chain.subscribe_heads().await;
                    }
                }
                _ = shutdown.changed() => {
                    self.withdraw().await;
                    return;
                }
            }
        }
    }

    /// Write this follower's report if it applied more since the last one,
    /// or the last is [`REPORT_INTERVAL`] old. A failed write is logged: the
    /// round itself succeeded.
    async fn report(&self, applied: u64, heartbeat_ms: i64) {
        let Some(r) = &self.reporter else {
            return;
        };
        let last = r.last.lock().map(|l| *l).unwrap_or(None);
        let due = last.is_none_or(|(a, at)| {
            a != applied || heartbeat_ms - at >= REPORT_INTERVAL.as_millis() as i64
        });
        if !due {
            return;
        }
        let cfg = &self.network.config;
        let index = &self.network.index;
        if last.is_none() {
            if let Err(e) = index
                .remove_followers(&cfg.name, &r.follower, heartbeat_ms - REPORT_RETENTION_MS)
                .await
            {
                tracing::debug!(network = %cfg.name, error = %e, "did:ethr follower: old reports not pruned");
            }
        }
        let report = FollowerReport {
            follower: r.follower.clone(),
            instance: r.instance.clone(),
            applied_block: applied,
            heartbeat_ms,
            poll_ms: cfg.poll_interval.as_millis() as u64,
            max_staleness_ms: cfg.max_staleness.as_millis() as u64,
            confirmations: cfg.confirmations,
        };
        match index.report_follower(&cfg.name, &report).await {
            Ok(()) => {
                if let Ok(mut l) = r.last.lock() {
                    *l = Some((applied, heartbeat_ms));
                }
            }
            Err(e) => {
                tracing::warn!(network = %cfg.name, error = %e, "did:ethr follower: cannot record its progress")
            }
        }
    }

    /// Remove this follower's report (it stops following).
    async fn withdraw(&self) {
        let Some(r) = &self.reporter else {
            return;
        };
        let name = &self.network.config.name;
        let stale = unix_ms() - REPORT_RETENTION_MS;
        if let Err(e) = self
            .network
            .index
            .remove_followers(name, &r.follower, stale)
            .await
        {
            tracing::warn!(network = %name, error = %e, "did:ethr follower: cannot remove its progress record");
        }
    }

    /// One round: check for a reorganisation, then index up to head − confirmations.
    pub async fn sync_once(&self) -> Result<SyncReport, FollowError> {
        let net = &self.network;
        let cfg = &net.config;
        let chain_id = self.chain.chain_id().await?;
        if let Some(expected) = cfg.chain_id {
            if expected != chain_id {
                return Err(FollowError::WrongChain {
                    chain: self.chain.describe(),
                    expected,
                    actual: chain_id,
                });
            }
        }
        net.chain_id.store(chain_id, Ordering::Release);
        let head = self.chain.block_number().await?;
        // Block numbers are stored as i64: a head beyond that is a node's lie.
        let target = head.saturating_sub(cfg.confirmations).min(i64::MAX as u64);
        let mut report = SyncReport {
            head,
            ..SyncReport::default()
        };

        let stored = net.index.cursor(&cfg.name).await?;
        let last = self.last_cursor.lock().map(|l| *l).unwrap_or(None);
        if last != stored.as_ref().map(|c| (c.block_number, c.block_hash)) {
            // Another process (a command, another gateway) moved the index,
            // or this follower does not know what it derived from (its first
            // round, or one after a lost race): derive everything again.
            self.forget_derived().await?;
        }
        let mut cursor = match stored {
            Some(c) if c.status_registry.is_some() && self.status.is_none() => {
                // Indexing blocks without their status events would hide
                // revocations from the followers that track them.
                return Err(FollowError::StatusNotFollowed {
                    chain: cfg.name.clone(),
                });
            }
            Some(c) if c.anchor_contract.is_some() && self.anchors.is_none() => {
                // Same for anchors: `audit status` would miss some.
                return Err(FollowError::AnchorsNotFollowed {
                    chain: cfg.name.clone(),
                });
            }
            Some(c)
                if c.registry != cfg.registry
                    || c.chain_id != chain_id
                    || c.status_registry != self.status_registry()
                    || c.anchor_contract != self.anchors =>
            {
                tracing::warn!(network = %cfg.name, "registry address, status registry, log anchor or chain id changed: indexing again from the start");
                // Fail closed until the index is whole again.
                net.last_ok_ms.store(0, Ordering::Release);
                net.index.reset(&cfg.name).await?;
                self.remember(None);
                self.forget_derived().await?;
                None
            }
            other => other,
        };
        if let Some(c) = &cursor {
            if let Some(fork) = self.find_fork(c).await? {
                net.last_ok_ms.store(0, Ordering::Release);
                self.guard(net.index.rollback(&cfg.name, c, &fork).await)?;
                self.forget_derived().await?;
                report.rolled_back_to = Some(fork.block_number);
                cursor = Some(fork);
            }
        }
        self.remember(cursor.as_ref());
        let mut from = cursor
            .as_ref()
            .map_or(cfg.start_block, |c| c.block_number.saturating_add(1));
        while from <= target {
            let to = target.min(from.saturating_add(cfg.max_block_range.max(1) - 1));
            // The range's last block before and after its logs are read: a
            // reorganisation in between could hide a change in a block that
            // had none before.
            let to_hash = self.block_hash(to).await?;
            let (blocks, touched) = self.fetch_range(from, to).await?;
            if self.block_hash(to).await? != to_hash {
                return Err(FollowError::Reorganised(to));
            }
            let next = Cursor {
                block_number: to,
                block_hash: to_hash,
                chain_id,
                registry: cfg.registry,
                status_registry: self.status_registry(),
                anchor_contract: self.anchors,
            };
            self.guard(
                net.index
                    .append(&cfg.name, &blocks, cursor.as_ref(), &next)
                    .await,
            )?;
            self.remember(Some(&next));
            cursor = Some(next);
            report.events += blocks
                .iter()
                .map(|b| b.events.len() + b.status.len() + b.anchors.len())
                .sum::<usize>();
            for a in touched {
                net.invalidate(a);
            }
            if let Some(s) = &self.status {
                for b in &blocks {
                    s.apply(&b.status);
                }
            }
            net.indexed.store(to, Ordering::Release);
            if let Some(p) = &self.progress {
                p(to, target);
            }
            match to.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
        report.applied = cursor
            .as_ref()
            .map_or(cfg.start_block.saturating_sub(1), |c| c.block_number);
        report.indexed = net
            .index
            .cursor(&cfg.name)
            .await?
            .map_or(0, |c| c.block_number);
        net.indexed.store(report.indexed, Ordering::Release);
        net.head.store(head, Ordering::Release);
        // Staleness is elapsed time (unaffected by clock steps); the report
        // to other processes is wall time.
        net.last_ok_ms
            .store(crate::clock::monotonic_ms(), Ordering::Release);
        self.report(report.applied, unix_ms()).await;
        Ok(report)
    }

    /// A write that lost the race to another follower: drop what this process
    /// derived, and take up from the other's cursor next round.
    fn guard(&self, r: Result<(), IndexError>) -> Result<(), FollowError> {
        match r {
            Err(IndexError::Moved { chain }) => {
                self.remember(None);
                self.network.invalidate_all();
                Err(FollowError::Moved { chain })
            }
            other => Ok(other?),
        }
    }

    async fn block_hash(&self, n: u64) -> Result<B256, FollowError> {
        let b = self
            .chain
            .block(n)
            .await?
            .ok_or(FollowError::MissingBlock(n))?;
        Ok(b.hash)
    }

    /// `None` when the indexed head is still on the node's chain; otherwise
    /// the newest indexed point that is.
    async fn find_fork(&self, cursor: &Cursor) -> Result<Option<Cursor>, FollowError> {
        let on_chain = |n: u64| async move {
            Ok::<_, FollowError>(self.chain.block(n).await?.map(|b| b.hash))
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
        // No indexed block in the window is on this chain (a dev chain
        // restarted, a very deep reorganisation): nothing older can be
        // trusted either, so index everything again.
        let n = cfg.start_block.saturating_sub(1);
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
        let logs = self
            .chain
            .logs(self.network.config.registry, from, to)
            .await?;
        let mut by_block: BTreeMap<u64, BlockLogs> = BTreeMap::new();
        let mut touched = Vec::new();
        for log in logs {
            let (block_number, log_index) = (log.block_number, log.log_index);
            if !(from..=to).contains(&block_number) {
                // Not what was asked for: a node that cannot be believed for
                // this range (the round fails; past max_staleness, closed).
                return Err(FollowError::Reorganised(block_number));
            }
            let Some((identity, previous_change, kind)) = decode_log(&log.topics, &log.data) else {
                continue;
            };
            if !touched.contains(&identity) {
                touched.push(identity);
            }
            let slot = by_block.entry(block_number).or_default();
            slot.same_block(block_number, log.block_hash)?;
            slot.events.push((
                RegistryEvent {
                    identity,
                    block_number,
                    log_index,
                    previous_change,
                    kind,
                },
                log.tx_hash,
            ));
        }
        if let Some(status) = self.status_registry() {
            for log in self.chain.logs(status, from, to).await? {
                if !(from..=to).contains(&log.block_number) {
                    return Err(FollowError::Reorganised(log.block_number));
                }
                let Some(change) = StatusChange::from_log(&log) else {
                    continue;
                };
                let slot = by_block.entry(log.block_number).or_default();
                slot.same_block(log.block_number, log.block_hash)?;
                slot.status.push(change);
            }
        }
        if let Some(contract) = self.anchors {
            for log in self.chain.logs(contract, from, to).await? {
                if !(from..=to).contains(&log.block_number) {
                    return Err(FollowError::Reorganised(log.block_number));
                }
                let Some(event) = decode_anchored(&log.topics, &log.data) else {
                    continue;
                };
                let slot = by_block.entry(log.block_number).or_default();
                slot.same_block(log.block_number, log.block_hash)?;
                slot.anchors.push(IndexedAnchor {
                    event,
                    block_number: log.block_number,
                    log_index: log.log_index,
                    tx_hash: log.tx_hash,
                });
            }
        }
        let mut blocks = Vec::with_capacity(by_block.len());
        for (number, logs) in by_block {
            let BlockLogs {
                hash: log_block_hash,
                mut events,
                mut status,
                mut anchors,
            } = logs;
            let block = self
                .chain
                .block(number)
                .await?
                .ok_or(FollowError::MissingBlock(number))?;
            if log_block_hash.is_some_and(|h| h != block.hash) {
                // The chain moved between the two calls: write nothing, retry next round.
                return Err(FollowError::Reorganised(number));
            }
            events.sort_by_key(|(e, _)| e.log_index);
            status.sort_by_key(|c| c.log_index);
            anchors.sort_by_key(|a| a.log_index);
            blocks.push(IndexedBlock {
                number,
                hash: block.hash,
                timestamp: block.timestamp,
                events,
                status,
                anchors,
            });
        }
        Ok((blocks, touched))
    }
}

/// Poll interval default: about a block on most chains' scale, fast enough for tests.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
