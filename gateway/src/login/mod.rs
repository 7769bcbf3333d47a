//! Browser login with a wallet (OpenID4VP 1.0, `direct_post`), and logout.
//! The gateway answers these itself on every host, under `/.didgate/`:
//!
//! ```text
//! GET  /.didgate/login?return_to=/path   login page: the request as a QR code and a wallet link;
//!                                        sets the login cookie that binds the login to this browser
//! POST /.didgate/login/response          the wallet's answer (vp_token, state): verified, stored;
//!                                        answers {"redirect_uri": …/complete?response_code=…}
//! GET  /.didgate/login/status?state=S    the page's poll (login cookie): pending | presented | …
//! GET  /.didgate/login/complete?…        response_code (same device) or state (the poll), with the
//!                                        login cookie: opens the session, sets its cookie, redirects
//! POST /.didgate/logout                  ends the session everywhere
//! GET  /.didgate/session                 who this session is (JSON)
//! ```
//!
//! A login request is self-contained: its `state` carries its expiry, the
//! browser it belongs to and where to go afterwards, authenticated with a key
//! every gateway on the database shares (HMAC-SHA256); its nonce is derived
//! from it. Showing a login page therefore writes nothing; a row appears when
//! a wallet answers. A login is bound to the browser that started it:
//! completion needs its login cookie, so a response code or state sent to
//! someone else's browser opens nothing there (OpenID4VP §14.2). Each
//! request is answered once; the presentation must name the request's
//! `client_id` as audience and carry its nonce. Every answer and every
//! session opened or closed is in the decision log.

pub mod openid4vp;

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};
use crate::request::authn::{AuthMethod, Authenticator};
use crate::request::body::{full, GatewayBody};
use crate::request::conn::ConnInfo;
use crate::request::principal::Principal;
use crate::request::refusal::{html_escape, Refusal};
use crate::request::session::{decode_secret, new_secret, secret_hash, set_cookie, NewSession};
use crate::signals::geoip::GeoIp;
use crate::store::{LoginKey, LoginRow};
use audit::{AuditLog, DecisionRecord, Effect};

pub const PREFIX: &str = "/.didgate/";
const LOGIN: &str = "/.didgate/login";
const RESPONSE: &str = "/.didgate/login/response";
const STATUS: &str = "/.didgate/login/status";
const COMPLETE: &str = "/.didgate/login/complete";
const LOGOUT: &str = "/.didgate/logout";
const WHOAMI: &str = "/.didgate/session";

/// Largest wallet answer read (a few credentials as JWTs fit many times over).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Longest `return_to` a login request carries (a longer one goes to `/`).
const MAX_RETURN_TO: usize = 256;

