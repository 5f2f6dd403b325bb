//! `SqliteStore` on `sqlite::memory:`: the shared conformance suite, on the default
//! table name, and the HTTP lifecycle suite through `SessionLayer`. Every test gets a
//! private in-memory database.

mod common;

use sessionkit_core::IdHash;
use sessionkit_sql::sqlx;
use sessionkit_sql::{PoolOptions, SqliteStore, DEFAULT_TABLE_NAME};

async fn store() -> Option<SqliteStore> {
    let store = SqliteStore::connect("sqlite::memory:", PoolOptions::default())
        .await
        .expect("open an in-memory database");
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Overwrites the stored bytes of `id`'s row with bytes that are not a record (the
/// corrupt-data cases of both suites).
async fn corrupt(store: SqliteStore, id: IdHash) {
    let sql = "UPDATE sessions SET data = ?1 WHERE id_hash = ?2";
    common::overwrite_row!(store.pool(), sql, &id);
}

sessionkit_testkit::store_conformance!(store(), corrupt = corrupt);

#[tokio::test]
async fn sql_specific_behaviours() {
    let Some(store) = store().await else { return };
    assert_eq!(store.table_name(), DEFAULT_TABLE_NAME);
    common::check_sql_specifics(&store).await;
}

#[tokio::test]
async fn every_memory_store_is_a_database_of_its_own_shared_by_its_clones() {
    let (Some(a), Some(b)) = (store().await, store().await) else {
        return;
    };
    let index_a = a.clone();
    let r = common::record(time::Duration::hours(1), None);
    sessionkit_core::SessionStore::create(&a, &r)
        .await
        .expect("create");
    let from_clone = sessionkit_core::SessionStore::load(&index_a, &r.id)
        .await
        .expect("load");
    assert!(from_clone.is_some(), "a clone shares the database");
    let from_other = sessionkit_core::SessionStore::load(&b, &r.id)
        .await
        .expect("load");
    assert!(from_other.is_none(), "another memory store does not");
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
