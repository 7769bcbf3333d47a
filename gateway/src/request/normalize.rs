//! Request-target paths, normalised once: what routing, the policy, the risk
//! engine and the decision log see, and what the upstream receives, are two
//! spellings of the same list of segments.
//!
//! The rules (RFC 3986 §6.2.2 and §5.2.4, applied in this order):
//!
//! 1. The target must be origin-form (`/…`); `*` and anything else is refused.
//! 2. Percent-encodings must be `%` and two hex digits. Each segment (split at
//!    raw `/` only) is decoded:
//!    - unreserved characters (`A–Z a–z 0–9 - . _ ~`) are decoded, so `%2e%2e`
//!      is `..` and `%65ng` is `eng`;
//!    - reserved characters (`: ? # [ ] @ ! $ & ' ( ) * + , ; =`) and `%`
//!      itself stay encoded (upper-case hex): their encoded and raw forms mean
//!      different things to a server;
//!    - `%2F` (slash) and `%5C` (backslash) stay encoded and are flagged as
//!      *encoded slashes*: servers disagree on whether they separate segments;
//!    - other printable ASCII (space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`,
//!      `}`) and UTF-8 sequences are decoded; a decoded path that is not UTF-8,
//!      or that holds a control character (`%00`–`%1F`, `%7F`), is refused;
//!    - a raw `\` is flagged as a *backslash* (some servers read it as `/`),
//!      a raw `;` as a *path parameter* (some servers drop `;…` from a
//!      segment, so `..;` is `..` to them).
//! 3. Empty segments are merged (`//` → `/`) unless the route keeps them.
//! 4. Dot segments are removed (`/a/./b/../c` → `/a/c`; never above `/`).
//!
//! The *decoded* form is the one policies are written against (`/eng/docs`,
//! `/café`); the *encoded* form is its canonical spelling on the wire (only
//! unreserved, sub-delimiter, `:`, `@` and `/` characters raw; everything
//! else upper-case percent-encoded), which is what is forwarded. An already
//! canonical path — almost every request — is returned as it came, without
//! allocating.
//!
//! The flagged forms are refused by default; a route may keep them, or strip
//! path parameters (see [`PathOptions`]).

use std::borrow::Cow;

use serde::Deserialize;

/// What to do with encoded slashes or raw backslashes in a route's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormAction {
    /// `400`: the form means different things to different servers.
    #[default]
    Reject,
    /// Decide on it as it is (still encoded), and forward it unchanged.
    Keep,
}

/// What to do with `;` path parameters (`/a;jsessionid=x/b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamAction {
    #[default]
    Reject,
    /// Decide on the segment with its parameter and forward it. Unsafe in
    /// front of servers that drop parameters (Tomcat, Jetty): `..;` is a
    /// plain segment here and `..` there.
    Keep,
    /// Remove `;…` from every segment before dot-segment removal (as those
    /// servers do), decide on the result and forward it.
    Strip,
}

/// A route's path normalisation settings (`[[route]]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOptions {
    pub encoded_slashes: FormAction,
    pub backslashes: FormAction,
    pub path_parameters: ParamAction,
    pub merge_slashes: bool,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            encoded_slashes: FormAction::Reject,
            backslashes: FormAction::Reject,
            path_parameters: ParamAction::Reject,
            merge_slashes: true,
        }
    }
}

/// The forms a path held whose meaning differs between servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forms {
    /// `%2F` or `%5C`.
    pub encoded_slash: bool,
    /// A raw `\`.
    pub backslash: bool,
    /// A raw `;`.
    pub parameter: bool,
    /// An empty segment (`//`) was merged.
    pub merged: bool,
}

/// A normalised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a> {
    /// What routing, policies, the risk engine and the decision log see.
    pub decoded: Cow<'a, str>,
    /// The same segments as forwarded to the upstream.
    pub encoded: Cow<'a, str>,
    pub forms: Forms,
}

/// Why a path cannot be normalised (all `400 bad_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request target is not a path starting with /")]
    NotOriginForm,
    #[error("the path holds a % that is not followed by two hex digits")]
    BadEscape,
    #[error("the path holds a control character")]
    ControlChar,
    #[error("the decoded path is not UTF-8")]
    NotUtf8,
}

