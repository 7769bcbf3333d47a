//! What the gateway asks of a request a browser sent: is it a page load
//! (answered with the login page instead of a bare 401), and did this site
//! send it (CSRF).

use http::{header, Method, Request};
use hyper::body::Incoming;

use crate::request::reason::Reason;
use crate::request::refusal::Refusal;

/// A top-level page load by a browser (what a login redirect can answer).
pub(crate) fn is_navigation(req: &Request<Incoming>) -> bool {
    (req.method() == Method::GET || req.method() == Method::HEAD)
        && !req.headers().contains_key(header::AUTHORIZATION)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::request::refusal::prefers_html)
}

/// Refuse a request a browser sent on behalf of another site (CSRF): by
/// `Sec-Fetch-Site` when the browser sends it, else by `Origin`. Requests
/// without either (not from a browser's cross-site context) pass.
pub(crate) fn refuse_cross_site(req: &Request<Incoming>) -> Result<(), Refusal> {
    let headers = req.headers();
    let refuse = || {
        Refusal::new(
            Reason::CrossSiteRequest,
            "a request from another site cannot change anything with this browser's session",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(refuse()),
        };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        // The authority as the client wrote it, port included (HTTP/2: in the URI).
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let origin = origin.to_str().unwrap_or("null");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(refuse());
        }
    }
    Ok(())
}
