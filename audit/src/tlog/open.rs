//! Opening a log directory: create it, or check what is there before
//! writing on. The signed checkpoint must verify; the entries from the start
//! of the last unsealed bundle (all of them with [`OpenCheck::Full`]) are
//! read again from their segments or bundles, hashed, and must give the
//! tiles, bundles and root the checkpoint signed. A torn last entry (a crash
//! mid-write) is cut and reported; a tile, bundle or checkpoint missing
//! (never synced before a crash) is written again from the entries and
//! reported; anything else that disagrees is an error naming the entry and
//! the file. Nothing is rewritten silently. A log from before segments
//! (one `private/entries.log`) is split into segments first.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use tlog_tiles::{record_hash, Hash};

use super::checkpoint::{LogKey, SignedCheckpoint};
use super::edge::{read_edge_tiles, tile_bytes, tile_hashes, tile_levels, Edge, SealedTile};
use super::error::TlogError;
use super::layout::{
    bundle_path, io_err, read_bundle, read_tile, tile_path, write_atomic, write_once, Files,
    Frames, Written, CHECKPOINT, HASH_LEN, LOCK, STATE, TILE_HEIGHT, TILE_WIDTH,
};
use super::segment::{
    link_segment, list_segments, read_segment, segment_path, split_entries_log, sync_dirs,
    unlink_segment, Segment, SEGMENTS,
};

