//! The URL dispatch and the store enum.

use async_trait::async_trait;
use sessionkit_core::store::{ExpiredDeletion, SessionListing, StoreError, UserIndex};
use sessionkit_core::{IdHash, MemoryStore, Record, SessionStore};
use time::OffsetDateTime;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no known store.
    #[error("unknown session store URL scheme in {0:?}; expected memory://, file://, sqlite://, postgres://, mysql://, redis://, memcache://")]
    UnknownScheme(String),
    /// The store exists but was not compiled in.
    #[error(
        "{scheme} stores are not compiled in: enable the `{feature}` feature of sessionkit-any"
    )]
    NotCompiled {
        /// The URL scheme.
        scheme: &'static str,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The store refused the URL or could not be reached.
    #[error("cannot open the session store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One of the stores, chosen at run time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// In process memory.
    Memory(MemoryStore),
    /// One file per session in a directory.
    #[cfg(feature = "file")]
    File(sessionkit_core::FileStore),
    /// Redis: standalone, Sentinel or Cluster.
    #[cfg(feature = "redis")]
    Redis(sessionkit_redis::RedisStore),
    /// Memcached.
    #[cfg(feature = "memcached")]
    Memcached(sessionkit_memcached::MemcachedStore),
    /// SQLite, PostgreSQL or MySQL/MariaDB.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    Sql(sessionkit_sql::AnySqlStore),
}

fn scheme_of(url: &str) -> String {
    url.split_once(':')
        .map_or(url, |(s, _)| s)
        .to_ascii_lowercase()
}

/// Opens the store `url` names (see the crate docs for the URLs).
///
/// # Errors
///
/// [`OpenError`] for an unknown scheme, a scheme not compiled in, or a store that
/// cannot be reached.
pub async fn open(url: &str) -> Result<AnyStore, OpenError> {
    match scheme_of(url).as_str() {
        "memory" => open_memory(url),
        "file" => open_file(url).await,
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => open_sql(url).await,
        "redis" | "rediss" | "redis+unix" | "redis+sentinel" | "rediss+sentinel"
        | "redis+cluster" | "rediss+cluster" => open_redis(url).await,
        "memcache" | "memcached" => open_memcached(url).await,
        _ => Err(OpenError::UnknownScheme(redact(url))),
    }
}

/// `memory://` (records kept decoded) or `memory://?compact` (packed into bytes).
fn open_memory(url: &str) -> Result<AnyStore, OpenError> {
    let options = url.split_once('?').map_or("", |(_, query)| query);
    match options {
        "" => Ok(AnyStore::Memory(MemoryStore::new())),
        "compact" | "compact=true" => Ok(AnyStore::Memory(MemoryStore::new().compact())),
        other => Err(OpenError::Store(
            format!("unknown memory store option {other:?}; the one option is `compact`").into(),
        )),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn open_sql(url: &str) -> Result<AnyStore, OpenError> {
    sessionkit_sql::connect(url, sessionkit_sql::PoolOptions::default())
        .await
        .map(AnyStore::Sql)
        .map_err(|e| OpenError::Store(Box::new(e)))
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
async fn open_sql(_url: &str) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotCompiled {
        scheme: "SQL",
        feature: "sqlite",
    })
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str) -> Result<AnyStore, OpenError> {
    sessionkit_redis::connect(url, sessionkit_redis::RedisOptions::default())
        .await
        .map(AnyStore::Redis)
        .map_err(|e| OpenError::Store(Box::new(e)))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_url: &str) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotCompiled {
        scheme: "redis",
        feature: "redis",
    })
}

#[cfg(feature = "memcached")]
async fn open_memcached(url: &str) -> Result<AnyStore, OpenError> {
    sessionkit_memcached::connect(url)
        .await
        .map(AnyStore::Memcached)
        .map_err(|e| OpenError::Store(Box::new(e)))
}

#[cfg(not(feature = "memcached"))]
async fn open_memcached(_url: &str) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotCompiled {
        scheme: "memcache",
        feature: "memcached",
    })
}

