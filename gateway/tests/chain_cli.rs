//! The on-chain tools as a user runs them, against a real anvil node and
//! against the embedded chain: deploy, create, resolve (latest and
//! historical), every registry write, status — and each way a write must be
//! refused before anything is sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{run_err, run_ok, tempdir};
use test_support::Anvil;

fn resolve(cfg: &Path, did: &str, extra: &[&str]) -> Value {
    let mut args = vec!["did", "resolve", "-c", cfg.to_str().unwrap(), did];
    args.extend_from_slice(extra);
    serde_json::from_str(&run_ok(&args)).unwrap()
}

/// A key file for one of anvil's dev accounts, named as a did:ethr on `network`.
fn anvil_key(dir: &Path, name: &str, secret_hex: &str, network: &str) -> (PathBuf, String) {
    let sk = k256::SecretKey::from_slice(&hex::decode(secret_hex).unwrap()).unwrap();
    let address = did_registry::ethr::address_of(&sk.public_key()).to_checksum(None);
    let did = format!("did:ethr:{network}:{address}");
    let mut jwk: Value = serde_json::from_str(&sk.to_jwk_string()).unwrap();
    jwk["kid"] = Value::String(format!("{did}#controller"));
    let path = dir.join(format!("{name}.jwk"));
    std::fs::write(&path, jwk.to_string()).unwrap();
    (path, did)
}

