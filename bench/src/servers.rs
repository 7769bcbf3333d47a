//! The processes the systems under test talk to: a fast upstream and the
//! session check behind nginx's `auth_request`. Both are as cheap as hyper
//! allows (HTTP/1.1 keep-alive, one thread), so that what is measured is the
//! proxy in front of them.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The upstream's answer: small, like an API's JSON reply.
pub const UPSTREAM_BODY: &[u8] = b"{\"ok\":true,\"app\":\"didgate-bench upstream\"}\n";

fn serve<F>(listen: SocketAddr, answer: F) -> Result<()>
where
    F: Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = Arc::new(answer);
    rt.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let r = answer(&req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

pub fn upstream(listen: SocketAddr) -> Result<()> {
    serve(listen, |_req| {
        let mut r = Response::new(Full::new(Bytes::from_static(UPSTREAM_BODY)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r
    })
}

pub fn authz(listen: SocketAddr, sessions: &Path) -> Result<()> {
    let text = std::fs::read_to_string(sessions)
        .with_context(|| format!("cannot read {}", sessions.display()))?;
    let known: HashSet<String> = text.lines().map(str::to_owned).collect();
    serve(listen, move |req| {
        let ok = req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix("session="))
            .any(|id| known.contains(id));
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = if ok {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::UNAUTHORIZED
        };
        r
    })
}

/// The floor every proxy row is read against: a reverse proxy that is
/// hyper and nothing else. The same server and pooled client as didgate
/// (hyper 1, hyper-util's legacy client, keep-alive, `TCP_NODELAY` both
/// ways) on the same runtime (tokio's multi-thread, one worker per CPU it
/// is pinned to), with no check, no log and no header rewriting beyond
/// the URI. What didgate spends above it is what its checks cost.
pub fn bare_proxy(listen: SocketAddr, upstream: SocketAddr) -> Result<()> {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::TokioExecutor;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(http);
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let authority = http::uri::Authority::try_from(upstream.to_string())?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (client, authority) = (client.clone(), authority.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let client = client.clone();
                    let mut parts = req.uri().clone().into_parts();
                    parts.scheme = Some(http::uri::Scheme::HTTP);
                    parts.authority = Some(authority.clone());
                    async move {
                        *req.uri_mut() = http::Uri::from_parts(parts)?;
                        let resp = client.request(req).await?;
                        Ok::<_, anyhow::Error>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
