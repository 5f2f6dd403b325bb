//! Errors of setting up a Redis store, and of its commands.
//!
//! Store operations report [`sessionkit_core::StoreError::Backend`] with an [`Error`] as
//! the source. No message contains a URL (it may hold a password), a key or a session id.

use std::time::Duration;

/// Why a Redis store could not be set up, or why one of its commands failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be read.
    #[error("invalid Redis URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it (the URL itself is never repeated: it may hold a
        /// password).
        reason: &'static str,
    },
    /// The URL has a query parameter redis-rs does not read (and would ignore).
    #[error(
        "unknown Redis URL parameter {name}; single-server URLs take `protocol` (2 or 3), \
         socket URLs also `db`, `user` and `pass`, Sentinel and Cluster URLs none"
    )]
    UnknownUrlParameter {
        /// The parameter's name, quoted, or a note that it is not shown (text that
        /// does not look like a name is never repeated: it may be a pasted secret).
        name: String,
    },
    /// The URL's scheme is none this crate knows.
    #[error(
        "unsupported Redis URL scheme {scheme:?}: expected redis://, rediss://, \
         redis+unix://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// \
         or rediss+cluster://"
    )]
    UnsupportedScheme {
        /// The URL's scheme (never the rest of the URL).
        scheme: String,
    },
    /// The URL asks for TLS, which this build does not have.
    #[error(
        "`{scheme}://` URLs need TLS, which this build of sessionkit-redis leaves out: \
         enable its `tls` feature (sessionkit-redis = {{ features = [\"tls\"] }})"
    )]
    TlsDisabled {
        /// The URL's scheme.
        scheme: String,
    },
    /// The key prefix would break the key layout.
    #[error(
        "invalid Redis key prefix {prefix:?}: use at most 128 printable ASCII characters \
         without spaces, `{{`, `}}`, `*`, `?`, `[`, `]` or `\\`"
    )]
    InvalidPrefix {
        /// The rejected prefix (at most its first 80 characters).
        prefix: String,
    },
    /// Connecting (or asking Sentinel for the master) failed.
    #[error("could not connect to Redis")]
    Connect(#[source] redis::RedisError),
    /// Connecting did not finish within the connect timeout.
    #[error("connecting to Redis took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// A command failed (connection lost, server error, timeout).
    #[error("Redis command failed")]
    Command(#[source] redis::RedisError),
    /// The server answered something this crate does not expect.
    #[error("unexpected reply from Redis: {0}")]
    UnexpectedReply(&'static str),
}

impl Error {
    /// Whether the URL or the options are at fault (malformed, an unknown scheme,
    /// parameter or port, a bad key prefix, TLS not compiled in), as opposed to a
    /// server that could not be reached or answered wrongly.
    pub fn is_invalid_url(&self) -> bool {
        match self {
            Self::InvalidUrl { .. }
            | Self::UnknownUrlParameter { .. }
            | Self::UnsupportedScheme { .. }
            | Self::TlsDisabled { .. }
            | Self::InvalidPrefix { .. } => true,
            Self::Connect(e) => e.kind() == redis::ErrorKind::InvalidClientConfig,
            Self::ConnectTimeout(_) | Self::Command(_) | Self::UnexpectedReply(_) => false,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Self::Command(e)
    }
}
