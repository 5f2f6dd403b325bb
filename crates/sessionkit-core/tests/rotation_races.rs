//! Requests that race an id rotation (a login or `cycle_id` on another request of the
//! same session) keep every change: a write on the old id lands in the new record, a
//! login submitted twice ends in one session with the data, and a write that lands while
//! a login copies the session is carried to the new id.

use std::sync::Arc;

use sessionkit_core::store::StoreError;
use sessionkit_core::testing::{Call, Watched};
use sessionkit_core::{
    CookieAction, Error, IdHash, MemoryStore, Record, Session, SessionConfig, SessionId,
    SessionListing, SessionStore,
};
use time::OffsetDateTime;
use tokio::sync::Mutex;

async fn stored_cart(
    store: &(impl SessionStore + Clone),
    items: &[&str],
) -> Result<SessionId, Error> {
    let session = Session::new(store.clone(), SessionConfig::default());
    for item in items {
        session.push("cart", item).await?;
    }
    session.save().await?;
    session.id().await.ok_or(Error::Unavailable)
}

fn open(store: &(impl SessionStore + Clone), id: &SessionId) -> Session {
    Session::open(store.clone(), SessionConfig::default(), Some(id.clone()))
}

/// Ends `session`'s request, which must set a new id's cookie (`what` says whose);
/// returns that id.
async fn new_id(session: &Session, what: &str) -> Result<SessionId, Error> {
    let (_, cookie) = session.finish(false).await;
    match cookie? {
        CookieAction::Set { id, .. } => Ok(id),
        other => panic!("{what}: expected a new id's cookie, not {other:?}"),
    }
}

/// Logs the session of `id` in as `user` in a request of its own; returns the new id.
async fn log_in(
    store: &(impl SessionStore + Clone),
    id: &SessionId,
    user: &str,
) -> Result<SessionId, Error> {
    let session = open(store, id);
    session.login(user).await?;
    new_id(&session, "a login").await
}

/// A stored session logged in as ada, holding `ada_secret`; its id.
async fn ada_with_a_secret(store: &(impl SessionStore + Clone)) -> Result<SessionId, Error> {
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("ada_secret", "x").await?;
    session.login("ada").await?;
    session.save().await?;
    session.id().await.ok_or(Error::Unavailable)
}

async fn cart(store: &(impl SessionStore + Clone), id: &SessionId) -> Result<Vec<String>, Error> {
    Ok(open(store, id).get("cart").await?.unwrap_or_default())
}

#[tokio::test]
async fn a_write_that_loaded_the_session_before_a_login_lands_in_the_logged_in_session(
) -> Result<(), Error> {
    for store in [MemoryStore::new(), MemoryStore::new().compact()] {
        let old = stored_cart(&store, &["apple"]).await?;
        let writer = open(&store, &old);
        assert_eq!(
            writer.get::<Vec<String>>("cart").await?.map(|c| c.len()),
            Some(1)
        );

        let login = open(&store, &old);
        login.login("ada").await?;
        let new = new_id(&login, "a login sets the new id's cookie").await?;
        assert_ne!(new, old);

        writer.push("cart", "pear").await?;
        let (_, cookie) = writer.finish(false).await;
        assert!(
            matches!(cookie?, CookieAction::Keep),
            "the write's response must not send the rotated-away id back"
        );
        assert_eq!(cart(&store, &new).await?, ["apple", "pear"]);
        let after = open(&store, &new);
        assert_eq!(after.user().await?.as_deref(), Some("ada"));
    }
    Ok(())
}

#[tokio::test]
async fn a_login_submitted_twice_gives_two_working_ids_that_both_keep_the_data() -> Result<(), Error>
{
    for store in [MemoryStore::new(), MemoryStore::new().compact()] {
        let old = stored_cart(&store, &["apple", "pear"]).await?;
        let first = open(&store, &old);
        let second = open(&store, &old);
        first.login("ada").await?;
        second.login("ada").await?;
        second.insert("theme", "dark").await?;
        let one = new_id(&first, "the first login sets its new id's cookie").await?;
        // A browser that abandoned the first request never saw that cookie: the second
        // response must carry a working id of its own.
        let two = new_id(&second, "the second login sets its new id's cookie").await?;
        assert_ne!(one, two);
        for id in [&one, &two] {
            assert_eq!(cart(&store, id).await?, ["apple", "pear"]);
            assert_eq!(open(&store, id).user().await?.as_deref(), Some("ada"));
        }
        let theme: Option<String> = open(&store, &two).get("theme").await?;
        assert_eq!(theme.as_deref(), Some("dark"));
    }
    Ok(())
}

