//! `RedisStore` against the Redis server named by `SESSIONKIT_TEST_REDIS_URL` (skipped
//! without it): the shared store conformance suite, the HTTP suite's 200 concurrent
//! pushes over a real socket, and what is particular to Redis (key layout, TTLs,
//! touch without rewriting, the user index and its pruning, URL errors).
//!
//! Every test uses a key prefix of its own (`skt:<time>:<random>:`), so tests and runs
//! share the server without flushing it; keys of runs over ten minutes old are swept.

mod common;

use std::time::Duration;

use serde_json::json;
use sessionkit::SessionLayer;
use sessionkit_core::{Data, IdHash, Record, SessionId, SessionStore, UserIndex};
use sessionkit_redis::redis::{self, aio::ConnectionLike};
use sessionkit_redis::{Error, RedisOptions, RedisStore};
use sessionkit_testkit::env;
use sessionkit_testkit::http::cases::two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with;
use time::OffsetDateTime;

sessionkit_testkit::store_conformance!(
    common::shared_store(),
    corrupt = |store: RedisStore, id: IdHash| async move { common::corrupt(&store, &id).await }
);

fn record(expires_in: time::Duration, user: Option<&str>) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut data = Data::new();
    data.insert("cart".into(), json!(["apple"]));
    let id = SessionId::generate().expect("randomness").hash();
    let mut r = Record::new(id, data, now, now + expires_in);
    r.user = user.map(str::to_owned);
    r
}

async fn cmd<T: redis::FromRedisValue>(store: &RedisStore, cmd: &redis::Cmd) -> T {
    let mut conn = store.connection();
    let value = conn
        .req_packed_command(cmd)
        .await
        .expect("command succeeds");
    redis::from_redis_value(value).expect("reply of the expected type")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_pushes_over_a_socket_lose_nothing() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(SessionLayer::new(store.clone()))
        .await;
    common::delete_all(&store).await;
}

#[tokio::test]
async fn keys_hold_only_hashes_and_every_key_has_a_hash_tag() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let id = SessionId::generate().expect("randomness");
    let user = "alice@example.com";
    let mut r = record(time::Duration::hours(1), Some(user));
    r.id = id.hash();
    store.create(&r).await.expect("create");

    let keys: Vec<String> = cmd(
        &store,
        redis::cmd("KEYS").arg(format!("{}*", store.key_prefix())),
    )
    .await;
    assert_eq!(
        keys.len(),
        2,
        "one session key and one user index: {keys:?}"
    );
    for key in &keys {
        assert!(!key.contains(&id.to_string()), "a key holds the raw id");
        assert!(!key.contains("alice"), "a key holds the user name");
        let tag = key
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(tag, _)| tag);
        assert!(
            tag.is_some_and(|t| t.len() == 64),
            "every key has a 64-hex hash tag: {key}"
        );
    }
    assert!(keys.contains(&store.session_key(&id.hash())));
    let kind: String = cmd(
        &store,
        redis::cmd("TYPE").arg(store.session_key(&id.hash())),
    )
    .await;
    assert_eq!(kind, "string", "one string per session");
    let stored: Vec<u8> = cmd(&store, redis::cmd("GET").arg(store.session_key(&id.hash()))).await;
    let head = String::from_utf8_lossy(&stored[..71 + user.len()]).into_owned();
    assert_eq!(
        &head[..20],
        format!("{:020}", r.version),
        "the header starts with the version"
    );
    assert_eq!(
        &head[20..40],
        format!("{:020}", r.expires_at.unix_timestamp_nanos() / 1_000_000),
        "then the expiry in unix milliseconds"
    );
    assert_eq!(
        &head[60..],
        format!("1{:010}{user}", user.len()),
        "then the user"
    );
    common::delete_all(&store).await;
}

#[tokio::test]
async fn session_keys_expire_with_a_redis_ttl_at_expires_at() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let r = record(time::Duration::minutes(30), None);
    store.create(&r).await.expect("create");
    let at: i64 = cmd(
        &store,
        redis::cmd("PEXPIRETIME").arg(store.session_key(&r.id)),
    )
    .await;
    let want = (r.expires_at.unix_timestamp_nanos() / 1_000_000) as i64;
    assert_eq!(at, want, "PEXPIREAT is the record's expires_at (ms)");

    let short = record(time::Duration::seconds(1), None);
    store.create(&short).await.expect("create");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let exists: i64 = cmd(
        &store,
        redis::cmd("EXISTS").arg(store.session_key(&short.id)),
    )
    .await;
    assert_eq!(exists, 0, "Redis removed the expired session by itself");
    assert!(
        store.expired_deletion().is_none(),
        "no ExpiredDeletion: Redis TTLs delete expired sessions"
    );
    common::delete_all(&store).await;
}

