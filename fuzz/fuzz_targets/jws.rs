//! Compact JWS parsing (`credentials::jws::parse`): every bearer token and
//! every credential inside one goes through it before anything is resolved.
//!
//! Checks, beyond not panicking: a parsed token is within the size bound,
//! its `alg` is on the allow-list, `crit` is refused, the payload is an
//! object, and the signature's base64url is canonical (re-encoding the
//! decoded bytes gives the token's text back: one signature, one spelling).
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use credentials::jws;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = jws::parse(token) else {
        return;
    };
    assert!(token.len() <= jws::MAX_TOKEN_LEN);
    assert!(["EdDSA", "Ed25519", "ES256", "ES256K"].contains(&parsed.header.alg.as_str()));
    assert!(parsed.header.crit.is_none());
    assert!(parsed.payload.is_object());
    assert!(!parsed.signature.is_empty());
    // The token is exactly signing input, '.', canonical base64url signature.
    let sig = token
        .strip_prefix(parsed.signing_input)
        .and_then(|rest| rest.strip_prefix('.'))
        .expect("the signing input is the token's start");
    assert_eq!(URL_SAFE_NO_PAD.encode(&parsed.signature), sig);
    assert_eq!(parsed.signing_input.matches('.').count(), 1);
});
