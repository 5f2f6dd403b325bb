//! Expiry over HTTP (catalogue section D). The client's jar replays cookies past their
//! Max-Age, so every "gone" here is checked on the server side too.

use std::time::Duration;

use time::OffsetDateTime;

use crate::http::app::NONE;
use crate::http::cases::cookies::assert_lifetime;
use crate::http::Subject;

/// D2: `set_expiry(Idle(n))` sends Max-Age n and keeps the data.
pub async fn set_expiry_idle_sets_max_age(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let set = c.get("/expiry/idle/300").await.ok().new_cookie();
    assert_lifetime(&set, 300);
    assert_eq!(c.get("/get/k").await.ok().body, "v");
    let set = c.get("/insert/k/w").await.ok().new_cookie();
    assert_lifetime(&set, 300);
}

/// D3: `set_expiry(At(t))` sends Max-Age ≈ t - now, which does not slide on later
/// saves.
pub async fn set_expiry_at_sets_max_age_to_the_remaining_time(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let set = c.get("/expiry/at/600").await.ok().new_cookie();
    assert_lifetime(&set, 600);
    let later = c.get("/insert/k/w").await.ok().new_cookie();
    assert_lifetime(&later, 600);
    let (Some(e1), Some(e2)) = (set.expires, later.expires) else {
        panic!("Expires missing");
    };
    let drift = match e2.duration_since(e1) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        drift <= Duration::from_secs(1),
        "a fixed date does not move"
    );
}

/// D4: `set_expiry(BrowserSession)` sends a cookie with neither Max-Age nor Expires;
/// the session still works.
pub async fn set_expiry_browser_session_sends_no_max_age_or_expires(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let set = c.get("/expiry/browser").await.ok().new_cookie();
    assert_eq!(set.max_age, None, "{}", set.raw);
    assert_eq!(set.expires, None, "{}", set.raw);
    let set = c.get("/insert/k/w").await.ok().new_cookie();
    assert_eq!(
        set.max_age, None,
        "stays a browser-session cookie: {}",
        set.raw
    );
    assert_eq!(c.get("/get/k").await.ok().body, "w");
}

/// D5/D6: `set_expiry(Default)` returns to the configured idle timeout.
pub async fn set_expiry_default_restores_the_configured_age(subject: Subject) {
    let mut c = subject.client_of(
        subject
            .builder()
            .with_idle_timeout(time::Duration::hours(1)),
    );
    c.get("/insert/k/v").await.ok().new_cookie();
    assert_lifetime(&c.get("/expiry/idle/60").await.ok().new_cookie(), 60);
    assert_lifetime(&c.get("/expiry/default").await.ok().new_cookie(), 3600);
    c.get("/expiry/browser").await.ok().new_cookie();
    assert_lifetime(&c.get("/expiry/default").await.ok().new_cookie(), 3600);
}

/// D8: a session is gone once its idle timeout has passed, even for a client that
/// keeps replaying the cookie.
pub async fn idle_session_expires_after_the_idle_timeout(subject: Subject) {
    let mut c = subject.client_of(
        subject
            .builder()
            .with_idle_timeout(time::Duration::seconds(1)),
    );
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    assert_lifetime(&set, 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = c.get("/get/k").await.ok();
    assert_eq!(r.body, NONE, "expired");
    assert_eq!(c.get("/id").await.ok().body, NONE);
    let fresh = c.get("/insert/k/new").await.ok().new_cookie();
    assert_ne!(Some(fresh.value.as_str()), Some(set.value.as_str()));
}

/// Wall-clock marks counted from a whole second.
///
/// Stores may keep timestamps in whole seconds (the record codec does, and so does the
/// cookie store's payload), which moves an expiry up to a second earlier than computed.
/// Timed cases therefore start right after a whole second and do each save shortly
/// after one, so that this rounding cannot decide the outcome.
#[derive(Debug, Clone, Copy)]
pub struct SecondMarks {
    start: OffsetDateTime,
}

impl SecondMarks {
    /// Sleeps until 20 ms past the next whole second, which becomes mark 0.
    pub async fn start() -> Self {
        let now = OffsetDateTime::now_utc();
        let start = now - time::Duration::nanoseconds(i64::from(now.nanosecond()))
            + time::Duration::milliseconds(1020);
        let marks = Self { start };
        marks.at(0.0).await;
        marks
    }

    /// Sleeps until `secs` seconds after mark 0 (at once if that has passed).
    pub async fn at(&self, secs: f64) {
        let target = self.start + time::Duration::seconds_f64(secs);
        let left = target - OffsetDateTime::now_utc();
        if let Ok(left) = Duration::try_from(left) {
            tokio::time::sleep(left).await;
        }
    }
}

/// D10/D12: with a 2 s idle timeout, a session only read at 1 s is gone at 2.2 s
/// (reading does not extend it, and sends no cookie), while one written at 1 s is still
/// there at 2.2 s (a write slides the expiry).
pub async fn reading_does_not_extend_the_session_but_writing_does(subject: Subject) {
    let builder = || {
        subject
            .builder()
            .with_idle_timeout(time::Duration::seconds(2))
    };
    let (mut reader, mut writer) = (subject.client_of(builder()), subject.client_of(builder()));
    let marks = SecondMarks::start().await;
    reader.get("/insert/k/v").await.ok().new_cookie();
    writer.get("/insert/k/v").await.ok().new_cookie();
    marks.at(1.0).await;
    let r = reader.get("/get/k").await.ok();
    assert_eq!(r.body, "v");
    assert!(r.session_cookie().is_none(), "a read sends no cookie");
    let set = writer.get("/insert/k/w").await.ok().new_cookie();
    assert_lifetime(&set, 2);
    marks.at(2.2).await;
    assert_eq!(
        reader.get("/get/k").await.ok().body,
        NONE,
        "the read did not extend it"
    );
    assert_eq!(
        writer.get("/get/k").await.ok().body,
        "w",
        "the write extended it"
    );
}

/// The absolute lifetime caps the idle timeout: with 1 h idle and 2 s absolute, the
/// cookie says 2 s, a write at 1 s does not extend past creation + 2 s (Max-Age about
/// 1, never the idle hour), and the session is gone at 2.2 s.
pub async fn absolute_lifetime_caps_the_idle_timeout(subject: Subject) {
    let mut c = subject.client_of(
        subject
            .builder()
            .with_idle_timeout(time::Duration::hours(1))
            .with_absolute_lifetime(Some(time::Duration::seconds(2))),
    );
    let marks = SecondMarks::start().await;
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    assert_lifetime(&set, 2);
    marks.at(1.0).await;
    let set = c.get("/insert/k/w").await.ok().new_cookie();
    assert_lifetime(&set, 1);
    marks.at(2.2).await;
    assert_eq!(c.get("/get/k").await.ok().body, NONE);
}
