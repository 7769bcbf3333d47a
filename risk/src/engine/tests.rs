#![allow(clippy::unwrap_used)]
use super::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// Monday 2026-11-02 00:00 UTC.
const T0: i64 = 1_793_577_600_000;

const LAPTOP: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15";
const PHONE: &str =
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36";

fn ev<'a>(subject: &'a str, ts_ms: i64, ip: &str, ua: &'a str, path: &'a str) -> Event<'a> {
    let mut e = Event::new(ts_ms, subject, Kind::Request, ip.parse().unwrap());
    e.user_agent = Some(ua);
    e.method = Some("GET");
    e.path = Some(path);
    e.status = Some(200);
    e.bytes = Some(2_000);
    e
}

/// Three weeks of office hours from one network and laptop, a few paths.
fn employee(engine: &Engine, subject: &str, ip: &str) -> i64 {
    let paths = ["/", "/docs/a", "/docs/b", "/eng/build", "/eng/review"];
    let mut t = T0;
    for day in 0..21 {
        if day % 7 >= 5 {
            continue;
        }
        for i in 0..12 {
            t = T0 + day * DAY + 9 * HOUR + i * 40 * 60_000;
            let e = ev(subject, t, ip, LAPTOP, paths[i as usize % paths.len()]);
            let a = engine.assess(&e);
            engine.observe(&e, &a);
        }
    }
    t
}

fn score(engine: &Engine, e: &Event<'_>) -> RiskAssessment {
    let a = engine.assess(e);
    engine.observe(e, &a);
    a
}

fn has(a: &RiskAssessment, name: &str) -> bool {
    a.factor_names().any(|f| f == name)
}

#[test]
fn a_familiar_request_is_low_risk_and_not_cold() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let a = engine.assess(&ev(
        "did:ex:alice",
        last + 60_000,
        "10.1.2.3",
        LAPTOP,
        "/docs/a",
    ));
    assert!(!a.cold_start);
    assert!(a.score < 0.1, "{a:?}");
    assert!(a.factors.is_empty(), "{a:?}");
}

#[test]
fn an_identity_never_seen_is_cold() {
    let engine = Engine::new(RiskConfig::default());
    let a = engine.assess(&ev("did:ex:new", T0, "10.1.2.3", LAPTOP, "/"));
    assert!(a.cold_start);
    assert!(a.score < 0.5, "{a:?}");
}

#[test]
fn new_network_and_device_is_stepped_up_and_a_new_country_refused() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let t = last + HOUR;
    let same_net_new_device = engine.assess(&ev("did:ex:alice", t, "10.1.2.3", PHONE, "/"));
    let new_both = engine.assess(&ev("did:ex:alice", t, "198.51.100.7", PHONE, "/"));
    assert!(same_net_new_device.score < 0.5, "{same_net_new_device:?}");
    assert!(has(&same_net_new_device, factors::NEW_DEVICE));
    assert!(
        (0.5..=0.8).contains(&new_both.score),
        "step-up band expected: {new_both:?}"
    );
    assert_eq!(new_both.factors[0].name, factors::NEW_NETWORK);
    assert!(has(&new_both, factors::NEW_DEVICE));

    let mut far = ev("did:ex:alice", t, "198.51.100.7", PHONE, "/");
    far.asn = Some(64_512);
    far.country = Some("BR");
    let a = engine.assess(&far);
    assert!(a.score > 0.8, "{a:?}");
    assert!(has(&a, factors::NEW_COUNTRY));
}

#[test]
fn a_network_common_to_everyone_weighs_less_than_a_rare_one() {
    let engine = Engine::new(RiskConfig::default());
    let mut last = 0;
    for i in 0..20 {
        last = employee(&engine, &format!("did:ex:user{i}"), "10.1.2.3");
    }
    // Most users also use the shared VPN; user0 never did.
    for i in 1..20 {
        let s = format!("did:ex:user{i}");
        for k in 0..5 {
            score(
                &engine,
                &ev(&s, last + k * 60_000, "172.16.0.1", LAPTOP, "/"),
            );
        }
    }
    let common = engine.assess(&ev("did:ex:user0", last + HOUR, "172.16.0.1", LAPTOP, "/"));
    let rare = engine.assess(&ev("did:ex:user0", last + HOUR, "203.0.113.5", LAPTOP, "/"));
    assert!(common.score < rare.score, "{common:?} vs {rare:?}");
}

