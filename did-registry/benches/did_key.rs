//! did:key resolution cost: the DID document lookup on the request path for
//! a did:key holder or issuer. `did_key_resolve/*` is what the gateway pays
//! from the second presentation of a DID on (the resolver's cache of local
//! documents); `did_key_decode/*` is the first time (multibase decode, point
//! decompression, document), measured with that cache turned off.
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
    for (group, resolver) in [
        ("did_key_resolve", MethodResolver::new(None)),
        (
            "did_key_decode",
            MethodResolver::with_local_cache_bytes(None, 0),
        ),
    ] {
        let mut g = c.benchmark_group(group);
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
