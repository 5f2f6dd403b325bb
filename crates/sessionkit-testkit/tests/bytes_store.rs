//! The store conformance suite against a minimal store that keeps encoded bytes, so the
//! suite's corrupt-data case and the `corrupt =` form of the macro run too.
//!
//! The store has neither a user index nor expired deletion, so those cases show their
//! skip message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use sessionkit_core::{codec, IdHash, Record, SessionStore, StoreError};
use time::OffsetDateTime;

/// Records as `codec` bytes in a map, compare-and-swap under one lock.
#[derive(Debug, Clone, Default)]
struct BytesStore {
    records: Arc<Mutex<HashMap<IdHash, Vec<u8>>>>,
}

impl BytesStore {
    fn records(&self) -> MutexGuard<'_, HashMap<IdHash, Vec<u8>>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn live(bytes: Option<&Vec<u8>>) -> Result<Option<Record>, StoreError> {
    let Some(bytes) = bytes else { return Ok(None) };
    let record = codec::decode(bytes)?;
    Ok((!record.is_expired(OffsetDateTime::now_utc())).then_some(record))
}

#[async_trait]
impl SessionStore for BytesStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        live(self.records().get(id))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let bytes = codec::encode(record)?;
        let mut records = self.records();
        if matches!(live(records.get(&record.id)), Ok(Some(_))) {
            return Err(StoreError::Exists);
        }
        records.insert(record.id, bytes);
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let bytes = codec::encode(record)?;
        let mut records = self.records();
        match live(records.get(&record.id))? {
            Some(current) if current.version == expected_version => {
                records.insert(record.id, bytes);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut records = self.records();
        match live(records.get(id))? {
            Some(mut current) => {
                current.expires_at = expires_at;
                current.last_seen = now;
                records.insert(*id, codec::encode(&current)?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let removed = self.records().remove(id);
        Ok(matches!(live(removed.as_ref()), Ok(Some(_))))
    }
}

sessionkit_testkit::store_conformance!(
    async { Some(BytesStore::default()) },
    corrupt = |store: BytesStore, id: IdHash| async move {
        store
            .records()
            .insert(id, b"\x01{\"id\": not json \xff".to_vec());
    }
);
