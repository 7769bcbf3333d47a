//! `didgate policy bundle|init|propose|approve|cancel|admins|status|diff`:
//! the policy set as a governed artefact. A bundle is built from a folder
//! (its hash names the set), proposed by one administrator of the
//! deployment and approved by others; once M of N approved it, every
//! gateway in `[policy] source = "chain"` mode enforces it.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use anyhow::{bail, Context, Result};
use did_registry::ethr::governance::{self, ProposalKind, ProposalState, GOVERNANCE_GAS};
use did_registry::ethr::{address_of, ChainError};
use policy::bundle::{hex, parse_hash};
use policy::Bundle;

use crate::cli::identity::load_identity;
use crate::config::Config;
use crate::server::anchor::{ethereum_secret, parse_account};
use crate::server::governance::{BundleStore, Governor, Registry};
use crate::store::Store;

/// Who signs a governance transaction, for which administrator identity.
pub struct Admin<'a> {
    pub config: &'a Path,
    pub key: &'a Path,
    /// The administrator identity (a did:ethr or 0x address) the key acts
    /// for; default: the key's own.
    pub identity: Option<&'a str>,
}

/// The bundle `from` names: a bundle file, or a folder with a schema and
/// `*.cedar` files; `None`: the config's `[policy]` files.
pub fn read_bundle(config: &Config, from: Option<&Path>) -> Result<Bundle> {
    match from {
        None => config
            .policy_bundle()
            .context("cannot bundle the [policy] files"),
        Some(p) if p.is_dir() => {
            Bundle::from_folder(p).with_context(|| format!("cannot bundle {}", p.display()))
        }
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            Bundle::decode(&bytes)
                .with_context(|| format!("{} is not a policy bundle", p.display()))
        }
    }
}

/// `policy bundle`: build a bundle, write it as `<hash>.bundle`, print the hash.
pub async fn bundle(config: Option<&Path>, from: Option<&Path>, out: Option<&Path>) -> Result<()> {
    let config = config.map(Config::load).transpose()?;
    let bundle = match (&config, from) {
        (Some(c), f) => read_bundle(c, f)?,
        (None, Some(f)) if f.is_dir() => Bundle::from_folder(f)?,
        (None, _) => bail!("give a folder to bundle (--from DIR) or a config (-c FILE)"),
    };
    // Validate as the gateway would before anyone approves it.
    policy::PolicyEngine::from_strings(bundle.schema(), bundle.policies())
        .context("the bundle's policies do not load")?;
    // Where bundles are kept for this config (a folder or the database),
    // unless --out names a folder; a URL store is filled by whoever serves
    // it, so the file goes to the current folder for uploading.
    let governed = config.as_ref().and_then(|c| {
        c.policy
            .governance
            .as_ref()
            .filter(|g| g.bundles_url().is_none())
            .map(|g| (c, g))
    });
    let path = match (out, governed) {
        (Some(o), _) => BundleStore::Folder(o.to_owned()).put(&bundle).await?,
        (None, Some((c, g))) => {
            let store = Store::connect(&c.database_url()).await?;
            let put = BundleStore::from_config(c, g, &store)?.put(&bundle).await;
            store.close().await;
            put?
        }
        (None, None) => BundleStore::Folder(PathBuf::from(".")).put(&bundle).await?,
    }
    .unwrap_or_default();
    println!("{}", hex(&bundle.hash()));
    eprintln!(
        "wrote {path} ({} policy files, {} bytes)",
        bundle.policies().len(),
        bundle.encode().len()
    );
    Ok(())
}

/// The config, its store and the opened registry.
async fn open(config: &Path) -> Result<(Config, Store, Registry)> {
    let config = Config::load(config)?;
    if config.policy.governance.is_none() {
        bail!(
            "{}: add [policy.governance] (chain, deployment, bundles) to govern policies on chain",
            config.base_dir.display()
        );
    }
    let store = Store::connect(&config.database_url()).await?;
    let registry = Registry::open(&config, &store).await?;
    Ok((config, store, registry))
}

