//! Presentation verification: the good case for every key type, DID method
//! and format, and a named test for each way it must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use credentials::{
    issue_credential, jws, present, CredentialRequest, Format, KeyType, PresentationRequest,
    SigningKey, TrustedIssuers, Verifier, VerifierConfig,
};
use did_registry::LocalResolver;
use serde_json::{json, Value};

const AUD: &str = "https://gw.test";
const NOW: i64 = 1_800_000_000;

struct Id {
    key: SigningKey,
    did: String,
    kid: String,
}

fn id(kt: KeyType, jwk: bool) -> Id {
    let key = SigningKey::generate(kt);
    let did = if jwk {
        did_registry::did_jwk(&key.public_key())
    } else {
        did_registry::did_key(&key.public_key())
    };
    let kid = did_registry::default_key_id(&did).unwrap();
    Id { key, did, kid }
}

fn verifier(issuer: &Id) -> Verifier {
    let mut t = TrustedIssuers::new();
    t.trust("EmployeeCredential", &issuer.did);
    Verifier::new(
        VerifierConfig::new(vec![AUD.into()], t),
        Arc::new(LocalResolver),
    )
}

fn vc(issuer: &Id, subject: &str, now: i64, valid: i64, format: Format) -> String {
    issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.into(),
            types: vec!["EmployeeCredential".into()],
            claims: json!({"role": "engineer", "id": "ignored"})
                .as_object()
                .unwrap()
                .clone(),
            valid_for_secs: Some(valid),
            id: Some("urn:uuid:1".into()),
            format,
        },
        now,
    )
    .unwrap()
}

fn vp(holder: &Id, vcs: Vec<String>, aud: &str, now: i64, format: Format) -> String {
    present(
        &holder.key,
        &holder.kid,
        &PresentationRequest {
            holder: holder.did.clone(),
            audience: aud.into(),
            nonce: Some("n-1".into()),
            valid_for_secs: 120,
            credentials: vcs,
            format,
        },
        now,
    )
    .unwrap()
}

async fn code(v: &Verifier, token: &str) -> &'static str {
    v.verify_presentation(token, NOW)
        .await
        .expect_err("must be refused")
        .reason_code()
}

fn resign(key: &SigningKey, header: Value, payload: Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(payload.to_string());
    let sig = key.sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn payload(token: &str) -> Value {
    jws::parse(token).unwrap().payload
}

#[tokio::test]
async fn every_key_type_method_and_format_verifies() {
    for kt in [KeyType::Ed25519, KeyType::P256, KeyType::Secp256k1] {
        for jwk in [false, true] {
            for (vc_f, vp_f) in [
                (Format::JwtVc11, Format::JwtVc11),
                (Format::VcJwt20, Format::VcJwt20),
                (Format::VcJwt20, Format::JwtVc11),
                (Format::JwtVc11, Format::VcJwt20),
            ] {
                let issuer = id(kt, jwk);
                let holder = id(kt, !jwk);
                let v = verifier(&issuer);
                let token = vp(
                    &holder,
                    vec![vc(&issuer, &holder.did, NOW, 3600, vc_f)],
                    AUD,
                    NOW,
                    vp_f,
                );
                let ok = v
                    .verify_presentation(&token, NOW)
                    .await
                    .unwrap_or_else(|e| panic!("{kt} {jwk} {vc_f:?}/{vp_f:?}: {e}"));
                assert_eq!(ok.holder, holder.did);
                assert!(ok.replay_id.starts_with("urn:uuid:"));
                assert_eq!(ok.expires_at, NOW + 120);
                let c = &ok.credentials[0];
                assert_eq!(c.issuer, issuer.did);
                assert_eq!(c.subject, holder.did);
                assert_eq!(c.format, vc_f);
                assert_eq!(c.claims["role"], "engineer");
                assert!(c.claims.get("id").is_none());
                assert!(c.types.contains(&"EmployeeCredential".to_owned()));
            }
        }
    }
}

#[tokio::test]
async fn expired_credential_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW - 7200, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "credential_expired");
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW - 7200, 3600, Format::VcJwt20)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "credential_expired");
}

