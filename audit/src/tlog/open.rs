//! Opening a log directory: create it, or check what is there before
//! writing on. The signed checkpoint must verify; the entries of
//! `entries.log` from the start of the last unsealed bundle (all of them with
//! [`OpenCheck::Full`]) are hashed again and must give the tiles, bundles and
//! root the checkpoint signed. A torn last entry (a crash mid-write) is cut
//! and reported; a tile, bundle or checkpoint missing (never synced before a
//! crash) is written again from the entries and reported; anything else that
//! disagrees is an error naming the entry and the file. Nothing is rewritten
//! silently.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use tlog_tiles::{record_hash, Hash};

use super::checkpoint::{LogKey, SignedCheckpoint};
use super::edge::{read_edge_tiles, tile_bytes, tile_hashes, tile_levels, Edge, SealedTile};
use super::error::TlogError;
use super::layout::{
    bundle_path, io_err, read_bundle, read_tile, tile_path, write_atomic, write_once, Files,
    Frames, Written, CHECKPOINT, ENTRIES_LOG, HASH_LEN, LOCK, STATE, TILE_HEIGHT, TILE_WIDTH,
};

/// How much of the log [`Tlog::open`](super::Tlog::open) hashes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenCheck {
    /// The entries after the last full bundle the checkpoint covers, the
    /// edge tiles and the root: fast whatever the log's size.
    #[default]
    Tail,
    /// Every entry of `entries.log` against every tile and bundle.
    Full,
}

/// What opening found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The directory held no log: an empty one was created.
    pub created: bool,
    /// Entries in the log.
    pub size: u64,
    /// Entries the last checkpoint covers.
    pub signed: u64,
    /// Bytes cut from the end of `entries.log`: a last entry only partly
    /// written before a crash.
    pub torn_bytes: u64,
    /// The first entry hashed again.
    pub checked_from: u64,
    /// Why every entry was hashed again, if it was.
    pub full_replay: Option<String>,
    /// Tiles and bundles written again because they were missing.
    pub republished: Vec<String>,
}

/// A log checked and ready to write on.
pub(crate) struct Recovered {
    pub lock: File,
    pub file: File,
    pub log_len: u64,
    pub edge: Edge,
    pub checkpoint: SignedCheckpoint,
    /// Full tiles past the checkpoint, not yet written.
    pub sealed: Vec<SealedTile>,
    /// Framed entries from `unpublished_from` (a multiple of 256) on.
    pub unpublished: Vec<u8>,
    pub unpublished_from: u64,
    pub report: OpenReport,
}

/// Open the log in `dir` (`archives`: where its sealed files may have been
/// moved; see `layout::Files`).
pub(crate) fn recover(
    dir: &Path,
    archives: &[PathBuf],
    key: &LogKey,
    check: OpenCheck,
) -> Result<Recovered, TlogError> {
    match recover_with(dir, archives, key, check) {
        // The tail's tiles gave another root: hash everything again to name
        // the file at fault.
        Err(TlogError::RootMismatch { .. }) if check == OpenCheck::Tail => {
            recover_with(dir, archives, key, OpenCheck::Full).map(|mut r| {
                r.report.full_replay = Some("the tail did not give the signed root".into());
                r
            })
        }
        other => other,
    }
}

