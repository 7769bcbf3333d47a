//! did:ethr resolution cost, side by side with ethr-did-resolver on the same
//! anvil node, for a DID with 50 registry changes.
//!
//!   cargo bench -p did-registry --bench ethr_resolve
//!
//! ethr-did-resolver is timed by `interop/ethr-bench.mjs` (a new resolver and
//! provider per resolution: cold); didgate's cold resolution is one query on
//! the SQLite event index plus building the document (no cache); the warm
//! path is the cache hit every request after the first takes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use did_registry::ethr::{ChainFollower, EthrDid, EthrNetwork, EthrResolver, NetworkConfig};
use did_registry::DidResolver;
use test_support::{run_node, Anvil};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let anvil = Anvil::start();
    let registry = anvil.deploy_registry();
    let theirs = run_node("ethr-bench.mjs", &[&anvil.url, &registry, "50", "20"]).unwrap();
    let did = theirs["did"].as_str().unwrap().to_owned();
    println!(
        "ethr-did-resolver 11.0.4, cold, 50 changes, same anvil node: median {:.1} ms, p90 {:.1} ms over {} runs",
        theirs["median_ms"].as_f64().unwrap(),
        theirs["p90_ms"].as_f64().unwrap(),
        theirs["runs"]
    );

    let dir = std::env::temp_dir().join(format!("didgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (net, resolver) = rt.block_on(async {
        let index = common::connect_sqlite(&dir.join("index.db")).await;
        let net = EthrNetwork::new(
            NetworkConfig {
                name: "0x7a69".into(),
                rpc_url: anvil.url.clone(),
                registry: registry.parse().unwrap(),
                chain_id: Some(31337),
                confirmations: 0,
                poll_interval: Duration::from_secs(1),
                max_staleness: Duration::from_secs(3600),
                start_block: 0,
                max_block_range: 2000,
            },
            index,
        );
        let t0 = std::time::Instant::now();
        let report = ChainFollower::new(net.clone())
            .unwrap()
            .sync_once()
            .await
            .unwrap();
        println!(
            "didgate initial index of {} blocks ({} events): {:.1} ms",
            report.indexed,
            report.events,
            t0.elapsed().as_secs_f64() * 1e3
        );
        (net.clone(), EthrResolver::new(vec![net]))
    });
    let parsed = EthrDid::parse(&did).unwrap();
    let ours = rt.block_on(net.resolve_full(&parsed, None)).unwrap();
    assert_eq!(
        ours.document, theirs["document"],
        "same document as ethr-did-resolver"
    );

    let mut g = c.benchmark_group("did_ethr_resolve_50_changes");
    g.bench_function("cold_from_sqlite_index", |b| {
        b.to_async(&rt)
            .iter(|| async { net.resolve_full(&parsed, None).await.unwrap() })
    });
    g.bench_function("warm_cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { resolver.resolve(&did).await.unwrap() })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
