//! Full VP-JWT / VC-JWT verification (`credentials::Verifier`): JWS parsing,
//! both credential formats, DID resolution (did:key and did:jwk through
//! `did_registry::MethodResolver` without chains), signatures, times,
//! audience, nonce, holder binding, trust, status entries.
//!
//! The input is one token, or payloads to sign. A token is verified as a
//! bearer presentation (`verify_presentation`), as a login presentation
//! (`verify_login`, then `recheck` and `rebind` of what it bound), and as a
//! lone credential (`verify_credential`), by a verifier with the credential
//! cache and one without, at a fixed clock. The seed corpus holds real
//! tokens signed by the fixture keys (`fuzz/src/lib.rs`,
//! `examples/make_seeds.rs`), so the fuzzer starts from tokens that verify.
//!
//! A mutated token no longer verifies, so everything after the signature
//! check would be reached by the seeds alone. Hence the second form, which
//! plays a holder (or an issuer) who signs whatever they like with their
//! own key — the attacker a gateway must stand up to:
//!
//! ```text
//! #HI0I1…              signers: holder index H, then each credential's issuer index
//! {VP payload}         JSON; "$0", "$1"… anywhere in it become the signed credentials
//! {VC payload 0}       JSON, signed by issuer I0
//! {VC payload 1}       …
//! ```
//!
//! (`Signers::sign` in `fuzz/src/lib.rs`.) The presentation goes through
//! all of the above; each credential through `verify_credential`.
//!
//! Checks, beyond not panicking: an accepted presentation names the right
//! audience (and nonce, for a login), is unexpired, holds 1..=16 credentials
//! each about its holder, of trusted types from trusted issuers; a login
//! binding rechecks and rebinds to the same credentials; the cached verifier
//! agrees with the uncached one (same result or same reason code), cold and
//! warm.
#![no_main]

use std::sync::OnceLock;

use credentials::{Expected, VerifiedCredential, VerifiedPresentation, Verifier};
use didgate_fuzz::{issuer_dids, verifier, Signers, LOGIN_AUDIENCE, LOGIN_NONCE, NOW, TRUST};
use libfuzzer_sys::fuzz_target;

struct Setup {
    runtime: tokio::runtime::Runtime,
    plain: Verifier,
    cached: Verifier,
    issuers: Vec<String>,
    signers: Signers,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let issuers = issuer_dids();
        Setup {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
            plain: verifier(0),
            cached: verifier(1_000),
            signers: Signers::new(),
            issuers,
        }
    })
}

/// What must agree between two verifications of the same token.
fn summary(
    r: &Result<VerifiedPresentation, credentials::CredentialError>,
) -> Result<(String, Vec<(String, Vec<String>)>), &'static str> {
    match r {
        Ok(vp) => Ok((
            vp.holder.clone(),
            vp.credentials
                .iter()
                .map(|c| (c.issuer.clone(), c.types.clone()))
                .collect(),
        )),
        Err(e) => Err(e.reason_code()),
    }
}

fn check_presentation(s: &Setup, vp: &VerifiedPresentation) {
    assert!(!vp.holder.is_empty());
    assert!(!vp.replay_id.is_empty());
    assert!(vp.expires_at + 60 >= NOW, "expired at {}", vp.expires_at);
    assert!((1..=credentials::MAX_CREDENTIALS).contains(&vp.credentials.len()));
    for c in &vp.credentials {
        check_credential(c);
        assert_eq!(c.subject, vp.holder);
        let n = s.issuers.iter().position(|i| *i == c.issuer);
        let trusted_for = n.map(|n| TRUST[n]).unwrap_or_default();
        assert!(!c.types.is_empty());
        assert!(
            c.types.iter().all(|t| trusted_for.contains(&t.as_str())),
            "{} counts for {:?}",
            c.issuer,
            c.types
        );
    }
}

fn check_credential(c: &VerifiedCredential) {
    if let Some(exp) = c.expires_at {
        assert!(exp + 60 >= NOW, "expired at {exp}");
    }
    assert!(!c.claims.contains_key("id"));
}

async fn one(s: &Setup, token: &str) {
    let plain = s.plain.verify_presentation(token, NOW).await;
    if let Ok(vp) = &plain {
        check_presentation(s, vp);
    }
    let cold = s.cached.verify_presentation(token, NOW).await;
    let warm = s.cached.verify_presentation(token, NOW).await;
    assert_eq!(summary(&plain), summary(&cold), "cached verifier, cold");
    assert_eq!(summary(&plain), summary(&warm), "cached verifier, warm");

    let expected = Expected {
        audience: Some(LOGIN_AUDIENCE),
        nonce: Some(LOGIN_NONCE),
    };
    if let Ok((vp, binding)) = s.plain.verify_login(token, NOW, expected).await {
        check_presentation(s, &vp);
        assert_eq!(vp.nonce.as_deref(), Some(LOGIN_NONCE));
        assert_eq!(binding.holder(), vp.holder);
        s.plain
            .recheck(&binding, NOW)
            .await
            .expect("a fresh login binding rechecks");
        let tokens: Vec<String> = binding.credential_tokens().map(str::to_owned).collect();
        let (again, _) = s
            .plain
            .rebind(binding.holder(), binding.holder_key_id(), &tokens, NOW)
            .await
            .expect("a fresh login binding rebinds");
        let ids = |cs: &[VerifiedCredential]| -> Vec<(String, Vec<String>)> {
            cs.iter()
                .map(|c| (c.issuer.clone(), c.types.clone()))
                .collect()
        };
        assert_eq!(ids(&again), ids(&vp.credentials));
    }

    if let Ok(vc) = s.plain.verify_credential(token, NOW).await {
        check_credential(&vc);
        let cached = s.cached.verify_credential(token, NOW).await;
        assert_eq!(cached.map(|c| c.issuer).ok(), Some(vc.issuer));
    }
}

async fn signed(s: &Setup, vp: &str, vcs: &[String]) {
    one(s, vp).await;
    for vc in vcs {
        if let Ok(c) = s.plain.verify_credential(vc, NOW).await {
            check_credential(&c);
        }
    }
}

fuzz_target!(init: { setup(); }, |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = setup();
    match s.signers.sign(text) {
        Some((vp, vcs)) => s.runtime.block_on(signed(s, &vp, &vcs)),
        None => s.runtime.block_on(one(s, text)),
    }
});