#[tokio::test]
async fn expired_presentation_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW - 600,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "presentation_expired");
}

#[tokio::test]
async fn not_yet_valid_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW + 600,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "not_yet_valid");
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW + 600, 3600, Format::VcJwt20)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "not_yet_valid");
}

#[tokio::test]
async fn clock_skew_tolerated() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW + 30, 3600, Format::JwtVc11)],
        AUD,
        NOW + 30,
        Format::JwtVc11,
    );
    verifier(&i).verify_presentation(&t, NOW).await.unwrap();
}

#[tokio::test]
async fn wrong_audience_refused() {
    let (i, h) = (id(KeyType::P256, false), id(KeyType::P256, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        "https://elsewhere",
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "wrong_audience");
}

#[tokio::test]
async fn untrusted_issuer_refused() {
    let (i, rogue, h) = (
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
    );
    let t = vp(
        &h,
        vec![vc(&rogue, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "issuer_not_trusted");
    // Trusted for another type only: still refused.
    let mut t2 = TrustedIssuers::new();
    t2.trust("ServiceCredential", &i.did);
    let v = Verifier::new(
        VerifierConfig::new(vec![AUD.into()], t2),
        Arc::new(LocalResolver),
    );
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&v, &t).await, "issuer_not_trusted");
}

#[tokio::test]
async fn subject_not_holder_refused() {
    let (i, alice, mallory) = (
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
        id(KeyType::Secp256k1, true),
    );
    let t = vp(
        &mallory,
        vec![vc(&i, &alice.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(code(&verifier(&i), &t).await, "subject_not_holder");
}

#[tokio::test]
async fn tampered_presentation_refused() {
    let (i, h) = (id(KeyType::Secp256k1, false), id(KeyType::Secp256k1, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let parts: Vec<&str> = t.split('.').collect();
    let mut p = payload(&t);
    p["exp"] = json!(NOW + 100);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(p.to_string()),
        parts[2]
    );
    assert_eq!(code(&verifier(&i), &forged).await, "bad_signature");
}

#[tokio::test]
async fn tampered_credential_refused() {
    let (i, h) = (id(KeyType::Ed25519, true), id(KeyType::Ed25519, false));
    let good = vc(&i, &h.did, NOW, 3600, Format::JwtVc11);
    let parts: Vec<&str> = good.split('.').collect();
    let mut p = payload(&good);
    p["vc"]["credentialSubject"]["role"] = json!("admin");
    let forged_vc = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(p.to_string()),
        parts[2]
    );
    // The holder signs a presentation around the forged credential.
    let t = vp(&h, vec![forged_vc], AUD, NOW, Format::JwtVc11);
    assert_eq!(code(&verifier(&i), &t).await, "bad_signature");
}

#[tokio::test]
async fn alg_none_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let p = t.split('.').nth(1).unwrap();
    let h_none = URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string());
    assert_eq!(
        code(&verifier(&i), &format!("{h_none}.{p}.")).await,
        "alg_not_allowed"
    );
}

#[tokio::test]
async fn hs256_with_public_key_refused() {
    use hmac::Mac;
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let p = t.split('.').nth(1).unwrap();
    let hdr = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": h.kid}).to_string());
    let public = h.key.public_key().to_jwk();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.x.unwrap().as_bytes()).unwrap();
    mac.update(format!("{hdr}.{p}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    assert_eq!(
        code(&verifier(&i), &format!("{hdr}.{p}.{sig}")).await,
        "alg_not_allowed"
    );
}

#[tokio::test]
async fn alg_of_another_key_type_refused() {
    // An ES256 header on an Ed25519 key.
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let forged = resign(&h.key, json!({"alg": "ES256", "kid": h.kid}), payload(&t));
    assert_eq!(code(&verifier(&i), &forged).await, "alg_not_allowed");
}

#[tokio::test]
async fn kid_of_another_did_refused() {
    let (i, h, other) = (
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
    );
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    // Signed by `other`, naming other's key, but claiming to be `h`.
    let forged = resign(
        &other.key,
        json!({"alg": "EdDSA", "kid": other.kid}),
        payload(&t),
    );
    assert_eq!(code(&verifier(&i), &forged).await, "key_not_found");
}

#[tokio::test]
async fn missing_exp_replay_id_and_credentials_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let v = verifier(&i);
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let hdr = json!({"alg": "EdDSA", "kid": h.kid});
    let mut p = payload(&t);
    p.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        code(&v, &resign(&h.key, hdr.clone(), p)).await,
        "presentation_exp_missing"
    );
    let mut p = payload(&t);
    p.as_object_mut().unwrap().remove("jti");
    p.as_object_mut().unwrap().remove("nonce");
    assert_eq!(
        code(&v, &resign(&h.key, hdr.clone(), p)).await,
        "replay_id_missing"
    );
    let mut p = payload(&t);
    p["vp"]["verifiableCredential"] = json!([]);
    assert_eq!(
        code(&v, &resign(&h.key, hdr.clone(), p)).await,
        "no_credential"
    );
    let mut p = payload(&t);
    p["exp"] = json!(NOW + 100_000);
    assert_eq!(
        code(&v, &resign(&h.key, hdr, p)).await,
        "presentation_lifetime_too_long"
    );
}

