//! The identity helpers the CLI's commands share: a key file as the DID
//! and key id it belongs to, and credentials and presentations issued with
//! it; and `didgate did create`, which is only these helpers. Used by `cli`,
//! `demo`, `wallet`, `chain_commands`, `status_commands` and
//! `session_commands`; it depends on none of them.

use std::path::Path;

use anyhow::{bail, Context, Result};
use credentials::{CredentialRequest, Format, KeyType, PresentationRequest, SigningKey};
use serde_json::{Map, Value};

use crate::request::assertion::{read_key_file, write_key_file};

/// Load a key file and the DID and key id it belongs to.
pub fn load_identity(path: &Path) -> Result<(SigningKey, String, String)> {
    let (key, kid) = read_key_file(path)?;
    let kid = kid.with_context(|| {
        format!(
            "{} has no \"kid\" naming its DID; create keys with `didgate did create`",
            path.display()
        )
    })?;
    let did = kid.split('#').next().unwrap_or_default().to_owned();
    if !did.starts_with("did:") {
        bail!("{}: kid {kid:?} is not a DID URL", path.display());
    }
    Ok((key, did, kid))
}

pub fn issue_vc(
    issuer_key: &Path,
    subject: &str,
    types: &[String],
    claims: Map<String, Value>,
    valid_for: i64,
    format: Format,
) -> Result<String> {
    let identity = load_identity(issuer_key)?;
    issue_vc_as(&identity, subject, types, claims, valid_for, format, None)
}

/// Issue as a loaded identity (key, DID, kid), with an optional `credentialStatus`.
pub fn issue_vc_as(
    (key, issuer, kid): &(SigningKey, String, String),
    subject: &str,
    types: &[String],
    claims: Map<String, Value>,
    valid_for: i64,
    format: Format,
    status: Option<&Value>,
) -> Result<String> {
    if !subject.starts_with("did:") {
        bail!("--subject {subject:?} is not a DID");
    }
    let req = CredentialRequest {
        issuer: issuer.clone(),
        subject: subject.to_owned(),
        types: types.to_vec(),
        claims,
        valid_for_secs: Some(valid_for),
        id: Some(format!("urn:uuid:{}", uuid::Uuid::new_v4())),
        format,
    };
    Ok(credentials::issue_with_status(
        key,
        kid,
        &req,
        status,
        unix_now(),
    )?)
}

pub fn present_vp(
    holder_key: &Path,
    vcs: Vec<String>,
    audience: &str,
    nonce: Option<String>,
    valid_for: i64,
    format: Format,
) -> Result<String> {
    let (key, holder, kid) = load_identity(holder_key)?;
    let req = PresentationRequest {
        holder,
        audience: audience.to_owned(),
        nonce,
        valid_for_secs: valid_for,
        credentials: vcs,
        format,
    };
    Ok(credentials::present(&key, &kid, &req, unix_now())?)
}

/// Seconds since the Unix epoch, for what the CLI issues.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum DidMethod {
    Key,
    Jwk,
    /// On-chain (ERC-1056); the key is secp256k1.
    Ethr,
}

/// `did create`: write a new key to `out`, print its DID.
pub fn create(method: DidMethod, key_type: KeyType, network: &str, out: &Path) -> Result<()> {
    let (did, _) = match method {
        DidMethod::Ethr => create_ethr_did(network, out)?,
        _ => create_did(method, key_type, out)?,
    };
    println!("{did}");
    eprintln!("private key written to {}", out.display());
    Ok(())
}

/// Create a key and its DID; the key file's `kid` is the DID URL of the key.
pub fn create_did(
    method: DidMethod,
    key_type: KeyType,
    out: &Path,
) -> Result<(String, SigningKey)> {
    let key = SigningKey::generate(key_type);
    let public = key.public_key();
    let did = match method {
        DidMethod::Key => did_registry::did_key(&public),
        DidMethod::Jwk => did_registry::did_jwk(&public),
        DidMethod::Ethr => bail!("did:ethr keys are made by create_ethr_did"),
    };
    let kid = did_registry::default_key_id(&did)?;
    write_key_file(out, &key, Some(&kid))?;
    Ok((did, key))
}

/// A did:ethr for a new secp256k1 key; the key file's kid is `did#controller`.
pub fn create_ethr_did(network: &str, out: &Path) -> Result<(String, SigningKey)> {
    if network.is_empty() || network.contains(['#', '?', '/']) {
        bail!("--network {network:?} is not a network name or hex chain id");
    }
    let key = SigningKey::generate(KeyType::Secp256k1);
    let did = ethr_did_for(&key, network)?;
    write_key_file(out, &key, Some(&format!("{did}#controller")))?;
    Ok((did, key))
}

/// The did:ethr of `key` (its address) on `network` (no network part on mainnet).
pub fn ethr_did_for(key: &SigningKey, network: &str) -> Result<String> {
    let jwk = serde_json::to_string(&key.public_key().to_jwk())?;
    let pk = k256::PublicKey::from_jwk_str(&jwk).context("not a secp256k1 key")?;
    let address = did_registry::ethr::address_of(&pk).to_checksum(None);
    Ok(if network == "mainnet" {
        format!("did:ethr:{address}")
    } else {
        format!("did:ethr:{network}:{address}")
    })
}
