//! The session cookie's name and attributes, and the headers that carry it.

use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue};
use sessionkit_core::CookieLifetime;
use time::OffsetDateTime;

/// Longest cookie value the layer looks at; anything longer is ignored as garbage.
const MAX_INCOMING_VALUE: usize = 8192;

/// `value` if it can be a session cookie's: not empty, not oversized.
fn usable(value: &str) -> Option<&str> {
    (!value.is_empty() && value.len() <= MAX_INCOMING_VALUE).then_some(value)
}

/// `value` without the double quotes at either end (any number of them).
fn unquoted(value: &str) -> &str {
    let start = value.bytes().position(|b| b != b'"').unwrap_or(value.len());
    let end = value
        .bytes()
        .rposition(|b| b != b'"')
        .map_or(start, |last| last + 1);
    &value[start..end]
}

/// Why a configuration was refused at startup.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is empty or has characters a cookie name cannot have.
    #[error("invalid session cookie name {0:?}: use letters, digits and !#$%&'*+-.^_`|~")]
    InvalidName(String),
    /// A `__Host-` cookie must be Secure, have Path=/ and no Domain.
    #[error("a `__Host-` cookie must be Secure, with Path=/ and no Domain")]
    HostPrefix,
    /// A `__Secure-` cookie must be Secure.
    #[error("a `__Secure-` cookie must be Secure")]
    SecurePrefix,
    /// Browsers reject `SameSite=None` without `Secure`.
    #[error("SameSite=None requires Secure")]
    SameSiteNoneWithoutSecure,
    /// Partitioned cookies must be Secure.
    #[error("a Partitioned cookie must be Secure")]
    PartitionedWithoutSecure,
    /// The path must start with `/` and hold only visible ASCII (or spaces) without `;`.
    #[error(
        "cookie path must start with '/' and hold only visible ASCII characters other than ';'"
    )]
    InvalidPath,
    /// The domain must be a host name: letters, digits, `-` and `.` only.
    #[error("invalid cookie domain {0:?}: use a host name (letters, digits, '-' and '.')")]
    InvalidDomain(String),
    /// A header name is not valid.
    #[error("invalid header name {0:?}")]
    InvalidHeader(String),
    /// The idle timeout must be positive.
    #[error("the idle timeout must be positive")]
    InvalidTimeout,
    /// The absolute lifetime, when set, must be positive.
    #[error("the absolute lifetime must be positive (or none)")]
    InvalidLifetime,
    /// The touch threshold, when set, must not be negative.
    #[error("touch_after must not be negative")]
    InvalidTouchAfter,
}

/// Name and attributes of the session cookie. Defaults are the safe ones: `id`,
/// `Path=/`, host-only, `HttpOnly`, `Secure`, `SameSite=Lax`, not partitioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name.
    pub name: String,
    /// `Path` attribute.
    pub path: String,
    /// `Domain` attribute; `None` for a host-only cookie.
    pub domain: Option<String>,
    /// `Secure` attribute.
    pub secure: bool,
    /// `HttpOnly` attribute.
    pub http_only: bool,
    /// `SameSite` attribute; `None` to omit it.
    pub same_site: Option<SameSite>,
    /// `Partitioned` attribute (CHIPS).
    pub partitioned: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "id".to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            partitioned: false,
        }
    }
}

