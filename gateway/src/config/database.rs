//! `[database]`: the database URL and the decision log's in-memory queue.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (default, embedded) or `postgres://…` (shared by replicas).
    /// The `DIDGATE_DATABASE_URL` environment variable overrides it (it may hold a password).
    #[serde(default = "default_db")]
    pub url: String,
    /// Decisions buffered in memory for the database. When they are all
    /// taken, requests wait for room (up to 2 s) while the database is
    /// writing, and are refused with 503 `audit_unavailable` while it fails:
    /// the gateway never forwards an unaudited request.
    #[serde(default = "default_audit_queue")]
    pub audit_queue: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db(),
            audit_queue: default_audit_queue(),
        }
    }
}

fn default_db() -> String {
    "sqlite://didgate.db".to_owned()
}
fn default_audit_queue() -> usize {
    65_536
}
