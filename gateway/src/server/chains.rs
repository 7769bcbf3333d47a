//! The chains of `[chains.NAME]`: open each (a node over JSON-RPC, or the
//! embedded chain in the gateway's database), and the did:ethr resolver and
//! followers over them, and the credential status checker over the chains
//! with a status registry. Used by `serve`, the demo and the command-line tools.
//!
//! A gateway's followers record how far they have applied the chain
//! (`ethr_followers`); [`wait_until_applied`] is how a command that changed
//! the chain waits until every running gateway honours the change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use did_registry::ethr::{
    hex_chain_id, Address, Chain, ChainError, ChainFollower, EmbeddedChain, EthrDid, EthrNetwork,
    EthrResolver, EthrStatusChecker, FollowerReport, IndexError, RpcChain, StatusLists,
    REPORT_INTERVAL,
};

use crate::clock::unix_ms;
use crate::config::{ChainConfig, Config};
use crate::store::Store;

/// Chain id of an embedded chain whose config sets none (a private-use id).
pub const EMBEDDED_CHAIN_ID: u64 = 1_337_001;

/// A chain of the config, opened.
pub struct OpenedChain {
    pub chain: Arc<dyn Chain>,
    /// The ERC-1056 registry.
    pub registry: Address,
    /// The credential status registry (`None`: not configured, or not asked for).
    pub status_registry: Option<Address>,
}

/// Open the chain a config entry names. On an embedded chain, contracts the
/// config does not name are deployed at first use: the ERC-1056 registry
/// always, the status registry only `with_status` (the gateway and every
/// follower ask for it; the DID write tools do not, so they never deploy it
/// as a side effect).
pub async fn open_chain(
    name: &str,
    cfg: &ChainConfig,
    store: &Store,
    with_status: bool,
) -> Result<OpenedChain, ChainError> {
    let configured_status = cfg
        .status_registry
        .as_deref()
        .map(parse_address)
        .transpose()?;
    if cfg.embedded {
        let chain = EmbeddedChain::open(
            store.event_index(),
            name,
            cfg.chain_id.unwrap_or(EMBEDDED_CHAIN_ID),
        )
        .await?;
        let registry = match &cfg.registry {
            Some(r) => parse_address(r)?,
            None => chain.ensure_registry().await?,
        };
        let status_registry = match (configured_status, with_status) {
            (Some(a), _) => Some(a),
            (None, true) => Some(chain.ensure_status_registry().await?),
            (None, false) => None,
        };
        Ok(OpenedChain {
            chain: Arc::new(chain),
            registry,
            status_registry,
        })
    } else {
        let url = cfg.rpc_url.as_deref().unwrap_or_default();
        Ok(OpenedChain {
            chain: Arc::new(RpcChain::connect(url).await?),
            registry: parse_address(cfg.registry.as_deref().unwrap_or_default())?,
            status_registry: configured_status,
        })
    }
}

/// The `[chains.NAME]` a did:ethr lives on: by name, or by the configured
/// chain id its hex network segment names.
pub fn chain_name_for(config: &Config, did: &EthrDid) -> Option<String> {
    config
        .chains
        .iter()
        .find(|(name, c)| {
            **name == did.network
                || hex_chain_id(&did.network).is_some_and(|id| c.chain_id == Some(id))
        })
        .map(|(name, _)| name.clone())
}

/// The `LogAnchor` contract the decision log is anchored to on chain
/// `name` (`[audit.anchor]`), if it is anchored there. On an embedded chain
/// without a configured address it is deployed at first use.
pub async fn anchor_contract(
    config: &Config,
    name: &str,
    store: &Store,
) -> Result<Option<Address>, ChainError> {
    let Some(a) = config.audit.anchor.as_ref().filter(|a| a.chain == name) else {
        return Ok(None);
    };
    let Some(cfg) = config.chains.get(name) else {
        return Ok(None);
    };
    match (&a.contract, cfg.embedded) {
        (Some(c), _) => parse_address(c).map(Some),
        (None, true) => {
            let embedded = EmbeddedChain::open(
                store.event_index(),
                name,
                cfg.chain_id.unwrap_or(EMBEDDED_CHAIN_ID),
            )
            .await?;
            Ok(Some(embedded.ensure_log_anchor().await?))
        }
        (None, false) => Err(ChainError::Embedded(
            "audit.anchor.contract: a chain on a node needs the LogAnchor contract's address \
             (deploy it with `didgate chain deploy`)"
                .into(),
        )),
    }
}

