//! The log anchor contract (`contracts/LogAnchor.sol`) on a real node
//! (anvil) and on the embedded chain (revm): its RFC 9162 consistency check
//! agrees with an independent implementation (`tlog_tiles`, a port of Go's
//! sumdb/tlog) for every pair of tree sizes up to 40; a head that extends
//! the last one is anchored, with its event; a forked history, a shrinking
//! log, an empty one and an actor who is not the identity's owner or
//! delegate are refused with their reasons, and change nothing. The chain
//! follower indexes `Anchored` events (SQLite and PostgreSQL) and forgets
//! those of blocks a reorganisation replaced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256};
use did_registry::ethr::anchor::{self, Head, ANCHOR_GAS};
use did_registry::ethr::{
    address_of, registry, Chain, ChainError, ChainFollower, EmbeddedChain, EthrNetwork,
    FollowError, RpcChain,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use test_support::Anvil;
use tlog_tiles::{prove_tree, stored_hashes, tree_hash, Hash, HashReader};

/// anvil's dev accounts 0 (the gateway's identity) and 1 (someone else).
const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const CHAIN_ID: u64 = 31337;

fn key(hex_key: &str) -> k256::SecretKey {
    k256::SecretKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
}

/// A Merkle tree built with `tlog_tiles`: its stored hashes, in order.
struct Tree(Vec<Hash>);

impl HashReader for Tree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(usize::try_from(i).unwrap())
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Tree {
    /// A tree of `n` entries named `"{tag}-{i}"`.
    fn of(tag: &str, n: u64) -> Self {
        let mut t = Tree(Vec::new());
        for i in 0..n {
            let hashes = stored_hashes(i, format!("{tag}-{i}").as_bytes(), &t).unwrap();
            t.0.extend(hashes);
        }
        t
    }

    fn head(&self, size: u64) -> Head {
        Head {
            size,
            root: B256::from(tree_hash(size, self).unwrap().0),
        }
    }

    /// The consistency proof from `old` to `new` entries.
    fn proof(&self, new: u64, old: u64) -> Vec<B256> {
        prove_tree(new, old, self)
            .unwrap()
            .into_iter()
            .map(|h| B256::from(h.0))
            .collect()
    }
}

fn log_id(origin: &str) -> B256 {
    B256::from(<[u8; 32]>::from(Sha256::digest(origin.as_bytes())))
}

async fn deploy(chain: &Arc<dyn Chain>, registry: Address) -> Address {
    let code = anchor::anchor_creation_code(registry).unwrap();
    chain
        .transact(&key(KEY0), None, code, 3_000_000)
        .await
        .unwrap()
        .contract_address
        .unwrap()
}

async fn head(chain: &Arc<dyn Chain>, at: Address, identity: Address, log: B256) -> Head {
    let ret = chain.call(at, anchor::heads(identity, log)).await.unwrap();
    anchor::decode_head(&ret).unwrap()
}

async fn send(
    chain: &Arc<dyn Chain>,
    signer: &str,
    at: Address,
    data: Bytes,
) -> Result<(), ChainError> {
    chain
        .transact(&key(signer), Some(at), data, ANCHOR_GAS)
        .await
        .map(|_| ())
}

fn reason(r: Result<(), ChainError>) -> String {
    match r {
        Err(ChainError::Reverted { reason }) => reason,
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// Everything the contract must do, on one chain.
async fn exercise(backend: &str, chain: Arc<dyn Chain>, registry: Address, at: Address) {
    let gw = address_of(&key(KEY0).public_key());
    let log = log_id("didgate.example/gw-1");
    let tree = Tree::of("decision", 40);

    // The contract's check agrees with tlog_tiles for every pair of sizes,
    // and refuses a proof with one hash changed.
    for new in 1..=40u64 {
        for old in 1..=new {
            let proof = tree.proof(new, old);
            let ok = chain
                .call(
                    at,
                    anchor::consistent(tree.head(old), tree.head(new), &proof),
                )
                .await
                .unwrap();
            assert_eq!(
                anchor::decode_bool(&ok),
                Some(true),
                "{backend}: {old} → {new}"
            );
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = B256::from(<[u8; 32]>::from(Sha256::digest(first.as_slice())));
                let refused = chain
                    .call(at, anchor::consistent(tree.head(old), tree.head(new), &bad))
                    .await
                    .unwrap();
                assert_eq!(
                    anchor::decode_bool(&refused),
                    Some(false),
                    "{backend}: {old} → {new} with a changed proof"
                );
            }
        }
    }

    // The first head needs no proof; the next one needs its proof.
    let empty = head(&chain, at, gw, log).await;
    assert_eq!(empty.size, 0, "{backend}");
    send(&chain, KEY0, at, anchor::anchor(gw, log, tree.head(5), &[]))
        .await
        .unwrap();
    assert_eq!(head(&chain, at, gw, log).await, tree.head(5), "{backend}");
    let proof = tree.proof(13, 5);
    send(
        &chain,
        KEY0,
        at,
        anchor::anchor(gw, log, tree.head(13), &proof),
    )
    .await
    .unwrap();
    assert_eq!(head(&chain, at, gw, log).await, tree.head(13), "{backend}");
    // The same head again changes nothing.
    send(
        &chain,
        KEY0,
        at,
        anchor::anchor(gw, log, tree.head(13), &[]),
    )
    .await
    .unwrap();

    // A history rewritten consistently with itself — entry 3 changed, every
    // hash recomputed, as someone holding the gateway's key could sign —
    // does not extend what is anchored.
    let forged = {
        let mut t = Tree(Vec::new());
        for i in 0..40u64 {
            let data = if i == 3 {
                "decision-3 (edited)".to_owned()
            } else {
                format!("decision-{i}")
            };
            let hashes = stored_hashes(i, data.as_bytes(), &t).unwrap();
            t.0.extend(hashes);
        }
        t
    };
    let forged_proof = forged.proof(20, 13);
    let r = send(
        &chain,
        KEY0,
        at,
        anchor::anchor(gw, log, forged.head(20), &forged_proof),
    )
    .await;
    assert_eq!(reason(r), "inconsistent", "{backend}: a forked history");
    // Another root at the anchored size, a smaller log, an empty one.
    let r = send(
        &chain,
        KEY0,
        at,
        anchor::anchor(gw, log, forged.head(13), &[]),
    )
    .await;
    assert_eq!(reason(r), "inconsistent", "{backend}: another root");
    let r = send(&chain, KEY0, at, anchor::anchor(gw, log, tree.head(8), &[])).await;
    assert_eq!(reason(r), "shrinks", "{backend}");
    let r = send(
        &chain,
        KEY0,
        at,
        anchor::anchor(
            gw,
            log_id("other"),
            Head {
                size: 0,
                root: B256::ZERO,
            },
            &[],
        ),
    )
    .await;
    assert_eq!(reason(r), "empty", "{backend}");
    // Someone who is not the identity's owner or delegate.
    let proof = tree.proof(20, 13);
    let r = send(
        &chain,
        KEY1,
        at,
        anchor::anchor(gw, log, tree.head(20), &proof),
    )
    .await;
    assert_eq!(reason(r), "bad_actor", "{backend}");
    assert_eq!(
        head(&chain, at, gw, log).await,
        tree.head(13),
        "{backend}: nothing refused changed the head"
    );

    // A veriKey delegate of the identity may anchor for it.
    let delegate = address_of(&key(KEY1).public_key());
    let add = registry::add_delegate(gw, registry::name32("veriKey").unwrap(), delegate, 3600);
    chain
        .transact(&key(KEY0), Some(registry), add, registry::WRITE_GAS)
        .await
        .unwrap();
    send(
        &chain,
        KEY1,
        at,
        anchor::anchor(gw, log, tree.head(20), &proof),
    )
    .await
    .unwrap();
    assert_eq!(head(&chain, at, gw, log).await, tree.head(20), "{backend}");

    // Each anchor is an event, linked to the identity's previous one.
    let tip = chain.block_number().await.unwrap();
    let logs = chain.logs(at, 0, tip).await.unwrap();
    let events: Vec<_> = logs
        .iter()
        .filter_map(|l| anchor::decode_anchored(&l.topics, &l.data))
        .collect();
    let sizes: Vec<u64> = events.iter().map(|e| e.head.size).collect();
    assert_eq!(sizes, [5, 13, 20], "{backend}");
    assert!(events.iter().all(|e| e.identity == gw && e.log_id == log));
    assert_eq!(events[0].previous_change, 0, "{backend}");
    assert!(
        events[1].previous_change > 0 && events[2].previous_change > events[1].previous_change,
        "{backend}: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anchors_on_anvil() {
    let anvil = Anvil::start();
    let registry: Address = anvil.deploy_registry().parse().unwrap();
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::connect(&anvil.url).await.unwrap());
    let at = deploy(&chain, registry).await;
    exercise("anvil", chain, registry, at).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anchors_on_the_embedded_chain() {
    let index = common::sqlite_index().await;
    let chain = EmbeddedChain::open(index, "dev", CHAIN_ID).await.unwrap();
    let registry = chain.ensure_registry().await.unwrap();
    let at = chain.ensure_log_anchor().await.unwrap();
    assert_eq!(
        chain.ensure_log_anchor().await.unwrap(),
        at,
        "deployed once"
    );
    exercise("embedded", Arc::new(chain), registry, at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_indexes_anchors_and_forgets_replaced_ones() {
    for (backend, index) in [
        ("sqlite", common::sqlite_index().await),
        ("postgres", common::postgres_index().await),
    ] {
        let anvil = Anvil::start();
        let registry: Address = anvil.deploy_registry().parse().unwrap();
        let chain: Arc<dyn Chain> = Arc::new(RpcChain::new(&anvil.url).unwrap());
        let at = deploy(&chain, registry).await;
        let net = EthrNetwork::new(
            common::dev_network(anvil.url.clone(), registry, CHAIN_ID),
            index.clone(),
        );
        let follower = ChainFollower::with_chain(net.clone(), chain.clone()).with_anchors(at);
        let gw = address_of(&key(KEY0).public_key());
        let log = log_id("didgate.example/gw-1");
        let tree = Tree::of("decision", 20);
        let indexed = || async {
            index
                .anchors("dev", &gw, &log)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.event.head)
                .collect::<Vec<_>>()
        };

        send(&chain, KEY0, at, anchor::anchor(gw, log, tree.head(5), &[]))
            .await
            .unwrap();
        // Another log of the same identity is indexed apart.
        send(
            &chain,
            KEY0,
            at,
            anchor::anchor(gw, log_id("other"), tree.head(3), &[]),
        )
        .await
        .unwrap();
        let report = follower.sync_once().await.unwrap();
        assert_eq!(report.events, 2, "{backend}: {report:?}");
        assert_eq!(indexed().await, [tree.head(5)], "{backend}");
        let cursor = index.cursor("dev").await.unwrap().unwrap();
        assert_eq!(cursor.anchor_contract, Some(at), "{backend}");

        // Anchors in blocks a reorganisation replaces are forgotten.
        let snapshot = anvil.rpc("evm_snapshot", json!([])).unwrap();
        send(
            &chain,
            KEY0,
            at,
            anchor::anchor(gw, log, tree.head(13), &tree.proof(13, 5)),
        )
        .await
        .unwrap();
        follower.sync_once().await.unwrap();
        assert_eq!(indexed().await, [tree.head(5), tree.head(13)], "{backend}");
        assert_eq!(anvil.rpc("evm_revert", json!([snapshot])).unwrap(), true);
        for _ in 0..8 {
            anvil.rpc("evm_mine", json!([])).unwrap();
        }
        let report = follower.sync_once().await.unwrap();
        assert!(report.rolled_back_to.is_some(), "{backend}: {report:?}");
        assert_eq!(indexed().await, [tree.head(5)], "{backend}");

        // A follower that does not index anchors may not write over an
        // index that does: it would leave them out.
        let blind = ChainFollower::with_chain(net.clone(), chain.clone());
        assert!(
            matches!(
                blind.sync_once().await,
                Err(FollowError::AnchorsNotFollowed { .. })
            ),
            "{backend}"
        );
        // Another contract: the chain is indexed again, from its history.
        let other = deploy(&chain, registry).await;
        let moved = ChainFollower::with_chain(net.clone(), chain.clone()).with_anchors(other);
        moved.sync_once().await.unwrap();
        assert!(indexed().await.is_empty(), "{backend}");
    }
}
