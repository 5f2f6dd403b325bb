//! `sessionkit revoke`.

use sessionkit_any::AnyStore;
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
            let record = store.load(&id).await.map_err(Failure::store)?;
            if record.is_some_and(|r| r.moved_to.is_some()) {
                // Deleting the pointer would end nothing: the session goes on.
                return Err(Failure::not_found_because(
                    "this id was rotated away (its session goes on under a new id); \
                     revoke that one, or every session of the user with --user",
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
