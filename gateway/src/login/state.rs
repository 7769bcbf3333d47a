//! What the gateway keeps about a login, and the keys that protect it.
//!
//! Before a wallet answers, nothing is stored: a login request's `state`
//! carries its expiry, the browser it belongs to (the hash of the login
//! cookie) and where to go afterwards, authenticated with a key every gateway
//! on the database shares (HMAC-SHA256); its nonce is derived from it; the
//! login cookie is authenticated with the same key. Once a wallet answers,
//! the login is a `login_requests` row ([`LoginRow`], its status a
//! [`LoginStatus`]), made here from the opened state; a presented login's
//! row keeps what its completion verifies again ([`LoginResult`]).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::login::paths::{COMPLETE, RESPONSE};
use crate::request::refusal::Refusal;
use crate::request::session::{new_secret, secret_hash};
use crate::store::{LoginRow, LoginStatus};

/// Login settings and keys (`[sessions]`).
pub struct Login {
    /// `{public_url}/.didgate/login/response`.
    pub(super) response_uri: String,
    /// Where the wallet sends the browser: `{public_url}/.didgate/login/complete`.
    pub(super) complete_uri: String,
    pub(super) credential_types: Vec<String>,
    pub(super) timeout_ms: i64,
    pub(super) cookie_name: String,
    pub(super) secure: bool,
    /// Authenticates login states (`gateway_keys.login_state`).
    key: [u8; 32],
    /// A wallet's answer silent this long is refused (408).
    pub(super) body_timeout: Duration,
}

impl Login {
    pub fn new(
        public_url: &str,
        credential_types: Vec<String>,
        timeout: Duration,
        secure: bool,
        key: [u8; 32],
        body_timeout: Duration,
    ) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            response_uri: format!("{base}{RESPONSE}"),
            complete_uri: format!("{base}{COMPLETE}"),
            credential_types,
            timeout_ms: timeout.as_millis() as i64,
            cookie_name: if secure {
                "__Host-didgate-login".into()
            } else {
                "didgate_login".into()
            },
            secure,
            key,
            body_timeout,
        }
    }

    fn mac(&self, label: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        mac.update(data);
        mac
    }

    /// A new login cookie: a random secret and a tag only this gateway (and
    /// its peers on the database) can make, base64url.
    pub(super) fn issue_browser_cookie(&self) -> ([u8; 32], String) {
        let (secret, _) = new_secret();
        let tag = self.mac(COOKIE_LABEL, &secret).finalize().into_bytes();
        let mut raw = Vec::with_capacity(secret.len() + TAG_BYTES);
        raw.extend_from_slice(&secret);
        raw.extend_from_slice(&tag[..TAG_BYTES]);
        (
            secret,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        )
    }

    /// The secret of a login cookie this gateway issued; `None` for anything
    /// else, however well-formed.
    pub(super) fn open_browser_cookie(&self, text: &str) -> Option<[u8; 32]> {
        if text.len() > 128 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let (secret, tag) = raw.split_at_checked(32)?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.mac(COOKIE_LABEL, secret)
            .verify_truncated_left(tag)
            .ok()?;
        secret.try_into().ok()
    }

    /// The browser's login cookie's hash, if it sends one this gateway issued.
    pub(super) fn browser_hash(&self, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
        Ok(crate::request::session::cookie(headers, &self.cookie_name)?
            .and_then(|text| self.open_browser_cookie(text))
            .map(|s| hex::encode(secret_hash(&s))))
    }

    /// A new login request's state: version, expiry, randomness, step-up,
    /// the browser's login-cookie hash and `return_to`, then a 128-bit tag.
    pub(super) fn seal(&self, s: &LoginState) -> String {
        let mut body = Vec::with_capacity(STATE_FIXED + s.return_to.len());
        body.push(STATE_VERSION);
        body.extend_from_slice(&s.expires_ms.to_be_bytes());
        body.extend_from_slice(&rand::random::<[u8; 16]>());
        body.push(u8::from(s.step_up));
        body.extend_from_slice(&s.browser_hash);
        body.extend_from_slice(s.return_to.as_bytes());
        let tag = self.mac(STATE_LABEL, &body).finalize().into_bytes();
        body.extend_from_slice(&tag[..TAG_BYTES]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
    }

    /// Read a state this gateway (or a peer on its database) issued; `None`
    /// when it was not, or was altered. Expiry is the caller's to check.
    pub(super) fn open(&self, text: &str) -> Option<LoginState> {
        if text.len() > 1024 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        if raw.len() < STATE_FIXED || raw.first() != Some(&STATE_VERSION) {
            return None;
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_BYTES);
        self.mac(STATE_LABEL, body)
            .verify_truncated_left(tag)
            .ok()?;
        let expires_ms = i64::from_be_bytes(body.get(1..9)?.try_into().ok()?);
        let step_up = *body.get(25)? == 1;
        let browser_hash: [u8; 32] = body.get(26..58)?.try_into().ok()?;
        let return_to = String::from_utf8(body.get(58..)?.to_vec()).ok()?;
        Some(LoginState {
            expires_ms,
            step_up,
            browser_hash,
            return_to,
        })
    }

    /// The request's nonce, derived from its state (nothing to store).
    pub(super) fn nonce(&self, state: &str) -> String {
        let tag = self
            .mac(NONCE_LABEL, state.as_bytes())
            .finalize()
            .into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..18])
    }

    /// The `client_id` presentations must name as their audience.
    pub fn client_id(&self) -> String {
        format!("redirect_uri:{}", self.response_uri)
    }
}

