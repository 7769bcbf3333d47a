//! Connection limits: the `[server.limits]` table (timeouts, caps, HTTP/2
//! settings) with its defaults and validation, the connection counter that
//! enforces the global and per-address caps, and the per-connection activity
//! record from which `server/mod.rs` decides when a connection has waited too long.
//!
//! Owns: what a client may hold open and for how long. Does not own: the
//! hyper builder and the accept loop that apply it (`server/mod.rs`), or the
//! request-body timeout's body wrapper (`body.rs`).

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use serde::Deserialize;
use tokio::time::Instant;

/// `[server.limits]`: every key optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A request's header must be complete this long after the connection
    /// opened (or its TLS handshake ended) for the first request, or after
    /// its first byte arrived for later ones.
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress is closed after this long
    /// (HTTP/1.1 keep-alive and HTTP/2 alike).
    pub idle_timeout_secs: u64,
    /// The TLS handshake must finish this long after the TCP connection opened.
    pub tls_handshake_timeout_secs: u64,
    /// A request body that sends no bytes for this long fails: `408
    /// request_body_timeout` when the upstream has not answered yet.
    pub request_body_timeout_secs: u64,
    /// Open connections from one client address (an IPv6 client: its /64);
    /// peers in `server.trusted_proxies` are not counted.
    pub max_connections_per_ip: u32,
    /// Open connections in all, over both listeners.
    pub max_connections: u32,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: requests in progress on one connection.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 streams the client opened and reset before the gateway accepted
    /// them (CVE-2023-44487, rapid reset); past it the connection gets a GOAWAY.
    pub h2_max_pending_accept_reset_streams: u32,
    /// HTTP/2 streams the gateway had to reset for the client's protocol errors
    /// (CVE-2025-8671, MadeYouReset); past it the connection gets a GOAWAY.
    pub h2_max_local_error_reset_streams: u32,
    /// Request line and headers, in bytes: HTTP/1.1's read buffer (past it:
    /// `431`) and HTTP/2's `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub max_header_bytes: u32,
    /// An HTTP/2 connection silent this long is pinged …
    pub h2_keep_alive_interval_secs: u64,
    /// … and closed when the ping is not answered within this long.
    pub h2_keep_alive_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            tls_handshake_timeout_secs: 10,
            request_body_timeout_secs: 30,
            max_connections_per_ip: 256,
            max_connections: 10_000,
            h2_max_concurrent_streams: 100,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 1024,
            max_header_bytes: 64 * 1024,
            h2_keep_alive_interval_secs: 30,
            h2_keep_alive_timeout_secs: 20,
        }
    }
}

