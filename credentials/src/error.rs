//! Why a credential or presentation was refused, as the holder would want to
//! be told, each with a stable reason code.

use did_registry::ethr::StatusError;
use did_registry::{ResolveError, SignatureError};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("malformed token: {reason}")]
    Malformed { reason: String },
    #[error("algorithm {alg:?} is not allowed (EdDSA, ES256, ES256K are; never none or HMAC)")]
    AlgorithmNotAllowed { alg: String },
    #[error("the {what} signature is invalid: {source}")]
    Signature {
        what: &'static str,
        source: SignatureError,
    },
    #[error("cannot resolve {did}: {source}")]
    Resolve { did: String, source: ResolveError },
    #[error("the presentation expired at {exp}")]
    PresentationExpired { exp: i64 },
    #[error("the credential expired at {exp}")]
    CredentialExpired { exp: i64 },
    #[error("the {what} is not valid before {nbf}")]
    NotYetValid { what: &'static str, nbf: i64 },
    #[error("the presentation has no exp")]
    PresentationExpMissing,
    #[error("the presentation is valid for {lifetime}s; at most {max}s is accepted")]
    PresentationLifetimeTooLong { lifetime: i64, max: i64 },
    #[error("the presentation is for audience {got:?}, not this gateway")]
    WrongAudience { got: String },
    #[error("the presentation's nonce is not the one this login asked for")]
    WrongNonce,
    #[error("the presentation has neither jti nor nonce, so it could be replayed")]
    ReplayIdMissing,
    #[error("the credential's subject {subject} is not the presenter {holder}")]
    SubjectNotHolder { subject: String, holder: String },
    #[error("issuer {issuer} is not trusted for {types:?}")]
    IssuerNotTrusted { issuer: String, types: Vec<String> },
    #[error("the presentation carries no credential")]
    NoCredential,
    #[error("the presentation carries more than one credential of type {ty}")]
    DuplicateCredentialType { ty: String },
    #[error("{claim} is not a time between 1970 and 9999")]
    TimeOutOfRange { claim: &'static str },
    #[error("invalid key: {reason}")]
    InvalidKey { reason: String },
    /// `credentialStatus`: revoked, or it cannot be checked (never a pass).
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl CredentialError {
    /// Stable snake_case code, used in refusals and the decision log.
    pub fn reason_code(&self) -> &'static str {
        match self {
            CredentialError::Malformed { .. } => "malformed_token",
            CredentialError::AlgorithmNotAllowed { .. } => "alg_not_allowed",
            CredentialError::Signature { source, .. } => source.reason_code(),
            CredentialError::Resolve { source, .. } => source.reason_code(),
            CredentialError::PresentationExpired { .. } => "presentation_expired",
            CredentialError::CredentialExpired { .. } => "credential_expired",
            CredentialError::NotYetValid { .. } => "not_yet_valid",
            CredentialError::PresentationExpMissing => "presentation_exp_missing",
            CredentialError::PresentationLifetimeTooLong { .. } => "presentation_lifetime_too_long",
            CredentialError::WrongAudience { .. } => "wrong_audience",
            CredentialError::WrongNonce => "wrong_nonce",
            CredentialError::ReplayIdMissing => "replay_id_missing",
            CredentialError::SubjectNotHolder { .. } => "subject_not_holder",
            CredentialError::IssuerNotTrusted { .. } => "issuer_not_trusted",
            CredentialError::NoCredential => "no_credential",
            CredentialError::DuplicateCredentialType { .. } => "duplicate_credential_type",
            CredentialError::TimeOutOfRange { .. } => "time_out_of_range",
            CredentialError::InvalidKey { .. } => "invalid_key",
            CredentialError::Status(e) => e.reason_code(),
        }
    }

    /// Whether our side cannot check the credential right now (a chain or a
    /// status list cannot be reached): a 503 to retry, never a pass.
    pub fn is_unavailable(&self) -> bool {
        match self {
            CredentialError::Resolve { source, .. } => source.is_unavailable(),
            CredentialError::Status(e) => e.is_unavailable(),
            _ => false,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        CredentialError::Malformed {
            reason: reason.into(),
        }
    }
}
