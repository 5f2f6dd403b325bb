//! [`MySqlStore`]: sessions in MySQL or MariaDB.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sessionkit_core::{ExpiredDeletion, IdHash, Record, SessionStore, StoreError, UserIndex};
use sqlx::mysql::MySqlPool;
use time::OffsetDateTime;

use crate::row::{self, Columns, StoredRow, PURGE_SLACK_MS, ROW_COLUMNS, SCHEMA_VERSION};
use crate::{Error, PoolOptions, TableName};

/// Longest user key the `user_key VARCHAR(255)` column holds, in characters.
const MAX_USER_KEY_CHARS: usize = 255;
/// How long `migrate` waits for another process's migration.
const MIGRATION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Sessions in MySQL (5.7+, 8.x) or MariaDB (10.3+), through a `sqlx` pool.
///
/// The table is InnoDB with `utf8mb4_bin` text (user keys compare exactly, case
/// included); user keys are limited to 255 characters. `create` is a plain `INSERT`;
/// only when the key is taken by an *expired* row is that row deleted and the insert
/// tried once more. Expired deletion is `DELETE … WHERE purge_after <= ? AND expires_at
/// <= ? LIMIT ?` on the expiry index (see the [crate docs](crate#the-session-table)). A
/// save or touch leaves `purge_after` as it is while the new expiry stays within its
/// slack, in the same statement (InnoDB rewrites an index entry only when its column's
/// value changes).
///
/// Records are stored as described in the [crate docs](crate#the-session-table); call
/// [`migrate`](Self::migrate) once at start-up to create or upgrade the table.
///
/// # Examples
///
/// ```no_run
/// use sessionkit_sql::{MySqlStore, PoolOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionkit_sql::Error> {
/// let store = MySqlStore::connect("mysql://app:secret@localhost/app", PoolOptions::default()).await?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    sql: Arc<Queries>,
}

impl fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlStore")
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
    insert: String,
    delete_expired_one: String,
    compare_and_swap: String,
    touch: String,
    delete_live: String,
    delete: String,
    delete_expired: String,
    sessions_of: String,
    delete_sessions_of: String,
    delete_sessions_of_except: String,
    count: String,
}

impl Queries {
    fn new(table: TableName) -> Self {
        let t = quote(table.as_str());
        Self {
            load: format!("SELECT {ROW_COLUMNS} FROM {t} WHERE id_hash = ? AND expires_at > ?"),
            insert: format!(
                "INSERT INTO {t} (id_hash, data, expires_at, version, user_key, created_at, last_seen, purge_after) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            delete_expired_one: format!("DELETE FROM {t} WHERE id_hash = ? AND expires_at <= ?"),
            compare_and_swap: format!(
                "UPDATE {t} SET data = ?, expires_at = ?, version = ?, user_key = ?, \
                 created_at = ?, last_seen = ?, {KEEP_OR_MOVE_PURGE} \
                 WHERE id_hash = ? AND version = ? AND expires_at > ?"
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = ?, last_seen = ?, {KEEP_OR_MOVE_PURGE} \
                 WHERE id_hash = ? AND expires_at > ?"
            ),
            delete_live: format!("DELETE FROM {t} WHERE id_hash = ? AND expires_at > ?"),
            delete: format!("DELETE FROM {t} WHERE id_hash = ?"),
            delete_expired: format!(
                "DELETE FROM {t} WHERE purge_after <= ? AND expires_at <= ? LIMIT ?"
            ),
            sessions_of: format!(
                "SELECT {ROW_COLUMNS} FROM {t} WHERE user_key = ? AND expires_at > ? \
                 ORDER BY created_at, id_hash"
            ),
            delete_sessions_of: format!("DELETE FROM {t} WHERE user_key = ? AND expires_at > ?"),
            delete_sessions_of_except: format!(
                "DELETE FROM {t} WHERE user_key = ? AND expires_at > ? AND id_hash <> ?"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > ?"),
            table,
        }
    }
}

/// The assignment that keeps `purge_after` while the new expiry (the first two
/// parameters: the expiry and the expiry plus the slack) stays within its slack, else
/// moves it to the third (the expiry plus the slack). It names no column assigned
/// before it, so MySQL's left-to-right assignment order does not matter.
const KEEP_OR_MOVE_PURGE: &str =
    "purge_after = CASE WHEN purge_after BETWEEN ? AND ? THEN purge_after ELSE ? END";

fn quote(identifier: &str) -> String {
    // Safe: `TableName` admits only letters, digits and underscores.
    format!("`{identifier}`")
}

/// The numbered schema changes; `migrate` applies those above the recorded version.
/// (MySQL commits each DDL statement by itself: every statement here is idempotent, or
/// one atomic `ALTER TABLE` whose "duplicate column" error on a second run means it is
/// done, so a migration interrupted half-way is simply run again.)
fn migrations(table: &TableName) -> Vec<(i64, Vec<String>)> {
    let t = quote(table.as_str());
    let expires_idx = quote(&table.derived("expires_at_idx"));
    let user_idx = quote(&table.derived("user_key_idx"));
    let purge_idx = quote(&table.derived("purge_after_idx"));
    vec![
        (
        1,
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
             id_hash BINARY(32) NOT NULL, \
             data LONGBLOB NOT NULL, \
             expires_at BIGINT NOT NULL, \
             version BIGINT NOT NULL, \
             user_key VARCHAR({MAX_USER_KEY_CHARS}) NULL, \
             created_at BIGINT NOT NULL, \
             last_seen BIGINT NOT NULL, \
             PRIMARY KEY (id_hash), \
             INDEX {expires_idx} (expires_at), \
             INDEX {user_idx} (user_key, created_at)\
             ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"
            )],
        ),
        // Version 2: the expiry index moves to `purge_after` (see `row`).
        (
            2,
            vec![
                format!(
                    "ALTER TABLE {t} ADD COLUMN purge_after BIGINT NOT NULL DEFAULT 0, \
                     DROP INDEX {expires_idx}, ADD INDEX {purge_idx} (purge_after)"
                ),
                format!(
                    "UPDATE {t} SET purge_after = expires_at + {PURGE_SLACK_MS} WHERE purge_after = 0"
                ),
            ],
        ),
    ]
}

