//! The policy registry contract (`contracts/PolicyRegistry.sol`): M-of-N
//! governance of the Cedar policy bundle each deployment runs. Calls
//! ABI-encoded for [`Chain::transact`](super::Chain::transact) and
//! [`Chain::call`](super::Chain::call), their answers and events decoded,
//! and its compiled artifact.
//!
//! A deployment is named by a bytes32 ([`deployment_name`]) and has a set of
//! administrators (ERC-1056 identities, at most 32) and a threshold. A
//! change is a proposal ([`ProposalKind`]: activate a bundle by its SHA-256,
//! add or remove an administrator, set the threshold); proposing counts as
//! the proposer's approval, and the approval that reaches the threshold
//! executes it in the same transaction. A change to the administrators or
//! the threshold starts a new epoch, and proposals of earlier epochs can no
//! longer be approved (`stale`). Every write names the administrator it acts
//! for; the sender must be that identity's owner or one of its `sigAuth` /
//! `veriKey` delegates in the ERC-1056 registry.
//!
//! Refusals revert with `no_name`, `exists`, `bad_admins`, `bad_threshold`
//! (create); `unknown_deployment`, `bad_actor`, `not_admin` (every write);
//! `bad_kind`, `empty`, `already_active`, `bad_admin`, `is_admin`,
//! `no_such_admin`, `below_threshold`, `duplicate` (propose);
//! `unknown_proposal`, `not_pending`, `stale`, `already_approved` (approve);
//! `not_proposer` (cancel).

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};

use super::registry::{creation_code, name32};

mod abi {
    alloy_sol_types::sol! {
        function create(bytes32 deployment, address[] admins, uint32 threshold);
        function propose(bytes32 deployment, address admin, uint8 kind, bytes32 payload) returns (uint256 id);
        function approve(bytes32 deployment, address admin, uint256 id);
        function cancel(bytes32 deployment, address admin, uint256 id);
        function deploymentInfo(bytes32 deployment) view returns (uint32 threshold, uint64 epoch, bytes32 active, uint64 activeSince, uint256 activeProposal, uint256 proposalCount);
        function adminsOf(bytes32 deployment) view returns (address[]);
        function isAdmin(bytes32 deployment, address identity) view returns (bool);
        function proposalInfo(bytes32 deployment, uint256 id) view returns (uint8 kind, uint8 state, uint32 approvals, uint64 epoch, address proposer, bytes32 payload, uint64 proposedAt);
        function hasApproved(bytes32 deployment, uint256 id, address admin) view returns (bool);
        function pendingProposal(bytes32 deployment, uint8 kind, bytes32 payload) view returns (uint256 id);
        function canAct(address identity, address actor) view returns (bool);
        event Created(bytes32 indexed deployment, address[] admins, uint32 threshold, address creator);
        event Proposed(bytes32 indexed deployment, uint256 indexed id, uint8 kind, bytes32 payload, address admin);
        event Approved(bytes32 indexed deployment, uint256 indexed id, address admin, uint32 approvals);
        event Cancelled(bytes32 indexed deployment, uint256 indexed id, address admin);
        event Activated(bytes32 indexed deployment, bytes32 indexed bundle, bytes32 previous, uint256 id);
        event AdminsChanged(bytes32 indexed deployment, address[] admins, uint32 threshold, uint64 epoch, uint256 id);
    }
}

/// The committed solc output of the policy registry.
pub(crate) const POLICY_REGISTRY_ARTIFACT: &str =
    include_str!("../../contracts/artifacts/PolicyRegistry.json");

/// Gas for one governance write. Measured on anvil: `create` with 3
/// administrators about 207 000, a first `propose` about 176 000, an
/// `approve` that activates a bundle about 120 000; the dearest are `create`
/// with 32 administrators (about 1 540 000) and an approval that adds the
/// 32nd administrator (about 203 000). This leaves a margin of 30% over all.
pub const GOVERNANCE_GAS: u64 = 2_000_000;

/// The most administrators a deployment may have.
pub const MAX_ADMINS: usize = 32;

/// What a proposal changes (the contract's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalKind {
    /// Activate the policy bundle whose SHA-256 is the payload.
    Bundle,
    /// Add the identity in the payload ([`address_payload`]).
    AddAdmin,
    /// Remove the identity in the payload ([`address_payload`]).
    RemoveAdmin,
    /// Set the threshold to the payload ([`threshold_payload`]).
    Threshold,
}

