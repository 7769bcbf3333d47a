//! The chain a registry lives on, behind one trait with two implementations:
//! [`RpcChain`], JSON-RPC to any EVM node through alloy (HTTP, or WebSocket
//! with a new-heads subscription), and the embedded chain (revm in-process,
//! blocks and logs in the gateway's database). The follower and the
//! command-line tools speak only this trait.

use alloy_primitives::{Address, Bytes, B256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, TransactionInput, TransactionRequest};

/// A block as the follower needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub number: u64,
    pub hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
}

/// One contract log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLog {
    pub block_number: u64,
    pub block_hash: B256,
    pub log_index: u64,
    pub tx_hash: B256,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// A mined transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: B256,
    pub block_number: u64,
    /// For a contract creation: the new contract.
    pub contract_address: Option<Address>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("the node at {url} did not answer: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("invalid RPC URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the transaction reverted: {reason}")]
    Reverted { reason: String },
    #[error("the embedded chain: {0}")]
    Embedded(String),
    #[error("the index: {0}")]
    Index(String),
}

/// An EVM chain, seen from the registry's side.
#[async_trait::async_trait]
pub trait Chain: Send + Sync {
    /// Where it is, for messages (`http://…`, `embedded:<name>`).
    fn describe(&self) -> String;
    async fn chain_id(&self) -> Result<u64, ChainError>;
    async fn block_number(&self) -> Result<u64, ChainError>;
    async fn block(&self, number: u64) -> Result<Option<BlockInfo>, ChainError>;
    /// Logs emitted by `address` in blocks `from..=to`, in chain order.
    async fn logs(&self, address: Address, from: u64, to: u64)
        -> Result<Vec<ChainLog>, ChainError>;
    /// Read-only call (`eth_call`) at the head.
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError>;
    /// New head block numbers as they arrive, when the chain can push them
    /// (a WebSocket node); `None`: the follower polls.
    async fn subscribe_heads(&self) -> Option<tokio::sync::mpsc::Receiver<u64>> {
        None
    }
    /// Sign with `key` and send `data` to `to` (or create a contract when
    /// `to` is `None`); wait until it is mined. Reverts are errors.
    async fn transact(
        &self,
        key: &k256::SecretKey,
        to: Option<Address>,
        data: Bytes,
        gas: u64,
    ) -> Result<Receipt, ChainError>;
}

/// The reason a node gives for a reverted call: the `Error(string)` of a
/// `require`, or the raw revert data; `None` when the error is not a revert.
fn revert_reason(e: &alloy_provider::transport::TransportError) -> Option<String> {
    use alloy_sol_types::SolError;
    let payload = e.as_error_resp()?;
    if !payload.message.contains("revert") {
        return None;
    }
    Some(match payload.as_revert_data() {
        Some(data) => alloy_sol_types::Revert::abi_decode(&data)
            .map(|r| r.reason)
            .unwrap_or_else(|_| format!("reverted (0x{})", hex::encode(&data))),
        None => "reverted".to_owned(),
    })
}

/// JSON-RPC to any EVM node, over HTTP(S) or WebSocket.
pub struct RpcChain {
    url: String,
    provider: RootProvider,
    pubsub: bool,
}

fn is_ws(url: &str) -> bool {
    url.starts_with("ws://") || url.starts_with("wss://")
}

impl RpcChain {
    /// Connect over HTTP(S) or WebSocket (`ws://`, `wss://`; new heads are
    /// then pushed instead of polled).
    pub async fn connect(url: &str) -> Result<Self, ChainError> {
        if !is_ws(url) {
            return Self::new(url);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = RootProvider::connect(url)
            .await
            .map_err(|e| ChainError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            url: url.to_owned(),
            provider,
            pubsub: true,
        })
    }