fn columns(record: &Record) -> Result<Columns, StoreError> {
    if record
        .user
        .as_ref()
        .is_some_and(|u| u.chars().count() > MAX_USER_KEY_CHARS)
    {
        return Err(StoreError::backend(
            "saving a session",
            "the MySQL store holds user keys of at most 255 characters",
        ));
    }
    Columns::of(record)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// MySQL's and MariaDB's `ER_DUP_FIELDNAME`: the column a migration adds is there already.
fn is_duplicate_column(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|m| m.number() == 1060))
}

impl MySqlStore {
    /// A store on an existing pool, using the table `sessions`.
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Queries::new(TableName::default())),
        }
    }

    /// Connects to `url` (`mysql://user:password@host:3306/database`; `mariadb://`
    /// works too).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUrlParameter`] for a query parameter sqlx does not read,
    /// [`Error::Connect`] when the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str, options: PoolOptions) -> Result<Self, Error> {
        crate::parameters::check(url, crate::parameters::MYSQL)?;
        if crate::parameters::database_name(url).is_none() {
            return Err(Error::NoDatabase);
        }
        let attempt = options.sqlx().connect(url).await;
        let pool = match attempt {
            Ok(pool) => pool,
            // The pool reports only that it timed out; one direct attempt tells why
            // (connection refused, unknown database, authentication failed, ...).
            Err(sqlx::Error::PoolTimedOut) => {
                use sqlx::Connection as _;
                let direct = tokio::time::timeout(
                    options.acquire_timeout(),
                    sqlx::mysql::MySqlConnection::connect(url),
                )
                .await;
                return Err(Error::Connect(match direct {
                    Ok(Err(cause)) => cause,
                    _ => sqlx::Error::PoolTimedOut,
                }));
            }
            Err(e) => return Err(Error::Connect(e)),
        };
        Ok(Self::new(pool))
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
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the session table and its indexes, or upgrades them, recording the
    /// schema version in `<table>_schema`. Holds a named lock (`GET_LOCK`) meanwhile, so
    /// it is safe to call on every start, from several processes at once.
    ///
    /// # Errors
    ///
    /// [`Error::Migrate`] when the database refuses;
    /// [`Error::MigrationLockTimeout`] when another migration holds the lock for over a
    /// minute; [`Error::SchemaTooNew`] when a newer version of this crate has
    /// migrated the table.
    pub async fn migrate(&self) -> Result<(), Error> {
        let table = &self.sql.table;
        let lock = table.derived("migration");
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::migrate("connecting"))?;
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&lock)
            .bind(MIGRATION_LOCK_WAIT.as_secs())
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::migrate("taking the migration lock"))?;
        if locked != Some(1) {
            return Err(Error::MigrationLockTimeout(MIGRATION_LOCK_WAIT));
        }
        let result = self.migrate_locked(&mut conn).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await;
        if released.is_err() {
            // The lock is the connection's: closing it releases the lock for sure.
            let _ = conn.detach();
        }
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::MySqlConnection) -> Result<(), Error> {
        let table = &self.sql.table;
        let schema = quote(&table.derived("schema"));
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {schema} (\
             version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE = InnoDB"
        ))
        .execute(&mut *conn)
        .await
        .map_err(Error::migrate("creating the schema version table"))?;
        let current: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM {schema}"
        ))
        .fetch_one(&mut *conn)
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
                match sqlx::query(statement).execute(&mut *conn).await {
                    Ok(_) => {}
                    // An earlier run stopped after this (atomic) ALTER TABLE.
                    Err(e) if is_duplicate_column(&e) => {}
                    Err(e) => return Err(Error::migrate("changing the session table")(e)),
                }
            }
            sqlx::query(&format!(
                "INSERT INTO {schema} (version, applied_at) VALUES (?, ?)"
            ))
            .bind(version)
            .bind(row::now_millis())
            .execute(&mut *conn)
            .await
            .map_err(Error::migrate("recording the schema version"))?;
            tracing::info!(table = %table, version, "migrated the session table");
        }
        Ok(())
    }

    async fn insert(&self, record: &Record, c: &Columns) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.insert)
            .bind(&record.id.as_bytes()[..])
            .bind(&c.data)
            .bind(c.expires_at)
            .bind(c.version)
            .bind(c.user_key.as_deref())
            .bind(c.created_at)
            .bind(c.last_seen)
            .bind(c.purge_after)
            .execute(&self.pool)
            .await
            .map(drop)
    }
}

