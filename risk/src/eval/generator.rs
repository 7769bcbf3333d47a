//! A seeded generator of labelled gateway traffic: an organisation's
//! employees and services going about their work, with attacks injected
//! after a warm-up so that profiles exist.
//!
//! Reproducible: one `StdRng` (rand 0.8, ChaCha12) per identity and one for
//! the attacks, all derived from the seed; no hash-map iteration reaches the
//! output; times are integer milliseconds. (Sampling uses `f64::ln`; a
//! platform whose libm differs in the last bit could in principle round one
//! millisecond differently.)

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::Size;
use crate::event::{EventRecord, Kind};

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// 2026-10-05T00:00:00Z, a Monday.
pub const START_MS: i64 = 1_791_158_400_000;
/// The share of the period before the first attack.
pub const WARMUP: f64 = 0.4;

/// The attacks the generator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Login from a new network and a new device, then requests.
    AccountTakeover,
    /// A victim's session id used concurrently from another network/device.
    SessionReplay,
    /// A login from a far country minutes after the victim's activity.
    ImpossibleTravel,
    /// One source trying many subjects, mostly failing (401) logins.
    CredentialSpray,
    /// An identity, from its usual context, fetching many distinct paths
    /// with large responses in a burst.
    Scraping,
    /// Many 403/404 on sensitive paths (/admin, /.env, /api/internal/...).
    PrivilegeProbing,
    /// A service identity at night on paths it never used, maybe from a new IP.
    ServiceMisuse,
}

impl AttackKind {
    pub const ALL: [AttackKind; 7] = [
        AttackKind::AccountTakeover,
        AttackKind::SessionReplay,
        AttackKind::ImpossibleTravel,
        AttackKind::CredentialSpray,
        AttackKind::Scraping,
        AttackKind::PrivilegeProbing,
        AttackKind::ServiceMisuse,
    ];

    /// A file-name-friendly name ("account-takeover").
    pub fn slug(self) -> &'static str {
        match self {
            AttackKind::AccountTakeover => "account-takeover",
            AttackKind::SessionReplay => "session-replay",
            AttackKind::ImpossibleTravel => "impossible-travel",
            AttackKind::CredentialSpray => "credential-spray",
            AttackKind::Scraping => "scraping",
            AttackKind::PrivilegeProbing => "privilege-probing",
            AttackKind::ServiceMisuse => "service-misuse",
        }
    }

    /// A human title ("Account takeover").
    pub fn title(self) -> &'static str {
        match self {
            AttackKind::AccountTakeover => "Account takeover",
            AttackKind::SessionReplay => "Stolen session replay",
            AttackKind::ImpossibleTravel => "Impossible travel",
            AttackKind::CredentialSpray => "Credential spray",
            AttackKind::Scraping => "Scraping / exfiltration",
            AttackKind::PrivilegeProbing => "Privilege probing",
            AttackKind::ServiceMisuse => "Off-hours service misuse",
        }
    }

    /// One line on what the generator does for this attack.
    pub fn description(self) -> &'static str {
        match self {
            AttackKind::AccountTakeover => "a `login` from a network and device the victim never used (hosting ASN abroad, or a residential proxy in the victim's country), with a browser or scripted user agent, then 5–25 requests mixing the victim's paths and sensitive ones",
            AttackKind::SessionReplay => "the victim's live `session_id` replayed from another network and TLS client (user agent and device id sometimes copied), requests only, overlapping the victim's own session",
            AttackKind::ImpossibleTravel => "a `login` from a country more than 5,000 km away 5–30 minutes after the victim's activity, with the victim's user agent string, then a few requests",
            AttackKind::CredentialSpray => "one hosting IP trying 15–60 subjects (some unknown) in minutes: `login` events, ~95% status 401",
            AttackKind::Scraping => "inside one of the victim's own sessions (same IP, device, session): 60–300 requests in minutes to distinct document/download paths with 1–30 MB responses",
            AttackKind::PrivilegeProbing => "inside one of the victim's own sessions: 20–60 requests in minutes to /admin/*, /.env, /api/internal/*, /actuator/* …, mostly 403/404",
            AttackKind::ServiceMisuse => "a service identity between 01:00 and 05:00 local time on HR/finance/admin paths it never used, half the time from a new hosting IP",
        }
    }
}

/// Which attack (and which instance of it) an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AttackLabel {
    pub kind: AttackKind,
    /// Numbered from 0 within its kind.
    pub instance: u32,
}

/// One generated event and its ground truth (`None`: benign).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledEvent {
    pub record: EventRecord,
    pub label: Option<AttackLabel>,
}

/// What a generated data set holds, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub employees: usize,
    pub services: usize,
    pub days: u32,
}

struct Dims {
    employees: usize,
    services: usize,
    days: i64,
    instances: u32,
    trip_share: f64,
}

fn dims(size: Size) -> Dims {
    match size {
        Size::Small => Dims {
            employees: 36,
            services: 4,
            days: 10,
            instances: 5,
            trip_share: 0.15,
        },
        Size::Full => Dims {
            employees: 360,
            services: 40,
            days: 30,
            instances: 20,
            trip_share: 0.12,
        },
    }
}

/// The population a size generates.
pub fn population(size: Size) -> Population {
    let d = dims(size);
    Population {
        employees: d.employees,
        services: d.services,
        days: d.days as u32,
    }
}

// ---------------------------------------------------------------- world --

struct Place {
    cc: &'static str,
    lat: f64,
    lon: f64,
    /// UTC offset in minutes (no DST: the period is short).
    tz: i64,
}