impl CookieConfig {
    /// Checks the combination of name and attributes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if self.name.is_empty() || !self.name.chars().all(token) {
            return Err(ConfigError::InvalidName(self.name.clone()));
        }
        // RFC 6265's path-value: any CHAR (US-ASCII) but controls and ';'.
        let path_char = |c: char| (' '..='~').contains(&c) && c != ';';
        if !self.path.starts_with('/') || !self.path.chars().all(path_char) {
            return Err(ConfigError::InvalidPath);
        }
        if let Some(domain) = &self.domain {
            let host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
            if domain.trim_start_matches('.').is_empty() || !domain.chars().all(host_char) {
                return Err(ConfigError::InvalidDomain(domain.clone()));
            }
        }
        if self.name.starts_with("__Host-")
            && (!self.secure || self.path != "/" || self.domain.is_some())
        {
            return Err(ConfigError::HostPrefix);
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(ConfigError::SecurePrefix);
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(ConfigError::SameSiteNoneWithoutSecure);
        }
        if self.partitioned && !self.secure {
            return Err(ConfigError::PartitionedWithoutSecure);
        }
        Ok(())
    }

    /// The value of the first cookie named exactly like the session cookie, across
    /// every `Cookie` header. Oversized values are ignored.
    pub(crate) fn find<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.values(headers).next()
    }

    /// Every value of a cookie named exactly like the session cookie, across every
    /// `Cookie` header, in the order sent. A browser sends two when another site of
    /// the domain (or a longer `Path`) set a cookie of the same name: the session's
    /// is the one that reads, not necessarily the first.
    pub(crate) fn values<'a, 'h: 'a>(
        &'a self,
        headers: &'h HeaderMap,
    ) -> impl Iterator<Item = &'h str> + 'a {
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .flat_map(move |header| self.values_in(header))
    }

    /// [`CookieConfig::values`] within one `Cookie` header: each pair named exactly
    /// like the session cookie, its value without surrounding blanks and quotes. It is
    /// read byte by byte, pair by pair, so that a header with bytes outside visible
    /// ASCII (another cookie's UTF-8 value, `lang=café`) does not hide the session
    /// cookie; a pair of this name whose own value has such bytes is skipped (no
    /// session id has them), as are oversized values.
    pub(crate) fn values_in<'a, 'h: 'a>(
        &'a self,
        header: &'h HeaderValue,
    ) -> impl Iterator<Item = &'h str> + 'a {
        header
            .as_bytes()
            .split(|&b| b == b';')
            .filter_map(move |pair| {
                // A valid cookie name has no '=', so this is "the name, then '='".
                let value = pair
                    .trim_ascii_start()
                    .strip_prefix(self.name.as_bytes())?
                    .strip_prefix(b"=")?
                    .trim_ascii();
                let visible = value
                    .iter()
                    .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
                let value = std::str::from_utf8(value).ok().filter(|_| visible)?;
                usable(unquoted(value))
            })
    }

    fn build<'c>(&self, value: String) -> cookie::CookieBuilder<'c> {
        let mut b = Cookie::build((self.name.clone(), value))
            .path(self.path.clone())
            .secure(self.secure)
            .http_only(self.http_only)
            .partitioned(self.partitioned);
        if let Some(same_site) = self.same_site {
            b = b.same_site(same_site);
        }
        if let Some(domain) = &self.domain {
            b = b.domain(domain.clone());
        }
        b
    }

    /// `Set-Cookie` value carrying `value` for `lifetime`, formatted entirely by the
    /// `cookie` crate ([`SetCookieWriter`] is the fast path; tests hold them equal).
    #[cfg(test)]
    fn set_cookie_by_crate(&self, value: String, lifetime: CookieLifetime) -> String {
        let b = self.build(value);
        let b = match lifetime {
            CookieLifetime::BrowserSession => b,
            CookieLifetime::Until(at) => b.max_age(max_age(at)).expires(at),
        };
        b.build().to_string()
    }

    /// `Set-Cookie` value that deletes the cookie (same name, path, domain, flags).
    pub(crate) fn removal_cookie(&self) -> String {
        self.build(String::new())
            .max_age(time::Duration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build()
            .to_string()
    }
}

