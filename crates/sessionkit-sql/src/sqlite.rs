//! [`SqliteStore`]: sessions in an SQLite database file (or in memory).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::row::{self, PURGE_SLACK_MS, ROW_COLUMNS, SCHEMA_VERSION};
use crate::{Error, PoolOptions, TableName};

/// How long a connection waits for another one's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Sessions in SQLite, through a `sqlx` pool.
///
/// [`SqliteStore::connect`] opens the database tuned for a web server:
///
/// - **WAL journal**: readers never block the writer and the writer never blocks
///   readers, so loads keep going while a save commits.
/// - **`synchronous = NORMAL`**: in WAL mode this is still safe against application
///   crashes (a committed transaction is in the WAL file before the commit returns); a
///   power loss or OS crash may lose the last few commits, never corrupt the database.
///   For sessions that is the right trade (a few users might be logged out after a
///   power cut) for far fewer `fsync`s than `FULL`.
/// - **`busy_timeout` of 5 s**: a connection that finds the write lock taken waits for it
///   instead of failing with `SQLITE_BUSY`.
/// - **create if missing**: `sqlite://sessions.db` creates the file on first use.
///
/// `sqlite::memory:` opens a private in-memory database (gone when the store is dropped);
/// its pool has exactly one connection, because every connection to `:memory:` would
/// otherwise see a database of its own.
///
/// Records are stored as described in the [crate docs](crate#the-session-table); call
/// [`migrate`](Self::migrate) once at start-up to create or upgrade the table.
///
/// # Examples
///
/// ```
/// use sessionkit_core::SessionStore;
/// use sessionkit_sql::{PoolOptions, SqliteStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::connect("sqlite::memory:", PoolOptions::default())
///     .await?
///     .with_table_name("web_sessions")?;
/// store.migrate().await?;
/// assert!(store.user_index().is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sql: Arc<Queries>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.table)
            .field("connections", &self.pool.size())
            .finish()
    }
}

/// Every statement, formatted once for the store's table.
#[derive(Debug)]
struct Queries {
    table: TableName,
    load: String,
    create: String,
    compare_and_swap: String,
    compare_and_swap_moving: String,
    touch: String,
    touch_moving: String,
    delete: String,
    delete_expired: String,
    sessions_of: String,
    delete_sessions_of: String,
    count: String,
}

impl Queries {
    fn new(table: TableName) -> Self {
        let t = quote(table.as_str());
        Self {
            load: format!("SELECT {ROW_COLUMNS} FROM {t} WHERE id_hash = ?1 AND expires_at > ?2"),
            // A live row with this key makes the upsert's WHERE false: nothing changes,
            // zero rows are affected, and that is `Exists`. An expired one is replaced.
            create: format!(
                "INSERT INTO {t} (id_hash, data, expires_at, version, user_key, created_at, last_seen, purge_after) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, \
                 expires_at = excluded.expires_at, version = excluded.version, \
                 user_key = excluded.user_key, created_at = excluded.created_at, \
                 last_seen = excluded.last_seen, purge_after = excluded.purge_after \
                 WHERE {t}.expires_at <= ?9"
            ),
            // The two forms of a save and of a touch bind the same values: the first
            // leaves `purge_after` and its index alone and matches only while the new
            // expiry stays within the slack; the second moves it (see `row`).
            compare_and_swap: format!(
                "UPDATE {t} SET data = ?1, expires_at = ?2, version = ?3, user_key = ?4, \
                 created_at = ?5, last_seen = ?6 \
                 WHERE id_hash = ?7 AND version = ?8 AND expires_at > ?9 \
                 AND purge_after >= ?2 AND purge_after <= ?10"
            ),
            compare_and_swap_moving: format!(
                "UPDATE {t} SET data = ?1, expires_at = ?2, version = ?3, user_key = ?4, \
                 created_at = ?5, last_seen = ?6, purge_after = ?10 \
                 WHERE id_hash = ?7 AND version = ?8 AND expires_at > ?9"
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = ?1, last_seen = ?2 WHERE id_hash = ?3 \
                 AND expires_at > ?4 AND purge_after >= ?1 AND purge_after <= ?5"
            ),
            touch_moving: format!(
                "UPDATE {t} SET expires_at = ?1, last_seen = ?2, purge_after = ?5 \
                 WHERE id_hash = ?3 AND expires_at > ?4"
            ),
            delete: format!("DELETE FROM {t} WHERE id_hash = ?1 RETURNING expires_at"),
            delete_expired: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE purge_after <= ?3 AND expires_at <= ?1 LIMIT ?2)"
            ),
            sessions_of: format!(
                "SELECT {ROW_COLUMNS} FROM {t} WHERE user_key = ?1 AND expires_at > ?2 \
                 ORDER BY created_at, id_hash"
            ),
            delete_sessions_of: format!(
                "DELETE FROM {t} WHERE user_key = ?1 AND expires_at > ?2 AND id_hash <> ?3"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > ?1"),
            table,
        }
    }
}

