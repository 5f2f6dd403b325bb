//! A store failure while following a rotated-away id to its successor (the grace
//! window) is remembered like any failed load: the request fails closed instead of
//! carrying on with an empty session whose cookie would replace the logged-in one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sessionkit_core::store::StoreError;
use sessionkit_core::{
    ClientInfo, CookieAction, Error, IdHash, MemoryStore, Record, Session, SessionConfig,
    SessionId, SessionStore,
};
use time::OffsetDateTime;

/// A memory store whose load right after it returned a rotation pointer fails, once
/// armed: the successor's load of a forwarded request.
#[derive(Debug, Clone, Default)]
struct FailsAfterPointer {
    inner: MemoryStore,
    armed: Arc<AtomicBool>,
    fail_next: Arc<AtomicBool>,
}

#[async_trait]
impl SessionStore for FailsAfterPointer {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::backend(
                "loading from the test double",
                std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset"),
            ));
        }
        let found = self.inner.load(id).await?;
        let pointer = found.as_ref().is_some_and(|r| r.moved_to.is_some());
        if pointer && self.armed.load(Ordering::SeqCst) {
            self.fail_next.store(true, Ordering::SeqCst);
        }
        Ok(found)
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.inner.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.inner.delete(id).await
    }
}

fn request(store: &FailsAfterPointer, id: Option<SessionId>) -> Session {
    let client = ClientInfo {
        user_agent: Some("Browser/1.0".into()),
        address: Some("192.0.2.1".into()),
    };
    Session::from_parts(
        Arc::new(store.clone()),
        Arc::new(SessionConfig::default()),
        id,
        Some(client),
    )
}

/// A stored session, then a login: returns the id the login rotated away.
async fn rotated_away_id(store: &FailsAfterPointer) -> Result<SessionId, Error> {
    let session = request(store, None);
    session.insert("cart", 3).await?;
    let CookieAction::Set { id: old, .. } = session.commit().await? else {
        panic!("a new session with data sets a cookie");
    };
    let login = request(store, Some(old.clone()));
    login.login("alice").await?;
    login.commit().await?;
    Ok(old)
}

#[tokio::test]
async fn a_failed_load_of_the_successor_fails_the_request_closed() -> Result<(), Error> {
    let store = FailsAfterPointer::default();
    let old = rotated_away_id(&store).await?;
    store.armed.store(true, Ordering::SeqCst);

    let session = request(&store, Some(old.clone()));
    assert!(matches!(
        session.get::<i64>("cart").await,
        Err(Error::Store(_))
    ));
    assert!(
        session.get::<i64>("cart").await.is_err(),
        "a second read does not see an empty session"
    );
    assert!(session.user().await.is_err());
    assert!(session.insert("theme", "dark").await.is_err());
    let (_, outcome) = session.finish(false).await;
    assert!(
        matches!(outcome, Err(Error::Unavailable)),
        "fails closed, no new cookie: {outcome:?}"
    );
    Ok(())
}

#[tokio::test]
async fn mark_modified_after_a_failed_load_of_the_successor_fails_closed() -> Result<(), Error> {
    let store = FailsAfterPointer::default();
    let old = rotated_away_id(&store).await?;
    store.armed.store(true, Ordering::SeqCst);
    let session = request(&store, Some(old));
    session.mark_modified().await;
    let (_, outcome) = session.finish(false).await;
    assert!(matches!(outcome, Err(Error::Unavailable)), "{outcome:?}");
    Ok(())
}
