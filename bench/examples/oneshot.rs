//! The session layers' cost per request with no network: each route of the load
//! benchmark served through the router in a loop (`tower::ServiceExt::oneshot`), bare,
//! on tower-sessions and on sessionkit, each on its store of the kind named (memory by
//! default; `sqlite`, `postgres` and `redis` need the load benchmark's URL variables).
//! Figures are per request: nanoseconds of this thread, and, where the kernel offers a
//! counter, instructions retired (they do not move with the machine's neighbours, so
//! they show a change of a few dozen instructions that timings on a shared machine
//! hide). This is the floor under what the load benchmark measures; run it under
//! `perf record` to see where the time goes. With a store behind a network, the count
//! covers the client library's work on this thread (the store's server, and SQLite's
//! worker thread, are not counted) and the time includes the round trips.
//!
//! `cargo run --release -p sessionkit-bench --example oneshot -- [iterations] [route|all] [store] [server|all]`
//! (`server`: `bare`, `no-op` (bare axum's routes under a layer that does nothing: axum's
//! own cost of layering a router), `tower-sessions` or `sessionkit`).
//!
//! Where the kernel offers no counter (many virtual machines), count with valgrind
//! instead: run one route on one server under `valgrind --tool=callgrind` at two
//! iteration counts; the difference of the two totals ("Collected"), divided by 1.1
//! times the difference of the counts (each run warms up with a tenth of its
//! iterations first), is the instructions per request, with the process's start and
//! the store's setup cancelled out.

use std::time::Instant;

use axum::body::Body;
use axum::Router;
use clap::ValueEnum as _;
use http::{HeaderValue, Request};
use http_body_util::BodyExt as _;
use perf_event::events::Hardware;
use sessionkit_bench::{apps, stores, StoreKind};
use tower::ServiceExt as _;

/// One request through `app`. The cookie header is a clone of one value, as a server's
/// parsed headers are slices of its read buffer: cloning it costs a reference count
/// (a value built from a string on every request would cost an allocation the first
/// time a layer keeps a clone of it, which no server request does).
async fn call(app: &Router, path: &str, cookie: Option<&HeaderValue>) -> http::Response<Body> {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(http::header::COOKIE, cookie.clone());
    }
    let req = req.body(Body::empty()).expect("a valid request");
    app.clone().oneshot(req).await.expect("infallible")
}

/// Nanoseconds and instructions (if counted) per request.
async fn per_request(app: &Router, path: &str, cookie: Option<&str>, n: u32) -> (f64, Option<f64>) {
    let cookie = cookie.map(|c| HeaderValue::from_str(c).expect("a cookie header"));
    let cookie = cookie.as_ref();
    for _ in 0..n / 10 {
        drop(call(app, path, cookie).await);
    }
    let mut counter = perf_event::Builder::new(Hardware::INSTRUCTIONS)
        .build()
        .ok();
    let counting = counter.as_mut().is_some_and(|c| c.enable().is_ok());
    let started = Instant::now();
    for _ in 0..n {
        let res = call(app, path, cookie).await;
        drop(res.into_body().collect().await);
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(n);
    let instructions = counter
        .filter(|_| counting)
        .and_then(|mut c| c.read().ok())
        .map(|i| i as f64 / f64::from(n));
    (ns, instructions)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let kind = std::env::args()
        .nth(3)
        .map_or(Ok(StoreKind::Memory), |s| StoreKind::from_str(&s, true))
        .expect("a store kind: memory, memory-compact, sqlite, postgres or redis");
    let run = format!("oneshot{}", std::process::id());
    let prepared = match stores::prepare(kind, &run).await.expect("the store") {
        Ok(prepared) => prepared,
        Err(skipped) => {
            println!("{kind}: {skipped}");
            return;
        }
    };
    let bare = apps::bare();
    let layered = apps::bare_layered();
    let ours = prepared.sessionkit;
    let theirs = prepared.tower_sessions;
    let dummy = format!("id={}", "A".repeat(32));
    let server = std::env::args().nth(4).filter(|s| s != "all");
    let mut servers = Vec::new();
    for (name, app, sessions) in [
        ("axum (bare)", &bare, false),
        ("axum + no-op layer", &layered, false),
        ("tower-sessions", &theirs, true),
        ("sessionkit", &ours, true),
    ] {
        if server.as_deref().is_some_and(|s| !name.contains(s)) {
            continue;
        }
        let cookie = if sessions {
            seed(app).await
        } else {
            dummy.clone()
        };
        servers.push((name, app, cookie));
    }
    let only = std::env::args().nth(2).filter(|r| r != "all");
    let routes = ["/idle", "/read", "/write", "/new"];
    println!("route   server              ns/req  instructions/req  (over bare)");
    for route in routes.into_iter().filter(|r| {
        only.as_deref()
            .is_none_or(|o| r.trim_start_matches('/') == o)
    }) {
        let sends = route != "/new";
        let mut bare_instructions = None;
        for (name, app, cookie) in &servers {
            let (ns, instructions) =
                per_request(app, route, sends.then_some(cookie.as_str()), n).await;
            let counted = instructions.map_or_else(String::new, |i| format!("{i:>16.0}"));
            let over = match (instructions, bare_instructions) {
                (Some(i), Some(b)) => format!("  (+{:.0})", i - b),
                _ => String::new(),
            };
            println!("{route:<7} {name:<18} {ns:>7.0}  {counted}{over}");
            bare_instructions = bare_instructions.or(instructions);
        }
    }
    if let Err(e) = prepared.cleanup.run().await {
        println!("cleanup failed ({e}); remove this run's objects by hand");
    }
}

/// The `name=value` of the session cookie the app's `/seed` route sets.
async fn seed(app: &Router) -> String {
    let seeded = call(app, "/seed", None).await;
    seeded
        .headers()
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the seed route sets a cookie")
        .to_owned()
}
