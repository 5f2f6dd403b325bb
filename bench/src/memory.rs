//! The memory figure: resident memory per session in each library's memory store,
//! with a million sessions of the [realistic payload](crate::payload).
//!
//! Each library is measured in a fresh child process (this binary with the hidden
//! `--memory-child` option), so neither inherits the other's heap: the child reads its
//! resident set size (`VmRSS` in `/proc/self/status`) after setting up the store, creates
//! the sessions through the library's own session API (as the layer would), reads it
//! again, and prints one line. Resident memory includes the allocator's overhead and
//! fragmentation, which is what an operator pays.

use std::process::Command;
use std::sync::Arc;

use clap::ValueEnum as _;

use crate::options::MemorySubject;
use crate::payload;
use crate::BoxError;

/// Every this many sessions one id is kept, to check afterwards that the store still
/// holds them (the memory store is bounded and may evict).
const SAMPLE_EVERY: u64 = 1_000;

/// One library's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryFigure {
    /// Whose store (or which reference).
    pub subject: MemorySubject,
    /// Sessions created.
    pub sessions: u64,
    /// Growth of the resident set, in bytes.
    pub rss_growth: u64,
    /// Mean JSON size of one payload, in bytes.
    pub payload_bytes: f64,
    /// Share of the sampled sessions still loadable at the end (1.0 = all).
    pub kept: f64,
}

impl MemoryFigure {
    /// Resident bytes per session.
    pub fn bytes_per_session(&self) -> f64 {
        if self.sessions == 0 {
            return 0.0;
        }
        self.rss_growth as f64 / self.sessions as f64
    }

    /// Bytes per session over payload bytes.
    pub fn overhead_ratio(&self) -> f64 {
        if self.payload_bytes > 0.0 {
            self.bytes_per_session() / self.payload_bytes
        } else {
            0.0
        }
    }
}

/// The resident set size of this process, in bytes.
fn rss_bytes() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS line")?
        .parse()?;
    Ok(kib * 1024)
}

/// Runs the figure for `library` in a child process.
///
/// # Errors
///
/// When the child cannot run or prints nothing usable.
pub fn measure_in_child(subject: MemorySubject, sessions: u64) -> Result<MemoryFigure, BoxError> {
    let value = subject
        .to_possible_value()
        .ok_or("every memory subject has a name")?;
    let name = value.get_name();
    let output = Command::new(std::env::current_exe()?)
        .args([
            "--memory-child",
            name,
            "--memory-sessions",
            &sessions.to_string(),
        ])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "memory child for {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8(output.stdout)?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [growth, payload_bytes, kept] = fields[..] else {
        return Err(format!("memory child for {name} printed {text:?}").into());
    };
    Ok(MemoryFigure {
        subject,
        sessions,
        rss_growth: growth.parse()?,
        payload_bytes: payload_bytes.parse()?,
        kept: kept.parse()?,
    })
}

/// The child's side: creates `sessions` sessions in `subject`'s memory store (or holds
/// that many payloads, for a reference) and prints `<rss growth> <mean payload bytes>
/// <share kept>`.
///
/// # Errors
///
/// When the runtime cannot start or a session cannot be saved.
pub fn child_main(subject: MemorySubject, sessions: u64) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let samples = 1_000.min(sessions.max(1));
    let payload_bytes = (0..samples)
        .map(|n| payload::json_size(&payload::entries(n)) as f64)
        .sum::<f64>()
        / samples as f64;
    let (growth, kept) = match subject {
        MemorySubject::Sessionkit => runtime.block_on(sessionkit_figure(sessions, false))?,
        MemorySubject::SessionkitCompact => runtime.block_on(sessionkit_figure(sessions, true))?,
        MemorySubject::TowerSessions => runtime.block_on(tower_sessions_figure(sessions))?,
        MemorySubject::JsonValues => reference(sessions, payload::entries)?,
        MemorySubject::JsonBytes => reference(sessions, |n| {
            serde_json::to_vec(&payload::entries(n)).unwrap_or_default()
        })?,
    };
    println!("{growth} {payload_bytes:.1} {kept:.4}");
    Ok(())
}

/// Holds `count` values made by `make` in a `Vec` (allocated up front, as a store's
/// table would be) and measures the growth.
fn reference<T>(count: u64, make: impl Fn(u64) -> T) -> Result<(u64, f64), BoxError> {
    let before = rss_bytes()?;
    let held: Vec<T> = (0..count).map(make).collect();
    let after = rss_bytes()?;
    drop(held);
    Ok((after.saturating_sub(before), 1.0))
}

async fn sessionkit_figure(sessions: u64, compact: bool) -> Result<(u64, f64), BoxError> {
    use sessionkit::{MemoryStore, Session, SessionConfig, SessionStore};

    let store: Arc<dyn SessionStore> = if compact {
        Arc::new(MemoryStore::new().compact())
    } else {
        Arc::new(MemoryStore::new())
    };
    let config = Arc::new(SessionConfig::default());
    let before = rss_bytes()?;
    let mut sampled = Vec::new();
    for n in 0..sessions {
        let session = Session::from_parts(store.clone(), config.clone(), None, None);
        session.update(payload::entries(n)).await?;
        session.save().await?;
        if n % SAMPLE_EVERY == 0 {
            sampled.push(session.id().await.ok_or("a saved session has an id")?);
        }
    }
    let after = rss_bytes()?;
    let mut kept = 0usize;
    for id in &sampled {
        if store.load(&id.hash()).await?.is_some() {
            kept += 1;
        }
    }
    Ok((
        after.saturating_sub(before),
        kept as f64 / sampled.len().max(1) as f64,
    ))
}

async fn tower_sessions_figure(sessions: u64) -> Result<(u64, f64), BoxError> {
    use tower_sessions::{MemoryStore, Session, SessionStore};

    let store = Arc::new(MemoryStore::default());
    let before = rss_bytes()?;
    let mut sampled = Vec::new();
    for n in 0..sessions {
        let session = Session::new(None, store.clone(), None);
        for (key, value) in payload::entries(n) {
            session.insert(&key, value).await?;
        }
        session.save().await?;
        if n % SAMPLE_EVERY == 0 {
            sampled.push(session.id().ok_or("a saved session has an id")?);
        }
    }
    let after = rss_bytes()?;
    let mut kept = 0usize;
    for id in &sampled {
        if store.load(id).await?.is_some() {
            kept += 1;
        }
    }
    Ok((
        after.saturating_sub(before),
        kept as f64 / sampled.len().max(1) as f64,
    ))
}
