//! `CachedStore`: a cache store in front of a durable store (Django's `cached_db`),
//! itself a store.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::store::{ExpiredDeletion, SessionListing, SessionStore, StoreError, UserIndex};
use crate::{IdHash, Record};

/// Ids whose cache entry could not be invalidated are remembered up to this many.
const MAX_PENDING: usize = 100_000;
/// After a cache failure, how long the cache is left alone by default.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A fast store (the cache: memory, Redis, Memcached) in front of a durable one (SQL,
/// files): Django's `cached_db`. Itself a [`SessionStore`], so it goes wherever a
/// store goes.
///
/// **The durable store is the truth**; the cache only saves reads:
///
/// - Writes (`create`, `compare_and_swap`, `touch`, `delete`) go to the durable store
///   first, and its answer is the answer. The cache follows *after*: a swap moves the
///   cache entry forward with the cache's own compare-and-swap (from the version the
///   durable store had), and any doubt (the entry was missing, at another version, or
///   the cache failed) deletes the cache entry instead. A failed durable swap deletes
///   the cache entry too, so the engine's reload after a conflict reads the truth.
/// - Loads try the cache, then the durable store, and refill the cache with what they
///   read. A refill can race with a write (read version 3, a writer stores 4 and
///   updates the cache, the refill then puts 3 back), so after a refill the durable
///   store is read once more and the cache entry is deleted if the record changed or is
///   gone meanwhile. With writers updating the cache after the durable store and
///   refills re-checking the durable store after the cache, a load never returns data
///   older than a completed write, and a deleted (logged-out) session is never served
///   from the cache. A cache hit costs one cache read; a miss costs two durable reads
///   and a cache write.
/// - A cache failure never fails a request: it is logged (`warn`, no id or secret),
///   counted in `sessionkit_cache_total{result="error"}`, and the durable store
///   answers. After a failure the cache is left alone for a second
///   ([`CachedStore::with_retry_after`]), so a dead cache server costs one timeout per
///   second, not one per request. An id whose cache entry could not be invalidated
///   (the cache was down during a write) is remembered in this process, and the cache
///   is bypassed for it until the invalidation succeeds, so a cache that comes back
///   with old entries does not serve them here (up to 100,000 such ids; beyond that an
///   error is logged).
/// - The user index, expired deletion and listing are the durable store's (when it
///   has them). Revoking a user's sessions deletes each one through this store, so
///   the cache forgets them too; expired deletion also runs the cache's own, when it
///   has one, without counting it.
///
/// Every process writing the durable store must use the *same* cache (a Redis or
/// Memcached server), as with Django. A per-process cache (a [`crate::MemoryStore`])
/// in front of a database shared by several processes would serve a session changed
/// or deleted by another process until the cached entry expires; use it only when
/// one process owns the durable store.
///
/// Cloning is cheap; clones share both stores.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{CachedStore, MemoryStore, Session, SessionConfig, SessionStore};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// // In production: a Redis store in front of a SQL store.
/// let store = CachedStore::new(MemoryStore::new(), MemoryStore::new());
/// let session = Session::new(store.clone(), SessionConfig::default());
/// session.insert("cart", ["apple"]).await?;
/// session.save().await?;
///
/// let hash = session.id().await.ok_or("saved sessions have an id")?.hash();
/// assert!(store.durable().load(&hash).await?.is_some(), "written through");
/// store.cache().delete(&hash).await?; // the cache forgets (eviction, restart)
/// let again = Session::open(store.clone(), SessionConfig::default(), session.id().await);
/// assert_eq!(again.get::<Vec<String>>("cart").await?, Some(vec!["apple".to_string()]));
/// assert!(store.cache().load(&hash).await?.is_some(), "refilled on the way");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CachedStore<C, D> {
    inner: Arc<Inner<C, D>>,
}

struct Inner<C, D> {
    cache: C,
    durable: D,
    /// Ids whose cache entry may be stale because deleting it failed.
    pending: Mutex<HashSet<IdHash>>,
    /// After a failure, the cache is not called before this instant.
    paused_until: Mutex<Option<Instant>>,
    /// How long a failure pauses the cache, in milliseconds.
    retry_after_ms: AtomicU64,
}

