//! End to end in a real headless Chromium, driven over WebDriver (chromedriver): log
//! in, add to the cart, switch language and theme, see the active sessions, log out.
//! Saves screenshots of the cart page under `<target>/test-artifacts/`.
//!
//! Without chromedriver the test prints `skipped: chromedriver not found` and passes,
//! unless `SESSIONKIT_REQUIRE_SERVICES=1` (install `chromium` and `chromium-driver`).
//! `SESSIONKIT_CHROMEDRIVER` and `SESSIONKIT_CHROME` override where they are found.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use sessionkit::KeyRing;
use sessionkit_demo::{app, AppState, SessionSettings, Store, Users};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// An executable named `name` on the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    names.iter().find_map(|name| on_path(name))
}

/// A folder removed when dropped (also when an assertion fails).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A chromedriver we started; killed (by its pid) when dropped, with its profile
/// folder removed.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    async fn start(binary: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        // A free port below the ephemeral range, for chromedriver to bind: no client
        // socket can take it meanwhile, and the connect probe below cannot reach itself.
        let port = sessionkit_testkit::env::free_loopback_port(&[]);
        let profile = std::env::temp_dir().join(format!(
            "sessionkit-demo-chrome-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&profile)?;
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let driver = Self {
            child,
            port,
            profile,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("chromedriver did not start listening within 10 s".into())
    }

    async fn browser(
        &self,
        chrome: Option<&Path>,
    ) -> Result<Client, Box<dyn std::error::Error + Send + Sync>> {
        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1100,760",
                format!("--user-data-dir={}", self.profile.display()),
            ],
        });
        if let (Some(chrome), Some(map)) = (chrome, options.as_object_mut()) {
            map.insert("binary".into(), json!(chrome.display().to_string()));
        }
        let mut caps = Capabilities::new();
        caps.insert("goog:chromeOptions".into(), options);
        Ok(ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await?)
    }
}

/// Serves the demo on a free loopback port; returns its base URL.
async fn serve(
    secure: bool,
    data: &Path,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let keys = KeyRing::new(["a test secret of at least thirty-two bytes"])?;
    let url = format!("sqlite://{}/sessions-{secure}.db", data.display());
    let store = Store::open(&url, &keys).await?;
    let settings = SessionSettings {
        secure,
        ..SessionSettings::default()
    };
    let state = AppState::new(store, Users::defaults(), &keys, &settings)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        axum::serve(
            listener,
            app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok(format!("http://{addr}"))
}

/// Where test artifacts go: `$CARGO_TARGET_DIR/test-artifacts`, or the workspace's
/// `target/test-artifacts`.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join("target")
            },
            PathBuf::from,
        );
    target.join("test-artifacts")
}

async fn page_text(client: &Client) -> Result<String, fantoccini::error::CmdError> {
    client.find(Locator::Css("main")).await?.text().await
}

async fn open(
    client: &Client,
    base: &str,
    path: &str,
) -> Result<String, fantoccini::error::CmdError> {
    client.goto(&format!("{base}{path}")).await?;
    page_text(client).await
}

