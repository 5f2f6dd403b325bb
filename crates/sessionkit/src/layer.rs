//! The tower layer: reads the cookie, attaches a [`Session`] to the request, saves
//! after the handler and writes the cookie.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use sessionkit_core::{CookieAction, Session, SessionConfig, SessionId, SessionStore};
use tower_layer::Layer;
use tower_service::Service;

use crate::cookie_config::SetCookieWriter;
use crate::cookie_store::{CookieSlot, CookieStore, Unopened, BROWSER_COOKIE_LIMIT};
use crate::presented::RawRequest;
use crate::seal::{Protection, Sealer};
use crate::{ConfigError, CookieConfig, KeyRing};

/// What went wrong finishing a request's session; given to the error handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Loading or saving failed (store down, timeout, endless conflicts).
    #[error(transparent)]
    Engine(#[from] sessionkit_core::Error),
    /// The cookie store's cookie would exceed what browsers keep.
    #[error("session is too large for a cookie: {size} bytes, browsers keep at most {limit}")]
    CookieTooLarge {
        /// Size of `name=value`.
        size: usize,
        /// The browser limit.
        limit: usize,
    },
    /// The session could not be encoded.
    #[error(transparent)]
    Codec(#[from] sessionkit_core::codec::CodecError),
    /// The `Set-Cookie` text is not a valid header value (a cookie setting that
    /// [`CookieConfig::validate`] should have refused).
    #[error("the session cookie is not a valid header value")]
    InvalidCookieHeader,
}

/// Turns a [`SessionError`] into the response the client gets (fail closed; a save
/// interrupted by a concurrent logout is `Engine(Error::Interrupted)`, by default a 400).
pub type ErrorHandler = Arc<dyn Fn(&SessionError) -> Response<String> + Send + Sync>;

fn default_error_response(error: &SessionError) -> Response<String> {
    let (status, text) = match error {
        SessionError::CookieTooLarge { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The session is too large to be stored in a cookie.",
        ),
        SessionError::InvalidCookieHeader => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The session cookie could not be written.",
        ),
        SessionError::Engine(sessionkit_core::Error::Interrupted) => (
            StatusCode::BAD_REQUEST,
            "The session was ended by another request (a logout, for example) before this one finished; its changes were not saved.",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Session storage is unavailable. Please try again shortly.",
        ),
    };
    let mut res = Response::new(text.to_owned());
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[derive(Clone)]
enum Backend {
    Server(Arc<dyn SessionStore>),
    Cookie(CookieStore),
}

pub(crate) struct Shared {
    pub(crate) client_ip_header: Option<http::HeaderName>,
    backend: Backend,
    pub(crate) cookie: CookieConfig,
    set_cookie: SetCookieWriter,
    engine: Arc<SessionConfig>,
    id_sealer: Option<Sealer>,
    on_error: ErrorHandler,
}

/// Builds a [`SessionLayer`]; every setting has a safe default.
///
/// # Examples
///
/// ```
/// use sessionkit::{MemoryStore, SameSite, SessionLayer};
/// use time::Duration;
///
/// let layer = SessionLayer::builder(MemoryStore::new())
///     .with_name("__Host-session")
///     .with_same_site(Some(SameSite::Strict))
///     .with_idle_timeout(Duration::minutes(30))
///     .with_absolute_lifetime(Some(Duration::hours(8)))
///     .build()?;
/// # let _ = layer;
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
pub struct SessionLayerBuilder {
    backend: Backend,
    cookie: CookieConfig,
    engine: SessionConfig,
    signed_ids: Option<KeyRing>,
    on_error: ErrorHandler,
    client_ip_header: Option<http::HeaderName>,
}

impl std::fmt::Debug for SessionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayerBuilder")
            .field("cookie", &self.cookie)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl SessionLayerBuilder {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            cookie: CookieConfig::default(),
            engine: SessionConfig::default(),
            signed_ids: None,
            on_error: Arc::new(default_error_response),
            client_ip_header: None,
        }
    }

    /// Tie sessions to their client (user agent and/or address prefix); a session
    /// presented by another client is flushed and the event logged. Off by default.
    pub fn with_binding(mut self, binding: sessionkit_core::Binding) -> Self {
        self.engine.binding = binding;
        self
    }

    /// Take the client address from this header (set by your trusted reverse proxy,
    /// e.g. `x-real-ip`; for `x-forwarded-for` the last entry, the one your proxy
    /// appended, is used) instead of the socket's peer address.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeader`] for a name that is not a valid header name.
    pub fn with_client_ip_header(mut self, header: &str) -> Result<Self, ConfigError> {
        let name = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| ConfigError::InvalidHeader(header.to_owned()))?;
        self.client_ip_header = Some(name);
        Ok(self)
    }

    /// Cookie name (default `id`). `__Host-` and `__Secure-` prefixes are checked.
    pub fn with_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.cookie.name);
        self
    }

    /// Cookie `Path` (default `/`). The layer does not compare request paths with it:
    /// behind `Router::nest` or a proxy that strips a prefix it cannot know the path
    /// the browser sees. Install the layer on the routes the Path covers; a session
    /// created on a route outside it would get a cookie the browser never sends back.
    pub fn with_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.cookie.path);
        self
    }

    /// Cookie `Domain` (default none: host-only).
    pub fn with_domain(mut self, domain: Option<&str>) -> Self {
        self.cookie.domain = domain.map(str::to_owned);
        self
    }

    /// `Secure` (default on; browsers accept Secure cookies on `http://localhost`).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// `HttpOnly` (default on).
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// `SameSite` (default `Lax`; `None` omits the attribute).
    pub fn with_same_site(mut self, same_site: Option<cookie::SameSite>) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// `Partitioned` (default off).
    pub fn with_partitioned(mut self, partitioned: bool) -> Self {
        self.cookie.partitioned = partitioned;
        self
    }

    /// Replaces every cookie setting at once.
    pub fn with_cookie_config(mut self, cookie: CookieConfig) -> Self {
        self.cookie = cookie;
        self
    }

    /// Sliding inactivity limit (default 14 days).
    pub fn with_idle_timeout(mut self, idle: time::Duration) -> Self {
        self.engine.expiry.idle_timeout = idle;
        self
    }

    /// Hard limit from creation (default 30 days); `None` for none.
    pub fn with_absolute_lifetime(mut self, limit: Option<time::Duration>) -> Self {
        self.engine.expiry.absolute_lifetime = limit;
        self
    }

    /// Browser-session cookies (no Max-Age) unless a session sets its own expiry.
    pub fn with_browser_session(mut self, on: bool) -> Self {
        self.engine.expiry.browser_session = on;
        self
    }

    /// Refresh the expiry of read-only requests once this much of the idle window has
    /// passed (default: never; reading does not extend a session).
    pub fn with_touch_after(mut self, after: Option<time::Duration>) -> Self {
        self.engine.expiry.touch_after = after;
        self
    }

    /// Re-save every non-empty session on every request (default off).
    pub fn with_save_every_request(mut self, on: bool) -> Self {
        self.engine.save_every_request = on;
        self
    }

    /// Longest a store call may take (default 5 s).
    pub fn with_store_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.engine.store_timeout = timeout;
        self
    }

    /// Replaces every engine setting at once.
    pub fn with_session_config(mut self, config: SessionConfig) -> Self {
        self.engine = config;
        self
    }

    /// Sign the session id in the cookie (server-side stores): a forged or altered id
    /// is refused without a store lookup.
    pub fn with_signed_ids(mut self, keys: KeyRing) -> Self {
        self.signed_ids = Some(keys);
        self
    }

    /// The response sent when the session cannot be loaded or saved (default: 503
    /// with a short text, or 500 for an oversized cookie session).
    pub fn with_error_handler(
        mut self,
        handler: impl Fn(&SessionError) -> Response<String> + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Arc::new(handler);
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an invalid cookie name, attribute or attribute
    /// combination, or a timeout that is not positive.
    pub fn build(self) -> Result<SessionLayer, ConfigError> {
        self.cookie.validate()?;
        let expiry = &self.engine.expiry;
        if !expiry.idle_timeout.is_positive() {
            return Err(ConfigError::InvalidTimeout);
        }
        if expiry.absolute_lifetime.is_some_and(|d| !d.is_positive()) {
            return Err(ConfigError::InvalidLifetime);
        }
        if expiry.touch_after.is_some_and(|d| d.is_negative()) {
            return Err(ConfigError::InvalidTouchAfter);
        }
        let id_sealer = self
            .signed_ids
            .as_ref()
            .map(|k| Sealer::new(k, "sessionkit session id", Protection::Signed));
        Ok(SessionLayer {
            shared: Arc::new(Shared {
                client_ip_header: self.client_ip_header,
                backend: self.backend,
                set_cookie: SetCookieWriter::new(&self.cookie),
                cookie: self.cookie,
                engine: Arc::new(self.engine),
                id_sealer,
                on_error: self.on_error,
            }),
        })
    }
}

