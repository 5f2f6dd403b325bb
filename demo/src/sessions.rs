//! "Your active sessions": every session of the logged-in user across devices, from
//! the store's user index, with revoke per session and "log out all other devices".
//!
//! Sessions are named by their `IdHash` (hex), never by their id: the page never
//! shows a usable cookie. A hash is revoked only after checking that it is one of the
//! logged-in user's own sessions.

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sessionkit::{csrf, IdHash, Record, Session};

use crate::error::AppError;
use crate::{auth, page, store, AppState};

/// One row of the page.
#[derive(Debug, Clone)]
pub struct Device {
    /// The session's hash (what the revoke form sends back).
    pub hash: IdHash,
    /// The record: created, last seen, client.
    pub record: Record,
    /// Whether it is the session of this request.
    pub current: bool,
}

/// `GET /sessions`
pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let Some(user) = auth::current_user(&session, state.users()).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let frame = page::frame(&session).await?;
    let Some(index) = state
        .user_index_store()
        .and_then(|store| store.user_index())
    else {
        let token = match state.generations() {
            Some(_) => Some(csrf::token(&session).await?),
            None => None,
        };
        return Ok(page::sessions_unavailable(&frame, token.as_deref()).into_response());
    };
    let current = session.id_hash().await;
    let devices = store::timed(index.sessions_of(&user.name))
        .await?
        .into_iter()
        // As a request would find them: timeouts lowered since apply here too.
        .filter(|record| session.accepts(record))
        .map(|record| Device {
            hash: record.id,
            current: Some(record.id) == current,
            record,
        })
        .collect::<Vec<_>>();
    let token = csrf::token(&session).await?;
    Ok(page::sessions(&frame, &devices, &token).into_response())
}

/// The revoke form's field.
#[derive(Debug, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    session: String,
}

/// `POST /sessions/revoke`: ends one of the user's own sessions.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form?;
    let Some(user) = auth::current_user(&session, state.users()).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let target = IdHash::from_hex(form.session.trim())
        .ok_or_else(|| AppError::BadRequest("Invalid session reference".to_owned()))?;
    if session.id_hash().await == Some(target) {
        session.logout().await;
        return Ok(Redirect::to("/login").into_response());
    }
    let Some(store) = state.user_index_store() else {
        return Err(AppError::NotFound("No such session"));
    };
    let Some(index) = store.user_index() else {
        return Err(AppError::NotFound("No such session"));
    };
    // Ownership first: only a hash among this user's own sessions is deleted. Anything
    // else gets the same answer as a hash that does not exist.
    let owned = store::timed(index.sessions_of(&user.name))
        .await?
        .iter()
        .any(|record| record.id == target);
    if !owned {
        tracing::warn!(user = %user.name, session = %target, "refused to revoke a session that is not among the user's live sessions (ended already, or not theirs)");
        return Err(AppError::NotFound("No such session"));
    }
    store::timed(store.delete(&target)).await?;
    tracing::info!(user = %user.name, session = %target, "session revoked");
    Ok(Redirect::to("/sessions").into_response())
}

/// `POST /sessions/logout_others`: ends every session of the user but this one.
pub(crate) async fn logout_others(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let Some(user) = auth::current_user(&session, state.users()).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Some(index) = state.user_index_store().and_then(|s| s.user_index()) else {
        let Some(generations) = state.generations() else {
            return Err(AppError::NotFound(
                "This session store cannot end other devices' sessions",
            ));
        };
        // Cookie sessions: a new generation revokes every cookie of the user issued
        // before; logging in again here seals this browser's with the new one.
        store::timed(sessionkit::generations::Generations::bump(
            generations,
            &user.name,
        ))
        .await?;
        session.login(&user.name).await?;
        tracing::info!(user = %user.name, "logged out other devices (cookie sessions)");
        return Ok(Redirect::to("/sessions").into_response());
    };
    let current = session.id_hash().await;
    let ended = store::timed(index.delete_sessions_of(&user.name, current.as_ref())).await?;
    tracing::info!(user = %user.name, ended, "logged out other devices");
    Ok(Redirect::to("/sessions").into_response())
}
