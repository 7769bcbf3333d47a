//! Proxying: streamed bodies are never buffered, websockets pass through,
//! the HTTPS listener serves HTTP/1.1 and HTTP/2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// An upstream that reports when the first body bytes arrive and how many arrived in all.
async fn counting_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<&'static str>) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let mut body = req.into_body();
                        let mut total = 0u64;
                        while let Some(Ok(f)) = body.frame().await {
                            if let Some(d) = f.data_ref() {
                                if total == 0 && !d.is_empty() {
                                    let _ = tx.send("first-bytes");
                                }
                                total += d.len() as u64;
                            }
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                            total.to_string(),
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_body_streams_through_without_buffering() {
    let (up, mut events) = counting_upstream().await;
    let h = Harness::start(
        None,
        &format!(
            "[[route]]\nname = \"upload\"\npath_prefix = \"/upload\"\nupstream = \"http://{up}\"\n"
        ),
    )
    .await;
    // Admin may POST.
    let vc = h.vc_by(
        &h.issuer,
        &h.carol.did,
        serde_json::json!({"role": "admin"}),
        now(),
        3600,
        credentials::Format::JwtVc11,
    );
    let vp = h.vp_for(
        &h.carol,
        vec![vc],
        &h.audience,
        now(),
        credentials::Format::JwtVc11,
    );

    let (body_tx, body_rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let body = StreamBody::new(tokio_stream_from(body_rx));
    let client: Client<_, StreamBody<_>> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/upload/blob", h.url))
        .header("authorization", format!("Bearer {vp}"))
        .body(body)
        .unwrap();
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let r = client.request(req).await.unwrap();
        let status = r.status();
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let _ = done_tx.send((status, b));
    });

    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 64; // 64 MiB in all
    body_tx
        .send(Ok(Frame::data(Bytes::from(vec![7u8; CHUNK]))))
        .await
        .unwrap();
    // The upstream must see the first MiB while the client has sent nothing
    // else: a buffering proxy would wait for the end of the body.
    let first = tokio::time::timeout(Duration::from_secs(20), events.recv()).await;
    assert_eq!(
        first.expect("upstream saw no bytes before the body ended: the gateway buffers"),
        Some("first-bytes")
    );
    for _ in 1..CHUNKS {
        body_tx
            .send(Ok(Frame::data(Bytes::from(vec![7u8; CHUNK]))))
            .await
            .unwrap();
    }
    drop(body_tx);
    let (status, b) = tokio::time::timeout(Duration::from_secs(60), done_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&b), (CHUNK * CHUNKS).to_string());
    h.stop().await;
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_passes_through() {
    // A websocket echo upstream.
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        ws.send(m).await.unwrap();
                    }
                }
            });
        }
    });
    let h = Harness::start(
        None,
        &format!("[[route]]\nname = \"ws\"\npath_prefix = \"/ws\"\nupstream = \"http://{up}\"\n"),
    )
    .await;

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/ws/echo", h.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", h.alice_vp()).parse().unwrap(),
    );
    let stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("websocket handshake through the gateway");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..5 {
        ws.send(tokio_tungstenite::tungstenite::Message::text(format!(
            "hello {i}"
        )))
        .await
        .unwrap();
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m.to_text().unwrap(), format!("hello {i}"));
    }

    // Without a credential the upgrade is refused before reaching the upstream.
    let req = format!("ws://{}/ws/echo", h.addr)
        .into_client_request()
        .unwrap();
    let stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    match tokio_tungstenite::client_async(req, stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED)
        }
        other => panic!("expected 401, got {other:?}"),
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_serves_http1_and_http2() {
    let h = Harness::start(None, "").await;
    let dir = tempdir("tls");
    let (gw, port, roots) = h.start_https_twin(&dir).await;
    for http2 in [false, true] {
        let client = https_client(&roots, http2, true);
        let req = Request::builder()
            .uri(format!("https://localhost:{port}/eng/tls"))
            .header("authorization", format!("Bearer {}", h.alice_vp()))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = client.request(req).await.unwrap();
        assert_eq!(
            r.version(),
            if http2 {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            }
        );
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["headers"]["x-forwarded-proto"], "https");
    }
    gw.shutdown().await;
    h.stop().await;
}
