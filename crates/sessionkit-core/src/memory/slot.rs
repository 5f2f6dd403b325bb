//! One stored session of the memory store: shared and decoded (the default, nothing to
//! decode on a load), or packed into bytes (`MemoryStore::compact`, a fraction of the
//! memory, a MessagePack decode per load).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ClientInfo, Data, Expiry, IdHash, Record};

/// Bytes before the packed fields, all little endian: expires-at and last-seen (Unix
/// milliseconds) and the version, so expiry checks, sweeps, eviction, touch and the
/// version check of a compare-and-swap never decode; then a flag byte (bit 0: bound to
/// a user).
const HEADER: usize = 25;
const FLAGS: usize = 24;
const HAS_USER: u8 = 1;

/// A session as the memory store keeps it.
pub(super) enum Slot {
    Shared(Arc<Record>),
    Packed(Box<[u8]>),
}

/// What a packed slot holds besides its header, under one-letter names: the id is the
/// map's key and the two timestamps are in the header.
#[derive(Serialize)]
struct Fields<'a> {
    #[serde(rename = "d")]
    data: &'a Data,
    #[serde(rename = "c")]
    created_at: i64,
    #[serde(rename = "x")]
    expiry: Expiry,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(rename = "a", skip_serializing_if = "is_unknown")]
    client: &'a ClientInfo,
    #[serde(rename = "m", skip_serializing_if = "Option::is_none")]
    moved_to: Option<IdHash>,
}

#[derive(Deserialize)]
struct OwnedFields {
    #[serde(rename = "d")]
    data: Data,
    #[serde(rename = "c")]
    created_at: i64,
    #[serde(rename = "x")]
    expiry: Expiry,
    #[serde(rename = "u", default)]
    user: Option<String>,
    #[serde(rename = "a", default)]
    client: ClientInfo,
    #[serde(rename = "m", default)]
    moved_to: Option<IdHash>,
}

fn is_unknown(client: &&ClientInfo) -> bool {
    **client == ClientInfo::default()
}

fn ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Slot {
    /// Keeps `record` shared, or packs it (`compact`). A record that cannot be packed
    /// (not expected: its data came from JSON values) is kept shared.
    pub(super) fn new(record: Arc<Record>, compact: bool) -> Self {
        if !compact {
            return Self::Shared(record);
        }
        let fields = Fields {
            data: &record.data,
            created_at: ms(record.created_at),
            expiry: record.expiry,
            user: record.user.as_deref(),
            client: &record.client,
            moved_to: record.moved_to,
        };
        let mut bytes = Vec::with_capacity(HEADER + 64 + record.data.len() * 24);
        bytes.extend_from_slice(&ms(record.expires_at).to_le_bytes());
        bytes.extend_from_slice(&ms(record.last_seen).to_le_bytes());
        bytes.extend_from_slice(&record.version.to_le_bytes());
        bytes.push(if record.user.is_some() { HAS_USER } else { 0 });
        match rmp_serde::encode::write_named(&mut bytes, &fields) {
            Ok(()) => Self::Packed(bytes.into_boxed_slice()),
            Err(_) => Self::Shared(record),
        }
    }

    fn header_word(bytes: &[u8], at: usize) -> [u8; 8] {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .unwrap_or_default()
    }

    fn header_ms(bytes: &[u8], at: usize) -> i64 {
        i64::from_le_bytes(Self::header_word(bytes, at))
    }

    /// The version a compare-and-swap compares.
    pub(super) fn version(&self) -> u64 {
        match self {
            Self::Shared(record) => record.version,
            Self::Packed(bytes) => u64::from_le_bytes(Self::header_word(bytes, 16)),
        }
    }

    pub(super) fn is_expired(&self, now: OffsetDateTime) -> bool {
        match self {
            Self::Shared(record) => record.is_expired(now),
            Self::Packed(bytes) => Self::header_ms(bytes, 0) <= ms(now),
        }
    }

    /// Last save or touch, in Unix milliseconds (for eviction).
    pub(super) fn last_seen_ms(&self) -> i64 {
        match self {
            Self::Shared(record) => ms(record.last_seen),
            Self::Packed(bytes) => Self::header_ms(bytes, 8),
        }
    }

    pub(super) fn has_user(&self) -> bool {
        match self {
            Self::Shared(record) => record.user.is_some(),
            Self::Packed(bytes) => bytes.get(FLAGS).is_some_and(|f| f & HAS_USER != 0),
        }
    }

    /// The record stored under `id` (a packed one decoded); `None` only for bytes this
    /// module did not write.
    pub(super) fn record(&self, id: &IdHash) -> Option<Arc<Record>> {
        match self {
            Self::Shared(record) => Some(record.clone()),
            Self::Packed(bytes) => {
                let fields: OwnedFields = rmp_serde::from_slice(bytes.get(HEADER..)?).ok()?;
                let mut record = Record::new(
                    *id,
                    fields.data,
                    from_ms(fields.created_at),
                    from_ms(Self::header_ms(bytes, 0)),
                );
                record.last_seen = from_ms(Self::header_ms(bytes, 8));
                record.expiry = fields.expiry;
                record.version = self.version();
                record.user = fields.user;
                record.client = fields.client;
                record.moved_to = fields.moved_to;
                Some(Arc::new(record))
            }
        }
    }

    /// Moves the expiry and last-seen time (a packed slot in place, no decode).
    pub(super) fn touch(&mut self, expires_at: OffsetDateTime, now: OffsetDateTime) {
        match self {
            Self::Shared(record) => {
                let record = Arc::make_mut(record);
                record.expires_at = expires_at;
                record.last_seen = now;
            }
            Self::Packed(bytes) => {
                if let Some(header) = bytes.get_mut(..16) {
                    header[..8].copy_from_slice(&ms(expires_at).to_le_bytes());
                    header[8..].copy_from_slice(&ms(now).to_le_bytes());
                }
            }
        }
    }
}
