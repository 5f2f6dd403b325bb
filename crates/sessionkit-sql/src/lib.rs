//! SQL stores (placeholder being filled in).
