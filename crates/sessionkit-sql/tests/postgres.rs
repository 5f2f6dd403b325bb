//! `PostgresStore` against a real server: the shared conformance suite plus the
//! PostgreSQL-specific checks. Needs `SESSIONKIT_TEST_POSTGRES_URL` (skipped without it).
//!
//! Every test works in a table of its own (`skt_<time>_<random>`), so tests run in
//! parallel on one server; tables of runs over ten minutes old are dropped on the way.

mod common;

use std::time::Instant;

use sessionkit_core::IdHash;
use sessionkit_sql::sqlx::{self, Postgres, QueryBuilder};
use sessionkit_sql::{AnySqlStore, Error, PoolOptions, PostgresStore};
use sessionkit_testkit::env;
use tokio::sync::OnceCell;

const URL_VAR: &str = "SESSIONKIT_TEST_POSTGRES_URL";

/// A store on a table of its own that `migrate` has not touched yet, or `None` (skip)
/// without a server URL.
async fn unmigrated() -> Option<PostgresStore> {
    let url = env::service_url(URL_VAR)?;
    let store = PostgresStore::connect(&url, PoolOptions::default().with_max_connections(4))
        .await
        .expect("the PostgreSQL test server accepts connections")
        .with_table_name(&common::unique_table())
        .expect("test table names are valid");
    sweep(&store).await;
    Some(store)
}

/// A migrated store on a table of its own, or `None` (skip) without a server URL.
async fn store() -> Option<PostgresStore> {
    let store = unmigrated().await?;
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Drops the test's tables.
async fn done(store: &PostgresStore) {
    drop_table(store).await;
}

/// Drops the test tables that runs over ten minutes ago left behind (once per binary).
async fn sweep(store: &PostgresStore) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename LIKE 'skt\\_%'",
            )
            .fetch_all(store.pool())
            .await
            .expect("list test tables");
            for table in tables.iter().filter(|t| common::is_stale(t)) {
                sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                    .execute(store.pool())
                    .await
                    .expect("drop a stale test table");
            }
        })
        .await;
}

async fn drop_table(store: &PostgresStore) {
    for table in [
        store.table_name().to_owned(),
        format!("{}_schema", store.table_name()),
    ] {
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
            .execute(store.pool())
            .await
            .expect("drop the test table");
    }
}

/// Overwrites the stored bytes of `id`'s row with bytes that are not a record (the
/// corrupt-data cases of both suites).
async fn corrupt(store: PostgresStore, id: IdHash) {
    let t = store.table_name().to_owned();
    let sql = format!("UPDATE \"{t}\" SET data = $1 WHERE id_hash = $2");
    common::overwrite_row!(store.pool(), &sql, &id);
}

sessionkit_testkit::store_conformance!(store(), corrupt = corrupt);

#[tokio::test]
async fn sql_specific_behaviours() {
    let Some(store) = store().await else { return };
    common::check_sql_specifics(&store).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_records_one_version() {
    let Some(store) = store().await else { return };
    store.migrate().await.expect("second migrate");
    store.clone().migrate().await.expect("third migrate");
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{}_schema\"",
        store.table_name()
    ))
    .fetch_all(store.pool())
    .await
    .expect("read schema versions");
    assert_eq!(versions, vec![1, 2]);
    drop_table(&store).await;
}

