//! `FileStore`: one file per session in a directory (Django's `file` engine,
//! Flask-Session's filesystem backend). Behind the `file` cargo feature.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::codec;
use crate::store::{ExpiredDeletion, SessionListing, SessionStore, StoreError, UserIndex};
use crate::{IdHash, Record};

/// Number of lock stripes (and lock files): one per value of the id hash's first byte.
const STRIPES: usize = 256;
/// Name of the directory holding the lock files.
const LOCK_DIR: &str = ".locks";
/// Prefix of temporary files (written, synced, then renamed into place).
const TEMP_PREFIX: &str = ".tmp-";
/// Temporary files older than this are leftovers of a crash; `delete_expired` removes them.
const STALE_TEMP_AGE: StdDuration = StdDuration::from_secs(3600);

/// Why a [`FileStore`] could not be opened on a directory.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    /// The path exists but is not a directory.
    #[error("session directory {} exists but is not a directory", path.display())]
    NotADirectory {
        /// The configured path.
        path: PathBuf,
    },
    /// The directory was missing and could not be created.
    #[error("session directory {} could not be created", path.display())]
    Create {
        /// The configured path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The directory exists but this process cannot create files in it.
    #[error("session directory {} is not writable by this process", path.display())]
    NotWritable {
        /// The configured path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The directory could not be inspected.
    #[error("session directory {} could not be read", path.display())]
    Inaccessible {
        /// The configured path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl From<FileStoreError> for StoreError {
    fn from(e: FileStoreError) -> Self {
        StoreError::backend("opening the session directory", e)
    }
}

/// Sessions as files in one directory: `<dir>/<id hash hex>` holds the
/// [`codec`]-encoded record. Needs the `file` cargo feature of `sessionkit-core`.
///
/// - **Names** are the 64 hex characters of the [`IdHash`]; nothing a client sends
///   becomes part of a path, and a listing of the directory yields no usable cookie.
/// - **Atomic writes**: a record is written to a temporary file in the same
///   directory, synced, renamed over the session file, and the directory is synced.
///   Readers see the old record or the new one, never a mix; a crash leaves at most a
///   `.tmp-*` file, which [`ExpiredDeletion::delete_expired`] removes after an hour.
/// - **Locking**: `create`, `compare_and_swap`, `touch` and `delete` take an exclusive
///   OS file lock (`flock` on Unix, `LockFileEx` on Windows) on one of 256 lock files
///   in `<dir>/.locks`, chosen by the id hash's first byte, so a check-then-write is
///   atomic across threads *and processes* sharing the directory. Lock files are
///   never deleted (deleting a lock file someone may be waiting on breaks mutual
///   exclusion). Within one process an async mutex per stripe is taken first, so
///   waiting requests do not hold blocking threads. Loads take no lock. Use a local
///   filesystem: file locks on network filesystems are not reliable.
/// - **Create never overwrites**: under the lock, an absent file is linked into place
///   with a hard link (which itself refuses an existing name), so even a writer that
///   bypassed the lock could not be overwritten; an expired or undecodable file is
///   replaced by a rename.
/// - **Touch** rewrites the file with the new `expires_at`/`last_seen` only; the
///   version does not change.
/// - **User index**: a scan that decodes every session file, O(number of sessions)
///   per call. Fine for the few thousand sessions a file store suits; a large site
///   wants the SQL or Redis stores.
/// - **Expired deletion** scans the directory and deletes at most `max` expired files
///   per call. Files that do not decode are never counted as expired: they are left in
///   place and logged (the engine deletes a corrupt session when its id is next used).
/// - All file I/O runs on Tokio's blocking thread pool, so a Tokio runtime is required.
///
/// Cloning is cheap; clones share the locks.
///
/// # Examples
///
/// ```
/// use sessionkit_core::{FileStore, Session, SessionConfig};
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let dir = std::env::temp_dir().join(format!("sessionkit-doc-{}", std::process::id()));
/// let store = FileStore::open(&dir).await?;
///
/// let session = Session::new(store.clone(), SessionConfig::default());
/// session.insert("user", "alice").await?;
/// session.save().await?;
///
/// let id = session.id().await;
/// let again = Session::open(store, SessionConfig::default(), id);
/// assert_eq!(again.get::<String>("user").await?, Some("alice".to_string()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    stripes: Vec<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl FileStore {
    /// Opens the store on `dir`, creating the directory (owner-only, mode `0700` on
    /// Unix) when it is missing. Refuses to start, as Django's configuration check
    /// does, when the path is not a directory or this process cannot create files in
    /// it. Logs a warning when an existing directory is accessible to other users.
    ///
    /// # Errors
    ///
    /// A [`FileStoreError`] naming the directory and the problem.
    ///
    /// # Examples
    ///
    /// ```
    /// use sessionkit_core::{FileStore, FileStoreError};
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// # rt.block_on(async {
    /// let file = std::env::temp_dir().join(format!("sessionkit-doc-file-{}", std::process::id()));
    /// std::fs::write(&file, b"not a directory")?;
    /// let refused = FileStore::open(&file).await;
    /// assert!(matches!(refused, Err(FileStoreError::NotADirectory { .. })));
    /// # std::fs::remove_file(&file)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, FileStoreError> {
        let dir = dir.as_ref().to_path_buf();
        let checked = dir.clone();
        tokio::task::spawn_blocking(move || prepare(&checked))
            .await
            .map_err(|e| FileStoreError::Inaccessible {
                path: dir.clone(),
                source: io::Error::other(e),
            })??;
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
            }),
        })
    }

    /// The directory holding the session files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Takes the in-process lock of `id`'s stripe (the file lock is taken on the
    /// blocking thread).
    async fn stripe(&self, id: &IdHash) -> OwnedMutexGuard<()> {
        self.inner.stripes[stripe_of(id)].clone().lock_owned().await
    }

    /// Runs `work` on the blocking pool with `id`'s stripe held in this process and
    /// its lock file held across processes.
    async fn locked<T, F>(&self, id: &IdHash, what: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    {
        let guard = self.stripe(id).await;
        let (inner, id) = (self.inner.clone(), *id);
        let joined = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let _file_lock =
                lock_file(&inner.dir, &id).map_err(|e| StoreError::backend(what, e))?;
            work(&inner.dir)
        })
        .await;
        joined.map_err(|e| StoreError::backend(what, e))?
    }

    /// Runs `work` on the blocking pool without taking a lock.
    async fn unlocked<T, F>(&self, what: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::backend(what, e))?
    }

    /// Every decodable, live record in the directory (the user index's scan).
    async fn scan(&self) -> Result<Vec<Record>, StoreError> {
        self.unlocked("listing session files", |inner| {
            let now = OffsetDateTime::now_utc();
            let mut corrupt = 0u64;
            let mut out = Vec::new();
            for id in session_files(&inner.dir)? {
                match read_record(&inner.dir, &id) {
                    Ok(Some(r)) if !r.is_expired(now) => out.push(r),
                    Ok(_) => {}
                    Err(StoreError::Corrupt(_)) => corrupt += 1,
                    Err(e) => return Err(e),
                }
            }
            log_corrupt(corrupt, &inner.dir);
            Ok(out)
        })
        .await
    }
}

