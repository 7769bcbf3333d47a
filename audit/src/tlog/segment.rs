//! Where entries are written first: write-once segment files, one per entry
//! bundle. Segment `N` (`private/entries/<N>`) holds entries `256·N ..` in
//! bundle form (2-byte big-endian length, then the entry). The writer
//! appends each batch to the segment(s) it falls in; once a segment holds
//! its 256 entries and they are fsynced, it is hard-linked to its C2SP path
//! `tile/entries/<N>` and its private name goes. So every entry is written
//! once: the full bundle *is* the segment, and a log keeps no second copy
//! of its entries that would grow without end.
//!
//! Reading an entry's bytes ([`read_segment`]) looks at the private name
//! first and then the full bundle (with the archives of [`Files`]): the
//! writer links before it unlinks, so one of them is always there.
//!
//! fsync ([`SegmentSync`]): the writer hands each segment it writes to a
//! shared set; whoever syncs (the writer before a checkpoint, or the log's
//! syncer thread) takes the set and fsyncs each file, then the folder when
//! a segment was created since. The request path only adds to the set.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::error::TlogError;
use super::layout::{
    bundle_path, io_err, read_opt, sync_dir, write_atomic, Files, Found, TILE_WIDTH,
};

/// The folder of the segments not yet published as full bundles.
pub(crate) const SEGMENTS: &str = "private/entries";
/// Where logs before segments kept every entry: split into segments once.
pub(crate) const LEGACY_ENTRIES_LOG: &str = "private/entries.log";

/// `private/entries/<n>`.
pub(crate) fn segment_path(n: u64) -> String {
    format!("{SEGMENTS}/{n}")
}

