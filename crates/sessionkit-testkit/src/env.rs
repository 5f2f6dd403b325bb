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
