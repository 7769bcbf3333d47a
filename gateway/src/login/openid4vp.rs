//! OpenID for Verifiable Presentations 1.0, the messages didgate uses: an
//! authorization request (`response_type=vp_token`, `response_mode=direct_post`,
//! `redirect_uri:` client identifier, a DCQL query for one W3C VC-JWT) passed
//! by value in an `openid4vp://` URL, and the wallet's form-encoded answer
//! (`vp_token`, `state`, or `error`).
//!
//! Both sides are here: the gateway builds requests and reads answers
//! (`login/start.rs`, `login/wallet.rs`); `didgate wallet login` reads
//! requests and builds answers.

use serde_json::{json, Value};
use url::Url;

/// The DCQL credential query id didgate asks with.
pub const QUERY_ID: &str = "credential";
/// The credential format (OpenID4VP appendix B.1: W3C VC secured as a JWT).
pub const FORMAT: &str = "jwt_vc_json";
/// How a wallet is invoked (OpenID4VP §13.1.2).
pub const SCHEME: &str = "openid4vp://";

/// An authorization request, as the gateway sends it and a wallet reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    /// `redirect_uri:` + the response URI (§5.9.3).
    pub client_id: String,
    /// Where the wallet POSTs its answer.
    pub response_uri: String,
    pub nonce: String,
    pub state: String,
    /// Credential types any one of which is asked for (DCQL `type_values`).
    pub credential_types: Vec<String>,
}

/// Why a request or an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

fn err(s: impl Into<String>) -> ProtocolError {
    ProtocolError(s.into())
}

impl AuthorizationRequest {
    /// A request whose answer goes to `response_uri`.
    pub fn new(response_uri: &str, nonce: String, state: String, types: Vec<String>) -> Self {
        Self {
            client_id: format!("redirect_uri:{response_uri}"),
            response_uri: response_uri.to_owned(),
            nonce,
            state,
            credential_types: types,
        }
    }

    /// The DCQL query: one W3C VC-JWT of any of the credential types.
    pub fn dcql_query(&self) -> Value {
        let type_values: Vec<Value> = self.credential_types.iter().map(|t| json!([t])).collect();
        json!({
            "credentials": [{
                "id": QUERY_ID,
                "format": FORMAT,
                "meta": { "type_values": type_values },
            }]
        })
    }

    /// `client_metadata` (§5.1): with the `redirect_uri:` prefix the verifier's
    /// metadata travels in the request.
    pub fn client_metadata() -> Value {
        json!({
            "vp_formats_supported": {
                FORMAT: { "alg_values": ["EdDSA", "ES256", "ES256K"] }
            }
        })
    }

