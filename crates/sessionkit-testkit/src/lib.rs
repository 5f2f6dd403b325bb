//! The sessionkit store contract as a test suite that every store runs with one line.
//!
//! A store crate adds `sessionkit-testkit` as a dev-dependency and writes, in a file of
//! its `tests/` directory:
//!
//! ```
//! sessionkit_testkit::store_conformance!(async { Some(sessionkit_core::MemoryStore::new()) });
//! # fn main() {}
//! ```
//!
//! That expands to one `#[tokio::test]` per behaviour of [the store contract](store):
//! round trip, expiry, collision, compare-and-swap conflicts, concurrent writers with
//! nothing lost, delete-expired, the user index, id cycling, unicode, large values and
//! corrupt data. A store that keeps records as bytes also passes a *corruptor* that
//! overwrites one record's stored bytes with garbage:
//!
//! ```no_run
//! use sessionkit_core::{IdHash, MemoryStore};
//!
//! sessionkit_testkit::store_conformance!(
//!     async { Some(MemoryStore::new()) },
//!     corrupt = |store: MemoryStore, id: IdHash| async move {
//!         // e.g. `UPDATE sessions SET data = x'01ff' WHERE id = $1`
//!         let _ = (store, id);
//!     }
//! );
//! # fn main() {}
//! ```
//!
//! Stores that need a server read its URL with [`env::service_url`], which skips the
//! suite visibly when the URL is missing (or fails it when
//! `SESSIONKIT_REQUIRE_SERVICES=1`):
//!
//! ```no_run
//! use sessionkit_testkit::env;
//!
//! async fn store() -> Option<sessionkit_core::MemoryStore> {
//!     let _url = env::service_url("SESSIONKIT_TEST_POSTGRES_URL")?;
//!     Some(sessionkit_core::MemoryStore::new()) // connect to `_url` instead
//! }
//!
//! sessionkit_testkit::store_conformance!(store());
//! # fn main() {}
//! ```
//!
//! Every case uses its own session ids and user names, so the cases run in parallel
//! against one shared server. The two cases that look at the whole store
//! (`count` and `delete_expired`) run alone within a test binary.
//! Several suites in one file need their own modules (`mod postgres { ... }`), since
//! the test function names are fixed.

pub mod env;
/// The HTTP lifecycle suite: [`http_conformance!`] runs every behaviour of the session
/// layer against a store through a test application.
pub mod http;
pub mod ops;
pub mod store;
/// The store double of the suites (sessionkit-core's `testing` module).
pub use sessionkit_core::testing as watched;

#[doc(hidden)]
pub mod __private {
    //! What the macros expand to; not part of the API.
    pub use tokio;
}

/// Generates the store conformance suite: one `#[tokio::test]` per behaviour, each
/// named after the behaviour it checks.
///
/// `$make` is an expression evaluating to a `Future<Output = Option<S>>` with
/// `S: SessionStore + Clone`; it is evaluated once per test. `None` skips the test (the
/// constructor has already printed why, as [`env::service_url`] does).
///
/// With `corrupt = $corrupt`, `$corrupt` is a closure
/// `|store: S, id: IdHash| async move { ... }` that overwrites the stored bytes of the
/// record `id` with bytes that are not a valid record. Without it, the corrupt-data test
/// still exists but prints `skipped: <store> keeps typed records, no bytes to corrupt`.
///
/// The calling crate needs no tokio dependency of its own (the tests use the one this
/// crate re-exports, found under the name `sessionkit_testkit`, so do not rename the
/// dependency).
///
/// # Examples
///
/// ```
/// sessionkit_testkit::store_conformance!(async { Some(sessionkit_core::MemoryStore::new()) });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance {
    (@case $name:ident => $make:expr, |$store:ident| $body:expr) => {
        #[$crate::__private::tokio::test(
            flavor = "multi_thread",
            worker_threads = 2,
            crate = "sessionkit_testkit::__private::tokio"
        )]
        async fn $name() {
            let ::core::option::Option::Some($store) = ($make).await else {
                return;
            };
            $body.await;
        }
    };
    (@cases $make:expr; $($name:ident)*) => {
        $(
            $crate::store_conformance!(@case $name => $make, |store| $crate::store::$name(store));
        )*
    };
    (@all $make:expr) => {
        $crate::store_conformance!(@cases $make;
            round_trip_keeps_every_field
            load_of_unknown_id_is_none_and_creates_nothing
            expired_record_is_never_loaded
            create_never_overwrites_an_existing_id
            compare_and_swap_rejects_a_stale_version_and_keeps_the_winner
            compare_and_swap_on_deleted_record_is_false_and_does_not_recreate_it
            concurrent_session_saves_merge_instead_of_losing_updates
            two_hundred_concurrent_pushes_lose_nothing
            save_after_concurrent_delete_is_interrupted_not_resurrected
            touch_moves_expiry_without_touching_data_or_version
            touch_of_missing_record_is_false
            delete_returns_whether_a_record_existed
            delete_expired_removes_only_expired_records_and_counts_them
            delete_expired_in_small_batches_counts_every_record
            user_index_lists_and_revokes_sessions_of_a_user
            listing_pages_through_live_sessions_and_counts_them
            cycle_id_keeps_data_and_deletes_old_record
            login_binds_user_and_cycles_id
            flush_deletes_the_record
            emptied_session_is_deleted_at_save
            is_empty_agrees_with_what_save_stores
            reserved_looking_keys_are_plain_data
            unicode_keys_and_values_round_trip
            large_values_round_trip
            unknown_id_is_never_adopted
        );
    };
    ($make:expr, corrupt = $corrupt:expr $(,)?) => {
        $crate::store_conformance!(@all $make);
        $crate::store_conformance!(
            @case corrupt_stored_bytes_give_an_empty_session_not_a_panic => $make,
            |store| $crate::store::corrupt_stored_bytes_give_an_empty_session_not_a_panic(
                store, $corrupt,
            )
        );
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance!(@all $make);
        $crate::store_conformance!(
            @case corrupt_stored_bytes_give_an_empty_session_not_a_panic => $make,
            |store| $crate::store::no_bytes_to_corrupt(store)
        );
    };
}
