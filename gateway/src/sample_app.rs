//! The demo's sample upstream app: answers every request with what it
//! received — method, path, headers, body size — and who the gateway says the
//! caller is (the identity assertion, verified against the gateway's JWKS).
//! Also used as the real upstream in the integration tests.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use credentials::{jws, PublicKey};
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// A running sample app.
pub struct SampleApp {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SampleApp {
    /// Serve on `addr` (port 0 for any). `gateway_jwks` is the JWKS JSON used
    /// to verify identity assertions; without it they are shown unverified.
    pub async fn start(addr: SocketAddr, gateway_jwks: Option<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let keys = std::sync::Arc::new(gateway_jwks.map(|j| parse_jwks(&j)).unwrap_or_default());
        let task = serve(listener, move |req| {
            let keys = keys.clone();
            async move { answer(req, &keys).await }
        });
        Ok(Self { addr, task })
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Accept connections on `listener` until aborted and answer each request
/// (HTTP/1.1 or HTTP/2) with `handler`: the sample app's and the sample
/// service's server.
pub(crate) fn serve<F, Fut>(listener: TcpListener, handler: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handler(req);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

fn parse_jwks(text: &str) -> Vec<PublicKey> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    v["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<credentials::Jwk>(k.clone()).ok())
                .filter_map(|j| PublicKey::from_jwk(&j).ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn answer(req: Request<Incoming>, keys: &[PublicKey]) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // Count the body as it streams in; never hold it all.
    let mut body = body;
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    received += d.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("<binary>").to_owned()),
            )
        })
        .collect();
    let identity = parts
        .headers
        .get(crate::request::assertion::ASSERTION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|token| describe_assertion(token, keys));
    let out = json!({
        "app": "didgate sample app",
        "method": parts.method.as_str(),
        "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "body_bytes": received,
        "identity": identity,
        "headers": headers,
    });
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("text/html"));
    let (ct, text) = if wants_html {
        let pretty = serde_json::to_string_pretty(&out).unwrap_or_default();
        (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><title>didgate sample app</title><h1>Hello from the sample app</h1><pre>{}</pre>",
                pretty.replace('&', "&amp;").replace('<', "&lt;")
            ),
        )
    } else {
        (
            "application/json",
            serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
    resp
}

fn describe_assertion(token: &str, keys: &[PublicKey]) -> Value {
    match jws::parse(token) {
        Ok(p) => {
            let verified = keys.iter().any(|k| {
                k.verify_jose(&p.header.alg, p.signing_input.as_bytes(), &p.signature)
                    .is_ok()
            });
            json!({ "verified_with_gateway_jwks": verified, "claims": p.payload })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}
