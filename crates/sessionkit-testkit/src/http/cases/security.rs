//! Ids, fixation, logout, bad input, logs (catalogue sections C, H).

use std::collections::HashSet;
use std::sync::Arc;

use sessionkit::{SessionConfig, SessionId, SessionStore};

use crate::http::app::NONE;
use crate::http::cases::signed::{flip, K1, K2};
use crate::http::client::{Client, Reply};
use crate::http::Subject;

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn random_id() -> String {
    SessionId::generate()
        .expect("the OS provides randomness")
        .to_string()
}

/// The subject's builder with the rotation grace window set to `grace` (the builder
/// has no setter of its own for it, so the engine settings become the defaults plus
/// this window; cookie settings and signed ids are kept).
pub fn with_rotation_grace(
    subject: &Subject,
    grace: time::Duration,
) -> sessionkit::SessionLayerBuilder {
    subject.builder().with_session_config(SessionConfig {
        rotation_grace: grace,
        ..SessionConfig::default()
    })
}

/// C5: `cycle_id` gives the session a new id and keeps its data; without a grace
/// window the old cookie finds nothing afterwards. Cycling a fresh, empty session does
/// nothing visible.
pub async fn cycle_id_issues_a_new_id_keeps_data_and_kills_the_old_id(subject: Subject) {
    let mut c = subject.client_of(with_rotation_grace(&subject, time::Duration::ZERO));
    let r = c.get("/cycle").await.ok();
    assert!(
        r.session_cookie().is_none(),
        "cycling an empty session sets nothing"
    );
    c.get("/insert/k/v").await.ok().new_cookie();
    let old_cookie = c.expect_cookie();
    let old_id = c.get("/id").await.ok().body;
    let r = c.get("/cycle").await.ok();
    assert_ne!(r.new_cookie().value, old_cookie);
    let new_id = c.get("/id").await.ok().body;
    assert_ne!(new_id, old_id);
    assert_eq!(new_id.len(), 32);
    assert_eq!(c.get("/get/k").await.ok().body, "v");
    if subject.skip_cookie_store("cannot revoke the pre-cycle cookie (by nature)") {
        return;
    }
    assert_eq!(c.get_as("/get/k", &old_cookie).await.ok().body, NONE);
}

/// C5 with the grace window (DESIGN "Security promises"): for the window, the
/// rotated-away id resolves to the new record for the same browser (reads see the new
/// data, writes land in it, no cookie is sent back for it); another browser gets
/// nothing; after the window the old id is dead while the new one lives on.
pub async fn rotated_away_id_forwards_within_the_grace_window_then_dies(subject: Subject) {
    if subject.skip_cookie_store("has no server-side record to forward from") {
        return;
    }
    let builder = with_rotation_grace(&subject, time::Duration::seconds(1));
    let mut c = subject.client_of(builder).with_user_agent("browser-one");
    let marks = crate::http::cases::SecondMarks::start().await;
    c.get("/insert/k/v").await.ok().new_cookie();
    let old = c.expect_cookie();
    c.get("/cycle").await.ok().new_cookie();
    let new = c.expect_cookie();
    let r = c.get_as("/get/k", &old).await.ok();
    assert_eq!(r.body, "v", "in flight with the old id: still the session");
    assert!(r.session_cookie().is_none(), "{:?}", r.session_cookie());
    let new_hash = c.get("/id_hash").await.ok().body;
    assert_ne!(new_hash, NONE);
    assert_eq!(
        c.get_as("/id_hash", &old).await.ok().body,
        new_hash,
        "the forwarded request is the new record (as sessions_of lists it), not the old id's"
    );
    let r = c.get_as("/insert/late/write", &old).await.ok();
    let sc = r.session_cookie();
    assert!(sc.as_ref().is_none_or(|s| s.value == new), "{sc:?}");
    assert_eq!(
        c.get("/get/late").await.ok().body,
        "write",
        "landed in the new record"
    );
    let stranger = Client::new(c.app().clone()).with_user_agent("another-browser");
    assert_eq!(stranger.get_as("/get/k", &old).await.ok().body, NONE);
    marks.at(1.3).await;
    assert_eq!(
        c.get_as("/get/k", &old).await.ok().body,
        NONE,
        "after the window"
    );
    assert_eq!(c.get("/get/k").await.ok().body, "v", "the new id lives on");
}

