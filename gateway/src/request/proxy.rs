//! Forwarding to the upstream: a pooled hyper client (HTTP/1.1, and HTTP/2
//! over TLS by ALPN), bodies streamed both ways, websocket/HTTP upgrades
//! spliced, hop-by-hop headers removed, `X-Forwarded-*` set by the gateway
//! (client-supplied copies are replaced, never trusted).

use std::net::IpAddr;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::request::body::{self, GatewayBody};
use crate::request::reason::Reason;
use crate::request::recheck::{Recheck, Watched};
use crate::request::refusal::Refusal;
use crate::request::route::Route;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Proxy {
    client: Client<Connector, GatewayBody>,
    response_timeout: Duration,
    /// A request body silent this long fails the exchange (408).
    request_body_timeout: Duration,
}

/// Everything the gateway adds to a forwarded request.
pub struct Forward<'a> {
    pub client_ip: IpAddr,
    pub tls: bool,
    pub host: &'a str,
    pub assertion: Option<(HeaderName, HeaderValue)>,
    pub decision_id: HeaderValue,
    /// Decides the exchange again while it stays open.
    pub recheck: Recheck,
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl Proxy {
    pub fn new(request_body_timeout: Duration) -> Result<Self, std::io::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Self {
            client,
            response_timeout: Duration::from_secs(60),
            request_body_timeout,
        })
    }

    /// How long a request body may stay silent.
    pub fn request_body_timeout(&self) -> Duration {
        self.request_body_timeout
    }

    /// Forward `req` to `route`'s upstream and stream the answer back.
    /// Forward an allowed request: rewritten for the upstream, sent with
    /// the deadlines, and its answer (or its websocket) handed back to the
    /// client, decided again while it stays open.
    /// `body`, when given, is the request's body already read (a signed
    /// request's, checked against its digest); otherwise it streams.
    pub async fn forward(
        &self,
        route: &Route,
        mut req: Request<Incoming>,
        body: Option<bytes::Bytes>,
        fwd: Forward<'_>,
    ) -> Result<Response<GatewayBody>, Refusal> {
        let client_upgrade = websocket_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
        let (upstream_req, recheck) =
            self.upstream_request(route, req, body, fwd, client_upgrade.is_some())?;
        let mut resp = self.send(route, upstream_req).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return splice_websocket(route, &mut resp, client_upgrade, recheck).map(|()| {
                let (parts, _) = resp.into_parts();
                Response::from_parts(parts, body::full(bytes::Bytes::new()))
            });
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        strip_gateway_set_cookies(&mut parts.headers);
        let body = body::stream(body);
        let body = if body.is_end_stream() {
            body
        } else {
            Watched::new(body, recheck).boxed()
        };
        Ok(Response::from_parts(parts, body))
    }

    /// The request as the upstream receives it: its URI, HTTP/1.1, what the
    /// client may not send stripped (hop-by-hop, forwarding facts, the
    /// gateway's cookies and credential), and what the gateway vouches for
    /// set (forwarding facts, the identity assertion, the decision id).
    /// Hands back the exchange's re-check, for the answer.
    fn upstream_request(
        &self,
        route: &Route,
        req: Request<Incoming>,
        read: Option<bytes::Bytes>,
        fwd: Forward<'_>,
        upgrade: bool,
    ) -> Result<(Request<GatewayBody>, Recheck), Refusal> {
        let uri = route
            .upstream_uri(req.uri().path(), req.uri().query())
            .map_err(|_| {
                Refusal::new(
                    Reason::BadRequestTarget,
                    "the request path cannot be forwarded",
                )
            })?;
        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        strip_gateway_headers(headers);
        strip_gateway_cookies(headers); // the session is the gateway's, not the app's
        headers.remove(header::AUTHORIZATION); // the credential was for the gateway, not the app
        headers.remove(header::HOST); // the client derives Host from the upstream URI
        if upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        headers.insert(X_FORWARDED_FOR.clone(), ip_header(fwd.client_ip));
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(if fwd.tls { "https" } else { "http" }),
        );
        if let Ok(h) = HeaderValue::from_str(fwd.host) {
            headers.insert(X_FORWARDED_HOST.clone(), h);
        }
        if let Some((name, value)) = fwd.assertion {
            headers.insert(name, value);
        }
        headers.insert(crate::request::assertion::DECISION_HEADER, fwd.decision_id);
        let body = match read {
            Some(bytes) => body::full(bytes),
            None => body::timed(body, self.request_body_timeout),
        };
        Ok((Request::from_parts(parts, body), fwd.recheck))
    }

    /// Send to the upstream within the response deadline; a stalled request
    /// body, an unreachable upstream and a late answer each have their reason.
    async fn send(
        &self,
        route: &Route,
        upstream_req: Request<GatewayBody>,
    ) -> Result<Response<Incoming>, Refusal> {
        let sent = tokio::time::timeout(self.response_timeout, self.client.request(upstream_req))
            .await
            .map(|r| r.map_err(|e| (body::is_body_timeout(&e), e.to_string())));
        match sent {
            Ok(Ok(r)) => Ok(r),
            Ok(Err((true, _))) => {
                let secs = self.request_body_timeout.as_secs();
                tracing::info!(route = %route.name, timeout_secs = secs,
                        "request body stalled; exchange aborted");
                Err(Refusal::new(
                    Reason::RequestBodyTimeout,
                    format!("no request body bytes arrived for {secs} s"),
                ))
            }
            Ok(Err((false, e))) => {
                tracing::warn!(route = %route.name, error = %e, "upstream request failed");
                Err(Refusal::new(
                    Reason::UpstreamUnavailable,
                    "the upstream application could not be reached",
                ))
            }
            Err(_) => Err(Refusal::new(
                Reason::UpstreamTimeout,
                "the upstream application did not answer in time",
            )),
        }
    }
}

