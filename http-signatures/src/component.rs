//! Covered components: what a signature may cover in a request, how each is
//! named in `Signature-Input` and in the signature base (RFC 9421 §2).

use std::fmt;

use http::HeaderName;
use sfv::{BareItem, KeyRef, RefBareItem, StringRef};

use crate::error::Error;

const NAME: &KeyRef = sfv::key_ref("name");
const KEY: &KeyRef = sfv::key_ref("key");
const SF: &KeyRef = sfv::key_ref("sf");

/// A component parameter, ready for an sfv serialiser.
pub(crate) type SfParam<'a> = (&'static KeyRef, RefBareItem<'a>);

/// One covered component of a request signature.
///
/// Field names are [`HeaderName`]s, so always lower-case. The `bs`, `tr` and
/// `req` component parameters are not supported (they are for fields that
/// cannot be combined, trailers, and responses), nor is `sf` together with
/// `key` (`key` already implies strict serialisation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Component {
    /// `@method`: the request method, case as sent.
    Method,
    /// `@target-uri`: `scheme://authority/path?query`.
    TargetUri,
    /// `@authority`: host (lower-case) and non-default port.
    Authority,
    /// `@scheme`: `http` or `https`, as the verifier knows it.
    Scheme,
    /// `@request-target`: the request target as on an HTTP/1.1 request line.
    RequestTarget,
    /// `@path`: the path, still percent-encoded.
    Path,
    /// `@query`: `?` and the query, still percent-encoded (`?` alone if none).
    Query,
    /// `@query-param;name="…"`: one query parameter by its encoded name.
    QueryParam(String),
    /// A header field: its field lines, trimmed, joined with `", "`.
    Field(HeaderName),
    /// A header field with `sf`: its strict structured-field serialisation.
    StructuredField(HeaderName),
    /// A header field with `key="…"`: one member of a Dictionary field.
    DictionaryMember(HeaderName, String),
}

impl Component {
    /// The component name: `@method`, `content-type`, ….
    pub fn name(&self) -> &str {
        match self {
            Component::Method => "@method",
            Component::TargetUri => "@target-uri",
            Component::Authority => "@authority",
            Component::Scheme => "@scheme",
            Component::RequestTarget => "@request-target",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::QueryParam(_) => "@query-param",
            Component::Field(name)
            | Component::StructuredField(name)
            | Component::DictionaryMember(name, _) => name.as_str(),
        }
    }

    /// The bare item and the parameter (at most one) of this identifier, as
    /// written in `Signature-Input` and at the start of a signature base line.
    pub(crate) fn sf_parts(&self) -> Result<(&StringRef, Option<SfParam<'_>>), Error> {
        let name = sf_string(self.name(), self)?;
        let param = match self {
            Component::QueryParam(param) => Some((NAME, sf_string(param, self)?.into())),
            Component::StructuredField(_) => Some((SF, true.into())),
            Component::DictionaryMember(_, key) => Some((KEY, sf_string(key, self)?.into())),
            _ => None,
        };
        Ok((name, param))
    }

    /// Appends the serialised identifier (`"@query-param";name="id"`).
    pub(crate) fn write_identifier(&self, out: &mut String) -> Result<(), Error> {
        let (name, param) = self.sf_parts()?;
        let params = sfv::ItemSerializer::with_buffer(out).bare_item(name);
        if let Some((key, value)) = param {
            let _ = params.parameter(key, value);
        }
        Ok(())
    }

    /// Reads one member of a covered-components inner list.
    pub(crate) fn from_item(item: &sfv::Item) -> Result<Self, Error> {
        let BareItem::String(name) = &item.bare_item else {
            return Err(Error::SignatureInputMalformed {
                detail: "a covered component is not a string".to_owned(),
            });
        };
        let name = name.as_str();
        if name.starts_with('@') {
            derived(name, &item.params)
        } else {
            field(name, &item.params)
        }
    }
}

