//! Interop with an independent RFC 9421 implementation: the npm package
//! `http-message-signatures` 1.0.6 (pinned exactly in
//! `interop/package.json` and `package-lock.json`, beside the other npm
//! peers; with its one dependency `structured-headers` 2.1.0), driven
//! through `interop/http-signatures.mjs` with JSON on stdin and stdout, and
//! Node's own crypto (sha-256, Ed25519, ECDSA P-256 and secp256k1).
//!
//! Properties:
//! - a request `Signer` signed (Ed25519, P-256, secp256k1; with and without
//!   a body) verifies with the package: its signature base (`@method`,
//!   `@target-uri`, `content-digest`, `@signature-params`) is byte for byte
//!   the package's, all of `created expires nonce keyid alg tag` are there
//!   with `tag="didgate"`, and Node's sha-256 matches our `Content-Digest`;
//! - the package's verification is not vacuous: the same request with
//!   another method, or another body, does not verify;
//! - a request the package signed (with a `Content-Digest` Node computed)
//!   passes our verification path (`parse_signature_headers`,
//!   `content_digest::verify`, `signature_base`, did:key resolution,
//!   `verify_jose`), and fails it once its body is changed.
//!
//! ecdsa-secp256k1-sha256 is not one of the package's algorithms; the
//! script gives it to the package as a custom key (the package builds the
//! base and the fields, Node's ECDSA signs). Node and npm are required: a
//! missing one fails this test, it never skips. `scripts/setup-interop.sh`
//! installs the peers (through `test-support`), as for every interop test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{as_received, did_key_signer, verify, Refusal};
use didgate_client::{KeyType, Signer, SigningKey};
use http::uri::Scheme;
use http_signatures::Algorithm;
use serde_json::{json, Value};

const PACKAGE: &str = "http-message-signatures";
const PACKAGE_VERSION: &str = "1.0.6";
/// Not ASCII, so the digests must agree on bytes, not text.
const BODY: &[u8] = b"{\"sku\":42,\"note\":\"caf\xc3\xa9\"}";

/// Runs the script on `cases`; its results, in order.
fn node(cases: Vec<Value>) -> Vec<Value> {
    let n = cases.len();
    let input = serde_json::to_vec(&json!({ "cases": cases })).unwrap();
    let out = test_support::node_with_input("http-signatures.mjs", &input).unwrap();
    let results: Value = serde_json::from_str(&out).unwrap();
    let results = results["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), n);
    results
}

/// The request as JSON for the script: method, absolute URL, headers, body.
fn request_json(method: &str, url: &str, headers: &http::HeaderMap, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .keys()
        .map(|name| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            (name.as_str().to_owned(), json!(values.join(", ")))
        })
        .collect();
    json!({ "method": method, "url": url, "headers": headers, "body": STANDARD.encode(body) })
}

/// The shared npm peers' folder.
fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

