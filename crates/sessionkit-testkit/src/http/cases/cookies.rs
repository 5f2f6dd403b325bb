//! Cookie name and attributes (catalogue sections D1, D9, E).

use sessionkit::{ConfigError, SameSite};

use crate::http::app::app;
use crate::http::client::{Client, SetCookie};
use crate::http::{build, Subject};

/// Asserts that `Max-Age` is `expected` seconds (±1) and `Expires` agrees (±2 s).
///
/// # Panics
///
/// When either is missing or off.
pub fn assert_lifetime(cookie: &SetCookie, expected: i64) {
    let age = cookie
        .max_age
        .unwrap_or_else(|| panic!("no Max-Age in {}", cookie.raw));
    assert!(
        (age - expected).abs() <= 1,
        "Max-Age {age}, expected {expected}: {}",
        cookie.raw
    );
    let expires = cookie
        .expires_in()
        .unwrap_or_else(|| panic!("no Expires in {}", cookie.raw));
    assert!(
        (expires - age as f64).abs() <= 2.0,
        "Expires is {expires:.1} s away but Max-Age is {age}: {}",
        cookie.raw
    );
}

/// D1/D9/E1-E6/E9: the default cookie is `id`, HttpOnly, Secure, SameSite=Lax,
/// Path=/, host-only, not partitioned, with Max-Age = the idle timeout (14 days) and an
/// Expires that agrees.
pub async fn default_cookie_attributes_are_safe(subject: Subject) {
    let mut c = subject.client();
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    assert_eq!(set.name, "id", "{}", set.raw);
    assert!(set.http_only, "{}", set.raw);
    assert!(set.secure, "{}", set.raw);
    assert_eq!(set.same_site.as_deref(), Some("Lax"), "{}", set.raw);
    assert_eq!(set.path.as_deref(), Some("/"), "{}", set.raw);
    assert_eq!(set.domain, None, "host-only: {}", set.raw);
    assert!(!set.partitioned, "{}", set.raw);
    assert_lifetime(&set, 14 * 24 * 3600);
    let set = c.get("/insert/k/w").await.ok().new_cookie();
    assert_lifetime(&set, 14 * 24 * 3600);
    let mut short = subject.client_of(
        subject
            .builder()
            .with_idle_timeout(time::Duration::minutes(30)),
    );
    let set = short.get("/insert/k/v").await.ok().new_cookie();
    assert_lifetime(&set, 1800);
}

struct Attributes {
    name: &'static str,
    path: &'static str,
    domain: Option<&'static str>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    partitioned: bool,
}

/// E1–E8: every attribute is configurable (name, Path, Domain, Secure, HttpOnly,
/// SameSite, Partitioned) and the removal cookie carries the same ones.
pub async fn every_cookie_attribute_is_configurable_on_set_and_removal_cookies(subject: Subject) {
    let configs = [
        Attributes {
            name: "sid",
            path: "/app",
            domain: Some("example.com"),
            secure: true,
            http_only: false,
            same_site: Some(SameSite::Strict),
            partitioned: true,
        },
        Attributes {
            name: "__Secure-session",
            path: "/",
            domain: None,
            secure: true,
            http_only: true,
            same_site: Some(SameSite::None),
            partitioned: false,
        },
        Attributes {
            name: "plain",
            path: "/",
            domain: Some("sub.example.org"),
            secure: false,
            http_only: true,
            same_site: None,
            partitioned: false,
        },
        Attributes {
            name: "__Host-id",
            path: "/",
            domain: None,
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            partitioned: true,
        },
    ];
    for a in configs {
        let builder = subject
            .builder()
            .with_name(a.name)
            .with_path(a.path)
            .with_domain(a.domain)
            .with_secure(a.secure)
            .with_http_only(a.http_only)
            .with_same_site(a.same_site)
            .with_partitioned(a.partitioned);
        let mut c = Client::named(app(build(builder)), a.name);
        let under = |route: &str| format!("{}{route}", a.path.trim_end_matches('/'));
        let set = c.get(&under("/insert/k/v")).await.ok().new_cookie();
        let removal = c.get(&under("/clear")).await.ok().removal_cookie();
        let same_site = a.same_site.map(|s| s.to_string());
        for cookie in [&set, &removal] {
            assert_eq!(cookie.name, a.name, "{}", cookie.raw);
            assert_eq!(cookie.path.as_deref(), Some(a.path), "{}", cookie.raw);
            assert_eq!(cookie.domain.as_deref(), a.domain, "{}", cookie.raw);
            assert_eq!(cookie.secure, a.secure, "{}", cookie.raw);
            assert_eq!(cookie.http_only, a.http_only, "{}", cookie.raw);
            assert_eq!(cookie.same_site, same_site, "{}", cookie.raw);
            assert_eq!(cookie.partitioned, a.partitioned, "{}", cookie.raw);
        }
        assert_eq!(removal.max_age, Some(0), "{}", removal.raw);
        assert!(
            removal.expires_in().is_some_and(|s| s < 0.0),
            "{}",
            removal.raw
        );
        let other = c.get_anonymous(&under("/get/k")).await.ok();
        assert!(other.session_cookie().is_none());
    }
}

