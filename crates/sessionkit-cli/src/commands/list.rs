//! `sessionkit list`.

use sessionkit_any::AnyStore;
use sessionkit_core::SessionStore as _;

use super::Failure;

pub(crate) async fn run(
    store: &AnyStore,
    user: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    let mut records = match user {
        Some(user) => {
            let index = store
                .user_index()
                .ok_or_else(|| Failure::unsupported(store, "list the sessions of a user"))?;
            index.sessions_of(user).await.map_err(Failure::store)?
        }
        None => {
            let listing = store
                .listing()
                .ok_or_else(|| Failure::unsupported(store, "enumerate sessions"))?;
            listing.list(None, limit).await.map_err(Failure::store)?
        }
    };
    records.retain(|r| r.moved_to.is_none());
    records.truncate(limit);
    if json {
        let rows: Vec<_> = records.iter().map(crate::output::record_json).collect();
        println!("{}", serde_json::Value::Array(rows));
    } else if records.is_empty() {
        println!("no live sessions");
    } else {
        crate::output::sessions_table(&records);
    }
    Ok(())
}
