//! The target a signature names in `@target-uri`: the scheme and authority
//! of the outgoing request's absolute URI, as the gateway will rebuild them
//! from the scheme it was reached on and the `Host` it receives.

use http::uri::Scheme;
use http::Uri;

use crate::error::SignError;

/// Scheme and authority of an absolute request URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    /// The authority without the scheme's default port: HTTP clients leave
    /// `:443`/`:80` out of `Host` (RFC 9110 §4.2.3 makes the two equal), so
    /// the signed `@target-uri` leaves it out too.
    pub(crate) authority: String,
}

/// The target of `uri`, or why it cannot be signed.
pub(crate) fn of(uri: &Uri) -> Result<Target, SignError> {
    let relative = || SignError::RelativeUri {
        uri: uri.to_string(),
    };
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(relative());
    };
    if authority.as_str().contains('@') {
        return Err(SignError::UriHasUserinfo);
    }
    if authority.host().is_empty() {
        return Err(relative());
    }
    let authority = http_signatures::without_default_port(scheme, authority.as_str());
    Ok(Target {
        scheme: scheme.clone(),
        authority: authority.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn target(uri: &str) -> Result<Target, SignError> {
        of(&uri.parse().unwrap())
    }

    #[test]
    fn an_absolute_uri_gives_scheme_and_authority() {
        for (uri, scheme, authority) in [
            (
                "https://gw.example/orders?id=1",
                Scheme::HTTPS,
                "gw.example",
            ),
            ("https://gw.example:443/", Scheme::HTTPS, "gw.example"),
            ("https://gw.example:8443/", Scheme::HTTPS, "gw.example:8443"),
            ("http://127.0.0.1:80/x", Scheme::HTTP, "127.0.0.1"),
            ("http://127.0.0.1:443/x", Scheme::HTTP, "127.0.0.1:443"),
            ("http://[::1]:80/x", Scheme::HTTP, "[::1]"),
            ("http://[::1]:8080/x", Scheme::HTTP, "[::1]:8080"),
            ("http://Gw.Example", Scheme::HTTP, "Gw.Example"),
        ] {
            let t = target(uri).unwrap();
            assert_eq!(t.scheme, scheme, "{uri}");
            assert_eq!(t.authority, authority, "{uri}");
        }
    }

    #[test]
    fn a_relative_uri_is_refused_by_name() {
        for uri in ["/orders?id=1", "*", "gw.example:443"] {
            let err = target(uri).unwrap_err();
            assert!(matches!(err, SignError::RelativeUri { .. }), "{uri}: {err}");
            assert!(err.to_string().contains("not absolute"), "{err}");
        }
    }

    #[test]
    fn userinfo_is_refused_without_repeating_it() {
        let err = target("https://svc:hunter2@gw.example/").unwrap_err();
        assert!(matches!(err, SignError::UriHasUserinfo));
        assert!(!err.to_string().contains("hunter2"));
    }
}
