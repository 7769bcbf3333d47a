//! Start-up and shutdown: build the `Gateway` from a `Config`, bind the HTTP
//! and HTTPS listeners, serve connections (HTTP/1.1 and HTTP/2, upgrades),
//! poll policy files for changes, and on shutdown drain connections and flush
//! the decision log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use credentials::{
    HttpStatusChecker, StatusDispatcher, StatusListConfig, TrustedIssuers, Verifier, VerifierConfig,
};
use did_registry::ethr::{EthrResolver, StatusChecker};
use did_registry::{DidResolver, MethodResolver};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use policy::PolicyEngine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::assertion::AssertionSigner;
use crate::audit::{AuditLog, AuditWriter};
use crate::authn::Authenticator;
use crate::config::Config;
use crate::ja4;
use crate::path::{ConnInfo, Gateway};
use crate::proxy::Proxy;
use crate::route::Router;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("policies: {0}")]
    Policy(#[from] policy::PolicyError),
    #[error("gateway key: {0}")]
    Key(#[from] crate::assertion::KeyFileError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("routes: {0}")]
    Route(#[from] crate::route::RouteError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("upstream client: {0}")]
    Client(std::io::Error),
    #[error("chain {name}: {source}")]
    Chain {
        name: String,
        source: did_registry::ethr::ChainError,
    },
    #[error("credential status: {0}")]
    Status(String),
    #[error("GeoIP: {0}")]
    GeoIp(#[from] crate::geoip::GeoIpError),
}

/// A gateway that is serving; `shutdown` stops it cleanly.
pub struct RunningGateway {
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    pub store: Store,
    pub policy: Arc<PolicyEngine>,
    /// did:ethr resolution over the configured chains (`None`: no chains).
    pub ethr: Option<Arc<EthrResolver>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    audit_writer: AuditWriter,
    gateway: Arc<Gateway>,
}

/// Build everything from `config` and start serving.
pub async fn start(config: &Config) -> Result<RunningGateway, StartError> {
    crate::tls::install_crypto_provider();
    let store = Store::connect(&config.database_url()).await?;
    let policy_files: Vec<_> = config
        .policy
        .policies
        .iter()
        .map(|p| config.resolve(p))
        .collect();
    let policy = Arc::new(PolicyEngine::load(
        &config.resolve(&config.policy.schema),
        &policy_files,
    )?);

    let mut trusted = TrustedIssuers::new();
    for t in &config.credentials.trusted_issuers {
        for did in &t.issuers {
            trusted.trust(&t.credential_type, did);
        }
    }
    let mut vcfg = VerifierConfig::new(config.credentials.audiences.clone(), trusted);
    vcfg.clock_skew_secs = config.credentials.clock_skew_secs;
    vcfg.max_presentation_lifetime_secs = config.credentials.max_presentation_lifetime_secs;
    let crate::chains::Followed {
        resolver: ethr,
        status,
        followers,
    } = crate::chains::follow(config, &store, Duration::from_secs(10))
        .await
        .map_err(|(name, source)| StartError::Chain { name, source })?;
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(ethr.clone()));
    // Credential status: on-chain lists (when chains are configured) and
    // HTTP-published lists, verified like any credential.
    let http_status = HttpStatusChecker::new(
        Verifier::new(vcfg.clone(), resolver.clone()),
        StatusListConfig {
            ttl: Duration::from_secs(config.credentials.status_list_ttl_secs),
            ..StatusListConfig::default()
        },
    )
    .map_err(|e| StartError::Status(e.to_string()))?;
    let status = StatusDispatcher::new(
        status.map(|s| s as Arc<dyn StatusChecker>),
        Arc::new(http_status),
    );
    let verifier = Arc::new(
        Verifier::new(vcfg, resolver)
            .with_status_checker(Arc::new(status))
            .with_credential_cache(config.credentials.verified_credential_cache),
    );
    let instance: Arc<str> = Arc::from(config.server.instance.as_str());
    let sessions = config.sessions.enabled.then(|| {
        Arc::new(crate::session::Sessions::new(
            config.session_settings(),
            store.clone(),
            instance.clone(),
        ))
    });
    let login = if config.sessions.enabled {
        Some(crate::login::Login::new(
            &config.server.public_url,
            config.login_credential_types(),
            Duration::from_secs(config.sessions.login_timeout_secs),
            config.session_settings().secure,
            store.shared_key("login_state").await?,
        ))
    } else {
        None
    };

    let signer = AssertionSigner::load_or_create(
        &config.resolve(&config.identity.key_file),
        &config.server.public_url,
        config.identity.assertion_ttl_secs,
    )?;
    let (audit, audit_writer) =
        AuditLog::spawn(store.dedicated().await?, config.database.audit_queue);
    let risk = crate::risk_sync::open(&config.risk, &store)
        .await?
        .map(Arc::new);
    let geoip = match (&config.risk.geoip_city_db, &config.risk.geoip_asn_db) {
        (None, None) => None,
        (city, asn) => Some(crate::geoip::GeoIp::open(
            city.as_ref().map(|p| config.resolve(p)).as_deref(),
            asn.as_ref().map(|p| config.resolve(p)).as_deref(),
        )?),
    };
    let gateway = Arc::new(Gateway {
        instance,
        router: Router::new(&config.routes)?,
        authn: Authenticator::new(
            verifier,
            config.credentials.replay_cache_capacity,
            config.credentials.clock_skew_secs,
            sessions.clone(),
        ),
        policy: policy.clone(),
        audit,
        signer,
        assertions: crate::assertion::AssertionCache::new(100_000),
        proxy: Proxy::new().map_err(StartError::Client)?,
        risk: risk.clone(),
        geoip,
        trusted_proxies: config.server.trusted_proxies(),
        challenges: crate::authn::StepUpChallenges::new(100_000),
        login,
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut http_addr = None;
    let mut https_addr = None;
    if let Some(addr) = config.server.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        http_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(serve(
            l,
            None,
            gateway.clone(),
            shutdown_rx.clone(),
        )));
    }
    if let (Some(addr), Some(tls)) = (config.server.listen_tls, &config.server.tls) {
        let tls_cfg =
            crate::tls::server_config(&config.resolve(&tls.cert), &config.resolve(&tls.key))?;
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        https_addr = l.local_addr().ok();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
        tasks.push(tokio::spawn(serve(
            l,
            Some(acceptor),
            gateway.clone(),
            shutdown_rx.clone(),
        )));
    }
    for f in followers {
        tasks.push(tokio::spawn(f.run(shutdown_rx.clone())));
    }
    if let Some(engine) = risk {
        tasks.push(tokio::spawn(crate::risk_sync::run(
            engine,
            store.clone(),
            Arc::from(config.server.instance.as_str()),
            Duration::from_millis(config.risk.flush_interval_ms),
            shutdown_rx.clone(),
        )));
    }
    if let Some(sessions) = sessions {
        tasks.push(tokio::spawn(crate::session::run(
            sessions,
            shutdown_rx.clone(),
        )));
    }
    if config.policy.reload_interval_secs > 0 {
        tasks.push(tokio::spawn(watch_policies(
            policy.clone(),
            Duration::from_secs(config.policy.reload_interval_secs),
            shutdown_rx.clone(),
        )));
    }
    tracing::info!(http = ?http_addr, https = ?https_addr, db = store.backend(),
        policies = policy.policy_count(), routes = config.routes.len(), "didgate is serving");
    Ok(RunningGateway {
        http_addr,
        https_addr,
        store,
        policy,
        ethr,
        shutdown,
        tasks,
        audit_writer,
        gateway,
    })
}

impl RunningGateway {
    /// Decisions written to the database so far.
    pub fn decisions_written(&self) -> u64 {
        self.gateway
            .audit
            .stats()
            .written
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stop accepting, let in-flight requests finish (up to 10 s), flush the decision log.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        drop(self.gateway);
        if tokio::time::timeout(Duration::from_secs(15), self.audit_writer.finish())
            .await
            .is_err()
        {
            tracing::error!("decision log did not flush within 15 s");
        }
        self.store.close().await;
    }
}

async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                let conn = ConnInfo {
                    peer,
                    tls: false,
                    tls_fp: None,
                };
                let service = conn_service(gateway.clone(), conn);
                let fut = graceful.watch(
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned(),
                );
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let gw = gateway.clone();
                tokio::spawn(async move {
                    let mut tls_stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(HelloRecorder::new(stream)),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    // Fingerprinted once per connection; requests share the Arc.
                    let tls_fp = tls_stream.get_mut().0.finish();
                    let conn = ConnInfo {
                        peer,
                        tls: true,
                        tls_fp,
                    };
                    let service = conn_service(gw, conn);
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

/// The per-connection service: every request on the connection carries the
/// same `ConnInfo` (cloning it clones an `Arc`, never allocates).
fn conn_service(
    gw: Arc<Gateway>,
    conn: ConnInfo,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = hyper::Response<crate::body::GatewayBody>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + 'static {
    hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let gw = gw.clone();
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(gw.handle(req, conn).await) }
    })
}

/// Wraps a connection during the TLS handshake and keeps a copy of the first
/// bytes the client sends (at most [`ja4::MAX_CLIENT_HELLO`] plus room for
/// TLS record headers), which start with its ClientHello. It copies what rustls
/// reads anyway: no extra read, no peek. [`HelloRecorder::finish`] computes
/// the JA4 fingerprint and stops recording for the rest of the connection.
struct HelloRecorder<S> {
    inner: S,
    /// `None` once finished.
    seen: Option<Vec<u8>>,
}

/// A ClientHello can span several records; each adds a 5-byte header.
const RECORD_CAP: usize = ja4::MAX_CLIENT_HELLO + 64;

impl<S> HelloRecorder<S> {
    fn new(inner: S) -> Self {
        HelloRecorder {
            inner,
            seen: Some(Vec::with_capacity(2048)),
        }
    }

    /// The JA4 of what the client sent, computed once; recording stops and
    /// the buffer is freed.
    fn finish(&mut self) -> Option<Arc<str>> {
        let seen = self.seen.take()?;
        ja4::ja4(&seen).map(|fp| Arc::from(fp.as_str()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HelloRecorder<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(seen)) = (&polled, this.seen.as_mut()) {
            let room = RECORD_CAP.saturating_sub(seen.len());
            if let Some(new) = buf.filled().get(before..) {
                seen.extend_from_slice(new.get(..room.min(new.len())).unwrap_or_default());
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HelloRecorder<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn watch_policies(
    policy: Arc<PolicyEngine>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let p = policy.clone();
        // File reads happen off the async workers.
        let outcome = tokio::task::spawn_blocking(move || p.reload_if_changed()).await;
        match outcome {
            Ok(Some(Ok(o))) => tracing::info!(outcome = ?o, "policies reloaded"),
            Ok(Some(Err(e))) => {
                tracing::error!(error = %e, "policy reload failed; keeping the last good set")
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "policy reload task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        crate::tls::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!("didgate-ja4-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        crate::tls::write_self_signed(&cert, &key, &["localhost", "127.0.0.1"]).expect("cert");
        let server = crate::tls::server_config(&cert, &key).expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&cert).expect("cert pem");
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.expect("cert")).expect("root");
        }
        let mut client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // A resumed session adds pre_shared_key (and so changes the JA4, as
        // it does for browsers): keep every handshake a full one.
        client.resumption = rustls::client::Resumption::disabled();
        let _ = std::fs::remove_dir_all(&dir);
        (server, Arc::new(client))
    }

    /// Handshake through the recorder, then check data still flows both ways
    /// after recording stopped; returns the fingerprint.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Option<Arc<str>> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let server_side = tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(server);
            let mut tls = acceptor
                .accept(HelloRecorder::new(s))
                .await
                .expect("server handshake");
            let fp = tls.get_mut().0.finish();
            assert!(tls.get_ref().0.seen.is_none(), "recording stopped");
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.expect("read");
            tls.write_all(&buf).await.expect("echo");
            tls.flush().await.expect("flush");
            fp
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let mut tls = connector.connect(name, c).await.expect("client handshake");
        tls.write_all(b"ping").await.expect("write");
        tls.flush().await.expect("flush");
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.expect("read echo");
        assert_eq!(&buf, b"ping");
        server_side.await.expect("server task")
    }

    #[tokio::test]
    async fn tls_handshake_yields_the_clients_ja4() {
        let (server, client) = tls_configs();
        let name = ServerName::try_from("localhost").expect("name");
        let fp = handshake(server.clone(), client.clone(), name.clone())
            .await
            .expect("fingerprint");
        assert_eq!(fp.len(), 36, "{fp}");
        // rustls offers TLS 1.3, sends SNI for a DNS name, and ALPN h2 first.
        assert!(fp.starts_with("t13d"), "{fp}");
        assert_eq!(&fp[8..10], "h2", "{fp}");
        // Same client, same fingerprint (randoms and key shares do not count).
        let again = handshake(server, client, name).await.expect("fingerprint");
        assert_eq!(fp, again);
    }

    #[tokio::test]
    async fn no_sni_for_an_ip_address_gives_i() {
        let (server, client) = tls_configs();
        let name = ServerName::try_from("127.0.0.1").expect("ip name");
        let fp = handshake(server, client, name).await.expect("fingerprint");
        assert!(fp.starts_with("t13i"), "{fp}");
    }

    #[tokio::test]
    async fn recorder_keeps_at_most_the_cap_and_passes_everything_on() {
        let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut r = HelloRecorder::new(data.as_slice());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, data);
        assert_eq!(r.seen.as_deref(), data.get(..RECORD_CAP));
        assert_eq!(r.finish(), None, "not a ClientHello");
        assert_eq!(r.finish(), None, "finish is idempotent");
        // After finish, reads are no longer recorded.
        let mut r = HelloRecorder::new(data.as_slice());
        assert_eq!(r.finish(), None);
        r.read_to_end(&mut Vec::new()).await.expect("read");
        assert!(r.seen.is_none());
    }
}
