//! `sessionkit`: look after the sessions of any sessionkit store.
//!
//! A thin `main` over one module per subcommand; see `sessionkit --help`.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("sessionkit: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
