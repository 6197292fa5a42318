//! Strict Mustache rendering of svc.yml against an environment map.
//!
//! Why our own renderer rather than a crate: the Rust Mustache crates checked (`mustache` 0.9,
//! unmaintained since 2019; `ramhorns` 1.0, MPL-2.0, built around derived structs and
//! rendering a missing variable as empty) offer no strict mode that names the missing variable
//! and its line, and svc.yml only needs the logic-less core over a flat string map. This is
//! about 200 lines.
//!
//! Supported: `{{VAR}}`, `{{{VAR}}}`, `{{&VAR}}`, sections `{{#VAR}}…{{/VAR}}` (rendered once
//! when the value is truthy: anything but empty or `false`, case-insensitive), inverted sections
//! `{{^VAR}}…{{/VAR}}`, comments `{{! … }}`, and Mustache's standalone-line rule (a line holding
//! only a section, inverted, closing or comment tag disappears with its line break, so
//! conditionals leave no stray blank lines in the YAML). Refused with an error: partials
//! (`{{>x}}`) and delimiter changes (`{{=<% %>=}}`).
//!
//! Strict where a value is printed: `{{VAR}}` with a variable the environment does not have is
//! an error naming it and its line, and all missing values are reported together. A section
//! names a condition that may well be unset, so a missing section variable is false:
//! `{{#TLS}}…{{/TLS}}` is skipped and `{{^TLS}}…{{/TLS}}` rendered, as the specs written for
//! the DC/OS SDK expect (cassandra's opens sections on options a default install never sets).
//! Variables inside a section that is not rendered are not looked up, so
//! `{{#TLS}}{{CERT}}{{/TLS}}` needs `CERT` only when `TLS` is on.
//!
//! Nothing is HTML-escaped: the output is YAML, and `&` in a shell command must stay `&`.
//!
//! Bounded: a template larger than [`limits::SPEC_BYTES`] is refused before it is read,
//! sections nested more than [`limits::NESTING`] deep are refused while parsing (rendering
//! recurses into them), and rendering stops as soon as the output passes
//! [`limits::SPEC_BYTES`] (a short template repeating a long variable would otherwise grow
//! without bound). Config templates (`configs:`, rendered in the task's sandbox by
//! [`render_config`]) follow the same rules under [`limits::TEMPLATE_BYTES`].

use std::collections::BTreeMap;

use super::error::{Report, SpecError, SpecErrors};
use super::limits;

/// Renders `template` with the variables in `env`; see the module doc for the rules.
pub fn render(template: &str, env: &BTreeMap<String, String>) -> Result<String, SpecErrors> {
    render_mapped(template, env).map(|r| r.text)
}

/// Rendered text, plus where each of its lines came from in the template.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    /// `origin[i]` is the template line (1-based) of rendered line `i + 1`.
    origin: Vec<usize>,
}

impl Rendered {
    /// The template line a rendered line came from, so that YAML errors point into the file the
    /// author wrote rather than into the rendered text.
    pub(crate) fn template_line(&self, rendered_line: usize) -> usize {
        rendered_line
            .checked_sub(1)
            .and_then(|i| self.origin.get(i).copied())
            .unwrap_or(rendered_line)
    }
}

pub(crate) fn render_mapped(
    template: &str,
    env: &BTreeMap<String, String>,
) -> Result<Rendered, SpecErrors> {
    render_bounded(template, env, &limits::SPEC_BYTES)
}

/// Checks a config template's syntax without rendering it: `Ok`, or each problem as
/// `line N: ...`.
pub fn check_syntax(template: &str) -> Result<(), SpecErrors> {
    let lines = LineIndex::new(template);
    parse(template, &lines).map(|_| ())
}

