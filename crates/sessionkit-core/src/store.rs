//! The storage contract every backend implements, and its capability traits.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::codec::CodecError;
use crate::{IdHash, Record};

/// Why a store call failed. Messages never contain a session id or a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create` found a record with this id hash already (the engine draws a new id).
    #[error("a session with this id already exists")]
    Exists,
    /// The stored bytes of a record are not a valid record.
    #[error(transparent)]
    Corrupt(#[from] CodecError),
    /// The call did not finish within the configured store timeout.
    #[error("session store call timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The backend failed (connection, query, I/O).
    #[error("session store failed: {context}")]
    Backend {
        /// What the store was doing, e.g. "loading a session".
        context: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A stored record that cannot be used: the engine treats it as absent (and logs
    /// and deletes it) instead of failing the request.
    pub fn corrupt(what: &'static str) -> Self {
        Self::Corrupt(CodecError::Inconsistent(what))
    }

    /// This error for a log line: a backend failure with its causes (the driver's own
    /// message: "no such table", "Connection refused"), any other kind with its message
    /// alone (a corrupt record's decode error may quote the stored bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit_core::store::StoreError;
    ///
    /// let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
    /// let e = StoreError::backend("loading a session", refused);
    /// assert_eq!(
    ///     e.for_log().to_string(),
    ///     "session store failed: loading a session: Connection refused"
    /// );
    /// ```
    pub fn for_log(&self) -> StoreErrorLog<'_> {
        StoreErrorLog(self)
    }

    /// Wraps a backend error with what the store was doing.
    pub fn backend(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            context,
            source: source.into(),
        }
    }
}

/// A [`StoreError`] as [`StoreError::for_log`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct StoreErrorLog<'a>(&'a StoreError);

impl fmt::Display for StoreErrorLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            StoreError::Backend { .. } => crate::ErrorChain(self.0).fmt(f),
            other => other.fmt(f),
        }
    }
}

/// The storage primitives. Everything clever (merging, retries, expiry arithmetic)
/// lives once in the engine ([`crate::Session`]); a backend only maps these onto what
/// it offers natively.
///
/// Records are keyed by [`IdHash`], never by the raw id.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Loads a record. An expired record is `Ok(None)`, never returned.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for bytes that are not a record; other variants when the
    /// backend fails.
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError>;

    /// Stores a new record. Never overwrites: an existing (unexpired) record with the
    /// same id hash gives [`StoreError::Exists`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Exists`] on collision; other variants when the backend fails.
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Replaces the record only if the stored version is still `expected_version`.
    /// Returns `false` when the version differs or the record is gone (deleted or
    /// expired): a deleted session is never re-created by a save.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError>;

    /// Moves a record's expiry (and last-seen time) without rewriting its data.
    /// Returns `false` when the record is gone.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes a record; `false` when there was none.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError>;

    /// [`SessionStore::load`] for stores that keep decoded records in memory: the
    /// record may be shared with the store instead of copied out of it. The engine
    /// loads through this; the default wraps `load`.
    ///
    /// # Errors
    ///
    /// As for `load`.
    async fn load_shared(&self, id: &IdHash) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.load(id).await?.map(Arc::new))
    }

    /// [`SessionStore::create`] handing the record over, so an in-memory store can
    /// keep it without a copy. The engine creates through this; the default borrows it
    /// for `create`.
    ///
    /// # Errors
    ///
    /// As for `create`.
    async fn create_shared(&self, record: Arc<Record>) -> Result<(), StoreError> {
        self.create(&record).await
    }

    /// [`SessionStore::compare_and_swap`] handing the record over (see
    /// [`SessionStore::create_shared`]).
    ///
    /// # Errors
    ///
    /// As for `compare_and_swap`.
    async fn compare_and_swap_shared(
        &self,
        record: Arc<Record>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.compare_and_swap(&record, expected_version).await
    }

    /// The user index, when this store has one.
    fn user_index(&self) -> Option<&dyn UserIndex> {
        None
    }

    /// Bulk deletion of expired records, when this store needs and supports it.
    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        None
    }

    /// Enumeration of live sessions (for operators: `sessionkit list`, `stats`), when
    /// this store can enumerate.
    fn listing(&self) -> Option<&dyn SessionListing> {
        None
    }
}

/// Figures about the live sessions of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Live sessions.
    pub live: u64,
    /// Of those, expiring within the next hour.
    pub expiring_within_hour: u64,
    /// Of those, expiring within the next day.
    pub expiring_within_day: u64,
    /// Sessions bound to a user.
    pub with_user: u64,
    /// The users with the most sessions, most first (ties by name).
    pub top_users: Vec<(String, u64)>,
}

/// Enumerating live sessions, for operator tools.
#[async_trait]
pub trait SessionListing: Send + Sync {
    /// Up to `limit` live sessions whose id hash sorts after `after` (byte order),
    /// in id-hash order: call again with the last hash to page through everything.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn list(&self, after: Option<&IdHash>, limit: usize) -> Result<Vec<Record>, StoreError>;

