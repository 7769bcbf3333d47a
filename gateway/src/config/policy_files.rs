//! `[policy]`: the Cedar schema and policy files and how often they are
//! reloaded.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Cedar schema file (.cedarschema).
    pub schema: PathBuf,
    /// Policy files or directories of `*.cedar` files.
    pub policies: Vec<PathBuf>,
    /// How often policy files are checked for changes (0 = never).
    #[serde(default = "default_reload")]
    pub reload_interval_secs: u64,
}

fn default_reload() -> u64 {
    2
}
