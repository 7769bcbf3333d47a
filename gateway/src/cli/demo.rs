//! `didgate demo`: everything on embedded defaults in one process — a sample
//! app, an embedded EVM chain with the ERC-1056 DID registry, an HR issuer
//! and employees with `did:ethr` identities on it, a platform issuer and a
//! service (`did:jwk`) with credentials, example Cedar policies, a SQLite
//! decision log, a self-signed certificate — then prints the commands to try,
//! including a DID deactivated on chain and refused from the very next request.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credentials::{Format, KeyType};
use serde_json::{json, Map, Value};

use crate::cli::identity::{create_did, create_ethr_did, issue_vc, DidMethod};
use crate::config::Config;
use crate::request::assertion::{read_key_file, write_key_file, AssertionSigner};
use crate::sample_app::SampleApp;
use crate::sample_service::SampleService;

const SCHEMA: &str = include_str!("../../../deploy/policies/didgate.cedarschema");
const POLICIES: &str = include_str!("../../../deploy/policies/demo.cedar");
const POLICY_TESTS: &str = include_str!("../../../deploy/policies/demo-tests.toml");

/// The files and identities the demo set up.
pub struct DemoSetup {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub public_url: String,
    pub https_url: String,
    pub http_port: u16,
    pub tls_port: u16,
    pub hr_issuer: String,
    pub platform_issuer: String,
    pub alice: String,
    pub carol: String,
    pub dave: String,
    pub billing: String,
}

/// The network name of the demo's embedded chain (`did:ethr:demo:0x…`).
pub const DEMO_NETWORK: &str = "demo";

/// `didgate demo`'s options.
#[derive(clap::Args, Debug, Clone)]
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

/// `didgate demo`: set everything up, run the gateway, print what to try, stop on Ctrl-C.
pub async fn run(args: DemoArgs) -> Result<()> {
    let http_port = pick_port(args.port)?;
    let tls_port = pick_port(args.tls_port)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = args.dir.canonicalize().unwrap_or(args.dir.clone());

    // The gateway key first: the sample app verifies assertions with its JWKS.
    let gw_key_path = dir.join("gateway-key.jwk");
    if !gw_key_path.exists() {
        write_key_file(
            &gw_key_path,
            &credentials::SigningKey::generate(KeyType::Ed25519),
            None,
        )?;
    }
    let (gw_key, _) = read_key_file(&gw_key_path)?;
    let jwks = AssertionSigner::new(gw_key, "demo", 60).jwks().to_owned();
    let app = SampleApp::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), Some(jwks))
        .await
        .context("cannot start the sample app")?;

    let setup = prepare(&dir, http_port, tls_port, app.addr)?;
    let config = Config::load(&setup.config_path)?;
    seed_history(&config, &setup.alice)
        .await
        .context("cannot seed alice's risk history")?;
    govern_policies(&config, &dir)
        .await
        .context("cannot put the demo's policies under on-chain governance")?;
    let running = crate::server::start(&config).await.map_err(|e| {
        let hint = if matches!(e, crate::server::StartError::Bind { .. }) {
            "\nhint: another program uses that port; try `didgate demo --port 0 --tls-port 0` for free ports"
        } else {
            ""
        };
        anyhow::anyhow!("{e}{hint}")
    })?;
    // The second service: billing, calling the app through the gateway
    // with signed requests.
    let service = SampleService::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        &dir.join("billing-service.jwk"),
        &dir.join("billing-service.vc.jwt"),
        &setup.public_url,
        &setup.public_url,
    )
    .await
    .context("cannot start the sample billing service")?;
    print_walkthrough(&setup, app.addr, service.addr);
    crate::server::shutdown_signal().await;
    eprintln!("stopping the demo: draining connections and flushing the decision log");
    service.stop();
    running.shutdown().await;
    app.stop();
    Ok(())
}