/// A revert of the contract, said as what the user did wrong.
fn explain(e: ChainError, admin: Address, label: &str) -> anyhow::Error {
    let ChainError::Reverted { reason } = &e else {
        return e.into();
    };
    let why = match reason.as_str() {
        "not_admin" => format!("{admin} is not an administrator of deployment {label:?}"),
        "bad_actor" => format!(
            "this key may not act for administrator {admin}: it is neither the identity's \
             owner nor an unexpired sigAuth/veriKey delegate in the DID registry"
        ),
        "unknown_deployment" => {
            format!("deployment {label:?} does not exist; create it with `didgate policy init`")
        }
        "exists" => format!("deployment {label:?} exists already"),
        "already_active" => "that bundle is already the active set".to_owned(),
        "duplicate" => "the same change is already pending; approve it instead".to_owned(),
        "already_approved" => format!("{admin} has approved this proposal already"),
        "stale" => "the administrators or the threshold changed since this proposal was \
                    made; propose it again"
            .to_owned(),
        "not_pending" => "the proposal was executed or cancelled already".to_owned(),
        "unknown_proposal" => "there is no such proposal".to_owned(),
        "not_proposer" => "only the administrator who proposed it can cancel it".to_owned(),
        "below_threshold" => {
            "removing that administrator would leave fewer than the threshold".to_owned()
        }
        "bad_threshold" => {
            "the threshold must be between 1 and the number of administrators".to_owned()
        }
        "is_admin" => "that identity is an administrator already".to_owned(),
        "no_such_admin" => "that identity is not an administrator".to_owned(),
        other => other.to_owned(),
    };
    anyhow::anyhow!("the PolicyRegistry refused: {why} ({reason})")
}

/// The signing key and the administrator identity it acts for.
fn signer(a: &Admin<'_>) -> Result<(k256::SecretKey, Address)> {
    let (key, key_did, _) = load_identity(a.key)?;
    let secret = ethereum_secret(&key, a.key)?;
    let admin = match a.identity {
        Some(s) => parse_account(s)?,
        None if key_did.starts_with("did:ethr:") => parse_account(&key_did)?,
        None => address_of(&secret.public_key()),
    };
    Ok((secret, admin))
}

/// Send one call to the registry as `admin`; the block it was mined in.
async fn send(
    registry: &Registry,
    secret: &k256::SecretKey,
    admin: Address,
    data: alloy_primitives::Bytes,
) -> Result<u64> {
    let receipt = registry
        .chain
        .transact(secret, Some(registry.contract), data, GOVERNANCE_GAS)
        .await
        .map_err(|e| explain(e, admin, &registry.label))?;
    Ok(receipt.block_number)
}

/// `policy init`: create the deployment with its administrators and threshold.
pub async fn init(a: &Admin<'_>, admins: &[String], threshold: u32) -> Result<()> {
    let (_, _, registry) = open(a.config).await?;
    let (secret, me) = signer(a)?;
    let admins: Vec<Address> = admins
        .iter()
        .map(|s| parse_account(s))
        .collect::<Result<_>>()?;
    let data = governance::create(registry.deployment, &admins, threshold);
    let block = send(&registry, &secret, me, data).await?;
    println!(
        "deployment {:?} created in block {block} on {} (PolicyRegistry {}): {} administrators, \
         {threshold} approvals needed",
        registry.label,
        registry.chain_name,
        registry.contract,
        admins.len()
    );
    println!(
        "next: didgate policy propose -c CONFIG --key ADMIN.jwk   (then approve with the others)"
    );
    Ok(())
}

/// `policy propose`: publish a bundle where gateways fetch it and propose
/// it; counts as the proposer's approval.
pub async fn propose(a: &Admin<'_>, from: Option<&Path>) -> Result<()> {
    let (config, store, registry) = open(a.config).await?;
    let bundle = read_bundle(&config, from)?;
    policy::PolicyEngine::from_strings(bundle.schema(), bundle.policies())
        .context("the bundle's policies do not load; fix them before proposing")?;
    let g = config
        .policy
        .governance
        .as_ref()
        .context("[policy.governance]")?;
    if let Some(path) = BundleStore::from_config(&config, g, &store)?
        .put(&bundle)
        .await?
    {
        eprintln!("published {path}");
    } else {
        eprintln!(
            "bundles are served from {}: upload {}.bundle there (`didgate policy bundle --out DIR`)",
            g.bundles,
            hex(&bundle.hash())
        );
    }
    let hash = B256::from(bundle.hash());
    submit(&registry, a, ProposalKind::Bundle, hash).await
}

/// Propose a change as `a` and print where it stands.
async fn submit(
    registry: &Registry,
    a: &Admin<'_>,
    kind: ProposalKind,
    payload: B256,
) -> Result<()> {
    let (secret, me) = signer(a)?;
    send(
        registry,
        &secret,
        me,
        governance::propose(registry.deployment, me, kind, payload),
    )
    .await?;
    let id = match pending(registry, kind, payload).await? {
        0 => registry.info().await?.proposal_count,
        id => id,
    };
    print_outcome(registry, id).await
}