#[tokio::test]
async fn touch_moves_only_the_expiry_fields_and_ttl_not_the_record_bytes_or_version() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let r = record(time::Duration::minutes(5), Some("toucher"));
    store.create(&r).await.expect("create");
    let key = store.session_key(&r.id);
    let before: Vec<u8> = cmd(&store, redis::cmd("GET").arg(&key)).await;
    let later = OffsetDateTime::now_utc() + time::Duration::hours(2);
    let now = OffsetDateTime::now_utc();
    assert!(store.touch(&r.id, later, now).await.expect("touch"));
    let after: Vec<u8> = cmd(&store, redis::cmd("GET").arg(&key)).await;
    assert_eq!(before.len(), after.len());
    assert_eq!(
        before[..20],
        after[..20],
        "touch does not change the version"
    );
    assert_eq!(
        before[60..],
        after[60..],
        "touch does not rewrite the user or the record bytes"
    );
    assert_ne!(
        before[20..60],
        after[20..60],
        "touch moves expiry and last-seen"
    );
    let at: i64 = cmd(&store, redis::cmd("PEXPIRETIME").arg(&key)).await;
    assert_eq!(at, (later.unix_timestamp_nanos() / 1_000_000) as i64);
    let loaded = store.load(&r.id).await.expect("load").expect("live");
    assert_eq!(loaded.expires_at.unix_timestamp(), later.unix_timestamp());
    assert_eq!(loaded.last_seen.unix_timestamp(), now.unix_timestamp());
    common::delete_all(&store).await;
}

#[tokio::test]
async fn index_entries_of_expired_sessions_are_pruned_and_counted() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let user = "pruned-user";
    let mut conn = store.connection();
    let short: Vec<Record> = (0..3)
        .map(|_| record(time::Duration::seconds(1), Some(user)))
        .collect();
    let long = record(time::Duration::hours(1), Some(user));
    for r in short.iter().chain([&long]) {
        store.create(r).await.expect("create");
    }
    // Age the index entries past the grace period that protects a create in flight.
    let user_key = {
        let keys: Vec<String> = cmd(
            &store,
            redis::cmd("KEYS").arg(format!("{}u:*", store.key_prefix())),
        )
        .await;
        assert_eq!(keys.len(), 1, "one user index");
        keys[0].clone()
    };
    for r in &short {
        redis::cmd("ZADD")
            .arg(&user_key)
            .arg(0)
            .arg(r.id.to_hex())
            .query_async::<()>(&mut conn)
            .await
            .expect("age an entry");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store.prune_user_index().await.expect("prune"),
        3,
        "the three expired sessions' entries are pruned"
    );
    assert_eq!(store.prune_user_index().await.expect("prune"), 0);
    let left: u64 = cmd(&store, redis::cmd("ZCARD").arg(&user_key)).await;
    assert_eq!(left, 1, "the live session's entry stays");
    let listed = store.sessions_of(user).await.expect("sessions_of");
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![long.id]
    );
    assert_eq!(
        store.delete_sessions_of(user, None).await.expect("revoke"),
        1
    );
    let gone: i64 = cmd(&store, redis::cmd("EXISTS").arg(&user_key)).await;
    assert_eq!(gone, 0, "an emptied index disappears");
    common::delete_all(&store).await;
}

#[tokio::test]
async fn an_index_entry_added_for_a_create_in_flight_is_not_pruned() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    // What `create` does first: the entry, before the session exists.
    let pending = record(time::Duration::hours(1), Some("racer"));
    let user_key = format!("{}u:", store.key_prefix());
    let mut conn = store.connection();
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let keys_before: Vec<String> =
        cmd(&store, redis::cmd("KEYS").arg(format!("{user_key}*"))).await;
    assert!(keys_before.is_empty());
    // Create the index through a real create of another session, then add the pending
    // entry the way `create` would.
    let other = record(time::Duration::hours(1), Some("racer"));
    store.create(&other).await.expect("create");
    let index: Vec<String> = cmd(&store, redis::cmd("KEYS").arg(format!("{user_key}*"))).await;
    redis::cmd("ZADD")
        .arg(&index[0])
        .arg(now_ms)
        .arg(pending.id.to_hex())
        .query_async::<()>(&mut conn)
        .await
        .expect("add a pending entry");
    assert_eq!(store.prune_user_index().await.expect("prune"), 0);
    store.sessions_of("racer").await.expect("sessions_of");
    store.create(&pending).await.expect("the create completes");
    let listed = store.sessions_of("racer").await.expect("sessions_of");
    assert_eq!(
        listed.len(),
        2,
        "the session created after the listing is indexed"
    );
    common::delete_all(&store).await;
}