/// C5 (login): `login` cycles the id (fixation defence), keeps the data and binds the user;
/// the pre-login cookie is dead for anyone else at once (another browser, as a fixation
/// attacker would be) and, without a grace window, for everyone.
pub async fn login_changes_the_id_keeps_data_and_binds_the_user(subject: Subject) {
    let mut c = subject.client().with_user_agent("victim-browser");
    c.get("/insert/cart/apple").await.ok().new_cookie();
    let anonymous = c.expect_cookie();
    let before = c.get("/id").await.ok().body;
    assert_eq!(c.get("/whoami").await.ok().body, "anonymous");
    let r = c.get("/login/alice").await.ok();
    assert_ne!(r.new_cookie().value, anonymous);
    assert_ne!(c.get("/id").await.ok().body, before);
    assert_eq!(c.get("/whoami").await.ok().body, "alice");
    assert_eq!(c.get("/get/cart").await.ok().body, "apple");
    if subject.skip_cookie_store("cannot revoke the pre-login cookie (by nature)") {
        return;
    }
    let attacker = Client::new(c.app().clone()).with_user_agent("attacker-browser");
    assert_eq!(
        attacker.get_as("/whoami", &anonymous).await.ok().body,
        "anonymous"
    );
    assert_eq!(
        attacker.get_as("/get/cart", &anonymous).await.ok().body,
        NONE
    );

    let mut c = subject.client_of(with_rotation_grace(&subject, time::Duration::ZERO));
    c.get("/insert/cart/apple").await.ok().new_cookie();
    let anonymous = c.expect_cookie();
    c.get("/login/alice").await.ok().new_cookie();
    assert_eq!(c.get_as("/whoami", &anonymous).await.ok().body, "anonymous");
    assert_eq!(c.get_as("/get/cart", &anonymous).await.ok().body, NONE);
}

/// A16/B6: logging in on a session that holds no other data still logs the user in: the
/// user binding alone makes the session worth storing.
pub async fn login_without_other_data_is_remembered(subject: Subject) {
    let mut c = subject.client();
    let r = c.get("/login/alice").await.ok();
    assert!(
        r.session_cookie().is_some_and(|s| !s.is_removal()),
        "a login must set a session cookie; got {:?}",
        r.session_cookie()
    );
    assert_eq!(c.get("/whoami").await.ok().body, "alice");
}

/// C6/C7: after logout, the client is anonymous, and replaying the old cookie finds
/// neither the user nor the data.
pub async fn logout_then_replaying_the_old_cookie_is_anonymous(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/cart/apple").await.ok();
    c.get("/login/alice").await.ok().new_cookie();
    let old = c.expect_cookie();
    c.get("/logout").await.ok().removal_cookie();
    assert_eq!(c.get("/whoami").await.ok().body, "anonymous");
    if subject.skip_cookie_store(
        "cannot revoke a cookie the client keeps: logout only replaces the browser's copy",
    ) {
        return;
    }
    let r = c.get_as("/whoami", &old).await.ok();
    assert_eq!(r.body, "anonymous");
    assert_eq!(c.get_as("/get/cart", &old).await.ok().body, NONE);
    let r = c.get_as("/insert/k/v", &old).await.ok();
    assert_ne!(
        r.new_cookie().value,
        old,
        "the dead id is not revived by a write"
    );
}

/// C7: a well-formed id the store does not know is never adopted: reads find nothing,
/// and a write gets a newly drawn id.
pub async fn unknown_well_formed_id_is_never_adopted(subject: Subject) {
    let c = subject.client();
    let forged = random_id();
    let r = c.get_as("/get/k", &forged).await.ok();
    assert_eq!(r.body, NONE);
    assert!(r.session_cookie().is_none_or(|s| s.is_removal()));
    let r = c.get_as("/id", &forged).await.ok();
    assert_eq!(r.body, NONE);
    let r = c.get_as("/insert/k/v", &forged).await.ok();
    let set = r.new_cookie();
    assert_ne!(set.value, forged);
    assert!(!set.value.contains(&forged), "{}", set.raw);
    let mut follow = subject.client();
    follow.set_cookie(Some(&set.value));
    let id = follow.get("/id").await.ok().body;
    assert_ne!(id, forged);
    assert_eq!(follow.get("/get/k").await.ok().body, "v");
}

