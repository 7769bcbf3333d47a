//! Who is asking, as verified: the holder's DID, the issuers, and the
//! claims of each credential under the type it counts for. Built by `authn`
//! from a presentation and kept by `session` for a session's requests.

use credentials::VerifiedCredential;

/// Who is asking, as verified: from one presentation, or from the login
/// behind a session (shared by all of that session's requests).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub did: String,
    pub issuers: Vec<String>,
    /// The types the credentials count for (each credential's stated types
    /// that its issuer is trusted for; one credential per type).
    pub credential_types: Vec<String>,
    /// Per credential type, the claims of the credential that counts for it.
    /// Claims of different credentials are never merged: policies read
    /// `principal.claims.<Type>.<claim>`.
    pub claims: policy::ClaimsByType,
    /// The `id`s of the credentials presented (those that have one), for
    /// the decision log.
    pub credential_ids: Vec<String>,
}

impl Principal {
    /// From verified credentials whose `types` are the types they count for
    /// (the verifier refuses a presentation with two credentials of one type).
    pub fn from_credentials(holder: String, credentials: Vec<VerifiedCredential>) -> Self {
        let mut issuers: Vec<String> = Vec::with_capacity(credentials.len());
        let mut types: Vec<String> = Vec::new();
        let mut claims = policy::ClaimsByType::new();
        let mut ids: Vec<String> = Vec::new();
        for vc in credentials {
            if let Some(id) = vc.id {
                ids.push(id);
            }
            let subject = vc.claims;
            for t in vc.types {
                if t == "VerifiableCredential" || types.contains(&t) {
                    continue;
                }
                claims.insert(
                    t.clone(),
                    policy::TypedClaims {
                        issuer: vc.issuer.clone(),
                        claims: subject.clone(),
                    },
                );
                types.push(t);
            }
            if !issuers.contains(&vc.issuer) {
                issuers.push(vc.issuer);
            }
        }
        Principal {
            did: holder,
            issuers,
            credential_types: types,
            claims,
            credential_ids: ids,
        }
    }
}
