//! [`MemcachedStore`]: the store contract on memcached's meta protocol.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_memcached::{ErrorKind, MetaProtocol, MetaValue, Status};
use async_trait::async_trait;
use sessionkit_core::{codec, IdHash, Record, SessionStore, StoreError};
use time::OffsetDateTime;

use crate::pool::Pool;
use crate::{Error, MemcachedOptions};

/// Memcached reads expiry times above 30 days as unix timestamps, not as seconds from
/// now.
const RELATIVE_TTL_MAX: i64 = 30 * 24 * 60 * 60;
/// Attempts of a read-then-`cas` step that keeps losing to concurrent writers
/// (each loss means another write landed, so the result is then decided by a fresh
/// read).
const CAS_ATTEMPTS: usize = 8;

/// Sessions in Memcached.
///
/// Each session is one item under `<prefix><id hash hex>` holding the record encoded
/// by [`sessionkit_core::codec`], expiring with a memcached TTL at its `expires_at`.
/// `create` is an `add` (meta `ms … ME`), `compare_and_swap` a `gets` (meta `mg … c`)
/// followed by a `cas` (meta `ms … C<token>`), `delete` a `delete`. See the
/// [crate docs](crate) for `touch`, sizes and what this store cannot do.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct MemcachedStore {
    pool: Arc<Pool>,
    prefix: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("key_prefix", &self.prefix)
            .field("command_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Opens a [`MemcachedStore`] on `memcache://host:port` with the default
/// [`MemcachedOptions`].
///
/// # Errors
///
/// [`Error::UnsupportedScheme`] or [`Error::InvalidUrl`] for a URL this crate cannot
/// use; [`Error::Connect`] or [`Error::ConnectTimeout`] when nothing answers.
pub async fn connect(url: &str) -> Result<MemcachedStore, Error> {
    MemcachedStore::connect(url, MemcachedOptions::default()).await
}

/// The `host:port` of a `memcache://` (or `memcached://`) URL; the port defaults to
/// 11211.
fn address(url: &str) -> Result<String, Error> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Error::InvalidUrl {
            reason: "no scheme (expected memcache://host:port)",
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "memcache" && scheme != "memcached" {
        return Err(Error::UnsupportedScheme { scheme });
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(name) = sessionkit_core::store::unknown_url_parameter(url, |_| false) {
        return Err(Error::UnknownUrlParameter { name });
    }
    if authority.starts_with('[') {
        return Err(Error::InvalidUrl {
            reason: "the Memcached client connects over IPv4 only: use an IPv4 address or \
                     a host name",
        });
    }
    if authority.contains(['@', '/', '?', '#', ',']) {
        return Err(Error::InvalidUrl {
            reason: "expected memcache://host:port, without credentials, path or query \
                     (memcached's text protocol has no authentication)",
        });
    }
    if authority.is_empty() {
        return Err(Error::InvalidUrl {
            reason: "no host after memcache://",
        });
    }
    // `host` or `host:port`.
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() || port.is_some_and(|p| p.contains(':')) {
        return Err(Error::InvalidUrl {
            reason: "expected memcache://host:port",
        });
    }
    let port = match port {
        None => 11211,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(Error::InvalidUrl {
                    reason: "the port of a memcache:// URL is a number from 1 to 65535",
                })
            }
        },
    };
    Ok(format!("{host}:{port}"))
}

/// The meta-protocol TTL flag for a record expiring at `expires_at`: seconds from now,
/// rounded up (0, memcached's "never", only past its 32-bit times, for an endless
/// timeout), as a unix time beyond 30 days, and `-1`
/// (already expired) for a time in the past. One second of slack is added: memcached's
/// clock ticks once a second and can expire an item up to a second early, while loads
/// already refuse anything past `expires_at` themselves.
fn ttl_flag(expires_at: OffsetDateTime) -> String {
    let left = (expires_at - OffsetDateTime::now_utc())
        .as_seconds_f64()
        .ceil();
    if left < 1.0 {
        "T-1".to_owned()
    } else if left <= RELATIVE_TTL_MAX as f64 {
        format!("T{}", left as i64 + 1)
    } else {
        match i32::try_from(expires_at.unix_timestamp() + 2) {
            Ok(at) => format!("T{at}"),
            // Memcached's expiry times are 32-bit: a later one (an endless timeout)
            // is "never", and loads still refuse the record past its expiry.
            Err(_) => "T0".to_owned(),
        }
    }
}

/// What a storage command answered.
#[derive(Debug, PartialEq)]
enum Reply {
    Stored,
    /// `add` found an item (`NS`).
    NotStored,
    /// `cas` found a different token (`EX`).
    Changed,
    /// `cas` found no item (`NF`).
    Missing,
}

