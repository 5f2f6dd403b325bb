//! The store contract, one `pub async fn` per behaviour, generic over the store.
//!
//! [`crate::store_conformance!`] turns each into a `#[tokio::test]` of the same name;
//! they can also be called directly. Each case panics (fails the test) when the store
//! breaks the behaviour its name states.
//!
//! Cases check the primitives directly ([`SessionStore`], [`UserIndex`],
//! [`ExpiredDeletion`]) and through the engine ([`Session`]), since the engine's
//! promises (merging concurrent saves, never resurrecting a deleted session) only hold
//! when the store's primitives are exact.
//!
//! Every case draws its own session ids and user names, so the cases can run in parallel
//! against one shared server. The cases that observe the whole store
//! ([`UserIndex::count`] and [`ExpiredDeletion::delete_expired`]) take a process-wide
//! lock that the other cases share, so they run alone within one test binary.
//!
//! [`UserIndex`]: sessionkit_core::UserIndex
//! [`UserIndex::count`]: sessionkit_core::UserIndex::count
//! [`ExpiredDeletion`]: sessionkit_core::ExpiredDeletion
//! [`ExpiredDeletion::delete_expired`]: sessionkit_core::ExpiredDeletion::delete_expired

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Value};
use sessionkit_core::{
    ClientInfo, Data, Error, ExpiredDeletion, Expiry, IdHash, Record, Session, SessionConfig,
    SessionId, SessionStore, StoreError,
};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Barrier, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::task::JoinSet;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Cases that observe the whole store take this for writing; every other case holds it
/// for reading, so whole-store counts are not disturbed by cases running in parallel.
static WHOLE_STORE: RwLock<()> = RwLock::const_new(());

async fn shared() -> RwLockReadGuard<'static, ()> {
    WHOLE_STORE.read().await
}

async fn alone() -> RwLockWriteGuard<'static, ()> {
    WHOLE_STORE.write().await
}

fn store_name<S>() -> &'static str {
    std::any::type_name::<S>()
}

/// The current time, whole seconds, so that stores keeping second precision round-trip
/// it exactly.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    OffsetDateTime::from_unix_timestamp(now).expect("the current time is a valid timestamp")
}

fn new_id() -> SessionId {
    SessionId::generate().expect("the operating system provides randomness")
}

/// A name no other case or run uses (user names must not collide on a shared server).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &new_id().hash().to_hex()[..16])
}

fn data(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        other => panic!("session data must be a JSON object, not {other}"),
    }
}

/// A fresh record under a new id, live for an hour.
fn record(value: Value) -> Record {
    record_until(value, now() + Duration::hours(1))
}

fn record_until(value: Value, expires_at: OffsetDateTime) -> Record {
    Record::new(new_id().hash(), data(value), now(), expires_at)
}

/// `record` as the next write would store it: same id, version bumped, new data.
fn next_version(record: &Record, value: Value) -> Record {
    let mut next = record.clone();
    next.data = data(value);
    next.version = record.version + 1;
    next
}

async fn create<S: SessionStore>(store: &S, record: &Record) {
    store
        .create(record)
        .await
        .expect("create of a new id succeeds");
}

async fn load<S: SessionStore>(store: &S, id: &IdHash) -> Option<Record> {
    store.load(id).await.expect("load succeeds")
}

async fn load_live<S: SessionStore>(store: &S, id: &IdHash, why: &str) -> Record {
    load(store, id)
        .await
        .unwrap_or_else(|| panic!("{why}: the record should load, but load returned None"))
}

async fn cas<S: SessionStore>(store: &S, record: &Record, expected_version: u64) -> bool {
    store
        .compare_and_swap(record, expected_version)
        .await
        .expect("compare_and_swap succeeds")
}

async fn touch<S: SessionStore>(store: &S, id: &IdHash, expires_at: OffsetDateTime) -> bool {
    store
        .touch(id, expires_at, OffsetDateTime::now_utc())
        .await
        .expect("touch succeeds")
}

async fn delete<S: SessionStore>(store: &S, id: &IdHash) -> bool {
    store.delete(id).await.expect("delete succeeds")
}

/// Sleeps until `instant` is at least `margin` in the past.
async fn sleep_past(instant: OffsetDateTime, margin: Duration) {
    let wait = instant + margin - OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::time::sleep(wait.try_into().expect("a positive duration fits")).await;
    }
}

/// Calls `delete_expired(max)` until it returns less than `max`; returns the total.
async fn drain(deletion: &dyn ExpiredDeletion, max: u64) -> u64 {
    let mut total = 0;
    for _ in 0..100_000 {
        let deleted = deletion
            .delete_expired(max)
            .await
            .expect("delete_expired succeeds");
        assert!(
            deleted <= max,
            "delete_expired({max}) must delete at most {max} records, it reported {deleted}"
        );
        total += deleted;
        if deleted < max {
            return total;
        }
    }
    panic!("delete_expired({max}) kept returning {max}: it never finishes");
}

/// Asserts that `actual` holds every field of `expected`, timestamps compared to the
/// second.
fn assert_same_record(actual: &Record, expected: &Record, what: &str) {
    assert_eq!(actual.id, expected.id, "{what}: id");
    assert!(
        actual.data == expected.data,
        "{what}: data differs\n stored: {}\n loaded: {}",
        abbreviate(&Value::Object(expected.data.clone())),
        abbreviate(&Value::Object(actual.data.clone())),
    );
    assert_eq!(
        actual.created_at.unix_timestamp(),
        expected.created_at.unix_timestamp(),
        "{what}: created_at"
    );
    assert_eq!(
        actual.last_seen.unix_timestamp(),
        expected.last_seen.unix_timestamp(),
        "{what}: last_seen"
    );
    assert_eq!(
        actual.expires_at.unix_timestamp(),
        expected.expires_at.unix_timestamp(),
        "{what}: expires_at"
    );
    assert_eq!(actual.expiry, expected.expiry, "{what}: expiry override");
    assert_eq!(actual.version, expected.version, "{what}: version");
    assert_eq!(actual.user, expected.user, "{what}: user");
    assert_eq!(actual.client, expected.client, "{what}: client info");
    assert_eq!(actual.moved_to, expected.moved_to, "{what}: moved_to");
}

/// A JSON rendering short enough for a failure message.
fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 400 {
        return text;
    }
    let mut cut = 400;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes)", &text[..cut], text.len())
}

fn config() -> SessionConfig {
    SessionConfig::default()
}

fn open<S: SessionStore + Clone>(store: &S, id: Option<SessionId>) -> Session {
    Session::open(store.clone(), config(), id)
}

/// Saves a new session holding `value` through the engine; returns its id.
async fn saved_session<S: SessionStore + Clone>(store: &S, value: Value) -> SessionId {
    let session = open(store, None);
    session
        .update(data(value))
        .await
        .expect("a new session accepts data");
    session.save().await.expect("a new session saves");
    session
        .id()
        .await
        .expect("a saved session with data has an id")
}

// ---------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------

