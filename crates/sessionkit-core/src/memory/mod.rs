//! `MemoryStore`: the reference implementation of every store trait, on sharded hash
//! maps of shared records.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

mod slot;

use slot::Slot;

use crate::store::{ExpiredDeletion, SessionListing, StoreError, UserIndex};
use crate::{IdHash, Record, SessionStore};

/// Sessions in process memory: fast, bounded, gone on restart, not shared between
/// processes.
///
/// Records live in 64 shards, each a hash map behind its own lock; compare-and-swap is
/// exact because every operation holds its shard's lock. Records are kept decoded and
/// shared: a load hands out the stored record without copying it.
///
/// Expired sessions are never returned; they are dropped when met, by a sweep of a
/// shard at most once a minute when it is written to, and by
/// [`ExpiredDeletion::delete_expired`] (the cleanup task). When the store is full
/// (`with_capacity`, default one million), a new session first makes room by dropping
/// the shard's expired sessions, then by evicting the least recently saved of a small
/// sample of the shard's sessions (approximate LRU, as Redis does).
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

const SHARDS: usize = 64;
const DEFAULT_CAPACITY: u64 = 1_000_000;
/// How often a shard that is written to drops its expired sessions.
const SWEEP_EVERY: time::Duration = time::Duration::minutes(1);
/// Sessions looked at to choose one to evict from a full shard.
const EVICTION_SAMPLE: usize = 8;

/// Hashes an [`IdHash`] by its first eight bytes: it is already a SHA-256 output, and a
/// client cannot choose it (it would need a preimage), so no further mixing is needed.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

type Map = HashMap<IdHash, Slot, BuildHasherDefault<IdHasher>>;

