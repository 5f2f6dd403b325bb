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
            "this id was rotated away (its session goes on under a new id)",
        ));
    }
    let mut view = crate::output::record_json(&record);
    view["data"] = serde_json::Value::Object(record.data.clone());
    view["version"] = record.version.into();
    if json {
        crate::output::line(view)
    } else {
        crate::output::line(serde_json::to_string_pretty(&view).map_err(Failure::store)?)
    }
}