impl<C, D> Clone for CachedStore<C, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C: std::fmt::Debug, D: std::fmt::Debug> std::fmt::Debug for CachedStore<C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("cache", &self.inner.cache)
            .field("durable", &self.inner.durable)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: SessionStore, D: SessionStore> CachedStore<C, D> {
    /// Puts `cache` in front of `durable`.
    pub fn new(cache: C, durable: D) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache,
                durable,
                pending: Mutex::default(),
                paused_until: Mutex::default(),
                retry_after_ms: AtomicU64::new(millis(DEFAULT_RETRY_AFTER)),
            }),
        }
    }

    /// After a cache failure, leaves the cache alone for `pause` (default one second):
    /// meanwhile loads go straight to the durable store and writes only remember which
    /// cache entries to invalidate. Zero retries the cache on every call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit_core::{CachedStore, MemoryStore};
    ///
    /// let store = CachedStore::new(MemoryStore::new(), MemoryStore::new())
    ///     .with_retry_after(Duration::from_millis(250));
    /// assert_eq!(store.retry_after(), Duration::from_millis(250));
    /// ```
    pub fn with_retry_after(self, pause: Duration) -> Self {
        self.inner
            .retry_after_ms
            .store(millis(pause), Ordering::Relaxed);
        self
    }

    /// How long a cache failure pauses the cache.
    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.inner.retry_after_ms.load(Ordering::Relaxed))
    }

    /// The cache store.
    pub fn cache(&self) -> &C {
        &self.inner.cache
    }

    /// The durable store (for example to run its migrations).
    pub fn durable(&self) -> &D {
        &self.inner.durable
    }

    fn pending(&self) -> MutexGuard<'_, HashSet<IdHash>> {
        lock(&self.inner.pending)
    }

    /// Runs a cache call, unless a recent failure paused the cache. `None` when the
    /// cache is paused or the call failed (logged, and the cache paused); the answers
    /// of a working cache, including `Exists` and `Corrupt`, come back as they are.
    async fn via_cache<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<Result<T, StoreError>> {
        if lock(&self.inner.paused_until).is_some_and(|until| Instant::now() < until) {
            return None;
        }
        match call.await {
            Err(e) if !matches!(e, StoreError::Exists | StoreError::Corrupt(_)) => {
                crate::metrics::cache("error");
                tracing::error!(op, error = %e.for_log(), "session cache failed; the durable store answers");
                *lock(&self.inner.paused_until) = Some(Instant::now() + self.retry_after());
                None
            }
            answer => Some(answer),
        }
    }

    fn is_pending(&self, id: &IdHash) -> bool {
        self.pending().contains(id)
    }

    /// Deletes `id`'s cache entry; when that fails, remembers the id so the cache is
    /// bypassed for it until a later invalidation succeeds. Returns whether the entry
    /// is known to be gone.
    async fn invalidate(&self, id: &IdHash) -> bool {
        match self.via_cache("delete", self.inner.cache.delete(id)).await {
            Some(Ok(_)) => {
                self.pending().remove(id);
                true
            }
            _ => {
                let mut pending = self.pending();
                if pending.len() < MAX_PENDING {
                    pending.insert(*id);
                } else {
                    tracing::error!(
                        "session cache unreachable for too many invalidations; \
                         stale cache entries may be served until they expire"
                    );
                }
                false
            }
        }
    }

    /// Whether the cache may be read for `id`: retries a pending invalidation first.
    async fn cache_usable(&self, id: &IdHash) -> bool {
        !self.is_pending(id) || self.invalidate(id).await
    }

    /// Puts a record read from the durable store into the cache, then checks that the
    /// durable store still holds it; returns what the durable store holds last.
    async fn refill(&self, record: Record) -> Result<Option<Record>, StoreError> {
        match self
            .via_cache("create", self.inner.cache.create(&record))
            .await
        {
            Some(Ok(())) => {}
            // Filled by another reader or a writer meanwhile: theirs is as good.
            Some(Err(StoreError::Exists)) => return Ok(Some(record)),
            // The write may have landed: the entry is suspect.
            _ => {
                self.invalidate(&record.id).await;
                return Ok(Some(record));
            }
        }
        let again = match self.inner.durable.load(&record.id).await {
            Ok(again) => again,
            Err(e) => {
                self.invalidate(&record.id).await;
                return Err(e);
            }
        };
        let unchanged = again
            .as_ref()
            .is_some_and(|a| a.version == record.version && a.expires_at == record.expires_at);
        if !unchanged {
            // A write landed between the two reads: what we cached may be old.
            self.invalidate(&record.id).await;
        }
        Ok(again)
    }
}

