//! Loading and saving: the rules every store gets for free.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use time::OffsetDateTime;
use tokio::sync::Mutex;
use tracing::Instrument as _;

use crate::changes::Changes;
use crate::expiry::CookieLifetime;
use crate::metrics;
use crate::store::StoreError;
use crate::{Binding, ClientInfo, Data, Error, Expiry, IdHash, Record, Session, SessionId};

/// What the response's session cookie must do after a save.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CookieAction {
    /// Leave the client's cookie as it is (or send none).
    #[default]
    Keep,
    /// Send the cookie for this id with this lifetime.
    Set {
        /// The session's (possibly new) id.
        id: SessionId,
        /// Max-Age/Expires, or a browser-session cookie.
        lifetime: CookieLifetime,
    },
    /// Send a removal cookie.
    Remove,
}

/// The part of a record a handler sees and changes. The data is copy-on-write: until
/// the first write it is the saved record's own data (no copy on read-only requests).
#[derive(Debug, Default)]
pub(crate) struct View {
    /// `None`: the saved record's data (or nothing, for a new session).
    pub(crate) data: Option<Data>,
    pub(crate) expiry: Expiry,
    pub(crate) user: Option<String>,
    pub(crate) created_at: Option<OffsetDateTime>,
}

impl View {
    fn of(record: &Record) -> Self {
        Self {
            data: None,
            expiry: record.expiry,
            user: record.user.clone(),
            created_at: Some(record.created_at),
        }
    }
}

/// An empty map for sessions without data.
static NO_DATA: std::sync::LazyLock<Data> = std::sync::LazyLock::new(Data::new);

/// One handle's state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) incoming: Option<SessionId>,
    pub(crate) id: Option<SessionId>,
    pub(crate) loaded: bool,
    pub(crate) failed: bool,
    /// The record as loaded or last saved, shared with the store where it keeps
    /// records in memory.
    pub(crate) saved: Option<Arc<Record>>,
    pub(crate) view: View,
    pub(crate) changes: Changes,
    pub(crate) accessed: bool,
    pub(crate) modified: bool,
    pub(crate) cycle: bool,
    pub(crate) flushed: Option<IdHash>,
    pub(crate) cookie: CookieAction,
    /// The client presented an id rotated away moments ago; the session is the record
    /// that replaced it, and the client's cookie must not be overwritten with the old id.
    pub(crate) forwarded: bool,
    client_has_cookie: bool,
    /// Whether the presented id has been read into `incoming` (on first use).
    pub(crate) id_read: bool,
    /// The cycle starts a new session rather than carrying this one over (a login as
    /// another user): nothing of the old record but a pointer to the new one remains.
    /// It holds where that login's `Clear` is among `changes`.
    pub(crate) restart: Option<usize>,
    /// The browser's cookie may already name another session than the one presented
    /// (a login as another user ended it, or another request's save superseded this
    /// one's): this request leaves that cookie alone, even when it logs out.
    cookie_taken_over: bool,
}

impl State {
    /// The id the request presented, read on the handle's first use.
    pub(crate) fn present(&mut self, id: Option<SessionId>) {
        self.id_read = true;
        self.client_has_cookie = id.is_some();
        self.incoming = id;
    }

    /// The state of a handle not used yet: no id read, nothing loaded.
    pub(crate) fn new() -> Self {
        Self {
            client_has_cookie: false,
            cookie_taken_over: false,
            id_read: false,
            restart: None,
            incoming: None,
            id: None,
            loaded: false,
            failed: false,
            saved: None,
            view: View::default(),
            changes: Changes::default(),
            accessed: false,
            modified: false,
            cycle: false,
            flushed: None,
            cookie: CookieAction::Keep,
            forwarded: false,
        }
    }

    /// The session's data as the handler sees it.
    pub(crate) fn data(&self) -> &Data {
        match (&self.view.data, &self.saved) {
            (Some(data), _) => data,
            (None, Some(saved)) => &saved.data,
            (None, None) => &NO_DATA,
        }
    }

    /// The data for a write, taken from the saved record on the first one: moved out
    /// when this handle holds the only reference (a record decoded for this request),
    /// copied when the store shares it. Nothing reads the saved record's data once the
    /// view has its own: a save builds on the view, a retry or a cycle on a record
    /// loaded again.
    pub(crate) fn data_mut(&mut self) -> &mut Data {
        if self.view.data.is_none() {
            let data = match self.saved.as_mut() {
                Some(saved) => match Arc::get_mut(saved) {
                    Some(only) => std::mem::take(&mut only.data),
                    None => saved.data.clone(),
                },
                None => Data::new(),
            };
            self.view.data = Some(data);
        }
        self.view.data.get_or_insert_with(Data::new)
    }

