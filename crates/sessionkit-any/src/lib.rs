//! Open any sessionkit store from one URL string, the way the demo app and the
//! `sessionkit` command-line tool do.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sessionkit_any::OpenError> {
//! let store = sessionkit_any::open("memory://").await?;
//! store.migrate().await?;
//! assert_eq!(store.describe(), "memory");
//! # Ok(())
//! # }
//! ```
//!
//! | URL | store | feature |
//! | --- | --- | --- |
//! | `memory://`, `memory://?compact` | [`sessionkit_core::MemoryStore`] (`?compact`: [`sessionkit_core::MemoryStore::compact`]) | always |
//! | `file:///path/to/dir` | [`sessionkit_core::FileStore`] | `file` (default) |
//! | `sqlite://path/to/file.db`, `sqlite::memory:` | SQLite | `sqlite` (default) |
//! | `postgres://user@host/db` | PostgreSQL | `postgres` |
//! | `mysql://user@host/db`, `mariadb://…` | MySQL/MariaDB | `mysql` |
//! | `redis://host:6379`, `redis+sentinel://h:p,h:p/master`, `redis+cluster://h:p,h:p` | Redis | `redis` |
//! | `memcache://host:11211` | Memcached | `memcached` |
//!
//! Two options are this crate's own, taken out of the query before the URL reaches the
//! driver: `table=<name>` for SQL stores (the session table, default `sessions`) and
//! `prefix=<text>` for Redis and Memcached (the key prefix, default `sessionkit:`),
//! e.g. `postgres://app@db/app?table=web_sessions`, `redis://cache:6379/0?prefix=shop:`
//! (values are percent-decoded: `prefix=shop%3A` is `shop:`). Every other parameter
//! must be one the driver reads: a misspelt one (`?tabel=`, `?sslmod=require`) is
//! [`OpenError::InvalidUrl`] naming it, where the drivers would ignore it silently.
//!
//! A scheme whose feature is not compiled in is refused with an error naming the
//! feature. [`AnyStore::describe`] gives a log-safe description (no password).

mod any;

pub use any::{one_line, open, open_existing, redact, AnyStore, OpenError};