/// A form submitted twice: the browser keeps the second login's cookie. Writes that
/// requests of the old id (or of the first login's id) land after the second login
/// copied the session must end up in the session that cookie names, not in the first
/// login's record, which nobody's cookie names any more.
#[tokio::test]
async fn writes_racing_a_login_submitted_twice_land_in_the_session_of_the_last_login(
) -> Result<(), Error> {
    let stores = [MemoryStore::new(), MemoryStore::new().compact()];
    // The second login loads the old record before or after the first one rotates it.
    for (store, second_loads_first) in stores.iter().flat_map(|s| [(s, true), (s, false)]) {
        let old = stored_cart(store, &["apple"]).await?;
        let first = open(store, &old);
        first.login("ada").await?;
        let second = open(store, &old);
        if second_loads_first {
            second.login("ada").await?;
        }
        let one = new_id(&first, "the first login sets its new id's cookie").await?;
        // Loaded through the old id before the second login, written after it.
        let early = open(store, &old);
        assert_eq!(
            early.get::<Vec<String>>("cart").await?.map(|c| c.len()),
            Some(1)
        );
        if !second_loads_first {
            second.login("ada").await?;
        }
        let two = new_id(&second, "the second login sets its new id's cookie").await?;
        early.push("cart", "pear").await?;
        let (_, outcome) = early.finish(false).await;
        assert_eq!(outcome?, CookieAction::Keep, "no old id is sent back");
        // Presented after the second login, through the old id and the first login's.
        for (id, item) in [(&old, "plum"), (&one, "fig")] {
            let late = open(store, id);
            late.push("cart", item).await?;
            let (_, outcome) = late.finish(false).await;
            assert_eq!(
                outcome?,
                CookieAction::Keep,
                "{item}: no old id is sent back"
            );
        }
        let order = if second_loads_first {
            "before"
        } else {
            "after"
        };
        assert_eq!(
            cart(store, &two).await?,
            ["apple", "pear", "plum", "fig"],
            "second login loaded {order} the first rotated"
        );
        assert_eq!(open(store, &two).user().await?.as_deref(), Some("ada"));
        assert_eq!(
            cart(store, &one).await?,
            ["apple", "pear", "plum", "fig"],
            "the first login's id still works in the grace window, as the same session"
        );
    }
    Ok(())
}

#[tokio::test]
async fn two_logins_as_different_users_at_once_hand_no_data_from_one_to_the_other(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let old = stored_cart(&store, &["apple"]).await?;
    let ada = open(&store, &old);
    let bob = open(&store, &old);
    ada.login("ada").await?;
    bob.login("bob").await?;
    let ada_id = new_id(&ada, "ada's new id").await?;
    ada.insert("secret", "ada's").await?;
    ada.save().await?;
    let bob_id = new_id(&bob, "bob's new id").await?;
    assert_eq!(open(&store, &bob_id).user().await?.as_deref(), Some("bob"));
    assert_eq!(cart(&store, &bob_id).await?, Vec::<String>::new());
    let secret: Option<String> = open(&store, &bob_id).get("secret").await?;
    assert_eq!(secret, None);
    assert_eq!(open(&store, &ada_id).user().await?.as_deref(), Some("ada"));
    Ok(())
}

#[tokio::test]
async fn a_write_that_ends_long_after_a_login_still_lands_in_the_logged_in_session(
) -> Result<(), Error> {
    // A grace window far shorter than the write takes: the write held the id while it
    // was valid, so it follows the rotation whatever the window.
    let config = SessionConfig {
        rotation_grace: time::Duration::milliseconds(1),
        ..SessionConfig::default()
    };
    let store = MemoryStore::new();
    let old = stored_cart(&store, &["apple"]).await?;
    let writer = Session::open(store.clone(), config.clone(), Some(old.clone()));
    writer.push("cart", "pear").await?;
    let login = Session::open(store.clone(), config, Some(old.clone()));
    login.login("ada").await?;
    let new = new_id(&login, "a new id").await?;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let (_, cookie) = writer.finish(false).await;
    assert!(matches!(cookie?, CookieAction::Keep));
    assert_eq!(cart(&store, &new).await?, ["apple", "pear"]);
    Ok(())
}

