//! What every login endpoint works with: the context the request path lends
//! ([`LoginCx`]), the gateway's sessions and their store, the decision-log
//! record of a login decision and its writing, and the request's query.

use std::net::IpAddr;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;

use crate::login::paths::COMPLETE;
use crate::login::state::Login;
use crate::request::authn::Authenticator;
use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::Refusal;
use crate::request::session::Sessions;
use crate::signals::geoip::GeoIp;
use crate::store::StoreError;
use audit::{AuditLog, DecisionRecord};

/// What the login endpoints work with, lent by the request path for one
/// request: the login's own keys and settings, and the gateway's
/// authenticator, decision log, risk engine and GeoIP.
pub struct LoginCx<'a> {
    pub login: Option<&'a Login>,
    pub authn: &'a Authenticator,
    pub audit: &'a AuditLog,
    pub risk: Option<&'a risk::Engine>,
    pub geoip: Option<&'a GeoIp>,
    pub instance: &'a Arc<str>,
    /// SHA-256 of the policy set in force, for the decision log.
    pub policy_set: [u8; 32],
}

/// The gateway's sessions (login endpoints exist only when they are on).
pub(super) fn sessions_of<'a>(cx: &LoginCx<'a>) -> Result<&'a Arc<Sessions>, Refusal> {
    cx.authn
        .sessions()
        .ok_or_else(|| Refusal::new(Reason::NoRoute, "sessions are disabled"))
}

pub(super) fn store_error(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "login store unavailable");
    Refusal::new(
        Reason::SessionStoreUnavailable,
        "logins cannot be handled right now; try again shortly",
    )
}

pub(super) fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A decision-log record of a login endpoint's decision: a denial until
/// the endpoint says otherwise.
pub(super) fn login_record(
    cx: &LoginCx<'_>,
    path: &str,
    client_ip: IpAddr,
    now_ms: i64,
) -> DecisionRecord {
    DecisionRecord {
        method: if path == COMPLETE { "GET" } else { "POST" }.to_owned(),
        path: path.to_owned(),
        reason: "login",
        policy_set: cx.policy_set,
        ..DecisionRecord::new(
            audit::new_id(now_ms),
            now_ms,
            cx.instance.clone(),
            client_ip,
        )
    }
}

pub(super) fn fill_principal(record: &mut DecisionRecord, p: &Principal) {
    record.subject = Some(p.did.clone());
    record.credential_types.clone_from(&p.credential_types);
    record.issuers.clone_from(&p.issuers);
    record.credential_ids.clone_from(&p.credential_ids);
}

/// Logins are decisions too: audited, and refused when the log cannot take them.
pub(super) async fn audit(cx: &LoginCx<'_>, record: DecisionRecord) -> Result<(), Refusal> {
    cx.audit.record(record).await.map_err(|_| {
        Refusal::new(
            Reason::AuditUnavailable,
            "the decision log cannot keep up; try again shortly",
        )
    })
}
