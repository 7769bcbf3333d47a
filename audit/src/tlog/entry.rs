//! The bytes of one decision in the transparency log: its canonical
//! encoding (written on the request path by [`Entry::encode_into`]) and its
//! reading back ([`decode`], for the SQL indexer and `audit verify`).
//!
//! # Encoding, version 1
//!
//! An entry is one JSON object in compact form (UTF-8, no whitespace, no
//! trailing newline) whose members come in exactly this order:
//!
//! | member | JSON type | meaning |
//! |---|---|---|
//! | `v` | `1` | encoding version, always first |
//! | `id` | string | decision id (a UUIDv7) |
//! | `ts_ms` | integer | decision time, milliseconds since the Unix epoch |
//! | `gateway` | string | the gateway that decided |
//! | `route` | string or `null` | the matched route |
//! | `method` | string | HTTP method |
//! | `host` | string | request host |
//! | `path` | string | request path |
//! | `client_ip` | string | client address (`1.2.3.4`; IPv6 in RFC 5952 form) |
//! | `subject` | string or `null` | the authenticated subject (a DID) |
//! | `auth_method` | string or `null` | how the subject authenticated |
//! | `credential_types` | array of strings | types of the credentials presented |
//! | `credential_ids` | array of strings | ids of the credentials presented |
//! | `issuers` | array of strings | issuers of the credentials presented |
//! | `effect` | `"allow"`, `"deny"` or `"step_up"` | the decision |
//! | `status` | integer or `null` | HTTP status of a refusal; `null` when forwarded |
//! | `reason` | string | stable reason code |
//! | `policies` | array of strings | the policies that decided |
//! | `policy_set` | string | SHA-256 of the policy set in force, 64 lower-case hex digits |
//! | `risk_score` | number or `null` | risk score in \[0, 1\] |
//! | `risk_factors` | array of `{"name":string,"weight":number}` | factors behind the score, largest first |
//! | `truncated` | array of strings | present only when the entry was cut to fit (below) |
//!
//! Values are written as serde_json writes them: integers in plain decimal;
//! numbers as the shortest decimal that reads back as the same IEEE-754
//! double (an integral value keeps `.0`, e.g. `1.0`; tiny or huge ones use an
//! exponent, e.g. `1e-7`; readers must round correctly, as serde_json's
//! `float_roundtrip`, Python and JavaScript do), a non-finite number as
//! `null`; strings with only
//! `"` and `\` escaped as `\"` and `\\`, control characters U+0000–U+001F as
//! `\b`, `\t`, `\n`, `\f`, `\r` or `\u00xx` (lower-case hex), and everything
//! else (`/` and non-ASCII included) as raw UTF-8.
//!
//! # Size
//!
//! An entry is at most 65,535 bytes ([`MAX_ENTRY_LEN`]: a tile bundle's
//! 2-byte length prefix). A decision that would encode longer is cut to fit,
//! deterministically, never refused:
//!
//! 1. every string (member values and array items alike) is cut to its
//!    longest prefix of at most `K` bytes that ends on a UTF-8 character
//!    boundary, and every array to its first `K` items;
//! 2. `K` is the largest number for which the entry without its `truncated`
//!    member is at most 65,535 − 512 bytes (512 bytes hold the longest
//!    `truncated` member);
//! 3. `truncated` lists, in member order, the names of the members whose
//!    value was cut (a string cut, or an array that lost items or had an item
//!    cut).
//!
//! A reader knows a cut value only by that list; a string of exactly the
//! original is never listed.

use std::io::Write;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::record::{DecisionRecord, Effect};

/// The encoding version this module writes and reads.
pub const ENTRY_VERSION: u8 = 1;

/// The largest entry, in bytes: a tile bundle's 2-byte length prefix.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// Room kept for the `truncated` member when an entry is cut (the longest,
/// naming every member that can be cut, is 165 bytes).
const TRUNCATED_RESERVE: usize = 512;

/// One decision as the log records it: the decision itself and what the
/// request path knows beside it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub record: &'a DecisionRecord,
    /// SHA-256 of the policy set that decided.
    pub policy_set: &'a [u8; 32],
    /// Ids of the credentials presented.
    pub credential_ids: &'a [String],
}

/// What [`Entry::encode_into`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Bytes appended.
    pub len: usize,
    /// The entry was cut to fit [`MAX_ENTRY_LEN`].
    pub truncated: bool,
}

