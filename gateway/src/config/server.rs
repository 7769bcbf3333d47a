//! `[server]`: the listeners, TLS files, public URL, trusted proxies, the
//! re-check interval and `[server.limits]`; `Cidr` parses the proxies' blocks.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

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
/// An address block such as `10.0.0.0/8` or `2001:db8::/32` (a bare address
/// is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    len: u8,
}

impl Cidr {
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

impl ServerConfig {
    /// `trusted_proxies` parsed (validated at load).
    pub fn trusted_proxies(&self) -> Vec<Cidr> {
        self.trusted_proxies
            .iter()
            .filter_map(|c| Cidr::parse(c))
            .collect()
    }
}

fn default_recheck_interval() -> u64 {
    10
}

fn default_instance() -> String {
    "didgate".to_owned()
}
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}
