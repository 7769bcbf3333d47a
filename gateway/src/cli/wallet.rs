//! The holder's side of a browser login, for `didgate wallet login`: read
//! the OpenID4VP request a login page shows, present the credentials to
//! that verifier (audience = its `client_id`, nonce = its `nonce`), and POST
//! the answer to its response URI.

use std::path::Path;

use anyhow::{bail, Context, Result};
use credentials::Format;
use serde_json::Value;

use crate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};

/// What the verifier answered.
#[derive(Debug)]
pub struct LoginAnswer {
    /// Where the browser goes next on the same device (the response code
    /// finishes the login in the browser that started it).
    pub redirect_uri: Option<String>,
}

/// Answer `request` (an `openid4vp://` URL) with a presentation of `vcs`
/// signed by the key in `holder_key`, or decline it.
pub async fn login(
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
        let vp = crate::cli::identity::present_vp(
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
