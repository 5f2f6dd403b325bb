//! The one boundary where records become bytes and bytes become records.
//!
//! Every encoded record starts with a format byte so the format can change without
//! breaking live sessions. Format 2, written since version 0.1's load benchmark, is
//! MessagePack (the record as a map of named fields, the id hash as 32 raw bytes):
//! smaller than JSON and about a third faster to decode. Format 1, JSON, is still read,
//! so records written before live on. Decoding never executes anything and never
//! panics: anything that is not a well-formed record is a [`CodecError`].

use crate::Record;

/// Format byte of the JSON encoding (read, no longer written).
const FORMAT_JSON: u8 = 1;
/// Format byte of the MessagePack encoding.
const FORMAT_MSGPACK: u8 = 2;

/// Why stored bytes could not be read back as a record.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes were empty.
    #[error("stored session is empty")]
    Empty,
    /// The format byte names no format this version knows.
    #[error("unknown stored session format {0}")]
    UnknownFormat(u8),
    /// The payload is not a valid record.
    #[error("stored session is corrupt")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The bytes decode, but what surrounds them is inconsistent (a key of the wrong
    /// length, an impossible timestamp, a record filed under another id).
    #[error("stored session is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// Encodes a record as a format byte followed by the payload.
///
/// # Errors
///
/// [`CodecError::Corrupt`] if the record cannot be serialized (not expected for
/// records built from JSON values).
///
/// # Examples
///
/// ```
/// use sessionkit_core::{codec, Record, SessionId};
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::now_utc();
/// let record = Record::new(SessionId::generate()?.hash(), Default::default(), now, now + Duration::hours(1));
/// let bytes = codec::encode(&record)?;
/// assert_eq!(bytes[0], 2);
/// assert_eq!(codec::decode(&bytes)?.id, record.id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(record: &Record) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(128 + record.data.len() * 32);
    out.push(FORMAT_MSGPACK);
    rmp_serde::encode::write_named(&mut out, record).map_err(|e| CodecError::Corrupt(e.into()))?;
    Ok(out)
}

/// Decodes bytes written by [`encode`].
///
/// # Errors
///
/// A [`CodecError`] for empty, unknown or corrupt input.
pub fn decode(bytes: &[u8]) -> Result<Record, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        // Bytes after the record, if any, are not looked at (as a length-prefixed
        // format, MessagePack has no way to tell them apart cheaply).
        Some((&FORMAT_MSGPACK, payload)) => {
            rmp_serde::from_slice(payload).map_err(|e| CodecError::Corrupt(Box::new(e)))
        }
        Some((&FORMAT_JSON, payload)) => {
            serde_json::from_slice(payload).map_err(|e| CodecError::Corrupt(Box::new(e)))
        }
        Some((&other, _)) => Err(CodecError::UnknownFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Expiry, SessionId};
    use serde_json::json;
    use time::{Duration, OffsetDateTime};

    fn sample() -> Result<Record, crate::Error> {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut r = Record::new(
            SessionId::generate()?.hash(),
            Default::default(),
            now,
            now + Duration::hours(2),
        );
        r.data
            .insert("名前".into(), json!("¡Hola, Mundo! こんにちは"));
        r.data.insert("n".into(), json!(42));
        r.data
            .insert("nested".into(), json!({"a": [1, true, null, 2.5]}));
        r.expiry = Expiry::Idle(Duration::seconds(30));
        r.user = Some("alice".into());
        Ok(r)
    }

    #[test]
    fn encode_decode_round_trips_every_field() -> Result<(), Box<dyn std::error::Error>> {
        let r = sample()?;
        assert_eq!(decode(&encode(&r)?)?, r);
        Ok(())
    }

    #[test]
    fn records_written_as_json_by_format_1_are_still_read() -> Result<(), Box<dyn std::error::Error>>
    {
        let r = sample()?;
        let mut old = vec![FORMAT_JSON];
        serde_json::to_writer(&mut old, &r)?;
        assert_eq!(decode(&old)?, r);
        assert!(encode(&r)?.len() < old.len(), "the new format is smaller");
        Ok(())
    }

    #[test]
    fn corrupt_truncated_and_unknown_bytes_are_errors_not_panics(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let bytes = encode(&sample()?)?;
        assert!(matches!(decode(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode(&[9, b'{']),
            Err(CodecError::UnknownFormat(9))
        ));
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        assert!(decode(&[1, 0xff, 0xfe]).is_err());
        assert!(decode(&[2, 0xff, 0xfe]).is_err());
        assert!(
            decode(&[2, 0xdf, 0xff, 0xff, 0xff, 0xff]).is_err(),
            "a huge map header"
        );
        Ok(())
    }
}
