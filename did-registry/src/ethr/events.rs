//! The registries' events, decoded from raw logs: the ERC-1056 registry's
//! ([`RegistryEvent`]) and the status registry's `StatusChanged`
//! ([`StatusChange`]; its calls and revoked set are in [`super::status`]).

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolEvent};
use serde::{Deserialize, Serialize};

use super::chain::ChainLog;

sol! {
    event DIDOwnerChanged(address indexed identity, address owner, uint256 previousChange);
    event DIDDelegateChanged(address indexed identity, bytes32 delegateType, address delegate, uint256 validTo, uint256 previousChange);
    event DIDAttributeChanged(address indexed identity, bytes32 name, bytes value, uint256 validTo, uint256 previousChange);
}

sol! {
    event StatusChanged(
        address indexed issuer,
        bytes32 indexed listId,
        uint256 index,
        bool revoked,
        uint256 previousChange
    );
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
/// not decode (a foreign contract at the address, a malformed log: wrong
/// topic count, short data, offsets or lengths past the end). Never panics,
/// whatever the bytes (the tests feed it arbitrary and hostile ones).
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

/// One `StatusChanged` event as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub issuer: Address,
    pub list_id: B256,
    pub index: U256,
    pub revoked: bool,
    pub block_number: u64,
    pub log_index: u64,
    pub tx_hash: B256,
}

impl StatusChange {
    /// Decode a status registry log; `None` for any other log.
    pub fn from_log(log: &ChainLog) -> Option<Self> {
        let e = StatusChanged::decode_raw_log(log.topics.iter().copied(), &log.data).ok()?;
        Some(Self {
            issuer: e.issuer,
            list_id: e.listId,
            index: e.index,
            revoked: e.revoked,
            block_number: log.block_number,
            log_index: log.log_index,
            tx_hash: log.tx_hash,
        })
    }
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

    /// A `DIDAttributeChanged` log whose `value` offset and length words
    /// are replaced: the dynamic part is where a malformed log could point
    /// a decoder out of bounds.
    fn attribute_log(offset: U256, length: U256, tail: &[u8]) -> (Vec<B256>, Vec<u8>) {
        let e = DIDAttributeChanged {
            identity: Address::repeat_byte(0x11),
            name: string_to_bytes32("did/svc/X").unwrap(),
            value: Bytes::from_static(b"abc"),
            validTo: U256::from(1u64),
            previousChange: U256::ZERO,
        };
        let log = e.encode_log_data();
        // Head: name, offset of value, validTo, previousChange; then length, bytes.
        let mut data = log.data.to_vec();
        data[32..64].copy_from_slice(&offset.to_be_bytes::<32>());
        data[128..160].copy_from_slice(&length.to_be_bytes::<32>());
        data.truncate(160);
        data.extend_from_slice(tail);
        (log.topics().to_vec(), data)
    }

    #[test]
    fn hostile_offsets_and_lengths_are_refused_not_panics() {
        let huge = [
            U256::MAX,
            U256::from(u64::MAX),
            U256::from(u64::MAX) + U256::from(1u64),
            U256::from(usize::MAX as u64 - 31),
            U256::from(1u64 << 32),
            U256::from(161u64),
        ];
        for bad in huge {
            let (t, d) = attribute_log(bad, U256::from(3u64), b"abc");
            assert!(decode_log(&t, &d).is_none(), "offset {bad}");
            let (t, d) = attribute_log(U256::from(128u64), bad, b"abc");
            assert!(decode_log(&t, &d).is_none(), "length {bad}");
        }
        // Well-formed again: the same builder decodes.
        let (t, d) = attribute_log(U256::from(128u64), U256::from(3u64), &[b'a'; 32]);
        assert!(matches!(
            decode_log(&t, &d),
            Some((_, _, EventKind::AttributeChanged { value, .. })) if &value[..] == b"aaa"
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_logs_never_panic(
            which in 0usize..4,
            extra_topics in proptest::collection::vec(proptest::prelude::any::<[u8; 32]>(), 0..4),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            words in proptest::collection::vec((0usize..12, proptest::prelude::any::<u64>()), 0..4),
        ) {
            let sigs = event_signatures();
            let mut topics: Vec<B256> = Vec::new();
            if which < 3 {
                topics.push(sigs[which]);
            }
            topics.extend(extra_topics.into_iter().map(B256::from));
            // Plant small or huge numbers where heads, offsets and lengths go.
            let mut data = data;
            for (slot, v) in words {
                let at = slot * 32;
                if data.len() >= at + 32 {
                    let w = if v % 3 == 0 { U256::MAX - U256::from(v) } else { U256::from(v % 512) };
                    data[at..at + 32].copy_from_slice(&w.to_be_bytes::<32>());
                }
            }
            let _ = decode_log(&topics, &data);
        }

        #[test]
        fn arbitrary_status_logs_never_panic(
            known in proptest::prelude::any::<bool>(),
            topics in proptest::collection::vec(proptest::prelude::any::<[u8; 32]>(), 0..5),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut t: Vec<B256> = topics.into_iter().map(B256::from).collect();
            if known {
                t.insert(0, StatusChanged::SIGNATURE_HASH);
            }
            let _ = StatusChange::from_log(&ChainLog {
                block_number: u64::MAX,
                block_hash: B256::ZERO,
                log_index: u64::MAX,
                tx_hash: B256::ZERO,
                topics: t,
                data: data.into(),
            });
        }
    }

    #[test]
    fn event_round_trip() {
        let issuer = Address::repeat_byte(7);
        let e = StatusChanged {
            issuer,
            listId: string_to_bytes32("hr").unwrap(),
            index: U256::from(42),
            revoked: true,
            previousChange: U256::from(3),
        };
        let log = e.encode_log_data();
        let c = StatusChange::from_log(&ChainLog {
            block_number: 9,
            block_hash: B256::ZERO,
            log_index: 1,
            tx_hash: B256::ZERO,
            topics: log.topics().to_vec(),
            data: log.data.clone(),
        })
        .unwrap();
        assert_eq!(
            (c.issuer, c.index, c.revoked),
            (issuer, U256::from(42), true)
        );
    }
}