const PLACES: [Place; 20] = [
    Place {
        cc: "DE",
        lat: 52.52,
        lon: 13.40,
        tz: 60,
    }, // 0 Berlin (office)
    Place {
        cc: "GB",
        lat: 51.51,
        lon: -0.13,
        tz: 0,
    }, // 1 London (office)
    Place {
        cc: "US",
        lat: 40.71,
        lon: -74.01,
        tz: -300,
    }, // 2 New York (office)
    Place {
        cc: "IN",
        lat: 12.97,
        lon: 77.59,
        tz: 330,
    }, // 3 Bengaluru (office)
    Place {
        cc: "FR",
        lat: 48.86,
        lon: 2.35,
        tz: 60,
    }, // 4 Paris
    Place {
        cc: "US",
        lat: 37.77,
        lon: -122.42,
        tz: -480,
    }, // 5 San Francisco
    Place {
        cc: "JP",
        lat: 35.68,
        lon: 139.69,
        tz: 540,
    }, // 6 Tokyo
    Place {
        cc: "SG",
        lat: 1.35,
        lon: 103.82,
        tz: 480,
    }, // 7 Singapore
    Place {
        cc: "BR",
        lat: -23.55,
        lon: -46.63,
        tz: -180,
    }, // 8 São Paulo
    Place {
        cc: "AU",
        lat: -33.87,
        lon: 151.21,
        tz: 660,
    }, // 9 Sydney
    Place {
        cc: "ES",
        lat: 40.42,
        lon: -3.70,
        tz: 60,
    }, // 10 Madrid
    Place {
        cc: "NL",
        lat: 52.37,
        lon: 4.90,
        tz: 60,
    }, // 11 Amsterdam
    Place {
        cc: "CA",
        lat: 43.65,
        lon: -79.38,
        tz: -300,
    }, // 12 Toronto
    Place {
        cc: "AE",
        lat: 25.20,
        lon: 55.27,
        tz: 240,
    }, // 13 Dubai
    Place {
        cc: "RU",
        lat: 55.75,
        lon: 37.62,
        tz: 180,
    }, // 14 Moscow
    Place {
        cc: "NG",
        lat: 6.52,
        lon: 3.38,
        tz: 60,
    }, // 15 Lagos
    Place {
        cc: "VN",
        lat: 21.03,
        lon: 105.85,
        tz: 420,
    }, // 16 Hanoi
    Place {
        cc: "RO",
        lat: 44.43,
        lon: 26.10,
        tz: 120,
    }, // 17 Bucharest
    Place {
        cc: "CN",
        lat: 22.54,
        lon: 114.06,
        tz: 480,
    }, // 18 Shenzhen
    Place {
        cc: "IE",
        lat: 53.35,
        lon: -6.26,
        tz: 0,
    }, // 19 Dublin
];
const OFFICES: usize = 4;
/// Places employees travel to.
const TRAVEL: [usize; 14] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

struct Net {
    asn: u32,
    place: usize,
    /// IPv4 base (in the low 32 bits) or IPv6 /32 base.
    base: u128,
    span: u32,
    v6: bool,
}

