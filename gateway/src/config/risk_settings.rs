//! `[risk]`: the behavioral risk engine's settings and the engine config
//! derived from them.

use std::path::PathBuf;

use serde::Deserialize;

/// `[risk]`: the behavioral risk engine (see risk/ and ARCHITECTURE.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    /// Score every request (default true). When false every request is
    /// assessed as neutral: score 0, no factors, cold start.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Familiarity halves after this many days without being seen.
    #[serde(default = "default_half_life")]
    pub half_life_days: f64,
    /// Requests scoring below this teach the identity's profile at full weight.
    #[serde(default = "default_learn_below")]
    pub learn_below: f64,
    /// Identities with fewer requests than this are in cold start.
    #[serde(default = "default_cold_start")]
    pub cold_start_events: u64,
    /// Path prefixes whose probing is suspicious; default: /admin, /.env, /.git, …
    pub sensitive_paths: Option<Vec<String>>,
    /// How often profiles are written to the database and peers' changes read.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u64,
    /// Optional MaxMind-format databases (GeoLite2/DB-IP City or Country, ASN):
    /// add country, location and ASN to what the engine sees.
    pub geoip_city_db: Option<PathBuf>,
    pub geoip_asn_db: Option<PathBuf>,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            half_life_days: default_half_life(),
            learn_below: default_learn_below(),
            cold_start_events: default_cold_start(),
            sensitive_paths: None,
            flush_interval_ms: default_flush_ms(),
            geoip_city_db: None,
            geoip_asn_db: None,
        }
    }
}

impl RiskSettings {
    /// The engine's configuration, with the database's hash key.
    pub fn engine_config(&self, hash_key: [u8; 16]) -> risk::RiskConfig {
        let defaults = risk::RiskConfig::default();
        risk::RiskConfig {
            half_life_days: self.half_life_days,
            learn_below: self.learn_below,
            cold_start_events: self.cold_start_events,
            sensitive_paths: self
                .sensitive_paths
                .clone()
                .unwrap_or(defaults.sensitive_paths),
            hash_key,
            max_sources: defaults.max_sources,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_half_life() -> f64 {
    14.0
}
fn default_learn_below() -> f64 {
    0.5
}
fn default_cold_start() -> u64 {
    30
}
fn default_flush_ms() -> u64 {
    5_000
}