/// The bytes of segment `n`: its private file while it is being written or
/// waits to be published, else its full bundle (wherever [`Files`] finds
/// it). `None` when neither exists. A private file may end mid-entry (a
/// crash mid-write); a full bundle is whole or damaged.
pub(crate) fn read_segment(files: Files<'_>, n: u64) -> Result<Option<Found>, TlogError> {
    let private = files.dir.join(segment_path(n));
    match fs::read(&private) {
        Ok(bytes) => {
            return Ok(Some(Found {
                path: segment_path(n),
                bytes,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&private)(e)),
    }
    read_opt(&files, &bundle_path(n, TILE_WIDTH))
}

/// The segment being written: the one holding entry `size` when `size` is
/// not a multiple of 256.
pub(crate) struct Segment {
    pub index: u64,
    /// Shared with [`SegmentSync`], which fsyncs it.
    pub file: Arc<File>,
    /// Entries in it.
    pub entries: u64,
    /// Its bytes (also in the file): the partial bundle published at each
    /// checkpoint. At most 256 entries of at most 64 KiB.
    pub bytes: Vec<u8>,
}

impl Segment {
    /// Create segment `n` (empty; a file left there by a failed append is
    /// past the log's end and is emptied). Opened to append, so a write cut
    /// back after a failure leaves no hole.
    pub fn create(dir: &Path, n: u64) -> Result<Segment, TlogError> {
        let path = dir.join(segment_path(n));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.set_len(0).map_err(io_err(&path))?;
        Ok(Segment {
            index: n,
            file: Arc::new(file),
            entries: 0,
            bytes: Vec::new(),
        })
    }

    /// Segment `n` as recovery found it, `bytes` long, opened to append.
    pub fn reopen(dir: &Path, n: u64, entries: u64, bytes: Vec<u8>) -> Result<Segment, TlogError> {
        let path = dir.join(segment_path(n));
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Segment {
            index: n,
            file: Arc::new(file),
            entries,
            bytes,
        })
    }
}

/// Segments written since their last fsync, shared by the writer (which
/// adds to it) and whoever fsyncs.
#[derive(Default)]
pub struct SegmentSync {
    dir: PathBuf,
    queue: Mutex<Queue>,
    /// Held through the fsyncs, so that a sync that returns covers what an
    /// earlier, concurrent one took from the queue too.
    syncing: Mutex<()>,
    failed: AtomicBool,
}

#[derive(Default)]
struct Queue {
    /// Segments now full, not fsynced since their last write.
    full: Vec<Arc<File>>,
    /// The segment being written, and whether it was written since its
    /// last fsync.
    current: Option<Arc<File>>,
    dirty: bool,
    /// A segment was created since the folder was last fsynced.
    created: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SegmentSync {
    pub(crate) fn new(dir: &Path) -> Self {
        SegmentSync {
            dir: dir.join(SEGMENTS),
            ..SegmentSync::default()
        }
    }

    /// `file`, the current segment, was written (or cut back).
    pub(crate) fn written(&self, file: &Arc<File>, created: bool) {
        let mut q = lock(&self.queue);
        if created || q.current.is_none() {
            q.current = Some(file.clone());
        }
        q.dirty = true;
        q.created |= created;
    }

    /// The current segment is full: fsync it with the others, then forget it.
    pub(crate) fn filled(&self, file: Arc<File>, created: bool) {
        let mut q = lock(&self.queue);
        q.full.push(file);
        q.current = None;
        q.dirty = false;
        q.created |= created;
    }

    /// fsync every segment written since the last sync, and the folder if
    /// one was created. A failure is sticky ([`Self::failed`]): the writer
    /// stops and the log is opened again, which re-reads its tail. (Linux
    /// may keep pages whose write-back failed readable in memory, so that
    /// check cannot prove they reached the disk: the failure is logged as
    /// an error for the operator.)
    pub fn sync(&self) -> Result<(), TlogError> {
        let _one = lock(&self.syncing);
        if self.failed() {
            return Err(self.failure(io::Error::other("an earlier fsync failed")));
        }
        let (full, current, created) = {
            let mut q = lock(&self.queue);
            let current = if q.dirty { q.current.clone() } else { None };
            q.dirty = false;
            (
                std::mem::take(&mut q.full),
                current,
                std::mem::take(&mut q.created),
            )
        };
        let result = (|| {
            for f in full.iter().chain(current.as_ref()) {
                f.sync_data()?;
            }
            if created {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        result.map_err(|e| {
            self.failed.store(true, Ordering::Release);
            self.failure(e)
        })
    }

    /// An fsync failed since the log was opened.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn failure(&self, e: io::Error) -> TlogError {
        io_err(&self.dir)(e)
    }
}

/// Publish full segment `n` as bundle `tile/entries/<n>`: hard-link it
/// (a durable copy where the filesystem has no links); a bundle already
/// there must hold the same bytes. Returns the folders to fsync before the
/// private name goes ([`unlink_segment`]): the bundle's, and the parent of
/// each folder this created.
pub(crate) fn link_segment(dir: &Path, n: u64) -> Result<Vec<PathBuf>, TlogError> {
    let rel = bundle_path(n, TILE_WIDTH);
    let bundle = dir.join(&rel);
    let parent = bundle.parent().unwrap_or(dir).to_path_buf();
    let mut dirs: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|a| !a.exists())
        .filter_map(|a| a.parent().map(Path::to_path_buf))
        .collect();
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    dirs.push(parent);
    let private = dir.join(segment_path(n));
    match fs::hard_link(&private, &bundle) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let ours = fs::read(&private).map_err(io_err(&private))?;
            let theirs = fs::read(&bundle).map_err(io_err(&bundle))?;
            if theirs.is_empty() {
                // A copy a crash left unsynced.
                write_atomic(dir, &rel, &ours, true)?;
            } else if ours != theirs {
                return Err(TlogError::TileConflict { path: rel });
            } else {
                File::open(&bundle)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(&bundle))?;
            }
        }
        // Linked and unlinked by a publication that failed after: done.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !fs::metadata(&bundle).is_ok_and(|m| m.len() > 0) {
                return Err(io_err(&private)(e));
            }
        }
        // No hard links here (or another filesystem): a durable copy.
        Err(_) => {
            let ours = fs::read(&private).map_err(io_err(&private))?;
            write_atomic(dir, &rel, &ours, true)?;
        }
    }
    Ok(dirs)
}

/// The private name of segment `n`, published and its bundle's folder
/// fsynced: it goes (the bundle is the same file).
pub(crate) fn unlink_segment(dir: &Path, n: u64) -> Result<(), TlogError> {
    let private = dir.join(segment_path(n));
    match fs::remove_file(&private) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&private)(e)),
    }
}

/// fsync each folder once.
pub(crate) fn sync_dirs(mut dirs: Vec<PathBuf>) -> Result<(), TlogError> {
    dirs.retain(|d| !d.as_os_str().is_empty());
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        sync_dir(&d)?;
    }
    Ok(())
}

/// The segments in `dir`'s private folder, by number (names that are not a
/// number are left alone: not ours).
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, TlogError> {
    let seg_dir = dir.join(SEGMENTS);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&seg_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&seg_dir)(e)),
    };
    for e in entries {
        let e = e.map_err(io_err(&seg_dir))?;
        let name = e.file_name();
        if name.to_str().is_some_and(|s| s.ends_with(".tmp")) {
            // Left by a split interrupted midway (written again if needed).
            let _ = fs::remove_file(e.path());
            continue;
        }
        if let Some(n) = e
            .file_name()
            .to_str()
            .filter(|s| !s.starts_with('0') || *s == "0")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// What [`split_entries_log`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Whole entries found.
    pub entries: u64,
    /// Zeros after the last entry (blocks a crash left unwritten): dropped.
    pub zeros: u64,
}

