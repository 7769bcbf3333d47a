//! The SQL index of the log: a task that reads the entries the writer has
//! appended since its cursor (from their segments, or bundles once
//! published) and inserts them into the
//! `decisions` table in large transactions, away from the request path. The
//! cursor moves in the same transaction as the rows, so an entry is indexed
//! once whatever stops the indexer, and it resumes there after a restart.
//!
//! The rows are an index, not the record: `didgate audit verify` never reads
//! them. If the log is shorter than the index (a power loss took entries that
//! were never fsynced), the rows past its end go at start.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::log::AuditStats;
use crate::sql::{Cursor, DecisionDb, Indexed, LogRef};
use crate::tlog::{decode_row, segment_bytes, Files, Frames, TILE_WIDTH};

/// Rows per transaction: at most one segment's. The indexer runs on the
/// request path's runtime and SQLite on a thread sharing its core, so each
/// step is kept short: a segment (256 entries) read and decoded, about
/// 0.5 ms, then inserted in one transaction, about 1.5 ms of SQLite.
/// Transactions of 4,096 rows held the core for 15 ms at a time, and that
/// was the p99 of every request waiting behind one (bench/RESULTS.md).
/// (64 rows a transaction measured no better.)
const TXN_ROWS: usize = TILE_WIDTH as usize;
/// How often the indexer looks for new entries.
const POLL: Duration = Duration::from_millis(200);

/// Why indexing stopped for now (it is tried again).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("decision index database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds one gateway's rows of the `decisions` table from its log.
pub struct Indexer {
    db: DecisionDb,
    gateway: Arc<str>,
    dir: PathBuf,
    /// Where published bundles may have been archived.
    archives: Vec<PathBuf>,
    stats: Arc<AuditStats>,
    /// The log, once it has a first entry to name it by.
    log: Option<LogRef>,
    cursor: Option<Cursor>,
    /// Entries that could not be read back (never expected: the writer
    /// encoded them); skipped, counted, logged.
    pub undecodable: u64,
}

impl Indexer {
    /// Index `gateway`'s log in directory `log_dir`, whose writer publishes
    /// its progress in `stats`.
    pub fn new(
        db: DecisionDb,
        gateway: Arc<str>,
        log_dir: &std::path::Path,
        stats: Arc<AuditStats>,
    ) -> Self {
        Indexer {
            db,
            gateway,
            dir: log_dir.to_path_buf(),
            archives: Vec::new(),
            stats,
            log: None,
            cursor: None,
            undecodable: 0,
        }
    }

    /// Also read bundles moved to these archive directories.
    pub fn with_archives(mut self, archives: Vec<PathBuf>) -> Self {
        self.archives = archives;
        self
    }

