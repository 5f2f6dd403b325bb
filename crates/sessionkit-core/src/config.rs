//! Engine settings shared by every session of an application.

use crate::{Binding, ExpiryPolicy};

/// How sessions are expired and saved. Cookie attributes live in the `sessionkit`
/// crate's layer configuration; this is what the engine itself needs.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{ExpiryPolicy, SessionConfig};
/// use time::Duration;
///
/// let config = SessionConfig {
///     expiry: ExpiryPolicy { idle_timeout: Duration::minutes(30), ..Default::default() },
///     ..Default::default()
/// };
/// assert!(!config.save_every_request);
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Idle timeout, absolute lifetime, browser-session cookies, touch threshold.
    pub expiry: ExpiryPolicy,
    /// Re-save every non-empty session on every request (Django
    /// `SESSION_SAVE_EVERY_REQUEST`, express `rolling`), refreshing its idle expiry.
    pub save_every_request: bool,
    /// The longest any single store call may take before the request fails closed.
    pub store_timeout: std::time::Duration,
    /// How many times a save is attempted when concurrent writers keep winning the
    /// compare-and-swap (each retry re-applies this request's changes to the fresh record).
    pub max_save_attempts: u32,
    /// Optional binding of a session to its client (off by default).
    pub binding: Binding,
    /// After an id rotation, how long the old id keeps resolving to the new record, so
    /// requests already in flight from the same browser keep their session (default
    /// 5 s; zero deletes the old record at once). Forwarding also requires the same user
    /// agent and network (/24 for IPv4, /64 for IPv6) as the rotating request, so it
    /// needs client addresses (serve with `ConnectInfo` or configure a trusted proxy
    /// header); without them the old id simply stops working. Use of the old id after
    /// the window is refused and logged as suspicious.
    pub rotation_grace: time::Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            expiry: ExpiryPolicy::default(),
            save_every_request: false,
            store_timeout: std::time::Duration::from_secs(5),
            max_save_attempts: 16,
            binding: Binding::default(),
            rotation_grace: time::Duration::seconds(5),
        }
    }
}
