//! The key layout.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `<prefix>s2:{<id hash hex>}` | string | one session, laid out as in [`crate::value`] |
//! | `<prefix>u:{<SHA-256 of the user, hex>}` | set | id hashes (hex) of the user's sessions |
//!
//! The part in braces is the cluster hash tag: every key has one, and no command or
//! script ever touches two keys, so nothing depends on two keys sharing a slot.
//! User names are hashed so that keys carry no personal data, have a fixed length and
//! cannot contain braces of their own.

use sessionkit_core::IdHash;
use sha2::{Digest, Sha256};

/// What follows the prefix in a session key. The `2` is the layout: version 1 kept
/// each session as a hash under `s:`, which this version neither reads nor writes
/// (such keys expire by their TTLs).
const SESSION: &str = "s2:";

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn session(&self, id: &IdHash) -> String {
        // Built by hand: this runs on every call, and `format!` costs more than the
        // store's own work around it.
        let mut key = String::with_capacity(self.prefix.len() + SESSION.len() + 66);
        key.push_str(&self.prefix);
        key.push_str(SESSION);
        key.push('{');
        id.push_hex(&mut key);
        key.push('}');
        key
    }

    pub(crate) fn user(&self, user: &str) -> String {
        let digest = Sha256::digest(user.as_bytes());
        let hex = IdHash::from_bytes(digest.into()).to_hex();
        format!("{}u:{{{hex}}}", self.prefix)
    }

    /// `SCAN MATCH` pattern of every session key (the prefix has no glob characters).
    pub(crate) fn session_pattern(&self) -> String {
        format!("{}{SESSION}{{*}}", self.prefix)
    }

    /// `SCAN MATCH` pattern of every user-index key.
    pub(crate) fn user_pattern(&self) -> String {
        format!("{}u:{{*}}", self.prefix)
    }

    /// The id hash in a session key.
    pub(crate) fn id_of_session(&self, key: &str) -> Option<IdHash> {
        let hex = key
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(SESSION)?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        IdHash::from_hex(hex)
    }

    /// The session key of a user-index member (the id hash in hex).
    pub(crate) fn session_of_member(&self, member: &str) -> Option<String> {
        IdHash::from_hex(member).map(|id| self.session(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_hash_tags_and_no_user_name() {
        let keys = Keys::new("app:");
        let id = IdHash::from_bytes([7; 32]);
        assert_eq!(keys.session(&id), format!("app:s2:{{{}}}", id.to_hex()));
        let user = keys.user("alice@example.com");
        assert!(user.starts_with("app:u:{") && user.ends_with('}'));
        assert!(!user.contains("alice"));
        assert_eq!(user.len(), "app:u:{}".len() + 64);
        assert_eq!(keys.user("a}b{c").matches('{').count(), 1);
        assert_eq!(
            keys.session_of_member(&id.to_hex()),
            Some(keys.session(&id))
        );
        assert_eq!(keys.session_of_member("not hex"), None);
        assert_eq!(keys.id_of_session(&keys.session(&id)), Some(id));
        assert_eq!(keys.id_of_session("other:s2:{00}"), None);
        let old_layout = format!("app:s:{{{}}}", id.to_hex());
        assert_eq!(keys.id_of_session(&old_layout), None);
    }
}
