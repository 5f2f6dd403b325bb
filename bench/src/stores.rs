//! The stores under test, set up side by side for both libraries and isolated per run,
//! and cleaned up afterwards.
//!
//! | store | sessionkit | tower-sessions 0.14 | isolation |
//! | --- | --- | --- | --- |
//! | memory | `MemoryStore` (sharded maps of shared records) | `MemoryStore` (a `HashMap` behind a mutex) | per process |
//! | memory-compact | `MemoryStore::compact()` (records packed into bytes) | `MemoryStore`, as for memory (it has no compact form) | per process |
//! | sqlite | `SqliteStore` | `tower-sessions-sqlx-store` 0.15 `SqliteStore` | one temporary file each, WAL, same pool settings |
//! | postgres | `PostgresStore` | `tower-sessions-sqlx-store` 0.15 `PostgresStore` | table `skbench_<run>` / schema `skbench_ts_<run>` |
//! | redis | `sessionkit-redis` (redis-rs, one multiplexed connection) | `tower-sessions-redis-store` 0.16 (fred, one client) | key prefix `skbench:<run>:` / the first empty logical database (it has no key prefix) |
//!
//! Both SQL stores get the same pool: 10 connections, and for SQLite the very connect
//! options sessionkit uses (WAL, `synchronous = NORMAL`, 5 s busy timeout), so the
//! comparison is between the libraries, not their defaults.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use sessionkit_redis::redis;
use sessionkit_sql::sqlx;
use sessionkit_sql::PoolOptions;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config as FredConfig};

use crate::apps;
use crate::options::StoreKind;
use crate::BoxError;

/// The tests' environment variable naming PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "SESSIONKIT_TEST_POSTGRES_URL";
/// The tests' environment variable naming Redis.
pub const REDIS_URL_VAR: &str = "SESSIONKIT_TEST_REDIS_URL";

/// Connections of each SQL pool.
const POOL_SIZE: u32 = 10;

/// A store ready for both libraries.
#[derive(Debug)]
pub struct Prepared {
    /// The routes on tower-sessions over its store.
    pub tower_sessions: Router,
    /// The routes on sessionkit over its store.
    pub sessionkit: Router,
    /// What to remove afterwards.
    pub cleanup: Cleanup,
}

/// What a run leaves behind in a store, removed by [`Cleanup::run`].
#[derive(Debug)]
pub enum Cleanup {
    /// Nothing outside the process.
    Nothing,
    /// A temporary directory with the SQLite files.
    Directory(PathBuf),
    /// PostgreSQL objects.
    Postgres {
        /// Where they are.
        url: String,
        /// sessionkit's table (its `<table>_schema` companion goes too).
        table: String,
        /// tower-sessions' schema.
        schema: String,
    },
    /// Redis keys and the database tower-sessions used.
    Redis {
        /// Where they are.
        url: String,
        /// sessionkit's key prefix.
        prefix: String,
        /// tower-sessions' logical database, flushed.
        database: u8,
    },
}

fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Sets `kind` up for both libraries, or says why it is skipped (`Ok(Err(note))`).
///
/// Must run on the server runtime: the stores' connections belong to it.
///
/// # Errors
///
/// When a configured server cannot be reached or refuses the setup.
pub async fn prepare(kind: StoreKind, run: &str) -> Result<Result<Prepared, String>, BoxError> {
    Ok(Ok(match kind {
        StoreKind::Memory => Prepared {
            tower_sessions: apps::tower_sessions(tower_sessions::MemoryStore::default()),
            sessionkit: apps::sessionkit(sessionkit::MemoryStore::new()),
            cleanup: Cleanup::Nothing,
        },
        StoreKind::MemoryCompact => Prepared {
            tower_sessions: apps::tower_sessions(tower_sessions::MemoryStore::default()),
            sessionkit: apps::sessionkit(sessionkit::MemoryStore::new().compact()),
            cleanup: Cleanup::Nothing,
        },
        StoreKind::Sqlite => sqlite(run).await?,
        StoreKind::Postgres => match env_url(POSTGRES_URL_VAR) {
            Some(url) => postgres(&url, run).await?,
            None => {
                return Ok(Err(format!(
                    "postgres: skipped ({POSTGRES_URL_VAR} is not set)"
                )))
            }
        },
        StoreKind::Redis => match env_url(REDIS_URL_VAR) {
            Some(url) => redis_stores(&url, run).await?,
            None => return Ok(Err(format!("redis: skipped ({REDIS_URL_VAR} is not set)"))),
        },
    }))
}

