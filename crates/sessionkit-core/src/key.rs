//! Typed keys: a typo or a type change becomes a compile error.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Session};

/// A session key with its value type.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{Key, MemoryStore, Session, SessionConfig};
///
/// const VISITS: Key<u32> = Key::new("visits");
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let session = Session::new(MemoryStore::new(), SessionConfig::default());
/// VISITS.insert(&session, 3).await?;
/// assert_eq!(VISITS.get(&session).await?, Some(3));
/// assert_eq!(VISITS.remove(&session).await?, Some(3));
/// # Ok::<(), sessionkit_core::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Key<T> {
    name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?})", self.name)
    }
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> Key<T> {
    /// A key named `name`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _type: PhantomData,
        }
    }

    /// The key's name in the session.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: Serialize + DeserializeOwned> Key<T> {
    /// Reads the value.
    ///
    /// # Errors
    ///
    /// As [`Session::get`].
    pub async fn get(&self, session: &Session) -> Result<Option<T>, Error> {
        session.get(self.name).await
    }

    /// Writes the value.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub async fn insert(&self, session: &Session, value: T) -> Result<(), Error> {
        session.insert(self.name, value).await
    }

    /// Removes and returns the value.
    ///
    /// # Errors
    ///
    /// As [`Session::remove`].
    pub async fn remove(&self, session: &Session) -> Result<Option<T>, Error> {
        session.remove(self.name).await
    }

    /// Reads the value, inserting `default` when missing.
    ///
    /// # Errors
    ///
    /// As [`Session::get_or_insert`].
    pub async fn get_or_insert(&self, session: &Session, default: T) -> Result<T, Error> {
        session.get_or_insert(self.name, default).await
    }
}
