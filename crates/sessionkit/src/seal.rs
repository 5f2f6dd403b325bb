//! Signing and encryption of cookie values through the `cookie` crate, with a key ring.

use cookie::{Cookie, CookieJar, Key};

use crate::KeyRing;

/// How a cookie value is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// HMAC-SHA256: integrity only; the value is readable by the client.
    Signed,
    /// AES-256-GCM: integrity and confidentiality.
    Private,
}

/// Seals values with the first key of a ring and opens them with any key.
#[derive(Clone)]
pub(crate) struct Sealer {
    protection: Protection,
    keys: Vec<Key>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({:?}, {} keys)", self.protection, self.keys.len())
    }
}

impl Sealer {
    pub(crate) fn new(ring: &KeyRing, purpose: &str, protection: Protection) -> Self {
        Self {
            protection,
            keys: ring.derive(purpose),
        }
    }

    /// Protects `value` for a cookie called `name` (private mode authenticates the name
    /// too; both modes are bound to their purpose through the derived key).
    pub(crate) fn seal(&self, name: &str, value: String) -> String {
        let mut jar = CookieJar::new();
        let cookie = Cookie::new(name.to_owned(), value);
        if let Some(key) = self.keys.first() {
            match self.protection {
                Protection::Signed => jar.signed_mut(key).add(cookie),
                Protection::Private => jar.private_mut(key).add(cookie),
            }
        }
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// Opens a sealed value; `Some((value, key_index))` when one of the keys verifies it.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Option<(String, usize)> {
        let jar = CookieJar::new();
        self.keys.iter().enumerate().find_map(|(i, key)| {
            let cookie = Cookie::new(name.to_owned(), sealed.to_owned());
            let opened = match self.protection {
                Protection::Signed => jar.signed(key).verify(cookie),
                Protection::Private => jar.private(key).decrypt(cookie),
            };
            opened.map(|c| (c.value().to_owned(), i))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secrets: &[&str]) -> KeyRing {
        KeyRing::new(secrets).expect("valid test secrets")
    }

    const K1: &str = "first secret key, 32 bytes or more";
    const K2: &str = "second secret key, 32 bytes or more";

    #[test]
    fn sealed_values_open_and_tampering_is_rejected() {
        for protection in [Protection::Signed, Protection::Private] {
            let s = Sealer::new(&ring(&[K1]), "test", protection);
            let sealed = s.seal("sid", "hello".into());
            assert_eq!(s.open("sid", &sealed), Some(("hello".into(), 0)));
            let mut bytes = sealed.clone().into_bytes();
            let last = bytes.len() - 1;
            bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).expect("ascii");
            assert_eq!(s.open("sid", &tampered), None, "{protection:?}");
            assert_eq!(s.open("sid", &sealed[..sealed.len() / 2]), None);
            if protection == Protection::Private {
                // AES-GCM authenticates the cookie name too; signed values are bound to
                // their purpose by the derived key instead.
                assert_eq!(s.open("other-name", &sealed), None, "name is authenticated");
            }
        }
    }

    #[test]
    fn fallback_keys_verify_but_only_the_first_signs() {
        let old = Sealer::new(&ring(&[K1]), "test", Protection::Signed);
        let rotated = Sealer::new(&ring(&[K2, K1]), "test", Protection::Signed);
        let only_new = Sealer::new(&ring(&[K2]), "test", Protection::Signed);
        let sealed_old = old.seal("sid", "v".into());
        assert_eq!(rotated.open("sid", &sealed_old), Some(("v".into(), 1)));
        assert_eq!(only_new.open("sid", &sealed_old), None);
        let sealed_new = rotated.seal("sid", "v".into());
        assert_eq!(only_new.open("sid", &sealed_new), Some(("v".into(), 0)));
    }

    #[test]
    fn a_value_sealed_for_one_purpose_does_not_open_for_another() {
        let a = Sealer::new(&ring(&[K1]), "session id", Protection::Signed);
        let b = Sealer::new(&ring(&[K1]), "csrf", Protection::Signed);
        assert_eq!(b.open("sid", &a.seal("sid", "v".into())), None);
    }
}
