//! A request signed by `Signer` verifies the way the gateway will verify it
//! (`common::verify`: parse, policy, digest, base, did:key/did:jwk
//! resolution, `verify_jose`), for each key type; and each change an
//! attacker could make after signing breaks it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{as_received, did_key_signer, verify, Refusal};
use did_registry::SignatureError;
use didgate_client::{KeyType, SignError, Signer, SigningKey};
use http::uri::Scheme;
use http_signatures::{content_digest, Algorithm};

const URI: &str = "https://gateway.example/orders/7?expand=items&x=%2F";
const BODY: &[u8] = br#"{"sku":42,"qty":1}"#;

fn signed_post(signer: &Signer, uri: &str, body: &[u8]) -> (http::request::Parts, Vec<u8>) {
    let mut request = http::Request::post(uri)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .unwrap();
    signer.sign_request(&mut request).unwrap();
    as_received(request)
}

#[tokio::test]
async fn ed25519_p256_and_secp256k1_did_keys_round_trip() {
    for (kind, alg) in [
        (KeyType::Ed25519, Algorithm::Ed25519),
        (KeyType::P256, Algorithm::EcdsaP256Sha256),
        (KeyType::Secp256k1, Algorithm::EcdsaSecp256k1Sha256),
    ] {
        let signer = did_key_signer(kind);
        assert!(
            signer.keyid().starts_with("did:key:z"),
            "{}",
            signer.keyid()
        );
        for body in [BODY, b""] {
            let (parts, body) = signed_post(&signer, URI, body);
            let params = verify(&parts, &body, Scheme::HTTPS)
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(params.alg(), Some(alg));
            assert_eq!(params.keyid(), Some(signer.keyid()));
        }
    }
}

#[tokio::test]
async fn a_did_jwk_keyid_round_trips() {
    for kind in [KeyType::Ed25519, KeyType::P256] {
        let key = SigningKey::generate(kind);
        let did = did_registry::did_jwk(&key.public_key());
        let keyid = did_registry::default_key_id(&did).unwrap();
        let signer = Signer::new(key, keyid).unwrap();
        let (parts, body) = signed_post(&signer, URI, BODY);
        verify(&parts, &body, Scheme::HTTPS).await.unwrap();
    }
}

#[tokio::test]
async fn a_key_file_from_did_create_signs_as_its_kid() {
    // The file `didgate did create` writes: the private JWK, kid = DID URL.
    let key = SigningKey::generate(KeyType::P256);
    let kid = didgate_client::did_key_id(&key).unwrap();
    let mut jwk = key.to_jwk();
    jwk.kid = Some(kid.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.jwk");
    std::fs::write(&path, serde_json::to_string_pretty(&jwk).unwrap()).unwrap();

    let signer = Signer::from_key_file(&path).unwrap();
    assert_eq!(signer.keyid(), kid);
    let (parts, body) = signed_post(&signer, URI, BODY);
    verify(&parts, &body, Scheme::HTTPS).await.unwrap();

    let explicit = Signer::from_jwk_file(&path, kid.clone()).unwrap();
    let (parts, body) = signed_post(&explicit, URI, BODY);
    verify(&parts, &body, Scheme::HTTPS).await.unwrap();

    jwk.kid = None;
    std::fs::write(&path, serde_json::to_string(&jwk).unwrap()).unwrap();
    let err = Signer::from_key_file(&path).unwrap_err();
    assert!(
        matches!(err, SignError::KeyFileWithoutKeyId { .. }),
        "{err}"
    );
    Signer::from_jwk_file(&path, kid).unwrap();
}

#[tokio::test]
async fn a_changed_body_fails_its_digest() {
    let signer = did_key_signer(KeyType::Ed25519);
    let (parts, _) = signed_post(&signer, URI, BODY);
    let changed = br#"{"sku":42,"qty":9}"#;
    let err = content_digest::verify(parts.headers.get_all("content-digest"), changed).unwrap_err();
    assert_eq!(err.reason(), "content_digest_mismatch");
    let refusal = verify(&parts, changed, Scheme::HTTPS).await.unwrap_err();
    assert!(matches!(refusal, Refusal::Digest(_)), "{refusal:?}");
    // A body added to a request signed without one is not covered.
    let (parts, _) = signed_post(&signer, URI, b"");
    let refusal = verify(&parts, BODY, Scheme::HTTPS).await.unwrap_err();
    assert!(
        matches!(refusal, Refusal::NotCovered("content-digest")),
        "{refusal:?}"
    );
}

#[tokio::test]
async fn a_changed_method_or_target_fails_the_signature() {
    for kind in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
        let signer = did_key_signer(kind);
        let (parts, body) = signed_post(&signer, URI, BODY);
        verify(&parts, &body, Scheme::HTTPS).await.unwrap();

        let mut tampered: Vec<http::request::Parts> = Vec::new();
        let mut method = parts.clone();
        method.method = http::Method::PUT;
        tampered.push(method);
        for target in [
            "/orders/8?expand=items&x=%2F",
            "/orders/7?expand=items&x=/",
            "/orders/7?expand=items",
            "/orders/7",
        ] {
            let mut uri = parts.clone();
            uri.uri = target.parse().unwrap();
            tampered.push(uri);
        }
        let mut host = parts.clone();
        host.headers
            .insert(http::header::HOST, "other.example".parse().unwrap());
        tampered.push(host);
        for changed in tampered {
            let refusal = verify(&changed, &body, Scheme::HTTPS).await.unwrap_err();
            assert!(
                matches!(refusal, Refusal::Signature(SignatureError::BadSignature)),
                "{kind} {} {}: {refusal:?}",
                changed.method,
                changed.uri
            );
        }
        // Received over plain HTTP, the target is another URI.
        let refusal = verify(&parts, &body, Scheme::HTTP).await.unwrap_err();
        assert!(matches!(refusal, Refusal::Signature(_)), "{refusal:?}");
    }
}

