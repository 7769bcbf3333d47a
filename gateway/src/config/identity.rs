//! `[identity]`: the gateway's signing key and the lifetime of the identity
//! assertions it sends upstream.

use std::path::PathBuf;

use serde::Deserialize;

use super::validation::Validation;

/// `[identity]`: how the gateway signs what it tells upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The gateway's private signing key (JWK, Ed25519) for identity assertions;
    /// created on first start when missing.
    #[serde(default = "default_gateway_key")]
    pub key_file: PathBuf,
    /// Lifetime of the identity assertion sent upstream.
    #[serde(default = "default_assertion_ttl")]
    pub assertion_ttl_secs: i64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            key_file: default_gateway_key(),
            assertion_ttl_secs: default_assertion_ttl(),
        }
    }
}

impl IdentityConfig {
    /// Checks `[identity]`: assertions live briefly.
    pub(super) fn validate(&self, v: &mut Validation) {
        if self.assertion_ttl_secs <= 0 || self.assertion_ttl_secs > 3600 {
            v.invalid(
                "identity.assertion_ttl_secs",
                "must be between 1 and 3600",
                "use a short lifetime such as 60",
            );
        }
    }
}

fn default_gateway_key() -> PathBuf {
    PathBuf::from("gateway-key.jwk")
}
fn default_assertion_ttl() -> i64 {
    60
}
