//! The policy registry contract (`contracts/PolicyRegistry.sol`) on a real
//! node (anvil) and on the embedded chain (revm), one scenario on both:
//! a deployment is created with three administrators and a threshold of
//! two; a bundle proposed by one is active only once another approves; a
//! non-administrator and a key that does not act for the administrator it
//! names are refused; an administrator acts through a `sigAuth` delegate
//! until it is revoked, and through its new owner key after a key rotation,
//! never through the old one; double approvals, duplicates, the active
//! bundle again, someone else's cancellation and approvals of cancelled or
//! stale proposals are refused with their reasons; the threshold and the
//! administrators change only with the threshold's approvals, each change
//! starting a new epoch; a rollback is a new proposal of an earlier bundle.
//! Every event is read back with `governance::decode_event`. On anvil the
//! gas of the dearest writes is measured against `GOVERNANCE_GAS`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256};
use did_registry::ethr::governance::{
    self, DeploymentInfo, GovernanceEvent, ProposalInfo, ProposalKind, ProposalState,
    GOVERNANCE_GAS,
};
use did_registry::ethr::{
    address_of, registry, Chain, ChainError, EmbeddedChain, Receipt, RpcChain,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use test_support::Anvil;

/// anvil's dev accounts 0..6 (public keys of the well-known mnemonic).
const KEYS: [&str; 7] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
];
const CHAIN_ID: u64 = 31337;

/// Who is who in the scenario (by index into [`KEYS`]).
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// Not an administrator at first.
const D: usize = 3;
/// B's `sigAuth` delegate for a while.
const DELEGATE: usize = 4;
/// Acts for no one.
const STRANGER: usize = 5;
/// C's owner after C rotates its key.
const C_NEW: usize = 6;

fn key(i: usize) -> k256::SecretKey {
    k256::SecretKey::from_slice(&hex::decode(KEYS[i]).unwrap()).unwrap()
}

fn addr(i: usize) -> Address {
    address_of(&key(i).public_key())
}

fn bundle(tag: &str) -> B256 {
    B256::from(<[u8; 32]>::from(Sha256::digest(tag.as_bytes())))
}

