//! [`MemcachedOptions`]: key prefix, pool size and timeouts.

use std::time::Duration;

use crate::Error;

/// The key prefix used unless [`MemcachedOptions::with_key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "sessionkit:";

/// Settings of a [`MemcachedStore`](crate::MemcachedStore) beyond what its URL says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sessionkit_memcached::MemcachedOptions;
///
/// let options = MemcachedOptions::default()
///     .with_key_prefix("myapp:")
///     .with_pool_size(4)
///     .with_command_timeout(Duration::from_secs(1));
/// assert_eq!(options.pool_size(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcachedOptions {
    key_prefix: String,
    pool_size: usize,
    command_timeout: Duration,
    connect_timeout: Duration,
}

impl Default for MemcachedOptions {
    /// Prefix `sessionkit:`, 8 connections, 3 s per call, 3 s to connect.
    fn default() -> Self {
        Self {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            pool_size: 8,
            command_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl MemcachedOptions {
    /// The defaults: prefix `sessionkit:`, 8 connections, 3 s timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the prefix of every key (at most 150 printable ASCII characters, no
    /// spaces; checked when connecting).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets how many connections the store opens at most (at least 1). Each carries
    /// one command at a time.
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Sets how long one store call may take before it fails with
    /// [`StoreError::Timeout`](sessionkit_core::StoreError::Timeout).
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Sets how long opening a connection may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The most connections the store opens.
    pub fn pool_size(&self) -> usize {
        self.pool_size
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
        if p.len() <= 150 && p.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(p)
        } else {
            Err(Error::InvalidPrefix {
                prefix: p.chars().take(80).collect(),
            })
        }
    }
}
