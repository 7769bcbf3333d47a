//! An entry read back for the SQL index ([`decode_row`]): the same checks
//! as [`decode`](super::decode), but every string borrowed from the entry's
//! bytes where the JSON needs no unescaping, and the arrays kept as the
//! JSON text the index stores, so indexing an entry copies what it must
//! and re-encodes nothing.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entry::{effect_wire, number_or_null, truncated_mask_of, EntryError};
use super::{ENTRY_VERSION, MAX_ENTRY_LEN};
use crate::record::Effect;

/// A decision as the index stores it, borrowing from the entry it was read
/// from (`'static` once [`DecisionRow::into_owned`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRow<'a> {
    #[serde(rename = "v")]
    version: u64,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub ts_ms: i64,
    #[serde(borrow)]
    pub gateway: Cow<'a, str>,
    #[serde(borrow)]
    pub route: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    #[serde(borrow)]
    pub host: Cow<'a, str>,
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    pub client_ip: IpAddr,
    #[serde(borrow)]
    pub subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub auth_method: Option<Cow<'a, str>>,
    /// JSON array of strings, as the entry holds it.
    #[serde(borrow, deserialize_with = "string_array")]
    pub credential_types: Cow<'a, str>,
    /// JSON array of strings, as the entry holds it.
    #[serde(borrow, deserialize_with = "string_array")]
    pub credential_ids: Cow<'a, str>,
    /// JSON array of strings, as the entry holds it.
    #[serde(borrow, deserialize_with = "string_array")]
    pub issuers: Cow<'a, str>,
    #[serde(with = "effect_wire")]
    pub effect: Effect,
    pub status: Option<u16>,
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
    /// JSON array of strings, as the entry holds it.
    #[serde(borrow, deserialize_with = "string_array")]
    pub policies: Cow<'a, str>,
    /// 64 lower-case hex digits.
    #[serde(borrow, deserialize_with = "hex64")]
    pub policy_set: Cow<'a, str>,
    #[serde(with = "number_or_null")]
    pub risk_score: f64,
    /// JSON array of `{"name","weight"}` objects, as the entry holds it.
    #[serde(borrow, deserialize_with = "factor_array")]
    pub risk_factors: Cow<'a, str>,
    #[serde(default, borrow)]
    truncated: Vec<Name<'a>>,
}

/// One string of an array, borrowed when it has no escapes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// Read one entry for the index (the bytes inside a bundle's length prefix).
pub fn decode_row(bytes: &[u8]) -> Result<DecisionRow<'_>, EntryError> {
    if bytes.len() > MAX_ENTRY_LEN {
        return Err(EntryError::TooLong(bytes.len()));
    }
    let row: DecisionRow<'_> = serde_json::from_slice(bytes)?;
    if row.version != u64::from(ENTRY_VERSION) {
        return Err(EntryError::Version(row.version));
    }
    truncated_mask_of(row.truncated.iter().map(|n| &*n.0))?;
    Ok(row)
}

impl DecisionRow<'_> {
    /// The same row, owning its strings.
    pub fn into_owned(self) -> DecisionRow<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        DecisionRow {
            version: self.version,
            id: own(self.id),
            ts_ms: self.ts_ms,
            gateway: own(self.gateway),
            route: self.route.map(own),
            method: own(self.method),
            host: own(self.host),
            path: own(self.path),
            client_ip: self.client_ip,
            subject: self.subject.map(own),
            auth_method: self.auth_method.map(own),
            credential_types: own(self.credential_types),
            credential_ids: own(self.credential_ids),
            issuers: own(self.issuers),
            effect: self.effect,
            status: self.status,
            reason: own(self.reason),
            policies: own(self.policies),
            policy_set: own(self.policy_set),
            risk_score: self.risk_score,
            risk_factors: own(self.risk_factors),
            truncated: self.truncated.into_iter().map(|n| Name(own(n.0))).collect(),
        }
    }
}

/// The raw JSON text of an array whose items all read as `T`, checked
/// without keeping them.
fn raw_array<'de, D, T>(d: D) -> Result<Cow<'de, str>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Items<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<T>()?.is_some() {}
            Ok(())
        }
    }
    let raw = <&'de RawValue>::deserialize(d)?;
    let mut inner = serde_json::Deserializer::from_str(raw.get());
    inner
        .deserialize_seq(Items::<T>(std::marker::PhantomData))
        .map_err(de::Error::custom)?;
    Ok(Cow::Borrowed(raw.get()))
}

