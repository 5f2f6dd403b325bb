//! Human tables and JSON.

use sessionkit_core::Record;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A timestamp as RFC 3339 (UTC).
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One line of result: JSON `{"ok": true, "message": …}` or the plain message.
pub(crate) fn done(json: bool, message: &str) {
    if json {
        println!("{}", serde_json::json!({ "ok": true, "message": message }));
    } else {
        println!("{message}");
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
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Sessions as a table.
pub(crate) fn sessions_table(records: &[Record]) {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.to_hex()[..16].to_owned(),
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
    );
}