    /// The request by value, as an `openid4vp://` URL (for a link or a QR code).
    pub fn to_url(&self) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "vp_token")
            .append_pair("response_mode", "direct_post")
            .append_pair("response_uri", &self.response_uri)
            .append_pair("nonce", &self.nonce)
            .append_pair("state", &self.state)
            .append_pair("dcql_query", &self.dcql_query().to_string())
            .append_pair("client_metadata", &Self::client_metadata().to_string())
            .finish();
        format!("{SCHEME}?{query}")
    }

    /// Read a request the way a wallet must (the URL's query, any scheme).
    /// Refuses what didgate's wallet cannot answer safely: another response
    /// mode, a request by reference, or a `client_id` that is not
    /// `redirect_uri:` + the response URI.
    pub fn from_url(text: &str) -> Result<Self, ProtocolError> {
        let url = Url::parse(text.trim()).map_err(|e| err(format!("not a URL: {e}")))?;
        let mut get = std::collections::HashMap::new();
        for (k, v) in url.query_pairs() {
            if get.insert(k.to_string(), v.to_string()).is_some() {
                return Err(err(format!("parameter {k} appears twice")));
            }
        }
        let need = |k: &str| {
            get.get(k)
                .cloned()
                .ok_or_else(|| err(format!("the request has no {k}")))
        };
        if get.contains_key("request_uri") || get.contains_key("request") {
            return Err(err(
                "the request is passed by reference (request_uri) or signed, which this wallet does not read",
            ));
        }
        if need("response_type")? != "vp_token" {
            return Err(err("response_type is not vp_token"));
        }
        if need("response_mode")? != "direct_post" {
            return Err(err("response_mode is not direct_post"));
        }
        let client_id = need("client_id")?;
        let response_uri = need("response_uri")?;
        if client_id != format!("redirect_uri:{response_uri}") {
            return Err(err(
                "client_id is not redirect_uri: followed by the response_uri (OpenID4VP §5.9.3)",
            ));
        }
        let parsed = Url::parse(&response_uri).map_err(|e| err(format!("response_uri: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(err("response_uri is not an http(s) URL"));
        }
        let dcql: Value = serde_json::from_str(&need("dcql_query")?)
            .map_err(|e| err(format!("dcql_query is not JSON: {e}")))?;
        let query = dcql
            .get("credentials")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .ok_or_else(|| err("dcql_query asks for no credential"))?;
        if query.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(err(format!(
                "dcql_query asks for another format than {FORMAT}"
            )));
        }
        if query.get("id").and_then(Value::as_str) != Some(QUERY_ID) {
            return Err(err(format!(
                "dcql_query's credential id is not {QUERY_ID:?}"
            )));
        }
        let types = query
            .pointer("/meta/type_values")
            .and_then(Value::as_array)
            .map(|alts| {
                alts.iter()
                    .filter_map(|a| a.as_array()?.first()?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            client_id,
            response_uri,
            nonce: need("nonce")?,
            state: need("state")?,
            credential_types: types,
        })
    }
}

/// What a wallet POSTs to the response URI.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizationResponse {
    /// The presentation (one VP-JWT) for the request `state`.
    Presentation { state: String, vp_token: String },
    /// The wallet declined or failed (§8.5): `error` code and description.
    Error {
        state: String,
        error: String,
        description: Option<String>,
    },
}

impl AuthorizationResponse {
    /// Read an `application/x-www-form-urlencoded` body.
    pub fn from_form(body: &[u8]) -> Result<Self, ProtocolError> {
        let mut state = None;
        let mut vp_token = None;
        let mut error = None;
        let mut description = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            let slot = match k.as_ref() {
                "state" => &mut state,
                "vp_token" => &mut vp_token,
                "error" => &mut error,
                "error_description" => &mut description,
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(err(format!("parameter {k} appears twice")));
            }
        }
        let state = state.ok_or_else(|| err("the response has no state"))?;
        match (vp_token, error) {
            (Some(_), Some(_)) => Err(err("the response has both vp_token and error")),
            (None, Some(error)) => Ok(Self::Error {
                state,
                error,
                description,
            }),
            (Some(token), None) => Ok(Self::Presentation {
                state,
                vp_token: vp_token_presentation(&token)?,
            }),
            (None, None) => Err(err("the response has neither vp_token nor error")),
        }
    }

    /// The form body a wallet sends.
    pub fn to_form(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        match self {
            Self::Presentation { state, vp_token } => {
                let token = json!({ QUERY_ID: [vp_token] }).to_string();
                s.append_pair("vp_token", &token)
                    .append_pair("state", state);
            }
            Self::Error {
                state,
                error,
                description,
            } => {
                s.append_pair("error", error).append_pair("state", state);
                if let Some(d) = description {
                    s.append_pair("error_description", d);
                }
            }
        }
        s.finish()
    }
}

