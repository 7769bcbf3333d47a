//! The one body type the gateway hands to hyper: upstream bodies stream
//! through unbuffered; the gateway's own responses are small and in memory.
//!
//! A request body read from a client (forwarded to the upstream, or a
//! wallet's login answer) is held to `[server.limits]
//! request_body_timeout_secs` with [`timed`]: when no byte arrives for that
//! long it fails with [`BodyTimeout`], which the reader turns into
//! `408 request_body_timeout`. Response bodies are never timed: a slow
//! upstream stream (server-sent events, a long poll) is the app's business.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type GatewayBody = BoxBody<Bytes, BoxError>;

/// A complete in-memory body.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A streamed body from the network, passed through as it arrives.
pub fn stream(body: Incoming) -> GatewayBody {
    body.map_err(BoxError::from).boxed()
}

/// A request body that fails with [`BodyTimeout`] after `timeout` without a
/// byte (like nginx's `client_body_timeout`: per read, not for the whole
/// body). An empty body is passed as it is.
pub fn timed(body: Incoming, timeout: Duration) -> GatewayBody {
    if body.is_end_stream() {
        return stream(body);
    }
    TimedBody {
        inner: body,
        timeout,
        sleep: None,
        last: Instant::now(),
    }
    .boxed()
}

/// Whether `e`, or an error it was caused by, is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Why [`read_limited`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// More than the limit arrived.
    TooLarge,
    /// No byte arrived for the timeout.
    TimedOut,
    /// The connection failed.
    Broken,
}

/// Read a whole (small) request body that the gateway itself answers: at
/// most `max` bytes, each read within `timeout` of the previous one.
pub async fn read_limited(
    mut body: Incoming,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, ReadError> {
    read_limited_mut(&mut body, max, timeout).await
}

/// [`read_limited`], leaving the (drained) body in place: a signed
/// request's body, read to check its digest and then forwarded as read.
pub async fn read_limited_mut(
    body: &mut Incoming,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, ReadError> {
    let mut out = bytes::BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(ReadError::TimedOut),
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(_))) => return Err(ReadError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > max {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

/// The request body went silent for this long.
#[derive(Debug, thiserror::Error)]
#[error("no request body bytes for {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A body that holds `G` until hyper drops it: when the response has been
/// sent, or abandoned.
pub struct Held<G> {
    body: GatewayBody,
    _guard: G,
}

impl<G> Held<G> {
    pub fn new(body: GatewayBody, guard: G) -> Self {
        Self {
            body,
            _guard: guard,
        }
    }
}

impl<G: Unpin> Body for Held<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// [`timed`]'s body. Its timer is made the first time the body has to
/// wait, and moved only when it fires.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// When the last frame arrived (once the timer exists).
    last: Instant,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.sleep.is_some() {
                    this.last = Instant::now();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => this.poll_stall(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl TimedBody {
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Self {
            timeout,
            sleep,
            last,
            ..
        } = self;
        let sleep = match sleep {
            Some(s) => s,
            None => {
                *last = Instant::now();
                sleep.insert(Box::pin(tokio::time::sleep_until(*last + *timeout)))
            }
        };
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = *last + *timeout;
            if due > sleep.deadline() {
                // Frames arrived since the timer was set: wait from the last one.
                sleep.as_mut().reset(due);
                continue;
            }
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(*timeout)))));
        }
    }
}
