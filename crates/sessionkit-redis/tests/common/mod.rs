//! What the Redis test files share: per-test key prefixes on the shared server (with a
//! sweep of what earlier runs left), the corruptor, the whole store suite as one
//! sequential run, and Redis servers that a test starts itself on free loopback ports
//! and kills (by pid) when their guard drops, also on panic.

// Each test file uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessionkit_core::{IdHash, SessionId};
use sessionkit_redis::redis::{self, aio::ConnectionLike};
use sessionkit_redis::{RedisOptions, RedisStore};
use sessionkit_testkit::env;
use tokio::sync::OnceCell;

/// The variable naming the shared Redis server.
pub const URL_VAR: &str = "SESSIONKIT_TEST_REDIS_URL";
/// Prefix of every test key prefix: `skt:<unix seconds>:<random hex>:`.
const TEST_PREFIX: &str = "skt:";
/// Keys of runs that started longer ago than this are deleted by the sweep.
const STALE_AFTER_SECS: u64 = 600;

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn random_hex(len: usize) -> String {
    let hex = SessionId::generate()
        .expect("the operating system provides randomness")
        .hash()
        .to_hex();
    hex[..len].to_owned()
}

/// A key prefix no other test or run uses.
pub fn unique_prefix() -> String {
    format!("{TEST_PREFIX}{}:{}:", unix_secs(), random_hex(12))
}

/// Options for a test store: a prefix of its own, short timeouts.
pub fn options() -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(unique_prefix())
        .with_command_timeout(Duration::from_secs(3))
        .with_connect_timeout(Duration::from_secs(3))
}

/// A store on the shared server with a prefix of its own, or `None` (skip) without
/// `SESSIONKIT_TEST_REDIS_URL`. Sweeps stale test keys once per test binary.
pub async fn shared_store() -> Option<RedisStore> {
    let url = env::service_url(URL_VAR)?;
    let store = sessionkit_redis::connect(&url, options())
        .await
        .expect("the test Redis server accepts connections");
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT.get_or_init(|| sweep(&store)).await;
    Some(store)
}

/// Deletes the keys of test runs that started over ten minutes ago (sessions expire
/// by themselves, user indexes would not).
async fn sweep(store: &RedisStore) {
    let mut conn = store.connection();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{TEST_PREFIX}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("scan for stale test keys");
        let stale: Vec<&String> = keys.iter().filter(|k| is_stale(k)).collect();
        if !stale.is_empty() {
            redis::cmd("DEL")
                .arg(&stale)
                .query_async::<()>(&mut conn)
                .await
                .expect("delete stale test keys");
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

fn is_stale(key: &str) -> bool {
    key.strip_prefix(TEST_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(secs, _)| secs.parse::<u64>().ok())
        .is_some_and(|t| t + STALE_AFTER_SECS < unix_secs())
}

/// Deletes every key under the store's prefix (at the end of a test).
pub async fn delete_all(store: &RedisStore) {
    let mut conn = store.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", store.key_prefix()))
        .query_async(&mut conn)
        .await
        .expect("list the test's keys");
    for key in keys {
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut conn)
            .await
            .expect("delete a test key");
    }
}

/// Overwrites the stored record bytes of `id` with garbage (the header with the
/// version, expiry and user stays, as after a bad write of the record alone).
pub async fn corrupt(store: &RedisStore, id: &IdHash) {
    let mut conn = store.connection();
    let key = store.session_key(id);
    let stored: Vec<u8> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("read the session value");
    assert!(stored.len() > 71, "the corrupted session existed");
    let user_len: usize = std::str::from_utf8(&stored[61..71])
        .expect("the header is ASCII")
        .parse()
        .expect("the user length is a number");
    let mut garbage = stored[..71 + user_len].to_vec();
    garbage.extend_from_slice(b"\x01{\"id\": not json \xff");
    redis::cmd("SET")
        .arg(&key)
        .arg(garbage)
        .arg("KEEPTTL")
        .query_async::<()>(&mut conn)
        .await
        .expect("overwrite the record bytes");
}

/// Every case of the store conformance suite, one after another, on one store (for
/// servers a test starts itself, once per test binary).
pub async fn run_store_suite(store: &RedisStore) {
    use sessionkit_testkit::store as case;
    macro_rules! run {
        ($($name:ident)*) => {
            assert_eq!([$(stringify!($name)),*], SUITE_CASES, "the run list is SUITE_CASES");
            $(
                let started = Instant::now();
                case::$name(store.clone()).await;
                eprintln!("  ok {} ({:.1?})", stringify!($name), started.elapsed());
            )*
        };
    }
    // The list of `sessionkit_testkit::store_conformance!` (kept in step by
    // `suite_cases`, which a test compares with the macro's source).
    run!(
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
        large_values_round_trip
        unknown_id_is_never_adopted
    );
    case::corrupt_stored_bytes_give_an_empty_session_not_a_panic(
        store.clone(),
        |store: RedisStore, id: IdHash| async move { corrupt(&store, &id).await },
    )
    .await;
    eprintln!("  ok corrupt_stored_bytes_give_an_empty_session_not_a_panic");
}

/// The case names [`run_store_suite`] runs, in order.
pub const SUITE_CASES: &[&str] = &[
    "round_trip_keeps_every_field",
    "load_of_unknown_id_is_none_and_creates_nothing",
    "expired_record_is_never_loaded",
    "create_never_overwrites_an_existing_id",
    "compare_and_swap_rejects_a_stale_version_and_keeps_the_winner",
    "compare_and_swap_on_deleted_record_is_false_and_does_not_recreate_it",
    "concurrent_session_saves_merge_instead_of_losing_updates",
    "two_hundred_concurrent_pushes_lose_nothing",
    "save_after_concurrent_delete_is_interrupted_not_resurrected",
    "touch_moves_expiry_without_touching_data_or_version",
    "touch_of_missing_record_is_false",
    "delete_returns_whether_a_record_existed",
    "delete_expired_removes_only_expired_records_and_counts_them",
    "delete_expired_in_small_batches_counts_every_record",
    "user_index_lists_and_revokes_sessions_of_a_user",
    "listing_pages_through_live_sessions_and_counts_them",
    "cycle_id_keeps_data_and_deletes_old_record",
    "login_binds_user_and_cycles_id",
    "flush_deletes_the_record",
    "emptied_session_is_deleted_at_save",
    "is_empty_agrees_with_what_save_stores",
    "reserved_looking_keys_are_plain_data",
    "unicode_keys_and_values_round_trip",
    "large_values_round_trip",
    "unknown_id_is_never_adopted",
];

/// The case names of `store_conformance!`, read from the testkit's source.
pub fn macro_cases() -> Vec<String> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sessionkit-testkit/src/lib.rs"),
    )
    .expect("the testkit's source is beside this crate");
    let start = source
        .find("(@all $make:expr) => {")
        .expect("the macro's case list");
    let list = &source[start..];
    let list = &list[list.find(';').expect("list start") + 1..list.find(");").expect("list end")];
    list.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------
