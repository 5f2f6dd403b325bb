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

use sessionkit_core::SessionId;
use sessionkit_sql::{sqlx, AnySqlStore, PoolOptions};
use sessionkit_testkit::ops::{self, BoxError, Op};

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
    let measured = [Op::Load, Op::Save];
    ops::print_header(&measured);
    for (name, url) in targets {
        let table = format!("ops_{}", &SessionId::generate()?.hash().to_hex()[..12]);
        let store = sessionkit_sql::connect(&url, PoolOptions::default().with_max_connections(16))
            .await?
            .with_table_name(&table)?;
        store.migrate().await?;
        ops::print_rates(&store, name, &[1, 16], &measured, secs).await?;
        drop_table(&store).await?;
        store.close().await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Ok(())
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