fn recover_with(
    dir: &Path,
    archives: &[PathBuf],
    key: &LogKey,
    check: OpenCheck,
) -> Result<Recovered, TlogError> {
    let private = dir.join("private");
    fs::create_dir_all(&private).map_err(io_err(&private))?;
    let lock = take_lock(&dir.join(LOCK))?;
    let log_path = dir.join(ENTRIES_LOG);
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&log_path)
        .map_err(io_err(&log_path))?;
    let file_len = file.metadata().map_err(io_err(&log_path))?.len();
    let checkpoint = match fs::read(dir.join(CHECKPOINT)) {
        Ok(note) => SignedCheckpoint::verify(&note, key.vkey())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound && file_len == 0 => {
            return create(dir, key, lock, file);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TlogError::CheckpointMissing {
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err(&dir.join(CHECKPOINT))(e)),
    };

    let mut report = OpenReport {
        signed: checkpoint.size,
        ..OpenReport::default()
    };
    let (edge, offset) = starting_point(dir, check, checkpoint.size, &mut report)?;
    report.checked_from = edge.size();
    let mut replay = Replay {
        dir,
        archives,
        checkpoint: &checkpoint,
        edge,
        sealed: Vec::new(),
        pending: Vec::new(),
        bundle: Vec::new(),
        unpublished: Vec::new(),
        unpublished_from: checkpoint.size - checkpoint.size % TILE_WIDTH,
        report,
    };
    if replay.edge.size() == checkpoint.size {
        replay.at_checkpoint()?;
    }
    let end = replay.run(&file, offset, file_len)?;
    let Replay {
        edge,
        pending,
        unpublished,
        unpublished_from,
        mut report,
        ..
    } = replay;
    report.size = edge.size();
    if report.size < checkpoint.size {
        return Err(TlogError::EntriesTruncated {
            signed: checkpoint.size,
            found: report.size,
        });
    }
    // Only now, with everything signed found whole: cut a torn last entry.
    if end < file_len {
        report.torn_bytes = file_len - end;
        file.set_len(end).map_err(io_err(&log_path))?;
    }
    file.sync_all().map_err(io_err(&log_path))?;
    Ok(Recovered {
        lock,
        file,
        log_len: end,
        edge,
        checkpoint,
        sealed: pending,
        unpublished,
        unpublished_from,
        report,
    })
}

/// Where hashing `entries.log` again starts: the edge there and its byte
/// offset (the tree's start for a full check, when private/state is
/// missing, or when an edge tile is).
fn starting_point(
    dir: &Path,
    check: OpenCheck,
    signed: u64,
    report: &mut OpenReport,
) -> Result<(Edge, u64), TlogError> {
    let why = match check {
        OpenCheck::Full => "a full check was asked for".to_owned(),
        OpenCheck::Tail => match read_state(dir, signed)? {
            None => "private/state is missing".to_owned(),
            Some((from, offset)) => match edge_from_tiles(dir, from)? {
                Ok(edge) => return Ok((edge, offset)),
                Err(missing) => format!("{missing} is missing"),
            },
        },
    };
    report.full_replay = Some(why);
    Ok((Edge::new(), 0))
}

fn take_lock(path: &Path) -> Result<File, TlogError> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    // A lock just let go of can still be held for a moment: a child
    // process forked (by any thread) while the last writer had the file open
    // shares its open file description until it execs and closes it. A real
    // second writer holds it for good, so a short wait changes no answer.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(TlogError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(path)(e)),
        }
    }
}

/// How long opening waits for a log's lock before saying another writer
/// holds it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// A new, empty log: its checkpoint of size 0 signed and written.
fn create(dir: &Path, key: &LogKey, lock: File, file: File) -> Result<Recovered, TlogError> {
    // entries.log's name must outlive a power loss before its first fsync.
    super::layout::sync_dir(&dir.join("private"))?;
    let edge = Edge::new();
    let checkpoint = key.sign(0, edge.root()?)?;
    write_atomic(dir, CHECKPOINT, &checkpoint.note, true)?;
    write_state(dir, 0, 0)?;
    Ok(Recovered {
        lock,
        file,
        log_len: 0,
        edge,
        checkpoint,
        sealed: Vec::new(),
        unpublished: Vec::new(),
        unpublished_from: 0,
        report: OpenReport {
            created: true,
            ..OpenReport::default()
        },
    })
}

/// `private/state`: the first entry of the last unsealed bundle the
/// checkpoint covers, and where it starts in `entries.log`.
pub(crate) fn write_state(dir: &Path, from: u64, offset: u64) -> Result<(), TlogError> {
    write_atomic(
        dir,
        STATE,
        format!("v1 {from} {offset}\n").as_bytes(),
        false,
    )
}

