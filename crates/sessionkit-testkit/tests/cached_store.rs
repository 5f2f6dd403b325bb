//! `CachedStore`: the shared conformance suite with a memory cache in front of a
//! memory store, with a cache that is down the whole time, and with a cache that fails
//! every third call (after applying writes, like a timeout); then a cache that goes
//! down in the middle of a run and comes back holding old entries, and refills that
//! race with writes. (Memory in front of SQLite runs in `sessionkit-sql`'s tests.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::json;
use sessionkit_core::{
    CachedStore, ExpiredDeletion, IdHash, MemoryStore, Record, Session, SessionConfig, SessionId,
    SessionStore, StoreError,
};
use sessionkit_testkit::http::cases::CountingStore;
use time::{Duration, OffsetDateTime};

/// How a [`FaultyCache`] fails.
#[derive(Debug, Clone, Copy)]
enum Faults {
    /// Calls fail only while the switch is on.
    Switch,
    /// Every third call fails; writes are applied first (a timeout after the server
    /// did the work).
    EveryThird,
}

/// A cache server as a test double: a `MemoryStore` whose calls fail with a backend
/// error while `down` is set (or, flaky, every third call).
#[derive(Debug, Clone)]
struct FaultyCache {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
    faults: Faults,
    calls: Arc<AtomicU64>,
    attempts: Arc<AtomicU64>,
}

impl FaultyCache {
    fn new(faults: Faults) -> Self {
        Self {
            inner: MemoryStore::new(),
            down: Arc::new(AtomicBool::new(false)),
            faults,
            calls: Arc::default(),
            attempts: Arc::default(),
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn refused() -> StoreError {
        StoreError::backend(
            "talking to the cache",
            std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "cache server is down",
            ),
        )
    }

    /// How many calls reached this cache (failed or not).
    fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Before a call: fails when down.
    fn before(&self) -> Result<(), StoreError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(Self::refused());
        }
        Ok(())
    }

    /// After a call (already applied): fails every third call when flaky.
    fn after<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.faults {
            Faults::EveryThird if n % 3 == 2 => Err(StoreError::backend(
                "talking to the cache",
                std::io::Error::new(std::io::ErrorKind::TimedOut, "cache call timed out"),
            )),
            _ => result,
        }
    }
}

#[async_trait]
impl SessionStore for FaultyCache {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.before()?;
        self.after(self.inner.load(id).await)
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.before()?;
        self.after(self.inner.create(record).await)
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.before()?;
        self.after(self.inner.compare_and_swap(record, expected).await)
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.before()?;
        self.after(self.inner.touch(id, expires_at, now).await)
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.before()?;
        self.after(self.inner.delete(id).await)
    }
}

mod memory_over_memory {
    use super::*;

    sessionkit_testkit::store_conformance!(async {
        Some(CachedStore::new(MemoryStore::new(), MemoryStore::new()))
    });
}

mod cache_down_all_along {
    use super::*;

    sessionkit_testkit::store_conformance!(async {
        let cache = FaultyCache::new(Faults::Switch);
        cache.set_down(true);
        Some(CachedStore::new(cache, MemoryStore::new()))
    });
}

mod cache_failing_every_third_call {
    use super::*;

    // No pause after a failure: every call reaches the flaky cache.
    sessionkit_testkit::store_conformance!(async {
        Some(
            CachedStore::new(FaultyCache::new(Faults::EveryThird), MemoryStore::new())
                .with_retry_after(std::time::Duration::ZERO),
        )
    });
}

fn config() -> SessionConfig {
    SessionConfig::default()
}

