//! The handle a request handler gets: lazy, cheap to clone, dict-like.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, MutexGuard};

use crate::changes::{apply_to_data, Op};
use crate::engine::{CookieAction, State};
use crate::{
    ClientInfo, Data, Error, Expiry, IdHash, Record, SessionConfig, SessionId, SessionStore,
};

/// Session key holding the CSRF secret (see `sessionkit::csrf`); removed by
/// [`Session::login`] so the token rotates when privileges change.
pub const CSRF_SECRET_KEY: &str = "_csrf";

/// Key of Django's test-cookie helpers.
const TEST_COOKIE_KEY: &str = "testcookie";
const TEST_COOKIE_VALUE: &str = "worked";

/// A session: a dict of string keys to JSON values, loaded from the store on first
/// use and saved by the layer after the handler (or by [`Session::save`]).
///
/// Cloning is cheap; clones share one state. Every write is recorded as an operation,
/// so that when two requests of one session save at the same time, the loser re-applies
/// its operations to the winner's record instead of overwriting it.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{MemoryStore, Session, SessionConfig};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let session = Session::new(MemoryStore::new(), SessionConfig::default());
/// session.insert("language", "fr").await?;
/// session.push("history", "/cart").await?;
/// assert_eq!(session.increment("visits", 1).await?, 1);
/// assert_eq!(session.get::<String>("language").await?.as_deref(), Some("fr"));
/// assert_eq!(session.len().await?, 3);
/// session.save().await?;
/// assert!(session.id().await.is_some());
/// # Ok::<(), sessionkit_core::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

/// What a request presented (its session cookie's id, its client), read only when its
/// session is first used: a route that never touches its session pays for no parsing.
/// The layer implements it over the request's raw headers; [`Session::from_parts`] over
/// values already parsed.
pub trait Presented: Send + Sync + 'static {
    /// Whether the request may carry a session id at all (it sent cookies); `false`
    /// spares the call of [`Presented::id`].
    fn may_carry_id(&self) -> bool;
    /// The id the request's cookie carries, if it carries a valid one. Called at most
    /// once, when the session is first used; invalid cookies are reported here.
    fn id(&self) -> Option<SessionId>;
    /// The client: recorded on sessions this request creates, compared by binding.
    fn client(&self) -> Option<ClientInfo>;
}

/// Values already parsed, presented as they are.
struct Parsed {
    id: Option<SessionId>,
    client: Option<ClientInfo>,
}

impl Presented for Parsed {
    fn may_carry_id(&self) -> bool {
        self.id.is_some()
    }
    fn id(&self) -> Option<SessionId> {
        self.id.clone()
    }
    fn client(&self) -> Option<ClientInfo> {
        self.client.clone()
    }
}

pub(crate) struct Inner<P: ?Sized = dyn Presented> {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: Arc<SessionConfig>,
    /// Whether the request may carry a session cookie (it sent cookies; whether the
    /// session's is among them, and valid, is found on first use).
    pub(crate) presented_cookie: bool,
    /// Set before the state is first locked: a handle nobody used ends without the lock.
    touched: AtomicBool,
    /// Set when a save found the session ended by another request.
    pub(crate) interrupted: AtomicBool,
    /// Set by [`Session::login`].
    logged_in: AtomicBool,
    state: Mutex<State>,
    /// Last, so that one allocation holds it whatever its type.
    pub(crate) presented: P,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new, empty session that gets an id when first saved.
    pub fn new(store: impl SessionStore, config: SessionConfig) -> Self {
        Self::open(store, config, None)
    }

    /// The session with id `id` (loaded lazily), or a new one if `id` is `None`,
    /// unknown or expired. An unknown id is never adopted: a later save draws a new one.
    pub fn open(store: impl SessionStore, config: SessionConfig, id: Option<SessionId>) -> Self {
        Self::from_parts(Arc::new(store), Arc::new(config), id, None)
    }

    /// Builds a session from shared parts and an id already parsed. `client` is
    /// recorded on sessions created or cycled by this handle.
    pub fn from_parts(
        store: Arc<dyn SessionStore>,
        config: Arc<SessionConfig>,
        id: Option<SessionId>,
        client: Option<ClientInfo>,
    ) -> Self {
        Self::presented(store, config, Parsed { id, client })
    }