/// Put the demo's policy set under governance: the deployment "demo" with
/// its two administrators (2 of 2) is created once, and the shipped policy
/// set is proposed and approved by both whenever another set is active (a
/// walkthrough of an earlier run approved its change), so every run starts
/// from the same rules.
pub async fn govern_policies(config: &Config, dir: &Path) -> Result<()> {
    use crate::server::governance::{BundleStore, GovernanceError, Registry};
    use did_registry::ethr::governance::{self as gov, ProposalKind, GOVERNANCE_GAS};
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let registry = Registry::open(config, &store).await?;
    let mut admins = Vec::new();
    for name in POLICY_ADMINS {
        let path = dir.join(format!("{name}.jwk"));
        let (key, did, _) = crate::cli::identity::load_identity(&path)?;
        let secret = crate::server::anchor::ethereum_secret(&key, &path)?;
        admins.push((secret, crate::server::anchor::parse_account(&did)?));
    }
    let send = |i: usize, data| {
        let (secret, _) = &admins[i];
        let (chain, contract) = (registry.chain.clone(), registry.contract);
        let secret = secret.clone();
        async move {
            chain
                .transact(&secret, Some(contract), data, GOVERNANCE_GAS)
                .await
        }
    };
    let info = match registry.info().await {
        Err(GovernanceError::NoDeployment { .. }) => {
            let addrs: Vec<_> = admins.iter().map(|(_, a)| *a).collect();
            send(0, gov::create(registry.deployment, &addrs, 2)).await?;
            registry.info().await?
        }
        other => other?,
    };
    let bundle = config.policy_bundle()?;
    let g = config
        .policy
        .governance
        .as_ref()
        .context("[policy.governance]")?;
    BundleStore::from_config(config, g, &store)?
        .put(&bundle)
        .await?;
    let hash = alloy_primitives::B256::from(bundle.hash());
    if info.active != Some(hash) {
        let pending = registry
            .chain
            .call(
                registry.contract,
                gov::pending_proposal(registry.deployment, ProposalKind::Bundle, hash),
            )
            .await
            .ok()
            .and_then(|r| gov::decode_id(&r))
            .unwrap_or(0);
        let id = if pending == 0 {
            send(
                0,
                gov::propose(registry.deployment, admins[0].1, ProposalKind::Bundle, hash),
            )
            .await?;
            registry.info().await?.proposal_count
        } else {
            pending
        };
        for (i, (_, admin)) in admins.iter().enumerate() {
            let approved = registry
                .chain
                .call(
                    registry.contract,
                    gov::has_approved(registry.deployment, id, *admin),
                )
                .await
                .ok()
                .and_then(|r| gov::decode_bool(&r))
                .unwrap_or(false);
            if !approved {
                send(i, gov::approve(registry.deployment, *admin, id)).await?;
            }
        }
    }
    store.close().await;
    Ok(())
}

/// Give alice two weeks of ordinary history (this machine, curl, a few
/// engineering pages around this time of day), so the risk step of the
/// walkthrough has something to compare with. Done once per demo folder.
pub async fn seed_history(config: &Config, alice: &str) -> Result<()> {
    const DAY: i64 = 86_400_000;
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let known = store
        .load_risk_profiles(0, None, 1_000_000)
        .await?
        .iter()
        .any(|(s, _, _)| s == alice);
    if !known {
        let engine = risk::Engine::new(config.risk.engine_config(store.risk_hash_key().await?));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let paths = ["/", "/eng/docs", "/eng/build", "/whoami", "/eng/review"];
        for day in (1..=14).rev() {
            for k in 0..18i64 {
                let ts = now - day * DAY + (k - 9) * 20 * 60_000;
                let mut ev = risk::Event::new(
                    ts,
                    alice,
                    risk::Kind::Request,
                    std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
                );
                ev.user_agent = Some("curl/8.0.0");
                ev.auth_method = Some(crate::request::authn::AuthMethod::VpJwt.as_str());
                ev.method = Some("GET");
                ev.path = Some(paths[k as usize % paths.len()]);
                ev.status = Some(200);
                ev.bytes = Some(1_500);
                engine.score(&ev);
            }
        }
        store
            .save_risk_profiles(&engine.take_dirty(), "demo-seed", now)
            .await?;
    }
    store.close().await;
    Ok(())
}

