//! The log anchor contract (`contracts/LogAnchor.sol`): a gateway's
//! transparency-log tree heads, anchored on chain so that its history cannot
//! be replaced. Calls ABI-encoded for [`Chain::transact`](super::Chain::transact)
//! and [`Chain::call`](super::Chain::call), its `Anchored` event, and its
//! compiled artifact.
//!
//! The contract accepts a head only if it extends the one anchored last for
//! the same log: a larger size comes with an RFC 9162 consistency proof,
//! which the contract checks. Refusals revert with `bad_actor`, `empty`,
//! `shrinks` or `inconsistent`.

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::{sol, SolCall, SolEvent};

use super::registry::creation_code;

sol! {
    function anchor(address identity, bytes32 logId, uint64 size, bytes32 root, bytes32[] proof);
    function heads(address identity, bytes32 logId) view returns (uint64 size, bytes32 root);
    function consistent(uint64 first, uint64 second, bytes32 firstRoot, bytes32 secondRoot, bytes32[] proof) view returns (bool);
    event Anchored(address indexed identity, bytes32 indexed logId, uint64 size, bytes32 root, uint256 previousChange);
}

/// The committed solc output of the log anchor.
pub(crate) const ANCHOR_ARTIFACT: &str = include_str!("../../contracts/artifacts/LogAnchor.json");

/// Gas for one `anchor`: two storage words, an event and up to 64 SHA-256
/// precompile calls for the proof.
pub const ANCHOR_GAS: u64 = 300_000;

/// An anchored tree head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: B256,
}

/// Creation code of the log anchor, constructed for the ERC-1056 registry
/// at `did_registry` (send it with `Chain::transact(key, None, …)`).
pub fn anchor_creation_code(did_registry: Address) -> Result<Bytes, String> {
    let mut code = creation_code(ANCHOR_ARTIFACT)?.to_vec();
    code.extend_from_slice(did_registry.into_word().as_slice());
    Ok(code.into())
}

/// `anchor(identity, logId, size, root, proof)`: `proof` is the consistency
/// proof from the head anchored last (empty for the first).
pub fn anchor(identity: Address, log_id: B256, head: Head, proof: &[B256]) -> Bytes {
    anchorCall {
        identity,
        logId: log_id,
        size: head.size,
        root: head.root,
        proof: proof.to_vec(),
    }
    .abi_encode()
    .into()
}

/// `heads(identity, logId)`: the head anchored last (size 0 when none).
pub fn heads(identity: Address, log_id: B256) -> Bytes {
    headsCall {
        identity,
        logId: log_id,
    }
    .abi_encode()
    .into()
}

/// The answer to [`heads`], or `None` when it is not one.
pub fn decode_head(ret: &[u8]) -> Option<Head> {
    let r = headsCall::abi_decode_returns(ret).ok()?;
    Some(Head {
        size: r.size,
        root: r.root,
    })
}

/// `consistent(first, second, firstRoot, secondRoot, proof)`: the
/// contract's own check of an RFC 9162 consistency proof.
pub fn consistent(first: Head, second: Head, proof: &[B256]) -> Bytes {
    consistentCall {
        first: first.size,
        second: second.size,
        firstRoot: first.root,
        secondRoot: second.root,
        proof: proof.to_vec(),
    }
    .abi_encode()
    .into()
}

/// The answer to [`consistent`].
pub fn decode_bool(ret: &[u8]) -> Option<bool> {
    consistentCall::abi_decode_returns(ret).ok()
}

/// One `Anchored` event: who anchored which log at what head, and the block
/// of the identity's previous anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorEvent {
    pub identity: Address,
    pub log_id: B256,
    pub head: Head,
    pub previous_change: u64,
}

/// Decode an `Anchored` log (its topics and data), or `None` when it is
/// another event.
pub fn decode_anchored(topics: &[B256], data: &[u8]) -> Option<AnchorEvent> {
    let e = Anchored::decode_raw_log(topics.iter().copied(), data).ok()?;
    Some(AnchorEvent {
        identity: e.identity,
        log_id: e.logId,
        head: Head {
            size: e.size,
            root: e.root,
        },
        previous_change: u64::try_from(e.previousChange).ok()?,
    })
}
