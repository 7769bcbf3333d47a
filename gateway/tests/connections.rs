//! Connection limits (`[server.limits]`) on a real gateway: header-read,
//! idle, TLS-handshake and request-body timeouts; the header size cap; the
//! per-address and global connection caps; HTTP/2 settings, rapid-reset
//! protection and keep-alive pings; and validation of the table. Timeouts are set to a second or so;
//! a connection must close within its timeout plus [`MARGIN`], and not
//! before half of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const MARGIN: Duration = Duration::from_secs(5);
const SEC: Duration = Duration::from_secs(1);

/// A gateway with `limits` as its `[server.limits]` table (and `server`
/// keys before it).
async fn gateway(server: &str, limits: &str, routes: &str) -> Harness {
    let server = format!("{server}\n[server.limits]\n{limits}\n");
    Harness::start_full(None, &server, "", routes, "").await
}

/// Read until the peer closes (EOF or reset); how long that took. Panics
/// when it stays open past `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Duration {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((t0 + within).into(), s.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {within:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Closed within `timeout` + [`MARGIN`], and not before half of `timeout`.
#[track_caller]
fn assert_timely(took: Duration, timeout: Duration) {
    assert!(
        took >= timeout / 2,
        "closed after {took:?}, before the {timeout:?} timeout"
    );
}

async fn connect_from(src: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((src, 0))).unwrap();
    s.connect(to).await.unwrap()
}

