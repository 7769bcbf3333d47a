//! The last steps of a login, in the browser that started it (its login
//! cookie): the login page's poll, `GET /.didgate/login/status`, and the
//! completion, `GET /.didgate/login/complete` (by the response code the
//! wallet's redirect carries, or by the state the poll was given), which
//! verifies the presented credentials again, opens the session, sets its
//! cookie and sends the browser back where it was going. A login completes
//! once; the risk engine learns from it.

use std::net::IpAddr;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::login::cx::{
    audit, fill_principal, login_record, query_param, sessions_of, store_error, LoginCx,
};
use crate::login::paths::COMPLETE;
use crate::login::reply::{json_response, redirect};
use crate::login::state::{Login, LoginResult};
use crate::request::authn::AuthMethod;
use crate::request::body::GatewayBody;
use crate::request::conn::ConnInfo;
use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::{credential_refusal, Refusal};
use crate::request::session::{decode_secret, secret_hash, NewSession, Session};
use crate::store::{LoginKey, LoginRow, LoginStatus, Store};
use audit::{DecisionRecord, Effect};
use credentials::CredentialError;

/// `GET /.didgate/login/status?state=S`: where this browser's login stands.
pub(super) async fn status(
    cx: &LoginCx<'_>,
    login: &Login,
    req: &Request<Incoming>,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let store = sessions_of(cx)?.store();
    let state = query_param(req, "state").unwrap_or_default();
    let browser = login.browser_hash(req.headers())?;
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
        Some(r) if r.status == LoginStatus::Done => json!({"status": "done", "next": r.return_to}),
        _ if now_ms >= opened.expires_ms => json!({"status": "expired"}),
        Some(r) if r.status == LoginStatus::Presented => json!({
            "status": "presented",
            "next": format!("{COMPLETE}?state={state}"),
        }),
        Some(r) if r.status == LoginStatus::Declined => {
            json!({"status": "declined", "error": r.last_error})
        }
        Some(r) => json!({"status": "pending", "last_error": r.last_error}),
        None => json!({"status": "pending", "last_error": null}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /.didgate/login/complete?response_code=…` (or `?state=…`).
pub(super) async fn complete(
    cx: &LoginCx<'_>,
    login: &Login,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let sessions = sessions_of(cx)?;
    let Some(browser) = login.browser_hash(req.headers())? else {
        return Err(Refusal::new(
            Reason::LoginOtherBrowser,
            "this login was started in another browser (or its cookie expired): finish it there, or start again here",
        ));
    };
    let row = match take_presented(sessions.store(), req, &browser, now_ms).await? {
        Taken::Presented(row) => row,
        Taken::Done { return_to } => return Ok(redirect(&return_to, None)),
    };
    let mut record = login_record(cx, COMPLETE, client_ip, now_ms);
    record.auth_method = Some(AuthMethod::OpenId4Vp.as_str());
    let stored = LoginResult::parse(row.result.as_deref());
    // Verified again now: nothing revoked between the wallet's answer and this.
    let rebound = cx
        .authn
        .verifier()
        .rebind(
            &stored.holder,
            &stored.holder_key,
            &stored.credentials,
            now_ms / 1000,
        )
        .await;
    let (vcs, binding) = match rebound {
        Ok(v) => v,
        Err(e) => return Err(refused_again(cx, record, stored.holder, &e).await),
    };
    let old_holder = sessions
        .authenticate(cx.authn.verifier(), req.headers(), now_ms)
        .await
        .ok()
        .flatten()
        .map(|old| old.holder().to_owned());
    let principal = Principal::from_credentials(stored.holder, vcs);
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

/// What the completion finds of the login it names.
enum Taken {
    /// Presented, and now done: this request completes it.
    Presented(LoginRow),
    /// Finished already by this browser (the poll and the wallet's redirect
    /// both arrive): go on to where it was going.
    Done { return_to: String },
}

/// Take the presented login the request names for `browser` (single use:
/// the row moves to done for one caller only).
async fn take_presented(
    store: &Store,
    req: &Request<Incoming>,
    browser: &str,
    now_ms: i64,
) -> Result<Taken, Refusal> {
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
                Reason::LoginUnknown,
                "the link has no valid response code",
            ))
        }
    };
    let taken = store
        .login_complete(key, browser, now_ms)
        .await
        .map_err(store_error)?;
    if let Some(row) = taken {
        return Ok(Taken::Presented(row));
    }
    if let Some(row) = store.load_login_by(key).await.map_err(store_error)? {
        if row.status == LoginStatus::Done && row.browser_hash == browser {
            return Ok(Taken::Done {
                return_to: row.return_to,
            });
        }
    }
    Err(Refusal::new(
        Reason::LoginUnknown,
        "this login is not ready, was started in another browser, was used already, or has expired",
    ))
}

/// A login whose credentials no longer verify: audited (as `record`, of
/// `holder`), then refused.
async fn refused_again(
    cx: &LoginCx<'_>,
    mut record: DecisionRecord,
    holder: String,
    e: &CredentialError,
) -> Refusal {
    let mut refusal = credential_refusal(e);
    record.subject = Some(holder);
    record.status = Some(refusal.status().as_u16());
    record.reason = refusal.code();
    refusal.decision_id = Some(record.id.clone());
    match audit(cx, record).await {
        Ok(()) => refusal,
        Err(unlogged) => unlogged,
    }
}

/// The login teaches the risk engine this browser's network and device; a
/// login the holder's own session asked for (a step-up) confirms them.
fn observe_login(
    cx: &LoginCx<'_>,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    client_ip: IpAddr,
    now_ms: i64,
    session: &Session,
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
