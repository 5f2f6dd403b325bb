//! Every route of the demo, driven in process through `sessionkit_demo::app` (no
//! server), plus parallel cart adds over a real loopback socket.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use sessionkit::KeyRing;
use sessionkit_demo::{app, AppState, SessionSettings, Store, Users};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const SECRET: &str = "a test secret of at least thirty-two bytes";

async fn state_for(url: &str) -> AppState {
    let keys = KeyRing::new([SECRET]).expect("valid test key");
    let store = Store::open(url, &keys).await.expect("test store opens");
    AppState::new(store, Users::defaults(), &keys, &SessionSettings::default())
        .expect("valid settings")
}

async fn demo() -> Router {
    app(state_for("memory://").await)
}

/// One response, read whole.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

impl Page {
    fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The first CSRF token on the page.
    fn csrf_token(&self) -> String {
        attribute_after(&self.body, r#"name="csrf_token" value=""#)
            .expect("the page has a CSRF token")
    }
}

fn attribute_after(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                sessionkit_demo::page::path_segment(k),
                sessionkit_demo::page::path_segment(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser: keeps the session cookie, sends its own user agent and address.
struct Browser {
    app: Router,
    cookie: Option<String>,
    user_agent: &'static str,
    address: SocketAddr,
}

impl Browser {
    fn new(app: &Router, user_agent: &'static str, address: &str) -> Self {
        Self {
            app: app.clone(),
            cookie: None,
            user_agent,
            address: address.parse().expect("test address"),
        }
    }

    async fn send(&mut self, builder: axum::http::request::Builder, body: Body) -> Page {
        let mut builder = builder
            .header(header::USER_AGENT, self.user_agent)
            .header(header::HOST, "demo.test");
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, format!("id={cookie}"));
        }
        let mut request = builder.body(body).expect("valid request");
        request.extensions_mut().insert(ConnectInfo(self.address));
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(set) = &set_cookie {
            let value = set
                .split(';')
                .next()
                .and_then(|pair| pair.strip_prefix("id="))
                .expect("the session cookie is named id");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Page {
            status,
            location,
            set_cookie,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let builder =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(builder, Body::from(form_encode(fields))).await
    }

    /// Posts a form with the CSRF token of the page at `form_page`.
    async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(form_page).await.csrf_token();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }

    async fn login(&mut self, user: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", user), ("password", password)],
        )
        .await
    }
}

#[tokio::test]
async fn login_page_shows_a_form_with_a_csrf_token() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    let page = browser.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains(r#"name="username""#) && page.contains(r#"name="password""#));
    assert!(!page.csrf_token().is_empty());
    assert!(page.contains("Demo accounts: user1 / password1"));
}

/// With accounts from a users file, the login page shows no built-in accounts' hint
/// (they do not exist there).
#[tokio::test]
async fn the_login_page_hints_at_the_built_in_accounts_only_when_they_are_in_use() -> TestResult {
    let keys = KeyRing::new([SECRET])?;
    let phc = sessionkit_demo::auth::hash_password("a long passphrase")?;
    let users = Users::parse(&format!("ada:admin:{phc}"))?;
    assert!(!users.are_built_in() && Users::defaults().are_built_in());
    let state = AppState::new(
        Store::open("memory://", &keys).await?,
        users,
        &keys,
        &SessionSettings::default(),
    )?;
    let app = app(state);
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    let page = browser.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.contains("Demo accounts"), "{}", page.body);
    let page = browser.login("user1", "password1").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(!page.contains("Demo accounts"), "{}", page.body);
    assert_eq!(
        browser.login("ada", "a long passphrase").await.status,
        StatusCode::SEE_OTHER
    );
    Ok(())
}

#[tokio::test]
async fn login_cycles_the_id_binds_the_user_and_redirects_to_the_profile() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.get("/login").await;
    let before = browser
        .cookie
        .clone()
        .expect("the login form starts a session");
    let page = browser.login("user1", "password1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/profile"));
    let after = browser.cookie.clone().expect("logged-in session");
    assert_ne!(before, after, "fixation: the id changes at login");
    assert!(browser.get("/profile").await.contains("Logged in as user1"));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_invalid_credentials() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    for (user, password) in [("user1", "password2"), ("nobody", "password1"), ("", "")] {
        let page = browser.login(user, password).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("Invalid credentials"));
    }
    assert!(browser
        .get("/profile")
        .await
        .contains("You are not logged in"));
}

