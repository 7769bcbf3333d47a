//! The gateway's one TOML config file: typed, validated at load, with errors
//! that name the key and the fix. `didgate check -c FILE` runs the same code.
//!
//! This file holds `Config`, `ConfigError`, loading (file, environment
//! overrides, defaults that depend on other keys) and the validation that
//! runs every section's checks and reports all their problems together.
//! Each section's keys, defaults and checks are in its own file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod audit_settings;
mod chains;
mod credential_settings;
mod database;
mod identity;
mod policy_files;
mod risk_settings;
mod routes;
mod server;
mod sessions;
mod validation;

pub use audit_settings::{AuditSettings, FsyncMode};
pub use chains::ChainConfig;
pub use credential_settings::{CredentialsConfig, TrustedIssuerConfig};
pub use database::DatabaseConfig;
pub use identity::IdentityConfig;
pub use policy_files::{GovernanceConfig, PolicyConfig, PolicySource, BUNDLES_IN_DATABASE};
pub use risk_settings::RiskSettings;
pub use routes::{MethodOverride, RouteConfig};
pub use server::{Cidr, ClientAuth, ServerConfig, TlsConfig};
pub use sessions::SessionsConfig;
pub use validation::Problem;

use validation::Validation;

/// A config problem, phrased for the person editing the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Every problem validation found (at least one), one per line, each as
    /// ``path: `key` problem; fix: fix``.
    #[error("{}", problem_lines(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Each problem on its own line, prefixed by the file like every other error.
fn problem_lines(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {p}", path.display()))
        .collect();
    lines.join("\n")
}

