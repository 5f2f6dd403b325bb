//! `SqliteStore` on database files: the shared conformance suite plus the
//! SQLite-specific checks (tuning pragmas, file creation, bulk expired deletion).
//!
//! Every test opens a file of its own under cargo's per-target temporary directory;
//! files of runs over ten minutes old are removed on the way.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use sessionkit_core::{IdHash, SessionStore as _};
use sessionkit_sql::sqlx::{self, QueryBuilder, Sqlite};
use sessionkit_sql::{AnySqlStore, PoolOptions, SqliteStore};
use tokio::sync::OnceCell;

fn test_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sessionkit-sql")
}

/// A fresh database file URL (the file does not exist yet).
async fn fresh_url() -> String {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    let dir = test_dir();
    SWEPT
        .get_or_init(|| async {
            std::fs::create_dir_all(&dir).expect("create the test directory");
            let entries = std::fs::read_dir(&dir).expect("list the test directory");
            for entry in entries.flatten() {
                if entry.file_name().to_str().is_some_and(common::is_stale) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        })
        .await;
    let path = dir.join(format!("{}.db", common::unique_table()));
    format!("sqlite://{}", path.display())
}

/// A store on a database file of its own that `migrate` has not touched yet.
async fn unmigrated() -> Option<SqliteStore> {
    let store = SqliteStore::connect(
        &fresh_url().await,
        PoolOptions::default().with_max_connections(4),
    )
    .await
    .expect("open a new SQLite file");
    Some(store)
}

/// A migrated store on a database file of its own.
async fn store() -> Option<SqliteStore> {
    let store = unmigrated().await?;
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Closes the test's database file.
async fn done(store: &SqliteStore) {
    store.close().await;
}

/// Overwrites the stored bytes of `id`'s row with bytes that are not a record (the
/// corrupt-data cases of both suites).
async fn corrupt(store: SqliteStore, id: IdHash) {
    let t = store.table_name().to_owned();
    let sql = format!("UPDATE \"{t}\" SET data = ?1 WHERE id_hash = ?2");
    common::overwrite_row!(store.pool(), &sql, &id);
}

sessionkit_testkit::store_conformance!(store(), corrupt = corrupt);

#[tokio::test]
async fn sql_specific_behaviours() {
    let Some(store) = store().await else { return };
    common::check_sql_specifics(&store).await;
}

/// The database file and SQLite's `-wal` and `-shm` files hold sessions: only their
/// owner may read them, whatever the process's umask.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(store) = store().await else { return };
    sessionkit_core::SessionStore::create(&store, &common::record(time::Duration::hours(1), None))
        .await
        .expect("create");
    let mut conn = store.pool().acquire().await.expect("a connection");
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *conn)
            .await
            .expect("the database file");
    for path in [file.clone(), format!("{file}-wal"), format!("{file}-shm")] {
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{path}: mode {:o}", mode & 0o777);
    }
}

#[tokio::test]
async fn connections_are_tuned_for_a_web_server() {
    let Some(store) = store().await else { return };
    let mut conn = store.pool().acquire().await.expect("a connection");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .expect("pragma");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .expect("pragma");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .expect("pragma");
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 1, "synchronous = NORMAL");
    assert_eq!(busy, 5_000, "busy_timeout of 5 s");
}

#[tokio::test]
async fn connect_by_url_creates_the_file_and_a_table_of_the_given_name() {
    let url = fresh_url().await;
    let path = PathBuf::from(url.trim_start_matches("sqlite://"));
    assert!(!path.exists());
    let store = sessionkit_sql::connect(&url, PoolOptions::default())
        .await
        .expect("connect by URL")
        .with_table_name("web_sessions")
        .expect("valid");
    assert!(matches!(store, AnySqlStore::Sqlite(_)));
    assert!(path.exists(), "the database file is created");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate again");
    common::check_sql_specifics(&store).await;
    let AnySqlStore::Sqlite(sqlite) = &store else {
        unreachable!("checked above")
    };
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(sqlite.pool())
            .await
            .expect("list tables");
    assert_eq!(tables, ["web_sessions", "web_sessions_schema"]);
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM web_sessions_schema")
        .fetch_all(sqlite.pool())
        .await
        .expect("read schema versions");
    assert_eq!(versions, [1, 2]);
    store.close().await;
}

#[tokio::test]
async fn concurrent_migrations_of_one_file_all_succeed() {
    let url = fresh_url().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                // Separate pools, as separate processes would have.
                let store = SqliteStore::connect(&url, PoolOptions::default()).await?;
                store.migrate().await
            })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("concurrent migrate");
    }
}

#[tokio::test]
async fn hundred_thousand_expired_rows_are_deleted_in_batches() {
    let Some(store) = store().await else { return };
    let rows = common::expired_rows();
    let started = Instant::now();
    let mut tx = store.pool().begin().await.expect("begin");
    for chunk in rows.chunks(common::BULK_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(format!(
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
}

#[tokio::test]
async fn background_cleanup_deletes_expired_rows_keeps_live_ones_and_stops() {
    let Some(store) = store().await else { return };
    let live: Vec<_> = (0..5)
        .map(|_| common::record(time::Duration::hours(1), None))
        .collect();
    for r in &live {
        store.create(r).await.expect("create");
    }
    for _ in 0..50 {
        let r = common::record(time::Duration::milliseconds(200), None);
        store.create(&r).await.expect("create");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rows = |store: SqliteStore| async move {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", store.table_name());
        sqlx::query_scalar::<_, i64>(&sql)
            .fetch_one(store.pool())
            .await
            .expect("count")
    };
    assert_eq!(
        rows(store.clone()).await,
        55,
        "expired rows stay until someone deletes them"
    );
    let cleanup =
        sessionkit_core::cleanup::spawn(store.clone(), std::time::Duration::from_millis(50), 20);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    cleanup.stop().await;
    assert_eq!(
        rows(store.clone()).await,
        5,
        "three runs of at most 20 removed all 50 expired rows"
    );
    for r in &live {
        assert!(store.load(&r.id).await.expect("load").is_some());
    }
}

/// The version-1 schema (before the expiry index moved to `purge_after`), `{t}` for
/// the table name, with its schema version recorded.
const VERSION_1_TABLE: &[&str] = &[
    "CREATE TABLE \"{t}\" (id_hash BLOB NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32), data BLOB NOT NULL, expires_at INTEGER NOT NULL, version INTEGER NOT NULL, user_key TEXT, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL)",
    "CREATE INDEX \"{t}_expires_at_idx\" ON \"{t}\" (expires_at)",
    "CREATE INDEX \"{t}_user_key_idx\" ON \"{t}\" (user_key, created_at) WHERE user_key IS NOT NULL",
    "CREATE TABLE \"{t}_schema\" (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)",
    "INSERT INTO \"{t}_schema\" VALUES (1, 0)",
];

common::expiry_index_tests! {
    version_1_table: VERSION_1_TABLE,
    read_purge: "SELECT purge_after FROM \"{t}\" WHERE id_hash = ?1",
    write_purge: "UPDATE \"{t}\" SET purge_after = ?1 WHERE id_hash = ?2",
    insert_version_1_row: "INSERT INTO \"{t}\" (id_hash, data, expires_at, version, user_key, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    schema_versions: "SELECT version FROM \"{t}_schema\" ORDER BY version",
    list_indexes: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1",
}

mod http {
    //! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
    //! concurrency over a socket) through `SessionLayer` on the same store, a database
    //! file of its own per test.

    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        let store = super::store().await?;
        let target = store.clone();
        Some(Subject::server(store).with_corruptor(move |id| super::corrupt(target.clone(), id)))
    });
}