/// Renders the config template `name` with `env` (a task's environment), as svc.yml is
/// rendered: the same tags and the same strictness. Every problem is one line naming the
/// template: `template server.conf line 3: variable `PORT_HTTP` is not set`.
pub fn render_config(
    name: &str,
    template: &str,
    env: &BTreeMap<String, String>,
) -> Result<String, Vec<String>> {
    render_bounded(template, env, &limits::TEMPLATE_BYTES)
        .map(|r| r.text)
        .map_err(|errors| {
            errors
                .errors()
                .iter()
                .map(|e| {
                    let message = e
                        .message
                        .strip_prefix("template variable ")
                        .map(|rest| format!("variable {rest}"))
                        .unwrap_or_else(|| e.message.clone());
                    match e.path.as_str() {
                        "spec" => format!("template {name}: {message}"),
                        line => format!("template {name} {line}: {message}"),
                    }
                })
                .collect()
        })
}

/// Renders `template`, refusing a template or a result longer than `limit`.
fn render_bounded(
    template: &str,
    env: &BTreeMap<String, String>,
    limit: &limits::Limit,
) -> Result<Rendered, SpecErrors> {
    if limit.exceeded_by(template.len() as u64) {
        return Err(SpecErrors::from(SpecError::new(
            "spec",
            format!("the template {}", limit.length_refusal(template.len())),
        )));
    }
    let lines = LineIndex::new(template);
    let nodes = parse(template, &lines)?;
    let mut out = Output {
        text: String::with_capacity(template.len()),
        origin: Vec::new(),
        fresh_line: true,
        full: false,
        max: limit.max,
    };
    let mut report = Report::default();
    render_nodes(&nodes, env, &lines, &mut out, &mut report);
    if out.full {
        return Err(SpecErrors::from(SpecError::new(
            "spec",
            format!(
                "the rendered template is more than the limit of {} {}",
                limit.max, limit.what
            ),
        )));
    }
    report.finish(Rendered {
        text: out.text,
        origin: out.origin,
    })
}

#[derive(Debug)]
enum Node<'a> {
    /// Template text starting at byte `start`.
    Text { text: &'a str, start: usize },
    /// A variable tag at byte `at`.
    Var { name: &'a str, at: usize },
    /// A section (or inverted section).
    Section {
        name: &'a str,
        inverted: bool,
        children: Vec<Node<'a>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TagKind {
    Var,
    Section,
    Inverted,
    Close,
    Comment,
}

/// An open section while parsing: its tag and the nodes collected before it.
struct Open<'a> {
    name: &'a str,
    inverted: bool,
    at: usize,
    outer: Vec<Node<'a>>,
}

fn parse<'a>(template: &'a str, lines: &LineIndex) -> Result<Vec<Node<'a>>, SpecErrors> {
    let syntax = |at: usize, message: String| {
        SpecErrors::from(SpecError::new(
            format!("line {}", lines.line_of(at)),
            message,
        ))
    };
    let mut nodes = Vec::new();
    let mut open: Vec<Open<'a>> = Vec::new();
    let mut pos = 0;
    while let Some(found) = template[pos..].find("{{") {
        let at = pos + found;
        let Tag { kind, name, end } = read_tag(template, at).map_err(|m| syntax(at, m))?;
        let tag = &template[at..end];

        let (text_end, next) = match standalone(template, kind, at, end) {
            Some(span) => span,
            None => (at, end),
        };
        if text_end > pos {
            nodes.push(Node::Text {
                text: &template[pos..text_end],
                start: pos,
            });
        }
        pos = next;

        match kind {
            TagKind::Var => nodes.push(Node::Var { name, at }),
            TagKind::Comment => {}
            TagKind::Section | TagKind::Inverted => {
                let depth = open.len() + 1;
                if limits::NESTING.exceeded_by(depth as u64) {
                    return Err(syntax(
                        at,
                        format!(
                            "`{tag}` is nested {depth} deep, more than the limit of {} {}",
                            limits::NESTING.max,
                            limits::NESTING.what
                        ),
                    ));
                }
                open.push(Open {
                    name,
                    inverted: kind == TagKind::Inverted,
                    at,
                    outer: std::mem::take(&mut nodes),
                });
            }
            TagKind::Close => {
                let Some(section) = open.pop() else {
                    return Err(syntax(at, format!("`{tag}` closes no open section")));
                };
                if section.name != name {
                    return Err(syntax(
                        at,
                        format!(
                            "`{tag}` closes `{{{{{}{}}}}}` opened on line {}",
                            if section.inverted { '^' } else { '#' },
                            section.name,
                            lines.line_of(section.at)
                        ),
                    ));
                }
                let children = std::mem::replace(&mut nodes, section.outer);
                nodes.push(Node::Section {
                    name,
                    inverted: section.inverted,
                    children,
                });
            }
        }
    }
    if let Some(section) = open.pop() {
        return Err(syntax(
            section.at,
            format!(
                "`{{{{{}{}}}}}` is never closed",
                if section.inverted { '^' } else { '#' },
                section.name
            ),
        ));
    }
    if pos < template.len() {
        nodes.push(Node::Text {
            text: &template[pos..],
            start: pos,
        });
    }
    Ok(nodes)
}

