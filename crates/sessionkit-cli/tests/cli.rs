//! The real `sessionkit` binary against real stores: sessions created through the
//! library, then inspected and revoked through the command line.

use std::process::Output;

use serde_json::Value;
use sessionkit_any::AnyStore;
use sessionkit_core::{Record, Session, SessionConfig, SessionId, SessionStore};
use time::{Duration, OffsetDateTime};

fn sessionkit(store: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sessionkit"))
        .args(args)
        .env("SESSIONKIT_STORE", store)
        .output()
        .expect("the sessionkit binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

fn unique(prefix: &str) -> String {
    let id = SessionId::generate().expect("randomness").to_string();
    format!("{prefix}_{}", &id[..8]).replace('-', "x")
}

/// A user's logged-in session, created as an application would.
async fn login(store: &AnyStore, user: &str) -> SessionId {
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("cart", vec!["apple"]).await.expect("insert");
    session.login(user).await.expect("login");
    session.save().await.expect("save");
    session.id().await.expect("saved sessions have an id")
}

async fn expired(store: &AnyStore, n: usize) {
    let now = OffsetDateTime::now_utc();
    for _ in 0..n {
        let id = SessionId::generate().expect("randomness").hash();
        let r = Record::new(
            id,
            Default::default(),
            now - Duration::hours(2),
            now - Duration::hours(1),
        );
        store.create(&r).await.expect("create");
    }
}

async fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(unique("sessionkit-cli"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}", dir.join("sessions.db").display())
}

async fn exercise(url: &str) {
    exercise_store(url, false).await;
}

async fn exercise_store(url: &str, expires_by_itself: bool) {
    let migrate = sessionkit(url, &["migrate"]);
    assert!(migrate.status.success(), "{migrate:?}");
    assert!(
        sessionkit(url, &["migrate"]).status.success(),
        "migrate twice is fine"
    );
    let store = sessionkit_any::open(url).await.expect("open");
    let (alice, bob) = (unique("alice"), unique("bob"));
    let a1 = login(&store, &alice).await;
    let a2 = login(&store, &alice).await;
    let b1 = login(&store, &bob).await;
    expired(&store, 25).await;

    let stats = json(&sessionkit(url, &["stats", "--json", "--top", "1000"]));
    assert!(stats["live"].as_u64().expect("live") >= 3);
    let tops = stats["top_users"].as_array().expect("top users");
    assert!(tops.contains(&serde_json::json!([alice, 2])), "{tops:?}");

    let human = stdout(&sessionkit(url, &["stats"]));
    assert!(human.contains("live sessions:"), "{human}");

    let list = json(&sessionkit(url, &["list", "--user", &alice, "--json"]));
    let hashes: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["id_hash"].as_str())
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.contains(&a1.hash().to_hex().as_str()));
    let table = stdout(&sessionkit(url, &["list", "--user", &alice]));
    assert!(table.starts_with("ID HASH"), "{table}");
    assert!(
        !table.contains(&a1.to_string()),
        "the raw id is never printed"
    );

    let show = json(&sessionkit(url, &["show", &a1.to_string(), "--json"]));
    assert_eq!(show["user"], alice.as_str());
    assert_eq!(show["data"]["cart"], serde_json::json!(["apple"]));
    let by_hash = json(&sessionkit(url, &["show", &a1.hash().to_hex(), "--json"]));
    assert_eq!(by_hash["id_hash"], show["id_hash"]);

    let missing = sessionkit(
        url,
        &[
            "show",
            &SessionId::generate().expect("randomness").to_string(),
        ],
    );
    assert_eq!(missing.status.code(), Some(3), "unknown session exits 3");
    let garbage = sessionkit(url, &["show", "../../etc/passwd"]);
    assert_eq!(garbage.status.code(), Some(2));
    for typo in ["g".repeat(64), format!("junk{a1}")] {
        let out = sessionkit(url, &["show", &typo]);
        assert_eq!(out.status.code(), Some(2), "{typo} is no id: {out:?}");
    }

    let revoked = json(&sessionkit(
        url,
        &[
            "revoke",
            "--user",
            &alice,
            "--except",
            &a2.to_string(),
            "--json",
        ],
    ));
    assert_eq!(revoked["revoked"], 1);
    assert!(store.load(&a1.hash()).await.expect("load").is_none());
    assert!(store.load(&a2.hash()).await.expect("load").is_some());
    assert!(
        store.load(&b1.hash()).await.expect("load").is_some(),
        "bob is untouched"
    );

    let one = sessionkit(url, &["revoke", &b1.to_string()]);
    assert!(one.status.success(), "{one:?}");
    assert!(store.load(&b1.hash()).await.expect("load").is_none());
    assert_eq!(
        sessionkit(url, &["revoke", &b1.to_string()]).status.code(),
        Some(3)
    );

    if expires_by_itself {
        // Redis deletes expired sessions itself; clear-expired prunes the user-index
        // entries they leave (the pruning is proven in sessionkit-redis's tests: an
        // entry is only pruned a minute after it was added).
        let cleared = json(&sessionkit(url, &["clear-expired", "--json"]));
        assert!(cleared["index_entries_pruned"].is_u64(), "{cleared}");
        assert_eq!(cleared["expires_by_itself"], true, "{cleared}");
        let out = stdout(&sessionkit(url, &["clear-expired"]));
        assert!(out.contains("expires sessions by itself"), "{out}");
    } else {
        let cleared = json(&sessionkit(
            url,
            &["clear-expired", "--batch", "10", "--json"],
        ));
        assert!(
            cleared["deleted"].as_u64().expect("deleted") >= 25,
            "{cleared}"
        );
        assert_eq!(cleared["expires_by_itself"], false, "{cleared}");
        let again = stdout(&sessionkit(url, &["clear-expired"]));
        assert!(
            again.starts_with("deleted 0 expired sessions in"),
            "{again}"
        );
    }
    assert!(
        store.load(&a2.hash()).await.expect("load").is_some(),
        "live sessions survive cleanup"
    );
}

