//! The printed report: the throughput table, the lost-update table, the memory figure,
//! and the goals, as Markdown tables (paste-ready for docs/PERFORMANCE.md).

use std::fmt::{self, Display, Write as _};

use crate::load::Measurement;
use crate::options::{Library, MemorySubject, Route, StoreKind};
use crate::run::{Cell, Report};

/// How one cell's throughput compares with another's measured beside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The median of the rounds' ratios (each round measures both cells back to back,
    /// so a slow stretch of the machine hits both); the ratio of the totals when the
    /// cells do not have the same rounds.
    pub value: f64,
    /// The lowest round's ratio.
    pub low: f64,
    /// The highest round's ratio.
    pub high: f64,
}

impl Ratio {
    /// `ours` over `theirs`, round by round; `None` when `theirs` served nothing.
    pub fn between(ours: &Measurement, theirs: &Measurement) -> Option<Self> {
        let paired = ours.rounds.len() == theirs.rounds.len() && !ours.rounds.is_empty();
        let mut rounds: Vec<f64> = if paired {
            ours.rounds
                .iter()
                .zip(&theirs.rounds)
                .map(|(a, b)| ratio(*a, *b))
                .collect::<Option<_>>()?
        } else {
            vec![ratio(ours.rps(), theirs.rps())?]
        };
        rounds.sort_by(f64::total_cmp);
        let middle = rounds.len() / 2;
        let value = if rounds.len().is_multiple_of(2) {
            (rounds[middle - 1] + rounds[middle]) / 2.0
        } else {
            rounds[middle]
        };
        Some(Self {
            value,
            low: rounds[0],
            high: rounds[rounds.len() - 1],
        })
    }

    /// `0.97×`, with the rounds' range when there was more than one (`0.97× (0.93–1.01)`).
    pub fn with_range(&self) -> String {
        if self.low == self.high {
            format!("{:.2}×", self.value)
        } else {
            format!("{:.2}× ({:.2}–{:.2})", self.value, self.low, self.high)
        }
    }
}

/// Formats a number rounded to an integer, with thousands separators.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats microseconds: one decimal below 100 µs, none above.
fn micros(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        thousands(us)
    }
}

/// Writes rows as a Markdown table with padded columns.
fn table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let mut s = String::from("|");
        for (cell, w) in cells.zip(&widths) {
            let pad = w.saturating_sub(cell.chars().count());
            let _ = write!(s, " {cell}{} |", " ".repeat(pad));
        }
        s
    };
    writeln!(f, "{}", line(&mut header.iter().map(|h| (*h).to_owned())))?;
    writeln!(f, "{}", line(&mut widths.iter().map(|w| "-".repeat(*w))))?;
    for row in rows {
        writeln!(f, "{}", line(&mut row.iter().cloned()))?;
    }
    Ok(())
}