/// A log written before segments keeps its entries in one
/// `private/entries.log`: split it into segments once, at open, reading it
/// one bundle at a time. A segment whose full bundle already holds the same
/// bytes is not written again (that bundle is fsynced instead: the old
/// writer did not). Each segment is written through a temporary file and
/// fsynced, and the old file goes only once they all are, so a crash midway
/// leaves it to be split again. A torn last entry goes to the last segment,
/// for the checks at open to cut; a tail of zeros is dropped and counted;
/// an empty entry before other bytes is damage, refused.
pub(crate) fn split_entries_log(files: Files<'_>) -> Result<Option<Split>, TlogError> {
    let dir = files.dir;
    let old = dir.join(LEGACY_ENTRIES_LOG);
    let file = match File::open(&old) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&old)(e)),
    };
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut split = Split::default();
    let mut dirs = Vec::new();
    let mut chunk = Vec::new();
    let mut offset = 0u64;
    for n in 0u64.. {
        chunk.clear();
        let mut k = 0u64;
        let mut end = false;
        while k < TILE_WIDTH {
            let mut len = [0u8; 2];
            let got = read_up_to(&mut reader, &mut len).map_err(io_err(&old))?;
            if got < 2 {
                chunk.extend_from_slice(&len[..got]);
                end = true;
                break;
            }
            let size = usize::from(u16::from_be_bytes(len));
            if size == 0 {
                let (zeros, rest) = count_zeros(&mut reader).map_err(io_err(&old))?;
                if rest {
                    return Err(TlogError::EntriesCorrupt {
                        path: LEGACY_ENTRIES_LOG.to_owned(),
                        offset,
                        index: split.entries,
                        reason: "an empty entry",
                    });
                }
                split.zeros = 2 + zeros;
                end = true;
                break;
            }
            let start = chunk.len();
            chunk.extend_from_slice(&len);
            chunk.resize(start + 2 + size, 0);
            let got = read_up_to(&mut reader, &mut chunk[start + 2..]).map_err(io_err(&old))?;
            if got < size {
                chunk.truncate(start + 2 + got);
                end = true;
                break;
            }
            offset += 2 + size as u64;
            k += 1;
            split.entries += 1;
        }
        if chunk.is_empty() {
            break;
        }
        let published = if k == TILE_WIDTH {
            read_opt(&files, &bundle_path(n, TILE_WIDTH))?.filter(|f| f.bytes == chunk)
        } else {
            None
        };
        match published {
            Some(found) => {
                let path = if Path::new(&found.path).is_absolute() {
                    PathBuf::from(&found.path)
                } else {
                    dir.join(&found.path)
                };
                File::open(&path)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(&path))?;
                if let Some(p) = path.parent() {
                    dirs.push(p.to_path_buf());
                }
            }
            None => write_atomic(dir, &segment_path(n), &chunk, true)?,
        }
        if end || k < TILE_WIDTH {
            break;
        }
    }
    dirs.push(dir.join(SEGMENTS));
    sync_dirs(dirs)?;
    fs::remove_file(&old).map_err(io_err(&old))?;
    sync_dir(&dir.join("private"))?;
    Ok(Some(split))
}

/// Fill `buf` as far as the reader goes; how much was read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// Zeros to the end: how many, and whether anything else follows them.
fn count_zeros(r: &mut impl Read) -> io::Result<(u64, bool)> {
    let mut buf = [0u8; 8192];
    let mut zeros = 0u64;
    loop {
        let n = read_up_to(r, &mut buf)?;
        if n == 0 {
            return Ok((zeros, false));
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok((zeros, true));
        }
        zeros += n as u64;
    }
}

/// The bytes of segment `n` and the file they came from (see
/// [`read_segment`]), for readers outside the writer (the SQL indexer).
pub fn segment_bytes(files: Files<'_>, n: u64) -> Result<Option<(String, Vec<u8>)>, TlogError> {
    Ok(read_segment(files, n)?.map(|f| (f.path, f.bytes)))
}

/// Write `bytes` to the end of `file`; on an error, cut it back to `len`.
/// `Err((error, cut_back))`: whether the cut worked.
pub(crate) fn append_or_cut(file: &File, len: u64, bytes: &[u8]) -> Result<(), (io::Error, bool)> {
    let mut f = file;
    f.write_all(bytes)
        .map_err(|e| (e, file.set_len(len).is_ok()))
}