#[tokio::test]
async fn rebinding_to_another_user_indexes_first_and_revocation_spares_moved_sessions() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let r = record(time::Duration::hours(1), Some("first"));
    store.create(&r).await.expect("create");
    let mut moved = r.clone();
    moved.version += 1;
    moved.user = Some("second".into());
    assert!(store
        .compare_and_swap(&moved, r.version)
        .await
        .expect("swap"));
    // The old user's index still holds the entry, but revoking "first" must not touch
    // a session that now belongs to "second".
    assert_eq!(
        store
            .delete_sessions_of("first", None)
            .await
            .expect("revoke"),
        0
    );
    assert!(store.load(&r.id).await.expect("load").is_some());
    assert_eq!(
        store.sessions_of("second").await.expect("list").len(),
        1,
        "the new user lists the moved session"
    );
    // A stale swap that would re-bind is refused without writing.
    let mut stale = r.clone();
    stale.version += 1;
    stale.user = Some("third".into());
    assert!(!store
        .compare_and_swap(&stale, r.version)
        .await
        .expect("swap"));
    assert_eq!(store.sessions_of("third").await.expect("list").len(), 0);
    common::delete_all(&store).await;
}

#[tokio::test]
async fn bad_urls_and_prefixes_are_clear_errors_that_never_echo_the_url() {
    let secret = "s3cr3t-password";
    for (url, want) in [
        (
            format!("memcache://:{secret}@127.0.0.1:11211"),
            "unsupported",
        ),
        (
            format!("redis+sentinel://:{secret}@127.0.0.1:1"),
            "Sentinel",
        ),
        (
            format!("redis+cluster://:{secret}@127.0.0.1:1/db"),
            "Cluster",
        ),
        (format!("nothing-{secret}"), "no scheme"),
    ] {
        let error = sessionkit_redis::connect(&url, RedisOptions::default())
            .await
            .expect_err("refused");
        let text = error.to_string();
        assert!(text.contains(want), "{text}");
        assert!(!text.contains(secret), "{text}");
    }
    #[cfg(not(feature = "tls"))]
    assert!(matches!(
        sessionkit_redis::connect("rediss://127.0.0.1:6379", RedisOptions::default()).await,
        Err(Error::TlsDisabled { .. })
    ));
    for prefix in ["a{b}:", "with space", "glob*", &"x".repeat(129)] {
        let options = RedisOptions::default().with_key_prefix(prefix);
        assert!(
            matches!(
                sessionkit_redis::connect("redis://127.0.0.1:6379", options).await,
                Err(Error::InvalidPrefix { .. })
            ),
            "{prefix:?}"
        );
    }
    // Nothing listens on port 1: a connect error within the connect timeout.
    let started = std::time::Instant::now();
    let error = sessionkit_redis::connect(
        &format!("redis://:{secret}@127.0.0.1:1"),
        RedisOptions::default().with_connect_timeout(Duration::from_secs(2)),
    )
    .await
    .expect_err("nothing listens");
    assert!(matches!(
        error,
        Error::Connect(_) | Error::ConnectTimeout(_)
    ));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(!format!("{error:?}").contains(secret));
}

#[tokio::test]
async fn connect_by_url_gives_a_working_store() {
    let Some(url) = env::service_url(common::URL_VAR) else {
        return;
    };
    let store = sessionkit_redis::connect(&url, common::options())
        .await
        .expect("connect");
    let r = record(time::Duration::minutes(1), None);
    store.create(&r).await.expect("create");
    let loaded = store.load(&r.id).await.expect("load").expect("stored");
    assert_eq!((loaded.id, loaded.data), (r.id, r.data));
    assert!(format!("{store:?}").contains("RedisStore"));
    common::delete_all(&store).await;
}

#[test]
fn the_sequential_suite_runs_every_case_of_the_conformance_macro() {
    assert_eq!(
        common::macro_cases(),
        common::SUITE_CASES,
        "tests/common/mod.rs runs the cases of store_conformance! one by one for the \
         cluster and sentinel tests: keep its list in step with the macro"
    );
}

