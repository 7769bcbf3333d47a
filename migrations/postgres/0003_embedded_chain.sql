-- The embedded chain (`didgate demo`, no node): an in-process EVM (revm)
-- whose blocks, transactions, logs and state live here, one row set per
-- chain name. One transaction per block (automine); a block and everything
-- it changed are written in one database transaction, so a reader never
-- sees half a block. Hashes and addresses are lowercase 0x hex; 256-bit
-- words (balances, storage slots and values) are 0x hex of 32 bytes.

-- One row per embedded chain: its chain id, fixed at creation.
CREATE TABLE IF NOT EXISTS embedded_chains (
    chain    TEXT PRIMARY KEY,              -- network name from the config
    chain_id BIGINT NOT NULL
);

-- Every block from genesis (0); the head is the highest number.
CREATE TABLE IF NOT EXISTS embedded_blocks (
    chain       TEXT NOT NULL,
    number      BIGINT NOT NULL,
    hash        TEXT NOT NULL,              -- deterministic local hash, not an Ethereum header hash
    parent_hash TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,           -- unix seconds
    PRIMARY KEY (chain, number)
);

-- Mined transactions (only successful ones: a revert writes nothing).
CREATE TABLE IF NOT EXISTS embedded_transactions (
    chain            TEXT NOT NULL,
    block_number     BIGINT NOT NULL,
    tx_index         BIGINT NOT NULL,
    hash             TEXT NOT NULL,
    from_address     TEXT NOT NULL,
    to_address       TEXT,                  -- NULL: contract creation
    input            TEXT NOT NULL,         -- 0x hex calldata / init code
    status           BIGINT NOT NULL,      -- 1: success
    gas_used         BIGINT NOT NULL,
    contract_address TEXT,                  -- the created contract, for a creation
    PRIMARY KEY (chain, block_number, tx_index)
);
CREATE UNIQUE INDEX IF NOT EXISTS embedded_transactions_hash ON embedded_transactions (chain, hash);

-- Logs, in chain order per (block_number, log_index).
CREATE TABLE IF NOT EXISTS embedded_logs (
    chain        TEXT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    tx_hash      TEXT NOT NULL,
    address      TEXT NOT NULL,
    topics       TEXT NOT NULL,             -- JSON array of 0x hex topics
    data         TEXT NOT NULL,             -- 0x hex
    PRIMARY KEY (chain, block_number, log_index)
);
CREATE INDEX IF NOT EXISTS embedded_logs_address ON embedded_logs (chain, address, block_number, log_index);

-- EVM state at the head: accounts that exist (EIP-161: empty ones are removed)...
CREATE TABLE IF NOT EXISTS embedded_accounts (
    chain     TEXT NOT NULL,
    address   TEXT NOT NULL,
    nonce     BIGINT NOT NULL,
    balance   TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    code      TEXT NOT NULL,                -- 0x hex runtime code ('0x': none)
    PRIMARY KEY (chain, address)
);

-- ...and their non-zero storage slots.
CREATE TABLE IF NOT EXISTS embedded_storage (
    chain   TEXT NOT NULL,
    address TEXT NOT NULL,
    slot    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (chain, address, slot)
);
