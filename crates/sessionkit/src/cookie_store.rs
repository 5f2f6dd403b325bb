//! The cookie store: the whole session lives in the (signed or encrypted) cookie.
//!
//! By nature it differs from server-side stores: there is no server record, so a
//! cookie cannot be revoked before its expiry (logout only replaces the browser's copy),
//! there is no user index, and concurrent requests cannot be merged (the last response
//! the browser receives wins). Issued-at and expiry are inside the authenticated
//! payload, so a stolen cookie stops working when its expiry passes even if a client
//! ignores `Expires`. A session that would not fit in a cookie is refused with a clear
//! error instead of being dropped silently by the browser.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sessionkit_core::store::StoreError;
use sessionkit_core::{codec, IdHash, Record, SessionId, SessionStore};
use time::OffsetDateTime;

use crate::generations::Generations;
use crate::seal::{Protection, Sealer};
use crate::KeyRing;

/// Browsers keep cookies whose name and value total at most 4096 bytes.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// Length of a session id's text form, which leads the sealed payload.
const ID_LEN: usize = 32;
/// Then the user's generation, 8 bytes big-endian.
const GEN_LEN: usize = 8;

/// The whole session in the cookie, sealed with a key ring.
///
/// # Examples
///
/// ```
/// use sessionkit::{CookieStore, KeyRing, SessionLayer};
///
/// let keys = KeyRing::new(["a random secret of at least 32 bytes"])?;
/// let layer = SessionLayer::cookie_store(CookieStore::private(&keys));
/// # let _ = layer;
/// # Ok::<(), sessionkit::KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CookieStore {
    sealer: Sealer,
    revocation: Option<Arc<dyn Generations>>,
}

/// What a valid cookie carried.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) id: SessionId,
    pub(crate) generation: u64,
    pub(crate) record: Record,
}

impl CookieStore {
    /// AES-256-GCM: the client can neither read nor change the session.
    pub fn private(keys: &KeyRing) -> Self {
        Self {
            sealer: Sealer::new(keys, "sessionkit cookie store", Protection::Private),
            revocation: None,
        }
    }

    /// HMAC-SHA256: the client can read (base64url JSON) but not change the session.
    pub fn signed(keys: &KeyRing) -> Self {
        Self {
            sealer: Sealer::new(keys, "sessionkit cookie store", Protection::Signed),
            revocation: None,
        }
    }

    /// Makes sessions bound to a user (`Session::login`) revocable: each cookie carries
    /// the user's generation number, checked when the session is loaded;
    /// [`Generations::bump`] revokes every cookie of that user ("log out everywhere").
    /// Costs one lookup per request that reads a logged-in session.
    pub fn with_revocation(mut self, generations: impl Generations) -> Self {
        self.revocation = Some(Arc::new(generations));
        self
    }

    pub(crate) fn revocation(&self) -> Option<&Arc<dyn Generations>> {
        self.revocation.as_ref()
    }

    /// Seals a record, the id it belongs to and its user's generation into a cookie value.
    pub(crate) fn seal(
        &self,
        name: &str,
        id: &SessionId,
        generation: u64,
        record: &Record,
    ) -> Result<String, codec::CodecError> {
        let mut payload = id.to_string().into_bytes();
        payload.extend(generation.to_be_bytes());
        payload.extend(codec::encode(record)?);
        Ok(self.sealer.seal(name, URL_SAFE_NO_PAD.encode(payload)))
    }

    /// Opens a cookie value; `None` for anything tampered, truncated, foreign,
    /// malformed or expired.
    pub(crate) fn open(&self, name: &str, value: &str) -> Option<Opened> {
        let (text, key_index) = self.sealer.open(name, value)?;
        let payload = URL_SAFE_NO_PAD.decode(text).ok()?;
        let id = SessionId::parse(std::str::from_utf8(payload.get(..ID_LEN)?).ok()?)?;
        let generation =
            u64::from_be_bytes(payload.get(ID_LEN..ID_LEN + GEN_LEN)?.try_into().ok()?);
        let record = match codec::decode(payload.get(ID_LEN + GEN_LEN..)?) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "authenticated session cookie holds an unreadable record");
                return None;
            }
        };
        if record.id != id.hash() || record.is_expired(OffsetDateTime::now_utc()) {
            return None;
        }
        if key_index > 0 {
            tracing::debug!(
                key_index,
                "session cookie verified by a fallback key; re-sealed on next save"
            );
        }
        Some(Opened {
            id,
            generation,
            record,
        })
    }
}

/// One request's view of the cookie store: a store holding at most the one record the
/// cookie carried, which the layer seals back into the response cookie.
#[derive(Debug, Default)]
pub(crate) struct CookieSlot {
    record: Mutex<Option<Record>>,
    generation: u64,
    revocation: Option<Arc<dyn Generations>>,
}

impl CookieSlot {
    pub(crate) fn new(
        record: Option<Record>,
        generation: u64,
        revocation: Option<Arc<dyn Generations>>,
    ) -> Self {
        Self {
            record: Mutex::new(record),
            generation,
            revocation,
        }
    }

    pub(crate) fn current(&self) -> Option<Record> {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Option<Record>) -> R) -> R {
        f(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl SessionStore for CookieSlot {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let found = self.with(|r| {
            r.as_ref()
                .filter(|r| r.id == *id && !r.is_expired(now))
                .cloned()
        });
        if let (Some(record), Some(revocation)) = (&found, &self.revocation) {
            if let Some(user) = &record.user {
                if revocation.current(user).await? != self.generation {
                    sessionkit_core::metrics::suspicious("revoked_cookie");
                    tracing::warn!("revoked session cookie presented; starting an empty session");
                    self.with(|r| *r = None);
                    return Ok(None);
                }
            }
        }
        Ok(found)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.with(|r| match r {
            Some(existing) if existing.id == record.id => Err(StoreError::Exists),
            _ => {
                *r = Some(record.clone());
                Ok(())
            }
        })
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|r| match r {
            Some(current) if current.id == record.id && current.version == expected_version => {
                *r = Some(record.clone());
                true
            }
            _ => false,
        }))
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|r| match r {
            Some(current) if current.id == *id => {
                current.expires_at = expires_at;
                current.last_seen = now;
                true
            }
            _ => false,
        }))
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        Ok(self.with(|r| {
            let hit = r.as_ref().is_some_and(|c| c.id == *id);
            if hit {
                *r = None;
            }
            hit
        }))
    }
}
