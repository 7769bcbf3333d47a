//! `[policy]`: the Cedar schema and policy files and how often they are
//! reloaded.

use std::path::PathBuf;

use serde::Deserialize;

use super::validation::Validation;
use super::Config;

/// `[policy]`: where the Cedar policies are.
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

impl PolicyConfig {
    /// Checks `[policy]`: the schema and every policy path exist.
    pub(super) fn validate(&self, v: &mut Validation) {
        if !self.schema.as_os_str().is_empty() {
            v.file_must_exist(
                "policy.schema",
                &self.schema,
                "point it at a Cedar schema file (see deploy/policies/didgate.cedarschema)",
            );
        }
        if self.policies.is_empty() {
            v.invalid(
                "policy.policies",
                "is empty",
                "list policy files or folders of *.cedar files",
            );
        }
        for (i, p) in self.policies.iter().enumerate() {
            let full = v.resolve(p);
            if !full.exists() {
                v.invalid(
                    format!("policy.policies[{i}]"),
                    format!("names {} which does not exist", full.display()),
                    "point it at a .cedar file or a folder of them",
                );
            }
        }
    }
}

fn default_reload() -> u64 {
    2
}

impl Config {
    /// The policy engine over `[policy]`'s schema and policy files, paths
    /// resolved against the config file's folder.
    pub fn policy_engine(&self) -> Result<policy::PolicyEngine, policy::PolicyError> {
        let files: Vec<PathBuf> = self
            .policy
            .policies
            .iter()
            .map(|p| self.resolve(p))
            .collect();
        policy::PolicyEngine::load(&self.resolve(&self.policy.schema), &files)
    }
}
