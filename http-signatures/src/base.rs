//! The signature base (RFC 9421 §2.5): the exact bytes a signer signs and a
//! verifier checks.

use crate::error::Error;
use crate::params::SignatureParams;
use crate::request::RequestView;

/// The signature base of `request` for `params`: one line
/// `"<component-id>": <value>\n` per covered component, in order, then
/// `"@signature-params": <value>` with no final newline.
///
/// Fails if a covered component is missing from the request, cannot be
/// signed (non-ASCII, obs-fold, ambiguous), or is covered twice.
pub fn signature_base(
    request: &RequestView<'_>,
    params: &SignatureParams,
) -> Result<Vec<u8>, Error> {
    params.validate()?;
    let mut out = String::with_capacity(64 * (params.components.len() + 1));
    for component in &params.components {
        component.write_identifier(&mut out)?;
        out.push_str(": ");
        let value = request.value(component)?;
        if value
            .bytes()
            .any(|b| !(b == b'\t' || b == b' ' || b.is_ascii_graphic()))
        {
            // Derived values come from an `http::Uri` and method, field values
            // were checked line by line; this is the base's own invariant.
            return Err(Error::CoveredComponentInvalid {
                component: component.to_string(),
                detail: "the value has a character a signature base cannot hold",
            });
        }
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("\"@signature-params\": ");
    params.write(&mut out)?;
    Ok(out.into_bytes())
}

/// RFC 9421 Appendix B, transcribed with the RFC 8792 `\` line wrapping
/// undone (the wrapped lines' leading spaces are not part of the values).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE};
    use http::uri::Scheme;
    use http::HeaderValue;

    use super::*;
    use crate::component::Component;
    use crate::error::Error;
    use crate::headers::{
        find_signature, parse_signature_headers, signature_header, signature_input_header,
    };
    use crate::params::Param;

    const CONTENT_DIGEST: http::HeaderName = http::HeaderName::from_static("content-digest");

    /// The `Content-Digest` of B.2 `test-request`: sha-512 of `{"hello": "world"}`.
    const REQUEST_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    /// B.2 `test-request`, with extra fields (`Signature-Input`, …) added.
    fn test_request(extra: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/foo?param=Value&Pet=dog")
            .header("Host", "example.com")
            .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("Content-Type", "application/json")
            .header("Content-Digest", REQUEST_DIGEST)
            .header("Content-Length", "18");
        for (name, value) in extra {
            b = b.header(*name, *value);
        }
        b.body(()).unwrap()
    }

    fn base_of(request: &http::Request<()>, params: &SignatureParams) -> Result<String, Error> {
        let view = RequestView::from_request(request, Scheme::HTTPS);
        signature_base(&view, params).map(|b| String::from_utf8(b).unwrap())
    }

    fn parsed(request: &http::Request<()>, label: &str) -> crate::ParsedSignature {
        let h = request.headers();
        let all =
            parse_signature_headers(h.get_all("signature-input"), h.get_all("signature")).unwrap();
        find_signature(&all, label).unwrap().clone()
    }

    // B.1.4 test-key-ed25519 (JWK form).
    const ED25519_D: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
    const ED25519_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
    // B.1.4 in PEM: the PKCS#8 private key ends with d, the SPKI with x.
    const ED25519_PRIVATE_PEM: &str =
        "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
    const ED25519_PUBLIC_PEM: &str = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

    const B26_INPUT: &str = concat!(
        r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")"#,
        r#";created=1618884473;keyid="test-key-ed25519""#
    );
    const B26_SIGNATURE: &str = concat!(
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1",
        "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
    );
    const B26_BASE: &str = concat!(
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n",
        "\"@method\": POST\n",
        "\"@path\": /foo\n",
        "\"@authority\": example.com\n",
        "\"content-type\": application/json\n",
        "\"content-length\": 18\n",
        r#""@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")"#,
        r#";created=1618884473;keyid="test-key-ed25519""#
    );

    fn ed25519_key() -> ed25519_dalek::SigningKey {
        let d: [u8; 32] = URL_SAFE_NO_PAD
            .decode(ED25519_D)
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&d);
        let x = URL_SAFE_NO_PAD.decode(ED25519_X).unwrap();
        assert_eq!(key.verifying_key().as_bytes().as_slice(), x.as_slice());
        let pem_d = STANDARD.decode(ED25519_PRIVATE_PEM).unwrap();
        let pem_x = STANDARD.decode(ED25519_PUBLIC_PEM).unwrap();
        assert!(
            pem_d.ends_with(&d) && pem_x.ends_with(&x),
            "JWK and PEM agree"
        );
        key
    }

    /// B.2.6: verifying side. Our base is the RFC's, byte for byte, and the
    /// B.1.4 key's (deterministic) Ed25519 signature over it is the RFC's.
    #[test]
    fn rfc9421_b26_ed25519_verify_byte_for_byte() {
        use ed25519_dalek::{Signer as _, Verifier as _};
        let request = test_request(&[("Signature-Input", B26_INPUT), ("Signature", B26_SIGNATURE)]);
        let sig = parsed(&request, "sig-b26");
        assert_eq!(sig.params.keyid(), Some("test-key-ed25519"));
        assert_eq!(sig.params.created(), Some(1_618_884_473));
        assert_eq!(sig.params.alg(), None);
        let base = base_of(&request, &sig.params).unwrap();
        assert_eq!(base, B26_BASE);

        let key = ed25519_key();
        assert_eq!(
            key.sign(base.as_bytes()).to_bytes().as_slice(),
            sig.signature.as_slice()
        );
        let rfc_signature = ed25519_dalek::Signature::from_slice(&sig.signature).unwrap();
        key.verifying_key()
            .verify(base.as_bytes(), &rfc_signature)
            .unwrap();
    }

    /// B.2.6: signing side. Parameters built in code give the RFC's base and
    /// both header fields, byte for byte.
    #[test]
    fn rfc9421_b26_ed25519_sign_byte_for_byte() {
        use ed25519_dalek::Signer as _;
        let params = SignatureParams::new(vec![
            Component::Field(DATE),
            Component::Method,
            Component::Path,
            Component::Authority,
            Component::Field(CONTENT_TYPE),
            Component::Field(CONTENT_LENGTH),
        ])
        .with(Param::Created(1_618_884_473))
        .with(Param::KeyId("test-key-ed25519".into()));
        let request = test_request(&[]);
        let base = base_of(&request, &params).unwrap();
        assert_eq!(base, B26_BASE);
        let signature = ed25519_key().sign(base.as_bytes()).to_bytes();
        assert_eq!(
            signature_input_header("sig-b26", &params).unwrap(),
            B26_INPUT
        );
        assert_eq!(
            signature_header("sig-b26", &signature).unwrap(),
            B26_SIGNATURE
        );
    }

    // B.1.3 test-key-ecc-p256 (JWK form) and its SPKI PEM.
    const P256_X: &str = "qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA";
    const P256_Y: &str = "Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0";
    const P256_D: &str = "UpuF81l-kOxbjf7T4mNSv0r5tN67Gim7rnf6EFpcYDs";
    const P256_PUBLIC_PEM: &str = concat!(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf",
        "w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ=="
    );

    fn p256_public() -> p256::ecdsa::VerifyingKey {
        let mut sec1 = vec![0x04];
        sec1.extend(URL_SAFE_NO_PAD.decode(P256_X).unwrap());
        sec1.extend(URL_SAFE_NO_PAD.decode(P256_Y).unwrap());
        assert!(STANDARD.decode(P256_PUBLIC_PEM).unwrap().ends_with(&sec1));
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap()
    }

    /// B.2.4 signs a *response* (`@status`), which a request signature
    /// cannot cover: the RFC's signature is checked over the RFC's base with
    /// p256, our lines for its three header fields are checked against the
    /// RFC's, and our parser refuses its `Signature-Input` for a request.
    #[test]
    fn rfc9421_b24_ecdsa_p256_signature_verifies_over_the_rfc_base() {
        use p256::ecdsa::signature::Verifier as _;
        const B24_DIGEST: &str = "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:";
        let fields = format!(
            "\"content-type\": application/json\n\"content-digest\": {B24_DIGEST}\n\"content-length\": 23\n"
        );
        let base = format!(
            "\"@status\": 200\n{fields}{}",
            r#""@signature-params": ("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256""#
        );
        let signature = STANDARD
            .decode("wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==")
            .unwrap();
        let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        p256_public().verify(base.as_bytes(), &signature).unwrap();

        // The header-field lines, from the test-response's fields.
        let response_fields = http::Request::builder()
            .header("Content-Type", "application/json")
            .header("Content-Digest", B24_DIGEST)
            .header("Content-Length", "23")
            .body(())
            .unwrap();
        let params = SignatureParams::new(vec![
            Component::Field(CONTENT_TYPE),
            Component::Field(CONTENT_DIGEST),
            Component::Field(CONTENT_LENGTH),
        ]);
        let ours = base_of(&response_fields, &params).unwrap();
        assert!(ours.starts_with(&fields), "{ours}");

        let err = SignatureParams::parse(
            r#"("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256""#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::ComponentNotForRequests {
                name: "@status".into()
            }
        );
    }

    /// Not an RFC vector: ecdsa-p256-sha256 over B.2 test-request with the
    /// B.1.3 key, signed with RFC 6979 and verified with the public key, to
    /// exercise the `alg` parameter and the raw `r || s` form end to end.
    #[test]
    fn ecdsa_p256_over_the_test_request_round_trips() {
        use p256::ecdsa::signature::{Signer as _, Verifier as _};
        let d = URL_SAFE_NO_PAD.decode(P256_D).unwrap();
        let key = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        assert_eq!(key.verifying_key(), &p256_public());
        let params = SignatureParams::new(vec![
            Component::Method,
            Component::TargetUri,
            Component::Field(CONTENT_DIGEST),
        ])
        .with(Param::Created(1_618_884_473))
        .with(Param::KeyId("test-key-ecc-p256".into()))
        .with(Param::Alg(crate::Algorithm::EcdsaP256Sha256));
        let request = test_request(&[]);
        let base = base_of(&request, &params).unwrap();
        let signature: p256::ecdsa::Signature = key.sign(base.as_bytes());
        let input = signature_input_header("sig1", &params).unwrap();
        let value = signature_header("sig1", &signature.to_bytes()).unwrap();

        let received = test_request(&[
            ("Signature-Input", input.to_str().unwrap()),
            ("Signature", value.to_str().unwrap()),
        ]);
        let sig = parsed(&received, "sig1");
        assert_eq!(
            sig.params.alg().map(crate::Algorithm::jose_alg),
            Some("ES256")
        );
        let rebuilt = base_of(&received, &sig.params).unwrap();
        assert_eq!(
            rebuilt,
            concat!(
                "\"@method\": POST\n",
                "\"@target-uri\": https://example.com/foo?param=Value&Pet=dog\n",
                "\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n",
                r#""@signature-params": ("@method" "@target-uri" "content-digest")"#,
                r#";created=1618884473;keyid="test-key-ecc-p256";alg="ecdsa-p256-sha256""#,
            )
        );
        let signature = p256::ecdsa::Signature::from_slice(&sig.signature).unwrap();
        p256_public()
            .verify(rebuilt.as_bytes(), &signature)
            .unwrap();
    }

    /// B.2.1–B.2.3 and B.2.5: signature bases only (RSA-PSS and HMAC
    /// signatures are not verified by didgate).
    #[test]
    fn rfc9421_b21_b22_b23_b25_signature_bases() {
        let cases = [
            (
                r#"();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#,
                String::new(),
            ),
            (
                r#"("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#,
                format!(
                    "\"@authority\": example.com\n\"content-digest\": {REQUEST_DIGEST}\n\"@query-param\";name=\"Pet\": dog\n"
                ),
            ),
            (
                r#"("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#,
                format!(
                    "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@query\": ?param=Value&Pet=dog\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-digest\": {REQUEST_DIGEST}\n\"content-length\": 18\n"
                ),
            ),
            (
                r#"("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#,
                "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n".to_owned(),
            ),
        ];
        let request = test_request(&[]);
        for (input, lines) in cases {
            let params = SignatureParams::parse(input).unwrap();
            let base = base_of(&request, &params).unwrap();
            assert_eq!(base, format!("{lines}\"@signature-params\": {input}"));
        }
    }

    #[test]
    fn several_signatures_are_read_by_label() {
        let request = test_request(&[
            ("Signature-Input", B26_INPUT),
            (
                "Signature-Input",
                r#"sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#,
            ),
            ("Signature", B26_SIGNATURE),
            ("Signature", "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:"),
        ]);
        let h = request.headers();
        let all =
            parse_signature_headers(h.get_all("signature-input"), h.get_all("signature")).unwrap();
        let labels: Vec<_> = all.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["sig-b26", "sig-b22"]);
        assert_eq!(
            find_signature(&all, "sig-b22").unwrap().signature.len(),
            256
        );
        assert_eq!(
            find_signature(&all, "sig-b22").unwrap().params.tag(),
            Some("header-example")
        );
        assert_eq!(
            find_signature(&all, "sig1").unwrap_err(),
            Error::SignatureLabelNotFound {
                label: "sig1".into()
            }
        );
        assert_eq!(base_of(&request, &all[0].params).unwrap(), B26_BASE);
    }

    #[test]
    fn a_missing_covered_field_refuses_the_base() {
        let request = test_request(&[]);
        let params = SignatureParams::new(vec![Component::Field(http::header::AUTHORIZATION)]);
        assert_eq!(
            base_of(&request, &params).unwrap_err(),
            Error::CoveredComponentMissing {
                component: "\"authorization\"".into()
            }
        );
    }

    #[test]
    fn a_component_covered_twice_refuses_the_base() {
        let request = test_request(&[]);
        let params =
            SignatureParams::new(vec![Component::Method, Component::Path, Component::Method]);
        assert_eq!(
            base_of(&request, &params).unwrap_err(),
            Error::ComponentDuplicate {
                component: "\"@method\"".into()
            }
        );
    }

    #[test]
    fn a_non_ascii_field_value_refuses_the_base() {
        let mut request = test_request(&[]);
        request
            .headers_mut()
            .insert("x-name", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        let params = SignatureParams::new(vec![Component::Field(http::HeaderName::from_static(
            "x-name",
        ))]);
        assert_eq!(
            base_of(&request, &params).unwrap_err().reason(),
            "covered_component_invalid"
        );
    }

    #[test]
    fn too_many_components_refuse_the_base() {
        let components = (0..=crate::MAX_COMPONENTS)
            .map(|i| Component::QueryParam(format!("p{i}")))
            .collect();
        let err = base_of(&test_request(&[]), &SignatureParams::new(components)).unwrap_err();
        assert_eq!(err.reason(), "too_many_components");
    }

    #[test]
    fn the_base_covers_empty_fields_and_dictionary_members() {
        let request = test_request(&[("X-Empty", ""), ("Example-Dict", "a=1, b=2;x=1")]);
        let params = SignatureParams::new(vec![
            Component::Field(http::HeaderName::from_static("x-empty")),
            Component::DictionaryMember(http::HeaderName::from_static("example-dict"), "b".into()),
            Component::StructuredField(CONTENT_DIGEST),
        ]);
        assert_eq!(
            base_of(&request, &params).unwrap(),
            format!(
                "\"x-empty\": \n\"example-dict\";key=\"b\": 2;x=1\n\"content-digest\";sf: {}\n{}",
                REQUEST_DIGEST,
                r#""@signature-params": ("x-empty" "example-dict";key="b" "content-digest";sf)"#
            )
        );
    }
}