impl ProposalKind {
    pub const ALL: [ProposalKind; 4] = [
        ProposalKind::Bundle,
        ProposalKind::AddAdmin,
        ProposalKind::RemoveAdmin,
        ProposalKind::Threshold,
    ];

    pub fn as_u8(self) -> u8 {
        match self {
            ProposalKind::Bundle => 0,
            ProposalKind::AddAdmin => 1,
            ProposalKind::RemoveAdmin => 2,
            ProposalKind::Threshold => 3,
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// `bundle`, `add-admin`, `remove-admin`, `threshold`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalKind::Bundle => "bundle",
            ProposalKind::AddAdmin => "add-admin",
            ProposalKind::RemoveAdmin => "remove-admin",
            ProposalKind::Threshold => "threshold",
        }
    }
}

impl std::fmt::Display for ProposalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a proposal is (the contract's `state`; 0, no such proposal, has
/// no value here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalState {
    Pending,
    Executed,
    Cancelled,
}

impl ProposalState {
    pub fn as_u8(self) -> u8 {
        match self {
            ProposalState::Pending => 1,
            ProposalState::Executed => 2,
            ProposalState::Cancelled => 3,
        }
    }

    /// `None` for 0 (no such proposal) and unknown states.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(ProposalState::Pending),
            2 => Some(ProposalState::Executed),
            3 => Some(ProposalState::Cancelled),
            _ => None,
        }
    }

    /// `pending`, `executed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Pending => "pending",
            ProposalState::Executed => "executed",
            ProposalState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for ProposalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment's name as the contract keys it: 1 to 32 visible ASCII
/// characters, right-padded with zeros (as ERC-1056 encodes names).
pub fn deployment_name(name: &str) -> Result<B256, String> {
    if name.is_empty() {
        return Err("a deployment name must not be empty".into());
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{name:?}: a deployment name is visible ASCII only (no spaces)"
        ));
    }
    name32(name)
}

/// The name a [`deployment_name`] encodes, or `None` when `b` is not one.
pub fn deployment_label(b: &B256) -> Option<String> {
    let len = b.iter().rposition(|&c| c != 0)? + 1;
    let name = &b[..len];
    if !name.iter().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    String::from_utf8(name.to_vec()).ok()
}

/// Creation code of the policy registry, constructed for the ERC-1056
/// registry at `did_registry` (send it with `Chain::transact(key, None, …)`).
pub fn policy_registry_creation_code(did_registry: Address) -> Result<Bytes, String> {
    let mut code = creation_code(POLICY_REGISTRY_ARTIFACT)?.to_vec();
    code.extend_from_slice(did_registry.into_word().as_slice());
    Ok(code.into())
}

/// The payload of an [`AddAdmin`](ProposalKind::AddAdmin) or
/// [`RemoveAdmin`](ProposalKind::RemoveAdmin) proposal: the address,
/// right-aligned.
pub fn address_payload(identity: Address) -> B256 {
    identity.into_word()
}

/// The payload of a [`Threshold`](ProposalKind::Threshold) proposal.
pub fn threshold_payload(threshold: u32) -> B256 {
    B256::from(U256::from(threshold))
}

/// The address in an administrator proposal's payload, or `None` when the
/// payload is not a right-aligned address.
pub fn payload_address(payload: &B256) -> Option<Address> {
    payload[..12]
        .iter()
        .all(|&b| b == 0)
        .then(|| Address::from_word(*payload))
}

/// The threshold in a threshold proposal's payload, or `None` when it does
/// not fit.
pub fn payload_threshold(payload: &B256) -> Option<u32> {
    u32::try_from(U256::from_be_bytes(payload.0)).ok()
}

/// `create(deployment, admins, threshold)`.
pub fn create(deployment: B256, admins: &[Address], threshold: u32) -> Bytes {
    abi::createCall {
        deployment,
        admins: admins.to_vec(),
        threshold,
    }
    .abi_encode()
    .into()
}

/// `propose(deployment, admin, kind, payload)`, for the administrator `admin`.
pub fn propose(deployment: B256, admin: Address, kind: ProposalKind, payload: B256) -> Bytes {
    abi::proposeCall {
        deployment,
        admin,
        kind: kind.as_u8(),
        payload,
    }
    .abi_encode()
    .into()
}

/// `approve(deployment, admin, id)`, for the administrator `admin`.
pub fn approve(deployment: B256, admin: Address, id: u64) -> Bytes {
    abi::approveCall {
        deployment,
        admin,
        id: U256::from(id),
    }
    .abi_encode()
    .into()
}

