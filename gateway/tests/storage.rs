//! The decision log on both backends, over real connections: SQLite (a file)
//! and PostgreSQL (127.0.0.1:5432, a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use audit::{AuditLog, DecisionRecord, Effect};
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
    }
}

async fn storage_contract(store: Store) {
    assert_eq!(store.decisions().count().await.unwrap(), 0);
    // Larger than one insert chunk, to cover chunking inside one transaction.
    let batch: Vec<_> = (0..1203).map(record).collect();
    store.decisions().insert(&batch).await.unwrap();
    assert_eq!(store.decisions().count().await.unwrap(), 1203);
    let recent = store.decisions().recent(3).await.unwrap();
    assert_eq!(recent.len(), 3);
    let newest = &batch[1202];
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

    // A batch with a duplicate id fails whole: no partial write, also of
    // the statements (64 rows, then 32) before the failing one; the
    // connection is fine afterwards.
    let mut bad: Vec<_> = (0..100).map(record).collect();
    bad[99].id = bad[0].id.clone();
    assert!(store.decisions().insert(&bad).await.is_err());
    assert_eq!(store.decisions().count().await.unwrap(), 1203);
    store.decisions().insert(&bad[..99]).await.unwrap();
    assert_eq!(store.decisions().count().await.unwrap(), 1302);

    // The audit writer drains everything queued before it finishes.
    let (log, writer) = AuditLog::spawn(store.decisions(), 4096);
    for i in 0..500 {
        log.record(record(10_000 + i)).await.unwrap();
    }
    drop(log);
    writer.finish().await;
    assert_eq!(store.decisions().count().await.unwrap(), 1802);

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

/// A full queue with a healthy writer slows the caller down instead of
/// refusing: every decision is taken and written. With a failing writer
/// (the database gone) a full queue refuses at once, without waiting.
#[tokio::test]
async fn full_queue_waits_for_a_healthy_writer_and_refuses_for_a_failing_one() {
    let store = sqlite_store("sqlite-full").await;
    // On the writer's own single connection, a batch rolled back by a bad
    // row leaves the connection usable for the next one.
    let one = store.dedicated().await.unwrap();
    let mut bad: Vec<_> = (0..70).map(record).collect();
    bad[69].id = bad[0].id.clone();
    assert!(one.decisions().insert(&bad).await.is_err());
    one.decisions().insert(&bad[..69]).await.unwrap();
    assert_eq!(store.decisions().count().await.unwrap(), 69);
    one.close().await;

    // Room for one decision: every other one finds the queue full.
    let (log, writer) = AuditLog::spawn(store.decisions(), 1);
    for i in 0..300 {
        log.record(record(i)).await.unwrap();
    }
    assert!(
        log.stats()
            .waited_full
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "the queue was full at times"
    );
    assert_eq!(
        log.stats()
            .refused_full
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop(log);
    writer.finish().await;
    assert_eq!(store.decisions().count().await.unwrap(), 369);

    // The database goes away: the writer's batch fails and is retried.
    store.close().await;
    let (log, _writer) = AuditLog::spawn(store.decisions(), 1);
    log.record(record(1_000)).await.unwrap();
    let stats = log.stats();
    for _ in 0..500 {
        if stats.failing.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(stats.failing.load(std::sync::atomic::Ordering::Relaxed));
    // One more fits in the queue; the next is refused without waiting for room.
    log.record(record(1_001)).await.unwrap();
    assert!(log.record(record(1_002)).await.is_err());
    assert_eq!(
        stats
            .refused_full
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        stats.waited_full.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
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
    // Another gateway on the same database sees the same log.
    let other = Store::connect(&url).await.unwrap();
    assert_eq!(other.decisions().count().await.unwrap(), 2);
}
