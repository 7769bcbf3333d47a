//! did:ethr registry logs (`did_registry::ethr`): the ERC-1056 registry's
//! `DIDOwnerChanged` / `DIDDelegateChanged` / `DIDAttributeChanged` decoded
//! from raw topics and data (`events::decode_log`), the status registry's
//! `StatusChanged` (`status::StatusChange::from_log`), and the DID document
//! built from the decoded events (`build_document`). The chain is outside
//! input: anyone can emit these events, with any bytes.
//!
//! Input: a first line, read as a DID (`EthrDid::parse`; a fixed did:ethr
//! if it does not parse) and as a status list URL (`status::ListUrl::parse`);
//! then bytes, read by [`Input`] (big-endian, zeros past the end):
//!
//! ```text
//! chain id u64 | time mode u8 | time u64 | at-block flag u8 | at-block u8
//! then up to 64 logs:
//!   block step u8 (% 4) | topic 0 u8 (% 8: 0-2 the registry events,
//!   3-4 StatusChanged, 5 any 32 bytes, 6-7 none) | [32 bytes]
//!   | more topics u8 (% 5) | 32 bytes each | data length u16 (% 512) | data
//! ```
//!
//! (The seeds in `corpus/registry_logs/` are written in this layout by
//! `examples/make_seeds.rs`.)
//!
//! Checks, beyond not panicking: a decoded event encodes back to a log that
//! decodes to the same event; an `EventKind` survives the JSON the index
//! stores it as; the document names the DID, lists each verification method
//! once, refers from `authentication`/`assertionMethod` only to listed
//! methods, is empty when deactivated, and changes next (`valid_until`) no
//! earlier than the resolution time; a historical version is no later than
//! its block.
#![no_main]

use std::collections::HashSet;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolEvent;
use did_registry::ethr::events::{
    decode_log, event_signatures, DIDAttributeChanged, DIDDelegateChanged, DIDOwnerChanged,
    EventKind, RegistryEvent,
};
use did_registry::ethr::status::{ListUrl, StatusChange, StatusChanged};
use did_registry::ethr::{build_document, ChainLog, EthrDid};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const FALLBACK_DID: &str = "did:ethr:0x7a69:0x1111111111111111111111111111111111111111";

/// The input after the first line: big-endian numbers, zeros past the end.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.bytes())
    }
    fn b256(&mut self) -> B256 {
        B256::from(self.bytes::<32>())
    }
    fn data(&mut self, len: usize) -> Bytes {
        let n = self.0.len().min(len);
        let out = Bytes::copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
}

fn log(input: &mut Input<'_>, block: u64) -> ChainLog {
    let sigs = event_signatures();
    let mut topics = Vec::new();
    match input.u8() % 8 {
        w @ 0..=2 => topics.push(sigs[usize::from(w)]),
        3 | 4 => topics.push(StatusChanged::SIGNATURE_HASH),
        5 => topics.push(input.b256()),
        _ => {}
    }
    for _ in 0..input.u8() % 5 {
        topics.push(input.b256());
    }
    let len = usize::from(input.u16() % 512);
    ChainLog {
        block_number: block,
        block_hash: B256::ZERO,
        log_index: 0,
        tx_hash: B256::ZERO,
        topics,
        data: input.data(len),
    }
}

/// Encode a decoded event again and decode that: the same event.
fn re_encode(identity: Address, previous: u64, kind: &EventKind) {
    let prev = U256::from(previous);
    let log = match kind.clone() {
        EventKind::OwnerChanged { owner } => DIDOwnerChanged {
            identity,
            owner,
            previousChange: prev,
        }
        .encode_log_data(),
        EventKind::DelegateChanged {
            delegate_type,
            delegate,
            valid_to,
        } => DIDDelegateChanged {
            identity,
            delegateType: delegate_type,
            delegate,
            validTo: valid_to,
            previousChange: prev,
        }
        .encode_log_data(),
        EventKind::AttributeChanged {
            name,
            value,
            valid_to,
        } => DIDAttributeChanged {
            identity,
            name,
            value,
            validTo: valid_to,
            previousChange: prev,
        }
        .encode_log_data(),
    };
    let again = decode_log(log.topics(), &log.data).expect("an encoded event decodes");
    // previousChange saturates at u64::MAX when decoded, so it is stable too.
    assert_eq!(again, (identity, previous, kind.clone()));
    let json = serde_json::to_string(kind).expect("an event kind serializes");
    let back: EventKind = serde_json::from_str(&json).expect("its JSON reads back");
    assert_eq!(&back, kind, "{json}");
}