/// How much of the log [`Tlog::open`](super::Tlog::open) hashes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenCheck {
    /// The entries after the last full bundle the checkpoint covers, the
    /// edge tiles and the root: fast whatever the log's size.
    #[default]
    Tail,
    /// Every entry against every tile and bundle.
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
    /// Bytes cut from the end of the last segment: a last entry only
    /// partly written before a crash.
    pub torn_bytes: u64,
    /// Entries of a `private/entries.log` (a log from before segments)
    /// split into segments.
    pub migrated: Option<u64>,
    /// Segments removed from past a gap: a power loss kept a later segment
    /// but not all of one before it. Their entries were never signed (a
    /// gap in signed entries is an error instead).
    pub dropped: Vec<String>,
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
    /// The segment holding entry `size` (when it has entries).
    pub current: Option<Segment>,
    /// Full segments past the checkpoint, fsynced, not yet linked.
    pub full: Vec<u64>,
    pub edge: Edge,
    pub checkpoint: SignedCheckpoint,
    /// Full tiles past the checkpoint, not yet written.
    pub sealed: Vec<SealedTile>,
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
    let segments = dir.join(SEGMENTS);
    fs::create_dir_all(&segments).map_err(io_err(&segments))?;
    let lock = take_lock(&dir.join(LOCK))?;
    let files = Files { dir, archives };
    let split = split_entries_log(files)?;
    let checkpoint = match fs::read(dir.join(CHECKPOINT)) {
        Ok(note) => SignedCheckpoint::verify(&note, key.vkey())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if read_segment(files, 0)?.is_some_and(|f| !f.bytes.is_empty()) {
                return Err(TlogError::CheckpointMissing {
                    dir: dir.to_path_buf(),
                });
            }
            return create(dir, key, lock);
        }
        Err(e) => return Err(io_err(&dir.join(CHECKPOINT))(e)),
    };

    let mut report = OpenReport {
        signed: checkpoint.size,
        migrated: split.map(|s| s.entries),
        torn_bytes: split.map_or(0, |s| s.zeros),
        ..OpenReport::default()
    };
    let edge = starting_point(dir, check, checkpoint.size, &mut report)?;
    report.checked_from = edge.size();
    let mut replay = Replay {
        dir,
        archives,
        checkpoint: &checkpoint,
        edge,
        sealed: Vec::new(),
        pending: Vec::new(),
        bundle: Vec::new(),
        source: String::new(),
        report,
    };
    if replay.edge.size() == checkpoint.size {
        replay.at_checkpoint()?;
    }
    let start = replay.edge.size() / TILE_WIDTH;
    let mut tail = replay.run()?;
    // Segments before the replay's start a crash left under their private
    // names (linked but not yet unlinked): each must be its bundle.
    for n in list_segments(dir)?.into_iter().take_while(|&n| n < start) {
        let ours =
            fs::read(dir.join(segment_path(n))).map_err(io_err(&dir.join(segment_path(n))))?;
        match super::layout::read_opt(&files, &bundle_path(n, TILE_WIDTH))? {
            Some(b) if b.bytes == ours => {
                // The bundle may be only in memory yet (a crash before its
                // folder's fsync): made durable before its twin goes.
                let bundle = dir.join(bundle_path(n, TILE_WIDTH));
                if b.path == bundle_path(n, TILE_WIDTH) {
                    File::open(&bundle)
                        .and_then(|f| f.sync_all())
                        .map_err(io_err(&bundle))?;
                    if let Some(parent) = bundle.parent() {
                        super::layout::sync_dir(parent)?;
                    }
                }
                unlink_segment(dir, n)?;
            }
            Some(b) => {
                return Err(TlogError::EntryMismatch {
                    index: n * TILE_WIDTH + first_difference(&b.bytes, &ours),
                    path: b.path,
                    entries: segment_path(n),
                });
            }
            // Its bundle is gone (moved to an archive this open was not
            // told of?): linked back only if it hashes to its signed tile.
            None => {
                let hashes: Vec<Hash> = Frames::new(&ours).map(record_hash).collect();
                let tile = read_tile(files, 0, n, TILE_WIDTH)?;
                if hashes.len() as u64 != TILE_WIDTH
                    || tile.as_ref().map(|t| &t.bytes[..]) != Some(&tile_bytes(&hashes)[..])
                {
                    return Err(TlogError::EntryMismatch {
                        index: n * TILE_WIDTH,
                        path: tile.map_or_else(|| tile_path(0, n, TILE_WIDTH), |t| t.path),
                        entries: segment_path(n),
                    });
                }
                tail.full.insert(0, n);
            }
        }
    }
    let Replay {
        edge,
        pending,
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
    if !tail.beyond.is_empty() {
        // Past a gap, yet nothing signed is missing: only unsigned entries
        // a power loss kept out of order. With the gap's own entries gone,
        // they can never be in the log: removed, and reported.
        for &m in &tail.beyond {
            unlink_segment(dir, m)?;
            report.dropped.push(segment_path(m));
        }
        super::layout::sync_dir(&segments)?;
    }
    // Only now, with everything signed found whole: cut a torn last entry,
    // fsync what the replay read, and publish the full segments a crash
    // left unlinked (their bundles written again if missing).
    let current = match tail.last {
        Some((n, entries, bytes, file_len)) => {
            let path = dir.join(segment_path(n));
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            if file_len > bytes.len() as u64 {
                report.torn_bytes += file_len - bytes.len() as u64;
                f.set_len(bytes.len() as u64).map_err(io_err(&path))?;
            }
            f.sync_all().map_err(io_err(&path))?;
            drop(f);
            if entries == 0 {
                unlink_segment(dir, n)?;
                None
            } else {
                Some(Segment::reopen(dir, n, entries, bytes)?)
            }
        }
        None => None,
    };
    let mut dirs = Vec::new();
    for &n in &tail.full {
        let path = dir.join(segment_path(n));
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&path))?;
        let bundle = bundle_path(n, TILE_WIDTH);
        if n < checkpoint.size / TILE_WIDTH && super::layout::read_opt(&files, &bundle)?.is_none() {
            report.republished.push(bundle);
        }
        dirs.extend(link_segment(dir, n)?);
    }
    super::layout::sync_dir(&segments)?;
    sync_dirs(dirs)?;
    for &n in &tail.full {
        unlink_segment(dir, n)?;
    }
    Ok(Recovered {
        lock,
        current,
        full: Vec::new(),
        edge,
        checkpoint,
        sealed: pending,
        report,
    })
}