/// A `[server.limits]` key out of range; `config/mod.rs` adds the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}; fix: {fix}")]
pub struct LimitError {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// hyper refuses an HTTP/1.1 read buffer below this (it panics).
pub const MIN_HEADER_BYTES: u32 = 8192;

/// The most `max_connections` may be.
const MAX_CONNECTIONS: u32 = 1_000_000;

impl Limits {
    /// Every key within its range: zero, or a value large enough to switch
    /// the protection off, is refused naming the key. Every key out of range
    /// is reported, in the order of the table (empty: all valid), as the
    /// config's other sections report theirs (`config/validation.rs`).
    #[must_use]
    pub fn validate(&self) -> Vec<LimitError> {
        let d = Limits::default();
        let (l, min_hdr) = (self, u64::from(MIN_HEADER_BYTES));
        // key, value, allowed, default, why the default
        #[rustfmt::skip]
        let ranges: [(&str, u64, RangeInclusive<u64>, u64, &str); 11] = [
            ("header_read_timeout_secs", l.header_read_timeout_secs, 1..=300, d.header_read_timeout_secs, "a header takes one round trip"),
            ("idle_timeout_secs", l.idle_timeout_secs, 1..=3600, d.idle_timeout_secs, "above a load balancer's 60-s idle timeout"),
            ("tls_handshake_timeout_secs", l.tls_handshake_timeout_secs, 1..=300, d.tls_handshake_timeout_secs, "a handshake takes two round trips"),
            ("request_body_timeout_secs", l.request_body_timeout_secs, 1..=3600, d.request_body_timeout_secs, "seconds without a body byte"),
            ("h2_keep_alive_interval_secs", l.h2_keep_alive_interval_secs, 1..=3600, d.h2_keep_alive_interval_secs, "a ping after this long without a request"),
            ("h2_keep_alive_timeout_secs", l.h2_keep_alive_timeout_secs, 1..=300, d.h2_keep_alive_timeout_secs, "time for the peer to answer a ping"),
            ("max_connections", l.max_connections.into(), 1..=MAX_CONNECTIONS.into(), d.max_connections.into(), "each costs a file descriptor and buffers"),
            ("h2_max_concurrent_streams", l.h2_max_concurrent_streams.into(), 1..=1000, d.h2_max_concurrent_streams.into(), "RFC 9113 suggests at least 100"),
            ("h2_max_pending_accept_reset_streams", l.h2_max_pending_accept_reset_streams.into(), 1..=1000, d.h2_max_pending_accept_reset_streams.into(), "the h2 crate's rapid-reset default"),
            ("h2_max_local_error_reset_streams", l.h2_max_local_error_reset_streams.into(), 1..=100_000, d.h2_max_local_error_reset_streams.into(), "hyper's default"),
            ("max_header_bytes", l.max_header_bytes.into(), min_hdr..=1 << 20, d.max_header_bytes.into(), "room for a large presentation in Authorization"),
        ];
        let mut problems = Vec::new();
        for (key, value, allowed, default, why) in ranges {
            if !allowed.contains(&value) {
                problems.push(LimitError {
                    key: format!("server.limits.{key}"),
                    problem: format!(
                        "is {value}, not between {} and {}",
                        allowed.start(),
                        allowed.end()
                    ),
                    fix: format!("remove it to use the default of {default} ({why})"),
                });
            }
        }
        // Held to `max_connections` only when that is valid itself: one
        // mistake, one problem.
        let per_ip_cap = if (1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            self.max_connections
        } else {
            MAX_CONNECTIONS
        };
        if !(1..=per_ip_cap).contains(&self.max_connections_per_ip) {
            problems.push(LimitError {
                key: "server.limits.max_connections_per_ip".into(),
                problem: format!(
                    "is {}, not between 1 and server.limits.max_connections ({})",
                    self.max_connections_per_ip, self.max_connections
                ),
                fix: format!(
                    "remove it to use the default of {} (a NAT'd office shares one address; \
                     load balancers belong in server.trusted_proxies)",
                    d.max_connections_per_ip
                ),
            });
        }
        problems
    }

    pub fn header_read_timeout(&self) -> Duration {
        secs(self.header_read_timeout_secs)
    }

    pub fn tls_handshake_timeout(&self) -> Duration {
        secs(self.tls_handshake_timeout_secs)
    }

    pub fn request_body_timeout(&self) -> Duration {
        secs(self.request_body_timeout_secs)
    }

    pub fn h2_keep_alive_interval(&self) -> Duration {
        secs(self.h2_keep_alive_interval_secs)
    }

    pub fn h2_keep_alive_timeout(&self) -> Duration {
        secs(self.h2_keep_alive_timeout_secs)
    }