#[tokio::test]
async fn unsupported_did_method_refused() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let t = vp(
        &h,
        vec![vc(&i, &h.did, NOW, 3600, Format::JwtVc11)],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    let mut p = payload(&t);
    p["iss"] = json!("did:web:example.com");
    let forged = resign(&h.key, json!({"alg": "EdDSA"}), p);
    assert_eq!(code(&verifier(&i), &forged).await, "unsupported_did_method");
}

#[tokio::test]
async fn a_credential_is_not_a_presentation() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let c = vc(&i, &h.did, NOW, 3600, Format::JwtVc11);
    assert_eq!(code(&verifier(&i), &c).await, "malformed_token");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn verify_presentation_never_panics(s in ".{0,300}", seg in "[A-Za-z0-9_-]{0,120}") {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let i = id(KeyType::Ed25519, false);
        let v = verifier(&i);
        rt.block_on(async {
            let _ = v.verify_presentation(&s, NOW).await;
            let _ = v.verify_presentation(&format!("eyJhbGciOiJFZERTQSJ9.{seg}.{seg}"), NOW).await;
        });
    }
}

/// A credential with a `credentialStatus` entry, in each format.
fn vc_with_status(issuer: &Id, subject: &str, status: Value, format: Format) -> String {
    credentials::issue_with_status(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.into(),
            types: vec!["EmployeeCredential".into()],
            claims: serde_json::Map::new(),
            valid_for_secs: Some(3600),
            id: None,
            format,
        },
        Some(&status),
        NOW,
    )
    .unwrap()
}

