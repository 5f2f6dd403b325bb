//! Command-line options, and the settings they resolve to (full or `--quick`).

use std::fmt;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Serves the same axum routes bare, on tower-sessions and on sessionkit, drives them
/// from a built-in load generator on loopback, and prints throughput, latency and
/// ratios, then a lost-update check and the memory store's bytes per session.
///
/// PostgreSQL and Redis rows need `SESSIONKIT_TEST_POSTGRES_URL` and
/// `SESSIONKIT_TEST_REDIS_URL` (the tests' variables); without them those rows are
/// skipped with a note. Build with `--release`: debug figures mean nothing.
#[derive(Debug, Clone, Parser)]
#[command(name = "sessionkit-bench", version)]
pub struct Options {
    /// Smoke check in under a minute: 0.3 s per cell in one round after 0.1 s of
    /// warm-up, 16 connections, 100,000 sessions for the memory figure.
    #[arg(long)]
    pub quick: bool,

    /// Measured time per cell, in milliseconds, split over the rounds (full: 8000,
    /// quick: 300).
    #[arg(long, value_name = "MS")]
    pub duration_ms: Option<u64>,

    /// Warm-up before each round of a cell, in milliseconds (full: 200, quick: 100).
    #[arg(long, value_name = "MS")]
    pub warmup_ms: Option<u64>,

    /// Rounds per cell: the libraries of one store and route take turns this many
    /// times, so a burst of other work on the machine hits them alike (full: 10,
    /// quick: 1).
    #[arg(long, value_name = "N")]
    pub rounds: Option<u32>,

    /// Keep-alive connections the load generator holds open (full: 32, quick: 16).
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,

    /// Stores to measure, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "memory,memory-compact,sqlite,postgres,redis"
    )]
    pub stores: Vec<StoreKind>,

    /// Routes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "idle,read,write,new")]
    pub routes: Vec<Route>,

    /// Session libraries to measure, comma-separated (bare axum always runs;
    /// `axum-layer` is bare axum under a layer that does nothing, in the memory group).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "axum-layer,tower-sessions,sessionkit"
    )]
    pub libraries: Vec<Library>,

    /// Concurrent appends to one session in the lost-update check (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub appends: usize,

    /// Sessions created for the memory figure (full: 1,000,000, quick: 100,000; 0
    /// skips it).
    #[arg(long, value_name = "N")]
    pub memory_sessions: Option<u64>,

    /// Don't pin the server and load-generator threads to separate CPUs.
    #[arg(long)]
    pub no_pin: bool,

    /// Internal: measure the memory figure of one library in this process and print
    /// it as one line (the parent runs this in a fresh process).
    #[arg(long, hide = true, value_name = "LIBRARY")]
    pub memory_child: Option<MemorySubject>,
}

/// What one run does, after defaults and `--quick` are applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Measured time per cell (all rounds together).
    pub duration: Duration,
    /// Unmeasured time before each round, on the same connections.
    pub warmup: Duration,
    /// Rounds per cell.
    pub rounds: u32,
    /// Keep-alive connections.
    pub connections: usize,
    /// Stores to measure, in order.
    pub stores: Vec<StoreKind>,
    /// Routes to measure, in order.
    pub routes: Vec<Route>,
    /// Session libraries to measure.
    pub libraries: Vec<Library>,
    /// Concurrent appends in the lost-update check.
    pub appends: usize,
    /// Sessions for the memory figure.
    pub memory_sessions: u64,
    /// Pin the two runtimes to CPUs 0 and 1.
    pub pin: bool,
    /// `--quick` was given.
    pub quick: bool,
}

impl Options {
    /// Applies the defaults of the chosen mode.
    pub fn settings(&self) -> Settings {
        let (duration, warmup, rounds, connections, sessions) = if self.quick {
            (300, 100, 1, 16, 100_000)
        } else {
            (8_000, 200, 10, 32, 1_000_000)
        };
        let mut stores = self.stores.clone();
        stores.dedup();
        let mut routes = self.routes.clone();
        routes.dedup();
        Settings {
            duration: Duration::from_millis(self.duration_ms.unwrap_or(duration)),
            warmup: Duration::from_millis(self.warmup_ms.unwrap_or(warmup)),
            rounds: self.rounds.unwrap_or(rounds).max(1),
            connections: self.connections.unwrap_or(connections).max(1),
            stores,
            routes,
            libraries: self
                .libraries
                .iter()
                .copied()
                .filter(|l| *l != Library::Axum)
                .collect(),
            appends: self.appends,
            memory_sessions: self.memory_sessions.unwrap_or(sessions),
            pin: !self.no_pin,
            quick: self.quick,
        }
    }
}

/// A session store measured for both libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// In-process memory.
    Memory,
    /// In-process memory, sessionkit's store packed (`MemoryStore::compact()`).
    MemoryCompact,
    /// An SQLite file in a temporary directory.
    Sqlite,
    /// PostgreSQL at `SESSIONKIT_TEST_POSTGRES_URL`.
    Postgres,
    /// Redis at `SESSIONKIT_TEST_REDIS_URL`.
    Redis,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "memory",
            Self::MemoryCompact => "memory-compact",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        })
    }
}

/// A measured route; see [`crate::apps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// Never touches the session.
    Idle,
    /// Reads one key of an existing session.
    Read,
    /// Increments a counter: a save every request.
    Write,
    /// A new session every request.
    New,
}

impl Route {
    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Idle => "/idle",
            Self::Read => "/read",
            Self::Write => "/write",
            Self::New => "/new",
        }
    }

    /// Whether the client sends the session cookie (every route but `new`).
    pub fn sends_cookie(self) -> bool {
        self != Self::New
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path()[1..])
    }
}

/// Who serves the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Library {
    /// Bare axum, no session layer.
    Axum,
    /// Bare axum's routes under a layer that does nothing (`tower::layer::util::Identity`),
    /// added the way a session layer is (`Router::layer`): what axum itself costs per
    /// request for wrapping its routes in any layer, the floor under both libraries.
    /// Measured with the memory store's group only (it has no store).
    AxumLayer,
    /// tower-sessions 0.14.
    TowerSessions,
    /// sessionkit.
    Sessionkit,
}

impl fmt::Display for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Axum => "axum (bare)",
            Self::AxumLayer => "axum + no-op layer",
            Self::TowerSessions => "tower-sessions",
            Self::Sessionkit => "sessionkit",
        })
    }
}

/// What the memory figure measures, each in a child process of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemorySubject {
    /// tower-sessions' `MemoryStore`, filled through its `Session`.
    TowerSessions,
    /// sessionkit's `MemoryStore`, filled through its `Session`.
    Sessionkit,
    /// sessionkit's `MemoryStore::compact()` (sessions packed into bytes).
    SessionkitCompact,
    /// Reference: the payloads alone as `serde_json` maps in a `Vec` (what holding
    /// decoded values costs, before any store).
    JsonValues,
    /// Reference: the payloads alone as JSON bytes in a `Vec` (what holding encoded
    /// records costs).
    JsonBytes,
}

impl fmt::Display for MemorySubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TowerSessions => "tower-sessions",
            Self::Sessionkit => "sessionkit",
            Self::SessionkitCompact => "sessionkit, MemoryStore::compact()",
            Self::JsonValues => "reference: payloads as serde_json maps",
            Self::JsonBytes => "reference: payloads as JSON bytes",
        })
    }
}