/// One tag: what it is, the name in it (borrowed from the template), and where it ends.
struct Tag<'a> {
    kind: TagKind,
    name: &'a str,
    end: usize,
}

/// Reads the tag starting at byte `at` (which holds `{{`).
fn read_tag(template: &str, at: usize) -> Result<Tag<'_>, String> {
    let (inner, end, triple) = if template[at..].starts_with("{{{") {
        let close = template[at + 3..]
            .find("}}}")
            .ok_or("`{{{` is never closed with `}}}`")?;
        (&template[at + 3..at + 3 + close], at + 3 + close + 3, true)
    } else {
        let close = template[at + 2..]
            .find("}}")
            .ok_or("`{{` is never closed with `}}`")?;
        (&template[at + 2..at + 2 + close], at + 2 + close + 2, false)
    };
    let tag = &template[at..end];
    let inner = inner.trim();
    let (kind, name) = match inner.chars().next() {
        _ if triple => (TagKind::Var, inner),
        Some('#') => (TagKind::Section, &inner[1..]),
        Some('^') => (TagKind::Inverted, &inner[1..]),
        Some('/') => (TagKind::Close, &inner[1..]),
        Some('!') => (TagKind::Comment, ""),
        Some('&') => (TagKind::Var, &inner[1..]),
        Some('>') => return Err(format!("`{tag}`: partials are not supported")),
        Some('=') => return Err(format!("`{tag}`: changing delimiters is not supported")),
        _ => (TagKind::Var, inner),
    };
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if kind != TagKind::Comment && !valid_name {
        return Err(format!(
            "`{tag}` is not a valid tag (a name of letters, digits, `_`, `.`, `-`)"
        ));
    }
    Ok(Tag { kind, name, end })
}

/// For a section, inverted, closing or comment tag alone on its line (only spaces or tabs
/// around it), the span to drop instead of just the tag: from the line's start to past its line
/// break. Returns (where the preceding text ends, where parsing resumes).
fn standalone(template: &str, kind: TagKind, at: usize, end: usize) -> Option<(usize, usize)> {
    if kind == TagKind::Var {
        return None;
    }
    let line_start = template[..at].rfind('\n').map_or(0, |i| i + 1);
    let blank = |s: &str| s.bytes().all(|b| b == b' ' || b == b'\t');
    if !blank(&template[line_start..at]) {
        return None;
    }
    let rest = &template[end..];
    let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let after = rest[..line_end]
        .trim_end_matches('\n')
        .trim_end_matches('\r');
    if !blank(after) {
        return None;
    }
    Some((line_start, end + line_end))
}

fn truthy(value: &str) -> bool {
    !(value.is_empty() || value.eq_ignore_ascii_case("false"))
}

