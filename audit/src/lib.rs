//! didgate's decision log: every decision the gateway makes, forwarded or
//! refused, becomes an entry of a transparency log before its request goes
//! anywhere.
//!
//! Owns: the record and its id (`record.rs`); the log of record (`tlog/`:
//! C2SP tiles, signed checkpoints, RFC 9162 proofs, `verify_log`); the
//! request path's handle on it and the writer thread that appends a batch
//! per write (`log.rs`); the SQL index of the `decisions` table
//! (`sql.rs`), built from the log by the indexer (`indexer.rs`). Nothing
//! here knows about HTTP or the gateway.

pub mod indexer;
pub mod log;
pub mod record;
pub mod sql;
pub mod tlog;

pub use indexer::{IndexError, Indexer};
pub use log::{AuditFull, AuditLog, AuditStats, AuditWriter};
pub use record::{new_id, DecisionRecord, Effect};
pub use sql::{Cursor, DecisionDb, Indexed, Located, LogRef, StoredDecision};
