//! OpenID4VP messages from outside (`didgate::login::openid4vp`, `didgate::login`):
//! - the wallet's form-encoded answer POSTed to `/.didgate/login/response`
//!   (`AuthorizationResponse::from_form`);
//! - the `openid4vp://` request a wallet (`didgate wallet login`) reads from
//!   a link or QR code (`AuthorizationRequest::from_url`);
//! - the login's `return_to` (`login::safe_return_to`), from the query.
//!
//! Every input goes to all three. Checks, beyond not panicking: what parses
//! round-trips (`to_form`/`to_url` then parse again gives the same value),
//! a request's `client_id` is `redirect_uri:` + its response URI; and a
//! `return_to` is kept as given or replaced by `/`, is a valid `Location`
//! header, stays on the gateway's origin once a browser resolves it
//! (WHATWG URL parsing, as browsers do), and the path the browser then asks
//! for is, as the gateway routes it, never one of its own `/.didgate/`
//! endpoints.
#![no_main]

use didgate::login::{safe_return_to, PREFIX};
use didgate::request::normalize::{normalize, Pass};
use didgate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};
use libfuzzer_sys::fuzz_target;

fn response(data: &[u8]) {
    let Ok(r) = AuthorizationResponse::from_form(data) else {
        return;
    };
    let again = AuthorizationResponse::from_form(r.to_form().as_bytes())
        .unwrap_or_else(|e| panic!("{r:?} does not read back: {e}"));
    assert_eq!(again, r);
}

fn request(text: &str) {
    let Ok(r) = AuthorizationRequest::from_url(text) else {
        return;
    };
    assert_eq!(r.client_id, format!("redirect_uri:{}", r.response_uri));
    let again = AuthorizationRequest::from_url(&r.to_url())
        .unwrap_or_else(|e| panic!("{r:?} does not read back: {e}"));
    assert_eq!(again, r);
}

fn return_to(text: &str) {
    let to = safe_return_to(Some(text));
    if to == "/" {
        return;
    }
    assert_eq!(to, text, "a return_to is kept as it is, or replaced by /");
    let origin = url::Url::parse("https://gw.example/").expect("a URL");
    let there = origin
        .join(&to)
        .unwrap_or_else(|e| panic!("return_to {to:?} is not a URL reference: {e}"));
    assert_eq!(
        there.origin(),
        origin.origin(),
        "return_to {to:?} leaves the origin: {there}"
    );
    // The path the browser then asks for, as the gateway routes it.
    let routed = normalize(there.path(), Pass::FIRST)
        .unwrap_or_else(|e| panic!("return_to {to:?} leads to a refused path: {e}"));
    assert!(
        !routed.decoded.starts_with(PREFIX),
        "return_to {to:?} is the gateway's own endpoint {}",
        routed.decoded
    );
    http::HeaderValue::from_str(&to)
        .unwrap_or_else(|e| panic!("return_to {to:?} is no Location header: {e}"));
}

fuzz_target!(|data: &[u8]| {
    response(data);
    if let Ok(text) = std::str::from_utf8(data) {
        request(text);
        return_to(text);
    }
});
