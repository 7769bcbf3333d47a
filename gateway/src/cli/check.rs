//! `didgate check`: load a config and everything it names (policies,
//! TLS certificate, gateway key, routes) without serving; fail with the
//! reason, or print a one-line summary.

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::request::assertion::read_key_file;

/// `didgate check -c FILE`: validate a config and its policies, print a
/// summary and which policy set is in force (and why).
pub async fn check(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let engine = config.policy_engine().context("policies do not load")?;
    let policy_mode = policy_mode(&config, &engine).await?;
    if let Some(tls) = &config.server.tls {
        crate::server::tls::server_config(
            &config.resolve(&tls.cert),
            &config.resolve(&tls.key),
            tls.client_auth,
        )?;
    }
    let key = config.resolve(&config.identity.key_file);
    if key.exists() {
        read_key_file(&key)?;
    }
    crate::request::route::Router::new(&config.routes)?;
    println!(
        "{}: OK ({} routes, {} policies, {} trusted issuer entries, database {})",
        path.display(),
        config.routes.len(),
        engine.policy_count(),
        config.credentials.trusted_issuers.len(),
        config.database.url.split(['?', '@']).next().unwrap_or("")
    );
    println!("{policy_mode}");
    if let Some(tls) = &config.server.tls {
        if tls.client_auth == crate::config::ClientAuth::Did {
            println!(
                "mutual TLS: client certificates naming a DID are identities \
                 (their key checked against the DID on every request)"
            );
        }
    }
    Ok(())
}

/// Which policy set a gateway with this config enforces, and why. In chain
/// mode the set approved on chain must exist and load, as the gateway
/// will not start without it.
async fn policy_mode(config: &Config, files: &policy::PolicyEngine) -> Result<String> {
    use crate::config::PolicySource;
    let local = policy::bundle::hex(&files.policy_set_digest());
    if config.policy.source == PolicySource::Files {
        return Ok(format!(
            "policies: source = \"files\": the [policy] files (set {local}) are enforced and \
             reloaded when they change; anyone who can write them changes access"
        ));
    }
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let governor = crate::server::governance::Governor::open(config, &store).await?;
    let engine = governor
        .initial_engine()
        .await
        .context("the policy set approved on chain cannot be enforced")?;
    let active = policy::bundle::hex(&engine.policy_set_digest());
    let r = governor.registry();
    Ok(format!(
        "policies: source = \"chain\": set {active} ({} policies), approved in deployment {:?} \
         of the PolicyRegistry {} on {}, is enforced; the [policy] files (set {local}) are {}",
        engine.policy_count(),
        r.label,
        r.contract,
        r.chain_name,
        if active == local {
            "the same set"
        } else {
            "a working copy, not enforced (propose them with `didgate policy propose`)"
        }
    ))
}
