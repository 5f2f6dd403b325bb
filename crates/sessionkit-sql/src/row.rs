//! The SQL-independent part of every backend: how a [`Record`] maps onto the columns
//! of the session table and back.
//!
//! | column | holds |
//! | --- | --- |
//! | `id_hash` | the 32 bytes of the [`IdHash`] (primary key; never the raw id) |
//! | `data` | the whole record through [`codec::encode`] (the one encode/decode boundary) |
//! | `expires_at` | unix milliseconds: loads and every write filter on it |
//! | `purge_after` | unix milliseconds, indexed: where expired deletion looks (see below) |
//! | `version` | the compare-and-swap version (`u64` stored bit for bit in a signed 64-bit column) |
//! | `user_key` | the bound user, if any (indexed with `created_at`, for the user index) |
//! | `created_at`, `last_seen` | unix milliseconds |
//!
//! `touch` updates only `expires_at` and `last_seen`, so on load those columns (and
//! `version`, `created_at` and the key) win over what the encoded bytes say.
//!
//! # Why the expiry index has slack
//!
//! Every save and touch moves `expires_at`. Indexing it would make every one of them
//! also rewrite an index entry (in SQLite about a third of a save's cost; in PostgreSQL
//! it also rules out a heap-only update). So the index is on `purge_after` instead,
//! kept within [`PURGE_SLACK_MS`] after the exact expiry:
//!
//! `purge_after - PURGE_SLACK_MS <= expires_at <= purge_after`
//!
//! A write first tries the statement that leaves `purge_after` (and so the index) alone,
//! which matches only while the new `expires_at` still keeps that invariant; only when
//! it does not (about once a minute for a session in steady use, or after the expiry
//! moved back) does the second statement set `purge_after` to `expires_at +
//! PURGE_SLACK_MS`. Expired deletion finds its rows through the index with
//! `purge_after <= now + PURGE_SLACK_MS` and deletes exactly those with
//! `expires_at <= now`; the range also holds the live sessions expiring within the
//! next minute, which it skips. A `purge_after` of 0 (rows of schema version 1 the
//! upgrade had not reached) breaks no rule: the first write of such a row takes the
//! second statement.

use sessionkit_core::{codec, IdHash, Record, StoreError};
use time::OffsetDateTime;

/// The session table's current schema version (see each backend's migrations).
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// How far `purge_after` may run ahead of `expires_at`, in milliseconds (see the
/// module docs).
pub(crate) const PURGE_SLACK_MS: i64 = 60_000;

/// The columns [`StoredRow`] is read from, in order.
pub(crate) const ROW_COLUMNS: &str = "id_hash, data, expires_at, version, last_seen, created_at";

/// One row as read: `(id_hash, data, expires_at, version, last_seen, created_at)`.
pub(crate) type StoredRow = (Vec<u8>, Vec<u8>, i64, i64, i64, i64);

/// A record's column values, ready to bind.
#[derive(Debug)]
pub(crate) struct Columns {
    pub(crate) data: Vec<u8>,
    pub(crate) expires_at: i64,
    pub(crate) version: i64,
    pub(crate) user_key: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_seen: i64,
    /// `expires_at + PURGE_SLACK_MS`: the index column's value when a write has to move it.
    pub(crate) purge_after: i64,
}

impl Columns {
    /// Encodes `record` for writing.
    pub(crate) fn of(record: &Record) -> Result<Self, StoreError> {
        let expires_at = millis(record.expires_at);
        Ok(Self {
            data: codec::encode(record)?,
            expires_at,
            version: version_to_db(record.version),
            user_key: record.user.clone(),
            created_at: millis(record.created_at),
            last_seen: millis(record.last_seen),
            purge_after: purge_after(expires_at),
        })
    }
}