    /// Builds a request's session from shared parts and what the request presented,
    /// which is read on first use (what the layer does once per request).
    pub fn presented(
        store: Arc<dyn SessionStore>,
        config: Arc<SessionConfig>,
        presented: impl Presented,
    ) -> Self {
        let inner = Arc::new(Inner {
            store,
            config,
            presented_cookie: presented.may_carry_id(),
            touched: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            logged_in: AtomicBool::new(false),
            state: Mutex::new(State::new()),
            presented,
        });
        Self { inner }
    }

    /// Whether nobody has used this handle yet (so the presented id is still unread).
    fn unused(&self) -> bool {
        !self.inner.touched.load(Ordering::SeqCst)
    }

    /// Whether ending an unused handle still loads and saves it (save-every-request
    /// with a presented cookie, and no server error).
    fn refreshes_unused(&self, server_error: bool) -> bool {
        !server_error && self.saves_unloaded(self.inner.presented_cookie)
    }

    /// The state, locked. Every use of the handle goes through here: the first reads
    /// the presented id, and [`Session::finish_now`] knows a handle nobody used
    /// without taking the lock.
    pub(crate) async fn state(&self) -> MutexGuard<'_, State> {
        self.inner.touched.store(true, Ordering::SeqCst);
        let mut state = self.inner.state.lock().await;
        self.read_presented_id(&mut state);
        state
    }

    /// Reads the presented id into the locked state unless that happened already.
    /// Decided under the lock: whichever use takes it first reads the id, even when
    /// clones of the handle are used from several threads at once.
    fn read_presented_id(&self, state: &mut State) {
        if !state.id_read {
            let id = self
                .inner
                .presented_cookie
                .then(|| self.inner.presented.id())
                .flatten();
            state.present(id);
        }
    }

    async fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        state.accessed = true;
        Ok(f(&state))
    }

    async fn write(&self, op: Op) -> Result<Option<i64>, Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        Ok(state.record_op(op))
    }

    /// The value at `key`, deserialized; `None` when missing.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] when the stored value is not a `T`; [`Error::Store`] when the
    /// session could not be loaded.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        // Deserialized from the stored value in place: no copy of the JSON tree first.
        self.read(|s| s.data().get(key).map(|v| typed(key, v)))
            .await?
            .transpose()
    }

    /// The raw JSON value at `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.read(|s| s.data().get(key).cloned()).await
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] when `value` cannot be represented as JSON;
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value = serde_json::to_value(value).map_err(Error::Serialize)?;
        self.insert_value(key, value).await
    }

    /// Sets `key` to a raw JSON value.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn insert_value(&self, key: &str, value: Value) -> Result<(), Error> {
        self.write(Op::Insert(key.to_owned(), value))
            .await
            .map(drop)
    }

    /// Removes `key` and returns its value (Django `pop`). Removing a missing key
    /// returns `None` and does not mark the session modified.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] when the removed value is not a `T`; [`Error::Store`] when the
    /// session could not be loaded.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.remove_value(key)
            .await?
            .map(|v| serde_json::from_value(v).map_err(|e| value_error(key, e)))
            .transpose()
    }

    /// Removes `key` and returns its raw value.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn remove_value(&self, key: &str) -> Result<Option<Value>, Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        state.accessed = true;
        let old = state.data().get(key).cloned();
        if old.is_some() {
            state.record_op(Op::Remove(key.to_owned()));
        }
        Ok(old)
    }

    /// Whether `key` is present.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn contains(&self, key: &str) -> Result<bool, Error> {
        self.read(|s| s.data().contains_key(key)).await
    }

    /// The keys, in sorted order.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.read(|s| s.data().keys().cloned().collect()).await
    }

    /// The values, in key order.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn values(&self) -> Result<Vec<Value>, Error> {
        self.read(|s| s.data().values().cloned().collect()).await
    }

    /// Every key with its value.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn items(&self) -> Result<Data, Error> {
        self.read(|s| s.data().clone()).await
    }

    /// Number of keys.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn len(&self) -> Result<usize, Error> {
        self.read(|s| s.data().len()).await
    }

    /// Whether the session holds nothing worth storing: no data and no logged-in user
    /// (Django's `is_empty`). Exactly such a session is never stored, and a stored one
    /// that becomes empty is deleted. [`Session::len`] counts data keys only, so a
    /// session holding just a logged-in user has no keys but is not empty.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        self.read(State::is_empty).await
    }

    /// Removes every key. The session keeps its id; if it stays empty the record is
    /// deleted at save.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn clear(&self) -> Result<(), Error> {
        self.write(Op::Clear).await.map(drop)
    }

    /// Sets every entry of `entries` (Django `update`).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn update(&self, entries: Map<String, Value>) -> Result<(), Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        for (k, v) in entries {
            state.record_op(Op::Insert(k, v));
        }
        state.accessed = true;
        Ok(())
    }

    /// The value at `key`; if missing, inserts `default` and returns it (Django
    /// `setdefault`).
    ///
    /// # Errors
    ///
    /// [`Error::Value`], [`Error::Serialize`] or [`Error::Store`].
    pub async fn get_or_insert<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        state.accessed = true;
        if let Some(v) = state.data().get(key) {
            return typed(key, v);
        }
        let value = serde_json::to_value(&default).map_err(Error::Serialize)?;
        state.record_op(Op::Insert(key.to_owned(), value));
        Ok(default)
    }

    /// Appends `item` to the list at `key` (created when missing). Concurrent pushes
    /// from parallel requests of one session are all kept.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] or [`Error::Store`].
    pub async fn push<T: Serialize>(&self, key: &str, item: T) -> Result<(), Error> {
        let item = serde_json::to_value(item).map_err(Error::Serialize)?;
        self.write(Op::Push(key.to_owned(), item)).await.map(drop)
    }

    /// Appends `item` to the list at `key` and keeps only its last `keep_last` items (a
    /// bounded history). Concurrent capped pushes are all applied, in save order.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] or [`Error::Store`].
    pub async fn push_capped<T: Serialize>(
        &self,
        key: &str,
        item: T,
        keep_last: usize,
    ) -> Result<(), Error> {
        let item = serde_json::to_value(item).map_err(Error::Serialize)?;
        self.write(Op::PushCapped(key.to_owned(), item, keep_last))
            .await
            .map(drop)
    }

    /// Adds `by` to the integer at `key` (0 when missing) and returns the new value.
    /// Concurrent increments are all counted. A value at `key` that is not an integer
    /// counts as 0 and is replaced (so the operation can be replayed on any record);
    /// the sum saturates at the bounds of `i64`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, Error> {
        Ok(self
            .write(Op::Increment(key.to_owned(), by))
            .await?
            .unwrap_or_default())
    }

    /// Merges `entries` into the map at `key` (created when missing). Concurrent merges
    /// of different entries are all kept.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn merge(&self, key: &str, entries: Map<String, Value>) -> Result<(), Error> {
        self.write(Op::Merge(key.to_owned(), entries))
            .await
            .map(drop)
    }

    /// Forces a save at the end of the request even if nothing changed through this
    /// handle (refreshing the idle expiry): Django's `request.session.modified = True`.
    /// The session is loaded for it; if that fails, the failure is remembered and the
    /// request ends as any failed session does (the layer's error response).
    pub async fn mark_modified(&self) {
        let mut state = self.state().await;
        // A failed load sets `failed`, which the end of the request reports.
        let _ = self.ensure_loaded(&mut state).await;
        state.accessed = true;
        state.modified = true;
    }

    /// Deletes the session: its data, its stored record (at save) and its cookie. The
    /// handle starts over as a new, empty session without an id.
    ///
    /// The session is loaded first (one store call, unless the handler used it
    /// already): a request that presented an id rotated away moments ago ends the
    /// session that id became, not only the pointer the rotation left; and one whose
    /// session a login as another user ended (the browser holds that user's cookie by
    /// now) deletes nothing and leaves the cookie alone. If the load fails, the
    /// request ends as any failed session does (the layer's error response).
    pub async fn flush(&self) {
        let mut state = self.state().await;
        // A failed load sets `failed`, which the end of the request reports.
        let _ = self.ensure_loaded(&mut state).await;
        state.flush();
    }

    /// Gives the session a new id, keeping its data (fixation defence). The old id
    /// stops working when the session is saved.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        state.accessed = true;
        state.cycle = true;
        Ok(())
    }

    /// Logs `user` in: cycles the id (keeping the data), binds the session to the
    /// user, so it shows up in "sessions of a user" and goes with "log out everywhere",
    /// and drops the CSRF secret so a token issued before login stops working. When
    /// another user is logged in on this session, its data is not handed over: the new
    /// id starts an empty session (Django's `login` flushes in this case), and the old
    /// id, presented again by a request sent before the browser had the new cookie,
    /// opens an empty session too, never the new user's.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn login(&self, user: &str) -> Result<(), Error> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await?;
        self.inner.logged_in.store(true, Ordering::SeqCst);
        if state
            .view
            .user
            .as_deref()
            .is_some_and(|current| current != user)
        {
            // Nothing of the other user's session goes over, but the id still rotates
            // through a pointer: a request of the old session still in flight then ends
            // without touching the new user's cookie.
            state.restart = Some(state.changes.ops().len());
            state.record_op(Op::Clear);
            state.record_op(Op::SetExpiry(crate::Expiry::Default));
        }
        state.cycle = true;
        state.record_op(Op::SetUser(Some(user.to_owned())));
        if state.data().contains_key(CSRF_SECRET_KEY) {
            state.record_op(Op::Remove(CSRF_SECRET_KEY.to_owned()));
        }
        Ok(())
    }

    /// Logs out: the same as [`Session::flush`].
    pub async fn logout(&self) {
        self.flush().await;
    }

    /// The user bound by [`Session::login`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn user(&self) -> Result<Option<String>, Error> {
        self.read(|s| s.view.user.clone()).await
    }

    /// Overrides when this session expires (every case of Django's `set_expiry`).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn set_expiry(&self, expiry: Expiry) -> Result<(), Error> {
        self.write(Op::SetExpiry(expiry)).await.map(drop)
    }

    /// This session's expiry override.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn expiry(&self) -> Result<Expiry, Error> {
        self.read(|s| s.view.expiry).await
    }

    /// When the session would expire if saved now (Django `get_expiry_date`).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn expiry_date(&self) -> Result<OffsetDateTime, Error> {
        let policy = self.inner.config.expiry;
        let now = OffsetDateTime::now_utc();
        self.read(|s| policy.expires_at(s.view.expiry, s.view.created_at.unwrap_or(now), now))
            .await
    }

    /// How long until the session would expire if saved now (Django `get_expiry_age`).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn expiry_age(&self) -> Result<Duration, Error> {
        Ok(self.expiry_date().await? - OffsetDateTime::now_utc())
    }

    /// Whether the cookie is dropped when the browser closes (Django
    /// `get_expire_at_browser_close`).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn expires_at_browser_close(&self) -> Result<bool, Error> {
        let policy = self.inner.config.expiry;
        self.read(|s| policy.is_browser_session(s.view.expiry))
            .await
    }

    /// Django's test cookie: set it on one request ...
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn set_test_cookie(&self) -> Result<(), Error> {
        self.insert(TEST_COOKIE_KEY, TEST_COOKIE_VALUE).await
    }

    /// ... and on the next one, learn whether the browser sent the cookie back.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn test_cookie_worked(&self) -> Result<bool, Error> {
        let value = self.get_value(TEST_COOKIE_KEY).await?;
        Ok(value.as_ref().and_then(Value::as_str) == Some(TEST_COOKIE_VALUE))
    }

    /// Removes the test cookie key.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the session could not be loaded.
    pub async fn delete_test_cookie(&self) -> Result<(), Error> {
        self.remove_value(TEST_COOKIE_KEY).await.map(drop)
    }

    /// The current id: the client's once the store has confirmed it (this loads the
    /// session), or the one drawn at the last save. `None` for a session that has not
    /// been stored, and when the session cannot be loaded. An id the store does not
    /// know is never returned.
    ///
    /// A request that presented an id rotated away moments ago (a login or
    /// [`cycle_id`](Session::cycle_id) in another request, inside the rotation grace
    /// window) works on the record that id was forwarded to, and its response does not
    /// carry that record's id; this still returns the presented id. To tell which of a
    /// user's sessions this one is, compare [`Session::id_hash`].
    pub async fn id(&self) -> Option<SessionId> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await.ok()?;
        state.accessed = true;
        state.id.clone()
    }

    /// Whether `record` (as a listing or
    /// [`UserIndex::sessions_of`](crate::store::UserIndex::sessions_of) returns it) is a
    /// session a request could use under this handle's settings: not expired, within
    /// the idle timeout and absolute lifetime configured now (which may be lower than
    /// those it was saved under), and not the pointer a rotated-away id leaves behind.
    /// For pages that list a user's sessions: they then show what the application
    /// would accept.
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit_core::{IdHash, MemoryStore, Record, Session, SessionConfig};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let session = Session::new(MemoryStore::new(), SessionConfig::default());
    /// let now = OffsetDateTime::now_utc();
    /// let mut record = Record::new(IdHash::from_bytes([7; 32]), Default::default(), now, now + Duration::days(1));
    /// assert!(session.accepts(&record));
    /// record.created_at = now - Duration::days(60); // past the default 30-day lifetime
    /// assert!(!session.accepts(&record));
    /// ```
    pub fn accepts(&self, record: &Record) -> bool {
        let now = OffsetDateTime::now_utc();
        record.moved_to.is_none()
            && !record.is_expired(now)
            && !self.past_current_limits(record, now)
    }

    /// The key of the stored record this session is, as
    /// [`UserIndex::sessions_of`](crate::store::UserIndex::sessions_of) lists it: the
    /// hash of [`Session::id`], except for a request forwarded from a rotated-away id,
    /// where it is the record the session went on in. `None` as for `id` (this loads
    /// the session).
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit_core::{MemoryStore, Session, SessionConfig};
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// # rt.block_on(async {
    /// let session = Session::new(MemoryStore::new(), SessionConfig::default());
    /// assert_eq!(session.id_hash().await, None, "not stored yet");
    /// session.insert("cart", ["apple"]).await?;
    /// session.save().await?;
    /// let id = session.id().await.expect("stored");
    /// assert_eq!(session.id_hash().await, Some(id.hash()));
    /// # Ok::<(), sessionkit_core::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn id_hash(&self) -> Option<IdHash> {
        let mut state = self.state().await;
        self.ensure_loaded(&mut state).await.ok()?;
        state.accessed = true;
        let stored = state.saved.as_ref().map(|record| record.id);
        stored.or_else(|| state.id.as_ref().map(SessionId::hash))
    }

    /// Whether a save of this handle found its session ended by another request (a
    /// logout, or a login as another user) and dropped this request's changes: the
    /// layer then answers 400, as Django's `SessionInterrupted` does, while the cookie
    /// does what [`Session::finish`] said.
    pub fn interrupted(&self) -> bool {
        self.inner.interrupted.load(Ordering::SeqCst)
    }

    /// Whether [`Session::login`] was called on this handle: the request authenticated
    /// its user (the cookie store then seals the user's current revocation generation,
    /// not the one the request's cookie carried).
    pub fn has_logged_in(&self) -> bool {
        self.inner.logged_in.load(Ordering::SeqCst)
    }

    /// Whether any read or write touched the session (the layer adds `Vary: Cookie`).
    pub async fn accessed(&self) -> bool {
        self.state().await.accessed
    }

    /// Saves now (creating, merging, cycling or deleting as needed). The layer calls
    /// this after the handler; call it yourself outside a request.
    ///
    /// # Errors
    ///
    /// [`Error::Interrupted`] when the session was deleted by someone else meanwhile;
    /// [`Error::Conflict`] when concurrent writers kept winning; [`Error::Store`].
    pub async fn save(&self) -> Result<(), Error> {
        let mut state = self.state().await;
        self.save_locked(&mut state).await
    }

    /// Saves and returns what the response's cookie must do.
    ///
    /// # Errors
    ///
    /// As [`Session::save`], except that [`Error::Interrupted`] becomes
    /// [`CookieAction::Remove`]: the client starts a fresh session.
    pub async fn commit(&self) -> Result<CookieAction, Error> {
        self.finish(false).await.1
    }

    /// Ends the request in one step, as the layer does after the handler: whether the
    /// session was accessed (for `Vary: Cookie`) and what the cookie must do. A
    /// `server_error` response saves nothing. A session the handler never touched costs
    /// no store call.
    ///
    /// # Errors
    ///
    /// In the second element: as [`Session::commit`]; a session whose load failed earlier
    /// in the request is [`Error::Unavailable`] (fail closed) unless the handler already
    /// answered with a server error of its own.
    pub async fn finish(&self, server_error: bool) -> (bool, Result<CookieAction, Error>) {
        if self.unused() && !self.refreshes_unused(server_error) {
            return (false, Ok(CookieAction::Keep));
        }
        let mut state = self.state().await;
        if let Some(done) = self.finish_without_store(&mut state, server_error) {
            return done;
        }
        let outcome = match self.save_locked(&mut state).await {
            Ok(()) => Ok(std::mem::take(&mut state.cookie)),
            Err(Error::Interrupted) => {
                tracing::warn!("session was deleted by a concurrent request; starting a fresh one");
                Ok(std::mem::take(&mut state.cookie))
            }
            Err(e) => Err(e),
        };
        (state.accessed, outcome)
    }

    /// [`Session::finish`] without waiting, for a request that needs no store call (the
    /// session untouched, or read and left as it was): `None` when a save is due or
    /// another task holds the session right now; call [`Session::finish`] then. The
    /// layer ends most requests this way, without an extra future.
    pub fn finish_now(&self, server_error: bool) -> Option<(bool, Result<CookieAction, Error>)> {
        if self.unused() {
            // Never loaded, changed or flushed: what `finish_without_store` answers for
            // a fresh state, without the lock (most requests of most routes).
            return (!self.refreshes_unused(server_error))
                .then_some((false, Ok(CookieAction::Keep)));
        }
        let mut state = self.inner.state.try_lock().ok()?;
        self.read_presented_id(&mut state);
        self.finish_without_store(&mut state, server_error)
    }

    /// The record as it stands in this handle: the loaded (or last saved) record with
    /// this request's unsaved changes to data, user and expiry applied; `None` for a
    /// session with no stored record yet. For inspection and for stores that hold it
    /// client-side.
    pub async fn snapshot(&self) -> Option<Record> {
        let state = self.state().await;
        let saved = state.saved.as_deref()?;
        let mut record = saved.with_data(state.data().clone());
        record.user.clone_from(&state.view.user);
        record.expiry = state.view.expiry;
        Some(record)
    }
}