impl Net {
    fn ip(&self, rng: &mut StdRng) -> String {
        let r = rng.gen_range(0..self.span.max(1));
        if self.v6 {
            let low: u64 = rng.gen();
            Ipv6Addr::from(self.base | (u128::from(r) << 80) | u128::from(low)).to_string()
        } else {
            Ipv4Addr::from((self.base as u32).wrapping_add(r)).to_string()
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    ((a as u128) << 24) | ((b as u128) << 16) | ((c as u128) << 8) | d as u128
}

struct World {
    nets: Vec<Net>,
    office: [usize; OFFICES],
    home_isps: [[usize; 2]; OFFICES],
    mobile: [usize; OFFICES],
    /// Per place: a residential ISP, a hotel network, an airport network.
    residential: Vec<usize>,
    hotel: Vec<usize>,
    airport: Vec<usize>,
    datacenters: Vec<usize>,
    hosting: Vec<usize>,
}

impl World {
    fn new() -> Self {
        let mut nets = Vec::new();
        let mut add = |asn, place, base, span, v6| {
            nets.push(Net {
                asn,
                place,
                base,
                span,
                v6,
            });
            nets.len() - 1
        };
        // Offices: a business line with a handful of NAT addresses.
        let office = [
            add(8881, 0, v4(62, 153, 12, 10), 3, false),
            add(5400, 1, v4(194, 72, 30, 4), 4, false),
            add(6461, 2, v4(64, 125, 88, 20), 3, false),
            add(9498, 3, v4(125, 16, 40, 2), 2, false),
        ];
        let home_isps = [
            [
                add(3320, 0, v4(87, 128, 0, 0), 65_536, false),
                add(3209, 0, v4(94, 134, 0, 0), 65_536, false),
            ],
            [
                add(2856, 1, v4(86, 128, 0, 0), 65_536, false),
                add(5089, 1, v4(82, 0, 0, 0), 65_536, false),
            ],
            [
                add(7922, 2, v4(73, 0, 0, 0), 65_536, false),
                add(701, 2, v4(71, 160, 0, 0), 65_536, false),
            ],
            [
                add(24560, 3, v4(122, 160, 0, 0), 65_536, false),
                add(24309, 3, v4(49, 207, 0, 0), 65_536, false),
            ],
        ];
        let mobile = [
            add(6805, 0, v4(176, 0, 0, 0), 1 << 20, false),
            add(12576, 1, v4(31, 94, 0, 0), 1 << 16, false),
            add(21928, 2, 0x2607_fb90_u128 << 96, 1 << 16, true),
            add(55836, 3, v4(49, 32, 0, 0), 1 << 20, false),
        ];
        let mut residential = Vec::new();
        let mut hotel = Vec::new();
        let mut airport = Vec::new();
        for p in 0..PLACES.len() {
            let k = p as u8;
            residential.push(add(
                30_000 + 7 * p as u32,
                p,
                v4(100 + k, 64, 0, 0),
                65_536,
                false,
            ));
            hotel.push(add(200_100 + p as u32, p, v4(45, 10 + k, 0, 0), 256, false));
            airport.push(add(200_500 + p as u32, p, v4(45, 100 + k, 8, 0), 64, false));
        }
        let datacenters = vec![
            add(16509, 2, v4(3, 80, 0, 0), 4096, false), // AWS us-east-1
            add(16509, 0, v4(3, 120, 0, 0), 4096, false), // AWS eu-central-1
            add(15169, 11, v4(34, 90, 0, 0), 4096, false), // GCP europe-west4
            add(8075, 19, v4(20, 50, 0, 0), 4096, false), // Azure North Europe
        ];
        let hosting = vec![
            add(14061, 11, v4(159, 223, 0, 0), 65_536, false), // DigitalOcean
            add(24940, 0, v4(95, 216, 0, 0), 65_536, false),   // Hetzner
            add(9009, 17, v4(185, 156, 0, 0), 4096, false),    // M247
            add(20473, 7, v4(45, 32, 0, 0), 65_536, false),    // Vultr
            add(49505, 14, v4(185, 22, 152, 0), 1024, false),  // Selectel
            add(45899, 16, v4(113, 160, 0, 0), 65_536, false), // VNPT
            add(29465, 15, v4(105, 112, 0, 0), 65_536, false), // MTN NG
            add(4134, 18, v4(116, 0, 0, 0), 65_536, false),    // Chinanet
            add(28573, 8, v4(177, 0, 0, 0), 65_536, false),    // Claro BR
        ];
        World {
            nets,
            office,
            home_isps,
            mobile,
            residential,
            hotel,
            airport,
            datacenters,
            hosting,
        }
    }
}

// -------------------------------------------------------------- clients --

/// (user agent, JA4-like TLS fingerprint) of a client build.
fn browser(rng: &mut StdRng, mobile: bool) -> (String, &'static str) {
    const CHROME_TLS: &str = "t13d1516h2_8daaf6152771_02713d6af862";
    const FIREFOX_TLS: &str = "t13d1715h2_5b57614c22b0_3d5424432f57";
    const SAFARI_TLS: &str = "t13d2014h2_a09f3c656075_14788d8d241b";
    let v = rng.gen_range(128..=131);
    if mobile {
        if rng.gen_bool(0.55) {
            let minor = rng.gen_range(4..=7);
            return (format!("Mozilla/5.0 (iPhone; CPU iPhone OS 17_{minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{minor} Mobile/15E148 Safari/604.1"), SAFARI_TLS);
        }
        let model = ["Pixel 8", "SM-S921B", "Pixel 7a"][rng.gen_range(0..3)];
        return (format!("Mozilla/5.0 (Linux; Android 14; {model}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"), CHROME_TLS);
    }
    match rng.gen_range(0..100) {
        0..=44 => (format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"), CHROME_TLS),
        45..=64 => (format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"), CHROME_TLS),
        65..=77 => {
            let minor = rng.gen_range(4..=6);
            (format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{minor} Safari/605.1.15"), SAFARI_TLS)
        }
        78..=89 => (format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.2849.68"), CHROME_TLS),
        _ => (format!("Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"), FIREFOX_TLS),
    }
}

const TOOLS: [(&str, &str); 5] = [
    ("okhttp/4.12.0", "t13d1812h2_e8a523a41297_8fc8e2126b1c"),
    ("Go-http-client/2.0", "t13d1311h2_f57a46bbacb6_e7c285222651"),
    (
        "python-requests/2.31.0",
        "t13d5911h1_a33745022dd6_1f22a2ca17c4",
    ),
    ("curl/8.5.0", "t13d3112h2_e8f1e7e78f70_6bebaf5329ac"),
    (
        "Apache-HttpClient/5.2.1 (Java/17.0.9)",
        "t13d1715h2_5b57614c22b0_7121afd63204",
    ),
];

fn hex(rng: &mut StdRng, n: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| char::from(DIGITS[rng.gen_range(0..16)]))
        .collect()
}

fn did_key(rng: &mut StdRng) -> String {
    const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let tail: String = (0..44)
        .map(|_| char::from(B58[rng.gen_range(0..B58.len())]))
        .collect();
    format!("did:key:z6Mk{tail}")
}

/// Exponential with the given mean (ms), clamped.
fn exp_ms(rng: &mut StdRng, mean: f64, min: i64, max: i64) -> i64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    ((-u.ln() * mean) as i64).clamp(min, max)
}

/// Log-normal around `median` with log-sd `sigma` (Box–Muller).
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> u64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (median * (sigma * z).exp()).clamp(0.0, 1e12) as u64
}

fn km(a: &Place, b: &Place) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

// ---------------------------------------------------------------- paths --

const TEAMS: [&str; 6] = ["eng", "finance", "sales", "hr", "support", "ops"];
const COMMON: [&str; 6] = [
    "/api/me",
    "/api/calendar",
    "/api/notifications",
    "/app",
    "/app/assets/main.js",
    "/api/search",
];

/// A team's area: a few dozen paths.
fn team_paths(team: usize) -> Vec<String> {
    let t = TEAMS[team % TEAMS.len()];
    let mut v = vec![
        format!("/api/{t}/dashboard"),
        format!("/api/{t}/items"),
        format!("/api/{t}/reports"),
        format!("/api/{t}/search"),
        format!("/app/{t}"),
    ];
    for n in 1..=30 {
        v.push(format!("/api/{t}/items/{}", 1000 + n * 37));
    }
    for m in 1..=12 {
        v.push(format!("/api/{t}/reports/2026-{m:02}"));
    }
    v
}

/// Method, typical response size, for a path (deterministic).
fn path_shape(path: &str) -> (&'static str, f64) {
    let h = path
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let method = if path.ends_with("/items") && h % 3 == 0 {
        "POST"
    } else if h % 17 == 0 {
        "PUT"
    } else {
        "GET"
    };
    let size = if path.ends_with(".js") {
        180_000.0
    } else if path.contains("/reports/") {
        40_000.0 + f64::from(h % 60_000)
    } else {
        1_500.0 + f64::from(h % 12_000)
    };
    (method, size)
}

const SENSITIVE: [&str; 24] = [
    "/admin",
    "/admin/users",
    "/admin/config",
    "/admin/roles",
    "/admin/audit",
    "/.env",
    "/.git/config",
    "/api/internal/metrics",
    "/api/internal/debug",
    "/api/internal/users/export",
    "/api/internal/keys",
    "/api/internal/config",
    "/actuator/env",
    "/actuator/heapdump",
    "/wp-admin/",
    "/server-status",
    "/api/v1/admin/roles",
    "/phpinfo.php",
    "/config.json",
    "/backup.sql",
    "/api/admin/tokens",
    "/api/finance/export",
    "/api/hr/payroll",
    "/console",
];

const SERVICE_PATHS: [(&str, &str, f64); 10] = [
    ("POST", "/api/v1/events", 400.0),
    ("POST", "/api/v1/metrics", 250.0),
    ("GET", "/api/v1/inventory/sync", 24_000.0),
    ("GET", "/api/v1/orders", 9_000.0),
    ("GET", "/api/v1/health", 60.0),
    ("GET", "/api/billing/invoices", 16_000.0),
    ("POST", "/api/v1/users/sync", 1_200.0),
    ("GET", "/api/v1/catalog", 52_000.0),
    ("PUT", "/api/v1/tickets/status", 300.0),
    ("GET", "/api/v1/config", 2_000.0),
];

const MISUSE_PATHS: [&str; 10] = [
    "/api/hr/employees",
    "/api/hr/payroll/2026-10",
    "/api/finance/ledger/export",
    "/api/admin/tokens",
    "/api/eng/secrets",
    "/api/admin/users",
    "/api/sales/customers/export",
    "/api/internal/keys",
    "/api/v1/users/export",
    "/api/finance/payments",
];

// -------------------------------------------------------------- drafting --

/// Where and with what an identity connects.
#[derive(Clone)]
struct Ctx {
    ip: String,
    net: usize,
    ua: String,
    tls: String,
    device: Option<String>,
}

struct Draft {
    ts: i64,
    seq: u64,
    record: EventRecord,
    label: Option<AttackLabel>,
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes: u64,
}

struct Out<'w> {
    world: &'w World,
    drafts: Vec<Draft>,
    seq: u64,
}

impl Out<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ts: i64,
        subject: &str,
        ctx: &Ctx,
        session: Option<&str>,
        auth: Option<&str>,
        req: Option<Req<'_>>,
        login_status: u16,
        label: Option<AttackLabel>,
    ) {
        let net = &self.world.nets[ctx.net];
        let place = &PLACES[net.place];
        let (kind, method, path, status, bytes) = match req {
            Some(r) => (
                Kind::Request,
                Some(r.method.to_owned()),
                Some(r.path.to_owned()),
                Some(r.status),
                Some(r.bytes),
            ),
            None => (Kind::Login, None, None, Some(login_status), None),
        };
        self.seq += 1;
        self.drafts.push(Draft {
            ts,
            seq: self.seq,
            record: EventRecord {
                ts: rfc3339_ms(ts),
                subject: subject.to_owned(),
                kind,
                ip: ctx.ip.clone(),
                asn: Some(net.asn),
                country: Some(place.cc.to_owned()),
                lat: Some(place.lat),
                lon: Some(place.lon),
                user_agent: Some(ctx.ua.clone()),
                tls_fp: Some(ctx.tls.clone()),
                device_id: ctx.device.clone(),
                session_id: session.map(str::to_owned),
                auth_method: auth.map(str::to_owned),
                method,
                path,
                status,
                bytes,
            },
            label,
        });
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (civil-from-days,
/// H. Hinnant), so no formatting can fail.
fn rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(DAY);
    let rem = ms.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / HOUR,
        rem % HOUR / MIN,
        rem % MIN / SEC,
        rem % SEC
    )
}

// ------------------------------------------------------------ employees --

struct Device {
    ua: String,
    tls: &'static str,
    id: String,
    mobile: bool,
}

struct Employee {
    subject: String,
    office: usize,
    team: usize,
    devices: Vec<Device>,
    home_isp: usize,
    remote: f64,
    /// (first day, days, destination place)
    trip: Option<(i64, i64, usize)>,
    /// Personal paths with weights (Zipf-like).
    paths: Vec<(String, f64)>,
}

/// A benign employee session, for attacks that need a victim's context.
#[derive(Clone)]
struct Session {
    who: usize,
    id: String,
    start: i64,
    end: i64,
    ctx: Ctx,
}

fn make_employee(world: &World, rng: &mut StdRng, dims: &Dims) -> Employee {
    let office = rng.gen_range(0..OFFICES);
    let team = rng.gen_range(0..TEAMS.len());
    let mut devices = Vec::new();
    let (ua, tls) = browser(rng, false);
    devices.push(Device {
        ua,
        tls,
        id: format!("d-{}", hex(rng, 12)),
        mobile: false,
    });
    if rng.gen_bool(0.6) {
        let (ua, tls) = browser(rng, true);
        devices.push(Device {
            ua,
            tls,
            id: format!("d-{}", hex(rng, 12)),
            mobile: true,
        });
    }
    let home_isp = world.home_isps[office][rng.gen_range(0..2)];
    let trip = if rng.gen_bool(dims.trip_share) {
        let days = rng.gen_range(2..=4);
        let first = rng.gen_range(1..(dims.days - days).max(2));
        let mut dest = TRAVEL[rng.gen_range(0..TRAVEL.len())];
        if dest == office {
            dest = TRAVEL[(office + 4 + rng.gen_range(0..8)) % TRAVEL.len()];
        }
        Some((first, days, dest))
    } else {
        None
    };
    let area = team_paths(team);
    let mut paths: Vec<(String, f64)> = COMMON
        .iter()
        .take(rng.gen_range(3..=COMMON.len()))
        .map(|p| (p.to_string(), 0.0))
        .collect();
    for _ in 0..rng.gen_range(6..=14) {
        let p = &area[rng.gen_range(0..area.len())];
        if !paths.iter().any(|(q, _)| q == p) {
            paths.push((p.clone(), 0.0));
        }
    }
    for (i, (_, w)) in paths.iter_mut().enumerate() {
        *w = 1.0 / (i as f64 + 1.0);
    }
    Employee {
        subject: did_key(rng),
        office,
        team,
        devices,
        home_isp,
        remote: rng.gen_range(0.1..0.6),
        trip,
        paths,
    }
}

fn pick_path(rng: &mut StdRng, paths: &[(String, f64)]) -> usize {
    let total: f64 = paths.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
    for (i, (_, w)) in paths.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    paths.len().saturating_sub(1)
}

/// One employee's benign traffic over the period.
fn employee_traffic(
    out: &mut Out<'_>,
    rng: &mut StdRng,
    who: usize,
    e: &mut Employee,
    dims: &Dims,
    sessions: &mut Vec<Session>,
) {
    let world = out.world;
    let area = team_paths(e.team);
    let mut home_ip = world.nets[e.home_isp].ip(rng);
    for day in 0..dims.days {
        if rng.gen_bool(0.03) {
            home_ip = world.nets[e.home_isp].ip(rng); // DHCP re-lease
        }
        let weekday = day % 7 < 5;
        let trip = e
            .trip
            .filter(|(first, n, _)| day >= *first && day < first + n);
        let place = trip.map_or(e.office, |(_, _, dest)| dest);
        let local_midnight = START_MS + day * DAY - PLACES[place].tz * MIN;
        let laptop = 0;
        let phone = e.devices.iter().position(|d| d.mobile);

        if let Some((first, _, dest)) = trip {
            if day == first {
                // Departure from the home airport in the morning, arrival
                // after a plausible flight, work from the hotel that evening.
                let origin = e.office;
                let dep_local = START_MS + day * DAY - PLACES[origin].tz * MIN
                    + 6 * HOUR
                    + rng.gen_range(0..3 * HOUR);
                let dev = phone.unwrap_or(laptop);
                let ctx = ctx_at(world, rng, world.airport[origin], &e.devices[dev]);
                session(out, rng, who, e, &area, &ctx, dep_local, 3, 8, sessions);
                let flight =
                    ((km(&PLACES[origin], &PLACES[dest]) / 850.0 + 1.5) * HOUR as f64) as i64;
                let arrive = dep_local + 45 * MIN + flight;
                let ctx = ctx_at(world, rng, world.airport[dest], &e.devices[dev]);
                session(
                    out,
                    rng,
                    who,
                    e,
                    &area,
                    &ctx,
                    arrive + 20 * MIN,
                    2,
                    6,
                    sessions,
                );
                let ctx = ctx_at(world, rng, world.hotel[dest], &e.devices[laptop]);
                session(
                    out,
                    rng,
                    who,
                    e,
                    &area,
                    &ctx,
                    arrive + 2 * HOUR,
                    8,
                    30,
                    sessions,
                );
                continue;
            }
        }

        if weekday && !rng.gen_bool(0.04) {
            let (net, ip) = if trip.is_some() {
                let n = world.hotel[place];
                (n, world.nets[n].ip(rng))
            } else if rng.gen_bool(e.remote) {
                (e.home_isp, home_ip.clone())
            } else {
                let n = world.office[e.office];
                (n, world.nets[n].ip(rng))
            };
            let start = local_midnight + 8 * HOUR + rng.gen_range(0..2 * HOUR);
            let span = 7 * HOUR + rng.gen_range(0..3 * HOUR);
            let n_sessions = match rng.gen_range(0..100) {
                0..=44 => 1,
                45..=84 => 2,
                _ => 3,
            };
            let mut starts: Vec<i64> = (0..n_sessions)
                .map(|i| start + i * span / n_sessions + rng.gen_range(0..span / n_sessions / 2))
                .collect();
            starts.sort_unstable();
            for s in starts {
                let dev = &e.devices[laptop];
                let ctx = Ctx {
                    ip: ip.clone(),
                    net,
                    ua: dev.ua.clone(),
                    tls: dev.tls.to_owned(),
                    device: Some(dev.id.clone()),
                };
                session(out, rng, who, e, &area, &ctx, s, 8, 45, sessions);
            }
        }
        // Evenings and weekends: short sessions, from the phone on the
        // carrier network or the laptop at home.
        let p_evening = if weekday { 0.08 } else { 0.06 };
        if rng.gen_bool(p_evening) {
            let t = local_midnight + 18 * HOUR + rng.gen_range(0..4 * HOUR);
            let ctx = match (phone, trip) {
                (Some(p), None) if rng.gen_bool(0.7) => {
                    ctx_at(world, rng, world.mobile[e.office], &e.devices[p])
                }
                (_, Some(_)) => ctx_at(world, rng, world.hotel[place], &e.devices[laptop]),
                _ => Ctx {
                    ip: home_ip.clone(),
                    net: e.home_isp,
                    ua: e.devices[laptop].ua.clone(),
                    tls: e.devices[laptop].tls.to_owned(),
                    device: Some(e.devices[laptop].id.clone()),
                },
            };
            session(out, rng, who, e, &area, &ctx, t, 2, 10, sessions);
        }
    }
}

fn ctx_at(world: &World, rng: &mut StdRng, net: usize, dev: &Device) -> Ctx {
    Ctx {
        ip: world.nets[net].ip(rng),
        net,
        ua: dev.ua.clone(),
        tls: dev.tls.to_owned(),
        device: Some(dev.id.clone()),
    }
}

/// A login followed by `min..=max` requests.
#[allow(clippy::too_many_arguments)]
fn session(
    out: &mut Out<'_>,
    rng: &mut StdRng,
    who: usize,
    e: &mut Employee,
    area: &[String],
    ctx: &Ctx,
    start: i64,
    min: u32,
    max: u32,
    sessions: &mut Vec<Session>,
) {
    let id = format!("s-{}", hex(rng, 16));
    let mut t = start;
    if rng.gen_bool(0.02) {
        // A mistyped PIN / expired credential, then the retry.
        out.push(t, &e.subject, ctx, None, Some("vp_jwt"), None, 401, None);
        t += rng.gen_range(5 * SEC..40 * SEC);
    }
    out.push(
        t,
        &e.subject,
        ctx,
        Some(&id),
        Some("vp_jwt"),
        None,
        200,
        None,
    );
    let n = rng.gen_range(min..=max);
    for _ in 0..n {
        t += exp_ms(rng, 75.0 * SEC as f64, SEC, 20 * MIN);
        let roll: f64 = rng.gen();
        let (path, foreign) = if roll < 0.04 {
            // A new path in the team's area, which becomes a habit.
            let p = area[rng.gen_range(0..area.len())].clone();
            if !e.paths.iter().any(|(q, _)| *q == p) {
                e.paths.push((p.clone(), 0.3));
            }
            (p, false)
        } else if roll < 0.05 {
            let other = team_paths(rng.gen_range(0..TEAMS.len()));
            (other[rng.gen_range(0..other.len())].clone(), true)
        } else {
            let i = pick_path(rng, &e.paths);
            (
                e.paths
                    .get(i)
                    .map_or("/api/me", |(p, _)| p.as_str())
                    .to_owned(),
                false,
            )
        };
        let (method, size) = path_shape(&path);
        let status = match rng.gen_range(0..1000) {
            _ if foreign && rng.gen_bool(0.5) => 403,
            0..=14 => 404,
            15..=19 => 403,
            20..=21 => 500,
            22..=41 if method == "GET" => 304,
            _ => 200,
        };
        let bytes = match status {
            200 => lognormal(rng, size, 0.5),
            304 => 0,
            _ => rng.gen_range(80..400),
        };
        let req = Req {
            method,
            path: &path,
            status,
            bytes,
        };
        out.push(t, &e.subject, ctx, Some(&id), None, Some(req), 0, None);
    }
    sessions.push(Session {
        who,
        id,
        start,
        end: t,
        ctx: ctx.clone(),
    });
}

// ------------------------------------------------------------- services --

struct Service {
    subject: String,
    net: usize,
    ips: Vec<String>,
    ua: &'static str,
    tls: &'static str,
    paths: Vec<(&'static str, &'static str, f64)>,
    mean_gap: f64,
}

fn make_service(world: &World, rng: &mut StdRng, i: usize) -> Service {
    const NAMES: [&str; 10] = [
        "billing",
        "inventory",
        "notifier",
        "reporting",
        "crm-sync",
        "etl",
        "search-indexer",
        "backup",
        "ticketing",
        "metrics",
    ];
    let net = world.datacenters[rng.gen_range(0..world.datacenters.len())];
    let ips = (0..rng.gen_range(1..=2))
        .map(|_| world.nets[net].ip(rng))
        .collect();
    let (ua, tls) = TOOLS[rng.gen_range(0..3)];
    let mut paths = Vec::new();
    for _ in 0..rng.gen_range(2..=5) {
        let p = SERVICE_PATHS[rng.gen_range(0..SERVICE_PATHS.len())];
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    Service {
        subject: format!("did:web:svc.corp.example:{}-{i}", NAMES[i % NAMES.len()]),
        net,
        ips,
        ua,
        tls,
        paths,
        mean_gap: rng.gen_range(90.0..420.0) * SEC as f64,
    }
}

fn service_traffic(out: &mut Out<'_>, rng: &mut StdRng, s: &Service, dims: &Dims) {
    let end = START_MS + dims.days * DAY;
    let mut t = START_MS + rng.gen_range(0..10 * MIN);
    let mut token_expiry = t;
    let mut session = String::new();
    let mut ctx = Ctx {
        ip: s.ips.first().cloned().unwrap_or_default(),
        net: s.net,
        ua: s.ua.to_owned(),
        tls: s.tls.to_owned(),
        device: None,
    };
    while t < end {
        if t >= token_expiry {
            ctx.ip = s.ips[rng.gen_range(0..s.ips.len())].clone();
            session = format!("s-{}", hex(rng, 16));
            out.push(
                t,
                &s.subject,
                &ctx,
                Some(&session),
                Some("vp_jwt"),
                None,
                200,
                None,
            );
            token_expiry = t + HOUR;
            t += rng.gen_range(50..400);
        }
        let (method, path, size) = s.paths[rng.gen_range(0..s.paths.len())];
        let status = match rng.gen_range(0..1000) {
            0..=2 => 503,
            3..=4 => 429,
            _ => 200,
        };
        let bytes = if status == 200 {
            lognormal(rng, size, 0.25)
        } else {
            120
        };
        let req = Req {
            method,
            path,
            status,
            bytes,
        };
        out.push(
            t,
            &s.subject,
            &ctx,
            Some(&session),
            None,
            Some(req),
            0,
            None,
        );
        t += exp_ms(rng, s.mean_gap, 200, 2 * HOUR);
    }
}

// -------------------------------------------------------------- attacks --

struct Cast<'a> {
    employees: &'a [Employee],
    services: &'a [Service],
    sessions: &'a [Session],
}

fn hostile_ctx(world: &World, rng: &mut StdRng, victim_office: usize) -> Ctx {
    let net = if rng.gen_bool(0.3) {
        // A residential proxy in the victim's own country.
        world.home_isps[victim_office][rng.gen_range(0..2)]
    } else {
        world.hosting[rng.gen_range(0..world.hosting.len())]
    };
    let (ua, tls) = match rng.gen_range(0..10) {
        0..=4 => {
            let (ua, tls) = browser(rng, false);
            // A real browser's string, sometimes over a scripted TLS stack.
            let tls = if rng.gen_bool(0.3) { TOOLS[2].1 } else { tls };
            (ua, tls.to_owned())
        }
        5..=7 => {
            let mobile = rng.gen_bool(0.3);
            let (ua, tls) = browser(rng, mobile);
            (ua, tls.to_owned())
        }
        _ => {
            let (ua, tls) = TOOLS[2 + rng.gen_range(0..2)];
            (ua.to_owned(), tls.to_owned())
        }
    };
    Ctx {
        ip: world.nets[net].ip(rng),
        net,
        ua,
        tls,
        device: rng.gen_bool(0.7).then(|| format!("d-{}", hex(rng, 12))),
    }
}

/// A victim session: a random one of those starting within 12 hours after
/// `t` and lasting at least `min_len`, not attacked before (else the first
/// such session after `t`, else before it).
fn pick_session<'a>(
    sessions: &'a [Session],
    t: i64,
    min_len: i64,
    rng: &mut StdRng,
    used: &mut BTreeSet<usize>,
) -> Option<&'a Session> {
    let ok = |i: &usize| sessions[*i].end - sessions[*i].start >= min_len && !used.contains(i);
    let from = sessions.partition_point(|s| s.start < t);
    let to = sessions.partition_point(|s| s.start < t + 12 * HOUR);
    let near: Vec<usize> = (from..to).filter(ok).collect();
    let chosen = if near.is_empty() {
        (from..sessions.len()).chain((0..from).rev()).find(ok)
    } else {
        Some(near[rng.gen_range(0..near.len())])
    };
    let i = chosen?;
    used.insert(i);
    sessions.get(i)
}