/// How the two passes of a normalisation differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub strip_parameters: bool,
    pub merge_slashes: bool,
}

impl Pass {
    /// Before a route is known: parameters kept (and flagged), slashes merged.
    pub const FIRST: Pass = Pass {
        strip_parameters: false,
        merge_slashes: true,
    };

    /// The pass a route's options ask for.
    pub fn of(o: &PathOptions) -> Pass {
        Pass {
            strip_parameters: o.path_parameters == ParamAction::Strip,
            merge_slashes: o.merge_slashes,
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Reserved characters whose encoding is kept (RFC 3986 gen-delims and
/// sub-delims, minus `/`), and `%` itself.
fn keeps_encoding(b: u8) -> bool {
    matches!(
        b,
        b':' | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%'
    )
}

/// Characters written raw in the canonical encoded form.
fn canonical_raw(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_encoded(out: &mut Vec<u8>, b: u8) {
    out.push(b'%');
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0x0f)]);
}

/// Already canonical: only canonical characters, no dot segments, and (when
/// merging) no empty segment before the last.
fn is_canonical(raw: &str, pass: Pass) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') || !b.iter().all(|&c| canonical_raw(c)) {
        return false;
    }
    let mut segments = raw.split('/').skip(1).peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if seg == "." || seg == ".." || (pass.merge_slashes && seg.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Normalise a request path (without its query).
pub fn normalize(raw: &str, pass: Pass) -> Result<NormalPath<'_>, PathError> {
    if is_canonical(raw, pass) {
        return Ok(NormalPath {
            decoded: Cow::Borrowed(raw),
            encoded: Cow::Borrowed(raw),
            forms: Forms::default(),
        });
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathError::NotOriginForm);
    };
    let mut forms = Forms::default();
    let mut segments: Vec<String> = Vec::new();
    let parts: Vec<&str> = rest.split('/').collect();
    let count = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let last = i + 1 == count;
        let seg = decode_segment(part, pass, &mut forms)?;
        match seg.as_str() {
            "." => {
                if last {
                    segments.push(String::new());
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push(String::new());
                }
            }
            "" if pass.merge_slashes && !last => forms.merged = true,
            _ => segments.push(seg),
        }
    }
    let mut decoded = String::with_capacity(raw.len() + 1);
    for s in &segments {
        decoded.push('/');
        decoded.push_str(s);
    }
    if decoded.is_empty() {
        decoded.push('/');
    }
    let encoded = encode(&decoded);
    let encoded = if encoded == decoded {
        Cow::Owned(decoded.clone())
    } else {
        Cow::Owned(encoded)
    };
    Ok(NormalPath {
        decoded: Cow::Owned(decoded),
        encoded,
        forms,
    })
}

