//! The `Signature-Input` and `Signature` fields (RFC 9421 §4): read on the
//! verifying side, written on the signing side.

use http::HeaderValue;
use sfv::{BareItem, Dictionary, KeyRef, ListEntry, Parser, Version};

use crate::error::Error;
use crate::limits::{MAX_FIELD_BYTES, MAX_SIGNATURES, MAX_SIGNATURE_BYTES};
use crate::params::SignatureParams;

/// One signature of a request: its label, what it covers, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// The dictionary key shared by `Signature-Input` and `Signature`.
    pub label: String,
    /// The covered components and parameters, in wire order.
    pub params: SignatureParams,
    /// The signature value, to verify over the signature base.
    pub signature: Vec<u8>,
}

/// Reads every signature of a request from its `Signature-Input` and
/// `Signature` field lines (pass `headers.get_all(...)`), in
/// `Signature-Input` order.
///
/// Strict: a label in one field but not the other, a parameter or
/// algorithm this crate does not accept, or any value out of bounds
/// ([`crate::MAX_SIGNATURES`] and friends) refuses the whole request.
pub fn parse_signature_headers<'h>(
    signature_input: impl IntoIterator<Item = &'h HeaderValue>,
    signature: impl IntoIterator<Item = &'h HeaderValue>,
) -> Result<Vec<ParsedSignature>, Error> {
    let input_malformed = |detail| Error::SignatureInputMalformed { detail };
    let signature_malformed = |detail| Error::SignatureMalformed { detail };
    let inputs = combined(signature_input, "Signature-Input", input_malformed)?
        .ok_or(Error::SignatureInputMissing)?;
    let values =
        combined(signature, "Signature", signature_malformed)?.ok_or(Error::SignatureMissing)?;
    let inputs = dictionary(&inputs).map_err(input_malformed)?;
    let values = dictionary(&values).map_err(signature_malformed)?;
    for dict in [&inputs, &values] {
        if dict.len() > MAX_SIGNATURES {
            return Err(Error::TooManySignatures {
                count: dict.len(),
                max: MAX_SIGNATURES,
            });
        }
    }
    if let Some(label) = values
        .keys()
        .find(|label| !inputs.contains_key(label.as_str()))
    {
        return Err(Error::SignatureLabelUnpaired {
            label: label.as_str().to_owned(),
        });
    }
    inputs
        .iter()
        .map(|(label, input)| {
            let label = label.as_str();
            let ListEntry::InnerList(inner) = input else {
                return Err(Error::SignatureInputMalformed {
                    detail: format!("{label:?} is not an inner list of components"),
                });
            };
            let params = SignatureParams::from_inner_list(inner)?;
            let value = values
                .get(label)
                .ok_or_else(|| Error::SignatureLabelUnpaired {
                    label: label.to_owned(),
                })?;
            Ok(ParsedSignature {
                label: label.to_owned(),
                params,
                signature: signature_bytes(label, value)?,
            })
        })
        .collect()
}

/// The signature labelled `label`, for a verifier that knows which one it wants.
pub fn find_signature<'s>(
    signatures: &'s [ParsedSignature],
    label: &str,
) -> Result<&'s ParsedSignature, Error> {
    signatures
        .iter()
        .find(|s| s.label == label)
        .ok_or_else(|| Error::SignatureLabelNotFound {
            label: label.to_owned(),
        })
}

/// The `Signature-Input` field line for one signature: `label=(…);…`.
/// A message with several signatures carries one such line each.
pub fn signature_input_header(label: &str, params: &SignatureParams) -> Result<HeaderValue, Error> {
    params.validate()?;
    let mut out = String::new();
    out.push_str(key(label)?.as_str());
    out.push('=');
    params.write(&mut out)?;
    header_value(out)
}

/// The `Signature` field line for one signature: `label=:base64:`.
pub fn signature_header(label: &str, signature: &[u8]) -> Result<HeaderValue, Error> {
    let mut ser = sfv::DictSerializer::new();
    let _ = ser.bare_item(key(label)?, signature);
    header_value(ser.finish().unwrap_or_default())
}

fn key(label: &str) -> Result<&KeyRef, Error> {
    KeyRef::from_str(label).map_err(|_| Error::NotSerializable {
        what: format!("signature label {label:?}"),
        detail: "a label is lower-case letters, digits, _ - . * and starts with a letter or *",
    })
}

