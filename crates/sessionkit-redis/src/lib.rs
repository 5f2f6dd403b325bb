//! Redis session store for sessionkit: a single server, a master behind Sentinel, or a
//! Cluster, through one [`RedisStore`] opened from a URL.
//!
//! ```no_run
//! use sessionkit_core::{Session, SessionConfig};
//! use sessionkit_redis::RedisOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = sessionkit_redis::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
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
//! (The example needs a Redis server, so the doctest is only compiled.) In a web
//! application the store goes into `sessionkit::SessionLayer::new(store)`.
//!
//! # URLs
//!
//! | deployment | URL |
//! | --- | --- |
//! | one server | `redis://[user:password@]host[:port][/db]`, `redis+unix:///path/to/socket` |
//! | one server, TLS | `rediss://…` (the `tls` feature) |
//! | Sentinel | `redis+sentinel://[user:password@]host:port[,host:port…]/master-name[/db]` |
//! | Cluster | `redis+cluster://[user:password@]host:port[,host:port…]` |
//!
//! `rediss+sentinel://` and `rediss+cluster://` speak TLS to every node. In a Sentinel
//! URL the credentials and database are the master's; the sentinels are asked without
//! credentials. [`RedisOptions`] sets the key prefix (default `sessionkit:`), the
//! command timeout and the connect timeout (3 s each by default).
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tls` | off | `rediss` URLs: rustls (ring) with the system's root certificates. Without it nothing of TLS is compiled and such URLs give [`Error::TlsDisabled`]. |
//!
//! # Layout
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `<prefix>s2:{<id hash>}` | string | one session, expiring with a Redis TTL at its `expires_at` |
//! | `<prefix>u:{<SHA-256 of the user>}` | sorted set | the user index: id hashes, scored by when they were added |
//!
//! A session value is a fixed-width header, then the user, then the record encoded by
//! [`sessionkit_core::codec`] (the one encoding boundary): the version, the expiry
//! and the last-seen time (unix milliseconds) as 20-digit decimals, a flag and a
//! 10-digit length for the bound user. The scripts read and rewrite the header with
//! `GETRANGE`/`SETRANGE` and never decode the record. Keys hold id hashes (SHA-256
//! hex) and user-name hashes only: a dump of Redis yields no usable cookie and no user
//! name.
//!
//! (Before this layout each session was a hash under `<prefix>s:`; this version does
//! not read those keys, so sessions stored by an earlier version are not found after
//! an upgrade and expire by their TTLs.)
//!
//! Every key carries a hash tag (the part in braces), and every operation is a single
//! command or Lua script on **one** key, so a Cluster never sees a cross-slot command.
//! A session and its user's index cannot share a slot (the user changes, the session
//! does not), so the index is maintained in separate steps, ordered so that it never
//! misses a session; see below.
//!
//! # Operations
//!
//! | operation | how |
//! | --- | --- |
//! | `load` | `GET`; records past `expires_at` are never returned |
//! | `create` | `SET … NX PXAT`: never overwrites a key; only when the key is taken does a script check whether the record there has expired by the application's clock, and replace it then |
//! | `compare_and_swap` | script: compares the version in the header, then `SET … PXAT` of the new value, in one atomic step |
//! | `touch` | script: `SETRANGE` of the expiry and last-seen fields and `PEXPIREAT`; the record bytes and the version are not rewritten |
//! | `delete` | script: `DEL`, returning the bound user so its index entry goes too |
//!
//! Scripts run with `EVALSHA` (loaded on `NOSCRIPT`). Every script also compares the expiry
//! with the application's clock, so a record counts as expired at the same moment for
//! every operation, whatever Redis's own clock says.
//!
//! # The user index
//!
//! [`RedisStore`] implements [`sessionkit_core::UserIndex`]. Invariant: **every
//! session bound to a user is in that user's index** (the index may hold more; it never
//! holds fewer), because an entry is added *before* the write that binds the session:
//! `create` adds it, then stores the session; a `compare_and_swap` that binds the
//! session to a different user is refused by the script, the entry is added, and the
//! swap runs again. Entries are removed only once their session is gone for good
//! (deleted or expired; ids are never reused), so no race can remove the entry of a
//! session that is being bound. Listings check each session's user, so an entry left
//! by a session that moved to another user is never listed; revocation deletes a
//! session only if it is still bound to that user (checked inside the script).
//!
//! # Expiry and housekeeping
//!
//! Redis deletes expired sessions by itself (the TTLs), so this store does **not**
//! implement [`sessionkit_core::ExpiredDeletion`]: there is nothing for a
//! `delete_expired` to delete, and no count of expired sessions it could report. TTLs
//! cannot clean the user index, whose entries outlive their sessions: each listing of
//! a user prunes that user's index, and [`RedisStore::prune_user_index`] prunes every
//! index (a `SCAN`; run it now and then, e.g. from the CLI's clear-expired).
//!
//! # Counting and listing
//!
//! [`sessionkit_core::UserIndex::count`] and [`sessionkit_core::SessionListing`] (for
//! operator tools: `sessionkit list`, `stats`) walk the key space with `SCAN` (on every
//! primary of a cluster): exact, but meant for statistics, not for requests. Redis
//! keeps no order, so a listing sorts a snapshot of every id hash taken by its first
//! page; the pages continuing from it within a minute reuse that snapshot, so paging
//! through everything costs one `SCAN` plus one read per session.
//!
//! # Timeouts and reconnects
//!
//! Every store call fails with [`sessionkit_core::StoreError::Timeout`] after the
//! command timeout. The connection reconnects by itself: during an outage requests fail
//! quickly (two reconnect attempts of at most half a second each), and they succeed
//! again once the server is back, without restarting the application. With Sentinel the
//! master is asked again when the connection is lost or the server turned read-only (a
//! failover); a Cluster follows `MOVED` redirections and refreshes its slot map.

mod connection;
mod error;
mod keys;
mod listing;
mod options;
mod scripts;
mod store;
mod url;
mod value;

pub use connection::Connection;
pub use error::Error;
pub use options::{RedisOptions, DEFAULT_KEY_PREFIX};
/// The redis-rs client this crate is built on, for commands of your own on a
/// [`Connection`].
pub use redis;
pub use store::{connect, RedisStore};
