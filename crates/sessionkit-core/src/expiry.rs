//! The only place that computes when a session expires.
//!
//! Two limits apply together, whichever is sooner: the idle timeout (sliding: it moves
//! forward when the session is saved) and the absolute lifetime (counted from creation,
//! never moves). A session may override the idle part with [`Expiry`].

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A per-session override of the default expiry, covering every case of Django's
/// `set_expiry`.
///
/// # Examples
///
/// ```
/// use sessionkit_core::Expiry;
/// use time::Duration;
///
/// let idle = Expiry::Idle(Duration::minutes(30)); // set_expiry(1800)
/// let fixed = Expiry::after(Duration::hours(1)); // set_expiry(timedelta(hours=1))
/// let browser = Expiry::BrowserSession; // set_expiry(0)
/// let default = Expiry::Default; // set_expiry(None)
/// assert_ne!(idle, default);
/// # let _ = (fixed, browser);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Expiry {
    /// The configured policy (Django `set_expiry(None)`).
    #[default]
    Default,
    /// Expire after this much inactivity (Django `set_expiry(seconds)`). Stored in whole
    /// seconds: stores that encode records drop a fraction of a second.
    Idle(#[serde(with = "secs")] Duration),
    /// Expire at this instant (Django `set_expiry(datetime)`).
    At(#[serde(with = "time::serde::timestamp")] OffsetDateTime),
    /// A cookie without Max-Age that the browser drops when it closes (Django
    /// `set_expiry(0)`). The server side still expires after the idle timeout.
    BrowserSession,
}

impl Expiry {
    /// An absolute expiry `duration` from now (Django `set_expiry(timedelta)`).
    pub fn after(duration: Duration) -> Self {
        Self::At(after(OffsetDateTime::now_utc(), duration))
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.whole_seconds())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        i64::deserialize(d).map(Duration::seconds)
    }
}

/// The application-wide expiry settings.
///
/// Defaults: 14 days of inactivity (Django's `SESSION_COOKIE_AGE`), at most 30 days
/// after creation, a persistent cookie, and no touch on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Sliding inactivity limit.
    pub idle_timeout: Duration,
    /// Hard limit counted from creation; `None` for none.
    pub absolute_lifetime: Option<Duration>,
    /// Browser-session cookies (no Max-Age) unless a session says otherwise.
    pub browser_session: bool,
    /// When set, a request that reads but does not modify a session re-saves its expiry
    /// once this much of the idle window has passed since the last save. `None` means
    /// reading never extends a session.
    pub touch_after: Option<Duration>,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::days(14),
            absolute_lifetime: Some(Duration::days(30)),
            browser_session: false,
            touch_after: None,
        }
    }
}

/// What the cookie should say about its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLifetime {
    /// `Max-Age` and `Expires` set to this instant.
    Until(OffsetDateTime),
    /// No `Max-Age`/`Expires`: dropped when the browser closes.
    BrowserSession,
}

/// `at + duration`, held within the dates a record can carry: a duration too long
/// for the calendar (`Duration::MAX` as "no timeout") means the last such date, not
/// a panic.
fn after(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.checked_add(duration)
        .unwrap_or(if duration.is_negative() {
            OffsetDateTime::UNIX_EPOCH
        } else {
            time::PrimitiveDateTime::MAX.assume_utc()
        })
}