    /// Nothing worth storing: no data and no bound user.
    /// No data and no bound user: nothing worth storing.
    pub(crate) fn is_empty(&self) -> bool {
        self.data().is_empty() && self.view.user.is_none()
    }

    pub(crate) fn flush(&mut self) {
        let doomed = self.saved.as_ref().map(|r| r.id).or_else(|| {
            (!self.loaded)
                .then(|| self.incoming.as_ref().map(SessionId::hash))
                .flatten()
        });
        if doomed.is_some() {
            self.flushed = doomed;
        } else if !self.cookie_taken_over {
            // The cookie named no live session (unknown, expired, revoked): nothing to
            // delete, but the client's cookie goes all the same (C6).
            self.remove_cookie();
        }
        self.loaded = true;
        self.saved = None;
        self.id = None;
        self.view = View::default();
        self.changes.reset();
        self.accessed = true;
        self.modified = true;
        self.cycle = false;
        self.restart = None;
    }

    fn remove_cookie(&mut self) {
        if self.client_has_cookie || matches!(self.cookie, CookieAction::Set { .. }) {
            self.cookie = CookieAction::Remove;
        }
    }

    fn settle(&mut self, record: Option<Arc<Record>>, id: Option<SessionId>) {
        self.view = record.as_deref().map(View::of).unwrap_or_default();
        self.saved = record;
        self.id = id;
        self.changes.reset();
        self.modified = false;
        self.cycle = false;
        self.restart = None;
    }
}

/// A record on its way to the store. When it was built from the handler's data, moved
/// out of the view (`from_view`), and the store does not end up with it (an error, a
/// refusal, or the save dropped while the store call is pending: cancelled), dropping
/// this puts the data back into the view, so the handle keeps this request's data and a
/// later save stores it. [`InFlight::done`] says the store has it.
struct InFlight<'s> {
    state: &'s mut State,
    record: Arc<Record>,
    from_view: bool,
}

impl<'s> InFlight<'s> {
    fn new(state: &'s mut State, record: Record, from_view: bool) -> Self {
        Self {
            state,
            record: Arc::new(record),
            from_view,
        }
    }

    /// The record, to change before (another) store call; copied only if a store still
    /// holds a handle of it.
    fn record_mut(&mut self) -> &mut Record {
        Arc::make_mut(&mut self.record)
    }

    /// The store has the record (or has answered for it): nothing goes back to the view.
    fn done(mut self) -> Arc<Record> {
        self.from_view = false;
        self.record.clone()
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.from_view && self.state.view.data.is_none() {
            // Copied only if the store kept a handle of a record it did not take.
            let data = std::mem::take(&mut Arc::make_mut(&mut self.record).data);
            self.state.view.data = Some(data);
        }
    }
}

/// Whether `now`, the record a rotated-away session lives in (as `successor`
/// found it), belongs to another user than the one the request loaded it with, or is
/// the pointer where a login as another user ended it: a login as someone else
/// meanwhile, also after an anonymous session's own login.
fn taken_over(loaded_user: Option<&str>, now: &Record) -> bool {
    now.ended_by_login() || (loaded_user.is_some() && now.user.as_deref() != loaded_user)
}

/// How far `successor` follows a chain of rotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// Up to the pointer a login as another user left, where the session ended: for a
    /// presented old id and for the saves of requests in flight.
    ThisSession,
    /// Every pointer: for a login racing another login, which compares the users of the
    /// two new records itself (a login submitted twice keeps one session).
    EveryLogin,
}

/// How many rotations of one session a save follows while its request runs.
const MAX_ROTATIONS_FOLLOWED: usize = 8;

/// How long a rotated-away id is remembered after its grace window, so that its later
/// use is recognised and logged as suspicious rather than as an unknown id.
const TOMBSTONE_MEMORY: time::Duration = time::Duration::minutes(10);

/// Whether two requests plausibly come from one browser: the same user agent and the
/// same /24 (IPv4) or /64 (IPv6) network. Unknown addresses never match.
fn same_network_and_browser(then: &ClientInfo, now: &ClientInfo) -> bool {
    let network = Binding {
        user_agent: false,
        address_prefix: Some((24, 64)),
    };
    // Without addresses the user agent alone would decide, and it is easy to copy:
    // no forwarding then.
    let address_ok = then.address.is_some() && now.address.is_some() && network.allows(then, now);
    then.user_agent == now.user_agent && address_ok
}

