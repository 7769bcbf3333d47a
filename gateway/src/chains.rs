//! The chains of `[chains.NAME]`: open each (a node over JSON-RPC, or the
//! embedded chain in the gateway's database), and the did:ethr resolver and
//! followers over them, and the credential status checker over the chains
//! with a status registry. Used by `serve`, the demo and the command-line tools.

use std::sync::Arc;
use std::time::Duration;

use did_registry::ethr::{
    hex_chain_id, Address, Chain, ChainError, ChainFollower, EmbeddedChain, EthrDid, EthrNetwork,
    EthrResolver, EthrStatusChecker, RpcChain, StatusLists,
};

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

/// One chain's network state and its follower, indexing the ERC-1056
/// registry and (when there is one) the status registry. Every follower of
/// one database — the gateway's or a command's — is built here, so they all
/// index the same contracts.
pub async fn follower_for(
    name: &str,
    cfg: &ChainConfig,
    store: &Store,
) -> Result<(Arc<EthrNetwork>, ChainFollower, Option<Arc<StatusLists>>), ChainError> {
    let opened = open_chain(name, cfg, store, true).await?;
    let net = EthrNetwork::new(cfg.network(name, opened.registry), store.event_index());
    let mut follower = ChainFollower::with_chain(net.clone(), opened.chain);
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
    for (name, cfg) in &config.chains {
        let (net, follower, lists) = follower_for(name, cfg, store)
            .await
            .map_err(|e| (name.clone(), e))?;
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
