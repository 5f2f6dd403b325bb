//! HTTP-level tests of the security features: CSRF, client binding, the rotation
//! grace window and revocation through the user index.

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use sessionkit::csrf::{self, CsrfLayer};
use sessionkit::store::UserIndex;
use sessionkit::{Binding, MemoryStore, Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

async fn form(session: Session) -> Result<String, sessionkit::Error> {
    csrf::token(&session).await
}

/// The session's stored CSRF secret, as the session keeps it (for the test that posts
/// it back bare).
async fn stored_secret(session: Session) -> Result<String, sessionkit::Error> {
    Ok(session
        .get::<String>(sessionkit_core::CSRF_SECRET_KEY)
        .await?
        .unwrap_or_default())
}

async fn login(
    session: Session,
    axum::extract::Path(user): axum::extract::Path<String>,
) -> Result<&'static str, sessionkit::Error> {
    session.insert("username", &user).await?;
    session.login(&user).await?;
    Ok("logged in")
}

async fn whoami(session: Session) -> Result<String, sessionkit::Error> {
    Ok(session
        .get::<String>("username")
        .await?
        .unwrap_or_else(|| "anonymous".into()))
}

/// Every field of a multipart form as `name=<length>`: the handler reads the whole
/// body the CSRF check read part of.
async fn upload(mut form: axum::extract::Multipart) -> Result<String, StatusCode> {
    let mut fields = vec![];
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| StatusCode::BAD_REQUEST)?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|_| StatusCode::BAD_REQUEST)?;
        fields.push(format!("{name}={}", bytes.len()));
    }
    Ok(fields.join(" "))
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/form", get(form))
        .route("/stored_secret", get(stored_secret))
        .route("/upload", post(upload))
        .route("/submit", post(|| async { "Preferences saved" }))
        .route("/hooks/in", post(|| async { "hook" }))
        .route("/login/{user}", post(login).get(login))
        .route("/whoami", get(whoami))
        .layer(CsrfLayer::new().with_exempt_path("/hooks/"))
        .layer(layer)
}

struct Client {
    app: Router,
    cookie: Option<String>,
    user_agent: String,
}

impl Client {
    fn new(app: Router) -> Self {
        Self {
            app,
            cookie: None,
            user_agent: "TestBrowser/1.0".into(),
        }
    }

    async fn send(&mut self, mut req: Request<Body>) -> (StatusCode, String, Option<String>) {
        if let Some(c) = &self.cookie {
            req.headers_mut()
                .insert("cookie", c.parse().expect("cookie header"));
        }
        req.headers_mut()
            .insert("user-agent", self.user_agent.parse().expect("ua"));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                40_000,
            ))));
        let res: Response<Body> = self.app.clone().oneshot(req).await.expect("infallible");
        let header = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let set = header
            .as_ref()
            .map(|h| h.split(';').next().expect("pair").to_owned());
        if let (Some(pair), Some(header)) = (&set, &header) {
            self.cookie = if header.contains("Max-Age=0") {
                None
            } else {
                Some(pair.clone())
            };
        }
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), set)
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    async fn post_form(
        &mut self,
        path: &str,
        form: &str,
        origin: Option<&str>,
    ) -> (StatusCode, String) {
        let mut b = Request::post(path)
            .header("host", "shop.example")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        let (s, body, _) = self
            .send(b.body(Body::from(form.to_owned())).expect("request"))
            .await;
        (s, body)
    }
}

const BOUNDARY: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

/// A form field: name and value.
type Field<'a> = (&'a str, &'a [u8]);

/// A browser's multipart form of `(name, value)` fields (a field named `upload` is a
/// file), sent in 8 KiB chunks as it would arrive from the network.
fn multipart(fields: &[Field]) -> Request<Body> {
    let mut raw = Vec::new();
    for (name, value) in fields {
        let file = if *name == "upload" {
            "; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg"
        } else {
            ""
        };
        raw.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = raw
        .chunks(8192)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Request::post("/upload")
        .header("host", "shop.example")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request")
}

fn memory_app() -> (Router, MemoryStore) {
    let store = MemoryStore::new();
    (app(SessionLayer::new(store.clone())), store)
}

#[tokio::test]
async fn csrf_post_without_token_is_refused_with_a_reason() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    c.get("/form").await;
    let (status, body) = c.post_form("/submit", "theme=dark", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("no token"), "{body}");
}