/// C7 at the API: `Session::id()` never returns an id the store has not confirmed,
/// even when it is the handler's first call (its docs: "the client's (once confirmed by
/// a load)"); a handler that keys anything by it must not get a client-chosen value.
pub async fn session_id_is_never_an_unconfirmed_client_value(subject: Subject) {
    let c = subject.client();
    let forged = random_id();
    let r = c.get_as("/id_only", &forged).await.ok();
    assert_ne!(
        r.body, forged,
        "Session::id() returned the client's unverified id"
    );
    assert_eq!(r.body, NONE);
    let mut real = subject.client();
    real.get("/insert/k/v").await.ok().new_cookie();
    let id = real.get("/id").await.ok().body;
    assert_eq!(
        real.get("/id_only").await.ok().body,
        id,
        "a live id is shown"
    );
}

fn assert_not_echoed(r: &Reply, bad: &[u8], what: &str) {
    assert!(
        r.status.is_success(),
        "{what}: never a 5xx: {} {}",
        r.status,
        r.body
    );
    if bad.len() < 3 {
        return;
    }
    for header in r.headers.get_all(axum::http::header::SET_COOKIE) {
        assert!(
            !header.as_bytes().windows(bad.len()).any(|w| w == bad),
            "{what}: the bad value is echoed in {header:?}"
        );
    }
}

/// C2/C9/E10/H2/H9: malformed session cookies (path tricks, 4 KB and 10 KB values,
/// non-base64, wrong lengths, non-UTF-8 bytes, empty or quoted values, duplicates,
/// other cookies around) give an empty session and a 2xx, never a 5xx; the bad value is
/// never echoed back; a write starts a new, working session.
pub async fn malformed_cookies_give_an_empty_session_and_are_never_echoed(subject: Subject) {
    let c = subject.client();
    let valid_looking = random_id();
    let bad_values: Vec<Vec<u8>> = vec![
        b"../../etc/passwd".to_vec(),
        vec![b'A'; 4096],
        vec![b'B'; 10_000],
        b"!!!not-base64!!!".to_vec(),
        b"%00%00%00".to_vec(),
        Vec::new(),
        b"\"\"".to_vec(),
        b"\"quoted-garbage\"".to_vec(),
        vec![0xff, 0xfe, 0x80, b'a', b'b', b'c'],
        b"tab\there".to_vec(),
        valid_looking.as_bytes()[..31].to_vec(),
        format!("{valid_looking}A").into_bytes(),
        format!("{valid_looking}=").into_bytes(),
        format!("{}/A", &valid_looking[..30]).into_bytes(),
        format!("{}+A", &valid_looking[..30]).into_bytes(),
        "ÄÖÜ-unicode-ÄÖÜ-unicode-ÄÖÜ-uni".as_bytes().to_vec(),
    ];
    for bad in &bad_values {
        let what = String::from_utf8_lossy(bad)
            .chars()
            .take(40)
            .collect::<String>();
        let headers: Vec<Vec<u8>> = vec![
            [b"id=".as_slice(), bad].concat(),
            [b"a=1; id=".as_slice(), bad, b"; b=2"].concat(),
            [b"id=".as_slice(), bad, b"; id=", bad].concat(),
        ];
        for header in headers {
            let r = c.get_with_header("/get/k", &header).await;
            assert_not_echoed(&r, bad, &what);
            assert_eq!(r.body, NONE, "{what}");
            let r = c.get_with_header("/insert/k/v", &header).await;
            assert_not_echoed(&r, bad, &what);
            let set = r.new_cookie();
            let mut follow = subject.client();
            follow.set_cookie(Some(&set.value));
            assert_eq!(follow.get("/get/k").await.ok().body, "v", "{what}");
        }
    }
}

