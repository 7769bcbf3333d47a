//! [`ClientCertificate`]: a self-signed X.509 certificate for a service's
//! DID key, for mutual TLS to didgate. No CA issues it: its URI SAN names
//! the DID URL of the key, and the gateway checks the certificate's public
//! key against that DID's document (the DID registry is the trust anchor).

use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use crate::error::SignError;
use crate::signer::Signer;

/// The longest validity a client certificate is made with: the DID, not
/// the certificate, is what the gateway trusts, so a short one costs
/// nothing (make a new one at start-up).
pub const MAX_CERTIFICATE_VALIDITY: Duration = Duration::from_secs(366 * 24 * 3600);

/// Seconds a certificate's `notBefore` is set back, for clocks a little
/// behind the service's.
const BACKDATE_SECS: i64 = 300;

/// A client certificate and its private key, in DER and PEM.
pub struct ClientCertificate {
    cert_der: Vec<u8>,
    key_der: zeroize::Zeroizing<Vec<u8>>,
    cert_pem: String,
    key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive() // never the key
    }
}

impl ClientCertificate {
    /// The certificate's DER (for `rustls`: a `CertificateDer`).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The private key as PKCS#8 DER (for `rustls`: a `PrivatePkcs8KeyDer`).
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The certificate, PEM (`curl --cert`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM (`curl --key`). Keep it secret.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate then the key, PEM: what `reqwest::Identity::from_pem`
    /// takes.
    pub fn identity_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(format!("{}{}", self.cert_pem, self.key_pem.as_str()))
    }
}

impl Signer {
    /// A self-signed client certificate for this signer's key, valid from
    /// now (less a few minutes) for `valid_for`, whose URI SAN is the
    /// signer's `keyid`. didgate accepts it on a TLS listener with
    /// `[server.tls] client_auth = "did"` while that key is listed under
    /// the DID's `authentication`. Ed25519 and P-256 keys only: TLS has no
    /// signature scheme for secp256k1.
    pub fn client_certificate(&self, valid_for: Duration) -> Result<ClientCertificate, SignError> {
        self.client_certificate_naming(self.keyid(), valid_for)
    }

    /// [`Signer::client_certificate`], naming `did_url` in its URI SAN: a
    /// DID URL (one verification method, compared alone), or the DID
    /// itself (any of its `authentication` keys may be the certificate's,
    /// so the certificate outlives a key id that changes, e.g. a did:ethr
    /// delegate's `#delegate-N`).
    pub fn client_certificate_naming(
        &self,
        did_url: &str,
        valid_for: Duration,
    ) -> Result<ClientCertificate, SignError> {
        let bad = |detail: String| SignError::Certificate { detail };
        if valid_for.is_zero() || valid_for > MAX_CERTIFICATE_VALIDITY {
            return Err(bad(format!(
                "a validity of {} s is out of range: use 1 s to {} s",
                valid_for.as_secs(),
                MAX_CERTIFICATE_VALIDITY.as_secs()
            )));
        }
        let key_der = self
            .signing_key()
            .to_pkcs8_der()
            .map_err(|e| bad(e.to_string()))?;
        let key_pair = KeyPair::try_from(key_der.as_slice())
            .map_err(|e| bad(format!("the key cannot sign a certificate: {e}")))?;
        let now = self.now()?;
        let secs = i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX);
        let time = |unix: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix)
                .map_err(|e| bad(format!("the clock reads {unix} s since 1970: {e}")))
        };
        let mut params = CertificateParams::default();
        params.not_before = time(now.saturating_sub(BACKDATE_SECS))?;
        params.not_after = time(now.saturating_add(secs))?;
        if !did_url.starts_with("did:") {
            return Err(bad(format!("{did_url:?} is not a DID or DID URL")));
        }
        let uri = rcgen::Ia5String::try_from(did_url)
            .map_err(|e| bad(format!("the keyid cannot be a URI SAN: {e}")))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        let mut name = DistinguishedName::new();
        // X.509 caps a common name at 64 characters; the SAN is what counts.
        let did = did_url.split('#').next().unwrap_or_default();
        name.push(
            DnType::CommonName,
            if did.len() <= 64 {
                did
            } else {
                "didgate client"
            },
        );
        params.distinguished_name = name;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| bad(format!("cannot make the certificate: {e}")))?;
        Ok(ClientCertificate {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem: zeroize::Zeroizing::new(key_pair.serialize_pem()),
            key_der,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{KeyType, SigningKey};

    #[test]
    fn certificates_for_tls_keys_name_the_keyid_and_refuse_secp256k1() {
        for kt in [KeyType::Ed25519, KeyType::P256] {
            let signer = Signer::for_did_key(SigningKey::generate(kt)).unwrap();
            let cert = signer
                .client_certificate(Duration::from_secs(3600))
                .unwrap();
            assert!(cert.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(cert.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
            // The SAN is in the DER as an IA5String.
            let der = cert.cert_der();
            let keyid = signer.keyid().as_bytes();
            assert!(der.windows(keyid.len()).any(|w| w == keyid));
            assert!(!format!("{cert:?}").contains("PRIVATE"));
        }
        let k1 = Signer::for_did_key(SigningKey::generate(KeyType::Secp256k1)).unwrap();
        let e = k1
            .client_certificate(Duration::from_secs(3600))
            .unwrap_err();
        assert!(e.to_string().contains("secp256k1"), "{e}");
        let ed = Signer::for_did_key(SigningKey::generate(KeyType::Ed25519)).unwrap();
        assert!(ed.client_certificate(Duration::ZERO).is_err());
        assert!(ed
            .client_certificate(MAX_CERTIFICATE_VALIDITY + Duration::from_secs(1))
            .is_err());
    }
}
