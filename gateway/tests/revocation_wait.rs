//! Revocation is immediate, as the demo's walkthrough says: `didgate did
//! deactivate` (like every registry write) and `vc revoke` return only
//! once every running gateway on the same database has applied the block
//! with its transaction, so the very next request is refused. The gateways
//! here poll their chain every 2 s, so a command that returned at once
//! would leave that request allowed. On the embedded chain (SQLite; two
//! gateways on one PostgreSQL) and on a JSON-RPC node (anvil); a stopped
//! gateway is not waited for, and one that went silent is named with the
//! time by which it refuses did:ethr at the latest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use credentials::{Format, Jwk, KeyType, SigningKey};
use http::{Method, StatusCode};
use support::*;
use test_support::Anvil;

/// The gateways' chain: polled every 2 s (the race a returning command
/// must not lose is as wide as that).
fn chain_toml(chain: &str) -> String {
    format!("[chains.dev]\n{chain}\npoll_interval_ms = 2000\n")
}

/// A did:ethr on network `dev` for `key`, with its controller kid.
fn ethr_who(key: SigningKey) -> Who {
    let jwk = serde_json::to_string(&key.public_key().to_jwk()).unwrap();
    let address = did_registry::ethr::address_of(&k256::PublicKey::from_jwk_str(&jwk).unwrap())
        .to_checksum(None);
    let did = format!("did:ethr:dev:{address}");
    Who {
        key,
        kid: format!("{did}#controller"),
        did,
    }
}

/// One of anvil's funded dev accounts as a did:ethr holder.
fn anvil_who(secret_hex: &str) -> Who {
    let sk = k256::SecretKey::from_slice(&hex::decode(secret_hex).unwrap()).unwrap();
    let jwk: Jwk = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    ethr_who(SigningKey::from_jwk(&jwk).unwrap())
}

fn key_file(dir: &Path, who: &Who) -> String {
    let path = dir.join(format!("{}.jwk", uuid::Uuid::new_v4()));
    didgate::request::assertion::write_key_file(&path, &who.key, Some(&who.kid)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// (status, reason code) of one request by `who`, a fresh presentation
/// of a credential from the gateway's trusted issuer.
async fn request(h: &Harness, who: &Who) -> (StatusCode, String) {
    let vc = h.employee_vc(who, "engineer", "eng");
    let vp = h.vp_for(who, vec![vc], &h.audience, now(), Format::JwtVc11);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    let code = if r.status == StatusCode::OK {
        "ok".to_owned()
    } else {
        r.code()
    };
    (r.status, code)
}

/// `didgate did deactivate` for `who` with config `cfg`, off the async
/// workers (the gateways run on them meanwhile); its stderr and duration.
async fn deactivate(cfg: &Path, key: &str) -> (String, Duration) {
    let args: Vec<String> = [
        "did",
        "deactivate",
        "-c",
        cfg.to_str().unwrap(),
        "--key",
        key,
        "--yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        didgate_cli(&args)
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "did deactivate failed: {err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deactivated in block"),
        "{err}"
    );
    (err, took)
}

const OK: (StatusCode, &str) = (StatusCode::OK, "ok");
const DEACTIVATED: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "did_deactivated");

fn is(got: &(StatusCode, String), want: (StatusCode, &str)) -> bool {
    got.0 == want.0 && got.1 == want.1
}