impl Report {
    fn find(&self, store: Option<StoreKind>, route: Route, library: Library) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.store == store && c.route == route && c.library == library)
    }

    /// Requests per second of `library` over bare axum on the same route.
    pub fn vs_bare(&self, cell: &Cell) -> Option<Ratio> {
        let bare = self.find(cell.store, cell.route, Library::Axum)?;
        Ratio::between(&cell.measurement, &bare.measurement)
    }

    /// Bare axum's server cycles per request over `cell`'s: the throughput ratio a
    /// machine with no neighbours would show if the server alone were the limit.
    pub fn cycles_vs_bare(&self, cell: &Cell) -> Option<f64> {
        let bare = self.find(cell.store, cell.route, Library::Axum)?;
        ratio(
            bare.measurement.server_cycles_per_request()?,
            cell.measurement.server_cycles_per_request()?,
        )
    }

    /// Requests per second of sessionkit over tower-sessions on the same store and route.
    pub fn vs_tower_sessions(&self, cell: &Cell) -> Option<Ratio> {
        if cell.library != Library::Sessionkit {
            return None;
        }
        let theirs = self.find(cell.store, cell.route, Library::TowerSessions)?;
        Ratio::between(&cell.measurement, &theirs.measurement)
    }

    /// `figure`, followed by the ratio of server cycles per request to bare axum's
    /// where they were counted.
    fn with_cycles(&self, figure: String, cell: &Cell) -> String {
        match self.cycles_vs_bare(cell) {
            Some(c) => format!("{figure}; by server cycles per request {c:.3}×"),
            None => figure,
        }
    }

    fn goals(&self) -> Vec<(String, bool, String)> {
        let mut goals = Vec::new();
        for kind in self.settings.stores.iter().copied() {
            if let Some(cell) = self.find(Some(kind), Route::Idle, Library::Sessionkit) {
                if let Some(r) = self.vs_bare(cell) {
                    let mut shown = self.with_cycles(figure(r, "bare"), cell);
                    if let Some(floor) = self
                        .find(Some(kind), Route::Idle, Library::AxumLayer)
                        .and_then(|c| self.vs_bare(c))
                    {
                        shown.push_str(&format!(
                            "; axum with a no-op layer, the floor: {}",
                            figure(floor, "bare")
                        ));
                    }
                    goals.push((
                        format!("{kind}: idle route within 3% of bare axum"),
                        r.value >= 0.97,
                        shown,
                    ));
                }
            }
        }
        if let Some(cell) = self.find(Some(StoreKind::Memory), Route::Read, Library::Sessionkit) {
            if let Some(r) = self.vs_bare(cell) {
                goals.push((
                    "memory: read route at least 0.9× bare axum".to_owned(),
                    r.value >= 0.9,
                    self.with_cycles(figure(r, "bare"), cell),
                ));
            }
        }
        for cell in self
            .cells
            .iter()
            .filter(|c| c.library == Library::Sessionkit)
        {
            let (Some(store), Some(r)) = (cell.store, self.vs_tower_sessions(cell)) else {
                continue;
            };
            let strictly = matches!(cell.route, Route::Write | Route::New);
            let (met, wanted) = if strictly {
                (r.value > 1.0, "faster than")
            } else {
                (r.value >= 1.0, "at least as fast as")
            };
            goals.push((
                format!("{store}/{}: {wanted} tower-sessions", cell.route),
                met,
                figure(r, "tower-sessions"),
            ));
        }
        for row in self
            .lost
            .iter()
            .filter(|r| r.library == Library::Sessionkit)
        {
            goals.push((
                format!("{}: no lost updates", row.store),
                row.result.lost() == 0 && row.result.succeeded == row.result.sent,
                format!(
                    "{} of {} kept, {} of {} succeeded",
                    row.result.kept, row.result.sent, row.result.succeeded, row.result.sent
                ),
            ));
        }
        for figure in self.memory.iter().filter(|m| {
            matches!(
                m.subject,
                MemorySubject::Sessionkit | MemorySubject::SessionkitCompact
            )
        }) {
            let which = if figure.subject == MemorySubject::SessionkitCompact {
                " (compact)"
            } else {
                ""
            };
            goals.push((
                format!("memory store{which} under 2× the payload per session"),
                figure.overhead_ratio() < 2.0,
                format!(
                    "{:.0} B/session for {:.0} B of payload: {:.2}×",
                    figure.bytes_per_session(),
                    figure.payload_bytes,
                    figure.overhead_ratio()
                ),
            ));
        }
        goals
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn opt_ratio(r: Option<Ratio>) -> String {
    r.map_or_else(String::new, |r| r.with_range())
}

/// A goal's figure: the median ratio to three places, and the rounds' range.
fn figure(r: Ratio, of: &str) -> String {
    if r.low == r.high {
        format!("{:.3}× {of}", r.value)
    } else {
        format!("{:.3}× {of} (rounds {:.2}–{:.2})", r.value, r.low, r.high)
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(f, "## Throughput and latency")?;
        writeln!(f)?;
        writeln!(
            f,
            "{} keep-alive connections; {:.1} s measured per cell in {} round(s), each after \
             {:.2} s of warm-up, the servers of a store taking turns; ratios are the median \
             of the rounds' ratios, their range in brackets; {}.{}",
            s.connections,
            s.duration.as_secs_f64(),
            s.rounds,
            s.warmup.as_secs_f64(),
            self.placement,
            if cfg!(debug_assertions) {
                " DEBUG BUILD: these figures mean nothing, use --release."
            } else {
                ""
            }
        )?;
        writeln!(f)?;
        let rows: Vec<Vec<String>> = self
            .cells
            .iter()
            .map(|c| {
                let m = &c.measurement;
                vec![
                    c.store.map_or_else(String::new, |s| s.to_string()),
                    c.route.to_string(),
                    c.library.to_string(),
                    thousands(m.rps()),
                    micros(m.percentile_us(0.50)),
                    micros(m.percentile_us(0.99)),
                    if c.library == Library::Axum {
                        String::new()
                    } else {
                        opt_ratio(self.vs_bare(c))
                    },
                    opt_ratio(self.vs_tower_sessions(c)),
                    format!("{:.1}", m.server_us_per_request()),
                    m.server_cycles_per_request()
                        .map_or_else(String::new, thousands),
                    format!(
                        "{:.2} / {:.2} / {:.2}",
                        m.server_load(),
                        m.client_load(),
                        m.other_load()
                    ),
                    m.errors.to_string(),
                ]
            })
            .collect();
        table(
            f,
            &[
                "store",
                "route",
                "library",
                "req/s",
                "p50 µs",
                "p99 µs",
                "vs bare",
                "vs tower-sessions",
                "server CPU µs/req",
                "server cycles/req",
                "CPUs server / client / other",
                "errors",
            ],
            &rows,
        )?;
        writeln!(
            f,
            "\nLoad average (1, 5, 15 min) at the start: {}; at the end: {}.",
            self.load_average.0, self.load_average.1
        )?;
        for note in &self.notes {
            writeln!(f, "\n{note}")?;
        }

        if !self.lost.is_empty() {
            writeln!(f, "\n## Lost updates\n")?;
            writeln!(
                f,
                "{} concurrent appends to one session (server runtime with 2 workers), then a count of the list.\n",
                s.appends
            )?;
            let rows: Vec<Vec<String>> = self
                .lost
                .iter()
                .map(|r| {
                    vec![
                        r.store.to_string(),
                        r.library.to_string(),
                        r.result.sent.to_string(),
                        r.result.succeeded.to_string(),
                        r.result.kept.to_string(),
                        r.result.lost().to_string(),
                    ]
                })
                .collect();
            table(
                f,
                &[
                    "store",
                    "library",
                    "appends",
                    "succeeded",
                    "items kept",
                    "lost",
                ],
                &rows,
            )?;
        }

        if !self.memory.is_empty() {
            writeln!(f, "\n## Memory store: bytes per session\n")?;
            let rows: Vec<Vec<String>> = self
                .memory
                .iter()
                .map(|m| {
                    vec![
                        m.subject.to_string(),
                        thousands(m.sessions as f64),
                        format!("{:.0}", m.payload_bytes),
                        format!("{:.1} MiB", m.rss_growth as f64 / 1_048_576.0),
                        format!("{:.0}", m.bytes_per_session()),
                        format!("{:.2}×", m.overhead_ratio()),
                        format!("{:.1}%", m.kept * 100.0),
                    ]
                })
                .collect();
            table(
                f,
                &[
                    "what",
                    "sessions",
                    "payload B (JSON)",
                    "RSS growth",
                    "B/session",
                    "vs payload",
                    "sessions kept",
                ],
                &rows,
            )?;
        }

        let goals = self.goals();
        if !goals.is_empty() {
            writeln!(f, "\n## Goals\n")?;
            let rows: Vec<Vec<String>> = goals
                .into_iter()
                .map(|(goal, met, figure)| {
                    vec![goal, if met { "met" } else { "NOT met" }.to_owned(), figure]
                })
                .collect();
            table(f, &["goal", "status", "figure"], &rows)?;
        }
        Ok(())
    }
}