/// `load` returns exactly what `create` stored: data (nested JSON, numbers beyond
/// `f64` precision, empty containers, null), created-at, last-seen and expires-at (to the
/// second), the expiry override, the version, the user (present or absent), the client
/// information and the rotation pointer (`moved_to`).
pub async fn round_trip_keeps_every_field<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let now = now();
    let overrides = [
        Expiry::Idle(Duration::minutes(90)),
        Expiry::At(now + Duration::hours(5)),
        Expiry::BrowserSession,
        Expiry::Default,
    ];
    for (i, expiry) in overrides.into_iter().enumerate() {
        let mut record = Record::new(
            new_id().hash(),
            data(json!({
                "user_id": 42,
                "name": "Ada",
                "ratio": 0.1,
                "negative": -17,
                "beyond_f64": 9_007_199_254_740_993_u64,
                "max": u64::MAX,
                "admin": false,
                "nothing": null,
                "empty_text": "",
                "empty_list": [],
                "empty_map": {},
                "cart": [
                    {"sku": "A-1", "qty": 2},
                    {"sku": "B-7", "qty": 1, "tags": ["gift", "fragile"]}
                ],
                "prefs": {"theme": "dark", "nested": {"deeper": {"list": [1, [2, [3, null]]]}}},
                "case": i,
            })),
            now - Duration::hours(2),
            now + Duration::hours(3) + Duration::seconds(i as i64),
        );
        record.last_seen = now - Duration::minutes(5);
        record.expiry = expiry;
        record.version = 42 + i as u64;
        if i == 1 {
            record.moved_to = Some(new_id().hash());
        }
        if i % 2 == 0 {
            record.user = Some(unique("round-trip-user"));
            record.client = ClientInfo {
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) sessionkit-testkit".into()),
                address: Some("203.0.113.7".into()),
            };
        }
        create(&store, &record).await;
        let loaded = load_live(&store, &record.id, "a record just created").await;
        assert_same_record(&loaded, &record, &format!("round trip with {expiry:?}"));
    }
}

/// Loading an id that was never stored gives `None` and leaves nothing behind: the id
/// can then be created; touch, compare-and-swap and delete of it report `false`.
pub async fn load_of_unknown_id_is_none_and_creates_nothing<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let record = record(json!({"fresh": true}));
    let id = record.id;
    assert!(
        load(&store, &id).await.is_none(),
        "unknown id loaded a record"
    );
    assert!(
        load(&store, &id).await.is_none(),
        "second load of an unknown id found a record"
    );
    assert!(
        !touch(&store, &id, now() + Duration::hours(2)).await,
        "touch of an unknown id reported success"
    );
    assert!(
        !cas(
            &store,
            &next_version(&record, json!({"x": 1})),
            record.version
        )
        .await,
        "compare_and_swap of an unknown id reported success"
    );
    assert!(
        !delete(&store, &id).await,
        "delete of an unknown id reported a record"
    );
    assert!(
        load(&store, &id).await.is_none(),
        "touch or compare_and_swap of an unknown id created a record"
    );
    match store.create(&record).await {
        Ok(()) => {}
        Err(e) => {
            panic!("create after loads of an unknown id failed (was something created?): {e:?}")
        }
    }
    let loaded = load_live(&store, &id, "created after failed loads").await;
    assert_same_record(&loaded, &record, "record created after failed loads");
}

/// A record is never returned once its `expires_at` has passed, and compare-and-swap and
/// touch on it report `false` instead of reviving it.
pub async fn expired_record_is_never_loaded<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    // Whole seconds: expires 1 to 2 seconds from now.
    let record = record_until(json!({"short": "lived"}), now() + Duration::seconds(2));
    create(&store, &record).await;
    let loaded = load_live(&store, &record.id, "a record before its expiry").await;
    assert_same_record(&loaded, &record, "record before expiry");

    sleep_past(record.expires_at, Duration::seconds(1)).await;
    assert!(
        load(&store, &record.id).await.is_none(),
        "load returned a record whose expires_at has passed"
    );
    assert!(
        !cas(
            &store,
            &next_version(&record, json!({"revived": true})),
            record.version
        )
        .await,
        "compare_and_swap on an expired record reported success"
    );
    assert!(
        !touch(&store, &record.id, now() + Duration::hours(1)).await,
        "touch on an expired record reported success"
    );
    assert!(
        load(&store, &record.id).await.is_none(),
        "compare_and_swap or touch revived an expired record"
    );
    // Leave nothing expired behind for `delete_expired` cases of later runs.
    delete(&store, &record.id).await;
}

/// `create` with an id hash that is already stored fails with [`StoreError::Exists`]
/// and leaves the stored record as it was.
pub async fn create_never_overwrites_an_existing_id<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let first = record(json!({"owner": "first", "cart": ["apple"]}));
    create(&store, &first).await;

    let mut second = Record::new(
        first.id,
        data(json!({"owner": "second"})),
        now(),
        now() + Duration::hours(2),
    );
    second.user = Some(unique("intruder"));
    match store.create(&second).await {
        Err(StoreError::Exists) => {}
        other => panic!(
            "second create with the same id: expected Err(StoreError::Exists), got {other:?}"
        ),
    }
    let loaded = load_live(&store, &first.id, "after a refused create").await;
    assert_same_record(&loaded, &first, "record after a refused create");

    // Still refused after the record has been rewritten.
    let updated = next_version(&first, json!({"owner": "first", "cart": ["apple", "pear"]}));
    assert!(
        cas(&store, &updated, first.version).await,
        "compare_and_swap from the stored version"
    );
    assert!(
        matches!(store.create(&second).await, Err(StoreError::Exists)),
        "create over an updated record must give StoreError::Exists"
    );
    let loaded = load_live(&store, &first.id, "after a second refused create").await;
    assert_same_record(&loaded, &updated, "updated record after a refused create");
}

