//! `did:ethr` identifiers: `did:ethr:[network:]0x<address>` or the public-key
//! form `did:ethr:[network:]0x<33-byte compressed secp256k1 key>`.

use alloy_primitives::{keccak256, Address};
use k256::elliptic_curve::sec1::ToEncodedPoint;

use crate::ResolveError;

/// A parsed `did:ethr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthrDid {
    /// The DID as given, without query or fragment.
    pub did: String,
    /// The network segment (`mainnet` when absent): a configured name or a hex chain id.
    pub network: String,
    /// The identity: the address, or the address of the public key.
    pub address: Address,
    /// For the public-key form: the key as written in the DID (`0x02…`/`0x03…`).
    pub public_key: Option<String>,
}

impl EthrDid {
    pub fn parse(did: &str) -> Result<Self, ResolveError> {
        let bad = |reason: &str| ResolveError::InvalidDid {
            did: did.to_owned(),
            reason: reason.to_owned(),
        };
        let did = did.split(['?', '#']).next().unwrap_or(did);
        let rest = did
            .strip_prefix("did:ethr:")
            .ok_or_else(|| bad("not a did:ethr"))?;
        let (network, id) = match rest.rsplit_once(':') {
            Some((n, id)) if !n.is_empty() => (n.to_owned(), id),
            Some(_) => return Err(bad("empty network name")),
            None => ("mainnet".to_owned(), rest),
        };
        let hex_part = id
            .strip_prefix("0x")
            .ok_or_else(|| bad("the identifier must start with 0x"))?;
        if !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the identifier must be hexadecimal"));
        }
        let (address, public_key) =
            match hex_part.len() {
                40 => {
                    let bytes = hex::decode(hex_part).map_err(|_| bad("bad hex"))?;
                    (Address::from_slice(&bytes), None)
                }
                66 => {
                    let bytes = hex::decode(hex_part).map_err(|_| bad("bad hex"))?;
                    let key = k256::PublicKey::from_sec1_bytes(&bytes)
                        .map_err(|_| bad("not a valid compressed secp256k1 public key"))?;
                    (address_of(&key), Some(id.to_owned()))
                }
                _ => return Err(bad(
                    "the identifier must be a 20-byte address or a 33-byte compressed public key",
                )),
            };
        Ok(EthrDid {
            did: did.to_owned(),
            network,
            address,
            public_key,
        })
    }
}

/// The Ethereum address of a secp256k1 public key.
pub fn address_of(key: &k256::PublicKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Address::from_slice(&hash[12..])
}

/// A network segment written as a hex chain id (`0x7a69`), if it is one.
pub fn hex_chain_id(network: &str) -> Option<u64> {
    let h = network.strip_prefix("0x")?;
    u64::from_str_radix(h, 16).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn address_and_network_forms() {
        let d = EthrDid::parse("did:ethr:0xb9c5714089478a327f09197987f16f9e5d936e8a").unwrap();
        assert_eq!(d.network, "mainnet");
        assert_eq!(
            d.address.to_checksum(None),
            "0xB9C5714089478a327F09197987f16f9E5d936E8a"
        );
        let d =
            EthrDid::parse("did:ethr:0x7a69:0xb9c5714089478a327f09197987f16f9e5d936e8a#controller")
                .unwrap();
        assert_eq!(d.network, "0x7a69");
        assert_eq!(hex_chain_id(&d.network), Some(31337));
        assert_eq!(
            d.did,
            "did:ethr:0x7a69:0xb9c5714089478a327f09197987f16f9e5d936e8a"
        );
    }

    #[test]
    fn public_key_form_derives_the_address() {
        // The did:ethr spec's example key and its address.
        let d = EthrDid::parse(
            "did:ethr:0x03fdd57adec3d438ea237fe46b33ee1e016eda6b585c3e27ea66686c2ea5358479",
        )
        .unwrap();
        assert_eq!(
            d.address.to_checksum(None),
            "0xF3beAC30C498D9E26865F34fCAa57dBB935b0D74"
        );
        assert!(d.public_key.is_some());
    }

    #[test]
    fn malformed_dids_are_errors() {
        for bad in [
            "did:ethr:",
            "did:ethr:0x",
            "did:ethr:mainnet:0x12",
            "did:ethr::0xb9c5714089478a327f09197987f16f9e5d936e8a",
            "did:ethr:0xzz c5714089478a327f09197987f16f9e5d936e8a",
            "did:ethr:0x04fdd57adec3d438ea237fe46b33ee1e016eda6b585c3e27ea66686c2ea5358479",
            "did:key:z6Mk",
        ] {
            assert!(EthrDid::parse(bad).is_err(), "{bad}");
        }
    }
}
