-- Policy bundles by hash, for `[policy.governance] bundles = "database"`:
-- every gateway of a fleet sharing this database fetches the bundle its
-- administrators approved on chain from here (`didgate policy propose`
-- writes it). Content-addressed: a row is never changed, and every read is
-- checked against the hash approved on chain before use.
CREATE TABLE IF NOT EXISTS policy_bundles (
    hash     TEXT PRIMARY KEY,          -- 64 lowercase hex digits: SHA-256 of bytes
    bytes    BYTEA NOT NULL,            -- the bundle's canonical encoding
    added_ms BIGINT NOT NULL
);
