//! Policy bundles: a policy set as one content-addressed file, the unit
//! administrators approve on chain (`[policy] source = "chain"`).
//!
//! A bundle holds the Cedar schema's text and every policy file's name and
//! text. Its encoding is canonical, and is exactly what the engine hashes
//! to name a policy set ([`crate::PolicyEngine::policy_set_digest`]), so
//! the bundle's hash, the hash approved on chain and the `policy_set` every
//! decision records are one value:
//!
//! ```text
//! bundle = part(schema) ‖ for each policy file, by name: part(name) ‖ part(text)
//! part(b) = len(b) as 8 bytes big-endian ‖ b
//! hash   = SHA-256(bundle)
//! ```
//!
//! Decoding accepts only that form: UTF-8 texts, file names that are plain
//! `*.cedar` names (no folders) in strictly ascending byte order (so one
//! set has one encoding), at least one policy file, nothing after the last
//! part, and at most [`MAX_BUNDLE_BYTES`] in all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::{files_in, policies_by_id, read_sources};
use crate::PolicyError;

/// The largest bundle read or written: far above any real policy set.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;

/// The longest policy file name in a bundle.
const MAX_NAME_BYTES: usize = 255;

/// A policy set as schema text and named policy texts, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    schema: String,
    policies: Vec<(String, String)>,
}

/// Why bytes are not the bundle they should be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("the bundle's SHA-256 is {actual}, not the approved {expected}: refusing it")]
    HashMismatch { expected: String, actual: String },
    #[error("the bundle is {0} bytes; the limit is {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    #[error("the bundle is truncated (a part's length runs past its end)")]
    Truncated,
    #[error("the bundle's {0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("the bundle names a policy file {0:?}: want a plain NAME.cedar, no folders")]
    BadName(String),
    #[error("the bundle's policy files are not in strictly ascending name order at {0:?}")]
    NotCanonical(String),
    #[error("the bundle holds no policy file")]
    Empty,
    #[error("two policy files are named {0:?}; a bundle needs unique file names")]
    DuplicateName(String),
}

/// What changed from one bundle to another, by policy id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleDiff {
    pub schema_changed: bool,
    /// (id, file) of policies only in the newer bundle.
    pub added: Vec<(String, String)>,
    /// (id, file) of policies only in the older bundle.
    pub removed: Vec<(String, String)>,
    /// (id, file in the newer bundle) of policies whose text changed.
    pub changed: Vec<(String, String)>,
}

impl BundleDiff {
    pub fn is_empty(&self) -> bool {
        !self.schema_changed
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
    }

    /// One line per change: `+ id (file)`, `- id (file)`, `~ id (file)`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.schema_changed {
            out.push("~ schema".to_owned());
        }
        for (sign, list) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            out.extend(list.iter().map(|(id, f)| format!("{sign} {id} ({f})")));
        }
        out
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.ends_with(".cedar")
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

