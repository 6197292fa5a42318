//! Reading rendered svc.yml into the [`raw`](super::raw) structs, with every problem of shape
//! (an unknown key, a value of the wrong type, a repeated key) rather than the first.
//!
//! The YAML library stops at its first problem. So after each one the text is mended and read
//! again: an unknown or repeated key is taken out with its value, and a value of the wrong type
//! is replaced by a neutral one of the kind expected (`{}`, `[]`, or `~`, which every optional
//! key reads as absent). The [`Outline`] says which bytes the entry covers. Line breaks are
//! kept, so every later line number still holds. Problems that a mended value causes further
//! on (a `count: many` read as absent is then `is required`) are the same problem: the caller
//! leaves out later problems at or under a [`Read::mended`] path.
//!
//! Two things end the reading: a YAML syntax error (nothing after it can be read reliably, and
//! the message says the rest is not checked), and [`MAX_ROUNDS`] problems (each costs one more
//! reading of the text; the spec size limit bounds each reading).

use serde::de::IgnoredAny;

use super::error::SpecError;
use super::outline::{offset_of, Outline};
use super::raw::RawServiceSpec;
use super::template::Rendered;

/// The most shape problems read from one spec; each is one more reading of the text.
pub(crate) const MAX_ROUNDS: usize = 50;

/// What reading a rendered svc.yml gave.
pub(crate) struct Read {
    /// The spec, when the text (mended where needed) could be read; `None` when reading had
    /// to stop.
    pub(crate) raw: Option<RawServiceSpec>,
    /// The text that was read in the end: later problems are placed by their paths in it.
    pub(crate) text: String,
    /// Every shape problem, with its template line.
    pub(crate) problems: Vec<SpecError>,
    /// Paths whose value was mended or taken out because of its type, and mappings that lost a
    /// merge key (`<<`): what is missing there follows from that problem.
    pub(crate) mended: Vec<String>,
}

/// What a library error says, in svc.yml words.
struct Problem {
    path: String,
    message: String,
    kind: Kind,
    /// Rendered line and column, 1-based.
    location: Option<(usize, usize)>,
}

