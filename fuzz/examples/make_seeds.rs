//! Writes the committed seed corpora (`fuzz/corpus/<target>/seed-*`): real
//! tokens signed by the fixture keys, real protocol messages, configs,
//! events and registry logs, so that each target starts from inputs that get
//! all the way through.
//!
//! ```text
//! cargo +nightly run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! Tokens carry a fresh `jti`, so a rerun rewrites them with other bytes;
//! commit a rerun only when a seed has to change.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolEvent;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use credentials::{
    issue_credential, issue_with_status, present, CredentialRequest, Expected, Format,
    PresentationRequest,
};
use did_registry::ethr::events::{
    string_to_bytes32, DIDAttributeChanged, DIDDelegateChanged, DIDOwnerChanged,
};
use did_registry::ethr::status::{list_id, StatusChanged};
use did_registry::ethr::StatusEntry;
use didgate::login::openid4vp::{AuthorizationRequest, AuthorizationResponse};
use didgate_fuzz::{
    holder_dids, issuer_dids, issuer_key, key, key_id, verifier, Signers, AUDIENCE, LOGIN_AUDIENCE,
    LOGIN_NONCE, NOW, STATUS_LIST,
};
use serde_json::{json, Map, Value};
// Links libFuzzer's coverage callbacks, which the instrumented crates call
// (its `main` stays out: this program has its own).
use libfuzzer_sys as _;

struct Seeds {
    dir: PathBuf,
}

impl Seeds {
    fn write(&self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.dir.join(target);
        fs::create_dir_all(&dir).expect("create the corpus folder");
        fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    }
}

fn claims(ty: &str) -> Map<String, Value> {
    let v = if ty == "EmployeeCredential" {
        json!({"name": "Alice", "role": "admin", "department": "eng", "employee_id": "E-1",
               "groups": ["eng", "oncall"], "level": 3})
    } else {
        json!({"service": "billing", "level": 2})
    };
    v.as_object().cloned().unwrap_or_default()
}

/// A credential of `ty` from issuer `n` about `subject`.
fn credential(n: usize, ty: &str, subject: &str, format: Format, status: Option<u64>) -> String {
    let issuer = &issuer_dids()[n];
    let req = CredentialRequest {
        issuer: issuer.clone(),
        subject: subject.to_owned(),
        types: vec![ty.to_owned()],
        claims: claims(ty),
        valid_for_secs: Some(86_400),
        id: Some(format!("urn:uuid:0000000{n}-0000-4000-8000-000000000000")),
        format,
    };
    let k = key(issuer_key(n));
    let kid = key_id(issuer);
    match status {
        Some(i) => {
            let entry = StatusEntry::to_json(STATUS_LIST, U256::from(i));
            issue_with_status(&k, &kid, &req, Some(&entry), NOW - 60)
        }
        None => issue_credential(&k, &kid, &req, NOW - 60),
    }
    .expect("issue a seed credential")
}

fn presentation(holder: &(usize, String), vcs: Vec<String>, login: bool, format: Format) -> String {
    let req = PresentationRequest {
        holder: holder.1.clone(),
        audience: if login { LOGIN_AUDIENCE } else { AUDIENCE }.to_owned(),
        nonce: login.then(|| LOGIN_NONCE.to_owned()),
        valid_for_secs: 600,
        credentials: vcs,
        format,
    };
    present(&key(holder.0), &key_id(&holder.1), &req, NOW - 10).expect("present seeds")
}