#[allow(clippy::too_many_arguments)]
fn attack_requests(
    out: &mut Out<'_>,
    rng: &mut StdRng,
    subject: &str,
    ctx: &Ctx,
    session: Option<&str>,
    mut t: i64,
    paths: &[String],
    n: usize,
    label: AttackLabel,
) -> i64 {
    for _ in 0..n {
        t += exp_ms(rng, 30.0 * SEC as f64, SEC, 5 * MIN);
        let path = &paths[rng.gen_range(0..paths.len())];
        let (method, size) = path_shape(path);
        let bytes = lognormal(rng, size * 2.0, 0.6);
        let req = Req {
            method,
            path,
            status: 200,
            bytes,
        };
        out.push(t, subject, ctx, session, None, Some(req), 0, Some(label));
    }
    t
}

fn inject(
    out: &mut Out<'_>,
    rng: &mut StdRng,
    kind: AttackKind,
    instance: u32,
    at: i64,
    cast: &Cast<'_>,
    used: &mut BTreeSet<usize>,
) {
    let world = out.world;
    let label = AttackLabel { kind, instance };
    let emp = |i: usize| &cast.employees[i % cast.employees.len().max(1)];
    match kind {
        AttackKind::AccountTakeover => {
            let Some(s) = pick_session(cast.sessions, at, 0, rng, used) else {
                return;
            };
            let victim = emp(s.who);
            let ctx = hostile_ctx(world, rng, victim.office);
            let id = format!("s-{}", hex(rng, 16));
            let t = s.end + rng.gen_range(30 * MIN..10 * HOUR);
            out.push(
                t,
                &victim.subject,
                &ctx,
                Some(&id),
                Some("vp_jwt"),
                None,
                200,
                Some(label),
            );
            let mut paths: Vec<String> = victim.paths.iter().map(|(p, _)| p.clone()).collect();
            paths.extend(SENSITIVE[20..].iter().map(|p| p.to_string()));
            let n = rng.gen_range(5..=25);
            attack_requests(
                out,
                rng,
                &victim.subject,
                &ctx,
                Some(&id),
                t,
                &paths,
                n,
                label,
            );
        }
        AttackKind::SessionReplay => {
            let Some(s) = pick_session(cast.sessions, at, 10 * MIN, rng, used) else {
                return;
            };
            let victim = emp(s.who);
            let mut ctx = hostile_ctx(world, rng, victim.office);
            if rng.gen_bool(0.5) {
                ctx.ua = s.ctx.ua.clone();
            }
            ctx.device = if rng.gen_bool(0.5) {
                s.ctx.device.clone()
            } else {
                None
            };
            let t = s.start + rng.gen_range(MIN..(s.end - s.start).max(2 * MIN));
            let mut paths: Vec<String> = victim.paths.iter().map(|(p, _)| p.clone()).collect();
            paths.push(format!("/api/{}/reports", TEAMS[victim.team]));
            let n = rng.gen_range(5..=20);
            attack_requests(
                out,
                rng,
                &victim.subject,
                &ctx,
                Some(&s.id),
                t,
                &paths,
                n,
                label,
            );
        }
        AttackKind::ImpossibleTravel => {
            let Some(s) = pick_session(cast.sessions, at, 0, rng, used) else {
                return;
            };
            let victim = emp(s.who);
            let here = &PLACES[world.nets[s.ctx.net].place];
            let far: Vec<usize> = (0..PLACES.len())
                .filter(|&p| km(here, &PLACES[p]) > 5_000.0)
                .collect();
            let Some(&dest) = far.get(rng.gen_range(0..far.len().max(1))) else {
                return;
            };
            let net = if rng.gen_bool(0.5) {
                world.residential[dest]
            } else {
                world.hotel[dest]
            };
            let ctx = Ctx {
                ip: world.nets[net].ip(rng),
                net,
                ua: s.ctx.ua.clone(),
                tls: s.ctx.tls.clone(),
                device: rng.gen_bool(0.3).then(|| format!("d-{}", hex(rng, 12))),
            };
            let id = format!("s-{}", hex(rng, 16));
            let t = s.end + rng.gen_range(5 * MIN..30 * MIN);
            out.push(
                t,
                &victim.subject,
                &ctx,
                Some(&id),
                Some("vp_jwt"),
                None,
                200,
                Some(label),
            );
            let paths: Vec<String> = victim.paths.iter().map(|(p, _)| p.clone()).collect();
            let n = rng.gen_range(2..=8);
            attack_requests(
                out,
                rng,
                &victim.subject,
                &ctx,
                Some(&id),
                t,
                &paths,
                n,
                label,
            );
        }
        AttackKind::CredentialSpray => {
            let net = world.hosting[rng.gen_range(0..world.hosting.len())];
            let (ua, tls) = TOOLS[2 + rng.gen_range(0..2)];
            let ctx = Ctx {
                ip: world.nets[net].ip(rng),
                net,
                ua: ua.to_owned(),
                tls: tls.to_owned(),
                device: None,
            };
            let targets = rng.gen_range(15..=60).min(cast.employees.len() + 10);
            let mut t = at;
            for k in 0..targets {
                let subject = if rng.gen_bool(0.1) {
                    did_key(rng)
                } else {
                    emp(rng.gen_range(0..cast.employees.len().max(1)))
                        .subject
                        .clone()
                };
                let ok = k > 3 && rng.gen_bool(0.05);
                let session = ok.then(|| format!("s-{}", hex(rng, 16)));
                let status = if ok { 200 } else { 401 };
                out.push(
                    t,
                    &subject,
                    &ctx,
                    session.as_deref(),
                    Some("vp_jwt"),
                    None,
                    status,
                    Some(label),
                );
                t += rng.gen_range(2 * SEC..40 * SEC);
            }
        }
        AttackKind::Scraping => {
            let Some(s) = pick_session(cast.sessions, at, 15 * MIN, rng, used) else {
                return;
            };
            let victim = emp(s.who);
            let mut t = s.start + (s.end - s.start) / 2;
            let n = rng.gen_range(60..=300);
            let team = TEAMS[victim.team];
            for k in 0..n {
                t += rng.gen_range(200..4 * SEC);
                let path = if rng.gen_bool(0.7) {
                    format!(
                        "/api/{team}/documents/{}",
                        20_000 + k * 7 + rng.gen_range(0..7)
                    )
                } else {
                    format!("/api/files/{}/download", hex(rng, 10))
                };
                let status = if rng.gen_bool(0.95) { 200 } else { 404 };
                let bytes = if status == 200 {
                    lognormal(rng, 6_000_000.0, 0.9).clamp(1_000_000, 30_000_000)
                } else {
                    200
                };
                let req = Req {
                    method: "GET",
                    path: &path,
                    status,
                    bytes,
                };
                out.push(
                    t,
                    &victim.subject,
                    &s.ctx,
                    Some(&s.id),
                    None,
                    Some(req),
                    0,
                    Some(label),
                );
            }
        }
        AttackKind::PrivilegeProbing => {
            let Some(s) = pick_session(cast.sessions, at, 5 * MIN, rng, used) else {
                return;
            };
            let victim = emp(s.who);
            let mut t = s.start + (s.end - s.start) / 3;
            for _ in 0..rng.gen_range(20..=60) {
                t += rng.gen_range(SEC..20 * SEC);
                let base = SENSITIVE[rng.gen_range(0..SENSITIVE.len())];
                let path = if rng.gen_bool(0.3) {
                    format!("{}/{}", base.trim_end_matches('/'), hex(rng, 4))
                } else {
                    base.to_owned()
                };
                let status = match rng.gen_range(0..100) {
                    0..=59 => 403,
                    60..=97 => 404,
                    _ => 200,
                };
                let method = if rng.gen_bool(0.85) { "GET" } else { "POST" };
                let req = Req {
                    method,
                    path: &path,
                    status,
                    bytes: rng.gen_range(100..800),
                };
                out.push(
                    t,
                    &victim.subject,
                    &s.ctx,
                    Some(&s.id),
                    None,
                    Some(req),
                    0,
                    Some(label),
                );
            }
        }
        AttackKind::ServiceMisuse => {
            if cast.services.is_empty() {
                return;
            }
            let svc = &cast.services[instance as usize % cast.services.len()];
            let place = &PLACES[world.nets[svc.net].place];
            let day = (at - START_MS).div_euclid(DAY);
            let mut t = START_MS + day * DAY - place.tz * MIN + HOUR + rng.gen_range(0..4 * HOUR);
            let new_ip = rng.gen_bool(0.5);
            let net = if new_ip {
                world.hosting[rng.gen_range(0..world.hosting.len())]
            } else {
                svc.net
            };
            let (ua, tls) = if rng.gen_bool(0.7) {
                (svc.ua, svc.tls)
            } else {
                TOOLS[3]
            };
            let ctx = Ctx {
                ip: if new_ip {
                    world.nets[net].ip(rng)
                } else {
                    svc.ips.first().cloned().unwrap_or_default()
                },
                net,
                ua: ua.to_owned(),
                tls: tls.to_owned(),
                device: None,
            };
            let id = format!("s-{}", hex(rng, 16));
            if rng.gen_bool(0.5) {
                out.push(
                    t,
                    &svc.subject,
                    &ctx,
                    Some(&id),
                    Some("vp_jwt"),
                    None,
                    200,
                    Some(label),
                );
            }
            for _ in 0..rng.gen_range(10..=40) {
                t += rng.gen_range(SEC..30 * SEC);
                let path = MISUSE_PATHS[rng.gen_range(0..MISUSE_PATHS.len())];
                let status = if rng.gen_bool(0.7) { 200 } else { 403 };
                let bytes = if status == 200 {
                    lognormal(rng, 300_000.0, 0.8)
                } else {
                    150
                };
                let req = Req {
                    method: "GET",
                    path,
                    status,
                    bytes,
                };
                out.push(
                    t,
                    &svc.subject,
                    &ctx,
                    Some(&id),
                    None,
                    Some(req),
                    0,
                    Some(label),
                );
            }
        }
    }
}

