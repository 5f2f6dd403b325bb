//! Settings from the environment, with defaults that just work, and the secret keys.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `SESSIONKIT_ADDR` | `127.0.0.1:3000` | where to listen |
//! | `SESSIONKIT_DATA_DIR` | `data` (relative to the current folder) | the demo's folder: default SQLite file and generated key |
//! | `SESSIONKIT_STORE` | `sqlite://<data dir>/sessions.db` | `sqlite://…`, `sqlite::memory:`, `postgres://…`, `mysql://…`, `file:///dir`, `memory://`, `cookie://` |
//! | `SESSIONKIT_SECRET_KEYS` | a key generated into `<data dir>/secret.key` (mode 0600) | comma-separated, the first signs |
//! | `SESSIONKIT_IDLE_TIMEOUT` | 14 days | seconds of inactivity before a session ends |
//! | `SESSIONKIT_ABSOLUTE_TIMEOUT` | 30 days | seconds from creation before a session ends |
//! | `SESSIONKIT_BROWSER_SESSION` | `0` | `1`: cookies without Max-Age (gone when the browser closes) |
//! | `SESSIONKIT_COOKIE_SECURE` | `1` | `0`: allow the cookie over plain HTTP on other hosts than localhost |
//! | `SESSIONKIT_USERS_FILE` | the tutorial's three accounts | see [`crate::auth::Users::parse`] |

use std::path::{Path, PathBuf};

use sessionkit::KeyRing;

use crate::error::StartupError;

/// Name of the generated key file inside the data folder.
pub const KEY_FILE: &str = "secret.key";
/// Name of the default SQLite file inside the data folder.
pub const SQLITE_FILE: &str = "sessions.db";

/// How sessions behave: what the session layer is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// `Secure` cookies (default on).
    pub secure: bool,
    /// Sliding inactivity limit; `None` keeps the library default (14 days).
    pub idle_timeout: Option<time::Duration>,
    /// Limit from creation; `None` keeps the library default (30 days).
    pub absolute_timeout: Option<time::Duration>,
    /// Cookies without Max-Age.
    pub browser_session: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            secure: true,
            idle_timeout: None,
            absolute_timeout: None,
            browser_session: false,
        }
    }
}

/// Everything the demo reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen.
    pub addr: String,
    /// The data folder (default SQLite file, generated key).
    pub data_dir: PathBuf,
    /// The store URL; `None` means the default SQLite file in the data folder.
    pub store_url: Option<String>,
    /// Secret keys from `SESSIONKIT_SECRET_KEYS`, unparsed; `None` means the key file.
    pub secret_keys: Option<String>,
    /// Session behaviour.
    pub sessions: SessionSettings,
    /// The users file, if any.
    pub users_file: Option<PathBuf>,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    ///
    /// [`StartupError::Setting`] naming the variable whose value is unusable.
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset.
    ///
    /// # Errors
    ///
    /// [`StartupError::Setting`] naming the variable whose value is unusable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            addr: get("SESSIONKIT_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned()),
            data_dir: get("SESSIONKIT_DATA_DIR")
                .map_or_else(|| PathBuf::from("data"), PathBuf::from),
            store_url: get("SESSIONKIT_STORE"),
            secret_keys: get("SESSIONKIT_SECRET_KEYS"),
            sessions: SessionSettings {
                secure: flag(
                    "SESSIONKIT_COOKIE_SECURE",
                    get("SESSIONKIT_COOKIE_SECURE"),
                    true,
                )?,
                idle_timeout: seconds("SESSIONKIT_IDLE_TIMEOUT", get("SESSIONKIT_IDLE_TIMEOUT"))?,
                absolute_timeout: seconds(
                    "SESSIONKIT_ABSOLUTE_TIMEOUT",
                    get("SESSIONKIT_ABSOLUTE_TIMEOUT"),
                )?,
                browser_session: flag(
                    "SESSIONKIT_BROWSER_SESSION",
                    get("SESSIONKIT_BROWSER_SESSION"),
                    false,
                )?,
            },
            users_file: get("SESSIONKIT_USERS_FILE").map(PathBuf::from),
        })
    }

    /// The store URL to open: `SESSIONKIT_STORE`, or the SQLite file in the data folder.
    pub fn store_url(&self) -> String {
        self.store_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join(SQLITE_FILE).to_string_lossy()
            )
        })
    }

    /// Whether the store is the default SQLite file (whose folder the demo creates).
    pub fn uses_default_store(&self) -> bool {
        self.store_url.is_none()
    }

    /// The secret keys: from `SESSIONKIT_SECRET_KEYS`, else from the key file in the
    /// data folder, generated (owner-only) when missing.
    ///
    /// # Errors
    ///
    /// [`StartupError::Keys`] for unusable keys, [`StartupError::Io`] when the key file
    /// cannot be created.
    pub fn load_keys(&self) -> Result<KeyRing, StartupError> {
        if let Some(list) = &self.secret_keys {
            return KeyRing::parse(list).map_err(|error| StartupError::Keys {
                source_name: "SESSIONKIT_SECRET_KEYS".to_owned(),
                error,
            });
        }
        let path = self.data_dir.join(KEY_FILE);
        if !path.exists() {
            create_data_dir(&self.data_dir)?;
            write_new_key(&path)?;
            tracing::info!(
                path = %path.display(),
                "SESSIONKIT_SECRET_KEYS is not set: generated a new secret key file (mode 0600); \
                 keep it private, or set SESSIONKIT_SECRET_KEYS"
            );
        }
        KeyRing::from_file(&path).map_err(|error| StartupError::Keys {
            // A `KeyError::File` names the file itself.
            source_name: match error {
                sessionkit::KeyError::File { .. } => "SESSIONKIT_SECRET_KEYS is not set".to_owned(),
                _ => format!("key file {}", path.display()),
            },
            error,
        })
    }
}

