//! RFC 9162 proofs from a log directory's tiles, and their checks: that an
//! entry is in the tree a checkpoint signed (inclusion), and that a later
//! checkpoint's tree extends an earlier one's (consistency). Tiles are read
//! through tlog_tiles' `TileHashReader`, which checks them against the
//! checkpoint's root before any hash is used.

use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, Error, Hash, Tile,
    TileHashReader, TileReader, EMPTY_HASH,
};

use super::checkpoint::SignedCheckpoint;
use super::error::TlogError;
use super::layout::{read_bundle, read_tile, Files, Frames, HASH_LEN, TILE_HEIGHT, TILE_WIDTH};

/// The hash tiles of a log directory, for tlog_tiles.
struct DirTiles<'a> {
    files: Files<'a>,
}

impl TileReader for DirTiles<'_> {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        tiles
            .iter()
            .map(|t| {
                let width = u64::from(t.width());
                let found = read_tile(self.files, t.level(), t.level_index(), width)
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                match found {
                    Some(f) if f.bytes.len() as u64 == width * HASH_LEN as u64 => Ok(f.bytes),
                    Some(f) => Err(Error::InvalidInput(format!("{} is short", f.path))),
                    None => Err(Error::InvalidInput(format!(
                        "tile {}/{} (width {width}) is missing",
                        t.level(),
                        t.level_index()
                    ))),
                }
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

/// Proof that entry `index` is in the tree of checkpoint `at`, from the
/// tiles in `dir`.
pub fn prove_inclusion<'a>(
    files: impl Into<Files<'a>>,
    index: u64,
    at: &SignedCheckpoint,
) -> Result<Vec<Hash>, TlogError> {
    if index >= at.size {
        return Err(TlogError::OutOfRange {
            index,
            size: at.size,
        });
    }
    let tiles = DirTiles {
        files: files.into(),
    };
    let reader = TileHashReader::new(at.size, at.root, &tiles);
    Ok(prove_record(at.size, index, &reader)?)
}

/// Proof that the tree of `new` extends the tree of `old`, from the tiles
/// in `dir` (empty when `old` is empty or the same size).
pub fn prove_consistency<'a>(
    files: impl Into<Files<'a>>,
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
) -> Result<Vec<Hash>, TlogError> {
    if old.size > new.size {
        return Err(TlogError::OutOfRange {
            index: old.size,
            size: new.size,
        });
    }
    if old.size == 0 {
        return Ok(Vec::new());
    }
    let tiles = DirTiles {
        files: files.into(),
    };
    let reader = TileHashReader::new(new.size, new.root, &tiles);
    Ok(prove_tree(new.size, old.size, &reader)?)
}

/// Check that `entry` (its bytes) is entry `index` of the tree of `at`.
pub fn check_inclusion(
    proof: &[Hash],
    at: &SignedCheckpoint,
    index: u64,
    entry: &[u8],
) -> Result<(), TlogError> {
    check_record(&proof.to_vec(), at.size, at.root, index, record_hash(entry))?;
    Ok(())
}

/// Check that the tree of `new` extends the tree of `old`.
pub fn check_consistency(
    proof: &[Hash],
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
) -> Result<(), TlogError> {
    if old.size == 0 {
        // The empty tree is a prefix of every tree.
        return if old.root == EMPTY_HASH && proof.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidProof.into())
        };
    }
    check_tree(&proof.to_vec(), new.size, new.root, old.size, old.root)?;
    Ok(())
}

/// The bytes of entry `index` as its bundle in `dir` holds them for the tree
/// of `at` (check them with an inclusion proof before trusting them).
pub fn read_entry<'a>(
    files: impl Into<Files<'a>>,
    index: u64,
    at: &SignedCheckpoint,
) -> Result<Vec<u8>, TlogError> {
    if index >= at.size {
        return Err(TlogError::OutOfRange {
            index,
            size: at.size,
        });
    }
    let bundle = index / TILE_WIDTH;
    let width = (at.size - bundle * TILE_WIDTH).min(TILE_WIDTH);
    let missing = || TlogError::TileMissing {
        path: super::layout::bundle_path(bundle, width),
    };
    let found = read_bundle(files, bundle, width)?.ok_or_else(missing)?;
    let position = usize::try_from(index % TILE_WIDTH).unwrap_or(usize::MAX);
    Frames::new(&found.bytes)
        .nth(position)
        .map(<[u8]>::to_vec)
        .ok_or_else(missing)
}
