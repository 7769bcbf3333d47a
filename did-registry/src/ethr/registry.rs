//! The ERC-1056 registry's write calls and reads, ABI-encoded for
//! [`Chain::transact`](super::Chain::transact) / [`Chain::call`](super::Chain::call),
//! and its compiled artifact (the committed solc output).

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall};

use super::events::string_to_bytes32;

sol! {
    function identityOwner(address identity) view returns (address);
    function changed(address identity) view returns (uint256);
    function changeOwner(address identity, address newOwner);
    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity);
    function revokeDelegate(address identity, bytes32 delegateType, address delegate);
    function setAttribute(address identity, bytes32 name, bytes value, uint256 validity);
    function revokeAttribute(address identity, bytes32 name, bytes value);
}

/// Gas for one registry write (ethr-did's default is 123456; a first write
/// to an identity costs more than that on some nodes).
pub const WRITE_GAS: u64 = 200_000;

/// The committed solc output of the ERC-1056 registry and of the status list registry.
pub(crate) const REGISTRY_ARTIFACT: &str =
    include_str!("../../contracts/artifacts/EthereumDIDRegistry.json");
pub(crate) const STATUS_ARTIFACT: &str =
    include_str!("../../contracts/artifacts/StatusRegistry.json");

/// Creation bytecode (`bytecode`, 0x hex) of a committed artifact.
pub(crate) fn creation_code(artifact: &str) -> Result<Bytes, String> {
    let v: serde_json::Value = serde_json::from_str(artifact).map_err(|e| e.to_string())?;
    let hex_code = v["bytecode"].as_str().ok_or("artifact has no bytecode")?;
    hex::decode(hex_code.trim_start_matches("0x"))
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

/// Creation bytecode of the ERC-1056 registry.
pub fn registry_creation_code() -> Result<Bytes, String> {
    creation_code(REGISTRY_ARTIFACT)
}

/// A name or delegate type as bytes32, or why not.
pub fn name32(s: &str) -> Result<B256, String> {
    string_to_bytes32(s).ok_or_else(|| format!("{s:?} is longer than 32 bytes"))
}

pub fn change_owner(identity: Address, new_owner: Address) -> Bytes {
    changeOwnerCall {
        identity,
        newOwner: new_owner,
    }
    .abi_encode()
    .into()
}

pub fn add_delegate(
    identity: Address,
    delegate_type: B256,
    delegate: Address,
    validity_secs: u64,
) -> Bytes {
    addDelegateCall {
        identity,
        delegateType: delegate_type,
        delegate,
        validity: U256::from(validity_secs),
    }
    .abi_encode()
    .into()
}

pub fn revoke_delegate(identity: Address, delegate_type: B256, delegate: Address) -> Bytes {
    revokeDelegateCall {
        identity,
        delegateType: delegate_type,
        delegate,
    }
    .abi_encode()
    .into()
}

pub fn set_attribute(identity: Address, name: B256, value: &[u8], validity_secs: u64) -> Bytes {
    setAttributeCall {
        identity,
        name,
        value: Bytes::copy_from_slice(value),
        validity: U256::from(validity_secs),
    }
    .abi_encode()
    .into()
}

pub fn revoke_attribute(identity: Address, name: B256, value: &[u8]) -> Bytes {
    revokeAttributeCall {
        identity,
        name,
        value: Bytes::copy_from_slice(value),
    }
    .abi_encode()
    .into()
}

pub fn identity_owner(identity: Address) -> Bytes {
    identityOwnerCall { identity }.abi_encode().into()
}

/// Decode `identityOwner`'s answer.
pub fn decode_owner(ret: &[u8]) -> Option<Address> {
    identityOwnerCall::abi_decode_returns(ret).ok()
}
