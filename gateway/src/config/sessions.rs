//! `[sessions]`: browser login (OpenID4VP) and the sessions it opens.

use serde::Deserialize;

/// `[sessions]`: browser login (OpenID4VP) and the sessions it opens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Serve the login endpoints under `/.didgate/` and accept session cookies (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// A session ends this long after the login at the latest (and never
    /// after the earliest expiry of the credentials it was opened with).
    #[serde(default = "default_session_lifetime")]
    pub lifetime_secs: u64,
    /// A session unused this long ends.
    #[serde(default = "default_session_idle")]
    pub idle_timeout_secs: u64,
    /// How long a login request (the QR code) can be answered.
    #[serde(default = "default_login_timeout")]
    pub login_timeout_secs: u64,
    /// Credential types the login asks the wallet for (DCQL `type_values`);
    /// default: every type in `credentials.trusted_issuers`.
    #[serde(default)]
    pub credential_types: Vec<String>,
    /// Sessions kept in memory (a miss reads the database and verifies the
    /// login's credentials again).
    #[serde(default = "default_session_cache")]
    pub cache_capacity: u64,
    /// How often last uses are written to the database and sessions other
    /// gateways ended (logout) are read: a logout takes effect on every
    /// gateway within this.
    #[serde(default = "default_session_sync")]
    pub sync_interval_ms: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lifetime_secs: default_session_lifetime(),
            idle_timeout_secs: default_session_idle(),
            login_timeout_secs: default_login_timeout(),
            credential_types: Vec::new(),
            cache_capacity: default_session_cache(),
            sync_interval_ms: default_session_sync(),
        }
    }
}

fn default_session_lifetime() -> u64 {
    8 * 3600
}
fn default_session_idle() -> u64 {
    30 * 60
}
fn default_login_timeout() -> u64 {
    300
}
fn default_session_cache() -> u64 {
    100_000
}
fn default_session_sync() -> u64 {
    1_000
}

fn default_true() -> bool {
    true
}
