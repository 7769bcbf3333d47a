//! Policies governed on chain (`[policy] source = "chain"`): the gateway
//! enforces only the bundle its deployment's administrators approved, M of
//! N, in the `PolicyRegistry` contract.
//!
//! Every poll interval the [`Governor`] reads the deployment's active
//! bundle hash from the contract. When it differs from the set in force, the
//! bundle is fetched by hash (a folder of `<hash>.bundle` files or an
//! `https://` URL), checked against the hash before it is parsed,
//! validated against its Cedar schema and swapped in whole. A bundle that
//! cannot be fetched, does not match its hash or does not validate leaves
//! the last good set in force; the engine's `problem` then says why (logs
//! and `/.didgate/health`), and the next round tries again. A
//! reorganisation that removes an activation is the same change backwards:
//! the contract answers the earlier hash, and the earlier set is put back.
//!
//! What this protects: whoever controls one gateway's disk or database can
//! no longer change what it enforces by editing files — in chain mode the
//! files are only a working copy to propose from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use did_registry::ethr::governance::{self, DeploymentInfo};
use did_registry::ethr::{Chain, ChainError, EmbeddedChain};
use policy::{Bundle, BundleError, PolicyEngine, PolicyError};
use tokio::sync::watch;

use crate::config::{Config, GovernanceConfig};
use crate::server::chains::{open_chain, EMBEDDED_CHAIN_ID};
use crate::store::Store;

/// Bundles kept in memory by hash: the set in force and a few before it,
/// so a rollback or a reorganisation needs no fetch.
const KEPT_BUNDLES: usize = 8;

/// How long one bundle fetch over HTTPS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error("[policy.governance] is missing")]
    NotConfigured,
    #[error("chain {chain}: {source}")]
    Chain { chain: String, source: ChainError },
    #[error("the PolicyRegistry at {contract} gave an answer that is not one of its own; is it the right address?")]
    BadAnswer { contract: Address },
    #[error("deployment {deployment:?} does not exist in the PolicyRegistry at {contract}; create it with `didgate policy init`")]
    NoDeployment {
        deployment: String,
        contract: Address,
    },
    #[error("deployment {0:?} has no approved policy set yet; propose one (`didgate policy propose`) and have its administrators approve it")]
    NothingActive(String),
    #[error("bundle {hash}: cannot fetch or keep it at {from}: {reason}")]
    Fetch {
        hash: String,
        from: String,
        reason: String,
    },
    #[error("bundle {hash}: {source}")]
    Bundle { hash: String, source: BundleError },
    #[error("bundle {hash} does not load: {source}")]
    Policy { hash: String, source: PolicyError },
}

impl GovernanceError {
    /// The reason as `/.didgate/health` says it: a short code, never the
    /// message (which can name an RPC URL with its API key, or a path).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured | Self::BadAnswer { .. } | Self::NoDeployment { .. } => {
                "governance_misconfigured"
            }
            Self::Chain { .. } => "chain_unavailable",
            Self::NothingActive(_) => "no_active_policy_set",
            Self::Fetch { .. } => "bundle_unavailable",
            Self::Bundle {
                source: BundleError::HashMismatch { .. },
                ..
            } => "bundle_hash_mismatch",
            Self::Bundle { .. } | Self::Policy { .. } => "bundle_invalid",
        }
    }
}

/// Where bundles are fetched from, by hash.
pub enum BundleStore {
    Folder(PathBuf),
    Url {
        base: String,
        client: reqwest::Client,
    },
    Database(Store),
}

