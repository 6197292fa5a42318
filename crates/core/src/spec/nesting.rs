//! How deep a YAML text nests, found in one pass over its characters before a YAML parser sees
//! it.
//!
//! Why before: the YAML parser's work grows with the square of the nesting depth (a document
//! 100,000 levels deep took more than 30 s), and svc.yml is read from files and HTTP bodies
//! that anyone may write. Its own structure is at most ten levels deep, so a cap far above
//! that refuses nothing real.
//!
//! The scan follows the parts of YAML that make nesting: block collections (a stack of
//! indentations, plus `- `, `? ` and `key: ` openers on one line, as in `- name: x`), flow
//! collections (`[`, `{`), and what must be skipped because it only looks like them (quoted
//! scalars, comments, block scalars after `|` or `>`). It is an estimate, not a parser: a
//! mapping holding a sequence at its own indentation (`key:` then `- a` below it) is one level
//! here where the parser sees two, so the real depth is at most about twice the estimate, which
//! is what bounds the parser's work. Nothing legitimate is estimated deeper than it is, except
//! a plain scalar continued on lines indented ever further to the right.

/// Where `text` first nests more than `max` levels: its 1-based line and the depth reached
/// there; `None` when it never does.
pub(crate) fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut scan = Scan::default();
    for (i, line) in text.split('\n').enumerate() {
        let depth = scan.line(line.strip_suffix('\r').unwrap_or(line));
        if depth > max {
            return Some((i + 1, depth));
        }
    }
    None
}

/// What is carried from one line to the next.
#[derive(Default)]
struct Scan {
    /// Indentations of the open block collections, innermost last.
    indents: Vec<usize>,
    /// Open flow collections (`[`, `{`).
    flow: usize,
    /// Inside a quoted scalar that goes on to the next line: its quote.
    quote: Option<u8>,
    /// Inside a block scalar (`|`, `>`): lines indented more than this column are its text.
    block_scalar: Option<isize>,
    /// In flow context, whether the next token starts a node (after `[`, `{`, `,`).
    flow_node_start: bool,
}

impl Scan {
    /// Scans one line; returns the deepest nesting seen on it.
    fn line(&mut self, line: &str) -> usize {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let blank = bytes[indent..].iter().all(|b| *b == b' ' || *b == b'\t');
        if let Some(column) = self.block_scalar {
            if blank || indent as isize > column {
                return 0;
            }
            self.block_scalar = None;
        }
        let mut i = 0;
        let mut node_start = true;
        // Block collections opened on this line beyond the one its indentation places it in.
        let mut openers = 0usize;
        // The column of the innermost block collection on this line: a block scalar's text
        // must be indented more than that.
        let mut collection_column = -1isize;
        if self.quote.is_none() && self.flow == 0 {
            if blank || bytes[indent] == b'#' {
                return 0;
            }
            if indent == 0 && (line.starts_with("---") || line.starts_with("...")) {
                let rest = &bytes[3..];
                if rest.is_empty() || rest[0] == b' ' || rest[0] == b'\t' {
                    // A new document: nothing of the last one is open.
                    self.indents.clear();
                    i = 3;
                }
            }
            if i == 0 {
                while self.indents.last().is_some_and(|top| *top > indent) {
                    self.indents.pop();
                }
                if self.indents.last() != Some(&indent) {
                    self.indents.push(indent);
                }
                collection_column = indent as isize;
                i = indent;
            }
        } else if self.quote.is_none() {
            node_start = self.flow_node_start;
        }
        let base = self.indents.len();
        let mut deepest = base + self.flow;
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = self.quote {
                i += 1;
                if q == b'"' && b == b'\\' {
                    i += 1;
                } else if b == q {
                    if q == b'\'' && bytes.get(i) == Some(&b'\'') {
                        i += 1;
                    } else {
                        self.quote = None;
                        node_start = false;
                    }
                }
                continue;
            }
            let next = bytes.get(i + 1).copied();
            let ends_token = |n: Option<u8>| matches!(n, None | Some(b' ') | Some(b'\t'));
            match b {
                b' ' | b'\t' => {}
                b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => break,
                b'\'' | b'"' if node_start => self.quote = Some(b),
                b'[' | b'{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    node_start = true;
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    node_start = false;
                }
                b',' if self.flow > 0 => node_start = true,
                b'-' | b'?' if node_start && self.flow == 0 && ends_token(next) => {
                    openers += 1;
                    collection_column = i as isize;
                }
                b'|' | b'>' if node_start && self.flow == 0 => {
                    // The rest of the line is the scalar's header; its text follows.
                    self.block_scalar = Some(collection_column);
                    break;
                }
                b'&' | b'!' if node_start => {
                    // An anchor or a tag comes before the node it names.
                    while i + 1 < bytes.len() && !matches!(bytes[i + 1], b' ' | b'\t') {
                        i += 1;
                    }
                }
                b':' if ends_token(next)
                    || (self.flow > 0 && matches!(next, Some(b',' | b']' | b'}'))) =>
                {
                    if self.flow == 0 {
                        // `key:` opens (or continues) a mapping; its value starts a node.
                        openers += 1;
                        collection_column = key_column(bytes, i);
                    }
                    node_start = true;
                }
                _ => {
                    if node_start {
                        node_start = false;
                        // A plain scalar: skip to where an indicator could end it.
                        while i + 1 < bytes.len()
                            && !matches!(bytes[i + 1], b' ' | b'\t' | b':' | b',' | b']' | b'}')
                        {
                            i += 1;
                        }
                    }
                }
            }
            deepest = deepest.max(base + openers.saturating_sub(1) + self.flow);
            i += 1;
        }
        self.flow_node_start = node_start;
        deepest
    }
}