/// Allowed; deactivated by the command; the request right after it returns
/// is refused — on each of `gateways` (all following the chain of `cfg`).
async fn round(gateways: &[&Harness], cfg: &Path, who: &Who, label: &str) -> String {
    let key = key_file(&gateways[0].dir, who);
    for h in gateways {
        let r = request(h, who).await;
        assert!(is(&r, OK), "{label}: allowed before: {r:?}");
    }
    let (stderr, took) = deactivate(cfg, &key).await;
    for (i, h) in gateways.iter().enumerate() {
        let r = request(h, who).await;
        assert!(
            is(&r, DEACTIVATED),
            "{label}: gateway {i}, the request right after the command returned \
             ({} ms) was {r:?}; it said: {stderr}",
            took.as_millis()
        );
    }
    println!("REVOCATION_CLI {label} ms={}", took.as_millis());
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_returns_once_the_running_gateway_refuses_the_did() {
    let h = Harness::start(None, &chain_toml("embedded = true")).await;
    let cfg = h.dir.join("didgate.toml");
    for i in 0..4 {
        let who = ethr_who(SigningKey::generate(KeyType::Secp256k1));
        let stderr = round(&[&h], &cfg, &who, &format!("embedded round {i}")).await;
        assert!(
            stderr.contains("every running gateway on this database that follows dev (didgate) has applied block"),
            "{stderr}"
        );
    }
    h.stop().await;
}

/// A gateway that went silent (crashed: its record stays, its heartbeat
/// ages) is not waited for; the command names it and says within how long
/// it refuses did:ethr at the latest. One past its staleness bound fails
/// closed already and is not mentioned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_gateway_is_named_not_waited_for() {
    use did_registry::ethr::FollowerReport;
    let h = Harness::start(None, &chain_toml("embedded = true")).await;
    let cfg = h.dir.join("didgate.toml");
    let index = h.gw().store.event_index();
    let now_ms = now() * 1000;
    let ghost = |name: &str, age_ms: i64| FollowerReport {
        follower: format!("{name}/1"),
        instance: name.to_owned(),
        applied_block: 0,
        heartbeat_ms: now_ms - age_ms,
        poll_ms: 1000,
        max_staleness_ms: 60_000,
        confirmations: 0,
    };
    index
        .report_follower("dev", &ghost("ghost", 20_000))
        .await
        .unwrap();
    index
        .report_follower("dev", &ghost("gone", 120_000))
        .await
        .unwrap();
    let who = ethr_who(SigningKey::generate(KeyType::Secp256k1));
    let key = key_file(&h.dir, &who);
    let (stderr, took) = deactivate(&cfg, &key).await;
    assert!(took < Duration::from_secs(8), "waited {took:?}: {stderr}");
    assert!(
        stderr.contains("warning: gateway ghost has not reported for 2"),
        "{stderr}"
    );
    // Its last report was 20 s ago; 60 s of staleness (and a second for
    // the report interval) leave at most 41 s.
    let within: u64 = stderr
        .split("refuses did:ethr requests within ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!((30..=41).contains(&within), "{stderr}");
    assert!(!stderr.contains("gone"), "{stderr}");
    // The running gateway applied it all the same.
    assert!(is(&request(&h, &who).await, DEACTIVATED));
    h.stop().await;
}

/// Several gateways on one PostgreSQL database: the command waits for
/// each of them; a gateway that stopped removed its record and is not
/// waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_on_one_postgres_refuses_right_after_the_command() {
    let db = test_support::fresh_postgres_database();
    let chain = chain_toml("embedded = true");
    let a = Harness::start_full(Some(db.clone()), "instance = \"gw-a\"", "", &chain, "").await;
    let b = Harness::start_full(Some(db), "instance = \"gw-b\"", "", &chain, "").await;
    let cfg = a.dir.join("didgate.toml");
    for i in 0..3 {
        let who = ethr_who(SigningKey::generate(KeyType::Secp256k1));
        let stderr = round(&[&a, &b], &cfg, &who, &format!("postgres round {i}")).await;
        assert!(
            stderr.contains("every running gateway on this database that follows dev (gw-a, gw-b) has applied block"),
            "{stderr}"
        );
    }
    b.stop().await;
    let who = ethr_who(SigningKey::generate(KeyType::Secp256k1));
    let stderr = round(&[&a], &cfg, &who, "postgres, one stopped").await;
    assert!(
        stderr.contains(
            "every running gateway on this database that follows dev (gw-a) has applied block"
        ),
        "{stderr}"
    );
    a.stop().await;
}

/// The same over JSON-RPC: the gateway follows anvil; the command sends
/// the transaction to the node and waits for the gateway all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_on_a_node_returns_once_the_gateway_refuses_the_did() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let h = Harness::start(
        None,
        &chain_toml(&format!(
            "rpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337",
            anvil.url
        )),
    )
    .await;
    let cfg = h.dir.join("didgate.toml");
    // anvil's funded dev accounts 2, 3 and 4.
    for (i, secret) in [
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ]
    .iter()
    .enumerate()
    {
        let who = anvil_who(secret);
        let stderr = round(&[&h], &cfg, &who, &format!("anvil round {i}")).await;
        assert!(
            stderr.contains("in effect: every running gateway"),
            "{stderr}"
        );
    }
    h.stop().await;
}

/// `vc revoke` too: the credential is refused by the very next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vc_revoke_returns_once_the_running_gateway_refuses_the_credential() {
    let issuer = ethr_who(SigningKey::generate(KeyType::Secp256k1));
    let trust = format!(
        "[[credentials.trusted_issuers]]\ncredential_type = \"EmployeeCredential\"\nissuers = [\"{}\"]\n{}",
        issuer.did,
        chain_toml("embedded = true")
    );
    let h = Harness::start(None, &trust).await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap().to_owned();
    let issuer_key = key_file(&h.dir, &issuer);
    for index in ["3", "4", "5"] {
        let vc_path = h.dir.join(format!("vc-{index}.jwt"));
        let vc_path = vc_path.to_str().unwrap().to_owned();
        run_ok(&[
            "vc",
            "issue",
            "--issuer-key",
            &issuer_key,
            "--subject",
            &h.alice.did,
            "--type",
            "EmployeeCredential",
            "--claim",
            "role=engineer",
            "--claim",
            "department=eng",
            "--status-list",
            "staff",
            "--status-index",
            index,
            "--out",
            &vc_path,
        ]);
        let vc = std::fs::read_to_string(&vc_path).unwrap().trim().to_owned();
        let try_vc = || async {
            let vp = h.vp_for(
                &h.alice,
                vec![vc.clone()],
                &h.audience,
                now(),
                Format::JwtVc11,
            );
            let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
            if r.status == StatusCode::OK {
                "ok".to_owned()
            } else {
                r.code()
            }
        };
        assert_eq!(try_vc().await, "ok", "index {index}");
        let args: Vec<String> = [
            "vc",
            "revoke",
            "-c",
            &cfg,
            "--issuer-key",
            &issuer_key,
            "--credential",
            &vc_path,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            didgate_cli(&args)
        })
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(err.contains("has applied block"), "{err}");
        assert_eq!(
            try_vc().await,
            "credential_revoked",
            "index {index}: the request right after `vc revoke` returned ({err})"
        );
    }
    h.stop().await;
}