async fn sqlite(run: &str) -> Result<Prepared, BoxError> {
    let dir = std::env::temp_dir().join(format!("sessionkit-bench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let url_of = |file: &str| format!("sqlite://{}", dir.join(file).display());

    let ours = sessionkit_sql::connect(
        &url_of("sessionkit.db"),
        PoolOptions::default().with_max_connections(POOL_SIZE),
    )
    .await?;
    ours.migrate().await?;

    let options = sessionkit_sql::SqliteStore::connect_options(&url_of("tower-sessions.db"))?;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let theirs = tower_sessions_sqlx_store::SqliteStore::new(pool);
    theirs.migrate().await?;

    Ok(Prepared {
        tower_sessions: apps::tower_sessions(theirs),
        sessionkit: apps::sessionkit(ours),
        cleanup: Cleanup::Directory(dir),
    })
}

async fn postgres(url: &str, run: &str) -> Result<Prepared, BoxError> {
    let table = format!("skbench_{run}");
    let schema = format!("skbench_ts_{run}");
    let ours = sessionkit_sql::connect(url, PoolOptions::default().with_max_connections(POOL_SIZE))
        .await?
        .with_table_name(&table)?;
    ours.migrate().await?;

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    let theirs = tower_sessions_sqlx_store::PostgresStore::new(pool).with_schema_name(&schema)?;
    theirs.migrate().await?;

    Ok(Prepared {
        tower_sessions: apps::tower_sessions(theirs),
        sessionkit: apps::sessionkit(ours),
        cleanup: Cleanup::Postgres {
            url: url.to_owned(),
            table,
            schema,
        },
    })
}

/// The first logical database (1–15) holding no keys, for tower-sessions' store.
async fn empty_database(url: &str) -> Result<u8, BoxError> {
    let mut admin = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    for database in 1..16u8 {
        let () = redis::cmd("SELECT")
            .arg(database)
            .query_async(&mut admin)
            .await?;
        let size: u64 = redis::cmd("DBSIZE").query_async(&mut admin).await?;
        if size == 0 {
            return Ok(database);
        }
    }
    Err("redis: no empty logical database (1–15) for tower-sessions' keys".into())
}

async fn redis_stores(url: &str, run: &str) -> Result<Prepared, BoxError> {
    let prefix = format!("skbench:{run}:");
    let ours = sessionkit_redis::connect(
        url,
        sessionkit_redis::RedisOptions::default().with_key_prefix(prefix.clone()),
    )
    .await?;

    let database = empty_database(url).await?;
    let mut config = FredConfig::from_url(url)?;
    config.database = Some(database);
    let client = tower_sessions_redis_store::fred::prelude::Client::new(config, None, None, None);
    client.init().await?;
    let theirs = tower_sessions_redis_store::RedisStore::new(client);

    Ok(Prepared {
        tower_sessions: apps::tower_sessions(theirs),
        sessionkit: apps::sessionkit(ours),
        cleanup: Cleanup::Redis {
            url: url.to_owned(),
            prefix,
            database,
        },
    })
}

impl Cleanup {
    /// Removes what the run left behind.
    ///
    /// # Errors
    ///
    /// When the server refuses; the note names what is left.
    pub async fn run(self) -> Result<(), BoxError> {
        match self {
            Self::Nothing => Ok(()),
            Self::Directory(dir) => Ok(std::fs::remove_dir_all(dir)?),
            Self::Postgres { url, table, schema } => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await?;
                for statement in [
                    format!("DROP TABLE IF EXISTS {table}"),
                    format!("DROP TABLE IF EXISTS {table}_schema"),
                    format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                ] {
                    sqlx::query(&statement).execute(&pool).await?;
                }
                pool.close().await;
                Ok(())
            }
            Self::Redis {
                url,
                prefix,
                database,
            } => {
                let mut admin = redis::Client::open(url.as_str())?
                    .get_multiplexed_async_connection()
                    .await?;
                let mut cursor = 0u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{prefix}*"))
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut admin)
                        .await?;
                    if !keys.is_empty() {
                        let () = redis::cmd("DEL").arg(&keys).query_async(&mut admin).await?;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                let () = redis::cmd("SELECT")
                    .arg(database)
                    .query_async(&mut admin)
                    .await?;
                let () = redis::cmd("FLUSHDB").query_async(&mut admin).await?;
                Ok(())
            }
        }
    }
}
