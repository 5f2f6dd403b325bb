//! CSRF protection tied to the session: a per-session synchronizer secret, masked
//! tokens for pages, and a layer that checks unsafe requests.
//!
//! A page gets a token with [`token`] and puts it in a hidden `csrf_token` field of a
//! form (URL-encoded, or `multipart/form-data` for file uploads) or sends it in the
//! `X-CSRF-Token` header. A multipart body is read only up to the token's field, at
//! most [`CsrfLayer::with_max_form_bytes`] bytes, and reaches the handler whole: put
//! the hidden field before the file inputs. [`CsrfLayer`] (installed *inside*
//! `SessionLayer`) rejects POST, PUT, PATCH and DELETE requests whose token is missing or
//! does not match, or whose `Origin` (or, without one, `Referer`) is not allowed, with a
//! 403 that says which check failed. Tokens are masked with fresh randomness on every
//! render (no BREACH-style leak through compression) and compared in constant time.
//! The secret is dropped by `Session::login`, so a token from before login is refused
//! after it.
//!
//! # Examples
//!
//! ```
//! use axum::{routing::{get, post}, Router};
//! use sessionkit::csrf::{self, CsrfLayer};
//! use sessionkit::{MemoryStore, Session, SessionLayer};
//!
//! async fn form(session: Session) -> Result<String, sessionkit::Error> {
//!     let token = csrf::token(&session).await?;
//!     Ok(format!(r#"<form method="post"><input type="hidden" name="csrf_token" value="{token}"></form>"#))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/prefs", get(form).post(|| async { "Preferences saved" }))
//!     .layer(CsrfLayer::new().with_allowed_origin("https://shop.example"))
//!     .layer(SessionLayer::new(MemoryStore::new()));
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use sessionkit_core::{Error, Session, CSRF_SECRET_KEY};
use subtle::ConstantTimeEq;
use tower_layer::Layer;
use tower_service::Service;

mod multipart;

/// Form field carrying the token.
pub const FORM_FIELD: &str = "csrf_token";
/// Header carrying the token.
pub const HEADER: &str = "x-csrf-token";

const SECRET_LEN: usize = 32;

