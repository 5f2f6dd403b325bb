//! `FileStore`: the shared conformance suite and the HTTP lifecycle suite (each test in
//! its own temporary directory, removed afterwards), plus what only a directory of
//! files has: the start-up checks, file names and permissions, atomic writes, corrupt
//! and foreign files, and compare-and-swap serialized by the file lock across store
//! instances and across processes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sessionkit_core::{
    codec, ExpiredDeletion, FileStore, FileStoreError, IdHash, Record, Session, SessionConfig,
    SessionId, SessionListing, SessionStore, StoreError, UserIndex,
};
use time::{Duration, OffsetDateTime};

/// A directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let random = SessionId::generate()
            .expect("the operating system provides randomness")
            .hash()
            .to_hex();
        Self(std::env::temp_dir().join(format!(
            "sessionkit-file-test-{}-{}",
            std::process::id(),
            &random[..16]
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `FileStore` that owns its temporary directory: the last clone removes it.
#[derive(Debug, Clone)]
struct TempFileStore {
    store: FileStore,
    dir: Arc<TempDir>,
}

impl TempFileStore {
    async fn new() -> Self {
        let dir = TempDir::new();
        let store = FileStore::open(dir.path())
            .await
            .expect("open a file store in a fresh temporary directory");
        Self {
            store,
            dir: Arc::new(dir),
        }
    }

    fn file(&self, id: &IdHash) -> PathBuf {
        self.dir.path().join(id.to_hex())
    }
}

#[async_trait]
impl SessionStore for TempFileStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.store.create(record).await
    }
    async fn compare_and_swap(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.store.compare_and_swap(record, expected).await
    }
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.store.touch(id, expires_at, now).await
    }
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.store.delete(id).await
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        self.store.user_index()
    }
    fn expired_deletion(&self) -> Option<&dyn ExpiredDeletion> {
        self.store.expired_deletion()
    }
    fn listing(&self) -> Option<&dyn SessionListing> {
        self.store.listing()
    }
}

sessionkit_testkit::store_conformance!(
    async { Some(TempFileStore::new().await) },
    corrupt = |store: TempFileStore, id: IdHash| async move { overwrite(&store.file(&id)) }
);

/// Overwrites a session's file with bytes that are not a record (the corrupt-data cases
/// of both suites).
fn overwrite(file: &Path) {
    assert!(
        file.is_file(),
        "the session's file exists before corruption"
    );
    std::fs::write(file, b"\x01{\"id\": not json \xff").expect("overwrite the session file");
}

fn record(value: serde_json::Value, expires_in: Duration) -> Record {
    let now = OffsetDateTime::now_utc();
    let serde_json::Value::Object(data) = value else {
        panic!("session data is a JSON object");
    };
    Record::new(
        SessionId::generate().expect("randomness").hash(),
        data,
        now,
        now + expires_in,
    )
}

/// Names in the directory other than the lock directory.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".locks")
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn open_creates_a_missing_directory_owner_only() {
    let parent = TempDir::new();
    let dir = parent.path().join("nested").join("sessions");
    let store = FileStore::open(&dir)
        .await
        .expect("open creates the directory");
    assert_eq!(store.dir(), dir);
    assert!(dir.is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dir)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "a created session directory is owner-only"
        );
    }
    assert!(
        entries(&dir).is_empty(),
        "the start-up probe leaves nothing behind"
    );
}

#[tokio::test]
async fn open_refuses_a_path_that_is_not_a_directory() {
    let parent = TempDir::new();
    std::fs::create_dir_all(parent.path()).expect("create the parent");
    let file = parent.path().join("sessions");
    std::fs::write(&file, b"a file").expect("write a file");
    match FileStore::open(&file).await {
        Err(e @ FileStoreError::NotADirectory { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("not a directory") && message.contains("sessions"),
                "the error names the path and the problem: {message}"
            );
        }
        other => panic!("open on a file: expected NotADirectory, got {other:?}"),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn open_refuses_a_directory_it_cannot_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path()).expect("create the directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500))
        .expect("make the directory read-only");
    if std::fs::write(dir.path().join("probe"), b"x").is_ok() {
        eprintln!("skipped: this user (root?) can write into a read-only directory");
        return;
    }
    match FileStore::open(dir.path()).await {
        Err(e @ FileStoreError::NotWritable { .. }) => {
            assert!(e.to_string().contains("not writable"), "{e}");
        }
        other => panic!("open on a read-only directory: expected NotWritable, got {other:?}"),
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .expect("restore permissions for cleanup");
}

#[tokio::test]
async fn session_files_are_named_by_id_hash_hold_codec_bytes_and_leave_no_temporary_files() {
    let store = TempFileStore::new().await;
    let session = Session::new(store.clone(), SessionConfig::default());
    session.insert("cart", ["apple"]).await.expect("insert");
    session.save().await.expect("save");
    let id = session.id().await.expect("a saved session has an id");
    for i in 0..5 {
        let again = Session::open(store.clone(), SessionConfig::default(), Some(id.clone()));
        again.push("cart", i).await.expect("push");
        again.save().await.expect("save");
    }

    assert_eq!(
        entries(store.dir.path()),
        vec![id.hash().to_hex()],
        "one file per session, named by the id hash, no temporary files left"
    );
    let bytes = std::fs::read(store.file(&id.hash())).expect("read the session file");
    let decoded = codec::decode(&bytes).expect("the file holds codec bytes");
    assert_eq!(decoded.version, 6, "created, then five swaps");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(&id.to_string()),
        "the raw id is never stored"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(store.file(&id.hash()))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "session files are owner-only");
    }
}

