//! Each store call runs inside a `sessionkit_store` span carrying the operation, when a
//! subscriber records debug spans; with none (or a quieter level) none is made.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sessionkit_core::{Error, MemoryStore, Session, SessionConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps the name and `op` field of every span it enables: those at or below `max`,
/// and, when `named` is set, only spans of that name (as a filter by span name does).
struct Spans {
    max: Level,
    named: Option<&'static str>,
    next: AtomicU64,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

struct Op(String);

impl Visit for Op {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "op" {
            value.clone_into(&mut self.0);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "op" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Spans {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        match self.named {
            Some(name) => metadata.is_span() && metadata.name() == name,
            None => *metadata.level() <= self.max,
        }
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.max.into())
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut op = Op(String::new());
        span.record(&mut op);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((span.metadata().name().to_owned(), op.0));
        }
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The spans a create and a load of one session open under a subscriber at `max`.
fn spans_at(max: Level) -> Result<Vec<(String, String)>, Error> {
    spans_of(Spans {
        max,
        named: None,
        next: AtomicU64::new(0),
        seen: Arc::default(),
    })
}

/// The spans a create and a load of one session open under `subscriber`.
fn spans_of(subscriber: Spans) -> Result<Vec<(String, String)>, Error> {
    let seen = subscriber.seen.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let store = MemoryStore::new();
            let session = Session::new(store.clone(), SessionConfig::default());
            session.insert("user", "ada").await?;
            session.save().await?;
            let id = session.id().await.expect("saved");
            let again = Session::open(store, SessionConfig::default(), Some(id));
            again.get::<String>("user").await.map(drop)
        })
    })?;
    let spans = seen.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(spans)
}

#[test]
fn store_calls_run_in_a_sessionkit_store_span_naming_the_operation_at_debug_level(
) -> Result<(), Error> {
    let spans = spans_at(Level::DEBUG)?;
    let ops: Vec<&str> = spans
        .iter()
        .filter(|(name, _)| name == "sessionkit_store")
        .map(|(_, op)| op.as_str())
        .collect();
    assert_eq!(ops, ["create", "load"], "every span: {spans:?}");
    Ok(())
}

#[test]
fn no_store_span_reaches_a_subscriber_that_records_nothing_below_info() -> Result<(), Error> {
    let spans = spans_at(Level::INFO)?;
    assert!(spans.is_empty(), "no span expected, got {spans:?}");
    Ok(())
}

#[test]
fn a_filter_that_enables_spans_by_name_sees_the_store_spans() -> Result<(), Error> {
    // As `RUST_LOG=[sessionkit_store]=debug` does: the most verbose level any directive
    // names is debug, and only spans of that name are enabled.
    let spans = spans_of(Spans {
        max: Level::DEBUG,
        named: Some("sessionkit_store"),
        next: AtomicU64::new(0),
        seen: Arc::default(),
    })?;
    let ops: Vec<&str> = spans.iter().map(|(_, op)| op.as_str()).collect();
    assert_eq!(ops, ["create", "load"], "every span: {spans:?}");
    Ok(())
}