/// The session cookie is found among other cookies (up to 300 of them) and across
/// several `Cookie` header lines; look-alike names are not it; when it is sent twice
/// the first one is used.
pub async fn session_cookie_is_found_among_other_cookies(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let v = c.expect_cookie();
    let crowd: String = (0..300).map(|n| format!("c{n}=value{n}; ")).collect();
    let cases = [
        format!("a=1; id={v}; b=2"),
        format!("idx=nope; xid=nope; id={v}"),
        format!("id={v}; id=garbage"),
        format!("theme=dark;id={v};lang=fr"),
        format!("{crowd}id={v}"),
    ];
    for header in &cases {
        let r = c.get_with_header("/get/k", header.as_bytes()).await.ok();
        assert_eq!(r.body, "v", "{header}");
    }
    let second_line = format!("c=3; id={v}");
    let r = c
        .get_with_cookie_lines("/get/k", &["a=1; b=2", &second_line])
        .await
        .ok();
    assert_eq!(r.body, "v", "found in the second Cookie line");
    for header in [format!("idx={v}"), format!("xid={v}"), format!("ID={v}")] {
        let r = c.get_with_header("/get/k", header.as_bytes()).await.ok();
        assert_eq!(r.body, NONE, "{header}");
    }
    // A cookie of the same name that another site of the domain set (cookie tossing)
    // cannot hide the session's: the first value that reads as a session decides
    // (with signed ids or the cookie store, a forged value does not read either).
    let forged = random_id();
    for header in [
        format!("id=garbage; id={v}"),
        format!("id=\"\"; id={v}; id={forged}"),
        format!("id=../../etc; id=%41; id={v}"),
    ] {
        let r = c.get_with_header("/get/k", header.as_bytes()).await.ok();
        assert_eq!(r.body, "v", "{header}");
        assert!(
            r.session_cookie().is_none(),
            "{header}: {:?}",
            r.session_cookie()
        );
    }
    let r = c
        .get_with_cookie_lines("/get/k", &["id=garbage", &format!("a=1; id={v}")])
        .await
        .ok();
    assert_eq!(r.body, "v", "a garbage value in the first Cookie line");
}

/// C8: 500 read-only requests with random well-formed ids create nothing: no cookie,
/// no record under any of those ids, and (stores with a user index) no new record at
/// all. Runs alone within its test binary.
pub async fn random_ids_on_read_only_requests_create_nothing(subject: Subject) {
    let c = subject.client();
    let store = subject.store().cloned();
    let index_count = |store: Option<Arc<dyn SessionStore>>| async move {
        match store.as_ref().and_then(|s| s.user_index()) {
            Some(index) => Some(index.count().await.expect("count works")),
            None => None,
        }
    };
    let before = index_count(store.clone()).await;
    let mut ids = Vec::with_capacity(500);
    for _ in 0..500 {
        let id = random_id();
        let r = c.get_as("/read", &id).await.ok();
        assert_eq!(r.body, NONE);
        assert!(r.session_cookie().is_none_or(|s| s.is_removal()));
        ids.push(id);
    }
    let Some(store) = store else {
        eprintln!("skipped (store part): cookie store has no server-side records");
        return;
    };
    for id in &ids {
        let parsed = SessionId::parse(id).expect("generated ids parse");
        let found = store.load(&parsed.hash()).await.expect("load works");
        assert!(found.is_none(), "a read created a record");
    }
    assert_eq!(
        index_count(Some(store)).await,
        before,
        "no record was created"
    );
}

/// C1: session ids are 32 characters of base64url and unique across 200 sessions and
/// their 200 logins.
pub async fn ids_are_32_char_base64url_and_unique_across_logins(subject: Subject) {
    let app = subject.client();
    let mut seen = HashSet::new();
    for n in 0..200 {
        let mut c = Client::new(app.app().clone());
        c.get("/insert/k/v").await.ok().new_cookie();
        let anonymous = c.get("/id").await.ok().body;
        c.get(&format!("/login/user{n}")).await.ok().new_cookie();
        let logged_in = c.get("/id").await.ok().body;
        for id in [anonymous, logged_in] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(is_base64url(&id), "{id}");
            assert!(seen.insert(id), "an id was drawn twice");
        }
    }
    assert_eq!(seen.len(), 400);
}