#[tokio::test]
async fn create_replaces_an_expired_or_undecodable_file_but_never_a_live_one() {
    let store = TempFileStore::new().await;
    let expired = record(json!({"old": true}), Duration::seconds(-10));
    // Write the expired record's file directly (create refuses nothing expired anyway).
    std::fs::write(
        store.file(&expired.id),
        codec::encode(&expired).expect("encode"),
    )
    .expect("write an expired session file");
    let mut fresh = record(json!({"new": true}), Duration::hours(1));
    fresh.id = expired.id;
    store
        .create(&fresh)
        .await
        .expect("create over an expired file");
    let loaded = store.load(&fresh.id).await.expect("load").expect("live");
    assert_eq!(loaded.data, fresh.data);

    let mut intruder = record(json!({"intruder": true}), Duration::hours(1));
    intruder.id = fresh.id;
    assert!(matches!(
        store.create(&intruder).await,
        Err(StoreError::Exists)
    ));

    std::fs::write(store.file(&fresh.id), b"\x01garbage").expect("corrupt the file");
    store
        .create(&intruder)
        .await
        .expect("create over an undecodable file");
    let loaded = store.load(&fresh.id).await.expect("load").expect("live");
    assert_eq!(loaded.data, intruder.data);
}

#[tokio::test]
async fn a_file_holding_another_ids_record_is_corrupt() {
    let store = TempFileStore::new().await;
    let a = record(json!({"owner": "a"}), Duration::hours(1));
    store.create(&a).await.expect("create");
    let b = SessionId::generate().expect("randomness").hash();
    std::fs::copy(store.file(&a.id), store.file(&b)).expect("copy a's file to b's name");
    assert!(
        matches!(store.load(&b).await, Err(StoreError::Corrupt(_))),
        "a record under the wrong file name is never returned"
    );
}

#[tokio::test]
async fn delete_expired_leaves_corrupt_and_foreign_files_and_removes_stale_temporary_files() {
    let store = TempFileStore::new().await;
    let dir = store.dir.path().to_path_buf();
    let corrupt = SessionId::generate().expect("randomness").hash();
    std::fs::write(store.file(&corrupt), b"\x01not a record").expect("write");
    std::fs::write(dir.join("README"), b"not a session").expect("write");
    let fresh_temp = dir.join(".tmp-in-progress");
    std::fs::write(&fresh_temp, b"being written").expect("write");
    let stale_temp = dir.join(".tmp-left-by-a-crash");
    std::fs::write(&stale_temp, b"half").expect("write");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale_temp)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age the stale temporary file");
    let expired = record(json!({"old": true}), Duration::seconds(-10));
    std::fs::write(
        store.file(&expired.id),
        codec::encode(&expired).expect("encode"),
    )
    .expect("write");
    let live = record(json!({"live": true}), Duration::hours(1));
    store.create(&live).await.expect("create");

    let deletion = store
        .expired_deletion()
        .expect("FileStore has expired deletion");
    assert_eq!(
        deletion.delete_expired(100).await.expect("delete_expired"),
        1
    );
    assert_eq!(
        deletion.delete_expired(100).await.expect("delete_expired"),
        0
    );
    assert!(
        store.file(&corrupt).exists(),
        "a corrupt file is not expired"
    );
    assert!(dir.join("README").exists(), "a foreign file is left alone");
    assert!(fresh_temp.exists(), "a recent temporary file may be in use");
    assert!(
        !stale_temp.exists(),
        "a temporary file over an hour old is removed"
    );
    assert!(
        !store.file(&expired.id).exists(),
        "the expired file is gone"
    );
    assert!(store.load(&live.id).await.expect("load").is_some());
    let index = store.user_index().expect("FileStore has a user index");
    assert_eq!(
        index.count().await.expect("count"),
        1,
        "count skips corrupt files"
    );
}