/// Where hashing the entries again starts: the edge at the first entry of
/// the last unsealed bundle the checkpoint covers (the tree's start for a
/// full check, when private/state is missing, or when an edge tile is).
fn starting_point(
    dir: &Path,
    check: OpenCheck,
    signed: u64,
    report: &mut OpenReport,
) -> Result<Edge, TlogError> {
    let why = match check {
        OpenCheck::Full => "a full check was asked for".to_owned(),
        OpenCheck::Tail => match read_state(dir, signed)? {
            None => "private/state is missing".to_owned(),
            Some(from) => match edge_from_tiles(dir, from)? {
                Ok(edge) => return Ok(edge),
                Err(missing) => format!("{missing} is missing"),
            },
        },
    };
    report.full_replay = Some(why);
    Ok(Edge::new())
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
fn create(dir: &Path, key: &LogKey, lock: File) -> Result<Recovered, TlogError> {
    // A segment left empty by a crash before anything was written.
    if fs::remove_file(dir.join(segment_path(0))).is_ok() {
        super::layout::sync_dir(&dir.join(SEGMENTS))?;
    }
    // The segments' folder must outlive a power loss before its first fsync.
    super::layout::sync_dir(&dir.join("private"))?;
    let edge = Edge::new();
    let checkpoint = key.sign(0, edge.root()?)?;
    write_atomic(dir, CHECKPOINT, &checkpoint.note, true)?;
    write_state(dir, 0)?;
    Ok(Recovered {
        lock,
        current: None,
        full: Vec::new(),
        edge,
        checkpoint,
        sealed: Vec::new(),
        report: OpenReport {
            created: true,
            ..OpenReport::default()
        },
    })
}

/// `private/state`: the first entry of the last unsealed bundle the
/// checkpoint covers.
pub(crate) fn write_state(dir: &Path, from: u64) -> Result<(), TlogError> {
    write_atomic(dir, STATE, format!("v2 {from}\n").as_bytes(), false)
}

/// The entry `private/state` names (`v1 <entry> <offset>` from logs before
/// segments is read too: the offset into `entries.log` no longer matters).
fn read_state(dir: &Path, signed: u64) -> Result<Option<u64>, TlogError> {
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
    let from = match (words.next(), words.next(), words.next(), words.next()) {
        (Some("v2"), Some(from), None, None) => from,
        (Some("v1"), Some(from), Some(offset), None) => {
            offset
                .parse::<u64>()
                .map_err(|_| bad("offset is not a number"))?;
            from
        }
        _ => return Err(bad("not `v2 <entry>`")),
    };
    let from: u64 = from.parse().map_err(|_| bad("entry is not a number"))?;
    if !from.is_multiple_of(TILE_WIDTH) || from > signed {
        return Err(bad("entry is not a bundle start the checkpoint covers"));
    }
    Ok(Some(from))
}

/// The edge at `size` (a multiple of 256) from the partial tiles published
/// for it; `Err(path)` names a tile that is missing.
fn edge_from_tiles(dir: &Path, size: u64) -> Result<Result<Edge, String>, TlogError> {
    Ok(read_edge_tiles(dir, size)?.and_then(|tiles| {
        Edge::from_tiles(size, &tiles).ok_or_else(|| format!("an edge tile for {size} entries"))
    }))
}

/// Hashing the entries again from some entry on.
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
    /// The file the current entries come from (a segment or a bundle).
    source: String,
    report: OpenReport,
}

/// What the replay found at the end of the log.
#[derive(Default)]
struct Tail {
    /// The last segment when not full: its number, whole entries, their
    /// bytes, and the file's length (longer: a torn entry to cut).
    last: Option<(u64, u64, Vec<u8>, u64)>,
    /// Full segments still under their private names.
    full: Vec<u64>,
    /// Segments past the end (after a missing or short one).
    beyond: Vec<u64>,
}

