//! A private PostgreSQL server for one test: its own data directory in a
//! temporary folder, its own port and socket directory, trust
//! authentication. Unlike the shared server on 127.0.0.1:5432 (which other
//! tests use concurrently), this one may be stopped and started again: the
//! fault-injection tests restart it under load.
//!
//! The Debian server binaries are used (`/usr/lib/postgresql/*/bin`, or
//! `DIDGATE_PG_BIN`). PostgreSQL refuses to run as root, so as root it runs
//! as the `postgres` user (`runuser`), with the folder handed to that user.
//! Stopped (immediate mode) and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A running (or stopped) private PostgreSQL server.
pub struct PostgresInstance {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    /// Run the server binaries as this user (`None`: as ourselves).
    run_as: Option<String>,
    /// The TCP port on 127.0.0.1; the same across restarts.
    pub port: u16,
    running: bool,
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`: `DIDGATE_PG_BIN`, or
/// the newest `/usr/lib/postgresql/<version>/bin`.
pub fn postgres_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("DIDGATE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install them \
             (scripts/ensure-postgres.sh does) or set DIDGATE_PG_BIN"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PostgresInstance {
    /// Create a data directory (`initdb`) and start the server on a free port.
    pub fn start() -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = postgres_bin_dir()?;
        let dir = std::env::temp_dir().join(format!(
            "didgate-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let socket = dir.join("sock");
        std::fs::create_dir_all(&socket).with_context(|| format!("{}", dir.display()))?;
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let out = Command::new("chown")
                .args(["-R", &format!("{user}:"), &dir.display().to_string()])
                .output()
                .context("cannot run chown")?;
            if !out.status.success() {
                bail!(
                    "cannot hand {} to the {user} user (PostgreSQL refuses to run as root): {}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let mut pg = PostgresInstance {
            data: dir.join("data"),
            bin,
            dir,
            socket,
            run_as,
            port: crate::free_port(),
            running: false,
        };
        let data = pg.data.display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    /// Run one of the server binaries (as the server's user); fail with its output.
    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Start the server (again) on the same port and data directory; return
    /// once it accepts connections.
    pub fn start_again(&mut self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.socket.display()
        );
        let data = self.data.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        )
        .with_context(|| self.log_tail())?;
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("PostgreSQL did not listen on 127.0.0.1:{}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stop the server in immediate mode (every backend exits at once, no
    /// checkpoint: what a crash looks like to clients; the next start recovers
    /// from the WAL).
    pub fn stop_immediate(&mut self) -> Result<()> {
        self.stop_mode("immediate")
    }

    /// Stop the server cleanly (fast mode: open transactions are rolled back).
    pub fn stop(&mut self) -> Result<()> {
        self.stop_mode("fast")
    }

    fn stop_mode(&mut self, mode: &str) -> Result<()> {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Whether the server was last started (and not stopped since).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Create database `name`; its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let out = Command::new("psql")
            .arg(self.url("postgres"))
            .args(["-v", "ON_ERROR_STOP=1", "-qc"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .context("cannot run psql: install the PostgreSQL client")?;
        if !out.status.success() {
            bail!(
                "CREATE DATABASE {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(self.url(name))
    }

    /// The data directory (for inspection).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PostgresInstance {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop_immediate();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