/// The session middleware.
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use sessionkit::{MemoryStore, Session, SessionLayer};
///
/// async fn visits(session: Session) -> Result<String, sessionkit::Error> {
///     let n = session.increment("visits", 1).await?;
///     Ok(format!("visit number {n}"))
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(visits))
///     .layer(SessionLayer::new(MemoryStore::new()));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie", &self.shared.cookie)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// A layer over a server-side store with every default.
    pub fn new(store: impl SessionStore) -> Self {
        Self::from_defaults(Backend::Server(Arc::new(store)))
    }

    /// A layer keeping whole sessions in the cookie, with every default.
    pub fn cookie_store(store: CookieStore) -> Self {
        Self::from_defaults(Backend::Cookie(store))
    }

    fn from_defaults(backend: Backend) -> Self {
        let b = SessionLayerBuilder::new(backend);
        let id_sealer = None;
        Self {
            shared: Arc::new(Shared {
                client_ip_header: None,
                backend: b.backend,
                set_cookie: SetCookieWriter::new(&b.cookie),
                cookie: b.cookie,
                engine: Arc::new(b.engine),
                id_sealer,
                on_error: b.on_error,
            }),
        }
    }

    /// A builder over a server-side store.
    pub fn builder(store: impl SessionStore) -> SessionLayerBuilder {
        SessionLayerBuilder::new(Backend::Server(Arc::new(store)))
    }

    /// A builder for the cookie store.
    pub fn cookie_store_builder(store: CookieStore) -> SessionLayerBuilder {
        SessionLayerBuilder::new(Backend::Cookie(store))
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`SessionService`]: the inner service's future, then, only
    /// when the session has something to store, the save.
    pub struct ResponseFuture<F, B> {
        #[pin]
        step: Step<F, B>,
    }
}

