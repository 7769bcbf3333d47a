//! The queue and its writer: every decision (forwarded or refused) is queued
//! in memory (without waiting while the queue has room), and one writer task
//! appends batches to the database in transactions. A failed write is
//! retried, never dropped.
//!
//! When the queue is full there are two cases. While the writer's writes
//! succeed, the gateway is taking requests faster than the database takes
//! their decisions: a request then waits for room (up to `FULL_WAIT`), which
//! slows the gateway to what the log can keep, instead of refusing a share of
//! the requests. While its writes fail (the database is down), requests are
//! refused at once with `503 audit_unavailable`. Either way nothing is ever
//! forwarded unaudited.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::record::DecisionRecord;
use crate::sql::DecisionDb;

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
    /// Decisions that found the queue full and waited for room.
    pub waited_full: AtomicU64,
    /// The writer's last write failed (cleared by the next success).
    pub failing: AtomicBool,
}

/// Owns the writer task; `finish` flushes everything queued.
pub struct AuditWriter {
    handle: JoinHandle<()>,
}

const MAX_BATCH: usize = 1024;
/// How long a decision waits for room in a full queue while the writer is
/// healthy, before its request is refused.
const FULL_WAIT: Duration = Duration::from_secs(2);
/// How long the writer waits for more decisions before writing a batch.
/// Each commit rewrites the pages its rows touched (table and index leaves)
/// to the WAL, so rows per commit set the write amplification: at 5 ms and
/// a few thousand requests a second that was over three page writes a row.
const LINGER: Duration = Duration::from_millis(20);

impl AuditLog {
    /// Start the writer on `db` (a connection of its own, ideally: see the
    /// gateway's `Store::dedicated`) with a queue of `capacity` decisions.
    pub fn spawn(db: DecisionDb, capacity: usize) -> (AuditLog, AuditWriter) {
        let (tx, rx) = mpsc::channel(capacity);
        let stats = Arc::new(AuditStats::default());
        let handle = tokio::spawn(writer(db, rx, stats.clone()));
        (AuditLog { tx, stats }, AuditWriter { handle })
    }

    /// Queue a decision if there is room now, never waiting (benchmarks and
    /// callers outside a runtime; the request path uses `record`).
    pub fn try_record(&self, rec: DecisionRecord) -> Result<(), AuditFull> {
        self.tx.try_send(rec).map_err(|_| self.refused())
    }

    /// Count a refused decision.
    fn refused(&self) -> AuditFull {
        self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
        AuditFull
    }

    /// Queue a decision. Returns at once while there is room (always, below
    /// saturation); see the module's doc for a full queue.
    pub async fn record(&self, rec: DecisionRecord) -> Result<(), AuditFull> {
        let rec = match self.tx.try_send(rec) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(self.refused()),
            Err(TrySendError::Full(rec)) => rec,
        };
        if self.stats.failing.load(Ordering::Relaxed) {
            return Err(self.refused());
        }
        self.stats.waited_full.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(FULL_WAIT, self.tx.send(rec)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(self.refused()),
        }
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

async fn writer(db: DecisionDb, mut rx: mpsc::Receiver<DecisionRecord>, stats: Arc<AuditStats>) {
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
            match db.insert(&batch).await {
                Ok(()) => {
                    stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    stats.failing.store(false, Ordering::Relaxed);
                    break;
                }
                // The connection died after the database committed an
                // earlier try of this batch, before the writer heard so:
                // the retry finds its ids taken. A batch is one
                // transaction, so all its rows are there; written.
                Err(e)
                    if crate::sql::is_unique_violation(&e)
                        && db.holds(&batch).await.unwrap_or(false) =>
                {
                    tracing::warn!(rows = batch.len(), "decision log: a batch whose commit was not acknowledged is in the log; not written again");
                    stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    stats.failing.store(false, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    stats.failing.store(true, Ordering::Relaxed);
                    tracing::error!(error = %e, pending = batch.len(), "decision log write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