/// The pending proposal of (kind, payload) in the current epoch, 0 if none.
async fn pending(registry: &Registry, kind: ProposalKind, payload: B256) -> Result<u64> {
    let ret = registry
        .chain
        .call(
            registry.contract,
            governance::pending_proposal(registry.deployment, kind, payload),
        )
        .await?;
    governance::decode_id(&ret).context("the PolicyRegistry gave an unreadable answer")
}

/// Where proposal `id` stands, in one line or two.
async fn print_outcome(registry: &Registry, id: u64) -> Result<()> {
    let info = registry.info().await?;
    let Some(p) = registry.proposal(id).await? else {
        bail!("proposal #{id} is not on chain");
    };
    println!(
        "proposal #{id}: {} {} — {}, {} of {} approvals",
        p.kind.as_str(),
        describe_payload(p.kind, p.payload),
        p.state.as_str(),
        p.approvals,
        info.threshold
    );
    if p.state == ProposalState::Executed && p.kind == ProposalKind::Bundle {
        println!(
            "active from block {}: every gateway following {} enforces it from its next poll",
            info.active_since, registry.chain_name
        );
    }
    Ok(())
}

fn describe_payload(kind: ProposalKind, payload: B256) -> String {
    match kind {
        ProposalKind::Bundle => hex(&payload.0),
        ProposalKind::AddAdmin | ProposalKind::RemoveAdmin => {
            Address::from_word(payload).to_checksum(None)
        }
        ProposalKind::Threshold => {
            let t = alloy_primitives::U256::from_be_bytes(payload.0);
            t.to_string()
        }
    }
}

/// `policy approve`: approve the pending proposal of bundle `hash`, or
/// proposal `id`.
pub async fn approve(a: &Admin<'_>, hash: Option<&str>, id: Option<u64>) -> Result<()> {
    let (_, _, registry) = open(a.config).await?;
    let id = match (hash, id) {
        (_, Some(id)) => id,
        (Some(h), None) => {
            let h = parse_hash(h)
                .with_context(|| format!("{h:?} is not a bundle hash (64 hex digits)"))?;
            match pending(&registry, ProposalKind::Bundle, B256::from(h)).await? {
                0 => bail!(
                    "no bundle {} is pending approval in deployment {:?}; propose it first \
                     (`didgate policy propose`)",
                    hex(&h),
                    registry.label
                ),
                id => id,
            }
        }
        (None, None) => bail!("name the bundle hash to approve, or --id N for another proposal"),
    };
    let (secret, me) = signer(a)?;
    send(
        &registry,
        &secret,
        me,
        governance::approve(registry.deployment, me, id),
    )
    .await?;
    print_outcome(&registry, id).await
}

/// `policy cancel`: withdraw a pending proposal (its proposer only).
pub async fn cancel(a: &Admin<'_>, id: u64) -> Result<()> {
    let (_, _, registry) = open(a.config).await?;
    let (secret, me) = signer(a)?;
    send(
        &registry,
        &secret,
        me,
        governance::cancel(registry.deployment, me, id),
    )
    .await?;
    print_outcome(&registry, id).await
}

/// What `policy admins` proposes.
pub enum AdminChange {
    Add(String),
    Remove(String),
    Threshold(u32),
}

/// `policy admins add|remove|threshold`: propose a change to who governs;
/// it takes effect once the threshold's approvals exist.
pub async fn admins(a: &Admin<'_>, change: AdminChange) -> Result<()> {
    let (_, _, registry) = open(a.config).await?;
    let (kind, payload) = match change {
        AdminChange::Add(s) => (
            ProposalKind::AddAdmin,
            governance::address_payload(parse_account(&s)?),
        ),
        AdminChange::Remove(s) => (
            ProposalKind::RemoveAdmin,
            governance::address_payload(parse_account(&s)?),
        ),
        AdminChange::Threshold(t) => (ProposalKind::Threshold, governance::threshold_payload(t)),
    };
    submit(&registry, a, kind, payload).await
}

