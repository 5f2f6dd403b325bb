//! `MemcachedStore` against memcached processes the tests start themselves on free
//! loopback ports (killed by pid when the test ends, also on panic): the conformance
//! case `large_values_round_trip` on a server that keeps 4 MiB items (`-I 4m`), and
//! recovery after a server restart. Needs `memcached` on `PATH` (skipped without it,
//! unless `SESSIONKIT_REQUIRE_SERVICES=1`).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit_core::{Data, Record, SessionId, SessionStore};
use sessionkit_memcached::MemcachedStore;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_round_trip_on_a_server_keeping_4_mib_items() {
    let Some(server) = common::Memcached::start(&["-I", "4m", "-m", "64"]).await else {
        return;
    };
    let store = MemcachedStore::connect(&server.url(), common::options())
        .await
        .expect("connect");
    sessionkit_testkit::store::large_values_round_trip(store).await;
    drop(server);
}

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut data = Data::new();
    data.insert("n".into(), json!(1));
    let id = SessionId::generate().expect("randomness").hash();
    Record::new(id, data, now, now + time::Duration::minutes(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_during_a_restart_and_succeed_after_it_without_reconnecting_by_hand() {
    let Some(mut server) = common::Memcached::start(&[]).await else {
        return;
    };
    let store = MemcachedStore::connect(
        &server.url(),
        common::options().with_command_timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect");
    // Open several pooled connections.
    for _ in 0..8 {
        store.create(&record()).await.expect("create");
    }
    server.terminate();
    let started = Instant::now();
    assert!(
        store.create(&record()).await.is_err(),
        "a request while memcached is down fails"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "and fails within the timeout"
    );
    server.spawn().await;
    // Memcached keeps nothing over a restart; what matters is that the same store
    // works again (every pooled connection is replaced on its next use).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut succeeded = 0;
    while succeeded < 20 {
        let r = record();
        match store.create(&r).await {
            Ok(()) => {
                assert!(store.load(&r.id).await.expect("load").is_some());
                succeeded += 1;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "requests still fail 5 s after memcached came back: {e}"
            ),
        }
    }
    drop(server);
}
