//! Routes: host and path prefix → app (upstream + policy scope). Matching is a
//! linear scan over a list sorted most-specific first; it allocates nothing.
//! Paths are matched in their normalised, decoded form (`normalize.rs`).

use std::borrow::Cow;
use std::sync::Arc;

use http::Uri;

use crate::config::{MethodOverride, RouteConfig};
use crate::request::normalize::PathOptions;

#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    host: Option<String>,
    /// Decoded, normalised, without a trailing slash.
    prefix: String,
    /// The prefix as it is spelled in a forwarded (encoded) path.
    prefix_encoded: String,
    pub upstream: Upstream,
    pub strip_prefix: bool,
    pub forward_claims: Vec<String>,
    pub paths: PathOptions,
    pub method_override: MethodOverride,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Base path of the upstream URL without a trailing slash ("" for none).
    pub base_path: String,
}

#[derive(Debug, thiserror::Error)]
#[error("route {name}: upstream {url:?} is not an http(s) URL")]
pub struct RouteError {
    name: String,
    url: String,
}

#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(configs: &[RouteConfig]) -> Result<Self, RouteError> {
        let mut routes = configs
            .iter()
            .map(|c| {
                let bad = || RouteError {
                    name: c.name.clone(),
                    url: c.upstream.clone(),
                };
                let uri: Uri = c.upstream.parse().map_err(|_| bad())?;
                let scheme = uri.scheme().cloned().ok_or_else(bad)?;
                let authority = uri.authority().cloned().ok_or_else(bad)?;
                let prefix = c.path_prefix.trim_end_matches('/').to_owned();
                Ok(Route {
                    name: Arc::from(c.name.as_str()),
                    host: c
                        .host
                        .as_deref()
                        .filter(|h| *h != "*")
                        .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
                    prefix_encoded: crate::request::normalize::encode(&prefix),
                    prefix,
                    upstream: Upstream {
                        scheme,
                        authority,
                        base_path: uri.path().trim_end_matches('/').to_owned(),
                    },
                    strip_prefix: c.strip_prefix,
                    forward_claims: c.forward_claims.clone(),
                    paths: c.path_options(),
                    method_override: c.method_override,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        // Host-specific before wildcard, longer prefixes before shorter.
        routes.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.prefix.len().cmp(&a.prefix.len()))
        });
        Ok(Self { routes })
    }

    /// The route for a host (port already removed, any case) and path.
    pub fn find(&self, host: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && prefix_matches(&r.prefix, path)
        })
    }
}

impl Route {
    /// A route for one of the gateway's own resources, decided like a
    /// request to an app named `name` (Cedar: `Didgate::App::"name"`) and
    /// answered by the gateway itself: never forwarded.
    pub(crate) fn internal(name: &str, prefix: &str) -> Route {
        use crate::request::normalize::{FormAction, ParamAction};
        let prefix = prefix.trim_end_matches('/').to_owned();
        Route {
            name: Arc::from(name),
            host: None,
            prefix_encoded: crate::request::normalize::encode(&prefix),
            prefix,
            upstream: Upstream {
                scheme: http::uri::Scheme::HTTP,
                authority: http::uri::Authority::from_static("127.0.0.1"),
                base_path: String::new(),
            },
            strip_prefix: false,
            forward_claims: Vec::new(),
            paths: PathOptions {
                encoded_slashes: FormAction::Reject,
                backslashes: FormAction::Reject,
                path_parameters: ParamAction::Reject,
                merge_slashes: false,
            },
            method_override: MethodOverride::default(),
        }
    }
}

/// Prefix match on a segment boundary: "/eng" matches "/eng" and "/eng/x", not "/engineering".
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

