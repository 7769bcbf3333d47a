//! The ERC-1056 registry's events, decoded from raw logs.

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolEvent};
use serde::{Deserialize, Serialize};

sol! {
    event DIDOwnerChanged(address indexed identity, address owner, uint256 previousChange);
    event DIDDelegateChanged(address indexed identity, bytes32 delegateType, address delegate, uint256 validTo, uint256 previousChange);
    event DIDAttributeChanged(address indexed identity, bytes32 name, bytes value, uint256 validTo, uint256 previousChange);
}

/// The topics a registry log can start with (for `eth_getLogs` filters).
pub fn event_signatures() -> [B256; 3] {
    [
        DIDOwnerChanged::SIGNATURE_HASH,
        DIDDelegateChanged::SIGNATURE_HASH,
        DIDAttributeChanged::SIGNATURE_HASH,
    ]
}

/// What one registry event changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    OwnerChanged {
        owner: Address,
    },
    DelegateChanged {
        delegate_type: B256,
        delegate: Address,
        valid_to: U256,
    },
    AttributeChanged {
        name: B256,
        value: Bytes,
        valid_to: U256,
    },
}

/// One registry event as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    pub identity: Address,
    pub block_number: u64,
    pub log_index: u64,
    pub previous_change: u64,
    pub kind: EventKind,
}

/// Decode a registry log; `None` for logs that are not registry events or do
/// not decode (a foreign contract at the address, a malformed log).
pub fn decode_log(topics: &[B256], data: &[u8]) -> Option<(Address, u64, EventKind)> {
    let first = *topics.first()?;
    let small = |v: U256| u64::try_from(v).unwrap_or(u64::MAX);
    if first == DIDOwnerChanged::SIGNATURE_HASH {
        let e = DIDOwnerChanged::decode_raw_log(topics.iter().copied(), data).ok()?;
        Some((
            e.identity,
            small(e.previousChange),
            EventKind::OwnerChanged { owner: e.owner },
        ))
    } else if first == DIDDelegateChanged::SIGNATURE_HASH {
        let e = DIDDelegateChanged::decode_raw_log(topics.iter().copied(), data).ok()?;
        Some((
            e.identity,
            small(e.previousChange),
            EventKind::DelegateChanged {
                delegate_type: e.delegateType,
                delegate: e.delegate,
                valid_to: e.validTo,
            },
        ))
    } else if first == DIDAttributeChanged::SIGNATURE_HASH {
        let e = DIDAttributeChanged::decode_raw_log(topics.iter().copied(), data).ok()?;
        Some((
            e.identity,
            small(e.previousChange),
            EventKind::AttributeChanged {
                name: e.name,
                value: e.value,
                valid_to: e.validTo,
            },
        ))
    } else {
        None
    }
}

/// A bytes32 name as text: UTF-8 with trailing NULs removed (as the did:ethr
/// spec and ethr-did-resolver read it). `None` when it is not UTF-8.
pub fn bytes32_to_string(b: &B256) -> Option<String> {
    let s = std::str::from_utf8(b.as_slice()).ok()?;
    Some(s.trim_end_matches('\0').to_owned())
}

/// A name as a right-padded bytes32 (the form the registry stores); `None` if longer than 32 bytes.
pub fn string_to_bytes32(s: &str) -> Option<B256> {
    if s.len() > 32 {
        return None;
    }
    let mut b = [0u8; 32];
    b[..s.len()].copy_from_slice(s.as_bytes());
    Some(B256::from(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloy_sol_types::SolEvent;

    #[test]
    fn round_trip_every_event() {
        let id = Address::repeat_byte(0x11);
        let e = DIDAttributeChanged {
            identity: id,
            name: string_to_bytes32("did/svc/HubService").unwrap(),
            value: Bytes::from_static(b"https://hub.example"),
            validTo: U256::from(100u64),
            previousChange: U256::from(7u64),
        };
        let log = e.encode_log_data();
        let (who, prev, kind) = decode_log(log.topics(), &log.data).unwrap();
        assert_eq!(who, id);
        assert_eq!(prev, 7);
        match kind {
            EventKind::AttributeChanged { name, value, .. } => {
                assert_eq!(bytes32_to_string(&name).unwrap(), "did/svc/HubService");
                assert_eq!(&value[..], b"https://hub.example");
            }
            other => panic!("{other:?}"),
        }
        let o = DIDOwnerChanged {
            identity: id,
            owner: Address::ZERO,
            previousChange: U256::ZERO,
        }
        .encode_log_data();
        assert!(matches!(
            decode_log(o.topics(), &o.data),
            Some((_, 0, EventKind::OwnerChanged { owner })) if owner == Address::ZERO
        ));
    }

    #[test]
    fn foreign_and_truncated_logs_are_ignored() {
        assert!(decode_log(&[], &[]).is_none());
        assert!(decode_log(&[B256::repeat_byte(1)], &[]).is_none());
        let o = DIDOwnerChanged {
            identity: Address::repeat_byte(2),
            owner: Address::repeat_byte(3),
            previousChange: U256::ZERO,
        }
        .encode_log_data();
        assert!(decode_log(o.topics(), &o.data[..10]).is_none());
        assert!(decode_log(&o.topics()[..1], &o.data).is_none());
    }
}
