//! What a request must be before it is decided, so that what the policy
//! decides is what the app receives: one normalised target (`normalize.rs`),
//! one unambiguous host (RFC 9112 §3.2, RFC 9113 §8.3.1), and one method.

use std::borrow::Cow;

use http::header::{self, HeaderName};
use http::{HeaderValue, Method, Request, Version};

use crate::config::MethodOverride;
use crate::request::normalize::{normalize, Forms, Pass, PathError};
use crate::request::reason::Reason;
use crate::request::refusal::Refusal;

/// The headers some frameworks read as "the real method" of a POST.
pub const METHOD_OVERRIDE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// A request's target after normalisation. The request's URI holds the
/// canonical encoded path from then on.
#[derive(Debug)]
pub(crate) struct Target {
    /// The path as received, when normalising changed it (a route's own
    /// settings normalise it again from there).
    pub raw: Option<String>,
    /// The decoded path, when it is spelled differently from the URI's.
    decoded: Option<String>,
    pub forms: Forms,
}

impl Target {
    /// Normalise `req`'s path before a route is known.
    pub fn normalize<B>(req: &mut Request<B>) -> Result<Target, Refusal> {
        let n = normalize(req.uri().path(), Pass::FIRST).map_err(bad_path)?;
        let forms = n.forms;
        if let (Cow::Borrowed(_), Cow::Borrowed(_)) = (&n.decoded, &n.encoded) {
            // Already canonical: nothing to rewrite, nothing allocated.
            return Ok(Target {
                raw: None,
                decoded: None,
                forms,
            });
        }
        let (decoded, encoded) = (n.decoded.into_owned(), n.encoded.into_owned());
        let raw = req.uri().path().to_owned();
        set_path(req, &encoded)?;
        Ok(Target {
            raw: Some(raw),
            decoded: (decoded != encoded).then_some(decoded),
            forms,
        })
    }

    /// Normalise `raw` (the path as received) with a route's own settings.
    pub fn normalize_with<B>(
        req: &mut Request<B>,
        raw: &str,
        pass: Pass,
    ) -> Result<Target, Refusal> {
        let n = normalize(raw, pass).map_err(bad_path)?;
        let forms = n.forms;
        let (decoded, encoded) = (n.decoded.into_owned(), n.encoded.into_owned());
        set_path(req, &encoded)?;
        Ok(Target {
            raw: Some(raw.to_owned()),
            decoded: (decoded != encoded).then_some(decoded),
            forms,
        })
    }

    /// The decoded path: what routes, policies, the risk engine and the log see.
    pub fn decoded<'r, B>(&'r self, req: &'r Request<B>) -> &'r str {
        self.decoded.as_deref().unwrap_or(req.uri().path())
    }
}

fn bad_path(e: PathError) -> Refusal {
    Refusal::new(Reason::BadPath, e.to_string())
}

/// Replace the URI's path, keeping its query (and, for absolute-form or
/// HTTP/2 requests, its scheme and authority).
fn set_path<B>(req: &mut Request<B>, path: &str) -> Result<(), Refusal> {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| bad_path(PathError::NotOriginForm))?);
    *req.uri_mut() =
        http::Uri::from_parts(parts).map_err(|_| bad_path(PathError::NotOriginForm))?;
    Ok(())
}

fn host_invalid(message: &'static str) -> Refusal {
    Refusal::new(Reason::HostInvalid, message)
}

/// Exactly one well-formed host: HTTP/1.1 needs one `Host` header (RFC 9112
/// §3.2: none, or more than one, is 400); HTTP/2 needs `:authority` or
/// `Host`, and both must agree when both are sent (RFC 9113 §8.3.1).
pub(crate) fn check_host<B>(req: &Request<B>) -> Result<(), Refusal> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(host_invalid("the request has more than one Host header"));
    }
    if let Some(h) = host {
        if !is_authority(h) {
            return Err(host_invalid(
                "the Host header is not a host name with an optional port",
            ));
        }
    }
    match req.version() {
        Version::HTTP_09 | Version::HTTP_10 => {}
        Version::HTTP_11 => {
            if host.is_none() {
                return Err(host_invalid("an HTTP/1.1 request needs a Host header"));
            }
        }
        _ => {
            let authority = req.uri().authority();
            if authority.is_some_and(|a| a.as_str().contains('@')) {
                return Err(host_invalid(":authority must not hold user information"));
            }
            match (authority, host) {
                (Some(a), Some(h)) if !a.as_str().as_bytes().eq_ignore_ascii_case(h.as_bytes()) => {
                    return Err(host_invalid("the Host header differs from :authority"))
                }
                (None, None) => return Err(host_invalid("the request names no host")),
                _ => {}
            }
        }
    }
    Ok(())
}

