//! Opening a store from a URL: [`connect`], [`PoolOptions`] and [`AnySqlStore`].

use std::time::Duration;

use async_trait::async_trait;
use sessionkit_core::{ExpiredDeletion, IdHash, Record, SessionStore, StoreError, UserIndex};
use time::OffsetDateTime;

use crate::Error;
#[cfg(feature = "mysql")]
use crate::MySqlStore;
#[cfg(feature = "postgres")]
use crate::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::SqliteStore;

/// Connection pool settings shared by every backend.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sessionkit_sql::PoolOptions;
///
/// let options = PoolOptions::default()
///     .with_max_connections(20)
///     .with_acquire_timeout(Duration::from_secs(2));
/// assert_eq!(options.max_connections(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    max_connections: u32,
    acquire_timeout: Duration,
}

impl Default for PoolOptions {
    /// 10 connections; a request waits at most 5 s for one.
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl PoolOptions {
    /// The defaults: 10 connections, 5 s acquire timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most connections the pool opens (at least 1). Ignored for
    /// `sqlite::memory:`, which always uses one.
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets how long a store call waits for a free connection before failing.
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long a store call waits for a free connection.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// sqlx pool options of this size and timeout, with the liveness check every
    /// backend uses: a connection that waited in the pool longer than
    /// [`PING_AFTER_IDLE`] is pinged before it is handed out (and replaced if the ping
    /// fails); one used moments ago is not. sqlx already pings every connection when it
    /// goes back to the pool and closes it if that fails, so a connection idle for less
    /// than a second passed a ping less than a second ago; pinging it again on acquire
    /// (sqlx's default) would add a round trip to the database before every statement.
    pub(crate) fn sqlx<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::<DB>::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
    }
}

/// How long a pooled connection may sit unused before it is pinged on its next
/// acquire (as connection pools such as HikariCP skip checking connections used within
/// the last half second).
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A SQL store of whichever database a URL named: what [`connect`] returns.
///
/// It is a [`SessionStore`] (with the user index and expired deletion) that delegates to
/// the backend's own store; match on it to reach backend-specific methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnySqlStore {
    /// `sqlite:` URLs.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// `postgres:` and `postgresql:` URLs.
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
    /// `mysql:` and `mariadb:` URLs.
    #[cfg(feature = "mysql")]
    MySql(MySqlStore),
}

/// Runs `$body` with `$store` bound to the backend store inside `$any`.
/// (`*self` with `ref s` when borrowing: an enum without backends still matches.)
macro_rules! dispatch {
    ($any:expr, $store:pat => $body:expr) => {
        match $any {
            #[cfg(feature = "sqlite")]
            AnySqlStore::Sqlite($store) => $body,
            #[cfg(feature = "postgres")]
            AnySqlStore::Postgres($store) => $body,
            #[cfg(feature = "mysql")]
            AnySqlStore::MySql($store) => $body,
        }
    };
}

impl AnySqlStore {
    /// Which database this is: `"sqlite"`, `"postgres"` or `"mysql"`.
    pub fn backend(&self) -> &'static str {
        match *self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
            #[cfg(feature = "mysql")]
            Self::MySql(_) => "mysql",
        }
    }

    /// Creates or upgrades the session table; see the backend's `migrate`.
    ///
    /// # Errors
    ///
    /// [`Error::Migrate`] when the database refuses; [`Error::SchemaTooNew`] when a
    /// newer version of this crate has migrated the table.
    pub async fn migrate(&self) -> Result<(), Error> {
        dispatch!(*self, ref s => s.migrate().await)
    }

    /// Uses the table `name` instead of `sessions`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] unless `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
    pub fn with_table_name(self, name: &str) -> Result<Self, Error> {
        Ok(dispatch!(self, s => s.with_table_name(name)?.into()))
    }

    /// The session table's name.
    pub fn table_name(&self) -> &str {
        dispatch!(*self, ref s => s.table_name())
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        dispatch!(*self, ref s => s.close().await);
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteStore> for AnySqlStore {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

#[cfg(feature = "postgres")]
impl From<PostgresStore> for AnySqlStore {
    fn from(store: PostgresStore) -> Self {
        Self::Postgres(store)
    }
}

#[cfg(feature = "mysql")]
impl From<MySqlStore> for AnySqlStore {
    fn from(store: MySqlStore) -> Self {
        Self::MySql(store)
    }
}

#[async_trait]
impl SessionStore for AnySqlStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        dispatch!(*self, ref s => s.load(id).await)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        dispatch!(*self, ref s => s.create(record).await)
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        dispatch!(*self, ref s => s.compare_and_swap(record, expected_version).await)
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        dispatch!(*self, ref s => s.touch(id, expires_at, now).await)
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        dispatch!(*self, ref s => s.delete(id).await)
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        dispatch!(*self, ref s => s.user_index())
    }

    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        dispatch!(*self, ref s => s.expired_deletion())
    }

    fn listing(&self) -> Option<&dyn sessionkit_core::SessionListing> {
        dispatch!(*self, ref s => s.listing())
    }
}

