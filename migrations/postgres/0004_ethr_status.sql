-- Credential status on chain: every StatusChanged event of the status
-- registry of every followed chain, written in the same transaction as the
-- ERC-1056 events of its block range (and rolled back with them on a
-- reorganisation). The current bit of (issuer, list_id, status_index) is its
-- latest event's `revoked`.
CREATE TABLE IF NOT EXISTS ethr_status_events (
    chain        TEXT NOT NULL,             -- network name from the config
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    issuer       TEXT NOT NULL,             -- lowercase 0x address
    list_id      TEXT NOT NULL,             -- 0x bytes32 (the list name, right-padded)
    status_index TEXT NOT NULL,             -- decimal uint256
    revoked      BIGINT  NOT NULL,          -- 1 revoked, 0 cleared
    tx_hash      TEXT NOT NULL,
    PRIMARY KEY (chain, block_number, log_index)
);

-- Which status registry a chain's status events came from: when the config
-- names another one, the chain is indexed again from the start.
CREATE TABLE IF NOT EXISTS ethr_status_source (
    chain    TEXT PRIMARY KEY,
    registry TEXT NOT NULL                  -- lowercase 0x address, '' when none is followed
);
