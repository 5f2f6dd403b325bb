//! What the per-database test files share: unique table names (with a sweep of tables
//! that earlier runs left behind), row fixtures for bulk inserts, and checks of the
//! SQL-specific promises beyond the shared conformance suite.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sessionkit_core::{
    codec, ExpiredDeletion, IdHash, Record, SessionId, SessionStore, StoreError,
};
use time::{Duration, OffsetDateTime};

/// Rows the bulk expired-deletion test inserts.
pub(crate) const BULK_EXPIRED: usize = 100_000;
/// Rows per multi-row `INSERT` of the bulk test.
pub(crate) const BULK_CHUNK: usize = 1_000;
/// Tables (and files) of earlier runs older than this are dropped by [`is_stale`]
/// (a test binary runs for seconds; another run going on at the same time is spared).
const STALE_AFTER_SECS: u64 = 600;
/// Prefix of every test table: `skt_<unix seconds>_<random hex>`.
pub(crate) const TEST_TABLE_PREFIX: &str = "skt_";

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_hex(len: usize) -> String {
    let hex = SessionId::generate()
        .expect("the operating system provides randomness")
        .hash()
        .to_hex();
    hex[..len].to_owned()
}

/// A table name no other test or run uses: `skt_<unix seconds>_<random hex>`.
pub(crate) fn unique_table() -> String {
    format!("{TEST_TABLE_PREFIX}{}_{}", unix_secs(), random_hex(12))
}

/// Whether `name` is a test table (or its `_schema` table, or a test file) of a run
/// that started over ten minutes ago: such leftovers are dropped at the start of a run.
pub(crate) fn is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEST_TABLE_PREFIX) else {
        return false;
    };
    let Some((secs, _)) = rest.split_once('_') else {
        return false;
    };
    secs.parse::<u64>()
        .is_ok_and(|t| t + STALE_AFTER_SECS < unix_secs())
}

/// A record under a fresh id, expiring `expires_in` from now.
pub(crate) fn record(expires_in: Duration, user: Option<&str>) -> Record {
    let now = OffsetDateTime::now_utc();
    let id = SessionId::generate()
        .expect("the operating system provides randomness")
        .hash();
    let mut data = sessionkit_core::Data::new();
    data.insert("cart".into(), json!(["apple", "pear"]));
    let mut r = Record::new(id, data, now, now + expires_in);
    r.user = user.map(str::to_owned);
    r
}

/// Bytes that are not an encoded record, for the corrupt-data case.
pub(crate) fn garbage() -> Vec<u8> {
    b"\x01{\"id\": not json \xff".to_vec()
}

/// Overwrites the stored bytes of one row with [`garbage`], for the corrupt-data cases
/// of both suites: `$sql` is the dialect's `UPDATE … SET data = <1st> WHERE id_hash =
/// <2nd>` on the store's table, run on `$pool`.
#[allow(unused_macros)] // test files without a SQL store of their own do not use it
macro_rules! overwrite_row {
    ($pool:expr, $sql:expr, $id:expr) => {{
        let done = sqlx::query($sql)
            .bind(common::garbage())
            .bind(common::key($id))
            .execute($pool)
            .await
            .expect("overwrite the stored bytes");
        assert_eq!(done.rows_affected(), 1, "the corrupted row exists");
    }};
}
#[allow(unused_imports)]
pub(crate) use overwrite_row;

/// One row of the bulk test, as bound values.
#[derive(Debug, Clone)]
pub(crate) struct BulkRow {
    pub(crate) id_hash: Vec<u8>,
    pub(crate) data: Vec<u8>,
    pub(crate) expires_at: i64,
    pub(crate) created_at: i64,
    pub(crate) purge_after: i64,
}

