-- The did:ethr event index: every ERC-1056 registry event of every followed
-- chain, so that resolving a DID is one local query, never a walk over the
-- chain. Rows above a reorganised block are deleted and indexed again.
CREATE TABLE IF NOT EXISTS ethr_events (
    chain           TEXT NOT NULL,             -- network name from the config
    block_number    INTEGER NOT NULL,
    log_index       INTEGER NOT NULL,
    identity        TEXT NOT NULL,             -- lowercase 0x address
    event           TEXT NOT NULL,             -- JSON of the decoded event (kind and fields)
    previous_change INTEGER NOT NULL,
    tx_hash         TEXT NOT NULL,
    PRIMARY KEY (chain, block_number, log_index)
);
CREATE INDEX IF NOT EXISTS ethr_events_identity ON ethr_events (chain, identity, block_number, log_index);

-- Blocks that carry registry events (for versionTime and reorg checks).
CREATE TABLE IF NOT EXISTS ethr_blocks (
    chain        TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    timestamp    INTEGER NOT NULL,              -- unix seconds
    PRIMARY KEY (chain, block_number)
);

-- How far each chain is indexed: the last block whose logs are all stored.
CREATE TABLE IF NOT EXISTS ethr_cursor (
    chain        TEXT PRIMARY KEY,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    chain_id     INTEGER NOT NULL,
    registry     TEXT NOT NULL               -- lowercase 0x address of the registry contract
);
