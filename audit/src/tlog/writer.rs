//! The log's one writer: appends each batch to the segment file(s) it falls
//! in (`segment.rs`: one write per segment, so one per batch but where a
//! batch crosses a bundle boundary), hashes it into the tree's right edge,
//! and publishes from there: full tiles once each, full segments linked as
//! their bundles, then the partial ones and a signed checkpoint, at most
//! once per checkpoint interval ([`Tlog::tick`]).
//!
//! Durability ([`Fsync`]): every tile, bundle and checkpoint is published
//! only after the segments holding the entries it covers were fsynced, so a
//! crash never leaves a signed tree whose entries are gone. Memory holds the
//! unsealed edge, the current segment's bytes (the partial bundle) and the
//! full tiles waiting to be written (bounded: past [`MAX_UNPUBLISHED`]
//! bytes of full segments, `tick` publishes them at once).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlog_tiles::{record_hash, Hash};

use super::batch::Batch;
use super::checkpoint::{LogKey, SignedCheckpoint};
use super::edge::{tile_bytes, tile_levels, Edge, SealedTile};
use super::error::TlogError;
use super::layout::{
    bundle_path, io_err, partials_dir, tile_path, write_atomic, write_once, Files, Frames,
    CHECKPOINT, TILE_HEIGHT, TILE_WIDTH,
};
use super::open::{recover, write_state, OpenCheck, OpenReport};
use super::proof;
use super::segment::{
    append_or_cut, link_segment, segment_path, sync_dirs, unlink_segment, Segment, SegmentSync,
};

/// When the segments entries are written to are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Once per checkpoint, before it is published (group commit): an
    /// appended entry survives a crash of the process at once, a power loss
    /// once a checkpoint covers it.
    #[default]
    Batch,
    /// After every batch: `append` returns once its entries are on disk.
    Always,
}

/// How a log is opened and written.
#[derive(Clone)]
pub struct TlogConfig {
    /// The log's name, first line of its checkpoints and its key's name
    /// (e.g. `didgate.example/gw-1`).
    pub origin: String,
    /// The 32 secret bytes of the Ed25519 key checkpoints are signed with.
    pub signing_key: [u8; 32],
    pub fsync: Fsync,
    /// The shortest time between two checkpoints.
    pub checkpoint_interval: Duration,
    pub open_check: OpenCheck,
    /// Directories sealed tiles and bundles were moved to
    /// ([`super::archive_sealed`]): read when opening and proving.
    pub archives: Vec<PathBuf>,
}

impl TlogConfig {
    /// Defaults: [`Fsync::Batch`], a checkpoint at most every second,
    /// [`OpenCheck::Tail`].
    pub fn new(origin: impl Into<String>, signing_key: [u8; 32]) -> Self {
        TlogConfig {
            origin: origin.into(),
            signing_key,
            fsync: Fsync::Batch,
            checkpoint_interval: Duration::from_secs(1),
            open_check: OpenCheck::Tail,
            archives: Vec::new(),
        }
    }
}

impl TlogConfig {
    /// The verifier key of the log's checkpoints (`origin+hash+base64`),
    /// for auditors, without opening the log.
    pub fn vkey(&self) -> Result<String, TlogError> {
        Ok(LogKey::new(&self.origin, &self.signing_key)?
            .vkey()
            .to_owned())
    }
}

impl std::fmt::Debug for TlogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlogConfig")
            .field("origin", &self.origin)
            .field("signing_key", &"…")
            .field("fsync", &self.fsync)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("open_check", &self.open_check)
            .field("archives", &self.archives)
            .finish()
    }
}

/// Bytes of entries waiting for their full bundles to be linked past which
/// [`Tlog::tick`] publishes them without waiting for the next checkpoint
/// (counted as full segments of typical entries).
pub const MAX_UNPUBLISHED: usize = 32 << 20;
/// The same in segments: 128 of about 256 KiB.
const MAX_FULL_SEGMENTS: usize = MAX_UNPUBLISHED / (256 << 10);
/// The same for full hash tiles (8 KiB each).
const MAX_SEALED: usize = 1024;
/// Past this many full segments waiting (publishing keeps failing: a full
/// disk), `append` refuses ([`TlogError::Backlog`]) rather than grow.
pub const MAX_BACKLOG: usize = 8 * MAX_FULL_SEGMENTS;

/// Where an appended batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Index of the batch's first entry.
    pub first: u64,
    pub count: u64,
}

