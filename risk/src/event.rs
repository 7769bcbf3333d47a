//! What the engine observes: one event per login or request.
//!
//! [`Event`] borrows everything (the gateway builds one per request without
//! allocating); [`EventRecord`] is the owned JSON form read by
//! `didgate risk score` and written by the evaluation generator. The JSON
//! field names are a public format: other tools produce them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A login (an authentication) or an ordinary request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Login,
    Request,
}

/// One observation, borrowed. `status` and `bytes` are known only after the
/// request was answered; `assess` ignores them, `observe` learns from them.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Unix milliseconds.
    pub ts_ms: i64,
    /// The identity (a DID).
    pub subject: &'a str,
    pub kind: Kind,
    pub ip: IpAddr,
    pub asn: Option<u32>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<&'a str>,
    /// (latitude, longitude) in degrees.
    pub location: Option<(f64, f64)>,
    pub user_agent: Option<&'a str>,
    /// A TLS client fingerprint (JA4).
    pub tls_fp: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub auth_method: Option<&'a str>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
}

impl<'a> Event<'a> {
    /// An event with only the required fields; set the others as known.
    pub fn new(ts_ms: i64, subject: &'a str, kind: Kind, ip: IpAddr) -> Self {
        Self {
            ts_ms,
            subject,
            kind,
            ip,
            asn: None,
            country: None,
            location: None,
            user_agent: None,
            tls_fp: None,
            device_id: None,
            session_id: None,
            auth_method: None,
            method: None,
            path: None,
            status: None,
            bytes: None,
        }
    }
}

/// One line of an events JSONL file. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// RFC 3339.
    pub ts: String,
    pub subject: String,
    pub kind: Kind,
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Why a record cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("ts {0:?} is not an RFC 3339 date-time")]
    Timestamp(String),
    #[error("ip {0:?} is not an IPv4 or IPv6 address")]
    Ip(String),
    #[error("subject is empty")]
    Subject,
    #[error("lat/lon must both be given, lat in [-90, 90] and lon in [-180, 180]")]
    Location,
}

impl EventRecord {
    /// Validate and borrow as an [`Event`].
    pub fn as_event(&self) -> Result<Event<'_>, EventError> {
        let ts =
            time::OffsetDateTime::parse(&self.ts, &time::format_description::well_known::Rfc3339)
                .map_err(|_| EventError::Timestamp(self.ts.clone()))?;
        let ts_ms = (ts.unix_timestamp_nanos() / 1_000_000) as i64;
        let ip: IpAddr = self
            .ip
            .trim()
            .parse()
            .map_err(|_| EventError::Ip(self.ip.clone()))?;
        if self.subject.is_empty() {
            return Err(EventError::Subject);
        }
        let location = match (self.lat, self.lon) {
            (None, None) => None,
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            _ => return Err(EventError::Location),
        };
        Ok(Event {
            ts_ms,
            subject: &self.subject,
            kind: self.kind,
            ip: canonical(ip),
            asn: self.asn,
            country: self.country.as_deref(),
            location,
            user_agent: self.user_agent.as_deref(),
            tls_fp: self.tls_fp.as_deref(),
            device_id: self.device_id.as_deref(),
            session_id: self.session_id.as_deref(),
            auth_method: self.auth_method.as_deref(),
            method: self.method.as_deref(),
            path: self.path.as_deref(),
            status: self.status,
            bytes: self.bytes,
        })
    }
}

/// IPv4-mapped IPv6 addresses count as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_documented_format_and_ignores_unknown_fields() {
        let line = r#"{"ts":"2026-11-25T09:00:00Z","subject":"did:key:z6Mk","kind":"request","ip":"10.1.2.3","lat":52.5,"lon":13.4,"path":"/x","status":200,"extra":1}"#;
        let rec: EventRecord = serde_json::from_str(line).unwrap();
        let ev = rec.as_event().unwrap();
        assert_eq!(ev.ts_ms, 1_795_597_200_000);
        assert_eq!(ev.kind, Kind::Request);
        assert_eq!(ev.location, Some((52.5, 13.4)));
        assert_eq!(ev.path, Some("/x"));
    }

    #[test]
    fn refuses_bad_fields() {
        let mut rec: EventRecord = serde_json::from_str(
            r#"{"ts":"yesterday","subject":"s","kind":"login","ip":"1.2.3.4"}"#,
        )
        .unwrap();
        assert!(matches!(rec.as_event(), Err(EventError::Timestamp(_))));
        rec.ts = "2026-11-25T09:00:00+01:00".into();
        rec.ip = "1.2.3".into();
        assert!(matches!(rec.as_event(), Err(EventError::Ip(_))));
        rec.ip = "::ffff:1.2.3.4".into();
        assert_eq!(
            rec.as_event().unwrap().ip,
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        rec.lat = Some(91.0);
        rec.lon = Some(0.0);
        assert_eq!(rec.as_event().unwrap_err(), EventError::Location);
    }
}
