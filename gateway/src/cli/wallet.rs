//! The holder's wallet: `didgate wallet present` (a VP-JWT for one
//! request) and `didgate wallet login`, the holder's side of a browser
//! login: read the OpenID4VP request a login page shows, present the
//! credentials to that verifier (audience = its `client_id`, nonce = its
//! `nonce`), and POST the answer to its response URI.

use std::path::Path;

use anyhow::{bail, Context, Result};
use credentials::Format;
use serde_json::Value;

use crate::cli::identity::present_vp;
use crate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};

/// `wallet present`: print a VP-JWT of `vcs` (files or tokens) for `audience`.
pub fn present(
    holder_key: &Path,
    vcs: &[String],
    audience: &str,
    nonce: Option<String>,
    valid_for: i64,
    format: Format,
) -> Result<()> {
    let vcs = read_tokens(vcs)?;
    println!(
        "{}",
        present_vp(holder_key, vcs, audience, nonce, valid_for, format)?
    );
    Ok(())
}

/// `wallet login`: answer a login page's request (or decline it) and say
/// where the browser goes next.
pub async fn login(
    holder_key: &Path,
    vcs: &[String],
    request: &str,
    decline: bool,
    valid_for: i64,
    format: Format,
    insecure: bool,
) -> Result<()> {
    let vcs = read_tokens(vcs)?;
    let reply = answer(
        holder_key, vcs, request, decline, valid_for, format, insecure,
    )
    .await?;
    match (decline, reply.redirect_uri) {
        (true, _) => eprintln!("declined; the login page says so"),
        (false, Some(next)) => {
            eprintln!("presented; the login page continues by itself (same device: open the link below in that browser)");
            println!("{next}");
        }
        (false, None) => eprintln!("presented"),
    }
    Ok(())
}

/// Each `--vc`: a file holding a VC-JWT, or the token itself.
pub(crate) fn read_tokens(vcs: &[String]) -> Result<Vec<String>> {
    vcs.iter().map(|v| read_token(v)).collect()
}

/// One `--vc`: the token itself when it looks like a JWT and is no file.
fn read_token(v: &str) -> Result<String> {
    let p = Path::new(v);
    if v.matches('.').count() == 2 && !p.exists() {
        return Ok(v.to_owned());
    }
    Ok(std::fs::read_to_string(p)
        .with_context(|| format!("--vc {v}: not a file and not a JWT"))?
        .trim()
        .to_owned())
}

/// What the verifier answered.
#[derive(Debug)]
pub struct LoginAnswer {
    /// Where the browser goes next on the same device (the response code
    /// finishes the login in the browser that started it).
    pub redirect_uri: Option<String>,
}

/// Answer `request` (an `openid4vp://` URL) with a presentation of `vcs`
/// signed by the key in `holder_key`, or decline it.
pub async fn answer(
    holder_key: &Path,
    vcs: Vec<String>,
    request: &str,
    decline: bool,
    valid_for: i64,
    format: Format,
    insecure: bool,
) -> Result<LoginAnswer> {
    let req = AuthorizationRequest::from_url(request)
        .map_err(|e| anyhow::anyhow!("not a login request didgate's wallet can answer: {e}"))?;
    let answer = if decline {
        AuthorizationResponse::Error {
            state: req.state.clone(),
            error: "access_denied".into(),
            description: Some("the holder declined".into()),
        }
    } else {
        let vp = present_vp(
            holder_key,
            vcs,
            &req.client_id,
            Some(req.nonce.clone()),
            valid_for,
            format,
        )?;
        AuthorizationResponse::Presentation {
            state: req.state.clone(),
            vp_token: vp,
        }
    };
    crate::server::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(insecure)
        .build()
        .context("cannot build an HTTP client")?;
    let resp = client
        .post(&req.response_uri)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(answer.to_form())
        .send()
        .await
        .with_context(|| format!("cannot reach the verifier at {}", req.response_uri))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body
            .get("error_description")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        bail!("the verifier refused the presentation ({status}): {why}");
    }
    Ok(LoginAnswer {
        redirect_uri: body
            .get("redirect_uri")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