fn stripe_of(id: &IdHash) -> usize {
    usize::from(id.as_bytes()[0]) % STRIPES
}

/// Creates (owner-only) or checks the directory, probes that it is writable and
/// creates the lock directory.
fn prepare(dir: &Path) -> Result<(), FileStoreError> {
    let inaccessible = |source| FileStoreError::Inaccessible {
        path: dir.to_path_buf(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(FileStoreError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Ok(meta) => warn_if_shared(dir, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::store::private_dir_builder()
                .recursive(true)
                .create(dir)
                .map_err(|source| FileStoreError::Create {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        Err(e) => return Err(inaccessible(e)),
    }
    let not_writable = |source| FileStoreError::NotWritable {
        path: dir.to_path_buf(),
        source,
    };
    let probe = dir.join(format!(
        "{TEMP_PREFIX}probe-{}",
        random_suffix().map_err(not_writable)?
    ));
    new_private_file(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .map_err(not_writable)?;
    fs::remove_file(&probe).map_err(not_writable)?;
    let locks = dir.join(LOCK_DIR);
    match crate::store::private_dir_builder().create(&locks) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && locks.is_dir() => Ok(()),
        Err(e) => Err(not_writable(e)),
    }
}

#[cfg(unix)]
fn warn_if_shared(dir: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::PermissionsExt as _;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            "session directory is accessible to other users; make it owner-only (chmod 700)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_dir: &Path, _meta: &fs::Metadata) {}

/// Creates a new file readable and writable by the owner only; fails if it exists.
fn new_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

fn random_suffix() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Opens `id`'s lock file (creating it once) and takes an exclusive lock on it; the
/// lock is released when the returned file is dropped.
fn lock_file(dir: &Path, id: &IdHash) -> io::Result<File> {
    let path = dir.join(LOCK_DIR).join(format!("{:02x}", stripe_of(id)));
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    fs4::FileExt::lock(&file)?;
    Ok(file)
}

/// Syncs the directory entry changes (renames, links, removals) to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads and decodes `id`'s file: `None` when there is none. A record whose id does
/// not match its file name is corrupt.
fn read_record(dir: &Path, id: &IdHash) -> Result<Option<Record>, StoreError> {
    let bytes = match fs::read(dir.join(id.to_hex())) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::backend("reading a session file", e)),
    };
    let record = codec::decode(&bytes)?;
    if record.id != *id {
        return Err(StoreError::corrupt(
            "the record's id hash does not match its file name",
        ));
    }
    Ok(Some(record))
}

/// Whether `id`'s file holds a live record; `None` when it holds none (absent,
/// expired or undecodable).
fn read_live(dir: &Path, id: &IdHash, now: OffsetDateTime) -> Result<Option<Record>, StoreError> {
    match read_record(dir, id) {
        Ok(found) => Ok(found.filter(|r| !r.is_expired(now))),
        Err(StoreError::Corrupt(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a new temporary file in `dir` and syncs it.
fn write_temp(dir: &Path, id: &IdHash, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = dir.join(format!("{TEMP_PREFIX}{}-{}", id.to_hex(), random_suffix()?));
    let written = new_private_file(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Replaces (or creates) `id`'s file with `record`, atomically. Call with the lock held.
fn replace(dir: &Path, record: &Record) -> Result<(), StoreError> {
    let bytes = codec::encode(record)?;
    let io = |e| StoreError::backend("writing a session file", e);
    let temp = write_temp(dir, &record.id, &bytes).map_err(io)?;
    if let Err(e) = fs::rename(&temp, dir.join(record.id.to_hex())) {
        let _ = fs::remove_file(&temp);
        return Err(io(e));
    }
    sync_dir(dir).map_err(io)
}

/// Links a new file for `record` into place, refusing an existing name. Call with the
/// lock held, after checking that no live record exists.
fn link_new(dir: &Path, record: &Record) -> Result<(), StoreError> {
    let bytes = codec::encode(record)?;
    let io = |e| StoreError::backend("writing a session file", e);
    let temp = write_temp(dir, &record.id, &bytes).map_err(io)?;
    let target = dir.join(record.id.to_hex());
    let linked = fs::hard_link(&temp, &target);
    let result = match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StoreError::Exists),
        // A filesystem without hard links: the lock already guarantees no live record
        // is overwritten.
        Err(_) => fs::rename(&temp, &target).map_err(io),
    };
    let _ = fs::remove_file(&temp);
    result?;
    sync_dir(dir).map_err(io)
}

/// Removes `id`'s file. Call with the lock held.
fn remove(dir: &Path, id: &IdHash) -> Result<bool, StoreError> {
    let io = |e| StoreError::backend("deleting a session file", e);
    match fs::remove_file(dir.join(id.to_hex())) {
        Ok(()) => {
            sync_dir(dir).map_err(io)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// The id hashes of every session file in `dir` (names of exactly 64 lower-case hex
/// characters; temporary files, lock files and anything else are skipped).
fn session_files(dir: &Path) -> Result<Vec<IdHash>, StoreError> {
    let io = |e| StoreError::backend("listing the session directory", e);
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 64
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            if let Some(id) = IdHash::from_hex(name) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Removes temporary files older than [`STALE_TEMP_AGE`] (leftovers of a crash
/// between writing and renaming).
fn remove_stale_temps(dir: &Path) -> Result<(), StoreError> {
    let io = |e| StoreError::backend("listing the session directory", e);
    let now = SystemTime::now();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_temp = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if is_temp && stale {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn log_corrupt(corrupt: u64, dir: &Path) {
    if corrupt > 0 {
        tracing::warn!(
            corrupt,
            dir = %dir.display(),
            "session files that do not decode were skipped and left in place"
        );
    }
}

#[async_trait]
impl SessionStore for FileStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        let id = *id;
        self.unlocked("reading a session file", move |inner| {
            let found = read_record(&inner.dir, &id)?;
            Ok(found.filter(|r| !r.is_expired(OffsetDateTime::now_utc())))
        })
        .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let (id, record) = (record.id, record.clone());
        self.locked(&id, "creating a session file", move |dir| {
            let now = OffsetDateTime::now_utc();
            match read_record(dir, &record.id) {
                Ok(None) => link_new(dir, &record),
                Ok(Some(current)) if !current.is_expired(now) => Err(StoreError::Exists),
                // An expired or undecodable file may be replaced.
                Ok(Some(_)) | Err(StoreError::Corrupt(_)) => replace(dir, &record),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let (id, record) = (record.id, record.clone());
        self.locked(&id, "writing a session file", move |dir| {
            let now = OffsetDateTime::now_utc();
            match read_record(dir, &record.id)? {
                Some(current)
                    if !current.is_expired(now) && current.version == expected_version =>
                {
                    replace(dir, &record)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let id = *id;
        self.locked(
            &id,
            "touching a session file",
            move |dir| match read_record(dir, &id)? {
                Some(mut current) if !current.is_expired(now) => {
                    current.expires_at = expires_at;
                    current.last_seen = now;
                    replace(dir, &current)?;
                    Ok(true)
                }
                _ => Ok(false),
            },
        )
        .await
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let id = *id;
        self.locked(&id, "deleting a session file", move |dir| {
            let live = read_live(dir, &id, OffsetDateTime::now_utc())?.is_some();
            Ok(remove(dir, &id)? && live)
        })
        .await
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        Some(self)
    }

    fn listing(&self) -> Option<&dyn SessionListing> {
        Some(self)
    }
}

/// Pages through the directory listing in id-hash order (hex names sort as the bytes
/// do), decoding only the files of the page; undecodable files are skipped and logged.
#[async_trait]
impl SessionListing for FileStore {
    async fn list(&self, after: Option<&IdHash>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let after = after.copied();
        self.unlocked("listing session files", move |inner| {
            let now = OffsetDateTime::now_utc();
            let mut ids: Vec<IdHash> = session_files(&inner.dir)?
                .into_iter()
                .filter(|id| after.is_none_or(|a| id.as_bytes() > a.as_bytes()))
                .collect();
            ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut corrupt = 0u64;
            let mut page = Vec::new();
            for id in ids {
                if page.len() >= limit {
                    break;
                }
                match read_record(&inner.dir, &id) {
                    Ok(Some(r)) if !r.is_expired(now) => page.push(r),
                    Ok(_) => {}
                    Err(StoreError::Corrupt(_)) => corrupt += 1,
                    Err(e) => return Err(e),
                }
            }
            log_corrupt(corrupt, &inner.dir);
            Ok(page)
        })
        .await
    }
}

/// A scan of every session file: O(number of sessions) per call.
#[async_trait]
impl UserIndex for FileStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let mut out: Vec<Record> = self
            .scan()
            .await?
            .into_iter()
            .filter(|r| r.user.as_deref() == Some(user))
            .collect();
        out.sort_by(|a, b| (a.created_at, a.id.as_bytes()).cmp(&(b.created_at, b.id.as_bytes())));
        Ok(out)
    }

    /// Deletes each listed session under its lock, and only if it is still bound to
    /// `user` then (a session re-bound meanwhile is left alone).
    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for record in self.sessions_of(user).await? {
            if Some(&record.id) == except {
                continue;
            }
            let user = user.to_owned();
            let id = record.id;
            let removed = self
                .locked(&id, "deleting a session file", move |dir| match read_live(
                    dir,
                    &id,
                    OffsetDateTime::now_utc(),
                )? {
                    Some(current) if current.user.as_deref() == Some(user.as_str()) => {
                        remove(dir, &id)
                    }
                    _ => Ok(false),
                })
                .await?;
            deleted += u64::from(removed);
        }
        Ok(deleted)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.scan().await?.len() as u64)
    }
}

#[async_trait]
impl ExpiredDeletion for FileStore {
    /// Scans the directory and deletes at most `max` expired session files (each
    /// re-checked under its lock, so a session touched meanwhile survives). Undecodable
    /// files are not expired: they are skipped, left in place and logged. Temporary
    /// files over an hour old (a crash between write and rename) are removed too, and
    /// not counted.
    async fn delete_expired(&self, max: u64) -> Result<u64, StoreError> {
        self.unlocked("deleting expired session files", move |inner| {
            remove_stale_temps(&inner.dir)?;
            let now = OffsetDateTime::now_utc();
            let mut deleted = 0u64;
            let mut corrupt = 0u64;
            for id in session_files(&inner.dir)? {
                if deleted >= max {
                    break;
                }
                match read_record(&inner.dir, &id) {
                    Ok(Some(r)) if r.is_expired(now) => {}
                    Ok(_) => continue,
                    Err(StoreError::Corrupt(_)) => {
                        corrupt += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                // On the blocking pool: wait for the stripe like any writer would.
                let _stripe = inner.stripes[stripe_of(&id)].blocking_lock();
                let _file_lock = lock_file(&inner.dir, &id)
                    .map_err(|e| StoreError::backend("deleting expired session files", e))?;
                let still_expired = matches!(
                    read_record(&inner.dir, &id),
                    Ok(Some(r)) if r.is_expired(OffsetDateTime::now_utc())
                );
                if still_expired && remove(&inner.dir, &id)? {
                    deleted += 1;
                }
            }
            log_corrupt(corrupt, &inner.dir);
            Ok(deleted)
        })
        .await
    }
}
