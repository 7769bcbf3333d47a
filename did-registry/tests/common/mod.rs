//! Shared by did-registry's integration tests and its bench: event-index
//! databases over real connections (a SQLite file, a fresh PostgreSQL
//! database), with the gateway's migrations applied.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use std::time::Duration;

use did_registry::ethr::{Address, EventIndex, NetworkConfig};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A new, empty SQLite file path in a fresh temporary folder.
pub fn temp_sqlite_path(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("didgate-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("index.db")
}

/// Open (creating) a SQLite file and bring its schema up to date.
pub async fn connect_sqlite(path: &Path) -> EventIndex {
    let opts =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .unwrap();
    SQLITE_MIGRATIONS.run(&pool).await.unwrap();
    EventIndex::Sqlite(pool)
}

/// Connect to a PostgreSQL database and bring its schema up to date.
pub async fn connect_postgres(url: &str) -> EventIndex {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap();
    POSTGRES_MIGRATIONS.run(&pool).await.unwrap();
    EventIndex::Postgres(pool)
}

/// An index in a new SQLite file.
pub async fn sqlite_index() -> EventIndex {
    connect_sqlite(&temp_sqlite_path("ethr")).await
}

/// An index in a new PostgreSQL database on the test server.
pub async fn postgres_index() -> EventIndex {
    connect_postgres(&test_support::fresh_postgres_database()).await
}

/// The tests' network "dev": no confirmations, a 100 ms poll, a 60 s
/// staleness bound, small `eth_getLogs` ranges (so several are exercised).
pub fn dev_network(rpc_url: String, registry: Address, chain_id: u64) -> NetworkConfig {
    NetworkConfig {
        name: "dev".into(),
        rpc_url,
        registry,
        chain_id: Some(chain_id),
        confirmations: 0,
        poll_interval: Duration::from_millis(100),
        max_staleness: Duration::from_secs(60),
        start_block: 0,
        max_block_range: 3,
    }
}
