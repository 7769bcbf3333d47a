//! The log's directory: where each file lives, the C2SP tlog-tiles path
//! encoding, atomic and write-once file writes, and reading tiles and entry
//! bundles back (with the fallbacks a tlog-tiles client uses).
//!
//! ```text
//! <dir>/checkpoint                  signed checkpoint (c2sp.org/tlog-checkpoint)
//! <dir>/tile/<L>/<N>                full hash tile: 256 hashes of 32 bytes
//! <dir>/tile/<L>/<N>.p/<W>          partial hash tile: W hashes (1 ≤ W ≤ 255)
//! <dir>/tile/entries/<N>            full entry bundle: 256 entries
//! <dir>/tile/entries/<N>.p/<W>      partial entry bundle: W entries
//! <dir>/private/entries/<N>         segment N: entries 256·N.. while written,
//!                                   hard-linked to tile/entries/<N> when full
//! <dir>/private/state               the first entry of the unsealed bundle
//! <dir>/private/lock                held by the one writer
//! ```
//!
//! `<N>` is written in groups of three digits, all but the last prefixed
//! with `x` (1234067 → `x001/x234/067`); a segment's is plain decimal. An
//! entry, in a bundle and in a segment alike, is a 2-byte big-endian length and then its bytes.
//! Everything but `private/` is what a tlog-tiles client fetches.
//!
//! Retention ([`Files`], [`archive_sealed`]): a full tile or bundle never
//! changes once written, so it may be stored gzip-compressed as
//! `<path>.gz`, or moved (plain or `.gz`) to an archive directory under the
//! same relative path. Every reader here (verification, proofs, the checks
//! at open, the gateway's `/.didgate/log/`) looks in the log's directory,
//! then in each archive directory, for the file and then its `.gz`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::TlogError;

/// Tile height: a tile holds 2⁸ hashes, a bundle 2⁸ entries.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes of one hash.
pub const HASH_LEN: usize = 32;

pub(crate) const CHECKPOINT: &str = "checkpoint";
pub(crate) const STATE: &str = "private/state";
pub(crate) const LOCK: &str = "private/lock";

/// `x001/x234/067` for 1234067.
fn index_path(mut n: u64, out: &mut String) {
    use std::fmt::Write as _;
    let mut groups = [0u16; 7];
    let mut count = 0;
    loop {
        groups[count] = (n % 1000) as u16;
        count += 1;
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups[..count].iter().rev().enumerate() {
        let x = if i + 1 < count { "x" } else { "" };
        let slash = if i + 1 < count { "/" } else { "" };
        // Writing to a String cannot fail.
        let _ = write!(out, "{x}{g:03}{slash}");
    }
}

/// `tile/<level>/<index>` or, for `width` < 256, `…/<index>.p/<width>`.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    let mut p = format!("tile/{level}/");
    index_path(index, &mut p);
    partial_suffix(&mut p, width);
    p
}

/// `tile/entries/<index>` or, for `width` < 256, `…/<index>.p/<width>`.
pub fn bundle_path(index: u64, width: u64) -> String {
    let mut p = String::from("tile/entries/");
    index_path(index, &mut p);
    partial_suffix(&mut p, width);
    p
}

fn partial_suffix(p: &mut String, width: u64) {
    if width < TILE_WIDTH {
        p.push_str(".p/");
        p.push_str(&width.to_string());
    }
}

