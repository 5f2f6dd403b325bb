//! The routes under test, served three ways: bare axum, tower-sessions and sessionkit.
//!
//! | route | what the handler does |
//! | --- | --- |
//! | `GET /idle` | never touches the session: the layer's fixed cost |
//! | `GET /read` | reads one key of an existing session |
//! | `GET /write` | increments a counter: a save every request |
//! | `GET /new` | inserts into a fresh session (no cookie sent): a create every request |
//! | `GET /seed` | creates a session holding the [realistic payload](crate::payload) |
//! | `GET /append` | appends one item to a list (the lost-update check) |
//! | `GET /count` | how many items the list holds |
//!
//! The bare router answers the four measured routes with the same bodies and no
//! session at all; it is the ceiling the session libraries are compared with.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::payload;

/// The key `/read` reads (part of the seeded payload).
const READ_KEY: &str = "username";
/// The counter `/write` increments.
const COUNTER_KEY: &str = "n";
/// The list `/append` appends to.
const LIST_KEY: &str = "items";

/// Numbers the seeded sessions, so every payload differs.
static SEEDED: AtomicU64 = AtomicU64::new(0);

fn next_seed() -> u64 {
    SEEDED.fetch_add(1, Ordering::Relaxed)
}

/// The four measured routes without any session layer.
pub fn bare() -> Router {
    Router::new()
        .route("/idle", get(|| async { "ok" }))
        .route("/read", get(|| async { "customer00000000" }))
        .route("/write", get(|| async { "1" }))
        .route("/new", get(|| async { "created" }))
}

/// The bare routes under a layer that does nothing, added with `Router::layer` as the
/// session layers are: axum's own cost of layering a router, per request.
pub fn bare_layered() -> Router {
    bare().layer(tower::layer::util::Identity::new())
}

/// Every route on sessionkit's [`SessionLayer`](sessionkit::SessionLayer) over `store`,
/// with the layer's defaults.
pub fn sessionkit(store: impl sessionkit::SessionStore) -> Router {
    use sessionkit::{Error, Session};

    async fn read(session: Session) -> Result<String, Error> {
        Ok(session.get::<String>(READ_KEY).await?.unwrap_or_default())
    }
    async fn write(session: Session) -> Result<String, Error> {
        Ok(session.increment(COUNTER_KEY, 1).await?.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, Error> {
        session.insert("user", "new").await?;
        Ok("created")
    }
    async fn seed(session: Session) -> Result<&'static str, Error> {
        session.update(payload::entries(next_seed())).await?;
        Ok("seeded")
    }
    async fn append(session: Session) -> Result<&'static str, Error> {
        session.push(LIST_KEY, 1u8).await?;
        Ok("appended")
    }
    async fn count(session: Session) -> Result<String, Error> {
        let items: Vec<u8> = session.get(LIST_KEY).await?.unwrap_or_default();
        Ok(items.len().to_string())
    }

    Router::new()
        .route("/idle", get(|| async { "ok" }))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .route("/seed", get(seed))
        .route("/append", get(append))
        .route("/count", get(count))
        .layer(sessionkit::SessionLayer::new(store))
}

/// A tower-sessions error as a 500 response.
struct TowerError(tower_sessions::session::Error);

impl From<tower_sessions::session::Error> for TowerError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for TowerError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

/// Every route on tower-sessions' `SessionManagerLayer` over `store`, with its
/// defaults. Its handlers do what a tower-sessions user writes: a read-modify-write
/// of the value (`get`, change, `insert`).
pub fn tower_sessions<S>(store: S) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    use tower_sessions::Session;

    async fn read(session: Session) -> Result<String, TowerError> {
        Ok(session.get::<String>(READ_KEY).await?.unwrap_or_default())
    }
    async fn write(session: Session) -> Result<String, TowerError> {
        let n = session.get::<i64>(COUNTER_KEY).await?.unwrap_or(0) + 1;
        session.insert(COUNTER_KEY, n).await?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, TowerError> {
        session.insert("user", "new").await?;
        Ok("created")
    }
    async fn seed(session: Session) -> Result<&'static str, TowerError> {
        for (key, value) in payload::entries(next_seed()) {
            session.insert(&key, value).await?;
        }
        Ok("seeded")
    }
    async fn append(session: Session) -> Result<&'static str, TowerError> {
        let mut items: Vec<u8> = session.get(LIST_KEY).await?.unwrap_or_default();
        items.push(1);
        session.insert(LIST_KEY, items).await?;
        Ok("appended")
    }
    async fn count(session: Session) -> Result<String, TowerError> {
        let items: Vec<u8> = session.get(LIST_KEY).await?.unwrap_or_default();
        Ok(items.len().to_string())
    }

    Router::new()
        .route("/idle", get(|| async { "ok" }))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .route("/seed", get(seed))
        .route("/append", get(append))
        .route("/count", get(count))
        .layer(tower_sessions::SessionManagerLayer::new(store))
}
