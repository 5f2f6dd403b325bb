//! Runs the demo app: `cargo run -p sessionkit-demo`, then open http://127.0.0.1:3000.
//!
//! Settings come from the environment (see the `config` module of the library);
//! `cargo run -p sessionkit-demo -- hash-password` reads a password from standard
//! input and prints its argon2 hash for a users file.

// The store enum's futures (Redis, SQL, …) nest deeply enough to need more room.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::process::ExitCode;

use sessionkit_demo::{
    app, config, error::one_line, store, AppState, Config, StartupError, Store, Users,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("hash-password") => return hash_password(),
        Some("-h" | "--help") => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("sessionkit-demo: unknown argument {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Colours for a terminal only: not as escape codes in a redirected log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sessionkit-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run());
    // Requests in flight are done; don't wait for idle pool threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessionkit-demo: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
sessionkit-demo: the sessionkit demo web app

usage:
  sessionkit-demo                  serve (settings from the environment)
  sessionkit-demo hash-password    read a password from stdin, print its argon2 hash

environment (all optional):
  SESSIONKIT_ADDR              listen address (127.0.0.1:3000)
  SESSIONKIT_DATA_DIR          data folder for the default store and key (./data)
  SESSIONKIT_STORE             sqlite://file.db, sqlite::memory:, postgres://…, mysql://…,
                               file:///dir, memory://, cookie://
                               (default: sqlite://<data dir>/sessions.db)
  SESSIONKIT_SECRET_KEYS       comma-separated secrets, 32+ bytes each, first signs
                               (default: generated into <data dir>/secret.key, mode 0600)
  SESSIONKIT_IDLE_TIMEOUT      seconds of inactivity before a session ends (14 days)
  SESSIONKIT_ABSOLUTE_TIMEOUT  seconds from creation before a session ends (30 days)
  SESSIONKIT_BROWSER_SESSION   1: cookies end when the browser closes (0)
  SESSIONKIT_COOKIE_SECURE     0: allow the cookie over plain HTTP (1)
  SESSIONKIT_USERS_FILE        lines of username:role:$argon2id$… (role admin or user)
  RUST_LOG                     log filter (info)";

async fn run() -> Result<(), StartupError> {
    let config = Config::from_env()?;
    let keys = config.load_keys()?;
    let url = config.store_url();
    if config.uses_default_store() {
        config::create_data_dir(&config.data_dir)?;
    }
    let store = Store::open(&url, &keys).await?;
    let cleanup = store.spawn_cleanup();
    let users = match &config.users_file {
        Some(path) => Users::from_file(path)?,
        None => Users::defaults(),
    };
    let state = AppState::new(store, users, &keys, &config.sessions)?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|error| StartupError::Bind {
            addr: config.addr.clone(),
            error,
        })?;
    let local = listener.local_addr().map_err(StartupError::Serve)?;
    let accounts = if config.users_file.is_some() {
        "from SESSIONKIT_USERS_FILE"
    } else {
        "the tutorial's"
    };
    let count = state.users().len();
    let plural = if count == 1 { "" } else { "s" };
    tracing::info!(
        "sessionkit demo listening on http://{local} (store: {}; {count} account{plural}, {accounts}; secure cookies: {})",
        store::describe(&url),
        if config.sessions.secure { "on" } else { "off" },
    );
    if config.sessions.secure && !local.ip().is_loopback() {
        tracing::warn!(
            "cookies are Secure: browsers send them over HTTPS (and to localhost) only; serve \
             this behind TLS or set SESSIONKIT_COOKIE_SECURE=0 for plain-HTTP testing"
        );
    }
    // After the signal, requests in flight get SHUTDOWN_GRACE to finish; a client that
    // keeps a connection open (a request never completed) does not hold up the exit.
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown().await;
        let _ = stopping.send(true);
    };
    let serve = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let deadline = async move {
        let _ = stopped.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(serve) => served.map_err(StartupError::Serve)?,
        () = deadline => tracing::warn!(
            "connections still open {} s after the signal; stopping without them",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
    if let Some(cleanup) = cleanup {
        cleanup.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves on Ctrl-C (or SIGTERM on Unix).
async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("sessionkit-demo: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("sessionkit-demo: empty password");
        return ExitCode::FAILURE;
    }
    match sessionkit_demo::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sessionkit-demo: cannot hash the password: {e}");
            ExitCode::FAILURE
        }
    }
}
