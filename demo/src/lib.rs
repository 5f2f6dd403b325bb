//! The sessionkit demo app: a small shop whose cart, language and visit history live
//! in the session.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sessionkit::{Key, Session, SessionLayer};

const LANGUAGE: Key<String> = Key::new("language");
const CART: Key<Vec<String>> = Key::new("cart");

/// Handler errors: a session that cannot be loaded or saved becomes a 503 page.
#[derive(Debug)]
pub struct AppError(sessionkit::Error);

impl From<sessionkit::Error> for AppError {
    fn from(e: sessionkit::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "session error");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Session storage is unavailable. Please try again.",
        )
            .into_response()
    }
}

type Page = Result<Html<String>, AppError>;

/// The demo's routes behind `layer`.
pub fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/set_language/{language}", get(set_language))
        .route("/add_to_cart/{item}", get(add_to_cart))
        .route("/view_cart", get(view_cart))
        .route("/logout", get(logout))
        .layer(layer)
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn greeting(language: &str) -> &'static str {
    match language {
        "es" => "¡Hola, Mundo!",
        "fr" => "Bonjour, le monde!",
        "ja" => "こんにちは、世界!",
        _ => "Hello, World!",
    }
}

async fn index(session: Session) -> Page {
    let language = LANGUAGE.get(&session).await?.unwrap_or_default();
    Ok(Html(format!("<p>{}</p>", greeting(&language))))
}

async fn set_language(session: Session, Path(language): Path<String>) -> Page {
    LANGUAGE.insert(&session, language.clone()).await?;
    Ok(Html(format!(
        "<p>Language set to {}</p>",
        escape(&language)
    )))
}

async fn add_to_cart(session: Session, Path(item): Path<String>) -> Page {
    session.push(CART.name(), &item).await?;
    Ok(Html(format!("<p>Added {} to your cart</p>", escape(&item))))
}

async fn view_cart(session: Session) -> Page {
    let cart = CART.get(&session).await?.unwrap_or_default();
    if cart.is_empty() {
        return Ok(Html("<p>Your cart is empty</p>".to_owned()));
    }
    let items: Vec<String> = cart.iter().map(|i| escape(i)).collect();
    Ok(Html(format!(
        "<p>Your cart contains: {}</p>",
        items.join(", ")
    )))
}

async fn logout(session: Session) -> Page {
    session.logout().await;
    Ok(Html("<p>You have been logged out</p>".to_owned()))
}
