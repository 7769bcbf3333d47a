//! The options of `didgate-bench run` (its command line) and how the paced
//! runs (half load, soak) are paced. The harness runs with them and the
//! report prints them.

use std::path::PathBuf;

use crate::systems::System;

/// Mean think time per connection in the paced runs (half load, soak),
/// drawn from an exponential distribution by `load.lua`. Long enough that
/// one connection more or less moves the rate by a few percent.
pub const PACE_MS: u64 = 10;

#[derive(clap::Args, Debug, Clone)]
pub struct Opts {
    /// Seconds of each measured run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of the warm-up run before each system's measured runs.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Measured runs per system (the report shows medians).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Concurrent connections for the peak runs (the same for every system).
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Seconds of the memory soak at 80 % of didgate's peak (0 skips it).
    #[arg(long, default_value_t = 600)]
    pub soak_secs: u64,
    /// The didgate binary to measure (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/didgate")]
    pub didgate: PathBuf,
    /// Where the results section is written (replaced between its markers).
    #[arg(long, default_value = "bench/RESULTS.md")]
    pub out: PathBuf,
    /// Scratch directory: configs, logs, generated presentations.
    #[arg(long, default_value = "target/bench-work")]
    pub work: PathBuf,
    /// CPU (taskset list) for the systems under test and their upstream.
    #[arg(long, default_value = "0")]
    pub server_cpu: String,
    /// CPU (taskset list) for the load generator.
    #[arg(long, default_value = "1")]
    pub client_cpu: String,
    /// After the rest, measure the bare proxy, nginx (one worker per core)
    /// and didgate's session row again with the servers and wrk all sharing
    /// these CPUs, as a deployment would run [default: every CPU, when there
    /// are at least two]; an empty list skips it.
    #[arg(long)]
    pub shared_cpus: Option<String>,
    /// The command line to print in the report (the wrapper script passes its own).
    #[arg(long)]
    pub command_line: Option<String>,
    /// The didgate row the half-load latency and the soak run: sessions (the
    /// browser path) or bearer (a fresh presentation per request).
    #[arg(long, value_enum, default_value_t = Paced::Session)]
    pub paced: Paced,
    /// Measure only these systems' peak (comma-separated), for profiling:
    /// no half load, no soak, nothing written to --out.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<System>,
}

/// How many CPUs a taskset list names (`0`, `0,1`, `0-3,6`): the server
/// side gets that many nginx workers (didgate and the bare proxy run one
/// runtime worker per CPU they are pinned to by themselves), and wrk that
/// many threads on the client side.
pub fn cpu_count(list: &str) -> anyhow::Result<usize> {
    let mut cpus = std::collections::BTreeSet::new();
    for part in list.split(',') {
        let part = part.trim();
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| anyhow::anyhow!("{list:?} is not a CPU list such as 0, 0,1 or 0-3"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        anyhow::ensure!(lo <= hi, "{list:?}: the range {lo}-{hi} runs backwards");
        cpus.extend(lo..=hi);
    }
    Ok(cpus.len())
}

/// Which didgate path the paced runs (half load, soak) measure.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paced {
    Session,
    Bearer,
}

impl Paced {
    pub fn system(self) -> System {
        match self {
            Paced::Session => System::DidgateSession,
            Paced::Bearer => System::DidgateBearerHit,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::cpu_count;

    #[test]
    fn cpu_lists_are_counted_and_bad_ones_refused() {
        assert_eq!(cpu_count("0").unwrap(), 1);
        assert_eq!(cpu_count("0,1").unwrap(), 2);
        assert_eq!(cpu_count("0-3,6").unwrap(), 5);
        assert_eq!(cpu_count("1,1,0-1").unwrap(), 2);
        for bad in ["", "a", "3-1", "0,,1", "-1", "99999"] {
            assert!(cpu_count(bad).is_err(), "{bad:?} accepted");
        }
    }
}
