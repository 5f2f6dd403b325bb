//! What the Memcached test files share: per-test key prefixes on the shared server, the
//! corruptor, the case list of the conformance macro, and memcached servers that a test
//! starts itself on free loopback ports and kills (by pid) when their guard drops.

// Each test file uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessionkit_core::{IdHash, SessionId};
use sessionkit_memcached::async_memcached::{Client, MetaProtocol};
use sessionkit_memcached::{MemcachedOptions, MemcachedStore};
use sessionkit_testkit::env;

/// The variable naming the shared Memcached server.
pub const URL_VAR: &str = "SESSIONKIT_TEST_MEMCACHED_URL";

pub fn random_hex(len: usize) -> String {
    let hex = SessionId::generate()
        .expect("the operating system provides randomness")
        .hash()
        .to_hex();
    hex[..len].to_owned()
}

/// A key prefix no other test or run uses (items expire by themselves: no sweep).
pub fn unique_prefix() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("skt:{secs}:{}:", random_hex(12))
}

pub fn options() -> MemcachedOptions {
    MemcachedOptions::default()
        .with_key_prefix(unique_prefix())
        .with_pool_size(8)
        .with_command_timeout(Duration::from_secs(3))
}

/// A store on the shared server with a prefix of its own, or `None` (skip) without
/// `SESSIONKIT_TEST_MEMCACHED_URL`.
pub async fn shared_store() -> Option<MemcachedStore> {
    let url = env::service_url(URL_VAR)?;
    Some(
        MemcachedStore::connect(&url, options())
            .await
            .expect("the test Memcached server accepts connections"),
    )
}

/// A raw client on the same server as `url`.
pub async fn raw_client(url: &str) -> Client {
    let addr = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    Client::new(format!("tcp://{addr}"))
        .await
        .expect("a raw connection to memcached")
}

/// Overwrites the stored bytes of `id` with garbage (`ms … MR`: only if it exists).
pub async fn corrupt(url: &str, store: &MemcachedStore, id: &IdHash) {
    let mut client = raw_client(url).await;
    client
        .meta_set(
            store.key(id),
            &b"\x01{\"id\": not json \xff"[..],
            false,
            None,
            Some(&["T600", "MR"]),
        )
        .await
        .expect("the corrupted session exists and is replaced");
}

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

/// `memcached`, or `None` (skip, printed) when missing.
///
/// # Panics
///
/// When it is missing under `SESSIONKIT_REQUIRE_SERVICES=1`.
pub fn memcached_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("memcached"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if env::require_services() => panic!(
            "memcached is not on PATH but {}=1: install memcached",
            env::REQUIRE_SERVICES
        ),
        None => {
            eprintln!("skipped: memcached not found on PATH");
            None
        }
    }
}

pub fn free_port() -> u16 {
    for _ in 0..200 {
        let seed = u16::from_str_radix(&random_hex(4), 16).expect("hex");
        let port = 20_000 + seed % 30_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port found");
}

/// A memcached started by a test: killed by pid (and waited for) when this guard
/// drops, whether the test passed or panicked.
#[derive(Debug)]
pub struct Memcached {
    binary: PathBuf,
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Memcached {
    /// Starts `memcached -l 127.0.0.1 -p <free port> <args>`; `None` (skip) without the
    /// binary.
    pub async fn start(args: &[&str]) -> Option<Self> {
        let binary = memcached_binary()?;
        let mut server = Self {
            binary,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.spawn().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("memcache://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process and waits until it accepts connections.
    pub async fn spawn(&mut self) {
        // `-u root` only matters when running as root (memcached refuses root without
        // it); otherwise it is ignored.
        let child = Command::new(&self.binary)
            .args([
                "-l",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "0",
                "-u",
                "root",
            ])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start memcached");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "memcached did not start within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process with SIGTERM (by pid) and waits for it to exit.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM of memcached");
        child.wait().expect("wait for memcached");
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
