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
    /// The URL is malformed, or asks for an option the store does not have.
    #[error("invalid session store URL: {0}")]
    InvalidUrl(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// [`open_existing`] found no database file or session directory at the path.
    #[error("no session store at {0}: check the path, or create the store with `migrate`")]
    Missing(String),
    /// The store could not be reached or set up.
    #[error("cannot open the session store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl OpenError {
    fn invalid(reason: &str) -> Self {
        Self::InvalidUrl(reason.into())
    }
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

/// Every scheme [`open`] knows, compiled in or not.
const KNOWN_SCHEMES: &[&str] = &[
    "memory",
    "file",
    "sqlite",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "redis",
    "rediss",
    "redis+unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
    "memcache",
    "memcached",
];

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
    let scheme = scheme_of(url);
    // Schemes are case-insensitive (RFC 3986); the drivers are not all (sqlx reads
    // `Sqlite:x.db` as a file named so).
    let url = &format!("{scheme}{}", url.get(scheme.len()..).unwrap_or_default());
    // Without `//`, sqlx reads the rest of a database URL, password and all, as a
    // database name (which the server's error then repeats): refuse it here.
    let network = !matches!(scheme.as_str(), "memory" | "file" | "sqlite");
    let known = KNOWN_SCHEMES.contains(&scheme.as_str());
    if known && network && !url[scheme.len()..].starts_with("://") {
        return Err(OpenError::invalid(
            "a database, Redis or Memcached URL starts with its scheme and `://`, e.g. postgres://user@host/db",
        ));
    }
    // An `@` after the host's end (the first `/`, `?` or `#`) is a password holding
    // one of those characters unencoded: the drivers would read the password's tail as
    // a database name or a query parameter, and their errors and logs repeat it.
    if known && network && at_after_host(url) {
        return Err(OpenError::invalid(
            "an `@` after the host: user and password go before the host \
             (scheme://user:password@host/…), with `/ ? # & @` in them written as \
             %2F %3F %23 %26 %40",
        ));
    }
    if known && network && names_port_zero(url) {
        return Err(OpenError::invalid(
            "port 0 names no server: give the port the server listens on, or none for the default",
        ));
    }
    match scheme.as_str() {
        "memory" => open_memory(url),
        "file" => open_file(url).await,
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => open_sql(url).await,
        "redis" | "rediss" | "redis+unix" | "redis+sentinel" | "rediss+sentinel"
        | "redis+cluster" | "rediss+cluster" => open_redis(url).await,
        "memcache" | "memcached" => open_memcached(url).await,
        _ => Err(OpenError::UnknownScheme(redact(url))),
    }
}

/// Whether an `@` follows the end of a URL's authority (its first `/`, `?` or `#`).
fn at_after_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find(['/', '?', '#'])
        .is_some_and(|end| rest[end..].contains('@'))
}

/// Whether a host of a network URL has port 0 (`redis://h:0`, one of a Cluster's).
fn names_port_zero(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts);
    let hosts = rest.split(['/', '?', '#']).next().unwrap_or_default();
    hosts.split(',').any(|host| {
        host.trim()
            .rsplit_once(':')
            .is_some_and(|(_, port)| port == "0")
    })
}

/// Opens a store that must already exist: as [`open`], but a SQLite database file or a
/// session directory that is not there is [`OpenError::Missing`] instead of being
/// created. For tools that inspect or clean a store (the `sessionkit` commands other
/// than `migrate`), where a mistyped path must not "succeed" on a new, empty store.
///
/// # Errors
///
/// As [`open`], and [`OpenError::Missing`]; an in-memory SQLite database or a memory
/// store, which would be empty, is [`OpenError::InvalidUrl`].
pub async fn open_existing(url: &str) -> Result<AnyStore, OpenError> {
    let path = match scheme_of(url).as_str() {
        "file" => Some(file_path(url)?),
        "sqlite" => Some(sqlite_path(url)?.ok_or_else(|| {
            OpenError::invalid(
                "an in-memory SQLite database starts empty in every process: name the \
                 database file (sqlite://path/to/sessions.db)",
            )
        })?),
        "memory" => {
            return Err(OpenError::invalid(
                "a memory store lives inside the application's process and starts empty in \
                 every other one: give the URL of a store the application shares (sqlite://, \
                 postgres://, redis://, …)",
            ))
        }
        _ => None,
    };
    if let Some(path) = path {
        if !std::path::Path::new(&path).exists() {
            return Err(OpenError::Missing(path));
        }
    }
    open(url).await
}

