//! Dict semantics over HTTP (catalogue section A, B12, I4, typed keys).

use crate::http::app::NONE;
use crate::http::Subject;

/// A2: an inserted value is sent as a cookie and read back on the next request, which
/// only reads and so sets no cookie.
pub async fn inserted_value_is_read_on_the_next_request(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/insert/name/alice").await.ok();
    assert_eq!(r.body, "ok");
    r.new_cookie();
    let r = c.get("/get/name").await.ok();
    assert_eq!(r.body, "alice");
    assert!(r.session_cookie().is_none(), "a read sets no cookie");
    assert_eq!(
        c.get("/get/name").await.ok().body,
        "alice",
        "reads are repeatable"
    );
}

/// A3: overwriting a key replaces its value, persistently.
pub async fn overwritten_value_replaces_the_old_one(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/language/es").await.ok().new_cookie();
    c.get("/insert/language/fr").await.ok();
    assert_eq!(c.get("/get/language").await.ok().body, "fr");
    assert_eq!(c.get("/items").await.ok().body, r#"{"language":"fr"}"#);
}

/// A4: a removed key is gone on the next request; the other keys stay.
pub async fn removed_key_is_gone_on_the_next_request(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/a/1").await.ok();
    c.get("/insert/b/2").await.ok();
    let r = c.get("/remove/a").await.ok();
    assert_eq!(r.body, "1", "remove returns the old value");
    r.new_cookie();
    assert_eq!(c.get("/get/a").await.ok().body, NONE);
    assert_eq!(c.get("/get/b").await.ok().body, "2");
}

/// A5: popping a missing key returns nothing and does not mark the session modified
/// (no `Set-Cookie`), on an existing session and on a fresh one.
pub async fn removing_a_missing_key_does_not_mark_the_session_modified(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/remove/missing").await.ok();
    assert_eq!(r.body, NONE);
    assert!(
        r.session_cookie().is_none(),
        "fresh: {:?}",
        r.session_cookie()
    );
    assert_eq!(r.vary_cookie_count(), 1, "the session was read");
    c.get("/insert/a/1").await.ok().new_cookie();
    let r = c.get("/remove/missing").await.ok();
    assert_eq!(r.body, NONE);
    assert!(
        r.session_cookie().is_none(),
        "existing: {:?}",
        r.session_cookie()
    );
    assert_eq!(c.get("/get/a").await.ok().body, "1");
}

/// A6: `get_or_insert` inserts the default once; later calls return the stored value
/// and do not modify the session.
pub async fn get_or_insert_inserts_once_and_keeps_the_existing_value(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/get_or_insert/history/first").await.ok();
    assert_eq!(r.body, "first");
    r.new_cookie();
    let r = c.get("/get_or_insert/history/second").await.ok();
    assert_eq!(r.body, "first");
    assert!(
        r.session_cookie().is_none(),
        "an existing value is not a change"
    );
    assert_eq!(c.get("/get/history").await.ok().body, "first");
}

/// A7: `update` sets every entry, overwriting and adding.
pub async fn update_merges_every_entry(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/theme/light").await.ok();
    c.get("/insert/keep/me").await.ok();
    c.get("/update/theme/dark/notifications/on")
        .await
        .ok()
        .new_cookie();
    assert_eq!(
        c.get("/items").await.ok().body,
        r#"{"keep":"me","notifications":"on","theme":"dark"}"#
    );
}

/// A2: a write is visible to a read later in the same request.
pub async fn writes_are_visible_to_reads_in_the_same_request(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/insert_then_get/k/fresh").await.ok();
    assert_eq!(r.body, "fresh");
    r.new_cookie();
    let r = c.get("/insert_then_get/k/newer").await.ok();
    assert_eq!(r.body, "newer");
    assert_eq!(c.get("/get/k").await.ok().body, "newer");
}

/// Lists and counters: pushes append, increments count, across requests.
pub async fn push_and_increment_accumulate_across_requests(subject: Subject) {
    let mut c = subject.client();
    for item in ["a", "b", "c"] {
        c.get(&format!("/push/{item}")).await.ok().new_cookie();
    }
    assert_eq!(c.get("/list").await.ok().body, r#"["a","b","c"]"#);
    for n in 1..=3 {
        assert_eq!(c.get("/increment").await.ok().body, n.to_string());
    }
    assert_eq!(c.get("/counter").await.ok().body, "3");
}

/// I4: Django's test cookie trio: `false` before, `true` after setting it on an earlier
/// request, `false` again after deleting it (which empties, so removes, the session).
pub async fn test_cookie_is_seen_on_the_next_request_and_can_be_deleted(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/test_cookie/check").await.ok();
    assert_eq!(r.body, "false");
    assert!(r.session_cookie().is_none());
    c.get("/test_cookie/set").await.ok().new_cookie();
    assert_eq!(c.get("/test_cookie/check").await.ok().body, "true");
    c.get("/test_cookie/delete").await.ok().removal_cookie();
    assert_eq!(c.get("/test_cookie/check").await.ok().body, "false");
}

/// Typed keys (`Key<Vec<String>>`) read and write through the session like raw keys.
pub async fn typed_keys_round_trip_through_requests(subject: Subject) {
    let mut c = subject.client();
    assert_eq!(c.get("/typed/cart").await.ok().body, "");
    assert_eq!(c.get("/typed/cart/apple").await.ok().body, "apple");
    assert_eq!(c.get("/typed/cart/pear").await.ok().body, "apple,pear");
    assert_eq!(c.get("/typed/cart").await.ok().body, "apple,pear");
    assert_eq!(c.get("/get/cart").await.ok().body, r#"["apple","pear"]"#);
    // A value of another type under the typed key is an error, not a silent `None`.
    c.get("/insert/cart/not-a-list").await.ok();
    let r = c.get("/typed/cart").await;
    assert_eq!(r.status, 500, "type mismatch surfaces: {}", r.body);
    assert!(r.session_cookie().is_none());
}

/// A14: keys that look like the session's own fields (`user`, `expiry`, `version`,
/// `moved_to`, `id`, `_session_expiry`, `save`) are plain data over HTTP: each reads
/// back as inserted, `/insert/user/mallory` logs nobody in, and the cookie keeps the
/// default lifetime (14 days).
pub async fn reserved_looking_keys_are_plain_data_over_http(subject: Subject) {
    let mut c = subject.client();
    let keys = [
        "user",
        "expiry",
        "version",
        "moved_to",
        "id",
        "_session_expiry",
        "save",
    ];
    for key in keys {
        let set = c
            .get(&format!("/insert/{key}/mallory"))
            .await
            .ok()
            .new_cookie();
        crate::http::cases::cookies::assert_lifetime(&set, 14 * 86_400);
    }
    for key in keys {
        assert_eq!(
            c.get(&format!("/get/{key}")).await.ok().body,
            "mallory",
            "{key}"
        );
    }
    assert_eq!(c.get("/whoami").await.ok().body, "anonymous");
    assert_eq!(c.get("/len").await.ok().body, keys.len().to_string());
    let id = c.get("/id").await.ok().body;
    if !subject.is_cookie_store() {
        assert_ne!(id, "mallory", "the `id` key is not the session id");
        assert_ne!(id, NONE, "the session is stored");
    }
}
