//! The embedded chain: an in-process EVM ([revm]) whose blocks, transactions,
//! logs and state live in the gateway's database (tables from
//! `migrations/*/0003_embedded_chain.sql`), so `didgate demo` needs no node.
//!
//! - **Automine**: every [`Chain::transact`] is one block. The block, its
//!   transaction, its logs and the state it changed are written in one
//!   database transaction: a reader never sees half a block, and a reverted
//!   or invalid transaction writes nothing (no block).
//! - **Serialized block production**, also across processes sharing one
//!   database (the gateway and a CLI command): SQLite takes the write lock
//!   up front (`BEGIN IMMEDIATE`, retried while busy), PostgreSQL a
//!   transaction-scoped advisory lock per chain name; the head is read
//!   again under that lock.
//! - **State**: the registry's state is small, so each execution loads the
//!   chain's accounts and storage into memory (one query each, inside the
//!   same transaction as the head) and revm runs against that snapshot;
//!   only what the transaction touched is written back.
//! - **No gas payment**: gas price and base fee are zero, balance checks are
//!   off, and the caller's nonce is not checked against the transaction (it
//!   still increments). The gas limit is the caller's.
//! - **Hashes are local**: a transaction hash is keccak-256 over
//!   `chain id ‖ from ‖ nonce ‖ to ‖ gas ‖ input`, a block hash keccak-256
//!   over `parent hash ‖ number ‖ timestamp ‖ transaction hash` (numbers
//!   as 8-byte big-endian). They are deterministic and unique per chain but
//!   are not Ethereum transaction or header hashes (there is no signature,
//!   no RLP header, no state root).
//! - **The contracts** are deployed on demand by one public [`deployer_key`],
//!   each at a fixed nonce, so their addresses are the same on every
//!   embedded chain: the ERC-1056 registry at nonce 0
//!   ([`ensure_registry`](EmbeddedChain::ensure_registry)), the status
//!   registry at 1, the log anchor at 2 and the policy registry at 3
//!   ([`ensure_policy_registry`](EmbeddedChain::ensure_policy_registry));
//!   each `ensure_*` deploys those before it first.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use alloy_primitives::{keccak256, Address, Bytes, Log, B256, U256};
use revm::bytecode::Bytecode;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::result::{ExecutionResult, Output};
use revm::database_interface::DatabaseRef;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{TxKind, KECCAK_EMPTY};
use revm::state::{Account, AccountInfo};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};

use super::chain::{BlockInfo, Chain, ChainError, ChainLog, Receipt};
use super::did::address_of;
use super::index::EventIndex;

/// The hardfork the embedded chain runs.
const SPEC: SpecId = SpecId::OSAKA;

/// Gas for deploying the registry contracts.
const DEPLOY_GAS: u64 = 5_000_000;

/// Gas for a read-only call.
const CALL_GAS: u64 = revm::primitives::eip7825::TX_GAS_LIMIT_CAP;

/// Blocks whose hashes the `BLOCKHASH` opcode can see.
const BLOCKHASH_WINDOW: u64 = 256;

/// The key that deploys the registry contracts on every embedded chain
/// (keccak-256 of a fixed string: public, and only meant for local chains).
/// The ERC-1056 registry is its first creation (nonce 0), the status
/// registry its second (nonce 1), the log anchor its third (nonce 2) and the
/// policy registry its fourth (nonce 3): each is deployed after those
/// before it, so its address is the same on every embedded chain.
pub fn deployer_key() -> Result<k256::SecretKey, ChainError> {
    k256::SecretKey::from_slice(keccak256(b"didgate embedded chain deployer").as_slice())
        .map_err(|e| ChainError::Embedded(format!("deployer key: {e}")))
}

/// An EVM chain inside the gateway's database.
pub struct EmbeddedChain {
    db: EventIndex,
    name: String,
    chain_id: u64,
}

/// One value bound to a statement (the same statements run on both backends).
enum Arg {
    Int(i64),
    Text(String),
    OptText(Option<String>),
}

/// A write, planned in memory and executed in the block's transaction.
struct Stmt {
    sql: &'static str,
    args: Vec<Arg>,
}

type BlockRow = (i64, String, i64);
type AccountRow = (String, i64, String, String, String);
type StorageRow = (String, String, String);

/// What a block is produced on top of.
#[derive(Debug, Clone, Copy)]
struct Head {
    number: u64,
    hash: B256,
    timestamp: u64,
}

