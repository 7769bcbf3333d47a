//! Entries are written once: to a segment file per bundle, hard-linked to
//! its C2SP path when full. What a crash can leave between the steps (a
//! segment linked and not yet unlinked, one never linked, one missing
//! before the last) and a log from before segments (`entries.log`) are
//! found at open and dealt with, or refused, never rewritten silently.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use audit::tlog::{verify_log, OpenCheck, Tlog, TlogError};
use tlog_support::*;

fn segment(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("private/entries/{n}"))
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("private/entries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn verifies(dir: &Path, vkey: &str) {
    let report = verify_log(dir, vkey).unwrap();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn a_full_segment_becomes_its_bundle_without_a_copy() {
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 600, 100);
    // Written, not yet published: all in segments, no bundle yet.
    assert_eq!(segments(dir.path()), ["0", "1", "2"]);
    assert!(!dir.path().join("tile/entries/000").exists());
    let inode = std::fs::metadata(segment(dir.path(), 0)).unwrap().ino();

    log.checkpoint().unwrap();
    // Published: the full ones are their bundles (the same file), the
    // partial one stays a segment and is copied as `.p/88`.
    assert_eq!(segments(dir.path()), ["2"]);
    let bundle = std::fs::metadata(dir.path().join("tile/entries/000")).unwrap();
    assert_eq!(bundle.ino(), inode, "linked, not copied");
    assert_eq!(bundle.nlink(), 1, "the private name is gone");
    assert_eq!(
        std::fs::read(segment(dir.path(), 2)).unwrap(),
        std::fs::read(dir.path().join("tile/entries/002.p/88")).unwrap()
    );
    // Filling segment 2 publishes it too, and its partial copies go.
    append(&mut log, 600, 800, 100);
    log.checkpoint().unwrap();
    assert_eq!(segments(dir.path()), ["3"]);
    assert!(!dir.path().join("tile/entries/002.p").exists());
    let vkey = log.vkey().to_owned();
    drop(log);
    verifies(dir.path(), &vkey);
}

#[test]
fn a_batch_across_bundles_writes_each_segment_and_reopens_the_same() {
    let once = tempdir();
    let whole = write_log(once.path(), 1000);
    // Batches of 300 cross a bundle boundary each time.
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 1000, 300);
    assert_eq!(log.close().unwrap(), whole);
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!((report.size, report.torn_bytes), (1000, 0));
    assert_eq!(segments(dir.path()), ["3"]);
    verifies(dir.path(), log.vkey());
}

#[test]
fn a_crash_between_link_and_unlink_is_cleaned_up_at_open() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    // Segment 0 still under its private name beside its bundle.
    std::fs::hard_link(dir.path().join("tile/entries/000"), segment(dir.path(), 0)).unwrap();
    let (log, _) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(segments(dir.path()), ["2"]);
    verifies(dir.path(), log.vkey());
    drop(log);

    // One that differs from its bundle is refused, both named.
    let mut bytes = std::fs::read(dir.path().join("tile/entries/001")).unwrap();
    bytes[40] ^= 1;
    std::fs::write(segment(dir.path(), 1), bytes).unwrap();
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntryMismatch { path, entries, .. }) => {
            assert_eq!(
                (path.as_str(), entries.as_str()),
                ("tile/entries/001", "private/entries/1")
            );
        }
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn a_full_segment_never_linked_is_published_at_open() {
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 300, 100);
    log.checkpoint().unwrap();
    append(&mut log, 300, 800, 100); // segments 1 and 2 full, no checkpoint
    drop(log); // a crash
    assert_eq!(segments(dir.path()), ["1", "2", "3"]);
    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!((report.size, report.signed), (800, 300));
    assert_eq!(segments(dir.path()), ["3"]);
    assert!(dir.path().join("tile/entries/001").exists());
    assert!(dir.path().join("tile/entries/002").exists());
    assert!(
        !dir.path().join("tile/entries/001.p").exists(),
        "the partial bundle of the last checkpoint goes with it"
    );
    assert_eq!(log.checkpoint().unwrap().size, 800);
    assert_eq!(segments(dir.path()), ["3"]);
    verifies(dir.path(), log.vkey());
}

