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

/// One row of the bulk test, as bound values.
#[derive(Debug, Clone)]
pub(crate) struct BulkRow {
    pub(crate) id_hash: Vec<u8>,
    pub(crate) data: Vec<u8>,
    pub(crate) expires_at: i64,
    pub(crate) created_at: i64,
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