/// `cancel(deployment, admin, id)`: only the proposer may.
pub fn cancel(deployment: B256, admin: Address, id: u64) -> Bytes {
    abi::cancelCall {
        deployment,
        admin,
        id: U256::from(id),
    }
    .abi_encode()
    .into()
}

/// `deploymentInfo(deployment)` (see [`decode_deployment_info`]).
pub fn deployment_info(deployment: B256) -> Bytes {
    abi::deploymentInfoCall { deployment }.abi_encode().into()
}

/// `adminsOf(deployment)` (see [`decode_admins`]).
pub fn admins_of(deployment: B256) -> Bytes {
    abi::adminsOfCall { deployment }.abi_encode().into()
}

/// `isAdmin(deployment, identity)` (see [`decode_bool`]).
pub fn is_admin(deployment: B256, identity: Address) -> Bytes {
    abi::isAdminCall {
        deployment,
        identity,
    }
    .abi_encode()
    .into()
}

/// `proposalInfo(deployment, id)` (see [`decode_proposal_info`]).
pub fn proposal_info(deployment: B256, id: u64) -> Bytes {
    abi::proposalInfoCall {
        deployment,
        id: U256::from(id),
    }
    .abi_encode()
    .into()
}

/// `hasApproved(deployment, id, admin)` (see [`decode_bool`]).
pub fn has_approved(deployment: B256, id: u64, admin: Address) -> Bytes {
    abi::hasApprovedCall {
        deployment,
        id: U256::from(id),
        admin,
    }
    .abi_encode()
    .into()
}

/// `pendingProposal(deployment, kind, payload)` (see [`decode_id`]; 0: none
/// pending in the current epoch).
pub fn pending_proposal(deployment: B256, kind: ProposalKind, payload: B256) -> Bytes {
    abi::pendingProposalCall {
        deployment,
        kind: kind.as_u8(),
        payload,
    }
    .abi_encode()
    .into()
}

/// `canAct(identity, actor)` (see [`decode_bool`]).
pub fn can_act(identity: Address, actor: Address) -> Bytes {
    abi::canActCall { identity, actor }.abi_encode().into()
}

/// A deployment as the contract reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub threshold: u32,
    /// 0: there is no such deployment.
    pub epoch: u64,
    /// The active bundle's SHA-256; `None` before the first is activated.
    pub active: Option<B256>,
    /// The block the active bundle was activated in (0 when none).
    pub active_since: u64,
    /// The proposal that activated it (0 when none).
    pub active_proposal: u64,
    /// How many proposals were made: the last id.
    pub proposal_count: u64,
}

impl DeploymentInfo {
    /// Whether the deployment was created.
    pub fn exists(&self) -> bool {
        self.epoch != 0
    }
}

fn nonzero(b: B256) -> Option<B256> {
    (b != B256::ZERO).then_some(b)
}

/// The answer to [`deployment_info`], or `None` when it is not one.
pub fn decode_deployment_info(ret: &[u8]) -> Option<DeploymentInfo> {
    let r = abi::deploymentInfoCall::abi_decode_returns(ret).ok()?;
    Some(DeploymentInfo {
        threshold: r.threshold,
        epoch: r.epoch,
        active: nonzero(r.active),
        active_since: r.activeSince,
        active_proposal: u64::try_from(r.activeProposal).ok()?,
        proposal_count: u64::try_from(r.proposalCount).ok()?,
    })
}

/// The answer to [`admins_of`] (empty for an unknown deployment).
pub fn decode_admins(ret: &[u8]) -> Option<Vec<Address>> {
    abi::adminsOfCall::abi_decode_returns(ret).ok()
}

/// One proposal as the contract reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalInfo {
    pub id: u64,
    pub kind: ProposalKind,
    pub state: ProposalState,
    pub approvals: u32,
    /// The epoch it was made in: it can be approved only while the
    /// deployment is still in that epoch.
    pub epoch: u64,
    /// The administrator identity that proposed it.
    pub proposer: Address,
    pub payload: B256,
    /// The block it was proposed in.
    pub proposed_at: u64,
}

/// The answer to [`proposal_info`] for proposal `id`, or `None` when it is
/// not one or there is no such proposal.
pub fn decode_proposal_info(id: u64, ret: &[u8]) -> Option<ProposalInfo> {
    let r = abi::proposalInfoCall::abi_decode_returns(ret).ok()?;
    Some(ProposalInfo {
        id,
        kind: ProposalKind::from_u8(r.kind)?,
        state: ProposalState::from_u8(r.state)?,
        approvals: r.approvals,
        epoch: r.epoch,
        proposer: r.proposer,
        payload: r.payload,
        proposed_at: r.proposedAt,
    })
}

