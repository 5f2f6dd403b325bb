//! The layer keeps what a request presented (its session cookie, its user agent and
//! address) as raw header values and reads them when the handler first uses the
//! session: a route that never touches its session parses nothing and logs nothing,
//! and the first use reads the cookie exactly once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use http::{Request, Response};
use sessionkit::{
    CookieStore, Expiry, KeyRing, MemoryStore, Session, SessionId, SessionLayer, SessionStore,
};
use tower::ServiceExt;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Counts warnings whose message mentions "cookie".
#[derive(Clone, Default)]
struct CookieWarnings(Arc<AtomicUsize>);

impl Subscriber for CookieWarnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{v:?}").contains("cookie") {
                    self.0 = true;
                }
            }
        }
        let mut message = Message(false);
        event.record(&mut message);
        if *event.metadata().level() == Level::WARN && message.0 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

async fn twice(session: Session) -> Result<String, sessionkit::Error> {
    let first = session.get::<String>("name").await?;
    let second = session.get::<String>("name").await?;
    Ok(format!("{first:?} {second:?}"))
}

async fn create(session: Session) -> Result<&'static str, sessionkit::Error> {
    session.insert("name", "ada").await?;
    Ok("created")
}

/// A session that expires one second after this request.
async fn short(session: Session) -> Result<&'static str, sessionkit::Error> {
    session.insert("name", "ada").await?;
    session
        .set_expiry(Expiry::Idle(time::Duration::seconds(1)))
        .await?;
    Ok("created")
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/idle", get(|| async { "ok" }))
        .route("/short", get(short))
        .route("/twice", get(twice))
        .route("/create", get(create))
        .layer(layer)
}

/// Sends `req` to `app` on a runtime of this thread (so a thread-scoped subscriber sees
/// every event).
fn send(app: &Router, req: Request<Body>) -> Response<Body> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(app.clone().oneshot(req))
        .expect("infallible")
}

fn get_with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookie)
        .body(Body::empty())
        .expect("a request")
}

/// The layers whose cookies are read lazily: a server-side store's (the cookie holds
/// an id) and the cookie store's (the cookie holds the sealed session).
fn layers() -> [(&'static str, SessionLayer); 2] {
    let keys = KeyRing::new(["presented-cookie tests secret, 32+ bytes"]).expect("a key");
    [
        ("memory store", SessionLayer::new(MemoryStore::new())),
        (
            "cookie store",
            SessionLayer::cookie_store(CookieStore::private(&keys)),
        ),
    ]
}

#[test]
fn a_route_that_never_uses_its_session_neither_reads_nor_reports_a_malformed_cookie() {
    for (name, layer) in layers() {
        let warnings = CookieWarnings::default();
        let app = app(layer);
        let res = tracing::subscriber::with_default(warnings.clone(), || {
            send(&app, get_with_cookie("/idle", "id=not-a-session-id"))
        });
        assert_eq!(res.status(), 200, "{name}");
        assert!(res.headers().get("set-cookie").is_none(), "{name}");
        assert!(
            res.headers().get("vary").is_none(),
            "{name}: the session was not accessed"
        );
        assert_eq!(warnings.0.load(Ordering::SeqCst), 0, "{name}");
    }
}

#[test]
fn the_first_use_reads_a_malformed_cookie_once_and_reports_it_once() {
    for (name, layer) in layers() {
        let warnings = CookieWarnings::default();
        let app = app(layer);
        let res = tracing::subscriber::with_default(warnings.clone(), || {
            send(&app, get_with_cookie("/twice", "id=not-a-session-id"))
        });
        assert_eq!(res.status(), 200, "{name}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{name}: nothing to store"
        );
        assert_eq!(
            warnings.0.load(Ordering::SeqCst),
            1,
            "{name}: two reads of the session, one look at its cookie"
        );
    }
}

#[test]
fn an_expired_cookie_store_cookie_is_an_empty_session_but_not_reported_as_forged() {
    let keys = KeyRing::new(["presented-cookie tests secret, 32+ bytes"]).expect("a key");
    let app = app(SessionLayer::cookie_store(CookieStore::private(&keys)));
    let res = send(
        &app,
        Request::get("/short")
            .body(Body::empty())
            .expect("a request"),
    );
    let pair = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.split(';').next())
        .expect("a session cookie")
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let warnings = CookieWarnings::default();
    let res = tracing::subscriber::with_default(warnings.clone(), || {
        send(&app, get_with_cookie("/twice", &pair))
    });
    assert_eq!(body_of(res), "None None", "the expired session is gone");
    assert_eq!(
        warnings.0.load(Ordering::SeqCst),
        0,
        "an expired genuine cookie is no attack"
    );
}

fn body_of(res: Response<Body>) -> String {
    let bytes = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(http_body_util::BodyExt::collect(res.into_body()))
        .expect("a body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The id in a `Set-Cookie` header.
fn id_set_by(res: &Response<Body>) -> SessionId {
    let header = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie header");
    let value = header
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("id="))
        .expect("the session cookie");
    SessionId::parse(value).expect("a session id")
}

#[test]
fn a_new_session_records_the_user_agent_and_the_peer_address_presented() {
    let store = MemoryStore::new();
    let app = app(SessionLayer::new(store.clone()));
    let mut req = Request::get("/create")
        .header("user-agent", "Browser/2.0")
        .body(Body::empty())
        .expect("a request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 51_000))));
    let id = id_set_by(&send(&app, req));
    let record = futures_block(store.load(&id.hash())).expect("stored");
    assert_eq!(record.client.user_agent.as_deref(), Some("Browser/2.0"));
    assert_eq!(record.client.address.as_deref(), Some("192.0.2.7"));
}

#[test]
fn with_a_client_address_header_the_last_entry_is_recorded_and_garbage_is_not() {
    let store = MemoryStore::new();
    let layer = SessionLayer::builder(store.clone())
        .with_client_ip_header("x-forwarded-for")
        .expect("a header name")
        .build()
        .expect("a layer");
    let app = app(layer);
    let created = |forwarded: &str| {
        let req = Request::get("/create")
            .header("x-forwarded-for", forwarded)
            .body(Body::empty())
            .expect("a request");
        let id = id_set_by(&send(&app, req));
        futures_block(store.load(&id.hash()))
            .expect("stored")
            .client
    };
    let client = created("198.51.100.1, 2001:db8::5");
    assert_eq!(client.address.as_deref(), Some("2001:db8::5"));
    assert_eq!(client.user_agent, None);
    assert_eq!(created("198.51.100.1, not-an-address").address, None);
}

#[test]
fn a_session_cookie_in_a_second_cookie_header_is_found() {
    let store = MemoryStore::new();
    let app = app(SessionLayer::new(store.clone()));
    let id = id_set_by(&send(
        &app,
        Request::get("/create")
            .body(Body::empty())
            .expect("a request"),
    ));
    // HTTP/2 clients may send each cookie in a header of its own.
    let req = Request::get("/twice")
        .header("cookie", "theme=dark")
        .header("cookie", format!("id={id}"))
        .body(Body::empty())
        .expect("a request");
    let res = send(&app, req);
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(http_body_util::BodyExt::collect(res.into_body()))
        .expect("a body")
        .to_bytes();
    assert_eq!(&body[..], b"Some(\"ada\") Some(\"ada\")");
}

/// Runs one store call to completion on this thread.
fn futures_block<T>(
    call: impl std::future::Future<Output = Result<Option<T>, sessionkit::store::StoreError>>,
) -> Option<T> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(call)
        .expect("the store answers")
}
