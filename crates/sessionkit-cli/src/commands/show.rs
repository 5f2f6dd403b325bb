//! `sessionkit show`.

use sessionkit_any::AnyStore;
use sessionkit_core::store::StoreError;
use sessionkit_core::{SessionStore as _, CSRF_SECRET_KEY};

use super::{session_ref, Failure};

pub(crate) async fn run(store: &AnyStore, session: &str, json: bool) -> Result<(), Failure> {
    let id = session_ref(session)?;
    let record = match store.load(&id).await {
        Ok(record) => record.ok_or_else(Failure::not_found)?,
        Err(e @ StoreError::Corrupt(_)) => {
            let hint = format!(
                "the application starts an empty session for it; `sessionkit revoke {}` deletes it",
                id.to_hex()
            );
            return Err(Failure::store_because(&e, &hint));
        }
        Err(e) => return Err(Failure::store(e)),
    };
    if record.moved_to.is_some() {
        // The pointer a login or cycle_id leaves for a few minutes: not a session.
        return Err(Failure::not_found_because(
            &super::revoke::rotated_away(store, record).await?,
        ));
    }
    let mut view = crate::output::record_json(&record);
    let mut data = record.data.clone();
    if let Some(secret) = data.get_mut(CSRF_SECRET_KEY) {
        // Whoever reads the secret can forge the session's CSRF tokens: a support
        // terminal or a pasted output must not show it.
        *secret = "(hidden: the session's CSRF secret)".into();
    }
    view["data"] = serde_json::Value::Object(data);
    view["version"] = record.version.into();
    // Human output is the same JSON, indented.
    crate::output::json(&view, !json)
}
