//! The load generator: exactly N keep-alive HTTP/1.1 connections, each driven by its
//! own request loop for a warm-up and then a fixed measured window; latencies of the
//! window go into one sorted list.
//!
//! The measured loop speaks HTTP/1.1 itself: it writes one prepared request and reads
//! one response (headers parsed with `httparse`, the body by `Content-Length`), one
//! task per connection. On two CPUs the client must cost less than the server it
//! measures: hyper's client connection (a driver task plus a channel per request)
//! costs about as much CPU per request as axum's server, so with it bare axum was
//! capped by the load generator (client thread at 95% CPU, server at 85%) and every
//! ratio against bare axum was flattered. Setup requests (seeding sessions, the
//! lost-update check) use hyper's client, which also reads `Set-Cookie` for us.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{COOKIE, HOST, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::runtime::{CpuProbe, CpuTimes};
use crate::BoxError;

/// One client connection.
pub type Sender = SendRequest<Empty<Bytes>>;

/// A finished response: status, the `name=value` of its `Set-Cookie` (if any), body.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The first `Set-Cookie`, without attributes.
    pub cookie: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// Opens one keep-alive connection to `addr` (`TCP_NODELAY` on); its driver task runs
/// on the current runtime until the sender is dropped.
///
/// # Errors
///
/// When the connection or the HTTP handshake fails.
pub async fn connect(addr: SocketAddr) -> Result<Sender, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends `GET path` (with `cookie` if given) and reads the whole response.
///
/// # Errors
///
/// When the connection fails.
pub async fn get(sender: &mut Sender, path: &str, cookie: Option<&str>) -> Result<Reply, BoxError> {
    let mut request = Request::get(path).header(HOST, "127.0.0.1");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let request = request.body(Empty::new())?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        cookie,
        body,
    })
}

/// Creates `count` sessions through `GET /seed` and returns their cookies.
///
/// # Errors
///
/// When a request fails or a response sets no cookie.
pub async fn seed(addr: SocketAddr, count: usize) -> Result<Vec<String>, BoxError> {
    let mut sender = connect(addr).await?;
    let mut cookies = Vec::with_capacity(count);
    for _ in 0..count {
        let reply = get(&mut sender, "/seed", None).await?;
        match reply.cookie {
            Some(cookie) if reply.status.is_success() => cookies.push(cookie),
            _ => {
                return Err(format!("GET /seed answered {} without a cookie", reply.status).into())
            }
        }
    }
    Ok(cookies)
}

/// What one cell measures.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The request path.
    pub path: &'static str,
    /// One cookie per connection (`None`: send none).
    pub cookies: Vec<Option<String>>,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// The outcome of one cell.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Successful (2xx) responses to requests started inside the window.
    pub requests: u64,
    /// Non-2xx responses and failed requests inside the window.
    pub errors: u64,
    /// The window's length.
    pub window: Duration,
    /// Latency of every successful request, sorted, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// CPU time during the window: the load generator's and everything else's.
    pub cpu: CpuTimes,
    /// Requests per second of each round merged into this measurement, in order.
    pub rounds: Vec<f64>,
}

impl Measurement {
    /// Adds another round of the same cell.
    pub fn merge(&mut self, other: Self) {
        let first = self.rounds.is_empty();
        if other.rounds.is_empty() {
            self.rounds.push(other.rps());
        } else {
            self.rounds.extend(other.rounds);
        }
        self.requests += other.requests;
        self.errors += other.errors;
        self.window += other.window;
        self.latencies_ns.extend(other.latencies_ns);
        self.latencies_ns.sort_unstable();
        self.cpu.client_ns += other.cpu.client_ns;
        self.cpu.server_ns += other.cpu.server_ns;
        self.cpu.machine_ns += other.cpu.machine_ns;
        self.cpu.server_cycles = if first {
            other.cpu.server_cycles
        } else {
            self.cpu
                .server_cycles
                .zip(other.cpu.server_cycles)
                .map(|(a, b)| a + b)
        };
    }

    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        let seconds = self.window.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn percentile_us(&self, q: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return 0.0;
        }
        let last = self.latencies_ns.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        self.latencies_ns[index.min(last)] as f64 / 1_000.0
    }

    /// Server-side CPU time per successful request, in microseconds.
    pub fn server_us_per_request(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.cpu.server_ns as f64 / 1_000.0 / self.requests as f64
    }

    /// CPU cycles of the server worker thread per successful request (`None` without a
    /// cycle counter).
    pub fn server_cycles_per_request(&self) -> Option<f64> {
        let cycles = self.cpu.server_cycles?;
        (self.requests > 0).then(|| cycles as f64 / self.requests as f64)
    }

    /// Share of one CPU the load generator used during the window (0..=1 per thread).
    pub fn client_load(&self) -> f64 {
        share(self.cpu.client_ns, self.window)
    }

    /// CPUs the server side used during the window (1.0 = one CPU busy throughout).
    pub fn server_load(&self) -> f64 {
        share(self.cpu.server_ns, self.window)
    }

    /// CPUs busy outside this process during the window: the database server of the
    /// store under test, and any other work on the machine (which skews the cell).
    pub fn other_load(&self) -> f64 {
        let ours = self.cpu.server_ns + self.cpu.client_ns;
        share(self.cpu.machine_ns.saturating_sub(ours), self.window)
    }
}

