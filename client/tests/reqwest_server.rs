//! `Signer::sign_reqwest` against a real HTTP server on an ephemeral port:
//! what reqwest puts on the wire (its `Host`, the headers, the body) is
//! what the server verifies, as the gateway will (`common::verify`).
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{did_key_signer, verify};
use didgate_client::{KeyType, SignError};
use http::uri::Scheme;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;

/// A server that answers 200 and the verified `keyid`, or 401 and why not.
async fn start_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(answer);
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(reply(400, format!("body: {e}"))),
    };
    Ok(match verify(&parts, &body, Scheme::HTTP).await {
        Ok(params) => reply(200, params.keyid().unwrap_or_default().to_owned()),
        Err(refusal) => reply(401, format!("{refusal:?}")),
    })
}

fn reply(status: u16, text: String) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}

fn client() -> reqwest::Client {
    // The workspace's reqwest has no built-in rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn send(client: &reqwest::Client, request: reqwest::Request) -> (u16, String) {
    let response = client.execute(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_signed_reqwest_request_verifies_at_a_real_server() {
    let addr = start_server().await;
    let client = client();
    for kind in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
        let signer = did_key_signer(kind);
        let mut post = client
            .post(format!("http://{addr}/orders?id=7&note=a%20b"))
            .header("content-type", "application/json")
            .body(r#"{"sku":42}"#)
            .build()
            .unwrap();
        signer.sign_reqwest(&mut post).unwrap();
        assert_eq!(send(&client, post).await, (200, signer.keyid().to_owned()));

        let mut get = client.get(format!("http://{addr}/orders")).build().unwrap();
        signer.sign_reqwest(&mut get).unwrap();
        assert!(!get.headers().contains_key("content-digest"));
        assert_eq!(send(&client, get).await, (200, signer.keyid().to_owned()));
    }
}

#[tokio::test]
async fn the_server_refuses_unsigned_and_altered_requests() {
    let addr = start_server().await;
    let client = client();
    let signer = did_key_signer(KeyType::Ed25519);

    let unsigned = client.get(format!("http://{addr}/orders")).build().unwrap();
    let (status, why) = send(&client, unsigned).await;
    assert_eq!(status, 401, "{why}");

    let mut altered = client
        .post(format!("http://{addr}/orders"))
        .body("pay 10")
        .build()
        .unwrap();
    signer.sign_reqwest(&mut altered).unwrap();
    *altered.body_mut() = Some("pay 99".into());
    let (status, why) = send(&client, altered).await;
    assert_eq!(status, 401);
    assert!(why.starts_with("Digest("), "{why}");

    let mut moved = client
        .post(format!("http://{addr}/orders"))
        .body("pay 10")
        .build()
        .unwrap();
    signer.sign_reqwest(&mut moved).unwrap();
    *moved.url_mut() = format!("http://{addr}/refunds").parse().unwrap();
    let (status, why) = send(&client, moved).await;
    assert_eq!(status, 401);
    assert!(why.starts_with("Signature("), "{why}");
}

#[tokio::test]
async fn a_retried_request_is_signed_again() {
    let addr = start_server().await;
    let client = client();
    let signer = did_key_signer(KeyType::P256);
    let mut first = client
        .put(format!("http://{addr}/orders/7"))
        .body("v1")
        .build()
        .unwrap();
    signer.sign_reqwest(&mut first).unwrap();
    let mut retry = first.try_clone().unwrap();
    signer.sign_reqwest(&mut retry).unwrap();
    assert_eq!(retry.headers().get_all("signature").iter().count(), 1);
    assert_ne!(first.headers()["signature"], retry.headers()["signature"]);
    assert_eq!(send(&client, first).await.0, 200);
    assert_eq!(send(&client, retry).await.0, 200);
}

#[tokio::test]
async fn a_streaming_body_is_refused() {
    let client = client();
    let signer = did_key_signer(KeyType::Ed25519);
    let mut request = client
        .post("http://127.0.0.1:9/upload")
        .header("x-trace", "1")
        .body(reqwest::Body::wrap(Full::new(Bytes::from_static(b"chunk"))))
        .build()
        .unwrap();
    let err = signer.sign_reqwest(&mut request).unwrap_err();
    assert!(matches!(err, SignError::StreamingBody), "{err}");
    assert!(err.to_string().contains("in memory"), "{err}");
    assert_eq!(
        request.headers().len(),
        1,
        "the headers are left as they were"
    );
    assert!(!request.headers().contains_key("signature"));
}
