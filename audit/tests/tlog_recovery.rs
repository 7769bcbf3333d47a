//! Opening a log again: after a clean close it goes on with the same tree;
//! a torn last entry is cut and reported; lost signed entries, an edited
//! entry or tile, or a bad checkpoint stop it with the entry and file named.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use audit::tlog::{verify_log, OpenCheck, Tlog, TlogError};
use tlog_support::*;

/// Segment `n`: entries `256·n ..` while not yet published as a bundle.
fn segment(dir: &Path, n: u64) -> std::path::PathBuf {
    dir.join(format!("private/entries/{n}"))
}

/// Flip one byte of `path` at `offset`.
fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Where entry `index` starts in its segment or bundle (`file`).
fn offset_of(file: &Path, index: u64) -> u64 {
    let bytes = std::fs::read(file).unwrap();
    let mut at = 0usize;
    for _ in 0..index % 256 {
        at += 2 + u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
    }
    at as u64
}

#[test]
fn reopening_after_a_clean_close_resumes_the_same_tree() {
    let once = tempdir();
    let twice = tempdir();
    let whole = write_log(once.path(), 1500);

    let first = write_log(twice.path(), 1000);
    let (mut log, report) = Tlog::open(twice.path(), &config()).unwrap();
    assert_eq!(
        (report.size, report.signed, report.torn_bytes),
        (1000, 1000, 0)
    );
    assert_eq!(
        report.checked_from, 768,
        "only the unsealed bundle is hashed again"
    );
    assert_eq!(report.full_replay, None);
    assert!(report.republished.is_empty());
    assert_eq!(log.latest(), &first);
    append(&mut log, 1000, 1500, 100);
    let resumed = log.close().unwrap();
    assert_eq!(resumed, whole, "same size, root and signature");

    // Every file of the log written at once is there, with the same bytes
    // (the second also keeps a partial tile of its first checkpoint).
    let theirs = files(twice.path());
    for f in files(once.path()) {
        assert!(theirs.contains(&f), "{f}");
        assert!(
            std::fs::read(once.path().join(&f)).unwrap()
                == std::fs::read(twice.path().join(&f)).unwrap(),
            "{f}"
        );
    }
    assert!(verify_log(twice.path(), log_vkey(twice.path()).as_str())
        .unwrap()
        .is_ok());
}

fn log_vkey(dir: &Path) -> String {
    let (log, _) = Tlog::open(dir, &config()).unwrap();
    log.vkey().to_owned()
}

#[test]
fn entries_after_the_last_checkpoint_survive_a_crash() {
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 300, 50);
    log.checkpoint().unwrap();
    append(&mut log, 300, 700, 50); // seals bundles 1 and 2, no checkpoint
    drop(log); // a crash: no close

    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(
        (report.size, report.signed, report.torn_bytes),
        (700, 300, 0)
    );
    let cp = log.tick().unwrap().cloned().unwrap();
    assert_eq!(cp.size, 700, "published at the first tick");
    let report = verify_log(dir.path(), log.vkey()).unwrap();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn a_torn_last_entry_is_cut_and_reported() {
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 300, 100);
    log.checkpoint().unwrap();
    append(&mut log, 300, 305, 5);
    drop(log);
    let path = segment(dir.path(), 1);
    let len = std::fs::metadata(&path).unwrap().len();
    let last = offset_of(&path, 304);

    // Cut inside the last entry's bytes.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(report.torn_bytes, len - 7 - last);
    assert_eq!((report.size, report.signed), (304, 300));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), last, "cut back");
    drop(log);

    // Cut inside the next entry's length prefix.
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0x01])
        .unwrap();
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!((report.torn_bytes, report.size), (1, 304));
    drop(log);

    // Blocks a crash left unwritten (zeros) are a torn tail too.
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0; 4096])
        .unwrap();
    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!((report.torn_bytes, report.size), (4096, 304));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_eq!(log.checkpoint().unwrap().size, 304);
    assert!(verify_log(dir.path(), log.vkey()).unwrap().is_ok());
}

#[test]
fn lost_signed_entries_stop_the_log() {
    let dir = tempdir();
    write_log(dir.path(), 300);
    let path = segment(dir.path(), 1);
    let at = offset_of(&path, 299);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(at + 3)
        .unwrap();
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntriesTruncated {
            signed: 300,
            found: 299,
        }) => {}
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        at + 3,
        "never cut what a checkpoint signed"
    );
}

