//! Arbitrary bytes as a policy bundle (`policy::Bundle::{decode, verify}`):
//! what a gateway in chain mode reads from its bundles folder or URL, and
//! `didgate policy propose --bundle FILE` from disk.
//!
//! Checks, beyond not panicking: a bundle that decodes is in canonical
//! form — it re-encodes to exactly the input, so its hash is the input's
//! SHA-256 (one set, one hash); `verify` against that hash agrees with
//! `decode`, and against any other hash refuses before parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::bundle::{hash_bytes, Bundle, BundleError};

fuzz_target!(|data: &[u8]| {
    let decoded = Bundle::decode(data);
    let hash = hash_bytes(data);
    match &decoded {
        Ok(b) => {
            assert_eq!(b.encode(), data, "a bundle that reads is canonical");
            assert_eq!(b.hash(), hash);
            assert_eq!(Bundle::verify(data, &hash).as_ref(), Ok(b));
        }
        Err(e) => assert_eq!(Bundle::verify(data, &hash).as_ref(), Err(e)),
    }
    let mut other = hash;
    other[0] ^= 1;
    assert!(matches!(
        Bundle::verify(data, &other),
        Err(BundleError::HashMismatch { .. } | BundleError::TooLarge(_))
    ));
});