/// An entry that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("entry is not version-1 JSON: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("entry has version {0}, this reader knows version 1")]
    Version(u64),
    #[error("entry lists an unknown truncated member {0:?}")]
    UnknownTruncated(String),
    #[error("entry is {0} bytes, more than 65,535")]
    TooLong(usize),
}

impl Entry<'_> {
    /// Append the entry's canonical bytes to `out` (at most
    /// [`MAX_ENTRY_LEN`] of them), cutting it to fit if it must.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<Encoded, EntryError> {
        encode_view(&self.view(), out, None)
    }

    fn view(&self) -> View<'_> {
        let r = self.record;
        View {
            id: &r.id,
            ts_ms: r.ts_ms,
            gateway: &r.gateway,
            route: r.route.as_deref(),
            method: &r.method,
            host: &r.host,
            path: &r.path,
            client_ip: r.client_ip,
            subject: r.subject.as_deref(),
            auth_method: r.auth_method,
            credential_types: &r.credential_types,
            credential_ids: self.credential_ids,
            issuers: &r.issuers,
            effect: r.effect,
            status: r.status,
            reason: r.reason,
            policies: &r.policies,
            policy_set: self.policy_set,
            risk_score: r.risk_score,
            risk_factors: Factors::Live(&r.risk_factors),
        }
    }
}

/// A decision read back from the log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedDecision {
    #[serde(rename = "v")]
    version: u64,
    pub id: String,
    pub ts_ms: i64,
    pub gateway: String,
    pub route: Option<String>,
    pub method: String,
    pub host: String,
    pub path: String,
    pub client_ip: IpAddr,
    pub subject: Option<String>,
    pub auth_method: Option<String>,
    pub credential_types: Vec<String>,
    pub credential_ids: Vec<String>,
    pub issuers: Vec<String>,
    #[serde(with = "effect_wire")]
    pub effect: Effect,
    pub status: Option<u16>,
    pub reason: String,
    pub policies: Vec<String>,
    #[serde(with = "hex32")]
    pub policy_set: [u8; 32],
    #[serde(with = "number_or_null")]
    pub risk_score: f64,
    pub risk_factors: Vec<LoggedFactor>,
    /// Members cut to fit (empty for an entry written whole).
    #[serde(default)]
    pub truncated: Vec<String>,
}

/// A risk factor read back from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedFactor {
    pub name: String,
    #[serde(with = "number_or_null")]
    pub weight: f64,
}

/// Read one entry (the bytes inside a bundle's length prefix).
pub fn decode(bytes: &[u8]) -> Result<LoggedDecision, EntryError> {
    if bytes.len() > MAX_ENTRY_LEN {
        return Err(EntryError::TooLong(bytes.len()));
    }
    let d: LoggedDecision = serde_json::from_slice(bytes)?;
    if d.version != u64::from(ENTRY_VERSION) {
        return Err(EntryError::Version(d.version));
    }
    truncated_mask(&d.truncated)?;
    Ok(d)
}

impl LoggedDecision {
    /// The canonical bytes of this decision: equal to what was read iff the
    /// writer followed the encoding (`audit verify` checks it).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<Encoded, EntryError> {
        let mask = truncated_mask(&self.truncated)?;
        let view = View {
            id: &self.id,
            ts_ms: self.ts_ms,
            gateway: &self.gateway,
            route: self.route.as_deref(),
            method: &self.method,
            host: &self.host,
            path: &self.path,
            client_ip: self.client_ip,
            subject: self.subject.as_deref(),
            auth_method: self.auth_method.as_deref(),
            credential_types: &self.credential_types,
            credential_ids: &self.credential_ids,
            issuers: &self.issuers,
            effect: self.effect,
            status: self.status,
            reason: &self.reason,
            policies: &self.policies,
            policy_set: &self.policy_set,
            risk_score: self.risk_score,
            risk_factors: Factors::Logged(&self.risk_factors),
        };
        encode_view(&view, out, Some(mask))
    }
}

/// Member names in encoding order; bit `i` of a truncation mask is `NAMES[i]`.
const NAMES: [&str; 21] = [
    "id",
    "ts_ms",
    "gateway",
    "route",
    "method",
    "host",
    "path",
    "client_ip",
    "subject",
    "auth_method",
    "credential_types",
    "credential_ids",
    "issuers",
    "effect",
    "status",
    "reason",
    "policies",
    "policy_set",
    "risk_score",
    "risk_factors",
    "truncated",
];

fn truncated_mask(names: &[String]) -> Result<u32, EntryError> {
    truncated_mask_of(names.iter().map(String::as_str))
}

