//! `MemcachedStore` against the server named by `SESSIONKIT_TEST_MEMCACHED_URL`
//! (skipped without it): every case of the store conformance suite but one, the HTTP
//! suite's 200 concurrent pushes over a real socket, and what is particular to
//! Memcached.
//!
//! The one case not run here is `large_values_round_trip`: it stores a 1 MiB string
//! plus a 10,000-element list (about 1.3 MB encoded), more than a memcached started
//! with its defaults keeps in one item (`-I`, 1 MiB). In its place,
//! `large_sessions_over_the_item_limit_fail_with_a_clear_error` shows what happens
//! instead (a `StoreError` naming the limit, a 503 over HTTP); `tests/own_server.rs`
//! runs the real case against a memcached started with `-I 4m`. Every test uses a key
//! prefix of its own, so tests and runs share the server without flushing it.

mod common;

use serde_json::json;
use sessionkit::SessionLayer;
use sessionkit_core::{Data, IdHash, Record, SessionId, SessionStore, StoreError};
use sessionkit_memcached::async_memcached::MetaProtocol;
use sessionkit_memcached::{Error, MemcachedOptions, MemcachedStore};
use sessionkit_testkit::env;
use sessionkit_testkit::http::cases::two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with;
use time::{Duration, OffsetDateTime};

/// One `#[tokio::test]` per conformance case, as `store_conformance!` would generate.
macro_rules! cases {
    ($($name:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = common::shared_store().await else {
                    return;
                };
                sessionkit_testkit::store::$name(store).await;
            }
        )*
        /// The cases this file runs.
        const RUN_HERE: &[&str] = &[$(stringify!($name)),*];
    };
}

cases!(
    round_trip_keeps_every_field
    load_of_unknown_id_is_none_and_creates_nothing
    expired_record_is_never_loaded
    create_never_overwrites_an_existing_id
    compare_and_swap_rejects_a_stale_version_and_keeps_the_winner
    compare_and_swap_on_deleted_record_is_false_and_does_not_recreate_it
    concurrent_session_saves_merge_instead_of_losing_updates
    two_hundred_concurrent_pushes_lose_nothing
    save_after_concurrent_delete_is_interrupted_not_resurrected
    touch_moves_expiry_without_touching_data_or_version
    touch_of_missing_record_is_false
    delete_returns_whether_a_record_existed
    delete_expired_removes_only_expired_records_and_counts_them
    delete_expired_in_small_batches_counts_every_record
    user_index_lists_and_revokes_sessions_of_a_user
    listing_pages_through_live_sessions_and_counts_them
    cycle_id_keeps_data_and_deletes_old_record
    login_binds_user_and_cycles_id
    flush_deletes_the_record
    emptied_session_is_deleted_at_save
    is_empty_agrees_with_what_save_stores
    reserved_looking_keys_are_plain_data
    unicode_keys_and_values_round_trip
    unknown_id_is_never_adopted
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_stored_bytes_give_an_empty_session_not_a_panic() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    sessionkit_testkit::store::corrupt_stored_bytes_give_an_empty_session_not_a_panic(
        store,
        |store: MemcachedStore, id: IdHash| async move {
            let url = env::service_url(common::URL_VAR).expect("set, since the store exists");
            common::corrupt(&url, &store, &id).await;
        },
    )
    .await;
}

#[test]
fn every_conformance_case_runs_here_but_large_values_which_has_a_stated_reason() {
    let mut expected: Vec<String> = common::macro_cases();
    expected.retain(|case| case != "large_values_round_trip");
    assert_eq!(
        expected, RUN_HERE,
        "keep the case list of tests/conformance.rs in step with store_conformance!"
    );
}

fn record_with(data: serde_json::Value, expires_in: Duration) -> Record {
    let now = OffsetDateTime::now_utc();
    let serde_json::Value::Object(data) = data else {
        panic!("session data is an object");
    };
    Record::new(
        SessionId::generate().expect("randomness").hash(),
        data,
        now,
        now + expires_in,
    )
}

