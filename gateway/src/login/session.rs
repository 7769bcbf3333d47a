//! The browser's session after a login: `GET /.didgate/session` (who it is,
//! JSON) and `POST /.didgate/logout` (ends it on every gateway; audited).

use std::net::IpAddr;

use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::login::cx::{audit, fill_principal, login_record, sessions_of, store_error, LoginCx};
use crate::login::pages::logged_out_page;
use crate::login::paths::LOGOUT;
use crate::login::reply::json_response;
use crate::request::authn::AuthMethod;
use crate::request::body::GatewayBody;
use crate::request::reason::Reason;
use crate::request::refusal::Refusal;
use audit::Effect;

/// `POST /.didgate/logout`.
pub(super) async fn logout(
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
        logged_out_page()
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

/// `GET /.didgate/session`.
pub(super) async fn whoami(
    cx: &LoginCx<'_>,
    req: &Request<Incoming>,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let sessions = sessions_of(cx)?;
    let session = sessions
        .authenticate(cx.authn.verifier(), req.headers(), now_ms)
        .await?
        .ok_or_else(|| Refusal::new(Reason::CredentialMissing, "this browser has no session"))?;
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