/// Login settings and state (`[sessions]`).
pub struct Login {
    /// `{public_url}/.didgate/login/response`.
    response_uri: String,
    /// Where the wallet sends the browser: `{public_url}/.didgate/login/complete`.
    complete_uri: String,
    credential_types: Vec<String>,
    timeout_ms: i64,
    cookie_name: String,
    secure: bool,
    /// Authenticates login states (`gateway_keys.login_state`).
    key: [u8; 32],
    /// A wallet's answer silent this long is refused (408).
    body_timeout: Duration,
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
    fn issue_browser_cookie(&self) -> ([u8; 32], String) {
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
    fn open_browser_cookie(&self, text: &str) -> Option<[u8; 32]> {
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

    /// A new login request's state: version, expiry, randomness, step-up,
    /// the browser's login-cookie hash and `return_to`, then a 128-bit tag.
    fn seal(&self, s: &LoginState) -> String {
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
    fn open(&self, text: &str) -> Option<LoginState> {
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
    fn nonce(&self, state: &str) -> String {
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
struct LoginState {
    expires_ms: i64,
    step_up: bool,
    /// SHA-256 of the login cookie of the browser that asked.
    browser_hash: [u8; 32],
    return_to: String,
}

/// What the login endpoints work with, lent by the request path for one
/// request: the login's own keys and settings, and the gateway's
/// authenticator, decision log, risk engine and GeoIP.
pub struct LoginCx<'a> {
    pub login: Option<&'a Login>,
    pub authn: &'a Authenticator,
    pub audit: &'a AuditLog,
    pub risk: Option<&'a risk::Engine>,
    pub geoip: Option<&'a GeoIp>,
    pub instance: &'a std::sync::Arc<str>,
}

/// Answer a request under `/.didgate/` (other than the JWKS and health).
/// Every refusal is audited, here or where it was made.
pub async fn handle(
    cx: &LoginCx<'_>,
    req: Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
) -> Response<GatewayBody> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let result = match &cx.login {
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "browser login is not enabled on this gateway ([sessions] enabled = false)",
        )),
        Some(login) => endpoint(cx, login, req, conn, client_ip, now_ms).await,
    };
    match result {
        Ok(resp) => resp,
        Err(refusal) => {
            tracing::info!(path = %path, status = refusal.status.as_u16(), reason = refusal.code,
                "login endpoint refused");
            let accept = req_accept(&path, &method);
            let id = match refusal.decision_id.clone() {
                Some(id) => id,
                None => {
                    let mut record = login_record(cx, &path, client_ip, now_ms);
                    record.method = method.as_str().to_owned();
                    record.status = Some(refusal.status.as_u16());
                    record.reason = refusal.code;
                    let id = record.id.clone();
                    if let Err(unlogged) = audit(cx, record).await {
                        return unlogged.into_response(accept.as_ref(), &id);
                    }
                    id
                }
            };
            refusal.into_response(accept.as_ref(), &id)
        }
    }
}

/// The endpoint `req` names.
async fn endpoint(
    cx: &LoginCx<'_>,
    login: &Login,
    req: Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, LOGIN) => start(login, &req, now_ms),
        (Method::POST, RESPONSE) => wallet_response(cx, login, req, client_ip, now_ms).await,
        (Method::GET, STATUS) => status(cx, login, &req, now_ms).await,
        (Method::GET, COMPLETE) => complete(cx, login, &req, conn, client_ip, now_ms).await,
        (Method::POST, LOGOUT) => logout(cx, &req, client_ip, now_ms).await,
        (Method::GET, LOGOUT) => Ok(logout_page()),
        (Method::GET, WHOAMI) => whoami(cx, &req, now_ms).await,
        (_, LOGIN | RESPONSE | STATUS | COMPLETE | LOGOUT | WHOAMI) => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not accepted here",
        )),
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "no such gateway endpoint",
        )),
    }
}