impl Bundle {
    /// A bundle of a schema and named policy texts (sorted here; names must
    /// be unique plain `*.cedar` names). Not validated as Cedar: the engine
    /// does that when it loads it.
    pub fn new(schema: String, mut policies: Vec<(String, String)>) -> Result<Self, BundleError> {
        if policies.is_empty() {
            return Err(BundleError::Empty);
        }
        policies.sort_by(|a, b| a.0.cmp(&b.0));
        for w in policies.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(BundleError::DuplicateName(w[0].0.clone()));
            }
        }
        if let Some((name, _)) = policies.iter().find(|(n, _)| !is_plain_name(n)) {
            return Err(BundleError::BadName(name.clone()));
        }
        Ok(Self { schema, policies })
    }

    /// The bundle of a schema file and policy files or folders of
    /// `*.cedar`, as `[policy]` names them.
    pub fn from_files(schema: &Path, policies: &[PathBuf]) -> Result<Self, PolicyError> {
        let (schema, sources) = read_sources(schema, policies)?;
        Self::new(schema, sources).map_err(|e| PolicyError::Bundle(e.to_string()))
    }

    /// The bundle of a folder: its one `*.cedarschema` file and its
    /// `*.cedar` files.
    pub fn from_folder(dir: &Path) -> Result<Self, PolicyError> {
        let schemas = files_in(dir, "cedarschema")?;
        match schemas.as_slice() {
            [one] => Self::from_files(one, &[dir.to_owned()]),
            [] => Err(PolicyError::Bundle(format!(
                "{} holds no *.cedarschema file; a bundle needs the schema beside its policies",
                dir.display()
            ))),
            _ => Err(PolicyError::Bundle(format!(
                "{} holds {} *.cedarschema files; keep exactly one",
                dir.display(),
                schemas.len()
            ))),
        }
    }

    /// The canonical encoding (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let len = 8
            + self.schema.len()
            + self
                .policies
                .iter()
                .map(|(n, t)| 16 + n.len() + t.len())
                .sum::<usize>();
        let mut out = Vec::with_capacity(len);
        let mut part = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        };
        part(self.schema.as_bytes());
        for (name, text) in &self.policies {
            part(name.as_bytes());
            part(text.as_bytes());
        }
        out
    }

    /// Read a bundle's canonical encoding; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let mut r = Reader(bytes);
        let schema = r.part("schema")?;
        let mut policies: Vec<(String, String)> = Vec::new();
        while !r.0.is_empty() {
            let name = r.part("policy file name")?;
            if !is_plain_name(&name) {
                return Err(BundleError::BadName(name));
            }
            if policies.last().is_some_and(|(prev, _)| *prev >= name) {
                return Err(BundleError::NotCanonical(name));
            }
            let text = r.part("policy text")?;
            policies.push((name, text));
        }
        if policies.is_empty() {
            return Err(BundleError::Empty);
        }
        Ok(Self { schema, policies })
    }

    /// Read a bundle that must hash to `expected`: the hash is checked
    /// before anything is parsed.
    pub fn verify(bytes: &[u8], expected: &[u8; 32]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let actual = hash_bytes(bytes);
        if actual != *expected {
            return Err(BundleError::HashMismatch {
                expected: hex(expected),
                actual: hex(&actual),
            });
        }
        Self::decode(bytes)
    }

    /// SHA-256 of the encoding: the policy set's name.
    pub fn hash(&self) -> [u8; 32] {
        hash_bytes(&self.encode())
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// (file name, text) of each policy file, by name.
    pub fn policies(&self) -> &[(String, String)] {
        &self.policies
    }

    /// Write each file into `dir` (created): the schema as
    /// `schema.cedarschema` and the policy files by name. For reading a
    /// bundle with other tools; `from_folder` reads it back to the same hash.
    pub fn unpack(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("schema.cedarschema"), &self.schema)?;
        for (name, text) in &self.policies {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }

    /// What changes from `self` (the older) to `newer`, by policy id.
    pub fn diff(&self, newer: &Bundle) -> Result<BundleDiff, PolicyError> {
        let old = policies_by_id(&self.policies)?;
        let new = policies_by_id(&newer.policies)?;
        let mut d = BundleDiff {
            schema_changed: self.schema != newer.schema,
            ..BundleDiff::default()
        };
        for (id, (file, text)) in &new {
            match old.get(id) {
                None => d.added.push((id.clone(), file.clone())),
                Some((_, before)) if before != text => d.changed.push((id.clone(), file.clone())),
                Some(_) => {}
            }
        }
        let gone: BTreeMap<_, _> = old
            .iter()
            .filter(|(id, _)| !new.contains_key(*id))
            .collect();
        d.removed = gone
            .into_iter()
            .map(|(id, (file, _))| (id.clone(), file.clone()))
            .collect();
        Ok(d)
    }
}

/// The unread rest of an encoding.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    /// One length-prefixed part, as UTF-8.
    fn part(&mut self, what: &'static str) -> Result<String, BundleError> {
        let (len, tail) = self
            .0
            .split_first_chunk::<8>()
            .ok_or(BundleError::Truncated)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| BundleError::Truncated)?;
        if len > tail.len() {
            return Err(BundleError::Truncated);
        }
        let (b, tail) = tail.split_at(len);
        self.0 = tail;
        String::from_utf8(b.to_vec()).map_err(|_| BundleError::NotUtf8(what))
    }
}

