//! The two tokio runtimes (server and load generator, one worker each), their optional
//! pinning to separate CPUs, and per-thread CPU accounting.
//!
//! Pinning needs no `unsafe` and no affinity crate: each runtime records the Linux
//! thread ids of its threads as they start (from `/proc/thread-self`), and `taskset -p`
//! pins those threads. CPU time comes from `/proc/self/task/<tid>/schedstat`
//! (nanoseconds on the CPU), so a cell can tell how much CPU the server side used per
//! request and whether the load generator was the bottleneck.
//!
//! On a shared virtual machine the on-CPU time also counts the moments the host ran
//! another guest on our CPU, so it varies with the neighbours. Where the kernel lets a
//! process count CPU cycles (`perf_event_open`, through `perf-event2`), the server
//! worker's cycles (user and kernel) are counted too: cycles only advance while the
//! thread really runs, so cycles per request measure the server's own work.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use perf_event::events::Hardware;
use perf_event::Counter;
use tokio::runtime::Runtime;

use crate::BoxError;

/// Thread ids of one runtime's threads.
type Tids = Arc<Mutex<Vec<u32>>>;

/// The server and load-generator runtimes.
#[derive(Debug)]
pub struct Runtimes {
    /// Runs the axum servers and the stores' clients (one worker thread).
    pub server: Runtime,
    /// Runs the load generator (one worker thread).
    pub client: Runtime,
    server_tids: Tids,
    client_tids: Tids,
    server_cycles: Option<Arc<Mutex<Counter>>>,
    /// How the threads were placed, for the report.
    pub placement: String,
}

/// The thread id of the calling thread.
fn current_tid() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

fn ids(tids: &Tids) -> Vec<u32> {
    tids.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn build(name: &str, tids: &Tids) -> std::io::Result<Runtime> {
    let record = tids.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .on_thread_start(move || {
            if let Some(tid) = current_tid() {
                record
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(tid);
            }
        })
        .build()
}

/// A running counter of the CPU cycles of thread `tid`, user and kernel; `None` where
/// the kernel or the virtual machine offers no cycle counter.
fn cycle_counter(tid: u32) -> Option<Counter> {
    let mut counter = perf_event::Builder::new(Hardware::CPU_CYCLES)
        .observe_pid(i32::try_from(tid).ok()?)
        .any_cpu()
        .exclude_kernel(false)
        .exclude_hv(true)
        .build()
        .ok()?;
    counter.enable().ok()?;
    Some(counter)
}

fn pin(tid: u32, cpu: usize) -> bool {
    Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Runtimes {
    /// Builds both runtimes; with `pin` (and two CPUs or more, and `taskset`), pins the
    /// server's worker to CPU 0 and the load generator's to CPU 1.
    ///
    /// # Errors
    ///
    /// When a runtime cannot be built.
    pub fn new(pin_threads: bool) -> Result<Self, BoxError> {
        let server_tids = Tids::default();
        let client_tids = Tids::default();
        let server = build("bench-server", &server_tids)?;
        let client = build("bench-client", &client_tids)?;
        // Workers start asynchronously: wait until both have recorded their ids.
        let deadline = Instant::now() + Duration::from_secs(2);
        while (ids(&server_tids).is_empty() || ids(&client_tids).is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let placement = if !pin_threads {
            "not pinned (--no-pin): the OS schedules both runtimes".to_owned()
        } else if cpus < 2 {
            "not pinned: fewer than two CPUs".to_owned()
        } else {
            let server_ok = ids(&server_tids).into_iter().all(|t| pin(t, 0));
            let client_ok = ids(&client_tids).into_iter().all(|t| pin(t, 1));
            if server_ok && client_ok {
                "server runtime (1 worker) pinned to CPU 0, load generator runtime (1 worker) \
                 to CPU 1, with taskset on their thread ids; database servers and SQLite's \
                 worker threads are not pinned"
                    .to_owned()
            } else {
                "not pinned: taskset failed or is missing".to_owned()
            }
        };
        let server_cycles = ids(&server_tids)
            .first()
            .and_then(|tid| cycle_counter(*tid))
            .map(|c| Arc::new(Mutex::new(c)));
        let placement = if server_cycles.is_some() {
            format!("{placement}; the server worker's CPU cycles counted (user and kernel)")
        } else {
            format!("{placement}; no CPU cycle counter here (server cycles/req left blank)")
        };
        Ok(Self {
            server,
            client,
            server_tids,
            client_tids,
            server_cycles,
            placement,
        })
    }

    /// A probe reading CPU time, usable from inside the client runtime.
    pub fn probe(&self) -> CpuProbe {
        CpuProbe {
            client_tids: self.client_tids.clone(),
            server_cycles: self.server_cycles.clone(),
        }
    }

    /// The server runtime's thread ids (for profiling with `perf -t`).
    pub fn server_threads(&self) -> Vec<u32> {
        ids(&self.server_tids)
    }
}

/// Reads CPU time spent so far, split into the load generator's threads and every
/// other thread of the process (the server side: the server runtime, SQLite's worker
/// threads; the main thread only waits).
#[derive(Debug, Clone)]
pub struct CpuProbe {
    client_tids: Tids,
    server_cycles: Option<Arc<Mutex<Counter>>>,
}

/// CPU time at one moment, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// The load generator's threads.
    pub client_ns: u64,
    /// Every other thread of the process.
    pub server_ns: u64,
    /// Every CPU of the machine, busy (everything but idle and I/O wait; 10 ms
    /// resolution), whoever used it: this process, the database servers, other work.
    pub machine_ns: u64,
    /// CPU cycles of the server runtime's worker thread, user and kernel (`None`
    /// without a cycle counter).
    pub server_cycles: Option<u64>,
}

/// Busy time of all CPUs from the first line of `/proc/stat`, in nanoseconds.
fn machine_busy_ns() -> u64 {
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    const NS_PER_TICK: u64 = 10_000_000; // USER_HZ is 100 on Linux
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy * NS_PER_TICK
}

fn on_cpu_ns(task: &Path) -> u64 {
    std::fs::read_to_string(task.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl CpuProbe {
    /// CPU time of every thread of the process so far.
    pub fn read(&self) -> CpuTimes {
        let client = ids(&self.client_tids);
        let mut times = CpuTimes {
            machine_ns: machine_busy_ns(),
            server_cycles: self
                .server_cycles
                .as_ref()
                .and_then(|c| c.lock().unwrap_or_else(PoisonError::into_inner).read().ok()),
            ..CpuTimes::default()
        };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return times;
        };
        for task in tasks.flatten() {
            let tid: Option<u32> = task.file_name().to_str().and_then(|s| s.parse().ok());
            let ns = on_cpu_ns(&task.path());
            if tid.is_some_and(|t| client.contains(&t)) {
                times.client_ns += ns;
            } else {
                times.server_ns += ns;
            }
        }
        times
    }
}
