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

impl Error {
    /// This error for a log line: a store failure as [`StoreError::for_log`] shows it
    /// (with its backend's causes), any other error with its message alone (a value's
    /// deserialization error quotes the value).
    pub fn for_log(&self) -> ErrorLog<'_> {
        ErrorLog(self)
    }
}

/// An [`Error`] as [`Error::for_log`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct ErrorLog<'a>(&'a Error);

impl std::fmt::Display for ErrorLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Error::Store(e) => e.for_log().fmt(f),
            other => other.fmt(f),
        }
    }
}

/// Shows an error with every cause under it on one line, `outer: inner: innermost` (a
/// cause whose text the message already ends with is not repeated), for log lines and
/// error messages: a store's own message ("no such table", "Connection refused") is the
/// cause of [`StoreError::Backend`], which alone says only what the store was doing.
/// Causes are shown as they are: a `serde_json` error, say, quotes the value it failed
/// on. For log lines of store failures use [`StoreError::for_log`], which walks only a
/// backend's causes (they carry no session id, data or secret).
///
/// # Examples
///
/// ```
/// use sessionkit_core::store::StoreError;
/// use sessionkit_core::ErrorChain;
///
/// let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
/// let e = StoreError::backend("loading a session", refused);
/// assert_eq!(
///     ErrorChain(&e).to_string(),
///     "session store failed: loading a session: Connection refused"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line: a message that spans lines would split the log line.
        let mut shown = self.0.to_string();
        f.write_str(&shown.replace('\n', " "))?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // `#[error(transparent)]` layers repeat their cause's message: once is enough.
            if !shown.ends_with(&text) {
                write!(f, ": {}", text.replace('\n', " "))?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}
