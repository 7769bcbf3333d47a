//! `[[route]]`: which host and path prefix go to which upstream, and each
//! route's path and method-override rules.

use std::collections::HashSet;

use serde::Deserialize;

use super::validation::Validation;

/// `[[route]]`: one app behind the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The app's name: Cedar's `Didgate::App` and the resource's `app`.
    pub name: String,
    /// Host to match (without port); omitted or "*" matches any host.
    pub host: Option<String>,
    /// Path prefix to match, on a segment boundary; default "/".
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Upstream base URL, `http://` or `https://`.
    pub upstream: String,
    /// Remove `path_prefix` before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Claims copied into the identity assertion; empty = all verified claims.
    #[serde(default)]
    pub forward_claims: Vec<String>,
    /// `%2F`/`%5C` in a path: "reject" (default, 400 `path_encoded_slash`)
    /// or "keep" (decided on and forwarded still encoded).
    #[serde(default)]
    pub encoded_slashes: crate::request::normalize::FormAction,
    /// A raw `\` in a path: "reject" (default, 400 `path_backslash`) or "keep".
    #[serde(default)]
    pub backslashes: crate::request::normalize::FormAction,
    /// `;` path parameters: "reject" (default, 400 `path_parameter`), "keep",
    /// or "strip" (removed from each segment before deciding and forwarding).
    #[serde(default)]
    pub path_parameters: crate::request::normalize::ParamAction,
    /// Merge empty path segments (`//` → `/`) before deciding and forwarding
    /// (default true).
    #[serde(default = "super::validation::default_true")]
    pub merge_slashes: bool,
    /// `X-HTTP-Method-Override`, its cousins and the query's `_method`:
    /// "strip" (default: removed, the request is decided and forwarded as
    /// its own method) or "decide" (a POST is decided as the method they
    /// claim, and they are forwarded).
    #[serde(default)]
    pub method_override: MethodOverride,
}

/// How a route treats `X-HTTP-Method-Override`, `X-HTTP-Method` and
/// `X-Method-Override`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodOverride {
    #[default]
    Strip,
    Decide,
}

impl RouteConfig {
    /// The route's path normalisation settings.
    pub fn path_options(&self) -> crate::request::normalize::PathOptions {
        crate::request::normalize::PathOptions {
            encoded_slashes: self.encoded_slashes,
            backslashes: self.backslashes,
            path_parameters: self.path_parameters,
            merge_slashes: self.merge_slashes,
        }
    }

    /// Checks `route[i]`; `names` holds the names of the routes before it.
    fn validate<'a>(&'a self, i: usize, names: &mut HashSet<&'a str>, v: &mut Validation) {
        let key = |k: &str| format!("route[{i}].{k}");
        if !is_app_name(&self.name) {
            v.invalid(
                key("name"),
                format!("is {:?}", self.name),
                "use letters, digits, '-' or '_' (it names the Cedar App entity)",
            );
        } else if self.name == crate::request::log_files::LOG_APP {
            v.invalid(
                key("name"),
                format!("{:?} is reserved", self.name),
                "choose another name: it is the app the gateway's own decision log is decided as",
            );
        } else if !names.insert(self.name.as_str()) {
            v.invalid(
                key("name"),
                format!("{:?} is used twice", self.name),
                "give each route a unique name",
            );
        }
        self.validate_path_prefix(&key("path_prefix"), v);
        match self.upstream.parse::<http::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
            _ => v.invalid(
                key("upstream"),
                format!("is {:?}, not an http(s) URL", self.upstream),
                "use e.g. \"http://127.0.0.1:9000\"",
            ),
        }
    }

    /// The prefix is an absolute path, written as requests normalise to.
    fn validate_path_prefix(&self, key: &str, v: &mut Validation) {
        let prefix = &self.path_prefix;
        if !prefix.starts_with('/') {
            v.invalid(key, format!("is {prefix:?}"), "start it with '/'");
            return;
        }
        // Requests are matched in their normalised form, so a prefix
        // that is not normalised could never match.
        let pass = crate::request::normalize::Pass::of(&self.path_options());
        match crate::request::normalize::normalize(prefix, pass) {
            Ok(n) if n.decoded == prefix.as_str() => {}
            Ok(n) => v.invalid(
                key,
                format!("is {prefix:?}, which requests normalise to {:?}", n.decoded),
                format!("write it as {:?}", n.decoded),
            ),
            Err(e) => v.invalid(
                key,
                format!("is {prefix:?}: {e}"),
                "write a plain path such as \"/app\"",
            ),
        }
    }
}

/// Checks the `[[route]]` list: at least one route, each valid, names unique.
pub(super) fn validate_routes(routes: &[RouteConfig], v: &mut Validation) {
    if routes.is_empty() {
        v.invalid(
            "route",
            "has no entries, so every request would be refused",
            "add [[route]] with name, path_prefix and upstream",
        );
    }
    let mut names = HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        r.validate(i, &mut names, v);
    }
}

/// A route name can name a Cedar entity: letters, digits, '-', '_'.
fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn default_prefix() -> String {
    "/".to_owned()
}
