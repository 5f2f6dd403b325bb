//! `CachedStore` with a memory cache in front of `SqliteStore` (`sqlite::memory:`, a
//! private database per test): the shared conformance suite, the HTTP lifecycle suite
//! through `SessionLayer`, and a run in which the cache goes down and comes back while
//! requests keep succeeding.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sessionkit_core::{CachedStore, IdHash, MemoryStore, Session, SessionConfig, SessionStore};
use sessionkit_sql::sqlx;
use sessionkit_sql::{PoolOptions, SqliteStore};
use sessionkit_testkit::watched::{server_down, Watched};

async fn sqlite() -> SqliteStore {
    let store = SqliteStore::connect("sqlite::memory:", PoolOptions::default())
        .await
        .expect("open an in-memory database");
    store.migrate().await.expect("migrate");
    store
}

async fn store() -> Option<CachedStore<MemoryStore, SqliteStore>> {
    Some(CachedStore::new(MemoryStore::new(), sqlite().await))
}

/// Overwrites the stored bytes of `id`'s row with bytes that are not a record (the
/// corrupt-data cases of both suites).
async fn corrupt(store: CachedStore<MemoryStore, SqliteStore>, id: IdHash) {
    let sql = "UPDATE sessions SET data = ?1 WHERE id_hash = ?2";
    common::overwrite_row!(store.durable().pool(), sql, &id);
    // The cache's copy is intact; forget it (an eviction) so the bytes are read.
    store.cache().delete(&id).await.expect("evict");
}

sessionkit_testkit::store_conformance!(store(), corrupt = corrupt);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_succeeds_when_the_cache_goes_down_mid_run_and_nothing_stale_is_served_after()
{
    const USERS: usize = 10;
    const REQUESTS: usize = 30;
    // A memory cache whose calls fail as a backend's do while `down` is set: a cache
    // server that goes away.
    let down = Arc::new(AtomicBool::new(false));
    let failing = down.clone();
    let cache = Watched::failing(MemoryStore::new(), move |_, _| {
        if failing.load(Ordering::SeqCst) {
            return Err(server_down());
        }
        Ok(())
    });
    let store = CachedStore::new(cache.clone(), sqlite().await);
    let config = SessionConfig::default();

    let mut ids = Vec::new();
    for _ in 0..USERS {
        let session = Session::new(store.clone(), config.clone());
        session
            .insert("visits", Vec::<usize>::new())
            .await
            .expect("insert");
        session.insert("user", "someone").await.expect("insert");
        session.save().await.expect("save");
        ids.push(session.id().await.expect("a saved session has an id"));
    }

    let mut tasks = tokio::task::JoinSet::new();
    for id in &ids {
        let (store, config, id) = (store.clone(), config.clone(), id.clone());
        tasks.spawn(async move {
            for r in 0..REQUESTS {
                let session = Session::open(store.clone(), config.clone(), Some(id.clone()));
                let seen: Vec<usize> = session.get("visits").await?.unwrap_or_default();
                assert_eq!(seen.len(), r, "every earlier request is seen");
                session.push("visits", r).await?;
                session.save().await?;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            Ok::<_, sessionkit_core::Error>(())
        });
    }
    // The cache server goes down in the middle of the run.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    down.store(true, Ordering::SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.expect("a request task does not panic")
            .expect("every request succeeds while the cache is down");
    }

    // A logout while the cache is down.
    let logout = Session::open(store.clone(), config.clone(), Some(ids[0].clone()));
    logout.flush().await;
    logout.save().await.expect("logout while the cache is down");

    // The cache comes back, holding entries from before it went down.
    down.store(false, Ordering::SeqCst);
    let gone = Session::open(store.clone(), config.clone(), Some(ids[0].clone()));
    assert!(
        gone.is_empty().await.expect("is_empty"),
        "a logout made while the cache was down stays a logout"
    );
    for id in &ids[1..] {
        let session = Session::open(store.clone(), config.clone(), Some(id.clone()));
        let visits: Vec<usize> = session.get("visits").await.expect("get").expect("stored");
        assert_eq!(
            visits,
            (0..REQUESTS).collect::<Vec<_>>(),
            "the durable store's data, not the cache's old entry"
        );
    }
}

mod http {
    //! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
    //! concurrency over a socket) through `SessionLayer` on the same store.

    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        let store = super::store().await?;
        let target = store.clone();
        Some(Subject::server(store).with_corruptor(move |id| super::corrupt(target.clone(), id)))
    });
}