/// A transparency log open for writing. One per directory (a lock file
/// keeps a second writer out); drive it from one task: `append` each batch,
/// then `tick`, and `tick` on a timer too.
pub struct Tlog {
    dir: PathBuf,
    archives: Vec<PathBuf>,
    key: LogKey,
    fsync: Fsync,
    interval: Duration,
    _lock: std::fs::File,
    /// The segment holding entry `size`, once it has an entry.
    current: Option<Segment>,
    /// Full segments not yet linked as their bundles.
    full: Vec<u64>,
    sync: Arc<SegmentSync>,
    edge: Edge,
    /// Full tiles not yet written.
    sealed: Vec<SealedTile>,
    /// The partial tile (index, width) last written per tile level, and the
    /// partial bundle's.
    partial_tiles: Vec<Option<(u64, u64)>>,
    partial_bundle: Option<(u64, u64)>,
    checkpoint: SignedCheckpoint,
    last_checkpoint: Option<Instant>,
    poisoned: Option<String>,
}

impl Tlog {
    /// Open the log in `dir`, creating it if the directory holds none, after
    /// the checks of [`OpenCheck`]; the report says what they found.
    pub fn open(
        dir: impl AsRef<Path>,
        config: &TlogConfig,
    ) -> Result<(Tlog, OpenReport), TlogError> {
        let dir = dir.as_ref().to_path_buf();
        let key = LogKey::new(&config.origin, &config.signing_key)?;
        let r = recover(&dir, &config.archives, &key, config.open_check)?;
        let published = r.checkpoint.size;
        let sync = Arc::new(SegmentSync::new(&dir));
        if let Some(seg) = &r.current {
            sync.written(&seg.file, false);
        }
        let mut log = Tlog {
            dir,
            archives: config.archives.clone(),
            key,
            fsync: config.fsync,
            interval: config.checkpoint_interval,
            _lock: r.lock,
            current: r.current,
            full: r.full,
            sync,
            edge: r.edge,
            sealed: r.sealed,
            partial_tiles: Vec::new(),
            partial_bundle: None,
            checkpoint: r.checkpoint,
            // Entries past the checkpoint are published at the first tick.
            last_checkpoint: (r.report.size == published).then(Instant::now),
            poisoned: None,
        };
        log.partial_tiles = (0..tile_levels(published))
            .map(|l| {
                let shift = u32::from(TILE_HEIGHT) * u32::from(l);
                let width = (published >> shift) % TILE_WIDTH;
                (width > 0).then_some((published >> (shift + u32::from(TILE_HEIGHT)), width))
            })
            .collect();
        let width = published % TILE_WIDTH;
        log.partial_bundle = (width > 0).then_some((published / TILE_WIDTH, width));
        // Opening published the full segments a crash left: their partial
        // bundles go, as when the writer publishes them.
        if let Some((n, _)) = log.partial_bundle {
            if n < log.edge.size() / TILE_WIDTH {
                remove_partials(&log.dir, &bundle_path(n, TILE_WIDTH))?;
                log.partial_bundle = None;
            }
        }
        Ok((log, r.report))
    }

    /// Append a batch: one write to each segment it falls in (and their
    /// fsync with [`Fsync::Always`]), then its entries hashed into the tree.
    /// The batch is emptied. On an error nothing of the batch is in the log.
    pub fn append(&mut self, batch: &mut Batch) -> Result<Appended, TlogError> {
        self.usable()?;
        let first = self.edge.size();
        if batch.is_empty() {
            return Ok(Appended { first, count: 0 });
        }
        if self.full.len() > MAX_BACKLOG {
            return Err(TlogError::Backlog {
                segments: self.full.len(),
            });
        }
        self.write_segments(first, batch.bytes())?;
        if self.fsync == Fsync::Always {
            self.sync_entries()?;
        }
        for entry in Frames::new(batch.bytes()) {
            if let Err(e) = self.edge.push(record_hash(entry), &mut self.sealed) {
                self.poisoned = Some(format!("hashing entry {}: {e}", self.edge.size()));
                return Err(e.into());
            }
        }
        let count = batch.len();
        batch.clear();
        Ok(Appended { first, count })
    }

