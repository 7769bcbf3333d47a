//! A tiny HTTP/1.1 server on 127.0.0.1 that serves one response (body and
//! content type, replaceable while it runs) to every GET, counts the
//! requests, and can be stopped so that connections are refused. The
//! status-list tests publish their lists with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

struct Shared {
    response: Mutex<(String, Vec<u8>)>,
    requests: AtomicUsize,
    stop: AtomicBool,
}

/// The running server; stopped on drop.
pub struct HttpFile {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl HttpFile {
    /// Serve `body` as `content_type` on an ephemeral loopback port.
    pub fn start(content_type: &str, body: Vec<u8>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            response: Mutex::new((content_type.to_owned(), body)),
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    s.requests.fetch_add(1, Ordering::SeqCst);
                    let (ct, body) = s.response.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let _ = answer(conn, &ct, &body);
                }
            }
        });
        Ok(Self {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT{path}` (every path gets the same response).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serve another response from now on.
    pub fn set(&self, content_type: &str, body: Vec<u8>) {
        *self
            .shared
            .response
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (content_type.to_owned(), body);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Close the listening socket: later connections are refused.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpFile {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer(mut conn: TcpStream, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}
