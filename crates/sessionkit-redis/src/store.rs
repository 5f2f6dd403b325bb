//! [`RedisStore`]: the store contract on Redis hashes, Lua scripts and TTLs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::RedisError;
use sessionkit_core::store::{SessionListing, UserIndex};
use sessionkit_core::{codec, IdHash, Record, SessionStore, StoreError};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::keys::Keys;
use crate::listing::Snapshots;
use crate::url;
use crate::value::{self, ms};
use crate::{scripts, Connection, Error, RedisOptions};

/// How long a user-index entry is kept even though its session does not exist (yet):
/// `create` adds the entry just before it stores the session, so a listing running in
/// between must not prune it. Far longer than any store call may take.
const INDEX_GRACE_MS: i64 = 60_000;

/// Sessions in Redis (standalone, Sentinel or Cluster).
///
/// Each session is one string under `<prefix>s2:{<id hash>}` (a fixed-width header and
/// the record) that expires through a Redis TTL at the record's `expires_at`; `load` is
/// one `GET`, `create` one `SET … NX PXAT`, and `compare_and_swap`, `touch` and
/// `delete` are each one Lua script on that one key. The user index
/// ([`UserIndex`]) keeps, per user, a sorted set of id hashes under
/// `<prefix>u:{<SHA-256 of the user>}`. See the [crate docs](crate) for the layout and
/// why the index may list more than the user's sessions (never fewer).
///
/// There is no [`ExpiredDeletion`](sessionkit_core::ExpiredDeletion): Redis removes
/// expired sessions by itself. What TTLs leave behind (index entries of expired
/// sessions) goes with [`RedisStore::prune_user_index`], and with every listing of
/// that user.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    keys: Arc<Keys>,
    timeout: Duration,
    snapshots: Arc<Snapshots>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("connection", &self.conn)
            .field("key_prefix", &self.keys.prefix())
            .field("command_timeout", &self.timeout)
            .finish()
    }
}

/// Opens a [`RedisStore`] on the deployment `url` names; see the [crate docs](crate)
/// for the URL forms.
///
/// # Errors
///
/// [`Error::UnsupportedScheme`], [`Error::InvalidUrl`] or [`Error::TlsDisabled`] for a
/// URL this build cannot use; [`Error::InvalidPrefix`] for a bad key prefix;
/// [`Error::Connect`] or [`Error::ConnectTimeout`] when nothing answers.
pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisStore, Error> {
    RedisStore::connect(url, options).await
}

fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

/// The `PXAT` / `PEXPIREAT` of a record expiring at `expires_at`: Redis refuses times
/// before 1970, which here mean "already expired", so they become the earliest it takes.
fn expire_at_ms(expires_at: OffsetDateTime) -> i64 {
    ms(expires_at).max(1)
}

/// A failed command as a store error: a response timeout is a
/// [`StoreError::Timeout`], everything else a backend error with `context`.
fn failed(context: &'static str, timeout: Duration) -> impl Fn(RedisError) -> StoreError {
    move |e| {
        if e.is_timeout() {
            StoreError::Timeout(timeout)
        } else {
            StoreError::backend(context, Error::Command(e))
        }
    }
}

fn unexpected(context: &'static str, what: &'static str) -> StoreError {
    StoreError::backend(context, Error::UnexpectedReply(what))
}

/// What a user-index entry turned out to be.
enum Entry {
    /// A live session (possibly of another user by now).
    Live(Box<Record>),
    /// Its session is gone for good (deleted or expired).
    Gone,
    /// Unreadable bytes: left alone.
    Skip,
}

