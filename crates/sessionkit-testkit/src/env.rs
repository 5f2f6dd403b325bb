//! Which external services a test run may use.
//!
//! Suites against real servers (PostgreSQL, MySQL, Redis, Memcached) read the server's
//! URL from an environment variable. A developer without the server gets a visible
//! skip; CI sets `SESSIONKIT_REQUIRE_SERVICES=1` so a missing URL fails the run instead
//! of silently testing nothing.

/// The variable that turns a missing service URL from a skip into a failure.
pub const REQUIRE_SERVICES: &str = "SESSIONKIT_REQUIRE_SERVICES";

/// Whether `SESSIONKIT_REQUIRE_SERVICES=1` is set: every service URL must then be
/// present.
pub fn require_services() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|value| value == "1")
}

/// The URL of a test service, read from the environment variable `var`.
///
/// An empty or non-UTF-8 value counts as unset. When the variable is unset this prints
/// `skipped: <VAR> not set` to stderr and returns `None`, unless
/// [`require_services`] is on.
///
/// # Panics
///
/// When `var` is unset and `SESSIONKIT_REQUIRE_SERVICES=1`.
///
/// # Examples
///
/// ```no_run
/// // In a store crate's tests/postgres.rs:
/// use sessionkit_testkit::env;
///
/// async fn store() -> Option<sessionkit_core::MemoryStore> {
///     let _url = env::service_url("SESSIONKIT_TEST_POSTGRES_URL")?;
///     // connect to `_url` and build the store here
///     Some(sessionkit_core::MemoryStore::new())
/// }
/// # fn main() {}
/// ```
pub fn service_url(var: &str) -> Option<String> {
    if let Some(url) = std::env::var(var).ok().filter(|url| !url.is_empty()) {
        return Some(url);
    }
    if require_services() {
        panic!("{var} is not set but {REQUIRE_SERVICES}=1: start the server and set it");
    }
    eprintln!("skipped: {var} not set");
    None
}

/// The ports test servers are started on: below the ephemeral range that Linux hands to
/// outgoing connections (32768–60999 by default). A port in that range can be given to
/// a client socket of any test between the check that it is free and the server's bind,
/// and a bare connect probe to it can even connect a socket to itself; below it, only
/// another server can take it.
pub const TEST_SERVER_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A loopback port in [`TEST_SERVER_PORTS`] that is free now, chosen at random, with
/// `port + offset` free (and in the range) for every offset in `also` (a Redis Cluster
/// node's bus port is its port + 10,000).
///
/// # Panics
///
/// When no such port is found in 500 tries, or when the offsets leave no room in the
/// range.
///
/// # Examples
///
/// ```
/// use sessionkit_testkit::env;
///
/// let port = env::free_loopback_port(&[10_000]);
/// assert!(env::TEST_SERVER_PORTS.contains(&(port + 10_000)));
/// ```
pub fn free_loopback_port(also: &[u16]) -> u16 {
    let widest = also.iter().copied().max().unwrap_or(0);
    let span = TEST_SERVER_PORTS
        .end
        .checked_sub(TEST_SERVER_PORTS.start + widest)
        .filter(|span| *span > 0)
        .expect("the offsets leave room in the test port range");
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    for _ in 0..500 {
        let random = sessionkit_core::SessionId::generate()
            .expect("the operating system provides randomness")
            .hash();
        let [high, low, ..] = *random.as_bytes();
        let port = TEST_SERVER_PORTS.start + u16::from_be_bytes([high, low]) % span;
        if free(port) && also.iter().all(|offset| free(port + offset)) {
            return port;
        }
    }
    panic!("no free loopback port found in {TEST_SERVER_PORTS:?}");
}
