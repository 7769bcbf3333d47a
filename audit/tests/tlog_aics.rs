//! An implementation written elsewhere checks our log: aics-tlog (Python;
//! C2SP tlog-tiles, tlog-checkpoint, signed-note, RFC 9162) verifies the
//! checkpoint's signature, recomputes the root from the tiles and from the
//! entries, authenticates every tile and bundle, and checks our inclusion
//! and consistency proofs (`verify_with_aics.py`). Installed, pinned, by
//! `scripts/setup-interop.sh aics-tlog`; a missing Python >= 3.12 fails the
//! test, it never skips.
#![allow(clippy::unwrap_used)]

mod tlog_support;

use std::process::Command;

use audit::tlog::Tlog;
use tlog_support::*;

#[test]
fn aics_tlog_verifies_our_log() {
    let root = test_support::repo_root();
    let setup = Command::new("bash")
        .arg(root.join("scripts/setup-interop.sh"))
        .arg("aics-tlog")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "setup-interop.sh aics-tlog failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let python = String::from_utf8(setup.stdout).unwrap();
    let python = python.lines().last().unwrap().trim().to_owned();

    // Across the tile boundaries of levels 0, 1 and 2.
    let dir = tempdir();
    let (mut log, _) = Tlog::open(dir.path(), &config()).unwrap();
    append(&mut log, 0, 300, 100);
    let old = log.checkpoint().unwrap().clone();
    append(&mut log, 300, 66_000, 1000);
    let new = log.checkpoint().unwrap().clone();
    let index = 65_700;
    let b64 = |hs: Vec<audit::tlog::Hash>| hs.iter().map(|h| h.to_string()).collect::<Vec<_>>();
    let claims = serde_json::json!({
        "index": index,
        "inclusion": b64(log.prove_inclusion(index, &new).unwrap()),
        "old": {"size": old.size, "root": old.root.to_string()},
        "consistency": b64(log.prove_consistency(&old, &new).unwrap()),
    });
    let out = Command::new(&python)
        .arg(root.join("audit/tests/verify_with_aics.py"))
        .arg(dir.path())
        .arg(log.vkey())
        .arg(claims.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aics-tlog refused the log:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "checkpoint ok",
        "tiles ok",
        "entries ok: 66000",
        "inclusion ok",
        "consistency ok: 300 -> 66000",
    ] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
}
