//! `[audit]`: the decision log of record, a transparency log on disk (where,
//! under what name, how durable, how often a checkpoint is signed).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::validation::Validation;

/// When the log's entries file is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Group fsync every `fsync_interval_ms` (default): a crash of the
    /// process loses nothing written, a power loss at most that window.
    #[default]
    Batch,
    /// A request waits for its batch's fsync: a power loss loses nothing
    /// that was forwarded.
    Always,
}

/// `[audit]`: the transparency log every decision is appended to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The log's directory (relative to the config file): the public
    /// `checkpoint` and `tile/` tree, and `private/` (the entries file, the
    /// writer's state and lock).
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// The log's name: the first line of every checkpoint and the name of
    /// its verifier key. Default: `<public_url host>/didgate/<instance>`.
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub fsync: FsyncMode,
    /// With `fsync = "batch"`: how often the entries file is fsynced while
    /// it grows (what a power loss can lose at most).
    #[serde(default = "default_fsync_interval")]
    pub fsync_interval_ms: u64,
    /// The shortest time between two signed checkpoints (while decisions
    /// arrive, one appears at least this often).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_ms: u64,
    /// Where `didgate audit archive --to-archive` moves sealed tiles and
    /// entry bundles (relative to the config file): the gateway, `audit
    /// verify` and `audit prove` read them there (and `.gz` copies, here or
    /// there) as if they had never moved. Default: none.
    #[serde(default)]
    pub archive_dir: Option<PathBuf>,
    /// `[audit.anchor]`: anchor the log's checkpoints on a chain.
    #[serde(default)]
    pub anchor: Option<AnchorSettings>,
}

/// `[audit.anchor]`: every `interval_secs` and at shutdown, the latest
/// checkpoint's tree head (size, root) is written to the `LogAnchor`
/// contract, which takes it only if it extends the head anchored before
/// (an RFC 9162 consistency proof, checked on chain).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSettings {
    /// The `[chains.NAME]` to anchor on.
    pub chain: String,
    /// A secp256k1 key (JWK, relative to the config file) that signs the
    /// anchoring transactions: the identity's owner or one of its
    /// `sigAuth`/`veriKey` delegates in the ERC-1056 registry.
    pub key_file: PathBuf,
    /// The gateway's did:ethr identity (`did:ethr:…` or `0x…`) whose logs
    /// are anchored. Default: the key's own address.
    #[serde(default)]
    pub identity: Option<String>,
    /// The `LogAnchor` contract. On an embedded chain it is deployed when
    /// omitted; on a node it must be given (`didgate chain deploy`).
    #[serde(default)]
    pub contract: Option<String>,
    #[serde(default = "default_anchor_interval")]
    pub interval_secs: u64,
}

fn default_anchor_interval() -> u64 {
    60
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            dir: default_dir(),
            origin: None,
            fsync: FsyncMode::Batch,
            fsync_interval_ms: default_fsync_interval(),
            checkpoint_interval_ms: default_checkpoint_interval(),
            archive_dir: None,
            anchor: None,
        }
    }
}

impl AuditSettings {
    /// Checks `[audit]`: a valid log name and intervals a log can keep.
    pub(super) fn validate(&self, v: &mut Validation) {
        if let Some(origin) = &self.origin {
            if !valid_origin(origin) {
                v.invalid(
                    "audit.origin",
                    format!("is {origin:?}: a log name is printable ASCII without spaces or '+'"),
                    "use a name like \"gateway.example.com/didgate/gw-1\", or leave it out",
                );
            }
        }
        if !(1..=1000).contains(&self.fsync_interval_ms) {
            v.invalid(
                "audit.fsync_interval_ms",
                "must be between 1 and 1000",
                "use a few milliseconds, such as 10",
            );
        }
        if let Some(a) = &self.anchor {
            if !(1..=86_400).contains(&a.interval_secs) {
                v.invalid(
                    "audit.anchor.interval_secs",
                    "must be between 1 and 86400",
                    "use 60: a minute of decisions at most is not yet anchored",
                );
            }
            for (key, value) in [("identity", &a.identity), ("contract", &a.contract)] {
                if let Some(s) = value {
                    let hex = s.rsplit(':').next().unwrap_or(s);
                    if hex.parse::<alloy_primitives::Address>().is_err() {
                        v.invalid(
                            format!("audit.anchor.{key}"),
                            format!("is {s:?}, not an address"),
                            "give a 0x-prefixed 20-byte address (or, for identity, a did:ethr)",
                        );
                    }
                }
            }
            v.file_must_exist(
                "audit.anchor.key_file",
                &a.key_file,
                "create a secp256k1 key: didgate did create --method ethr --out anchor.jwk",
            );
        }
        if !(100..=60_000).contains(&self.checkpoint_interval_ms) {
            v.invalid(
                "audit.checkpoint_interval_ms",
                "must be between 100 and 60000",
                "use 1000: auditors expect a checkpoint a second while decisions arrive",
            );
        }
    }

    /// The log's name: `origin`, or one made from the public URL's host and
    /// the instance name.
    pub fn origin(&self, public_url: &str, instance: &str) -> String {
        if let Some(o) = &self.origin {
            return o.clone();
        }
        let host = url::Url::parse(public_url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let name: String = format!("{host}/didgate/{instance}")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '+' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        name
    }

    pub fn fsync_interval(&self) -> Duration {
        Duration::from_millis(self.fsync_interval_ms)
    }

    pub fn checkpoint_interval(&self) -> Duration {
        Duration::from_millis(self.checkpoint_interval_ms)
    }
}

/// A C2SP log origin: non-empty printable ASCII, no space, no `+` (it is
/// also the signed-note key name).
fn valid_origin(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_graphic() && c != '+')
}

fn default_dir() -> PathBuf {
    PathBuf::from("decision-log")
}
fn default_fsync_interval() -> u64 {
    10
}
fn default_checkpoint_interval() -> u64 {
    1000
}
