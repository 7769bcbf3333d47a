//! The event index: registry events of every followed chain in the gateway's
//! database (SQLite or PostgreSQL, tables from `migrations/*/0002_ethr_index.sql`).
//! Resolution reads one identity's events in one query; the follower writes
//! a range of blocks in one transaction, so the index is never half-written.
//! The status registry's events (`migrations/*/0004_ethr_status.sql`) are
//! part of the same blocks, transactions, rollbacks and resets. Running
//! followers report how far they have applied the index
//! (`migrations/*/0008_ethr_followers.sql`, [`FollowerReport`]). The log
//! anchor's `Anchored` events (`migrations/*/0010_ethr_anchors.sql`), when
//! the follower is given the contract, are part of the same blocks too.

use alloy_primitives::{Address, B256};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use super::anchor::{AnchorEvent, Head};
use super::events::{EventKind, RegistryEvent, StatusChange};

/// Where the index lives.
#[derive(Clone, Debug)]
pub enum EventIndex {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How far a chain is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub block_number: u64,
    pub block_hash: B256,
    pub chain_id: u64,
    pub registry: Address,
    /// The status registry whose events are indexed with the blocks (`None`: none).
    pub status_registry: Option<Address>,
    /// The log anchor whose `Anchored` events are indexed with the blocks (`None`: none).
    pub anchor_contract: Option<Address>,
}

/// One `Anchored` event where it is on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedAnchor {
    pub event: AnchorEvent,
    pub block_number: u64,
    pub log_index: u64,
    pub tx_hash: B256,
}

/// A block with its registry events, ready to store.
#[derive(Debug, Clone)]
pub struct IndexedBlock {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
    pub events: Vec<(RegistryEvent, B256)>,
    /// The status registry's changes in this block, in log order.
    pub status: Vec<StatusChange>,
    /// The log anchor's `Anchored` events in this block, in log order.
    pub anchors: Vec<IndexedAnchor>,
}

/// What a running follower last reported (`ethr_followers`, migration
/// 0008): the block up to which its in-memory state is applied, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerReport {
    /// One running follower (unique per process and chain).
    pub follower: String,
    /// The gateway instance it belongs to (`[server] instance`).
    pub instance: String,
    /// Its cache and revoked set reflect every block up to this one.
    pub applied_block: u64,
    /// Unix ms of the successful round that wrote this report.
    pub heartbeat_ms: i64,
    pub poll_ms: u64,
    /// It refuses did:ethr this long after its last successful round.
    pub max_staleness_ms: u64,
    pub confirmations: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt index row: {0}")]
    Corrupt(String),
    /// Another follower (another process on the same database) moved the
    /// cursor since this one read it; nothing was written.
    #[error("another follower advanced the index of {chain} meanwhile")]
    Moved { chain: String },
}

/// Run the same statement on either backend; `$n` placeholders work on both.
macro_rules! on_pool {
    ($self:expr, |$pool:ident| $body:expr) => {
        match $self {
            EventIndex::Sqlite($pool) => $body,
            EventIndex::Postgres($pool) => $body,
        }
    };
}

/// A connection whose transaction failed is closed, never reused. SQLite may
/// end a transaction itself (a full disk, an I/O error); sqlx's ROLLBACK then
/// fails and its count of open transactions stays one too high, so the
/// connection's next BEGIN becomes a SAVEPOINT whose "commit" commits
/// nothing: writes that no other connection sees, under a write lock held
/// for good. A new connection is outside any transaction for certain.
pub(crate) fn close_failed<C, T, E>(conn: &mut sqlx::pool::PoolConnection<C>, r: &Result<T, E>)
where
    C: sqlx::Database,
{
    if r.is_err() {
        conn.close_on_drop();
    }
}

fn addr_text(a: &Address) -> String {
    format!("0x{}", hex::encode(a))
}

