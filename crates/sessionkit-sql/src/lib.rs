//! SQL session stores for sessionkit, on `sqlx`: SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! ```
//! use sessionkit_core::{Session, SessionConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = sessionkit_sql::connect("sqlite::memory:", Default::default()).await?;
//! store.migrate().await?;
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
//! # Backends
//!
//! One cargo feature per database; nothing of the others is compiled:
//!
//! | feature | store | URL |
//! | --- | --- | --- |
//! | `sqlite` (default) | [`SqliteStore`] | `sqlite://path/to/file.db`, `sqlite::memory:` |
//! | `postgres` | `PostgresStore` | `postgres://user:pass@host/db` |
//! | `mysql` | `MySqlStore` | `mysql://user:pass@host/db`, `mariadb://…` |
//!
//! [`connect`] picks the store from a URL and returns an [`AnySqlStore`]; each store can
//! also be built on a pool of your own (`SqliteStore::new(pool)`). Every store implements
//! the whole contract of [`sessionkit_core::SessionStore`], including the user index
//! ([`sessionkit_core::UserIndex`]) and batched expired deletion
//! ([`sessionkit_core::ExpiredDeletion`]). No TLS support is compiled into `sqlx` here:
//! connect to PostgreSQL or MySQL over a trusted network or a local socket.
//!
//! # Connection checks
//!
//! Pools opened by [`connect`] (and each store's `connect`) check a connection before
//! handing it out only when it has been idle for [`PING_AFTER_IDLE`] (one second) or
//! longer: sqlx already pings every connection as it goes back to the pool and drops it
//! if that fails, so a connection used a moment ago needs no second ping, and skipping
//! it saves a round trip to the database on every statement. A connection the server
//! ends while in use (a restart, an administrator) may fail one call, which the engine
//! answers fail-closed; the pool then replaces it. A pool of your own keeps whatever
//! checks you gave it.
//!
//! # The session table
//!
//! Call `migrate()` at start-up: it creates the table (default name `sessions`, see
//! `with_table_name`) and its indexes, or upgrades them, and records the schema version
//! in `<table>_schema`. It is idempotent and safe to run from several processes at once.
//!
//! | column | type | holds |
//! | --- | --- | --- |
//! | `id_hash` | 32 bytes, primary key | SHA-256 of the session id: raw ids are never stored |
//! | `data` | blob | the whole record, encoded by [`sessionkit_core::codec`] |
//! | `expires_at` | 64-bit integer | unix milliseconds; rows past it are never returned |
//! | `version` | 64-bit integer | compare-and-swap version |
//! | `user_key` | text, nullable, indexed | the user the session is bound to |
//! | `created_at`, `last_seen` | 64-bit integers | unix milliseconds |
//! | `purge_after` | 64-bit integer, indexed | where expired deletion looks: at most a minute after `expires_at` |
//!
//! Operations map onto single statements: `compare_and_swap` is `UPDATE … WHERE
//! id_hash = ? AND version = ? AND expires_at > now`, `touch` updates only `expires_at`
//! and `last_seen` (so on load those columns win over the encoded bytes), `create` never
//! overwrites a live row (an expired one with the same key is replaced), and
//! `delete_expired(max)` deletes at most `max` rows per call through the expiry index.
//! Times compare against the application server's clock, not the database's.
//!
//! The expiry index is on `purge_after`, not on `expires_at`, which every save and
//! touch moves: `purge_after` is kept between `expires_at` and a minute after it, so a
//! write leaves it (and the index) alone unless the expiry left that minute, which
//! for a session in steady use is about once a minute. That takes an index update off
//! nearly every save (in SQLite about a third of its cost; in PostgreSQL it lets the
//! update stay heap-only). Expired deletion still deletes exactly the rows past
//! `expires_at`. Schema version 2 added the column: `migrate` upgrades a version-1
//! table in place, filling it for every row (one `UPDATE` of the whole table).

#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_variables, unused_imports, dead_code, unreachable_code)
)]

mod connect;
mod error;
mod listing;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod numbered;
mod parameters;
#[cfg(feature = "postgres")]
mod postgres;
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;
mod table;

pub use connect::{connect, AnySqlStore, PoolOptions, PING_AFTER_IDLE};
pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
/// The `sqlx` this crate is built on, for building pools of your own.
pub use sqlx;
pub use table::{TableName, DEFAULT_TABLE_NAME};