#[tokio::test]
async fn cli_manages_sessions_in_sqlite() {
    exercise(&sqlite_url().await).await;
}

#[tokio::test]
async fn cli_manages_sessions_in_postgres() {
    let Some(url) = sessionkit_testkit::env::service_url("SESSIONKIT_TEST_POSTGRES_URL") else {
        return;
    };
    exercise(&url).await;
}

#[tokio::test]
async fn cli_manages_sessions_in_mysql() {
    let Some(url) = sessionkit_testkit::env::service_url("SESSIONKIT_TEST_MYSQL_URL") else {
        return;
    };
    exercise(&url).await;
}

#[test]
fn missing_store_and_bad_urls_are_clear_usage_errors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessionkit"))
        .arg("stats")
        .env_remove("SESSIONKIT_STORE")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--store"));

    let out = sessionkit("ftp://user:hunter2@example/x", &["stats"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown session store URL scheme"), "{err}");
    assert!(!err.contains("hunter2"), "passwords never appear: {err}");

    let out = sessionkit("postgres://nobody@127.0.0.1:1/none", &["stats"]);
    assert_eq!(out.status.code(), Some(1), "an unreachable store exits 1");
}

#[tokio::test]
async fn ids_starting_with_a_hyphen_are_read_as_ids_not_options() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    // Base64url ids start with '-' one time in 64: draw until one does.
    let id = loop {
        let id = login(&store, &unique("dash")).await;
        if id.to_string().starts_with('-') {
            break id;
        }
        store.delete(&id.hash()).await.expect("delete");
    };
    let show = json(&sessionkit(&url, &["show", &id.to_string(), "--json"]));
    assert_eq!(show["id_hash"], id.hash().to_hex().as_str());
    let user = show["user"].as_str().expect("user").to_owned();
    let out = sessionkit(
        &url,
        &["revoke", "--user", &user, "--except", &id.to_string()],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(sessionkit(&url, &["revoke", &id.to_string()])
        .status
        .success());
}

#[test]
fn help_is_written_for_an_operator() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessionkit"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["clear-expired", "revoke", "Exit codes", "SESSIONKIT_STORE"] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
}