impl BundleStore {
    pub fn from_config(
        config: &Config,
        g: &GovernanceConfig,
        store: &Store,
    ) -> Result<Self, GovernanceError> {
        if g.bundles == crate::config::BUNDLES_IN_DATABASE {
            return Ok(Self::Database(store.clone()));
        }
        let Some(url) = g.bundles_url() else {
            return Ok(Self::Folder(config.bundles_dir().unwrap_or_default()));
        };
        let fail = |reason: String| GovernanceError::Fetch {
            hash: "-".into(),
            from: url.to_owned(),
            reason,
        };
        crate::server::tls::install_crypto_provider();
        let mut client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &g.bundles_ca {
            let path = config.resolve(ca);
            let pem = std::fs::read(&path)
                .map_err(|e| fail(format!("bundles_ca {}: {e}", path.display())))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| fail(format!("bundles_ca {}: {e}", path.display())))?;
            for root in roots {
                client = client.add_root_certificate(root);
            }
        }
        Ok(Self::Url {
            base: url.trim_end_matches('/').to_owned(),
            client: client
                .build()
                .map_err(|e| fail(format!("cannot build the HTTPS client: {e}")))?,
        })
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Folder(d) => d.display().to_string(),
            Self::Url { base, .. } => base.clone(),
            Self::Database(s) => format!("the {} database", s.backend()),
        }
    }

    /// The bytes stored under `hash` (not yet checked), at most
    /// [`policy::bundle::MAX_BUNDLE_BYTES`].
    pub async fn fetch(&self, hash: &[u8; 32]) -> Result<Vec<u8>, GovernanceError> {
        let name = format!("{}.bundle", policy::bundle::hex(hash));
        let fail = |reason: String| GovernanceError::Fetch {
            hash: policy::bundle::hex(hash),
            from: self.describe(),
            reason,
        };
        let limit = policy::bundle::MAX_BUNDLE_BYTES;
        match self {
            Self::Folder(dir) => {
                let path = dir.join(&name);
                let meta = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                if meta.len() > limit as u64 {
                    return Err(fail(format!("{} bytes, above the limit", meta.len())));
                }
                tokio::fs::read(&path)
                    .await
                    .map_err(|e| fail(format!("{}: {e}", path.display())))
            }
            Self::Url { base, client } => {
                let mut resp = client
                    .get(format!("{base}/{name}"))
                    .send()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                if !resp.status().is_success() {
                    return Err(fail(format!("HTTP {}", resp.status())));
                }
                let mut out = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
                    if out.len() + chunk.len() > limit {
                        return Err(fail("larger than the bundle limit".into()));
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(out)
            }
            Self::Database(store) => {
                let bytes = store
                    .policy_bundle(&policy::bundle::hex(hash))
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .ok_or_else(|| fail("not in the policy_bundles table".into()))?;
                if bytes.len() > limit {
                    return Err(fail("larger than the bundle limit".into()));
                }
                Ok(bytes)
            }
        }
    }

    /// Keep `bundle` under its hash, in the folder or the database; where
    /// it went (`None`: a URL, written by whoever serves it). A file is
    /// written to a temporary name first, so a reader never sees half a
    /// bundle.
    pub async fn put(&self, bundle: &Bundle) -> Result<Option<String>, GovernanceError> {
        let hash = policy::bundle::hex(&bundle.hash());
        let fail = |reason: String| GovernanceError::Fetch {
            hash: hash.clone(),
            from: self.describe(),
            reason,
        };
        match self {
            Self::Folder(dir) => {
                let path = dir.join(format!("{hash}.bundle"));
                let tmp = path.with_extension("bundle.tmp");
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&tmp, bundle.encode()))
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
                Ok(Some(path.display().to_string()))
            }
            Self::Database(store) => {
                store
                    .put_policy_bundle(&hash, &bundle.encode(), crate::clock::unix_ms())
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                Ok(Some(format!("{} (policy_bundles {hash})", self.describe())))
            }
            Self::Url { .. } => Ok(None),
        }
    }
}

/// The chain, contract and deployment of `[policy.governance]`, opened.
pub struct Registry {
    pub chain_name: String,
    pub chain: Arc<dyn Chain>,
    pub contract: Address,
    pub deployment: B256,
    pub label: String,
}