fn quote(identifier: &str) -> String {
    // Safe: `TableName` admits only letters, digits and underscores.
    format!("\"{identifier}\"")
}

/// The numbered schema changes; `migrate` applies those above the recorded version.
fn migrations(table: &TableName) -> Vec<(i64, Vec<String>)> {
    let t = quote(table.as_str());
    let expires_idx = quote(&table.derived("expires_at_idx"));
    let user_idx = quote(&table.derived("user_key_idx"));
    let purge_idx = quote(&table.derived("purge_after_idx"));
    vec![
        (
            1,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                 id_hash BLOB NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32), \
                 data BLOB NOT NULL, \
                 expires_at INTEGER NOT NULL, \
                 version INTEGER NOT NULL, \
                 user_key TEXT, \
                 created_at INTEGER NOT NULL, \
                 last_seen INTEGER NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {expires_idx} ON {t} (expires_at)"),
                format!(
                    "CREATE INDEX IF NOT EXISTS {user_idx} ON {t} (user_key, created_at) \
                 WHERE user_key IS NOT NULL"
                ),
            ],
        ),
        // Version 2: the expiry index moves to `purge_after`, which writes change only
        // about once a minute per session (see `row`).
        (
            2,
            vec![
                format!("ALTER TABLE {t} ADD COLUMN purge_after INTEGER NOT NULL DEFAULT 0"),
                format!("UPDATE {t} SET purge_after = expires_at + {PURGE_SLACK_MS}"),
                format!("DROP INDEX IF EXISTS {expires_idx}"),
                format!("CREATE INDEX IF NOT EXISTS {purge_idx} ON {t} (purge_after)"),
            ],
        ),
    ]
}

/// SQLite's `SQLITE_BUSY` and its extended codes (the primary code is the low byte).
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// Creates a database file that does not exist yet as an empty file only its owner
/// can read (mode 0600 on Unix), before SQLite creates it with the process's default
/// (often world-readable) mode: it holds sessions. SQLite gives its `-wal` and `-shm`
/// files the database file's mode. Any failure is left to the open that follows,
/// which reports it (a missing folder, say).
fn create_private(path: &std::path::Path) {
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        file.mode(0o600);
    }
    let _ = file.open(path);
}

fn is_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.is_empty() || rest.starts_with(":memory:") || rest.contains("mode=memory")
}

