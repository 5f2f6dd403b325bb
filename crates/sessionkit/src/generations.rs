//! Per-user generation numbers: revocation for sessions that live in cookies.
//!
//! A cookie-store session bound to a user carries the user's generation number inside
//! its authenticated payload. Bumping the generation ("log out everywhere", a password
//! change) makes every cookie issued before unusable, although the server never stored
//! them. The numbers live in a small server-side store, any [`SessionStore`] (memory for
//! one process, SQL or Redis for several).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sessionkit_core::store::StoreError;
use sessionkit_core::{Data, IdHash, Record, SessionStore};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Where generation numbers are kept.
#[async_trait]
pub trait Generations: Send + Sync + std::fmt::Debug + 'static {
    /// The user's current generation (0 if never bumped).
    ///
    /// # Errors
    ///
    /// When the backing store fails.
    async fn current(&self, user: &str) -> Result<u64, StoreError>;

    /// Increments the user's generation, revoking every cookie issued before; returns
    /// the new value.
    ///
    /// # Errors
    ///
    /// When the backing store fails.
    async fn bump(&self, user: &str) -> Result<u64, StoreError>;
}

/// Generation numbers kept as small records in any session store, one per user, under
/// a key derived from the user name (never colliding with session ids, which are
/// hashes of random bytes).
///
/// # Examples
///
/// ```
/// use sessionkit::generations::{Generations, StoreGenerations};
/// use sessionkit::MemoryStore;
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let generations = StoreGenerations::new(MemoryStore::new());
/// assert_eq!(generations.current("alice").await?, 0);
/// assert_eq!(generations.bump("alice").await?, 1);
/// assert_eq!(generations.current("alice").await?, 1);
/// # Ok::<(), sessionkit::store::StoreError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoreGenerations {
    store: Arc<dyn SessionStore>,
}

/// How long a generation record is kept after its last bump: longer than any cookie
/// session lives.
const KEEP: time::Duration = time::Duration::days(400);

impl StoreGenerations {
    /// Keeps generations in `store`.
    pub fn new(store: impl SessionStore) -> Self {
        Self {
            store: Arc::new(store),
        }
    }

    fn key(user: &str) -> IdHash {
        let mut h = Sha256::new();
        h.update(b"sessionkit user generation\0");
        h.update(user.as_bytes());
        IdHash::from_bytes(h.finalize().into())
    }
}

fn generation_of(record: &Record) -> u64 {
    record
        .data
        .get("generation")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

#[async_trait]
impl Generations for StoreGenerations {
    async fn current(&self, user: &str) -> Result<u64, StoreError> {
        Ok(self
            .store
            .load(&Self::key(user))
            .await?
            .as_ref()
            .map_or(0, generation_of))
    }

    async fn bump(&self, user: &str) -> Result<u64, StoreError> {
        let key = Self::key(user);
        for _ in 0..32 {
            let now = OffsetDateTime::now_utc();
            match self.store.load(&key).await? {
                Some(mut record) => {
                    let next = generation_of(&record) + 1;
                    let expected = record.version;
                    record.data.insert("generation".into(), json!(next));
                    record.version += 1;
                    record.expires_at = now + KEEP;
                    if self.store.compare_and_swap(&record, expected).await? {
                        return Ok(next);
                    }
                }
                None => {
                    let mut data = Data::new();
                    data.insert("generation".into(), json!(1));
                    match self
                        .store
                        .create(&Record::new(key, data, now, now + KEEP))
                        .await
                    {
                        Ok(()) => return Ok(1),
                        Err(StoreError::Exists) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(StoreError::backend(
            "bumping a user generation",
            "too many concurrent bumps",
        ))
    }
}