/// DESIGN "Request lifecycle" 4: no session id, cookie value or key secret reaches a
/// log line, whatever happens (create, login, cycle, forged, malformed and replayed
/// cookies, logout), at any level.
pub async fn no_session_id_cookie_value_or_secret_is_logged(subject: Subject) {
    let (logs, _guard) = crate::http::logs::LogCapture::start();
    let mut secrets = vec![K1.to_owned(), K2.to_owned()];
    let mut c = subject.client_of(with_rotation_grace(&subject, time::Duration::ZERO));
    c.get("/insert/k/v").await.ok().new_cookie();
    secrets.push(c.expect_cookie());
    secrets.push(c.get("/id").await.ok().body);
    let old = c.expect_cookie();
    c.get("/login/alice").await.ok().new_cookie();
    secrets.push(c.expect_cookie());
    secrets.push(c.get("/id").await.ok().body);
    c.get("/cycle").await.ok().new_cookie();
    secrets.push(c.expect_cookie());
    secrets.push(c.get("/id").await.ok().body);
    let forged = random_id();
    secrets.push(forged.clone());
    c.get_as("/get/k", &forged).await.ok();
    c.get_as("/get/k", &old).await.ok();
    let tampered = flip(&c.expect_cookie(), 3);
    secrets.push(tampered.clone());
    c.get_as("/get/k", &tampered).await.ok();
    c.get_as("/get/k", "../../etc/passwd-and-more").await.ok();
    let last = c.expect_cookie();
    c.get("/logout").await.ok().removal_cookie();
    c.get_as("/get/k", &last).await.ok();
    secrets.retain(|s| s != NONE);
    assert!(
        !logs.lines().is_empty(),
        "the capture sees sessionkit's logs (forged and replayed cookies are logged)"
    );
    logs.assert_never_logged(&secrets);
}

/// C11: two clients of one application each see only their own session: their own
/// data, user and id, whether their requests come one after the other or interleaved.
pub async fn two_clients_each_see_only_their_own_session(subject: Subject) {
    let mut alice = subject.client();
    let mut bob = subject.client();
    alice.get("/insert/cart/apple").await.ok().new_cookie();
    bob.get("/insert/cart/pear").await.ok().new_cookie();
    alice.get("/login/alice").await.ok().new_cookie();
    bob.get("/login/bob").await.ok().new_cookie();
    assert_ne!(alice.expect_cookie(), bob.expect_cookie());
    for round in 0..3 {
        // One after the other, then both at once.
        let (a, b) = if round == 0 {
            let a = (alice.get("/whoami").await, alice.get("/get/cart").await);
            let b = (bob.get("/whoami").await, bob.get("/get/cart").await);
            (a, b)
        } else {
            tokio::join!(
                async { (alice.get("/whoami").await, alice.get("/get/cart").await) },
                async { (bob.get("/whoami").await, bob.get("/get/cart").await) },
            )
        };
        assert_eq!(
            (a.0.ok().body, a.1.ok().body),
            ("alice".into(), "apple".into())
        );
        assert_eq!(
            (b.0.ok().body, b.1.ok().body),
            ("bob".into(), "pear".into())
        );
    }
    let (a, b) = tokio::join!(alice.get("/insert/cart/fig"), bob.get("/remove/cart"));
    a.ok();
    b.ok();
    assert_eq!(alice.get("/get/cart").await.ok().body, "fig");
    assert_eq!(bob.get("/get/cart").await.ok().body, NONE);
    let ids = (
        alice.get("/id").await.ok().body,
        bob.get("/id").await.ok().body,
    );
    assert_ne!(ids.0, ids.1, "each client has its own id");
    assert!(ids.0 != NONE && ids.1 != NONE, "{ids:?}");
}