/// What another server does to the old record while a login here copies it (saves in
/// one process take turns per id, so these races need a second process; the store
/// plays its part when this process creates the new record).
#[derive(Debug, Clone, Copy)]
enum Meanwhile {
    /// A write: "pear" goes into the cart.
    Writes,
    /// A login as "ada" (the same login submitted twice, the other copy landing on the
    /// other server), with a write of "pear" into its new session.
    LogsIn,
}

/// A memory store on which another server acts once, when the first session is created
/// through it (see [`Meanwhile`]).
#[derive(Debug, Clone)]
struct WriteDuringCopy {
    store: Watched<MemoryStore>,
    pending: Arc<Mutex<Option<IdHash>>>,
    /// The id the other server's login answered with.
    other_login: Arc<Mutex<Option<SessionId>>>,
}

impl WriteDuringCopy {
    fn new(inner: &MemoryStore, old: &SessionId, meanwhile: Meanwhile) -> Self {
        let pending = Arc::new(Mutex::new(Some(old.hash())));
        let other_login: Arc<Mutex<Option<SessionId>>> = Arc::default();
        let (waiting, answered, other) = (pending.clone(), other_login.clone(), inner.clone());
        let store = Watched::acting(inner.clone(), move |call, _| {
            let (waiting, answered, other) = (waiting.clone(), answered.clone(), other.clone());
            async move {
                let old = match call {
                    Call::Create => waiting.lock().await.take(),
                    _ => None,
                };
                match old {
                    Some(old) => act(&other, &old, meanwhile, &answered).await,
                    None => Ok(()),
                }
            }
        });
        Self {
            store,
            pending,
            other_login,
        }
    }
}

/// What the other server does to the record `old` (see [`Meanwhile`]); a login's new id
/// goes into `answered`.
async fn act(
    store: &MemoryStore,
    old: &IdHash,
    meanwhile: Meanwhile,
    answered: &Mutex<Option<SessionId>>,
) -> Result<(), StoreError> {
    let mut current = store.load(old).await?.ok_or(StoreError::Exists)?;
    if let Some(serde_json::Value::Array(cart)) = current.data.get_mut("cart") {
        cart.push("pear".into());
    }
    let expected = current.version;
    if let Meanwhile::LogsIn = meanwhile {
        let id = SessionId::generate().map_err(|e| StoreError::backend("drawing an id", e))?;
        let mut moved = current.clone();
        moved.id = id.hash();
        moved.version = 1;
        moved.user = Some("ada".into());
        store.create(&moved).await?;
        current.data.clear();
        current.moved_to = Some(id.hash());
        current.last_seen = OffsetDateTime::now_utc();
        *answered.lock().await = Some(id);
    }
    current.version += 1;
    assert!(store.compare_and_swap(&current, expected).await?);
    Ok(())
}

#[tokio::test]
async fn a_write_landing_while_a_login_copies_the_session_is_carried_to_the_new_id(
) -> Result<(), Error> {
    let inner = MemoryStore::new();
    let old = stored_cart(&inner, &["apple"]).await?;
    let store = WriteDuringCopy::new(&inner, &old, Meanwhile::Writes);
    let login = open(&store.store, &old);
    login.login("ada").await?;
    login.insert("theme", "dark").await?;
    let new = new_id(&login, "a login sets the new id's cookie").await?;
    assert!(
        store.pending.lock().await.is_none(),
        "the other write ran mid-login"
    );
    assert_eq!(cart(&inner, &new).await?, ["apple", "pear"]);
    let theme: Option<String> = open(&inner, &new).get("theme").await?;
    assert_eq!(theme.as_deref(), Some("dark"));
    assert_eq!(open(&inner, &new).user().await?.as_deref(), Some("ada"));
    Ok(())
}

