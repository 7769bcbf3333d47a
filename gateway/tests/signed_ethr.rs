//! Signed requests by did:ethr services: the key that signs is resolved
//! from the ERC-1056 registry as the gateway follows it, so a key removed
//! on chain refuses the service's next signed request. On the embedded
//! chain (the DID deactivated with `didgate did deactivate`, which returns
//! once the gateway applied the block) and on anvil (a `sigAuth` delegate
//! added, signing, then revoked by the owner).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, FixedBytes, U256};
use alloy_sol_types::{sol, SolCall};
use credentials::{KeyType, SigningKey};
use didgate_client::Signer;
use http::{Method, StatusCode};
use support::*;
use test_support::Anvil;

sol! {
    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity);
    function revokeDelegate(address identity, bytes32 delegateType, address delegate);
}

const POLICY: &str = r#"
@id("signed-services")
permit (principal, action == Didgate::Action::"GET", resource)
when { resource.path like "/svc/*" && context.auth_method == "http_signature" };
"#;

/// (status, code) of one fresh signed GET.
async fn probe(h: &Harness, signer: &Signer) -> (StatusCode, String) {
    let mut req = http::Request::builder()
        .method(Method::GET)
        .uri(format!("{}/svc/health", h.url))
        .body(Vec::new())
        .unwrap();
    signer.sign_request(&mut req).unwrap();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = h.send(Method::GET, "/svc/health", None, &extra).await;
    let code = if r.status == StatusCode::OK {
        "ok".to_owned()
    } else {
        r.code()
    };
    (r.status, code)
}

fn address_of(key: &SigningKey) -> Address {
    let jwk = serde_json::to_string(&key.public_key().to_jwk()).unwrap();
    did_registry::ethr::address_of(&k256::PublicKey::from_jwk_str(&jwk).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_did_ethr_signs_no_more_requests_on_the_embedded_chain() {
    let h = Harness::start_full(
        None,
        "",
        "",
        "[chains.dev]\nembedded = true\npoll_interval_ms = 2000\n",
        POLICY,
    )
    .await;
    let key = SigningKey::generate(KeyType::Secp256k1);
    let did = format!("did:ethr:dev:{}", address_of(&key).to_checksum(None));
    let kid = format!("{did}#controller");
    let key_path = h.dir.join("svc.jwk");
    didgate::request::assertion::write_key_file(&key_path, &key, Some(&kid)).unwrap();
    // The service reads the key file the way a deployment would.
    let signer = Signer::from_key_file(&key_path).unwrap();
    assert_eq!(signer.keyid(), kid);
    assert_eq!(probe(&h, &signer).await, (StatusCode::OK, "ok".to_owned()));

    let cfg = h.dir.join("didgate.toml");
    let args = [
        "did".to_owned(),
        "deactivate".to_owned(),
        "-c".to_owned(),
        cfg.to_str().unwrap().to_owned(),
        "--key".to_owned(),
        key_path.to_str().unwrap().to_owned(),
        "--yes".to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        didgate_cli(&args)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The command returned once the gateway applied the block: the very
    // next signed request is refused.
    assert_eq!(
        probe(&h, &signer).await,
        (StatusCode::UNAUTHORIZED, "did_deactivated".to_owned())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_delegate_signs_no_more_requests_on_anvil() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let chain = format!(
        "[chains.dev]\nrpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337\npoll_interval_ms = 50\nmax_staleness_secs = 5\n",
        anvil.url
    );
    let h = Harness::start_full(None, "", "", &chain, POLICY).await;
    // Anvil's dev account 0 owns the DID; a fresh secp256k1 key is its
    // sigAuth delegate, and signs as `#delegate-1`.
    let owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    let did = format!("did:ethr:dev:{owner}");
    let key = SigningKey::generate(KeyType::Secp256k1);
    let delegate = address_of(&key);
    let mut sig_auth = [0u8; 32];
    sig_auth[..7].copy_from_slice(b"sigAuth");
    let data = addDelegateCall {
        identity: owner.parse().unwrap(),
        delegateType: FixedBytes(sig_auth),
        delegate,
        validity: U256::from(86_400u64),
    }
    .abi_encode();
    anvil
        .send(owner, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let signer = Signer::new(key, format!("{did}#delegate-1")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, code) = probe(&h, &signer).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "delegate never accepted: {code}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A signature by another key under the delegate's key id is refused.
    let impostor = Signer::new(
        SigningKey::generate(KeyType::Secp256k1),
        format!("{did}#delegate-1"),
    )
    .unwrap();
    assert_eq!(
        probe(&h, &impostor).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".to_owned())
    );

    let data = revokeDelegateCall {
        identity: owner.parse().unwrap(),
        delegateType: FixedBytes(sig_auth),
        delegate,
    }
    .abi_encode();
    let block = anvil
        .send(owner, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        let (status, code) = probe(&h, &signer).await;
        if status != StatusCode::OK {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "still allowed 30 s after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(code, "key_not_found");
    let blocks = anvil.block_number().unwrap() - block;
    assert!(
        blocks <= 1,
        "refused {blocks} blocks after the revocation, not from the next"
    );
    h.stop().await;
}