impl Registry {
    /// Open `[policy.governance]`'s chain; on an embedded chain without a
    /// configured contract, the `PolicyRegistry` is deployed at first use.
    pub async fn open(config: &Config, store: &Store) -> Result<Self, GovernanceError> {
        let g = config
            .policy
            .governance
            .as_ref()
            .ok_or(GovernanceError::NotConfigured)?;
        let chain_err = |source| GovernanceError::Chain {
            chain: g.chain.clone(),
            source,
        };
        let cfg = config
            .chains
            .get(&g.chain)
            .ok_or_else(|| chain_err(ChainError::Embedded(format!("no [chains.{}]", g.chain))))?;
        let opened = open_chain(&g.chain, cfg, store, false)
            .await
            .map_err(chain_err)?;
        let contract = match (&g.contract, cfg.embedded) {
            (Some(c), _) => c
                .parse()
                .map_err(|_| chain_err(ChainError::Embedded(format!("{c:?} is not an address"))))?,
            (None, _) => {
                let embedded = EmbeddedChain::open(
                    store.event_index(),
                    &g.chain,
                    cfg.chain_id.unwrap_or(EMBEDDED_CHAIN_ID),
                )
                .await
                .map_err(chain_err)?;
                embedded.ensure_policy_registry().await.map_err(chain_err)?
            }
        };
        let deployment = governance::deployment_name(&g.deployment).map_err(|e| {
            chain_err(ChainError::Embedded(format!(
                "policy.governance.deployment: {e}"
            )))
        })?;
        Ok(Self {
            chain_name: g.chain.clone(),
            chain: opened.chain,
            contract,
            deployment,
            label: g.deployment.clone(),
        })
    }

    fn chain_err(&self, source: ChainError) -> GovernanceError {
        GovernanceError::Chain {
            chain: self.chain_name.clone(),
            source,
        }
    }

    /// The deployment as the contract has it now.
    pub async fn info(&self) -> Result<DeploymentInfo, GovernanceError> {
        let ret = self
            .chain
            .call(self.contract, governance::deployment_info(self.deployment))
            .await
            .map_err(|e| self.chain_err(e))?;
        let info = governance::decode_deployment_info(&ret).ok_or(GovernanceError::BadAnswer {
            contract: self.contract,
        })?;
        if info.threshold == 0 {
            return Err(GovernanceError::NoDeployment {
                deployment: self.label.clone(),
                contract: self.contract,
            });
        }
        Ok(info)
    }

    /// The deployment's administrators.
    pub async fn admins(&self) -> Result<Vec<Address>, GovernanceError> {
        let ret = self
            .chain
            .call(self.contract, governance::admins_of(self.deployment))
            .await
            .map_err(|e| self.chain_err(e))?;
        governance::decode_admins(&ret).ok_or(GovernanceError::BadAnswer {
            contract: self.contract,
        })
    }

    /// Proposal `id`, or `None` when there is none.
    pub async fn proposal(
        &self,
        id: u64,
    ) -> Result<Option<governance::ProposalInfo>, GovernanceError> {
        let ret = self
            .chain
            .call(
                self.contract,
                governance::proposal_info(self.deployment, id),
            )
            .await
            .map_err(|e| self.chain_err(e))?;
        Ok(governance::decode_proposal_info(id, &ret))
    }
}

/// What the governor last saw and did, for health and `didgate check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GovernanceStatus {
    /// The hash the contract names as active, and the block it was activated in.
    pub active: Option<([u8; 32], u64)>,
    /// The hash of the set in force.
    pub enforced: Option<[u8; 32]>,
}

/// Keeps the policy engine on the bundle approved on chain.
pub struct Governor {
    registry: Registry,
    store: BundleStore,
    bundles: Mutex<HashMap<[u8; 32], Bundle>>,
    status: Mutex<GovernanceStatus>,
    /// The last failed round's message, logged once.
    last_error: Mutex<Option<String>>,
}

impl Governor {
    pub async fn open(config: &Config, store: &Store) -> Result<Self, GovernanceError> {
        Self::with_registry(config, store, Registry::open(config, store).await?)
    }