pin_project! {
    #[project = StepProj]
    enum Step<F, B> {
        Handler {
            #[pin]
            future: F,
            request: Option<RequestSession>,
        },
        Saving {
            future: Pin<Box<dyn Future<Output = Response<B>> + Send>>,
        },
        Done,
    }
}

/// What the layer keeps of a request while its handler runs.
struct RequestSession {
    shared: Arc<Shared>,
    session: Session,
    slot: Option<Arc<CookieSlot>>,
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<String> + Send + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().step.project() {
                StepProj::Handler { future, request } => {
                    let res = match future.poll(cx) {
                        Poll::Ready(Ok(res)) => res,
                        Poll::Ready(Err(e)) => {
                            self.as_mut().project().step.set(Step::Done);
                            return Poll::Ready(Err(e));
                        }
                        Poll::Pending => return Poll::Pending,
                    };
                    let Some(RequestSession {
                        shared,
                        session,
                        slot,
                    }) = request.take()
                    else {
                        return Poll::Ready(Ok(res));
                    };
                    let settled = session.finish_now(res.status().is_server_error());
                    if let Some((accessed, Ok(CookieAction::Keep))) = settled {
                        // Nothing to store and no cookie to send: no further future.
                        self.as_mut().project().step.set(Step::Done);
                        return Poll::Ready(Ok(shared.respond(res, accessed, Ok(None))));
                    }
                    let future = Box::pin(async move {
                        shared.finish(&session, slot.as_deref(), res, settled).await
                    });
                    self.as_mut().project().step.set(Step::Saving { future });
                }
                StepProj::Saving { future } => {
                    let res = std::task::ready!(future.as_mut().poll(cx));
                    self.as_mut().project().step.set(Step::Done);
                    return Poll::Ready(Ok(res));
                }
                StepProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = self.shared.clone();
        let (store, slot): (Arc<dyn SessionStore>, _) = match &shared.backend {
            Backend::Server(store) => (store.clone(), None),
            Backend::Cookie(cookie_store) => {
                // The cookie is the session: it is opened into the slot when the
                // handler first uses the session.
                let slot = Arc::new(CookieSlot::new(cookie_store.revocation().cloned()));
                (slot.clone(), Some(slot))
            }
        };
        // The cookie is read when the handler first uses the session.
        let raw = RawRequest::of(&shared, &req, slot.clone());
        let session = Session::presented(store, shared.engine.clone(), raw);
        req.extensions_mut().insert(session.clone());
        // The inner service is called here, not inside the future: the service that
        // `poll_ready` readied takes the request, and no clone of it is needed.
        ResponseFuture {
            step: Step::Handler {
                future: self.inner.call(req),
                request: Some(RequestSession {
                    shared,
                    session,
                    slot,
                }),
            },
        }
    }
}

