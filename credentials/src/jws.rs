//! Compact JWS (RFC 7515) with the RFC 8725 rules: bounded size, the
//! algorithm checked against an allow-list before anything else, `crit`
//! refused, key-carrying headers (`jwk`, `jku`, `x5u`, `x5c`) ignored — the
//! key always comes from the issuer's DID document.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::signer::SigningKey;
use crate::CredentialError;

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Algorithms accepted at all; each key type further allows exactly one.
const ALLOWED_ALGS: [&str; 4] = ["EdDSA", "Ed25519", "ES256", "ES256K"];

/// The protected header members didgate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub crit: Option<Vec<String>>,
}

/// A parsed, not yet verified, token.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub header: Header,
    pub payload: Value,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// Split, decode and sanity-check a compact JWS. Does not verify the signature.
pub fn parse(token: &str) -> Result<Parsed<'_>, CredentialError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CredentialError::malformed(format!(
            "token longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    let (signing_input, sig_b64) = token.rsplit_once('.').ok_or_else(|| {
        CredentialError::malformed("not a compact JWS (header.payload.signature)")
    })?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or_else(|| {
        CredentialError::malformed("not a compact JWS (header.payload.signature)")
    })?;
    if payload_b64.contains('.') {
        return Err(CredentialError::malformed(
            "too many segments (JWE is not accepted)",
        ));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| CredentialError::malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| CredentialError::malformed(format!("header: {e}")))?;
    if !ALLOWED_ALGS.contains(&header.alg.as_str()) {
        return Err(CredentialError::AlgorithmNotAllowed { alg: header.alg });
    }
    if header.crit.is_some() {
        return Err(CredentialError::malformed(
            "critical header extensions are not supported",
        ));
    }
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| CredentialError::malformed("payload is not base64url"))?;
    let payload: Value = serde_json::from_slice(&payload_bytes)
        .map_err(|e| CredentialError::malformed(format!("payload: {e}")))?;
    if !payload.is_object() {
        return Err(CredentialError::malformed("payload is not a JSON object"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| CredentialError::malformed("signature is not base64url"))?;
    if signature.is_empty() {
        return Err(CredentialError::malformed("empty signature"));
    }
    Ok(Parsed {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// Sign `payload` as a compact JWS with the key's algorithm.
pub fn sign_compact(
    key: &SigningKey,
    typ: Option<&str>,
    kid: Option<&str>,
    payload: &Value,
) -> String {
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), Value::String(key.alg().to_owned()));
    if let Some(t) = typ {
        header.insert("typ".into(), Value::String(t.to_owned()));
    }
    if let Some(k) = kid {
        header.insert("kid".into(), Value::String(k.to_owned()));
    }
    let header = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut out = String::with_capacity(header.len() + payload.len() + 100);
    out.push_str(&header);
    out.push('.');
    out.push_str(&payload);
    let sig = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use did_registry::KeyType;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn sign_then_parse_then_verify() {
        let k = SigningKey::generate(KeyType::Ed25519);
        let t = sign_compact(&k, Some("JWT"), Some("did:x#1"), &json!({"a": 1}));
        let p = parse(&t).unwrap();
        assert_eq!(p.header.kid.as_deref(), Some("did:x#1"));
        assert_eq!(p.payload["a"], 1);
        k.public_key()
            .verify_jose(&p.header.alg, p.signing_input.as_bytes(), &p.signature)
            .unwrap();
    }

    #[test]
    fn alg_none_and_hmac_refused() {
        for alg in ["none", "None", "HS256", "HS512", "RS256", "PS256"] {
            let t = format!("{}.{}.c2ln", enc(&json!({"alg": alg})), enc(&json!({})));
            assert_eq!(
                parse(&t).unwrap_err().reason_code(),
                "alg_not_allowed",
                "{alg}"
            );
        }
        // alg none with an empty signature is refused for the algorithm, not the shape.
        let t = format!("{}.{}.", enc(&json!({"alg": "none"})), enc(&json!({})));
        assert_eq!(parse(&t).unwrap_err().reason_code(), "alg_not_allowed");
    }

    #[test]
    fn malformed_tokens_refused() {
        let h = enc(&json!({"alg": "EdDSA"}));
        let p = enc(&json!({}));
        for t in [
            String::new(),
            "a.b".into(),
            format!("{h}.{p}.sig.extra"),
            format!("{h}.{p}."),
            format!("!!.{p}.c2ln"),
            format!("{h}.!!.c2ln"),
            format!("{h}.{}.c2ln", enc(&json!([1, 2]))),
            format!(
                "{}.{p}.c2ln",
                enc(&json!({"alg": "EdDSA", "crit": ["b64"]}))
            ),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                parse(&t).unwrap_err().reason_code(),
                "malformed_token",
                "{t:.60}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,400}") {
            let _ = parse(&s);
        }
        #[test]
        fn parse_never_panics_on_dotted(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,90}") {
            let _ = parse(&format!("{a}.{b}.{c}"));
        }
    }
}
