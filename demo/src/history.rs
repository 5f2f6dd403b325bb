//! Visit history: a middleware records every page view (the tutorial's
//! `before_request`), `/view_history` lists them in visit order.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use sessionkit::{Key, Session};

use crate::error::AppError;
use crate::{page, AppState, Limits};

/// The visited paths, oldest first.
const HISTORY: Key<Vec<String>> = Key::new("history");

/// Middleware for page routes: records `GET` page views, then runs the handler. The
/// store's [`Limits`] say how many visits are kept and shown (older ones drop off as
/// new ones arrive) and how long a recorded path may be.
pub(crate) async fn record(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET {
        if let Err(e) = push(&session, request.uri().path(), state.limits()).await {
            return e.into_response();
        }
    }
    next.run(request).await
}

async fn push(session: &Session, path: &str, limits: Limits) -> Result<(), AppError> {
    // Control and bidirectional-override characters are dropped, as everywhere else
    // the demo shows what a user typed.
    let path: String = percent_decode(path)
        .chars()
        .filter(|c| !crate::page::is_unprintable(*c))
        .take(limits.history_path)
        .collect();
    // A capped push is one operation: parallel requests of one session each keep their
    // visit, and the list never grows past what the page shows.
    session
        .push_capped(HISTORY.name(), &path, limits.history)
        .await?;
    Ok(())
}

/// `/add_to_cart/%C3%A9` → `/add_to_cart/é` (invalid UTF-8 becomes U+FFFD), as
/// Flask's `request.path` shows it.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn visits(session: &Session) -> Result<Vec<String>, AppError> {
    match HISTORY.get(session).await {
        Ok(list) => Ok(list.unwrap_or_default()),
        Err(sessionkit::Error::Value { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /view_history`
pub(crate) async fn view(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, AppError> {
    let visits = visits(&session).await?;
    let shown = &visits[visits.len().saturating_sub(state.limits().history)..];
    let frame = page::frame(&session).await?;
    Ok(page::history(&frame, shown))
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn paths_are_shown_decoded() {
        assert_eq!(
            percent_decode("/add_to_cart/%3Cb%3Ex%3C%2Fb%3E"),
            "/add_to_cart/<b>x</b>"
        );
        assert_eq!(percent_decode("/a%C3%A9%zz%4"), "/aé%zz%4");
        assert_eq!(percent_decode("/%FF"), "/\u{fffd}");
    }
}
