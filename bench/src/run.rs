//! One benchmark run: every store with bare axum and both libraries side by side, then
//! the lost-update checks, then the memory figure.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

use crate::load::{self, Measurement, Plan};
use crate::lost::{self, LostUpdates};
use crate::memory::{self, MemoryFigure};
use crate::options::{Library, MemorySubject, Route, Settings, StoreKind};
use crate::runtime::Runtimes;
use crate::server::Server;
use crate::stores;
use crate::{apps, BoxError};

/// A pause between cells, so one cell's stragglers (closing connections, a store's
/// background work) don't spill into the next.
const SETTLE: Duration = Duration::from_millis(100);

/// One measured combination.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The store (bare axum is measured within each store's group, without a store).
    pub store: Option<StoreKind>,
    /// The route.
    pub route: Route,
    /// Who served it.
    pub library: Library,
    /// What was measured.
    pub measurement: Measurement,
}

/// One lost-update check.
#[derive(Debug, Clone)]
pub struct LostRow {
    /// The store.
    pub store: StoreKind,
    /// Whose layer.
    pub library: Library,
    /// The outcome.
    pub result: LostUpdates,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The settings used.
    pub settings: Settings,
    /// How the runtimes were placed on CPUs.
    pub placement: String,
    /// Throughput and latency cells, in run order.
    pub cells: Vec<Cell>,
    /// Lost-update checks.
    pub lost: Vec<LostRow>,
    /// The memory figures.
    pub memory: Vec<MemoryFigure>,
    /// Skipped stores and other remarks.
    pub notes: Vec<String>,
    /// `/proc/loadavg` at the start and at the end (other work on the machine).
    pub load_average: (String, String),
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A name for this run's tables, schemas and key prefixes.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}_{nanos:09}", std::process::id())
}

/// Runs the benchmark, printing progress to stderr.
///
/// # Errors
///
/// When a runtime, a server or a configured store cannot be set up, or a cell fails.
pub fn run(settings: &Settings) -> Result<Report, BoxError> {
    let runtimes = Runtimes::new(settings.pin)?;
    eprintln!("placement: {}", runtimes.placement);
    let mut report = Report {
        settings: settings.clone(),
        placement: runtimes.placement.clone(),
        cells: Vec::new(),
        lost: Vec::new(),
        memory: Vec::new(),
        notes: Vec::new(),
        load_average: (load_average(), String::new()),
    };
    let run = run_id();

    for &kind in &settings.stores {
        let prepared = match runtimes.server.block_on(stores::prepare(kind, &run))? {
            Ok(prepared) => prepared,
            Err(note) => {
                eprintln!("{note}");
                report.notes.push(note);
                continue;
            }
        };
        let mut routers = vec![(Library::Axum, apps::bare())];
        if kind == StoreKind::Memory && settings.libraries.contains(&Library::AxumLayer) {
            routers.push((Library::AxumLayer, apps::bare_layered()));
        }
        routers.extend(chosen(
            settings,
            prepared.tower_sessions,
            prepared.sessionkit,
        ));
        let outcome = store_cells(&runtimes, settings, kind, routers, &mut report);
        if let Err(e) = runtimes.server.block_on(prepared.cleanup.run()) {
            let note = format!("{kind}: cleanup failed ({e}); remove this run's objects by hand");
            eprintln!("{note}");
            report.notes.push(note);
        }
        outcome?;
    }

    if settings.appends > 0 {
        lost_updates(&runtimes, settings, &format!("{run}_lu"), &mut report)?;
    }

    if settings.memory_sessions > 0 {
        let mut subjects: Vec<MemorySubject> = settings
            .libraries
            .iter()
            .flat_map(|l| match l {
                Library::TowerSessions => vec![MemorySubject::TowerSessions],
                Library::Sessionkit => {
                    vec![MemorySubject::Sessionkit, MemorySubject::SessionkitCompact]
                }
                Library::Axum | Library::AxumLayer => vec![],
            })
            .collect();
        subjects.extend([MemorySubject::JsonValues, MemorySubject::JsonBytes]);
        for subject in subjects {
            eprintln!(
                "memory figure: {subject}, {} sessions",
                settings.memory_sessions
            );
            report
                .memory
                .push(memory::measure_in_child(subject, settings.memory_sessions)?);
        }
    }
    report.load_average.1 = load_average();
    Ok(report)
}

/// The routers of the libraries `settings` asks for.
fn chosen(
    settings: &Settings,
    tower_sessions: Router,
    sessionkit: Router,
) -> Vec<(Library, Router)> {
    [
        (Library::TowerSessions, tower_sessions),
        (Library::Sessionkit, sessionkit),
    ]
    .into_iter()
    .filter(|(library, _)| settings.libraries.contains(library))
    .collect()
}