/// An upstream's `101 Switching Protocols`: only the websocket upgrade the
/// client asked for is spliced (any other 101 would hand the app a raw byte
/// stream nobody decided on), until either side closes or the exchange is
/// no longer allowed.
fn splice_websocket(
    route: &Route,
    resp: &mut Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    recheck: Recheck,
) -> Result<(), Refusal> {
    let upstream_websocket = resp
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let Some(client_upgrade) = client_upgrade.filter(|_| upstream_websocket) else {
        tracing::warn!(route = %route.name, "upstream switched protocols without a websocket upgrade");
        return Err(Refusal::new(
            Reason::UpstreamBadUpgrade,
            "the upstream application switched to a protocol the gateway does not forward",
        ));
    };
    let upstream_upgrade = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok((client, upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                tokio::select! {
                    r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "upgraded connection closed with an error");
                        }
                    }
                    code = crate::request::recheck::refused(recheck) => {
                        tracing::info!(reason = code, "upgraded connection closed: no longer allowed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "protocol upgrade failed"),
        }
    });
    Ok(())
}

/// Whether the client asks for a websocket (RFC 6455 §4.1: an HTTP/1.1 GET
/// with `Connection: upgrade` and `Upgrade: websocket`). Other upgrades
/// (`h2c`, anything else) are not forwarded: the request goes on as a plain
/// request without its `Upgrade` header.
fn websocket_upgrade<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let mut upgrades = headers.get_all(header::UPGRADE).iter();
    let websocket = upgrades
        .next()
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        && upgrades.next().is_none();
    connection_upgrade
        && websocket
        && req.method() == http::Method::GET
        && req.version() == Version::HTTP_11
}

/// Remove hop-by-hop headers (RFC 9110 §7.6.1), including any named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(header::UPGRADE);
}

/// Remove every `x-didgate-*` header a client sent: only the gateway sets them.
pub fn strip_gateway_headers(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_client_supplied_fact(k.as_str()))
        .cloned()
        .collect();
    for k in spoofed {
        headers.remove(k);
    }
}

/// Headers an app or a framework may believe as facts about the client or
/// the request that only a proxy in front of it can know: the gateway's
/// own (`x-didgate-*`), the forwarding family (`forwarded`,
/// `x-forwarded-*`, the client-address headers of other proxies and CDNs),
/// and the URL rewrites some frameworks route by (`x-original-url`,
/// `x-rewrite-url`, `x-original-uri`), which would let a client name one
/// path to the policy and another to the app. The gateway sets
/// `x-forwarded-for/-proto/-host` itself afterwards.
fn is_client_supplied_fact(name: &str) -> bool {
    const EXACT: [&str; 11] = [
        "forwarded",
        "x-real-ip",
        "x-client-ip",
        "client-ip",
        "true-client-ip",
        "x-cluster-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-original-uri",
    ];
    // Header names are lower case in a HeaderMap.
    name.starts_with("x-didgate-") || name.starts_with("x-forwarded-") || EXACT.contains(&name)
}

/// Cookies the gateway sets (the session and the login cookie): named
/// `didgate_*` or `__Host-didgate*`.
fn is_gateway_cookie(name: &str) -> bool {
    name.starts_with("didgate_") || name.starts_with("__Host-didgate")
}