/// The whole config file, as loaded and validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub identity: IdentityConfig,
    #[serde(default)]
    pub credentials: CredentialsConfig,
    pub policy: PolicyConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    /// The decision log of record (a transparency log on disk).
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// EVM chains whose ERC-1056 registry is followed for did:ethr, by the
    /// network name DIDs use (`did:ethr:<name>:0x…`).
    #[serde(default)]
    pub chains: BTreeMap<String, ChainConfig>,
    /// The behavioral risk engine.
    #[serde(default)]
    pub risk: RiskSettings,
    /// Browser login with a wallet (OpenID4VP) and session cookies.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// Directory relative paths are resolved against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Config {
    /// The credential types a login asks for.
    pub fn login_credential_types(&self) -> Vec<String> {
        if !self.sessions.credential_types.is_empty() {
            return self.sessions.credential_types.clone();
        }
        let mut types: Vec<String> = Vec::new();
        for t in &self.credentials.trusted_issuers {
            if !types.contains(&t.credential_type) {
                types.push(t.credential_type.clone());
            }
        }
        types
    }

    /// Session settings as the gateway uses them; cookies are `Secure` (and
    /// `__Host-` prefixed) when the public URL is https://.
    pub fn session_settings(&self) -> crate::request::session::SessionSettings {
        let secure = self.server.public_url.starts_with("https://");
        crate::request::session::SessionSettings {
            cookie_name: if secure {
                "__Host-didgate".into()
            } else {
                "didgate_session".into()
            },
            secure,
            lifetime_ms: self.sessions.lifetime_secs as i64 * 1000,
            idle_ms: self.sessions.idle_timeout_secs as i64 * 1000,
            cache_capacity: self.sessions.cache_capacity,
            sync_interval: Duration::from_millis(self.sessions.sync_interval_ms),
        }
    }
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, path, &base)
    }

    /// Parse and validate config text; `base` is where relative paths start.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.base_dir = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base.to_owned()
        };
        config.apply_environment();
        if config.credentials.audiences.is_empty() {
            config.credentials.audiences = vec![config.server.public_url.clone()];
        }
        config.validate(path)?;
        Ok(config)
    }

    /// Environment variables override secrets only: the database URL and
    /// each followed node's RPC URL (either may carry a password or API key).
    fn apply_environment(&mut self) {
        if let Ok(url) = std::env::var("DIDGATE_DATABASE_URL") {
            if !url.is_empty() {
                self.database.url = url;
            }
        }
        for (name, chain) in self.chains.iter_mut() {
            let var = format!(
                "DIDGATE_CHAIN_{}_RPC_URL",
                name.to_ascii_uppercase().replace('-', "_")
            );
            if let Ok(url) = std::env::var(&var) {
                if !url.is_empty() && !chain.embedded {
                    chain.rpc_url = Some(url);
                }
            }
        }
    }

    /// Resolve a path from the config against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        validation::resolve(&self.base_dir, p)
    }

    /// `[audit] archive_dir`, resolved: where sealed log files may have moved.
    pub fn audit_archives(&self) -> Vec<PathBuf> {
        self.audit
            .archive_dir
            .iter()
            .map(|d| self.resolve(d))
            .collect()
    }

    /// The database URL with a relative SQLite path resolved against the config folder.
    pub fn database_url(&self) -> String {
        let url = &self.database.url;
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
            if file != ":memory:" && !Path::new(file).is_absolute() {
                let full = self.base_dir.join(file);
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                return format!("sqlite://{}{q}", full.display());
            }
        }
        url.clone()
    }

    /// Every section's checks, all run: one error lists every problem.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let mut v = Validation::new(&self.base_dir);
        self.server.validate(&mut v);
        self.risk.validate(&mut v);
        self.sessions
            .validate(&self.credentials.trusted_issuers, &mut v);
        self.identity.validate(&mut v);
        self.credentials.validate(&mut v);
        self.policy.validate(&mut v);
        self.database.validate(&mut v);
        self.audit.validate(&mut v);
        if let Some(g) = &self.policy.governance {
            match self.chains.get(&g.chain) {
                None => v.invalid(
                    "policy.governance.chain",
                    format!("names {:?}, which is not a [chains.NAME]", g.chain),
                    "name one of the [chains] sections, e.g. an embedded chain",
                ),
                Some(c) if !c.embedded && g.contract.is_none() => v.invalid(
                    "policy.governance.contract",
                    "is missing",
                    "a chain on a node needs the PolicyRegistry's address (`didgate chain deploy` prints it)",
                ),
                Some(_) => {}
            }
        }
        if let Some(a) = &self.audit.anchor {
            if !self.chains.contains_key(&a.chain) {
                v.invalid(
                    "audit.anchor.chain",
                    format!("names {:?}, which is not a [chains.NAME]", a.chain),
                    "name one of the [chains] sections, e.g. an embedded chain",
                );
            }
        }
        for (name, chain) in &self.chains {
            chain.validate(name, &mut v);
        }
        routes::validate_routes(&self.routes, &mut v);
        let problems = v.finish();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn base(dir: &Path) -> String {
        std::fs::write(dir.join("s.cedarschema"), "").unwrap();
        std::fs::write(dir.join("p.cedar"), "").unwrap();
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://gw.test"
[policy]
schema = "s.cedarschema"
policies = ["p.cedar"]
[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"]
[[route]]
name = "app"
upstream = "http://127.0.0.1:9"
"#
        .to_owned()
    }

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "didgate-cfg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn valid_config_loads_with_defaults() {
        let d = tmp();
        let c = Config::parse(&base(&d), Path::new("t.toml"), &d).unwrap();
        assert_eq!(c.credentials.audiences, vec!["http://gw.test".to_owned()]);
        assert_eq!(c.routes[0].path_prefix, "/");
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn independent_mistakes_are_all_reported_each_as_alone() {
        let d = tmp();
        let parse_err = |text: &str| Config::parse(text, Path::new("t.toml"), &d).unwrap_err();
        let bad_url = base(&d).replace("\"http://gw.test\"", "\"gw.test\"");
        let bad_upstream = base(&d).replace("http://127.0.0.1:9", "ftp://x");
        let both = bad_url.replace("http://127.0.0.1:9", "ftp://x");
        let ConfigError::Invalid { problems, .. } = parse_err(&both) else {
            panic!("not a validation error");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["server.public_url", "route[0].upstream"]);
        // Each line is word for word what that mistake alone reports.
        let alone = format!("{}\n{}", parse_err(&bad_url), parse_err(&bad_upstream));
        assert_eq!(parse_err(&both).to_string(), alone);
        assert!(alone
            .lines()
            .all(|l| l.starts_with("t.toml: `") && l.contains("; fix: ")));
    }

    #[test]
    fn a_key_is_reported_once_though_later_checks_need_it() {
        let d = tmp();
        let text = base(&d).replace("name = \"app\"", "name = \"app\"\npath_prefix = \"app\"");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.toml: `route[0].path_prefix` is \"app\"; fix: start it with '/'"
        );
    }

    #[test]
    fn risk_and_proxy_settings_are_validated_with_the_fix() {
        let d = tmp();
        let c = Config::parse(&base(&d), Path::new("t.toml"), &d).unwrap();
        assert!(c.risk.enabled && c.server.trusted_proxies.is_empty());
        let cases = [
            (
                base(&d).replace("[policy]", "[risk]\nhalf_life_days = 0\n[policy]"),
                "risk.half_life_days",
            ),
            (
                base(&d).replace("[policy]", "[risk]\nlearn_below = 1.5\n[policy]"),
                "risk.learn_below",
            ),
            (
                base(&d).replace("[policy]", "[risk]\nflush_interval_ms = 5\n[policy]"),
                "risk.flush_interval_ms",
            ),
            (
                base(&d).replace("[policy]", "[risk]\nsensitive_paths = [\"/\"]\n[policy]"),
                "risk.sensitive_paths[0]",
            ),
            (
                base(&d).replace(
                    "[policy]",
                    "[risk]\ngeoip_city_db = \"nope.mmdb\"\n[policy]",
                ),
                "risk.geoip_city_db",
            ),
            (
                base(&d).replace(
                    "public_url = \"http://gw.test\"",
                    "public_url = \"http://gw.test\"\ntrusted_proxies = [\"10.0.0.0/8\", \"lb\"]",
                ),
                "server.trusted_proxies[1]",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(&text, Path::new("t.toml"), &d)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains("fix"), "{key}: {err}");
        }
        let ok = base(&d).replace(
            "public_url = \"http://gw.test\"",
            "public_url = \"http://gw.test\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]",
        );
        let c = Config::parse(&ok, Path::new("t.toml"), &d).unwrap();
        assert_eq!(c.server.trusted_proxies().len(), 2);
    }

    #[test]
    fn unknown_key_is_refused() {
        let d = tmp();
        let text = base(&d).replace("[policy]", "[policy]\nbogus = 1");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn bad_upstream_names_key_and_fix() {
        let d = tmp();
        let text = base(&d).replace("http://127.0.0.1:9", "ftp://x");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("route[0].upstream") && err.contains("fix:"),
            "{err}"
        );
    }

    #[test]
    fn anchor_settings_name_a_chain_a_key_and_sane_values() {
        let d = tmp();
        let text = format!(
            "{}\n[audit.anchor]\nchain = \"nowhere\"\nkey_file = \"missing.jwk\"\ninterval_secs = 0\ncontract = \"0x12\"\n",
            base(&d)
        );
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        for key in [
            "audit.anchor.chain",
            "audit.anchor.key_file",
            "audit.anchor.interval_secs",
            "audit.anchor.contract",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_log_app_name_is_reserved() {
        let d = tmp();
        let text = base(&d).replace("name = \"app\"", "name = \"didgate-log\"");
        assert!(text.contains("didgate-log"));
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("route[0].name") && err.contains("reserved"),
            "{err}"
        );
    }

    #[test]
    fn empty_trusted_issuers_refused() {
        let d = tmp();
        let text = base(&d)
            .replace("[[credentials.trusted_issuers]]\ncredential_type = \"EmployeeCredential\"\nissuers = [\"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK\"]\n", "");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials.trusted_issuers"), "{err}");
    }

    #[test]
    fn status_list_ttl_defaults_and_is_validated_with_the_key_and_the_fix() {
        let d = tmp();
        let c = Config::parse(&base(&d), Path::new("t.toml"), &d).unwrap();
        assert_eq!(c.credentials.status_list_ttl_secs, 300);
        let with = |v: &str| {
            base(&d).replace(
                "[[credentials.trusted_issuers]]",
                &format!(
                    "[credentials]\nstatus_list_ttl_secs = {v}\n[[credentials.trusted_issuers]]"
                ),
            )
        };
        let c = Config::parse(&with("5"), Path::new("t.toml"), &d).unwrap();
        assert_eq!(c.credentials.status_list_ttl_secs, 5);
        let err = Config::parse(&with("0"), Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("credentials.status_list_ttl_secs") && err.contains("fix:"),
            "{err}"
        );
    }

    #[test]
    fn missing_policy_file_refused() {
        let d = tmp();
        let text = base(&d).replace("p.cedar", "nope.cedar");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.policies[0]"), "{err}");
    }

    #[test]
    fn tls_listener_needs_tls_section() {
        let d = tmp();
        let text = base(&d).replace("listen = \"127.0.0.1:0\"", "listen_tls = \"127.0.0.1:0\"");
        let err = Config::parse(&text, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.tls"), "{err}");
    }

    #[test]
    fn status_registry_must_be_an_address() {
        let d = tmp();
        let chain = "\n[chains.local]\nembedded = true\nstatus_registry = ";
        let ok = format!("{}{chain}\"0x{}\"\n", base(&d), "11".repeat(20));
        let c = Config::parse(&ok, Path::new("t.toml"), &d).unwrap();
        assert!(c.chains["local"].status_registry.is_some());
        let bad = format!("{}{chain}\"0x1234\"\n", base(&d));
        let err = Config::parse(&bad, Path::new("t.toml"), &d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("chains.local.status_registry") && err.contains("fix:"),
            "{err}"
        );
    }
}
