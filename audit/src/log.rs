//! The request path's side of the log of record: every decision (forwarded
//! or refused) is encoded into the batch being filled, and its request waits
//! until that batch is in the transparency log (one `write` per batch, by
//! the log's writer thread) before it goes anywhere. Nothing is forwarded
//! unaudited, and nothing on the request path waits for a database.
//!
//! Group commit: whoever writes takes whatever the batch holds as soon as
//! the log is free, so a request waits for at most the batch being written
//! and its own. Under load batches grow by themselves; at rest a batch is
//! one decision. The batch needs no bound: each request in flight has at
//! most one decision in it, and waits for it.
//!
//! Who writes: with `Fsync::Batch` the request itself, on its own worker
//! thread. It yields once (so that the requests ready on that thread add
//! their decisions to the same batch), then, if the log is free, writes
//! the whole batch with one `write` and goes on; if the log is busy, its
//! holder writes the batch before letting go (and looks again after). No
//! thread hand-off, no wake-up per batch: a hand-off cost two context
//! switches per batch on a busy core (bench/RESULTS.md). The writer thread
//! publishes checkpoints (taking what is due out of the log, then writing
//! it with the log free, so that requests never wait for its fsyncs), writes what no request did (a request dropped
//! after adding its decision), opens the log again after a failure, and
//! with `Fsync::Always` writes every batch (an fsync never runs on a
//! request's worker thread).
//!
//! Durability ([`Fsync`]): with `Fsync::Batch` a syncer thread fsyncs the
//! segments written since its last pass every `fsync_interval` while the
//! log grows, beside the writer
//! (which never waits for it); with `Fsync::Always` the writer fsyncs each
//! batch before its requests go on.
//!
//! A batch that cannot be written (a full disk, an I/O error) fails its
//! requests (`503 audit_unavailable`), and so does every batch while it
//! keeps failing; each is tried, so writing resumes by itself with the
//! first batch that fits. A log that may no longer match its files (a
//! failed fsync, a write that could not be cut back) is closed and opened
//! again, which checks its tail, before anything else is written.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::record::DecisionRecord;
use crate::tlog::{Batch, Entry, Fsync, Publish, SegmentSync, Tlog, TlogConfig, TlogError};

/// The decision could not be logged: its request must be refused.
#[derive(Debug, thiserror::Error)]
#[error("the decision log cannot be written")]
pub struct AuditFull;

/// Cheap, cloneable handle used on the request path.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

/// What the log has done, for `/metrics`, tests and the indexer.
#[derive(Default, Debug)]
pub struct AuditStats {
    /// Decisions in the log (appended this run).
    pub written: AtomicU64,
    /// Batches that failed to be written.
    pub write_errors: AtomicU64,
    /// Decisions refused because their batch failed or the log was closed.
    pub refused: AtomicU64,
    /// The last batch failed (cleared by the next success).
    pub failing: AtomicBool,
    /// Entries in the log (all runs).
    pub size: AtomicU64,
    /// Entries the latest signed checkpoint covers.
    pub checkpoint_size: AtomicU64,
    /// Entries the SQL index holds (set by the indexer after each commit).
    pub indexed: AtomicU64,
}

/// Owns the writer and syncer threads; `finish` writes everything queued
/// and publishes a last checkpoint.
pub struct AuditWriter {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
}

/// When the writer looks at the log without new decisions (to publish a
/// checkpoint that is due).
const IDLE_TICK: Duration = Duration::from_millis(50);
/// Pause after a failed batch before the next is tried, doubling up to the
/// maximum while failures go on.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(250);
/// A batch's buffer is kept between batches up to this size.
const KEEP_BUFFER: usize = 4 << 20;

struct Shared {
    pending: Mutex<Pending>,
    /// The log and a spare batch buffer, held by whoever writes.
    writing: Mutex<Writing>,
    /// Requests write their batches themselves (`Fsync::Batch`).
    inline: bool,
    /// Wakes the writer: a first decision in an empty batch, or closing.
    wake: Condvar,
    stats: Arc<AuditStats>,
    /// The syncer's last fsync failed: the writer opens the log again,
    /// which checks its tail.
    sync_failed: AtomicBool,
    /// What the syncer fsyncs: the open log's (replaced when it is opened
    /// again).
    segments: Mutex<Arc<SegmentSync>>,
}

struct Writing {
    /// `None` after a failure, until the writer thread opens it again.
    log: Option<Tlog>,
    spare: Batch,
}

