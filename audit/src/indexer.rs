//! The SQL index of the log: a task that reads the entries the writer has
//! appended to `entries.log` since its cursor and inserts them into the
//! `decisions` table in large transactions, away from the request path. The
//! cursor moves in the same transaction as the rows, so an entry is indexed
//! once whatever stops the indexer, and it resumes there after a restart.
//!
//! The rows are an index, not the record: `didgate audit verify` never reads
//! them. If the log is shorter than the index (a power loss took entries that
//! were never fsynced), the rows past its end go at start.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::log::AuditStats;
use crate::sql::{Cursor, DecisionDb, Indexed, LogRef};
use crate::tlog::{decode, Frames};

/// Bytes of `entries.log` read per transaction (a few thousand decisions).
const CHUNK: u64 = 2 << 20;
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
    entries: PathBuf,
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
            entries: crate::tlog::entries_log_path(log_dir),
            stats,
            log: None,
            cursor: None,
            undecodable: 0,
        }
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
        let end = self.stats.log_bytes.load(Ordering::Acquire);
        let mut cursor = match self.cursor {
            Some(c) => c,
            None if end == 0 => return Ok(0),
            None => self.start().await?,
        };
        let Some(log) = self.log.clone() else {
            return Ok(0);
        };
        let mut indexed = 0;
        while cursor.byte_offset < end {
            let want = (end - cursor.byte_offset).min(CHUNK);
            let bytes = self.read(cursor.byte_offset, want).await?;
            let mut rows = Vec::new();
            let mut next = cursor;
            let mut frames = Frames::new(&bytes);
            for entry in frames.by_ref() {
                match decode(entry) {
                    Ok(decision) => rows.push(Indexed {
                        index: next.next_index,
                        decision,
                    }),
                    Err(e) => {
                        self.undecodable += 1;
                        tracing::error!(index = next.next_index, error = %e,
                            "decision index: an entry of the log cannot be read back; not indexed");
                    }
                }
                next.next_index += 1;
                next.byte_offset += 2 + entry.len() as u64;
            }
            if next == cursor {
                // Not even one whole entry in the bytes read: the log's end
                // is mid-entry, which `log_bytes` never is.
                return Err(IndexError::Read {
                    path: self.entries.clone(),
                    source: std::io::Error::other(format!(
                        "no whole entry at byte {} ({} bytes trail)",
                        cursor.byte_offset,
                        frames.trailing().0
                    )),
                });
            }
            self.db.index(&log, &rows, next, now_ms()).await?;
            indexed += next.next_index - cursor.next_index;
            cursor = next;
            self.cursor = Some(cursor);
            self.stats
                .indexed
                .store(cursor.next_index, Ordering::Release);
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
        let bytes = self.stats.log_bytes.load(Ordering::Acquire);
        let cursor = if cursor.next_index > size || cursor.byte_offset > bytes {
            // A cursor past the end: entries lost with a power loss. (A
            // cursor past the end in entries or bytes but not both cannot
            // come from this log: index it again from its start.)
            let back = if cursor.next_index > size && cursor.byte_offset > bytes {
                Cursor {
                    next_index: size,
                    byte_offset: bytes,
                }
            } else {
                Cursor::default()
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
        let head = self.read(0, 2 + u64::from(u16::MAX)).await?;
        let first = Frames::new(&head).next().ok_or_else(|| IndexError::Read {
            path: self.entries.clone(),
            source: std::io::Error::other("the log's first entry is not whole"),
        })?;
        Ok(crate::tlog::log_id(first))
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, IndexError> {
        let path = self.entries.clone();
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut f = std::fs::File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            f.take(len).read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        read.map_err(|source| IndexError::Read {
            path: self.entries.clone(),
            source,
        })
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