#[test]
fn segments_past_a_gap_above_the_checkpoint_are_dropped_and_reported() {
    // A power loss kept segment 3's creation but not all of segment 2.
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 300, 100);
    log.checkpoint().unwrap();
    append(&mut log, 300, 900, 100);
    drop(log);
    let seg = segment(dir.path(), 2);
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert!(report.size > 512 && report.size < 768, "{report:?}");
    assert_eq!(report.dropped, ["private/entries/3"]);
    assert!(!segment(dir.path(), 3).exists());
    let size = report.size;
    append(&mut log, size, 1000, 100);
    assert_eq!(log.checkpoint().unwrap().size, 1000);
    verifies(dir.path(), log.vkey());
    drop(log);

    // Below the checkpoint the same gap is lost signed entries: refused,
    // nothing removed.
    let dir = tempdir();
    write_log(dir.path(), 700); // segment 2 private, signed
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 700, 800, 100); // segment 3 created
    drop(log);
    std::fs::write(segment(dir.path(), 2), b"").unwrap();
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntriesTruncated {
            signed: 700,
            found: 512,
        }) => {}
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
    assert!(segment(dir.path(), 3).exists(), "nothing removed");
}

#[test]
fn a_lost_signed_segment_stops_the_log() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    std::fs::remove_file(segment(dir.path(), 2)).unwrap();
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntriesTruncated {
            signed: 600,
            found: 512,
        }) => {}
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

/// The log as a version before segments kept it: every entry in
/// `private/entries.log`, bundles copied from it, `private/state` with a
/// byte offset.
fn as_before_segments(dir: &Path) {
    let mut all = Vec::new();
    for path in ["tile/entries/000", "tile/entries/001"] {
        all.extend(std::fs::read(dir.join(path)).unwrap());
    }
    let offset = all.len();
    all.extend(std::fs::read(segment(dir, 2)).unwrap());
    std::fs::write(dir.join("private/entries.log"), all).unwrap();
    std::fs::remove_file(segment(dir, 2)).unwrap();
    std::fs::write(dir.join("private/state"), format!("v1 512 {offset}\n")).unwrap();
}

/// Bytes at the end of the old `private/entries.log`.
fn append_to_old_log(dir: &Path, bytes: &[u8]) {
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("private/entries.log"))
        .unwrap();
    std::io::Write::write_all(&mut old, bytes).unwrap();
}

#[test]
fn a_log_from_before_segments_is_split_once_and_goes_on() {
    let dir = tempdir();
    let whole = tempdir();
    let want = write_log(whole.path(), 900);
    write_log(dir.path(), 600);
    as_before_segments(dir.path());
    // A bundle the old writer had not written yet, and a torn last entry.
    std::fs::remove_file(dir.path().join("tile/entries/001")).unwrap();
    append_to_old_log(dir.path(), &[0x01, 0x00, b'{']);

    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(report.migrated, Some(600));
    assert_eq!(
        (report.size, report.signed, report.torn_bytes),
        (600, 600, 3)
    );
    assert_eq!(report.republished, ["tile/entries/001"]);
    assert!(!dir.path().join("private/entries.log").exists());
    assert_eq!(segments(dir.path()), ["2"]);
    append(&mut log, 600, 900, 100);
    assert_eq!(
        log.close().unwrap(),
        want,
        "the same tree as never migrated"
    );
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(report.migrated, None, "once");
    verifies(dir.path(), log.vkey());
}

#[test]
fn a_log_from_before_segments_with_a_tail_of_zeros_is_split_without_it() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    as_before_segments(dir.path());
    append_to_old_log(dir.path(), &[0; 4096]);
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(
        (report.migrated, report.size, report.torn_bytes),
        (Some(600), 600, 4096)
    );
    assert_eq!(segments(dir.path()), ["2"]);
    verifies(dir.path(), log.vkey());
    drop(log);

    // An empty entry with more after it is damage: refused, the old file kept.
    let dir = tempdir();
    write_log(dir.path(), 600);
    as_before_segments(dir.path());
    append_to_old_log(dir.path(), &[0, 0, 0, 3, b'a', b'b', b'c']);
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntriesCorrupt { index: 600, .. }) => {}
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
    assert!(dir.path().join("private/entries.log").exists());
}

#[test]
fn a_migrated_log_passes_a_full_check() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    as_before_segments(dir.path());
    let mut full = config();
    full.open_check = OpenCheck::Full;
    let (log, report) = Tlog::open(dir.path(), &full).unwrap();
    assert_eq!((report.migrated, report.size), (Some(600), 600));
    assert!(report.republished.is_empty(), "{:?}", report.republished);
    verifies(dir.path(), log.vkey());
}
