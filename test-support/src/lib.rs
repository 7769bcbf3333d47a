//! Shared support for didgate's integration tests: the repository root, the
//! npm interop peers (installed once through `scripts/setup-interop.sh`),
//! a real anvil node (installed once through `scripts/install-anvil.sh`;
//! one that keeps its chain across a kill and restart too), fresh PostgreSQL
//! databases, a private PostgreSQL server that a test may stop and start
//! ([`PostgresInstance`]), a small filesystem to fill ([`Tmpfs`], the
//! disk-full fault), free ports, a one-response HTTP server ([`HttpFile`],
//! the published status lists).
//!
//! A missing external tool fails the test loudly with what to install; it
//! never skips silently.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use anyhow::{bail, Context, Result};

mod http_file;
pub use http_file::HttpFile;
mod postgres_instance;
pub use postgres_instance::{postgres_bin_dir, PostgresInstance};
mod tmpfs;
pub use tmpfs::Tmpfs;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".."))
}

static INTEROP: Once = Once::new();

/// Install `interop/node_modules` once per process (idempotent across
/// processes: `npm ci` runs only when the lock file is newer).
fn ensure_interop() {
    INTEROP.call_once(|| {
        let script = repo_root().join("scripts/setup-interop.sh");
        let status = Command::new("bash").arg(&script).status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!(
                "{} failed ({s}); node and npm are required for interop tests",
                script.display()
            ),
            Err(e) => panic!("cannot run {}: {e}", script.display()),
        }
    });
}

/// Run `node interop/<script> <args…>` and parse its stdout as JSON.
pub fn run_node(script: &str, args: &[&str]) -> Result<serde_json::Value> {
    let out = node_stdout(script, args)?;
    serde_json::from_str(&out).with_context(|| format!("node {script} did not print JSON"))
}

/// Run `node interop/<script> <args…>` and parse each stdout line as JSON.
pub fn run_node_lines(script: &str, args: &[&str]) -> Result<Vec<serde_json::Value>> {
    let out = node_stdout(script, args)?;
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .with_context(|| format!("node {script} printed a non-JSON line: {l}"))
        })
        .collect()
}

