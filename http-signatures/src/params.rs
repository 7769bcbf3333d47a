//! Signature parameters: the covered components and the metadata of one
//! signature, serialised as the `@signature-params` value (RFC 9421 §2.3).

use sfv::{BareItem, KeyRef, ParameterSerializer, StringRef};

use crate::algorithm::Algorithm;
use crate::component::Component;
use crate::error::Error;
use crate::limits::MAX_COMPONENTS;

/// One signature parameter with its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Param {
    /// `created`: UNIX seconds when the signature was made.
    Created(u64),
    /// `expires`: UNIX seconds after which the signer no longer vouches for it.
    Expires(u64),
    /// `nonce`: a value the signer made unique to this signature.
    Nonce(String),
    /// `alg`: the signature algorithm, when stated.
    Alg(Algorithm),
    /// `keyid`: names the key (for didgate, a DID URL of a verification method).
    KeyId(String),
    /// `tag`: the application this signature is meant for.
    Tag(String),
}

impl Param {
    /// The parameter's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Param::Created(_) => "created",
            Param::Expires(_) => "expires",
            Param::Nonce(_) => "nonce",
            Param::Alg(_) => "alg",
            Param::KeyId(_) => "keyid",
            Param::Tag(_) => "tag",
        }
    }

    fn key(&self) -> &'static KeyRef {
        match self {
            Param::Created(_) => sfv::key_ref("created"),
            Param::Expires(_) => sfv::key_ref("expires"),
            Param::Nonce(_) => sfv::key_ref("nonce"),
            Param::Alg(_) => sfv::key_ref("alg"),
            Param::KeyId(_) => sfv::key_ref("keyid"),
            Param::Tag(_) => sfv::key_ref("tag"),
        }
    }

    fn write<'b>(
        &self,
        out: ParameterSerializer<&'b mut String>,
    ) -> Result<ParameterSerializer<&'b mut String>, Error> {
        let unserializable = |detail| Error::NotSerializable {
            what: format!("signature parameter {}", self.name()),
            detail,
        };
        let string = |s| sf_string(s).map_err(unserializable);
        Ok(match self {
            Param::Created(t) | Param::Expires(t) => {
                let t = sfv::Integer::try_from(*t)
                    .map_err(|_| unserializable("an integer has at most 15 digits"))?;
                out.parameter(self.key(), t)
            }
            Param::Nonce(s) | Param::KeyId(s) | Param::Tag(s) => {
                out.parameter(self.key(), string(s)?)
            }
            Param::Alg(alg) => out.parameter(self.key(), string(alg.wire_name())?),
        })
    }

    fn read(name: &str, value: &BareItem) -> Result<Self, Error> {
        let invalid = |detail| Error::SignatureParamInvalid {
            param: name.to_owned(),
            detail,
        };
        let timestamp = || match value {
            BareItem::Integer(i) => {
                u64::try_from(i64::from(*i)).map_err(|_| invalid("must not be negative"))
            }
            _ => Err(invalid("must be an integer")),
        };
        let string = || match value {
            BareItem::String(s) => Ok(s.as_str().to_owned()),
            _ => Err(invalid("must be a string")),
        };
        Ok(match name {
            "created" => Param::Created(timestamp()?),
            "expires" => Param::Expires(timestamp()?),
            "nonce" => Param::Nonce(string()?),
            "keyid" => Param::KeyId(string()?),
            "tag" => Param::Tag(string()?),
            "alg" => Param::Alg(Algorithm::from_wire(&string()?)?),
            _ => {
                return Err(Error::SignatureParamUnknown {
                    param: name.to_owned(),
                })
            }
        })
    }
}

fn sf_string(s: &str) -> Result<&StringRef, &'static str> {
    StringRef::from_str(s).map_err(|_| "a structured-field string holds printable ASCII only")
}

/// The covered components and parameters of one signature, in the order
/// they are serialised (RFC 9421 fixes no order; a signature fixes its own).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureParams {
    /// The covered components, in signature-base order.
    pub components: Vec<Component>,
    /// At most one of each kind, in wire order.
    params: Vec<Param>,
}

impl SignatureParams {
    /// Parameters covering `components`, with no metadata yet.
    pub fn new(components: Vec<Component>) -> Self {
        SignatureParams {
            components,
            params: Vec::new(),
        }
    }