enum Kind {
    /// A key the struct does not have: take the entry out.
    Unknown,
    /// A key given again: take its second entry out.
    Repeated,
    /// A value the field cannot hold: replace it by the neutral value of this kind.
    Value(&'static str),
    /// A YAML syntax error, a problem with the whole document, or one that cannot be placed:
    /// reading stops.
    Fatal,
}

/// Reads `rendered` into a raw spec, collecting every problem of shape on the way.
pub(crate) fn read(rendered: &Rendered) -> Read {
    let mut text = rendered.text.clone();
    let mut read = Read {
        raw: None,
        text: String::new(),
        problems: Vec::new(),
        mended: Vec::new(),
    };
    // Where the last problem was (path and rendered line) and how often it came back there: a
    // mend that did not help is followed by a stronger one (the entry taken out), then by
    // stopping. What the library says the second time may differ (`invalid type: unit value`
    // after a `~`), but it is the same problem.
    let mut last: Option<(String, Option<usize>, usize)> = None;
    for round in 0..=MAX_ROUNDS {
        let error = match serde_norway::from_str::<RawServiceSpec>(&text) {
            Ok(raw) => {
                read.raw = Some(raw);
                break;
            }
            Err(e) => e,
        };
        if round == MAX_ROUNDS {
            read.problems.push(SpecError::new(
                "spec",
                format!(
                    "more problems of shape may follow: reading stops after {MAX_ROUNDS} of \
                     them; fix these and validate again"
                ),
            ));
            break;
        }
        // With a syntax error anywhere, the library reports what it read before it, wrongly
        // placed or misread: only the syntax error is worth saying.
        let error = match serde_norway::from_str::<IgnoredAny>(&text) {
            Err(syntax) if round == 0 => syntax,
            Err(_) => {
                // Not the author's: the mending made the text unreadable.
                read.problems.push(SpecError::new(
                    "spec",
                    "the problems above could not be read past; fix them and validate again \
                     to see the rest",
                ));
                break;
            }
            Ok(_) => error,
        };
        let problem = describe(&error, rendered);
        // A repeated key is reported at its repeat; the library gives its mapping's start.
        let line = match problem.kind {
            Kind::Repeated => Outline::of(&text)
                .at(&problem.path)
                .nth(1)
                .map(|(_, e)| e.line),
            _ => problem.location.map(|(line, _)| line),
        };
        let attempt = match &last {
            Some((path, at, n)) if *path == problem.path && *at == line => n + 1,
            _ => 0,
        };
        last = Some((problem.path.clone(), line, attempt));
        let stops = matches!(problem.kind, Kind::Fatal);
        if attempt == 0 {
            read.problems
                .push(to_error(&problem, line, rendered, stops));
        }
        let mended = !stops && mend(&mut text, &problem, attempt, &mut read);
        if !mended {
            // Reading stops here: the last problem says so, unless it already does.
            if let Some(last) = read.problems.last_mut() {
                if !last.message.ends_with(NOT_CHECKED) {
                    last.message = format!("{}; {NOT_CHECKED}", last.message);
                }
            }
            break;
        }
    }
    read.text = text;
    read
}

const NOT_CHECKED: &str = "the rest of the spec is not checked until this is fixed";

/// The problem as a [`SpecError`] at rendered line `line`; `stops` when nothing after it is
/// read.
fn to_error(problem: &Problem, line: Option<usize>, rendered: &Rendered, stops: bool) -> SpecError {
    let line = line.map(|l| rendered.template_line(l));
    let mut message = problem.message.clone();
    if stops {
        message = format!("{message}; {NOT_CHECKED}");
    }
    match (problem.path.is_empty(), line) {
        (true, Some(line)) => SpecError::at_line(line, message),
        (true, None) => SpecError::new("spec", message),
        (false, line) => SpecError::new(problem.path.clone(), message).with_line(line),
    }
}

/// Mends `text` past `problem`; false when it cannot.
fn mend(text: &mut String, problem: &Problem, attempt: usize, read: &mut Read) -> bool {
    let outline = Outline::of(text);
    let at = problem
        .location
        .map(|(line, column)| offset_of(text, line, column));
    let mut entries = outline.at(&problem.path);
    let found = match problem.kind {
        Kind::Fatal => None,
        Kind::Repeated => entries.nth(1),
        Kind::Unknown => {
            let all: Vec<_> = entries.collect();
            all.iter()
                .find(|(_, e)| Some(e.start) == at)
                .or_else(|| all.first())
                .copied()
        }
        Kind::Value(_) => {
            let all: Vec<_> = entries.collect();
            all.iter()
                .find(|(_, e)| at.is_some_and(|at| e.value_start <= at && at <= e.end))
                .or_else(|| all.first())
                .copied()
        }
    };
    let Some((index, entry)) = found else {
        return false;
    };
    let entry = entry.clone();
    match (&problem.kind, attempt) {
        (Kind::Value(neutral), 0) => {
            read.mended.push(problem.path.clone());
            splice(text, entry.value_start, entry.end, &format!(" {neutral}"));
            true
        }
        (Kind::Value(_), 1) | (Kind::Unknown | Kind::Repeated, 0) => {
            if matches!(problem.kind, Kind::Value(_)) {
                read.mended.push(problem.path.clone());
            }
            if let Some(receiver) = problem.path.strip_suffix(".<<") {
                // The mapping meant to receive the merged keys lacks them: what it then
                // misses follows from the merge key.
                read.mended.push(receiver.to_string());
            }
            take_out(text, &outline, index);
            true
        }
        _ => false,
    }
}

/// Replaces `text[from..to]` by `with`, keeping the line breaks it held.
fn splice(text: &mut String, from: usize, to: usize, with: &str) {
    // Blanks and a comment left at the end of the line, and lines of blanks after it, go too:
    // alone, a tab among them is something YAML refuses.
    let bytes = text.as_bytes();
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r');
    let mut to = to;
    loop {
        let mut blanks = bytes[to..].iter().take_while(|c| blank(c)).count();
        let after_blank = blanks > 0 || to == 0 || blank(&bytes[to - 1]);
        if bytes.get(to + blanks) == Some(&b'#') && after_blank {
            // A comment after the value.
            blanks += bytes[to + blanks..]
                .iter()
                .take_while(|c| **c != b'\n')
                .count();
        }
        match bytes.get(to + blanks) {
            None => {
                to += blanks;
                break;
            }
            Some(b'\n') => {
                let next = to + blanks + 1;
                let line = bytes[next..].iter().take_while(|c| **c != b'\n').count();
                to += blanks;
                if line > 0 && bytes[next..next + line].iter().all(blank) {
                    to = next + line;
                } else {
                    break;
                }
            }
            Some(_) => break,
        }
    }
    let breaks = text[from..to].matches('\n').count();
    let mut replacement = with.to_string();
    replacement.extend(std::iter::repeat_n('\n', breaks));
    text.replace_range(from..to, &replacement);
}

/// Takes entry `index` out of `text`: with a comma beside it in a flow collection; by making
/// its collection the empty one when it is the only entry of a block collection (the parent
/// would otherwise hold null, which a sequence of the spec does not accept).
fn take_out(text: &mut String, outline: &Outline, index: usize) {
    let e = &outline.entries[index];
    let bytes = text.as_bytes();
    if e.flow {
        let mut after = e.end;
        while after < bytes.len() && matches!(bytes[after], b' ' | b'\t' | b'\r' | b'\n') {
            after += 1;
        }
        if bytes.get(after) == Some(&b',') {
            splice(text, e.start, after + 1, "");
            return;
        }
        let mut before = e.start;
        while before > 0 && matches!(bytes[before - 1], b' ' | b'\t' | b'\r' | b'\n') {
            before -= 1;
        }
        if before > 0 && bytes[before - 1] == b',' {
            splice(text, before - 1, e.end, "");
        } else {
            splice(text, e.start, e.end, "");
        }
    } else if outline.siblings(index) == 1 {
        let empty = if e.item { "[]" } else { "{}" };
        match e.parent.map(|p| &outline.entries[p]) {
            // In the parent's value: after its `:` or `-`, where any node may stand.
            Some(parent) => splice(text, parent.value_start, parent.end, &format!(" {empty}")),
            None => splice(text, e.start, e.end, empty),
        }
    } else {
        splice(text, e.start, e.end, "");
    }
}

/// Reads a library error: path, message in svc.yml words, what kind of mend it needs.
fn describe(e: &serde_norway::Error, rendered: &Rendered) -> Problem {
    let mut text = e.to_string();
    // The library puts the position in its message; the line is given separately, and the
    // column is only said where no path is.
    let column = e.location().map(|l| {
        let column = format!(" (column {})", l.column());
        text = text.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            &column,
            1,
        );
        column
    });
    let location = e.location().map(|l| (l.line(), l.column()));
    // Syntax errors name a second place (`while parsing a block mapping at line 1 column 1`).
    let text = template_lines_in(&text, rendered);
    // The library prefixes `path: ` when it knows where it was. A path has no spaces; the
    // library's own messages (`invalid type: ...`, YAML syntax errors) do before their colon.
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(char::is_whitespace) => {
            (p.to_string(), m.to_string())
        }
        _ => (String::new(), text.clone()),
    };
    let message = match column {
        Some(column) if !path.is_empty() => message.replacen(&column, "", 1),
        // Problems of the whole document come without the position in their text.
        Some(column) if !message.contains(&column) => format!("{message}{column}"),
        _ => message,
    };
    let problem = |path: String, message: String, kind: Kind| Problem {
        path,
        message,
        kind,
        location,
    };
    // Point at the offending key itself, in words rather than serde's.
    if let Some((key, rest)) = backticked_after(&message, "unknown field ") {
        let expected = backticked_all(&rest);
        let message = match closest(&key, &expected) {
            // serde_norway applies YAML merge keys only to untyped values, and dcos-commons
            // (Jackson) never supported them either: say so rather than list every key.
            _ if key == "<<" => "YAML merge keys (`<<: *anchor`) are not supported; \
                                 repeat the keys, or use an alias for a whole value"
                .into(),
            Some(near) => format!("unknown key (did you mean `{near}`?)"),
            None if expected.is_empty() => "unknown key (nothing is expected here)".into(),
            None => format!("unknown key (expected one of: {})", expected.join(", ")),
        };
        return problem(join(&path, &key), message, Kind::Unknown);
    }
    if let Some((key, _)) = backticked_after(&message, "missing field ") {
        return problem(join(&path, &key), "is required".into(), Kind::Fatal);
    }
    if let Some((key, _)) = backticked_after(&message, "duplicate field ")
        .or_else(|| backticked_after(&message, "duplicate key "))
    {
        return problem(join(&path, &key), "duplicate key".into(), Kind::Repeated);
    }
    let message = rust_types_in_words(&message);
    if path.is_empty() || location.is_none() {
        return problem(path, message, Kind::Fatal);
    }
    let neutral = if message.contains("expected a mapping") {
        "{}"
    } else if message.contains("expected a sequence") {
        "[]"
    } else {
        "~"
    };
    problem(path, message, Kind::Value(neutral))
}

