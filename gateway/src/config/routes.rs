//! `[[route]]`: which host and path prefix go to which upstream, and each
//! route's path and method-override rules.

use serde::Deserialize;

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
    #[serde(default = "default_true")]
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
}

fn default_prefix() -> String {
    "/".to_owned()
}

fn default_true() -> bool {
    true
}