/// A form body that breaks off or is malformed (bad chunked encoding) is a 400 that
/// says so, not the 413 of a body over the limit.
#[tokio::test]
async fn csrf_form_body_that_breaks_off_is_a_400_not_a_413() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from(format!("theme=dark&csrf_token={token}"))),
        Err(std::io::Error::other("invalid chunk size")),
    ];
    let req = Request::post("/submit")
        .header("host", "shop.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let (status, body, _) = c.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!body.contains("too large"), "{body}");
    let (status, _) = c
        .post_form(
            "/submit",
            &format!("csrf_token={token}&x={}", "a".repeat(3 << 20)),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "over the limit is still a 413"
    );
    // A limit outside the layer (a body limit around the router) is a 413 too, though
    // its error arrives wrapped in the body's.
    let form = Body::from(format!("csrf_token={token}&x={}", "a".repeat(100)));
    let req = Request::post("/submit")
        .header("host", "shop.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::new(http_body_util::Limited::new(form, 64)))
        .expect("request");
    let (status, body, _) = c.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

#[tokio::test]
async fn csrf_form_field_and_header_tokens_are_accepted() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let (status, body) = c
        .post_form("/submit", &format!("theme=dark&csrf_token={token}"), None)
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "Preferences saved")
    );
    let req = Request::post("/submit")
        .header("x-csrf-token", &token)
        .body(Body::empty())
        .expect("request");
    assert_eq!(c.send(req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn csrf_token_field_of_a_multipart_upload_is_read_and_the_handler_gets_every_byte() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let photo = vec![0xd8u8; 1_500_000];
    let req = multipart(&[
        ("title", b"Holiday"),
        ("csrf_token", token.as_bytes()),
        ("upload", &photo),
    ]);
    let (status, body, _) = c.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("title=7 csrf_token={} upload={}", token.len(), photo.len())
    );
}

#[tokio::test]
async fn csrf_multipart_form_without_a_valid_token_is_refused() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let cases: [(&[Field], StatusCode, &str); 4] = [
        (
            &[("title", b"x"), ("upload", b"jpeg")],
            StatusCode::FORBIDDEN,
            "no token",
        ),
        (
            &[("csrf_token", b"forged"), ("upload", b"jpeg")],
            StatusCode::FORBIDDEN,
            "invalid",
        ),
        // A token after a large file is not read: the body is not held to find it.
        (
            &[
                ("upload", &[0u8; 2 << 20]),
                ("csrf_token", token.as_bytes()),
            ],
            StatusCode::FORBIDDEN,
            "before the file inputs",
        ),
        (
            &[("csrf_tokens", token.as_bytes())],
            StatusCode::FORBIDDEN,
            "no token",
        ),
    ];
    for (fields, expected, says) in cases {
        let (status, body, _) = c.send(multipart(fields)).await;
        assert_eq!(status, expected, "{body}");
        assert!(body.contains(says), "{body}");
    }
    let broken = Request::post("/upload")
        .header("host", "shop.example")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from("csrf_token=not multipart at all"))
        .expect("request");
    let (status, body, _) = c.send(broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not a valid multipart"), "{body}");
    // The header alone is enough: the body is then not read at all.
    let mut with_header = multipart(&[("upload", &[1u8; 4096])]);
    with_header
        .headers_mut()
        .insert("x-csrf-token", token.parse().expect("token header"));
    let (status, body, _) = c.send(with_header).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "upload=4096"));
}

#[tokio::test]
async fn csrf_wrong_truncated_or_garbage_tokens_are_refused() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let mut wrong = token.clone().into_bytes();
    wrong[10] = if wrong[10] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).expect("ascii");
    for bad in [
        wrong.as_str(),
        &token[..43],
        "",
        "%00%ff",
        &"A".repeat(5000),
    ] {
        let (status, body) = c
            .post_form("/submit", &format!("csrf_token={bad}"), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{bad:?}");
        assert!(body.contains("CSRF check failed"), "{body}");
    }
}