/// [`BULK_EXPIRED`] rows that expired a minute ago, with distinct keys.
pub(crate) fn expired_rows() -> Vec<BulkRow> {
    let template = record(Duration::minutes(-1), None);
    let data = codec::encode(&template).expect("a record encodes");
    let expires_at = millis(template.expires_at);
    let prefix = SessionId::generate().expect("randomness").hash();
    (0..BULK_EXPIRED)
        .map(|i| {
            let mut id = *prefix.as_bytes();
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            BulkRow {
                id_hash: id.to_vec(),
                data: data.clone(),
                expires_at,
                created_at: expires_at - 3_600_000,
                purge_after: expires_at + PURGE_SLACK_MS,
            }
        })
        .collect()
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .expect("a current time fits in i64 milliseconds")
}

/// Calls `delete_expired(batch)` until it returns less than `batch`; the total.
pub(crate) async fn drain(deletion: &dyn ExpiredDeletion, batch: u64) -> u64 {
    let mut total = 0;
    loop {
        let n = deletion
            .delete_expired(batch)
            .await
            .expect("delete_expired succeeds");
        assert!(n <= batch, "delete_expired({batch}) deleted {n}");
        total += n;
        if n < batch {
            return total;
        }
    }
}

/// After [`expired_rows`] were inserted: creates a few live sessions, clears the expired
/// rows in batches of 10 000 and checks that exactly those went and the live ones stayed.
pub(crate) async fn check_bulk_expired_deletion<S: SessionStore>(
    store: &S,
    inserted_in: std::time::Duration,
) {
    let index = store.user_index().expect("SQL stores have a user index");
    let deletion = store
        .expired_deletion()
        .expect("SQL stores delete expired rows");
    let fresh: Vec<Record> = (0..10).map(|_| record(Duration::hours(1), None)).collect();
    for r in &fresh {
        store.create(r).await.expect("create");
    }
    assert_eq!(
        index.count().await.expect("count"),
        10,
        "expired rows are not counted"
    );

    let started = Instant::now();
    let deleted = drain(deletion, 10_000).await;
    let took = started.elapsed();
    eprintln!("inserted {BULK_EXPIRED} expired rows in {inserted_in:?}, deleted them in {took:?}");
    assert_eq!(
        deleted, BULK_EXPIRED as u64,
        "every expired row is deleted and counted"
    );
    assert_eq!(drain(deletion, 10_000).await, 0, "nothing expired is left");
    for r in &fresh {
        assert!(
            store.load(&r.id).await.expect("load").is_some(),
            "a live session survives"
        );
    }
    assert_eq!(index.count().await.expect("count"), 10);
}

