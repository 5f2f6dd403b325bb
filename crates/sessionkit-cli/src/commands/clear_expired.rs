//! `sessionkit clear-expired`.

use std::io::IsTerminal as _;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sessionkit_any::AnyStore;
use sessionkit_core::SessionStore as _;

use super::Failure;

pub(crate) async fn run(store: &AnyStore, batch: u64, json: bool) -> Result<(), Failure> {
    if store.expired_deletion().is_none() {
        let message = format!(
            "{} expires sessions by itself; nothing to clear",
            store.describe()
        );
        crate::output::done(json, &message);
        return Ok(());
    }
    let bar = (std::io::stderr().is_terminal() && !json).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("deleting expired sessions");
        bar
    });
    let started = Instant::now();
    let total = sessionkit_core::cleanup::delete_all_expired(store, batch, |n| {
        if let Some(bar) = &bar {
            bar.set_message(format!("{n} expired sessions deleted"));
            bar.tick();
        }
    })
    .await
    .map_err(Failure::store)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "deleted": total, "seconds": secs })
        );
    } else {
        println!("deleted {total} expired sessions in {secs:.1} s");
    }
    Ok(())
}
