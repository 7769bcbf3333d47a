//! Refusals: every request the gateway does not forward gets an HTTP status,
//! a stable reason code (the same one that is logged and audited), a short
//! JSON or HTML body chosen by `Accept`, and a `WWW-Authenticate` header.
//! Never a stack trace.

use bytes::Bytes;
use credentials::CredentialError;
use did_registry::ethr::StatusError;
use http::{header, HeaderValue, Response, StatusCode};

use crate::request::body::{full, GatewayBody};
use crate::request::reason::Reason;

/// What a refusal tells a client that could sign (RFC 9421 §5.1): the
/// components and parameters a didgate signature needs.
pub const ACCEPT_SIGNATURE: HeaderValue = HeaderValue::from_static(
    "didgate=(\"@method\" \"@target-uri\" \"content-digest\");created;expires;nonce;keyid;tag=\"didgate\"",
);

/// Why a request was not forwarded, with what the client is told.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: Reason,
    /// One human sentence; never contains secrets or internals.
    pub message: String,
    /// A step-up challenge the next presentation must carry as its `nonce`.
    pub challenge: Option<String>,
    /// Set when the refusal was already audited, under this decision id.
    pub decision_id: Option<String>,
    /// The request was signed (RFC 9421): its challenge names the
    /// `Signature` scheme instead of `Bearer`.
    pub signed: bool,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            challenge: None,
            decision_id: None,
            signed: false,
        }
    }

    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// The stable wire code, e.g. `credential_expired`.
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    /// Render the refusal; `accept` is the request's Accept header.
    pub fn into_response(
        self,
        accept: Option<&HeaderValue>,
        decision_id: &str,
    ) -> Response<GatewayBody> {
        let wants_html = accept
            .and_then(|v| v.to_str().ok())
            .is_some_and(prefers_html);
        let (content_type, body) = if wants_html {
            (
                "text/html; charset=utf-8",
                format!(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status}</title></head>\
                     <body><h1>{status}</h1><p><code>{code}</code></p><p>{msg}</p>\
                     <p><small>decision {id}</small></p></body></html>\n",
                    status = self.status(),
                    code = self.code(),
                    msg = html_escape(&self.message),
                    id = html_escape(decision_id),
                ),
            )
        } else {
            let mut body = serde_json::json!({
                "error": self.code(),
                "message": self.message,
                "decision_id": decision_id,
            });
            if let Some(c) = &self.challenge {
                body["challenge"] = serde_json::Value::String(c.clone());
            }
            ("application/json", body.to_string() + "\n")
        };
        let mut resp = Response::new(full(Bytes::from(body)));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(www) = self.www_authenticate() {
            h.insert(header::WWW_AUTHENTICATE, www);
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            // A service may sign its requests instead (RFC 9421 §5.1).
            h.insert(
                header::HeaderName::from_static("accept-signature"),
                ACCEPT_SIGNATURE,
            );
        }
        resp
    }

    fn www_authenticate(&self) -> Option<HeaderValue> {
        // RFC 6750 §3 error codes; the didgate reason goes in error_description.
        if !self.reason.challenges() {
            return None;
        }
        let error = self.reason.bearer_error();
        let scheme = if self.signed { "Signature" } else { "Bearer" };
        let value = match error {
            None => format!("{scheme} realm=\"didgate\""),
            Some(e) => {
                let mut v = format!(
                    "{scheme} realm=\"didgate\", error=\"{e}\", error_description=\"{}\"",
                    self.code()
                );
                if let Some(c) = &self.challenge {
                    // Base64url: nothing to escape inside the quoted string.
                    v.push_str(&format!(", challenge=\"{c}\""));
                }
                v
            }
        };
        HeaderValue::from_str(&value).ok()
    }
}

pub(crate) fn prefers_html(accept: &str) -> bool {
    // Browsers send text/html first; API clients send */* or application/json.
    let html = accept.find("text/html");
    let json = accept.find("application/json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The refusal for a credential that did not verify: 401 with its reason, or
/// 503 when our side cannot check it right now (never a pass). What went
/// wrong while fetching or reading a status list, or talking to a chain, is
/// logged, never sent to the client: the client learns the reason code only.
pub fn credential_refusal(e: &CredentialError) -> Refusal {
    let reason = Reason::from_credential(e);
    let message = match e {
        CredentialError::Status(s) => {
            tracing::warn!(reason = reason.code(), error = %s, "credential status check failed");
            status_message(s)
        }
        _ => e.to_string(),
    };
    Refusal::new(reason, message)
}

/// What a client is told about a credential status failure.
fn status_message(e: &StatusError) -> String {
    match e {
        StatusError::Revoked { .. } => "the credential has been revoked by its issuer",
        StatusError::Unavailable { .. } | StatusError::ListUnavailable { .. } => {
            "the credential's revocation status cannot be checked right now; try again shortly"
        }
        StatusError::NotAllowed { .. } => {
            "the credential's status list is not at an address its issuer is allowed to publish at"
        }
        StatusError::Mismatch { .. } => "the credential's status list belongs to another issuer",
        StatusError::InvalidEntry { .. } => "the credential's status entry is invalid",
        StatusError::Unsupported { .. } | StatusError::UnknownNetwork { .. } => {
            "the credential's revocation status cannot be checked"
        }
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_by_default_with_www_authenticate() {
        let r = Refusal::new(Reason::Credential("credential_expired"), "expired")
            .into_response(None, "d1");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let www = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\"") && www.contains("credential_expired"));
    }

    #[test]
    fn html_for_browsers_is_escaped() {
        let accept = HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8");
        let r = Refusal::new(Reason::PolicyDenied, "<script>").into_response(Some(&accept), "d");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"));
    }

    #[test]
    fn accept_preference_order() {
        assert!(prefers_html("text/html, application/json"));
        assert!(!prefers_html("application/json, text/html"));
        assert!(!prefers_html("*/*"));
    }
}
