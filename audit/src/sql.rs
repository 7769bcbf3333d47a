//! The decision log's SQL: the `decisions` table (its migrations are the
//! gateway's, in `migrations/`) on SQLite or PostgreSQL, written in batches
//! and read back newest first.

use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row};

use crate::record::DecisionRecord;
use crate::tlog::{decode_row, DecisionRow, Entry, EntryError};

/// The database the decision log is written to: the same pool the gateway
/// uses, or one of its own.
#[derive(Clone, Debug)]
pub enum DecisionDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A row's key is taken (a duplicate id).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A connection whose transaction failed is closed, never reused: SQLite may
/// end a transaction itself (a full disk, an I/O error, `INSERT OR
/// ROLLBACK`), and sqlx's count of open transactions then stays one too
/// high, so the connection's next BEGIN would become a SAVEPOINT that
/// commits nothing (the gateway's `store.rs` says more).
fn close_failed<DB: sqlx::Database, T, E>(
    conn: &mut sqlx::pool::PoolConnection<DB>,
    written: &Result<T, E>,
) {
    if written.is_err() {
        conn.close_on_drop();
    }
}

/// An entry of a gateway's log, read back for the index (borrowing from
/// the segment it was read from).
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed<'a> {
    /// Its index in its gateway's log.
    pub index: u64,
    pub decision: DecisionRow<'a>,
}

impl Indexed<'static> {
    /// A record as the log holds it (encoded, then read back): what the
    /// indexer would insert for it. Tests and benches.
    pub fn from_record(index: u64, rec: &DecisionRecord) -> Result<Self, EntryError> {
        let mut buf = Vec::new();
        Entry {
            record: rec,
            policy_set: &rec.policy_set,
            credential_ids: &rec.credential_ids,
        }
        .encode_into(&mut buf)?;
        Ok(Indexed {
            index,
            decision: decode_row(&buf)?.into_owned(),
        })
    }
}

/// One log as the index knows it: the gateway that writes it (its instance
/// name) and the log's own identity, the hex RFC 9162 hash of its first
/// leaf. Two logs under one instance name (two gateways misconfigured with
/// the same name, or a log started afresh) are indexed apart, never into
/// each other's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRef {
    pub gateway: Arc<str>,
    pub log_id: String,
}

/// Where a decision is: the log it is in and its index there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub gateway: String,
    /// `None` for rows written before the transparency log.
    pub log_id: Option<String>,
    pub index: Option<u64>,
}

/// How far a gateway's log is indexed: the next entry, and where it starts
/// in its segment (bundle) of 256 (kept for operators; the indexer finds
/// it again from the index alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub next_index: u64,
    pub byte_offset: u64,
}

/// Move `gateway`'s cursor inside the transaction `tx` (one statement text
/// for both databases: [`SET_CURSOR`]).
macro_rules! set_cursor {
    ($tx:expr, $log:expr, $next:expr, $offset:expr, $now_ms:expr) => {
        sqlx::query(SET_CURSOR)
            .bind(&*$log.gateway)
            .bind($log.log_id.as_str())
            .bind($next)
            .bind($offset)
            .bind($now_ms)
            .execute($tx)
            .await?
    };
}

