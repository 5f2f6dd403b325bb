//! The HTTP lifecycle cases, one `pub async fn` per behaviour, each taking a
//! [`Subject`](super::Subject). [`http_conformance!`](crate::http_conformance) runs
//! them all; call one directly to run it alone.
//!
//! A case that a cookie store cannot pass by nature prints `skipped: cookie store ...`
//! (for the whole case or for the part that does not apply) instead of failing.

pub mod cookies;
pub mod dict;
pub mod expiry;
pub mod lifecycle;
pub mod security;
pub mod signed;
pub mod socket;

pub use cookies::*;
pub use dict::*;
pub use expiry::*;
pub use lifecycle::*;
pub use security::*;
pub use signed::*;
pub use socket::*;
