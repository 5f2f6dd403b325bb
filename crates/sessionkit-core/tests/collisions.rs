//! A new session's id that collides with a stored one is drawn again, a bounded number
//! of times (catalogue C4).

use std::sync::{Arc, Mutex, PoisonError};

use sessionkit_core::store::StoreError;
use sessionkit_core::testing::{Call, Watched};
use sessionkit_core::{
    Error, IdHash, MemoryStore, Session, SessionConfig, SessionStore, UserIndex,
};

/// A memory store whose `create` answers [`StoreError::Exists`] for its first `refuse`
/// calls (every call when `refuse` is `None`), and the id hashes it refused.
fn colliding(refuse: Option<usize>) -> (Watched<MemoryStore>, Arc<Mutex<Vec<IdHash>>>) {
    let refused = Arc::new(Mutex::new(Vec::new()));
    let seen = refused.clone();
    let store = Watched::failing(MemoryStore::new(), move |call, id| {
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        if call == Call::Create && refuse.is_none_or(|n| seen.len() < n) {
            seen.push(*id);
            return Err(StoreError::Exists);
        }
        Ok(())
    });
    (store, refused)
}

fn refused(ids: &Mutex<Vec<IdHash>>) -> Vec<IdHash> {
    ids.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// C4/G4: `create` refusing an id (it exists) makes the save draw a fresh id and try
/// again: after 1, 3 and 7 refusals the save succeeds under an id that differs from
/// every refused one, with the data. When the refusals never stop, the save gives up
/// after eight draws with [`Error::Conflict`]`(8)`, stores nothing, and the handle keeps
/// its data and has no id.
#[tokio::test]
async fn create_collision_draws_a_fresh_id_and_gives_up_after_eight() -> Result<(), Error> {
    for refusals in [1, 3, 7] {
        let (store, refusals_seen) = colliding(Some(refusals));
        let session = Session::new(store.clone(), SessionConfig::default());
        session.insert("cart", ["apple"]).await?;
        session.save().await?;
        let id = session.id().await.expect("a saved session has an id");
        let refused = refused(&refusals_seen);
        assert_eq!(refused.len(), refusals, "every refusal was retried");
        let mut drawn = refused.clone();
        drawn.push(id.hash());
        drawn.sort_by_key(IdHash::to_hex);
        drawn.dedup();
        assert_eq!(
            drawn.len(),
            refusals + 1,
            "{refusals} refusals: each attempt draws an id of its own"
        );
        let stored = store
            .inner()
            .load(&id.hash())
            .await?
            .expect("stored under the last drawn id");
        assert_eq!(stored.data["cart"], serde_json::json!(["apple"]));
    }

    let (store, refusals_seen) = colliding(None);
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("cart", ["apple"]).await?;
    match session.save().await {
        Err(Error::Conflict(8)) => {}
        other => panic!("expected Error::Conflict(8) after eight refusals, got {other:?}"),
    }
    let refused = refused(&refusals_seen);
    assert_eq!(refused.len(), 8, "eight draws, then the save gives up");
    let mut distinct = refused.clone();
    distinct.sort_by_key(IdHash::to_hex);
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "each draw is a fresh id");
    assert_eq!(store.inner().count().await?, 0, "nothing is stored");
    assert_eq!(session.id().await, None, "the session has no id");
    assert_eq!(
        session.get::<Vec<String>>("cart").await?,
        Some(vec!["apple".to_owned()]),
        "the handle keeps its data for a later save"
    );
    Ok(())
}