#[test]
fn impossible_travel() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let mut berlin = ev("did:ex:alice", last + 60_000, "10.1.2.3", LAPTOP, "/");
    berlin.location = Some((52.52, 13.40));
    score(&engine, &berlin);
    let mut sydney = ev("did:ex:alice", last + 40 * 60_000, "10.1.2.3", LAPTOP, "/");
    sydney.location = Some((-33.87, 151.21));
    let a = engine.assess(&sydney);
    assert!(has(&a, factors::IMPOSSIBLE_TRAVEL), "{a:?}");
    assert!(a.score > 0.7);
    // The same trip over two days is travel, not impossible.
    sydney.ts_ms = last + 2 * DAY;
    assert!(!has(&engine.assess(&sydney), factors::IMPOSSIBLE_TRAVEL));
}

#[test]
fn a_session_used_from_another_network_and_device_is_a_hijack() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let mut mine = ev("did:ex:alice", last + 60_000, "10.1.2.3", LAPTOP, "/");
    mine.session_id = Some("s-1");
    score(&engine, &mine);
    mine.ts_ms += 60_000;
    assert!(!has(&engine.assess(&mine), factors::SESSION_HIJACK));
    let mut theirs = ev("did:ex:alice", last + 3 * 60_000, "203.0.113.9", PHONE, "/");
    theirs.session_id = Some("s-1");
    let a = engine.assess(&theirs);
    assert!(has(&a, factors::SESSION_HIJACK), "{a:?}");
    assert!(a.score > 0.9, "{a:?}");
}

#[test]
fn mobile_handover_within_a_carrier_is_not_a_hijack() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let mut a1 = ev("did:ex:alice", last + 60_000, "100.64.1.1", PHONE, "/");
    a1.session_id = Some("s-2");
    a1.asn = Some(64_600);
    score(&engine, &a1);
    let mut a2 = ev("did:ex:alice", last + 2 * 60_000, "100.64.9.9", PHONE, "/");
    a2.session_id = Some("s-2");
    a2.asn = Some(64_600);
    let a = engine.assess(&a2);
    let hijack = a.factors.iter().find(|f| f.name == factors::SESSION_HIJACK);
    assert!(hijack.is_none_or(|f| f.weight < 0.2), "{a:?}");
}

#[test]
fn one_source_trying_many_identities_is_a_spray() {
    let engine = Engine::new(RiskConfig::default());
    let mut last = 0;
    for i in 0..12 {
        last = employee(&engine, &format!("did:ex:user{i}"), &format!("10.1.{i}.3"));
    }
    for i in 0..11 {
        let s = format!("did:ex:user{i}");
        let mut e = ev(
            &s,
            last + i * 5_000,
            "203.0.113.66",
            "python-requests/2.31",
            "/login",
        );
        e.kind = Kind::Login;
        e.status = Some(401);
        score(&engine, &e);
    }
    let mut e = ev(
        "did:ex:user11",
        last + 60_000,
        "203.0.113.66",
        "python-requests/2.31",
        "/login",
    );
    e.kind = Kind::Login;
    let a = engine.assess(&e);
    assert!(has(&a, factors::SPRAY_SOURCE), "{a:?}");
    assert!(a.score > 0.8, "{a:?}");
    // Many colleagues behind the office NAT is not a spray.
    let office = engine.assess(&ev(
        "did:ex:user11",
        last + 60_000,
        "10.1.11.3",
        LAPTOP,
        "/",
    ));
    assert!(!has(&office, factors::SPRAY_SOURCE), "{office:?}");
}

#[test]
fn failed_authentications_from_a_source_count_toward_spray() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let ip: IpAddr = "203.0.113.77".parse().unwrap();
    for i in 0..30 {
        engine.observe_failed_authentication(ip, last + i * 1_000);
    }
    let a = engine.assess(&ev(
        "did:ex:alice",
        last + 40_000,
        "203.0.113.77",
        LAPTOP,
        "/",
    ));
    assert!(has(&a, factors::SPRAY_SOURCE), "{a:?}");
    // The same junk sent from alice's own office NAT barely touches her.
    let office: IpAddr = "10.1.2.3".parse().unwrap();
    for i in 0..200 {
        engine.observe_failed_authentication(office, last + i * 1_000);
    }
    let a = engine.assess(&ev("did:ex:alice", last + 200_000, "10.1.2.3", LAPTOP, "/"));
    assert!(
        a.score < 0.3,
        "junk from a shared address flags its users: {a:?}"
    );
}