fn flag(var: &'static str, value: Option<String>, default: bool) -> Result<bool, StartupError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(StartupError::Setting {
            var,
            reason: format!("expected 1 or 0, got {:?}", truncate(&value)),
        }),
    }
}

fn seconds(
    var: &'static str,
    value: Option<String>,
) -> Result<Option<time::Duration>, StartupError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(time::Duration::seconds(i64::from(n)))),
        _ => Err(StartupError::Setting {
            var,
            reason: format!(
                "expected a positive number of seconds up to 4294967295 (136 years), got {:?}",
                truncate(&value)
            ),
        }),
    }
}

fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

/// Creates the data folder (owner-only on Unix) if it does not exist.
///
/// # Errors
///
/// [`StartupError::Io`] when it cannot be created.
pub fn create_data_dir(dir: &Path) -> Result<(), StartupError> {
    sessionkit::store::private_dir_builder()
        .recursive(true)
        .create(dir)
        .map_err(|error| StartupError::Io {
            what: "SESSIONKIT_DATA_DIR: cannot create the data folder",
            path: dir.display().to_string(),
            error,
        })
}

/// Writes a fresh random key (64 hex characters, 256 bits) to a new owner-only file.
fn write_new_key(path: &Path) -> Result<(), StartupError> {
    use std::io::Write as _;
    let io = |error| StartupError::Io {
        what: "cannot create the key file",
        path: path.display().to_string(),
        error,
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, StartupError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_just_work() -> Result<(), StartupError> {
        let c = config(&[])?;
        assert_eq!(c.addr, "127.0.0.1:3000");
        assert_eq!(c.store_url(), "sqlite://data/sessions.db");
        assert!(c.uses_default_store());
        assert_eq!(c.sessions, SessionSettings::default());
        assert!(c.sessions.secure);
        Ok(())
    }

    #[test]
    fn values_are_read_and_bad_ones_name_their_variable() -> Result<(), StartupError> {
        let c = config(&[
            ("SESSIONKIT_STORE", "memory://"),
            ("SESSIONKIT_IDLE_TIMEOUT", "1800"),
            ("SESSIONKIT_BROWSER_SESSION", "1"),
            ("SESSIONKIT_COOKIE_SECURE", "0"),
        ])?;
        assert_eq!(c.store_url(), "memory://");
        assert_eq!(c.sessions.idle_timeout, Some(time::Duration::minutes(30)));
        assert!(c.sessions.browser_session);
        assert!(!c.sessions.secure);
        for (var, value) in [
            ("SESSIONKIT_IDLE_TIMEOUT", "soon"),
            ("SESSIONKIT_ABSOLUTE_TIMEOUT", "0"),
            ("SESSIONKIT_COOKIE_SECURE", "maybe"),
        ] {
            let err = config(&[(var, value)]).expect_err("a bad value is refused");
            assert!(err.to_string().starts_with(var), "{err}");
        }
        Ok(())
    }

    #[test]
    fn short_keys_are_refused_with_a_readable_message() -> Result<(), StartupError> {
        let c = config(&[("SESSIONKIT_SECRET_KEYS", "short")])?;
        let err = c.load_keys().expect_err("short keys are refused");
        assert_eq!(
            err.to_string(),
            "SESSIONKIT_SECRET_KEYS: secret key #0 is 5 bytes long; at least 32 are required"
        );
        Ok(())
    }

    #[test]
    fn a_missing_key_file_is_generated_owner_only_and_reused(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("sessionkit-demo-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = config(&[("SESSIONKIT_DATA_DIR", &dir.to_string_lossy())])?;
        let first = c.load_keys()?;
        assert_eq!(first.len(), 1);
        let text = std::fs::read_to_string(dir.join(KEY_FILE))?;
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(KEY_FILE))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        c.load_keys()?;
        assert_eq!(std::fs::read_to_string(dir.join(KEY_FILE))?, text);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
