//! `[credentials]`: how presentations are verified (audiences, clock skew,
//! lifetimes, replay and verified-credential caches, status lists) and
//! `[[credentials.trusted_issuers]]`, who is trusted for which type.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// Accepted `aud` values; defaults to `[server.public_url]`.
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default = "default_skew")]
    pub clock_skew_secs: i64,
    #[serde(default = "default_max_lifetime")]
    pub max_presentation_lifetime_secs: i64,
    /// Upper bound on remembered presentation ids (replay protection).
    #[serde(default = "default_replay_capacity")]
    pub replay_cache_capacity: u64,
    /// VC-JWTs remembered as verified, so a credential presented again costs
    /// no second signature check (0 disables; see ARCHITECTURE.md).
    #[serde(default = "default_verified_cache")]
    pub verified_credential_cache: u64,
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// How long a fetched HTTP status list is used before it is fetched again
    /// (sooner when the list credential expires or says a shorter `ttl`).
    #[serde(default = "default_status_list_ttl")]
    pub status_list_ttl_secs: u64,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            audiences: Vec::new(),
            clock_skew_secs: default_skew(),
            max_presentation_lifetime_secs: default_max_lifetime(),
            replay_cache_capacity: default_replay_capacity(),
            verified_credential_cache: default_verified_cache(),
            trusted_issuers: Vec::new(),
            status_list_ttl_secs: default_status_list_ttl(),
        }
    }
}

fn default_skew() -> i64 {
    60
}
fn default_max_lifetime() -> i64 {
    900
}
fn default_replay_capacity() -> u64 {
    1_000_000
}
fn default_verified_cache() -> u64 {
    10_000
}
fn default_status_list_ttl() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub credential_type: String,
    pub issuers: Vec<String>,
    /// Where these issuers publish Bitstring Status Lists over HTTP: URL
    /// prefixes, e.g. ["https://hr.example.com/status/"]. A credential whose
    /// `statusListCredential` is anywhere else is refused
    /// (`status_list_not_allowed`) without a request being made. Default:
    /// none (on-chain status lists need no entry).
    #[serde(default)]
    pub status_list_urls: Vec<String>,
}

impl CredentialsConfig {
    /// Each issuer's allowed status list URL prefixes (validated at load).
    pub fn status_list_urls(&self) -> std::collections::HashMap<String, Vec<url::Url>> {
        let mut out: std::collections::HashMap<String, Vec<url::Url>> = Default::default();
        for t in &self.trusted_issuers {
            let urls: Vec<url::Url> = t
                .status_list_urls
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .collect();
            for issuer in &t.issuers {
                out.entry(issuer.clone())
                    .or_default()
                    .extend(urls.iter().cloned());
            }
        }
        out
    }
}
