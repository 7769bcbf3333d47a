//! The gateway's side of a request signature, as issue 17 describes it, for
//! the tests to check what the client signs: read the header fields, apply
//! the policy (required components and parameters, `tag`), check the body
//! against `Content-Digest`, rebuild the signature base from the request as
//! received, resolve `keyid` with the chain-less `MethodResolver` (did:key,
//! did:jwk), and verify with the verification method's `verify_jose`.
#![allow(dead_code, clippy::unwrap_used)]

use did_registry::{DidResolver as _, MethodResolver, Purpose};
use didgate_client::{KeyType, Signer, SigningKey};
use http::request::Parts;
use http::uri::Scheme;
use http_signatures::{
    content_digest, find_signature, parse_signature_headers, signature_base, Component,
    RequestView, SignatureParams,
};

/// Why the gateway would refuse the request.
#[derive(Debug)]
pub enum Refusal {
    /// `Signature-Input`/`Signature` unreadable, or no signature with the label.
    Headers(http_signatures::Error),
    /// A component the gateway requires is not covered.
    NotCovered(&'static str),
    /// A parameter the gateway requires is missing.
    MissingParam(&'static str),
    /// `tag` is not `didgate`.
    WrongTag(Option<String>),
    /// The body does not match `Content-Digest` (or there is none).
    Digest(http_signatures::Error),
    /// The signature base cannot be rebuilt.
    Base(http_signatures::Error),
    /// `keyid` does not resolve to an authentication method.
    Resolve(did_registry::ResolveError),
    /// The signature does not verify.
    Signature(did_registry::SignatureError),
}

/// Verifies the `didgate` signature of a request received over `scheme`.
pub async fn verify(
    parts: &Parts,
    body: &[u8],
    scheme: Scheme,
) -> Result<SignatureParams, Refusal> {
    verify_label(parts, body, scheme, "didgate").await
}

pub async fn verify_label(
    parts: &Parts,
    body: &[u8],
    scheme: Scheme,
    label: &str,
) -> Result<SignatureParams, Refusal> {
    let headers = &parts.headers;
    let all = parse_signature_headers(
        headers.get_all("signature-input"),
        headers.get_all("signature"),
    )
    .map_err(Refusal::Headers)?;
    let sig = find_signature(&all, label).map_err(Refusal::Headers)?;
    let params = &sig.params;
    let covers = |c: &Component| params.components.contains(c);
    if !covers(&Component::Method) {
        return Err(Refusal::NotCovered("@method"));
    }
    if !covers(&Component::TargetUri) {
        return Err(Refusal::NotCovered("@target-uri"));
    }
    let digest = Component::Field(http::HeaderName::from_static("content-digest"));
    if !body.is_empty() && !covers(&digest) {
        return Err(Refusal::NotCovered("content-digest"));
    }
    for (name, present) in [
        ("created", params.created().is_some()),
        ("expires", params.expires().is_some()),
        ("nonce", params.nonce().is_some()),
        ("keyid", params.keyid().is_some()),
    ] {
        if !present {
            return Err(Refusal::MissingParam(name));
        }
    }
    if params.tag() != Some("didgate") {
        return Err(Refusal::WrongTag(params.tag().map(str::to_owned)));
    }
    if covers(&digest) {
        content_digest::verify(headers.get_all("content-digest"), body).map_err(Refusal::Digest)?;
    }
    let base = signature_base(&RequestView::new(parts, scheme), params).map_err(Refusal::Base)?;
    let keyid = params.keyid().unwrap_or_default();
    let did = keyid.split('#').next().unwrap_or_default();
    let document = MethodResolver::new(None)
        .resolve(did)
        .await
        .map_err(Refusal::Resolve)?;
    let methods = document
        .keys_for(Some(keyid), Purpose::Authentication)
        .map_err(Refusal::Resolve)?;
    let method = methods[0];
    let jose_alg = match params.alg() {
        Some(alg) => alg.jose_alg(),
        None => method.public_key().unwrap().key_type().jose_alg(),
    };
    method
        .verify_jose(jose_alg, &base, &sig.signature)
        .map_err(Refusal::Signature)?;
    Ok(params.clone())
}

/// A signer for a fresh key of `kind`, as its did:key.
pub fn did_key_signer(kind: KeyType) -> Signer {
    Signer::for_did_key(SigningKey::generate(kind)).unwrap()
}

/// The request as the gateway receives it: origin-form target and `Host`.
pub fn as_received<B>(request: http::Request<B>) -> (Parts, B) {
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    if let Some(authority) = uri.authority() {
        parts
            .headers
            .insert(http::header::HOST, authority.as_str().parse().unwrap());
    }
    parts.uri = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .parse()
        .unwrap();
    (parts, body)
}
