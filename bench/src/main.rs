//! `sessionkit-bench`: runs the load benchmark and prints its tables to stdout
//! (progress goes to stderr). See `--help` and docs/PERFORMANCE.md.

use std::process::ExitCode;

use clap::Parser;
use sessionkit_bench::{memory, Options};

fn main() -> ExitCode {
    let options = Options::parse();
    let settings = options.settings();
    let outcome = match options.memory_child {
        Some(library) => memory::child_main(library, settings.memory_sessions),
        None => sessionkit_bench::run(&settings).map(|report| print!("{report}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessionkit-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
