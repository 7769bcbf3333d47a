//! `didgate sessions list` and `didgate sessions revoke`: the browser
//! sessions in the database every gateway shares (a revocation reaches
//! every gateway within `sessions.sync_interval_ms`).

use std::path::Path;

use anyhow::{bail, Result};

use crate::cli::identity::unix_now;
use crate::config::Config;
use crate::store::Store;

/// `sessions list`: print sessions newest first (live ones only unless `all`).
pub async fn list(config: &Path, subject: Option<&str>, all: bool, limit: i64) -> Result<()> {
    let now = unix_now() * 1000;
    let config = Config::load(config)?;
    let store = Store::connect(&config.database_url()).await?;
    let rows = store
        .list_sessions(subject, all, now, limit.clamp(1, 10_000))
        .await?;
    if rows.is_empty() {
        eprintln!("no sessions");
    }
    for r in rows {
        let state = match r.revoked_ms {
            Some(_) => "revoked",
            None if r.expires_ms <= now => "expired",
            None => "live",
        };
        println!(
            "{} {:<7} {} opened {} last used {} ends {} on {}",
            r.id_hash.get(..16).unwrap_or(&r.id_hash),
            state,
            r.subject,
            rfc3339(r.created_ms),
            rfc3339(r.last_seen_ms),
            rfc3339(r.expires_ms),
            r.gateway,
        );
    }
    store.close().await;
    Ok(())
}

/// `sessions revoke`: end every live session of `subject`, or the one `id` names.
pub async fn revoke(config: &Path, subject: Option<String>, id: Option<String>) -> Result<()> {
    let now = unix_now() * 1000;
    let config = Config::load(config)?;
    let store = Store::connect(&config.database_url()).await?;
    let n = match (subject, id) {
        (Some(s), _) => store.revoke_sessions_of(&s, now).await?,
        (None, Some(id)) => revoke_by_id(&store, &id, now).await?,
        (None, None) => bail!("give --subject DID or --id ID"),
    };
    store.close().await;
    println!(
        "{n} session(s) revoked; every gateway drops them within {} ms",
        config.sessions.sync_interval_ms
    );
    Ok(())
}

/// Revoke the one live session whose id (hash) starts with `id`.
async fn revoke_by_id(store: &Store, id: &str, now: i64) -> Result<u64> {
    let id = id.to_ascii_lowercase();
    if !(16..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--id {id}: give the 16 hex digits `didgate sessions list` shows");
    }
    let live = store.list_sessions(None, false, now, 100_000).await?;
    let matches: Vec<_> = live.iter().filter(|r| r.id_hash.starts_with(&id)).collect();
    match matches.as_slice() {
        [one] => Ok(u64::from(store.revoke_session(&one.id_hash, now).await?)),
        [] => bail!("no live session has id {id}"),
        _ => bail!("--id {id} names several sessions; give more digits"),
    }
}

/// A Unix time in milliseconds as RFC 3339 (the number itself if out of range).
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