/// `host[:port]`, no user information, not empty.
fn is_authority(v: &HeaderValue) -> bool {
    let Ok(s) = v.to_str() else { return false };
    !s.is_empty() && !s.contains('@') && s.parse::<http::uri::Authority>().is_ok()
}

fn override_invalid(message: &'static str) -> Refusal {
    Refusal::new(Reason::MethodOverrideInvalid, message)
}

/// The query parameter some frameworks (Laravel/Symfony, Express's
/// method-override with a query getter) read as "the real method".
pub const METHOD_OVERRIDE_PARAM: &str = "_method";

/// The method the policy decides on. With `Strip` the override headers and
/// `_method` query parameters are removed and the request is its own
/// method. With `Decide` a POST carrying an override is decided as the
/// method it claims (all override headers and `_method` parameters must
/// agree, and name a standard method), and the override is forwarded; an
/// override on any other method is refused, since apps honour it only on
/// POST and the policy would otherwise decide on a method the app does not
/// run.
///
/// A query parameter counts whatever its spelling decodes to
/// (`%5Fmethod`, `_method` after `;` as well as `&`): what any framework
/// could read as `_method` is treated as `_method`.
pub(crate) fn decided_method<B>(
    req: &mut Request<B>,
    mode: MethodOverride,
) -> Result<Method, Refusal> {
    match mode {
        MethodOverride::Strip => {
            let headers = req.headers_mut();
            for name in &METHOD_OVERRIDE_HEADERS {
                headers.remove(name);
            }
            strip_method_params(req)?;
            Ok(req.method().clone())
        }
        MethodOverride::Decide => {
            let mut claimed: Option<Cow<'_, [u8]>> = None;
            for name in &METHOD_OVERRIDE_HEADERS {
                for v in req.headers().get_all(name) {
                    agree(&mut claimed, Cow::Borrowed(v.as_bytes()))?;
                }
            }
            if let Some(query) = req.uri().query() {
                for (_, value) in method_params(query) {
                    agree(&mut claimed, Cow::Owned(value))?;
                }
            }
            let Some(v) = claimed else {
                return Ok(req.method().clone());
            };
            if req.method() != Method::POST {
                return Err(override_invalid(
                    "a method override is accepted on POST only",
                ));
            }
            match &*v {
                b"GET" => Ok(Method::GET),
                b"HEAD" => Ok(Method::HEAD),
                b"POST" => Ok(Method::POST),
                b"PUT" => Ok(Method::PUT),
                b"PATCH" => Ok(Method::PATCH),
                b"DELETE" => Ok(Method::DELETE),
                b"OPTIONS" => Ok(Method::OPTIONS),
                _ => Err(override_invalid(
                    "a method override must name a standard method in upper case",
                )),
            }
        }
    }
}

/// One more override claim: it must agree with those before it.
fn agree<'a>(claimed: &mut Option<Cow<'a, [u8]>>, v: Cow<'a, [u8]>) -> Result<(), Refusal> {
    if claimed.as_ref().is_some_and(|c| *c != v) {
        return Err(override_invalid("the method overrides disagree"));
    }
    *claimed = Some(v);
    Ok(())
}

/// The query's `_method` parameters: each one's byte range in `query`
/// (its separator not included) and its decoded value. Pairs are split on
/// `&` and `;` and decoded as forms are (`+` is a space, `%XX` a byte).
fn method_params(query: &str) -> impl Iterator<Item = (std::ops::Range<usize>, Vec<u8>)> + '_ {
    let mut start = 0;
    query
        .split(['&', ';'])
        .map(move |pair| {
            let range = start..start + pair.len();
            start = range.end + 1;
            (range, pair)
        })
        .filter_map(|(range, pair)| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = url::form_urlencoded::parse(name.as_bytes()).next()?.0;
            (name == METHOD_OVERRIDE_PARAM).then(|| {
                let value: Vec<u8> = url::form_urlencoded::parse(format!("v={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned().into_bytes())
                    .unwrap_or_default();
                (range, value)
            })
        })
}