/// The truncation mask of member names, or the first unknown one.
pub(super) fn truncated_mask_of<'n>(
    names: impl IntoIterator<Item = &'n str>,
) -> Result<u32, EntryError> {
    let mut mask = 0u32;
    for name in names {
        let bit = NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| EntryError::UnknownTruncated(name.to_owned()))?;
        mask |= 1 << bit;
    }
    Ok(mask)
}

/// The fields of an entry, borrowed from a live record or a decoded one.
struct View<'a> {
    id: &'a str,
    ts_ms: i64,
    gateway: &'a str,
    route: Option<&'a str>,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    client_ip: IpAddr,
    subject: Option<&'a str>,
    auth_method: Option<&'a str>,
    credential_types: &'a [String],
    credential_ids: &'a [String],
    issuers: &'a [String],
    effect: Effect,
    status: Option<u16>,
    reason: &'a str,
    policies: &'a [String],
    policy_set: &'a [u8; 32],
    risk_score: f64,
    risk_factors: Factors<'a>,
}

enum Factors<'a> {
    Live(&'a [risk::Factor]),
    Logged(&'a [LoggedFactor]),
}

impl Factors<'_> {
    fn len(&self) -> usize {
        match self {
            Factors::Live(f) => f.len(),
            Factors::Logged(f) => f.len(),
        }
    }

    fn get(&self, i: usize) -> Option<(&str, f64)> {
        match self {
            Factors::Live(f) => f.get(i).map(|f| (f.name, f.weight)),
            Factors::Logged(f) => f.get(i).map(|f| (f.name.as_str(), f.weight)),
        }
    }
}

/// How far strings and arrays are cut (`usize::MAX`: not at all).
#[derive(Clone, Copy)]
struct Caps {
    bytes: usize,
    items: usize,
}

const WHOLE: Caps = Caps {
    bytes: usize::MAX,
    items: usize::MAX,
};

/// Encode `view` at the end of `out`. `given` is the truncation list of a
/// decoded entry (written as read); a live entry is cut here if it must be.
fn encode_view(view: &View, out: &mut Vec<u8>, given: Option<u32>) -> Result<Encoded, EntryError> {
    let start = out.len();
    let cut = write_entry(view, WHOLE, out)?;
    if let Some(mask) = given {
        // A decoded entry: its values are already cut; the list is as read.
        close_entry(out, cut | mask)?;
        let len = out.len() - start;
        return if len > MAX_ENTRY_LEN {
            Err(EntryError::TooLong(len))
        } else {
            Ok(Encoded {
                len,
                truncated: mask != 0,
            })
        };
    }
    if out.len() - start < MAX_ENTRY_LEN {
        close_entry(out, 0)?;
        if out.len() - start <= MAX_ENTRY_LEN {
            return Ok(Encoded {
                len: out.len() - start,
                truncated: false,
            });
        }
    }
    let caps = fitting_caps(view, out, start)?;
    out.truncate(start);
    let cut = write_entry(view, caps, out)?;
    close_entry(out, cut)?;
    Ok(Encoded {
        len: out.len() - start,
        truncated: true,
    })
}

/// The caps of step 2 of the size rule (the module doc): the largest `K`
/// that fits.
fn fitting_caps(view: &View, scratch: &mut Vec<u8>, start: usize) -> Result<Caps, EntryError> {
    let budget = MAX_ENTRY_LEN - TRUNCATED_RESERVE;
    let k = largest(0, MAX_ENTRY_LEN, |k| {
        scratch.truncate(start);
        write_entry(view, Caps { bytes: k, items: k }, scratch)?;
        Ok(scratch.len() - start <= budget)
    })?;
    Ok(Caps { bytes: k, items: k })
}

