//! `[database]`: the database URL (sessions, the did:ethr index, risk
//! profiles and the decision index).

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
    /// No longer used: decisions go to the transparency log (`[audit]`),
    /// which needs no queue; the database holds an index built from it.
    /// Accepted so that older config files still load; the gateway says at
    /// start that it is ignored.
    #[serde(default)]
    pub audit_queue: Option<usize>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db(),
            audit_queue: None,
        }
    }
}

impl DatabaseConfig {
    /// Checks `[database]`: a URL the gateway can open.
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
    }
}

fn default_db() -> String {
    "sqlite://didgate.db".to_owned()
}
