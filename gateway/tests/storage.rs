//! The decision index (built from the log) on both backends, over real connections: SQLite (a file)
//! and PostgreSQL (127.0.0.1:5432, a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit::tlog::{Tlog, TlogConfig};
use audit::{
    AuditLog, AuditWriter, Cursor, DecisionRecord, Effect, Indexed, Indexer, Located, LogRef,
};
use didgate::store::Store;
use http::{Method, StatusCode};
use support::*;

fn record(i: usize) -> DecisionRecord {
    DecisionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        ts_ms: 1_700_000_000_000 + i as i64,
        gateway: Arc::from("gw-1"),
        route: if i.is_multiple_of(3) {
            None
        } else {
            Some(Arc::from("app"))
        },
        method: "GET".into(),
        host: "h".into(),
        path: format!("/p/{i}"),
        client_ip: "2001:db8::1".parse::<IpAddr>().unwrap(),
        subject: if i.is_multiple_of(2) {
            Some(format!("did:key:z{i}"))
        } else {
            None
        },
        auth_method: Some("vp_jwt"),
        credential_types: vec!["EmployeeCredential".into()],
        issuers: vec!["did:key:zIssuer".into()],
        effect: if i.is_multiple_of(2) {
            Effect::Allow
        } else {
            Effect::Deny
        },
        status: if i.is_multiple_of(2) { None } else { Some(401) },
        reason: if i.is_multiple_of(2) {
            "allowed"
        } else {
            "credential_expired"
        },
        policies: vec![format!("p{i}"), "quote\"d".into()],
        risk_score: 0.25,
        risk_factors: vec![
            risk::Factor {
                name: "new_network",
                weight: 0.2,
            },
            risk::Factor {
                name: "new_device",
                weight: 0.1,
            },
        ],
        policy_set: [0xab; 32],
        credential_ids: vec![format!("urn:uuid:{i}")],
    }
}

/// Entries `from..from + n` of a log, as the indexer reads them back.
fn indexed(from: usize, n: usize) -> Vec<Indexed<'static>> {
    (from..from + n)
        .map(|i| Indexed::from_record(i as u64, &record(i)).unwrap())
        .collect()
}

fn log(gateway: &str, log_id: &str) -> LogRef {
    LogRef {
        gateway: Arc::from(gateway),
        log_id: log_id.to_owned(),
    }
}

fn located(index: u64, log_id: &str) -> Option<Located> {
    Some(Located {
        gateway: "gw-1".to_owned(),
        log_id: Some(log_id.to_owned()),
        index: Some(index),
    })
}

fn at(next_index: u64) -> Cursor {
    Cursor {
        next_index,
        byte_offset: next_index * 100,
    }
}

