//! Header field component values (RFC 9421 §2.1): the field lines combined,
//! or their strict structured-field form, or one Dictionary member.

use http::{HeaderMap, HeaderName};
use sfv::{Dictionary, ListEntry, Parser, Version};

use crate::component::Component;
use crate::error::Error;

/// The structured type of the fields `sf` may be used on. A field not listed
/// has no known type, and `sf` on it is refused (RFC 9421 §2.5).
fn structured_type(name: &HeaderName) -> Option<SfType> {
    match name.as_str() {
        "content-digest"
        | "repr-digest"
        | "want-content-digest"
        | "want-repr-digest"
        | "signature"
        | "signature-input"
        | "accept-signature"
        | "priority" => Some(SfType::Dictionary),
        "cache-status" | "proxy-status" => Some(SfType::List),
        _ => None,
    }
}

enum SfType {
    Dictionary,
    List,
}

/// The field lines of `name`, each trimmed, joined with `", "`.
pub(crate) fn combined(
    headers: &HeaderMap,
    name: &HeaderName,
    component: &Component,
) -> Result<String, Error> {
    let mut out = String::new();
    let mut lines = headers.get_all(name).iter().peekable();
    if lines.peek().is_none() {
        return Err(Error::CoveredComponentMissing {
            component: component.to_string(),
        });
    }
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(line_value(line.as_bytes(), component)?);
    }
    Ok(out)
}

/// One field line as it goes into a signature base: ASCII, no line breaks
/// (an obs-fold a parser let through), surrounding whitespace removed.
pub(crate) fn line_value<'v>(raw: &'v [u8], component: &Component) -> Result<&'v str, Error> {
    let invalid = |detail| Error::CoveredComponentInvalid {
        component: component.to_string(),
        detail,
    };
    if raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(invalid("the field value has a line break (obs-fold)"));
    }
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| invalid("the field value is not ASCII"))?;
    if text.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(invalid("the field value has a control character"));
    }
    Ok(text.trim_matches([' ', '\t']))
}

/// The strict serialisation of a field of known structured type (`sf`).
pub(crate) fn strict(
    headers: &HeaderMap,
    name: &HeaderName,
    component: &Component,
) -> Result<String, Error> {
    let kind = structured_type(name).ok_or_else(|| Error::StructuredFieldTypeUnknown {
        component: component.to_string(),
    })?;
    let value = combined(headers, name, component)?;
    let parser = Parser::new(&value).with_version(Version::Rfc8941);
    let serialized = match kind {
        SfType::Dictionary => {
            let dict: Dictionary = parser
                .parse()
                .map_err(|_| not_structured(component, "the field is not a Dictionary"))?;
            let mut ser = sfv::DictSerializer::new();
            ser.members(&dict);
            ser.finish()
        }
        SfType::List => {
            let list: sfv::List = parser
                .parse()
                .map_err(|_| not_structured(component, "the field is not a List"))?;
            let mut ser = sfv::ListSerializer::new();
            ser.members(&list);
            ser.finish()
        }
    };
    Ok(serialized.unwrap_or_default())
}

/// One member of a Dictionary field, strictly serialised (`key`).
pub(crate) fn dictionary_member(
    headers: &HeaderMap,
    name: &HeaderName,
    key: &str,
    component: &Component,
) -> Result<String, Error> {
    let value = combined(headers, name, component)?;
    let dict: Dictionary = Parser::new(&value)
        .with_version(Version::Rfc8941)
        .parse()
        .map_err(|_| not_structured(component, "the field is not a Dictionary"))?;
    let member = dict
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, member)| member)
        .ok_or_else(|| Error::CoveredComponentMissing {
            component: component.to_string(),
        })?;
    Ok(match member {
        ListEntry::Item(item) => sfv::ItemSerializer::new()
            .bare_item(&item.bare_item)
            .parameters(&item.params)
            .finish(),
        ListEntry::InnerList(inner) => {
            let mut ser = sfv::ListSerializer::new();
            let mut list = ser.inner_list();
            list.items(&inner.items);
            let _ = list.finish().parameters(&inner.params);
            ser.finish().unwrap_or_default()
        }
    })
}