/// Compare-and-swap writes only when the stored version is the expected one: of two
/// writers starting from one version the first wins and the second is refused; a version
/// from the future is refused; of many simultaneous writers exactly one wins, and the
/// stored record is the winner's.
pub async fn compare_and_swap_rejects_a_stale_version_and_keeps_the_winner<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let base = record(json!({"n": 0}));
    create(&store, &base).await;

    let winner = next_version(&base, json!({"n": 1, "by": "winner"}));
    let loser = next_version(&base, json!({"n": 1, "by": "loser"}));
    assert!(
        cas(&store, &winner, base.version).await,
        "first writer from the stored version must win"
    );
    assert!(
        !cas(&store, &loser, base.version).await,
        "second writer from a stale version must lose"
    );
    assert!(
        !cas(&store, &loser, winner.version + 1).await,
        "a version newer than the stored one must be refused"
    );
    let loaded = load_live(&store, &base.id, "after a refused swap").await;
    assert_same_record(&loaded, &winner, "record after the stale write");

    // Many writers race from the same version: exactly one wins.
    const RACERS: usize = 16;
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let (store, start) = (store.clone(), start.clone());
        let attempt = next_version(&winner, json!({"n": 2, "by": i}));
        racers.spawn(async move {
            start.wait().await;
            let won = store
                .compare_and_swap(&attempt, attempt.version - 1)
                .await
                .expect("compare_and_swap succeeds");
            (attempt, won)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = racers.join_next().await {
        let (attempt, won) = joined.expect("racing task does not panic");
        if won {
            winners.push(attempt);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "{RACERS} simultaneous swaps from one version: exactly one may win"
    );
    let loaded = load_live(&store, &base.id, "after the race").await;
    assert_same_record(
        &loaded,
        &winners[0],
        "record after the race is the winner's",
    );
}

/// Compare-and-swap on a deleted record reports `false` and does not create it again
/// (a concurrent logout stays a logout).
pub async fn compare_and_swap_on_deleted_record_is_false_and_does_not_recreate_it<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let record = record(json!({"logged_in": true}));
    create(&store, &record).await;
    assert!(
        delete(&store, &record.id).await,
        "delete of a live record reports it"
    );
    assert!(
        !cas(
            &store,
            &next_version(&record, json!({"logged_in": true, "n": 1})),
            record.version
        )
        .await,
        "compare_and_swap on a deleted record reported success"
    );
    assert!(
        load(&store, &record.id).await.is_none(),
        "compare_and_swap re-created a deleted record"
    );
    assert!(
        !cas(&store, &record, 0).await,
        "compare_and_swap with any version on a deleted record must be refused"
    );
    assert!(
        load(&store, &record.id).await.is_none(),
        "a deleted record came back"
    );
}

/// Two handles opened on one session both change it and both save: the second save
/// loses the compare-and-swap, re-applies its operations to the winner's record and
/// nothing is lost (both pushes, the sum of both increments, both merges, both inserts).
pub async fn concurrent_session_saves_merge_instead_of_losing_updates<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let id = saved_session(
        &store,
        json!({"items": ["start"], "visits": 1, "prefs": {"lang": "en"}}),
    )
    .await;

    let a = open(&store, Some(id.clone()));
    let b = open(&store, Some(id.clone()));
    // Both load the same version before either saves.
    a.push("items", "from-a").await.expect("push on a");
    b.push("items", "from-b").await.expect("push on b");
    assert_eq!(a.increment("visits", 2).await.expect("increment on a"), 3);
    assert_eq!(b.increment("visits", 5).await.expect("increment on b"), 6);
    a.merge("prefs", data(json!({"theme": "dark"})))
        .await
        .expect("merge on a");
    b.merge("prefs", data(json!({"font": "large"})))
        .await
        .expect("merge on b");
    a.insert("a_only", true).await.expect("insert on a");
    b.insert("b_only", true).await.expect("insert on b");

    a.save().await.expect("first save");
    b.save()
        .await
        .expect("second save, after a conflict, merges");

    let stored = load_live(&store, &id.hash(), "session saved by two handles").await;
    let expected = data(json!({
        "items": ["start", "from-a", "from-b"],
        "visits": 8,
        "prefs": {"lang": "en", "theme": "dark", "font": "large"},
        "a_only": true,
        "b_only": true,
    }));
    assert_eq!(stored.data, expected, "both handles' changes are stored");
    assert_eq!(
        stored.version, 3,
        "created at version 1, then one write per handle"
    );
    assert_eq!(
        a.id().await,
        Some(id.clone()),
        "a save keeps the session id"
    );
    assert_eq!(
        b.id().await,
        Some(id.clone()),
        "a merged save keeps the session id"
    );
    assert_eq!(
        b.items().await.expect("items of b"),
        expected,
        "after the merge, the second handle sees the merged data"
    );
}

/// Two hundred tasks each open the same session, push a distinct item and save at the
/// same time: the list ends up with all two hundred items.
pub async fn two_hundred_concurrent_pushes_lose_nothing<S>(store: S)
where
    S: SessionStore + Clone,
{
    const TASKS: usize = 200;
    let _shared = shared().await;
    let id = saved_session(&store, json!({"items": []})).await;

    // Every task loads before any saves, so every save but the first starts stale.
    let loaded = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for i in 0..TASKS {
        let (store, id, loaded) = (store.clone(), id.clone(), loaded.clone());
        tasks.spawn(async move {
            let session = open(&store, Some(id));
            session.push("items", format!("item-{i:03}")).await?;
            loaded.wait().await;
            session.save().await?;
            Ok::<_, Error>(session.id().await)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let saved_as = joined
            .expect("pushing task does not panic")
            .expect("every concurrent save succeeds");
        assert_eq!(saved_as, Some(id.clone()), "a save keeps the session id");
    }

    let stored = load_live(&store, &id.hash(), "session after 200 pushes").await;
    let items: Vec<String> = serde_json::from_value(
        stored
            .data
            .get("items")
            .cloned()
            .expect("the list is stored"),
    )
    .expect("the list holds strings");
    let distinct: BTreeSet<&String> = items.iter().collect();
    let expected: BTreeSet<String> = (0..TASKS).map(|i| format!("item-{i:03}")).collect();
    assert_eq!(
        items.len(),
        TASKS,
        "one item per push, none lost, none doubled"
    );
    assert_eq!(
        distinct,
        expected.iter().collect::<BTreeSet<_>>(),
        "every pushed item is stored"
    );
}

/// A handle that loaded a session which is then deleted through the store (a logout in
/// another tab) fails its save with [`Error::Interrupted`] and stores nothing, whether
/// it modified or cycled the session.
pub async fn save_after_concurrent_delete_is_interrupted_not_resurrected<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let id = saved_session(&store, json!({"cart": ["apple"]})).await;
    let a = open(&store, Some(id.clone()));
    a.push("cart", "pear").await.expect("push");
    a.increment("visits", 1).await.expect("increment");
    assert!(
        delete(&store, &id.hash()).await,
        "delete of a live session reports it"
    );
    match a.save().await {
        Err(Error::Interrupted) => {}
        other => panic!(
            "save after a concurrent delete: expected Err(Error::Interrupted), got {other:?}"
        ),
    }
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "a save re-created a deleted session"
    );
    assert_eq!(a.id().await, None, "an interrupted session has no id");

    // The same through an id cycle: no new record appears under a new id either.
    let id = saved_session(&store, json!({"cart": ["apple"]})).await;
    let c = open(&store, Some(id.clone()));
    c.cycle_id().await.expect("cycle_id");
    assert!(
        delete(&store, &id.hash()).await,
        "delete of a live session reports it"
    );
    match c.save().await {
        Err(Error::Interrupted) => {}
        other => panic!("cycling save after a concurrent delete: expected Err(Error::Interrupted), got {other:?}"),
    }
    assert_eq!(c.id().await, None, "an interrupted cycle draws no new id");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "a cycle re-created a deleted session"
    );
}