fn tokens(s: &Seeds) -> String {
    let holders = holder_dids();
    let mut login_vp = String::new();
    for (f, format) in [("v11", Format::JwtVc11), ("v20", Format::VcJwt20)] {
        for (h, holder) in holders.iter().enumerate() {
            let n = h % 4;
            let ty = if n == 2 {
                "ServiceCredential"
            } else {
                "EmployeeCredential"
            };
            let vc = credential(n, ty, &holder.1, format, None);
            s.write("vp_jwt", &format!("{f}-vc-issuer{n}"), &vc);
            let vp = presentation(holder, vec![vc.clone()], false, format);
            s.write("vp_jwt", &format!("{f}-vp-holder{h}"), &vp);
            let login = presentation(holder, vec![vc], true, format);
            s.write("vp_jwt", &format!("{f}-login-holder{h}"), &login);
            if h == 0 {
                s.write("jws", &format!("{f}-vp"), &vp);
                login_vp = login;
            }
        }
        let holder = &holders[0];
        let two = vec![
            credential(1, "EmployeeCredential", &holder.1, format, None),
            credential(2, "ServiceCredential", &holder.1, format, None),
        ];
        s.write(
            "vp_jwt",
            &format!("{f}-vp-two"),
            presentation(holder, two, false, format),
        );
        let status = vec![credential(
            0,
            "EmployeeCredential",
            &holder.1,
            format,
            Some(12),
        )];
        s.write(
            "vp_jwt",
            &format!("{f}-vp-status"),
            presentation(holder, status, true, format),
        );
        let revoked = vec![credential(
            0,
            "EmployeeCredential",
            &holder.1,
            format,
            Some(13),
        )];
        s.write(
            "vp_jwt",
            &format!("{f}-vp-revoked"),
            presentation(holder, revoked, false, format),
        );
        let untrusted = vec![credential(4, "EmployeeCredential", &holder.1, format, None)];
        s.write(
            "vp_jwt",
            &format!("{f}-vp-untrusted"),
            presentation(holder, untrusted, false, format),
        );
        let other = vec![credential(
            0,
            "EmployeeCredential",
            &holders[1].1,
            format,
            None,
        )];
        s.write(
            "vp_jwt",
            &format!("{f}-vp-not-holder"),
            presentation(holder, other, false, format),
        );
        s.write(
            "jws",
            &format!("{f}-vc"),
            credential(3, "EmployeeCredential", &holder.1, format, Some(12)),
        );
    }
    for (name, text) in [
        ("not-jws", "a.b.c"),
        ("alg-none", "eyJhbGciOiJub25lIn0.e30.c2ln"),
        ("crit", "eyJhbGciOiJFZERTQSIsImNyaXQiOlsiYiJdfQ.e30.c2ln"),
        ("jwe", "eyJhbGciOiJFZERTQSJ9.e30.c2ln.x.y"),
    ] {
        s.write("jws", name, text);
    }
    login_vp
}