    /// Index until stopped, then once more to the end of the log.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            match self.catch_up().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("decision index: writing again");
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "decision index is behind the log; retrying");
                    }
                    failing = true;
                    // Read again from the database: a commit whose answer
                    // was lost may have moved it.
                    self.cursor = None;
                }
            }
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Index everything appended so far; returns the entries indexed.
    pub async fn catch_up(&mut self) -> Result<u64, IndexError> {
        let end = self.stats.size.load(Ordering::Acquire);
        let mut cursor = match self.cursor {
            Some(c) => c,
            None if end == 0 => return Ok(0),
            None => self.start().await?,
        };
        let Some(log) = self.log.clone() else {
            return Ok(0);
        };
        let mut indexed = 0;
        while cursor.next_index < end {
            // One segment at a time, read once.
            let to = end.min((cursor.next_index / TILE_WIDTH + 1) * TILE_WIDTH);
            let segments = self.read(cursor.next_index, to).await?;
            // Each entry from the cursor on, and the cursor just after it.
            let mut items: Vec<(Option<Indexed>, Cursor)> = Vec::new();
            let mut next = cursor;
            for (n, bytes) in &segments {
                let mut offset = 0u64;
                for (i, entry) in (n * TILE_WIDTH..).zip(Frames::new(bytes)) {
                    let framed = 2 + entry.len() as u64;
                    if i < next.next_index {
                        offset += framed;
                        continue;
                    }
                    if i >= to {
                        break;
                    }
                    let row = match decode_row(entry) {
                        Ok(decision) => Some(Indexed { index: i, decision }),
                        Err(e) => {
                            self.undecodable += 1;
                            tracing::error!(index = i, error = %e,
                                "decision index: an entry of the log cannot be read back; not indexed");
                            None
                        }
                    };
                    offset += framed;
                    next.next_index = i + 1;
                    // At a bundle's end, the next entry starts the next one.
                    next.byte_offset = if next.next_index % TILE_WIDTH == 0 {
                        0
                    } else {
                        offset
                    };
                    items.push((row, next));
                }
            }
            if next.next_index != to {
                // The writer counts an entry only once it is written.
                return Err(self.read_error(
                    next.next_index / TILE_WIDTH,
                    format!("entry {} is not whole in its segment", next.next_index),
                ));
            }
            // Short transactions, each with the cursor after its rows.
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                let mut rows = Vec::with_capacity(TXN_ROWS);
                let mut after = cursor;
                for (row, c) in items.by_ref().take(TXN_ROWS) {
                    rows.extend(row);
                    after = c;
                }
                self.db.index(&log, &rows, after, now_ms()).await?;
                indexed += after.next_index - cursor.next_index;
                cursor = after;
                self.cursor = Some(cursor);
                self.stats
                    .indexed
                    .store(cursor.next_index, Ordering::Release);
            }
        }
        Ok(indexed)
    }

    /// The cursor from the database, cut back to the log's end if the log
    /// is shorter than the index.
    async fn start(&mut self) -> Result<Cursor, IndexError> {
        let log = match &self.log {
            Some(log) => log.clone(),
            None => {
                let log = LogRef {
                    gateway: self.gateway.clone(),
                    log_id: self.first_leaf().await?,
                };
                self.log = Some(log.clone());
                log
            }
        };
        let cursor = self.db.cursor(&log).await?;
        let size = self.stats.size.load(Ordering::Acquire);
        let cursor = if cursor.next_index > size {
            // A cursor past the end: entries lost with a power loss.
            let back = Cursor {
                next_index: size,
                byte_offset: 0,
            };
            let gone = self.db.rewind(&log, back, now_ms()).await?;
            tracing::warn!(
                index_was = cursor.next_index,
                log_size = size,
                rows_removed = gone,
                "decision index was ahead of the log (entries lost before they were fsynced); rows past its end removed"
            );
            back
        } else {
            cursor
        };
        self.cursor = Some(cursor);
        self.stats
            .indexed
            .store(cursor.next_index, Ordering::Release);
        Ok(cursor)
    }

    /// The log's identity: the hex leaf hash of its first entry.
    async fn first_leaf(&self) -> Result<String, IndexError> {
        let segments = self.read(0, 1).await?;
        let first = segments
            .first()
            .and_then(|(_, b)| Frames::new(b).next())
            .ok_or_else(|| self.read_error(0, "the log's first entry is not whole".into()))?;
        Ok(crate::tlog::log_id(first))
    }

    /// The segments holding entries `from..to` (each whole, from its start).
    async fn read(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, IndexError> {
        let (dir, archives) = (self.dir.clone(), self.archives.clone());
        let read = tokio::task::spawn_blocking(move || {
            let files = Files {
                dir: &dir,
                archives: &archives,
            };
            let mut out = Vec::new();
            for n in from / TILE_WIDTH..to.div_ceil(TILE_WIDTH) {
                match segment_bytes(files, n) {
                    Ok(Some((_, bytes))) => out.push((n, bytes)),
                    Ok(None) => {
                        return Err((n, "missing (neither its segment nor its bundle)".to_owned()))
                    }
                    Err(e) => return Err((n, e.to_string())),
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| (from / TILE_WIDTH, e.to_string()))
        .and_then(|r| r);
        read.map_err(|(n, why)| self.read_error(n, why))
    }

    fn read_error(&self, segment: u64, why: String) -> IndexError {
        IndexError::Read {
            path: self.dir.join(format!("private/entries/{segment}")),
            source: std::io::Error::other(why),
        }
    }

    /// The log indexed, once it has an entry.
    pub fn log(&self) -> Option<&LogRef> {
        self.log.as_ref()
    }

    /// How far the index is: (indexed entries, entries in the log).
    pub fn progress(&self) -> (u64, u64) {
        (
            self.cursor.map_or(0, |c| c.next_index),
            self.stats.size.load(Ordering::Acquire),
        )
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