fn pick_port(port: u16) -> Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    let l =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Write keys, credentials, policies, certificate and config into `dir`.
/// Keys are kept across runs; credentials and config are rewritten.
pub fn prepare(dir: &Path, http_port: u16, tls_port: u16, app: SocketAddr) -> Result<DemoSetup> {
    let hr = demo_identity(dir, "hr-issuer", DidMethod::Ethr, KeyType::Secp256k1)?;
    let platform = demo_identity(dir, "platform-issuer", DidMethod::Jwk, KeyType::P256)?;
    let alice = demo_identity(dir, "alice", DidMethod::Ethr, KeyType::Secp256k1)?;
    let carol = demo_identity(dir, "carol", DidMethod::Ethr, KeyType::Secp256k1)?;
    let billing = demo_identity(dir, "billing-service", DidMethod::Jwk, KeyType::P256)?;
    // The gateway's own did:ethr, under which its decision log is anchored.
    demo_identity(dir, "gateway-anchor", DidMethod::Ethr, KeyType::Secp256k1)?;
    // The two administrators who approve policy sets on chain (2 of 2).
    for admin in POLICY_ADMINS {
        demo_identity(dir, admin, DidMethod::Ethr, KeyType::Secp256k1)?;
    }
    // Dave is new on every run: the walkthrough deactivates his DID on chain.
    let dave = create_ethr_did(DEMO_NETWORK, &dir.join("dave.jwk"))?.0;
    write_credentials(dir, &alice, &carol, &dave, &billing)?;
    write_policies_and_certificate(dir)?;

    let setup = DemoSetup {
        dir: dir.to_owned(),
        config_path: dir.join("didgate.toml"),
        public_url: format!("http://127.0.0.1:{http_port}"),
        https_url: format!("https://127.0.0.1:{tls_port}"),
        http_port,
        tls_port,
        hr_issuer: hr,
        platform_issuer: platform,
        alice,
        carol,
        dave,
        billing,
    };
    std::fs::write(&setup.config_path, config_toml(&setup, app))?;
    Ok(setup)
}

/// The DID of `dir/NAME.jwk`. Keys are kept across runs (the chain in
/// didgate.db remembers them too), unless a key file is of another method
/// than the demo now uses.
fn demo_identity(dir: &Path, name: &str, method: DidMethod, kt: KeyType) -> Result<String> {
    let path = dir.join(format!("{name}.jwk"));
    let prefix = match method {
        DidMethod::Key => "did:key:",
        DidMethod::Jwk => "did:jwk:",
        DidMethod::Ethr => "did:ethr:",
    };
    if path.exists() {
        if let Ok((_, did, _)) = crate::cli::identity::load_identity(&path) {
            if did.starts_with(prefix) {
                return Ok(did);
            }
        }
    }
    Ok(match method {
        DidMethod::Ethr => create_ethr_did(DEMO_NETWORK, &path)?.0,
        _ => create_did(method, kt, &path)?.0,
    })
}

