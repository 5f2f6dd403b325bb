//! The HTTP lifecycle suite on the cookie store (private and signed), plus what only a
//! cookie store has: confidentiality, the browser size limit, expiry inside the sealed
//! payload and key rotation of whole sessions.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sessionkit::{CookieStore, SessionLayer};
use sessionkit_testkit::http::app::{app, NONE};
use sessionkit_testkit::http::cases::{ring, K1, K2};
use sessionkit_testkit::http::client::Client;
use sessionkit_testkit::http::{build, Subject};

mod private {
    //! The whole suite with an encrypted (AES-256-GCM) cookie store.

    use sessionkit::{CookieStore, SessionLayer};
    use sessionkit_testkit::http::cases::{ring, K1};
    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        Some(Subject::cookie_store(|| {
            SessionLayer::cookie_store_builder(CookieStore::private(&ring(&[K1])))
        }))
    });
}

mod signed {
    //! The suite with a signed (HMAC-SHA256) cookie store (expiry timing is covered
    //! by the private one: both keep it in the sealed payload).

    use sessionkit::{CookieStore, SessionLayer};
    use sessionkit_testkit::http::cases::{ring, K1};
    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(
        async {
            Some(Subject::cookie_store(|| {
                SessionLayer::cookie_store_builder(CookieStore::signed(&ring(&[K1])))
            }))
        },
        timing = false
    );
}

fn private_client(keys: &[&str]) -> Client {
    Client::new(app(SessionLayer::cookie_store(CookieStore::private(
        &ring(keys),
    ))))
}

