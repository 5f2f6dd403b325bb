//! Human tables and JSON, written to standard output.

use std::io::Write as _;

use sessionkit_core::Record;
use time::OffsetDateTime;
use unicode_width::UnicodeWidthStr as _;

use crate::commands::Failure;

/// Writes `text` and a newline to standard output. A reader that went away (`| head`
/// closed the pipe) stops the command quietly, with success: what it did is done, and
/// nobody is left to read the rest.
pub(crate) fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(Failure::output)
}

/// A timestamp as RFC 3339 in UTC with milliseconds, always the same width: table
/// columns line up and the strings sort as the times do.
pub(crate) fn when(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
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

/// Prints rows under a header with columns padded to their widest cell, as a terminal
/// shows them: wide (CJK) characters take two columns, and control and bidi-override
/// characters, which could move the cursor, recolour or reorder the operator's terminal,
/// are written as escapes (`\u{1b}`).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let lines: Vec<Vec<String>> = std::iter::once(&header)
        .chain(rows)
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = vec![0; header.len()];
    for row in &lines {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    lines.iter().try_for_each(|cells| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.width())))
            .collect();
        line(padded.join("  ").trim_end())
    })
}

/// Whether a terminal could act on `c` or hide it ([`sessionkit_core::unsafe_to_show`]:
/// controls, bidi controls and marks, invisible look-alikes).
fn acts_on_terminal(c: char) -> bool {
    sessionkit_core::unsafe_to_show(c)
}

/// `text` with every character a terminal could act on written as its escape, and
/// `\` doubled, so that an escape and the character it stands for never look alike.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\\' => "\\\\".to_owned(),
            c if acts_on_terminal(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `value` as JSON (`pretty`: indented) that is safe on a terminal too: the
/// characters JSON leaves as they are but a terminal acts on (DEL, C1 controls, bidi
/// formatting) are written as `\uXXXX` escapes, which every JSON reader decodes.
pub(crate) fn json(value: &serde_json::Value, pretty: bool) -> Result<(), Failure> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| Failure::output(std::io::Error::other(e)))?;
    let safe: String = text
        .chars()
        .map(|c| {
            // JSON escapes the C0 controls in strings itself; a newline outside
            // them is the indentation's.
            if acts_on_terminal(c) && c != '\n' {
                format!("\\u{:04x}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect();
    line(safe)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_where_a_terminal_would_act_on_them() {
        assert_eq!(printable("ada"), "ada");
        assert_eq!(printable("山田"), "山田");
        assert_eq!(printable("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(printable("x\u{202e}y\n"), "x\\u{202e}y\\u{a}");
        assert_eq!(
            printable("user\u{200b}1\u{feff}"),
            "user\\u{200b}1\\u{feff}"
        );
        assert_eq!(
            printable("eve\\u{1b}"),
            "eve\\\\u{1b}",
            "a literal backslash is doubled"
        );
    }

    #[test]
    fn timestamps_have_one_width_and_sort_as_strings() {
        let t = time::macros::datetime!(2026-11-24 14:44:50.01 UTC);
        let u = time::macros::datetime!(2026-11-24 14:44:49.981 UTC);
        assert_eq!(when(t), "2026-11-24T14:44:50.010Z");
        assert_eq!(when(u), "2026-11-24T14:44:49.981Z");
        assert!(when(u) < when(t));
    }

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(printable("山田").width(), 4);
        assert_eq!(printable("ada").width(), 3);
    }
}