/// I2: the token is the secret masked afresh; the secret itself, however it is sent, and
/// a valid token of another session are refused.
#[tokio::test]
async fn csrf_bare_secret_and_another_sessions_token_are_refused() {
    let (app, _) = memory_app();
    let mut c = Client::new(app.clone());
    let (_, token, _) = c.get("/form").await;
    let (_, secret, _) = c.get("/stored_secret").await;
    assert_eq!(
        secret.len(),
        43,
        "32 bytes of secret, base64url: {secret:?}"
    );
    assert!(!token.contains(&secret), "the token never shows the secret");
    let mut other = Client::new(app);
    let (_, foreign, _) = other.get("/form").await;
    let doubled = format!("{secret}{secret}");
    for bad in [secret.as_str(), doubled.as_str(), foreign.as_str()] {
        let (status, body) = c
            .post_form("/submit", &format!("csrf_token={bad}"), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "form field {bad:?}: {body}");
        let req = Request::post("/submit")
            .header("x-csrf-token", bad)
            .body(Body::empty())
            .expect("request");
        assert_eq!(c.send(req).await.0, StatusCode::FORBIDDEN, "header {bad:?}");
    }
    let (status, _) = c
        .post_form("/submit", &format!("csrf_token={token}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session's own token still passes"
    );
}

#[tokio::test]
async fn csrf_token_is_stable_and_reading_it_again_saves_nothing() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, first, set) = c.get("/form").await;
    assert!(set.is_some(), "the first token stores the session");
    let (_, second, set_again) = c.get("/form").await;
    assert!(
        set_again.is_none(),
        "re-reading the token must not modify the session"
    );
    assert_ne!(first, second, "tokens are masked afresh on every render");
    for t in [first, second] {
        assert_eq!(
            c.post_form("/submit", &format!("csrf_token={t}"), None)
                .await
                .0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn csrf_cross_origin_post_is_refused_even_with_a_valid_token() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let form = format!("csrf_token={token}");
    let (status, body) = c
        .post_form("/submit", &form, Some("https://evil.example"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("origin https://evil.example is not allowed"),
        "{body}"
    );
    assert_eq!(
        c.post_form("/submit", &form, Some("null")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.post_form("/submit", &form, Some("https://shop.example"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn csrf_referer_is_checked_when_origin_is_absent() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let req = |referer: &str| {
        Request::post("/submit")
            .header("host", "shop.example")
            .header("referer", referer)
            .header("x-csrf-token", &token)
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(
        c.send(req("https://evil.example/page")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.send(req("https://shop.example/prefs")).await.0,
        StatusCode::OK
    );
}

/// HTTP/2 requests carry no `Host` header: the host is the URI's authority.
#[tokio::test]
async fn csrf_same_origin_check_uses_the_uri_authority_without_a_host_header() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let at = |uri: &str, origin: &str| {
        Request::post(uri)
            .version(http::Version::HTTP_2)
            .header("origin", origin)
            .header("x-csrf-token", &token)
            .body(Body::empty())
            .expect("request")
    };
    let cases = [
        (
            "https://shop.example:8443/submit",
            "https://shop.example:8443",
            StatusCode::OK,
            "same origin",
        ),
        (
            "https://shop.example:8443/submit",
            "https://evil.example",
            StatusCode::FORBIDDEN,
            "another host",
        ),
        (
            "https://shop.example:8443/submit",
            "https://shop.example",
            StatusCode::FORBIDDEN,
            "another port is another origin",
        ),
        (
            "https://shop.example:443/submit",
            "https://shop.example",
            StatusCode::OK,
            "the default port may be written on one side only",
        ),
        (
            "https://shop.example/submit",
            "http://shop.example",
            StatusCode::FORBIDDEN,
            "another scheme is another origin",
        ),
    ];
    for (uri, origin, status, why) in cases {
        assert_eq!(
            c.send(at(uri, origin)).await.0,
            status,
            "{why}: {uri} from {origin}"
        );
    }
    let with_host = Request::post("/submit")
        .header("host", "shop.example:443")
        .header("origin", "https://shop.example")
        .header("x-csrf-token", &token)
        .body(Body::empty())
        .expect("request");
    assert_eq!(c.send(with_host).await.0, StatusCode::OK);
}

#[tokio::test]
async fn csrf_allowed_origin_list_replaces_same_origin() {
    let layer = SessionLayer::new(MemoryStore::new());
    let app = Router::new()
        .route("/form", get(form))
        .route("/submit", post(|| async { "ok" }))
        .layer(CsrfLayer::new().with_allowed_origin("https://app.example/"))
        .layer(layer);
    let mut c = Client::new(app);
    let (_, token, _) = c.get("/form").await;
    let form = format!("csrf_token={token}");
    assert_eq!(
        c.post_form("/submit", &form, Some("https://app.example"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        c.post_form("/submit", &form, Some("https://shop.example"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn csrf_token_from_before_login_is_refused_after_login() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    let (_, before, _) = c.get("/form").await;
    let req = Request::post("/login/alice")
        .header("x-csrf-token", &before)
        .body(Body::empty())
        .expect("request");
    assert_eq!(c.send(req).await.0, StatusCode::OK);
    let (status, _) = c
        .post_form("/submit", &format!("csrf_token={before}"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, after, _) = c.get("/form").await;
    assert_eq!(
        c.post_form("/submit", &format!("csrf_token={after}"), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn csrf_exempt_paths_skip_the_check() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    assert_eq!(
        c.post_form("/hooks/in", "x=1", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn csrf_layer_outside_the_session_layer_is_a_clear_configuration_error() {
    let app = Router::new()
        .route("/submit", post(|| async { "ok" }))
        .layer(SessionLayer::new(MemoryStore::new()))
        .layer(CsrfLayer::new());
    let mut c = Client::new(app);
    let (status, body) = c.post_form("/submit", "csrf_token=x", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("inside SessionLayer"), "{body}");
}

#[tokio::test]
async fn binding_mismatch_flushes_the_session() {
    let layer = SessionLayer::builder(MemoryStore::new())
        .with_binding(Binding {
            user_agent: true,
            address_prefix: None,
        })
        .build()
        .expect("valid config");
    let mut c = Client::new(app(layer));
    c.get("/login/alice").await;
    assert_eq!(c.get("/whoami").await.1, "alice");
    let stolen = c.cookie.clone();
    let mut thief = Client::new(c.app.clone());
    thief.cookie = stolen;
    thief.user_agent = "curl/8".into();
    let (_, who, set) = thief.get("/whoami").await;
    assert_eq!(who, "anonymous");
    assert!(
        set.as_deref() == Some("id="),
        "the thief gets a removal cookie"
    );
    assert_eq!(
        c.get("/whoami").await.1,
        "anonymous",
        "the flushed session is gone for everyone"
    );
}

#[tokio::test]
async fn old_id_resolves_inside_the_grace_window_and_is_refused_after_it() {
    let store = MemoryStore::new();
    let layer = SessionLayer::builder(store)
        .with_session_config(SessionConfig {
            rotation_grace: time::Duration::seconds(1),
            ..Default::default()
        })
        .build()
        .expect("valid config");
    let mut c = Client::new(app(layer));
    c.get("/login/alice").await;
    let before = c.cookie.clone();
    c.get("/login/alice").await; // cycles again
    assert_ne!(before, c.cookie);
    let mut in_flight = Client::new(c.app.clone());
    in_flight.cookie = before.clone();
    let (_, who, set) = in_flight.get("/whoami").await;
    assert_eq!(
        who, "alice",
        "an in-flight request with the old id keeps the session"
    );
    assert!(
        set.is_none(),
        "the old id is never sent back to the browser"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(in_flight.get("/whoami").await.1, "anonymous");
    assert_eq!(c.get("/whoami").await.1, "alice");
}

#[tokio::test]
async fn old_id_from_another_client_is_refused_even_inside_the_window() {
    let (app, _) = memory_app();
    let mut c = Client::new(app);
    c.get("/whoami").await;
    c.get("/login/alice").await;
    let before = c.cookie.clone();
    c.get("/login/alice").await;
    let mut attacker = Client::new(c.app.clone());
    attacker.cookie = before;
    attacker.user_agent = "Attacker/1.0".into();
    assert_eq!(attacker.get("/whoami").await.1, "anonymous");
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_user_only() {
    let (app, store) = memory_app();
    let mut phone = Client::new(app.clone());
    let mut laptop = Client::new(app.clone());
    let mut bob = Client::new(app);
    phone.get("/login/alice").await;
    laptop.get("/login/alice").await;
    bob.get("/login/bob").await;
    assert_eq!(store.sessions_of("alice").await.expect("index").len(), 2);
    assert_eq!(
        store
            .delete_sessions_of("alice", None)
            .await
            .expect("revoke"),
        2
    );
    assert_eq!(phone.get("/whoami").await.1, "anonymous");
    assert_eq!(laptop.get("/whoami").await.1, "anonymous");
    assert_eq!(bob.get("/whoami").await.1, "bob");
}

#[tokio::test]
async fn log_out_other_devices_keeps_the_current_one() {
    let (app, store) = memory_app();
    let mut phone = Client::new(app.clone());
    let mut laptop = Client::new(app);
    phone.get("/login/alice").await;
    laptop.get("/login/alice").await;
    let laptop_id = laptop
        .cookie
        .as_deref()
        .and_then(|c| c.strip_prefix("id="))
        .and_then(sessionkit::SessionId::parse);
    let keep = laptop_id.expect("laptop has a session id").hash();
    assert_eq!(
        store
            .delete_sessions_of("alice", Some(&keep))
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(phone.get("/whoami").await.1, "anonymous");
    assert_eq!(laptop.get("/whoami").await.1, "alice");
}

mod cookie_store_revocation {
    use super::*;
    use sessionkit::generations::{Generations, StoreGenerations};
    use sessionkit::{CookieStore, KeyRing};
    use std::sync::Arc;

    /// The key ring of this module's cookie stores.
    fn keys() -> KeyRing {
        KeyRing::new(["cookie store secret for the tests, 32+ bytes"]).expect("valid key")
    }

    fn cookie_app() -> (Router, StoreGenerations) {
        let keys = keys();
        let generations = StoreGenerations::new(MemoryStore::new());
        let store = CookieStore::private(&keys).with_revocation(generations.clone());
        let gens = generations.clone();
        let logout_everywhere = move |session: Session| {
            let gens = gens.clone();
            async move {
                if let Some(user) = session.user().await? {
                    gens.bump(&user).await.map_err(sessionkit::Error::Store)?;
                }
                session.logout().await;
                Ok::<_, sessionkit::Error>("logged out everywhere")
            }
        };
        let app = app(SessionLayer::cookie_store(store)).merge(
            Router::new()
                .route("/logout_everywhere", get(logout_everywhere))
                .layer(SessionLayer::cookie_store(
                    CookieStore::private(&keys).with_revocation(generations.clone()),
                )),
        );
        (app, generations)
    }

    #[tokio::test]
    async fn bumping_a_generation_revokes_every_cookie_of_that_user_only() {
        let (app, generations) = cookie_app();
        let mut phone = Client::new(app.clone());
        let mut laptop = Client::new(app.clone());
        let mut bob = Client::new(app);
        phone.get("/login/alice").await;
        laptop.get("/login/alice").await;
        bob.get("/login/bob").await;
        assert_eq!(phone.get("/whoami").await.1, "alice");
        generations.bump("alice").await.expect("bump");
        assert_eq!(phone.get("/whoami").await.1, "anonymous");
        assert_eq!(laptop.get("/whoami").await.1, "anonymous");
        assert_eq!(bob.get("/whoami").await.1, "bob");
    }

    #[tokio::test]
    async fn replaying_a_cookie_after_log_out_everywhere_is_anonymous() {
        let (app, _) = cookie_app();
        let mut c = Client::new(app);
        c.get("/login/alice").await;
        let stolen = c.cookie.clone();
        assert_eq!(c.get("/logout_everywhere").await.1, "logged out everywhere");
        let mut replay = Client::new(c.app.clone());
        replay.cookie = stolen;
        assert_eq!(replay.get("/whoami").await.1, "anonymous");
        c.get("/login/alice").await;
        assert_eq!(c.get("/whoami").await.1, "alice", "logging in again works");
    }

    /// The test app on a cookie store revocable through `generations`, with one route
    /// of the test's own.
    fn revocable_app_with<H, T>(generations: &StoreGenerations, path: &str, handler: H) -> Router
    where
        H: axum::handler::Handler<T, ()>,
        T: 'static,
    {
        let layer = SessionLayer::cookie_store(
            CookieStore::private(&keys()).with_revocation(generations.clone()),
        );
        Router::new()
            .route(path, get(handler))
            .merge(app(layer.clone()))
            .layer(layer)
    }

    /// "Change password, log out every other device, keep this one": the request that
    /// bumps the generation and logs the user in again (with or without a logout
    /// first) gets a fresh cookie that works, while the old cookie is revoked.
    #[tokio::test]
    async fn logging_in_again_after_revoking_in_the_same_request_keeps_this_device() {
        for logout_first in [false, true] {
            let generations = StoreGenerations::new(MemoryStore::new());
            let gens = generations.clone();
            let change_password = move |session: Session| {
                let gens = gens.clone();
                async move {
                    let user = session.user().await?.unwrap_or_default();
                    gens.bump(&user).await.map_err(sessionkit::Error::Store)?;
                    if logout_first {
                        session.logout().await;
                    }
                    session.insert("username", &user).await?;
                    session.login(&user).await?;
                    Ok::<_, sessionkit::Error>("password changed")
                }
            };
            let app = revocable_app_with(&generations, "/change_password", change_password);
            let mut device = Client::new(app.clone());
            device.get("/login/alice").await;
            let old = device.cookie.clone();
            let (status, body, set) = device.get("/change_password").await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "password changed"),
                "logout first: {logout_first}"
            );
            assert!(set.is_some() && device.cookie.is_some(), "a fresh cookie");
            assert_eq!(
                device.get("/whoami").await.1,
                "alice",
                "logout first: {logout_first}"
            );
            let mut stolen = Client::new(app);
            stolen.cookie = old;
            assert_eq!(
                stolen.get("/whoami").await.1,
                "anonymous",
                "the old cookie is revoked"
            );
        }
    }

    /// A request of a revoked device that was already running when the user logged
    /// out everywhere must not hand that device a fresh, valid cookie.
    #[tokio::test]
    async fn log_out_everywhere_racing_a_request_is_not_undone_by_its_response() {
        let generations = StoreGenerations::new(MemoryStore::new());
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
        let (resume_tx, resume_rx) = tokio::sync::oneshot::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(Some((entered_tx, resume_rx))));
        let slow_write = move |session: Session| {
            let gate = gate.clone();
            async move {
                let user = session.get::<String>("username").await?;
                let taken = gate.lock().expect("gate").take();
                if let Some((entered, resume)) = taken {
                    let _ = entered.send(());
                    let _ = resume.await;
                }
                session.insert("seen_by", &user).await?;
                Ok::<_, sessionkit::Error>("written")
            }
        };
        let app = revocable_app_with(&generations, "/slow_write", slow_write);
        let mut device = Client::new(app.clone());
        device.get("/login/alice").await;
        assert_eq!(device.get("/whoami").await.1, "alice");
        let mut racing = Client::new(app.clone());
        racing.cookie = device.cookie.clone();
        let request = tokio::spawn(async move {
            let result = racing.get("/slow_write").await;
            (result, racing.cookie)
        });
        entered_rx.await.expect("the handler started");
        generations.bump("alice").await.expect("bump");
        resume_tx.send(()).expect("the handler waits");
        let ((status, body, set), kept) = request.await.expect("the request ran");
        assert_eq!((status, body.as_str()), (StatusCode::OK, "written"));
        assert!(
            set.is_some(),
            "the response says what to do with the cookie"
        );
        assert_eq!(kept, None, "the response removes the revoked cookie");
        let mut replay = Client::new(app.clone());
        replay.cookie = set;
        assert_eq!(replay.get("/whoami").await.1, "anonymous");
        assert_eq!(device.get("/whoami").await.1, "anonymous");
        device.get("/login/alice").await;
        assert_eq!(device.get("/whoami").await.1, "alice", "a new login works");
    }
}