/// `policy status`: the active set, pending proposals, administrators, and
/// how the local files stand against the active set.
pub async fn status(config: &Path) -> Result<()> {
    let (config, store, registry) = open(config).await?;
    let governor = Governor::with_registry(&config, &store, registry)?;
    let registry = governor.registry();
    let info = registry.info().await?;
    let admins = registry.admins().await?;
    println!(
        "deployment {:?} on {} (PolicyRegistry {})",
        registry.label, registry.chain_name, registry.contract
    );
    println!(
        "mode: {}",
        match config.policy.source {
            crate::config::PolicySource::Chain =>
                "source = \"chain\": gateways enforce the active set below, nothing else",
            crate::config::PolicySource::Files =>
                "source = \"files\": this config's gateways enforce their local files, not the chain",
        }
    );
    match info.active {
        Some(h) => println!(
            "active: {} (since block {}, proposal #{})",
            hex(&h.0),
            info.active_since,
            info.active_proposal
        ),
        None => println!("active: none yet"),
    }
    println!(
        "administrators ({} of {} must approve):",
        info.threshold,
        admins.len()
    );
    for a in &admins {
        println!("  {}", a.to_checksum(None));
    }
    let active_bundle = match info.active {
        Some(h) => governor.bundle(&h.0).await.ok(),
        None => None,
    };
    let first = info.proposal_count.saturating_sub(49).max(1);
    let mut any = false;
    for id in first..=info.proposal_count {
        let Some(p) = registry.proposal(id).await? else {
            continue;
        };
        if p.state != ProposalState::Pending {
            continue;
        }
        if !any {
            println!("pending:");
            any = true;
        }
        let stale = if p.epoch != info.epoch {
            " (stale: administrators changed since; propose again)"
        } else {
            ""
        };
        println!(
            "  #{id} {} {}: {} of {} approvals{stale}",
            p.kind.as_str(),
            describe_payload(p.kind, p.payload),
            p.approvals,
            info.threshold
        );
        if let (ProposalKind::Bundle, Some(active)) = (p.kind, &active_bundle) {
            match governor.bundle(&p.payload.0).await {
                Ok(b) => {
                    for line in active.diff(&b)?.lines() {
                        println!("      {line}");
                    }
                }
                Err(e) => println!("      (cannot show the change: {e})"),
            }
        }
    }
    if !any {
        println!("pending: none");
    }
    match (config.policy_bundle(), info.active) {
        (Ok(local), Some(active)) if local.hash() == active.0 => {
            println!("local files: the same set as the active one");
        }
        (Ok(local), active) => {
            println!(
                "local files: a different set ({}), NOT enforced by gateways in chain mode; \
                 propose it with `didgate policy propose` to change what they enforce",
                hex(&local.hash())
            );
            if let (Some(active), Some(_)) = (&active_bundle, active) {
                for line in active.diff(&local)?.lines() {
                    println!("      {line}");
                }
            }
        }
        (Err(e), _) => println!("local files: do not bundle ({e})"),
    }
    Ok(())
}

/// `policy diff HASH`: what bundle `hash` changes against `against` (default: the active set).
pub async fn diff(config: &Path, hash: &str, against: Option<&str>) -> Result<()> {
    let (config, store, registry) = open(config).await?;
    let governor = Governor::with_registry(&config, &store, registry)?;
    let registry = governor.registry();
    let parse = |h: &str| {
        parse_hash(h).with_context(|| format!("{h:?} is not a bundle hash (64 hex digits)"))
    };
    let new = parse(hash)?;
    let old = match against {
        Some(h) => parse(h)?,
        None => {
            registry
                .info()
                .await?
                .active
                .context("no set is active yet: give --against HASH")?
                .0
        }
    };
    let (old_b, new_b) = (governor.bundle(&old).await?, governor.bundle(&new).await?);
    let d = old_b.diff(&new_b)?;
    println!("{} → {}", hex(&old), hex(&new));
    if d.is_empty() {
        println!("no policy changes");
    }
    for line in d.lines() {
        println!("{line}");
    }
    Ok(())
}

/// `policy test --bundle`: the test cases against a bundle (a file, a
/// folder or a hash fetched from the bundles place) instead of the files.
pub async fn test_bundle(config: &Path, cases: &Path, bundle: &str) -> Result<()> {
    let cfg = Config::load(config)?;
    let b = match parse_hash(bundle) {
        Some(h) if !Path::new(bundle).exists() => {
            let store = Store::connect(&cfg.database_url()).await?;
            Governor::open(&cfg, &store).await?.bundle(&h).await?
        }
        _ => read_bundle(&cfg, Some(Path::new(bundle)))?,
    };
    let engine = policy::PolicyEngine::from_strings(b.schema(), b.policies())?;
    println!("bundle {}", hex(&b.hash()));
    crate::cli::policy_commands::run_cases(&engine, cases)
}
