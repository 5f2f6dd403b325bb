//! The cookie store: the whole session lives in the (signed or encrypted) cookie.
//!
//! By nature it differs from server-side stores: there is no server record, so a
//! cookie cannot be revoked before its expiry (logout only replaces the browser's copy),
//! there is no user index, and concurrent requests cannot be merged (the last response
//! the browser receives wins). Issued-at and expiry are inside the authenticated
//! payload, so a stolen cookie stops working when its expiry passes even if a client
//! ignores `Expires`. A session that would not fit in a cookie is refused with a clear
//! error instead of being dropped silently by the browser.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

    /// HMAC-SHA256: the client can read the session (base64url of the id, the user's
    /// generation and the record in MessagePack) but not change it.
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

    /// Opens a cookie value: what it carries, or why it is unusable.
    pub(crate) fn open(&self, name: &str, value: &str) -> Result<Opened, Unopened> {
        let (text, key_index) = self.sealer.open(name, value).ok_or(Unopened::Forged)?;
        let payload = URL_SAFE_NO_PAD.decode(text).map_err(|_| Unopened::Forged)?;
        let id = payload
            .get(..ID_LEN)
            .and_then(|text| std::str::from_utf8(text).ok())
            .and_then(SessionId::parse)
            .ok_or(Unopened::Forged)?;
        let generation = payload
            .get(ID_LEN..ID_LEN + GEN_LEN)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(Unopened::Forged)?;
        let record = match codec::decode(payload.get(ID_LEN + GEN_LEN..).unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "authenticated session cookie holds an unreadable record");
                return Err(Unopened::Forged);
            }
        };
        if record.id != id.hash() {
            return Err(Unopened::Forged);
        }
        if record.is_expired(OffsetDateTime::now_utc()) {
            return Err(Unopened::Expired);
        }
        if key_index > 0 {
            tracing::debug!(
                key_index,
                "session cookie verified by a fallback key; re-sealed on next save"
            );
        }
        Ok(Opened {
            id,
            generation,
            record,
        })
    }
}

/// Why a cookie value could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unopened {
    /// Tampered, truncated, sealed with an unknown key, for another cookie name, or
    /// not a session at all.
    Forged,
    /// Genuine, but its session's expiry (inside the payload) has passed.
    Expired,
}

/// One request's view of the cookie store: a store holding at most the one record the
/// cookie carried (put there when the handler first uses its session), which the layer
/// seals back into the response cookie.
#[derive(Debug, Default)]
pub(crate) struct CookieSlot {
    record: Mutex<Option<Record>>,
    /// The user the cookie's session was bound to and that user's generation the
    /// cookie carried; `None` until a cookie is opened, and after it was found revoked.
    presented: Mutex<Option<(Option<String>, u64)>>,
    /// Whether the presented session passed the revocation check (made once, at its
    /// first load: later loads in the request see what the request itself stored).
    verified: AtomicBool,
    revocation: Option<Arc<dyn Generations>>,
}

impl CookieSlot {
    /// An empty slot; [`CookieSlot::fill`] puts the cookie's session in.
    pub(crate) fn new(revocation: Option<Arc<dyn Generations>>) -> Self {
        Self {
            record: Mutex::new(None),
            presented: Mutex::new(None),
            verified: AtomicBool::new(false),
            revocation,
        }
    }

    /// Puts in what the request's cookie carried; returns its id.
    pub(crate) fn fill(&self, opened: Opened) -> SessionId {
        *self.presented() = Some((opened.record.user.clone(), opened.generation));
        self.with(|r| *r = Some(opened.record));
        opened.id
    }

    fn presented(&self) -> MutexGuard<'_, Option<(Option<String>, u64)>> {
        self.presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation the cookie carried (0 when none was opened).
    fn presented_generation(&self) -> u64 {
        self.presented()
            .as_ref()
            .map_or(0, |(_, generation)| *generation)
    }

    /// The user generation to seal `record` with, or `None` when its user has been
    /// revoked while this request ran: the user's current one after a login in this
    /// request (`logged_in`), otherwise the cookie's own generation while the user it
    /// was opened with is still the one bound (a revocation racing the request must
    /// not hand out a fresh cookie).
    pub(crate) async fn generation_for(
        &self,
        record: &Record,
        logged_in: bool,
    ) -> Result<Option<u64>, StoreError> {
        let (Some(revocation), Some(user)) = (&self.revocation, &record.user) else {
            return Ok(Some(0));
        };
        let current = revocation.current(user).await?;
        if logged_in {
            return Ok(Some(current));
        }
        match self.presented().as_ref() {
            Some((Some(presented_user), generation)) if presented_user == user => {
                Ok((current == *generation).then_some(current))
            }
            _ => Ok(Some(current)),
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
        let unverified = !self.verified.swap(true, Ordering::SeqCst);
        if let (Some(record), Some(revocation), true) = (&found, &self.revocation, unverified) {
            if let Some(user) = &record.user {
                if revocation.current(user).await? != self.presented_generation() {
                    sessionkit_core::metrics::suspicious("revoked_cookie");
                    tracing::warn!("revoked session cookie presented; starting an empty session");
                    self.with(|r| *r = None);
                    *self.presented() = None;
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