/// The serialised component identifier, for messages (`"@query-param";name="id"`).
impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        quoted(f, self.name())?;
        match self {
            Component::QueryParam(name) => {
                f.write_str(";name=")?;
                quoted(f, name)
            }
            Component::StructuredField(_) => f.write_str(";sf"),
            Component::DictionaryMember(_, key) => {
                f.write_str(";key=")?;
                quoted(f, key)
            }
            _ => Ok(()),
        }
    }
}

fn quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        fmt::Write::write_char(f, c)?;
    }
    f.write_str("\"")
}

fn sf_string<'s>(s: &'s str, component: &Component) -> Result<&'s StringRef, Error> {
    StringRef::from_str(s).map_err(|_| Error::NotSerializable {
        what: format!("component {component}"),
        detail: "a structured-field string holds printable ASCII only",
    })
}

fn derived(name: &str, params: &sfv::Parameters) -> Result<Component, Error> {
    let component = match name {
        "@method" => Component::Method,
        "@target-uri" => Component::TargetUri,
        "@authority" => Component::Authority,
        "@scheme" => Component::Scheme,
        "@request-target" => Component::RequestTarget,
        "@path" => Component::Path,
        "@query" => Component::Query,
        "@query-param" => return query_param(params),
        "@status" => {
            return Err(Error::ComponentNotForRequests {
                name: name.to_owned(),
            })
        }
        "@signature-params" => return Err(Error::SignatureParamsCovered),
        _ => {
            return Err(Error::ComponentUnknown {
                name: name.to_owned(),
            })
        }
    };
    match params.keys().next() {
        None => Ok(component),
        Some(param) => Err(unsupported(&component, param.as_str())),
    }
}

fn query_param(params: &sfv::Parameters) -> Result<Component, Error> {
    let mut name = None;
    for (key, value) in params {
        match (key.as_str(), value) {
            ("name", BareItem::String(n)) => name = Some(n.as_str().to_owned()),
            ("name", _) => {
                return Err(Error::SignatureInputMalformed {
                    detail: "the name of \"@query-param\" is not a string".to_owned(),
                })
            }
            (other, _) => {
                let component = Component::QueryParam(String::new());
                return Err(unsupported(&component, other));
            }
        }
    }
    name.map(Component::QueryParam)
        .ok_or_else(|| Error::SignatureInputMalformed {
            detail: "\"@query-param\" has no name parameter".to_owned(),
        })
}

fn field(name: &str, params: &sfv::Parameters) -> Result<Component, Error> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::ComponentNameNotLowercase {
            name: name.to_owned(),
        });
    }
    let header =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::ComponentNameInvalid {
            name: name.to_owned(),
        })?;
    let (mut sf, mut key) = (false, None);
    for (param, value) in params {
        let plain = Component::Field(header.clone());
        match (param.as_str(), value) {
            ("sf", BareItem::Boolean(true)) => sf = true,
            ("key", BareItem::String(k)) => key = Some(k.as_str().to_owned()),
            ("sf" | "key", _) => {
                return Err(Error::ComponentParamUnsupported {
                    component: plain.to_string(),
                    param: param.as_str().to_owned(),
                    detail: "sf must be true and key a string",
                })
            }
            (other, _) => return Err(unsupported(&plain, other)),
        }
    }
    match (sf, key) {
        (false, None) => Ok(Component::Field(header)),
        (true, None) => Ok(Component::StructuredField(header)),
        (false, Some(key)) => Ok(Component::DictionaryMember(header, key)),
        (true, Some(key)) => Err(Error::ComponentParamUnsupported {
            component: Component::DictionaryMember(header, key).to_string(),
            param: "sf".to_owned(),
            detail: "key already implies strict serialisation; send key alone",
        }),
    }
}

