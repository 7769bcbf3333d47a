//! Start-up and shutdown: build the `Gateway` from a `Config`, bind the HTTP
//! and HTTPS listeners, serve connections (HTTP/1.1 and HTTP/2, upgrades)
//! held to `[server.limits]` (caps at accept; TLS-handshake, header-read,
//! idle and request-body timeouts; hyper's HTTP/2 limits), poll policy files
//! for changes, and on shutdown drain connections and flush the decision log.

pub mod anchor;
pub mod chains;
pub(crate) mod decision_log;
pub mod governance;
pub(crate) mod limits;
pub(crate) mod risk_sync;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use credentials::{
    HttpStatusChecker, StatusDispatcher, StatusListConfig, TrustedIssuers, Verifier, VerifierConfig,
};
use did_registry::ethr::{ChainFollower, EthrResolver, EthrStatusChecker, StatusChecker};
use did_registry::{DidResolver, MethodResolver};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use policy::PolicyEngine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::login::Login;
use crate::request::assertion::AssertionSigner;
use crate::request::authn::Authenticator;
use crate::request::body::Held;
use crate::request::conn::ConnInfo;
use crate::request::proxy::Proxy;
use crate::request::route::Router;
use crate::request::session::Sessions;
use crate::request::Gateway;
use crate::server::chains::Followed;
use crate::server::limits::{
    Activity, ConnTimeouts, ConnectionLimiter, ConnectionSlot, Expiry, InFlight, Limits, Next,
};
use crate::signals::geoip::GeoIp;
use crate::signals::ja4;
use crate::store::Store;
use audit::AuditWriter;
use decision_log::IndexTask;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("policies: {0}")]
    Policy(#[from] policy::PolicyError),
    #[error("gateway key: {0}")]
    Key(#[from] crate::request::assertion::KeyFileError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::server::tls::TlsError),
    #[error("routes: {0}")]
    Route(#[from] crate::request::route::RouteError),
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
    GeoIp(#[from] crate::signals::geoip::GeoIpError),
    #[error("{0}")]
    Audit(String),
    #[error("policies governed on chain: {0}")]
    Governance(#[from] governance::GovernanceError),
}

/// A gateway that is serving; `shutdown` stops it cleanly.
pub struct RunningGateway {
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    pub store: Store,
    pub policy: Arc<PolicyEngine>,
    /// `[policy] source = "chain"`: what keeps `policy` on the approved set.
    pub governor: Option<Arc<governance::Governor>>,
    /// did:ethr resolution over the configured chains (`None`: no chains).
    pub ethr: Option<Arc<EthrResolver>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    audit_writer: AuditWriter,
    indexer: IndexTask,
    /// `[audit.anchor]`: anchors once more at shutdown.
    anchorer: Option<Arc<anchor::Anchorer>>,
    gateway: Arc<Gateway>,
}

/// Build everything from `config` and start serving.
pub async fn start(config: &Config) -> Result<RunningGateway, StartError> {
    crate::server::tls::install_crypto_provider();
    if config.database.audit_queue.is_some() {
        tracing::warn!(
            "database.audit_queue is no longer used and is ignored: decisions go to the \
             transparency log of [audit], which needs no queue; remove the key"
        );
    }
    let store = Store::connect(&config.database_url()).await?;
    let (policy, governor) = load_policies(config, &store).await?;
    let Followed {
        resolver: ethr,
        status,
        followers,
    } = follow_chains(config, &store).await?;
    let verifier = build_verifier(config, ethr.clone(), status)?;
    let (gateway, audit_writer) = build_gateway(config, &store, verifier, policy.clone()).await?;
    let indexer = IndexTask::spawn(config, &store, &gateway.audit).await?;
    let origin = config
        .audit
        .origin(&config.server.public_url, &config.server.instance);
    let anchorer =
        anchor::Anchorer::open(config, &store, &gateway.log_dir, &origin, &gateway.log_vkey)
            .await
            .map_err(|e| StartError::Audit(format!("[audit.anchor]: {e:#}")))?
            .map(Arc::new);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let Listeners {
        http_addr,
        https_addr,
        mut tasks,
    } = bind_listeners(config, &gateway, &shutdown_rx).await?;
    tasks.extend(spawn_background(
        config,
        &store,
        &gateway,
        followers,
        governor.clone(),
        &shutdown_rx,
    ));
    if let (Some(a), Some(settings)) = (&anchorer, &config.audit.anchor) {
        tracing::info!(identity = %a.identity(), contract = %a.contract(), chain = %settings.chain,
            every_secs = settings.interval_secs, "decision log: anchoring checkpoints on chain");
        tasks.push(a.clone().spawn(
            Duration::from_secs(settings.interval_secs),
            shutdown_rx.clone(),
        ));
    }
    tracing::info!(http = ?http_addr, https = ?https_addr, db = store.backend(),
        policies = policy.policy_count(), routes = config.routes.len(), "didgate is serving");
    Ok(RunningGateway {
        http_addr,
        https_addr,
        store,
        policy,
        governor,
        ethr,
        shutdown,
        tasks,
        audit_writer,
        indexer,
        anchorer,
        gateway,
    })
}

/// The policy engine: over `[policy]`'s files, or (`source = "chain"`)
/// over the bundle approved on chain, with the governor that keeps it so.
async fn load_policies(
    config: &Config,
    store: &Store,
) -> Result<(Arc<PolicyEngine>, Option<Arc<governance::Governor>>), StartError> {
    if config.policy.source == crate::config::PolicySource::Files {
        return Ok((Arc::new(config.policy_engine()?), None));
    }
    let governor = governance::Governor::open(config, store).await?;
    let engine = governor.initial_engine().await?;
    Ok((Arc::new(engine), Some(Arc::new(governor))))
}

/// did:ethr over the configured chains: the resolver, the status registries
/// and a follower per chain, each synced once first.
async fn follow_chains(config: &Config, store: &Store) -> Result<Followed, StartError> {
    crate::server::chains::follow(config, store, Duration::from_secs(10))
        .await
        .map_err(|(name, source)| StartError::Chain { name, source })
}

/// The credential verifier: `[credentials]`' trusted issuers and audiences,
/// DIDs resolved over the chains, status checked on chain and over HTTP.
fn build_verifier(
    config: &Config,
    ethr: Option<Arc<EthrResolver>>,
    chain_status: Option<Arc<EthrStatusChecker>>,
) -> Result<Arc<Verifier>, StartError> {
    let mut trusted = TrustedIssuers::new();
    for t in &config.credentials.trusted_issuers {
        for did in &t.issuers {
            trusted.trust(&t.credential_type, did);
        }
    }
    let mut vcfg = VerifierConfig::new(config.credentials.audiences.clone(), trusted);
    vcfg.clock_skew_secs = config.credentials.clock_skew_secs;
    vcfg.max_presentation_lifetime_secs = config.credentials.max_presentation_lifetime_secs;
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver::new(ethr));
    // Credential status: on-chain lists (when chains are configured) and
    // HTTP-published lists, verified like any credential.
    let http_status = HttpStatusChecker::new(
        Verifier::new(vcfg.clone(), resolver.clone()),
        StatusListConfig {
            ttl: Duration::from_secs(config.credentials.status_list_ttl_secs),
            allowed_urls: config.credentials.status_list_urls(),
            ..StatusListConfig::default()
        },
    )
    .map_err(|e| StartError::Status(e.to_string()))?;
    let status = StatusDispatcher::new(
        chain_status.map(|s| s as Arc<dyn StatusChecker>),
        Arc::new(http_status),
    );
    Ok(Arc::new(
        Verifier::new(vcfg, resolver)
            .with_status_checker(Arc::new(status))
            .with_credential_cache(config.credentials.verified_credential_cache),
    ))
}

/// The request path: the `Gateway` every request goes through, with its
/// sessions, signing key, decision log (whose writer shutdown flushes), risk
/// engine and GeoIP databases.
async fn build_gateway(
    config: &Config,
    store: &Store,
    verifier: Arc<Verifier>,
    policy: Arc<PolicyEngine>,
) -> Result<(Arc<Gateway>, AuditWriter), StartError> {
    let instance: Arc<str> = Arc::from(config.server.instance.as_str());
    let (sessions, login) = open_sessions(config, store, &instance).await?;
    let signer = AssertionSigner::load_or_create(
        &config.resolve(&config.identity.key_file),
        &config.server.public_url,
        config.identity.assertion_ttl_secs,
    )?;
    let (log_dir, tc) = decision_log::tlog_config(config, &signer)?;
    let log = decision_log::open(log_dir.clone(), tc.clone()).await?;
    let log_archives: Arc<[std::path::PathBuf]> = tc.archives.clone().into();
    let log_vkey = log.vkey().to_owned();
    let (audit, audit_writer) = decision_log::spawn_writer(config, log, log_dir.clone(), tc)?;
    let risk = crate::server::risk_sync::open(&config.risk, store)
        .await?
        .map(Arc::new);
    let geoip = open_geoip(config)?;
    let gateway = Arc::new(Gateway {
        instance,
        router: Router::new(&config.routes)?,
        authn: Authenticator::new(
            verifier,
            config.credentials.replay_cache_capacity,
            config.credentials.clock_skew_secs,
            sessions,
            crate::request::signed::SignedRequests::new(
                crate::request::signed::SignatureSettings {
                    max_validity_secs: config.credentials.signature_max_validity_secs,
                    clock_skew_secs: config.credentials.clock_skew_secs,
                    max_body_bytes: config.credentials.signed_body_max_bytes,
                    nonce_capacity: config.credentials.replay_cache_capacity,
                    presented_capacity: config.credentials.presented_credentials_capacity,
                },
            ),
        ),
        policy,
        audit,
        log_dir,
        log_archives,
        log_vkey,
        log_route: crate::request::route::Route::internal(
            crate::request::log_files::LOG_APP,
            crate::request::log_files::ENTRIES_PREFIX,
        ),
        signer,
        assertions: crate::request::assertion::AssertionCache::new(ASSERTION_CACHE_BYTES),
        proxy: Proxy::new(config.server.limits.request_body_timeout())
            .map_err(StartError::Client)?,
        risk,
        geoip,
        trusted_proxies: config.server.trusted_proxies(),
        challenges: crate::request::authn::StepUpChallenges::new(100_000),
        login,
        recheck_every: Duration::from_secs(config.server.recheck_interval_secs),
    });
    Ok((gateway, audit_writer))
}

/// Browser sessions and the login (OpenID4VP) that opens them; both `None`
/// when `[sessions] enabled = false`.
async fn open_sessions(
    config: &Config,
    store: &Store,
    instance: &Arc<str>,
) -> Result<(Option<Arc<Sessions>>, Option<Login>), StartError> {
    if !config.sessions.enabled {
        return Ok((None, None));
    }
    let sessions = Arc::new(Sessions::new(
        config.session_settings(),
        store.clone(),
        instance.clone(),
    ));
    let login = Login::new(
        &config.server.public_url,
        config.login_credential_types(),
        Duration::from_secs(config.sessions.login_timeout_secs),
        config.session_settings().secure,
        store.shared_key("login_state").await?,
        config.server.limits.request_body_timeout(),
    );
    Ok((Some(sessions), Some(login)))
}

/// The GeoIP city and ASN databases, when `[risk]` names either.
fn open_geoip(config: &Config) -> Result<Option<GeoIp>, StartError> {
    let (city, asn) = (&config.risk.geoip_city_db, &config.risk.geoip_asn_db);
    if city.is_none() && asn.is_none() {
        return Ok(None);
    }
    let geoip = GeoIp::open(
        city.as_ref().map(|p| config.resolve(p)).as_deref(),
        asn.as_ref().map(|p| config.resolve(p)).as_deref(),
    )?;
    Ok(Some(geoip))
}

/// The listeners `start` bound and their accept loops.
struct Listeners {
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

/// Bind the HTTP and HTTPS listeners `[server]` names and spawn an accept
/// loop on each; both share one set of connection caps.
async fn bind_listeners(
    config: &Config,
    gateway: &Arc<Gateway>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Listeners, StartError> {
    // One set of caps over both listeners; trusted proxies come with `gateway`.
    let listening = Arc::new(Listening::new(gateway.clone(), &config.server.limits));
    let mut bound = Listeners {
        http_addr: None,
        https_addr: None,
        tasks: Vec::new(),
    };
    if let Some(addr) = config.server.listen {
        let (local, task) = listen(addr, None, &listening, shutdown).await?;
        bound.http_addr = local;
        bound.tasks.push(task);
    }
    if let (Some(addr), Some(tls)) = (config.server.listen_tls, &config.server.tls) {
        let tls_cfg = crate::server::tls::server_config(
            &config.resolve(&tls.cert),
            &config.resolve(&tls.key),
            tls.client_auth,
        )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
        let (local, task) = listen(addr, Some(acceptor), &listening, shutdown).await?;
        bound.https_addr = local;
        bound.tasks.push(task);
    }
    Ok(bound)
}

/// Bind `addr` and spawn its accept loop (TLS when `tls` is set); returns
/// the address bound, a port 0 resolved.
async fn listen(
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listening: &Arc<Listening>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Option<SocketAddr>, JoinHandle<()>), StartError> {
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = l.local_addr().ok();
    let task = tokio::spawn(serve(l, tls, listening.clone(), shutdown.clone()));
    Ok((local, task))
}

/// The jobs beside the listeners, each until shutdown: the chain followers,
/// the risk profiles' sync, the sessions' sync and the policy files' poll
/// (or, in chain mode, the policy governor).
fn spawn_background(
    config: &Config,
    store: &Store,
    gateway: &Gateway,
    followers: Vec<ChainFollower>,
    governor: Option<Arc<governance::Governor>>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for f in followers {
        tasks.push(tokio::spawn(f.run(shutdown.clone())));
    }
    if let Some(engine) = gateway.risk.clone() {
        tasks.push(tokio::spawn(crate::server::risk_sync::run(
            engine,
            store.clone(),
            Arc::from(config.server.instance.as_str()),
            Duration::from_millis(config.risk.flush_interval_ms),
            shutdown.clone(),
        )));
    }
    if let Some(sessions) = gateway.authn.sessions().cloned() {
        tasks.push(tokio::spawn(crate::request::session::run(
            sessions,
            shutdown.clone(),
        )));
    }
    if let Some(g) = governor {
        // The governance chain's poll interval: a switch is seen as soon as
        // the chain's other changes are.
        let poll = config
            .policy
            .governance
            .as_ref()
            .and_then(|g| config.chains.get(&g.chain))
            .map_or(Duration::from_secs(1), |c| {
                Duration::from_millis(c.poll_interval_ms)
            });
        tasks.push(tokio::spawn(g.run(
            gateway.policy.clone(),
            poll,
            shutdown.clone(),
        )));
    } else if config.policy.reload_interval_secs > 0 {
        tasks.push(tokio::spawn(watch_policies(
            gateway.policy.clone(),
            Duration::from_secs(config.policy.reload_interval_secs),
            shutdown.clone(),
        )));
    }
    tasks
}

impl RunningGateway {
    /// Decisions appended to the log so far (this run).
    pub fn decisions_written(&self) -> u64 {
        self.gateway
            .audit
            .stats()
            .written
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The decision log's verifier key (`name+hash+base64`), what an
    /// auditor checks its checkpoints with.
    pub fn log_vkey(&self) -> &str {
        &self.gateway.log_vkey
    }

    /// The decision log's directory.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.gateway.log_dir
    }

    /// The decision log's counters: entries appended, signed, indexed.
    pub fn audit_stats(&self) -> &audit::AuditStats {
        self.gateway.audit.stats()
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
        if let Some(a) = &self.anchorer {
            match tokio::time::timeout(Duration::from_secs(15), a.anchor_once()).await {
                Ok(Ok(anchor::Anchored::New { head, block })) => {
                    tracing::info!(
                        size = head.size,
                        block,
                        "decision log: last checkpoint anchored"
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"),
                    "decision log: the last checkpoint could not be anchored; it is at the next start"),
                Err(_) => tracing::error!("decision log: anchoring the last checkpoint timed out"),
            }
        }
        self.indexer.finish().await;
        self.store.close().await;
    }
}

/// What every connection of the gateway's listeners shares: the gateway
/// (whose trusted proxies are exempt from the per-address cap), the hyper
/// builder with `[server.limits]` applied, the connection caps and the
/// timeouts.
struct Listening {
    gateway: Arc<Gateway>,
    builder: auto::Builder<TokioExecutor>,
    limiter: Arc<ConnectionLimiter>,
    timeouts: ConnTimeouts,
    tls_handshake: Duration,
}

impl Listening {
    fn new(gateway: Arc<Gateway>, limits: &Limits) -> Self {
        Self {
            gateway,
            builder: http_builder(limits),
            limiter: ConnectionLimiter::new(limits),
            timeouts: limits.conn_timeouts(),
            tls_handshake: limits.tls_handshake_timeout(),
        }
    }
}

/// hyper's HTTP/1.1 and HTTP/2 server with the limits hyper enforces itself.
/// Header-read and idle timeouts are `supervise`'s, not hyper's: hyper's
/// HTTP/1 `header_read_timeout` (1.12) restarts as soon as a response ends,
/// so it would also cut every keep-alive connection idle that long.
fn http_builder(l: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .header_read_timeout(None)
        // The read buffer bounds the request line and headers (then 431).
        .max_buf_size(
            (l.max_header_bytes
                .max(crate::server::limits::MIN_HEADER_BYTES)) as usize,
        );
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(l.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(l.h2_max_pending_accept_reset_streams as usize)
        .max_local_error_reset_streams(l.h2_max_local_error_reset_streams as usize)
        .max_header_list_size(l.max_header_bytes)
        .keep_alive_interval(l.h2_keep_alive_interval())
        .keep_alive_timeout(l.h2_keep_alive_timeout());
    b
}

/// One listener's accept loop: admit each connection past the caps and
/// serve it on its own task; at shutdown, stop accepting and drain them.
async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listening: Arc<Listening>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
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
        // Past a cap the connection is closed at once, before a byte is read.
        let Some((io, activity)) = admit(&listening, stream, peer) else {
            continue;
        };
        // Held by the task: `graceful.shutdown()` waits for every one to drop.
        let drained = graceful.watcher();
        let stop = stop_signal(shutdown.clone());
        let listening = listening.clone();
        match &tls {
            None => tokio::spawn(async move {
                let _drained = drained;
                let conn = ConnInfo {
                    peer,
                    tls: false,
                    tls_fp: None,
                    client_cert: None,
                };
                serve_connection(&listening, TokioIo::new(io), conn, activity, stop).await;
            }),
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _drained = drained;
                    serve_tls_connection(&listening, &acceptor, io, peer, activity, stop).await;
                })
            }
        };
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

/// Count a new connection in the caps (a trusted proxy is exempt from the
/// per-address one) and give it an activity record its reads update;
/// `None`: refused.
fn admit(
    listening: &Listening,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<(Tapped<TcpStream, Connection>, Arc<Activity>)> {
    let ip = peer.ip().to_canonical();
    let exempt = listening
        .gateway
        .trusted_proxies
        .iter()
        .any(|c| c.contains(ip));
    let slot = listening.limiter.try_acquire(ip, exempt).ok()?;
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = Tapped::new(
        stream,
        Connection {
            activity: activity.clone(),
            _slot: slot,
        },
    );
    Some((io, activity))
}

/// The TLS handshake (within `tls_handshake_timeout_secs`) and the client's
/// JA4 fingerprint, then HTTP over the TLS stream.
async fn serve_tls_connection(
    listening: &Listening,
    acceptor: &tokio_rustls::TlsAcceptor,
    io: Tapped<TcpStream, Connection>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    stop: impl Future<Output = ()>,
) {
    let mut tls_stream = match tokio::time::timeout(
        listening.tls_handshake,
        acceptor.accept(Tapped::new(io, HelloRecorder::new())),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    activity.handshake_done();
    // Fingerprinted once per connection; requests share the Arc.
    let tls_fp = tls_stream.get_mut().0.hook.finish();
    let client_cert =
        crate::request::mtls::peer_certificate(tls_stream.get_ref().1.peer_certificates());
    let conn = ConnInfo {
        peer,
        tls: true,
        tls_fp,
        client_cert,
    };
    let io = TokioIo::new(tls_stream);
    serve_connection(listening, io, conn, activity, stop).await;
}

/// Resolves when the gateway shuts down (or is gone).
async fn stop_signal(mut shutdown: watch::Receiver<bool>) {
    if !*shutdown.borrow_and_update() {
        let _ = shutdown.changed().await;
    }
}

/// Serve HTTP on one connection until it ends or a limit closes it.
async fn serve_connection<I>(
    listening: &Listening,
    io: TokioIo<I>,
    conn: ConnInfo,
    activity: Arc<Activity>,
    stop: impl Future<Output = ()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let service = conn_service(listening.gateway.clone(), conn, activity.clone());
    let served = listening
        .builder
        .serve_connection_with_upgrades(io, service);
    let outcome = supervise(
        served,
        |c| c.graceful_shutdown(),
        &activity,
        &listening.timeouts,
        stop,
    )
    .await;
    match outcome {
        Ok(None) => {}
        Ok(Some(expiry)) => tracing::debug!(%peer, ?expiry, "connection closed by a limit"),
        Err(e) => tracing::debug!(%peer, error = %e, "connection closed with an error"),
    }
}

/// Drive `conn` and hold it to the timeouts: close it when no first request
/// (or, on HTTP/1.1, no complete header) arrives in time; shut it down
/// gracefully when idle (HTTP/1.1 closes at once, HTTP/2 sends GOAWAY and
/// finishes open streams), or when the gateway stops; close it when that
/// drain outlasts its grace. One timer, reset only when its deadline moves;
/// a request in progress has no deadline here (its body and the upstream
/// have theirs). `Ok(Some(_))`: a limit closed it.
async fn supervise<C, E>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    activity: &Activity,
    timeouts: &ConnTimeouts,
    stop: impl Future<Output = ()>,
) -> Result<Option<Expiry>, E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut conn = std::pin::pin!(conn);
    let mut stop = std::pin::pin!(stop);
    let mut stopped = false;
    let mut draining: Option<Instant> = None;
    let mut timer = std::pin::pin!(tokio::time::sleep(timeouts.header_read));
    std::future::poll_fn(|cx| loop {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(r.map(|()| None));
        }
        if !stopped && stop.as_mut().poll(cx).is_ready() {
            stopped = true;
            if draining.is_none() {
                graceful(conn.as_mut());
                draining = Some(Instant::now());
                continue;
            }
        }
        let (deadline, expiry) = match activity.next(timeouts, draining) {
            Next::Busy => {
                // Registered before looking again, so the last request
                // ending on another task (HTTP/2) cannot be missed.
                activity.wake_when_idle(cx.waker());
                if activity.in_flight() > 0 {
                    return Poll::Pending;
                }
                continue;
            }
            Next::At(deadline, expiry) => (deadline, expiry),
        };
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if expiry == Expiry::Idle {
            graceful(conn.as_mut());
            draining = Some(Instant::now());
            continue;
        }
        return Poll::Ready(Ok(Some(expiry)));
    })
    .await
}

/// The per-connection service: every request on the connection carries the
/// same `ConnInfo` (cloning it clones an `Arc`, never allocates). A request
/// counts as in progress on the connection until its response body is done.
fn conn_service(
    gw: Arc<Gateway>,
    conn: ConnInfo,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = hyper::Response<Held<InFlight>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + 'static {
    hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = activity.begin(req.version() == http::Version::HTTP_2);
        let gw = gw.clone();
        let conn = conn.clone();
        async move {
            let resp = gw.handle(req, conn).await;
            Ok::<_, Infallible>(resp.map(|b| Held::new(b, in_flight)))
        }
    })
}

/// A stream whose reads a hook sees (and whose writes pass through): the
/// connection's slot and activity under everything else, and the TLS
/// handshake's ClientHello recorder.
struct Tapped<S, H> {
    inner: S,
    hook: H,
}

/// What a [`Tapped`] stream tells about the bytes it read.
trait OnRead {
    fn on_read(&mut self, bytes: &[u8]);
}

impl<S, H> Tapped<S, H> {
    fn new(inner: S, hook: H) -> Self {
        Self { inner, hook }
    }
}

impl<S: AsyncRead + Unpin, H: OnRead + Unpin> AsyncRead for Tapped<S, H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if let Some(new) = buf.filled().get(before..).filter(|n| !n.is_empty()) {
                this.hook.on_read(new);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin, H: Unpin> AsyncWrite for Tapped<S, H> {
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

/// The TCP stream under everything else (TLS included) holds the
/// connection's slot in the caps, so it is given back whenever the socket
/// is dropped — after an upgrade too — and tells the connection's activity
/// that bytes arrived.
struct Connection {
    activity: Arc<Activity>,
    _slot: ConnectionSlot,
}

impl OnRead for Connection {
    fn on_read(&mut self, _: &[u8]) {
        self.activity.mark_read();
    }
}

/// Keeps a copy of the first bytes a TLS client sends (at most
/// [`ja4::MAX_CLIENT_HELLO`] plus room for TLS record headers), which start
/// with its ClientHello. It copies what rustls reads anyway: no extra read,
/// no peek. [`HelloRecorder::finish`] computes the JA4 fingerprint and stops
/// recording for the rest of the connection.
struct HelloRecorder {
    /// `None` once finished.
    seen: Option<Vec<u8>>,
}

/// A ClientHello can span several records; each adds a 5-byte header.
/// Bytes of signed identity assertions (and the principals they hold) kept
/// for reuse: about 20,000 holders with a few claims each.
const ASSERTION_CACHE_BYTES: u64 = 64 << 20;

const RECORD_CAP: usize = ja4::MAX_CLIENT_HELLO + 64;

impl HelloRecorder {
    fn new() -> Self {
        HelloRecorder {
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

impl OnRead for HelloRecorder {
    fn on_read(&mut self, bytes: &[u8]) {
        if let Some(seen) = self.seen.as_mut() {
            let room = RECORD_CAP.saturating_sub(seen.len());
            seen.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
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

/// Wait for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        crate::server::tls::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!("didgate-ja4-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        crate::server::tls::write_self_signed(&cert, &key, &["localhost", "127.0.0.1"])
            .expect("cert");
        let server =
            crate::server::tls::server_config(&cert, &key, crate::config::ClientAuth::None)
                .expect("server config");
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
                .accept(Tapped::new(s, HelloRecorder::new()))
                .await
                .expect("server handshake");
            let fp = tls.get_mut().0.hook.finish();
            assert!(tls.get_ref().0.hook.seen.is_none(), "recording stopped");
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
        let mut r = Tapped::new(data.as_slice(), HelloRecorder::new());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, data);
        assert_eq!(r.hook.seen.as_deref(), data.get(..RECORD_CAP));
        assert_eq!(r.hook.finish(), None, "not a ClientHello");
        assert_eq!(r.hook.finish(), None, "finish is idempotent");
        // After finish, reads are no longer recorded.
        let mut r = Tapped::new(data.as_slice(), HelloRecorder::new());
        assert_eq!(r.hook.finish(), None);
        r.read_to_end(&mut Vec::new()).await.expect("read");
        assert!(r.hook.seen.is_none());
    }

    /// A connection that never ends by itself; after a graceful shutdown it
    /// ends at once (HTTP/1.1 when idle) or not at all (a peer that ignores
    /// GOAWAY).
    struct FakeConn {
        graceful: Arc<std::sync::atomic::AtomicU32>,
        ends_on_graceful: bool,
    }

    impl Future for FakeConn {
        type Output = Result<(), std::io::Error>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            let asked = self.graceful.load(std::sync::atomic::Ordering::Relaxed) > 0;
            if asked && self.ends_on_graceful {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }
    }

    const TIMEOUTS: ConnTimeouts = ConnTimeouts {
        header_read: Duration::from_millis(200),
        idle: Duration::from_millis(300),
        drain_grace: Duration::from_millis(250),
    };

    /// `took` is at least `expected`, and not absurdly more.
    #[track_caller]
    fn about(took: Duration, expected: Duration) {
        assert!(
            took >= expected - Duration::from_millis(5) && took < expected + Duration::from_secs(5),
            "{took:?}, expected {expected:?}"
        );
    }

    async fn run(
        activity: &Activity,
        ends_on_graceful: bool,
        stop: impl Future<Output = ()>,
    ) -> (Option<Expiry>, u32, Duration) {
        let graceful = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let conn = FakeConn {
            graceful: graceful.clone(),
            ends_on_graceful,
        };
        let t = TIMEOUTS;
        let t0 = Instant::now();
        let out = supervise(
            conn,
            |c: Pin<&mut FakeConn>| {
                c.graceful
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
            activity,
            &t,
            stop,
        )
        .await
        .expect("no I/O error");
        let calls = graceful.load(std::sync::atomic::Ordering::Relaxed);
        (out, calls, t0.elapsed())
    }

    #[tokio::test]
    async fn supervise_closes_a_connection_without_a_request() {
        let a = Activity::new();
        let (out, graceful, took) = run(&a, true, std::future::pending()).await;
        assert_eq!((out, graceful), (Some(Expiry::FirstRequest), 0));
        about(took, TIMEOUTS.header_read);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn supervise_waits_for_requests_then_drains_an_idle_connection() {
        let a = Activity::new();
        // A request in progress past every timeout ends on another task (HTTP/2).
        let r = a.begin(true);
        let busy = Duration::from_millis(700);
        tokio::spawn(async move {
            tokio::time::sleep(busy).await;
            drop(r);
        });
        // A peer that ignores the GOAWAY is closed after the grace.
        let (out, graceful, took) = run(&a, false, std::future::pending()).await;
        assert_eq!((out, graceful), (Some(Expiry::Drained), 1));
        about(took, busy + TIMEOUTS.idle + TIMEOUTS.drain_grace);
        // A cooperative one ends at the idle timeout.
        let a = Activity::new();
        drop(a.begin(false));
        let (out, graceful, took) = run(&a, true, std::future::pending()).await;
        assert_eq!((out, graceful), (None, 1));
        about(took, TIMEOUTS.idle);
    }

    #[tokio::test]
    async fn supervise_shuts_down_gracefully_when_the_gateway_stops() {
        let a = Activity::new();
        drop(a.begin(false));
        let stop = tokio::time::sleep(Duration::from_millis(100));
        let (out, graceful, took) = run(&a, true, stop).await;
        assert_eq!((out, graceful), (None, 1));
        about(took, Duration::from_millis(100));
    }
}