fn read_state(dir: &Path, signed: u64) -> Result<Option<(u64, u64)>, TlogError> {
    let path = dir.join(STATE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let bad = |reason: &str| TlogError::StateMalformed {
        reason: reason.to_owned(),
    };
    let mut words = text.trim_end_matches('\n').split(' ');
    let (Some("v1"), Some(from), Some(offset), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(bad("not `v1 <entry> <offset>`"));
    };
    let from: u64 = from.parse().map_err(|_| bad("entry is not a number"))?;
    let offset: u64 = offset.parse().map_err(|_| bad("offset is not a number"))?;
    if !from.is_multiple_of(TILE_WIDTH) || from > signed {
        return Err(bad("entry is not a bundle start the checkpoint covers"));
    }
    Ok(Some((from, offset)))
}

/// The edge at `size` (a multiple of 256) from the partial tiles published
/// for it; `Err(path)` names a tile that is missing.
fn edge_from_tiles(dir: &Path, size: u64) -> Result<Result<Edge, String>, TlogError> {
    Ok(read_edge_tiles(dir, size)?.and_then(|tiles| {
        Edge::from_tiles(size, &tiles).ok_or_else(|| format!("an edge tile for {size} entries"))
    }))
}

/// Hashing `entries.log` again from some entry on.
struct Replay<'a> {
    dir: &'a Path,
    archives: &'a [PathBuf],
    checkpoint: &'a SignedCheckpoint,
    edge: Edge,
    sealed: Vec<SealedTile>,
    /// Full tiles past the checkpoint.
    pending: Vec<SealedTile>,
    /// Framed entries of the current bundle (up to the checkpoint).
    bundle: Vec<u8>,
    unpublished: Vec<u8>,
    unpublished_from: u64,
    report: OpenReport,
}