fn unsupported(component: &Component, param: &str) -> Error {
    let detail = match param {
        "req" => "req binds a response to its request; this is a request",
        "bs" => "byte-sequence wrapping is not supported",
        "tr" => "trailer fields are not supported",
        _ if component.name().starts_with('@') => "this derived component takes no such parameter",
        _ => "not a field parameter this crate knows",
    };
    Error::ComponentParamUnsupported {
        component: component.to_string(),
        param: param.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(item: &str) -> Result<Component, Error> {
        let item: sfv::Item = sfv::Parser::new(item).parse().unwrap();
        Component::from_item(&item)
    }

    fn serialized(c: &Component) -> String {
        let mut out = String::new();
        c.write_identifier(&mut out).unwrap();
        out
    }

    #[test]
    fn identifiers_parse_and_serialise_back() {
        for text in [
            r#""@method""#,
            r#""@target-uri""#,
            r#""@authority""#,
            r#""@scheme""#,
            r#""@request-target""#,
            r#""@path""#,
            r#""@query""#,
            r#""@query-param";name="Pet""#,
            r#""content-digest""#,
            r#""example-dict";sf"#,
            r#""example-dict";key="a""#,
        ] {
            let c = parse(text).unwrap();
            assert_eq!(serialized(&c), text);
            assert_eq!(c.to_string(), text);
        }
    }

    #[test]
    fn unknown_derived_components_are_refused_by_name() {
        assert_eq!(
            parse(r#""@fragment""#).unwrap_err(),
            Error::ComponentUnknown {
                name: "@fragment".into()
            }
        );
    }

    #[test]
    fn status_is_for_responses() {
        let err = parse(r#""@status""#).unwrap_err();
        assert_eq!(err.reason(), "component_not_for_requests");
    }

    #[test]
    fn signature_params_cannot_be_covered() {
        assert_eq!(
            parse(r#""@signature-params""#).unwrap_err(),
            Error::SignatureParamsCovered
        );
    }

    #[test]
    fn req_is_refused_on_fields_and_derived_components() {
        for text in [r#""@method";req"#, r#""content-type";req"#] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(&err, Error::ComponentParamUnsupported { param, .. } if param == "req"),
                "{err}"
            );
        }
    }

    #[test]
    fn bs_tr_and_unknown_parameters_are_refused() {
        for (text, param) in [
            (r#""x-h";bs"#, "bs"),
            (r#""x-h";tr"#, "tr"),
            (r#""x-h";foo=1"#, "foo"),
            (r#""@query-param";name="a";x=1"#, "x"),
            (r#""x-h";sf;key="a""#, "sf"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(&err, Error::ComponentParamUnsupported { param: p, .. } if p == param),
                "{text}: {err}"
            );
            assert_eq!(err.reason(), "component_param_unsupported");
        }
    }

    #[test]
    fn upper_case_and_invalid_field_names_are_refused() {
        assert_eq!(
            parse(r#""Content-Type""#).unwrap_err(),
            Error::ComponentNameNotLowercase {
                name: "Content-Type".into()
            }
        );
        for name in ["", "a b", "a:b", "x(y)"] {
            let err = parse(&format!("{name:?}")).unwrap_err();
            assert_eq!(err.reason(), "component_name_invalid", "{name:?}");
        }
    }

    #[test]
    fn query_param_needs_a_string_name() {
        for text in [r#""@query-param""#, r#""@query-param";name=1"#] {
            assert_eq!(
                parse(text).unwrap_err().reason(),
                "signature_input_malformed"
            );
        }
    }

    #[test]
    fn non_string_components_are_malformed() {
        assert_eq!(
            parse("method").unwrap_err().reason(),
            "signature_input_malformed"
        );
    }

    #[test]
    fn a_query_param_name_that_is_not_printable_cannot_be_serialised() {
        let c = Component::QueryParam("caf\u{e9}".into());
        let err = c.write_identifier(&mut String::new()).unwrap_err();
        assert_eq!(err.reason(), "signature_params_unserializable");
    }
}
