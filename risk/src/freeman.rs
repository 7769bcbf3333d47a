//! The Freeman et al. baseline: D. M. Freeman, S. Jain, M. Dürmuth,
//! B. Biggio, G. Giacinto, "Who Are You? A Statistical Approach to Measuring
//! User Authenticity", NDSS 2016.
//!
//! The score of an event `x` for user `u` is the likelihood ratio
//!
//! ```text
//! S_u(x) = p(u|attack) / p(u|legit) × Π_k p(x_k|attack) / p(x_k|u)
//! ```
//!
//! with the attack distribution of each feature approximated by the
//! population (global) distribution, `p(u|attack)` uniform over the known
//! users and `p(u|legit)` the user's share of the history (add-one smoothed,
//! so a never-seen subject gets a finite score). Two features, each a
//! hierarchy read coarse to fine, as in the paper:
//!
//! - network: country → ASN (or, without an ASN, the /24 or /48 prefix) → IP;
//! - user agent: OS → browser family and major version → full UA string.
//!
//! A hierarchical value's probability is the chain of its conditionals,
//! `p(IP) = p(CC) p(ASN|CC) p(IP|ASN)`, so the ratio for a feature is the
//! product of the per-level ratios.
//!
//! **Smoothing.** The paper smooths each user's estimate with the population
//! and backs off along the hierarchy; its exact formula could not be
//! retrieved while this was written, so this module implements the
//! following documented interpolated back-off (Witten–Bell style, where the
//! weight given to "something new" is the number of distinct values the
//! user has shown under that parent):
//!
//! ```text
//! attack:  a(x|P)   = (C(x) + T(P)·b) / (C(P) + T(P))            (b if C(P) = 0)
//! legit:   g(x|P)   = (C(x) + κ·b)    / (C(P) + κ)                κ = 0.1
//! user:    p_u(x|P) = (c_u(x) + t_u(P)·g(x|P)) / (c_u(P) + t_u(P))   (g if c_u(P) = 0)
//! ```
//!
//! `C`/`T` are population counts and distinct-children counts, `c_u`/`t_u`
//! the user's, `b` a uniform prior over the level's vocabulary. A value the
//! user has shown is cheap; a value new to the user costs about `(c_u(P)+t_u)/t_u`
//! at the first new level (large for a user with a steady history) and
//! nothing below it (the surprise is counted once); a value new to the
//! whole population costs extra through the attack side's Witten–Bell
//! weight, so common values (the office NAT, the current Chrome) score lower
//! than values nobody has shown.
//!
//! **Learning.** It learns online from every event it scores (requests as
//! well as logins), except failed authentications (`status` 401), which
//! are not legitimate history. An event joins the history [`DEFAULT_LAG_MS`]
//! (one hour) after it happened, as a periodically rebuilt login history
//! would have it: the paper scores each login against earlier history and
//! never adds its attack logins to it, whereas learning instantly lets an
//! attacker's first event vouch for the rest of the attack minutes later (a
//! value globally rare but shown by the user is this model's strongest sign
//! of legitimacy). [`Freeman::with_lag`] sets another lag (0: at once).
//!
//! The log-likelihood ratio is mapped to [0, 1] by a logistic curve; only
//! the ranking matters.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

use crate::{Event, Factor, RiskAssessment, Scorer};

/// Levels per feature hierarchy, coarse to fine.
const LEVELS: usize = 3;
/// Uniform priors `b` per level: network (country, ASN, IP) and user agent
/// (OS, browser, full string), roughly one over each vocabulary's size.
const NET_PRIOR: [f64; LEVELS] = [1.0 / 250.0, 1.0 / 2_000.0, 1.0 / 65_536.0];
const UA_PRIOR: [f64; LEVELS] = [1.0 / 16.0, 1.0 / 200.0, 1.0 / 5_000.0];
/// The legit back-off's pseudo-count κ.
const KAPPA: f64 = 0.1;
/// Log-likelihood ratios are divided by this before the logistic, so that
/// realistic ratios (up to a few hundred nats) stay distinguishable in f64.
const LOGIT_SCALE: f64 = 8.0;

/// Node keys are SipHash outputs already: hashing them again is wasted work.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// Counts of hierarchy nodes (a node is identified by the hash of its path
/// from the root) and of each node's distinct children.
#[derive(Default)]
struct Table {
    count: KeyMap,
    children: KeyMap,
}

impl Table {
    fn count(&self, key: u64) -> f64 {
        f64::from(self.count.get(&key).copied().unwrap_or(0))
    }

    fn children(&self, key: u64) -> f64 {
        f64::from(self.children.get(&key).copied().unwrap_or(0))
    }

