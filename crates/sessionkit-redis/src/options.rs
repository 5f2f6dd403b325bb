//! [`RedisOptions`]: key prefix and timeouts.

use std::time::Duration;

use crate::Error;

/// The key prefix used unless [`RedisOptions::with_key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "sessionkit:";

/// Settings of a [`RedisStore`](crate::RedisStore) beyond what its URL says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sessionkit_redis::RedisOptions;
///
/// let options = RedisOptions::default()
///     .with_key_prefix("myapp:sessions:")
///     .with_command_timeout(Duration::from_secs(1));
/// assert_eq!(options.key_prefix(), "myapp:sessions:");
/// assert_eq!(options.command_timeout(), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    key_prefix: String,
    command_timeout: Duration,
    connect_timeout: Duration,
}

impl Default for RedisOptions {
    /// Prefix `sessionkit:`, 3 s per command, 3 s to connect.
    fn default() -> Self {
        Self {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            command_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `sessionkit:`, 3 s command and connect timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the prefix of every key the store writes (several applications can share
    /// one Redis with different prefixes). Checked by [`connect`](crate::connect): at
    /// most 128 printable ASCII characters, without spaces, braces (they would break
    /// the cluster hash tags) or glob characters.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets how long one store call may take before it fails with
    /// [`StoreError::Timeout`](sessionkit_core::StoreError::Timeout) (also the
    /// client's response timeout for each command).
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Sets how long connecting (and reconnecting) may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The timeout of one store call.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn checked_prefix(&self) -> Result<&str, Error> {
        let p = &self.key_prefix;
        let valid = p.len() <= 128
            && p.bytes().all(|b| {
                b.is_ascii_graphic()
                    && !matches!(b, b'{' | b'}' | b'*' | b'?' | b'[' | b']' | b'\\')
            });
        if valid {
            Ok(p)
        } else {
            Err(Error::InvalidPrefix {
                prefix: p.chars().take(80).collect(),
            })
        }
    }
}
