//! The command line, as clap reads it; doc comments are the `--help` text.

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};

/// Look after the sessions of a sessionkit store: create its tables, clear expired
/// sessions, see how many there are and whose they are, and revoke them.
///
/// Exit codes: 0 success; 1 the store failed or cannot be reached; 2 bad usage or a bad
/// store URL; 3 no such session; 4 the store cannot do this (for example listing
/// sessions in Memcached).
#[derive(Debug, Parser)]
#[command(name = "sessionkit", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The store, as a URL: sqlite://path/to/sessions.db, postgres://user@host/db,
    /// mysql://user@host/db, redis://host:6379, memcache://host:11211, file:///path.
    /// An application's own session table or key prefix: ?table=name (SQL),
    /// ?prefix=text (Redis, Memcached).
    #[arg(long, env = "SESSIONKIT_STORE", global = true, hide_env_values = true)]
    pub(crate) store: Option<String>,

    /// Print JSON instead of tables (for scripts); a failure is then also printed as
    /// `{"ok": false, "error": …, "exit_code": …}` on standard output.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade the session table (safe to run again; SQL stores only need it).
    Migrate,
    /// Delete expired sessions in batches (a progress bar on a terminal, a summary line
    /// always). Run it from cron for SQL and file stores; Redis and Memcached expire
    /// sessions by themselves, and on Redis it prunes the user-index entries of
    /// sessions that expired.
    ClearExpired {
        /// Sessions deleted per batch (each batch is one short statement).
        #[arg(long, default_value_t = 10_000)]
        batch: u64,
    },
    /// How many sessions are live, how many expire within an hour and a day, and the
    /// users with the most sessions. SQL stores count an id that a login rotated away
    /// for the minutes it is kept (it forwards late requests to the new id).
    Stats {
        /// How many users to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// List live sessions (all of them, or those of one user), each with the id hash
    /// that `show` and `revoke` take.
    List {
        /// Only the sessions of this user.
        #[arg(long, value_parser = NonEmptyStringValueParser::new())]
        user: Option<String>,
        /// At most this many sessions (1 or more).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one session: the value of the session cookie (or the id hash that `list`
    /// prints). The session's CSRF secret is shown as hidden.
    Show {
        /// Session id as in the cookie, or its 64-character hash (ids may start with `-`).
        #[arg(allow_hyphen_values = true)]
        session: String,
    },
    /// Revoke one session, or every session of a user (optionally all but one).
    Revoke {
        /// Session id as in the cookie, or its 64-character hash.
        #[arg(
            required_unless_present = "user",
            conflicts_with = "user",
            allow_hyphen_values = true
        )]
        session: Option<String>,
        /// Revoke every session of this user.
        #[arg(long, value_parser = NonEmptyStringValueParser::new())]
        user: Option<String>,
        /// With --user: keep this session (id or hash), e.g. the one the user is using.
        #[arg(long, requires = "user", allow_hyphen_values = true)]
        except: Option<String>,
    },
}
