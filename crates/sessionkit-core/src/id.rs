//! Session identifiers and the hash under which stores keep them.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Number of random bytes in a session id (192 bits of entropy).
const ID_BYTES: usize = 24;
/// Length of the id's text form: `ID_BYTES` in unpadded base64url.
const ID_TEXT_LEN: usize = 32;

/// An opaque session id: 192 bits from the operating system's CSPRNG, shown as
/// 32 characters of unpadded base64url (`A-Z a-z 0-9 - _`).
///
/// The raw id only ever lives in the cookie. Stores key records by [`IdHash`], so a
/// dump of a store yields no usable cookie.
///
/// # Examples
///
/// ```
/// use sessionkit_core::SessionId;
///
/// let id = SessionId::generate()?;
/// let text = id.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(SessionId::parse(&text), Some(id));
/// assert_eq!(SessionId::parse("../../etc/passwd"), None);
/// # Ok::<(), sessionkit_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// Draws a new id from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Random`] when the operating system cannot provide randomness.
    pub fn generate() -> Result<Self, crate::Error> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| crate::Error::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Parses the text form. Anything that is not exactly 32 characters of base64url
    /// is rejected before any store can see it.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != ID_TEXT_LEN {
            return None;
        }
        // 32 characters carry exactly 24 bytes (no spare bits) and the engine refuses
        // anything outside the URL-safe alphabet, padding included, so one id has
        // exactly one text form without re-encoding to compare.
        let mut bytes = [0u8; ID_BYTES];
        let written = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
        (written == ID_BYTES).then_some(Self(bytes))
    }

    /// The hash that stores use as the record's key.
    pub fn hash(&self) -> IdHash {
        IdHash(Sha256::digest(self.0).into())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for SessionId {
    /// Redacted: a session id is a bearer credential and never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// SHA-256 of a [`SessionId`]: the key under which every store keeps a record.
///
/// Knowing a hash does not let anyone present the session; it is safe to log, list and
/// pass to operators (the CLI shows it). Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct IdHash([u8; 32]);

impl IdHash {
    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a hash from its raw bytes (as stored in a binary column).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lower-case hex, 64 characters: the form text-keyed stores use.
    pub fn to_hex(&self) -> String {
        let mut text = String::with_capacity(64);
        self.push_hex(&mut text);
        text
    }

    /// Appends the 64-character lower-case hex form to `out`: a key built around it
    /// (`prefix{hex}`) takes one allocation instead of two.
    pub fn push_hex(&self, out: &mut String) {
        // The slice form of `hex` is a table lookup per byte (`hex::encode` goes
        // through an iterator per character); `from_utf8` checks its ASCII output a
        // word at a time.
        let mut text = [0u8; 64];
        match hex::encode_to_slice(self.0, &mut text).map(|()| std::str::from_utf8(&text)) {
            Ok(Ok(hex)) => out.push_str(hex),
            _ => out.push_str(&hex::encode(self.0)),
        }
    }

    /// Parses the 64-character hex form (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl PartialEq for IdHash {
    /// Constant-time: the bytes' differences are folded into one byte with no early
    /// exit, and only that byte goes through `subtle`'s comparison (one optimisation
    /// barrier instead of one per byte: this runs on every map probe of a load).
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff.ct_eq(&0).into()
    }
}

impl std::hash::Hash for IdHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for IdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for IdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdHash({})", &self.to_hex()[..12])
    }
}

/// Hex text in human-readable formats (JSON), the 32 raw bytes in binary ones.
impl serde::Serialize for IdHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for IdHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = IdHash;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id hash: 64 hex characters or 32 bytes")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<IdHash, E> {
                IdHash::from_hex(text).ok_or_else(|| E::custom("invalid id hash"))
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<IdHash, E> {
                <[u8; 32]>::try_from(bytes)
                    .map(IdHash)
                    .map_err(|_| E::custom("invalid id hash"))
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(Visit)
        } else {
            d.deserialize_bytes(Visit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte_in_order() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let hash = IdHash::from_bytes(bytes);
        let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash.to_hex(), want);
        assert_eq!(IdHash::from_bytes([0xff; 32]).to_hex(), "ff".repeat(32));
        assert_eq!(IdHash::from_hex(&want.to_uppercase()), Some(hash));
        let mut key = String::from("prefix{");
        hash.push_hex(&mut key);
        assert_eq!(
            key,
            format!("prefix{{{want}"),
            "push_hex appends, keeping what is there"
        );
    }

    #[test]
    fn id_hashes_are_equal_exactly_when_every_byte_is() {
        let base = IdHash::from_bytes(std::array::from_fn(|i| i as u8 * 7));
        assert_eq!(base, IdHash::from_bytes(*base.as_bytes()));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = *base.as_bytes();
                other[byte] ^= 1 << bit;
                assert_ne!(base, IdHash::from_bytes(other), "byte {byte}, bit {bit}");
            }
        }
    }

    #[test]
    fn generated_ids_are_unique_fixed_length_and_url_safe() -> Result<(), crate::Error> {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = SessionId::generate()?;
            let text = id.to_string();
            assert_eq!(text.len(), 32);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(seen.insert(text));
        }
        Ok(())
    }

    #[test]
    fn parse_rejects_wrong_length_alphabet_and_path_tricks() {
        for bad in [
            "",
            "abc",
            "../../etc/passwd",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/A",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\0A",
            "ÄAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_reads_every_id_from_exactly_one_text() -> Result<(), crate::Error> {
        let id = SessionId::generate()?;
        let text = id.to_string();
        assert_eq!(SessionId::parse(&text), Some(id.clone()));
        // Every character of the alphabet in every place is another id spelled one way.
        for place in [0, ID_TEXT_LEN / 2, ID_TEXT_LEN - 1] {
            for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
                let mut other = text.clone().into_bytes();
                other[place] = *c;
                let other = String::from_utf8(other).unwrap_or_default();
                let parsed = SessionId::parse(&other).map(|id| id.to_string());
                assert_eq!(parsed.as_deref(), Some(other.as_str()));
            }
        }
        let last_replaced = |c: char| format!("{}{c}", &text[..ID_TEXT_LEN - 1]);
        for bad in ['=', '+', '/', '.', ' ', '\0'] {
            assert_eq!(SessionId::parse(&last_replaced(bad)), None, "{bad:?}");
        }
        let mut two_byte = text[..ID_TEXT_LEN - 2].to_owned();
        two_byte.push('é');
        assert_eq!(two_byte.len(), ID_TEXT_LEN);
        assert_eq!(SessionId::parse(&two_byte), None);
        Ok(())
    }

    #[test]
    fn hash_round_trips_through_hex_and_differs_from_id() -> Result<(), crate::Error> {
        let id = SessionId::generate()?;
        let hash = id.hash();
        assert_eq!(IdHash::from_hex(&hash.to_hex()), Some(hash));
        assert!(!hash.to_hex().contains(&id.to_string()));
        assert_eq!(IdHash::from_hex("zz"), None);
        Ok(())
    }

    #[test]
    fn debug_output_never_shows_the_id() -> Result<(), crate::Error> {
        let id = SessionId::generate()?;
        assert!(!format!("{id:?}").contains(&id.to_string()));
        Ok(())
    }
}
