//! Expiry over HTTP (catalogue section D). The client's jar replays cookies past their
//! Max-Age, so every "gone" here is checked on the server side too.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::http::app::NONE;
use crate::http::cases::cookies::assert_lifetime;
use crate::http::client::Client;
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

/// D5: `set_expiry(BrowserSession)` sends a cookie with neither Max-Age nor Expires;
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

/// An idle timeout too long for the calendar (`Duration::MAX` as "no timeout") stores
/// the session until the last representable date and sends a cookie for it: no panic,
/// no store error (Memcached's 32-bit expiry times make it "never" there).
pub async fn an_endless_idle_timeout_keeps_the_session_without_a_panic(subject: Subject) {
    let endless = subject
        .builder()
        .with_idle_timeout(time::Duration::MAX)
        .with_absolute_lifetime(None);
    let mut c = subject.client_of(endless);
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    assert!(
        set.max_age.is_some_and(|age| age > 100 * 365 * 24 * 3600),
        "{}",
        set.raw
    );
    assert_eq!(c.get("/get/k").await.ok().body, "v");
    assert_eq!(c.get("/insert/k/w").await.ok().body, "ok");
    assert_eq!(c.get("/get/k").await.ok().body, "w");
}

/// D6: `set_expiry(Default)` returns to the configured idle timeout.
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

/// D11/D12: with a 2 s idle timeout, a session only read at 1 s is gone at 2.2 s
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

/// What `/expiry/show` reports: `expiry_age` in whole seconds, `expiry_date` in Unix
/// seconds, and `expires_at_browser_close`.
async fn shown_expiry(c: &mut Client) -> (i64, i64, bool) {
    let body = c.get("/expiry/show").await.ok().body;
    let parsed = match body.split(' ').collect::<Vec<_>>()[..] {
        [age, date, browser] => age
            .parse()
            .ok()
            .zip(date.parse().ok())
            .zip(browser.parse().ok())
            .map(|((age, date), browser)| (age, date, browser)),
        _ => None,
    };
    parsed.unwrap_or_else(|| panic!("/expiry/show: {body:?}"))
}

fn unix_seconds(at: SystemTime) -> i64 {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("cookie dates are after 1970");
    i64::try_from(since.as_secs()).expect("a cookie date fits in i64")
}

/// D2: the getters agree with the cookie. By default `expiry_age` is the idle timeout
/// (14 days); after `set_expiry(Idle(60 s))` it is about 60 s, `expiry_date` is the
/// cookie's `Expires` (about now + 60 s, Max-Age=60) and `expires_at_browser_close`
/// is false; after `set_expiry(BrowserSession)` it is true and the cookie has neither
/// Max-Age nor Expires.
pub async fn set_expiry_getters_agree_with_the_cookie(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let (age, _, browser) = shown_expiry(&mut c).await;
    assert!((age - 14 * 86_400).abs() <= 2, "default age {age}");
    assert!(!browser, "a persistent cookie by default");

    let set = c.get("/expiry/idle/60").await.ok().new_cookie();
    assert_lifetime(&set, 60);
    let cookie_expires = unix_seconds(set.expires.expect("assert_lifetime saw Expires"));
    let (age, date, browser) = shown_expiry(&mut c).await;
    assert!((age - 60).abs() <= 1, "expiry_age {age} s, Max-Age 60");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (date - (now + 60)).abs() <= 2,
        "expiry_date {date}, now {now}"
    );
    assert!(
        (date - cookie_expires).abs() <= 2,
        "expiry_date {date}, cookie Expires {cookie_expires}: {}",
        set.raw
    );
    assert!(!browser, "an idle expiry is not a browser-session cookie");

    let set = c.get("/expiry/browser").await.ok().new_cookie();
    assert_eq!(set.max_age, None, "{}", set.raw);
    assert_eq!(set.expires, None, "{}", set.raw);
    let (_, _, browser) = shown_expiry(&mut c).await;
    assert!(
        browser,
        "expires_at_browser_close after set_expiry(BrowserSession)"
    );
}

/// D2/D8: a per-session idle expiry of one second (`set_expiry(Idle(1 s))`, the app
/// keeping its 14-day default) ends that session after a second: still there at
/// 0.4 s, gone at 1.3 s, even for a client that keeps replaying the cookie.
pub async fn per_session_idle_expiry_ends_the_session_after_n_seconds(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let marks = SecondMarks::start().await;
    let set = c.get("/expiry/idle/1").await.ok().new_cookie();
    assert_lifetime(&set, 1);
    marks.at(0.4).await;
    assert_eq!(c.get("/get/k").await.ok().body, "v", "not expired yet");
    marks.at(1.3).await;
    assert_eq!(c.get("/get/k").await.ok().body, NONE, "expired");
    assert_eq!(c.get("/id").await.ok().body, NONE);
}

/// D7: `set_expiry` with a date in the past (`/expiry/at/-10`: ten seconds ago) ends
/// the session at once: the response removes the cookie (or sends Max-Age=0), the
/// jar's next request is empty, and (server stores) the old cookie replayed finds
/// nothing.
pub async fn set_expiry_in_the_past_ends_the_session_at_once(subject: Subject) {
    let mut c = subject.client();
    c.get("/insert/k/v").await.ok().new_cookie();
    let old = c.expect_cookie();
    let r = c.get("/expiry/at/-10").await.ok();
    let ended = r
        .session_cookie()
        .unwrap_or_else(|| panic!("the response must end the cookie (body {:?})", r.body));
    assert!(ended.is_removal(), "{}", ended.raw);
    assert!(c.cookie().is_none(), "the jar dropped the cookie");
    assert_eq!(c.get("/get/k").await.ok().body, NONE);
    if subject.skip_cookie_store("cannot revoke the cookie it issued before (by nature)") {
        return;
    }
    assert_eq!(c.get_as("/get/k", &old).await.ok().body, NONE);
    assert_eq!(c.get_as("/id", &old).await.ok().body, NONE);
}
