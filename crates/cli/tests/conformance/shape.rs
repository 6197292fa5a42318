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

/// Whether `s` starts with a UUID (`8-4-4-4-12` hex digits).
fn starts_with_uuid(s: &str) -> bool {
    let groups = [8, 4, 4, 4, 12];
    let mut rest = s.as_bytes();
    for (i, len) in groups.iter().enumerate() {
        if rest.len() < *len || !rest[..*len].iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        rest = &rest[*len..];
        if i + 1 < groups.len() {
            if rest.first() != Some(&b'-') {
                return false;
            }
            rest = &rest[1..];
        }
    }
    true
}

/// An object key with the ids in it written as `<id>`: some answers key objects by an id (the
/// metrics name each framework's counters `master/frameworks/<name>/<framework id>/...`), and
/// ids differ from run to run as the values that are ids do. A Mesos id is a UUID, perhaps
/// followed by `-<n>` (a framework), `-S<n>` (an agent) or `-O<n>` (an offer).
fn normalize_key(key: &str) -> String {
    let mut out = String::new();
    let mut rest = key;
    while !rest.is_empty() {
        if starts_with_uuid(rest) {
            rest = &rest[36..];
            if let Some(tail) = rest.strip_prefix('-') {
                let tail = tail.strip_prefix(['S', 'O']).unwrap_or(tail);
                let digits = tail.chars().take_while(char::is_ascii_digit).count();
                if digits > 0 {
                    rest = &tail[digits..];
                }
            }
            out.push_str("<id>");
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
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
                flatten(&format!("{path}.{}", normalize_key(k)), v, out);
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

/// A difference the suite knows of: lines under `prefix` that only one side has, and why. A
/// `*` in it stands for any run of characters, so that one field can be named wherever it
/// appears (`endpoints./*flags.zk_session_timeout *`): such a pattern covers a line that it
/// matches as a prefix.
pub struct Known {
    pub prefix: &'static str,
    pub why: &'static str,
}

impl Known {
    pub fn covers(&self, line: &str) -> bool {
        glob_prefix(self.prefix, line)
    }
}

/// Whether `line` starts with something `pattern` matches, `*` matching any run of characters.
fn glob_prefix(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The lines only `a` has and the lines only `b` has, each less the known differences.
pub fn diff<'a>(
    a: &'a Record,
    b: &'a Record,
    known: &[Known],
) -> (Vec<&'a String>, Vec<&'a String>) {
    let explained = |l: &String| known.iter().any(|k| k.covers(l));
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

    #[test]
    fn ids_in_object_keys_do_not_show_either() {
        let mut a = Record::default();
        let mut b = Record::default();
        a.json(
            "metrics",
            &serde_json::json!({"master/frameworks/x/375f7237-a878-456e-9bfc-9cf8ba13c9b1-0007/calls": 1,
                                "agents": {"375f7237-a878-456e-9bfc-9cf8ba13c9b1-S12": 1}}),
        );
        b.json(
            "metrics",
            &serde_json::json!({"master/frameworks/x/0a1b2c3d-a878-456e-9bfc-9cf8ba13c9b1-0000/calls": 2,
                                "agents": {"0a1b2c3d-a878-456e-9bfc-9cf8ba13c9b1-S0": 1}}),
        );
        assert_eq!(diff(&a, &b, &[]), (vec![], vec![]));
        assert!(a
            .lines()
            .any(|l| l == "metrics.master/frameworks/x/<id>/calls = number"));
    }

    #[test]
    fn a_known_difference_names_a_field_by_prefix_or_wherever_it_appears() {
        let known = |prefix| Known { prefix, why: "" };
        let line = "endpoints./master/state.flags.zk_session_timeout = string";
        assert!(known("endpoints./master/state.flags.zk").covers(line));
        assert!(known("endpoints./*flags.zk_session_timeout =").covers(line));
        assert!(!known("endpoints./*flags.zk_session_timeout =")
            .covers("endpoints./master/state.flags.zk_session_timeouts = string"));
        assert!(!known("operator.*flags.zk").covers(line));
    }
}
