//! A socket-free client for the test application: requests through
//! `tower::ServiceExt::oneshot`, a one-cookie jar, and a `Set-Cookie` parser that does
//! not share code with the `cookie` crate the layer writes with.
//!
//! The jar never drops a cookie because its `Max-Age` has passed: every expiry test is
//! therefore also a replay test (a client that ignores `Expires` still gets nothing).

use std::time::SystemTime;

use axum::body::Body;
use axum::http::header::{COOKIE, SET_COOKIE, USER_AGENT, VARY};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The default session cookie name.
pub const DEFAULT_NAME: &str = "id";

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The whole header, as sent.
    pub raw: String,
    /// Cookie name.
    pub name: String,
    /// Cookie value (surrounding quotes removed).
    pub value: String,
    /// `Max-Age`, in seconds.
    pub max_age: Option<i64>,
    /// `Expires`, parsed as an HTTP date.
    pub expires: Option<SystemTime>,
    /// `Path`.
    pub path: Option<String>,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Secure` is present.
    pub secure: bool,
    /// `HttpOnly` is present.
    pub http_only: bool,
    /// `SameSite` value as sent (`Lax`, `Strict`, `None`).
    pub same_site: Option<String>,
    /// `Partitioned` is present.
    pub partitioned: bool,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header value (RFC 6265 section 5.2, attributes matched
    /// case-insensitively). `None` when there is no `name=value` pair.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let mut cookie = Self {
            raw: raw.to_owned(),
            name: name.trim().to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            max_age: None,
            expires: None,
            path: None,
            domain: None,
            secure: false,
            http_only: false,
            same_site: None,
            partitioned: false,
        };
        if cookie.name.is_empty() {
            return None;
        }
        for attr in parts {
            let (key, val) = match attr.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (attr.trim(), None),
            };
            match (key.to_ascii_lowercase().as_str(), val) {
                ("max-age", Some(v)) => cookie.max_age = v.parse().ok(),
                ("expires", Some(v)) => cookie.expires = httpdate::parse_http_date(v).ok(),
                ("path", Some(v)) => cookie.path = Some(v.to_owned()),
                ("domain", Some(v)) => cookie.domain = Some(v.to_owned()),
                ("samesite", Some(v)) => cookie.same_site = Some(v.to_owned()),
                ("secure", _) => cookie.secure = true,
                ("httponly", _) => cookie.http_only = true,
                ("partitioned", _) => cookie.partitioned = true,
                _ => {}
            }
        }
        Some(cookie)
    }

    /// Whether this header deletes the cookie: an empty value, `Max-Age` of zero or
    /// less, or an `Expires` in the past.
    pub fn is_removal(&self) -> bool {
        self.value.is_empty()
            || self.max_age.is_some_and(|age| age <= 0)
            || self.expires.is_some_and(|at| at <= SystemTime::now())
    }

    /// Seconds from now until `Expires` (negative when past); `None` without `Expires`.
    pub fn expires_in(&self) -> Option<f64> {
        let at = self.expires?;
        Some(match at.duration_since(SystemTime::now()) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        })
    }
}

/// A response, read to the end.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Every header.
    pub headers: HeaderMap,
    /// The body as text (lossy UTF-8).
    pub body: String,
    name: String,
}

impl Reply {
    /// Every `Set-Cookie` header, parsed (unparseable ones are skipped).
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(SetCookie::parse)
            .collect()
    }

    /// The `Set-Cookie` header of the session cookie, if any.
    ///
    /// # Panics
    ///
    /// When the response sets the session cookie more than once (E11: at most one
    /// `Set-Cookie` per cookie name per response).
    pub fn session_cookie(&self) -> Option<SetCookie> {
        let mut mine: Vec<SetCookie> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.name == self.name)
            .collect();
        assert!(
            mine.len() <= 1,
            "a response must set the session cookie at most once, got {:?}",
            mine.iter().map(|c| &c.raw).collect::<Vec<_>>()
        );
        mine.pop()
    }

    /// The session cookie set by this response, which must be a live (non-removal) one.
    ///
    /// # Panics
    ///
    /// When there is none, or it is a removal cookie.
    pub fn new_cookie(&self) -> SetCookie {
        let cookie = self.session_cookie().unwrap_or_else(|| {
            panic!(
                "expected a session Set-Cookie (status {}, body {:?})",
                self.status, self.body
            )
        });
        assert!(
            !cookie.is_removal(),
            "expected a live cookie, got {}",
            cookie.raw
        );
        cookie
    }

    /// The removal cookie set by this response.
    ///
    /// # Panics
    ///
    /// When the response does not remove the session cookie.
    pub fn removal_cookie(&self) -> SetCookie {
        let cookie = self.session_cookie().unwrap_or_else(|| {
            panic!(
                "expected a session removal cookie (status {}, body {:?})",
                self.status, self.body
            )
        });
        assert!(
            cookie.is_removal(),
            "expected a removal cookie, got {}",
            cookie.raw
        );
        cookie
    }

    /// Every `Vary` value, split on commas and trimmed, across all `Vary` headers.
    pub fn vary(&self) -> Vec<String> {
        self.headers
            .get_all(VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// How many `Vary` values name `Cookie` (case-insensitively).
    pub fn vary_cookie_count(&self) -> usize {
        self.vary()
            .iter()
            .filter(|v| v.eq_ignore_ascii_case("cookie"))
            .count()
    }

    /// Asserts a 2xx status, with the body in the message.
    ///
    /// # Panics
    ///
    /// When the status is not 2xx.
    pub fn ok(self) -> Self {
        assert!(
            self.status.is_success(),
            "expected 2xx, got {} with body {:?}",
            self.status,
            self.body
        );
        self
    }
}

/// Sends `GET path` to `app` with the given raw `Cookie` header value (if any).
/// `name` is the session cookie name the [`Reply`] looks for.
///
/// # Panics
///
/// When the body cannot be read (the router itself is infallible).
pub async fn send(app: &Router, name: &str, path: &str, cookie: Option<HeaderValue>) -> Reply {
    send_as(app, name, path, cookie, None).await
}

/// As [`send`], from a browser with this `User-Agent`.
///
/// # Panics
///
/// When the body cannot be read, or `user_agent` is not a valid header value.
pub async fn send_as(
    app: &Router,
    name: &str,
    path: &str,
    cookie: Option<HeaderValue>,
    user_agent: Option<&str>,
) -> Reply {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    if let Some(agent) = user_agent {
        req = req.header(USER_AGENT, agent);
    }
    let req = req
        .body(Body::empty())
        .expect("a GET request with a path builds");
    send_request(app, name, req).await
}

/// The peer address every test request comes from (as `axum::serve` with
/// `ConnectInfo` would report it), so sessions record a client address.
pub const PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// Sends any request to `app` and reads the response; `name` is the session cookie
/// name the [`Reply`] looks for.
///
/// # Panics
///
/// When the body cannot be read (the router itself is infallible).
pub async fn send_request(app: &Router, name: &str, mut req: Request<Body>) -> Reply {
    if req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_none()
    {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(PEER));
    }
    let res = match app.clone().oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let bytes = body
        .collect()
        .await
        .expect("the test app's body is readable")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        name: name.to_owned(),
    }
}

/// A browser with one cookie: it sends the session cookie back and follows every
/// `Set-Cookie` for it (a removal cookie empties the jar).
#[derive(Debug, Clone)]
pub struct Client {
    app: Router,
    name: String,
    cookie: Option<String>,
    user_agent: Option<String>,
}

impl Client {
    /// A client of `app` whose session cookie is called `id`.
    pub fn new(app: Router) -> Self {
        Self::named(app, DEFAULT_NAME)
    }

    /// A client of `app` whose session cookie is called `name`.
    pub fn named(app: Router, name: &str) -> Self {
        Self {
            app,
            name: name.to_owned(),
            cookie: None,
            user_agent: None,
        }
    }

    /// The same client presenting this `User-Agent` from now on.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(user_agent.to_owned());
        self
    }

    /// The application this client talks to.
    pub fn app(&self) -> &Router {
        &self.app
    }

    /// The cookie value in the jar.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// The cookie value in the jar.
    ///
    /// # Panics
    ///
    /// When the jar is empty.
    pub fn expect_cookie(&self) -> String {
        self.cookie
            .clone()
            .expect("the client should hold a session cookie by now")
    }

    /// Replaces the jar's content (a replayed or forged cookie).
    pub fn set_cookie(&mut self, value: Option<&str>) {
        self.cookie = value.map(str::to_owned);
    }

    /// `GET path` with the jar's cookie; the jar follows the response's `Set-Cookie`.
    ///
    /// # Panics
    ///
    /// When the jar holds a value that is not a valid header, or the response sets
    /// the session cookie more than once.
    pub async fn get(&mut self, path: &str) -> Reply {
        let header = self.cookie.as_ref().map(|v| {
            HeaderValue::from_str(&format!("{}={v}", self.name))
                .expect("the jar holds a header-safe cookie value")
        });
        let reply = send_as(
            &self.app,
            &self.name,
            path,
            header,
            self.user_agent.as_deref(),
        )
        .await;
        if let Some(set) = reply.session_cookie() {
            self.cookie = (!set.is_removal()).then_some(set.value);
        }
        reply
    }

    /// `GET path` with exactly this raw `Cookie` header (bytes, so that non-UTF-8
    /// values can be sent); the jar is neither sent nor changed.
    ///
    /// # Panics
    ///
    /// When `raw` is not a valid header value.
    pub async fn get_with_header(&self, path: &str, raw: &[u8]) -> Reply {
        let header = HeaderValue::from_bytes(raw).expect("a valid header value");
        send_as(
            &self.app,
            &self.name,
            path,
            Some(header),
            self.user_agent.as_deref(),
        )
        .await
    }

    /// `GET path` with several `Cookie` header lines (as HTTP/2 clients send them);
    /// the jar is neither sent nor changed.
    ///
    /// # Panics
    ///
    /// When a line is not a valid header value.
    pub async fn get_with_cookie_lines(&self, path: &str, lines: &[&str]) -> Reply {
        let mut req = Request::get(path);
        for line in lines {
            req = req.header(COOKIE, HeaderValue::from_str(line).expect("a valid header"));
        }
        let req = req
            .body(Body::empty())
            .expect("a GET request with a path builds");
        send_request(&self.app, &self.name, req).await
    }

    /// `GET path` with the session cookie set to `value`; the jar is not changed.
    ///
    /// # Panics
    ///
    /// When `value` is not header-safe.
    pub async fn get_as(&self, path: &str, value: &str) -> Reply {
        self.get_with_header(path, format!("{}={value}", self.name).as_bytes())
            .await
    }

    /// `GET path` without any cookie; the jar is not changed.
    pub async fn get_anonymous(&self, path: &str) -> Reply {
        send_as(
            &self.app,
            &self.name,
            path,
            None,
            self.user_agent.as_deref(),
        )
        .await
    }
}
