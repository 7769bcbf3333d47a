-- Behavioral risk (risk/): the factors behind each decision's score, the
-- per-identity profiles, and the key their value hashes are made with.
ALTER TABLE decisions ADD COLUMN risk_factors TEXT NOT NULL DEFAULT '[]'; -- JSON [{"name":…,"weight":…}], largest first

-- One profile per identity (a DID): hashed, decayed summaries of its networks,
-- devices, hours, paths and rates (a few KiB of JSON). Written every few
-- seconds by each gateway; a gateway folds in rows written by its peers.
CREATE TABLE IF NOT EXISTS risk_profiles (
    subject     TEXT PRIMARY KEY,
    updated_ms  INTEGER NOT NULL,            -- wall clock of the write, unix ms
    gateway     TEXT NOT NULL,               -- instance that wrote it last
    profile     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_profiles_updated ON risk_profiles (updated_ms);

CREATE TABLE IF NOT EXISTS risk_settings (
    name  TEXT PRIMARY KEY,                  -- 'hash_key': hex, shared by every gateway on this database
    value TEXT NOT NULL
);
