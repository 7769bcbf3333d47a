//! The on-chain tools: `did resolve` for did:ethr, the registry writes
//! (`did add-key`, `revoke-key`, `add-delegate`, `revoke-delegate`,
//! `set-service`, `change-owner`, `deactivate`), `chain deploy` and
//! `chain status`. Each write is one signed transaction from the identity
//! owner's key; every gateway following that chain honours it from the
//! block it lands in, and the command returns once every running gateway
//! on the same database has applied that block (or says until when one
//! may still serve the older document: [`crate::server::chains::report_applied`]).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use did_registry::ethr::{
    registry, Address, AsOf, Chain, ChainFollower, EthrDid, EthrResolver, RpcChain,
};
use serde_json::json;

use crate::cli::identity::load_identity;
use crate::config::Config;
pub use crate::server::anchor::{ethereum_secret, parse_account};
use crate::store::Store;

/// The config's chain a did:ethr names, opened (see [`crate::server::chains::open_chain`]).
pub(crate) async fn chain_for(
    config: &Config,
    store: &Store,
    did: &EthrDid,
    with_status: bool,
) -> Result<(String, crate::server::chains::OpenedChain)> {
    let name = crate::server::chains::chain_name_for(config, did).with_context(|| {
        format!(
            "{} is on network {:?}, which the config has no [chains.{}] for",
            did.did, did.network, did.network
        )
    })?;
    let opened =
        crate::server::chains::open_chain(&name, &config.chains[&name], store, with_status)
            .await
            .with_context(|| format!("cannot open chain {name}"))?;
    Ok((name, opened))
}

/// What a registry write changes.
#[derive(Debug, Clone)]
pub enum RegistryChange {
    AddKey {
        name: String,
        value: Vec<u8>,
        valid_for: u64,
    },
    RevokeKey {
        name: String,
        value: Vec<u8>,
    },
    AddDelegate {
        kind: String,
        delegate: Address,
        valid_for: u64,
    },
    RevokeDelegate {
        kind: String,
        delegate: Address,
    },
    SetService {
        name: String,
        endpoint: String,
        valid_for: u64,
    },
    ChangeOwner {
        new_owner: Address,
    },
}

impl std::fmt::Display for RegistryChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryChange::AddKey {
                name, valid_for, ..
            } => write!(f, "added key {name} (valid {valid_for} s)"),
            RegistryChange::RevokeKey { name, .. } => write!(f, "revoked key {name}"),
            RegistryChange::AddDelegate {
                kind,
                delegate,
                valid_for,
            } => {
                write!(f, "added {kind} delegate {delegate} (valid {valid_for} s)")
            }
            RegistryChange::RevokeDelegate { kind, delegate } => {
                write!(f, "revoked {kind} delegate {delegate}")
            }
            RegistryChange::SetService { name, endpoint, .. } => {
                write!(f, "set service {name} = {endpoint}")
            }
            RegistryChange::ChangeOwner { new_owner } if new_owner.is_zero() => {
                f.write_str("deactivated")
            }
            RegistryChange::ChangeOwner { new_owner } => write!(f, "owner changed to {new_owner}"),
        }
    }
}

/// Who signs a registry write, and where it goes: the config naming the
/// DID's chain, the owner's key file, and the DID (default: the key file's).
#[derive(Debug, Clone, Copy)]
pub struct Tx<'a> {
    pub config: &'a Path,
    pub key: &'a Path,
    pub did: Option<&'a str>,
}

/// `did add-key`: add the public key of the key file `public_key` (`purpose`: veriKey, sigAuth or enc).
pub async fn add_key(tx: &Tx<'_>, public_key: &Path, purpose: &str, valid_for: u64) -> Result<()> {
    let (name, value) = key_attribute(public_key, purpose)?;
    let change = RegistryChange::AddKey {
        name,
        value,
        valid_for,
    };
    write(tx, change).await
}

/// `did revoke-key`: revoke a public key added with `did add-key`.
pub async fn revoke_key(tx: &Tx<'_>, public_key: &Path, purpose: &str) -> Result<()> {
    let (name, value) = key_attribute(public_key, purpose)?;
    write(tx, RegistryChange::RevokeKey { name, value }).await
}

