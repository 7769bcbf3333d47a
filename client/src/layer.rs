//! [`SigningLayer`]: signs every request on its way to the inner service.
//!
//! The body must be in memory (`B: AsRef<[u8]>`: `Bytes`, `Vec<u8>`,
//! `String`, `&'static str`…): the signature covers the body's
//! `Content-Digest`, which needs every byte before the first is sent.
//! Streaming bodies are out of scope. Behind the layer, a client that wants
//! an `http_body::Body` (hyper's) gets it from a `map_request` that wraps
//! the signed body (`http_body_util::Full::new`).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{self, Either, MapErr, Ready, TryFutureExt as _};
use tower::{Layer, Service};

use crate::error::SignError;
use crate::signer::Signer;

/// A `tower::Layer` that signs requests with a [`Signer`].
#[derive(Debug, Clone)]
pub struct SigningLayer {
    signer: Arc<Signer>,
}

impl SigningLayer {
    /// Signs with `signer` (a `Signer` or an `Arc<Signer>` shared with others).
    pub fn new(signer: impl Into<Arc<Signer>>) -> Self {
        SigningLayer {
            signer: signer.into(),
        }
    }
}

impl<S> Layer<S> for SigningLayer {
    type Service = SigningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigningService {
            inner,
            signer: self.signer.clone(),
        }
    }
}

/// The service [`SigningLayer`] makes: signs, then calls `inner`.
#[derive(Debug, Clone)]
pub struct SigningService<S> {
    inner: S,
    signer: Arc<Signer>,
}

impl<S> SigningService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, without the signer.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What a [`SigningService`] call fails with: the request could not be
/// signed (and was not sent), or the inner service failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningServiceError<E> {
    /// Signing failed; the inner service was not called.
    #[error(transparent)]
    Sign(SignError),
    /// The inner service failed.
    #[error(transparent)]
    Inner(E),
}

type InnerFuture<F, E> = MapErr<F, fn(E) -> SigningServiceError<E>>;

/// The future of a [`SigningService`] call.
pub type ResponseFuture<F, T, E> =
    Either<Ready<Result<T, SigningServiceError<E>>>, InnerFuture<F, E>>;

impl<S, B> Service<http::Request<B>> for SigningService<S>
where
    S: Service<http::Request<B>>,
    B: AsRef<[u8]>,
{
    type Response = S::Response;
    type Error = SigningServiceError<S::Error>;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(SigningServiceError::Inner)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.signer.sign_request(&mut request) {
            Ok(()) => {
                let inner: fn(S::Error) -> SigningServiceError<S::Error> =
                    SigningServiceError::Inner;
                Either::Right(self.inner.call(request).map_err(inner))
            }
            Err(e) => Either::Left(future::ready(Err(SigningServiceError::Sign(e)))),
        }
    }
}
