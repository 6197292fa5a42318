//! The outline of a YAML text: where each mapping entry and sequence item is, named by the
//! path that problems use (`pods.data.tasks.node.cpus`, `plans.deploy.phases.p.steps[0]`).
//!
//! Why: the YAML library reports one problem at a time, with its position; conversion and
//! validation name places by path only. The outline gives every path its line, and tells the
//! reader which bytes an entry or its value covers, so that an entry can be taken out of the
//! text (or its value replaced by a neutral one) to read on past a problem.
//!
//! It is a scan, not a parser, and it is only run on text the YAML parser has accepted. It
//! follows what svc.yml uses: block mappings and sequences (also `- key: value` and `- - x` on
//! one line), flow collections over any number of lines, plain scalars continued on further
//! lines, quoted scalars, block scalars (`|`, `>`), comments, anchors, aliases and tags. A
//! complex key (`? `) is not named, and neither is anything inside it.

use std::collections::HashMap;

/// One mapping entry (`key: value`) or sequence item (`- value`, or an item of `[...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `pods.a.tasks.t.cpus`, `uris[1]`: keys joined by `.`, items as `[index]`.
    pub(crate) path: String,
    /// The 1-based line it starts on.
    pub(crate) line: usize,
    /// Byte offset of its key, of its `-`, or of a flow item's first byte.
    pub(crate) start: usize,
    /// Byte offset just after its `:` or `-`; a flow sequence item's first byte.
    pub(crate) value_start: usize,
    /// Byte offset just after the last byte of its value (its `:` when it has none).
    pub(crate) end: usize,
    /// The entry whose value holds this one; `None` at the top.
    pub(crate) parent: Option<usize>,
    /// Whether it is written in a flow collection (`{...}`, `[...]`).
    pub(crate) flow: bool,
    /// Whether it is a sequence item (else a mapping entry).
    pub(crate) item: bool,
}

/// Every entry of a text, in document order.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    pub(crate) entries: Vec<Entry>,
    /// The first entry of each path: a report of 100 problems over a spec of 100,000 entries
    /// looks each up once, not through every entry.
    first: HashMap<String, usize>,
}

impl Outline {
    /// The outline of `text`.
    pub(crate) fn of(text: &str) -> Self {
        let mut scan = Scan {
            b: text.as_bytes(),
            line_starts: line_starts(text),
            entries: Vec::new(),
        };
        if let Some(first) = scan.first_content(0) {
            scan.node(first, -1, None, "", false);
        }
        let mut first = HashMap::with_capacity(scan.entries.len());
        for (i, e) in scan.entries.iter().enumerate() {
            first.entry(e.path.clone()).or_insert(i);
        }
        Outline {
            entries: scan.entries,
            first,
        }
    }

    /// The line of the entry at `path`, or else of its nearest ancestor that is written down
    /// (a problem about a key left out, such as a missing `count`, is placed at its pod).
    /// `None` when not even the first key of the path is in the text.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(&i) = self.first.get(path) {
                return Some(self.entries[i].line);
            }
            path = parent_path(path)?;
        }
    }

    /// The entries at `path`, in document order (more than one when a key is repeated).
    pub(crate) fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (usize, &'a Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.path == path)
    }

    /// How many entries share `index`'s collection (itself included).
    pub(crate) fn siblings(&self, index: usize) -> usize {
        let parent = self.entries[index].parent;
        self.entries.iter().filter(|e| e.parent == parent).count()
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Byte offsets at which lines start.
pub(crate) fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of 1-based `line` and `column` (counted in characters), kept within the
/// line.
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let starts = line_starts(text);
    let Some(&start) = starts.get(line.saturating_sub(1)) else {
        return text.len();
    };
    let rest = &text[start..];
    let line_len = rest.find('\n').unwrap_or(rest.len());
    rest[..line_len]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(start + line_len, |(i, _)| start + i)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Scan<'a> {
    b: &'a [u8],
    line_starts: Vec<usize>,
    entries: Vec<Entry>,
}

