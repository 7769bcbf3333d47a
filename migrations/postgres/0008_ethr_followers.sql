-- Running did:ethr followers (did-registry/src/ethr/follower.rs): each gateway
-- process records, per chain, the block up to which its in-memory state (the
-- DID document cache, the revoked set) has applied the index, with a
-- heartbeat. The registry write commands wait on it (gateway/src/chains.rs)
-- until every follower that may still be serving has applied their block. A
-- follower writes its row after a round that moved it, and at least every
-- second otherwise; it deletes its row when it stops. Rows of crashed
-- processes are ignored once their heartbeat is older than their staleness
-- bound (they refuse did:ethr by then) and deleted after a day.
CREATE TABLE IF NOT EXISTS ethr_followers (
    chain            TEXT NOT NULL,          -- network name from the config
    follower         TEXT NOT NULL,          -- one running follower: "<instance>/<uuid>"
    instance         TEXT NOT NULL,          -- [server] instance of its gateway, for messages
    applied_block    BIGINT NOT NULL,        -- its cache and revoked set reflect every block up to this
    heartbeat_ms     BIGINT NOT NULL,        -- unix ms of its last successful round that wrote this row
    poll_ms          BIGINT NOT NULL,        -- its poll interval
    max_staleness_ms BIGINT NOT NULL,        -- it refuses did:ethr this long after its last successful round
    confirmations    BIGINT NOT NULL,        -- blocks it waits before indexing a block
    PRIMARY KEY (chain, follower)
);