#[tokio::test]
async fn a_signature_under_another_keyid_fails() {
    let signer = did_key_signer(KeyType::Ed25519);
    let other = did_key_signer(KeyType::Ed25519);
    let key = SigningKey::generate(KeyType::Ed25519);
    let impostor = Signer::new(key, other.keyid()).unwrap();
    let (parts, body) = signed_post(&impostor, URI, BODY);
    let refusal = verify(&parts, &body, Scheme::HTTPS).await.unwrap_err();
    assert!(matches!(refusal, Refusal::Signature(_)), "{refusal:?}");
    let (parts, body) = signed_post(&signer, URI, BODY);
    verify(&parts, &body, Scheme::HTTPS).await.unwrap();
}

#[tokio::test]
async fn expires_is_created_plus_the_validity() {
    let signer = did_key_signer(KeyType::Ed25519)
        .with_validity_secs(90)
        .unwrap()
        .with_clock(|| 1_800_000_000);
    let (parts, body) = signed_post(&signer, URI, BODY);
    let params = verify(&parts, &body, Scheme::HTTPS).await.unwrap();
    assert_eq!(params.created(), Some(1_800_000_000));
    assert_eq!(params.expires(), Some(1_800_000_090));

    let default = did_key_signer(KeyType::P256);
    let (parts, body) = signed_post(&default, URI, BODY);
    let params = verify(&parts, &body, Scheme::HTTPS).await.unwrap();
    let created = params.created().unwrap();
    assert_eq!(params.expires().unwrap() - created, 60);
    let now = did_registry::clock::unix_secs().unsigned_abs();
    assert!(
        created <= now && now - created < 60,
        "created {created}, now {now}"
    );
}

#[tokio::test]
async fn two_signatures_have_different_nonces() {
    let signer = did_key_signer(KeyType::Ed25519).with_clock(|| 1_800_000_000);
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..32 {
        let (parts, body) = signed_post(&signer, URI, BODY);
        let params = verify(&parts, &body, Scheme::HTTPS).await.unwrap();
        assert!(
            nonces.insert(params.nonce().unwrap().to_owned()),
            "a nonce repeated"
        );
    }
}

#[tokio::test]
async fn a_relative_uri_is_refused() {
    let signer = did_key_signer(KeyType::Ed25519);
    for uri in ["/orders/7", "orders"] {
        let mut request = http::Request::post(uri).body(BODY.to_vec()).unwrap();
        let err = signer.sign_request(&mut request).unwrap_err();
        assert!(matches!(err, SignError::RelativeUri { .. }), "{uri}: {err}");
        assert!(err.to_string().contains("@target-uri"), "{err}");
        assert!(request.headers().is_empty(), "nothing was set");
    }
}

#[tokio::test]
async fn the_default_port_is_signed_as_clients_send_host() {
    let signer = did_key_signer(KeyType::Ed25519);
    let mut request = http::Request::post("https://gateway.example:443/orders")
        .body(BODY.to_vec())
        .unwrap();
    signer.sign_request(&mut request).unwrap();
    let (mut parts, body) = as_received(request);
    // hyper and reqwest send `Host: gateway.example` for this URI.
    parts
        .headers
        .insert(http::header::HOST, "gateway.example".parse().unwrap());
    verify(&parts, &body, Scheme::HTTPS).await.unwrap();
}

#[tokio::test]
async fn signing_parts_replaces_earlier_fields() {
    let signer = did_key_signer(KeyType::P256);
    let (mut parts, _) = http::Request::put(URI)
        .header("signature-input", r#"old=("@method");created=1"#)
        .header("signature", "old=:AAAA:")
        .header("content-digest", "sha-256=:AAAA:")
        .body(())
        .unwrap()
        .into_parts();
    signer.sign(&mut parts, BODY).unwrap();
    signer.sign(&mut parts, BODY).unwrap();
    for name in ["signature-input", "signature", "content-digest"] {
        assert_eq!(parts.headers.get_all(name).iter().count(), 1, "{name}");
    }
    let request = http::Request::from_parts(parts, BODY.to_vec());
    let (parts, body) = as_received(request);
    verify(&parts, &body, Scheme::HTTPS).await.unwrap();
}