/// Wallet endpoints answer JSON; the browser's pages answer HTML.
fn req_accept(path: &str, method: &Method) -> Option<HeaderValue> {
    let browser = *method == Method::GET && matches!(path, LOGIN | COMPLETE | LOGOUT);
    browser.then(|| HeaderValue::from_static("text/html"))
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A local path to go back to after the login: absolute-path only (no
/// scheme, no `//host`), printable ASCII (it becomes a `Location` header),
/// never the gateway's own endpoints.
pub fn safe_return_to(raw: Option<&str>) -> String {
    let Some(p) = raw else { return "/".into() };
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && p.len() <= 2048
        && p.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\')
        && !is_gateway_endpoint(p);
    if ok {
        p.to_owned()
    } else {
        "/".into()
    }
}

/// Whether a browser sent to `path_and_query` ends up at the gateway's own
/// endpoints: the path it asks for (the reference resolved as browsers
/// resolve it, dot segments removed) as the gateway routes it (`%2e`
/// decoded, `//` merged, dot segments removed again) is under `/.didgate/`.
/// A reference that leaves the origin, or a path the gateway refuses
/// outright, counts as one: there is nothing to return to there.
fn is_gateway_endpoint(path_and_query: &str) -> bool {
    const ORIGIN: &str = "http://gateway.invalid/";
    let Ok(there) = url::Url::parse(ORIGIN).and_then(|o| o.join(path_and_query)) else {
        return true;
    };
    there.host_str() != Some("gateway.invalid")
        || crate::request::normalize::normalize(
            there.path(),
            crate::request::normalize::Pass::FIRST,
        )
        .map_or(true, |n| n.decoded.starts_with(PREFIX))
}

fn store_error(e: crate::store::StoreError) -> Refusal {
    tracing::error!(error = %e, "login store unavailable");
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_store_unavailable",
        "logins cannot be handled right now; try again shortly",
    )
}

/// The browser's login cookie's hash, if it sends one this gateway issued.
fn browser_hash(login: &Login, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    Ok(
        crate::request::session::cookie(headers, &login.cookie_name)?
            .and_then(|text| login.open_browser_cookie(text))
            .map(|s| hex::encode(secret_hash(&s))),
    )
}

fn start(
    login: &Login,
    req: &Request<Incoming>,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let mut return_to = safe_return_to(query_param(req, "return_to").as_deref());
    if return_to.len() > MAX_RETURN_TO {
        return_to = "/".into();
    }
    let step_up = query_param(req, "step_up").as_deref() == Some("1");
    // Tabs of one browser share its login cookie; a new browser gets one.
    // Only a cookie this gateway issued is kept: a value the client chose
    // (or had planted in it) is replaced, never adopted.
    let sent = crate::request::session::cookie(req.headers(), &login.cookie_name)?
        .and_then(|text| login.open_browser_cookie(text));
    let (cookie, browser_hash) = match sent {
        Some(secret) => (None, secret_hash(&secret)),
        None => {
            let (secret, text) = login.issue_browser_cookie();
            (Some(text), secret_hash(&secret))
        }
    };
    let state = login.seal(&LoginState {
        expires_ms: now_ms + login.timeout_ms,
        step_up,
        browser_hash,
        return_to,
    });
    let request = AuthorizationRequest::new(
        &login.response_uri,
        login.nonce(&state),
        state,
        login.credential_types.clone(),
    );
    let mut resp = html(
        StatusCode::OK,
        login_page(&request.to_url(), &request.state, step_up),
    );
    if let Some(text) = cookie {
        if let Some(v) = set_cookie(
            &login.cookie_name,
            &text,
            "/",
            login.timeout_ms / 1000,
            login.secure,
        ) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// OpenID4VP's error answer to the wallet: a JSON body with an OAuth error
/// code and didgate's reason code in the description.
fn wallet_error(
    status: StatusCode,
    error: &str,
    code: &str,
    message: &str,
) -> Response<GatewayBody> {
    let body = json!({"error": error, "error_description": format!("{code}: {message}")});
    json_response(status, &body)
}

async fn wallet_response(
    cx: &LoginCx<'_>,
    login: &Login,
    req: Request<Incoming>,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let store = sessions_of(cx)?.store().clone();
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Ok(wallet_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unsupported_media_type",
            "send application/x-www-form-urlencoded (response_mode direct_post)",
        ));
    }
    let collected =
        crate::request::body::read_limited(req.into_body(), MAX_RESPONSE_BYTES, login.body_timeout)
            .await;
    let body = match collected {
        Ok(b) => b,
        Err(crate::request::body::ReadError::TimedOut) => {
            return Ok(wallet_error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "request_body_timeout",
                "the response stopped arriving before it was complete",
            ))
        }
        Err(crate::request::body::ReadError::TooLarge) => {
            return Ok(wallet_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "response_too_large",
                "the response is larger than 256 KiB",
            ))
        }
        Err(crate::request::body::ReadError::Broken) => {
            return Ok(wallet_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed_response",
                "the response could not be read",
            ))
        }
    };
    let answer = match AuthorizationResponse::from_form(&body) {
        Ok(a) => a,
        Err(e) => {
            return Ok(wallet_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed_response",
                &e.0,
            ))
        }
    };
    let state = match &answer {
        AuthorizationResponse::Presentation { state, .. }
        | AuthorizationResponse::Error { state, .. } => state.clone(),
    };
    let Some(opened) = login.open(&state) else {
        return Ok(wallet_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "login_unknown",
            "this state is not one of a login request of this gateway",
        ));
    };
    if now_ms >= opened.expires_ms {
        return Ok(wallet_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "login_expired",
            "this login request has expired; start again",
        ));
    }
    // What is recorded of this login once the wallet has answered.
    let mut row = LoginRow {
        state: state.clone(),
        browser_hash: hex::encode(opened.browser_hash),
        return_to: opened.return_to.clone(),
        step_up: i64::from(opened.step_up),
        created_ms: now_ms,
        expires_ms: opened.expires_ms,
        status: "pending".into(),
        code_hash: None,
        result: None,
        last_error: None,
    };
    let answered = || {
        wallet_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "login_unknown",
            "this login was answered already",
        )
    };
    let mut record = login_record(cx, RESPONSE, client_ip, now_ms);
    record.auth_method = Some(AuthMethod::OpenId4Vp.as_str());
    let token = match answer {
        AuthorizationResponse::Error { error, .. } => {
            row.status = "declined".into();
            row.last_error = Some(error.chars().take(64).collect());
            if !store.record_login_answer(&row).await.map_err(store_error)? {
                return Ok(answered());
            }
            record.reason = "login_declined";
            record.status = Some(200);
            audit(cx, record).await?;
            return Ok(json_response(StatusCode::OK, &json!({})));
        }
        AuthorizationResponse::Presentation { vp_token, .. } => vp_token,
    };
    let client_id = login.client_id();
    let nonce = login.nonce(&state);
    let verified = cx
        .authn
        .verifier()
        .verify_login(
            &token,
            now_ms / 1000,
            credentials::Expected {
                audience: Some(&client_id),
                nonce: Some(&nonce),
            },
        )
        .await;
    let (vp, binding) = match verified {
        Ok(v) => v,
        Err(e) => {
            let refusal = crate::request::refusal::credential_refusal(&e);
            if refusal.status == StatusCode::UNAUTHORIZED {
                if let Some(engine) = &cx.risk {
                    engine.observe_failed_authentication(client_ip, now_ms);
                }
            }
            row.last_error = Some(refusal.code.to_owned());
            if !store.record_login_answer(&row).await.map_err(store_error)? {
                return Ok(answered());
            }
            record.status = Some(refusal.status.as_u16());
            record.reason = refusal.code;
            audit(cx, record).await?;
            let error = if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
                "temporarily_unavailable"
            } else {
                "invalid_request"
            };
            return Ok(wallet_error(
                refusal.status,
                error,
                refusal.code,
                &refusal.message,
            ));
        }
    };
    let asked = vp
        .credentials
        .iter()
        .any(|vc| vc.types.iter().any(|t| login.credential_types.contains(t)));
    if !asked {
        row.last_error = Some("credential_not_requested".into());
        if !store.record_login_answer(&row).await.map_err(store_error)? {
            return Ok(answered());
        }
        record.status = Some(401);
        record.reason = "credential_not_requested";
        audit(cx, record).await?;
        return Ok(wallet_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "credential_not_requested",
            "none of the presented credentials is of a type this login asks for",
        ));
    }
    let (code_secret, code) = new_secret();
    let result = json!({
        "holder": binding.holder(),
        "holder_key": binding.holder_key_id(),
        "credentials": binding.credential_tokens().collect::<Vec<_>>(),
    })
    .to_string();
    row.status = "presented".into();
    row.code_hash = Some(hex::encode(secret_hash(&code_secret)));
    row.result = Some(result);
    if !store.record_login_answer(&row).await.map_err(store_error)? {
        return Ok(answered());
    }
    let principal = Principal::from_credentials(vp.holder, vp.credentials);
    fill_principal(&mut record, &principal);
    record.effect = Effect::Allow;
    record.reason = "login_presented";
    audit(cx, record).await?;
    let redirect = format!("{}?response_code={code}", login.complete_uri);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "redirect_uri": redirect }),
    ))
}