impl RedisStore {
    /// Opens a store; the same as [`connect`](crate::connect).
    ///
    /// # Errors
    ///
    /// As [`connect`](crate::connect).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, Error> {
        let prefix = options.checked_prefix()?;
        let keys = Arc::new(Keys::new(prefix));
        let conn = Connection::open(url::parse(url)?, &options).await?;
        Ok(Self {
            conn,
            keys,
            timeout: options.command_timeout(),
            snapshots: Arc::default(),
        })
    }

    pub(crate) fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    pub(crate) fn id_of_session_key(&self, key: &str) -> Option<IdHash> {
        self.keys.id_of_session(key)
    }

    /// Every session key (on every primary of a cluster), each once.
    pub(crate) async fn scan_session_keys(&self) -> Result<Vec<String>, StoreError> {
        const CONTEXT: &str = "scanning the sessions";
        let mut conn = self.conn.clone();
        let mut scan = conn
            .scan(self.keys.session_pattern())
            .await
            .map_err(failed(CONTEXT, self.timeout))?;
        let mut all = Vec::new();
        while let Some(keys) = scan
            .next(&mut conn)
            .await
            .map_err(failed(CONTEXT, self.timeout))?
        {
            all.extend(keys);
        }
        // SCAN may return a key twice (while Redis resizes its tables).
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// A connection to the same deployment, for commands of your own.
    pub fn connection(&self) -> Connection {
        self.conn.clone()
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// The Redis key of the session whose id hashes to `id` (for inspection and
    /// tests; the raw session id appears in no key).
    pub fn session_key(&self, id: &IdHash) -> String {
        self.keys.session(id)
    }

    /// Fails with [`StoreError::Timeout`] when `call` takes longer than the command
    /// timeout.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)))
    }

    async fn load_record(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        const CONTEXT: &str = "loading a session from Redis";
        let mut conn = self.conn.clone();
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.session(id))
            .query_async(&mut conn)
            .await
            .map_err(failed(CONTEXT, self.timeout))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let record = value::decode(&stored)?;
        if record.id != *id {
            return Err(StoreError::corrupt(
                "a session key holds another session's record",
            ));
        }
        Ok((!record.is_expired(OffsetDateTime::now_utc())).then_some(record))
    }

    /// Adds `id` to `user`'s index (before the session is bound to the user, so the
    /// index never misses a session).
    async fn index(&self, user: &str, id: &IdHash) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZADD")
            .arg(self.keys.user(user))
            .arg(now_ms())
            .arg(id.to_hex())
            .query_async::<()>(&mut conn)
            .await
            .map_err(failed("adding a session to its user's index", self.timeout))
    }

    async fn unindex(&self, user_key: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(user_key)
            .arg(members)
            .query_async::<()>(&mut conn)
            .await
            .map_err(failed(
                "removing sessions from a user's index",
                self.timeout,
            ))
    }

    async fn swap(
        &self,
        record: &Record,
        stored: &[u8],
        expected_version: u64,
        same_user_only: bool,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        scripts::swap(&self.keys.session(&record.id))
            .arg(value::version(expected_version))
            .arg(if same_user_only && record.user.is_some() {
                "1"
            } else {
                "0"
            })
            .arg(stored)
            .arg(expire_at_ms(record.expires_at))
            .arg(value::user_section(record.user.as_deref()))
            .run(&mut conn)
            .await
            .map_err(failed("swapping a session in Redis", self.timeout))
    }

    /// Reads one index entry.
    async fn entry(&self, member: &str) -> Result<Entry, StoreError> {
        let Some(id) = IdHash::from_hex(member) else {
            return Ok(Entry::Gone);
        };
        match self.load_record(&id).await {
            Ok(Some(record)) => Ok(Entry::Live(Box::new(record))),
            Ok(None) => Ok(Entry::Gone),
            Err(StoreError::Corrupt(_)) => Ok(Entry::Skip),
            Err(e) => Err(e),
        }
    }

    /// The index entries of `user_key` with their scores (when they were added).
    async fn members(&self, user_key: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZRANGE")
            .arg(user_key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(failed("reading a user's index", self.timeout))
    }

    /// Reads every entry of a user index concurrently; removes the entries whose
    /// session is gone (past the grace period). Returns the live sessions found and
    /// how many entries were removed.
    async fn sweep(&self, user_key: &str) -> Result<(Vec<Record>, u64), StoreError> {
        let members = self.members(user_key).await?;
        let mut reads = JoinSet::new();
        for (member, added) in members {
            let store = self.clone();
            reads.spawn(async move {
                let entry = store.entry(&member).await;
                (member, added, entry)
            });
        }
        let (mut live, mut gone) = (Vec::new(), Vec::new());
        let cutoff = now_ms() - INDEX_GRACE_MS;
        while let Some(read) = reads.join_next().await {
            let (member, added, entry) =
                read.map_err(|e| StoreError::backend("reading a user's index", e))?;
            match entry? {
                Entry::Live(record) => live.push(*record),
                Entry::Gone if added < cutoff => gone.push(member),
                Entry::Gone | Entry::Skip => {}
            }
        }
        self.unindex(user_key, &gone).await?;
        Ok((live, gone.len() as u64))
    }

    /// Removes, from every user index, the entries whose session no longer exists
    /// (expired through its TTL, or deleted by a process that stopped before tidying
    /// the index); returns how many entries were removed.
    ///
    /// Redis expires sessions by itself, so this store has no
    /// [`ExpiredDeletion`](sessionkit_core::ExpiredDeletion); this is the only
    /// housekeeping it needs, and only for applications that bind users (an index is
    /// also pruned whenever that user's sessions are listed). It walks the store with
    /// `SCAN` (on every primary of a cluster), so run it now and then (say, daily), not
    /// per request. Entries of sessions that moved to another user stay until the
    /// session is gone; they are never listed for the old user.
    ///
    /// # Errors
    ///
    /// When Redis fails.
    pub async fn prune_user_index(&self) -> Result<u64, StoreError> {
        const CONTEXT: &str = "scanning the user index";
        let mut conn = self.conn.clone();
        let mut scan = conn
            .scan(self.keys.user_pattern())
            .await
            .map_err(failed(CONTEXT, self.timeout))?;
        let mut pruned = 0;
        while let Some(user_keys) = scan
            .next(&mut conn)
            .await
            .map_err(failed(CONTEXT, self.timeout))?
        {
            for user_key in user_keys {
                pruned += self.sweep(&user_key).await?.1;
            }
        }
        Ok(pruned)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        self.timed(self.load_record(id)).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        const CONTEXT: &str = "creating a session in Redis";
        self.timed(async {
            let stored = value::encode(record, &codec::encode(record)?);
            if let Some(user) = &record.user {
                self.index(user, &record.id).await?;
            }
            let key = self.keys.session(&record.id);
            let expire_at = expire_at_ms(record.expires_at);
            let mut conn = self.conn.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&stored)
                .arg("NX")
                .arg("PXAT")
                .arg(expire_at)
                .query_async(&mut conn)
                .await
                .map_err(failed(CONTEXT, self.timeout))?;
            if set.is_some() {
                return Ok(());
            }
            // The key is taken: only a record expired by this server's clock (which
            // Redis's may not agree with yet) may be replaced.
            let replaced: i64 = scripts::create(&key)
                .arg(&stored)
                .arg(expire_at)
                .run(&mut conn)
                .await
                .map_err(failed(CONTEXT, self.timeout))?;
            match replaced {
                1 => Ok(()),
                0 => Err(StoreError::Exists),
                _ => Err(unexpected(CONTEXT, "create script")),
            }
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            let stored = value::encode(record, &codec::encode(record)?);
            match self.swap(record, &stored, expected_version, true).await? {
                0 => Ok(false),
                1 => Ok(true),
                2 => {
                    // Bound to a new user: index first, then swap.
                    if let Some(user) = &record.user {
                        self.index(user, &record.id).await?;
                    }
                    Ok(self.swap(record, &stored, expected_version, false).await? == 1)
                }
                _ => Err(unexpected("swapping a session in Redis", "swap script")),
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
        self.timed(async {
            let mut conn = self.conn.clone();
            let touched: i64 = scripts::touch(&self.keys.session(id))
                .arg(value::times(expires_at, now))
                .arg(expire_at_ms(expires_at))
                .run(&mut conn)
                .await
                .map_err(failed("touching a session in Redis", self.timeout))?;
            Ok(touched == 1)
        })
        .await
    }

    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        self.timed(async {
            let mut conn = self.conn.clone();
            let (live, user): (i64, Option<String>) = scripts::delete(&self.keys.session(id))
                .run(&mut conn)
                .await
                .map_err(failed("deleting a session in Redis", self.timeout))?;
            if let Some(user) = user {
                // The id is gone for good, so its index entry can go.
                self.unindex(&self.keys.user(&user), &[id.to_hex()]).await?;
            }
            Ok(live == 1)
        })
        .await
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    fn listing(&self) -> Option<&dyn SessionListing> {
        Some(self)
    }
}

#[async_trait]
impl UserIndex for RedisStore {
    /// Reads every entry of the user's index, lists the sessions still bound to the
    /// user (oldest first) and removes the entries whose session is gone.
    async fn sessions_of(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let (live, _) = self.sweep(&self.keys.user(user)).await?;
        let mut mine: Vec<Record> = live
            .into_iter()
            .filter(|r| r.user.as_deref() == Some(user))
            .collect();
        mine.sort_by(|a, b| (a.created_at, a.id.as_bytes()).cmp(&(b.created_at, b.id.as_bytes())));
        Ok(mine)
    }

    /// Deletes each session of the index that is still bound to `user` (checked
    /// atomically per session, so a session re-bound meanwhile is spared).
    async fn delete_sessions_of(
        &self,
        user: &str,
        except: Option<&IdHash>,
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "revoking the sessions of a user";
        let user_key = self.keys.user(user);
        let keep = except.map(IdHash::to_hex);
        let mut deletions = JoinSet::new();
        for (member, _) in self.members(&user_key).await? {
            let Some(key) = self.keys.session_of_member(&member) else {
                continue;
            };
            if keep.as_deref() == Some(member.as_str()) {
                continue;
            }
            let (mut conn, user, timeout) = (self.conn.clone(), user.to_owned(), self.timeout);
            deletions.spawn(async move {
                let deleted: Result<i64, _> = scripts::delete_if_user(&key)
                    .arg(value::user_section(Some(&user)))
                    .run(&mut conn)
                    .await;
                (member, deleted.map_err(failed(CONTEXT, timeout)))
            });
        }
        let (mut deleted, mut revoked) = (Vec::new(), 0);
        while let Some(done) = deletions.join_next().await {
            let (member, result) = done.map_err(|e| StoreError::backend(CONTEXT, e))?;
            if result? == 1 {
                revoked += 1;
                deleted.push(member);
            }
        }
        self.unindex(&user_key, &deleted).await?;
        Ok(revoked)
    }

    /// Counts the session keys with `SCAN` (on every primary of a cluster): exact, but
    /// it walks the whole key space; meant for statistics, not for every request.
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.scan_session_keys().await?.len() as u64)
    }
}
