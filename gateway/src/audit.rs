//! The decision log: every decision (forwarded or refused) is queued in memory
//! without awaiting anything, and one writer task appends batches to the
//! database in transactions. A failed write is retried, never dropped; if the
//! queue fills up (database down for long) new requests are refused with
//! `503 audit_unavailable`, so nothing is ever forwarded unaudited.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::Store;

/// How a request was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
    StepUp,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::StepUp => "step_up",
        }
    }
}

/// One row of the decision log.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub id: String,
    pub ts_ms: i64,
    pub gateway: Arc<str>,
    pub route: Option<Arc<str>>,
    pub method: String,
    pub host: String,
    pub path: String,
    pub client_ip: IpAddr,
    pub subject: Option<String>,
    pub auth_method: Option<&'static str>,
    pub credential_types: Vec<String>,
    pub issuers: Vec<String>,
    pub effect: Effect,
    /// Status of a refusal; `None` when forwarded.
    pub status: Option<u16>,
    pub reason: &'static str,
    pub policies: Vec<String>,
    pub risk_score: f64,
    /// The factors behind the score, largest first.
    pub risk_factors: Vec<risk::Factor>,
}

/// The queue is full: the database has been unreachable for a while.
#[derive(Debug, thiserror::Error)]
#[error("decision log queue is full")]
pub struct AuditFull;

/// Cheap, cloneable handle used on the request path.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<DecisionRecord>,
    stats: Arc<AuditStats>,
}

#[derive(Default, Debug)]
pub struct AuditStats {
    pub written: AtomicU64,
    pub write_errors: AtomicU64,
    pub refused_full: AtomicU64,
}

/// Owns the writer task; `finish` flushes everything queued.
pub struct AuditWriter {
    handle: JoinHandle<()>,
}

const MAX_BATCH: usize = 1024;
/// How long the writer waits for more decisions before writing a batch.
const LINGER: Duration = Duration::from_millis(5);

impl AuditLog {
    pub fn spawn(store: Store, capacity: usize) -> (AuditLog, AuditWriter) {
        let (tx, rx) = mpsc::channel(capacity);
        let stats = Arc::new(AuditStats::default());
        let handle = tokio::spawn(writer(store, rx, stats.clone()));
        (AuditLog { tx, stats }, AuditWriter { handle })
    }

    /// Queue a decision; never waits.
    pub fn record(&self, rec: DecisionRecord) -> Result<(), AuditFull> {
        self.tx.try_send(rec).map_err(|_| {
            self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            AuditFull
        })
    }

    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }
}

impl AuditWriter {
    /// Wait until every queued decision is written (all `AuditLog` handles
    /// must be dropped first, or this waits for them).
    pub async fn finish(self) {
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "decision log writer task failed");
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<DecisionRecord>, stats: Arc<AuditStats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        // Gather what arrives within LINGER into the same transaction: under
        // load that is one commit per few hundred decisions instead of one
        // per request (the profile showed the commits, not the inserts).
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            match store.insert_decisions(&batch).await {
                Ok(()) => {
                    stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, pending = batch.len(), "decision log write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
