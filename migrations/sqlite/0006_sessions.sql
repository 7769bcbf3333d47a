-- Browser sessions (gateway/src/session.rs) and the OpenID4VP logins that
-- open them (gateway/src/login.rs). Neither table holds a secret a browser
-- could present: sessions are keyed by the SHA-256 of the cookie's secret,
-- logins by the request's public `state` plus the SHA-256 of the browser's
-- login cookie and of the response code.

CREATE TABLE IF NOT EXISTS sessions (
    id_hash       TEXT PRIMARY KEY,          -- hex SHA-256 of the session cookie's 32-byte secret
    subject       TEXT NOT NULL,             -- the holder DID that logged in
    holder_key    TEXT NOT NULL,             -- DID URL of the key that signed the login presentation
    credentials   TEXT NOT NULL,             -- JSON array of the VC-JWTs presented (re-verified on load)
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,          -- absolute end: login + lifetime, never past a credential's expiry
    last_seen_ms  INTEGER NOT NULL,          -- newest use any gateway has written (flushed every few seconds)
    revoked_ms    INTEGER,                   -- logout or `didgate sessions revoke`; NULL while valid
    gateway       TEXT NOT NULL              -- the instance that opened it
);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject);
CREATE INDEX IF NOT EXISTS sessions_revoked ON sessions (revoked_ms);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_ms);

-- A login request lives in its own `state` (authenticated with the key in
-- gateway_keys), so showing a login page writes nothing; a row appears once a
-- wallet answers.
CREATE TABLE IF NOT EXISTS login_requests (
    state         TEXT PRIMARY KEY,          -- the authorization request's state (public: it is in the QR code)
    browser_hash  TEXT NOT NULL,             -- hex SHA-256 of the login cookie of the browser that asked
    return_to     TEXT NOT NULL,             -- where the browser goes after the login (a local path)
    step_up       INTEGER NOT NULL,          -- 1: the browser's session asked for a fresh login
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    status        TEXT NOT NULL,             -- pending (answers refused so far) | presented | declined | done
    code_hash     TEXT,                      -- hex SHA-256 of the response code, once presented
    result        TEXT,                      -- JSON {holder, holder_key, credentials} once presented
    last_error    TEXT                       -- reason code of the last refused answer
);
CREATE INDEX IF NOT EXISTS login_requests_expires ON login_requests (expires_ms);
CREATE INDEX IF NOT EXISTS login_requests_code ON login_requests (code_hash);

-- Secrets every gateway on this database shares (hex): 'login_state', the
-- HMAC-SHA256 key that authenticates login requests' state.
CREATE TABLE IF NOT EXISTS gateway_keys (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
