//! HTTP-published Bitstring Status Lists against a real HTTP server on
//! 127.0.0.1: a credential is accepted while its bit is clear and refused
//! (`credential_revoked`) once the published list sets it and the cached
//! copy is older than the TTL; a warm check makes no request; and a named
//! test for each way a list must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credentials::{
    issue_status_list, issue_with_status, CredentialRequest, Format, HttpStatusChecker, KeyType,
    SigningKey, StatusDispatcher, StatusListConfig, TrustedIssuers, Verifier, VerifierConfig,
};
use did_registry::ethr::status::U256;
use did_registry::ethr::StatusEntry;
use did_registry::LocalResolver;
use serde_json::json;
use test_support::HttpFile;

const VC_JWT: &str = "application/vc+jwt";
/// The spec's minimum list: 16 KiB, 131,072 entries.
const LIST_BYTES: usize = 16 * 1024;
const INDEX: u64 = 42;

struct Id {
    key: SigningKey,
    did: String,
    kid: String,
}

fn id() -> Id {
    let key = SigningKey::generate(KeyType::Ed25519);
    let did = did_registry::did_key(&key.public_key());
    let kid = did_registry::default_key_id(&did).unwrap();
    Id { key, did, kid }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A 16 KiB bitstring with `set` bits set.
fn bits(set: &[u64]) -> Vec<u8> {
    let mut b = vec![0u8; LIST_BYTES];
    for i in set {
        b[(*i / 8) as usize] |= 0x80 >> (i % 8);
    }
    b
}

fn list(issuer: &Id, url: &str, bits: &[u8], format: Format) -> Vec<u8> {
    issue_status_list(
        &issuer.key,
        &issuer.kid,
        &issuer.did,
        url,
        bits,
        Some(3600),
        format,
        now(),
    )
    .unwrap()
    .into_bytes()
}

/// A credential by `issuer` whose status is index `index` of the list at `url`.
fn vc(issuer: &Id, url: &str, index: u64, format: Format) -> String {
    let holder = id();
    issue_with_status(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: holder.did,
            types: vec!["EmployeeCredential".into()],
            claims: json!({"role": "engineer"}).as_object().unwrap().clone(),
            valid_for_secs: Some(3600),
            id: None,
            format,
        },
        Some(&StatusEntry::to_json(url, U256::from(index))),
        now(),
    )
    .unwrap()
}

/// A verifier whose status checker lets each `(issuer, url)` publish lists
/// in the folder of `url`.
fn verifier(ttl: Duration, publishers: &[(&Id, &str)]) -> Verifier {
    let config = || VerifierConfig::new(vec!["https://gw.test".into()], TrustedIssuers::new());
    let mut allowed_urls: HashMap<String, Vec<reqwest::Url>> = HashMap::new();
    for (issuer, url) in publishers {
        let folder = reqwest::Url::parse(url).unwrap().join("./").unwrap();
        allowed_urls
            .entry(issuer.did.clone())
            .or_default()
            .push(folder);
    }
    let http = HttpStatusChecker::new(
        Verifier::new(config(), Arc::new(LocalResolver)),
        StatusListConfig {
            ttl,
            timeout: Duration::from_secs(3),
            failure_backoff: Duration::from_millis(300),
            allowed_urls,
            ..StatusListConfig::default()
        },
    )
    .unwrap();
    Verifier::new(config(), Arc::new(LocalResolver))
        .with_status_checker(Arc::new(StatusDispatcher::new(None, Arc::new(http))))
}

/// The reason code of verifying `token` (`ok` when accepted).
async fn code(v: &Verifier, token: &str) -> String {
    match v.verify_credential(token, now()).await {
        Ok(_) => "ok".into(),
        Err(e) => e.reason_code().into(),
    }
}