    /// The timeouts a connection's supervisor applies.
    pub fn conn_timeouts(&self) -> ConnTimeouts {
        ConnTimeouts {
            header_read: self.header_read_timeout(),
            idle: secs(self.idle_timeout_secs),
            // A client told to go away gets as long as a header may take.
            drain_grace: self.header_read_timeout(),
        }
    }
}

/// Validated values are at most an hour; clamped here too, so a `Config`
/// built in code without `validate` cannot overflow a deadline (or disable one).
fn secs(s: u64) -> Duration {
    Duration::from_secs(s.clamp(1, 3600))
}

// ---------------------------------------------------------------------------
// Connection caps

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_ip` are open from this client.
    PerIp,
}

/// The open-connection count, in all and per client address. Bounded: an
/// address has an entry only while it has a connection open, and there are
/// at most `max_connections` of those.
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_ip: u32,
    total: AtomicUsize,
    shards: Box<[Mutex<HashMap<IpKey, u32>>]>,
    hasher: RandomState,
    refused: AtomicU64,
    /// Seconds since `born` when a refusal was last logged at warn.
    warned_at: AtomicU64,
    born: Instant,
}

/// What the per-address count is kept by: an IPv4 address, or an IPv6 /64
/// (one subscriber's prefix; counting whole addresses would let one client
/// open `max_connections_per_ip` from each of 2^64 addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6(u64),
}

impl IpKey {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => IpKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

const SHARDS: usize = 16;

impl ConnectionLimiter {
    pub fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections as usize,
            max_per_ip: limits.max_connections_per_ip,
            total: AtomicUsize::new(0),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            refused: AtomicU64::new(0),
            warned_at: AtomicU64::new(u64::MAX),
            born: Instant::now(),
        })
    }

    /// Count a new connection from `ip`, or refuse it. `exempt` (a trusted
    /// proxy) skips the per-address cap, not the total. The slot gives the
    /// count back when dropped, on every path.
    pub fn try_acquire(
        self: &Arc<Self>,
        ip: IpAddr,
        exempt: bool,
    ) -> Result<ConnectionSlot, Refused> {
        let counted = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            });
        if counted.is_err() {
            return Err(self.refuse(Refused::Total, ip));
        }
        // From here the slot owns one unit of `total`: a refusal below drops it.
        let mut slot = ConnectionSlot {
            limiter: self.clone(),
            key: None,
        };
        if exempt {
            return Ok(slot);
        }
        let key = IpKey::of(ip);
        let admitted = match self.shard(key).entry(key) {
            Entry::Occupied(mut e) if *e.get() < self.max_per_ip => {
                *e.get_mut() += 1;
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(e) if self.max_per_ip > 0 => {
                e.insert(1);
                true
            }
            Entry::Vacant(_) => false,
        };
        if !admitted {
            drop(slot);
            return Err(self.refuse(Refused::PerIp, ip));
        }
        slot.key = Some(key);
        Ok(slot)
    }

    /// Connections open now, in all.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Connections open now from `ip`'s address (or /64).
    #[cfg(test)]
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let key = IpKey::of(ip);
        self.shard(key).get(&key).copied().unwrap_or(0)
    }

    /// Connections refused so far.
    #[cfg(test)]
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn shard(&self, key: IpKey) -> std::sync::MutexGuard<'_, HashMap<IpKey, u32>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        // A poisoned shard still holds consistent counts: each update is one statement.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, key: Option<IpKey>) {
        if let Some(key) = key {
            let mut shard = self.shard(key);
            if let Entry::Occupied(mut e) = shard.entry(key) {
                *e.get_mut() = e.get().saturating_sub(1);
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    /// Count a refusal; log at warn at most once a minute (a flood must not
    /// flood the log), at debug always.
    fn refuse(&self, why: Refused, ip: IpAddr) -> Refused {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(%ip, ?why, "connection refused at accept");
        let now = self.born.elapsed().as_secs();
        let last = self.warned_at.load(Ordering::Relaxed);
        if (last == u64::MAX || now >= last + 60)
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%ip, ?why, refused_so_far = n, max_connections = self.max_total,
                max_connections_per_ip = self.max_per_ip,
                "connections refused: a [server.limits] connection cap is reached");
        }
        why
    }
}

/// One counted connection; dropping it gives the count back.
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    key: Option<IpKey>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limiter.release(self.key.take());
    }
}

impl std::fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSlot")
            .field("key", &self.key)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Per-connection activity

/// The timeouts a connection is held to (from [`Limits::conn_timeouts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnTimeouts {
    pub header_read: Duration,
    pub idle: Duration,
    /// After a graceful shutdown began, how long an idle connection may stay.
    pub drain_grace: Duration,
}

/// What a connection is doing, shared by its I/O (bytes read), its service
/// (requests begun and ended, possibly on other tasks for HTTP/2) and its
/// supervisor (which reads it to set one timer). Atomics only, no lock.
pub struct Activity {
    born: Instant,
    in_flight: AtomicU32,
    /// A request has begun on this connection.
    started: AtomicBool,
    http2: AtomicBool,
    /// Milliseconds since `born` when the connection last became idle (or
    /// its TLS handshake ended).
    idle_since: AtomicU64,
    /// Milliseconds since `born` of the first byte read since then (HTTP/1
    /// only: HTTP/2 pings and window updates are not a request arriving).
    read_mark: AtomicU64,
    /// Woken when the last request in progress ends.
    idle_waker: AtomicWaker,
}

const NO_MARK: u64 = u64::MAX;

/// When the supervisor must look again, and what happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A request is in progress: no deadline (the request body and the
    /// upstream have their own).
    Busy,
    At(Instant, Expiry),
}

