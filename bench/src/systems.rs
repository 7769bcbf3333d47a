//! The systems measured side by side (each row of the report: the upstream
//! direct, nginx, didgate's paths) and the numbers one wrk run of one of them
//! gives. The harness starts and drives them; the report writes them out.

use crate::tokens::Cache;

/// One system under test (a row of the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    Direct,
    BareProxy,
    NginxProxy,
    NginxAuthRequest,
    DidgateSession,
    DidgateBearerHit,
    DidgateBearerMiss,
    DidgateSigned,
}

impl System {
    pub const ALL: [System; 8] = [
        System::Direct,
        System::BareProxy,
        System::NginxProxy,
        System::NginxAuthRequest,
        System::DidgateSession,
        System::DidgateBearerHit,
        System::DidgateBearerMiss,
        System::DidgateSigned,
    ];

    pub fn label(self) -> &'static str {
        match self {
            System::Direct => "upstream direct",
            System::BareProxy => "bare hyper proxy (pooled client, nothing else)",
            System::NginxProxy => "nginx, plain reverse proxy",
            System::NginxAuthRequest => "nginx + auth_request (session check)",
            System::DidgateSession => "didgate, browser session cookie",
            System::DidgateBearerHit => "didgate, VP-JWT bearer, credential cache hit",
            System::DidgateBearerMiss => "didgate, VP-JWT bearer, credential cache miss",
            System::DidgateSigned => "didgate, RFC 9421 signed request, fresh signature",
        }
    }

    pub fn bearer(self) -> Option<Cache> {
        match self {
            System::DidgateBearerHit => Some(Cache::Hit),
            System::DidgateBearerMiss => Some(Cache::Miss),
            _ => None,
        }
    }
}

/// One wrk run's numbers (latencies in µs).
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    /// CPU time the measured system's own processes spent per request, in
    /// µs (the upstream's share is not counted for the proxies). Steadier
    /// than req/s on a noisy machine: it does not depend on who else got
    /// the core.
    pub cpu_us: f64,
}
