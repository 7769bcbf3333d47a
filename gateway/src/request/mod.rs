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

pub mod assertion;
pub(crate) mod authn;
pub(crate) mod body;
pub(crate) mod browser;
pub(crate) mod conformance;
pub(crate) mod conn;
pub mod log_files;
pub mod mtls;
pub mod normalize;
pub mod principal;
pub(crate) mod proxy;
pub(crate) mod reason;
pub(crate) mod recheck;
pub(crate) mod refusal;
pub(crate) mod replay;
pub(crate) mod route;
pub mod session;
pub mod signed;

use std::net::IpAddr;
use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use policy::{DecisionRequest, PolicyEngine, RiskContext};
use risk::RiskAssessment;

use crate::config::Cidr;
use crate::login::Login;
use crate::request::assertion::{AssertionCache, AssertionSigner, ASSERTION_HEADER};
use crate::request::authn::{Authenticator, Identity, StepUpChallenges};
use crate::request::body::{full, GatewayBody};
use crate::request::browser::{is_navigation, refuse_cross_site};
use crate::request::conformance::{check_host, Target};
use crate::request::conn::ConnInfo;
use crate::request::normalize::{FormAction, ParamAction, Pass};
use crate::request::proxy::{Forward, Proxy};
use crate::request::reason::Reason;
use crate::request::recheck::Recheck;
use crate::request::refusal::Refusal;
use crate::request::route::{request_host, Route, Router};
use crate::signals::geoip::GeoIp;
use audit::{AuditLog, DecisionRecord, Effect};

/// Reserved paths the gateway answers itself on every host.
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
pub(crate) const HEALTH_PATH: &str = "/.didgate/health";

/// Everything the request path needs, built once at start-up.
pub(crate) struct Gateway {
    pub(crate) instance: Arc<str>,
    pub(crate) router: Router,
    pub(crate) authn: Authenticator,
    pub(crate) policy: Arc<PolicyEngine>,
    pub(crate) audit: AuditLog,
    /// The decision log's directory and its checkpoints' verifier key
    /// (`name+hash+base64`).
    pub(crate) log_dir: std::path::PathBuf,
    /// `[audit] archive_dir`: where sealed tiles and bundles may have moved.
    pub(crate) log_archives: Arc<[std::path::PathBuf]>,
    pub(crate) log_vkey: String,
    /// Reads of the log's entry bundles, decided as the app
    /// [`log_files::LOG_APP`].
    pub(crate) log_route: Route,
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
    /// How often an exchange still open is decided again (`recheck.rs`).
    pub(crate) recheck_every: std::time::Duration,
}

/// Longest path kept in the log for a request whose path could not be read.
const MAX_LOGGED_PATH: usize = 1024;

/// A request matched to its route (step 1).
struct Routed<'a> {
    route: &'a Route,
    /// The decoded, normalised path the policy decides on.
    path: String,
    /// The method the policy decides on (see `MethodOverride`).
    method: Method,
}

/// What an allowed request carries forward to the proxy step.
struct Allowed<'a> {
    /// A signed request's body, read and checked against its digest.
    body: Option<bytes::Bytes>,
    route: &'a Route,
    host: &'a str,
    client_ip: IpAddr,
    identity: Identity,
    risk: RiskAssessment,
    path: String,
    method: Method,
}

/// What an allowed exchange was decided on, kept to decide it again while
/// it stays open (`recheck.rs`).
struct Lease {
    identity: Identity,
    /// The presentation a bearer request carried.
    bearer: Option<HeaderValue>,
    route: Arc<str>,
    host: String,
    path: String,
    method: Method,
    client_ip: IpAddr,
    risk: RiskAssessment,
}