#[tokio::test]
async fn cli_manages_sessions_in_a_file_store() {
    let dir = std::env::temp_dir().join(unique("sessionkit-cli-files"));
    exercise(&format!("file://{}", dir.display())).await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn cli_manages_sessions_in_redis() {
    let Some(url) = sessionkit_testkit::env::service_url("SESSIONKIT_TEST_REDIS_URL") else {
        return;
    };
    exercise_store(&url, true).await;
}

#[tokio::test]
async fn cli_says_what_memcached_cannot_do() {
    let Some(url) = sessionkit_testkit::env::service_url("SESSIONKIT_TEST_MEMCACHED_URL") else {
        return;
    };
    let out = sessionkit(&url, &["stats"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot enumerate sessions"));
    let store = sessionkit_any::open(&url).await.expect("open");
    let id = login(&store, &unique("carol")).await;
    let show = json(&sessionkit(&url, &["show", &id.to_string(), "--json"]));
    assert_eq!(show["data"]["cart"], serde_json::json!(["apple"]));
    assert!(sessionkit(&url, &["revoke", &id.to_string()])
        .status
        .success());
    assert!(store.load(&id.hash()).await.expect("load").is_none());
}

#[tokio::test]
async fn output_to_a_closed_pipe_ends_quietly_without_a_panic() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    for args in [&["stats"][..], &["list"], &["migrate"], &["list", "--json"]] {
        // A reader that has already gone, as after `| head` has had enough.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessionkit"))
            .args(args)
            .env("SESSIONKIT_STORE", &url)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn list_pages_past_rotated_away_ids_to_fill_its_limit() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let mut old_ids = Vec::new();
    for _ in 0..6 {
        // Saved, then logged in: the login leaves the old id's record behind.
        let session = Session::new(store.clone(), SessionConfig::default());
        session.insert("cart", vec!["pear"]).await.expect("insert");
        session.save().await.expect("save");
        old_ids.push(session.id().await.expect("an id"));
        session.login(&unique("erin")).await.expect("login");
        session.save().await.expect("save");
    }
    let out = sessionkit(&url, &["show", &old_ids[0].to_string()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a rotated-away id is no session: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rotated away"));
    let out = sessionkit(&url, &["revoke", &old_ids[0].to_string()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "revoking a rotated-away id revokes nothing: {out:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("goes on as "), "{err}");
    let successor = err.rsplit("goes on as ").next().unwrap_or_default();
    let successor = successor.split(':').next().unwrap_or_default().trim();
    let show = sessionkit(&url, &["show", successor]);
    assert!(
        show.status.success(),
        "the hash it names is the session: {show:?}"
    );
    for (limit, rows) in [("3", 3), ("6", 6), ("100", 6)] {
        let out = sessionkit(&url, &["list", "--limit", limit, "--json"]);
        let note = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            note.contains("there are more"),
            limit == "3",
            "--limit {limit}: {note:?}"
        );
        let list = json(&out);
        assert_eq!(list.as_array().map(Vec::len), Some(rows), "--limit {limit}");
    }
    let out = sessionkit(&url, &["list", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[tokio::test]
async fn the_list_table_lines_up_wide_names_and_escapes_terminal_controls() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let mut eve = None;
    for user in ["山田太郎", "ada", "eve\u{1b}[2J\u{202e}"] {
        eve = Some(login(&store, user).await);
    }
    let eve = eve.expect("eve's id").to_string();
    for args in [
        &["show", &eve][..],
        &["show", &eve, "--json"],
        &["list", "--json"],
    ] {
        let out = stdout(&sessionkit(&url, args));
        assert!(!out.contains(['\u{1b}', '\u{202e}']), "{args:?}: {out}");
        let parsed: Value = serde_json::from_str(&out).expect("still JSON");
        assert!(
            parsed.to_string().contains("eve\\u001b[2J\u{202e}"),
            "{parsed}"
        );
    }
    let table = stdout(&sessionkit(&url, &["list"]));
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{202e}'),
        "{table}"
    );
    assert!(table.contains("eve\\u{1b}[2J\\u{202e}"), "{table}");
    // The CREATED column starts at the same terminal column on every line: a CJK
    // character takes two.
    let columns: Vec<usize> = table
        .lines()
        .map(|row| {
            let before = row
                .find(" 20")
                .map(|space| space + 1)
                .or_else(|| row.find("CREATED"))
                .expect("a date");
            unicode_width::UnicodeWidthStr::width(&row[..before])
        })
        .collect();
    assert_eq!(columns.len(), 4, "{table}");
    assert!(
        columns.windows(2).all(|w| w[0] == w[1]),
        "{columns:?}\n{table}"
    );
}

#[tokio::test]
async fn the_hashes_list_prints_are_what_show_and_revoke_take() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let id = login(&store, &unique("frank")).await;
    let table = stdout(&sessionkit(&url, &["list"]));
    let hash = table
        .lines()
        .nth(1)
        .and_then(|row| row.split_whitespace().next())
        .expect("a row under the header")
        .to_owned();
    assert_eq!(hash, id.hash().to_hex());
    let show = json(&sessionkit(&url, &["show", &hash, "--json"]));
    assert_eq!(show["data"]["cart"], serde_json::json!(["apple"]));
    let out = sessionkit(&url, &["revoke", &hash]);
    assert!(out.status.success(), "{out:?}");
    assert!(store.load(&id.hash()).await.expect("load").is_none());
}

#[tokio::test]
async fn except_without_user_is_a_usage_error_and_revokes_nothing() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let id = login(&store, &unique("gina")).await;
    let out = sessionkit(
        &url,
        &["revoke", &id.to_string(), "--except", &id.to_string()],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(store.load(&id.hash()).await.expect("load").is_some());
}

#[tokio::test]
async fn an_id_a_login_as_another_user_ended_has_nothing_to_revoke() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    // Anonymous, then ada (a pointer that goes on), then bob (a pointer that ends).
    let anonymous = Session::new(store.clone(), SessionConfig::default());
    anonymous
        .insert("cart", vec!["pear"])
        .await
        .expect("insert");
    anonymous.save().await.expect("save");
    let first = anonymous.id().await.expect("an anonymous id");
    let session = Session::open(store.clone(), SessionConfig::default(), Some(first.clone()));
    session.login(&unique("ada")).await.expect("login");
    session.save().await.expect("save");
    let ada = session.id().await.expect("ada's id");
    let session = Session::open(store.clone(), SessionConfig::default(), Some(ada.clone()));
    session.login(&unique("bob")).await.expect("login");
    session.save().await.expect("save");
    let bob = session.id().await.expect("bob's id");
    for (command, id) in [("show", &ada), ("revoke", &ada), ("show", &first)] {
        let out = sessionkit(&url, &[command, &id.to_string()]);
        assert_eq!(out.status.code(), Some(3), "{command}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ended at a login as another user"), "{err}");
        assert!(
            !err.contains(&bob.hash().to_hex()),
            "bob's session is not named"
        );
    }
    assert!(store.load(&bob.hash()).await.expect("load").is_some());
}

#[tokio::test]
async fn except_naming_no_live_session_of_the_user_revokes_nothing() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let hana = unique("hana");
    let first = login(&store, &hana).await;
    let second = login(&store, &hana).await;
    let other = login(&store, &unique("ivan")).await;
    let typo = "ab".repeat(32);
    for keep in [typo, other.to_string()] {
        let out = sessionkit(&url, &["revoke", "--user", &hana, "--except", &keep]);
        assert_eq!(out.status.code(), Some(3), "{keep}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was revoked"));
    }
    for id in [&first, &second, &other] {
        assert!(store.load(&id.hash()).await.expect("load").is_some());
    }
}

#[test]
fn commands_other_than_migrate_never_create_a_store() {
    let dir = std::env::temp_dir().join(unique("sessionkit-cli-missing"));
    for url in [
        format!("sqlite://{}", dir.join("typo.db").display()),
        format!("file://{}", dir.join("sessions").display()),
    ] {
        for args in [&["stats"][..], &["list"], &["clear-expired"]] {
            let out = sessionkit(&url, args);
            assert_eq!(out.status.code(), Some(2), "{url} {args:?}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("no session store at"), "{err}");
        }
    }
    assert!(!dir.exists(), "nothing was created");
}

#[test]
fn malformed_urls_exit_2_and_never_show_a_password() {
    for url in [
        "postgres:/app:hunter2@127.0.0.1/test",
        "mysql:/root:hunter2@127.0.0.1/test",
        "postgres://app:hunter2@127.0.0.1:notaport/test",
        "memory://?compat",
        "sk_live_hunter2",
        " ",
        // Nothing listens on port 1: these are refused before any connection.
        "postgres://app:hunter2@127.0.0.1:1/test?tabel=web_sessions",
        "mysql://root:hunter2@127.0.0.1:1/test?sslmod=required",
        "redis://:hunter2@127.0.0.1:1/0?prefx=shop:",
        "redis://:hunter2@127.0.0.1:1/0?prefix=shop*",
        "redis://:hunter2@127.0.0.1:99999/0",
        "memcache://127.0.0.1:99999",
        "memcache://127.0.0.1:1?prefix=two%20words",
        "mysql://root:hunter2@127.0.0.1:1?table=web_sessions",
        "sqlite::memory:",
    ] {
        let out = sessionkit(url, &["stats"]);
        assert_eq!(out.status.code(), Some(2), "{url}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("hunter2"), "{url}: {err}");
    }
    let out = sessionkit("postgres://app@127.0.0.1:1/test?tabel=web", &["stats"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown PostgreSQL URL parameter `tabel`"),
        "a misspelt option is named: {err}"
    );
}

#[tokio::test]
async fn the_store_url_names_an_applications_own_table_or_key_prefix() {
    let url = sqlite_url().await;
    let web = format!("{url}?table=web_sessions");
    assert!(sessionkit(&web, &["migrate"]).status.success());
    let store = sessionkit_any::open(&web).await.expect("open");
    let id = login(&store, &unique("hana")).await;
    let show = json(&sessionkit(&web, &["show", &id.to_string(), "--json"]));
    assert_eq!(show["data"]["cart"], serde_json::json!(["apple"]));
    let out = sessionkit(&web, &["stats"]);
    assert!(
        stdout(&out).contains("live sessions:            1"),
        "{out:?}"
    );

    let Some(redis) = sessionkit_testkit::env::service_url("SESSIONKIT_TEST_REDIS_URL") else {
        return;
    };
    let prefixed = format!("{redis}?prefix={}:", unique("skcli"));
    let store = sessionkit_any::open(&prefixed).await.expect("open");
    let id = login(&store, &unique("ivan")).await;
    assert!(sessionkit(&prefixed, &["show", &id.to_string()])
        .status
        .success());
    assert_eq!(
        sessionkit(&redis, &["show", &id.to_string()]).status.code(),
        Some(3),
        "another prefix is another store"
    );
    assert!(sessionkit(&prefixed, &["revoke", &id.to_string()])
        .status
        .success());
}

#[tokio::test]
async fn show_hides_the_csrf_secret_and_a_corrupt_record_can_be_revoked() {
    let dir = std::env::temp_dir().join(unique("sessionkit-cli-corrupt"));
    let url = format!("file://{}", dir.display());
    assert!(sessionkit(&url, &["migrate"]).status.success());
    let store = sessionkit_any::open(&url).await.expect("open");
    let session = Session::new(store.clone(), SessionConfig::default());
    let secret = "dGhlIHNlc3Npb24ncyBDU1JGIHNlY3JldCwgMzIgYnl0ZXM";
    session
        .insert(sessionkit_core::CSRF_SECRET_KEY, secret)
        .await
        .expect("insert");
    session.insert("cart", vec!["apple"]).await.expect("insert");
    session.save().await.expect("save");
    let id = session.id().await.expect("saved");
    let hash = id.hash().to_hex();

    let shown = sessionkit(&url, &["show", &hash, "--json"]);
    let text = stdout(&shown);
    assert!(
        !text.contains(secret),
        "the CSRF secret is never shown: {text}"
    );
    let data = &json(&shown)["data"];
    assert_eq!(data["cart"], serde_json::json!(["apple"]));
    assert!(data[sessionkit_core::CSRF_SECRET_KEY]
        .as_str()
        .is_some_and(|v| v.contains("hidden")));

    std::fs::write(dir.join(&hash), b"\x67not a record").expect("corrupt the file");
    let out = sessionkit(&url, &["show", &hash]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt") || err.contains("format"), "{err}");
    assert!(err.contains(&format!("sessionkit revoke {hash}")), "{err}");
    let out = sessionkit(&url, &["revoke", &hash]);
    assert!(out.status.success(), "a corrupt record is revoked: {out:?}");
    assert!(!dir.join(&hash).exists(), "its file is gone");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn an_empty_user_name_and_a_memory_store_are_usage_errors() {
    let url = sqlite_url().await;
    assert!(sessionkit(&url, &["migrate"]).status.success());
    for args in [&["list", "--user", ""][..], &["revoke", "--user", ""]] {
        let out = sessionkit(&url, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    for args in [&["list"][..], &["stats"], &["clear-expired"]] {
        let out = sessionkit("memory://", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("inside the application's process"), "{err}");
    }
    // With --json, a failure is JSON on standard output as well.
    let out = sessionkit("memory://", &["list", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let failed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["exit_code"], 2);
    assert!(failed["error"]
        .as_str()
        .is_some_and(|e| e.contains("inside the application's process")));
}