    /// Count one observation of `path` (root first).
    fn add(&mut self, path: &[u64; LEVELS + 1]) {
        for (i, key) in path.iter().enumerate() {
            let c = self.count.entry(*key).or_insert(0);
            if *c == 0 && i > 0 {
                *self.children.entry(path[i - 1]).or_insert(0) += 1;
            }
            *c = c.saturating_add(1);
        }
    }
}

#[derive(Default)]
struct Profile {
    events: u64,
    table: Table,
}

/// How long an event waits before it joins the history (see the module
/// documentation).
pub const DEFAULT_LAG_MS: i64 = 60 * 60 * 1000;

type Paths = [[u64; LEVELS + 1]; 2];

/// The Freeman et al. (NDSS 2016) statistical model over the network and
/// user-agent hierarchies; see the module documentation.
pub struct Freeman {
    lag_ms: i64,
    ids: HashMap<String, usize>,
    profiles: Vec<Profile>,
    /// Scored events not yet learned: (time, profile, features).
    pending: VecDeque<(i64, usize, Paths)>,
    global: Table,
    total: u64,
}

impl Default for Freeman {
    fn default() -> Self {
        Self::new()
    }
}

impl Freeman {
    /// Learning from every event, an hour after it happened.
    pub fn new() -> Self {
        Self::with_lag(DEFAULT_LAG_MS)
    }

    /// Learning from every event `lag_ms` after it happened (0: at once).
    pub fn with_lag(lag_ms: i64) -> Self {
        Self {
            lag_ms: lag_ms.max(0),
            ids: HashMap::new(),
            profiles: Vec::new(),
            pending: VecDeque::new(),
            global: Table::default(),
            total: 0,
        }
    }

    fn profile(&self, subject: &str) -> Option<&Profile> {
        self.ids.get(subject).and_then(|&i| self.profiles.get(i))
    }

    /// The log-likelihood ratio of `event` and its per-feature parts
    /// (user term, network, user agent), from what was learned so far.
    fn log_ratio(&self, paths: &[[u64; LEVELS + 1]; 2], subject: &str) -> (f64, [f64; 3]) {
        let profile = self.profile(subject);
        let known_users = self.profiles.len() as f64 + if profile.is_some() { 0.0 } else { 1.0 };
        let n_u = profile.map_or(0.0, |p| p.events as f64);
        // p(u|attack) = 1/U; p(u|legit) = (n_u + 1) / (N + U).
        let user_term =
            (self.total as f64 + known_users).ln() - known_users.ln() - (n_u + 1.0).ln();
        let mut parts = [user_term, 0.0, 0.0];
        for (f, path) in paths.iter().enumerate() {
            let prior = if f == 0 { &NET_PRIOR } else { &UA_PRIOR };
            let mut sum = 0.0;
            for level in 0..LEVELS {
                let (parent, child) = (path[level], path[level + 1]);
                let b = prior[level];
                let c_parent = self.global.count(parent);
                let c_child = self.global.count(child);
                let t = self.global.children(parent);
                let attack = if c_parent == 0.0 {
                    b
                } else {
                    (c_child + t * b) / (c_parent + t)
                };
                let legit = (c_child + KAPPA * b) / (c_parent + KAPPA);
                let user = match profile {
                    Some(p) if p.table.count(parent) > 0.0 => {
                        let u_parent = p.table.count(parent);
                        let u_t = p.table.children(parent).max(1.0);
                        (p.table.count(child) + u_t * legit) / (u_parent + u_t)
                    }
                    _ => legit,
                };
                sum += attack.ln() - user.ln();
            }
            parts[f + 1] = sum;
        }
        (parts.iter().sum(), parts)
    }

    /// Queue an event for learning once the lag has passed.
    fn enqueue(&mut self, ts_ms: i64, subject: &str, paths: Paths) {
        let id = match self.ids.get(subject) {
            Some(&i) => i,
            None => {
                self.profiles.push(Profile::default());
                self.ids.insert(subject.to_owned(), self.profiles.len() - 1);
                self.profiles.len() - 1
            }
        };
        self.pending.push_back((ts_ms, id, paths));
    }

    /// Learn every queued event at least `lag_ms` older than `now_ms`.
    fn catch_up(&mut self, now_ms: i64) {
        while let Some(&(ts, id, paths)) = self.pending.front() {
            if ts.saturating_add(self.lag_ms) > now_ms {
                break;
            }
            self.pending.pop_front();
            let Some(profile) = self.profiles.get_mut(id) else {
                continue;
            };
            self.total += 1;
            profile.events += 1;
            for path in &paths {
                profile.table.add(path);
                self.global.add(path);
            }
        }
    }
}

