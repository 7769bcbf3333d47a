//! Why a request was not forwarded, as a type: each reason knows its HTTP
//! status, its stable wire code (the one the client, the logs and the
//! decision log see) and its RFC 6750 `WWW-Authenticate` error. Code that
//! decides what to do next matches on these variants, never on the strings.

use http::StatusCode;

/// Every reason a request can be refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    // The request itself cannot be read one way only.
    BadPath,
    BadRequestTarget,
    HostInvalid,
    MethodOverrideInvalid,
    PathAmbiguous,
    PathEncodedSlash,
    PathBackslash,
    PathParameter,
    ForwardedForInvalid,
    AmbiguousCredentials,
    NoRoute,
    MethodNotAllowed,
    RequestBodyTimeout,
    /// A signed request's body is larger than the gateway reads to check
    /// its digest.
    RequestBodyTooLarge,
    /// A request body the gateway reads (a signed one, to check its
    /// digest) that broke off or was malformed on the wire.
    RequestBodyInvalid,

    // Who is asking.
    CredentialMissing,
    MalformedToken,
    UnsupportedAuthScheme,
    ReplayedPresentation,
    /// An HTTP message signature that is refused, with its code: the
    /// `http-signatures` crate's (`content_digest_mismatch`, …) or the
    /// gateway's (`signature_expired`, `replayed_signature`, …).
    Signature(&'static str),
    /// A client certificate (mutual TLS) that is no identity, with its code
    /// (`client_certificate_key_not_in_did`, `client_certificate_expired`, …).
    ClientCertificate(&'static str),
    /// A credential or presentation that does not verify, with the
    /// `credentials` crate's code (`bad_signature`, `credential_expired`, …).
    Credential(&'static str),
    /// A credential our side cannot check right now (`chain_unavailable`,
    /// `status_unavailable`): retry, never a pass.
    CredentialUnavailable(&'static str),
    /// A login answer whose credentials are none of the types asked for.
    CredentialNotRequested,
    SessionInvalid,
    SessionUnknown,
    SessionExpired,
    SessionRevoked,
    LoginOtherBrowser,
    LoginUnknown,

    // What the policy says.
    PolicyDenied,
    PolicyError,
    StepUpRequired,
    CrossSiteRequest,

    // Our side cannot decide right now.
    ReplayCacheFull,
    SessionStoreUnavailable,
    AuditUnavailable,

    // The upstream application.
    UpstreamUnavailable,
    UpstreamTimeout,
    UpstreamBadUpgrade,
}

impl Reason {
    /// The stable snake_case code sent to the client and logged.
    pub fn code(self) -> &'static str {
        match self {
            Reason::BadPath => "bad_path",
            Reason::BadRequestTarget => "bad_request_target",
            Reason::HostInvalid => "host_invalid",
            Reason::MethodOverrideInvalid => "method_override_invalid",
            Reason::PathAmbiguous => "path_ambiguous",
            Reason::PathEncodedSlash => "path_encoded_slash",
            Reason::PathBackslash => "path_backslash",
            Reason::PathParameter => "path_parameter",
            Reason::ForwardedForInvalid => "forwarded_for_invalid",
            Reason::AmbiguousCredentials => "ambiguous_credentials",
            Reason::NoRoute => "no_route",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::RequestBodyTimeout => "request_body_timeout",
            Reason::RequestBodyTooLarge => "request_body_too_large",
            Reason::RequestBodyInvalid => "request_body_invalid",
            Reason::CredentialMissing => "credential_missing",
            Reason::MalformedToken => "malformed_token",
            Reason::UnsupportedAuthScheme => "unsupported_auth_scheme",
            Reason::ReplayedPresentation => "replayed_presentation",
            Reason::Credential(code)
            | Reason::CredentialUnavailable(code)
            | Reason::Signature(code)
            | Reason::ClientCertificate(code) => code,
            Reason::CredentialNotRequested => "credential_not_requested",
            Reason::SessionInvalid => "session_invalid",
            Reason::SessionUnknown => "session_unknown",
            Reason::SessionExpired => "session_expired",
            Reason::SessionRevoked => "session_revoked",
            Reason::LoginOtherBrowser => "login_other_browser",
            Reason::LoginUnknown => "login_unknown",
            Reason::PolicyDenied => "policy_denied",
            Reason::PolicyError => "policy_error",
            Reason::StepUpRequired => "step_up_required",
            Reason::CrossSiteRequest => "cross_site_request",
            Reason::ReplayCacheFull => "replay_cache_full",
            Reason::SessionStoreUnavailable => "session_store_unavailable",
            Reason::AuditUnavailable => "audit_unavailable",
            Reason::UpstreamUnavailable => "upstream_unavailable",
            Reason::UpstreamTimeout => "upstream_timeout",
            Reason::UpstreamBadUpgrade => "upstream_bad_upgrade",
        }
    }

    /// The HTTP status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::BadPath
            | Reason::BadRequestTarget
            | Reason::HostInvalid
            | Reason::MethodOverrideInvalid
            | Reason::PathAmbiguous
            | Reason::PathEncodedSlash
            | Reason::PathBackslash
            | Reason::PathParameter
            | Reason::ForwardedForInvalid
            | Reason::AmbiguousCredentials
            | Reason::RequestBodyInvalid
            | Reason::LoginOtherBrowser
            | Reason::LoginUnknown => StatusCode::BAD_REQUEST,
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::RequestBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Reason::RequestBodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::CredentialMissing
            | Reason::MalformedToken
            | Reason::UnsupportedAuthScheme
            | Reason::ReplayedPresentation
            | Reason::Credential(_)
            | Reason::Signature(_)
            | Reason::ClientCertificate(_)
            | Reason::CredentialNotRequested
            | Reason::SessionInvalid
            | Reason::SessionUnknown
            | Reason::SessionExpired
            | Reason::SessionRevoked
            | Reason::StepUpRequired => StatusCode::UNAUTHORIZED,
            Reason::PolicyDenied | Reason::PolicyError | Reason::CrossSiteRequest => {
                StatusCode::FORBIDDEN
            }
            Reason::CredentialUnavailable(_)
            | Reason::ReplayCacheFull
            | Reason::SessionStoreUnavailable
            | Reason::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::UpstreamUnavailable | Reason::UpstreamBadUpgrade => StatusCode::BAD_GATEWAY,
            Reason::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `error` of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3),
    /// or `None` for a bare challenge (no credential at all was sent).
    /// Only 401 and 403 refusals carry a challenge; see [`Self::challenges`].
    pub fn bearer_error(self) -> Option<&'static str> {
        match self {
            Reason::CredentialMissing => None,
            // RFC 9470: ask the client to authenticate again, more strongly.
            Reason::StepUpRequired => Some("insufficient_user_authentication"),
            r if r.status() == StatusCode::FORBIDDEN => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// Whether the refusal carries a `WWW-Authenticate` challenge.
    pub fn challenges(self) -> bool {
        matches!(
            self.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        )
    }

    /// The reason for a policy decision that did not allow.
    pub fn from_policy(reason: policy::DecisionReason) -> Self {
        match reason {
            policy::DecisionReason::StepUpRequired => Reason::StepUpRequired,
            policy::DecisionReason::MethodNotAllowed => Reason::MethodNotAllowed,
            policy::DecisionReason::PolicyError => Reason::PolicyError,
            // `Allowed` never reaches a refusal; deny if it ever did.
            policy::DecisionReason::PolicyDenied | policy::DecisionReason::Allowed => {
                Reason::PolicyDenied
            }
        }
    }

    /// The reason for a credential that did not verify.
    pub fn from_credential(e: &credentials::CredentialError) -> Self {
        if e.is_unavailable() {
            Reason::CredentialUnavailable(e.reason_code())
        } else {
            Reason::Credential(e.reason_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_reasons_keep_their_wire_codes() {
        for r in [
            policy::DecisionReason::PolicyDenied,
            policy::DecisionReason::StepUpRequired,
            policy::DecisionReason::MethodNotAllowed,
            policy::DecisionReason::PolicyError,
        ] {
            assert_eq!(Reason::from_policy(r).code(), r.as_str());
        }
        assert_eq!(
            Reason::from_policy(policy::DecisionReason::MethodNotAllowed).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(Reason::CredentialMissing.bearer_error(), None);
        assert_eq!(
            Reason::StepUpRequired.bearer_error(),
            Some("insufficient_user_authentication")
        );
        assert_eq!(Reason::SessionExpired.bearer_error(), Some("invalid_token"));
        assert_eq!(
            Reason::PolicyDenied.bearer_error(),
            Some("insufficient_scope")
        );
        assert!(!Reason::NoRoute.challenges());
        assert!(!Reason::CredentialUnavailable("chain_unavailable").challenges());
        assert!(Reason::Credential("bad_signature").challenges());
    }
}
