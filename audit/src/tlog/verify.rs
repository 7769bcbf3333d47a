//! `verify_log`: what an outside auditor checks, from the public files
//! only (never `private/`): the checkpoint's signature, the tree recomputed
//! from the entry bundles, every hash tile against it, and the root against
//! the checkpoint. What disagrees is named (entry index, file) and, where
//! the signed tiles tell, classified: an entry edited, deleted, inserted,
//! reordered, or the log truncated.
//!
//! Blame needs a reference. A stored tile is *authentic* when it hashes up,
//! through its stored parents, to the signed root; an entry bundle that
//! disagrees with an authentic tile is at fault (and classified against it),
//! a tile that disagrees with a bundle that hashes up to the root is.

use std::fs;
use std::io;

use tlog_tiles::{record_hash, Hash, Tile};

use super::checkpoint::SignedCheckpoint;
use super::edge::{read_edge_tiles, tile_bytes, tile_hashes, tile_levels, Edge, SealedTile};
use super::entry::decode;
use super::error::TlogError;
use super::layout::{
    bundle_path, read_bundle, read_tile, tile_path, Files, Frames, CHECKPOINT, HASH_LEN,
    TILE_HEIGHT, TILE_WIDTH,
};
use super::report::{Finding, Report};

/// Check the log in `dir` against the verifier key `vkey`
/// (`origin+hash+base64`). I/O errors other than missing files are errors;
/// everything about the log's contents is a [`Finding`].
///
/// `files` is the log's directory, or a [`Files`] that also names the
/// archive directories sealed tiles and bundles were moved to.
pub fn verify_log<'a>(files: impl Into<Files<'a>>, vkey: &str) -> Result<Report, TlogError> {
    let files = files.into();
    let dir = files.dir;
    let mut report = Report::default();
    let note = match fs::read(dir.join(CHECKPOINT)) {
        Ok(note) => note,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.find(Finding::CheckpointMissing);
            return Ok(report);
        }
        Err(e) => {
            return Err(TlogError::Io {
                path: dir.join(CHECKPOINT),
                source: e,
            })
        }
    };
    let checkpoint = match SignedCheckpoint::verify(&note, vkey) {
        Ok(cp) => cp,
        Err(e) => {
            let claimed = SignedCheckpoint::parse_unverified(&note);
            match (e, claimed) {
                (
                    e @ (TlogError::CheckpointSignature { .. } | TlogError::OriginMismatch { .. }),
                    Ok(cp),
                ) => {
                    report.find(Finding::BadSignature {
                        reason: e.to_string(),
                    });
                    cp
                }
                (e, _) => {
                    report.find(Finding::CheckpointMalformed {
                        reason: e.to_string(),
                    });
                    return Ok(report);
                }
            }
        }
    };
    report.checkpoint = Some(checkpoint.clone());
    let mut walk = Walk::new(files, &checkpoint, report)?;
    walk.bundles()?;
    walk.finish()?;
    Ok(walk.report)
}

/// The walk over the bundles, recomputing the tree.
struct Walk<'a> {
    files: Files<'a>,
    cp: &'a SignedCheckpoint,
    report: Report,
    edge: Edge,
    sealed: Vec<SealedTile>,
    /// The stored unsealed tiles of the checkpoint's tree, per tile level,
    /// if all were there.
    stored_edge: Option<Vec<Vec<Hash>>>,
    /// Per tile level, the last parent tile read: (index, hashes, authentic).
    parents: Vec<Option<(u64, Vec<Hash>, bool)>>,
}

impl<'a> Walk<'a> {
    fn new(
        files: Files<'a>,
        cp: &'a SignedCheckpoint,
        mut report: Report,
    ) -> Result<Self, TlogError> {
        // The edge's tiles are partial: never archived.
        let stored_edge = match read_edge_tiles(files.dir, cp.size)? {
            Ok(tiles) => Some(tiles),
            Err(path) => {
                report.find(Finding::TileMissing { path });
                None
            }
        };
        Ok(Walk {
            files,
            cp,
            report,
            edge: Edge::new(),
            sealed: Vec::new(),
            stored_edge,
            parents: Vec::new(),
        })
    }