/// The answer to [`is_admin`], [`has_approved`] or [`can_act`].
pub fn decode_bool(ret: &[u8]) -> Option<bool> {
    abi::hasApprovedCall::abi_decode_returns(ret).ok()
}

/// The answer to [`pending_proposal`] (or the return value of `propose`):
/// a proposal id, 0 for none.
pub fn decode_id(ret: &[u8]) -> Option<u64> {
    let id = abi::pendingProposalCall::abi_decode_returns(ret).ok()?;
    u64::try_from(id).ok()
}

/// One event of the policy registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GovernanceEvent {
    Created {
        deployment: B256,
        admins: Vec<Address>,
        threshold: u32,
        /// The account that sent `create`.
        creator: Address,
    },
    Proposed {
        deployment: B256,
        id: u64,
        kind: ProposalKind,
        payload: B256,
        admin: Address,
    },
    Approved {
        deployment: B256,
        id: u64,
        admin: Address,
        /// The proposal's approvals, this one included.
        approvals: u32,
    },
    Cancelled {
        deployment: B256,
        id: u64,
        admin: Address,
    },
    Activated {
        deployment: B256,
        bundle: B256,
        /// The bundle it replaced; `None` for the first.
        previous: Option<B256>,
        id: u64,
    },
    AdminsChanged {
        deployment: B256,
        admins: Vec<Address>,
        threshold: u32,
        epoch: u64,
        id: u64,
    },
}

impl GovernanceEvent {
    /// The deployment the event is about.
    pub fn deployment(&self) -> B256 {
        match self {
            GovernanceEvent::Created { deployment, .. }
            | GovernanceEvent::Proposed { deployment, .. }
            | GovernanceEvent::Approved { deployment, .. }
            | GovernanceEvent::Cancelled { deployment, .. }
            | GovernanceEvent::Activated { deployment, .. }
            | GovernanceEvent::AdminsChanged { deployment, .. } => *deployment,
        }
    }
}

