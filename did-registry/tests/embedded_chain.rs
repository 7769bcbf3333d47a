//! The embedded chain (revm in-process, state in SQLite or PostgreSQL): a
//! scripted series of ERC-1056 registry changes, followed and resolved
//! after every step; the same script on anvil gives the same DID documents
//! and metadata (the embedded blocks' numbers and timestamps are replayed
//! on anvil, so the comparison is exact); the chain survives a reopen; a
//! revert writes no block; racing writers get consecutive blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall};
use did_registry::ethr::{
    address_of, Chain, ChainError, ChainFollower, EmbeddedChain, EthrNetwork, EthrResolver,
    EventIndex, RpcChain,
};
use serde_json::{json, Value};
use test_support::{fresh_postgres_database, Anvil};

/// anvil's dev accounts 0 and 1.
const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// anvil's dev account 2 (only an address here).
const ACCOUNT2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const CHAIN_ID: u64 = 31337;
const GAS: u64 = 200_000;
const DAY: u64 = 86_400;
const HUB: &str = "https://hubs.example.com";

sol! {
    function identityOwner(address identity) view returns (address);
    function changeOwner(address identity, address newOwner);
    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity);
    function revokeDelegate(address identity, bytes32 delegateType, address delegate);
    function setAttribute(address identity, bytes32 name, bytes value, uint256 validity);
    function revokeAttribute(address identity, bytes32 name, bytes value);
}

// ---------------------------------------------------------------- setup

fn key(hex_key: &str) -> k256::SecretKey {
    k256::SecretKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
}

fn addr(k: &k256::SecretKey) -> Address {
    address_of(&k.public_key())
}

fn name32(s: &str) -> B256 {
    did_registry::ethr::registry::name32(s).unwrap()
}

/// Where a test's database lives; `connect` opens a new pool on it each
/// time (a second pool stands for a second process).
#[derive(Clone)]
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(common::temp_sqlite_path("embedded"))
    }

    fn postgres() -> Db {
        Db::Postgres(fresh_postgres_database())
    }

    fn both() -> [(&'static str, Db); 2] {
        [("sqlite", Db::sqlite()), ("postgres", Db::postgres())]
    }

    async fn connect(&self) -> EventIndex {
        match self {
            Db::Sqlite(path) => common::connect_sqlite(path).await,
            Db::Postgres(url) => common::connect_postgres(url).await,
        }
    }
}

async fn close(index: EventIndex) {
    match index {
        EventIndex::Sqlite(p) => p.close().await,
        EventIndex::Postgres(p) => p.close().await,
    }
}

/// Rows of one table for the chain "dev" (what a revert must not add to).
async fn count(index: &EventIndex, table: &str) -> i64 {
    let q = format!("SELECT COUNT(*) FROM {table} WHERE chain = 'dev'");
    match index {
        EventIndex::Sqlite(p) => sqlx::query_scalar(&q).fetch_one(p).await.unwrap(),
        EventIndex::Postgres(p) => sqlx::query_scalar(&q).fetch_one(p).await.unwrap(),
    }
}

async fn parent_hash(index: &EventIndex, number: u64) -> B256 {
    const Q: &str = "SELECT parent_hash FROM embedded_blocks WHERE chain = 'dev' AND number = $1";
    let h: String = match index {
        EventIndex::Sqlite(p) => sqlx::query_scalar(Q).bind(number as i64).fetch_one(p).await,
        EventIndex::Postgres(p) => sqlx::query_scalar(Q).bind(number as i64).fetch_one(p).await,
    }
    .unwrap();
    h.parse().unwrap()
}

async fn nonce(index: &EventIndex, account: Address) -> Option<i64> {
    const Q: &str = "SELECT nonce FROM embedded_accounts WHERE chain = 'dev' AND address = $1";
    let a = format!("{account:#x}");
    match index {
        EventIndex::Sqlite(p) => sqlx::query_scalar(Q).bind(a).fetch_optional(p).await,
        EventIndex::Postgres(p) => sqlx::query_scalar(Q).bind(a).fetch_optional(p).await,
    }
    .unwrap()
}

/// A did:ethr network named "dev" over `chain`, with its follower and resolver.
struct Followed {
    follower: ChainFollower,
    resolver: EthrResolver,
}

