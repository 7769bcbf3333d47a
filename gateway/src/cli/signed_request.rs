//! Signed requests from the shell: `didgate wallet sign-request` prints the
//! RFC 9421 headers for one request, `didgate curl` signs one and sends it
//! (with the service's credentials presented in `X-Didgate-Presentation`
//! when `--vc` is given), or with `--mtls` sends it over mutual TLS with a
//! client certificate for the key instead of signing it; `didgate wallet
//! cert` writes such a certificate for other TLS clients. All use
//! `didgate-client`, as a service would.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use credentials::Format;
use didgate_client::Signer;
use http::{HeaderName, HeaderValue, Method};

use crate::cli::identity::present_vp;

/// What to sign (and send): shared by both commands.
#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    /// The signing key: a private JWK file (`didgate did create` writes one;
    /// its `kid` is the key's DID URL).
    #[arg(long)]
    pub key: PathBuf,
    /// The DID URL to sign as, when the key file has no `kid` or another
    /// verification method is meant (e.g. `did:ethr:…#delegate-1`).
    #[arg(long)]
    pub keyid: Option<String>,
    /// The method (default GET, or POST with a body).
    #[arg(short = 'X', long = "request")]
    pub method: Option<String>,
    /// A header, `Name: value` (repeatable). Sent, not signed.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// The body: the text itself, or `@FILE` to read a file.
    #[arg(short = 'd', long = "data")]
    pub data: Option<String>,
    /// Seconds the signature is valid for.
    #[arg(long, default_value_t = didgate_client::DEFAULT_VALIDITY_SECS)]
    pub valid_for: u64,
    /// The absolute URL (`https://gateway.example/orders`).
    pub url: String,
}

impl RequestArgs {
    fn body(&self) -> Result<Vec<u8>> {
        match self.data.as_deref() {
            None => Ok(Vec::new()),
            Some(d) => match d.strip_prefix('@') {
                Some(file) => std::fs::read(file).with_context(|| format!("--data @{file}")),
                None => Ok(d.as_bytes().to_vec()),
            },
        }
    }

    fn signer(&self) -> Result<Signer> {
        let signer = signer_for(&self.key, self.keyid.as_deref())?;
        Ok(signer.with_validity_secs(self.valid_for)?)
    }

    /// The request, its headers and body set, signed; `extra` headers
    /// (the presentation) added before signing.
    fn sign(&self, extra: Option<(HeaderName, HeaderValue)>) -> Result<http::Request<Vec<u8>>> {
        let mut request = self.build(extra)?;
        self.signer()?.sign_request(&mut request)?;
        Ok(request)
    }

    /// The request, its headers and body set, and `extra` headers.
    fn build(&self, extra: Option<(HeaderName, HeaderValue)>) -> Result<http::Request<Vec<u8>>> {
        let body = self.body()?;
        let method = match &self.method {
            Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .with_context(|| format!("-X {m}: not an HTTP method"))?,
            None if body.is_empty() => Method::GET,
            None => Method::POST,
        };
        let uri: http::Uri = self
            .url
            .parse()
            .with_context(|| format!("{}: not a URL", self.url))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            bail!("{}: give an absolute URL (http:// or https://)", self.url);
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(body)?;
        for h in &self.headers {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("-H {h:?}: write it as `Name: value`"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("-H {h:?}: not a header name"))?;
            let value = HeaderValue::from_str(value.trim())
                .with_context(|| format!("-H {h:?}: not a header value"))?;
            request.headers_mut().append(name, value);
        }
        if let Some((name, value)) = extra {
            request.headers_mut().insert(name, value);
        }
        Ok(request)
    }
}

/// `wallet sign-request`: print the signature headers (and
/// `Content-Digest`) for one request, `Name: value` per line, for `curl -H`.
pub fn sign_request(args: &RequestArgs) -> Result<()> {
    let signed = args.sign(None)?;
    for name in ["content-digest", "signature-input", "signature"] {
        if let Some(v) = signed.headers().get(name) {
            println!("{}: {}", canonical(name), v.to_str().unwrap_or_default());
        }
    }
    Ok(())
}

fn canonical(name: &str) -> &'static str {
    match name {
        "content-digest" => "Content-Digest",
        "signature-input" => "Signature-Input",
        _ => "Signature",
    }
}

