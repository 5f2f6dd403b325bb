//! Memcached session store for sessionkit: [`MemcachedStore`], opened from a
//! `memcache://host:port` URL.
//!
//! ```no_run
//! use sessionkit_core::{Session, SessionConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = sessionkit_memcached::connect("memcache://127.0.0.1:11211").await?;
//!
//! let session = Session::new(store.clone(), SessionConfig::default());
//! session.insert("user", "alice").await?;
//! session.save().await?;
//!
//! let id = session.id().await;
//! let again = Session::open(store, SessionConfig::default(), id);
//! assert_eq!(again.get::<String>("user").await?, Some("alice".to_string()));
//! # Ok(())
//! # }
//! ```
//!
//! (The example needs a Memcached server, so the doctest is only compiled.)
//! [`MemcachedStore::connect`] takes [`MemcachedOptions`]: key prefix (default
//! `sessionkit:`), pool size (8 connections), command and connect timeouts (3 s).
//!
//! # How the contract maps onto Memcached
//!
//! Memcached 1.6 or newer (the meta protocol) is required.
//!
//! | operation | command |
//! | --- | --- |
//! | `load` | `mg <key> v c` (get) |
//! | `create` | `ms <key> … ME` (add: never overwrites a live session) |
//! | `compare_and_swap` | `mg <key> v c` (gets) then `ms <key> … C<token>` (cas): written only if nothing changed the item in between and its version is the expected one |
//! | `touch` | gets + cas of the record with the new `expires_at`/`last_seen`, same data and version (see below) |
//! | `delete` | `md <key>` |
//!
//! Keys are `<prefix><SHA-256 of the id, hex>`: the raw session id is never stored.
//! Items expire through memcached TTLs set at the record's `expires_at` (whole seconds,
//! rounded up; beyond 30 days the TTL is sent as a unix time, as memcached requires),
//! and a record past its `expires_at` is never returned.
//!
//! # What this store does not do
//!
//! - **No user index** ([`sessionkit_core::UserIndex`]): memcached cannot enumerate
//!   keys, and an index kept in items of its own could be evicted at any time, so
//!   "sessions of a user" and revoking them are not offered rather than offered
//!   unreliably. Use a store with a user index (SQL, Redis) where mass revocation
//!   matters.
//! - **No expired deletion** ([`sessionkit_core::ExpiredDeletion`]) and no listing:
//!   memcached drops expired items by itself and cannot list items.
//! - **`touch` rewrites the item.** Memcached's own `touch` moves only the TTL, while
//!   the record must carry its new `expires_at` and `last_seen` (loads return them; the
//!   engine's touch threshold reads `last_seen`). So `touch` is a gets + cas of the
//!   same data and version with the new times; a concurrent write makes it retry.
//! - **Item size.** Memcached stores items up to its `-I` limit (1 MiB by default); a
//!   larger session fails to save with [`Error::TooLarge`] (a
//!   [`sessionkit_core::StoreError::Backend`] whose source says so). Raise the
//!   server's limit (`memcached -I 4m`) for larger sessions.
//! - **Evictions.** Memcached is a cache: under memory pressure it evicts items, and an
//!   evicted session is simply gone (the user starts a new one). Size it so that this
//!   does not happen, or use a persistent store.
//!
//! # Connections
//!
//! A pool of connections (async-memcached, one command in flight per connection). A
//! connection that failed, or whose call timed out, is replaced on its next use, so the
//! store recovers by itself after the server restarts; a `load` on a connection that
//! broke since its last use is retried once on a fresh one.

mod error;
mod options;
mod pool;
mod store;

/// The async-memcached client this crate is built on.
pub use async_memcached;
pub use error::Error;
pub use options::{MemcachedOptions, DEFAULT_KEY_PREFIX};
pub use store::{connect, MemcachedStore};
