//! The login endpoints' answers other than pages: JSON bodies (the wallet's
//! and the login page's poll) and redirects. Neither is ever cached, and a
//! redirect sends no `Referer` on (it may carry a response code).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::request::body::{full, GatewayBody};

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::from(body.to_string() + "\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The response code must not travel on in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, c);
    }
    r
}
