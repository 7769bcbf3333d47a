//! What the risk engine sees of a client: where a request comes from
//! (address, GeoIP), with what (user agent, TLS fingerprint) and what it asks
//! for (method, path).

pub(crate) mod geoip;
pub mod ja4;

use std::net::IpAddr;

use http::{header, Request};
use hyper::body::Incoming;

use crate::request::conn::ConnInfo;
use crate::signals::geoip::GeoIp;

/// The risk engine's view of `req` by `subject`: where it comes from
/// (address, GeoIP), with what (user agent, TLS fingerprint), what it
/// asks for (method, path).
pub(crate) fn risk_event<'a>(
    geoip: Option<&'a GeoIp>,
    req: &'a Request<Incoming>,
    conn: &'a ConnInfo,
    client_ip: IpAddr,
    subject: &'a str,
    kind: risk::Kind,
    now_ms: i64,
) -> risk::Event<'a> {
    let mut e = risk::Event::new(now_ms, subject, kind, client_ip);
    if let Some(geo) = geoip.map(|g| g.lookup(client_ip)) {
        e.asn = geo.asn;
        e.country = geo.country;
        e.location = geo.location;
    }
    e.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    e.tls_fp = conn.tls_fp.as_deref();
    e.method = Some(req.method().as_str());
    e.path = Some(req.uri().path());
    e
}
