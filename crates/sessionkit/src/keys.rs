//! Secret keys: a ring where the first key signs and every key verifies.

use std::fmt;

use cookie::Key;
use hkdf::Hkdf;
use sha2::Sha256;

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Why a key ring could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// No secret was given.
    #[error("no secret key given: sessionkit needs at least one secret of {MIN_SECRET_LEN} bytes or more")]
    Empty,
    /// A secret is too short to be safe.
    #[error("secret key #{index} is {len} bytes long; at least {MIN_SECRET_LEN} are required")]
    TooShort {
        /// Position in the ring (0 = the signing key).
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A secret is a run of one repeated byte.
    #[error("secret key #{index} is one byte repeated; use random bytes")]
    Repetitive {
        /// Position in the ring.
        index: usize,
    },
    /// The key file could not be used.
    #[error("cannot use key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The environment variable holding keys is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
}

/// Secret keys for signing and encryption, current key first.
///
/// The first key signs and encrypts; every key (the first, then the fallbacks in
/// order) verifies and decrypts. To rotate: put a new key in front, keep the old one
/// behind it until every cookie it signed has expired or been re-issued, then drop it.
/// Each use (signed ids, the cookie store, CSRF tokens) derives its own keys with HKDF,
/// so a value signed for one purpose never verifies for another.
///
/// `Debug` never shows key material.
///
/// # Examples
///
/// ```
/// use sessionkit::KeyRing;
///
/// let ring = KeyRing::new(["a fresh random secret of 32+ bytes!!", "the previous secret, still verifying"])?;
/// assert_eq!(ring.len(), 2);
/// assert!(KeyRing::new(["short"]).is_err());
/// # Ok::<(), sessionkit::KeyError>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    secrets: Vec<Vec<u8>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} keys, redacted)", self.secrets.len())
    }
}

impl KeyRing {
    /// A ring from secrets, the signing one first.
    ///
    /// # Errors
    ///
    /// [`KeyError`] when there is no secret, or one is shorter than
    /// [`MIN_SECRET_LEN`] bytes or one byte repeated.
    pub fn new<I, S>(secrets: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let secrets: Vec<Vec<u8>> = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        for (index, s) in secrets.iter().enumerate() {
            if s.len() < MIN_SECRET_LEN {
                return Err(KeyError::TooShort {
                    index,
                    len: s.len(),
                });
            }
            if s.iter().all(|b| *b == s[0]) {
                return Err(KeyError::Repetitive { index });
            }
        }
        Ok(Self { secrets })
    }

    /// A ring from a comma-separated list (the signing key first), as kept in an
    /// environment variable or a file. Surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::new`].
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        Self::new(
            list.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        )
    }

    /// A ring from the environment variable `var` (comma-separated).
    ///
    /// # Errors
    ///
    /// [`KeyError::MissingEnv`] when unset, else as [`KeyRing::parse`].
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let list = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        Self::parse(&list)
    }

    /// A ring from a file holding the secrets, comma- or newline-separated, signing key
    /// first. On Unix the file must not be readable by group or others.
    ///
    /// # Errors
    ///
    /// [`KeyError::File`] when the file cannot be read or is too open, else as
    /// [`KeyRing::parse`].
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyError> {
        let fail = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| fail(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(fail(format!(
                    "permissions {:o} let others read it; use chmod 600",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Always false: a ring has at least one key.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The per-purpose cookie keys, signing key first.
    pub(crate) fn derive(&self, purpose: &str) -> Vec<Key> {
        self.secrets
            .iter()
            .map(|secret| {
                let mut okm = [0u8; 64];
                let hk = Hkdf::<Sha256>::new(Some(b"sessionkit key ring v1"), secret);
                // 64 bytes is far below HKDF-SHA256's 8160-byte output limit.
                let _ = hk.expand(purpose.as_bytes(), &mut okm);
                Key::from(&okm)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_short_and_repetitive_secrets_are_refused() {
        assert_eq!(
            KeyRing::new(Vec::<&str>::new()).err(),
            Some(KeyError::Empty)
        );
        assert_eq!(KeyRing::parse(" , ").err(), Some(KeyError::Empty));
        assert!(matches!(
            KeyRing::new(["x".repeat(31)]),
            Err(KeyError::TooShort { index: 0, len: 31 })
        ));
        assert!(matches!(
            KeyRing::new(["a".repeat(40)]),
            Err(KeyError::Repetitive { index: 0 })
        ));
    }

    #[test]
    fn parse_splits_on_commas_and_keeps_order() -> Result<(), KeyError> {
        let ring =
            KeyRing::parse(" 0123456789abcdef0123456789abcdef , fedcba9876543210fedcba9876543210")?;
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.secrets[0], b"0123456789abcdef0123456789abcdef");
        Ok(())
    }

    #[test]
    fn key_files_must_be_private_and_hold_valid_keys() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("sessionkit-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("keys");
        std::fs::write(
            &path,
            "0123456789abcdef0123456789abcdef\nfedcba9876543210fedcba9876543210\n",
        )?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        assert!(matches!(
            KeyRing::from_file(&path),
            Err(KeyError::File { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        assert_eq!(KeyRing::from_file(&path)?.len(), 2);
        assert!(matches!(
            KeyRing::from_file(&dir.join("missing")),
            Err(KeyError::File { .. })
        ));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn debug_never_shows_secrets() -> Result<(), KeyError> {
        let ring = KeyRing::new(["0123456789abcdef0123456789abcdef"])?;
        assert!(!format!("{ring:?}").contains("0123"));
        Ok(())
    }

    #[test]
    fn purposes_derive_different_keys() -> Result<(), KeyError> {
        let ring = KeyRing::new(["0123456789abcdef0123456789abcdef"])?;
        let a = ring.derive("a");
        let b = ring.derive("b");
        assert_ne!(a[0].master(), b[0].master());
        Ok(())
    }
}