fn stored(
    reply: Result<Option<MetaValue>, async_memcached::Error>,
    size: usize,
) -> Result<Reply, Error> {
    let status = match reply {
        Ok(None) => Status::Stored,
        Ok(Some(value)) => value.status.unwrap_or(Status::Stored),
        Err(async_memcached::Error::Protocol(status)) => status,
        Err(e) => return Err(Error::Command(e)),
    };
    match status {
        Status::Stored => Ok(Reply::Stored),
        Status::NotStored => Ok(Reply::NotStored),
        Status::Exists => Ok(Reply::Changed),
        Status::NotFound => Ok(Reply::Missing),
        Status::Error(ErrorKind::Server(message)) if message.contains("too large") => {
            Err(Error::TooLarge { size })
        }
        other => Err(Error::Command(async_memcached::Error::Protocol(other))),
    }
}

/// The current item: the record (or `None` for bytes that are not one) and its CAS
/// token.
struct Current {
    record: Option<Record>,
    cas: u64,
}

/// A backend error with what the store was doing.
fn failed(context: &'static str) -> impl Fn(Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

/// Whether `e` says the connection broke (not that the server refused the command).
fn connection_lost(e: &Error) -> bool {
    matches!(
        e,
        Error::Command(async_memcached::Error::Io(_) | async_memcached::Error::ConnectionClosed)
    )
}

impl MemcachedStore {
    /// Opens a store; see [`connect`](crate::connect). Connects once to check that the
    /// server answers.
    ///
    /// # Errors
    ///
    /// As [`connect`](crate::connect); [`Error::InvalidPrefix`] for a bad key prefix.
    pub async fn connect(url: &str, options: MemcachedOptions) -> Result<Self, Error> {
        let prefix: Arc<str> = options.checked_prefix()?.into();
        let pool = Pool::new(
            format!("tcp://{}", address(url)?),
            options.pool_size(),
            options.connect_timeout(),
        );
        drop(pool.get().await?);
        Ok(Self {
            pool: Arc::new(pool),
            prefix,
            timeout: options.command_timeout(),
        })
    }

    /// The memcached key of the session whose id hashes to `id` (for inspection and
    /// tests; the raw session id appears in no key).
    pub fn key(&self, id: &IdHash) -> String {
        format!("{}{}", self.prefix, id.to_hex())
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Fails with [`StoreError::Timeout`] when `call` takes longer than the command
    /// timeout (the connection it used is then closed and replaced).
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)))
    }

    /// `mg <key> v c`: the item's bytes and CAS token.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, Error> {
        let mut conn = self.pool.get().await?;
        let value = conn
            .meta_get(key, false, None, Some(&["v", "c"]))
            .await
            .map_err(Error::Command)?;
        Ok(value.and_then(|v| Some((v.data?, v.cas?))))
    }

    /// The item at `key`: its record (`None` for bytes that are not one) and token.
    async fn current(&self, key: &str) -> Result<Option<Current>, Error> {
        Ok(self.get(key).await?.map(|(bytes, cas)| Current {
            record: codec::decode(&bytes).ok(),
            cas,
        }))
    }

    /// `ms <key> <len> T<ttl> [flags]`.
    async fn set(
        &self,
        key: &str,
        bytes: &[u8],
        expires_at: OffsetDateTime,
        flags: &[&str],
    ) -> Result<Reply, Error> {
        let ttl = ttl_flag(expires_at);
        let mut all = vec![ttl.as_str()];
        all.extend_from_slice(flags);
        let mut conn = self.pool.get().await?;
        let reply = conn.meta_set(key, bytes, false, None, Some(&all)).await;
        stored(reply, bytes.len())
    }

    /// `ms … C<cas>`: replaces the item if its token is still `cas`.
    async fn cas(
        &self,
        key: &str,
        bytes: &[u8],
        expires_at: OffsetDateTime,
        cas: u64,
    ) -> Result<Reply, Error> {
        let token = format!("C{cas}");
        self.set(key, bytes, expires_at, &[token.as_str()]).await
    }
}

