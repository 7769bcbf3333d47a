//! The `didgate` command line: its clap types, and `run`, which hands each
//! command to the function that does it. The work is in one file per group
//! of commands: `serve`, `check`, `demo`, `identity` (`did create` and the
//! helpers the others share), `chain_commands` (`did resolve`, the did:ethr
//! registry writes, `chain …`), `status_commands` (`vc …`), `wallet`,
//! `signed_request` (`wallet sign-request`, `curl`), `policy_commands`,
//! `policy_governance` (bundles and their approval on chain),
//! `risk_commands`, `session_commands`, `decisions` and `audit_commands`
//! (`audit …`; `exit` its exit statuses).
//! None of them imports this file.

pub(crate) mod audit_commands;
pub(crate) mod chain_commands;
pub(crate) mod check;
pub(crate) mod decisions;
pub(crate) mod demo;
pub mod exit;
pub(crate) mod identity;
pub(crate) mod policy_commands;
pub(crate) mod policy_governance;
pub mod risk_commands;
pub(crate) mod serve;
pub(crate) mod session_commands;
pub(crate) mod signed_request;
pub(crate) mod status_commands;
pub(crate) mod wallet;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use credentials::{Format, KeyType};

use crate::cli::chain_commands::Tx;
use crate::cli::demo::DemoArgs;
use crate::cli::identity::DidMethod;
use crate::cli::status_commands::Target;

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
    /// The decision log as an auditor checks it: verify it, prove a decision
    /// is in it, check such a proof, show its state.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sign a request with a DID key (RFC 9421) and send it, as a service
    /// calling through the gateway would: `didgate curl --key svc.jwk URL`.
    Curl(signed_request::CurlArgs),
    /// Print the most recent decisions from the decision log.
    Decisions {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: i64,
    },
}