/// Remove the gateway's cookies from what the upstream sees: an app (or
/// whoever reads its logs) never holds a session secret. Other cookies pass
/// as they came.
pub fn strip_gateway_cookies(headers: &mut HeaderMap) {
    let touches = headers
        .get_all(header::COOKIE)
        .iter()
        .any(|v| memchr_didgate(v.as_bytes()));
    if !touches {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_gateway_cookie(pair.split('=').next().unwrap_or("")))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// An upstream cannot set (or clear) the gateway's cookies.
pub fn strip_gateway_set_cookies(headers: &mut HeaderMap) {
    let foreign = headers.get_all(header::SET_COOKIE).iter().any(|v| {
        let name = v
            .as_bytes()
            .split(|b| *b == b'=')
            .next()
            .unwrap_or_default();
        is_gateway_cookie(std::str::from_utf8(name).unwrap_or("").trim())
    });
    if !foreign {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v
                .as_bytes()
                .split(|b| *b == b'=')
                .next()
                .unwrap_or_default();
            !is_gateway_cookie(std::str::from_utf8(name).unwrap_or("").trim())
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

fn memchr_didgate(b: &[u8]) -> bool {
    b.windows(7).any(|w| w == b"didgate")
}

fn ip_header(ip: IpAddr) -> HeaderValue {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-app", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-app"));
    }

    #[test]
    fn spoofed_gateway_headers_removed() {
        let mut h = HeaderMap::new();
        h.insert("x-didgate-assertion", HeaderValue::from_static("forged"));
        h.insert(
            "X-DidGate-Subject",
            HeaderValue::from_static("did:key:evil"),
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_gateway_headers(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn client_facts_and_url_rewrites_never_come_from_the_client() {
        let mut h = HeaderMap::new();
        for name in [
            "Forwarded",
            "X-Forwarded-For",
            "X-Forwarded-Prefix",
            "X-Forwarded-Port",
            "X-Forwarded-Server",
            "X-Real-IP",
            "X-Client-IP",
            "Client-IP",
            "True-Client-IP",
            "X-Cluster-Client-IP",
            "CF-Connecting-IP",
            "Fastly-Client-IP",
            "X-Original-URL",
            "X-Rewrite-URL",
            "X-Original-URI",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("forged"),
            );
        }
        h.insert("x-forwardedish", HeaderValue::from_static("kept"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_gateway_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-forwardedish"]);
    }

    #[test]
    fn gateway_cookies_never_reach_the_app() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("app=1; didgate_session=s3cr3t; theme=dark"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-didgate=x; didgate_login=y"),
        );
        strip_gateway_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "app=1; theme=dark");
        let mut only = HeaderMap::new();
        only.insert(
            header::COOKIE,
            HeaderValue::from_static("didgate_session=s"),
        );
        strip_gateway_cookies(&mut only);
        assert!(!only.contains_key(header::COOKIE));
        // Untouched when there is nothing of the gateway's.
        let mut other = HeaderMap::new();
        other.insert(header::COOKIE, HeaderValue::from_static("a=1;b=2"));
        strip_gateway_cookies(&mut other);
        assert_eq!(other[header::COOKIE], "a=1;b=2");
    }

    #[test]
    fn apps_cannot_set_gateway_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("app=1; Path=/"),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("didgate_session=fixated; Path=/"),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("__Host-didgate=fixated; Path=/; Secure"),
        );
        strip_gateway_set_cookies(&mut h);
        let left: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(left, vec!["app=1; Path=/"]);
    }

    #[test]
    fn only_websocket_upgrades_are_forwarded() {
        let req = |method: http::Method, conn: Option<&str>, up: &[&str]| {
            let mut b = Request::builder().method(method).uri("/ws");
            if let Some(c) = conn {
                b = b.header(header::CONNECTION, c);
            }
            for u in up {
                b = b.header(header::UPGRADE, *u);
            }
            b.body(()).unwrap()
        };
        use http::Method;
        assert!(!websocket_upgrade(&req(Method::GET, None, &["websocket"])));
        assert!(websocket_upgrade(&req(
            Method::GET,
            Some("keep-alive, Upgrade"),
            &["websocket"]
        )));
        assert!(websocket_upgrade(&req(
            Method::GET,
            Some("upgrade"),
            &["WebSocket"]
        )));
        for other in ["h2c", "TLS/1.2", "websocket, h2c"] {
            assert!(
                !websocket_upgrade(&req(Method::GET, Some("upgrade"), &[other])),
                "{other}"
            );
        }
        assert!(!websocket_upgrade(&req(
            Method::GET,
            Some("upgrade"),
            &["websocket", "h2c"]
        )));
        assert!(!websocket_upgrade(&req(
            Method::POST,
            Some("upgrade"),
            &["websocket"]
        )));
    }
}
