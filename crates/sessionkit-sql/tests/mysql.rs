//! `MySqlStore` against a real MySQL or MariaDB server: the shared conformance suite plus the
//! MySQL-specific checks. Needs `SESSIONKIT_TEST_MYSQL_URL` (skipped without it).
//!
//! Every test works in a table of its own (`skt_<time>_<random>`), so tests run in
//! parallel on one server; tables of runs over ten minutes old are dropped on the way.

mod common;

use std::time::Instant;

use sessionkit_core::IdHash;
use sessionkit_sql::sqlx::{self, MySql, QueryBuilder};
use sessionkit_sql::{AnySqlStore, Error, MySqlStore, PoolOptions};
use sessionkit_testkit::env;
use tokio::sync::OnceCell;

const URL_VAR: &str = "SESSIONKIT_TEST_MYSQL_URL";

/// A store on a table of its own that `migrate` has not touched yet, or `None` (skip)
/// without a server URL.
async fn unmigrated() -> Option<MySqlStore> {
    let url = env::service_url(URL_VAR)?;
    let store = MySqlStore::connect(&url, PoolOptions::default().with_max_connections(4))
        .await
        .expect("the MySQL test server accepts connections")
        .with_table_name(&common::unique_table())
        .expect("test table names are valid");
    sweep(&store).await;
    Some(store)
}

/// A migrated store on a table of its own, or `None` (skip) without a server URL.
async fn store() -> Option<MySqlStore> {
    let store = unmigrated().await?;
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Drops the test's tables.
async fn done(store: &MySqlStore) {
    drop_table(store).await;
}

/// Drops the test tables that runs over ten minutes ago left behind (once per binary).
async fn sweep(store: &MySqlStore) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name LIKE 'skt\\_%'",
            )
            .fetch_all(store.pool())
            .await
            .expect("list test tables");
            for table in tables.iter().filter(|t| common::is_stale(t)) {
                sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
                    .execute(store.pool())
                    .await
                    .expect("drop a stale test table");
            }
        })
        .await;
}

async fn drop_table(store: &MySqlStore) {
    for table in [
        store.table_name().to_owned(),
        format!("{}_schema", store.table_name()),
    ] {
        sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
            .execute(store.pool())
            .await
            .expect("drop the test table");
    }
}

/// Overwrites the stored bytes of `id`'s row with bytes that are not a record (the
/// corrupt-data cases of both suites).
async fn corrupt(store: MySqlStore, id: IdHash) {
    let t = store.table_name().to_owned();
    let sql = format!("UPDATE `{t}` SET data = ? WHERE id_hash = ?");
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
        "SELECT version FROM `{}_schema`",
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
    assert!(matches!(store, AnySqlStore::MySql(_)));
    assert_eq!(store.backend(), "mysql");
    store.migrate().await.expect("migrate");
    common::check_sql_specifics(&store).await;
    if let AnySqlStore::MySql(my) = &store {
        drop_table(my).await;
    }
    let alias = url.replacen("mysql://", "mariadb://", 1);
    let again = sessionkit_sql::connect(&alias, PoolOptions::default())
        .await
        .expect("mariadb:// alias");
    assert_eq!(again.backend(), "mysql");
}

#[tokio::test]
async fn hundred_thousand_expired_rows_are_deleted_in_batches() {
    let Some(store) = store().await else { return };
    let rows = common::expired_rows();
    let started = Instant::now();
    let mut tx = store.pool().begin().await.expect("begin");
    for chunk in rows.chunks(common::BULK_CHUNK) {
        let mut insert = QueryBuilder::<MySql>::new(format!(
            "INSERT INTO `{}` (id_hash, data, expires_at, version, user_key, created_at, last_seen, purge_after) ",
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
    "CREATE TABLE `{t}` (id_hash BINARY(32) NOT NULL, data LONGBLOB NOT NULL, expires_at BIGINT NOT NULL, version BIGINT NOT NULL, user_key VARCHAR(255) NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL, PRIMARY KEY (id_hash), INDEX `{t}_expires_at_idx` (expires_at), INDEX `{t}_user_key_idx` (user_key, created_at)) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
    "CREATE TABLE `{t}_schema` (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE = InnoDB",
    "INSERT INTO `{t}_schema` VALUES (1, 0)",
];

common::expiry_index_tests! {
    version_1_table: VERSION_1_TABLE,
    read_purge: "SELECT purge_after FROM `{t}` WHERE id_hash = ?",
    write_purge: "UPDATE `{t}` SET purge_after = ? WHERE id_hash = ?",
    insert_version_1_row: "INSERT INTO `{t}` (id_hash, data, expires_at, version, user_key, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
    schema_versions: "SELECT version FROM `{t}_schema` ORDER BY version",
    list_indexes: "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?",
}

#[tokio::test]
async fn connections_ended_by_the_server_are_replaced() {
    let Some(url) = env::service_url(URL_VAR) else {
        return;
    };
    let store = MySqlStore::connect(&url, PoolOptions::default().with_max_connections(1))
        .await
        .expect("connect")
        .with_table_name(&common::unique_table())
        .expect("valid");
    store.migrate().await.expect("migrate");
    let admin = sqlx::MySqlPool::connect(&url).await.expect("a second pool");
    common::check_ended_connection_is_replaced(
        &store,
        || async {
            let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(store.pool())
                .await
                .expect("the store's connection answers");
            i64::try_from(id).expect("a connection id")
        },
        |id| {
            let admin = admin.clone();
            async move {
                sqlx::query(&format!("KILL {id}"))
                    .execute(&admin)
                    .await
                    .expect("kill");
            }
        },
    )
    .await;
    done(&store).await;
}

mod http {
    //! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
    //! concurrency over a socket) through `SessionLayer` on the same store, a table of
    //! its own per test (skipped without `SESSIONKIT_TEST_MYSQL_URL`).

    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        let store = super::store().await?;
        let target = store.clone();
        Some(Subject::server(store).with_corruptor(move |id| super::corrupt(target.clone(), id)))
    });
}