    /// Write framed entries `first..` to their segments: the run of each
    /// segment with one write. A segment that fills is handed to the syncer
    /// and waits to be published. On an error every segment is cut back
    /// to where it was (a segment this call created goes).
    fn write_segments(&mut self, first: u64, bytes: &[u8]) -> Result<(), TlogError> {
        let runs = runs(first, bytes);
        let mut created: Vec<Segment> = Vec::new();
        let mut reused = false;
        for (seg, range, _) in &runs {
            let data = &bytes[range.clone()];
            let written = match self.current.as_mut() {
                Some(c) if c.index == *seg => {
                    reused = true;
                    append_or_cut(&c.file, c.bytes.len() as u64, data)
                }
                _ => match Segment::create(&self.dir, *seg) {
                    Ok(s) => {
                        let r = append_or_cut(&s.file, 0, data);
                        created.push(s);
                        r
                    }
                    Err(e) => {
                        self.undo(reused, &created);
                        return Err(e);
                    }
                },
            };
            if let Err((e, cut)) = written {
                if !cut {
                    self.poisoned =
                        Some(format!("cutting back a failed write to segment {seg}: {e}"));
                }
                self.undo(reused, &created);
                return Err(io_err(&self.dir.join(segment_path(*seg)))(e));
            }
        }
        // Written: the bytes in memory too; full segments to be synced and
        // linked. Only the first run can be the current segment's.
        let current = if reused { self.current.take() } else { None };
        for (mut s, (seg, range, k)) in current.into_iter().chain(created).zip(runs) {
            let fresh = s.bytes.is_empty();
            s.bytes.extend_from_slice(&bytes[range]);
            s.entries += k;
            if s.entries == TILE_WIDTH {
                self.full.push(seg);
                self.sync.filled(s.file, fresh);
            } else {
                self.sync.written(&s.file, fresh);
                self.current = Some(s);
            }
        }
        Ok(())
    }

    /// Undo a failed append: the segments it created removed (newest
    /// first, so that no segment is left past a gap), then the current
    /// segment cut back and marked for the next fsync (the syncer may have
    /// fsynced the bytes being cut). If that fails too, the log must be
    /// opened again.
    fn undo(&mut self, reused: bool, created: &[Segment]) {
        for s in created.iter().rev() {
            if let Err(e) = std::fs::remove_file(self.dir.join(segment_path(s.index))) {
                self.poisoned = Some(format!(
                    "removing segment {} after a failed write: {e}",
                    s.index
                ));
            }
        }
        if reused {
            if let Some(c) = &self.current {
                if let Err(e) = c.file.set_len(c.bytes.len() as u64) {
                    self.poisoned = Some(format!("cutting back segment {}: {e}", c.index));
                }
                self.sync.written(&c.file, false);
            }
        }
    }

    /// Publish what is due: a checkpoint (with the tiles and bundles it
    /// needs) if the interval has passed since the last one and there are
    /// new entries, else the full tiles and bundles if too many wait.
    /// Returns the new checkpoint, if one was signed. An error leaves
    /// everything to be published by a later tick; appended entries are
    /// safe either way.
    pub fn tick(&mut self) -> Result<Option<&SignedCheckpoint>, TlogError> {
        match self.due()? {
            Some(p) => {
                let written = p.write();
                self.end_publish(p, written)
            }
            None => Ok(None),
        }
    }

    /// What [`Self::tick`] would publish now, taken out of the log to be
    /// written without holding it ([`Publish::write`], then
    /// [`Self::end_publish`]): appends may go on meanwhile. `None`: nothing
    /// is due.
    pub fn due(&mut self) -> Result<Option<Publish>, TlogError> {
        self.usable()?;
        let due = self
            .last_checkpoint
            .is_none_or(|t| t.elapsed() >= self.interval);
        if due && self.edge.size() > self.checkpoint.size {
            return Ok(Some(self.begin_publish(true)?));
        }
        if self.full.len() > MAX_FULL_SEGMENTS || self.sealed.len() > MAX_SEALED {
            return Ok(Some(self.begin_publish(false)?));
        }
        Ok(None)
    }

    /// Publish a checkpoint now (if there are entries since the last).
    pub fn checkpoint(&mut self) -> Result<&SignedCheckpoint, TlogError> {
        self.usable()?;
        if self.edge.size() > self.checkpoint.size {
            let p = self.begin_publish(true)?;
            let written = p.write();
            self.end_publish(p, written)?;
        }
        Ok(&self.checkpoint)
    }

    /// Publish a last checkpoint and close the log.
    pub fn close(mut self) -> Result<SignedCheckpoint, TlogError> {
        self.checkpoint()?;
        Ok(self.checkpoint)
    }

