-- The decisions table becomes an index of the transparency log of record
-- (audit/src/tlog/): each row names its entry in its gateway's log, and
-- carries the two members the log added (the policy set's hash and the ids
-- of the credentials presented). Rows written before the log have NULLs.
ALTER TABLE decisions ADD COLUMN log_id TEXT;                 -- the log's first leaf hash, hex
ALTER TABLE decisions ADD COLUMN log_index INTEGER;
ALTER TABLE decisions ADD COLUMN policy_set TEXT;               -- 64 hex digits
ALTER TABLE decisions ADD COLUMN credential_ids TEXT NOT NULL DEFAULT '[]'; -- JSON array
CREATE INDEX IF NOT EXISTS decisions_log_index ON decisions (gateway, log_id, log_index);

-- How far each log has been indexed: the next entry and its byte offset in
-- its entries.log. A log is named by its gateway's instance name and its
-- own identity (the hash of its first leaf), so two logs under one name
-- never share a cursor. Moved in the transaction that inserts the rows, so
-- a row is indexed once however the indexer stops.
CREATE TABLE IF NOT EXISTS decision_log_cursor (
    gateway      TEXT NOT NULL,
    log_id       TEXT NOT NULL,
    next_index   INTEGER NOT NULL,
    byte_offset  INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    PRIMARY KEY (gateway, log_id)
);
