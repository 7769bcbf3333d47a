//! The `didgate` command line: run the gateway, check a config, run the demo,
//! and the identity tools a user needs (DIDs, credentials, presentations,
//! policy tests, the decision log).

pub mod chain_commands;
pub mod demo;
pub mod identity;
pub mod risk_commands;
pub mod status_commands;
pub mod wallet;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use credentials::{Format, KeyType};
use serde_json::{Map, Value};

use crate::cli::demo::DemoArgs;
use crate::cli::identity::{
    create_did, create_ethr_did, issue_vc, present_vp, unix_now, DidMethod,
};
use crate::config::Config;
use crate::request::assertion::read_key_file;

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
    /// EVM chains: deploy the DID registry, show follow status.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// The behavioral risk engine offline: score event files, evaluate.
    #[command(subcommand)]
    Risk(RiskCommand),
    /// Browser sessions: list them, end them on every gateway.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Print the most recent decisions from the decision log.
    Decisions {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Live sessions, newest first (the id is the first 16 hex digits of the
    /// hash of the session's secret; the secret itself is never stored).
    List {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// Only this holder's sessions.
        #[arg(long)]
        subject: Option<String>,
        /// Include ended (expired or revoked) sessions.
        #[arg(long)]
        all: bool,
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: i64,
    },
    /// End sessions now, on every gateway sharing the database (within
    /// `sessions.sync_interval_ms`): all of one holder's, or one by its id.
    Revoke {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// Every live session of this DID.
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        subject: Option<String>,
        /// One session, by the id `sessions list` shows (or its full hash).
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RiskCommand {
    /// Score time-ordered events (JSONL) in order, learning as it goes: one
    /// {"score":…,"factors":[…]} line out per line in.
    Score {
        /// Events, one JSON object per line ("-" = stdin).
        #[arg(long)]
        input: PathBuf,
        /// Scores, one JSON object per input line ("-" = stdout).
        #[arg(long)]
        output: PathBuf,
    },
    /// Generate labelled traffic (benign and seven attack kinds), score it with
    /// the engine and the Freeman et al. (NDSS 2016) baseline, and write
    /// RESULTS.md with ROC plots.
    Eval {
        /// small (seconds; what the test suite runs) or full.
        #[arg(long, value_enum, default_value_t = EvalSize::Full)]
        size: EvalSize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder for RESULTS.md and the SVG plots.
        #[arg(long, default_value = "risk-eval")]
        out: PathBuf,
        /// Also write the generated events (JSONL, the `risk score` input
        /// format) here, and their labels beside it (*.labels.jsonl).
        #[arg(long)]
        events: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum EvalSize {
    Small,
    Full,
}

#[derive(Subcommand, Debug)]
pub enum DidCommand {
    /// Create a key pair and its DID; prints the DID, writes the private key (JWK) to --out.
    Create {
        #[arg(long, value_enum, default_value_t = DidMethod::Key)]
        method: DidMethod,
        /// Key type (did:ethr is always secp256k1).
        #[arg(long, value_enum, default_value_t = KeyKind::Ed25519)]
        key_type: KeyKind,
        /// did:ethr network: a `[chains.NAME]` name, or a hex chain id such as 0x7a69.
        #[arg(long, default_value = "mainnet")]
        network: String,
        /// Private key file to write (mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the DID document of a DID (did:ethr: with metadata, from the config's chains).
    Resolve {
        did: String,
        /// Config with the [chains.NAME] did:ethr DIDs live on.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// did:ethr: the document as of this block (a `versionId` from the metadata).
        #[arg(long)]
        version_id: Option<u64>,
        /// did:ethr: the document as of this time (RFC 3339, e.g. 2026-11-25T08:00:00Z).
        #[arg(long)]
        version_time: Option<String>,
    },
    /// did:ethr: add a public key (did/pub attribute) from a key file.
    AddKey {
        #[command(flatten)]
        tx: TxArgs,
        /// Key file whose public key is added.
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long, value_enum, default_value_t = KeyPurpose::VeriKey)]
        purpose: KeyPurpose,
        /// Seconds the key stays valid.
        #[arg(long, default_value_t = 365 * 24 * 3600)]
        valid_for: u64,
    },
    /// did:ethr: revoke a public key added with add-key.
    RevokeKey {
        #[command(flatten)]
        tx: TxArgs,
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long, value_enum, default_value_t = KeyPurpose::VeriKey)]
        purpose: KeyPurpose,
    },
    /// did:ethr: let another account sign for the DID (sigAuth: authenticate too).
    AddDelegate {
        #[command(flatten)]
        tx: TxArgs,
        /// The delegate: a did:ethr or a 0x address.
        #[arg(long)]
        delegate: String,
        #[arg(long, value_enum, default_value_t = DelegateKind::SigAuth)]
        kind: DelegateKind,
        #[arg(long, default_value_t = 365 * 24 * 3600)]
        valid_for: u64,
    },
    /// did:ethr: revoke a delegate.
    RevokeDelegate {
        #[command(flatten)]
        tx: TxArgs,
        #[arg(long)]
        delegate: String,
        #[arg(long, value_enum, default_value_t = DelegateKind::SigAuth)]
        kind: DelegateKind,
    },
    /// did:ethr: publish a service endpoint (did/svc attribute).
    SetService {
        #[command(flatten)]
        tx: TxArgs,
        /// Service type, e.g. LinkedDomains.
        #[arg(long = "type")]
        service_type: String,
        /// Endpoint URL (or a JSON value).
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value_t = 365 * 24 * 3600)]
        valid_for: u64,
    },
    /// did:ethr: transfer control of the DID to another account.
    ChangeOwner {
        #[command(flatten)]
        tx: TxArgs,
        /// The new owner: a did:ethr or a 0x address.
        #[arg(long)]
        new_owner: String,
    },
    /// did:ethr: deactivate the DID for good (owner becomes 0x0; irreversible).
    Deactivate {
        #[command(flatten)]
        tx: TxArgs,
        /// Confirm: a deactivated DID can never sign again.
        #[arg(long)]
        yes: bool,
    },
}