struct Pending {
    batch: Batch,
    slot: Arc<Slot>,
    closed: bool,
}

/// The fate of one batch, shared by the requests whose decisions are in it.
struct Slot {
    written: OnceLock<bool>,
    notify: Notify,
}

impl Slot {
    fn new() -> Arc<Slot> {
        Arc::new(Slot {
            written: OnceLock::new(),
            notify: Notify::new(),
        })
    }

    fn settle(&self, written: bool) {
        let _ = self.written.set(written);
        self.notify.notify_waiters();
    }

    async fn wait(&self) -> bool {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a settle in between still wakes us.
            notified.as_mut().enable();
            if let Some(&written) = self.written.get() {
                return written;
            }
            notified.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a batch that is still well
    // formed (pushes are all or nothing), and a log that checks itself
    // (`Tlog::is_poisoned`); go on with them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the writer opens the log again after a failure that may have left
/// it out of step with its files.
struct Reopen {
    dir: PathBuf,
    config: TlogConfig,
}

impl AuditLog {
    /// Start writing to `log` (opened with `config` in `dir`: the writer
    /// opens it again the same way after a failure it cannot write past).
    pub fn spawn(
        log: Tlog,
        dir: PathBuf,
        config: TlogConfig,
        fsync_interval: Duration,
    ) -> std::io::Result<(AuditLog, AuditWriter)> {
        let stats = Arc::new(AuditStats::default());
        publish_sizes(&stats, &log);
        let segments = Mutex::new(log.segment_sync());
        let shared = Arc::new(Shared {
            writing: Mutex::new(Writing {
                log: Some(log),
                spare: Batch::with_capacity(64 << 10),
            }),
            inline: config.fsync == Fsync::Batch,
            pending: Mutex::new(Pending {
                batch: Batch::with_capacity(64 << 10),
                slot: Slot::new(),
                closed: false,
            }),
            wake: Condvar::new(),
            stats,
            sync_failed: AtomicBool::new(false),
            segments,
        });
        let syncer = if config.fsync == Fsync::Batch {
            let s = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name("didgate-log-sync".into())
                    .spawn(move || syncer(&s, fsync_interval))?,
            )
        } else {
            None
        };
        let s = shared.clone();
        let reopen = Reopen { dir, config };
        let writer = std::thread::Builder::new()
            .name("didgate-log".into())
            .spawn(move || writer(&s, &reopen))?;
        Ok((
            AuditLog {
                shared: shared.clone(),
            },
            AuditWriter {
                shared,
                writer: Some(writer),
                syncer,
            },
        ))
    }

    /// Log a decision: returns once it is in the log (written to its
    /// segment), or with [`AuditFull`] when it cannot be, in which
    /// case its request must be refused.
    pub async fn record(&self, rec: DecisionRecord) -> Result<(), AuditFull> {
        let slot = self.enqueue(&rec)?;
        if self.shared.inline {
            // The requests ready on this thread add theirs first.
            tokio::task::yield_now().await;
            if slot.written.get().is_none() {
                write_if_free(&self.shared);
            }
        }
        if slot.wait().await {
            Ok(())
        } else {
            self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            Err(AuditFull)
        }
    }

    /// Encode the decision into the batch being filled; the batch's slot
    /// says when it is written.
    fn enqueue(&self, rec: &DecisionRecord) -> Result<Arc<Slot>, AuditFull> {
        let entry = Entry {
            record: rec,
            policy_set: &rec.policy_set,
            credential_ids: &rec.credential_ids,
        };
        let mut p = lock(&self.shared.pending);
        if p.closed {
            drop(p);
            self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AuditFull);
        }
        if let Err(e) = p.batch.push(&entry) {
            // Cannot happen (an entry is cut to fit and its JSON is ours);
            // refused rather than forwarded unaudited if it ever does.
            drop(p);
            tracing::error!(error = %e, id = %rec.id, "decision cannot be encoded");
            self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AuditFull);
        }
        let first = p.batch.len() == 1;
        let slot = p.slot.clone();
        drop(p);
        if first && !self.shared.inline {
            self.shared.wake.notify_one();
        }
        Ok(slot)
    }

    pub fn stats(&self) -> &AuditStats {
        &self.shared.stats
    }

    /// The shared counters, for whoever outlives this handle (the indexer).
    pub fn stats_handle(&self) -> Arc<AuditStats> {
        self.shared.stats.clone()
    }
}