impl<'a> Replay<'a> {
    fn files(&self) -> Files<'a> {
        Files {
            dir: self.dir,
            archives: self.archives,
        }
    }

    /// Hash the entries from byte `offset` on; return where the last whole
    /// entry ends.
    fn run(&mut self, file: &File, offset: u64, file_len: u64) -> Result<u64, TlogError> {
        let path = self.dir.join(ENTRIES_LOG);
        if offset > file_len {
            return Err(TlogError::EntriesTruncated {
                signed: self.checkpoint.size,
                found: self.edge.size(),
            });
        }
        let mut reader = BufReader::with_capacity(1 << 20, file);
        reader
            .seek(io::SeekFrom::Start(offset))
            .map_err(io_err(&path))?;
        let mut at = offset;
        let mut entry = Vec::new();
        loop {
            let mut len = [0u8; 2];
            if !read_full(&mut reader, &mut len).map_err(io_err(&path))? {
                return Ok(at);
            }
            let n = usize::from(u16::from_be_bytes(len));
            entry.resize(n, 0);
            if !read_full(&mut reader, &mut entry).map_err(io_err(&path))? {
                return Ok(at);
            }
            if n == 0 {
                // Never written (an entry is at least `{}`): a tail of zeros
                // is a crash's unwritten blocks; anything else is damage.
                if zeros_to_end(&mut reader).map_err(io_err(&path))? {
                    return Ok(at);
                }
                return Err(TlogError::EntriesCorrupt {
                    offset: at,
                    index: self.edge.size(),
                    reason: "an empty entry",
                });
            }
            self.entry(&len, &entry)?;
            at += 2 + n as u64;
        }
    }

    fn entry(&mut self, len: &[u8; 2], entry: &[u8]) -> Result<(), TlogError> {
        let index = self.edge.size();
        let signed = self.checkpoint.size;
        if index >= self.unpublished_from {
            self.unpublished.extend_from_slice(len);
            self.unpublished.extend_from_slice(entry);
        }
        if index < signed {
            self.bundle.extend_from_slice(len);
            self.bundle.extend_from_slice(entry);
        }
        self.edge.push(record_hash(entry), &mut self.sealed)?;
        for tile in std::mem::take(&mut self.sealed) {
            let end = tile.first_entry()
                + (TILE_WIDTH << (u32::from(TILE_HEIGHT) * u32::from(tile.level)));
            if end <= signed {
                self.check_tile(&tile.hashes, tile.level, tile.index)?;
            } else {
                self.pending.push(tile);
            }
        }
        let size = self.edge.size();
        if size.is_multiple_of(TILE_WIDTH) && size <= signed {
            self.check_bundle(size / TILE_WIDTH - 1, TILE_WIDTH)?;
            self.bundle.clear();
        }
        if size == signed {
            self.at_checkpoint()?;
        }
        Ok(())
    }

    /// The tree has exactly the checkpoint's entries: its unsealed tiles and
    /// bundle must be as published, and its root as signed.
    fn at_checkpoint(&mut self) -> Result<(), TlogError> {
        let size = self.edge.size();
        for level in 0..tile_levels(size) {
            let hashes = self.edge.partial(level).to_vec();
            if !hashes.is_empty() {
                let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
                self.check_tile(&hashes, level, size >> shift)?;
            }
        }
        let width = size % TILE_WIDTH;
        if width > 0 {
            self.check_bundle(size / TILE_WIDTH, width)?;
        }
        if self.edge.root()? != self.checkpoint.root {
            return Err(TlogError::RootMismatch { size });
        }
        Ok(())
    }

    /// Tile (`level`, `index`) as stored must hold `hashes`; a missing one
    /// is written again.
    fn check_tile(&mut self, hashes: &[Hash], level: u8, index: u64) -> Result<(), TlogError> {
        let width = hashes.len() as u64;
        let want = tile_bytes(hashes);
        let Some(found) = read_tile(self.files(), level, index, width)? else {
            let path = tile_path(level, index, width);
            self.republish(&path, &want)?;
            return Ok(());
        };
        if found.bytes == want {
            return Ok(());
        }
        let first = hashes
            .iter()
            .zip(tile_hashes(&found.bytes))
            .position(|(a, b)| *a != b)
            .unwrap_or(hashes.len().min(found.bytes.len() / HASH_LEN)) as u64;
        let shift = u32::from(TILE_HEIGHT) * u32::from(level);
        let first_entry = ((index * TILE_WIDTH) + first) << shift;
        if level == 0 {
            Err(TlogError::EntryMismatch {
                index: first_entry,
                path: found.path,
            })
        } else {
            Err(TlogError::TileMismatch {
                path: found.path,
                first_entry,
            })
        }
    }

    /// Bundle `index` as stored must begin with the entries replayed into it.
    fn check_bundle(&mut self, index: u64, width: u64) -> Result<(), TlogError> {
        let Some(found) = read_bundle(self.files(), index, width)? else {
            let path = bundle_path(index, width);
            let bytes = std::mem::take(&mut self.bundle);
            self.republish(&path, &bytes)?;
            self.bundle = bytes;
            return Ok(());
        };
        let stored = Frames::new(&found.bytes).take(usize::try_from(width).unwrap_or(usize::MAX));
        let mut ours = Frames::new(&self.bundle);
        let mut i = 0u64;
        for theirs in stored {
            if ours.next() != Some(theirs) {
                break;
            }
            i += 1;
        }
        if i == width {
            return Ok(());
        }
        Err(TlogError::EntryMismatch {
            index: index * TILE_WIDTH + i,
            path: found.path,
        })
    }

    fn republish(&mut self, path: &str, bytes: &[u8]) -> Result<(), TlogError> {
        if path.contains(".p/") {
            write_atomic(self.dir, path, bytes, false)?;
        } else if write_once(self.dir, path, bytes)? == Written::Same {
            return Ok(());
        }
        self.report.republished.push(path.to_owned());
        Ok(())
    }
}

/// Fill `buf`; `false` if the file ended first (a torn entry).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn zeros_to_end(r: &mut impl Read) -> io::Result<bool> {
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}
