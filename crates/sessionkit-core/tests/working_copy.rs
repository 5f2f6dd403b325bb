//! A handle's first write takes the loaded record's data as its working copy: moved
//! out when the record was decoded for this request alone, copied when the store
//! shares it. Either way the store's record is untouched until a save, a lost race
//! replays every change on the fresher record, and `snapshot` shows the working view.

use serde_json::json;
use sessionkit_core::{Error, Expiry, MemoryStore, Session, SessionConfig, SessionId};

async fn stored(store: &MemoryStore, pairs: &[(&str, i64)]) -> Result<Option<SessionId>, Error> {
    let session = Session::new(store.clone(), SessionConfig::default());
    for (key, value) in pairs {
        session.insert(key, value).await?;
    }
    session.save().await?;
    Ok(session.id().await)
}

fn open(store: &MemoryStore, id: &Option<SessionId>) -> Session {
    Session::open(store.clone(), SessionConfig::default(), id.clone())
}

#[tokio::test]
async fn an_unsaved_write_never_reaches_the_stores_record_shared_or_decoded() -> Result<(), Error> {
    for store in [MemoryStore::new(), MemoryStore::new().compact()] {
        let id = stored(&store, &[("a", 1), ("b", 2)]).await?;
        let writer = open(&store, &id);
        writer.insert("a", 100).await?;
        writer.remove::<i64>("b").await?;
        let reader = open(&store, &id);
        assert_eq!(reader.get::<i64>("a").await?, Some(1));
        assert_eq!(reader.get::<i64>("b").await?, Some(2));
        assert_eq!(writer.get::<i64>("a").await?, Some(100));
        assert_eq!(writer.get::<i64>("b").await?, None);
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_race_replays_every_change_on_the_fresher_record() -> Result<(), Error> {
    for store in [MemoryStore::new(), MemoryStore::new().compact()] {
        let id = stored(&store, &[("count", 0), ("keep", 7)]).await?;
        let first = open(&store, &id);
        let second = open(&store, &id);
        first.increment("count", 1).await?;
        first.insert("first", true).await?;
        second.increment("count", 10).await?;
        second.insert("second", true).await?;
        first.save().await?;
        second.save().await?;
        let after = open(&store, &id);
        assert_eq!(after.get::<i64>("count").await?, Some(11));
        assert_eq!(after.get::<bool>("first").await?, Some(true));
        assert_eq!(after.get::<bool>("second").await?, Some(true));
        assert_eq!(after.get::<i64>("keep").await?, Some(7));
        assert_eq!(
            second.get::<i64>("count").await?,
            Some(11),
            "the handle sees the merge"
        );
    }
    Ok(())
}

#[tokio::test]
async fn snapshot_shows_the_unsaved_changes_of_data_user_and_expiry() -> Result<(), Error> {
    let store = MemoryStore::new().compact();
    let fresh = Session::new(store.clone(), SessionConfig::default());
    fresh.insert("x", 1).await?;
    assert!(fresh.snapshot().await.is_none(), "nothing stored yet");

    let id = stored(&store, &[("a", 1)]).await?;
    let session = open(&store, &id);
    session.insert("b", json!("two")).await?;
    session.login("ada").await?;
    session.set_expiry(Expiry::BrowserSession).await?;
    let view = session.snapshot().await.expect("a stored session");
    assert_eq!(view.data.get("a"), Some(&json!(1)));
    assert_eq!(view.data.get("b"), Some(&json!("two")));
    assert_eq!(view.user.as_deref(), Some("ada"));
    assert_eq!(view.expiry, Expiry::BrowserSession);
    assert_eq!(Some(view.id), id.as_ref().map(SessionId::hash));

    let stored_now = open(&store, &id).snapshot().await;
    assert!(
        stored_now.is_none(),
        "a handle that has not loaded yet has no record"
    );
    let reader = open(&store, &id);
    assert_eq!(reader.get::<String>("b").await?, None);
    let loaded = reader.snapshot().await.expect("loaded");
    assert_eq!(loaded.user, None, "the store's record is unchanged");
    Ok(())
}
