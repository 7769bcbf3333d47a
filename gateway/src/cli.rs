//! The `didgate` command line: run the gateway, check a config, run the demo,
//! and the identity tools a user needs (DIDs, credentials, presentations,
//! policy tests, the decision log).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use credentials::{CredentialRequest, Format, KeyType, PresentationRequest, SigningKey};
use serde_json::{Map, Value};

use crate::assertion::{read_key_file, write_key_file};
use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "didgate",
    version,
    about = "A zero-trust access gateway: verifiable credentials + Cedar policies in front of your apps"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway with a config file.
    Serve {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
    },
    /// Validate a config file and its policies; exit non-zero with the reason.
    Check {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
    },
    /// Start a gateway in front of a sample app with an issuer, identities and policies.
    Demo(DemoArgs),
    /// DIDs: create keys, resolve documents.
    #[command(subcommand)]
    Did(DidCommand),
    /// Verifiable credentials.
    #[command(subcommand)]
    Vc(VcCommand),
    /// Holder (wallet) operations.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print the most recent decisions from the decision log.
    Decisions {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the demo keeps its keys, credentials, config and database.
    #[arg(long, default_value = "didgate-demo")]
    pub dir: PathBuf,
    /// HTTP port of the gateway (0 = pick a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// HTTPS port of the gateway (0 = pick a free one).
    #[arg(long, default_value_t = 8443)]
    pub tls_port: u16,
}

