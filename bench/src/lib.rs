//! The sessionkit load benchmark (not published): the same axum routes served bare,
//! on tower-sessions 0.14 and on sessionkit, driven in one run over loopback by a
//! built-in load generator, reported as requests per second, p50/p99 latency and
//! ratios; then concurrent appends to one session (lost updates) and the memory
//! store's bytes per session. `docs/PERFORMANCE.md` has a full run and how to
//! reproduce it.
//!
//! | module | job |
//! | --- | --- |
//! | [`options`] | command line, `--quick` and full settings |
//! | [`apps`] | the routes, three ways |
//! | [`stores`] | each store for both libraries, isolated per run, cleaned up |
//! | [`runtime`] | the server and load-generator runtimes, pinning, CPU accounting |
//! | [`server`] | one axum server on a loopback port |
//! | [`load`] | the load generator: N keep-alive connections, warm-up, window, latencies |
//! | [`lost`] | the lost-update check |
//! | [`memory`] | bytes per session in the memory stores (child processes) |
//! | [`payload`] | the realistic session payload |
//! | [`run`] | one whole run |
//! | [`report`] | the printed tables and goals |

pub mod apps;
pub mod load;
pub mod lost;
pub mod memory;
pub mod options;
pub mod payload;
pub mod report;
pub mod run;
pub mod runtime;
pub mod server;
pub mod stores;

/// Errors of a benchmark run: whatever failed, with its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub use options::{Library, MemorySubject, Options, Route, Settings, StoreKind};
pub use run::{run, Report};
