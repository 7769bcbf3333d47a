//! The gateway's one TOML config file: typed, validated at load, with errors
//! that name the key and the fix. `didgate check -c FILE` runs the same code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod chains;
mod credential_settings;
mod database;
mod identity;
mod policy_files;
mod risk_settings;
mod routes;
mod server;
mod sessions;

pub use chains::ChainConfig;
pub use credential_settings::{CredentialsConfig, TrustedIssuerConfig};
pub use database::DatabaseConfig;
pub use identity::IdentityConfig;
pub use policy_files::PolicyConfig;
pub use risk_settings::RiskSettings;
pub use routes::{MethodOverride, RouteConfig};
pub use server::{Cidr, ServerConfig, TlsConfig};
pub use sessions::SessionsConfig;

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
    #[error("{path}: `{key}` {problem}; fix: {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        fix: String,
    },
}

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
        if let Ok(url) = std::env::var("DIDGATE_DATABASE_URL") {
            if !url.is_empty() {
                config.database.url = url;
            }
        }
        if config.credentials.audiences.is_empty() {
            config.credentials.audiences = vec![config.server.public_url.clone()];
        }
        for (name, chain) in config.chains.iter_mut() {
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
        config.validate(path)?;
        Ok(config)
    }

    /// Resolve a path from the config against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
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

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: &str, fix: &str| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        };
        let s = &self.server;
        if s.listen.is_none() && s.listen_tls.is_none() {
            return Err(invalid(
                "server.listen",
                "is missing and so is server.listen_tls",
                "set server.listen = \"127.0.0.1:8080\" and/or server.listen_tls with [server.tls]",
            ));
        }
        if s.listen_tls.is_some() && s.tls.is_none() {
            return Err(invalid(
                "server.tls",
                "is missing but server.listen_tls is set",
                "add [server.tls] with cert = \"cert.pem\" and key = \"key.pem\"",
            ));
        }
        if let Some(tls) = &s.tls {
            for (key, p) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                if !self.resolve(p).is_file() {
                    return Err(invalid(
                        key,
                        &format!("names {} which does not exist", self.resolve(p).display()),
                        "point it at a PEM file (didgate demo generates a dev certificate)",
                    ));
                }
            }
        }
        if !(s.public_url.starts_with("https://") || s.public_url.starts_with("http://")) {
            return Err(invalid(
                "server.public_url",
                &format!("is {:?}, not an http(s) URL", s.public_url),
                "set it to the URL clients use to reach this gateway, e.g. \"https://gw.example.com\"",
            ));
        }
        for (i, c) in s.trusted_proxies.iter().enumerate() {
            if Cidr::parse(c).is_none() {
                return Err(invalid(
                    &format!("server.trusted_proxies[{i}]"),
                    &format!("is {c:?}, not an address block"),
                    "write CIDR blocks such as \"10.0.0.0/8\" or \"2001:db8::/32\"",
                ));
            }
        }
        s.limits
            .validate()
            .map_err(|e| invalid(&e.key, &e.problem, &e.fix))?;
        let r = &self.risk;
        if !(r.half_life_days.is_finite() && (0.1..=3650.0).contains(&r.half_life_days)) {
            return Err(invalid(
                "risk.half_life_days",
                "must be between 0.1 and 3650",
                "use 14 (familiarity halves in two weeks)",
            ));
        }
        if !(r.learn_below.is_finite() && (0.0..=1.0).contains(&r.learn_below)) {
            return Err(invalid(
                "risk.learn_below",
                "must be between 0 and 1",
                "use 0.5 (the start of the example policies' step-up band)",
            ));
        }
        for (i, p) in r.sensitive_paths.iter().flatten().enumerate() {
            if !p.starts_with('/') || p.len() < 2 {
                return Err(invalid(
                    &format!("risk.sensitive_paths[{i}]"),
                    &format!("is {p:?}, not a path prefix"),
                    "write prefixes such as \"/admin\" (a bare \"/\" would make every path sensitive)",
                ));
            }
        }
        if !(100..=600_000).contains(&r.flush_interval_ms) {
            return Err(invalid(
                "risk.flush_interval_ms",
                "must be between 100 and 600000",
                "use 5000",
            ));
        }
        for (key, p) in [
            ("risk.geoip_city_db", &r.geoip_city_db),
            ("risk.geoip_asn_db", &r.geoip_asn_db),
        ] {
            if let Some(p) = p {
                if !self.resolve(p).is_file() {
                    return Err(invalid(
                        key,
                        &format!("names {} which does not exist", self.resolve(p).display()),
                        "point it at a MaxMind-format .mmdb file (GeoLite2 or DB-IP), or remove it",
                    ));
                }
            }
        }
        let se = &self.sessions;
        if !(1..=30 * 86_400).contains(&se.lifetime_secs) {
            return Err(invalid(
                "sessions.lifetime_secs",
                "must be between 1 and 2592000 (30 days)",
                "use 28800 (a working day)",
            ));
        }
        if !(1..=se.lifetime_secs).contains(&se.idle_timeout_secs) {
            return Err(invalid(
                "sessions.idle_timeout_secs",
                "must be between 1 and sessions.lifetime_secs",
                "use 1800 (30 minutes)",
            ));
        }
        if !(30..=3600).contains(&se.login_timeout_secs) {
            return Err(invalid(
                "sessions.login_timeout_secs",
                "must be between 30 and 3600",
                "use 300 (5 minutes to answer the QR code)",
            ));
        }
        if !(100..=60_000).contains(&se.sync_interval_ms) {
            return Err(invalid(
                "sessions.sync_interval_ms",
                "must be between 100 and 60000",
                "use 1000 (a logout reaches every gateway within a second)",
            ));
        }
        if se.cache_capacity < 100 {
            return Err(invalid(
                "sessions.cache_capacity",
                "is below 100",
                "remove it to use the default of 100000",
            ));
        }
        for (i, t) in se.credential_types.iter().enumerate() {
            if !self
                .credentials
                .trusted_issuers
                .iter()
                .any(|ti| &ti.credential_type == t)
            {
                return Err(invalid(
                    &format!("sessions.credential_types[{i}]"),
                    &format!("is {t:?}, which no credentials.trusted_issuers entry trusts, so no login could succeed"),
                    "name a credential_type of [[credentials.trusted_issuers]], or remove the key to ask for all of them",
                ));
            }
        }
        if self.identity.assertion_ttl_secs <= 0 || self.identity.assertion_ttl_secs > 3600 {
            return Err(invalid(
                "identity.assertion_ttl_secs",
                "must be between 1 and 3600",
                "use a short lifetime such as 60",
            ));
        }
        let c = &self.credentials;
        if !(0..=600).contains(&c.clock_skew_secs) {
            return Err(invalid(
                "credentials.clock_skew_secs",
                "must be between 0 and 600",
                "use 60",
            ));
        }
        if c.max_presentation_lifetime_secs <= 0 || c.max_presentation_lifetime_secs > 86_400 {
            return Err(invalid(
                "credentials.max_presentation_lifetime_secs",
                "must be between 1 and 86400",
                "use 900 (15 minutes)",
            ));
        }
        if c.replay_cache_capacity < 1024 {
            return Err(invalid(
                "credentials.replay_cache_capacity",
                "is below 1024",
                "remove it to use the default of 1000000",
            ));
        }
        if c.status_list_ttl_secs == 0 || c.status_list_ttl_secs > 86_400 {
            return Err(invalid(
                "credentials.status_list_ttl_secs",
                "must be between 1 and 86400",
                "use 300 (a revocation is seen within 5 minutes)",
            ));
        }
        if c.trusted_issuers.is_empty() {
            return Err(invalid(
                "credentials.trusted_issuers",
                "is empty, so no credential would ever be accepted",
                "add [[credentials.trusted_issuers]] with credential_type and issuers = [\"did:…\"]",
            ));
        }
        for (i, t) in c.trusted_issuers.iter().enumerate() {
            if t.credential_type.trim().is_empty() {
                return Err(invalid(
                    &format!("credentials.trusted_issuers[{i}].credential_type"),
                    "is empty",
                    "name a credential type such as \"EmployeeCredential\"",
                ));
            }
            for (j, d) in t.issuers.iter().enumerate() {
                if !d.starts_with("did:") || d.split(':').count() < 3 {
                    return Err(invalid(
                        &format!("credentials.trusted_issuers[{i}].issuers[{j}]"),
                        &format!("is {d:?}, not a DID"),
                        "use the issuer's DID, e.g. \"did:key:z6Mk…\"",
                    ));
                }
            }
            for (j, u) in t.status_list_urls.iter().enumerate() {
                let ok = url::Url::parse(u).ok().is_some_and(|u| {
                    let loopback =
                        matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                    u.host_str().is_some_and(|h| !h.is_empty())
                        && u.username().is_empty()
                        && u.query().is_none()
                        && (u.scheme() == "https" || (u.scheme() == "http" && loopback))
                });
                if !ok {
                    return Err(invalid(
                        &format!("credentials.trusted_issuers[{i}].status_list_urls[{j}]"),
                        &format!("is {u:?}, not an https:// URL prefix"),
                        "use the folder the issuer publishes its lists in, e.g. \"https://hr.example.com/status/\" (http:// only for localhost)",
                    ));
                }
            }
        }
        if !self.policy.schema.as_os_str().is_empty()
            && !self.resolve(&self.policy.schema).is_file()
        {
            return Err(invalid(
                "policy.schema",
                &format!(
                    "names {} which does not exist",
                    self.resolve(&self.policy.schema).display()
                ),
                "point it at a Cedar schema file (see deploy/policies/didgate.cedarschema)",
            ));
        }
        if self.policy.policies.is_empty() {
            return Err(invalid(
                "policy.policies",
                "is empty",
                "list policy files or folders of *.cedar files",
            ));
        }
        for (i, p) in self.policy.policies.iter().enumerate() {
            if !self.resolve(p).exists() {
                return Err(invalid(
                    &format!("policy.policies[{i}]"),
                    &format!("names {} which does not exist", self.resolve(p).display()),
                    "point it at a .cedar file or a folder of them",
                ));
            }
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "is neither a sqlite: nor a postgres:// URL",
                "use \"sqlite://didgate.db\" or \"postgres://user@host/db\"",
            ));
        }
        for (name, c) in &self.chains {
            let key = |k: &str| format!("chains.{name}.{k}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    &format!("chains.{name}"),
                    "is not a usable network name",
                    "use the name DIDs carry, e.g. [chains.sepolia] for did:ethr:sepolia:0x…",
                ));
            }
            match (&c.rpc_url, c.embedded) {
                (Some(_), true) => {
                    return Err(invalid(
                        &key("rpc_url"),
                        "is set on an embedded chain",
                        "remove rpc_url, or set embedded = false to follow that node",
                    ))
                }
                (None, false) => {
                    return Err(invalid(
                        &key("rpc_url"),
                        "is missing",
                        "set rpc_url = \"http://127.0.0.1:8545\" (a node), or embedded = true",
                    ))
                }
                (Some(url), false)
                    if !["http://", "https://", "ws://", "wss://"]
                        .iter()
                        .any(|scheme| url.starts_with(scheme)) =>
                {
                    return Err(invalid(
                        &key("rpc_url"),
                        &format!("is {url:?}, not an http(s):// or ws(s):// JSON-RPC URL"),
                        "set it to the node's endpoint, e.g. \"http://127.0.0.1:8545\" or \"wss://…\" (new heads pushed)",
                    ))
                }
                _ => {}
            }
            match &c.registry {
                Some(r) if r.parse::<did_registry::ethr::Address>().is_err() || r.len() != 42 => {
                    return Err(invalid(
                        &key("registry"),
                        &format!("is {r:?}, not a contract address"),
                        "use the 0x… address `didgate chain deploy` printed (or the public registry's)",
                    ))
                }
                None if !c.embedded => {
                    return Err(invalid(
                        &key("registry"),
                        "is missing",
                        "deploy one with `didgate chain deploy --rpc URL --key FILE` and set its address",
                    ))
                }
                _ => {}
            }
            if let Some(r) = &c.status_registry {
                if r.parse::<did_registry::ethr::Address>().is_err() || r.len() != 42 {
                    return Err(invalid(
                        &key("status_registry"),
                        &format!("is {r:?}, not a contract address"),
                        "use the 0x… address of the StatusRegistry deployed for this chain's registry",
                    ));
                }
            }
            if !(10..=60_000).contains(&c.poll_interval_ms) {
                return Err(invalid(
                    &key("poll_interval_ms"),
                    "must be between 10 and 60000",
                    "use 1000",
                ));
            }
            if !(1..=86_400).contains(&c.max_staleness_secs)
                || c.max_staleness_secs.saturating_mul(1000) <= c.poll_interval_ms
            {
                return Err(invalid(
                    &key("max_staleness_secs"),
                    "must be longer than the poll interval, and at most 86400",
                    "use 60",
                ));
            }
            if c.confirmations > 1_000 {
                return Err(invalid(
                    &key("confirmations"),
                    "is above 1000",
                    "use a few blocks (2 on Ethereum mainnet after the merge; 0 on a permissioned chain with instant finality)",
                ));
            }
            if c.chain_id.is_some_and(|id| i64::try_from(id).is_err()) {
                return Err(invalid(
                    &key("chain_id"),
                    "is larger than 9223372036854775807",
                    "use the chain's real id (eth_chainId)",
                ));
            }
            if i64::try_from(c.start_block).is_err() {
                return Err(invalid(
                    &key("start_block"),
                    "is larger than 9223372036854775807",
                    "use the registry's deployment block",
                ));
            }
            if !(1..=100_000).contains(&c.max_block_range) {
                return Err(invalid(
                    &key("max_block_range"),
                    "must be between 1 and 100000",
                    "use 2000",
                ));
            }
        }
        if self.database.audit_queue > 16 << 20 {
            return Err(invalid(
                "database.audit_queue",
                "is above 16777216",
                "use the default 65536",
            ));
        }
        if self.database.audit_queue < 16 {
            return Err(invalid(
                "database.audit_queue",
                "is below 16",
                "use the default 65536",
            ));
        }
        if !(1..=3600).contains(&self.server.recheck_interval_secs) {
            return Err(invalid(
                "server.recheck_interval_secs",
                "must be between 1 and 3600",
                "use 10 (an open websocket or stream ends within 10 s of a revocation or policy change)",
            ));
        }
        if self.routes.is_empty() {
            return Err(invalid(
                "route",
                "has no entries, so every request would be refused",
                "add [[route]] with name, path_prefix and upstream",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = |k: &str| format!("route[{i}].{k}");
            if r.name.is_empty()
                || !r
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    &key("name"),
                    &format!("is {:?}", r.name),
                    "use letters, digits, '-' or '_' (it names the Cedar App entity)",
                ));
            }
            if !names.insert(r.name.as_str()) {
                return Err(invalid(
                    &key("name"),
                    &format!("{:?} is used twice", r.name),
                    "give each route a unique name",
                ));
            }
            if !r.path_prefix.starts_with('/') {
                return Err(invalid(
                    &key("path_prefix"),
                    &format!("is {:?}", r.path_prefix),
                    "start it with '/'",
                ));
            }
            // Requests are matched in their normalised form, so a prefix
            // that is not normalised could never match.
            let pass = crate::request::normalize::Pass::of(&r.path_options());
            match crate::request::normalize::normalize(&r.path_prefix, pass) {
                Ok(n) if n.decoded == r.path_prefix.as_str() => {}
                Ok(n) => {
                    return Err(invalid(
                        &key("path_prefix"),
                        &format!(
                            "is {:?}, which requests normalise to {:?}",
                            r.path_prefix, n.decoded
                        ),
                        &format!("write it as {:?}", n.decoded),
                    ))
                }
                Err(e) => {
                    return Err(invalid(
                        &key("path_prefix"),
                        &format!("is {:?}: {e}", r.path_prefix),
                        "write a plain path such as \"/app\"",
                    ))
                }
            }
            match r.upstream.parse::<http::Uri>() {
                Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                }
                _ => {
                    return Err(invalid(
                        &key("upstream"),
                        &format!("is {:?}, not an http(s) URL", r.upstream),
                        "use e.g. \"http://127.0.0.1:9000\"",
                    ))
                }
            }
        }
        Ok(())
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
    fn cidr_blocks_parse_and_match() {
        let v4 = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(v4.contains("10.200.1.2".parse().unwrap()));
        assert!(!v4.contains("11.0.0.1".parse().unwrap()));
        assert!(!v4.contains("::1".parse().unwrap()), "families never mix");
        let host = Cidr::parse("127.0.0.1").unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "x",
            "",
            "10.0.0.0/-1",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
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
