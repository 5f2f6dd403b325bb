//! The HTTP lifecycle suite on `MemoryStore`, with plain and with signed ids, plus the
//! store-failure cases with fault-injection doubles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sessionkit::{MemoryStore, SessionId, SessionLayer, SessionStore};
use sessionkit_testkit::http::app::app;
use sessionkit_testkit::http::client::{Client, Reply};
use sessionkit_testkit::http::{build, Subject};
use sessionkit_testkit::watched::{server_down, Watched};

sessionkit_testkit::http_conformance!(async { Some(Subject::server(MemoryStore::new())) });

mod signed_ids {
    //! The suite again with signed session ids (expiry timing is covered above).

    use sessionkit::{MemoryStore, SessionLayer};
    use sessionkit_testkit::http::cases::{ring, K1};
    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(
        async {
            Some(Subject::server_with(MemoryStore::new(), |store| {
                SessionLayer::builder(store).with_signed_ids(ring(&[K1]))
            }))
        },
        timing = false
    );
}

#[tokio::test]
async fn store_failure_fails_closed_through_the_error_handler() {
    let (logs, _guard) = sessionkit_testkit::http::logs::LogCapture::start();
    sessionkit_testkit::http::cases::store_failure_fails_closed_through_the_error_handler(|| {
        Watched::failing(MemoryStore::new(), |_, _| Err(server_down()))
    })
    .await;
    // The log line says why the store failed (the backend's own message), not only
    // what it was doing.
    let failures: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("session store call failed"))
        .collect();
    assert!(!failures.is_empty(), "{:?}", logs.lines());
    for line in &failures {
        assert!(
            line.contains("talking to the test double: connection refused"),
            "{line}"
        );
    }
}

/// Asserts the fail-closed answer: 503 from the default error handler, no `Set-Cookie`
/// at all.
fn assert_failed_closed(r: &Reply, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    assert!(r.set_cookies().is_empty(), "{what}: {:?}", r.set_cookies());
}

/// B13/H4: when saving, touching or deleting fails after a good load, the request fails
/// closed: a write on an existing session, a new session's first write, a logout, a
/// flush and (with save-every-request) a plain read each answer 503 with no
/// `Set-Cookie`, and the stored record is exactly as before (data, version, expiry).
#[tokio::test]
async fn save_touch_and_delete_failures_after_a_good_load_fail_closed() {
    // Loads always work; writes fail while `writes_fail` is set (a primary that went
    // read-only, a full disk).
    let writes_fail = Arc::new(AtomicBool::new(false));
    let failing = writes_fail.clone();
    let store = Watched::failing(MemoryStore::new(), move |call, _| {
        if call.writes() && failing.load(Ordering::SeqCst) {
            return Err(server_down());
        }
        Ok(())
    });
    let subject = Subject::server(store.clone());
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let cookie = c.expect_cookie();
    let id = SessionId::parse(&c.get("/id").await.ok().body).expect("/id shows the id");
    let before = store.load(&id.hash()).await.expect("load").expect("stored");
    let every_request = Client::new(app(build(
        SessionLayer::builder(store.clone()).with_save_every_request(true),
    )));

    writes_fail.store(true, Ordering::SeqCst);
    for path in ["/insert/k/w", "/logout", "/flush", "/clear", "/cycle"] {
        assert_failed_closed(&c.get_as(path, &cookie).await, path);
    }
    assert_failed_closed(&c.get_anonymous("/insert/k/v").await, "a new session");
    assert_failed_closed(
        &every_request.get_as("/read", &cookie).await,
        "a read with save-every-request",
    );
    let r = c.get_as("/get/k", &cookie).await.ok();
    assert_eq!(r.body, "v", "a read that saves nothing still works");

    writes_fail.store(false, Ordering::SeqCst);
    let after = store
        .load(&id.hash())
        .await
        .expect("load")
        .expect("still stored");
    assert_eq!(after, before, "the stored record is unchanged");
    assert_eq!(c.get_as("/get/k", &cookie).await.ok().body, "v");
}

/// A stored value read as the wrong type is an error the log names by its key, never by
/// its value (the deserializer's message quotes the value).
#[tokio::test]
async fn a_value_of_the_wrong_type_is_logged_by_its_key_never_its_value() {
    use axum::routing::get;
    use sessionkit::Session;

    const VALUE: &str = "tok_LIVE_a_secret_of_the_user";
    let (logs, _guard) = sessionkit_testkit::http::logs::LogCapture::start();
    let router = axum::Router::new()
        .route(
            "/set",
            get(|s: Session| async move { s.insert("api_token", VALUE).await.map(|()| "ok") }),
        )
        .route(
            "/number",
            get(|s: Session| async move {
                let n: Option<i64> = s.get("api_token").await?;
                Ok::<_, sessionkit::Error>(format!("{n:?}"))
            }),
        )
        .layer(SessionLayer::new(MemoryStore::new()));
    let mut c = Client::new(router);
    c.get("/set").await.ok().new_cookie();
    let r = c.get("/number").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(!r.body.contains(VALUE), "{}", r.body);
    let lines = logs.lines();
    assert!(
        lines.iter().any(|l| l.contains("`api_token`")),
        "the key is named: {lines:?}"
    );
    logs.assert_never_logged(&[VALUE.to_owned()]);
}
