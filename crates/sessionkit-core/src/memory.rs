//! `MemoryStore`: the reference implementation of every store trait, on a bounded
//! `moka` cache that evicts expired sessions by itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use time::OffsetDateTime;

use crate::store::{ExpiredDeletion, SessionListing, StoreError, UserIndex};
use crate::{IdHash, Record, SessionStore};

const SHARDS: usize = 64;
const DEFAULT_CAPACITY: u64 = 1_000_000;

/// Sessions in process memory: fast, bounded (least recently used sessions are evicted
/// when full), gone on restart, not shared between processes.
///
/// Compare-and-swap is exact: each write holds a lock of one of 64 shards.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{MemoryStore, Session, SessionConfig};
///
/// # tokio_test();
/// # fn tokio_test() {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
/// # rt.block_on(async {
/// let store = MemoryStore::new();
/// let session = Session::new(store.clone(), SessionConfig::default());
/// session.insert("user", "alice").await?;
/// session.save().await?;
///
/// let id = session.id().await.expect("saved sessions have an id");
/// let again = Session::open(store, SessionConfig::default(), Some(id));
/// assert_eq!(again.get::<String>("user").await?, Some("alice".to_string()));
/// # Ok::<(), sessionkit_core::Error>(())
/// # }).expect("example");
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache<IdHash, Arc<Record>>,
    shards: Vec<Mutex<()>>,
    users: Arc<Mutex<HashMap<String, HashSet<IdHash>>>>,
    expired: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.inner.cache.entry_count())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

struct ExpireAtRecord;

impl moka::Expiry<IdHash, Arc<Record>> for ExpireAtRecord {
    fn expire_after_create(
        &self,
        _key: &IdHash,
        value: &Arc<Record>,
        _created_at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(remaining(value))
    }

    fn expire_after_update(
        &self,
        _key: &IdHash,
        value: &Arc<Record>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        Some(remaining(value))
    }
}

fn remaining(record: &Record) -> std::time::Duration {
    let left = record.expires_at - OffsetDateTime::now_utc();
    left.try_into().unwrap_or(std::time::Duration::ZERO)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// A store holding at most one million sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding at most `max_sessions` sessions.
    pub fn with_capacity(max_sessions: u64) -> Self {
        let users: Arc<Mutex<HashMap<String, HashSet<IdHash>>>> = Arc::default();
        let expired = Arc::new(AtomicU64::new(0));
        let (listener_users, listener_expired) = (users.clone(), expired.clone());
        let cache = Cache::builder()
            .max_capacity(max_sessions)
            .expire_after(ExpireAtRecord)
            .eviction_listener(move |id: Arc<IdHash>, record: Arc<Record>, cause| {
                if cause == RemovalCause::Replaced {
                    return;
                }
                if cause == RemovalCause::Expired {
                    listener_expired.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(user) = &record.user {
                    unindex(&listener_users, user, &id);
                }
            })
            .build();
        let shards = (0..SHARDS).map(|_| Mutex::new(())).collect();
        Self {
            inner: Arc::new(Inner {
                cache,
                shards,
                users,
                expired,
            }),
        }
    }

    fn shard(&self, id: &IdHash) -> MutexGuard<'_, ()> {
        let i = usize::from(id.as_bytes()[0]) % SHARDS;
        lock(&self.inner.shards[i])
    }

    fn live(&self, id: &IdHash, now: OffsetDateTime) -> Option<Arc<Record>> {
        self.inner.cache.get(id).filter(|r| !r.is_expired(now))
    }

    fn put(&self, record: &Record, previous_user: Option<&str>) {
        if previous_user != record.user.as_deref() {
            if let Some(old) = previous_user {
                unindex(&self.inner.users, old, &record.id);
            }
        }
        if let Some(user) = &record.user {
            lock(&self.inner.users)
                .entry(user.clone())
                .or_default()
                .insert(record.id);
        }
        self.inner.cache.insert(record.id, Arc::new(record.clone()));
    }
}

fn unindex(users: &Mutex<HashMap<String, HashSet<IdHash>>>, user: &str, id: &IdHash) {
    let mut users = lock(users);
    if let Some(set) = users.get_mut(user) {
        set.remove(id);
        if set.is_empty() {
            users.remove(user);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        Ok(self
            .live(id, OffsetDateTime::now_utc())
            .map(|r| (*r).clone()))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let _guard = self.shard(&record.id);
        if self.live(&record.id, OffsetDateTime::now_utc()).is_some() {
            return Err(StoreError::Exists);
        }
        self.put(record, None);
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let _guard = self.shard(&record.id);
        match self.live(&record.id, OffsetDateTime::now_utc()) {
            Some(current) if current.version == expected_version => {
                self.put(record, current.user.as_deref());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let _guard = self.shard(id);
        match self.live(id, now) {
            Some(current) => {
                let mut next = (*current).clone();
                next.expires_at = expires_at;
                next.last_seen = now;
                self.inner.cache.insert(*id, Arc::new(next));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let _guard = self.shard(id);
        let removed = self.inner.cache.remove(id);
        if let Some(user) = removed.as_ref().and_then(|r| r.user.clone()) {
            unindex(&self.inner.users, &user, id);
        }
        Ok(removed.is_some_and(|r| !r.is_expired(OffsetDateTime::now_utc())))
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        Some(self)
    }

    fn listing(&self) -> Option<&dyn SessionListing> {
        Some(self)
    }
}

#[async_trait]
impl SessionListing for MemoryStore {
    async fn list(&self, after: Option<&IdHash>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut page: Vec<Record> = self
            .inner
            .cache
            .iter()
            .filter(|(id, r)| {
                !r.is_expired(now) && after.is_none_or(|a| id.as_bytes() > a.as_bytes())
            })
            .map(|(_, r)| (*r).clone())
            .collect();
        page.sort_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
        page.truncate(limit);
        Ok(page)
    }
}

#[async_trait]
impl UserIndex for MemoryStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let ids: Vec<IdHash> = lock(&self.inner.users)
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        let mut out: Vec<Record> = ids
            .iter()
            .filter_map(|id| self.live(id, now))
            .filter(|r| r.user.as_deref() == Some(user))
            .map(|r| (*r).clone())
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for record in self.sessions_of(user).await? {
            if Some(&record.id) != except && self.delete(&record.id).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .inner
            .cache
            .iter()
            .filter(|(_, r)| !r.is_expired(now))
            .count() as u64)
    }
}

#[async_trait]
impl ExpiredDeletion for MemoryStore {
    /// Runs the cache's maintenance, which drops expired sessions, and returns how many
    /// sessions expired since the last call (at most `max` per call, the rest on the
    /// next calls; the cache evicts expired entries on its own, so nothing is left
    /// behind).
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let expired: Vec<IdHash> = self
            .inner
            .cache
            .iter()
            .filter(|(_, r)| r.is_expired(now))
            .map(|(id, _)| *id)
            .take(usize::try_from(max).unwrap_or(usize::MAX))
            .collect();
        for id in &expired {
            self.inner.cache.invalidate(id);
        }
        self.inner.cache.run_pending_tasks();
        let counted = self.inner.expired.swap(0, Ordering::Relaxed) + expired.len() as u64;
        let reported = counted.min(max);
        // What this call cannot report is left for the next one, so repeated calls add
        // up to every expired session.
        self.inner
            .expired
            .fetch_add(counted - reported, Ordering::Relaxed);
        Ok(reported)
    }
}