#[tokio::test]
async fn accepted_while_the_bit_is_clear_revoked_once_the_list_sets_it_and_the_ttl_passes() {
    for (vc_format, list_format) in [
        (Format::JwtVc11, Format::VcJwt20),
        (Format::VcJwt20, Format::JwtVc11),
    ] {
        let issuer = id();
        let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
        let url = server.url("/lists/1");
        server.set(
            VC_JWT,
            list(&issuer, &url, &bits(&[INDEX + 1]), list_format),
        );
        let v = verifier(Duration::from_secs(1), &[(&issuer, &url)]);
        let token = vc(&issuer, &url, INDEX, vc_format);

        // Cold: the first check fetches; warm: no request at all.
        assert_eq!(code(&v, &token).await, "ok", "{vc_format:?}");
        assert_eq!(server.requests(), 1);
        let warm = Instant::now();
        for _ in 0..10 {
            assert_eq!(code(&v, &token).await, "ok");
        }
        assert_eq!(server.requests(), 1, "a warm cache makes no request");
        println!(
            "STATUS_LIST_WARM_CHECK {:?} per verification",
            warm.elapsed() / 10
        );
        assert_eq!(
            code(&v, &vc(&issuer, &url, INDEX + 1, vc_format)).await,
            "credential_revoked",
            "a neighbour's bit is its own"
        );

        // The issuer revokes: the cached list serves until the TTL passes.
        server.set(VC_JWT, list(&issuer, &url, &bits(&[INDEX]), list_format));
        assert_eq!(code(&v, &token).await, "ok", "cached list until the TTL");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(code(&v, &token).await, "credential_revoked");
        assert_eq!(server.requests(), 2);
    }
}

#[tokio::test]
async fn a_list_signed_by_another_issuer_is_refused() {
    let (issuer, other) = (id(), id());
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    server.set(VC_JWT, list(&other, &url, &bits(&[]), Format::VcJwt20));
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url), (&other, &url)]);
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::JwtVc11)).await,
        "status_list_mismatch"
    );
    // The other issuer's own credential on that list is fine (same cached list).
    assert_eq!(
        code(&v, &vc(&other, &url, INDEX, Format::JwtVc11)).await,
        "ok"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_tampered_list_is_unavailable_never_a_pass() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    // The issuer revoked INDEX; someone swaps in a payload with the bit clear.
    let revoked = String::from_utf8(list(&issuer, &url, &bits(&[INDEX]), Format::VcJwt20)).unwrap();
    let cleared = String::from_utf8(list(&issuer, &url, &bits(&[]), Format::VcJwt20)).unwrap();
    let r: Vec<&str> = revoked.split('.').collect();
    let c: Vec<&str> = cleared.split('.').collect();
    let tampered = format!("{}.{}.{}", r[0], c[1], r[2]);
    server.set(VC_JWT, tampered.into_bytes());
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    let token = vc(&issuer, &url, INDEX, Format::VcJwt20);
    assert_eq!(code(&v, &token).await, "status_unavailable");
    // Within the failure backoff the list is refused at once, without a fetch…
    assert_eq!(code(&v, &token).await, "status_unavailable");
    assert_eq!(server.requests(), 1);
    // …after it, fetched again (a failure is never kept as a list).
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(code(&v, &token).await, "status_unavailable");
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_list_server_that_is_down_is_unavailable() {
    let issuer = id();
    let mut server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    server.stop();
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::JwtVc11)).await,
        "status_unavailable"
    );
}

#[tokio::test]
async fn a_gzip_bomb_is_refused() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    // 17 MiB of zeros: ~17 KiB on the wire, over the 16 MiB bitstring limit.
    let bomb = list(&issuer, &url, &vec![0u8; 17 << 20], Format::VcJwt20);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    server.set(VC_JWT, bomb);
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    let err = v
        .verify_credential(&vc(&issuer, &url, INDEX, Format::VcJwt20), now())
        .await
        .expect_err("a bomb never passes");
    assert_eq!(err.reason_code(), "status_unavailable");
    assert!(
        err.to_string().contains("decompresses to more than"),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, vec![b'a'; (1 << 20) + 1]).unwrap();
    let url = server.url("/lists/1");
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::VcJwt20)).await,
        "status_unavailable"
    );
}

#[tokio::test]
async fn a_list_that_is_not_a_vc_jwt_is_unsupported() {
    let issuer = id();
    let server = HttpFile::start("application/vc+ld+json", b"{}".to_vec()).unwrap();
    let url = server.url("/lists/1");
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::VcJwt20)).await,
        "status_list_unsupported"
    );
}