/// Decode a policy registry log (its topics and data), or `None` when it is
/// not one of its events.
pub fn decode_event(topics: &[B256], data: &[u8]) -> Option<GovernanceEvent> {
    let topics_iter = || topics.iter().copied();
    let id = |v: U256| u64::try_from(v).ok();
    let event = match *topics.first()? {
        abi::Created::SIGNATURE_HASH => {
            let e = abi::Created::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::Created {
                deployment: e.deployment,
                admins: e.admins,
                threshold: e.threshold,
                creator: e.creator,
            }
        }
        abi::Proposed::SIGNATURE_HASH => {
            let e = abi::Proposed::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::Proposed {
                deployment: e.deployment,
                id: id(e.id)?,
                kind: ProposalKind::from_u8(e.kind)?,
                payload: e.payload,
                admin: e.admin,
            }
        }
        abi::Approved::SIGNATURE_HASH => {
            let e = abi::Approved::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::Approved {
                deployment: e.deployment,
                id: id(e.id)?,
                admin: e.admin,
                approvals: e.approvals,
            }
        }
        abi::Cancelled::SIGNATURE_HASH => {
            let e = abi::Cancelled::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::Cancelled {
                deployment: e.deployment,
                id: id(e.id)?,
                admin: e.admin,
            }
        }
        abi::Activated::SIGNATURE_HASH => {
            let e = abi::Activated::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::Activated {
                deployment: e.deployment,
                bundle: e.bundle,
                previous: nonzero(e.previous),
                id: id(e.id)?,
            }
        }
        abi::AdminsChanged::SIGNATURE_HASH => {
            let e = abi::AdminsChanged::decode_raw_log(topics_iter(), data).ok()?;
            GovernanceEvent::AdminsChanged {
                deployment: e.deployment,
                admins: e.admins,
                threshold: e.threshold,
                epoch: e.epoch,
                id: id(e.id)?,
            }
        }
        _ => return None,
    };
    Some(event)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn deployment_names_round_trip() {
        let prod = deployment_name("prod").unwrap();
        assert_eq!(&prod[..4], b"prod");
        assert!(prod[4..].iter().all(|&b| b == 0));
        assert_eq!(prod, name32("prod").unwrap());
        assert_eq!(deployment_label(&prod).as_deref(), Some("prod"));
        let long = "a".repeat(32);
        assert_eq!(
            deployment_label(&deployment_name(&long).unwrap()),
            Some(long)
        );
        for name in ["", "a b", "tab\t", "é", "nul\0", &"a".repeat(33)] {
            assert!(deployment_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn labels_of_words_that_are_not_names() {
        assert_eq!(deployment_label(&B256::ZERO), None);
        // A zero byte inside the name, a byte that is not visible ASCII.
        let mut b = [0u8; 32];
        b[..3].copy_from_slice(b"a\0b");
        assert_eq!(deployment_label(&B256::from(b)), None);
        b[..3].copy_from_slice(b"a\xffb");
        assert_eq!(deployment_label(&B256::from(b)), None);
        // A word with leading zero bytes (a number) is not a name either.
        assert_eq!(deployment_label(&threshold_payload(2)), None);
    }

    #[test]
    fn payloads() {
        let a = address!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        let p = address_payload(a);
        assert!(p[..12].iter().all(|&b| b == 0));
        assert_eq!(&p[12..], a.as_slice());
        assert_eq!(payload_address(&p), Some(a));
        let mut dirty = p;
        dirty.0[0] = 1;
        assert_eq!(payload_address(&dirty), None);

        let t = threshold_payload(3);
        assert_eq!(t[31], 3);
        assert!(t[..31].iter().all(|&b| b == 0));
        assert_eq!(payload_threshold(&t), Some(3));
        assert_eq!(
            payload_threshold(&threshold_payload(u32::MAX)),
            Some(u32::MAX)
        );
        assert_eq!(payload_threshold(&p), None);
    }

    #[test]
    fn kinds_and_states() {
        for k in ProposalKind::ALL {
            assert_eq!(ProposalKind::from_u8(k.as_u8()), Some(k));
        }
        assert_eq!(ProposalKind::from_u8(4), None);
        assert_eq!(
            ProposalKind::ALL.map(ProposalKind::as_str),
            ["bundle", "add-admin", "remove-admin", "threshold"]
        );
        for s in [
            ProposalState::Pending,
            ProposalState::Executed,
            ProposalState::Cancelled,
        ] {
            assert_eq!(ProposalState::from_u8(s.as_u8()), Some(s));
        }
        assert_eq!(ProposalState::from_u8(0), None);
        assert_eq!(ProposalState::Executed.as_str(), "executed");
    }

    #[test]
    fn calls_and_events_match_the_artifact_abi() {
        let artifact: serde_json::Value = serde_json::from_str(POLICY_REGISTRY_ARTIFACT).unwrap();
        let mut in_artifact: Vec<String> = artifact["abi"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| matches!(e["type"].as_str(), Some("function" | "event")))
            .filter(|e| e["name"] != "didRegistry")
            .map(|e| {
                let types: Vec<&str> = e["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["type"].as_str().unwrap())
                    .collect();
                format!("{}({})", e["name"].as_str().unwrap(), types.join(","))
            })
            .collect();
        let mut bound: Vec<String> = [
            abi::createCall::SIGNATURE,
            abi::proposeCall::SIGNATURE,
            abi::approveCall::SIGNATURE,
            abi::cancelCall::SIGNATURE,
            abi::deploymentInfoCall::SIGNATURE,
            abi::adminsOfCall::SIGNATURE,
            abi::isAdminCall::SIGNATURE,
            abi::proposalInfoCall::SIGNATURE,
            abi::hasApprovedCall::SIGNATURE,
            abi::pendingProposalCall::SIGNATURE,
            abi::canActCall::SIGNATURE,
            abi::Created::SIGNATURE,
            abi::Proposed::SIGNATURE,
            abi::Approved::SIGNATURE,
            abi::Cancelled::SIGNATURE,
            abi::Activated::SIGNATURE,
            abi::AdminsChanged::SIGNATURE,
        ]
        .map(String::from)
        .to_vec();
        in_artifact.sort();
        bound.sort();
        assert_eq!(in_artifact, bound);
        assert!(
            policy_registry_creation_code(Address::ZERO).unwrap().len() > 1000,
            "creation code"
        );
    }

    #[test]
    fn answers_that_are_not_answers() {
        assert_eq!(decode_deployment_info(&[1, 2, 3]), None);
        assert_eq!(decode_proposal_info(1, &[0u8; 7 * 32]), None, "state 0");
        assert_eq!(decode_id(&[]), None);
        // An id above u64 is refused, not truncated.
        assert_eq!(decode_id(&[0xff; 32]), None);
        assert_eq!(decode_event(&[], &[]), None);
        assert_eq!(decode_event(&[B256::ZERO], &[]), None);
    }
}
