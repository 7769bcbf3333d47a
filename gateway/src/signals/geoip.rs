//! Optional GeoIP enrichment for the risk engine: country, location and
//! autonomous system of a peer address, from MaxMind DB files (GeoLite2 /
//! GeoIP2 City or Country, GeoLite2 ASN, or DB-IP's lite databases in the
//! same format).
//!
//! Databases are read whole into memory at start-up (a GeoLite2 City file is
//! ~60 MB): no `unsafe` memory map whose file could be replaced under us by a
//! database update. A lookup walks the search tree and decodes only the
//! fields it returns, borrowing strings from the database.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;

/// Why a GeoIP database could not be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("GeoIP database {path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("GeoIP database {path}: not a valid MaxMind DB file: {source}")]
    Invalid {
        path: PathBuf,
        source: MaxMindDbError,
    },
    #[error(
        "GeoIP database {path}: is a {found} database, expected {expected} \
         (e.g. GeoLite2-{example}.mmdb or dbip-{lower}-lite.mmdb)",
        lower = example.to_ascii_lowercase()
    )]
    WrongType {
        path: PathBuf,
        found: String,
        expected: &'static str,
        example: &'static str,
    },
}

/// What a lookup found; every field is `None` when unknown (private,
/// reserved or unlisted addresses, or no database for it).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GeoInfo<'a> {
    /// Autonomous system number (from the ASN database).
    pub asn: Option<u32>,
    /// ISO 3166-1 alpha-2 country code: where the address is located, else
    /// where its block is registered.
    pub country: Option<&'a str>,
    /// Approximate (latitude, longitude) in degrees (City databases only).
    pub location: Option<(f64, f64)>,
}

/// Open GeoIP databases: a City or Country one and an ASN one, each optional.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |r: &Option<Reader<Vec<u8>>>| {
            r.as_ref()
                .map(|r| r.metadata().database_type.clone())
                .unwrap_or_else(|| "none".into())
        };
        f.debug_struct("GeoIp")
            .field("city", &kind(&self.city))
            .field("asn", &kind(&self.asn))
            .finish()
    }
}

impl GeoIp {
    /// Opens the databases given (either may be absent) and checks that each
    /// is of the kind its slot expects.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, GeoIpError> {
        Ok(GeoIp {
            city: city.map(|p| open_db(p, Kind::City)).transpose()?,
            asn: asn.map(|p| open_db(p, Kind::Asn)).transpose()?,
        })
    }

    /// No database open: every lookup answers all `None`.
    pub fn is_empty(&self) -> bool {
        self.city.is_none() && self.asn.is_none()
    }

    /// What the databases say about `ip`. Never fails: a corrupt record
    /// reads as unknown.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo<'_> {
        let ip = canonical(ip);
        if !is_global(ip) {
            return GeoInfo::default();
        }
        let mut info = GeoInfo::default();
        if let Some(db) = &self.city {
            if let Some(rec) = decode::<CityRecord<'_>>(db, ip) {
                info.country = rec
                    .country
                    .and_then(|c| c.iso_code)
                    .or(rec.registered_country.and_then(|c| c.iso_code));
                info.location = rec
                    .location
                    .and_then(|l| Some((l.latitude?, l.longitude?)))
                    .filter(|(lat, lon)| {
                        (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon)
                    });
            }
        }
        if let Some(db) = &self.asn {
            info.asn = decode::<AsnRecord>(db, ip).and_then(|r| r.autonomous_system_number);
        }
        info
    }
}

#[derive(Clone, Copy)]
enum Kind {
    City,
    Asn,
}

fn open_db(path: &Path, kind: Kind) -> Result<Reader<Vec<u8>>, GeoIpError> {
    let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
        path: path.to_owned(),
        source,
    })?;
    let reader = Reader::from_source(bytes).map_err(|source| GeoIpError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    let found = reader.metadata().database_type.as_str();
    let (ok, expected, example) = match kind {
        Kind::City => (
            is_city_or_country(found),
            "a City or Country database",
            "City",
        ),
        Kind::Asn => (is_asn(found), "an ASN database", "ASN"),
    };
    if !ok {
        return Err(GeoIpError::WrongType {
            path: path.to_owned(),
            found: found.to_owned(),
            expected,
            example,
        });
    }
    Ok(reader)
}

/// `GeoLite2-City`, `GeoIP2-Country`, `GeoIP2-Enterprise`, `DBIP-City-Lite`,
/// `DBIP-Country-Lite`, …
fn is_city_or_country(database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    (t.contains("city") || t.contains("country") || t.contains("enterprise")) && !t.contains("asn")
}

/// `GeoLite2-ASN`, `GeoIP2-ISP`, `DBIP-ASN-Lite (compat=GeoLite2-ASN)`, …
fn is_asn(database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    t.contains("asn") || t.contains("isp")
}

fn decode<'a, T: Deserialize<'a>>(db: &'a Reader<Vec<u8>>, ip: IpAddr) -> Option<T> {
    match db.lookup(ip).and_then(|r| r.decode::<T>()) {
        Ok(rec) => rec,
        Err(e) => {
            tracing::debug!(error = %e, %ip, "GeoIP record unreadable");
            None
        }
    }
}

