//! The decision log as an auditor reads a copy someone else serves
//! (`audit::tlog`): an entry bundle split into entries (`Frames`), each
//! entry read back (`decode`), and a checkpoint note
//! (`SignedCheckpoint::parse_unverified`, and `verify` under a key that did
//! not sign it). When `audit verify` reads a log it did not write, all of
//! these bytes are outside input.
//!
//! Input: the bytes, read three ways: as a bundle, as one entry, and as a
//! checkpoint note.
//!
//! Checks, beyond not panicking: the frames and the trailing bytes account
//! for every input byte, and no frame is longer than an entry may be; an
//! entry that reads re-encodes to canonical bytes, which read back and
//! re-encode to themselves (the canonical form is a fixed point); a note
//! never verifies under a key that did not sign it.
#![no_main]

use std::sync::OnceLock;

use audit::tlog::{decode, Frames, SignedCheckpoint, TlogConfig, MAX_ENTRY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A bundle: frames, then what is left.
    let mut frames = Frames::new(data);
    let mut covered = 0usize;
    for entry in frames.by_ref() {
        assert!(entry.len() <= MAX_ENTRY_LEN);
        covered += 2 + entry.len();
        read_entry(entry);
    }
    assert_eq!(covered + frames.trailing().0, data.len());

    // One entry.
    read_entry(data);

    // A checkpoint note.
    let _ = SignedCheckpoint::parse_unverified(data);
    assert!(
        SignedCheckpoint::verify(data, vkey()).is_err(),
        "a note verified under a key that signed nothing here"
    );
});

/// The verifier key of a log key that signs nothing in this target.
fn vkey() -> &'static str {
    static VKEY: OnceLock<String> = OnceLock::new();
    VKEY.get_or_init(|| {
        TlogConfig::new("didgate.example/fuzz", [7u8; 32])
            .vkey()
            .expect("a valid origin and key")
    })
}

/// Read one entry; one that reads has a canonical form that is a fixed point.
fn read_entry(bytes: &[u8]) {
    let Ok(decision) = decode(bytes) else {
        return;
    };
    let mut canonical = Vec::new();
    if decision.encode_into(&mut canonical).is_err() {
        return;
    }
    let again = decode(&canonical).expect("the canonical form of an entry reads back");
    let mut twice = Vec::new();
    again
        .encode_into(&mut twice)
        .expect("the canonical form of an entry encodes again");
    assert_eq!(canonical, twice, "the canonical form is a fixed point");
}
