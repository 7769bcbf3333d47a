//! The on-chain status list through the follower, against a real node
//! (anvil), on SQLite and PostgreSQL: a revocation is indexed with its
//! block and survives a restart (the set is rebuilt from the index); a
//! reorganisation that drops the block drops the revocation too; pointing
//! the config at another status registry indexes again from the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{postgres_index, sqlite_index};
use did_registry::ethr::status::{self, U256};
use did_registry::ethr::{
    Address, Chain, ChainFollower, EthrNetwork, EthrStatusChecker, EventIndex, RpcChain,
    StatusEntry, StatusLists,
};
use serde_json::json;
use test_support::Anvil;

const ISSUER: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn issuer_secret() -> k256::SecretKey {
    k256::SecretKey::from_slice(&hex::decode(ISSUER).unwrap()).unwrap()
}

fn network(anvil: &Anvil, registry: Address, index: EventIndex) -> Arc<EthrNetwork> {
    EthrNetwork::new(
        common::dev_network(anvil.url.clone(), registry, 31337),
        index,
    )
}

async fn deploy_status(chain: &Arc<dyn Chain>, registry: Address) -> Address {
    let code = status::status_creation_code(registry).unwrap();
    let r = chain
        .transact(&issuer_secret(), None, code, 3_000_000)
        .await
        .unwrap();
    r.contract_address.unwrap()
}

async fn set(chain: &Arc<dyn Chain>, status_registry: Address, index: u64, revoked: bool) {
    let issuer = did_registry::ethr::address_of(&issuer_secret().public_key());
    let data = status::set_status(
        issuer,
        status::list_id("staff").unwrap(),
        U256::from(index),
        revoked,
    );
    chain
        .transact(
            &issuer_secret(),
            Some(status_registry),
            data,
            status::STATUS_GAS,
        )
        .await
        .unwrap();
}

/// The reason code for index `index` of the issuer's "staff" list (`ok` when accepted).
fn check(checker: &EthrStatusChecker, index: u64) -> String {
    let issuer = did_registry::ethr::address_of(&issuer_secret().public_key());
    let did = format!("did:ethr:dev:{issuer}");
    let entry = StatusEntry {
        list: status::list_url(&did, "staff"),
        issuer: did,
        index: U256::from(index),
    };
    match checker.check_now(&entry) {
        Ok(()) => "ok".into(),
        Err(e) => e.reason_code().into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_indexed_kept_and_rolled_back() {
    for (backend, index) in [
        ("sqlite", sqlite_index().await),
        ("postgres", postgres_index().await),
    ] {
        let anvil = Anvil::start();
        let registry: Address = anvil.deploy_registry().parse().unwrap();
        let chain: Arc<dyn Chain> = Arc::new(RpcChain::new(&anvil.url).unwrap());
        let status_registry = deploy_status(&chain, registry).await;

        let net = network(&anvil, registry, index.clone());
        let lists = StatusLists::load(net.clone(), status_registry)
            .await
            .unwrap();
        let follower =
            ChainFollower::with_chain(net.clone(), chain.clone()).with_status(lists.clone());
        let checker = EthrStatusChecker::new(vec![net.clone()], vec![lists.clone()]);
        // Never synced: the chain is not known to be fresh.
        assert_eq!(check(&checker, 5), "chain_unavailable", "{backend}");
        follower.sync_once().await.unwrap();
        assert_eq!(check(&checker, 5), "ok", "{backend}");

        set(&chain, status_registry, 5, true).await;
        let report = follower.sync_once().await.unwrap();
        assert_eq!(report.events, 1, "{backend}: {report:?}");
        assert_eq!(check(&checker, 5), "credential_revoked", "{backend}");
        assert_eq!(check(&checker, 4), "ok", "{backend}");

        // A restart rebuilds the set from the index.
        let reloaded = StatusLists::load(net.clone(), status_registry)
            .await
            .unwrap();
        assert!(reloaded.is_revoked(
            did_registry::ethr::address_of(&issuer_secret().public_key()),
            status::list_id("staff").unwrap(),
            U256::from(5)
        ));
        assert_eq!(reloaded.revoked_count(), 1, "{backend}");

        // Changes in blocks that a reorganisation then replaces are forgotten.
        let snapshot = anvil.rpc("evm_snapshot", json!([])).unwrap();
        set(&chain, status_registry, 5, false).await;
        set(&chain, status_registry, 6, true).await;
        follower.sync_once().await.unwrap();
        assert_eq!(
            (check(&checker, 5), check(&checker, 6)),
            ("ok".into(), "credential_revoked".into()),
            "{backend}"
        );
        assert_eq!(anvil.rpc("evm_revert", json!([snapshot])).unwrap(), true);
        for _ in 0..8 {
            anvil.rpc("evm_mine", json!([])).unwrap();
        }
        let report = follower.sync_once().await.unwrap();
        assert!(report.rolled_back_to.is_some(), "{backend}: {report:?}");
        assert_eq!(
            (check(&checker, 5), check(&checker, 6)),
            ("credential_revoked".into(), "ok".into()),
            "{backend}: back to the state of the surviving blocks"
        );

        // Another status registry: its (empty) history replaces the old one.
        let other = deploy_status(&chain, registry).await;
        let other_lists = StatusLists::load(net.clone(), other).await.unwrap();
        let follower =
            ChainFollower::with_chain(net.clone(), chain.clone()).with_status(other_lists.clone());
        follower.sync_once().await.unwrap();
        assert_eq!(other_lists.revoked_count(), 0, "{backend}");
        let checker = EthrStatusChecker::new(vec![net.clone()], vec![other_lists]);
        assert_eq!(check(&checker, 5), "ok", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_change_a_list() {
    let anvil = Anvil::start();
    let registry: Address = anvil.deploy_registry().parse().unwrap();
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::new(&anvil.url).unwrap());
    let status_registry = deploy_status(&chain, registry).await;
    let issuer = did_registry::ethr::address_of(&issuer_secret().public_key());
    let stranger = k256::SecretKey::from_slice(
        &hex::decode("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d").unwrap(),
    )
    .unwrap();
    let stranger_addr = did_registry::ethr::address_of(&stranger.public_key());
    let can = chain
        .call(status_registry, status::can_update(issuer, stranger_addr))
        .await
        .unwrap();
    assert_eq!(status::decode_bool(&can), Some(false));
    let data = status::set_status(
        issuer,
        status::list_id("staff").unwrap(),
        U256::from(1),
        true,
    );
    let err = chain
        .transact(&stranger, Some(status_registry), data, status::STATUS_GAS)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revert"), "{err}");
    let bit = chain
        .call(
            status_registry,
            status::is_revoked(issuer, status::list_id("staff").unwrap(), U256::from(1)),
        )
        .await
        .unwrap();
    assert_eq!(status::decode_bool(&bit), Some(false));
}
