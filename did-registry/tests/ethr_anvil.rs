//! did:ethr against a real node (anvil) and an implementation we did not
//! write: ethr-did (npm) makes a scripted series of registry changes; after
//! every step didgate's document, built from its event index in SQLite and
//! in PostgreSQL, must equal ethr-did-resolver's. Also: credentials issued by
//! did:ethr issuers (and their delegates) with did-jwt-vc verify; a reorg is
//! rolled back; an unreachable node fails closed after the staleness bound;
//! historical versions and registry values that are not UTF-8 resolve as
//! ethr-did-resolver resolves them (`interop/ethr-resolve.mjs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{postgres_index, sqlite_index};
use credentials::{TrustedIssuers, Verifier, VerifierConfig};
use did_registry::ethr::{ChainFollower, EthrNetwork, EthrResolver, EventIndex, NetworkConfig};
use did_registry::{DidResolver, MethodResolver};
use serde_json::{json, Value};
use test_support::{run_node, run_node_lines, Anvil};

fn network(
    anvil: &Anvil,
    registry: &str,
    index: EventIndex,
    staleness: Duration,
) -> Arc<EthrNetwork> {
    EthrNetwork::new(
        NetworkConfig {
            max_staleness: staleness,
            max_block_range: 5,
            ..common::dev_network(anvil.url.clone(), registry.parse().unwrap(), 31337)
        },
        index,
    )
}

/// Anvil account 1 becomes a sigAuth delegate of `owner` (an unlocked dev account) for an hour.
fn add_sig_auth_delegate(anvil: &Anvil, registry_addr: &str, owner: &str) {
    let data = did_registry::ethr::registry::add_delegate(
        owner.parse().unwrap(),
        did_registry::ethr::registry::name32("sigAuth").unwrap(),
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
            .parse()
            .unwrap(),
        3600,
    );
    anvil
        .send(owner, registry_addr, &format!("0x{}", hex::encode(&data)))
        .unwrap();
}