impl AuditWriter {
    /// Write every decision queued, publish a last checkpoint and stop.
    /// Decisions logged after this are refused.
    pub async fn finish(mut self) {
        {
            let mut p = lock(&self.shared.pending);
            p.closed = true;
        }
        self.shared.wake.notify_all();
        let writer = self.writer.take();
        let syncer = self.syncer.take();
        let joined = tokio::task::spawn_blocking(move || {
            for t in [writer, syncer].into_iter().flatten() {
                if t.join().is_err() {
                    tracing::error!("a decision log thread panicked");
                }
            }
        })
        .await;
        if let Err(e) = joined {
            tracing::error!(error = %e, "decision log threads did not stop");
        }
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Without `finish` (a test that stops early): the threads end after
        // writing what is queued; nobody waits for them.
        lock(&self.shared.pending).closed = true;
        self.shared.wake.notify_all();
    }
}

fn publish_sizes(stats: &AuditStats, log: &Tlog) {
    stats.size.store(log.size(), Ordering::Release);
    stats
        .checkpoint_size
        .store(log.latest().size, Ordering::Release);
}

/// Write what is pending if the log is free (never waiting for it): the
/// holder of `writing` drains before letting go, and whoever lets go looks
/// again, so a decision added meanwhile is never left behind. A log that
/// must be opened again is left to the writer thread.
fn write_if_free(shared: &Shared) {
    loop {
        let mut w = match shared.writing.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if w.log.is_none() || shared.sync_failed.load(Ordering::Acquire) {
            drop(w);
            shared.wake.notify_one();
            return;
        }
        let ok = drain(shared, &mut w);
        drop(w);
        if !ok {
            // The writer thread backs off, or opens the log again.
            shared.wake.notify_one();
            return;
        }
        // A decision added while the log was held here was left to
        // this holder: look again now that it is free.
        if lock(&shared.pending).batch.is_empty() {
            return;
        }
    }
}

