//! Signed requests for the signed row: each holder of the population is a
//! service that presented its credential once (`presenting`, at start-up);
//! then every request carries a fresh RFC 9421 signature by its DID key
//! (`write`: one `Signature-Input<TAB>Signature` per line, each used once:
//! the gateway refuses a nonce twice). Signed with `didgate-client`, as a
//! service would.

use std::path::Path;

use anyhow::{Context, Result};
use credentials::{present, Format, PresentationRequest, SigningKey};
use didgate_client::Signer;

use crate::tokens::{Party, Population};

/// The longest validity the bench's gateway accepts
/// (`signature_max_validity_secs` in its config).
const MAX_VALIDITY_SECS: u64 = 3600;

/// A validity that outlasts a run of `secs` (signatures are made just
/// before it starts).
pub fn validity_for(secs: u64) -> u64 {
    secs.saturating_add(60).clamp(60, MAX_VALIDITY_SECS)
}

fn signer(party: &Party, validity: u64, now: i64) -> Result<Signer> {
    let key = SigningKey::from_jwk(&party.key.to_jwk())?;
    Ok(Signer::new(key, party.kid.clone())?
        .with_validity_secs(validity)?
        .with_clock(move || now))
}

/// `(Signature-Input, Signature)` of a GET of `url`.
fn sign_get(signer: &Signer, url: &str, extra: Option<(&str, &str)>) -> Result<(String, String)> {
    let mut b = http::Request::get(url);
    if let Some((k, v)) = extra {
        b = b.header(k, v);
    }
    let mut req = b.body(Vec::new())?;
    signer.sign_request(&mut req)?;
    let h = |name: &str| -> Result<String> {
        Ok(req
            .headers()
            .get(name)
            .with_context(|| format!("no {name}"))?
            .to_str()?
            .to_owned())
    };
    Ok((h("signature-input")?, h("signature")?))
}

/// A signed GET of `url` by `holder` presenting `vc` for `audience`:
/// `(Signature-Input, Signature, VP-JWT)`.
pub fn presenting(
    holder: &Party,
    vc: &str,
    audience: &str,
    url: &str,
    now: i64,
) -> Result<(String, String, String)> {
    let vp = present(
        &holder.key,
        &holder.kid,
        &PresentationRequest {
            holder: holder.did.clone(),
            audience: audience.to_owned(),
            nonce: None,
            valid_for_secs: 120,
            credentials: vec![vc.to_owned()],
            format: Format::JwtVc11,
        },
        now,
    )?;
    let (input, signature) = sign_get(&signer(holder, 60, now)?, url, None)?;
    Ok((input, signature, vp))
}

/// Write `count` signed GETs of `url`, cycling through the holders, valid
/// for `validity` seconds from `now`, on two threads.
pub fn write(
    pop: &Population,
    url: &str,
    count: usize,
    now: i64,
    validity: u64,
    path: &Path,
) -> Result<()> {
    let signers: Vec<Signer> = pop
        .holders
        .iter()
        .map(|(h, _)| signer(h, validity, now))
        .collect::<Result<_>>()?;
    crate::tokens::write_lines(count, 300, path, |n, out| {
        let signer = &signers[n % signers.len()];
        let (input, signature) = sign_get(signer, url, None)?;
        out.extend_from_slice(input.as_bytes());
        out.push(b'\t');
        out.extend_from_slice(signature.as_bytes());
        out.push(b'\n');
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_line_is_a_distinct_signature_pair() {
        let pop = Population::new(3, 1_800_000_000).unwrap();
        let file =
            std::env::temp_dir().join(format!("didgate-bench-signed-{}", std::process::id()));
        write(
            &pop,
            "http://127.0.0.1:1/eng/docs",
            10,
            1_800_000_000,
            120,
            &file,
        )
        .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::remove_file(&file);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10);
        let distinct: std::collections::HashSet<_> = lines.iter().collect();
        assert_eq!(distinct.len(), 10, "a nonce repeats");
        for l in lines {
            let (input, sig) = l.split_once('\t').unwrap();
            assert!(
                input.starts_with("didgate=(\"@method\" \"@target-uri\")"),
                "{input}"
            );
            assert!(input.contains("expires=1800000120"), "{input}");
            assert!(sig.starts_with("didgate=:"), "{sig}");
        }
    }
}
