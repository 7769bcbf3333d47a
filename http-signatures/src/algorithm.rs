//! The signature algorithms a didgate signature may name in `alg`, and the
//! JOSE name the DID verification method checks them under.

use crate::error::Error;

/// An `alg` signature parameter value this crate accepts.
///
/// When a signature has no `alg`, the algorithm follows from the key the
/// `keyid` resolves to (RFC 9421 §3.2 step 6); when it has one, the verifier
/// must check that it matches the key. Every other name (`hmac-sha256`,
/// `rsa-pss-sha512`, `rsa-v1_5-sha256`, `ecdsa-p384-sha384`, …) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `ed25519` (RFC 9421 §3.3.6): a 64-byte Ed25519 signature.
    Ed25519,
    /// `ecdsa-p256-sha256` (RFC 9421 §3.3.4): 64 bytes, `r || s`.
    EcdsaP256Sha256,
    /// `ecdsa-secp256k1-sha256`: ECDSA over secp256k1 with SHA-256, 64 bytes
    /// `r || s`, as JOSE `ES256K`. Not in the IANA HTTP Signature Algorithms
    /// registry: it is didgate's name for the keys of `did:ethr` (and other
    /// secp256k1) DIDs, so that such a signer can state `alg` explicitly.
    EcdsaSecp256k1Sha256,
}

impl Algorithm {
    /// Every accepted algorithm.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaSecp256k1Sha256,
    ];

    /// The `alg` parameter value.
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::EcdsaSecp256k1Sha256 => "ecdsa-secp256k1-sha256",
        }
    }

    /// The JOSE `alg` to verify with (`VerificationMethod::verify_jose`).
    pub fn jose_alg(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "EdDSA",
            Algorithm::EcdsaP256Sha256 => "ES256",
            Algorithm::EcdsaSecp256k1Sha256 => "ES256K",
        }
    }

    /// The algorithm an `alg` value names, or `AlgorithmNotAllowed`.
    pub fn from_wire(name: &str) -> Result<Self, Error> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.wire_name() == name)
            .ok_or_else(|| Error::AlgorithmNotAllowed {
                alg: name.to_owned(),
            })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wire_name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_names_round_trip_and_map_to_jose() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_wire(alg.wire_name()).unwrap(), alg);
        }
        assert_eq!(Algorithm::Ed25519.jose_alg(), "EdDSA");
        assert_eq!(Algorithm::EcdsaP256Sha256.jose_alg(), "ES256");
        assert_eq!(Algorithm::EcdsaSecp256k1Sha256.jose_alg(), "ES256K");
    }

    #[test]
    fn every_other_algorithm_is_refused_by_name() {
        for name in [
            "hmac-sha256",
            "rsa-pss-sha512",
            "rsa-v1_5-sha256",
            "ecdsa-p384-sha384",
            "ED25519",
            "EdDSA",
            "",
        ] {
            let err = Algorithm::from_wire(name).unwrap_err();
            assert_eq!(
                err,
                Error::AlgorithmNotAllowed {
                    alg: name.to_owned()
                }
            );
            assert_eq!(err.reason(), "algorithm_not_allowed");
            assert!(err.to_string().contains(&format!("{name:?}")));
        }
    }
}
