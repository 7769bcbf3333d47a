//! Mutual TLS with DID-bound client certificates: a service proves who it
//! is by the key its TLS handshake signed with. No CA vouches for the
//! certificate; the DID registry does. The certificate's URI SAN names a
//! DID (or a DID URL naming one of its verification methods) and its
//! public key must be listed under that DID's `authentication` as the DID
//! resolves now, checked on every request, so a key removed or a DID
//! deactivated on chain ends the identity from the next block, on
//! connections already open too.
//!
//! The handshake (`server::tls`, `[server.tls] client_auth = "did"`) asks
//! for a certificate without requiring one and accepts any well-formed one
//! whose key signed the handshake: rustls proves possession of the key. What
//! the certificate says is read here once per connection
//! ([`ClientCert::from_der`]) and judged per request, so a certificate
//! that claims a DID but is no identity gets an HTTP refusal with its
//! reason code rather than an opaque TLS alert. A certificate that names
//! no DID is ignored, as if none was sent.
//!
//! A request that carries its own credential (a signature, an
//! `Authorization` header, a session cookie) is authenticated by that; the
//! certificate is the identity of requests that carry none. Credentials are
//! presented once, in `X-Didgate-Presentation`, as for signed requests.

use std::sync::Arc;

use credentials::Verifier;
use did_registry::PublicKey;
use http::HeaderMap;
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::{credential_refusal, Refusal};
use crate::request::signed::{Presented, SignedRequests};

/// The longest DID URL a certificate may name.
const MAX_DID_URL: usize = 2048;

/// id-Ed25519 (RFC 8410).
const ED25519: x509_cert::spki::ObjectIdentifier =
    x509_cert::spki::ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: x509_cert::spki::ObjectIdentifier =
    x509_cert::spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, a.k.a. P-256 (RFC 5480).
const P256: x509_cert::spki::ObjectIdentifier =
    x509_cert::spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// What a connection's client certificate says, read once at the handshake.
#[derive(Debug)]
pub struct ClientCert {
    /// The URI SAN: a DID, or a DID URL naming one verification method.
    pub did_url: Box<str>,
    /// The certificate's public key (the handshake was signed with it).
    pub key: PublicKey,
    /// `notBefore` and `notAfter`, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// Why a client certificate is no identity: a reason code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProblem {
    pub code: &'static str,
    pub message: String,
}

/// A connection's client certificate: an identity to check per request, or
/// why it cannot be one.
pub type PeerCertificate = Result<ClientCert, CertProblem>;

fn problem(code: &'static str, message: impl Into<String>) -> CertProblem {
    CertProblem {
        code,
        message: message.into(),
    }
}

impl ClientCert {
    /// Read the end-entity certificate of a TLS client: its one DID URI
    /// SAN, its Ed25519 or P-256 key and its validity. Nothing is trusted
    /// yet: [`authenticate`] checks the key against the DID. `None`: the
    /// certificate names no DID, so it is no didgate identity and is
    /// ignored (a browser's corporate certificate must not keep its user
    /// from the login page).
    pub fn from_der(der: &[u8]) -> Option<PeerCertificate> {
        match Self::read(der) {
            Ok(Some(cert)) => Some(Ok(cert)),
            Ok(None) => None,
            Err(p) => Some(Err(p)),
        }
    }

