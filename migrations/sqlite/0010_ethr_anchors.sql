-- Decision-log anchors on chain: every Anchored event of the LogAnchor
-- contract of a followed chain, written in the same transaction as the
-- ERC-1056 events of its block range (and rolled back with them on a
-- reorganisation). The contract accepts a head only if it extends the last
-- one, so a log's rows, by size, are its anchored history.
CREATE TABLE IF NOT EXISTS ethr_anchor_events (
    chain           TEXT NOT NULL,          -- network name from the config
    block_number    INTEGER NOT NULL,
    log_index       INTEGER NOT NULL,
    identity        TEXT NOT NULL,          -- lowercase 0x address of the gateway's did:ethr
    log_id          TEXT NOT NULL,          -- 0x bytes32: SHA-256 of the log's origin line
    size            INTEGER NOT NULL,          -- tree size anchored
    root            TEXT NOT NULL,          -- 0x bytes32: its RFC 9162 root hash
    previous_change INTEGER NOT NULL,          -- block of the identity's anchor before
    tx_hash         TEXT NOT NULL,
    PRIMARY KEY (chain, block_number, log_index)
);
CREATE INDEX IF NOT EXISTS ethr_anchor_events_log ON ethr_anchor_events (chain, identity, log_id, size);

-- Which anchor contract a chain's anchor events came from: when the config
-- names another one, the chain is indexed again from the start.
CREATE TABLE IF NOT EXISTS ethr_anchor_source (
    chain    TEXT PRIMARY KEY,
    contract TEXT NOT NULL                  -- lowercase 0x address, '' when none is followed
);
