//! The HTTP lifecycle as a test suite: what the session layer does to requests and
//! responses (cookies, `Vary`, saving, expiry, fixation, bad input, concurrency),
//! checked black-box through a small axum application.
//!
//! A store crate runs it with one line in a file of its `tests/` directory:
//!
//! ```
//! use sessionkit_testkit::http::Subject;
//!
//! sessionkit_testkit::http_conformance!(async {
//!     Some(Subject::server(sessionkit::MemoryStore::new()))
//! });
//! # fn main() {}
//! ```
//!
//! That expands to one `#[tokio::test]` per behaviour of [`cases`], named after it.
//! The cookie store runs the same suite through [`Subject::cookie_store`]; the cases it
//! cannot pass by nature (revoking a cookie the client keeps, merging concurrent
//! requests, server-side bookkeeping) print `skipped: cookie store <reason>`.
//!
//! The pieces are public for tests of your own:
//!
//! - [`app`]: the test application, one route per session operation;
//! - [`client`]: requests without a socket (`tower::ServiceExt::oneshot`), a cookie
//!   jar and a `Set-Cookie` parser;
//! - [`server`]: the same application on a loopback socket, and a pooled client;
//! - [`logs`]: a log capture, to check that no id or secret is ever logged;
//! - [`cases`]: the behaviours, as `pub async fn case(subject: Subject)`.
//!
//! The suite sleeps only where expiry needs it (timeouts of one or two seconds); its
//! cases run in parallel.

pub mod app;
pub mod cases;
pub mod client;
pub mod logs;
pub mod server;
mod subject;

pub use subject::{build, Corruptor, Subject};

#[doc(hidden)]
pub mod __private {
    //! What [`http_conformance!`](crate::http_conformance) expands to; not part of the
    //! API.
    pub use tokio;

    use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    static WHOLE_STORE: RwLock<()> = RwLock::const_new(());

    /// Held by every case that does not look at the whole store.
    pub async fn shared() -> RwLockReadGuard<'static, ()> {
        WHOLE_STORE.read().await
    }

    /// Held by the cases that count every record in the store: they run alone.
    pub async fn alone() -> RwLockWriteGuard<'static, ()> {
        WHOLE_STORE.write().await
    }
}