#[tokio::test]
async fn listing_pages_through_live_sessions_in_id_hash_order() {
    let store = TempFileStore::new().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = record(json!({"i": i}), Duration::hours(1));
        store.create(&r).await.expect("create");
        ids.push(r.id);
    }
    let expired = record(json!({"old": true}), Duration::seconds(-10));
    std::fs::write(
        store.file(&expired.id),
        codec::encode(&expired).expect("encode"),
    )
    .expect("write");
    ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));

    let listing = store.listing().expect("FileStore can list");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = listing.list(after.as_ref(), 3).await.expect("list");
        seen.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 3 => after = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, ids, "every live session once, in id-hash order");
    let stats = listing
        .stats(OffsetDateTime::now_utc(), 3)
        .await
        .expect("stats");
    assert_eq!(stats.live, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_store_instances_on_one_directory_serialize_compare_and_swap_through_the_file_lock() {
    // Two `open`s share nothing in memory: only the lock files keep them apart.
    let first = TempFileStore::new().await;
    let second = FileStore::open(first.dir.path())
        .await
        .expect("second open");
    let base = record(json!({"n": 0}), Duration::hours(1));
    first.create(&base).await.expect("create");

    for round in 0..20u64 {
        let start = Arc::new(tokio::sync::Barrier::new(16));
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..16 {
            let store: Arc<dyn SessionStore> = if i % 2 == 0 {
                Arc::new(first.clone())
            } else {
                Arc::new(second.clone())
            };
            let mut attempt = base.clone();
            attempt.version = round + 2;
            attempt.data.insert("by".into(), json!(i));
            let start = start.clone();
            racers.spawn(async move {
                start.wait().await;
                store
                    .compare_and_swap(&attempt, round + 1)
                    .await
                    .expect("compare_and_swap")
            });
        }
        let mut winners = 0;
        while let Some(won) = racers.join_next().await {
            winners += u32::from(won.expect("racer"));
        }
        assert_eq!(
            winners, 1,
            "round {round}: exactly one swap from one version wins"
        );
    }
    let stored = second.load(&base.id).await.expect("load").expect("live");
    assert_eq!(stored.version, 21);
}

/// Environment of a child process started by
/// [`pushes_from_four_processes_lose_nothing`]: the directory and the session id.
const CHILD_DIR: &str = "SESSIONKIT_FILE_TEST_CHILD_DIR";
const CHILD_ID: &str = "SESSIONKIT_FILE_TEST_CHILD_ID";
const CHILD_TAG: &str = "SESSIONKIT_FILE_TEST_CHILD_TAG";
const PUSHES_PER_PROCESS: usize = 25;
const PROCESSES: usize = 4;

/// Engine settings for the cross-process test: many processes contend for one
/// session, so allow many retries (each retry means another process made progress).
fn contended() -> SessionConfig {
    SessionConfig {
        max_save_attempts: 1000,
        ..SessionConfig::default()
    }
}

/// Does nothing in a normal run; in a child process started by
/// [`pushes_from_four_processes_lose_nothing`] it pushes its items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_pushes_items_only_when_started_by_the_cross_process_test() {
    let (Ok(dir), Ok(id), Ok(tag)) = (
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_ID),
        std::env::var(CHILD_TAG),
    ) else {
        return;
    };
    let store = FileStore::open(&dir)
        .await
        .expect("open the shared directory");
    let id = SessionId::parse(&id).expect("the parent passes a valid id");
    for i in 0..PUSHES_PER_PROCESS {
        let session = Session::open(store.clone(), contended(), Some(id.clone()));
        session
            .push("items", format!("{tag}-{i:02}"))
            .await
            .expect("push");
        session.save().await.expect("save from a child process");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_from_four_processes_lose_nothing() {
    let store = TempFileStore::new().await;
    let session = Session::new(store.clone(), SessionConfig::default());
    session
        .insert("items", Vec::<String>::new())
        .await
        .expect("insert");
    session.insert("keep", true).await.expect("insert");
    session.save().await.expect("save");
    let id = session.id().await.expect("a saved session has an id");

    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<std::process::Child> = (0..PROCESSES)
        .map(|p| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_pushes_items_only_when_started_by_the_cross_process_test",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(CHILD_DIR, store.dir.path())
                .env(CHILD_ID, id.to_string())
                .env(CHILD_TAG, format!("p{p}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a child process")
        })
        .collect();
    for child in children {
        let done = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("wait for a child process");
        assert!(
            done.status.success(),
            "a child process failed: {:?}",
            done.status
        );
    }

    let stored = store.load(&id.hash()).await.expect("load").expect("live");
    let items: Vec<String> =
        serde_json::from_value(stored.data["items"].clone()).expect("a list of strings");
    let mut expected: Vec<String> = (0..PROCESSES)
        .flat_map(|p| (0..PUSHES_PER_PROCESS).map(move |i| format!("p{p}-{i:02}")))
        .collect();
    let mut sorted = items.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "every push of every process is stored exactly once"
    );
    assert_eq!(
        stored.version,
        1 + (PROCESSES * PUSHES_PER_PROCESS) as u64,
        "one version per save"
    );
}

mod http {
    //! The HTTP lifecycle suite (cookies, `Vary`, saving, expiry, fixation, bad input,
    //! concurrency over a socket) through `SessionLayer` on a `FileStore` of its own.

    use sessionkit_testkit::http::Subject;

    sessionkit_testkit::http_conformance!(async {
        let store = super::TempFileStore::new().await;
        let target = store.clone();
        Some(Subject::server(store).with_corruptor(move |id| {
            let file = target.file(&id);
            async move { super::overwrite(&file) }
        }))
    });
}
