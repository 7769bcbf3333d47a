-- The decisions table becomes an index of the transparency log of record
-- (audit/src/tlog/): each row names its entry in its gateway's log, and
-- carries the two members the log added (the policy set's hash and the ids
-- of the credentials presented). Rows written before the log have NULLs.
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS log_id TEXT;                 -- the log's first leaf hash, hex
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS log_index BIGINT;
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS policy_set TEXT;
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS credential_ids JSONB NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX IF NOT EXISTS decisions_log_index ON decisions (gateway, log_id, log_index);

-- How far each log has been indexed: the next entry and its byte offset in
-- its entries.log. A log is named by its gateway's instance name and its
-- own identity (the hash of its first leaf), so two logs under one name
-- never share a cursor. Moved in the transaction that inserts the rows, so
-- a row is indexed once however the indexer stops.
CREATE TABLE IF NOT EXISTS decision_log_cursor (
    gateway      TEXT NOT NULL,
    log_id       TEXT NOT NULL,
    next_index   BIGINT NOT NULL,
    byte_offset  BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    PRIMARY KEY (gateway, log_id)
);