#[test]
fn scraping_many_distinct_paths_is_flagged() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let mut flagged_at = None;
    for i in 0..80 {
        let path = format!("/docs/page-{i}");
        let a = score(
            &engine,
            &ev(
                "did:ex:alice",
                last + HOUR + i * 1_000,
                "10.1.2.3",
                LAPTOP,
                &path,
            ),
        );
        if flagged_at.is_none() && a.score >= 0.5 {
            assert!(
                has(&a, factors::SCRAPING) || has(&a, factors::BURST),
                "{a:?}"
            );
            flagged_at = Some(i);
        }
    }
    let at = flagged_at.expect("scraping never reached the step-up band");
    assert!(at < 40, "flagged only after {at} requests");
}

#[test]
fn probing_sensitive_paths_is_flagged() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let probes = [
        "/admin",
        "/.env",
        "/api/internal/users",
        "/config",
        "/actuator/env",
        "/admin/users",
    ];
    let mut a = RiskAssessment::neutral();
    for (i, p) in probes.iter().enumerate() {
        let mut e = ev(
            "did:ex:alice",
            last + HOUR + i as i64 * 2_000,
            "10.1.2.3",
            LAPTOP,
            p,
        );
        e.status = Some(403);
        a = score(&engine, &e);
    }
    assert!(has(&a, factors::PROBING), "{a:?}");
    assert!(a.score > 0.8, "{a:?}");
    // The is_sensitive prefix match is per segment.
    assert!(engine.is_sensitive("/admin/x") && engine.is_sensitive("/ADMIN"));
    assert!(!engine.is_sensitive("/administrators-guide"));
}

#[test]
fn a_service_doing_something_new_drifts() {
    let engine = Engine::new(RiskConfig::default());
    let svc = "did:ex:svc";
    let mut t = T0;
    for i in 0..600 {
        t = T0 + i * 10 * 60_000;
        score(
            &engine,
            &ev(svc, t, "10.9.0.5", "okhttp/4.12.0", "/api/orders"),
        );
    }
    let usual = engine.assess(&ev(
        svc,
        t + 60_000,
        "10.9.0.5",
        "okhttp/4.12.0",
        "/api/orders",
    ));
    let new_path = engine.assess(&ev(
        svc,
        t + 60_000,
        "10.9.0.5",
        "okhttp/4.12.0",
        "/api/payroll/export",
    ));
    assert!(usual.score < 0.1, "{usual:?}");
    assert!(has(&new_path, factors::SERVICE_DRIFT), "{new_path:?}");
    assert!(new_path.score >= 0.5, "{new_path:?}");
}

#[test]
fn activity_at_an_unusual_hour_is_flagged() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    // Next Sunday, 03:00 UTC.
    let night = T0 + 27 * DAY + 3 * HOUR;
    assert!(night > last);
    let a = engine.assess(&ev("did:ex:alice", night, "10.1.2.3", LAPTOP, "/docs/a"));
    assert!(has(&a, factors::UNUSUAL_HOUR), "{a:?}");
    let day = engine.assess(&ev(
        "did:ex:alice",
        T0 + 22 * DAY + 10 * HOUR,
        "10.1.2.3",
        LAPTOP,
        "/docs/a",
    ));
    assert!(!has(&day, factors::UNUSUAL_HOUR), "{day:?}");
}

#[test]
fn suspicious_requests_do_not_make_an_attacker_familiar_but_a_step_up_does() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let t = last + HOUR;
    for i in 0..5 {
        score(
            &engine,
            &ev("did:ex:alice", t + i * 1_000, "198.51.100.7", PHONE, "/"),
        );
    }
    let still = engine.assess(&ev("did:ex:alice", t + 10_000, "198.51.100.7", PHONE, "/"));
    assert!(
        still.score >= 0.5,
        "five suspicious requests made it familiar: {still:?}"
    );

    // A step-up proves fresh possession of the key: half familiar each time.
    engine.confirm(&ev("did:ex:alice", t + 11_000, "198.51.100.7", PHONE, "/"));
    let after = engine.assess(&ev("did:ex:alice", t + 12_000, "198.51.100.7", PHONE, "/"));
    assert!(after.score < 0.5, "{after:?}");
    engine.confirm(&ev("did:ex:alice", t + 13_000, "198.51.100.7", PHONE, "/"));
    let twice = engine.assess(&ev("did:ex:alice", t + 14_000, "198.51.100.7", PHONE, "/"));
    assert!(twice.score < 0.2, "{twice:?}");
}

