//! Deleting expired sessions: once (for a command-line tool or a cron job) or in the
//! background of an application.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::StoreError;
use crate::SessionStore;

/// Deletes every expired session in batches of `batch`, calling `progress` with the
/// running total after each batch. Returns the total; `Ok(0)` for a store that has no
/// expired deletion (it expires sessions by itself, like Redis).
///
/// # Errors
///
/// The first store failure (the sessions deleted until then stay deleted).
///
/// # Examples
///
/// ```
/// use sessionkit_core::{cleanup, MemoryStore};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let store = MemoryStore::new();
/// let deleted = cleanup::delete_all_expired(&store, 10_000, |_| {}).await?;
/// assert_eq!(deleted, 0);
/// # Ok::<(), sessionkit_core::StoreError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn delete_all_expired(
    store: &dyn SessionStore,
    batch: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let Some(deleter) = store.expired_deletion() else {
        return Ok(0);
    };
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let n = deleter.delete_expired(batch).await?;
        total += n;
        ::metrics::counter!(crate::metrics::CLEANUP_DELETED).increment(n);
        progress(total);
        if n < batch {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// A background task deleting expired sessions; stops when [`Cleanup::stop`] is
/// awaited or the handle is dropped.
#[derive(Debug)]
pub struct Cleanup {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Spawns a task that deletes expired sessions every `every`, at most `batch` per run
/// (so one run never holds the store for long; what is left goes in the next run).
/// Needs a Tokio runtime. Keep the returned handle alive as long as the cleanup should
/// run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sessionkit_core::{cleanup, MemoryStore};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let cleanup = cleanup::spawn(MemoryStore::new(), Duration::from_secs(300), 10_000);
/// // ... serve the application ...
/// cleanup.stop().await;
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn(store: impl SessionStore, every: Duration, batch: u64) -> Cleanup {
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.changed() => return,
            }
            let Some(deleter) = store.expired_deletion() else {
                tracing::info!(
                    "session store expires sessions by itself; background cleanup stops"
                );
                return;
            };
            match deleter.delete_expired(batch.max(1)).await {
                Ok(n) => {
                    ::metrics::counter!(crate::metrics::CLEANUP_DELETED).increment(n);
                    tracing::debug!(deleted = n, "expired sessions deleted");
                }
                Err(e) => {
                    tracing::error!(error = %e.for_log(), "deleting expired sessions failed; retrying next run")
                }
            }
        }
    });
    Cleanup {
        stop,
        task: Some(task),
    }
}

impl Cleanup {
    /// Stops the task and waits until it has finished (a run in progress completes).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, Record, SessionId};
    use time::OffsetDateTime;

    #[tokio::test]
    async fn background_cleanup_runs_leaves_live_sessions_and_stops_on_request(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        for _ in 0..5 {
            let r = Record::new(
                SessionId::generate()?.hash(),
                Default::default(),
                now,
                now + time::Duration::milliseconds(300),
            );
            store.create(&r).await?;
        }
        let live = Record::new(
            SessionId::generate()?.hash(),
            Default::default(),
            now,
            now + time::Duration::hours(1),
        );
        store.create(&live).await?;
        let cleanup = spawn(store.clone(), Duration::from_millis(100), 2);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        cleanup.stop().await;
        let index = store.user_index().ok_or("memory store has a user index")?;
        assert_eq!(index.count().await?, 1);
        assert!(store.load(&live.id).await?.is_some());
        Ok(())
    }
}
