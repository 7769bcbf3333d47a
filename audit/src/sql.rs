//! The decision log's SQL: the `decisions` table (its migrations are the
//! gateway's, in `migrations/`) on SQLite or PostgreSQL, written in batches
//! and read back newest first.

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row};

use crate::record::DecisionRecord;

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

impl DecisionDb {
    /// Append a batch of decisions in one transaction: all rows or none.
    pub async fn insert(&self, batch: &[DecisionRecord]) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        // Multi-row INSERTs of a few fixed sizes (64, 32, …, 1 rows), so each
        // is prepared once per connection and then served from the
        // statement cache: a statement built for every batch's own size was
        // prepared anew each time, and preparing a statement of hundreds of
        // rows cost more than inserting them.
        let chunks = fixed_chunks(batch);
        match self {
            DecisionDb::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let written: Result<(), sqlx::Error> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    for chunk in chunks {
                        let mut qb = insert_builder::<sqlx::Sqlite>(chunk, SQLITE_INSERT, "");
                        qb.build().execute(&mut *tx).await?;
                    }
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
                    let mut qb = insert_builder::<sqlx::Postgres>(chunk, "INSERT", "::jsonb");
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
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

    /// Whether every decision of `batch` is in the log already. The writer
    /// asks when a retried batch fails on a duplicate id: its earlier commit
    /// reached the database but the answer was lost with the connection.
    pub async fn holds(&self, batch: &[DecisionRecord]) -> Result<bool, sqlx::Error> {
        macro_rules! count {
            ($db:ty, $pool:expr) => {{
                let mut qb =
                    QueryBuilder::<$db>::new("SELECT COUNT(*) FROM decisions WHERE id IN (");
                let mut ids = qb.separated(", ");
                for r in batch {
                    ids.push_bind(r.id.as_str());
                }
                qb.push(")");
                qb.build_query_scalar::<i64>()
                    .persistent(false)
                    .fetch_one($pool)
                    .await?
            }};
        }
        if batch.is_empty() {
            return Ok(true);
        }
        let n = match self {
            DecisionDb::Sqlite(pool) => count!(sqlx::Sqlite, pool),
            DecisionDb::Postgres(pool) => count!(sqlx::Postgres, pool),
        };
        Ok(usize::try_from(n).is_ok_and(|n| n == batch.len()))
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

fn insert_builder<'a, DB>(
    chunk: &'a [DecisionRecord],
    insert: &'static str,
    json_cast: &'static str,
) -> QueryBuilder<'a, DB>
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
         risk_factors) ",
    );
    qb.push_values(chunk, |mut b, r| {
        b.push_bind(r.id.as_str())
            .push_bind(r.ts_ms)
            .push_bind(&*r.gateway)
            .push_bind(r.route.as_deref())
            .push_bind(r.method.as_str())
            .push_bind(r.host.as_str())
            .push_bind(r.path.as_str())
            .push_bind(r.client_ip.to_string())
            .push_bind(r.subject.clone())
            .push_bind(r.auth_method)
            .push_bind(json_array(&r.credential_types))
            .push_unseparated(json_cast)
            .push_bind(json_array(&r.issuers))
            .push_unseparated(json_cast)
            .push_bind(r.effect.as_str())
            .push_bind(r.status.map(i32::from))
            .push_bind(r.reason)
            .push_bind(json_array(&r.policies))
            .push_unseparated(json_cast)
            .push_bind(r.risk_score)
            .push_bind(serde_json::to_string(&r.risk_factors).unwrap_or_else(|_| "[]".to_owned()))
            .push_unseparated(json_cast);
    });
    qb
}

/// The largest rows per INSERT (18 columns: far below SQLite's 32,766
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

fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
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
