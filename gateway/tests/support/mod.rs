//! Gateway test harness: a real gateway on an ephemeral port in front of a
//! real upstream (the sample app), with real keys, credentials and policies.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bytes::Bytes;
use credentials::{CredentialRequest, Format, KeyType, PresentationRequest, SigningKey};
use didgate::sample_app::SampleApp;
use didgate::{Config, RunningGateway};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};

pub const POLICIES: &str = r#"
@id("employees-read")
permit (principal, action in Didgate::Action::"read", resource)
when { context.credential_types.contains("EmployeeCredential") };

@id("engineers-eng")
permit (principal, action == Didgate::Action::"GET", resource)
when { resource.path like "/eng/*" && principal.claims has EmployeeCredential.department && principal.claims.EmployeeCredential.department == "eng" };

@id("admins-write")
permit (principal, action in Didgate::Action::"write", resource)
when { principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "admin" };

@id("no-secrets")
forbid (principal, action, resource)
when { resource.path like "/secret*" };
"#;

/// An identity with its key.
pub struct Who {
    pub key: SigningKey,
    pub did: String,
    pub kid: String,
}

impl Who {
    pub fn new(kt: KeyType, jwk_method: bool) -> Self {
        let key = SigningKey::generate(kt);
        let public = key.public_key();
        let did = if jwk_method {
            did_registry::did_jwk(&public)
        } else {
            did_registry::did_key(&public)
        };
        let kid = did_registry::default_key_id(&did).unwrap();
        Who { key, did, kid }
    }
}

pub struct Harness {
    pub gw: Option<RunningGateway>,
    pub url: String,
    pub addr: SocketAddr,
    pub app: SampleApp,
    pub dir: PathBuf,
    pub issuer: Who,
    pub rogue_issuer: Who,
    pub alice: Who,
    pub carol: Who,
    pub audience: String,
    pub config: Config,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "didgate-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Harness {
    /// Gateway with SQLite (or `db_url`), routes: "/" → sample app, plus `extra_routes` TOML.
    pub async fn start(db_url: Option<String>, extra_routes: &str) -> Self {
        Self::start_with(db_url, "", extra_routes).await
    }

    /// Like [`Harness::start`], with `credentials` TOML keys added to `[credentials]`.
    pub async fn start_with(db_url: Option<String>, credentials: &str, extra_routes: &str) -> Self {
        Self::start_full(db_url, "", credentials, extra_routes, "").await
    }

    /// Everything configurable: keys added to `[server]` and `[credentials]`,
    /// TOML appended at the end, and Cedar policies added to [`POLICIES`].
    pub async fn start_full(
        db_url: Option<String>,
        server: &str,
        credentials: &str,
        extra_routes: &str,
        extra_policies: &str,
    ) -> Self {
        Self::start_publishing(
            db_url,
            server,
            credentials,
            extra_routes,
            extra_policies,
            &[],
        )
        .await
    }

