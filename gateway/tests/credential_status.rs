//! Credential status on chain, end to end: a real gateway follows a chain
//! (anvil, and the embedded chain) with the ERC-1056 registry and the
//! `StatusRegistry`; a credential with a `credentialStatus` entry on its
//! issuer's list is allowed until the issuer sets its bit, refused
//! (`credential_revoked`) from the next indexed block, and allowed again
//! after `--undo`. The delay is printed as `STATUS_REVOCATION_DELAY …`
//! (run with `--nocapture`). Every way an entry must be refused has a test,
//! and a key that is neither owner nor delegate changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credentials::{CredentialRequest, Format, Jwk, SigningKey};
use did_registry::ethr::status::{self, U256};
use did_registry::ethr::{Address, Chain, RpcChain, StatusEntry};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;
use test_support::Anvil;

/// Anvil's dev accounts 0 and 1 (funded; any key works on the embedded chain).
const ISSUER_SECRET: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_SECRET: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn secret(hex_str: &str) -> k256::SecretKey {
    k256::SecretKey::from_slice(&hex::decode(hex_str).unwrap()).unwrap()
}

/// The did:ethr identity of a secp256k1 secret on network `dev`.
fn ethr_who(secret_hex: &str) -> Who {
    let sk = secret(secret_hex);
    let jwk: Jwk = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    let address = did_registry::ethr::address_of(&sk.public_key()).to_checksum(None);
    let did = format!("did:ethr:dev:{address}");
    Who {
        key: SigningKey::from_jwk(&jwk).unwrap(),
        kid: format!("{did}#controller"),
        did,
    }
}

fn address(secret_hex: &str) -> Address {
    did_registry::ethr::address_of(&secret(secret_hex).public_key())
}

/// `[chains.dev]` plus trust in the did:ethr issuer.
fn chain_toml(issuer: &Who, chain: &str) -> String {
    format!(
        r#"
[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["{}"]
[chains.dev]
{chain}
poll_interval_ms = 50
max_staleness_secs = 5
"#,
        issuer.did
    )
}

/// An EmployeeCredential for alice by `issuer` with `status` as its credentialStatus.
fn vc_with(issuer: &Who, subject: &str, status: Option<&Value>, format: Format) -> String {
    let claims = json!({"role": "engineer", "department": "eng"});
    credentials::issue_with_status(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.to_owned(),
            types: vec!["EmployeeCredential".into()],
            claims: claims.as_object().unwrap().clone(),
            valid_for_secs: Some(3600),
            id: None,
            format,
        },
        status,
        now(),
    )
    .unwrap()
}

fn entry(list: &str, index: u64) -> Value {
    StatusEntry::to_json(list, U256::from(index))
}

/// (status, reason code) of one request by alice presenting `vc`.
async fn try_vc(h: &Harness, vc: &str, format: Format) -> (StatusCode, String) {
    let vp = h.vp_for(&h.alice, vec![vc.to_owned()], &h.audience, now(), format);
    let r = h.send(Method::GET, "/eng/docs", Some(&vp), &[]).await;
    let code = if r.status == StatusCode::OK {
        "ok".into()
    } else {
        r.code()
    };
    (r.status, code)
}