impl Route {
    /// The upstream URI for a normalised, encoded path and the request's query.
    pub fn upstream_uri(
        &self,
        encoded_path: &str,
        query: Option<&str>,
    ) -> Result<Uri, http::Error> {
        let mut rest = encoded_path;
        if self.strip_prefix {
            rest = encoded_path
                .strip_prefix(self.prefix_encoded.as_str())
                .unwrap_or(encoded_path);
            if rest.is_empty() {
                // "/app" → "/"
                rest = "/";
            }
        }
        let mut pq = String::with_capacity(
            self.upstream.base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.upstream.base_path);
        pq.push_str(rest);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder()
            .scheme(self.upstream.scheme.clone())
            .authority(self.upstream.authority.clone())
            .path_and_query(pq)
            .build()
    }
}

/// Host without port, from the URI authority (HTTP/2, or an absolute-form
/// HTTP/1.1 target, which wins over `Host` as RFC 9112 §3.2.2 says) or the
/// Host header; lower-case, without a trailing dot, so that routes and
/// policies see one spelling of each name.
pub fn request_host<B>(req: &http::Request<B>) -> Cow<'_, str> {
    let raw = req
        .uri()
        .host()
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("");
    let host = strip_port(raw);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(
        name: &str,
        host: Option<&str>,
        prefix: &str,
        upstream: &str,
        strip: bool,
    ) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            host: host.map(Into::into),
            path_prefix: prefix.into(),
            upstream: upstream.into(),
            strip_prefix: strip,
            forward_claims: vec![],
            encoded_slashes: Default::default(),
            backslashes: Default::default(),
            path_parameters: Default::default(),
            merge_slashes: true,
            method_override: Default::default(),
        }
    }

    #[test]
    fn most_specific_route_wins() {
        let r = Router::new(&[
            cfg("all", None, "/", "http://a:1", false),
            cfg("eng", None, "/eng", "http://b:2", false),
            cfg("hr", Some("hr.example"), "/", "http://c:3", false),
        ])
        .unwrap();
        assert_eq!(&*r.find("x", "/eng/doc").unwrap().name, "eng");
        assert_eq!(&*r.find("x", "/engineering").unwrap().name, "all");
        assert_eq!(&*r.find("HR.example", "/eng").unwrap().name, "hr");
        assert_eq!(&*r.find("x", "/").unwrap().name, "all");
    }

    #[test]
    fn no_route_when_nothing_matches() {
        let r = Router::new(&[cfg("eng", None, "/eng", "http://b:2", false)]).unwrap();
        assert!(r.find("x", "/other").is_none());
    }

    #[test]
    fn upstream_uri_strips_and_joins() {
        let r = Router::new(&[cfg("api", None, "/api", "http://up:9/base/", true)]).unwrap();
        let route = r.find("h", "/api/v1").unwrap();
        assert_eq!(
            route.upstream_uri("/api/v1", Some("q=1")).unwrap(),
            "http://up:9/base/v1?q=1"
        );
        assert_eq!(
            route.upstream_uri("/api", None).unwrap(),
            "http://up:9/base/"
        );
        assert_eq!(
            route.upstream_uri("/api", Some("x")).unwrap(),
            "http://up:9/base/?x"
        );
        let r = Router::new(&[cfg("cafe", None, "/café", "http://up:9", true)]).unwrap();
        let route = r.find("h", "/café/menu").unwrap();
        assert_eq!(
            route.upstream_uri("/caf%C3%A9/menu", None).unwrap(),
            "http://up:9/menu"
        );
    }

    #[test]
    fn hosts_have_one_spelling() {
        let req = |host: &str| {
            http::Request::builder()
                .uri("/x")
                .header(http::header::HOST, host)
                .body(())
                .unwrap()
        };
        for spelling in [
            "HR.Example",
            "hr.example.",
            "hr.example:8443",
            "Hr.Example.:80",
        ] {
            assert_eq!(request_host(&req(spelling)), "hr.example", "{spelling}");
        }
        // An absolute-form target's authority wins over Host (RFC 9112 §3.2.2).
        let absolute = http::Request::builder()
            .uri("http://EN.example/x")
            .header(http::header::HOST, "hr.example")
            .body(())
            .unwrap();
        assert_eq!(request_host(&absolute), "en.example");
    }

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}