fn signed_client(keys: &[&str]) -> Client {
    Client::new(app(SessionLayer::cookie_store(CookieStore::signed(&ring(
        keys,
    )))))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// F5: the private cookie reveals nothing of the session: neither the value as sent
/// nor its base64 decoding contains the data. (The signed store, by contrast, is
/// readable by design.)
#[tokio::test]
async fn private_cookie_store_hides_session_contents() {
    let marker = "secret-marker-4711";
    let mut c = private_client(&[K1]);
    let value = c
        .get(&format!("/insert/k/{marker}"))
        .await
        .ok()
        .new_cookie()
        .value;
    assert!(!value.contains(marker));
    let decoded = STANDARD.decode(&value).expect("a private cookie is base64");
    assert!(!contains(&decoded, marker.as_bytes()));
    assert_eq!(c.get("/get/k").await.ok().body, marker);

    let mut s = signed_client(&[K1]);
    let value = s
        .get(&format!("/insert/k/{marker}"))
        .await
        .ok()
        .new_cookie()
        .value;
    let readable = value
        .get(44..)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .expect("a signed cookie is a MAC followed by base64url text");
    assert!(
        contains(&readable, marker.as_bytes()),
        "the signed store is readable by design"
    );
}

/// F1 for whole sessions: a tampered, truncated or foreign sealed cookie gives an empty
/// session (2xx), and a write replaces it with a fresh valid one.
#[tokio::test]
async fn tampered_cookie_store_cookie_gives_an_empty_session() {
    for mut c in [private_client(&[K1]), signed_client(&[K1])] {
        let value = c.get("/insert/k/v").await.ok().new_cookie().value;
        let flipped = |at: usize| {
            let mut b = value.clone().into_bytes();
            b[at] = if b[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).expect("ASCII")
        };
        let foreign = private_client(&[K2])
            .get("/insert/k/v")
            .await
            .ok()
            .new_cookie()
            .value;
        for forged in [
            flipped(0),
            flipped(value.len() / 2),
            flipped(value.len() - 1),
            value[..value.len() - 4].to_owned(),
            foreign,
        ] {
            let r = c.get_as("/get/k", &forged).await.ok();
            assert_eq!(r.body, NONE);
            let r = c.get_as("/insert/k/other", &forged).await.ok();
            assert_ne!(r.new_cookie().value, forged);
        }
        assert_eq!(c.get("/get/k").await.ok().body, "v");
    }
}

/// The cookie name is authenticated: a cookie sealed under the name `id` does not open
/// under the name `sid`, even with the same keys.
#[tokio::test]
async fn cookie_store_cookie_sealed_for_another_name_is_refused() {
    let mut c = private_client(&[K1]);
    let value = c.get("/insert/k/v").await.ok().new_cookie().value;
    let renamed = Client::named(
        app(build(
            SessionLayer::cookie_store_builder(CookieStore::private(&ring(&[K1]))).with_name("sid"),
        )),
        "sid",
    );
    assert_eq!(renamed.get_as("/get/k", &value).await.ok().body, NONE);
}

/// F6/E12: a session that would exceed the browser's 4 KB cookie limit is refused with
/// a clear error status and no `Set-Cookie`; the previous cookie still holds the old
/// state.
#[tokio::test]
async fn cookie_store_refuses_a_session_over_four_kilobytes_and_keeps_the_old_one() {
    for mut c in [private_client(&[K1]), signed_client(&[K1])] {
        c.get("/insert/k/old").await.ok().new_cookie();
        let before = c.expect_cookie();
        let ok = c.get("/big/1500").await.ok().new_cookie();
        assert!(ok.raw.len() < 4096);
        c.set_cookie(Some(&before));
        let r = c.get("/big/5000").await;
        assert!(r.status.is_server_error(), "{} {}", r.status, r.body);
        assert!(r.body.contains("too large"), "a clear message: {}", r.body);
        assert!(r.session_cookie().is_none(), "{:?}", r.session_cookie());
        assert_eq!(c.cookie(), Some(before.as_str()));
        assert_eq!(c.get("/get/k").await.ok().body, "old");
        assert_eq!(c.get("/get/big").await.ok().body, NONE);
    }
}

/// D15: the expiry lives inside the sealed payload: once the idle timeout has passed
/// the session is anonymous, even for a client that replays the cookie.
#[tokio::test]
async fn expired_cookie_store_payload_is_anonymous_even_when_replayed() {
    let layer = build(
        SessionLayer::cookie_store_builder(CookieStore::private(&ring(&[K1])))
            .with_idle_timeout(time::Duration::seconds(1)),
    );
    let mut c = Client::new(app(layer));
    c.get("/insert/k/v").await.ok().new_cookie();
    c.get("/login/alice").await.ok().new_cookie();
    let stolen = c.expect_cookie();
    assert_eq!(c.get("/whoami").await.ok().body, "alice");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(c.get_as("/whoami", &stolen).await.ok().body, "anonymous");
    assert_eq!(c.get_as("/get/k", &stolen).await.ok().body, NONE);
}

/// F2/F3: a cookie sealed under `[K1]` opens under `[K2, K1]`, is re-sealed under K2 by
/// its next save (that cookie opens under `[K2]` alone), and the old one does not open
/// under `[K2]` alone. Private and signed.
#[tokio::test]
async fn cookie_store_survives_key_rotation_and_reissues_under_the_new_key() {
    type Make = fn(&[&str]) -> Client;
    for under in [private_client as Make, signed_client as Make] {
        let mut old = under(&[K1]);
        let mut rotated = under(&[K2, K1]);
        let mut new = under(&[K2]);
        let c1 = old.get("/insert/k/v").await.ok().new_cookie().value;
        rotated.set_cookie(Some(&c1));
        assert_eq!(rotated.get("/get/k").await.ok().body, "v");
        let c2 = rotated.get("/insert/k2/v2").await.ok().new_cookie().value;
        assert_eq!(new.get_as("/get/k", &c1).await.ok().body, NONE);
        new.set_cookie(Some(&c2));
        assert_eq!(new.get("/items").await.ok().body, r#"{"k":"v","k2":"v2"}"#);
        assert_eq!(old.get_as("/get/k", &c2).await.ok().body, NONE);
    }
}

#[test]
fn subject_knows_it_is_a_cookie_store() {
    let subject = Subject::cookie_store(|| {
        SessionLayer::cookie_store_builder(CookieStore::private(&ring(&[K1])))
    });
    assert!(subject.is_cookie_store());
    assert!(subject.store().is_none());
}
