//! did:key resolution cost: the DID document lookup on the request path for
//! a did:key holder or issuer (pure computation: multibase decode, point
//! decompression, document). The did:ethr warm cache hit is in
//! `ethr_resolve.rs`.
//!
//!   cargo bench -p did-registry --bench did_key
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use credentials::SigningKey;
use criterion::{criterion_group, criterion_main, Criterion};
use did_registry::{did_key, DidResolver, KeyType, MethodResolver};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // As the gateway builds it (server.rs); with no chain configured every
    // DID goes to the local methods.
    let resolver = MethodResolver { ethr: None };

    let mut g = c.benchmark_group("did_key_resolve");
    g.measurement_time(Duration::from_secs(3));
    for (name, kt) in [
        ("ed25519", KeyType::Ed25519),
        ("p256", KeyType::P256),
        ("secp256k1", KeyType::Secp256k1),
    ] {
        let did = did_key(&SigningKey::generate(kt).public_key());
        let doc = rt.block_on(resolver.resolve(&did)).unwrap();
        assert_eq!(doc.id, did);
        assert_eq!(doc.verification_method.len(), 1);
        g.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { resolver.resolve(black_box(&did)).await.unwrap() })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