impl Gateway {
    /// What the login endpoints work with: the gateway's parts, not the gateway.
    fn login_cx(&self) -> crate::login::LoginCx<'_> {
        crate::login::LoginCx {
            login: self.login.as_ref(),
            authn: &self.authn,
            audit: &self.audit,
            risk: self.risk.as_deref(),
            geoip: self.geoip.as_ref(),
            instance: &self.instance,
            policy_set: self.policy.policy_set_digest(),
        }
    }

    /// Decide one request and, if allowed, forward it: steps 0 to 6, in order.
    pub async fn handle(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<GatewayBody> {
        let now_ms = unix_ms();
        let decision_id = audit::new_id(now_ms);

        // A signed request's signature covers its target as received.
        let received_uri = signed::is_signed(req.headers()).then(|| req.uri().clone());
        // 0. The target, normalised once: everything after this sees the
        // canonical path (`req.uri()`), and the decoded form (`target`).
        let target = Target::normalize(&mut req);
        if let Some(resp) = self.own_endpoint(&req, &target) {
            return resp;
        }
        if let Ok(t) = &target {
            let path = t.decoded(&req);
            if path.starts_with(log_files::LOG_PREFIX)
                && !path.starts_with(log_files::ENTRIES_PREFIX)
            {
                return self.public_log_file(&req, path).await;
            }
        }
        let peer_ip = canonical_ip(conn.peer.ip());
        let client_ip = self.client_ip(&req, peer_ip);
        let conformance = check_host(&req);
        if let (Ok(t), Ok(())) = (&target, &conformance) {
            let path = t.decoded(&req);
            if path.starts_with(crate::login::PREFIX)
                && !path.starts_with(log_files::ENTRIES_PREFIX)
            {
                let ip = client_ip.as_ref().copied().unwrap_or(peer_ip);
                return crate::login::handle(&self.login_cx(), req, &conn, ip, now_ms).await;
            }
        }
        let host = request_host(&req).into_owned();
        let logged_ip = client_ip.as_ref().copied().unwrap_or(peer_ip);
        let mut record = self.new_record(&decision_id, now_ms, &req, &host, &target, logged_ip);

        // 1–4. Route, authenticate, assess the risk, decide.
        let outcome = match (client_ip, target, conformance) {
            (Ok(ip), Ok(target), Ok(())) => match self.route(&mut req, &host, target) {
                Ok(routed) => {
                    record.route = Some(routed.route.name.clone());
                    record.path.clone_from(&routed.path);
                    record.method = routed.method.as_str().to_owned();
                    self.decide(
                        &mut req,
                        received_uri.as_ref(),
                        &conn,
                        &host,
                        ip,
                        now_ms,
                        routed,
                        &mut record,
                    )
                    .await
                }
                Err((route, refusal)) => {
                    record.route = route.map(|r| r.name.clone());
                    Err(refusal)
                }
            },
            (Err(refusal), _, _) | (_, Err(refusal), _) | (_, _, Err(refusal)) => Err(refusal),
        };

        // 5. Audit — before anything is forwarded, and for every refusal.
        let accept = req.headers().get(header::ACCEPT).cloned();
        let allowed = match outcome {
            Ok(allowed) => allowed,
            Err(refusal) => {
                return self
                    .refuse(&req, record, refusal, accept.as_ref(), &decision_id)
                    .await
            }
        };
        let body = allowed.body.clone();
        record.effect = Effect::Allow;
        if self.audit.record(record).await.is_err() {
            return audit_unavailable(accept.as_ref(), &decision_id);
        }

        // 6. Proxy (or, for the log's own entry bundles, answer).
        if std::ptr::eq(allowed.route, &self.log_route) {
            return match log_files::LogFile::parse(&allowed.path) {
                Some(file @ log_files::LogFile::Bundle(_)) => {
                    log_files::serve(&self.log_dir, &self.log_archives, &self.log_vkey, &file).await
                }
                _ => log_files::not_found(),
            };
        }
        self.forward(
            req,
            body,
            &conn,
            allowed,
            &decision_id,
            accept.as_ref(),
            now_ms,
        )
        .await
    }

    /// The body of a signed request whose signature covers its
    /// `Content-Digest`: read whole (at most `[credentials]
    /// signed_body_max_bytes`) and checked against the digest. `None` for
    /// every other request, whose body streams through.
    async fn signed_body(
        &self,
        req: &mut Request<Incoming>,
        identity: &Identity,
    ) -> Result<Option<bytes::Bytes>, Refusal> {
        if !identity.signed.as_ref().is_some_and(|s| s.digest_covered) {
            return Ok(None);
        }
        let max = self.authn.signed().max_body_bytes();
        let timeout = self.proxy.request_body_timeout();
        let bytes = body::read_limited_mut(req.body_mut(), max, timeout)
            .await
            .map_err(|e| match e {
                body::ReadError::TooLarge => Refusal::new(
                    Reason::RequestBodyTooLarge,
                    format!("a signed request's body is read whole to check its digest: at most {max} bytes"),
                ),
                body::ReadError::TimedOut => Refusal::new(
                    Reason::RequestBodyTimeout,
                    format!("no request body bytes arrived for {} s", timeout.as_secs()),
                ),
                body::ReadError::Broken => Refusal::new(
                    Reason::RequestBodyInvalid,
                    "the request body broke off or is malformed (e.g. its chunked encoding)",
                ),
            })?;
        http_signatures::content_digest::verify(req.headers().get_all("content-digest"), &bytes)
            .map_err(|e| {
                let mut r = Refusal::new(Reason::Signature(e.reason()), e.to_string());
                r.signed = true;
                r
            })?;
        Ok(Some(bytes))
    }

    /// The gateway's own endpoints (JWKS, health), answered on every host.
    fn own_endpoint(
        &self,
        req: &Request<Incoming>,
        target: &Result<Target, Refusal>,
    ) -> Option<Response<GatewayBody>> {
        match target.as_ref().ok()?.decoded(req) {
            JWKS_PATH => Some(json_response(
                self.signer.jwks().to_owned(),
                "public, max-age=300",
            )),
            HEALTH_PATH => Some(json_response(self.health(), "no-store")),
            _ => None,
        }
    }

    /// `ok`, or `degraded` with the reason while the policy set in force is
    /// not the one that should be (a failed reload or governed bundle: the
    /// last good set still decides, so the gateway stays in service).
    fn health(&self) -> String {
        let policy_set = policy::bundle::hex(&self.policy.policy_set_digest());
        match self.policy.problem() {
            None => format!("{{\"status\":\"ok\",\"policy_set\":\"{policy_set}\"}}"),
            Some(p) => serde_json::json!({
                "status": "degraded",
                "policy_set": policy_set,
                "policy_problem": p.as_str(),
            })
            .to_string(),
        }
    }

    /// The log's public files (checkpoint, hash tiles, vkey): read-only,
    /// undecided, like the health endpoint.
    async fn public_log_file(&self, req: &Request<Incoming>, path: &str) -> Response<GatewayBody> {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut r = json_response(
                "{\"error\":\"method_not_allowed\",\"message\":\"the decision log is read-only\"}\n"
                    .to_owned(),
                "no-store",
            );
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match log_files::LogFile::parse(path) {
            Some(file) => {
                log_files::serve(&self.log_dir, &self.log_archives, &self.log_vkey, &file).await
            }
            None => log_files::not_found(),
        }
    }

    /// The decision as far as the request alone tells; steps 1–4 fill in
    /// the rest as they learn it.
    fn new_record(
        &self,
        id: &str,
        now_ms: i64,
        req: &Request<Incoming>,
        host: &str,
        target: &Result<Target, Refusal>,
        client_ip: IpAddr,
    ) -> DecisionRecord {
        DecisionRecord {
            method: req.method().as_str().to_owned(),
            host: host.to_owned(),
            path: match target {
                Ok(t) => t.decoded(req).to_owned(),
                Err(_) => req.uri().path().chars().take(MAX_LOGGED_PATH).collect(),
            },
            policy_set: self.policy.policy_set_digest(),
            ..DecisionRecord::new(id.to_owned(), now_ms, self.instance.clone(), client_ip)
        }
    }

    /// Step 5 for a refusal: audit it, then answer. A browser that needs to
    /// (re-)authenticate goes to the login page instead of a bare 401; API
    /// clients get the 401.
    async fn refuse(
        &self,
        req: &Request<Incoming>,
        mut record: DecisionRecord,
        refusal: Refusal,
        accept: Option<&HeaderValue>,
        decision_id: &str,
    ) -> Response<GatewayBody> {
        record.status = Some(refusal.status().as_u16());
        record.reason = refusal.code();
        tracing::info!(decision = %decision_id, status = refusal.status().as_u16(),
            reason = refusal.code(), path = %record.path, subject = ?record.subject, "refused");
        if self.audit.record(record).await.is_err() {
            return audit_unavailable(accept, decision_id);
        }
        if self.login.is_some()
            && refusal.status() == StatusCode::UNAUTHORIZED
            && is_navigation(req)
        {
            let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
            return crate::login::login_redirect(pq, refusal.reason == Reason::StepUpRequired);
        }
        refusal.into_response(accept, decision_id)
    }

    /// Step 6: forward with a signed identity assertion (reused while
    /// fresh), decide the exchange again while it stays open, and teach the
    /// risk engine what the upstream answered (refusals, volume).
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        self: &Arc<Self>,
        req: Request<Incoming>,
        body: Option<bytes::Bytes>,
        conn: &ConnInfo,
        allowed: Allowed<'_>,
        decision_id: &str,
        accept: Option<&HeaderValue>,
        now_ms: i64,
    ) -> Response<GatewayBody> {
        let assertion = self.assertions.get_or_sign(
            &self.signer,
            &crate::request::assertion::Allowed {
                principal: &allowed.identity.principal,
                audience: &allowed.route.name,
                forward_claims: &allowed.route.forward_claims,
                auth_method: allowed.identity.auth_method.as_str(),
                risk_score: allowed.risk.score,
                now: now_ms / 1000,
            },
        );
        let lease = Arc::new(Lease {
            bearer: allowed
                .identity
                .session
                .is_none()
                .then(|| req.headers().get(header::AUTHORIZATION).cloned())
                .flatten(),
            identity: allowed.identity.clone(),
            route: allowed.route.name.clone(),
            host: allowed.host.to_owned(),
            path: allowed.path,
            method: allowed.method,
            client_ip: allowed.client_ip,
            risk: allowed.risk.clone(),
        });
        let gw = self.clone();
        let recheck = Recheck {
            every: self.recheck_every,
            check: Arc::new(move || Box::pin(gw.clone().redecide(lease.clone()))),
        };
        let fwd = Forward {
            client_ip: allowed.client_ip,
            tls: conn.tls,
            host: allowed.host,
            assertion: assertion.map(|v| (header::HeaderName::from_static(ASSERTION_HEADER), v)),
            decision_id: HeaderValue::from_str(decision_id).unwrap_or(HeaderValue::from_static("")),
            recheck,
        };
        let resp = match self.proxy.forward(allowed.route, req, body, fwd).await {
            Ok(resp) => resp,
            Err(refusal) => refusal.into_response(accept, decision_id),
        };
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

    /// Step 1: the route for the normalised path, the route's own
    /// normalisation settings applied (its second pass, when they change the
    /// path, must land on the same route), and the method to decide on.
    /// Leaves `req`'s URI as the upstream will receive it (before any prefix
    /// is stripped).
    fn route<'a>(
        &'a self,
        req: &mut Request<Incoming>,
        host: &str,
        mut target: Target,
    ) -> Result<Routed<'a>, (Option<&'a Route>, Refusal)> {
        if target.decoded(req).starts_with(log_files::ENTRIES_PREFIX) {
            let route = &self.log_route;
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return Err((
                    Some(route),
                    Refusal::new(Reason::MethodNotAllowed, "the decision log is read-only"),
                ));
            }
            return Ok(Routed {
                route,
                path: target.decoded(req).to_owned(),
                method: req.method().clone(),
            });
        }
        let route = self.router.find(host, target.decoded(req)).ok_or_else(|| {
            (
                None,
                Refusal::new(
                    Reason::NoRoute,
                    "no application is configured for this host and path",
                ),
            )
        })?;
        let fail = |r: Refusal| (Some(route), r);
        let pass = Pass::of(&route.paths);
        if (target.forms.parameter && pass.strip_parameters)
            || (target.forms.merged && !pass.merge_slashes)
        {
            let raw = target
                .raw
                .clone()
                .unwrap_or_else(|| req.uri().path().to_owned());
            target = Target::normalize_with(req, &raw, pass).map_err(fail)?;
            let again = self.router.find(host, target.decoded(req));
            if !again.is_some_and(|r| std::ptr::eq(r, route)) {
                return Err(fail(Refusal::new(
                    Reason::PathAmbiguous,
                    "this path names another application once the route's own path rules apply",
                )));
            }
        }
        let forms = target.forms;
        if forms.encoded_slash && route.paths.encoded_slashes == FormAction::Reject {
            return Err(fail(Refusal::new(
                Reason::PathEncodedSlash,
                "the path holds an encoded slash or backslash (%2F, %5C), which servers read differently",
            )));
        }
        if forms.backslash && route.paths.backslashes == FormAction::Reject {
            return Err(fail(Refusal::new(
                Reason::PathBackslash,
                "the path holds a backslash, which some servers read as a slash",
            )));
        }
        if forms.parameter && route.paths.path_parameters == ParamAction::Reject {
            return Err(fail(Refusal::new(
                Reason::PathParameter,
                "the path holds a ';' parameter, which some servers drop before reading the path",
            )));
        }
        let method = crate::request::conformance::decided_method(req, route.method_override)
            .map_err(fail)?;
        Ok(Routed {
            route,
            path: target.decoded(req).to_owned(),
            method,
        })
    }

    /// The client's address: the TCP peer, or — when the peer is a trusted
    /// proxy — the nearest untrusted address in `X-Forwarded-For`.
    fn client_ip(&self, req: &Request<Incoming>, peer: IpAddr) -> Result<IpAddr, Refusal> {
        if !self.trusted_proxies.iter().any(|c| c.contains(peer)) {
            return Ok(peer);
        }
        let bad = || {
            Refusal::new(
                Reason::ForwardedForInvalid,
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

    /// Steps 2–4: authenticate, assess risk, decide. Fills `record` as it learns.
    #[allow(clippy::too_many_arguments)]
    async fn decide<'a>(
        &'a self,
        req: &mut Request<Incoming>,
        received_uri: Option<&http::Uri>,
        conn: &ConnInfo,
        host: &'a str,
        client_ip: IpAddr,
        now_ms: i64,
        routed: Routed<'a>,
        record: &mut DecisionRecord,
    ) -> Result<Allowed<'a>, Refusal> {
        let Routed {
            route,
            path,
            method,
        } = routed;
        if !is_standard_method(&method) {
            return Err(Refusal::new(
                Reason::MethodNotAllowed,
                "this HTTP method is not accepted by the gateway",
            ));
        }

        // 2. Authenticate (a signed body is read and checked against its
        // digest here, before anything is decided on it).
        let identity = self
            .authenticate(req, received_uri, conn, &method, client_ip, now_ms, record)
            .await?;
        let body = self.signed_body(req, &identity).await?;
        let req = &*req;
        let principal = &identity.principal;

        // 3. Risk: this identity's history, this request, this source.
        let mut event = crate::signals::risk_event(
            self.geoip.as_ref(),
            req,
            conn,
            client_ip,
            &principal.did,
            risk::Kind::Request,
            now_ms,
        );
        event.method = Some(method.as_str());
        event.path = Some(&path);
        event.session_id = identity.session.as_ref().map(|s| &*s.public_id);
        event.auth_method = Some(identity.auth_method.as_str());
        // Hashed once for confirm, assess and observe.
        let keys = self.risk.as_ref().map(|engine| engine.event_keys(&event));
        let risk = self.assess(&identity, &event, keys.as_ref());
        record.risk_score = risk.score;
        record.risk_factors.clone_from(&risk.factors);

        // 4. Decide.
        let decision = self.ask(
            &Question {
                identity: &identity,
                method: &method,
                app: &route.name,
                host,
                path: &path,
                client_ip,
                risk: &risk,
            },
            now_ms / 1000,
        );
        let outcome = self
            .verdict(decision, &principal.did, record)
            .and_then(|()| self.log_read_scoped(route, record));
        // Learn from the request (a refusal's status is known now; an
        // upstream's answer is added when it arrives).
        if let (Some(engine), Some(keys)) = (&self.risk, &keys) {
            event.status = outcome.as_ref().err().map(|r| r.status().as_u16());
            engine.observe_keyed(&event, keys, &risk);
        }
        outcome.map(|()| Allowed {
            body,
            route,
            host,
            client_ip,
            identity,
            risk,
            path,
            method,
        })
    }

    /// Step 2: who is asking, written into `record`. Failed presentations
    /// from one source feed spray detection; with a session cookie, a change
    /// must come from the gateway's own pages (a cookie rides along on
    /// cross-site requests).
    #[allow(clippy::too_many_arguments)]
    async fn authenticate(
        &self,
        req: &Request<Incoming>,
        received_uri: Option<&http::Uri>,
        conn: &ConnInfo,
        method: &Method,
        client_ip: IpAddr,
        now_ms: i64,
        record: &mut DecisionRecord,
    ) -> Result<Identity, Refusal> {
        let authenticated = match received_uri {
            // The signature covers the method on the wire; an override
            // (header or `_method`) would decide and forward another one.
            Some(_) if method != req.method() => Err(signed::refuse(
                "signature_method_override",
                "a signed request cannot override its method; send the method itself",
            )),
            Some(uri) => {
                use http_body::Body as _;
                let received = signed::Received {
                    method: req.method(),
                    uri,
                    version: req.version(),
                    headers: req.headers(),
                    scheme: if conn.tls {
                        http::uri::Scheme::HTTPS
                    } else {
                        http::uri::Scheme::HTTP
                    },
                    has_body: !req.body().is_end_stream(),
                };
                self.authn.authenticate_signed(&received, now_ms).await
            }
            None => {
                self.authn
                    .authenticate(req.headers(), conn.client_cert.as_ref(), now_ms)
                    .await
            }
        };
        let identity = match authenticated {
            Ok(identity) => identity,
            Err(refusal) => {
                if refusal.status() == StatusCode::UNAUTHORIZED
                    && refusal.reason != Reason::CredentialMissing
                {
                    if let Some(engine) = &self.risk {
                        engine.observe_failed_authentication(client_ip, now_ms);
                    }
                }
                return Err(refusal);
            }
        };
        let principal = &identity.principal;
        record.subject = Some(principal.did.clone());
        record.auth_method = Some(identity.auth_method.as_str());
        record
            .credential_types
            .clone_from(&principal.credential_types);
        record.issuers.clone_from(&principal.issuers);
        record.credential_ids.clone_from(&principal.credential_ids);
        if identity.session.is_some() && !is_safe_method(method) {
            refuse_cross_site(req)?;
        }
        Ok(identity)
    }

    /// Step 3's score. A presentation answering this holder's step-up
    /// challenge first confirms this network and device as the holder's own.
    fn assess(
        &self,
        identity: &Identity,
        event: &risk::Event<'_>,
        keys: Option<&risk::engine::EventKeys>,
    ) -> RiskAssessment {
        let (Some(engine), Some(keys)) = (&self.risk, keys) else {
            return RiskAssessment::neutral();
        };
        let did = &identity.principal.did;
        if identity
            .nonce
            .as_deref()
            .is_some_and(|n| self.challenges.redeem(n, did))
        {
            engine.confirm_keyed(event, keys);
            tracing::info!(subject = %did, "step-up completed");
        }
        engine.assess_keyed(event, keys)
    }

    /// Step 4's decision as the request path acts on it: go ahead, or a
    /// refusal with the policy's reason (a step-up carries a challenge the
    /// next presentation must answer).
    /// The log's entry bundles name people, paths and addresses: a read is
    /// allowed only by a permit scoped to the log's app, never by a broad
    /// one (`permit (principal, action in read, resource)`) written for apps.
    fn log_read_scoped(&self, route: &Route, record: &DecisionRecord) -> Result<(), Refusal> {
        if !std::ptr::eq(route, &self.log_route)
            || record
                .policies
                .iter()
                .any(|p| self.policy.is_scoped_to(log_files::LOG_APP, p))
        {
            return Ok(());
        }
        Err(Refusal::new(
            Reason::from_policy(policy::DecisionReason::PolicyDenied),
            "the decision log's entries are readable only through a policy scoped to \
             resource in Didgate::App::\"didgate-log\"",
        ))
    }

    fn verdict(
        &self,
        decision: policy::Decision,
        subject: &str,
        record: &mut DecisionRecord,
    ) -> Result<(), Refusal> {
        record.policies = decision.determining_policies;
        record.policy_set = decision.policy_set;
        if !decision.errors.is_empty() {
            tracing::warn!(errors = ?decision.errors, "policy evaluation errors");
        }
        match decision.effect {
            policy::Effect::Allow => Ok(()),
            policy::Effect::StepUp => {
                record.effect = Effect::StepUp;
                let mut refusal = Refusal::new(
                    Reason::from_policy(decision.reason),
                    "this request needs a fresh, stronger authentication: present your credential \
                     again with the challenge as the presentation's nonce",
                );
                refusal.challenge = Some(self.challenges.issue(subject));
                Err(refusal)
            }
            policy::Effect::Deny => Err(Refusal::new(
                Reason::from_policy(decision.reason),
                "access to this resource is not allowed by policy",
            )),
        }
    }

    /// Decide an exchange that is still open again, as it would be decided
    /// now: its session or presentation checked again (revocation, logout,
    /// expiry) and the policy in force asked again with the facts it was
    /// allowed on. A refusal is audited, and cuts the exchange.
    async fn redecide(self: Arc<Self>, lease: Arc<Lease>) -> Result<(), Refusal> {
        let now_ms = unix_ms();
        let outcome = self.redecide_at(&lease, now_ms).await;
        if let Err(refusal) = &outcome {
            let principal = &lease.identity.principal;
            tracing::info!(subject = %principal.did, route = %lease.route, path = %lease.path,
                reason = refusal.code(), "open exchange no longer allowed; closing it");
            let record = DecisionRecord {
                id: audit::new_id(now_ms),
                ts_ms: now_ms,
                gateway: self.instance.clone(),
                route: Some(lease.route.clone()),
                method: lease.method.as_str().to_owned(),
                host: lease.host.clone(),
                path: lease.path.clone(),
                client_ip: lease.client_ip,
                subject: Some(principal.did.clone()),
                auth_method: Some(lease.identity.auth_method.as_str()),
                credential_types: principal.credential_types.clone(),
                issuers: principal.issuers.clone(),
                effect: Effect::Deny,
                status: Some(refusal.status().as_u16()),
                reason: refusal.code(),
                policies: Vec::new(),
                risk_score: lease.risk.score,
                risk_factors: lease.risk.factors.clone(),
                policy_set: self.policy.policy_set_digest(),
                credential_ids: principal.credential_ids.clone(),
            };
            if self.audit.record(record).await.is_err() {
                tracing::error!("decision log unavailable while closing an exchange");
            }
        }
        outcome
    }

    async fn redecide_at(&self, lease: &Lease, now_ms: i64) -> Result<(), Refusal> {
        let identity = &lease.identity;
        match (&identity.session, &lease.bearer, self.authn.sessions()) {
            (Some(session), _, Some(sessions)) => {
                sessions
                    .recheck(self.authn.verifier(), session, now_ms)
                    .await?
            }
            (None, _, _) if identity.certified.is_some() => {
                if let Some(by) = &identity.certified {
                    self.authn.recheck_certificate(by, now_ms).await?;
                }
            }
            (None, _, _) if identity.signed.is_some() => {
                if let Some(signed) = &identity.signed {
                    self.authn
                        .signed()
                        .recheck(self.authn.verifier(), signed, now_ms / 1000)
                        .await?;
                }
            }
            (None, Some(bearer), _) => {
                let token = bearer
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("");
                self.authn
                    .verifier()
                    .recheck_presentation(token.trim(), now_ms / 1000)
                    .await
                    .map_err(|e| crate::request::refusal::credential_refusal(&e))?;
            }
            _ => {
                return Err(Refusal::new(
                    Reason::CredentialMissing,
                    "the exchange's credential cannot be checked again",
                ))
            }
        }
        let decision = self.ask(
            &Question {
                identity,
                method: &lease.method,
                app: &lease.route,
                host: &lease.host,
                path: &lease.path,
                client_ip: lease.client_ip,
                risk: &lease.risk,
            },
            now_ms / 1000,
        );
        match decision.effect {
            policy::Effect::Allow => Ok(()),
            _ => Err(Refusal::new(
                Reason::from_policy(decision.reason),
                "access to this resource is no longer allowed by policy",
            )),
        }
    }
}

/// What a policy decision is about.
struct Question<'q> {
    identity: &'q Identity,
    method: &'q Method,
    app: &'q str,
    host: &'q str,
    path: &'q str,
    client_ip: IpAddr,
    risk: &'q RiskAssessment,
}

impl Gateway {
    /// Cedar's decision on `q` at `now` (unix seconds).
    fn ask(&self, q: &Question<'_>, now: i64) -> policy::Decision {
        let principal = &q.identity.principal;
        let factor_names: Vec<&str> = q.risk.factor_names().collect();
        self.policy.decide(&DecisionRequest {
            principal_key: Some(q.identity.principal_key),
            principal_did: &principal.did,
            issuers: &principal.issuers,
            credential_types: &principal.credential_types,
            claims: &principal.claims,
            action: q.method.as_str(),
            app: q.app,
            host: q.host,
            path: q.path,
            auth_method: q.identity.auth_method.as_str(),
            client_ip: q.client_ip,
            now_unix: now,
            risk: RiskContext {
                score: q.risk.score,
                factors: &factor_names,
                cold_start: q.risk.cold_start,
            },
        })
    }
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
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
        Reason::AuditUnavailable,
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

pub(crate) use crate::clock::unix_ms;
