//! Concurrency over a real loopback socket (H6).

use std::collections::HashSet;

use sessionkit::SessionLayer;

use crate::http::server::serve;
use crate::http::Subject;

/// H6: one session, 200 `GET /push/item{N}` in flight at once over their own
/// connections, then `/list` holds all 200 distinct items; then 20 parallel
/// `/increment` count exactly 20. Runs the test app on `127.0.0.1` behind `layer`.
///
/// # Panics
///
/// When an item or an increment is lost, or a request fails.
pub async fn two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(layer: SessionLayer) {
    let server = serve(layer).await.expect("a loopback port");
    let mut client = server.client("id");
    let first = client.get("/insert/owner/me").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let cookie = first
        .session_cookie
        .expect("the first request creates the session")
        .value;
    client.set_cookie(Some(cookie.clone()));

    let pushes: Vec<_> = (0..200)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.get(&format!("/push/item{n}")).await })
        })
        .collect();
    for push in pushes {
        let r = push.await.expect("a push task does not panic");
        assert_eq!(r.status, 200, "{}", r.body);
        if let Some(set) = r.session_cookie {
            assert!(!set.is_removal(), "{}", set.raw);
        }
    }
    let peak = server.state().peak_in_flight();
    eprintln!("concurrent pushes: at most {peak} were inside the handler at once");
    assert!(peak >= 10, "the pushes overlapped: at most {peak} at once");

    let list = client.get("/list").await;
    let items: Vec<String> = serde_json::from_str(&list.body).expect("a JSON list");
    let distinct: HashSet<&String> = items.iter().collect();
    assert_eq!(items.len(), 200, "every push is kept exactly once");
    assert_eq!(distinct.len(), 200);
    for n in 0..200 {
        assert!(distinct.contains(&format!("item{n}")), "item{n} lost");
    }

    let increments: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/increment").await })
        })
        .collect();
    for inc in increments {
        let r = inc.await.expect("an increment task does not panic");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(client.get("/counter").await.body, "20");
    assert_eq!(client.get("/get/owner").await.body, "me");
    drop(client);
    server.shutdown().await;
}

/// H6 through the suite: the socket test on the subject's layer. The cookie store
/// cannot merge concurrent requests by nature (the last response the browser receives
/// wins), so it is skipped there.
pub async fn two_hundred_concurrent_pushes_over_a_socket_lose_nothing(subject: Subject) {
    if subject.skip_cookie_store(
        "cannot merge concurrent requests: each response carries its own copy and the last one the browser keeps wins",
    ) {
        return;
    }
    two_hundred_concurrent_pushes_over_a_socket_lose_nothing_with(subject.layer()).await;
}
