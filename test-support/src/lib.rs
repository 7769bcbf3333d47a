//! Shared support for didgate's integration tests: the repository root, the
//! npm interop peers (installed once through `scripts/setup-interop.sh`),
//! fresh PostgreSQL databases, free ports.
//!
//! A missing external tool fails the test loudly with what to install; it
//! never skips silently.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use anyhow::{bail, Context, Result};

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
    serde_json::from_slice(&out.stdout).with_context(|| format!("node {script} did not print JSON"))
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