/// One chain's network state and its follower, indexing the ERC-1056
/// registry, (when there is one) the status registry and (when the decision
/// log is anchored there) the log anchor. Every follower of one database —
/// the gateway's or a command's — is built here, so they all index the
/// same contracts.
pub async fn follower_for(
    config: &Config,
    name: &str,
    store: &Store,
) -> Result<(Arc<EthrNetwork>, ChainFollower, Option<Arc<StatusLists>>), ChainError> {
    let Some(cfg) = config.chains.get(name) else {
        return Err(ChainError::Embedded(format!("no [chains.{name}]")));
    };
    let opened = open_chain(name, cfg, store, true).await?;
    let net = EthrNetwork::new(cfg.network(name, opened.registry), store.event_index());
    let mut follower = ChainFollower::with_chain(net.clone(), opened.chain);
    if let Some(contract) = anchor_contract(config, name, store).await? {
        follower = follower.with_anchors(contract);
    }
    let mut lists = None;
    if let Some(status_registry) = opened.status_registry {
        let l = StatusLists::load(net.clone(), status_registry)
            .await
            .map_err(|e| ChainError::Index(format!("status index: {e}")))?;
        follower = follower.with_status(l.clone());
        lists = Some(l);
    }
    Ok((net, follower, lists))
}

fn parse_address(s: &str) -> Result<Address, ChainError> {
    s.parse()
        .map_err(|_| ChainError::Embedded(format!("{s:?} is not an address")))
}

/// What [`follow`] sets up.
pub struct Followed {
    /// did:ethr resolution (`None`: no chains).
    pub resolver: Option<Arc<EthrResolver>>,
    /// Credential status over the chains' status registries (`None`: no chains).
    pub status: Option<Arc<EthrStatusChecker>>,
    pub followers: Vec<ChainFollower>,
}

/// The resolver over every configured chain and a follower for each. Every
/// chain is synced once first (bounded by `initial_sync`), so a restarted
/// gateway answers from an up-to-date index; a node that does not answer
/// does not stop the start: did:ethr requests are refused with
/// `chain_unavailable` until it does.
pub async fn follow(
    config: &Config,
    store: &Store,
    initial_sync: Duration,
) -> Result<Followed, (String, ChainError)> {
    if config.chains.is_empty() {
        return Ok(Followed {
            resolver: None,
            status: None,
            followers: Vec::new(),
        });
    }
    let mut networks = Vec::new();
    let mut status_lists = Vec::new();
    let mut followers = Vec::new();
    let instance = &config.server.instance;
    for name in config.chains.keys() {
        let (net, follower, lists) = follower_for(config, name, store)
            .await
            .map_err(|e| (name.clone(), e))?;
        // This process serves from what its follower applies: say how far.
        let follower =
            follower.reporting(instance, &format!("{instance}/{}", uuid::Uuid::new_v4()));
        status_lists.extend(lists);
        match tokio::time::timeout(initial_sync, follower.sync_once()).await {
            Ok(Ok(r)) => {
                tracing::info!(network = %name, head = r.head, indexed = r.indexed, "did:ethr index ready")
            }
            Ok(Err(e)) => tracing::warn!(network = %name, error = %e,
                "did:ethr: the chain does not answer yet; did:ethr requests are refused until it does"),
            Err(_) => {
                tracing::warn!(network = %name, "did:ethr: initial sync not done yet; the follower takes it up once serving")
            }
        }
        networks.push(net);
        followers.push(follower);
    }
    let status = Arc::new(EthrStatusChecker::new(networks.clone(), status_lists));
    Ok(Followed {
        resolver: Some(Arc::new(EthrResolver::new(networks))),
        status: Some(status),
        followers,
    })
}

/// Where one running follower stands with a change in a given block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Its in-memory state has applied the block: it honours the change.
    Applied,
    /// It reports on time and should apply the block at its next round.
    Pending,
    /// It waits for more confirmations; the chain is at `head`.
    Unconfirmed { head: u64 },
    /// It has stopped reporting (stopped, or cannot reach the chain or the
    /// database) but may still serve from its older view until `serves_until_ms`.
    Silent { serves_until_ms: i64 },
    /// Its last report is older than its staleness bound: if it still runs,
    /// it refuses did:ethr requests (fail closed), so it cannot let the old
    /// document through.
    Gone,
}