#[async_trait]
impl SessionStore for MemcachedStore {
    async fn load(&self, id: &IdHash) -> Result<Option<Record>, StoreError> {
        const CONTEXT: &str = "loading a session from Memcached";
        let key = self.key(id);
        let item = self
            .timed(async {
                match self.get(&key).await {
                    // A connection that broke since its last use (a server restart):
                    // a read is safe to repeat once, on a fresh connection.
                    Err(e) if connection_lost(&e) => self.get(&key).await,
                    other => other,
                }
                .map_err(failed(CONTEXT))
            })
            .await?;
        let Some((bytes, _)) = item else {
            return Ok(None);
        };
        let record = codec::decode(&bytes)?;
        if record.id != *id {
            return Err(StoreError::corrupt(
                "an item holds another session's record",
            ));
        }
        Ok((!record.is_expired(OffsetDateTime::now_utc())).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        const CONTEXT: &str = "creating a session in Memcached";
        let bytes = codec::encode(record)?;
        let key = self.key(&record.id);
        self.timed(async {
            for _ in 0..CAS_ATTEMPTS {
                let added = self.set(&key, &bytes, record.expires_at, &["ME"]).await;
                match added.map_err(failed(CONTEXT))? {
                    Reply::Stored => return Ok(()),
                    Reply::NotStored => {}
                    Reply::Changed | Reply::Missing => break,
                }
                // An item holds the key: a live session refuses the create; an expired
                // one that memcached still keeps (its TTLs are whole seconds) or bytes
                // that are no session are replaced.
                let Some(current) = self.current(&key).await.map_err(failed(CONTEXT))? else {
                    continue;
                };
                let now = OffsetDateTime::now_utc();
                if current.record.is_some_and(|r| !r.is_expired(now)) {
                    return Err(StoreError::Exists);
                }
                let replaced = self.cas(&key, &bytes, record.expires_at, current.cas).await;
                if replaced.map_err(failed(CONTEXT))? == Reply::Stored {
                    return Ok(());
                }
            }
            Err(StoreError::Exists)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "swapping a session in Memcached";
        let bytes = codec::encode(record)?;
        let key = self.key(&record.id);
        self.timed(async {
            for _ in 0..CAS_ATTEMPTS {
                let Some(current) = self.current(&key).await.map_err(failed(CONTEXT))? else {
                    return Ok(false);
                };
                let now = OffsetDateTime::now_utc();
                let matches = current
                    .record
                    .is_some_and(|r| r.version == expected_version && !r.is_expired(now));
                if !matches {
                    return Ok(false);
                }
                let swapped = self.cas(&key, &bytes, record.expires_at, current.cas).await;
                match swapped.map_err(failed(CONTEXT))? {
                    Reply::Stored => return Ok(true),
                    Reply::Missing => return Ok(false),
                    // Another write (or a touch) landed in between: decide on a fresh read.
                    Reply::Changed | Reply::NotStored => {}
                }
            }
            Ok(false)
        })
        .await
    }

    /// Moves `expires_at` and `last_seen` with a `gets` + `cas` that rewrites the item
    /// with the same data and version: memcached's own `touch` moves only the TTL, but
    /// the record must carry the new times (loads return them, and the engine's touch
    /// threshold reads `last_seen`).
    async fn touch(
        &self,
        id: &IdHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "touching a session in Memcached";
        let key = self.key(id);
        self.timed(async {
            for _ in 0..CAS_ATTEMPTS {
                let Some(current) = self.current(&key).await.map_err(failed(CONTEXT))? else {
                    return Ok(false);
                };
                let live = current
                    .record
                    .filter(|r| !r.is_expired(OffsetDateTime::now_utc()));
                let Some(mut record) = live else {
                    return Ok(false);
                };
                record.expires_at = expires_at;
                record.last_seen = now;
                let bytes = codec::encode(&record)?;
                let touched = self.cas(&key, &bytes, expires_at, current.cas).await;
                match touched.map_err(failed(CONTEXT))? {
                    Reply::Stored => return Ok(true),
                    Reply::Missing => return Ok(false),
                    Reply::Changed | Reply::NotStored => {}
                }
            }
            Ok(false)
        })
        .await
    }

    /// `true` when an item was deleted (memcached may still hold a session for up to a
    /// second past its `expires_at`, which then also counts).
    async fn delete(&self, id: &IdHash) -> Result<bool, StoreError> {
        let key = self.key(id);
        self.timed(async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(failed("deleting a session"))?;
            match conn.meta_delete(&key, false, None, None).await {
                Ok(_) => Ok(true),
                Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(false),
                Err(e) => Err(StoreError::backend(
                    "deleting a session in Memcached",
                    Error::Command(e),
                )),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_and_port_with_the_default_port() -> Result<(), Error> {
        assert_eq!(address("memcache://127.0.0.1:11211")?, "127.0.0.1:11211");
        assert_eq!(address("memcached://localhost/")?, "localhost:11211");
        assert_eq!(address("MEMCACHE://10.0.0.1:1234")?, "10.0.0.1:1234");

        assert!(matches!(
            address("redis://127.0.0.1"),
            Err(Error::UnsupportedScheme { .. })
        ));
        for bad in [
            "memcache://a:b@h:1",
            "memcache://h:1/x",
            "memcache://",
            "h:1",
            "memcache://127.0.0.1:99999",
            "memcache://127.0.0.1:0",
            "memcache://127.0.0.1:port",
            "memcache://127.0.0.1:",
            "memcache://::1:11211",
            "memcache://[::1",
            "memcache://[::1]x",
            "memcache://[::1]:11211",
            "memcache://[::1]11211",
            "memcache://:11211",
        ] {
            assert!(
                matches!(address(bad), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_query_parameter_is_named_and_refused() {
        let err = address("memcache://127.0.0.1:11211?prefx=qa:").err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("`prefx`")),
            "{err:?}"
        );
    }

    #[test]
    fn ttls_are_relative_up_to_30_days_then_unix_times_and_never_zero() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(ttl_flag(now - time::Duration::seconds(5)), "T-1");
        assert_eq!(ttl_flag(now + time::Duration::milliseconds(1500)), "T3");
        assert_eq!(ttl_flag(now + time::Duration::hours(1)), "T3601");
        let far = now + time::Duration::days(40);
        assert_eq!(ttl_flag(far), format!("T{}", far.unix_timestamp() + 2));
        assert_ne!(ttl_flag(now), "T0");
        let beyond_2038 = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(
            ttl_flag(beyond_2038),
            "T0",
            "memcached cannot hold it: never"
        );
    }
}
