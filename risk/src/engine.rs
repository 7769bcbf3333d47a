//! The online risk engine: per-identity profiles, population statistics,
//! per-source counters, and the detections that turn them into a score.
//!
//! Every detection yields *evidence* `e ≥ 0` (roughly: nats of surprise,
//! tempered so one weak signal stays in the low band); the score is
//! `1 − exp(−Σe)`, so independent signals add up and the score stays in
//! [0, 1). A factor's reported weight is the score it would give alone.
//!
//! Learning is gated by the score: a request the engine found suspicious
//! teaches it little (a new network used by an attacker does not become
//! "familiar" by repetition), while a successful step-up ([`Engine::confirm`])
//! teaches it a lot.
//!
//! Cost: two short critical sections on one of 64 shard locks per request
//! (assess, then observe), a dozen keyed hashes computed once
//! ([`Engine::event_keys`]), no I/O and no allocation beyond the factor list.

use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use siphasher::sip::SipHasher13;

use crate::profile::{
    unix_day, Caps, Distinct, Place, Profile, SessionSeen, TopK, ESTABLISHED, HOURS_PER_WEEK,
};
use crate::{Event, Factor, Kind, RiskAssessment, Scorer};

/// Engine settings (`[risk]` in didgate.toml maps onto these).
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// Familiarity halves every this many days without being seen again.
    pub half_life_days: f64,
    /// Requests scoring below this teach the profile at full weight.
    pub learn_below: f64,
    /// An identity with fewer events than this is in cold start.
    pub cold_start_events: u64,
    /// Path prefixes that are sensitive (probing them is suspicious).
    pub sensitive_paths: Vec<String>,
    /// Key for the hashes that stand in for values in profiles. Gateways
    /// sharing one database must share it (the gateway keeps it there).
    pub hash_key: [u8; 16],
    /// Sources (client addresses) tracked for spray detection.
    pub max_sources: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            half_life_days: 14.0,
            learn_below: 0.5,
            cold_start_events: 30,
            sensitive_paths: default_sensitive_paths(),
            hash_key: *b"didgate-risk-v1!",
            max_sources: 65_536,
        }
    }
}