/// The latest a follower can have had a successful round, given its report
/// (reports are rewritten at least every [`REPORT_INTERVAL`]), plus its
/// staleness bound: past this it refuses did:ethr requests.
fn serves_until_ms(r: &FollowerReport) -> i64 {
    let ms = |d: u64| i64::try_from(d).unwrap_or(i64::MAX);
    r.heartbeat_ms
        .saturating_add(REPORT_INTERVAL.as_millis() as i64)
        .saturating_add(ms(r.max_staleness_ms))
}

/// How long a follower may go without a report and still count as
/// following: two rounds (or report intervals) and a slow round's slack.
fn live_window_ms(r: &FollowerReport) -> i64 {
    let beat = poll_ms(r).max(REPORT_INTERVAL.as_millis() as u64);
    i64::try_from(beat.saturating_mul(2).saturating_add(3_000)).unwrap_or(i64::MAX)
}

/// A report's poll interval (a row another process wrote: bounded as the
/// config bounds it).
fn poll_ms(r: &FollowerReport) -> u64 {
    r.poll_ms.min(60_000)
}

/// Classify one follower's report for a change in `block` (`head`: the
/// chain's head when known).
pub fn standing(r: &FollowerReport, block: u64, head: Option<u64>, now_ms: i64) -> Standing {
    if r.applied_block >= block {
        return Standing::Applied;
    }
    if now_ms > serves_until_ms(r) {
        return Standing::Gone;
    }
    if let Some(head) = head {
        if r.confirmations > 0 && head < block.saturating_add(r.confirmations) {
            return Standing::Unconfirmed { head };
        }
    }
    if now_ms.saturating_sub(r.heartbeat_ms) <= live_window_ms(r) {
        Standing::Pending
    } else {
        Standing::Silent {
            serves_until_ms: serves_until_ms(r),
        }
    }
}

/// What [`wait_until_applied`] found: every follower of the chain that
/// reported, with its standing when the wait ended.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub chain: String,
    pub block: u64,
    pub waited: Duration,
    pub followers: Vec<(FollowerReport, Standing)>,
}

impl ApplyOutcome {
    /// Every running follower honours the change (or fails closed).
    pub fn complete(&self) -> bool {
        self.followers
            .iter()
            .all(|(_, s)| matches!(s, Standing::Applied | Standing::Gone))
    }

    /// What to tell the user: one line when the change is in effect
    /// everywhere, else a line per gateway that does not honour it yet,
    /// saying until when at the latest.
    pub fn describe(&self, now_ms: i64) -> Vec<String> {
        let (chain, block) = (&self.chain, self.block);
        let applied: Vec<&str> = self
            .followers
            .iter()
            .filter(|(_, s)| *s == Standing::Applied)
            .map(|(r, _)| r.instance.as_str())
            .collect();
        if self.complete() {
            return vec![if applied.is_empty() {
                format!(
                    "no gateway on this database follows {chain} right now; one applies block {block} \
                     when it starts (gateways on other databases: at their next poll)"
                )
            } else {
                format!(
                    "in effect: every running gateway on this database that follows {chain} ({}) \
                     has applied block {block} (waited {} ms)",
                    applied.join(", "),
                    self.waited.as_millis()
                )
            }];
        }
        let secs = |until: i64| ((until - now_ms).max(0) + 999) / 1000;
        let mut out = Vec::new();
        for (r, s) in &self.followers {
            let who = &r.instance;
            match s {
                Standing::Applied | Standing::Gone => {}
                Standing::Pending => out.push(format!(
                    "gateway {who} has not applied block {block} of {chain} after {:.1} s (it is at block {}, polling every {} ms); \
                     it applies it at its next round, and if it cannot sync it refuses did:ethr requests within {} s",
                    self.waited.as_secs_f64(),
                    r.applied_block,
                    r.poll_ms,
                    secs(serves_until_ms(r))
                )),
                Standing::Unconfirmed { head } => out.push(format!(
                    "gateway {who} applies block {block} of {chain} once it has {} confirmations (the chain is at block {head}: \
                     {} more blocks); until then it serves the older view",
                    r.confirmations,
                    block.saturating_add(r.confirmations).saturating_sub(*head)
                )),
                Standing::Silent { serves_until_ms } => out.push(format!(
                    "gateway {who} has not reported for {} s (stopped, or it cannot sync {chain}); if it still runs, \
                     it refuses did:ethr requests within {} s at the latest",
                    now_ms.saturating_sub(r.heartbeat_ms).max(0) / 1000,
                    secs(*serves_until_ms)
                )),
            }
        }
        out
    }
}