/// The stored `value` of `key` as a `T`, deserialized without copying it first.
fn typed<T: DeserializeOwned>(key: &str, value: &Value) -> Result<T, Error> {
    T::deserialize(value).map_err(|e| value_error(key, e))
}

/// The error for a stored value of `key` that is not of the type asked for.
fn value_error(key: &str, source: serde_json::Error) -> Error {
    Error::Value {
        key: key.to_owned(),
        source,
    }
}

impl State {
    /// Applies and records one operation; returns the new value for increments.
    ///
    /// Operations are recorded to be replayed on a stored record that changed under
    /// this request (a lost compare-and-swap). A session with no stored record is
    /// created from its data as it stands, never replayed, so its operations are only
    /// applied (an insert moves its key and value in, no copy).
    pub(crate) fn record_op(&mut self, op: Op) -> Option<i64> {
        self.accessed = true;
        self.modified = true;
        let replayable = self.saved.is_some();
        let op = match op {
            Op::Insert(key, value) if !replayable => {
                self.data_mut().insert(key, value);
                return None;
            }
            op => op,
        };
        let result = match &op {
            Op::SetExpiry(e) => {
                self.view.expiry = *e;
                None
            }
            Op::SetUser(u) => {
                self.view.user.clone_from(u);
                None
            }
            other => apply_to_data(other, self.data_mut()),
        };
        if replayable {
            self.changes.push(op);
        }
        result
    }
}