/// The folder of a full tile's or bundle's partial versions (`<N>.p`).
pub(crate) fn partials_dir(full_path: &str) -> String {
    format!("{full_path}.p")
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TlogError + '_ {
    move |source| TlogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `data` to `dir/rel` through a temporary file and a rename, so a
/// reader sees the old file or the new one, never a mix. With `durable`, the
/// file and then its folder are fsynced.
pub(crate) fn write_atomic(
    dir: &Path,
    rel: &str,
    data: &[u8],
    durable: bool,
) -> Result<(), TlogError> {
    let path = dir.join(rel);
    let parent = path.parent().unwrap_or(dir);
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    if durable {
        f.sync_all().map_err(io_err(&tmp))?;
    }
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    if durable {
        sync_dir(parent)?;
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), TlogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// What a write-once file held before [`write_once`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// It was not there (or empty, as a crash leaves a file never synced).
    New,
    /// It held these bytes already.
    Same,
}

/// Write a full tile or bundle, which never changes once written: a file
/// there with other bytes is refused ([`TlogError::TileConflict`]).
pub(crate) fn write_once(dir: &Path, rel: &str, data: &[u8]) -> Result<Written, TlogError> {
    let path = dir.join(rel);
    match fs::read(&path) {
        Ok(old) if old == data => return Ok(Written::Same),
        Ok(old) if !old.is_empty() => {
            return Err(TlogError::TileConflict {
                path: rel.to_owned(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    write_atomic(dir, rel, data, false)?;
    Ok(Written::New)
}

/// A tile or bundle as read back, from the file named.
#[derive(Debug)]
pub(crate) struct Found {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Where a log's files are read from: its directory, then each archive
/// directory that sealed files were moved to (same relative paths). In
/// each, a file may be stored as itself or gzip-compressed as `<path>.gz`.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    pub dir: &'a Path,
    pub archives: &'a [PathBuf],
}

impl<'a> Files<'a> {
    /// The log in `dir`, nothing archived elsewhere.
    pub fn local(dir: &'a Path) -> Self {
        Files { dir, archives: &[] }
    }

    fn roots(&self) -> impl Iterator<Item = &'a Path> {
        std::iter::once(self.dir).chain(self.archives.iter().map(PathBuf::as_path))
    }

    /// The bytes of `rel` (a path under the log's directory), wherever it
    /// is kept, and the file they came from; `None` where no copy exists.
    /// An empty file counts as absent (a crash can leave one never synced).
    pub fn read(&self, rel: &str) -> Result<Option<(PathBuf, Vec<u8>)>, TlogError> {
        for root in self.roots() {
            let path = root.join(rel);
            if let Some(bytes) = read_plain(&path)? {
                return Ok(Some((path, bytes)));
            }
            let gz = gz_path(&path);
            if let Some(compressed) = read_plain(&gz)? {
                let bytes = gunzip(&compressed).map_err(io_err(&gz))?;
                if !bytes.is_empty() {
                    return Ok(Some((gz, bytes)));
                }
            }
        }
        Ok(None)
    }
}

impl<'a> From<&'a Path> for Files<'a> {
    fn from(dir: &'a Path) -> Self {
        Files::local(dir)
    }
}

impl<'a> From<&'a PathBuf> for Files<'a> {
    fn from(dir: &'a PathBuf) -> Self {
        Files::local(dir)
    }
}

/// The largest file of a log: a full bundle of the largest entries.
const MAX_FILE: u64 = TILE_WIDTH * (2 + u16::MAX as u64);

fn gz_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".gz");
    PathBuf::from(p)
}

/// A file's bytes; `None` if it is not there (or empty).
fn read_plain(path: &Path) -> Result<Option<Vec<u8>>, TlogError> {
    match fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Decompress a `.gz` copy; one that would grow past the largest file a
/// log can hold is refused, not inflated.
fn gunzip(compressed: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(MAX_FILE + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "decompresses to more than a full bundle can hold",
        ));
    }
    Ok(out)
}

/// `path` names the file as findings report it: relative to the log's
/// directory when it is there as written, else where it was found.
pub(crate) fn read_opt(files: &Files<'_>, rel: &str) -> Result<Option<Found>, TlogError> {
    Ok(files.read(rel)?.map(|(at, bytes)| Found {
        path: if at == files.dir.join(rel) {
            rel.to_owned()
        } else {
            at.display().to_string()
        },
        bytes,
    }))
}