/// `touch` moves `expires_at` (the record then outlives its old expiry) and leaves
/// data, version, creation time, expiry override and user as they were; a
/// compare-and-swap from the pre-touch version still succeeds.
pub async fn touch_moves_expiry_without_touching_data_or_version<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let mut record = record_until(
        json!({"cart": ["apple"], "nested": {"a": [1, 2]}}),
        now() + Duration::seconds(2),
    );
    record.version = 5;
    record.expiry = Expiry::Idle(Duration::minutes(20));
    record.user = Some(unique("toucher"));
    create(&store, &record).await;

    let later = now() + Duration::hours(3);
    assert!(
        touch(&store, &record.id, later).await,
        "touch of a live record reports it"
    );
    let mut expected = record.clone();
    expected.expires_at = later;
    let touched = load_live(&store, &record.id, "a touched record").await;
    assert_eq!(
        touched.expires_at.unix_timestamp(),
        later.unix_timestamp(),
        "touch moved expires_at"
    );
    assert_eq!(touched.data, record.data, "touch left the data alone");
    assert_eq!(
        touched.version, record.version,
        "touch left the version alone"
    );
    assert_eq!(
        touched.created_at.unix_timestamp(),
        record.created_at.unix_timestamp(),
        "created_at"
    );
    assert_eq!(
        touched.expiry, record.expiry,
        "touch left the expiry override alone"
    );
    assert_eq!(touched.user, record.user, "touch left the user alone");

    // The old expiry passes: the record lives on.
    sleep_past(record.expires_at, Duration::seconds(1)).await;
    let still = load_live(&store, &record.id, "a record touched past its old expiry").await;
    assert_eq!(
        still.expires_at.unix_timestamp(),
        later.unix_timestamp(),
        "expires_at after the old expiry"
    );
    assert_eq!(still.data, record.data, "data after the old expiry");

    let next = next_version(&record, json!({"cart": ["apple", "pear"]}));
    assert!(
        cas(&store, &next, record.version).await,
        "compare_and_swap from the version before the touch must succeed (touch bumped the version?)"
    );
}

/// `touch` of an id that was never stored, or was deleted, reports `false` and creates
/// nothing.
pub async fn touch_of_missing_record_is_false<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let unknown = new_id().hash();
    assert!(
        !touch(&store, &unknown, now() + Duration::hours(1)).await,
        "touch of an unknown id"
    );
    assert!(
        load(&store, &unknown).await.is_none(),
        "touch created a record"
    );

    let record = record(json!({"a": 1}));
    create(&store, &record).await;
    assert!(
        delete(&store, &record.id).await,
        "delete of a live record reports it"
    );
    assert!(
        !touch(&store, &record.id, now() + Duration::hours(1)).await,
        "touch of a deleted record"
    );
    assert!(
        load(&store, &record.id).await.is_none(),
        "touch re-created a deleted record"
    );
}

/// `delete` reports `true` for a stored record (which is then gone) and `false` for a
/// record already deleted or never stored; other records are left alone.
pub async fn delete_returns_whether_a_record_existed<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let doomed = record(json!({"a": 1}));
    let neighbour = record(json!({"b": 2}));
    create(&store, &doomed).await;
    create(&store, &neighbour).await;
    assert!(
        delete(&store, &doomed.id).await,
        "delete of a stored record reports it"
    );
    assert!(
        load(&store, &doomed.id).await.is_none(),
        "a deleted record still loads"
    );
    assert!(
        !delete(&store, &doomed.id).await,
        "second delete of a record reports none"
    );
    assert!(
        !delete(&store, &new_id().hash()).await,
        "delete of an unknown id reports none"
    );
    let loaded = load_live(&store, &neighbour.id, "a record next to a deleted one").await;
    assert_same_record(&loaded, &neighbour, "neighbour of a deleted record");
}

async fn delete_expired_case<S>(store: S, batch: u64)
where
    S: SessionStore + Clone,
{
    let Some(deletion) = store.expired_deletion() else {
        eprintln!("skipped: {} has no ExpiredDeletion", store_name::<S>());
        return;
    };
    let _alone = alone().await;
    // Leftovers of earlier runs on a shared server are not this case's business.
    drain(deletion, batch).await;

    const DOOMED: u64 = 5;
    let expires_at = OffsetDateTime::now_utc() + Duration::seconds(1);
    let doomed: Vec<Record> = (0..DOOMED)
        .map(|i| {
            let mut r = Record::new(
                new_id().hash(),
                data(json!({"doomed": i})),
                OffsetDateTime::now_utc(),
                expires_at,
            );
            r.user = (i == 0).then(|| unique("doomed-user"));
            r
        })
        .collect();
    let live: Vec<Record> = (0..3).map(|i| record(json!({"live": i}))).collect();
    for r in doomed.iter().chain(&live) {
        create(&store, r).await;
    }
    sleep_past(expires_at, Duration::milliseconds(500)).await;

    let deleted = drain(deletion, batch).await;
    assert_eq!(
        deleted, DOOMED,
        "delete_expired({batch}) until it returns less than {batch}: \
         {DOOMED} records expired, {deleted} reported deleted"
    );
    for r in &doomed {
        assert!(
            load(&store, &r.id).await.is_none(),
            "an expired record loads"
        );
    }
    for r in &live {
        let loaded = load_live(&store, &r.id, "a live record after delete_expired").await;
        assert_same_record(&loaded, r, "live record after delete_expired");
    }
    assert_eq!(
        drain(deletion, batch).await,
        0,
        "delete_expired right after clearing everything reports deletions"
    );
}

/// (Stores with [`ExpiredDeletion`].) `delete_expired(1000)`, called until it returns
/// less than 1000, deletes exactly the expired records and reports their number; live
/// records still load.
pub async fn delete_expired_removes_only_expired_records_and_counts_them<S>(store: S)
where
    S: SessionStore + Clone,
{
    delete_expired_case(store, 1000).await;
}

/// (Stores with [`ExpiredDeletion`].) With a batch smaller than the number of expired
/// records, `delete_expired(2)` deletes at most 2 per call and the calls until one
/// returns less than 2 add up to every expired record.
pub async fn delete_expired_in_small_batches_counts_every_record<S>(store: S)
where
    S: SessionStore + Clone,
{
    delete_expired_case(store, 2).await;
}

/// The listing pages through every live session in id-hash order, without repeats,
/// never shows an expired one, and its statistics count live sessions, their expiry
/// horizon and sessions per user.
pub async fn listing_pages_through_live_sessions_and_counts_them<S>(store: S)
where
    S: SessionStore + Clone,
{
    let Some(listing) = store.listing() else {
        eprintln!("skipped: {} has no SessionListing", store_name::<S>());
        return;
    };
    let _alone = alone().await;
    let user = unique("lister");
    let stats = || async {
        listing
            .stats(now(), 1_000_000)
            .await
            .expect("stats succeed")
    };
    let before = stats().await;
    let soon = record_until(json!({"n": 1}), now() + Duration::minutes(30));
    let mut mine = record_until(json!({"n": 2}), now() + Duration::hours(3));
    mine.user = Some(user.clone());
    let mut also_mine = record_until(json!({"n": 3}), now() + Duration::days(3));
    also_mine.user = Some(user.clone());
    let expired = record_until(json!({"n": 4}), now() + Duration::seconds(1));
    for r in [&soon, &mine, &also_mine, &expired] {
        create(&store, r).await;
    }
    sleep_past(expired.expires_at, Duration::milliseconds(200)).await;

    let mut seen = Vec::new();
    let mut after: Option<IdHash> = None;
    loop {
        let page = listing
            .list(after.as_ref(), 2)
            .await
            .expect("list succeeds");
        assert!(page.len() <= 2, "a page holds at most `limit` sessions");
        assert!(
            page.windows(2)
                .all(|w| w[0].id.as_bytes() < w[1].id.as_bytes()),
            "pages are in id-hash order"
        );
        if let (Some(a), Some(first)) = (&after, page.first()) {
            assert!(
                first.id.as_bytes() > a.as_bytes(),
                "a page starts after `after`"
            );
        }
        seen.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.id),
            _ => break,
        }
    }
    let unique_seen: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique_seen.len(), seen.len(), "no session is listed twice");
    for r in [&soon, &mine, &also_mine] {
        assert!(seen.contains(&r.id), "every live session is listed");
    }
    assert!(
        !seen.contains(&expired.id),
        "an expired session is never listed"
    );

    let after_stats = stats().await;
    assert_eq!(after_stats.live, before.live + 3, "live sessions");
    assert_eq!(
        after_stats.expiring_within_hour,
        before.expiring_within_hour + 1,
        "expiring within an hour"
    );
    assert_eq!(
        after_stats.expiring_within_day,
        before.expiring_within_day + 2,
        "expiring within a day"
    );
    assert_eq!(
        after_stats.with_user,
        before.with_user + 2,
        "sessions bound to a user"
    );
    assert!(
        after_stats.top_users.contains(&(user.clone(), 2)),
        "the user's two sessions are counted: {:?}",
        after_stats.top_users
    );
    for r in [&soon, &mine, &also_mine] {
        delete(&store, &r.id).await;
    }
}