/// Who signs a registry write, and where it goes.
#[derive(Args, Debug, Clone)]
pub struct TxArgs {
    #[arg(short, long, default_value = "didgate.toml")]
    pub config: PathBuf,
    /// The DID owner's key file (secp256k1).
    #[arg(long)]
    pub key: PathBuf,
    /// The DID to change (default: the key file's DID).
    #[arg(long)]
    pub did: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum KeyPurpose {
    /// Assertions (issuing credentials).
    VeriKey,
    /// Authentication and assertions.
    SigAuth,
    /// Key agreement (encryption).
    Enc,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum DelegateKind {
    VeriKey,
    SigAuth,
}

impl DelegateKind {
    fn as_str(self) -> &'static str {
        match self {
            DelegateKind::VeriKey => "veriKey",
            DelegateKind::SigAuth => "sigAuth",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum ChainCommand {
    /// Deploy the ERC-1056 DID registry to a node; prints its address.
    Deploy {
        /// The node's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// A funded account's key file (secp256k1 JWK).
        #[arg(long)]
        key: PathBuf,
    },
    /// Each configured chain: head, indexed block, lag.
    Status {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
    },
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
        /// Add a credentialStatus entry: this on-chain list of the issuer
        /// (did:ethr issuers only; 1-32 of A-Z a-z 0-9 _ -).
        #[arg(long, requires = "status_index")]
        status_list: Option<String>,
        /// The credential's index in --status-list (decimal).
        #[arg(long, requires = "status_list")]
        status_index: Option<String>,
    },
    /// Revoke a credential on chain (setStatus on its issuer's status list),
    /// or restore it with --undo. Signed by the issuer's owner key or a
    /// sigAuth/veriKey delegate's key (then name the issuer with --issuer).
    Revoke {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// The signing key file (secp256k1): the issuer's, or a delegate's.
        #[arg(long)]
        issuer_key: PathBuf,
        /// The issuer (default: the key file's DID).
        #[arg(long)]
        issuer: Option<String>,
        /// The credential to revoke (a file or the token); its credentialStatus says where.
        #[arg(long, conflicts_with_all = ["status_list", "status_index"], required_unless_present = "status_list")]
        credential: Option<String>,
        /// The issuer's list name (with --status-index) instead of --credential.
        #[arg(long, requires = "status_index")]
        status_list: Option<String>,
        #[arg(long, requires = "status_list")]
        status_index: Option<String>,
        /// Clear the bit: the credential is accepted again.
        #[arg(long)]
        undo: bool,
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
        /// The `challenge` of a `401 step_up_required` (or any nonce of your own).
        #[arg(long)]
        nonce: Option<String>,
        /// Validity in seconds.
        #[arg(long, default_value_t = 120)]
        valid_for: i64,
        #[arg(long, value_enum, default_value_t = FormatArg::JwtVc)]
        format: FormatArg,
    },
    /// Log a browser in: answer the OpenID4VP request its login page shows
    /// (the `openid4vp://` link under the QR code). Prints where the browser
    /// goes next; the page that asked continues by itself.
    Login {
        #[arg(long)]
        holder_key: PathBuf,
        /// A credential: a file holding a VC-JWT, or the token itself (repeatable).
        #[arg(long = "vc", required_unless_present = "decline")]
        vcs: Vec<String>,
        /// The request: the login page's `openid4vp://?…` URL (quote it).
        request: String,
        /// Decline the request instead (the page shows it).
        #[arg(long)]
        decline: bool,
        /// Validity of the presentation in seconds.
        #[arg(long, default_value_t = 120)]
        valid_for: i64,
        #[arg(long, value_enum, default_value_t = FormatArg::JwtVc)]
        format: FormatArg,
        /// Accept the verifier's certificate without checking it (a development
        /// gateway's self-signed certificate only).
        #[arg(long)]
        insecure: bool,
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
        Command::Demo(args) => crate::cli::demo::run(args).await,
        Command::Did(DidCommand::Create {
            method,
            key_type,
            network,
            out,
        }) => {
            let (did, _) = match method {
                DidMethod::Ethr => create_ethr_did(&network, &out)?,
                _ => create_did(method, key_type.into(), &out)?,
            };
            println!("{did}");
            eprintln!("private key written to {}", out.display());
            Ok(())
        }
        Command::Did(DidCommand::Resolve {
            did,
            config,
            version_id,
            version_time,
        }) => {
            chain_commands::resolve(&did, config.as_deref(), version_id, version_time.as_deref())
                .await
        }
        Command::Did(cmd) => did_write(cmd).await,
        Command::Chain(ChainCommand::Deploy { rpc, key }) => {
            chain_commands::deploy(&rpc, &key).await
        }
        Command::Chain(ChainCommand::Status { config }) => chain_commands::status(&config).await,
        Command::Vc(VcCommand::Issue {
            issuer_key,
            subject,
            types,
            claims,
            claims_json,
            valid_for,
            format,
            out,
            status_list,
            status_index,
        }) => {
            let claims = parse_claims(&claims, claims_json.as_deref())?;
            let token = match (status_list, status_index) {
                (Some(list), Some(index)) => crate::cli::status_commands::issue_with_status(
                    &issuer_key,
                    &subject,
                    &types,
                    claims,
                    valid_for,
                    format.into(),
                    &list,
                    &index,
                )?,
                _ => issue_vc(
                    &issuer_key,
                    &subject,
                    &types,
                    claims,
                    valid_for,
                    format.into(),
                )?,
            };
            if let Some(out) = out {
                std::fs::write(&out, format!("{token}\n"))
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            println!("{token}");
            Ok(())
        }
        Command::Vc(VcCommand::Revoke {
            config,
            issuer_key,
            issuer,
            credential,
            status_list,
            status_index,
            undo,
        }) => {
            use crate::cli::status_commands::{revoke, Target};
            let target = match (credential, status_list, status_index) {
                (Some(c), _, _) => Target::Credential(c),
                (None, Some(list), Some(index)) => Target::Index { list, index },
                _ => bail!("give --credential, or --status-list with --status-index"),
            };
            revoke(&config, &issuer_key, issuer.as_deref(), target, undo).await
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
        Command::Wallet(WalletCommand::Login {
            holder_key,
            vcs,
            request,
            decline,
            valid_for,
            format,
            insecure,
        }) => {
            let vcs = vcs
                .iter()
                .map(|v| read_token(v))
                .collect::<Result<Vec<_>>>()?;
            let answer = crate::cli::wallet::login(
                &holder_key,
                vcs,
                &request,
                decline,
                valid_for,
                format.into(),
                insecure,
            )
            .await?;
            match (decline, answer.redirect_uri) {
                (true, _) => eprintln!("declined; the login page says so"),
                (false, Some(next)) => {
                    eprintln!("presented; the login page continues by itself (same device: open the link below in that browser)");
                    println!("{next}");
                }
                (false, None) => eprintln!("presented"),
            }
            Ok(())
        }
        Command::Policy(PolicyCommand::Test { config, cases }) => policy_test(&config, &cases),
        Command::Decisions { config, limit } => decisions(&config, limit).await,
        Command::Sessions(cmd) => sessions(cmd).await,
        Command::Risk(RiskCommand::Score { input, output }) => {
            crate::cli::risk_commands::score(&input, &output)
        }
        Command::Risk(RiskCommand::Eval {
            size,
            seed,
            out,
            events,
        }) => {
            let size = match size {
                EvalSize::Small => risk::eval::Size::Small,
                EvalSize::Full => risk::eval::Size::Full,
            };
            // Scoring is CPU work; keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                crate::cli::risk_commands::eval(size, seed, &out, events.as_ref())
            })
            .await
            .context("the evaluation panicked")?
        }
    }
}

/// The registry writes of `didgate did …`.
async fn did_write(cmd: DidCommand) -> Result<()> {
    use chain_commands::RegistryChange as C;
    let attr_name = |path: &Path, purpose: KeyPurpose| -> Result<(String, Vec<u8>)> {
        let (key, _) = read_key_file(path)?;
        let (algo, value) = match key.public_key() {
            did_registry::PublicKey::Ed25519(k) => ("Ed25519", k.as_bytes().to_vec()),
            did_registry::PublicKey::Secp256k1(k) => {
                ("Secp256k1", k.to_encoded_point(true).as_bytes().to_vec())
            }
            did_registry::PublicKey::P256(_) => {
                bail!(
                    "did:ethr keys are Ed25519 or secp256k1; {} is P-256",
                    path.display()
                )
            }
        };
        let purpose = match purpose {
            KeyPurpose::VeriKey => "veriKey",
            KeyPurpose::SigAuth => "sigAuth",
            KeyPurpose::Enc => "enc",
        };
        Ok((format!("did/pub/{algo}/{purpose}/hex"), value))
    };
    let (tx, change) = match cmd {
        DidCommand::AddKey {
            tx,
            public_key,
            purpose,
            valid_for,
        } => {
            let (name, value) = attr_name(&public_key, purpose)?;
            (
                tx,
                C::AddKey {
                    name,
                    value,
                    valid_for,
                },
            )
        }
        DidCommand::RevokeKey {
            tx,
            public_key,
            purpose,
        } => {
            let (name, value) = attr_name(&public_key, purpose)?;
            (tx, C::RevokeKey { name, value })
        }
        DidCommand::AddDelegate {
            tx,
            delegate,
            kind,
            valid_for,
        } => {
            let delegate = chain_commands::parse_account(&delegate)?;
            let kind = kind.as_str().to_owned();
            (
                tx,
                C::AddDelegate {
                    kind,
                    delegate,
                    valid_for,
                },
            )
        }
        DidCommand::RevokeDelegate { tx, delegate, kind } => {
            let delegate = chain_commands::parse_account(&delegate)?;
            let kind = kind.as_str().to_owned();
            (tx, C::RevokeDelegate { kind, delegate })
        }
        DidCommand::SetService {
            tx,
            service_type,
            endpoint,
            valid_for,
        } => {
            if service_type.is_empty()
                || !service_type
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bail!("--type {service_type:?}: a service type is letters, digits and _ (e.g. LinkedDomains)");
            }
            let name = format!("did/svc/{service_type}");
            (
                tx,
                C::SetService {
                    name,
                    endpoint,
                    valid_for,
                },
            )
        }
        DidCommand::ChangeOwner { tx, new_owner } => {
            let new_owner = chain_commands::parse_account(&new_owner)?;
            (tx, C::ChangeOwner { new_owner })
        }
        DidCommand::Deactivate { tx, yes } => {
            if !yes {
                bail!(
                    "deactivation is permanent: the DID can never sign again. Add --yes to confirm"
                );
            }
            (
                tx,
                C::ChangeOwner {
                    new_owner: did_registry::ethr::Address::ZERO,
                },
            )
        }
        DidCommand::Create { .. } | DidCommand::Resolve { .. } => {
            bail!("internal: not a registry write")
        }
    };
    chain_commands::write(&tx.config, &tx.key, tx.did.as_deref(), change).await
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
    crate::server::shutdown_signal().await;
    eprintln!("shutting down: draining connections and flushing the decision log");
    running.shutdown().await;
    Ok(())
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
        crate::server::tls::server_config(&config.resolve(&tls.cert), &config.resolve(&tls.key))?;
    }
    let key = config.resolve(&config.identity.key_file);
    if key.exists() {
        read_key_file(&key)?;
    }
    crate::request::route::Router::new(&config.routes)?;
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
        .decisions()
        .recent(limit.clamp(1, 10_000))
        .await?
        .into_iter()
        .rev()
    {
        println!(
            "{} {:<7} {:<6} {:<24} {:<22} risk {:.2}{} {} {}",
            d.id,
            d.effect,
            d.method,
            d.path,
            d.reason,
            d.risk_score,
            if d.risk_factors.is_empty() {
                String::new()
            } else {
                format!(" ({})", d.risk_factors.join(", "))
            },
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

async fn sessions(cmd: SessionsCommand) -> Result<()> {
    let now = unix_now() * 1000;
    match cmd {
        SessionsCommand::List {
            config,
            subject,
            all,
            limit,
        } => {
            let config = Config::load(&config)?;
            let store = crate::store::Store::connect(&config.database_url()).await?;
            let rows = store
                .list_sessions(subject.as_deref(), all, now, limit.clamp(1, 10_000))
                .await?;
            if rows.is_empty() {
                eprintln!("no sessions");
            }
            for r in rows {
                let state = match r.revoked_ms {
                    Some(_) => "revoked",
                    None if r.expires_ms <= now => "expired",
                    None => "live",
                };
                println!(
                    "{} {:<7} {} opened {} last used {} ends {} on {}",
                    r.id_hash.get(..16).unwrap_or(&r.id_hash),
                    state,
                    r.subject,
                    rfc3339(r.created_ms),
                    rfc3339(r.last_seen_ms),
                    rfc3339(r.expires_ms),
                    r.gateway,
                );
            }
            store.close().await;
        }
        SessionsCommand::Revoke {
            config,
            subject,
            id,
        } => {
            let config = Config::load(&config)?;
            let store = crate::store::Store::connect(&config.database_url()).await?;
            let n = match (subject, id) {
                (Some(s), _) => store.revoke_sessions_of(&s, now).await?,
                (None, Some(id)) => {
                    let id = id.to_ascii_lowercase();
                    if !(16..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        bail!("--id {id}: give the 16 hex digits `didgate sessions list` shows");
                    }
                    let live = store.list_sessions(None, false, now, 100_000).await?;
                    let matches: Vec<_> =
                        live.iter().filter(|r| r.id_hash.starts_with(&id)).collect();
                    match matches.as_slice() {
                        [one] => u64::from(store.revoke_session(&one.id_hash, now).await?),
                        [] => bail!("no live session has id {id}"),
                        _ => bail!("--id {id} names several sessions; give more digits"),
                    }
                }
                (None, None) => bail!("give --subject DID or --id ID"),
            };
            store.close().await;
            println!(
                "{n} session(s) revoked; every gateway drops them within {} ms",
                config.sessions.sync_interval_ms
            );
        }
    }
    Ok(())
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
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
