//! `[sessions]`: the settings of browser login (OpenID4VP) and of the
//! sessions it opens: lifetimes, timeouts, the cache and its sync.

use serde::Deserialize;

use super::credential_settings::TrustedIssuerConfig;
use super::validation::Validation;

/// `[sessions]`: browser login (OpenID4VP) and the sessions it opens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Serve the login endpoints under `/.didgate/` and accept session cookies (default true).
    #[serde(default = "super::validation::default_true")]
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

impl SessionsConfig {
    /// Checks `[sessions]`; the credential types it asks for must be trusted
    /// by one of `trusted_issuers`.
    pub(super) fn validate(&self, trusted_issuers: &[TrustedIssuerConfig], v: &mut Validation) {
        if !(1..=30 * 86_400).contains(&self.lifetime_secs) {
            v.invalid(
                "sessions.lifetime_secs",
                "must be between 1 and 2592000 (30 days)",
                "use 28800 (a working day)",
            );
        }
        if !(1..=self.lifetime_secs).contains(&self.idle_timeout_secs) {
            v.invalid(
                "sessions.idle_timeout_secs",
                "must be between 1 and sessions.lifetime_secs",
                "use 1800 (30 minutes)",
            );
        }
        if !(30..=3600).contains(&self.login_timeout_secs) {
            v.invalid(
                "sessions.login_timeout_secs",
                "must be between 30 and 3600",
                "use 300 (5 minutes to answer the QR code)",
            );
        }
        if !(100..=60_000).contains(&self.sync_interval_ms) {
            v.invalid(
                "sessions.sync_interval_ms",
                "must be between 100 and 60000",
                "use 1000 (a logout reaches every gateway within a second)",
            );
        }
        if self.cache_capacity < 100 {
            v.invalid(
                "sessions.cache_capacity",
                "is below 100",
                "remove it to use the default of 100000",
            );
        }
        self.validate_credential_types(trusted_issuers, v);
    }

    /// A login asking for a type no issuer is trusted for could never succeed.
    fn validate_credential_types(
        &self,
        trusted_issuers: &[TrustedIssuerConfig],
        v: &mut Validation,
    ) {
        for (i, t) in self.credential_types.iter().enumerate() {
            if !trusted_issuers.iter().any(|ti| &ti.credential_type == t) {
                v.invalid(
                    format!("sessions.credential_types[{i}]"),
                    format!("is {t:?}, which no credentials.trusted_issuers entry trusts, so no login could succeed"),
                    "name a credential_type of [[credentials.trusted_issuers]], or remove the key to ask for all of them",
                );
            }
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