    fn bundles(&mut self) -> Result<(), TlogError> {
        let size = self.cp.size;
        let count = size.div_ceil(TILE_WIDTH);
        for k in 0..count {
            let width = (size - k * TILE_WIDTH).min(TILE_WIDTH);
            let Some(found) = read_bundle(self.files, k, width)? else {
                // This bundle and the next gone (or this the last): the log
                // ends here. (A forged size is not walked bundle by bundle.)
                let next = || (size - (k + 1) * TILE_WIDTH).min(TILE_WIDTH);
                if k + 1 == count || read_bundle(self.files, k + 1, next())?.is_none() {
                    self.report.find(Finding::Truncated {
                        signed: size,
                        found: k * TILE_WIDTH,
                    });
                    return Ok(());
                }
                self.report.find(Finding::BundleMissing {
                    path: bundle_path(k, width),
                    first_entry: k * TILE_WIDTH,
                });
                self.substitute(k, width)?;
                continue;
            };
            self.report.bundles += 1;
            self.bundle(k, width, &found.path, &found.bytes)?;
        }
        Ok(())
    }

    /// Check bundle `k` (`width` entries expected) against its tile.
    fn bundle(&mut self, k: u64, width: u64, path: &str, bytes: &[u8]) -> Result<(), TlogError> {
        let exact = path == bundle_path(k, width);
        let mut frames = Frames::new(bytes);
        let entries: Vec<&[u8]> = if exact {
            frames.by_ref().collect()
        } else {
            frames
                .by_ref()
                .take(usize::try_from(width).unwrap_or(usize::MAX))
                .collect()
        };
        if exact && frames.trailing().0 > 0 {
            self.report.find(Finding::BundleMalformed {
                path: path.to_owned(),
                reason: format!("{} bytes after the last whole entry", frames.trailing().0),
            });
        }
        let base = k * TILE_WIDTH;
        for (i, e) in entries.iter().enumerate() {
            self.check_entry(base + i as u64, e);
        }
        self.report.entries += entries.len() as u64;
        let ours: Vec<Hash> = entries.iter().map(|e| record_hash(e)).collect();
        let stored = self.stored_tile(0, k, width)?;
        if stored.is_some() {
            self.report.tiles += 1;
        }
        if stored.as_deref() == Some(&ours[..]) {
            return self.feed(&ours);
        }
        let stored_ok = match &stored {
            Some(t) => self.authentic(0, k, t)?,
            None => false,
        };
        if let (true, Some(t)) = (stored_ok, &stored) {
            let last = k + 1 == self.cp.size.div_ceil(TILE_WIDTH);
            let finding = classify(&ours, t, base, path, last, self.cp.size);
            self.report.find(finding);
            return self.feed(&t.clone());
        }
        if ours.len() as u64 == width && self.authentic(0, k, &ours)? {
            if stored.is_some() {
                let first = first_difference(&ours, stored.as_deref().unwrap_or(&[]));
                self.report.find(Finding::TileMismatch {
                    path: tile_path(0, k, width),
                    first_entry: base + first as u64,
                });
            }
            return self.feed(&ours);
        }
        let first = first_difference(&ours, stored.as_deref().unwrap_or(&[]));
        self.report.find(Finding::Unverifiable {
            path: path.to_owned(),
            first_entry: base + first as u64,
        });
        self.feed(&ours)
    }

    /// A missing bundle: go on with its tile's hashes if they are authentic.
    fn substitute(&mut self, k: u64, width: u64) -> Result<(), TlogError> {
        match self.stored_tile(0, k, width)? {
            Some(t) if self.authentic(0, k, &t)? => self.feed(&t),
            _ => Ok(()),
        }
    }