/// H1 over HTTP: a stored record overwritten with bytes that are not a record gives
/// the request an empty session and a 2xx (never a 5xx), one warning that names no id,
/// and the next write a new id; the corrupt id is never adopted again. Needs the
/// subject's [`corruptor`](Subject::corruptor); without one the case prints `skipped`.
pub async fn corrupt_stored_record_gives_an_empty_session_and_a_warning_naming_no_id(
    subject: Subject,
) {
    let Some(corrupt) = subject.corruptor().cloned() else {
        eprintln!("skipped: this subject gave no corruptor (its store keeps typed records)");
        return;
    };
    let (logs, _guard) = crate::http::logs::LogCapture::start();
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let cookie = c.expect_cookie();
    let id = c.get("/id").await.ok().body;
    let parsed = SessionId::parse(&id).expect("/id shows the session id");
    corrupt(parsed.hash()).await;

    let read = c.get("/get/k").await.ok();
    assert_eq!(read.body, NONE, "nothing is read from a corrupt record");
    assert!(
        read.session_cookie()
            .is_none_or(|s| s.is_removal() || s.value != cookie),
        "the corrupt session's cookie is not renewed: {:?}",
        read.session_cookie()
    );
    let warnings: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("stored session is corrupt"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the corrupt record: {warnings:?}"
    );
    assert!(warnings[0].contains("WARN"), "{warnings:?}");

    let write = c.get("/insert/k/w").await.ok().new_cookie();
    assert_ne!(
        write.value, cookie,
        "the corrupt session's id is not adopted"
    );
    assert_eq!(c.get("/get/k").await.ok().body, "w");
    assert_ne!(c.get("/id").await.ok().body, id);
    let again = c.get_as("/get/k", &cookie).await.ok();
    assert_eq!(again.body, NONE, "the corrupt id finds nothing afterwards");
    logs.assert_never_logged(&[cookie, id]);
}

/// C6 against a login race: a logout sent with the cookie of a session that a login as
/// another user on the same browser has just ended (inside the grace window) leaves the
/// browser's cookie alone, whether the handler read the session first or not: the
/// browser holds the new user's cookie by now, and removing it would log that user out.
pub async fn a_logout_racing_a_login_as_another_user_leaves_the_new_cookie_alone(subject: Subject) {
    if subject.skip_cookie_store("has no server-side record to tell a replaced cookie by") {
        return;
    }
    let mut c = subject.client();
    c.get("/login/alice").await.ok().new_cookie();
    let alices = c.expect_cookie();
    c.get("/login/bob").await.ok().new_cookie();
    let r = c.get_as("/read_then_logout", &alices).await.ok();
    assert_eq!(r.body, NONE, "alice's session is over, bob's is not hers");
    assert!(
        r.session_cookie().is_none(),
        "alice's replaced cookie: {:?}",
        r.session_cookie()
    );
    let r = c.get_as("/logout", &alices).await.ok();
    assert!(r.session_cookie().is_none(), "{:?}", r.session_cookie());
    assert_eq!(c.get("/whoami").await.ok().body, "bob");
}

/// C6 with rotation: a logout sent with the id a login rotated away moments ago
/// (inside the grace window, same browser) ends the session that id became, not only
/// the pointer the rotation left behind; the browser's cookie is removed.
pub async fn a_logout_with_a_just_rotated_id_ends_the_session_it_became(subject: Subject) {
    if subject.skip_cookie_store("has no server-side record to forward from") {
        return;
    }
    let mut c = subject.client();
    c.get("/insert/cart/apple").await.ok().new_cookie();
    let before_login = c.expect_cookie();
    c.get("/login/alice").await.ok().new_cookie();
    let after_login = c.expect_cookie();
    let r = c.get_as("/logout", &before_login).await.ok();
    assert!(
        r.session_cookie().is_some_and(|s| s.is_removal()),
        "{:?}",
        r.session_cookie()
    );
    let r = c.get_as("/whoami", &after_login).await.ok();
    assert_eq!(r.body, "anonymous", "the logged-in session is over");
    assert_eq!(c.get_as("/get/cart", &after_login).await.ok().body, NONE);
}