/// The fields read from a City/Country record; everything else is skipped.
#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRecord<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryRecord<'a>>,
    #[serde(default)]
    location: Option<LocationRecord>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocationRecord {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct AsnRecord {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as a dual-stack listener reports IPv4
/// peers) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Publicly routable: not private, loopback, link-local, shared (CGNAT),
/// documentation, benchmarking, multicast, reserved or unspecified.
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)) // discard-only
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip")
            .join(name)
    }

    fn city_db() -> PathBuf {
        fixture("GeoLite2-City-Test.mmdb")
    }

    fn asn_db() -> PathBuf {
        fixture("GeoLite2-ASN-Test.mmdb")
    }

    fn both() -> GeoIp {
        GeoIp::open(Some(&city_db()), Some(&asn_db())).expect("fixtures open")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    // Expected values: MaxMind-DB source-data/GeoLite2-City-Test.json and
    // GeoLite2-ASN-Test.json, from which the fixtures were built.
    #[test]
    fn city_lookup_gives_country_and_location() {
        let geo = both();
        let info = geo.lookup(ip("89.160.20.128"));
        assert_eq!(info.country, Some("SE"));
        assert_eq!(info.location, Some((58.4167, 15.6167)));
        let info = geo.lookup(ip("81.2.69.142"));
        assert_eq!(info.country, Some("GB"));
        assert_eq!(info.location, Some((51.5142, -0.0931)));
        let info = geo.lookup(ip("2001:218::1"));
        assert_eq!(info.country, Some("JP"));
        assert_eq!(info.location, Some((35.68536, 139.75309)));
    }

    #[test]
    fn asn_lookup_gives_the_number() {
        let geo = both();
        assert_eq!(geo.lookup(ip("1.0.0.1")).asn, Some(15169));
        assert_eq!(geo.lookup(ip("12.81.92.1")).asn, Some(7018));
        assert_eq!(geo.lookup(ip("1.128.0.1")).asn, Some(1221));
        // Not in the City test database: only the ASN is known.
        assert_eq!(
            geo.lookup(ip("1.0.0.1")),
            GeoInfo {
                asn: Some(15169),
                country: None,
                location: None
            }
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_is_looked_up_as_ipv4() {
        let geo = both();
        assert_eq!(
            geo.lookup(ip("::ffff:89.160.20.128")),
            geo.lookup(ip("89.160.20.128"))
        );
        assert_eq!(geo.lookup(ip("::ffff:1.0.0.1")).asn, Some(15169));
    }

    #[test]
    fn private_reserved_and_unknown_addresses_give_nothing() {
        let geo = both();
        for a in [
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            // Public, but in neither test database.
            "8.8.8.8",
            "2a00:1450::1",
        ] {
            assert_eq!(geo.lookup(ip(a)), GeoInfo::default(), "{a}");
        }
    }

    #[test]
    fn either_database_may_be_absent() {
        let none = GeoIp::open(None, None).expect("nothing to open");
        assert!(none.is_empty());
        assert_eq!(none.lookup(ip("89.160.20.128")), GeoInfo::default());

        let city = GeoIp::open(Some(&city_db()), None).expect("opens");
        let info = city.lookup(ip("89.160.20.128"));
        assert_eq!((info.asn, info.country), (None, Some("SE")));

        let asn = GeoIp::open(None, Some(&asn_db())).expect("opens");
        assert_eq!(
            asn.lookup(ip("1.0.0.1")),
            GeoInfo {
                asn: Some(15169),
                ..GeoInfo::default()
            }
        );
    }

    #[test]
    fn missing_file_is_named() {
        let missing = fixture("no-such.mmdb");
        let err = GeoIp::open(Some(&missing), None).expect_err("missing");
        assert!(matches!(err, GeoIpError::Read { .. }));
        assert!(err.to_string().contains("no-such.mmdb"), "{err}");
    }

    #[test]
    fn not_an_mmdb_file_is_named() {
        let not_db = fixture("LICENSE-MIT");
        let err = GeoIp::open(None, Some(&not_db)).expect_err("not a database");
        assert!(matches!(err, GeoIpError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("LICENSE-MIT"), "{err}");
    }

    #[test]
    fn database_in_the_wrong_slot_is_named() {
        let err = GeoIp::open(Some(&asn_db()), None).expect_err("ASN as City");
        let msg = err.to_string();
        assert!(matches!(err, GeoIpError::WrongType { .. }), "{msg}");
        assert!(msg.contains("GeoLite2-ASN-Test.mmdb"), "{msg}");
        assert!(msg.contains("GeoLite2-ASN"), "{msg}");
        assert!(msg.contains("City or Country"), "{msg}");

        let err = GeoIp::open(None, Some(&city_db())).expect_err("City as ASN");
        assert!(
            err.to_string().contains("expected an ASN database"),
            "{err}"
        );
    }

    #[test]
    fn database_types_recognised() {
        for t in [
            "GeoLite2-City",
            "GeoLite2-Country",
            "GeoIP2-City",
            "GeoIP2-Enterprise",
            "DBIP-City-Lite",
            "DBIP-Country-Lite",
        ] {
            assert!(is_city_or_country(t), "{t}");
            assert!(!is_asn(t), "{t}");
        }
        for t in [
            "GeoLite2-ASN",
            "GeoIP2-ISP",
            "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
        ] {
            assert!(is_asn(t), "{t}");
            assert!(!is_city_or_country(t), "{t}");
        }
    }

    /// Rough cost of `lookup` with both databases (printed; run with
    /// `--nocapture --ignored` in release for a number worth quoting).
    #[test]
    #[ignore]
    fn lookup_cost() {
        let geo = both();
        let addrs = [
            ip("89.160.20.128"),
            ip("1.0.0.1"),
            ip("2001:218::1"),
            ip("8.8.8.8"),
        ];
        let n = 200_000;
        let start = std::time::Instant::now();
        let mut found = 0usize;
        for i in 0..n {
            let info = geo.lookup(addrs[i % addrs.len()]);
            found += usize::from(info.country.is_some()) + usize::from(info.asn.is_some());
        }
        let per = start.elapsed() / n as u32;
        println!("GeoIp::lookup: {per:?} per call ({found} fields found)");
    }
}