fn follow(chain: Arc<dyn Chain>, registry: Address, index: EventIndex) -> Followed {
    let net = EthrNetwork::new(
        common::dev_network(chain.describe(), registry, CHAIN_ID),
        index,
    );
    Followed {
        follower: ChainFollower::with_chain(net.clone(), chain),
        resolver: EthrResolver::new(vec![net]),
    }
}

async fn wait_past(timestamp: u64) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if now > timestamp {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn did(a: Address) -> String {
    format!("did:ethr:dev:{a:#x}")
}

// ---------------------------------------------------------------- the script

/// One registry change: who signs it, and the call.
struct Step {
    action: &'static str,
    signer: usize,
    data: Bytes,
}

struct Actors {
    keys: [k256::SecretKey; 2],
    id0: Address,
    id1: Address,
    account2: Address,
    /// The compressed secp256k1 key published as a did/pub attribute.
    pub_key: Vec<u8>,
}

fn actors() -> Actors {
    let keys = [key(KEY0), key(KEY1)];
    let pub_key = {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        key(&"11".repeat(32))
            .public_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    };
    Actors {
        id0: addr(&keys[0]),
        id1: addr(&keys[1]),
        account2: ACCOUNT2.parse().unwrap(),
        keys,
        pub_key,
    }
}

fn script(a: &Actors) -> Vec<Step> {
    let day = U256::from(DAY);
    let step = |action, signer, data: Vec<u8>| Step {
        action,
        signer,
        data: data.into(),
    };
    vec![
        step(
            "addDelegate veriKey",
            0,
            addDelegateCall {
                identity: a.id0,
                delegateType: name32("veriKey"),
                delegate: a.id1,
                validity: day,
            }
            .abi_encode(),
        ),
        step(
            "setAttribute did/pub",
            0,
            setAttributeCall {
                identity: a.id0,
                name: name32("did/pub/Secp256k1/veriKey/hex"),
                value: a.pub_key.clone().into(),
                validity: day,
            }
            .abi_encode(),
        ),
        step(
            "setAttribute did/svc",
            0,
            setAttributeCall {
                identity: a.id0,
                name: name32("did/svc/HubService"),
                value: HUB.as_bytes().to_vec().into(),
                validity: day,
            }
            .abi_encode(),
        ),
        step(
            "changeOwner id1 → id0",
            1,
            changeOwnerCall {
                identity: a.id1,
                newOwner: a.id0,
            }
            .abi_encode(),
        ),
        step(
            "addDelegate sigAuth on id1 by its new owner",
            0,
            addDelegateCall {
                identity: a.id1,
                delegateType: name32("sigAuth"),
                delegate: a.account2,
                validity: day,
            }
            .abi_encode(),
        ),
        step(
            "revokeDelegate veriKey",
            0,
            revokeDelegateCall {
                identity: a.id0,
                delegateType: name32("veriKey"),
                delegate: a.id1,
            }
            .abi_encode(),
        ),
        step(
            "revokeAttribute did/svc",
            0,
            revokeAttributeCall {
                identity: a.id0,
                name: name32("did/svc/HubService"),
                value: HUB.as_bytes().to_vec().into(),
            }
            .abi_encode(),
        ),
    ]
}

fn has(doc: &Value, needle: &str) -> bool {
    doc.to_string()
        .to_lowercase()
        .contains(&needle.to_lowercase())
}

/// What the documents of id0 and id1 must show after step `i` (0-based).
fn expect_after(i: usize, a: &Actors, d0: &Value, d1: &Value) {
    let hex = |x: Address| format!("{x:#x}");
    let ctx = format!("after step {i}: {d0:#}\n{d1:#}");
    let delegate_of_0 = has(d0, &hex(a.id1));
    let pub_key = has(d0, &hex::encode(&a.pub_key));
    let hub = has(d0, HUB);
    let id1_owned_by_0 = has(d1, &hex(a.id0));
    let delegate_of_1 = has(d1, &hex(a.account2));
    let expected = match i {
        0 => (true, false, false, false, false),
        1 => (true, true, false, false, false),
        2 => (true, true, true, false, false),
        3 => (true, true, true, true, false),
        4 => (true, true, true, true, true),
        5 => (false, true, true, true, true),
        _ => (false, true, false, true, true),
    };
    assert_eq!(
        (delegate_of_0, pub_key, hub, id1_owned_by_0, delegate_of_1),
        expected,
        "{ctx}"
    );
    if i >= 2 {
        assert!(has(d0, "HubService") == (i < 6), "{ctx}");
    }
}

/// What one run of the script produced: per step, the block and its time.
struct Run {
    blocks: Vec<(u64, u64)>,
}

/// Run the script on the embedded chain, following and resolving after
/// every step.
async fn run_embedded(backend: &str, db: &Db, a: &Actors) -> (Run, Followed) {
    let index = db.connect().await;
    let chain = EmbeddedChain::open(index.clone(), "dev", CHAIN_ID)
        .await
        .unwrap();
    assert_eq!(chain.block_number().await.unwrap(), 0, "{backend}: genesis");
    let registry = chain.ensure_registry().await.unwrap();
    assert_eq!(
        chain.block_number().await.unwrap(),
        1,
        "{backend}: the registry is block 1, as on anvil"
    );
    assert_eq!(chain.ensure_registry().await.unwrap(), registry);
    assert_eq!(chain.block_number().await.unwrap(), 1, "deployed once");
    let chain = Arc::new(chain);
    let f = follow(chain.clone(), registry, index.clone());

    let mut blocks = Vec::new();
    for (i, step) in script(a).iter().enumerate() {
        let r = chain
            .transact(&a.keys[step.signer], Some(registry), step.data.clone(), GAS)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}: {e}", step.action));
        assert_eq!(
            r.block_number,
            2 + i as u64,
            "{backend}: one block per transaction"
        );
        let b = chain.block(r.block_number).await.unwrap().unwrap();
        blocks.push((b.number, b.timestamp));

        if step.action.starts_with("revoke") {
            // A revocation sets validTo to the block's time, and an entry is
            // valid while validTo >= now (as in ethr-did-resolver): it is
            // gone from the latest document from the next second on.
            wait_past(b.timestamp).await;
        }
        let report = f.follower.sync_once().await.unwrap();
        assert_eq!(report.indexed, r.block_number, "{backend}: {report:?}");
        let d0 = f
            .resolver
            .resolve_with_metadata(&did(a.id0), None)
            .await
            .unwrap();
        let d1 = f
            .resolver
            .resolve_with_metadata(&did(a.id1), None)
            .await
            .unwrap();
        expect_after(i, a, &d0.document, &d1.document);
        let changed = if step.data.starts_with(&changeOwnerCall::SELECTOR)
            || step.action.contains("on id1")
        {
            &d1
        } else {
            &d0
        };
        assert_eq!(
            changed.metadata["versionId"],
            json!(r.block_number.to_string()),
            "{backend}: {}: {}",
            step.action,
            changed.metadata
        );
    }
    // eth_call against the state: id1 is owned by id0 now.
    let out = chain
        .call(
            registry,
            identityOwnerCall { identity: a.id1 }.abi_encode().into(),
        )
        .await
        .unwrap();
    assert_eq!(
        identityOwnerCall::abi_decode_returns(&out).unwrap(),
        a.id0,
        "{backend}"
    );
    (Run { blocks }, f)
}