#[async_trait]
impl<C: SessionStore, D: SessionStore> SessionStore for CachedStore<C, D> {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        let mut refill = self.cache_usable(id).await;
        if refill {
            match self.via_cache("load", self.inner.cache.load(id)).await {
                Some(Ok(Some(record))) => {
                    crate::metrics::cache("hit");
                    return Ok(Some(record));
                }
                Some(Ok(None)) => crate::metrics::cache("miss"),
                Some(Err(e)) => {
                    crate::metrics::cache("error");
                    tracing::warn!(error = %e, "cached session is unreadable; dropping it");
                    refill = self.invalidate(id).await;
                }
                // Failed (and now paused): the durable store answers alone.
                None => refill = false,
            }
        }
        match self.inner.durable.load(id).await? {
            Some(record) if refill => self.refill(record).await,
            found => Ok(found),
        }
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.durable.create(record).await?;
        // Nobody else can address a new id before this call returns (it reaches a
        // client only in this response's cookie), so warming the cache cannot race.
        if !self.cache_usable(&record.id).await {
            return Ok(());
        }
        match self
            .via_cache("create", self.inner.cache.create(record))
            .await
        {
            Some(Ok(())) => {}
            // `Exists`: a leftover of an expired session under the same id hash;
            // a failure: the write may have landed. Either way the entry is suspect.
            _ => {
                self.invalidate(&record.id).await;
            }
        }
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let swapped = match self
            .inner
            .durable
            .compare_and_swap(record, expected_version)
            .await
        {
            Ok(swapped) => swapped,
            Err(e) => {
                // The write may or may not have happened: the cache entry is suspect.
                self.invalidate(&record.id).await;
                return Err(e);
            }
        };
        if !swapped {
            // The cache may hold the stale version that lost; the engine reloads next.
            self.invalidate(&record.id).await;
            return Ok(false);
        }
        if !self.cache_usable(&record.id).await {
            return Ok(true);
        }
        let moved = self
            .via_cache(
                "compare_and_swap",
                self.inner.cache.compare_and_swap(record, expected_version),
            )
            .await;
        if !matches!(moved, Some(Ok(true))) {
            // Missing, at another version, or unknown: drop it.
            self.invalidate(&record.id).await;
        }
        Ok(true)
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let touched = match self.inner.durable.touch(id, expires_at, now).await {
            Ok(touched) => touched,
            Err(e) => {
                self.invalidate(id).await;
                return Err(e);
            }
        };
        if !touched {
            self.invalidate(id).await;
            return Ok(false);
        }
        if self.cache_usable(id).await {
            let touched = self
                .via_cache("touch", self.inner.cache.touch(id, expires_at, now))
                .await;
            if !matches!(touched, Some(Ok(_))) {
                self.invalidate(id).await;
            }
        }
        Ok(true)
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let deleted = self.inner.durable.delete(id).await;
        // After the durable store, so that a concurrent refill's re-check sees the
        // deletion; even when the durable store failed, the entry is suspect.
        self.invalidate(id).await;
        deleted
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        self.inner
            .durable
            .user_index()
            .map(|_| self as &dyn UserIndex)
    }

    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        self.inner
            .durable
            .expired_deletion()
            .map(|_| self as &dyn ExpiredDeletion)
    }

    fn listing(&self) -> Option<&dyn SessionListing> {
        self.inner.durable.listing()
    }
}

/// The durable store's index; revocations go through [`CachedStore::delete`] so the
/// cache forgets the revoked sessions too.
#[async_trait]
impl<C: SessionStore, D: SessionStore> UserIndex for CachedStore<C, D> {
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        match self.inner.durable.user_index() {
            Some(index) => index.sessions_of(user).await,
            None => Ok(Vec::new()),
        }
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        crate::store::delete_each_session_of(self, user, except).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        match self.inner.durable.user_index() {
            Some(index) => index.count().await,
            None => Ok(0),
        }
    }
}

/// The durable store's expired deletion (its count is the answer), then the cache's
/// own, if it has one, as a courtesy: failures there are only logged.
#[async_trait]
impl<C: SessionStore, D: SessionStore> ExpiredDeletion for CachedStore<C, D> {
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError> {
        let Some(durable) = self.inner.durable.expired_deletion() else {
            return Ok(0);
        };
        let deleted = durable.delete_expired(max).await?;
        if let Some(cache) = self.inner.cache.expired_deletion() {
            self.via_cache("delete_expired", cache.delete_expired(max))
                .await;
        }
        Ok(deleted)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