#[test]
fn the_pinned_package_is_installed() {
    assert!(node(Vec::new()).is_empty(), "the peers are installed");
    let manifest = interop_dir()
        .join("node_modules")
        .join(PACKAGE)
        .join("package.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(manifest["version"], PACKAGE_VERSION);
    let ours: Value =
        serde_json::from_slice(&std::fs::read(interop_dir().join("package.json")).unwrap())
            .unwrap();
    assert_eq!(
        ours["dependencies"][PACKAGE], PACKAGE_VERSION,
        "pinned exactly"
    );
}

#[test]
fn the_package_verifies_what_signer_signs() {
    let url = "https://gateway.example/orders/7?expand=items&q=a%20b";
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (kind, alg) in [
        (KeyType::Ed25519, Algorithm::Ed25519),
        (KeyType::P256, Algorithm::EcdsaP256Sha256),
        (KeyType::Secp256k1, Algorithm::EcdsaSecp256k1Sha256),
    ] {
        let signer = did_key_signer(kind);
        let public = serde_json::to_value(signer.public_key().to_jwk()).unwrap();
        for body in [BODY, b""] {
            let mut request = http::Request::post(url)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .unwrap();
            signer.sign_request(&mut request).unwrap();
            let headers = request.headers();
            let case = |method: &str, body: &[u8]| {
                json!({
                    "op": "verify",
                    "request": request_json(method, url, headers, body),
                    "publicJwk": public,
                    "keyid": signer.keyid(),
                    "alg": alg.wire_name(),
                })
            };
            let label = format!("{kind} body={}", body.len());
            let digest = if body.is_empty() {
                Value::Null
            } else {
                json!(true)
            };
            cases.push(case("POST", body));
            expected.push((label.clone(), true, digest.clone()));
            cases.push(case("PUT", body));
            expected.push((format!("{label} as PUT"), false, digest));
            if !body.is_empty() {
                // The signature covers the digest, not the body: it still
                // verifies, and the body check is what refuses.
                cases.push(case("POST", b"{}"));
                expected.push((format!("{label}, other body"), true, json!(false)));
            }
        }
    }
    let results = node(cases);
    for ((label, verified, digest_ok), result) in expected.iter().zip(&results) {
        assert_eq!(result["verified"], *verified, "{label}: {result}");
        assert_eq!(result["digestOk"], *digest_ok, "{label}: {result}");
        if *verified {
            assert_eq!(result["error"], Value::Null, "{label}: {result}");
        }
    }
}

#[tokio::test]
async fn signer_verification_accepts_what_the_package_signs() {
    let url = "https://gateway.example/orders/7?expand=items&q=a%20b";
    let created = did_registry::clock::unix_secs();
    let mut cases = Vec::new();
    let mut signers = Vec::new();
    for (kind, alg) in [
        (KeyType::Ed25519, Algorithm::Ed25519),
        (KeyType::P256, Algorithm::EcdsaP256Sha256),
        (KeyType::Secp256k1, Algorithm::EcdsaSecp256k1Sha256),
    ] {
        let key = SigningKey::generate(kind);
        let private = serde_json::to_value(key.to_jwk()).unwrap();
        let signer = Signer::for_did_key(key).unwrap();
        for body in [BODY, b""] {
            let mut headers = http::HeaderMap::new();
            headers.insert("content-type", "application/json".parse().unwrap());
            cases.push(json!({
                "op": "sign",
                "request": request_json("POST", url, &headers, body),
                "privateJwk": private,
                "keyid": signer.keyid(),
                "alg": alg.wire_name(),
                "created": created,
                "expires": created + 60,
                "nonce": format!("npm-{kind}-{}", body.len()),
            }));
            signers.push((kind, alg, signer.keyid().to_owned(), body));
        }
    }
    let results = node(cases);
    for ((kind, alg, keyid, body), result) in signers.into_iter().zip(results) {
        let mut request = http::Request::post(url).body(body.to_vec()).unwrap();
        for (name, value) in result["headers"].as_object().unwrap() {
            let name: http::HeaderName = name.to_ascii_lowercase().parse().unwrap();
            request
                .headers_mut()
                .append(name, value.as_str().unwrap().parse().unwrap());
        }
        assert_eq!(
            request.headers().contains_key("content-digest"),
            !body.is_empty(),
            "{kind}"
        );
        let (parts, body) = as_received(request);
        let params = verify(&parts, &body, Scheme::HTTPS)
            .await
            .unwrap_or_else(|e| panic!("{kind} body={}: {e:?}", body.len()));
        assert_eq!(params.alg(), Some(alg));
        assert_eq!(params.keyid(), Some(keyid.as_str()));
        assert_eq!(
            params.nonce(),
            Some(format!("npm-{kind}-{}", body.len()).as_str())
        );
        assert_eq!(params.created(), Some(created.unsigned_abs()));

        if !body.is_empty() {
            let refusal = verify(&parts, b"{}", Scheme::HTTPS).await.unwrap_err();
            assert!(matches!(refusal, Refusal::Digest(_)), "{kind}: {refusal:?}");
        }
        let mut moved = parts.clone();
        moved.uri = "/orders/8?expand=items&q=a%20b".parse().unwrap();
        let refusal = verify(&moved, &body, Scheme::HTTPS).await.unwrap_err();
        assert!(
            matches!(refusal, Refusal::Signature(_)),
            "{kind}: {refusal:?}"
        );
    }
}