/// E10: a cookie the handler sets itself survives next to the session cookie, on the
/// response that creates the session and on one that renews it.
pub async fn handler_set_cookie_headers_survive_next_to_the_session_cookie(subject: Subject) {
    let mut c = subject.client();
    for (round, value) in [("creates", "v"), ("renews", "w")] {
        let r = c.get(&format!("/own_cookie/k/{value}")).await.ok();
        let all = r.set_cookies();
        let theme = all.iter().find(|c| c.name == "theme");
        assert!(
            theme.is_some_and(|t| t.raw.starts_with("theme=dark")),
            "{round}: {all:?}"
        );
        assert!(r.session_cookie().is_some(), "{round}: {all:?}");
        assert_eq!(all.len(), 2, "{round}: {all:?}");
    }
    assert_eq!(c.get("/get/k").await.ok().body, "w");
}

/// E7/config: invalid cookie settings are refused when the layer is built, with an
/// error naming the problem (`__Host-` needs Secure, Path=/ and no Domain; `__Secure-`
/// needs Secure; SameSite=None and Partitioned need Secure; a positive idle timeout and
/// absolute lifetime, a touch threshold that is not negative; a Domain and a Path that
/// cannot smuggle attributes or bytes into the header).
pub async fn invalid_cookie_settings_are_refused_at_build_time(subject: Subject) {
    let host = || subject.builder().with_name("__Host-id");
    let refused = [
        (
            host().with_domain(Some("example.com")).build().err(),
            ConfigError::HostPrefix,
        ),
        (
            host().with_path("/app").build().err(),
            ConfigError::HostPrefix,
        ),
        (
            host().with_secure(false).build().err(),
            ConfigError::HostPrefix,
        ),
        (
            subject
                .builder()
                .with_name("__Secure-id")
                .with_secure(false)
                .build()
                .err(),
            ConfigError::SecurePrefix,
        ),
        (
            subject
                .builder()
                .with_secure(false)
                .with_same_site(Some(SameSite::None))
                .build()
                .err(),
            ConfigError::SameSiteNoneWithoutSecure,
        ),
        (
            subject
                .builder()
                .with_secure(false)
                .with_partitioned(true)
                .build()
                .err(),
            ConfigError::PartitionedWithoutSecure,
        ),
        (
            subject.builder().with_path("app").build().err(),
            ConfigError::InvalidPath,
        ),
        (
            subject
                .builder()
                .with_idle_timeout(time::Duration::ZERO)
                .build()
                .err(),
            ConfigError::InvalidTimeout,
        ),
        (
            subject
                .builder()
                .with_absolute_lifetime(Some(time::Duration::seconds(-5)))
                .build()
                .err(),
            ConfigError::InvalidLifetime,
        ),
        (
            subject
                .builder()
                .with_touch_after(Some(time::Duration::seconds(-1)))
                .build()
                .err(),
            ConfigError::InvalidTouchAfter,
        ),
        (
            subject
                .builder()
                .with_domain(Some("a.com; Domain=evil.com"))
                .build()
                .err(),
            ConfigError::InvalidDomain("a.com; Domain=evil.com".into()),
        ),
        (
            subject.builder().with_path("/café").build().err(),
            ConfigError::InvalidPath,
        ),
    ];
    for (got, want) in refused {
        assert_eq!(got.as_ref(), Some(&want), "expected {want}");
    }
    for name in ["", "a b", "semi;colon", "é"] {
        assert!(
            matches!(
                subject.builder().with_name(name).build().err(),
                Some(ConfigError::InvalidName(_))
            ),
            "{name:?}"
        );
    }
    assert!(
        host().build().is_ok(),
        "a correct __Host- cookie is accepted"
    );
}

/// D10 (global): with browser-session cookies switched on, cookies carry no Max-Age or
/// Expires unless a session sets its own expiry.
pub async fn browser_session_setting_sends_cookies_without_max_age(subject: Subject) {
    let mut c = subject.client_of(subject.builder().with_browser_session(true));
    let set = c.get("/insert/k/v").await.ok().new_cookie();
    assert_eq!(set.max_age, None, "{}", set.raw);
    assert_eq!(set.expires, None, "{}", set.raw);
    let set = c.get("/expiry/idle/300").await.ok().new_cookie();
    assert_lifetime(&set, 300);
    assert_eq!(c.get("/get/k").await.ok().body, "v");
}
