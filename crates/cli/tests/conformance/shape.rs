//! The shape of an answer: what a client can rely on (which fields exist, their types, the
//! enum values it branches on) without what differs from run to run (ids, times, counts).
//! Two clusters that answer the same call with the same shape are interchangeable for a client;
//! where the shapes differ, the lines that differ are the difference.

use std::collections::BTreeSet;

use serde_json::Value;

/// A recording of one scenario on one cluster: a line per fact, `step: path = shape`.
#[derive(Default)]
pub struct Record {
    lines: BTreeSet<String>,
}

impl Record {
    /// Records the shape of a JSON answer under `step`.
    pub fn json(&mut self, step: &str, value: &Value) {
        flatten(step, value, &mut self.lines);
    }

    /// Records a fact that is a value on both clusters (a state, a status code, a reason).
    pub fn fact(&mut self, step: &str, value: impl std::fmt::Display) {
        self.lines.insert(format!("{step} = {value}"));
    }

    pub fn lines(&self) -> impl Iterator<Item = &String> {
        self.lines.iter()
    }
}

/// Whether a string is an enum value (`TASK_RUNNING`, `SANDBOX_PATH`): those are kept, being
/// what clients branch on; every other string is only a string.
fn is_enum_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn leaf(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "bool".to_string(),
        Value::Number(_) => "number".to_string(),
        Value::String(s) if is_enum_token(s) => format!("\"{s}\""),
        Value::String(_) => "string".to_string(),
        Value::Array(_) => "array".to_string(),
        Value::Object(_) => "object".to_string(),
    }
}

/// `path = leaf` for every leaf; array elements share the path `path[]`, so a list's length
/// never shows, and an empty list shows as `[]`.
fn flatten(path: &str, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if map.is_empty() {
                out.insert(format!("{path} = {{}}"));
            }
            for (k, v) in map {
                flatten(&format!("{path}.{k}"), v, out);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.insert(format!("{path} = []"));
            }
            for v in items {
                flatten(&format!("{path}[]"), v, out);
            }
        }
        other => {
            out.insert(format!("{path} = {}", leaf(other)));
        }
    }
}

/// A difference the suite knows of: lines under `prefix` that only one side has, and why.
pub struct Known {
    pub prefix: &'static str,
    pub why: &'static str,
}

/// The lines only `a` has and the lines only `b` has, each less the known differences.
pub fn diff<'a>(
    a: &'a Record,
    b: &'a Record,
    known: &[Known],
) -> (Vec<&'a String>, Vec<&'a String>) {
    let explained = |l: &String| known.iter().any(|k| l.starts_with(k.prefix));
    let only_a = a
        .lines
        .difference(&b.lines)
        .filter(|l| !explained(l))
        .collect();
    let only_b = b
        .lines
        .difference(&a.lines)
        .filter(|l| !explained(l))
        .collect();
    (only_a, only_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_times_and_counts_do_not_show_but_enum_values_and_fields_do() {
        let mut a = Record::default();
        let mut b = Record::default();
        a.json(
            "update",
            &serde_json::json!({"state": "TASK_RUNNING", "task_id": {"value": "t1"},
                                "timestamp": 1.5, "labels": [{"key": "a"}, {"key": "b"}]}),
        );
        b.json(
            "update",
            &serde_json::json!({"state": "TASK_RUNNING", "task_id": {"value": "other"},
                                "timestamp": 99.0, "labels": [{"key": "z"}]}),
        );
        assert_eq!(diff(&a, &b, &[]), (vec![], vec![]));
        b.json("update", &serde_json::json!({"state": "TASK_FAILED"}));
        let (only_a, only_b) = diff(&a, &b, &[]);
        assert!(only_a.is_empty());
        assert_eq!(only_b, vec!["update.state = \"TASK_FAILED\""]);
    }
}