/// Generates the HTTP lifecycle suite: one `#[tokio::test]` per behaviour of
/// [`http::cases`](crate::http::cases), each named after the behaviour it checks.
///
/// `$make` is an expression evaluating to a `Future<Output = Option<Subject>>`; it is
/// evaluated once per test, so each test gets its own store unless the expression
/// shares one. `None` skips the test (the constructor has already printed why, as
/// [`env::service_url`](crate::env::service_url) does).
///
/// The subject's builder must keep the default cookie settings (name `id`, Secure,
/// HttpOnly, SameSite=Lax, Path=/, 14 days idle): cases add what they test on top.
/// The calling crate needs no tokio dependency of its own (the tests use the one this
/// crate re-exports, under the name `sessionkit_testkit`: do not rename the dependency).
///
/// With `timing = false`, the cases that wait for a timeout (idle and absolute expiry,
/// save-every-request, touch threshold, rotation grace window; about a second each)
/// are left out: for a second configuration of a store whose expiry is already
/// covered by a full run, e.g. the same store with signed ids.
///
/// # Examples
///
/// ```
/// use sessionkit::{CookieStore, KeyRing, SessionLayer};
/// use sessionkit_testkit::http::Subject;
///
/// sessionkit_testkit::http_conformance!(async {
///     let keys = KeyRing::new(["a test secret of at least 32 bytes!"]).ok()?;
///     Some(Subject::cookie_store(move || {
///         SessionLayer::cookie_store_builder(CookieStore::private(&keys))
///     }))
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! http_conformance {
    (@case $lock:ident $name:ident => $make:expr) => {
        #[$crate::http::__private::tokio::test(
            flavor = "multi_thread",
            worker_threads = 2,
            crate = "sessionkit_testkit::http::__private::tokio"
        )]
        async fn $name() {
            let _guard = $crate::http::__private::$lock().await;
            let ::core::option::Option::Some(subject) = ($make).await else {
                return;
            };
            $crate::http::cases::$name(subject).await;
        }
    };
    (@cases $lock:ident $make:expr; $($name:ident)*) => {
        $(
            $crate::http_conformance!(@case $lock $name => $make);
        )*
    };
    (@untimed $make:expr) => {
        $crate::http_conformance!(@cases shared $make;
            // Dict semantics (A, B12, I4, typed keys).
            inserted_value_is_read_on_the_next_request
            overwritten_value_replaces_the_old_one
            removed_key_is_gone_on_the_next_request
            removing_a_missing_key_does_not_mark_the_session_modified
            get_or_insert_inserts_once_and_keeps_the_existing_value
            update_merges_every_entry
            writes_are_visible_to_reads_in_the_same_request
            push_and_increment_accumulate_across_requests
            test_cookie_is_seen_on_the_next_request_and_can_be_deleted
            typed_keys_round_trip_through_requests
            reserved_looking_keys_are_plain_data_over_http
            // Saving, deleting, cookies and Vary (B, E11, H7, H10).
            fresh_read_only_request_sets_no_cookie_but_varies_on_cookie
            route_not_touching_the_session_sends_no_cookie_and_no_vary
            emptied_session_is_deleted_with_a_matching_removal_cookie
            flush_without_a_client_cookie_sets_no_cookie_but_varies
            modified_session_resends_its_cookie
            vary_cookie_is_merged_with_existing_vary_values_exactly_once
            server_error_response_saves_nothing_and_sets_no_cookie
            at_most_one_set_cookie_per_response_even_when_cycled_and_modified
            save_every_request_never_saves_an_empty_session
            concurrent_logout_is_not_undone_by_a_later_save
            an_interruption_the_handler_answered_itself_keeps_its_response
            a_read_whose_refresh_meets_a_logout_keeps_its_response
            logout_twice_is_idempotent
            read_only_calls_on_an_existing_session_send_no_cookie
            writes_after_the_handler_in_an_inner_middleware_are_saved
            streamed_and_empty_responses_still_save_and_set_the_cookie
            explicit_save_in_the_handler_is_not_repeated_by_the_layer
            // Ids, fixation, bad input, signed ids (C, F, H).
            cycle_id_issues_a_new_id_keeps_data_and_kills_the_old_id
            login_changes_the_id_keeps_data_and_binds_the_user
            login_without_other_data_is_remembered
            logout_then_replaying_the_old_cookie_is_anonymous
            unknown_well_formed_id_is_never_adopted
            session_id_is_never_an_unconfirmed_client_value
            malformed_cookies_give_an_empty_session_and_are_never_echoed
            session_cookie_is_found_among_other_cookies
            ids_are_32_char_base64url_and_unique_across_logins
            signed_ids_tampered_cookie_gives_a_new_session_without_a_store_lookup
            signed_ids_survive_key_rotation_and_are_resigned_under_the_new_key
            no_session_id_cookie_value_or_secret_is_logged
            two_clients_each_see_only_their_own_session
            corrupt_stored_record_gives_an_empty_session_and_a_warning_naming_no_id
            a_logout_racing_a_login_as_another_user_leaves_the_new_cookie_alone
            a_logout_with_a_just_rotated_id_ends_the_session_it_became
            // Cookie attributes and configuration (D1, D9, E).
            default_cookie_attributes_are_safe
            every_cookie_attribute_is_configurable_on_set_and_removal_cookies
            invalid_cookie_settings_are_refused_at_build_time
            handler_set_cookie_headers_survive_next_to_the_session_cookie
            browser_session_setting_sends_cookies_without_max_age
            // Expiry (D).
            set_expiry_idle_sets_max_age
            set_expiry_at_sets_max_age_to_the_remaining_time
            set_expiry_browser_session_sends_no_max_age_or_expires
            set_expiry_default_restores_the_configured_age
            an_endless_idle_timeout_keeps_the_session_without_a_panic
            set_expiry_getters_agree_with_the_cookie
            set_expiry_in_the_past_ends_the_session_at_once
            // Concurrency over a real socket (H6).
            two_hundred_concurrent_pushes_over_a_socket_lose_nothing
        );
        $crate::http_conformance!(@cases alone $make;
            random_ids_on_read_only_requests_create_nothing
        );
    };
    ($make:expr, timing = false $(,)?) => {
        $crate::http_conformance!(@untimed $make);
    };
    ($make:expr $(,)?) => {
        $crate::http_conformance!(@untimed $make);
        $crate::http_conformance!(@cases shared $make;
            save_every_request_resends_unmodified_session_with_later_expiry
            touch_after_refreshes_an_unmodified_session_only_past_the_threshold
            rotated_away_id_forwards_within_the_grace_window_then_dies
            idle_session_expires_after_the_idle_timeout
            reading_does_not_extend_the_session_but_writing_does
            absolute_lifetime_caps_the_idle_timeout
            per_session_idle_expiry_ends_the_session_after_n_seconds
        );
    };
}
