//! Human tables and JSON, written to standard output.

use std::io::Write as _;

use sessionkit_core::Record;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::commands::Failure;

/// Writes `text` and a newline to standard output. A reader that went away (`| head`
/// closed the pipe) stops the command quietly, with success: what it did is done, and
/// nobody is left to read the rest.
pub(crate) fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(Failure::output)
}

/// A timestamp as RFC 3339 (UTC).
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One line of result: JSON `{"ok": true, "message": …}` or the plain message.
pub(crate) fn done(json: bool, message: &str) -> Result<(), Failure> {
    if json {
        line(serde_json::json!({ "ok": true, "message": message }))
    } else {
        line(message)
    }
}

/// A session as JSON (never the raw id: stores do not have it).
pub(crate) fn record_json(r: &Record) -> serde_json::Value {
    serde_json::json!({
        "id_hash": r.id.to_hex(),
        "user": r.user,
        "created_at": when(r.created_at),
        "last_seen": when(r.last_seen),
        "expires_at": when(r.expires_at),
        "user_agent": r.client.user_agent,
        "address": r.client.address,
        "keys": r.data.len(),
    })
}

/// Prints rows under a header with columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let row_line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line(padded.join("  ").trim_end())
    };
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    row_line(&header)?;
    rows.iter().try_for_each(|row| row_line(row))
}

/// Sessions as a table, each with its whole id hash (what `show` and `revoke` take).
pub(crate) fn sessions_table(records: &[Record]) -> Result<(), Failure> {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.to_hex(),
                r.user.clone().unwrap_or_else(|| "-".into()),
                when(r.created_at),
                when(r.last_seen),
                when(r.expires_at),
                r.client.address.clone().unwrap_or_else(|| "-".into()),
                r.client
                    .user_agent
                    .as_deref()
                    .map_or_else(|| "-".into(), |ua| ua.chars().take(40).collect()),
            ]
        })
        .collect();
    table(
        &[
            "ID HASH",
            "USER",
            "CREATED",
            "LAST SEEN",
            "EXPIRES",
            "ADDRESS",
            "USER AGENT",
        ],
        &rows,
    )
}