fn reason<T: std::fmt::Debug>(r: Result<T, ChainError>) -> String {
    match r {
        Err(ChainError::Reverted { reason }) => reason,
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// One chain with the ERC-1056 registry and the policy registry on it.
struct Fixture {
    backend: &'static str,
    chain: Arc<dyn Chain>,
    registry: Address,
    at: Address,
}

impl Fixture {
    async fn send(&self, signer: usize, data: Bytes) -> Result<Receipt, ChainError> {
        self.chain
            .transact(&key(signer), Some(self.at), data, GOVERNANCE_GAS)
            .await
    }

    async fn call(&self, data: Bytes) -> Bytes {
        self.chain.call(self.at, data).await.unwrap()
    }

    async fn info(&self, d: B256) -> DeploymentInfo {
        governance::decode_deployment_info(&self.call(governance::deployment_info(d)).await)
            .unwrap()
    }

    async fn admins(&self, d: B256) -> Vec<Address> {
        governance::decode_admins(&self.call(governance::admins_of(d)).await).unwrap()
    }

    async fn proposal(&self, d: B256, id: u64) -> ProposalInfo {
        governance::decode_proposal_info(id, &self.call(governance::proposal_info(d, id)).await)
            .unwrap()
    }

    async fn pending(&self, d: B256, kind: ProposalKind, payload: B256) -> u64 {
        governance::decode_id(
            &self
                .call(governance::pending_proposal(d, kind, payload))
                .await,
        )
        .unwrap()
    }

    async fn approved(&self, d: B256, id: u64, admin: usize) -> bool {
        governance::decode_bool(
            &self
                .call(governance::has_approved(d, id, addr(admin)))
                .await,
        )
        .unwrap()
    }

    async fn is_admin(&self, d: B256, who: usize) -> bool {
        governance::decode_bool(&self.call(governance::is_admin(d, addr(who))).await).unwrap()
    }

    async fn can_act(&self, identity: usize, actor: usize) -> bool {
        governance::decode_bool(
            &self
                .call(governance::can_act(addr(identity), addr(actor)))
                .await,
        )
        .unwrap()
    }

    /// `signer` proposes for `admin`; the new proposal's id.
    async fn propose(
        &self,
        signer: usize,
        d: B256,
        admin: usize,
        kind: ProposalKind,
        payload: B256,
    ) -> Result<u64, ChainError> {
        self.send(signer, governance::propose(d, addr(admin), kind, payload))
            .await?;
        Ok(self.info(d).await.proposal_count)
    }

    async fn approve(
        &self,
        signer: usize,
        d: B256,
        admin: usize,
        id: u64,
    ) -> Result<Receipt, ChainError> {
        self.send(signer, governance::approve(d, addr(admin), id))
            .await
    }

    /// The policy registry's events in block `n`.
    async fn events_in(&self, n: u64) -> Vec<GovernanceEvent> {
        self.chain
            .logs(self.at, n, n)
            .await
            .unwrap()
            .iter()
            .map(|l| governance::decode_event(&l.topics, &l.data).unwrap())
            .collect()
    }

    /// Send an ERC-1056 registry write.
    async fn registry_write(&self, signer: usize, data: Bytes) {
        self.chain
            .transact(&key(signer), Some(self.registry), data, registry::WRITE_GAS)
            .await
            .unwrap();
    }
}

/// Everything the contract must do, on one chain.
async fn exercise(f: &Fixture) {
    let be = f.backend;
    let prod = governance::deployment_name("prod").unwrap();
    let (h1, h2, h3, h4) = (
        bundle("bundle-1"),
        bundle("bundle-2"),
        bundle("bundle-3"),
        bundle("bundle-4"),
    );
    use ProposalKind::{AddAdmin, Bundle, RemoveAdmin, Threshold};

    // --- create: anyone may, once per name; its refusals.
    let admins = [addr(A), addr(B), addr(C)];
    let created = f
        .send(STRANGER, governance::create(prod, &admins, 2))
        .await
        .unwrap();
    let info = f.info(prod).await;
    assert_eq!(
        info,
        DeploymentInfo {
            threshold: 2,
            epoch: 1,
            active: None,
            active_since: 0,
            active_proposal: 0,
            proposal_count: 0,
        },
        "{be}"
    );
    assert!(info.exists());
    assert_eq!(f.admins(prod).await, admins, "{be}");
    assert!(
        f.is_admin(prod, A).await && !f.is_admin(prod, D).await,
        "{be}"
    );
    assert_eq!(
        f.events_in(created.block_number).await,
        [GovernanceEvent::Created {
            deployment: prod,
            admins: admins.to_vec(),
            threshold: 2,
            creator: addr(STRANGER),
        }],
        "{be}"
    );
    let other = governance::deployment_name("other").unwrap();
    let many: Vec<Address> = (1..=33u8).map(Address::repeat_byte).collect();
    for (name, admins, threshold, why) in [
        (prod, &admins[..], 2, "exists"),
        (B256::ZERO, &admins[..], 2, "no_name"),
        (other, &admins[..], 4, "bad_threshold"),
        (other, &admins[..], 0, "bad_threshold"),
        (other, &[][..], 1, "bad_admins"),
        (other, &[addr(A), addr(A)][..], 1, "bad_admins"),
        (other, &[addr(A), Address::ZERO][..], 1, "bad_admins"),
        (other, &many[..], 1, "bad_admins"),
    ] {
        let r = f.send(A, governance::create(name, admins, threshold)).await;
        assert_eq!(reason(r), why, "{be}: create {admins:?} {threshold}");
    }
    assert!(!f.info(other).await.exists(), "{be}");
    assert!(f.admins(other).await.is_empty(), "{be}");
    // Unknown deployments and proposals read as empty.
    assert_eq!(
        governance::decode_proposal_info(1, &f.call(governance::proposal_info(prod, 1)).await),
        None,
        "{be}"
    );
    let r = f.propose(A, other, A, Bundle, h1).await;
    assert_eq!(reason(r), "unknown_deployment", "{be}");

    // --- a bundle: pending with the proposer's approval, active once B approves.
    let id1 = f.propose(A, prod, A, Bundle, h1).await.unwrap();
    assert_eq!(id1, 1, "{be}");
    let p = f.proposal(prod, id1).await;
    assert_eq!(
        (p.kind, p.state, p.approvals, p.epoch, p.proposer, p.payload),
        (Bundle, ProposalState::Pending, 1, 1, addr(A), h1),
        "{be}"
    );
    assert!(p.proposed_at > created.block_number, "{be}");
    assert!(f.approved(prod, id1, A).await && !f.approved(prod, id1, B).await);
    assert_eq!(f.pending(prod, Bundle, h1).await, id1, "{be}");
    assert_eq!(
        f.info(prod).await.active,
        None,
        "{be}: one approval is not two"
    );
    let r = f.approve(B, prod, B, id1).await.unwrap();
    let info = f.info(prod).await;
    assert_eq!(
        (info.active, info.active_since, info.active_proposal),
        (Some(h1), r.block_number, id1),
        "{be}"
    );
    assert_eq!(
        f.events_in(r.block_number).await,
        [
            GovernanceEvent::Approved {
                deployment: prod,
                id: id1,
                admin: addr(B),
                approvals: 2,
            },
            GovernanceEvent::Activated {
                deployment: prod,
                bundle: h1,
                previous: None,
                id: id1,
            },
        ],
        "{be}"
    );
    let p = f.proposal(prod, id1).await;
    assert_eq!((p.state, p.approvals), (ProposalState::Executed, 2), "{be}");
    assert_eq!(f.pending(prod, Bundle, h1).await, 0, "{be}");

    // --- who may act: a non-administrator, and a key that does not act for
    // the administrator it names.
    let id2 = f.propose(A, prod, A, Bundle, h2).await.unwrap();
    let r = f.propose(D, prod, D, Bundle, h3).await;
    assert_eq!(reason(r), "not_admin", "{be}: D proposes");
    let r = f.approve(D, prod, D, id2).await;
    assert_eq!(reason(r), "not_admin", "{be}: D approves");
    let r = f.propose(STRANGER, prod, A, Bundle, h3).await;
    assert_eq!(reason(r), "bad_actor", "{be}: a stranger proposes for A");
    let r = f.approve(STRANGER, prod, B, id2).await;
    assert_eq!(reason(r), "bad_actor", "{be}: a stranger approves for B");
    let r = f.approve(A, prod, B, id2).await;
    assert_eq!(reason(r), "bad_actor", "{be}: A's key approves for B");
    assert!(!f.can_act(B, A).await && f.can_act(B, B).await, "{be}");

    // --- refusals of propose, approve and cancel.
    let r = f.approve(A, prod, A, id2).await;
    assert_eq!(reason(r), "already_approved", "{be}");
    let r = f.propose(B, prod, B, Bundle, h2).await;
    assert_eq!(reason(r), "duplicate", "{be}");
    let r = f.propose(B, prod, B, Bundle, h1).await;
    assert_eq!(reason(r), "already_active", "{be}");
    let r = f.propose(B, prod, B, Bundle, B256::ZERO).await;
    assert_eq!(reason(r), "empty", "{be}");
    let mut bad_kind = governance::propose(prod, addr(B), Bundle, h3).to_vec();
    bad_kind[4 + 3 * 32 - 1] = 4;
    let r = f.send(B, bad_kind.into()).await;
    assert_eq!(reason(r), "bad_kind", "{be}");
    for id in [0, 99] {
        let r = f.approve(B, prod, B, id).await;
        assert_eq!(reason(r), "unknown_proposal", "{be}: approve {id}");
        let r = f.send(B, governance::cancel(prod, addr(B), id)).await;
        assert_eq!(reason(r), "unknown_proposal", "{be}: cancel {id}");
    }
    let r = f.send(B, governance::cancel(prod, addr(B), id2)).await;
    assert_eq!(reason(r), "not_proposer", "{be}");
    let cancelled = f
        .send(A, governance::cancel(prod, addr(A), id2))
        .await
        .unwrap();
    assert_eq!(
        f.events_in(cancelled.block_number).await,
        [GovernanceEvent::Cancelled {
            deployment: prod,
            id: id2,
            admin: addr(A),
        }],
        "{be}"
    );
    assert_eq!(
        f.proposal(prod, id2).await.state,
        ProposalState::Cancelled,
        "{be}"
    );
    let r = f.approve(B, prod, B, id2).await;
    assert_eq!(
        reason(r),
        "not_pending",
        "{be}: approve a cancelled proposal"
    );
    let r = f.send(A, governance::cancel(prod, addr(A), id2)).await;
    assert_eq!(reason(r), "not_pending", "{be}: cancel twice");
    let r = f.approve(B, prod, B, id1).await;
    assert_eq!(
        reason(r),
        "not_pending",
        "{be}: approve an executed proposal"
    );
    assert_eq!(f.pending(prod, Bundle, h2).await, 0, "{be}");

    // --- B approves through a sigAuth delegate.
    let sig_auth = registry::name32("sigAuth").unwrap();
    f.registry_write(
        B,
        registry::add_delegate(addr(B), sig_auth, addr(DELEGATE), 3600),
    )
    .await;
    assert!(f.can_act(B, DELEGATE).await, "{be}");
    let id3 = f.propose(A, prod, A, Bundle, h2).await.unwrap();
    assert_eq!(id3, id2 + 1, "{be}: proposing again after a cancellation");
    let r = f.approve(DELEGATE, prod, B, id3).await.unwrap();
    let info = f.info(prod).await;
    assert_eq!(
        (info.active, info.active_since, info.active_proposal),
        (Some(h2), r.block_number, id3),
        "{be}"
    );
    assert!(
        f.approved(prod, id3, B).await,
        "{be}: the identity approved"
    );

    // --- rollback: H1 again, proposed anew.
    let id4 = f.propose(A, prod, A, Bundle, h1).await.unwrap();
    let r = f.approve(DELEGATE, prod, B, id4).await.unwrap();
    assert!(
        f.events_in(r.block_number)
            .await
            .contains(&GovernanceEvent::Activated {
                deployment: prod,
                bundle: h1,
                previous: Some(h2),
                id: id4,
            }),
        "{be}"
    );
    assert_eq!(f.info(prod).await.active, Some(h1), "{be}");

    // --- the revoked delegate is refused.
    f.registry_write(
        B,
        registry::revoke_delegate(addr(B), sig_auth, addr(DELEGATE)),
    )
    .await;
    assert!(!f.can_act(B, DELEGATE).await, "{be}");
    let id5 = f.propose(A, prod, A, Bundle, h3).await.unwrap();
    let r = f.approve(DELEGATE, prod, B, id5).await;
    assert_eq!(reason(r), "bad_actor", "{be}: a revoked delegate");

    // --- C rotates its key: the old one is refused, the new one acts for C.
    f.registry_write(C, registry::change_owner(addr(C), addr(C_NEW)))
        .await;
    let r = f.approve(C, prod, C, id5).await;
    assert_eq!(reason(r), "bad_actor", "{be}: C's rotated-away key");
    f.approve(C_NEW, prod, C, id5).await.unwrap();
    assert_eq!(f.info(prod).await.active, Some(h3), "{be}");

    // --- the threshold: changed only with the threshold's approvals; the
    // change starts epoch 2 and leaves earlier proposals stale.
    let id6 = f.propose(A, prod, A, Bundle, h4).await.unwrap();
    for t in [0, 4] {
        let r = f
            .propose(A, prod, A, Threshold, governance::threshold_payload(t))
            .await;
        assert_eq!(reason(r), "bad_threshold", "{be}: threshold {t}");
    }
    let three = governance::threshold_payload(3);
    let id7 = f.propose(A, prod, A, Threshold, three).await.unwrap();
    let r = f.propose(B, prod, B, Threshold, three).await;
    assert_eq!(reason(r), "duplicate", "{be}");
    let info = f.info(prod).await;
    assert_eq!((info.threshold, info.epoch), (2, 1), "{be}: not yet");
    let r = f.approve(B, prod, B, id7).await.unwrap();
    let info = f.info(prod).await;
    assert_eq!((info.threshold, info.epoch), (3, 2), "{be}");
    assert_eq!(
        f.events_in(r.block_number).await.last(),
        Some(&GovernanceEvent::AdminsChanged {
            deployment: prod,
            admins: admins.to_vec(),
            threshold: 3,
            epoch: 2,
            id: id7,
        }),
        "{be}"
    );
    let r = f.approve(B, prod, B, id6).await;
    assert_eq!(reason(r), "stale", "{be}");
    let p = f.proposal(prod, id6).await;
    assert_eq!((p.state, p.epoch), (ProposalState::Pending, 1), "{be}");
    assert_eq!(f.pending(prod, Bundle, h4).await, 0, "{be}: not in epoch 2");

    // --- administrators: removal below the threshold, additions, removals.
    let payload = governance::address_payload;
    for (kind, target, why) in [
        (RemoveAdmin, payload(addr(C)), "below_threshold"),
        (RemoveAdmin, payload(addr(D)), "no_such_admin"),
        (AddAdmin, payload(addr(A)), "is_admin"),
        (AddAdmin, payload(Address::ZERO), "bad_admin"),
        (RemoveAdmin, B256::repeat_byte(0x11), "bad_admin"),
    ] {
        let r = f.propose(A, prod, A, kind, target).await;
        assert_eq!(reason(r), why, "{be}: {kind} {target}");
    }
    let id8 = f
        .propose(A, prod, A, AddAdmin, payload(addr(D)))
        .await
        .unwrap();
    f.approve(B, prod, B, id8).await.unwrap();
    assert!(!f.is_admin(prod, D).await, "{be}: two approvals of three");
    let r = f.approve(C_NEW, prod, C, id8).await.unwrap();
    assert!(f.is_admin(prod, D).await, "{be}");
    let with_d = [addr(A), addr(B), addr(C), addr(D)];
    assert_eq!(f.admins(prod).await, with_d, "{be}");
    assert_eq!(
        f.events_in(r.block_number).await.last(),
        Some(&GovernanceEvent::AdminsChanged {
            deployment: prod,
            admins: with_d.to_vec(),
            threshold: 3,
            epoch: 3,
            id: id8,
        }),
        "{be}"
    );
    // D now approves: a bundle proposal of epoch 3.
    let id9 = f.propose(A, prod, A, Bundle, h4).await.unwrap();
    f.approve(D, prod, D, id9).await.unwrap();
    assert!(f.approved(prod, id9, D).await, "{be}");
    f.approve(B, prod, B, id9).await.unwrap();
    assert_eq!(f.info(prod).await.active, Some(h4), "{be}");
    // A is removed: D takes its place in the list (swap and pop).
    let id10 = f
        .propose(B, prod, B, RemoveAdmin, payload(addr(A)))
        .await
        .unwrap();
    f.approve(C_NEW, prod, C, id10).await.unwrap();
    f.approve(D, prod, D, id10).await.unwrap();
    assert_eq!(f.admins(prod).await, [addr(D), addr(B), addr(C)], "{be}");
    assert!(!f.is_admin(prod, A).await, "{be}");
    let r = f.propose(A, prod, A, Bundle, h2).await;
    assert_eq!(reason(r), "not_admin", "{be}: A was removed");
    let info = f.info(prod).await;
    assert_eq!((info.threshold, info.epoch), (3, 4), "{be}");

    // --- a deployment of its own, threshold 1: a proposal executes at once.
    let solo = governance::deployment_name("solo").unwrap();
    f.send(A, governance::create(solo, &[addr(A)], 1))
        .await
        .unwrap();
    let id = f.propose(A, solo, A, Bundle, h1).await.unwrap();
    assert_eq!(id, 1, "{be}: ids are per deployment");
    assert_eq!(f.info(solo).await.active, Some(h1), "{be}");
    assert_eq!(f.info(prod).await.active, Some(h4), "{be}: unchanged");

    // --- every event, decoded from the chain's logs.
    let tip = f.chain.block_number().await.unwrap();
    let logs = f.chain.logs(f.at, 0, tip).await.unwrap();
    let events: Vec<GovernanceEvent> = logs
        .iter()
        .map(|l| governance::decode_event(&l.topics, &l.data).expect("a governance event"))
        .collect();
    let of_prod: Vec<&GovernanceEvent> = events.iter().filter(|e| e.deployment() == prod).collect();
    let count = |pred: fn(&GovernanceEvent) -> bool| of_prod.iter().filter(|e| pred(e)).count();
    assert_eq!(
        count(|e| matches!(e, GovernanceEvent::Created { .. })),
        1,
        "{be}"
    );
    assert_eq!(
        count(|e| matches!(e, GovernanceEvent::Proposed { .. })),
        10,
        "{be}"
    );
    assert_eq!(
        count(|e| matches!(e, GovernanceEvent::Cancelled { .. })),
        1,
        "{be}"
    );
    let activated: Vec<(B256, Option<B256>, u64)> = of_prod
        .iter()
        .filter_map(|e| match e {
            GovernanceEvent::Activated {
                bundle,
                previous,
                id,
                ..
            } => Some((*bundle, *previous, *id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        activated,
        [
            (h1, None, id1),
            (h2, Some(h1), id3),
            (h1, Some(h2), id4),
            (h3, Some(h1), id5),
            (h4, Some(h3), id9),
        ],
        "{be}"
    );
    let epochs: Vec<(u64, u32, usize)> = of_prod
        .iter()
        .filter_map(|e| match e {
            GovernanceEvent::AdminsChanged {
                epoch,
                threshold,
                admins,
                ..
            } => Some((*epoch, *threshold, admins.len())),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, [(2, 3, 3), (3, 3, 4), (4, 3, 3)], "{be}");
    // Each proposal is announced as it is read back, and approved by its
    // proposer right after.
    for (i, e) in events.iter().enumerate() {
        if let GovernanceEvent::Proposed {
            deployment,
            id,
            kind,
            payload,
            admin,
        } = e
        {
            let p = f.proposal(*deployment, *id).await;
            assert_eq!((p.kind, p.payload, p.proposer), (*kind, *payload, *admin));
            assert_eq!(
                events.get(i + 1),
                Some(&GovernanceEvent::Approved {
                    deployment: *deployment,
                    id: *id,
                    admin: *admin,
                    approvals: 1,
                }),
                "{be}"
            );
        }
    }
    // Another contract's log is not a governance event.
    assert_eq!(governance::decode_event(&[B256::repeat_byte(7)], &[]), None);
}

async fn deploy(chain: &Arc<dyn Chain>, registry: Address) -> Address {
    let code = governance::policy_registry_creation_code(registry).unwrap();
    chain
        .transact(&key(A), None, code, 5_000_000)
        .await
        .unwrap()
        .contract_address
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn governs_on_anvil() {
    let anvil = Anvil::start();
    let registry: Address = anvil.deploy_registry().parse().unwrap();
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::connect(&anvil.url).await.unwrap());
    // A zero registry is refused.
    let r = chain
        .transact(
            &key(A),
            None,
            governance::policy_registry_creation_code(Address::ZERO).unwrap(),
            5_000_000,
        )
        .await;
    assert_eq!(reason(r), "no_registry");
    let at = deploy(&chain, registry).await;
    exercise(&Fixture {
        backend: "anvil",
        chain,
        registry,
        at,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn governs_on_the_embedded_chain() {
    let index = common::sqlite_index().await;
    let chain = EmbeddedChain::open(index, "dev", CHAIN_ID).await.unwrap();
    let registry = chain.ensure_registry().await.unwrap();
    let at = chain.ensure_policy_registry().await.unwrap();
    assert_eq!(
        chain.ensure_policy_registry().await.unwrap(),
        at,
        "deployed once"
    );
    // The fourth creation of the deployer, after the log anchor.
    let deployer = address_of(
        &did_registry::ethr::embedded::deployer_key()
            .unwrap()
            .public_key(),
    );
    assert_eq!(at, deployer.create(3));
    assert_eq!(chain.ensure_log_anchor().await.unwrap(), deployer.create(2));
    exercise(&Fixture {
        backend: "embedded",
        chain: Arc::new(chain),
        registry,
        at,
    })
    .await;
}

/// The gas a transaction used, from anvil's receipt.
fn gas_used(anvil: &Anvil, r: &Receipt) -> u64 {
    let receipt = anvil
        .rpc("eth_getTransactionReceipt", json!([r.tx_hash]))
        .unwrap();
    let hex = receipt["gasUsed"].as_str().unwrap();
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn gas_on_anvil() {
    let anvil = Anvil::start();
    let registry: Address = anvil.deploy_registry().parse().unwrap();
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::connect(&anvil.url).await.unwrap());
    let at = deploy(&chain, registry).await;
    let f = Fixture {
        backend: "anvil",
        chain,
        registry,
        at,
    };
    let mut measured = Vec::new();

    let prod = governance::deployment_name("prod").unwrap();
    let r = f
        .send(A, governance::create(prod, &[addr(A), addr(B), addr(C)], 2))
        .await
        .unwrap();
    measured.push(("create (3 admins)", gas_used(&anvil, &r)));
    let r = f
        .send(
            A,
            governance::propose(prod, addr(A), ProposalKind::Bundle, bundle("1")),
        )
        .await
        .unwrap();
    measured.push(("propose (bundle, first)", gas_used(&anvil, &r)));
    let r = f.approve(B, prod, B, 1).await.unwrap();
    measured.push((
        "approve that activates the first bundle",
        gas_used(&anvil, &r),
    ));
    f.propose(A, prod, A, ProposalKind::Bundle, bundle("2"))
        .await
        .unwrap();
    let r = f.approve(B, prod, B, 2).await.unwrap();
    measured.push(("approve that replaces the bundle", gas_used(&anvil, &r)));

    // The dearest: 32 administrators at once, and growing a set of 31 to 32
    // (the event lists them all).
    let big = governance::deployment_name("big").unwrap();
    let mut admins: Vec<Address> = (1..=32u8).map(Address::repeat_byte).collect();
    let r = f
        .send(A, governance::create(big, &admins, 1))
        .await
        .unwrap();
    measured.push(("create (32 admins)", gas_used(&anvil, &r)));
    let wide = governance::deployment_name("wide").unwrap();
    admins.truncate(29);
    admins.extend([addr(A), addr(B)]);
    f.send(A, governance::create(wide, &admins, 2))
        .await
        .unwrap();
    let id = f
        .propose(
            A,
            wide,
            A,
            ProposalKind::AddAdmin,
            governance::address_payload(addr(C)),
        )
        .await
        .unwrap();
    let r = f.approve(B, wide, B, id).await.unwrap();
    measured.push(("approve that adds the 32nd admin", gas_used(&anvil, &r)));
    assert_eq!(f.admins(wide).await.len(), 32);

    for (what, gas) in &measured {
        eprintln!("policy registry gas: {what}: {gas}");
        assert!(
            gas * 5 / 4 <= GOVERNANCE_GAS,
            "{what} used {gas} gas: GOVERNANCE_GAS ({GOVERNANCE_GAS}) leaves less than 25%"
        );
    }
}
