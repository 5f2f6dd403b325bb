//! `CachedStore` with Redis in front of PostgreSQL: the shared conformance suite under
//! `SESSIONKIT_TEST_REDIS_URL` and `SESSIONKIT_TEST_POSTGRES_URL` (skipped without
//! them), and a run in which a Redis server the test started itself is killed (by pid)
//! in the middle of a run of requests, then started again, while every request
//! succeeds.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sessionkit_core::{CachedStore, IdHash, Session, SessionConfig, SessionId, SessionStore};
use sessionkit_redis::{redis, RedisOptions, RedisStore};
use sessionkit_sql::sqlx;
use sessionkit_sql::{PoolOptions, PostgresStore};
use sessionkit_testkit::env;

fn random_hex(len: usize) -> String {
    let hex = SessionId::generate().expect("randomness").hash().to_hex();
    hex[..len].to_owned()
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A migrated PostgreSQL store on a table of its own (`skt_<time>_<random>`, swept by
/// the SQL tests after ten minutes), or `None` without the server URL.
async fn postgres() -> Option<PostgresStore> {
    let url = env::service_url("SESSIONKIT_TEST_POSTGRES_URL")?;
    let store = PostgresStore::connect(&url, PoolOptions::default().with_max_connections(4))
        .await
        .expect("the PostgreSQL test server accepts connections")
        .with_table_name(&format!("skt_{}_{}", unix_secs(), random_hex(12)))
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    Some(store)
}

fn redis_options() -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(format!("skt:{}:{}:", unix_secs(), random_hex(12)))
        .with_command_timeout(Duration::from_millis(500))
        .with_connect_timeout(Duration::from_millis(500))
}

async fn store() -> Option<CachedStore<RedisStore, PostgresStore>> {
    let redis_url = env::service_url("SESSIONKIT_TEST_REDIS_URL")?;
    let durable = postgres().await?;
    let cache = sessionkit_redis::connect(&redis_url, redis_options())
        .await
        .expect("the Redis test server accepts connections");
    Some(CachedStore::new(cache, durable))
}

sessionkit_testkit::store_conformance!(
    store(),
    corrupt = |store: CachedStore<RedisStore, PostgresStore>, id: IdHash| async move {
        let table = store.durable().table_name().to_owned();
        let done = sqlx::query(&format!(
            "UPDATE \"{table}\" SET data = $1 WHERE id_hash = $2"
        ))
        .bind(b"\x01{\"id\": not json \xff".to_vec())
        .bind(id.as_bytes().to_vec())
        .execute(store.durable().pool())
        .await
        .expect("overwrite the stored bytes");
        assert_eq!(done.rows_affected(), 1, "the corrupted row exists");
        // Redis still holds a good copy; forget it (an eviction) so the bytes are read.
        store.cache().delete(&id).await.expect("evict");
    }
);

/// A `redis-server` child on a free loopback port, killed by pid when dropped.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        Self {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL by pid, as a crash or an OOM kill would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -KILL of redis-server");
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port below the ephemeral range (a port the kernel just handed out
/// could go to a client socket before the server binds it).
fn free_port() -> u16 {
    sessionkit_testkit::env::free_loopback_port(&[])
}

async fn wait_for_ping(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let client = redis::Client::open(url).expect("a valid URL");
        if let Ok(Ok(mut conn)) = tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        {
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            if pong.is_ok() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer PING within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_succeeds_when_the_redis_cache_is_killed_mid_run_and_restarted() {
    const USERS: usize = 10;
    const REQUESTS: usize = 40;
    let Some(durable) = postgres().await else {
        return;
    };
    let mut server = RedisServer::start(free_port());
    wait_for_ping(&server.url()).await;
    let cache = sessionkit_redis::connect(&server.url(), redis_options())
        .await
        .expect("connect to the test's redis-server");
    let store = CachedStore::new(cache, durable);
    let config = SessionConfig::default();

    let mut ids = Vec::new();
    for _ in 0..USERS {
        let session = Session::new(store.clone(), config.clone());
        session
            .insert("visits", Vec::<usize>::new())
            .await
            .expect("insert");
        session.save().await.expect("save");
        ids.push(session.id().await.expect("a saved session has an id"));
    }
    assert!(
        store
            .cache()
            .load(&ids[0].hash())
            .await
            .expect("the cache answers while up")
            .is_some(),
        "new sessions are cached in Redis"
    );

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
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<_, sessionkit_core::Error>(())
        });
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    let before_kill = store
        .durable()
        .load(&ids[0].hash())
        .await
        .expect("load")
        .map(|r| r.version);
    server.kill();
    let killed_at = Instant::now();
    eprintln!(
        "version of a session when Redis was killed: {before_kill:?} (of {})",
        REQUESTS + 1
    );
    while let Some(done) = tasks.join_next().await {
        done.expect("a request task does not panic")
            .expect("every request succeeds while Redis is dead");
    }
    assert!(
        store.cache().load(&ids[0].hash()).await.is_err(),
        "the cache really is down"
    );
    eprintln!(
        "requests after the kill finished in {:?}",
        killed_at.elapsed()
    );

    // Redis comes back (empty: no persistence) on the same port.
    let server = RedisServer::start(server.port);
    wait_for_ping(&server.url()).await;
    for id in &ids {
        let session = Session::open(store.clone(), config.clone(), Some(id.clone()));
        let visits: Vec<usize> = session.get("visits").await.expect("get").expect("stored");
        assert_eq!(visits, (0..REQUESTS).collect::<Vec<_>>());
        session.insert("after", json!(true)).await.expect("insert");
        session.save().await.expect("save after Redis is back");
    }
    let mut refilled = false;
    for _ in 0..50 {
        store.load(&ids[0].hash()).await.expect("load");
        if let Ok(Some(r)) = store.cache().load(&ids[0].hash()).await {
            assert_eq!(
                r.data["after"],
                json!(true),
                "the cache holds the newest record"
            );
            refilled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refilled, "once Redis is back, loads refill it");
    drop(server);
}