/// Which limit a connection reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No request arrived in time after the connection opened: close.
    FirstRequest,
    /// A request's header began but did not end in time: close.
    HeaderRead,
    /// No request for `idle`: shut down gracefully.
    Idle,
    /// A graceful shutdown's grace ran out with nothing in progress: close.
    Drained,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            in_flight: AtomicU32::new(0),
            started: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            read_mark: AtomicU64::new(NO_MARK),
            idle_waker: AtomicWaker::new(),
        })
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.born + Duration::from_millis(ms)
    }

    /// The TLS handshake ended: the first request's clock starts now.
    pub fn handshake_done(&self) {
        self.idle_since.store(self.ms(), Ordering::Relaxed);
    }

    /// Bytes arrived from the client (called by the connection's I/O).
    #[inline]
    pub fn mark_read(&self) {
        if !self.http2.load(Ordering::Relaxed) && self.read_mark.load(Ordering::Relaxed) == NO_MARK
        {
            self.read_mark.store(self.ms(), Ordering::Relaxed);
        }
    }

    /// A request begins; the guard ends it when dropped.
    pub fn begin(self: &Arc<Self>, http2: bool) -> InFlight {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.started.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn end(&self) {
        // Stamped before the count falls, so a supervisor that sees zero
        // sees when (Release below, Acquire in `next`).
        self.idle_since.store(self.ms(), Ordering::Relaxed);
        self.read_mark.store(NO_MARK, Ordering::Relaxed);
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_waker.wake();
        }
    }

    /// Requests in progress.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Wake `waker` when the last request in progress ends.
    pub fn wake_when_idle(&self, waker: &Waker) {
        self.idle_waker.register(waker);
    }

    /// The next deadline; `draining` is when a graceful shutdown began.
    pub fn next(&self, t: &ConnTimeouts, draining: Option<Instant>) -> Next {
        if self.in_flight() > 0 {
            return Next::Busy;
        }
        if let Some(since) = draining {
            return Next::At(since + t.drain_grace, Expiry::Drained);
        }
        let idle_since = self.at(self.idle_since.load(Ordering::Relaxed));
        if !self.started.load(Ordering::Relaxed) {
            return Next::At(idle_since + t.header_read, Expiry::FirstRequest);
        }
        // A pipelined head read before the previous response ended is not
        // marked: it gets the idle deadline, still a bound.
        match self.read_mark.load(Ordering::Relaxed) {
            NO_MARK => Next::At(idle_since + t.idle, Expiry::Idle),
            mark => Next::At(self.at(mark) + t.header_read, Expiry::HeaderRead),
        }
    }
}