fn render_nodes(
    nodes: &[Node<'_>],
    env: &BTreeMap<String, String>,
    lines: &LineIndex,
    out: &mut Output,
    report: &mut Report,
) {
    for node in nodes {
        if out.full {
            return;
        }
        match node {
            Node::Text { text, start } => out.push(text, |i| lines.line_of(start + i)),
            Node::Var { name, at } => match env.get(*name) {
                Some(value) => out.push(value, |_| lines.line_of(*at)),
                None => report.push(
                    format!("line {}", lines.line_of(*at)),
                    format!("template variable `{name}` is not set"),
                ),
            },
            Node::Section {
                name,
                inverted,
                children,
            } => {
                let on = env.get(*name).is_some_and(|value| truthy(value));
                if on != *inverted {
                    render_nodes(children, env, lines, out, report);
                }
            }
        }
    }
}

struct Output {
    text: String,
    origin: Vec<usize>,
    fresh_line: bool,
    /// The text reached the size limit; nothing more is appended.
    full: bool,
    /// The size limit, in bytes.
    max: u64,
}

impl Output {
    /// Appends `s`; `line_at(i)` is the template line of byte `i` of `s`.
    fn push(&mut self, s: &str, line_at: impl Fn(usize) -> usize) {
        if (self.text.len() + s.len()) as u64 > self.max {
            self.full = true;
            return;
        }
        let mut offset = 0;
        for piece in s.split_inclusive('\n') {
            if self.fresh_line {
                self.origin.push(line_at(offset));
                self.fresh_line = false;
            }
            self.text.push_str(piece);
            self.fresh_line = piece.ends_with('\n');
            offset += piece.len();
        }
    }
}

/// Byte offset → 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn errors(template: &str, e: &BTreeMap<String, String>) -> Vec<String> {
        render(template, e).unwrap_err().lines()
    }

    #[test]
    fn variables_are_substituted_without_html_escaping() {
        let e = env(&[("CMD", "a && b <c>"), ("N", "3")]);
        assert_eq!(
            render("cmd: {{CMD}} / {{{CMD}}} / {{& CMD }} x{{ N }}", &e).unwrap(),
            "cmd: a && b <c> / a && b <c> / a && b <c> x3"
        );
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it_and_its_line() {
        let e = env(&[("A", "1")]);
        assert_eq!(
            errors("a: {{A}}\nb: {{B}}\nc: {{C}} {{B}}\n", &e),
            vec![
                "line 2: template variable `B` is not set",
                "line 3: template variable `C` is not set",
                "line 3: template variable `B` is not set",
            ]
        );
    }

    #[test]
    fn sections_render_when_truthy_and_inverted_sections_when_not() {
        let t = "{{#ON}}on{{/ON}}{{^ON}}off{{/ON}}";
        for (value, want) in [
            ("true", "on"),
            ("yes", "on"),
            ("", "off"),
            ("false", "off"),
            ("FALSE", "off"),
        ] {
            assert_eq!(render(t, &env(&[("ON", value)])).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn a_missing_section_variable_is_false_and_variables_in_skipped_sections_are_not_needed() {
        // Goal: a spec written for the DC/OS SDK renders as it did there: a section on an
        // option nobody set is off, its inverse on. Method: both kinds, with the variable
        // missing; then a value inside a skipped section that is missing too.
        assert_eq!(
            render("{{#TLS}}tls{{/TLS}}{{^TLS}}plain{{/TLS}}", &env(&[])).unwrap(),
            "plain"
        );
        assert_eq!(
            render("{{#TLS}}{{CERT}}{{/TLS}}", &env(&[("TLS", "false")])).unwrap(),
            ""
        );
    }

    #[test]
    fn standalone_section_and_comment_lines_leave_no_blank_lines() {
        let t =
            "a: 1\n  {{#ON}}\nb: 2\n  {{/ON}}\n{{! a comment }}\n{{^ON}}\nc: 3\n{{/ON}}\nd: 4\n";
        assert_eq!(
            render(t, &env(&[("ON", "true")])).unwrap(),
            "a: 1\nb: 2\nd: 4\n"
        );
        assert_eq!(
            render(t, &env(&[("ON", "")])).unwrap(),
            "a: 1\nc: 3\nd: 4\n"
        );
    }

    #[test]
    fn inline_sections_keep_the_surrounding_text() {
        let t = "x: {{#ON}}1{{/ON}}{{^ON}}2{{/ON}}\n";
        assert_eq!(render(t, &env(&[("ON", "1")])).unwrap(), "x: 1\n");
    }

    #[test]
    fn malformed_tags_are_errors_with_their_line() {
        let e = env(&[("A", "1")]);
        assert_eq!(
            errors("a\n{{A", &e),
            vec!["line 2: `{{` is never closed with `}}`"]
        );
        assert_eq!(
            errors("{{#A}}\n{{/B}}", &e),
            vec!["line 2: `{{/B}}` closes `{{#A}}` opened on line 1"]
        );
        assert_eq!(
            errors("\n{{#A}}", &e),
            vec!["line 2: `{{#A}}` is never closed"]
        );
        assert_eq!(
            errors("{{/A}}", &e),
            vec!["line 1: `{{/A}}` closes no open section"]
        );
        assert_eq!(
            errors("{{> part}}", &e),
            vec!["line 1: `{{> part}}`: partials are not supported"]
        );
        assert_eq!(
            errors("{{=<% %>=}}", &e),
            vec!["line 1: `{{=<% %>=}}`: changing delimiters is not supported"]
        );
        assert_eq!(
            errors("{{a b}}", &e),
            vec!["line 1: `{{a b}}` is not a valid tag (a name of letters, digits, `_`, `.`, `-`)"]
        );
    }

    #[test]
    fn sections_nested_past_the_limit_are_refused_with_their_line() {
        let deep = |n: usize| {
            let mut t = String::new();
            for _ in 0..n {
                t.push_str("{{#ON}}\n");
            }
            for _ in 0..n {
                t.push_str("{{/ON}}\n");
            }
            t
        };
        let e = env(&[("ON", "true")]);
        assert!(render(&deep(32), &e).is_ok());
        assert_eq!(
            errors(&deep(10_000), &e),
            [format!(
                "line 33: `{{{{#ON}}}}` is nested 33 deep, more than the limit of 32 {}",
                limits::NESTING.what
            )]
        );
    }

    #[test]
    fn rendering_stops_at_the_spec_size_limit() {
        // 200 KB of tags, each 64 KB of text: 12 GB if nothing stopped it.
        let template = "{{V}}".repeat(40_000);
        let e = env(&[("V", &"x".repeat(65_536))]);
        let started = std::time::Instant::now();
        let problems = errors(&template, &e);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .starts_with("spec: the rendered template is more than the limit of 1048575 bytes"),
            "{problems:?}"
        );
        let big = "x".repeat(1_048_576);
        assert!(errors(&big, &e)[0].contains("1048576 bytes long"));
    }

    #[test]
    fn a_config_template_s_missing_value_names_the_template_line_and_variable() {
        let e = env(&[("PORT_HTTP", "31000")]);
        assert_eq!(
            render_config("server.conf", "port={{PORT_HTTP}}\n", &e).unwrap(),
            "port=31000\n"
        );
        assert_eq!(
            render_config("server.conf", "a\nport={{PORT_HTTP}}\nkey={{KEY}}\n", &e).unwrap_err(),
            vec!["template server.conf line 3: variable `KEY` is not set"]
        );
        assert_eq!(
            render_config("x", "{{#A}}", &e).unwrap_err(),
            vec!["template x line 1: `{{#A}}` is never closed"]
        );
    }

    #[test]
    fn rendered_lines_map_back_to_template_lines() {
        let t = "a: 1\n{{#OFF}}\nb: 2\nc: 3\n{{/OFF}}\nd: {{V}}\ne: 5\n";
        let r = render_mapped(t, &env(&[("OFF", "false"), ("V", "x\ny")])).unwrap();
        assert_eq!(r.text, "a: 1\nd: x\ny\ne: 5\n");
        assert_eq!(r.template_line(1), 1);
        assert_eq!(r.template_line(2), 6);
        assert_eq!(r.template_line(3), 6);
        assert_eq!(r.template_line(4), 7);
    }
}