/// What `large_values_round_trip` stores: a 1 MiB string and 10,000 small objects.
fn large_record() -> Record {
    let big = "x".repeat(1 << 20);
    let list: Vec<serde_json::Value> = (0..10_000)
        .map(|i| json!({"i": i, "name": format!("item-{i}")}))
        .collect();
    record_with(json!({"big": big, "list": list}), Duration::hours(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sessions_over_the_item_limit_fail_with_a_clear_error() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let record = large_record();
    match store.create(&record).await {
        Ok(()) => {
            eprintln!(
                "this memcached keeps items over 1.3 MB (-I raised): running \
                 large_values_round_trip instead"
            );
            sessionkit_testkit::store::large_values_round_trip(store).await;
            return;
        }
        Err(StoreError::Backend { source, .. }) => {
            let error = source
                .downcast_ref::<Error>()
                .expect("the source is the crate's error");
            assert!(
                matches!(error, Error::TooLarge { size } if *size > 1 << 20),
                "{error:?}"
            );
            let text = error.to_string();
            assert!(text.contains("item size limit"), "{text}");
            eprintln!(
                "large_values_round_trip cannot pass on this memcached (1 MiB item limit); \
                 the store refuses with: {text}"
            );
        }
        Err(other) => panic!("expected a clear too-large error, got {other:?}"),
    }
    assert!(store.load(&record.id).await.expect("load").is_none());
    // The connection is still usable after the refusal.
    let small = record_with(json!({"small": true}), Duration::minutes(5));
    store
        .create(&small)
        .await
        .expect("a small session after a refused large one");

    // Through the layer: the save fails closed with a 503, and nothing is stored.
    let app = sessionkit_testkit::http::app::app(SessionLayer::new(store.clone()));
    let mut client = sessionkit_testkit::http::client::Client::new(app);
    let reply = client.get(&format!("/big/{}", 2 << 20)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.set_cookies().is_empty(),
        "no cookie for a session that was not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_pushes_over_a_socket_lose_nothing() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(SessionLayer::new(store)).await;
}

#[tokio::test]
async fn sessions_beyond_thirty_days_get_a_unix_time_ttl_and_stay_loadable() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let url = env::service_url(common::URL_VAR).expect("set");
    let r = record_with(json!({"remember": "me"}), Duration::days(40));
    store.create(&r).await.expect("create");
    assert!(
        store.load(&r.id).await.expect("load").is_some(),
        "a 40-day session loads (a relative TTL over 30 days would read as 1970)"
    );
    let mut client = common::raw_client(&url).await;
    let meta = client
        .meta_get(store.key(&r.id), false, None, Some(&["t"]))
        .await
        .expect("mg")
        .expect("the item exists");
    let ttl = meta.ttl_remaining.expect("a ttl");
    let want = Duration::days(40).whole_seconds();
    assert!(
        (want - 5..=want + 5).contains(&ttl),
        "memcached's TTL is 40 days: {ttl} s"
    );
    let week = record_with(json!({"n": 1}), Duration::days(7));
    store.create(&week).await.expect("create");
    let ttl = client
        .meta_get(store.key(&week.id), false, None, Some(&["t"]))
        .await
        .expect("mg")
        .and_then(|m| m.ttl_remaining)
        .expect("a ttl");
    assert!(
        (Duration::days(7).whole_seconds() - 5..=Duration::days(7).whole_seconds() + 1)
            .contains(&ttl)
    );
}

#[tokio::test]
async fn keys_hold_only_the_id_hash_and_the_store_offers_no_index_or_sweep() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let id = SessionId::generate().expect("randomness");
    let mut r = record_with(json!({"a": 1}), Duration::minutes(5));
    r.id = id.hash();
    store.create(&r).await.expect("create");
    let key = store.key(&id.hash());
    assert_eq!(key, format!("{}{}", store.key_prefix(), id.hash().to_hex()));
    assert!(!key.contains(&id.to_string()));
    assert!(
        store.user_index().is_none(),
        "memcached cannot enumerate: no user index"
    );
    assert!(
        store.expired_deletion().is_none(),
        "TTLs expire sessions: no sweep"
    );
    assert!(store.listing().is_none(), "memcached cannot list its items");
}

#[tokio::test]
async fn touch_keeps_data_and_version_and_moves_the_ttl() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let url = env::service_url(common::URL_VAR).expect("set");
    let mut r = record_with(json!({"cart": ["apple"]}), Duration::seconds(30));
    r.version = 7;
    store.create(&r).await.expect("create");
    let later = OffsetDateTime::now_utc() + Duration::hours(2);
    let now = OffsetDateTime::now_utc();
    assert!(store.touch(&r.id, later, now).await.expect("touch"));
    let loaded = store.load(&r.id).await.expect("load").expect("live");
    assert_eq!((loaded.version, &loaded.data), (7, &r.data));
    assert_eq!(loaded.expires_at.unix_timestamp(), later.unix_timestamp());
    assert_eq!(loaded.last_seen.unix_timestamp(), now.unix_timestamp());
    let ttl = common::raw_client(&url)
        .await
        .meta_get(store.key(&r.id), false, None, Some(&["t"]))
        .await
        .expect("mg")
        .and_then(|m| m.ttl_remaining)
        .expect("a ttl");
    assert!(
        (7190..=7201).contains(&ttl),
        "the TTL moved to two hours: {ttl}"
    );
}

#[tokio::test]
async fn bad_urls_and_prefixes_are_clear_errors() {
    for (url, want) in [
        ("redis://127.0.0.1:6379", "unsupported"),
        ("memcache://user:pw@127.0.0.1:11211", "credentials"),
        ("memcache://127.0.0.1:11211/db", "path"),
        ("memcache://", "no host"),
        ("127.0.0.1:11211", "no scheme"),
    ] {
        let error = sessionkit_memcached::connect(url).await.expect_err(url);
        let text = error.to_string();
        assert!(text.contains(want), "{url}: {text}");
        assert!(!text.contains("pw@"), "{text}");
    }
    let options = MemcachedOptions::default().with_key_prefix("has space");
    assert!(matches!(
        MemcachedStore::connect("memcache://127.0.0.1:1", options).await,
        Err(Error::InvalidPrefix { .. })
    ));
    let started = std::time::Instant::now();
    let error = MemcachedStore::connect(
        "memcache://127.0.0.1:1",
        MemcachedOptions::default().with_connect_timeout(std::time::Duration::from_secs(2)),
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(
        matches!(error, Error::Connect(_) | Error::ConnectTimeout(_)),
        "{error:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn connect_by_url_gives_a_working_store() {
    let Some(url) = env::service_url(common::URL_VAR) else {
        return;
    };
    let store = sessionkit_memcached::connect(&url).await.expect("connect");
    assert_eq!(store.key_prefix(), sessionkit_memcached::DEFAULT_KEY_PREFIX);
    let mut data = Data::new();
    data.insert("n".into(), json!(1));
    let now = OffsetDateTime::now_utc();
    let r = Record::new(
        SessionId::generate().expect("randomness").hash(),
        data,
        now,
        now + Duration::minutes(1),
    );
    store.create(&r).await.expect("create");
    assert_eq!(
        store.load(&r.id).await.expect("load").map(|l| l.data),
        Some(r.data)
    );
    assert!(store.delete(&r.id).await.expect("delete"));
}
