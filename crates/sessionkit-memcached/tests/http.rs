//! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
//! concurrency over a socket) through `SessionLayer` on a `MemcachedStore`, against the
//! server named by `SESSIONKIT_TEST_MEMCACHED_URL` (skipped without it). Each test uses
//! a key prefix of its own.

mod common;

use sessionkit_testkit::env;
use sessionkit_testkit::http::Subject;

sessionkit_testkit::http_conformance!(async {
    let store = common::shared_store().await?;
    let url = env::service_url(common::URL_VAR)?;
    let target = store.clone();
    Some(Subject::server(store).with_corruptor(move |id| {
        let (store, url) = (target.clone(), url.clone());
        async move { common::corrupt(&url, &store, &id).await }
    }))
});
