//! JA4 TLS client fingerprints (FoxIO's JA4 specification, TLS over TCP),
//! computed from the raw bytes a client sends when it opens a connection.
//!
//! The parser reads untrusted bytes: it is bounded (at most
//! [`MAX_CLIENT_HELLO`] bytes of handshake message), never indexes past a
//! slice's end and answers `None` for anything that is not a well-formed
//! ClientHello. It allocates only the two short lists it must sort.

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest, Sha256};

/// Most bytes of a ClientHello handshake message looked at (and recorded by
/// the listener); real ones are well under 4 KiB even with post-quantum key
/// shares.
pub const MAX_CLIENT_HELLO: usize = 16 * 1024;

const RECORD_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// A TLS record's fragment is at most 2^14 bytes (RFC 8446 §5.1); a little
/// slack for senders that pad.
const MAX_RECORD: usize = (1 << 14) + 2048;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// Length of a JA4 fingerprint: `t13d1516h2_8daaf6152771_e5627efa2ab1`.
const JA4_LEN: usize = 36;

/// A JA4 fingerprint, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1` (always
/// 36 ASCII characters; no heap allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja4([u8; JA4_LEN]);

impl Ja4 {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        // Every byte written is ASCII, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja4({})", self.as_str())
    }
}

/// JA4 of the ClientHello at the start of `bytes`: the TLS records a client
/// sent first (record header included). A ClientHello split over several
/// handshake records is reassembled. `None` if the bytes do not start with a
/// complete, well-formed ClientHello.
pub fn ja4(bytes: &[u8]) -> Option<Ja4> {
    let msg = client_hello_message(bytes)?;
    ja4_from_handshake(&msg)
}

/// JA4 of a ClientHello handshake message (type 1, 24-bit length, body),
/// without the record layer.
pub fn ja4_from_handshake(msg: &[u8]) -> Option<Ja4> {
    let mut r = Reader(msg);
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = r.u24()?;
    if len > MAX_CLIENT_HELLO {
        return None;
    }
    let hello = ClientHello::parse(r.take(len)?)?;
    Some(hello.fingerprint())
}

/// The ClientHello handshake message carried by the leading handshake
/// records of `bytes`: borrowed when one record holds it (the usual case).
fn client_hello_message(bytes: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut rest = Reader(bytes);
    let first = record(&mut rest)?;
    if let Some(need) = message_len(first) {
        if first.len() >= need {
            return first.get(..need).map(Cow::Borrowed);
        }
    }
    let mut buf = first.to_vec();
    loop {
        match message_len(&buf) {
            Some(need) if buf.len() >= need => {
                buf.truncate(need);
                return Some(Cow::Owned(buf));
            }
            // A whole header that is not a ClientHello's, or too long.
            None if buf.len() >= 4 => return None,
            _ => {}
        }
        if buf.len() > MAX_CLIENT_HELLO + 4 {
            return None;
        }
        buf.extend_from_slice(record(&mut rest)?);
    }
}

/// One handshake record's fragment.
fn record<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    if r.u8()? != RECORD_HANDSHAKE {
        return None;
    }
    let _legacy_record_version = r.u16()?;
    let len = usize::from(r.u16()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    r.take(len)
}

/// Total length of the handshake message starting `buf`, once its header is
/// there; `None` while it is not, or when it is not a ClientHello or too big.
fn message_len(buf: &[u8]) -> Option<usize> {
    let mut r = Reader(buf);
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = r.u24()?;
    (len <= MAX_CLIENT_HELLO).then_some(4 + len)
}

/// What JA4 needs from a ClientHello, borrowed from the message.
struct ClientHello<'a> {
    legacy_version: u16,
    /// Cipher suites, GREASE removed, in wire order.
    ciphers: Vec<u16>,
    /// Extension types, GREASE, SNI and ALPN removed, in wire order.
    hashed_exts: Vec<u16>,
    /// Extensions counted (GREASE removed; SNI and ALPN included).
    ext_count: usize,
    sni: bool,
    /// The first ALPN protocol name, when the extension is well formed.
    alpn: Option<&'a [u8]>,
    /// Highest non-GREASE version in supported_versions.
    supported_version: Option<u16>,
    /// The signature_algorithms list (2-byte entries), when well formed.
    sig_algs: &'a [u8],
}