/// Runs `call` under `limit`, arming the timer only when the call does not finish on
/// its first poll (in-memory stores answer at once and never pay for a timer), and
/// returns how long the request waited for it: from the end of that first poll to the
/// call's end, zero when it did not wait (no clock is read then either).
async fn ready_or_timeout<T>(
    limit: std::time::Duration,
    call: impl Future<Output = T>,
) -> (Result<T, tokio::time::error::Elapsed>, std::time::Duration) {
    let mut call = std::pin::pin!(call);
    let first = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
        std::task::Poll::Ready(value) => std::task::Poll::Ready(Some(value)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await;
    match first {
        Some(value) => (Ok(value), std::time::Duration::ZERO),
        None => {
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(limit, call).await;
            (result, started.elapsed())
        }
    }
}

/// In-process save locks, striped by id hash: saves of one session inside one process
/// take turns, so compare-and-swap conflicts only arise between processes.
fn save_lock(id: &IdHash) -> &'static Mutex<()> {
    static LOCKS: OnceLock<Vec<Mutex<()>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| (0..256).map(|_| Mutex::new(())).collect());
    &locks[usize::from(id.as_bytes()[1])]
}

impl Session {
    /// Runs one store call under the store timeout, inside a tracing span, recording
    /// how long the request waited for it (0 for a call that finished at once) and its
    /// failures.
    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, Error> {
        let limit = self.inner.config.store_timeout;
        // A span that no subscriber wants still costs its entry, exit and drop (with
        // tracing's `log` feature, which sqlx turns on, three `log` checks): a few
        // hundred instructions per call. The span's own callsite decides (so filters
        // by span name or kind see it); a disabled one is replaced by no span at all.
        let span = tracing::debug_span!("sessionkit_store", op);
        let span = if span.is_disabled() {
            tracing::Span::none()
        } else {
            span
        };
        let (result, waited) = ready_or_timeout(limit, call).instrument(span).await;
        let seconds = waited.as_secs_f64();
        match result {
            Ok(Ok(value)) => {
                metrics::store_call(op, seconds, None);
                Ok(value)
            }
            Ok(Err(StoreError::Corrupt(e))) => {
                metrics::store_call(op, seconds, None);
                Err(Error::Store(StoreError::Corrupt(e)))
            }
            Ok(Err(e)) => {
                metrics::store_call(op, seconds, Some("error"));
                tracing::error!(op, error = %e.for_log(), "session store call failed");
                Err(Error::Store(e))
            }
            Err(_) => {
                metrics::store_call(op, seconds, Some("timeout"));
                tracing::error!(op, timeout = ?limit, "session store call timed out");
                Err(Error::Store(StoreError::Timeout(limit)))
            }
        }
    }

    pub(crate) async fn ensure_loaded(&self, state: &mut State) -> Result<(), Error> {
        if state.loaded {
            return Ok(());
        }
        if state.failed {
            return Err(Error::Unavailable);
        }
        let Some(id) = state.incoming.clone() else {
            state.loaded = true;
            return Ok(());
        };
        let hash = id.hash();
        let loaded = match self
            .timed("load", self.inner.store.load_shared(&hash))
            .await
        {
            Ok(found) => found,
            Err(Error::Store(StoreError::Corrupt(e))) => {
                tracing::warn!(error = %e, "stored session is corrupt; starting an empty session");
                metrics::suspicious("corrupt_record");
                let _ = self.timed("delete", self.inner.store.delete(&hash)).await;
                None
            }
            Err(e) => {
                metrics::load("error");
                state.failed = true;
                return Err(e);
            }
        };
        let loaded = match loaded {
            Some(record) if record.moved_to.is_some() => match self.forward(state, record).await {
                Ok(found) => found,
                Err(e) => {
                    // Remembered like any failed load: the request fails closed.
                    metrics::load("error");
                    state.failed = true;
                    return Err(e);
                }
            },
            other => other,
        };
        state.loaded = true;
        let now = OffsetDateTime::now_utc();
        match loaded.filter(|r| !r.is_expired(now) && !self.past_current_limits(r, now)) {
            Some(record) if !self.bound_to_this_client(&record) => {
                tracing::warn!("session used from a different client than the one it is bound to; flushing it (possibly hijacked)");
                metrics::suspicious("binding_mismatch");
                state.settle(Some(record), Some(id));
                state.flush();
            }
            Some(record) => {
                metrics::load("hit");
                state.settle(Some(record), Some(id));
            }
            None => {
                metrics::load("miss");
                tracing::debug!("session cookie names no live session; starting an empty one");
            }
        }
        Ok(())
    }

