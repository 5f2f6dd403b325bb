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

use ::metrics::{Key, Label, Level, Metadata};

/// What the `metrics` macros attach to every metric they register.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Keys of one metric, one per value of its single label, made at compile time: the
/// `metrics` macros build (allocate and hash) a key on every event whose label value is
/// not a literal, and these events happen on every request.
type KeyTable = [(&'static str, Key)];

macro_rules! key_table {
    ($name:expr, $label:literal: $($value:literal),+ $(,)?) => {
        [$(($value, {
            static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
            Key::from_static_parts($name, &LABELS)
        })),+]
    };
}

static LOAD_KEYS: [(&str, Key); 4] = key_table!(LOADS, "result": "hit", "miss", "corrupt", "error");
static SAVE_KEYS: [(&str, Key); 5] =
    key_table!(SAVES, "kind": "create", "update", "cycle", "delete", "touch");
static STORE_SECONDS_KEYS: [(&str, Key); 5] =
    key_table!(STORE_SECONDS, "op": "load", "create", "cas", "touch", "delete");
static CACHE_KEYS: [(&str, Key); 3] = key_table!(CACHE, "result": "hit", "miss", "error");

/// The prepared key for `value`, if the table has one.
fn prepared(table: &'static KeyTable, value: &str) -> Option<&'static Key> {
    table.iter().find(|(v, _)| *v == value).map(|(_, key)| key)
}

/// Adds one to the counter `name` labelled `label = value`.
fn count(table: &'static KeyTable, name: &'static str, label: &'static str, value: &'static str) {
    match prepared(table, value) {
        Some(key) => ::metrics::with_recorder(|r| r.register_counter(key, &METADATA)).increment(1),
        None => ::metrics::counter!(name, label => value).increment(1),
    }
}

/// Counts a suspicious event (and nothing about the session itself).
pub fn suspicious(reason: &'static str) {
    ::metrics::counter!(SUSPICIOUS, "reason" => reason).increment(1);
}

pub(crate) fn load(result: &'static str) {
    count(&LOAD_KEYS, LOADS, "result", result);
}

pub(crate) fn save(kind: &'static str) {
    count(&SAVE_KEYS, SAVES, "kind", kind);
}

pub(crate) fn cache(result: &'static str) {
    count(&CACHE_KEYS, CACHE, "result", result);
}

pub(crate) fn save_interrupted() {
    ::metrics::counter!(INTERRUPTED).increment(1);
}

pub(crate) fn store_call(op: &'static str, seconds: f64, outcome: Option<&'static str>) {
    match prepared(&STORE_SECONDS_KEYS, op) {
        Some(key) => {
            ::metrics::with_recorder(|r| r.register_histogram(key, &METADATA)).record(seconds);
        }
        None => ::metrics::histogram!(STORE_SECONDS, "op" => op).record(seconds),
    }
    if let Some(kind) = outcome {
        ::metrics::counter!(STORE_ERRORS, "op" => op, "kind" => kind).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_keys_carry_their_metric_name_and_label_value() {
        let tables: [(&KeyTable, &str, &str); 4] = [
            (&LOAD_KEYS, LOADS, "result"),
            (&SAVE_KEYS, SAVES, "kind"),
            (&STORE_SECONDS_KEYS, STORE_SECONDS, "op"),
            (&CACHE_KEYS, CACHE, "result"),
        ];
        for (table, name, label) in tables {
            for (value, key) in table {
                assert_eq!(key.name(), name);
                let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
                assert_eq!(labels, [(label, *value)]);
                // Equal to the key the macros would build, hash included.
                assert_eq!(*key, Key::from_parts(name, vec![Label::new(label, *value)]));
            }
        }
        assert!(prepared(&STORE_SECONDS_KEYS, "list").is_none());
    }
}
