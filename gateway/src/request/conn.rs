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
    /// The client certificate the TLS client sent, read once (mutual TLS
    /// with `[server.tls] client_auth = "did"`; `None`: none was sent).
    pub client_cert: Option<Arc<crate::request::mtls::PeerCertificate>>,
}