    /// Resolves the record of a rotated-away id: the new record inside the grace window
    /// (same client), nothing after it.
    async fn forward(
        &self,
        state: &mut State,
        stub: Arc<Record>,
    ) -> Result<Option<Arc<Record>>, Error> {
        let now = OffsetDateTime::now_utc();
        let in_window = now - stub.last_seen <= self.inner.config.rotation_grace;
        let same_client = self
            .inner
            .presented
            .client()
            .is_none_or(|now| same_network_and_browser(&stub.client, &now));
        if stub.moved_to.is_none() || !(in_window && same_client) {
            tracing::warn!("session id used after it was rotated away; refused (possibly stolen)");
            metrics::suspicious("rotated_id");
            return Ok(None);
        }
        // Rotated again since (a login submitted twice): the client held the first id
        // legitimately, so the later rotations are followed as a save follows them, but
        // never past a login as another user.
        match self.successor(state, stub, Follow::ThisSession).await? {
            Some(pointer) if pointer.ended_by_login() => {
                // A request of a session that a login as another user ended, sent
                // before the browser had the new cookie: like an id a logout ended, it
                // opens an empty session, never the new user's.
                tracing::debug!(
                    "session id was ended by a login as another user; starting an empty session"
                );
                state.forwarded = false;
                state.cookie_taken_over = true;
                Ok(None)
            }
            record => {
                state.forwarded = record.is_some();
                Ok(record)
            }
        }
    }

