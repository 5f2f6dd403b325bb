//! Properties over arbitrary input: no cookie value and no stored bytes can make
//! sessionkit panic, answer 5xx, or hand out someone's session.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use sessionkit::{codec, CookieStore, KeyRing, MemoryStore, Session, SessionId, SessionLayer};
use tower::ServiceExt;

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|s: Session| async move {
                s.get::<String>("user")
                    .await
                    .map(|u| u.unwrap_or_else(|| "anonymous".into()))
            }),
        )
        .layer(layer)
}

fn layers() -> Vec<SessionLayer> {
    let keys = KeyRing::new(["property test secret, long enough!!"]).expect("valid key");
    vec![
        SessionLayer::new(MemoryStore::new()),
        SessionLayer::builder(MemoryStore::new())
            .with_signed_ids(keys.clone())
            .build()
            .expect("valid"),
        SessionLayer::cookie_store(CookieStore::private(&keys)),
        SessionLayer::cookie_store(CookieStore::signed(&keys)),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_cookie_value_gives_an_empty_session_never_an_error(value in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let rt = runtime();
        for layer in layers() {
            let app = app(layer);
            let mut header = b"a=1; id=".to_vec();
            header.extend(&value);
            header.extend(b"; b=2");
            let Ok(header) = HeaderValue::from_bytes(&header) else { continue };
            let req = Request::get("/").header("cookie", header).body(Body::empty()).expect("request");
            let res = rt.block_on(app.oneshot(req)).expect("infallible");
            prop_assert_eq!(res.status(), StatusCode::OK);
            prop_assert!(res.headers().get("set-cookie").is_none());
            let body = rt.block_on(res.into_body().collect()).expect("body").to_bytes();
            prop_assert_eq!(&body[..], b"anonymous");
        }
    }

    #[test]
    fn any_stored_bytes_decode_to_a_record_or_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = codec::decode(&bytes);
        let mut json = vec![1u8];
        json.extend(&bytes);
        let _ = codec::decode(&json);
    }

    #[test]
    fn session_id_parsing_accepts_only_the_canonical_form(text in ".{0,64}") {
        if let Some(id) = SessionId::parse(&text) {
            prop_assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn any_string_data_round_trips_through_the_codec(entries in proptest::collection::btree_map(".{0,20}", ".{0,50}", 0..20)) {
        let now = time::OffsetDateTime::now_utc();
        let id = SessionId::generate().expect("randomness").hash();
        let mut record = sessionkit::Record::new(id, Default::default(), now, now + time::Duration::hours(1));
        for (k, v) in &entries {
            record.data.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        let back = codec::decode(&codec::encode(&record).expect("encodes")).expect("decodes");
        prop_assert_eq!(back.data, record.data);
    }
}