/// The file that holds the first `width` items of a tile or bundle: its own
/// path, else the full one, else a wider partial one (a reader trims it).
/// `path_of(width)` names the versions. Empty files count as absent.
fn read_covering(
    files: &Files<'_>,
    width: u64,
    path_of: impl Fn(u64) -> String,
) -> Result<Option<Found>, TlogError> {
    if let Some(f) = read_opt(files, &path_of(width))? {
        return Ok(Some(f));
    }
    if width < TILE_WIDTH {
        if let Some(f) = read_opt(files, &path_of(TILE_WIDTH))? {
            return Ok(Some(f));
        }
        for w in width + 1..TILE_WIDTH {
            // Partials are few: most are deleted once the full file exists.
            if let Some(f) = read_opt(files, &path_of(w))? {
                return Ok(Some(f));
            }
        }
    }
    Ok(None)
}

/// The first `width` hashes of tile (`level`, `index`) as stored, and the
/// file they came from (the bytes may be short: callers check).
pub(crate) fn read_tile<'a>(
    files: impl Into<Files<'a>>,
    level: u8,
    index: u64,
    width: u64,
) -> Result<Option<Found>, TlogError> {
    let found = read_covering(&files.into(), width, |w| tile_path(level, index, w))?;
    Ok(found.map(|mut f| {
        let want = usize::try_from(width)
            .unwrap_or(usize::MAX)
            .saturating_mul(HASH_LEN);
        if f.bytes.len() > want {
            f.bytes.truncate(want);
        }
        f
    }))
}

/// The bundle holding entries `index·256 ..` (at least `width` of them if the
/// files are sound), and the file it came from.
pub(crate) fn read_bundle<'a>(
    files: impl Into<Files<'a>>,
    index: u64,
    width: u64,
) -> Result<Option<Found>, TlogError> {
    read_covering(&files.into(), width, |w| bundle_path(index, w))
}

/// Split framed entries (2-byte big-endian length, then the bytes).
pub struct Frames<'a> {
    rest: &'a [u8],
}

/// Bytes after the last whole entry of a framed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailing(pub usize);

impl<'a> Frames<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Frames { rest: bytes }
    }

    /// Bytes left over (a partial entry) once iteration stopped.
    pub fn trailing(&self) -> Trailing {
        Trailing(self.rest.len())
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let [a, b, rest @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if rest.len() < len {
            return None;
        }
        let (entry, rest) = rest.split_at(len);
        self.rest = rest;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_follow_c2sp_tlog_tiles() {
        assert_eq!(tile_path(0, 0, 256), "tile/0/000");
        assert_eq!(tile_path(1, 5, 17), "tile/1/005.p/17");
        assert_eq!(tile_path(2, 1234067, 256), "tile/2/x001/x234/067");
        assert_eq!(tile_path(0, 1000, 1), "tile/0/x001/000.p/1");
        assert_eq!(bundle_path(999, 256), "tile/entries/999");
        assert_eq!(bundle_path(1_000_000, 3), "tile/entries/x001/x000/000.p/3");
        assert_eq!(
            tile_path(0, u64::MAX, 256),
            "tile/0/x018/x446/x744/x073/x709/x551/615"
        );
    }

    #[test]
    fn paths_agree_with_tlog_tiles_go_paths() {
        // tlog_tiles (Go's sumdb layout) writes `tile/<H>/<L>/…` and `data`
        // for bundles; C2SP drops the height and names bundles `entries`.
        for (l, n, w) in [
            (0u8, 0u64, 256u32),
            (1, 999, 1),
            (2, 1_234_067, 200),
            (3, 5_000, 256),
        ] {
            let go = tlog_tiles::Tile::new(8, l, n, w, false).path();
            assert_eq!(
                go.replacen("tile/8/", "tile/", 1),
                tile_path(l, n, u64::from(w))
            );
            let go = tlog_tiles::Tile::new(8, 0, n, w, true).path();
            assert_eq!(
                go.replacen("tile/8/data/", "tile/entries/", 1),
                bundle_path(n, u64::from(w))
            );
        }
    }

    #[test]
    fn frames_stop_at_a_partial_entry() {
        let bytes = [0, 2, b'a', b'b', 0, 0, 0, 5, b'x'];
        let mut f = Frames::new(&bytes);
        assert_eq!(f.next(), Some(&b"ab"[..]));
        assert_eq!(f.next(), Some(&b""[..]));
        assert_eq!(f.next(), None);
        assert_eq!(f.trailing(), Trailing(3));
        let mut f = Frames::new(&[7]);
        assert_eq!(f.next(), None);
        assert_eq!(f.trailing(), Trailing(1));
    }
}

/// Where [`archive_sealed`] puts the sealed files it takes out of a log's
/// directory.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveTo<'a> {
    /// Another directory (same relative paths), or `None`: beside the
    /// original (which then needs `gzip`).
    pub dir: Option<&'a Path>,
    /// Store each file gzip-compressed, as `<path>.gz`.
    pub gzip: bool,
}