    /// Figures about the live sessions at `now`, with the `top` users having the most
    /// sessions. The default pages through [`SessionListing::list`]; stores with a
    /// query language override it.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn stats(&self, now: OffsetDateTime, top: usize) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        let mut per_user: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut after: Option<IdHash> = None;
        loop {
            let page = self.list(after.as_ref(), 1000).await?;
            for r in &page {
                if r.moved_to.is_some() || r.is_expired(now) {
                    continue;
                }
                stats.live += 1;
                stats.expiring_within_hour +=
                    u64::from(r.expires_at <= now + time::Duration::hours(1));
                stats.expiring_within_day +=
                    u64::from(r.expires_at <= now + time::Duration::days(1));
                if let Some(user) = &r.user {
                    stats.with_user += 1;
                    *per_user.entry(user.clone()).or_default() += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.id),
                _ => break,
            }
        }
        let mut users: Vec<(String, u64)> = per_user.into_iter().collect();
        users.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        users.truncate(top);
        stats.top_users = users;
        Ok(stats)
    }
}

/// "Sessions of a user": listing and revoking every session bound with
/// [`crate::Session::login`].
#[async_trait]
pub trait UserIndex: Send + Sync {
    /// Every live session of `user`, oldest first.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError>;

    /// Deletes every session of `user` except `except` ("log out my other devices");
    /// returns how many were deleted.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError>;

    /// Number of live sessions in the store.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn count(&self) -> Result<u64, StoreError>;
}

/// [`UserIndex::delete_sessions_of`] for stores without a bulk delete: every listed
/// session but `except`, one [`SessionStore::delete`] at a time.
pub(crate) async fn delete_each_session_of<S: SessionStore + UserIndex>(
    store: &S,
    user: &str,
    except: Option<&IdHash>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for record in store.sessions_of(user).await? {
        if Some(&record.id) != except && store.delete(&record.id).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deleting expired records in bounded batches (for stores without native TTLs).
#[async_trait]
pub trait ExpiredDeletion: Send + Sync {
    /// Deletes at most `max` expired records; returns how many were deleted. Call it
    /// until it returns less than `max` to clear everything.
    ///
    /// # Errors
    ///
    /// When the backend fails.
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError>;
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        (**self).load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        (**self).create(record).await
    }
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(record, expected_version).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        (**self).touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        (**self).delete(id).await
    }
    async fn load_shared(&self, id: &IdHash) -> Result<Option<Arc<Record>>, StoreError> {
        (**self).load_shared(id).await
    }
    async fn create_shared(&self, record: Arc<Record>) -> Result<(), StoreError> {
        (**self).create_shared(record).await
    }
    async fn compare_and_swap_shared(
        &self,
        record: Arc<Record>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        (**self)
            .compare_and_swap_shared(record, expected_version)
            .await
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        (**self).user_index()
    }
    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        (**self).expired_deletion()
    }
    fn listing(&self) -> Option<&dyn SessionListing> {
        (**self).listing()
    }
}
/// A directory builder whose directories only their owner can enter (mode 0700 on
/// Unix): for the folders that hold sessions (a file store, a SQLite database).
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("sk-doc-{}", std::process::id()));
/// sessionkit_core::store::private_dir_builder().recursive(true).create(&dir)?;
/// # std::fs::remove_dir(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn private_dir_builder() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
}

/// The first query parameter of a store URL that `knows` does not accept, as an error
/// message may show it: for store crates whose driver would silently ignore a typo
/// (`sslmod=require`, `?tabel=web`). `None` when every parameter is known.
///
/// A parameter's name is never a secret, but text pasted where a name belongs may be,
/// so only a name made of lower-case ASCII letters, `_`, `-`, `.` and `[]`, as every
/// driver's are, is shown (at most 32 characters); anything else comes back as a note
/// that it is not shown. A URL with an `@` after its `?` is not checked (`None`): the
/// `?` may be inside an unencoded password, and the driver's own parsing decides.
///
/// # Examples
///
/// ```
/// use sessionkit_core::store::unknown_url_parameter;
///
/// let knows = |name: &str| name == "protocol";
/// assert_eq!(unknown_url_parameter("redis://h/0?protocol=3", knows), None);
/// assert_eq!(
///     unknown_url_parameter("redis://h/0?protocl=3", knows).as_deref(),
///     Some("`protocl`")
/// );
/// for pasted in ["redis://h/0?Tr0ub4dor3xK9", "redis://h/?s3cr3t%20pasted%20here"] {
///     let shown = unknown_url_parameter(pasted, knows).unwrap_or_default();
///     assert!(shown.contains("not shown"), "{shown}");
/// }
/// assert_eq!(unknown_url_parameter("redis://u:pa?ss=1@h/0", knows), None);
/// ```
pub fn unknown_url_parameter(url: &str, knows: impl Fn(&str) -> bool) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    if query.contains('@') {
        return None;
    }
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let (name, _) = form_urlencoded::parse(query.as_bytes()).find(|(name, _)| !knows(name))?;
    let name_like = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b"_-[].".contains(&b));
    Some(if name_like {
        format!("`{name}`")
    } else {
        "(not shown: it does not look like a parameter name)".to_owned()
    })
}
