//! What a request did to its session, as operations that can be applied again to a
//! fresher copy of the record when a compare-and-swap loses a race.

use serde_json::{Map, Number, Value};

use crate::{ClientInfo, Data, Expiry, Record};

/// One change a request made.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set a key (last writer wins for that key).
    Insert(String, Value),
    /// Remove a key.
    Remove(String),
    /// Remove every key.
    Clear,
    /// Append to the list at a key (created if missing; a non-list is replaced).
    Push(String, Value),
    /// Append to the list at a key and keep only its last `n` items.
    PushCapped(String, Value, usize),
    /// Add to the integer at a key (created as 0 if missing or not an integer).
    Increment(String, i64),
    /// Merge entries into the map at a key (created if missing; a non-map is replaced).
    Merge(String, Map<String, Value>),
    /// Change the session's expiry override.
    SetExpiry(Expiry),
    /// Bind the session to a user, or unbind it.
    SetUser(Option<String>),
    /// Record the client the session belongs to.
    SetClient(ClientInfo),
}

/// The ordered operations of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    ops: Vec<Op>,
}

impl Changes {
    /// Records an operation.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The recorded operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The operations recorded after the one at `index` (none past the end).
    pub fn after(&self, index: usize) -> Changes {
        Changes {
            ops: self.ops.get(index + 1..).unwrap_or_default().to_vec(),
        }
    }

    /// Forgets everything recorded.
    pub fn reset(&mut self) {
        self.ops.clear();
    }

    /// Applies every operation, in order, to `record`.
    pub fn apply(&self, record: &mut Record) {
        for op in &self.ops {
            apply_op(op, record);
        }
    }

    /// Applies only the operations on metadata (expiry, user, client), for a record
    /// whose data already has this request's data operations applied.
    pub fn apply_metadata(&self, record: &mut Record) {
        for op in &self.ops {
            apply_to_metadata(op, record);
        }
    }
}

/// Applies one operation to a record.
pub(crate) fn apply_op(op: &Op, record: &mut Record) {
    if !apply_to_metadata(op, record) {
        apply_to_data(op, &mut record.data);
    }
}

/// Applies an operation on the record's metadata (expiry, user, client); `false` for
/// an operation on its data, which is left alone.
pub(crate) fn apply_to_metadata(op: &Op, record: &mut Record) -> bool {
    match op {
        Op::SetExpiry(e) => record.expiry = *e,
        Op::SetUser(u) => record.user.clone_from(u),
        Op::SetClient(c) => record.client = c.clone(),
        _ => return false,
    }
    true
}

/// Applies the data part of an operation to a map; returns the new value at the key for
/// `Increment`.
pub(crate) fn apply_to_data(op: &Op, data: &mut Data) -> Option<i64> {
    match op {
        Op::Insert(k, v) => {
            data.insert(k.clone(), v.clone());
        }
        Op::Remove(k) => {
            data.remove(k);
        }
        Op::Clear => data.clear(),
        Op::Push(k, v) => match data.get_mut(k) {
            Some(Value::Array(list)) => list.push(v.clone()),
            _ => {
                data.insert(k.clone(), Value::Array(vec![v.clone()]));
            }
        },
        Op::PushCapped(k, v, keep) => {
            apply_to_data(&Op::Push(k.clone(), v.clone()), data);
            if let Some(Value::Array(list)) = data.get_mut(k) {
                let excess = list.len().saturating_sub(*keep);
                list.drain(..excess);
            }
        }
        Op::Increment(k, by) => {
            let current = data.get(k).and_then(Value::as_i64).unwrap_or(0);
            let next = current.saturating_add(*by);
            data.insert(k.clone(), Value::Number(Number::from(next)));
            return Some(next);
        }
        Op::Merge(k, entries) => match data.get_mut(k) {
            Some(Value::Object(map)) => {
                map.extend(entries.iter().map(|(a, b)| (a.clone(), b.clone())));
            }
            _ => {
                data.insert(k.clone(), Value::Object(entries.clone()));
            }
        },
        Op::SetExpiry(_) | Op::SetUser(_) | Op::SetClient(_) => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Data {
        match v {
            Value::Object(m) => m,
            _ => Data::new(),
        }
    }

    #[test]
    fn replaying_pushes_on_a_fresher_record_keeps_both_writers_items() {
        let mut mine = Changes::default();
        mine.push(Op::Push("cart".into(), json!("apple")));
        let mut fresh = data(json!({"cart": ["banana"]}));
        for op in mine.ops() {
            apply_to_data(op, &mut fresh);
        }
        assert_eq!(fresh["cart"], json!(["banana", "apple"]));
    }

    #[test]
    fn capped_push_keeps_the_last_items_even_when_replayed() {
        let mut d = data(json!({"h": ["a", "b", "c"]}));
        apply_to_data(&Op::PushCapped("h".into(), json!("d"), 3), &mut d);
        assert_eq!(d["h"], json!(["b", "c", "d"]));
        apply_to_data(&Op::PushCapped("h".into(), json!("e"), 0), &mut d);
        assert_eq!(d["h"], json!([]));
        let mut fresh = data(json!({"h": ["x"]}));
        apply_to_data(&Op::PushCapped("h".into(), json!("y"), 50), &mut fresh);
        assert_eq!(fresh["h"], json!(["x", "y"]));
    }

    #[test]
    fn increment_creates_adds_and_saturates() {
        let mut d = Data::new();
        assert_eq!(
            apply_to_data(&Op::Increment("n".into(), 2), &mut d),
            Some(2)
        );
        assert_eq!(
            apply_to_data(&Op::Increment("n".into(), -5), &mut d),
            Some(-3)
        );
        d.insert("n".into(), json!(i64::MAX));
        assert_eq!(
            apply_to_data(&Op::Increment("n".into(), 1), &mut d),
            Some(i64::MAX)
        );
        d.insert("s".into(), json!("text"));
        assert_eq!(
            apply_to_data(&Op::Increment("s".into(), 1), &mut d),
            Some(1)
        );
    }

    #[test]
    fn merge_adds_entries_and_replaces_non_maps() {
        let mut d = data(json!({"prefs": {"theme": "dark"}, "x": 1}));
        let entries = data(json!({"lang": "fr"}));
        apply_to_data(&Op::Merge("prefs".into(), entries.clone()), &mut d);
        apply_to_data(&Op::Merge("x".into(), entries), &mut d);
        assert_eq!(
            Value::Object(d),
            json!({"prefs": {"theme": "dark", "lang": "fr"}, "x": {"lang": "fr"}})
        );
    }

    #[test]
    fn clear_then_insert_leaves_only_the_new_key() {
        let mut d = data(json!({"a": 1, "b": 2}));
        apply_to_data(&Op::Clear, &mut d);
        apply_to_data(&Op::Insert("c".into(), json!(3)), &mut d);
        assert_eq!(Value::Object(d), json!({"c": 3}));
    }
}
