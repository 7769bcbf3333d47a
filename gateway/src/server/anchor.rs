//! Anchoring the decision log on chain (`[audit.anchor]`): the latest
//! signed checkpoint's tree head (size, RFC 9162 root) is written to the
//! `LogAnchor` contract under the gateway's did:ethr identity, with the
//! consistency proof from the head anchored before, which the contract
//! checks. Once a head is anchored, the log's history up to it cannot be
//! replaced, not even by whoever holds the gateway's keys and disk.
//!
//! The gateway anchors every `interval_secs` while its log grows and once
//! more at shutdown, after the writer's last checkpoint; `didgate audit
//! anchor` anchors now, and `didgate audit status` checks the local log
//! against the anchored head and against every anchor the chain follower
//! indexed ([`Anchorer::indexed_anchors`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use anyhow::{anyhow, bail, Context, Result};
use audit::tlog::{check_consistency, prove_consistency, Files, Hash, SignedCheckpoint};
use base64::Engine as _;
use credentials::{KeyType, SigningKey};
use did_registry::ethr::anchor::{self, Head, ANCHOR_GAS};
use did_registry::ethr::{address_of, Chain, EthrDid, IndexedAnchor};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::store::Store;

/// The secp256k1 secret of a key file (did:ethr keys are Ethereum keys).
pub fn ethereum_secret(key: &SigningKey, path: &Path) -> Result<k256::SecretKey> {
    if key.key_type() != KeyType::Secp256k1 {
        bail!(
            "{} is a {} key; did:ethr needs secp256k1 (create one with `didgate did create --method ethr`)",
            path.display(),
            key.key_type()
        );
    }
    let d = key
        .to_jwk()
        .d
        .with_context(|| format!("{} holds no private key", path.display()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(d)
        .with_context(|| format!("{}: the private key is not base64url", path.display()))?;
    k256::SecretKey::from_slice(&bytes)
        .with_context(|| format!("{}: not a secp256k1 private key", path.display()))
}

/// An address given as a DID (`did:ethr:…`) or as `0x…`.
pub fn parse_account(s: &str) -> Result<Address> {
    if s.starts_with("did:") {
        return Ok(EthrDid::parse(s)?.address);
    }
    s.parse::<Address>()
        .ok()
        .filter(|_| s.len() == 42)
        .with_context(|| format!("{s:?} is neither a did:ethr nor a 0x… address"))
}

/// The contract's name for a log: SHA-256 of its checkpoint origin line.
pub fn log_id(origin: &str) -> B256 {
    B256::from(<[u8; 32]>::from(Sha256::digest(origin.as_bytes())))
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchored {
    /// The log is empty: nothing to anchor.
    Empty,
    /// The latest checkpoint is anchored already.
    AlreadyAnchored(Head),
    /// This head was anchored, in this block.
    New { head: Head, block: u64 },
}

/// How the local log stands against its anchored head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Nothing anchored yet.
    NotAnchored,
    /// The local log extends the anchored head (proof checked here).
    Consistent { anchored: Head, local: u64 },
    /// It does not: the anchored history is not this log's. Evidence.
    Inconsistent {
        anchored: Head,
        local: u64,
        why: String,
    },
}

/// One log's anchoring: the chain, the contract, the identity and its key.
pub struct Anchorer {
    /// `[chains.NAME]` the log is anchored on.
    chain_name: String,
    chain: Arc<dyn Chain>,
    contract: Address,
    identity: Address,
    /// `None` for a read-only view (`audit status`, `check-proof`): the
    /// identity was given, its key is not needed.
    key: Option<k256::SecretKey>,
    log_dir: PathBuf,
    /// `[audit] archive_dir`: where sealed tiles may have moved.
    archives: Arc<[PathBuf]>,
    vkey: String,
    log_id: B256,
}

impl Anchorer {
    /// The anchorer `[audit.anchor]` describes for the log in `log_dir`
    /// (`origin` its name, `vkey` its checkpoints' key); `None` without it.
    pub async fn open(
        config: &Config,
        store: &Store,
        log_dir: &Path,
        origin: &str,
        vkey: &str,
    ) -> Result<Option<Anchorer>> {
        Self::open_with(config, store, log_dir, origin, vkey, true).await
    }

    /// [`Anchorer::open`] to read anchors only: the key file is read only
    /// when `[audit.anchor] identity` is not given.
    pub async fn open_read_only(
        config: &Config,
        store: &Store,
        log_dir: &Path,
        origin: &str,
        vkey: &str,
    ) -> Result<Option<Anchorer>> {
        Self::open_with(config, store, log_dir, origin, vkey, false).await
    }

    async fn open_with(
        config: &Config,
        store: &Store,
        log_dir: &Path,
        origin: &str,
        vkey: &str,
        need_key: bool,
    ) -> Result<Option<Anchorer>> {
        let Some(a) = &config.audit.anchor else {
            return Ok(None);
        };
        let cfg = config
            .chains
            .get(&a.chain)
            .with_context(|| format!("audit.anchor.chain: no [chains.{}]", a.chain))?;
        let opened = crate::server::chains::open_chain(&a.chain, cfg, store, false)
            .await
            .with_context(|| format!("opening chain {} to anchor the decision log", a.chain))?;
        let contract = crate::server::chains::anchor_contract(config, &a.chain, store)
            .await?
            .context("audit.anchor: no contract")?;
        let key_path = config.resolve(&a.key_file);
        let key = if need_key || a.identity.is_none() {
            let (key, _) = crate::request::assertion::read_key_file(&key_path)
                .with_context(|| format!("reading audit.anchor.key_file {}", key_path.display()))?;
            Some(ethereum_secret(&key, &key_path)?)
        } else {
            None
        };
        let identity = match (&a.identity, &key) {
            (Some(s), _) => parse_account(s)?,
            (None, Some(k)) => address_of(&k.public_key()),
            (None, None) => bail!("audit.anchor: no identity and no key"),
        };
        Ok(Some(Anchorer {
            chain_name: a.chain.clone(),
            chain: opened.chain,
            contract,
            identity,
            key,
            log_dir: log_dir.to_path_buf(),
            archives: config.audit_archives().into(),
            vkey: vkey.to_owned(),
            log_id: log_id(origin),
        }))
    }

    /// The identity whose log this is, and the contract.
    pub fn identity(&self) -> Address {
        self.identity
    }

    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The chain it anchors on (`[chains.NAME]`).
    pub fn chain_name(&self) -> &str {
        &self.chain_name
    }

    /// Every anchor of this log in the chain index (the follower indexes
    /// `Anchored` events with the registry's), in chain order, each with
    /// whether the local log extends it.
    pub async fn indexed_anchors(
        &self,
        store: &Store,
    ) -> Result<Vec<(IndexedAnchor, Result<(), String>)>> {
        let anchors = store
            .event_index()
            .anchors(&self.chain_name, &self.identity, &self.log_id)
            .await?;
        let (dir, vkey) = (self.log_dir.clone(), self.vkey.clone());
        let archives = self.archives.clone();
        tokio::task::spawn_blocking(move || {
            let cp = read_checkpoint(&dir, &vkey)?;
            let files = Files {
                dir: &dir,
                archives: &archives,
            };
            Ok(anchors
                .into_iter()
                .map(|a| {
                    let held = consistency(files, a.event.head, &cp)
                        .map(drop)
                        .map_err(|e| format!("{e:#}"));
                    (a, held)
                })
                .collect())
        })
        .await
        .map_err(|e| anyhow!("reading the log: {e}"))?
    }

    /// The head anchored last for this log (size 0 when none).
    pub async fn anchored(&self) -> Result<Head> {
        let ret = self
            .chain
            .call(self.contract, anchor::heads(self.identity, self.log_id))
            .await?;
        anchor::decode_head(&ret).context("the anchor contract's answer is not a head")
    }

    /// The block of the identity's latest anchor (0 when none).
    pub async fn last_anchor_block(&self) -> Result<u64> {
        use alloy_sol_types::{sol, SolCall};
        sol! { function changed(address identity) view returns (uint256); }
        let ret = self
            .chain
            .call(
                self.contract,
                changedCall {
                    identity: self.identity,
                }
                .abi_encode()
                .into(),
            )
            .await?;
        let n = changedCall::abi_decode_returns(&ret).context("not a block number")?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// The block in which this log's head of `size` entries was anchored,
    /// and its root: found by walking the identity's anchors back from the
    /// latest (each `Anchored` event names the block of the one before).
    /// `None` when no anchor of this log had that size.
    pub async fn anchored_at(&self, size: u64) -> Result<Option<(u64, B256)>> {
        /// Anchors walked at most (each is one `eth_getLogs` of one block).
        const MAX_STEPS: usize = 100_000;
        let mut block = self.last_anchor_block().await?;
        for _ in 0..MAX_STEPS {
            if block == 0 {
                return Ok(None);
            }
            let logs = self.chain.logs(self.contract, block, block).await?;
            let mut previous = None;
            for l in &logs {
                let Some(e) = anchor::decode_anchored(&l.topics, &l.data) else {
                    continue;
                };
                if e.identity != self.identity {
                    continue;
                }
                if e.log_id == self.log_id && e.head.size == size {
                    return Ok(Some((block, e.head.root)));
                }
                if e.previous_change < block {
                    previous =
                        Some(previous.map_or(e.previous_change, |p: u64| p.min(e.previous_change)));
                }
            }
            match previous {
                Some(p) => block = p,
                None => return Ok(None),
            }
        }
        bail!("more than {MAX_STEPS} anchors to walk back")
    }

    /// The latest checkpoint on disk (signature checked) and the checked
    /// proof that it extends the anchored head `since`; read off the async
    /// runtime.
    async fn local(&self, since: Head) -> Result<(SignedCheckpoint, Result<Vec<Hash>>)> {
        let (dir, vkey) = (self.log_dir.clone(), self.vkey.clone());
        let archives = self.archives.clone();
        tokio::task::spawn_blocking(move || {
            let cp = read_checkpoint(&dir, &vkey)?;
            let files = Files {
                dir: &dir,
                archives: &archives,
            };
            let proof = consistency(files, since, &cp);
            Ok((cp, proof))
        })
        .await
        .map_err(|e| anyhow!("reading the log: {e}"))?
    }
}

/// The log's latest checkpoint on disk, its signature checked with `vkey`.
fn read_checkpoint(dir: &Path, vkey: &str) -> Result<SignedCheckpoint> {
    let path = dir.join("checkpoint");
    let note = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SignedCheckpoint::verify(&note, vkey)?)
}

/// The proof that the local checkpoint `cp` extends `anchored`, checked.
fn consistency(files: Files<'_>, anchored: Head, cp: &SignedCheckpoint) -> Result<Vec<Hash>> {
    if anchored.size > cp.size {
        bail!(
            "the anchored head (size {}) is larger than the local log (size {}): the local \
             log lost entries the chain has seen, or is not the anchored log",
            anchored.size,
            cp.size
        );
    }
    if anchored.size == 0 {
        // Every tree extends the empty one.
        return Ok(Vec::new());
    }
    let old = SignedCheckpoint {
        origin: cp.origin.clone(),
        size: anchored.size,
        root: Hash(anchored.root.0),
        note: Vec::new(),
    };
    let proof = prove_consistency(files, &old, cp)?;
    check_consistency(&proof, &old, cp).map_err(|e| {
        anyhow!(
            "the local log does not extend the head anchored at size {}: {e}",
            anchored.size
        )
    })?;
    Ok(proof)
}

impl Anchorer {
    /// Anchor the latest checkpoint unless it is anchored already.
    pub async fn anchor_once(&self) -> Result<Anchored> {
        let anchored = self.anchored().await?;
        let (cp, proof) = self.local(anchored).await?;
        if cp.size == 0 && anchored.size == 0 {
            return Ok(Anchored::Empty);
        }
        let head = Head {
            size: cp.size,
            root: B256::from(cp.root.0),
        };
        if anchored == head {
            return Ok(Anchored::AlreadyAnchored(head));
        }
        let proof = proof?;
        let proof: Vec<B256> = proof.iter().map(|h| B256::from(h.0)).collect();
        let key = self
            .key
            .as_ref()
            .context("anchoring needs audit.anchor.key_file")?;
        let receipt = self
            .chain
            .transact(
                key,
                Some(self.contract),
                anchor::anchor(self.identity, self.log_id, head, &proof),
                ANCHOR_GAS,
            )
            .await
            .context("anchoring the decision log's checkpoint")?;
        Ok(Anchored::New {
            head,
            block: receipt.block_number,
        })
    }

    /// Whether the local log extends the head anchored on chain.
    pub async fn standing(&self) -> Result<Standing> {
        let anchored = self.anchored().await?;
        if anchored.size == 0 {
            return Ok(Standing::NotAnchored);
        }
        let (cp, proof) = self.local(anchored).await?;
        Ok(match proof {
            Ok(_) => Standing::Consistent {
                anchored,
                local: cp.size,
            },
            Err(e) => Standing::Inconsistent {
                anchored,
                local: cp.size,
                why: format!("{e:#}"),
            },
        })
    }

    /// Anchor every `interval` until stopped.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
                match self.anchor_once().await {
                    Ok(Anchored::New { head, block }) => {
                        failing = false;
                        tracing::info!(size = head.size, block, "decision log anchored on chain");
                    }
                    Ok(_) => failing = false,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %format!("{e:#}"), "decision log: anchoring failed; retrying every interval");
                        }
                        failing = true;
                    }
                }
            }
        })
    }
}