    fn read(der: &[u8]) -> Result<Option<ClientCert>, CertProblem> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| {
            problem(
                "client_certificate_invalid",
                format!("the client certificate is not X.509 DER: {e}"),
            )
        })?;
        let tbs = &cert.tbs_certificate;
        let not_before = unix(tbs.validity.not_before);
        let not_after = unix(tbs.validity.not_after);
        let sans = tbs.get::<SubjectAltName>().map_err(|e| {
            problem(
                "client_certificate_invalid",
                format!("the client certificate's subjectAltName cannot be read: {e}"),
            )
        })?;
        let mut dids =
            sans.iter()
                .flat_map(|(_, san)| san.0.iter())
                .filter_map(|name| match name {
                    GeneralName::UniformResourceIdentifier(uri)
                        if uri.as_str().starts_with("did:") =>
                    {
                        Some(uri.as_str())
                    }
                    _ => None,
                });
        let did_url = match (dids.next(), dids.next()) {
            (None, _) => return Ok(None),
            (Some(did), None)
                if did.len() <= MAX_DID_URL
                    && did.len() > "did:".len()
                    && did.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                did
            }
            (Some(_), None) => {
                return Err(problem(
                    "client_certificate_invalid",
                    format!(
                        "the client certificate's DID is empty, longer than {MAX_DID_URL} \
                         characters, or has characters a DID URL cannot have"
                    ),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(problem(
                    "client_certificate_ambiguous",
                    "the client certificate names more than one DID in its subjectAltName",
                ))
            }
        };
        let key = public_key(&tbs.subject_public_key_info)?;
        Ok(Some(ClientCert {
            did_url: did_url.into(),
            key,
            not_before,
            not_after,
        }))
    }

    /// The DID the certificate names (its URI SAN without a fragment).
    pub fn did(&self) -> &str {
        self.did_url
            .split_once('#')
            .map_or(&self.did_url, |(did, _)| did)
    }
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The certificate's Ed25519 or P-256 public key (what TLS can sign with
/// and a DID document can list).
fn public_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Result<PublicKey, CertProblem> {
    let unsupported = || {
        problem(
            "client_certificate_key_unsupported",
            "the client certificate's key is neither Ed25519 nor P-256",
        )
    };
    let bits = spki.subject_public_key.as_bytes().ok_or_else(unsupported)?;
    let key = if spki.algorithm.oid == ED25519 {
        let bytes: &[u8; 32] = bits.try_into().map_err(|_| unsupported())?;
        PublicKey::ed25519_from_bytes(bytes)
    } else if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<x509_cert::spki::ObjectIdentifier>().ok());
        if curve != Some(P256) {
            return Err(unsupported());
        }
        PublicKey::p256_from_sec1(bits)
    } else {
        return Err(unsupported());
    };
    key.map_err(|e| {
        problem(
            "client_certificate_invalid",
            format!("the client certificate's public key is invalid: {e}"),
        )
    })
}

/// What a client certificate established, kept with the identity (and
/// with an exchange that stays open, to check the key again).
#[derive(Debug)]
pub struct CertifiedBy {
    /// The DID URL of the verification method the certificate's key is.
    pub keyid: Box<str>,
    /// The connection's certificate.
    pub cert: Arc<PeerCertificate>,
    /// The credentials the service presented, if any.
    pub presented: Option<Arc<Presented>>,
}

/// A request authenticated by its connection's client certificate.
pub struct Certified {
    pub principal: Arc<Principal>,
    pub principal_key: [u8; 16],
    pub by: CertifiedBy,
}

fn refuse(p: &CertProblem) -> Refusal {
    Refusal::new(Reason::ClientCertificate(p.code), p.message.clone())
}

/// Authenticate a request by its connection's client certificate at `now`
/// (Unix seconds): the certificate is in its validity, and its key is the
/// named DID's, under `authentication`, as the DID resolves now. Then the
/// credentials the DID presents (in this request, or earlier).
pub async fn authenticate(
    verifier: &Verifier,
    services: &SignedRequests,
    cert: &Arc<PeerCertificate>,
    headers: &HeaderMap,
    now: i64,
    skew: i64,
) -> Result<Certified, Refusal> {
    let (keyid, c) = check_key(verifier, cert, now, skew).await?;
    let did = c.did();
    let presented = services
        .presented_for(verifier, headers, did, now)
        .await
        .map_err(|mut r| {
            r.signed = false;
            r
        })?;
    let (principal, principal_key) = services.principal_of(did, presented.as_deref());
    Ok(Certified {
        principal,
        principal_key,
        by: CertifiedBy {
            keyid: keyid.into(),
            cert: cert.clone(),
            presented,
        },
    })
}

