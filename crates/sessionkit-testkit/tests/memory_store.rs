//! The store conformance suite against the reference store, `MemoryStore`, in both of
//! its ways of keeping sessions.

/// Records kept shared and decoded (the default).
mod shared {
    sessionkit_testkit::store_conformance!(async { Some(sessionkit_core::MemoryStore::new()) });
}

/// Records packed into bytes (`MemoryStore::compact`).
mod compact {
    sessionkit_testkit::store_conformance!(async {
        Some(sessionkit_core::MemoryStore::new().compact())
    });
}