/// A token's payload, as JSON text.
fn payload_of(token: &str) -> String {
    let p = token.split('.').nth(1).expect("a compact JWS");
    String::from_utf8(URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("UTF-8")
}

/// Seeds of the `vp_jwt` target's second form (`Signers::sign`): payloads
/// that the target signs with the fixture keys.
fn signed_tokens(s: &Seeds) {
    let holders = holder_dids();
    for (f, format) in [("v11", Format::JwtVc11), ("v20", Format::VcJwt20)] {
        for (name, h, issuers, login, status) in [
            ("bearer", 0, vec![0], false, None),
            ("login", 1, vec![1], true, None),
            ("two", 3, vec![1, 2], false, None),
            ("login-status", 2, vec![3], true, Some(12)),
        ] {
            let holder = &holders[h];
            let vcs: Vec<String> = issuers
                .iter()
                .map(|&n| {
                    let ty = if n == 2 {
                        "ServiceCredential"
                    } else {
                        "EmployeeCredential"
                    };
                    credential(n, ty, &holder.1, format, status)
                })
                .collect();
            let mut vp = payload_of(&presentation(holder, vcs.clone(), login, format));
            for (i, vc) in vcs.iter().enumerate() {
                vp = vp.replace(vc.as_str(), &format!("${i}"));
            }
            let signers: String = issuers.iter().map(|n| n.to_string()).collect();
            let mut text = format!("#{h}{signers}\n{vp}");
            for vc in &vcs {
                text.push('\n');
                text.push_str(&payload_of(vc));
            }
            s.write("vp_jwt", &format!("{f}-signed-{name}"), text);
        }
    }
}

fn openid4vp(s: &Seeds, login_vp: String) {
    let ok = AuthorizationResponse::Presentation {
        state: "c3RhdGU".into(),
        vp_token: login_vp,
    };
    s.write("openid4vp_form", "response", ok.to_form());
    let no = AuthorizationResponse::Error {
        state: "c3RhdGU".into(),
        error: "access_denied".into(),
        description: Some("the holder declined".into()),
    };
    s.write("openid4vp_form", "error", no.to_form());
    s.write(
        "openid4vp_form",
        "draft-response",
        "state=s&vp_token=%7B%22credential%22%3A%22a.b.c%22%7D",
    );
    let req = AuthorizationRequest::new(
        "https://gw.example/.didgate/login/response",
        LOGIN_NONCE.into(),
        "c3RhdGU".into(),
        vec!["EmployeeCredential".into(), "ServiceCredential".into()],
    );
    s.write("openid4vp_form", "request", req.to_url());
    for (name, path) in [
        ("return-to", "/eng/docs?x=1#top"),
        ("return-to-root", "/"),
        ("return-to-evil", "//evil.example/"),
        ("return-to-gateway", "/.didgate/logout"),
    ] {
        s.write("openid4vp_form", name, path);
    }
}

fn configs(s: &Seeds) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped =
        fs::read_to_string(root.join("deploy/didgate.toml")).expect("deploy/didgate.toml");
    s.write("config_toml", "deploy", &shipped);
    s.write(
        "config_toml",
        "small",
        r#"[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]

[identity]
key_file = "key.jwk"

[credentials]
audiences = ["http://127.0.0.1:8080"]

[[credentials.trusted_issuers]]
credential_type = "EmployeeCredential"
issuers = ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "did:ethr:dev:0x1111111111111111111111111111111111111111"]
status_list_urls = ["https://hr.example.com/status/"]

[policy]
schema = "didgate.cedarschema"
policies = ["policies"]

[chains.dev]
embedded = true
chain_id = 31337

[risk]
enabled = true
half_life_days = 7.0
sensitive_paths = ["/admin"]

[sessions]
enabled = true
lifetime_secs = 3600

[database]
url = "sqlite://didgate.db?mode=rwc"

[[route]]
name = "demo"
host = "app.example"
path_prefix = "/app"
upstream = "http://127.0.0.1:9000"
strip_prefix = true
path_parameters = "strip"
merge_slashes = false
encoded_slashes = "keep"
method_override = "decide"
"#,
    );
}

fn risk_events(s: &Seeds) {
    let events = risk::eval::generator::generate(1, risk::eval::Size::Small);
    let mut out = Vec::new();
    risk::eval::generator::write_jsonl(&events[..events.len().min(40)], &mut out)
        .expect("write events");
    s.write("risk_jsonl", "generated", out);
    s.write(
        "risk_jsonl",
        "mixed",
        concat!(
            r#"{"ts":"2026-01-05T09:00:00Z","subject":"did:key:zA","kind":"request","ip":"203.0.113.7","asn":64500,"country":"DE","lat":52.5,"lon":13.4,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0","tls_fp":"t13d1516h2_8daaf6152771_02713d6af862","device_id":"d1","session_id":"s1","auth_method":"session","method":"GET","path":"/eng/docs/1","status":200,"bytes":512}"#,
            "\n",
            r#"{"ts":"2026-01-05T09:00:01Z","subject":"did:key:zA","kind":"request","status":401,"ip":"::ffff:203.0.113.8"}"#,
            "\n",
            "not json\n",
            r#"{"ts":"yesterday","subject":"did:key:zA","kind":"request","ip":"203.0.113.7"}"#,
            "\r\n",
            r#"{"ts":"2026-01-05T09:00:02Z","subject":"","kind":"login","ip":"2001:db8::1","lat":91.0,"lon":0.0}"#,
            "\n"
        ),
    );
}

fn claims_requests(s: &Seeds) {
    let issuer = &issuer_dids()[0];
    let holder = &holder_dids()[0].1;
    for (name, head, score, claims) in [
        (
            "engineer",
            "GET\ndemo\n/eng/docs\ngw.example",
            "0.1 0",
            json!({"EmployeeCredential": {"issuer": issuer, "claims": claims("EmployeeCredential")}}),
        ),
        (
            "admin-write",
            "POST\ndemo\n/admin\ngw.example",
            "0.42 1",
            json!({"EmployeeCredential": {"role": "admin", "level": 1.5, "groups": ["a", 1]}}),
        ),
        (
            "service",
            "GET\napi\n/api/x\n",
            "0.6 0",
            json!({"ServiceCredential": claims("ServiceCredential"), "Other": {"x": {"y": [1]}}}),
        ),
        (
            "risky",
            "DELETE\ndemo\n/\nh",
            "0.85 0",
            json!({"EmployeeCredential": {"claims": {"role": ["admin"], "level": 9223372036854775807u64}}}),
        ),
    ] {
        let text = format!(
            "{head}\n{holder}\nvp_jwt\n10.1.2.3\n{NOW} {score}\nnew_network,new_device\n{claims}"
        );
        s.write("claims_cedar", name, text);
    }
}

