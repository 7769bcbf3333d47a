//! `[credentials]`: how presentations are verified (audiences, clock skew,
//! lifetimes, replay and verified-credential caches, status lists) and
//! `[[credentials.trusted_issuers]]`, who is trusted for which type.

use serde::Deserialize;

use super::validation::Validation;

/// `[credentials]`: what a presentation must be to be accepted.
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
    /// Signed requests (RFC 9421): the longest a signature may be valid
    /// from `created` to `expires`. Its nonce is remembered that long.
    #[serde(default = "default_signature_validity")]
    pub signature_max_validity_secs: i64,
    /// Signed requests: the largest body read whole to check its
    /// `Content-Digest` before forwarding (larger: 413).
    #[serde(default = "default_signed_body")]
    pub signed_body_max_bytes: usize,
    /// Services whose presented credentials are kept (by DID).
    #[serde(default = "default_presented_capacity")]
    pub presented_credentials_capacity: u64,
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
            signature_max_validity_secs: default_signature_validity(),
            signed_body_max_bytes: default_signed_body(),
            presented_credentials_capacity: default_presented_capacity(),
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
fn default_signature_validity() -> i64 {
    300
}
fn default_signed_body() -> usize {
    1 << 20
}
fn default_presented_capacity() -> u64 {
    100_000
}

/// `[[credentials.trusted_issuers]]`: the issuers trusted for one credential type.
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

    /// Checks `[credentials]` and each `[[credentials.trusted_issuers]]`.
    pub(super) fn validate(&self, v: &mut Validation) {
        if !(0..=600).contains(&self.clock_skew_secs) {
            v.invalid(
                "credentials.clock_skew_secs",
                "must be between 0 and 600",
                "use 60",
            );
        }
        if self.max_presentation_lifetime_secs <= 0 || self.max_presentation_lifetime_secs > 86_400
        {
            v.invalid(
                "credentials.max_presentation_lifetime_secs",
                "must be between 1 and 86400",
                "use 900 (15 minutes)",
            );
        }
        if self.replay_cache_capacity < 1024 {
            v.invalid(
                "credentials.replay_cache_capacity",
                "is below 1024",
                "remove it to use the default of 1000000",
            );
        }
        if self.status_list_ttl_secs == 0 || self.status_list_ttl_secs > 86_400 {
            v.invalid(
                "credentials.status_list_ttl_secs",
                "must be between 1 and 86400",
                "use 300 (a revocation is seen within 5 minutes)",
            );
        }
        if !(1..=3600).contains(&self.signature_max_validity_secs) {
            v.invalid(
                "credentials.signature_max_validity_secs",
                "must be between 1 and 3600",
                "use 300 (a signed request is a proof for one request, not a token)",
            );
        }
        if !(1024..=(64 << 20)).contains(&self.signed_body_max_bytes) {
            v.invalid(
                "credentials.signed_body_max_bytes",
                "must be between 1024 and 67108864",
                "use 1048576 (1 MiB)",
            );
        }
        if self.presented_credentials_capacity < 16 {
            v.invalid(
                "credentials.presented_credentials_capacity",
                "is below 16",
                "remove it to use the default of 100000",
            );
        }
        if self.trusted_issuers.is_empty() {
            v.invalid(
                "credentials.trusted_issuers",
                "is empty, so no credential would ever be accepted",
                "add [[credentials.trusted_issuers]] with credential_type and issuers = [\"did:…\"]",
            );
        }
        for (i, t) in self.trusted_issuers.iter().enumerate() {
            t.validate(i, v);
        }
    }
}

impl TrustedIssuerConfig {
    /// Checks entry `i` of `[[credentials.trusted_issuers]]`.
    fn validate(&self, i: usize, v: &mut Validation) {
        if self.credential_type.trim().is_empty() {
            v.invalid(
                format!("credentials.trusted_issuers[{i}].credential_type"),
                "is empty",
                "name a credential type such as \"EmployeeCredential\"",
            );
        }
        for (j, d) in self.issuers.iter().enumerate() {
            if !d.starts_with("did:") || d.split(':').count() < 3 {
                v.invalid(
                    format!("credentials.trusted_issuers[{i}].issuers[{j}]"),
                    format!("is {d:?}, not a DID"),
                    "use the issuer's DID, e.g. \"did:key:z6Mk…\"",
                );
            }
        }
        for (j, u) in self.status_list_urls.iter().enumerate() {
            if !is_status_list_prefix(u) {
                v.invalid(
                    format!("credentials.trusted_issuers[{i}].status_list_urls[{j}]"),
                    format!("is {u:?}, not an https:// URL prefix"),
                    "use the folder the issuer publishes its lists in, e.g. \"https://hr.example.com/status/\" (http:// only for localhost)",
                );
            }
        }
    }
}

/// An https:// URL with a host and no user or query (http:// on loopback).
fn is_status_list_prefix(u: &str) -> bool {
    url::Url::parse(u).ok().is_some_and(|u| {
        let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        u.host_str().is_some_and(|h| !h.is_empty())
            && u.username().is_empty()
            && u.query().is_none()
            && (u.scheme() == "https" || (u.scheme() == "http" && loopback))
    })
}