/// A minimal valid config plus the given `[chains…]` TOML.
fn config(dir: &Path, chains: &str) -> PathBuf {
    std::fs::write(
        dir.join("schema.cedarschema"),
        include_str!("../../deploy/policies/didgate.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        dir.join("p.cedar"),
        "@id(\"all\")\npermit (principal, action, resource);\n",
    )
    .unwrap();
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://gw.test"
[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"]
[policy]
schema = "schema.cedarschema"
policies = ["p.cedar"]
[database]
url = "sqlite://state.db"
[[route]]
name = "app"
upstream = "http://127.0.0.1:9"
{chains}
"#
    );
    let path = dir.join("didgate.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

const OWNER: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const OTHER_ADDR: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

#[test]
fn registry_tools_against_a_node() {
    let anvil = Anvil::start();
    let dir = tempdir("chain-cli");
    let (owner, did) = anvil_key(&dir, "owner", OWNER, "dev");
    let (other, _) = anvil_key(&dir, "other", OTHER, "dev");
    let owner_s = owner.to_str().unwrap();

    let registry = run_ok(&["chain", "deploy", "--rpc", &anvil.url, "--key", owner_s]);
    let registry = registry.trim();
    assert!(
        registry.starts_with("0x") && registry.len() == 42,
        "{registry}"
    );
    let cfg = config(
        &dir,
        &format!(
            "[chains.dev]\nrpc_url = \"{}\"\nregistry = \"{registry}\"\nchain_id = 31337\n",
            anvil.url
        ),
    );
    let c = cfg.to_str().unwrap();

    let r = resolve(&cfg, &did, &[]);
    assert_eq!(r["didDocument"]["id"], did.as_str());
    assert_eq!(r["didDocumentMetadata"], serde_json::json!({}));
    assert_eq!(r["didResolutionMetadata"]["chainId"], 31337);

    run_ok(&[
        "did",
        "add-delegate",
        "-c",
        c,
        "--key",
        owner_s,
        "--delegate",
        OTHER_ADDR,
        "--kind",
        "sig-auth",
    ]);
    let r = resolve(&cfg, &did, &[]);
    let delegate_id = format!("{did}#delegate-1");
    assert!(
        r["didDocument"]["authentication"]
            .as_array()
            .unwrap()
            .contains(&Value::String(delegate_id.clone())),
        "{r}"
    );
    let v1 = r["didDocumentMetadata"]["versionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let v1_time = r["didDocumentMetadata"]["updated"]
        .as_str()
        .unwrap()
        .to_owned();
    // Later changes land a minute later, so versions have distinct times.
    anvil
        .rpc("evm_increaseTime", serde_json::json!([60]))
        .unwrap();

    run_ok(&[
        "did",
        "set-service",
        "-c",
        c,
        "--key",
        owner_s,
        "--type",
        "LinkedDomains",
        "--endpoint",
        "https://example.com",
    ]);
    let ed = dir.join("ed.jwk");
    run_ok(&[
        "did",
        "create",
        "--method",
        "key",
        "--out",
        ed.to_str().unwrap(),
    ]);
    run_ok(&[
        "did",
        "add-key",
        "-c",
        c,
        "--key",
        owner_s,
        "--public-key",
        ed.to_str().unwrap(),
    ]);
    run_ok(&[
        "did",
        "revoke-delegate",
        "-c",
        c,
        "--key",
        owner_s,
        "--delegate",
        OTHER_ADDR,
        "--kind",
        "sig-auth",
    ]);
    let r = resolve(&cfg, &did, &[]);
    let doc = &r["didDocument"];
    assert_eq!(doc["service"][0]["type"], "LinkedDomains", "{r}");
    assert_eq!(doc["service"][0]["serviceEndpoint"], "https://example.com");
    assert!(
        doc["verificationMethod"]
            .as_array()
            .unwrap()
            .iter()
            .any(|vm| vm["type"] == "Ed25519VerificationKey2018"),
        "{r}"
    );
    assert!(
        !doc.to_string().contains(&delegate_id),
        "the delegate was revoked: {r}"
    );
    // Historical: at the first change the delegate is there.
    let h = resolve(&cfg, &did, &["--version-id", &v1]);
    assert!(h["didDocument"].to_string().contains(&delegate_id), "{h}");
    assert!(h["didDocumentMetadata"]["nextVersionId"].is_string(), "{h}");
    // versionTime: the document as of that version's time is that version.
    let t = resolve(&cfg, &did, &["--version-time", &v1_time]);
    assert_eq!(t["didDocument"], h["didDocument"], "{t}");
    assert_eq!(t["didDocumentMetadata"]["versionId"], v1.as_str());
    run_err(
        &[
            "did",
            "resolve",
            "-c",
            c,
            &did,
            "--version-time",
            "yesterday",
        ],
        "RFC 3339",
    );
    run_err(
        &[
            "did",
            "resolve",
            "-c",
            c,
            &did,
            "--version-id",
            "1",
            "--version-time",
            &v1_time,
        ],
        "not both",
    );

    // Refused before anything is sent, each with a reason a user can act on.
    let other_s = other.to_str().unwrap();
    run_err(
        &[
            "did",
            "change-owner",
            "-c",
            c,
            "--key",
            other_s,
            "--did",
            &did,
            "--new-owner",
            OTHER_ADDR,
        ],
        "is owned by",
    );
    run_err(&["did", "deactivate", "-c", c, "--key", owner_s], "--yes");
    let p256 = dir.join("p256.jwk");
    run_ok(&[
        "did",
        "create",
        "--method",
        "jwk",
        "--key-type",
        "p256",
        "--out",
        p256.to_str().unwrap(),
    ]);
    run_err(
        &[
            "did",
            "add-key",
            "-c",
            c,
            "--key",
            owner_s,
            "--public-key",
            p256.to_str().unwrap(),
        ],
        "P-256",
    );
    run_err(
        &[
            "did",
            "add-delegate",
            "-c",
            c,
            "--key",
            p256.to_str().unwrap(),
            "--delegate",
            OTHER_ADDR,
        ],
        "secp256k1",
    );
    run_err(
        &[
            "did",
            "add-delegate",
            "-c",
            c,
            "--key",
            owner_s,
            "--delegate",
            "0x1234",
        ],
        "address",
    );
    run_err(
        &[
            "did",
            "resolve",
            "-c",
            c,
            "did:ethr:nowhere:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        ],
        "[chains.nowhere]",
    );
    run_err(
        &["did", "resolve", "-c", c, "did:ethr:dev:0x12"],
        "invalid DID",
    );

    run_ok(&["did", "deactivate", "-c", c, "--key", owner_s, "--yes"]);
    let r = resolve(&cfg, &did, &[]);
    assert_eq!(r["didDocumentMetadata"]["deactivated"], true, "{r}");
    assert_eq!(
        r["didDocument"]["verificationMethod"],
        serde_json::json!([])
    );

    let status = run_ok(&["chain", "status", "-c", c]);
    let line = status
        .lines()
        .find(|l| l.starts_with("dev"))
        .expect("a row for dev");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], "31337", "{status}");
    assert_eq!(cols[4], "0", "lag 0 after a sync: {status}");
}

#[test]
fn registry_tools_on_the_embedded_chain() {
    let dir = tempdir("chain-cli-embedded");
    let cfg = config(&dir, "[chains.local]\nembedded = true\n");
    let c = cfg.to_str().unwrap();
    let me = dir.join("me.jwk");
    let did = run_ok(&[
        "did",
        "create",
        "--method",
        "ethr",
        "--network",
        "local",
        "--out",
        me.to_str().unwrap(),
    ]);
    let did = did.trim();
    assert!(did.starts_with("did:ethr:local:0x"), "{did}");
    // No funds needed on the embedded chain.
    run_ok(&[
        "did",
        "add-delegate",
        "-c",
        c,
        "--key",
        me.to_str().unwrap(),
        "--delegate",
        OTHER_ADDR,
        "--kind",
        "veri-key",
    ]);
    let r = resolve(&cfg, did, &[]);
    assert!(
        r["didDocument"]["assertionMethod"]
            .to_string()
            .contains("#delegate-1"),
        "{r}"
    );
    assert_eq!(r["didResolutionMetadata"]["chainId"], 1_337_001);
    let status = run_ok(&["chain", "status", "-c", c]);
    assert!(status.contains("embedded:local"), "{status}");
}

/// `did resolve --version-id N` evaluates expiries at block N's own time:
/// a delegate valid at its block and expired two minutes later is listed
/// there, and not at a later block with no event in between. A block the
/// index has not reached is refused, saying so.
#[test]
fn historical_resolution_uses_the_requested_blocks_time() {
    let anvil = Anvil::start();
    let dir = tempdir("chain-cli-history");
    let (owner, did) = anvil_key(&dir, "owner", OWNER, "dev");
    let owner_s = owner.to_str().unwrap();
    let registry = run_ok(&["chain", "deploy", "--rpc", &anvil.url, "--key", owner_s]);
    let cfg = config(
        &dir,
        &format!(
            "[chains.dev]\nrpc_url = \"{}\"\nregistry = \"{}\"\nchain_id = 31337\n",
            anvil.url,
            registry.trim()
        ),
    );
    let c = cfg.to_str().unwrap();
    let out = run_ok(&[
        "did",
        "add-delegate",
        "-c",
        c,
        "--key",
        owner_s,
        "--delegate",
        OTHER_ADDR,
        "--valid-for",
        "30",
    ]);
    let n: u64 = out
        .split(" in block ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    anvil
        .rpc("evm_increaseTime", serde_json::json!([120]))
        .unwrap();
    anvil.rpc("evm_mine", serde_json::json!([])).unwrap();
    anvil.rpc("evm_mine", serde_json::json!([])).unwrap();
    let delegate = format!("{did}#delegate-1");
    let at = |b: u64| resolve(&cfg, &did, &["--version-id", &b.to_string()]);
    let r = at(n);
    assert!(r["didDocument"].to_string().contains(&delegate), "{r}");
    for later in [n + 1, n + 2] {
        let r = at(later);
        assert!(!r["didDocument"].to_string().contains(&delegate), "{r}");
        assert_eq!(r["didDocumentMetadata"]["versionId"], n.to_string(), "{r}");
    }
    run_err(
        &[
            "did",
            "resolve",
            "-c",
            c,
            &did,
            "--version-id",
            &(n + 10).to_string(),
        ],
        "above the indexed head",
    );
}