/// (Stores with [`UserIndex`].) `sessions_of` lists a user's sessions, oldest first,
/// and nobody else's; `delete_sessions_of` revokes all of them but the one kept and
/// reports how many; `count` follows; re-binding a session to another user (or to none)
/// with compare-and-swap moves it in the index.
///
/// [`UserIndex`]: sessionkit_core::UserIndex
pub async fn user_index_lists_and_revokes_sessions_of_a_user<S>(store: S)
where
    S: SessionStore + Clone,
{
    let Some(index) = store.user_index() else {
        eprintln!("skipped: {} has no UserIndex", store_name::<S>());
        return;
    };
    let _alone = alone().await;
    let count = || async { index.count().await.expect("count succeeds") };
    let sessions_of = |user: String| async move {
        index
            .sessions_of(&user)
            .await
            .expect("sessions_of succeeds")
    };
    let ids = |records: &[Record]| records.iter().map(|r| r.id).collect::<Vec<_>>();

    let (alice, bob) = (unique("alice"), unique("bob"));
    let before = count().await;
    let now = now();
    let mut alices = Vec::new();
    for (i, age) in [30, 20, 10].into_iter().enumerate() {
        let mut r = Record::new(
            new_id().hash(),
            data(json!({"device": i})),
            now - Duration::seconds(age),
            now + Duration::hours(1),
        );
        r.user = Some(alice.clone());
        alices.push(r);
    }
    // Created newest first, so that insertion order is not the expected order.
    for r in alices.iter().rev() {
        create(&store, r).await;
    }
    let mut bobs = record(json!({"device": "bob's phone"}));
    bobs.user = Some(bob.clone());
    create(&store, &bobs).await;
    let anonymous = record(json!({"device": "nobody's"}));
    create(&store, &anonymous).await;
    assert_eq!(count().await, before + 5, "count after creating 5 sessions");

    let listed = sessions_of(alice.clone()).await;
    assert_eq!(
        ids(&listed),
        ids(&alices),
        "sessions_of(alice): her 3 sessions, oldest first"
    );
    for (got, want) in listed.iter().zip(&alices) {
        assert_same_record(got, want, "a record listed by sessions_of");
    }
    assert_eq!(
        ids(&sessions_of(bob.clone()).await),
        vec![bobs.id],
        "sessions_of(bob)"
    );
    assert!(
        sessions_of(unique("nobody")).await.is_empty(),
        "sessions_of an unknown user"
    );

    let keep = alices[1].clone();
    let revoked = index
        .delete_sessions_of(&alice, Some(&keep.id))
        .await
        .expect("delete_sessions_of succeeds");
    assert_eq!(
        revoked, 2,
        "delete_sessions_of(alice, except one) deletes the other two"
    );
    assert_eq!(
        ids(&sessions_of(alice.clone()).await),
        vec![keep.id],
        "alice keeps one session"
    );
    for r in [&alices[0], &alices[2]] {
        assert!(
            load(&store, &r.id).await.is_none(),
            "a revoked session still loads"
        );
    }
    for r in [&keep, &bobs, &anonymous] {
        load_live(&store, &r.id, "a session that was not revoked").await;
    }
    assert_eq!(count().await, before + 3, "count after revoking 2 sessions");

    // Re-binding alice's kept session to bob moves it.
    let mut moved = next_version(&keep, json!({"device": 1, "moved": true}));
    moved.user = Some(bob.clone());
    assert!(cas(&store, &moved, keep.version).await, "re-binding swap");
    assert!(
        sessions_of(alice.clone()).await.is_empty(),
        "alice's re-bound session is no longer hers"
    );
    let bob_ids: BTreeSet<String> = sessions_of(bob.clone())
        .await
        .iter()
        .map(|r| r.id.to_hex())
        .collect();
    let want: BTreeSet<String> = [moved.id, bobs.id].iter().map(IdHash::to_hex).collect();
    assert_eq!(bob_ids, want, "bob has his session and the re-bound one");

    // Unbinding removes a session from the index.
    let mut unbound = next_version(&bobs, json!({"device": "bob's phone", "logged_out": true}));
    unbound.user = None;
    assert!(cas(&store, &unbound, bobs.version).await, "unbinding swap");
    assert_eq!(
        ids(&sessions_of(bob.clone()).await),
        vec![moved.id],
        "an unbound session is nobody's"
    );

    // "Log out everywhere".
    let revoked = index
        .delete_sessions_of(&bob, None)
        .await
        .expect("delete_sessions_of succeeds");
    assert_eq!(
        revoked, 1,
        "delete_sessions_of(bob, None) deletes his one session"
    );
    assert!(
        sessions_of(bob.clone()).await.is_empty(),
        "bob has no sessions left"
    );
    assert!(
        load(&store, &moved.id).await.is_none(),
        "a revoked session still loads"
    );
    load_live(
        &store,
        &unbound.id,
        "an unbound session survives its old user's revocation",
    )
    .await;
    assert_eq!(
        count().await,
        before + 2,
        "count after revoking every session of bob"
    );

    for r in [&unbound, &anonymous] {
        assert!(delete(&store, &r.id).await, "cleanup delete");
    }
    assert_eq!(
        count().await,
        before,
        "count after deleting what this case created"
    );
}

// ---------------------------------------------------------------------------------------
// Through the engine
// ---------------------------------------------------------------------------------------

/// The engine's configuration with rotation grace window `grace`.
fn config_with_grace(grace: Duration) -> SessionConfig {
    SessionConfig {
        rotation_grace: grace,
        ..SessionConfig::default()
    }
}

