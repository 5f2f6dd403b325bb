//! `sessionkit clear-expired`.

use std::io::IsTerminal as _;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sessionkit_any::AnyStore;
use sessionkit_core::SessionStore as _;

use super::Failure;
use crate::output::line;

pub(crate) async fn run(store: &AnyStore, batch: u64, json: bool) -> Result<(), Failure> {
    let started = Instant::now();
    let deleted = if store.expired_deletion().is_some() {
        Some(delete_expired(store, batch, json).await?)
    } else {
        None
    };
    // Redis: index entries of users' sessions that expired on their own.
    let pruned = store.housekeeping().await.map_err(Failure::store)?;
    let secs = started.elapsed().as_secs_f64();
    if json {
        return line(serde_json::json!({
            "ok": true,
            "deleted": deleted.unwrap_or(0),
            // The store deletes expired sessions itself (Redis, Memcached): 0 above
            // says nothing was left for this command, not that nothing expired.
            "expires_by_itself": deleted.is_none(),
            "index_entries_pruned": pruned,
            "seconds": secs,
        }));
    }
    match deleted {
        Some(total) => line(format_args!(
            "deleted {total} expired sessions in {secs:.1} s"
        ))?,
        None => line(format_args!(
            "{} expires sessions by itself; nothing to delete",
            store.describe()
        ))?,
    }
    if pruned > 0 {
        line(format_args!(
            "pruned {pruned} user-index entries of sessions that had expired"
        ))?;
    }
    Ok(())
}

/// Deletes every expired session in batches, with a spinner on a terminal.
async fn delete_expired(store: &AnyStore, batch: u64, json: bool) -> Result<u64, Failure> {
    let bar = (std::io::stderr().is_terminal() && !json).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("deleting expired sessions");
        bar
    });
    let total = sessionkit_core::cleanup::delete_all_expired(store, batch, |n| {
        if let Some(bar) = &bar {
            bar.set_message(format!("{n} expired sessions deleted"));
            bar.tick();
        }
    })
    .await
    .map_err(Failure::store);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    total
}
