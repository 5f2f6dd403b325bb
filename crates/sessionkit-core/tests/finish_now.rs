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

#[tokio::test]
async fn finish_now_leaves_an_untouched_session_to_finish_when_every_request_saves(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let every = SessionConfig {
        save_every_request: true,
        ..SessionConfig::default()
    };
    let before = store.load(&id.hash()).await.map_err(Error::Store)?;
    let before = before.map(|r| r.last_seen).expect("stored");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let untouched = Session::open(store.clone(), every.clone(), Some(id.clone()));
    assert!(
        untouched.finish_now(false).is_none(),
        "save_every_request refreshes a presented session even when the handler ignored it"
    );
    let (accessed, outcome) = untouched.finish(false).await;
    assert!(accessed);
    assert!(matches!(outcome?, CookieAction::Set { id: ref sent, .. } if *sent == id));
    let record = store.load(&id.hash()).await.map_err(Error::Store)?;
    let after = record.map(|r| r.last_seen).expect("still stored");
    assert!(
        after > before,
        "the untouched session was refreshed in the store"
    );

    // Without an id there is nothing to refresh; after a server error nothing is saved.
    let anonymous = Session::new(store.clone(), every.clone());
    assert_eq!(anonymous.finish_now(false).map(|d| d.0), Some(false));
    let failed = Session::open(store.clone(), every, Some(id));
    let (_, outcome) = failed
        .finish_now(true)
        .expect("a server error stores nothing");
    assert_eq!(outcome?, CookieAction::Keep);
    Ok(())
}

#[tokio::test]
async fn finish_now_does_not_settle_a_session_another_task_is_writing() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let session = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
    // A task the handler spawned is inside a write while the response goes out: the
    // session is in use, so ending it must wait for the lock, then save the write.
    let (started, proceed) = (tokio::sync::Barrier::new(2), tokio::sync::Notify::new());
    let (started, proceed) = (std::sync::Arc::new(started), std::sync::Arc::new(proceed));
    let writer = tokio::spawn({
        let (session, started, proceed) = (session.clone(), started.clone(), proceed.clone());
        async move {
            session.insert("cart", 5).await?;
            started.wait().await;
            proceed.notified().await;
            session.insert("paid", true).await
        }
    });
    started.wait().await;
    let (accessed, outcome) = match session.finish_now(false) {
        Some(done) => done,
        None => {
            proceed.notify_one();
            writer.await.expect("the writer task")?;
            session.finish(false).await
        }
    };
    assert!(accessed, "the writer touched the session");
    assert!(
        matches!(outcome?, CookieAction::Set { .. }),
        "the writes are saved"
    );
    let reopened = Session::open(store.clone(), SessionConfig::default(), Some(id));
    assert_eq!(reopened.get::<i64>("cart").await?, Some(5));
    assert_eq!(reopened.get::<bool>("paid").await?, Some(true));
    Ok(())
}

/// Django's `request.session.modified = True`: a handler that only marks its session
/// modified still saves it, sliding the idle expiry and sending the cookie again.
#[tokio::test]
async fn mark_modified_alone_saves_the_session_and_slides_its_expiry() -> Result<(), Error> {
    let store = MemoryStore::new();
    let id = stored_session(&store).await?;
    let before = store
        .load(&id.hash())
        .await
        .map_err(Error::Store)?
        .expect("stored");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let session = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
    session.mark_modified().await;
    assert!(session.finish_now(false).is_none(), "a save is due");
    let (accessed, outcome) = session.finish(false).await;
    assert!(accessed);
    assert!(
        matches!(outcome?, CookieAction::Set { id: ref sent, .. } if *sent == id),
        "the cookie is sent again for the same id"
    );
    let after = store
        .load(&id.hash())
        .await
        .map_err(Error::Store)?
        .expect("still stored");
    assert!(after.expires_at > before.expires_at, "the expiry slid");
    assert_eq!(after.data, before.data, "the data is unchanged");
    Ok(())
}
