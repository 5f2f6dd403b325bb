//! `sessionkit_store_call_seconds` records how long a request waited for each store
//! call: the real time for a store that makes it wait, 0 for one that answers at once
//! (an in-process store, for which no clock is read).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use sessionkit_core::store::StoreError;
use sessionkit_core::{metrics as names, IdHash, MemoryStore, Record, Session, SessionConfig};
use sessionkit_core::{Error, SessionStore};
use time::OffsetDateTime;

/// Every value recorded into `sessionkit_store_call_seconds`, with its `op` label.
#[derive(Default)]
struct StoreSeconds(Mutex<Vec<(String, f64)>>);

struct Values {
    op: String,
    seen: Arc<StoreSeconds>,
}

impl HistogramFn for Values {
    fn record(&self, value: f64) {
        if let Ok(mut seen) = self.seen.0.lock() {
            seen.push((self.op.clone(), value));
        }
    }
}

/// A recorder that keeps the store-call histogram and ignores everything else.
struct Keep(Arc<StoreSeconds>);

impl Recorder for Keep {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() != names::STORE_SECONDS {
            return Histogram::noop();
        }
        let op = key
            .labels()
            .find(|l| l.key() == "op")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        Histogram::from_arc(Arc::new(Values {
            op,
            seen: self.0.clone(),
        }))
    }
}

/// A memory store whose loads take 30 ms, as a store behind a network would.
#[derive(Debug, Clone, Default)]
struct SlowLoads(MemoryStore);

const SLOW: Duration = Duration::from_millis(30);

#[async_trait]
impl SessionStore for SlowLoads {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        tokio::time::sleep(SLOW).await;
        self.0.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.0.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.0.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.0.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }
}

/// Stores a session in `store`, then reads it back through a new handle, all under a
/// recorder local to this thread; what the histogram received.
fn recorded<S: SessionStore + Clone>(store: S) -> Result<Vec<(String, f64)>, Error> {
    let seen = Arc::new(StoreSeconds::default());
    let recorder = Keep(seen.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Error::Store(StoreError::backend("starting a runtime", e)))?;
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let first = Session::new(store.clone(), SessionConfig::default());
            first.insert("n", 1).await?;
            first.save().await?;
            let again = Session::open(store, SessionConfig::default(), first.id().await);
            assert_eq!(again.get::<i64>("n").await?, Some(1));
            Ok::<_, Error>(())
        })
    })?;
    let values = seen.0.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(values)
}

#[test]
fn a_store_call_that_waits_records_how_long_it_waited() -> Result<(), Error> {
    let values = recorded(SlowLoads::default())?;
    let loads: Vec<f64> = values
        .iter()
        .filter(|(op, _)| op == "load")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(loads.len(), 1, "{values:?}");
    assert!(
        loads[0] >= SLOW.as_secs_f64() && loads[0] < 5.0,
        "a 30 ms load recorded {} s",
        loads[0]
    );
    Ok(())
}

#[test]
fn a_store_call_that_answers_at_once_records_zero() -> Result<(), Error> {
    let values = recorded(MemoryStore::new())?;
    let ops: Vec<&str> = values.iter().map(|(op, _)| op.as_str()).collect();
    assert!(ops.contains(&"load") && ops.contains(&"create"), "{ops:?}");
    assert!(
        values.iter().all(|(_, v)| *v == 0.0),
        "in-process calls: {values:?}"
    );
    Ok(())
}
