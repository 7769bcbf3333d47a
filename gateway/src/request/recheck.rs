//! Long-lived exchanges are decided again. A request is decided once, but a
//! websocket, a server-sent event stream or a long download can outlive the
//! session, the key or credential, or the policy that allowed it. Every
//! exchange still open `[server] recheck_interval_secs` after it was allowed
//! is decided again on that interval (the caller's [`Recheck`]: the session
//! or presentation re-checked, the policy asked again); the first refusal
//! cuts it: a streamed response body ends with an error (HTTP/1.1: the
//! connection is closed mid-body; HTTP/2: the stream is reset), an upgraded
//! connection is closed both ways.
//!
//! Nothing is spent on an exchange that ends before its first re-check: the
//! timer is made the first time a body has to wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::request::body::{BoxError, GatewayBody};
use crate::request::refusal::Refusal;

/// One re-decision of an allowed exchange: `Ok` while it would still be allowed.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// How to decide an exchange again, and how often.
#[derive(Clone)]
pub struct Recheck {
    pub every: Duration,
    pub check: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

/// A long-lived exchange was refused on a re-check.
#[derive(Debug, thiserror::Error)]
#[error("the exchange is no longer allowed: {0}")]
pub struct Cut(pub &'static str);

/// Re-checks on a timer: started at `from`, then every `every` after each
/// check that passed.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// The check under way. In a `Mutex` only to make the body `Sync` (as
    /// hyper's boxed bodies must be); it is polled through `get_mut`, so
    /// never locked.
    running: Option<Mutex<CheckFuture>>,
}

impl Timer {
    fn new(from: Instant, every: Duration) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(from + every)),
            running: None,
        }
    }

    /// `Ready(code)` once a re-check refuses; `Pending` otherwise (the waker
    /// is registered with the timer or the running check).
    fn poll(&mut self, cx: &mut Context<'_>, r: &Recheck) -> Poll<&'static str> {
        loop {
            if let Some(check) = self.running.as_mut() {
                let check = check.get_mut().unwrap_or_else(PoisonError::into_inner);
                match check.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(refusal)) => return Poll::Ready(refusal.code()),
                    Poll::Ready(Ok(())) => {
                        self.running = None;
                        let next = Instant::now() + r.every;
                        self.sleep.as_mut().reset(next);
                    }
                }
            }
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => self.running = Some(Mutex::new((r.check)())),
            }
        }
    }
}

/// A response body re-decided while it streams.
pub struct Watched {
    inner: GatewayBody,
    recheck: Recheck,
    started: Instant,
    timer: Option<Timer>,
}

impl Watched {
    pub fn new(inner: GatewayBody, recheck: Recheck) -> Self {
        Self {
            inner,
            recheck,
            started: Instant::now(),
            timer: None,
        }
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(timer) = this.timer.as_mut() {
            if let Poll::Ready(code) = timer.poll(cx, &this.recheck) {
                return Poll::Ready(Some(Err(Box::new(Cut(code)))));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if this.timer.is_none() {
                    let timer = this
                        .timer
                        .insert(Timer::new(this.started, this.recheck.every));
                    if let Poll::Ready(code) = timer.poll(cx, &this.recheck) {
                        return Poll::Ready(Some(Err(Box::new(Cut(code)))));
                    }
                }
                Poll::Pending
            }
            ready => ready,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves with the refusal's code once a re-check refuses (never, while
/// every check passes): for an upgraded connection to race its copy against.
pub async fn refused(recheck: Recheck) -> &'static str {
    let mut timer = Timer::new(Instant::now(), recheck.every);
    std::future::poll_fn(|cx| timer.poll(cx, &recheck)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::request::reason::Reason;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn recheck(allow_for: usize, calls: Arc<AtomicUsize>) -> Recheck {
        Recheck {
            every: Duration::from_secs(10),
            check: Arc::new(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    if n < allow_for {
                        Ok(())
                    } else {
                        Err(Refusal::new(Reason::PolicyDenied, "no"))
                    }
                })
            }),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_at_once_is_never_checked() {
        let calls = Arc::new(AtomicUsize::new(0));
        let body = Watched::new(
            crate::request::body::full("done"),
            recheck(0, calls.clone()),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"done");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_streaming_body_is_cut_at_the_first_refusal() {
        let calls = Arc::new(AtomicUsize::new(0));
        // A body that never ends.
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let endless = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let body = Watched::new(endless.boxed(), recheck(2, calls.clone()));
        let started = Instant::now();
        let err = body.collect().await.expect_err("cut");
        assert!(err.to_string().contains("policy_denied"), "{err}");
        // Two checks passed (at 10 s and 20 s), the third refused at 30 s.
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn refused_resolves_with_the_code() {
        let calls = Arc::new(AtomicUsize::new(0));
        let code = refused(recheck(1, calls.clone())).await;
        assert_eq!(code, "policy_denied");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
