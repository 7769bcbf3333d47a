//! `[policy]`: where the policy set in force comes from — the Cedar schema
//! and policy files (`source = "files"`, reloaded when they change), or the
//! bundle administrators approved on chain (`source = "chain"`, see
//! `server::governance`) — and how often it is looked at.

use std::path::PathBuf;

use serde::Deserialize;

use super::validation::Validation;
use super::Config;

/// Where the policy set in force comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// The schema and policy files below, as they are on disk (development,
    /// a single gateway).
    #[default]
    Files,
    /// The bundle a deployment's administrators approved, M of N, in the
    /// `PolicyRegistry` contract of `[policy.governance]`'s chain. The files
    /// below are then only a working copy to propose from.
    Chain,
}

/// `[policy]`: where the Cedar policies are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `files` (default) or `chain`.
    #[serde(default)]
    pub source: PolicySource,
    /// Cedar schema file (.cedarschema).
    pub schema: PathBuf,
    /// Policy files or directories of `*.cedar` files.
    pub policies: Vec<PathBuf>,
    /// How often policy files are checked for changes (0 = never; files only).
    #[serde(default = "default_reload")]
    pub reload_interval_secs: u64,
    /// `[policy.governance]`: the on-chain registry (needed for `source = "chain"`
    /// and by `didgate policy propose/approve/status`).
    #[serde(default)]
    pub governance: Option<GovernanceConfig>,
}

/// `[policy.governance]`: the deployment whose policy set is governed on chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceConfig {
    /// The `[chains.NAME]` the `PolicyRegistry` contract is on.
    pub chain: String,
    /// The `PolicyRegistry` contract (embedded chain: deployed when omitted).
    #[serde(default)]
    pub contract: Option<String>,
    /// The deployment's name in the contract (e.g. `prod`): 1 to 32 visible ASCII characters.
    pub deployment: String,
    /// Where approved bundles are fetched from, by hash: a folder holding
    /// `<hash>.bundle` files, an `https://` URL under which `<hash>.bundle`
    /// is served, or `"database"` (the `[database]` every gateway of a
    /// fleet shares). Every bundle is checked against its approved hash
    /// before use, so the place need not be trusted.
    pub bundles: String,
    /// With an `https://` `bundles`: a PEM file of CA certificates its
    /// server's certificate may chain to, besides the system's (a private CA).
    #[serde(default)]
    pub bundles_ca: Option<PathBuf>,
}

/// `bundles = "database"`.
pub const BUNDLES_IN_DATABASE: &str = "database";

impl GovernanceConfig {
    /// `bundles` as a URL when it is one.
    pub fn bundles_url(&self) -> Option<&str> {
        (self.bundles.starts_with("https://") || self.bundles.starts_with("http://"))
            .then_some(self.bundles.as_str())
    }
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
        self.validate_governance(v);
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

impl PolicyConfig {
    fn validate_governance(&self, v: &mut Validation) {
        let Some(g) = &self.governance else {
            if self.source == PolicySource::Chain {
                v.invalid(
                    "policy.governance",
                    "is missing, and source = \"chain\" needs it",
                    "add [policy.governance] with chain, deployment and bundles",
                );
            }
            return;
        };
        if did_registry::ethr::governance::deployment_name(&g.deployment).is_err() {
            v.invalid(
                "policy.governance.deployment",
                format!(
                    "is {:?}: a deployment name is 1 to 32 visible ASCII characters",
                    g.deployment
                ),
                "use a short name such as \"prod\"",
            );
        }
        if let Some(c) = &g.contract {
            if !(c.len() == 42 && c.parse::<alloy_primitives::Address>().is_ok()) {
                v.invalid(
                    "policy.governance.contract",
                    format!("is {c:?}, not a contract address"),
                    "use the 0x… address of the PolicyRegistry (`didgate chain deploy` prints it)",
                );
            }
        }
        if let Some(ca) = &g.bundles_ca {
            v.file_must_exist(
                "policy.governance.bundles_ca",
                ca,
                "point it at a PEM file of the CA certificates the bundles server's certificate chains to",
            );
            if g.bundles_url().is_none() {
                v.invalid(
                    "policy.governance.bundles_ca",
                    "is set, but bundles is not an https:// URL",
                    "remove bundles_ca, or serve bundles over https://",
                );
            }
        }
        if g.bundles.starts_with("http://") {
            v.invalid(
                "policy.governance.bundles",
                "is an http:// URL",
                "serve bundles over https:// (they are checked against their hash, but a \
                 plain-text fetch lets anyone on the path withhold them)",
            );
        } else if g.bundles_url().is_none()
            && g.bundles != BUNDLES_IN_DATABASE
            && !v.resolve(std::path::Path::new(&g.bundles)).is_dir()
        {
            v.invalid(
                "policy.governance.bundles",
                format!("names {:?}, which is not a folder", g.bundles),
                "create the folder (`didgate policy propose` writes bundles there), give an \
                 https:// URL, or \"database\"",
            );
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
        policy::PolicyEngine::load(&self.resolve(&self.policy.schema), &self.policy_files())
    }

    /// `[policy]`'s policy files and folders, resolved.
    pub fn policy_files(&self) -> Vec<PathBuf> {
        self.policy
            .policies
            .iter()
            .map(|p| self.resolve(p))
            .collect()
    }

    /// `[policy]`'s files as a bundle (the working copy in chain mode).
    pub fn policy_bundle(&self) -> Result<policy::Bundle, policy::PolicyError> {
        policy::Bundle::from_files(&self.resolve(&self.policy.schema), &self.policy_files())
    }

    /// The folder bundles are kept in (`[policy.governance] bundles`, when
    /// it is a folder), resolved.
    pub fn bundles_dir(&self) -> Option<PathBuf> {
        let g = self.policy.governance.as_ref()?;
        (g.bundles_url().is_none() && g.bundles != BUNDLES_IN_DATABASE)
            .then(|| self.resolve(std::path::Path::new(&g.bundles)))
    }
}
