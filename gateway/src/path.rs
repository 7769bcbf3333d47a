//! The request path, in order, in one place:
//!
//! ```text
//! well-known → route → authenticate → risk → decide (Cedar) → audit → proxy
//! ```
//!
//! Each step is a plain function or method called from `Gateway::handle`;
//! a refusal at any step is audited with the same reason code the client sees.
//! Nothing here awaits I/O except signature verification's DID resolution
//! (pure computation for did:key/did:jwk) and the upstream call itself; the
//! audit append is a non-blocking queue push.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use policy::{DecisionRequest, PolicyEngine, RiskContext};
use risk::RiskAssessment;

use crate::assertion::{AssertionCache, AssertionSigner, ASSERTION_HEADER};
use crate::audit::{AuditLog, DecisionRecord, Effect};
use crate::authn::{Authenticator, Identity, StepUpChallenges};
use crate::body::{full, GatewayBody};
use crate::config::Cidr;
use crate::geoip::GeoIp;
use crate::login::Login;
use crate::proxy::{Forward, Proxy};
use crate::refusal::Refusal;
use crate::route::{request_host, Route, Router};

/// Reserved paths the gateway answers itself on every host.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const HEALTH_PATH: &str = "/.didgate/health";

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// JA4 fingerprint of the TLS ClientHello (HTTPS connections only).
    pub tls_fp: Option<Arc<str>>,
}

/// Everything the request path needs, built once at start-up.
pub struct Gateway {
    pub(crate) instance: Arc<str>,
    pub(crate) router: Router,
    pub(crate) authn: Authenticator,
    pub(crate) policy: Arc<PolicyEngine>,
    pub(crate) audit: AuditLog,
    pub(crate) signer: AssertionSigner,
    pub(crate) assertions: AssertionCache,
    pub(crate) proxy: Proxy,
    /// The behavioral risk engine; `None` when `[risk] enabled = false`.
    pub(crate) risk: Option<Arc<risk::Engine>>,
    pub(crate) geoip: Option<GeoIp>,
    pub(crate) trusted_proxies: Vec<Cidr>,
    pub(crate) challenges: StepUpChallenges,
    /// Browser login (OpenID4VP) and sessions; `None` when `[sessions] enabled = false`.
    pub(crate) login: Option<Login>,
}

/// What an allowed request carries forward to the proxy step.
struct Allowed<'a> {
    route: &'a Route,
    identity: Identity,
    risk: RiskAssessment,
}

