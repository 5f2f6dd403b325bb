//! Rough throughput of `RedisStore`: loads/s, saves (compare-and-swap)/s and touches/s.
//!
//! ```text
//! cargo run --release -p sessionkit-redis --example redis_ops [redis-url] [seconds]
//! ```
//!
//! The URL defaults to `SESSIONKIT_TEST_REDIS_URL`, then `redis://127.0.0.1:6379`.
//! Each run uses a key prefix of its own and deletes its sessions at the end. Compare
//! with `redis-benchmark -q -t set,get -n 100000` on the same machine. A measurement,
//! not a test: numbers depend on the machine.

use sessionkit_core::SessionId;
use sessionkit_redis::RedisOptions;
use sessionkit_testkit::ops::{self, BoxError, Op};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .or_else(|| std::env::var("SESSIONKIT_TEST_REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let secs: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let prefix = format!("ops:{}:", &SessionId::generate()?.hash().to_hex()[..12]);
    let store =
        sessionkit_redis::connect(&url, RedisOptions::default().with_key_prefix(prefix)).await?;
    let measured = [Op::Load, Op::Save, Op::Touch];
    ops::print_header(&measured);
    ops::print_rates(&store, "redis", &[1, 16, 64], &measured, secs).await
}