#[derive(Subcommand, Debug)]
pub enum DidCommand {
    /// Create a key pair and its DID; prints the DID, writes the private key (JWK) to --out.
    Create {
        #[arg(long, value_enum, default_value_t = DidMethod::Key)]
        method: DidMethod,
        #[arg(long, value_enum, default_value_t = KeyKind::Ed25519)]
        key_type: KeyKind,
        /// Private key file to write (mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the DID document of a DID.
    Resolve { did: String },
}

#[derive(Subcommand, Debug)]
pub enum VcCommand {
    /// Issue a credential (VC-JWT) to a subject; prints the token.
    Issue {
        /// Issuer private key file (from `didgate did create`).
        #[arg(long)]
        issuer_key: PathBuf,
        /// Subject (holder) DID.
        #[arg(long)]
        subject: String,
        /// Credential type, e.g. EmployeeCredential (repeatable).
        #[arg(long = "type", required = true)]
        types: Vec<String>,
        /// Claim as name=value; value is parsed as JSON when it can be (repeatable).
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// All claims as one JSON object (merged with --claim).
        #[arg(long)]
        claims_json: Option<String>,
        /// Validity in seconds (default: 1 year).
        #[arg(long, default_value_t = 365 * 24 * 3600)]
        valid_for: i64,
        #[arg(long, value_enum, default_value_t = FormatArg::JwtVc)]
        format: FormatArg,
        /// Write the token to this file as well as stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    /// Make a VP-JWT for one request: holder key + credentials + audience.
    Present {
        #[arg(long)]
        holder_key: PathBuf,
        /// A credential: a file holding a VC-JWT, or the token itself (repeatable).
        #[arg(long = "vc", required = true)]
        vcs: Vec<String>,
        /// The gateway URL the presentation is for (its `server.public_url`).
        #[arg(long)]
        audience: String,
        #[arg(long)]
        nonce: Option<String>,
        /// Validity in seconds.
        #[arg(long, default_value_t = 120)]
        valid_for: i64,
        #[arg(long, value_enum, default_value_t = FormatArg::JwtVc)]
        format: FormatArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Evaluate sample requests from a TOML file; print each decision and the policies that decided it.
    Test {
        /// Config whose [policy] section names the schema and policies.
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// The test cases file.
        cases: PathBuf,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum DidMethod {
    Key,
    Jwk,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum KeyKind {
    Ed25519,
    P256,
    Secp256k1,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum FormatArg {
    /// VCDM 1.1 JWT-VC (`vc` / `vp` claims).
    JwtVc,
    /// VCDM 2.0 VC-JOSE-COSE (`vc+jwt` / `vp+jwt`).
    VcJwt,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::JwtVc => Format::JwtVc11,
            FormatArg::VcJwt => Format::VcJwt20,
        }
    }
}

impl From<KeyKind> for KeyType {
    fn from(k: KeyKind) -> Self {
        match k {
            KeyKind::Ed25519 => KeyType::Ed25519,
            KeyKind::P256 => KeyType::P256,
            KeyKind::Secp256k1 => KeyType::Secp256k1,
        }
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { config } => serve(&config).await,
        Command::Check { config } => check(&config),
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Did(DidCommand::Create {
            method,
            key_type,
            out,
        }) => {
            let (did, _) = create_did(method, key_type.into(), &out)?;
            println!("{did}");
            eprintln!("private key written to {}", out.display());
            Ok(())
        }
        Command::Did(DidCommand::Resolve { did }) => {
            use did_registry::DidResolver;
            let doc = did_registry::LocalResolver
                .resolve(&did)
                .await
                .with_context(|| format!("cannot resolve {did}"))?;
            println!("{}", serde_json::to_string_pretty(&doc.to_json())?);
            Ok(())
        }
        Command::Vc(VcCommand::Issue {
            issuer_key,
            subject,
            types,
            claims,
            claims_json,
            valid_for,
            format,
            out,
        }) => {
            let claims = parse_claims(&claims, claims_json.as_deref())?;
            let token = issue_vc(
                &issuer_key,
                &subject,
                &types,
                claims,
                valid_for,
                format.into(),
            )?;
            if let Some(out) = out {
                std::fs::write(&out, format!("{token}\n"))
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            println!("{token}");
            Ok(())
        }
        Command::Wallet(WalletCommand::Present {
            holder_key,
            vcs,
            audience,
            nonce,
            valid_for,
            format,
        }) => {
            let vcs = vcs
                .iter()
                .map(|v| read_token(v))
                .collect::<Result<Vec<_>>>()?;
            println!(
                "{}",
                present_vp(&holder_key, vcs, &audience, nonce, valid_for, format.into())?
            );
            Ok(())
        }
        Command::Policy(PolicyCommand::Test { config, cases }) => policy_test(&config, &cases),
        Command::Decisions { config, limit } => decisions(&config, limit).await,
    }
}

async fn serve(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let running = crate::server::start(&config).await?;
    if let Some(a) = running.http_addr {
        eprintln!("didgate listening on http://{a}");
    }
    if let Some(a) = running.https_addr {
        eprintln!("didgate listening on https://{a}");
    }
    shutdown_signal().await;
    eprintln!("shutting down: draining connections and flushing the decision log");
    running.shutdown().await;
    Ok(())
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn check(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let files: Vec<_> = config
        .policy
        .policies
        .iter()
        .map(|p| config.resolve(p))
        .collect();
    let engine = policy::PolicyEngine::load(&config.resolve(&config.policy.schema), &files)
        .context("policies do not load")?;
    if let Some(tls) = &config.server.tls {
        crate::tls::server_config(&config.resolve(&tls.cert), &config.resolve(&tls.key))?;
    }
    let key = config.resolve(&config.identity.key_file);
    if key.exists() {
        read_key_file(&key)?;
    }
    crate::route::Router::new(&config.routes)?;
    println!(
        "{}: OK ({} routes, {} policies, {} trusted issuer entries, database {})",
        path.display(),
        config.routes.len(),
        engine.policy_count(),
        config.credentials.trusted_issuers.len(),
        config.database.url.split(['?', '@']).next().unwrap_or("")
    );
    Ok(())
}

fn policy_test(config: &Path, cases: &Path) -> Result<()> {
    let config = Config::load(config)?;
    let files: Vec<_> = config
        .policy
        .policies
        .iter()
        .map(|p| config.resolve(p))
        .collect();
    let engine = policy::PolicyEngine::load(&config.resolve(&config.policy.schema), &files)?;
    let report = policy::run_tests(&engine, cases)?;
    print!("{report}");
    if report.failures > 0 {
        bail!(
            "{} of {} policy test cases failed",
            report.failures,
            report.cases.len()
        );
    }
    Ok(())
}

async fn decisions(config: &Path, limit: i64) -> Result<()> {
    let config = Config::load(config)?;
    let store = crate::store::Store::connect(&config.database_url()).await?;
    for d in store
        .recent_decisions(limit.clamp(1, 10_000))
        .await?
        .into_iter()
        .rev()
    {
        println!(
            "{} {:<7} {:<6} {:<24} {:<22} {} {}",
            d.id,
            d.effect,
            d.method,
            d.path,
            d.reason,
            d.subject.as_deref().unwrap_or("-"),
            if d.policies.is_empty() {
                String::new()
            } else {
                format!("[{}]", d.policies.join(", "))
            }
        );
    }
    store.close().await;
    Ok(())
}

/// Create a key and its DID; the key file's `kid` is the DID URL of the key.
pub fn create_did(
    method: DidMethod,
    key_type: KeyType,
    out: &Path,
) -> Result<(String, SigningKey)> {
    let key = SigningKey::generate(key_type);
    let public = key.public_key();
    let did = match method {
        DidMethod::Key => did_registry::did_key(&public),
        DidMethod::Jwk => did_registry::did_jwk(&public),
    };
    let kid = did_registry::default_key_id(&did)?;
    write_key_file(out, &key, Some(&kid))?;
    Ok((did, key))
}

/// Load a key file and the DID and key id it belongs to.
pub fn load_identity(path: &Path) -> Result<(SigningKey, String, String)> {
    let (key, kid) = read_key_file(path)?;
    let kid = kid.with_context(|| {
        format!(
            "{} has no \"kid\" naming its DID; create keys with `didgate did create`",
            path.display()
        )
    })?;
    let did = kid.split('#').next().unwrap_or_default().to_owned();
    if !did.starts_with("did:") {
        bail!("{}: kid {kid:?} is not a DID URL", path.display());
    }
    Ok((key, did, kid))
}

pub fn issue_vc(
    issuer_key: &Path,
    subject: &str,
    types: &[String],
    claims: Map<String, Value>,
    valid_for: i64,
    format: Format,
) -> Result<String> {
    let (key, issuer, kid) = load_identity(issuer_key)?;
    if !subject.starts_with("did:") {
        bail!("--subject {subject:?} is not a DID");
    }
    let req = CredentialRequest {
        issuer,
        subject: subject.to_owned(),
        types: types.to_vec(),
        claims,
        valid_for_secs: Some(valid_for),
        id: Some(format!("urn:uuid:{}", uuid::Uuid::new_v4())),
        format,
    };
    Ok(credentials::issue_credential(&key, &kid, &req, unix_now())?)
}

pub fn present_vp(
    holder_key: &Path,
    vcs: Vec<String>,
    audience: &str,
    nonce: Option<String>,
    valid_for: i64,
    format: Format,
) -> Result<String> {
    let (key, holder, kid) = load_identity(holder_key)?;
    let req = PresentationRequest {
        holder,
        audience: audience.to_owned(),
        nonce,
        valid_for_secs: valid_for,
        credentials: vcs,
        format,
    };
    Ok(credentials::present(&key, &kid, &req, unix_now())?)
}

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

fn parse_claims(pairs: &[String], json: Option<&str>) -> Result<Map<String, Value>> {
    let mut claims = match json {
        Some(j) => match serde_json::from_str::<Value>(j).context("--claims-json is not JSON")? {
            Value::Object(m) => m,
            _ => bail!("--claims-json must be a JSON object"),
        },
        None => Map::new(),
    };
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--claim {p:?}: write it as name=value"))?;
        if k.is_empty() || k == "id" {
            bail!("--claim {p:?}: the name must be non-empty and not \"id\"");
        }
        let value =
            serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        claims.insert(k.to_owned(), value);
    }
    Ok(claims)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn claims_parse_json_values_and_strings() {
        let c = parse_claims(
            &[
                "role=admin".into(),
                "level=3".into(),
                "groups=[\"a\"]".into(),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c["role"], "admin");
        assert_eq!(c["level"], 3);
        assert_eq!(c["groups"][0], "a");
        assert!(parse_claims(&["novalue".into()], None).is_err());
        assert!(parse_claims(&["id=x".into()], None).is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
