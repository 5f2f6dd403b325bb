//! Concurrent requests of one session over a real loopback socket.

use sessionkit::{CookieStore, MemoryStore, SessionLayer};
use sessionkit_testkit::http::cases::{
    ring, two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with, K1,
};
use sessionkit_testkit::http::server::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_pushes_over_a_socket_lose_nothing() {
    two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(SessionLayer::new(
        MemoryStore::new(),
    ))
    .await;
}

/// By nature the cookie store cannot merge: every response carries its own sealed copy
/// (the session as loaded plus that request's change) and the browser keeps whichever
/// arrives last. This documents it: each of 20 parallel pushes answers with a cookie
/// holding only its own item.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cookie_store_cannot_merge_concurrent_requests_each_response_holds_its_own_copy() {
    eprintln!("skipped: cookie store cannot merge concurrent requests (the last cookie the browser receives wins); documenting what each response holds instead");
    let layer = SessionLayer::cookie_store(CookieStore::private(&ring(&[K1])));
    let server = serve(layer).await.expect("a loopback port");
    let mut client = server.client("id");
    let first = client.get("/insert/owner/me").await;
    let cookie = first.session_cookie.expect("the session is created").value;
    client.set_cookie(Some(cookie));
    let pushes: Vec<_> = (0..20)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { (n, client.get(&format!("/push/item{n}")).await) })
        })
        .collect();
    for push in pushes {
        let (n, reply) = push.await.expect("a push task does not panic");
        let own = reply
            .session_cookie
            .expect("each push re-sends the cookie")
            .value;
        let mut reader = client.clone();
        reader.set_cookie(Some(own));
        assert_eq!(reader.get("/list").await.body, format!(r#"["item{n}"]"#));
        assert_eq!(reader.get("/get/owner").await.body, "me");
    }
    drop(client);
    server.shutdown().await;
}
