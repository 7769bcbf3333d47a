//! Every way setting up a signer or signing a request fails, named as the
//! service's developer sees it.

/// Why a [`crate::Signer`] could not be made or could not sign a request.
///
/// A request whose signing failed must not be sent: its `Signature-Input`,
/// `Signature` and `Content-Digest` fields may already have been removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The URI has no scheme or no authority, so there is no `@target-uri`.
    #[error(
        "the request URI {uri:?} is not absolute: the signature covers @target-uri, \
         so the URI needs its scheme and authority (https://gateway.example/path)"
    )]
    RelativeUri { uri: String },
    /// The URI carries `user:password@`, which never reaches the gateway as
    /// part of the target (and is not repeated here).
    #[error(
        "the request URI has userinfo (user:password@): the gateway rebuilds @target-uri \
         from the Host it receives, so send credentials in a header instead"
    )]
    UriHasUserinfo,
    /// A reqwest URL that is not a valid HTTP request target.
    #[error("the request URL {url:?} is not a valid HTTP URI")]
    InvalidUrl { url: String },
    /// The body is a stream, whose bytes are not known before it is sent.
    #[error(
        "the request body is a stream: the signature covers the body's Content-Digest, \
         so the body must be in memory (bytes, a String or a Vec<u8>) when it is signed"
    )]
    StreamingBody,
    /// A value that cannot go into a header field (a non-printable `keyid`,
    /// a bad label, a timestamp past 15 digits).
    #[error("{what} cannot be a header value: {detail}")]
    InvalidHeaderValue { what: String, detail: String },
    /// The clock reads a time at or before 1970-01-01T00:00:00Z.
    #[error(
        "the clock reads {unix_secs} s since 1970: it is not set (or before 1970), \
         and a signature needs its creation time"
    )]
    ClockBeforeUnixEpoch { unix_secs: i64 },
    /// A validity the gateway would not accept or that has no use.
    #[error("a signature validity of {secs} s is out of range: use {min} to {max} seconds")]
    ValidityOutOfRange { secs: u64, min: u64, max: u64 },
    /// A `keyid` that is not a DID URL of one verification method.
    #[error(
        "keyid {keyid:?} is not a DID URL of a verification method: \
         it must look like did:key:z6Mk…#z6Mk… (printable ASCII, with a #fragment)"
    )]
    InvalidKeyId { keyid: String },
    /// The key file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    KeyFileUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The key file is not a private JWK of a supported key type.
    #[error("the key file {path} is not a private JWK (Ed25519, P-256 or secp256k1): {reason}")]
    KeyFileInvalid { path: String, reason: String },
    /// The key file names no `kid`, so it does not say which DID it is.
    #[error(
        "the key file {path} has no \"kid\" naming its DID URL: pass the keyid \
         (Signer::from_jwk_file), or create the key with `didgate did create`"
    )]
    KeyFileWithoutKeyId { path: String },
    /// The did:key of the key could not be derived (not expected for the
    /// key types a `SigningKey` holds).
    #[error("cannot derive the did:key of this key: {reason}")]
    DidKeyUnavailable { reason: String },
    /// A client certificate could not be made for this key (a secp256k1
    /// key, which TLS cannot use; a validity out of range).
    #[error("no client certificate: {detail}")]
    Certificate { detail: String },
    /// The signature base could not be built from the request.
    #[error("the request cannot be signed: {0}")]
    Signature(http_signatures::Error),
}

impl From<http_signatures::Error> for SignError {
    fn from(e: http_signatures::Error) -> Self {
        match e {
            http_signatures::Error::NotSerializable { what, detail } => {
                SignError::InvalidHeaderValue {
                    what,
                    detail: detail.to_owned(),
                }
            }
            other => SignError::Signature(other),
        }
    }
}
