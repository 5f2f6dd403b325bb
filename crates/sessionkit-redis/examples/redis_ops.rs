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

use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit_core::{Data, Record, SessionId, SessionStore};
use sessionkit_redis::{RedisOptions, RedisStore};
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CONCURRENCY: [usize; 3] = [1, 16, 64];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Load,
    Save,
    Touch,
}

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
    println!(
        "{:>5} {:>12} {:>12} {:>12}",
        "tasks", "loads/s", "saves/s", "touches/s"
    );
    for tasks in CONCURRENCY {
        let records = sessions(&store, tasks).await?;
        let mut rates = Vec::new();
        for op in [Op::Load, Op::Save, Op::Touch] {
            rates.push(measure(&store, &records, op, secs).await?);
        }
        println!(
            "{tasks:>5} {:>12.0} {:>12.0} {:>12.0}",
            rates[0], rates[1], rates[2]
        );
        for r in &records {
            store.delete(&r.id).await?;
        }
    }
    Ok(())
}

async fn sessions(store: &RedisStore, tasks: usize) -> Result<Vec<Record>, BoxError> {
    let now = OffsetDateTime::now_utc();
    let mut records = Vec::new();
    for _ in 0..tasks {
        let mut data = Data::new();
        data.insert("user".into(), json!("alice"));
        data.insert("cart".into(), json!(["apple", "pear", "fig"]));
        let record = Record::new(
            SessionId::generate()?.hash(),
            data,
            now,
            now + time::Duration::hours(1),
        );
        store.create(&record).await?;
        records.push(record);
    }
    Ok(records)
}

/// Each task works on its own session for `secs`; returns operations per second.
async fn measure(
    store: &RedisStore,
    records: &[Record],
    op: Op,
    secs: f64,
) -> Result<f64, BoxError> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for record in records {
        let (store, mut record) = (
            store.clone(),
            store.load(&record.id).await?.ok_or("a session is gone")?,
        );
        set.spawn(async move {
            let mut ops = 0_u64;
            while Instant::now() < deadline {
                match op {
                    Op::Load => {
                        store
                            .load(&record.id)
                            .await?
                            .ok_or("a live session did not load")?;
                    }
                    Op::Save => {
                        let expected = record.version;
                        record.version += 1;
                        record.data.insert("n".into(), json!(ops));
                        if !store.compare_and_swap(&record, expected).await? {
                            return Err::<u64, BoxError>(
                                "an uncontended compare-and-swap failed".into(),
                            );
                        }
                    }
                    Op::Touch => {
                        let now = OffsetDateTime::now_utc();
                        if !store
                            .touch(&record.id, now + time::Duration::hours(1), now)
                            .await?
                        {
                            return Err("a live session could not be touched".into());
                        }
                    }
                }
                ops += 1;
            }
            Ok(ops)
        });
    }
    let mut total = 0;
    while let Some(ops) = set.join_next().await {
        total += ops??;
    }
    Ok(total as f64 / secs)
}
