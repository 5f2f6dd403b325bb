//! Rough throughput of the SQL stores: loads/s and saves (compare-and-swap)/s.
//!
//! ```text
//! SESSIONKIT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! SESSIONKIT_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!     cargo run --release -p sessionkit-sql --example sql_ops [seconds]
//! ```
//!
//! SQLite (a file under the system temp directory, and in memory) always runs;
//! PostgreSQL and MySQL run when their URL is set. Each store works on a table of its
//! own, dropped at the end. A measurement, not a test: numbers depend on the machine.

use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit_core::{Data, Record, SessionId, SessionStore};
use sessionkit_sql::{sqlx, AnySqlStore, PoolOptions};
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CONCURRENCY: [usize; 2] = [1, 16];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let secs: f64 = std::env::args().nth(1).map_or(Ok(3.0), |s| s.parse())?;
    let file = std::env::temp_dir().join(format!("sessionkit-sql-ops-{}.db", std::process::id()));
    let mut targets = vec![
        ("sqlite file", format!("sqlite://{}", file.display())),
        ("sqlite memory", "sqlite::memory:".to_owned()),
    ];
    for (name, var) in [
        ("postgres", "SESSIONKIT_TEST_POSTGRES_URL"),
        ("mysql", "SESSIONKIT_TEST_MYSQL_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => targets.push((name, url)),
            _ => eprintln!("skipped {name}: {var} not set"),
        }
    }
    println!(
        "{:<14} {:>5} {:>12} {:>12}",
        "store", "tasks", "loads/s", "saves/s"
    );
    for (name, url) in targets {
        let table = format!("ops_{}", &SessionId::generate()?.hash().to_hex()[..12]);
        let store = sessionkit_sql::connect(&url, PoolOptions::default().with_max_connections(16))
            .await?
            .with_table_name(&table)?;
        store.migrate().await?;
        for tasks in CONCURRENCY {
            let (loads, saves) = measure(&store, tasks, secs).await?;
            println!("{name:<14} {tasks:>5} {loads:>12.0} {saves:>12.0}");
        }
        drop_table(&store).await?;
        store.close().await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Ok(())
}

/// `tasks` concurrent loops over their own session, `secs` of loads then `secs` of saves.
async fn measure(store: &AnySqlStore, tasks: usize, secs: f64) -> Result<(f64, f64), BoxError> {
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
    let mut rates = [0.0; 2];
    for (save, rate) in [false, true].into_iter().zip(&mut rates) {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let mut set = tokio::task::JoinSet::new();
        for mut record in records.clone() {
            let store = store.clone();
            set.spawn(async move {
                let mut ops = 0_u64;
                while Instant::now() < deadline {
                    if save {
                        let expected = record.version;
                        record.version += 1;
                        record.data.insert("n".into(), json!(ops));
                        if !store.compare_and_swap(&record, expected).await? {
                            return Err::<u64, BoxError>(
                                "an uncontended compare-and-swap failed".into(),
                            );
                        }
                    } else if store.load(&record.id).await?.is_none() {
                        return Err("a live session did not load".into());
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
        *rate = total as f64 / secs;
    }
    Ok((rates[0], rates[1]))
}

async fn drop_table(store: &AnySqlStore) -> Result<(), BoxError> {
    let table = store.table_name().to_owned();
    for t in [table.clone(), format!("{table}_schema")] {
        match store {
            AnySqlStore::Sqlite(s) => sqlx::query(&format!("DROP TABLE \"{t}\""))
                .execute(s.pool())
                .await
                .map(drop)?,
            AnySqlStore::Postgres(s) => sqlx::query(&format!("DROP TABLE \"{t}\""))
                .execute(s.pool())
                .await
                .map(drop)?,
            AnySqlStore::MySql(s) => sqlx::query(&format!("DROP TABLE `{t}`"))
                .execute(s.pool())
                .await
                .map(drop)?,
            _ => {}
        }
    }
    Ok(())
}
