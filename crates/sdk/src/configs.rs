//! The configurations the scheduler holds, as the API serves them (`GET /v1/configurations`,
//! `.../target`, `.../{id}`, `.../{id}/diff/{other}`): every stored spec by id, which one is the
//! target, when each was stored, and a line diff of two as YAML.
//!
//! The scheduler keeps a config for as long as the target or a stored task refers to it (the
//! others are deleted at its start): after an update, the old target is listed until the
//! rollout has relaunched every task and the scheduler starts again.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use cairn_core::spec::ServiceSpec;
use serde::{Deserialize, Serialize};

/// One stored config, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// Its id (a uuid).
    pub id: String,
    /// Whether it is the target the scheduler runs.
    pub target: bool,
    /// When it was stored, in milliseconds since the epoch (none for a config an older cairn
    /// stored).
    pub stored_at: Option<u64>,
}

/// The diff of two configs (`GET /v1/configurations/{id}/diff/{other}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    /// The config the diff goes from.
    pub from: String,
    /// The config it goes to.
    pub to: String,
    /// A unified diff of the two as YAML (`--- from`, `+++ to`, hunks with 3 lines of
    /// context); empty when they are the same.
    pub diff: String,
}

#[derive(Debug, Clone)]
struct Stored {
    spec: Arc<ServiceSpec>,
    stored_at: Option<u64>,
}

/// The configs the scheduler holds, replaced whole at each (re)start of the scheduler.
#[derive(Debug, Default)]
pub struct Configurations {
    configs: RwLock<BTreeMap<String, Stored>>,
}

impl Configurations {
    /// None yet.
    pub fn new() -> Configurations {
        Configurations::default()
    }

    /// The configs the scheduler holds now: `(id, spec, stored at)`.
    pub fn set(&self, configs: impl IntoIterator<Item = (String, ServiceSpec, Option<u64>)>) {
        let map = configs
            .into_iter()
            .map(|(id, spec, stored_at)| {
                (
                    id,
                    Stored {
                        spec: Arc::new(spec),
                        stored_at,
                    },
                )
            })
            .collect();
        // A poisoned lock only means a reader panicked; the map itself is whole.
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Every config, oldest first (then by id), marking `target`.
    pub fn list(&self, target: &str) -> Vec<ConfigEntry> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<ConfigEntry> = configs
            .iter()
            .map(|(id, s)| ConfigEntry {
                id: id.clone(),
                target: id == target,
                stored_at: s.stored_at,
            })
            .collect();
        list.sort_by(|a, b| {
            (a.stored_at.unwrap_or(0), &a.id).cmp(&(b.stored_at.unwrap_or(0), &b.id))
        });
        list
    }

    /// The spec of config `id`.
    pub fn get(&self, id: &str) -> Option<Arc<ServiceSpec>> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        configs.get(id).map(|s| s.spec.clone())
    }

    /// The ids held, sorted (for saying what there is).
    pub fn ids(&self) -> Vec<String> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        configs.keys().cloned().collect()
    }
}

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// The most cells the line-matching table may have (the lines between the common head and
/// tail, multiplied); past it the middle is shown as all removed then all added: still a
/// correct diff, only not the smallest.
const MAX_TABLE: usize = 4_000_000;

/// One line of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// A unified diff of `old` and `new` (texts), labelled `from` and `to`; empty when equal.
pub fn unified_diff(from: &str, to: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let lines = diff_lines(&a, &b);
    if lines.iter().all(|l| matches!(l, Line::Same(_))) {
        return String::new();
    }
    let mut out = format!("--- {from}\n+++ {to}\n");
    // Positions (in `lines`) of the changes, grouped into hunks whose context overlaps.
    let changed: Vec<usize> = (0..lines.len())
        .filter(|i| !matches!(lines[*i], Line::Same(_)))
        .collect();
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(lines.len());
        match hunks.last_mut() {
            Some(h) if start <= h.1 => h.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    for (start, end) in hunks {
        // Line numbers (1-based) in each text where the hunk starts.
        let before = &lines[..start];
        let old_at = before
            .iter()
            .filter(|l| !matches!(l, Line::Added(_)))
            .count();
        let new_at = before
            .iter()
            .filter(|l| !matches!(l, Line::Removed(_)))
            .count();
        let hunk = &lines[start..end];
        let old_len = hunk.iter().filter(|l| !matches!(l, Line::Added(_))).count();
        let new_len = hunk
            .iter()
            .filter(|l| !matches!(l, Line::Removed(_)))
            .count();
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            old_at + usize::from(old_len > 0),
            new_at + usize::from(new_len > 0)
        ));
        for line in hunk {
            let (mark, text) = match line {
                Line::Same(t) => (' ', t),
                Line::Removed(t) => ('-', t),
                Line::Added(t) => ('+', t),
            };
            out.push(mark);
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

/// The lines of `a` and `b` matched by a longest common subsequence (after the common head
/// and tail are set aside).
fn diff_lines<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Line<'a>> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut lines: Vec<Line<'a>> = a[..head].iter().map(|l| Line::Same(l)).collect();
    if ma.len().saturating_mul(mb.len()) > MAX_TABLE {
        lines.extend(ma.iter().map(|l| Line::Removed(l)));
        lines.extend(mb.iter().map(|l| Line::Added(l)));
    } else {
        // lcs[i][j]: the longest common subsequence of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() && j < mb.len() {
            if ma[i] == mb[j] {
                lines.push(Line::Same(ma[i]));
                i += 1;
                j += 1;
            } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
                lines.push(Line::Removed(ma[i]));
                i += 1;
            } else {
                lines.push(Line::Added(mb[j]));
                j += 1;
            }
        }
        lines.extend(ma[i..].iter().map(|l| Line::Removed(l)));
        lines.extend(mb[j..].iter().map(|l| Line::Added(l)));
    }
    lines.extend(a[a.len() - tail..].iter().map(|l| Line::Same(l)));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_an_empty_diff() {
        assert_eq!(unified_diff("a", "b", "x\ny\n", "x\ny\n"), "");
    }

    #[test]
    fn a_changed_line_shows_as_removed_then_added_with_its_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(
            unified_diff("one", "two", old, new),
            "--- one\n+++ two\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
    }

    #[test]
    fn far_apart_changes_make_separate_hunks_and_insertions_count_right() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .filter(|i| *i != 18)
            .flat_map(|i| match i {
                2 => vec!["2\n".to_string(), "new\n".to_string()],
                i => vec![format!("{i}\n")],
            })
            .collect();
        let diff = unified_diff("a", "b", &old, &new);
        assert!(
            diff.contains("@@ -1,5 +1,6 @@\n 1\n 2\n+new\n 3\n"),
            "{diff}"
        );
        assert!(diff.contains("@@ -15,6 +16,5 @@\n"), "{diff}");
        assert!(diff.contains("-18\n"), "{diff}");
    }
}