/// The database file of a `sqlite:` URL, percent-decoded as sqlx decodes it; `None`
/// for an in-memory database.
fn sqlite_path(url: &str) -> Result<Option<String>, OpenError> {
    let rest = &url["sqlite:".len()..];
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty() || path.starts_with(":memory:") || query.contains("mode=memory");
    if memory {
        return Ok(None);
    }
    decoded(path).map(Some)
}

/// A URL's path with `%XX` escapes decoded.
fn decoded(path: &str) -> Result<String, OpenError> {
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| OpenError::invalid("the path's %-escapes do not decode to UTF-8"))
}

/// `memory://` (records kept decoded) or `memory://?compact` (packed into bytes).
fn open_memory(url: &str) -> Result<AnyStore, OpenError> {
    let (place, options) = url.split_once('?').unwrap_or((url, ""));
    if !matches!(place, "memory://" | "memory:") {
        return Err(OpenError::invalid(
            "the memory store is `memory://` or `memory://?compact`, with no host, path or fragment",
        ));
    }
    match options {
        "" => Ok(AnyStore::Memory(MemoryStore::new())),
        "compact" | "compact=true" => Ok(AnyStore::Memory(MemoryStore::new().compact())),
        _ => {
            let name = sessionkit_core::store::unknown_url_parameter(url, |n| n == "compact")
                .map_or_else(String::new, |name| format!(" {name}"));
            Err(OpenError::InvalidUrl(
                format!("unknown memory store option{name}; the one option is `compact`").into(),
            ))
        }
    }
}

/// Takes the option `name=value` out of a URL's query, for the options that are this
/// crate's and not the driver's: the URL without it (fragment kept), and the value,
/// percent-decoded (`prefix=app%3A` is `app:`; `+` stays `+`).
///
/// # Errors
///
/// [`OpenError::InvalidUrl`] when the option is given twice, or its value does not
/// decode to UTF-8.
fn take_option(url: &str, name: &str) -> Result<(String, Option<String>), OpenError> {
    let (url, fragment) = match url.split_once('#') {
        Some((url, fragment)) => (url, format!("#{fragment}")),
        None => (url, String::new()),
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((format!("{url}{fragment}"), None));
    };
    let mut value = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if decoded(key).ok().as_deref() != Some(name) {
            rest.push(pair);
        } else if value.is_some() {
            return Err(OpenError::InvalidUrl(
                format!("the `{name}` option is given twice").into(),
            ));
        } else {
            value = Some(decoded(raw)?);
        }
    }
    let query = if rest.is_empty() {
        String::new()
    } else {
        format!("?{}", rest.join("&"))
    };
    Ok((format!("{base}{query}{fragment}"), value))
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn open_sql(url: &str) -> Result<AnyStore, OpenError> {
    let sorted = |e: sessionkit_sql::Error| {
        if let sessionkit_sql::Error::UnknownUrlParameter { .. } = e {
            OpenError::InvalidUrl(format!("{e}, and sessionkit's own `table`").into())
        } else if e.is_invalid_url() {
            OpenError::InvalidUrl(Box::new(e))
        } else {
            OpenError::Store(Box::new(e))
        }
    };
    let (url, table) = take_option(url, "table")?;
    if url.starts_with("sqlite:") {
        create_parent_dir(&url)?;
    }
    let store = sessionkit_sql::connect(&url, sessionkit_sql::PoolOptions::default())
        .await
        .map_err(sorted)?;
    let store = match table {
        Some(table) => store
            .with_table_name(&table)
            .map_err(|e| OpenError::InvalidUrl(Box::new(e)))?,
        None => store,
    };
    Ok(AnyStore::Sql(store))
}

