//! Fault injection: the chain. A real gateway follows a real node (anvil,
//! JSON-RPC over HTTP) and decides did:ethr requests from its event index.
//!
//! **The node is killed and restarted mid-follow**
//! (`node_killed_and_restarted_fails_closed_then_resumes`). While the node
//! is gone the index is used only until `max_staleness_secs` has passed
//! since the node last answered: did:ethr requests are allowed until then,
//! and refused `503 chain_unavailable` from then on, every one, until the
//! node answers again (never a decision from an index that may miss a
//! revocation). Presentations that need no chain (did:key) are unaffected.
//! Recovery is automatic: the node restarts on the same port with the same
//! chain, the follower's next round succeeds, did:ethr requests are allowed
//! again, and a registry change made after the restart is honoured (the
//! deactivated DID is refused `401 did_deactivated`). Every answered request
//! — allowed or refused — has exactly one row in the decision log.
//!
//! **A reorganisation deeper than `confirmations`**
//! (`reorg_deeper_than_confirmations_follows_the_new_chain`). Guaranteed:
//! a reorganisation no deeper than `confirmations` never touches what the
//! gateway indexed, so it never sees the discarded blocks. One deeper
//! replaces indexed blocks; the follower finds this on its next round by the
//! hash of the indexed head, rolls the index back (one transaction) to the
//! newest indexed block still on the chain, drops every cached document and
//! the revoked set, and indexes the new branch. From the moment it detects
//! the fork until the new branch is indexed the chain counts as unavailable
//! (`503 chain_unavailable`), so no request is decided from a half
//! rolled-back index: a client asking one question after another sees the
//! old branch, then 503s, then the new branch — never an old answer after a
//! new one. Not guaranteed: between the node switching branches and the
//! follower's next round (a poll interval) requests are still decided on the
//! old branch, and so is a request already past the freshness check when
//! the fork is detected (its index reads may straddle the rollback: a race
//! of milliseconds, once per fork); and a change the gateway honoured can
//! disappear with its block — here a DID deactivated on the discarded branch
//! is allowed again, as the canonical chain says, while a delegate revoked
//! on the new branch is refused. A deployment that cannot accept this sets
//! `confirmations` above the deepest reorganisation it expects. Every
//! answered request is logged once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use credentials::{KeyType, SigningKey};
use did_registry::ethr::registry::{add_delegate, change_owner, name32, revoke_delegate};
use did_registry::ethr::Address;
use http::StatusCode;
use serde_json::json;
use support::*;
use test_support::Anvil;

const PATH: &str = "/eng/docs";
/// Blocks between the last change the reorganisation keeps and the fork.
const BELOW_FORK: u64 = 100;

fn chain_toml(
    anvil: &Anvil,
    registry: &str,
    confirmations: u64,
    poll_ms: u64,
    stale_s: u64,
    range: u64,
) -> String {
    format!(
        r#"
[chains.dev]
rpc_url = "{}"
registry = "{registry}"
chain_id = 31337
confirmations = {confirmations}
poll_interval_ms = {poll_ms}
max_staleness_secs = {stale_s}
max_block_range = {range}
"#,
        anvil.url
    )
}

fn hex_data(data: &[u8]) -> String {
    format!("0x{}", hex::encode(data))
}

fn addr(a: &str) -> Address {
    a.parse().unwrap()
}

