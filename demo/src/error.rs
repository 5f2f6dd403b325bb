//! What can go wrong: in a request ([`AppError`], turned into a response so handlers
//! use `?`) and at startup ([`StartupError`], one readable line and a non-zero exit).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sessionkit::store::StoreError;

use crate::page;

pub use sessionkit_any::one_line;

/// A request that could not be served.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The session could not be loaded, changed or saved.
    #[error(transparent)]
    Session(#[from] sessionkit::Error),
    /// A direct store call (listing or revoking sessions) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed; the text is shown to the user (escaped).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Nothing here, or nothing this user may see.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Password hashing could not run.
    #[error("password check failed to run")]
    PasswordCheck,
}

impl From<axum::extract::rejection::FormRejection> for AppError {
    /// A form that cannot be read (a repeated or missing field, another content type)
    /// gets the demo's error page, not axum's plain text.
    fn from(rejection: axum::extract::rejection::FormRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            // The library's own mapping: 503 for store trouble, 400 for a session
            // ended by a concurrent logout, 500 otherwise; it logs the details.
            Self::Session(e) => e.into_response(),
            Self::Store(e) => {
                tracing::error!(error = %e.for_log(), "session store call failed");
                let body =
                    page::error_page("Session storage is unavailable. Please try again shortly.");
                (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
            }
            Self::BadRequest(text) => {
                (StatusCode::BAD_REQUEST, page::error_page(&text)).into_response()
            }
            Self::NotFound(text) => (StatusCode::NOT_FOUND, page::error_page(text)).into_response(),
            Self::PasswordCheck => {
                tracing::error!("password verification task failed");
                let body = page::error_page("Login is unavailable. Please try again shortly.");
                (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
            }
        }
    }
}

/// Why the demo could not start. Shown as one line; never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// An environment variable has a value the demo cannot use.
    #[error("{var}: {reason}")]
    Setting {
        /// The variable.
        var: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The secret keys are unusable (too short, repetitive, unreadable file, …).
    #[error("{source_name}: {error}")]
    Keys {
        /// Where the keys came from (`SESSIONKIT_SECRET_KEYS` or the key file).
        source_name: String,
        /// Why they were refused.
        error: sessionkit::KeyError,
    },
    /// A file or folder of the data directory could not be created or read.
    #[error("{what} {path}: {error}")]
    Io {
        /// What the demo was doing.
        what: &'static str,
        /// The path.
        path: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The store URL has a scheme the demo does not know.
    #[error(
        "SESSIONKIT_STORE: {}; expected a store URL such as sqlite://data/sessions.db, \
         postgres://user@host/db, memory:// or cookie:// (see --help)",
        if .0.is_empty() { "not a store URL".to_owned() } else { format!("unsupported store URL scheme {:?}", .0) }
    )]
    UnsupportedStore(String),
    /// The store could not be opened or migrated.
    #[error("SESSIONKIT_STORE ({store}): {error}")]
    Store {
        /// The store, with any password removed.
        store: String,
        /// Why it failed, with its causes.
        error: String,
    },
    /// The users file is unusable.
    #[error("SESSIONKIT_USERS_FILE {path}: {reason}")]
    Users {
        /// The file.
        path: String,
        /// What is wrong (with the line number).
        reason: String,
    },
    /// The session layer refused the settings.
    #[error("session settings: {0}")]
    Layer(#[from] sessionkit::ConfigError),
    /// The listening socket could not be opened.
    #[error("SESSIONKIT_ADDR: cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        error: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}