// Servers of the test's own
// ---------------------------------------------------------------------------------------

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `redis-server` and `redis-cli`, or `None` (skip, printed) when missing.
///
/// # Panics
///
/// When they are missing under `SESSIONKIT_REQUIRE_SERVICES=1`.
pub fn redis_binaries() -> Option<(PathBuf, PathBuf)> {
    match (find_binary("redis-server"), find_binary("redis-cli")) {
        (Some(server), Some(cli)) => Some((server, cli)),
        _ if env::require_services() => panic!(
            "redis-server or redis-cli is not on PATH but {}=1: install redis-server",
            env::REQUIRE_SERVICES
        ),
        _ => {
            eprintln!("skipped: redis-server or redis-cli not found on PATH");
            None
        }
    }
}

/// A free loopback port whose cluster bus port (+10000) is free too, both below the
/// ephemeral range (see [`env::free_loopback_port`]).
pub fn free_port() -> u16 {
    env::free_loopback_port(&[10_000])
}

/// A temporary directory, removed when the [`Servers`] guard drops.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sessionkit-redis-{name}-{}-{}",
        std::process::id(),
        random_hex(8)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// Redis processes started by a test: killed by pid (and waited for) and their
/// directory removed when this guard drops, whether the test passed or panicked.
#[derive(Debug)]
pub struct Servers {
    pub server: PathBuf,
    pub cli: PathBuf,
    pub dir: PathBuf,
    children: Vec<(u16, Child)>,
}

impl Servers {
    pub fn new(name: &str) -> Option<Self> {
        let (server, cli) = redis_binaries()?;
        Some(Self {
            server,
            cli,
            dir: temp_dir(name),
            children: Vec::new(),
        })
    }

    /// Starts `redis-server` on `port` with `args`, in the foreground as a child of
    /// the test, logging to a file in the directory.
    pub fn start(&mut self, port: u16, args: &[&str]) {
        let log = self.dir.join(format!("redis-{port}.log"));
        let child = Command::new(&self.server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "no", "--dir"])
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.children.push((port, child));
    }

    /// Starts a sentinel from `config` (a file in the directory).
    pub fn start_sentinel(&mut self, port: u16, config: &Path) {
        let child = Command::new(&self.server)
            .arg(config)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        self.children.push((port, child));
    }

    /// Stops the server on `port` with SIGTERM (by pid) and waits for it to exit.
    pub fn terminate(&mut self, port: u16) {
        let Some(i) = self.children.iter().position(|(p, _)| *p == port) else {
            panic!("no server of this test on port {port}");
        };
        let (_, mut child) = self.children.remove(i);
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM of redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().expect("wait for redis-server").is_some() {
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` with `args`; returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.cli)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until `url` answers `PING`.
pub async fn wait_for_ping(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if ping(url).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer PING within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(Ok(mut conn)) = tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    else {
        return false;
    };
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
    pong.is_ok()
}

/// Runs one command on `url` (a single node) and returns its reply.
pub async fn query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(url).expect("a node URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to a node");
    let value = conn.req_packed_command(cmd).await.expect("a node answers");
    redis::from_redis_value(value).expect("a reply of the expected type")
}
