//! Interop: credentials and presentations made by the npm package
//! `did-jwt-vc` (an implementation we did not write) verify in didgate, for
//! did:key and did:jwk, Ed25519 and secp256k1; tampered copies do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use credentials::{TrustedIssuers, Verifier, VerifierConfig};
use did_registry::LocalResolver;
use serde_json::Value;

fn flip_payload_char(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let p = &mut parts[1];
    // Change one base64url character in the middle of the payload.
    let i = p.len() / 2;
    let c = p.as_bytes()[i];
    let replacement = if c == b'A' { 'B' } else { 'A' };
    p.replace_range(i..=i, &replacement.to_string());
    parts.join(".")
}

#[tokio::test]
async fn did_jwt_vc_tokens_verify_and_tampered_copies_do_not() {
    let out =
        test_support::run_node("issue.mjs", &["https://gateway.test"]).expect("interop/issue.mjs");
    let audience = out["audience"].as_str().unwrap();
    let now = out["now"].as_i64().unwrap();
    let cases = out["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4, "ed25519/es256k × did:key/did:jwk");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let s = |k: &str| case[k].as_str().unwrap().to_owned();
        let mut trusted = TrustedIssuers::new();
        trusted.trust(&s("credential_type"), &s("issuer"));
        let verifier = Verifier::new(
            VerifierConfig::new(vec![audience.to_owned()], trusted),
            Arc::new(LocalResolver),
        );

        let vc = verifier
            .verify_credential(&s("vc"), now)
            .await
            .unwrap_or_else(|e| panic!("{name}: VC: {e}"));
        assert_eq!(vc.issuer, s("issuer"), "{name}");
        assert_eq!(vc.subject, s("holder"), "{name}");
        assert_eq!(vc.claims["role"], Value::from("engineer"), "{name}");

        let vp = verifier
            .verify_presentation(&s("vp"), now)
            .await
            .unwrap_or_else(|e| panic!("{name}: VP: {e}"));
        assert_eq!(vp.holder, s("holder"), "{name}");
        assert!(!vp.replay_id.is_empty());
        assert_eq!(vp.credentials.len(), 1);

        // A tampered presentation.
        let bad = flip_payload_char(&s("vp"));
        let err = verifier
            .verify_presentation(&bad, now)
            .await
            .expect_err(name);
        assert!(
            matches!(err.reason_code(), "bad_signature" | "malformed_token"),
            "{name}: {err}"
        );
        // A tampered credential, alone.
        let bad_vc = flip_payload_char(&s("vc"));
        let err = verifier
            .verify_credential(&bad_vc, now)
            .await
            .expect_err(name);
        assert!(
            matches!(err.reason_code(), "bad_signature" | "malformed_token"),
            "{name}: {err}"
        );
        // Someone else's signature on the holder's claims: swap the VP signature for the VC's.
        let vp_s = s("vp");
        let vc_s = s("vc");
        let (vp_body, _) = vp_s.rsplit_once('.').unwrap();
        let (_, vc_sig) = vc_s.rsplit_once('.').unwrap();
        let err = verifier
            .verify_presentation(&format!("{vp_body}.{vc_sig}"), now)
            .await
            .expect_err(name);
        assert_eq!(err.reason_code(), "bad_signature", "{name}");
    }
}
