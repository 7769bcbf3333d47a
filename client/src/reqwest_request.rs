//! Signing a built `reqwest::Request`, and a client certificate as a
//! `reqwest::Identity` for mutual TLS (feature `reqwest`).

use crate::error::SignError;
use crate::signer::Signer;

impl Signer {
    /// A client certificate for this signer's key (see
    /// [`Signer::client_certificate`]) as the `reqwest::Identity` a client
    /// presents for mutual TLS: `reqwest::Client::builder().identity(…)`.
    /// Requests on that client need no signature; the gateway checks the
    /// certificate's key against the DID on each.
    pub fn reqwest_identity(
        &self,
        valid_for: std::time::Duration,
    ) -> Result<reqwest::Identity, SignError> {
        let cert = self.client_certificate(valid_for)?;
        reqwest::Identity::from_pem(cert.identity_pem().as_bytes()).map_err(|e| {
            SignError::Certificate {
                detail: format!("reqwest cannot use the certificate: {e}"),
            }
        })
    }

    /// Signs a built `reqwest::Request` in place (see [`Signer::sign`]).
    ///
    /// Its body must be in memory (`.body(String | Vec<u8> | Bytes | &'static str)`);
    /// a streaming body (`Body::wrap`, `Body::wrap_stream`) is refused with
    /// [`SignError::StreamingBody`]. Sign again after changing the request,
    /// and before each retry.
    pub fn sign_reqwest(&self, request: &mut reqwest::Request) -> Result<(), SignError> {
        if request.body().is_some_and(|b| b.as_bytes().is_none()) {
            return Err(SignError::StreamingBody);
        }
        let url = request.url().as_str();
        let uri: http::Uri = url.parse().map_err(|_| SignError::InvalidUrl {
            url: url.to_owned(),
        })?;
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = request.method().clone();
        parts.version = request.version();
        parts.uri = uri;
        // The headers are moved out while the body is borrowed, then back.
        parts.headers = std::mem::take(request.headers_mut());
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        let signed = self.sign(&mut parts, body);
        *request.headers_mut() = parts.headers;
        signed
    }
}
