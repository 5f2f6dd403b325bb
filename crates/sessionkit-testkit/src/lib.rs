//! Test suites (placeholder being filled in).