impl<'a> ClientHello<'a> {
    fn parse(body: &'a [u8]) -> Option<Self> {
        let mut r = Reader(body);
        let legacy_version = r.u16()?;
        let _random = r.take(32)?;
        let _session_id = r.vec8()?;
        let suites = r.vec16()?;
        if suites.len() % 2 != 0 {
            return None;
        }
        let ciphers = pairs(suites).filter(|&c| !is_grease(c)).collect();
        let _compression = r.vec8()?;
        let mut hello = ClientHello {
            legacy_version,
            ciphers,
            hashed_exts: Vec::new(),
            ext_count: 0,
            sni: false,
            alpn: None,
            supported_version: None,
            sig_algs: &[],
        };
        // Extensions are optional (SSL 3.0 / early TLS clients send none).
        if r.0.is_empty() {
            return Some(hello);
        }
        let mut exts = Reader(r.vec16()?);
        let mut seen_alpn = false;
        let mut seen_versions = false;
        let mut seen_sig_algs = false;
        while !exts.0.is_empty() {
            let ty = exts.u16()?;
            let data = exts.vec16()?;
            if is_grease(ty) {
                continue;
            }
            hello.ext_count += 1;
            match ty {
                EXT_SERVER_NAME => hello.sni = true,
                EXT_ALPN => {
                    if !seen_alpn {
                        seen_alpn = true;
                        hello.alpn = first_alpn(data);
                    }
                }
                _ => {
                    if ty == EXT_SUPPORTED_VERSIONS && !seen_versions {
                        seen_versions = true;
                        hello.supported_version = highest_version(data);
                    } else if ty == EXT_SIGNATURE_ALGORITHMS && !seen_sig_algs {
                        seen_sig_algs = true;
                        hello.sig_algs = sig_alg_list(data);
                    }
                }
            }
            if ty != EXT_SERVER_NAME && ty != EXT_ALPN {
                hello.hashed_exts.push(ty);
            }
        }
        Some(hello)
    }

    fn fingerprint(mut self) -> Ja4 {
        let mut out = [b'0'; JA4_LEN];
        let version = self.supported_version.unwrap_or(self.legacy_version);
        let alpn = alpn_chars(self.alpn);
        let a = [
            b't',
            version_code(version)[0],
            version_code(version)[1],
            if self.sni { b'd' } else { b'i' },
            two_digits(self.ciphers.len())[0],
            two_digits(self.ciphers.len())[1],
            two_digits(self.ext_count)[0],
            two_digits(self.ext_count)[1],
            alpn[0],
            alpn[1],
        ];
        out[..10].copy_from_slice(&a);
        out[10] = b'_';
        out[23] = b'_';

        self.ciphers.sort_unstable();
        out[11..23].copy_from_slice(&hash12(&self.ciphers, &[]));
        self.hashed_exts.sort_unstable();
        out[24..36].copy_from_slice(&hash12(&self.hashed_exts, self.sig_algs));
        Ja4(out)
    }
}

