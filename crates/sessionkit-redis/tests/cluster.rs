//! `RedisStore` on a Redis Cluster of three masters that the test starts itself on free
//! loopback ports (`redis-server --cluster-enabled yes` ×3, then `redis-cli --cluster
//! create`), runs the whole store conformance suite and the 200 concurrent pushes over
//! a socket on, and kills by pid at the end (also on panic). Needs `redis-server` and
//! `redis-cli` on `PATH` (skipped without them, unless `SESSIONKIT_REQUIRE_SERVICES=1`).

mod common;

use std::time::{Duration, Instant};

use sessionkit::SessionLayer;
use sessionkit_redis::redis;
use sessionkit_redis::RedisStore;
use sessionkit_testkit::http::cases::two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with;

const MASTERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_passes_the_store_conformance_suite() {
    let Some(mut servers) = common::Servers::new("cluster") else {
        return;
    };
    // Distinct: a port is checked free, not yet taken, until its server starts.
    let mut ports: Vec<u16> = Vec::with_capacity(MASTERS);
    while ports.len() < MASTERS {
        let port = common::free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    for port in &ports {
        let config = format!("nodes-{port}.conf");
        servers.start(
            *port,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--cluster-node-timeout",
                "5000",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        );
    }
    for port in &ports {
        common::wait_for_ping(&format!("redis://127.0.0.1:{port}")).await;
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(nodes.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    servers.cli(&create);
    wait_for_cluster_ok(&ports).await;

    let url = format!("redis+cluster://{}", nodes.join(","));
    let store = sessionkit_redis::connect(&url, common::options())
        .await
        .expect("connect to the cluster");
    eprintln!("cluster of {MASTERS} masters up on ports {ports:?}; running the suite");
    common::run_store_suite(&store).await;
    two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(SessionLayer::new(store.clone()))
        .await;
    eprintln!("  ok two_hundred_concurrent_pushes_over_a_socket_lose_nothing");
    sessions_spread_over_every_master(&store, &ports).await;
    drop(servers);
}

async fn wait_for_cluster_ok(ports: &[u16]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in ports {
        let url = format!("redis://127.0.0.1:{port}");
        loop {
            let info: String = common::query(&url, redis::cmd("CLUSTER").arg("INFO")).await;
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sessions hash to slots on every master, and `count` sees all of them.
async fn sessions_spread_over_every_master(store: &RedisStore, ports: &[u16]) {
    use sessionkit_core::{Record, SessionId, SessionStore, UserIndex};
    let before = store.count().await.expect("count");
    let now = time::OffsetDateTime::now_utc();
    for i in 0..60 {
        let mut data = sessionkit_core::Data::new();
        data.insert("i".into(), serde_json::json!(i));
        let id = SessionId::generate().expect("randomness").hash();
        let record = Record::new(id, data, now, now + time::Duration::minutes(10));
        store.create(&record).await.expect("create");
    }
    assert_eq!(
        store.count().await.expect("count"),
        before + 60,
        "count scans every master"
    );
    for port in ports {
        let keys: Vec<String> = common::query(
            &format!("redis://127.0.0.1:{port}"),
            redis::cmd("KEYS").arg(format!("{}s2:*", store.key_prefix())),
        )
        .await;
        assert!(!keys.is_empty(), "the master on port {port} holds sessions");
    }
    eprintln!("  ok sessions_spread_over_every_master");
}
