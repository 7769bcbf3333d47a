//! `SigningLayer`: the inner service receives a request whose signature
//! verifies as the gateway will verify it, and a request that cannot be
//! signed is an error of the service, never a panic and never sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{as_received, did_key_signer, verify};
use didgate_client::{KeyType, SignError, SigningLayer, SigningServiceError};
use http::uri::Scheme;
use tower::{Layer as _, Service as _, ServiceBuilder, ServiceExt as _};

#[tokio::test]
async fn the_inner_service_receives_a_request_that_verifies() {
    for kind in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
        let signer = Arc::new(did_key_signer(kind));
        let keyid = signer.keyid().to_owned();
        let inner = tower::service_fn(|request: http::Request<Bytes>| async move {
            let (parts, body) = as_received(request);
            verify(&parts, &body, Scheme::HTTPS)
                .await
                .map(|params| params.keyid().map(str::to_owned))
                .map_err(|refusal| format!("{refusal:?}"))
        });
        let mut service = ServiceBuilder::new()
            .layer(SigningLayer::new(signer.clone()))
            .service(inner);
        for (method, body) in [("POST", &b"{\"a\":1}"[..]), ("GET", &b""[..])] {
            let request = http::Request::builder()
                .method(method)
                .uri("https://gateway.example/v1/items?page=2")
                .body(Bytes::from_static(body))
                .unwrap();
            let verified = service.ready().await.unwrap().call(request).await;
            match verified {
                Ok(Some(k)) => assert_eq!(k, keyid),
                other => panic!("{kind} {method}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn an_unsigned_request_is_refused_by_the_same_inner_service() {
    // The check the layer test relies on refuses what the layer did not sign.
    let request = http::Request::post("https://gateway.example/v1/items")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let (parts, body) = as_received(request);
    assert!(verify(&parts, &body, Scheme::HTTPS).await.is_err());
}

#[tokio::test]
async fn a_signing_failure_is_the_services_error_and_nothing_is_sent() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = tower::service_fn(move |_request: http::Request<Vec<u8>>| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, std::io::Error>(()) }
    });
    let mut service = SigningLayer::new(did_key_signer(KeyType::Ed25519)).layer(inner);
    let request = http::Request::post("/relative")
        .body(b"x".to_vec())
        .unwrap();
    let err = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SigningServiceError::Sign(SignError::RelativeUri { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not absolute"), "{err}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the inner service was called"
    );
}

#[tokio::test]
async fn the_inner_services_error_comes_through() {
    let inner = tower::service_fn(|_request: http::Request<String>| async {
        Err::<(), _>(std::io::Error::other("upstream down"))
    });
    let mut service = SigningLayer::new(did_key_signer(KeyType::P256)).layer(inner);
    let request = http::Request::get("https://gateway.example/")
        .body(String::new())
        .unwrap();
    let err = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert!(matches!(err, SigningServiceError::Inner(ref e) if e.to_string() == "upstream down"));
}
