//! Opening the session store a URL names.
//!
//! Server-side stores come from `sessionkit_any::open`, the project's one URL → store
//! dispatch (shared with the CLI): a backend added there (Redis, Memcached, …) works
//! here without a change. The one scheme the demo handles itself is `cookie://`, the
//! cookie store, which lives in the `sessionkit` crate and needs the key ring; another
//! demo-only scheme would be one more arm in [`Store::open`].

use std::sync::Arc;
use std::time::Duration;

use sessionkit::store::StoreError;
use sessionkit::{CookieStore, KeyRing, SessionStore};
use sessionkit_any::OpenError;

use crate::error::{one_line, StartupError};

/// Longest a direct store call of the demo (listing, revoking) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often expired sessions are deleted from stores that need it.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);
/// Most expired sessions deleted per cleanup run.
const CLEANUP_BATCH: u64 = 10_000;

/// Where sessions live.
#[derive(Debug, Clone)]
pub enum Store {
    /// A server-side store (memory, SQL, …), shared with the session layer so the
    /// demo can list and revoke a user's sessions through its user index.
    Server(Arc<dyn SessionStore>),
    /// The whole session in an encrypted (or signed) cookie.
    Cookie(CookieStore),
}

impl Store {
    /// Wraps a server-side store.
    pub fn server(store: impl SessionStore) -> Self {
        Self::Server(Arc::new(store))
    }

    /// Opens the store `url` names and prepares it (SQL: creates or upgrades the
    /// table). `keys` seal the cookie store's cookies. Every URL of `sessionkit_any`
    /// works, among them:
    ///
    /// | URL | store |
    /// | --- | --- |
    /// | `sqlite://path/file.db` (created if missing), `sqlite::memory:` | SQLite |
    /// | `postgres://user:pass@host/db`, `postgresql://…` | PostgreSQL |
    /// | `mysql://user:pass@host/db`, `mariadb://…` | MySQL / MariaDB |
    /// | `memory://` | this process's memory (gone on restart) |
    /// | `file:///path/to/dir` | one file per session in a folder |
    /// | `cookie://` (or `cookie://private`), `cookie://signed` | the cookie store, encrypted (or only signed) |
    ///
    /// # Errors
    ///
    /// [`StartupError::UnsupportedStore`] for an unknown scheme;
    /// [`StartupError::Store`] when the store cannot be reached or prepared (the
    /// message never contains the URL's password).
    pub async fn open(url: &str, keys: &KeyRing) -> Result<Self, StartupError> {
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        let failed = |error: &dyn std::error::Error| StartupError::Store {
            store: describe(url),
            error: one_line(error),
        };
        match scheme.as_str() {
            "cookie" => match url.split_once("://").map(|(_, rest)| rest) {
                Some("" | "private") | None => Ok(Self::Cookie(CookieStore::private(keys))),
                Some("signed") => Ok(Self::Cookie(CookieStore::signed(keys))),
                Some(_) => Err(StartupError::Setting {
                    var: "SESSIONKIT_STORE",
                    reason:
                        "the cookie store is `cookie://`, `cookie://private` or `cookie://signed`"
                            .to_owned(),
                }),
            },
            _ => {
                let store = sessionkit_any::open(url).await.map_err(|e| match e {
                    // Its message would repeat the URL; show only a plausible scheme.
                    OpenError::UnknownScheme(_) => {
                        let has_scheme = url
                            .get(scheme.len()..)
                            .is_some_and(|rest| rest.starts_with("://"));
                        StartupError::UnsupportedStore(if has_scheme {
                            safe_scheme(&scheme)
                        } else {
                            String::new()
                        })
                    }
                    OpenError::NotCompiled { scheme, feature } => StartupError::Setting {
                        var: "SESSIONKIT_STORE",
                        reason: format!(
                            "{scheme} stores are not compiled into this build of the demo; \
                             rebuild with `--features {feature}`"
                        ),
                    },
                    other => failed(&other),
                })?;
                store.migrate().await.map_err(|e| failed(&e))?;
                Ok(Self::server(store))
            }
        }
    }

    /// The server-side store, when sessions are kept on the server.
    pub fn server_side(&self) -> Option<&Arc<dyn SessionStore>> {
        match self {
            Self::Server(store) => Some(store),
            Self::Cookie(_) => None,
        }
    }

    /// Deletes expired sessions every few minutes, for stores that need it (SQL, files),
    /// through sessionkit's background cleanup; `None` for stores that expire sessions
    /// by themselves. Stop the returned task at shutdown.
    pub fn spawn_cleanup(&self) -> Option<sessionkit::cleanup::Cleanup> {
        let store = self.server_side()?.clone();
        store.expired_deletion()?;
        Some(sessionkit::cleanup::spawn(
            store,
            CLEANUP_EVERY,
            CLEANUP_BATCH,
        ))
    }
}

/// Runs a direct store call under the demo's timeout.
///
/// # Errors
///
/// The call's own error, or [`StoreError::Timeout`].
pub async fn timed<T>(
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or(Err(StoreError::Timeout(CALL_TIMEOUT)))
}

/// Only something that looks like a scheme is ever shown: a URL without one could
/// start with `user:password@`.
fn safe_scheme(scheme: &str) -> String {
    let plausible = !scheme.is_empty()
        && scheme.len() <= 16
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if plausible {
        scheme.to_owned()
    } else {
        String::new()
    }
}

/// A store URL fit for logs: scheme, host and path; no user, password or query
/// ([`sessionkit_any::redact`]).
///
/// ```
/// use sessionkit_demo::store::describe;
///
/// assert_eq!(describe("postgres://app:hunter2@db:5432/web?sslmode=disable"), "postgres://db:5432/web");
/// assert_eq!(describe("sqlite://data/sessions.db"), "sqlite://data/sessions.db");
/// assert_eq!(describe("memory://"), "memory://");
/// ```
pub fn describe(url: &str) -> String {
    sessionkit_any::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_never_shows_credentials_or_query() {
        for url in [
            "postgres://admin:hunter2@db.internal:5432/app?password=hunter2",
            "mysql://root:hunter2@127.0.0.1/test",
            "admin:hunter2@host/db",
            "hunter2",
            "postgres://postgres:hun/ter2@127.0.0.1/test",
            "postgres://postgres:hun#ter2@127.0.0.1/test",
            "postgress://app:hunter2?x@db/app",
        ] {
            let shown = describe(url);
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(describe("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(describe("cookie://"), "cookie://");
    }

    #[tokio::test]
    async fn unknown_schemes_and_bad_urls_are_readable_errors(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let keys = KeyRing::new(["0123456789abcdef0123456789abcdef"])?;
        let err = Store::open("oracle://scott:tiger@db", &keys)
            .await
            .expect_err("unknown scheme");
        assert!(err.to_string().contains("\"oracle\""), "{err}");
        assert!(!err.to_string().contains("tiger"), "{err}");
        let err = Store::open("postgres://user:secret@127.0.0.1:1/db", &keys)
            .await
            .expect_err("nothing listens on port 1");
        let text = err.to_string();
        assert!(
            text.starts_with("SESSIONKIT_STORE (postgres://127.0.0.1:1/db)"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(Store::open("memory://", &keys)
            .await?
            .server_side()
            .is_some());
        assert!(Store::open("cookie://", &keys)
            .await?
            .server_side()
            .is_none());
        assert!(Store::open("sqlite::memory:", &keys)
            .await?
            .server_side()
            .is_some());
        Ok(())
    }
}