/// `... at line 5 column 3` → `... at line <template line of 5> column 3`.
fn template_lines_in(message: &str, rendered: &Rendered) -> String {
    const AT: &str = " at line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(AT) {
        let (before, after) = rest.split_at(i + AT.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(line) => out.push_str(&rendered.template_line(line).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `unknown field `x`, expected ...` → (`x`, `, expected ...`).
fn backticked_after(message: &str, prefix: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    let (key, rest) = rest.split_once('`')?;
    Some((key.to_string(), rest.to_string()))
}

fn backticked_all(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// serde names Rust types (`expected i64`, `struct RawPod`); say what the author should write.
fn rust_types_in_words(message: &str) -> String {
    let mut m = message
        .replace("expected i64", "expected a whole number")
        .replace("expected f64", "expected a number");
    const STRUCT: &str = "expected struct ";
    while let Some(start) = m.find(STRUCT) {
        let name_start = start + STRUCT.len();
        let end = m[name_start..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(m.len(), |e| name_start + e);
        m.replace_range(start..end, "expected a mapping");
    }
    m
}

/// The expected key nearest to a misspelt one, if it is near enough to be a typo.
fn closest(key: &str, expected: &[String]) -> Option<String> {
    expected
        .iter()
        .map(|e| (edit_distance(key, e), e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4) && *d < e.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("cpu", "cpus"), 1);
        assert_eq!(edit_distance("placment", "placement"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn a_typo_gets_a_suggestion_and_a_stranger_gets_the_list() {
        let expected = vec!["cpus".to_string(), "memory".to_string()];
        assert_eq!(closest("cpu", &expected).as_deref(), Some("cpus"));
        assert_eq!(closest("memroy", &expected).as_deref(), Some("memory"));
        assert_eq!(closest("image-name", &expected), None);
    }

    #[test]
    fn rust_type_names_are_put_in_words() {
        assert_eq!(
            rust_types_in_words("invalid type: sequence, expected struct RawPod"),
            "invalid type: sequence, expected a mapping"
        );
        assert_eq!(
            rust_types_in_words("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected a whole number"
        );
    }

    fn mended(text: &str, path: &str, neutral: Option<&'static str>) -> String {
        let mut text = text.to_string();
        let outline = Outline::of(&text);
        let (index, entry) = outline.at(path).next().expect("the path is in the text");
        match neutral {
            Some(n) => splice(&mut text, entry.value_start, entry.end, &format!(" {n}")),
            None => take_out(&mut text, &outline, index),
        }
        text
    }

    #[test]
    fn an_entry_taken_out_leaves_valid_yaml_and_every_line_in_place() {
        let cases = [
            (
                "a:\n  b: 1\n  c:\n    - x\n  d: 2\n",
                "a.c",
                "a:\n  b: 1\n  \n\n  d: 2\n",
            ),
            ("a:\n  c: [1,\n   2]\n", "a.c", "a: {}\n\n\n"),
            ("- c: 1\n  d: 2\n", "[0].c", "- \n  d: 2\n"),
            ("- c: 1\n- d\n", "[0].c", "- {}\n- d\n"),
            ("a: {b: 1, c: 2}\n", "a.b", "a: { c: 2}\n"),
            ("a: {b: 1, c: 2}\n", "a.c", "a: {b: 1}\n"),
            ("a: {c: {x: [1]}}\n", "a.c", "a: {}\n"),
            ("a: [x, y]\n", "a[1]", "a: [x]\n"),
            ("a:\n- x\n", "a[0]", "a: []\n\n"),
            ("c: 1\n", "c", "{}\n"),
        ];
        for (text, path, want) in cases {
            let got = mended(text, path, None);
            assert_eq!(got, want, "{text}");
            assert!(serde_norway::from_str::<IgnoredAny>(&got).is_ok(), "{got}");
        }
    }

    #[test]
    fn a_value_replaced_keeps_its_key_and_every_line_in_place() {
        assert_eq!(
            mended("a:\n  - x\n  - y\nb: 1\n", "a", Some("{}")),
            "a: {}\n\n\nb: 1\n"
        );
        assert_eq!(
            mended("a: {b: [x], c: 1}\n", "a.b", Some("~")),
            "a: {b: ~, c: 1}\n"
        );
        assert_eq!(
            mended("s: [[x], 1]\n", "s[1]", Some("[]")),
            "s: [[x],  []]\n"
        );
    }
}