impl Scorer for Freeman {
    fn name(&self) -> &'static str {
        "freeman"
    }

    fn score_and_learn(&mut self, event: &Event<'_>) -> RiskAssessment {
        self.catch_up(event.ts_ms);
        let paths = [network_path(event), agent_path(event.user_agent)];
        let cold_start = self.profile(event.subject).is_none_or(|p| p.events == 0);
        let (llr, parts) = self.log_ratio(&paths, event.subject);
        if event.status != Some(401) {
            self.enqueue(event.ts_ms, event.subject, paths);
            self.catch_up(event.ts_ms);
        }
        let score = RiskAssessment::clamp_score(logistic(llr / LOGIT_SCALE));
        let mut factors: Vec<Factor> = [
            ("freeman_user", parts[0]),
            ("freeman_network", parts[1]),
            ("freeman_user_agent", parts[2]),
        ]
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(name, v)| Factor {
            name,
            weight: RiskAssessment::clamp_score(1.0 - (-v / LOGIT_SCALE).exp()),
        })
        .collect();
        factors.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        RiskAssessment {
            score,
            factors,
            cold_start,
        }
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn hasher(parent: u64) -> SipHasher13 {
    let mut h = SipHasher13::new_with_keys(0x6672_6565_6d61_6e00, 0x6469_6467_6174_6500);
    h.write_u64(parent);
    h
}

fn node(parent: u64, value: &[u8]) -> u64 {
    let mut h = hasher(parent);
    h.write(value);
    h.finish()
}

fn node2(parent: u64, a: &[u8], b: &[u8]) -> u64 {
    let mut h = hasher(parent);
    h.write(a);
    h.write_u8(0xff);
    h.write(b);
    h.finish()
}

/// Root, country, ASN (or /24, /48 prefix), IP.
fn network_path(event: &Event<'_>) -> [u64; LEVELS + 1] {
    let root = node(0, b"network");
    let cc = node(root, event.country.unwrap_or("??").as_bytes());
    let mid = match (event.asn, event.ip) {
        (Some(asn), _) => node2(cc, b"asn", &asn.to_be_bytes()),
        (None, IpAddr::V4(v4)) => node2(cc, b"v4/24", &v4.octets()[..3]),
        (None, IpAddr::V6(v6)) => node2(cc, b"v6/48", &v6.octets()[..6]),
    };
    let ip = match event.ip {
        IpAddr::V4(v4) => node(mid, &v4.octets()),
        IpAddr::V6(v6) => node(mid, &v6.octets()),
    };
    [root, cc, mid, ip]
}

/// Root, OS, browser family and major version, full string.
fn agent_path(user_agent: Option<&str>) -> [u64; LEVELS + 1] {
    let root = node(0, b"user-agent");
    let ua = user_agent.unwrap_or("").trim();
    let parsed = parse_user_agent(ua);
    let os = node(root, parsed.os.as_bytes());
    let browser = node2(os, parsed.family.as_bytes(), parsed.major.as_bytes());
    let full = node(browser, ua.as_bytes());
    [root, os, browser, full]
}

/// A user agent reduced to what the hierarchy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedAgent<'a> {
    pub os: &'static str,
    pub family: &'a str,
    /// The major version ("" when unknown).
    pub major: &'a str,
}

/// Crude but deterministic user-agent parsing: the OS from the platform
/// comment, the browser family from the most specific product token
/// (Edge before Chrome before Safari), HTTP libraries by their product name.
pub fn parse_user_agent(ua: &str) -> ParsedAgent<'_> {
    let os = if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iOS") {
        "iOS"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") || ua.contains("X11") {
        "Linux"
    } else if ua.is_empty() {
        "none"
    } else {
        "other"
    };
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
    ];
    for (token, family) in BROWSERS {
        if let Some(major) = version_after(ua, token) {
            return ParsedAgent { os, family, major };
        }
    }
    if ua.contains("Safari/") {
        let major = version_after(ua, "Version/").unwrap_or("");
        return ParsedAgent {
            os,
            family: "Safari",
            major,
        };
    }
    // Libraries and tools: "curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0",
    // "python-requests/2.31.0": the first product token is the family.
    let first = ua.split_whitespace().next().unwrap_or("");
    let (family, version) = first.split_once('/').unwrap_or((first, ""));
    ParsedAgent {
        os,
        family,
        major: major_of(version),
    }
}

fn version_after<'a>(ua: &'a str, token: &str) -> Option<&'a str> {
    let at = ua.find(token)?;
    Some(major_of(&ua[at + token.len()..]))
}