impl Gateway {
    /// Decide one request and, if allowed, forward it.
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<GatewayBody> {
        let decision_id = crate::audit::new_id();
        let now_ms = unix_ms();
        let now = now_ms / 1000;

        // 0. The gateway's own endpoints.
        match req.uri().path() {
            JWKS_PATH => {
                return json_response(self.signer.jwks().to_owned(), "public, max-age=300")
            }
            HEALTH_PATH => return json_response(r#"{"status":"ok"}"#.to_owned(), "no-store"),
            _ => {}
        }

        let peer_ip = canonical_ip(conn.peer.ip());
        let client_ip = self.client_ip(&req, peer_ip);
        if req.uri().path().starts_with(crate::login::PREFIX) {
            let ip = client_ip.as_ref().copied().unwrap_or(peer_ip);
            return crate::login::handle(self, req, &conn, ip, now_ms).await;
        }
        let host = request_host(&req).to_owned();
        let mut record = DecisionRecord {
            id: decision_id.clone(),
            ts_ms: now_ms,
            gateway: self.instance.clone(),
            route: None,
            method: req.method().as_str().to_owned(),
            host: host.clone(),
            path: req.uri().path().to_owned(),
            client_ip: client_ip.as_ref().copied().unwrap_or(peer_ip),
            subject: None,
            auth_method: None,
            credential_types: Vec::new(),
            issuers: Vec::new(),
            effect: Effect::Deny,
            status: None,
            reason: "allowed",
            policies: Vec::new(),
            risk_score: 0.0,
            risk_factors: Vec::new(),
        };

        let outcome = match client_ip {
            Ok(ip) => {
                self.decide(&req, &conn, &host, ip, now_ms, &mut record)
                    .await
            }
            Err(refusal) => Err(refusal),
        };
        let client_ip = record.client_ip;

        // 5. Audit — before anything is forwarded, and for every refusal.
        let accept = req.headers().get(header::ACCEPT).cloned();
        let allowed = match outcome {
            Ok(allowed) => {
                record.effect = Effect::Allow;
                allowed
            }
            Err(refusal) => {
                record.status = Some(refusal.status.as_u16());
                record.reason = refusal.code;
                tracing::info!(decision = %decision_id, status = refusal.status.as_u16(),
                    reason = refusal.code, path = %record.path, subject = ?record.subject, "refused");
                if self.audit.record(record).await.is_err() {
                    return audit_unavailable(accept.as_ref(), &decision_id);
                }
                // A browser that needs to (re-)authenticate goes to the login
                // page instead of a bare 401; API clients get the 401.
                if self.login.is_some()
                    && refusal.status == StatusCode::UNAUTHORIZED
                    && is_navigation(&req)
                {
                    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    return crate::login::login_redirect(pq, refusal.code == "step_up_required");
                }
                return refusal.into_response(accept.as_ref(), &decision_id);
            }
        };
        if self.audit.record(record).await.is_err() {
            return audit_unavailable(accept.as_ref(), &decision_id);
        }

        // 6. Proxy, with a signed identity assertion (reused while fresh).
        let assertion = self.assertions.get_or_sign(
            &self.signer,
            &crate::assertion::Allowed {
                principal: &allowed.identity.principal,
                audience: &allowed.route.name,
                forward_claims: &allowed.route.forward_claims,
                auth_method: allowed.identity.auth_method,
                risk_score: allowed.risk.score,
                now,
            },
        );
        let fwd = Forward {
            client_ip,
            tls: conn.tls,
            host: &host,
            assertion: assertion.map(|v| (header::HeaderName::from_static(ASSERTION_HEADER), v)),
            decision_id: HeaderValue::from_str(&decision_id)
                .unwrap_or(HeaderValue::from_static("")),
        };
        let resp = match self.proxy.forward(allowed.route, req, fwd).await {
            Ok(resp) => resp,
            Err(refusal) => refusal.into_response(accept.as_ref(), &decision_id),
        };
        // What the upstream answered teaches the engine (refusals, volume).
        if let Some(engine) = &self.risk {
            let bytes = resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            engine.record_outcome(
                allowed.identity.did(),
                now_ms,
                resp.status().as_u16(),
                bytes,
            );
        }
        resp
    }

    /// The risk engine's view of `req` by `subject`: where it comes from
    /// (address, GeoIP), with what (user agent, TLS fingerprint), what it
    /// asks for (method, path).
    pub(crate) fn risk_event<'a>(
        &'a self,
        req: &'a Request<Incoming>,
        conn: &'a ConnInfo,
        client_ip: IpAddr,
        subject: &'a str,
        kind: risk::Kind,
        now_ms: i64,
    ) -> risk::Event<'a> {
        let mut e = risk::Event::new(now_ms, subject, kind, client_ip);
        if let Some(geo) = self.geoip.as_ref().map(|g| g.lookup(client_ip)) {
            e.asn = geo.asn;
            e.country = geo.country;
            e.location = geo.location;
        }
        e.user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        e.tls_fp = conn.tls_fp.as_deref();
        e.method = Some(req.method().as_str());
        e.path = Some(req.uri().path());
        e
    }

    /// The client's address: the TCP peer, or — when the peer is a trusted
    /// proxy — the nearest untrusted address in `X-Forwarded-For`.
    fn client_ip(&self, req: &Request<Incoming>, peer: IpAddr) -> Result<IpAddr, Refusal> {
        if !self.trusted_proxies.iter().any(|c| c.contains(peer)) {
            return Ok(peer);
        }
        let bad = || {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "forwarded_for_invalid",
                "X-Forwarded-For from a trusted proxy is not a list of IP addresses",
            )
        };
        let mut client = peer;
        // Walk from the nearest hop outward; the first untrusted hop is the client.
        let values: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        for hop in values.iter().rev().flat_map(|v| v.rsplit(',')) {
            let ip: IpAddr = hop.trim().parse().map_err(|_| bad())?;
            client = canonical_ip(ip);
            if !self.trusted_proxies.iter().any(|c| c.contains(client)) {
                break;
            }
        }
        Ok(client)
    }

    /// Steps 1–4: route, authenticate, assess risk, decide. Fills `record` as it learns.
    async fn decide<'a>(
        &'a self,
        req: &Request<Incoming>,
        conn: &ConnInfo,
        host: &str,
        client_ip: IpAddr,
        now_ms: i64,
        record: &mut DecisionRecord,
    ) -> Result<Allowed<'a>, Refusal> {
        let now = now_ms / 1000;
        // 1. Route.
        let route = self.router.find(host, req.uri().path()).ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no application is configured for this host and path",
            )
        })?;
        record.route = Some(route.name.clone());
        if !is_standard_method(req.method()) {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this HTTP method is not accepted by the gateway",
            ));
        }

        // 2. Authenticate.
        let identity = match self.authn.authenticate(req.headers(), now_ms).await {
            Ok(identity) => identity,
            Err(refusal) => {
                // Failed presentations from one source feed spray detection.
                if refusal.status == StatusCode::UNAUTHORIZED
                    && refusal.code != "credential_missing"
                {
                    if let Some(engine) = &self.risk {
                        engine.observe_failed_authentication(client_ip, now_ms);
                    }
                }
                return Err(refusal);
            }
        };
        let principal = identity.principal.clone();
        record.subject = Some(principal.did.clone());
        record.auth_method = Some(identity.auth_method);
        record
            .credential_types
            .clone_from(&principal.credential_types);
        record.issuers.clone_from(&principal.issuers);
        // A cookie rides along on cross-site requests; a change must come
        // from the gateway's own pages.
        if identity.session.is_some() && !is_safe_method(req.method()) {
            refuse_cross_site(req)?;
        }

        // 3. Risk: this identity's history, this request, this source.
        let mut event = self.risk_event(
            req,
            conn,
            client_ip,
            &principal.did,
            risk::Kind::Request,
            now_ms,
        );
        event.session_id = identity.session.as_ref().map(|s| &*s.public_id);
        event.auth_method = Some(identity.auth_method);
        // Hashed once for confirm, assess and observe.
        let keys = self.risk.as_ref().map(|engine| engine.event_keys(&event));
        let risk = match (&self.risk, &keys) {
            (Some(engine), Some(keys)) => {
                // A presentation answering this holder's step-up challenge:
                // this network and device are the holder's own.
                if identity
                    .nonce
                    .as_deref()
                    .is_some_and(|n| self.challenges.redeem(n, &principal.did))
                {
                    engine.confirm_keyed(&event, keys);
                    tracing::info!(subject = %principal.did, "step-up completed");
                }
                engine.assess_keyed(&event, keys)
            }
            _ => RiskAssessment::neutral(),
        };
        record.risk_score = risk.score;
        record.risk_factors.clone_from(&risk.factors);
        let factor_names: Vec<&str> = risk.factor_names().collect();

        // 4. Decide.
        let decision = self.policy.decide(&DecisionRequest {
            principal_key: identity.session.as_ref().map(|s| s.principal_key),
            principal_did: &principal.did,
            issuers: &principal.issuers,
            credential_types: &principal.credential_types,
            claims: &principal.claims,
            action: req.method().as_str(),
            app: &route.name,
            host,
            path: req.uri().path(),
            auth_method: identity.auth_method,
            client_ip,
            now_unix: now,
            risk: RiskContext {
                score: risk.score,
                factors: &factor_names,
                cold_start: risk.cold_start,
            },
        });
        record.policies = decision.determining_policies;
        if !decision.errors.is_empty() {
            tracing::warn!(errors = ?decision.errors, "policy evaluation errors");
        }
        let outcome = match decision.effect {
            policy::Effect::Allow => Ok(()),
            policy::Effect::StepUp => {
                record.effect = Effect::StepUp;
                let mut refusal = Refusal::unauthenticated(
                    decision.reason_code,
                    "this request needs a fresh, stronger authentication: present your credential \
                     again with the challenge as the presentation's nonce",
                );
                refusal.challenge = Some(self.challenges.issue(&principal.did));
                Err(refusal)
            }
            policy::Effect::Deny => {
                let status = if decision.reason_code == "method_not_allowed" {
                    StatusCode::METHOD_NOT_ALLOWED
                } else {
                    StatusCode::FORBIDDEN
                };
                Err(Refusal::new(
                    status,
                    decision.reason_code,
                    "access to this resource is not allowed by policy",
                ))
            }
        };
        // Learn from the request (a refusal's status is known now; an
        // upstream's answer is added when it arrives).
        if let (Some(engine), Some(keys)) = (&self.risk, &keys) {
            event.status = outcome.as_ref().err().map(|r| r.status.as_u16());
            engine.observe_keyed(&event, keys, &risk);
        }
        outcome.map(|()| Allowed {
            route,
            identity,
            risk,
        })
    }
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A top-level page load by a browser (what a login redirect can answer).
fn is_navigation(req: &Request<Incoming>) -> bool {
    (req.method() == Method::GET || req.method() == Method::HEAD)
        && !req.headers().contains_key(header::AUTHORIZATION)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::refusal::prefers_html)
}

/// Refuse a request a browser sent on behalf of another site (CSRF): by
/// `Sec-Fetch-Site` when the browser sends it, else by `Origin`. Requests
/// without either (not from a browser's cross-site context) pass.
pub(crate) fn refuse_cross_site(req: &Request<Incoming>) -> Result<(), Refusal> {
    let headers = req.headers();
    let refuse = || {
        Refusal::forbidden(
            "cross_site_request",
            "a request from another site cannot change anything with this browser's session",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(refuse()),
        };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        // The authority as the client wrote it, port included (HTTP/2: in the URI).
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let origin = origin.to_str().unwrap_or("null");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(refuse());
        }
    }
    Ok(())
}

fn is_standard_method(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::OPTIONS
    )
}

fn audit_unavailable(accept: Option<&HeaderValue>, id: &str) -> Response<GatewayBody> {
    tracing::error!(decision = %id, "decision log queue full; refusing request");
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the decision log cannot keep up; try again shortly",
    )
    .into_response(accept, id)
}

fn json_response(body: String, cache: &'static str) -> Response<GatewayBody> {
    let mut r = Response::new(full(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
