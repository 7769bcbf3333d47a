//! Reading a private key file as `didgate did create` writes it: one private
//! JWK (`kty`, `crv`, `x`, `y`, `d`) whose `kid` is the DID URL of the key.
//! The gateway's own reader (`gateway::request::assertion::read_key_file`)
//! lives in the binary crate; this is the same format, read with the same
//! `did_registry::Jwk` and `credentials::SigningKey::from_jwk`.

use std::path::Path;

use credentials::SigningKey;
use did_registry::Jwk;

use crate::error::SignError;

/// The key in the file at `path`, and its `kid` if it has one.
pub(crate) fn read(path: &Path) -> Result<(SigningKey, Option<String>), SignError> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SignError::KeyFileUnreadable {
        path: shown(),
        source,
    })?;
    let invalid = |reason: String| SignError::KeyFileInvalid {
        path: shown(),
        reason,
    };
    let jwk: Jwk = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let key = SigningKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
    Ok((key, jwk.kid))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use did_registry::KeyType;

    #[test]
    fn a_written_key_reads_back_with_its_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.jwk");
        let key = SigningKey::generate(KeyType::P256);
        let mut jwk = key.to_jwk();
        jwk.kid = Some("did:key:zDn#zDn".into());
        std::fs::write(&path, serde_json::to_string_pretty(&jwk).unwrap()).unwrap();
        let (back, kid) = read(&path).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(kid.as_deref(), Some("did:key:zDn#zDn"));
    }

    #[test]
    fn missing_public_only_and_garbled_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.jwk");
        assert!(matches!(
            read(&missing).unwrap_err(),
            SignError::KeyFileUnreadable { .. }
        ));
        let public = dir.path().join("public.jwk");
        let jwk = SigningKey::generate(KeyType::Ed25519).public_key().to_jwk();
        std::fs::write(&public, serde_json::to_string(&jwk).unwrap()).unwrap();
        let err = read(&public).unwrap_err();
        assert!(matches!(err, SignError::KeyFileInvalid { .. }), "{err}");
        assert!(err.to_string().contains("\"d\""), "{err}");
        let garbled = dir.path().join("garbled.jwk");
        std::fs::write(&garbled, "{not json").unwrap();
        let err = read(&garbled).unwrap_err();
        assert!(matches!(err, SignError::KeyFileInvalid { .. }), "{err}");
        assert!(err.to_string().contains("garbled.jwk"), "{err}");
    }
}