    /// A governor over a registry opened already (the commands open it first).
    pub fn with_registry(
        config: &Config,
        store: &Store,
        registry: Registry,
    ) -> Result<Self, GovernanceError> {
        let g = config
            .policy
            .governance
            .as_ref()
            .ok_or(GovernanceError::NotConfigured)?;
        Ok(Self {
            registry,
            store: BundleStore::from_config(config, g, store)?,
            bundles: Mutex::new(HashMap::new()),
            status: Mutex::new(GovernanceStatus::default()),
            last_error: Mutex::new(None),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn status(&self) -> GovernanceStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set_status(&self, f: impl FnOnce(&mut GovernanceStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// The active hash on chain and its activation block.
    async fn active(&self) -> Result<([u8; 32], u64), GovernanceError> {
        let info = self.registry.info().await?;
        let hash = info
            .active
            .ok_or_else(|| GovernanceError::NothingActive(self.registry.label.clone()))?;
        let active = (hash.0, info.active_since);
        self.set_status(|s| s.active = Some(active));
        Ok(active)
    }

    /// The bundle approved as `hash`: from memory, or fetched and checked.
    pub async fn bundle(&self, hash: &[u8; 32]) -> Result<Bundle, GovernanceError> {
        if let Some(b) = self.bundles.lock().ok().and_then(|m| m.get(hash).cloned()) {
            return Ok(b);
        }
        let bytes = self.store.fetch(hash).await?;
        let bundle = Bundle::verify(&bytes, hash).map_err(|source| GovernanceError::Bundle {
            hash: policy::bundle::hex(hash),
            source,
        })?;
        if let Ok(mut m) = self.bundles.lock() {
            if m.len() >= KEPT_BUNDLES {
                let enforced = self.status().enforced;
                m.retain(|h, _| Some(*h) == enforced);
            }
            m.insert(*hash, bundle.clone());
        }
        Ok(bundle)
    }

    /// At start: the engine over the set active on chain now. A gateway in
    /// chain mode does not start without one.
    pub async fn initial_engine(&self) -> Result<PolicyEngine, GovernanceError> {
        let (hash, since) = self.active().await?;
        let bundle = self.bundle(&hash).await?;
        let engine =
            PolicyEngine::from_strings(bundle.schema(), bundle.policies()).map_err(|source| {
                GovernanceError::Policy {
                    hash: policy::bundle::hex(&hash),
                    source,
                }
            })?;
        self.set_status(|s| s.enforced = Some(hash));
        tracing::info!(deployment = %self.registry.label, bundle = %policy::bundle::hex(&hash),
            activated_in_block = since, "policies: enforcing the set approved on chain");
        Ok(engine)
    }

    /// One round: put the active set in force if it is not. `Ok(Some(hash))`
    /// when it switched.
    pub async fn sync_once(
        &self,
        engine: &Arc<PolicyEngine>,
    ) -> Result<Option<[u8; 32]>, GovernanceError> {
        let (hash, since) = self.active().await?;
        if engine.policy_set_digest() == hash {
            self.set_status(|s| s.enforced = Some(hash));
            return Ok(None);
        }
        let bundle = self.bundle(&hash).await?;
        // Parsing and validating a set is CPU work of milliseconds (more
        // for large sets): off the workers that serve requests.
        let e = engine.clone();
        tokio::task::spawn_blocking(move || e.replace(bundle.schema(), bundle.policies()))
            .await
            .map_err(|join| GovernanceError::Policy {
                hash: policy::bundle::hex(&hash),
                source: PolicyError::Bundle(format!("the loading task failed: {join}")),
            })?
            .map_err(|source| GovernanceError::Policy {
                hash: policy::bundle::hex(&hash),
                source,
            })?;
        self.set_status(|s| s.enforced = Some(hash));
        tracing::info!(deployment = %self.registry.label, bundle = %policy::bundle::hex(&hash),
            activated_in_block = since, policies = engine.policy_count(),
            "policies: switched to the set approved on chain");
        Ok(Some(hash))
    }

    /// Follow the contract every `poll` until shutdown. A failed round
    /// keeps the set in force and is reported on the engine (health) and in
    /// the log, once per distinct failure.
    pub async fn run(
        self: Arc<Self>,
        engine: Arc<PolicyEngine>,
        poll: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            match self.sync_once(&engine).await {
                Ok(_) => {
                    if let Ok(mut last) = self.last_error.lock() {
                        *last = None;
                    }
                    if engine.problem().is_some() {
                        tracing::info!("policies: the set approved on chain is in force again");
                        engine.set_problem(None);
                    }
                }
                Err(e) => {
                    // Logged once per distinct failure; health gets the code.
                    let message = e.to_string();
                    let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
                    if last.as_deref() != Some(message.as_str()) {
                        tracing::error!(deployment = %self.registry.label,
                            enforced = %policy::bundle::hex(&engine.policy_set_digest()),
                            "policies: keeping the last good set: {message}");
                        *last = Some(message);
                    }
                    engine.set_problem(Some(e.code().to_owned()));
                }
            }
        }
    }
}
