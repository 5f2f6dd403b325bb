//! The store conformance suite against the reference store, `MemoryStore`.

sessionkit_testkit::store_conformance!(async { Some(sessionkit_core::MemoryStore::new()) });