/// The SQL-specific promises: an expired row never blocks `create` (and is replaced),
/// updates that write identical values still count as matched, `delete` of an expired
/// row reports none, `delete_sessions_of` without an exception, and that what `touch`
/// wrote to the columns wins over the encoded bytes on load.
pub(crate) async fn check_sql_specifics<S: SessionStore>(store: &S) {
    // An expired row with the same key does not block a create; a live one does.
    let mut stale = record(Duration::seconds(-5), None);
    store
        .create(&stale)
        .await
        .expect("create of an already expired record");
    assert!(
        store.load(&stale.id).await.expect("load").is_none(),
        "an expired row loads"
    );
    stale.expires_at = OffsetDateTime::now_utc() + Duration::hours(1);
    stale.data.insert("fresh".into(), json!(true));
    store
        .create(&stale)
        .await
        .expect("create over an expired row with the same key");
    let loaded = store
        .load(&stale.id)
        .await
        .expect("load")
        .expect("the new record loads");
    assert_eq!(
        loaded.data.get("fresh"),
        Some(&json!(true)),
        "the expired row was replaced"
    );
    assert!(
        matches!(store.create(&stale).await, Err(StoreError::Exists)),
        "live key: Exists"
    );

    // Compare-and-swap and touch that change nothing still report success.
    assert!(
        store
            .compare_and_swap(&loaded, loaded.version)
            .await
            .expect("cas"),
        "identical CAS"
    );
    assert!(
        store
            .compare_and_swap(&loaded, loaded.version)
            .await
            .expect("cas"),
        "identical CAS twice"
    );
    let until = OffsetDateTime::now_utc() + Duration::hours(2);
    let now = OffsetDateTime::now_utc();
    assert!(
        store.touch(&stale.id, until, now).await.expect("touch"),
        "touch"
    );
    assert!(
        store.touch(&stale.id, until, now).await.expect("touch"),
        "identical touch"
    );
    let touched = store
        .load(&stale.id)
        .await
        .expect("load")
        .expect("touched record loads");
    assert_eq!(
        touched.expires_at.unix_timestamp(),
        until.unix_timestamp(),
        "touch's expiry wins on load"
    );
    assert_eq!(
        touched.last_seen.unix_timestamp(),
        now.unix_timestamp(),
        "touch's last_seen wins on load"
    );
    assert_eq!(touched.data, loaded.data, "touch leaves the data alone");

    // Deleting an expired row reports that there was no session.
    let gone = record(Duration::seconds(-5), None);
    store
        .create(&gone)
        .await
        .expect("create of an already expired record");
    assert!(
        !store.delete(&gone.id).await.expect("delete"),
        "delete of an expired row reports none"
    );

    // `delete_sessions_of(user, None)` revokes every live session of that user only.
    let (user, other) = (
        format!("u-{}", random_hex(12)),
        format!("o-{}", random_hex(12)),
    );
    for _ in 0..3 {
        store
            .create(&record(Duration::hours(1), Some(&user)))
            .await
            .expect("create");
    }
    let others = record(Duration::hours(1), Some(&other));
    store.create(&others).await.expect("create");
    let index = store.user_index().expect("SQL stores have a user index");
    assert_eq!(
        index.delete_sessions_of(&user, None).await.expect("revoke"),
        3
    );
    assert!(index.sessions_of(&user).await.expect("list").is_empty());
    assert_eq!(
        index.sessions_of(&other).await.expect("list").len(),
        1,
        "other users keep theirs"
    );

    // A user key is matched exactly (case and all).
    assert!(index
        .sessions_of(&other.to_uppercase())
        .await
        .expect("list")
        .is_empty());

    assert!(store.delete(&stale.id).await.expect("delete"));
    assert!(store.delete(&others.id).await.expect("delete"));
}

/// The key of a record, for `corrupt` closures.
pub(crate) fn key(id: &IdHash) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// How far the stores let `purge_after` run ahead of `expires_at` (the crate's
/// `PURGE_SLACK_MS`, which is private).
pub(crate) const PURGE_SLACK_MS: i64 = 60_000;

