//! `didgate audit` against a running gateway's log: a decision the app
//! received is proved in the log, the proof checks with nothing but the
//! verifier key, and the log verifies. Then the attacker's moves: a proof
//! for an edited entry, a proof under another key, and an entry edited in
//! the log's own files are each refused with exit status 2 and the entry
//! named; bad arguments exit 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{Method, StatusCode};
use serde_json::Value;
use support::*;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_proved_in_the_log_and_tampering_is_refused() {
    let h = Harness::start(None, "").await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap();
    let allowed = h
        .send(Method::GET, "/eng/a", Some(&h.alice_vp()), &[])
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let allowed_id = allowed.decision_id().expect("the app got a decision id");
    let refused = h.send(Method::GET, "/eng/a", None, &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let refused_id = refused.decision_id().expect("a refusal names its decision");
    let vkey = h.gw().log_vkey().to_owned();
    let dir = h.gw().log_dir().to_path_buf();

    // Both are indexed and in a signed checkpoint within a second or two.
    let proof_path = h.dir.join("proof.json");
    prove_when_indexed(&[
        "audit",
        "prove",
        "-c",
        cfg,
        &allowed_id,
        "-o",
        proof_path.to_str().unwrap(),
    ])
    .await;
    let checked = didgate_cli(&[
        "audit",
        "check-proof",
        proof_path.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(code(&checked), 0, "{}", text(&checked));
    let out = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(out.contains(&allowed_id) && out.contains("OK:"), "{out}");
    assert!(
        out.contains(&h.alice.did),
        "the entry names the subject: {out}"
    );

    // The refusal is provable too, to standard output.
    let refused_proof = prove_when_indexed(&["audit", "prove", "-c", cfg, &refused_id])
        .await
        .stdout;
    let refused_path = h.dir.join("refused.json");
    std::fs::write(&refused_path, &refused_proof).unwrap();
    let checked = didgate_cli(&[
        "audit",
        "check-proof",
        refused_path.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(code(&checked), 0, "{}", text(&checked));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("credential_missing"));

    // The log verifies, from the config and as a copy with the key alone.
    let verified = didgate_cli(&["audit", "verify", "-c", cfg]);
    assert_eq!(code(&verified), 0, "{}", text(&verified));
    let status = didgate_cli(&["audit", "status", "-c", cfg]);
    assert_eq!(code(&status), 0, "{}", text(&status));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains(&vkey), "{status}");
    assert!(status.contains("indexed"), "{status}");

    // A proof whose entry was edited (allowed → the path of another app) is refused.
    let mut proof: Value = serde_json::from_slice(&std::fs::read(&proof_path).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry = b64.decode(proof["entry"].as_str().unwrap()).unwrap();
    let edited = String::from_utf8(entry)
        .unwrap()
        .replace("/eng/a", "/eng/b");
    proof["entry"] = Value::String(b64.encode(edited));
    let forged = h.dir.join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&proof).unwrap()).unwrap();
    let out = didgate_cli(&[
        "audit",
        "check-proof",
        forged.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("FAILED"), "{}", text(&out));

    // A genuine proof checked with another log's key is refused.
    let other_key = vkey.replacen('+', "-other+", 1);
    let out = didgate_cli(&[
        "audit",
        "check-proof",
        proof_path.to_str().unwrap(),
        "--vkey",
        &other_key,
    ]);
    assert_ne!(code(&out), 0, "{}", text(&out));

    // Not a proof at all, or --dir without --vkey: an error, exit 1.
    let out = didgate_cli(&["audit", "check-proof", cfg, "--vkey", &vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = didgate_cli(&["audit", "verify", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = didgate_cli(&["audit", "prove", "-c", cfg, "no-such-decision"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("not in the index"), "{}", text(&out));
    // Moving sealed files needs a place the gateway reads them from.
    let out = didgate_cli(&["audit", "archive", "-c", cfg, "--to-archive"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("archive_dir"), "{}", text(&out));

    // Someone edits the log's files: a copy with one byte of an entry
    // changed in its bundle does not verify, and the entry is named.
    let copy = h.dir.join("copy");
    copy_dir(&dir, &copy);
    let index = proof["index"].as_u64().unwrap();
    let edited = edit_bundles(&copy.join("tile/entries"), b"/eng/a", b"/eng/b");
    assert!(edited > 0, "a bundle holds the allowed request");
    let out = didgate_cli(&[
        "audit",
        "verify",
        "--dir",
        copy.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains(&format!("first entry at fault: {index}")),
        "{}",
        text(&out)
    );
    // The untouched log still verifies as a copy, with the key alone.
    let out = didgate_cli(&[
        "audit",
        "verify",
        "--dir",
        dir.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    h.stop().await;
}

/// Run `audit prove` (`args`) until it succeeds: a decision is provable
/// once indexed and under a signed checkpoint, within a second or two.
async fn prove_when_indexed(args: &[&str]) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = didgate_cli(args);
        if out.status.success() {
            return out;
        }
        assert!(Instant::now() < deadline, "never provable: {}", text(&out));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Replace `from` by `to` (same length) in every bundle under `dir`; how
/// many files changed.
fn edit_bundles(dir: &std::path::Path, from: &[u8], to: &[u8]) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            n += edit_bundles(&path, from, to);
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
            bytes[at..at + to.len()].copy_from_slice(to);
            std::fs::write(&path, bytes).unwrap();
            n += 1;
        }
    }
    n
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

const AUDITORS: &str = r#"
@id("auditors-read-the-log")
permit (principal, action == Didgate::Action::"GET", resource in Didgate::App::"didgate-log")
when { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "auditor" };
"#;

/// The log at its C2SP paths: checkpoint, hash tiles and vkey to anyone;
/// entry bundles only to an auditor (a permit scoped to the log's app, not
/// the harness's broad "employees read everything"), each read logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_served_and_its_entries_only_to_auditors() {
    let h = Harness::start_full(None, "", "", "", AUDITORS).await;
    let vkey = h.gw().log_vkey().to_owned();
    for _ in 0..3 {
        h.send(Method::GET, "/eng/a", Some(&h.alice_vp()), &[])
            .await
            .assert_ok();
    }
    // A checkpoint covering them, signed with the vkey served beside it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let cp = loop {
        let r = h
            .send(Method::GET, "/.didgate/log/checkpoint", None, &[])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let cp = audit::tlog::SignedCheckpoint::verify(&r.body, &vkey).unwrap();
        if cp.size >= 3 {
            break cp;
        }
        assert!(Instant::now() < deadline, "no checkpoint of 3 entries");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let r = h.send(Method::GET, "/.didgate/log/vkey", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&r.body).trim(), vkey);
    let tile = format!("/.didgate/log/{}", audit::tlog::tile_path(0, 0, cp.size));
    let r = h.send(Method::GET, &tile, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{tile}");
    assert_eq!(r.body.len() as u64, 32 * cp.size);
    // Nothing else of the log's directory, and read-only.
    for path in [
        "/.didgate/log/private/entries.log",
        "/.didgate/log/private/entries/0",
        "/.didgate/log/private/state",
        "/.didgate/log/tile/0/0",
        "/.didgate/log/",
    ] {
        let r = h.send(Method::GET, path, None, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&r.body).contains("did:"), "{path}");
    }
    let r = h
        .send(Method::POST, "/.didgate/log/checkpoint", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    // The entries: refused without a credential, refused to an employee
    // whom only the broad permit would let in, served to an auditor.
    let bundle = format!("/.didgate/log/{}", audit::tlog::bundle_path(0, cp.size));
    let r = h.send(Method::GET, &bundle, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!String::from_utf8_lossy(&r.body).contains(&h.alice.did));
    let r = h.send(Method::GET, &bundle, Some(&h.alice_vp()), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(!String::from_utf8_lossy(&r.body).contains(&h.alice.did));
    let auditor = Who::new(credentials::KeyType::Ed25519, false);
    let vc = h.employee_vc(&auditor, "auditor", "security");
    let vp = h.vp_for(
        &auditor,
        vec![vc],
        &h.audience,
        now(),
        credentials::Format::JwtVc11,
    );
    let r = h.send(Method::GET, &bundle, Some(&vp), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.body).contains(&h.alice.did));
    let vc = h.employee_vc(&auditor, "auditor", "security");
    let vp = h.vp_for(
        &auditor,
        vec![vc],
        &h.audience,
        now(),
        credentials::Format::JwtVc11,
    );
    let r = h.send(Method::POST, &bundle, Some(&vp), &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    // Each read of the entries, allowed or not, is a decision in the log.
    let rows = h
        .decisions_with(&["allowed", "credential_missing", "policy_denied"])
        .await;
    let reads: Vec<_> = rows
        .iter()
        .filter(|d| d.route.as_deref() == Some("didgate-log"))
        .collect();
    assert!(reads.len() >= 3, "{reads:?}");
    assert!(reads
        .iter()
        .any(|d| d.effect == "allow" && d.subject.as_deref() == Some(auditor.did.as_str())));
    assert!(
        reads
            .iter()
            .any(|d| d.reason == "policy_denied"
                && d.subject.as_deref() == Some(h.alice.did.as_str()))
    );
    h.stop().await;
}

/// Retention on a running gateway: `audit archive` gzips the sealed tiles
/// and bundles in place, then moves them to `[audit] archive_dir`; the
/// gateway still serves them byte for byte, and the log still verifies and
/// proves. Without the archive, verification says what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_files_archived_under_a_running_gateway_still_serve_verify_and_prove() {
    let h = Harness::start(None, "[audit]\narchive_dir = \"archive\"\n").await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap();
    let allowed = h
        .send(Method::GET, "/eng/a", Some(&h.alice_vp()), &[])
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let id = allowed.decision_id().unwrap();
    // Enough decisions for a full bundle and a full tile (256 entries).
    for _ in 0..300 {
        let r = h.send(Method::GET, "/eng/a", None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let vkey = h.gw().log_vkey().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = h
            .send(Method::GET, "/.didgate/log/checkpoint", None, &[])
            .await;
        let cp = audit::tlog::SignedCheckpoint::verify(&r.body, &vkey).unwrap();
        if cp.size >= 301 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint of 301 entries");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tile = h
        .send(Method::GET, "/.didgate/log/tile/0/000", None, &[])
        .await;
    assert_eq!(tile.status, StatusCode::OK);
    assert_eq!(tile.body.len(), 256 * 32);
    let log_dir = h.gw().log_dir().to_path_buf();
    let bundle = log_dir.join("tile/entries/000");
    assert!(bundle.exists());

    // Nothing asked: an error, and nothing moves.
    let out = didgate_cli(&["audit", "archive", "-c", cfg]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(bundle.exists());

    // Compressed in place.
    let out = didgate_cli(&["audit", "archive", "-c", cfg, "--gzip"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("archived 2 sealed files"),
        "{}",
        text(&out)
    );
    assert!(!bundle.exists() && log_dir.join("tile/entries/000.gz").exists());
    let served = h
        .send(Method::GET, "/.didgate/log/tile/0/000", None, &[])
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, tile.body, "served as written");
    let out = didgate_cli(&["audit", "verify", "-c", cfg]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // Moved to the archive directory.
    let out = didgate_cli(&["audit", "archive", "-c", cfg, "--to-archive"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let archive = h.dir.join("archive");
    assert!(archive.join("tile/entries/000.gz").exists());
    assert!(!log_dir.join("tile/entries/000.gz").exists());
    let served = h
        .send(Method::GET, "/.didgate/log/tile/0/000", None, &[])
        .await;
    assert_eq!(served.body, tile.body, "served from the archive");
    let out = didgate_cli(&["audit", "verify", "-c", cfg]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    prove_when_indexed(&["audit", "prove", "-c", cfg, &id]).await;
    // A copy verifies with the archive named, and not without it.
    let d = log_dir.to_str().unwrap();
    let a = archive.to_str().unwrap();
    let out = didgate_cli(&[
        "audit",
        "verify",
        "--dir",
        d,
        "--vkey",
        &vkey,
        "--archive",
        a,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = didgate_cli(&["audit", "verify", "--dir", d, "--vkey", &vkey]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    h.stop().await;
}