/// The column where the key ending at the `:` at `colon` starts (after any `- ` before it).
fn key_column(bytes: &[u8], colon: usize) -> isize {
    let before = &bytes[..colon];
    let start = before
        .iter()
        .rposition(|b| matches!(b, b' ' | b'\t' | b'-' | b'?'))
        .map_or(0, |p| p + 1);
    start as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        let mut scan = Scan::default();
        text.split('\n').map(|l| scan.line(l)).max().unwrap_or(0)
    }

    #[test]
    fn block_mappings_and_sequences_count_one_level_each() {
        assert_eq!(depth("a: 1\nb: 2\n"), 1);
        assert_eq!(depth("a:\n  b:\n    c: 1\n"), 3);
        assert_eq!(depth("a:\n  - x\n  - y\n"), 2);
        assert_eq!(depth("a:\n  - name: x\n    other: y\n"), 3);
        assert_eq!(depth("- - - a\n"), 3);
    }

    #[test]
    fn flow_collections_count_and_quoted_or_commented_brackets_do_not() {
        assert_eq!(depth("a: [[1, 2], {b: [3]}]\n"), 4);
        assert_eq!(depth("a: '[[[[['\nb: \"{{{{\\\"[[\"\n"), 1);
        assert_eq!(depth("a: x # [[[[[[\n"), 1);
        assert_eq!(depth("cmd: echo a[0] b{1}\n"), 1);
        assert_eq!(depth("a: [\n  [\n    [1]\n  ]\n]\n"), 4);
    }

    #[test]
    fn block_scalar_text_is_not_structure() {
        let text = "a:\n  cmd: |\n    [[[[[[[[\n      - - - - -\n    x: y: z\n  b: 1\n";
        assert_eq!(depth(text), 2);
        let folded = "- run: >-\n    {{{{{{\n- next\n";
        assert_eq!(depth(folded), 2);
    }

    #[test]
    fn a_hundred_thousand_levels_are_found_at_the_first_line_past_the_limit() {
        let flow = format!("name: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(too_deep(&flow, 32), Some((1, 100_001)));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        assert_eq!(too_deep(&block, 32), Some((33, 33)));
        assert_eq!(too_deep("a:\n  b: [1, 2]\n", 32), None);
    }

    #[test]
    fn the_example_specs_are_shallow() {
        for name in ["my-service.yml", "hello-world.yml"] {
            let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let d = depth(&text);
            assert!((2..=10).contains(&d), "{name}: {d}");
        }
    }
}
