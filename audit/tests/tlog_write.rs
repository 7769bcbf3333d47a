//! Writing a transparency log: its files are the C2SP tiles and bundles
//! that tlog_tiles computes for the same entries, its checkpoints verify
//! with signed_note, and its proofs check.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::time::Duration;

use audit::tlog::{
    bundle_path, check_consistency, check_inclusion, read_entry, tile_path, verify_log, Fsync,
    SignedCheckpoint, Tlog, TlogError,
};
use tlog_support::*;
use tlog_tiles::{record_hash, stored_hashes, tree_hash, Error, Hash, HashReader, Tile};

/// Every stored hash of the tree, the way tlog_tiles' own tests keep them.
struct Storage(Vec<Hash>);

impl HashReader for Storage {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

#[test]
fn seventy_thousand_entries_give_tlog_tiles_tiles_checkpoints_and_proofs() {
    let dir = tempdir();
    let (mut log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert!(report.created);
    let vkey = log.vkey().to_owned();
    assert_eq!(config().vkey().unwrap(), vkey);

    // Checkpoints at sizes that cross the tile boundaries of levels 0 to 2.
    let sizes = [1u64, 256, 300, 65_536, 70_000];
    let mut checkpoints: Vec<SignedCheckpoint> = vec![log.latest().clone()];
    let mut at = 0;
    for &size in &sizes {
        append(&mut log, at, size, 1000);
        at = size;
        checkpoints.push(log.checkpoint().unwrap().clone());
    }
    let n = *sizes.last().unwrap();

    // The reference: tlog_tiles over the same entries.
    let mut storage = Storage(Vec::new());
    let mut entries = Vec::new();
    let mut roots = vec![tlog_tiles::EMPTY_HASH];
    for i in 0..n {
        let e = entry_bytes(i);
        let hs = stored_hashes(i, &e, &storage).unwrap();
        storage.0.extend(hs);
        entries.push(e);
        if sizes.contains(&(i + 1)) {
            roots.push(tree_hash(i + 1, &storage).unwrap());
        }
    }
    for (cp, root) in checkpoints.iter().zip(&roots) {
        assert_eq!(cp.root, *root, "root at {}", cp.size);
    }

    // The files: exactly tlog_tiles' tiles of the final tree, at C2SP paths.
    let mut want = vec!["checkpoint".to_owned()];
    for t in Tile::new_tiles(8, 0, n) {
        let w = u64::from(t.width());
        let path = tile_path(t.level(), t.level_index(), w);
        assert_eq!(
            t.path().replacen("tile/8/", "tile/", 1),
            path,
            "C2SP drops the height"
        );
        let bytes = std::fs::read(dir.path().join(&path)).unwrap();
        assert_eq!(bytes, t.read_data(&storage).unwrap(), "{path}");
        want.push(path);
        if t.level() == 0 {
            let first = t.level_index() * 256;
            let mut bundle = Vec::new();
            for e in &entries[first as usize..(first + w) as usize] {
                bundle.extend_from_slice(&(e.len() as u16).to_be_bytes());
                bundle.extend_from_slice(e);
            }
            let path = bundle_path(t.level_index(), w);
            assert_eq!(
                std::fs::read(dir.path().join(&path)).unwrap(),
                bundle,
                "{path}"
            );
            want.push(path);
        }
    }
    want.sort();
    let public: Vec<String> = files(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("private/"))
        .collect();
    assert_eq!(public, want, "earlier partial tiles were removed once full");

    // The checkpoint, as signed_note and tlog_tiles read it.
    let note = std::fs::read(dir.path().join("checkpoint")).unwrap();
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let parsed = signed_note::Note::from_bytes(&note).unwrap();
    parsed
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    let cp = tlog_tiles::Checkpoint::from_bytes(parsed.text()).unwrap();
    assert_eq!((cp.origin(), cp.size(), *cp.hash()), (ORIGIN, n, roots[5]));
    assert!(vkey.starts_with(&format!("{ORIGIN}+")));

    // Inclusion proofs, checked by us and by tlog_tiles.
    let last = checkpoints.last().unwrap();
    for i in [0u64, 1, 255, 256, 299, 65_535, 65_536, 69_999] {
        for cp in checkpoints.iter().filter(|cp| cp.size > i) {
            let proof = log.prove_inclusion(i, cp).unwrap();
            check_inclusion(&proof, cp, i, &entries[i as usize]).unwrap();
            tlog_tiles::check_record(
                &proof,
                cp.size,
                cp.root,
                i,
                record_hash(&entries[i as usize]),
            )
            .unwrap();
            assert!(check_inclusion(&proof, cp, i, b"another entry").is_err());
        }
        assert_eq!(
            read_entry(dir.path(), i, last).unwrap(),
            entries[i as usize]
        );
    }
    assert!(matches!(
        log.prove_inclusion(n, last),
        Err(TlogError::OutOfRange { .. })
    ));

    // Consistency proofs between every two checkpoints.
    for (a, old) in checkpoints.iter().enumerate() {
        for new in &checkpoints[a..] {
            let proof = log.prove_consistency(old, new).unwrap();
            check_consistency(&proof, old, new).unwrap();
            if old.size > 0 && old.size < new.size {
                tlog_tiles::check_tree(&proof, new.size, new.root, old.size, old.root).unwrap();
                let mut forged = old.clone();
                forged.root = record_hash(b"x");
                assert!(check_consistency(&proof, &forged, new).is_err());
            }
        }
    }

    let report = verify_log(dir.path(), &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, n);
    log.close().unwrap();
}

#[test]
fn an_empty_log_is_signed_at_size_zero() {
    let dir = tempdir();
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert!(report.created);
    assert_eq!(log.latest().size, 0);
    assert_eq!(log.latest().root, tlog_tiles::EMPTY_HASH);
    let vkey = log.vkey().to_owned();
    drop(log);
    let report = verify_log(dir.path(), &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
    let (log, report) = Tlog::open(dir.path(), &config()).unwrap();
    assert!(!report.created);
    assert_eq!(log.size(), 0);
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = tempdir();
    let (_log, _) = Tlog::open(dir.path(), &config()).unwrap();
    assert!(matches!(
        Tlog::open(dir.path(), &config()),
        Err(TlogError::Locked { .. })
    ));
}

#[test]
fn another_key_or_origin_cannot_open_the_log() {
    let dir = tempdir();
    write_log(dir.path(), 10);
    let mut other = config();
    other.signing_key = [1; 32];
    assert!(matches!(
        Tlog::open(dir.path(), &other),
        Err(TlogError::CheckpointSignature { .. })
    ));
    let mut other = config();
    other.origin = "didgate.example/gw-2".into();
    assert!(Tlog::open(dir.path(), &other).is_err());
    let mut bad = config();
    bad.origin = "two words".into();
    assert!(matches!(
        Tlog::open(dir.path(), &bad),
        Err(TlogError::BadOrigin(_))
    ));
}

#[test]
fn fsync_always_and_batch_write_the_same_log() {
    let a = tempdir();
    let b = tempdir();
    for (dir, fsync) in [(&a, Fsync::Batch), (&b, Fsync::Always)] {
        let mut c = config();
        c.fsync = fsync;
        let (mut log, _) = Tlog::open(dir.path(), &c).unwrap();
        append(&mut log, 0, 700, 64);
        log.close().unwrap();
    }
    let fa = files(a.path());
    assert_eq!(fa, files(b.path()));
    for f in fa.iter().filter(|f| !f.ends_with("lock")) {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn checkpoints_come_when_due() {
    let dir = tempdir();
    let mut c = config();
    c.checkpoint_interval = Duration::from_secs(3600);
    let (mut log, _) = Tlog::open(dir.path(), &c).unwrap();
    append(&mut log, 0, 10, 10);
    assert!(log.tick().unwrap().is_none(), "not before the interval");
    assert_eq!(log.latest().size, 0);
    assert_eq!(log.checkpoint().unwrap().size, 10, "unless asked");
    drop(log);

    c.checkpoint_interval = Duration::ZERO;
    let (mut log, _) = Tlog::open(dir.path(), &c).unwrap();
    append(&mut log, 10, 20, 10);
    assert_eq!(log.tick().unwrap().map(|cp| cp.size), Some(20));
    assert!(log.tick().unwrap().is_none(), "nothing new, nothing signed");
}

#[test]
fn a_publication_is_written_while_appends_go_on() {
    let dir = tempdir();
    let mut c = config();
    c.checkpoint_interval = Duration::ZERO;
    let (mut log, _) = Tlog::open(dir.path(), &c).unwrap();
    append(&mut log, 0, 300, 100);
    let p = log.due().unwrap().unwrap();
    assert_eq!(p.checkpoint().unwrap().size, 300);
    // Appends go on while it is out, across a bundle boundary.
    append(&mut log, 300, 700, 100);
    p.write().unwrap();
    let cp = log.end_publish(p, Ok(())).unwrap().cloned().unwrap();
    assert_eq!((cp.size, log.latest().size), (300, 300));
    assert!(verify_log(dir.path(), log.vkey()).unwrap().is_ok());
    assert_eq!(log.tick().unwrap().unwrap().size, 700);

    // One that failed puts back what it held: the next one publishes all.
    append(&mut log, 700, 1100, 100); // seals bundles 2, 3
    let p = log.due().unwrap().unwrap();
    let failed = log.end_publish(p, Err(TlogError::Poisoned("a test".into())));
    assert!(failed.is_err());
    assert_eq!(log.latest().size, 700);
    assert_eq!(log.checkpoint().unwrap().size, 1100);
    let vkey = log.vkey().to_owned();
    drop(log);
    let report = verify_log(dir.path(), &vkey).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.bundles, 5);
}
