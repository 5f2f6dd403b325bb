//! The realistic session payload: what a logged-in shop user's session holds (about
//! 200 bytes of JSON), used by the seeded sessions and by the memory figure.

use serde_json::{json, Map, Value};

/// The payload of session number `n`: a user id and name, roles, a two-item cart, a
/// language and a CSRF token. Every session's strings differ, as they would in
/// production (nothing is shared between sessions).
pub fn entries(n: u64) -> Map<String, Value> {
    let value = json!({
        "user_id": 100_000 + n,
        "username": format!("customer{n:08}"),
        "roles": ["customer", "newsletter"],
        "cart": [{"sku": "A-1001", "qty": 2}, {"sku": format!("B-{:04}", n % 10_000), "qty": 1}],
        "language": "en-GB",
        "csrf": format!("{:032x}", u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The size of a payload as stored: its JSON text, in bytes.
pub fn json_size(entries: &Map<String, Value>) -> usize {
    serde_json::to_vec(entries).map_or(0, |bytes| bytes.len())
}