    /// Entries in the log (appended, whether or not a checkpoint covers them yet).
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// The last checkpoint published.
    pub fn latest(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// The verifier key of the log's checkpoints (`origin+hash+base64`).
    pub fn vkey(&self) -> &str {
        self.key.vkey()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An earlier failure left the log out of step with its files: nothing
    /// more can be written until it is opened again.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The set of segments written since their fsync, for fsyncing them
    /// from another thread while this one writes ([`SegmentSync::sync`]).
    pub fn segment_sync(&self) -> Arc<SegmentSync> {
        self.sync.clone()
    }

    /// Proof that entry `index` is in the tree of `at` (a checkpoint this
    /// log published).
    pub fn prove_inclusion(
        &self,
        index: u64,
        at: &SignedCheckpoint,
    ) -> Result<Vec<Hash>, TlogError> {
        self.published(at)?;
        proof::prove_inclusion(self.files(), index, at)
    }

    /// Proof that the tree of `new` extends the tree of `old`.
    pub fn prove_consistency(
        &self,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> Result<Vec<Hash>, TlogError> {
        self.published(new)?;
        proof::prove_consistency(self.files(), old, new)
    }

    /// Where the log's files are read from.
    pub fn files(&self) -> Files<'_> {
        Files {
            dir: &self.dir,
            archives: &self.archives,
        }
    }

    fn published(&self, at: &SignedCheckpoint) -> Result<(), TlogError> {
        if at.size > self.checkpoint.size {
            return Err(TlogError::OutOfRange {
                index: at.size,
                size: self.checkpoint.size,
            });
        }
        Ok(())
    }

    fn usable(&self) -> Result<(), TlogError> {
        match &self.poisoned {
            Some(why) => Err(TlogError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// fsync the segments written since their last fsync (by this thread
    /// or the syncer's). A failed fsync may have dropped pages already
    /// counted as written, so the log stops until it is reopened and checked.
    fn sync_entries(&mut self) -> Result<(), TlogError> {
        self.sync.sync().inspect_err(|e| {
            self.poisoned = Some(format!("fsync of the log's segments: {e}"));
        })
    }

    /// Take what is to be published out of the log: the full tiles and
    /// segments waiting and, `with_checkpoint`, the partial tiles and
    /// bundle of the current size and its signed checkpoint. Nothing is
    /// written here; [`Self::end_publish`] puts it all back if writing fails.
    fn begin_publish(&mut self, with_checkpoint: bool) -> Result<Publish, TlogError> {
        let size = self.edge.size();
        // Signed first: an error here leaves everything in place.
        let checkpoint = if with_checkpoint {
            Some(self.key.sign(size, self.edge.root()?)?)
        } else {
            None
        };
        let prev_partial_tiles = self.partial_tiles.clone();
        let prev_partial_bundle = self.partial_bundle;
        let sealed = std::mem::take(&mut self.sealed);
        let full = std::mem::take(&mut self.full);
        // Partial versions of what is now full go (after the full files).
        let mut remove = Vec::new();
        for t in &sealed {
            let level = usize::from(t.level);
            if let Some(slot) = self.partial_tiles.get_mut(level) {
                if slot.is_some_and(|(n, _)| n == t.index) {
                    remove.push(tile_path(t.level, t.index, TILE_WIDTH));
                    *slot = None;
                }
            }
        }
        for &n in &full {
            if self.partial_bundle.is_some_and(|(p, _)| p == n) {
                remove.push(bundle_path(n, TILE_WIDTH));
                self.partial_bundle = None;
            }
        }
        let mut partials = Vec::new();
        if with_checkpoint {
            let levels = usize::from(tile_levels(size));
            if self.partial_tiles.len() < levels {
                self.partial_tiles.resize(levels, None);
            }
            for level in 0..tile_levels(size) {
                let hashes = self.edge.partial(level);
                let width = hashes.len() as u64;
                let index = size >> (u32::from(TILE_HEIGHT) * (u32::from(level) + 1));
                let slot = &mut self.partial_tiles[usize::from(level)];
                if width > 0 && *slot != Some((index, width)) {
                    partials.push((tile_path(level, index, width), tile_bytes(hashes)));
                    *slot = Some((index, width));
                }
            }
            let width = size % TILE_WIDTH;
            let index = size / TILE_WIDTH;
            if width > 0 && self.partial_bundle != Some((index, width)) {
                let bytes = self.current.as_ref().map_or(&[][..], |c| &c.bytes[..]);
                partials.push((bundle_path(index, width), bytes.to_vec()));
                self.partial_bundle = Some((index, width));
            }
        }
        Ok(Publish {
            dir: self.dir.clone(),
            sync: self.sync.clone(),
            sealed,
            full,
            remove,
            partials,
            checkpoint,
            prev_partial_tiles,
            prev_partial_bundle,
        })
    }

    /// Hand back a publication once written (`written`: how that went). On
    /// success its checkpoint, if any, is the log's latest; on an error,
    /// what it held waits for the next one (a failed fsync stops the log
    /// until it is opened again).
    pub fn end_publish(
        &mut self,
        p: Publish,
        written: Result<(), TlogError>,
    ) -> Result<Option<&SignedCheckpoint>, TlogError> {
        match written {
            Ok(()) => match p.checkpoint {
                Some(c) => {
                    self.checkpoint = c;
                    self.last_checkpoint = Some(Instant::now());
                    Ok(Some(&self.checkpoint))
                }
                None => Ok(None),
            },
            Err(e) => {
                let mut sealed = p.sealed;
                sealed.append(&mut self.sealed);
                self.sealed = sealed;
                let mut full = p.full;
                full.append(&mut self.full);
                self.full = full;
                self.partial_tiles = p.prev_partial_tiles;
                self.partial_bundle = p.prev_partial_bundle;
                if self.sync.failed() {
                    self.poisoned = Some(format!("fsync of the log's segments: {e}"));
                }
                Err(e)
            }
        }
    }
}

/// A publication taken out of a [`Tlog`] ([`Tlog::due`]) to be written
/// while appends go on: the entries' segments fsynced, full tiles written
/// and full segments linked as their bundles (their folders fsynced before
/// the private names go), partial versions of those removed, new partials
/// written, and last the signed checkpoint and `private/state`.
pub struct Publish {
    dir: PathBuf,
    sync: Arc<SegmentSync>,
    sealed: Vec<SealedTile>,
    full: Vec<u64>,
    /// Full files whose partial versions go.
    remove: Vec<String>,
    /// (path, bytes) of the partial tiles and bundle to write.
    partials: Vec<(String, Vec<u8>)>,
    checkpoint: Option<SignedCheckpoint>,
    prev_partial_tiles: Vec<Option<(u64, u64)>>,
    prev_partial_bundle: Option<(u64, u64)>,
}

impl Publish {
    /// Write it all, in the order a crash needs (see [`Publish`]). Safe to
    /// run again after an error: every step is idempotent.
    pub fn write(&self) -> Result<(), TlogError> {
        self.sync.sync()?;
        for t in &self.sealed {
            let path = tile_path(t.level, t.index, TILE_WIDTH);
            write_once(&self.dir, &path, &tile_bytes(&t.hashes))?;
        }
        let mut dirs = Vec::new();
        for &n in &self.full {
            dirs.extend(link_segment(&self.dir, n)?);
        }
        sync_dirs(dirs)?;
        for &n in &self.full {
            unlink_segment(&self.dir, n)?;
        }
        for full in &self.remove {
            remove_partials(&self.dir, full)?;
        }
        for (path, bytes) in &self.partials {
            write_atomic(&self.dir, path, bytes, false)?;
        }
        if let Some(c) = &self.checkpoint {
            write_atomic(&self.dir, CHECKPOINT, &c.note, true)?;
            write_state(&self.dir, c.size - c.size % TILE_WIDTH)?;
        }
        Ok(())
    }

    /// The checkpoint it publishes, if any.
    pub fn checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.checkpoint.as_ref()
    }
}

/// Framed entries `first..` split by segment: (segment, byte range, entries).
fn runs(first: u64, bytes: &[u8]) -> Vec<(u64, std::ops::Range<usize>, u64)> {
    let mut out = Vec::new();
    let mut index = first;
    let mut frames = Frames::new(bytes);
    let mut at = 0usize;
    loop {
        let room = TILE_WIDTH - index % TILE_WIDTH;
        let start = at;
        let mut k = 0;
        while k < room {
            let Some(e) = frames.next() else { break };
            at += 2 + e.len();
            k += 1;
        }
        if k == 0 {
            return out;
        }
        out.push((index / TILE_WIDTH, start..at, k));
        index += k;
    }
}

/// Partial versions of a file now full go: clients fall back to the full one.
fn remove_partials(dir: &Path, full_path: &str) -> Result<(), TlogError> {
    let path = dir.join(partials_dir(full_path));
    match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}