async fn status(
    cx: &LoginCx<'_>,
    login: &Login,
    req: &Request<Incoming>,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let store = sessions_of(cx)?.store();
    let state = query_param(req, "state").unwrap_or_default();
    let browser = browser_hash(login, req.headers())?;
    let opened = login
        .open(&state)
        .filter(|o| Some(hex::encode(o.browser_hash)) == browser);
    let Some(opened) = opened else {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            &json!({"status": "unknown", "message": "no login of this browser has this state"}),
        ));
    };
    let row = store.load_login(&state).await.map_err(store_error)?;
    let body = match row {
        Some(r) if r.status == "done" => json!({"status": "done", "next": r.return_to}),
        _ if now_ms >= opened.expires_ms => json!({"status": "expired"}),
        Some(r) if r.status == "presented" => json!({
            "status": "presented",
            "next": format!("{COMPLETE}?state={state}"),
        }),
        Some(r) if r.status == "declined" => json!({"status": "declined", "error": r.last_error}),
        Some(r) => json!({"status": "pending", "last_error": r.last_error}),
        None => json!({"status": "pending", "last_error": null}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

async fn complete(
    cx: &LoginCx<'_>,
    login: &Login,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let sessions = sessions_of(cx)?;
    let store = sessions.store();
    let Some(browser) = browser_hash(login, req.headers())? else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "login_other_browser",
            "this login was started in another browser (or its cookie expired): finish it there, or start again here",
        ));
    };
    let code = query_param(req, "response_code");
    let state = query_param(req, "state");
    let code_hash = code
        .as_deref()
        .and_then(decode_secret)
        .map(|c| hex::encode(secret_hash(&c)));
    let key = match (&code_hash, &state) {
        (Some(h), _) => LoginKey::Code(h),
        (None, Some(s)) => LoginKey::State(s),
        (None, None) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "login_unknown",
                "the link has no valid response code",
            ))
        }
    };
    let Some(row) = store
        .login_complete(key, &browser, now_ms)
        .await
        .map_err(store_error)?
    else {
        // Finished already by this browser (the poll and the wallet's
        // redirect both arrive): go on to where it was going.
        if let Some(row) = store.load_login_by(key).await.map_err(store_error)? {
            if row.status == "done" && row.browser_hash == browser {
                return Ok(redirect(&row.return_to, None));
            }
        }
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "login_unknown",
            "this login is not ready, was started in another browser, was used already, or has expired",
        ));
    };
    let mut record = login_record(cx, COMPLETE, client_ip, now_ms);
    record.auth_method = Some(AuthMethod::OpenId4Vp.as_str());
    let result: Value = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let holder = result["holder"].as_str().unwrap_or_default().to_owned();
    let holder_key = result["holder_key"].as_str().unwrap_or_default().to_owned();
    let tokens: Vec<String> = result["credentials"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // Verified again now: nothing revoked between the wallet's answer and this.
    let rebound = cx
        .authn
        .verifier()
        .rebind(&holder, &holder_key, &tokens, now_ms / 1000)
        .await;
    let (vcs, binding) = match rebound {
        Ok(v) => v,
        Err(e) => {
            let refusal = crate::request::refusal::credential_refusal(&e);
            record.subject = Some(holder);
            record.status = Some(refusal.status.as_u16());
            record.reason = refusal.code;
            let mut refusal = refusal;
            refusal.decision_id = Some(record.id.clone());
            audit(cx, record).await?;
            return Err(refusal);
        }
    };
    let old_holder = sessions
        .authenticate(cx.authn.verifier(), req.headers(), now_ms)
        .await
        .ok()
        .flatten()
        .map(|old| old.holder().to_owned());
    let principal = Principal::from_credentials(holder, vcs);
    fill_principal(&mut record, &principal);
    let (session, secret) = sessions
        .create(NewSession { principal, binding }, now_ms)
        .await
        .map_err(store_error)?;
    // A step-up: the browser's current session asked for this login, and the
    // same holder answered it.
    let stepped_up = row.step_up == 1 && old_holder.as_deref() == Some(session.holder());
    observe_login(cx, req, conn, client_ip, now_ms, &session, stepped_up);
    record.effect = Effect::Allow;
    record.reason = "session_opened";
    audit(cx, record).await?;
    tracing::info!(subject = %session.holder(), session = %session.public_id, "session opened");
    let max_age = (session.expires_ms - now_ms) / 1000;
    // The login cookie stays until it expires: other tabs of this browser
    // polling this login learn that it is done.
    Ok(redirect(
        &row.return_to,
        sessions.set_cookie(&secret, max_age),
    ))
}

