//! The test application: one small route per session operation.
//!
//! Every route answers with plain text. A value read from the session is shown as the
//! string itself when it is a JSON string, as JSON otherwise, and as [`NONE`] when the
//! key is missing. Handlers turn a session error into a `500` ([`AppError`]), so a
//! failed load never looks like an empty session.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::VARY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use sessionkit::{Expiry, Key, Session, SessionLayer};
use tokio::sync::Notify;

/// What a route shows for a missing key.
pub const NONE: &str = "<none>";

/// The typed key behind `/typed/cart`.
pub const CART: Key<Vec<String>> = Key::new("cart");

/// Shared state of one test application: the gate of `/gated/...` and an in-flight
/// counter for the socket test.
#[derive(Debug, Default)]
pub struct AppState {
    /// Pauses `/gated/...` requests mid-handler.
    pub gate: Gate,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl AppState {
    /// Fresh state, shareable between router clones.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The most `/push/...` requests that were inside their handler at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Lets a test stop a request after it loaded its session and before it writes: the
/// handler of `/gated/{key}/{value}` signals [`Gate::entered`], then waits for
/// [`Gate::release`].
#[derive(Debug, Default)]
pub struct Gate {
    /// Notified once the gated handler has loaded the session.
    pub entered: Notify,
    /// Notify this to let the gated handler write and finish.
    pub release: Notify,
}

/// A session error as a `500` response (handlers propagate errors with `?`).
#[derive(Debug)]
pub struct AppError(pub sessionkit::Error);

impl From<sessionkit::Error> for AppError {
    fn from(e: sessionkit::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("session error: {}", self.0),
        )
            .into_response()
    }
}

type Reply = Result<String, AppError>;

/// Shows a session value as the routes do.
pub fn show(value: Option<Value>) -> String {
    match value {
        None => NONE.to_owned(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// The test application behind `layer`, with its own fresh [`AppState`].
pub fn app(layer: SessionLayer) -> Router {
    app_with(layer, AppState::new())
}

/// The test application behind `layer`, sharing `state` with the caller.
///
/// Routes (all `GET`):
///
/// | route | what the handler does |
/// | --- | --- |
/// | `/untouched` | never touches the session |
/// | `/read` | reads key `x` |
/// | `/read_lenient` | reads key `x`, ignoring a load error (answers `unavailable`) |
/// | `/get/{key}` | shows a value |
/// | `/items` | shows every key and value as a JSON object |
/// | `/id` | loads the session, then shows its id, or [`NONE`] |
/// | `/id_only` | shows `Session::id()` without any other call first |
/// | `/id_hash` | shows `Session::id_hash()` (hex), or [`NONE`] |
/// | `/read_then_logout` | shows the user (or [`NONE`]), then logs out |
/// | `/insert/{key}/{value}` | inserts a string |
/// | `/insert_then_get/{key}/{value}` | inserts, then shows what it reads back |
/// | `/remove/{key}` | removes a key (Django `pop`), shows the old value |
/// | `/get_or_insert/{key}/{value}` | Django `setdefault`, shows the result |
/// | `/update/{k1}/{v1}/{k2}/{v2}` | Django `update` with two entries |
/// | `/clear`, `/flush`, `/cycle`, `/logout` | the operation of that name |
/// | `/cycle_and_insert/{key}/{value}` | cycles the id and inserts in one request |
/// | `/logout_and_insert/{key}/{value}` | logs out and starts a new session in one request |
/// | `/login/{user}`, `/whoami` | binds a user; shows it (or `anonymous`) |
/// | `/expiry/idle/{secs}`, `/expiry/at/{secs}`, `/expiry/browser`, `/expiry/default` | `set_expiry` |
/// | `/push/{item}`, `/list` | appends to the list `items` (after a short pause); shows it |
/// | `/increment`, `/counter` | adds one to `counter`; shows it |
/// | `/big/{len}` | inserts a string of `len` bytes under `big` |
/// | `/fail_after_write/{key}/{value}` | inserts, then answers `500` |
/// | `/vary/{value}` | reads the session and sets its own `Vary: {value}` |
/// | `/vary_twice` | reads the session and sends two `Vary` headers of its own |
/// | `/gated/{key}/{value}` | reads, waits at [`AppState::gate`], then inserts |
/// | `/gated_read/{key}` | reads, waits at [`AppState::gate`], then shows what it read |
/// | `/gated_save/{key}/{value}` | as `/gated`, then saves itself; a save interrupted by another request is answered `303` to `/login`, with a cookie of its own (`flash=ended`) |
/// | `/test_cookie/set`, `/test_cookie/check`, `/test_cookie/delete` | Django's test cookie |
/// | `/typed/cart/{item}`, `/typed/cart` | the typed key [`CART`] |
/// | `/own_cookie/{key}/{value}` | inserts, and sets a cookie of its own (`theme=dark`) |
/// | `/keys`, `/values`, `/len`, `/contains/{key}` | the read-only calls of that name |
/// | `/insert_and_save/{key}/{value}` | inserts, then calls `Session::save` itself |
/// | `/after_handler` | the handler never touches the session; a middleware inside the layer increments `after_handler` once the handler has answered |
/// | `/stream/{key}/{value}` | inserts, then answers with a streamed body (`Body::from_stream`) |
/// | `/no_content/{key}/{value}` | inserts, then answers `204 No Content` with an empty body |
/// | `/expiry/show` | shows `expiry_age` (whole seconds), `expiry_date` (Unix seconds) and `expires_at_browser_close`, space-separated |
///
/// Every route is served under `/app` too (`/app/insert/{key}/{value}`, …), for
/// layers whose cookie Path is `/app`.
pub fn app_with(layer: SessionLayer, state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/untouched", get(|| async { "untouched" }))
        .route("/read", get(read))
        .route("/read_lenient", get(read_lenient))
        .route("/get/{key}", get(get_key))
        .route("/items", get(items))
        .route("/id", get(id))
        .route("/id_only", get(id_only))
        .route("/id_hash", get(id_hash))
        .route("/insert/{key}/{value}", get(insert))
        .route("/insert_then_get/{key}/{value}", get(insert_then_get))
        .route("/remove/{key}", get(remove))
        .route("/get_or_insert/{key}/{value}", get(get_or_insert))
        .route("/update/{k1}/{v1}/{k2}/{v2}", get(update))
        .route("/clear", get(clear))
        .route("/flush", get(flush))
        .route("/cycle", get(cycle))
        .route("/cycle_and_insert/{key}/{value}", get(cycle_and_insert))
        .route("/logout_and_insert/{key}/{value}", get(logout_and_insert))
        .route("/login/{user}", get(login))
        .route("/whoami", get(whoami))
        .route("/logout", get(logout))
        .route("/read_then_logout", get(read_then_logout))
        .route("/expiry/idle/{secs}", get(expiry_idle))
        .route("/expiry/at/{secs}", get(expiry_at))
        .route("/expiry/browser", get(expiry_browser))
        .route("/expiry/default", get(expiry_default))
        .route("/push/{item}", get(push))
        .route("/list", get(list))
        .route("/increment", get(increment))
        .route("/counter", get(counter))
        .route("/big/{len}", get(big))
        .route("/fail_after_write/{key}/{value}", get(fail_after_write))
        .route("/vary/{value}", get(vary))
        .route("/vary_twice", get(vary_twice))
        .route("/gated/{key}/{value}", get(gated))
        .route("/gated_read/{key}", get(gated_read))
        .route("/gated_save/{key}/{value}", get(gated_save))
        .route("/test_cookie/set", get(test_cookie_set))
        .route("/test_cookie/check", get(test_cookie_check))
        .route("/test_cookie/delete", get(test_cookie_delete))
        .route("/typed/cart/{item}", get(typed_cart_add))
        .route("/typed/cart", get(typed_cart))
        .route("/own_cookie/{key}/{value}", get(own_cookie))
        .route("/keys", get(keys))
        .route("/values", get(values))
        .route("/len", get(len))
        .route("/contains/{key}", get(contains))
        .route("/insert_and_save/{key}/{value}", get(insert_and_save))
        .route(
            "/after_handler",
            get(|| async { "handled" })
                .layer(axum::middleware::from_fn(increment_after_the_handler)),
        )
        .route("/stream/{key}/{value}", get(stream))
        .route("/no_content/{key}/{value}", get(no_content))
        .route("/expiry/show", get(expiry_show))
        .with_state(state);
    // Every route again under `/app`, for layers whose cookie Path is `/app`.
    Router::new()
        .merge(routes.clone())
        .nest("/app", routes)
        .layer(layer)
}

async fn read(session: Session) -> Reply {
    Ok(show(session.get_value("x").await?))
}

async fn read_lenient(session: Session) -> String {
    match session.get_value("x").await {
        Ok(v) => show(v),
        Err(_) => "unavailable".to_owned(),
    }
}

async fn get_key(session: Session, Path(key): Path<String>) -> Reply {
    Ok(show(session.get_value(&key).await?))
}

async fn items(session: Session) -> Reply {
    Ok(Value::Object(session.items().await?).to_string())
}

async fn id_hash(session: Session) -> Reply {
    Ok(session
        .id_hash()
        .await
        .map_or_else(|| NONE.to_owned(), |hash| hash.to_hex()))
}

async fn id(session: Session) -> Reply {
    // Load first so that an unknown id is not shown as the session's.
    session.len().await?;
    Ok(session
        .id()
        .await
        .map_or_else(|| NONE.to_owned(), |id| id.to_string()))
}

async fn id_only(session: Session) -> String {
    session
        .id()
        .await
        .map_or_else(|| NONE.to_owned(), |id| id.to_string())
}

async fn insert(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.insert(&key, value).await?;
    Ok("ok".to_owned())
}

async fn insert_then_get(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.insert(&key, value).await?;
    Ok(show(session.get_value(&key).await?))
}

async fn remove(session: Session, Path(key): Path<String>) -> Reply {
    Ok(show(session.remove_value(&key).await?))
}

async fn get_or_insert(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    Ok(session.get_or_insert(&key, value).await?)
}

async fn update(
    session: Session,
    Path((k1, v1, k2, v2)): Path<(String, String, String, String)>,
) -> Reply {
    let mut entries = Map::new();
    entries.insert(k1, Value::String(v1));
    entries.insert(k2, Value::String(v2));
    session.update(entries).await?;
    Ok("ok".to_owned())
}

async fn clear(session: Session) -> Reply {
    session.clear().await?;
    Ok("ok".to_owned())
}

async fn flush(session: Session) -> &'static str {
    session.flush().await;
    "ok"
}

async fn cycle(session: Session) -> Reply {
    session.cycle_id().await?;
    Ok("ok".to_owned())
}

async fn cycle_and_insert(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.cycle_id().await?;
    session.insert(&key, value).await?;
    Ok("ok".to_owned())
}

async fn logout_and_insert(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.logout().await;
    session.insert(&key, value).await?;
    Ok("ok".to_owned())
}

async fn login(session: Session, Path(user): Path<String>) -> Reply {
    session.login(&user).await?;
    Ok("ok".to_owned())
}

async fn whoami(session: Session) -> Reply {
    Ok(session
        .user()
        .await?
        .unwrap_or_else(|| "anonymous".to_owned()))
}

async fn read_then_logout(session: Session) -> Reply {
    let user = session.user().await?;
    session.logout().await;
    Ok(user.unwrap_or_else(|| NONE.to_owned()))
}

async fn logout(session: Session) -> &'static str {
    session.logout().await;
    "ok"
}

async fn expiry_idle(session: Session, Path(secs): Path<i64>) -> Reply {
    session
        .set_expiry(Expiry::Idle(time::Duration::seconds(secs)))
        .await?;
    Ok("ok".to_owned())
}

async fn expiry_at(session: Session, Path(secs): Path<i64>) -> Reply {
    session
        .set_expiry(Expiry::after(time::Duration::seconds(secs)))
        .await?;
    Ok("ok".to_owned())
}

async fn expiry_browser(session: Session) -> Reply {
    session.set_expiry(Expiry::BrowserSession).await?;
    Ok("ok".to_owned())
}

async fn expiry_default(session: Session) -> Reply {
    session.set_expiry(Expiry::Default).await?;
    Ok("ok".to_owned())
}

async fn push(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(item): Path<String>,
) -> Reply {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(now, Ordering::SeqCst);
    // Load, then pause, so that parallel requests overlap between load and save.
    let loaded = session.len().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let pushed = match loaded {
        Ok(_) => session.push("items", item).await,
        Err(e) => Err(e),
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    pushed?;
    Ok("ok".to_owned())
}

async fn list(session: Session) -> Reply {
    Ok(show(Some(
        session.get_value("items").await?.unwrap_or(Value::Null),
    )))
}

async fn increment(session: Session) -> Reply {
    Ok(session.increment("counter", 1).await?.to_string())
}

async fn counter(session: Session) -> Reply {
    Ok(show(session.get_value("counter").await?))
}

async fn big(session: Session, Path(len): Path<usize>) -> Reply {
    session.insert("big", "x".repeat(len)).await?;
    Ok("ok".to_owned())
}

async fn fail_after_write(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<(StatusCode, &'static str), AppError> {
    session.insert(&key, value).await?;
    Ok((StatusCode::INTERNAL_SERVER_ERROR, "handler failed"))
}

async fn vary(session: Session, Path(value): Path<String>) -> Result<Response, AppError> {
    let shown = show(session.get_value("x").await?);
    let mut res = shown.into_response();
    let value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Origin"));
    res.headers_mut().insert(VARY, value);
    Ok(res)
}

async fn vary_twice(session: Session) -> Result<Response, AppError> {
    let shown = show(session.get_value("x").await?);
    let mut res = shown.into_response();
    res.headers_mut()
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    res.headers_mut()
        .append(VARY, HeaderValue::from_static("Origin"));
    Ok(res)
}

async fn own_cookie(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<Response, AppError> {
    session.insert(&key, value).await?;
    let mut res = "set".into_response();
    res.headers_mut().append(
        axum::http::header::SET_COOKIE,
        HeaderValue::from_static("theme=dark; Path=/"),
    );
    Ok(res)
}

async fn gated(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Reply {
    let before = show(session.get_value(&key).await?);
    state.gate.entered.notify_one();
    state.gate.release.notified().await;
    session.insert(&key, value).await?;
    Ok(before)
}

async fn gated_read(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(key): Path<String>,
) -> Reply {
    let value = show(session.get_value(&key).await?);
    state.gate.entered.notify_one();
    state.gate.release.notified().await;
    Ok(value)
}

async fn gated_save(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<Response, AppError> {
    session.get_value(&key).await?;
    state.gate.entered.notify_one();
    state.gate.release.notified().await;
    session.insert(&key, value).await?;
    match session.save().await {
        Err(sessionkit::Error::Interrupted) => {
            let mut res = axum::response::Redirect::to("/login").into_response();
            res.headers_mut().append(
                axum::http::header::SET_COOKIE,
                HeaderValue::from_static("flash=ended; Path=/"),
            );
            Ok(res)
        }
        other => {
            other?;
            Ok("saved".into_response())
        }
    }
}

async fn test_cookie_set(session: Session) -> Reply {
    session.set_test_cookie().await?;
    Ok("ok".to_owned())
}

async fn test_cookie_check(session: Session) -> Reply {
    Ok(session.test_cookie_worked().await?.to_string())
}

async fn test_cookie_delete(session: Session) -> Reply {
    session.delete_test_cookie().await?;
    Ok("ok".to_owned())
}

async fn typed_cart_add(session: Session, Path(item): Path<String>) -> Reply {
    let mut cart = CART.get(&session).await?.unwrap_or_default();
    cart.push(item);
    CART.insert(&session, cart.clone()).await?;
    Ok(cart.join(","))
}

async fn typed_cart(session: Session) -> Reply {
    Ok(CART.get(&session).await?.unwrap_or_default().join(","))
}

async fn keys(session: Session) -> Reply {
    Ok(session.keys().await?.join(","))
}

async fn values(session: Session) -> Reply {
    Ok(Value::Array(session.values().await?).to_string())
}

async fn len(session: Session) -> Reply {
    Ok(session.len().await?.to_string())
}

async fn contains(session: Session, Path(key): Path<String>) -> Reply {
    Ok(session.contains(&key).await?.to_string())
}

async fn insert_and_save(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.insert(&key, value).await?;
    session.save().await?;
    Ok("ok".to_owned())
}

/// The middleware of `/after_handler`: runs inside the session layer and writes once
/// the handler has answered.
async fn increment_after_the_handler(
    session: Session,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, AppError> {
    let res = next.run(req).await;
    session.increment("after_handler", 1).await?;
    Ok(res)
}

async fn stream(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<Response, AppError> {
    session.insert(&key, value).await?;
    let chunks = axum::body::Body::from("streamed").into_data_stream();
    Ok(axum::body::Body::from_stream(chunks).into_response())
}

async fn no_content(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    session.insert(&key, value).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn expiry_show(session: Session) -> Reply {
    let age = session.expiry_age().await?.whole_seconds();
    let date = session.expiry_date().await?.unix_timestamp();
    let browser = session.expires_at_browser_close().await?;
    Ok(format!("{age} {date} {browser}"))
}