/// A stored block number, log index or timestamp: never negative (a
/// negative one is a corrupt row, not a huge number).
fn stored(n: i64, what: &str) -> Result<u64, IndexError> {
    u64::try_from(n).map_err(|_| IndexError::Corrupt(format!("{what} {n}")))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl EventIndex {
    /// The cursor of a chain, if it was ever indexed.
    pub async fn cursor(&self, chain: &str) -> Result<Option<Cursor>, IndexError> {
        const Q: &str = "SELECT c.block_number, c.block_hash, c.chain_id, c.registry, s.registry, \
                         a.contract FROM ethr_cursor c \
                         LEFT JOIN ethr_status_source s ON s.chain = c.chain \
                         LEFT JOIN ethr_anchor_source a ON a.chain = c.chain \
                         WHERE c.chain = $1";
        type Row = (i64, String, i64, String, Option<String>, Option<String>);
        let row: Option<Row> = on_pool!(self, |p| {
            sqlx::query_as(Q).bind(chain).fetch_optional(p).await?
        });
        let optional = |v: Option<String>, what: &str| match v.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| IndexError::Corrupt(format!("{what} {s:?}"))),
        };
        row.map(|(n, h, id, reg, status, anchor)| {
            let status_registry = optional(status, "status registry")?;
            let anchor_contract = optional(anchor, "anchor contract")?;
            Ok(Cursor {
                block_number: stored(n, "cursor block")?,
                block_hash: h
                    .parse()
                    .map_err(|_| IndexError::Corrupt(format!("block hash {h:?}")))?,
                chain_id: stored(id, "chain id")?,
                registry: reg
                    .parse()
                    .map_err(|_| IndexError::Corrupt(format!("registry {reg:?}")))?,
                status_registry,
                anchor_contract,
            })
        })
        .transpose()
    }

    /// Store blocks and move the cursor from `prev` (what this follower read)
    /// to `cursor`, all in one transaction. The move is a compare-and-swap:
    /// if another follower moved the cursor meanwhile, nothing is written and
    /// the answer is [`IndexError::Moved`].
    pub async fn append(
        &self,
        chain: &str,
        blocks: &[IndexedBlock],
        prev: Option<&Cursor>,
        cursor: &Cursor,
    ) -> Result<(), IndexError> {
        macro_rules! write {
            ($pool:expr) => {{
                let mut conn = $pool.acquire().await?;
                let written: Result<(), IndexError> = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                // First, so the row lock (PostgreSQL) or the write lock (SQLite)
                // serialises followers before anything else is written.
                let moved = match prev {
                    Some(p) => sqlx::query(
                        "UPDATE ethr_cursor SET block_number = $2, block_hash = $3, chain_id = $4, \
                         registry = $5 WHERE chain = $1 AND block_number = $6 AND block_hash = $7",
                    )
                    .bind(chain)
                    .bind(to_i64(cursor.block_number))
                    .bind(cursor.block_hash.to_string())
                    .bind(to_i64(cursor.chain_id))
                    .bind(addr_text(&cursor.registry))
                    .bind(to_i64(p.block_number))
                    .bind(p.block_hash.to_string())
                    .execute(&mut *tx)
                    .await?,
                    None => sqlx::query(
                        "INSERT INTO ethr_cursor (chain, block_number, block_hash, chain_id, registry) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain) DO NOTHING",
                    )
                    .bind(chain)
                    .bind(to_i64(cursor.block_number))
                    .bind(cursor.block_hash.to_string())
                    .bind(to_i64(cursor.chain_id))
                    .bind(addr_text(&cursor.registry))
                    .execute(&mut *tx)
                    .await?,
                };
                if moved.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Err(IndexError::Moved { chain: chain.to_owned() });
                }
                for b in blocks {
                    sqlx::query(
                        "INSERT INTO ethr_blocks (chain, block_number, block_hash, timestamp) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(chain)
                    .bind(to_i64(b.number))
                    .bind(b.hash.to_string())
                    .bind(to_i64(b.timestamp))
                    .execute(&mut *tx)
                    .await?;
                    for (e, tx_hash) in &b.events {
                        let json = serde_json::to_string(&e.kind)
                            .map_err(|err| IndexError::Corrupt(err.to_string()))?;
                        sqlx::query(
                            "INSERT INTO ethr_events (chain, block_number, log_index, identity, event, \
                             previous_change, tx_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(chain)
                        .bind(to_i64(e.block_number))
                        .bind(to_i64(e.log_index))
                        .bind(addr_text(&e.identity))
                        .bind(json)
                        .bind(to_i64(e.previous_change))
                        .bind(tx_hash.to_string())
                        .execute(&mut *tx)
                        .await?;
                    }
                    for c in &b.status {
                        sqlx::query(
                            "INSERT INTO ethr_status_events (chain, block_number, log_index, issuer, \
                             list_id, status_index, revoked, tx_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(chain)
                        .bind(to_i64(c.block_number))
                        .bind(to_i64(c.log_index))
                        .bind(addr_text(&c.issuer))
                        .bind(c.list_id.to_string())
                        .bind(c.index.to_string())
                        .bind(i64::from(c.revoked))
                        .bind(c.tx_hash.to_string())
                        .execute(&mut *tx)
                        .await?;
                    }
                    for a in &b.anchors {
                        sqlx::query(
                            "INSERT INTO ethr_anchor_events (chain, block_number, log_index, identity, \
                             log_id, size, root, previous_change, tx_hash) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(chain)
                        .bind(to_i64(a.block_number))
                        .bind(to_i64(a.log_index))
                        .bind(addr_text(&a.event.identity))
                        .bind(a.event.log_id.to_string())
                        .bind(to_i64(a.event.head.size))
                        .bind(a.event.head.root.to_string())
                        .bind(to_i64(a.event.previous_change))
                        .bind(a.tx_hash.to_string())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO ethr_status_source (chain, registry) VALUES ($1, $2) \
                     ON CONFLICT (chain) DO UPDATE SET registry = excluded.registry",
                )
                .bind(chain)
                .bind(cursor.status_registry.as_ref().map_or(String::new(), addr_text))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO ethr_anchor_source (chain, contract) VALUES ($1, $2) \
                     ON CONFLICT (chain) DO UPDATE SET contract = excluded.contract",
                )
                .bind(chain)
                .bind(cursor.anchor_contract.as_ref().map_or(String::new(), addr_text))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
                }
                .await;
                // See `close_failed`.
                close_failed(&mut conn, &written);
                written?;
            }};
        }
        on_pool!(self, |p| write!(p));
        Ok(())
    }

    /// Forget everything above `to` (a reorganisation replaced those blocks)
    /// and move the cursor there from `from`, in one transaction; like
    /// [`append`](Self::append), only if the cursor is still at `from`.
    pub async fn rollback(
        &self,
        chain: &str,
        from: &Cursor,
        to: &Cursor,
    ) -> Result<(), IndexError> {
        macro_rules! rb {
            ($pool:expr) => {{
                let mut conn = $pool.acquire().await?;
                let written: Result<(), IndexError> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let moved = sqlx::query(
                        "UPDATE ethr_cursor SET block_number = $2, block_hash = $3 \
                     WHERE chain = $1 AND block_number = $4 AND block_hash = $5",
                    )
                    .bind(chain)
                    .bind(to_i64(to.block_number))
                    .bind(to.block_hash.to_string())
                    .bind(to_i64(from.block_number))
                    .bind(from.block_hash.to_string())
                    .execute(&mut *tx)
                    .await?;
                    if moved.rows_affected() != 1 {
                        tx.rollback().await?;
                        return Err(IndexError::Moved {
                            chain: chain.to_owned(),
                        });
                    }
                    for q in [
                        "DELETE FROM ethr_events WHERE chain = $1 AND block_number > $2",
                        "DELETE FROM ethr_status_events WHERE chain = $1 AND block_number > $2",
                        "DELETE FROM ethr_anchor_events WHERE chain = $1 AND block_number > $2",
                        "DELETE FROM ethr_blocks WHERE chain = $1 AND block_number > $2",
                    ] {
                        sqlx::query(q)
                            .bind(chain)
                            .bind(to_i64(to.block_number))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                // See `close_failed`.
                close_failed(&mut conn, &written);
                written?;
            }};
        }
        on_pool!(self, |p| rb!(p));
        Ok(())
    }

    /// Drop a chain's whole index (its registry or chain id changed in the
    /// config), in one transaction, cursor first: never a cursor over missing events.
    pub async fn reset(&self, chain: &str) -> Result<(), IndexError> {
        macro_rules! reset {
            ($pool:expr) => {{
                let mut conn = $pool.acquire().await?;
                let written: Result<(), IndexError> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    for q in [
                        "DELETE FROM ethr_cursor WHERE chain = $1",
                        "DELETE FROM ethr_events WHERE chain = $1",
                        "DELETE FROM ethr_status_events WHERE chain = $1",
                        "DELETE FROM ethr_blocks WHERE chain = $1",
                        "DELETE FROM ethr_status_source WHERE chain = $1",
                        "DELETE FROM ethr_anchor_events WHERE chain = $1",
                        "DELETE FROM ethr_anchor_source WHERE chain = $1",
                    ] {
                        sqlx::query(q).bind(chain).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                // See `close_failed`.
                close_failed(&mut conn, &written);
                written?;
            }};
        }
        on_pool!(self, |p| reset!(p));
        Ok(())
    }

    /// Every event of one identity, in chain order.
    pub async fn events_for(
        &self,
        chain: &str,
        identity: &Address,
    ) -> Result<Vec<RegistryEvent>, IndexError> {
        const Q: &str = "SELECT block_number, log_index, event, previous_change FROM ethr_events \
                         WHERE chain = $1 AND identity = $2 ORDER BY block_number, log_index";
        let id = addr_text(identity);
        let rows: Vec<(i64, i64, String, i64)> = on_pool!(self, |p| sqlx::query_as(Q)
            .bind(chain)
            .bind(&id)
            .fetch_all(p)
            .await?);
        rows.into_iter()
            .map(|(block, log_index, json, prev)| {
                let kind: EventKind = serde_json::from_str(&json)
                    .map_err(|e| IndexError::Corrupt(format!("event {json:?}: {e}")))?;
                Ok(RegistryEvent {
                    identity: *identity,
                    block_number: stored(block, "event block")?,
                    log_index: stored(log_index, "log index")?,
                    previous_change: stored(prev, "previous change")?,
                    kind,
                })
            })
            .collect()
    }

    /// Every status change of a chain, in chain order (the revoked set is
    /// rebuilt from them at start and after a rollback; revocations are rare).
    pub async fn status_changes(&self, chain: &str) -> Result<Vec<StatusChange>, IndexError> {
        const Q: &str = "SELECT block_number, log_index, issuer, list_id, status_index, revoked, \
                         tx_hash FROM ethr_status_events WHERE chain = $1 \
                         ORDER BY block_number, log_index";
        type Row = (i64, i64, String, String, String, i64, String);
        let rows: Vec<Row> = on_pool!(self, |p| sqlx::query_as(Q).bind(chain).fetch_all(p).await?);
        rows.into_iter()
            .map(
                |(block, log_index, issuer, list_id, index, revoked, tx_hash)| {
                    let bad =
                        |what: &str, v: &str| IndexError::Corrupt(format!("status {what} {v:?}"));
                    Ok(StatusChange {
                        issuer: issuer.parse().map_err(|_| bad("issuer", &issuer))?,
                        list_id: list_id.parse().map_err(|_| bad("list id", &list_id))?,
                        index: index.parse().map_err(|_| bad("index", &index))?,
                        revoked: revoked != 0,
                        block_number: stored(block, "status block")?,
                        log_index: stored(log_index, "status log index")?,
                        tx_hash: tx_hash.parse().map_err(|_| bad("tx hash", &tx_hash))?,
                    })
                },
            )
            .collect()
    }

    /// Every anchor of one log (`identity`'s log `log_id`) on `chain`, in
    /// chain order (so by size: the contract only takes heads that grow).
    pub async fn anchors(
        &self,
        chain: &str,
        identity: &Address,
        log_id: &B256,
    ) -> Result<Vec<IndexedAnchor>, IndexError> {
        const Q: &str = "SELECT block_number, log_index, size, root, previous_change, tx_hash \
                         FROM ethr_anchor_events WHERE chain = $1 AND identity = $2 AND log_id = $3 \
                         ORDER BY block_number, log_index";
        type Row = (i64, i64, i64, String, i64, String);
        let rows: Vec<Row> = on_pool!(self, |p| sqlx::query_as(Q)
            .bind(chain)
            .bind(addr_text(identity))
            .bind(log_id.to_string())
            .fetch_all(p)
            .await?);
        rows.into_iter()
            .map(|(block, log_index, size, root, prev, tx_hash)| {
                let bad = |what: &str, v: &str| IndexError::Corrupt(format!("anchor {what} {v:?}"));
                Ok(IndexedAnchor {
                    event: AnchorEvent {
                        identity: *identity,
                        log_id: *log_id,
                        head: Head {
                            size: stored(size, "anchor size")?,
                            root: root.parse().map_err(|_| bad("root", &root))?,
                        },
                        previous_change: stored(prev, "anchor previous change")?,
                    },
                    block_number: stored(block, "anchor block")?,
                    log_index: stored(log_index, "anchor log index")?,
                    tx_hash: tx_hash.parse().map_err(|_| bad("tx hash", &tx_hash))?,
                })
            })
            .collect()
    }

    /// Timestamps of the given blocks (those that carried events).
    pub async fn block_times(&self, chain: &str, from: u64) -> Result<Vec<(u64, u64)>, IndexError> {
        const Q: &str = "SELECT block_number, timestamp FROM ethr_blocks WHERE chain = $1 AND block_number >= $2";
        let rows: Vec<(i64, i64)> = on_pool!(self, |p| sqlx::query_as(Q)
            .bind(chain)
            .bind(to_i64(from))
            .fetch_all(p)
            .await?);
        rows.into_iter()
            .map(|(n, t)| Ok((stored(n, "block")?, stored(t, "block time")?)))
            .collect()
    }

    /// Record (insert or replace) a running follower's report on `chain`.
    pub async fn report_follower(&self, chain: &str, r: &FollowerReport) -> Result<(), IndexError> {
        const Q: &str = "INSERT INTO ethr_followers (chain, follower, instance, applied_block, \
                         heartbeat_ms, poll_ms, max_staleness_ms, confirmations) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (chain, follower) \
                         DO UPDATE SET instance = excluded.instance, applied_block = excluded.applied_block, \
                         heartbeat_ms = excluded.heartbeat_ms, poll_ms = excluded.poll_ms, \
                         max_staleness_ms = excluded.max_staleness_ms, confirmations = excluded.confirmations";
        on_pool!(self, |p| sqlx::query(Q)
            .bind(chain)
            .bind(&r.follower)
            .bind(&r.instance)
            .bind(to_i64(r.applied_block))
            .bind(r.heartbeat_ms)
            .bind(to_i64(r.poll_ms))
            .bind(to_i64(r.max_staleness_ms))
            .bind(to_i64(r.confirmations))
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Remove a follower's report (it stopped), and every report on `chain`
    /// older than `stale_before_ms` (processes that ended without saying so).
    pub async fn remove_followers(
        &self,
        chain: &str,
        follower: &str,
        stale_before_ms: i64,
    ) -> Result<(), IndexError> {
        const Q: &str =
            "DELETE FROM ethr_followers WHERE chain = $1 AND (follower = $2 OR heartbeat_ms < $3)";
        on_pool!(self, |p| sqlx::query(Q)
            .bind(chain)
            .bind(follower)
            .bind(stale_before_ms)
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The reports of every follower of `chain`.
    pub async fn followers(&self, chain: &str) -> Result<Vec<FollowerReport>, IndexError> {
        const Q: &str = "SELECT follower, instance, applied_block, heartbeat_ms, poll_ms, \
                         max_staleness_ms, confirmations FROM ethr_followers WHERE chain = $1 \
                         ORDER BY instance, follower";
        type Row = (String, String, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = on_pool!(self, |p| sqlx::query_as(Q).bind(chain).fetch_all(p).await?);
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(
                |(follower, instance, applied, heartbeat_ms, poll, staleness, confirmations)| {
                    FollowerReport {
                        follower,
                        instance,
                        applied_block: n(applied),
                        heartbeat_ms,
                        poll_ms: n(poll),
                        max_staleness_ms: n(staleness),
                        confirmations: n(confirmations),
                    }
                },
            )
            .collect())
    }

    /// Blocks with events at or above `from`, newest first (reorg checks).
    pub async fn blocks_from(
        &self,
        chain: &str,
        from: u64,
    ) -> Result<Vec<(u64, B256)>, IndexError> {
        const Q: &str = "SELECT block_number, block_hash FROM ethr_blocks \
                         WHERE chain = $1 AND block_number >= $2 ORDER BY block_number DESC";
        let rows = on_pool!(self, |p| {
            sqlx::query(Q)
                .bind(chain)
                .bind(to_i64(from))
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| -> Result<(u64, B256), IndexError> {
                    let n: i64 = r.try_get(0)?;
                    let h: String = r.try_get(1)?;
                    Ok((
                        stored(n, "block")?,
                        h.parse().map_err(|_| IndexError::Corrupt(h.clone()))?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }
}
