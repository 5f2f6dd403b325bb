//! A session built from what a request presented reads the id at most once, on first
//! use, and the client only when it records or compares it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sessionkit_core::{
    ClientInfo, CookieAction, Error, MemoryStore, Presented, Session, SessionConfig, SessionId,
};

/// Presents `id` and a fixed client, counting how often each is asked for.
struct Counted {
    id: Option<SessionId>,
    ids: Arc<AtomicUsize>,
    clients: Arc<AtomicUsize>,
}

impl Presented for Counted {
    fn id(&self) -> Option<SessionId> {
        self.ids.fetch_add(1, Ordering::SeqCst);
        self.id.clone()
    }
    fn client(&self) -> Option<ClientInfo> {
        self.clients.fetch_add(1, Ordering::SeqCst);
        Some(ClientInfo {
            user_agent: Some("Browser/3".into()),
            address: Some("192.0.2.1".into()),
        })
    }
}

struct Request {
    session: Session,
    ids: Arc<AtomicUsize>,
    clients: Arc<AtomicUsize>,
}

impl Request {
    /// How often the id and the client were asked for so far.
    fn reads(&self) -> (usize, usize) {
        (
            self.ids.load(Ordering::SeqCst),
            self.clients.load(Ordering::SeqCst),
        )
    }
}

fn request(store: &MemoryStore, id: Option<SessionId>) -> Request {
    let (ids, clients) = (Arc::default(), Arc::default());
    let cookie = id.is_some();
    let presented = Counted {
        id,
        ids: Arc::clone(&ids),
        clients: Arc::clone(&clients),
    };
    let config = Arc::new(SessionConfig::default());
    let session = Session::presented(Arc::new(store.clone()), config, cookie, presented);
    Request {
        session,
        ids,
        clients,
    }
}

#[tokio::test]
async fn the_presented_id_is_read_once_on_first_use_and_never_if_unused() -> Result<(), Error> {
    let store = MemoryStore::new();
    let created = request(&store, None);
    created.session.insert("name", "ada").await?;
    let CookieAction::Set { id, .. } = created.session.commit().await? else {
        panic!("a new session with data sets a cookie");
    };
    assert_eq!(
        created.reads(),
        (0, 1),
        "no cookie, nothing to read; the client recorded on creation"
    );
    let record = sessionkit_core::SessionStore::load(&store, &id.hash())
        .await
        .map_err(Error::Store)?
        .expect("stored");
    assert_eq!(record.client.user_agent.as_deref(), Some("Browser/3"));

    let unused = request(&store, Some(id.clone()));
    let (accessed, outcome) = unused.session.finish(false).await;
    assert!(!accessed);
    assert_eq!(outcome?, CookieAction::Keep);
    assert_eq!(unused.reads(), (0, 0), "an unused session reads nothing");

    let used = request(&store, Some(id));
    assert_eq!(
        used.session.get::<String>("name").await?.as_deref(),
        Some("ada")
    );
    used.session.insert("seen", true).await?;
    assert_eq!(used.session.len().await?, 2);
    used.session.commit().await?;
    assert_eq!(
        used.reads(),
        (1, 0),
        "the id read once however often used; an update records no client"
    );
    Ok(())
}
