//! Any bytes as a `Cookie` header, through the layer with every cookie mode: the
//! response is never a 5xx and never carries someone's session.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use sessionkit::{CookieStore, KeyRing, MemoryStore, Session, SessionLayer};
use tower::ServiceExt;

struct Setup {
    rt: tokio::runtime::Runtime,
    apps: Vec<Router>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let keys = KeyRing::new(["fuzzing secret key, at least 32 bytes"]).expect("valid key");
        let route = |layer: SessionLayer| {
            Router::new()
                .route("/", get(|s: Session| async move { s.get::<String>("user").await.map(|u| u.unwrap_or_default()) }))
                .layer(layer)
        };
        Setup {
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"),
            apps: vec![
                route(SessionLayer::new(MemoryStore::new())),
                route(SessionLayer::builder(MemoryStore::new()).with_signed_ids(keys.clone()).build().expect("valid")),
                route(SessionLayer::cookie_store(CookieStore::private(&keys))),
                route(SessionLayer::cookie_store(CookieStore::signed(&keys))),
            ],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(data) else { return };
    let s = setup();
    for app in &s.apps {
        let req = Request::get("/").header("cookie", header.clone()).body(Body::empty()).expect("request");
        let res = s.rt.block_on(app.clone().oneshot(req)).expect("infallible");
        assert!(res.status().is_success(), "status {}", res.status());
        assert!(res.headers().get("set-cookie").is_none());
    }
});
