//! Session table names: validated once, so they can be spliced into SQL safely.

use std::fmt;

use crate::Error;

/// Longest table name accepted (PostgreSQL's identifier limit is 63 bytes).
const MAX_LEN: usize = 63;

/// The table name every store uses unless told otherwise.
pub const DEFAULT_TABLE_NAME: &str = "sessions";

/// A session table name that is safe to put into SQL: 1 to 63 ASCII letters, digits
/// or underscores, not starting with a digit (`^[A-Za-z_][A-Za-z0-9_]{0,62}$`).
///
/// Table names cannot be bound as query parameters, so this check is what stands
/// between a configuration value and SQL injection. Stores also quote the name, so it
/// is used exactly as written (case included).
///
/// # Examples
///
/// ```
/// use sessionkit_sql::TableName;
///
/// assert_eq!(TableName::new("app_sessions")?.as_str(), "app_sessions");
/// assert!(TableName::new("sessions; DROP TABLE users").is_err());
/// assert!(TableName::new("1sessions").is_err());
/// # Ok::<(), sessionkit_sql::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// Validates a table name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] when `name` does not match
    /// `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
    pub fn new(name: &str) -> Result<Self, Error> {
        let mut bytes = name.bytes();
        let valid = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && name.len() <= MAX_LEN;
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::InvalidTableName {
                name: name.chars().take(80).collect(),
            })
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of an object that belongs to this table (an index, the schema version
    /// table): `<table>_<suffix>`, shortened with a hash of the full name when it would
    /// pass the 63-byte identifier limit, so that two long table names never share one.
    pub(crate) fn derived(&self, suffix: &str) -> String {
        let full = format!("{}_{suffix}", self.0);
        if full.len() <= MAX_LEN {
            return full;
        }
        let tail = format!("_{:08x}_{suffix}", self.fnv1a() >> 32);
        let keep = MAX_LEN.saturating_sub(tail.len());
        // The name is ASCII, so any byte offset is a character boundary.
        format!("{}{tail}", &self.0[..keep.min(self.0.len())])
    }

    /// A number naming this table, for database-wide advisory locks.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn lock_key(&self) -> i64 {
        i64::from_ne_bytes(self.fnv1a().to_ne_bytes())
    }

    /// 64-bit FNV-1a of the name: stable across builds and platforms.
    fn fnv1a(&self) -> u64 {
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self(DEFAULT_TABLE_NAME.to_owned())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for TableName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_identifiers_up_to_63_bytes() {
        for good in ["s", "_", "sessions", "App_Sessions_2", &"a".repeat(63)] {
            assert!(TableName::new(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_anything_that_could_escape_an_identifier() {
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a;b",
            "a\"b",
            "a`b",
            "a'b",
            "a.b",
            "sessions--",
            "séance",
            "a\0",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(TableName::new(bad), Err(Error::InvalidTableName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn derived_names_fit_the_identifier_limit_and_stay_distinct() -> Result<(), Error> {
        let short = TableName::new("sessions")?;
        assert_eq!(short.derived("schema"), "sessions_schema");
        let a = TableName::new(&format!("{}a", "x".repeat(62)))?;
        let b = TableName::new(&format!("{}b", "x".repeat(62)))?;
        for suffix in [
            "schema",
            "expires_at_idx",
            "user_key_idx",
            "purge_after_idx",
        ] {
            assert!(a.derived(suffix).len() <= 63);
            assert!(a.derived(suffix).ends_with(suffix));
            assert_ne!(a.derived(suffix), b.derived(suffix));
            assert_ne!(a.derived(suffix), a.as_str());
        }
        Ok(())
    }
}
