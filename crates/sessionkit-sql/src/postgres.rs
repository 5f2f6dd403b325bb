//! [`PostgresStore`]: sessions in PostgreSQL.

use std::fmt;
use std::sync::Arc;

use sqlx::postgres::PgPool;

use crate::row::{self, PURGE_SLACK_MS, ROW_COLUMNS, SCHEMA_VERSION};
use crate::{Error, PoolOptions, TableName};

/// Sessions in PostgreSQL, through a `sqlx` pool.
///
/// Every operation is one statement: `create` is an `INSERT … ON CONFLICT DO UPDATE …
/// WHERE <the existing row has expired>` (a live row is never overwritten),
/// compare-and-swap an `UPDATE … WHERE version = $n`, expired deletion a bounded
/// `DELETE` that skips rows other transactions hold.
///
/// The table lives in the connection's current schema (`search_path`). Records are
/// stored as described in the [crate docs](crate#the-session-table); call
/// [`migrate`](Self::migrate) once at start-up to create or upgrade the table.
///
/// # Examples
///
/// ```no_run
/// use sessionkit_sql::{PoolOptions, PostgresStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionkit_sql::Error> {
/// let store = PostgresStore::connect("postgres://app@localhost/app", PoolOptions::default()).await?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Queries>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
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
            load: format!("SELECT {ROW_COLUMNS} FROM {t} WHERE id_hash = $1 AND expires_at > $2"),
            // A live row with this key makes the upsert's WHERE false: nothing changes,
            // zero rows are affected, and that is `Exists`. An expired one is replaced.
            create: format!(
                "INSERT INTO {t} AS s (id_hash, data, expires_at, version, user_key, created_at, last_seen, purge_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id_hash) DO UPDATE SET data = EXCLUDED.data, \
                 expires_at = EXCLUDED.expires_at, version = EXCLUDED.version, \
                 user_key = EXCLUDED.user_key, created_at = EXCLUDED.created_at, \
                 last_seen = EXCLUDED.last_seen, purge_after = EXCLUDED.purge_after \
                 WHERE s.expires_at <= $9"
            ),
            // The two forms of a save and of a touch bind the same values: the first
            // leaves `purge_after` and its index alone and matches only while the new
            // expiry stays within the slack; the second moves it (see `row`).
            compare_and_swap: format!(
                "UPDATE {t} SET data = $1, expires_at = $2, version = $3, user_key = $4, \
                 created_at = $5, last_seen = $6 \
                 WHERE id_hash = $7 AND version = $8 AND expires_at > $9 \
                 AND purge_after >= $2 AND purge_after <= $10"
            ),
            compare_and_swap_moving: format!(
                "UPDATE {t} SET data = $1, expires_at = $2, version = $3, user_key = $4, \
                 created_at = $5, last_seen = $6, purge_after = $10 \
                 WHERE id_hash = $7 AND version = $8 AND expires_at > $9"
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = $1, last_seen = $2 WHERE id_hash = $3 \
                 AND expires_at > $4 AND purge_after >= $1 AND purge_after <= $5"
            ),
            touch_moving: format!(
                "UPDATE {t} SET expires_at = $1, last_seen = $2, purge_after = $5 \
                 WHERE id_hash = $3 AND expires_at > $4"
            ),
            delete: format!("DELETE FROM {t} WHERE id_hash = $1 RETURNING expires_at"),
            // The batch is picked through the `purge_after` index and locked (FOR UPDATE
            // re-checks `expires_at` on the newest version of a row changed meanwhile);
            // SKIP LOCKED leaves rows a request is extending right now alone, and two
            // cleaners never wait for each other. `= ANY(ARRAY(..))` makes the delete
            // itself a primary-key lookup whatever the batch size.
            delete_expired: format!(
                "DELETE FROM {t} WHERE id_hash = ANY(ARRAY(\
                 SELECT id_hash FROM {t} WHERE purge_after <= $3 AND expires_at <= $1 LIMIT $2 \
                 FOR UPDATE SKIP LOCKED))"
            ),
            sessions_of: format!(
                "SELECT {ROW_COLUMNS} FROM {t} WHERE user_key = $1 AND expires_at > $2 \
                 ORDER BY created_at, id_hash"
            ),
            delete_sessions_of: format!(
                "DELETE FROM {t} WHERE user_key = $1 AND expires_at > $2 AND id_hash <> $3"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > $1"),
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
                 id_hash BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(id_hash) = 32), \
                 data BYTEA NOT NULL, \
                 expires_at BIGINT NOT NULL, \
                 version BIGINT NOT NULL, \
                 user_key TEXT, \
                 created_at BIGINT NOT NULL, \
                 last_seen BIGINT NOT NULL)"
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
                format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS purge_after BIGINT NOT NULL DEFAULT 0"),
                format!("UPDATE {t} SET purge_after = expires_at + {PURGE_SLACK_MS}"),
                format!("DROP INDEX IF EXISTS {expires_idx}"),
                format!("CREATE INDEX IF NOT EXISTS {purge_idx} ON {t} (purge_after)"),
            ],
        ),
    ]
}

impl PostgresStore {
    /// A store on an existing pool, using the table `sessions`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Queries::new(TableName::default())),
        }
    }

    /// Connects to `url` (`postgres://user:password@host:5432/database`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUrlParameter`] for a query parameter sqlx does not read,
    /// [`Error::Connect`] when the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str, options: PoolOptions) -> Result<Self, Error> {
        crate::parameters::check(url, crate::parameters::POSTGRES)?;
        let attempt = options.sqlx().connect(url).await;
        let pool = match attempt {
            Ok(pool) => pool,
            // The pool reports only that it timed out; one direct attempt tells why
            // (connection refused, unknown database, authentication failed, ...).
            Err(sqlx::Error::PoolTimedOut) => {
                use sqlx::Connection as _;
                let direct = tokio::time::timeout(
                    options.acquire_timeout(),
                    sqlx::postgres::PgConnection::connect(url),
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
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the session table and its indexes, or upgrades them, recording the
    /// schema version in `<table>_schema`. Runs in one transaction under an advisory
    /// lock, so it is safe to call on every start, from several processes at once.
    ///
    /// # Errors
    ///
    /// [`Error::Migrate`] when the database refuses; [`Error::SchemaTooNew`] when a
    /// newer version of this crate has migrated the table.
    pub async fn migrate(&self) -> Result<(), Error> {
        let table = &self.sql.table;
        let schema = quote(&table.derived("schema"));
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(Error::migrate("starting the migration"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(table.lock_key())
            .execute(&mut *tx)
            .await
            .map_err(Error::migrate("taking the migration lock"))?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {schema} (\
             version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
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
                "INSERT INTO {schema} (version, applied_at) VALUES ($1, $2)"
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

crate::numbered::impl_numbered_store!(PostgresStore, quote, |n| format!("${n}"));
