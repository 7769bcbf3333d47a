//! The credential tools: `vc issue` (with `--status-list NAME
//! --status-index N`, a credential with an on-chain `credentialStatus`
//! entry) and `vc revoke` (`setStatus` on the issuer's list, signed by the
//! issuer's owner key or a delegate's). Every gateway following the chain
//! refuses the credential from the block the revocation lands in; `vc
//! revoke` returns once every running gateway on the same database has
//! applied that block (or says until when one may not:
//! [`crate::server::chains::report_applied`]).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use credentials::Format;
use did_registry::ethr::status::{self, ListUrl, U256};
use did_registry::ethr::{Address, Chain, EthrDid, StatusEntry};
use serde_json::{Map, Value};

use crate::cli::chain_commands::ethereum_secret;
use crate::cli::identity::{issue_vc, issue_vc_as, load_identity};
use crate::config::Config;
use crate::store::Store;

/// `vc issue`: issue a credential (with a status entry when `status` names a
/// list and index), print it, and write it to `out` too.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    issuer_key: &Path,
    subject: &str,
    types: &[String],
    claims: &[String],
    claims_json: Option<&str>,
    valid_for: i64,
    format: Format,
    status: Option<(String, String)>,
    out: Option<&Path>,
) -> Result<()> {
    let claims = parse_claims(claims, claims_json)?;
    let token = match status {
        Some((list, index)) => issue_with_status(
            issuer_key, subject, types, claims, valid_for, format, &list, &index,
        )?,
        None => issue_vc(issuer_key, subject, types, claims, valid_for, format)?,
    };
    if let Some(out) = out {
        std::fs::write(out, format!("{token}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("{token}");
    Ok(())
}

/// The claims of `--claim name=value` (repeatable) merged into `--claims-json`.
fn parse_claims(pairs: &[String], json: Option<&str>) -> Result<Map<String, Value>> {
    let mut claims = match json {
        Some(j) => match serde_json::from_str::<Value>(j).context("--claims-json is not JSON")? {
            Value::Object(m) => m,
            _ => bail!("--claims-json must be a JSON object"),
        },
        None => Map::new(),
    };
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--claim {p:?}: write it as name=value"))?;
        if k.is_empty() || k == "id" {
            bail!("--claim {p:?}: the name must be non-empty and not \"id\"");
        }
        let value =
            serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        claims.insert(k.to_owned(), value);
    }
    Ok(claims)
}

/// Parse `--status-index`: a decimal uint256.
pub fn parse_index(s: &str) -> Result<U256> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--status-index {s:?} must be a non-negative decimal number");
    }
    U256::from_str_radix(s, 10).with_context(|| format!("--status-index {s:?} is too large"))
}

/// Issue a credential whose `credentialStatus` is index `index` of the
/// issuer's on-chain list `list` (the issuer must be a did:ethr).
#[allow(clippy::too_many_arguments)]
pub fn issue_with_status(
    issuer_key: &Path,
    subject: &str,
    types: &[String],
    claims: Map<String, Value>,
    valid_for: i64,
    format: Format,
    list: &str,
    index: &str,
) -> Result<String> {
    let identity = load_identity(issuer_key)?;
    let issuer = &identity.1;
    if !subject.starts_with("did:") {
        bail!("--subject {subject:?} is not a DID");
    }
    if !issuer.starts_with("did:ethr:") {
        bail!(
            "--status-list needs a did:ethr issuer (the list lives on its chain); {} is {issuer}",
            issuer_key.display()
        );
    }
    status::list_id(list).map_err(|e| anyhow::anyhow!("--status-list: {e}"))?;
    let index = parse_index(index)?;
    let entry = StatusEntry::to_json(&status::list_url(issuer, list), index);
    issue_vc_as(
        &identity,
        subject,
        types,
        claims,
        valid_for,
        format,
        Some(&entry),
    )
}

/// Which bit `vc revoke` changes.
#[derive(Debug, Clone)]
pub enum Target {
    /// The status entry of this credential (a file or the token itself).
    Credential(String),
    /// Index `index` of the issuer's list `list`.
    Index { list: String, index: String },
}

impl Target {
    /// The target `--credential`, or `--status-list` with `--status-index`, name.
    pub fn from_flags(
        credential: Option<String>,
        status_list: Option<String>,
        status_index: Option<String>,
    ) -> Result<Target> {
        Ok(match (credential, status_list, status_index) {
            (Some(c), _, _) => Target::Credential(c),
            (None, Some(list), Some(index)) => Target::Index { list, index },
            _ => bail!("give --credential, or --status-list with --status-index"),
        })
    }
}

