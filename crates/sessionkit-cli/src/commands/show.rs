//! `sessionkit show`.

use sessionkit_any::AnyStore;
use sessionkit_core::SessionStore as _;

use super::{session_ref, Failure};

pub(crate) async fn run(store: &AnyStore, session: &str, json: bool) -> Result<(), Failure> {
    let id = session_ref(session)?;
    let record = store
        .load(&id)
        .await
        .map_err(Failure::store)?
        .ok_or_else(Failure::not_found)?;
    if record.moved_to.is_some() {
        // The pointer a login or cycle_id leaves for a few minutes: not a session.
        return Err(Failure::not_found_because(
            &super::revoke::rotated_away(store, record).await?,
        ));
    }
    let mut view = crate::output::record_json(&record);
    view["data"] = serde_json::Value::Object(record.data.clone());
    view["version"] = record.version.into();
    // Human output is the same JSON, indented.
    crate::output::json(&view, !json)
}
