//! Runs the benchmark binary end to end in an ultra-short mode (memory store only,
//! 200 ms cells, a small memory figure), so `cargo test --workspace` proves that every
//! part of it works: servers, load generator, both libraries, the lost-update check,
//! the memory child process and the report.

use std::process::Command;
use std::time::{Duration, Instant};

/// The body rows of the Markdown table under `heading`, as trimmed cells.
fn table(report: &str, heading: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn an_ultra_short_run_prints_every_table() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sessionkit-bench"))
        .args([
            "--quick",
            "--duration-ms",
            "200",
            "--warmup-ms",
            "50",
            "--connections",
            "4",
            "--stores",
            "memory",
            "--appends",
            "50",
            "--memory-sessions",
            "2000",
            "--no-pin",
        ])
        .output()
        .expect("the benchmark binary runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed:\n{report}\n{stderr}");

    // Bare axum, axum under a no-op layer and both libraries on every route, each
    // with requests and no errors.
    let cells = table(&report, "## Throughput and latency");
    assert_eq!(cells.len(), 16, "{report}");
    for route in ["idle", "read", "write", "new"] {
        let libraries: Vec<&str> = cells
            .iter()
            .filter(|c| c[1] == route)
            .map(|c| c[2].as_str())
            .collect();
        assert_eq!(libraries.len(), 4, "{route}: {report}");
        for library in [
            "axum (bare)",
            "axum + no-op layer",
            "tower-sessions",
            "sessionkit",
        ] {
            assert!(libraries.contains(&library), "{route}/{library}: {report}");
        }
    }
    for cell in &cells {
        assert_ne!(cell[3], "0", "no successful request: {cell:?}");
        assert_eq!(
            cell.last().map(String::as_str),
            Some("0"),
            "errors: {cell:?}"
        );
    }

    // sessionkit keeps every one of the concurrent appends.
    let lost = table(&report, "## Lost updates");
    let ours = lost
        .iter()
        .find(|r| r[1] == "sessionkit")
        .expect("a lost-update row for sessionkit");
    assert_eq!(ours[2..], ["50", "50", "50", "0"], "{report}");

    // Both libraries (sessionkit in both forms) and the two references, every sampled
    // session still there.
    let memory = table(&report, "## Memory store: bytes per session");
    assert_eq!(memory.len(), 5, "{report}");
    assert!(memory.iter().all(|r| r[6] == "100.0%"), "{report}");

    let goals = table(&report, "## Goals");
    assert!(goals.len() >= 5, "{report}");
    let idle = goals
        .iter()
        .find(|g| g[0].contains("idle route"))
        .expect("the idle goal");
    assert!(
        idle.iter().any(|c| c.contains("no-op layer, the floor")),
        "the idle goal shows axum's own layering cost beside it: {idle:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
