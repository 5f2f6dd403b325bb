//! A save that fails in the store keeps the request's changes in the handle, so a retry
//! stores them, and nothing half-written reaches the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sessionkit_core::store::StoreError;
use sessionkit_core::testing::{Call, Watched};
use sessionkit_core::{Error, MemoryStore, Session, SessionConfig, SessionId};

/// A memory store whose next create or compare-and-swap fails as a dead backend would,
/// or never answers (a hung backend, for a save the caller gives up on).
#[derive(Debug, Clone)]
struct FailingSwap {
    store: Watched<MemoryStore>,
    fail_next_create: Arc<AtomicBool>,
    fail_next_swap: Arc<AtomicBool>,
    hang_next_create: Arc<AtomicBool>,
    hang_next_swap: Arc<AtomicBool>,
}

impl Default for FailingSwap {
    fn default() -> Self {
        let [fail_next_create, fail_next_swap, hang_next_create, hang_next_swap]: [Arc<AtomicBool>;
            4] = Default::default();
        let (fail_create, fail_swap) = (fail_next_create.clone(), fail_next_swap.clone());
        let (hang_create, hang_swap) = (hang_next_create.clone(), hang_next_swap.clone());
        let store = Watched::acting(MemoryStore::new(), move |call, _| {
            let flags = match call {
                Call::Create => Some((&fail_create, &hang_create)),
                Call::CompareAndSwap => Some((&fail_swap, &hang_swap)),
                _ => None,
            };
            let (fail, hang) = flags.map_or((false, false), |(fail, hang)| {
                (
                    fail.swap(false, Ordering::SeqCst),
                    hang.swap(false, Ordering::SeqCst),
                )
            });
            async move {
                if fail {
                    return Err(StoreError::backend("saving a session", "connection reset"));
                }
                if hang {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        });
        Self {
            store,
            fail_next_create,
            fail_next_swap,
            hang_next_create,
            hang_next_swap,
        }
    }
}

/// A stored session `{kept: 1}` and a request on it that added `added: 2` and made
/// `kept` 11, not saved yet.
async fn request_with_unsaved_changes(
    store: &FailingSwap,
) -> Result<(Option<SessionId>, Session), Error> {
    let first = Session::new(store.store.clone(), SessionConfig::default());
    first.insert("kept", 1).await?;
    first.save().await?;
    let id = first.id().await;
    let request = Session::open(store.store.clone(), SessionConfig::default(), id.clone());
    request.insert("added", 2).await?;
    request.increment("kept", 10).await?;
    Ok((id, request))
}

/// After a save that did not store them, the request still shows its changes, and
/// saving again stores them.
async fn a_retry_stores_the_changes(
    store: FailingSwap,
    id: Option<SessionId>,
    request: Session,
) -> Result<(), Error> {
    assert_eq!(
        request.keys().await?,
        vec!["added", "kept"],
        "the view kept them"
    );
    assert_eq!(request.get::<i64>("kept").await?, Some(11));
    request.save().await?;
    let later = Session::open(store.store, SessionConfig::default(), id);
    assert_eq!(later.get::<i64>("added").await?, Some(2));
    assert_eq!(later.get::<i64>("kept").await?, Some(11));
    Ok(())
}

#[tokio::test]
async fn failed_save_keeps_the_changes_in_the_handle_and_a_retry_stores_them() -> Result<(), Error>
{
    let store = FailingSwap::default();
    let (id, request) = request_with_unsaved_changes(&store).await?;
    store.fail_next_swap.store(true, Ordering::SeqCst);
    assert!(matches!(request.save().await, Err(Error::Store(_))));

    let meanwhile = Session::open(store.store.clone(), SessionConfig::default(), id.clone());
    assert_eq!(
        meanwhile.get::<i64>("added").await?,
        None,
        "nothing half-written"
    );
    assert_eq!(meanwhile.get::<i64>("kept").await?, Some(1));
    a_retry_stores_the_changes(store, id, request).await
}

/// A new session's request with `cart: ["A-1001"]` and `visits: 1`, not stored yet.
async fn new_request_with_unsaved_data(store: &FailingSwap) -> Result<Session, Error> {
    let request = Session::new(store.store.clone(), SessionConfig::default());
    request.insert("cart", vec!["A-1001"]).await?;
    request.increment("visits", 1).await?;
    Ok(request)
}

/// After a create that did not store it, the request has no id and still shows its
/// data; one more visit and a save store all of it.
async fn a_retry_creates_it(store: FailingSwap, request: Session) -> Result<(), Error> {
    assert_eq!(request.id().await, None, "no id for a session never stored");
    assert_eq!(
        request.get::<Vec<String>>("cart").await?,
        Some(vec!["A-1001".to_owned()]),
        "the view kept the data the create carried"
    );
    request.increment("visits", 1).await?;
    request.save().await?;
    let later = Session::open(store.store, SessionConfig::default(), request.id().await);
    assert_eq!(
        later.get::<Vec<String>>("cart").await?,
        Some(vec!["A-1001".to_owned()])
    );
    assert_eq!(later.get::<i64>("visits").await?, Some(2));
    Ok(())
}

#[tokio::test]
async fn failed_create_keeps_the_new_sessions_data_in_the_handle_and_a_retry_stores_it(
) -> Result<(), Error> {
    let store = FailingSwap::default();
    let request = new_request_with_unsaved_data(&store).await?;
    store.fail_next_create.store(true, Ordering::SeqCst);
    assert!(matches!(request.save().await, Err(Error::Store(_))));
    a_retry_creates_it(store, request).await
}

#[tokio::test]
async fn a_session_created_mid_request_replays_only_the_later_changes_after_a_lost_race(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let request = Session::new(store.clone(), SessionConfig::default());
    request.insert("first", 1).await?;
    request.increment("n", 1).await?;
    request.save().await?;
    let id = request.id().await;
    // After the create, changes are recorded again, to be replayed on a fresher record.
    request.increment("n", 10).await?;
    request.insert("later", true).await?;

    let other = Session::open(store.clone(), SessionConfig::default(), id.clone());
    other.increment("n", 100).await?;
    other.remove_value("first").await?;
    other.save().await?;

    request.save().await?;
    let stored = Session::open(store, SessionConfig::default(), id);
    assert_eq!(
        stored.get::<i64>("n").await?,
        Some(111),
        "both increments kept"
    );
    assert_eq!(stored.get::<bool>("later").await?, Some(true));
    assert_eq!(
        stored.get::<i64>("first").await?,
        None,
        "the insert made before the create is not replayed over the other request's removal"
    );
    Ok(())
}

/// A save the caller gives up on while the store has not answered (a timeout around
/// it, a `select!`), then the handle used again.
async fn cancelled(save: impl std::future::Future<Output = Result<(), Error>>) {
    let given_up = tokio::time::timeout(std::time::Duration::from_millis(20), save).await;
    assert!(given_up.is_err(), "the hung store call is still pending");
}

#[tokio::test]
async fn a_save_cancelled_while_creating_keeps_the_new_sessions_data_and_a_retry_stores_it(
) -> Result<(), Error> {
    let store = FailingSwap::default();
    let request = new_request_with_unsaved_data(&store).await?;
    store.hang_next_create.store(true, Ordering::SeqCst);
    cancelled(request.save()).await;
    a_retry_creates_it(store, request).await
}

#[tokio::test]
async fn a_save_cancelled_while_swapping_keeps_the_changes_and_a_retry_stores_them(
) -> Result<(), Error> {
    let store = FailingSwap::default();
    let (id, request) = request_with_unsaved_changes(&store).await?;
    store.hang_next_swap.store(true, Ordering::SeqCst);
    cancelled(request.save()).await;
    a_retry_stores_the_changes(store, id, request).await
}
