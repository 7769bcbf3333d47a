//! Retention: sealed tiles and bundles moved out of a log's directory
//! (`archive_sealed`: gzip-compressed in place, or to an archive directory)
//! still verify, prove and open; an archived copy that was tampered with is
//! caught like the original would be, and a missing one is named.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use audit::tlog::{
    archive_sealed, check_inclusion, prove_inclusion, read_entry, verify_log, ArchiveTo, Archived,
    Files, Finding, Frames, OpenCheck, Tlog, TlogError,
};
use tlog_support::*;

/// 70,000 entries: 273 full bundles, a full level-1 tile (65,536 entries)
/// and partial ones, closed with a checkpoint.
const SIZE: u64 = 70_000;

fn log() -> (tempfile::TempDir, String) {
    let dir = tempdir();
    write_log(dir.path(), SIZE);
    let vkey = config().vkey().unwrap();
    (dir, vkey)
}

/// Archive the sealed files of the test log in `dir`: in place (`to` None,
/// gzip) or to `to`.
fn archive_log(dir: &Path, to: Option<&Path>, gzip: bool) -> Result<Archived, TlogError> {
    archive_sealed(dir, SIZE, ArchiveTo { dir: to, gzip })
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Proves and checks entries across the log, reading through `files`.
fn proofs_check(files: Files<'_>, vkey: &str) {
    let cp = audit::tlog::SignedCheckpoint::verify(
        &std::fs::read(files.dir.join("checkpoint")).unwrap(),
        vkey,
    )
    .unwrap();
    for index in [0, 255, 256, 65_535, 65_536, SIZE - 1] {
        let entry = read_entry(files, index, &cp).unwrap();
        let proof = prove_inclusion(files, index, &cp).unwrap();
        check_inclusion(&proof, &cp, index, &entry).unwrap();
        assert_eq!(entry, entry_bytes(index), "entry {index}");
    }
}

#[test]
fn a_log_gzipped_in_place_verifies_proves_and_opens() {
    let (dir, vkey) = log();
    let before = std::fs::read(dir.path().join("tile/entries/100")).unwrap();
    let done = archive_log(dir.path(), None, true).unwrap();
    // 273 bundles, 273 level-0 tiles, 1 level-1 tile.
    assert_eq!(done.files, 273 + 273 + 1);
    assert!(done.bytes_out * 3 < done.bytes_in, "{done:?}");
    let bundle = dir.path().join("tile/entries/100");
    assert!(!bundle.exists());
    assert_eq!(gunzip(&bundle.with_extension("gz")), before);
    // Partial files stay as they are.
    assert!(dir.path().join("tile/entries/273.p/112").exists());

    let report = verify_log(dir.path(), &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, SIZE);
    proofs_check(Files::local(dir.path()), &vkey);

    // Running it again finds nothing left to do.
    let again = archive_log(dir.path(), None, true).unwrap();
    assert_eq!(again.files, 0);

    // The writer opens it, checking every entry against the archived files,
    // and goes on appending.
    let mut full = config();
    full.open_check = OpenCheck::Full;
    let (mut log, report) = Tlog::open(dir.path(), &full).unwrap();
    assert!(report.republished.is_empty(), "{report:?}");
    append(&mut log, SIZE, SIZE + 300, 100);
    let cp = log.close().unwrap();
    assert_eq!(cp.size, SIZE + 300);
    assert!(verify_log(dir.path(), &vkey).unwrap().is_ok());
    assert!(!bundle.exists(), "an archived bundle was written again");
}

#[test]
fn a_log_moved_to_an_archive_verifies_only_with_it() {
    let (dir, vkey) = log();
    let archive = tempdir();
    let done = archive_log(dir.path(), Some(archive.path()), false).unwrap();
    assert_eq!(done.files, 547);
    assert_eq!(done.bytes_in, done.bytes_out);
    assert!(archive.path().join("tile/entries/000").exists());
    assert!(archive.path().join("tile/1/000").exists());
    assert!(!dir.path().join("tile/entries/000").exists());

    let archives = [archive.path().to_path_buf()];
    let files = Files {
        dir: dir.path(),
        archives: &archives,
    };
    let report = verify_log(files, &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
    proofs_check(files, &vkey);

    // Without the archive, the first bundle is missing: said, not guessed.
    let report = verify_log(dir.path(), &vkey).unwrap();
    assert!(!report.is_ok());
    assert!(
        report.findings.iter().any(
            |f| matches!(f, Finding::BundleMissing { first_entry: 0, .. })
                || matches!(f, Finding::Truncated { found: 0, .. })
        ),
        "{report}"
    );

    // A writer configured with the archive opens with a full check and
    // leaves the archived files where they are.
    let mut full = config();
    full.open_check = OpenCheck::Full;
    full.archives = archives.to_vec();
    let (log, report) = Tlog::open(dir.path(), &full).unwrap();
    assert!(report.republished.is_empty(), "{report:?}");
    drop(log);
}

#[test]
fn an_archived_copy_tampered_with_is_found_where_it_is() {
    let (dir, vkey) = log();
    let archive = tempdir();
    archive_log(dir.path(), Some(archive.path()), true).unwrap();
    // Entry 300 edited inside the archived, compressed bundle 001.
    let path: PathBuf = archive.path().join("tile/entries/001.gz");
    let bytes = gunzip(&path);
    let mut entries: Vec<Vec<u8>> = Frames::new(&bytes).map(<[u8]>::to_vec).collect();
    let text = String::from_utf8(entries[44].clone()).unwrap();
    entries[44] = text.replacen("\"ts_ms\":1", "\"ts_ms\":2", 1).into_bytes();
    let mut out = Vec::new();
    for e in &entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    std::fs::write(&path, gzip(&out)).unwrap();

    let archives = [archive.path().to_path_buf()];
    let files = Files {
        dir: dir.path(),
        archives: &archives,
    };
    let report = verify_log(files, &vkey).unwrap();
    assert_eq!(
        report.findings,
        [Finding::EntryEdited {
            index: 300,
            path: path.display().to_string(),
        }],
        "{report}"
    );
    assert_eq!(report.first_bad_entry(), Some(300));
}

#[test]
fn a_gzip_bomb_or_garbage_is_an_error_not_a_crash() {
    let (dir, vkey) = log();
    archive_log(dir.path(), None, true).unwrap();
    // Not gzip at all.
    std::fs::write(dir.path().join("tile/entries/000.gz"), b"not gzip").unwrap();
    assert!(verify_log(dir.path(), &vkey).is_err());
    // 64 MiB of zeros: larger than any file of a log.
    std::fs::write(
        dir.path().join("tile/entries/000.gz"),
        gzip(&vec![0u8; 64 << 20]),
    )
    .unwrap();
    let err = verify_log(dir.path(), &vkey).unwrap_err().to_string();
    assert!(err.contains("full bundle"), "{err}");
}

#[test]
fn a_conflicting_copy_in_the_archive_stops_the_move() {
    let (dir, _) = log();
    let archive = tempdir();
    std::fs::create_dir_all(archive.path().join("tile/entries")).unwrap();
    std::fs::write(archive.path().join("tile/entries/000"), b"\x00\x01x").unwrap();
    let err = archive_log(dir.path(), Some(archive.path()), false).unwrap_err();
    assert!(err.to_string().contains("tile/entries/000"), "{err}");
    // The original stays.
    assert!(dir.path().join("tile/entries/000").exists());
}

#[test]
fn the_log_directory_is_not_its_own_archive() {
    let (dir, vkey) = log();
    let err = archive_log(dir.path(), Some(&dir.path().join("tile/..")), false).unwrap_err();
    assert!(err.to_string().contains("the log's own directory"), "{err}");
    assert!(verify_log(dir.path(), &vkey).unwrap().is_ok());
}

#[test]
fn files_gzipped_in_place_move_to_the_archive_as_they_are() {
    let (dir, vkey) = log();
    let archive = tempdir();
    archive_log(dir.path(), None, true).unwrap();
    let moved = archive_log(dir.path(), Some(archive.path()), false).unwrap();
    assert_eq!(moved.files, 547);
    assert!(archive.path().join("tile/entries/000.gz").exists());
    assert!(!dir.path().join("tile/entries/000.gz").exists());
    let archives = [archive.path().to_path_buf()];
    let files = Files {
        dir: dir.path(),
        archives: &archives,
    };
    assert!(verify_log(files, &vkey).unwrap().is_ok());
}
