//! What the transparency-log tests share: decisions to log, a log
//! configuration, and writing a log of a given size.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit::tlog::{Batch, Entry, SignedCheckpoint, Tlog, TlogConfig};
use audit::{DecisionRecord, Effect};

pub const ORIGIN: &str = "didgate.example/gw-1";
pub const KEY: [u8; 32] = [0x42; 32];

/// A small, varied decision (entry `i`).
pub fn record(i: u64) -> DecisionRecord {
    DecisionRecord {
        id: format!("0190b7a4-5c3e-7a00-8000-{i:012x}"),
        ts_ms: 1_720_000_000_000 + i as i64,
        gateway: Arc::from("gw-1"),
        route: (!i.is_multiple_of(3)).then(|| Arc::from("app")),
        method: if i.is_multiple_of(2) { "GET" } else { "POST" }.into(),
        host: "app.example".into(),
        path: format!("/r/{i}"),
        client_ip: IpAddr::from([10, 0, (i >> 8) as u8, i as u8]),
        subject: (!i.is_multiple_of(5)).then(|| format!("did:ethr:0x{i:040x}")),
        auth_method: Some("vp_jwt"),
        credential_types: vec!["EmployeeCredential".into()],
        issuers: vec!["did:ethr:0xabcd".into()],
        effect: if i.is_multiple_of(7) {
            Effect::Deny
        } else {
            Effect::Allow
        },
        status: i.is_multiple_of(7).then_some(403),
        reason: if i.is_multiple_of(7) {
            "policy_denied"
        } else {
            "allowed"
        },
        policies: vec!["p1".into()],
        risk_score: (i % 100) as f64 / 100.0,
        risk_factors: vec![risk::Factor {
            name: "new_network",
            weight: 0.1,
        }],
        policy_set: [0; 32],
        credential_ids: Vec::new(),
    }
}

pub const POLICY_SET: [u8; 32] = [0x5e; 32];

/// The canonical bytes of entry `i`.
pub fn entry_bytes(i: u64) -> Vec<u8> {
    let rec = record(i);
    let ids = [format!("urn:uuid:{i}")];
    let mut out = Vec::new();
    Entry {
        record: &rec,
        policy_set: &POLICY_SET,
        credential_ids: &ids,
    }
    .encode_into(&mut out)
    .unwrap();
    out
}

/// A configuration whose checkpoints come only when asked for.
pub fn config() -> TlogConfig {
    let mut c = TlogConfig::new(ORIGIN, KEY);
    c.checkpoint_interval = Duration::from_secs(3600);
    c
}

/// Append entries `from..to` in batches of `batch` entries.
pub fn append(log: &mut Tlog, from: u64, to: u64, batch: u64) {
    let mut b = Batch::new();
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        for j in i..end {
            let rec = record(j);
            let ids = [format!("urn:uuid:{j}")];
            b.push(&Entry {
                record: &rec,
                policy_set: &POLICY_SET,
                credential_ids: &ids,
            })
            .unwrap();
        }
        let a = log.append(&mut b).unwrap();
        assert_eq!((a.first, a.count), (i, end - i));
        assert!(b.is_empty());
        i = end;
    }
}

/// A log of `n` entries in `dir`, closed with a checkpoint.
pub fn write_log(dir: &Path, n: u64) -> SignedCheckpoint {
    let (mut log, _) = Tlog::open(dir, &config()).unwrap();
    append(&mut log, 0, n, 100);
    log.close().unwrap()
}

/// A fresh directory that is removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tlog-").tempdir().unwrap()
}

/// Every file under `dir`, as paths relative to it, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
