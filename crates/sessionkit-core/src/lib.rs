//! The heart of sessionkit: session ids, records, the expiry rules, the operations a
//! request makes, the store contract and the engine that loads and saves sessions.
//! No HTTP server and no backend dependency lives here.
//!
//! ```
//! use sessionkit_core::{Key, MemoryStore, Session, SessionConfig};
//!
//! const CART: Key<Vec<String>> = Key::new("cart");
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let store = MemoryStore::new();
//! let session = Session::new(store.clone(), SessionConfig::default());
//! CART.insert(&session, vec!["apple".to_string()]).await?;
//! session.push("cart", "pear").await?;
//! session.save().await?;
//!
//! let id = session.id().await;
//! let later = Session::open(store, SessionConfig::default(), id);
//! assert_eq!(CART.get(&later).await?, Some(vec!["apple".to_string(), "pear".to_string()]));
//! # Ok::<(), sessionkit_core::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Web applications use the `sessionkit` crate, whose layer creates a [`Session`] per
//! request from the cookie and saves it after the handler.

mod binding;
mod cached;
mod changes;
pub mod cleanup;
pub mod codec;
mod config;
mod engine;
mod error;
mod expiry;
#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "file")]
mod file;
mod id;
mod key;
mod memory;
pub mod metrics;
mod record;
mod session;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use binding::Binding;
pub use cached::CachedStore;
pub use changes::{Changes, Op};
pub use config::SessionConfig;
pub use engine::CookieAction;
pub use error::{Error, ErrorChain, ErrorLog};
pub use expiry::{CookieLifetime, Expiry, ExpiryPolicy};
#[cfg(feature = "axum")]
pub use extract::MissingSessionLayer;
#[cfg(feature = "file")]
pub use file::{FileStore, FileStoreError};
pub use id::{IdHash, SessionId};
pub use key::Key;
pub use memory::MemoryStore;
pub use record::{unsafe_to_show, ClientInfo, Data, Record};
pub use session::{Presented, Session, CSRF_SECRET_KEY};
pub use store::{ExpiredDeletion, SessionListing, SessionStore, Stats, StoreError, UserIndex};
