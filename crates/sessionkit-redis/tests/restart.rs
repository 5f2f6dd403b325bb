//! Redis restarting under load, seen through the real session layer: the test starts
//! its own `redis-server` (AOF on, `appendfsync always`, a temporary directory, a free
//! loopback port), runs requests against an axum application behind `SessionLayer`,
//! stops the server with SIGTERM (by pid) and starts it again while they run.
//!
//! During the outage every request is answered quickly with a 503 (the default error
//! handling), never a hang or a panic; afterwards requests succeed again without
//! restarting the application, and every push that was answered with success is
//! still in the session. Needs `redis-server` and `redis-cli` on `PATH` (skipped
//! without them, unless `SESSIONKIT_REQUIRE_SERVICES=1`).
//!
//! A restarted Redis (or a failover, or `SCRIPT FLUSH`) has forgotten the store's Lua
//! scripts: the second test flushes them before each kind of call on a server of its
//! own and checks that every call loads its script again and gives the right answer.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use sessionkit::{Session, SessionLayer};
use sessionkit_core::{Data, Record, SessionId, SessionStore, StoreError, UserIndex};
use sessionkit_redis::redis;
use sessionkit_redis::RedisOptions;
use sessionkit_testkit::http::client::Client;

const CLIENTS: usize = 4;
/// The layer's store timeout: no request may take much longer than this.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

async fn push(session: Session, Path(item): Path<String>) -> Result<String, sessionkit::Error> {
    session.push("items", item).await?;
    Ok("pushed".to_owned())
}

async fn list(session: Session) -> Result<String, sessionkit::Error> {
    let items: Vec<String> = session.get("items").await?.unwrap_or_default();
    Ok(serde_json::to_string(&items).expect("a list of strings is JSON"))
}

