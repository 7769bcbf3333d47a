//! The risk engine's cost per request, as the gateway pays it
//! (`gateway/src/path.rs`): hash the event's features once (`event_keys`),
//! `assess_keyed`, then `observe_keyed`, for an identity whose profile is
//! warm (four weeks of history, past cold start), among a population of
//! other identities. Also `event_keys` alone.
//!
//!   cargo bench -p risk --bench score
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use risk::{Engine, Event, Kind, RiskConfig};

const SUBJECT: &str = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/131.0.0.0 Safari/537.36";
const TLS_FP: &str = "t13d1516h2_8daaf6152771_b0da82dd1658";
const START_MS: i64 = 1_800_000_000_000;
const MINUTE_MS: i64 = 60_000;

/// The paths the identity uses, as a gateway sees them.
const PATHS: [&str; 12] = [
    "/",
    "/whoami",
    "/eng/reports/2026/q3.pdf",
    "/eng/dashboards/latency",
    "/eng/dashboards/errors",
    "/eng/wiki/runbooks/oncall",
    "/eng/wiki/design/gateway",
    "/api/v1/builds",
    "/api/v1/builds/1042",
    "/api/v1/deploys",
    "/public/logo.svg",
    "/public/app.js",
];

fn event<'a>(ts_ms: i64, subject: &'a str, ip: IpAddr, path: &'a str) -> Event<'a> {
    Event {
        asn: Some(64_512),
        country: Some("DE"),
        location: Some((52.52, 13.40)),
        user_agent: Some(UA),
        tls_fp: Some(TLS_FP),
        auth_method: Some("vp_jwt"),
        method: Some("GET"),
        path: Some(path),
        status: None,
        bytes: None,
        ..Event::new(ts_ms, subject, Kind::Request, ip)
    }
}

/// An engine that has seen `SUBJECT` every 20 minutes for four weeks (about
/// 2,000 requests from one office address and browser), and 200 other
/// identities a hundred times each.
fn warm_engine() -> (Engine, i64) {
    let engine = Engine::new(RiskConfig::default());
    let office = IpAddr::from([10, 20, 30, 40]);
    let mut ts = START_MS;
    for i in 0..2016 {
        engine.score(&event(ts, SUBJECT, office, PATHS[i % PATHS.len()]));
        ts += 20 * MINUTE_MS;
    }
    let others: Vec<String> = (0..200)
        .map(|i| format!("did:key:z6MkOther{i:04}"))
        .collect();
    for (n, other) in others.iter().enumerate() {
        let ip = IpAddr::from([10, 20, (n / 50) as u8, (n % 50) as u8 + 100]);
        for i in 0..100 {
            let t = START_MS + i * 6 * 60 * MINUTE_MS;
            engine.score(&event(t, other, ip, PATHS[(n + i as usize) % PATHS.len()]));
        }
    }
    let a = engine.assess(&event(ts, SUBJECT, office, PATHS[0]));
    assert!(!a.cold_start, "the profile is warm");
    assert!(a.score < 0.3, "a usual request scores low: {a:?}");
    (engine, ts)
}

fn bench(c: &mut Criterion) {
    let (engine, start) = warm_engine();
    let office = IpAddr::from([10, 20, 30, 40]);

    let mut g = c.benchmark_group("risk_score");
    g.measurement_time(Duration::from_secs(4));
    // One request a minute, going round the usual paths: time moves on, so
    // every iteration is an ordinary request of a warm profile (no burst).
    let ts = Cell::new(start);
    let n = Cell::new(0usize);
    g.bench_function("warm_profile", |b| {
        b.iter(|| {
            let t = ts.get() + MINUTE_MS;
            ts.set(t);
            let i = n.get().wrapping_add(1);
            n.set(i);
            // Allowed and forwarded: `status` stays `None`, as in path.rs.
            let ev = event(t, SUBJECT, office, PATHS[i % PATHS.len()]);
            let keys = engine.event_keys(black_box(&ev));
            let risk = engine.assess_keyed(&ev, &keys);
            engine.observe_keyed(&ev, &keys, &risk);
            black_box(risk)
        })
    });
    let ev = event(start, SUBJECT, office, PATHS[2]);
    g.bench_function("event_keys", |b| {
        b.iter(|| engine.event_keys(black_box(&ev)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