    fn check_entry(&mut self, index: u64, bytes: &[u8]) {
        match decode(bytes) {
            Err(e) => self.report.find(Finding::EntryUndecodable {
                index,
                reason: e.to_string(),
            }),
            Ok(d) => {
                let mut again = Vec::with_capacity(bytes.len());
                if d.encode_into(&mut again).is_err() || again != bytes {
                    self.report.find(Finding::EntryNotCanonical { index });
                }
            }
        }
    }

    /// Leaf hashes into the recomputed tree; its full tiles above level 0
    /// are compared with the stored ones.
    fn feed(&mut self, leaves: &[Hash]) -> Result<(), TlogError> {
        for leaf in leaves {
            self.edge.push(*leaf, &mut self.sealed)?;
        }
        for tile in std::mem::take(&mut self.sealed) {
            if tile.level > 0 {
                self.compare(tile.level, tile.index, &tile.hashes)?;
            }
        }
        Ok(())
    }

    fn compare(&mut self, level: u8, index: u64, ours: &[Hash]) -> Result<(), TlogError> {
        self.report.tiles += 1;
        let width = ours.len() as u64;
        match self.stored_tile(level, index, width)? {
            None => self.report.find(Finding::TileMissing {
                path: tile_path(level, index, width),
            }),
            Some(t) if t != ours => {
                let first = first_difference(ours, &t) as u64;
                let shift = u32::from(TILE_HEIGHT) * u32::from(level);
                self.report.find(Finding::TileMismatch {
                    path: tile_path(level, index, width),
                    first_entry: (index * TILE_WIDTH + first) << shift,
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The unsealed tiles and the root of the recomputed tree.
    fn finish(&mut self) -> Result<(), TlogError> {
        let size = self.cp.size;
        if self.edge.size() != size {
            if !self
                .report
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Truncated { .. }))
            {
                self.report.find(Finding::Truncated {
                    signed: size,
                    found: self.edge.size(),
                });
            }
            return Ok(());
        }
        for level in 0..tile_levels(size) {
            let ours = self.edge.partial(level).to_vec();
            if !ours.is_empty() && level > 0 {
                let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
                self.compare(level, size >> shift, &ours)?;
            }
        }
        if self.edge.root()? != self.cp.root {
            self.report.find(Finding::RootMismatch { size });
        }
        Ok(())
    }

    /// Stored tile (`level`, `index`), `width` hashes, if there whole.
    fn stored_tile(
        &self,
        level: u8,
        index: u64,
        width: u64,
    ) -> Result<Option<Vec<Hash>>, TlogError> {
        Ok(read_tile(self.files, level, index, width)?
            .filter(|f| f.bytes.len() as u64 == width * HASH_LEN as u64)
            .map(|f| tile_hashes(&f.bytes)))
    }

    /// Whether `hashes`, as tile (`level`, `index`) of the checkpoint's
    /// tree, hash up through the stored tiles to the signed root.
    fn authentic(&mut self, level: u8, index: u64, hashes: &[Hash]) -> Result<bool, TlogError> {
        let size = self.cp.size;
        let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
        if index == size >> shift && hashes.len() as u64 != TILE_WIDTH {
            // An unsealed tile: with the other stored ones, the root.
            let Some(mut tiles) = self.stored_edge.clone() else {
                return Ok(false);
            };
            let Some(slot) = tiles.get_mut(usize::from(level)) else {
                return Ok(false);
            };
            *slot = hashes.to_vec();
            return Ok(Edge::from_tiles(size, &tiles)
                .map(|e| e.root().ok() == Some(self.cp.root))
                .unwrap_or(false));
        }
        if hashes.len() as u64 != TILE_WIDTH {
            return Ok(false);
        }
        let up = level + 1;
        let parent = index / TILE_WIDTH;
        let l = usize::from(up);
        if self.parents.len() <= l {
            self.parents.resize(l + 1, None);
        }
        if !matches!(&self.parents[l], Some((n, _, _)) if *n == parent) {
            let width = ((size >> (shift)) - parent * TILE_WIDTH).min(TILE_WIDTH);
            let entry = match self.stored_tile(up, parent, width)? {
                Some(p) => {
                    let ok = self.authentic(up, parent, &p)?;
                    (parent, p, ok)
                }
                None => (parent, Vec::new(), false),
            };
            self.parents[l] = Some(entry);
        }
        let Some((_, p, ok)) = &self.parents[l] else {
            return Ok(false);
        };
        let position = usize::try_from(index % TILE_WIDTH).unwrap_or(usize::MAX);
        let ours = Tile::subtree_hash(&tile_bytes(hashes));
        Ok(*ok && p.get(position) == Some(&ours))
    }
}

fn first_difference(a: &[Hash], b: &[Hash]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// What happened to bundle entries `ours` (leaf hashes) that an authentic
/// tile says should be `signed`; `base` is the bundle's first entry.
fn classify(
    ours: &[Hash],
    signed: &[Hash],
    base: u64,
    path: &str,
    last: bool,
    size: u64,
) -> Finding {
    let first = first_difference(ours, signed);
    let index = base + first as u64;
    let path = path.to_owned();
    match ours.len().cmp(&signed.len()) {
        std::cmp::Ordering::Equal => {
            let (mut a, mut b) = (ours.to_vec(), signed.to_vec());
            a.sort_by_key(|h| h.0);
            b.sort_by_key(|h| h.0);
            match ours
                .get(first)
                .and_then(|o| signed.iter().position(|h| h == o))
            {
                Some(j) if a == b => Finding::EntriesReordered {
                    index,
                    holds: base + j as u64,
                    path,
                },
                _ => Finding::EntryEdited { index, path },
            }
        }
        std::cmp::Ordering::Less => {
            let d = signed.len() - ours.len();
            if first == ours.len() && last {
                Finding::Truncated {
                    signed: size,
                    found: base + ours.len() as u64,
                }
            } else if ours[first..] == signed[first + d..] {
                Finding::EntryDeleted {
                    index,
                    count: d as u64,
                    path,
                }
            } else {
                Finding::EntryEdited { index, path }
            }
        }
        std::cmp::Ordering::Greater => {
            let d = ours.len() - signed.len();
            if ours[first + d..] == signed[first..] {
                Finding::EntryInserted {
                    index,
                    count: d as u64,
                    path,
                }
            } else {
                Finding::EntryEdited { index, path }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn h(i: u8) -> Hash {
        Hash([i; 32])
    }

    #[test]
    fn bundle_damage_is_classified_against_the_signed_hashes() {
        let signed: Vec<Hash> = (0..6).map(h).collect();
        let p = "tile/entries/000";
        let edited = [h(0), h(1), h(9), h(3), h(4), h(5)];
        assert_eq!(
            classify(&edited, &signed, 256, p, false, 600),
            Finding::EntryEdited {
                index: 258,
                path: p.into()
            }
        );
        let deleted = [h(0), h(1), h(3), h(4), h(5)];
        assert_eq!(
            classify(&deleted, &signed, 0, p, false, 600),
            Finding::EntryDeleted {
                index: 2,
                count: 1,
                path: p.into()
            }
        );
        let inserted = [h(0), h(1), h(9), h(2), h(3), h(4), h(5)];
        assert_eq!(
            classify(&inserted, &signed, 0, p, false, 600),
            Finding::EntryInserted {
                index: 2,
                count: 1,
                path: p.into()
            }
        );
        let swapped = [h(0), h(4), h(2), h(3), h(1), h(5)];
        assert_eq!(
            classify(&swapped, &signed, 0, p, false, 600),
            Finding::EntriesReordered {
                index: 1,
                holds: 4,
                path: p.into()
            }
        );
        let cut = [h(0), h(1), h(2)];
        assert_eq!(
            classify(&cut, &signed, 512, p, true, 518),
            Finding::Truncated {
                signed: 518,
                found: 515
            }
        );
        // Not the last bundle: entries gone from its end.
        assert_eq!(
            classify(&cut, &signed, 0, p, false, 600),
            Finding::EntryDeleted {
                index: 3,
                count: 3,
                path: p.into()
            }
        );
    }
}