fn not_structured(component: &Component, detail: &'static str) -> Error {
    Error::CoveredComponentInvalid {
        component: component.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in lines {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    // RFC 9421 §2.1 examples.
    #[test]
    fn lines_are_trimmed_and_combined() {
        let h = headers(&[
            ("x-ows-header", "   Leading and trailing whitespace.   "),
            ("cache-control", "max-age=60"),
            ("cache-control", "   must-revalidate"),
            ("example-dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"),
            ("x-empty-header", ""),
        ]);
        let value = |n: &'static str| {
            let name = HeaderName::from_static(n);
            combined(&h, &name, &Component::Field(name.clone())).unwrap()
        };
        assert_eq!(value("x-ows-header"), "Leading and trailing whitespace.");
        assert_eq!(value("cache-control"), "max-age=60, must-revalidate");
        assert_eq!(
            value("example-dict"),
            "a=1,    b=2;x=1;y=2,   c=(a   b   c)"
        );
        assert_eq!(value("x-empty-header"), "");
    }

    // RFC 9421 §2.1.2 examples.
    #[test]
    fn dictionary_members_are_strictly_serialised() {
        let h = headers(&[("example-dict", " a=1, b=2;x=1;y=2, c=(a   b    c), d")]);
        let name = HeaderName::from_static("example-dict");
        let member = |key: &str| {
            let c = Component::DictionaryMember(name.clone(), key.to_owned());
            dictionary_member(&h, &name, key, &c)
        };
        assert_eq!(member("a").unwrap(), "1");
        assert_eq!(member("d").unwrap(), "?1");
        assert_eq!(member("b").unwrap(), "2;x=1;y=2");
        assert_eq!(member("c").unwrap(), "(a b c)");
        assert_eq!(
            member("e").unwrap_err().reason(),
            "covered_component_missing"
        );
    }

    #[test]
    fn a_key_on_a_field_that_is_not_a_dictionary_is_invalid() {
        let h = headers(&[("x-list", "(a b")]);
        let name = HeaderName::from_static("x-list");
        let c = Component::DictionaryMember(name.clone(), "a".into());
        let err = dictionary_member(&h, &name, "a", &c).unwrap_err();
        assert_eq!(err.reason(), "covered_component_invalid");
    }

    #[test]
    fn sf_reserialises_known_dictionaries_and_refuses_unknown_fields() {
        let h = headers(&[
            ("content-digest", "sha-256=:AAAA:,   sha-512=:AAAA:"),
            ("example-dict", "a=1"),
        ]);
        let cd = HeaderName::from_static("content-digest");
        let c = Component::StructuredField(cd.clone());
        assert_eq!(
            strict(&h, &cd, &c).unwrap(),
            "sha-256=:AAAA:, sha-512=:AAAA:"
        );
        let ex = HeaderName::from_static("example-dict");
        let c = Component::StructuredField(ex.clone());
        assert_eq!(
            strict(&h, &ex, &c).unwrap_err(),
            Error::StructuredFieldTypeUnknown {
                component: r#""example-dict";sf"#.into()
            }
        );
    }

    #[test]
    fn non_ascii_and_obs_fold_values_are_refused() {
        let c = Component::Field(HeaderName::from_static("x-h"));
        for raw in [&b"caf\xc3\xa9"[..], b"a\r\n b", b"\xff"] {
            let err = line_value(raw, &c).unwrap_err();
            assert_eq!(err.reason(), "covered_component_invalid");
        }
        assert_eq!(line_value(b"\tkept\tinside\t", &c).unwrap(), "kept\tinside");
    }

    #[test]
    fn a_missing_field_is_named() {
        let name = HeaderName::from_static("date");
        let err = combined(&HeaderMap::new(), &name, &Component::Field(name.clone())).unwrap_err();
        assert_eq!(
            err,
            Error::CoveredComponentMissing {
                component: "\"date\"".into()
            }
        );
    }
}