#[tokio::test]
async fn profile_says_who_is_logged_in() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    let page = browser.get("/profile").await;
    assert!(page.contains("You are not logged in"));
    assert!(!page.contains("Logged in as"));
    browser.login("user2", "password2").await;
    assert!(browser.get("/profile").await.contains("Logged in as user2"));
}

#[tokio::test]
async fn dashboard_depends_on_the_role_and_sends_anonymous_visitors_to_login() {
    let app = demo().await;
    let mut anonymous = Browser::new(&app, "test", "192.0.2.1:1000");
    let page = anonymous.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/login"));

    let mut user = Browser::new(&app, "test", "192.0.2.1:1000");
    user.login("user1", "password1").await;
    let page = user.get("/dashboard").await;
    assert!(page.contains("Welcome to the user dashboard"));
    assert!(!page.contains("admin dashboard"));

    let mut admin = Browser::new(&app, "test", "192.0.2.1:1000");
    admin.login("admin", "adminpass").await;
    assert!(admin
        .get("/dashboard")
        .await
        .contains("Welcome to the admin dashboard"));
}

#[tokio::test]
async fn logout_flushes_and_replaying_old_cookies_is_anonymous() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.get("/login").await;
    let pre_login = browser.cookie.clone();
    browser.login("user1", "password1").await;
    browser.get("/add_to_cart/apple").await;
    let logged_in = browser.cookie.clone();

    let page = browser.get("/logout").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/login"));
    assert!(page
        .set_cookie
        .as_deref()
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(browser.cookie, None, "the cookie is removed");

    for old in [logged_in, pre_login] {
        let mut replay = Browser::new(&app, "test", "192.0.2.1:1000");
        replay.cookie = old;
        assert!(replay
            .get("/profile")
            .await
            .contains("You are not logged in"));
        assert!(replay
            .get("/view_cart")
            .await
            .contains("Your cart is empty"));
    }
}

#[tokio::test]
async fn tampered_or_garbage_cookies_are_anonymous_never_a_server_error() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.login("user1", "password1").await;
    let good = browser.cookie.clone().expect("logged in");
    let mut flipped: Vec<char> = good.chars().collect();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = flipped.into_iter().collect();
    for cookie in [
        tampered,
        good[..good.len() / 2].to_owned(),
        "not-a-session".to_owned(),
        "x".repeat(10_000),
        "%00%ff<script>".to_owned(),
    ] {
        let mut attacker = Browser::new(&app, "test", "192.0.2.1:1000");
        attacker.cookie = Some(cookie);
        let page = attacker.get("/profile").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.contains("You are not logged in"));
    }
    assert!(browser.get("/profile").await.contains("Logged in as user1"));
}