/// The same login submitted twice, the copies landing on two servers at once: each
/// copies the old record, one turns it into a pointer first. The other, finding that,
/// takes over the first one's new record (with the write made there) and retires it
/// into its own: one session remains, which every id of it leads to.
#[tokio::test]
async fn a_login_submitted_twice_to_two_servers_at_once_leaves_one_session() -> Result<(), Error> {
    let inner = MemoryStore::new();
    let old = stored_cart(&inner, &["apple"]).await?;
    let store = WriteDuringCopy::new(&inner, &old, Meanwhile::LogsIn);
    let login = open(&store.store, &old);
    login.login("ada").await?;
    let ours = new_id(&login, "a login sets the new id's cookie").await?;
    let theirs = store
        .other_login
        .lock()
        .await
        .clone()
        .expect("the other server logged in mid-login");
    let live: Vec<Record> = SessionListing::list(&inner, None, 100)
        .await
        .map_err(Error::Store)?
        .into_iter()
        .filter(|r| r.moved_to.is_none())
        .collect();
    assert_eq!(live.len(), 1, "one session remains: {live:?}");
    assert_eq!(live[0].id, ours.hash());
    for id in [&ours, &theirs, &old] {
        assert_eq!(cart(&inner, id).await?, ["apple", "pear"]);
        assert_eq!(open(&inner, id).user().await?.as_deref(), Some("ada"));
    }
    Ok(())
}

#[tokio::test]
async fn logging_in_as_another_user_starts_an_empty_session_and_ends_the_old_one(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let first = Session::new(store.clone(), SessionConfig::default());
    first.push("cart", "private-item").await?;
    first.login("ada").await?;
    first.save().await?;
    let ada = first.id().await.ok_or(Error::Unavailable)?;

    let switch = open(&store, &ada);
    switch.login("bob").await?;
    assert_eq!(
        switch.get::<Vec<String>>("cart").await?,
        None,
        "ada's data is not bob's"
    );
    let bob = new_id(&switch, "bob gets a new id").await?;
    assert_ne!(bob, ada);
    assert_eq!(open(&store, &bob).user().await?.as_deref(), Some("bob"));
    assert_eq!(cart(&store, &bob).await?, Vec::<String>::new());
    let pointer = store.load(&ada.hash()).await.map_err(Error::Store)?;
    assert!(
        pointer.is_some_and(|p| p.moved_to == Some(bob.hash())
            && p.user.is_none()
            && p.data.len() == 1),
        "ada's session ended: only a pointer is left"
    );
    let late = open(&store, &ada);
    assert_eq!(
        late.user().await?,
        None,
        "ada's id, presented again in the grace window, does not open bob's session"
    );
    assert!(late.is_empty().await?, "it opens an empty one");

    // The same user logging in again keeps the data (a new id all the same).
    let again = open(&store, &bob);
    again.push("cart", "book").await?;
    again.login("bob").await?;
    let bob2 = new_id(&again, "a new id").await?;
    assert_eq!(cart(&store, &bob2).await?, ["book"]);
    Ok(())
}

/// An anonymous id, rotated by a login as ada and then ada's by a login as bob: the first
/// id, presented inside the grace window, follows the chain to ada's session while it
/// is ada's, and opens an empty session once bob's login ended it, not bob's.
#[tokio::test]
async fn an_id_from_before_logins_as_two_users_never_opens_the_second_users_session(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let anonymous = stored_cart(&store, &["apple"]).await?;
    let ada = log_in(&store, &anonymous, "ada").await?;
    assert_eq!(
        open(&store, &anonymous).user().await?.as_deref(),
        Some("ada"),
        "inside the grace window the anonymous id reaches ada's session"
    );

    let switch = open(&store, &ada);
    switch.login("bob").await?;
    switch.push("cart", "bob's item").await?;
    let bob = new_id(&switch, "bob's new id").await?;
    let late = open(&store, &anonymous);
    assert_eq!(
        late.user().await?,
        None,
        "the anonymous id does not follow the chain into bob's session"
    );
    assert!(late.is_empty().await?);
    assert_eq!(cart(&store, &bob).await?, ["bob's item"]);
    Ok(())
}