// ------------------------------------------------------------------ api --

fn sub_rng(seed: u64, stream: u64) -> StdRng {
    // SplitMix64 finaliser: decorrelates neighbouring streams.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Generate the labelled, time-ordered event stream for `seed` and `size`.
pub fn generate(seed: u64, size: Size) -> Vec<LabelledEvent> {
    let dims = dims(size);
    let world = World::new();
    let mut out = Out {
        world: &world,
        drafts: Vec::new(),
        seq: 0,
    };
    let mut sessions = Vec::new();
    let mut employees = Vec::with_capacity(dims.employees);
    for i in 0..dims.employees {
        let mut rng = sub_rng(seed, 1 + i as u64);
        let mut e = make_employee(&world, &mut rng, &dims);
        employee_traffic(&mut out, &mut rng, i, &mut e, &dims, &mut sessions);
        employees.push(e);
    }
    let mut services = Vec::with_capacity(dims.services);
    for i in 0..dims.services {
        let mut rng = sub_rng(seed, 1_000_000 + i as u64);
        let s = make_service(&world, &mut rng, i);
        service_traffic(&mut out, &mut rng, &s, &dims);
        services.push(s);
    }
    sessions.sort_by_key(|s| (s.start, s.who));
    let cast = Cast {
        employees: &employees,
        services: &services,
        sessions: &sessions,
    };
    let mut rng = sub_rng(seed, 2_000_000);
    let window_start = START_MS + (dims.days as f64 * WARMUP * DAY as f64) as i64;
    let window = START_MS + dims.days * DAY - window_start - 12 * HOUR;
    let n = i64::from(dims.instances);
    let mut used = BTreeSet::new();
    for kind in AttackKind::ALL {
        for i in 0..dims.instances {
            let slot = window / n;
            let at = window_start + i64::from(i) * slot + rng.gen_range(slot / 10..slot * 9 / 10);
            inject(&mut out, &mut rng, kind, i, at, &cast, &mut used);
        }
    }
    let mut drafts = out.drafts;
    drafts.sort_by_key(|d| (d.ts, d.seq));
    drafts
        .into_iter()
        .map(|d| LabelledEvent {
            record: d.record,
            label: d.label,
        })
        .collect()
}

/// Write the records, one `EventRecord` JSON per line (what `didgate risk
/// score` reads).
pub fn write_jsonl<W: Write>(events: &[LabelledEvent], mut writer: W) -> io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut writer, &e.record)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