/// `didgate audit …`. Exit status: 0 when what was checked holds, 2 when it
/// does not (printed), 1 when it could not be checked.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check every entry, tile and bundle of the log against its signed
    /// checkpoint, and (this gateway's log, with `[audit.anchor]`) against
    /// the head anchored on chain; name the first entry at fault.
    Verify {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// A copy of a log's public files (`checkpoint`, `tile/`) instead of
        /// this gateway's `[audit] dir`; needs --vkey.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The log's verifier key (`name+hash+base64`), as the gateway
        /// serves it at /.didgate/log/vkey; needs --dir.
        #[arg(long)]
        vkey: Option<String>,
        /// A directory sealed tiles and bundles were moved to (`audit
        /// archive`), read after the log's own; may be repeated.
        #[arg(long = "archive")]
        archives: Vec<PathBuf>,
    },
    /// Move the full tiles and entry bundles the latest checkpoint covers
    /// out of the log's directory (retention): gzip-compressed in place,
    /// and/or to `[audit] archive_dir`. They still verify and prove.
    Archive {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// Store each file gzip-compressed (`<path>.gz`).
        #[arg(long)]
        gzip: bool,
        /// Move them to `[audit] archive_dir`.
        #[arg(long)]
        to_archive: bool,
    },
    /// Write a proof that a decision is in the log (JSON), for `audit
    /// check-proof`.
    Prove {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        /// The decision's id (the `x-didgate-decision-id` the app received,
        /// or a refusal's `decision_id`).
        id: Option<String>,
        /// The entry's index in the log, instead of a decision id.
        #[arg(long, conflicts_with = "id")]
        index: Option<u64>,
        /// Write the proof here instead of to standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Check a proof from `audit prove` with nothing but the log's verifier
    /// key, or nothing but the chain (-c), or both.
    CheckProof {
        file: PathBuf,
        /// The log's verifier key (`name+hash+base64`).
        #[arg(long)]
        vkey: Option<String>,
        /// A config whose `[chains]` and `[audit.anchor]` (chain, contract,
        /// identity) say which anchors to trust.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Anchor the latest checkpoint on chain now (`[audit.anchor]`).
    Anchor {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
    },
    /// The log's size, its last checkpoint, how far the SQL index is, and
    /// whether the log extends the head anchored on chain (exit 2 if not).
    Status {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
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

impl From<EvalSize> for risk::eval::Size {
    fn from(s: EvalSize) -> Self {
        match s {
            EvalSize::Small => risk::eval::Size::Small,
            EvalSize::Full => risk::eval::Size::Full,
        }
    }
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

impl KeyPurpose {
    /// The purpose as the registry's attribute names spell it.
    fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::VeriKey => "veriKey",
            KeyPurpose::SigAuth => "sigAuth",
            KeyPurpose::Enc => "enc",
        }
    }
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

impl TxArgs {
    /// The write's signer and target, for [`chain_commands`].
    fn tx(&self) -> Tx<'_> {
        Tx {
            config: &self.config,
            key: &self.key,
            did: self.did.as_deref(),
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
    /// Print the RFC 9421 signature headers (and Content-Digest) for one
    /// request signed with a service's DID key, `Name: value` per line.
    SignRequest(signed_request::RequestArgs),
    /// Write a self-signed client certificate for a DID key, for mutual TLS
    /// to a gateway with `[server.tls] client_auth = "did"`: its URI SAN is
    /// the key's DID URL; the gateway checks the key against the DID.
    Cert(signed_request::CertArgs),
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
        /// Test this bundle instead of the [policy] files: a bundle file, a
        /// folder, or the hash of a bundle in [policy.governance] bundles.
        #[arg(long)]
        bundle: Option<String>,
    },
    /// Build a policy bundle (schema + *.cedar, content-addressed), write it
    /// as HASH.bundle and print its hash.
    Bundle {
        /// Config whose [policy] files are bundled (and whose bundles folder is written).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// A folder with one *.cedarschema and *.cedar files, instead of the config's files.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Folder to write HASH.bundle into (default: [policy.governance] bundles, or .).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Create the deployment in the PolicyRegistry: its administrators and
    /// how many of them must approve each change.
    Init {
        #[command(flatten)]
        admin: AdminArgs,
        /// An administrator (did:ethr or 0x address); repeat for each.
        #[arg(long = "admin", required = true)]
        admins: Vec<String>,
        #[arg(long)]
        threshold: u32,
    },
    /// Publish a bundle and propose it as the deployment's policy set
    /// (counts as your approval).
    Propose {
        #[command(flatten)]
        admin: AdminArgs,
        /// A folder (schema + *.cedar) or a bundle file; default: the config's [policy] files.
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Approve the pending proposal of a bundle (by hash) or any proposal (--id).
    Approve {
        #[command(flatten)]
        admin: AdminArgs,
        /// The bundle's hash.
        hash: Option<String>,
        #[arg(long)]
        id: Option<u64>,
    },
    /// Withdraw a pending proposal you made.
    Cancel {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        id: u64,
    },
    /// Propose a change to the administrators or the threshold.
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// The active set, pending proposals with their approvals and changes,
    /// the administrators, and whether the local files match the active set.
    Status {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
    },
    /// Policies added, removed or changed by a bundle, against the active set (or --against).
    Diff {
        #[arg(short, long, default_value = "didgate.toml")]
        config: PathBuf,
        hash: String,
        #[arg(long)]
        against: Option<String>,
    },
}

/// Who signs a governance transaction.
#[derive(Args, Debug)]
pub struct AdminArgs {
    #[arg(short, long, default_value = "didgate.toml")]
    pub config: PathBuf,
    /// The administrator's secp256k1 key file (its did:ethr owner, or a sigAuth/veriKey delegate's key).
    #[arg(long)]
    pub key: PathBuf,
    /// The administrator identity the key acts for (default: the key's own DID).
    #[arg(long = "as")]
    pub identity: Option<String>,
}

impl AdminArgs {
    fn admin(&self) -> policy_governance::Admin<'_> {
        policy_governance::Admin {
            config: &self.config,
            key: &self.key,
            identity: self.identity.as_deref(),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminsCommand {
    /// Propose adding an administrator.
    Add {
        #[command(flatten)]
        admin: AdminArgs,
        /// The administrator to add (did:ethr or 0x address).
        member: String,
    },
    /// Propose removing an administrator.
    Remove {
        #[command(flatten)]
        admin: AdminArgs,
        /// The administrator to remove (did:ethr or 0x address).
        member: String,
    },
    /// Propose a new threshold.
    Threshold {
        #[command(flatten)]
        admin: AdminArgs,
        threshold: u32,
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

/// Run one command line: each command is one call to the function doing it.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { config } => serve::serve(&config).await,
        Command::Check { config } => check::check(&config).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Did(cmd) => run_did(cmd).await,
        Command::Vc(cmd) => run_vc(cmd).await,
        Command::Wallet(cmd) => run_wallet(cmd).await,
        Command::Policy(cmd) => run_policy(cmd).await,
        Command::Chain(cmd) => run_chain(cmd).await,
        Command::Risk(cmd) => run_risk(cmd).await,
        Command::Sessions(cmd) => run_sessions(cmd).await,
        Command::Audit(cmd) => run_audit(cmd).await,
        Command::Curl(args) => signed_request::curl(&args).await,
        Command::Decisions { config, limit } => decisions::print(&config, limit).await,
    }
}

/// `didgate policy …`: tests, bundles and their governance on chain.
async fn run_policy(cmd: PolicyCommand) -> Result<()> {
    use policy_governance::AdminChange;
    match cmd {
        PolicyCommand::Test {
            config,
            cases,
            bundle: None,
        } => policy_commands::test(&config, &cases),
        PolicyCommand::Test {
            config,
            cases,
            bundle: Some(b),
        } => policy_governance::test_bundle(&config, &cases, &b).await,
        PolicyCommand::Bundle { config, from, out } => {
            policy_governance::bundle(config.as_deref(), from.as_deref(), out.as_deref()).await
        }
        PolicyCommand::Init {
            admin,
            admins,
            threshold,
        } => policy_governance::init(&admin.admin(), &admins, threshold).await,
        PolicyCommand::Propose { admin, bundle } => {
            policy_governance::propose(&admin.admin(), bundle.as_deref()).await
        }
        PolicyCommand::Approve { admin, hash, id } => {
            policy_governance::approve(&admin.admin(), hash.as_deref(), id).await
        }
        PolicyCommand::Cancel { admin, id } => policy_governance::cancel(&admin.admin(), id).await,
        PolicyCommand::Admins(AdminsCommand::Add { admin, member }) => {
            policy_governance::admins(&admin.admin(), AdminChange::Add(member)).await
        }
        PolicyCommand::Admins(AdminsCommand::Remove { admin, member }) => {
            policy_governance::admins(&admin.admin(), AdminChange::Remove(member)).await
        }
        PolicyCommand::Admins(AdminsCommand::Threshold { admin, threshold }) => {
            policy_governance::admins(&admin.admin(), AdminChange::Threshold(threshold)).await
        }
        PolicyCommand::Status { config } => policy_governance::status(&config).await,
        PolicyCommand::Diff {
            config,
            hash,
            against,
        } => policy_governance::diff(&config, &hash, against.as_deref()).await,
    }
}

async fn run_audit(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify {
            config,
            dir,
            vkey,
            archives,
        } => audit_commands::verify(&config, dir, vkey, archives).await,
        AuditCommand::Archive {
            config,
            gzip,
            to_archive,
        } => audit_commands::archive(&config, to_archive, gzip).await,
        AuditCommand::Prove {
            config,
            id,
            index,
            out,
        } => audit_commands::prove(&config, id, index, out).await,
        AuditCommand::CheckProof { file, vkey, config } => {
            audit_commands::check_proof(&file, vkey.as_deref(), config.as_deref()).await
        }
        AuditCommand::Anchor { config } => audit_commands::anchor_now(&config).await,
        AuditCommand::Status { config } => audit_commands::status(&config).await,
    }
}

/// `didgate did …`: create and resolve DIDs, and the did:ethr registry writes.
async fn run_did(cmd: DidCommand) -> Result<()> {
    match cmd {
        DidCommand::Create {
            method,
            key_type,
            network,
            out,
        } => identity::create(method, key_type.into(), &network, &out),
        DidCommand::Resolve {
            did,
            config,
            version_id,
            version_time,
        } => {
            chain_commands::resolve(&did, config.as_deref(), version_id, version_time.as_deref())
                .await
        }
        DidCommand::AddKey {
            tx,
            public_key,
            purpose,
            valid_for,
        } => chain_commands::add_key(&tx.tx(), &public_key, purpose.as_str(), valid_for).await,
        DidCommand::RevokeKey {
            tx,
            public_key,
            purpose,
        } => chain_commands::revoke_key(&tx.tx(), &public_key, purpose.as_str()).await,
        DidCommand::AddDelegate {
            tx,
            delegate,
            kind,
            valid_for,
        } => chain_commands::add_delegate(&tx.tx(), &delegate, kind.as_str(), valid_for).await,
        DidCommand::RevokeDelegate { tx, delegate, kind } => {
            chain_commands::revoke_delegate(&tx.tx(), &delegate, kind.as_str()).await
        }
        DidCommand::SetService {
            tx,
            service_type,
            endpoint,
            valid_for,
        } => chain_commands::set_service(&tx.tx(), &service_type, endpoint, valid_for).await,
        DidCommand::ChangeOwner { tx, new_owner } => {
            chain_commands::change_owner(&tx.tx(), &new_owner).await
        }
        DidCommand::Deactivate { tx, yes } => chain_commands::deactivate(&tx.tx(), yes).await,
    }
}

/// `didgate vc …`: issue a credential, revoke (or restore) one on chain.
async fn run_vc(cmd: VcCommand) -> Result<()> {
    match cmd {
        VcCommand::Issue {
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
        } => status_commands::issue(
            &issuer_key,
            &subject,
            &types,
            &claims,
            claims_json.as_deref(),
            valid_for,
            format.into(),
            status_list.zip(status_index),
            out.as_deref(),
        ),
        VcCommand::Revoke {
            config,
            issuer_key,
            issuer,
            credential,
            status_list,
            status_index,
            undo,
        } => {
            let target = Target::from_flags(credential, status_list, status_index)?;
            status_commands::revoke(&config, &issuer_key, issuer.as_deref(), target, undo).await
        }
    }
}

/// `didgate wallet …`: the holder's presentations and browser logins.
async fn run_wallet(cmd: WalletCommand) -> Result<()> {
    match cmd {
        WalletCommand::Present {
            holder_key,
            vcs,
            audience,
            nonce,
            valid_for,
            format,
        } => wallet::present(
            &holder_key,
            &vcs,
            &audience,
            nonce,
            valid_for,
            format.into(),
        ),
        WalletCommand::Login {
            holder_key,
            vcs,
            request,
            decline,
            valid_for,
            format,
            insecure,
        } => {
            let format = format.into();
            wallet::login(
                &holder_key,
                &vcs,
                &request,
                decline,
                valid_for,
                format,
                insecure,
            )
            .await
        }
        WalletCommand::SignRequest(args) => signed_request::sign_request(&args),
        WalletCommand::Cert(args) => signed_request::cert(&args),
    }
}

/// `didgate chain …`: deploy the DID registry, show how far each chain is followed.
async fn run_chain(cmd: ChainCommand) -> Result<()> {
    match cmd {
        ChainCommand::Deploy { rpc, key } => chain_commands::deploy(&rpc, &key).await,
        ChainCommand::Status { config } => chain_commands::status(&config).await,
    }
}

/// `didgate risk …`: the risk engine offline.
async fn run_risk(cmd: RiskCommand) -> Result<()> {
    match cmd {
        RiskCommand::Score { input, output } => risk_commands::score(&input, &output),
        RiskCommand::Eval {
            size,
            seed,
            out,
            events,
        } => risk_commands::eval_blocking(size.into(), seed, out, events).await,
    }
}

/// `didgate sessions …`: list browser sessions, end them on every gateway.
async fn run_sessions(cmd: SessionsCommand) -> Result<()> {
    match cmd {
        SessionsCommand::List {
            config,
            subject,
            all,
            limit,
        } => session_commands::list(&config, subject.as_deref(), all, limit).await,
        SessionsCommand::Revoke {
            config,
            subject,
            id,
        } => session_commands::revoke(&config, subject, id).await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