fn random_bytes() -> Result<[u8; SECRET_LEN], Error> {
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

async fn secret(session: &Session) -> Result<Option<[u8; SECRET_LEN]>, Error> {
    // A value of another type under the reserved key is no secret (a new one is made);
    // a session that cannot be loaded is an error, not a failed check.
    let stored: Option<String> = match session.get(CSRF_SECRET_KEY).await {
        Ok(v) => v,
        Err(Error::Value { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(stored
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|b| <[u8; SECRET_LEN]>::try_from(b.as_slice()).ok()))
}

/// A masked token for a page; creates the session's secret on first use (which stores
/// the session). Each call gives a different string; all verify.
///
/// # Errors
///
/// When the session cannot be loaded or saved, or no randomness is available.
pub async fn token(session: &Session) -> Result<String, Error> {
    let secret = match secret(session).await? {
        Some(s) => s,
        None => {
            let fresh = random_bytes()?;
            session
                .insert(CSRF_SECRET_KEY, URL_SAFE_NO_PAD.encode(fresh))
                .await?;
            fresh
        }
    };
    let mask = random_bytes()?;
    let mut out = Vec::with_capacity(SECRET_LEN * 2);
    out.extend_from_slice(&mask);
    out.extend(secret.iter().zip(mask.iter()).map(|(s, m)| s ^ m));
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Replaces the session's secret: every token issued so far stops working.
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn rotate(session: &Session) -> Result<(), Error> {
    session.remove_value(CSRF_SECRET_KEY).await.map(drop)
}

/// Whether a body error is a size limit tripping: this layer's own, or one outside it
/// (a `RequestBodyLimit` around the router), which arrives wrapped in the body's error.
pub(crate) fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(error) = next {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Whether `presented` is a valid masked token for the session's secret.
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn verify(session: &Session, presented: &str) -> Result<bool, Error> {
    let Some(secret) = secret(session).await? else {
        return Ok(false);
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return Ok(false);
    };
    if bytes.len() != SECRET_LEN * 2 {
        return Ok(false);
    }
    let (mask, masked) = bytes.split_at(SECRET_LEN);
    let unmasked: Vec<u8> = masked.iter().zip(mask).map(|(a, b)| a ^ b).collect();
    Ok(unmasked.ct_eq(&secret).into())
}

/// Which check refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `CsrfLayer` runs outside `SessionLayer` (a configuration error: 500).
    NoSession,
    /// The `Origin`/`Referer` is not an allowed origin.
    Origin(String),
    /// Neither the header nor the form field carried a token.
    Missing,
    /// The token does not match the session's secret (or the session has none).
    Mismatch,
    /// The form body was larger than the configured limit.
    BodyTooLarge,
    /// A multipart form's token field was not within the configured limit.
    TokenTooLate(usize),
    /// The body is not the multipart form its `Content-Type` says (400).
    MalformedMultipart,
    /// The body broke off while it was read for the token (400).
    UnreadableBody,
    /// The session could not be loaded, so the token cannot be checked (503).
    Unavailable,
}

impl Rejection {
    fn response(&self) -> Response<String> {
        let (status, text) = match self {
            Self::NoSession => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CSRF check misconfigured: CsrfLayer must be installed inside SessionLayer.".to_owned(),
            ),
            Self::Origin(origin) => (
                StatusCode::FORBIDDEN,
                format!("CSRF check failed: origin {origin} is not allowed."),
            ),
            Self::Missing => (
                StatusCode::FORBIDDEN,
                format!("CSRF check failed: no token (send the `{FORM_FIELD}` field of the form, or the X-CSRF-Token header)."),
            ),
            Self::Mismatch => (
                StatusCode::FORBIDDEN,
                "CSRF check failed: the token is invalid or expired; reload the page and try again.".to_owned(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Session storage is unavailable. Please try again shortly.".to_owned(),
            ),
            Self::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "CSRF check failed: form body too large.".to_owned()),
            Self::TokenTooLate(max) => (
                StatusCode::FORBIDDEN,
                format!("CSRF check failed: no `{FORM_FIELD}` field in the first {max} bytes of the multipart form; put it before the file inputs, or send the X-CSRF-Token header."),
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "CSRF check failed: the request body could not be read.".to_owned(),
            ),
            Self::MalformedMultipart => (
                StatusCode::BAD_REQUEST,
                "CSRF check failed: the body is not a valid multipart/form-data form.".to_owned(),
            ),
        };
        let mut res = Response::new(text);
        *res.status_mut() = status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res
    }
}

#[derive(Debug, Clone)]
struct Config {
    allowed_origins: Vec<String>,
    exempt: Vec<String>,
    max_form_bytes: usize,
}

/// The CSRF layer. Install it inside `SessionLayer` (add it with `.layer()` *before*
/// the session layer in axum's bottom-up order).
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    config: Arc<Config>,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// Same-origin requests only (the `Origin` must match the `Host`), 1 MiB form limit.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                allowed_origins: Vec::new(),
                exempt: Vec::new(),
                max_form_bytes: 1 << 20,
            }),
        }
    }

    /// Also allow this origin (`scheme://host[:port]`). Once any origin is listed, only
    /// listed origins are allowed.
    pub fn with_allowed_origin(mut self, origin: &str) -> Self {
        Arc::make_mut(&mut self.config)
            .allowed_origins
            .push(origin.trim_end_matches('/').to_ascii_lowercase());
        self
    }

    /// Skip the checks for this exact path, or for every path under it when it ends
    /// with `/` (webhooks, APIs authenticated otherwise).
    pub fn with_exempt_path(mut self, path: &str) -> Self {
        Arc::make_mut(&mut self.config).exempt.push(path.to_owned());
        self
    }

    /// Largest form body read to find the token (default 1 MiB): a URL-encoded form
    /// over it is refused (413); a multipart form is read only up to its token field,
    /// which must come within this many bytes.
    pub fn with_max_form_bytes(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).max_form_bytes = max;
        self
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`CsrfLayer`].
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    config: Arc<Config>,
}

impl Config {
    fn exempt(&self, path: &str) -> bool {
        self.exempt.iter().any(|e| {
            if e.ends_with('/') {
                path.starts_with(e.as_str())
            } else {
                path == e
            }
        })
    }