/// `vc revoke`: set (`undo` = false) or clear a credential's bit on its issuer's list.
pub async fn revoke(
    config_path: &Path,
    key_path: &Path,
    issuer: Option<&str>,
    target: Target,
    undo: bool,
) -> Result<()> {
    let config = Config::load(config_path)?;
    let (key, key_did, _) = load_identity(key_path)?;
    let secret = ethereum_secret(&key, key_path)?;
    let signer = did_registry::ethr::address_of(&secret.public_key());
    let (issuer, list, index) = bit_of(target, issuer, &key_did)?;

    let store = Store::connect(&config.database_url()).await?;
    let (name, chain, status_registry) = status_chain_for(&config, &store, &issuer).await?;

    // The contract would revert with "bad_actor": say why before spending gas.
    let allowed = chain
        .call(status_registry, status::can_update(issuer.address, signer))
        .await
        .ok()
        .and_then(|r| status::decode_bool(&r));
    if allowed == Some(false) {
        bail!(
            "the key in {} ({signer}) is neither the owner of {} nor one of its sigAuth/veriKey delegates",
            key_path.display(),
            issuer.did
        );
    }
    let data = status::set_status(issuer.address, list.list_id, index, !undo);
    let receipt = chain
        .transact(&secret, Some(status_registry), data, status::STATUS_GAS)
        .await
        .with_context(|| format!("setStatus on {name} failed"))?;
    println!(
        "{} index {index} of {} (issuer {}) in block {} of {name}, tx {}",
        if undo { "restored" } else { "revoked" },
        status::list_url(&issuer.did, &list.name),
        issuer.did,
        receipt.block_number,
        receipt.tx_hash
    );
    crate::server::chains::report_applied(&store, &name, receipt.block_number, chain.as_ref())
        .await;
    store.close().await;
    Ok(())
}

/// The list and index a revocation changes, and the issuer whose list it is
/// (`issuer`, default the key's DID `key_did`, or the credential's issuer).
fn bit_of(target: Target, issuer: Option<&str>, key_did: &str) -> Result<(EthrDid, ListUrl, U256)> {
    Ok(match target {
        Target::Index { list, index } => {
            let issuer =
                EthrDid::parse(issuer.unwrap_or(key_did)).context("--issuer must be a did:ethr")?;
            status::list_id(&list).map_err(|e| anyhow::anyhow!("--status-list: {e}"))?;
            let url = ListUrl::parse(&status::list_url(&issuer.did, &list))?;
            (issuer, url, parse_index(&index)?)
        }
        Target::Credential(c) => {
            let (vc_issuer, entry) = status_of(&c)?;
            let vc_issuer = EthrDid::parse(&vc_issuer).with_context(|| {
                format!("the credential's issuer {vc_issuer} is not a did:ethr")
            })?;
            if let Some(i) = issuer {
                if EthrDid::parse(i)?.address != vc_issuer.address {
                    bail!(
                        "--issuer {i} did not issue this credential ({})",
                        vc_issuer.did
                    );
                }
            }
            let url = ListUrl::parse(&entry.list).with_context(|| {
                format!(
                    "the credential's status list {} is not an on-chain list",
                    entry.list
                )
            })?;
            if url.did.address != vc_issuer.address {
                bail!(
                    "the credential's status list {} is not its issuer's ({})",
                    entry.list,
                    vc_issuer.did
                );
            }
            (vc_issuer, url, entry.index)
        }
    })
}

/// The issuer and (single) status entry of a credential, read without
/// verifying it (the issuer is the one revoking it).
fn status_of(credential: &str) -> Result<(String, StatusEntry)> {
    let token = match std::fs::read_to_string(credential) {
        Ok(t) => t.trim().to_owned(),
        Err(_) if credential.matches('.').count() == 2 => credential.to_owned(),
        Err(e) => bail!("--credential {credential}: not a file ({e}) and not a JWT"),
    };
    let parsed = credentials::jws::parse(&token).context("--credential is not a VC-JWT")?;
    let p = &parsed.payload;
    let body = p.get("vc").filter(|v| v.is_object()).unwrap_or(p);
    let issuer = p
        .get("iss")
        .and_then(Value::as_str)
        .or_else(|| match body.get("issuer") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(o) => o.get("id").and_then(Value::as_str),
            None => None,
        })
        .context("the credential names no issuer")?
        .to_owned();
    let status = body
        .get("credentialStatus")
        .context("the credential has no credentialStatus; nothing to revoke on chain")?;
    let mut entries = StatusEntry::from_json(&issuer, status)?;
    if entries.len() != 1 {
        bail!("the credential has several status entries; use --status-list and --status-index");
    }
    let entry = entries.remove(0);
    Ok((issuer, entry))
}

/// The config's chain a did:ethr names, opened, with its status registry.
async fn status_chain_for(
    config: &Config,
    store: &Store,
    did: &EthrDid,
) -> Result<(String, Arc<dyn Chain>, Address)> {
    let (name, opened) = crate::cli::chain_commands::chain_for(config, store, did, true).await?;
    let status_registry = opened.status_registry.with_context(|| {
        format!("[chains.{name}] has no status_registry; set the StatusRegistry contract's address")
    })?;
    Ok((name, opened.chain, status_registry))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn claims_parse_json_values_and_strings() {
        let c = parse_claims(
            &[
                "role=admin".into(),
                "level=3".into(),
                "groups=[\"a\"]".into(),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c["role"], "admin");
        assert_eq!(c["level"], 3);
        assert_eq!(c["groups"][0], "a");
        assert!(parse_claims(&["novalue".into()], None).is_err());
        assert!(parse_claims(&["id=x".into()], None).is_err());
    }
}
