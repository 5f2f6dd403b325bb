//! Web sessions for tower and axum, done to the standard of Django's
//! `contrib.sessions`: a dict-like [`Session`] in every handler, stored where you
//! choose, saved without lost updates, expired by idle and absolute timeouts, with safe
//! cookie defaults and signed or encrypted cookies under a rotating key ring.
//!
//! ```
//! use axum::{routing::get, Router};
//! use sessionkit::{MemoryStore, Session, SessionLayer};
//!
//! async fn add_to_cart(session: Session) -> Result<String, sessionkit::Error> {
//!     session.push("cart", "apple").await?; // parallel requests never lose an item
//!     let cart: Vec<String> = session.get("cart").await?.unwrap_or_default();
//!     Ok(format!("Your cart contains: {}", cart.join(", ")))
//! }
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! use tower::ServiceExt;
//! let app = Router::new()
//!     .route("/add", get(add_to_cart))
//!     .layer(SessionLayer::new(MemoryStore::new()));
//! let res = app.oneshot(http::Request::get("/add").body(axum::body::Body::empty())?).await?;
//! assert!(res.headers().contains_key("set-cookie"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The store contract, the engine and the memory store come from `sessionkit-core`
//! and are re-exported here; SQL, Redis and Memcached stores live in their own crates.

mod cookie_config;
mod cookie_store;
pub mod csrf;
pub mod generations;
mod keys;
mod layer;
mod presented;
mod seal;

pub use cookie::SameSite;
pub use cookie_config::{ConfigError, CookieConfig};
pub use cookie_store::{CookieStore, BROWSER_COOKIE_LIMIT};
pub use keys::{KeyError, KeyRing, MIN_SECRET_LEN};
pub use layer::{
    ErrorHandler, ResponseFuture, SessionError, SessionLayer, SessionLayerBuilder, SessionService,
};
pub use seal::Protection;
pub use sessionkit_core::{
    cleanup, codec, metrics, store, unsafe_to_show, Binding, CachedStore, ClientInfo,
    CookieLifetime, Data, Error, Expiry, ExpiryPolicy, FileStore, IdHash, Key, MemoryStore, Record,
    Session, SessionConfig, SessionId, SessionStore,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctest;
