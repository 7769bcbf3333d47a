//! The binary as a user runs it: the identity tools, `check`, `policy test`,
//! and `didgate demo` with the exact commands it prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::tempdir;

fn didgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_didgate"));
    c.env("DIDGATE_LOG", "warn");
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn did_create_resolve_issue_present_round_trip() {
    let d = tempdir("cli");
    for (method, kt) in [
        ("key", "ed25519"),
        ("key", "p256"),
        ("key", "secp256k1"),
        ("jwk", "ed25519"),
        ("jwk", "p256"),
    ] {
        let key = d.join(format!("{method}-{kt}.jwk"));
        let did = run_ok(
            didgate()
                .args([
                    "did",
                    "create",
                    "--method",
                    method,
                    "--key-type",
                    kt,
                    "--out",
                ])
                .arg(&key),
        );
        let did = did.trim();
        assert!(did.starts_with(&format!("did:{method}:")), "{did}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let doc: serde_json::Value =
            serde_json::from_str(&run_ok(didgate().args(["did", "resolve", did]))).unwrap();
        assert_eq!(doc["id"], did);
        let vc = run_ok(
            didgate()
                .args(["vc", "issue", "--issuer-key"])
                .arg(&key)
                .args([
                    "--subject",
                    did,
                    "--type",
                    "EmployeeCredential",
                    "--claim",
                    "role=admin",
                    "--claim",
                    "level=3",
                ]),
        );
        let vp = run_ok(
            didgate()
                .args(["wallet", "present", "--holder-key"])
                .arg(&key)
                .args(["--vc", vc.trim(), "--audience", "https://gw.test"]),
        );
        assert_eq!(vp.trim().split('.').count(), 3);
    }
    // Bad input: a clear error, no panic.
    let out = didgate()
        .args(["did", "resolve", "did:nope:x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    let out = didgate()
        .args([
            "vc",
            "issue",
            "--issuer-key",
            "/nonexistent",
            "--subject",
            "did:key:x",
            "--type",
            "T",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn check_reports_the_key_and_the_fix() {
    let d = tempdir("check");
    std::fs::write(d.join("bad.toml"), "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"gw\"\n[policy]\nschema = \"s\"\npolicies = [\"p\"]\n").unwrap();
    let out = didgate()
        .args(["check", "-c"])
        .arg(d.join("bad.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.public_url") && err.contains("fix:"),
        "{err}"
    );
}

/// Stops the demo even when an assertion fails (it would outlive the test).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo comes up, its printed commands give one allowed and one denied request.
#[test]
fn demo_prints_commands_that_work() {
    let dir = tempdir("demo");
    let mut child = KillOnDrop(
        didgate()
            .args(["demo", "--port", "0", "--tls-port", "0", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let start = Instant::now();
    while !lines.iter().any(|l: &String| l.contains("Press Ctrl-C")) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("demo did not come up within 60 s: {lines:#?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(90));
    }
    let commands: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert!(commands.len() >= 4, "{lines:#?}");
    let run = |cmd: &str| -> String {
        let out = Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // 1. allowed: alice reads /eng/docs and the app shows who she is.
    let allowed: serde_json::Value =
        serde_json::from_str(&run(commands[0])).expect("JSON from the sample app");
    assert_eq!(
        allowed["identity"]["verified_with_gateway_jwks"], true,
        "{allowed}"
    );
    assert_eq!(
        allowed["identity"]["claims"]["claims"]["EmployeeCredential"]["role"],
        "engineer"
    );
    // 2. denied: alice may not POST.
    let denied: serde_json::Value = serde_json::from_str(&run(commands[1])).unwrap();
    assert_eq!(denied["error"], "policy_denied", "{denied}");
    // 3. carol the admin may POST; 4. the service over HTTPS.
    let admin: serde_json::Value = serde_json::from_str(&run(commands[2])).unwrap();
    assert_eq!(admin["method"], "POST", "{admin}");
    let service: serde_json::Value = serde_json::from_str(&run(commands[3])).unwrap();
    assert_eq!(
        service["identity"]["claims"]["credential_types"][0], "ServiceCredential",
        "{service}"
    );

    // 11. Policies governed on chain (run here, before the risk step makes
    //     alice's requests risky): administrator 1 proposes letting
    //     engineers write; alice's POST is still denied; administrator 2
    //     approves; the same POST is then allowed. The step's commands share
    //     a shell variable, so they run as one script.
    let at = lines
        .iter()
        .position(|l| l.contains("11. POLICIES GOVERNED ON CHAIN"))
        .expect("the walkthrough prints the governance step");
    let script: Vec<&str> = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            ["H=", "curl ", "sleep ", "/"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(script.len(), 6, "{script:#?}");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script.join("\n"))
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    let denied = text
        .find("\"error\":\"policy_denied\"")
        .unwrap_or_else(|| panic!("{text}"));
    let allowed = text
        .find("\"method\": \"POST\"")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(denied < allowed, "denied, then allowed: {text}");
    assert!(
        text.contains("pending, 1 of 2") && text.contains("executed, 2 of 2"),
        "{text}"
    );
    assert!(
        text.contains("+ engineers-write-eng"),
        "policy status shows the change: {text}"
    );

    // 6. dave (did:ethr on the embedded chain) is allowed; the printed command
    //    deactivates his DID on chain; the same request is then refused.
    let dave: serde_json::Value = serde_json::from_str(&run(commands[5])).unwrap();
    assert_eq!(dave["method"], "GET", "{dave}");
    assert!(
        dave["identity"]["claims"]["sub"]
            .as_str()
            .unwrap()
            .starts_with("did:ethr:demo:0x"),
        "{dave}"
    );
    let deactivate = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(" did deactivate "))
        .expect("the walkthrough prints the deactivation command");
    let out = Command::new("bash")
        .arg("-c")
        .arg(deactivate)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: serde_json::Value = serde_json::from_str(&run(commands[6])).unwrap();
        if r["error"] == "did_deactivated" {
            break;
        }
        assert!(Instant::now() < deadline, "dave still allowed: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // His DID document, from the chain, says so.
    let resolve = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(" did resolve "))
        .expect("the walkthrough prints a resolve command");
    let doc: serde_json::Value = serde_json::from_str(&run(resolve)).unwrap();
    assert!(doc["didDocument"]["id"]
        .as_str()
        .unwrap()
        .starts_with("did:ethr:demo:"));

    // 7. Risk: alice from a strange network and browser is stepped up; her
    //    wallet's answer to the challenge lets her in; scraping is stepped up,
    //    then refused.
    let strange = commands
        .iter()
        .find(|l| l.contains("X-Forwarded-For: 198.51.100.7"))
        .expect("the walkthrough prints a request from an unusual place");
    let r: serde_json::Value = serde_json::from_str(&run(strange)).unwrap();
    assert_eq!(r["error"], "step_up_required", "{r}");
    assert!(r["challenge"].as_str().is_some_and(|c| c.len() > 16), "{r}");
    let answer = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("C=$(curl"))
        .expect("the walkthrough prints the step-up answer");
    let r: serde_json::Value = serde_json::from_str(&run(answer)).unwrap();
    assert_eq!(
        r["method"], "GET",
        "the answered challenge lets alice in: {r}"
    );
    assert!(r["identity"]["claims"]["risk"].as_f64().is_some(), "{r}");
    let scrape = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("for i in"))
        .expect("the walkthrough prints the scraping loop");
    let codes = run(scrape);
    let codes: Vec<&str> = codes.split_whitespace().collect();
    assert_eq!(codes.len(), 40, "{codes:?}");
    assert_eq!(codes[0], "200", "{codes:?}");
    let first_401 = codes.iter().position(|c| *c == "401");
    let first_403 = codes.iter().position(|c| *c == "403");
    assert!(
        matches!((first_401, first_403), (Some(a), Some(b)) if a < b),
        "scraping must be stepped up, then refused: {codes:?}"
    );

    // 8. Browser login: carol's wallet answers the login page's request, the
    //    cookie jar holds the session, and the app sees her through it.
    let browser = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("J=$(mktemp)"))
        .expect("the walkthrough prints a login with curl as the browser");
    let r: serde_json::Value = serde_json::from_str(&run(browser))
        .unwrap_or_else(|e| panic!("not JSON from the app ({e}): {}", run(browser)));
    assert_eq!(r["identity"]["claims"]["auth_method"], "session", "{r}");
    assert!(r["identity"]["claims"]["sub"]
        .as_str()
        .is_some_and(|s| s.starts_with("did:ethr:demo:")));
    let sessions = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(" sessions list "))
        .expect("the walkthrough prints sessions list");
    let list = run(sessions.split('#').next().unwrap());
    assert!(list.contains(" live "), "{list}");

    // 9. Audit: the log verifies; a fresh refusal is proved in it and the
    //    proof checks with the served key alone.
    let find = |needle: &str| {
        lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("the walkthrough prints {needle:?}"))
            .to_owned()
    };
    let verify = Command::new("bash")
        .arg("-c")
        .arg(find(" audit verify "))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let prove = Command::new("bash")
        .arg("-c")
        .arg(find(" audit prove "))
        .output()
        .unwrap();
    assert!(
        prove.status.success(),
        "{}",
        String::from_utf8_lossy(&prove.stderr)
    );
    let checked = run(&find(" audit check-proof "));
    assert!(
        checked.contains("OK: decision") && checked.contains("credential_missing"),
        "{checked}"
    );
    let tampered = Command::new("bash")
        .arg("-c")
        .arg(find("rm -rf "))
        .output()
        .unwrap();
    assert_eq!(
        tampered.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&tampered.stdout)
    );
    assert!(
        String::from_utf8_lossy(&tampered.stdout).contains("first entry at fault"),
        "{}",
        String::from_utf8_lossy(&tampered.stdout)
    );
    let anchored = run(&find(" audit anchor "));
    assert!(anchored.contains("anchored: size"), "{anchored}");
    let status = run(&find(" audit status "));
    assert!(status.contains("consistent"), "{status}");
    let checkpoint = run(&find("/.didgate/log/checkpoint"));
    assert!(checkpoint.contains("/didgate/"), "{checkpoint}");

    // 10. Service to service: the billing service calls the app through the
    //     gateway with signed requests; its credential went with the first.
    let json = |cmd: &str| -> serde_json::Value {
        let out = run(cmd);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}) from {cmd}: {out}"))
    };
    let service_get = find("# billing GETs");
    let r = json(&service_get);
    assert_eq!(r["gateway_status"], 200, "{r}");
    assert_eq!(r["presented_credential"], true, "{r}");
    let claims = &r["answer"]["identity"]["claims"];
    assert_eq!(claims["auth_method"], "http_signature", "{r}");
    assert_eq!(claims["credential_types"][0], "ServiceCredential", "{r}");
    let r = json(&find("# billing POSTs"));
    assert_eq!(r["gateway_status"], 200, "{r}");
    assert_eq!(r["presented_credential"], false, "presented once: {r}");
    assert_eq!(r["answer"]["method"], "POST", "{r}");
    let r = json(&find("/api/invoices -d '{\"amount\":42}' -H"));
    assert_eq!(r["error"], "policy_denied", "a bearer POST: {r}");
    let r = json(&find(" curl --key "));
    assert_eq!(r["method"], "POST", "didgate curl: {r}");
    assert_eq!(r["identity"]["claims"]["auth_method"], "http_signature");
    let r = json(&find("H=()"));
    assert_eq!(r["error"], "content_digest_mismatch", "{r}");
    let r = json(&find(" curl --mtls -k --key "));
    assert_eq!(r["method"], "GET", "didgate curl --mtls: {r}");
    assert_eq!(r["identity"]["claims"]["auth_method"], "mtls", "{r}");
    let r = json(&find(".jwk -d '{\"amount\":7}' https://"));
    assert_eq!(r["error"], "policy_denied", "a write over mutual TLS: {r}");

    // The policy tests it points at pass.
    let cfg = dir.join("didgate.toml");
    run_ok(
        didgate()
            .args(["policy", "test", "-c"])
            .arg(&cfg)
            .arg(dir.join("policy-tests.toml")),
    );
    run_ok(didgate().args(["check", "-c"]).arg(&cfg));

    // SIGTERM: drains and flushes, then the decision log shows what happened.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "demo exited with {status}");
    let log = run_ok(didgate().args(["decisions", "-n", "500", "-c"]).arg(&cfg));
    assert!(
        log.contains("policy_denied") && log.contains("allowed"),
        "{log}"
    );
    assert!(
        log.contains("step_up_required") && log.contains("scraping"),
        "{log}"
    );
}