/// The certificate is in its validity and its key is listed under its
/// DID's `authentication` now: the verification method's id.
async fn check_key<'c>(
    verifier: &Verifier,
    cert: &'c PeerCertificate,
    now: i64,
    skew: i64,
) -> Result<(String, &'c ClientCert), Refusal> {
    let c = cert.as_ref().map_err(refuse)?;
    if c.not_before > now.saturating_add(skew) {
        return Err(refuse(&problem(
            "client_certificate_not_yet_valid",
            "the client certificate is not valid yet; check the service's clock",
        )));
    }
    if c.not_after.saturating_add(skew) < now {
        return Err(refuse(&problem(
            "client_certificate_expired",
            "the client certificate has expired; make a new one for the key",
        )));
    }
    match verifier
        .authentication_key_matching(&c.did_url, &c.key)
        .await
    {
        Ok(Some(keyid)) => Ok((keyid, c)),
        Ok(None) => Err(refuse(&problem(
            "client_certificate_key_not_in_did",
            format!(
                "the client certificate's key is not an authentication key of {}",
                c.did_url
            ),
        ))),
        Err(e) => Err(credential_refusal(&e)),
    }
}

/// Check again, at `now`, what an exchange that stays open was allowed
/// on: the certificate's key is still the DID's, and the credentials still
/// hold.
pub async fn recheck(
    verifier: &Verifier,
    by: &CertifiedBy,
    now: i64,
    skew: i64,
) -> Result<(), Refusal> {
    check_key(verifier, &by.cert, now, skew).await?;
    if let Some(p) = &by.presented {
        p.recheck(verifier, now).await?;
    }
    Ok(())
}

/// The end-entity certificate of a TLS connection, read (`None`: the client
/// sent none, or one that names no DID).
pub fn peer_certificate(
    certs: Option<&[rustls::pki_types::CertificateDer<'_>]>,
) -> Option<Arc<PeerCertificate>> {
    let end_entity = certs?.first()?;
    ClientCert::from_der(end_entity).map(Arc::new)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A self-signed certificate with `uris` as URI SANs and `dns` as DNS
    /// SANs, for a fresh key of `alg`.
    fn cert(uris: &[&str], dns: &[&str], alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let kp = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::default();
        for u in uris {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI((*u).try_into().unwrap()));
        }
        for d in dns {
            params
                .subject_alt_names
                .push(rcgen::SanType::DnsName((*d).try_into().unwrap()));
        }
        params.self_signed(&kp).unwrap().der().to_vec()
    }

    #[test]
    fn certificates_are_read_for_their_one_did_and_key() {
        let ed = &rcgen::PKCS_ED25519;
        let c = ClientCert::from_der(&cert(&["did:key:z6Mkx#z6Mkx"], &["a.example"], ed))
            .unwrap()
            .unwrap();
        assert_eq!(&*c.did_url, "did:key:z6Mkx#z6Mkx");
        assert_eq!(c.did(), "did:key:z6Mkx");
        assert_eq!(c.key.key_type(), did_registry::KeyType::Ed25519);
        assert!(c.not_before < c.not_after);
        let p = ClientCert::from_der(&cert(
            &["did:web:a.example"],
            &[],
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(p.key.key_type(), did_registry::KeyType::P256);

        // No DID: ignored. An https URI is not a DID.
        assert!(ClientCert::from_der(&cert(&[], &["a.example"], ed)).is_none());
        assert!(ClientCert::from_der(&cert(&["https://a.example"], &[], ed)).is_none());

        let code = |der: Vec<u8>| ClientCert::from_der(&der).unwrap().unwrap_err().code;
        assert_eq!(
            code(cert(&["did:a:1", "did:b:2"], &[], ed)),
            "client_certificate_ambiguous"
        );
        assert_eq!(code(cert(&["did:"], &[], ed)), "client_certificate_invalid");
        assert_eq!(
            code(cert(&["did:key:z6Mk x"], &[], ed)),
            "client_certificate_invalid"
        );
        assert_eq!(
            code(cert(&["did:key:z6Mk\nx"], &[], ed)),
            "client_certificate_invalid"
        );
        let long = format!("did:key:{}", "z".repeat(MAX_DID_URL));
        assert_eq!(code(cert(&[&long], &[], ed)), "client_certificate_invalid");
        assert_eq!(
            code(cert(
                &["did:key:z6Mkx"],
                &[],
                &rcgen::PKCS_ECDSA_P384_SHA384
            )),
            "client_certificate_key_unsupported"
        );
        assert_eq!(
            ClientCert::from_der(b"not a certificate")
                .unwrap()
                .unwrap_err()
                .code,
            "client_certificate_invalid"
        );
    }
}