/// A request that loaded the session while it was anonymous, still running when the
/// session logs in as ada and then ada's as bob: its write is dropped (the session it
/// loaded ended with bob's login), never replayed into bob's session, and its handle
/// shows none of bob's data.
#[tokio::test]
async fn an_anonymous_request_in_flight_across_two_logins_never_reaches_the_second_users_session(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let anonymous = stored_cart(&store, &["apple"]).await?;
    let in_flight = open(&store, &anonymous);
    assert_eq!(in_flight.user().await?, None, "loaded while anonymous");
    let ada = log_in(&store, &anonymous, "ada").await?;
    let switch = open(&store, &ada);
    switch.login("bob").await?;
    switch.insert("secret", "bob's").await?;
    let bob = new_id(&switch, "bob's new id").await?;

    in_flight.push("cart", "anonymous item").await?;
    assert!(
        matches!(in_flight.save().await, Err(Error::Interrupted)),
        "the write is interrupted"
    );
    assert_eq!(
        cart(&store, &bob).await?,
        Vec::<String>::new(),
        "the anonymous request's write does not land in bob's session"
    );
    assert_eq!(
        in_flight.get::<String>("secret").await?,
        None,
        "its handle reads none of bob's data"
    );
    let (_, cookie) = in_flight.finish(false).await;
    assert!(
        matches!(cookie, Ok(CookieAction::Keep)),
        "and its response leaves bob's cookie alone"
    );
    Ok(())
}

/// A login as bob submitted twice on ada's session: the second login follows the first
/// one's rotation (past the pointer that ends ada's session, since it is bob's login
/// too) and bob keeps one session, not a second one nobody's cookie names.
#[tokio::test]
async fn a_login_as_another_user_submitted_twice_leaves_that_user_one_session() -> Result<(), Error>
{
    let store = MemoryStore::new();
    let ada = ada_with_a_secret(&store).await?;
    let one = open(&store, &ada);
    let two = open(&store, &ada);
    one.login("bob").await?;
    two.login("bob").await?;
    let (_, cookie) = one.finish(false).await;
    assert!(
        matches!(cookie?, CookieAction::Set { .. }),
        "the first login's id"
    );
    let bob = new_id(&two, "the second login's id").await?;
    let index = store.user_index().ok_or(Error::Unavailable)?;
    let sessions = index.sessions_of("bob").await.map_err(Error::Store)?;
    assert_eq!(
        sessions.iter().map(|r| r.id).collect::<Vec<_>>(),
        [bob.hash()],
        "bob has one session, the one the browser's last cookie names"
    );
    assert_eq!(open(&store, &bob).user().await?.as_deref(), Some("bob"));
    Ok(())
}

/// A login as bob submitted twice on ada's session, with a request of bob's first
/// session writing between the two saves: the second login clears ada's data, not
/// that write, and its own writes after the login land too.
#[tokio::test]
async fn a_write_between_two_submissions_of_a_login_as_another_user_is_kept() -> Result<(), Error> {
    let store = MemoryStore::new();
    let ada = ada_with_a_secret(&store).await?;
    let one = open(&store, &ada);
    let two = open(&store, &ada);
    one.login("bob").await?;
    two.login("bob").await?;
    two.insert("greeting", "hello bob").await?;
    let bob_first = new_id(&one, "the first login's id").await?;
    let between = open(&store, &bob_first);
    between.push("cart", "pear").await?;
    let (_, cookie) = between.finish(false).await;
    cookie?;
    let bob = new_id(&two, "the second login's id").await?;
    let session = open(&store, &bob);
    assert_eq!(session.user().await?.as_deref(), Some("bob"));
    assert_eq!(
        cart(&store, &bob).await?,
        ["pear"],
        "the write between is kept"
    );
    assert_eq!(
        session.get::<String>("greeting").await?.as_deref(),
        Some("hello bob")
    );
    assert_eq!(session.get::<String>("ada_secret").await?, None);
    Ok(())
}

/// As above, with the second login's first save failing (a store hiccup): the retry,
/// the layer's save at the end of the request, still stores that request's writes.
#[tokio::test]
async fn a_retried_second_login_as_another_user_keeps_its_own_writes() -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let fail_next_create = Arc::new(AtomicBool::new(false));
    let flag = fail_next_create.clone();
    let store = Watched::acting(MemoryStore::new(), move |call, _| {
        let fail = call == Call::Create && flag.swap(false, Ordering::SeqCst);
        async move {
            if fail {
                return Err(StoreError::backend("saving a session", "connection reset"));
            }
            Ok(())
        }
    });
    let ada = ada_with_a_secret(&store).await?;
    let one = open(&store, &ada);
    let two = open(&store, &ada);
    one.login("bob").await?;
    two.insert("seen_a", 1).await?;
    two.insert("seen_b", 2).await?;
    two.login("bob").await?;
    two.insert("greeting", "hello bob").await?;
    let (_, cookie) = one.finish(false).await;
    cookie?;
    fail_next_create.store(true, Ordering::SeqCst);
    assert!(two.save().await.is_err(), "the first save attempt fails");
    let bob = new_id(&two, "the second login's id").await?;
    let session = open(&store, &bob);
    assert_eq!(session.user().await?.as_deref(), Some("bob"));
    assert_eq!(
        session.get::<String>("greeting").await?.as_deref(),
        Some("hello bob")
    );
    assert_eq!(session.get::<String>("ada_secret").await?, None);
    assert_eq!(session.get::<i64>("seen_a").await?, None);
    Ok(())
}

