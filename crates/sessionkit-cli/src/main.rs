//! `sessionkit`: look after the sessions of any sessionkit store.
//!
//! A thin `main` over one module per subcommand; see `sessionkit --help`.

mod cli;
mod commands;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let json = args.json;
    match commands::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                // Nothing more can be done if standard error is gone too.
                let _ = writeln!(std::io::stderr(), "sessionkit: {}", failure.message);
                if json {
                    // A script reading standard output gets the failure as JSON too.
                    let failed = serde_json::json!({
                        "ok": false,
                        "error": failure.message,
                        "exit_code": failure.code,
                    });
                    let _ = output::json(&failed, false);
                }
            }
            ExitCode::from(failure.code)
        }
    }
}
