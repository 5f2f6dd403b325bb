//! The cart: `/add_to_cart/<item>`, `/view_cart`, `/remove_from_cart/<item>`,
//! `/checkout`.
//!
//! Each item is its own session key, `cart:<item>`, holding its quantity, changed with
//! `Session::increment`. Increments are operations that sessionkit re-applies when two
//! requests of one session save at the same time, so parallel adds — of different
//! items or of the same one — are all counted, up to the limit of different items
//! (an add of a new item saves at once and looks at the cart as saved).

use axum::extract::{Path, State};
use axum::response::Html;
use sessionkit::Session;

use crate::error::AppError;
use crate::{page, AppState};

/// Prefix of the cart's session keys.
const PREFIX: &str = "cart:";
/// Longest item name accepted.
const MAX_ITEM_LEN: usize = 64;

/// One line of the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The item, as the user named it.
    pub item: String,
    /// How many.
    pub quantity: i64,
}

fn key(item: &str) -> String {
    format!("{PREFIX}{item}")
}

fn check_item(item: &str) -> Result<(), AppError> {
    if item.chars().count() > MAX_ITEM_LEN || item.chars().any(crate::page::is_unprintable) {
        return Err(AppError::BadRequest(format!(
            "Item names are at most {MAX_ITEM_LEN} printable characters"
        )));
    }
    Ok(())
}

/// The cart's lines, ordered by item name.
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn lines(session: &Session) -> Result<Vec<Line>, AppError> {
    Ok(session
        .items()
        .await?
        .into_iter()
        .filter_map(|(key, value)| {
            let item = key.strip_prefix(PREFIX)?.to_owned();
            let quantity = value.as_i64().filter(|q| *q > 0)?;
            Some(Line { item, quantity })
        })
        .collect())
}

/// `GET /add_to_cart/<item>`
/// (At most the store's [`crate::Limits::cart_items`] different items: the sessions stay
/// small, a cookie session under 4 KB.)
pub(crate) async fn add(
    State(state): State<AppState>,
    session: Session,
    Path(item): Path<String>,
) -> Result<Html<String>, AppError> {
    check_item(&item)?;
    let most = state.limits().cart_items;
    let full = || {
        AppError::BadRequest(format!(
            "Your cart is full ({most} different items at most)"
        ))
    };
    let new_item = !session.contains(&key(&item)).await?;
    if new_item && lines(&session).await?.len() >= most {
        return Err(full());
    }
    let quantity = session.increment(&key(&item), 1).await?;
    if new_item {
        // Parallel adds each passed the check above on their own copy of the cart.
        // Saved, the session holds every add saved before this one: the add that went
        // past the limit takes its item back out (saved when the request ends).
        session.save().await?;
        if lines(&session).await?.len() > most {
            session.remove_value(&key(&item)).await?;
            return Err(full());
        }
    }
    let frame = page::frame(&session).await?;
    Ok(page::added(&frame, &item, quantity))
}

/// `GET /view_cart`
pub(crate) async fn view(session: Session) -> Result<Html<String>, AppError> {
    let lines = lines(&session).await?;
    let frame = page::frame(&session).await?;
    Ok(page::cart(&frame, &lines))
}

/// `GET /remove_from_cart/<item>`
pub(crate) async fn remove(
    session: Session,
    Path(item): Path<String>,
) -> Result<Html<String>, AppError> {
    check_item(&item)?;
    let removed = session.remove_value(&key(&item)).await?.is_some();
    let frame = page::frame(&session).await?;
    Ok(page::removed(&frame, &item, removed))
}

/// `GET /checkout`
pub(crate) async fn checkout(session: Session) -> Result<Html<String>, AppError> {
    let lines = lines(&session).await?;
    for line in &lines {
        session.remove_value(&key(&line.item)).await?;
    }
    let frame = page::frame(&session).await?;
    Ok(page::checkout(&frame, &lines))
}
