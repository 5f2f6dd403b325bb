//! The HTTP lifecycle suite on `MemoryStore`, with plain and with signed ids, plus the
//! store-failure cases with fault-injection doubles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sessionkit::store::StoreError;
use sessionkit::{IdHash, MemoryStore, Record, SessionId, SessionLayer, SessionStore};
use sessionkit_testkit::http::app::app;
use sessionkit_testkit::http::client::{Client, Reply};
use sessionkit_testkit::http::{build, Subject};
use time::OffsetDateTime;

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

/// A fault-injection double, not a store: every call fails as a backend would when
/// its server is down.
#[derive(Debug, Clone, Copy)]
struct Unreachable;

fn down() -> StoreError {
    StoreError::backend(
        "talking to the test double",
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
    )
}

#[async_trait]
impl SessionStore for Unreachable {
    async fn load(&self, _: &IdHash) -> Result<Option<Record>, StoreError> {
        Err(down())
    }
    async fn create(&self, _: &Record) -> Result<(), StoreError> {
        Err(down())
    }
    async fn compare_and_swap(&self, _: &Record, _: u64) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn touch(
        &self,
        _: &IdHash,
        _: OffsetDateTime,
        _: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: &IdHash) -> Result<bool, StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn store_failure_fails_closed_through_the_error_handler() {
    sessionkit_testkit::http::cases::store_failure_fails_closed_through_the_error_handler(|| {
        Unreachable
    })
    .await;
}

/// A fault-injection double: a `MemoryStore` whose loads always work and whose writes
/// (`create`, `compare_and_swap`, `touch`, `delete`) fail as a backend would while
/// `writes_fail` is set (a primary that went read-only, a full disk).
#[derive(Debug, Clone, Default)]
struct ReadOnlyWhenSwitched {
    inner: MemoryStore,
    writes_fail: Arc<AtomicBool>,
}

impl ReadOnlyWhenSwitched {
    fn write(&self) -> Result<(), StoreError> {
        if self.writes_fail.load(Ordering::SeqCst) {
            return Err(down());
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for ReadOnlyWhenSwitched {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.write()?;
        self.inner.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.delete(id).await
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
    let store = ReadOnlyWhenSwitched::default();
    let subject = Subject::server(store.clone());
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let cookie = c.expect_cookie();
    let id = SessionId::parse(&c.get("/id").await.ok().body).expect("/id shows the id");
    let before = store.load(&id.hash()).await.expect("load").expect("stored");
    let every_request = Client::new(app(build(
        SessionLayer::builder(store.clone()).with_save_every_request(true),
    )));

    store.writes_fail.store(true, Ordering::SeqCst);
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

    store.writes_fail.store(false, Ordering::SeqCst);
    let after = store
        .load(&id.hash())
        .await
        .expect("load")
        .expect("still stored");
    assert_eq!(after, before, "the stored record is unchanged");
    assert_eq!(c.get_as("/get/k", &cookie).await.ok().body, "v");
}
