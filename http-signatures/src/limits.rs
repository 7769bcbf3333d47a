//! How much of a request this crate reads: every count and length taken
//! from the network is checked against one of these before it grows.

/// Signatures (labels) read from one `Signature-Input`/`Signature` pair.
pub const MAX_SIGNATURES: usize = 8;

/// Covered components in one signature.
pub const MAX_COMPONENTS: usize = 32;

/// Bytes of one field's combined value (all its lines joined with `", "`):
/// `Signature-Input`, `Signature` and `Content-Digest`.
pub const MAX_FIELD_BYTES: usize = 8 * 1024;

/// Bytes of one decoded signature (Ed25519 and ECDSA P-256/secp256k1 give 64).
pub const MAX_SIGNATURE_BYTES: usize = 512;
