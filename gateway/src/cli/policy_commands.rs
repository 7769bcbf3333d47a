//! `didgate policy test`: evaluate the sample requests of a test file
//! against the config's Cedar policies and print each decision.

use std::path::Path;

use anyhow::{bail, Result};

use crate::config::Config;

/// `didgate policy test -c FILE CASES`: run the cases; fail if any case fails.
pub fn test(config: &Path, cases: &Path) -> Result<()> {
    let config = Config::load(config)?;
    run_cases(&config.policy_engine()?, cases)
}

/// Run the cases against `engine`, print the report; fail if any case fails.
pub fn run_cases(engine: &policy::PolicyEngine, cases: &Path) -> Result<()> {
    let report = policy::run_tests(engine, cases)?;
    print!("{report}");
    if report.failures > 0 {
        bail!(
            "{} of {} policy test cases failed",
            report.failures,
            report.cases.len()
        );
    }
    Ok(())
}
