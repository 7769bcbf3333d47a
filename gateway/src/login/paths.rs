//! Where the login endpoints are (`/.didgate/…`), and where a login may send
//! the browser back to afterwards (`return_to`): a local path only, never the
//! gateway's own endpoints.

use http::Response;

use crate::login::reply::redirect;
use crate::request::body::GatewayBody;

pub const PREFIX: &str = "/.didgate/";
pub(super) const LOGIN: &str = "/.didgate/login";
pub(super) const RESPONSE: &str = "/.didgate/login/response";
pub(super) const STATUS: &str = "/.didgate/login/status";
pub(super) const COMPLETE: &str = "/.didgate/login/complete";
pub(super) const LOGOUT: &str = "/.didgate/logout";
pub(super) const WHOAMI: &str = "/.didgate/session";

/// A local path to go back to after the login: absolute-path only (no
/// scheme, no `//host`), printable ASCII (it becomes a `Location` header),
/// never the gateway's own endpoints.
pub fn safe_return_to(raw: Option<&str>) -> String {
    let Some(p) = raw else { return "/".into() };
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && p.len() <= 2048
        && p.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\')
        && !is_gateway_endpoint(p);
    if ok {
        p.to_owned()
    } else {
        "/".into()
    }
}

/// Whether a browser sent to `path_and_query` ends up at the gateway's own
/// endpoints: the path it asks for (the reference resolved as browsers
/// resolve it, dot segments removed) as the gateway routes it (`%2e`
/// decoded, `//` merged, dot segments removed again) is under `/.didgate/`.
/// A reference that leaves the origin, or a path the gateway refuses
/// outright, counts as one: there is nothing to return to there.
fn is_gateway_endpoint(path_and_query: &str) -> bool {
    const ORIGIN: &str = "http://gateway.invalid/";
    let Ok(there) = url::Url::parse(ORIGIN).and_then(|o| o.join(path_and_query)) else {
        return true;
    };
    there.host_str() != Some("gateway.invalid")
        || crate::request::normalize::normalize(
            there.path(),
            crate::request::normalize::Pass::FIRST,
        )
        .map_or(true, |n| n.decoded.starts_with(PREFIX))
}

/// Where a browser without a usable session is sent: the login page, which
/// brings it back to `path_and_query` afterwards.
pub fn login_redirect(path_and_query: &str, step_up: bool) -> Response<GatewayBody> {
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &safe_return_to(Some(path_and_query)))
        .finish();
    let to = if step_up {
        format!("{LOGIN}?{back}&step_up=1")
    } else {
        format!("{LOGIN}?{back}")
    };
    redirect(&to, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::{header, StatusCode};

    #[test]
    fn return_to_is_a_local_path_only() {
        assert_eq!(safe_return_to(None), "/");
        assert_eq!(safe_return_to(Some("/eng/docs?x=1")), "/eng/docs?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/.didgate/logout",
            "/a\r\nSet-Cookie: x=1",
            "/a\\b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }

    /// Found by `fuzz/fuzz_targets/openid4vp_form.rs` (inputs `b"/./.didgate/"`
    /// and `b"/.didgate//.."`): a dot segment or `%2e` before `.didgate/`, or
    /// a `..` after an empty segment, passed the prefix check, and the
    /// browser (and the gateway's routing) then resolved it to the gateway's
    /// own endpoints. A non-ASCII path passed too, and then could not be a
    /// `Location` header (a 303 without one).
    #[test]
    fn return_to_cannot_reach_the_gateway_by_dot_segments_or_be_non_ascii() {
        for bad in [
            "/./.didgate/",
            "/a/../.didgate/logout",
            "/%2e/.didgate/login",
            "/.%2E/.didgate/session?x",
            "/%2edidgate/logout",
            "/.//.didgate/logout",
            "/.didgate//..",
            "/a%zz",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        for good in ["/.didgate", "/a/./b?x=/.didgate/", "/a b", "/%C3%A9"] {
            assert_eq!(safe_return_to(Some(good)), good);
        }
    }

    #[test]
    fn login_redirect_keeps_the_path_and_asks_for_step_up() {
        let r = login_redirect("/eng/docs?q=a b", true);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(
            to,
            "/.didgate/login?return_to=%2Feng%2Fdocs%3Fq%3Da+b&step_up=1"
        );
    }
}
