//! [`Connection`]: one handle over a single server, a Sentinel-managed master or a
//! Cluster, that reconnects by itself; and key scans across every primary.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, ErrorKind, IntoConnectionInfo, RedisError, RedisFuture, RedisResult, Value};

use crate::url::Topology;
use crate::{Error, RedisOptions};

/// Reconnect attempts per request while the server is unreachable: a request during an
/// outage fails within a few hundred milliseconds instead of waiting out a long backoff;
/// the next request tries again.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);
/// Retries of a cluster request (moved slots, a failing node) before it fails.
const CLUSTER_RETRIES: u32 = 3;
/// Keys asked for per `SCAN` step.
const SCAN_COUNT: usize = 1000;

/// A connection to the Redis deployment a URL named: cheap to clone (clones share the
/// underlying multiplexed connection), safe to use from many tasks, and reconnecting
/// by itself after the server (or Sentinel's master, or a cluster node) comes back.
///
/// It implements [`redis::aio::ConnectionLike`], so any redis-rs command runs on it;
/// [`RedisStore::connection`](crate::RedisStore::connection) hands one out.
#[derive(Clone)]
pub struct Connection(Inner);

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelMaster>),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Inner::Single(_) => "single server",
            Inner::Cluster(_) => "cluster",
            Inner::Sentinel(_) => "sentinel",
        };
        f.debug_tuple("Connection").field(&kind).finish()
    }
}

fn timed_out(what: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

impl Connection {
    /// Connects to what `topology` names; fails if nothing answers in time.
    pub(crate) async fn open(topology: Topology, options: &RedisOptions) -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; install ring unless the
        // application chose one already.
        #[cfg(feature = "tls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let limit = options.connect_timeout();
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_connection_timeout(Some(limit))
            .set_response_timeout(Some(options.command_timeout()));
        let connecting = async {
            Ok::<_, RedisError>(match topology {
                Topology::Single { url } => {
                    let client = redis::Client::open(url)?;
                    Inner::Single(ConnectionManager::new_with_config(client, manager_config).await?)
                }
                Topology::Cluster { nodes } => {
                    let client = ClusterClientBuilder::new(nodes)
                        .connection_timeout(limit)
                        .response_timeout(options.command_timeout())
                        .retries(CLUSTER_RETRIES)
                        .build()?;
                    Inner::Cluster(client.get_async_connection().await?)
                }
                Topology::Sentinel {
                    sentinels,
                    master,
                    master_settings,
                    tls,
                } => {
                    let settings = master_settings.into_connection_info()?;
                    let mut node = SentinelNodeConnectionInfo::default()
                        .set_redis_connection_info(settings.redis_settings().clone());
                    if tls {
                        node = node.set_tls_mode(redis::TlsMode::Secure);
                    }
                    let client = SentinelClient::build(
                        sentinels,
                        master,
                        Some(node),
                        SentinelServerType::Master,
                    )?;
                    let sentinel = Arc::new(SentinelMaster {
                        client: tokio::sync::Mutex::new(client),
                        current: Mutex::new(None),
                        generation: AtomicU64::new(0),
                        config: manager_config,
                        connect_timeout: limit,
                    });
                    sentinel.manager().await?;
                    Inner::Sentinel(sentinel)
                }
            })
        };
        match tokio::time::timeout(limit, connecting).await {
            Ok(Ok(inner)) => Ok(Self(inner)),
            Ok(Err(e)) => Err(Error::Connect(e)),
            Err(_) => Err(Error::ConnectTimeout(limit)),
        }
    }

    /// Where `SCAN` must run: the connection itself, or each cluster primary.
    async fn scan_targets(&mut self) -> RedisResult<Vec<Option<(String, u16)>>> {
        let Inner::Cluster(cluster) = &mut self.0 else {
            return Ok(vec![None]);
        };
        let slots = cluster
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        // [[start, end, [host, port, id?], replicas...], ...]
        let ranges: Vec<Vec<Value>> = redis::from_redis_value(slots)?;
        let mut primaries = Vec::new();
        for range in ranges {
            let Some(primary) = range.into_iter().nth(2) else {
                continue;
            };
            let (host, port): (String, u16) =
                match redis::from_redis_value::<Vec<Value>>(primary)?.as_slice() {
                    [host, port, ..] => (
                        redis::from_redis_value(host.clone())?,
                        redis::from_redis_value(port.clone())?,
                    ),
                    _ => continue,
                };
            if !primaries.contains(&Some((host.clone(), port))) {
                primaries.push(Some((host, port)));
            }
        }
        Ok(primaries)
    }

    /// Starts a scan of every key matching `pattern` (on every primary of a cluster).
    pub(crate) async fn scan(&mut self, pattern: String) -> RedisResult<Scan> {
        let targets = self.scan_targets().await?;
        Ok(Scan {
            targets,
            target: 0,
            cursor: 0,
            pattern,
        })
    }
}

