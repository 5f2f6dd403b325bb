//! The redis store (being built).