/// The one presentation in a DCQL `vp_token` (§8.1): `{"credential": ["<VP-JWT>"]}`.
/// Drafts 22–24 sent `{"credential": "<VP-JWT>"}`, accepted too.
fn vp_token_presentation(token: &str) -> Result<String, ProtocolError> {
    let v: Value = serde_json::from_str(token).map_err(|_| {
        err("vp_token is not a JSON object keyed by the DCQL credential id (OpenID4VP 1.0 §8.1)")
    })?;
    let obj = v
        .as_object()
        .ok_or_else(|| err("vp_token is not a JSON object"))?;
    if obj.len() != 1 {
        return Err(err(format!(
            "vp_token must answer exactly the credential query {QUERY_ID:?}"
        )));
    }
    match obj.get(QUERY_ID) {
        Some(Value::Array(a)) if a.len() == 1 => a[0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| err("the presentation is not a JWT string")),
        Some(Value::Array(_)) => Err(err("exactly one presentation is expected")),
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(err(format!(
            "vp_token has no presentation for {QUERY_ID:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request() -> AuthorizationRequest {
        AuthorizationRequest::new(
            "https://gw.example/.didgate/login/response",
            "n0nce".into(),
            "st4te".into(),
            vec!["EmployeeCredential".into(), "ServiceCredential".into()],
        )
    }

    #[test]
    fn request_round_trips_through_its_url() {
        let r = request();
        let url = r.to_url();
        assert!(
            url.starts_with("openid4vp://?client_id=redirect_uri%3Ahttps"),
            "{url}"
        );
        assert_eq!(AuthorizationRequest::from_url(&url).unwrap(), r);
        assert_eq!(
            r.dcql_query()["credentials"][0]["meta"]["type_values"],
            json!([["EmployeeCredential"], ["ServiceCredential"]])
        );
    }

    #[test]
    fn wallet_refuses_requests_it_cannot_answer_safely() {
        let url = request().to_url();
        for (from, to, why) in [
            (
                "client_id=redirect_uri%3Ahttps%3A%2F%2Fgw",
                "client_id=redirect_uri%3Ahttps%3A%2F%2Fevil",
                "client_id",
            ),
            (
                "response_mode=direct_post",
                "response_mode=fragment",
                "response_mode",
            ),
            (
                "response_type=vp_token",
                "response_type=code",
                "response_type",
            ),
            ("nonce=n0nce&", "", "nonce"),
            (
                "state=st4te&",
                "state=st4te&request_uri=https%3A%2F%2Fx&",
                "by reference",
            ),
            ("state=st4te&", "state=st4te&state=again&", "twice"),
        ] {
            let bad = url.replace(from, to);
            assert_ne!(bad, url, "{from}");
            let e = AuthorizationRequest::from_url(&bad).unwrap_err();
            assert!(e.0.contains(why), "{why}: {e}");
        }
        assert!(AuthorizationRequest::from_url("not a url").is_err());
    }

    #[test]
    fn responses_round_trip_and_malformed_ones_are_refused() {
        let ok = AuthorizationResponse::Presentation {
            state: "s".into(),
            vp_token: "a.b.c".into(),
        };
        assert_eq!(
            AuthorizationResponse::from_form(ok.to_form().as_bytes()).unwrap(),
            ok
        );
        let no = AuthorizationResponse::Error {
            state: "s".into(),
            error: "access_denied".into(),
            description: Some("user said no".into()),
        };
        assert_eq!(
            AuthorizationResponse::from_form(no.to_form().as_bytes()).unwrap(),
            no
        );
        // Drafts' single-string form.
        let draft = "state=s&vp_token=%7B%22credential%22%3A%22a.b.c%22%7D";
        assert_eq!(
            AuthorizationResponse::from_form(draft.as_bytes()).unwrap(),
            ok
        );
        for bad in [
            "vp_token=a.b.c&state=s",                             // a bare JWT
            "vp_token=%7B%7D&state=s",                            // no answer
            "vp_token=%7B%22other%22%3A%5B%22a%22%5D%7D&state=s", // another query id
            "vp_token=%7B%22credential%22%3A%5B%22a%22%2C%22b%22%5D%7D&state=s", // two
            "vp_token=%7B%22credential%22%3A%5B1%5D%7D&state=s",  // not a string
            "vp_token=%7B%22credential%22%3A%5B%22a%22%5D%7D",    // no state
            "state=s",                                            // nothing
            "state=s&state=t&error=x",                            // twice
            "state=s&error=x&vp_token=%7B%22credential%22%3A%22a%22%7D", // both
        ] {
            assert!(
                AuthorizationResponse::from_form(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
