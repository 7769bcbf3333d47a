//! What `verify_log` finds when the public files of a log were tampered
//! with: each kind of damage named with its entry and file; and the writer
//! refusing to open on the same damage where its own entries disagree.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::path::Path;

use audit::tlog::{verify_log, Finding, Frames, OpenCheck, Report, Tlog, TlogError};
use tlog_support::*;

/// A log of 600 entries: bundles 000 and 001 full, 002.p/88 partial.
fn log() -> (tempfile::TempDir, String) {
    let dir = tempdir();
    write_log(dir.path(), 600);
    let (log, _) = Tlog::open(dir.path(), &config()).unwrap();
    let vkey = log.vkey().to_owned();
    (dir, vkey)
}

fn verify(dir: &Path, vkey: &str) -> Report {
    verify_log(dir, vkey).unwrap()
}

/// The entries of a bundle file.
fn read_bundle(dir: &Path, path: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(dir.join(path)).unwrap();
    Frames::new(&bytes).map(<[u8]>::to_vec).collect()
}

fn write_bundle(dir: &Path, path: &str, entries: &[Vec<u8>]) {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    std::fs::write(dir.join(path), out).unwrap();
}

/// Opening with a full check refuses.
fn open_error(dir: &Path) -> TlogError {
    let mut full = config();
    full.open_check = OpenCheck::Full;
    match Tlog::open(dir, &full) {
        Err(e) => e,
        Ok((_, r)) => panic!("opened: {r:?}"),
    }
}

/// Opening with a full check refuses, naming `index`, the bundle that holds
/// it (the entries' only copy once published) and the tile it disagrees with.
fn open_refuses(dir: &Path, index: u64, bundle: &str, tile: &str) {
    match open_error(dir) {
        TlogError::EntryMismatch {
            index: i,
            path,
            entries,
        } => {
            assert_eq!((i, entries.as_str(), path.as_str()), (index, bundle, tile));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_untouched_log_verifies() {
    let (dir, vkey) = log();
    let report = verify(dir.path(), &vkey);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.entries, report.bundles), (600, 3));
    assert_eq!(report.checkpoint.as_ref().unwrap().size, 600);
    assert_eq!(report.first_bad_entry(), None);
}

#[test]
fn an_edited_byte_of_an_entry_is_found() {
    let (dir, vkey) = log();
    let path = "tile/entries/001";
    let mut entries = read_bundle(dir.path(), path);
    // A digit of entry 300's time: still a canonical decision, another one.
    let text = String::from_utf8(entries[44].clone()).unwrap();
    entries[44] = text.replacen("\"ts_ms\":1", "\"ts_ms\":2", 1).into_bytes();
    write_bundle(dir.path(), path, &entries);
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::EntryEdited {
            index: 300,
            path: path.into()
        }],
        "{report}"
    );
    assert_eq!(report.first_bad_entry(), Some(300));
    open_refuses(dir.path(), 300, path, "tile/0/001");
}

#[test]
fn a_deleted_entry_is_found() {
    let (dir, vkey) = log();
    let path = "tile/entries/001";
    let mut entries = read_bundle(dir.path(), path);
    entries.remove(44);
    write_bundle(dir.path(), path, &entries);
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::EntryDeleted {
            index: 300,
            count: 1,
            path: path.into()
        }],
        "{report}"
    );
    // 255 entries: a bundle that is not whole.
    match open_error(dir.path()) {
        TlogError::EntriesCorrupt { path: p, .. } => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_inserted_entry_is_found() {
    let (dir, vkey) = log();
    let path = "tile/entries/002.p/88";
    let mut entries = read_bundle(dir.path(), path);
    entries.insert(3, entry_bytes(9_999));
    write_bundle(dir.path(), path, &entries);
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::EntryInserted {
            index: 515,
            count: 1,
            path: path.into()
        }],
        "{report}"
    );
    // The tail check reads this bundle.
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntryMismatch { index: 515, .. }) => {}
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn swapped_entries_are_found() {
    let (dir, vkey) = log();
    let path = "tile/entries/001";
    let mut entries = read_bundle(dir.path(), path);
    entries.swap(44, 49);
    write_bundle(dir.path(), path, &entries);
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::EntriesReordered {
            index: 300,
            holds: 305,
            path: path.into()
        }],
        "{report}"
    );
    open_refuses(dir.path(), 300, path, "tile/0/001");
}

#[test]
fn a_truncated_log_is_found() {
    let (dir, vkey) = log();
    // Cut inside the last bundle …
    let path = dir.path().join("tile/entries/002.p/88");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let report = verify(dir.path(), &vkey);
    assert!(
        matches!(report.findings[..], [Finding::BundleMalformed { .. }, Finding::Truncated { signed: 600, found }] if found > 512 && found < 600),
        "{report}"
    );
    // … or without it.
    std::fs::remove_file(&path).unwrap();
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::Truncated {
            signed: 600,
            found: 512
        }],
        "{report}"
    );
    assert_eq!(report.first_bad_entry(), Some(512));
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_found() {
    let (dir, vkey) = log();
    let path = dir.path().join("checkpoint");
    let note = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, note.replacen("\n600\n", "\n599\n", 1)).unwrap();
    let report = verify(dir.path(), &vkey);
    assert!(
        matches!(report.findings[0], Finding::BadSignature { .. }),
        "{report}"
    );
    assert!(!report.is_ok());
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::CheckpointSignature { .. })
    ));

    // Another key's vkey does not verify the genuine checkpoint either.
    std::fs::write(&path, note).unwrap();
    let mut other = config();
    other.signing_key = [9; 32];
    let other_vkey = other.vkey().unwrap();
    let report = verify(dir.path(), &other_vkey);
    assert!(
        matches!(report.findings[..], [Finding::BadSignature { .. }]),
        "{report}"
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        verify(dir.path(), &vkey).findings,
        [Finding::CheckpointMissing]
    );
}

#[test]
fn an_edited_tile_is_blamed_not_the_entries() {
    let (dir, vkey) = log();
    let path = dir.path().join("tile/0/001");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[32 * 7 + 3] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::TileMismatch {
            path: "tile/0/001".into(),
            first_entry: 263
        }],
        "{report}"
    );
    assert_eq!(report.first_bad_entry(), None, "the entries are sound");
    // Opening names both files; `verify` tells which is at fault.
    open_refuses(dir.path(), 263, "tile/entries/001", "tile/0/001");
}

#[test]
fn a_missing_bundle_in_the_middle_is_found_and_the_rest_checked() {
    let (dir, vkey) = log();
    std::fs::remove_file(dir.path().join("tile/entries/000")).unwrap();
    let report = verify(dir.path(), &vkey);
    assert_eq!(
        report.findings,
        [Finding::BundleMissing {
            path: "tile/entries/000".into(),
            first_entry: 0
        }],
        "{report}"
    );
    assert_eq!(report.entries, 344, "the other bundles were read");
}

#[test]
fn a_forged_huge_size_does_not_hang_the_verifier() {
    let (dir, vkey) = log();
    let path = dir.path().join("checkpoint");
    let note = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        note.replacen("\n600\n", "\n18446744073709551615\n", 1),
    )
    .unwrap();
    let report = verify(dir.path(), &vkey);
    assert!(
        matches!(report.findings[0], Finding::BadSignature { .. }),
        "{report}"
    );
    assert!(!report.is_ok());
}
