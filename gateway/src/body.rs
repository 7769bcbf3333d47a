//! The one body type the gateway hands to hyper: upstream bodies stream
//! through unbuffered; the gateway's own responses are small and in memory.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};

pub type GatewayBody = BoxBody<Bytes, hyper::Error>;

/// A complete in-memory body.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A streamed body from the network, passed through as it arrives.
pub fn stream(body: hyper::body::Incoming) -> GatewayBody {
    body.boxed()
}
