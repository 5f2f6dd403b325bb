//! `sessionkit revoke`.

use sessionkit_any::AnyStore;
use sessionkit_core::store::StoreError;
use sessionkit_core::SessionStore as _;

use super::{session_ref, Failure};

pub(crate) async fn run(
    store: &AnyStore,
    session: Option<&str>,
    user: Option<&str>,
    except: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    match (session, user) {
        (Some(_), None) if except.is_some() => Err(Failure::usage(
            "--except keeps one of a user's sessions: use it with --user",
        )),
        (Some(session), None) => {
            let id = session_ref(session)?;
            let record = match store.load(&id).await {
                Ok(record) => record,
                // A record that cannot be read is no pointer; it is removed (the
                // application deletes it too when a request presents it).
                Err(StoreError::Corrupt(_)) => {
                    // Whatever `delete` answers (stores count only live records).
                    store.delete(&id).await.map_err(Failure::store)?;
                    return crate::output::done(json, "deleted 1 unreadable session record");
                }
                Err(e) => return Err(Failure::store(e)),
            };
            if let Some(pointer) = record.filter(|r| r.moved_to.is_some()) {
                // Deleting the pointer would end nothing.
                return Err(Failure::not_found_because(
                    &rotated_away(store, pointer).await?,
                ));
            }
            if !store.delete(&id).await.map_err(Failure::store)? {
                return Err(Failure::not_found());
            }
            crate::output::done(json, "revoked 1 session")
        }
        (None, Some(user)) => {
            let index = store
                .user_index()
                .ok_or_else(|| Failure::unsupported(store, "find the sessions of a user"))?;
            let keep = except.map(session_ref).transpose()?;
            if let Some(keep) = &keep {
                // A mistyped or stale hash would otherwise keep nothing: every session
                // of the user, the one meant to stay among them, would end.
                let kept = store.load(keep).await.map_err(Failure::store)?;
                let now = time::OffsetDateTime::now_utc();
                let theirs = kept.is_some_and(|r| {
                    r.moved_to.is_none() && !r.is_expired(now) && r.user.as_deref() == Some(user)
                });
                if !theirs {
                    return Err(Failure::not_found_because(&format!(
                        "--except names no live session of {user}; nothing was revoked"
                    )));
                }
            }
            let n = index
                .delete_sessions_of(user, keep.as_ref())
                .await
                .map_err(Failure::store)?;
            if json {
                crate::output::line(serde_json::json!({ "ok": true, "revoked": n }))
            } else {
                let plural = if n == 1 { "" } else { "s" };
                crate::output::line(format_args!("revoked {n} session{plural} of {user}"))
            }
        }
        _ => Err(Failure::usage("give a session, or --user")),
    }
}

/// Why a rotated-away id names no session to revoke, and what does: the session at
/// the end of its chain of rotations, or that a login as another user ended it.
pub(crate) async fn rotated_away(
    store: &AnyStore,
    pointer: sessionkit_core::Record,
) -> Result<String, Failure> {
    let mut pointer = pointer;
    // A few hops at most: each login or cycle_id adds one, and pointers are short-lived.
    for _ in 0..8 {
        if pointer.ended_by_login() {
            return Ok(
                "this id's session ended at a login as another user; nothing is left to revoke"
                    .to_owned(),
            );
        }
        let Some(next) = pointer.moved_to else {
            break;
        };
        match store.load(&next).await.map_err(Failure::store)? {
            Some(record) if record.moved_to.is_some() => pointer = record,
            Some(_) => {
                return Ok(format!(
                    "this id was rotated away; its session goes on as {}: revoke that",
                    next.to_hex()
                ))
            }
            None => {
                return Ok("this id was rotated away, and its session has ended since".to_owned())
            }
        }
    }
    Ok("this id was rotated away".to_owned())
}