impl Shared {
    /// The id in the session cookie's value; an invalid one is counted and logged.
    /// With the cookie store, the value is the whole session: it is opened into `slot`.
    pub(crate) fn read_id(&self, value: &str, slot: Option<&CookieSlot>) -> Option<SessionId> {
        if let (Backend::Cookie(store), Some(slot)) = (&self.backend, slot) {
            return match store.open(&self.cookie.name, value) {
                Ok(opened) => Some(slot.fill(opened)),
                Err(Unopened::Expired) => {
                    tracing::debug!("session cookie expired; starting an empty session");
                    None
                }
                Err(Unopened::Forged) => {
                    sessionkit_core::metrics::suspicious("forged_cookie");
                    tracing::warn!(
                        reason = "forged_cookie",
                        "session cookie failed verification; starting an empty session"
                    );
                    None
                }
            };
        }
        let id = match &self.id_sealer {
            Some(sealer) => sealer
                .open(&self.cookie.name, value)
                .and_then(|(v, _)| SessionId::parse(&v)),
            None => SessionId::parse(value),
        };
        if id.is_none() {
            let reason = if self.id_sealer.is_some() {
                "forged_cookie"
            } else {
                "malformed_cookie"
            };
            sessionkit_core::metrics::suspicious(reason);
            tracing::warn!(reason, "session cookie ignored; possibly suspicious");
        }
        id
    }

    /// The session cookie's value for `id`; `None` when the cookie store's session
    /// was revoked ("log out everywhere") while the request ran.
    async fn cookie_value(
        &self,
        id: &SessionId,
        slot: Option<&CookieSlot>,
        logged_in: bool,
    ) -> Result<Option<String>, SessionError> {
        let name = &self.cookie.name;
        let held = slot.and_then(|slot| Some((slot, slot.current()?)));
        let value = match (&self.backend, held) {
            (Backend::Cookie(store), Some((slot, record))) => {
                let generation = slot
                    .generation_for(&record, logged_in)
                    .await
                    .map_err(|e| SessionError::Engine(sessionkit_core::Error::Store(e)))?;
                let Some(generation) = generation else {
                    sessionkit_core::metrics::suspicious("revoked_cookie");
                    tracing::warn!("session revoked while the request ran; removing its cookie instead of renewing it");
                    return Ok(None);
                };
                store.seal(name, id, generation, &record)?
            }
            _ => match &self.id_sealer {
                Some(sealer) => sealer.seal(name, id.to_string()),
                None => id.to_string(),
            },
        };
        let size = name.len() + 1 + value.len();
        if size > BROWSER_COOKIE_LIMIT {
            tracing::error!(
                size,
                "session cookie would exceed the browser limit; refusing to send it"
            );
            return Err(SessionError::CookieTooLarge {
                size,
                limit: BROWSER_COOKIE_LIMIT,
            });
        }
        Ok(Some(value))
    }

