//! Every refusal of this crate, named as the signer or the gateway operator
//! sees it, with one stable reason code each (`Error::reason`).

/// Why a signature, its header fields, or a Content-Digest was refused.
///
/// Components are named by their serialised identifier (`"content-type"`,
/// `"@query-param";name="id"`), as they appear in `Signature-Input`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request has no `Signature-Input` field.
    #[error("the request has no Signature-Input field")]
    SignatureInputMissing,
    /// The request has no `Signature` field.
    #[error("the request has no Signature field")]
    SignatureMissing,
    /// `Signature-Input` is not a dictionary of inner lists of strings.
    #[error("Signature-Input is malformed: {detail}")]
    SignatureInputMalformed { detail: String },
    /// `Signature` is not a dictionary of byte sequences (bad base64 included).
    #[error("Signature is malformed: {detail}")]
    SignatureMalformed { detail: String },
    /// A field's combined value is longer than this crate reads.
    #[error("{field} is at least {len} bytes, more than the {max} accepted")]
    FieldTooLarge {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// More signatures than this crate reads in one request.
    #[error("{count} signatures, more than the {max} accepted")]
    TooManySignatures { count: usize, max: usize },
    /// More covered components than this crate reads in one signature.
    #[error("{count} covered components, more than the {max} accepted")]
    TooManyComponents { count: usize, max: usize },
    /// A signature value longer than any algorithm here produces.
    #[error("signature {label:?} is {len} bytes, more than the {max} accepted")]
    SignatureTooLarge {
        label: String,
        len: usize,
        max: usize,
    },
    /// A label found in `Signature-Input` or `Signature` but not in both.
    #[error("signature label {label:?} is not in both Signature-Input and Signature")]
    SignatureLabelUnpaired { label: String },
    /// No signature carries the label the caller asked for.
    #[error("no signature is labelled {label:?}")]
    SignatureLabelNotFound { label: String },
    /// A signature parameter has the wrong type or value (`created=-1`).
    #[error("signature parameter {param} is invalid: {detail}")]
    SignatureParamInvalid { param: String, detail: &'static str },
    /// A signature parameter that RFC 9421 does not define.
    #[error(
        "signature parameter {param:?} is not one of created, expires, nonce, alg, keyid, tag"
    )]
    SignatureParamUnknown { param: String },
    /// An `alg` other than the three this crate maps to a JOSE algorithm.
    #[error("signature algorithm {alg:?} is not allowed (ed25519, ecdsa-p256-sha256 and ecdsa-secp256k1-sha256 are)")]
    AlgorithmNotAllowed { alg: String },
    /// A derived component (`@…`) that RFC 9421 does not define for requests.
    #[error("unknown derived component {name:?}")]
    ComponentUnknown { name: String },
    /// A response-only component (`@status`) covered in a request signature.
    #[error("component {name:?} applies to responses, not to requests")]
    ComponentNotForRequests { name: String },
    /// A component parameter this crate does not support (`bs`, `tr`, `req`, …).
    #[error("parameter {param:?} on component {component} is not supported: {detail}")]
    ComponentParamUnsupported {
        component: String,
        param: String,
        detail: &'static str,
    },
    /// A covered field name with upper-case letters (RFC 9421 §2.1).
    #[error("covered field name {name:?} must be lower-case")]
    ComponentNameNotLowercase { name: String },
    /// A covered field name that is not a field name at all.
    #[error("covered component name {name:?} is not a valid field name")]
    ComponentNameInvalid { name: String },
    /// `@signature-params` listed as a covered component (RFC 9421 §2.3).
    #[error("\"@signature-params\" cannot be a covered component")]
    SignatureParamsCovered,
    /// The same component identifier covered twice.
    #[error("component {component} is covered more than once")]
    ComponentDuplicate { component: String },
    /// A covered component the request does not have (field, authority,
    /// query parameter, dictionary member).
    #[error("covered component {component} is not in the request")]
    CoveredComponentMissing { component: String },
    /// A covered query parameter that occurs more than once (RFC 9421 §2.2.8).
    #[error("query parameter {name:?} occurs more than once; cover \"@query\" instead")]
    QueryParamRepeated { name: String },
    /// A covered component whose value cannot go into a signature base
    /// (non-ASCII, obs-fold, not the structured field it claims to be, …).
    #[error("covered component {component} cannot be signed: {detail}")]
    CoveredComponentInvalid {
        component: String,
        detail: &'static str,
    },
    /// `sf` on a field whose structured type this crate does not know.
    #[error("covered component {component} asks for strict serialisation of a field whose structured type is not known")]
    StructuredFieldTypeUnknown { component: String },
    /// A value the signer supplied that has no structured-field form
    /// (a non-printable `keyid`, a timestamp beyond 15 digits, a bad label).
    #[error("{what} cannot be serialised: {detail}")]
    NotSerializable { what: String, detail: &'static str },
    /// The request has no `Content-Digest` field.
    #[error("the request has no Content-Digest field")]
    ContentDigestMissing,
    /// `Content-Digest` is not a dictionary of byte sequences of the right size.
    #[error("Content-Digest is malformed: {detail}")]
    ContentDigestMalformed { detail: String },
    /// `Content-Digest` names no algorithm this crate computes.
    #[error("Content-Digest uses no supported algorithm (sha-256, sha-512); it has {algs}")]
    ContentDigestAlgorithmUnsupported { algs: String },
    /// The body does not hash to the digest in `Content-Digest`.
    #[error("the body does not match its Content-Digest {alg}")]
    ContentDigestMismatch { alg: &'static str },
}

impl Error {
    /// The stable reason code for HTTP refusal bodies, logs and audit.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::SignatureInputMissing => "signature_input_missing",
            Error::SignatureMissing => "signature_missing",
            Error::SignatureInputMalformed { .. } => "signature_input_malformed",
            Error::SignatureMalformed { .. } => "signature_malformed",
            Error::FieldTooLarge { .. } => "header_too_large",
            Error::TooManySignatures { .. } => "too_many_signatures",
            Error::TooManyComponents { .. } => "too_many_components",
            Error::SignatureTooLarge { .. } => "signature_too_large",
            Error::SignatureLabelUnpaired { .. } => "signature_label_unpaired",
            Error::SignatureLabelNotFound { .. } => "signature_label_not_found",
            Error::SignatureParamInvalid { .. } => "signature_param_invalid",
            Error::SignatureParamUnknown { .. } => "signature_param_unknown",
            Error::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            Error::ComponentUnknown { .. } => "component_unknown",
            Error::ComponentNotForRequests { .. } => "component_not_for_requests",
            Error::ComponentParamUnsupported { .. } => "component_param_unsupported",
            Error::ComponentNameNotLowercase { .. } => "component_name_not_lowercase",
            Error::ComponentNameInvalid { .. } => "component_name_invalid",
            Error::SignatureParamsCovered => "signature_params_covered",
            Error::ComponentDuplicate { .. } => "covered_component_duplicate",
            Error::CoveredComponentMissing { .. } => "covered_component_missing",
            Error::QueryParamRepeated { .. } => "query_param_repeated",
            Error::CoveredComponentInvalid { .. } => "covered_component_invalid",
            Error::StructuredFieldTypeUnknown { .. } => "structured_field_type_unknown",
            Error::NotSerializable { .. } => "signature_params_unserializable",
            Error::ContentDigestMissing => "content_digest_missing",
            Error::ContentDigestMalformed { .. } => "content_digest_malformed",
            Error::ContentDigestAlgorithmUnsupported { .. } => {
                "content_digest_algorithm_unsupported"
            }
            Error::ContentDigestMismatch { .. } => "content_digest_mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_stable_snake_case_and_distinct() {
        let s = String::new;
        let all = [
            Error::SignatureInputMissing,
            Error::SignatureMissing,
            Error::SignatureInputMalformed { detail: s() },
            Error::SignatureMalformed { detail: s() },
            Error::FieldTooLarge {
                field: "Signature",
                len: 0,
                max: 0,
            },
            Error::TooManySignatures { count: 0, max: 0 },
            Error::TooManyComponents { count: 0, max: 0 },
            Error::SignatureTooLarge {
                label: s(),
                len: 0,
                max: 0,
            },
            Error::SignatureLabelUnpaired { label: s() },
            Error::SignatureLabelNotFound { label: s() },
            Error::SignatureParamInvalid {
                param: s(),
                detail: "",
            },
            Error::SignatureParamUnknown { param: s() },
            Error::AlgorithmNotAllowed { alg: s() },
            Error::ComponentUnknown { name: s() },
            Error::ComponentNotForRequests { name: s() },
            Error::ComponentParamUnsupported {
                component: s(),
                param: s(),
                detail: "",
            },
            Error::ComponentNameNotLowercase { name: s() },
            Error::ComponentNameInvalid { name: s() },
            Error::SignatureParamsCovered,
            Error::ComponentDuplicate { component: s() },
            Error::CoveredComponentMissing { component: s() },
            Error::QueryParamRepeated { name: s() },
            Error::CoveredComponentInvalid {
                component: s(),
                detail: "",
            },
            Error::StructuredFieldTypeUnknown { component: s() },
            Error::NotSerializable {
                what: s(),
                detail: "",
            },
            Error::ContentDigestMissing,
            Error::ContentDigestMalformed { detail: s() },
            Error::ContentDigestAlgorithmUnsupported { algs: s() },
            Error::ContentDigestMismatch { alg: "sha-256" },
        ];
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            let r = e.reason();
            assert!(
                r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{r}"
            );
            assert!(seen.insert(r), "{r} twice");
        }
    }
}