/// The registry_logs layout: see fuzz_targets/registry_logs.rs.
struct Logs(Vec<u8>);

impl Logs {
    fn new(did: &str, now_mode: u8, now: u64, at_block: Option<u8>) -> Self {
        let mut b = did.as_bytes().to_vec();
        b.push(b'\n');
        b.extend_from_slice(&31337u64.to_be_bytes());
        b.push(now_mode);
        b.extend_from_slice(&now.to_be_bytes());
        b.push(u8::from(at_block.is_some()));
        b.push(at_block.unwrap_or(0));
        Logs(b)
    }

    fn log(&mut self, step: u8, topics: &[B256], data: &[u8], kind: u8) {
        self.0.push(step);
        self.0.push(kind);
        self.0.push((topics.len() - 1) as u8);
        for t in &topics[1..] {
            self.0.extend_from_slice(t.as_slice());
        }
        self.0.extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.0.extend_from_slice(data);
    }

    fn event<E: SolEvent>(&mut self, step: u8, kind: u8, e: &E) {
        let log = e.encode_log_data();
        self.log(step, log.topics(), &log.data, kind);
    }
}

fn registry_logs(s: &Seeds) {
    let identity = Address::repeat_byte(0x11);
    let did = format!("did:ethr:0x7a69:{identity}");
    let far = U256::from(4_000_000_000u64);
    let name = |n: &str| string_to_bytes32(n).expect("a short name");
    let attribute = |n: &str, value: &[u8], valid_to: U256| DIDAttributeChanged {
        identity,
        name: name(n),
        value: Bytes::copy_from_slice(value),
        validTo: valid_to,
        previousChange: U256::ZERO,
    };
    let delegate = |t: &str, who: u8, valid_to: U256| DIDDelegateChanged {
        identity,
        delegateType: name(t),
        delegate: Address::repeat_byte(who),
        validTo: valid_to,
        previousChange: U256::ZERO,
    };
    // The fixture secp256k1 key, compressed: a public-key did:ethr.
    let jwk = key(2).public_key().to_jwk();
    let coord = |c: Option<String>| {
        URL_SAFE_NO_PAD
            .decode(c.unwrap_or_default())
            .unwrap_or_default()
    };
    let (x, y) = (coord(jwk.x), coord(jwk.y));
    let mut compressed = vec![2 | (y.last().copied().unwrap_or(0) & 1)];
    compressed.extend_from_slice(&x);
    let mut l = Logs::new(&did, 0, 10, None);
    l.event(
        1,
        2,
        &attribute("did/pub/Secp256k1/veriKey/hex", &compressed, far),
    );
    l.event(
        0,
        2,
        &attribute("did/svc/HubService", b"https://hub.example/", far),
    );
    l.event(
        1,
        2,
        &attribute("did/pub/Ed25519/sigAuth/base64", &[7u8; 32], far),
    );
    l.event(1, 1, &delegate("sigAuth", 0x22, far));
    l.event(1, 1, &delegate("veriKey", 0x33, far));
    // Revoked in its own block (validTo = the block's time).
    l.event(
        1,
        1,
        &delegate("veriKey", 0x33, U256::from(1_600_000_000u64 + 7 * 12)),
    );
    l.event(
        1,
        2,
        &attribute("did/svc/X", br#"{"uri":"https://x.example"}"#, far),
    );
    s.write("registry_logs", "document", &l.0);

    let mut l = Logs::new(&did, 0, 10, Some(3));
    l.event(
        1,
        0,
        &DIDOwnerChanged {
            identity,
            owner: Address::repeat_byte(0x44),
            previousChange: U256::ZERO,
        },
    );
    l.event(1, 1, &delegate("sigAuth", 0x22, far));
    l.event(
        1,
        0,
        &DIDOwnerChanged {
            identity,
            owner: Address::ZERO,
            previousChange: U256::from(2u64),
        },
    );
    s.write("registry_logs", "owner-deactivated", &l.0);

    let list = list_id("staff").expect("a list name");
    let mut l = Logs::new(&format!("{did}/status/staff"), 1, 1_700_000_000, None);
    l.event(
        1,
        3,
        &StatusChanged {
            issuer: identity,
            listId: list,
            index: U256::from(12u64),
            revoked: true,
            previousChange: U256::ZERO,
        },
    );
    l.event(
        0,
        3,
        &StatusChanged {
            issuer: identity,
            listId: list,
            index: U256::from(12u64),
            revoked: false,
            previousChange: U256::from(1u64),
        },
    );
    s.write("registry_logs", "status", &l.0);

    let hex: String = compressed.iter().map(|b| format!("{b:02x}")).collect();
    let pk_did = format!("did:ethr:sepolia:0x{hex}");
    let mut l = Logs::new(&pk_did, 0, 0, None);
    l.event(
        1,
        2,
        &attribute("did/pub/X25519/enc/base58", &[9u8; 32], far),
    );
    s.write("registry_logs", "public-key-did", &l.0);
}

fn paths(s: &Seeds) {
    // A byte of options, then the path.
    for (name, flags, path) in [
        ("plain", 0u8, "/eng/docs"),
        ("dots", 0, "/public/%2e%2e/eng/./docs/../x"),
        ("encoded", 0, "/caf%c3%a9/my%20docs/a%2fb/%5c/%3b/[x]"),
        ("params-strip", 1, "/public/..;x=1/eng;jsessionid=1/"),
        ("keep-slashes", 2, "/a//b/..//c\\d"),
    ] {
        let mut b = vec![flags];
        b.extend_from_slice(path.as_bytes());
        s.write("path_normalize", name, b);
    }
}

/// ClientHellos as rustls sends them (with SNI and ALPN, and to an IP
/// address without either): as records, and as the bare handshake message.
fn client_hellos(s: &Seeds) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    for (name, server, alpn) in [
        (
            "sni-alpn",
            "gw.example",
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ),
        ("ip", "127.0.0.1", Vec::new()),
    ] {
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        config.alpn_protocols = alpn;
        let server = rustls::pki_types::ServerName::try_from(server).expect("a server name");
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), server).expect("a TLS client");
        let mut out = Vec::new();
        conn.write_tls(&mut out).expect("a ClientHello");
        assert!(
            didgate::signals::ja4::ja4(&out).is_some(),
            "rustls' ClientHello fingerprints"
        );
        s.write("ja4_client_hello", &format!("records-{name}"), &out);
        s.write("ja4_client_hello", &format!("message-{name}"), &out[5..]);
    }
}