/// A request in progress; counts until dropped (with its response body, so a
/// long download is not idle).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(total: u32, per_ip: u32) -> Arc<ConnectionLimiter> {
        ConnectionLimiter::new(&Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..Limits::default()
        })
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let d = Limits::default();
        assert_eq!(d.validate(), Vec::new());
        assert_eq!(d.header_read_timeout_secs, 10);
        assert_eq!(d.max_header_bytes, 65536);
        let parsed: Limits = toml::from_str("").unwrap();
        assert_eq!(parsed, d);
    }

    #[test]
    fn zero_and_absurd_values_are_refused_naming_the_key() {
        let cases: [(&str, Limits); 6] = [
            (
                "server.limits.idle_timeout_secs",
                Limits {
                    idle_timeout_secs: 0,
                    ..Limits::default()
                },
            ),
            (
                "server.limits.header_read_timeout_secs",
                Limits {
                    header_read_timeout_secs: 86_400,
                    ..Limits::default()
                },
            ),
            (
                "server.limits.max_connections",
                Limits {
                    max_connections: 0,
                    ..Limits::default()
                },
            ),
            (
                "server.limits.max_connections_per_ip",
                Limits {
                    max_connections_per_ip: 20_000,
                    ..Limits::default()
                },
            ),
            (
                "server.limits.max_header_bytes",
                Limits {
                    max_header_bytes: 100,
                    ..Limits::default()
                },
            ),
            (
                "server.limits.h2_max_pending_accept_reset_streams",
                Limits {
                    h2_max_pending_accept_reset_streams: 0,
                    ..Limits::default()
                },
            ),
        ];
        for (key, l) in cases {
            let problems = l.validate();
            let [e] = problems.as_slice() else {
                panic!("one problem for {key}, got {problems:?}")
            };
            assert_eq!(e.key, key);
            assert!(e.fix.contains("default"), "{e}");
        }
    }

    #[test]
    fn every_bad_limit_is_reported_at_once() {
        let l = Limits {
            idle_timeout_secs: 0,
            max_header_bytes: 100,
            max_connections_per_ip: 0,
            ..Limits::default()
        };
        let problems = l.validate();
        let keys: Vec<&str> = problems.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.limits.idle_timeout_secs",
                "server.limits.max_header_bytes",
                "server.limits.max_connections_per_ip",
            ]
        );
        assert_eq!(
            problems[0].to_string(),
            "`server.limits.idle_timeout_secs` is 0, not between 1 and 3600; \
             fix: remove it to use the default of 75 (above a load balancer's 60-s idle timeout)"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<Limits>("idle_timeout = 5").unwrap_err();
        assert!(e.to_string().contains("idle_timeout"), "{e}");
    }

    #[test]
    fn per_ip_cap_counts_and_frees_on_drop() {
        let l = limiter(100, 2);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = l.try_acquire(ip, false).unwrap();
        let b = l.try_acquire(ip, false).unwrap();
        assert_eq!(l.try_acquire(ip, false).unwrap_err(), Refused::PerIp);
        assert_eq!(
            (l.open(), l.open_from(ip)),
            (2, 2),
            "a refusal leaves no count"
        );
        // Another address, and an exempt (trusted proxy) one, are unaffected.
        let _c = l.try_acquire("192.0.2.8".parse().unwrap(), false).unwrap();
        let exempt: Vec<_> = (0..5).map(|_| l.try_acquire(ip, true).unwrap()).collect();
        assert_eq!((l.open(), l.open_from(ip)), (8, 2));
        drop(a);
        assert_eq!(l.open_from(ip), 1);
        let _d = l.try_acquire(ip, false).unwrap();
        drop((b, _d, exempt));
        assert_eq!(l.open_from(ip), 0);
        assert_eq!(l.open(), 1);
        assert!(
            l.shards
                .iter()
                .map(|s| s.lock().unwrap().len())
                .sum::<usize>()
                == 1,
            "entries removed at zero"
        );
        assert_eq!(l.refused(), 1);
    }

    #[test]
    fn total_cap_applies_to_exempt_peers_too() {
        let l = limiter(2, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let _a = l.try_acquire(ip, true).unwrap();
        let _b = l.try_acquire("10.0.0.2".parse().unwrap(), false).unwrap();
        assert_eq!(l.try_acquire(ip, true).unwrap_err(), Refused::Total);
        assert_eq!(
            l.try_acquire("10.0.0.3".parse().unwrap(), false)
                .unwrap_err(),
            Refused::Total
        );
        assert_eq!(l.open_from("10.0.0.3".parse().unwrap()), 0);
        assert_eq!(l.open(), 2);
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let l = limiter(100, 1);
        let _a = l
            .try_acquire("2001:db8:1:2::1".parse().unwrap(), false)
            .unwrap();
        assert_eq!(
            l.try_acquire("2001:db8:1:2:ffff::9".parse().unwrap(), false)
                .unwrap_err(),
            Refused::PerIp
        );
        let _b = l
            .try_acquire("2001:db8:1:3::1".parse().unwrap(), false)
            .unwrap();
        let _c = l.try_acquire("192.0.2.1".parse().unwrap(), false).unwrap();
        assert_eq!(
            l.try_acquire("::ffff:192.0.2.1".parse().unwrap(), false)
                .unwrap_err(),
            Refused::PerIp
        );
    }

    /// `a` and `b` within 50 ms of each other (deadlines are kept in ms).
    fn near(a: Instant, b: Instant) -> bool {
        a.max(b) - a.min(b) < Duration::from_millis(50)
    }

    #[tokio::test]
    async fn activity_deadlines_follow_the_connection() {
        let t = Limits::default().conn_timeouts();
        let a = Activity::new();
        let first = Next::At(a.born + t.header_read, Expiry::FirstRequest);
        assert_eq!(a.next(&t, None), first);
        // Bytes before the first request do not move the first deadline.
        a.mark_read();
        assert_eq!(a.next(&t, None), first);
        let r = a.begin(false);
        assert_eq!(a.next(&t, None), Next::Busy);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(r);
        let Next::At(at, Expiry::Idle) = a.next(&t, None) else {
            panic!("idle after the request")
        };
        assert!(near(at, Instant::now() + t.idle));
        // The next request's first byte starts its header clock.
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.mark_read();
        let Next::At(at, Expiry::HeaderRead) = a.next(&t, None) else {
            panic!("a header arriving")
        };
        assert!(near(at, Instant::now() + t.header_read));
        let drain = Instant::now();
        assert_eq!(
            a.next(&t, Some(drain)),
            Next::At(drain + t.drain_grace, Expiry::Drained)
        );
    }

    #[tokio::test]
    async fn http2_reads_are_not_requests_arriving() {
        let t = Limits::default().conn_timeouts();
        let a = Activity::new();
        let r = a.begin(true);
        let s = a.begin(true);
        drop(r);
        assert_eq!(a.next(&t, None), Next::Busy, "one stream still open");
        drop(s);
        a.mark_read(); // a PING answer
        assert!(matches!(a.next(&t, None), Next::At(_, Expiry::Idle)));
    }
}