fn share(ns: u64, window: Duration) -> f64 {
    let window = window.as_nanos() as f64;
    if window > 0.0 {
        ns as f64 / window
    } else {
        0.0
    }
}

/// Per-connection results.
#[derive(Debug, Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
}

/// The request bytes of `GET path` with an optional cookie.
fn request_bytes(path: &str, cookie: Option<&str>) -> Vec<u8> {
    let mut text = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    if let Some(cookie) = cookie {
        text.push_str("cookie: ");
        text.push_str(cookie);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Reads one whole response from `stream` (`buffer` keeps what arrives after it) and
/// returns its status code.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<u16, BoxError> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 24];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(buffer)? {
            let status = response.code.ok_or("response without a status")?;
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .ok_or("response without Content-Length")?;
            let length: usize = std::str::from_utf8(length.value)?.trim().parse()?;
            let total = head + length;
            while buffer.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed mid-response".into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.drain(..total);
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

async fn open(addr: SocketAddr) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One connection's loop: requests back to back until `end`, recording those started
/// at or after `measure_from`. A failed connection is reopened.
async fn drive(
    addr: SocketAddr,
    request: Vec<u8>,
    start: Arc<Barrier>,
    measure_from: Duration,
    end: Duration,
) -> Result<Tally, BoxError> {
    let mut stream = open(addr).await?;
    let mut buffer = Vec::with_capacity(4096);
    let mut tally = Tally::default();
    start.wait().await;
    let origin = Instant::now();
    loop {
        let sent = Instant::now();
        let offset = sent - origin;
        if offset >= end {
            break;
        }
        let outcome = match stream.write_all(&request).await {
            Ok(()) => read_response(&mut stream, &mut buffer).await,
            Err(e) => Err(e.into()),
        };
        let took = sent.elapsed();
        let measured = offset >= measure_from;
        match outcome {
            Ok(status) if (200..300).contains(&status) => {
                if measured {
                    tally
                        .latencies_ns
                        .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                }
            }
            Ok(_) => tally.errors += u64::from(measured),
            Err(_) => {
                tally.errors += u64::from(measured);
                buffer.clear();
                stream = open(addr).await?;
            }
        }
    }
    Ok(tally)
}

/// Runs `plan` against `addr` with one connection per cookie slot: warm-up, then the
/// measured window, reading CPU times at the window's edges with `probe`.
///
/// # Errors
///
/// When a connection cannot be (re)opened.
pub async fn measure(
    addr: SocketAddr,
    plan: &Plan,
    probe: &CpuProbe,
) -> Result<Measurement, BoxError> {
    let connections = plan.cookies.len().max(1);
    // Every connection is open before the clock starts; the barrier's last waiter is
    // the timer below.
    let start = Arc::new(Barrier::new(connections + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let cookie = plan.cookies.get(i).cloned().flatten();
        tasks.spawn(drive(
            addr,
            request_bytes(plan.path, cookie.as_deref()),
            start.clone(),
            plan.warmup,
            plan.warmup + plan.duration,
        ));
    }
    start.wait().await;
    tokio::time::sleep(plan.warmup).await;
    let before = probe.read();
    let opened = Instant::now();
    tokio::time::sleep(plan.duration).await;
    let after = probe.read();
    let window = opened.elapsed();

    let mut result = Measurement {
        window,
        cpu: CpuTimes {
            client_ns: after.client_ns.saturating_sub(before.client_ns),
            server_ns: after.server_ns.saturating_sub(before.server_ns),
            machine_ns: after.machine_ns.saturating_sub(before.machine_ns),
            server_cycles: after
                .server_cycles
                .zip(before.server_cycles)
                .map(|(a, b)| a.saturating_sub(b)),
        },
        ..Measurement::default()
    };
    while let Some(joined) = tasks.join_next().await {
        let tally = joined??;
        result.errors += tally.errors;
        result.latencies_ns.extend(tally.latencies_ns);
    }
    result.requests = result.latencies_ns.len() as u64;
    result.latencies_ns.sort_unstable();
    Ok(result)
}
