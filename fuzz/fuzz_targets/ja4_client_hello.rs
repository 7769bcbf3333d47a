//! JA4 TLS fingerprints (`didgate::signals::ja4`): the ClientHello bytes any client
//! sends first on an HTTPS connection, parsed by hand before rustls has
//! decided anything (not in the original list of targets: a binary parser
//! of the least trusted bytes the gateway reads).
//!
//! The input is read both as records (`ja4`) and as a bare handshake
//! message (`ja4_from_handshake`). Checks, beyond not panicking: a
//! fingerprint is 36 ASCII characters shaped `t..[di]....__` + 12 + `_` + 12
//! lower-case hex; and a message that fingerprints gives the same
//! fingerprint wrapped in one handshake record, or split over two.
#![no_main]

use didgate::signals::ja4::{ja4, ja4_from_handshake, Ja4};
use libfuzzer_sys::fuzz_target;

fn well_formed(f: &Ja4) {
    let s = f.as_str().as_bytes();
    assert_eq!(s.len(), 36, "{f:?}");
    assert!(s.is_ascii(), "{f:?}");
    assert_eq!(s[0], b't', "{f:?}");
    assert!(s[3] == b'd' || s[3] == b'i', "{f:?}");
    assert!(s[4..8].iter().all(u8::is_ascii_digit), "{f:?}");
    assert_eq!((s[10], s[23]), (b'_', b'_'), "{f:?}");
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    assert!(s[11..23].iter().chain(&s[24..]).all(hex), "{f:?}");
}

fn record(fragment: &[u8]) -> Vec<u8> {
    let mut r = vec![22, 3, 1];
    r.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    r.extend_from_slice(fragment);
    r
}

fuzz_target!(|data: &[u8]| {
    if let Some(f) = ja4(data) {
        well_formed(&f);
    }
    let Some(f) = ja4_from_handshake(data) else {
        return;
    };
    well_formed(&f);
    // The message as the parser took it: header and declared length.
    let need = 4 + (usize::from(data[1]) << 16 | usize::from(data[2]) << 8 | usize::from(data[3]));
    let msg = &data[..need];
    if msg.len() <= 1 << 14 {
        assert_eq!(ja4(&record(msg)), Some(f), "one record");
    }
    let cut = 1 + msg.len() / 3;
    if cut < msg.len() && msg.len() - cut <= 1 << 14 {
        let mut two = record(&msg[..cut]);
        two.extend_from_slice(&record(&msg[cut..]));
        assert_eq!(ja4(&two), Some(f), "two records, cut at {cut}");
    }
});
