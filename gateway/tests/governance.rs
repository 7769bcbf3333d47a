//! Policies governed on chain (`[policy] source = "chain"`), through the
//! command line as administrators use it, on the embedded chain and on a
//! real node (anvil):
//! - a deployment with administrators A and B, 2 of 2; below the threshold
//!   nothing changes, and a non-administrator's approval is refused by the
//!   contract;
//! - once B approves, the gateway enforces the new set, and the decisions
//!   it makes record that set's hash;
//! - bundles kept in a folder (embedded chain) or in the PostgreSQL database
//!   two gateways share (anvil);
//! - a bundle whose bytes do not match the approved hash is refused: the
//!   last good set stays in force and health says why, until the right
//!   bundle can be fetched;
//! - editing the local files in chain mode changes nothing, and `policy
//!   status` says so; rolling back is approving the earlier hash again;
//! - two gateways on one chain (anvil; the embedded chain in the PostgreSQL
//!   database both use) enforce the same set from the same activation block;
//!   on anvil, a reorganisation that removes an activation puts the earlier
//!   set back on both (the embedded chain has no reorganisations).
//!
//! The time from the approving command's return to the first request the
//! new set decides is printed as `POLICY_ACTIVATION_DELAY …` (run with
//! `--nocapture`; bench/RESULTS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use did_registry::ethr::governance;
use did_registry::ethr::{Chain, RpcChain};
use http::{Method, StatusCode};
use serde_json::json;
use support::*;
use test_support::Anvil;

/// anvil's dev accounts 0, 1 and 2: administrators A and B, and C, who is not one.
const ACCOUNTS: [(&str, &str); 3] = [
    (
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
];

/// The policy that the proposed set adds: engineers may POST under /eng/.
const ENGINEERS_WRITE: &str = r#"
@id("engineers-write")
permit (principal, action == Didgate::Action::"POST", resource)
when { resource.path like "/eng/*" && principal.claims has EmployeeCredential.department && principal.claims.EmployeeCredential.department == "eng" };
"#;

/// A third set: the harness's, plus a rule that changes nothing here.
const THIRD: &str = r#"
@id("reports-read")
permit (principal, action == Didgate::Action::"GET", resource)
when { resource.path like "/reports/*" };
"#;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Key files of the three accounts, as did:ethr on network `dev`.
fn admin_keys(dir: &Path) -> Vec<(PathBuf, String)> {
    ACCOUNTS
        .iter()
        .enumerate()
        .map(|(i, acct)| {
            let who = anvil_holder(*acct);
            let path = dir.join(format!("admin-{i}.jwk"));
            didgate::request::assertion::write_key_file(&path, &who.key, Some(&who.kid)).unwrap();
            (path, who.did)
        })
        .collect()
}

/// A folder holding the harness's schema and policies plus `extra`.
fn policy_folder(h: &Harness, name: &str, extra: &str) -> PathBuf {
    let d = h.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        h.dir.join("schema.cedarschema"),
        d.join("schema.cedarschema"),
    )
    .unwrap();
    std::fs::write(d.join("test.cedar"), POLICIES).unwrap();
    if !extra.is_empty() {
        std::fs::write(d.join("extra.cedar"), extra).unwrap();
    }
    d
}

/// The hash of the bundle of folder `dir`, which administrator `key`
/// proposes; what `propose` printed.
fn propose_folder(cfg: &str, dir: &Path, key: &Path) -> (String, String) {
    let dir = dir.to_str().unwrap();
    let hash = run_ok(&["policy", "bundle", "--from", dir, "-c", cfg])
        .trim()
        .to_owned();
    let key = key.to_str().unwrap();
    let out = run_ok(&[
        "policy", "propose", "-c", cfg, "--bundle", dir, "--key", key,
    ]);
    (hash, out)
}

/// Restart the gateway in `[policy] source = "chain"` mode, in its config
/// file too (for the commands that read it).
async fn switch_to_chain(h: &mut Harness, cfg: &str) {
    let toml = std::fs::read_to_string(cfg).unwrap();
    std::fs::write(
        cfg,
        toml.replacen("[policy]\n", "[policy]\nsource = \"chain\"\n", 1),
    )
    .unwrap();
    h.reconfigure(|c| c.policy.source = didgate::config::PolicySource::Chain)
        .await;
}

