//! Issuing credentials and making presentations (the issuer's and the
//! wallet's side), in both formats.

use serde_json::{json, Map, Value};

use crate::jws::sign_compact;
use crate::signer::SigningKey;
use crate::verify::Format;
use crate::CredentialError;

/// What to put in a credential.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    pub issuer: String,
    pub subject: String,
    /// Credential types; `VerifiableCredential` is added when missing.
    pub types: Vec<String>,
    pub claims: Map<String, Value>,
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
            if let Some(v) = req.valid_for_secs {
                payload["exp"] = json!(now + v);
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
            if let Some(v) = req.valid_for_secs {
                payload["validUntil"] = json!(rfc3339(now + v)?);
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
            if let Some(v) = valid_for_secs {
                payload["exp"] = json!(now + v);
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
            if let Some(v) = valid_for_secs {
                payload["validUntil"] = json!(rfc3339(now + v)?);
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
    if req.valid_for_secs <= 0 {
        return Err(CredentialError::malformed(
            "a presentation must be valid for at least one second",
        ));
    }
    let jti = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let mut payload = match req.format {
        Format::JwtVc11 => json!({
            "iss": req.holder,
            "aud": req.audience,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": now + req.valid_for_secs,
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
                "exp": now + req.valid_for_secs,
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
