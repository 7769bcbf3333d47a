//! The first step of a login, `GET /.didgate/login`: a new OpenID4VP request
//! shown on the login page, bound to this browser by its login cookie (set
//! here when the browser has none this gateway issued). Nothing is stored.

use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::login::cx::query_param;
use crate::login::openid4vp::AuthorizationRequest;
use crate::login::pages::{html, login_page};
use crate::login::paths::safe_return_to;
use crate::login::state::{Login, LoginState};
use crate::request::body::GatewayBody;
use crate::request::refusal::Refusal;
use crate::request::session::{secret_hash, set_cookie};

/// Longest `return_to` a login request carries (a longer one goes to `/`).
const MAX_RETURN_TO: usize = 256;

pub(super) fn start(
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