/// One `GET /.didgate/health` on a kept-alive HTTP/1.1 connection.
async fn health(s: &mut TcpStream) {
    s.write_all(b"GET /.didgate/health HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The body is one JSON object: `{"status":"ok","policy_set":"…"}`.
    while !(got.ends_with(b"}") && got.windows(13).any(|w| w == b"\"status\":\"ok\"")) {
        let n = tokio::time::timeout(MARGIN, s.read(&mut buf))
            .await
            .expect("health answer in time")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

/// Whether a connection is served (a health check answers) or was closed at once.
async fn served(mut s: TcpStream) -> Option<TcpStream> {
    if s.write_all(b"GET /.didgate/health HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .is_err()
    {
        return None;
    }
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(MARGIN, s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => {
            assert!(buf.starts_with(b"HTTP/1.1 200"));
            // The rest of the small answer, if it came in a second read.
            if !buf[..n].ends_with(b"}") {
                let _ = tokio::time::timeout(SEC, s.read(&mut buf)).await;
            }
            Some(s)
        }
        Ok(_) => None,
        Err(_) => panic!("neither served nor closed within {MARGIN:?}"),
    }
}

// ---------------------------------------------------------------------------
// Header-read and idle timeouts (HTTP/1.1)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_header_is_cut_after_the_header_read_timeout() {
    let h = gateway(
        "",
        "header_read_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"GET /.didgate/health HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);

    // A slowloris trickle does not extend it.
    let s = TcpStream::connect(h.addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let trickle = tokio::spawn(async move {
        w.write_all(b"GET / HTTP/1.1\r\n").await.ok();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if w.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(SEC + MARGIN, r.read(&mut buf)).await {
            Err(_) => panic!("a trickled header kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
    }
    assert_timely(t0.elapsed(), SEC);
    trickle.abort();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_header_on_a_kept_alive_connection_is_cut_after_the_header_read_timeout() {
    // The idle timeout is long: the second request's header has its own clock.
    let h = gateway(
        "",
        "header_read_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    health(&mut s).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    health(&mut s).await; // idle past the header timeout is not a header timeout
    s.write_all(b"GET /.didgate/health HTTP/1.1\r\n")
        .await
        .unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let h = gateway(
        "",
        "header_read_timeout_secs = 30\nidle_timeout_secs = 1",
        "",
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    health(&mut s).await;
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_that_never_sends_a_request_is_closed_after_the_header_read_timeout() {
    let h = gateway(
        "",
        "header_read_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    // Half an HTTP/2 preface: the protocol is never decided.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_header_past_max_header_bytes_gets_431() {
    let h = gateway("", "max_header_bytes = 8192", "").await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let big = "a".repeat(12_000);
    s.write_all(
        format!("GET /.didgate/health HTTP/1.1\r\nHost: gw\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let (status, _) = read_response(&mut s, MARGIN).await;
    assert_eq!(status, 431);
    closed_within(&mut s, MARGIN).await;
    // Under the limit is fine.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let fits = "a".repeat(6_000);
    s.write_all(
        format!("GET /.didgate/health HTTP/1.1\r\nHost: gw\r\nX-Big: {fits}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(read_response(&mut s, MARGIN).await.0, 200);
    h.stop().await;
}

// ---------------------------------------------------------------------------
// TLS

fn tls_client(roots: &rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    didgate::server::tls::install_crypto_provider();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connection_without_a_client_hello_is_closed_after_the_handshake_timeout() {
    // The header timeout is long: this is the handshake's.
    let h = gateway(
        "",
        "tls_handshake_timeout_secs = 1\nheader_read_timeout_secs = 30",
        "",
    )
    .await;
    let dir = tempdir("conn-tls");
    let (gw, port, _) = h.start_https_twin(&dir).await;
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    // Half a ClientHello is no better.
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    assert_timely(closed_within(&mut s, SEC + MARGIN).await, SEC);
    gw.shutdown().await;
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connection_that_never_sends_a_request_is_closed_after_the_header_read_timeout() {
    let h = gateway(
        "",
        "tls_handshake_timeout_secs = 30\nheader_read_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let dir = tempdir("conn-tls");
    let (gw, port, roots) = h.start_https_twin(&dir).await;
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tls_client(&roots).connect(name, tcp).await.unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(SEC + MARGIN, tls.read(&mut buf)).await {
            Err(_) => panic!("a TLS connection without a request stayed open"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
    }
    assert_timely(t0.elapsed(), SEC);
    gw.shutdown().await;
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Request bodies

fn admin_vp(h: &Harness) -> String {
    let vc = h.vc_by(
        &h.issuer,
        &h.carol.did,
        serde_json::json!({"role": "admin"}),
        now(),
        3600,
        credentials::Format::JwtVc11,
    );
    h.vp_for(
        &h.carol,
        vec![vc],
        &h.audience,
        now(),
        credentials::Format::JwtVc11,
    )
}

/// Read one HTTP/1.1 response with a Content-Length body: status and body.
async fn read_response(s: &mut TcpStream, within: Duration) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + len].to_owned());
            }
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(
            n > 0,
            "closed without a response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_body_gets_408_request_body_timeout() {
    let h = gateway(
        "",
        "request_body_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let vp = admin_vp(&h);
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {vp}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let (status, body) = read_response(&mut s, SEC + MARGIN).await;
    assert_eq!(status, 408, "{body}");
    assert_timely(t0.elapsed(), SEC);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "request_body_timeout", "{body}");
    assert!(
        !v["decision_id"].as_str().unwrap().is_empty(),
        "the audited decision is named: {body}"
    );
    // The decision was audited (allowed) before the body streamed.
    let rows = h.decisions(1).await;
    assert_eq!(rows[0].path, "/upload");
    assert_eq!(rows[0].id, v["decision_id"].as_str().unwrap());
    // The rest of the body is never read: the connection closes.
    closed_within(&mut s, MARGIN).await;
    h.stop().await;
}

/// A wallet's login answer is a body too: one that stalls is refused 408
/// (the gateway reads it itself, so the connection is not held open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_wallet_answer_gets_408_request_body_timeout() {
    let h = gateway(
        "",
        "request_body_timeout_secs = 1\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        b"POST /.didgate/login/response HTTP/1.1\r\nHost: gw\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nstate=",
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let (status, body) = read_response(&mut s, SEC + MARGIN).await;
    assert_eq!(status, 408, "{body}");
    assert_timely(t0.elapsed(), SEC);
    assert!(body.contains("request_body_timeout"), "{body}");
    h.stop().await;
}

/// An upstream on `/slow` that sends its response in two halves, `pause` apart.
async fn slow_upstream(pause: Duration) -> SocketAddr {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let (tx, rx) =
                            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
                        tokio::spawn(async move {
                            let _ = tx
                                .send(Ok(Frame::data(Bytes::from_static(b"first half;"))))
                                .await;
                            tokio::time::sleep(pause).await;
                            let _ = tx
                                .send(Ok(Frame::data(Bytes::from_static(b"second half"))))
                                .await;
                        });
                        let mut rx = rx;
                        let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| {
                            rx.poll_recv(cx)
                        }));
                        async move { Ok::<_, Infallible>(Response::new(body)) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_but_steady_bodies_are_not_cut() {
    // Timeouts are per read: a body that keeps coming, and an upstream
    // response that pauses (response bodies are never timed), pass whole.
    let up = slow_upstream(Duration::from_millis(2500)).await;
    let h = gateway(
        "",
        "request_body_timeout_secs = 1\nheader_read_timeout_secs = 1\nidle_timeout_secs = 60",
        &format!(
            "[[route]]\nname = \"slow\"\npath_prefix = \"/slow\"\nupstream = \"http://{up}\"\n"
        ),
    )
    .await;
    let vp = admin_vp(&h);
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        format!(
            "POST /echo HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {vp}\r\n\
             Content-Length: 6\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(450)).await;
        s.write_all(b"x").await.unwrap();
    }
    let (status, body) = read_response(&mut s, MARGIN).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["body_bytes"], 6, "{body}");

    let r = send(
        &h.url,
        Method::GET,
        "/slow/stream",
        Some(&h.alice_vp()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(&r.body[..], b"first half;second half");
    h.stop().await;
}

// ---------------------------------------------------------------------------
// Connection caps

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_per_ip_cap_are_closed_at_once_but_trusted_proxies_are_not_counted() {
    let h = gateway(
        "trusted_proxies = [\"127.0.0.2/32\"]",
        "max_connections_per_ip = 3\nheader_read_timeout_secs = 60\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let client = Ipv4Addr::new(127, 0, 0, 1);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            served(connect_from(client, h.addr).await)
                .await
                .expect("within the cap"),
        );
    }
    // The fourth is accepted by the kernel and closed by the gateway before
    // it reads a byte.
    let mut fourth = connect_from(client, h.addr).await;
    closed_within(&mut fourth, MARGIN).await;
    assert!(served(connect_from(client, h.addr).await).await.is_none());

    // A load balancer's connections all come from one address: not capped.
    let mut proxied = Vec::new();
    for _ in 0..8 {
        let lb = connect_from(Ipv4Addr::new(127, 0, 0, 2), h.addr).await;
        proxied.push(served(lb).await.expect("a trusted proxy is not capped"));
    }

    // Closing a connection gives its place back.
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Some(s) = served(connect_from(client, h.addr).await).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    open.push(again.expect("a closed connection's place is given back"));
    assert!(served(connect_from(client, h.addr).await).await.is_none());
    // All of them: the count goes back to zero, three fit again.
    open.clear();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let mut s = None;
        for _ in 0..50 {
            if let Some(c) = served(connect_from(client, h.addr).await).await {
                s = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        open.push(s.expect("the count went back down"));
    }
    assert!(served(connect_from(client, h.addr).await).await.is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_max_connections_are_closed_at_once() {
    let h = gateway(
        "trusted_proxies = [\"127.0.0.2/32\"]",
        "max_connections = 3\nmax_connections_per_ip = 3\nidle_timeout_secs = 60\nheader_read_timeout_secs = 60",
        "",
    )
    .await;
    let a = served(connect_from(Ipv4Addr::new(127, 0, 0, 1), h.addr).await)
        .await
        .unwrap();
    let _b = served(connect_from(Ipv4Addr::new(127, 0, 0, 3), h.addr).await)
        .await
        .unwrap();
    let _c = served(connect_from(Ipv4Addr::new(127, 0, 0, 2), h.addr).await)
        .await
        .unwrap();
    // Every address, trusted proxies too, is past the total.
    for src in [1, 2, 4] {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 0, src), h.addr).await;
        closed_within(&mut s, MARGIN).await;
    }
    drop(a);
    let mut back = false;
    for _ in 0..50 {
        if served(connect_from(Ipv4Addr::new(127, 0, 0, 4), h.addr).await)
            .await
            .is_some()
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "a closed connection's place is given back");
    h.stop().await;
}

// ---------------------------------------------------------------------------
// HTTP/2 (prior knowledge on the plain listener), spoken frame by frame

mod h2raw {
    use super::*;

    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const ENHANCE_YOUR_CALM: u32 = 11;

    #[derive(Debug)]
    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// HPACK for `GET http://gw/.didgate/health` (no Huffman, no indexing).
    pub fn get_health(stream: u32) -> Vec<u8> {
        let path = b"/.didgate/health";
        let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
        block.extend_from_slice(path);
        block.extend_from_slice(&[0x01, 2, b'g', b'w']);
        frame(HEADERS, END_STREAM | 0x4, stream, &block)
    }

    pub struct Conn {
        pub s: TcpStream,
        /// Answer the server's PINGs.
        pub pong: bool,
    }

    impl Conn {
        pub async fn open(addr: SocketAddr) -> Conn {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            hello.extend(frame(SETTINGS, 0, 0, &[]));
            s.write_all(&hello).await.unwrap();
            Conn { s, pong: true }
        }

        /// The next frame (SETTINGS acknowledged, PINGs answered if `pong`);
        /// `None` when the connection closed.
        pub async fn next(&mut self) -> Option<Frame> {
            let mut head = [0u8; 9];
            self.s.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            self.s.read_exact(&mut payload).await.ok()?;
            let f = Frame {
                kind: head[3],
                flags: head[4],
                stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
                payload,
            };
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                let _ = self.s.write_all(&frame(SETTINGS, ACK, 0, &[])).await;
            }
            if f.kind == PING && f.flags & ACK == 0 && self.pong {
                let _ = self.s.write_all(&frame(PING, ACK, 0, &f.payload)).await;
            }
            Some(f)
        }

        /// The next frame within `within`; panics when none comes.
        pub async fn next_within(&mut self, within: Duration) -> Option<Frame> {
            tokio::time::timeout(within, self.next())
                .await
                .expect("a frame or the close in time")
        }
    }

    /// A SETTINGS payload as (identifier, value) pairs.
    pub fn settings(payload: &[u8]) -> Vec<(u16, u32)> {
        payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_settings_advertise_the_configured_limits() {
    let h = gateway(
        "",
        "h2_max_concurrent_streams = 7\nmax_header_bytes = 20000",
        "",
    )
    .await;
    let mut c = h2raw::Conn::open(h.addr).await;
    let first = c.next_within(MARGIN).await.expect("server SETTINGS");
    assert_eq!(first.kind, h2raw::SETTINGS);
    let s = h2raw::settings(&first.payload);
    assert!(
        s.contains(&(0x3, 7)),
        "SETTINGS_MAX_CONCURRENT_STREAMS: {s:?}"
    );
    assert!(
        s.contains(&(0x6, 20000)),
        "SETTINGS_MAX_HEADER_LIST_SIZE: {s:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_rapid_reset_gets_goaway_enhance_your_calm() {
    let h = gateway("", "h2_max_pending_accept_reset_streams = 5", "").await;
    let mut c = h2raw::Conn::open(h.addr).await;
    // Open and cancel 12 streams at once (CVE-2023-44487): past this limit,
    // within the h2 crate's default of 20.
    let mut burst = Vec::new();
    for i in 0..12u32 {
        let id = 2 * i + 1;
        burst.extend(h2raw::get_health(id));
        burst.extend(h2raw::frame(h2raw::RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    c.s.write_all(&burst).await.unwrap();
    loop {
        match c.next_within(MARGIN).await {
            Some(f) if f.kind == h2raw::GOAWAY => {
                let code = u32::from_be_bytes(f.payload[4..8].try_into().unwrap());
                assert_eq!(code, h2raw::ENHANCE_YOUR_CALM, "{f:?}");
                break;
            }
            Some(_) => {}
            None => panic!("closed without a GOAWAY"),
        }
    }
    // Then the connection is closed.
    while c.next_within(MARGIN).await.is_some() {}
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connection_gets_goaway_and_is_closed_after_the_idle_timeout() {
    let h = gateway(
        "",
        "idle_timeout_secs = 1\nheader_read_timeout_secs = 30",
        "",
    )
    .await;
    let mut c = h2raw::Conn::open(h.addr).await;
    c.s.write_all(&h2raw::get_health(1)).await.unwrap();
    // The answer: HEADERS and DATA on stream 1, the last with END_STREAM.
    loop {
        let f = c.next_within(MARGIN).await.expect("an answer");
        assert_ne!(f.kind, h2raw::GOAWAY, "{f:?}");
        if f.stream == 1
            && matches!(f.kind, h2raw::HEADERS | h2raw::DATA)
            && f.flags & h2raw::END_STREAM != 0
        {
            break;
        }
    }
    let t0 = Instant::now();
    let mut goaway = None;
    while let Some(f) = c.next_within(SEC + MARGIN).await {
        if f.kind == h2raw::GOAWAY && goaway.is_none() {
            goaway = Some(t0.elapsed());
        }
    }
    let goaway = goaway.expect("a GOAWAY before the close");
    assert_timely(goaway, SEC);
    assert!(t0.elapsed() <= SEC + MARGIN);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_peer_that_ignores_pings_is_dropped() {
    // Idle and header timeouts are long: the keep-alive ping closes it.
    let h = gateway(
        "",
        "h2_keep_alive_interval_secs = 1\nh2_keep_alive_timeout_secs = 1\n\
         header_read_timeout_secs = 30\nidle_timeout_secs = 60",
        "",
    )
    .await;
    let mut c = h2raw::Conn::open(h.addr).await;
    c.pong = false;
    let t0 = Instant::now();
    let mut pinged = false;
    while let Some(f) = c.next_within(2 * SEC + MARGIN).await {
        pinged |= f.kind == h2raw::PING;
    }
    assert!(pinged, "the server pinged");
    assert_timely(t0.elapsed(), 2 * SEC);
    h.stop().await;
}

// ---------------------------------------------------------------------------
// Validation

/// A complete config in a fresh folder, with `limits` as `[server.limits]`.
fn config_with_limits(limits: &str) -> std::path::PathBuf {
    let dir = tempdir("conn-cfg");
    std::fs::write(
        dir.join("schema.cedarschema"),
        include_str!("../../deploy/policies/didgate.cedarschema"),
    )
    .unwrap();
    std::fs::write(dir.join("p.cedar"), POLICIES).unwrap();
    std::fs::write(
        dir.join("didgate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://gw.test\"\n\
             [server.limits]\n{limits}\n\
             [[credentials.trusted_issuers]]\ncredential_type = \"EmployeeCredential\"\n\
             issuers = [\"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK\"]\n\
             [policy]\nschema = \"schema.cedarschema\"\npolicies = [\"p.cedar\"]\n\
             [[route]]\nname = \"app\"\nupstream = \"http://127.0.0.1:9\"\n"
        ),
    )
    .unwrap();
    dir.join("didgate.toml")
}

#[test]
fn limits_with_zero_or_absurd_values_are_refused_naming_the_key() {
    let ok = config_with_limits("idle_timeout_secs = 120\nmax_connections_per_ip = 64");
    let c = didgate::Config::load(&ok).unwrap();
    assert_eq!(c.server.limits.idle_timeout_secs, 120);
    assert_eq!(
        c.server.limits.max_header_bytes, 65536,
        "unset keys keep their defaults"
    );
    for (line, key) in [
        (
            "header_read_timeout_secs = 0",
            "server.limits.header_read_timeout_secs",
        ),
        ("idle_timeout_secs = 0", "server.limits.idle_timeout_secs"),
        (
            "tls_handshake_timeout_secs = 100000",
            "server.limits.tls_handshake_timeout_secs",
        ),
        (
            "request_body_timeout_secs = 0",
            "server.limits.request_body_timeout_secs",
        ),
        ("max_connections = 0", "server.limits.max_connections"),
        (
            "max_connections_per_ip = 0",
            "server.limits.max_connections_per_ip",
        ),
        (
            "max_connections = 10\nmax_connections_per_ip = 11",
            "server.limits.max_connections_per_ip",
        ),
        (
            "h2_max_concurrent_streams = 4000000000",
            "server.limits.h2_max_concurrent_streams",
        ),
        (
            "h2_max_pending_accept_reset_streams = 0",
            "server.limits.h2_max_pending_accept_reset_streams",
        ),
        (
            "h2_max_local_error_reset_streams = 0",
            "server.limits.h2_max_local_error_reset_streams",
        ),
        ("max_header_bytes = 1024", "server.limits.max_header_bytes"),
        (
            "h2_keep_alive_interval_secs = 0",
            "server.limits.h2_keep_alive_interval_secs",
        ),
        (
            "h2_keep_alive_timeout_secs = 0",
            "server.limits.h2_keep_alive_timeout_secs",
        ),
    ] {
        let path = config_with_limits(line);
        let e = didgate::Config::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{key}`")) && e.contains("fix:"),
            "{line}: {e}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
    // Unknown keys and negative values do not parse.
    for line in ["idle_timeout = 5", "max_connections = -1"] {
        let path = config_with_limits(line);
        let e = didgate::Config::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(line.split(' ').next().unwrap()) || e.contains("invalid value"),
            "{line}: {e}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
    // `didgate check` says the same.
    let bad = config_with_limits("idle_timeout_secs = 0");
    run_err(
        &["check", "-c", bad.to_str().unwrap()],
        "server.limits.idle_timeout_secs",
    );
    let _ = std::fs::remove_dir_all(bad.parent().unwrap());
    let _ = std::fs::remove_dir_all(ok.parent().unwrap());
}
