//! The HTTP lifecycle suite on `MemoryStore`, with plain and with signed ids, plus the
//! store-failure case with a fault-injection double.

use async_trait::async_trait;
use sessionkit::store::StoreError;
use sessionkit::{IdHash, MemoryStore, Record, SessionStore};
use sessionkit_testkit::http::Subject;
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