async fn storage_contract(store: Store) {
    let db = store.decisions();
    let (one, two) = (log("gw-1", "aa"), log("gw-2", "bb"));
    // The same instance name, another log (misconfigured twins).
    let other = log("gw-1", "cc");
    assert_eq!(db.count().await.unwrap(), 0);
    assert_eq!(db.cursor(&one).await.unwrap(), Cursor::default());
    // Larger than one insert chunk, to cover chunking inside one transaction.
    let batch = indexed(0, 1203);
    db.index(&one, &batch, at(1203), 5).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 1203);
    assert_eq!(db.cursor(&one).await.unwrap(), at(1203));
    assert_eq!(db.cursor(&two).await.unwrap(), Cursor::default());
    assert_eq!(db.cursor(&other).await.unwrap(), Cursor::default());
    let recent = db.recent(3).await.unwrap();
    assert_eq!(recent.len(), 3);
    let newest = &batch[1202].decision;
    assert_eq!(recent[0].id, newest.id);
    assert_eq!(recent[0].path, "/p/1202");
    assert_eq!(recent[0].effect, "allow");
    assert_eq!(recent[0].status, None);
    assert_eq!(
        recent[0].policies,
        vec!["p1202".to_owned(), "quote\"d".to_owned()]
    );
    assert_eq!(recent[1].reason, "credential_expired");
    assert_eq!(recent[1].status, Some(401));
    assert!((recent[0].risk_score - 0.25).abs() < 1e-9);
    assert_eq!(recent[0].risk_factors, vec!["new_network", "new_device"]);
    assert_eq!(db.locate(&newest.id).await.unwrap(), located(1202, "aa"));
    assert_eq!(db.locate("no-such-id").await.unwrap(), None);

    // A run with a duplicate id fails whole: no row, also of the statements
    // (64 rows, then 32) before the failing one, and the cursor stays; the
    // connection is fine afterwards.
    let mut bad = indexed(1203, 100);
    bad[99].decision.id = bad[0].decision.id.clone();
    assert!(db.index(&one, &bad, at(1303), 6).await.is_err());
    assert_eq!(db.count().await.unwrap(), 1203);
    assert_eq!(db.cursor(&one).await.unwrap(), at(1203));
    db.index(&one, &bad[..99], at(1302), 7).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 1302);
    assert_eq!(db.cursor(&one).await.unwrap(), at(1302));
    // Another log under the same name has rows and a cursor of its own.
    let others = indexed(2000, 5);
    db.index(&other, &others, at(5), 7).await.unwrap();
    assert_eq!(db.cursor(&other).await.unwrap(), at(5));
    assert_eq!(db.cursor(&one).await.unwrap(), at(1302));
    assert_eq!(db.count().await.unwrap(), 1307);

    // The log turned out shorter (a power loss): the rows from entry 1300
    // go, and the cursor with them; the other log's rows stay.
    assert_eq!(db.rewind(&one, at(1300), 8).await.unwrap(), 2);
    assert_eq!(db.count().await.unwrap(), 1305);
    assert_eq!(db.cursor(&one).await.unwrap(), at(1300));
    assert_eq!(db.cursor(&other).await.unwrap(), at(5));
    assert_eq!(
        db.locate(&others[4].decision.id)
            .await
            .unwrap()
            .unwrap()
            .log_id
            .as_deref(),
        Some("cc")
    );
    assert_eq!(db.locate(&bad[98].decision.id).await.unwrap(), None);
    assert!(db.locate(&bad[96].decision.id).await.unwrap().is_some());

    // Risk: one hash key per database, however often it is asked for.
    let key = store.risk_hash_key().await.unwrap();
    assert_eq!(store.risk_hash_key().await.unwrap(), key);
    // Profiles: upserted, newest first, a gateway's own rows excluded on request.
    let rows = vec![
        ("did:ex:a".to_owned(), 1, "{\"v\":1}".to_owned()),
        ("did:ex:b".to_owned(), 1, "{\"v\":2}".to_owned()),
    ];
    store
        .save_risk_profiles(&rows, "gw-1", 1_000)
        .await
        .unwrap();
    store
        .save_risk_profiles(&rows[..1], "gw-2", 2_000)
        .await
        .unwrap();
    let all = store.load_risk_profiles(0, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0],
        ("did:ex:a".to_owned(), 2_000, "{\"v\":1}".to_owned())
    );
    let not_mine = store.load_risk_profiles(0, Some("gw-2"), 10).await.unwrap();
    assert_eq!(not_mine.len(), 1);
    assert_eq!(not_mine[0].0, "did:ex:b");
    assert!(store
        .load_risk_profiles(1_500, Some("gw-2"), 10)
        .await
        .unwrap()
        .is_empty());
    store.close().await;
}

/// A transparency log in `dir` with its writer running.
fn open_log(dir: &Path) -> (AuditLog, AuditWriter) {
    let config = TlogConfig::new("gateway.test/didgate/gw-1", [0x42; 32]);
    let (tlog, _) = Tlog::open(dir, &config).unwrap();
    AuditLog::spawn(tlog, dir.to_path_buf(), config, Duration::from_millis(5)).unwrap()
}