/// What [`archive_sealed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    /// Full tiles and bundles taken out of the log's directory.
    pub files: u64,
    /// Their bytes, and the bytes of the copies that replaced them.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Move every full hash tile and entry bundle of the first `size` entries
/// (a signed checkpoint's: they never change again) out of `dir`: to
/// `to.dir` and/or gzip-compressed. Each copy is written through a
/// temporary file, fsynced, read back and compared before the original
/// goes, so a crash at any point leaves at least one good copy. A copy
/// already there with other contents is refused ([`TlogError::TileConflict`]).
/// Files already archived are skipped: running it again is harmless; a
/// `.gz` left in place by an earlier run moves to `to.dir` as it is.
pub fn archive_sealed(dir: &Path, size: u64, to: ArchiveTo<'_>) -> Result<Archived, TlogError> {
    if to.dir.is_none() && !to.gzip {
        return Ok(Archived::default());
    }
    if let Some(d) = to.dir {
        // Moving a file onto itself would delete the only copy.
        let same = match (fs::canonicalize(d), fs::canonicalize(dir)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(TlogError::ArchiveIsLog {
                dir: d.to_path_buf(),
            });
        }
    }
    let mut done = Archived::default();
    // Every full bundle, then every full hash tile, level by level.
    let bundles = (0..size / TILE_WIDTH).map(|n| bundle_path(n, TILE_WIDTH));
    let tiles = (0u8..)
        .map_while(|level| {
            let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
            let full = size.checked_shr(shift).filter(|&n| n > 0)?;
            Some((0..full).map(move |n| tile_path(level, n, TILE_WIDTH)))
        })
        .flatten();
    for rel in bundles.chain(tiles) {
        let plain = dir.join(&rel);
        // The file as written, or (moving to another directory) the
        // `.gz` an earlier run left in its place, moved as it is.
        let (src, bytes, data, compressed) = match read_plain(&plain)? {
            Some(bytes) => {
                let data = if to.gzip { gzip(&bytes) } else { bytes.clone() };
                (plain, bytes, data, to.gzip)
            }
            None if to.dir.is_some() => {
                let gz = gz_path(&plain);
                let Some(data) = read_plain(&gz)? else {
                    continue; // archived already (or never written: verify says so)
                };
                let bytes = gunzip(&data).map_err(io_err(&gz))?;
                (gz, bytes, data, true)
            }
            None => continue,
        };
        let root = to.dir.unwrap_or(dir);
        let name = if compressed { format!("{rel}.gz") } else { rel };
        let target = root.join(&name);
        match read_plain(&target)? {
            Some(_) => {} // compared below, like a fresh copy
            None => write_atomic(root, &name, &data, true)?,
        }
        let back = read_plain(&target)?.unwrap_or_default();
        let back = if compressed {
            gunzip(&back).map_err(io_err(&target))?
        } else {
            back
        };
        if back != bytes {
            return Err(TlogError::TileConflict {
                path: target.display().to_string(),
            });
        }
        fs::remove_file(&src).map_err(io_err(&src))?;
        done.files += 1;
        done.bytes_in += bytes.len() as u64;
        done.bytes_out += data.len() as u64;
    }
    Ok(done)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