/// Every vp_jwt seed gets as far as it should in the target's verifier:
/// the good ones verify, the others fail for the reason in their name.
fn check_tokens(dir: &Path) {
    let verifier = verifier(0);
    let signers = Signers::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let expected = Expected {
        audience: Some(LOGIN_AUDIENCE),
        nonce: Some(LOGIN_NONCE),
    };
    let mut names: Vec<PathBuf> = fs::read_dir(dir.join("vp_jwt"))
        .expect("the vp_jwt seeds")
        .map(|e| e.expect("a seed").path())
        .collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = fs::read_to_string(&path).expect("a seed");
        let token = match signers.sign(&text) {
            Some((vp, _)) => vp,
            None => text,
        };
        let got = rt.block_on(async {
            if name.contains("-vc-") {
                verifier.verify_credential(&token, NOW).await.map(|_| ())
            } else if name.contains("login") || name.ends_with("-status") {
                verifier
                    .verify_login(&token, NOW, expected)
                    .await
                    .map(|_| ())
            } else {
                verifier.verify_presentation(&token, NOW).await.map(|_| ())
            }
        });
        let want = [
            ("not-holder", "subject_not_holder"),
            ("revoked", "credential_revoked"),
            ("untrusted", "issuer_not_trusted"),
        ]
        .iter()
        .find(|(part, _)| name.contains(part))
        .map(|(_, code)| *code);
        let got = got.map_err(|e| e.reason_code());
        assert_eq!(got.err(), want, "{name}");
    }
}