fn string_array<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    raw_array::<D, Name<'de>>(d)
}

/// A risk factor, checked and not kept.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Factor<'a> {
    #[serde(borrow, rename = "name")]
    _name: Cow<'a, str>,
    #[serde(with = "number_or_null", rename = "weight")]
    _weight: f64,
}

fn factor_array<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    raw_array::<D, Factor<'de>>(d)
}

fn hex64<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    let s = Name::deserialize(d)?.0;
    if s.len() != 64 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(de::Error::custom(
            "policy_set is not 64 lower-case hex digits",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tlog::{decode, Entry};

    fn logged(rec: &crate::DecisionRecord) -> Vec<u8> {
        let mut buf = Vec::new();
        Entry {
            record: rec,
            policy_set: &rec.policy_set,
            credential_ids: &rec.credential_ids,
        }
        .encode_into(&mut buf)
        .unwrap();
        buf
    }

    /// Every field of the row is what `decode` reads, and the arrays are
    /// the JSON the index stored when it re-encoded `decode`'s vectors.
    #[test]
    fn a_row_holds_what_decode_reads_and_borrows_plain_strings() {
        let mut rec = super::super::entry::tests::record();
        rec.path = "/caf\u{e9}/\"quoted\"\\".into();
        let bytes = logged(&rec);
        let full = decode(&bytes).unwrap();
        let row = decode_row(&bytes).unwrap();
        assert_eq!(row.id, full.id);
        assert_eq!(row.ts_ms, full.ts_ms);
        assert_eq!(row.gateway, full.gateway);
        assert_eq!(row.route.as_deref(), full.route.as_deref());
        assert_eq!(row.method, full.method);
        assert_eq!(row.host, full.host);
        assert_eq!(row.path, full.path);
        assert_eq!(row.client_ip, full.client_ip);
        assert_eq!(row.subject.as_deref(), full.subject.as_deref());
        assert_eq!(row.auth_method.as_deref(), full.auth_method.as_deref());
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap();
        assert_eq!(row.credential_types, json(&full.credential_types));
        assert_eq!(row.credential_ids, json(&full.credential_ids));
        assert_eq!(row.issuers, json(&full.issuers));
        assert_eq!(row.policies, json(&full.policies));
        assert_eq!(
            row.risk_factors,
            serde_json::to_string(&full.risk_factors).unwrap()
        );
        assert_eq!(row.effect, full.effect);
        assert_eq!(row.status, full.status);
        assert_eq!(row.reason, full.reason);
        assert_eq!(row.policy_set, hex::encode(full.policy_set));
        assert_eq!(row.risk_score.to_bits(), full.risk_score.to_bits());
        // Plain strings are borrowed; one with escapes cannot be.
        assert!(matches!(row.id, Cow::Borrowed(_)));
        assert!(matches!(row.credential_types, Cow::Borrowed(_)));
        assert!(matches!(row.path, Cow::Owned(_)));
        assert_eq!(row.clone().into_owned(), row);
    }

    /// What `decode` refuses, `decode_row` refuses.
    #[test]
    fn a_row_is_refused_where_decode_refuses() {
        let bytes = logged(&super::super::entry::tests::record());
        let text = String::from_utf8(bytes).unwrap();
        let bad = [
            text.replacen("\"v\":1", "\"v\":2", 1),
            text.replacen("\"credential_types\":[", "\"credential_types\":[1,", 1),
            text.replacen("\"issuers\":[", "\"issuers\":{\"a\":", 1),
            text.replacen("\"risk_factors\":[", "\"risk_factors\":[{\"name\":1},", 1),
            text.replacen("\"policy_set\":\"", "\"policy_set\":\"A", 1),
            text.replacen("\"effect\":\"deny\"", "\"effect\":\"maybe\"", 1),
            format!("{},\"extra\":1}}", &text[..text.len() - 1]),
            text.replacen(
                "\"risk_factors\"",
                "\"truncated\":[\"nope\"],\"risk_factors\"",
                1,
            ),
        ];
        for b in bad {
            assert_ne!(b, text, "the edit applies");
            assert!(decode(b.as_bytes()).is_err(), "{b}");
            assert!(decode_row(b.as_bytes()).is_err(), "{b}");
        }
    }
}
