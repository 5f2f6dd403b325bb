//! Rough throughput of `MemcachedStore`: loads/s, saves (compare-and-swap)/s and touches/s.
//!
//! ```text
//! cargo run --release -p sessionkit-memcached --example memcached_ops [memcache-url] [seconds]
//! ```
//!
//! The URL defaults to `SESSIONKIT_TEST_MEMCACHED_URL`, then `memcache://127.0.0.1:11211`.
//! Each run uses a key prefix of its own and deletes its sessions at the end; the pool
//! has 16 connections. A measurement, not a test: numbers depend on the machine.

use sessionkit_core::SessionId;
use sessionkit_memcached::{MemcachedOptions, MemcachedStore};
use sessionkit_testkit::ops::{self, BoxError, Op};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .or_else(|| std::env::var("SESSIONKIT_TEST_MEMCACHED_URL").ok())
        .unwrap_or_else(|| "memcache://127.0.0.1:11211".to_owned());
    let secs: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let prefix = format!("ops:{}:", &SessionId::generate()?.hash().to_hex()[..12]);
    let store = MemcachedStore::connect(
        &url,
        MemcachedOptions::default()
            .with_key_prefix(prefix)
            .with_pool_size(16),
    )
    .await?;
    let measured = [Op::Load, Op::Save, Op::Touch];
    ops::print_header(&measured);
    ops::print_rates(&store, "memcached", &[1, 16, 64], &measured, secs).await
}