#[tokio::test]
async fn compare_and_swap_refuses_a_record_that_redis_still_holds_but_this_clock_counts_as_expired()
{
    let Some(store) = common::shared_store().await else {
        return;
    };
    // The swap script compares the header's expiry with the clock as text: an expiry
    // a moment ago, one long ago and ones before 1970 (written with a leading '-') all
    // count as passed, while Redis still holds the key for another minute.
    let five_seconds_ago =
        (OffsetDateTime::now_utc() - time::Duration::seconds(5)).unix_timestamp_nanos() / 1_000_000;
    for expired in [five_seconds_ago, 1, -1, -1_800_000_000_000] {
        let r = record(time::Duration::minutes(1), Some("clock"));
        store.create(&r).await.expect("create");
        let key = store.session_key(&r.id);
        let _: i64 = cmd(
            &store,
            redis::cmd("SETRANGE")
                .arg(&key)
                .arg(20)
                .arg(format!("{expired:020}")),
        )
        .await;
        let mut next = r.clone();
        next.version += 1;
        next.data.insert("revived".into(), json!(true));
        assert!(
            !store.compare_and_swap(&next, r.version).await.expect("cas"),
            "a record expired at {expired} ms was swapped"
        );
        let kept: Vec<u8> = cmd(&store, redis::cmd("GETRANGE").arg(&key).arg(20).arg(39)).await;
        assert_eq!(
            kept,
            format!("{expired:020}").into_bytes(),
            "nothing was written"
        );
    }
    // A live record bound to a user still swaps (the longer header read).
    let live = record(time::Duration::minutes(1), Some("clock"));
    store.create(&live).await.expect("create");
    let mut next = live.clone();
    next.version += 1;
    assert!(store
        .compare_and_swap(&next, live.version)
        .await
        .expect("cas"));
    common::delete_all(&store).await;
}

#[tokio::test]
async fn create_replaces_a_record_that_redis_still_holds_but_this_clock_counts_as_expired() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    // A record already past its expiry by the application's clock, whose key Redis
    // keeps for another minute (clocks that disagree): `SET NX` finds it, the fallback
    // script replaces it.
    let mut stale = record(time::Duration::minutes(1), None);
    store.create(&stale).await.expect("create");
    let key = store.session_key(&stale.id);
    let past = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let _: i64 = cmd(
        &store,
        redis::cmd("SETRANGE")
            .arg(&key)
            .arg(20)
            .arg(format!("{:020}", past.unix_timestamp_nanos() / 1_000_000)),
    )
    .await;
    assert!(store.load(&stale.id).await.expect("load").is_none());
    stale.expires_at = OffsetDateTime::now_utc() + time::Duration::minutes(10);
    stale.data.insert("fresh".into(), json!(true));
    store
        .create(&stale)
        .await
        .expect("create over a record expired by this clock");
    let loaded = store.load(&stale.id).await.expect("load").expect("live");
    assert_eq!(loaded.data.get("fresh"), Some(&json!(true)));
    let at: i64 = cmd(&store, redis::cmd("PEXPIRETIME").arg(&key)).await;
    assert_eq!(
        at,
        (stale.expires_at.unix_timestamp_nanos() / 1_000_000) as i64
    );
    assert!(
        matches!(
            store.create(&stale).await,
            Err(sessionkit_core::StoreError::Exists)
        ),
        "a live record is never replaced"
    );

    // A compare-and-swap moves the key's TTL with the record's expiry.
    let mut next = loaded.clone();
    next.version += 1;
    next.expires_at += time::Duration::hours(3);
    assert!(store
        .compare_and_swap(&next, loaded.version)
        .await
        .expect("cas"));
    let at: i64 = cmd(&store, redis::cmd("PEXPIRETIME").arg(&key)).await;
    assert_eq!(
        at,
        (next.expires_at.unix_timestamp_nanos() / 1_000_000) as i64
    );
    common::delete_all(&store).await;
}

#[tokio::test]
async fn a_session_left_in_the_version_1_hash_layout_is_ignored_not_an_error() {
    let Some(store) = common::shared_store().await else {
        return;
    };
    let r = record(time::Duration::hours(1), None);
    let old_key = format!("{}s:{{{}}}", store.key_prefix(), r.id.to_hex());
    let _: i64 = cmd(
        &store,
        redis::cmd("HSET")
            .arg(&old_key)
            .arg("r")
            .arg("x")
            .arg("v")
            .arg(1),
    )
    .await;
    assert!(
        store
            .load(&r.id)
            .await
            .expect("no WRONGTYPE error")
            .is_none(),
        "the old layout is not read"
    );
    store
        .create(&r)
        .await
        .expect("a new session under the same id");
    assert!(store.load(&r.id).await.expect("load").is_some());
    let _: i64 = cmd(&store, redis::cmd("DEL").arg(&old_key)).await;
    common::delete_all(&store).await;
}
