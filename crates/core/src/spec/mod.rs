//! The service spec: what a service is made of, from svc.yml or from Rust, always validated.
//!
//! Two ways in, one model out:
//!
//! * [`parse_yaml`]: render the Mustache template with the caller's environment map
//!   ([`template`]), read the YAML into [`raw`] structs (unknown keys and repeated keys are
//!   errors), convert to the model ([`convert`]: defaults, refused DC/OS-only keys), and
//!   [`validate()`].
//! * [`ServiceSpec::builder`] ([`builder`]): collect values, then `build()` runs [`validate()`].
//!
//! Every number, list and string of a spec is bounded ([`limits`]: one table, also in
//! README.md), and so are the template and the YAML (size, nesting), so that nothing is
//! allocated in proportion to a number before it has been checked.
//!
//! Problems come back as [`SpecErrors`]: all of them at once, each `path: message` with a
//! svc.yml path such as `pods.data.tasks.node.cpus`. Two stages stop at their first problem
//! because nothing after it can be read reliably: a template syntax error, and a YAML
//! syntax/shape error (unknown key, wrong type, repeated key), which also carries its line.

pub mod builder;
pub mod convert;
mod error;
pub mod limits;
mod model;
mod names;
mod nesting;
mod placement;
pub mod raw;
mod taskcfg;
pub mod template;
mod validate;

use std::collections::BTreeMap;

pub use builder::{PodSpecBuilder, ServiceSpecBuilder, TaskSpecBuilder};
pub use error::{SpecError, SpecErrors};
pub use model::*;
pub use names::{dns_label, NameError, PodInstanceName, TaskName};
pub use placement::{Placement, PlacementError, PlacementField, PlacementRule};
pub use taskcfg::route_task_env;
pub use validate::{validate, KILL_GRACE_PERIOD_MAX_S};

use error::Report;
use template::Rendered;

/// Where the `configs:` templates of a svc.yml are read from: the files beside it. The core
/// reads no file itself; `cairn::load_spec` reads them relative to the spec's directory.
pub trait TemplateFiles {
    /// The text of the template at `path` (as svc.yml writes it), or why it cannot be had.
    /// Reads at most [`limits::TEMPLATE_BYTES`] + 1 bytes: a longer text is refused by its
    /// length, with the place, by validation.
    fn read(&self, path: &str) -> Result<String, String>;
}

/// No files: a spec given as text alone, whose `configs:` cannot be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTemplateFiles;

impl TemplateFiles for NoTemplateFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!(
            "cannot read `{path}`: this spec was given as text, and templates are read beside a spec file"
        ))
    }
}

/// Renders, parses, converts and validates a svc.yml template.
///
/// `env` supplies the template variables (typically the scheduler's environment, passed in by
/// the caller; nothing is read from the process). Its `TASKCFG_ALL_*` and `TASKCFG_<POD>_*`
/// variables are routed into the tasks' environments ([`route_task_env`]). A spec with
/// `configs:` needs [`parse_yaml_with`], which can read their templates.
pub fn parse_yaml(
    template: &str,
    env: &BTreeMap<String, String>,
) -> Result<ServiceSpec, SpecErrors> {
    parse_yaml_with(template, env, &NoTemplateFiles)
}

/// [`parse_yaml`], reading `configs:` templates from `files`.
pub fn parse_yaml_with(
    template: &str,
    env: &BTreeMap<String, String>,
    files: &dyn TemplateFiles,
) -> Result<ServiceSpec, SpecErrors> {
    let rendered = template::render_mapped(template, env)?;
    // Before the YAML parser, whose work grows with the square of the depth.
    let nesting = &limits::NESTING;
    if let Some((line, depth)) = nesting::too_deep(&rendered.text, nesting.max as usize) {
        return Err(SpecErrors::from(SpecError::new(
            format!("line {}", rendered.template_line(line)),
            format!(
                "nests {depth} levels deep, more than the limit of {} {}",
                nesting.max, nesting.what
            ),
        )));
    }
    let raw: raw::RawServiceSpec =
        serde_norway::from_str(&rendered.text).map_err(|e| yaml_error(&e, &rendered))?;
    let converted = convert::convert(raw, env, files);
    let mut checks = Report::default();
    validate::check_service(&converted.spec, &mut checks);
    checks.rewrite_paths(|p| converted.yaml_path(p));
    let convert::Converted {
        spec, mut report, ..
    } = converted;
    report.extend(checks);
    report.finish(spec)
}

/// Turns a YAML library error into a `path: message` problem with the template's line.
fn yaml_error(e: &serde_norway::Error, rendered: &Rendered) -> SpecErrors {
    let mut text = e.to_string();
    let location = e.location().map(|l| {
        // The library appends the position to its message; it is given separately below.
        text = text.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        );
        (rendered.template_line(l.line()), l.column())
    });
    // The library prefixes `path: ` when it knows where it was. A path has no spaces; the
    // library's own messages (`invalid type: ...`, YAML syntax errors) do before their colon.
    let (mut path, mut message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(char::is_whitespace) => {
            (p.to_string(), m.to_string())
        }
        _ => (String::new(), text.clone()),
    };
    // Point at the offending key itself, in words rather than serde's.
    if let Some((key, rest)) = backticked_after(&message, "unknown field ") {
        let expected = backticked_all(&rest);
        path = join(&path, &key);
        message = match closest(&key, &expected) {
            // serde_norway applies YAML merge keys only to untyped values, and dcos-commons
            // (Jackson) never supported them either: say so rather than list every key.
            _ if key == "<<" => "YAML merge keys (`<<: *anchor`) are not supported; \
                                 repeat the keys, or use an alias for a whole value"
                .into(),
            Some(near) => format!("unknown key (did you mean `{near}`?)"),
            None if expected.is_empty() => "unknown key (nothing is expected here)".into(),
            None => format!("unknown key (expected one of: {})", expected.join(", ")),
        };
    } else if let Some((key, _)) = backticked_after(&message, "missing field ") {
        path = join(&path, &key);
        message = "is required".into();
    } else if let Some((key, _)) = backticked_after(&message, "duplicate field ")
        .or_else(|| backticked_after(&message, "duplicate key "))
    {
        path = join(&path, &key);
        message = "duplicate key".into();
    } else {
        message = rust_types_in_words(&message);
    }
    let error = match (path.is_empty(), location) {
        (false, Some((line, column))) => {
            SpecError::new(path, format!("{message} (line {line}, column {column})"))
        }
        (false, None) => SpecError::new(path, message),
        (true, Some((line, column))) => SpecError::new(
            format!("line {line}"),
            format!("{message} (column {column})"),
        ),
        (true, None) => SpecError::new("spec", message),
    };
    SpecErrors::from(error)
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
}
