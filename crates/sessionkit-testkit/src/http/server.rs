//! The test application on a real loopback socket, and a small HTTP/1 client for it.
//!
//! Needed where the behaviour needs one: many connections in flight at once against one
//! session.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessionkit::SessionLayer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::app::{app_with, AppState};
use super::client::SetCookie;

/// The test application served on `127.0.0.1` at a free port, until
/// [`TestServer::shutdown`].
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the test application behind `layer` on a loopback socket.
///
/// # Errors
///
/// When no loopback port can be bound.
pub async fn serve(layer: SessionLayer) -> std::io::Result<TestServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState::new();
    let app = app_with(layer, state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(TestServer {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}

impl TestServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The application state (gate, in-flight counter).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// A client of this server whose session cookie is called `name`.
    pub fn client(&self, name: &str) -> SocketClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        SocketClient {
            http: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(512)
                .build(connector),
            base: format!("http://{}", self.addr),
            name: name.to_owned(),
            cookie: None,
        }
    }

    /// Stops accepting, lets open connections finish, and waits for the server task.
    ///
    /// # Panics
    ///
    /// When the server task panicked or failed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server shuts down within 10 s once its clients are gone")
            .expect("the server task does not panic");
        served.expect("the server ends without an I/O error");
    }
}

/// An HTTP/1 client with a connection pool and a one-cookie jar. Clones share the pool;
/// each request in flight uses its own connection.
#[derive(Debug, Clone)]
pub struct SocketClient {
    http: Client<HttpConnector, Body>,
    base: String,
    name: String,
    cookie: Option<String>,
}

/// A response over the socket: status, session `Set-Cookie`, body.
#[derive(Debug, Clone)]
pub struct SocketReply {
    /// Status code.
    pub status: StatusCode,
    /// The session cookie's `Set-Cookie`, if any.
    pub session_cookie: Option<SetCookie>,
    /// The body as text.
    pub body: String,
}

impl SocketClient {
    /// Uses `value` as the session cookie from now on.
    pub fn set_cookie(&mut self, value: Option<String>) {
        self.cookie = value;
    }

    /// The session cookie in the jar.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// `GET path` with the jar's cookie. The jar is not changed (clones share none);
    /// call [`SocketClient::set_cookie`] with the reply's cookie to follow it.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent or its body read.
    pub async fn get(&self, path: &str) -> SocketReply {
        let mut req = Request::get(format!("{}{path}", self.base));
        if let Some(v) = &self.cookie {
            let header = HeaderValue::from_str(&format!("{}={v}", self.name))
                .expect("the jar holds a header-safe cookie value");
            req = req.header(COOKIE, header);
        }
        let req = req.body(Body::empty()).expect("a GET request builds");
        let res = self
            .http
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("GET {path} over the socket failed: {e}"));
        let status = res.status();
        let mut mine: Vec<SetCookie> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(SetCookie::parse)
            .filter(|c| c.name == self.name)
            .collect();
        assert!(
            mine.len() <= 1,
            "at most one session Set-Cookie per response"
        );
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("the response body is readable")
            .to_bytes();
        SocketReply {
            status,
            session_cookie: mine.pop(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}