/// The expiry index with slack: the index column `purge_after` (read and overwritten
/// through `read` and `write`, which run SQL on the store's table) stays put while
/// saves and touches move the expiry within the slack, moves when they leave it in
/// either direction, and expired deletion still deletes exactly the rows past their
/// `expires_at`, whatever their `purge_after` (0 included: rows an upgrade had not
/// reached).
pub(crate) async fn check_expiry_index_slack<S, R, RF, W, WF>(store: &S, read: R, write: W)
where
    S: SessionStore,
    R: Fn(IdHash) -> RF,
    RF: std::future::Future<Output = i64>,
    W: Fn(IdHash, i64) -> WF,
    WF: std::future::Future<Output = ()>,
{
    let mut r = record(Duration::hours(1), None);
    store.create(&r).await.expect("create");
    let created = read(r.id).await;
    assert_eq!(
        created,
        millis(r.expires_at) + PURGE_SLACK_MS,
        "create sets purge_after to the expiry plus the slack"
    );

    // A save and a touch that move the expiry within the slack leave the index alone.
    r.expires_at += Duration::seconds(20);
    r.version += 1;
    assert!(store
        .compare_and_swap(&r, r.version - 1)
        .await
        .expect("cas"));
    assert_eq!(read(r.id).await, created, "a save within the slack");
    let now = OffsetDateTime::now_utc();
    let touched_to = r.expires_at + Duration::seconds(30);
    assert!(store.touch(&r.id, touched_to, now).await.expect("touch"));
    assert_eq!(read(r.id).await, created, "a touch within the slack");
    let loaded = store.load(&r.id).await.expect("load").expect("live");
    assert_eq!(
        millis(loaded.expires_at),
        millis(touched_to),
        "the exact expiry moved all the same"
    );

    // Past the slack, forwards or backwards, the index column follows.
    r = loaded;
    for (what, by) in [
        ("a save past the slack", Duration::minutes(5)),
        ("a save that shortens the expiry", Duration::minutes(-30)),
    ] {
        r.expires_at += by;
        r.version += 1;
        assert!(store
            .compare_and_swap(&r, r.version - 1)
            .await
            .expect("cas"));
        assert_eq!(
            read(r.id).await,
            millis(r.expires_at) + PURGE_SLACK_MS,
            "{what}"
        );
    }
    let far = r.expires_at + Duration::hours(3);
    assert!(store.touch(&r.id, far, now).await.expect("touch"));
    assert_eq!(
        read(r.id).await,
        millis(far) + PURGE_SLACK_MS,
        "a touch past the slack"
    );
    // A stale version is refused by both statements, and changes nothing.
    r.version += 1;
    assert!(!store
        .compare_and_swap(&r, r.version + 5)
        .await
        .expect("cas"));
    assert_eq!(
        read(r.id).await,
        millis(far) + PURGE_SLACK_MS,
        "a refused save"
    );

    // A row left at 0 by an upgrade: loads, saves (which repair it) and counts as before.
    let mut old = record(Duration::hours(1), None);
    store.create(&old).await.expect("create");
    write(old.id, 0).await;
    assert!(store.load(&old.id).await.expect("load").is_some());
    old.version += 1;
    assert!(store
        .compare_and_swap(&old, old.version - 1)
        .await
        .expect("cas"));
    assert_eq!(read(old.id).await, millis(old.expires_at) + PURGE_SLACK_MS);

    // Expired deletion is exact: a session past its expiry by a moment goes although
    // its purge_after is still ahead; one that expires within the slack stays; so does
    // a live one whose purge_after is 0.
    let deletion = store
        .expired_deletion()
        .expect("SQL stores delete expired rows");
    drain(deletion, 1_000).await;
    let mut soon = record(Duration::milliseconds(1_500), None);
    store.create(&soon).await.expect("create");
    soon.expires_at += Duration::milliseconds(300);
    soon.version += 1;
    assert!(store
        .compare_and_swap(&soon, soon.version - 1)
        .await
        .expect("cas"));
    let staying = record(Duration::seconds(40), None);
    store.create(&staying).await.expect("create");
    let unrepaired = record(Duration::hours(1), None);
    store.create(&unrepaired).await.expect("create");
    write(unrepaired.id, 0).await;
    let wait = soon.expires_at - OffsetDateTime::now_utc() + Duration::milliseconds(50);
    tokio::time::sleep(wait.try_into().unwrap_or_default()).await;
    assert!(
        read(soon.id).await > millis(OffsetDateTime::now_utc()),
        "the expired row's purge_after is still ahead"
    );
    assert_eq!(
        drain(deletion, 1_000).await,
        1,
        "exactly the expired row goes"
    );
    assert!(store.load(&soon.id).await.expect("load").is_none());
    for live in [&staying, &unrepaired, &old] {
        assert!(store.load(&live.id).await.expect("load").is_some());
    }
}

/// A version-1 row's values: `(id_hash, data, expires_at, version, created_at, last_seen)`.
pub(crate) type LegacyRow = (Vec<u8>, Vec<u8>, i64, i64, i64, i64);