/// Creates the folder of a SQLite database file that does not exist yet (owner-only),
/// as the file store creates its directory: sqlx creates the file, not its folder.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn create_parent_dir(url: &str) -> Result<(), OpenError> {
    let Some(path) = sqlite_path(url)? else {
        return Ok(());
    };
    match std::path::Path::new(&path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            sessionkit_core::store::private_dir_builder()
                .recursive(true)
                .create(dir)
                .map_err(|e| {
                    OpenError::Store(
                        format!("cannot create the folder {}: {e}", dir.display()).into(),
                    )
                })
        }
        _ => Ok(()),
    }
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
    let (url, prefix) = take_option(url, "prefix")?;
    let mut options = sessionkit_redis::RedisOptions::default();
    if let Some(prefix) = prefix {
        options = options.with_key_prefix(prefix);
    }
    sessionkit_redis::connect(&url, options)
        .await
        .map(AnyStore::Redis)
        .map_err(|e| {
            if let sessionkit_redis::Error::UnknownUrlParameter { .. } = e {
                OpenError::InvalidUrl(format!("{e}; sessionkit's own is `prefix`").into())
            } else if e.is_invalid_url() {
                OpenError::InvalidUrl(Box::new(e))
            } else {
                OpenError::Store(Box::new(e))
            }
        })
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
    let (url, prefix) = take_option(url, "prefix")?;
    let mut options = sessionkit_memcached::MemcachedOptions::default();
    if let Some(prefix) = prefix {
        options = options.with_key_prefix(prefix);
    }
    sessionkit_memcached::MemcachedStore::connect(&url, options)
        .await
        .map(AnyStore::Memcached)
        .map_err(|e| match e {
            sessionkit_memcached::Error::UnknownUrlParameter { .. } => {
                OpenError::InvalidUrl(format!("{e} but sessionkit's own `prefix`").into())
            }
            sessionkit_memcached::Error::InvalidUrl { .. }
            | sessionkit_memcached::Error::UnsupportedScheme { .. }
            | sessionkit_memcached::Error::InvalidPrefix { .. } => {
                OpenError::InvalidUrl(Box::new(e))
            }
            e => OpenError::Store(Box::new(e)),
        })
}

#[cfg(not(feature = "memcached"))]
async fn open_memcached(_url: &str) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotCompiled {
        scheme: "memcache",
        feature: "memcached",
    })
}

/// The directory of a `file:` URL: `file:///abs/dir`, `file://localhost/abs/dir`
/// (RFC 8089's host form) or `file:relative/dir`.
fn file_path(url: &str) -> Result<String, OpenError> {
    let rest = &url["file:".len()..];
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) if authority_and_path.starts_with('/') => authority_and_path,
        Some(authority_and_path) => authority_and_path
            .get(.."localhost/".len())
            .filter(|host| host.eq_ignore_ascii_case("localhost/"))
            .map(|_| &authority_and_path["localhost".len()..])
            .ok_or_else(|| {
                OpenError::invalid(
                    "file:// URLs name a local directory: file:///var/lib/app/sessions",
                )
            })?,
        None => rest,
    };
    if path.is_empty() {
        return Err(OpenError::invalid(
            "file:// needs a directory, e.g. file:///var/lib/app/sessions",
        ));
    }
    if path.contains(['?', '#']) {
        return Err(OpenError::invalid("file:// URLs take no query or fragment"));
    }
    decoded(path)
}