#[test]
fn old_behaviour_decays() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    // Half a year only at home: the office network fades out.
    for d in 0..180 {
        score(
            &engine,
            &ev(
                "did:ex:alice",
                last + d * DAY + HOUR,
                "10.7.7.7",
                LAPTOP,
                "/",
            ),
        );
    }
    let office = engine.assess(&ev(
        "did:ex:alice",
        last + 181 * DAY,
        "10.1.2.3",
        LAPTOP,
        "/",
    ));
    assert!(has(&office, factors::NEW_NETWORK), "{office:?}");
}

#[test]
fn profiles_survive_a_restart_and_merge_from_peers() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let dirty = engine.take_dirty();
    assert_eq!(dirty.len(), 1);
    assert!(engine.take_dirty().is_empty(), "taken twice");
    let probe = ev("did:ex:alice", last + HOUR, "198.51.100.7", PHONE, "/");
    let before = engine.assess(&probe);

    let restarted = Engine::new(RiskConfig::default());
    for (subject, _, json) in &dirty {
        restarted.merge_stored(subject, json, last + HOUR).unwrap();
        // Merging the same copy again changes nothing.
        restarted.merge_stored(subject, json, last + HOUR).unwrap();
    }
    let after = restarted.assess(&probe);
    assert_eq!(before.score, after.score);
    assert_eq!(before.cold_start, after.cold_start);
    let (n, bytes) = restarted.memory();
    assert_eq!(n, 1);
    assert!(bytes < 100 * 1024);
}

#[test]
fn a_profile_is_a_few_kib() {
    let engine = Engine::new(RiskConfig::default());
    employee(&engine, "did:ex:alice", "10.1.2.3");
    let shard = lock(engine.shard("did:ex:alice"));
    let p = shard.profiles.get("did:ex:alice").unwrap();
    assert!(p.size_bytes() < 4 * 1024, "{}", p.size_bytes());
}

#[test]
fn stored_garbage_is_refused() {
    let engine = Engine::new(RiskConfig::default());
    assert!(engine.merge_stored("did:ex:a", "{", T0).is_err());
    assert!(engine.merge_stored("did:ex:a", "{}", T0).is_err());
    let e = Engine::new(RiskConfig::default());
    employee(&e, "did:ex:alice", "10.1.2.3");
    let (_, _, json) = e.take_dirty().remove(0);
    let bad = json.replacen("\"hours\":[", "\"hours\":[1e39,", 1);
    assert!(engine.merge_stored("did:ex:a", &bad, T0).is_err());
    assert_eq!(engine.memory().0, 0);
}

#[test]
fn dropping_the_user_agent_is_a_new_device() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let mut e = ev("did:ex:alice", last + HOUR, "10.1.2.3", LAPTOP, "/");
    e.user_agent = None;
    assert!(has(&engine.assess(&e), factors::NEW_DEVICE));
}

#[test]
fn user_agent_families_ignore_versions() {
    assert_eq!(agent_family(LAPTOP), ("safari", "macos"));
    assert_eq!(agent_family(PHONE), ("chrome", "android"));
    assert_eq!(agent_family("curl/8.5.0"), ("curl", "-"));
    assert_eq!(agent_family("okhttp/4.12.0"), ("okhttp", "-"));
    assert_eq!(agent_family(""), ("none", "-"));
}

#[test]
fn path_templates_fold_ids() {
    let mut t = [""; 2];
    path_template("/api/orders/8812?x=1", &mut t);
    assert_eq!(t, ["api", "orders"]);
    let mut t = [""; 2];
    path_template("/u/1234/profile", &mut t);
    assert_eq!(t, ["u", "*"]);
}

#[test]
fn hour_of_week_starts_monday() {
    assert_eq!(hour_of_week(T0), 0);
    assert_eq!(hour_of_week(T0 + 6 * DAY + 23 * HOUR), 167);
    assert_eq!(hour_of_week(T0 + 7 * DAY), 0);
}

