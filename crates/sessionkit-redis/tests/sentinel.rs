//! `RedisStore` through Sentinel: the test starts a master and one sentinel monitoring
//! it (`redis-server <conf> --sentinel`) on free loopback ports, connects with a
//! `redis+sentinel://` URL, runs the whole store conformance suite, and kills both by
//! pid at the end (also on panic). Needs `redis-server` and `redis-cli` on `PATH`
//! (skipped without them, unless `SESSIONKIT_REQUIRE_SERVICES=1`).

mod common;

use std::time::{Duration, Instant};

use sessionkit_core::SessionStore;
use sessionkit_redis::redis;

const MASTER_NAME: &str = "mymaster";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_passes_the_store_conformance_suite() {
    let Some(mut servers) = common::Servers::new("sentinel") else {
        return;
    };
    let master = common::free_port();
    servers.start(master, &["--save", "", "--appendonly", "no"]);
    common::wait_for_ping(&format!("redis://127.0.0.1:{master}")).await;

    let sentinel = common::free_port();
    let config = servers.dir.join("sentinel.conf");
    std::fs::write(
        &config,
        format!(
            "port {sentinel}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds {MASTER_NAME} 5000\n",
            dir = servers.dir.display(),
        ),
    )
    .expect("write the sentinel's configuration");
    servers.start_sentinel(sentinel, &config);
    let sentinel_url = format!("redis://127.0.0.1:{sentinel}");
    common::wait_for_ping(&sentinel_url).await;
    wait_for_master(&sentinel_url, master).await;

    let url = format!("redis+sentinel://127.0.0.1:{sentinel}/{MASTER_NAME}");
    let store = sessionkit_redis::connect(&url, common::options())
        .await
        .expect("connect through Sentinel");
    eprintln!("master on {master}, sentinel on {sentinel}; running the suite");
    common::run_store_suite(&store).await;

    // The sessions live on the master Sentinel named.
    let keys: Vec<String> = common::query(
        &format!("redis://127.0.0.1:{master}"),
        redis::cmd("KEYS").arg(format!("{}s2:*", store.key_prefix())),
    )
    .await;
    assert!(!keys.is_empty(), "the master holds the sessions");

    // A wrong master name is a clear connect error.
    let wrong = format!("redis+sentinel://127.0.0.1:{sentinel}/no-such-master");
    let error = sessionkit_redis::connect(&wrong, common::options())
        .await
        .expect_err("an unknown master name is refused");
    assert!(
        matches!(error, sessionkit_redis::Error::Connect(_)),
        "{error:?}"
    );
    assert!(store.user_index().is_some());

    // The master restarts: requests fail meanwhile, then succeed on the same store.
    servers.terminate(master);
    let record = record();
    assert!(
        store.create(&record).await.is_err(),
        "a request while the master is down fails"
    );
    servers.start(master, &["--save", "", "--appendonly", "no"]);
    common::wait_for_ping(&format!("redis://127.0.0.1:{master}")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = store.create(&record).await {
        assert!(
            Instant::now() < deadline,
            "requests still fail 10 s after the master came back: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.load(&record.id).await.expect("load").is_some());
    drop(servers);
}

fn record() -> sessionkit_core::Record {
    let now = time::OffsetDateTime::now_utc();
    let id = sessionkit_core::SessionId::generate()
        .expect("randomness")
        .hash();
    let mut data = sessionkit_core::Data::new();
    data.insert("after".into(), serde_json::json!("restart"));
    sessionkit_core::Record::new(id, data, now, now + time::Duration::minutes(5))
}

async fn wait_for_master(sentinel_url: &str, master: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let addr: Option<(String, u16)> = common::query(
            sentinel_url,
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME),
        )
        .await;
        if addr.as_ref().is_some_and(|(_, port)| *port == master) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sentinel did not report the master within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
