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
        created.ids.load(Ordering::SeqCst),
        0,
        "no cookie: nothing to read"
    );
    assert_eq!(
        created.clients.load(Ordering::SeqCst),
        1,
        "recorded on creation"
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
    assert_eq!(
        unused.ids.load(Ordering::SeqCst),
        0,
        "an unused session reads no cookie"
    );

    let used = request(&store, Some(id));
    assert_eq!(
        used.session.get::<String>("name").await?.as_deref(),
        Some("ada")
    );
    used.session.insert("seen", true).await?;
    assert_eq!(used.session.len().await?, 2);
    used.session.commit().await?;
    assert_eq!(
        used.ids.load(Ordering::SeqCst),
        1,
        "read once however often used"
    );
    assert_eq!(
        used.clients.load(Ordering::SeqCst),
        0,
        "an update records no client"
    );
    Ok(())
}