/// Requests until the answer's code is `want`; the elapsed time.
async fn until(h: &Harness, vc: &str, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        let (_, code) = try_vc(h, vc, Format::JwtVc11).await;
        if code == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still {code}, not {want}, after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn set_status(
    chain: &Arc<dyn Chain>,
    registry: Address,
    signer: &str,
    issuer: Address,
    list: &str,
    index: u64,
    revoked: bool,
) -> Result<u64, did_registry::ethr::ChainError> {
    let data = status::set_status(
        issuer,
        status::list_id(list).unwrap(),
        U256::from(index),
        revoked,
    );
    chain
        .transact(&secret(signer), Some(registry), data, status::STATUS_GAS)
        .await
        .map(|r| r.block_number)
}

async fn is_revoked(
    chain: &Arc<dyn Chain>,
    registry: Address,
    issuer: Address,
    list: &str,
    index: u64,
) -> bool {
    let data = status::is_revoked(issuer, status::list_id(list).unwrap(), U256::from(index));
    status::decode_bool(&chain.call(registry, data).await.unwrap()).unwrap()
}

/// The whole story on one chain: allowed, revoked from the next block, restored,
/// and a stranger's setStatus reverts and changes nothing.
async fn revoke_and_restore(h: &Harness, chain: Arc<dyn Chain>, registry: Address, label: &str) {
    let issuer = ethr_who(ISSUER_SECRET);
    let list = status::list_url(&issuer.did, "employees");
    for format in [Format::JwtVc11, Format::VcJwt20] {
        let vc = vc_with(&issuer, &h.alice.did, Some(&entry(&list, 7)), format);
        assert_eq!(try_vc(h, &vc, format).await.1, "ok", "{format:?}");
    }
    let vc = vc_with(
        &issuer,
        &h.alice.did,
        Some(&entry(&list, 7)),
        Format::JwtVc11,
    );
    let neighbour = vc_with(
        &issuer,
        &h.alice.did,
        Some(&entry(&list, 8)),
        Format::VcJwt20,
    );

    // A browser session opened with the credential rests on it.
    let session = h.browser_login(&h.alice, vec![vc.clone()]).await;
    let cookie = session.header();

    // A stranger (neither owner nor delegate) cannot revoke it.
    let err = set_status(
        &chain,
        registry,
        OTHER_SECRET,
        address(ISSUER_SECRET),
        "employees",
        7,
        true,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("revert"), "{err}");
    assert!(!is_revoked(&chain, registry, address(ISSUER_SECRET), "employees", 7).await);

    // The issuer revokes index 7.
    let head_before = chain.block_number().await.unwrap();
    let block = set_status(
        &chain,
        registry,
        ISSUER_SECRET,
        address(ISSUER_SECRET),
        "employees",
        7,
        true,
    )
    .await
    .unwrap();
    let mined = Instant::now();
    let _ = until(h, &vc, "credential_revoked").await;
    let ms = mined.elapsed().as_millis();
    let head = chain.block_number().await.unwrap();
    println!(
        "STATUS_REVOCATION_DELAY chain={label} blocks={} ms={ms}",
        head.saturating_sub(block)
    );
    assert!(block > head_before);
    assert!(is_revoked(&chain, registry, address(ISSUER_SECRET), "employees", 7).await);
    // The session opened with it ends with it.
    let r = h
        .send(Method::GET, "/eng/docs", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "credential_revoked")
    );
    // The same bit is refused in the 2.0 format too; its neighbour is not.
    let vc20 = vc_with(
        &issuer,
        &h.alice.did,
        Some(&entry(&list, 7)),
        Format::VcJwt20,
    );
    assert_eq!(
        try_vc(h, &vc20, Format::VcJwt20).await,
        (StatusCode::UNAUTHORIZED, "credential_revoked".into())
    );
    assert_eq!(try_vc(h, &neighbour, Format::VcJwt20).await.1, "ok");

    // Undo: accepted again.
    set_status(
        &chain,
        registry,
        ISSUER_SECRET,
        address(ISSUER_SECRET),
        "employees",
        7,
        false,
    )
    .await
    .unwrap();
    until(h, &vc, "ok").await;

    let d = h.decisions(1).await;
    assert!(d.iter().any(|d| d.reason == "credential_revoked"));
}