/// The largest `x` in `lo..=hi` with `ok(x)`, for `ok` true at `lo` and
/// monotone (true up to some point, false after).
fn largest(
    mut lo: usize,
    mut hi: usize,
    mut ok: impl FnMut(usize) -> Result<bool, EntryError>,
) -> Result<usize, EntryError> {
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if ok(mid)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

type Io = std::io::Result<()>;

/// Write every member but `truncated` and the closing brace; return the
/// mask of members that `caps` cut.
fn write_entry(v: &View, caps: Caps, out: &mut Vec<u8>) -> Result<u32, EntryError> {
    let mut w = Writer { out, caps, cut: 0 };
    w.raw(b"{\"v\":1")?;
    w.key(0)?;
    w.str(0, v.id)?;
    w.key(1)?;
    w.value(&v.ts_ms)?;
    w.key(2)?;
    w.str(2, v.gateway)?;
    w.key(3)?;
    w.opt_str(3, v.route)?;
    w.key(4)?;
    w.str(4, v.method)?;
    w.key(5)?;
    w.str(5, v.host)?;
    w.key(6)?;
    w.str(6, v.path)?;
    w.key(7)?;
    // Digits, dots, colons and hex letters: nothing to escape.
    write!(w.out, "\"{}\"", v.client_ip)?;
    w.key(8)?;
    w.opt_str(8, v.subject)?;
    w.key(9)?;
    w.opt_str(9, v.auth_method)?;
    w.key(10)?;
    w.strs(10, v.credential_types)?;
    w.key(11)?;
    w.strs(11, v.credential_ids)?;
    w.key(12)?;
    w.strs(12, v.issuers)?;
    w.key(13)?;
    // A fixed word, never cut.
    w.value(&v.effect.as_str())?;
    w.key(14)?;
    w.value(&v.status)?;
    w.key(15)?;
    w.str(15, v.reason)?;
    w.key(16)?;
    w.strs(16, v.policies)?;
    w.key(17)?;
    w.hex(v.policy_set)?;
    w.key(18)?;
    w.value(&v.risk_score)?;
    w.key(19)?;
    w.factors(19, &v.risk_factors)?;
    Ok(w.cut)
}

/// The `truncated` member (when `mask` is not empty) and the closing brace.
fn close_entry(out: &mut Vec<u8>, mask: u32) -> Result<(), EntryError> {
    if mask != 0 {
        out.extend_from_slice(b",\"truncated\":[");
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if mask & (1 << i) != 0 {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.push(b'"');
            }
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    caps: Caps,
    cut: u32,
}

impl Writer<'_> {
    fn raw(&mut self, bytes: &[u8]) -> Io {
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// `,"name":` of member `i`.
    fn key(&mut self, i: usize) -> Io {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(NAMES[i].as_bytes());
        self.out.extend_from_slice(b"\":");
        Ok(())
    }

    /// Any value serde_json writes by itself (numbers, `null`).
    fn value<T: Serialize>(&mut self, value: &T) -> Result<(), EntryError> {
        value.serialize(&mut serde_json::Serializer::new(&mut *self.out))?;
        Ok(())
    }

    fn str(&mut self, member: usize, s: &str) -> Result<(), EntryError> {
        let kept = prefix(s, self.caps.bytes);
        if kept.len() < s.len() {
            self.cut |= 1 << member;
        }
        self.value(&kept)
    }

    fn opt_str(&mut self, member: usize, s: Option<&str>) -> Result<(), EntryError> {
        match s {
            Some(s) => self.str(member, s),
            None => self.raw(b"null").map_err(Into::into),
        }
    }

    fn strs(&mut self, member: usize, items: &[String]) -> Result<(), EntryError> {
        if items.len() > self.caps.items {
            self.cut |= 1 << member;
        }
        self.out.push(b'[');
        for (i, s) in items.iter().take(self.caps.items).enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.str(member, s)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn factors(&mut self, member: usize, factors: &Factors) -> Result<(), EntryError> {
        if factors.len() > self.caps.items {
            self.cut |= 1 << member;
        }
        self.out.push(b'[');
        for i in 0..factors.len().min(self.caps.items) {
            let Some((name, weight)) = factors.get(i) else {
                break;
            };
            if i > 0 {
                self.out.push(b',');
            }
            self.raw(b"{\"name\":")?;
            self.str(member, name)?;
            self.raw(b",\"weight\":")?;
            self.value(&weight)?;
            self.out.push(b'}');
        }
        self.out.push(b']');
        Ok(())
    }

    fn hex(&mut self, bytes: &[u8; 32]) -> Io {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.out.push(b'"');
        for b in bytes {
            self.out.push(DIGITS[usize::from(b >> 4)]);
            self.out.push(DIGITS[usize::from(b & 0xf)]);
        }
        self.out.push(b'"');
        Ok(())
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a character
/// boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl From<std::io::Error> for EntryError {
    fn from(e: std::io::Error) -> Self {
        EntryError::Malformed(serde_json::Error::io(e))
    }
}

pub(super) mod effect_wire {
    use serde::{Deserialize, Deserializer};

    use crate::record::Effect;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Effect, D::Error> {
        let s = <std::borrow::Cow<str>>::deserialize(d)?;
        [Effect::Allow, Effect::Deny, Effect::StepUp]
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown effect {s:?}")))
    }
}

pub(super) mod hex32 {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<str>>::deserialize(d)?;
        let bad = || serde::de::Error::custom("policy_set is not 64 lower-case hex digits");
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(bad());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(bad());
            };
            *byte = hi << 4 | lo;
        }
        Ok(out)
    }
}

/// A number, or `null` for a non-finite one (read back as NaN).
pub(super) mod number_or_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*x)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    pub(crate) fn record() -> DecisionRecord {
        DecisionRecord {
            id: "0190b7a4-5c3e-7a00-8000-0123456789ab".into(),
            ts_ms: 1_720_000_000_123,
            gateway: Arc::from("gw-1"),
            route: Some(Arc::from("app")),
            method: "GET".into(),
            host: "app.example".into(),
            path: "/reports/q3?x=\"1\"".into(),
            client_ip: "2001:db8::7".parse().unwrap(),
            subject: Some("did:ethr:0x1234".into()),
            auth_method: Some("vp_jwt"),
            credential_types: vec!["EmployeeCredential".into()],
            issuers: vec!["did:ethr:0xabcd".into()],
            effect: Effect::Deny,
            status: Some(403),
            reason: "policy_denied",
            policies: vec!["finance-only".into()],
            risk_score: 0.25,
            risk_factors: vec![risk::Factor {
                name: "new_network",
                weight: 0.2,
            }],
            policy_set: [0; 32],
            credential_ids: Vec::new(),
        }
    }

    fn encode(rec: &DecisionRecord, ids: &[String]) -> (Vec<u8>, Encoded) {
        let mut out = b"prefix".to_vec();
        let e = Entry {
            record: rec,
            policy_set: &[0xab; 32],
            credential_ids: ids,
        }
        .encode_into(&mut out)
        .unwrap();
        assert_eq!(&out[..6], b"prefix", "appends");
        (out[6..].to_vec(), e)
    }

    #[test]
    fn a_decision_encodes_to_the_documented_bytes() {
        let (bytes, e) = encode(&record(), &["urn:uuid:1".into()]);
        let want = concat!(
            r#"{"v":1,"id":"0190b7a4-5c3e-7a00-8000-0123456789ab","ts_ms":1720000000123,"#,
            r#""gateway":"gw-1","route":"app","method":"GET","host":"app.example","#,
            r#""path":"/reports/q3?x=\"1\"","client_ip":"2001:db8::7","subject":"did:ethr:0x1234","#,
            r#""auth_method":"vp_jwt","credential_types":["EmployeeCredential"],"#,
            r#""credential_ids":["urn:uuid:1"],"issuers":["did:ethr:0xabcd"],"effect":"deny","#,
            r#""status":403,"reason":"policy_denied","policies":["finance-only"],"#,
            r#""policy_set":"abababababababababababababababababababababababababababababababab","#,
            r#""risk_score":0.25,"risk_factors":[{"name":"new_network","weight":0.2}]}"#
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), want);
        assert_eq!(
            e,
            Encoded {
                len: want.len(),
                truncated: false
            }
        );
        let d = decode(&bytes).unwrap();
        assert_eq!(d.path, "/reports/q3?x=\"1\"");
        assert_eq!(d.effect, Effect::Deny);
        assert_eq!(d.policy_set, [0xab; 32]);
        assert!(d.truncated.is_empty());
        let mut again = Vec::new();
        d.encode_into(&mut again).unwrap();
        assert_eq!(again, bytes, "decode then encode gives the same bytes");
    }

    #[test]
    fn nulls_controls_and_non_finite_numbers() {
        let mut rec = record();
        rec.route = None;
        rec.subject = None;
        rec.auth_method = None;
        rec.status = None;
        rec.effect = Effect::StepUp;
        rec.path = "/a\u{1}\n\té/😀".into();
        rec.risk_score = f64::NAN;
        rec.risk_factors[0].weight = 1.8949292229176498e-157; // read back exactly
        rec.client_ip = "10.0.0.1".parse().unwrap();
        let (bytes, _) = encode(&rec, &[]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""route":null"#), "{text}");
        assert!(text.contains(r#""path":"/a\u0001\n\té/😀""#), "{text}");
        assert!(text.contains(r#""risk_score":null"#), "{text}");
        assert!(
            text.contains(r#""effect":"step_up","status":null"#),
            "{text}"
        );
        let d = decode(&bytes).unwrap();
        assert!(d.risk_score.is_nan());
        assert_eq!(d.risk_factors[0].weight, 1.8949292229176498e-157);
        assert_eq!(d.path, rec.path);
        let mut again = Vec::new();
        d.encode_into(&mut again).unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn an_oversized_decision_is_cut_to_fit_and_says_so() {
        let mut rec = record();
        rec.path = format!("/{}", "é".repeat(40_000)); // 80,001 bytes
        rec.host = "h".repeat(30_000);
        let (bytes, e) = encode(&rec, &["id".into()]);
        assert!(e.truncated);
        assert!(bytes.len() <= MAX_ENTRY_LEN, "{}", bytes.len());
        assert!(bytes.len() > MAX_ENTRY_LEN - TRUNCATED_RESERVE - 8);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.truncated, ["path"], "the longest is cut first");
        assert!(rec.path.starts_with(&d.path) && d.path.len() > 30_000);
        assert_eq!(d.host, rec.host);
        assert_eq!(d.method, "GET", "short strings kept whole");
        // Two long ones are cut to the same length.
        let mut both = rec.clone();
        both.host = "h".repeat(40_000);
        let cut = decode(&encode(&both, &[]).0).unwrap();
        assert_eq!(cut.truncated, ["host", "path"]);
        assert!(
            cut.host.len().abs_diff(cut.path.len()) <= 2,
            "{} {}",
            cut.host.len(),
            cut.path.len()
        );
        // Deterministic, and stable through decode and encode.
        assert!(encode(&rec, &["id".into()]).0 == bytes);
        let mut again = Vec::new();
        d.encode_into(&mut again).unwrap();
        assert!(again == bytes);
    }

    #[test]
    fn too_many_items_cut_the_arrays() {
        let rec = record();
        let ids: Vec<String> = (0..40_000).map(|i| format!("c{i}")).collect();
        let (bytes, e) = encode(&rec, &ids);
        assert!(e.truncated && bytes.len() <= MAX_ENTRY_LEN);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.effect, Effect::Deny);
        assert_eq!(
            d.truncated,
            ["credential_ids"],
            "one long list, the rest whole"
        );
        assert_eq!(d.id, rec.id);
        assert!(d.credential_ids.len() < ids.len() && !d.credential_ids.is_empty());
        assert_eq!(d.credential_ids[..], ids[..d.credential_ids.len()]);
    }

    #[test]
    fn readers_refuse_other_versions_and_members() {
        let (bytes, _) = encode(&record(), &[]);
        let text = String::from_utf8(bytes).unwrap();
        let v2 = text.replacen("\"v\":1", "\"v\":2", 1);
        assert!(matches!(decode(v2.as_bytes()), Err(EntryError::Version(2))));
        let extra = text.replacen("{\"v\":1", "{\"v\":1,\"x\":0", 1);
        assert!(matches!(
            decode(extra.as_bytes()),
            Err(EntryError::Malformed(_))
        ));
        let bad_hex = text.replacen("\"policy_set\":\"ab", "\"policy_set\":\"AB", 1);
        assert!(decode(bad_hex.as_bytes()).is_err());
        let cut = text.replacen("}]}", "}],\"truncated\":[\"nope\"]}", 1);
        assert!(matches!(
            decode(cut.as_bytes()),
            Err(EntryError::UnknownTruncated(_))
        ));
        assert!(decode(b"").is_err() && decode(b"\0\0").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_decision_fits_and_reads_back(
            path in ".{0,300}",
            subject in proptest::option::of(".{0,80}"),
            ids in proptest::collection::vec(".{0,40}", 0..5),
            big in 0usize..3,
            score in proptest::num::f64::ANY,
        ) {
            let mut rec = record();
            rec.path = path.repeat(1 + big * 150);
            rec.subject = subject;
            rec.risk_score = score;
            let (bytes, e) = encode(&rec, &ids);
            proptest::prop_assert!(bytes.len() <= MAX_ENTRY_LEN);
            let d = decode(&bytes).unwrap();
            proptest::prop_assert_eq!(d.truncated.is_empty(), !e.truncated);
            if !e.truncated {
                proptest::prop_assert_eq!(&d.path, &rec.path);
                proptest::prop_assert_eq!(&d.credential_ids, &ids);
            }
            let mut again = Vec::new();
            d.encode_into(&mut again).unwrap();
            proptest::prop_assert!(again == bytes);
        }
    }
}
