//! What `verify_log` reports: each thing found wrong ([`Finding`]), named
//! by entry index and file, and the summary an auditor reads ([`Report`]).

use std::fmt;

use super::checkpoint::SignedCheckpoint;

/// Findings past this many are counted, not listed.
const MAX_FINDINGS: usize = 100;

/// One thing [`verify_log`](super::verify_log) found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    CheckpointMissing,
    CheckpointMalformed {
        reason: String,
    },
    /// The checkpoint's signature does not verify with the key given.
    BadSignature {
        reason: String,
    },
    /// Entry `index` is not what the signed tree holds there.
    EntryEdited {
        index: u64,
        path: String,
    },
    /// `count` entries from `index` on are gone from the bundle.
    EntryDeleted {
        index: u64,
        count: u64,
        path: String,
    },
    /// `count` entries that the signed tree does not hold appear at `index`.
    EntryInserted {
        index: u64,
        count: u64,
        path: String,
    },
    /// Entry `index` holds the entry signed at `holds` (entries swapped).
    EntriesReordered {
        index: u64,
        holds: u64,
        path: String,
    },
    /// The bundles hold `found` entries, the checkpoint signed `signed`.
    Truncated {
        signed: u64,
        found: u64,
    },
    /// A bundle in the middle is gone: entries from `first_entry` on.
    BundleMissing {
        path: String,
        first_entry: u64,
    },
    /// A bundle's bytes end inside an entry.
    BundleMalformed {
        path: String,
        reason: String,
    },
    TileMissing {
        path: String,
    },
    /// A hash tile disagrees with the entries (which match the signed tree),
    /// first at the hash covering `first_entry`.
    TileMismatch {
        path: String,
        first_entry: u64,
    },
    /// A bundle and its tile disagree and neither hashes up to the signed
    /// root: entries from `first_entry` on are in doubt.
    Unverifiable {
        path: String,
        first_entry: u64,
    },
    /// The tree over the entries does not have the checkpoint's root.
    RootMismatch {
        size: u64,
    },
    /// An entry that is not a version-1 decision.
    EntryUndecodable {
        index: u64,
        reason: String,
    },
    /// An entry that decodes but is not in canonical form.
    EntryNotCanonical {
        index: u64,
    },
}

impl Finding {
    /// The first entry this finding puts in doubt, if it is about entries.
    pub fn entry(&self) -> Option<u64> {
        match self {
            Finding::EntryEdited { index, .. }
            | Finding::EntryDeleted { index, .. }
            | Finding::EntryInserted { index, .. }
            | Finding::EntriesReordered { index, .. }
            | Finding::EntryUndecodable { index, .. }
            | Finding::EntryNotCanonical { index } => Some(*index),
            Finding::Truncated { found, .. } => Some(*found),
            Finding::Unverifiable { first_entry, .. }
            | Finding::BundleMissing { first_entry, .. } => Some(*first_entry),
            _ => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::CheckpointMissing => write!(f, "checkpoint: missing"),
            Finding::CheckpointMalformed { reason } => write!(f, "checkpoint: {reason}"),
            Finding::BadSignature { reason } => {
                write!(f, "checkpoint: signature does not verify: {reason}")
            }
            Finding::EntryEdited { index, path } => write!(f, "entry {index} was edited ({path})"),
            Finding::EntryDeleted { index, count, path } => {
                write!(f, "{count} entries deleted at entry {index} ({path})")
            }
            Finding::EntryInserted { index, count, path } => {
                write!(f, "{count} entries inserted at entry {index} ({path})")
            }
            Finding::EntriesReordered { index, holds, path } => {
                write!(f, "entry {index} holds entry {holds}: entries reordered ({path})")
            }
            Finding::Truncated { signed, found } => {
                write!(f, "log truncated: {found} entries, the checkpoint signed {signed}")
            }
            Finding::BundleMissing { path, first_entry } => {
                write!(f, "{path}: missing (entries from {first_entry})")
            }
            Finding::BundleMalformed { path, reason } => write!(f, "{path}: {reason}"),
            Finding::TileMissing { path } => write!(f, "{path}: missing"),
            Finding::TileMismatch { path, first_entry } => write!(
                f,
                "{path} disagrees with the signed entries (at entry {first_entry})"
            ),
            Finding::Unverifiable { path, first_entry } => write!(
                f,
                "{path} and its tile disagree and neither matches the signed root (from entry {first_entry})"
            ),
            Finding::RootMismatch { size } => {
                write!(f, "the tree of the first {size} entries does not have the signed root")
            }
            Finding::EntryUndecodable { index, reason } => {
                write!(f, "entry {index} is not a decision: {reason}")
            }
            Finding::EntryNotCanonical { index } => {
                write!(f, "entry {index} is not in canonical form")
            }
        }
    }
}

/// What [`verify_log`](super::verify_log) checked and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The checkpoint as read (see the findings for its signature).
    pub checkpoint: Option<SignedCheckpoint>,
    /// Entries read from the bundles.
    pub entries: u64,
    pub bundles: u64,
    /// Hash tiles compared.
    pub tiles: u64,
    pub findings: Vec<Finding>,
    /// Findings past the first hundred, not listed.
    pub more_findings: u64,
}

impl Report {
    /// Nothing found wrong.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty() && self.checkpoint.is_some()
    }

    /// The first entry at fault, if any.
    pub fn first_bad_entry(&self) -> Option<u64> {
        self.findings.iter().filter_map(Finding::entry).min()
    }

    pub(crate) fn find(&mut self, finding: Finding) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(finding);
        } else {
            self.more_findings += 1;
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cp) = &self.checkpoint {
            writeln!(
                f,
                "checkpoint: {} size {} root {}",
                cp.origin, cp.size, cp.root
            )?;
        }
        writeln!(
            f,
            "checked {} entries in {} bundles, {} tiles",
            self.entries, self.bundles, self.tiles
        )?;
        if self.is_ok() {
            return writeln!(f, "ok");
        }
        for finding in &self.findings {
            writeln!(f, "FAIL {finding}")?;
        }
        if self.more_findings > 0 {
            writeln!(f, "… and {} more", self.more_findings)?;
        }
        Ok(())
    }
}
