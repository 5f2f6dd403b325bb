//! What the Memcached test files share: per-test key prefixes on the shared server, the
//! corruptor, the case list of the conformance macro, and memcached servers that a test
//! starts itself on free loopback ports and kills (by pid) when their guard drops.

// Each test file uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

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
    /// binary. If the process exits while starting (another server took the port between
    /// the check and its bind), it starts again on another port.
    pub async fn start(args: &[&str]) -> Option<Self> {
        let binary = memcached_binary()?;
        let mut server = Self {
            binary,
            port: 0,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        for _ in 0..5 {
            server.port = env::free_loopback_port(&[]);
            match server.try_spawn().await {
                Ok(()) => return Some(server),
                Err(why) => eprintln!("memcached on port {}: {why}; another port", server.port),
            }
        }
        panic!("memcached did not start on any of five free ports");
    }

    pub fn url(&self) -> String {
        format!("memcache://127.0.0.1:{}", self.port)
    }

    /// Restarts the process on its port and waits until it answers.
    pub async fn spawn(&mut self) {
        if let Err(why) = self.try_spawn().await {
            panic!("memcached did not restart on port {}: {why}", self.port);
        }
    }

    /// Starts the process and waits until it answers `version` on its port (not merely
    /// accepts a connection: that could be another process), or reports why not.
    async fn try_spawn(&mut self) -> Result<(), String> {
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
            .map_err(|e| format!("could not run memcached: {e}"))?;
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("memcached exited while starting ({status})"));
            }
            if answers_version(self.port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("no answer to `version` within 20 s".to_owned());
            }
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

/// Whether a memcached answers `version` on `port`.
async fn answers_version(port: u16) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"version\r\n").await?;
        let mut reply = [0u8; 8];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(&reply == b"VERSION ")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Ok(true))
    )
}

impl Drop for Memcached {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
