//! Verifiable credentials for didgate.
//!
//! Owns: compact JWS (RFC 7515 with RFC 8725 rules), signing keys, and the
//! two credential encodings didgate speaks — VCDM 1.1 JWT-VC and VCDM 2.0
//! VC-JOSE-COSE (`vc+jwt`/`vp+jwt`) — for verifying presentations (the
//! gateway), issuing credentials (an issuer) and presenting them (a wallet).
//!
//! Checks each credential's `credentialStatus` through a
//! `did_registry::ethr::StatusChecker`: the on-chain status list
//! (`did-registry`) or an HTTP-published Bitstring Status List credential
//! (`status_list.rs`, fetched, verified and cached here).
//!
//! Does not own: DID resolution (`did-registry`, behind `DidResolver`),
//! replay tracking (the gateway remembers `replay_id`s), or what a verified
//! credential is allowed to do (Cedar policies).

mod error;
mod issue;
pub mod jws;
mod signer;
mod status_list;
mod verify;

pub use did_registry::{Jwk, KeyType, PublicKey};
pub use error::CredentialError;
pub use issue::{
    issue_credential, issue_status_list, issue_with_status, present, CredentialRequest,
    PresentationRequest,
};
pub use signer::SigningKey;
pub use status_list::{encode_list, HttpStatusChecker, StatusDispatcher, StatusListConfig};
pub use verify::{
    Binding, Expected, Format, TrustedIssuers, VerifiedCredential, VerifiedPresentation, Verifier,
    VerifierConfig, MAX_CREDENTIALS,
};
