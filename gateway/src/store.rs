//! The gateway's database: SQLite embedded by default, PostgreSQL when several
//! gateways share state. Migrations are compiled into the binary and applied
//! at connect time; both backends store the same rows.

use std::str::FromStr;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {url:?} is not usable: {source}")]
    BadUrl { url: String, source: sqlx::Error },
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// A row's key is taken (a duplicate id).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Query(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// A connection whose transaction failed is closed, never reused. SQLite may
/// end a transaction itself (a full disk, an I/O error, `INSERT OR
/// ROLLBACK`); sqlx's own ROLLBACK then fails and its count of open
/// transactions stays one too high, so the connection's next BEGIN becomes a
/// SAVEPOINT, and after one more failure a RELEASE that commits nothing,
/// ever: writes that no other connection sees and that vanish with this one.
/// A new connection is outside any transaction for certain.
fn close_failed<DB: sqlx::Database, T, E>(
    conn: &mut sqlx::pool::PoolConnection<DB>,
    written: &Result<T, E>,
) {
    if written.is_err() {
        conn.close_on_drop();
    }
}

/// Run the same statement on whichever pool the store has: the SQL is
/// written once, with `$1`… placeholders. PostgreSQL binds `$N` to the N-th
/// argument; so does sqlx's SQLite driver (it reads the number from each
/// parameter's name, `sqlx-sqlite` `arguments.rs`), whatever the order the
/// parameters appear in, and a `$N` used twice is one parameter.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// A connection pool to one of the supported backends.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Connect and bring the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(StoreError::Connect)?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Ok(Store::Postgres(pool))
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|source| StoreError::BadUrl {
                    url: url.to_owned(),
                    source,
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // Statement journals (each multi-row INSERT keeps one in case
                // it must be undone alone) in memory, not in temporary files.
                .pragma("temp_store", "memory")
                // Pages read through a memory map instead of a pread copy each.
                .pragma("mmap_size", "268435456")
                // A page cache that holds the decision log's hot index pages
                // (the default 2 MB spilled and re-read them on every batch).
                .pragma("cache_size", "-65536")
                // Checkpoint every 40 MB of WAL instead of 4 MB: an index page
                // written by many commits is copied to the database once.
                .pragma("wal_autocheckpoint", "10000")
                .busy_timeout(std::time::Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .map_err(StoreError::Connect)?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Ok(Store::Sqlite(pool))
        }
    }

    /// A store on its own connection to the same database, for the
    /// decision-log writer: it keeps its page cache (SQLite: a pool's
    /// connections each keep their own, and re-read what another connection
    /// wrote), and its thread runs at a lower priority than the request path
    /// (`nice` +10), so a batch being written does not hold up requests on a
    /// busy core; it still gets its share, and a queue that fills makes
    /// requests wait for room (or refuses them while writes fail) rather
    /// than drop decisions. The same pool for PostgreSQL
    /// (the writing happens in the server).
    pub async fn dedicated(&self) -> Result<Self, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let opts = (*pool.connect_options())
                    .clone()
                    .thread_name(|id| format!("{WRITER_THREAD}{id}"));
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    // Also for a connection opened again after a failed
                    // write closed the first (`audit::DecisionDb::insert`).
                    .after_connect(|_, _| {
                        Box::pin(async {
                            lower_priority(WRITER_THREAD, 10);
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .map_err(StoreError::Connect)?;
                Ok(Store::Sqlite(pool))
            }
            Store::Postgres(pool) => Ok(Store::Postgres(pool.clone())),
        }
    }

    /// The did:ethr event index, in this same database.
    pub fn event_index(&self) -> did_registry::ethr::EventIndex {
        match self {
            Store::Sqlite(p) => did_registry::ethr::EventIndex::Sqlite(p.clone()),
            Store::Postgres(p) => did_registry::ethr::EventIndex::Postgres(p.clone()),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The decision log's table in this database (the `audit` crate's SQL).
    pub fn decisions(&self) -> audit::DecisionDb {
        match self {
            Store::Sqlite(p) => audit::DecisionDb::Sqlite(p.clone()),
            Store::Postgres(p) => audit::DecisionDb::Postgres(p.clone()),
        }
    }

    /// The key risk profiles hash values with: created once, then shared by
    /// every gateway on this database.
    pub async fn risk_hash_key(&self) -> Result<[u8; 16], StoreError> {
        let fresh: [u8; 16] = rand::random();
        let fresh = hex::encode(fresh);
        const INSERT: &str = "INSERT INTO risk_settings (name, value) VALUES ('hash_key', $1) \
             ON CONFLICT (name) DO NOTHING";
        const SELECT: &str = "SELECT value FROM risk_settings WHERE name = 'hash_key'";
        let stored: String = on_pool!(self, |pool| {
            sqlx::query(INSERT).bind(&fresh).execute(pool).await?;
            sqlx::query_scalar(SELECT).fetch_one(pool).await
        })?;
        parse_hex16(&stored).ok_or_else(|| {
            StoreError::Query(sqlx::Error::Decode(
                "risk_settings.hash_key is not 32 hex digits".into(),
            ))
        })
    }

    /// Upsert risk profiles (subject, JSON) written by `gateway` at `now_ms`,
    /// in one transaction.
    pub async fn save_risk_profiles(
        &self,
        rows: &[(String, i64, String)],
        gateway: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        const UPSERT: &str = "INSERT INTO risk_profiles (subject, updated_ms, gateway, profile) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO UPDATE SET \
             updated_ms = excluded.updated_ms, gateway = excluded.gateway, profile = excluded.profile";
        // The same statement; each backend ends a failed transaction its own
        // way (see `close_failed`).
        match self {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let written: Result<(), sqlx::Error> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    for (subject, _, json) in rows {
                        sqlx::query(UPSERT)
                            .bind(subject)
                            .bind(now_ms)
                            .bind(gateway)
                            .bind(json)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await
                }
                .await;
                close_failed(&mut conn, &written);
                written?;
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (subject, _, json) in rows {
                    sqlx::query(UPSERT)
                        .bind(subject)
                        .bind(now_ms)
                        .bind(gateway)
                        .bind(json)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Risk profiles written at or after `since_ms` by gateways other than
    /// `exclude_gateway` (all of them when `None`), newest last, at most `limit`.
    pub async fn load_risk_profiles(
        &self,
        since_ms: i64,
        exclude_gateway: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        let exclude = exclude_gateway.unwrap_or("");
        const Q: &str = "SELECT subject, updated_ms, profile FROM risk_profiles \
             WHERE updated_ms >= $1 AND gateway <> $2 ORDER BY updated_ms DESC LIMIT $3";
        let rows: Vec<(String, i64, String)> = on_pool!(self, |pool| sqlx::query_as(Q)
            .bind(since_ms)
            .bind(exclude)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(p) => p.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }
}

/// Name prefix of the decision-log writer's SQLite thread (at most 15
/// characters with its number: the kernel's thread name limit).
const WRITER_THREAD: &str = "dg-audit-";

/// Raise the nice value of this process's threads named `prefix…` to `nice`
/// (Linux: `setpriority` on a thread id applies to that thread only). A
/// failure is logged, never fatal: priority is an optimisation.
fn lower_priority(prefix: &str, nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for task in tasks.flatten() {
            let named = std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with(prefix));
            let tid = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw);
            if let (true, Some(tid)) = (named, tid) {
                if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
                    tracing::warn!(error = %e, "cannot lower the decision-log writer's priority");
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (prefix, nice);
}

fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

/// A browser session as stored (`sessions` table).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub subject: String,
    pub holder_key: String,
    /// The VC-JWTs of the login (a JSON array in the table).
    pub credentials: Vec<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub last_seen_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RawSessionRow {
    subject: String,
    holder_key: String,
    credentials: String,
    created_ms: i64,
    expires_ms: i64,
    last_seen_ms: i64,
    revoked_ms: Option<i64>,
}

/// One line of `didgate sessions`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionSummary {
    pub id_hash: String,
    pub subject: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub last_seen_ms: i64,
    pub revoked_ms: Option<i64>,
    pub gateway: String,
}

/// An OpenID4VP login a wallet has answered (`login_requests` table).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRow {
    pub state: String,
    pub browser_hash: String,
    pub return_to: String,
    /// 1 when the browser's session asked for this login (a step-up).
    pub step_up: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub status: LoginStatus,
    pub code_hash: Option<String>,
    pub result: Option<String>,
    pub last_error: Option<String>,
}

/// Where a login a wallet has answered stands (`login_requests.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStatus {
    /// No answer accepted yet: the presentations so far were refused.
    Pending,
    /// A presentation was accepted: the browser may finish the login, once.
    Presented,
    /// The wallet declined (or failed).
    Declined,
    /// The browser finished the login: a session was opened.
    Done,
}

impl LoginStatus {
    /// The value in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginStatus::Pending => "pending",
            LoginStatus::Presented => "presented",
            LoginStatus::Declined => "declined",
            LoginStatus::Done => "done",
        }
    }

    /// A `status` column's value; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [
            LoginStatus::Pending,
            LoginStatus::Presented,
            LoginStatus::Declined,
            LoginStatus::Done,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A `login_requests` row as read, its status still text.
#[derive(sqlx::FromRow)]
struct RawLoginRow {
    state: String,
    browser_hash: String,
    return_to: String,
    step_up: i64,
    created_ms: i64,
    expires_ms: i64,
    status: String,
    code_hash: Option<String>,
    result: Option<String>,
    last_error: Option<String>,
}

impl TryFrom<RawLoginRow> for LoginRow {
    type Error = StoreError;

    /// A row whose status is none of [`LoginStatus`]'s is an error.
    fn try_from(r: RawLoginRow) -> Result<Self, StoreError> {
        let status = LoginStatus::parse(&r.status).ok_or_else(|| {
            StoreError::Query(sqlx::Error::Decode(
                format!(
                    "login_requests.status {:?} is not pending, presented, declined or done",
                    r.status
                )
                .into(),
            ))
        })?;
        Ok(LoginRow {
            state: r.state,
            browser_hash: r.browser_hash,
            return_to: r.return_to,
            step_up: r.step_up,
            created_ms: r.created_ms,
            expires_ms: r.expires_ms,
            status,
            code_hash: r.code_hash,
            result: r.result,
            last_error: r.last_error,
        })
    }
}

const SESSION_COLUMNS: &str =
    "subject, holder_key, credentials, created_ms, expires_ms, last_seen_ms, revoked_ms";
const LOGIN_COLUMNS: &str = "state, browser_hash, return_to, step_up, created_ms, expires_ms, \
     status, code_hash, result, last_error";

impl Store {
    pub async fn insert_session(
        &self,
        id_hash: &str,
        row: &SessionRow,
        gateway: &str,
    ) -> Result<(), StoreError> {
        let credentials = serde_json::to_string(&row.credentials).unwrap_or_else(|_| "[]".into());
        const Q: &str = "INSERT INTO sessions (id_hash, subject, holder_key, credentials, \
             created_ms, expires_ms, last_seen_ms, revoked_ms, gateway) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)";
        on_pool!(self, |pool| sqlx::query(Q)
            .bind(id_hash)
            .bind(&row.subject)
            .bind(&row.holder_key)
            .bind(&credentials)
            .bind(row.created_ms)
            .bind(row.expires_ms)
            .bind(row.last_seen_ms)
            .bind(gateway)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn load_session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        let raw = on_pool!(self, |pool| sqlx::query_as::<_, RawSessionRow>(&q)
            .bind(id_hash)
            .fetch_optional(pool)
            .await)?;
        raw.map(|r| {
            let credentials = serde_json::from_str(&r.credentials).map_err(|e| {
                StoreError::Query(sqlx::Error::Decode(
                    format!("sessions.credentials is not a JSON array of strings: {e}").into(),
                ))
            })?;
            Ok(SessionRow {
                subject: r.subject,
                holder_key: r.holder_key,
                credentials,
                created_ms: r.created_ms,
                expires_ms: r.expires_ms,
                last_seen_ms: r.last_seen_ms,
                revoked_ms: r.revoked_ms,
            })
        })
        .transpose()
    }

    /// Record the newest use of each session (never moves a last use back).
    pub async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<(), StoreError> {
        const Q: &str = "UPDATE sessions SET last_seen_ms = $1 \
             WHERE id_hash = $2 AND last_seen_ms < $1";
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            let written: Result<(), sqlx::Error> = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                for (id, at) in seen {
                    sqlx::query(Q).bind(at).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await;
            close_failed(&mut conn, &written);
            written
        })?;
        Ok(())
    }

    /// Revoke one session; whether it was live.
    pub async fn revoke_session(&self, id_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        const Q: &str =
            "UPDATE sessions SET revoked_ms = $1 WHERE id_hash = $2 AND revoked_ms IS NULL";
        let n = on_pool!(self, |pool| sqlx::query(Q)
            .bind(now_ms)
            .bind(id_hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Revoke every live session of `subject`; how many.
    pub async fn revoke_sessions_of(&self, subject: &str, now_ms: i64) -> Result<u64, StoreError> {
        const Q: &str = "UPDATE sessions SET revoked_ms = $1 \
             WHERE subject = $2 AND revoked_ms IS NULL AND expires_ms > $1";
        Ok(on_pool!(self, |pool| sqlx::query(Q)
            .bind(now_ms)
            .bind(subject)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Sessions revoked at or after `since_ms`: (id hash, when).
    pub async fn sessions_revoked_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        const Q: &str = "SELECT id_hash, revoked_ms FROM sessions \
             WHERE revoked_ms >= $1 ORDER BY revoked_ms LIMIT 10000";
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, (String, i64)>(
            Q
        )
        .bind(since_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// Sessions, newest first: live ones only unless `all`, of one subject if given.
    pub async fn list_sessions(
        &self,
        subject: Option<&str>,
        all: bool,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        const Q: &str = "SELECT id_hash, subject, created_ms, expires_ms, last_seen_ms, \
             revoked_ms, gateway FROM sessions \
             WHERE ($1 OR (revoked_ms IS NULL AND expires_ms > $2)) AND ($3 = '' OR subject = $3) \
             ORDER BY created_ms DESC LIMIT $4";
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, SessionSummary>(
            Q
        )
        .bind(all)
        .bind(now_ms)
        .bind(subject.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Delete sessions and login requests that ended before `before_ms`.
    pub async fn delete_ended(&self, before_ms: i64) -> Result<(), StoreError> {
        const Q1: &str = "DELETE FROM sessions WHERE expires_ms < $1";
        const Q2: &str = "DELETE FROM login_requests WHERE expires_ms < $1";
        on_pool!(self, |pool| {
            sqlx::query(Q1).bind(before_ms).execute(pool).await?;
            sqlx::query(Q2)
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Record a wallet's answer to a login: a new row, or an update of one
    /// still pending (earlier answers were refused). Whether it was recorded:
    /// `false` when the login was answered (presented, declined) already.
    pub async fn record_login_answer(&self, row: &LoginRow) -> Result<bool, StoreError> {
        let q = format!(
            "INSERT INTO login_requests ({LOGIN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (state) DO UPDATE SET status = excluded.status, \
             code_hash = excluded.code_hash, result = excluded.result, \
             last_error = excluded.last_error \
             WHERE login_requests.status = $11"
        );
        Ok(on_pool!(self, |pool| sqlx::query(&q)
            .bind(&row.state)
            .bind(&row.browser_hash)
            .bind(&row.return_to)
            .bind(row.step_up)
            .bind(row.created_ms)
            .bind(row.expires_ms)
            .bind(row.status.as_str())
            .bind(&row.code_hash)
            .bind(&row.result)
            .bind(&row.last_error)
            .bind(LoginStatus::Pending.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0))?)
    }

    pub async fn load_login(&self, state: &str) -> Result<Option<LoginRow>, StoreError> {
        self.load_login_by(LoginKey::State(state)).await
    }

    /// A login by its state or by its response code's hash.
    pub async fn load_login_by(&self, by: LoginKey<'_>) -> Result<Option<LoginRow>, StoreError> {
        let (column, value) = by.column();
        let q = format!("SELECT {LOGIN_COLUMNS} FROM login_requests WHERE {column} = $1");
        let raw = on_pool!(self, |pool| sqlx::query_as::<_, RawLoginRow>(&q)
            .bind(value)
            .fetch_optional(pool)
            .await)?;
        raw.map(LoginRow::try_from).transpose()
    }

    /// Keep a policy bundle under its hash (64 hex digits); a bundle kept
    /// already stays as it is.
    pub async fn put_policy_bundle(
        &self,
        hash: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const INSERT: &str =
            "INSERT INTO policy_bundles (hash, bytes, added_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (hash) DO NOTHING";
        on_pool!(self, |pool| {
            sqlx::query(INSERT)
                .bind(hash)
                .bind(bytes)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The bytes kept under a policy bundle's hash (not checked here).
    pub async fn policy_bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const SELECT: &str = "SELECT bytes FROM policy_bundles WHERE hash = $1";
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(SELECT)
                .bind(hash)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// A 32-byte secret shared by every gateway on this database, created by
    /// the first one that asks for it.
    pub async fn shared_key(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let fresh: [u8; 32] = rand::random();
        let fresh = hex::encode(fresh);
        const INSERT: &str =
            "INSERT INTO gateway_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        const SELECT: &str = "SELECT value FROM gateway_keys WHERE name = $1";
        let stored: String = on_pool!(self, |pool| {
            sqlx::query(INSERT)
                .bind(name)
                .bind(&fresh)
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT).bind(name).fetch_one(pool).await
        })?;
        let mut key = [0u8; 32];
        let ok = hex::decode_to_slice(&stored, &mut key).is_ok();
        if !ok {
            return Err(StoreError::Query(sqlx::Error::Decode(
                format!("gateway_keys.{name} is not 64 hex digits").into(),
            )));
        }
        Ok(key)
    }

    /// Finish a presented login for the browser that started it: by its
    /// response code (same device) or by its state (the login page's poll).
    /// Single use: the row moves to `done` and is returned to one caller only.
    pub async fn login_complete(
        &self,
        by: LoginKey<'_>,
        browser_hash: &str,
        now_ms: i64,
    ) -> Result<Option<LoginRow>, StoreError> {
        let (column, value) = by.column();
        let q = format!(
            "UPDATE login_requests SET status = $1 \
             WHERE {column} = $2 AND browser_hash = $3 AND status = $4 AND expires_ms > $5 \
             RETURNING {LOGIN_COLUMNS}"
        );
        let raw = on_pool!(self, |pool| sqlx::query_as::<_, RawLoginRow>(&q)
            .bind(LoginStatus::Done.as_str())
            .bind(value)
            .bind(browser_hash)
            .bind(LoginStatus::Presented.as_str())
            .bind(now_ms)
            .fetch_optional(pool)
            .await)?;
        raw.map(LoginRow::try_from).transpose()
    }
}

/// How a browser names the login it finishes.
#[derive(Debug, Clone, Copy)]
pub enum LoginKey<'a> {
    /// The response code's hash (from the wallet's redirect).
    Code(&'a str),
    /// The request's state (the login page's poll).
    State(&'a str),
}

impl<'a> LoginKey<'a> {
    fn column(self) -> (&'static str, &'a str) {
        match self {
            LoginKey::Code(c) => ("code_hash", c),
            LoginKey::State(s) => ("state", s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LoginKey, LoginRow, LoginStatus, Store, WRITER_THREAD};

    #[test]
    fn login_statuses_read_back_as_written() {
        for s in [
            LoginStatus::Pending,
            LoginStatus::Presented,
            LoginStatus::Declined,
            LoginStatus::Done,
        ] {
            assert_eq!(LoginStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(LoginStatus::parse("Pending"), None);
        assert_eq!(LoginStatus::parse(""), None);
    }

    /// A login is answered once and completed once; a row with a status the
    /// gateway does not know is a store error (the login is refused as
    /// unavailable), never a panic.
    #[tokio::test]
    async fn login_rows_keep_their_status_and_an_unknown_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("didgate-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let store = Store::connect(&format!("sqlite://{}", dir.join("s.db").display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let row = LoginRow {
            state: "s1".into(),
            browser_hash: "b".into(),
            return_to: "/".into(),
            step_up: 0,
            created_ms: 1,
            expires_ms: i64::MAX,
            status: LoginStatus::Presented,
            code_hash: Some("c".into()),
            result: None,
            last_error: None,
        };
        assert!(store.record_login_answer(&row).await.unwrap_or(false));
        assert_eq!(
            store.load_login("s1").await.ok().flatten(),
            Some(row.clone())
        );
        assert!(
            !store.record_login_answer(&row).await.unwrap_or(true),
            "answered once"
        );
        let done = store.login_complete(LoginKey::Code("c"), "b", 2).await;
        let done = done.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.map(|r| r.status), Some(LoginStatus::Done));
        let again = store.login_complete(LoginKey::State("s1"), "b", 2).await;
        assert!(again.is_ok_and(|r| r.is_none()), "completed once");
        let Store::Sqlite(pool) = &store else {
            panic!("sqlite")
        };
        sqlx::query("UPDATE login_requests SET status = 'finished' WHERE state = 's1'")
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = store.load_login("s1").await;
        assert!(
            read.as_ref()
                .is_err_and(|e| e.to_string().contains("finished")),
            "{read:?}"
        );
        let read = store.load_login_by(LoginKey::Code("c")).await;
        assert!(read.is_err(), "{read:?}");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The nice value of this process's threads named `prefix…`.
    #[cfg(target_os = "linux")]
    fn nice_of(prefix: &str) -> Vec<i64> {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name; nice is the 19th field.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            if let Some(n) = rest.split_whitespace().nth(16).and_then(|n| n.parse().ok()) {
                out.push(n);
            }
        }
        out
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_decision_log_writer_runs_below_the_request_path() {
        let dir = std::env::temp_dir().join(format!("didgate-nice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let store = Store::connect(&format!("sqlite://{}", dir.join("n.db").display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let writer = store.dedicated().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nice_of(WRITER_THREAD), vec![10], "the writer's thread");
        assert!(
            nice_of("sqlx-sqlite-wor").iter().all(|n| *n == 0),
            "other connections keep the default priority"
        );
        writer.close().await;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