impl<'a> Replay<'a> {
    fn files(&self) -> Files<'a> {
        Files {
            dir: self.dir,
            archives: self.archives,
        }
    }

    /// Hash the entries from the current size (a bundle start) on, segment
    /// by segment, to the end of the log.
    fn run(&mut self) -> Result<Tail, TlogError> {
        let mut tail = Tail::default();
        let mut n = self.edge.size() / TILE_WIDTH;
        while let Some(found) = read_segment(self.files(), n)? {
            let private = found.path == segment_path(n);
            self.source = found.path;
            let bytes = found.bytes;
            let corrupt = |at: usize, index: u64, reason| TlogError::EntriesCorrupt {
                path: segment_path(n),
                offset: at as u64,
                index,
                reason,
            };
            let mut at = 0usize;
            let mut k = 0u64;
            for entry in Frames::new(&bytes) {
                if entry.is_empty() {
                    // Never written (an entry is at least `{}`): a tail of
                    // zeros is a crash's unwritten blocks; else damage.
                    if private && bytes[at..].iter().all(|&b| b == 0) {
                        break;
                    }
                    return Err(corrupt(at, self.edge.size(), "an empty entry"));
                }
                if k == TILE_WIDTH {
                    return Err(corrupt(at, self.edge.size(), "more than 256 entries"));
                }
                self.entry(entry, private)?;
                at += 2 + entry.len();
                k += 1;
            }
            if k == TILE_WIDTH && at == bytes.len() {
                if private {
                    tail.full.push(n);
                }
                n += 1;
                continue;
            }
            if !private || k == TILE_WIDTH {
                let mut e = corrupt(
                    at,
                    self.edge.size(),
                    "a full bundle without 256 whole entries",
                );
                if let TlogError::EntriesCorrupt { path, .. } = &mut e {
                    path.clone_from(&self.source);
                }
                return Err(e);
            }
            let len = bytes.len() as u64;
            let mut bytes = bytes;
            bytes.truncate(at);
            tail.last = Some((n, k, bytes, len));
            n += 1;
            break;
        }
        // A segment past the end means one before it is missing or short:
        // the caller refuses that below the checkpoint, drops it above.
        tail.beyond = list_segments(self.dir)?
            .into_iter()
            .filter(|&m| m >= n)
            .collect();
        Ok(tail)
    }

    fn entry(&mut self, entry: &[u8], private: bool) -> Result<(), TlogError> {
        let index = self.edge.size();
        let signed = self.checkpoint.size;
        if index < signed {
            // A frame's length always fits: it was read from one.
            let len = u16::try_from(entry.len()).unwrap_or(u16::MAX);
            self.bundle.extend_from_slice(&len.to_be_bytes());
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
            // Read from its bundle, a bundle is what it is; read from its
            // segment, a bundle already published must hold the same.
            if private {
                self.check_full_bundle(size / TILE_WIDTH - 1)?;
            }
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
                entries: self.source.clone(),
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
        // A wider stored file (a later partial, or the full one) is trimmed.
        let i = Frames::new(&found.bytes)
            .take(usize::try_from(width).unwrap_or(usize::MAX))
            .zip(Frames::new(&self.bundle))
            .take_while(|(a, b)| a == b)
            .count() as u64;
        if i == width {
            return Ok(());
        }
        Err(TlogError::EntryMismatch {
            index: index * TILE_WIDTH + i,
            path: found.path,
            entries: self.source.clone(),
        })
    }

    /// Full bundle `index`, if already published, must hold the segment's
    /// entries (missing, it is linked once the replay is done).
    fn check_full_bundle(&mut self, index: u64) -> Result<(), TlogError> {
        let path = bundle_path(index, TILE_WIDTH);
        match super::layout::read_opt(&self.files(), &path)? {
            Some(found) if found.bytes != self.bundle => Err(TlogError::EntryMismatch {
                index: index * TILE_WIDTH + first_difference(&found.bytes, &self.bundle),
                path: found.path,
                entries: self.source.clone(),
            }),
            _ => Ok(()),
        }
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

/// The position in a bundle of the first entry where two framed runs
/// differ (for naming it; at most 255).
fn first_difference(a: &[u8], b: &[u8]) -> u64 {
    let same = Frames::new(a)
        .zip(Frames::new(b))
        .take_while(|(x, y)| x == y)
        .count();
    same.min(TILE_WIDTH as usize - 1) as u64
}