/// Run `node interop/<script> <args…>` and return its stdout.
pub fn node_stdout(script: &str, args: &[&str]) -> Result<String> {
    ensure_interop();
    let out = Command::new("node")
        .arg(repo_root().join("interop").join(script))
        .args(args)
        .output()
        .context("cannot run node: install Node.js (node and npm) to run the interop tests")?;
    if !out.status.success() {
        bail!(
            "node {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `node interop/<script>` with `input` on its stdin and return its stdout.
pub fn node_with_input(script: &str, input: &[u8]) -> Result<String> {
    use std::io::Write as _;
    ensure_interop();
    let mut child = Command::new("node")
        .arg(repo_root().join("interop").join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot run node: install Node.js (node and npm) to run the interop tests")?;
    child
        .stdin
        .take()
        .context("node's stdin")?
        .write_all(input)
        .context("writing to node's stdin")?;
    let out = child.wait_with_output().context("waiting for node")?;
    if !out.status.success() {
        bail!(
            "node {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A real anvil node (Foundry's dev chain, from the npm package pinned in
/// `test-support/anvil/`) on a free port; killed on drop.
pub struct Anvil {
    child: std::process::Child,
    pub url: String,
    pub port: u16,
    /// The arguments it was started with after `--port` (for [`Anvil::restart`]).
    args: Vec<String>,
    /// The file its chain is kept in ([`Anvil::start_persistent`]).
    state: Option<PathBuf>,
}

/// Anvil's dev account 0 (unlocked on the node; its key is public).
pub const DEV_ACCOUNT_0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

static ANVIL_BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The anvil binary, installed on first use.
pub fn anvil_bin() -> PathBuf {
    ANVIL_BIN
        .get_or_init(|| {
            let script = repo_root().join("scripts/install-anvil.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            if !out.status.success() {
                panic!(
                    "{} failed: anvil is required for the did:ethr tests",
                    script.display()
                );
            }
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

impl Anvil {
    /// Start a node that mines a block per transaction; wait until it answers.
    pub fn start() -> Anvil {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Anvil {
        let port = free_port();
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Anvil {
            child: spawn_anvil(port, &args),
            url: format!("http://127.0.0.1:{port}"),
            port,
            args,
            state: None,
        }
    }

    /// A node whose chain survives [`kill`](Self::kill) and
    /// [`restart`](Self::restart): it loads `state` at start if the file
    /// exists, and writes its chain (blocks, transactions, accounts) there
    /// every second and at exit (`--state`, `--state-interval 1`).
    pub fn start_persistent(state: &std::path::Path) -> Anvil {
        let path = state.display().to_string();
        let mut a = Self::start_with(&["--state", &path, "--state-interval", "1"]);
        a.state = Some(state.to_owned());
        a
    }

    /// Wait (up to 10 s) until the state file of a
    /// [`persistent`](Self::start_persistent) node holds block `n`: a
    /// [`kill`](Self::kill) after this loses nothing up to that block.
    pub fn wait_persisted(&self, n: u64) -> Result<()> {
        let Some(path) = &self.state else {
            bail!("this anvil was not started with a state file");
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // The file is rewritten in place: a read may see half of it.
            let best = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["best_block_number"].as_u64());
            if best.is_some_and(|b| b >= n) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "{} does not hold block {n} after 10 s (it holds {best:?})",
                    path.display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Start the node again (after [`kill`](Self::kill)) on the same port
    /// with the same arguments: a persistent node resumes its chain.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_anvil(self.port, &self.args);
    }

    /// Deploy the ERC-1056 registry from the committed artifact (from dev
    /// account 0, unlocked on anvil); its address.
    pub fn deploy_registry(&self) -> String {
        let path = repo_root().join("did-registry/contracts/artifacts/EthereumDIDRegistry.json");
        let artifact: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let code = artifact["bytecode"].as_str().expect("artifact bytecode");
        let receipt = self
            .transact(DEV_ACCOUNT_0, None, code, 5_000_000)
            .unwrap_or_else(|e| panic!("deploying the registry failed: {e:#}"));
        receipt["contractAddress"]
            .as_str()
            .expect("contract address")
            .to_owned()
    }

    /// Deploy the decision-log anchor (`LogAnchor`, constructed with the
    /// ERC-1056 registry at `registry`) from the committed artifact; its address.
    pub fn deploy_log_anchor(&self, registry: &str) -> String {
        let path = repo_root().join("did-registry/contracts/artifacts/LogAnchor.json");
        let artifact: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let code = artifact["bytecode"].as_str().expect("artifact bytecode");
        // The constructor's one argument: the registry, as a 32-byte word.
        let code = format!(
            "{}{:0>64}",
            code,
            registry.trim_start_matches("0x").to_ascii_lowercase()
        );
        let receipt = self
            .transact(DEV_ACCOUNT_0, None, &code, 3_000_000)
            .unwrap_or_else(|e| panic!("deploying the log anchor failed: {e:#}"));
        receipt["contractAddress"]
            .as_str()
            .expect("contract address")
            .to_owned()
    }

    /// One JSON-RPC call (plain HTTP/1.1 over loopback); the `result`, or an error.
    pub fn rpc(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        use std::io::{Read, Write};
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                .to_string();
        let mut s =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).context("connect to anvil")?;
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let json = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value =
            serde_json::from_str(json).with_context(|| format!("anvil answered {resp:?}"))?;
        if let Some(e) = v.get("error") {
            bail!("{method}: {e}");
        }
        Ok(v["result"].clone())
    }

    /// Send a transaction from one of anvil's unlocked dev accounts and wait
    /// for its receipt; the block it was mined in. Gas is explicit (anvil's
    /// estimate is short for the registry's first write in a block).
    pub fn send(&self, from: &str, to: &str, data_hex: &str) -> Result<u64> {
        let r = self.transact(from, Some(to), data_hex, 123_456)?;
        let n = r["blockNumber"].as_str().unwrap_or("0x0");
        u64::from_str_radix(n.trim_start_matches("0x"), 16).context("block number")
    }

    /// Send a transaction (`to: None` creates a contract); its receipt.
    pub fn transact(
        &self,
        from: &str,
        to: Option<&str>,
        data_hex: &str,
        gas: u64,
    ) -> Result<serde_json::Value> {
        let mut tx =
            serde_json::json!({"from": from, "data": data_hex, "gas": format!("0x{gas:x}")});
        if let Some(to) = to {
            tx["to"] = serde_json::Value::String(to.to_owned());
        }
        let hash = self.rpc("eth_sendTransaction", serde_json::json!([tx]))?;
        for _ in 0..200 {
            let r = self.rpc("eth_getTransactionReceipt", serde_json::json!([hash]))?;
            if !r.is_null() {
                if r["status"] != "0x1" {
                    bail!("transaction {hash} reverted: {r}");
                }
                return Ok(r);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        bail!("no receipt for {hash}")
    }

    /// The node's head block.
    pub fn block_number(&self) -> Result<u64> {
        let n = self.rpc("eth_blockNumber", serde_json::json!([]))?;
        let n = n.as_str().unwrap_or("0x0");
        u64::from_str_radix(n.trim_start_matches("0x"), 16).context("block number")
    }

    /// Stop the node (to test an unreachable chain); dropping does the same.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start anvil on `port` with `args`; return once it listens.
fn spawn_anvil(port: u16, args: &[String]) -> std::process::Child {
    let child = Command::new(anvil_bin())
        .args(["--port", &port.to_string(), "--silent"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start anvil: {e}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            panic!("anvil did not listen on 127.0.0.1:{port} within 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// The PostgreSQL server the tests use (`DIDGATE_TEST_PG` overrides).
pub fn postgres_admin_url() -> String {
    std::env::var("DIDGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Create an empty database for one test and return its URL.
pub fn fresh_postgres_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "didgate_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let admin = postgres_admin_url();
    let out = Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql ({e}); install the PostgreSQL client, or run scripts/ensure-postgres.sh"));
    if !out.status.success() {
        panic!(
            "cannot create a test database on {admin}: {}\nstart PostgreSQL with scripts/ensure-postgres.sh",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("DIDGATE_TEST_PG {admin:?} has no database part"),
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port(), 0);
    }

    #[test]
    fn repo_root_has_the_workspace() {
        assert!(repo_root().join("Cargo.toml").is_file());
    }
}