/// Remove every `_method` parameter from the request's query; the request
/// is forwarded with what is left (no query if nothing is).
fn strip_method_params<B>(req: &mut Request<B>) -> Result<(), Refusal> {
    let Some(query) = req.uri().query() else {
        return Ok(());
    };
    let drop: Vec<std::ops::Range<usize>> = method_params(query).map(|(r, _)| r).collect();
    if drop.is_empty() {
        return Ok(());
    }
    let mut kept = String::with_capacity(query.len());
    let mut at = 0;
    for r in &drop {
        kept.push_str(&query[at..r.start]);
        at = (r.end + 1).min(query.len()); // the separator after it goes too
    }
    kept.push_str(&query[at..]);
    let kept = kept.trim_end_matches(['&', ';']);
    let path = req.uri().path();
    let pq = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{kept}")
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| {
        Refusal::new(
            Reason::BadRequestTarget,
            "the request target cannot be rebuilt",
        )
    })?);
    *req.uri_mut() = http::Uri::from_parts(parts).map_err(|_| {
        Refusal::new(
            Reason::BadRequestTarget,
            "the request target cannot be rebuilt",
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(version: Version, uri: &str, hosts: &[&str]) -> Request<()> {
        let mut b = Request::builder().version(version).uri(uri);
        for h in hosts {
            b = b.header(header::HOST, *h);
        }
        b.body(()).unwrap()
    }

    fn code(r: Result<(), Refusal>) -> &'static str {
        r.err().map_or("ok", |r| r.code())
    }

    #[test]
    fn one_host_for_http_1_1() {
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &["a.example"]))),
            "ok"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &["a.example:8080"]))),
            "ok"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &[]))),
            "host_invalid"
        );
        assert_eq!(
            code(check_host(&req(
                Version::HTTP_11,
                "/",
                &["a.example", "b.example"]
            ))),
            "host_invalid"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &["u@a.example"]))),
            "host_invalid"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &[""]))),
            "host_invalid"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_11, "/", &["a b"]))),
            "host_invalid"
        );
        // HTTP/1.0 may omit it.
        assert_eq!(code(check_host(&req(Version::HTTP_10, "/", &[]))), "ok");
    }

    #[test]
    fn http2_authority_and_host_agree() {
        let uri = "https://a.example/x";
        assert_eq!(code(check_host(&req(Version::HTTP_2, uri, &[]))), "ok");
        assert_eq!(
            code(check_host(&req(Version::HTTP_2, uri, &["A.example"]))),
            "ok"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_2, uri, &["b.example"]))),
            "host_invalid"
        );
        assert_eq!(
            code(check_host(&req(Version::HTTP_2, "/x", &[]))),
            "host_invalid"
        );
    }

    fn post(overrides: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(Method::POST).uri("/x");
        for (k, v) in overrides {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn method_overrides_are_stripped_by_default() {
        let mut r = post(&[
            ("x-http-method-override", "DELETE"),
            ("X-HTTP-Method", "PUT"),
        ]);
        assert_eq!(
            decided_method(&mut r, MethodOverride::Strip).unwrap(),
            Method::POST
        );
        assert!(METHOD_OVERRIDE_HEADERS
            .iter()
            .all(|h| !r.headers().contains_key(h)));
    }

    #[test]
    fn method_overrides_decided_as_claimed_when_configured() {
        let mut r = post(&[("x-http-method-override", "DELETE")]);
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide).unwrap(),
            Method::DELETE
        );
        assert!(
            r.headers().contains_key("x-http-method-override"),
            "forwarded"
        );
        let mut r = post(&[
            ("x-http-method-override", "DELETE"),
            ("x-method-override", "GET"),
        ]);
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide)
                .unwrap_err()
                .code(),
            "method_override_invalid"
        );
        let mut r = post(&[("x-http-method", "delete")]);
        assert!(decided_method(&mut r, MethodOverride::Decide).is_err());
        let mut r = post(&[("x-http-method", "TRACE")]);
        assert!(decided_method(&mut r, MethodOverride::Decide).is_err());
        let mut r = Request::builder()
            .method(Method::DELETE)
            .uri("/x")
            .header("x-http-method-override", "GET")
            .body(())
            .unwrap();
        assert!(decided_method(&mut r, MethodOverride::Decide).is_err());
        let mut r = post(&[]);
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide).unwrap(),
            Method::POST
        );
    }

    fn post_to(uri: &str) -> Request<()> {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(())
            .unwrap()
    }

    #[test]
    fn method_params_are_stripped_by_default_whatever_their_spelling() {
        for (uri, left) in [
            ("/x?_method=DELETE", "/x"),
            ("/x?a=1&_method=DELETE&b=2", "/x?a=1&b=2"),
            ("/x?a=1&%5Fmethod=DELETE", "/x?a=1"),
            ("/x?a=1;_method=DELETE", "/x?a=1"),
            (
                "/x?_method=PUT&_method=DELETE&keep=_method",
                "/x?keep=_method",
            ),
            ("/x?_method", "/x"),
            ("/x?a_method=1", "/x?a_method=1"),
            ("/x?a=1", "/x?a=1"),
        ] {
            let mut r = post_to(uri);
            assert_eq!(
                decided_method(&mut r, MethodOverride::Strip).unwrap(),
                Method::POST,
                "{uri}"
            );
            assert_eq!(r.uri().to_string(), left, "{uri}");
        }
    }

    #[test]
    fn a_method_param_is_an_override_like_the_headers() {
        let mut r = post_to("/x?_method=DELETE");
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide).unwrap(),
            Method::DELETE
        );
        assert_eq!(r.uri().to_string(), "/x?_method=DELETE", "forwarded");
        let mut r = post_to("/x?%5Fmethod=%44ELETE");
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide).unwrap(),
            Method::DELETE
        );
        // Disagreeing with a header, with itself, or naming a non-method.
        let mut r = post(&[("x-http-method-override", "PUT")]);
        *r.uri_mut() = "/x?_method=DELETE".parse().unwrap();
        assert_eq!(
            decided_method(&mut r, MethodOverride::Decide)
                .unwrap_err()
                .code(),
            "method_override_invalid"
        );
        for uri in [
            "/x?_method=PUT&_method=DELETE",
            "/x?_method=delete",
            "/x?_method",
        ] {
            let mut r = post_to(uri);
            assert!(
                decided_method(&mut r, MethodOverride::Decide).is_err(),
                "{uri}"
            );
        }
        let mut r = Request::builder()
            .uri("/x?_method=DELETE")
            .body(())
            .unwrap();
        assert!(
            decided_method(&mut r, MethodOverride::Decide).is_err(),
            "GET"
        );
    }

    #[test]
    fn targets_are_rewritten_to_the_canonical_path() {
        let mut r = Request::builder()
            .uri("/public/%2e%2e/eng/docs?q=%2e%2e")
            .body(())
            .unwrap();
        let t = Target::normalize(&mut r).unwrap();
        assert_eq!(
            r.uri().path_and_query().unwrap().as_str(),
            "/eng/docs?q=%2e%2e"
        );
        assert_eq!(t.decoded(&r), "/eng/docs");
        assert_eq!(t.raw.as_deref(), Some("/public/%2e%2e/eng/docs"));
        let mut r = Request::builder().uri("/caf%c3%a9").body(()).unwrap();
        let t = Target::normalize(&mut r).unwrap();
        assert_eq!(r.uri().path(), "/caf%C3%A9");
        assert_eq!(t.decoded(&r), "/café");
        let mut r = Request::builder().uri("/eng/docs").body(()).unwrap();
        let t = Target::normalize(&mut r).unwrap();
        assert!(t.raw.is_none() && t.decoded.is_none());
        let mut r = Request::builder().uri("/a%00").body(()).unwrap();
        assert_eq!(Target::normalize(&mut r).unwrap_err().code(), "bad_path");
    }
}