impl ExpiryPolicy {
    /// When a session created at `created_at`, saved at `now` with override `expiry`,
    /// expires on the server.
    pub fn expires_at(
        &self,
        expiry: Expiry,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> OffsetDateTime {
        let wanted = match (self.idle_of(expiry), expiry) {
            (Some(idle), _) => after(now, idle),
            (None, Expiry::At(at)) => at,
            (None, _) => time::PrimitiveDateTime::MAX.assume_utc(),
        };
        match self.absolute_lifetime {
            Some(limit) => wanted.min(after(created_at, limit)),
            None => wanted,
        }
    }

    /// Whether a session created at `created_at` and last active at `last_active`,
    /// with override `expiry`, is past these limits at `now`, to the second (up to a
    /// second late): what [`expires_at`](Self::expires_at) says, reckoned in whole
    /// seconds since 1970, as a check that runs on every load is cheaper so.
    pub fn has_expired(
        &self,
        expiry: Expiry,
        created_at: OffsetDateTime,
        last_active: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        let now_s = now.unix_timestamp();
        let over = |since: OffsetDateTime, limit: Duration| {
            now_s.saturating_sub(since.unix_timestamp()) > limit.whole_seconds()
        };
        let idle_over = match (self.idle_of(expiry), expiry) {
            (Some(idle), _) => over(last_active, idle),
            (None, Expiry::At(at)) => at <= now,
            (None, _) => false,
        };
        idle_over
            || self
                .absolute_lifetime
                .is_some_and(|limit| over(created_at, limit))
    }

    /// The idle timeout that applies with override `expiry` (`None` for a fixed date).
    fn idle_of(&self, expiry: Expiry) -> Option<Duration> {
        match expiry {
            Expiry::Default | Expiry::BrowserSession => Some(self.idle_timeout),
            Expiry::Idle(idle) => Some(idle),
            Expiry::At(_) => None,
        }
    }

    /// Whether a session with override `expiry` gets a browser-session cookie.
    pub fn is_browser_session(&self, expiry: Expiry) -> bool {
        match expiry {
            Expiry::BrowserSession => true,
            Expiry::Default => self.browser_session,
            Expiry::Idle(_) | Expiry::At(_) => false,
        }
    }

    /// The cookie lifetime for a record that expires at `expires_at`.
    pub fn cookie_lifetime(&self, expiry: Expiry, expires_at: OffsetDateTime) -> CookieLifetime {
        if self.is_browser_session(expiry) {
            CookieLifetime::BrowserSession
        } else {
            CookieLifetime::Until(expires_at)
        }
    }

    /// Whether an unmodified session last saved at `last_seen` should have its expiry
    /// refreshed at `now`. Fixed-date expiries never slide.
    pub fn needs_touch(
        &self,
        expiry: Expiry,
        last_seen: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        match (self.touch_after, expiry) {
            (_, Expiry::At(_)) | (None, _) => false,
            (Some(after), _) => now - last_seen >= after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn has_expired_agrees_with_expires_at_to_the_second() {
        let policy = ExpiryPolicy {
            idle_timeout: Duration::minutes(30),
            absolute_lifetime: Some(Duration::hours(8)),
            ..ExpiryPolicy::default()
        };
        let created = t0();
        let active = t0() + Duration::hours(2);
        for expiry in [
            Expiry::Default,
            Expiry::BrowserSession,
            Expiry::Idle(Duration::hours(1)),
            Expiry::At(t0() + Duration::hours(3)),
        ] {
            let ends = policy.expires_at(expiry, created, active);
            for now in [ends - Duration::seconds(2), ends + Duration::seconds(2)] {
                assert_eq!(
                    policy.has_expired(expiry, created, active, now),
                    now > ends,
                    "{expiry:?} at {now}"
                );
            }
        }
        let late = t0() + Duration::hours(8) + Duration::seconds(2);
        assert!(
            policy.has_expired(Expiry::Default, created, late, late),
            "absolute"
        );
    }

    #[test]
    fn durations_too_long_for_the_calendar_give_the_last_date_not_a_panic() {
        let last = time::PrimitiveDateTime::MAX.assume_utc();
        let endless = ExpiryPolicy {
            idle_timeout: Duration::MAX,
            absolute_lifetime: Some(Duration::MAX),
            ..ExpiryPolicy::default()
        };
        assert_eq!(endless.expires_at(Expiry::Default, t0(), t0()), last);
        let p = ExpiryPolicy {
            absolute_lifetime: None,
            ..ExpiryPolicy::default()
        };
        let huge = Expiry::Idle(Duration::days(3_000_000));
        assert_eq!(p.expires_at(huge, t0(), t0()), last);
        assert!(matches!(Expiry::after(Duration::MAX), Expiry::At(at) if at == last));
        assert!(
            matches!(Expiry::after(Duration::MIN), Expiry::At(at) if at == OffsetDateTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn default_expiry_is_idle_timeout_from_last_save() {
        let p = ExpiryPolicy::default();
        let now = t0() + Duration::days(1);
        assert_eq!(
            p.expires_at(Expiry::Default, t0(), now),
            now + Duration::days(14)
        );
    }

    #[test]
    fn absolute_lifetime_caps_the_sliding_idle_timeout() {
        let p = ExpiryPolicy::default();
        let now = t0() + Duration::days(25);
        assert_eq!(
            p.expires_at(Expiry::Default, t0(), now),
            t0() + Duration::days(30)
        );
        let late = t0() + Duration::days(29);
        assert_eq!(
            p.expires_at(Expiry::At(late + Duration::days(10)), t0(), late),
            t0() + Duration::days(30)
        );
    }

    #[test]
    fn idle_override_counts_from_the_save() {
        let p = ExpiryPolicy::default();
        let now = t0() + Duration::hours(1);
        let e = Expiry::Idle(Duration::seconds(60));
        assert_eq!(p.expires_at(e, t0(), now), now + Duration::seconds(60));
    }

    #[test]
    fn browser_session_keeps_a_server_side_limit_but_no_cookie_age() {
        let p = ExpiryPolicy::default();
        let exp = p.expires_at(Expiry::BrowserSession, t0(), t0());
        assert_eq!(exp, t0() + p.idle_timeout);
        assert_eq!(
            p.cookie_lifetime(Expiry::BrowserSession, exp),
            CookieLifetime::BrowserSession
        );
        assert_eq!(
            p.cookie_lifetime(Expiry::Default, exp),
            CookieLifetime::Until(exp)
        );
        let global = ExpiryPolicy {
            browser_session: true,
            ..p
        };
        assert!(global.is_browser_session(Expiry::Default));
        assert!(!global.is_browser_session(Expiry::Idle(Duration::seconds(5))));
    }

    #[test]
    fn touch_happens_only_past_the_threshold_and_never_for_fixed_dates() {
        let p = ExpiryPolicy {
            touch_after: Some(Duration::minutes(10)),
            ..Default::default()
        };
        assert!(!p.needs_touch(Expiry::Default, t0(), t0() + Duration::minutes(9)));
        assert!(p.needs_touch(Expiry::Default, t0(), t0() + Duration::minutes(10)));
        assert!(!p.needs_touch(Expiry::At(t0()), t0(), t0() + Duration::hours(1)));
        assert!(!ExpiryPolicy::default().needs_touch(
            Expiry::Default,
            t0(),
            t0() + Duration::days(3)
        ));
    }

    #[test]
    fn expiry_round_trips_through_json() -> Result<(), serde_json::Error> {
        for e in [
            Expiry::Default,
            Expiry::Idle(Duration::seconds(90)),
            Expiry::At(t0()),
            Expiry::BrowserSession,
        ] {
            let text = serde_json::to_string(&e)?;
            assert_eq!(serde_json::from_str::<Expiry>(&text)?, e);
        }
        Ok(())
    }
}