/// `didgate curl`'s own options.
#[derive(clap::Args, Debug)]
pub struct CurlArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    /// Present these credentials (VC-JWT files or tokens, repeatable) once,
    /// with this request, in `X-Didgate-Presentation`: the gateway keeps
    /// them for the key's DID.
    #[arg(long = "vc")]
    pub vcs: Vec<String>,
    /// The gateway's URL the presentation is for (its `server.public_url`);
    /// default: the request URL's origin.
    #[arg(long)]
    pub audience: Option<String>,
    /// Print the status line and response headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Exit with 22 (as curl -f does) when the answer is 400 or above.
    #[arg(short = 'f', long)]
    pub fail: bool,
    /// Accept the gateway's certificate without checking it (a development
    /// gateway's self-signed certificate only).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Authenticate by mutual TLS instead of a signature: present a client
    /// certificate for the key (made for this call; its URI SAN is the
    /// keyid), to a gateway with `[server.tls] client_auth = "did"`.
    #[arg(long)]
    pub mtls: bool,
}

/// `wallet cert`: a client certificate for a DID key.
#[derive(clap::Args, Debug)]
pub struct CertArgs {
    /// The key: a private JWK file (`didgate did create` writes one; its
    /// `kid` is the key's DID URL). Ed25519 or P-256.
    #[arg(long)]
    pub key: PathBuf,
    /// The DID URL the certificate names, when the key file has no `kid` or
    /// another verification method is meant (e.g. a did:ethr delegate's).
    #[arg(long)]
    pub keyid: Option<String>,
    /// Days the certificate is valid for (at most 366).
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the private key (PKCS#8 PEM, mode 0600), for TLS
    /// clients that cannot read a JWK (`curl --key`).
    #[arg(long)]
    pub key_out: Option<PathBuf>,
}

fn signer_for(key: &std::path::Path, keyid: Option<&str>) -> Result<Signer> {
    match keyid {
        Some(keyid) => Signer::from_jwk_file(key, keyid.to_owned()),
        None => Signer::from_key_file(key),
    }
    .with_context(|| format!("--key {}", key.display()))
}

/// `wallet cert`: write a DID-bound client certificate (and its key).
pub fn cert(args: &CertArgs) -> Result<()> {
    let signer = signer_for(&args.key, args.keyid.as_deref())?;
    let secs = args.days.saturating_mul(24 * 3600);
    let cert = signer.client_certificate(std::time::Duration::from_secs(secs))?;
    std::fs::write(&args.out, cert.cert_pem())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if let Some(key_out) = &args.key_out {
        crate::request::assertion::write_secret_file(key_out, cert.key_pem().as_bytes())
            .with_context(|| format!("cannot write {}", key_out.display()))?;
    }
    println!(
        "{}: a client certificate for {} ({} days){}",
        args.out.display(),
        signer.keyid(),
        args.days,
        args.key_out
            .as_ref()
            .map(|k| format!("; its key in {}", k.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `curl`: sign the request, send it, print the answer.
pub async fn curl(args: &CurlArgs) -> Result<()> {
    let extra = if args.vcs.is_empty() {
        None
    } else {
        let audience = match &args.audience {
            Some(a) => a.clone(),
            None => origin(&args.request.url)?,
        };
        let vcs = crate::cli::wallet::read_tokens(&args.vcs)?;
        let vp = present_vp(
            &args.request.key,
            vcs,
            &audience,
            None,
            120,
            Format::JwtVc11,
        )?;
        Some((
            HeaderName::from_static("x-didgate-presentation"),
            HeaderValue::from_str(&vp).context("the presentation is not a header value")?,
        ))
    };
    crate::server::tls::install_crypto_provider();
    let mut client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(args.insecure);
    let signed = if args.mtls {
        if !args.request.url.starts_with("https://") {
            bail!(
                "--mtls needs an https:// URL: the client certificate is sent in the TLS handshake"
            );
        }
        let identity = args
            .request
            .signer()?
            .reqwest_identity(std::time::Duration::from_secs(3600))?;
        client = client.identity(identity);
        args.request.build(extra)?
    } else {
        args.request.sign(extra)?
    };
    let client = client.build().context("cannot build an HTTP client")?;
    let request = reqwest::Request::try_from(signed.map(reqwest::Body::from))
        .context("the request cannot be sent")?;
    let url = request.url().to_string();
    let resp = client
        .execute(request)
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    if args.include {
        println!("{:?} {status}", resp.version());
        for (k, v) in resp.headers() {
            println!("{k}: {}", v.to_str().unwrap_or("<binary>"));
        }
        println!();
    }
    let body = resp.bytes().await.context("the answer broke off")?;
    use std::io::Write as _;
    std::io::stdout().write_all(&body)?;
    if args.fail && (status.is_client_error() || status.is_server_error()) {
        eprintln!("didgate curl: the server answered {status}");
        std::process::exit(22);
    }
    Ok(())
}

/// `scheme://authority` of `url`.
fn origin(url: &str) -> Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("{url}: not a URL"))?;
    Ok(u.origin().ascii_serialization())
}