#[tokio::test]
async fn posts_need_a_valid_csrf_token() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.get("/login").await;
    let credentials = [("username", "user1"), ("password", "password1")];
    let page = browser.post("/login", &credentials).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .post(
            "/login",
            &[
                ("username", "user1"),
                ("password", "password1"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(browser
        .get("/profile")
        .await
        .contains("You are not logged in"));

    let page = browser
        .post(
            "/set_preferences",
            &[("theme", "dark"), ("notifications", "enabled")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // A valid token from another site's page is still refused.
    let token = browser.get("/set_preferences").await.csrf_token();
    let form = form_encode(&[
        ("theme", "dark"),
        ("notifications", "enabled"),
        ("csrf_token", &token),
    ]);
    let cross_site = Request::post("/set_preferences")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example");
    assert_eq!(
        browser.send(cross_site, Body::from(form)).await.status,
        StatusCode::FORBIDDEN
    );

    let page = browser.login("user1", "password1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = browser
        .submit(
            "/set_preferences",
            "/set_preferences",
            &[("theme", "dark"), ("notifications", "enabled")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("Preferences saved"));
}

#[tokio::test]
async fn a_form_that_cannot_be_read_gets_the_demos_error_page() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.login("user1", "password1").await;
    let page = browser
        .submit(
            "/set_preferences",
            "/set_preferences",
            &[
                ("theme", "dark"),
                ("notifications", "enabled"),
                ("theme", "light"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.contains("duplicate field"), "{}", page.body);
    assert!(page.contains("<html"), "the demo's page, not plain text");
}

#[tokio::test]
async fn cart_counts_quantities_removes_and_checks_out() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    assert!(browser
        .get("/view_cart")
        .await
        .contains("Your cart is empty"));
    assert!(browser
        .get("/checkout")
        .await
        .contains("Your cart is empty"));
    assert!(browser
        .get("/add_to_cart/apple")
        .await
        .contains("Added apple to your cart"));
    browser.get("/add_to_cart/apple").await;
    browser.get("/add_to_cart/pear").await;
    let page = browser.get("/view_cart").await;
    assert!(page.contains("Your cart contains:"));
    assert!(
        page.contains(r#"<td class="item">apple</td><td class="qty">2</td>"#),
        "{}",
        page.body
    );
    assert!(page.contains(r#"<td class="item">pear</td><td class="qty">1</td>"#));

    assert!(browser
        .get("/remove_from_cart/pear")
        .await
        .contains("Removed pear from your cart"));
    assert!(browser
        .get("/remove_from_cart/pear")
        .await
        .contains("pear is not in your cart"));
    let page = browser.get("/view_cart").await;
    assert!(!page.contains(r#"<td class="item">pear</td>"#));

    let page = browser.get("/checkout").await;
    assert!(page.contains("Checkout completed"));
    assert!(page.contains("apple × 2"));
    assert!(browser
        .get("/view_cart")
        .await
        .contains("Your cart is empty"));

    let page = browser
        .get(&format!("/add_to_cart/{}", "x".repeat(65)))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn user_supplied_text_is_escaped_everywhere() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "<script>alert(1)</script>", "192.0.2.1:1000");
    let page = browser.get("/add_to_cart/%3Cb%3Ex%3C%2Fb%3E").await;
    assert!(
        page.contains("Added &lt;b&gt;x&lt;/b&gt; to your cart"),
        "{}",
        page.body
    );
    assert!(!page.contains("<b>x</b>"));
    let page = browser.get("/view_cart").await;
    assert!(page.contains(r#"<td class="item">&lt;b&gt;x&lt;/b&gt;</td>"#));
    assert!(page.contains(r#"href="/remove_from_cart/%3Cb%3Ex%3C%2Fb%3E""#));
    assert!(!page.contains("<b>x</b>"));
    assert!(browser
        .get("/remove_from_cart/%3Cb%3Ex%3C%2Fb%3E")
        .await
        .contains("Removed &lt;b&gt;x&lt;/b&gt;"));

    let page = browser.get("/set_language/%3Cscript%3E%22'").await;
    assert!(page.contains("Language set to &lt;script&gt;&quot;&#39;"));
    assert!(!page.contains("<script>"));
    let page = browser.get("/view_history").await;
    assert!(
        page.contains("<li>/add_to_cart/&lt;b&gt;x&lt;/b&gt;</li>"),
        "{}",
        page.body
    );
    assert!(!page.contains("<b>x</b>") && !page.contains("<script>"));

    browser.login("user1", "password1").await;
    let page = browser.get("/sessions").await;
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn language_is_remembered_and_unknown_ones_fall_back_to_english() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    assert!(browser.get("/").await.contains("Hello, World!"));
    for (language, greeting) in [
        ("es", "¡Hola, Mundo!"),
        ("fr", "Bonjour, le monde!"),
        ("ja", "こんにちは、世界!"),
        ("en", "Hello, World!"),
        ("klingon", "Hello, World!"),
    ] {
        let page = browser.get(&format!("/set_language/{language}")).await;
        assert!(page.contains(&format!("Language set to {language}")));
        assert!(browser.get("/").await.contains(greeting), "{language}");
    }
}

#[tokio::test]
async fn preferences_are_saved_restyle_the_page_and_show_on_the_profile() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    let page = browser.get("/profile").await;
    assert!(page.contains("Theme: light, Notifications: enabled"));
    assert!(page.contains(r#"<body class="theme-light">"#));

    let page = browser
        .submit(
            "/set_preferences",
            "/set_preferences",
            &[("theme", "dark"), ("notifications", "disabled")],
        )
        .await;
    assert!(page.contains("Preferences saved"));
    assert!(page.contains(r#"<body class="theme-dark">"#));
    let page = browser.get("/profile").await;
    assert!(page.contains("Theme: dark, Notifications: disabled"));
    assert!(page.contains(r#"<body class="theme-dark">"#));
    let form = browser.get("/set_preferences").await;
    assert!(
        form.contains(r#"value="dark" checked"#) && form.contains(r#"value="disabled" checked"#)
    );

    let css = browser.get("/style.css").await;
    assert!(css.contains("body.theme-dark"));

    let page = browser
        .submit(
            "/set_preferences",
            "/set_preferences",
            &[("theme", "neon"), ("notifications", "enabled")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(browser.get("/profile").await.contains("Theme: dark"));
}

#[tokio::test]
async fn history_lists_page_views_in_visit_order() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    for path in [
        "/",
        "/view_cart",
        "/set_language/fr",
        "/add_to_cart/tea",
        "/",
    ] {
        browser.get(path).await;
    }
    browser.get("/style.css").await;
    browser.get("/no/such/page").await;
    let page = browser.get("/view_history").await;
    assert!(page.contains("You have visited:"));
    let expected = "<li>/</li><li>/view_cart</li><li>/set_language/fr</li><li>/add_to_cart/tea</li><li>/</li><li>/view_history</li>";
    assert!(page.contains(expected), "{}", page.body);
    assert!(!page.contains("<li>/style.css</li>") && !page.contains("/no/such/page"));

    for i in 0..70 {
        browser.get(&format!("/add_to_cart/i{i}")).await;
        if i % 10 == 9 {
            browser.get("/checkout").await;
        }
    }
    let page = browser.get("/view_history").await;
    assert_eq!(page.body.matches("<li>").count(), 50);
    assert!(page.contains("<li>/add_to_cart/i69</li><li>/checkout</li><li>/view_history</li>"));
}

/// Logs `user` in on a new device.
async fn device(
    app: &Router,
    user: &str,
    password: &str,
    agent: &'static str,
    address: &str,
) -> Browser {
    let mut browser = Browser::new(app, agent, address);
    let page = browser.login(user, password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{user} logs in");
    browser
}

/// Submits "log out all other devices" from `from`: each of `ended` is logged out, and
/// the session kept (`from`'s, as `kept` holds it when given) is still user1's, alone.
async fn log_out_other_devices(
    from: &mut Browser,
    kept: Option<&mut Browser>,
    ended: &mut [&mut Browser],
) {
    let page = from
        .submit("/sessions", "/sessions/logout_others", &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    for browser in ended {
        assert!(browser
            .get("/profile")
            .await
            .contains("You are not logged in"));
    }
    let kept = kept.unwrap_or(from);
    assert!(kept.get("/profile").await.contains("Logged in as user1"));
    assert!(kept
        .get("/sessions")
        .await
        .contains("You are logged in on 1 device."));
}

fn revoke_hashes(page: &Page) -> Vec<String> {
    page.body
        .split(r#"name="session" value=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

async fn sessions_across_devices(url: &str) {
    let app = app(state_for(url).await);
    let mut laptop = device(
        &app,
        "user1",
        "password1",
        "Laptop Firefox",
        "192.0.2.10:5000",
    )
    .await;
    let mut phone = device(
        &app,
        "user1",
        "password1",
        "Phone Safari",
        "198.51.100.7:6000",
    )
    .await;
    let mut other_user = device(
        &app,
        "user2",
        "password2",
        "Other Chrome",
        "203.0.113.9:7000",
    )
    .await;

    let page = laptop.get("/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.contains("You are logged in on 2 devices."),
        "{}",
        page.body
    );
    assert!(page.contains("Laptop Firefox") && page.contains("Phone Safari"));
    assert!(page.contains("192.0.2.10") && page.contains("198.51.100.7"));
    assert!(
        !page.contains("Other Chrome"),
        "another user's sessions are not listed"
    );
    assert_eq!(page.body.matches("this session").count(), 1);
    let hashes = revoke_hashes(&page);
    assert_eq!(hashes.len(), 1, "one revoke button: the phone");
    assert!(hashes[0].len() == 64 && hashes[0].bytes().all(|b| b.is_ascii_hexdigit()));
    let cookie = laptop.cookie.clone().expect("logged in");
    assert!(!page.body.contains(&cookie), "raw ids are never shown");

    // Revoke the phone.
    let page = laptop
        .submit("/sessions", "/sessions/revoke", &[("session", &hashes[0])])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(phone
        .get("/profile")
        .await
        .contains("You are not logged in"));
    assert!(laptop
        .get("/sessions")
        .await
        .contains("You are logged in on 1 device."));

    // Someone else's session cannot be revoked, whatever hash is sent.
    let theirs = revoke_hashes(&{
        let mut second = device(
            &app,
            "user2",
            "password2",
            "Other Tablet",
            "203.0.113.10:7000",
        )
        .await;
        second.get("/sessions").await
    });
    assert_eq!(theirs.len(), 1);
    let page = laptop
        .submit("/sessions", "/sessions/revoke", &[("session", &theirs[0])])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = laptop
        .submit(
            "/sessions",
            "/sessions/revoke",
            &[("session", "not-a-hash")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(other_user
        .get("/profile")
        .await
        .contains("Logged in as user2"));

    // Log out every other device.
    let mut phone = device(
        &app,
        "user1",
        "password1",
        "Phone Safari",
        "198.51.100.7:6000",
    )
    .await;
    let mut tablet = device(&app, "user1", "password1", "Tablet", "198.51.100.8:6000").await;
    assert!(laptop
        .get("/sessions")
        .await
        .contains("You are logged in on 3 devices."));
    log_out_other_devices(&mut laptop, None, &mut [&mut phone, &mut tablet]).await;
    assert!(other_user
        .get("/profile")
        .await
        .contains("Logged in as user2"));

    // This session has no revoke button, and the POSTs need their token.
    let current = revoke_hashes(&laptop.get("/sessions").await);
    assert!(current.is_empty());
    let page = laptop.post("/sessions/logout_others", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let mut anonymous = Browser::new(&app, "test", "192.0.2.1:1000");
    assert_eq!(
        anonymous.get("/sessions").await.location.as_deref(),
        Some("/login")
    );
}

/// A request that still carries the pre-login cookie (sent before the browser had the
/// new one, inside the rotation grace window) is the logged-in session: its sessions
/// page marks that session as this one, and "log out all other devices" keeps it.
async fn a_request_with_the_pre_login_cookie_keeps_its_own_session(url: &str) {
    let app = app(state_for(url).await);
    let mut laptop = Browser::new(&app, "Laptop Firefox", "192.0.2.10:5000");
    laptop.get("/login").await;
    let pre_login = laptop
        .cookie
        .clone()
        .expect("the login form stores a session");
    assert_eq!(
        laptop.login("user1", "password1").await.status,
        StatusCode::SEE_OTHER
    );
    assert_ne!(laptop.cookie.as_deref(), Some(pre_login.as_str()));
    let mut phone = device(&app, "user1", "password1", "Phone", "198.51.100.7:6000").await;
    let mut in_flight = Browser::new(&app, "Laptop Firefox", "192.0.2.10:5000");
    in_flight.cookie = Some(pre_login);
    let page = in_flight.get("/sessions").await;
    assert!(
        page.contains("You are logged in on 2 devices."),
        "{}",
        page.body
    );
    assert_eq!(
        revoke_hashes(&page).len(),
        1,
        "only the phone gets a revoke button"
    );
    log_out_other_devices(&mut in_flight, Some(&mut laptop), &mut [&mut phone]).await;
}

#[tokio::test]
async fn a_request_with_the_pre_login_cookie_keeps_its_own_session_memory() {
    a_request_with_the_pre_login_cookie_keeps_its_own_session("memory://").await;
}

#[tokio::test]
async fn a_request_with_the_pre_login_cookie_keeps_its_own_session_sqlite() {
    a_request_with_the_pre_login_cookie_keeps_its_own_session("sqlite::memory:").await;
}

/// After the idle timeout is lowered (the demo restarted on the same store with
/// SESSIONKIT_IDLE_TIMEOUT set), the sessions page lists only the sessions a request
/// would still get, not those idle past the new limit.
#[tokio::test]
async fn sessions_idle_past_a_lowered_timeout_are_not_listed() -> TestResult {
    let dir = TempDir::new("sessionkit-demo-lowered")?;
    let url = format!("sqlite://{}/sessions.db", dir.0.display());
    let before = app(state_for(&url).await);
    let mut laptop = device(&before, "user1", "password1", "Laptop", "192.0.2.10:5000").await;
    // Past the new limit by over a second: it is reckoned in whole seconds.
    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    let keys = KeyRing::new([SECRET])?;
    let lowered = SessionSettings {
        idle_timeout: Some(time::Duration::seconds(2)),
        ..SessionSettings::default()
    };
    let after = app(AppState::new(
        Store::open(&url, &keys).await?,
        Users::defaults(),
        &keys,
        &lowered,
    )?);
    let mut phone = device(&after, "user1", "password1", "Phone", "198.51.100.7:6000").await;
    let page = phone.get("/sessions").await;
    assert!(
        page.contains("You are logged in on 1 device."),
        "{}",
        page.body
    );
    assert!(
        revoke_hashes(&page).is_empty(),
        "the idle laptop is not offered"
    );
    laptop.app = after;
    assert!(laptop
        .get("/profile")
        .await
        .contains("You are not logged in"));
    Ok(())
}

#[tokio::test]
async fn sessions_page_lists_devices_revokes_one_and_logs_out_others_memory() {
    sessions_across_devices("memory://").await;
}

#[tokio::test]
async fn sessions_page_lists_devices_revokes_one_and_logs_out_others_sqlite() {
    sessions_across_devices("sqlite::memory:").await;
}

#[tokio::test]
async fn the_cookie_store_runs_the_demo_without_a_server_side_record() {
    let app = app(state_for("cookie://").await);
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    browser.login("admin", "adminpass").await;
    browser.get("/add_to_cart/apple").await;
    browser.get("/add_to_cart/apple").await;
    assert!(browser
        .get("/dashboard")
        .await
        .contains("Welcome to the admin dashboard"));
    assert!(browser
        .get("/view_cart")
        .await
        .contains(r#"<td class="qty">2</td>"#));
    assert!(browser
        .get("/sessions")
        .await
        .contains("cannot list other devices"));
    browser.get("/logout").await;
    assert!(browser
        .get("/profile")
        .await
        .contains("You are not logged in"));
}

/// With the cookie store, "log out all other devices" revokes every cookie of the
/// user through their generation number, and this browser logs in again with the new.
#[tokio::test]
async fn the_cookie_store_logs_out_other_devices_through_the_users_generation() {
    let app = app(state_for("cookie://").await);
    let mut laptop = Browser::new(&app, "laptop", "192.0.2.1:1000");
    let mut phone = Browser::new(&app, "phone", "192.0.2.2:1000");
    let mut other_user = Browser::new(&app, "other", "192.0.2.3:1000");
    laptop.login("user1", "password1").await;
    phone.login("user1", "password1").await;
    other_user.login("user2", "password2").await;
    let copied = phone.cookie.clone();
    let page = laptop
        .submit("/sessions", "/sessions/logout_others", &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(laptop.get("/profile").await.contains("user1"));
    assert!(phone
        .get("/profile")
        .await
        .contains("You are not logged in"));
    phone.cookie = copied;
    assert!(
        phone
            .get("/profile")
            .await
            .contains("You are not logged in"),
        "a copy of the phone's cookie is revoked too"
    );
    assert!(other_user.get("/profile").await.contains("user2"));
}

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
async fn raw_get(addr: SocketAddr, path: &str, cookie: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: parallel-test\r\nCookie: id={cookie}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A demo on `url` served on a loopback port, and a session cookie from it.
async fn serve_with_a_session(
    url: &str,
) -> Result<
    (
        SocketAddr,
        tokio::task::JoinHandle<std::io::Result<()>>,
        Arc<String>,
    ),
    Box<dyn std::error::Error + Send + Sync>,
> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app(state_for(url).await);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    // One cookie: the first page view starts the session.
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: parallel-test\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut first = String::new();
    stream.read_to_string(&mut first).await?;
    let cookie = first
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: id="))
        .and_then(|rest| rest.split(';').next())
        .ok_or("the first response sets the session cookie")?
        .to_owned();
    Ok((addr, server, Arc::new(cookie)))
}

async fn parallel_adds_keep_every_item(url: &str) -> TestResult {
    let (addr, server, cookie) = serve_with_a_session(url).await?;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (distinct, same) = (cookie.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            raw_get(addr, &format!("/add_to_cart/item{i}"), &distinct).await
        }));
        tasks.push(tokio::spawn(async move {
            raw_get(addr, "/add_to_cart/same", &same).await
        }));
    }
    for task in tasks {
        let (status, body) = task.await??;
        assert_eq!(status, 200, "{body}");
    }
    let (_, cart) = raw_get(addr, "/view_cart", &cookie).await?;
    for i in 0..20 {
        assert!(
            cart.contains(&format!(
                r#"<td class="item">item{i}</td><td class="qty">1</td>"#
            )),
            "item{i} missing from {cart}"
        );
    }
    assert!(
        cart.contains(r#"<td class="item">same</td><td class="qty">20</td>"#),
        "{cart}"
    );
    assert!(cart.contains(r#"<td>Total</td><td class="qty">40</td>"#));
    server.abort();
    Ok(())
}

async fn parallel_adds_past_the_limit_leave_the_cart_full_not_over(url: &str) -> TestResult {
    let (addr, server, cookie) = serve_with_a_session(url).await?;
    for i in 0..35 {
        let (status, body) = raw_get(addr, &format!("/add_to_cart/first{i}"), &cookie).await?;
        assert_eq!(status, 200, "{body}");
    }
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let cookie = cookie.clone();
            tokio::spawn(
                async move { raw_get(addr, &format!("/add_to_cart/late{i}"), &cookie).await },
            )
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        let (status, body) = task.await??;
        match status {
            200 => added += 1,
            400 => assert!(body.contains("Your cart is full"), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    let (_, cart) = raw_get(addr, "/view_cart", &cookie).await?;
    let lines = cart.matches(r#"<td class="item">"#).count();
    assert_eq!(lines, 40, "the limit holds: {cart}");
    assert_eq!(
        added, 5,
        "exactly the adds that fitted were answered as added"
    );
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_past_the_cart_limit_leave_it_full_not_over_memory() -> TestResult {
    parallel_adds_past_the_limit_leave_the_cart_full_not_over("memory://").await
}

/// A store whose saves take a while, so that the parallel adds really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_past_the_cart_limit_leave_it_full_not_over_sqlite_file() -> TestResult {
    let dir = TempDir::new("sessionkit-demo-cart-limit")?;
    parallel_adds_past_the_limit_leave_the_cart_full_not_over(&format!(
        "sqlite://{}/sessions.db",
        dir.0.display()
    ))
    .await
}

/// A folder under the temporary directory, removed even when an assertion fails.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_adds_on_one_cookie_are_all_kept_memory() -> TestResult {
    parallel_adds_keep_every_item("memory://").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_adds_on_one_cookie_are_all_kept_sqlite_file() -> TestResult {
    let dir = TempDir::new("sessionkit-demo-parallel")?;
    parallel_adds_keep_every_item(&format!("sqlite://{}/sessions.db", dir.0.display())).await
}

/// The value of the first sample of `name` with all of `labels` in a Prometheus page.
fn sample(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_page_reports_session_counters_after_traffic() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "metrics test", "192.0.2.9:1000");
    browser.login("user1", "password1").await;
    browser.get("/add_to_cart/apple").await;
    browser.get("/view_cart").await;
    let mut forger = Browser::new(&app, "forger", "192.0.2.10:1000");
    forger.cookie = Some("not-a-session-id".to_owned());
    forger.get("/profile").await;

    let page = Browser::new(&app, "prometheus", "192.0.2.11:1000")
        .get("/metrics")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.set_cookie.is_none(), "scraping creates no session");
    let body = &page.body;
    for (name, labels) in [
        ("sessionkit_saves_total", &["kind=\"create\""][..]),
        ("sessionkit_saves_total", &["kind=\"update\""][..]),
        ("sessionkit_loads_total", &["result=\"hit\""][..]),
        (
            "sessionkit_suspicious_total",
            &["reason=\"forged_cookie\""][..],
        ),
        (
            "sessionkit_store_call_seconds",
            &["op=\"load\"", "quantile"][..],
        ),
    ] {
        let value = sample(body, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{body}"));
        assert!(
            value > 0.0 || name.ends_with("_seconds"),
            "{name} {labels:?} = {value}"
        );
    }
}

#[tokio::test]
async fn a_full_cookie_session_never_outgrows_the_cookie_and_never_gets_a_server_error() {
    let app = app(state_for("cookie://").await);
    // The longest user agent a session keeps (256 bytes; longer ones are cut).
    let user_agent = format!("Mozilla/5.0 {}", "X".repeat(300)).leak();
    let mut browser = Browser::new(&app, user_agent, "192.0.2.1:1000");
    assert_eq!(
        browser.login("user1", "password1").await.status,
        StatusCode::SEE_OTHER
    );
    browser
        .submit(
            "/set_preferences",
            "/set_preferences",
            &[("theme", "dark"), ("notifications", "disabled")],
        )
        .await;
    browser
        .get(&format!("/set_language/{}", "\u{1F600}".repeat(35)))
        .await;
    // The longest item names, in four-byte characters: the cart fills up, with a 400
    // once it is full, and no page ever fails because the cookie grew too large.
    let long = |i: usize| format!("{i}{}", "\u{1F600}".repeat(63));
    let mut full = false;
    for i in 0..12 {
        let page = browser.get(&format!("/add_to_cart/{}", long(i))).await;
        assert!(
            page.status.is_success() || page.status == StatusCode::BAD_REQUEST,
            "{}",
            page.status
        );
        full |= page.contains("Your cart is full");
    }
    assert!(full, "the cookie store's cart has a smaller limit");
    // The longest paths the history keeps, in four-byte characters (the history
    // records pages that answer 400 too).
    for i in 0..5 {
        let page = browser
            .get(&format!("/set_language/{i}{}", "%F0%9D%94%8F".repeat(80)))
            .await;
        assert!(
            !page.status.is_server_error(),
            "{} {}",
            page.status,
            page.body
        );
        if let Some(set) = &page.set_cookie {
            let pair = set.split(';').next().unwrap_or_default();
            assert!(pair.len() <= 4096, "a {} byte cookie", pair.len());
        }
    }
    for path in ["/view_cart", "/view_history", "/profile", "/dashboard", "/"] {
        for _ in 0..3 {
            let page = browser.get(&format!("{path}?{}", "q".repeat(300))).await;
            assert!(
                page.status.is_success(),
                "{path}: {} {}",
                page.status,
                page.body
            );
            if let Some(set) = &page.set_cookie {
                assert!(set.len() < 4096, "{path}: a {} byte cookie", set.len());
            }
        }
    }
    let page = browser.get(&format!("/remove_from_cart/{}", long(0))).await;
    assert!(page.status.is_success(), "{}", page.status);
}

#[tokio::test]
async fn names_with_control_or_bidi_characters_are_refused() {
    let app = demo().await;
    let mut browser = Browser::new(&app, "test", "192.0.2.1:1000");
    for path in [
        "/set_language/%00",
        "/set_language/en%E2%80%AEgb",
        "/add_to_cart/pear%E2%80%AE",
        "/add_to_cart/a%07b",
    ] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
    assert_eq!(browser.get("/set_language/fr").await.status, StatusCode::OK);
    // The refused paths are still visits: the history keeps them without the characters
    // that would reorder or hide the text after them.
    let page = browser.get("/view_history").await;
    assert!(
        page.body.contains("<li>/add_to_cart/pear</li>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains('\u{202E}') && !page.body.contains('\u{7}'),
        "{}",
        page.body
    );
}