    /// Sets a parameter: in its old place if it was set, else after the others.
    #[must_use]
    pub fn with(mut self, param: Param) -> Self {
        match self.params.iter_mut().find(|p| p.name() == param.name()) {
            Some(slot) => *slot = param,
            None => self.params.push(param),
        }
        self
    }

    /// The parameters in wire order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// `created`, if present.
    pub fn created(&self) -> Option<u64> {
        self.params.iter().find_map(|p| match p {
            Param::Created(t) => Some(*t),
            _ => None,
        })
    }

    /// `expires`, if present.
    pub fn expires(&self) -> Option<u64> {
        self.params.iter().find_map(|p| match p {
            Param::Expires(t) => Some(*t),
            _ => None,
        })
    }

    /// `nonce`, if present.
    pub fn nonce(&self) -> Option<&str> {
        self.string(|p| matches!(p, Param::Nonce(_)))
    }

    /// `keyid`, if present.
    pub fn keyid(&self) -> Option<&str> {
        self.string(|p| matches!(p, Param::KeyId(_)))
    }

    /// `tag`, if present.
    pub fn tag(&self) -> Option<&str> {
        self.string(|p| matches!(p, Param::Tag(_)))
    }

    /// `alg`, if present.
    pub fn alg(&self) -> Option<Algorithm> {
        self.params.iter().find_map(|p| match p {
            Param::Alg(a) => Some(*a),
            _ => None,
        })
    }