#[cfg(feature = "file")]
async fn open_file(url: &str) -> Result<AnyStore, OpenError> {
    let path = url.trim_start_matches("file:").trim_start_matches("//");
    if path.is_empty() {
        return Err(OpenError::Store(
            "file:// needs a directory, e.g. file:///var/lib/app/sessions".into(),
        ));
    }
    sessionkit_core::FileStore::open(path)
        .await
        .map(AnyStore::File)
        .map_err(|e| OpenError::Store(Box::new(e)))
}

#[cfg(not(feature = "file"))]
async fn open_file(_url: &str) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotCompiled {
        scheme: "file",
        feature: "file",
    })
}

/// The URL without user info (passwords) and query, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not URL-shaped: show only what stands before the first colon (never what
        // could be a user:password pair).
        let scheme = url.split(':').next().unwrap_or_default();
        return format!("{}:…", scheme.chars().take(20).collect::<String>());
    };
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    format!("{scheme}://{rest}").chars().take(120).collect()
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e,
            #[cfg(feature = "file")]
            AnyStore::File($s) => $e,
            #[cfg(feature = "redis")]
            AnyStore::Redis($s) => $e,
            #[cfg(feature = "memcached")]
            AnyStore::Memcached($s) => $e,
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            AnyStore::Sql($s) => $e,
        }
    };
}

impl AnyStore {
    /// Creates or upgrades what the store needs (tables); a no-op for stores that need
    /// nothing. Idempotent.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match self {
            Self::Memory(_) => Ok(()),
            #[cfg(feature = "file")]
            Self::File(_) => Ok(()),
            #[cfg(feature = "redis")]
            Self::Redis(_) => Ok(()),
            #[cfg(feature = "memcached")]
            Self::Memcached(_) => Ok(()),
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            Self::Sql(s) => s.migrate().await.map_err(|e| OpenError::Store(Box::new(e))),
        }
    }

    /// Housekeeping a store needs beyond deleting expired sessions (Redis: pruning
    /// user-index entries whose sessions expired); returns how many entries went.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn housekeeping(&self) -> Result<u64, StoreError> {
        match self {
            #[cfg(feature = "redis")]
            Self::Redis(s) => s.prune_user_index().await,
            _ => Ok(0),
        }
    }

    /// A log-safe description: the kind of store and where it is, never a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Memory(_) => "memory".to_owned(),
            #[cfg(feature = "file")]
            Self::File(_) => "file".to_owned(),
            #[cfg(feature = "redis")]
            Self::Redis(s) => format!("redis (prefix {})", s.key_prefix()),
            #[cfg(feature = "memcached")]
            Self::Memcached(s) => format!("memcached (prefix {})", s.key_prefix()),
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            Self::Sql(s) => format!("{} (table {})", s.backend(), s.table_name()),
        }
    }
}

#[async_trait]
impl SessionStore for AnyStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        each!(self, s => s.load(id).await)
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        each!(self, s => s.create(record).await)
    }
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.compare_and_swap(record, expected_version).await)
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.touch(id, expires_at, now).await)
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        each!(self, s => s.delete(id).await)
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        each!(self, s => s.user_index())
    }
    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        each!(self, s => s.expired_deletion())
    }
    fn listing(&self) -> Option<&dyn SessionListing> {
        each!(self, s => s.listing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_passwords_and_queries() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/x?sslmode=disable"),
            "postgres://db:5432/x"
        );
        assert_eq!(
            redact("redis://:pw@127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact("nonsense:secret"), "nonsense:…");
        assert!(!redact("admin:hunter2@db").contains("hunter2"));
    }

    #[tokio::test]
    async fn memory_urls_open_the_plain_or_compact_store_and_refuse_unknown_options() {
        for url in ["memory://", "memory://?compact", "memory://?compact=true"] {
            assert!(matches!(open(url).await, Ok(AnyStore::Memory(_))), "{url}");
        }
        let err = open("memory://?compat")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown memory store option"), "{err}");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_clearly() {
        let err = open("ftp://user:pw@host/x")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown session store URL scheme"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
