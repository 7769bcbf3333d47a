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
//!
//! This file routes a request to its endpoint and audits what an endpoint
//! refuses. The login, in the order it happens:
//!
//! - `start.rs`: the login page (its HTML in `pages.rs`);
//! - `wallet.rs`: the wallet's answer (its messages in `openid4vp.rs`);
//! - `complete.rs`: the page's poll, and the completion that opens the session;
//! - `session.rs`: the session afterwards (who it is, logout);
//!
//! and what they share: `state.rs` (the login's sealed state, its keys and
//! cookie, what its row stores), `cx.rs` (the context the request path lends,
//! the store, the decision log), `paths.rs` (the endpoints, `return_to`),
//! `reply.rs` (JSON answers and redirects).

mod complete;
mod cx;
pub mod openid4vp;
mod pages;
mod paths;
mod reply;
mod session;
mod start;
mod state;
mod wallet;

use std::net::IpAddr;

use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use crate::login::cx::{audit, login_record};
use crate::login::paths::{COMPLETE, LOGIN, LOGOUT, RESPONSE, STATUS, WHOAMI};
use crate::request::body::GatewayBody;
use crate::request::conn::ConnInfo;
use crate::request::reason::Reason;
use crate::request::refusal::Refusal;

pub use crate::login::cx::LoginCx;
pub use crate::login::paths::{login_redirect, safe_return_to, PREFIX};
pub use crate::login::state::Login;

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
            Reason::NoRoute,
            "browser login is not enabled on this gateway ([sessions] enabled = false)",
        )),
        Some(login) => endpoint(cx, login, req, conn, client_ip, now_ms).await,
    };
    match result {
        Ok(resp) => resp,
        Err(refusal) => {
            tracing::info!(path = %path, status = refusal.status().as_u16(), reason = refusal.code(),
                "login endpoint refused");
            let accept = req_accept(&path, &method);
            let id = match refusal.decision_id.clone() {
                Some(id) => id,
                None => {
                    let mut record = login_record(cx, &path, client_ip, now_ms);
                    record.method = method.as_str().to_owned();
                    record.status = Some(refusal.status().as_u16());
                    record.reason = refusal.code();
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
        (Method::GET, LOGIN) => start::start(login, &req, now_ms),
        (Method::POST, RESPONSE) => {
            wallet::wallet_response(cx, login, req, client_ip, now_ms).await
        }
        (Method::GET, STATUS) => complete::status(cx, login, &req, now_ms).await,
        (Method::GET, COMPLETE) => {
            complete::complete(cx, login, &req, conn, client_ip, now_ms).await
        }
        (Method::POST, LOGOUT) => session::logout(cx, &req, client_ip, now_ms).await,
        (Method::GET, LOGOUT) => Ok(pages::logout_page()),
        (Method::GET, WHOAMI) => session::whoami(cx, &req, now_ms).await,
        (_, LOGIN | RESPONSE | STATUS | COMPLETE | LOGOUT | WHOAMI) => Err(Refusal::new(
            Reason::MethodNotAllowed,
            "this method is not accepted here",
        )),
        _ => Err(Refusal::new(Reason::NoRoute, "no such gateway endpoint")),
    }
}

/// Wallet endpoints answer JSON; the browser's pages answer HTML.
fn req_accept(path: &str, method: &Method) -> Option<HeaderValue> {
    let browser = *method == Method::GET && matches!(path, LOGIN | COMPLETE | LOGOUT);
    browser.then(|| HeaderValue::from_static("text/html"))
}