/// `Max-Age` for a cookie expiring at `at`: whole seconds from now, rounded, never
/// negative.
fn max_age(at: OffsetDateTime) -> time::Duration {
    let age = (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
    time::Duration::seconds((age + time::Duration::milliseconds(500)).whole_seconds())
}

/// Writes `Set-Cookie` values for one configuration. The `cookie` crate formats the
/// attributes once, and an `Expires` date at most once per second (a save every
/// request would otherwise format both every time); what is written is exactly what
/// the crate would write.
#[derive(Debug)]
pub(crate) struct SetCookieWriter {
    name: String,
    /// `; HttpOnly; SameSite=…; Secure; Path=…; Domain=…` as the crate orders them,
    /// before which it writes nothing else and after which `Max-Age` and `Expires`.
    attributes: String,
    /// The last `Expires` date written, by its Unix second.
    expires: std::sync::Mutex<(i64, String)>,
}

impl SetCookieWriter {
    pub(crate) fn new(config: &CookieConfig) -> Self {
        let bare = config.build(String::new()).build().to_string();
        let attributes = bare
            .get(config.name.len() + 1..)
            .unwrap_or_default()
            .to_owned();
        Self {
            name: config.name.clone(),
            attributes,
            expires: std::sync::Mutex::new((i64::MIN, String::new())),
        }
    }

    /// `Set-Cookie` value carrying `value` for `lifetime`.
    pub(crate) fn set_cookie(&self, value: &str, lifetime: CookieLifetime) -> String {
        use std::fmt::Write as _;
        let mut out =
            String::with_capacity(self.name.len() + value.len() + self.attributes.len() + 64);
        out.push_str(&self.name);
        out.push('=');
        out.push_str(value);
        out.push_str(&self.attributes);
        if let CookieLifetime::Until(at) = lifetime {
            let _ = write!(out, "; Max-Age={}", max_age(at).whole_seconds());
            out.push_str("; Expires=");
            self.write_date(&mut out, at);
        }
        out
    }

    fn write_date(&self, out: &mut String, at: OffsetDateTime) {
        let second = at.unix_timestamp();
        let mut last = self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.0 != second {
            let formatted = Cookie::build(("n", "")).expires(at).build().to_string();
            let date = formatted
                .split_once("; Expires=")
                .map_or_else(String::new, |(_, date)| date.to_owned());
            *last = (second, date);
        }
        out.push_str(&last.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn defaults_are_safe_and_valid() {
        let c = CookieConfig::default();
        assert_eq!(c.validate(), Ok(()));
        let set = SetCookieWriter::new(&c).set_cookie("v", CookieLifetime::BrowserSession);
        for attr in ["id=v", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(set.contains(attr), "{set}");
        }
        assert!(!set.contains("Domain"));
        assert!(!set.contains("Max-Age"));
        assert!(!set.contains("Expires"));
    }

    #[test]
    fn invalid_combinations_are_config_errors() {
        fn bad(f: impl FnOnce(&mut CookieConfig)) -> Result<(), ConfigError> {
            let mut c = CookieConfig::default();
            f(&mut c);
            c.validate()
        }
        assert!(matches!(
            bad(|c| c.name = "a b".into()),
            Err(ConfigError::InvalidName(_))
        ));
        assert!(matches!(
            bad(|c| c.name = String::new()),
            Err(ConfigError::InvalidName(_))
        ));
        assert_eq!(
            bad(|c| {
                c.name = "__Host-id".into();
                c.domain = Some("example.com".into())
            }),
            Err(ConfigError::HostPrefix)
        );
        assert_eq!(
            bad(|c| {
                c.name = "__Host-id".into();
                c.path = "/app".into()
            }),
            Err(ConfigError::HostPrefix)
        );
        assert_eq!(
            bad(|c| {
                c.name = "__Secure-id".into();
                c.secure = false
            }),
            Err(ConfigError::SecurePrefix)
        );
        assert_eq!(
            bad(|c| {
                c.same_site = Some(SameSite::None);
                c.secure = false
            }),
            Err(ConfigError::SameSiteNoneWithoutSecure)
        );
        assert_eq!(
            bad(|c| {
                c.partitioned = true;
                c.secure = false
            }),
            Err(ConfigError::PartitionedWithoutSecure)
        );
        assert_eq!(
            bad(|c| c.path = "app".into()),
            Err(ConfigError::InvalidPath)
        );
        for path in ["/a;b", "/café", "/a\r\nX-Evil: 1", "/tab\t"] {
            assert_eq!(
                bad(|c| c.path = path.into()),
                Err(ConfigError::InvalidPath),
                "{path:?}"
            );
        }
        for domain in [
            "a.com; Domain=evil.com",
            "a.com\r\nX: y",
            "",
            ".",
            "exämple.com",
            "a com",
        ] {
            assert_eq!(
                bad(|c| c.domain = Some(domain.into())),
                Err(ConfigError::InvalidDomain(domain.into())),
                "{domain:?}"
            );
        }
        for domain in [
            "example.com",
            ".example.com",
            "shop-1.example.co.uk",
            "localhost",
        ] {
            assert_eq!(bad(|c| c.domain = Some(domain.into())), Ok(()), "{domain}");
        }
        assert_eq!(bad(|c| c.path = "/shop/a b".into()), Ok(()));
        assert_eq!(bad(|c| c.name = "__Host-id".into()), Ok(()));
    }

    #[test]
    fn only_the_exactly_named_cookie_is_read_first_one_wins() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; idx=2; xid=3"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("b=2; id=first; id=second"),
        );
        assert_eq!(c.find(&h), Some("first"));
        let mut big = HeaderMap::new();
        let huge = format!("id={}", "A".repeat(9000));
        big.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&huge).expect("ascii"),
        );
        assert_eq!(c.find(&big), None);
    }

    #[test]
    fn the_cookie_value_is_read_without_blanks_and_quotes_and_the_name_must_match_exactly() {
        let c = CookieConfig::default();
        let find = |header: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::COOKIE, HeaderValue::from_static(header));
            c.find(&h).map(str::to_owned)
        };
        assert_eq!(find("id=abc").as_deref(), Some("abc"));
        assert_eq!(find(" \tid= abc ;x=1").as_deref(), Some("abc"));
        assert_eq!(find("x=1;id=\"abc\"").as_deref(), Some("abc"));
        assert_eq!(find("id=\"\"abc\"").as_deref(), Some("abc"));
        assert_eq!(find("id=a=b").as_deref(), Some("a=b"));
        // Blank before '=' is part of the name; nothing else is called "id" here.
        assert_eq!(find("id =abc"), None);
        assert_eq!(find("ID=abc"), None);
        assert_eq!(find("id"), None);
        // An empty or quotes-only value is no value: the next pair named "id" is read.
        assert_eq!(find("id=; id=abc").as_deref(), Some("abc"));
        assert_eq!(find("id=\"\"; id=abc").as_deref(), Some("abc"));
        assert_eq!(find("id=\"\"\""), None);
        assert_eq!(find(""), None);
    }

    #[test]
    fn a_cookie_header_that_is_not_visible_ascii_is_skipped_not_misread() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_bytes("id=caf\u{e9}".as_bytes()).expect("a header value"),
        );
        h.append(http::header::COOKIE, HeaderValue::from_static("id=second"));
        assert_eq!(c.find(&h), Some("second"));
    }

    #[test]
    fn another_cookies_non_ascii_bytes_do_not_hide_the_session_cookie() {
        let c = CookieConfig::default();
        for header in [
            &b"id=abc; lang=caf\xc3\xa9"[..],
            b"lang=caf\xc3\xa9; id=abc",
            b"x=\xff\xfe\x80; id=abc; y=\xe9",
            b"id=caf\xc3\xa9; id=abc",
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::COOKIE,
                HeaderValue::from_bytes(header).expect("a header value"),
            );
            assert_eq!(
                c.find(&h),
                Some("abc"),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
    }

    #[test]
    fn removal_cookie_keeps_attributes_and_expires_in_the_past() {
        let c = CookieConfig {
            domain: Some("example.com".into()),
            path: "/app".into(),
            partitioned: true,
            ..Default::default()
        };
        let r = c.removal_cookie();
        for attr in [
            "id=",
            "Max-Age=0",
            "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "Domain=example.com",
            "Path=/app",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Partitioned",
        ] {
            assert!(r.contains(attr), "{attr} missing in {r}");
        }
    }

    #[test]
    fn persistent_cookie_max_age_and_expires_agree() {
        let at = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let s = SetCookieWriter::new(&CookieConfig::default())
            .set_cookie("v", CookieLifetime::Until(at));
        assert!(s.contains("Max-Age=3600"), "{s}");
        assert!(s.contains("Expires="), "{s}");
    }

    #[test]
    fn set_cookie_writer_writes_exactly_what_the_cookie_crate_writes() {
        let configs = [
            CookieConfig::default(),
            CookieConfig {
                name: "__Host-s".into(),
                same_site: Some(SameSite::Strict),
                partitioned: true,
                ..Default::default()
            },
            CookieConfig {
                name: "sid".into(),
                path: "/app".into(),
                domain: Some("example.com".into()),
                secure: false,
                http_only: false,
                same_site: None,
                partitioned: false,
            },
        ];
        let now = OffsetDateTime::now_utc();
        for c in configs {
            let writer = SetCookieWriter::new(&c);
            for lifetime in [
                CookieLifetime::BrowserSession,
                CookieLifetime::Until(now + time::Duration::days(14)),
                CookieLifetime::Until(now + time::Duration::days(14)),
                CookieLifetime::Until(now + time::Duration::seconds(90)),
                CookieLifetime::Until(now - time::Duration::hours(1)),
            ] {
                assert_eq!(
                    writer.set_cookie("abc.DEF-123", lifetime),
                    c.set_cookie_by_crate("abc.DEF-123".into(), lifetime),
                );
            }
        }
    }
}