async fn log_in(client: &Client, base: &str, user: &str, password: &str) -> TestResult {
    client.goto(&format!("{base}/login")).await?;
    client
        .find(Locator::Css("input[name=username]"))
        .await?
        .send_keys(user)
        .await?;
    client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(password)
        .await?;
    client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    // The argon2 check takes a moment (longer in debug builds).
    for _ in 0..200 {
        if client.current_url().await?.path() == "/profile" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{user} was not sent to /profile after logging in").into())
}

async fn body_background(client: &Client) -> Result<String, fantoccini::error::CmdError> {
    let value = client
        .execute(
            "return getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

async fn save_screenshot(
    client: &Client,
    name: &str,
) -> Result<PathBuf, Box<dyn std::error::Error + Send + Sync>> {
    let png = client.screenshot().await?;
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, png)?;
    eprintln!("screenshot: {}", path.display());
    Ok(path)
}

async fn tour(client: &Client, base: &str, secure_base: &str) -> TestResult {
    // Log in.
    log_in(client, base, "user1", "password1").await?;
    assert!(page_text(client).await?.contains("Logged in as user1"));
    let cookies = client.get_all_cookies().await?;
    let session_cookie = cookies
        .iter()
        .find(|c| c.name() == "id")
        .ok_or("session cookie set")?;
    assert_eq!(session_cookie.http_only(), Some(true));

    // Add to the cart.
    for item in [
        "apple",
        "apple",
        "banana",
        "green%20tea",
        "%3Cb%3Ex%3C%2Fb%3E",
    ] {
        let text = open(client, base, &format!("/add_to_cart/{item}")).await?;
        assert!(text.contains("to your cart"), "{text}");
    }
    let text = open(client, base, "/view_cart").await?;
    assert!(text.contains("Your cart contains:"), "{text}");
    let apples = client
        .find(Locator::XPath(
            "//tr[td[@class='item' and .='apple']]/td[@class='qty']",
        ))
        .await?
        .text()
        .await?;
    assert_eq!(apples, "2");
    assert!(text.contains("<b>x</b>"), "shown as text: {text}");
    assert!(
        client.find_all(Locator::Css("main b")).await?.is_empty(),
        "no markup injected"
    );
    let light = body_background(client).await?;
    save_screenshot(client, "cart-light.png").await?;

    // Switch language.
    assert!(open(client, base, "/set_language/es")
        .await?
        .contains("Language set to es"));
    assert!(open(client, base, "/").await?.contains("¡Hola, Mundo!"));
    open(client, base, "/set_language/ja").await?;
    assert!(open(client, base, "/").await?.contains("こんにちは、世界!"));

    // Switch the theme through the form.
    client.goto(&format!("{base}/set_preferences")).await?;
    client
        .find(Locator::Css("input[name=theme][value=dark]"))
        .await?
        .click()
        .await?;
    client
        .find(Locator::Css("input[name=notifications][value=disabled]"))
        .await?
        .click()
        .await?;
    client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let saved = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//p[.='Preferences saved']"))
        .await;
    assert!(saved.is_ok(), "the preferences form was saved");
    let text = open(client, base, "/profile").await?;
    assert!(
        text.contains("Theme: dark, Notifications: disabled"),
        "{text}"
    );
    let text = open(client, base, "/view_cart").await?;
    assert!(text.contains("Your cart contains:"));
    let dark = body_background(client).await?;
    assert_ne!(light, dark, "the theme changes the page's look");
    assert_eq!(dark, "rgb(22, 24, 29)");
    save_screenshot(client, "cart.png").await?;

    // The active sessions.
    let text = open(client, base, "/sessions").await?;
    assert!(text.contains("You are logged in on 1 device."), "{text}");
    assert!(text.contains("this session"), "{text}");
    assert!(
        text.contains("HeadlessChrome") || text.contains("Chrome"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1"), "{text}");
    save_screenshot(client, "sessions.png").await?;

    // Log out.
    client.goto(&format!("{base}/logout")).await?;
    assert_eq!(client.current_url().await?.path(), "/login");
    assert!(open(client, base, "/profile")
        .await?
        .contains("You are not logged in"));
    assert!(open(client, base, "/view_cart")
        .await?
        .contains("Your cart is empty"));

    // Secure cookies (the default) also work in Chrome on http://127.0.0.1, a
    // "potentially trustworthy" origin.
    log_in(client, secure_base, "admin", "adminpass").await?;
    assert!(open(client, secure_base, "/dashboard")
        .await?
        .contains("Welcome to the admin dashboard"));
    let cookies = client.get_all_cookies().await?;
    let secure_cookie = cookies
        .iter()
        .find(|c| c.name() == "id")
        .ok_or("secure session cookie set")?;
    assert_eq!(secure_cookie.secure(), Some(true));
    client.goto(&format!("{secure_base}/logout")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_logs_in_shops_switches_language_and_theme_and_logs_out() -> TestResult {
    let Some(chromedriver) = find("SESSIONKIT_CHROMEDRIVER", &["chromedriver"]) else {
        assert!(
            !sessionkit_testkit::env::require_services(),
            "chromedriver not found but SESSIONKIT_REQUIRE_SERVICES=1: install chromium and chromium-driver"
        );
        eprintln!("skipped: chromedriver not found");
        return Ok(());
    };
    let chrome = find(
        "SESSIONKIT_CHROME",
        &["chromium", "chromium-browser", "google-chrome"],
    );

    let data = TempDir(
        std::env::temp_dir().join(format!("sessionkit-demo-browser-{}", std::process::id())),
    );
    std::fs::create_dir_all(&data.0)?;
    let base = serve(false, &data.0).await?;
    let secure_base = serve(true, &data.0).await?;

    let driver = Driver::start(&chromedriver).await?;
    let client = driver.browser(chrome.as_deref()).await?;
    let result = tour(&client, &base, &secure_base).await;
    let _ = client.close().await;
    drop(driver);
    result
}