    /// [`Harness::start_full`], with the URL prefixes the harness's issuer
    /// publishes its status lists at (`status_list_urls`).
    pub async fn start_publishing(
        db_url: Option<String>,
        server: &str,
        credentials: &str,
        extra_routes: &str,
        extra_policies: &str,
        status_list_urls: &[String],
    ) -> Self {
        let dir = tempdir("gw");
        let app = SampleApp::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None)
            .await
            .unwrap();
        let issuer = Who::new(KeyType::Ed25519, false);
        let rogue_issuer = Who::new(KeyType::Ed25519, false);
        let alice = Who::new(KeyType::Ed25519, false);
        let carol = Who::new(KeyType::Secp256k1, true);
        std::fs::write(
            dir.join("schema.cedarschema"),
            include_str!("../../../deploy/policies/didgate.cedarschema"),
        )
        .unwrap();
        std::fs::write(
            dir.join("test.cedar"),
            format!("{POLICIES}\n{extra_policies}"),
        )
        .unwrap();
        let audience = "https://gateway.test".to_owned();
        let db = db_url.unwrap_or_else(|| "sqlite://decisions.db".into());
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
public_url = "{audience}"
{server}
[credentials]
{credentials}
[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["{iss}"]
status_list_urls = {status_urls:?}
[policy]
schema = "schema.cedarschema"
policies = ["test.cedar"]
reload_interval_secs = 1
[database]
url = "{db}"
[[route]]
name = "demo"
upstream = "http://{app}"
forward_claims = ["role", "department"]
{extra_routes}
"#,
            iss = issuer.did,
            app = app.addr,
            status_urls = status_list_urls,
        );
        std::fs::write(dir.join("didgate.toml"), &toml).unwrap();
        let config = Config::load(&dir.join("didgate.toml")).unwrap();
        let gw = didgate::start(&config).await.unwrap();
        let addr = gw.http_addr.unwrap();
        Harness {
            url: format!("http://{addr}"),
            addr,
            gw: Some(gw),
            app,
            dir,
            issuer,
            rogue_issuer,
            alice,
            carol,
            audience,
            config,
        }
    }

    /// A second gateway with this one's config but HTTPS only (a fresh
    /// self-signed certificate for "localhost") and its own SQLite database
    /// in `dir`; its port and the roots that trust its certificate.
    pub async fn start_https_twin(
        &self,
        dir: &std::path::Path,
    ) -> (RunningGateway, u16, rustls::RootCertStore) {
        self.start_https_twin_with(dir, didgate::config::ClientAuth::None)
            .await
    }

    /// [`Self::start_https_twin`], asking clients for certificates as
    /// `client_auth` says.
    pub async fn start_https_twin_with(
        &self,
        dir: &std::path::Path,
        client_auth: didgate::config::ClientAuth,
    ) -> (RunningGateway, u16, rustls::RootCertStore) {
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        didgate::server::tls::write_self_signed(&cert, &key, &["localhost"]).unwrap();
        let mut cfg = self.config.clone();
        cfg.server.listen = None;
        cfg.server.listen_tls = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        cfg.server.tls = Some(didgate::config::TlsConfig {
            cert: cert.clone(),
            key,
            client_auth,
        });
        cfg.database.url = format!("sqlite://{}", dir.join("tls.db").display());
        cfg.audit.dir = dir.join("tls-log");
        let gw = didgate::start(&cfg).await.unwrap();
        let port = gw.https_addr.unwrap().port();
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&cert).unwrap();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.unwrap()).unwrap();
        }
        (gw, port, roots)
    }

    pub fn gw(&self) -> &RunningGateway {
        self.gw.as_ref().unwrap()
    }

    pub fn vc_by(
        &self,
        issuer: &Who,
        subject: &str,
        claims: Value,
        now: i64,
        valid_for: i64,
        format: Format,
    ) -> String {
        let claims: Map<String, Value> = match claims {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        credentials::issue_credential(
            &issuer.key,
            &issuer.kid,
            &CredentialRequest {
                issuer: issuer.did.clone(),
                subject: subject.to_owned(),
                types: vec!["EmployeeCredential".into()],
                claims,
                valid_for_secs: Some(valid_for),
                id: None,
                format,
            },
            now,
        )
        .unwrap()
    }

    pub fn employee_vc(&self, who: &Who, role: &str, department: &str) -> String {
        self.vc_by(
            &self.issuer,
            &who.did,
            json!({"role": role, "department": department}),
            now(),
            3600,
            Format::JwtVc11,
        )
    }

    pub fn vp_for(
        &self,
        who: &Who,
        vcs: Vec<String>,
        audience: &str,
        now: i64,
        format: Format,
    ) -> String {
        credentials::present(
            &who.key,
            &who.kid,
            &PresentationRequest {
                holder: who.did.clone(),
                audience: audience.to_owned(),
                nonce: None,
                valid_for_secs: 120,
                credentials: vcs,
                format,
            },
            now,
        )
        .unwrap()
    }

    /// A fresh VP for `who` (an engineer in eng) answering `nonce`.
    pub fn vp_with_nonce(&self, who: &Who, nonce: Option<&str>) -> String {
        let vc = self.employee_vc(who, "engineer", "eng");
        credentials::present(
            &who.key,
            &who.kid,
            &PresentationRequest {
                holder: who.did.clone(),
                audience: self.audience.clone(),
                nonce: nonce.map(str::to_owned),
                valid_for_secs: 120,
                credentials: vec![vc],
                format: Format::JwtVc11,
            },
            now(),
        )
        .unwrap()
    }

    /// A fresh VP for alice (engineer in eng).
    pub fn alice_vp(&self) -> String {
        let vc = self.employee_vc(&self.alice, "engineer", "eng");
        self.vp_for(
            &self.alice,
            vec![vc],
            &self.audience,
            now(),
            Format::JwtVc11,
        )
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Resp {
        send(&self.url, method, path, bearer, extra, Bytes::new()).await
    }

    /// Wait until the decision index holds at least `n` rows and every
    /// entry appended before this call; return the rows newest first.
    pub async fn decisions(&self, n: i64) -> Vec<audit::StoredDecision> {
        use std::sync::atomic::Ordering;
        let gw = self.gw();
        let appended = gw.audit_stats().size.load(Ordering::Acquire);
        for _ in 0..400 {
            if gw.audit_stats().indexed.load(Ordering::Acquire) >= appended
                && gw.store.decisions().count().await.unwrap() >= n
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        gw.store.decisions().recent(1000).await.unwrap()
    }

    /// Wait (up to 5 s) until the decision log holds a decision with each
    /// of `reasons`; return the log, newest first.
    pub async fn decisions_with(&self, reasons: &[&str]) -> Vec<audit::StoredDecision> {
        let store = &self.gw().store;
        let mut rows = Vec::new();
        for _ in 0..200 {
            rows = store.decisions().recent(10_000).await.unwrap();
            if reasons.iter().all(|r| rows.iter().any(|d| d.reason == *r)) {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let have: Vec<&str> = rows.iter().map(|d| d.reason.as_str()).collect();
        panic!("the decision log lacks some of {reasons:?}: {have:?}");
    }

    pub async fn stop(mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown().await;
        }
        self.app.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// Assert a 200, showing the body when it is not.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    /// The gateway's refusal code.
    pub fn code(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

pub async fn send(
    base: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    extra: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    send_request(req.body(Full::new(body)).unwrap()).await
}

/// Send a request built whole; the answer, its body read.
pub async fn send_request(req: Request<Full<Bytes>>) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Run the `didgate` binary; its output.
pub fn didgate_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_didgate"))
        .env("DIDGATE_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

/// Run `didgate args…`; it must succeed; its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = didgate_cli(args);
    assert!(
        out.status.success(),
        "didgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `didgate args…`; it must fail, with a message that contains `expect`, and no panic.
pub fn run_err(args: &[&str], expect: &str) {
    let out = didgate_cli(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "didgate {args:?} should fail");
    assert!(err.contains(expect), "didgate {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// An HTTPS client trusting `roots`, speaking HTTP/2 only or HTTP/1.1 only
/// (offered by ALPN), with or without TLS session resumption.
pub fn https_client(
    roots: &rustls::RootCertStore,
    http2: bool,
    resumption: bool,
) -> Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
> {
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    if !resumption {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let b = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let conn = if http2 {
        b.enable_http2().build()
    } else {
        b.enable_http1().build()
    };
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build(conn)
}

/// A browser's cookies, as the gateway set them (name → value).
#[derive(Debug, Default, Clone)]
pub struct Jar(pub std::collections::BTreeMap<String, String>);

impl Jar {
    /// Take the `Set-Cookie` headers of a response (Max-Age=0 removes).
    pub fn take(&mut self, resp: &Resp) {
        for v in resp.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.0.remove(k);
            } else {
                self.0.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// GET `path` from the gateway at `base` with a `Cookie` header.
pub async fn get_with_cookie(base: &str, path: &str, cookie: &str) -> Resp {
    send(
        base,
        Method::GET,
        path,
        None,
        &[("cookie", cookie)],
        Bytes::new(),
    )
    .await
}

/// A browser's session with the gateway at `base`: GET with its cookies.
pub async fn browser_get(base: &str, jar: &mut Jar, path: &str, extra: &[(&str, &str)]) -> Resp {
    let cookie = jar.header();
    let mut headers: Vec<(&str, &str)> = vec![("accept", "text/html,application/xhtml+xml")];
    if !cookie.is_empty() {
        headers.push(("cookie", &cookie));
    }
    headers.extend_from_slice(extra);
    let r = send(base, Method::GET, path, None, &headers, Bytes::new()).await;
    jar.take(&r);
    r
}

/// The `openid4vp://` request shown on a login page.
pub fn request_on_page(page: &Resp) -> didgate::login::openid4vp::AuthorizationRequest {
    let html = String::from_utf8_lossy(&page.body);
    let start = html
        .find("id=\"request-url\">")
        .expect("request on the page")
        + 17;
    let end = start + html[start..].find("</code>").unwrap();
    let url = html[start..end].replace("&amp;", "&");
    didgate::login::openid4vp::AuthorizationRequest::from_url(&url).unwrap()
}

impl Harness {
    /// A presentation answering a login request: audience = its client_id,
    /// nonce = its nonce.
    pub fn login_vp(
        &self,
        who: &Who,
        vcs: Vec<String>,
        req: &didgate::login::openid4vp::AuthorizationRequest,
    ) -> String {
        credentials::present(
            &who.key,
            &who.kid,
            &PresentationRequest {
                holder: who.did.clone(),
                audience: req.client_id.clone(),
                nonce: Some(req.nonce.clone()),
                valid_for_secs: 120,
                credentials: vcs,
                format: Format::JwtVc11,
            },
            now(),
        )
        .unwrap()
    }

    /// POST a wallet's answer (form body) to the gateway's response endpoint.
    pub async fn post_wallet_answer(&self, form: String) -> Resp {
        send(
            &self.url,
            Method::POST,
            "/.didgate/login/response",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from(form),
        )
        .await
    }

    /// The whole login of `who` with `vcs` in a fresh browser, same-device:
    /// login page, wallet answer, the wallet's redirect. Returns the jar
    /// holding the session cookie.
    pub async fn browser_login(&self, who: &Who, vcs: Vec<String>) -> Jar {
        let mut jar = Jar::default();
        let page = browser_get(
            &self.url,
            &mut jar,
            "/.didgate/login?return_to=/eng/docs",
            &[],
        )
        .await;
        assert_eq!(page.status, StatusCode::OK);
        let req = request_on_page(&page);
        let vp = self.login_vp(who, vcs, &req);
        let answer = didgate::login::openid4vp::AuthorizationResponse::Presentation {
            state: req.state.clone(),
            vp_token: vp,
        };
        let r = self.post_wallet_answer(answer.to_form()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let next = r.json()["redirect_uri"].as_str().unwrap().to_owned();
        let path = local_part(&next);
        let done = browser_get(&self.url, &mut jar, &path, &[]).await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{}",
            String::from_utf8_lossy(&done.body)
        );
        assert_eq!(done.headers["location"], "/eng/docs");
        jar
    }
}

/// The path and query of an absolute URL (the gateway's public URL is not
/// where the test gateway listens).
pub fn local_part(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

// ---- Fault injection (gateway/tests/fault_*.rs): what clients saw, checked
// against the decision log.

impl Resp {
    /// The decision id of this answer: a refusal's `decision_id`, or the
    /// `x-didgate-decision-id` the upstream (the sample app) received and
    /// echoed; `None` for anything else.
    pub fn decision_id(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v.get("decision_id")
            .or_else(|| {
                v.get("headers")?
                    .get(didgate::request::assertion::DECISION_HEADER)
            })
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// One answered request as its client saw it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// The refusal's reason code, or "allowed" for a 200.
    pub code: String,
    pub decision_id: Option<String>,
    pub at: std::time::Instant,
}

impl Answer {
    pub fn of(r: &Resp) -> Answer {
        Answer {
            status: r.status,
            code: if r.status == StatusCode::OK {
                "allowed".to_owned()
            } else {
                serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            },
            decision_id: r.decision_id(),
            at: std::time::Instant::now(),
        }
    }

    pub fn is(&self, status: StatusCode, code: &str) -> bool {
        self.status == status && self.code == code
    }
}

/// [`send`], with a transport failure returned instead of a panic (load
/// clients count them).
pub async fn try_send(base: &str, path: &str, bearer: Option<&str>) -> Result<Resp, String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().uri(format!("{base}{path}"));
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let resp = client
        .request(
            req.body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Nothing answered was lost, nothing was logged twice: wait (up to
/// `within`) until every answered decision is in `store`, then check that
/// each answer but `503 audit_unavailable` has exactly one row, that
/// refusals for `audit_unavailable` (which the log could not take) have
/// none, and that the rows whose path is `path` are exactly those answers.
/// Returns (answers logged, audit_unavailable refusals).
pub async fn assert_each_answer_logged_once(
    store: &didgate::store::Store,
    answers: &[Answer],
    path: &str,
    within: std::time::Duration,
) -> (usize, usize) {
    use std::collections::{HashMap, HashSet};
    let mut expected = HashSet::new();
    let mut unlogged = HashSet::new();
    for a in answers {
        let id = a
            .decision_id
            .clone()
            .unwrap_or_else(|| panic!("an answer without a decision id: {a:?}"));
        let fresh = if a.is(StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable") {
            unlogged.insert(id)
        } else {
            expected.insert(id)
        };
        assert!(fresh, "two answers with one decision id: {a:?}");
    }
    let deadline = std::time::Instant::now() + within;
    let rows = loop {
        let rows = store.decisions().recent(1_000_000).await;
        if let Ok(rows) = rows {
            let have: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let missing = expected
                .iter()
                .filter(|id| !have.contains(id.as_str()))
                .count();
            if missing == 0 {
                break rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{missing} of {} answered decisions are not in the log after {within:?}",
                expected.len()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        *per_id.entry(r.id.as_str()).or_default() += 1;
    }
    assert!(per_id.values().all(|n| *n == 1), "a decision logged twice");
    for id in &unlogged {
        assert!(
            !per_id.contains_key(id.as_str()),
            "a request refused as audit_unavailable has a row: {id}"
        );
    }
    let at_path: HashSet<&str> = rows
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.id.as_str())
        .collect();
    let answered: HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        at_path.len(),
        answered.len(),
        "rows at {path} that no client saw answered: {:?}",
        at_path.difference(&answered).take(5).collect::<Vec<_>>()
    );
    (expected.len(), unlogged.len())
}

/// Anvil's well-known dev accounts 0 and 1 (unlocked on the node): address, secret key.
pub const ANVIL_ACCOUNTS: [(&str, &str); 2] = [
    (
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
];

/// An anvil dev account as a did:ethr holder on network `dev`, signing
/// with its controller key.
pub fn anvil_holder(account: (&str, &str)) -> Who {
    let (address, secret) = account;
    let sk = k256::SecretKey::from_slice(&hex::decode(secret).unwrap()).unwrap();
    let jwk: credentials::Jwk = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    let did = format!("did:ethr:dev:{address}");
    Who {
        key: SigningKey::from_jwk(&jwk).unwrap(),
        kid: format!("{did}#controller"),
        did,
    }
}

impl Harness {
    /// A fresh presentation by `who` (an engineer in eng) from the trusted issuer.
    pub fn fresh_vp(&self, who: &Who) -> String {
        let vc = self.employee_vc(who, "engineer", "eng");
        self.vp_for(who, vec![vc], &self.audience, now(), Format::JwtVc11)
    }

    /// One GET of `path` by `who` with a fresh presentation; what it saw.
    pub async fn probe(&self, who: &Who, path: &str) -> Answer {
        let vp = self.fresh_vp(who);
        Answer::of(&self.send(Method::GET, path, Some(&vp), &[]).await)
    }

    /// Replace the gateway with one started from this config as `edit`
    /// changes it (same database and upstream; a new port).
    pub async fn reconfigure(&mut self, edit: impl FnOnce(&mut Config)) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown().await;
        }
        edit(&mut self.config);
        let gw = didgate::start(&self.config).await.unwrap();
        self.addr = gw.http_addr.unwrap();
        self.url = format!("http://{}", self.addr);
        self.gw = Some(gw);
    }
}

/// Steady load for fault tests: `clients` tasks, each sending one GET of
/// `path` with a fresh presentation of alice's after another (10 ms apart)
/// until stopped, keeping every answer with the phase it was sent in.
pub struct Load {
    answers: std::sync::Arc<std::sync::Mutex<Vec<(u8, Answer)>>>,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(h: &std::sync::Arc<Harness>, clients: usize, path: &'static str) -> Load {
        use std::sync::atomic::Ordering;
        let load = Load {
            answers: Default::default(),
            errors: Default::default(),
            phase: Default::default(),
            stop: Default::default(),
            tasks: Vec::new(),
        };
        let tasks = (0..clients)
            .map(|_| {
                let h = h.clone();
                let (answers, errors) = (load.answers.clone(), load.errors.clone());
                let (phase, stop) = (load.phase.clone(), load.stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let sent_in = phase.load(Ordering::Relaxed);
                        let vp = h.fresh_vp(&h.alice);
                        match try_send(&h.url, path, Some(&vp)).await {
                            Ok(r) => answers.lock().unwrap().push((sent_in, Answer::of(&r))),
                            Err(e) => errors.lock().unwrap().push(e),
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        Load { tasks, ..load }
    }

    /// Requests sent from now on are counted in `phase`.
    pub fn set_phase(&self, phase: u8) {
        self.phase
            .store(phase, std::sync::atomic::Ordering::Relaxed);
    }

    /// The answers so far, with the phase each request was sent in.
    pub fn answers(&self) -> Vec<(u8, Answer)> {
        self.answers.lock().unwrap().clone()
    }

    /// How many answers so far were sent in `phase` and are (`status`, `code`).
    pub fn count(&self, phase: u8, status: StatusCode, code: &str) -> usize {
        count_answers(&self.answers.lock().unwrap(), phase, status, code)
    }

    /// Wait (up to `within`) until a request sent in `phase` is answered
    /// (`status`, `code`); when it was answered.
    pub async fn wait_for(
        &self,
        phase: u8,
        status: StatusCode,
        code: &str,
        within: std::time::Duration,
    ) -> std::time::Instant {
        let deadline = std::time::Instant::now() + within;
        loop {
            let found = self
                .answers
                .lock()
                .unwrap()
                .iter()
                .find_map(|(p, a)| (*p == phase && a.is(status, code)).then_some(a.at));
            if let Some(at) = found {
                return at;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {status} {code} in phase {phase} within {within:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Stop the clients; every answer and every transport error.
    pub async fn stop(self) -> (Vec<(u8, Answer)>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let answers = std::mem::take(&mut *self.answers.lock().unwrap());
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        (answers, errors)
    }
}

/// How many of `answers` were sent in `phase` and are (`status`, `code`).
pub fn count_answers(answers: &[(u8, Answer)], phase: u8, status: StatusCode, code: &str) -> usize {
    answers
        .iter()
        .filter(|(p, a)| *p == phase && a.is(status, code))
        .count()
}

/// A service: its key, its did:key, and signers and client certificates
/// for it (signed requests and mutual TLS).
pub struct Service {
    pub key: SigningKey,
    pub did: String,
    pub keyid: String,
}

impl Service {
    pub fn new(kind: KeyType) -> Self {
        let key = SigningKey::generate(kind);
        let did = did_registry::did_key(&key.public_key());
        let keyid = did_registry::default_key_id(&did).unwrap();
        Service { key, did, keyid }
    }

    /// A signer with the service's key, under its own key id.
    pub fn signer(&self) -> didgate_client::Signer {
        self.signer_for(&self.keyid)
    }

    /// A signer with the service's key, under `keyid` (right or wrong).
    pub fn signer_for(&self, keyid: &str) -> didgate_client::Signer {
        didgate_client::Signer::new(SigningKey::from_jwk(&self.key.to_jwk()).unwrap(), keyid)
            .unwrap()
    }

    /// A self-signed client certificate naming the service's key id.
    pub fn cert(&self) -> didgate_client::ClientCertificate {
        self.signer()
            .client_certificate(std::time::Duration::from_secs(3600))
            .unwrap()
    }
}

impl Harness {
    /// A presentation by service `who` of an EmployeeCredential in
    /// `department`, from the harness's issuer, for the gateway's audience.
    pub fn service_presentation(&self, who: &Service, department: &str) -> String {
        let vc = self.vc_by(
            &self.issuer,
            &who.did,
            json!({"role": "service", "department": department}),
            now(),
            3600,
            Format::JwtVc11,
        );
        credentials::present(
            &who.key,
            &who.keyid,
            &PresentationRequest {
                holder: who.did.clone(),
                audience: self.audience.clone(),
                nonce: None,
                valid_for_secs: 120,
                credentials: vec![vc],
                format: Format::JwtVc11,
            },
            now(),
        )
        .unwrap()
    }
}