fn major_of(version: &str) -> &str {
    let end = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    &version[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Kind;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0";

    fn ev<'a>(subject: &'a str, ip: &str, asn: Option<u32>, cc: &'a str, ua: &'a str) -> Event<'a> {
        let mut e = Event::new(0, subject, Kind::Login, ip.parse().unwrap());
        e.asn = asn;
        e.country = Some(cc);
        e.user_agent = Some(ua);
        e.status = Some(200);
        e
    }

    #[test]
    fn parses_common_agents() {
        let p = parse_user_agent(CHROME);
        assert_eq!((p.os, p.family, p.major), ("Windows", "Chrome", "130"));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68";
        assert_eq!(parse_user_agent(edge).family, "Edge");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1";
        let p = parse_user_agent(safari);
        assert_eq!((p.os, p.family, p.major), ("iOS", "Safari", "17"));
        let p = parse_user_agent("okhttp/4.12.0");
        assert_eq!((p.os, p.family, p.major), ("other", "okhttp", "4"));
        assert_eq!(
            parse_user_agent("Go-http-client/2.0").family,
            "Go-http-client"
        );
        assert_eq!(parse_user_agent("python-requests/2.31.0").major, "2");
        assert_eq!(parse_user_agent("").os, "none");
        assert_eq!(parse_user_agent(FIREFOX_LINUX).os, "Linux");
    }

    #[test]
    fn familiar_ip_and_agent_score_lower_than_new_country_and_agent() {
        let mut f = Freeman::with_lag(0);
        for i in 0..40 {
            let who = format!("did:example:{}", i % 8);
            let ip = format!("198.51.100.{}", i % 3);
            f.score_and_learn(&ev(&who, &ip, Some(3320), "DE", CHROME));
        }
        let familiar = f
            .score_and_learn(&ev(
                "did:example:1",
                "198.51.100.1",
                Some(3320),
                "DE",
                CHROME,
            ))
            .score;
        let stranger = f
            .score_and_learn(&ev(
                "did:example:1",
                "203.0.113.9",
                Some(14061),
                "NG",
                "python-requests/2.31.0",
            ))
            .score;
        assert!(familiar < stranger, "{familiar} !< {stranger}");
        assert!(stranger > 0.5);
    }

    #[test]
    fn a_value_common_in_the_population_scores_lower_than_a_rare_one() {
        let mut f = Freeman::with_lag(0);
        // The population works from the office NAT (AS 64500) with Firefox;
        // alice has only ever worked from home (AS 3320) with Chrome.
        for i in 0..200 {
            let who = format!("did:example:{}", i % 20);
            f.score_and_learn(&ev(&who, "192.0.2.10", Some(64500), "DE", FIREFOX_LINUX));
        }
        for _ in 0..20 {
            f.score_and_learn(&ev(
                "did:example:alice",
                "198.51.100.7",
                Some(3320),
                "DE",
                CHROME,
            ));
        }
        let llr = |ip: &str, asn: u32, ua: &str| {
            let e = ev("did:example:alice", ip, Some(asn), "DE", ua);
            f.log_ratio(&[network_path(&e), agent_path(e.user_agent)], e.subject)
                .0
        };
        // Networks new to alice: the one everybody uses against one nobody has.
        assert!(llr("192.0.2.10", 64500, CHROME) < llr("192.0.2.99", 64999, CHROME));
        // User agents new to alice: the population's browser against an odd one.
        let odd = "Mozilla/5.0 (X11; Linux x86_64) Odd/1.0";
        assert!(llr("198.51.100.7", 3320, FIREFOX_LINUX) < llr("198.51.100.7", 3320, odd));
        // And her own values are the cheapest of all.
        assert!(llr("198.51.100.7", 3320, CHROME) < llr("192.0.2.10", 64500, CHROME));
    }

    #[test]
    fn history_lags_behind_by_the_configured_delay() {
        let mut f = Freeman::new();
        let mut e = ev("did:example:x", "203.0.113.9", Some(14061), "NL", CHROME);
        for i in 0..20 {
            e.ts_ms = i * 60_000;
            f.score_and_learn(&e);
        }
        assert_eq!(f.total, 0, "nothing learned within the hour");
        e.ts_ms = DEFAULT_LAG_MS + 60_000;
        f.score_and_learn(&e);
        assert_eq!(f.total, 2);
        let mut now = Freeman::with_lag(0);
        now.score_and_learn(&e);
        assert_eq!(now.total, 1);
    }

    #[test]
    fn failed_logins_are_not_learned_and_never_panic() {
        let mut f = Freeman::with_lag(0);
        let mut e = ev("did:example:x", "2001:db8::1", None, "US", "curl/8.5.0");
        e.status = Some(401);
        e.country = None;
        e.user_agent = None;
        let r = f.score_and_learn(&e);
        assert!((0.0..=1.0).contains(&r.score) && r.cold_start);
        assert_eq!(f.total, 0);
        e.status = Some(200);
        f.score_and_learn(&e);
        assert_eq!(f.total, 1);
    }
}
