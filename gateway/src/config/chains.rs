//! `[chains.NAME]`: each followed EVM chain (a node or the embedded one) and
//! the registry crate's view of it.

use std::time::Duration;

use serde::Deserialize;

use super::validation::Validation;

/// One followed chain (`[chains.NAME]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The embedded chain: an EVM (revm) inside the gateway, its blocks in
    /// the gateway's database; no node needed. Excludes `rpc_url`.
    #[serde(default)]
    pub embedded: bool,
    /// JSON-RPC endpoint: `http(s)://` (new heads polled) or `ws(s)://` (new
    /// heads pushed by a subscription). `DIDGATE_CHAIN_<NAME>_RPC_URL`
    /// overrides it (provider URLs often carry an API key).
    pub rpc_url: Option<String>,
    /// Address of the ERC-1056 registry contract (embedded: deployed at genesis when omitted).
    pub registry: Option<String>,
    /// Address of the `StatusRegistry` contract (on-chain credential status:
    /// `credentialStatus` lists `did:ethr:NAME:0x…/status/LIST`). Embedded:
    /// deployed when omitted. Without it, credentials with an on-chain status
    /// entry on this chain are refused (`status_list_unsupported`).
    pub status_registry: Option<String>,
    /// Expected chain id; the node's is used (and checked) when set.
    pub chain_id: Option<u64>,
    /// Blocks a change waits before it is indexed (reorg safety); 0 = the head.
    #[serde(default)]
    pub confirmations: u64,
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How long the index is trusted without hearing from the node; then
    /// did:ethr resolution fails closed (`503 chain_unavailable`).
    #[serde(default = "default_staleness")]
    pub max_staleness_secs: u64,
    /// First block to index (the registry's deployment block).
    #[serde(default)]
    pub start_block: u64,
    /// Largest block range per `eth_getLogs` call.
    #[serde(default = "default_block_range")]
    pub max_block_range: u64,
}

fn default_poll_ms() -> u64 {
    1000
}
fn default_staleness() -> u64 {
    60
}
fn default_block_range() -> u64 {
    2000
}

impl ChainConfig {
    /// The registry crate's view of this chain (validated already); `registry`
    /// is the contract address (the embedded chain's comes from the chain itself).
    pub fn network(
        &self,
        name: &str,
        registry: did_registry::ethr::Address,
    ) -> did_registry::ethr::NetworkConfig {
        did_registry::ethr::NetworkConfig {
            name: name.to_owned(),
            rpc_url: match &self.rpc_url {
                Some(url) if !self.embedded => url.clone(),
                _ => format!("embedded:{name}"),
            },
            registry,
            chain_id: self.chain_id,
            confirmations: self.confirmations,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            max_staleness: Duration::from_secs(self.max_staleness_secs),
            start_block: self.start_block,
            max_block_range: self.max_block_range,
        }
    }

    /// Checks `[chains.NAME]`: the name DIDs use, where the chain is, its
    /// contracts, and how it is followed.
    pub(super) fn validate(&self, name: &str, v: &mut Validation) {
        if !is_network_name(name) {
            v.invalid(
                format!("chains.{name}"),
                "is not a usable network name",
                "use the name DIDs carry, e.g. [chains.sepolia] for did:ethr:sepolia:0x…",
            );
        }
        let key = |k: &str| format!("chains.{name}.{k}");
        self.validate_rpc_url(&key("rpc_url"), v);
        self.validate_contracts(&key, v);
        self.validate_following(&key, v);
    }

    /// A node's JSON-RPC URL, or the embedded chain, never both.
    fn validate_rpc_url(&self, key: &str, v: &mut Validation) {
        match (&self.rpc_url, self.embedded) {
            (Some(_), true) => v.invalid(
                key,
                "is set on an embedded chain",
                "remove rpc_url, or set embedded = false to follow that node",
            ),
            (None, false) => v.invalid(
                key,
                "is missing",
                "set rpc_url = \"http://127.0.0.1:8545\" (a node), or embedded = true",
            ),
            (Some(url), false)
                if !["http://", "https://", "ws://", "wss://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)) =>
            {
                v.invalid(
                    key,
                    format!("is {url:?}, not an http(s):// or ws(s):// JSON-RPC URL"),
                    "set it to the node's endpoint, e.g. \"http://127.0.0.1:8545\" or \"wss://…\" (new heads pushed)",
                )
            }
            _ => {}
        }
    }

    /// The registry (required on a node) and the status registry are addresses.
    fn validate_contracts(&self, key: &dyn Fn(&str) -> String, v: &mut Validation) {
        match &self.registry {
            Some(r) if !is_address(r) => v.invalid(
                key("registry"),
                format!("is {r:?}, not a contract address"),
                "use the 0x… address `didgate chain deploy` printed (or the public registry's)",
            ),
            None if !self.embedded => v.invalid(
                key("registry"),
                "is missing",
                "deploy one with `didgate chain deploy --rpc URL --key FILE` and set its address",
            ),
            _ => {}
        }
        if let Some(r) = &self.status_registry {
            if !is_address(r) {
                v.invalid(
                    key("status_registry"),
                    format!("is {r:?}, not a contract address"),
                    "use the 0x… address of the StatusRegistry deployed for this chain's registry",
                );
            }
        }
    }

    /// Polling, staleness, confirmations and block numbers within range.
    fn validate_following(&self, key: &dyn Fn(&str) -> String, v: &mut Validation) {
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            v.invalid(
                key("poll_interval_ms"),
                "must be between 10 and 60000",
                "use 1000",
            );
        }
        if !(1..=86_400).contains(&self.max_staleness_secs)
            || self.max_staleness_secs.saturating_mul(1000) <= self.poll_interval_ms
        {
            v.invalid(
                key("max_staleness_secs"),
                "must be longer than the poll interval, and at most 86400",
                "use 60",
            );
        }
        if self.confirmations > 1_000 {
            v.invalid(
                key("confirmations"),
                "is above 1000",
                "use a few blocks (2 on Ethereum mainnet after the merge; 0 on a permissioned chain with instant finality)",
            );
        }
        if self.chain_id.is_some_and(|id| i64::try_from(id).is_err()) {
            v.invalid(
                key("chain_id"),
                "is larger than 9223372036854775807",
                "use the chain's real id (eth_chainId)",
            );
        }
        if i64::try_from(self.start_block).is_err() {
            v.invalid(
                key("start_block"),
                "is larger than 9223372036854775807",
                "use the registry's deployment block",
            );
        }
        if !(1..=100_000).contains(&self.max_block_range) {
            v.invalid(
                key("max_block_range"),
                "must be between 1 and 100000",
                "use 2000",
            );
        }
    }
}

/// The name DIDs carry (`did:ethr:<name>:0x…`): letters, digits, '-', '_'.
fn is_network_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A 0x-prefixed, 20-byte contract address.
fn is_address(s: &str) -> bool {
    s.parse::<did_registry::ethr::Address>().is_ok() && s.len() == 42
}
