//! Signs a service's outgoing HTTP requests with its own DID key, so that
//! didgate can tell which service is calling (RFC 9421 HTTP Message
//! Signatures, RFC 9530 `Content-Digest`).
//!
//! Owns: the signer side of a request signature: a [`Signer`] (the key, the
//! `keyid` DID URL, label, validity and clock; `signer.rs`), reading a
//! private key file as `didgate did create` writes it (`key_file.rs`), the
//! `@target-uri` of an outgoing request (`target.rs`), a `tower` layer that
//! signs every request ([`SigningLayer`], `layer.rs`), and a helper for a
//! built `reqwest::Request` ([`Signer::sign_reqwest`], feature `reqwest`,
//! on by default; `reqwest_request.rs`), and a self-signed client
//! certificate for mutual TLS whose URI SAN is the key's DID URL
//! ([`Signer::client_certificate`], `certificate.rs`; as a
//! `reqwest::Identity`: `Signer::reqwest_identity`).
//!
//! Every signature covers `@method`, `@target-uri` and, with a body,
//! `content-digest` (sha-256), and has `created`, `expires`, a 128-bit
//! random `nonce`, `keyid`, `alg` and `tag="didgate"`.
//!
//! Does not own: the message format (the `http-signatures` crate builds
//! the signature base and the header fields), keys and DIDs (`credentials`
//! and `did-registry`), verification and its policy (the gateway: which
//! components it requires, how old `created` may be, replayed nonces), how
//! a service presents credentials to the gateway, and streaming bodies (the
//! digest needs the whole body in memory before it is sent).
//!
#![cfg_attr(
    feature = "reqwest",
    doc = r##"
Adopting it with reqwest, from a key file made by `didgate did create
--method key --out billing.jwk` (whose `kid` is the key's DID URL):

```no_run
# async fn send() -> Result<(), Box<dyn std::error::Error>> {
let signer = didgate_client::Signer::from_key_file("billing.jwk")?;
// The workspace's reqwest brings no rustls provider: install one per process.
let _ = rustls::crypto::ring::default_provider().install_default();
let client = reqwest::Client::new();
let mut request = client
    .post("https://gateway.example/orders")
    .body(r#"{"sku":42}"#)
    .build()?;
signer.sign_reqwest(&mut request)?;
let response = client.execute(request).await?;
# let _ = response; Ok(()) }
```
"##
)]
//!
//! As a `tower` layer, in front of any client that takes
//! `http::Request<B>` with a body in memory (`B: AsRef<[u8]>`):
//!
//! ```
//! # use std::convert::Infallible;
//! # use tower::{Service as _, ServiceBuilder, ServiceExt as _};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use didgate_client::{Signer, SigningLayer};
//! # let key = didgate_client::SigningKey::generate(didgate_client::KeyType::Ed25519);
//! let signer = Signer::for_did_key(key)?; // or Signer::from_key_file("billing.jwk")?
//! let client = tower::service_fn(|request: http::Request<Vec<u8>>| async move {
//!     Ok::<_, Infallible>(request.headers().contains_key("signature"))
//! });
//! let mut client = ServiceBuilder::new().layer(SigningLayer::new(signer)).service(client);
//! let request = http::Request::post("https://gateway.example/orders").body(b"{}".to_vec())?;
//! assert!(client.ready().await?.call(request).await?);
//! # Ok(()) }
//! ```

mod certificate;
mod error;
mod key_file;
mod layer;
#[cfg(feature = "reqwest")]
mod reqwest_request;
mod signer;
mod target;

pub use certificate::{ClientCertificate, MAX_CERTIFICATE_VALIDITY};
pub use error::SignError;
pub use layer::{ResponseFuture, SigningLayer, SigningService, SigningServiceError};
pub use signer::{
    did_key_id, Signer, DEFAULT_LABEL, DEFAULT_VALIDITY_SECS, MAX_VALIDITY_SECS, MIN_VALIDITY_SECS,
    TAG,
};

/// The signing key types, re-exported so a service needs no direct
/// dependency on `credentials` or `did-registry` to build a [`Signer`].
pub use credentials::{KeyType, PublicKey, SigningKey};
