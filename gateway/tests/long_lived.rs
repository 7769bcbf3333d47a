//! Long-lived exchanges are decided again: a websocket or a streamed
//! response outlives neither its session, nor its credential, nor the
//! policy that allowed it. With `recheck_interval_secs = 1` each is closed
//! within the interval plus the change's own delay (a policy file is picked
//! up within `reload_interval_secs = 1`); the tests allow 8 s for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BOUND: Duration = Duration::from_secs(8);

/// A websocket echo upstream and a streaming upstream (a chunk every 100 ms,
/// forever) on one address: `/ws…` upgrades, anything else streams.
async fn upstream() -> SocketAddr {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut peek = [0u8; 8];
                let n = s.peek(&mut peek).await.unwrap_or(0);
                if peek[..n].starts_with(b"GET /ws") {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() && ws.send(m).await.is_err() {
                            return;
                        }
                    }
                } else {
                    let service = hyper::service::service_fn(|_req| async {
                        let ticks = futures_util::stream::unfold(0u64, |i| async move {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            let frame = Frame::data(Bytes::from(format!("tick {i}\n")));
                            Some((Ok::<_, Infallible>(frame), i + 1))
                        });
                        Ok::<_, Infallible>(hyper::Response::new(StreamBody::new(ticks)))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), service)
                        .await;
                }
            });
        }
    });
    addr
}

async fn harness(up: SocketAddr) -> Harness {
    Harness::start_full(
        None,
        "recheck_interval_secs = 1",
        "",
        &format!("[[route]]\nname = \"live\"\npath_prefix = \"/live\"\nupstream = \"http://{up}\"\n[[route]]\nname = \"ws\"\npath_prefix = \"/ws\"\nupstream = \"http://{up}\"\n"),
        "",
    )
    .await
}

/// Add a policy that forbids `prefix`: the gateway reloads it within a second.
fn forbid(h: &Harness, prefix: &str) {
    let file = h.dir.join("test.cedar");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n@id(\"closed\") forbid (principal, action, resource) when {{ resource.path like \"{prefix}*\" }};\n"
    ));
    std::fs::write(&file, text).unwrap();
}

async fn open_ws(
    h: &Harness,
    header: (&'static str, String),
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let mut req = format!("ws://{}/ws/echo", h.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert(header.0, header.1.parse().unwrap());
    let stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("handshake");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("ping")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echo.to_text().unwrap(), "ping");
    ws
}

/// Keeps talking until the gateway closes the websocket; how long it took.
async fn closed_within(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Duration {
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            if ws.send(Message::text("still here?")).await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
                Ok(Some(Ok(m))) if m.is_text() => {}
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(None) | Ok(Some(Err(_))) => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the websocket was still open after {BOUND:?}"
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_the_policy_no_longer_allows_it() {
    let h = harness(upstream().await).await;
    let mut ws = open_ws(&h, ("authorization", format!("Bearer {}", h.alice_vp()))).await;
    // Still open over a few re-checks while nothing changes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ws.send(Message::text("ping")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echo.to_text().unwrap(), "ping");
    forbid(&h, "/ws");
    closed_within(&mut ws).await;
    let d = h.decisions_with(&["policy_denied"]).await;
    assert!(d
        .iter()
        .any(|d| d.reason == "policy_denied" && d.path == "/ws/echo"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_its_session_ends() {
    let h = harness(upstream().await).await;
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    let jar = h.browser_login(&h.alice, vec![vc]).await;
    let mut ws = open_ws(&h, ("cookie", jar.header())).await;
    let r = send(
        &h.url,
        Method::POST,
        "/.didgate/logout",
        None,
        &[("cookie", &jar.header())],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    closed_within(&mut ws).await;
    h.decisions_with(&["session_revoked"]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_response_is_cut_when_the_policy_no_longer_allows_it() {
    let h = harness(upstream().await).await;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .uri(format!("{}/live/events", h.url))
        .header("authorization", format!("Bearer {}", h.alice_vp()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // Streams across several re-checks while nothing changes.
    let until = std::time::Instant::now() + Duration::from_millis(2500);
    while std::time::Instant::now() < until {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap();
        assert!(matches!(frame, Some(Ok(_))), "still streaming");
    }
    forbid(&h, "/live");
    let cut = tokio::time::timeout(BOUND, async {
        loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the stream was still flowing after {BOUND:?}");
    let d = h.decisions_with(&["policy_denied"]).await;
    assert!(d
        .iter()
        .any(|d| d.reason == "policy_denied" && d.path == "/live/events"));
    h.stop().await;
}