fn times(block: u64) -> Option<u64> {
    // Some blocks' times are unknown to the index.
    (block % 5 != 4).then(|| 1_600_000_000 + block * 12)
}

/// Where and when a document is resolved.
struct Resolution {
    chain_id: u64,
    now: u64,
    at_block: Option<u64>,
}

impl Resolution {
    fn read(input: &mut Input<'_>) -> Self {
        let chain_id = input.u64();
        let mode = input.u8();
        let t = input.u64();
        // Mode 0: near the blocks' times, where validTo comparisons flip.
        let now = if mode % 2 == 0 {
            1_600_000_000 + (t % 100_000) * 6
        } else {
            t
        };
        let flag = input.u8();
        let block = input.u8();
        Self {
            chain_id,
            now,
            at_block: (flag % 2 == 1).then_some(u64::from(block)),
        }
    }
}

fn check_document(did: &EthrDid, events: &[RegistryEvent], at: &Resolution) {
    let Resolution {
        chain_id,
        now,
        at_block,
    } = *at;
    let r = build_document(did, chain_id, events, at_block, now, &times);
    assert_eq!(r.document["id"].as_str(), Some(did.did.as_str()));
    if let Some(at) = at_block {
        assert!(
            r.version_id <= at,
            "version {} after block {at}",
            r.version_id
        );
    }
    if let Some(v) = r.valid_until {
        assert!(v >= now, "changes at {v}, before now {now}");
    }
    let vms = r.document["verificationMethod"].as_array().expect("a list");
    let ids: Vec<&str> = vms.iter().filter_map(|vm| vm["id"].as_str()).collect();
    assert_eq!(ids.len(), vms.len(), "every method has an id");
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate method ids: {ids:?}");
    for rel in ["authentication", "assertionMethod"] {
        for id in r.document[rel].as_array().expect("a list") {
            let id = id.as_str().expect("an id");
            assert!(unique.contains(id), "{rel} refers to {id}, not in {ids:?}");
        }
    }
    if r.deactivated {
        assert!(vms.is_empty() && r.typed.verification_method.is_empty());
        assert_eq!(r.metadata["deactivated"], Value::Bool(true));
    }
    serde_json::to_string(&r.document).expect("the document serializes");
}

fn run(data: &[u8]) {
    let (first, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let first = String::from_utf8_lossy(first);
    let _ = ListUrl::parse(&first);
    let did = EthrDid::parse(&first)
        .or_else(|_| EthrDid::parse(FALLBACK_DID))
        .expect("the fallback DID parses");

    let mut input = Input(rest);
    let at = Resolution::read(&mut input);
    let mut events = Vec::new();
    let mut block = 1u64;
    let mut log_index = 0u64;
    let mut logs = 0;
    while !input.0.is_empty() && logs < 64 {
        logs += 1;
        let step = input.u8() % 4;
        if step > 0 {
            block += u64::from(step);
            log_index = 0;
        }
        let l = log(&mut input, block);
        let _ = StatusChange::from_log(&l);
        if let Some((identity, previous_change, kind)) = decode_log(&l.topics, &l.data) {
            re_encode(identity, previous_change, &kind);
            events.push(RegistryEvent {
                identity,
                block_number: block,
                log_index,
                previous_change,
                kind,
            });
            log_index += 1;
        }
    }
    check_document(&did, &events, &at);
}

fuzz_target!(|data: &[u8]| run(data));