/// Unix milliseconds (rounded down), saturating far outside any real date.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// The `purge_after` a write sets when it has to move the index column.
pub(crate) fn purge_after(expires_at: i64) -> i64 {
    expires_at.saturating_add(PURGE_SLACK_MS)
}

/// Unix milliseconds of the current time.
pub(crate) fn now_millis() -> i64 {
    millis(OffsetDateTime::now_utc())
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| StoreError::corrupt("a stored timestamp is out of range"))
}

/// `u64` versions live in signed 64-bit columns bit for bit, so the engine's wrapping
/// increment round-trips.
pub(crate) fn version_to_db(version: u64) -> i64 {
    i64::from_ne_bytes(version.to_ne_bytes())
}

fn version_from_db(version: i64) -> u64 {
    u64::from_ne_bytes(version.to_ne_bytes())
}

/// Builds a record from its row: decodes `data`, then applies the columns.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when `data` is not an encoded record, the key is not 32
/// bytes, or a timestamp is impossible.
pub(crate) fn record_from(row: StoredRow) -> Result<Record, StoreError> {
    let (id_hash, data, expires_at, version, last_seen, created_at) = row;
    let id: [u8; 32] = id_hash
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::corrupt("stored id hash is not 32 bytes long"))?;
    let mut record = codec::decode(&data)?;
    record.id = IdHash::from_bytes(id);
    record.expires_at = from_millis(expires_at)?;
    record.version = version_from_db(version);
    record.last_seen = from_millis(last_seen)?;
    record.created_at = from_millis(created_at)?;
    Ok(record)
}

/// Builds the records of a listing, leaving out (and logging, without the key) rows
/// whose data does not decode, so one corrupt row does not hide a user's other sessions.
pub(crate) fn records_from(rows: Vec<StoredRow>) -> Vec<Record> {
    rows.into_iter()
        .filter_map(|row| {
            record_from(row)
                .map_err(
                    |e| tracing::warn!(error = %e, "skipping a stored session that cannot be read"),
                )
                .ok()
        })
        .collect()
}

/// How many rows a batch deletion may touch, as the `LIMIT` parameter.
pub(crate) fn limit(max: u64) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessionkit_core::SessionId;
    use time::Duration;

    #[test]
    fn versions_round_trip_bit_for_bit() {
        for v in [0, 1, 42, i64::MAX as u64, u64::MAX - 1, u64::MAX] {
            assert_eq!(version_from_db(version_to_db(v)), v);
        }
    }

    #[test]
    fn millis_rounds_down_and_saturates() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::nanoseconds(1_999_999);
        assert_eq!(millis(t), 1);
        assert_eq!(
            millis(OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1)),
            -1
        );
    }

    #[test]
    fn columns_win_over_the_encoded_bytes() -> Result<(), Box<dyn std::error::Error>> {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
        let id = SessionId::generate()?.hash();
        let record = Record::new(id, Default::default(), now, now + Duration::hours(1));
        let cols = Columns::of(&record)?;
        let later = cols.expires_at + 60_000;
        let row = (
            id.as_bytes().to_vec(),
            cols.data,
            later,
            7,
            cols.last_seen + 5,
            cols.created_at,
        );
        let loaded = record_from(row)?;
        assert_eq!(loaded.id, id);
        assert_eq!(loaded.version, 7);
        assert_eq!(loaded.expires_at, now + Duration::minutes(61));
        assert_eq!(loaded.last_seen, now + Duration::milliseconds(5));
        assert_eq!(loaded.created_at, now);
        Ok(())
    }

    #[test]
    fn undecodable_data_is_corrupt_not_a_panic() {
        let row = (vec![0; 32], vec![1, b'{', 0xff], 0, 1, 0, 0);
        assert!(matches!(record_from(row), Err(StoreError::Corrupt(_))));
        let short_key = (vec![0; 3], vec![], 0, 1, 0, 0);
        assert!(matches!(
            record_from(short_key),
            Err(StoreError::Corrupt(_))
        ));
    }
}
