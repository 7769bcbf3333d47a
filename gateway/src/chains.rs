//! The chains of `[chains.NAME]`: open each (a node over JSON-RPC, or the
//! embedded chain in the gateway's database), and the did:ethr resolver and
//! followers over them, and the credential status checker over the chains
//! with a status registry. Used by `serve`, the demo and the command-line tools.

use std::sync::Arc;
use std::time::Duration;

use did_registry::ethr::{
    Address, Chain, ChainError, ChainFollower, EmbeddedChain, EthrNetwork, EthrResolver,
    EthrStatusChecker, RpcChain, StatusLists,
};

use crate::config::{ChainConfig, Config};
use crate::store::Store;

/// Chain id of an embedded chain whose config sets none (a private-use id).
pub const EMBEDDED_CHAIN_ID: u64 = 1_337_001;

/// Open the chain a config entry names, and the registry's address on it
/// (on an embedded chain without `registry`, deployed at first use).
pub async fn open_chain(
    name: &str,
    cfg: &ChainConfig,
    store: &Store,
) -> Result<(Arc<dyn Chain>, Address), ChainError> {
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
        Ok((Arc::new(chain), registry))
    } else {
        let url = cfg.rpc_url.as_deref().unwrap_or_default();
        let registry = parse_address(cfg.registry.as_deref().unwrap_or_default())?;
        Ok((Arc::new(RpcChain::new(url)?), registry))
    }
}

/// A chain of the config, opened.
pub struct OpenedChain {
    pub chain: Arc<dyn Chain>,
    /// The ERC-1056 registry.
    pub registry: Address,
    /// The credential status registry (`None`: not configured on a node chain).
    pub status_registry: Option<Address>,
}

/// Like [`open_chain`], with the status registry too (on an embedded chain
/// without `status_registry`, deployed at first use; [`open_chain`] leaves
/// it alone so that the DID tools never deploy it as a side effect).
pub async fn open_chain_with_status(
    name: &str,
    cfg: &ChainConfig,
    store: &Store,
) -> Result<OpenedChain, ChainError> {
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
        let status_registry = match &cfg.status_registry {
            Some(r) => parse_address(r)?,
            None => chain.ensure_status_registry().await?,
        };
        Ok(OpenedChain {
            chain: Arc::new(chain),
            registry,
            status_registry: Some(status_registry),
        })
    } else {
        let url = cfg.rpc_url.as_deref().unwrap_or_default();
        let registry = parse_address(cfg.registry.as_deref().unwrap_or_default())?;
        let status_registry = cfg
            .status_registry
            .as_deref()
            .map(parse_address)
            .transpose()?;
        Ok(OpenedChain {
            chain: Arc::new(RpcChain::new(url)?),
            registry,
            status_registry,
        })
    }
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
    for (name, cfg) in &config.chains {
        let opened = open_chain_with_status(name, cfg, store)
            .await
            .map_err(|e| (name.clone(), e))?;
        let net = EthrNetwork::new(cfg.network(name, opened.registry), store.event_index());
        let mut follower = ChainFollower::with_chain(net.clone(), opened.chain);
        if let Some(status_registry) = opened.status_registry {
            let lists = StatusLists::load(net.clone(), status_registry)
                .await
                .map_err(|e| {
                    (
                        name.clone(),
                        ChainError::Embedded(format!("status index: {e}")),
                    )
                })?;
            follower = follower.with_status(lists.clone());
            status_lists.push(lists);
        }
        match tokio::time::timeout(initial_sync, follower.sync_once()).await {
            Ok(Ok(r)) => {
                tracing::info!(network = %name, head = r.head, indexed = r.indexed, "did:ethr index ready")
            }
            Ok(Err(e)) => tracing::warn!(network = %name, error = %e,
                "did:ethr: the chain does not answer yet; did:ethr requests are refused until it does"),
            Err(_) => {
                tracing::warn!(network = %name, "did:ethr: initial sync still running; it goes on in the background")
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
