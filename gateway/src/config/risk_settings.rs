//! `[risk]`: the behavioral risk engine's settings and the engine config
//! derived from them.

use std::path::PathBuf;

use serde::Deserialize;

use super::validation::Validation;

/// `[risk]`: the behavioral risk engine (see risk/ and ARCHITECTURE.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    /// Score every request (default true). When false every request is
    /// assessed as neutral: score 0, no factors, cold start.
    #[serde(default = "super::validation::default_true")]
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

    /// Checks `[risk]`: each tuning value in its range, the paths and files it names.
    pub(super) fn validate(&self, v: &mut Validation) {
        if !(self.half_life_days.is_finite() && (0.1..=3650.0).contains(&self.half_life_days)) {
            v.invalid(
                "risk.half_life_days",
                "must be between 0.1 and 3650",
                "use 14 (familiarity halves in two weeks)",
            );
        }
        if !(self.learn_below.is_finite() && (0.0..=1.0).contains(&self.learn_below)) {
            v.invalid(
                "risk.learn_below",
                "must be between 0 and 1",
                "use 0.5 (the start of the example policies' step-up band)",
            );
        }
        for (i, p) in self.sensitive_paths.iter().flatten().enumerate() {
            if !p.starts_with('/') || p.len() < 2 {
                v.invalid(
                    format!("risk.sensitive_paths[{i}]"),
                    format!("is {p:?}, not a path prefix"),
                    "write prefixes such as \"/admin\" (a bare \"/\" would make every path sensitive)",
                );
            }
        }
        if !(100..=600_000).contains(&self.flush_interval_ms) {
            v.invalid(
                "risk.flush_interval_ms",
                "must be between 100 and 600000",
                "use 5000",
            );
        }
        for (key, p) in [
            ("risk.geoip_city_db", &self.geoip_city_db),
            ("risk.geoip_asn_db", &self.geoip_asn_db),
        ] {
            if let Some(p) = p {
                v.file_must_exist(
                    key,
                    p,
                    "point it at a MaxMind-format .mmdb file (GeoLite2 or DB-IP), or remove it",
                );
            }
        }
    }
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