/// SHA-256 of bytes.
pub fn hash_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of a hash.
pub fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash from 64 hex digits, with or without `0x`.
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Bundle {
        Bundle::new(
            "namespace Didgate {}".into(),
            vec![
                (
                    "b.cedar".into(),
                    "permit(principal, action, resource);".into(),
                ),
                (
                    "a.cedar".into(),
                    "forbid(principal, action, resource);".into(),
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trips_and_sorts() {
        let b = sample();
        assert_eq!(b.policies()[0].0, "a.cedar");
        let bytes = b.encode();
        assert_eq!(Bundle::decode(&bytes).unwrap(), b);
        assert_eq!(Bundle::verify(&bytes, &b.hash()).unwrap(), b);
    }

    #[test]
    fn hash_is_the_engines_policy_set_digest() {
        let schema = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies/didgate.cedarschema"),
        )
        .unwrap();
        let policy = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies/demo.cedar"),
        )
        .unwrap();
        let b = Bundle::new(schema.clone(), vec![("demo.cedar".into(), policy.clone())]).unwrap();
        let engine =
            crate::PolicyEngine::from_strings(&schema, &[("demo.cedar".into(), policy)]).unwrap();
        assert_eq!(engine.policy_set_digest(), b.hash());
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        let b = sample();
        let bytes = b.encode();
        // A changed byte: the hash no longer matches.
        let mut tampered = bytes.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(matches!(
            Bundle::verify(&tampered, &b.hash()),
            Err(BundleError::HashMismatch { .. })
        ));
        // Truncated anywhere.
        for cut in [0, 4, 8, 20, bytes.len() - 1] {
            assert!(Bundle::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Trailing bytes.
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Bundle::decode(&long), Err(BundleError::Truncated));
        // Out of order, duplicate, bad names, no policies.
        let enc = |schema: &str, files: &[(&str, &str)]| {
            let mut out = Vec::new();
            let mut part = |b: &[u8]| {
                out.extend_from_slice(&(b.len() as u64).to_be_bytes());
                out.extend_from_slice(b);
            };
            part(schema.as_bytes());
            for (n, t) in files {
                part(n.as_bytes());
                part(t.as_bytes());
            }
            out
        };
        assert!(matches!(
            Bundle::decode(&enc("s", &[("b.cedar", ""), ("a.cedar", "")])),
            Err(BundleError::NotCanonical(_))
        ));
        assert!(matches!(
            Bundle::decode(&enc("s", &[("a.cedar", ""), ("a.cedar", "")])),
            Err(BundleError::NotCanonical(_))
        ));
        for bad in ["../x.cedar", "x.txt", ".cedar", "a/b.cedar", "a\nb.cedar"] {
            assert!(
                matches!(
                    Bundle::decode(&enc("s", &[(bad, "")])),
                    Err(BundleError::BadName(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(Bundle::decode(&enc("s", &[])), Err(BundleError::Empty));
        // A length that does not fit in memory.
        let mut huge = vec![0xff; 8];
        huge.extend_from_slice(b"x");
        assert_eq!(Bundle::decode(&huge), Err(BundleError::Truncated));
        assert!(matches!(
            Bundle::new("s".into(), vec![("a.cedar".into(), String::new()); 2]),
            Err(BundleError::DuplicateName(_))
        ));
    }

    #[test]
    fn parses_hashes() {
        let h = sample().hash();
        assert_eq!(parse_hash(&hex(&h)), Some(h));
        assert_eq!(parse_hash(&format!("0x{}", hex(&h))), Some(h));
        assert_eq!(parse_hash("0x12"), None);
        assert_eq!(parse_hash(&"g".repeat(64)), None);
    }

    #[test]
    fn diffs_by_policy_id() {
        let old = Bundle::new(
            "s".into(),
            vec![(
                "p.cedar".into(),
                "@id(\"keep\") permit(principal, action, resource);\n\
                 @id(\"edit\") permit(principal, action, resource);\n\
                 @id(\"drop\") permit(principal, action, resource);"
                    .into(),
            )],
        )
        .unwrap();
        let new = Bundle::new(
            "s".into(),
            vec![(
                "p.cedar".into(),
                "@id(\"keep\") permit(principal, action, resource);\n\
                 @id(\"edit\") forbid(principal, action, resource);\n\
                 @id(\"new\") permit(principal, action, resource);"
                    .into(),
            )],
        )
        .unwrap();
        let d = old.diff(&new).unwrap();
        assert!(!d.schema_changed);
        assert_eq!(d.added, vec![("new".into(), "p.cedar".into())]);
        assert_eq!(d.removed, vec![("drop".into(), "p.cedar".into())]);
        assert_eq!(d.changed, vec![("edit".into(), "p.cedar".into())]);
        assert!(old.diff(&old).unwrap().is_empty());
    }
}