/// ethr-did-resolver's metadata for a latest resolution has no `next*`
/// fields; a historical resolution (ours, at the step's block) may.
fn without_next(mut meta: Value) -> Value {
    if let Some(m) = meta.as_object_mut() {
        m.remove("nextVersionId");
        m.remove("nextUpdate");
    }
    meta
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_equal_ethr_did_resolver_after_every_step() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let lines = run_node_lines("ethr-scenario.mjs", &[&anvil.url, &registry, "0"]).unwrap();
    let done = lines.last().unwrap();
    assert_eq!(done["done"], true, "{done}");
    let steps = &lines[..lines.len() - 1];
    assert!(
        steps.len() >= 15,
        "the scenario has its steps: {}",
        steps.len()
    );

    for (backend, index) in [
        ("sqlite", sqlite_index().await),
        ("postgres", postgres_index().await),
    ] {
        let net = network(&anvil, &registry, index, Duration::from_secs(60));
        let report = ChainFollower::new(net.clone())
            .unwrap()
            .sync_once()
            .await
            .unwrap();
        assert!(report.events >= 15, "{backend}: indexed {report:?}");
        let resolver = EthrResolver::new(vec![net.clone()]);

        let mut compared = 0;
        for step in steps {
            let block = step["block"].as_u64().unwrap();
            for (did, theirs) in step["docs"].as_object().unwrap() {
                let ours = resolver
                    .resolve_with_metadata(did, Some(block))
                    .await
                    .unwrap();
                let ctx = format!(
                    "{backend}: step {} ({}) {did}",
                    step["step"], step["action"]
                );
                assert_eq!(ours.document, theirs["didDocument"], "{ctx}");
                assert_eq!(
                    without_next(ours.metadata),
                    theirs["didDocumentMetadata"],
                    "{ctx}"
                );
                compared += 1;
            }
        }
        assert!(compared >= 45, "{compared}");

        // Latest resolution equals the last step's, metadata included.
        let last = &steps[steps.len() - 1];
        for (did, theirs) in last["docs"].as_object().unwrap() {
            let ours = resolver.resolve_with_metadata(did, None).await.unwrap();
            assert_eq!(
                ours.document, theirs["didDocument"],
                "{backend}: latest {did}"
            );
            assert_eq!(
                ours.metadata, theirs["didDocumentMetadata"],
                "{backend}: latest {did}"
            );
        }

        // The deactivated DID is refused on the verification path.
        let dids: Vec<&str> = done["dids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        let deactivated = dids
            .iter()
            .find(|d| last["docs"][**d]["didDocumentMetadata"]["deactivated"] == true)
            .expect("the scenario deactivates a DID");
        let err = resolver.resolve(deactivated).await.unwrap_err();
        assert_eq!(err.reason_code(), "did_deactivated", "{backend}");
        // A network nobody configured.
        let other = deactivated.replace("0x7a69", "0x1");
        assert_eq!(
            resolver.resolve(&other).await.unwrap_err().reason_code(),
            "unknown_network"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_jwt_vc_credentials_from_ethr_issuers_and_delegates_verify() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let out = run_node(
        "ethr-vc.mjs",
        &[&anvil.url, &registry, "https://gateway.test"],
    )
    .unwrap();
    let net = network(
        &anvil,
        &registry,
        sqlite_index().await,
        Duration::from_secs(60),
    );
    ChainFollower::new(net.clone())
        .unwrap()
        .sync_once()
        .await
        .unwrap();
    let ethr = Arc::new(EthrResolver::new(vec![net]));
    let resolver = Arc::new(MethodResolver::new(Some(ethr)));

    let s = |k: &str| out[k].as_str().unwrap().to_owned();
    let mut trusted = TrustedIssuers::new();
    trusted.trust(&s("credential_type"), &s("issuer"));
    let verifier = Verifier::new(
        VerifierConfig::new(vec![s("audience")], trusted),
        resolver.clone(),
    );
    let now = out["now"].as_i64().unwrap();
    let vc = verifier.verify_credential(&s("vc"), now).await.unwrap();
    assert_eq!(vc.issuer, s("issuer"));
    let vc = verifier
        .verify_credential(&s("vc_delegate"), now)
        .await
        .unwrap();
    assert_eq!(
        vc.issuer,
        s("issuer"),
        "signed by an on-chain delegate of the issuer"
    );
    let vp = verifier.verify_presentation(&s("vp"), now).await.unwrap();
    assert_eq!(vp.holder, s("holder"));

    // Tampered: another key's signature on the same claims.
    let vc_tok = s("vc");
    let other = s("vp");
    let (body, _) = vc_tok.rsplit_once('.').unwrap();
    let (_, sig) = other.rsplit_once('.').unwrap();
    let err = verifier
        .verify_credential(&format!("{body}.{sig}"), now)
        .await
        .unwrap_err();
    assert_eq!(err.reason_code(), "bad_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorganised_blocks_are_rolled_back() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let net = network(
        &anvil,
        &registry,
        sqlite_index().await,
        Duration::from_secs(60),
    );
    let follower = ChainFollower::new(net.clone()).unwrap();
    follower.sync_once().await.unwrap();
    let resolver = EthrResolver::new(vec![net.clone()]);

    let snapshot = anvil.rpc("evm_snapshot", json!([])).unwrap();
    let out = run_node(
        "ethr-vc.mjs",
        &[&anvil.url, &registry, "https://gateway.test"],
    )
    .unwrap();
    let issuer = out["issuer"].as_str().unwrap().to_owned();
    follower.sync_once().await.unwrap();
    let before = resolver.resolve_with_metadata(&issuer, None).await.unwrap();
    assert!(
        before.metadata.get("versionId").is_some(),
        "the delegate was indexed"
    );

    // Replace those blocks with a longer chain of empty ones.
    assert_eq!(anvil.rpc("evm_revert", json!([snapshot])).unwrap(), true);
    for _ in 0..8 {
        anvil.rpc("evm_mine", json!([])).unwrap();
    }
    let report = follower.sync_once().await.unwrap();
    assert!(report.rolled_back_to.is_some(), "{report:?}");
    let after = resolver.resolve_with_metadata(&issuer, None).await.unwrap();
    assert_eq!(after.metadata, json!({}), "the reorganised change is gone");
    assert_eq!(
        after.document["verificationMethod"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_answers_from_index_then_fails_closed() {
    let mut anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let net = network(
        &anvil,
        &registry,
        sqlite_index().await,
        Duration::from_millis(1500),
    );
    let follower = ChainFollower::new(net.clone()).unwrap();
    let resolver = EthrResolver::new(vec![net.clone()]);
    let did = "did:ethr:dev:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    assert_eq!(
        resolver.resolve(did).await.unwrap_err().reason_code(),
        "chain_unavailable",
        "never synced: refuse"
    );
    follower.sync_once().await.unwrap();
    resolver.resolve(did).await.unwrap();
    anvil.kill();
    assert!(follower.sync_once().await.is_err());
    resolver
        .resolve(did)
        .await
        .expect("within the staleness bound the index answers");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let err = resolver.resolve(did).await.unwrap_err();
    assert_eq!(err.reason_code(), "chain_unavailable", "{err}");
}

/// Two chains in one resolver: a DID names its chain by network name or by
/// hex chain id; the same address has an independent document on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_chains_by_name_and_chain_id() {
    let a = Anvil::start();
    let b = Anvil::start_with(&["--chain-id", "31338"]);
    let (reg_a, reg_b) = (a.deploy_registry(), b.deploy_registry());
    let mut nets = Vec::new();
    for (name, anvil, reg, id) in [
        ("alpha", &a, &reg_a, 31337u64),
        ("beta", &b, &reg_b, 31338u64),
    ] {
        let mut cfg = network(anvil, reg, sqlite_index().await, Duration::from_secs(60))
            .config
            .clone();
        cfg.name = name.into();
        cfg.chain_id = Some(id);
        let net = EthrNetwork::new(cfg, sqlite_index().await);
        nets.push(net);
    }
    // A delegate on beta only, for anvil's account 0.
    let owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    add_sig_auth_delegate(&b, &reg_b, owner);
    for net in &nets {
        ChainFollower::new(net.clone())
            .unwrap()
            .sync_once()
            .await
            .unwrap();
    }
    let resolver = EthrResolver::new(nets);
    let vms = |doc: &Value| doc["verificationMethod"].as_array().unwrap().len();
    let on_alpha = resolver
        .resolve_with_metadata(&format!("did:ethr:alpha:{owner}"), None)
        .await
        .unwrap();
    let on_beta = resolver
        .resolve_with_metadata(&format!("did:ethr:beta:{owner}"), None)
        .await
        .unwrap();
    assert_eq!(vms(&on_alpha.document), 1);
    assert_eq!(vms(&on_beta.document), 2, "{}", on_beta.document);
    assert!(on_beta.document.to_string().contains("eip155:31338:"));
    // The hex chain id names the same chain as its configured name.
    let by_id = resolver
        .resolve_with_metadata(&format!("did:ethr:0x7a6a:{owner}"), None)
        .await
        .unwrap();
    assert_eq!(vms(&by_id.document), 2);
    let err = resolver
        .resolve(&format!("did:ethr:gamma:{owner}"))
        .await
        .unwrap_err();
    assert_eq!(err.reason_code(), "unknown_network");
}

/// Over WebSocket the node pushes new heads: with a poll interval far longer
/// than the test, a change still reaches the index within moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_new_heads_are_pushed() {
    let anvil = Anvil::start();
    let reg = anvil.deploy_registry();
    let mut cfg = network(&anvil, &reg, sqlite_index().await, Duration::from_secs(600))
        .config
        .clone();
    cfg.rpc_url = format!("ws://127.0.0.1:{}", anvil.port);
    cfg.poll_interval = Duration::from_secs(120);
    let net = EthrNetwork::new(cfg, sqlite_index().await);
    let follower = ChainFollower::connect(net.clone()).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(follower.run(stopped));
    let resolver = EthrResolver::new(vec![net.clone()]);
    let owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    let did = format!("did:ethr:dev:{owner}");
    let start = std::time::Instant::now();
    while resolver.resolve(&did).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "first sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    add_sig_auth_delegate(&anvil, &reg, owner);
    let start = std::time::Instant::now();
    loop {
        let doc = resolver.resolve(&did).await.unwrap();
        if doc.verification_method.len() == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the change was not pushed (polling would take 120 s)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Two followers on one database (a gateway and a command, say): when one
/// indexes a change, the other drops what it derived from the index (its
/// cache) instead of serving the old document; a follower whose view of the
/// cursor is stale writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_sharing_an_index_stay_consistent() {
    use did_registry::ethr::{Cursor, IndexError};
    let anvil = Anvil::start();
    let reg = anvil.deploy_registry();
    let path = common::temp_sqlite_path("shared");
    let gateway_net = network(
        &anvil,
        &reg,
        common::connect_sqlite(&path).await,
        Duration::from_secs(60),
    );
    let command_net = network(
        &anvil,
        &reg,
        common::connect_sqlite(&path).await,
        Duration::from_secs(60),
    );
    let gateway = ChainFollower::new(gateway_net.clone()).unwrap();
    let command = ChainFollower::new(command_net.clone()).unwrap();
    gateway.sync_once().await.unwrap();
    let resolver = EthrResolver::new(vec![gateway_net.clone()]);
    let owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    let did = format!("did:ethr:dev:{owner}");
    assert_eq!(
        resolver
            .resolve(&did)
            .await
            .unwrap()
            .verification_method
            .len(),
        1
    );

    add_sig_auth_delegate(&anvil, &reg, owner);
    // The command indexes the change; the gateway's next round sees the cursor moved.
    assert_eq!(command.sync_once().await.unwrap().events, 1);
    gateway.sync_once().await.unwrap();
    assert_eq!(
        resolver
            .resolve(&did)
            .await
            .unwrap()
            .verification_method
            .len(),
        2,
        "the gateway's cached document was dropped"
    );

    // A writer with a stale cursor is refused and writes nothing.
    let index = common::connect_sqlite(&path).await;
    let now = index.cursor("dev").await.unwrap().unwrap();
    let stale = Cursor {
        block_number: now.block_number - 1,
        ..now.clone()
    };
    let next = Cursor {
        block_number: now.block_number + 1,
        ..now.clone()
    };
    let err = index
        .append("dev", &[], Some(&stale), &next)
        .await
        .unwrap_err();
    assert!(matches!(err, IndexError::Moved { .. }), "{err}");
    assert_eq!(index.cursor("dev").await.unwrap().unwrap(), now);
    let err = index.append("dev", &[], None, &next).await.unwrap_err();
    assert!(
        matches!(err, IndexError::Moved { .. }),
        "a second first cursor: {err}"
    );
}

/// ethr-did-resolver's answers (`interop/ethr-resolve.mjs`) for DID URLs,
/// by DID URL, and its version. `ETHR_DID_RESOLVER` (passed through) picks
/// another build of it.
fn theirs(anvil: &Anvil, registry: &str, urls: &[String]) -> (Vec<Value>, String) {
    let mut args = vec![anvil.url.as_str(), registry];
    args.extend(urls.iter().map(String::as_str));
    let mut lines = run_node_lines("ethr-resolve.mjs", &args).unwrap();
    let done = lines.pop().unwrap();
    assert_eq!(done["done"], true, "{done}");
    assert_eq!(lines.len(), urls.len());
    (lines, done["resolver"].as_str().unwrap().to_owned())
}

/// Whether ethr-did-resolver `version` (x.y.z) is at least `major.minor`.
fn at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// A historical version (`versionId`) is evaluated at its own block's time,
/// as ethr-did-resolver does, not at the time of the last change before it:
/// a delegate valid at block N that expires before block N+2, with no event
/// in between, is listed at N and not at N+1 or N+2. A block above the
/// indexed head is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_versions_are_evaluated_at_their_own_block_time() {
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    let data = did_registry::ethr::registry::add_delegate(
        owner.parse().unwrap(),
        did_registry::ethr::registry::name32("sigAuth").unwrap(),
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
            .parse()
            .unwrap(),
        30,
    );
    let n = anvil
        .send(owner, &registry, &format!("0x{}", hex::encode(&data)))
        .unwrap();
    // Two empty blocks, two minutes later: the delegate has expired by then.
    anvil.rpc("evm_increaseTime", json!([120])).unwrap();
    anvil.rpc("evm_mine", json!([])).unwrap();
    anvil.rpc("evm_mine", json!([])).unwrap();
    assert_eq!(anvil.block_number().unwrap(), n + 2);

    let net = network(
        &anvil,
        &registry,
        sqlite_index().await,
        Duration::from_secs(60),
    );
    ChainFollower::new(net.clone())
        .unwrap()
        .sync_once()
        .await
        .unwrap();
    let resolver = EthrResolver::new(vec![net]);
    let did = format!("did:ethr:0x7a69:{owner}");
    let delegate = format!("{did}#delegate-1");
    let urls: Vec<String> = (n..=n + 2)
        .map(|b| format!("{did}?versionId={b}"))
        .collect();
    let (their, version) = theirs(&anvil, &registry, &urls);
    for (at, t) in (n..=n + 2).zip(&their) {
        let ours = resolver
            .resolve_with_metadata(&did, Some(at))
            .await
            .unwrap();
        let listed = ours.document.to_string().contains(&delegate);
        assert_eq!(listed, at == n, "block {at}: {}", ours.document);
        let t = &t["result"];
        assert_eq!(
            ours.document, t["didDocument"],
            "block {at} (ethr-did-resolver {version})"
        );
        assert_eq!(ours.metadata, t["didDocumentMetadata"], "block {at}");
        assert_eq!(ours.metadata["versionId"], n.to_string());
    }
    // Above the indexed head: refused, with the reason.
    let err = resolver
        .resolve_with_metadata(&did, Some(n + 3))
        .await
        .unwrap_err();
    assert_eq!(err.reason_code(), "version_not_found", "{err}");
    assert!(err.to_string().contains("above the indexed head"), "{err}");
    // ethr-did-resolver has no block to read the time from either.
    let (above, _) = theirs(&anvil, &registry, &[format!("{did}?versionId={}", n + 3)]);
    assert!(
        above[0].get("thrown").is_some()
            || above[0]["result"]["didResolutionMetadata"]["error"].is_string(),
        "{}",
        above[0]
    );
}

/// Registry entries that are not UTF-8 are handled as ethr-did-resolver 11.1
/// handles them, never decoded lossily: an event whose delegate type or
/// attribute name is not UTF-8 is skipped (no number, no version); a
/// service endpoint or `pem` key whose value is not UTF-8 is left out (its
/// number is taken). With a resolver build of 11.1 or later the documents
/// must be equal; 11.0 (the pinned one) fails these resolutions outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_values_that_are_not_utf8_are_skipped_like_ethr_did_resolver() {
    use did_registry::ethr::registry::{add_delegate, name32, set_attribute};
    use did_registry::ethr::Address;
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let x: Address = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
        .parse()
        .unwrap();
    let y: Address = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
        .parse()
        .unwrap();
    let delegate: Address = "0x90f79bf6eb2c4f870365e785982e1f101e93b906"
        .parse()
        .unwrap();
    let mut not_utf8_32 = [0u8; 32];
    not_utf8_32[..4].copy_from_slice(&[0x80, 0x81, 0x82, 0x83]);
    let not_utf8_32 = alloy_primitives::B256::from(not_utf8_32);
    let not_utf8: &[u8] = &[0x80, 0x81, 0x82, 0x83];
    let key_hex = {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        k256::SecretKey::from_slice(&[0x11; 32])
            .unwrap()
            .public_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    };
    let day = 86_400;
    let writes = [
        (x, add_delegate(x, not_utf8_32, delegate, day)),
        (
            x,
            add_delegate(x, name32("veriKey").unwrap(), delegate, day),
        ),
        (
            x,
            set_attribute(x, not_utf8_32, &[0xde, 0xad, 0xbe, 0xef], day),
        ),
        (
            x,
            set_attribute(x, name32("did/svc/HubService").unwrap(), not_utf8, day),
        ),
        (
            x,
            set_attribute(
                x,
                name32("did/svc/HubService").unwrap(),
                b"https://hub.example",
                day,
            ),
        ),
        (
            x,
            set_attribute(
                x,
                name32("did/pub/Secp256k1/veriKey/pem").unwrap(),
                not_utf8,
                day,
            ),
        ),
        (
            x,
            set_attribute(
                x,
                name32("did/pub/Secp256k1/veriKey/hex").unwrap(),
                &key_hex,
                day,
            ),
        ),
        (y, add_delegate(y, not_utf8_32, delegate, day)),
    ];
    let mut last_x = 0;
    for (who, data) in &writes {
        let from = format!("{who:#x}");
        let b = anvil
            .send(&from, &registry, &format!("0x{}", hex::encode(data)))
            .unwrap();
        if *who == x {
            last_x = b;
        }
    }

    let net = network(
        &anvil,
        &registry,
        sqlite_index().await,
        Duration::from_secs(60),
    );
    ChainFollower::new(net.clone())
        .unwrap()
        .sync_once()
        .await
        .unwrap();
    let resolver = EthrResolver::new(vec![net]);
    let dids = [
        format!("did:ethr:0x7a69:{x:#x}"),
        format!("did:ethr:0x7a69:{y:#x}"),
    ];
    let ours_x = resolver
        .resolve_with_metadata(&dids[0], None)
        .await
        .unwrap();
    let ours_y = resolver
        .resolve_with_metadata(&dids[1], None)
        .await
        .unwrap();
    let ids = |doc: &Value, key: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let d = &dids[0];
    assert_eq!(
        ids(&ours_x.document, "verificationMethod"),
        [
            format!("{d}#controller"),
            format!("{d}#delegate-1"),
            format!("{d}#delegate-3")
        ],
        "{}",
        ours_x.document
    );
    assert_eq!(ids(&ours_x.document, "service"), [format!("{d}#service-2")]);
    assert_eq!(ours_x.metadata["versionId"], last_x.to_string());
    assert_eq!(ids(&ours_y.document, "verificationMethod").len(), 1);
    assert_eq!(ours_y.metadata, json!({}), "a skipped event is no version");
    assert!(!ours_x.document.to_string().contains('\u{fffd}'));

    let (their, version) = theirs(&anvil, &registry, &dids);
    for (ours, t) in [&ours_x, &ours_y].into_iter().zip(&their) {
        if at_least(&version, 11, 1) {
            let t = &t["result"];
            assert_eq!(
                ours.document, t["didDocument"],
                "ethr-did-resolver {version}"
            );
            assert_eq!(
                ours.metadata, t["didDocumentMetadata"],
                "ethr-did-resolver {version}"
            );
        } else {
            // 11.0 reads these bytes as UTF-8 or throws, failing the resolution.
            let failed = t.get("thrown").is_some()
                || t["result"]["didResolutionMetadata"]["error"].is_string();
            assert!(failed, "ethr-did-resolver {version}: {t}");
        }
    }
}