/// A small log as the gateway writes it: a checkpoint note, an entry
/// bundle, and single entries (a plain decision, and one cut to fit).
fn tlog(s: &Seeds) {
    use audit::tlog::{bundle_path, Batch, Entry, Tlog, TlogConfig};
    use audit::{DecisionRecord, Effect};

    let dir = std::env::temp_dir().join(format!("didgate-seeds-tlog-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let config = TlogConfig::new("didgate.example/seeds", [9u8; 32]);
    let (mut log, _) = Tlog::open(&dir, &config).expect("open a log");
    let mut batch = Batch::new();
    let policy_set = [0x5au8; 32];
    let ids = vec!["urn:uuid:1".to_owned()];
    let mut records = Vec::new();
    for (i, path) in ["/eng/docs", "/public/é\u{1}\"x", "/admin"]
        .iter()
        .enumerate()
    {
        let mut r = DecisionRecord {
            method: "GET".to_owned(),
            host: "app.example".to_owned(),
            path: (*path).to_owned(),
            subject: Some("did:key:z6Mk".to_owned()),
            auth_method: Some("session"),
            credential_types: vec!["EmployeeCredential".to_owned()],
            policies: vec!["policy0".to_owned()],
            risk_score: 0.125 * i as f64,
            ..DecisionRecord::new(
                format!("0190-{i}"),
                NOW * 1000,
                "gw-1".into(),
                [127, 0, 0, 1].into(),
            )
        };
        if i == 2 {
            r.effect = Effect::Deny;
            r.status = Some(403);
            r.reason = "policy_denied";
        }
        records.push(r);
    }
    for (i, r) in records.iter().enumerate() {
        let entry = Entry {
            record: r,
            policy_set: &policy_set,
            credential_ids: &ids,
        };
        let mut one = Vec::new();
        entry.encode_into(&mut one).expect("encode an entry");
        s.write("tlog_read", &format!("entry-{i}"), &one);
        batch.push(&entry).expect("batch an entry");
    }
    let mut long = records[0].clone();
    long.path = "/x".repeat(40_000);
    let mut cut = Vec::new();
    Entry {
        record: &long,
        policy_set: &policy_set,
        credential_ids: &ids,
    }
    .encode_into(&mut cut)
    .expect("encode a long entry");
    s.write("tlog_read", "entry-cut", &cut);
    log.append(&mut batch).expect("append");
    log.checkpoint().expect("sign a checkpoint");
    let read = |p: &str| fs::read(dir.join(p)).expect("read a log file");
    s.write("tlog_read", "checkpoint", read("checkpoint"));
    s.write("tlog_read", "bundle", read(&bundle_path(0, 3)));
    let _ = fs::remove_dir_all(&dir);
}

/// `policy_bundle`: the demo's policy set as a bundle, and a small
/// two-file one.
fn policy_bundles(s: &Seeds) {
    let demo = policy::Bundle::new(
        include_str!("../../deploy/policies/didgate.cedarschema").to_owned(),
        vec![(
            "demo.cedar".to_owned(),
            include_str!("../../deploy/policies/demo.cedar").to_owned(),
        )],
    )
    .expect("the demo's bundle");
    s.write("policy_bundle", "demo", demo.encode());
    let small = policy::Bundle::new(
        "s".to_owned(),
        vec![
            (
                "a.cedar".to_owned(),
                "permit(principal,action,resource);".to_owned(),
            ),
            ("b.cedar".to_owned(), String::new()),
        ],
    )
    .expect("a small bundle");
    s.write("policy_bundle", "small", small.encode());
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let s = Seeds { dir };
    let login_vp = tokens(&s);
    signed_tokens(&s);
    openid4vp(&s, login_vp);
    configs(&s);
    risk_events(&s);
    claims_requests(&s);
    registry_logs(&s);
    paths(&s);
    client_hellos(&s);
    tlog(&s);
    policy_bundles(&s);
    check_tokens(&s.dir);
    println!("seeds written to {}", s.dir.display());
}
