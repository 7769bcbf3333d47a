//! The decision log at start-up and shutdown: open the transparency log of
//! `[audit]` (checking its tail, signed with the gateway's Ed25519 key),
//! start its writer, and the indexer that builds the SQL `decisions` table
//! from it; at shutdown, the writer's last batch and checkpoint, then the
//! index up to the log's end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit::tlog::{Fsync, Tlog, TlogConfig, TlogError};
use audit::{AuditLog, AuditWriter, Indexer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, FsyncMode};
use crate::request::assertion::AssertionSigner;
use crate::server::StartError;
use crate::store::Store;

/// Where the log is and how it is written, from `[audit]`.
pub fn tlog_config(
    config: &Config,
    signer: &AssertionSigner,
) -> Result<(PathBuf, TlogConfig), StartError> {
    let secret = signer.ed25519_secret().ok_or_else(|| {
        StartError::Audit(
            "the decision log signs its checkpoints with the gateway's key, which must be Ed25519 \
             (identity.key_file holds another kind)"
                .to_owned(),
        )
    })?;
    let origin = config
        .audit
        .origin(&config.server.public_url, &config.server.instance);
    let mut tc = TlogConfig::new(origin, secret);
    tc.fsync = match config.audit.fsync {
        FsyncMode::Batch => Fsync::Batch,
        FsyncMode::Always => Fsync::Always,
    };
    tc.checkpoint_interval = config.audit.checkpoint_interval();
    tc.archives = config.audit_archives();
    Ok((config.resolve(&config.audit.dir), tc))
}

/// The log opened for writing, after the checks of its tail: a torn last
/// entry is cut and reported; anything else that does not verify stops the
/// gateway with the file and entry at fault.
pub async fn open(dir: PathBuf, tc: TlogConfig) -> Result<Tlog, StartError> {
    let (log, report) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Tlog::open(&dir, &tc)
    })
    .await
    .map_err(|e| StartError::Audit(format!("opening the decision log: {e}")))?
    .map_err(|e| tlog_error(&dir, e))?;
    if report.created {
        tracing::info!(dir = %dir.display(), vkey = %log.vkey(), "created the decision log");
    }
    if report.torn_bytes > 0 {
        tracing::warn!(dir = %dir.display(), bytes = report.torn_bytes, size = report.size,
            "decision log: a last entry was only partly written (a crash or power loss mid-write); cut back to the last whole entry");
    }
    if let Some(entries) = report.migrated {
        tracing::info!(dir = %dir.display(), entries,
            "decision log: private/entries.log (before segments) split into segments and removed");
    }
    for path in &report.dropped {
        tracing::warn!(dir = %dir.display(), %path,
            "decision log: a segment past a gap (a power loss kept it but not one before it) held only unsigned entries; removed");
    }
    for path in &report.republished {
        tracing::warn!(dir = %dir.display(), %path, "decision log: a tile missing after a crash was written again from the entries");
    }
    Ok(log)
}

fn tlog_error(dir: &std::path::Path, e: TlogError) -> StartError {
    let hint = match e {
        TlogError::Locked { .. } => " (is another didgate running with this [audit] dir?)",
        TlogError::OriginMismatch { .. } | TlogError::CheckpointSignature { .. } => {
            " (the log was written under another name or key: [audit] origin, [identity] key_file)"
        }
        _ => " (the log is never rewritten silently: run `didgate audit verify` to see what is wrong)",
    };
    StartError::Audit(format!("decision log {}: {e}{hint}", dir.display()))
}

/// The writer on the opened log.
pub fn spawn_writer(
    config: &Config,
    log: Tlog,
    dir: PathBuf,
    tc: TlogConfig,
) -> Result<(AuditLog, AuditWriter), StartError> {
    AuditLog::spawn(log, dir, tc, config.audit.fsync_interval())
        .map_err(|e| StartError::Audit(format!("starting the decision log writer: {e}")))
}

/// The indexer of the `decisions` table, and the switch that stops it.
pub struct IndexTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl IndexTask {
    /// Index `log`'s entries into `store` under the gateway's instance name,
    /// on a connection of its own.
    pub async fn spawn(
        config: &Config,
        store: &Store,
        log: &AuditLog,
    ) -> Result<IndexTask, StartError> {
        let db = store.dedicated().await?.decisions();
        let indexer = Indexer::new(
            db,
            Arc::from(config.server.instance.as_str()),
            &config.resolve(&config.audit.dir),
            log.stats_handle(),
        )
        .with_archives(config.audit_archives());
        let (stop, rx) = watch::channel(false);
        Ok(IndexTask {
            stop,
            task: tokio::spawn(indexer.run(rx)),
        })
    }

    /// Index up to the log's end (the writer has finished) and stop.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                "decision index did not catch up within 15 s; it resumes at the next start"
            );
        }
    }
}
