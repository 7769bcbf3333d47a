//! Presentations for the bearer rows: one fresh VP-JWT per request (the
//! gateway refuses a replay), written one per line for wrk to read.
//!
//! `Hit`: every holder presents the same credential each time, so after its
//! first use it is a hit in the gateway's verified-credential cache (one
//! signature check per request: the presentation's). `Miss`: every
//! presentation carries a credential issued for it (two signature checks).

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use credentials::{
    issue_credential, present, CredentialRequest, Format, KeyType, PresentationRequest, SigningKey,
};
use serde_json::json;

/// The credential type the bench config trusts the issuer for.
pub const CREDENTIAL_TYPE: &str = "EmployeeCredential";
/// How long a generated presentation is valid at least: the replay cache
/// keeps its id this long (plus the clock skew).
pub const VP_LIFETIME_SECS: i64 = 300;
/// The gateway's default `max_presentation_lifetime_secs`.
const MAX_LIFETIME_SECS: i64 = 900;

/// A lifetime that outlasts a run of `secs` (presentations are generated
/// just before it starts), within what the gateway accepts, and no longer:
/// the gateway remembers each presentation's id until it expires.
pub fn lifetime_for(secs: u64) -> i64 {
    (secs as i64 + 30).clamp(60, MAX_LIFETIME_SECS)
}

pub struct Party {
    pub key: SigningKey,
    pub did: String,
    pub kid: String,
}

impl Party {
    pub fn new(kt: KeyType) -> Result<Self> {
        let key = SigningKey::generate(kt);
        let did = did_registry::did_key(&key.public_key());
        let kid = did_registry::default_key_id(&did).context("no key id for a did:key")?;
        Ok(Self { key, did, kid })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    Hit,
    Miss,
}

/// The issuer, the holders and (for `Hit`) each holder's one credential.
pub struct Population {
    pub issuer: Party,
    pub holders: Vec<(Party, String)>,
}

impl Population {
    pub fn new(holders: usize, now: i64) -> Result<Self> {
        let issuer = Party::new(KeyType::Ed25519)?;
        let holders = (0..holders)
            .map(|_| {
                let h = Party::new(KeyType::Ed25519)?;
                let vc = credential(&issuer, &h.did, now, None)?;
                Ok((h, vc))
            })
            .collect::<Result<_>>()?;
        Ok(Self { issuer, holders })
    }
}

/// A credential for `subject`. Ed25519 signatures are deterministic, so two
/// credentials with the same claims and time are the same bytes: `id` (the
/// `jti`) is what makes each `Miss` credential one the gateway has not seen.
fn credential(issuer: &Party, subject: &str, now: i64, id: Option<String>) -> Result<String> {
    let claims = json!({"role": "engineer", "department": "eng", "name": "bench user"});
    Ok(issue_credential(
        &issuer.key,
        &issuer.kid,
        &CredentialRequest {
            issuer: issuer.did.clone(),
            subject: subject.to_owned(),
            types: vec![CREDENTIAL_TYPE.into()],
            claims: claims.as_object().cloned().unwrap_or_default(),
            valid_for_secs: Some(86_400),
            id,
            format: Format::JwtVc11,
        },
        now,
    )?)
}

/// Write `count` fresh presentations for `audience` to `path`, on two threads.
pub fn write(
    pop: &Population,
    cache: Cache,
    audience: &str,
    count: usize,
    now: i64,
    lifetime: i64,
    path: &Path,
) -> Result<()> {
    // Each chunk cycles through the holders, so consecutive requests come
    // from different holders, as they would from a population of clients.
    write_lines(count, 1200, path, |n, out| {
        let (holder, own_vc) = &pop.holders[n % pop.holders.len()];
        let vc = match cache {
            Cache::Hit => own_vc.clone(),
            Cache::Miss => credential(
                &pop.issuer,
                &holder.did,
                now,
                Some(format!("urn:didgate-bench:{now}:{n}")),
            )?,
        };
        let vp = present(
            &holder.key,
            &holder.kid,
            &PresentationRequest {
                holder: holder.did.clone(),
                audience: audience.to_owned(),
                nonce: None,
                valid_for_secs: lifetime,
                credentials: vec![vc],
                format: Format::JwtVc11,
            },
            now,
        )?;
        out.extend_from_slice(vp.as_bytes());
        out.push(b'\n');
        Ok(())
    })
}

/// Write `count` lines to `path`, made by `line(n, out)` for n in
/// `0..count` on two threads (signing is the cost), in order of `n`
/// within each thread's half. `line_bytes` sizes the buffers.
pub fn write_lines(
    count: usize,
    line_bytes: usize,
    path: &Path,
    line: impl Fn(usize, &mut Vec<u8>) -> Result<()> + Sync,
) -> Result<()> {
    let threads = 2;
    let per = count.div_ceil(threads);
    let line = &line;
    let chunks: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<Vec<u8>> {
                    let mut out = Vec::with_capacity(per * line_bytes);
                    for i in 0..per {
                        line(t * per + i, &mut out)?;
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("generator thread panicked")))
            })
            .collect()
    });
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for chunk in chunks {
        w.write_all(&chunk?)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The credential inside each presentation written for `cache`.
    fn credentials_written(cache: Cache) -> Vec<String> {
        let pop = Population::new(2, 1_800_000_000).unwrap();
        let file = std::env::temp_dir().join(format!(
            "didgate-bench-tokens-{:?}-{}",
            cache,
            std::process::id()
        ));
        write(&pop, cache, "http://gw", 8, 1_800_000_000, 300, &file).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::remove_file(&file);
        text.lines()
            .map(|vp| {
                let parsed = credentials::jws::parse(vp).unwrap();
                parsed.payload["vp"]["verifiableCredential"][0]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn miss_presentations_each_carry_a_credential_never_seen_before() {
        let vcs = credentials_written(Cache::Miss);
        assert_eq!(vcs.len(), 8);
        let distinct: std::collections::HashSet<_> = vcs.iter().collect();
        assert_eq!(
            distinct.len(),
            8,
            "a Miss credential repeats: it would hit the cache"
        );
    }

    #[test]
    fn hit_presentations_reuse_one_credential_per_holder() {
        let vcs = credentials_written(Cache::Hit);
        let distinct: std::collections::HashSet<_> = vcs.iter().collect();
        assert_eq!(distinct.len(), 2);
    }
}
