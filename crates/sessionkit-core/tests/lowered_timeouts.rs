//! Timeouts lowered after sessions were saved (an operator's response to an incident)
//! apply at once: a stored session past the idle or absolute limit configured now is
//! empty on its next request, whatever expiry it was saved with.

use sessionkit_core::{
    Error, ExpiryPolicy, MemoryStore, Record, Session, SessionConfig, SessionId, SessionStore,
};
use time::{Duration, OffsetDateTime};

/// A session holding a cart, created `age` ago, last saved `idle` ago under the
/// default timeouts (so its stored expiry is days away); its id.
async fn saved_long_ago(store: &MemoryStore, age: Duration, idle: Duration) -> SessionId {
    let id = SessionId::generate().expect("randomness");
    let now = OffsetDateTime::now_utc();
    let mut data = serde_json::Map::new();
    data.insert("cart".into(), serde_json::json!(["apple"]));
    let mut record = Record::new(id.hash(), data, now - idle, now + Duration::days(10));
    record.created_at = now - age;
    store.create(&record).await.expect("create");
    id
}

fn config(idle: Duration, absolute: Option<Duration>) -> SessionConfig {
    SessionConfig {
        expiry: ExpiryPolicy {
            idle_timeout: idle,
            absolute_lifetime: absolute,
            ..ExpiryPolicy::default()
        },
        ..SessionConfig::default()
    }
}

async fn cart(
    store: &MemoryStore,
    config: SessionConfig,
    id: &SessionId,
) -> Result<Option<Vec<String>>, Error> {
    Session::open(store.clone(), config, Some(id.clone()))
        .get("cart")
        .await
}

#[tokio::test]
async fn a_session_idle_longer_than_a_lowered_idle_timeout_is_empty() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = saved_long_ago(&store, Duration::minutes(10), Duration::minutes(10)).await;
    let default = SessionConfig::default();
    assert_eq!(
        cart(&store, default, &id).await?,
        Some(vec!["apple".to_owned()])
    );
    let lowered = config(Duration::minutes(5), None);
    assert_eq!(cart(&store, lowered, &id).await?, None);
    let still_within = config(Duration::minutes(15), None);
    assert_eq!(
        cart(&store, still_within, &id).await?,
        Some(vec!["apple".to_owned()])
    );
    Ok(())
}

#[tokio::test]
async fn a_session_older_than_a_lowered_absolute_lifetime_is_empty() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = saved_long_ago(&store, Duration::hours(2), Duration::seconds(1)).await;
    let lowered = config(Duration::days(1), Some(Duration::hours(1)));
    assert_eq!(cart(&store, lowered, &id).await?, None);
    let within = config(Duration::days(1), Some(Duration::hours(3)));
    assert_eq!(
        cart(&store, within, &id).await?,
        Some(vec!["apple".to_owned()])
    );
    Ok(())
}

/// What a listing shows agrees with what a request gets: `Session::accepts` says no to
/// a stored session past the timeouts configured now, yes within them.
#[tokio::test]
async fn accepts_applies_the_timeouts_configured_now_to_listed_records() {
    let store = MemoryStore::new();
    let idle = saved_long_ago(&store, Duration::minutes(10), Duration::minutes(10)).await;
    let old = saved_long_ago(&store, Duration::hours(3), Duration::minutes(1)).await;
    let record = |id: &SessionId| {
        let store = store.clone();
        let hash = id.hash();
        async move { store.load(&hash).await.expect("load").expect("stored") }
    };
    let (idle, old) = (record(&idle).await, record(&old).await);
    let handle = |config| Session::new(store.clone(), config);
    let default = handle(SessionConfig::default());
    assert!(default.accepts(&idle) && default.accepts(&old));
    let short_idle = handle(config(Duration::minutes(5), None));
    assert!(!short_idle.accepts(&idle) && short_idle.accepts(&old));
    let short_life = handle(config(Duration::minutes(30), Some(Duration::hours(2))));
    assert!(short_life.accepts(&idle) && !short_life.accepts(&old));
    let mut pointer = idle.clone();
    pointer.moved_to = Some(old.id);
    assert!(
        !default.accepts(&pointer),
        "a rotated-away id's pointer is no session"
    );
}