#[tokio::test]
async fn an_index_beyond_the_list_is_invalid() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    server.set(VC_JWT, list(&issuer, &url, &bits(&[]), Format::JwtVc11));
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    let last = (LIST_BYTES * 8) as u64 - 1;
    assert_eq!(
        code(&v, &vc(&issuer, &url, last, Format::JwtVc11)).await,
        "ok"
    );
    assert_eq!(
        code(&v, &vc(&issuer, &url, last + 1, Format::JwtVc11)).await,
        "status_entry_invalid"
    );
}

#[tokio::test]
async fn http_to_a_non_loopback_host_is_refused_without_a_request() {
    let issuer = id();
    let v = verifier(
        Duration::from_secs(300),
        &[(&issuer, "http://192.0.2.1/lists/1")],
    );
    // TEST-NET-1: a connection attempt would hang until the timeout.
    let started = Instant::now();
    assert_eq!(
        code(
            &v,
            &vc(&issuer, "http://192.0.2.1/lists/1", INDEX, Format::JwtVc11)
        )
        .await,
        "status_list_unsupported"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn an_on_chain_list_without_chains_is_unsupported() {
    let issuer = id();
    let v = verifier(Duration::from_secs(300), &[]);
    let list = "did:ethr:dev:0x0000000000000000000000000000000000000001/status/staff";
    assert_eq!(
        code(&v, &vc(&issuer, list, INDEX, Format::JwtVc11)).await,
        "status_list_unsupported"
    );
}

#[tokio::test]
async fn an_expired_list_is_unavailable_and_a_list_is_not_kept_past_its_expiry() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    let expired = issue_status_list(
        &issuer.key,
        &issuer.kid,
        &issuer.did,
        &url,
        &bits(&[]),
        Some(600),
        Format::VcJwt20,
        now() - 7200,
    )
    .unwrap();
    server.set(VC_JWT, expired.into_bytes());
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    let token = vc(&issuer, &url, INDEX, Format::VcJwt20);
    assert_eq!(code(&v, &token).await, "status_unavailable");

    // Valid for one more second: used, then fetched again although the TTL is 300 s.
    let short = issue_status_list(
        &issuer.key,
        &issuer.kid,
        &issuer.did,
        &url,
        &bits(&[]),
        Some(1),
        Format::JwtVc11,
        now(),
    )
    .unwrap();
    server.set(VC_JWT, short.into_bytes());
    tokio::time::sleep(Duration::from_millis(350)).await; // past the failure backoff
    assert_eq!(code(&v, &token).await, "ok");
    let fetched = server.requests();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(code(&v, &token).await, "ok", "within the clock skew");
    assert_eq!(server.requests(), fetched + 1);
}

#[tokio::test]
async fn a_list_for_another_purpose_is_unsupported() {
    let issuer = id();
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    let payload = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.did,
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": {
            "id": format!("{url}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": "suspension",
            "encodedList": credentials::encode_list(&bits(&[])),
        },
    });
    let token =
        credentials::jws::sign_compact(&issuer.key, Some("vc+jwt"), Some(&issuer.kid), &payload);
    server.set(VC_JWT, token.into_bytes());
    let v = verifier(Duration::from_secs(300), &[(&issuer, &url)]);
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::VcJwt20)).await,
        "status_list_unsupported"
    );
}

#[tokio::test]
async fn a_list_where_its_issuer_does_not_publish_is_refused_without_a_request() {
    let (issuer, other) = (id(), id());
    let server = HttpFile::start(VC_JWT, Vec::new()).unwrap();
    let url = server.url("/lists/1");
    server.set(VC_JWT, list(&issuer, &url, &bits(&[]), Format::VcJwt20));
    // `other` publishes here, `issuer` elsewhere on the same host.
    let elsewhere = server.url("/other/1");
    let v = verifier(
        Duration::from_secs(300),
        &[(&other, &url), (&issuer, &elsewhere)],
    );
    assert_eq!(
        code(&v, &vc(&issuer, &url, INDEX, Format::JwtVc11)).await,
        "status_list_not_allowed"
    );
    assert_eq!(server.requests(), 0);
}