/// The login teaches the risk engine this browser's network and device; a
/// login the holder's own session asked for (a step-up) confirms them.
fn observe_login(
    cx: &LoginCx<'_>,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
    session: &crate::request::session::Session,
    stepped_up: bool,
) {
    let Some(engine) = &cx.risk else { return };
    let mut event = crate::signals::risk_event(
        cx.geoip,
        req,
        conn,
        client_ip,
        session.holder(),
        risk::Kind::Login,
        now_ms,
    );
    event.session_id = Some(&session.public_id);
    event.auth_method = Some(AuthMethod::OpenId4Vp.as_str());
    let keys = engine.event_keys(&event);
    if stepped_up {
        engine.confirm_keyed(&event, &keys);
        tracing::info!(subject = %session.holder(), "step-up completed by a login");
    }
    let assessed = engine.assess_keyed(&event, &keys);
    engine.observe_keyed(&event, &keys, &assessed);
}

async fn logout(
    cx: &LoginCx<'_>,
    req: &Request<Incoming>,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let sessions = sessions_of(cx)?;
    crate::request::browser::refuse_cross_site(req)?;
    let text = crate::request::session::cookie(req.headers(), &sessions.settings().cookie_name)?;
    let mut record = login_record(cx, LOGOUT, client_ip, now_ms);
    record.auth_method = Some(AuthMethod::Session.as_str());
    let ended = match text {
        Some(t) => {
            if let Ok(Some(s)) = sessions
                .authenticate(cx.authn.verifier(), req.headers(), now_ms)
                .await
            {
                fill_principal(&mut record, &s.principal);
            }
            sessions.revoke(t, now_ms).await.map_err(store_error)?
        }
        None => false,
    };
    record.effect = Effect::Allow;
    record.reason = if ended {
        "session_closed"
    } else {
        "no_session"
    };
    audit(cx, record).await?;
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let mut resp = if wants_html {
        html(
            StatusCode::OK,
            page(
                "Logged out",
                "<h1>You are logged out</h1><p>The session has ended on every gateway.</p>\
                 <p><a href=\"/.didgate/login\">Log in again</a></p>",
                None,
            ),
        )
    } else {
        json_response(
            StatusCode::OK,
            &json!({"status": if ended { "logged_out" } else { "no_session" }}),
        )
    };
    if let Some(v) = sessions.clear_cookie() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn whoami(
    cx: &LoginCx<'_>,
    req: &Request<Incoming>,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let sessions = sessions_of(cx)?;
    let session = sessions
        .authenticate(cx.authn.verifier(), req.headers(), now_ms)
        .await?
        .ok_or_else(|| {
            Refusal::unauthenticated("credential_missing", "this browser has no session")
        })?;
    let p = &session.principal;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "subject": p.did,
            "credential_types": p.credential_types,
            "issuers": p.issuers,
            "expires_at": session.expires_ms / 1000,
        }),
    ))
}

