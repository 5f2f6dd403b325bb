//! `Session::finish_now` ends a request without waiting exactly when no store call is
//! due, and otherwise leaves the request to `Session::finish`, which then saves.

use sessionkit_core::{
    CookieAction, Error, ExpiryPolicy, MemoryStore, Session, SessionConfig, SessionId,
    SessionListing, SessionStore,
};

/// A stored session holding `user = "ada"`, and its id.
async fn stored_session(store: &MemoryStore) -> Result<SessionId, Error> {
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("user", "ada").await?;
    match session.commit().await? {
        CookieAction::Set { id, .. } => Ok(id),
        other => panic!("a new session with data must set a cookie, got {other:?}"),
    }
}

#[tokio::test]
async fn finish_now_settles_an_untouched_session_without_a_store_call() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let session = Session::open(store.clone(), SessionConfig::default(), Some(id));
    let (accessed, outcome) = session.finish_now(false).expect("nothing to store");
    assert!(!accessed, "an untouched session was not accessed (no Vary)");
    assert_eq!(outcome?, CookieAction::Keep);
    Ok(())
}

#[tokio::test]
async fn finish_now_settles_a_session_that_was_only_read() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let session = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
    assert_eq!(session.get::<String>("user").await?.as_deref(), Some("ada"));
    let (accessed, outcome) = session.finish_now(false).expect("a read stores nothing");
    assert!(accessed, "a read session was accessed (Vary: Cookie)");
    assert_eq!(outcome?, CookieAction::Keep);
    let record = store.load(&id.hash()).await.map_err(Error::Store)?;
    assert_eq!(record.map(|r| r.version), Some(1), "no save happened");
    Ok(())
}

#[tokio::test]
async fn finish_now_leaves_a_write_to_finish_which_stores_it() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let session = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
    session.insert("cart", 3).await?;
    assert!(session.finish_now(false).is_none(), "a write must be saved");
    let (accessed, outcome) = session.finish(false).await;
    assert!(accessed);
    // A save slides the expiry, so the cookie is sent again, for the same id.
    assert!(matches!(outcome?, CookieAction::Set { id: ref sent, .. } if *sent == id));
    let reopened = Session::open(store.clone(), SessionConfig::default(), Some(id));
    assert_eq!(reopened.get::<i64>("cart").await?, Some(3));
    Ok(())
}

#[tokio::test]
async fn finish_now_leaves_a_due_touch_and_a_new_session_to_finish() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let mut eager = SessionConfig::default();
    eager.expiry = ExpiryPolicy {
        touch_after: Some(time::Duration::ZERO),
        ..eager.expiry
    };
    let session = Session::open(store.clone(), eager, Some(id));
    session.get::<String>("user").await?;
    assert!(
        session.finish_now(false).is_none(),
        "a due touch is a store call"
    );

    let fresh = Session::new(store.clone(), SessionConfig::default());
    fresh.insert("user", "grace").await?;
    assert!(
        fresh.finish_now(false).is_none(),
        "a new session must be created"
    );
    Ok(())
}

#[tokio::test]
async fn finish_now_saves_nothing_after_the_handlers_own_server_error() -> Result<(), Error> {
    let store = MemoryStore::new();
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("user", "ada").await?;
    let (_, outcome) = session
        .finish_now(true)
        .expect("a server error stores nothing");
    assert_eq!(outcome?, CookieAction::Keep);
    let stats = store
        .stats(time::OffsetDateTime::now_utc(), 0)
        .await
        .map_err(Error::Store)?;
    assert_eq!(stats.live, 0);
    Ok(())
}
