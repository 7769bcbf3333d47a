//! `[chains.NAME]`: each followed EVM chain (a node or the embedded one) and
//! the registry crate's view of it.

use std::time::Duration;

use serde::Deserialize;

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
}