#[tokio::test]
async fn a_status_entry_that_cannot_be_checked_is_refused() {
    let issuer = id(KeyType::Ed25519, false);
    let holder = id(KeyType::Ed25519, false);
    let list = "did:ethr:dev:0x1111111111111111111111111111111111111111/status/staff";
    let entry = json!({
        "id": format!("{list}#3"), "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation", "statusListIndex": "3", "statusListCredential": list,
    });
    for format in [Format::JwtVc11, Format::VcJwt20] {
        let token = vp(
            &holder,
            vec![vc_with_status(&issuer, &holder.did, entry.clone(), format)],
            AUD,
            NOW,
            format,
        );
        // No status checker: never a pass.
        assert_eq!(
            code(&verifier(&issuer), &token).await,
            "status_list_unsupported"
        );
        // A checker that follows no chain: the issuer (did:key) does not own a did:ethr list.
        let checked = verifier(&issuer).with_status_checker(Arc::new(
            did_registry::ethr::EthrStatusChecker::new(vec![], vec![]),
        ));
        assert_eq!(code(&checked, &token).await, "status_list_mismatch");
        // Where the entry sits in each format.
        let p = payload(&token);
        let inner = match format {
            Format::JwtVc11 => p["vp"]["verifiableCredential"][0]
                .as_str()
                .unwrap()
                .to_owned(),
            Format::VcJwt20 => p["verifiableCredential"][0]["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("data:application/vc+jwt,")
                .to_owned(),
        };
        let vc = payload(&inner);
        let got = match format {
            Format::JwtVc11 => &vc["vc"]["credentialStatus"],
            Format::VcJwt20 => &vc["credentialStatus"],
        };
        assert_eq!(got, &entry);
    }
    // A malformed entry is refused before any checker is asked.
    let token = vp(
        &holder,
        vec![vc_with_status(
            &issuer,
            &holder.did,
            json!({"type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                   "statusListIndex": "0x10", "statusListCredential": list}),
            Format::JwtVc11,
        )],
        AUD,
        NOW,
        Format::JwtVc11,
    );
    assert_eq!(
        code(&verifier(&issuer), &token).await,
        "status_entry_invalid"
    );
}

/// A credential served from the verified-credential cache is checked again
/// for everything but its signature: expiry, not-before and holder binding.
#[tokio::test]
async fn a_cached_credential_is_still_checked_for_time_and_holder() {
    let (i, h) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let v = verifier(&i).with_credential_cache(100);
    for format in [Format::JwtVc11, Format::VcJwt20] {
        let cred = vc(&i, &h.did, NOW, 3600, format);
        for _ in 0..2 {
            let t = vp(&h, vec![cred.clone()], AUD, NOW, format);
            let ok = v.verify_presentation(&t, NOW).await.unwrap();
            assert_eq!(ok.credentials[0].claims["role"], "engineer");
        }
        // Expired by now: refused although it verified before.
        let later = NOW + 3600 + 61;
        let t = vp(&h, vec![cred.clone()], AUD, later, format);
        assert_eq!(
            v.verify_presentation(&t, later)
                .await
                .unwrap_err()
                .reason_code(),
            "credential_expired"
        );
        // Not yet valid at an earlier clock.
        let earlier = NOW - 61;
        let t = vp(&h, vec![cred.clone()], AUD, earlier, format);
        assert_eq!(
            v.verify_presentation(&t, earlier)
                .await
                .unwrap_err()
                .reason_code(),
            "not_yet_valid"
        );
        // Someone else presenting the cached credential.
        let mallory = id(KeyType::Ed25519, false);
        let t = vp(&mallory, vec![cred.clone()], AUD, NOW, format);
        assert_eq!(code(&v, &t).await, "subject_not_holder");
        // A copy with one signature byte changed is not the cached token.
        let mut forged = cred.clone().into_bytes();
        let last = forged.len() - 10;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let t = vp(&h, vec![forged], AUD, NOW, format);
        assert_eq!(code(&v, &t).await, "bad_signature");
    }
}

/// A VC-JWT of `types` with `claims`.
fn vc_of(issuer: &Id, subject: &str, types: &[&str], claims: Value) -> String {
    issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.into(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            claims: claims.as_object().unwrap().clone(),
            valid_for_secs: Some(3600),
            id: None,
            format: Format::JwtVc11,
        },
        NOW,
    )
    .unwrap()
}

/// A credential counts only for the types its issuer is trusted for.
#[tokio::test]
async fn a_credential_counts_only_for_its_issuers_trusted_types() {
    let (hr, platform, holder) = (
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
        id(KeyType::Ed25519, false),
    );
    let mut t = TrustedIssuers::new();
    t.trust("EmployeeCredential", &hr.did);
    t.trust("ServiceCredential", &platform.did);
    let v = Verifier::new(
        VerifierConfig::new(vec![AUD.into()], t),
        Arc::new(LocalResolver),
    );
    let both = vc_of(
        &platform,
        &holder.did,
        &["ServiceCredential", "EmployeeCredential"],
        json!({"role": "admin"}),
    );
    let p = v
        .verify_presentation(&vp(&holder, vec![both], AUD, NOW, Format::JwtVc11), NOW)
        .await
        .unwrap();
    assert_eq!(p.credentials[0].types, vec!["ServiceCredential".to_owned()]);
    // Two credentials that count for one type are refused, in either order.
    let a = vc_of(
        &hr,
        &holder.did,
        &["EmployeeCredential"],
        json!({"role": "engineer"}),
    );
    let b = vc_of(
        &hr,
        &holder.did,
        &["EmployeeCredential"],
        json!({"role": "admin"}),
    );
    for pair in [vec![a.clone(), b.clone()], vec![b, a]] {
        let token = vp(&holder, pair, AUD, NOW, Format::JwtVc11);
        assert_eq!(code(&v, &token).await, "duplicate_credential_type");
    }
}

/// Times outside 1970..9999 are refused before any arithmetic on them.
#[tokio::test]
async fn times_out_of_range_are_refused() {
    let (issuer, holder) = (id(KeyType::Ed25519, false), id(KeyType::Ed25519, false));
    let v = verifier(&issuer);
    let credential = vc(&issuer, &holder.did, NOW, 3600, Format::JwtVc11);
    let good = vp(&holder, vec![credential], AUD, NOW, Format::JwtVc11);
    for (claim, value) in [
        ("nbf", json!(i64::MIN)),
        ("iat", json!(-1)),
        ("exp", json!(i64::MAX)),
        ("exp", json!(1e300)),
        ("nbf", json!(f64::MIN)),
    ] {
        let mut p = payload(&good);
        p[claim] = value;
        let token = resign(&holder.key, json!({"alg": "EdDSA", "kid": holder.kid}), p);
        assert_eq!(code(&v, &token).await, "time_out_of_range", "{claim}");
    }
    // In range but a year long: the lifetime check holds.
    let mut p = payload(&good);
    p["nbf"] = json!(0);
    p["exp"] = json!(NOW + 365 * 86_400);
    let token = resign(&holder.key, json!({"alg": "EdDSA", "kid": holder.kid}), p);
    assert_eq!(code(&v, &token).await, "presentation_lifetime_too_long");
}

/// Presentations of the same credentials by the same holder share a
/// principal digest, whatever their own ids and times; another credential
/// or another holder gives another one.
#[tokio::test]
async fn the_principal_digest_names_holder_and_credentials() {
    let issuer = id(KeyType::Ed25519, false);
    let holder = id(KeyType::Ed25519, false);
    let v = verifier(&issuer);
    let a = vc(&issuer, &holder.did, NOW, 3600, Format::JwtVc11);
    let b = vc(&issuer, &holder.did, NOW - 1, 3600, Format::JwtVc11);
    let digest = |vcs: Vec<String>, at: i64| {
        let v = &v;
        let token = vp(&holder, vcs, AUD, at, Format::JwtVc11);
        async move {
            v.verify_presentation(&token, NOW)
                .await
                .unwrap()
                .principal_digest
        }
    };
    let first = digest(vec![a.clone()], NOW).await;
    assert_eq!(
        digest(vec![a.clone()], NOW - 5).await,
        first,
        "another presentation of the same credential"
    );
    assert_ne!(
        digest(vec![b.clone()], NOW).await,
        first,
        "another credential"
    );
    let other = id(KeyType::Ed25519, false);
    let c = vc(&issuer, &other.did, NOW, 3600, Format::JwtVc11);
    let token = vp(&other, vec![c], AUD, NOW, Format::JwtVc11);
    let theirs = v
        .verify_presentation(&token, NOW)
        .await
        .unwrap()
        .principal_digest;
    assert_ne!(theirs, first, "another holder");
}
