//! The decision log anchored on chain (`[audit.anchor]`), on the embedded
//! chain and on a real node (anvil): the gateway anchors its checkpoints as
//! the log grows, `didgate audit anchor` anchors now, and `audit status`
//! says the local log extends the anchored head. Then the attack anchoring
//! exists for: the log is wiped and started afresh under the same key.
//! `audit status` refuses it (exit 2) and no new head can be anchored over
//! the old one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use credentials::{KeyType, SigningKey};
use http::Method;
use support::*;
use test_support::Anvil;

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `chain` is a `[chains.dev]` section; `contract` an `[audit.anchor]`
/// line naming the contract (empty on the embedded chain: deployed there);
/// `key` signs the anchors.
async fn anchors_the_log_and_refuses_a_rewritten_one(
    chain: &str,
    contract: &str,
    key: &SigningKey,
) {
    let keys = tempdir("anchor-key");
    let key_file = keys.join("anchor.jwk");
    didgate::request::assertion::write_key_file(&key_file, key, None).unwrap();
    let extra = format!(
        "{chain}\n[audit.anchor]\nchain = \"dev\"\nkey_file = \"{}\"\ninterval_secs = 1\n{contract}\n",
        key_file.display()
    );
    let mut h = Harness::start(None, &extra).await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap().to_owned();
    let mut first = None;
    for _ in 0..3 {
        let r = h
            .send(Method::GET, "/eng/a", Some(&h.alice_vp()), &[])
            .await;
        r.assert_ok();
        first.get_or_insert(r.decision_id().unwrap());
    }
    let first = first.unwrap();
    // The gateway anchors by itself within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = didgate_cli(&["audit", "status", "-c", &cfg]);
        let text = out(&s);
        assert!(s.status.success(), "{text}");
        if text.contains("consistent") && !text.contains("anchored:   size 0") {
            let size: u64 = text
                .split("anchored:   size ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            if size >= 3 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never anchored: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // More decisions; anchoring now takes them (once in a checkpoint).
    for _ in 0..2 {
        h.send(Method::GET, "/eng/b", Some(&h.alice_vp()), &[])
            .await
            .assert_ok();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a = didgate_cli(&["audit", "anchor", "-c", &cfg]);
    let text = out(&a);
    assert!(a.status.success(), "{text}");
    assert!(
        text.contains("anchored: size") || text.contains("already anchored: size"),
        "{text}"
    );

    let v = didgate_cli(&["audit", "verify", "-c", &cfg]);
    assert!(v.status.success(), "{}", out(&v));
    assert!(out(&v).contains("consistent"), "{}", out(&v));
    // The chain follower indexed every anchor; each is checked.
    let s = didgate_cli(&["audit", "status", "-c", &cfg]);
    assert!(s.status.success(), "{}", out(&s));
    assert!(
        out(&s).contains("the local log extends every one"),
        "{}",
        out(&s)
    );
    let anchors: usize = out(&s)
        .split("anchors:    ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(anchors >= 2, "{}", out(&s));

    // A proof of the first decision that leads to the anchored head checks
    // against the chain alone (no key); an edited entry does not.
    let proof = keys.join("proof.json");
    let p = didgate_cli(&[
        "audit",
        "prove",
        "-c",
        &cfg,
        &first,
        "-o",
        proof.to_str().unwrap(),
    ]);
    assert!(p.status.success(), "{}", out(&p));
    let c = didgate_cli(&["audit", "check-proof", proof.to_str().unwrap(), "-c", &cfg]);
    assert!(c.status.success(), "{}", out(&c));
    assert!(out(&c).contains("anchored on chain"), "{}", out(&c));
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    forged["index"] = serde_json::json!(1);
    let forged_path = keys.join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let c = didgate_cli(&[
        "audit",
        "check-proof",
        forged_path.to_str().unwrap(),
        "-c",
        &cfg,
    ]);
    assert_eq!(c.status.code(), Some(2), "{}", out(&c));

    // Someone holding the gateway's key and disk wipes the log and starts a
    // new one under the same name: it verifies against its own signatures,
    // and only the anchor catches it.
    let log_dir = h.gw().log_dir().to_path_buf();
    h.reconfigure(|_| {
        std::fs::remove_dir_all(&log_dir).unwrap();
    })
    .await;
    h.send(Method::GET, "/eng/c", Some(&h.alice_vp()), &[])
        .await
        .assert_ok();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = didgate_cli(&["audit", "status", "-c", &cfg]);
    assert_eq!(s.status.code(), Some(2), "{}", out(&s));
    assert!(out(&s).contains("not consistent"), "{}", out(&s));
    let v = didgate_cli(&["audit", "verify", "-c", &cfg]);
    assert_eq!(v.status.code(), Some(2), "{}", out(&v));
    assert!(
        out(&v).contains("OK: the log in"),
        "its signatures hold: {}",
        out(&v)
    );
    assert!(out(&v).contains("forked history"), "{}", out(&v));
    let a = didgate_cli(&["audit", "anchor", "-c", &cfg]);
    assert_eq!(a.status.code(), Some(1), "{}", out(&a));
    assert!(out(&a).contains("larger than the local log"), "{}", out(&a));
    // The proof made before still holds against the chain: the log's
    // history outlives the log.
    let c = didgate_cli(&["audit", "check-proof", proof.to_str().unwrap(), "-c", &cfg]);
    assert!(c.status.success(), "{}", out(&c));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_chain() {
    let chain = "[chains.dev]\nembedded = true\npoll_interval_ms = 50\n";
    let key = SigningKey::generate(KeyType::Secp256k1);
    anchors_the_log_and_refuses_a_rewritten_one(chain, "", &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let contract = anvil.deploy_log_anchor(&registry);
    let chain = format!(
        "[chains.dev]\nrpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337\npoll_interval_ms = 50\n",
        anvil.url
    );
    // anvil's dev account 0: funded, its own did:ethr identity.
    let key = anvil_holder(ANVIL_ACCOUNTS[0]).key;
    anchors_the_log_and_refuses_a_rewritten_one(
        &chain,
        &format!("contract = \"{contract}\""),
        &key,
    )
    .await;
}