impl Scan<'_> {
    fn byte(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(b'\n')
    }

    /// 1-based line of byte `i`.
    fn line(&self, i: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= i)
    }

    fn line_start(&self, i: usize) -> usize {
        self.line_starts[self.line(i) - 1]
    }

    fn line_end(&self, i: usize) -> usize {
        self.b[i.min(self.b.len())..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |p| i + p)
    }

    /// Column of byte `i` in characters (0-based).
    fn column(&self, i: usize) -> usize {
        let i = i.min(self.b.len());
        self.b[self.line_start(i)..i]
            .iter()
            .filter(|&&c| c & 0xC0 != 0x80)
            .count()
    }

    fn is_space(c: u8) -> bool {
        c == b' ' || c == b'\t' || c == b'\r'
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while i < self.b.len() && Self::is_space(self.b[i]) {
            i += 1;
        }
        i
    }

    /// Whether nothing but spaces and a comment follows `i` on its line.
    fn rest_is_empty(&self, i: usize) -> bool {
        let i = self.skip_spaces(i);
        i >= self.b.len() || self.b[i] == b'\n' || self.b[i] == b'#'
    }

    /// The first byte of the first line with content at or after the line holding `from`,
    /// skipping blank and comment lines, and a document start (`---`) at the top.
    fn first_content(&self, from: usize) -> Option<usize> {
        let mut line = self.line(from);
        while line <= self.line_starts.len() {
            let start = self.line_starts[line - 1];
            let i = self.skip_spaces(start);
            let end = self.line_end(start);
            let text = &self.b[i..end];
            let marker =
                |m: &[u8]| text.starts_with(m) && text.get(3).is_none_or(|&c| Self::is_space(c));
            if i < self.b.len() && !text.is_empty() && text[0] != b'#' {
                if i == start && marker(b"...") {
                    return None;
                }
                if !(i == start && marker(b"---")) {
                    return Some(i);
                }
            }
            line += 1;
        }
        None
    }

    /// The first content byte on a line after the one holding `i`.
    fn next_content(&self, i: usize) -> Option<usize> {
        let next = self.line_end(i) + 1;
        if next > self.b.len() {
            return None;
        }
        self.first_content(next)
    }

    fn is_dash(&self, i: usize) -> bool {
        self.byte(i) == b'-' && (Self::is_space(self.byte(i + 1)) || self.byte(i + 1) == b'\n')
    }

    /// After `&anchor` and `!tag` tokens (each followed by a space), where the node's own
    /// text starts.
    fn skip_properties(&self, mut i: usize) -> usize {
        while matches!(self.byte(i), b'&' | b'!') {
            while i < self.b.len() && !Self::is_space(self.b[i]) && self.b[i] != b'\n' {
                i += 1;
            }
            i = self.skip_spaces(i);
        }
        i
    }

    /// The end of a quoted scalar opening at `i` (just after its closing quote).
    fn quoted_end(&self, i: usize) -> usize {
        let quote = self.b[i];
        let mut j = i + 1;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' if quote == b'"' => j += 2,
                b'\'' if quote == b'\'' && self.byte(j + 1) == b'\'' => j += 2,
                c if c == quote => return j + 1,
                _ => j += 1,
            }
        }
        self.b.len()
    }

    /// A key starting at `i` on this line (`key:`, `"key":`, `'key':` followed by a space or
    /// the end of the line): the key as written, unquoted, and the offset just after its `:`.
    fn key_at(&self, i: usize) -> Option<(String, usize)> {
        let end = self.line_end(i);
        match self.byte(i) {
            b'"' | b'\'' => {
                let close = self.quoted_end(i);
                if close > end {
                    return None;
                }
                let colon = self.skip_spaces(close);
                if self.byte(colon) != b':' || !self.ends_key(colon + 1) {
                    return None;
                }
                let inner = String::from_utf8_lossy(&self.b[i + 1..close - 1]);
                let key = if self.b[i] == b'\'' {
                    inner.replace("''", "'")
                } else {
                    inner.replace("\\\"", "\"").replace("\\\\", "\\")
                };
                Some((key, colon + 1))
            }
            b'?' | b'#' | b'{' | b'[' | b'|' | b'>' | b'*' | b'&' | b'!' | b'%' | b'@' | b'`' => {
                None
            }
            b'-' if self.is_dash(i) => None,
            _ => {
                let mut j = i;
                while j < end {
                    match self.b[j] {
                        b':' if self.ends_key(j + 1) => {
                            let key = String::from_utf8_lossy(&self.b[i..j]);
                            return Some((key.trim_end().to_string(), j + 1));
                        }
                        b'#' if j > i && Self::is_space(self.b[j - 1]) => return None,
                        _ => j += 1,
                    }
                }
                None
            }
        }
    }

    /// A key at `i`, after any properties (`&anchor`, `!tag`) of its own.
    fn keyed_at(&self, i: usize) -> Option<(String, usize)> {
        self.key_at(self.skip_properties(i))
    }

    fn ends_key(&self, i: usize) -> bool {
        let c = self.byte(i);
        Self::is_space(c) || c == b'\n'
    }

    fn push(
        &mut self,
        path: String,
        start: usize,
        value_start: usize,
        parent: Option<usize>,
        flow: bool,
        item: bool,
    ) -> usize {
        self.entries.push(Entry {
            line: self.line(start),
            path,
            start,
            value_start,
            end: value_start,
            parent,
            flow,
            item,
        });
        self.entries.len() - 1
    }

    /// A node whose text starts at content byte `i` (the first of its line, or after `- `):
    /// a block collection, a flow collection or a scalar. `indent` is the column of the
    /// collection holding it (-1 at the top), `owner` the entry it is the value of. Returns the
    /// end of its text.
    fn node(
        &mut self,
        i: usize,
        indent: isize,
        owner: Option<usize>,
        path: &str,
        compact_only: bool,
    ) -> usize {
        // Properties before a key on its line are the key's (`&a key: 1`).
        if self.keyed_at(i).is_some() {
            return self.block_mapping(i, owner, path);
        }
        let i = self.skip_properties(i);
        if self.is_dash(i) {
            return self.block_sequence(i, owner, path);
        }
        if compact_only {
            return i;
        }
        self.scalar_or_flow(i, owner, path, indent)
    }

    /// A value that is not a block collection: a flow collection, a quoted, block or plain
    /// scalar, or an alias. `indent` is the column of the collection holding it: continuation
    /// lines of a scalar are those indented more, even if less than its first line.
    fn scalar_or_flow(
        &mut self,
        i: usize,
        owner: Option<usize>,
        path: &str,
        indent: isize,
    ) -> usize {
        match self.byte(i) {
            b'{' | b'[' => self.flow(i, owner, path),
            b'"' | b'\'' => self.quoted_end(i),
            b'|' | b'>' => {
                let mut end = self.trimmed_line_end(i);
                let mut next = self.line_end(i) + 1;
                while next < self.b.len() {
                    let content = self.skip_spaces(next);
                    let line_end = self.line_end(next);
                    if content < line_end && self.column(content) as isize <= indent {
                        break;
                    }
                    if content < line_end {
                        end = self.trimmed_line_end(content);
                    }
                    next = line_end + 1;
                }
                end
            }
            _ => {
                let mut end = self.plain_line_end(i);
                // A plain scalar goes on over lines indented more than its collection.
                let mut at = end;
                while let Some(next) = self.next_content(at) {
                    if self.column(next) as isize <= indent {
                        break;
                    }
                    end = self.plain_line_end(next);
                    at = end;
                }
                end
            }
        }
    }

    /// End of the line's text from `i`, trailing spaces left out.
    fn trimmed_line_end(&self, i: usize) -> usize {
        let mut end = self.line_end(i);
        while end > i && Self::is_space(self.b[end - 1]) {
            end -= 1;
        }
        end
    }

    /// End of a plain scalar's text on its line: before ` #` or the end of the line.
    fn plain_line_end(&self, i: usize) -> usize {
        let line_end = self.line_end(i);
        let mut end = line_end;
        for j in i..line_end {
            if self.b[j] == b'#' && j > i && Self::is_space(self.b[j - 1]) {
                end = j;
                break;
            }
        }
        while end > i && Self::is_space(self.b[end - 1]) {
            end -= 1;
        }
        end
    }

    /// The value after a block entry's `:` or `-` at `after`; `indent` is the column of the
    /// entry's collection. Returns the end of the value's text (`after` when it has none).
    fn block_value(&mut self, after: usize, indent: usize, owner: usize, item: bool) -> usize {
        let path = self.entries[owner].path.clone();
        let mut i = self.skip_spaces(after);
        i = self.skip_properties(i);
        if self.rest_is_empty(i) {
            // The value is on the lines below: indented more, or a sequence at the key's own
            // indentation (`key:` then `- a`).
            return match self.next_content(i) {
                // (A block scalar indicator there is a value too, to the YAML library.)
                Some(next)
                    if self.column(next) > indent
                        || (!item
                            && self.column(next) == indent
                            && (self.is_dash(next) || self.keyed_at(next).is_none())) =>
                {
                    self.node(next, indent as isize, Some(owner), &path, false)
                }
                // Nothing but properties (`key: &anchor`): they are the value's text.
                _ => {
                    let mut end = i;
                    while end > after && Self::is_space(self.b[end - 1]) {
                        end -= 1;
                    }
                    end
                }
            };
        }
        if item && (self.is_dash(i) || self.keyed_at(i).is_some()) {
            // `- - a` or `- key: value`: a collection starting on the item's own line.
            return self.node(i, indent as isize, Some(owner), &path, true);
        }
        self.scalar_or_flow(i, Some(owner), &path, indent as isize)
    }

    fn block_mapping(&mut self, first: usize, owner: Option<usize>, path: &str) -> usize {
        let indent = self.column(first);
        let mut at = first;
        let mut end = first;
        while let Some((key, after)) = self.keyed_at(at) {
            let entry = self.push(join(path, &key), at, after, owner, false, false);
            end = self.block_value(after, indent, entry, false);
            self.entries[entry].end = end;
            match self.next_content(end) {
                Some(next) if self.column(next) == indent && self.keyed_at(next).is_some() => {
                    at = next;
                }
                _ => break,
            }
        }
        end
    }

    fn block_sequence(&mut self, first: usize, owner: Option<usize>, path: &str) -> usize {
        let indent = self.column(first);
        let mut at = first;
        let mut end = first;
        for index in 0.. {
            let entry = self.push(format!("{path}[{index}]"), at, at + 1, owner, false, true);
            end = self.block_value(at + 1, indent, entry, true);
            end = end.max(at + 1);
            self.entries[entry].end = end;
            match self.next_content(end) {
                Some(next) if self.column(next) == indent && self.is_dash(next) => at = next,
                _ => break,
            }
        }
        end
    }

    /// Skips spaces, line breaks and comments inside a flow collection.
    fn skip_flow_space(&self, mut i: usize) -> usize {
        while i < self.b.len() {
            match self.b[i] {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'#' => i = self.line_end(i),
                _ => break,
            }
        }
        i
    }

    /// A flow collection opening at `open`; returns the offset just after its closing bracket.
    fn flow(&mut self, open: usize, owner: Option<usize>, path: &str) -> usize {
        let mapping = self.b[open] == b'{';
        let close = if mapping { b'}' } else { b']' };
        let mut i = open + 1;
        let mut index = 0;
        loop {
            i = self.skip_flow_space(i);
            if i >= self.b.len() {
                return self.b.len();
            }
            match self.b[i] {
                c if c == close => return i + 1,
                b',' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let start = i;
            let entry = if mapping {
                let key_end = self.flow_key_end(i);
                let raw = &self.b[i..key_end];
                let key = match raw.first() {
                    Some(b'"' | b'\'') if raw.len() >= 2 => {
                        String::from_utf8_lossy(&raw[1..raw.len() - 1]).into_owned()
                    }
                    _ => String::from_utf8_lossy(raw).trim_end().to_string(),
                };
                let colon = self.skip_flow_space(key_end);
                if self.byte(colon) == b':' {
                    let e = self.push(join(path, &key), start, colon + 1, owner, true, false);
                    let end = self.flow_value(colon + 1, e);
                    self.entries[e].end = end.max(colon + 1);
                    e
                } else {
                    let e = self.push(join(path, &key), start, key_end, owner, true, false);
                    self.entries[e].end = key_end;
                    e
                }
            } else {
                let e = self.push(format!("{path}[{index}]"), start, start, owner, true, true);
                index += 1;
                let end = self.flow_value(start, e);
                self.entries[e].end = end;
                e
            };
            i = self.entries[entry].end.max(i + 1);
        }
    }

    /// End of a flow mapping key at `i`: after its closing quote, or before the `:` that
    /// ends it (or the `,` or bracket of a key without a value).
    fn flow_key_end(&self, i: usize) -> usize {
        if matches!(self.byte(i), b'"' | b'\'') {
            return self.quoted_end(i);
        }
        let mut j = i;
        while j < self.b.len() {
            match self.b[j] {
                b':' if matches!(
                    self.byte(j + 1),
                    b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']'
                ) =>
                {
                    break
                }
                b',' | b'}' | b']' => break,
                _ => j += 1,
            }
        }
        while j > i && matches!(self.b[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
            j -= 1;
        }
        j
    }

    /// A value inside a flow collection from `i`; returns the end of its text.
    fn flow_value(&mut self, i: usize, owner: usize) -> usize {
        let path = self.entries[owner].path.clone();
        let mut i = self.skip_flow_space(i);
        i = self.skip_properties(i);
        match self.byte(i) {
            b'{' | b'[' => self.flow(i, Some(owner), &path),
            b'"' | b'\'' => self.quoted_end(i),
            _ => {
                let start = i;
                let mut j = i;
                while j < self.b.len() {
                    match self.b[j] {
                        b',' | b'{' | b'[' | b']' | b'}' => break,
                        b'#' if j > start && matches!(self.b[j - 1], b' ' | b'\t' | b'\n') => {
                            j = self.line_end(j);
                            continue;
                        }
                        _ => j += 1,
                    }
                }
                while j > start && matches!(self.b[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
                    j -= 1;
                }
                j
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(String, usize)> {
        Outline::of(text)
            .entries
            .into_iter()
            .map(|e| (e.path, e.line))
            .collect()
    }

    fn spans(text: &str) -> Vec<(String, String, String)> {
        Outline::of(text)
            .entries
            .into_iter()
            .map(|e| {
                (
                    e.path,
                    text[e.start..e.end].to_string(),
                    text[e.value_start..e.end].trim().to_string(),
                )
            })
            .collect()
    }

    fn owned(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
        pairs.iter().map(|(p, l)| (p.to_string(), *l)).collect()
    }

    #[test]
    fn block_mappings_and_sequences_are_named_by_path_and_line() {
        let text = "\
# a comment
name: svc
pods:
  a:
    count: 1   # one
    uris:
    - http://x/a
    -   http://x/b

    tasks:
      t:
        cmd: |
          echo a: b
          - not an item
        cpus: 0.1
plans:
  deploy:
    phases:
      p:
        steps:
          - default: [[t]]
            other: 1
          - - x
";
        assert_eq!(
            lines(text),
            owned(&[
                ("name", 2),
                ("pods", 3),
                ("pods.a", 4),
                ("pods.a.count", 5),
                ("pods.a.uris", 6),
                ("pods.a.uris[0]", 7),
                ("pods.a.uris[1]", 8),
                ("pods.a.tasks", 10),
                ("pods.a.tasks.t", 11),
                ("pods.a.tasks.t.cmd", 12),
                ("pods.a.tasks.t.cpus", 15),
                ("plans", 16),
                ("plans.deploy", 17),
                ("plans.deploy.phases", 18),
                ("plans.deploy.phases.p", 19),
                ("plans.deploy.phases.p.steps", 20),
                ("plans.deploy.phases.p.steps[0]", 21),
                ("plans.deploy.phases.p.steps[0].default", 21),
                ("plans.deploy.phases.p.steps[0].default[0]", 21),
                ("plans.deploy.phases.p.steps[0].default[0][0]", 21),
                ("plans.deploy.phases.p.steps[0].other", 22),
                ("plans.deploy.phases.p.steps[1]", 23),
                ("plans.deploy.phases.p.steps[1][0]", 23),
            ])
        );
    }

    #[test]
    fn flow_collections_over_several_lines_are_named_too() {
        let text = "\
t: {cmd: 'a, b', cpus: 0.1,
    env: {A: \"x}\", B: y},   # comment, with a comma
    ports: {p: {ranges: [{begin: 1}, {end: 2}]}},
    flag}
";
        assert_eq!(
            lines(text),
            owned(&[
                ("t", 1),
                ("t.cmd", 1),
                ("t.cpus", 1),
                ("t.env", 2),
                ("t.env.A", 2),
                ("t.env.B", 2),
                ("t.ports", 3),
                ("t.ports.p", 3),
                ("t.ports.p.ranges", 3),
                ("t.ports.p.ranges[0]", 3),
                ("t.ports.p.ranges[0].begin", 3),
                ("t.ports.p.ranges[1]", 3),
                ("t.ports.p.ranges[1].end", 3),
                ("t.flag", 4),
            ])
        );
        let s = spans(text);
        assert_eq!(
            s[1],
            ("t.cmd".into(), "cmd: 'a, b'".into(), "'a, b'".into())
        );
        assert_eq!(s[3].2, "{A: \"x}\", B: y}");
        assert_eq!(s[13].1, "flag");
    }

    #[test]
    fn spans_cover_multi_line_scalars_and_nested_blocks() {
        let text = "\
a:
  cmd: \"one
    two\"
  plain: one
    two
  block: >
    folded

    text
  list:
  - x
b: 1
";
        let s = spans(text);
        assert_eq!(s[0].1, text[..text.find("b: 1").unwrap() - 1]);
        assert_eq!(s[1].2, "\"one\n    two\"");
        assert_eq!(s[2].2, "one\n    two");
        assert_eq!(s[3].2, ">\n    folded\n\n    text");
        assert_eq!(s[4].2, "- x");
        assert_eq!(s[6], ("b".into(), "b: 1".into(), "1".into()));
    }

    #[test]
    fn quoted_keys_anchors_and_tags_are_read() {
        let text = "\"a b\": &x 1\n'c''d': !!str 2\ne: *x\nf: &y\n  g: 1\n";
        assert_eq!(
            lines(text),
            owned(&[("a b", 1), ("c'd", 2), ("e", 3), ("f", 4), ("f.g", 5)])
        );
    }

    #[test]
    fn a_missing_key_is_placed_at_its_nearest_written_ancestor() {
        let o = Outline::of("pods:\n  a:\n    tasks:\n      t: {cmd: x}\n");
        assert_eq!(o.line_of("pods.a.tasks.t.cmd"), Some(4));
        assert_eq!(o.line_of("pods.a.count"), Some(2));
        assert_eq!(o.line_of("pods.a.tasks.t.ports.p.ranges[0]"), Some(4));
        assert_eq!(o.line_of("name"), None);
        assert_eq!(o.line_of("spec"), None);
    }

    #[test]
    fn offsets_count_columns_in_characters() {
        let text = "a: é\nb: [é, x]\n";
        assert_eq!(&text[offset_of(text, 2, 8)..offset_of(text, 2, 9)], "x");
        assert_eq!(offset_of(text, 9, 1), text.len());
        assert_eq!(offset_of(text, 1, 99), 5);
    }

    proptest::proptest! {
        #[test]
        fn no_text_makes_the_outline_panic(text in "[-a-z:#{}\\[\\],'\" |>&*!?\n\té]{0,80}") {
            let o = Outline::of(&text);
            for e in &o.entries {
                proptest::prop_assert!(e.start <= e.end && e.end <= text.len());
                let _ = o.line_of(&e.path);
            }
        }
    }

    #[test]
    fn nothing_panics_on_odd_text() {
        for text in [
            "",
            "-",
            "- ",
            ":",
            "a:",
            "{",
            "[",
            "a: {b: [",
            "'",
            "a: 'x",
            "? a\n: b",
            "---\na: 1\n...\nb: 2",
            "\u{e9}: \u{e9}",
            "a:\n\t- b",
        ] {
            let _ = Outline::of(text);
        }
        assert_eq!(lines("---\na: 1\n...\nb: 2"), owned(&[("a", 2)]));
    }
}