/// The chain's state at the head, as revm sees it.
#[derive(Default)]
struct World {
    accounts: HashMap<Address, AccountInfo>,
    codes: HashMap<B256, Bytecode>,
    storage: HashMap<(Address, U256), U256>,
    block_hashes: BTreeMap<u64, B256>,
}

impl DatabaseRef for World {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        Ok(self.accounts.get(&address).cloned())
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Infallible> {
        Ok(self.codes.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Infallible> {
        Ok(self
            .storage
            .get(&(address, index))
            .copied()
            .unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Infallible> {
        Ok(self.block_hashes.get(&number).copied().unwrap_or_default())
    }
}

/// One transaction as the embedded chain runs it.
struct TxRequest {
    caller: Address,
    /// `None`: create a contract.
    to: Option<Address>,
    data: Bytes,
    gas: u64,
    /// Checked against the caller's nonce when set (deployments); otherwise
    /// not checked at all.
    nonce: Option<u64>,
}

/// What block production ended with (a revert is an error).
enum Produced {
    Mined(Receipt),
    /// `expect_nonce` did not match the caller's nonce; nothing was written.
    NonceMismatch,
}

fn db_err(chain: &str) -> impl Fn(sqlx::Error) -> ChainError + '_ {
    move |e| ChainError::Embedded(format!("{chain}: database: {e}"))
}

fn corrupt(chain: &str, what: impl std::fmt::Display) -> ChainError {
    ChainError::Embedded(format!("{chain}: corrupt row: {what}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn hex_text(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn addr_text(a: &Address) -> String {
    hex_text(a.as_slice())
}

fn word_text(u: &U256) -> String {
    B256::from(*u).to_string()
}

/// Block times come from the process clock (which never goes back), so
/// they agree with the times every `validTo` is compared with.
fn now_secs() -> u64 {
    u64::try_from(crate::clock::unix_secs()).unwrap_or(0)
}

fn parse_hex(chain: &str, s: &str) -> Result<Vec<u8>, ChainError> {
    hex::decode(s.trim_start_matches("0x")).map_err(|e| corrupt(chain, format!("{s:?}: {e}")))
}

fn parse<T: std::str::FromStr>(chain: &str, s: &str) -> Result<T, ChainError> {
    s.parse().map_err(|_| corrupt(chain, format!("{s:?}")))
}

/// A 256-bit word stored as 0x hex of 32 bytes.
fn word(chain: &str, s: &str) -> Result<U256, ChainError> {
    Ok(U256::from_be_bytes(parse::<B256>(chain, s)?.0))
}

/// Local transaction hash (see the module docs).
fn tx_hash(
    chain_id: u64,
    from: Address,
    nonce: u64,
    to: Option<Address>,
    gas: u64,
    input: &[u8],
) -> B256 {
    let mut buf = Vec::with_capacity(8 + 20 + 8 + 21 + 8 + input.len());
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(from.as_slice());
    buf.extend_from_slice(&nonce.to_be_bytes());
    match to {
        Some(to) => {
            buf.push(1);
            buf.extend_from_slice(to.as_slice());
        }
        None => buf.push(0),
    }
    buf.extend_from_slice(&gas.to_be_bytes());
    buf.extend_from_slice(input);
    keccak256(buf)
}

/// Local block hash (see the module docs).
fn block_hash(parent: B256, number: u64, timestamp: u64, tx_hash: B256) -> B256 {
    let mut buf = [0u8; 32 + 8 + 8 + 32];
    buf[..32].copy_from_slice(parent.as_slice());
    buf[32..40].copy_from_slice(&number.to_be_bytes());
    buf[40..48].copy_from_slice(&timestamp.to_be_bytes());
    buf[48..].copy_from_slice(tx_hash.as_slice());
    keccak256(buf)
}

/// Genesis has no transaction; a seed from the chain's name and id takes its
/// place, so two embedded chains never share a genesis hash.
fn genesis_seed(name: &str, chain_id: u64) -> B256 {
    keccak256(format!("didgate embedded genesis {chain_id} {name}"))
}

/// Creation code of a committed artifact, as this module's error.
fn creation_code(artifact: &str) -> Result<Vec<u8>, ChainError> {
    crate::ethr::registry::creation_code(artifact)
        .map(|b| b.to_vec())
        .map_err(|e| ChainError::Embedded(format!("contract artifact: {e}")))
}

/// Why a transaction did not succeed, readably.
fn revert_reason(output: &[u8]) -> String {
    use alloy_sol_types::SolError;
    // `require(…, "reason")`: the reason alone; panics and custom errors as alloy words them.
    if output.is_empty() {
        return "reverted without a reason".into();
    }
    if let Ok(r) = alloy_sol_types::Revert::abi_decode(output) {
        return r.reason;
    }
    alloy_sol_types::decode_revert_reason(output)
        .unwrap_or_else(|| format!("reverted with data {}", hex_text(output)))
}

/// Bind `$args` to `$sql` (either backend: `$n` placeholders, i64 and text).
macro_rules! query_with {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::OptText(s) => q.bind(s.as_deref()),
            };
        }
        q
    }};
}

/// Run `$body` (an expression that may use `?` and `$tx`) in a transaction
/// that holds the chain's write lock; commit when it is `Ok`, roll back
/// otherwise.
macro_rules! with_write_lock {
    ($self:expr, |$tx:ident| $body:expr) => {{
        let err = db_err(&$self.name);
        match &$self.db {
            EventIndex::Sqlite(pool) => {
                let mut conn = pool.acquire().await.map_err(&err)?;
                // BEGIN IMMEDIATE takes the write lock now, retried while
                // another writer holds it.
                let mut attempt = 0u32;
                let r = loop {
                    match sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await {
                        Err(e) if attempt < 8 && is_busy(&e) => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                        }
                        Err(e) => break Err(err(e)),
                        Ok(mut $tx) => {
                            let r = async { $body }.await;
                            break finish($tx, r, &err).await;
                        }
                    }
                };
                super::index::close_failed(&mut conn, &r);
                r
            }
            EventIndex::Postgres(pool) => {
                let mut $tx = pool.begin().await.map_err(&err)?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!("didgate embedded chain {}", $self.name))
                    .execute(&mut *$tx)
                    .await
                    .map_err(&err)?;
                let r = async { $body }.await;
                finish($tx, r, &err).await
            }
        }
    }};
}