impl SqliteStore {
    /// A store on an existing pool, using the table `sessions`.
    ///
    /// The pool is used as it is: see [`connect_options`](Self::connect_options) for the
    /// recommended tuning.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            sql: Arc::new(Queries::new(TableName::default())),
        }
    }

    /// Opens `url` (`sqlite://path/to/file.db`, `sqlite:///absolute/path.db`,
    /// `sqlite::memory:`) with the tuning described on [`SqliteStore`].
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the URL is malformed or the database cannot be opened.
    pub async fn connect(url: &str, options: PoolOptions) -> Result<Self, Error> {
        let connect = Self::connect_options(url)?;
        let pool = if is_memory(url) {
            // One connection that lives as long as the pool: the in-memory database
            // exists only while a connection to it is open.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(options.acquire_timeout())
                .connect_with(connect)
                .await
        } else {
            create_private(connect.get_filename());
            // Several processes opening one new file at once: switching it to WAL can
            // meet "database is locked" without SQLite's busy timeout applying. Such an
            // open is tried again, for as long as the busy timeout.
            let started = std::time::Instant::now();
            loop {
                let opened = options.sqlx().connect_with(connect.clone()).await;
                match opened {
                    Err(sqlx::Error::Database(e))
                        if is_busy(e.code().as_deref()) && started.elapsed() < BUSY_TIMEOUT =>
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    other => break other,
                }
            }
        };
        Ok(Self::new(pool.map_err(Error::Connect)?))
    }

    /// The connection options [`connect`](Self::connect) uses for `url`: WAL,
    /// `synchronous = NORMAL`, a 5 s busy timeout, create if missing.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUrlParameter`] for a query parameter sqlx does not read,
    /// [`Error::Connect`] when the URL is malformed.
    pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, Error> {
        crate::parameters::check(url, crate::parameters::SQLITE)?;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(Error::Connect)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        Ok(if is_memory(url) {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        })
    }

    /// Uses the table `name` instead of `sessions`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] unless `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
    pub fn with_table_name(self, name: &str) -> Result<Self, Error> {
        let table = TableName::new(name)?;
        Ok(Self {
            pool: self.pool,
            sql: Arc::new(Queries::new(table)),
        })
    }

    /// The session table's name.
    pub fn table_name(&self) -> &str {
        self.sql.table.as_str()
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection of the pool (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the session table and its indexes, or upgrades them, recording the
    /// schema version in `<table>_schema`. Safe to call on every start, from several
    /// processes at once.
    ///
    /// # Errors
    ///
    /// [`Error::Migrate`] when the database refuses; [`Error::SchemaTooNew`] when a
    /// newer version of this crate has migrated the table.
    pub async fn migrate(&self) -> Result<(), Error> {
        let table = &self.sql.table;
        let schema = quote(&table.derived("schema"));
        // IMMEDIATE takes the write lock up front: two processes migrating at once run
        // one after the other instead of failing on a lock upgrade.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::migrate("starting the migration"))?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {schema} (\
             version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)"
        ))
        .execute(&mut *tx)
        .await
        .map_err(Error::migrate("creating the schema version table"))?;
        let current: i64 =
            sqlx::query_scalar(&format!("SELECT COALESCE(MAX(version), 0) FROM {schema}"))
                .fetch_one(&mut *tx)
                .await
                .map_err(Error::migrate("reading the schema version"))?;
        if current > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        for (version, statements) in migrations(table) {
            if version <= current {
                continue;
            }
            for statement in &statements {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::migrate("changing the session table"))?;
            }
            sqlx::query(&format!(
                "INSERT INTO {schema} (version, applied_at) VALUES (?1, ?2)"
            ))
            .bind(version)
            .bind(row::now_millis())
            .execute(&mut *tx)
            .await
            .map_err(Error::migrate("recording the schema version"))?;
            tracing::info!(table = %table, version, "migrated the session table");
        }
        tx.commit()
            .await
            .map_err(Error::migrate("committing the migration"))
    }
}

crate::numbered::impl_numbered_store!(SqliteStore, quote, |n| format!("?{n}"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            "sqlite:",
        ] {
            assert!(is_memory(url), "{url}");
        }
        for url in [
            "sqlite://sessions.db",
            "sqlite:///var/lib/app/sessions.db",
            "sqlite:x.db",
        ] {
            assert!(!is_memory(url), "{url}");
        }
    }
}
