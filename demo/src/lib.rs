//! The sessionkit demo: every example of the Flask session tutorial — login with
//! roles, a cart, visit history, language, preferences — plus "your active sessions"
//! with revoke, on an SQLite file by default and on any store by URL.
//!
//! `cargo run -p sessionkit-demo`, then open <http://127.0.0.1:3000>. Settings come
//! from the environment ([`config`]); tests build the app with [`app`] and drive it
//! without a server.
//!
//! | route | |
//! | --- | --- |
//! | `GET /` | greeting in the session's language |
//! | `GET /login`, `POST /login` | log in (`user1`/`password1`, `user2`/`password2`, `admin`/`adminpass`) |
//! | `GET /logout` | end the session |
//! | `GET /profile`, `GET /dashboard` | who is logged in; the dashboard by role |
//! | `GET /add_to_cart/<item>`, `/view_cart`, `/remove_from_cart/<item>`, `/checkout` | the cart |
//! | `GET /set_language/<language>` | `en`, `es`, `fr`, `ja` (others greet in English) |
//! | `GET /set_preferences`, `POST /set_preferences` | theme and notifications |
//! | `GET /view_history` | pages visited in this session |
//! | `GET /sessions`, `POST /sessions/revoke`, `POST /sessions/logout_others` | the user's sessions on every device |
//!
//! Every form carries a CSRF token (`csrf_token`), checked by `sessionkit`'s
//! `CsrfLayer`; pages escape everything a user typed.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sessionkit::csrf::CsrfLayer;
use sessionkit::generations::StoreGenerations;
use sessionkit::{KeyRing, SessionLayer, SessionStore};

pub mod auth;
pub mod cart;
pub mod config;
pub mod error;
pub mod history;
pub mod language;
pub mod metrics;
pub mod page;
pub mod preferences;
pub mod sessions;
pub mod store;

pub use auth::Users;
pub use config::{Config, SessionSettings};
pub use error::{AppError, StartupError};
pub use store::Store;

/// What the handlers share: the accounts, the session layer and, for server-side
/// stores, the store itself (to list and revoke a user's sessions).
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    users: Users,
    store: Option<Arc<dyn SessionStore>>,
    /// With the cookie store: the users' generation numbers, which revoke cookies.
    generations: Option<StoreGenerations>,
    sessions: SessionLayer,
    limits: Limits,
}

/// How much one session may hold. A cookie session travels in a cookie browsers keep
/// only up to 4 KB (sealed, about a third larger than its JSON), so it gets a smaller
/// cart and a shorter history than a server-side one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most distinct items in a cart.
    pub cart_items: usize,
    /// How many visits the history keeps and shows.
    pub history: usize,
    /// Longest path the history records, in characters.
    pub history_path: usize,
}

impl Limits {
    /// For sessions kept on the server.
    pub const SERVER: Self = Self {
        cart_items: 40,
        history: 50,
        history_path: 200,
    };
    /// For sessions kept in the cookie: at the longest item names, language and
    /// paths (in four-byte characters), with the longest user agent a session keeps,
    /// the sealed cookie stays under 4 KB.
    pub const COOKIE: Self = Self {
        cart_items: 4,
        history: 4,
        history_path: 30,
    };
}

impl AppState {
    /// Builds the state: session ids are signed with `keys` (the cookie store seals
    /// with them too), cookies and timeouts follow `settings`.
    ///
    /// # Errors
    ///
    /// [`StartupError::Layer`] when the session layer refuses the settings.
    pub fn new(
        store: Store,
        users: Users,
        keys: &KeyRing,
        settings: &SessionSettings,
    ) -> Result<Self, StartupError> {
        let limits = match store {
            Store::Server(_) => Limits::SERVER,
            Store::Cookie(_) => Limits::COOKIE,
        };
        let mut generations = None;
        let (builder, server_store) = match store {
            Store::Server(store) => (
                SessionLayer::builder(store.clone()).with_signed_ids(keys.clone()),
                Some(store),
            ),
            Store::Cookie(cookies) => {
                // Kept in this process: a restart forgets them, which logs out the
                // cookies issued after a "log out other devices" (they carry a
                // generation the restarted demo does not know).
                let numbers = StoreGenerations::new(sessionkit::MemoryStore::new());
                generations = Some(numbers.clone());
                let cookies = cookies.with_revocation(numbers);
                (SessionLayer::cookie_store_builder(cookies), None)
            }
        };
        let mut builder = builder
            .with_secure(settings.secure)
            .with_browser_session(settings.browser_session);
        if let Some(idle) = settings.idle_timeout {
            builder = builder.with_idle_timeout(idle);
        }
        if let Some(absolute) = settings.absolute_timeout {
            builder = builder.with_absolute_lifetime(Some(absolute));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                users,
                store: server_store,
                generations,
                sessions: builder.build()?,
                limits,
            }),
        })
    }

    /// The accounts.
    pub fn users(&self) -> &Users {
        &self.inner.users
    }

    /// How much one session may hold with this store.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The server-side store, when there is one (it may still lack a user index).
    pub fn user_index_store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.inner.store.as_ref()
    }

    /// With the cookie store: the generation numbers that revoke a user's cookies.
    pub fn generations(&self) -> Option<&StoreGenerations> {
        self.inner.generations.as_ref()
    }
}

/// The demo's routes, with sessions, CSRF checks, visit history and security headers.
pub fn app(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(language::index))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", get(auth::logout))
        .route("/profile", get(auth::profile))
        .route("/dashboard", get(auth::dashboard))
        .route("/add_to_cart/{item}", get(cart::add))
        .route("/view_cart", get(cart::view))
        .route("/remove_from_cart/{item}", get(cart::remove))
        .route("/checkout", get(cart::checkout))
        .route("/set_language/{language}", get(language::set_language))
        .route(
            "/set_preferences",
            get(preferences::form).post(preferences::save),
        )
        .route("/view_history", get(history::view))
        .route("/sessions", get(sessions::list))
        .route("/sessions/revoke", post(sessions::revoke))
        .route("/sessions/logout_others", post(sessions::logout_others))
        // Only matched page routes are recorded; assets and 404s are not.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            history::record,
        ));
    let session_layer = state.inner.sessions.clone();
    metrics::handle();
    Router::new()
        .merge(pages)
        .route("/style.css", get(style))
        .layer(CsrfLayer::new())
        .layer(session_layer)
        .route("/metrics", get(metrics::render))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        page::STYLE,
    )
        .into_response()
}

/// No inline script or style can run, no other site can frame or receive the forms.
async fn security_headers(mut res: Response) -> Response {
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages are per session: never stored by shared caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
