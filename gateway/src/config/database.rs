//! `[database]`: the database URL and the decision log's in-memory queue.

use serde::Deserialize;

use super::validation::Validation;

/// `[database]`: where decisions, sessions and profiles are kept.
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

impl DatabaseConfig {
    /// Checks `[database]`: a URL the gateway can open, a sane queue.
    pub(super) fn validate(&self, v: &mut Validation) {
        let db = &self.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            v.invalid(
                "database.url",
                "is neither a sqlite: nor a postgres:// URL",
                "use \"sqlite://didgate.db\" or \"postgres://user@host/db\"",
            );
        }
        if self.audit_queue > 16 << 20 {
            v.invalid(
                "database.audit_queue",
                "is above 16777216",
                "use the default 65536",
            );
        }
        if self.audit_queue < 16 {
            v.invalid(
                "database.audit_queue",
                "is below 16",
                "use the default 65536",
            );
        }
    }
}

fn default_db() -> String {
    "sqlite://didgate.db".to_owned()
}
fn default_audit_queue() -> usize {
    65_536
}