    fn string(&self, kind: impl Fn(&Param) -> bool) -> Option<&str> {
        self.params.iter().find(|p| kind(p)).and_then(|p| match p {
            Param::Nonce(s) | Param::KeyId(s) | Param::Tag(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The `@signature-params` value: `("@method" …);created=…;keyid="…"`.
    pub fn serialize(&self) -> Result<String, Error> {
        self.validate()?;
        let mut out = String::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Reads a `@signature-params` value (an inner list with parameters).
    pub fn parse(value: &str) -> Result<Self, Error> {
        let malformed = |detail: String| Error::SignatureInputMalformed { detail };
        let list: sfv::List = sfv::Parser::new(value)
            .with_version(sfv::Version::Rfc8941)
            .parse()
            .map_err(|e| malformed(e.to_string()))?;
        match list.as_slice() {
            [sfv::ListEntry::InnerList(inner)] => Self::from_inner_list(inner),
            _ => Err(malformed("not a single inner list".to_owned())),
        }
    }

    /// Appends the `@signature-params` value to `out` (call `validate` first).
    pub(crate) fn write(&self, out: &mut String) -> Result<(), Error> {
        let mut list = sfv::ListSerializer::with_buffer(out);
        let mut inner = list.inner_list();
        for component in &self.components {
            let (name, param) = component.sf_parts()?;
            let params = inner.bare_item(name);
            if let Some((key, value)) = param {
                let _ = params.parameter(key, value);
            }
        }
        let mut params = inner.finish();
        for param in &self.params {
            params = param.write(params)?;
        }
        Ok(())
    }

    /// Reads covered components and parameters from a parsed inner list.
    pub(crate) fn from_inner_list(inner: &sfv::InnerList) -> Result<Self, Error> {
        if inner.items.len() > MAX_COMPONENTS {
            return Err(Error::TooManyComponents {
                count: inner.items.len(),
                max: MAX_COMPONENTS,
            });
        }
        let components = inner
            .items
            .iter()
            .map(Component::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let params = inner
            .params
            .iter()
            .map(|(name, value)| Param::read(name.as_str(), value))
            .collect::<Result<Vec<_>, _>>()?;
        let parsed = SignatureParams { components, params };
        parsed.validate()?;
        Ok(parsed)
    }

    /// What every signature must be, parsed or built: a bounded set of
    /// distinct components.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.components.len() > MAX_COMPONENTS {
            return Err(Error::TooManyComponents {
                count: self.components.len(),
                max: MAX_COMPONENTS,
            });
        }
        // At most MAX_COMPONENTS: pairwise comparison, no allocation.
        let duplicate = self
            .components
            .iter()
            .enumerate()
            .find(|(i, c)| self.components[..*i].contains(c));
        match duplicate {
            Some((_, component)) => Err(Error::ComponentDuplicate {
                component: component.to_string(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    fn component() -> impl Strategy<Value = Component> {
        let field =
            "[a-z][a-z0-9-]{0,15}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap());
        prop_oneof![
            Just(Component::Method),
            Just(Component::TargetUri),
            Just(Component::Authority),
            Just(Component::Scheme),
            Just(Component::RequestTarget),
            Just(Component::Path),
            Just(Component::Query),
            "[ -~]{0,12}".prop_map(Component::QueryParam),
            field.clone().prop_map(Component::Field),
            field.clone().prop_map(Component::StructuredField),
            (field, "[ -~]{0,12}").prop_map(|(f, k)| Component::DictionaryMember(f, k)),
        ]
    }

    fn param() -> impl Strategy<Value = Param> {
        let time = 0..=999_999_999_999_999u64;
        prop_oneof![
            time.clone().prop_map(Param::Created),
            time.prop_map(Param::Expires),
            "[ -~]{0,20}".prop_map(Param::Nonce),
            "[ -~]{0,20}".prop_map(Param::KeyId),
            "[ -~]{0,20}".prop_map(Param::Tag),
            proptest::sample::select(Algorithm::ALL.to_vec()).prop_map(Param::Alg),
        ]
    }

    fn signature_params() -> impl Strategy<Value = SignatureParams> {
        (
            proptest::collection::vec(component(), 0..MAX_COMPONENTS),
            proptest::collection::vec(param(), 0..8),
        )
            .prop_map(|(components, params)| {
                let mut distinct = Vec::new();
                for c in components {
                    if !distinct.contains(&c) {
                        distinct.push(c);
                    }
                }
                params
                    .into_iter()
                    .fold(SignatureParams::new(distinct), SignatureParams::with)
            })
    }

    proptest! {
        #[test]
        fn serialise_then_parse_is_the_identity(params in signature_params()) {
            let value = params.serialize().unwrap();
            prop_assert_eq!(SignatureParams::parse(&value).unwrap(), params.clone());

            let input = crate::signature_input_header("sig1", &params).unwrap();
            let signature = crate::signature_header("sig1", &[1; 64]).unwrap();
            let parsed = crate::parse_signature_headers([&input], [&signature]).unwrap();
            prop_assert_eq!(&parsed[0].params, &params);
        }

        #[test]
        fn parsers_never_panic_on_strings(s in ".{0,300}") {
            let _ = SignatureParams::parse(&s);
            if let Ok(v) = HeaderValue::from_str(&s) {
                let _ = crate::parse_signature_headers([&v], [&v]);
                let _ = crate::content_digest::verify([&v], b"body");
            }
        }

        #[test]
        fn parsers_never_panic_on_field_shaped_input(
            s in r#"[a-z0-9]{1,4}=\(("[@a-z;=\-"]{0,12}" ?){0,4}\)(;[a-z]{1,7}=("[ -~]{0,8}"|-?[0-9]{1,17}|\?[01]|:[A-Za-z0-9+/=]{0,12}:))*"#,
            sig in r#"[a-z0-9]{1,4}=:[A-Za-z0-9+/=]{0,90}:"#,
        ) {
            let input = HeaderValue::from_str(&s).unwrap();
            let signature = HeaderValue::from_str(&sig).unwrap();
            if let Ok(all) = crate::parse_signature_headers([&input], [&signature]) {
                let request = http::Request::get("/p?a=1").header("host", "h").body(()).unwrap();
                let view = crate::RequestView::from_request(&request, http::uri::Scheme::HTTPS);
                for sig in all {
                    let _ = crate::signature_base(&view, &sig.params);
                }
            }
        }
    }

    #[test]
    fn with_replaces_in_place() {
        let p = SignatureParams::new(vec![])
            .with(Param::Tag("a".into()))
            .with(Param::Created(1))
            .with(Param::Tag("b".into()));
        assert_eq!(p.params(), [Param::Tag("b".into()), Param::Created(1)]);
        assert_eq!(p.serialize().unwrap(), r#"();tag="b";created=1"#);
    }

    #[test]
    fn parse_wants_exactly_one_inner_list() {
        for value in [
            "",
            r#""@method""#,
            r#"("@method"), ("@path")"#,
            "(",
            "();created=1.5",
        ] {
            assert!(SignatureParams::parse(value).is_err(), "{value:?}");
        }
    }
}
