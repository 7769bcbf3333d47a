//! HTTP Message Signatures (RFC 9421) for requests, and `Content-Digest`
//! (RFC 9530): the message format, byte for byte, and nothing else.
//!
//! Owns: the covered components of a request and their values
//! (`component.rs`, `request.rs`; header fields in `field.rs`, query
//! parameters in `query.rs`); the signature parameters and their
//! `@signature-params` serialisation (`params.rs`); the signature base
//! (`base.rs`); reading and writing `Signature-Input` and `Signature`
//! (`headers.rs`); the accepted algorithms and their JOSE names
//! (`algorithm.rs`); `Content-Digest` (`content_digest.rs`); the bounds on
//! everything read from the network (`limits.rs`); one error type whose
//! variants each have a stable reason code (`error.rs`).
//!
//! Does not own, and leaves to the caller (the gateway, or a service that
//! signs):
//! - keys: no key resolution, no public-key cryptography. A verifier
//!   resolves `keyid` to a DID verification method and checks the
//!   signature bytes over [`signature_base`] with it
//!   (`did_registry::VerificationMethod::verify_jose`), under
//!   [`Algorithm::jose_alg`] when `alg` is present and checking that it
//!   fits the key; without `alg` the key decides. A signer signs the base
//!   with its own key.
//! - policy: which components must be covered, which `tag` is expected,
//!   how old `created` may be, whether `expires` has passed.
//! - replay: `nonce` and signature reuse are not tracked here.
//! - responses: `@status`, `req` and trailers are refused; only requests
//!   are signed.
//!
//! Verifying, in the order the gateway runs it:
//!
//! ```
//! # use http_signatures::*;
//! # fn main() -> Result<(), Error> {
//! let request = http::Request::post("/foo?param=Value&Pet=dog")
//!     .header("host", "example.com")
//!     .header("content-type", "application/json")
//!     .header(
//!         "signature-input",
//!         r#"sig1=("@method" "@authority" "content-type");created=1618884473;keyid="did:key:z6MkExample#key-1""#,
//!     )
//!     .header("signature", "sig1=:AAAA:")
//!     .body(())
//!     .map_err(|_| Error::SignatureMissing)?;
//! let headers = request.headers();
//! let signatures = parse_signature_headers(
//!     headers.get_all("signature-input"),
//!     headers.get_all("signature"),
//! )?;
//! let sig = find_signature(&signatures, "sig1")?;
//! // Policy: required components, `created` age, `tag` — the caller's.
//! let view = RequestView::from_request(&request, http::uri::Scheme::HTTPS);
//! let base = signature_base(&view, &sig.params)?;
//! assert!(base.starts_with(b"\"@method\": POST\n\"@authority\": example.com\n"));
//! // Then: resolve sig.params.keyid(), and verify `sig.signature` over
//! // `base` with `sig.params.alg().map(Algorithm::jose_alg)` or the key's.
//! # Ok(())
//! # }
//! ```
//!
//! Signing: build [`SignatureParams`], take [`signature_base`] of the
//! outgoing request, sign it, and add [`signature_input_header`] and
//! [`signature_header`] (and a [`content_digest::compute`]d
//! `Content-Digest` if the body is covered).
//!
//! Strict by design: each refusal is an [`Error`] whose [`Error::reason`]
//! is the stable code the gateway puts in its 401 body. Field values are
//! read only up to [`MAX_FIELD_BYTES`], and at most [`MAX_SIGNATURES`]
//! signatures of [`MAX_COMPONENTS`] components and [`MAX_SIGNATURE_BYTES`]
//! bytes each; an unknown parameter, algorithm or derived component, an
//! upper-case field name, a component covered twice, or a covered query
//! parameter that repeats refuses the signature rather than guessing.
//! Structured fields (RFC 8941) are parsed and serialised by the `sfv`
//! crate; `sf` is accepted only on fields whose structured type is known
//! (`field.rs`), `key` on any Dictionary field.

mod algorithm;
mod base;
mod component;
pub mod content_digest;
mod error;
mod field;
mod headers;
mod limits;
mod params;
mod query;
mod request;

pub use algorithm::Algorithm;
pub use base::signature_base;
pub use component::Component;
pub use error::Error;
pub use headers::{
    find_signature, parse_signature_headers, signature_header, signature_input_header,
    ParsedSignature,
};
pub use limits::{MAX_COMPONENTS, MAX_FIELD_BYTES, MAX_SIGNATURES, MAX_SIGNATURE_BYTES};
pub use params::{Param, SignatureParams};
pub use request::{without_default_port, RequestView};
