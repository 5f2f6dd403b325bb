//! One module per subcommand, and what they share: opening the store, reading a session
//! reference, failures with exit codes.

mod clear_expired;
mod list;
mod revoke;
mod show;
mod stats;

use sessionkit_any::AnyStore;
use sessionkit_core::{IdHash, SessionId};

use crate::cli::{Cli, Command};

/// A failure: the message for stderr and the process exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    /// The store failed or cannot be reached (exit 1). The message is the error and
    /// each of its causes (store errors carry no password and no session id).
    pub(crate) fn store(e: impl std::error::Error) -> Self {
        Self {
            message: sessionkit_any::one_line(&e),
            code: 1,
        }
    }

    /// The store failed (exit 1), with what to do about it.
    pub(crate) fn store_because(e: &dyn std::error::Error, hint: &str) -> Self {
        Self {
            message: format!("{}; {hint}", sessionkit_any::one_line(e)),
            code: 1,
        }
    }

    /// Writing the output failed. A closed pipe (the reader, say `head`, had enough)
    /// ends the command quietly with success; any other error is exit 1.
    pub(crate) fn output(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Self {
                message: String::new(),
                code: 0,
            };
        }
        Self {
            message: format!("cannot write the output: {e}"),
            code: 1,
        }
    }

    /// Bad usage or configuration (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// No such session (exit 3).
    pub(crate) fn not_found() -> Self {
        Self::not_found_because("")
    }

    /// No such session (exit 3), with why.
    pub(crate) fn not_found_because(why: &str) -> Self {
        let sep = if why.is_empty() { "" } else { ": " };
        Self {
            message: format!("no such live session{sep}{why}"),
            code: 3,
        }
    }

    /// The store lacks the capability (exit 4).
    pub(crate) fn unsupported(store: &AnyStore, what: &str) -> Self {
        Self {
            message: format!("{} cannot {what}", store.describe()),
            code: 4,
        }
    }
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> Result<(), Failure> {
    let url = cli
        .store
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let url = url.ok_or_else(|| {
        Failure::usage("no store given: pass --store URL or set SESSIONKIT_STORE (e.g. sqlite://data/sessions.db)")
    })?;
    let opened = match cli.command {
        Command::Migrate => sessionkit_any::open(url).await,
        // Only `migrate` may create a database file or a session directory: a mistyped
        // path elsewhere is an error, not an empty store that "works".
        _ => sessionkit_any::open_existing(url).await,
    };
    let store = opened.map_err(|e| match e {
        sessionkit_any::OpenError::Store(_) => Failure::store(e),
        _ => Failure::usage(sessionkit_any::one_line(&e)),
    })?;
    let json = cli.json;
    match cli.command {
        Command::Migrate => {
            store.migrate().await.map_err(Failure::store)?;
            crate::output::done(json, &format!("{} is ready", store.describe()))
        }
        Command::ClearExpired { batch } => clear_expired::run(&store, batch, json).await,
        Command::Stats { top } => stats::run(&store, top, json).await,
        Command::List { user, limit } => list::run(&store, user.as_deref(), limit, json).await,
        Command::Show { session } => show::run(&store, &session, json).await,
        Command::Revoke {
            session,
            user,
            except,
        } => {
            revoke::run(
                &store,
                session.as_deref(),
                user.as_deref(),
                except.as_deref(),
                json,
            )
            .await
        }
    }
}

/// Reads what an operator pastes: a session id as in the cookie (also the signed form,
/// whose last 32 characters are the id) or the 64-character hash that `list` prints.
pub(crate) fn session_ref(text: &str) -> Result<IdHash, Failure> {
    let text = text.trim();
    if let Some(hash) = IdHash::from_hex(text) {
        return Ok(hash);
    }
    // A signed cookie's value is the HMAC-SHA256 (44 characters of padded base64)
    // followed by the id; nothing else in front of an id is accepted.
    let signed_id = (text.len() == 44 + 32)
        .then(|| text.split_at_checked(44))
        .flatten()
        .filter(|(mac, _)| {
            mac.ends_with('=')
                && mac[..43]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        })
        .map(|(_, id)| id);
    SessionId::parse(text)
        .or_else(|| signed_id.and_then(SessionId::parse))
        .map(|id| id.hash())
        .ok_or_else(|| {
            Failure::usage(
                "not a session id (32 characters of base64url) nor an id hash (64 hex digits)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_refs_are_an_id_its_signed_form_or_a_hash_and_nothing_else() {
        let id = SessionId::generate().expect("randomness");
        let hash = Some(id.hash());
        let signed = format!("{}={id}", "Ab+/".repeat(10) + "xyz");
        assert_eq!(session_ref(&id.to_string()).ok(), hash);
        assert_eq!(session_ref(&signed).ok(), hash);
        assert_eq!(session_ref(&id.hash().to_hex()).ok(), hash);
        for bad in [
            "g".repeat(64),
            format!("junk{id}"),
            format!("{}!{id}", "A".repeat(43)),
            format!("{}A{id}", "A".repeat(43)),
        ] {
            assert!(session_ref(&bad).is_err(), "{bad}");
        }
    }
}