/// Run `$body` in a read-only transaction that sees one consistent state.
macro_rules! with_snapshot {
    ($self:expr, |$tx:ident| $body:expr) => {{
        let err = db_err(&$self.name);
        match &$self.db {
            EventIndex::Sqlite(pool) => {
                let mut conn = pool.acquire().await.map_err(&err)?;
                let r = async {
                    let mut $tx = sqlx::Connection::begin(&mut *conn).await.map_err(&err)?;
                    let r = async { $body }.await;
                    finish($tx, r, &err).await
                }
                .await;
                super::index::close_failed(&mut conn, &r);
                r
            }
            EventIndex::Postgres(pool) => {
                let mut $tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(&err)?;
                let r = async { $body }.await;
                finish($tx, r, &err).await
            }
        }
    }};
}

/// The head and the whole state, read in the transaction `$tx`.
macro_rules! load_world {
    ($self:expr, $tx:ident) => {{
        let err = db_err(&$self.name);
        let chain = $self.name.as_str();
        let head: Option<BlockRow> = sqlx::query_as(
            "SELECT number, hash, timestamp FROM embedded_blocks \
             WHERE chain = $1 ORDER BY number DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&mut *$tx)
        .await
        .map_err(&err)?;
        let head = head.ok_or_else(|| {
            ChainError::Embedded(format!("{chain}: no genesis block (open the chain first)"))
        })?;
        let from = (head.0 as u64).saturating_sub(BLOCKHASH_WINDOW - 1);
        let recent: Vec<(i64, String)> = sqlx::query_as(
            "SELECT number, hash FROM embedded_blocks WHERE chain = $1 AND number >= $2",
        )
        .bind(chain)
        .bind(to_i64(from))
        .fetch_all(&mut *$tx)
        .await
        .map_err(&err)?;
        let accounts: Vec<AccountRow> = sqlx::query_as(
            "SELECT address, nonce, balance, code_hash, code FROM embedded_accounts WHERE chain = $1",
        )
        .bind(chain)
        .fetch_all(&mut *$tx)
        .await
        .map_err(&err)?;
        let storage: Vec<StorageRow> = sqlx::query_as(
            "SELECT address, slot, value FROM embedded_storage WHERE chain = $1",
        )
        .bind(chain)
        .fetch_all(&mut *$tx)
        .await
        .map_err(&err)?;
        $self.world(head, recent, accounts, storage)
    }};
}

/// Retry `BEGIN IMMEDIATE` while another connection (or process) writes:
/// each attempt already waits for the connection's busy timeout.
fn is_busy(e: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

async fn finish<DB: sqlx::Database, T>(
    tx: sqlx::Transaction<'_, DB>,
    r: Result<T, ChainError>,
    err: &impl Fn(sqlx::Error) -> ChainError,
) -> Result<T, ChainError> {
    match r {
        Ok(v) => {
            tx.commit().await.map_err(err)?;
            Ok(v)
        }
        Err(e) => {
            // Nothing was written that must survive; a failed rollback is
            // finished by sqlx when the connection is reused.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

impl EmbeddedChain {
    /// Open (or create, with its genesis block) the embedded chain `name`
    /// in the gateway's database (`index` is a pool handle, shared). A chain
    /// keeps the id it was created with.
    pub async fn open(index: EventIndex, name: &str, chain_id: u64) -> Result<Self, ChainError> {
        let chain = Self {
            db: index,
            name: name.to_owned(),
            chain_id,
        };
        let genesis_hash = block_hash(B256::ZERO, 0, 0, genesis_seed(name, chain_id));
        let stored: i64 = with_write_lock!(chain, |tx| {
            let err = db_err(name);
            sqlx::query(
                "INSERT INTO embedded_chains (chain, chain_id) VALUES ($1, $2) \
                 ON CONFLICT (chain) DO NOTHING",
            )
            .bind(name)
            .bind(to_i64(chain_id))
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
            sqlx::query(
                "INSERT INTO embedded_blocks (chain, number, hash, parent_hash, timestamp) \
                 VALUES ($1, 0, $2, $3, $4) ON CONFLICT (chain, number) DO NOTHING",
            )
            .bind(name)
            .bind(genesis_hash.to_string())
            .bind(B256::ZERO.to_string())
            .bind(to_i64(now_secs()))
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
            let (id,): (i64,) =
                sqlx::query_as("SELECT chain_id FROM embedded_chains WHERE chain = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&err)?;
            Ok(id)
        })?;
        if stored as u64 != chain_id {
            return Err(ChainError::Embedded(format!(
                "{name} was created with chain id {stored}, not {chain_id}"
            )));
        }
        Ok(chain)
    }

    /// The ERC-1056 registry's address, deployed first if needed (the
    /// deployer's first creation, so the address is the same on every
    /// embedded chain).
    pub async fn ensure_registry(&self) -> Result<Address, ChainError> {
        self.ensure_contract(0, creation_code(crate::ethr::registry::REGISTRY_ARTIFACT)?)
            .await
    }

    /// The status registry's address (constructed with the ERC-1056
    /// registry's address), deployed first if needed, after the registry.
    pub async fn ensure_status_registry(&self) -> Result<Address, ChainError> {
        let registry = self.ensure_registry().await?;
        let mut code = creation_code(crate::ethr::registry::STATUS_ARTIFACT)?;
        code.extend_from_slice(registry.into_word().as_slice());
        self.ensure_contract(1, code).await
    }

    /// The log anchor's address (constructed with the ERC-1056 registry's
    /// address), deployed first if needed, after the status registry.
    pub async fn ensure_log_anchor(&self) -> Result<Address, ChainError> {
        let registry = self.ensure_registry().await?;
        self.ensure_status_registry().await?;
        let mut code = creation_code(crate::ethr::anchor::ANCHOR_ARTIFACT)?;
        code.extend_from_slice(registry.into_word().as_slice());
        self.ensure_contract(2, code).await
    }

    /// The policy registry's address (constructed with the ERC-1056
    /// registry's address), deployed first if needed, after the log anchor.
    pub async fn ensure_policy_registry(&self) -> Result<Address, ChainError> {
        let registry = self.ensure_registry().await?;
        self.ensure_log_anchor().await?;
        let mut code = creation_code(crate::ethr::governance::POLICY_REGISTRY_ARTIFACT)?;
        code.extend_from_slice(registry.into_word().as_slice());
        self.ensure_contract(3, code).await
    }

    async fn ensure_contract(&self, nonce: u64, init: Vec<u8>) -> Result<Address, ChainError> {
        let key = deployer_key()?;
        let deployer = address_of(&key.public_key());
        let address = deployer.create(nonce);
        if self.has_code(address).await? {
            return Ok(address);
        }
        match self
            .produce(&key, None, init.into(), DEPLOY_GAS, Some(nonce))
            .await?
        {
            Produced::Mined(r) if r.contract_address == Some(address) => Ok(address),
            Produced::Mined(r) => Err(ChainError::Embedded(format!(
                "{}: deployment created {:?}, expected {address}",
                self.name, r.contract_address
            ))),
            // Another process deployed it meanwhile, or the deployer key
            // was used for something else.
            Produced::NonceMismatch if self.has_code(address).await? => Ok(address),
            Produced::NonceMismatch => Err(ChainError::Embedded(format!(
                "{}: the deployer {deployer} has sent other transactions; no contract at {address}",
                self.name
            ))),
        }
    }

    async fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        const Q: &str = "SELECT code FROM embedded_accounts WHERE chain = $1 AND address = $2";
        let err = db_err(&self.name);
        let row: Option<(String,)> = match &self.db {
            EventIndex::Sqlite(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(addr_text(&address))
                .fetch_optional(p)
                .await
                .map_err(&err)?,
            EventIndex::Postgres(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(addr_text(&address))
                .fetch_optional(p)
                .await
                .map_err(&err)?,
        };
        Ok(row.is_some_and(|(code,)| code.len() > 2))
    }

    /// Build the in-memory state from rows.
    fn world(
        &self,
        head: BlockRow,
        recent: Vec<(i64, String)>,
        accounts: Vec<AccountRow>,
        storage: Vec<StorageRow>,
    ) -> Result<(Head, World), ChainError> {
        let c = self.name.as_str();
        let head = Head {
            number: head.0 as u64,
            hash: parse(c, &head.1)?,
            timestamp: head.2 as u64,
        };
        let mut w = World::default();
        for (n, h) in recent {
            w.block_hashes.insert(n as u64, parse(c, &h)?);
        }
        for (address, nonce, balance, code_hash, code) in accounts {
            let code_hash: B256 = parse(c, &code_hash)?;
            let code = Bytecode::new_raw(parse_hex(c, &code)?.into());
            w.codes.insert(code_hash, code.clone());
            let info = AccountInfo::new(word(c, &balance)?, nonce as u64, code_hash, code);
            w.accounts.insert(parse(c, &address)?, info);
        }
        for (address, slot, value) in storage {
            w.storage
                .insert((parse(c, &address)?, word(c, &slot)?), word(c, &value)?);
        }
        Ok((head, w))
    }

    /// Run one transaction against `world` on top of `head`.
    fn execute(
        &self,
        world: &World,
        block: BlockEnv,
        req: &TxRequest,
    ) -> Result<revm::context_interface::result::ExecResultAndState<ExecutionResult>, ChainError>
    {
        let mut cfg = CfgEnv::new_with_spec(SPEC);
        cfg.chain_id = self.chain_id;
        cfg.disable_nonce_check = req.nonce.is_none();
        cfg.disable_balance_check = true;
        cfg.disable_base_fee = true;
        let tx = TxEnv::builder()
            .caller(req.caller)
            .kind(req.to.map_or(TxKind::Create, TxKind::Call))
            .data(req.data.clone())
            .gas_limit(req.gas)
            .gas_price(0)
            .nonce(req.nonce.unwrap_or_default())
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Embedded(format!("{}: transaction: {e:?}", self.name)))?;
        let mut evm = Context::mainnet()
            .with_ref_db(world)
            .with_block(block)
            .with_cfg(cfg)
            .build_mainnet();
        evm.transact(tx).map_err(|e| {
            ChainError::Embedded(format!("{}: the transaction is invalid: {e}", self.name))
        })
    }

    /// Mine one block with one transaction, under the chain's write lock.
    async fn produce(
        &self,
        key: &k256::SecretKey,
        to: Option<Address>,
        data: Bytes,
        gas: u64,
        expect_nonce: Option<u64>,
    ) -> Result<Produced, ChainError> {
        let req = TxRequest {
            caller: address_of(&key.public_key()),
            to,
            data,
            gas,
            nonce: expect_nonce,
        };
        with_write_lock!(self, |tx| {
            let (head, world) = load_world!(self, tx)?;
            let nonce = world.accounts.get(&req.caller).map_or(0, |a| a.nonce);
            if req.nonce.is_some_and(|n| n != nonce) {
                return Ok(Produced::NonceMismatch);
            }
            let (receipt, stmts) = self.mine(&head, &world, nonce, &req)?;
            for s in &stmts {
                query_with!(s.sql, &s.args)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err(&self.name))?;
            }
            Ok(Produced::Mined(receipt))
        })
    }

    /// Execute and plan the writes of the next block; a revert is an error.
    fn mine(
        &self,
        head: &Head,
        world: &World,
        nonce: u64,
        req: &TxRequest,
    ) -> Result<(Receipt, Vec<Stmt>), ChainError> {
        let TxRequest {
            caller,
            to,
            ref data,
            gas,
            ..
        } = *req;
        let number = head
            .number
            .checked_add(1)
            .ok_or_else(|| ChainError::Embedded("the chain is at its last block".into()))?;
        let timestamp = now_secs().max(head.timestamp);
        let block = BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            prevrandao: Some(head.hash),
            ..BlockEnv::default()
        };
        let out = self.execute(world, block, req)?;
        let (logs, gas_used, created) = match out.result {
            ExecutionResult::Success {
                logs, gas, output, ..
            } => {
                let created = match output {
                    Output::Create(_, address) => address,
                    Output::Call(_) => None,
                };
                (logs, gas.tx_gas_used(), created)
            }
            ExecutionResult::Revert { output, .. } => {
                return Err(ChainError::Reverted {
                    reason: revert_reason(&output),
                })
            }
            ExecutionResult::Halt { reason, .. } => {
                return Err(ChainError::Reverted {
                    reason: format!("halted: {reason:?}"),
                })
            }
        };

        let chain = || Arg::Text(self.name.clone());
        let txh = tx_hash(self.chain_id, caller, nonce, to, gas, data);
        let hash = block_hash(head.hash, number, timestamp, txh);
        let mut stmts = vec![
            Stmt {
                sql: "INSERT INTO embedded_blocks (chain, number, hash, parent_hash, timestamp) \
                      VALUES ($1, $2, $3, $4, $5)",
                args: vec![
                    chain(),
                    Arg::Int(to_i64(number)),
                    Arg::Text(hash.to_string()),
                    Arg::Text(head.hash.to_string()),
                    Arg::Int(to_i64(timestamp)),
                ],
            },
            Stmt {
                sql: "INSERT INTO embedded_transactions (chain, block_number, tx_index, hash, \
                      from_address, to_address, input, status, gas_used, contract_address) \
                      VALUES ($1, $2, 0, $3, $4, $5, $6, 1, $7, $8)",
                args: vec![
                    chain(),
                    Arg::Int(to_i64(number)),
                    Arg::Text(txh.to_string()),
                    Arg::Text(addr_text(&caller)),
                    Arg::OptText(to.as_ref().map(addr_text)),
                    Arg::Text(hex_text(data)),
                    Arg::Int(to_i64(gas_used)),
                    Arg::OptText(created.as_ref().map(addr_text)),
                ],
            },
        ];
        for (i, log) in logs.iter().enumerate() {
            stmts.push(self.log_stmt(number, i as u64, txh, log));
        }
        for (address, account) in &out.state {
            self.state_stmts(world, address, account, &mut stmts);
        }
        Ok((
            Receipt {
                tx_hash: txh,
                block_number: number,
                contract_address: created,
            },
            stmts,
        ))
    }

    fn log_stmt(&self, number: u64, index: u64, txh: B256, log: &Log) -> Stmt {
        let topics: Vec<String> = log.data.topics().iter().map(|t| t.to_string()).collect();
        Stmt {
            sql: "INSERT INTO embedded_logs (chain, block_number, log_index, tx_hash, address, \
                  topics, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args: vec![
                Arg::Text(self.name.clone()),
                Arg::Int(to_i64(number)),
                Arg::Int(to_i64(index)),
                Arg::Text(txh.to_string()),
                Arg::Text(addr_text(&log.address)),
                // A Vec<String> always serializes.
                Arg::Text(serde_json::to_string(&topics).unwrap_or_default()),
                Arg::Text(hex_text(&log.data.data)),
            ],
        }
    }

    /// The writes that bring one account's rows to its state after the block.
    fn state_stmts(
        &self,
        world: &World,
        address: &Address,
        account: &Account,
        out: &mut Vec<Stmt>,
    ) {
        if !account.is_touched() {
            return;
        }
        let key = || vec![Arg::Text(self.name.clone()), Arg::Text(addr_text(address))];
        let delete_storage = || Stmt {
            sql: "DELETE FROM embedded_storage WHERE chain = $1 AND address = $2",
            args: key(),
        };
        // Self-destructed, or empty and so removed (EIP-161).
        if account.is_selfdestructed() || account.is_empty() {
            if world.accounts.contains_key(address) {
                out.push(Stmt {
                    sql: "DELETE FROM embedded_accounts WHERE chain = $1 AND address = $2",
                    args: key(),
                });
            }
            out.push(delete_storage());
            return;
        }
        let info = &account.info;
        let before = world.accounts.get(address);
        let same_code = before.is_some_and(|b| b.code_hash == info.code_hash);
        match before {
            Some(b) if same_code && b.nonce == info.nonce && b.balance == info.balance => {}
            Some(_) if same_code => {
                let mut args = key();
                args.push(Arg::Int(to_i64(info.nonce)));
                args.push(Arg::Text(word_text(&info.balance)));
                out.push(Stmt {
                    sql: "UPDATE embedded_accounts SET nonce = $3, balance = $4 \
                          WHERE chain = $1 AND address = $2",
                    args,
                });
            }
            _ => {
                let code = info
                    .code
                    .as_ref()
                    .or_else(|| world.codes.get(&info.code_hash))
                    .map(|c| c.original_bytes())
                    .unwrap_or_default();
                let code_hash = if code.is_empty() {
                    KECCAK_EMPTY
                } else {
                    info.code_hash
                };
                let mut args = key();
                args.push(Arg::Int(to_i64(info.nonce)));
                args.push(Arg::Text(word_text(&info.balance)));
                args.push(Arg::Text(code_hash.to_string()));
                args.push(Arg::Text(hex_text(&code)));
                out.push(Stmt {
                    sql: "INSERT INTO embedded_accounts (chain, address, nonce, balance, code_hash, code) \
                          VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, address) DO UPDATE SET \
                          nonce = excluded.nonce, balance = excluded.balance, \
                          code_hash = excluded.code_hash, code = excluded.code",
                    args,
                });
            }
        }
        // A created account starts with empty storage.
        let created = account.is_created();
        if created {
            out.push(delete_storage());
        }
        for (slot, value) in &account.storage {
            if !created && !value.is_changed() {
                continue;
            }
            let mut args = key();
            args.push(Arg::Text(word_text(slot)));
            if value.present_value.is_zero() {
                if !created {
                    out.push(Stmt {
                        sql: "DELETE FROM embedded_storage WHERE chain = $1 AND address = $2 AND slot = $3",
                        args,
                    });
                }
            } else {
                args.push(Arg::Text(word_text(&value.present_value)));
                out.push(Stmt {
                    sql: "INSERT INTO embedded_storage (chain, address, slot, value) \
                          VALUES ($1, $2, $3, $4) ON CONFLICT (chain, address, slot) \
                          DO UPDATE SET value = excluded.value",
                    args,
                });
            }
        }
    }

    async fn fetch_block(&self, number: u64) -> Result<Option<BlockInfo>, ChainError> {
        const Q: &str =
            "SELECT hash, timestamp FROM embedded_blocks WHERE chain = $1 AND number = $2";
        let err = db_err(&self.name);
        let row: Option<(String, i64)> = match &self.db {
            EventIndex::Sqlite(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(to_i64(number))
                .fetch_optional(p)
                .await
                .map_err(&err)?,
            EventIndex::Postgres(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(to_i64(number))
                .fetch_optional(p)
                .await
                .map_err(&err)?,
        };
        row.map(|(hash, ts)| {
            Ok(BlockInfo {
                number,
                hash: parse(&self.name, &hash)?,
                timestamp: ts as u64,
            })
        })
        .transpose()
    }
}

#[async_trait::async_trait]
impl Chain for EmbeddedChain {
    fn describe(&self) -> String {
        format!("embedded:{}", self.name)
    }

    async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.chain_id)
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        const Q: &str =
            "SELECT number FROM embedded_blocks WHERE chain = $1 ORDER BY number DESC LIMIT 1";
        let err = db_err(&self.name);
        let row: Option<(i64,)> = match &self.db {
            EventIndex::Sqlite(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .fetch_optional(p)
                .await
                .map_err(&err)?,
            EventIndex::Postgres(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .fetch_optional(p)
                .await
                .map_err(&err)?,
        };
        row.map(|(n,)| n as u64).ok_or_else(|| {
            ChainError::Embedded(format!(
                "{}: no genesis block (open the chain first)",
                self.name
            ))
        })
    }

    async fn block(&self, number: u64) -> Result<Option<BlockInfo>, ChainError> {
        self.fetch_block(number).await
    }

    async fn logs(
        &self,
        address: Address,
        from: u64,
        to: u64,
    ) -> Result<Vec<ChainLog>, ChainError> {
        const Q: &str = "SELECT l.block_number, b.hash, l.log_index, l.tx_hash, l.topics, l.data \
                         FROM embedded_logs l JOIN embedded_blocks b \
                         ON b.chain = l.chain AND b.number = l.block_number \
                         WHERE l.chain = $1 AND l.address = $2 AND l.block_number >= $3 \
                         AND l.block_number <= $4 ORDER BY l.block_number, l.log_index";
        let err = db_err(&self.name);
        let rows: Vec<(i64, String, i64, String, String, String)> = match &self.db {
            EventIndex::Sqlite(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(addr_text(&address))
                .bind(to_i64(from))
                .bind(to_i64(to))
                .fetch_all(p)
                .await
                .map_err(&err)?,
            EventIndex::Postgres(p) => sqlx::query_as(Q)
                .bind(&self.name)
                .bind(addr_text(&address))
                .bind(to_i64(from))
                .bind(to_i64(to))
                .fetch_all(p)
                .await
                .map_err(&err)?,
        };
        let c = self.name.as_str();
        rows.into_iter()
            .map(|(n, block_hash, i, tx_hash, topics, data)| {
                let topics: Vec<String> = serde_json::from_str(&topics)
                    .map_err(|e| corrupt(c, format!("topics: {e}")))?;
                Ok(ChainLog {
                    block_number: n as u64,
                    block_hash: parse(c, &block_hash)?,
                    log_index: i as u64,
                    tx_hash: parse(c, &tx_hash)?,
                    topics: topics
                        .iter()
                        .map(|t| parse(c, t))
                        .collect::<Result<_, _>>()?,
                    data: parse_hex(c, &data)?.into(),
                })
            })
            .collect()
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let (head, world) = with_snapshot!(self, |tx| load_world!(self, tx))?;
        let block = BlockEnv {
            number: U256::from(head.number),
            timestamp: U256::from(head.timestamp),
            prevrandao: Some(head.hash),
            ..BlockEnv::default()
        };
        let req = TxRequest {
            caller: Address::ZERO,
            to: Some(to),
            data,
            gas: CALL_GAS,
            nonce: None,
        };
        let out = self.execute(&world, block, &req)?;
        match out.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(ChainError::Reverted {
                reason: revert_reason(&output),
            }),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Reverted {
                reason: format!("halted: {reason:?}"),
            }),
        }
    }

    async fn transact(
        &self,
        key: &k256::SecretKey,
        to: Option<Address>,
        data: Bytes,
        gas: u64,
    ) -> Result<Receipt, ChainError> {
        match self.produce(key, to, data, gas, None).await? {
            Produced::Mined(r) => Ok(r),
            // Only with an expected nonce.
            Produced::NonceMismatch => Err(ChainError::Embedded(format!(
                "{}: nonce mismatch",
                self.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hashes_are_deterministic_and_distinct() {
        let a = tx_hash(1, Address::ZERO, 0, None, 1, b"x");
        assert_eq!(a, tx_hash(1, Address::ZERO, 0, None, 1, b"x"));
        assert_ne!(a, tx_hash(1, Address::ZERO, 1, None, 1, b"x"));
        assert_ne!(
            a,
            tx_hash(1, Address::ZERO, 0, Some(Address::ZERO), 1, b"x")
        );
        let b = block_hash(B256::ZERO, 1, 2, a);
        assert_ne!(b, block_hash(B256::ZERO, 2, 2, a));
        assert_ne!(genesis_seed("a", 1), genesis_seed("a", 2));
    }

    #[test]
    fn artifacts_have_creation_code() {
        assert!(
            creation_code(crate::ethr::registry::REGISTRY_ARTIFACT)
                .unwrap()
                .len()
                > 1000
        );
        assert!(
            creation_code(crate::ethr::registry::STATUS_ARTIFACT)
                .unwrap()
                .len()
                > 500
        );
        assert!(
            creation_code(crate::ethr::governance::POLICY_REGISTRY_ARTIFACT)
                .unwrap()
                .len()
                > 1000
        );
        deployer_key().unwrap();
    }

    #[test]
    fn revert_reasons_are_readable() {
        use alloy_sol_types::SolError;
        let data = alloy_sol_types::Revert::from("bad_actor").abi_encode();
        assert_eq!(revert_reason(&data), "bad_actor");
        assert_eq!(revert_reason(&[]), "reverted without a reason");
    }
}