/// One request's outcome.
#[derive(Debug)]
struct Outcome {
    item: String,
    status: StatusCode,
    took: Duration,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_fail_cleanly_while_redis_restarts_and_succeed_after_with_no_acknowledged_write_lost(
) {
    let Some(mut servers) = common::Servers::new("restart") else {
        return;
    };
    let port = common::free_port();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    servers.start(port, &args);
    let url = format!("redis://127.0.0.1:{port}");
    common::wait_for_ping(&url).await;

    let store = sessionkit_redis::connect(
        &url,
        RedisOptions::default()
            .with_command_timeout(Duration::from_secs(1))
            .with_connect_timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect");
    let layer = SessionLayer::builder(store)
        .with_store_timeout(STORE_TIMEOUT)
        .build()
        .expect("a valid layer");
    let app = Router::new()
        .route("/push/{item}", get(push))
        .route("/list", get(list))
        .layer(layer);

    // Each client has a session of its own and pushes one item after another.
    let stop = Arc::new(AtomicBool::new(false));
    let mut drivers = Vec::new();
    for c in 0..CLIENTS {
        let mut client = Client::new(app.clone());
        let first = client.get(&format!("/push/c{c}-start")).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let stop = stop.clone();
        drivers.push(tokio::spawn(async move {
            let mut outcomes = vec![Outcome {
                item: format!("c{c}-start"),
                status: StatusCode::OK,
                took: Duration::ZERO,
                at: Instant::now(),
            }];
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let item = format!("c{c}-{n}");
                let started = Instant::now();
                let reply = client.get(&format!("/push/{item}")).await;
                outcomes.push(Outcome {
                    item,
                    status: reply.status,
                    took: started.elapsed(),
                    at: Instant::now(),
                });
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (client, outcomes)
        }));
    }

    tokio::time::sleep(Duration::from_millis(700)).await;
    let stopped_at = Instant::now();
    servers.terminate(port);
    eprintln!("redis-server stopped (SIGTERM)");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    servers.start(port, &args);
    common::wait_for_ping(&url).await;
    let back_at = Instant::now();
    eprintln!(
        "redis-server back after {:.1?}",
        back_at.duration_since(stopped_at)
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);

    let mut failed_during_outage = 0;
    for driver in drivers {
        let (mut client, outcomes) = driver.await.expect("a client task does not panic");
        let mut acknowledged = Vec::new();
        let mut after_restart = 0;
        for o in &outcomes {
            assert!(
                o.status == StatusCode::OK || o.status == StatusCode::SERVICE_UNAVAILABLE,
                "push {} answered {} (expected 200, or 503 during the outage)",
                o.item,
                o.status
            );
            assert!(
                o.took < STORE_TIMEOUT + Duration::from_secs(1),
                "push {} took {:?}: longer than the store timeout",
                o.item,
                o.took
            );
            if o.status == StatusCode::OK {
                acknowledged.push(o.item.clone());
                if o.at > back_at {
                    after_restart += 1;
                }
            } else {
                failed_during_outage += 1;
                assert!(
                    o.at > stopped_at,
                    "push {} failed before the server stopped",
                    o.item
                );
            }
        }
        assert!(
            after_restart > 0,
            "requests succeed again after the restart, without restarting the app"
        );
        let reply = client.get("/list").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let stored: Vec<String> = serde_json::from_str(&reply.body).expect("a JSON list");
        let distinct: HashSet<&String> = stored.iter().collect();
        assert_eq!(distinct.len(), stored.len(), "no push is stored twice");
        for item in &acknowledged {
            assert!(
                distinct.contains(item),
                "push {item} was answered 200 but is missing after the restart"
            );
        }
        let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
        eprintln!(
            "client: {} pushes, {} acknowledged and all kept, {} after the restart, slowest {:.0?}",
            outcomes.len(),
            acknowledged.len(),
            after_restart,
            slowest
        );
    }
    assert!(
        failed_during_outage > 0,
        "requests during the outage were answered with 503"
    );
    drop(servers);
}

fn record(user: &str) -> Record {
    let now = time::OffsetDateTime::now_utc();
    let mut data = Data::new();
    data.insert("cart".into(), json!(["apple"]));
    let id = SessionId::generate().expect("randomness").hash();
    let mut r = Record::new(id, data, now, now + time::Duration::hours(1));
    r.user = Some(user.to_owned());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_is_loaded_again_after_the_server_forgets_its_scripts() {
    let Some(mut servers) = common::Servers::new("scripts") else {
        return;
    };
    let port = common::free_port();
    servers.start(port, &["--save", ""]);
    let url = format!("redis://127.0.0.1:{port}");
    common::wait_for_ping(&url).await;
    let store = sessionkit_redis::connect(&url, RedisOptions::default())
        .await
        .expect("connect");
    let mut flush_scripts = redis::cmd("SCRIPT");
    flush_scripts.arg("FLUSH");
    let flush = || common::query::<()>(&url, &flush_scripts);
    let mut a = record("ada");
    let b = record("ada");
    store.create(&a).await.expect("create a");
    store.create(&b).await.expect("create b");

    flush().await;
    assert!(
        matches!(store.create(&a).await, Err(StoreError::Exists)),
        "create on a live key runs the create script and refuses"
    );
    flush().await;
    let mut next = a.clone();
    next.version += 1;
    assert!(
        store
            .compare_and_swap(&next, a.version)
            .await
            .expect("swap"),
        "the compare-and-swap script is loaded and swaps"
    );
    a = next;
    assert!(
        !store.compare_and_swap(&a, 0).await.expect("swap"),
        "and still compares versions"
    );
    flush().await;
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let now = time::OffsetDateTime::now_utc();
    assert!(store.touch(&a.id, later, now).await.expect("touch"));
    flush().await;
    assert!(store.delete(&a.id).await.expect("delete"));
    flush().await;
    assert_eq!(
        store.delete_sessions_of("ada", None).await.expect("revoke"),
        1,
        "the revoke script deletes the session still bound to the user"
    );
    assert!(store.load(&b.id).await.expect("load").is_none());
    drop(servers);
}
