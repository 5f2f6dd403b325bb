//! Rough throughput of a store, for the store crates' `*_ops` examples: concurrent
//! tasks each looping over a session of their own for a fixed time. A measurement, not
//! a test: the figures depend on the machine.
//!
//! ```no_run
//! use sessionkit_testkit::ops::{self, Op};
//!
//! # async fn run() -> Result<(), ops::BoxError> {
//! let store = sessionkit_core::MemoryStore::new();
//! ops::print_header(&[Op::Load, Op::Save]);
//! ops::print_rates(&store, "memory", &[1, 16], &[Op::Load, Op::Save], 3.0).await?;
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit_core::{Data, Record, SessionId, SessionStore};
use time::OffsetDateTime;

/// Any error of a measurement.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the tasks do in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Load the session.
    Load,
    /// Change one value and compare-and-swap (never contended: one task per session).
    Save,
    /// Move the expiry.
    Touch,
}

impl Op {
    fn column(self) -> &'static str {
        match self {
            Self::Load => "loads/s",
            Self::Save => "saves/s",
            Self::Touch => "touches/s",
        }
    }
}

/// Prints the column names for [`print_rates`].
pub fn print_header(ops: &[Op]) {
    let columns: String = ops
        .iter()
        .map(|op| format!(" {:>12}", op.column()))
        .collect();
    println!("{:<14} {:>5}{columns}", "store", "tasks");
}

/// For each task count: creates that many sessions, measures each operation for `secs`,
/// prints a row and deletes the sessions.
///
/// # Errors
///
/// When the store fails, or a live session does not load, save or touch.
pub async fn print_rates<S: SessionStore + Clone>(
    store: &S,
    label: &str,
    tasks: &[usize],
    ops: &[Op],
    secs: f64,
) -> Result<(), BoxError> {
    for &count in tasks {
        let records = sessions(store, count).await?;
        let mut row = format!("{label:<14} {count:>5}");
        for &op in ops {
            row.push_str(&format!(
                " {:>12.0}",
                rate(store, &records, op, secs).await?
            ));
        }
        println!("{row}");
        for record in &records {
            store.delete(&record.id).await?;
        }
    }
    Ok(())
}

/// `count` new sessions holding a small cart.
async fn sessions<S: SessionStore>(store: &S, count: usize) -> Result<Vec<Record>, BoxError> {
    let now = OffsetDateTime::now_utc();
    let mut records = Vec::new();
    for _ in 0..count {
        let mut data = Data::new();
        data.insert("user".into(), json!("alice"));
        data.insert("cart".into(), json!(["apple", "pear", "fig"]));
        let record = Record::new(
            SessionId::generate()?.hash(),
            data,
            now,
            now + time::Duration::hours(1),
        );
        store.create(&record).await?;
        records.push(record);
    }
    Ok(records)
}

/// Each task works on its own session for `secs`; returns operations per second.
async fn rate<S: SessionStore + Clone>(
    store: &S,
    records: &[Record],
    op: Op,
    secs: f64,
) -> Result<f64, BoxError> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for record in records {
        let (store, mut record) = (
            store.clone(),
            store.load(&record.id).await?.ok_or("a session is gone")?,
        );
        set.spawn(async move {
            let mut ops = 0_u64;
            while Instant::now() < deadline {
                match op {
                    Op::Load => {
                        store
                            .load(&record.id)
                            .await?
                            .ok_or("a live session did not load")?;
                    }
                    Op::Save => {
                        let expected = record.version;
                        record.version += 1;
                        record.data.insert("n".into(), json!(ops));
                        if !store.compare_and_swap(&record, expected).await? {
                            return Err::<u64, BoxError>(
                                "an uncontended compare-and-swap failed".into(),
                            );
                        }
                    }
                    Op::Touch => {
                        let now = OffsetDateTime::now_utc();
                        if !store
                            .touch(&record.id, now + time::Duration::hours(1), now)
                            .await?
                        {
                            return Err("a live session could not be touched".into());
                        }
                    }
                }
                ops += 1;
            }
            Ok(ops)
        });
    }
    let mut total = 0;
    while let Some(ops) = set.join_next().await {
        total += ops??;
    }
    Ok(total as f64 / secs)
}