/// The writer thread: checkpoints, batches no request wrote (all of them
/// with `Fsync::Always`), and the log opened again after a failure.
fn writer(shared: &Shared, reopen: &Reopen) {
    let mut backoff = BACKOFF_MIN;
    let mut last_tick_error = None;
    loop {
        let closed = {
            let mut p = lock(&shared.pending);
            // With requests writing, a batch that is not empty is theirs
            // to write: wake for a checkpoint, a failure, or a stray batch.
            if (p.batch.is_empty() || shared.inline) && !p.closed {
                p = shared
                    .wake
                    .wait_timeout(p, IDLE_TICK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            p.closed
        };
        let mut w = lock(&shared.writing);
        if shared.sync_failed.swap(false, Ordering::AcqRel) {
            // A failed fsync may have dropped written pages: check the tail.
            w.log = None;
        }
        if w.log.is_none() {
            w.log = open_again(reopen, shared);
        }
        let mut ok = drain(shared, &mut w);
        // What is due is written without holding the log: requests go on
        // appending while the segments are fsynced and the checkpoint
        // written (a publication takes milliseconds of fsyncs).
        let due = w.log.as_mut().and_then(|l| begin(l, &mut last_tick_error));
        if let Some(publication) = due {
            drop(w);
            let written = publication.write();
            w = lock(&shared.writing);
            // (A request's failed batch may have closed the log meanwhile:
            // opening it again checks and publishes what this would have.)
            if let Some(l) = w.log.as_mut() {
                finish(shared, l, publication, written, &mut last_tick_error);
            }
        }
        // What was added while the checkpoint was written.
        ok &= drain(shared, &mut w);
        if closed && lock(&shared.pending).batch.is_empty() {
            if let Some(l) = w.log.take() {
                match l.close() {
                    Ok(c) => {
                        shared
                            .stats
                            .checkpoint_size
                            .store(c.size, Ordering::Release);
                        tracing::info!(size = c.size, "decision log closed with a last checkpoint");
                    }
                    Err(e) => tracing::error!(error = %e, "decision log: last checkpoint failed"),
                }
            }
            return;
        }
        drop(w);
        if shared.inline && ok {
            // A request that added its decision while this thread held
            // the log left it here.
            write_if_free(shared);
        }
        if ok {
            backoff = BACKOFF_MIN;
        } else {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// Write every pending batch, settling each; the holder of `writing` does
/// this before letting go, so a decision added while it held the log is
/// never left behind. Stops at the first batch that fails (false).
fn drain(shared: &Shared, w: &mut Writing) -> bool {
    loop {
        let slot = {
            let mut p = lock(&shared.pending);
            if p.batch.is_empty() {
                return true;
            }
            std::mem::swap(&mut p.batch, &mut w.spare);
            std::mem::replace(&mut p.slot, Slot::new())
        };
        let written = match w.log.as_mut() {
            Some(l) => append(shared, l, &mut w.spare),
            None => false,
        };
        if !written && w.log.as_ref().is_some_and(Tlog::is_poisoned) {
            w.log = None;
        }
        w.spare.clear();
        if w.spare.capacity() > KEEP_BUFFER {
            w.spare = Batch::with_capacity(64 << 10);
        }
        slot.settle(written);
        if !written {
            return false;
        }
    }
}

/// One batch into the log; whether it is there.
fn append(shared: &Shared, log: &mut Tlog, batch: &mut Batch) -> bool {
    let count = batch.len();
    match log.append(batch) {
        Ok(_) => {
            let stats = &shared.stats;
            stats.written.fetch_add(count, Ordering::Relaxed);
            stats.size.store(log.size(), Ordering::Release);
            if stats.failing.swap(false, Ordering::Relaxed) {
                tracing::warn!("decision log: writing again");
            }
            true
        }
        Err(e) => {
            let stats = &shared.stats;
            stats.write_errors.fetch_add(1, Ordering::Relaxed);
            if !stats.failing.swap(true, Ordering::Relaxed) {
                tracing::error!(error = %e, decisions = count,
                    "decision log: a batch could not be written; its requests are refused until writing works again");
            }
            false
        }
    }
}

/// What is due to be published (a checkpoint a second while decisions
/// arrive). `last_error`: when a failure was last logged (one line per 10 s).
fn begin(log: &mut Tlog, last_error: &mut Option<Instant>) -> Option<Publish> {
    match log.due() {
        Ok(p) => p,
        Err(e) => {
            publish_failed(&e, last_error);
            None
        }
    }
}

/// A publication written (or not): the log takes it back.
fn finish(
    shared: &Shared,
    log: &mut Tlog,
    publication: Publish,
    written: Result<(), TlogError>,
    last_error: &mut Option<Instant>,
) {
    match log.end_publish(publication, written) {
        Ok(Some(c)) => shared
            .stats
            .checkpoint_size
            .store(c.size, Ordering::Release),
        Ok(None) => {}
        Err(e) => publish_failed(&e, last_error),
    }
}

fn publish_failed(e: &TlogError, last_error: &mut Option<Instant>) {
    // Entries stay safe in their segments; publishing is tried again.
    if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
        *last_error = Some(Instant::now());
        tracing::error!(error = %e, "decision log: publishing a checkpoint failed; retrying");
    }
}

/// The log opened again after a failure, or `None` while it cannot be.
fn open_again(reopen: &Reopen, shared: &Shared) -> Option<Tlog> {
    match Tlog::open(&reopen.dir, &reopen.config) {
        Ok((log, report)) => {
            if report.torn_bytes > 0 {
                tracing::warn!(
                    bytes = report.torn_bytes,
                    "decision log: cut a partly written last entry"
                );
            }
            for path in &report.dropped {
                tracing::warn!(%path, "decision log: removed a segment past a gap (unsigned entries only)");
            }
            tracing::warn!(
                size = report.size,
                "decision log opened again after a failure"
            );
            publish_sizes(&shared.stats, &log);
            *lock(&shared.segments) = log.segment_sync();
            Some(log)
        }
        Err(e) => {
            if !matches!(e, TlogError::Locked { .. }) {
                tracing::error!(error = %e, "decision log cannot be opened again");
            }
            None
        }
    }
}

/// The syncer thread (`Fsync::Batch`): fsync the segments written since
/// its last pass every `interval` while the log grows, so a power loss
/// loses at most that window.
fn syncer(shared: &Shared, interval: Duration) {
    let mut synced = shared.stats.size.load(Ordering::Acquire);
    loop {
        std::thread::sleep(interval);
        let closed = lock(&shared.pending).closed;
        let size = shared.stats.size.load(Ordering::Acquire);
        if size != synced {
            let segments = lock(&shared.segments).clone();
            if let Err(e) = segments.sync() {
                tracing::error!(error = %e, "decision log: fsync of its segments failed; checking the log again");
                shared.sync_failed.store(true, Ordering::Release);
            }
            synced = size;
        }
        if closed {
            // The writer's last checkpoint fsyncs what is left.
            return;
        }
    }
}
