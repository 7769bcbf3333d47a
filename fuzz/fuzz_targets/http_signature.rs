//! RFC 9421 signature headers and RFC 9530 `Content-Digest`
//! (`http_signatures`): what a signed request carries, read before any key
//! is resolved.
//!
//! Input: the first line is `Signature-Input`, the second `Signature`, the
//! third `Content-Digest`, the rest the body.
//!
//! Checks, beyond not panicking: whatever parses stays within the crate's
//! bounds; its parameters serialise, and what they serialise to parses back
//! to the same parameters (one signature, one spelling of what was signed);
//! a signature base of a fixed request either builds or is refused with a
//! reason code; a digest that verifies holds the body's own digest (a
//! body one byte longer fails against it).
#![no_main]

use http::HeaderValue;
use http_signatures::content_digest::{self, DigestAlgorithm};
use http_signatures::{
    parse_signature_headers, signature_base, RequestView, SignatureParams, MAX_COMPONENTS,
    MAX_SIGNATURES, MAX_SIGNATURE_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let input = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let digest = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    if let (Ok(input), Ok(signature)) = (
        HeaderValue::from_bytes(input),
        HeaderValue::from_bytes(signature),
    ) {
        if let Ok(parsed) = parse_signature_headers([&input], [&signature]) {
            assert!(parsed.len() <= MAX_SIGNATURES);
            let request = http::Request::post("https://example.com/foo?a=1&b=2")
                .header("content-type", "application/json")
                .header("content-digest", "sha-256=:AAAA:")
                .body(())
                .expect("a fixed request");
            let view = RequestView::from_request(&request, http::uri::Scheme::HTTPS);
            for sig in &parsed {
                assert!(sig.params.components.len() <= MAX_COMPONENTS);
                assert!(!sig.signature.is_empty() && sig.signature.len() <= MAX_SIGNATURE_BYTES);
                let text = sig.params.serialize().expect("parsed parameters serialise");
                let again = SignatureParams::parse(&text).expect("serialised parameters parse");
                assert_eq!(again, sig.params);
                if let Err(e) = signature_base(&view, &sig.params) {
                    assert!(!e.reason().is_empty());
                }
            }
        }
    }

    if let Ok(digest) = HeaderValue::from_bytes(digest) {
        if content_digest::verify([&digest], body).is_ok() {
            // It verified: it holds this body's digest, so no other body
            // verifies against it, and the body's own digest verifies.
            let mut other = body.to_vec();
            other.push(b'x');
            assert!(content_digest::verify([&digest], &other).is_err());
            for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
                assert!(
                    content_digest::verify([&content_digest::compute(alg, body)], body).is_ok()
                );
            }
        }
    }
});