/// The gateway's sessions (login endpoints exist only when they are on).
fn sessions_of<'a>(
    cx: &LoginCx<'a>,
) -> Result<&'a std::sync::Arc<crate::request::session::Sessions>, Refusal> {
    cx.authn
        .sessions()
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "no_route", "sessions are disabled"))
}

fn login_record(cx: &LoginCx<'_>, path: &str, client_ip: IpAddr, now_ms: i64) -> DecisionRecord {
    DecisionRecord {
        id: audit::new_id(now_ms),
        ts_ms: now_ms,
        gateway: cx.instance.clone(),
        route: None,
        method: if path == COMPLETE { "GET" } else { "POST" }.to_owned(),
        host: String::new(),
        path: path.to_owned(),
        client_ip,
        subject: None,
        auth_method: None,
        credential_types: Vec::new(),
        issuers: Vec::new(),
        effect: Effect::Deny,
        status: None,
        reason: "login",
        policies: Vec::new(),
        risk_score: 0.0,
        risk_factors: Vec::new(),
    }
}

fn fill_principal(record: &mut DecisionRecord, p: &Principal) {
    record.subject = Some(p.did.clone());
    record.credential_types.clone_from(&p.credential_types);
    record.issuers.clone_from(&p.issuers);
}

/// Logins are decisions too: audited, and refused when the log cannot take them.
async fn audit(cx: &LoginCx<'_>, record: DecisionRecord) -> Result<(), Refusal> {
    cx.audit.record(record).await.map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the decision log cannot keep up; try again shortly",
        )
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::from(body.to_string() + "\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The response code must not travel on in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, c);
    }
    r
}

/// Where a browser without a usable session is sent: the login page, which
/// brings it back to `path_and_query` afterwards.
pub fn login_redirect(path_and_query: &str, step_up: bool) -> Response<GatewayBody> {
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &safe_return_to(Some(path_and_query)))
        .finish();
    let to = if step_up {
        format!("{LOGIN}?{back}&step_up=1")
    } else {
        format!("{LOGIN}?{back}")
    };
    redirect(&to, None)
}

fn html(status: StatusCode, body: String) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn page(title: &str, body: &str, script: Option<&str>) -> String {
    let script = script
        .map(|s| format!("<script>{s}</script>"))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .qr svg{{width:16rem;height:16rem}} code{{word-break:break-all;font-size:.8rem}}\
         #status{{font-weight:600}} .hint{{color:#555;font-size:.9rem}}\
         </style></head><body>{body}{script}</body></html>\n",
        title = html_escape(title),
    )
}