/// Issue the demo's credentials (valid for a year) into `dir/*.vc.jwt`.
fn write_credentials(
    dir: &Path,
    alice: &str,
    carol: &str,
    dave: &str,
    billing: &str,
) -> Result<()> {
    let employee = "EmployeeCredential";
    let credentials = [
        (
            "alice-employee.vc.jwt",
            "hr-issuer.jwk",
            alice,
            employee,
            json!({"name": "Alice Example", "role": "engineer", "department": "eng", "employee_id": "E-1001"}),
            Format::JwtVc11,
        ),
        (
            "carol-employee.vc.jwt",
            "hr-issuer.jwk",
            carol,
            employee,
            json!({"name": "Carol Admin", "role": "admin", "department": "it", "employee_id": "E-0007"}),
            Format::VcJwt20,
        ),
        (
            "dave-employee.vc.jwt",
            "hr-issuer.jwk",
            dave,
            employee,
            json!({"name": "Dave Contractor", "role": "engineer", "department": "eng", "employee_id": "C-0042"}),
            Format::JwtVc11,
        ),
        (
            "billing-service.vc.jwt",
            "platform-issuer.jwk",
            billing,
            "ServiceCredential",
            json!({"service": "billing"}),
            Format::JwtVc11,
        ),
    ];
    let year = 365 * 24 * 3600;
    for (file, issuer_key, subject, credential_type, claims, format) in credentials {
        let claims = match claims {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let token = issue_vc(
            &dir.join(issuer_key),
            subject,
            &[credential_type.into()],
            claims,
            year,
            format,
        )?;
        let p = dir.join(file);
        std::fs::write(&p, format!("{token}\n"))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// The demo's policy administrators (key files `NAME.jwk`, did:ethr).
pub const POLICY_ADMINS: [&str; 2] = ["policy-admin-1", "policy-admin-2"];

/// The change the walkthrough proposes on chain: engineers may also write
/// under /eng/.
const NEXT_POLICY: &str = r#"// Proposed through on-chain governance (walkthrough step 11): engineers may
// also change things under /eng/. In force only once both administrators
// approved this bundle on chain.
@id("engineers-write-eng")
permit (principal, action in Didgate::Action::"write", resource in Didgate::App::"demo")
when {
  context.credential_types.contains("EmployeeCredential") &&
  resource.path like "/eng/*" &&
  principal.claims has EmployeeCredential.department &&
  principal.claims.EmployeeCredential.department == "eng"
};
"#;

/// Write the policies (the set in force and the walkthrough's proposed
/// next one), their tests, and (once) a self-signed certificate.
fn write_policies_and_certificate(dir: &Path) -> Result<()> {
    let pol = dir.join("policies");
    std::fs::create_dir_all(&pol)?;
    std::fs::write(pol.join("didgate.cedarschema"), SCHEMA)?;
    std::fs::write(pol.join("demo.cedar"), POLICIES)?;
    let next = dir.join("policies-next");
    std::fs::create_dir_all(&next)?;
    std::fs::write(next.join("didgate.cedarschema"), SCHEMA)?;
    std::fs::write(next.join("demo.cedar"), POLICIES)?;
    std::fs::write(next.join("engineers-write.cedar"), NEXT_POLICY)?;
    std::fs::create_dir_all(dir.join("policy-bundles"))?;
    std::fs::write(dir.join("policy-tests.toml"), POLICY_TESTS)?;

    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    if !cert.exists() || !key.exists() {
        crate::server::tls::write_self_signed(&cert, &key, &["localhost", "127.0.0.1"])?;
    }
    Ok(())
}

/// The sections of the demo config that depend on neither ports nor identities.
const CONFIG_FIXED_SECTIONS: &str = r#"# The policy set in force is the bundle the deployment's two administrators
# (policy-admin-1.jwk, policy-admin-2.jwk) approved, 2 of 2, in the
# PolicyRegistry on the embedded chain. The files below are the working copy
# they propose from: editing them changes nothing until both approve.
[policy]
source = "chain"
schema = "policies/didgate.cedarschema"
policies = ["policies"]

[policy.governance]
chain = "demo"
deployment = "demo"
bundles = "policy-bundles"

[database]
url = "sqlite://didgate.db"

# Behavioral risk: every request is scored against its identity's history
# (networks, devices, hours, paths, rates); policies/demo.cedar steps up
# above 0.5 and refuses above 0.8. Profiles are kept in didgate.db.
[risk]
enabled = true
half_life_days = 14

# Browser login: a browser without a session is sent to /.didgate/login, which
# shows an OpenID4VP request (a QR code and an openid4vp:// link) for the
# holder's wallet to answer; the browser then holds a session cookie (ended by
# logout, 30 minutes unused, 8 hours, or its credential's revocation on chain).
[sessions]
enabled = true
idle_timeout_secs = 1800
lifetime_secs = 28800

# did:ethr:demo:0x… live on an EVM chain embedded in this gateway (its blocks
# are in didgate.db); the ERC-1056 registry is deployed at its genesis.
[chains.demo]
embedded = true
poll_interval_ms = 200

# The decision log (decision-log/, a transparency log signed by the gateway)
# is anchored on that chain every 10 s and at shutdown, under the gateway's own
# did:ethr (gateway-anchor.jwk): no one can replace its history after that.
[audit.anchor]
chain = "demo"
key_file = "gateway-anchor.jwk"
interval_secs = 10

"#;

/// The demo's didgate.toml.
fn config_toml(s: &DemoSetup, app: SocketAddr) -> String {
    let (http_port, tls_port) = (s.http_port, s.tls_port);
    let (public_url, https_url) = (&s.public_url, &s.https_url);
    let (hr, platform) = (&s.hr_issuer, &s.platform_issuer);
    format!(
        r#"# didgate demo configuration (written by `didgate demo`; safe to edit and run with `didgate serve -c {cfg}`)
[server]
listen = "127.0.0.1:{http_port}"
listen_tls = "127.0.0.1:{tls_port}"
public_url = "{public_url}"
instance = "demo"
# The walkthrough plays other networks with X-Forwarded-For from curl on this
# machine; in production list only your load balancers here.
trusted_proxies = ["127.0.0.1/32", "::1/128"]

[server.tls]
cert = "tls-cert.pem"
key = "tls-key.pem"
# A client certificate whose URI SAN names a DID and whose key is that DID's
# authentication key is an identity (mutual TLS, no CA; step 10).
client_auth = "did"

[identity]
key_file = "gateway-key.jwk"

[credentials]
audiences = ["{public_url}", "{https_url}", "http://localhost:{http_port}", "https://localhost:{tls_port}"]

[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["{hr}"]

[[credentials.trusted_issuers]]
credential_type = "ServiceCredential"
issuers = ["{platform}"]

{CONFIG_FIXED_SECTIONS}[[route]]
name = "demo"
path_prefix = "/"
upstream = "http://{app}"
"#,
        cfg = s.dir.join("didgate.toml").display(),
    )
}

/// Print where everything is and the commands to try.
fn print_walkthrough(s: &DemoSetup, app: SocketAddr, service: SocketAddr) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "didgate".to_owned());
    print_overview(s, app);
    print_steps(s, &exe);
    print_services(s, &exe, service);
    print_governance(s, &exe);
    print_then(s, &exe);
}

/// The walkthrough's service-to-service step: the billing service calls
/// the app through the gateway with signed requests.
fn print_services(s: &DemoSetup, exe: &str, service: SocketAddr) {
    let d = s.dir.display();
    let url = &s.public_url;
    print!(
        r#"
10. SERVICE TO SERVICE - a second sample service, billing, runs at http://{service}. Each request
   to it makes one call through the gateway to /api/invoices, signed with billing's own DID key
   (RFC 9421 HTTP Message Signatures, by the didgate-client library); its credential is presented
   once, with its first call. Services may POST to the API only with signed requests (policy
   services-write-api-signed: context.auth_method == "http_signature"):
   curl -s http://{service}/                        # billing GETs /api/invoices, signed: 200
   curl -s http://{service}/ -d '{{"amount":42}}'     # billing POSTs, signed: 200
   The same POST with a presentation instead of a signature is denied (403 policy_denied):
   curl -s -X POST {url}/api/invoices -d '{{"amount":42}}' -H "Authorization: Bearer $({exe} wallet present --holder-key {d}/billing-service.jwk --vc {d}/billing-service.vc.jwt --audience {url})"
   Sign and send as billing from the shell (`wallet sign-request` prints the headers instead):
   {exe} curl --key {d}/billing-service.jwk -d '{{"amount":7}}' {url}/api/invoices
   A body changed after signing is refused (401 content_digest_mismatch):
   H=(); while IFS= read -r l; do H+=(-H "$l"); done < <({exe} wallet sign-request --key {d}/billing-service.jwk -d '{{"amount":7}}' {url}/api/invoices); curl -s {url}/api/invoices -d '{{"amount":9000}}' "${{H[@]}}"
   Or by mutual TLS on {https}: a client certificate for billing's key (no CA; the gateway checks the
   key against billing's DID on every request). Reading is allowed; writing is not, as the policy
   asks for signed requests (403 policy_denied):
   {exe} curl --mtls -k --key {d}/billing-service.jwk --vc {d}/billing-service.vc.jwt --audience {url} {https}/api/invoices
   {exe} curl --mtls -k --key {d}/billing-service.jwk -d '{{"amount":7}}' {https}/api/invoices
"#,
        https = s.https_url,
    );
}

/// The walkthrough's governance step: a policy change proposed by one
/// administrator is pending until the second approves it on chain.
fn print_governance(s: &DemoSetup, exe: &str) {
    let d = s.dir.display();
    let url = &s.public_url;
    let cfg = s.config_path.display();
    print!(
        r#"
11. POLICIES GOVERNED ON CHAIN - the rules in force are the bundle that both policy administrators
   approved in the PolicyRegistry on the embedded chain (2 of 2); editing {d}/policies/*.cedar
   changes nothing by itself. {d}/policies-next adds one rule: engineers may write under /eng/.
   Administrator 1 proposes it; it is pending with 1 of 2 approvals and alice's POST is still denied:
   H=$({exe} policy bundle --from {d}/policies-next -c {cfg})
   {exe} policy propose -c {cfg} --bundle {d}/policies-next --key {d}/policy-admin-1.jwk
   {exe} policy status -c {cfg}
   curl -s -X POST {url}/eng/docs -d 'x=1' -H "Authorization: Bearer $({exe} wallet present --holder-key {d}/alice.jwk --vc {d}/alice-employee.vc.jwt --audience {url})"
   Administrator 2 approves; from that block on (the gateway polls every 200 ms) the same POST is allowed,
   and every decision in the log records the hash of the set that made it ({url}/.didgate/health shows it):
   {exe} policy approve -c {cfg} $H --key {d}/policy-admin-2.jwk
   sleep 1; curl -s -X POST {url}/eng/docs -d 'x=1' -H "Authorization: Bearer $({exe} wallet present --holder-key {d}/alice.jwk --vc {d}/alice-employee.vc.jwt --audience {url})"
   Rolling back is approving the earlier set again: `policy propose` the policies/ folder, then `policy approve`.
"#
    );
}

/// The walkthrough's start: the gateway, the sample app, the identities.
fn print_overview(s: &DemoSetup, app: SocketAddr) {
    let d = s.dir.display();
    let url = &s.public_url;
    print!(
        r#"
didgate demo is running
  gateway:     {url}   and   {https}  (self-signed certificate: curl -k)
  sample app:  http://{app}  (only reachable through the gateway in a real deployment)
  data:        {d}  (keys, credentials, policies, config, decision log and its SQLite index)
  gateway key: {url}/.well-known/jwks.json

identities (keys in {d}/*.jwk; did:ethr on the embedded chain "demo"):
  HR issuer        {hr}
  alice (engineer) {alice}
  carol (admin)    {carol}
  dave (engineer)  {dave}
  platform issuer  {platform}
  billing service  {billing}

Each request carries a fresh verifiable presentation (single use, 2 minutes),
made by the holder's wallet: `didgate wallet present`.

Try these (in another terminal):
"#,
        https = s.https_url,
        hr = s.hr_issuer,
        platform = s.platform_issuer,
        alice = s.alice,
        carol = s.carol,
        dave = s.dave,
        billing = s.billing,
    );
}

/// The walkthrough's numbered steps: requests allowed, denied, refused,
/// revoked on chain, stepped up by risk, and a browser login.
fn print_steps(s: &DemoSetup, exe: &str) {
    let d = s.dir.display();
    let url = &s.public_url;
    let vp = |who: &str, vc: &str| {
        format!("$({exe} wallet present --holder-key {d}/{who}.jwk --vc {d}/{vc} --audience {url})")
    };
    let billing_vp_https = format!(
        "$({exe} wallet present --holder-key {d}/billing-service.jwk --vc {d}/billing-service.vc.jwt --audience {})",
        s.https_url
    );
    print!(
        r#"
1. ALLOWED - alice, an engineer, reads /eng/docs (the app shows who the gateway says she is):
   curl -s {url}/eng/docs -H "Authorization: Bearer {alice_vp}"

2. DENIED (403 policy_denied) - alice tries to change something; only role=admin may POST:
   curl -s -X POST {url}/eng/docs -d 'x=1' -H "Authorization: Bearer {alice_vp}"

3. ALLOWED - carol, an admin, may POST:
   curl -s -X POST {url}/eng/docs -d 'x=1' -H "Authorization: Bearer {carol_vp}"

4. ALLOWED - the billing service calls the API over HTTPS:
   curl -sk {https}/api/invoices -H "Authorization: Bearer {billing_vp_https}"

5. REFUSED (401 credential_missing / replayed_presentation):
   curl -s {url}/eng/docs
   VP={alice_vp}; curl -s {url}/ -H "Authorization: Bearer $VP"; curl -s {url}/ -H "Authorization: Bearer $VP"

6. REVOKED ON CHAIN - dave is allowed; his DID is deactivated by one transaction on the
   chain, and the command returns once the gateway has applied that block, so the very
   next request is refused (401 did_deactivated):
   curl -s {url}/eng/docs -H "Authorization: Bearer {dave_vp}"
   {exe} did deactivate -c {cfg} --key {d}/dave.jwk --yes
   curl -s {url}/eng/docs -H "Authorization: Bearer {dave_vp}"

7. RISK - alice has two weeks of ordinary history from this machine with curl (seeded
   by the demo). The same request from a network and a browser she never used is
   stepped up (401 step_up_required, with a challenge for her wallet):
   curl -s {url}/eng/docs -H "X-Forwarded-For: 198.51.100.7" -A "{firefox}" -H "Authorization: Bearer {alice_vp}"
   Her wallet answers the challenge (a presentation signed now, carrying it as its nonce):
   she is let in, and that network and browser become familiar:
   C=$(curl -s {url}/eng/docs -H "X-Forwarded-For: 198.51.100.7" -A "{firefox}" -H "Authorization: Bearer {alice_vp}" | sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p'); curl -s {url}/eng/docs -H "X-Forwarded-For: 198.51.100.7" -A "{firefox}" -H "Authorization: Bearer $({exe} wallet present --holder-key {d}/alice.jwk --vc {d}/alice-employee.vc.jwt --audience {url} --nonce "$C")"
   Scraping: 40 different pages in a few seconds from her usual place. The score climbs
   until she is stepped up (401), then refused (403); `decisions` shows why:
   for i in $(seq 1 40); do curl -s -o /dev/null -w "%{{http_code}} " {url}/eng/page-$i -H "Authorization: Bearer {alice_vp}"; done; echo
   {exe} decisions -c {cfg} -n 5

8. BROWSER LOGIN - open {url}/whoami in a browser: it is sent to the login page, which
   shows a QR code for a phone wallet and the same request as an openid4vp:// link. Answer
   it with carol's wallet (copy the link from the page); the page goes on to /whoami by
   itself, now with a session cookie instead of a presentation per request:
   {exe} wallet login --holder-key {d}/carol.jwk --vc {d}/carol-employee.vc.jwt 'openid4vp://?…'
   Log out at {url}/.didgate/logout. Without a browser, curl and a cookie jar play one:
   J=$(mktemp); R=$(curl -s -c $J -b $J {url}/.didgate/login | sed -n 's/.*id="request-url">\([^<]*\)<.*/\1/p' | sed 's/&amp;/\&/g'); N=$({exe} wallet login --holder-key {d}/carol.jwk --vc {d}/carol-employee.vc.jwt "$R"); curl -s -c $J -b $J -o /dev/null "$N"; curl -s -b $J {url}/whoami
   {exe} sessions list -c {cfg}                  # live sessions; `sessions revoke` ends them on every gateway

9. AUDIT - every decision above is in a transparency log the gateway signs (a Merkle tree,
   served read-only at {url}/.didgate/log/ for standard tlog tooling). Check all of it,
   then prove that one decision (here a fresh refusal's) is in it, with nothing but the
   log's public key:
   {exe} audit verify -c {cfg}
   ID=$(curl -s {url}/eng/docs | sed -n 's/.*"decision_id":"\([^"]*\)".*/\1/p'); sleep 2; {exe} audit prove -c {cfg} "$ID" -o {d}/proof.json
   {exe} audit check-proof {d}/proof.json --vkey "$(curl -s {url}/.didgate/log/vkey)"
   A copy of the log with one refusal turned into an allow is caught, and the entry named:
   rm -rf {d}/log-copy && cp -r {d}/decision-log {d}/log-copy && sed -i 's/"effect":"deny"/"effect":"allow"/' $(grep -rl '"effect":"deny"' {d}/log-copy/tile/entries) && {exe} audit verify --dir {d}/log-copy --vkey "$(curl -s {url}/.didgate/log/vkey)"
   The gateway anchors the log's tree head on the chain every 10 s (or now, by hand); from
   then on its history cannot be replaced, and status checks the local log against it:
   {exe} audit anchor -c {cfg}
   {exe} audit status -c {cfg}
   curl -s {url}/.didgate/log/checkpoint
"#,
        https = s.https_url,
        dave_vp = vp("dave", "dave-employee.vc.jwt"),
        alice_vp = vp("alice", "alice-employee.vc.jwt"),
        carol_vp = vp("carol", "carol-employee.vc.jwt"),
        cfg = s.config_path.display(),
        firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
}

/// The walkthrough's end: the other commands worth knowing, and how to stop.
fn print_then(s: &DemoSetup, exe: &str) {
    let d = s.dir.display();
    println!(
        r#"
Then:
   {exe} did resolve -c {cfg} {alice}   # alice's DID document, from the chain
   {exe} chain status -c {cfg}                   # the chain's head and how far it is indexed
   {exe} decisions -c {cfg}                      # the decision log (its SQL index)
   {exe} audit status -c {cfg}                   # the log, its last checkpoint, how far the index is
   {exe} policy test -c {cfg} {d}/policy-tests.toml   # evaluate sample requests
   {exe} policy status -c {cfg}                  # the set in force, pending proposals, administrators
   {exe} check -c {cfg}                          # which policy set a gateway enforces, and why

Press Ctrl-C to stop.
"#,
        alice = s.alice,
        cfg = s.config_path.display(),
    );
}
