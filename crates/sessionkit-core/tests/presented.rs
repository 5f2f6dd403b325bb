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
    fn may_carry_id(&self) -> bool {
        self.id.is_some()
    }
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
    let presented = Counted {
        id,
        ids: Arc::clone(&ids),
        clients: Arc::clone(&clients),
    };
    let config = Arc::new(SessionConfig::default());
    let session = Session::presented(Arc::new(store.clone()), config, presented);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_used_at_once_from_several_threads_all_see_the_presented_session(
) -> Result<(), Error> {
    let store = MemoryStore::new();
    let created = request(&store, None);
    created.session.insert("name", "ada").await?;
    let CookieAction::Set { id, .. } = created.session.commit().await? else {
        panic!("a new session with data sets a cookie");
    };
    for _ in 0..200 {
        let first_use = request(&store, Some(id.clone()));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let session = first_use.session.clone();
                tokio::spawn(async move { session.get::<String>("name").await })
            })
            .collect();
        for reader in readers {
            let name = reader.await.expect("the reader task")?;
            assert_eq!(name.as_deref(), Some("ada"), "a first use missed the id");
        }
        assert_eq!(first_use.reads().0, 1, "the id is read once");
    }
    Ok(())
}