/// After a transaction in `block` of chain `name`: wait until every running
/// gateway that follows it (on this database) has applied that block, so
/// the very next request to any of them sees the change. Waits only for
/// followers that report on time (at most `10 s` plus two of their poll
/// intervals); one that is silent, or waits for confirmations, is not
/// waited for, and the outcome says until when at the latest it may still
/// serve the older view.
pub async fn wait_until_applied(
    store: &Store,
    name: &str,
    block: u64,
    chain: &dyn Chain,
) -> Result<ApplyOutcome, IndexError> {
    let index = store.event_index();
    // The head only matters to followers that wait for confirmations.
    let head = chain.block_number().await.ok();
    let started = Instant::now();
    loop {
        let now = unix_ms();
        let followers: Vec<(FollowerReport, Standing)> = index
            .followers(name)
            .await?
            .into_iter()
            .map(|r| {
                let s = standing(&r, block, head, now);
                (r, s)
            })
            .collect();
        let pending: Vec<&FollowerReport> = followers
            .iter()
            .filter(|(_, s)| *s == Standing::Pending)
            .map(|(r, _)| r)
            .collect();
        let limit = Duration::from_secs(10)
            + 2 * pending
                .iter()
                .map(|r| Duration::from_millis(poll_ms(r)))
                .max()
                .unwrap_or_default();
        if pending.is_empty() || started.elapsed() >= limit {
            return Ok(ApplyOutcome {
                chain: name.to_owned(),
                block,
                waited: started.elapsed(),
                followers,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait as [`wait_until_applied`] does and tell the user (stderr) whether
/// the change is in effect on every running gateway, or until when at the
/// latest one may still serve the older view.
pub async fn report_applied(store: &Store, name: &str, block: u64, chain: &dyn Chain) {
    match wait_until_applied(store, name, block, chain).await {
        Ok(outcome) => {
            let complete = outcome.complete();
            for line in outcome.describe(unix_ms()) {
                if complete {
                    eprintln!("{line}");
                } else {
                    eprintln!("warning: {line}");
                }
            }
        }
        Err(e) => eprintln!(
            "warning: cannot tell whether the running gateways applied block {block} of {name}: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(applied: u64, heartbeat_ms: i64) -> FollowerReport {
        FollowerReport {
            follower: "gw/1".into(),
            instance: "gw".into(),
            applied_block: applied,
            heartbeat_ms,
            poll_ms: 200,
            max_staleness_ms: 60_000,
            confirmations: 0,
        }
    }

    #[test]
    fn standings() {
        let now = 1_000_000;
        assert_eq!(standing(&report(7, now), 7, None, now), Standing::Applied);
        assert_eq!(
            standing(&report(6, now - 100), 7, None, now),
            Standing::Pending
        );
        // Quiet for longer than two report intervals and slack: not waited for,
        // but it may serve until its staleness bound from its last report.
        let quiet = report(6, now - 10_000);
        assert_eq!(
            standing(&quiet, 7, None, now),
            Standing::Silent {
                serves_until_ms: now - 10_000 + 1_000 + 60_000
            }
        );
        assert_eq!(standing(&quiet, 7, None, now + 52_000), Standing::Gone);
        let mut confirming = report(6, now);
        confirming.confirmations = 3;
        assert_eq!(
            standing(&confirming, 7, Some(8), now),
            Standing::Unconfirmed { head: 8 }
        );
        assert_eq!(standing(&confirming, 7, Some(10), now), Standing::Pending);
    }

    #[test]
    fn outcomes_say_what_holds() {
        let now = 1_000_000;
        let done = ApplyOutcome {
            chain: "demo".into(),
            block: 7,
            waited: Duration::from_millis(120),
            followers: vec![(report(7, now), Standing::Applied)],
        };
        assert!(done.complete());
        let lines = done.describe(now);
        assert!(
            lines[0].starts_with(
                "in effect: every running gateway on this database that follows demo (gw) \
                 has applied block 7"
            ),
            "{lines:?}"
        );
        let none = ApplyOutcome {
            followers: vec![],
            ..done.clone()
        };
        assert!(none.describe(now)[0].starts_with("no gateway on this database follows demo"));
        let quiet = report(6, now - 10_000);
        let late = ApplyOutcome {
            followers: vec![(quiet.clone(), standing(&quiet, 7, None, now))],
            ..done
        };
        assert!(!late.complete());
        let lines = late.describe(now);
        assert!(lines[0].contains("within 51 s"), "{lines:?}");
    }
}
