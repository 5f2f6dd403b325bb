//! Signed session ids and key rotation (catalogue C10, F1-F3).

use sessionkit::{KeyRing, SessionLayer};

use crate::http::app::NONE;
use crate::http::client::Client;
use crate::http::Subject;

/// Counts `load` calls of the store it wraps: shows that a cookie was refused before
/// any store lookup.
pub type CountingStore<S> = crate::watched::Watched<S>;

/// First test secret (32+ bytes).
pub const K1: &str = "sessionkit http suite key one, 32+ bytes";
/// Second test secret (32+ bytes), the "new" key in rotation tests.
pub const K2: &str = "sessionkit http suite key two, 32+ bytes";

/// A key ring of test secrets, signing key first.
///
/// # Panics
///
/// Never for [`K1`] and [`K2`].
pub fn ring(secrets: &[&str]) -> KeyRing {
    KeyRing::new(secrets).expect("the test secrets are long enough")
}

pub(crate) fn flip(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII stays ASCII")
}

/// C10/F1: with signed ids, a tampered cookie (signature or id part), a bare unsigned
/// id, or an id signed by another key gives an empty session without any store lookup;
/// a write then gets a fresh, valid cookie.
pub async fn signed_ids_tampered_cookie_gives_a_new_session_without_a_store_lookup(
    subject: Subject,
) {
    let Some(store) = subject.store().cloned() else {
        eprintln!("skipped: cookie store signs or encrypts whole sessions, not ids");
        return;
    };
    let counting = CountingStore::new(store);
    let layer = SessionLayer::builder(counting.clone())
        .with_signed_ids(ring(&[K1]))
        .build()
        .expect("valid settings");
    let mut c = Client::new(crate::http::app::app(layer));
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    let v = set.value;
    assert!(v.len() > 32, "the cookie carries a signature: {v}");
    let id = c.get("/id").await.ok().body;
    assert!(v.ends_with(&id), "the signed value ends with the id");
    let foreign = {
        let other = SessionLayer::builder(CountingStore::new(sessionkit::MemoryStore::new()))
            .with_signed_ids(ring(&[K2]))
            .build()
            .expect("valid settings");
        let mut o = Client::new(crate::http::app::app(other));
        o.get("/insert/k/v").await.ok().new_cookie().value
    };
    let forgeries = [
        flip(&v, 0),
        flip(&v, v.len() - 1),
        flip(&v, v.len() - 16),
        id.clone(),
        v[..v.len() - 1].to_owned(),
        foreign,
    ];
    for forged in &forgeries {
        let loads = counting.loads();
        let r = c.get_as("/get/k", forged).await.ok();
        assert_eq!(r.body, NONE, "{forged}");
        assert_eq!(counting.loads(), loads, "no store lookup for {forged}");
        let r = c.get_as("/insert/other/x", forged).await.ok();
        let fresh = r.new_cookie();
        assert_ne!(&fresh.value, forged);
        assert_eq!(counting.loads(), loads, "a new session needs no lookup");
    }
    let loads = counting.loads();
    assert_eq!(c.get("/get/k").await.ok().body, "v");
    assert!(counting.loads() > loads, "the genuine cookie is looked up");
}

/// F2/F3: signed ids under key rotation: a cookie signed under `[K1]` still works
/// under `[K2, K1]`, is re-signed under K2 by its next save (and that cookie works
/// under `[K2]` alone), and the old cookie fails under `[K2]` alone.
pub async fn signed_ids_survive_key_rotation_and_are_resigned_under_the_new_key(subject: Subject) {
    let Some(store) = subject.store().cloned() else {
        eprintln!("skipped: cookie store rotation is tested with the cookie store itself");
        return;
    };
    let under = |keys: &[&str]| {
        let layer = SessionLayer::builder(store.clone())
            .with_signed_ids(ring(keys))
            .build()
            .expect("valid settings");
        Client::new(crate::http::app::app(layer))
    };
    let (mut old, mut rotated, mut new) = (under(&[K1]), under(&[K2, K1]), under(&[K2]));
    let c1 = old.get("/insert/k/v").await.ok().new_cookie().value;
    rotated.set_cookie(Some(&c1));
    let r = rotated.get("/get/k").await.ok();
    assert_eq!(r.body, "v", "a fallback key still verifies");
    let c2 = rotated.get("/insert/k2/v2").await.ok().new_cookie().value;
    assert_ne!(c2, c1, "re-signed under the new key");
    assert_eq!(
        new.get_as("/get/k", &c1).await.ok().body,
        NONE,
        "K1 is gone"
    );
    new.set_cookie(Some(&c2));
    assert_eq!(new.get("/items").await.ok().body, r#"{"k":"v","k2":"v2"}"#);
    assert_eq!(old.get_as("/get/k", &c2).await.ok().body, NONE);
}