/// The same script on anvil, each block at the embedded block's time.
async fn run_anvil(anvil: &Anvil, registry: Address, a: &Actors, times: &Run) -> Followed {
    let chain = Arc::new(RpcChain::new(&anvil.url).unwrap());
    for (step, (number, timestamp)) in script(a).iter().zip(&times.blocks) {
        anvil
            .rpc("evm_setNextBlockTimestamp", json!([timestamp]))
            .unwrap();
        let r = chain
            .transact(&a.keys[step.signer], Some(registry), step.data.clone(), GAS)
            .await
            .unwrap_or_else(|e| panic!("anvil: {}: {e}", step.action));
        assert_eq!(r.block_number, *number, "anvil: {}", step.action);
    }
    let index = Db::sqlite().connect().await;
    let f = follow(chain, registry, index);
    f.follower.sync_once().await.unwrap();
    f
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_changes_resolve_and_equal_anvils_documents() {
    let anvil = Anvil::start();
    let anvil_registry: Address = anvil.deploy_registry().parse().unwrap();
    assert_eq!(anvil.block_number().unwrap(), 1, "the registry is block 1");
    let a = actors();

    let mut runs = Vec::new();
    for (backend, db) in Db::both() {
        runs.push((backend, run_embedded(backend, &db, &a).await));
    }
    // anvil replays the SQLite run's block times; the PostgreSQL run's
    // times differ, so there `updated` is left out of the comparison.
    let theirs = run_anvil(&anvil, anvil_registry, &a, &runs[0].1 .0).await;

    let dids = [did(a.id0), did(a.id1)];
    let steps = runs[0].1 .0.blocks.clone();
    for (backend, (_, ours)) in &runs {
        let exact = *backend == "sqlite";
        let mut compared = 0;
        let at_blocks = steps.iter().map(|(n, _)| Some(*n)).chain([None]);
        for at in at_blocks {
            for d in &dids {
                let o = ours.resolver.resolve_with_metadata(d, at).await.unwrap();
                let t = theirs.resolver.resolve_with_metadata(d, at).await.unwrap();
                let ctx = format!("{backend}: {d} at {at:?}");
                assert_eq!(o.document, t.document, "{ctx}");
                let (mut om, mut tm) = (o.metadata.clone(), t.metadata.clone());
                if !exact {
                    for m in [&mut om, &mut tm] {
                        if let Some(m) = m.as_object_mut() {
                            m.remove("updated");
                            m.remove("nextUpdate");
                        }
                    }
                }
                assert_eq!(om, tm, "{ctx}");
                compared += 1;
            }
        }
        assert_eq!(compared, 2 * (steps.len() + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_chain_keeps_its_head_state_and_logs() {
    let a = actors();
    let db = Db::sqlite();
    let index = db.connect().await;
    let chain = EmbeddedChain::open(index.clone(), "dev", CHAIN_ID)
        .await
        .unwrap();
    let registry = chain.ensure_registry().await.unwrap();
    let status = chain.ensure_status_registry().await.unwrap();
    assert_ne!(status, registry);
    assert_eq!(chain.ensure_status_registry().await.unwrap(), status);
    let steps = script(&a);
    let first = chain
        .transact(&a.keys[1], Some(registry), steps[3].data.clone(), GAS)
        .await
        .unwrap();
    let genesis = chain.block(0).await.unwrap().unwrap();
    let head_block = chain.block(first.block_number).await.unwrap().unwrap();
    let logs = chain.logs(registry, 0, first.block_number).await.unwrap();
    assert_eq!(logs.len(), 1, "one DIDOwnerChanged");
    drop(chain);
    close(index).await;

    // A new pool on the same file: another process, or a restart.
    let index = db.connect().await;
    assert!(
        EmbeddedChain::open(index.clone(), "dev", 1).await.is_err(),
        "a chain keeps its chain id"
    );
    let chain = EmbeddedChain::open(index.clone(), "dev", CHAIN_ID)
        .await
        .unwrap();
    assert_eq!(chain.block_number().await.unwrap(), first.block_number);
    assert_eq!(chain.block(0).await.unwrap().unwrap(), genesis);
    assert_eq!(
        chain.block(first.block_number).await.unwrap().unwrap(),
        head_block
    );
    assert_eq!(
        chain.logs(registry, 0, first.block_number).await.unwrap(),
        logs
    );
    assert_eq!(chain.ensure_registry().await.unwrap(), registry);
    assert_eq!(chain.ensure_status_registry().await.unwrap(), status);
    assert_eq!(
        chain.block_number().await.unwrap(),
        first.block_number,
        "nothing deployed again"
    );
    let owner = chain
        .call(
            registry,
            identityOwnerCall { identity: a.id1 }.abi_encode().into(),
        )
        .await
        .unwrap();
    assert_eq!(
        identityOwnerCall::abi_decode_returns(&owner).unwrap(),
        a.id0
    );

    // Keep going: the new owner (id0) can now change id1; the old one cannot.
    let next = chain
        .transact(&a.keys[0], Some(registry), steps[4].data.clone(), GAS)
        .await
        .unwrap();
    assert_eq!(next.block_number, first.block_number + 1);
    assert_eq!(
        parent_hash(&index, next.block_number).await,
        chain.block(first.block_number).await.unwrap().unwrap().hash
    );
    let chain = Arc::new(chain);
    let f = follow(chain.clone(), registry, index.clone());
    f.follower.sync_once().await.unwrap();
    let d1 = f
        .resolver
        .resolve_with_metadata(&did(a.id1), None)
        .await
        .unwrap();
    assert!(
        has(&d1.document, &format!("{:#x}", a.id0)),
        "{}",
        d1.document
    );
    assert!(
        has(&d1.document, &format!("{:#x}", a.account2)),
        "{}",
        d1.document
    );
    assert_eq!(
        d1.metadata["versionId"],
        json!(next.block_number.to_string())
    );
    // Two deployments and two changes.
    assert_eq!(count(&index, "embedded_transactions").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverted_transaction_writes_no_block() {
    let a = actors();
    for (backend, db) in Db::both() {
        let index = db.connect().await;
        let chain = EmbeddedChain::open(index.clone(), "dev", CHAIN_ID)
            .await
            .unwrap();
        let registry = chain.ensure_registry().await.unwrap();
        let head = chain.block_number().await.unwrap();
        let rows = |index: EventIndex| async move {
            let mut n = Vec::new();
            for t in [
                "embedded_blocks",
                "embedded_transactions",
                "embedded_logs",
                "embedded_accounts",
                "embedded_storage",
            ] {
                n.push(count(&index, t).await);
            }
            n
        };
        let before = rows(index.clone()).await;

        // id1 is not owned by key0: the registry refuses.
        let steal = changeOwnerCall {
            identity: a.id1,
            newOwner: a.id0,
        }
        .abi_encode();
        let err = chain
            .transact(&a.keys[0], Some(registry), steal.clone().into(), GAS)
            .await
            .unwrap_err();
        match &err {
            ChainError::Reverted { reason } => assert_eq!(reason, "bad_actor", "{backend}"),
            other => panic!("{backend}: {other}"),
        }
        // Out of gas halts: also nothing written.
        let err = chain
            .transact(&a.keys[1], Some(registry), steal.into(), 30_000)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ChainError::Reverted { reason } if reason.contains("OutOfGas")),
            "{backend}: {err}"
        );
        // A read-only call that reverts is an error too, and writes nothing.
        let err = chain
            .call(registry, Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ChainError::Reverted { .. }),
            "{backend}: {err}"
        );

        assert_eq!(chain.block_number().await.unwrap(), head, "{backend}");
        assert_eq!(rows(index.clone()).await, before, "{backend}: no rows");

        // The chain goes on from the same head.
        let ok = chain
            .transact(&a.keys[1], Some(registry), script(&a)[3].data.clone(), GAS)
            .await
            .unwrap();
        assert_eq!(ok.block_number, head + 1, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transactions_land_in_consecutive_blocks() {
    let a = actors();
    for (backend, db) in Db::both() {
        // Two handles on two pools: as two processes sharing the database.
        let (ia, ib) = (db.connect().await, db.connect().await);
        let ca = EmbeddedChain::open(ia.clone(), "dev", CHAIN_ID)
            .await
            .unwrap();
        let cb = EmbeddedChain::open(ib.clone(), "dev", CHAIN_ID)
            .await
            .unwrap();
        let registry = ca.ensure_registry().await.unwrap();
        assert_eq!(cb.ensure_registry().await.unwrap(), registry);
        let head = ca.block_number().await.unwrap();

        let steps = script(&a);
        let mut numbers = Vec::new();
        for _ in 0..3 {
            let (x, y, z) = tokio::join!(
                ca.transact(&a.keys[0], Some(registry), steps[1].data.clone(), GAS),
                cb.transact(&a.keys[0], Some(registry), steps[2].data.clone(), GAS),
                ca.transact(&a.keys[1], Some(registry), steps[1].data.clone(), GAS),
            );
            // key1 setting an attribute of id0 is refused; the others land.
            assert!(
                matches!(z, Err(ChainError::Reverted { .. })),
                "{backend}: {z:?}"
            );
            numbers.push(x.unwrap().block_number);
            numbers.push(y.unwrap().block_number);
        }
        numbers.sort_unstable();
        let expected: Vec<u64> = (head + 1..=head + 6).collect();
        assert_eq!(numbers, expected, "{backend}: distinct, consecutive");
        assert_eq!(cb.block_number().await.unwrap(), head + 6);

        // Every block's parent is the block before it.
        for n in head + 1..=head + 6 {
            let parent = ca.block(n - 1).await.unwrap().unwrap().hash;
            assert_eq!(parent_hash(&ia, n).await, parent, "{backend}: block {n}");
        }
        // The sender's nonce went up once per mined transaction; the
        // reverted sender has no account at all (nothing was written).
        assert_eq!(nonce(&ia, a.id0).await, Some(6), "{backend}");
        assert_eq!(nonce(&ia, a.id1).await, None, "{backend}");
        let f = follow(Arc::new(ca), registry, ia.clone());
        let report = f.follower.sync_once().await.unwrap();
        assert_eq!(report.events, 6, "{backend}: {report:?}");
        let d0 = f
            .resolver
            .resolve_with_metadata(&did(a.id0), None)
            .await
            .unwrap();
        assert!(has(&d0.document, HUB), "{backend}");
        assert!(has(&d0.document, &hex::encode(&a.pub_key)), "{backend}");
    }
}

/// A reporting follower (a gateway's) records the block up to which its
/// in-memory state is applied, right after the round that applied it —
/// also when another process indexed the block first — and removes its
/// record when it stops; a plain follower (a command's) records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_follower_reports_what_it_applied_until_it_stops() {
    use did_registry::DidResolver;
    let a = actors();
    for (backend, db) in Db::both() {
        let index = db.connect().await;
        let chain = Arc::new(
            EmbeddedChain::open(index.clone(), "dev", CHAIN_ID)
                .await
                .unwrap(),
        );
        let registry = chain.ensure_registry().await.unwrap();
        let gateway = follow(chain.clone(), registry, index.clone());
        let command = follow(chain.clone(), registry, db.connect().await);
        let follower = gateway.follower.reporting("gw", "gw/test-1");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(follower.run(stopped));
        let applied = |want: u64| {
            let index = index.clone();
            async move {
                let start = std::time::Instant::now();
                loop {
                    let rows = index.followers("dev").await.unwrap();
                    if rows.iter().any(|r| r.applied_block >= want) {
                        return rows;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "never applied {want}: {rows:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        let head = chain.block_number().await.unwrap();
        let rows = applied(head).await;
        assert_eq!(
            rows.len(),
            1,
            "{backend}: only the reporting follower: {rows:?}"
        );
        let r = &rows[0];
        assert_eq!(
            (r.follower.as_str(), r.instance.as_str()),
            ("gw/test-1", "gw")
        );
        assert_eq!(
            (r.poll_ms, r.max_staleness_ms, r.confirmations),
            (100, 60_000, 0)
        );

        // A change: applied at the follower's next round.
        let steps = script(&a);
        let b = chain
            .transact(&a.keys[0], Some(registry), steps[0].data.clone(), GAS)
            .await
            .unwrap()
            .block_number;
        applied(b).await;
        assert!(
            gateway
                .resolver
                .resolve(&did(a.id0))
                .await
                .unwrap()
                .verification_method
                .len()
                == 2,
            "{backend}: what it reports applied, it serves"
        );
        // Indexed first by a command: the gateway's follower takes it up
        // (drops what it derived) and reports it applied too.
        let b = chain
            .transact(&a.keys[0], Some(registry), steps[5].data.clone(), GAS)
            .await
            .unwrap()
            .block_number;
        assert_eq!(command.follower.sync_once().await.unwrap().indexed, b);
        applied(b).await;
        wait_past(chain.block(b).await.unwrap().unwrap().timestamp).await;
        assert_eq!(
            gateway
                .resolver
                .resolve(&did(a.id0))
                .await
                .unwrap()
                .verification_method
                .len(),
            1,
            "{backend}: the revoked delegate is gone"
        );

        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(
            index.followers("dev").await.unwrap(),
            vec![],
            "{backend}: a stopped follower removes its record"
        );
    }
}
