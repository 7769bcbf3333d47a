//! `didgate check`: load a config and everything it names (policies,
//! TLS certificate, gateway key, routes) without serving; fail with the
//! reason, or print a one-line summary.

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::request::assertion::read_key_file;

/// `didgate check -c FILE`: validate a config and its policies, print a summary.
pub fn check(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let engine = config.policy_engine().context("policies do not load")?;
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
