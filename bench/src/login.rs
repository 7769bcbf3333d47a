//! Browser sessions for the session row: each holder logs in once the way a
//! browser and a wallet do (login page → OpenID4VP answer → the wallet's
//! redirect with the login cookie), and the session cookies are written one
//! per line for wrk to send, a holder per request in turn.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use credentials::{present, Format, PresentationRequest};
use didgate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};

use crate::tokens::Population;

/// An HTTP answer: status, headers (names lowercased), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// One HTTP/1.1 exchange on a fresh connection.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer> {
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP answer: {:.80}", head))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// The `name=value` part of each `Set-Cookie`.
fn cookies(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next().map(str::to_owned))
        .collect()
}

/// Log `holder` (index into the population) in; its session cookie.
fn login(port: u16, pop: &Population, holder: usize, now: i64) -> Result<String> {
    let page = exchange(
        port,
        "GET",
        "/.didgate/login",
        &[("Accept", "text/html")],
        "",
    )?;
    if page.status != 200 {
        bail!("the login page answered {}", page.status);
    }
    let login_cookie = cookies(&page.headers).join("; ");
    let html = &page.body;
    let start = html
        .find("id=\"request-url\">")
        .context("no request on the login page")?
        + 17;
    let end = start + html[start..].find("</code>").context("no request end")?;
    let url = html[start..end].replace("&amp;", "&");
    let req = AuthorizationRequest::from_url(&url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (party, vc) = &pop.holders[holder];
    let vp = present(
        &party.key,
        &party.kid,
        &PresentationRequest {
            holder: party.did.clone(),
            audience: req.client_id.clone(),
            nonce: Some(req.nonce.clone()),
            valid_for_secs: 120,
            credentials: vec![vc.clone()],
            format: Format::JwtVc11,
        },
        now,
    )?;
    let form = AuthorizationResponse::Presentation {
        state: req.state,
        vp_token: vp,
    }
    .to_form();
    let answer = exchange(
        port,
        "POST",
        "/.didgate/login/response",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )?;
    if answer.status != 200 {
        bail!(
            "the wallet's answer was refused ({}): {}",
            answer.status,
            answer.body
        );
    }
    let v: serde_json::Value = serde_json::from_str(&answer.body)?;
    let next = v["redirect_uri"].as_str().context("no redirect_uri")?;
    let path = next
        .find("/.didgate/")
        .map(|i| &next[i..])
        .context("redirect_uri is not the gateway's")?;
    let done = exchange(port, "GET", path, &[("Cookie", &login_cookie)], "")?;
    if done.status != 303 {
        bail!("completing the login answered {}", done.status);
    }
    cookies(&done.headers)
        .into_iter()
        .find(|c| c.starts_with("didgate_session="))
        .context("no session cookie")
}

/// A session for every holder, one cookie per line in `path`.
pub fn write(port: u16, pop: &Population, now: i64, path: &Path) -> Result<usize> {
    let mut out = String::new();
    for i in 0..pop.holders.len() {
        out.push_str(&login(port, pop, i, now)?);
        out.push('\n');
    }
    std::fs::write(path, out)?;
    Ok(pop.holders.len())
}