struct Shard {
    map: Map,
    next_sweep: OffsetDateTime,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    /// Keep records packed into bytes instead of shared and decoded.
    compact: bool,
    /// Records in all shards.
    len: AtomicUsize,
    users: Mutex<HashMap<String, HashSet<IdHash>>>,
    /// Expired sessions dropped outside `delete_expired`, reported by its next call.
    expired: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries: usize = self.inner.shards.iter().map(|s| lock(s).map.len()).sum();
        f.debug_struct("MemoryStore")
            .field("entries", &entries)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// A store holding at most one million sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding at most about `max_sessions` sessions: when it is full, a new
    /// session evicts the least recently saved of a sample of its shard.
    pub fn with_capacity(max_sessions: u64) -> Self {
        let capacity = usize::try_from(max_sessions).unwrap_or(usize::MAX).max(1);
        let now = OffsetDateTime::now_utc();
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: Map::default(),
                    next_sweep: now + SWEEP_EVERY,
                })
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                capacity,
                compact: false,
                len: AtomicUsize::new(0),
                users: Mutex::default(),
                expired: AtomicU64::new(0),
            }),
        }
    }

    /// A new, empty store with this one's capacity that keeps each session packed into
    /// bytes (MessagePack, without the id and with one-letter field names) instead of
    /// decoded: for the benchmark's 200-byte session about an eighth of the memory
    /// (360 instead of 3,000 bytes per session), at the price of a decode on every load
    /// (under a microsecond for that session) and an encode on every save.
    ///
    /// ```
    /// use sessionkit_core::MemoryStore;
    ///
    /// let store = MemoryStore::with_capacity(10_000_000).compact();
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn compact(&self) -> Self {
        let mut store = Self::with_capacity(self.inner.capacity as u64);
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.compact = true;
        }
        store
    }

    fn shard(&self, id: &IdHash) -> MutexGuard<'_, Shard> {
        let i = usize::from(id.as_bytes()[31]) % SHARDS;
        lock(&self.inner.shards[i])
    }

    /// The live record under `id`, dropping it if it has expired.
    fn live(&self, shard: &mut Shard, id: &IdHash, now: OffsetDateTime) -> Option<Arc<Record>> {
        let slot = shard.map.get(id)?;
        if !slot.is_expired(now) {
            return slot.record(id);
        }
        if let Some(gone) = shard.map.remove(id) {
            self.dropped(id, &gone, true);
        }
        None
    }

    /// Bookkeeping for a record that left the map.
    fn dropped(&self, id: &IdHash, slot: &Slot, expired: bool) {
        self.inner.len.fetch_sub(1, Ordering::Relaxed);
        if expired {
            self.inner.expired.fetch_add(1, Ordering::Relaxed);
        }
        if slot.has_user() {
            if let Some(user) = slot.record(id).and_then(|r| r.user.clone()) {
                self.unindex(&user, id);
            }
        }
    }

    fn index(&self, record: &Record, previous_user: Option<&str>) {
        if previous_user == record.user.as_deref() {
            return;
        }
        if let Some(old) = previous_user {
            self.unindex(old, &record.id);
        }
        if let Some(user) = &record.user {
            lock(&self.inner.users)
                .entry(user.clone())
                .or_default()
                .insert(record.id);
        }
    }

    fn unindex(&self, user: &str, id: &IdHash) {
        let mut users = lock(&self.inner.users);
        if let Some(set) = users.get_mut(user) {
            set.remove(id);
            if set.is_empty() {
                users.remove(user);
            }
        }
    }

    /// Drops the shard's expired records; returns how many.
    fn sweep(&self, shard: &mut Shard, now: OffsetDateTime) -> u64 {
        shard.next_sweep = now + SWEEP_EVERY;
        let expired: Vec<IdHash> = shard
            .map
            .iter()
            .filter(|(_, slot)| slot.is_expired(now))
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            if let Some(gone) = shard.map.remove(id) {
                self.dropped(id, &gone, false);
            }
        }
        expired.len() as u64
    }

    /// Before a write: the periodic sweep, and room for one more record (the least
    /// recently saved of a sample goes).
    fn make_room(&self, shard: &mut Shard, now: OffsetDateTime) {
        if now >= shard.next_sweep {
            let swept = self.sweep(shard, now);
            self.inner.expired.fetch_add(swept, Ordering::Relaxed);
        }
        // Full: evict from a sample of this shard (a sweep per insert would scan the
        // whole shard). A new record in an empty shard of a full store is let in: the
        // store may hold a few more than its capacity, never many.
        while self.inner.len.load(Ordering::Relaxed) >= self.inner.capacity && !shard.map.is_empty()
        {
            let victim = shard
                .map
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, slot)| slot.last_seen_ms())
                .map(|(id, _)| *id);
            let Some((id, gone)) = victim.and_then(|id| shard.map.remove_entry(&id)) else {
                break;
            };
            self.dropped(&id, &gone, gone.is_expired(now));
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        Ok(self.load_shared(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn load_shared(&self, id: &IdHash) -> Result<Option<Arc<Record>>, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self.live(&mut self.shard(id), id, now))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.create_shared(Arc::new(record.clone())).await
    }

    async fn create_shared(&self, record: Arc<Record>) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut shard = self.shard(&record.id);
        // Room first, so that the check and the insert are one probe of the map (a
        // colliding id, which never happens in practice, may cost an eviction).
        self.make_room(&mut shard, now);
        match shard.map.entry(record.id) {
            Entry::Occupied(mut taken) => {
                if !taken.get().is_expired(now) {
                    return Err(StoreError::Exists);
                }
                let gone = taken.insert(Slot::new(record.clone(), self.inner.compact));
                // The expired record leaves (with its user index entry, which has the
                // same id), then the new one is indexed. `dropped` counts one out.
                self.inner.len.fetch_add(1, Ordering::Relaxed);
                self.dropped(&record.id, &gone, true);
                self.index(&record, None);
            }
            Entry::Vacant(free) => {
                self.index(&record, None);
                free.insert(Slot::new(record, self.inner.compact));
                self.inner.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.compare_and_swap_shared(Arc::new(record.clone()), expected_version)
            .await
    }

    async fn compare_and_swap_shared(
        &self,
        record: Arc<Record>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut shard = self.shard(&record.id);
        let Some(current) = shard.map.get(&record.id) else {
            return Ok(false);
        };
        if current.is_expired(now) {
            // Dropped as a load would drop it.
            let _ = self.live(&mut shard, &record.id, now);
            return Ok(false);
        }
        if current.version() != expected_version {
            return Ok(false);
        }
        // The previous user matters only when one of the two has a user (a packed
        // record is decoded for it then, and only then).
        let previous_user = if current.has_user() || record.user.is_some() {
            current.record(&record.id).and_then(|r| r.user.clone())
        } else {
            None
        };
        self.index(&record, previous_user.as_deref());
        shard
            .map
            .insert(record.id, Slot::new(record, self.inner.compact));
        Ok(true)
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut shard = self.shard(id);
        if self.live(&mut shard, id, now).is_none() {
            return Ok(false);
        }
        if let Some(slot) = shard.map.get_mut(id) {
            slot.touch(expires_at, now);
        }
        Ok(true)
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let removed = self.shard(id).map.remove(id);
        let Some(slot) = removed else {
            return Ok(false);
        };
        self.dropped(id, &slot, false);
        Ok(!slot.is_expired(OffsetDateTime::now_utc()))
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

impl MemoryStore {
    /// Every live record, in no particular order.
    fn live_records(&self, now: OffsetDateTime) -> impl Iterator<Item = Arc<Record>> + '_ {
        self.inner.shards.iter().flat_map(move |shard| {
            lock(shard)
                .map
                .iter()
                .filter(|(_, slot)| !slot.is_expired(now))
                .filter_map(|(id, slot)| slot.record(id))
                .collect::<Vec<_>>()
        })
    }
}

#[async_trait]
impl SessionListing for MemoryStore {
    async fn list(&self, after: Option<&IdHash>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let mut page: Vec<Arc<Record>> = self
            .live_records(OffsetDateTime::now_utc())
            .filter(|r| after.is_none_or(|a| r.id.as_bytes() > a.as_bytes()))
            .collect();
        page.sort_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
        page.truncate(limit);
        Ok(page.into_iter().map(Arc::unwrap_or_clone).collect())
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
            .filter_map(|id| self.live(&mut self.shard(id), id, now))
            .filter(|r| r.user.as_deref() == Some(user))
            .map(Arc::unwrap_or_clone)
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        crate::store::delete_each_session_of(self, user, except).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.live_records(OffsetDateTime::now_utc()).count() as u64)
    }
}

