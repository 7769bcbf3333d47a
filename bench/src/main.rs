//! didgate's load harness (`bench/`): measures didgate side by side with
//! nginx on one machine, with wrk as the load generator. See bench/README.md.
//!
//! `didgate-bench run` is the harness; the other subcommands are the parts it
//! starts in their own processes (the upstream, the `auth_request` endpoint).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cost;
mod harness;
mod login;
mod options;
mod report;
mod servers;
mod signed;
mod systems;
mod tokens;

#[derive(Parser)]
#[command(name = "didgate-bench", about = "didgate's load harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole harness: every system, warm-up, repetitions, half load, soak.
    Run(options::Opts),
    /// The fast upstream: answers every request with a small fixed body.
    Upstream {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// The bare hyper reverse proxy: the floor the proxy rows are read
    /// against (pooled client, nothing else).
    BareProxy {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// The authorization endpoint for nginx `auth_request`: 204 when the
    /// request's `session` cookie is one of the sessions in the file, else 401.
    Authz {
        #[arg(long)]
        listen: SocketAddr,
        /// One session id per line.
        #[arg(long)]
        sessions: PathBuf,
    },
    /// Run one part of the request path a fixed number of times, for
    /// instruction counts under callgrind (see bench/README.md).
    Cost {
        #[arg(long, value_enum)]
        part: cost::Part,
        #[arg(long, default_value_t = 1000)]
        iterations: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(opts) => harness::run(opts),
        Command::Upstream { listen } => servers::upstream(listen),
        Command::BareProxy { listen, upstream } => servers::bare_proxy(listen, upstream),
        Command::Authz { listen, sessions } => servers::authz(listen, &sessions),
        Command::Cost { part, iterations } => cost::run(part, iterations),
    }
}