/// Asserts that the record of `old` no longer holds the session after a rotation to
/// `new`: it is gone, or (rotation grace window) it is a stub with no data and no user
/// that points at `new` and expires within minutes.
async fn assert_rotated_away<S: SessionStore>(store: &S, old: &SessionId, new: &SessionId) {
    let Some(stub) = load(store, &old.hash()).await else {
        return;
    };
    assert_eq!(
        stub.moved_to,
        Some(new.hash()),
        "the old id's record is gone or points at the new id"
    );
    assert!(stub.data.is_empty(), "the old id's record keeps no data");
    assert_eq!(stub.user, None, "the old id's record keeps no user");
    assert!(
        stub.expires_at <= OffsetDateTime::now_utc() + Duration::minutes(15),
        "the old id's record expires within minutes, not with the session"
    );
}

/// `cycle_id` then save: the session gets a new id and keeps its data (including
/// changes made in the same request) and creation time. Without a rotation grace window
/// the old id's record is deleted; with one, the old id's record becomes a stub pointing
/// at the new one (the store keeps `moved_to`), the old id opens the session during the
/// window and an empty session after it.
pub async fn cycle_id_keeps_data_and_deletes_old_record<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    // No grace window: the old record is deleted at once.
    let old = saved_session(&store, json!({"cart": ["apple"], "n": 1})).await;
    let created_at = load_live(&store, &old.hash(), "before the cycle")
        .await
        .created_at;
    let session = Session::open(
        store.clone(),
        config_with_grace(Duration::ZERO),
        Some(old.clone()),
    );
    session.insert("after", true).await.expect("insert");
    session.cycle_id().await.expect("cycle_id");
    session.save().await.expect("save with a cycled id");
    let new = session.id().await.expect("a cycled session has an id");
    assert_ne!(new, old, "cycle_id gives a new id");
    assert!(
        load(&store, &old.hash()).await.is_none(),
        "without a grace window, the old id's record is gone"
    );
    let stored = load_live(&store, &new.hash(), "the record under the new id").await;
    assert_eq!(
        stored.data,
        data(json!({"cart": ["apple"], "n": 1, "after": true})),
        "the data moves to the new id"
    );
    assert_eq!(
        stored.created_at.unix_timestamp(),
        created_at.unix_timestamp(),
        "a cycled session keeps its creation time"
    );
    let again = open(&store, Some(new));
    assert_eq!(
        again.get::<Vec<String>>("cart").await.expect("get"),
        Some(vec!["apple".to_owned()]),
        "a new handle on the new id sees the data"
    );
    let stale = open(&store, Some(old));
    assert!(
        stale.is_empty().await.expect("is_empty"),
        "the old id opens an empty session"
    );

    // With a grace window: the old id forwards to the new record for a while.
    let grace = Duration::seconds(2);
    let old = saved_session(&store, json!({"cart": ["pear"]})).await;
    let session = Session::open(store.clone(), config_with_grace(grace), Some(old.clone()));
    session.cycle_id().await.expect("cycle_id");
    session.save().await.expect("save with a cycled id");
    let rotated_at = OffsetDateTime::now_utc();
    let new = session.id().await.expect("a cycled session has an id");
    assert_ne!(new, old, "cycle_id gives a new id");
    assert_rotated_away(&store, &old, &new).await;
    let stored = load_live(&store, &new.hash(), "the record under the new id").await;
    assert_eq!(
        stored.data,
        data(json!({"cart": ["pear"]})),
        "the data moves to the new id"
    );
    let in_flight = Session::open(store.clone(), config_with_grace(grace), Some(old.clone()));
    assert_eq!(
        in_flight.get::<Vec<String>>("cart").await.expect("get"),
        Some(vec!["pear".to_owned()]),
        "during the grace window the old id reaches the new record"
    );

    sleep_past(rotated_at + grace, Duration::seconds(1)).await;
    let late = Session::open(store.clone(), config_with_grace(grace), Some(old.clone()));
    assert!(
        late.is_empty().await.expect("is_empty"),
        "after the grace window the old id opens an empty session"
    );
    late.insert("late", true).await.expect("insert");
    late.save().await.expect("save");
    let issued = late.id().await.expect("a saved session has an id");
    assert!(
        issued != old && issued != new,
        "a session saved from a rotated-away id gets a fresh id"
    );
    let stored = load_live(&store, &new.hash(), "the rotated session after the window").await;
    assert_eq!(
        stored.data,
        data(json!({"cart": ["pear"]})),
        "late use of the old id leaves the new record alone"
    );
}

/// `login(user)` then save: a new id, the data kept, the user bound (and listed by the
/// user index when the store has one), the old id's record gone or a data-less pointer
/// to the new one (rotation grace window). After a login as another user the old id
/// opens an empty session, not the new user's. A brand-new session can log in too.
pub async fn login_binds_user_and_cycles_id<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let user = unique("login-user");
    let old = saved_session(&store, json!({"cart": ["apple"]})).await;
    let session = open(&store, Some(old.clone()));
    session.login(&user).await.expect("login");
    session.save().await.expect("save after login");
    let new = session.id().await.expect("a logged-in session has an id");
    assert_ne!(new, old, "login cycles the id");
    assert_rotated_away(&store, &old, &new).await;
    let stored = load_live(&store, &new.hash(), "the logged-in record").await;
    assert_eq!(
        stored.user.as_deref(),
        Some(user.as_str()),
        "login binds the user"
    );
    assert_eq!(
        stored.data,
        data(json!({"cart": ["apple"]})),
        "login keeps the data"
    );
    assert_eq!(session.user().await.expect("user"), Some(user.clone()));
    if let Some(index) = store.user_index() {
        let listed = index
            .sessions_of(&user)
            .await
            .expect("sessions_of succeeds");
        assert_eq!(
            listed.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![new.hash()],
            "sessions_of lists the logged-in session, not the rotated-away id"
        );
    }

    // A login as another user on the same browser: the first user's id, presented again
    // inside the grace window (a request sent before the browser had the new cookie),
    // opens an empty session, never the second user's; its record still points at the
    // second user's for the first session's requests already in flight.
    let second = unique("login-user");
    let switched = open(&store, Some(new.clone()));
    switched
        .login(&second)
        .await
        .expect("login as another user");
    switched.insert("second", true).await.expect("insert");
    switched
        .save()
        .await
        .expect("save after a login as another user");
    let newer = switched.id().await.expect("a logged-in session has an id");
    assert_ne!(newer, new, "a login as another user cycles the id");
    let pointer = load(&store, &new.hash())
        .await
        .expect("the first user's id keeps a pointer for the grace window");
    assert_eq!(pointer.moved_to, Some(newer.hash()));
    assert_eq!(pointer.user, None, "the pointer names no user");
    let late = open(&store, Some(new.clone()));
    assert_eq!(
        late.user().await.expect("user"),
        None,
        "the first user's id, presented after a login as another user, is no one's"
    );
    assert!(
        late.is_empty().await.expect("is_empty"),
        "the first user's id, presented after a login as another user, opens an empty session"
    );
    late.insert("late", true).await.expect("insert");
    late.save().await.expect("save");
    let late_id = late.id().await.expect("a saved session has an id");
    assert!(
        late_id != new && late_id != newer,
        "a write on it starts a session of its own"
    );
    let stored = load_live(&store, &newer.hash(), "the second user's record").await;
    assert_eq!(stored.user.as_deref(), Some(second.as_str()));
    assert_eq!(
        stored.data,
        data(json!({"second": true})),
        "the second user's session gets none of the first's data, nor the late write"
    );

    let other = unique("login-user");
    let fresh = Session::open(store.clone(), config_with_grace(Duration::ZERO), None);
    fresh.insert("theme", "dark").await.expect("insert");
    fresh.login(&other).await.expect("login of a new session");
    fresh.save().await.expect("save of a new logged-in session");
    let id = fresh.id().await.expect("a saved session has an id");
    let stored = load_live(&store, &id.hash(), "a new logged-in record").await;
    assert_eq!(
        stored.user.as_deref(),
        Some(other.as_str()),
        "a new session's login binds the user"
    );
    assert_eq!(stored.data, data(json!({"theme": "dark"})));
}