/// Entries that must be refused however the chain looks.
async fn bad_entries(h: &Harness) {
    let issuer = ethr_who(ISSUER_SECRET);
    let other = ethr_who(OTHER_SECRET);
    let list = status::list_url(&issuer.did, "employees");
    let address = issuer.did.rsplit(':').next().unwrap().to_owned();
    let mut cases: Vec<(Value, &str)> = vec![
        // Another issuer's list.
        (
            entry(&status::list_url(&other.did, "employees"), 1),
            "status_list_mismatch",
        ),
        // A network no chain is configured for.
        (
            entry(&format!("did:ethr:nosuch:{address}/status/employees"), 1),
            "unknown_network",
        ),
        // Published lists are fetched over https:// only (http:// only from a
        // loopback host): refused before any request.
        (
            entry("http://issuer.example/status/1", 1),
            "status_list_unsupported",
        ),
        (
            entry("did:web:issuer.example/status/1", 1),
            "status_list_unsupported",
        ),
        // Malformed list URLs.
        (
            entry(&format!("{}/lists/employees", issuer.did), 1),
            "status_entry_invalid",
        ),
        (
            entry(&status::list_url(&issuer.did, "no spaces"), 1),
            "status_entry_invalid",
        ),
    ];
    let mut bad_index = entry(&list, 1);
    bad_index["statusListIndex"] = json!("-1");
    cases.push((bad_index, "status_entry_invalid"));
    let mut numeric_index = entry(&list, 1);
    numeric_index["statusListIndex"] = json!(1);
    cases.push((numeric_index, "status_entry_invalid"));
    let mut purpose = entry(&list, 1);
    purpose["statusPurpose"] = json!("suspension");
    cases.push((purpose, "status_entry_invalid"));
    let mut ty = entry(&list, 1);
    ty["type"] = json!("StatusList2021Entry");
    cases.push((ty, "status_entry_invalid"));
    cases.push((json!([]), "status_entry_invalid"));
    cases.push((json!("revoked?"), "status_entry_invalid"));
    // One good entry does not excuse a bad one.
    cases.push((
        json!([entry(&list, 1), entry("http://issuer.example/status/1", 1)]),
        "status_list_unsupported",
    ));
    for (status, want) in cases {
        let vc = vc_with(&issuer, &h.alice.did, Some(&status), Format::JwtVc11);
        assert_eq!(
            try_vc(h, &vc, Format::JwtVc11).await,
            (StatusCode::UNAUTHORIZED, want.to_owned()),
            "{status}"
        );
    }
    // A did:key issuer (trusted, but no chain) naming a did:ethr list: not its list.
    let vc = vc_with(
        &h.issuer,
        &h.alice.did,
        Some(&entry(&list, 1)),
        Format::JwtVc11,
    );
    assert_eq!(
        try_vc(h, &vc, Format::JwtVc11).await.1,
        "status_list_mismatch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_a_node() {
    let anvil = Anvil::start();
    let registry: Address = anvil.deploy_registry().parse().unwrap();
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::new(&anvil.url).unwrap());
    let receipt = chain
        .transact(
            &secret(ISSUER_SECRET),
            None,
            status::status_creation_code(registry).unwrap(),
            3_000_000,
        )
        .await
        .unwrap();
    let status_registry = receipt.contract_address.unwrap();
    let issuer = ethr_who(ISSUER_SECRET);
    let h = Harness::start(
        None,
        &chain_toml(
            &issuer,
            &format!(
                "rpc_url = \"{}\"\nregistry = \"{registry}\"\nstatus_registry = \"{status_registry}\"\nchain_id = 31337",
                anvil.url
            ),
        ),
    )
    .await;
    revoke_and_restore(&h, chain, status_registry, "anvil").await;
    bad_entries(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_the_embedded_chain() {
    let issuer = ethr_who(ISSUER_SECRET);
    let h = Harness::start(None, &chain_toml(&issuer, "embedded = true")).await;
    let opened =
        didgate::server::chains::open_chain("dev", &h.config.chains["dev"], &h.gw().store, true)
            .await
            .unwrap();
    revoke_and_restore(
        &h,
        opened.chain,
        opened.status_registry.unwrap(),
        "embedded",
    )
    .await;
    bad_entries(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_status_registry_refuses_status_entries() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let issuer = ethr_who(ISSUER_SECRET);
    let h = Harness::start(
        None,
        &chain_toml(
            &issuer,
            &format!(
                "rpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337",
                anvil.url
            ),
        ),
    )
    .await;
    let list = status::list_url(&issuer.did, "employees");
    let vc = vc_with(
        &issuer,
        &h.alice.did,
        Some(&entry(&list, 1)),
        Format::JwtVc11,
    );
    assert_eq!(
        try_vc(&h, &vc, Format::JwtVc11).await,
        (StatusCode::UNAUTHORIZED, "status_list_unsupported".into())
    );
    // Without a status entry the same issuer is fine.
    let vc = vc_with(&issuer, &h.alice.did, None, Format::JwtVc11);
    assert_eq!(try_vc(&h, &vc, Format::JwtVc11).await.1, "ok");
    h.stop().await;
}

// ---- the command line -------------------------------------------------------

fn key_file(dir: &Path, name: &str, who: &Who, secret_hex: &str) -> String {
    let sk = secret(secret_hex);
    let mut jwk: Value = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    jwk["kid"] = Value::String(who.kid.clone());
    let path = dir.join(format!("{name}.jwk"));
    std::fs::write(&path, jwk.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vc_issue_and_revoke_commands_on_the_embedded_chain() {
    let issuer = ethr_who(ISSUER_SECRET);
    let h = Harness::start(None, &chain_toml(&issuer, "embedded = true")).await;
    let cfg = h.dir.join("didgate.toml");
    let cfg = cfg.to_str().unwrap();
    let issuer_key = key_file(&h.dir, "issuer", &issuer, ISSUER_SECRET);
    let stranger = ethr_who(OTHER_SECRET);
    let stranger_key = key_file(&h.dir, "stranger", &stranger, OTHER_SECRET);
    let vc_path = h.dir.join("alice.vc.jwt");
    let vc_path_s = vc_path.to_str().unwrap();

    let issue = |extra: &[&str]| {
        let mut args = vec![
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
        ];
        args.extend_from_slice(extra);
        run_ok(&args).trim().to_owned()
    };
    let vc = issue(&[
        "--status-list",
        "staff",
        "--status-index",
        "12",
        "--out",
        vc_path_s,
    ]);
    let payload = credentials::jws::parse(&vc).unwrap().payload;
    assert_eq!(
        payload["vc"]["credentialStatus"],
        entry(&status::list_url(&issuer.did, "staff"), 12)
    );
    let vc20 = issue(&[
        "--status-list",
        "staff",
        "--status-index",
        "12",
        "--format",
        "vc-jwt",
    ]);
    assert_eq!(
        credentials::jws::parse(&vc20).unwrap().payload["credentialStatus"]["statusListIndex"],
        "12"
    );
    assert_eq!(try_vc(&h, &vc, Format::JwtVc11).await.1, "ok");

    // Refused before anything is sent.
    let alice_key = h.dir.join("alice.jwk");
    didgate::request::assertion::write_key_file(&alice_key, &h.alice.key, Some(&h.alice.kid))
        .unwrap();
    run_err(
        &[
            "vc",
            "issue",
            "--issuer-key",
            alice_key.to_str().unwrap(),
            "--subject",
            &h.alice.did,
            "--type",
            "EmployeeCredential",
            "--status-list",
            "staff",
            "--status-index",
            "1",
        ],
        "did:ethr issuer",
    );
    run_err(
        &[
            "vc",
            "issue",
            "--issuer-key",
            &issuer_key,
            "--subject",
            &h.alice.did,
            "--type",
            "X",
            "--status-list",
            "bad name",
            "--status-index",
            "1",
        ],
        "--status-list",
    );
    run_err(
        &[
            "vc",
            "issue",
            "--issuer-key",
            &issuer_key,
            "--subject",
            &h.alice.did,
            "--type",
            "X",
            "--status-list",
            "staff",
            "--status-index=-3",
        ],
        "--status-index",
    );
    run_err(
        &[
            "vc",
            "revoke",
            "-c",
            cfg,
            "--issuer-key",
            &stranger_key,
            "--issuer",
            &issuer.did,
            "--credential",
            vc_path_s,
        ],
        "neither the owner",
    );
    assert_eq!(try_vc(&h, &vc, Format::JwtVc11).await.1, "ok");

    // Revoke by the credential file; undo by list and index.
    let out = run_ok(&[
        "vc",
        "revoke",
        "-c",
        cfg,
        "--issuer-key",
        &issuer_key,
        "--credential",
        vc_path_s,
    ]);
    assert!(out.starts_with("revoked index 12 of"), "{out}");
    until(&h, &vc, "credential_revoked").await;
    let out = run_ok(&[
        "vc",
        "revoke",
        "-c",
        cfg,
        "--issuer-key",
        &issuer_key,
        "--status-list",
        "staff",
        "--status-index",
        "12",
        "--undo",
    ]);
    assert!(out.starts_with("restored index 12"), "{out}");
    until(&h, &vc, "ok").await;
    // The token itself works as --credential too.
    run_ok(&[
        "vc",
        "revoke",
        "-c",
        cfg,
        "--issuer-key",
        &issuer_key,
        "--credential",
        &vc20,
    ]);
    until(&h, &vc, "credential_revoked").await;

    // A sigAuth delegate of the issuer may change its lists, naming the issuer.
    let stranger_addr = stranger.did.rsplit(':').next().unwrap().to_owned();
    run_ok(&[
        "did",
        "add-delegate",
        "-c",
        cfg,
        "--key",
        &issuer_key,
        "--delegate",
        &stranger_addr,
        "--kind",
        "sig-auth",
    ]);
    let out = run_ok(&[
        "vc",
        "revoke",
        "-c",
        cfg,
        "--issuer-key",
        &stranger_key,
        "--issuer",
        &issuer.did,
        "--credential",
        vc_path_s,
        "--undo",
    ]);
    assert!(out.starts_with("restored index 12"), "{out}");
    until(&h, &vc, "ok").await;
    // Naming an issuer that did not issue the credential is refused before sending.
    run_err(
        &[
            "vc",
            "revoke",
            "-c",
            cfg,
            "--issuer-key",
            &stranger_key,
            "--issuer",
            &stranger.did,
            "--credential",
            vc_path_s,
        ],
        "did not issue this credential",
    );
    h.stop().await;
}

/// The verified-credential cache never outlives the issuer's key: a VC-JWT
/// that verified (and is cached) is refused from the block that moves its
/// did:ethr issuer to another controller key, and again when the issuer is
/// deactivated — the same token, presented in fresh presentations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_credential_is_refused_once_its_issuer_key_changes() {
    let issuer = ethr_who(ISSUER_SECRET);
    let h = Harness::start(None, &chain_toml(&issuer, "embedded = true")).await;
    let opened =
        didgate::server::chains::open_chain("dev", &h.config.chains["dev"], &h.gw().store, false)
            .await
            .unwrap();
    let vc = vc_with(&issuer, &h.alice.did, None, Format::JwtVc11);
    // Verified once, then served from the cache.
    for _ in 0..3 {
        assert_eq!(try_vc(&h, &vc, Format::JwtVc11).await.1, "ok");
    }
    let rotate =
        did_registry::ethr::registry::change_owner(address(ISSUER_SECRET), address(OTHER_SECRET));
    opened
        .chain
        .transact(
            &secret(ISSUER_SECRET),
            Some(opened.registry),
            rotate,
            did_registry::ethr::registry::WRITE_GAS,
        )
        .await
        .unwrap();
    let waited = until(&h, &vc, "bad_signature").await;
    println!(
        "CACHED_VC_REFUSED kind=owner_changed ms={}",
        waited.as_millis()
    );
    // A credential the new controller key signs is accepted: the refusal is
    // about the old key, not the issuer.
    let rotated = Who {
        kid: issuer.kid.clone(),
        did: issuer.did.clone(),
        key: ethr_who(OTHER_SECRET).key,
    };
    let fresh = vc_with(&rotated, &h.alice.did, None, Format::JwtVc11);
    assert_eq!(try_vc(&h, &fresh, Format::JwtVc11).await.1, "ok");
    // Deactivated: the cached copy of that one is refused too.
    let deactivate =
        did_registry::ethr::registry::change_owner(address(ISSUER_SECRET), Address::ZERO);
    opened
        .chain
        .transact(
            &secret(OTHER_SECRET),
            Some(opened.registry),
            deactivate,
            did_registry::ethr::registry::WRITE_GAS,
        )
        .await
        .unwrap();
    until(&h, &fresh, "did_deactivated").await;
    h.stop().await;
}