/// The indexer over a real log: everything recorded is indexed once, in
/// log order; a new indexer (a restart) resumes at the cursor; an index
/// ahead of a shorter log is cut back to it.
async fn indexer_contract(store: Store, scratch: &Path) {
    let db = store.decisions();
    let gw: Arc<str> = Arc::from("gw-1");
    let dir = scratch.join("log");
    let (log, writer) = open_log(&dir);
    let recs: Vec<DecisionRecord> = (0..900).map(record).collect();
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    for r in &recs[..700] {
        log.record(r.clone()).await.unwrap();
    }
    let mut indexer = Indexer::new(db.clone(), gw.clone(), &dir, log.stats_handle());
    assert_eq!(indexer.catch_up().await.unwrap(), 700);
    assert_eq!(indexer.progress(), (700, 700));
    assert_eq!(db.count().await.unwrap(), 700);
    assert_eq!(indexer.catch_up().await.unwrap(), 0, "nothing new");
    let first = indexer.log().unwrap().clone();
    assert_eq!(first.log_id.len(), 64);
    for (i, id) in ids[..700].iter().enumerate().step_by(97) {
        assert_eq!(
            db.locate(id).await.unwrap(),
            located(i as u64, &first.log_id)
        );
    }
    // More decisions; a fresh indexer (as after a restart) starts from the
    // cursor in the database, not from the log's start.
    for r in &recs[700..] {
        log.record(r.clone()).await.unwrap();
    }
    let mut restarted = Indexer::new(db.clone(), gw.clone(), &dir, log.stats_handle());
    assert_eq!(restarted.catch_up().await.unwrap(), 200);
    assert_eq!(db.count().await.unwrap(), 900);
    let cursor = db.cursor(&first).await.unwrap();
    assert_eq!(cursor.next_index, 900);
    // Entry 900 starts where segment 3 (entries 768..) ends so far.
    assert_eq!(
        cursor.byte_offset,
        std::fs::metadata(dir.join("private/entries/3"))
            .unwrap()
            .len()
    );
    writer.finish().await;

    // A power loss took the log's last entries (never fsynced): the log is
    // shorter than its index. The rows past its end go.
    // (The same log as it stood at 500 entries: the same decisions again.)
    let short = scratch.join("short");
    let (log, writer) = open_log(&short);
    for r in &recs[..500] {
        log.record(r.clone()).await.unwrap();
    }
    assert_eq!(
        log.stats().size.load(std::sync::atomic::Ordering::Relaxed),
        500
    );
    let mut behind = Indexer::new(db.clone(), gw.clone(), &short, log.stats_handle());
    assert_eq!(behind.catch_up().await.unwrap(), 0);
    assert_eq!(db.count().await.unwrap(), 500);
    assert_eq!(db.cursor(&first).await.unwrap().next_index, 500);
    assert_eq!(
        db.locate(ids[499]).await.unwrap(),
        located(499, &first.log_id)
    );
    assert_eq!(db.locate(ids[500]).await.unwrap(), None);
    // New decisions go on from there.
    log.record(record(6_000)).await.unwrap();
    assert_eq!(behind.catch_up().await.unwrap(), 1);
    assert_eq!(db.count().await.unwrap(), 501);

    // Another gateway misconfigured with the same instance name writes a
    // log of its own: indexed beside the first, not into it.
    let twin_dir = scratch.join("twin");
    let (twin, twin_writer) = open_log(&twin_dir);
    for i in 0..3 {
        twin.record(record(7_000 + i)).await.unwrap();
    }
    let mut twin_indexer = Indexer::new(db.clone(), gw.clone(), &twin_dir, twin.stats_handle());
    assert_eq!(twin_indexer.catch_up().await.unwrap(), 3);
    assert_ne!(twin_indexer.log().unwrap().log_id, first.log_id);
    assert_eq!(db.count().await.unwrap(), 504);
    assert_eq!(db.cursor(&first).await.unwrap().next_index, 501);
    twin_writer.finish().await;
    writer.finish().await;
    store.close().await;
}

/// A SQLite store in a fresh directory named after `name`.
async fn sqlite_store(name: &str) -> Store {
    let dir = tempdir(name);
    Store::connect(&format!("sqlite://{}", dir.join("d.db").display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_store_contract() {
    let store = sqlite_store("sqlite").await;
    assert_eq!(store.backend(), "sqlite");
    storage_contract(store).await;
}

#[tokio::test]
async fn postgres_store_contract() {
    let url = test_support::fresh_postgres_database();
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    storage_contract(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_indexer_contract() {
    let dir = tempdir("sqlite-indexer");
    let store = Store::connect(&format!("sqlite://{}", dir.join("d.db").display()))
        .await
        .unwrap();
    indexer_contract(store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_indexer_contract() {
    let dir = tempdir("pg-indexer");
    let store = Store::connect(&test_support::fresh_postgres_database())
        .await
        .unwrap();
    indexer_contract(store, &dir).await;
}

#[tokio::test]
async fn migrations_are_idempotent_on_both_backends() {
    let dir = tempdir("sqlite-mig");
    let url = format!("sqlite://{}", dir.join("d.db").display());
    Store::connect(&url).await.unwrap().close().await;
    Store::connect(&url).await.unwrap().close().await;
    let pg = test_support::fresh_postgres_database();
    Store::connect(&pg).await.unwrap().close().await;
    Store::connect(&pg).await.unwrap().close().await;
}

#[tokio::test]
async fn unreachable_database_is_a_clear_error() {
    let err = Store::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_records_decisions_in_postgres() {
    let url = test_support::fresh_postgres_database();
    let h = Harness::start(Some(url.clone()), "").await;
    assert_eq!(
        h.send(Method::GET, "/eng/a", Some(&h.alice_vp()), &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.send(Method::GET, "/eng/a", None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let d = h.decisions(2).await;
    assert_eq!(d.len(), 2);
    assert!(d
        .iter()
        .any(|r| r.effect == "allow" && r.subject.as_deref() == Some(h.alice.did.as_str())));
    assert!(d
        .iter()
        .any(|r| r.reason == "credential_missing" && r.status == Some(401)));
    h.stop().await;
    // Another gateway on the same database sees the same index, which
    // names each row's entry in the log.
    let other = Store::connect(&url).await.unwrap();
    assert_eq!(other.decisions().count().await.unwrap(), 2);
    let mut at: Vec<_> = Vec::new();
    for r in &d {
        at.push(
            other
                .decisions()
                .locate(&r.id)
                .await
                .unwrap()
                .unwrap()
                .index,
        );
    }
    at.sort();
    assert_eq!(at, vec![Some(0), Some(1)]);
}
