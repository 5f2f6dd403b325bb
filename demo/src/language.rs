//! `/set_language/<language>` and the greeting on `/`.

use axum::extract::Path;
use axum::response::Html;
use sessionkit::{Key, Session};

use crate::error::AppError;
use crate::page;

/// The chosen language, as given (shown escaped; unknown ones greet in English).
const LANGUAGE: Key<String> = Key::new("language");

/// Longest language tag kept (BCP 47 tags in practice stay far below).
const MAX_LEN: usize = 35;

/// The greeting in `language`; English for anything unknown.
pub fn greeting(language: &str) -> &'static str {
    match language {
        "es" => "¡Hola, Mundo!",
        "fr" => "Bonjour, le monde!",
        "ja" => "こんにちは、世界!",
        _ => "Hello, World!",
    }
}

/// `GET /`
pub(crate) async fn index(session: Session) -> Result<Html<String>, AppError> {
    let language = match LANGUAGE.get(&session).await {
        Ok(language) => language.unwrap_or_default(),
        // Not a string (an older format, say): greet in English.
        Err(sessionkit::Error::Value { .. }) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let frame = page::frame(&session).await?;
    Ok(page::home(&frame, greeting(&language)))
}

/// `GET /set_language/<language>`
pub(crate) async fn set_language(
    session: Session,
    Path(language): Path<String>,
) -> Result<Html<String>, AppError> {
    if language.chars().count() > MAX_LEN || language.chars().any(crate::page::is_unprintable) {
        return Err(AppError::BadRequest(format!(
            "Language codes are at most {MAX_LEN} printable characters"
        )));
    }
    LANGUAGE.insert(&session, language.clone()).await?;
    let frame = page::frame(&session).await?;
    Ok(page::language_set(&frame, &language))
}