/// Probe as `who` (every answer kept in `log`) until an answer is `want`;
/// every answer before it must be one of `meanwhile`. The answer.
async fn until(
    h: &Harness,
    who: &Who,
    want: (StatusCode, &str),
    meanwhile: &[(StatusCode, &str)],
    log: &mut Vec<Answer>,
    within: Duration,
) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let a = h.probe(who, PATH).await;
        log.push(a.clone());
        if a.is(want.0, want.1) {
            return a;
        }
        assert!(
            meanwhile.iter().any(|(s, c)| a.is(*s, c)),
            "waiting for {want:?}, got {a:?}"
        );
        assert!(Instant::now() < deadline, "no {want:?} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ALLOWED: (StatusCode, &str) = (StatusCode::OK, "allowed");
const UNAVAILABLE: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable");
const DEACTIVATED: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "did_deactivated");
const KEY_GONE: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "key_not_found");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_and_restarted_fails_closed_then_resumes() {
    let dir = tempdir("anvil-state");
    let mut anvil = Anvil::start_persistent(&dir.join("chain.json"));
    let registry = anvil.deploy_registry();
    // Polled every 200 ms; trusted for 2 s without an answer.
    let h = Harness::start(None, &chain_toml(&anvil, &registry, 0, 200, 2, 2000)).await;
    let holder = anvil_holder(ANVIL_ACCOUNTS[0]);
    let mut log = Vec::new();
    until(
        &h,
        &holder,
        ALLOWED,
        &[UNAVAILABLE],
        &mut log,
        Duration::from_secs(20),
    )
    .await;

    // The node dies (SIGKILL) once its chain is on disk.
    let head = anvil.block_number().unwrap();
    tokio::task::block_in_place(|| anvil.wait_persisted(head)).unwrap();
    anvil.kill();
    let killed = Instant::now();

    // Within max_staleness the index answers; after it, every did:ethr
    // request is refused 503 chain_unavailable. did:key is unaffected.
    let first = h.probe(&holder, PATH).await;
    log.push(first.clone());
    assert!(
        first.is(ALLOWED.0, ALLOWED.1),
        "right after the kill: {first:?}"
    );
    let refused = until(
        &h,
        &holder,
        UNAVAILABLE,
        &[ALLOWED],
        &mut log,
        Duration::from_secs(10),
    )
    .await;
    let allowed_while_down = log
        .iter()
        .filter(|a| a.at >= killed && a.is(ALLOWED.0, ALLOWED.1))
        .count();
    let fail_closed_after = refused.at - killed;
    let did_key = h.probe(&h.alice, PATH).await;
    assert!(
        did_key.is(ALLOWED.0, ALLOWED.1),
        "did:key needs no chain: {did_key:?}"
    );
    log.push(did_key);
    let down_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < down_until {
        let a = h.probe(&holder, PATH).await;
        assert!(a.is(UNAVAILABLE.0, UNAVAILABLE.1), "node still down: {a:?}");
        log.push(a);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The node comes back on the same port with the same chain.
    tokio::task::block_in_place(|| anvil.restart());
    let restarted = Instant::now();
    assert_eq!(anvil.block_number().unwrap(), head, "the chain resumed");
    until(
        &h,
        &holder,
        ALLOWED,
        &[UNAVAILABLE],
        &mut log,
        Duration::from_secs(20),
    )
    .await;
    let resumed_after = Instant::now() - restarted;

    // A change made after the restart is honoured: the DID is deactivated.
    let (address, _) = ANVIL_ACCOUNTS[0];
    let data = change_owner(addr(address), Address::ZERO);
    let block = anvil.send(address, &registry, &hex_data(&data)).unwrap();
    assert!(block > head);
    until(
        &h,
        &holder,
        DEACTIVATED,
        &[ALLOWED],
        &mut log,
        Duration::from_secs(20),
    )
    .await;

    let count = |want: (StatusCode, &str)| log.iter().filter(|a| a.is(want.0, want.1)).count();
    let (logged, unlogged) =
        assert_each_answer_logged_once(&h.gw().store, &log, PATH, Duration::from_secs(10)).await;
    assert_eq!(unlogged, 0);
    println!(
        "FAULT node_kill answered={} allowed={} allowed_while_down={allowed_while_down} \
         chain_unavailable={} deactivated={} rows={logged} fail_closed_after_ms={} \
         resumed_after_restart_ms={}",
        log.len(),
        count(ALLOWED),
        count(UNAVAILABLE),
        count(DEACTIVATED),
        fail_closed_after.as_millis(),
        resumed_after.as_millis()
    );
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sigAuth delegate of `owner`, signing as `did:ethr:dev:OWNER#delegate-1`; its address.
fn new_delegate(owner: &str) -> (Who, Address) {
    let key = SigningKey::generate(KeyType::Secp256k1);
    let jwk = serde_json::to_string(&key.public_key().to_jwk()).unwrap();
    let delegate = did_registry::ethr::address_of(&k256::PublicKey::from_jwk_str(&jwk).unwrap());
    let did = format!("did:ethr:dev:{owner}");
    let who = Who {
        key,
        kid: format!("{did}#delegate-1"),
        did,
    };
    (who, delegate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_deeper_than_confirmations_follows_the_new_chain() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    // One confirmation: a block is indexed once another is mined on it.
    // One block per eth_getLogs range, so that indexing the new branch takes
    // long enough for requests to meet the rollback.
    let h = Harness::start(None, &chain_toml(&anvil, &registry, 1, 100, 5, 1)).await;
    let sig_auth = name32("sigAuth").unwrap();
    let (a0, _) = ANVIL_ACCOUNTS[0];
    let (a1, _) = ANVIL_ACCOUNTS[1];
    let holder = anvil_holder(ANVIL_ACCOUNTS[0]);
    let (delegate, delegate_addr) = new_delegate(a1);
    let mut log = Vec::new();

    // Block K: a1 adds a delegate (a change below the coming fork, kept;
    // within the 128 blocks the follower looks back for a common block).
    let k = anvil
        .send(
            a1,
            &registry,
            &hex_data(&add_delegate(addr(a1), sig_auth, delegate_addr, 86_400)),
        )
        .unwrap();
    // A hundred blocks without events: what is indexed again after the fork.
    anvil.rpc("anvil_mine", json!([BELOW_FORK])).unwrap();
    until(
        &h,
        &holder,
        ALLOWED,
        &[UNAVAILABLE],
        &mut log,
        Duration::from_secs(20),
    )
    .await;
    until(
        &h,
        &delegate,
        ALLOWED,
        &[UNAVAILABLE, KEY_GONE],
        &mut log,
        Duration::from_secs(20),
    )
    .await;

    // Block N: a0's DID is deactivated; N + 1 confirms it.
    let receipt = anvil
        .transact(
            a0,
            Some(&registry),
            &hex_data(&change_owner(addr(a0), Address::ZERO)),
            123_456,
        )
        .unwrap();
    let deactivation_tx = receipt["transactionHash"].clone();
    anvil.rpc("evm_mine", json!([])).unwrap();
    let head = anvil.block_number().unwrap();
    until(
        &h,
        &holder,
        DEACTIVATED,
        &[ALLOWED],
        &mut log,
        Duration::from_secs(20),
    )
    .await;
    let probe = h.probe(&delegate, PATH).await;
    assert!(probe.is(ALLOWED.0, ALLOWED.1), "{probe:?}");
    log.push(probe);

    // A reorganisation three blocks deep (confirmations: 1) replaces N − 1,
    // N and N + 1; the new branch's first block revokes a1's delegate.
    let revoke = hex_data(&revoke_delegate(addr(a1), sig_auth, delegate_addr));
    let reorged_at = Instant::now();
    anvil
        .rpc(
            "anvil_reorg",
            json!([3, [[{"from": a1, "to": registry, "data": revoke, "gas": "0x1e240"}, 0]]]),
        )
        .unwrap();
    assert_eq!(
        anvil.block_number().unwrap(),
        head,
        "same height, other blocks"
    );
    assert!(head - 3 > k, "the delegate's block is below the fork");
    assert!(
        anvil
            .rpc("eth_getTransactionReceipt", json!([deactivation_tx]))
            .unwrap()
            .is_null(),
        "the deactivation is gone from the chain"
    );

    // One question after another, alternating the two holders: answers
    // from the old branch (a0 deactivated, the delegate valid), perhaps 503s
    // while the index is rolled back, then answers from the new branch (a0
    // allowed, the delegate revoked) — never an old answer after a new one.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut new_branch_seen = false;
    let mut rollback_503s = 0;
    'follow: loop {
        let mut both_new = true;
        for (who, old, new) in [
            (&holder, DEACTIVATED, ALLOWED),
            (&delegate, ALLOWED, KEY_GONE),
        ] {
            let a = h.probe(who, PATH).await;
            log.push(a.clone());
            if a.is(UNAVAILABLE.0, UNAVAILABLE.1) {
                rollback_503s += 1;
                both_new = false;
            } else if a.is(old.0, old.1) {
                assert!(!new_branch_seen, "the old branch after the new one: {a:?}");
                both_new = false;
            } else {
                assert!(a.is(new.0, new.1), "{a:?}");
                new_branch_seen = true;
            }
        }
        if both_new {
            break 'follow;
        }
        assert!(Instant::now() < deadline, "the new branch was not followed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let followed_after = reorged_at.elapsed();
    // Indexing the new branch (a hundred one-block ranges) takes a while;
    // the questions asked meanwhile were refused, not answered.
    assert!(
        rollback_503s > 0,
        "no request met the rollback as 503 chain_unavailable"
    );
    // And it stays there.
    for _ in 0..5 {
        let a = h.probe(&holder, PATH).await;
        let b = h.probe(&delegate, PATH).await;
        assert!(
            a.is(ALLOWED.0, ALLOWED.1) && b.is(KEY_GONE.0, KEY_GONE.1),
            "{a:?} {b:?}"
        );
        log.push(a);
        log.push(b);
    }
    let (logged, unlogged) =
        assert_each_answer_logged_once(&h.gw().store, &log, PATH, Duration::from_secs(10)).await;
    assert_eq!(unlogged, 0);
    println!(
        "FAULT reorg answered={} rows={logged} chain_unavailable_during_rollback={rollback_503s} \
         new_branch_followed_after_ms={}",
        log.len(),
        followed_after.as_millis()
    );
    h.stop().await;
}
