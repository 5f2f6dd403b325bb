//! What the HTTP suite runs against: a way to build a layer, and for server-side
//! stores the store itself (so cases can check what was or was not stored).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sessionkit::{IdHash, SessionLayer, SessionLayerBuilder, SessionStore};

use super::app::{app, app_with, AppState};
use super::client::Client;

type MakeBuilder = Arc<dyn Fn() -> SessionLayerBuilder + Send + Sync>;

/// Overwrites the stored record of an id hash with bytes that are not a record.
pub type Corruptor = Arc<dyn Fn(IdHash) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The layer configuration under test.
///
/// Cases call [`Subject::builder`] and add the settings they test (idle timeout, cookie
/// attributes, ...), so the builder must start from the default cookie settings: the
/// case `default_cookie_attributes_are_safe` checks them.
#[derive(Clone)]
pub struct Subject {
    make: MakeBuilder,
    store: Option<Arc<dyn SessionStore>>,
    corrupt: Option<Corruptor>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// A server-side store behind `SessionLayer::builder(store)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit_testkit::http::Subject;
    ///
    /// let subject = Subject::server(sessionkit::MemoryStore::new());
    /// assert!(!subject.is_cookie_store());
    /// ```
    pub fn server<S: SessionStore + Clone>(store: S) -> Self {
        Self::server_with(store, SessionLayer::builder)
    }

    /// A server-side store behind a builder of your own, e.g.
    /// `|store| SessionLayer::builder(store).with_signed_ids(keys.clone())`.
    pub fn server_with<S: SessionStore + Clone>(
        store: S,
        make: impl Fn(S) -> SessionLayerBuilder + Send + Sync + 'static,
    ) -> Self {
        let shared: Arc<dyn SessionStore> = Arc::new(store.clone());
        Self {
            make: Arc::new(move || make(store.clone())),
            store: Some(shared),
            corrupt: None,
        }
    }

    /// The cookie store, e.g.
    /// `|| SessionLayer::cookie_store_builder(CookieStore::private(&keys))`.
    ///
    /// Cases that a cookie store cannot pass by nature (revocation, concurrent merges,
    /// server-side bookkeeping) print `skipped: cookie store ...` and return.
    pub fn cookie_store(make: impl Fn() -> SessionLayerBuilder + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(make),
            store: None,
            corrupt: None,
        }
    }

    /// Gives the corrupt-record case a way to overwrite a stored record with bytes
    /// that are not a record (what `store_conformance!`'s `corrupt =` does for the
    /// store suite); without one that case prints `skipped` and passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit::{IdHash, MemoryStore};
    /// use sessionkit_testkit::http::Subject;
    ///
    /// // For a store that keeps records as bytes: write garbage where `id`'s record is
    /// // (the store crates' tests overwrite the row, key or file).
    /// async fn overwrite(id: IdHash) {
    ///     let _ = id;
    /// }
    ///
    /// let subject = Subject::server(MemoryStore::new()).with_corruptor(overwrite);
    /// assert!(subject.corruptor().is_some());
    /// ```
    pub fn with_corruptor<F, Fut>(mut self, corrupt: F) -> Self
    where
        F: Fn(IdHash) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.corrupt = Some(Arc::new(move |id| Box::pin(corrupt(id))));
        self
    }

    /// How to corrupt a stored record, if the test gave one.
    pub fn corruptor(&self) -> Option<&Corruptor> {
        self.corrupt.as_ref()
    }

    /// Whether sessions live in the cookie rather than in a server-side store.
    pub fn is_cookie_store(&self) -> bool {
        self.store.is_none()
    }

    /// The server-side store, `None` for the cookie store.
    pub fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.store.as_ref()
    }

    /// A fresh builder with the subject's settings.
    pub fn builder(&self) -> SessionLayerBuilder {
        (self.make)()
    }

    /// The layer with the subject's settings.
    ///
    /// # Panics
    ///
    /// When the subject's settings are invalid.
    pub fn layer(&self) -> SessionLayer {
        build(self.builder())
    }

    /// A client of the test app behind the subject's layer.
    pub fn client(&self) -> Client {
        Client::new(app(self.layer()))
    }

    /// A client of the test app behind `builder`'s layer (cookie named `id`).
    pub fn client_of(&self, builder: SessionLayerBuilder) -> Client {
        Client::new(app(build(builder)))
    }

    /// A client of the test app behind the subject's layer, sharing `state`.
    pub fn client_with_state(&self, state: Arc<AppState>) -> Client {
        Client::new(app_with(self.layer(), state))
    }

    /// Prints why a case does not apply to the cookie store and returns `true` when
    /// the subject is one.
    pub fn skip_cookie_store(&self, reason: &str) -> bool {
        if self.is_cookie_store() {
            eprintln!("skipped: cookie store {reason}");
        }
        self.is_cookie_store()
    }
}

/// Builds a layer that the test expects to be valid.
///
/// # Panics
///
/// When the builder's settings are refused.
pub fn build(builder: SessionLayerBuilder) -> SessionLayer {
    builder
        .build()
        .expect("the test's layer settings should be valid")
}
