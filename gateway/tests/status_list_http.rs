//! HTTP-published Bitstring Status Lists through a real gateway with no
//! chains configured: the issuer publishes its list on 127.0.0.1; a
//! credential on it is allowed while its bit is clear, refused
//! (`401 credential_revoked`) once the list sets it and
//! `credentials.status_list_ttl_secs` has passed, and refused
//! `503 status_unavailable` (audited) when the list cannot be fetched.
//! The ways a list itself must be refused are in
//! `credentials/tests/status_list_http.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use credentials::{CredentialRequest, Format};
use did_registry::ethr::status::U256;
use did_registry::ethr::StatusEntry;
use http::{Method, StatusCode};
use serde_json::json;
use support::*;
use test_support::HttpFile;

const VC_JWT: &str = "application/vc+jwt";
const INDEX: u64 = 7;

fn list(h: &Harness, url: &str, revoked: &[u64]) -> Vec<u8> {
    let mut bits = vec![0u8; 16 * 1024];
    for i in revoked {
        bits[(*i / 8) as usize] |= 0x80 >> (i % 8);
    }
    credentials::issue_status_list(
        &h.issuer.key,
        &h.issuer.kid,
        &h.issuer.did,
        url,
        &bits,
        Some(3600),
        Format::VcJwt20,
        now(),
    )
    .unwrap()
    .into_bytes()
}

/// A fresh presentation by alice of an EmployeeCredential with index INDEX of `url`.
fn vp(h: &Harness, url: &str) -> String {
    let vc = credentials::issue_with_status(
        &h.issuer.key,
        &h.issuer.kid,
        &CredentialRequest {
            issuer: h.issuer.did.clone(),
            subject: h.alice.did.clone(),
            types: vec!["EmployeeCredential".into()],
            claims: json!({"role": "engineer", "department": "eng"})
                .as_object()
                .unwrap()
                .clone(),
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        Some(&StatusEntry::to_json(url, U256::from(INDEX))),
        now(),
    )
    .unwrap();
    h.vp_for(&h.alice, vec![vc], &h.audience, now(), Format::JwtVc11)
}

#[tokio::test]
async fn an_http_status_list_allows_then_revokes_then_fails_closed() {
    let mut server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/status/1");
    let h = Harness::start_publishing(
        None,
        "",
        "status_list_ttl_secs = 1",
        "",
        "",
        &[server.url("/status/")],
    )
    .await;
    server.set(VC_JWT, list(&h, &url, &[INDEX + 1]));

    let r = h
        .send(Method::GET, "/eng/x", Some(&vp(&h, &url)), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.code());
    let r = h
        .send(Method::GET, "/eng/x", Some(&vp(&h, &url)), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.code());
    assert_eq!(
        server.requests(),
        1,
        "the second request used the cached list"
    );

    // The issuer sets the bit; after the TTL the gateway sees it.
    server.set(VC_JWT, list(&h, &url, &[INDEX]));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = h
        .send(Method::GET, "/eng/x", Some(&vp(&h, &url)), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "credential_revoked");

    // The list server goes away: refused as our problem, never passed.
    server.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = h
        .send(Method::GET, "/eng/x", Some(&vp(&h, &url)), &[])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "status_unavailable");
    let d = h.decisions(4).await;
    assert!(d.iter().any(|d| d.reason == "status_unavailable"));
    h.stop().await;
}
