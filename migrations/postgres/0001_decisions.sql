-- Every access decision the gateway makes, one row each (allow, deny, step-up, refusal).
CREATE TABLE IF NOT EXISTS decisions (
    id            TEXT PRIMARY KEY,          -- UUIDv7, also sent upstream as the assertion's jti
    ts_ms         BIGINT NOT NULL,           -- unix milliseconds
    gateway       TEXT NOT NULL,             -- which gateway instance decided
    route         TEXT,                      -- route (app) name, NULL when no route matched
    method        TEXT NOT NULL,
    host          TEXT NOT NULL,
    path          TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    subject       TEXT,                      -- holder DID when authenticated
    auth_method   TEXT,
    credential_types JSONB NOT NULL DEFAULT '[]'::jsonb,
    issuers       JSONB NOT NULL DEFAULT '[]'::jsonb,
    effect        TEXT NOT NULL,             -- allow | deny | step_up
    status        INTEGER,                   -- HTTP status of a refusal; NULL when forwarded
    reason        TEXT NOT NULL,
    policies      JSONB NOT NULL DEFAULT '[]'::jsonb,
    risk_score    DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts_ms);
CREATE INDEX IF NOT EXISTS decisions_subject_ts ON decisions (subject, ts_ms);