    /// For the save of a request that loaded its session before another request rotated
    /// the id away (a login or `cycle_id` racing it): the record the session lives in
    /// now, following each rotation. The request held the id while it was valid, so the
    /// grace window and client checks that a presented old id must pass do not apply.
    /// `None` when the session is gone. The response then sends no cookie for the old
    /// id (`forwarded`): the client gets the new one from the request that rotated it.
    /// With [`Follow::ThisSession`], the pointer a login as another user left is where
    /// the session ended: it is returned, not followed (`taken_over` says so).
    async fn successor(
        &self,
        state: &mut State,
        mut record: Arc<Record>,
        follow: Follow,
    ) -> Result<Option<Arc<Record>>, Error> {
        for _ in 0..MAX_ROTATIONS_FOLLOWED {
            let ends_here = follow == Follow::ThisSession && record.ended_by_login();
            let Some(next) = record.moved_to.filter(|_| !ends_here) else {
                return Ok(Some(record));
            };
            match self
                .timed("load", self.inner.store.load_shared(&next))
                .await?
            {
                Some(found) => {
                    state.forwarded = true;
                    record = found;
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Whether `record` is past the timeouts configured now. Its stored expiry was
    /// computed under the ones in force when it was saved, which an operator may have
    /// lowered since (after an incident, say): the shorter limit applies at once.
    pub(crate) fn past_current_limits(&self, record: &Record, now: OffsetDateTime) -> bool {
        let policy = &self.inner.config.expiry;
        policy.has_expired(record.expiry, record.created_at, record.last_seen, now)
    }

    fn bound_to_this_client(&self, record: &Record) -> bool {
        let binding = self.inner.config.binding;
        if !binding.is_on() {
            return true;
        }
        self.inner
            .presented
            .client()
            .is_none_or(|now| binding.allows(&record.client, &now))
    }

    /// Whether a session the handler never loaded is loaded and saved anyway: with
    /// `save_every_request`, for a client that presented an id.
    pub(crate) fn saves_unloaded(&self, presented_id: bool) -> bool {
        self.inner.config.save_every_request && presented_id
    }

    pub(crate) async fn save_locked(&self, state: &mut State) -> Result<(), Error> {
        if state.failed {
            return Err(Error::Unavailable);
        }
        if let Some(doomed) = state.flushed.take() {
            self.timed("delete", self.inner.store.delete(&doomed))
                .await?;
            state.remove_cookie();
            metrics::save("delete");
        }
        if !state.loaded {
            if !self.saves_unloaded(state.incoming.is_some()) {
                return Ok(());
            }
            self.ensure_loaded(state).await?;
            state.accessed = true;
        }
        let now = OffsetDateTime::now_utc();
        let Some(saved) = state.saved.clone() else {
            if !state.is_empty() {
                let record = self.fresh_record(state, now, None);
                self.create(state, record, now).await?;
            }
            state.changes.reset();
            state.modified = false;
            return Ok(());
        };
        if !self.save_due(state, &saved, now) {
            // Nothing to store: no lock, no store call.
            return Ok(());
        }
        let _turn = save_lock(&saved.id).lock().await;
        if state.cycle {
            self.cycle(state, saved, now).await
        } else if state.modified {
            self.save_changes(state, saved, now, true).await
        } else {
            self.refresh(state, saved, now).await
        }
    }

    /// Whether saving a loaded session would change anything in the store: an id to
    /// cycle, operations to write, or an expiry to refresh.
    fn save_due(&self, state: &State, saved: &Record, now: OffsetDateTime) -> bool {
        let config = &self.inner.config;
        state.cycle
            || state.modified
            || config.save_every_request
            || config
                .expiry
                .needs_touch(saved.expiry, saved.last_seen, now)
    }

    /// The end of a request that needs no store call, decided without waiting: the
    /// handler's own server error, an earlier load failure (fail closed), a session never
    /// loaded, or one loaded and left as it was. `None` when a save is due.
    pub(crate) fn finish_without_store(
        &self,
        state: &mut State,
        server_error: bool,
    ) -> Option<(bool, Result<CookieAction, Error>)> {
        let outcome = if server_error {
            // The handler already answered with its own error; nothing is saved.
            Ok(CookieAction::Keep)
        } else if state.failed {
            Err(Error::Unavailable)
        } else if state.flushed.is_some() {
            return None;
        } else if !state.loaded {
            if self.saves_unloaded(state.incoming.is_some()) {
                return None;
            }
            Ok(CookieAction::Keep)
        } else {
            let saved = state.saved.as_deref()?;
            let config = &self.inner.config;
            let may_touch = config.save_every_request || config.expiry.touch_after.is_some();
            // Without a touch interval the clock cannot make a save due: don't read it.
            let now = if may_touch {
                OffsetDateTime::now_utc()
            } else {
                saved.last_seen
            };
            if self.save_due(state, saved, now) {
                return None;
            }
            Ok(std::mem::take(&mut state.cookie))
        };
        Some((state.accessed, outcome))
    }

    /// The record to create for `state`: on `base` (a cycle: its data with this
    /// request's operations replayed) or, for a session with nothing stored, from the
    /// handler's data, moved out of the view (put back if the record is not stored: see
    /// [`InFlight`]).
    fn fresh_record(
        &self,
        state: &mut State,
        now: OffsetDateTime,
        base: Option<&Record>,
    ) -> Record {
        let policy = self.inner.config.expiry;
        let created_at = base.map_or(now, |b| b.created_at);
        let mut record = Record::new(IdHash::from_bytes([0; 32]), Data::new(), now, now);
        record.created_at = created_at;
        match base {
            Some(b) => {
                record.data = b.data.clone();
                record.expiry = b.expiry;
                record.user = b.user.clone();
                record.client = b.client.clone();
                state.changes.apply(&mut record);
            }
            None => {
                // With nothing stored, the view holds all the data there is.
                record.data = state.view.data.take().unwrap_or_default();
                record.expiry = state.view.expiry;
                record.user = state.view.user.clone();
            }
        }
        if let Some(client) = self.inner.presented.client() {
            record.client = client;
        }
        record.expires_at = policy.expires_at(record.expiry, created_at, now);
        record
    }

    /// Stores `record` under a newly drawn id, drawing again on collision. For a
    /// session with no stored record, `record` holds the data moved out of the view,
    /// which goes back there if the record is not stored.
    async fn create(
        &self,
        state: &mut State,
        record: Record,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        const ATTEMPTS: u32 = 8;
        let from_view = state.saved.is_none();
        let mut flight = InFlight::new(state, record, from_view);
        for _ in 0..ATTEMPTS {
            let id = SessionId::generate()?;
            // The store dropped its handle of a refused record: no copy here.
            let fresh = flight.record_mut();
            fresh.id = id.hash();
            fresh.version = 1;
            fresh.last_seen = now;
            match self
                .timed(
                    "create",
                    self.inner.store.create_shared(flight.record.clone()),
                )
                .await
            {
                Ok(()) => {
                    let record = flight.done();
                    state.cookie = self.set_cookie(&id, &record);
                    state.settle(Some(record), Some(id));
                    metrics::save("create");
                    return Ok(());
                }
                Err(Error::Store(StoreError::Exists)) => {
                    tracing::warn!("new session id collided with a live one; drawing another");
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(ATTEMPTS))
    }

    fn set_cookie(&self, id: &SessionId, record: &Record) -> CookieAction {
        CookieAction::Set {
            id: id.clone(),
            lifetime: self
                .inner
                .config
                .expiry
                .cookie_lifetime(record.expiry, record.expires_at),
        }
    }

    async fn cycle(
        &self,
        state: &mut State,
        saved: Arc<Record>,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let Some(current) = self
            .timed("load", self.inner.store.load_shared(&saved.id))
            .await?
        else {
            return self.end_interrupted(state, true);
        };
        if current.moved_to.is_some() {
            return Box::pin(self.cycle_after_rotation(state, current, now)).await;
        }
        let record = if state.restart.is_some() {
            self.fresh_record(
                state,
                now,
                Some(&Record::new(current.id, Data::new(), now, now)),
            )
        } else {
            self.fresh_record(state, now, Some(&*current))
        };
        if record.is_empty() {
            self.timed("delete", self.inner.store.delete(&saved.id))
                .await?;
            state.remove_cookie();
            metrics::save("delete");
            state.settle(None, None);
            return Ok(());
        }
        self.create_and_retire(state, record, current, now).await
    }

    /// Stores `record`, the copy of `old` that a cycle made, under a new id, then turns
    /// `old` into a pointer to it. Writes that other requests land on `old` meanwhile
    /// are copied over first: each was acknowledged to its client.
    async fn create_and_retire(
        &self,
        state: &mut State,
        record: Record,
        current: Arc<Record>,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        // Kept to bring changes that other requests write to the old record while this
        // one copies it over (create resets the handle's operations).
        let changes = state.changes.clone();
        self.create(state, record, now).await?;
        state.forwarded = false;
        let mut old = current;
        let attempts = self.inner.config.max_save_attempts.max(1);
        for _ in 0..attempts {
            if self.retire(state, &old, now).await? {
                return Ok(());
            }
            // The old record changed after it was copied: a concurrent request's write,
            // acknowledged to its client, that the new record must carry too.
            let fresh = self
                .timed("load", self.inner.store.load_shared(&old.id))
                .await?;
            let fresh = match fresh {
                Some(pointer) if pointer.moved_to.is_some() => {
                    self.rotated_meanwhile(state, pointer).await?
                }
                other => other,
            };
            let Some(fresh) = fresh.filter(|r| !r.is_expired(now)) else {
                // Deleted (a logout won), or rotated into another user's session:
                // nothing to carry.
                return Ok(());
            };
            self.recopy(state, &fresh, &changes, now).await?;
            old = fresh;
        }
        Err(Error::Conflict(attempts))
    }

    /// The record that another request rotated the old one into while this cycle copied
    /// it (a login submitted twice, on another server: this process's saves of one id
    /// take turns): it is copied over and retired into this request's new record like
    /// the old one, so one session remains. `None` (leave it be) when it belongs to
    /// another user, or is this request's own record.
    async fn rotated_meanwhile(
        &self,
        state: &mut State,
        pointer: Arc<Record>,
    ) -> Result<Option<Arc<Record>>, Error> {
        let other = Box::pin(self.successor(state, pointer, Follow::EveryLogin)).await?;
        state.forwarded = false;
        let own = state.saved.as_ref();
        Ok(other
            .filter(|other| own.is_some_and(|own| other.id != own.id && other.user == own.user)))
    }

    /// A cycle whose id another request rotated first (a login submitted twice, here or
    /// on another server). This request creates its own new record from the other one's
    /// data (not from the pointer's, which is empty), sends its id, and turns the other
    /// new record into a pointer to its own: a browser keeps the last response's cookie,
    /// which for a form submitted twice is this one (the browser abandoned the first),
    /// and every write that requests of the old id land meanwhile follows the pointers
    /// to it instead of staying behind in a session nobody's cookie names. The first
    /// id keeps working through its pointer for the grace window.
    async fn cycle_after_rotation(
        &self,
        state: &mut State,
        stub: Arc<Record>,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let Some(other) = self
            .successor(state, stub, Follow::EveryLogin)
            .await?
            .filter(|r| !r.is_expired(now))
        else {
            return self.end_interrupted(state, true);
        };
        state.forwarded = false;
        if other.user.is_some() && other.user != state.view.user {
            // Logged in as someone else meanwhile: none of their data is handed over,
            // and their session stays theirs.
            let mut empty = Record::new(other.id, Data::new(), now, now);
            empty.created_at = other.created_at;
            let record = self.fresh_record(state, now, Some(&empty));
            return self.create(state, record, now).await;
        }
        if let Some(clear) = state.restart.filter(|_| other.user == state.view.user) {
            // The other request made the same switch of user (the login submitted
            // twice): its record is the new user's session already, and what landed
            // there since is theirs. Only this request's changes after its login's
            // `Clear` apply; the `Clear` was for the previous user's data.
            state.changes = state.changes.after(clear);
            // Cut once: a retry after a failed save starts from the cut list.
            state.restart = None;
        }
        let record = self.fresh_record(state, now, Some(&*other));
        self.create_and_retire(state, record, other, now).await
    }

    /// Rewrites the record a cycle just created (nobody else knows its id yet) from a
    /// fresher copy of the old record, with this request's operations replayed.
    async fn recopy(
        &self,
        state: &mut State,
        fresh: &Record,
        changes: &crate::Changes,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let Some(created) = state.saved.clone() else {
            return Ok(());
        };
        let mut next = (*created).clone();
        next.data = fresh.data.clone();
        next.expiry = fresh.expiry;
        next.user = fresh.user.clone();
        changes.apply(&mut next);
        self.stamp(&mut next, created.version, now);
        let next = Arc::new(next);
        if !self
            .timed(
                "cas",
                self.inner
                    .store
                    .compare_and_swap_shared(next.clone(), created.version),
            )
            .await?
        {
            return self.end_interrupted(state, true);
        }
        let id = state.id.clone();
        if let Some(id) = &id {
            // Its expiry may have changed with the fresher copy.
            state.cookie = self.set_cookie(id, &next);
        }
        state.settle(Some(next), id);
        Ok(())
    }

    /// Replaces a rotated-away record (expected at `old`'s version) with a short-lived
    /// pointer to its successor, the record `state` now holds (the grace window), or
    /// deletes it when there is no window. `false`: the old record changed meanwhile
    /// and was left as it is.
    async fn retire(
        &self,
        state: &State,
        old: &Record,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let grace = self.inner.config.rotation_grace;
        let successor = state.saved.as_ref().filter(|_| grace.is_positive());
        if let Some(successor) = successor {
            let next = successor.id;
            let mut data = Data::new();
            if taken_over(old.user.as_deref(), successor) {
                // A login as another user ended the old session: the pointer is kept
                // only for that session's requests already in flight (their saves find
                // the new user's record and leave its cookie alone); the old id
                // presented afresh must not open the new user's session.
                data.insert(
                    crate::record::ENDED_BY_LOGIN.to_owned(),
                    serde_json::Value::Bool(true),
                );
            }
            let mut stub = Record::new(old.id, data, old.created_at, old.expires_at);
            stub.last_seen = now;
            // A grace window too long for the calendar keeps the stub as long as the
            // record it replaces would have lived.
            let remembered = now
                .checked_add(grace)
                .and_then(|end| end.checked_add(TOMBSTONE_MEMORY))
                .unwrap_or(old.expires_at);
            stub.expires_at = old.expires_at.min(remembered);
            stub.version = old.version.wrapping_add(1);
            stub.moved_to = Some(next);
            stub.client = self.inner.presented.client().unwrap_or_default();
            return self
                .timed(
                    "cas",
                    self.inner
                        .store
                        .compare_and_swap_shared(Arc::new(stub), old.version),
                )
                .await;
        }
        self.timed("delete", self.inner.store.delete(&old.id))
            .await
            .map(|_| true)
    }

    /// Writes this request's changes on `saved` by compare-and-swap. `view_is_current`:
    /// `saved` is the record the handler's view was built from, so its first attempt
    /// can take the view's data as it stands; otherwise every attempt replays the
    /// operations.
    async fn save_changes(
        &self,
        state: &mut State,
        saved: Arc<Record>,
        now: OffsetDateTime,
        view_is_current: bool,
    ) -> Result<(), Error> {
        let attempts = self.inner.config.max_save_attempts.max(1);
        let mut id_hash = saved.id;
        let loaded_user = saved.user.clone();
        let mut base = saved;
        for attempt in 0..attempts {
            let expected = base.version;
            let taken = state.view.data.take_if(|_| attempt == 0 && view_is_current);
            let from_view = taken.is_some();
            let mut next = match taken {
                // The record this handle loaded: the handler's view already holds its
                // data with this request's operations applied; only metadata is left.
                Some(data) => {
                    let mut next = base.with_data(data);
                    state.changes.apply_metadata(&mut next);
                    next
                }
                // A fresher record after a lost race: replay every operation on it (the
                // base is consumed, copied only if the store still shares it).
                None => {
                    let mut next = Arc::unwrap_or_clone(base);
                    state.changes.apply(&mut next);
                    next
                }
            };
            self.stamp(&mut next, expected, now);
            // Unless the store takes it, the data goes back to the view (the handle stays
            // usable after a store failure, a lost race or a cancelled save).
            let flight = InFlight::new(state, next, from_view);
            if flight.record.is_empty() {
                self.timed("delete", self.inner.store.delete(&id_hash))
                    .await?;
                drop(flight.done());
                state.remove_cookie();
                metrics::save("delete");
                state.settle(None, None);
                return Ok(());
            }
            let swapped = self
                .timed(
                    "cas",
                    self.inner
                        .store
                        .compare_and_swap_shared(flight.record.clone(), expected),
                )
                .await;
            if let Ok(true) = swapped {
                let next = flight.done();
                let id = state.id.clone();
                if let Some(id) = id.as_ref().filter(|_| !state.forwarded) {
                    state.cookie = self.set_cookie(id, &next);
                }
                state.settle(Some(next), id);
                metrics::save("update");
                return Ok(());
            }
            drop(flight);
            swapped?;
            tracing::debug!("session changed concurrently; re-applying this request's changes");
            ::metrics::counter!(metrics::CAS_CONFLICTS).increment(1);
            let fresh = match self
                .timed("load", self.inner.store.load_shared(&id_hash))
                .await?
            {
                // Rotated away by a concurrent login or cycle: the changes belong on the
                // successor (and the client gets its id from that request, not this one).
                Some(fresh) if fresh.moved_to.is_some() => {
                    Box::pin(self.successor(state, fresh, Follow::ThisSession)).await?
                }
                other => other,
            };
            match fresh {
                Some(fresh) if taken_over(loaded_user.as_deref(), &fresh) => {
                    return self.superseded(state, true);
                }
                Some(fresh) if !fresh.is_expired(now) => {
                    id_hash = fresh.id;
                    base = fresh;
                }
                _ => return self.end_interrupted(state, true),
            }
        }
        Err(Error::Conflict(attempts))
    }

    /// Extends the expiry of an unmodified session (the caller checked it is due).
    ///
    /// By compare-and-swap on the loaded version, not a plain `touch`: a login on
    /// another request may have rotated the id meanwhile, and a touch would revive the
    /// pointer it left and send the client the old id back (signed out once the grace
    /// window ends). A swap that loses finds the pointer and refreshes the successor,
    /// sending no cookie; one that loses to a write leaves that write's expiry, which is
    /// as fresh.
    async fn refresh(
        &self,
        state: &mut State,
        saved: Arc<Record>,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let mut next = (*saved).clone();
        self.stamp(&mut next, saved.version, now);
        let next = Arc::new(next);
        let swapped = self
            .timed(
                "cas",
                self.inner
                    .store
                    .compare_and_swap_shared(next.clone(), saved.version),
            )
            .await?;
        let record = if swapped {
            next
        } else {
            let fresh = self
                .timed("load", self.inner.store.load_shared(&saved.id))
                .await?;
            let fresh = match fresh {
                Some(fresh) if fresh.moved_to.is_some() => {
                    Box::pin(self.successor(state, fresh, Follow::ThisSession)).await?
                }
                other => other,
            };
            match fresh.filter(|r| !r.is_expired(now)) {
                Some(fresh) if taken_over(saved.user.as_deref(), &fresh) => {
                    return self.superseded(state, false);
                }
                Some(fresh) if state.forwarded => {
                    let expires_at =
                        self.inner
                            .config
                            .expiry
                            .expires_at(fresh.expiry, fresh.created_at, now);
                    if !self
                        .timed("touch", self.inner.store.touch(&fresh.id, expires_at, now))
                        .await?
                    {
                        return self.end_interrupted(state, false);
                    }
                    let mut touched = fresh;
                    let record = Arc::make_mut(&mut touched);
                    record.expires_at = expires_at;
                    record.last_seen = now;
                    touched
                }
                Some(fresh) => fresh,
                None => return self.end_interrupted(state, false),
            }
        };
        let id = state.id.clone();
        if let Some(id) = id.as_ref().filter(|_| !state.forwarded) {
            state.cookie = self.set_cookie(id, &record);
        }
        state.settle(Some(record), id);
        metrics::save("touch");
        Ok(())
    }

    /// Makes `record` the version after `previous`, written at `now`: the next version
    /// number, last seen now, and the expiry its policy gives from now.
    fn stamp(&self, record: &mut Record, previous: u64, now: OffsetDateTime) {
        record.version = previous.wrapping_add(1);
        record.last_seen = now;
        record.expires_at =
            self.inner
                .config
                .expiry
                .expires_at(record.expiry, record.created_at, now);
    }

    /// The session this request loaded became another user's meanwhile (a login as
    /// someone else on the same browser): this request's changes are dropped, and its
    /// response leaves the browser's cookie, now the other user's, alone.
    fn superseded(&self, state: &mut State, dropped_changes: bool) -> Result<(), Error> {
        state.cookie = CookieAction::Keep;
        state.cookie_taken_over = true;
        self.ended_elsewhere(state, dropped_changes)
    }

    fn end_interrupted(&self, state: &mut State, dropped_changes: bool) -> Result<(), Error> {
        state.remove_cookie();
        self.ended_elsewhere(state, dropped_changes)
    }

    /// The session ended under this request (deleted, or another user's now): nothing
    /// of it stays in the handle. When that dropped this request's changes (not for a
    /// mere refresh of its expiry), [`Session::interrupted`] says so.
    fn ended_elsewhere(&self, state: &mut State, dropped_changes: bool) -> Result<(), Error> {
        metrics::save_interrupted();
        if dropped_changes {
            self.inner.interrupted.store(true, Ordering::SeqCst);
        }
        state.settle(None, None);
        Err(Error::Interrupted)
    }

    /// Whether loading failed during this request (the layer then fails closed).
    pub async fn load_failed(&self) -> bool {
        self.state().await.failed
    }
}
