//! The decision log of record as a transparency log: every decision is an
//! entry of an append-only RFC 9162 Merkle tree, stored as C2SP tlog-tiles
//! (hash tiles and entry bundles) under checkpoints signed as C2SP signed
//! notes, so that tools nobody here wrote can check it.
//!
//! Owns: the entry encoding (`entry.rs`), the batch the request path fills
//! (`batch.rs`), the segments entries are written to first (`segment.rs`),
//! the directory layout and path encoding (`layout.rs`), the
//! tree's unsealed right edge (`edge.rs`), checkpoints and the log key
//! (`checkpoint.rs`), the writer (`writer.rs`) and what opening checks
//! (`open.rs`), inclusion and consistency proofs (`proof.rs`), and the
//! auditor's `verify_log` (`verify.rs`) and its findings (`report.rs`). Not here: when the gateway appends
//! (`crate::log` drives [`Tlog`]), the SQL index (`crate::indexer`), anchoring on chain.
//!
//! The Merkle tree, tiles, proofs and checkpoints are tlog_tiles' (a port
//! of Go's sumdb/tlog), the signed notes signed_note's; nothing here hashes
//! or signs by itself.

mod batch;
mod checkpoint;
mod edge;
mod entry;
mod error;
mod layout;
mod open;
mod proof;
mod report;
mod row;
mod segment;
mod verify;
mod writer;

pub use batch::Batch;
pub use checkpoint::SignedCheckpoint;
pub use entry::{
    decode, Encoded, Entry, EntryError, LoggedDecision, LoggedFactor, ENTRY_VERSION, MAX_ENTRY_LEN,
};
pub use error::TlogError;
pub use layout::{
    archive_sealed, bundle_path, tile_path, ArchiveTo, Archived, Files, Frames, TILE_HEIGHT,
    TILE_WIDTH,
};
pub use open::{OpenCheck, OpenReport};
pub use proof::{
    check_consistency, check_inclusion, prove_consistency, prove_inclusion, read_entry,
};
pub use report::{Finding, Report};
pub use row::{decode_row, DecisionRow};
pub use segment::{segment_bytes, SegmentSync};
pub use tlog_tiles::Hash;
pub use verify::verify_log;

/// A log's identity in the SQL index: the hex RFC 9162 leaf hash of its
/// first entry (its bytes).
pub fn log_id(first_entry: &[u8]) -> String {
    hex::encode(tlog_tiles::record_hash(first_entry).0)
}
pub use writer::{Appended, Fsync, Publish, Tlog, TlogConfig, MAX_BACKLOG, MAX_UNPUBLISHED};
