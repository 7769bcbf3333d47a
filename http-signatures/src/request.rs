//! The request a signature base is built from: method, target URI and
//! headers borrowed from an `http` request, plus what only the receiver
//! knows (the scheme it was reached on, the authority it trusts).

use std::borrow::Cow;

use http::uri::Scheme;
use http::{HeaderMap, Method, Uri, Version};

use crate::component::Component;
use crate::error::Error;
use crate::{field, query};

/// A borrowed view of a request, enough to derive every covered component.
///
/// A verifier builds it from the request as received, before any rewriting
/// of its target: the signer signed the target it sent. The body is not
/// read (cover `content-digest` and check it with
/// [`crate::content_digest::verify`]).
///
/// A signer builds it from its outgoing request. `@request-target` is the
/// absolute form when an HTTP/1.x request's URI is absolute, which a client
/// library may still send in origin form: such a signer covers `@path` and
/// `@query` (or `@target-uri`) instead.
#[derive(Debug, Clone)]
pub struct RequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    scheme: Scheme,
    authority: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// A view of request `parts` reached over `scheme` (the listener knows
    /// whether it terminated TLS; a request cannot be trusted to say).
    pub fn new(parts: &'a http::request::Parts, scheme: Scheme) -> Self {
        Self::from_components(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            scheme,
        )
    }

    /// A view of `request`, whatever its body type.
    pub fn from_request<B>(request: &'a http::Request<B>, scheme: Scheme) -> Self {
        Self::from_components(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
            scheme,
        )
    }

    /// A view of a request held as its parts (method, URI as received,
    /// version, header fields), reached over `scheme`.
    pub fn from_components(
        method: &'a Method,
        uri: &'a Uri,
        version: Version,
        headers: &'a HeaderMap,
        scheme: Scheme,
    ) -> Self {
        RequestView {
            method,
            uri,
            version,
            headers,
            scheme,
            authority: None,
        }
    }

    /// Uses `authority` for `@authority` and `@target-uri` instead of the
    /// URI's authority (HTTP/2 `:authority`, absolute form) or `Host`.
    #[must_use]
    pub fn with_authority(mut self, authority: &'a str) -> Self {
        self.authority = Some(authority);
        self
    }

    /// The value of one covered component in this request.
    pub(crate) fn value(&self, component: &Component) -> Result<Cow<'a, str>, Error> {
        Ok(match component {
            Component::Method => Cow::Borrowed(self.method.as_str()),
            Component::TargetUri => Cow::Owned(self.target_uri(component)?),
            Component::Authority => Cow::Owned(self.normalized_authority(component)?),
            Component::Scheme => Cow::Owned(self.scheme.as_str().to_ascii_lowercase()),
            Component::RequestTarget => self.request_target(),
            Component::Path => Cow::Borrowed(match self.uri.path() {
                "" => "/",
                path => path,
            }),
            Component::Query => Cow::Owned(format!("?{}", self.uri.query().unwrap_or(""))),
            Component::QueryParam(name) => Cow::Owned(self.query_param(name)?),
            Component::Field(name) => Cow::Owned(field::combined(self.headers, name, component)?),
            Component::StructuredField(name) => {
                Cow::Owned(field::strict(self.headers, name, component)?)
            }
            Component::DictionaryMember(name, key) => Cow::Owned(field::dictionary_member(
                self.headers,
                name,
                key,
                component,
            )?),
        })
    }

    /// The authority as received: the override, the URI's, or the one `Host`.
    fn raw_authority(&self, component: &Component) -> Result<&'a str, Error> {
        let invalid = |detail| Error::CoveredComponentInvalid {
            component: component.to_string(),
            detail,
        };
        if let Some(authority) = self.authority {
            return Ok(authority);
        }
        if let Some(authority) = self.uri.authority() {
            return Ok(authority.as_str());
        }
        let mut hosts = self.headers.get_all(http::header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            (Some(host), None) => host
                .to_str()
                .map_err(|_| invalid("the Host field is not visible ASCII")),
            (Some(_), Some(_)) => Err(invalid("the request has more than one Host field")),
            (None, _) => Err(Error::CoveredComponentMissing {
                component: component.to_string(),
            }),
        }
    }

    /// Host lower-cased and the scheme's default port dropped (HTTP §4.2.3).
    fn normalized_authority(&self, component: &Component) -> Result<String, Error> {
        let raw = self.raw_authority(component)?;
        let invalid = |detail| Error::CoveredComponentInvalid {
            component: component.to_string(),
            detail,
        };
        if raw.is_empty() {
            return Err(Error::CoveredComponentMissing {
                component: component.to_string(),
            });
        }
        if raw.contains('@') {
            return Err(invalid("the authority has userinfo"));
        }
        Ok(without_default_port(&self.scheme, raw).to_ascii_lowercase())
    }

    fn target_uri(&self, component: &Component) -> Result<String, Error> {
        let authority = self.raw_authority(component)?;
        let path_and_query = match self.uri.path_and_query() {
            Some(pq) if pq.path().is_empty() => format!("/{pq}"),
            Some(pq) => pq.to_string(),
            None => "/".to_owned(),
        };
        Ok(format!(
            "{}://{authority}{path_and_query}",
            self.scheme.as_str().to_ascii_lowercase()
        ))
    }

    /// The request-line target: absolute form only for an HTTP/1.x request
    /// received in absolute form; HTTP/2 and HTTP/3 targets are `:path`.
    fn request_target(&self) -> Cow<'a, str> {
        let http1 = self.version <= Version::HTTP_11;
        if http1 && self.uri.scheme().is_some() {
            return Cow::Owned(self.uri.to_string());
        }
        if let Some(pq) = self.uri.path_and_query() {
            return Cow::Borrowed(pq.as_str());
        }
        match self.uri.authority() {
            Some(authority) if *self.method == Method::CONNECT => Cow::Borrowed(authority.as_str()),
            _ => Cow::Borrowed("/"),
        }
    }

    fn query_param(&self, name: &str) -> Result<String, Error> {
        let mut values = query::values(self.uri.query().unwrap_or(""), name).into_iter();
        match (values.next(), values.next()) {
            (Some(value), None) => Ok(value),
            (Some(_), Some(_)) => Err(Error::QueryParamRepeated {
                name: name.to_owned(),
            }),
            (None, _) => Err(Error::CoveredComponentMissing {
                component: Component::QueryParam(name.to_owned()).to_string(),
            }),
        }
    }
}

