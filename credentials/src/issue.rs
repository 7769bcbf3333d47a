//! Issuing credentials and making presentations (the issuer's and the
//! wallet's side), in both formats.

use serde_json::{json, Map, Value};

use crate::jws::sign_compact;
use crate::signer::SigningKey;
use crate::verify::{Format, MAX_TIME};
use crate::CredentialError;

/// What to put in a credential.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    pub issuer: String,
    pub subject: String,
    /// Credential types; `VerifiableCredential` is added when missing.
    pub types: Vec<String>,
    pub claims: Map<String, Value>,
    /// Seconds until it expires (`None`: never): positive, and ending by
    /// 9999-12-31T23:59:59Z.
    pub valid_for_secs: Option<i64>,
    pub id: Option<String>,
    pub format: Format,
}

/// What to put in a presentation.
#[derive(Debug, Clone)]
pub struct PresentationRequest {
    pub holder: String,
    pub audience: String,
    pub nonce: Option<String>,
    /// Seconds until it expires: positive, and ending by 9999-12-31T23:59:59Z.
    pub valid_for_secs: i64,
    /// VC-JWTs to present.
    pub credentials: Vec<String>,
    pub format: Format,
}

fn rfc3339(t: i64) -> Result<String, CredentialError> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .ok_or_else(|| CredentialError::malformed("time out of range"))
}

/// When something issued at `now` and valid for `valid_for_secs` expires:
/// refused unless the period is positive (a zero or negative one would
/// issue something already expired) and ends by 9999-12-31T23:59:59Z, the
/// last time a verifier accepts (never wraps around).
fn expiry(what: &str, now: i64, valid_for_secs: i64) -> Result<i64, CredentialError> {
    if valid_for_secs <= 0 {
        return Err(CredentialError::malformed(format!(
            "{what} must be valid for at least one second (not {valid_for_secs})"
        )));
    }
    now.checked_add(valid_for_secs)
        .filter(|exp| *exp <= MAX_TIME)
        .ok_or_else(|| {
            CredentialError::malformed(format!(
                "{what} valid for {valid_for_secs} s would expire after 9999-12-31T23:59:59Z"
            ))
        })
}

fn check_did(what: &str, did: &str) -> Result<(), CredentialError> {
    if did.starts_with("did:") && did.split(':').count() >= 3 {
        Ok(())
    } else {
        Err(CredentialError::malformed(format!(
            "{what} {did:?} is not a DID"
        )))
    }
}

/// Sign a credential with the issuer's key; `kid` is the key's DID URL.
pub fn issue_credential(
    key: &SigningKey,
    kid: &str,
    req: &CredentialRequest,
    now: i64,
) -> Result<String, CredentialError> {
    issue_with_status(key, kid, req, None, now)
}

/// Like [`issue_credential`], with a `credentialStatus` (e.g.
/// `did_registry::ethr::StatusEntry::to_json`): `vc.credentialStatus` in
/// VCDM 1.1, top-level `credentialStatus` in 2.0.
pub fn issue_with_status(
    key: &SigningKey,
    kid: &str,
    req: &CredentialRequest,
    status: Option<&Value>,
    now: i64,
) -> Result<String, CredentialError> {
    check_did("issuer", &req.issuer)?;
    check_did("subject", &req.subject)?;
    let exp = req
        .valid_for_secs
        .map(|v| expiry("a credential", now, v))
        .transpose()?;
    let mut types = vec!["VerifiableCredential".to_owned()];
    types.extend(
        req.types
            .iter()
            .filter(|t| *t != "VerifiableCredential")
            .cloned(),
    );
    let mut subject = req.claims.clone();
    subject.remove("id");
    Ok(match req.format {
        Format::JwtVc11 => {
            let mut payload = json!({
                "iss": req.issuer,
                "sub": req.subject,
                "nbf": now,
                "iat": now,
                "vc": {
                    "@context": ["https://www.w3.org/2018/credentials/v1"],
                    "type": types,
                    "credentialSubject": subject,
                },
            });
            if let Some(exp) = exp {
                payload["exp"] = json!(exp);
            }
            if let Some(id) = &req.id {
                payload["jti"] = json!(id);
            }
            if let Some(s) = status {
                payload["vc"]["credentialStatus"] = s.clone();
            }
            sign_compact(key, Some("JWT"), Some(kid), &payload)
        }
        Format::VcJwt20 => {
            subject.insert("id".into(), Value::String(req.subject.clone()));
            let mut payload = json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": types,
                "issuer": req.issuer,
                "validFrom": rfc3339(now)?,
                "credentialSubject": subject,
                "iat": now,
            });
            if let Some(exp) = exp {
                payload["validUntil"] = json!(rfc3339(exp)?);
            }
            if let Some(id) = &req.id {
                payload["id"] = json!(id);
            }
            if let Some(s) = status {
                payload["credentialStatus"] = s.clone();
            }
            sign_compact(key, Some("vc+jwt"), Some(kid), &payload)
        }
    })
}

