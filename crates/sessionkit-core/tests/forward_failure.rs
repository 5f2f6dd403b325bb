//! A store failure while following a rotated-away id to its successor (the grace
//! window) is remembered like any failed load: the request fails closed instead of
//! carrying on with an empty session whose cookie would replace the logged-in one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sessionkit_core::store::StoreError;
use sessionkit_core::testing::{Call, Watched};
use sessionkit_core::{
    ClientInfo, CookieAction, Error, MemoryStore, Session, SessionConfig, SessionId,
};

/// A memory store whose second load after `armed` is set fails: for a request that
/// presents a rotated-away id, the load of the successor its pointer names.
#[derive(Debug, Clone)]
struct FailsAfterPointer {
    store: Watched<MemoryStore>,
    armed: Arc<AtomicUsize>,
}

impl Default for FailsAfterPointer {
    fn default() -> Self {
        let armed = Arc::new(AtomicUsize::new(0));
        let loads = armed.clone();
        let store = Watched::failing(MemoryStore::new(), move |call, _| {
            // 0: not armed; 1: armed; 2: the pointer was loaded; then the successor.
            let armed = call == Call::Load && loads.load(Ordering::SeqCst) > 0;
            if armed && loads.fetch_add(1, Ordering::SeqCst) == 2 {
                return Err(StoreError::backend(
                    "loading from the test double",
                    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"),
                ));
            }
            Ok(())
        });
        Self { store, armed }
    }
}

impl FailsAfterPointer {
    fn arm(&self) {
        self.armed.store(1, Ordering::SeqCst);
    }
}

fn request(store: &FailsAfterPointer, id: Option<SessionId>) -> Session {
    let store = &store.store;
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
    store.arm();

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
    store.arm();
    let session = request(&store, Some(old));
    session.mark_modified().await;
    let (_, outcome) = session.finish(false).await;
    assert!(matches!(outcome, Err(Error::Unavailable)), "{outcome:?}");
    Ok(())
}
