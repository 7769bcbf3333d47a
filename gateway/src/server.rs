//! Start-up and shutdown: build the `Gateway` from a `Config`, bind the HTTP
//! and HTTPS listeners, serve connections (HTTP/1.1 and HTTP/2, upgrades),
//! poll policy files for changes, and on shutdown drain connections and flush
//! the decision log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
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
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::assertion::AssertionSigner;
use crate::audit::{AuditLog, AuditWriter};
use crate::authn::Authenticator;
use crate::config::Config;
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
    let resolver: Arc<dyn DidResolver> = Arc::new(MethodResolver { ethr: ethr.clone() });
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
    let verifier = Verifier::new(vcfg, resolver).with_status_checker(Arc::new(status));

    let signer = AssertionSigner::load_or_create(
        &config.resolve(&config.identity.key_file),
        &config.server.public_url,
        config.identity.assertion_ttl_secs,
    )?;
    let (audit, audit_writer) = AuditLog::spawn(store.clone(), config.database.audit_queue);
    let gateway = Arc::new(Gateway {
        instance: Arc::from(config.server.instance.as_str()),
        router: Router::new(&config.routes)?,
        authn: Authenticator::new(
            verifier,
            config.credentials.replay_cache_capacity,
            config.credentials.clock_skew_secs,
        ),
        policy: policy.clone(),
        audit,
        signer,
        proxy: Proxy::new().map_err(StartError::Client)?,
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
        let conn = ConnInfo {
            peer,
            tls: tls.is_some(),
        };
        let gw = gateway.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(gw.handle(req, conn).await) }
        });
        match &tls {
            None => {
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
                tokio::spawn(async move {
                    let tls_stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
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
