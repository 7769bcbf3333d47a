//! did:ethr end to end: a real gateway follows a real chain (anvil); a
//! holder whose key lives in the ERC-1056 registry is allowed, and the first
//! request after the block that deactivates the DID, or revokes the delegate
//! key it signs with, is refused. The delay (blocks and milliseconds) is
//! printed as `REVOCATION_DELAY …` (run with `--nocapture`; bench/RESULTS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, FixedBytes, U256};
use alloy_sol_types::{sol, SolCall};
use credentials::{Format, Jwk, SigningKey};
use http::{Method, StatusCode};
use support::*;
use test_support::Anvil;

sol! {
    function changeOwner(address identity, address newOwner);
    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity);
    function revokeDelegate(address identity, bytes32 delegateType, address delegate);
}

/// Anvil's well-known dev accounts 0 and 1 (unlocked on the node).
const ACCOUNTS: [(&str, &str); 2] = [
    (
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
];

fn secp_key(secret_hex: &str) -> SigningKey {
    let sk = k256::SecretKey::from_slice(&hex::decode(secret_hex).unwrap()).unwrap();
    let jwk: Jwk = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    SigningKey::from_jwk(&jwk).unwrap()
}

fn sig_auth() -> FixedBytes<32> {
    let mut b = [0u8; 32];
    b[..7].copy_from_slice(b"sigAuth");
    FixedBytes(b)
}

async fn gateway_on(anvil: &Anvil, registry: &str) -> Harness {
    let chain = format!(
        r#"
[chains.dev]
rpc_url = "{}"
registry = "{registry}"
chain_id = 31337
poll_interval_ms = 50
max_staleness_secs = 5
"#,
        anvil.url
    );
    Harness::start(None, &chain).await
}

/// How a probe request authenticates: a fresh presentation each time, or
/// a browser session.
#[derive(Clone, Copy)]
enum Probe<'a> {
    Bearer(&'a Who),
    Session(&'a Jar),
}

/// Send probe requests until one is refused; (blocks, ms) after `block` was
/// mined, and the refusal's code.
async fn delay_until_refused(
    h: &Harness,
    anvil: &Anvil,
    probe: Probe<'_>,
    block: u64,
    mined_at: Instant,
) -> (u64, u128, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = match probe {
            Probe::Bearer(who) => {
                let vc = h.employee_vc(who, "engineer", "eng");
                let vp = h.vp_for(who, vec![vc], &h.audience, now(), Format::JwtVc11);
                h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await
            }
            Probe::Session(jar) => {
                let cookie = jar.header();
                h.send(Method::GET, "/eng/docs", None, &[("cookie", &cookie)])
                    .await
            }
        };
        if r.status != StatusCode::OK {
            let ms = mined_at.elapsed().as_millis();
            let head = anvil.block_number().unwrap();
            return (head - block, ms, r.code());
        }
        assert!(
            Instant::now() < deadline,
            "still allowed 30 s after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A new sigAuth delegate of `owner` (an anvil account), once the gateway
/// accepts presentations it signs; the delegate's address.
async fn add_sig_auth_delegate(
    h: &Harness,
    anvil: &Anvil,
    registry: &str,
    owner: &str,
) -> (Who, Address) {
    let did = format!("did:ethr:dev:{owner}");
    let key = SigningKey::generate(credentials::KeyType::Secp256k1);
    let jwk = serde_json::to_string(&key.public_key().to_jwk()).unwrap();
    let delegate = did_registry::ethr::address_of(&k256::PublicKey::from_jwk_str(&jwk).unwrap());
    let data = addDelegateCall {
        identity: owner.parse().unwrap(),
        delegateType: sig_auth(),
        delegate,
        validity: U256::from(86_400u64),
    }
    .abi_encode();
    anvil
        .send(owner, registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let who = Who {
        key,
        kid: format!("{did}#delegate-1"),
        did,
    };
    // Allowed once the follower has seen the delegate.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let vc = h.employee_vc(&who, "engineer", "eng");
        let vp = h.vp_for(&who, vec![vc], &h.audience, now(), Format::JwtVc11);
        let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
        if r.status == StatusCode::OK {
            return (who, delegate);
        }
        assert!(
            Instant::now() < deadline,
            "delegate never accepted: {}",
            r.code()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_did_and_revoked_delegate_are_refused_from_the_next_block() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let h = gateway_on(&anvil, &registry).await;

    // 1. A holder signing with its own controller key (EcdsaSecp256k1RecoveryMethod2020).
    let (addr, secret) = ACCOUNTS[0];
    let did = format!("did:ethr:dev:{addr}");
    let holder = Who {
        key: secp_key(secret),
        kid: format!("{did}#controller"),
        did: did.clone(),
    };
    let vc = h.employee_vc(&holder, "engineer", "eng");
    let vp = h.vp_for(&holder, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    r.assert_ok();
    assert_eq!(r.json()["identity"]["claims"]["sub"], did.as_str());

    // A signature by another key under the holder's kid is refused.
    let impostor = Who {
        key: secp_key(ACCOUNTS[1].1),
        kid: holder.kid.clone(),
        did: did.clone(),
    };
    let vc = h.employee_vc(&impostor, "engineer", "eng");
    let vp = h.vp_for(&impostor, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );

    // Deactivate: owner → 0x0.
    let identity: Address = addr.parse().unwrap();
    let data = changeOwnerCall {
        identity,
        newOwner: Address::ZERO,
    }
    .abi_encode();
    let block = anvil
        .send(addr, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let mined_at = Instant::now();
    let (blocks, ms, code) =
        delay_until_refused(&h, &anvil, Probe::Bearer(&holder), block, mined_at).await;
    assert_eq!(code, "did_deactivated");
    println!("REVOCATION_DELAY kind=deactivate blocks={blocks} ms={ms}");

    // 2. A holder signing with a sigAuth delegate key; the owner revokes it.
    let (addr, _) = ACCOUNTS[1];
    let identity: Address = addr.parse().unwrap();
    let (holder, delegate) = add_sig_auth_delegate(&h, &anvil, &registry, addr).await;
    let data = revokeDelegateCall {
        identity,
        delegateType: sig_auth(),
        delegate,
    }
    .abi_encode();
    let block = anvil
        .send(addr, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let mined_at = Instant::now();
    let (blocks, ms, code) =
        delay_until_refused(&h, &anvil, Probe::Bearer(&holder), block, mined_at).await;
    assert_eq!(
        code, "key_not_found",
        "the delegate's kid is no longer in the document"
    );
    println!("REVOCATION_DELAY kind=revoke_delegate blocks={blocks} ms={ms}");

    let d = h.decisions(1).await;
    assert!(d.iter().any(|d| d.reason == "did_deactivated"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_chain_fails_closed_with_503() {
    let mut anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let h = gateway_on(&anvil, &registry).await;
    let (addr, secret) = ACCOUNTS[0];
    let did = format!("did:ethr:dev:{addr}");
    let holder = Who {
        key: secp_key(secret),
        kid: format!("{did}#controller"),
        did,
    };
    anvil.kill();
    // Within max_staleness_secs (5 s) the index answers; after it, refuse.
    tokio::time::sleep(Duration::from_millis(5300)).await;
    let vc = h.employee_vc(&holder, "engineer", "eng");
    let vp = h.vp_for(&holder, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable")
    );
    h.stop().await;
}

/// A browser session rests on the key that logged in: revoking that key (a
/// sigAuth delegate) or deactivating the DID ends it from that block, as it
/// refuses a bearer presentation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_from_the_block_that_revokes_the_login_key() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let h = gateway_on(&anvil, &registry).await;
    let (addr, secret) = ACCOUNTS[0];
    let did = format!("did:ethr:dev:{addr}");
    let identity: Address = addr.parse().unwrap();

    // Log in with a sigAuth delegate key.
    let (by_delegate, delegate) = add_sig_auth_delegate(&h, &anvil, &registry, addr).await;
    let vc = h.employee_vc(&by_delegate, "engineer", "eng");
    let delegate_session = h.browser_login(&by_delegate, vec![vc]).await;
    // And a second session, with the controller key.
    let by_owner = Who {
        key: secp_key(secret),
        kid: format!("{did}#controller"),
        did: did.clone(),
    };
    let vc = h.employee_vc(&by_owner, "engineer", "eng");
    let owner_session = h.browser_login(&by_owner, vec![vc]).await;

    // Revoking the delegate ends the session it opened, not the owner's.
    let data = revokeDelegateCall {
        identity,
        delegateType: sig_auth(),
        delegate,
    }
    .abi_encode();
    let block = anvil
        .send(addr, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let (blocks, ms, code) = delay_until_refused(
        &h,
        &anvil,
        Probe::Session(&delegate_session),
        block,
        Instant::now(),
    )
    .await;
    assert_eq!(code, "key_not_found");
    println!("SESSION_REVOCATION_DELAY kind=revoke_delegate blocks={blocks} ms={ms}");
    let cookie = owner_session.header();
    let r = h
        .send(Method::GET, "/eng/docs", None, &[("cookie", &cookie)])
        .await;
    r.assert_ok();

    // Deactivating the DID ends the owner's session too.
    let data = changeOwnerCall {
        identity,
        newOwner: Address::ZERO,
    }
    .abi_encode();
    let block = anvil
        .send(addr, &registry, &format!("0x{}", hex::encode(data)))
        .unwrap();
    let (blocks, ms, code) = delay_until_refused(
        &h,
        &anvil,
        Probe::Session(&owner_session),
        block,
        Instant::now(),
    )
    .await;
    assert_eq!(code, "did_deactivated");
    println!("SESSION_REVOCATION_DELAY kind=deactivate blocks={blocks} ms={ms}");
    // Still refused later (read again from the database, verified again).
    let r = h
        .send(Method::GET, "/eng/docs", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}
