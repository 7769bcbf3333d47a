//! Request-target path normalisation (`didgate::request::normalize`): what routing,
//! policies, the risk engine and the decision log see, and what the
//! upstream receives.
//!
//! Input: one byte of options (bit 0: strip `;` parameters, bit 1: keep
//! empty segments), then the path. Checks, for every path that normalises:
//! - idempotence: normalising `encoded` again (same options) gives the same
//!   `decoded` and `encoded`;
//! - `encode(decoded) == encoded`;
//! - no `.` or `..` segment survives in `decoded`;
//! - `encoded` is ASCII, each byte canonical (unreserved, sub-delims, `:`,
//!   `@`, `/`) or `%` (followed by two upper-case hex digits), `;` or `\`;
//! - both forms start with `/`, and `decoded` holds no ASCII control.
#![no_main]

use didgate::request::normalize::{encode, normalize, Pass};
use libfuzzer_sys::fuzz_target;

fn canonical(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn upper_hex(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let pass = Pass {
        strip_parameters: flags & 1 != 0,
        merge_slashes: flags & 2 == 0,
    };
    let Ok(n) = normalize(raw, pass) else {
        return;
    };
    let (decoded, encoded) = (&*n.decoded, &*n.encoded);
    assert!(decoded.starts_with('/'), "{raw:?} → decoded {decoded:?}");
    assert!(encoded.starts_with('/'), "{raw:?} → encoded {encoded:?}");
    assert!(
        !decoded.split('/').any(|s| s == "." || s == ".."),
        "{raw:?} → dot segment in {decoded:?}"
    );
    // The module's rule: ASCII controls (%00-%1F, %7F) are refused. (C1
    // controls, U+0080-U+009F, are not: they are no ASCII.)
    assert!(
        !decoded.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{raw:?} → control character in {decoded:?}"
    );
    let b = encoded.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        assert!(
            canonical(c) || matches!(c, b'%' | b';' | b'\\'),
            "{raw:?} → byte {c:#04x} in {encoded:?}"
        );
        if c == b'%' {
            assert!(
                upper_hex(b.get(i + 1)) && upper_hex(b.get(i + 2)),
                "{raw:?} → bad escape in {encoded:?}"
            );
        }
    }
    assert_eq!(encode(decoded), encoded, "{raw:?}: encode(decoded)");
    let again = normalize(encoded, pass)
        .unwrap_or_else(|e| panic!("{raw:?} → {encoded:?} does not normalise again: {e}"));
    assert_eq!(
        again.decoded, decoded,
        "{raw:?}: decoded changed on a second pass"
    );
    assert_eq!(
        again.encoded, encoded,
        "{raw:?}: encoded changed on a second pass"
    );
});
