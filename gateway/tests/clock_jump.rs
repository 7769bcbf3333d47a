//! Fault injection: the system clock jumps. Expected: the gateway's clock
//! never goes back (`clock.rs`), so a presentation that expired stays
//! expired and one the replay cache forgot cannot be used again; a forward
//! jump makes fresh presentations look expired (refused, never admitted);
//! after a backward jump the gateway holds its clock until real time
//! catches up, refusing what that time refuses. Recovery is automatic.
//!
//! The clock step is process-wide, so this file holds one test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use credentials::{Format, PresentationRequest};
use http::{Method, StatusCode};
use support::*;

fn short_vp(h: &Harness, secs: i64) -> String {
    let vc = h.employee_vc(&h.alice, "engineer", "eng");
    credentials::present(
        &h.alice.key,
        &h.alice.kid,
        &PresentationRequest {
            holder: h.alice.did.clone(),
            audience: h.audience.clone(),
            nonce: None,
            valid_for_secs: secs,
            credentials: vec![vc],
            format: Format::JwtVc11,
        },
        now(),
    )
    .unwrap()
}

async fn code(h: &Harness, vp: &str) -> (StatusCode, String) {
    let r = h.send(Method::GET, "/eng/docs", Some(vp), &[]).await;
    let code = if r.status == StatusCode::OK {
        "allowed".to_owned()
    } else {
        r.code()
    };
    (r.status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_jumps_never_admit_what_the_clock_refused() {
    // No skew, so that expiry is exact to the second.
    let h = Harness::start_full(None, "", "clock_skew_secs = 0", "", "").await;
    let vp = short_vp(&h, 2);
    assert_eq!(code(&h, &vp).await.1, "allowed");
    assert_eq!(code(&h, &vp).await.1, "replayed_presentation");
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(code(&h, &vp).await.1, "presentation_expired");

    // The system clock goes back 10 s: the expired presentation would be
    // valid again at that time, and its id is no longer remembered.
    didgate::clock::step_system_clock_for_tests(-10_000);
    assert_eq!(
        code(&h, &vp).await.1,
        "presentation_expired",
        "the gateway's clock held"
    );
    // Fresh presentations made on a correct clock work as before.
    assert_eq!(code(&h, &short_vp(&h, 60)).await.1, "allowed");

    // Forward an hour: fresh presentations look expired; refused.
    didgate::clock::step_system_clock_for_tests(3_610_000);
    assert_eq!(
        code(&h, &short_vp(&h, 60)).await,
        (StatusCode::UNAUTHORIZED, "presentation_expired".to_owned())
    );
    // And back: the clock holds an hour ahead, so they are still refused
    // (fail closed) until real time catches up; never admitted.
    didgate::clock::step_system_clock_for_tests(-3_600_000);
    assert_eq!(
        code(&h, &short_vp(&h, 60)).await,
        (StatusCode::UNAUTHORIZED, "presentation_expired".to_owned())
    );
    // Every refusal is in the log.
    let d = h
        .decisions_with(&["replayed_presentation", "presentation_expired"])
        .await;
    assert!(
        d.iter()
            .filter(|d| d.reason == "presentation_expired")
            .count()
            >= 4
    );
    h.stop().await;
}
