//! The memcached store (being built).
