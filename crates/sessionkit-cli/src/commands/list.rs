//! `sessionkit list`.

use sessionkit_any::AnyStore;
use sessionkit_core::{IdHash, Record, SessionListing, SessionStore as _};

use super::Failure;
use crate::output;

/// Records asked of the store per call while listing.
const PAGE: usize = 500;

pub(crate) async fn run(
    store: &AnyStore,
    user: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    if limit == 0 {
        return Err(Failure::usage("--limit must be at least 1"));
    }
    let mut records = match user {
        Some(user) => {
            let index = store
                .user_index()
                .ok_or_else(|| Failure::unsupported(store, "list the sessions of a user"))?;
            let mut records = index.sessions_of(user).await.map_err(Failure::store)?;
            records.retain(|r| r.moved_to.is_none());
            records
        }
        None => {
            let listing = store
                .listing()
                .ok_or_else(|| Failure::unsupported(store, "enumerate sessions"))?;
            // One more than shown, to know whether there are more.
            live_sessions(listing, limit.saturating_add(1)).await?
        }
    };
    let more = records.len() > limit;
    records.truncate(limit);
    if more {
        // On stderr: the table and the JSON on stdout stay what scripts read.
        eprintln!("sessionkit: showing the first {limit} sessions; there are more (--limit)");
    }
    if json {
        let rows: Vec<_> = records.iter().map(output::record_json).collect();
        output::json(&serde_json::Value::Array(rows), false)
    } else if records.is_empty() {
        output::line("no live sessions")
    } else {
        output::sessions_table(&records)
    }
}

/// Up to `limit` live sessions, paging past the records of ids rotated away (a login or
/// `cycle_id` leaves one behind for a few minutes), which are not sessions of their own.
async fn live_sessions(listing: &dyn SessionListing, limit: usize) -> Result<Vec<Record>, Failure> {
    let mut live = Vec::new();
    let mut after: Option<IdHash> = None;
    while live.len() < limit {
        let page = listing
            .list(after.as_ref(), PAGE)
            .await
            .map_err(Failure::store)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let last_page = page.len() < PAGE;
        live.extend(page.into_iter().filter(|r| r.moved_to.is_none()));
        if last_page {
            break;
        }
    }
    Ok(live)
}
