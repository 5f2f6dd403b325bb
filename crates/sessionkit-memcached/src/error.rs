//! Errors of setting up a Memcached store, and of its commands.
//!
//! Store operations report [`sessionkit_core::StoreError::Backend`] with an [`Error`] as
//! the source. No message contains a key or a session id.

use std::time::Duration;

/// Why a Memcached store could not be set up, or why one of its commands failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be read.
    #[error("invalid Memcached URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL has a query parameter: Memcached URLs take none.
    #[error("unknown Memcached URL parameter {name}; Memcached URLs take none")]
    UnknownUrlParameter {
        /// The parameter's name, quoted, or a note that it is not shown (text that
        /// does not look like a name is never repeated: it may be a pasted secret).
        name: String,
    },
    /// The URL's scheme is not `memcache` (or `memcached`).
    #[error("unsupported Memcached URL scheme {scheme:?}: expected memcache://host:port")]
    UnsupportedScheme {
        /// The URL's scheme (never the rest of the URL).
        scheme: String,
    },
    /// The key prefix would make invalid Memcached keys.
    #[error(
        "invalid Memcached key prefix {prefix:?}: use at most 150 printable ASCII \
         characters without spaces"
    )]
    InvalidPrefix {
        /// The rejected prefix (at most its first 80 characters).
        prefix: String,
    },
    /// Connecting failed.
    #[error("could not connect to Memcached")]
    Connect(#[source] async_memcached::Error),
    /// Connecting did not finish within the connect timeout.
    #[error("connecting to Memcached took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// The encoded session is larger than the server stores in one item.
    #[error(
        "the session is {size} bytes encoded, more than this Memcached server stores in \
         one item (its item size limit, memcached -I, 1 MiB by default): keep less in \
         the session or raise the server's limit"
    )]
    TooLarge {
        /// The encoded record's size in bytes.
        size: usize,
    },
    /// A command failed (connection lost, server error).
    #[error("Memcached command failed")]
    Command(#[source] async_memcached::Error),
}