#[test]
fn an_edited_entry_in_the_tail_stops_the_log() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    let seg = segment(dir.path(), 2);
    flip(&seg, offset_of(&seg, 550) + 20);
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::EntryMismatch {
            index: 550,
            path,
            entries,
        }) => assert_eq!(
            (path.as_str(), entries.as_str()),
            ("tile/0/002.p/88", "private/entries/2")
        ),
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn a_full_check_finds_an_edited_entry_anywhere() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    // Published, a full bundle is the entries' only copy.
    let bundle = dir.path().join("tile/entries/000");
    assert!(!segment(dir.path(), 0).exists());
    flip(&bundle, offset_of(&bundle, 10) + 30);
    // The tail check does not read entry 10 …
    assert!(Tlog::open(dir.path(), &config()).is_ok());
    // … the full one does.
    let mut full = config();
    full.open_check = OpenCheck::Full;
    match Tlog::open(dir.path(), &full) {
        Err(TlogError::EntryMismatch {
            index: 10,
            path,
            entries,
        }) => assert_eq!(
            (path.as_str(), entries.as_str()),
            ("tile/0/000", "tile/entries/000")
        ),
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn an_edited_edge_tile_stops_the_log_and_is_named() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    flip(&dir.path().join("tile/1/000.p/2"), 5);
    match Tlog::open(dir.path(), &config()) {
        Err(TlogError::TileMismatch {
            path,
            first_entry: 0,
        }) => assert_eq!(path, "tile/1/000.p/2"),
        other => panic!("{:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn missing_tiles_are_written_again_and_reported() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    std::fs::remove_file(dir.path().join("tile/0/001")).unwrap();
    std::fs::remove_file(dir.path().join("tile/entries/002.p/88")).unwrap();
    std::fs::write(dir.path().join("tile/0/002.p/88"), b"").unwrap(); // never synced
    let mut full = config();
    full.open_check = OpenCheck::Full;
    let (log, report) = Tlog::open(dir.path(), &full).unwrap();
    let mut republished = report.republished.clone();
    republished.sort();
    assert_eq!(
        republished,
        ["tile/0/001", "tile/0/002.p/88", "tile/entries/002.p/88"]
    );
    assert!(verify_log(dir.path(), log.vkey()).unwrap().is_ok());
}

#[test]
fn a_bad_checkpoint_signature_stops_the_log() {
    let dir = tempdir();
    write_log(dir.path(), 10);
    let path = dir.path().join("checkpoint");
    let note = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, note.replacen("\n10\n", "\n11\n", 1)).unwrap();
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::CheckpointSignature { .. })
    ));
    std::fs::write(&path, "not a note").unwrap();
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::CheckpointMalformed { .. })
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::CheckpointMissing { .. })
    ));
}

#[test]
fn damaged_private_state_is_an_error_and_a_missing_one_a_full_check() {
    let dir = tempdir();
    write_log(dir.path(), 600);
    let state = dir.path().join("private/state");
    std::fs::write(&state, "v1 1024 0\n").unwrap();
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::StateMalformed { .. })
    ));
    std::fs::remove_file(&state).unwrap();
    let (_, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert_eq!(report.checked_from, 0);
    assert!(report.full_replay.unwrap().contains("state"));
}

#[test]
fn a_full_disk_fails_the_append_and_the_log_goes_on_after() {
    let dir = tempdir();
    let fs = test_support::Tmpfs::mount(&dir.path().join("fs"), 4 << 20).unwrap();
    let logdir = fs.path().join("log");
    let (mut log, _) = Tlog::open(&logdir, &config()).unwrap();
    append(&mut log, 0, 300, 100);
    log.checkpoint().unwrap();
    let len = std::fs::metadata(segment(&logdir, 1)).unwrap().len();

    fs.fill().unwrap();
    // 300 entries: the rest of segment 1 and the start of segment 2.
    let mut batch = audit::tlog::Batch::new();
    let rec = record(300);
    for _ in 0..300 {
        batch
            .push(&audit::tlog::Entry {
                record: &rec,
                policy_set: &POLICY_SET,
                credential_ids: &[],
            })
            .unwrap();
    }
    assert!(matches!(log.append(&mut batch), Err(TlogError::Io { .. })));
    assert_eq!(batch.len(), 300, "the batch is still the caller's");
    assert_eq!(log.size(), 300);
    assert_eq!(
        std::fs::metadata(segment(&logdir, 1)).unwrap().len(),
        len,
        "nothing of it stays in its segments"
    );
    assert!(!segment(&logdir, 2).exists());

    fs.free().unwrap();
    append(&mut log, 300, 600, 100);
    assert_eq!(log.checkpoint().unwrap().size, 600);
    let vkey = log.vkey().to_owned();
    drop(log);
    let (_, report) = Tlog::open(&logdir, &config()).unwrap();
    assert_eq!((report.size, report.torn_bytes), (600, 0));
    let report = verify_log(&logdir, &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn the_writer_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Tlog>();
}