/// One store: bare axum and the libraries each on their own server, all running at
/// once. For every route they take turns, round after round, the order rotating, so
/// the ratios compare servers measured over the same stretch of time (a burst of other
/// work on the machine, or a store's after-effects such as autovacuum, hits them alike).
fn store_cells(
    runtimes: &Runtimes,
    settings: &Settings,
    kind: StoreKind,
    routers: Vec<(Library, Router)>,
    report: &mut Report,
) -> Result<(), BoxError> {
    let mut servers = Vec::new();
    for (library, router) in routers {
        match Server::start(&runtimes.server, router) {
            Ok(server) => servers.push((library, server)),
            Err(e) => {
                for (_, server) in servers {
                    server.stop(&runtimes.server);
                }
                return Err(e);
            }
        }
    }
    let outcome = (|| {
        // Bare axum gets a cookie of the same length as sessionkit's, so every server
        // parses the same request.
        let dummy = format!("id={}", "A".repeat(32));
        let mut cookies = Vec::new();
        for (library, server) in &servers {
            cookies.push(match library {
                Library::Axum | Library::AxumLayer => vec![dummy.clone(); settings.connections],
                _ => runtimes
                    .client
                    .block_on(load::seed(server.addr, settings.connections))?,
            });
        }
        let rounds = settings.rounds.max(1);
        let per_round = settings.duration / rounds;
        for (r, &route) in settings.routes.iter().enumerate() {
            let mut totals = vec![Measurement::default(); servers.len()];
            for round in 0..rounds as usize {
                let mut order: Vec<usize> = (0..servers.len()).collect();
                order.rotate_left((r + round) % servers.len().max(1));
                for j in order {
                    let per_connection = cookies[j]
                        .iter()
                        .map(|c| route.sends_cookie().then(|| c.clone()))
                        .collect();
                    let measured = cell(
                        runtimes,
                        servers[j].1.addr,
                        settings,
                        route,
                        per_round,
                        per_connection,
                    )?;
                    totals[j].merge(measured);
                }
            }
            for ((library, _), measurement) in servers.iter().zip(totals) {
                report.push_cell(Some(kind), route, *library, measurement);
            }
        }
        Ok::<(), BoxError>(())
    })();
    for (_, server) in servers {
        server.stop(&runtimes.server);
    }
    outcome
}

/// The lost-update checks, on a server runtime with two workers (as many as this
/// machine has CPUs): with a single worker, a store that never waits (memory) would
/// run every request from load to save without interruption and hide the race that
/// any multi-threaded server has.
fn lost_updates(
    runtimes: &Runtimes,
    settings: &Settings,
    run: &str,
    report: &mut Report,
) -> Result<(), BoxError> {
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server-2")
        .enable_all()
        .build()?;
    for &kind in &settings.stores {
        let Ok(prepared) = server_runtime.block_on(stores::prepare(kind, run))? else {
            continue; // already noted
        };
        let mut servers = Vec::new();
        let outcome = (|| {
            for (library, router) in chosen(settings, prepared.tower_sessions, prepared.sessionkit)
            {
                servers.push((library, Server::start(&server_runtime, router)?));
            }
            for (library, server) in &servers {
                let result = runtimes
                    .client
                    .block_on(lost::check(server.addr, settings.appends))?;
                eprintln!(
                    "{kind:<8} lost updates  {library:<14} {} of {} appends kept",
                    result.kept, result.sent
                );
                report.lost.push(LostRow {
                    store: kind,
                    library: *library,
                    result,
                });
            }
            Ok::<(), BoxError>(())
        })();
        for (_, server) in servers {
            server.stop(&server_runtime);
        }
        if let Err(e) = server_runtime.block_on(prepared.cleanup.run()) {
            let note = format!("{kind}: cleanup failed ({e}); remove this run's objects by hand");
            eprintln!("{note}");
            report.notes.push(note);
        }
        outcome?;
    }
    Ok(())
}

fn cell(
    runtimes: &Runtimes,
    addr: SocketAddr,
    settings: &Settings,
    route: Route,
    duration: Duration,
    cookies: Vec<Option<String>>,
) -> Result<Measurement, BoxError> {
    std::thread::sleep(SETTLE);
    let plan = Plan {
        path: route.path(),
        cookies,
        warmup: settings.warmup,
        duration,
    };
    let probe = runtimes.probe();
    runtimes
        .client
        .block_on(async { load::measure(addr, &plan, &probe).await })
}

impl Report {
    fn push_cell(
        &mut self,
        store: Option<StoreKind>,
        route: Route,
        library: Library,
        measurement: Measurement,
    ) {
        eprintln!(
            "{:<8} {:<6} {:<14} {:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}",
            store.map_or("-".to_owned(), |s| s.to_string()),
            route.to_string(),
            library.to_string(),
            measurement.rps(),
            measurement.percentile_us(0.50),
            measurement.percentile_us(0.99),
            measurement.errors,
        );
        self.cells.push(Cell {
            store,
            route,
            library,
            measurement,
        });
    }
}
