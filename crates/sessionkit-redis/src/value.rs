//! The string a session key holds: a fixed-width header the Lua scripts read with
//! `GETRANGE` and rewrite with `SETRANGE`, then the record.
//!
//! | bytes | holds |
//! | --- | --- |
//! | 0–19 | the version, decimal, zero-padded (compared by the compare-and-swap script) |
//! | 20–39 | `expires_at`, unix milliseconds, zero-padded (also the key's `PXAT`) |
//! | 40–59 | `last_seen`, unix milliseconds (with the expiry, what `touch` rewrites) |
//! | 60 | `1` when the session is bound to a user, else `0` |
//! | 61–70 | the user's length in bytes, zero-padded |
//! | 71… | the user, then the record encoded by `sessionkit_core::codec` |
//!
//! One string instead of a hash lets `create` be a single `SET … NX PXAT` (no script)
//! and `load` a single `GET`; the header keeps what the scripts compare readable
//! without decoding the record, and lets `touch` move the expiry without rewriting it.

use sessionkit_core::{codec, Record, StoreError};
use time::OffsetDateTime;

/// Width of each decimal field.
const FIELD: usize = 20;
/// Where the expiry starts (the version comes first).
const EXPIRES_AT: usize = FIELD;
/// Where the user flag sits.
const USER_FLAG: usize = 3 * FIELD;
/// Width of the user's length.
const USER_LEN: usize = 10;
/// Bytes before the user.
const HEADER: usize = USER_FLAG + 1 + USER_LEN;

/// Unix milliseconds, saturating far outside any real date.
pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// The version as the header holds it (what the compare-and-swap script compares).
pub(crate) fn version(version: u64) -> Vec<u8> {
    let mut field = Vec::with_capacity(FIELD);
    push_padded(&mut field, version, FIELD);
    field
}

/// A time in unix milliseconds written as the header writes it (20 characters,
/// zero-padded): what the swap script compares the expiry field with, as text.
pub(crate) fn time_field(ms: i64) -> Vec<u8> {
    let mut field = Vec::with_capacity(FIELD);
    push_padded_signed(&mut field, ms, FIELD);
    field
}

/// The expiry and last-seen fields, as `touch` writes them at [`EXPIRES_AT`].
pub(crate) fn times(expires_at: OffsetDateTime, last_seen: OffsetDateTime) -> Vec<u8> {
    let mut fields = Vec::with_capacity(2 * FIELD);
    push_times(&mut fields, expires_at, last_seen);
    fields
}

/// The user part of the header and the user: `0` and a zero length for none.
pub(crate) fn user_section(user: Option<&str>) -> Vec<u8> {
    let mut section = Vec::with_capacity(1 + USER_LEN + user.map_or(0, str::len));
    push_user_section(&mut section, user);
    section
}

/// The value to store for `record`, whose encoding is `encoded`: written into one
/// buffer (this runs on every create and save).
pub(crate) fn encode(record: &Record, encoded: &[u8]) -> Vec<u8> {
    let user = record.user.as_deref();
    let mut value = Vec::with_capacity(HEADER + user.map_or(0, str::len) + encoded.len());
    push_padded(&mut value, record.version, FIELD);
    push_times(&mut value, record.expires_at, record.last_seen);
    push_user_section(&mut value, user);
    value.extend_from_slice(encoded);
    value
}

fn push_times(value: &mut Vec<u8>, expires_at: OffsetDateTime, last_seen: OffsetDateTime) {
    push_padded_signed(value, ms(expires_at), FIELD);
    push_padded_signed(value, ms(last_seen), FIELD);
}

fn push_user_section(value: &mut Vec<u8>, user: Option<&str>) {
    value.push(if user.is_some() { b'1' } else { b'0' });
    let len = user.map_or(0, str::len);
    push_padded(value, u64::try_from(len).unwrap_or(u64::MAX), USER_LEN);
    value.extend_from_slice(user.unwrap_or("").as_bytes());
}

/// Appends `n` as `{:0width$}` writes it, without the formatting machinery (the
/// header is written on every save).
fn push_padded(value: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b"0123456789"[usize::try_from(n % 10).unwrap_or(0)];
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    value.resize(value.len() + width.saturating_sub(len), b'0');
    value.extend_from_slice(&digits[start..]);
}

/// [`push_padded`] for a time that may lie before 1970 (written as `{:0width$}` does,
/// the minus sign first).
fn push_padded_signed(value: &mut Vec<u8>, n: i64, width: usize) {
    match u64::try_from(n) {
        Ok(n) => push_padded(value, n, width),
        Err(_) => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(value, "{n:0width$}");
        }
    }
}

fn corrupt() -> StoreError {
    StoreError::corrupt("a session value does not have the expected header")
}

fn number<T: std::str::FromStr>(field: &[u8]) -> Result<T, StoreError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(corrupt)
}