/// A session as a version-1 table held it (no `purge_after` column): the record and its
/// row's values.
pub(crate) fn legacy_session() -> (Record, LegacyRow) {
    let mut r = record(Duration::hours(1), Some("legacy-user"));
    r.version = 3;
    let row = (
        key(&r.id),
        codec::encode(&r).expect("a record encodes"),
        millis(r.expires_at),
        3,
        millis(r.created_at),
        millis(r.last_seen),
    );
    (r, row)
}

/// After `migrate` upgraded a version-1 table holding `legacy`: the session loads as
/// it was, its `purge_after` (read by the caller) is its expiry plus the slack, the
/// table's indexes (listed by the caller) have the expiry index on `purge_after`
/// instead of `expires_at`, and the session is still saved, listed and revoked.
pub(crate) async fn check_upgraded<S: SessionStore>(
    store: &S,
    legacy: &Record,
    purge_after: i64,
    indexes: &[String],
    table: &str,
) {
    let loaded = store
        .load(&legacy.id)
        .await
        .expect("load")
        .expect("the session of the version-1 table survives the upgrade");
    assert_eq!(loaded.data, legacy.data);
    assert_eq!(loaded.version, 3);
    assert_eq!(purge_after, millis(legacy.expires_at) + PURGE_SLACK_MS);
    assert!(
        indexes.contains(&format!("{table}_purge_after_idx")),
        "{indexes:?}"
    );
    assert!(
        !indexes.contains(&format!("{table}_expires_at_idx")),
        "{indexes:?}"
    );
    let mut next = loaded.clone();
    next.version += 1;
    assert!(store
        .compare_and_swap(&next, loaded.version)
        .await
        .expect("cas"));
    let index = store.user_index().expect("SQL stores have a user index");
    assert_eq!(
        index.sessions_of("legacy-user").await.expect("list").len(),
        1
    );
    assert_eq!(
        index
            .delete_sessions_of("legacy-user", None)
            .await
            .expect("revoke"),
        1
    );
}

/// The expiry-index tests of one backend: the slack rules
/// ([`check_expiry_index_slack`]) and the upgrade of a version-1 table
/// ([`check_upgraded`]). The test file provides `unmigrated()` (a store on a table or
/// file of its own that `migrate` has not touched, or `None` to skip) and `done(&store)`
/// (removes what it left); the arguments are the backend's SQL, with `{t}` for the
/// table name:
///
/// - `version_1_table`: the statements that created a version-1 table and recorded
///   its schema version;
/// - `read_purge` (`id_hash` as the one parameter), `write_purge` (value, `id_hash`);
/// - `insert_version_1_row`: the seven columns of a version-1 row, in table order;
/// - `schema_versions`: the recorded versions, in order;
/// - `list_indexes`: the table's index names (the table name as the one parameter).
#[allow(unused_macros)] // test files without a SQL server of their own do not use it
macro_rules! expiry_index_tests {
    (
        version_1_table: $version_1:expr,
        read_purge: $read:expr,
        write_purge: $write:expr,
        insert_version_1_row: $insert:expr,
        schema_versions: $versions:expr,
        list_indexes: $indexes:expr $(,)?
    ) => {
        #[tokio::test]
        async fn expiry_index_moves_only_when_a_write_leaves_its_slack() {
            let Some(store) = unmigrated().await else {
                return;
            };
            store.migrate().await.expect("migrate");
            let table = store.table_name().to_owned();
            let read = |id: sessionkit_core::IdHash| {
                let (store, sql) = (store.clone(), $read.replace("{t}", &table));
                async move {
                    sqlx::query_scalar::<_, i64>(&sql)
                        .bind(common::key(&id))
                        .fetch_one(store.pool())
                        .await
                        .expect("read purge_after")
                }
            };
            let write = |id: sessionkit_core::IdHash, value: i64| {
                let (store, sql) = (store.clone(), $write.replace("{t}", &table));
                async move {
                    sqlx::query(&sql)
                        .bind(value)
                        .bind(common::key(&id))
                        .execute(store.pool())
                        .await
                        .expect("overwrite purge_after");
                }
            };
            common::check_expiry_index_slack(&store, read, write).await;
            done(&store).await;
        }

        #[tokio::test]
        async fn a_version_1_table_is_upgraded_and_keeps_its_sessions() {
            let Some(store) = unmigrated().await else {
                return;
            };
            let t = store.table_name().to_owned();
            let sql = |text: &str| text.replace("{t}", &t);
            for statement in $version_1 {
                sqlx::query(&sql(statement))
                    .execute(store.pool())
                    .await
                    .expect("create the version-1 table");
            }
            let (legacy, row) = common::legacy_session();
            sqlx::query(&sql($insert))
                .bind(row.0)
                .bind(row.1)
                .bind(row.2)
                .bind(row.3)
                .bind("legacy-user")
                .bind(row.4)
                .bind(row.5)
                .execute(store.pool())
                .await
                .expect("insert a version-1 row");
            store.migrate().await.expect("upgrade");
            store.migrate().await.expect("migrate again: nothing to do");
            let versions: Vec<i64> = sqlx::query_scalar(&sql($versions))
                .fetch_all(store.pool())
                .await
                .expect("read schema versions");
            assert_eq!(versions, vec![1, 2]);
            let indexes: Vec<String> = sqlx::query_scalar($indexes)
                .bind(&t)
                .fetch_all(store.pool())
                .await
                .expect("list the indexes");
            let purge: i64 = sqlx::query_scalar(&sql($read))
                .bind(common::key(&legacy.id))
                .fetch_one(store.pool())
                .await
                .expect("read purge_after");
            common::check_upgraded(&store, &legacy, purge, &indexes, &t).await;
            done(&store).await;
        }
    };
}

