//! [`SessionListing`] for [`RedisStore`]: id-hash order out of an unordered `SCAN`.
//!
//! Redis keeps no order of its keys, so a page needs every id: `list(None, …)` scans
//! all session keys (on every primary of a cluster) into a sorted snapshot of id
//! hashes, and the calls that continue from it (`after` = the last id of a page, within
//! a minute) page through that snapshot instead of scanning again. Paging through
//! everything (as the default `stats` does) therefore costs one `SCAN` plus one read
//! per session; sessions created after the snapshot show up in the next listing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sessionkit_core::store::SessionListing;
use sessionkit_core::{IdHash, Record, SessionStore, StoreError};
use tokio::task::JoinSet;

use crate::RedisStore;

/// How long a snapshot serves the pages that continue from it.
const SNAPSHOT_LIFETIME: Duration = Duration::from_secs(60);

/// The sorted id hashes of one scan.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    last: Mutex<Option<(Instant, Arc<Vec<IdHash>>)>>,
}

impl Snapshots {
    fn get(&self) -> Option<Arc<Vec<IdHash>>> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref()
            .filter(|(taken, _)| taken.elapsed() < SNAPSHOT_LIFETIME)
            .map(|(_, ids)| Arc::clone(ids))
    }

    fn put(&self, ids: Arc<Vec<IdHash>>) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), ids));
    }
}

impl RedisStore {
    /// The sorted id hashes of every session key; a continuing page reuses the last.
    async fn snapshot(&self, continuing: bool) -> Result<Arc<Vec<IdHash>>, StoreError> {
        if continuing {
            if let Some(ids) = self.snapshots().get() {
                return Ok(ids);
            }
        }
        let mut ids: Vec<IdHash> = self
            .scan_session_keys()
            .await?
            .iter()
            .filter_map(|key| self.id_of_session_key(key))
            .collect();
        ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        ids.dedup_by(|a, b| a.as_bytes() == b.as_bytes());
        let ids = Arc::new(ids);
        self.snapshots().put(Arc::clone(&ids));
        Ok(ids)
    }

    /// Loads `ids` concurrently; live records in the order of `ids`.
    async fn load_in_order(&self, ids: &[IdHash]) -> Result<Vec<Record>, StoreError> {
        let mut loads = JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let (store, id) = (self.clone(), *id);
            loads.spawn(async move { (i, store.load(&id).await) });
        }
        let mut found = Vec::with_capacity(ids.len());
        while let Some(done) = loads.join_next().await {
            let (i, loaded) = done.map_err(|e| StoreError::backend("listing sessions", e))?;
            match loaded {
                Ok(Some(record)) => found.push((i, record)),
                // Gone since the scan, or unreadable: not listed.
                Ok(None) | Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        found.sort_by_key(|(i, _)| *i);
        Ok(found.into_iter().map(|(_, r)| r).collect())
    }
}

#[async_trait]
impl SessionListing for RedisStore {
    /// Up to `limit` live sessions after `after`, in id-hash order. A call without
    /// `after` scans every session key; the calls continuing from it within a minute
    /// page through the same snapshot (see the module docs).
    async fn list(&self, after: Option<&IdHash>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let ids = self.snapshot(after.is_some()).await?;
        let start = after.map_or(0, |a| {
            ids.partition_point(|id| id.as_bytes() <= a.as_bytes())
        });
        let mut page = Vec::with_capacity(limit);
        for chunk in ids[start..].chunks(limit.clamp(1, 500)) {
            for record in self.load_in_order(chunk).await? {
                if page.len() == limit {
                    return Ok(page);
                }
                page.push(record);
            }
            if page.len() == limit {
                break;
            }
        }
        Ok(page)
    }
}