/// `did add-delegate`: let `delegate` (a did:ethr or a 0x address) sign as `kind`.
pub async fn add_delegate(tx: &Tx<'_>, delegate: &str, kind: &str, valid_for: u64) -> Result<()> {
    let delegate = parse_account(delegate)?;
    let kind = kind.to_owned();
    let change = RegistryChange::AddDelegate {
        kind,
        delegate,
        valid_for,
    };
    write(tx, change).await
}

/// `did revoke-delegate`: revoke a delegate added with `did add-delegate`.
pub async fn revoke_delegate(tx: &Tx<'_>, delegate: &str, kind: &str) -> Result<()> {
    let delegate = parse_account(delegate)?;
    let kind = kind.to_owned();
    write(tx, RegistryChange::RevokeDelegate { kind, delegate }).await
}

/// `did set-service`: publish a `service_type` endpoint (a did/svc attribute).
pub async fn set_service(
    tx: &Tx<'_>,
    service_type: &str,
    endpoint: String,
    valid_for: u64,
) -> Result<()> {
    if service_type.is_empty()
        || !service_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        bail!(
            "--type {service_type:?}: a service type is letters, digits and _ (e.g. LinkedDomains)"
        );
    }
    let name = format!("did/svc/{service_type}");
    let change = RegistryChange::SetService {
        name,
        endpoint,
        valid_for,
    };
    write(tx, change).await
}

/// `did change-owner`: hand the DID to `new_owner` (a did:ethr or a 0x address).
pub async fn change_owner(tx: &Tx<'_>, new_owner: &str) -> Result<()> {
    let new_owner = parse_account(new_owner)?;
    write(tx, RegistryChange::ChangeOwner { new_owner }).await
}

/// `did deactivate`: make the owner 0x0 for good (only when `yes` confirms it).
pub async fn deactivate(tx: &Tx<'_>, yes: bool) -> Result<()> {
    if !yes {
        bail!("deactivation is permanent: the DID can never sign again. Add --yes to confirm");
    }
    let change = RegistryChange::ChangeOwner {
        new_owner: Address::ZERO,
    };
    write(tx, change).await
}

/// The registry attribute (`did/pub/ALGO/PURPOSE/hex`, value) of a key file's public key.
fn key_attribute(path: &Path, purpose: &str) -> Result<(String, Vec<u8>)> {
    let (key, _) = crate::request::assertion::read_key_file(path)?;
    let (algo, value) = match key.public_key() {
        did_registry::PublicKey::Ed25519(k) => ("Ed25519", k.as_bytes().to_vec()),
        did_registry::PublicKey::Secp256k1(k) => {
            ("Secp256k1", k.to_encoded_point(true).as_bytes().to_vec())
        }
        did_registry::PublicKey::P256(_) => {
            bail!(
                "did:ethr keys are Ed25519 or secp256k1; {} is P-256",
                path.display()
            )
        }
    };
    Ok((format!("did/pub/{algo}/{purpose}/hex"), value))
}

/// Send one registry change, signed by the owner's key file, for the DID
/// `tx` names. Prints the transaction and its block.
pub async fn write(tx: &Tx<'_>, change: RegistryChange) -> Result<()> {
    let config = Config::load(tx.config)?;
    let (key, key_did, _) = load_identity(tx.key)?;
    let secret = ethereum_secret(&key, tx.key)?;
    let did = EthrDid::parse(tx.did.unwrap_or(&key_did))?;
    let store = Store::connect(&config.database_url()).await?;
    let (name, opened) = chain_for(&config, &store, &did, false).await?;
    let (chain, registry_addr) = (opened.chain, opened.registry);

    let signer = did_registry::ethr::address_of(&secret.public_key());
    check_owner(chain.as_ref(), registry_addr, &did, signer, tx.key).await?;
    let id = did.address;
    let data = match &change {
        RegistryChange::AddKey {
            name,
            value,
            valid_for,
        } => registry::set_attribute(
            id,
            registry::name32(name).map_err(anyhow::Error::msg)?,
            value,
            *valid_for,
        ),
        RegistryChange::RevokeKey { name, value } => registry::revoke_attribute(
            id,
            registry::name32(name).map_err(anyhow::Error::msg)?,
            value,
        ),
        RegistryChange::AddDelegate {
            kind,
            delegate,
            valid_for,
        } => registry::add_delegate(
            id,
            registry::name32(kind).map_err(anyhow::Error::msg)?,
            *delegate,
            *valid_for,
        ),
        RegistryChange::RevokeDelegate { kind, delegate } => registry::revoke_delegate(
            id,
            registry::name32(kind).map_err(anyhow::Error::msg)?,
            *delegate,
        ),
        RegistryChange::SetService {
            name,
            endpoint,
            valid_for,
        } => registry::set_attribute(
            id,
            registry::name32(name).map_err(anyhow::Error::msg)?,
            endpoint.as_bytes(),
            *valid_for,
        ),
        RegistryChange::ChangeOwner { new_owner } => registry::change_owner(id, *new_owner),
    };
    let receipt = chain
        .transact(&secret, Some(registry_addr), data, registry::WRITE_GAS)
        .await
        .with_context(|| format!("the transaction on {name} failed"))?;
    println!(
        "{}: {change} in block {} on {name} (tx {})",
        did.did, receipt.block_number, receipt.tx_hash
    );
    crate::server::chains::report_applied(&store, &name, receipt.block_number, chain.as_ref())
        .await;
    store.close().await;
    Ok(())
}