    /// An HTTP(S) endpoint (no connection is made until the first call).
    pub fn new(url: &str) -> Result<Self, ChainError> {
        // reqwest's rustls uses the process-wide provider; install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bad = |reason: String| ChainError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed: reqwest::Url = url.parse().map_err(|e| bad(format!("{e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(
                "use an http(s):// JSON-RPC endpoint here, or connect to ws(s):// with RpcChain::connect".into(),
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            provider: RootProvider::new_http(parsed),
            pubsub: false,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> ChainError {
        ChainError::Unreachable {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Chain for RpcChain {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.provider.get_chain_id().await.map_err(|e| self.err(e))
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| self.err(e))
    }

    async fn block(&self, number: u64) -> Result<Option<BlockInfo>, ChainError> {
        let b = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| self.err(e))?;
        Ok(b.map(|b| BlockInfo {
            number: b.header.number,
            hash: b.header.hash,
            timestamp: b.header.timestamp,
        }))
    }

    async fn logs(
        &self,
        address: Address,
        from: u64,
        to: u64,
    ) -> Result<Vec<ChainLog>, ChainError> {
        let filter = Filter::new().address(address).from_block(from).to_block(to);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| self.err(e))?;
        Ok(logs
            .into_iter()
            .filter(|l| !l.removed)
            .filter_map(|l| {
                Some(ChainLog {
                    block_number: l.block_number?,
                    block_hash: l.block_hash?,
                    log_index: l.log_index?,
                    tx_hash: l.transaction_hash.unwrap_or_default(),
                    topics: l.topics().to_vec(),
                    data: l.data().data.clone(),
                })
            })
            .collect())
    }

    async fn subscribe_heads(&self) -> Option<tokio::sync::mpsc::Receiver<u64>> {
        use futures_util::StreamExt;
        if !self.pubsub {
            return None;
        }
        let sub = match self.provider.subscribe_blocks().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "new-heads subscription refused; polling");
                return None;
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let mut stream = sub.into_stream();
        tokio::spawn(async move {
            while let Some(header) = stream.next().await {
                // A full channel means a sync is due anyway: drop the extra wake-up.
                match tx.try_send(header.number) {
                    Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {}
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        });
        Some(rx)
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let tx = TransactionRequest::default()
            .to(to)
            .input(TransactionInput::new(data));
        self.provider.call(tx).await.map_err(|e| self.err(e))
    }

    async fn transact(
        &self,
        key: &k256::SecretKey,
        to: Option<Address>,
        data: Bytes,
        gas: u64,
    ) -> Result<Receipt, ChainError> {
        use alloy_network::{EthereumWallet, TransactionBuilder};
        use alloy_provider::ProviderBuilder;
        use alloy_signer_local::PrivateKeySigner;

        let signer = PrivateKeySigner::from_slice(&key.to_bytes()).map_err(|e| self.err(e))?;
        let from = signer.address();
        // A signing provider on the same endpoint (HTTP or WebSocket).
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect(&self.url)
            .await
            .map_err(|e| self.err(e))?;
        let mut tx = TransactionRequest::default()
            .from(from)
            .input(TransactionInput::new(data))
            .gas_limit(gas);
        tx = match to {
            Some(to) => tx.to(to),
            None => tx.into_create(),
        };
        // A dry run first: a write the contract would refuse is refused
        // here with its reason (`bad_actor`, `inconsistent`, …), and costs
        // no gas. Other dry-run errors leave the decision to the node.
        if let Err(e) = provider.call(tx.clone()).await {
            if let Some(reason) = revert_reason(&e) {
                return Err(ChainError::Reverted { reason });
            }
        }
        let receipt = provider
            .send_transaction(tx)
            .await
            .map_err(|e| self.err(e))?
            .get_receipt()
            .await
            .map_err(|e| self.err(e))?;
        if !receipt.status() {
            return Err(ChainError::Reverted {
                reason: format!("transaction {} failed", receipt.transaction_hash),
            });
        }
        Ok(Receipt {
            tx_hash: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
            contract_address: receipt.contract_address,
        })
    }
}
