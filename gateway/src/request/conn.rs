//! Facts about the connection a request arrived on, as the server saw it.

use std::net::SocketAddr;
use std::sync::Arc;

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// JA4 fingerprint of the TLS ClientHello (HTTPS connections only).
    pub tls_fp: Option<Arc<str>>,
}