fn header_value(text: String) -> Result<HeaderValue, Error> {
    HeaderValue::try_from(text).map_err(|_| Error::NotSerializable {
        what: "the field value".to_owned(),
        detail: "not a valid header value",
    })
}

/// All field lines joined with `", "` (RFC 9110 §5.3), refused past
/// [`MAX_FIELD_BYTES`] before anything is copied beyond it.
pub(crate) fn combined<'h>(
    lines: impl IntoIterator<Item = &'h HeaderValue>,
    field: &'static str,
    malformed: fn(String) -> Error,
) -> Result<Option<String>, Error> {
    let mut out: Option<String> = None;
    for line in lines {
        let text = line
            .to_str()
            .map_err(|_| malformed(format!("a {field} line is not visible ASCII")))?;
        let joined = out.as_ref().map_or(0, |o| o.len() + 2) + text.len();
        if joined > MAX_FIELD_BYTES {
            return Err(Error::FieldTooLarge {
                field,
                len: joined,
                max: MAX_FIELD_BYTES,
            });
        }
        match out.as_mut() {
            Some(o) => {
                o.push_str(", ");
                o.push_str(text);
            }
            None => out = Some(text.to_owned()),
        }
    }
    Ok(out)
}

pub(crate) fn dictionary(value: &str) -> Result<Dictionary, String> {
    Parser::new(value)
        .with_version(Version::Rfc8941)
        .parse()
        .map_err(|e: sfv::Error| e.to_string())
}

