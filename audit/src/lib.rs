//! didgate's decision log: every decision the gateway makes, forwarded or
//! refused, becomes a record here before its request goes anywhere.
//!
//! Owns: the record and its id (`record.rs`), the in-memory queue the
//! request path appends to and the writer task that empties it in batched
//! transactions (`log.rs`), and the SQL of the `decisions` table
//! (`sql.rs`). The gateway hands it a database ([`DecisionDb`]) and appends;
//! nothing here knows about HTTP or the gateway. The transparency log that
//! becomes the log of record (`tlog/`: C2SP tiles, signed checkpoints, RFC
//! 9162 proofs, `verify_log`) is here too, not yet on the request path.

pub mod log;
pub mod record;
pub mod sql;
pub mod tlog;

pub use log::{AuditFull, AuditLog, AuditStats, AuditWriter};
pub use record::{new_id, DecisionRecord, Effect};
pub use sql::{DecisionDb, StoredDecision};