#[tokio::test]
async fn concurrent_migrations_of_one_table_all_succeed() {
    let Some(store) = store().await else { return };
    let fresh = store
        .clone()
        .with_table_name(&common::unique_table())
        .expect("valid");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = fresh.clone();
            tokio::spawn(async move { s.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("concurrent migrate");
    }
    common::check_sql_specifics(&fresh).await;
    drop_table(&fresh).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn invalid_table_names_are_rejected_before_any_sql() {
    let Some(store) = store().await else { return };
    for bad in [
        "sessions; DROP TABLE users",
        "a\"b",
        "",
        "1x",
        &"x".repeat(64),
    ] {
        assert!(
            matches!(
                store.clone().with_table_name(bad),
                Err(Error::InvalidTableName { .. })
            ),
            "{bad:?}"
        );
    }
    drop_table(&store).await;
}

#[tokio::test]
async fn connect_by_url_gives_a_working_store() {
    let Some(url) = env::service_url(URL_VAR) else {
        return;
    };
    let store = sessionkit_sql::connect(&url, PoolOptions::default().with_max_connections(2))
        .await
        .expect("connect by URL")
        .with_table_name(&common::unique_table())
        .expect("valid");
    assert!(matches!(store, AnySqlStore::Postgres(_)));
    assert_eq!(store.backend(), "postgres");
    store.migrate().await.expect("migrate");
    common::check_sql_specifics(&store).await;
    if let AnySqlStore::Postgres(pg) = &store {
        drop_table(pg).await;
    }
    let alias = url.replacen("postgres://", "postgresql://", 1);
    let again = sessionkit_sql::connect(&alias, PoolOptions::default())
        .await
        .expect("postgresql:// alias");
    assert_eq!(again.backend(), "postgres");
}

#[tokio::test]
async fn hundred_thousand_expired_rows_are_deleted_in_batches() {
    let Some(store) = store().await else { return };
    let rows = common::expired_rows();
    let started = Instant::now();
    let mut tx = store.pool().begin().await.expect("begin");
    for chunk in rows.chunks(common::BULK_CHUNK) {
        let mut insert = QueryBuilder::<Postgres>::new(format!(
            "INSERT INTO \"{}\" (id_hash, data, expires_at, version, user_key, created_at, last_seen, purge_after) ",
            store.table_name()
        ));
        insert.push_values(chunk, |mut row, r| {
            row.push_bind(r.id_hash.clone())
                .push_bind(r.data.clone())
                .push_bind(r.expires_at)
                .push_bind(1_i64)
                .push_bind(None::<String>)
                .push_bind(r.created_at)
                .push_bind(r.created_at)
                .push_bind(r.purge_after);
        });
        insert.build().execute(&mut *tx).await.expect("bulk insert");
    }
    tx.commit().await.expect("commit");
    common::check_bulk_expired_deletion(&store, started.elapsed()).await;
    drop_table(&store).await;
}

/// The version-1 schema (before the expiry index moved to `purge_after`), `{t}` for
/// the table name, with its schema version recorded.
const VERSION_1_TABLE: &[&str] = &[
    "CREATE TABLE \"{t}\" (id_hash BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(id_hash) = 32), data BYTEA NOT NULL, expires_at BIGINT NOT NULL, version BIGINT NOT NULL, user_key TEXT, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL)",
    "CREATE INDEX \"{t}_expires_at_idx\" ON \"{t}\" (expires_at)",
    "CREATE INDEX \"{t}_user_key_idx\" ON \"{t}\" (user_key, created_at) WHERE user_key IS NOT NULL",
    "CREATE TABLE \"{t}_schema\" (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
    "INSERT INTO \"{t}_schema\" VALUES (1, 0)",
];

common::expiry_index_tests! {
    version_1_table: VERSION_1_TABLE,
    read_purge: "SELECT purge_after FROM \"{t}\" WHERE id_hash = $1",
    write_purge: "UPDATE \"{t}\" SET purge_after = $1 WHERE id_hash = $2",
    insert_version_1_row: "INSERT INTO \"{t}\" (id_hash, data, expires_at, version, user_key, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    schema_versions: "SELECT version FROM \"{t}_schema\" ORDER BY version",
    list_indexes: "SELECT indexname::text FROM pg_indexes WHERE tablename = $1",
}

#[tokio::test]
async fn connections_ended_by_the_server_are_replaced() {
    let Some(url) = env::service_url(URL_VAR) else {
        return;
    };
    let store = PostgresStore::connect(&url, PoolOptions::default().with_max_connections(1))
        .await
        .expect("connect")
        .with_table_name(&common::unique_table())
        .expect("valid");
    store.migrate().await.expect("migrate");
    let admin = sqlx::PgPool::connect(&url).await.expect("a second pool");
    common::check_ended_connection_is_replaced(
        &store,
        || async {
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .expect("the store's connection answers");
            i64::from(pid)
        },
        |pid| {
            let admin = admin.clone();
            async move {
                let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                    .bind(i32::try_from(pid).expect("a backend pid"))
                    .fetch_one(&admin)
                    .await
                    .expect("terminate");
                assert!(ended, "the store's backend was terminated");
            }
        },
    )
    .await;
    done(&store).await;
}

mod http {
    //! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
    //! concurrency over a socket) through `SessionLayer` on the same store, a table of
    //! its own per test (skipped without `SESSIONKIT_TEST_POSTGRES_URL`).

    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        let store = super::store().await?;
        let target = store.clone();
        Some(Subject::server(store).with_corruptor(move |id| super::corrupt(target.clone(), id)))
    });
}
