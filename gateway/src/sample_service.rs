//! The demo's second service: a billing service that calls the sample app
//! through the gateway with signed requests (RFC 9421, `didgate-client`),
//! as a real service adopts didgate. Each request to it makes one call
//! through the gateway — `GET /` reads `/api/invoices`, `POST /` sends its
//! body to `/api/invoices` — and answers what the gateway answered: status,
//! reason and body. Its credential is presented once, with its first call
//! (and again after a 401, e.g. once the gateway has forgotten it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use didgate_client::Signer;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// A running sample service.
pub struct SampleService {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// What the service needs to call through the gateway.
struct Caller {
    signer: Signer,
    /// A VP-JWT of the service's credential, for the gateway's audience.
    presentation: Box<dyn Fn() -> Result<String> + Send + Sync>,
    /// The next call presents the credential.
    present: AtomicBool,
    target: String,
    client: reqwest::Client,
}

impl SampleService {
    /// Serve on `addr`, calling `gateway`'s `/api/invoices` as the service
    /// whose key is in `key_file` (its `kid` is the DID URL it signs as),
    /// presenting `vc_file`'s credential for `audience` once.
    pub async fn start(
        addr: SocketAddr,
        key_file: &Path,
        vc_file: &Path,
        gateway: &str,
        audience: &str,
    ) -> Result<Self> {
        let signer = Signer::from_key_file(key_file)?;
        let vc = std::fs::read_to_string(vc_file)
            .with_context(|| format!("cannot read {}", vc_file.display()))?
            .trim()
            .to_owned();
        let (key_file, audience) = (key_file.to_owned(), audience.to_owned());
        let presentation = Box::new(move || {
            crate::cli::identity::present_vp(
                &key_file,
                vec![vc.clone()],
                &audience,
                None,
                120,
                credentials::Format::JwtVc11,
            )
        });
        crate::server::tls::install_crypto_provider();
        let caller = Arc::new(Caller {
            signer,
            presentation,
            present: AtomicBool::new(true),
            target: format!("{}/api/invoices", gateway.trim_end_matches('/')),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
        });
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = crate::sample_app::serve(listener, move |req| {
            let caller = caller.clone();
            async move { caller.answer(req).await }
        });
        Ok(Self { addr, task })
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Caller {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let (status, out) = match self.call(method, body).await {
            Ok(v) => (StatusCode::OK, v),
            Err(e) => (
                StatusCode::BAD_GATEWAY,
                json!({ "error": format!("{e:#}") }),
            ),
        };
        let mut resp = Response::new(Full::new(Bytes::from(
            serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
        )));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }

    /// One signed call through the gateway: what it answered.
    async fn call(&self, method: Method, body: Bytes) -> Result<Value> {
        let method = if method == Method::POST {
            Method::POST
        } else {
            Method::GET
        };
        let presenting = self.present.swap(false, Ordering::AcqRel);
        let mut request = self.client.request(method, &self.target).body(body);
        if presenting {
            request = request.header("x-didgate-presentation", (self.presentation)()?);
        }
        let mut request = request.build()?;
        self.signer.sign_reqwest(&mut request)?;
        let resp = self.client.execute(request).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            self.present.store(true, Ordering::Release);
        }
        let text = resp.text().await.unwrap_or_default();
        let answer = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        Ok(json!({
            "service": "billing (signed requests, didgate-client)",
            "called": self.target,
            "signed_as": self.signer.keyid(),
            "presented_credential": presenting,
            "gateway_status": status.as_u16(),
            "answer": answer,
        }))
    }
}