/// A copy of `subject`'s profile in memory.
fn profile_of(engine: &Engine, subject: &str) -> Profile {
    lock(engine.shard(subject))
        .profiles
        .get(subject)
        .unwrap()
        .clone()
}

#[test]
fn non_finite_evidence_counts_as_maximal() {
    for e in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut evidence = Evidence::new();
        evidence.add(factors::BURST, e);
        let a = evidence.into_assessment(false);
        assert_eq!(a.score, 1.0, "{e}: {a:?}");
        assert!(has(&a, factors::BURST), "{e}: {a:?}");
    }
}

#[test]
fn a_stored_baseline_that_would_make_rate_scores_nan_is_refused() {
    let e = Engine::new(RiskConfig::default());
    let last = employee(&e, "did:ex:alice", "10.1.2.3");
    let good = profile_of(&e, "did:ex:alice");
    let edits: [fn(&mut serde_json::Value); 4] = [
        |v| v["per_minute"]["var"] = serde_json::json!(-1e6),
        |v| v["win_paths"]["var"] = serde_json::json!(-0.5),
        |v| v["win_bytes"]["mean"] = serde_json::json!(1e39),
        |v| v["win_refusals"]["var"] = serde_json::json!(1e39),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut v = serde_json::to_value(&good).unwrap();
        edit(&mut v);
        let engine = Engine::new(RiskConfig::default());
        let r = engine.merge_stored("did:ex:alice", &v.to_string(), last + HOUR);
        assert!(r.is_err(), "edit {i} accepted");
        assert_eq!(engine.memory().0, 0);
    }
    // The untouched copy loads, and a burst is still seen through it.
    let engine = Engine::new(RiskConfig::default());
    let json = serde_json::to_string(&good).unwrap();
    engine
        .merge_stored("did:ex:alice", &json, last + HOUR)
        .unwrap();
    let mut a = RiskAssessment::neutral();
    for i in 0..30 {
        let t = last + HOUR + i * 1_000;
        a = score(
            &engine,
            &ev("did:ex:alice", t, "10.1.2.3", LAPTOP, "/docs/a"),
        );
    }
    assert!(has(&a, factors::BURST), "{a:?}");
}

#[test]
fn a_peer_clock_ahead_does_not_make_travel_impossible() {
    const NEW_YORK: (f64, f64) = (40.7, -74.0);
    const BERLIN: (f64, f64) = (52.5, 13.4);
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let now = last + HOUR;
    // A peer whose clock is a day ahead saw Alice in New York just now.
    let mut peer = profile_of(&engine, "did:ex:alice");
    peer.last_ms = now + DAY;
    peer.place = Some(Place {
        lat: NEW_YORK.0 as f32,
        lon: NEW_YORK.1 as f32,
        ts_ms: now + DAY,
    });
    let json = serde_json::to_string(&peer).unwrap();
    engine.merge_stored("did:ex:alice", &json, now).unwrap();
    // Ten hours later she is in Berlin: a flight, not impossible travel.
    let mut e = ev("did:ex:alice", now + 10 * HOUR, "10.1.2.3", LAPTOP, "/");
    e.location = Some(BERLIN);
    let a = engine.assess(&e);
    assert!(!has(&a, factors::IMPOSSIBLE_TRAVEL), "{a:?}");
    // One hour later would be.
    e.ts_ms = now + HOUR;
    let a = engine.assess(&e);
    assert!(has(&a, factors::IMPOSSIBLE_TRAVEL), "{a:?}");
}

#[test]
fn a_peer_clock_ahead_does_not_stop_rate_windows() {
    let engine = Engine::new(RiskConfig::default());
    let last = employee(&engine, "did:ex:alice", "10.1.2.3");
    let now = last + HOUR;
    // A peer whose clock is a day ahead: its minute and window start tomorrow.
    let mut peer = profile_of(&engine, "did:ex:alice");
    peer.last_ms = now + DAY;
    peer.minute_start_ms = now + DAY;
    peer.minute_events = 1;
    peer.window.start_ms = now + DAY;
    peer.window.events = 1;
    let json = serde_json::to_string(&peer).unwrap();
    engine.merge_stored("did:ex:alice", &json, now).unwrap();
    // An ordinary pace: a request every ten seconds for ten minutes.
    for i in 0..60 {
        let e = ev(
            "did:ex:alice",
            now + i * 10_000,
            "10.1.2.3",
            LAPTOP,
            "/docs/a",
        );
        let a = score(&engine, &e);
        assert!(!has(&a, factors::BURST), "request {i}: {a:?}");
    }
    let p = profile_of(&engine, "did:ex:alice");
    assert!(
        p.minute_start_ms <= now + 10 * 60_000,
        "{}",
        p.minute_start_ms
    );
    assert!(
        p.window.start_ms <= now + 10 * 60_000,
        "{}",
        p.window.start_ms
    );
}

