//! `sessionkit stats`.

use sessionkit_any::AnyStore;
use sessionkit_core::SessionStore as _;
use time::OffsetDateTime;

use super::Failure;
use crate::output::line;

pub(crate) async fn run(store: &AnyStore, top: usize, json: bool) -> Result<(), Failure> {
    let listing = store
        .listing()
        .ok_or_else(|| Failure::unsupported(store, "enumerate sessions"))?;
    let stats = listing
        .stats(OffsetDateTime::now_utc(), top)
        .await
        .map_err(Failure::store)?;
    if json {
        return line(serde_json::to_string(&stats).map_err(Failure::store)?);
    }
    line(format_args!("live sessions:            {}", stats.live))?;
    line(format_args!(
        "expiring within an hour:  {}",
        stats.expiring_within_hour
    ))?;
    line(format_args!(
        "expiring within a day:    {}",
        stats.expiring_within_day
    ))?;
    line(format_args!(
        "bound to a user:          {}",
        stats.with_user
    ))?;
    if stats.top_users.is_empty() {
        return Ok(());
    }
    line("")?;
    let rows: Vec<Vec<String>> = stats
        .top_users
        .iter()
        .map(|(u, n)| vec![u.clone(), n.to_string()])
        .collect();
    crate::output::table(&["USER", "SESSIONS"], &rows)
}