#[derive(Serialize)]
struct LabelLine {
    line: usize,
    attack: Option<AttackKind>,
    instance: Option<u32>,
}

/// Write the ground truth, line for line with [`write_jsonl`]:
/// `{"line":1,"attack":"account_takeover","instance":3}` or
/// `{"line":2,"attack":null,"instance":null}` (lines numbered from 1).
pub fn write_labels_jsonl<W: Write>(events: &[LabelledEvent], mut writer: W) -> io::Result<()> {
    for (i, e) in events.iter().enumerate() {
        let line = LabelLine {
            line: i + 1,
            attack: e.label.map(|l| l.kind),
            instance: e.label.map(|l| l.instance),
        };
        serde_json::to_writer(&mut writer, &line)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339_ms(START_MS), "2026-10-05T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_597_200_123), "2026-11-25T09:00:00.123Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn same_seed_same_stream_and_different_seed_different_stream() {
        let a = generate(7, Size::Small);
        let b = generate(7, Size::Small);
        assert!(a == b);
        let c = generate(8, Size::Small);
        assert!(a != c);
        let mut x = Vec::new();
        let mut y = Vec::new();
        write_jsonl(&a, &mut x).unwrap();
        write_jsonl(&b, &mut y).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn every_attack_is_labelled_and_the_stream_is_ordered_and_valid() {
        let events = generate(1, Size::Small);
        assert!(events.len() > 5_000, "{}", events.len());
        for kind in AttackKind::ALL {
            let instances: std::collections::BTreeSet<u32> = events
                .iter()
                .filter_map(|e| e.label.filter(|l| l.kind == kind).map(|l| l.instance))
                .collect();
            assert!(instances.len() >= 3, "{kind:?}: {instances:?}");
        }
        let mut last = i64::MIN;
        for e in &events {
            let ev = e.record.as_event().unwrap();
            assert!(ev.ts_ms >= last);
            last = ev.ts_ms;
        }
        // Attacks only after the warm-up.
        let first_attack = events.iter().find(|e| e.label.is_some()).unwrap();
        let t = first_attack.record.as_event().unwrap().ts_ms;
        assert!(t >= START_MS + 3 * DAY, "{}", first_attack.record.ts);
    }

    #[test]
    fn offices_are_shared_and_services_are_steady() {
        let events = generate(3, Size::Small);
        let mut by_ip: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
            Default::default();
        for e in events.iter().filter(|e| e.label.is_none()) {
            by_ip
                .entry(e.record.ip.as_str())
                .or_default()
                .insert(e.record.subject.as_str());
        }
        assert!(by_ip.values().any(|s| s.len() >= 5), "no shared office NAT");
        let svc = events
            .iter()
            .filter(|e| e.record.subject.starts_with("did:web:svc"))
            .count();
        assert!(svc > 1_000);
    }

    #[test]
    fn writes_records_and_labels_line_for_line() {
        let events = generate(2, Size::Small);
        let mut recs = Vec::new();
        let mut labels = Vec::new();
        write_jsonl(&events[..50], &mut recs).unwrap();
        write_labels_jsonl(&events[..50], &mut labels).unwrap();
        let recs = String::from_utf8(recs).unwrap();
        let labels = String::from_utf8(labels).unwrap();
        assert_eq!(recs.lines().count(), 50);
        assert_eq!(labels.lines().count(), 50);
        for line in recs.lines() {
            let r: EventRecord = serde_json::from_str(line).unwrap();
            r.as_event().unwrap();
        }
        assert!(labels
            .lines()
            .next()
            .unwrap()
            .starts_with(r#"{"line":1,"attack":null"#));
    }
}
