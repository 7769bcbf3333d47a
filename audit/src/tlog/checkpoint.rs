//! Checkpoints: the signed tree heads of c2sp.org/tlog-checkpoint (origin
//! line, tree size, base64 root hash) as c2sp.org/signed-note notes with one
//! Ed25519 signature, whose key name is the log's origin; and the verifier
//! key in `name+hash+base64` form (`vkey`) that outside tools check them with.

use ed25519_dalek::{Signer as _, SigningKey};
use signed_note::{
    is_key_name_valid, key_id, new_ed25519_verifier_key, Note, Signer, StandardVerifier,
    VerifierList,
};
use tlog_tiles::{Checkpoint, Hash};

use super::error::TlogError;

/// The log's signing key: an Ed25519 key named by the log's origin.
pub(crate) struct LogKey {
    origin: String,
    id: u32,
    key: SigningKey,
    vkey: String,
}

impl LogKey {
    /// `secret`: the 32 secret bytes of an Ed25519 key (the gateway's).
    pub fn new(origin: &str, secret: &[u8; 32]) -> Result<LogKey, TlogError> {
        if !is_key_name_valid(origin) {
            return Err(TlogError::BadOrigin(origin.to_owned()));
        }
        let key = SigningKey::from_bytes(secret);
        let vkey = new_ed25519_verifier_key(origin, &key.verifying_key());
        // The key id of c2sp.org/signed-note: over the name and 0x01‖key.
        let mut public = [0u8; 33];
        public[0] = 1;
        public[1..].copy_from_slice(key.verifying_key().as_bytes());
        Ok(LogKey {
            origin: origin.to_owned(),
            id: key_id(origin, &public),
            key,
            vkey,
        })
    }

    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// The signed checkpoint of a tree of `size` leaves with root `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<SignedCheckpoint, TlogError> {
        let malformed = |reason: String| TlogError::CheckpointMalformed { reason };
        let text = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|e| malformed(e.to_string()))?
            .to_bytes();
        let mut note = Note::new(&text, &[]).map_err(|e| malformed(e.to_string()))?;
        note.add_sigs(&[self])
            .map_err(|e| malformed(e.to_string()))?;
        Ok(SignedCheckpoint {
            origin: self.origin.clone(),
            size,
            root,
            note: note.to_bytes(),
        })
    }
}

// signed_note's `StandardSigner` is built from a `PRIVATE+KEY+…` string; the
// gateway holds raw key bytes, which are not written out as text here.
impl Signer for LogKey {
    fn name(&self) -> &str {
        &self.origin
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.try_sign(msg)?.to_vec())
    }
}

/// A checkpoint whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// RFC 9162 root hash of the tree.
    pub root: Hash,
    /// The note as published (`<dir>/checkpoint`).
    pub note: Vec<u8>,
}

impl SignedCheckpoint {
    /// Read a checkpoint note and check its signature with `vkey` (whose
    /// name must be the checkpoint's origin).
    pub fn verify(note: &[u8], vkey: &str) -> Result<SignedCheckpoint, TlogError> {
        let (cp, parsed) = parse(note)?;
        let sig_err = |reason: String| TlogError::CheckpointSignature { reason };
        let verifier = StandardVerifier::new(vkey).map_err(|e| sig_err(format!("vkey: {e}")))?;
        let name = signed_note::Verifier::name(&verifier).to_owned();
        parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .map_err(|e| sig_err(e.to_string()))?;
        if cp.origin != name {
            return Err(TlogError::OriginMismatch {
                expected: name,
                found: cp.origin,
            });
        }
        Ok(cp)
    }

    /// Read a checkpoint note without checking any signature (to report
    /// what a damaged log claims).
    pub fn parse_unverified(note: &[u8]) -> Result<SignedCheckpoint, TlogError> {
        parse(note).map(|(cp, _)| cp)
    }
}

fn parse(note: &[u8]) -> Result<(SignedCheckpoint, Note), TlogError> {
    let malformed = |reason: String| TlogError::CheckpointMalformed { reason };
    let parsed = Note::from_bytes(note).map_err(|e| malformed(e.to_string()))?;
    let cp = Checkpoint::from_bytes(parsed.text()).map_err(|e| malformed(e.to_string()))?;
    Ok((
        SignedCheckpoint {
            origin: cp.origin().to_owned(),
            size: cp.size(),
            root: *cp.hash(),
            note: note.to_vec(),
        },
        parsed,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_the_vkey_and_fails_otherwise() {
        let key = LogKey::new("didgate.example/gw-1", &[7; 32]).unwrap();
        let root = tlog_tiles::record_hash(b"x");
        let cp = key.sign(3, root).unwrap();
        let text = String::from_utf8(cp.note.clone()).unwrap();
        assert!(
            text.starts_with(&format!(
                "didgate.example/gw-1\n3\n{root}\n\n— didgate.example/gw-1 "
            )),
            "{text}"
        );
        assert!(key.vkey().starts_with("didgate.example/gw-1+"));

        // signed_note's own verifier agrees.
        let v = StandardVerifier::new(key.vkey()).unwrap();
        assert_eq!(signed_note::Verifier::key_id(&v), key.id);
        assert_eq!(SignedCheckpoint::verify(&cp.note, key.vkey()).unwrap(), cp);

        let other = LogKey::new("didgate.example/gw-1", &[8; 32]).unwrap();
        assert!(matches!(
            SignedCheckpoint::verify(&cp.note, other.vkey()),
            Err(TlogError::CheckpointSignature { .. })
        ));
        let forged = text.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            SignedCheckpoint::verify(forged.as_bytes(), key.vkey()),
            Err(TlogError::CheckpointSignature { .. })
        ));
        assert!(matches!(
            SignedCheckpoint::verify(b"junk", key.vkey()),
            Err(TlogError::CheckpointMalformed { .. })
        ));
        assert!(matches!(
            LogKey::new("has space", &[7; 32]),
            Err(TlogError::BadOrigin(_))
        ));
        assert!(matches!(
            LogKey::new("a+b", &[7; 32]),
            Err(TlogError::BadOrigin(_))
        ));
    }
}