/// The record a value holds, with the header's version, expiry and last-seen time
/// (which `touch` moves without rewriting the record).
///
/// # Errors
///
/// [`StoreError::Corrupt`] for a value too short or with a malformed header, or whose
/// record does not decode.
pub(crate) fn decode(value: &[u8]) -> Result<Record, StoreError> {
    let head = value.get(..HEADER).ok_or_else(corrupt)?;
    let version: u64 = number(&head[..FIELD])?;
    let expires: i64 = number(&head[EXPIRES_AT..EXPIRES_AT + FIELD])?;
    let seen: i64 = number(&head[EXPIRES_AT + FIELD..USER_FLAG])?;
    let user_len: usize = number(&head[USER_FLAG + 1..])?;
    let encoded = HEADER
        .checked_add(user_len)
        .and_then(|start| value.get(start..))
        .ok_or_else(corrupt)?;
    let mut record = codec::decode(encoded)?;
    record.version = version;
    record.expires_at = from_ms(expires).ok_or_else(corrupt)?;
    record.last_seen = from_ms(seen).ok_or_else(corrupt)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessionkit_core::SessionId;
    use time::Duration;

    fn record(user: Option<&str>) -> Result<Record, Box<dyn std::error::Error>> {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
        let mut r = Record::new(
            SessionId::generate()?.hash(),
            Default::default(),
            now,
            now + Duration::hours(1),
        );
        r.data.insert("cart".into(), serde_json::json!(["apple"]));
        r.user = user.map(str::to_owned);
        r.version = u64::MAX - 1;
        Ok(r)
    }

    #[test]
    fn values_round_trip_with_and_without_a_user() -> Result<(), Box<dyn std::error::Error>> {
        for user in [None, Some("alice"), Some(""), Some("ünïcode {braces}")] {
            let r = record(user)?;
            let value = encode(&r, &codec::encode(&r)?);
            let back = decode(&value)?;
            assert_eq!(back.id, r.id);
            assert_eq!(back.data, r.data);
            assert_eq!(back.user, r.user);
            assert_eq!(back.version, r.version);
            assert_eq!(back.expires_at, r.expires_at);
            assert_eq!(back.last_seen, r.last_seen);
        }
        Ok(())
    }

    #[test]
    fn the_header_is_fixed_width_where_the_scripts_read_it(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let r = record(Some("bob"))?;
        let value = encode(&r, &codec::encode(&r)?);
        assert_eq!(&value[..FIELD], version(r.version));
        assert_eq!(
            &value[EXPIRES_AT..EXPIRES_AT + 2 * FIELD],
            times(r.expires_at, r.last_seen)
        );
        assert_eq!(&value[USER_FLAG..HEADER + 3], user_section(Some("bob")));
        assert_eq!(user_section(Some("bob")), b"10000000003bob");
        assert_eq!(user_section(None), b"00000000000");
        assert_eq!(version(42), format!("{:020}", 42).into_bytes());
        assert_eq!(time_field(-1), format!("{:020}", -1).into_bytes());
        assert_eq!(version(0).len(), FIELD);
        assert_eq!(version(u64::MAX).len(), FIELD);
        let extremes = times(
            OffsetDateTime::UNIX_EPOCH - Duration::milliseconds(1),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(extremes.len(), 2 * FIELD);
        Ok(())
    }

    #[test]
    fn time_fields_of_times_after_1970_compare_as_text_like_the_times() {
        let times = [
            0,
            1,
            9,
            10,
            999,
            1_000,
            1_700_000_000_000,
            4_102_444_800_000,
        ];
        for &a in &times {
            for &b in &times {
                assert_eq!(time_field(a).len(), FIELD);
                assert_eq!(time_field(a) <= time_field(b), a <= b, "{a} and {b}");
            }
        }
        assert_eq!(time_field(i64::MAX).len(), FIELD);
        assert_eq!(time_field(i64::MIN + 1).len(), FIELD);
        assert_eq!(
            time_field(-5)[0],
            b'-',
            "the swap script treats a leading '-' as passed"
        );
    }

    #[test]
    fn touched_times_win_over_the_encoded_record() -> Result<(), Box<dyn std::error::Error>> {
        let r = record(None)?;
        let mut value = encode(&r, &codec::encode(&r)?);
        let later = r.expires_at + Duration::hours(5);
        let seen = r.last_seen + Duration::minutes(1);
        value[EXPIRES_AT..EXPIRES_AT + 2 * FIELD].copy_from_slice(&times(later, seen));
        let back = decode(&value)?;
        assert_eq!(back.expires_at, later);
        assert_eq!(back.last_seen, seen);
        Ok(())
    }

    #[test]
    fn malformed_values_are_corrupt_not_a_panic() -> Result<(), Box<dyn std::error::Error>> {
        let r = record(Some("carol"))?;
        let good = encode(&r, &codec::encode(&r)?);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            good[..HEADER - 1].to_vec(),
            good[..HEADER + 2].to_vec(),
            b"not a session value at all, but long enough to have a header of 71 bytes".to_vec(),
        ];
        let mut huge_user = good.clone();
        huge_user[USER_FLAG + 1..HEADER].copy_from_slice(b"9999999999");
        cases.push(huge_user);
        let mut bad_digit = good.clone();
        bad_digit[3] = b'x';
        cases.push(bad_digit);
        let mut bad_record = good[..HEADER + 5].to_vec();
        bad_record.extend_from_slice(b"\x01{garbage");
        cases.push(bad_record);
        for value in cases {
            assert!(
                matches!(decode(&value), Err(StoreError::Corrupt(_))),
                "{:?}",
                String::from_utf8_lossy(&value)
            );
        }
        Ok(())
    }

    #[test]
    fn header_numbers_are_written_as_zero_padded_formatting_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            12_345,
            1_700_000_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            for width in [10, 20] {
                let mut ours = Vec::new();
                push_padded(&mut ours, n, width);
                assert_eq!(ours, format!("{n:0width$}").into_bytes(), "{n} in {width}");
            }
        }
        for n in [0, 7, -1, -1_234, i64::MIN, i64::MAX] {
            let mut ours = Vec::new();
            push_padded_signed(&mut ours, n, 20);
            assert_eq!(ours, format!("{n:020}").into_bytes(), "{n}");
        }
    }
}