/// `flush` then save deletes the stored record, whether or not the session was loaded
/// first, and leaves the handle empty and without an id.
pub async fn flush_deletes_the_record<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let id = saved_session(&store, json!({"cart": ["apple"]})).await;
    let session = open(&store, Some(id.clone()));
    assert!(
        session.contains("cart").await.expect("contains"),
        "the session loads"
    );
    session.flush().await;
    session.save().await.expect("save after flush");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "a flushed session's record is gone"
    );
    assert_eq!(session.id().await, None, "a flushed session has no id");
    assert!(
        session.is_empty().await.expect("is_empty"),
        "a flushed session is empty"
    );

    let id = saved_session(&store, json!({"cart": ["pear"]})).await;
    let unread = open(&store, Some(id.clone()));
    unread.flush().await;
    unread.save().await.expect("save after flush");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "flushing a session that was never read deletes its record"
    );
}

/// A session whose last key is removed (or that is cleared) is deleted at save, and a
/// new session that never got data is never stored.
pub async fn emptied_session_is_deleted_at_save<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let id = saved_session(&store, json!({"a": 1, "b": 2})).await;
    let session = open(&store, Some(id.clone()));
    assert_eq!(session.remove::<i64>("a").await.expect("remove"), Some(1));
    assert_eq!(session.remove::<i64>("b").await.expect("remove"), Some(2));
    session.save().await.expect("save of an emptied session");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "an emptied session's record is gone"
    );
    assert_eq!(session.id().await, None, "an emptied session has no id");

    let id = saved_session(&store, json!({"a": 1, "b": [1, 2]})).await;
    let session = open(&store, Some(id.clone()));
    session.clear().await.expect("clear");
    session.save().await.expect("save of a cleared session");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "a cleared session's record is gone"
    );

    let empty = open(&store, None);
    assert!(empty.is_empty().await.expect("is_empty"));
    empty.save().await.expect("save of an empty session");
    assert_eq!(empty.id().await, None, "an empty new session is not stored");
}

/// A16/B6/B7: `is_empty` says what a save does. A session with no data and no bound
/// user is empty and is not stored; one with data is not empty and is stored; a stored
/// session whose last key is removed is empty again and its record is deleted; a
/// session bound to a user without any data (a login alone) is stored, so it is not
/// empty, before and after the save and when opened again.
pub async fn is_empty_agrees_with_what_save_stores<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let fresh = open(&store, None);
    assert!(
        fresh.is_empty().await.expect("is_empty"),
        "no data, no user"
    );
    fresh.save().await.expect("save of an empty session");
    assert_eq!(fresh.id().await, None, "an empty session is not stored");

    let with_data = open(&store, None);
    with_data.insert("k", 1).await.expect("insert");
    assert!(!with_data.is_empty().await.expect("is_empty"), "data");
    with_data.save().await.expect("save");
    let id = with_data.id().await.expect("a session with data is stored");
    load_live(&store, &id.hash(), "a session with data").await;

    let emptied = open(&store, Some(id.clone()));
    assert!(
        !emptied.is_empty().await.expect("is_empty"),
        "loaded with data"
    );
    assert_eq!(emptied.remove::<i64>("k").await.expect("remove"), Some(1));
    assert!(
        emptied.is_empty().await.expect("is_empty"),
        "last key removed"
    );
    emptied.save().await.expect("save of an emptied session");
    assert!(
        load(&store, &id.hash()).await.is_none(),
        "an emptied session's record is deleted"
    );

    let user = unique("is-empty-user");
    let login_only = open(&store, None);
    login_only.login(&user).await.expect("login");
    login_only.save().await.expect("save of a login alone");
    let id = login_only.id().await.expect("a login alone is stored");
    let stored = load_live(&store, &id.hash(), "a session holding only a user").await;
    assert_eq!(stored.user.as_deref(), Some(user.as_str()));
    assert!(stored.data.is_empty(), "{:?}", stored.data);
    assert!(
        !login_only.is_empty().await.expect("is_empty"),
        "a session bound to a user is stored, so it is not empty"
    );
    let reopened = open(&store, Some(id));
    assert!(
        !reopened.is_empty().await.expect("is_empty"),
        "a stored login-only session, opened again, is not empty"
    );
}

/// A14: keys named like the record's own fields or like other frameworks' internals
/// (`user`, `expiry`, `version`, `moved_to`, `id`, `data`, `_session_expiry`, `save`,
/// ...) are plain data: they round-trip through the engine and the store and change
/// nothing else. The record's user stays unset, its expiry override is the default
/// (the 14-day idle timeout applies), its version is 1 and it has no rotation pointer;
/// a session opened from it is anonymous with the default expiry.
pub async fn reserved_looking_keys_are_plain_data<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let value = json!({
        "user": "mallory",
        "expiry": {"kind": "at", "value": 0},
        "version": 99,
        "moved_to": new_id().hash().to_hex(),
        "id": new_id().to_string(),
        "data": {"user": "mallory"},
        "created_at": 0,
        "expires_at": 0,
        "_session_expiry": 0,
        "_permanent": true,
        "cookie": {"maxAge": 0},
        "save": "data, not a method",
    });
    let id = saved_session(&store, value.clone()).await;
    let record = load_live(&store, &id.hash(), "a session with reserved-looking keys").await;
    assert_eq!(
        record.data,
        data(value.clone()),
        "every key is stored as data"
    );
    assert_eq!(record.user, None, "a `user` key binds no user");
    assert_eq!(
        record.expiry,
        Expiry::Default,
        "an `expiry` key sets no expiry"
    );
    assert_eq!(record.version, 1, "a `version` key is not the version");
    assert_eq!(record.moved_to, None, "a `moved_to` key rotates nothing");
    assert!(
        record.expires_at > now() + Duration::days(13),
        "the default idle timeout applies, not an `expires_at` key: {}",
        record.expires_at
    );

    let session = open(&store, Some(id));
    assert_eq!(session.user().await.expect("user"), None);
    assert_eq!(session.expiry().await.expect("expiry"), Expiry::Default);
    for (key, want) in data(value) {
        assert_eq!(
            session.get_value(&key).await.expect("get_value"),
            Some(want),
            "value under key {key:?}"
        );
    }
}

