//! `Content-Digest` (RFC 9530 §2): a Dictionary of digests of the message
//! content, e.g. `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
//!
//! A signature covers the body by covering `content-digest`; the verifier
//! then checks the digest against the body it received ([`verify`]).

use http::HeaderValue;
use sfv::{BareItem, ListEntry};
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::Error;
use crate::headers::{combined, dictionary};

/// A digest algorithm this crate computes and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl DigestAlgorithm {
    /// The Dictionary key naming the algorithm.
    pub fn wire_name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    fn from_wire(name: &str) -> Option<Self> {
        match name {
            "sha-256" => Some(DigestAlgorithm::Sha256),
            "sha-512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    fn digest(self, body: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Sha256 => Sha256::digest(body).to_vec(),
            DigestAlgorithm::Sha512 => Sha512::digest(body).to_vec(),
        }
    }
}

/// The `Content-Digest` value for `body`: `sha-256=:…:` or `sha-512=:…:`.
pub fn compute(alg: DigestAlgorithm, body: &[u8]) -> HeaderValue {
    let mut ser = sfv::DictSerializer::new();
    let _ = ser.bare_item(sfv::key_ref(alg.wire_name()), alg.digest(body).as_slice());
    let text = ser.finish().unwrap_or_default();
    // A key, `=:`, base64 and `:` are all visible ASCII: this cannot fail.
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Checks `body` against its `Content-Digest` field lines (pass
/// `headers.get_all("content-digest")`).
///
/// Every digest in a supported algorithm must match; digests in other
/// algorithms are ignored when a supported one is present, and the field
/// is refused when none is.
pub fn verify<'h>(
    header: impl IntoIterator<Item = &'h HeaderValue>,
    body: &[u8],
) -> Result<(), Error> {
    let malformed = |detail| Error::ContentDigestMalformed { detail };
    let value =
        combined(header, "Content-Digest", malformed)?.ok_or(Error::ContentDigestMissing)?;
    let dict = dictionary(&value).map_err(malformed)?;
    if dict.is_empty() {
        return Err(malformed("no digest".to_owned()));
    }
    let mut checked = false;
    for (name, member) in &dict {
        let Some(alg) = DigestAlgorithm::from_wire(name.as_str()) else {
            continue;
        };
        let ListEntry::Item(sfv::Item {
            bare_item: BareItem::ByteSequence(claimed),
            ..
        }) = member
        else {
            return Err(malformed(format!(
                "{alg:?} is not a byte sequence",
                alg = name.as_str()
            )));
        };
        let actual = alg.digest(body);
        if claimed.len() != actual.len() {
            return Err(malformed(format!(
                "{} is {} bytes, not {}",
                alg.wire_name(),
                claimed.len(),
                actual.len()
            )));
        }
        if *claimed != actual {
            return Err(Error::ContentDigestMismatch {
                alg: alg.wire_name(),
            });
        }
        checked = true;
    }
    if checked {
        Ok(())
    } else {
        Err(Error::ContentDigestAlgorithmUnsupported {
            algs: dict
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(lines: &[&str], body: &[u8]) -> Result<(), Error> {
        let lines: Vec<_> = lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect();
        verify(&lines, body)
    }

    const HELLO: &[u8] = br#"{"hello": "world"}"#;

    /// RFC 9421 B.2 test-request and RFC 9530: `{"hello": "world"}`.
    #[test]
    fn computes_the_rfc_digests() {
        assert_eq!(
            compute(DigestAlgorithm::Sha256, HELLO),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        assert_eq!(
            compute(DigestAlgorithm::Sha512, HELLO),
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
        );
        // RFC 9530 §2 and Appendix B.1: the same object followed by LF.
        let with_lf = b"{\"hello\": \"world\"}\n";
        assert_eq!(
            compute(DigestAlgorithm::Sha512, with_lf),
            "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:"
        );
        assert_eq!(
            compute(DigestAlgorithm::Sha256, with_lf),
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
        );
    }

    #[test]
    fn verifies_the_rfc_digests() {
        check(
            &["sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"],
            HELLO,
        )
        .unwrap();
        check(
            &["sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"],
            HELLO,
        )
        .unwrap();
        // Both, over two field lines; each is checked.
        check(
            &[
                "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
            ],
            HELLO,
        )
        .unwrap();
    }

    #[test]
    fn unknown_algorithms_are_ignored_beside_a_known_one() {
        check(
            &["md5=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, unixsum=3"],
            HELLO,
        )
        .unwrap();
    }

    #[test]
    fn only_unknown_algorithms_are_refused() {
        assert_eq!(
            check(&["md5=:AAAA:, sha=:AAAA:"], HELLO).unwrap_err(),
            Error::ContentDigestAlgorithmUnsupported {
                algs: "md5, sha".into()
            }
        );
    }

    #[test]
    fn a_mismatch_is_its_own_error() {
        assert_eq!(
            check(
                &["sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"],
                b"{}"
            )
            .unwrap_err(),
            Error::ContentDigestMismatch { alg: "sha-256" }
        );
        // One good digest does not excuse a bad one.
        let err = check(
            &[
                "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
                "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:",
            ],
            HELLO,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "content_digest_mismatch");
    }

    #[test]
    fn missing_and_malformed_are_refused() {
        assert_eq!(check(&[], HELLO).unwrap_err(), Error::ContentDigestMissing);
        assert_eq!(
            check(&[], HELLO).unwrap_err().reason(),
            "content_digest_missing"
        );
        for bad in [
            "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", // not a byte sequence
            "sha-256=:AAAA:",                                       // wrong length
            "sha-256=:not base64:",
            "",
            "sha-256=(:AAAA:)",
        ] {
            let err = check(&[bad], HELLO).unwrap_err();
            assert_eq!(err.reason(), "content_digest_malformed", "{bad:?}: {err}");
        }
        let long = format!("sha-256=:{}:", "A".repeat(crate::MAX_FIELD_BYTES));
        assert_eq!(
            check(&[&long], HELLO).unwrap_err().reason(),
            "header_too_large"
        );
    }

    #[test]
    fn computed_values_verify() {
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            for body in [&b""[..], b"x", HELLO] {
                verify([&compute(alg, body)], body).unwrap();
            }
        }
    }
}
