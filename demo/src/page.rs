//! Every piece of HTML of the demo: the layout, one function per page, the style
//! sheet. All text that came from a user (item names, languages, user names, user
//! agents, paths) goes through [`escape`]; everything else is fixed markup.

use std::fmt::Write as _;

use axum::response::Html;
use sessionkit::Session;

use crate::auth::Role;
use crate::cart::Line;
use crate::error::AppError;
use crate::preferences::{self, Preferences, Theme};
use crate::sessions::Device;

/// What every page shows around its content: the theme and who is logged in.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    theme: Theme,
    user: Option<String>,
}

/// Reads what the layout needs from the session.
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn frame(session: &Session) -> Result<Frame, AppError> {
    Ok(Frame {
        theme: preferences::load(session).await?.theme,
        user: session.user().await?,
    })
}

/// Characters a user-typed name may not hold ([`sessionkit::unsafe_to_show`]: controls,
/// bidi controls and marks, invisible characters that make two names look alike).
pub fn is_unprintable(c: char) -> bool {
    sessionkit::unsafe_to_show(c)
}

/// Escapes text for HTML element content and quoted attribute values.
///
/// ```
/// assert_eq!(sessionkit_demo::page::escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes text as one URL path segment (everything but `A-Z a-z 0-9 - . _ ~`).
///
/// ```
/// assert_eq!(sessionkit_demo::page::path_segment("<b>x</b> ü"), "%3Cb%3Ex%3C%2Fb%3E%20%C3%BC");
/// ```
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The layout around every page. `body` is trusted markup built in this module.
fn layout(frame: &Frame, title: &str, body: &str) -> Html<String> {
    let account = match &frame.user {
        Some(user) => format!(
            r#"<a href="/sessions">Sessions</a><span class="who">{}</span><a href="/logout">Log out</a>"#,
            escape(user)
        ),
        None => r#"<a href="/login">Log in</a>"#.to_owned(),
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · sessionkit demo</title>
<link rel="stylesheet" href="/style.css">
</head>
<body class="theme-{theme}">
<header>
<a class="brand" href="/">sessionkit<span>demo</span></a>
<nav><a href="/">Home</a><a href="/view_cart">Cart</a><a href="/view_history">History</a><a href="/set_preferences">Preferences</a><a href="/profile">Profile</a><a href="/dashboard">Dashboard</a>{account}</nav>
</header>
<main>
<h1>{title}</h1>
{body}
</main>
<footer>Sessions by sessionkit · theme: {theme}</footer>
</body>
</html>
"#,
        title = escape(title),
        theme = frame.theme.as_str(),
    ))
}

/// A bare page for errors (no session needed).
pub fn error_page(message: &str) -> Html<String> {
    layout(
        &Frame::default(),
        "Something went wrong",
        &format!(
            r#"<p class="error">{}</p><p><a href="/">Back to the start</a></p>"#,
            escape(message)
        ),
    )
}

/// `/`
pub(crate) fn home(frame: &Frame, greeting: &str) -> Html<String> {
    let body = format!(
        r#"<p class="greeting">{}</p>
<p>Greet me in
<a href="/set_language/en">English</a> ·
<a href="/set_language/es">español</a> ·
<a href="/set_language/fr">français</a> ·
<a href="/set_language/ja">日本語</a></p>
<p>Shop a little:
<a href="/add_to_cart/apple">add an apple</a> ·
<a href="/add_to_cart/banana">add a banana</a> ·
<a href="/add_to_cart/cherry">add a cherry</a> ·
<a href="/view_cart">view the cart</a></p>"#,
        escape(greeting)
    );
    layout(frame, "Home", &body)
}