/// First 12 hex characters of SHA-256 over `list` as comma-joined 4-digit
/// lower-case hex, then, when `sig_algs` has any non-GREASE entry, `_` and
/// those the same way in wire order. An empty list hashes to twelve zeros.
fn hash12(list: &[u16], sig_algs: &[u8]) -> [u8; 12] {
    if list.is_empty() {
        return [b'0'; 12];
    }
    let mut h = Sha256::new();
    feed_list(&mut h, list.iter().copied());
    let mut sigs = pairs(sig_algs).filter(|&s| !is_grease(s)).peekable();
    if sigs.peek().is_some() {
        h.update(b"_");
        feed_list(&mut h, sigs);
    }
    let digest = h.finalize();
    let mut out = [0u8; 12];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest.iter()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

fn feed_list(h: &mut Sha256, values: impl Iterator<Item = u16>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(hex4(v));
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex4(v: u16) -> [u8; 4] {
    let [hi, lo] = v.to_be_bytes();
    [
        HEX[usize::from(hi >> 4)],
        HEX[usize::from(hi & 0x0f)],
        HEX[usize::from(lo >> 4)],
        HEX[usize::from(lo & 0x0f)],
    ]
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa.
fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

fn version_code(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0002 => *b"s2",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

/// Two decimal digits, capped at 99.
fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// First and last character of the first ALPN value; if either is not
/// alphanumeric, the first and last character of the value's hex form; `00`
/// when there is no (non-empty) value.
fn alpn_chars(alpn: Option<&[u8]>) -> [u8; 2] {
    let Some((&first, rest)) = alpn.and_then(<[u8]>::split_first) else {
        return *b"00";
    };
    let last = rest.last().copied().unwrap_or(first);
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        [first, last]
    } else {
        [HEX[usize::from(first >> 4)], HEX[usize::from(last & 0x0f)]]
    }
}

/// The first protocol name of an ALPN extension body.
fn first_alpn(data: &[u8]) -> Option<&[u8]> {
    let mut r = Reader(data);
    let mut list = Reader(r.vec16()?);
    list.vec8()
}

fn highest_version(data: &[u8]) -> Option<u16> {
    let mut r = Reader(data);
    let list = r.vec8()?;
    pairs(list).filter(|&v| !is_grease(v)).max()
}

fn sig_alg_list(data: &[u8]) -> &[u8] {
    let mut r = Reader(data);
    match r.vec16() {
        Some(list) if list.len() % 2 == 0 => list,
        _ => &[],
    }
}

/// Big-endian u16s of `b` (a trailing odd byte is ignored).
fn pairs(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// A cursor over untrusted bytes: every read is checked, none panics.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let head = self.0.get(..n)?;
        self.0 = self.0.get(n..)?;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some(
            (usize::from(*b.first()?) << 16)
                | (usize::from(*b.get(1)?) << 8)
                | usize::from(*b.get(2)?),
        )
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a ClientHello record from parts, for vectors given as lists.
    fn client_hello(
        legacy_version: u16,
        ciphers: &[u16],
        extensions: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&legacy_version.to_be_bytes());
        body.extend_from_slice(&[0x11; 32]);
        body.push(0);
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        for (ty, data) in extensions {
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        }
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        wrap_handshake(&body)
    }

    fn wrap_handshake(body: &[u8]) -> Vec<u8> {
        let mut msg = vec![HANDSHAKE_CLIENT_HELLO];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(body);
        wrap_record(&msg)
    }

    fn wrap_record(msg: &[u8]) -> Vec<u8> {
        let mut rec = vec![RECORD_HANDSHAKE, 3, 1];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend_from_slice(msg);
        rec
    }

    fn u16_list(prefix_len: usize, values: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = values.len() * 2;
        if prefix_len == 2 {
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(n as u8);
        }
        for v in values {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn alpn(protocols: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for p in protocols {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        let mut out = (list.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&list);
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector is hex")
    }

    /// FoxIO's worked example in technical_details/JA4.md: 15 ciphers, 16
    /// extensions in this order, ALPN h2, TLS 1.3 in supported_versions,
    /// these signature algorithms, plus GREASE that must be ignored.
    fn foxio_example() -> Vec<u8> {
        let ciphers = [
            0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let sig_algs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let ext = |ty: u16| -> (u16, Vec<u8>) {
            let data = match ty {
                EXT_SERVER_NAME => {
                    let name = b"example.com";
                    let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
                    d.push(0);
                    d.extend_from_slice(&(name.len() as u16).to_be_bytes());
                    d.extend_from_slice(name);
                    d
                }
                EXT_ALPN => alpn(&[b"h2", b"http/1.1"]),
                EXT_SIGNATURE_ALGORITHMS => u16_list(2, &sig_algs),
                EXT_SUPPORTED_VERSIONS => u16_list(1, &[0x2a2a, 0x0304, 0x0303]),
                _ => Vec::new(),
            };
            (ty, data)
        };
        let order = [
            0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
            0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xfafa,
        ];
        let exts: Vec<_> = order.iter().map(|&t| ext(t)).collect();
        client_hello(0x0303, &ciphers, &exts)
    }

    #[test]
    fn foxio_documented_example() {
        let fp = ja4(&foxio_example()).expect("parses");
        assert_eq!(fp.as_str(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    /// Real browser ClientHellos (handshake messages, hex) with the JA4
    /// published next to them in smithproxy's JA4 unit tests (sx::ja4).
    const CHROME_ECH: &str = "010002880303b1454f846bd902745d988d870726ef0c313ce90f17984d51557964c3e606fa91200b509f238e6769dd3ad25fe6ed13020e3f7b64738a226fc0158ef2b59ba19b2c0022130113031302c02bc02fcca9cca8c02cc030c00ac009c013c014009c009d002f00350100021d0000000e000c0000096a613464622e636f6d00170000ff01000100000a000e000c001d00170018001901000101000b00020100002300000010000e000c02683208687474702f312e310005000501000000000022000a000804030503060302030033006b0069001d0020cb5494b8b6fffd904f2c18eecc978ae6ef7c9c89d347498dae1b66799176554900170041040bbdc463c55494edca30649e6c48e51261c4d61843e7cf607fffddca1d7cf7d8ae69ced9796f6403565655906bbcd7dffc103db95889d5d6774114b6793c4132002b00050403040303000d0018001604030503060308040805080604010501060102030201002d00020101001c00024001fe0d01190000010003d10020b8cdfd2a9b9924e45471c4ebb24514d71a231a49d8d314fbcb75af0214a2e67c00efd356cf2704ea9bb5e85579856bf473cb9b5ae1657b33929c86f5ee4b57cafcac74ecb8fe201f5d9e883efdd391395639d9e42eafa8eae467601838c23c3e239907da1a6983f4e966e4990ff13f74e0159fe37d60535b76d308caea1e114170ce3e3fd67c14a2f5e3e8fe540895e3d6a66fec86e88d2e403f9ff299681748c664572a7e889fe274ec142b2f5eb9445142c16dd98034f92d47be96ead6b030536ca37506cc44c94fd7d1f1b2178b71d5fc5e5339b1c91cf9db67c82099a0f0168ce228947c600a1cd48ee9d9b481c87f052999431bd4b91d2aac4a7dab3090578a64087a3d7cd9c603c6e75c7d878f9d";
    const NO_ALPN_31_CIPHERS: &str = "010001fc0303e4422635180a6d52305577414519930d2eb4b714ecbaffc7aa4ef762421df37920a89626d7567923c523a5255cfc150232e8491a92f4d85e848d5f8432baf6d273003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010001750000001c001a00001772656d6f74652e7069786965647573742e6f6e6c696e65000b000403000102000a000c000a001d0017001e0019001800230000001600000017000000310000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b00050403040303002d00020101003300260024001d0020d8a1f885af25dd99f2c6a123fae44fadc43bc5d9c123e0ec0fbbdc0a90a6b24e001500c20000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn real_client_hellos() {
        for (msg, want) in [
            (CHROME_ECH, "t13d1715h2_5b57614c22b0_5c2c66f702b0"),
            (NO_ALPN_31_CIPHERS, "t13d311200_e8f1e7e78f70_d339722ba4af"),
        ] {
            let msg = hex(msg);
            assert_eq!(
                ja4_from_handshake(&msg).map(|f| f.to_string()),
                Some(want.into())
            );
            assert_eq!(
                ja4(&wrap_record(&msg)).map(|f| f.to_string()),
                Some(want.into())
            );
        }
    }

    #[test]
    fn client_hello_split_over_records_is_reassembled() {
        let msg = hex(CHROME_ECH);
        let (a, b) = msg.split_at(100);
        let (b, c) = b.split_at(300);
        let mut bytes = wrap_record(a);
        bytes.extend(wrap_record(b));
        bytes.extend(wrap_record(c));
        bytes.extend_from_slice(&[20, 3, 3, 0, 1, 1]); // a following ChangeCipherSpec
        assert_eq!(
            ja4(&bytes).map(|f| f.to_string()).as_deref(),
            Some("t13d1715h2_5b57614c22b0_5c2c66f702b0")
        );
    }

    #[test]
    fn version_without_supported_versions_is_the_legacy_version() {
        let tls12 = client_hello(0x0303, &[0xc02f], &[]);
        assert_eq!(&ja4(&tls12).expect("parses").as_str()[..10], "t12i010000");
        let tls10 = client_hello(0x0301, &[0x002f], &[(0xff01, vec![0])]);
        assert_eq!(&ja4(&tls10).expect("parses").as_str()[..10], "t10i010100");
        let unknown = client_hello(0x7f7f, &[0x002f], &[]);
        assert_eq!(&ja4(&unknown).expect("parses").as_str()[..4], "t00i");
    }

    #[test]
    fn empty_lists_hash_to_zeros() {
        let fp = client_hello(0x0303, &[0x0a0a], &[(0x0a0a, vec![])]);
        assert_eq!(
            ja4(&fp).expect("parses").as_str(),
            "t12i000000_000000000000_000000000000"
        );
    }

    #[test]
    fn alpn_characters_follow_the_spec() {
        assert_eq!(alpn_chars(None), *b"00");
        assert_eq!(alpn_chars(Some(b"")), *b"00");
        assert_eq!(alpn_chars(Some(b"h2")), *b"h2");
        assert_eq!(alpn_chars(Some(b"http/1.1")), *b"h1");
        assert_eq!(alpn_chars(Some(b"x")), *b"xx");
        // Non-alphanumeric ends: first and last character of the hex form.
        assert_eq!(alpn_chars(Some(&[0xab])), *b"ab");
        assert_eq!(alpn_chars(Some(&[0xab, 0xcd])), *b"ad");
        assert_eq!(alpn_chars(Some(&[0x30, 0xab])), *b"3b");
        assert_eq!(alpn_chars(Some(&[0x30, 0x31, 0xab, 0xcd])), *b"3d");
        assert_eq!(alpn_chars(Some(&[0x30, 0xab, 0xcd, 0x31])), *b"01");
    }

    #[test]
    fn grease_values() {
        let grease: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(grease.len(), 16);
        assert_eq!(grease[0], 0x0a0a);
        assert_eq!(grease[15], 0xfafa);
    }

    #[test]
    fn not_a_client_hello() {
        assert_eq!(ja4(b""), None);
        assert_eq!(ja4(b"GET / HTTP/1.1\r\n\r\n"), None);
        // SSLv2-compatible hello.
        assert_eq!(ja4(&[0x80, 0x2e, 0x01, 0x03, 0x01]), None);
        // A ServerHello in a handshake record.
        let mut msg = hex(CHROME_ECH);
        msg[0] = 2;
        assert_eq!(ja4(&wrap_record(&msg)), None);
    }

    /// Every prefix of a valid ClientHello: no panic, and only the complete
    /// one (or longer) yields a fingerprint.
    #[test]
    fn every_truncation_is_refused_without_panic() {
        for bytes in [foxio_example(), wrap_record(&hex(CHROME_ECH))] {
            for n in 0..bytes.len() {
                assert_eq!(ja4(&bytes[..n]), None, "prefix of {n} bytes");
            }
            assert!(ja4(&bytes).is_some());
        }
    }

    /// Every single-byte change to every position of a valid ClientHello
    /// (a few values each): no panic, no out-of-bounds read.
    #[test]
    fn every_single_byte_mutation_is_survived() {
        let bytes = foxio_example();
        for i in 0..bytes.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, bytes[i] ^ 0x01] {
                let mut m = bytes.clone();
                m[i] = v;
                if let Some(fp) = ja4(&m) {
                    assert_eq!(fp.as_str().len(), JA4_LEN);
                }
            }
        }
    }

    /// Rough cost of `ja4` on a real browser ClientHello (printed; run with
    /// `--nocapture --ignored` in release for a number worth quoting).
    #[test]
    #[ignore]
    fn ja4_cost() {
        let bytes = wrap_record(&hex(CHROME_ECH));
        let n = 100_000u32;
        let start = std::time::Instant::now();
        let mut ok = 0u32;
        for _ in 0..n {
            ok += u32::from(ja4(std::hint::black_box(&bytes)).is_some());
        }
        println!("ja4: {:?} per call ({ok} ok)", start.elapsed() / n);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = ja4(&bytes);
            let _ = ja4_from_handshake(&bytes);
        }

        #[test]
        fn random_mutations_of_a_real_hello_never_panic(
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
            cut in proptest::prelude::any::<usize>(),
        ) {
            let mut bytes = wrap_record(&hex(CHROME_ECH));
            for (at, v) in edits {
                let i = at % bytes.len();
                bytes[i] = v;
            }
            let cut = cut % (bytes.len() + 1);
            if let Some(fp) = ja4(&bytes[..cut]) {
                proptest::prop_assert_eq!(fp.as_str().len(), JA4_LEN);
                proptest::prop_assert!(fp.as_str().is_ascii());
            }
        }
    }
}