#[allow(unused_imports)]
pub(crate) use expiry_index_tests;

/// A store whose one pooled connection the database server ends, as a restart or an
/// administrator would. `backend` names the connection the store's pool holds (through
/// that pool); `end` ends a connection by that name from elsewhere.
///
/// Ended while in use moments ago, the connection may fail the next call (an error,
/// which the engine turns into a fail-closed response, never a wrong answer); sqlx's
/// ping when a connection goes back to the pool then drops it, and the call after that
/// works. Ended while idle for longer than [`sessionkit_sql::PING_AFTER_IDLE`], it is
/// found by the ping on acquire and replaced before any call fails.
pub(crate) async fn check_ended_connection_is_replaced<S, B, BF, E, EF>(
    store: &S,
    backend: B,
    end: E,
) where
    S: SessionStore,
    B: Fn() -> BF,
    BF: std::future::Future<Output = i64>,
    E: Fn(i64) -> EF,
    EF: std::future::Future<Output = ()>,
{
    let r = record(Duration::hours(1), None);
    store.create(&r).await.expect("create");

    let first_connection = backend().await;
    end(first_connection).await;
    match store.load(&r.id).await {
        Ok(found) => assert_eq!(found.map(|f| f.id), Some(r.id)),
        Err(e) => assert!(
            matches!(e, StoreError::Backend { .. }),
            "an ended connection fails as a store error: {e:?}"
        ),
    }
    let found = store
        .load(&r.id)
        .await
        .expect("the ended connection was replaced");
    assert_eq!(found.map(|f| f.id), Some(r.id));
    let second_connection = backend().await;
    assert_ne!(first_connection, second_connection, "a new connection");

    end(second_connection).await;
    tokio::time::sleep(sessionkit_sql::PING_AFTER_IDLE + std::time::Duration::from_millis(200))
        .await;
    let found = store
        .load(&r.id)
        .await
        .expect("the idle connection was pinged on acquire and replaced");
    assert_eq!(found.map(|f| f.id), Some(r.id));
    assert_ne!(backend().await, second_connection, "a new connection");
}