/// The databases a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Sqlite,
    Postgres,
    MySql,
}

impl Scheme {
    fn of(url: &str) -> Result<Self, Error> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::MySql),
            _ => {
                // Only show something that looks like a scheme: a URL without one
                // could start with `user:password@`.
                let looks_like_scheme = !scheme.is_empty()
                    && scheme.len() <= 16
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
                let scheme = if looks_like_scheme {
                    scheme.to_owned()
                } else {
                    String::new()
                };
                Err(Error::UnsupportedScheme { scheme })
            }
        }
    }
}

/// Opens the store a URL names, with a connection pool set up by `options`.
///
/// | URL | store | feature |
/// | --- | --- | --- |
/// | `sqlite://path/to/file.db`, `sqlite:///abs/file.db` (created if missing), `sqlite::memory:` | [`SqliteStore`] | `sqlite` (default) |
/// | `postgres://user:pass@host:5432/db` (or `postgresql://`) | `PostgresStore` | `postgres` |
/// | `mysql://user:pass@host:3306/db` (or `mariadb://`) | `MySqlStore` | `mysql` |
///
/// The store uses the table `sessions`; pick another with
/// [`AnySqlStore::with_table_name`], then call [`AnySqlStore::migrate`].
///
/// # Errors
///
/// [`Error::UnsupportedScheme`] for any other scheme, [`Error::FeatureDisabled`] when
/// the scheme's feature is not compiled in, [`Error::Connect`] when the URL is
/// malformed or the database cannot be reached.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = sessionkit_sql::connect("sqlite::memory:", Default::default()).await?;
/// store.migrate().await?;
/// assert_eq!(store.backend(), "sqlite");
///
/// let unknown = sessionkit_sql::connect("oracle://db", Default::default()).await;
/// assert!(matches!(unknown, Err(sessionkit_sql::Error::UnsupportedScheme { .. })));
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str, options: PoolOptions) -> Result<AnySqlStore, Error> {
    let _ = &options;
    match Scheme::of(url)? {
        #[cfg(feature = "sqlite")]
        Scheme::Sqlite => Ok(SqliteStore::connect(url, options).await?.into()),
        #[cfg(not(feature = "sqlite"))]
        Scheme::Sqlite => Err(Error::FeatureDisabled {
            scheme: "sqlite",
            feature: "sqlite",
        }),
        #[cfg(feature = "postgres")]
        Scheme::Postgres => Ok(PostgresStore::connect(url, options).await?.into()),
        #[cfg(not(feature = "postgres"))]
        Scheme::Postgres => Err(Error::FeatureDisabled {
            scheme: "postgres",
            feature: "postgres",
        }),
        #[cfg(feature = "mysql")]
        Scheme::MySql => Ok(MySqlStore::connect(url, options).await?.into()),
        #[cfg(not(feature = "mysql"))]
        Scheme::MySql => Err(Error::FeatureDisabled {
            scheme: "mysql",
            feature: "mysql",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised_case_insensitively() -> Result<(), Error> {
        assert_eq!(Scheme::of("sqlite::memory:")?, Scheme::Sqlite);
        assert_eq!(Scheme::of("sqlite://x.db")?, Scheme::Sqlite);
        assert_eq!(Scheme::of("postgres://u@h/db")?, Scheme::Postgres);
        assert_eq!(Scheme::of("PostgreSQL://u@h/db")?, Scheme::Postgres);
        assert_eq!(Scheme::of("mysql://u@h/db")?, Scheme::MySql);
        assert_eq!(Scheme::of("mariadb://u@h/db")?, Scheme::MySql);
        Ok(())
    }

    #[test]
    fn unknown_schemes_are_named_but_never_the_rest_of_the_url() {
        match Scheme::of("redis://:hunter2@host") {
            Err(Error::UnsupportedScheme { scheme }) => assert_eq!(scheme, "redis"),
            other => panic!("unexpected {other:?}"),
        }
        for url in ["admin:hunter2@host/db", "no scheme at all", ""] {
            let err = Scheme::of(url).map(|_| ()).map_err(|e| e.to_string());
            let message = err.expect_err("not a URL");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn pool_options_never_allow_zero_connections() {
        assert_eq!(
            PoolOptions::new().with_max_connections(0).max_connections(),
            1
        );
    }
}