const STATE_VERSION: u8 = 1;
const STATE_LABEL: &[u8] = b"didgate login state v1\0";
const COOKIE_LABEL: &[u8] = b"didgate login cookie v1\0";
const NONCE_LABEL: &[u8] = b"didgate login nonce v1\0";
const TAG_BYTES: usize = 16;
/// Version, expiry, randomness, step-up flag, browser hash, tag.
const STATE_FIXED: usize = 1 + 8 + 16 + 1 + 32 + TAG_BYTES;

/// What a login request's state carries.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoginState {
    pub(super) expires_ms: i64,
    pub(super) step_up: bool,
    /// SHA-256 of the login cookie of the browser that asked.
    pub(super) browser_hash: [u8; 32],
    pub(super) return_to: String,
}

impl LoginState {
    /// The row of this login (its text is `state`) once a wallet answers at
    /// `now_ms`: pending, until the answer is judged.
    pub(super) fn answer_row(&self, state: &str, now_ms: i64) -> LoginRow {
        LoginRow {
            state: state.to_owned(),
            browser_hash: hex::encode(self.browser_hash),
            return_to: self.return_to.clone(),
            step_up: i64::from(self.step_up),
            created_ms: now_ms,
            expires_ms: self.expires_ms,
            status: LoginStatus::Pending,
            code_hash: None,
            result: None,
            last_error: None,
        }
    }
}

/// What a presented login keeps for its completion (`login_requests.result`,
/// a JSON object): who signed in, with which key, and the VC-JWTs, all
/// verified again when the browser finishes the login.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoginResult {
    pub(super) holder: String,
    pub(super) holder_key: String,
    pub(super) credentials: Vec<String>,
}

impl LoginResult {
    /// The `result` column of a login presented with `binding`.
    pub(super) fn column(binding: &credentials::Binding) -> String {
        json!({
            "holder": binding.holder(),
            "holder_key": binding.holder_key_id(),
            "credentials": binding.credential_tokens().collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Read a `result` column. Whatever is missing or unreadable is empty,
    /// and then does not verify.
    pub(super) fn parse(column: Option<&str>) -> Self {
        let result: Value = column
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        LoginResult {
            holder: result["holder"].as_str().unwrap_or_default().to_owned(),
            holder_key: result["holder_key"].as_str().unwrap_or_default().to_owned(),
            credentials: result["credentials"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn login() -> Login {
        Login::new(
            "https://gw.example",
            vec!["EmployeeCredential".into()],
            Duration::from_secs(300),
            true,
            [7; 32],
            Duration::from_secs(30),
        )
    }

    #[test]
    fn states_carry_the_login_and_cannot_be_forged() {
        let l = login();
        let s = LoginState {
            expires_ms: 1_700_000_000_000,
            step_up: true,
            browser_hash: [9; 32],
            return_to: "/eng/docs?x=1".into(),
        };
        let text = l.seal(&s);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(l.open(&text), Some(s.clone()));
        assert_ne!(l.seal(&s), text, "each state is new");
        assert_eq!(l.nonce(&text), l.nonce(&text));
        assert_ne!(l.nonce(&text), l.nonce(&l.seal(&s)));
        assert!(l.nonce(&text).len() >= 22, "128+ bits");
        // Another database's key, a flipped byte, a cut, junk: refused.
        let other = Login::new(
            "https://gw.example",
            vec![],
            Duration::from_secs(1),
            true,
            [8; 32],
            Duration::from_secs(30),
        );
        assert_eq!(other.open(&text), None);
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text)
            .unwrap();
        let last = raw.len() - 1;
        for i in [0, 5, 30, last] {
            raw[i] ^= 1;
            let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(l.open(&flipped), None, "byte {i}");
            raw[i] ^= 1;
        }
        assert_eq!(l.open(&text[..text.len() - 4]), None);
        assert_eq!(l.open(""), None);
        assert_eq!(l.open("!!!"), None);
        assert_eq!(l.open(&"A".repeat(2000)), None);
    }
}
