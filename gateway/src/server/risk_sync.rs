//! Risk profiles in the database: loaded at start, written every
//! `[risk] flush_interval_ms` by a background task (never on the request
//! path), and folded together with what peer gateways on the same database
//! wrote, so an identity's history follows it across replicas and restarts.
//!
//! Merging is an element-wise maximum of familiarity (idempotent, order-
//! independent), so reading a row twice or racing a peer never inflates a
//! profile; a peer's newest rate window wins.

use std::sync::Arc;
use std::time::Duration;

use risk::Engine;
use tokio::sync::watch;

use crate::clock::unix_ms;
use crate::config::RiskSettings;
use crate::store::{Store, StoreError};

/// Most profiles loaded at start (newest first); older ones load as their
/// identities are written by a peer, or start afresh.
const LOAD_LIMIT: i64 = 1_000_000;
/// Most rows folded in per pull.
const PULL_LIMIT: i64 = 50_000;
/// Profiles kept for a retry when the database is down, before the oldest
/// unsaved changes are dropped (the in-memory profile is kept regardless).
const PENDING_LIMIT: usize = 200_000;

/// Build the engine from `[risk]` and the profiles already stored.
pub async fn open(settings: &RiskSettings, store: &Store) -> Result<Option<Engine>, StoreError> {
    if !settings.enabled {
        return Ok(None);
    }
    let key = store.risk_hash_key().await?;
    let engine = Engine::new(settings.engine_config(key));
    let rows = store.load_risk_profiles(0, None, LOAD_LIMIT).await?;
    let mut bad = 0usize;
    for (subject, _, json) in &rows {
        if let Err(e) = engine.merge_stored(subject, json, unix_ms()) {
            bad += 1;
            tracing::warn!(error = %e, "skipping a stored risk profile");
        }
    }
    let (n, bytes) = engine.memory();
    tracing::info!(
        profiles = n,
        kib = bytes / 1024,
        skipped = bad,
        "risk profiles loaded"
    );
    Ok(Some(engine))
}

/// How far replicas' clocks may differ for profile rows to be picked up.
const CLOCK_SLACK_MS: i64 = 30_000;

/// Write changed profiles and fold in peers' until `shutdown`, then write
/// once more.
pub async fn run(
    engine: Arc<Engine>,
    store: Store,
    instance: Arc<str>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pending: Vec<(String, i64, String)> = Vec::new();
    let mut last_pull = unix_ms();
    loop {
        let stop = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = shutdown.changed() => true,
        };
        if !stop {
            // Fold in peers' rows first, so what this gateway writes next
            // already contains them (one row per identity: a write that had
            // not seen the peer's copy would hide it).
            // Rows are stamped with their writer's clock: read back far
            // enough for replicas whose clocks differ by up to CLOCK_SLACK_MS
            // (merging a row twice changes nothing).
            let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            let since = last_pull
                .saturating_sub(interval_ms.saturating_mul(2))
                .saturating_sub(CLOCK_SLACK_MS);
            let started = unix_ms();
            match store
                .load_risk_profiles(since, Some(&instance), PULL_LIMIT)
                .await
            {
                Ok(rows) => {
                    let e = engine.clone();
                    let merged = tokio::task::spawn_blocking(move || {
                        for (subject, _, json) in &rows {
                            if let Err(err) = e.merge_stored(subject, json, unix_ms()) {
                                tracing::warn!(error = %err, "skipping a peer's risk profile");
                            }
                        }
                    })
                    .await;
                    if merged.is_ok() {
                        last_pull = started;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read peers' risk profiles"),
            }
        }
        flush(&engine, &store, &instance, &mut pending).await;
        if stop {
            if !pending.is_empty() {
                tracing::error!(
                    profiles = pending.len(),
                    "risk profiles not saved at shutdown (database unavailable)"
                );
            }
            return;
        }
    }
}

/// Write every changed profile (and any left from a failed write).
pub async fn flush(
    engine: &Arc<Engine>,
    store: &Store,
    instance: &str,
    pending: &mut Vec<(String, i64, String)>,
) {
    let fresh = {
        let e = engine.clone();
        tokio::task::spawn_blocking(move || e.take_dirty())
            .await
            .unwrap_or_default()
    };
    if !fresh.is_empty() {
        // A newer copy of a subject replaces an unsaved older one.
        if !pending.is_empty() {
            let newer: std::collections::HashSet<&str> =
                fresh.iter().map(|(s, _, _)| s.as_str()).collect();
            pending.retain(|(s, _, _)| !newer.contains(s.as_str()));
        }
        pending.extend(fresh);
    }
    if pending.is_empty() {
        return;
    }
    match store.save_risk_profiles(pending, instance, unix_ms()).await {
        Ok(()) => pending.clear(),
        Err(e) => {
            tracing::warn!(error = %e, profiles = pending.len(), "cannot save risk profiles; will retry");
            if pending.len() > PENDING_LIMIT {
                let drop = pending.len() - PENDING_LIMIT;
                pending.drain(..drop);
                tracing::error!(
                    dropped = drop,
                    "risk profile changes dropped (database down too long)"
                );
            }
        }
    }
}
