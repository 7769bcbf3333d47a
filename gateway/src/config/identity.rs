//! `[identity]`: the gateway's signing key and the lifetime of the identity
//! assertions it sends upstream.

use std::path::PathBuf;

use serde::Deserialize;

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

fn default_gateway_key() -> PathBuf {
    PathBuf::from("gateway-key.jwk")
}
fn default_assertion_ttl() -> i64 {
    60
}
