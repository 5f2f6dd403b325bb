//! Counters and histograms through the `metrics` facade, and their names.
//!
//! Nothing is recorded unless the application installs a recorder (for example
//! `metrics-exporter-prometheus`); the cost is then a few atomic operations per event.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `sessionkit_loads_total` | counter | `result`: `hit`, `miss`, `corrupt`, `error` |
//! | `sessionkit_saves_total` | counter | `kind`: `create`, `update`, `cycle`, `delete`, `touch` |
//! | `sessionkit_cas_conflicts_total` | counter | — (each lost compare-and-swap, i.e. each retry) |
//! | `sessionkit_interrupted_total` | counter | — (saves of sessions deleted meanwhile) |
//! | `sessionkit_suspicious_total` | counter | `reason`: `malformed_cookie`, `forged_cookie`, `rotated_id`, `binding_mismatch`, `revoked_cookie`, `corrupt_record` |
//! | `sessionkit_store_call_seconds` | histogram | `op`: `load`, `create`, `cas`, `touch`, `delete`, … (how long the request waited; a call that answers at once, as in-process stores do, records 0 and reads no clock) |
//! | `sessionkit_store_errors_total` | counter | `op`, `kind`: `error`, `timeout` |
//! | `sessionkit_cache_total` | counter | `result`: `hit`, `miss`, `error` (two-tier store) |
//! | `sessionkit_cleanup_deleted_total` | counter | — (expired sessions removed by cleanup) |

/// Loads by result.
pub const LOADS: &str = "sessionkit_loads_total";
/// Saves by kind.
pub const SAVES: &str = "sessionkit_saves_total";
/// Lost compare-and-swaps (each one is retried).
pub const CAS_CONFLICTS: &str = "sessionkit_cas_conflicts_total";
/// Saves of sessions deleted by another request meanwhile.
pub const INTERRUPTED: &str = "sessionkit_interrupted_total";
/// Suspicious events by reason.
pub const SUSPICIOUS: &str = "sessionkit_suspicious_total";
/// Store call latency by operation (0 for calls that did not wait).
pub const STORE_SECONDS: &str = "sessionkit_store_call_seconds";
/// Store call failures by operation and kind.
pub const STORE_ERRORS: &str = "sessionkit_store_errors_total";
/// Two-tier store cache results.
pub const CACHE: &str = "sessionkit_cache_total";
/// Expired sessions removed by cleanup.
pub const CLEANUP_DELETED: &str = "sessionkit_cleanup_deleted_total";

/// Counts a suspicious event (and nothing about the session itself).
pub fn suspicious(reason: &'static str) {
    ::metrics::counter!(SUSPICIOUS, "reason" => reason).increment(1);
}

pub(crate) fn load(result: &'static str) {
    ::metrics::counter!(LOADS, "result" => result).increment(1);
}

pub(crate) fn save(kind: &'static str) {
    ::metrics::counter!(SAVES, "kind" => kind).increment(1);
}

pub(crate) fn save_interrupted() {
    ::metrics::counter!(INTERRUPTED).increment(1);
}

pub(crate) fn store_call(op: &'static str, seconds: f64, outcome: Option<&'static str>) {
    ::metrics::histogram!(STORE_SECONDS, "op" => op).record(seconds);
    if let Some(kind) = outcome {
        ::metrics::counter!(STORE_ERRORS, "op" => op, "kind" => kind).increment(1);
    }
}