/// Sign a Bitstring Status List credential (`statusPurpose: "revocation"`)
/// published at `url`, whose bitstring is `bits` (index 0 = the most
/// significant bit of the first byte; the spec asks for at least 16 KiB).
#[allow(clippy::too_many_arguments)] // the list is its fields; a struct would only rename them
pub fn issue_status_list(
    key: &SigningKey,
    kid: &str,
    issuer: &str,
    url: &str,
    bits: &[u8],
    valid_for_secs: Option<i64>,
    format: Format,
    now: i64,
) -> Result<String, CredentialError> {
    check_did("issuer", issuer)?;
    let exp = valid_for_secs
        .map(|v| expiry("a status list", now, v))
        .transpose()?;
    let types = ["VerifiableCredential", "BitstringStatusListCredential"];
    let subject = json!({
        "id": format!("{url}#list"),
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": crate::status_list::encode_list(bits),
    });
    Ok(match format {
        Format::JwtVc11 => {
            let mut payload = json!({
                "iss": issuer,
                "sub": format!("{url}#list"),
                "jti": url,
                "nbf": now,
                "iat": now,
                "vc": {
                    "@context": ["https://www.w3.org/2018/credentials/v1"],
                    "id": url,
                    "type": types,
                    "credentialSubject": subject,
                },
            });
            if let Some(exp) = exp {
                payload["exp"] = json!(exp);
            }
            sign_compact(key, Some("JWT"), Some(kid), &payload)
        }
        Format::VcJwt20 => {
            let mut payload = json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": url,
                "type": types,
                "issuer": issuer,
                "validFrom": rfc3339(now)?,
                "credentialSubject": subject,
                "iat": now,
            });
            if let Some(exp) = exp {
                payload["validUntil"] = json!(rfc3339(exp)?);
            }
            sign_compact(key, Some("vc+jwt"), Some(kid), &payload)
        }
    })
}

