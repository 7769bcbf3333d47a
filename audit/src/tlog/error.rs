//! What can go wrong writing, opening or proving from a transparency log,
//! named as an operator sees it (which file, which entry).

use std::path::PathBuf;

use super::entry::EntryError;

/// A transparency-log failure.
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: another writer holds this log")]
    Locked { path: PathBuf },
    #[error("origin {0:?} is not a valid log name (non-empty, no spaces, no '+')")]
    BadOrigin(String),
    #[error("{dir}: private/entries holds entries but there is no checkpoint")]
    CheckpointMissing { dir: PathBuf },
    #[error("checkpoint: {reason}")]
    CheckpointMalformed { reason: String },
    #[error("checkpoint: signature does not verify: {reason}")]
    CheckpointSignature { reason: String },
    #[error("checkpoint is for origin {found:?}, expected {expected:?}")]
    OriginMismatch { expected: String, found: String },
    #[error("private/state: {reason}")]
    StateMalformed { reason: String },
    #[error("the log's segments hold {found} entries, the signed checkpoint covers {signed}: entries were lost or cut")]
    EntriesTruncated { signed: u64, found: u64 },
    #[error("{path} is damaged at byte {offset} (entry {index}): {reason}")]
    EntriesCorrupt {
        path: String,
        offset: u64,
        index: u64,
        reason: &'static str,
    },
    /// `path` is the file that disagrees with the entry as read from
    /// `entries` (the segment or bundle holding it).
    #[error("entry {index} (in {entries}) disagrees with {path}")]
    EntryMismatch {
        index: u64,
        path: String,
        entries: String,
    },
    #[error("{path} disagrees with the entries (first at entry {first_entry})")]
    TileMismatch { path: String, first_entry: u64 },
    #[error(
        "the tree over the log's first {size} entries does not match the signed checkpoint's root"
    )]
    RootMismatch { size: u64 },
    #[error("{path} is missing")]
    TileMissing { path: String },
    #[error("{path} exists with other bytes: a written tile or bundle never changes")]
    TileConflict { path: String },
    #[error("{dir}: the archive directory is the log's own directory")]
    ArchiveIsLog { dir: PathBuf },
    #[error("index {index} is not in a tree of {size} entries")]
    OutOfRange { index: u64, size: u64 },
    #[error("{segments} full segments of entries wait to be published (publishing keeps failing); appends are refused until it succeeds")]
    Backlog { segments: usize },
    #[error("the log cannot be written after an earlier failure ({0}); reopen it")]
    Poisoned(String),
    #[error("proof: {0}")]
    Proof(#[from] tlog_tiles::Error),
    #[error(transparent)]
    Entry(#[from] EntryError),
}