fn signature_bytes(label: &str, value: &ListEntry) -> Result<Vec<u8>, Error> {
    let bytes = match value {
        ListEntry::Item(sfv::Item {
            bare_item: BareItem::ByteSequence(bytes),
            ..
        }) => bytes,
        _ => {
            return Err(Error::SignatureMalformed {
                detail: format!("{label:?} is not a byte sequence"),
            })
        }
    };
    if bytes.len() > MAX_SIGNATURE_BYTES {
        return Err(Error::SignatureTooLarge {
            label: label.to_owned(),
            len: bytes.len(),
            max: MAX_SIGNATURE_BYTES,
        });
    }
    if bytes.is_empty() {
        return Err(Error::SignatureMalformed {
            detail: format!("{label:?} is empty"),
        });
    }
    Ok(bytes.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::component::Component;
    use crate::params::Param;

    fn parse(inputs: &[&str], signatures: &[&str]) -> Result<Vec<ParsedSignature>, Error> {
        let inputs: Vec<_> = inputs
            .iter()
            .map(|s| HeaderValue::from_str(s).unwrap())
            .collect();
        let sigs: Vec<_> = signatures
            .iter()
            .map(|s| HeaderValue::from_str(s).unwrap())
            .collect();
        parse_signature_headers(&inputs, &sigs)
    }

    const SIG: &str = "sig1=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:";

    #[test]
    fn a_good_signature_parses() {
        let all = parse(
            &[r#"sig1=("@method" "@authority" "content-digest");created=1700000000;expires=1700000300;nonce="n-1";alg="ed25519";keyid="did:key:z6Mk#k";tag="didgate""#],
            &[SIG],
        )
        .unwrap();
        let sig = &all[0];
        assert_eq!(sig.label, "sig1");
        assert_eq!(sig.signature, vec![0; 64]);
        let p = &sig.params;
        assert_eq!(
            p.components,
            [
                Component::Method,
                Component::Authority,
                Component::Field(http::HeaderName::from_static("content-digest"))
            ]
        );
        assert_eq!(p.created(), Some(1_700_000_000));
        assert_eq!(p.expires(), Some(1_700_000_300));
        assert_eq!(p.nonce(), Some("n-1"));
        assert_eq!(p.alg(), Some(Algorithm::Ed25519));
        assert_eq!(p.keyid(), Some("did:key:z6Mk#k"));
        assert_eq!(p.tag(), Some("didgate"));
    }

    #[test]
    fn missing_fields_are_named() {
        assert_eq!(
            parse(&[], &[SIG]).unwrap_err(),
            Error::SignatureInputMissing
        );
        assert_eq!(
            parse(&[r#"sig1=("@method")"#], &[]).unwrap_err(),
            Error::SignatureMissing
        );
    }

    #[test]
    fn malformed_signature_input_is_refused() {
        for input in [
            "sig1",                           // a boolean, not an inner list
            r#"sig1="@method""#,              // an item, not an inner list
            r#"sig1=("@method""#,             // unterminated
            "sig1=(@method)",                 // tokens are not strings
            r#"sig1=("@method");created=@1"#, // RFC 9651 date, not RFC 8941
            "Sig1=()",                        // keys are lower-case
        ] {
            let err = parse(&[input], &[SIG]).unwrap_err();
            assert_eq!(err.reason(), "signature_input_malformed", "{input}: {err}");
        }
    }

    #[test]
    fn malformed_signature_is_refused() {
        for signature in [
            "sig1=:AAA$:",   // not base64
            "sig1=:AAAA",    // unterminated
            "sig1=\"AAAA\"", // a string, not a byte sequence
            "sig1=::",       // empty
            "sig1=(:AAAA:)", // an inner list
        ] {
            let err = parse(&[r#"sig1=("@method")"#], &[signature]).unwrap_err();
            assert!(
                matches!(err, Error::SignatureMalformed { .. }),
                "{signature}: {err}"
            );
        }
    }

    #[test]
    fn labels_must_pair() {
        assert_eq!(
            parse(&[r#"sig1=("@method")"#, r#"sig2=("@path")"#], &[SIG]).unwrap_err(),
            Error::SignatureLabelUnpaired {
                label: "sig2".into()
            }
        );
        assert_eq!(
            parse(&[r#"sig1=("@method")"#], &[SIG, "sig3=:AAAA:"]).unwrap_err(),
            Error::SignatureLabelUnpaired {
                label: "sig3".into()
            }
        );
    }

    #[test]
    fn hmac_rsa_and_p384_are_refused_by_name() {
        for alg in [
            "hmac-sha256",
            "rsa-pss-sha512",
            "rsa-v1_5-sha256",
            "ecdsa-p384-sha384",
            "nope",
        ] {
            let input = format!(r#"sig1=("@method");alg="{alg}""#);
            assert_eq!(
                parse(&[&input], &[SIG]).unwrap_err(),
                Error::AlgorithmNotAllowed { alg: alg.into() }
            );
        }
    }

    #[test]
    fn signature_parameters_are_checked() {
        for (params, param, reason) in [
            (";created=-1", "created", "signature_param_invalid"),
            (";expires=-1618884473", "expires", "signature_param_invalid"),
            (";created=1.5", "created", "signature_param_invalid"),
            (r#";created="1""#, "created", "signature_param_invalid"),
            (";keyid=k", "keyid", "signature_param_invalid"),
            (";alg=?1", "alg", "signature_param_invalid"),
            (";foo=1", "foo", "signature_param_unknown"),
        ] {
            let input = format!(r#"sig1=("@method"){params}"#);
            let err = parse(&[&input], &[SIG]).unwrap_err();
            assert_eq!(err.reason(), reason, "{input}");
            assert!(err.to_string().contains(param), "{err}");
        }
        // Past 15 digits is not a structured-field integer at all.
        let err = parse(&[r#"sig1=("@method");created=1234567890123456"#], &[SIG]).unwrap_err();
        assert_eq!(err.reason(), "signature_input_malformed");
    }

    #[test]
    fn duplicate_components_are_refused() {
        let err = parse(&[r#"sig1=("@method" "date" "@method")"#], &[SIG]).unwrap_err();
        assert_eq!(
            err,
            Error::ComponentDuplicate {
                component: "\"@method\"".into()
            }
        );
    }

    #[test]
    fn at_most_max_signatures() {
        let inputs: Vec<String> = (0..=MAX_SIGNATURES)
            .map(|i| format!(r#"s{i}=("@method")"#))
            .collect();
        let sigs: Vec<String> = (0..=MAX_SIGNATURES)
            .map(|i| format!("s{i}=:AAAA:"))
            .collect();
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let sigs: Vec<&str> = sigs.iter().map(String::as_str).collect();
        assert_eq!(
            parse(&inputs, &sigs).unwrap_err(),
            Error::TooManySignatures {
                count: MAX_SIGNATURES + 1,
                max: MAX_SIGNATURES
            }
        );
        assert_eq!(
            parse(&inputs[1..], &sigs[1..]).unwrap().len(),
            MAX_SIGNATURES
        );
    }

    #[test]
    fn at_most_max_components() {
        let components: Vec<String> = (0..=crate::MAX_COMPONENTS)
            .map(|i| format!("\"x-{i}\""))
            .collect();
        let input = format!("sig1=({})", components.join(" "));
        assert_eq!(
            parse(&[&input], &[SIG]).unwrap_err(),
            Error::TooManyComponents {
                count: crate::MAX_COMPONENTS + 1,
                max: crate::MAX_COMPONENTS
            }
        );
    }

    #[test]
    fn oversize_fields_are_refused_before_parsing() {
        let long = format!(
            r#"sig1=("@method");nonce="{}""#,
            "n".repeat(MAX_FIELD_BYTES)
        );
        let err = parse(&[&long], &[SIG]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::FieldTooLarge {
                    field: "Signature-Input",
                    max: MAX_FIELD_BYTES,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.reason(), "header_too_large");
        // Many small lines count their separators too.
        let empty = vec![""; MAX_FIELD_BYTES];
        let err = parse(&[r#"sig1=("@method")"#], &empty).unwrap_err();
        assert!(
            matches!(
                err,
                Error::FieldTooLarge {
                    field: "Signature",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn oversize_signatures_are_refused() {
        let bytes = vec![7u8; MAX_SIGNATURE_BYTES + 1];
        let value = signature_header("sig1", &bytes).unwrap();
        let err = parse(&[r#"sig1=("@method")"#], &[value.to_str().unwrap()]).unwrap_err();
        assert_eq!(
            err,
            Error::SignatureTooLarge {
                label: "sig1".into(),
                len: MAX_SIGNATURE_BYTES + 1,
                max: MAX_SIGNATURE_BYTES
            }
        );
    }

    #[test]
    fn unsigned_and_response_components_are_refused_in_input() {
        let err = parse(&[r#"sig1=("@method" "@status")"#], &[SIG]).unwrap_err();
        assert_eq!(err.reason(), "component_not_for_requests");
        let err = parse(&[r#"sig1=("@method" "@signature-params")"#], &[SIG]).unwrap_err();
        assert_eq!(err, Error::SignatureParamsCovered);
        let err = parse(&[r#"sig1=("Date")"#], &[SIG]).unwrap_err();
        assert_eq!(err.reason(), "component_name_not_lowercase");
    }

    #[test]
    fn header_building_refuses_what_has_no_wire_form() {
        let params = SignatureParams::new(vec![Component::Method]);
        for label in ["Sig1", "1sig", "", "sig 1"] {
            let err = signature_input_header(label, &params).unwrap_err();
            assert_eq!(err.reason(), "signature_params_unserializable", "{label:?}");
            assert!(signature_header(label, b"x").is_err());
        }
        for param in [
            Param::KeyId("k\u{e9}y".into()),
            Param::Nonce("line\nbreak".into()),
            Param::Created(1_000_000_000_000_000),
        ] {
            let params = SignatureParams::new(vec![]).with(param);
            let err = signature_input_header("sig1", &params).unwrap_err();
            assert_eq!(err.reason(), "signature_params_unserializable");
        }
    }

    #[test]
    fn parameters_keep_the_order_they_were_given_in() {
        let params = SignatureParams::new(vec![Component::Method])
            .with(Param::KeyId("k".into()))
            .with(Param::Alg(Algorithm::EcdsaSecp256k1Sha256))
            .with(Param::Created(1))
            .with(Param::KeyId("k2".into()));
        assert_eq!(
            signature_input_header("sig1", &params).unwrap(),
            r#"sig1=("@method");keyid="k2";alg="ecdsa-secp256k1-sha256";created=1"#
        );
        // RFC 9421 §2.3 example order.
        let input = r#"sig1=("@target-uri" "@authority" "date" "cache-control");keyid="test-key-rsa-pss";alg="ecdsa-p256-sha256";created=1618884475;expires=1618884775"#;
        let parsed = parse(&[input], &[SIG]).unwrap();
        assert_eq!(
            signature_input_header("sig1", &parsed[0].params).unwrap(),
            input
        );
    }
}