#[async_trait]
impl SessionStore for MySqlStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        let row: Option<StoredRow> = sqlx::query_as(&self.sql.load)
            .bind(&id.as_bytes()[..])
            .bind(row::now_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::backend("loading a session", e))?;
        row.map(row::record_from).transpose()
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let c = columns(record)?;
        match self.insert(record, &c).await {
            Ok(()) => return Ok(()),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(StoreError::backend("creating a session", e)),
        }
        // The key is taken. Only an expired row may be replaced.
        let cleared = sqlx::query(&self.sql.delete_expired_one)
            .bind(&record.id.as_bytes()[..])
            .bind(row::now_millis())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("creating a session", e))?;
        if cleared.rows_affected() == 0 {
            return Err(StoreError::Exists);
        }
        match self.insert(record, &c).await {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists),
            Err(e) => Err(StoreError::backend("creating a session", e)),
        }
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let c = columns(record)?;
        // sqlx asks MySQL for *matched* rows (CLIENT_FOUND_ROWS), so an update that
        // happens to write identical values still counts.
        let done = sqlx::query(&self.sql.compare_and_swap)
            .bind(c.data)
            .bind(c.expires_at)
            .bind(c.version)
            .bind(c.user_key)
            .bind(c.created_at)
            .bind(c.last_seen)
            .bind(c.expires_at)
            .bind(c.purge_after)
            .bind(c.purge_after)
            .bind(&record.id.as_bytes()[..])
            .bind(row::version_to_db(expected_version))
            .bind(row::now_millis())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("saving a session", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let expires_at = row::millis(expires_at);
        let purge_after = row::purge_after(expires_at);
        let done = sqlx::query(&self.sql.touch)
            .bind(expires_at)
            .bind(row::millis(now))
            .bind(expires_at)
            .bind(purge_after)
            .bind(purge_after)
            .bind(&id.as_bytes()[..])
            .bind(row::millis(now))
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("extending a session", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let live = sqlx::query(&self.sql.delete_live)
            .bind(&id.as_bytes()[..])
            .bind(row::now_millis())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("deleting a session", e))?;
        if live.rows_affected() > 0 {
            return Ok(true);
        }
        // No live session; clear an expired row of this key, if any, all the same.
        sqlx::query(&self.sql.delete)
            .bind(&id.as_bytes()[..])
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("deleting a session", e))?;
        Ok(false)
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        Some(self)
    }

    fn listing(&self) -> Option<&dyn sessionkit_core::SessionListing> {
        Some(self)
    }
}

crate::listing::impl_listing!(
    MySqlStore,
    quote,
    |_| "?".to_owned(),
    "CONVERT(user_key USING utf8mb4)"
);

#[async_trait]
impl UserIndex for MySqlStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<StoredRow> = sqlx::query_as(&self.sql.sessions_of)
            .bind(user)
            .bind(row::now_millis())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::backend("listing the sessions of a user", e))?;
        Ok(row::records_from(rows))
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        let query = match except {
            Some(id) => sqlx::query(&self.sql.delete_sessions_of_except)
                .bind(user)
                .bind(row::now_millis())
                .bind(&id.as_bytes()[..]),
            None => sqlx::query(&self.sql.delete_sessions_of)
                .bind(user)
                .bind(row::now_millis()),
        };
        let done = query
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("deleting the sessions of a user", e))?;
        Ok(done.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&self.sql.count)
            .bind(row::now_millis())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::backend("counting sessions", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[async_trait]
impl ExpiredDeletion for MySqlStore {
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let now = row::now_millis();
        let done = sqlx::query(&self.sql.delete_expired)
            .bind(row::purge_after(now))
            .bind(now)
            .bind(row::limit(max))
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::backend("deleting expired sessions", e))?;
        Ok(done.rows_affected())
    }
}