#[test]
fn stored_counters_at_their_maximum_saturate() {
    let e = Engine::new(RiskConfig::default());
    let last = employee(&e, "did:ex:alice", "10.1.2.3");
    let now = last + HOUR;
    let mut p = profile_of(&e, "did:ex:alice");
    p.last_ms = now;
    p.events = u64::MAX;
    p.minute_start_ms = now;
    p.minute_events = u32::MAX;
    p.window.start_ms = now;
    p.window.events = u32::MAX;
    p.window.refusals = u32::MAX;
    p.window.bytes = u64::MAX;
    let json = serde_json::to_string(&p).unwrap();
    let engine = Engine::new(RiskConfig::default());
    engine.merge_stored("did:ex:alice", &json, now).unwrap();
    let mut req = ev("did:ex:alice", now + 1_000, "10.1.2.3", LAPTOP, "/admin");
    req.status = Some(403);
    let a = score(&engine, &req);
    engine.record_outcome("did:ex:alice", now + 1_000, 403, 1);
    assert!(has(&a, factors::BURST), "{a:?}");
    let p = profile_of(&engine, "did:ex:alice");
    assert_eq!(p.events, u64::MAX);
    assert_eq!(p.minute_events, u32::MAX);
    assert_eq!(p.window.events, u32::MAX);
    assert_eq!(p.window.refusals, u32::MAX);
    assert_eq!(p.window.bytes, u64::MAX);
}

#[test]
fn source_counters_at_their_maximum_saturate() {
    let engine = Engine::new(RiskConfig::default());
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let keys = engine.keys(&Event::new(T0, "", Kind::Login, ip));
    {
        let mut shard = lock(&engine.sources[(keys.source % engine.sources.len() as u64) as usize]);
        let s = shard.entry(keys.source).or_default();
        s.start_ms = T0;
        s.events = u32::MAX;
        s.failures = u32::MAX;
    }
    engine.observe_failed_authentication(ip, T0 + 1_000);
    let shard = lock(&engine.sources[(keys.source % engine.sources.len() as u64) as usize]);
    let s = shard.get(&keys.source).unwrap();
    assert_eq!((s.events, s.failures), (u32::MAX, u32::MAX));
}

#[test]
fn extreme_event_times_do_not_panic() {
    let engine = Engine::new(RiskConfig::default());
    employee(&engine, "did:ex:alice", "10.1.2.3");
    for ts in [i64::MIN, -DAY, 0, i64::MAX, i64::MIN] {
        let mut e = ev("did:ex:alice", ts, "10.1.2.3", LAPTOP, "/admin");
        e.session_id = Some("s-1");
        e.location = Some((52.5, 13.4));
        let a = score(&engine, &e);
        assert!((0.0..=1.0).contains(&a.score), "{ts}: {a:?}");
        engine.record_outcome("did:ex:alice", ts, 403, 1);
        engine.confirm(&e);
        engine.observe_failed_authentication(e.ip, ts);
    }
}

#[test]
fn unix_days_saturate_instead_of_wrapping() {
    assert_eq!(unix_day(0), 0);
    assert_eq!(unix_day(T0), 20_759);
    assert_eq!(unix_day(T0 + DAY - 1), 20_759);
    assert_eq!(unix_day(-1), 0);
    assert_eq!(unix_day(i64::MIN), 0);
    assert_eq!(unix_day(65_535 * DAY), u16::MAX);
    // 2149-06-06 and later: the last day, not day 0 again.
    assert_eq!(unix_day(65_536 * DAY), u16::MAX);
    assert_eq!(unix_day(i64::MAX), u16::MAX);
}

#[test]
fn population_share_with_a_saturated_identity_count() {
    let pop = Population::new();
    pop.identities.store(u32::MAX, Ordering::Relaxed);
    pop.add(7);
    let share = pop.share(7);
    assert!((0.0..1e-6).contains(&share), "{share}");
}
