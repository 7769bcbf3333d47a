//! The unsealed right edge of the Merkle tree: for each tile level, the
//! hashes of the tile not yet full (with the levels inside it), which is all
//! a writer keeps in memory however long the log grows. Leaves go in one by
//! one through tlog_tiles' `stored_hashes`; full tiles come out to be
//! written and are forgotten; the root comes from tlog_tiles' `tree_hash`.
//!
//! The tree is RFC 9162 §2.1's (leaf SHA-256(0x00‖entry), node
//! SHA-256(0x01‖left‖right)); the hashing is tlog_tiles'.

use tlog_tiles::{
    node_hash, split_stored_hash_index, stored_hashes_for_record_hash, tree_hash, Error, Hash,
    HashReader,
};

use std::path::Path;

use super::error::TlogError;
use super::layout::{read_tile, tile_path, HASH_LEN, TILE_HEIGHT, TILE_WIDTH};

const H: u32 = TILE_HEIGHT as u32;

/// A tile that just became full.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SealedTile {
    pub level: u8,
    pub index: u64,
    pub hashes: Vec<Hash>,
}

impl SealedTile {
    /// The index of the first entry under this tile.
    pub fn first_entry(&self) -> u64 {
        first_entry(self.level, self.index)
    }
}

/// The first entry under tile (`level`, `index`) (saturating for absurd
/// coordinates read from damaged files).
pub(crate) fn first_entry(level: u8, index: u64) -> u64 {
    let shift = H * (u32::from(level) + 1);
    index
        .checked_shl(shift)
        .filter(|v| v >> shift == index)
        .unwrap_or(u64::MAX)
}

/// The edge of a tree of `size` leaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edge {
    size: u64,
    /// `rows[i]`: the level-`i` hashes under the current tile of tile level
    /// `i / 8`, from its first; `rows[i].len() == (size >> i) mod 2^(8 − i mod 8)`.
    rows: Vec<Vec<Hash>>,
}

impl Edge {
    /// The edge of the empty tree.
    pub fn new() -> Self {
        Edge::default()
    }