#[cfg(feature = "file")]
async fn open_file(url: &str) -> Result<AnyStore, OpenError> {
    let path = file_path(url)?;
    sessionkit_core::FileStore::open(&path)
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

/// An error and all its causes on one line, `outer: cause: root cause` (a cause whose
/// text the message already ends with is not repeated), for an operator's terminal or a
/// startup log. Errors of this crate and the stores carry no password and no session id.
pub fn one_line(error: &dyn std::error::Error) -> String {
    sessionkit_core::ErrorChain(error).to_string()
}

/// A store URL fit for logs and error messages: scheme, host and path, never the user
/// info (passwords), query or fragment.
///
/// A password may hold unencoded `/`, `?`, `#` or `@`: the user info ends at the
/// last `@`, and when an `@` follows a `/`, `?` or `#` (so the user info may end at
/// any of them) neither host nor path is shown. A host part that reads as
/// `name:word` (a password without its `@`) is not shown either, nor is anything
/// that is not URL-shaped. SQLite and `file:` URLs are paths, shown without query.
///
/// # Examples
///
/// ```
/// use sessionkit_any::redact;
///
/// assert_eq!(redact("postgres://app:s3cr3t@db:5432/web?sslmode=disable"), "postgres://db:5432/web");
/// assert_eq!(redact("postgres://app:s3/cr#3t@db/web"), "postgres://…");
/// assert_eq!(redact("sqlite://data/sessions.db"), "sqlite://data/sessions.db");
/// assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
/// assert_eq!(redact("s3cr3t-pasted-here"), "…");
/// ```
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:file.db`, `sqlite::memory:`: a path, nothing secret but the query.
        if url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("sqlite:"))
        {
            return shorten(url.split(['?', '#']).next().unwrap_or_default());
        }
        // Not URL-shaped: show only a scheme-like word before a colon (never what could
        // be a user:password pair, nor a secret pasted into the wrong setting).
        return match url.split_once(':') {
            Some((scheme, _)) if plausible_scheme(scheme) => format!("{scheme}:…"),
            _ => "…".to_owned(),
        };
    };
    let scheme = if plausible_scheme(scheme) {
        scheme
    } else {
        "…"
    };
    if scheme.eq_ignore_ascii_case("sqlite") || scheme.eq_ignore_ascii_case("file") {
        // A path: no user info to drop, and an `@` in it is part of a name.
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        return shorten(&format!("{scheme}://{path}"));
    }
    if at_after_host(url) {
        // The user info may end at any of those `@`s: show no host or path.
        return format!("{scheme}://…");
    }
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `user:password` with the `@` forgotten would read as a host and a port.
    let port_like = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let hidden = !authority.ends_with(']')
        && !authority.contains(',')
        && authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port_like(port));
    let authority = if hidden { "…" } else { authority };
    shorten(&format!("{scheme}://{authority}{path}"))
}

/// Whether `scheme` reads as a URL scheme (and so may be shown).
fn plausible_scheme(scheme: &str) -> bool {
    (1..=20).contains(&scheme.len())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// At most 120 characters.
fn shorten(text: &str) -> String {
    text.chars().take(120).collect()
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
        assert_eq!(
            redact("sk_live_SECRETVALUE"),
            "…",
            "no colon: nothing shown"
        );
        assert_eq!(
            redact("postgress://app:hunter@2secret@db/app"),
            "postgress://db/app",
            "a password with an unencoded @"
        );
        for url in [
            "postgres://postgres:hun/ter2@127.0.0.1/test",
            "postgres://postgres:hun#ter2@127.0.0.1/test",
            "postgress://app:hunter2?x@db/app",
            "ftp://user:hunter?2@host/x",
            "postgres://app:hunter2/test",
            "redis://:hunter2@h:1/0#frag@x",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("hunter"), "{url}: {shown}");
        }
        assert_eq!(
            redact("redis+cluster://:pw@a:7000,b:7001"),
            "redis+cluster://a:7000,b:7001"
        );
        assert_eq!(redact("memcache://[::1]:11211"), "memcache://[::1]:11211");
        for url in [
            "postgres://postgres@127.0.0.1/test?password=Hun&Ter2@x&table=t",
            "postgres://127.0.0.1:5432/Secr3t@x/test",
            "postgres://localhost:5432/Secr3t#x@127.0.0.1/test",
        ] {
            let shown = redact(url);
            assert!(
                !shown.contains("Ter2") && !shown.contains("Secr3t"),
                "{url}: {shown}"
            );
        }
        assert_eq!(redact("sqlite://snap@2026/s.db"), "sqlite://snap@2026/s.db");
        assert_eq!(redact("file:///var/a@b/dir"), "file:///var/a@b/dir");
        assert_eq!(redact("SQLite:data/s.db?mode=ro"), "SQLite:data/s.db");
    }

    #[tokio::test]
    async fn database_urls_without_slashes_are_refused_without_repeating_them() {
        for url in [
            "postgres:/app:hunter2@127.0.0.1/test",
            "postgres:app:hunter2@127.0.0.1/test",
            "mysql:/root:hunter2@127.0.0.1/test",
            "redis:/:hunter2@127.0.0.1:6379",
            "memcache:hunter2@127.0.0.1:11211",
            "postgres:///app:hunter2@127.0.0.1/test",
            "mysql:///root:hunter2@127.0.0.1/test",
        ] {
            let err = open(url).await.err();
            assert!(
                matches!(err, Some(OpenError::InvalidUrl(_))),
                "{url}: {err:?}"
            );
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[tokio::test]
    async fn malformed_urls_are_invalid_urls_not_store_failures() {
        for url in [
            "memory://?compat",
            "file://",
            "file:///tmp/x?y=1",
            "file://otherhost/tmp/x",
            "postgres://u:pw@127.0.0.1:notaport/db",
            "postgres://postgres@127.0.0.1:5432/test?sslmode=bogus",
            "sqlite://x.db?mode=bogus",
            "memcache://127.0.0.1:11211/x?y",
        ] {
            let compiled = |scheme: &str, on: bool| !url.starts_with(scheme) || on;
            if !(compiled("postgres", cfg!(feature = "postgres"))
                && compiled("sqlite", cfg!(feature = "sqlite"))
                && compiled("memcache", cfg!(feature = "memcached"))
                && compiled("file", cfg!(feature = "file")))
            {
                continue;
            }
            let err = open(url).await.err();
            assert!(
                matches!(err, Some(OpenError::InvalidUrl(_))),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn open_existing_refuses_a_missing_database_file_or_directory_and_creates_nothing() {
        let dir = temp_dir();
        let db = dir.join("sessions.db");
        let files = dir.join("sessions");
        for url in [
            format!("sqlite://{}", db.display()),
            format!("sqlite:{}?mode=rwc", db.display()),
            format!("file://{}", files.display()),
            format!("file://localhost{}", files.display()),
        ] {
            let err = open_existing(&url).await.err();
            assert!(matches!(err, Some(OpenError::Missing(_))), "{url}: {err:?}");
        }
        assert!(!dir.exists(), "nothing was created");
        for url in [
            "sqlite::memory:",
            "sqlite://",
            "sqlite:",
            "sqlite://x.db?mode=memory",
            "memory://",
            "MEMORY://?compact",
        ] {
            let err = open_existing(url).await.err();
            assert!(
                matches!(err, Some(OpenError::InvalidUrl(_))),
                "{url}: {err:?}"
            );
        }
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
        for url in [
            "memory://compact",
            "memory://user:pw@host:99999/x",
            "memory://#x",
        ] {
            let err = open(url).await.err();
            assert!(
                matches!(err, Some(OpenError::InvalidUrl(_))),
                "{url}: {err:?}"
            );
        }
        assert!(matches!(open("MEMORY://").await, Ok(AnyStore::Memory(_))));
    }

    /// A fresh folder under the temporary directory (not created).
    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "sessionkit-any-{}",
            sessionkit_core::SessionId::generate()
                .map(|id| id.to_string())
                .unwrap_or_default()
        ))
    }

    #[cfg(all(feature = "sqlite", feature = "file"))]
    #[tokio::test]
    async fn paths_are_percent_decoded_schemes_any_case_and_a_database_folder_is_created() {
        let dir = temp_dir();
        let db = dir.join("my dir").join("s.db");
        let encoded = format!("{}/my%20dir/s.db", dir.display());
        let opened = open(&format!("SQLite://{encoded}")).await;
        assert!(matches!(opened, Ok(AnyStore::Sql(_))), "{opened:?}");
        assert!(
            db.exists(),
            "the folder and the file, decoded, in any scheme case"
        );
        assert!(matches!(
            open_existing(&format!("sqlite://{encoded}")).await,
            Ok(AnyStore::Sql(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("my dir")).map(|m| m.permissions().mode());
            assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o700));
        }
        let files = format!("FILE://LOCALHOST{}/pct%20dir", dir.display());
        assert!(matches!(open(&files).await, Ok(AnyStore::File(_))));
        assert!(dir.join("pct dir").is_dir());
        assert!(matches!(open_existing(&files).await, Ok(AnyStore::File(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_line_names_each_cause_once() {
        let repeats = OpenError::Store(Box::new(std::io::Error::other("disk full")));
        assert_eq!(
            one_line(&repeats),
            "cannot open the session store: disk full"
        );
        let hides = OpenError::Store(Box::new(sessionkit_core::StoreError::backend(
            "loading a session",
            std::io::Error::other("connection refused\nretry"),
        )));
        let text = one_line(&hides);
        assert!(text.ends_with(": connection refused retry"), "{text}");
    }

    #[test]
    fn this_crates_options_come_out_of_the_query_and_the_rest_stays() {
        let taken = |url: &str, name: &str| take_option(url, name).ok();
        assert_eq!(
            taken("postgres://h/db?table=web&sslmode=disable", "table"),
            Some((
                "postgres://h/db?sslmode=disable".to_owned(),
                Some("web".to_owned())
            ))
        );
        assert_eq!(
            taken("redis://h:6379/0?prefix=app:", "prefix"),
            Some(("redis://h:6379/0".to_owned(), Some("app:".to_owned())))
        );
        assert_eq!(
            taken("sqlite://x.db", "table"),
            Some(("sqlite://x.db".to_owned(), None))
        );
        assert_eq!(
            taken("redis://h/0?prefix=shop%3Aeu+v2&protocol=3", "prefix"),
            Some((
                "redis://h/0?protocol=3".to_owned(),
                Some("shop:eu+v2".to_owned())
            ))
        );
        assert_eq!(
            taken("rediss://h/0?prefix=app:#insecure", "prefix"),
            Some(("rediss://h/0#insecure".to_owned(), Some("app:".to_owned()))),
            "the fragment is the driver's"
        );
        assert!(matches!(
            take_option("sqlite://x.db?table=a&table=b", "table"),
            Err(OpenError::InvalidUrl(_))
        ));
    }

    /// The message of the error `open(url)` gives, if it is [`OpenError::InvalidUrl`].
    async fn invalid_url_message(url: &str) -> Option<String> {
        match open(url).await {
            Err(e @ OpenError::InvalidUrl(_)) => Some(one_line(&e)),
            _ => None,
        }
    }

    /// Nothing listens on port 1: each URL must be refused before any connection.
    #[tokio::test]
    async fn a_misspelt_option_or_a_bad_port_is_an_invalid_url_on_every_store() {
        let mut urls = vec![];
        if cfg!(feature = "postgres") {
            urls.push(("postgres://u:pw@127.0.0.1:1/db?tabel=web", "own `table`"));
            urls.push(("postgres://u:pw@127.0.0.1:1/db?sslmod=require", "`sslmod`"));
            urls.push(("postgres://127.0.0.1:1/pw@x/test", "%2F"));
            urls.push(("postgres://u@127.0.0.1:1/test?password=Hun&pw@x", "%26"));
        }
        if cfg!(feature = "mysql") {
            urls.push(("mysql://u:pw@127.0.0.1:1/db?tabel=web", "`tabel`"));
        }
        if cfg!(feature = "redis") {
            urls.push(("redis://:pw@127.0.0.1:1/0?prefx=app:", "own is `prefix`"));
            urls.push(("redis://:pw@127.0.0.1:99999/0", "65535"));
            urls.push(("redis://:pw@127.0.0.1:1/0?prefix=a*b", "key prefix"));
        }
        for url in [
            "postgres://u:pw@127.0.0.1:0/db",
            "mysql://u:pw@127.0.0.1:0/db",
            "redis://:pw@127.0.0.1:0/0",
            "redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:0",
        ] {
            urls.push((url, "port 0"));
        }
        if cfg!(feature = "memcached") {
            urls.push(("memcache://127.0.0.1:99999", "65535"));
            urls.push(("memcache://127.0.0.1:1?prefix=a%20b", "key prefix"));
        }
        for (url, expected) in urls {
            let message = invalid_url_message(url).await;
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.contains(expected) && !m.contains("pw")),
                "{url}: {message:?}"
            );
        }
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_sql_url_names_its_table_and_a_bad_name_is_an_invalid_url() {
        let store = open("sqlite::memory:?table=web_sessions").await;
        assert!(
            store
                .as_ref()
                .is_ok_and(|s| s.describe() == "sqlite (table web_sessions)"),
            "{store:?}"
        );
        let err = open("sqlite::memory:?table=no;drop").await.err();
        assert!(matches!(err, Some(OpenError::InvalidUrl(_))), "{err:?}");
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
