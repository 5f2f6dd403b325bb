//! A save that fails in the store keeps the request's changes in the handle, so a retry
//! stores them, and nothing half-written reaches the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sessionkit_core::store::StoreError;
use sessionkit_core::{Error, IdHash, MemoryStore, Record, Session, SessionConfig, SessionStore};
use time::OffsetDateTime;

/// A memory store whose next compare-and-swap fails as a dead backend would.
#[derive(Debug, Clone, Default)]
struct FailingSwap {
    inner: MemoryStore,
    fail_next_swap: Arc<AtomicBool>,
}

#[async_trait]
impl SessionStore for FailingSwap {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        if self.fail_next_swap.swap(false, Ordering::SeqCst) {
            return Err(StoreError::backend("saving a session", "connection reset"));
        }
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

#[tokio::test]
async fn failed_save_keeps_the_changes_in_the_handle_and_a_retry_stores_them() -> Result<(), Error>
{
    let store = FailingSwap::default();
    let first = Session::new(store.clone(), SessionConfig::default());
    first.insert("kept", 1).await?;
    first.save().await?;
    let id = first.id().await;

    let request = Session::open(store.clone(), SessionConfig::default(), id.clone());
    request.insert("added", 2).await?;
    request.increment("kept", 10).await?;
    store.fail_next_swap.store(true, Ordering::SeqCst);
    assert!(matches!(request.save().await, Err(Error::Store(_))));

    let meanwhile = Session::open(store.clone(), SessionConfig::default(), id.clone());
    assert_eq!(
        meanwhile.get::<i64>("added").await?,
        None,
        "nothing half-written"
    );
    assert_eq!(meanwhile.get::<i64>("kept").await?, Some(1));

    assert_eq!(
        request.get::<i64>("added").await?,
        Some(2),
        "the view kept it"
    );
    assert_eq!(request.get::<i64>("kept").await?, Some(11));
    request.save().await?;

    let later = Session::open(store, SessionConfig::default(), id);
    assert_eq!(later.get::<i64>("added").await?, Some(2));
    assert_eq!(later.get::<i64>("kept").await?, Some(11));
    Ok(())
}
