//! A quick throughput check of the memory store through the engine and the layer
//! (the side-by-side benchmark lives in `bench/`). Run with
//! `cargo run --release -p sessionkit --example memory_throughput`.

use std::time::Instant;

use axum::{body::Body, routing::get, Router};
use sessionkit::{MemoryStore, Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

const N: u32 = 200_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new();
    let seed = Session::new(store.clone(), SessionConfig::default());
    seed.insert("user", "alice").await?;
    seed.insert("cart", vec!["apple"; 10]).await?;
    seed.save().await?;
    let id = seed.id().await.ok_or("seed session has no id")?;

    let start = Instant::now();
    for _ in 0..N {
        let s = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
        let _: Option<String> = s.get("user").await?;
    }
    report("engine load + read", start);

    let start = Instant::now();
    for _ in 0..N {
        let s = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
        s.increment("n", 1).await?;
        s.save().await?;
    }
    report("engine load + increment + save (CAS)", start);

    let start = Instant::now();
    for _ in 0..N {
        let s = Session::new(store.clone(), SessionConfig::default());
        s.insert("user", "bob").await?;
        s.save().await?;
    }
    report("engine create", start);

    let app = Router::new()
        .route(
            "/read",
            get(|s: Session| async move {
                s.get::<String>("user").await.map(|u| u.unwrap_or_default())
            }),
        )
        .route(
            "/write",
            get(|s: Session| async move { s.increment("n", 1).await.map(|n| n.to_string()) }),
        )
        .route("/idle", get(|| async { "ok" }))
        .layer(SessionLayer::new(store.clone()));
    let cookie = format!("id={id}");
    let bare = Router::new().route("/idle", get(|| async { "ok" }));
    let start = Instant::now();
    for _ in 0..N {
        let req = http::Request::get("/idle")
            .header("cookie", &cookie)
            .body(Body::empty())?;
        let res = bare.clone().oneshot(req).await?;
        assert!(res.status().is_success());
    }
    report("bare /idle", start);
    for route in ["/idle", "/read", "/write"] {
        let start = Instant::now();
        for _ in 0..N {
            let req = http::Request::get(route)
                .header("cookie", &cookie)
                .body(Body::empty())?;
            let res = app.clone().oneshot(req).await?;
            assert!(res.status().is_success());
        }
        report(&format!("layer {route}"), start);
    }
    Ok(())
}

fn report(what: &str, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!("{what:<40} {:>10.0} ops/s", f64::from(N) / secs);
}
