//! The core error type.

use crate::store::StoreError;

/// What can go wrong using a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed or timed out.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not have the type the caller asked for.
    #[error("session value `{key}` does not have the requested type")]
    Value {
        /// The key that was read.
        key: String,
        /// Why deserialization failed.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be turned into JSON.
    #[error("value cannot be stored in a session")]
    Serialize(#[source] serde_json::Error),
    /// The session was deleted (for example by a logout in another tab) while this
    /// request was running; it is not re-created.
    #[error("the session was deleted by another request before this one saved it")]
    Interrupted,
    /// Concurrent writers kept winning; the save gave up after this many attempts.
    #[error("gave up saving the session after {0} attempts lost to concurrent writers")]
    Conflict(u32),
    /// An earlier store call in this request failed; the session is unusable.
    #[error("the session store could not be reached earlier in this request")]
    Unavailable,
    /// The operating system could not provide randomness for a new id.
    #[error("no session id could be drawn: {0}")]
    Random(String),
}