/// alice (an engineer in eng) POSTs to /eng/docs with a fresh presentation.
async fn alice_posts(h: &Harness) -> Answer {
    let vp = h.fresh_vp(&h.alice);
    Answer::of(&h.send(Method::POST, "/eng/docs", Some(&vp), &[]).await)
}

/// Milliseconds from `since` until the gateway enforces the set `hash`
/// (its policy engine's digest, looked at every millisecond; a request
/// with a fresh presentation costs tens of milliseconds in a debug build,
/// too coarse to time this by).
async fn enforced_after(h: &Harness, hash: &str, since: Instant) -> u128 {
    let deadline = since + Duration::from_secs(15);
    loop {
        if policy::bundle::hex(&h.gw().policy.policy_set_digest()) == hash {
            return since.elapsed().as_millis();
        }
        assert!(Instant::now() < deadline, "{hash} never enforced");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Wait until alice's POST gets `status`, failing after a few seconds.
async fn wait_for_post(h: &Harness, status: StatusCode, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = alice_posts(h).await;
        if a.status == status {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn health(h: &Harness) -> serde_json::Value {
    let r = h.send(Method::GET, "/.didgate/health", None, &[]).await;
    r.json()
}

/// Where the bundles are kept: a folder, or the (PostgreSQL) database the
/// gateways share.
enum Bundles {
    Folder(PathBuf),
    Database(String),
}

impl Bundles {
    fn setting(&self) -> String {
        match self {
            Bundles::Folder(d) => d.display().to_string(),
            Bundles::Database(_) => "database".into(),
        }
    }

    fn db_url(&self) -> Option<String> {
        match self {
            Bundles::Folder(_) => None,
            Bundles::Database(url) => Some(url.clone()),
        }
    }

    async fn read(&self, hash: &str) -> Vec<u8> {
        match self {
            Bundles::Folder(d) => std::fs::read(d.join(format!("{hash}.bundle"))).unwrap(),
            Bundles::Database(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let b = sqlx::query_scalar("SELECT bytes FROM policy_bundles WHERE hash = $1")
                    .bind(hash)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                b
            }
        }
    }

    /// Replace what is kept under `hash` (an attacker with write access).
    async fn write(&self, hash: &str, bytes: &[u8]) {
        match self {
            Bundles::Folder(d) => std::fs::write(d.join(format!("{hash}.bundle")), bytes).unwrap(),
            Bundles::Database(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::query("UPDATE policy_bundles SET bytes = $2 WHERE hash = $1")
                    .bind(hash)
                    .bind(bytes)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }
}

/// Everything a deployment's life asks of one gateway. `chain` is the
/// `[chains.dev]` section; `contract` a `contract = "0x…"` line for
/// `[policy.governance]` (empty on the embedded chain).
async fn governed_lifecycle(
    chain: &str,
    contract: &str,
    bundles: &Bundles,
    db: Option<String>,
) -> Harness {
    let keys = tempdir("gov-keys");
    let admins = admin_keys(&keys);
    let extra = format!(
        "{chain}\n[policy.governance]\nchain = \"dev\"\ndeployment = \"test\"\nbundles = \"{}\"\n{contract}\n",
        bundles.setting()
    );
    let mut h = Harness::start(db, &extra).await;
    let cfg = h.dir.join("didgate.toml").display().to_string();
    let key = |i: usize| admins[i].0.display().to_string();

    // The deployment: A and B, 2 of 2. Then the harness's set, proposed by
    // A and approved by B.
    let out = run_ok(&[
        "policy",
        "init",
        "-c",
        &cfg,
        "--key",
        &key(0),
        "--admin",
        &admins[0].1,
        "--admin",
        &admins[1].1,
        "--threshold",
        "2",
    ]);
    assert!(out.contains("2 administrators"), "{out}");
    let first = run_ok(&["policy", "bundle", "-c", &cfg]).trim().to_owned();
    let out = run_ok(&["policy", "propose", "-c", &cfg, "--key", &key(0)]);
    assert!(out.contains("pending, 1 of 2"), "{out}");
    let refused = didgate_cli(&["policy", "approve", "-c", &cfg, &first, "--key", &key(2)]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("not_admin"), "{}", text(&refused));
    let out = run_ok(&["policy", "approve", "-c", &cfg, &first, "--key", &key(1)]);
    assert!(out.contains("executed, 2 of 2"), "{out}");

    // From now on the gateway enforces what the chain says.
    switch_to_chain(&mut h, &cfg).await;
    let out = run_ok(&["check", "-c", &cfg]);
    assert!(
        out.contains("source = \"chain\"") && out.contains(&first),
        "{out}"
    );
    assert_eq!(health(&h).await["policy_set"], json!(first));
    let denied = alice_posts(&h).await;
    assert!(
        denied.is(StatusCode::FORBIDDEN, "policy_denied"),
        "{denied:?}"
    );

    // A proposes a set that lets engineers POST: pending, nothing changes.
    let next_dir = policy_folder(&h, "next", ENGINEERS_WRITE);
    let (next, out) = propose_folder(&cfg, &next_dir, &admins[0].0);
    assert!(out.contains("pending, 1 of 2"), "{out}");
    let status = run_ok(&["policy", "status", "-c", &cfg]);
    assert!(status.contains(&format!("active: {first}")), "{status}");
    assert!(
        status.contains("+ engineers-write (extra.cedar)"),
        "{status}"
    );
    // Before approving, B tests the proposal: by hash, as gateways fetch it.
    let cases = h.dir.join("cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nname = \"an engineer may POST under /eng\"\nprincipal = \"did:key:alice\"\n\
         claims = { EmployeeCredential = { role = \"engineer\", department = \"eng\" } }\n\
         action = \"POST\"\napp = \"demo\"\npath = \"/eng/docs\"\nexpect = \"allow\"\n",
    )
    .unwrap();
    let cases = cases.to_str().unwrap();
    let out = run_ok(&["policy", "test", "-c", &cfg, cases, "--bundle", &next]);
    assert!(out.contains(&format!("bundle {next}")), "{out}");
    let failed = didgate_cli(&["policy", "test", "-c", &cfg, cases]);
    assert!(
        !failed.status.success(),
        "the working copy does not allow it"
    );
    let diff = run_ok(&["policy", "diff", "-c", &cfg, &next]);
    assert!(diff.contains("+ engineers-write"), "{diff}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(alice_posts(&h)
        .await
        .is(StatusCode::FORBIDDEN, "policy_denied"));

    // B approves: the gateway switches, and records the new set's hash.
    let started = Instant::now();
    run_ok(&["policy", "approve", "-c", &cfg, &next, "--key", &key(1)]);
    let cli_ms = started.elapsed().as_millis();
    let ms = enforced_after(&h, &next, started).await;
    wait_for_post(&h, StatusCode::OK, "after the approval").await;
    println!(
        "POLICY_ACTIVATION_DELAY chain={} approve_command_ms={cli_ms} enforced_after_ms={ms}",
        if contract.is_empty() {
            "embedded"
        } else {
            "anvil"
        }
    );
    let allowed = alice_posts(&h).await;
    let id = allowed.decision_id.clone().unwrap();
    assert_eq!(policy_set_of(&h, &id).await, next);
    assert_eq!(health(&h).await["policy_set"], json!(next));

    // Editing the local files changes nothing in chain mode.
    std::fs::write(
        h.dir.join("test.cedar"),
        "forbid (principal, action, resource);",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    alice_posts(&h).await;
    assert_eq!(alice_posts(&h).await.status, StatusCode::OK);
    let status = run_ok(&["policy", "status", "-c", &cfg]);
    assert!(status.contains("NOT enforced"), "{status}");

    // A tampered bundle: approved by hash, but the bytes served differ.
    // The last good set stays; health says why; the right bytes fix it.
    let third_dir = policy_folder(&h, "third", THIRD);
    let (third, _) = propose_folder(&cfg, &third_dir, &admins[1].0);
    let good = bundles.read(&third).await;
    let mut bad = good.clone();
    let n = bad.len() - 3;
    bad[n] ^= 0x20;
    bundles.write(&third, &bad).await;
    run_ok(&["policy", "approve", "-c", &cfg, &third, "--key", &key(0)]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hl = health(&h).await;
        if hl["status"] == json!("degraded") {
            let p = hl["policy_problem"].as_str().unwrap();
            assert_eq!(p, "bundle_hash_mismatch");
            assert_eq!(hl["policy_set"], json!(next), "the last good set stays");
            break;
        }
        assert!(Instant::now() < deadline, "never degraded: {hl}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alice_posts(&h).await.status, StatusCode::OK);
    bundles.write(&third, &good).await;
    wait_for_post(
        &h,
        StatusCode::FORBIDDEN,
        "after the right bundle came back",
    )
    .await;
    assert_eq!(health(&h).await["status"], json!("ok"));

    // Rolling back is approving an earlier hash again.
    let back_dir = policy_folder(&h, "back", ENGINEERS_WRITE);
    let out = run_ok(&[
        "policy",
        "propose",
        "-c",
        &cfg,
        "--bundle",
        back_dir.to_str().unwrap(),
        "--key",
        &key(0),
    ]);
    assert!(out.contains(&next), "{out}");
    run_ok(&["policy", "approve", "-c", &cfg, &next, "--key", &key(1)]);
    wait_for_post(&h, StatusCode::OK, "after the rollback").await;

    // Who governs changes only with the threshold's approvals: A proposes
    // adding C; C is not an administrator until B approves (by id).
    let out = run_ok(&[
        "policy",
        "admins",
        "add",
        &admins[2].1,
        "-c",
        &cfg,
        "--key",
        &key(0),
    ]);
    assert!(
        out.contains("add-admin") && out.contains("pending, 1 of 2"),
        "{out}"
    );
    let id = out
        .split("proposal #")
        .nth(1)
        .and_then(|t| t.split(':').next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let early = didgate_cli(&[
        "policy",
        "cancel",
        "-c",
        &cfg,
        "--id",
        &id,
        "--key",
        &key(2),
    ]);
    assert!(text(&early).contains("not_admin"), "{}", text(&early));
    let out = run_ok(&[
        "policy",
        "approve",
        "-c",
        &cfg,
        "--id",
        &id,
        "--key",
        &key(1),
    ]);
    assert!(out.contains("executed, 2 of 2"), "{out}");
    let status = run_ok(&["policy", "status", "-c", &cfg]);
    assert!(
        status.contains("administrators (2 of 3 must approve)"),
        "{status}"
    );
    h
}

/// The policy set a decision in the index was made by.
async fn policy_set_of(h: &Harness, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = h.config.database_url();
    loop {
        const SELECT: &str = "SELECT policy_set FROM decisions WHERE id = $1";
        let row: Option<(Option<String>,)> = if url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let r = sqlx::query_as(SELECT)
                .bind(id)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        } else {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let r = sqlx::query_as(SELECT)
                .bind(id)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        };
        if let Some((Some(set),)) = row {
            return set;
        }
        assert!(Instant::now() < deadline, "decision {id} never indexed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_chain_governs_the_policy_set() {
    let bundles = Bundles::Folder(tempdir("gov-bundles"));
    let chain = "[chains.dev]\nembedded = true\npoll_interval_ms = 100\n";
    let h = governed_lifecycle(chain, "", &bundles, None).await;
    h.stop().await;
}

/// Two gateways on one embedded chain: the chain lives in the PostgreSQL
/// database they share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_chain_switches_two_gateways_together() {
    let db = test_support::fresh_postgres_database();
    let bundles = Bundles::Folder(tempdir("gov-bundles"));
    let chain = "[chains.dev]\nembedded = true\npoll_interval_ms = 100\n";
    let h1 = governed_lifecycle(chain, "", &bundles, Some(db.clone())).await;
    two_gateways_switch_together(h1, chain, Some(db), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_governs_two_gateways_and_follows_a_reorganisation() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let chain = RpcChain::new(&anvil.url).unwrap();
    let deployer = k256::SecretKey::from_slice(&hex::decode(ACCOUNTS[0].1).unwrap()).unwrap();
    let code = governance::policy_registry_creation_code(registry.parse().unwrap()).unwrap();
    let contract = chain
        .transact(&deployer, None, code, 5_000_000)
        .await
        .unwrap()
        .contract_address
        .unwrap();
    let chain_toml = format!(
        "[chains.dev]\nrpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337\npoll_interval_ms = 100\n",
        anvil.url
    );
    let contract_line = format!("contract = \"{contract}\"");
    // Both gateways share one PostgreSQL database, and keep bundles there.
    let bundles = Bundles::Database(test_support::fresh_postgres_database());
    let h1 = governed_lifecycle(&chain_toml, &contract_line, &bundles, bundles.db_url()).await;

    two_gateways_switch_together(h1, &chain_toml, bundles.db_url(), Some(anvil)).await;
}

/// A second gateway on `h1`'s chain and database: both enforce the same
/// set, switch to the next one from the same activation block, and (on
/// anvil, whose chain can be rewound) both go back when a reorganisation
/// removes the activation.
async fn two_gateways_switch_together(
    h1: Harness,
    chain_toml: &str,
    db: Option<String>,
    anvil: Option<Anvil>,
) {
    let mut h2 = Harness::start(db, chain_toml).await;
    h2.reconfigure(|c| c.policy = h1.config.policy.clone())
        .await;
    let set = |h: &Harness| {
        let h = h.gw().policy.policy_set_digest();
        policy::bundle::hex(&h)
    };
    assert_eq!(set(&h1), set(&h2));

    let cfg = h1.dir.join("didgate.toml").display().to_string();
    let keys = tempdir("gov-keys-2");
    let admins = admin_keys(&keys);
    let before = set(&h1);
    // (The lifecycle left the set that lets engineers POST in force.)
    let next_dir = policy_folder(&h1, "next2", THIRD);
    let (next, _) = propose_folder(&cfg, &next_dir, &admins[0].0);
    let snapshot = anvil
        .as_ref()
        .map(|a| a.rpc("evm_snapshot", json!([])).unwrap());
    let started = Instant::now();
    let out = run_ok(&[
        "policy",
        "approve",
        "-c",
        &cfg,
        &next,
        "--key",
        admins[1].0.to_str().unwrap(),
    ]);
    let block: u64 = out
        .split("active from block ")
        .nth(1)
        .and_then(|t| t.split(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let cli_ms = started.elapsed().as_millis();
    let (ms1, ms2) = tokio::join!(
        enforced_after(&h1, &next, started),
        enforced_after(&h2, &next, started)
    );
    wait_for_post(&h1, StatusCode::FORBIDDEN, "gateway 1 after the approval").await;
    wait_for_post(&h2, StatusCode::FORBIDDEN, "gateway 2 after the approval").await;
    let head = h1
        .gw()
        .governor
        .as_ref()
        .unwrap()
        .registry()
        .chain
        .block_number()
        .await
        .unwrap();
    println!(
        "POLICY_ACTIVATION_DELAY chain={} gateways=2 blocks={} approve_command_ms={cli_ms} enforced_after_ms={ms1},{ms2}",
        if anvil.is_some() { "anvil" } else { "embedded" },
        head - block
    );
    for h in [&h1, &h2] {
        let s = h.gw().governor.as_ref().unwrap().status();
        assert_eq!(
            s.active.map(|(_, b)| b),
            Some(block),
            "same activation block"
        );
        assert_eq!(
            s.enforced.map(|e| policy::bundle::hex(&e)),
            Some(next.clone())
        );
    }
    if let (Some(mut anvil), Some(snapshot)) = (anvil, snapshot) {
        assert_eq!(anvil.rpc("evm_revert", json!([snapshot])).unwrap(), true);
        anvil.rpc("evm_mine", json!([])).unwrap();
        wait_for_post(&h1, StatusCode::OK, "gateway 1 after the reorganisation").await;
        wait_for_post(&h2, StatusCode::OK, "gateway 2 after the reorganisation").await;
        assert_eq!(set(&h1), before);
        assert_eq!(set(&h2), before);

        // The chain goes away: both keep the set they last read, and their
        // health says why it may be stale.
        anvil.kill();
        for h in [&h1, &h2] {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let hl = health(h).await;
                if hl["status"] == json!("degraded") {
                    assert_eq!(hl["policy_problem"], json!("chain_unavailable"), "{hl}");
                    assert_eq!(hl["policy_set"], json!(before), "the last set read stays");
                    break;
                }
                assert!(Instant::now() < deadline, "never degraded: {hl}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(alice_posts(h).await.status, StatusCode::OK);
        }
    }
    h2.stop().await;
    h1.stop().await;
}

/// A small HTTPS file server for `dir` (`GET /bundles/<hash>.bundle`), with
/// a fresh self-signed certificate for localhost: its base URL and the
/// certificate (the private CA a `bundles_ca` names).
async fn https_bundle_server(dir: PathBuf) -> (String, PathBuf) {
    use hyper_util::rt::TokioIo;
    let certs = tempdir("bundle-tls");
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    didgate::server::tls::write_self_signed(&cert, &key, &["localhost"]).unwrap();
    let chain: Vec<_> = rustls_pemfile::certs(&mut std::fs::read(&cert).unwrap().as_slice())
        .map(Result::unwrap)
        .collect();
    let private = rustls_pemfile::private_key(&mut std::fs::read(&key).unwrap().as_slice())
        .unwrap()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (acceptor, dir) = (acceptor.clone(), dir.clone());
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(s).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: http::Request<_>| {
                    let file = req
                        .uri()
                        .path()
                        .strip_prefix("/bundles/")
                        .filter(|n| n.len() == 71 && n.ends_with(".bundle"))
                        .and_then(|n| std::fs::read(dir.join(n)).ok());
                    async move {
                        let (status, body) = match file {
                            Some(b) => (StatusCode::OK, b),
                            None => (StatusCode::NOT_FOUND, Vec::new()),
                        };
                        let mut r = http::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        ));
                        *r.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), cert)
}

/// Bundles served over HTTPS by a server whose certificate chains to a
/// private CA (`bundles_ca`): the gateway starts on the approved set, and
/// switches when the next one is approved; one that is approved but not
/// served leaves the last good set in force (`bundle_unavailable`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_over_https_with_a_private_ca() {
    let served = tempdir("served-bundles");
    let (url, ca) = https_bundle_server(served.clone()).await;
    let keys = tempdir("gov-keys");
    let admins = admin_keys(&keys);
    let extra = format!(
        "[chains.dev]\nembedded = true\npoll_interval_ms = 100\n[policy.governance]\nchain = \"dev\"\n\
         deployment = \"web\"\nbundles = \"{url}/bundles\"\nbundles_ca = \"{}\"\n",
        ca.display()
    );
    let mut h = Harness::start(None, &extra).await;
    let cfg = h.dir.join("didgate.toml").display().to_string();
    let key = admins[0].0.to_str().unwrap();
    run_ok(&[
        "policy",
        "init",
        "-c",
        &cfg,
        "--key",
        key,
        "--admin",
        &admins[0].1,
        "--threshold",
        "1",
    ]);
    // Publish (here: copy into the served folder), then propose: with one
    // administrator and a threshold of 1, proposing activates it.
    let publish = |dir: &Path| {
        let dir = dir.to_str().unwrap();
        let served = served.to_str().unwrap();
        let hash = run_ok(&["policy", "bundle", "--from", dir, "--out", served]);
        let out = run_ok(&[
            "policy", "propose", "-c", &cfg, "--bundle", dir, "--key", key,
        ]);
        assert!(out.contains("executed, 1 of 1"), "{out}");
        hash.trim().to_owned()
    };
    let first = publish(&policy_folder(&h, "first", ""));
    switch_to_chain(&mut h, &cfg).await;
    assert_eq!(health(&h).await["policy_set"], json!(first));

    let next = publish(&policy_folder(&h, "next", ENGINEERS_WRITE));
    wait_for_post(&h, StatusCode::OK, "after the next set over HTTPS").await;
    assert_eq!(health(&h).await["policy_set"], json!(next));

    // Approved, but the server does not have it.
    let third = policy_folder(&h, "third", THIRD);
    let dir = third.to_str().unwrap();
    run_ok(&[
        "policy", "propose", "-c", &cfg, "--bundle", dir, "--key", key,
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hl = health(&h).await;
        if hl["status"] == json!("degraded") {
            assert_eq!(hl["policy_problem"], json!("bundle_unavailable"), "{hl}");
            assert_eq!(hl["policy_set"], json!(next));
            break;
        }
        assert!(Instant::now() < deadline, "never degraded: {hl}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alice_posts(&h).await.status, StatusCode::OK);
    h.stop().await;
}