/// `/login`, with an error message after a failed attempt; `hint` shows the built-in
/// accounts' passwords.
pub(crate) fn login(
    frame: &Frame,
    csrf_token: &str,
    hint: bool,
    error: Option<&str>,
) -> Html<String> {
    let error = error.map_or_else(String::new, |e| {
        format!(r#"<p class="error">{}</p>"#, escape(e))
    });
    let hint = if hint {
        r#"<p class="hint">Demo accounts: user1 / password1, user2 / password2, admin / adminpass.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"{error}<form method="post" action="/login" class="card">
<input type="hidden" name="csrf_token" value="{token}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>
{hint}"#,
        token = escape(csrf_token)
    );
    layout(frame, "Log in", &body)
}

/// `/profile`
pub(crate) fn profile(frame: &Frame, user: Option<&str>, prefs: &Preferences) -> Html<String> {
    let who = match user {
        Some(user) => format!("<p>Logged in as {}</p>", escape(user)),
        None => r#"<p>You are not logged in</p><p><a href="/login">Log in</a></p>"#.to_owned(),
    };
    let body = format!(
        r#"{who}
<p>Theme: {}, Notifications: {}</p>
<p><a href="/set_preferences">Change preferences</a></p>"#,
        prefs.theme.as_str(),
        prefs.notifications_str()
    );
    layout(frame, "Profile", &body)
}

/// `/dashboard`
pub(crate) fn dashboard(frame: &Frame, user: &str, role: Role) -> Html<String> {
    let welcome = match role {
        Role::Admin => "Welcome to the admin dashboard",
        Role::User => "Welcome to the user dashboard",
    };
    let body = format!(
        r#"<p>{welcome}</p><p class="hint">Signed in as {}.</p>"#,
        escape(user)
    );
    layout(frame, "Dashboard", &body)
}

/// `/add_to_cart/<item>`
pub(crate) fn added(frame: &Frame, item: &str, quantity: i64) -> Html<String> {
    let body = format!(
        r#"<p>Added {} to your cart</p><p class="hint">You now have {quantity}.</p><p><a href="/view_cart">View the cart</a></p>"#,
        escape(item)
    );
    layout(frame, "Cart", &body)
}

/// `/view_cart`
pub(crate) fn cart(frame: &Frame, lines: &[Line]) -> Html<String> {
    if lines.is_empty() {
        return layout(
            frame,
            "Cart",
            r#"<p>Your cart is empty</p><p><a href="/add_to_cart/apple">Add an apple</a></p>"#,
        );
    }
    let mut rows = String::new();
    for line in lines {
        let _ = write!(
            rows,
            r#"<tr><td class="item">{item}</td><td class="qty">{qty}</td><td><a href="/add_to_cart/{seg}">add one</a> · <a href="/remove_from_cart/{seg}">remove</a></td></tr>"#,
            item = escape(&line.item),
            qty = line.quantity,
            seg = escape(&path_segment(&line.item)),
        );
    }
    let total: i64 = lines.iter().map(|l| l.quantity).sum();
    let body = format!(
        r#"<p>Your cart contains:</p>
<table class="cart"><thead><tr><th>Item</th><th>Quantity</th><th></th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><td>Total</td><td class="qty">{total}</td><td></td></tr></tfoot></table>
<p><a class="button" href="/checkout">Check out</a></p>"#
    );
    layout(frame, "Cart", &body)
}

/// `/remove_from_cart/<item>`
pub(crate) fn removed(frame: &Frame, item: &str, removed: bool) -> Html<String> {
    let text = if removed {
        format!("Removed {} from your cart", escape(item))
    } else {
        format!("{} is not in your cart", escape(item))
    };
    let body = format!(r#"<p>{text}</p><p><a href="/view_cart">View the cart</a></p>"#);
    layout(frame, "Cart", &body)
}

/// `/checkout`
pub(crate) fn checkout(frame: &Frame, bought: &[Line]) -> Html<String> {
    if bought.is_empty() {
        return layout(frame, "Checkout", "<p>Your cart is empty</p>");
    }
    let items: Vec<String> = bought
        .iter()
        .map(|l| format!("{} × {}", escape(&l.item), l.quantity))
        .collect();
    let body = format!(
        r#"<p>Checkout completed</p><p class="hint">You bought {}.</p>"#,
        items.join(", ")
    );
    layout(frame, "Checkout", &body)
}

/// `/set_language/<language>`
pub(crate) fn language_set(frame: &Frame, language: &str) -> Html<String> {
    let body = format!(
        r#"<p>Language set to {}</p><p><a href="/">See the greeting</a></p>"#,
        escape(language)
    );
    layout(frame, "Language", &body)
}

fn radio(name: &str, value: &str, label: &str, checked: bool) -> String {
    format!(
        r#"<label class="choice"><input type="radio" name="{name}" value="{value}"{}> {label}</label>"#,
        if checked { " checked" } else { "" }
    )
}

/// `GET /set_preferences`
pub(crate) fn preferences_form(
    frame: &Frame,
    prefs: &Preferences,
    csrf_token: &str,
) -> Html<String> {
    let body = format!(
        r#"<form method="post" action="/set_preferences" class="card">
<input type="hidden" name="csrf_token" value="{token}">
<fieldset><legend>Theme</legend>{light}{dark}</fieldset>
<fieldset><legend>Notifications</legend>{on}{off}</fieldset>
<button type="submit">Save preferences</button>
</form>"#,
        token = escape(csrf_token),
        light = radio("theme", "light", "Light", prefs.theme == Theme::Light),
        dark = radio("theme", "dark", "Dark", prefs.theme == Theme::Dark),
        on = radio("notifications", "enabled", "Enabled", prefs.notifications),
        off = radio(
            "notifications",
            "disabled",
            "Disabled",
            !prefs.notifications
        ),
    );
    layout(frame, "Preferences", &body)
}

/// `POST /set_preferences`
pub(crate) fn preferences_saved(frame: &Frame) -> Html<String> {
    layout(
        frame,
        "Preferences",
        r#"<p>Preferences saved</p><p><a href="/profile">See your profile</a></p>"#,
    )
}

/// `/view_history`
pub(crate) fn history(frame: &Frame, visits: &[String]) -> Html<String> {
    if visits.is_empty() {
        return layout(frame, "History", "<p>You have not visited any page yet</p>");
    }
    let items: String = visits
        .iter()
        .map(|v| format!("<li>{}</li>", escape(v)))
        .collect();
    let body = format!(r#"<p>You have visited:</p><ol class="history">{items}</ol>"#);
    layout(frame, "History", &body)
}

/// `/sessions`
pub(crate) fn sessions(frame: &Frame, devices: &[Device], csrf_token: &str) -> Html<String> {
    let token = escape(csrf_token);
    let mut rows = String::new();
    for device in devices {
        let client = &device.record.client;
        let agent: String = client
            .user_agent
            .as_deref()
            .unwrap_or("unknown browser")
            .chars()
            .take(120)
            .collect();
        let action = if device.current {
            r#"<span class="badge">this session</span>"#.to_owned()
        } else {
            format!(
                r#"<form method="post" action="/sessions/revoke" class="inline"><input type="hidden" name="csrf_token" value="{token}"><input type="hidden" name="session" value="{hash}"><button type="submit">Revoke</button></form>"#,
                hash = device.hash.to_hex()
            )
        };
        let _ = write!(
            rows,
            r#"<tr{class}><td class="agent">{agent}</td><td>{address}</td><td>{created}</td><td>{seen}</td><td>{action}</td></tr>"#,
            class = if device.current {
                r#" class="current""#
            } else {
                ""
            },
            agent = escape(&agent),
            address = escape(client.address.as_deref().unwrap_or("unknown")),
            created = time(device.record.created_at),
            seen = time(device.record.last_seen),
        );
    }
    let others = devices.iter().filter(|d| !d.current).count();
    let body = format!(
        r#"<p>You are logged in on {count} device{plural}.</p>
<table class="sessions"><thead><tr><th>Browser</th><th>Address</th><th>Created</th><th>Last seen</th><th></th></tr></thead>
<tbody>{rows}</tbody></table>
<form method="post" action="/sessions/logout_others" class="actions">
<input type="hidden" name="csrf_token" value="{token}">
<button type="submit"{disabled}>Log out all other devices</button>
</form>"#,
        count = devices.len(),
        plural = if devices.len() == 1 { "" } else { "s" },
        disabled = if others == 0 { " disabled" } else { "" },
    );
    layout(frame, "Active sessions", &body)
}

/// `/sessions` with a store that keeps no index of a user's sessions (the cookie store,
/// Memcached). With the cookie store (`token` given), other devices can still be
/// logged out, all at once, through the user's generation number.
pub(crate) fn sessions_unavailable(frame: &Frame, token: Option<&str>) -> Html<String> {
    let mut body = String::from(
        "<p>The session store this demo runs on (SESSIONKIT_STORE) keeps no index of a user's \
         sessions (browser cookies, Memcached), so the server cannot list other devices. Use \
         a store such as SQLite, PostgreSQL or Redis to see them.</p>",
    );
    if let Some(token) = token {
        body.push_str(&format!(
            r#"<p>Your other devices can still be logged out, all at once: their cookies stop working.</p>
<form method="post" action="/sessions/logout_others" class="actions">
<input type="hidden" name="csrf_token" value="{token}">
<button type="submit">Log out all other devices</button>
</form>"#,
            token = escape(token),
        ));
    }
    layout(frame, "Active sessions", &body)
}

/// The style sheet, served at `/style.css` (a separate file, so the Content-Security-Policy
/// needs no inline styles).
pub const STYLE: &str = r#":root { color-scheme: light; }
body { --bg: #f7f7f4; --fg: #1d1f23; --muted: #5f6670; --card: #ffffff; --line: #dcdcd6; --accent: #2f6fde; --accent-fg: #ffffff; --bad: #b3261e;
  margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body.theme-dark { color-scheme: dark; --bg: #16181d; --fg: #e6e8eb; --muted: #9aa3ad; --card: #20242b; --line: #333944; --accent: #7aa7ff; --accent-fg: #10131a; --bad: #ff8a80; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .75rem 1.5rem; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.15rem; color: var(--fg); text-decoration: none; }
.brand span { color: var(--accent); margin-left: .3rem; font-weight: 500; }
nav { display: flex; flex-wrap: wrap; gap: .9rem; align-items: center; }
nav a { color: var(--fg); text-decoration: none; }
nav a:hover { color: var(--accent); }
.who { padding: .1rem .55rem; border-radius: 999px; background: var(--accent); color: var(--accent-fg); font-size: .85rem; }
main { max-width: 52rem; margin: 2rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
a { color: var(--accent); }
.greeting { font-size: 2.2rem; font-weight: 700; margin: .5rem 0 1.5rem; }
.hint { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem; max-width: 26rem; display: grid; gap: .8rem; }
label { display: grid; gap: .25rem; }
label.choice { display: inline-flex; gap: .4rem; margin-right: 1rem; }
fieldset { border: 1px solid var(--line); border-radius: 8px; }
input:not([type]), input[type=password] { padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); font: inherit; }
button, .button { display: inline-block; padding: .45rem 1rem; border: 0; border-radius: 6px; background: var(--accent); color: var(--accent-fg); font: inherit; cursor: pointer; text-decoration: none; }
button[disabled] { opacity: .5; cursor: default; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
th, td { text-align: left; padding: .55rem .8rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: .9rem; }
td.qty { font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 700; border-bottom: 0; }
tr.current td { background: color-mix(in srgb, var(--accent) 10%, transparent); }
td.agent { max-width: 22rem; overflow-wrap: anywhere; font-size: .9rem; }
.badge { font-size: .8rem; padding: .1rem .5rem; border-radius: 999px; border: 1px solid var(--accent); color: var(--accent); white-space: nowrap; }
form.inline { display: inline; }
form.actions { margin-top: 1rem; }
ol.history li { font-family: ui-monospace, monospace; }
footer { max-width: 52rem; margin: 3rem auto 2rem; padding: 0 1.5rem; color: var(--muted); font-size: .85rem; }
"#;