/// `authority` without the port when it is `scheme`'s default (`:443` for
/// https, `:80` for http): HTTP §4.2.3 makes the two forms equal, clients
/// leave the default port out of `Host`, and `@authority` drops it. The
/// host's case is kept.
pub fn without_default_port<'a>(scheme: &Scheme, authority: &'a str) -> &'a str {
    let default_port = match scheme.as_str().to_ascii_lowercase().as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    match authority.rsplit_once(':') {
        // A port follows the last `:` unless that `:` is inside an IPv6 literal.
        Some((host, port))
            if (host.ends_with(']') || !host.contains(':')) && Some(port) == default_port =>
        {
            host
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(method: &str, uri: &str, host: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(host) = host {
            b = b.header("host", host);
        }
        b.body(()).unwrap()
    }

    fn value(view: &RequestView<'_>, c: Component) -> String {
        view.value(&c).unwrap().into_owned()
    }

    // RFC 9421 §2.2 examples: `POST /path?param=value` to www.example.com.
    #[test]
    fn derived_components_of_the_rfc_examples() {
        let req = request("POST", "/path?param=value", Some("www.example.com"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(value(&view, Component::Method), "POST");
        assert_eq!(
            value(&view, Component::TargetUri),
            "https://www.example.com/path?param=value"
        );
        assert_eq!(value(&view, Component::Authority), "www.example.com");
        assert_eq!(value(&view, Component::Scheme), "https");
        assert_eq!(value(&view, Component::RequestTarget), "/path?param=value");
        assert_eq!(value(&view, Component::Path), "/path");
        assert_eq!(value(&view, Component::Query), "?param=value");
        let http = RequestView::from_request(&req, Scheme::HTTP);
        assert_eq!(value(&http, Component::Scheme), "http");
    }

    #[test]
    fn query_is_a_lone_question_mark_when_absent_and_stays_encoded() {
        let req = request("GET", "/path", Some("h"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(value(&view, Component::Query), "?");
        let req = request("POST", "/path?param=value&foo=bar&baz=bat%2Dman", Some("h"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(
            value(&view, Component::Query),
            "?param=value&foo=bar&baz=bat%2Dman"
        );
        let req = request("POST", "/path?queryString", Some("h"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(value(&view, Component::Query), "?queryString");
    }

    #[test]
    fn request_target_forms() {
        let req = request("GET", "https://www.example.com/path?param=value", None);
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(
            value(&view, Component::RequestTarget),
            "https://www.example.com/path?param=value"
        );
        assert_eq!(value(&view, Component::Authority), "www.example.com");
        let req = request("CONNECT", "www.example.com:80", Some("www.example.com"));
        let view = RequestView::from_request(&req, Scheme::HTTP);
        assert_eq!(value(&view, Component::RequestTarget), "www.example.com:80");
        let req = request("OPTIONS", "*", Some("www.example.com"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        assert_eq!(value(&view, Component::RequestTarget), "*");
        let mut h2 = request("GET", "https://www.example.com/p?q=1", None);
        *h2.version_mut() = Version::HTTP_2;
        let view = RequestView::from_request(&h2, Scheme::HTTPS);
        assert_eq!(value(&view, Component::RequestTarget), "/p?q=1");
    }

    #[test]
    fn authority_is_normalised() {
        for (host, scheme, want) in [
            ("Example.COM:443", Scheme::HTTPS, "example.com"),
            ("example.com:8443", Scheme::HTTPS, "example.com:8443"),
            ("example.com:80", Scheme::HTTP, "example.com"),
            ("example.com:80", Scheme::HTTPS, "example.com:80"),
            ("[::1]:443", Scheme::HTTPS, "[::1]"),
            ("[::1]", Scheme::HTTPS, "[::1]"),
        ] {
            let req = request("GET", "/", Some(host));
            let view = RequestView::from_request(&req, scheme);
            assert_eq!(value(&view, Component::Authority), want, "{host}");
        }
        let req = request("GET", "/", Some("ignored"));
        let view = RequestView::from_request(&req, Scheme::HTTPS).with_authority("Gw.Example");
        assert_eq!(value(&view, Component::Authority), "gw.example");
    }

    #[test]
    fn authority_missing_or_ambiguous_is_refused() {
        let req = request("GET", "/", None);
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        let err = view.value(&Component::Authority).unwrap_err();
        assert_eq!(err.reason(), "covered_component_missing");
        let mut req = request("GET", "/", Some("a.example"));
        req.headers_mut()
            .append("host", http::HeaderValue::from_static("b.example"));
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        let err = view.value(&Component::TargetUri).unwrap_err();
        assert_eq!(err.reason(), "covered_component_invalid");
    }

    // RFC 9421 §2.2.8 examples.
    #[test]
    fn query_params() {
        let req = request(
            "POST",
            "/path?param=value&foo=bar&baz=batman&qux=&dup=1&dup=2",
            Some("www.example.com"),
        );
        let view = RequestView::from_request(&req, Scheme::HTTPS);
        let qp = |n: &str| view.value(&Component::QueryParam(n.to_owned()));
        assert_eq!(qp("baz").unwrap(), "batman");
        assert_eq!(qp("qux").unwrap(), "");
        assert_eq!(qp("param").unwrap(), "value");
        assert_eq!(
            qp("dup").unwrap_err(),
            Error::QueryParamRepeated { name: "dup".into() }
        );
        assert_eq!(
            qp("nope").unwrap_err(),
            Error::CoveredComponentMissing {
                component: r#""@query-param";name="nope""#.into()
            }
        );
    }
}