/// The key the engine marks a pointer with is plain data in a session: a session that
/// holds it is still reached through its old id inside the grace window.
#[tokio::test]
async fn a_session_holding_the_pointer_mark_as_data_is_still_forwarded() -> Result<(), Error> {
    let store = MemoryStore::new();
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("ended_by_login", true).await?;
    session.save().await?;
    let old = session.id().await.ok_or(Error::Unavailable)?;
    let login = open(&store, &old);
    login.login("ada").await?;
    let (_, cookie) = login.finish(false).await;
    assert!(matches!(cookie?, CookieAction::Set { .. }), "ada's new id");
    let late = open(&store, &old);
    assert_eq!(late.user().await?.as_deref(), Some("ada"));
    assert_eq!(late.get::<bool>("ended_by_login").await?, Some(true));
    Ok(())
}

#[tokio::test]
async fn a_refresh_racing_a_login_sends_no_old_id_and_leaves_the_pointer_short_lived(
) -> Result<(), Error> {
    let config = SessionConfig {
        save_every_request: true,
        ..SessionConfig::default()
    };
    let store = MemoryStore::new();
    let old = stored_cart(&store, &["apple"]).await?;
    let reader = Session::open(store.clone(), config.clone(), Some(old.clone()));
    assert_eq!(
        reader.get::<Vec<String>>("cart").await?.map(|c| c.len()),
        Some(1)
    );
    let login = Session::open(store.clone(), config, Some(old.clone()));
    login.login("ada").await?;
    let new = new_id(&login, "a new id").await?;
    let (_, cookie) = reader.finish(false).await;
    assert!(
        matches!(cookie?, CookieAction::Keep),
        "the old id is not sent back"
    );
    let pointer = store
        .load(&old.hash())
        .await
        .map_err(Error::Store)?
        .ok_or(Error::Unavailable)?;
    assert!(pointer.moved_to.is_some(), "still a pointer");
    assert!(
        pointer.expires_at <= OffsetDateTime::now_utc() + time::Duration::minutes(11),
        "not revived for the idle timeout"
    );
    assert_eq!(cart(&store, &new).await?, ["apple"]);
    Ok(())
}

#[tokio::test]
async fn a_request_of_the_old_user_in_flight_when_another_logs_in_leaves_the_new_cookie_alone(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let ada = ada_with_a_secret(&store).await?;
    let in_flight = open(&store, &ada);
    in_flight.push("cart", "ada's item").await?;

    let switch = open(&store, &ada);
    switch.login("bob").await?;
    let bob = new_id(&switch, "bob's new id").await?;
    let (_, cookie) = in_flight.finish(false).await;
    assert!(
        matches!(cookie?, CookieAction::Keep),
        "no removal cookie and no old id over bob's"
    );
    assert_eq!(
        cart(&store, &bob).await?,
        Vec::<String>::new(),
        "nothing of ada's lands in bob's"
    );
    assert_eq!(open(&store, &bob).user().await?.as_deref(), Some("bob"));
    Ok(())
}

/// A grace window too long for the calendar is no panic at login: the pointer lives as
/// long as the session it replaced would have, and the old id still leads to the new
/// session meanwhile.
#[tokio::test]
async fn an_endless_rotation_grace_is_no_panic_and_keeps_the_pointer() -> Result<(), Error> {
    let config = SessionConfig {
        rotation_grace: time::Duration::MAX,
        ..SessionConfig::default()
    };
    let store = MemoryStore::new();
    let old = stored_cart(&store, &["apple"]).await?;
    let login = Session::open(store.clone(), config.clone(), Some(old.clone()));
    login.login("ada").await?;
    let (_, cookie) = login.finish(false).await;
    assert!(matches!(cookie?, CookieAction::Set { .. }));
    let late = Session::open(store.clone(), config, Some(old));
    assert_eq!(late.user().await?.as_deref(), Some("ada"));
    Ok(())
}