/// Sign a presentation of `req.credentials` for one audience, with a fresh `jti`.
pub fn present(
    key: &SigningKey,
    kid: &str,
    req: &PresentationRequest,
    now: i64,
) -> Result<String, CredentialError> {
    check_did("holder", &req.holder)?;
    let exp = expiry("a presentation", now, req.valid_for_secs)?;
    let jti = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let mut payload = match req.format {
        Format::JwtVc11 => json!({
            "iss": req.holder,
            "aud": req.audience,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "vp": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiablePresentation"],
                "verifiableCredential": req.credentials,
            },
        }),
        Format::VcJwt20 => {
            let envelopes: Vec<Value> = req
                .credentials
                .iter()
                .map(|c| {
                    json!({
                        "@context": "https://www.w3.org/ns/credentials/v2",
                        "type": "EnvelopedVerifiableCredential",
                        "id": format!("data:application/vc+jwt,{c}"),
                    })
                })
                .collect();
            json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiablePresentation"],
                "holder": req.holder,
                "verifiableCredential": envelopes,
                "aud": req.audience,
                "jti": jti,
                "iat": now,
                "nbf": now,
                "exp": exp,
            })
        }
    };
    if let Some(n) = &req.nonce {
        payload["nonce"] = json!(n);
    }
    let typ = match req.format {
        Format::JwtVc11 => "JWT",
        Format::VcJwt20 => "vp+jwt",
    };
    Ok(sign_compact(key, Some(typ), Some(kid), &payload))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::verify::MAX_TIME;
    use did_registry::KeyType;

    const NOW: i64 = 1_800_000_000;
    const DID: &str = "did:example:issuer";
    const KID: &str = "did:example:issuer#key-1";
    const URL: &str = "https://issuer.example/lists/1";

    fn key() -> SigningKey {
        SigningKey::generate(KeyType::Ed25519)
    }

    fn credential(valid_for_secs: i64, format: Format) -> Result<String, CredentialError> {
        let req = CredentialRequest {
            issuer: DID.into(),
            subject: "did:example:holder".into(),
            types: vec!["EmployeeCredential".into()],
            claims: Map::new(),
            valid_for_secs: Some(valid_for_secs),
            id: None,
            format,
        };
        issue_credential(&key(), KID, &req, NOW)
    }

    fn status_list(valid_for_secs: i64, format: Format) -> Result<String, CredentialError> {
        issue_status_list(
            &key(),
            KID,
            DID,
            URL,
            &[0; 16],
            Some(valid_for_secs),
            format,
            NOW,
        )
    }

    fn presentation(valid_for_secs: i64, format: Format) -> Result<String, CredentialError> {
        let req = PresentationRequest {
            holder: DID.into(),
            audience: "https://gateway.example".into(),
            nonce: None,
            valid_for_secs,
            credentials: Vec::new(),
            format,
        };
        present(&key(), KID, &req, NOW)
    }

    type Issue = fn(i64, Format) -> Result<String, CredentialError>;
    const ALL: [(&str, Issue); 3] = [
        ("credential", credential),
        ("status list", status_list),
        ("presentation", presentation),
    ];
    const FORMATS: [Format; 2] = [Format::JwtVc11, Format::VcJwt20];

    /// `exp` (1.1, presentations) or `validUntil` (2.0) as Unix seconds.
    fn expiry_of(token: &str) -> i64 {
        let payload = crate::jws::parse(token).unwrap().payload;
        if let Some(exp) = payload.get("exp").and_then(Value::as_i64) {
            return exp;
        }
        let until = payload["validUntil"].as_str().unwrap();
        time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn the_validity_period_is_added_to_now() {
        for (what, issue) in ALL {
            for format in FORMATS {
                let token = issue(3_600, format).unwrap();
                assert_eq!(expiry_of(&token), NOW + 3_600, "{what} {format:?}");
            }
        }
    }

    #[test]
    fn a_validity_period_past_9999_is_refused_not_wrapped() {
        for (what, issue) in ALL {
            for format in FORMATS {
                // The last second is still accepted.
                let token = issue(MAX_TIME - NOW, format).unwrap();
                assert_eq!(expiry_of(&token), MAX_TIME, "{what} {format:?}");
                for v in [MAX_TIME - NOW + 1, i64::MAX - NOW, i64::MAX] {
                    let err = issue(v, format).expect_err(what);
                    assert_eq!(
                        err.reason_code(),
                        "malformed_token",
                        "{what} {format:?} {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_validity_period_must_be_positive() {
        for (what, issue) in ALL {
            for format in FORMATS {
                for v in [0, -1, -3_600, i64::MIN] {
                    let err = issue(v, format).expect_err(what);
                    assert_eq!(
                        err.reason_code(),
                        "malformed_token",
                        "{what} {format:?} {v}"
                    );
                }
            }
        }
    }
}