    /// The edge of a tree of `size` leaves, given for each tile level `L`
    /// (from 0) the hashes of its unsealed tile (tile (`L`, `size >> 8(L+1)`),
    /// of width `(size >> 8L) mod 256`: possibly none), in order.
    pub fn from_tiles(size: u64, tiles: &[Vec<Hash>]) -> Option<Edge> {
        if tiles.len() != usize::from(tile_levels(size)) {
            return None;
        }
        let mut edge = Edge {
            size,
            rows: Vec::new(),
        };
        for (l, hashes) in tiles.iter().enumerate() {
            let level = l as u32 * H;
            if hashes.len() as u64 != (size >> level) % TILE_WIDTH {
                return None;
            }
            edge.row(level as usize).extend_from_slice(hashes);
            // The levels inside the tile: pairs of the level below.
            for s in 1..H {
                let below = &edge.rows[(level + s - 1) as usize];
                let up: Vec<Hash> = below
                    .chunks_exact(2)
                    .map(|p| node_hash(p[0], p[1]))
                    .collect();
                edge.row((level + s) as usize).extend(up);
            }
        }
        Some(edge)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn row(&mut self, level: usize) -> &mut Vec<Hash> {
        if self.rows.len() <= level {
            self.rows.resize_with(level + 1, Vec::new);
        }
        &mut self.rows[level]
    }

    /// Add the next leaf; tiles it fills are pushed to `sealed`.
    pub fn push(&mut self, leaf: Hash, sealed: &mut Vec<SealedTile>) -> Result<(), Error> {
        let n = self.size;
        let hashes = stored_hashes_for_record_hash(n, leaf, &*self)?;
        self.size = n + 1;
        for (level, h) in hashes.iter().enumerate() {
            self.row(level).push(*h);
        }
        // Tiles fill bottom-up; a full tile's inner levels go with it.
        let mut level = 0;
        while level < hashes.len() {
            if self.rows[level].len() as u64 == TILE_WIDTH {
                let index = ((n + 1) >> level) / TILE_WIDTH - 1;
                sealed.push(SealedTile {
                    level: (level / H as usize) as u8,
                    index,
                    hashes: std::mem::take(&mut self.rows[level]),
                });
                for s in 1..H as usize {
                    if let Some(row) = self.rows.get_mut(level + s) {
                        row.clear();
                    }
                }
            }
            level += H as usize;
        }
        Ok(())
    }

    /// The hashes of the unsealed tile at tile level `level` (its width is
    /// their count; empty when the level has no partial tile).
    pub fn partial(&self, level: u8) -> &[Hash] {
        self.rows
            .get(usize::from(level) * H as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The root hash of the whole tree (RFC 9162 MTH).
    pub fn root(&self) -> Result<Hash, Error> {
        tree_hash(self.size, self)
    }
}

/// Tile levels of a tree of `size` leaves.
pub(crate) fn tile_levels(size: u64) -> u8 {
    let bits = 64 - size.leading_zeros();
    bits.div_ceil(H) as u8
}

/// The unsealed tiles of a tree of `size` leaves as stored in `dir`, one
/// per tile level (empty where the level has none), for [`Edge::from_tiles`];
/// `Err(path)` names one missing or short.
pub(crate) fn read_edge_tiles(
    dir: &Path,
    size: u64,
) -> Result<Result<Vec<Vec<Hash>>, String>, TlogError> {
    let mut tiles = Vec::new();
    for level in 0..tile_levels(size) {
        let shift = H * u32::from(level);
        let width = (size >> shift) % TILE_WIDTH;
        let index = size >> (shift + H);
        if width == 0 {
            tiles.push(Vec::new());
            continue;
        }
        match read_tile(dir, level, index, width)? {
            Some(f) if f.bytes.len() as u64 == width * HASH_LEN as u64 => {
                tiles.push(tile_hashes(&f.bytes))
            }
            _ => return Ok(Err(tile_path(level, index, width))),
        }
    }
    Ok(Ok(tiles))
}

/// Hashes as a tile's bytes.
pub(crate) fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_LEN);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

/// A tile's bytes as hashes (a trailing partial hash is dropped: callers
/// check the length).
pub(crate) fn tile_hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(HASH_LEN)
        .map(|c| {
            let mut h = [0u8; HASH_LEN];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect()
}

impl HashReader for Edge {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        indexes
            .iter()
            .map(|&x| {
                let (level, n) = split_stored_hash_index(x);
                let l = u32::from(level);
                let s = l % H;
                // The row's first node: the start of the current tile of
                // its tile level, in level-`l` nodes.
                let tile = self.size.checked_shr(l - s + H).unwrap_or(0);
                let base = tile << (H - s);
                let row = self
                    .rows
                    .get(usize::from(level))
                    .ok_or(Error::IndexesNotInTree)?;
                n.checked_sub(base)
                    .and_then(|i| row.get(usize::try_from(i).ok()?))
                    .copied()
                    .ok_or(Error::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tlog_tiles::{record_hash, stored_hashes, Tile};

    type Storage = Vec<Hash>;

    struct All(Storage);
    impl HashReader for All {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
            Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
        }
    }

    #[test]
    fn the_edge_seals_the_tiles_tlog_tiles_computes_and_keeps_the_root() {
        let mut all = All(Vec::new());
        let mut edge = Edge::new();
        let mut sealed = Vec::new();
        let n = 66_000u64;
        for i in 0..n {
            let data = i.to_be_bytes();
            let hs = stored_hashes(i, &data, &all).unwrap();
            all.0.extend(hs);
            edge.push(record_hash(&data), &mut sealed).unwrap();
            let size = i + 1;
            if size % 997 == 0 || size == 256 || size == 65_536 || size == n {
                assert_eq!(
                    edge.root().unwrap(),
                    tree_hash(size, &all).unwrap(),
                    "{size}"
                );
            }
        }
        // Every full tile, in the order they filled, as tlog_tiles reads them.
        let mut want: Vec<Tile> = Tile::new_tiles(8, 0, n)
            .into_iter()
            .filter(|t| t.width() == 256)
            .collect();
        want.sort_by_key(|t| (t.level_index() + 1) << (8 * (u32::from(t.level()) + 1)));
        assert_eq!(sealed.len(), want.len());
        for t in &want {
            let got = sealed
                .iter()
                .find(|s| s.level == t.level() && s.index == t.level_index())
                .unwrap();
            assert_eq!(tile_bytes(&got.hashes), t.read_data(&all).unwrap());
        }
        // Partial tiles too.
        for t in Tile::new_tiles(8, 0, n)
            .into_iter()
            .filter(|t| t.width() < 256)
        {
            assert_eq!(
                tile_bytes(edge.partial(t.level())),
                t.read_data(&all).unwrap()
            );
        }
        assert_eq!(tile_levels(edge.size()), 3);
        assert!(edge.partial(3).is_empty());

        // Rebuilt from its partial tiles at a multiple of 256, the edge goes on
        // the same way.
        let at = 65_792u64; // 257 · 256
        let tiles: Vec<Vec<Hash>> = (0..tile_levels(at))
            .map(|l| {
                if l == 0 {
                    return Vec::new();
                }
                let t = Tile::new(
                    8,
                    l,
                    at >> (8 * (u32::from(l) + 1)),
                    ((at >> (8 * u32::from(l))) % 256) as u32,
                    false,
                );
                tile_hashes(&t.read_data(&all).unwrap())
            })
            .collect();
        let mut again = Edge::from_tiles(at, &tiles).unwrap();
        for i in at..n {
            again
                .push(record_hash(&i.to_be_bytes()), &mut Vec::new())
                .unwrap();
        }
        assert_eq!(again.root().unwrap(), edge.root().unwrap());
        assert!(Edge::from_tiles(at + 1, &tiles).is_none());
        assert!(Edge::from_tiles(at, &tiles[..2]).is_none());
        // With a partial level-0 tile too.
        let size = 65_900u64;
        let tiles: Vec<Vec<Hash>> = Tile::new_tiles(8, 0, size)
            .into_iter()
            .filter(|t| t.width() < 256)
            .map(|t| tile_hashes(&t.read_data(&all).unwrap()))
            .collect();
        let edge = Edge::from_tiles(size, &tiles).unwrap();
        assert_eq!(edge.root().unwrap(), tree_hash(size, &all).unwrap());
    }

    #[test]
    fn the_empty_tree() {
        assert_eq!(Edge::new().root().unwrap(), tlog_tiles::EMPTY_HASH);
        assert_eq!(tile_levels(0), 0);
        assert_eq!(tile_levels(1), 1);
        assert_eq!(tile_levels(256), 2);
        assert_eq!(first_entry(1, 2), 2 << 16);
        assert_eq!(first_entry(7, 1), u64::MAX);
    }
}