    /// Ends the request: saves (unless `settled` says already how it ended), then
    /// writes the cookie.
    async fn finish<B: From<String>>(
        &self,
        session: &Session,
        slot: Option<&CookieSlot>,
        res: Response<B>,
        settled: Option<(bool, Result<CookieAction, sessionkit_core::Error>)>,
    ) -> Response<B> {
        // An interruption the handler already met (its own `save`) is its to answer.
        let interrupted_before = session.interrupted();
        let (accessed, outcome) = match settled {
            Some(settled) => settled,
            None => session.finish(res.status().is_server_error()).await,
        };
        let header = match outcome {
            Ok(action) => {
                self.set_cookie_header(action, slot, session.has_logged_in())
                    .await
            }
            Err(e) => Err(SessionError::Engine(e)),
        };
        if let Ok(cookie) = &header {
            if session.interrupted() && !interrupted_before {
                // The handler's changes were dropped (a logout or a login as someone
                // else ended the session meanwhile): the client learns it (400), and
                // the cookie still does what the engine decided.
                let error = SessionError::Engine(sessionkit_core::Error::Interrupted);
                let mut res = (self.on_error)(&error).map(B::from);
                if let Some(cookie) = cookie {
                    res.headers_mut().append(SET_COOKIE, cookie.clone());
                }
                add_vary_cookie(&mut res);
                return res;
            }
        }
        self.respond(res, accessed, header)
    }

    /// The response with the session's `Set-Cookie` (or the error response when the
    /// session failed: fail closed) and, if the session was accessed, `Vary: Cookie`.
    fn respond<B: From<String>>(
        &self,
        mut res: Response<B>,
        accessed: bool,
        header: Result<Option<HeaderValue>, SessionError>,
    ) -> Response<B> {
        match header {
            Ok(Some(header)) => {
                res.headers_mut().append(SET_COOKIE, header);
            }
            Ok(None) => {}
            Err(e) => {
                match &e {
                    SessionError::Engine(engine) => {
                        tracing::error!(error = %engine.for_log(), "session could not be saved; failing closed");
                    }
                    other => {
                        tracing::error!(error = %other, "session could not be saved; failing closed");
                    }
                }
                res = (self.on_error)(&e).map(B::from);
            }
        }
        if accessed {
            add_vary_cookie(&mut res);
        }
        res
    }

    async fn set_cookie_header(
        &self,
        action: CookieAction,
        slot: Option<&CookieSlot>,
        logged_in: bool,
    ) -> Result<Option<HeaderValue>, SessionError> {
        let text = match action {
            CookieAction::Keep => return Ok(None),
            CookieAction::Remove => self.cookie.removal_cookie(),
            CookieAction::Set { id, lifetime } => {
                match self.cookie_value(&id, slot, logged_in).await? {
                    Some(value) => self.set_cookie.set_cookie(&value, lifetime),
                    None => self.cookie.removal_cookie(),
                }
            }
        };
        HeaderValue::from_str(&text)
            .map(Some)
            .map_err(|_| SessionError::InvalidCookieHeader)
    }
}

/// Adds `Cookie` to `Vary` once, merged with any values already there.
fn add_vary_cookie<B>(res: &mut Response<B>) {
    if !res.headers().contains_key(VARY) {
        res.headers_mut()
            .insert(VARY, HeaderValue::from_static("Cookie"));
        return;
    }
    let existing: Vec<String> = res
        .headers()
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if existing
        .iter()
        .any(|v| v == "*" || v.eq_ignore_ascii_case("cookie"))
    {
        return;
    }
    let mut all = existing;
    all.push("Cookie".to_owned());
    if let Ok(value) = HeaderValue::from_str(&all.join(", ")) {
        res.headers_mut().insert(VARY, value);
    }
}