/// Non-ASCII keys and values (accents, CJK, emoji with joiners, right-to-left text) and
/// keys and values with quotes, backslashes, control characters and NUL survive the
/// store unchanged, directly and through the engine.
pub async fn unicode_keys_and_values_round_trip<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let value = json!({
        "名前": "¡Hola, Mundo!",
        "¡Hola, Mundo!": "こんにちは、世界!",
        "こんにちは、世界!": {"ネスト": ["ü", "ß", "ø", "Ω", "𝄞", "한국어"]},
        "emoji 🦀🎉👩‍👩‍👧‍👦": "🏳️‍🌈 and 🇯🇵",
        "quote \" backslash \\ nul \0 tab \t newline \n end": "v \" \\ \0 \u{1} \u{7f} \u{2028} \u{feff}",
        "'single' `back` $dollar {brace} %percent ;semicolon --": "'; DROP TABLE sessions; --",
        "עברית العربية": "\u{202e}reversed",
        "": "empty key",
    });

    let record = record(value.clone());
    create(&store, &record).await;
    let loaded = load_live(&store, &record.id, "a unicode record").await;
    assert_same_record(&loaded, &record, "unicode record");
    let mut changed = value.clone();
    changed["名前"] = json!("さようなら 👋");
    let next = next_version(&record, changed);
    assert!(
        cas(&store, &next, record.version).await,
        "swap of a unicode record"
    );
    let loaded = load_live(&store, &record.id, "a swapped unicode record").await;
    assert_same_record(&loaded, &next, "swapped unicode record");

    let id = saved_session(&store, value.clone()).await;
    let session = open(&store, Some(id));
    for (key, want) in data(value) {
        assert_eq!(
            session.get_value(&key).await.expect("get_value"),
            Some(want),
            "value under key {key:?}"
        );
    }
}

/// A 1 MiB string and a 10,000-element list are stored and loaded intact, and a session
/// holding them can be changed and saved again.
pub async fn large_values_round_trip<S>(store: S)
where
    S: SessionStore + Clone,
{
    const MIB: usize = 1 << 20;
    const ITEMS: usize = 10_000;
    let _shared = shared().await;
    let mut big = String::with_capacity(MIB);
    while big.len() < MIB - 16 {
        big.push_str(&format!("{:015x}|", big.len()));
    }
    while big.len() < MIB - 3 {
        big.push('.');
    }
    big.push('終'); // three bytes: a truncated end shows
    assert_eq!(big.len(), MIB);
    let list: Vec<Value> = (0..ITEMS)
        .map(|i| json!({"i": i, "name": format!("item-{i}")}))
        .collect();

    let sid = new_id();
    let mut record = record(json!({"big": big, "list": list}));
    record.id = sid.hash();
    create(&store, &record).await;
    let loaded = load_live(&store, &record.id, "a record with large values").await;
    assert!(
        loaded.data.get("big").and_then(Value::as_str) == Some(big.as_str()),
        "the 1 MiB string comes back intact (got {} bytes)",
        loaded
            .data
            .get("big")
            .and_then(Value::as_str)
            .map_or(0, str::len)
    );
    assert!(
        loaded.data.get("list").and_then(Value::as_array) == Some(&list),
        "the {ITEMS}-element list comes back intact (got {} elements)",
        loaded
            .data
            .get("list")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    );
    assert_same_record(&loaded, &record, "record with large values");

    let session = open(&store, Some(sid.clone()));
    session
        .push("list", json!({"i": ITEMS}))
        .await
        .expect("push");
    session.save().await.expect("save of a large session");
    let stored = load_live(&store, &sid.hash(), "a large session after a save").await;
    assert_eq!(
        stored
            .data
            .get("list")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(ITEMS + 1),
        "the list grew by one"
    );
    assert!(
        stored.data.get("big").and_then(Value::as_str) == Some(big.as_str()),
        "the 1 MiB string survives a save"
    );
}

/// Stored bytes overwritten with garbage (by the store's `corrupt` function) give an
/// empty session instead of a panic or an error; the next save of that session creates
/// a new id rather than adopting the corrupt one.
pub async fn corrupt_stored_bytes_give_an_empty_session_not_a_panic<S, C, F>(store: S, corrupt: C)
where
    S: SessionStore + Clone,
    C: FnOnce(S, IdHash) -> F,
    F: Future<Output = ()>,
{
    let _shared = shared().await;
    let id = saved_session(&store, json!({"secret": "before", "n": 1})).await;
    corrupt(store.clone(), id.hash()).await;
    match store.load(&id.hash()).await {
        Err(StoreError::Corrupt(_)) | Ok(None) => {}
        Ok(Some(r)) => panic!(
            "load of corrupted bytes returned a record (did the corruptor write garbage?): {r:?}"
        ),
        Err(e) => panic!("load of corrupted bytes: expected StoreError::Corrupt, got {e:?}"),
    }

    let session = open(&store, Some(id.clone()));
    assert_eq!(
        session
            .get::<String>("secret")
            .await
            .expect("get on a corrupt session"),
        None,
        "nothing is read from corrupt bytes"
    );
    assert!(
        session.is_empty().await.expect("is_empty"),
        "a corrupt session is empty"
    );
    session.insert("after", 1).await.expect("insert");
    session
        .save()
        .await
        .expect("save of a session that was corrupt");
    let new = session.id().await.expect("a saved session has an id");
    assert_ne!(new, id, "the corrupt session's id is not adopted");
    let stored = load_live(&store, &new.hash(), "the session saved after corruption").await;
    assert_eq!(
        stored.data,
        data(json!({"after": 1})),
        "only the new data is stored"
    );
    assert!(
        !matches!(store.load(&id.hash()).await, Ok(Some(_))),
        "the corrupt id loads a record"
    );
}

/// The stand-in for [`corrupt_stored_bytes_give_an_empty_session_not_a_panic`] when the
/// store keeps typed records: prints `skipped: <store> keeps typed records, no bytes to
/// corrupt`.
pub async fn no_bytes_to_corrupt<S>(store: S)
where
    S: SessionStore + Clone,
{
    drop(store);
    eprintln!(
        "skipped: {} keeps typed records, no bytes to corrupt",
        store_name::<S>()
    );
}

/// A well-formed id that was never issued opens an empty session; saving it stores the
/// data under a newly drawn id, never under the client's.
pub async fn unknown_id_is_never_adopted<S>(store: S)
where
    S: SessionStore + Clone,
{
    let _shared = shared().await;
    let chosen = SessionId::parse(&new_id().to_string()).expect("a generated id parses");
    let session = open(&store, Some(chosen.clone()));
    assert_eq!(session.get::<i64>("n").await.expect("get"), None);
    assert!(
        session.is_empty().await.expect("is_empty"),
        "an unknown id opens an empty session"
    );
    assert_eq!(session.increment("n", 1).await.expect("increment"), 1);
    session.save().await.expect("save");
    let issued = session.id().await.expect("a saved session has an id");
    assert_ne!(issued, chosen, "the client's unknown id is not adopted");
    assert!(
        load(&store, &chosen.hash()).await.is_none(),
        "nothing is stored under the client's id"
    );
    let stored = load_live(&store, &issued.hash(), "the session under its issued id").await;
    assert_eq!(stored.data, data(json!({"n": 1})));
}