fn login_page(wallet_url: &str, state: &str, step_up: bool) -> String {
    let qr = qrcode::QrCode::with_error_correction_level(wallet_url, qrcode::EcLevel::L)
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(256, 256)
                .build()
        })
        .unwrap_or_default();
    let url = html_escape(wallet_url);
    let what = if step_up {
        "This page needs a fresh login: present your credential again."
    } else {
        "Present your credential with your wallet to continue."
    };
    let body = format!(
        "<h1>Log in with your wallet</h1><p>{what}</p>\
         <div class=\"qr\" aria-label=\"QR code of the wallet request\">{qr}</div>\
         <p><a id=\"wallet-link\" href=\"{url}\">Open your wallet on this device</a></p>\
         <p class=\"hint\">Or answer with <code>didgate wallet login --holder-key KEY --vc CREDENTIAL 'REQUEST'</code>, \
         where REQUEST is:</p><p><code id=\"request-url\">{url}</code></p>\
         <p id=\"status\" role=\"status\">Waiting for your wallet…</p>",
    );
    // A JSON string inside <script>: no "</script>" can end it early.
    let state = serde_json::to_string(state)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    let script = format!(
        "const state={state};const el=document.getElementById('status');\
         async function poll(){{try{{const r=await fetch('{STATUS}?state='+encodeURIComponent(state),\
         {{credentials:'same-origin',cache:'no-store'}});const s=await r.json();\
         if(s.status==='presented'||s.status==='done'){{el.textContent='Logged in; continuing…';location.replace(s.next);return;}}\
         if(s.status==='expired'){{el.textContent='This login request expired. Reload the page to try again.';return;}}\
         if(s.status==='declined'){{el.textContent='Your wallet declined ('+(s.error||'no reason')+'). Reload to try again.';return;}}\
         if(s.status==='unknown'){{el.textContent='This login was started in another browser. Reload to start here.';return;}}\
         if(s.last_error){{el.textContent='The last presentation was refused: '+s.last_error+'. Waiting for another…';}}\
         }}catch(e){{}}setTimeout(poll,1000);}}setTimeout(poll,1000);",
    );
    page("Log in", &body, Some(&script))
}

fn logout_page() -> Response<GatewayBody> {
    html(
        StatusCode::OK,
        page(
            "Log out",
            "<h1>Log out</h1><form method=\"post\" action=\"/.didgate/logout\">\
             <button type=\"submit\">Log out everywhere</button></form>",
            None,
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn return_to_is_a_local_path_only() {
        assert_eq!(safe_return_to(None), "/");
        assert_eq!(safe_return_to(Some("/eng/docs?x=1")), "/eng/docs?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/.didgate/logout",
            "/a\r\nSet-Cookie: x=1",
            "/a\\b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }

    /// Found by `fuzz/fuzz_targets/openid4vp_form.rs` (inputs `b"/./.didgate/"`
    /// and `b"/.didgate//.."`): a dot segment or `%2e` before `.didgate/`, or
    /// a `..` after an empty segment, passed the prefix check, and the
    /// browser (and the gateway's routing) then resolved it to the gateway's
    /// own endpoints. A non-ASCII path passed too, and then could not be a
    /// `Location` header (a 303 without one).
    #[test]
    fn return_to_cannot_reach_the_gateway_by_dot_segments_or_be_non_ascii() {
        for bad in [
            "/./.didgate/",
            "/a/../.didgate/logout",
            "/%2e/.didgate/login",
            "/.%2E/.didgate/session?x",
            "/%2edidgate/logout",
            "/.//.didgate/logout",
            "/.didgate//..",
            "/a%zz",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        for good in ["/.didgate", "/a/./b?x=/.didgate/", "/a b", "/%C3%A9"] {
            assert_eq!(safe_return_to(Some(good)), good);
        }
    }

    #[test]
    fn login_redirect_keeps_the_path_and_asks_for_step_up() {
        let r = login_redirect("/eng/docs?q=a b", true);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(
            to,
            "/.didgate/login?return_to=%2Feng%2Fdocs%3Fq%3Da+b&step_up=1"
        );
    }

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

    #[test]
    fn pages_escape_what_they_show() {
        let p = login_page("openid4vp://?a=<b>&c=\"d\"", "s\"</script>", false);
        assert!(p.contains("openid4vp://?a=&lt;b&gt;&amp;c=&quot;d&quot;"));
        assert!(
            !p.contains("s\"</script>"),
            "state is a JSON string in the script"
        );
        assert!(p.contains("<svg"), "the QR code is drawn");
    }
}