/// Paths whose probing is suspicious for anyone.
pub fn default_sensitive_paths() -> Vec<String> {
    [
        "/admin",
        "/api/admin",
        "/api/internal",
        "/internal",
        "/.env",
        "/.git",
        "/config",
        "/debug",
        "/actuator",
        "/server-status",
        "/wp-admin",
        "/phpmyadmin",
        "/backup",
        "/export",
        "/secrets",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Factor names: the strings policies match in `context.risk.factors`.
pub mod factors {
    pub const NEW_NETWORK: &str = "new_network";
    pub const NEW_COUNTRY: &str = "new_country";
    pub const NEW_DEVICE: &str = "new_device";
    pub const IMPOSSIBLE_TRAVEL: &str = "impossible_travel";
    pub const SESSION_HIJACK: &str = "session_hijack";
    pub const SPRAY_SOURCE: &str = "spray_source";
    pub const BURST: &str = "burst";
    pub const SCRAPING: &str = "scraping";
    pub const EXFILTRATION: &str = "exfiltration";
    pub const PROBING: &str = "probing";
    pub const SENSITIVE_PATH: &str = "sensitive_path";
    pub const UNUSUAL_HOUR: &str = "unusual_hour";
    pub const SERVICE_DRIFT: &str = "service_drift";
    pub const NEW_PATH: &str = "new_path";
    /// Every factor the engine can report.
    pub const ALL: &[&str] = &[
        NEW_NETWORK,
        NEW_COUNTRY,
        NEW_DEVICE,
        IMPOSSIBLE_TRAVEL,
        SESSION_HIJACK,
        SPRAY_SOURCE,
        BURST,
        SCRAPING,
        EXFILTRATION,
        PROBING,
        SENSITIVE_PATH,
        UNUSUAL_HOUR,
        SERVICE_DRIFT,
        NEW_PATH,
    ];
}

const SHARDS: usize = 64;
const MINUTE_MS: i64 = 60_000;
const WINDOW_MS: i64 = 5 * 60_000;
const SOURCE_WINDOW_MS: i64 = 10 * 60_000;
const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Decay is applied lazily, at most this often per profile.
const DECAY_EVERY_MS: i64 = 3_600_000;
/// Weight at which a value counts as fully familiar.
const FAMILIAR: f32 = 2.0;
const MAX_FACTORS: usize = 5;
/// The most a stranger value can learn from suspicious requests alone.
const SUSPECT_CEILING: f32 = 0.3;
/// What non-finite evidence counts as: the score of any total past it
/// rounds to 1.
const MAX_EVIDENCE: f64 = 20.0;

/// Feature tags, mixed into the hashes so feature spaces never collide.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Tag {
    Ip = 1,
    Prefix,
    Asn,
    Country,
    Agent,
    Tls,
    Device,
    Path,
    FullPath,
    Session,
    Source,
}

/// Population-wide counts: how many identities have each value in their
/// profile (a count-min sketch), so a first-seen value that is common
/// everywhere (the office NAT, the standard browser) weighs less than one
/// nobody uses.
struct Population {
    rows: Box<[AtomicU32]>,
    identities: AtomicU32,
}

const POP_DEPTH: usize = 4;
const POP_WIDTH: usize = 8_192;
const POP_PRIOR: u32 = 50;

impl Population {
    fn new() -> Self {
        Self {
            rows: (0..POP_DEPTH * POP_WIDTH)
                .map(|_| AtomicU32::new(0))
                .collect(),
            identities: AtomicU32::new(0),
        }
    }

    fn cells(key: u64) -> [usize; POP_DEPTH] {
        let mut out = [0; POP_DEPTH];
        let mut h = key;
        for (row, cell) in out.iter_mut().enumerate() {
            h = h.rotate_left(16) ^ (h >> 7).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            *cell = row * POP_WIDTH + (h as usize % POP_WIDTH);
        }
        out
    }

    fn add(&self, key: u64) {
        for c in Self::cells(key) {
            self.rows[c].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, key: u64) {
        for c in Self::cells(key) {
            let _ = self.rows[c].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
        }
    }

    /// Share of identities that have this value, in [0, 1]. A prior of
    /// [`POP_PRIOR`] identities keeps a small population (or one attacker
    /// warming a network up with a second account) from making a value look
    /// common.
    fn share(&self, key: u64) -> f32 {
        let ids = self
            .identities
            .load(Ordering::Relaxed)
            .saturating_add(POP_PRIOR);
        let min = Self::cells(key)
            .iter()
            .map(|&c| self.rows[c].load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        (min as f32 / ids as f32).min(1.0)
    }

    /// How rare a value is, in [0, 1]: 1 for a value nobody has, lower for
    /// one many identities share.
    fn rarity(&self, key: u64) -> f32 {
        1.0 - self.share(key).sqrt()
    }
}

/// Activity of one client address across identities (spray, stuffing).
#[derive(Clone, Copy, Default)]
struct SourceState {
    start_ms: i64,
    last_ms: i64,
    /// Subjects for which this source was unfamiliar.
    strangers: Distinct,
    events: u32,
    failures: u32,
}

/// The engine: shared by every request of a gateway (it is `Sync`).
pub struct Engine {
    config: RiskConfig,
    caps: Caps,
    shards: Box<[Mutex<Shard>]>,
    population: Population,
    sources: Box<[Mutex<HashMap<u64, SourceState>>]>,
    decay_per_ms: f64,
}

#[derive(Default)]
struct Shard {
    profiles: HashMap<Box<str>, Profile>,
    /// Subjects changed since the last `take_dirty`.
    dirty: Vec<Box<str>>,
}

/// An event's hashed features (opaque), from [`Engine::event_keys`].
pub struct EventKeys(Keys);

/// The hashed features of one event, computed once.
struct Keys {
    ip: u64,
    prefix: u64,
    asn: Option<u64>,
    asn_raw: u32,
    country: Option<u64>,
    agent: Option<u64>,
    tls: Option<u64>,
    device: Option<u64>,
    /// User agent + TLS + device id: "the device" for session checks.
    device_all: u64,
    path: Option<u64>,
    full_path: Option<u64>,
    session: Option<u64>,
    source: u64,
    sensitive: bool,
}

/// What the detections found, before it is turned into a score.
struct Evidence {
    items: [(&'static str, f64); 16],
    len: usize,
}

impl Evidence {
    fn new() -> Self {
        Self {
            items: [("", 0.0); 16],
            len: 0,
        }
    }

    fn add(&mut self, name: &'static str, e: f64) {
        // Evidence that is not a number comes from a computation gone wrong
        // (a corrupt baseline): it counts as maximal, never as none (fail
        // closed, as `RiskAssessment::clamp_score` does with NaN).
        let e = if e.is_finite() { e } else { MAX_EVIDENCE };
        if e <= 0.0 {
            return;
        }
        if let Some(it) = self.items[..self.len].iter_mut().find(|i| i.0 == name) {
            it.1 += e;
        } else if self.len < self.items.len() {
            self.items[self.len] = (name, e);
            self.len += 1;
        }
    }

    fn into_assessment(mut self, cold_start: bool) -> RiskAssessment {
        let items = &mut self.items[..self.len];
        let total: f64 = items.iter().map(|i| i.1).sum();
        items.sort_by(|a, b| b.1.total_cmp(&a.1));
        let factors = items
            .iter()
            .filter(|i| i.1 >= 0.05)
            .take(MAX_FACTORS)
            .map(|i| Factor {
                name: i.0,
                weight: round3(1.0 - (-i.1).exp()),
            })
            .collect();
        RiskAssessment {
            // Six decimals: readable, and few ties among high scores (the
            // ranking is what thresholds are chosen from).
            score: RiskAssessment::clamp_score(round6(1.0 - (-total).exp())),
            factors,
            cold_start,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Engine {
    pub fn new(config: RiskConfig) -> Self {
        let half_life_ms = (config.half_life_days.max(0.01) * 86_400_000.0).max(1.0);
        Self {
            decay_per_ms: std::f64::consts::LN_2 / half_life_ms,
            caps: Caps::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            population: Population::new(),
            sources: (0..16).map(|_| Mutex::new(HashMap::new())).collect(),
            config,
        }
    }

    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    fn hash(&self, tag: Tag, parts: &[&[u8]]) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.config.hash_key);
        h.write_u8(tag as u8);
        for p in parts {
            h.write_usize(p.len());
            h.write(p);
        }
        h.finish()
    }

    fn shard(&self, subject: &str) -> &Mutex<Shard> {
        let i = (self.hash(Tag::Source, &[subject.as_bytes()]) % SHARDS as u64) as usize;
        &self.shards[i]
    }

    fn keys(&self, ev: &Event<'_>) -> Keys {
        // Address, its /24 or /48 prefix, and the source for spray counting
        // (the address, or its /64 for IPv6), without allocating.
        let mut buf = [0u8; 16];
        let (ip_len, prefix_len, source_len) = match ev.ip {
            IpAddr::V4(v4) => {
                buf[..4].copy_from_slice(&v4.octets());
                (4, 3, 4)
            }
            IpAddr::V6(v6) => {
                buf = v6.octets();
                (16, 6, 8)
            }
        };
        let (ip_bytes, prefix_bytes, source_bytes) =
            (&buf[..ip_len], &buf[..prefix_len], &buf[..source_len]);
        // A missing user agent is a value too ("none"), so dropping the
        // header does not hide a new client; only the first 512 bytes count.
        let agent = {
            let ua = ev.user_agent.unwrap_or("");
            let ua = ua.get(..ua.len().min(512)).unwrap_or(ua);
            let (family, os) = agent_family(ua);
            Some(self.hash(Tag::Agent, &[family.as_bytes(), os.as_bytes()]))
        };
        let tls = ev.tls_fp.map(|t| self.hash(Tag::Tls, &[t.as_bytes()]));
        let device = ev
            .device_id
            .map(|d| self.hash(Tag::Device, &[d.as_bytes()]));
        let path = ev.path.map(|p| {
            let mut t = [""; 2];
            path_template(p, &mut t);
            self.hash(Tag::Path, &[t[0].as_bytes(), t[1].as_bytes()])
        });
        Keys {
            ip: self.hash(Tag::Ip, &[ip_bytes]),
            prefix: self.hash(Tag::Prefix, &[prefix_bytes]),
            asn: ev.asn.map(|a| self.hash(Tag::Asn, &[&a.to_be_bytes()])),
            asn_raw: ev.asn.unwrap_or(0),
            country: ev.country.map(|c| {
                let mut cc = [0u8; 8];
                let n = c.len().min(cc.len());
                cc[..n].copy_from_slice(&c.as_bytes()[..n]);
                cc.make_ascii_uppercase();
                self.hash(Tag::Country, &[&cc[..n]])
            }),
            agent,
            tls,
            device,
            device_all: agent.unwrap_or(0)
                ^ tls.unwrap_or(0).rotate_left(21)
                ^ device.unwrap_or(0).rotate_left(42),
            path,
            full_path: ev.path.map(|p| self.hash(Tag::FullPath, &[p.as_bytes()])),
            session: ev
                .session_id
                .map(|s| self.hash(Tag::Session, &[s.as_bytes()])),
            source: self.hash(Tag::Source, &[source_bytes]),
            sensitive: ev.path.is_some_and(|p| self.is_sensitive(p)),
        }
    }

    fn is_sensitive(&self, path: &str) -> bool {
        self.config.sensitive_paths.iter().any(|s| {
            path.len() >= s.len()
                && path.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
                && (path.len() == s.len() || matches!(path.as_bytes()[s.len()], b'/' | b'?' | b'.'))
        })
    }

    /// The event's hashed features, for the `*_keyed` calls: a caller that
    /// assesses, observes (and confirms) one event hashes it once.
    pub fn event_keys(&self, ev: &Event<'_>) -> EventKeys {
        EventKeys(self.keys(ev))
    }

    /// Assess, then learn: what an offline scorer does with each event.
    pub fn score(&self, ev: &Event<'_>) -> RiskAssessment {
        let keys = self.event_keys(ev);
        let a = self.assess_keyed(ev, &keys);
        self.observe_keyed(ev, &keys, &a);
        a
    }

    /// Score `ev` from what is known so far. Does not learn.
    pub fn assess(&self, ev: &Event<'_>) -> RiskAssessment {
        self.assess_keyed(ev, &self.event_keys(ev))
    }

    /// [`assess`](Self::assess) with keys from [`event_keys`](Self::event_keys).
    pub fn assess_keyed(&self, ev: &Event<'_>, keys: &EventKeys) -> RiskAssessment {
        let keys = &keys.0;
        let mut evidence = Evidence::new();
        let (cold, at_home) = {
            let shard = lock(self.shard(ev.subject));
            match shard.profiles.get(ev.subject) {
                Some(p) => {
                    let cold = p.events < self.config.cold_start_events;
                    self.profile_evidence(p, ev, keys, cold, &mut evidence);
                    let w = p.ips.weight(keys.ip).max(p.prefixes.weight(keys.prefix));
                    (cold, (w / FAMILIAR).min(1.0) as f64)
                }
                None => {
                    self.stranger_evidence(ev, keys, &mut evidence);
                    (true, 0.0)
                }
            }
        };
        self.source_evidence(ev, keys, at_home, &mut evidence);
        evidence.into_assessment(cold)
    }

    /// An identity never seen: only population rarity and sensitivity speak.
    fn stranger_evidence(&self, _ev: &Event<'_>, k: &Keys, out: &mut Evidence) {
        let pop = &self.population;
        let damp = 0.3;
        out.add(
            factors::NEW_NETWORK,
            damp * 0.6 * pop.rarity(k.prefix) as f64,
        );
        if let Some(c) = k.country {
            out.add(factors::NEW_COUNTRY, damp * 0.6 * pop.rarity(c) as f64);
        }
        if let Some(a) = k.agent {
            out.add(factors::NEW_DEVICE, damp * 0.4 * pop.rarity(a) as f64);
        }
        if k.sensitive {
            out.add(factors::SENSITIVE_PATH, 0.3);
        }
    }

    fn profile_evidence(
        &self,
        p: &Profile,
        ev: &Event<'_>,
        k: &Keys,
        cold: bool,
        out: &mut Evidence,
    ) {
        let pop = &self.population;
        let fam = |w: f32| (w / FAMILIAR).min(1.0) as f64;
        // Before an identity is known, familiarity carries little weight.
        let damp = if cold {
            (0.3 + 0.7 * p.events as f64 / self.config.cold_start_events.max(1) as f64).min(1.0)
        } else {
            1.0
        };

        // Network: address, prefix, ASN, country — the deepest familiar level wins.
        let f_ip = fam(p.ips.weight(k.ip));
        let f_pfx = fam(p.prefixes.weight(k.prefix)).max(f_ip);
        let new_pfx = 1.0 - f_pfx;
        let net = match k.asn {
            Some(a) => {
                let f_asn = fam(p.asns.weight(a)).max(f_pfx);
                0.2 * new_pfx + 0.6 * (1.0 - f_asn) * pop.rarity(a) as f64
            }
            None => 0.55 * new_pfx * pop.rarity(k.prefix) as f64,
        };
        out.add(factors::NEW_NETWORK, damp * net);
        if let Some(c) = k.country {
            let f_cc = fam(p.countries.weight(c)).max(f_pfx);
            out.add(
                factors::NEW_COUNTRY,
                damp * 0.7 * (1.0 - f_cc) * pop.rarity(c) as f64,
            );
        }

        // Device: user agent family/OS, TLS fingerprint, device id.
        let mut dev = 0.0;
        // How new the device is, whatever its population: the mean novelty
        // of the signals present.
        let (mut novelty, mut signals) = (0.0, 0.0);
        if let Some(a) = k.agent {
            let n = 1.0 - fam(p.agents.weight(a));
            dev += 0.45 * n * (0.3 + 0.7 * pop.rarity(a) as f64);
            (novelty, signals) = (novelty + n, signals + 1.0);
        }
        if let Some(t) = k.tls {
            let n = 1.0 - fam(p.tls.weight(t));
            dev += 0.35 * n * (0.3 + 0.7 * pop.rarity(t) as f64);
            (novelty, signals) = (novelty + n, signals + 1.0);
        }
        if let Some(d) = k.device {
            // Device ids are unique, so a new one is new everywhere; it
            // weighs less if the identity never presented one before.
            let had_ids = !p.devices.slots.is_empty();
            let n = 1.0 - fam(p.devices.weight(d));
            dev += if had_ids { 0.6 } else { 0.2 } * n;
            if had_ids {
                (novelty, signals) = (novelty + n, signals + 1.0);
            }
        }
        out.add(factors::NEW_DEVICE, damp * dev.min(1.2));
        // A new network *and* a new device together is the signature of a
        // takeover (travel keeps the device; a new phone keeps the network),
        // however common each is on its own.
        if signals > 0.0 {
            let joint = 0.4 * new_pfx * novelty / signals;
            out.add(factors::NEW_NETWORK, damp * joint / 2.0);
            out.add(factors::NEW_DEVICE, damp * joint / 2.0);
        }

        // Impossible travel from the last trustworthy location.
        if let (Some((lat, lon)), Some(place)) = (ev.location, p.place) {
            let km = haversine_km(place.lat as f64, place.lon as f64, lat, lon);
            let hours = ev.ts_ms.saturating_sub(place.ts_ms).max(60_000) as f64 / 3_600_000.0;
            let speed = km / hours;
            if km > 300.0 && speed > 900.0 {
                out.add(
                    factors::IMPOSSIBLE_TRAVEL,
                    1.4 + ((speed - 900.0) / 5_000.0).min(1.0),
                );
            }
        }

        // The same session from another network or device.
        if let Some(s) = k.session {
            if let Some(seen) = p
                .sessions
                .iter()
                .find(|x| x.key == s && ev.ts_ms.saturating_sub(x.last_ms) < SESSION_TTL_MS)
            {
                let mut e = 0.0;
                if seen.net != k.prefix {
                    // Mobile hand-over stays within the carrier's network.
                    let same_asn = seen.asn != 0 && seen.asn == k.asn_raw;
                    e += if same_asn { 0.15 } else { 1.5 };
                }
                if seen.device != k.device_all {
                    e += 1.5;
                }
                out.add(factors::SESSION_HIJACK, e);
            }
        }

        // Rate: this minute against the usual active minute.
        let minute_events = if ev.ts_ms.saturating_sub(p.minute_start_ms) < MINUTE_MS {
            p.minute_events.saturating_add(1)
        } else {
            1
        } as f32;
        if minute_events >= 20.0 {
            let z = p.per_minute.z(minute_events, 3.0, 20);
            out.add(factors::BURST, ((z - 4.0) / 6.0).clamp(0.0, 1.5) as f64);
        }

        // Breadth, volume and refusals in the current window.
        let in_window = ev.ts_ms.saturating_sub(p.window.start_ms) < WINDOW_MS;
        let w = if in_window {
            p.window
        } else {
            Default::default()
        };
        if let Some(fp) = k.full_path {
            // Grows gently with every new path past the usual breadth, so a
            // scraper crosses the step-up band before the refusal band.
            let distinct = w.paths.estimate_with(fp);
            if distinct >= 8.0 {
                let z = p.win_paths.z(distinct, 4.0, 20);
                out.add(factors::SCRAPING, (0.2 * (z - 3.0)).clamp(0.0, 2.5) as f64);
            }
        }
        let mb = w.bytes as f32 / 1_048_576.0;
        if mb >= 10.0 {
            let z = p.win_bytes.z(mb, 1.0, 20);
            out.add(
                factors::EXFILTRATION,
                ((z - 5.0) / 5.0 + 0.3).clamp(0.0, 1.5) as f64,
            );
        }
        if w.refusals >= 4 {
            let z = p.win_refusals.z(w.refusals as f32, 0.5, 20);
            // NaN (a corrupt baseline) counts as unusual: fail closed.
            if z.is_nan() || z > 3.0 {
                out.add(factors::PROBING, (0.12 * w.refusals as f64).min(1.5));
            }
        }

        // Paths: sensitive ones this identity never used, new ones for
        // identities that always do the same thing (services).
        if let Some(pk) = k.path {
            let f_path = fam(p.paths.weight(pk));
            if k.sensitive {
                out.add(factors::SENSITIVE_PATH, 0.45 * (1.0 - f_path));
                let distinct = k.full_path.map_or(0.0, |fp| w.sensitive.estimate_with(fp));
                if distinct >= 3.0 {
                    out.add(factors::PROBING, 0.3 * distinct.min(8.0) as f64);
                }
            }
            let steady = !cold
                && p.events >= 100
                && p.paths.concentration(3) >= 0.9
                && p.agents.slots.len() <= 1;
            if steady {
                out.add(factors::SERVICE_DRIFT, 1.3 * (1.0 - f_path));
                // A steady identity from a new network is drift too.
                out.add(factors::SERVICE_DRIFT, 0.5 * new_pfx);
            } else {
                out.add(
                    factors::NEW_PATH,
                    0.1 * (1.0 - f_path) * pop.rarity(pk) as f64,
                );
            }
        }

        // Time of week, once there is enough history to know the rhythm.
        let span_days = ev.ts_ms.saturating_sub(p.first_ms) as f64 / 86_400_000.0;
        if !cold && span_days >= 7.0 && p.n >= 50.0 {
            let h = hour_of_week(ev.ts_ms);
            let prev = p.hours[(h + HOURS_PER_WEEK - 1) % HOURS_PER_WEEK];
            let next = p.hours[(h + 1) % HOURS_PER_WEEK];
            // This hour (and half its neighbours) against a uniform week.
            let expected = p.hours.iter().sum::<f32>() / HOURS_PER_WEEK as f32;
            let local = (p.hours[h] + 0.5 * (prev + next)) / 2.0;
            let ratio = (local + 0.05 * expected) / expected.max(1e-3);
            if ratio < 0.15 {
                out.add(factors::UNUSUAL_HOUR, 0.45 * (1.0 - ratio as f64 / 0.15));
            }
        }
    }

    /// Spray from this request's source. `at_home` (0..1) is how familiar the
    /// source's network is to this identity: junk sent from a shared NAT or
    /// VPN exit must not push the people who work there into step-up.
    fn source_evidence(&self, ev: &Event<'_>, k: &Keys, at_home: f64, out: &mut Evidence) {
        let shard = lock(&self.sources[(k.source % self.sources.len() as u64) as usize]);
        let Some(s) = shard.get(&k.source) else {
            return;
        };
        if ev.ts_ms.saturating_sub(s.start_ms) >= SOURCE_WINDOW_MS {
            return;
        }
        let strangers = s.strangers.estimate();
        let fail_ratio = s.failures as f64 / s.events.max(1) as f64;
        let mut e = 0.0;
        if strangers >= 4.0 {
            e += 0.55 * (strangers as f64).ln() * (0.4 + 0.6 * fail_ratio);
        }
        if s.failures >= 10 {
            e += 0.3 * (s.failures as f64 / 5.0).ln();
        }
        out.add(factors::SPRAY_SOURCE, e.min(2.5) * (1.0 - 0.85 * at_home));
    }

    /// Learn from an answered event (`status` and `bytes` known).
    /// `assessed` is what [`assess`](Self::assess) said about it: suspicious
    /// requests teach familiarity at a fraction of the weight.
    pub fn observe(&self, ev: &Event<'_>, assessed: &RiskAssessment) {
        self.observe_keyed(ev, &self.event_keys(ev), assessed);
    }

    /// [`observe`](Self::observe) with keys from [`event_keys`](Self::event_keys).
    pub fn observe_keyed(&self, ev: &Event<'_>, keys: &EventKeys, assessed: &RiskAssessment) {
        let keys = &keys.0;
        // A refused suspicious request (the gateway stepped it up or denied
        // it) teaches no familiarity; one that went through (offline data,
        // or a policy that lets it pass) teaches a little.
        let refused = ev.status.is_some_and(|st| st == 401 || st == 403);
        let lw = if assessed.score < self.config.learn_below {
            1.0
        } else if refused {
            0.0
        } else if assessed.score < 0.8 {
            0.2
        } else {
            0.05
        };
        let stranger;
        {
            let mut shard = lock(self.shard(ev.subject));
            let shard = &mut *shard;
            let new_identity = !shard.profiles.contains_key(ev.subject);
            if new_identity {
                self.population.identities.fetch_add(1, Ordering::Relaxed);
            }
            let p = shard
                .profiles
                .entry(Box::from(ev.subject))
                .or_insert_with(|| Profile::new(ev.ts_ms));
            // Only an established identity reached from a source it never
            // used counts toward a spray (a new office onboarding many new
            // people behind one address is not one).
            stranger = p.events >= self.config.cold_start_events
                && p.ips.weight(keys.ip) < 1.0
                && p.prefixes.weight(keys.prefix) < 1.0;
            self.learn(p, ev, keys, lw);
            if !p.dirty {
                p.dirty = true;
                shard.dirty.push(Box::from(ev.subject));
            }
        }
        self.learn_source(ev, keys, stranger);
    }

    /// Add what the upstream answered to a request already observed (the
    /// gateway learns the status and size only after forwarding).
    pub fn record_outcome(&self, subject: &str, ts_ms: i64, status: u16, bytes: u64) {
        let mut shard = lock(self.shard(subject));
        let Some(p) = shard.profiles.get_mut(subject) else {
            return;
        };
        if ts_ms.saturating_sub(p.window.start_ms) < WINDOW_MS {
            p.window.bytes = p.window.bytes.saturating_add(bytes);
            if is_refusal(status) {
                p.window.refusals = p.window.refusals.saturating_add(1);
            }
        }
    }

    /// A successful step-up from this event's network and device: they are
    /// the identity's own.
    pub fn confirm(&self, ev: &Event<'_>) {
        self.confirm_keyed(ev, &self.event_keys(ev));
    }

    /// [`confirm`](Self::confirm) with keys from [`event_keys`](Self::event_keys).
    pub fn confirm_keyed(&self, ev: &Event<'_>, keys: &EventKeys) {
        let keys = &keys.0;
        let mut shard = lock(self.shard(ev.subject));
        let shard = &mut *shard;
        let Some(p) = shard.profiles.get_mut(ev.subject) else {
            return;
        };
        // Half familiar per step-up: it proves fresh possession of the
        // holder's key, not a second factor (see ARCHITECTURE.md).
        self.learn_values(p, keys, ESTABLISHED, f32::MAX, unix_day(ev.ts_ms), false);
        if let Some((lat, lon)) = ev.location {
            p.place = Some(Place {
                lat: lat as f32,
                lon: lon as f32,
                ts_ms: ev.ts_ms,
            });
        }
        if !p.dirty {
            p.dirty = true;
            shard.dirty.push(Box::from(ev.subject));
        }
    }

    /// A request from `ip` failed authentication (no verified subject): it
    /// counts toward spray detection for that source.
    pub fn observe_failed_authentication(&self, ip: IpAddr, ts_ms: i64) {
        let mut ev = Event::new(ts_ms, "", Kind::Login, ip);
        ev.status = Some(401);
        let keys = self.keys(&ev);
        self.learn_source(&ev, &keys, false);
    }

    /// Learn this event's values (its path too when `paths`).
    fn learn_values(&self, p: &mut Profile, k: &Keys, w: f32, ceiling: f32, day: u16, paths: bool) {
        let caps = &self.caps;
        for (t, key, cap) in [
            (&mut p.ips, Some(k.ip), caps.ips),
            (&mut p.prefixes, Some(k.prefix), caps.prefixes),
            (&mut p.asns, k.asn, caps.asns),
            (&mut p.countries, k.country, caps.countries),
            (&mut p.agents, k.agent, caps.agents),
            (&mut p.tls, k.tls, caps.tls),
            (&mut p.devices, k.device, caps.devices),
            (&mut p.paths, k.path.filter(|_| paths), caps.paths),
        ] {
            if let Some(key) = key {
                self.add_value(t, key, w, cap, ceiling, day);
            }
        }
    }

    /// Learn one value. Population statistics count a value for an identity
    /// once it is established there (so a spray from one source does not make
    /// that source look common).
    fn add_value(&self, t: &mut TopK, key: u64, w: f32, cap: usize, ceiling: f32, day: u16) {
        let change = t.add(key, w, cap, ceiling, day);
        if change.established {
            self.population.add(key);
        }
        if let Some(e) = change.evicted {
            self.population.remove(e);
        }
    }

    fn learn(&self, p: &mut Profile, ev: &Event<'_>, k: &Keys, lw: f32) {
        let caps = &self.caps;
        // Decay everything learned so far, lazily.
        let since_decay = ev.ts_ms.saturating_sub(p.decayed_ms);
        if since_decay >= DECAY_EVERY_MS {
            let f = (-(self.decay_per_ms * since_decay as f64)).exp() as f32;
            let mut unestablished = Vec::new();
            for t in p.tables_mut() {
                t.decay(f, &mut unestablished);
            }
            for key in unestablished {
                self.population.remove(key);
            }
            for h in &mut p.hours {
                *h *= f;
            }
            p.n *= f;
            p.decayed_ms = ev.ts_ms;
        }

        p.events = p.events.saturating_add(1);
        p.n += 1.0;
        p.last_ms = p.last_ms.max(ev.ts_ms);

        // What a suspicious request teaches about a stranger value is capped
        // per day it was seen; a refused one teaches nothing.
        if lw > 0.0 {
            let ceiling = if lw >= 1.0 { f32::MAX } else { SUSPECT_CEILING };
            self.learn_values(p, k, lw, ceiling, unix_day(ev.ts_ms), true);
            p.hours[hour_of_week(ev.ts_ms)] += lw;
        }

        if lw >= 0.3 {
            if let Some((lat, lon)) = ev.location {
                p.place = Some(Place {
                    lat: lat as f32,
                    lon: lon as f32,
                    ts_ms: ev.ts_ms,
                });
            }
        }

        if let Some(s) = k.session {
            match p.sessions.iter_mut().find(|x| x.key == s) {
                Some(x) => x.last_ms = ev.ts_ms,
                None => {
                    p.sessions
                        .retain(|x| ev.ts_ms.saturating_sub(x.last_ms) < SESSION_TTL_MS);
                    if p.sessions.len() >= caps.sessions {
                        if let Some((i, _)) =
                            p.sessions.iter().enumerate().min_by_key(|(_, x)| x.last_ms)
                        {
                            p.sessions.swap_remove(i);
                        }
                    }
                    p.sessions.push(SessionSeen {
                        key: s,
                        net: k.prefix,
                        asn: k.asn_raw,
                        device: k.device_all,
                        last_ms: ev.ts_ms,
                    });
                }
            }
        }

        // Per-minute rate.
        if ev.ts_ms.saturating_sub(p.minute_start_ms) >= MINUTE_MS {
            if p.minute_events > 0 {
                p.per_minute.update(p.minute_events as f32, 0.02);
            }
            p.minute_start_ms = ev.ts_ms;
            p.minute_events = 0;
        }
        p.minute_events = p.minute_events.saturating_add(1);

        // Five-minute window.
        if ev.ts_ms.saturating_sub(p.window.start_ms) >= WINDOW_MS {
            let w = p.window;
            if w.events > 0 {
                p.win_events.update(w.events as f32, 0.02);
                p.win_paths.update(w.paths.estimate(), 0.02);
                p.win_bytes.update(w.bytes as f32 / 1_048_576.0, 0.02);
                p.win_refusals.update(w.refusals as f32, 0.02);
            }
            p.window = Default::default();
            p.window.start_ms = ev.ts_ms;
        }
        let w = &mut p.window;
        w.events = w.events.saturating_add(1);
        if let Some(fp) = k.full_path {
            w.paths.insert(fp);
            if k.sensitive {
                w.sensitive.insert(fp);
            }
        }
        w.bytes = w.bytes.saturating_add(ev.bytes.unwrap_or(0));
        if ev.status.is_some_and(is_refusal) {
            w.refusals = w.refusals.saturating_add(1);
        }
    }

    fn learn_source(&self, ev: &Event<'_>, k: &Keys, stranger: bool) {
        let mut shard = lock(&self.sources[(k.source % self.sources.len() as u64) as usize]);
        let per_shard = (self.config.max_sources / self.sources.len()).max(16);
        if shard.len() >= per_shard && !shard.contains_key(&k.source) {
            // Forget the stalest sources (a flood of sources cannot hide one:
            // the busiest ones are the freshest).
            let cutoff = ev.ts_ms.saturating_sub(SOURCE_WINDOW_MS);
            shard.retain(|_, s| s.last_ms >= cutoff);
            if shard.len() >= per_shard {
                if let Some(oldest) = shard.iter().min_by_key(|(_, s)| s.last_ms).map(|(k, _)| *k) {
                    shard.remove(&oldest);
                }
            }
        }
        let s = shard.entry(k.source).or_default();
        if ev.ts_ms.saturating_sub(s.start_ms) >= SOURCE_WINDOW_MS {
            *s = SourceState {
                start_ms: ev.ts_ms,
                ..Default::default()
            };
        }
        s.last_ms = ev.ts_ms;
        s.events = s.events.saturating_add(1);
        // Failed authentications (logins, presentations that did not verify);
        // a policy refusal of an authenticated request is that identity's
        // business (probing), not the source's.
        if ev.kind == Kind::Login && ev.status.is_some_and(|st| st == 401 || st == 403) {
            s.failures = s.failures.saturating_add(1);
        }
        if stranger && !ev.subject.is_empty() {
            s.strangers
                .insert(self.hash(Tag::Source, &[ev.subject.as_bytes()]));
        }
    }

    /// Profiles changed since the last call, as (subject, last event ms,
    /// JSON), for the persistence task.
    pub fn take_dirty(&self) -> Vec<(String, i64, String)> {
        let mut out = Vec::new();
        let mut copies = Vec::new();
        for shard in self.shards.iter() {
            // Copy under the lock (a memcpy of a few KiB each), serialize
            // after releasing it: requests wait on these locks.
            {
                let mut shard = lock(shard);
                let shard = &mut *shard;
                for subject in std::mem::take(&mut shard.dirty) {
                    if let Some(p) = shard.profiles.get_mut(&subject) {
                        p.dirty = false;
                        copies.push((subject, p.clone()));
                    }
                }
            }
            for (subject, p) in copies.drain(..) {
                if let Ok(json) = serde_json::to_string(&p) {
                    out.push((subject.into_string(), p.last_ms, json));
                }
            }
        }
        out
    }

    /// Fold a stored profile (from this or a peer gateway) into memory.
    /// `now_ms` is this gateway's clock: no time in the stored copy is
    /// taken past it (a peer's clock may be ahead). A copy with values out
    /// of range is refused, and the identity keeps what is in memory (or
    /// starts afresh).
    pub fn merge_stored(&self, subject: &str, json: &str, now_ms: i64) -> Result<(), String> {
        let mut stored: Profile =
            serde_json::from_str(json).map_err(|e| format!("profile of {subject}: {e}"))?;
        if !stored.is_sane() {
            return Err(format!("profile of {subject}: out-of-range values"));
        }
        stored.clamp_times(now_ms);
        let mut shard = lock(self.shard(subject));
        match shard.profiles.get_mut(subject) {
            Some(p) => p.merge(&stored, &self.caps),
            None => {
                self.population.identities.fetch_add(1, Ordering::Relaxed);
                for t in stored.tables() {
                    for s in t.slots.iter().filter(|s| s.w >= ESTABLISHED) {
                        self.population.add(s.key);
                    }
                }
                shard.profiles.insert(Box::from(subject), stored);
            }
        }
        Ok(())
    }

    /// Identities in memory and the approximate size of their profiles in
    /// bytes (plus a fixed 128 KiB of population statistics).
    pub fn memory(&self) -> (usize, usize) {
        let mut n = 0;
        let mut bytes = 0;
        for shard in self.shards.iter() {
            let shard = lock(shard);
            n += shard.profiles.len();
            bytes += shard
                .profiles
                .iter()
                .map(|(k, p)| k.len() + p.size_bytes() + 16)
                .sum::<usize>();
        }
        (n, bytes)
    }
}

impl Scorer for Engine {
    fn name(&self) -> &'static str {
        "didgate"
    }

    fn score_and_learn(&mut self, event: &Event<'_>) -> RiskAssessment {
        self.score(event)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a profile half-updated in
    // a way that matters for scoring; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Statuses that count as refusals for probing. Not 401: for an
/// authenticated request that is a step-up, which the identity answers.
fn is_refusal(status: u16) -> bool {
    (403..=405).contains(&status)
}

/// Hour of the week, 0 = Monday 00:00 UTC.
fn hour_of_week(ts_ms: i64) -> usize {
    // 1970-01-01 was a Thursday: 72 hours after Monday 00:00.
    ((ts_ms.div_euclid(3_600_000) + 72).rem_euclid(HOURS_PER_WEEK as i64)) as usize
}

fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().min(1.0).asin()
}

/// The first two path segments, with id-like segments replaced by `*`:
/// `/api/orders/8812` and `/api/orders/9921` are one "place".
fn path_template<'a>(path: &'a str, out: &mut [&'a str; 2]) {
    let path = path.split(['?', '#']).next().unwrap_or("");
    for (slot, seg) in out
        .iter_mut()
        .zip(path.split('/').filter(|s| !s.is_empty()))
    {
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let id_like = digits * 2 >= seg.len()
            || (seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
        *slot = if id_like { "*" } else { seg };
    }
}

/// A user agent's family and operating system, ignoring versions (a browser
/// update is not a new device).
pub fn agent_family(ua: &str) -> (&'static str, &'static str) {
    let l = ua.as_bytes();
    // Case-insensitive substring test without allocating (needles are lowercase).
    let has = |needle: &str| {
        let n = needle.as_bytes();
        l.len() >= n.len() && l.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    };
    let starts = |prefix: &str| {
        l.len() >= prefix.len() && l[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    let family = if has("edg/") {
        "edge"
    } else if has("opr/") || has("opera") {
        "opera"
    } else if has("firefox/") {
        "firefox"
    } else if has("chrome/") || has("chromium/") || has("crios/") {
        "chrome"
    } else if has("safari/") {
        "safari"
    } else if starts("curl/") {
        "curl"
    } else if starts("wget/") {
        "wget"
    } else if has("okhttp") {
        "okhttp"
    } else if has("go-http-client") {
        "go"
    } else if has("python-requests") || has("python-urllib") || has("aiohttp") || has("httpx") {
        "python"
    } else if has("java/") || has("apache-httpclient") {
        "java"
    } else if has("node") || has("axios") || has("undici") {
        "node"
    } else if has("postman") {
        "postman"
    } else if l.is_empty() {
        "none"
    } else {
        "other"
    };
    let os = if has("windows") {
        "windows"
    } else if has("iphone") || has("ipad") || has("ios") {
        "ios"
    } else if has("mac os x") || has("macintosh") {
        "macos"
    } else if has("android") {
        "android"
    } else if has("cros") {
        "chromeos"
    } else if has("linux") || has("x11") {
        "linux"
    } else {
        "-"
    };
    (family, os)
}

#[cfg(test)]
mod tests;
