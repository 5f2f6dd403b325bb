//! A store double for tests (feature `testing`): a real store whose every call is
//! counted first and, when a test says so, failed the way a backend fails when its
//! server is down.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::store::{ExpiredDeletion, SessionListing, StoreError, UserIndex};
use crate::{IdHash, Record, SessionStore};
use async_trait::async_trait;
use time::OffsetDateTime;

/// One kind of store call, as [`Watched`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `load`
    Load,
    /// `create`
    Create,
    /// `compare_and_swap`
    CompareAndSwap,
    /// `touch`
    Touch,
    /// `delete`
    Delete,
}

impl Call {
    /// Whether the call changes what is stored (every call but `load`).
    pub fn writes(self) -> bool {
        self != Self::Load
    }
}

/// What a test decides for each call (and the id hash it is about): `Ok` lets it
/// through to the real store, an `Err` is the call's answer instead.
/// It may also act first, and take its time (another server's write, a hung backend).
type Gate = dyn Fn(Call, IdHash) -> GateFuture + Send + Sync;

/// What a [`Gate`] answers, once it has done what it does.
type GateFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Forwards every call to a real store after counting it and asking its gate; the
/// user index, expired deletion and listing are the real store's.
///
/// # Examples
///
/// ```
/// use sessionkit_core::testing::{server_down, Watched};
/// use sessionkit_core::MemoryStore;
///
/// let counting = Watched::new(MemoryStore::new());
/// let read_only = Watched::failing(MemoryStore::new(), |call, _id| {
///     if call.writes() { Err(server_down()) } else { Ok(()) }
/// });
/// # let _ = (counting, read_only);
/// ```
#[derive(Clone)]
pub struct Watched<S> {
    inner: S,
    counts: Arc<[AtomicUsize; 5]>,
    gate: Arc<Gate>,
}

impl<S> std::fmt::Debug for Watched<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("loads", &self.loads())
            .field("writes", &self.writes())
            .finish_non_exhaustive()
    }
}

impl<S> Watched<S> {
    /// Counts every call to `inner` and lets each through.
    pub fn new(inner: S) -> Self {
        Self::failing(inner, |_, _| Ok(()))
    }

    /// Counts every call to `inner`; `gate` decides, call by call, whether it reaches
    /// `inner` or fails with the error it returns.
    pub fn failing(
        inner: S,
        gate: impl Fn(Call, &IdHash) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self::acting(inner, move |call, id| {
            let answer = gate(call, &id);
            async move { answer }
        })
    }

    /// Counts every call to `inner`; before each, `act` runs to its end (it may write
    /// to the store itself, as another server would, or never finish, as a hung
    /// backend), then lets the call through or fails it with its error.
    pub fn acting<F>(inner: S, act: impl Fn(Call, IdHash) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        Self {
            inner,
            counts: Arc::default(),
            gate: Arc::new(move |call, id| -> GateFuture { Box::pin(act(call, id)) }),
        }
    }

    /// The real store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Calls of this kind so far, failed ones included.
    pub fn calls(&self, call: Call) -> usize {
        self.counts[call as usize].load(Ordering::SeqCst)
    }

    /// `load` calls so far.
    pub fn loads(&self) -> usize {
        self.calls(Call::Load)
    }

    /// Calls that write (`create`, `compare_and_swap`, `touch`, `delete`) so far.
    pub fn writes(&self) -> usize {
        [
            Call::Create,
            Call::CompareAndSwap,
            Call::Touch,
            Call::Delete,
        ]
        .into_iter()
        .map(|call| self.calls(call))
        .sum()
    }

    async fn enter(&self, call: Call, id: &IdHash) -> Result<(), StoreError> {
        self.counts[call as usize].fetch_add(1, Ordering::SeqCst);
        (self.gate)(call, *id).await
    }
}

/// The error a backend gives when its server is down (connection refused).
pub fn server_down() -> StoreError {
    StoreError::backend(
        "talking to the test double",
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
    )
}

#[async_trait]
impl<S: SessionStore> SessionStore for Watched<S> {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.enter(Call::Load, id).await?;
        self.inner.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.enter(Call::Create, &record.id).await?;
        self.inner.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.enter(Call::CompareAndSwap, &record.id).await?;
        self.inner.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.enter(Call::Touch, id).await?;
        self.inner.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.enter(Call::Delete, id).await?;
        self.inner.delete(id).await
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        self.inner.user_index()
    }
    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        self.inner.expired_deletion()
    }
    fn listing(&self) -> Option<&dyn SessionListing> {
        self.inner.listing()
    }
}