fn to_i64(n: u64) -> Result<i64, sqlx::Error> {
    i64::try_from(n).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

impl DecisionDb {
    /// Index a run of `log`'s entries and move its cursor to `cursor`, in
    /// one transaction: all rows and the cursor, or nothing.
    pub async fn index(
        &self,
        log: &LogRef,
        rows: &[Indexed<'_>],
        cursor: Cursor,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        // Multi-row INSERTs of a few fixed sizes (64, 32, …, 1 rows), so each
        // is prepared once per connection and then served from the
        // statement cache: a statement built for every batch's own size was
        // prepared anew each time, and preparing a statement of hundreds of
        // rows cost more than inserting them.
        let chunks = fixed_chunks(rows);
        let next = to_i64(cursor.next_index)?;
        let offset = to_i64(cursor.byte_offset)?;
        match self {
            DecisionDb::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let written: Result<(), sqlx::Error> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    for chunk in chunks {
                        let mut qb =
                            insert_builder::<sqlx::Sqlite>(chunk, &log.log_id, SQLITE_INSERT, "")?;
                        qb.build().execute(&mut *tx).await?;
                    }
                    set_cursor!(&mut *tx, log, next, offset, now_ms);
                    tx.commit().await
                }
                .await;
                // INSERT OR ROLLBACK, a full disk or an I/O error end the
                // transaction in SQLite itself: see `close_failed`.
                close_failed(&mut conn, &written);
                written?;
            }
            DecisionDb::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in chunks {
                    let mut qb =
                        insert_builder::<sqlx::Postgres>(chunk, &log.log_id, "INSERT", "::jsonb")?;
                    qb.build().execute(&mut *tx).await?;
                }
                set_cursor!(&mut *tx, log, next, offset, now_ms);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Where `log`'s index stands (its start when it has none yet).
    pub async fn cursor(&self, log: &LogRef) -> Result<Cursor, sqlx::Error> {
        const Q: &str = "SELECT next_index, byte_offset FROM decision_log_cursor \
                         WHERE gateway = $1 AND log_id = $2";
        let row: Option<(i64, i64)> = match self {
            DecisionDb::Sqlite(pool) => {
                sqlx::query_as(Q)
                    .bind(&*log.gateway)
                    .bind(log.log_id.as_str())
                    .fetch_optional(pool)
                    .await?
            }
            DecisionDb::Postgres(pool) => {
                sqlx::query_as(Q)
                    .bind(&*log.gateway)
                    .bind(log.log_id.as_str())
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(row.map_or(Cursor::default(), |(n, o)| Cursor {
            next_index: u64::try_from(n).unwrap_or(0),
            byte_offset: u64::try_from(o).unwrap_or(0),
        }))
    }

    /// Forget `log`'s rows from entry `cursor.next_index` on and move its
    /// cursor there: the log is shorter than its index (a power loss took
    /// entries not yet fsynced).
    pub async fn rewind(
        &self,
        log: &LogRef,
        cursor: Cursor,
        now_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        const DELETE: &str =
            "DELETE FROM decisions WHERE gateway = $1 AND log_id = $2 AND log_index >= $3";
        let next = to_i64(cursor.next_index)?;
        let offset = to_i64(cursor.byte_offset)?;
        macro_rules! rewind {
            ($begin:expr) => {{
                let mut tx = $begin;
                let gone = sqlx::query(DELETE)
                    .bind(&*log.gateway)
                    .bind(log.log_id.as_str())
                    .bind(next)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                set_cursor!(&mut *tx, log, next, offset, now_ms);
                tx.commit().await?;
                gone
            }};
        }
        Ok(match self {
            DecisionDb::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let done: Result<u64, sqlx::Error> =
                    async { Ok(rewind!(sqlx::Connection::begin(&mut *conn).await?)) }.await;
                close_failed(&mut conn, &done);
                done?
            }
            DecisionDb::Postgres(pool) => rewind!(pool.begin().await?),
        })
    }

    /// The log and index of decision `id`, if it is indexed.
    pub async fn locate(&self, id: &str) -> Result<Option<Located>, sqlx::Error> {
        const Q: &str = "SELECT gateway, log_id, log_index FROM decisions WHERE id = $1";
        let row: Option<(String, Option<String>, Option<i64>)> = match self {
            DecisionDb::Sqlite(pool) => sqlx::query_as(Q).bind(id).fetch_optional(pool).await?,
            DecisionDb::Postgres(pool) => sqlx::query_as(Q).bind(id).fetch_optional(pool).await?,
        };
        Ok(row.map(|(gateway, log_id, i)| Located {
            gateway,
            log_id,
            index: i.and_then(|i| u64::try_from(i).ok()),
        }))
    }

    /// The newest decisions first (admin views and tests).
    pub async fn recent(&self, limit: i64) -> Result<Vec<StoredDecision>, sqlx::Error> {
        const Q_SQLITE: &str =
            "SELECT id, ts_ms, route, method, path, subject, effect, status, reason, \
             policies, risk_score, risk_factors FROM decisions ORDER BY id DESC LIMIT ?";
        const Q_PG: &str =
            "SELECT id, ts_ms, route, method, path, subject, effect, status, reason, \
             policies::text AS policies, risk_score, risk_factors::text AS risk_factors \
             FROM decisions ORDER BY id DESC LIMIT $1";
        let rows = match self {
            DecisionDb::Sqlite(pool) => sqlx::query(Q_SQLITE)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(StoredDecision::from_sqlite)
                .collect::<Result<Vec<_>, _>>()?,
            DecisionDb::Postgres(pool) => sqlx::query(Q_PG)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(StoredDecision::from_pg)
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        let n = match self {
            DecisionDb::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM decisions")
                    .fetch_one(pool)
                    .await?
            }
            DecisionDb::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM decisions")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(n)
    }
}

/// SQLite: a failed row (a duplicate id) rolls the whole batch back rather
/// than only its statement. The batch is all or nothing either way; this
/// spares every multi-row INSERT a statement journal, which SQLite keeps to
/// undo one statement inside a transaction and which was an eighth of the
/// writer's time.
const SQLITE_INSERT: &str = "INSERT OR ROLLBACK";

/// Move a gateway's cursor (same text for both databases).
const SET_CURSOR: &str =
    "INSERT INTO decision_log_cursor (gateway, log_id, next_index, byte_offset, updated_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (gateway, log_id) DO UPDATE SET \
     next_index = excluded.next_index, byte_offset = excluded.byte_offset, \
     updated_ms = excluded.updated_ms";

fn insert_builder<'a, DB>(
    chunk: &'a [Indexed<'a>],
    log_id: &'a str,
    insert: &'static str,
    json_cast: &'static str,
) -> Result<QueryBuilder<'a, DB>, sqlx::Error>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i32>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(insert);
    qb.push(
        " INTO decisions (id, ts_ms, gateway, route, method, host, path, client_ip, subject, \
         auth_method, credential_types, issuers, effect, status, reason, policies, risk_score, \
         risk_factors, log_id, log_index, policy_set, credential_ids) ",
    );
    let indexes = chunk
        .iter()
        .map(|r| to_i64(r.index))
        .collect::<Result<Vec<i64>, _>>()?;
    qb.push_values(chunk.iter().zip(indexes), |mut b, (r, index)| {
        let d = &r.decision;
        // A score the log holds as null (not finite) is indexed as 0.
        let score = if d.risk_score.is_finite() {
            d.risk_score
        } else {
            0.0
        };
        b.push_bind(&*d.id)
            .push_bind(d.ts_ms)
            .push_bind(&*d.gateway)
            .push_bind(d.route.as_deref())
            .push_bind(&*d.method)
            .push_bind(&*d.host)
            .push_bind(&*d.path)
            .push_bind(d.client_ip.to_string())
            .push_bind(d.subject.as_deref())
            .push_bind(d.auth_method.as_deref())
            .push_bind(&*d.credential_types)
            .push_unseparated(json_cast)
            .push_bind(&*d.issuers)
            .push_unseparated(json_cast)
            .push_bind(d.effect.as_str())
            .push_bind(d.status.map(i32::from))
            .push_bind(&*d.reason)
            .push_bind(&*d.policies)
            .push_unseparated(json_cast)
            .push_bind(score)
            .push_bind(&*d.risk_factors)
            .push_unseparated(json_cast)
            .push_bind(log_id)
            .push_bind(index)
            .push_bind(&*d.policy_set)
            .push_bind(&*d.credential_ids)
            .push_unseparated(json_cast);
    });
    Ok(qb)
}

/// The largest rows per INSERT (22 columns: far below SQLite's 32,766
/// parameters and PostgreSQL's 65,535).
const INSERT_ROWS: usize = 64;

/// `batch` in chunks of `INSERT_ROWS` rows, then of the powers of two that
/// make up the rest: at most seven statement shapes in all.
fn fixed_chunks<T>(batch: &[T]) -> Vec<&[T]> {
    let mut out = Vec::with_capacity(batch.len() / INSERT_ROWS + 7);
    let mut rest = batch;
    let mut size = INSERT_ROWS;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// A decision as read back from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub id: String,
    pub ts_ms: i64,
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    pub subject: Option<String>,
    pub effect: String,
    pub status: Option<i32>,
    pub reason: String,
    pub policies: Vec<String>,
    pub risk_score: f64,
    /// Names of the factors behind the score, largest first.
    pub risk_factors: Vec<String>,
}

#[derive(serde::Deserialize)]
struct StoredFactor {
    name: String,
}

macro_rules! from_row {
    ($name:ident, $row:ty) => {
        fn $name(row: &$row) -> Result<Self, sqlx::Error> {
            let policies: String = row.try_get("policies")?;
            let factors: String = row.try_get("risk_factors")?;
            let factors: Vec<StoredFactor> = serde_json::from_str(&factors).unwrap_or_default();
            Ok(Self {
                id: row.try_get("id")?,
                ts_ms: row.try_get("ts_ms")?,
                route: row.try_get("route")?,
                method: row.try_get("method")?,
                path: row.try_get("path")?,
                subject: row.try_get("subject")?,
                effect: row.try_get("effect")?,
                status: row.try_get("status")?,
                reason: row.try_get("reason")?,
                policies: serde_json::from_str(&policies).unwrap_or_default(),
                risk_score: row.try_get("risk_score")?,
                risk_factors: factors.into_iter().map(|f| f.name).collect(),
            })
        }
    };
}

impl StoredDecision {
    from_row!(from_sqlite, sqlx::sqlite::SqliteRow);
    from_row!(from_pg, sqlx::postgres::PgRow);
}

#[cfg(test)]
mod tests {
    use super::fixed_chunks;

    #[test]
    fn batches_are_cut_into_a_few_fixed_statement_sizes() {
        for n in [0usize, 1, 2, 3, 63, 64, 65, 127, 200, 1024, 1023] {
            let batch: Vec<usize> = (0..n).collect();
            let chunks = fixed_chunks(&batch);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}: {sizes:?}");
            assert!(
                sizes.iter().all(|s| s.is_power_of_two() && *s <= 64),
                "{sizes:?}"
            );
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
            // Every row once, in order.
            let flat: Vec<usize> = chunks.concat();
            assert_eq!(flat, batch);
        }
    }
}
