//! What a store persists for one session.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{Expiry, IdHash};

/// Session data: string keys to JSON values.
pub type Data = Map<String, Value>;

/// Where a session came from, for the "your devices" view. Recorded when the session
/// is created; never used for authentication unless binding is switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The `User-Agent` header, truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client address as the application sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// One stored session.
///
/// Stores treat everything but `id`, `expires_at`, `version` and `user` as opaque and
/// persist it through [`crate::codec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The key: a hash of the session id, never the id itself.
    pub id: IdHash,
    /// The session's data.
    pub data: Data,
    /// When the session was first saved.
    #[serde(with = "time::serde::timestamp::milliseconds")]
    pub created_at: OffsetDateTime,
    /// When the session was last saved or touched.
    #[serde(with = "time::serde::timestamp::milliseconds")]
    pub last_seen: OffsetDateTime,
    /// When the session stops being loadable. Stores never return a record past this.
    #[serde(with = "time::serde::timestamp::milliseconds")]
    pub expires_at: OffsetDateTime,
    /// The session's own expiry override.
    #[serde(default)]
    pub expiry: Expiry,
    /// Bumped on every write; compare-and-swap compares it.
    pub version: u64,
    /// The user this session is bound to (`Session::login`), for "sessions of a user".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The client that created the session.
    #[serde(default, skip_serializing_if = "is_default")]
    pub client: ClientInfo,
    /// Set on the record of an id that was rotated away (`cycle_id`, `login`): the
    /// record that replaced it. For the rotation grace window the old id resolves to
    /// it; after that its use is refused and logged. `last_seen` is the rotation time.
    /// Such a record holds no user; its data is the engine's own (a mark when a login
    /// as another user ended the session, whose old id then resolves to nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<IdHash>,
}

fn is_default(c: &ClientInfo) -> bool {
    c == &ClientInfo::default()
}

/// Whether `c`, in a user name or other text a session holds, is unsafe to show as it
/// is: a control character (C0, DEL, C1: a terminal acts on them), a bidi control or
/// mark (they reorder the text around them), or an invisible character that makes two
/// names look alike (the zero-width space, the byte-order mark, the soft hyphen, the
/// Hangul fillers). The zero-width joiners are not: emoji and Persian or Indic text
/// need them.
///
/// ```
/// use sessionkit_core::unsafe_to_show;
///
/// assert!(unsafe_to_show('\u{1b}') && unsafe_to_show('\u{202e}') && unsafe_to_show('\u{200b}'));
/// assert!(!unsafe_to_show('a') && !unsafe_to_show('山') && !unsafe_to_show('\u{200d}'));
/// ```
pub fn unsafe_to_show(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

/// The one key a rotation pointer's data may hold: set when a login as another user
/// ended the session the pointer's id named, so that id, presented again, is not
/// forwarded into the new user's session.
pub(crate) const ENDED_BY_LOGIN: &str = "ended_by_login";

impl Record {
    /// Whether this is the pointer a login as another user left: the session its id
    /// named has ended, and the record it points to is the other user's (not a session
    /// whose data merely holds the same key).
    pub fn ended_by_login(&self) -> bool {
        self.moved_to.is_some() && self.data.contains_key(ENDED_BY_LOGIN)
    }

    /// A fresh record with version 1, created and last seen at `now`.
    pub fn new(id: IdHash, data: Data, now: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            data,
            created_at: now,
            last_seen: now,
            expires_at,
            expiry: Expiry::Default,
            version: 1,
            user: None,
            client: ClientInfo::default(),
            moved_to: None,
        }
    }

    /// A copy of everything but the data, with `data` instead: no copy of a map that is
    /// about to be replaced.
    pub fn with_data(&self, data: Data) -> Self {
        Self {
            id: self.id,
            data,
            created_at: self.created_at,
            last_seen: self.last_seen,
            expires_at: self.expires_at,
            expiry: self.expiry,
            version: self.version,
            user: self.user.clone(),
            client: self.client.clone(),
            moved_to: self.moved_to,
        }
    }

    /// Whether there is nothing worth storing: no data and no bound user. An empty
    /// session is never stored, and a session that becomes empty is deleted.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.user.is_none()
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
}