#[async_trait]
impl ExpiredDeletion for MemoryStore {
    /// Drops every expired session and returns how many sessions expired since the
    /// last call, including those dropped in passing (at most `max` per call; the
    /// rest is reported by the next calls, so repeated calls add up to every expired
    /// session).
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let swept: u64 = self
            .inner
            .shards
            .iter()
            .map(|shard| self.sweep(&mut lock(shard), now))
            .sum();
        let counted = self.inner.expired.swap(0, Ordering::Relaxed) + swept;
        let reported = counted.min(max);
        self.inner
            .expired
            .fetch_add(counted - reported, Ordering::Relaxed);
        Ok(reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, SessionId};

    fn record_in_shard(shard: u8, expires_in: time::Duration) -> Record {
        let mut bytes = SessionId::generate()
            .map(|id| *id.hash().as_bytes())
            .unwrap_or([7; 32]);
        bytes[31] = shard;
        let now = OffsetDateTime::now_utc();
        let mut record = Record::new(
            IdHash::from_bytes(bytes),
            Data::new(),
            now,
            now + expires_in,
        );
        record.data.insert("k".into(), serde_json::json!("v"));
        record
    }

    #[tokio::test]
    async fn load_shared_hands_out_the_stored_record_without_copying() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        let record = record_in_shard(3, time::Duration::hours(1));
        store.create(&record).await?;
        let a = store.load_shared(&record.id).await?;
        let b = store.load_shared(&record.id).await?;
        assert!(matches!((a, b), (Some(a), Some(b)) if Arc::ptr_eq(&a, &b)));
        Ok(())
    }

    #[tokio::test]
    async fn full_store_evicts_the_least_recently_saved_instead_of_refusing(
    ) -> Result<(), StoreError> {
        for store in [
            MemoryStore::with_capacity(2),
            MemoryStore::with_capacity(2).compact(),
        ] {
            evicts_when_full(store).await?;
        }
        Ok(())
    }

    async fn evicts_when_full(store: MemoryStore) -> Result<(), StoreError> {
        let mut first = record_in_shard(5, time::Duration::hours(1));
        first.user = Some("alice".into());
        store.create(&first).await?;
        let other_shard = record_in_shard(6, time::Duration::hours(1));
        store.create(&other_shard).await?;
        let second = record_in_shard(5, time::Duration::hours(1));
        store.create(&second).await?;
        assert!(store.load(&first.id).await?.is_none(), "evicted");
        assert!(store.load(&second.id).await?.is_some());
        assert!(store.load(&other_shard.id).await?.is_some());
        assert!(
            store.sessions_of("alice").await?.is_empty(),
            "an evicted session leaves the user index"
        );
        assert_eq!(store.count().await?, 2);
        store.delete(&second.id).await?;
        store
            .create(&record_in_shard(9, time::Duration::hours(1)))
            .await?;
        assert_eq!(store.count().await?, 2, "a deleted session frees its place");
        Ok(())
    }

    #[tokio::test]
    async fn expired_sessions_dropped_in_passing_are_reported_by_delete_expired(
    ) -> Result<(), StoreError> {
        for store in [MemoryStore::new(), MemoryStore::new().compact()] {
            reports_expired(store).await?;
        }
        Ok(())
    }

    async fn reports_expired(store: MemoryStore) -> Result<(), StoreError> {
        let met = record_in_shard(1, time::Duration::milliseconds(30));
        let swept = record_in_shard(2, time::Duration::milliseconds(30));
        let live = record_in_shard(3, time::Duration::hours(1));
        for r in [&met, &swept, &live] {
            store.create(r).await?;
        }
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert!(
            store.load(&met.id).await?.is_none(),
            "never returned once expired"
        );
        assert_eq!(store.delete_expired(1).await?, 1, "at most max per call");
        assert_eq!(
            store.delete_expired(100).await?,
            1,
            "the rest on the next call"
        );
        assert_eq!(store.delete_expired(100).await?, 0);
        assert_eq!(store.count().await?, 1);
        assert!(store.load(&live.id).await?.is_some());
        Ok(())
    }

    #[tokio::test]
    async fn compact_store_keeps_every_field_and_touches_without_decoding() -> Result<(), StoreError>
    {
        let store = MemoryStore::new().compact();
        let mut record = record_in_shard(4, time::Duration::hours(1));
        record.user = Some("alice".into());
        record.client.user_agent = Some("Firefox/140".into());
        record.expiry = crate::Expiry::Idle(time::Duration::minutes(5));
        record.moved_to = Some(IdHash::from_bytes([9; 32]));
        record.version = 7;
        store.create(&record).await?;
        let loaded = store.load(&record.id).await?.ok_or(StoreError::Exists)?;
        let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
        assert_eq!(loaded.data, record.data);
        assert_eq!(
            (
                loaded.user.as_deref(),
                loaded.version,
                loaded.expiry,
                loaded.moved_to
            ),
            (Some("alice"), 7, record.expiry, record.moved_to)
        );
        assert_eq!(loaded.client, record.client);
        assert_eq!(
            ms(loaded.created_at),
            ms(record.created_at),
            "milliseconds kept"
        );
        assert_eq!(ms(loaded.expires_at), ms(record.expires_at));

        let later = OffsetDateTime::now_utc() + time::Duration::hours(2);
        assert!(
            store
                .touch(&record.id, later, OffsetDateTime::now_utc())
                .await?
        );
        let touched = store.load(&record.id).await?.ok_or(StoreError::Exists)?;
        assert_eq!(ms(touched.expires_at), ms(later));
        assert_eq!((touched.version, &touched.data), (7, &record.data));
        assert_eq!(store.sessions_of("alice").await?.len(), 1);
        Ok(())
    }

    #[test]
    fn id_hasher_uses_the_hash_bytes_themselves() {
        use std::hash::BuildHasher;
        let id = IdHash::from_bytes([0x11; 32]);
        let build = BuildHasherDefault::<IdHasher>::default();
        assert_eq!(build.hash_one(id), 0x1111_1111_1111_1111);
    }
}
