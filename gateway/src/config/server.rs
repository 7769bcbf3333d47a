//! `[server]`: the listeners, TLS files, public URL, trusted proxies, the
//! re-check interval and `[server.limits]`; `Cidr` parses the proxies' blocks.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::validation::Validation;

/// `[server]`: where the gateway listens and how it names itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Plain-HTTP listener, e.g. "127.0.0.1:8080".
    pub listen: Option<SocketAddr>,
    /// HTTPS listener, e.g. "0.0.0.0:8443"; needs `[server.tls]`.
    pub listen_tls: Option<SocketAddr>,
    /// The gateway's own URL: the audience presentations must name and the
    /// issuer of identity assertions.
    pub public_url: String,
    pub tls: Option<TlsConfig>,
    /// Name of this gateway instance in the decision log.
    #[serde(default = "default_instance")]
    pub instance: String,
    /// Peers (load balancers, CDNs) whose `X-Forwarded-For` names the real
    /// client, as CIDR blocks, e.g. ["10.0.0.0/8"]. Default: none — the TCP
    /// peer is the client and `X-Forwarded-For` is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// An exchange still open this long after it was allowed (a websocket, a
    /// streamed response) is decided again — session, key and credentials
    /// re-checked, the policy in force asked again — and again every this
    /// many seconds; it is closed at the first refusal. Default 10.
    #[serde(default = "default_recheck_interval")]
    pub recheck_interval_secs: u64,
    /// `[server.limits]`: connection timeouts and caps (see limits.rs).
    #[serde(default)]
    pub limits: crate::server::limits::Limits,
}

/// `[server.tls]`: the certificate chain and private key, PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client certificates (mutual TLS): `"none"` (default) asks for none;
    /// `"did"` asks every client for one, optionally, and a certificate
    /// whose URI SAN names a DID and whose key is listed under that DID's
    /// `authentication` authenticates the requests that carry no other
    /// credential (`context.auth_method == "mtls"`). No CA is involved:
    /// the DID registry is the trust anchor.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `[server.tls] client_auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    None,
    Did,
}

impl ServerConfig {
    /// `trusted_proxies` parsed (validated at load).
    pub fn trusted_proxies(&self) -> Vec<Cidr> {
        self.trusted_proxies
            .iter()
            .filter_map(|c| Cidr::parse(c))
            .collect()
    }

    /// Checks `[server]`, `[server.tls]` and `[server.limits]`.
    pub(super) fn validate(&self, v: &mut Validation) {
        self.validate_listeners(v);
        if !(self.public_url.starts_with("https://") || self.public_url.starts_with("http://")) {
            v.invalid(
                "server.public_url",
                format!("is {:?}, not an http(s) URL", self.public_url),
                "set it to the URL clients use to reach this gateway, e.g. \"https://gw.example.com\"",
            );
        }
        for (i, c) in self.trusted_proxies.iter().enumerate() {
            if Cidr::parse(c).is_none() {
                v.invalid(
                    format!("server.trusted_proxies[{i}]"),
                    format!("is {c:?}, not an address block"),
                    "write CIDR blocks such as \"10.0.0.0/8\" or \"2001:db8::/32\"",
                );
            }
        }
        for e in self.limits.validate() {
            v.invalid(e.key, e.problem, e.fix);
        }
        if !(1..=3600).contains(&self.recheck_interval_secs) {
            v.invalid(
                "server.recheck_interval_secs",
                "must be between 1 and 3600",
                "use 10 (an open websocket or stream ends within 10 s of a revocation or policy change)",
            );
        }
    }

    /// At least one listener; TLS files for the HTTPS one.
    fn validate_listeners(&self, v: &mut Validation) {
        if self.listen.is_none() && self.listen_tls.is_none() {
            v.invalid(
                "server.listen",
                "is missing and so is server.listen_tls",
                "set server.listen = \"127.0.0.1:8080\" and/or server.listen_tls with [server.tls]",
            );
        }
        if self.listen_tls.is_some() && self.tls.is_none() {
            v.invalid(
                "server.tls",
                "is missing but server.listen_tls is set",
                "add [server.tls] with cert = \"cert.pem\" and key = \"key.pem\"",
            );
        }
        if let Some(tls) = &self.tls {
            for (key, p) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                v.file_must_exist(
                    key,
                    p,
                    "point it at a PEM file (didgate demo generates a dev certificate)",
                );
            }
        }
    }
}

fn default_recheck_interval() -> u64 {
    10
}

fn default_instance() -> String {
    "didgate".to_owned()
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32` (a bare address
/// is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    len: u8,
}

impl Cidr {
    /// `s` as a block, or `None` when it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, l) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let addr: std::net::IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
            None => max,
        };
        Some(Self { addr, len })
    }

    /// Whether `ip` is in the block (an IPv4 block holds no IPv6 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
