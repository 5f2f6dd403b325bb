//! `Session` as an axum extractor (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::Session;

/// The extractor's rejection: the request carries no session, which means the
/// session layer is not installed on this route.
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "No session in request extensions: is `SessionLayer` installed on this route?",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

/// Handlers can return `Result<_, sessionkit::Error>` and use `?`: store trouble
/// becomes a 503, a session ended by a concurrent logout a 400 (Django's
/// `SessionInterrupted`), anything else a 500. The body is a short, fixed text: no
/// internals reach the client; the details go to the log.
impl IntoResponse for crate::Error {
    fn into_response(self) -> Response {
        use crate::Error;
        let (status, text) = match &self {
            Error::Store(_) | Error::Unavailable | Error::Conflict(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Session storage is unavailable. Please try again shortly.",
            ),
            Error::Interrupted => (
                StatusCode::BAD_REQUEST,
                "The session was ended by another request. Please try again.",
            ),
            Error::Value { .. } | Error::Serialize(_) | Error::Random(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The session could not be used.",
            ),
        };
        if matches!(self, Error::Interrupted) {
            // A race the client can simply retry (a logout in another tab), not a fault.
            tracing::warn!(
                "session ended by another request while this one ran; answered with {status}"
            );
        } else {
            tracing::error!(error = %self.for_log(), "session error answered with {status}");
        }
        (status, text).into_response()
    }
}