/// Decode one raw segment by the rules in the module docs.
fn decode_segment(part: &str, pass: Pass, forms: &mut Forms) -> Result<String, PathError> {
    let b = part.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex_val);
                let lo = b.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                let v = (hi << 4) | lo;
                if v < 0x20 || v == 0x7f {
                    return Err(PathError::ControlChar);
                }
                if v == b'/' || v == b'\\' {
                    forms.encoded_slash = true;
                    push_encoded(&mut out, v);
                } else if keeps_encoding(v) {
                    push_encoded(&mut out, v);
                } else {
                    out.push(v);
                }
                i += 3;
            }
            b';' => {
                forms.parameter = true;
                if pass.strip_parameters {
                    break;
                }
                out.push(c);
                i += 1;
            }
            b'\\' => {
                forms.backslash = true;
                out.push(c);
                i += 1;
            }
            c if c < 0x20 || c == 0x7f => return Err(PathError::ControlChar),
            b'[' | b']' | b'?' | b'#' => {
                // Reserved and never raw in a path on the wire (a raw `?` or
                // `#` would end it): the same as `%5B`, `%5D`, `%3F`, `%23`.
                push_encoded(&mut out, c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

/// The canonical wire spelling of a decoded path: `%`, `;` and `\` (which in
/// a decoded path are kept encodings, kept parameters or kept backslashes)
/// and canonical characters raw, everything else percent-encoded.
pub fn encode(decoded: &str) -> String {
    let mut out = Vec::with_capacity(decoded.len());
    for &b in decoded.as_bytes() {
        if canonical_raw(b) || matches!(b, b'%' | b';' | b'\\') {
            out.push(b);
        } else {
            push_encoded(&mut out, b);
        }
    }
    // Every byte pushed is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dec(raw: &str) -> String {
        normalize(raw, Pass::FIRST).unwrap().decoded.into_owned()
    }

    fn enc(raw: &str) -> String {
        normalize(raw, Pass::FIRST).unwrap().encoded.into_owned()
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
            "/",
            "/eng/docs",
            "/a/b/",
            "/x-y_z~1/@:!$&'()*+,=",
            "/a.b/c..d",
        ] {
            let n = normalize(p, Pass::FIRST).unwrap();
            assert!(matches!(n.decoded, Cow::Borrowed(_)), "{p}");
            assert!(matches!(n.encoded, Cow::Borrowed(_)), "{p}");
            assert_eq!(n.forms, Forms::default());
        }
    }

    #[test]
    fn dot_segments_are_removed_in_every_spelling() {
        for p in [
            "/public/../eng/docs",
            "/public/%2e%2e/eng/docs",
            "/public/%2E%2E/eng/docs",
            "/public/.%2e/eng/docs",
            "/public/./../eng/./docs",
            "/../../eng/docs",
            "/public/x/../../eng/docs",
            "/public//../eng/docs",
        ] {
            assert_eq!(dec(p), "/eng/docs", "{p}");
            assert_eq!(enc(p), "/eng/docs", "{p}");
        }
        assert_eq!(dec("/a/b/.."), "/a/");
        assert_eq!(dec("/a/b/."), "/a/b/");
        assert_eq!(dec("/.."), "/");
        assert_eq!(dec("/."), "/");
        assert_eq!(dec("//"), "/");
        assert_eq!(dec("/a//b//"), "/a/b/");
    }

    #[test]
    fn merging_can_be_turned_off() {
        let keep = Pass {
            strip_parameters: false,
            merge_slashes: false,
        };
        assert_eq!(normalize("/a//b", keep).unwrap().decoded, "/a//b");
        // RFC 3986 §5.2.4 on an empty segment: ".." removes it.
        assert_eq!(normalize("/a/..//b", keep).unwrap().decoded, "//b");
        assert!(normalize("/a//b", Pass::FIRST).unwrap().forms.merged);
    }

    #[test]
    fn unreserved_escapes_are_decoded_reserved_ones_kept_upper_case() {
        assert_eq!(dec("/%65ng/docs"), "/eng/docs");
        assert_eq!(dec("/a%3bb"), "/a%3Bb");
        assert_eq!(dec("/a%3fb%23c%25d"), "/a%3Fb%23c%25d");
        assert_eq!(enc("/a%3fb"), "/a%3Fb");
        assert_eq!(dec("/100%25"), "/100%25");
        // A raw bracket is the same as its encoding, on both sides.
        assert_eq!(dec("/a[1]"), dec("/a%5b1%5D"));
        assert_eq!(enc("/a[1]"), "/a%5B1%5D");
        // "%252e" is a literal "%2e", not a dot.
        assert_eq!(dec("/a/%252e%252e/b"), "/a/%252e%252e/b");
    }

    #[test]
    fn utf8_and_spaces_are_decoded_for_policies_and_encoded_on_the_wire() {
        let n = normalize("/caf%c3%a9/my%20docs", Pass::FIRST).unwrap();
        assert_eq!(n.decoded, "/café/my docs");
        assert_eq!(n.encoded, "/caf%C3%A9/my%20docs");
        assert_eq!(
            normalize("/café", Pass::FIRST).unwrap().encoded,
            "/caf%C3%A9"
        );
    }

    #[test]
    fn ambiguous_forms_are_flagged() {
        let f = |p| normalize(p, Pass::FIRST).unwrap().forms;
        assert!(f("/public%2f..%2feng").encoded_slash);
        assert!(f("/public%5C..%5Ceng").encoded_slash);
        assert!(f("/public\\..\\eng").backslash);
        assert!(f("/public/..;/eng").parameter);
        assert_eq!(dec("/public%2f..%2feng"), "/public%2F..%2Feng");
        // Kept, ..; is not a dot segment.
        assert_eq!(dec("/public/..;/eng"), "/public/..;/eng");
    }

    #[test]
    fn stripping_parameters_removes_them_before_dot_segments() {
        let strip = Pass {
            strip_parameters: true,
            merge_slashes: true,
        };
        let n = normalize("/public/..;x=1/eng/docs;jsessionid=1", strip).unwrap();
        assert_eq!(n.decoded, "/eng/docs");
        assert!(n.forms.parameter);
    }

    #[test]
    fn bad_paths_are_refused() {
        assert_eq!(normalize("*", Pass::FIRST), Err(PathError::NotOriginForm));
        assert_eq!(normalize("", Pass::FIRST), Err(PathError::NotOriginForm));
        assert_eq!(normalize("/a%2", Pass::FIRST), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%zz", Pass::FIRST), Err(PathError::BadEscape));
        assert_eq!(
            normalize("/a%00b", Pass::FIRST),
            Err(PathError::ControlChar)
        );
        assert_eq!(
            normalize("/a%0d%0a", Pass::FIRST),
            Err(PathError::ControlChar)
        );
        assert_eq!(normalize("/a%7f", Pass::FIRST), Err(PathError::ControlChar));
        assert_eq!(normalize("/a%ff", Pass::FIRST), Err(PathError::NotUtf8));
        assert_eq!(normalize("/a%c3", Pass::FIRST), Err(PathError::NotUtf8));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for p in [
            "/public/../eng/docs",
            "/caf%c3%a9/my%20docs",
            "/a%3bb/%252e",
            "/a//b/./c/..",
            "/x%2fy",
        ] {
            let once = normalize(p, Pass::FIRST).unwrap();
            let twice = normalize(&once.encoded, Pass::FIRST).unwrap();
            assert_eq!(once.decoded, twice.decoded, "{p}");
            assert_eq!(once.encoded, twice.encoded, "{p}");
        }
    }

    /// Found by `fuzz/fuzz_targets/path_normalize.rs` (input `b"./3?"`,
    /// minimised `b"./?"`: options byte, then the path): a raw `?` — never
    /// in a request target's path, but possible in a route's `path_prefix`
    /// — stayed raw in `decoded` while `encoded` spelled it `%3F`, which a
    /// second pass keeps encoded, so normalising was not idempotent.
    #[test]
    fn raw_question_marks_and_hashes_stay_encoded() {
        let keep = Pass {
            strip_parameters: false,
            merge_slashes: false,
        };
        for (raw, want) in [("/?", "/%3F"), ("/3?", "/3%3F"), ("/a#b/?", "/a%23b/%3F")] {
            let once = normalize(raw, keep).unwrap();
            assert_eq!(once.decoded, want, "{raw}");
            assert_eq!(once.encoded, want, "{raw}");
            let twice = normalize(&once.encoded, keep).unwrap();
            assert_eq!(twice.decoded, once.decoded, "{raw}");
            assert_eq!(twice.encoded, once.encoded, "{raw}");
        }
    }

    proptest::proptest! {
        #[test]
        fn encoded_form_is_stable_and_agrees_with_the_decoded_one(raw in "/[a-zA-Z0-9%./;\\\\~é ]{0,40}") {
            if let Ok(n) = normalize(&raw, Pass::FIRST) {
                let again = normalize(&n.encoded, Pass::FIRST).unwrap();
                proptest::prop_assert_eq!(&again.decoded, &n.decoded);
                proptest::prop_assert_eq!(&again.encoded, &n.encoded);
                proptest::prop_assert_eq!(encode(&n.decoded), n.encoded.to_string());
                // No dot segment survives.
                proptest::prop_assert!(!n.decoded.split('/').any(|s| s == "." || s == ".."));
            }
        }
    }
}