/// An incremental `SCAN` over one or more nodes; see [`Connection::scan`].
pub(crate) struct Scan {
    targets: Vec<Option<(String, u16)>>,
    target: usize,
    cursor: u64,
    pattern: String,
}

impl Scan {
    /// The next batch of keys (possibly empty), or `None` when every node is done.
    pub(crate) async fn next(&mut self, conn: &mut Connection) -> RedisResult<Option<Vec<String>>> {
        let Some(target) = self.targets.get(self.target) else {
            return Ok(None);
        };
        let mut scan = redis::cmd("SCAN");
        scan.arg(self.cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let reply = match (target, &mut conn.0) {
            (Some((host, port)), Inner::Cluster(cluster)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                cluster.route_command(scan, routing).await?
            }
            _ => conn.req_packed_command(&scan).await?,
        };
        let (cursor, keys): (u64, Vec<String>) = redis::from_redis_value(reply)?;
        self.cursor = cursor;
        if cursor == 0 {
            self.target += 1;
        }
        Ok(Some(keys))
    }
}

/// The master of a Sentinel deployment: a reconnecting connection to the address
/// Sentinel gave, asked again when the master may have moved (connection lost or
/// refused, `READONLY`, `MASTERDOWN`).
struct SentinelMaster {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<(u64, ConnectionManager)>>,
    generation: AtomicU64,
    config: ConnectionManagerConfig,
    connect_timeout: Duration,
}

impl SentinelMaster {
    fn cached(&self) -> Option<(u64, ConnectionManager)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn manager(&self) -> RedisResult<(u64, ConnectionManager)> {
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let mut client = self.client.lock().await;
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let resolve = async {
            let master = client.async_get_client().await?;
            ConnectionManager::new_with_config(master, self.config.clone()).await
        };
        let manager = tokio::time::timeout(self.connect_timeout, resolve)
            .await
            .map_err(|_| timed_out("asking Sentinel for the master timed out"))??;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, manager.clone()));
        Ok((generation, manager))
    }

    fn forget_if_moved<T>(&self, generation: u64, result: &RedisResult<T>) {
        let Err(e) = result else { return };
        let moved = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown
                )
            );
        if moved {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            if current.as_ref().is_some_and(|(g, _)| *g == generation) {
                tracing::warn!("lost the Redis master; asking Sentinel again on the next request");
                *current = None;
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
            Inner::Sentinel(s) => {
                let s = Arc::clone(s);
                Box::pin(async move {
                    let (generation, mut manager) = s.manager().await?;
                    let result = manager.req_packed_command(cmd).await;
                    s.forget_if_moved(generation, &result);
                    result
                })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Sentinel(s) => {
                let s = Arc::clone(s);
                Box::pin(async move {
                    let (generation, mut manager) = s.manager().await?;
                    let result = manager.req_packed_commands(pipeline, offset, count).await;
                    s.forget_if_moved(generation, &result);
                    result
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Single(c) => c.get_db(),
            Inner::Cluster(c) => c.get_db(),
            Inner::Sentinel(s) => s.cached().map_or(0, |(_, c)| c.get_db()),
        }
    }
}