/// The registry would revert a write not signed by the DID's owner with
/// "bad_actor": say why before spending gas (an unreadable owner is let through).
async fn check_owner(
    chain: &dyn Chain,
    registry_addr: Address,
    did: &EthrDid,
    signer: Address,
    key_path: &Path,
) -> Result<()> {
    let owner = chain
        .call(registry_addr, registry::identity_owner(did.address))
        .await
        .ok()
        .and_then(|r| registry::decode_owner(&r));
    if let Some(owner) = owner {
        if owner != signer {
            bail!(
                "{} is owned by {}, not by the key in {} ({signer}); sign with the owner's key",
                did.did,
                owner.to_checksum(None),
                key_path.display()
            );
        }
    }
    Ok(())
}

/// `did resolve`: did:key/did:jwk locally; did:ethr from the config's chains
/// (synced first), latest, at `version_id` (a block) or at `version_time`
/// (RFC 3339), with DID resolution metadata.
pub async fn resolve(
    did: &str,
    config_path: Option<&Path>,
    version_id: Option<u64>,
    version_time: Option<&str>,
) -> Result<()> {
    if !did.starts_with("did:ethr:") {
        use did_registry::DidResolver;
        let doc = did_registry::LocalResolver
            .resolve(did)
            .await
            .with_context(|| format!("cannot resolve {did}"))?;
        println!("{}", serde_json::to_string_pretty(&doc.to_json())?);
        return Ok(());
    }
    let config_path = config_path.unwrap_or(Path::new("didgate.toml"));
    let config = Config::load(config_path).with_context(|| {
        format!(
            "did:ethr needs the chains of a config; pass -c FILE ({} did not load)",
            config_path.display()
        )
    })?;
    let parsed = EthrDid::parse(did)?;
    let as_of = match (version_id, version_time) {
        (Some(_), Some(_)) => bail!("give --version-id or --version-time, not both"),
        (Some(n), None) => AsOf::Block(n),
        (None, Some(t)) => {
            let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .with_context(|| {
                    format!(
                        "--version-time {t:?} is not an RFC 3339 time such as 2026-11-25T08:00:00Z"
                    )
                })?;
            AsOf::Time(u64::try_from(t.unix_timestamp()).context("--version-time is before 1970")?)
        }
        (None, None) => AsOf::Latest,
    };
    let store = Store::connect(&config.database_url()).await?;
    let name = crate::server::chains::chain_name_for(&config, &parsed).with_context(|| {
        format!(
            "{did} is on network {:?}, which the config has no [chains.{}] for",
            parsed.network, parsed.network
        )
    })?;
    let (net, follower, _) = crate::server::chains::follower_for(&config, &name, &store)
        .await
        .with_context(|| format!("cannot open chain {name}"))?;
    sync_with_progress(follower).await?;
    let resolver = EthrResolver::new(vec![net.clone()]);
    let r = resolver.resolve_version(did, as_of).await?;
    let status = net.status();
    let out = json!({
        "didDocument": r.document,
        "didDocumentMetadata": r.metadata,
        "didResolutionMetadata": {
            "contentType": "application/did+ld+json",
            "network": name,
            "chainId": status.chain_id,
            "resolvedAtBlock": status.indexed,
            "stale": net.is_stale(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    store.close().await;
    Ok(())
}

/// Index a chain up to its head, printing progress for long syncs.
async fn sync_with_progress(follower: ChainFollower) -> Result<()> {
    let name = follower.network().config.name.clone();
    let started = std::time::Instant::now();
    let follower = follower.on_progress(move |done, target| {
        if started.elapsed() > Duration::from_secs(1) || done < target {
            eprint!("\rindexing {name}: block {done} of {target}   ");
            let _ = std::io::stderr().flush();
        }
    });
    let report = follower
        .sync_once()
        .await
        .context("cannot sync the chain")?;
    if report.events > 0 || started.elapsed() > Duration::from_secs(1) {
        eprintln!();
    }
    Ok(())
}

/// `chain deploy`: deploy the ERC-1056 registry to a node; print its address.
pub async fn deploy(rpc: &str, key_path: &Path) -> Result<()> {
    let (key, _) = crate::request::assertion::read_key_file(key_path)?;
    let secret = ethereum_secret(&key, key_path)?;
    let chain = RpcChain::new(rpc)?;
    let chain_id = chain
        .chain_id()
        .await
        .with_context(|| format!("{rpc} does not answer"))?;
    eprintln!("deploying the ERC-1056 registry to chain {chain_id} at {rpc}…");
    let code = registry::registry_creation_code().map_err(anyhow::Error::msg)?;
    let receipt = chain
        .transact(&secret, None, code, 3_000_000)
        .await
        .context("deployment failed (is the key's account funded?)")?;
    let address = receipt
        .contract_address
        .context("the node reported no contract address")?;
    eprintln!(
        "mined in block {} (tx {})",
        receipt.block_number, receipt.tx_hash
    );
    println!("{}", address.to_checksum(None));
    eprintln!("deploying the PolicyRegistry (policy sets approved M of N) for that registry…");
    let code = did_registry::ethr::governance::policy_registry_creation_code(address)
        .map_err(anyhow::Error::msg)?;
    let policies = chain
        .transact(&secret, None, code, 3_000_000)
        .await
        .context("deploying the PolicyRegistry failed")?
        .contract_address
        .context("the node reported no contract address")?;
    eprintln!(
        "add to didgate.toml:\n[chains.NAME]\nrpc_url = \"{rpc}\"\nregistry = \"{}\"\nchain_id = {chain_id}\nstart_block = {}\n\n\
         and, to govern policies on this chain:\n[policy.governance]\nchain = \"NAME\"\ncontract = \"{}\"\n\
         deployment = \"prod\"\nbundles = \"policy-bundles\"",
        address.to_checksum(None),
        receipt.block_number,
        policies.to_checksum(None)
    );
    Ok(())
}

/// `chain status`: each chain's head, indexed height and lag (syncing first).
pub async fn status(config_path: &Path) -> Result<()> {
    let config = Config::load(config_path)?;
    if config.chains.is_empty() {
        bail!(
            "{} has no [chains.NAME]; did:ethr is off",
            config_path.display()
        );
    }
    let store = Store::connect(&config.database_url()).await?;
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>6}  source",
        "network", "chain id", "head", "indexed", "lag"
    );
    for name in config.chains.keys() {
        let (net, follower, _) =
            match crate::server::chains::follower_for(&config, name, &store).await {
                Ok(f) => f,
                Err(e) => {
                    println!("{name:<12} unavailable: {e}");
                    continue;
                }
            };
        let describe = follower.chain().describe();
        let registry_addr = net.config.registry;
        if let Err(e) = sync_with_progress(follower).await {
            println!("{name:<12} unavailable: {e:#}");
            continue;
        }
        let s = net.status();
        println!(
            "{:<12} {:>10} {:>10} {:>10} {:>6}  {describe} (registry {})",
            s.name,
            s.chain_id,
            s.head,
            s.indexed,
            s.head.saturating_sub(s.indexed),
            registry_addr.to_checksum(None)
        );
    }
    store.close().await;
    Ok(())
}