    fn check_origin<B>(&self, req: &Request<B>) -> Result<(), Rejection> {
        let headers = req.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &header::HeaderValue| v.to_str().ok())
        };
        let origin = match (text(header::ORIGIN), text(header::REFERER)) {
            (Some(o), _) => o.to_ascii_lowercase(),
            (None, Some(r)) => origin_of(r).unwrap_or_else(|| r.to_owned()),
            (None, None) => return Ok(()),
        };
        let allowed = if self.allowed_origins.is_empty() {
            // HTTP/2 and HTTP/3 carry the host in the `:authority` pseudo-header (the
            // URI), not in a `Host` header.
            let host = text(header::HOST)
                .map(str::to_owned)
                .or_else(|| authority_of(req.uri()))
                .map(|h| h.to_ascii_lowercase());
            host.is_some_and(|h| same_origin(&origin, &h, req.uri().scheme_str()))
        } else {
            self.allowed_origins.contains(&origin)
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::Origin(origin.chars().take(100).collect()))
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`, lower case) names the server at `host`
/// (`host[:port]`, lower case) reached over `scheme` (when the request says: HTTP/2
/// and absolute URIs do). A default port (443 for https, 80 for http) may be written
/// or left out on either side.
fn same_origin(origin: &str, host: &str, scheme: Option<&str>) -> bool {
    let Some((origin_scheme, origin_host)) = origin.split_once("://") else {
        return false;
    };
    if scheme.is_some_and(|s| !s.eq_ignore_ascii_case(origin_scheme)) {
        return false;
    }
    without_default_port(origin_host, origin_scheme) == without_default_port(host, origin_scheme)
}

/// `host[:port]` without the port when it is `scheme`'s default.
fn without_default_port<'h>(host: &'h str, scheme: &str) -> &'h str {
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return host,
    };
    host.strip_suffix(default).unwrap_or(host)
}

/// `host[:port]` of an absolute request URI, without any user info.
fn authority_of(uri: &http::Uri) -> Option<String> {
    let authority = uri.authority()?;
    Some(match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    })
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}").to_ascii_lowercase())
}

/// Whether a `Content-Type` is a URL-encoded form: media types are case-insensitive
/// (RFC 9110), parameters such as `; charset=utf-8` may follow.
fn is_form_type(content_type: &str) -> bool {
    const FORM: &str = "application/x-www-form-urlencoded";
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM))
}

fn form_token(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == FORM_FIELD)
        .map(|(_, v)| v.into_owned())
}

/// The response future of [`CsrfService`].
pub type CsrfFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CsrfService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + From<Bytes> + From<axum::body::Body> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CsrfFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let config = self.config.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let safe = matches!(
                *req.method(),
                Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
            );
            if safe || config.exempt(req.uri().path()) {
                return inner.call(req).await;
            }
            match check(&config, req).await {
                Ok(req) => inner.call(req).await,
                Err(rejection) => {
                    tracing::warn!(?rejection, "request refused by the CSRF check");
                    Ok(rejection.response().map(ResBody::from))
                }
            }
        })
    }
}

async fn check<B>(config: &Config, req: Request<B>) -> Result<Request<B>, Rejection>
where
    B: http_body::Body<Data = Bytes> + From<Bytes> + From<axum::body::Body> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(Rejection::NoSession)?;
    config.check_origin(&req)?;
    let header_token = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let multipart_boundary = multipart::boundary(content_type);
    let (req, presented) = match (header_token, multipart_boundary) {
        (Some(t), _) => (req, Some(t)),
        (None, _) if is_form_type(content_type) => {
            let (parts, body) = req.into_parts();
            let bytes = Limited::new(body, config.max_form_bytes)
                .collect()
                .await
                .map_err(|e| {
                    // Over the limit, or a body that broke off or was malformed (bad
                    // chunked encoding): 413 for the one, 400 for the other.
                    if over_limit(&*e) {
                        Rejection::BodyTooLarge
                    } else {
                        Rejection::UnreadableBody
                    }
                })?
                .to_bytes();
            let token = form_token(&bytes);
            (Request::from_parts(parts, B::from(bytes)), token)
        }
        (None, Some(boundary)) => {
            let (parts, body) = req.into_parts();
            let (token, body) = multipart::token(body, boundary, config.max_form_bytes).await;
            let req = Request::from_parts(parts, B::from(axum::body::Body::new(body)));
            match token {
                Ok(token) => (req, Some(token)),
                Err(multipart::Unread::Missing) => (req, None),
                Err(multipart::Unread::TooLate) => {
                    return Err(Rejection::TokenTooLate(config.max_form_bytes))
                }
                Err(multipart::Unread::Malformed) => return Err(Rejection::MalformedMultipart),
                Err(multipart::Unread::Unreadable { too_large: true }) => {
                    return Err(Rejection::BodyTooLarge)
                }
                Err(multipart::Unread::Unreadable { too_large: false }) => {
                    return Err(Rejection::UnreadableBody)
                }
            }
        }
        (None, None) => (req, None),
    };
    let presented = presented.ok_or(Rejection::Missing)?;
    match verify(&session, &presented).await {
        Ok(true) => Ok(req),
        Ok(false) => Err(Rejection::Mismatch),
        Err(_) => Err(Rejection::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_content_types_match_in_any_case_with_parameters() {
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            " application/x-www-form-urlencoded ;charset=utf-8",
        ] {
            assert!(is_form_type(ct), "{ct}");
        }
        for ct in [
            "application/json",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencodedx",
        ] {
            assert!(!is_form_type(ct), "{ct}");
        }
    }

    #[test]
    fn form_token_is_found_and_percent_decoded() {
        assert_eq!(
            form_token(b"theme=dark&csrf_token=a%2Db_c&x=1"),
            Some("a-b_c".to_owned())
        );
        assert_eq!(form_token(b"theme=dark"), None);
        assert_eq!(form_token(b"csrf_token=%zz%"), Some("%zz%".to_owned()));
        assert_eq!(form_token(&[0xff, 0xfe]), None);
        assert_eq!(form_token(b"csrf_token=a+b"), Some("a b".to_owned()));
    }

    #[test]
    fn origin_of_a_referer_is_scheme_and_host() {
        assert_eq!(
            origin_of("https://Shop.example:8443/a/b?c#d"),
            Some("https://shop.example:8443".to_owned())
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