/// Saves a new session holding `key: value` through the engine; returns its id.
async fn saved(
    store: &CachedStore<FaultyCache, MemoryStore>,
    key: &str,
    value: serde_json::Value,
) -> SessionId {
    let session = Session::new(store.clone(), config());
    session.insert_value(key, value).await.expect("insert");
    session.save().await.expect("save");
    session.id().await.expect("a saved session has an id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_succeeds_while_the_cache_is_down_and_nothing_stale_is_served_when_it_returns(
) {
    // No pause after a failure, so the cache is tried again the moment it is back.
    let store = CachedStore::new(FaultyCache::new(Faults::Switch), MemoryStore::new())
        .with_retry_after(std::time::Duration::ZERO);
    let cart = saved(&store, "cart", json!(["apple"])).await;
    let doomed = saved(&store, "user", json!("alice")).await;
    let rotated = saved(&store, "n", json!(1)).await;
    assert!(
        store
            .cache()
            .inner
            .load(&cart.hash())
            .await
            .expect("load")
            .is_some(),
        "a new session is cached"
    );

    // The cache server goes down.
    store.cache().set_down(true);
    let session = Session::open(store.clone(), config(), Some(cart.clone()));
    session
        .push("cart", "pear")
        .await
        .expect("push while the cache is down");
    session.save().await.expect("save while the cache is down");
    let again = Session::open(store.clone(), config(), Some(cart.clone()));
    assert_eq!(
        again.get::<Vec<String>>("cart").await.expect("get"),
        Some(vec!["apple".to_owned(), "pear".to_owned()]),
        "a load while the cache is down reads the durable store"
    );
    let logout = Session::open(store.clone(), config(), Some(doomed.clone()));
    logout.flush().await;
    logout.save().await.expect("logout while the cache is down");
    let cycle = Session::open(store.clone(), config(), Some(rotated.clone()));
    cycle
        .login("bob")
        .await
        .expect("login while the cache is down");
    cycle
        .save()
        .await
        .expect("save of a login while the cache is down");
    let rotated_to = cycle.id().await.expect("a logged-in session has an id");
    let fresh = saved(&store, "new", json!(true)).await;

    // It comes back, still holding what it held before it went down.
    store.cache().set_down(false);
    let stale = store
        .cache()
        .inner
        .load(&cart.hash())
        .await
        .expect("load")
        .expect("the cache still holds the old cart");
    assert_eq!(
        stale.data["cart"],
        json!(["apple"]),
        "the cache's entry is old"
    );
    let after = Session::open(store.clone(), config(), Some(cart.clone()));
    assert_eq!(
        after.get::<Vec<String>>("cart").await.expect("get"),
        Some(vec!["apple".to_owned(), "pear".to_owned()]),
        "the old cache entry is not served after the cache returns"
    );
    let gone = Session::open(store.clone(), config(), Some(doomed.clone()));
    assert!(
        gone.is_empty().await.expect("is_empty"),
        "a session logged out while the cache was down stays logged out"
    );
    assert!(
        store.load(&doomed.hash()).await.expect("load").is_none(),
        "the logged-out record is not served from the returned cache"
    );
    let moved = Session::open(store.clone(), config(), Some(rotated_to));
    assert_eq!(moved.user().await.expect("user").as_deref(), Some("bob"));
    let made = Session::open(store.clone(), config(), Some(fresh));
    assert_eq!(made.get::<bool>("new").await.expect("get"), Some(true));

    // The cache is used again: loads refill it and hit it.
    store.load(&cart.hash()).await.expect("load");
    let cached = store
        .cache()
        .inner
        .load(&cart.hash())
        .await
        .expect("load")
        .expect("refilled");
    assert_eq!(cached.data["cart"], json!(["apple", "pear"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_all_succeed_and_lose_nothing_when_the_cache_goes_down_and_up_mid_run()
{
    const USERS: usize = 20;
    const REQUESTS: usize = 30;
    let store = CachedStore::new(FaultyCache::new(Faults::Switch), MemoryStore::new());
    let mut ids = Vec::new();
    for _ in 0..USERS {
        ids.push(saved(&store, "visits", json!([])).await);
    }
    let switch = {
        let cache = store.cache().clone();
        tokio::spawn(async move {
            for down in [true, false, true, false] {
                tokio::time::sleep(std::time::Duration::from_millis(15)).await;
                cache.set_down(down);
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (u, id) in ids.iter().enumerate() {
        let (store, id) = (store.clone(), id.clone());
        tasks.spawn(async move {
            for r in 0..REQUESTS {
                let session = Session::open(store.clone(), config(), Some(id.clone()));
                let seen: Vec<usize> = session.get("visits").await?.unwrap_or_default();
                assert_eq!(seen.len(), r, "user {u} sees every earlier request");
                session.push("visits", r).await?;
                session.save().await?;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Ok::<_, sessionkit_core::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a request task does not panic")
            .expect("every request succeeds whatever the cache does");
    }
    switch.await.expect("switch task");
    for id in &ids {
        let session = Session::open(store.clone(), config(), Some(id.clone()));
        let visits: Vec<usize> = session.get("visits").await.expect("get").expect("stored");
        assert_eq!(visits, (0..REQUESTS).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_failed_cache_is_left_alone_for_the_retry_pause_then_tried_again() {
    let pause = std::time::Duration::from_millis(300);
    let store = CachedStore::new(FaultyCache::new(Faults::Switch), MemoryStore::new())
        .with_retry_after(pause);
    let id = saved(&store, "n", json!(1)).await;
    store.cache().set_down(true);
    let before = store.cache().attempts();
    for _ in 0..10 {
        let record = store
            .load(&id.hash())
            .await
            .expect("load while the cache is down");
        assert_eq!(record.expect("live").data["n"], json!(1));
    }
    assert_eq!(
        store.cache().attempts() - before,
        1,
        "after one failure the cache is not called during the pause"
    );
    store.cache().set_down(false);
    tokio::time::sleep(pause + std::time::Duration::from_millis(50)).await;
    store.load(&id.hash()).await.expect("load after the pause");
    assert!(
        store.cache().attempts() - before > 1,
        "after the pause the cache is tried again"
    );
    assert!(
        store
            .cache()
            .inner
            .load(&id.hash())
            .await
            .expect("load")
            .is_some(),
        "and refilled"
    );
}

/// A durable store whose next load answers with an old record: the state of the world
/// when a write lands between a reader's durable read and its cache refill.
#[derive(Debug, Clone, Default)]
struct SlowReader {
    inner: MemoryStore,
    old_answer: Arc<Mutex<Option<Option<Record>>>>,
}

impl SlowReader {
    fn answer_next_load_with(&self, old: Option<Record>) {
        *self
            .old_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(old);
    }
}

#[async_trait]
impl SessionStore for SlowReader {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        let old = self
            .old_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match old {
            Some(old) => Ok(old),
            None => self.inner.load(id).await,
        }
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.inner.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.inner.delete(id).await
    }
}

fn record(value: serde_json::Value) -> Record {
    let now = OffsetDateTime::now_utc();
    let serde_json::Value::Object(data) = value else {
        panic!("session data is a JSON object");
    };
    Record::new(
        SessionId::generate().expect("randomness").hash(),
        data,
        now,
        now + Duration::hours(1),
    )
}

#[tokio::test]
async fn a_refill_racing_a_write_never_leaves_old_data_in_the_cache() {
    let store = CachedStore::new(MemoryStore::new(), SlowReader::default());
    let v1 = record(json!({"cart": ["apple"]}));
    store.create(&v1).await.expect("create");
    store.cache().delete(&v1.id).await.expect("evict");

    // A reader reads v1 from the durable store; before it refills the cache, another
    // process swaps in v2 (the cache had nothing to update).
    let mut v2 = v1.clone();
    v2.data.insert("cart".into(), json!(["apple", "pear"]));
    v2.version = 2;
    assert!(store
        .durable()
        .inner
        .compare_and_swap(&v2, 1)
        .await
        .expect("cas"));
    store.durable().answer_next_load_with(Some(v1.clone()));

    let first = store.load(&v1.id).await.expect("load").expect("live");
    assert_eq!(
        first.version, 2,
        "the refill's re-check returns the newer record"
    );
    let second = store.load(&v1.id).await.expect("load").expect("live");
    assert_eq!(
        second.version, 2,
        "the old record was not left in the cache"
    );
    assert!(
        store
            .cache()
            .load(&v1.id)
            .await
            .expect("load")
            .is_none_or(|r| r.version == 2),
        "the cache holds nothing or the newer record"
    );
}

#[tokio::test]
async fn a_refill_racing_a_delete_never_brings_the_session_back() {
    let store = CachedStore::new(MemoryStore::new(), SlowReader::default());
    let v1 = record(json!({"user": "alice"}));
    store.create(&v1).await.expect("create");
    store.cache().delete(&v1.id).await.expect("evict");

    // A reader reads v1; before it refills, another process logs the session out.
    assert!(store.durable().inner.delete(&v1.id).await.expect("delete"));
    store.durable().answer_next_load_with(Some(v1.clone()));

    assert!(
        store.load(&v1.id).await.expect("load").is_none(),
        "the refill's re-check sees the deletion"
    );
    assert!(
        store.load(&v1.id).await.expect("load").is_none(),
        "a deleted session is not served from the cache"
    );
}

#[tokio::test]
async fn a_lost_compare_and_swap_invalidates_the_cache_so_the_retry_reads_the_truth() {
    let store = CachedStore::new(MemoryStore::new(), MemoryStore::new());
    let id = {
        let session = Session::new(store.clone(), config());
        session.insert("n", 1).await.expect("insert");
        session.save().await.expect("save");
        session.id().await.expect("id")
    };
    // Another process (sharing the durable store, not this cache) writes version 2.
    let mut current = store
        .durable()
        .load(&id.hash())
        .await
        .expect("load")
        .expect("live");
    current.data.insert("other".into(), json!(true));
    current.version = 2;
    assert!(store
        .durable()
        .compare_and_swap(&current, 1)
        .await
        .expect("cas"));

    // This process still caches version 1; its save loses once, then merges.
    let session = Session::open(store.clone(), config(), Some(id.clone()));
    assert_eq!(session.increment("n", 1).await.expect("increment"), 2);
    session
        .save()
        .await
        .expect("the save merges after one conflict");
    let stored = store.load(&id.hash()).await.expect("load").expect("live");
    assert_eq!(stored.version, 3);
    assert_eq!(stored.data["n"], json!(2));
    assert_eq!(
        stored.data["other"],
        json!(true),
        "the other process's write is kept"
    );
}

#[tokio::test]
async fn revoking_a_users_sessions_removes_them_from_the_cache_too() {
    let store = CachedStore::new(MemoryStore::new(), MemoryStore::new());
    let mut mine = Vec::new();
    for _ in 0..3 {
        let mut r = record(json!({"device": 1}));
        r.user = Some("carol".into());
        store.create(&r).await.expect("create");
        mine.push(r);
    }
    let index = store.user_index().expect("the durable store's index");
    assert_eq!(
        index.sessions_of("carol").await.expect("sessions_of").len(),
        3
    );
    assert_eq!(
        index
            .delete_sessions_of("carol", Some(&mine[0].id))
            .await
            .expect("revoke"),
        2
    );
    for r in &mine[1..] {
        assert!(store.cache().load(&r.id).await.expect("load").is_none());
        assert!(store.load(&r.id).await.expect("load").is_none());
    }
    assert!(store.load(&mine[0].id).await.expect("load").is_some());
}

#[tokio::test]
async fn capabilities_follow_the_durable_store() {
    let with = CachedStore::new(MemoryStore::new(), MemoryStore::new());
    assert!(with.user_index().is_some());
    assert!(with.expired_deletion().is_some());
    assert!(with.listing().is_some());
    let without = CachedStore::new(MemoryStore::new(), FaultyCache::new(Faults::Switch));
    assert!(without.user_index().is_none(), "no index is faked");
    assert!(without.expired_deletion().is_none());
    assert!(without.listing().is_none());
    let deletion: &dyn ExpiredDeletion = with.expired_deletion().expect("present");
    assert_eq!(
        deletion.delete_expired(10).await.expect("delete_expired"),
        0
    );
}

/// G7: write-through with reads from the cache. A session saved through the engine is
/// in both stores at the same version; loading it again, through the engine or
/// directly, reads the cache only (zero durable loads). A second save moves both
/// stores to the next version with the same data, and the load after it again costs
/// no durable read. Once the cache forgets the entry, a load reads the durable store
/// and refills the cache.
#[tokio::test]
async fn cache_hit_reads_no_durable_store_and_saves_update_both() {
    let durable = CountingStore::new(MemoryStore::new());
    let store = CachedStore::new(MemoryStore::new(), durable.clone());
    let session = Session::new(store.clone(), config());
    session.insert("cart", ["apple"]).await.expect("insert");
    session.save().await.expect("save");
    let id = session.id().await.expect("a saved session has an id");
    let loads = durable.loads();

    let again = Session::open(store.clone(), config(), Some(id.clone()));
    assert_eq!(
        again.get::<Vec<String>>("cart").await.expect("get"),
        Some(vec!["apple".to_owned()])
    );
    assert_eq!(durable.loads(), loads, "a cache hit reads no durable store");
    again.push("cart", "pear").await.expect("push");
    again.save().await.expect("save");
    assert_eq!(durable.loads(), loads, "a save reads no durable store");
    let loaded = store.load(&id.hash()).await.expect("load").expect("live");
    assert_eq!(
        durable.loads(),
        loads,
        "the saved version is served by the cache"
    );

    let cached = store
        .cache()
        .load(&id.hash())
        .await
        .expect("load")
        .expect("cached");
    let stored = store
        .durable()
        .load(&id.hash())
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.version, 2, "created, then one swap");
    assert_eq!(cached, stored, "the cache holds the durable store's record");
    assert_eq!(loaded, stored);
    assert_eq!(stored.data["cart"], json!(["apple", "pear"]));

    store.cache().delete(&id.hash()).await.expect("evict");
    let loads = durable.loads();
    let refilled = store.load(&id.hash()).await.expect("load").expect("live");
    assert!(durable.loads() > loads, "a miss reads the durable store");
    assert_eq!(refilled, stored);
    assert_eq!(
        store.cache().load(&id.hash()).await.expect("load"),
        Some(stored),
        "and refills the cache"
    );
}
