//! Spec errors: every problem found in a spec, each with the place it was found.

use std::fmt;

/// One problem in a service spec.
///
/// `path` names the place in svc.yml vocabulary (`pods.data.tasks.node.cpus`), also for specs
/// built in Rust, so that one message reads the same whichever way the spec was written. `line`
/// is the svc.yml line (of the template, before rendering) when the spec was read from YAML and
/// the place, or the key holding it, is written there. A YAML syntax error has a line and an
/// empty path; template problems, found before there is any YAML, name `line N` as their path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Where: a dotted key path such as `pods.data.tasks.node.cpus`; empty when only the line
    /// is known.
    pub path: String,
    /// What is wrong there, e.g. `must be > 0`.
    pub message: String,
    /// The 1-based svc.yml line of the place, when known.
    pub line: Option<usize>,
}

impl SpecError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }

    /// A problem at svc.yml line `line`, where no key path can be named.
    pub fn at_line(line: usize, message: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            message: message.into(),
            line: Some(line),
        }
    }

    /// The same problem, placed at svc.yml line `line`.
    pub fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

/// `path: message (line N)`, `path: message` without a line, `line N: message` without a path.
impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (false, Some(line)) => write!(f, "{}: {} (line {line})", self.path, self.message),
            (_, None) => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// Every problem found in a spec, in the order found. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// The problems, in the order found.
    pub fn errors(&self) -> &[SpecError] {
        &self.0
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no problem (only for a value still being collected).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as `path: message` lines, one per problem: handy for tests and logs.
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for SpecErrors {
    /// One problem per line, so that a user sees all of them at once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no problem found"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems in the service spec:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}

/// The most problems one report lists; the rest are counted. A spec is read from files and
/// HTTP bodies, and 200,000 bad entries must not become a 10 MB answer (or take minutes to
/// de-duplicate).
pub(crate) const MAX_PROBLEMS: usize = 100;

/// Collects problems while a spec is checked, so that all of them are reported together.
#[derive(Debug, Default)]
pub(crate) struct Report {
    errors: Vec<SpecError>,
    seen: std::collections::HashSet<(String, String)>,
    /// Problems found beyond [`MAX_PROBLEMS`].
    more: usize,
}

impl Report {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let key = (path.into(), message.into());
        // Two stages (conversion and validation) may notice the same thing; say it once.
        if !self.seen.insert(key.clone()) {
            return;
        }
        if self.errors.len() >= MAX_PROBLEMS {
            self.more += 1;
            return;
        }
        self.errors.push(SpecError::new(key.0, key.1));
    }

    pub(crate) fn extend(&mut self, other: Report) {
        for e in other.errors {
            self.push(e.path, e.message);
        }
        self.more += other.more;
    }

    pub(crate) fn rewrite_paths(&mut self, rewrite: impl Fn(&str) -> String) {
        for e in &mut self.errors {
            e.path = rewrite(&e.path);
        }
        self.seen = std::mem::take(&mut self.seen)
            .into_iter()
            .map(|(path, message)| (rewrite(&path), message))
            .collect();
    }

    /// The problems kept, in the order found, and how many more were found beyond
    /// [`MAX_PROBLEMS`].
    pub(crate) fn into_parts(self) -> (Vec<SpecError>, usize) {
        (self.errors, self.more)
    }

    /// `Ok(value)` when nothing was reported.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, SpecErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        Err(SpecErrors::in_line_order(self.errors, self.more))
    }
}

impl SpecErrors {
    /// `errors` in the order of their lines; those without a line (rules about the whole
    /// spec, specs built in Rust) after them, in the order found; then the count of `more`
    /// problems not listed, if any.
    pub(crate) fn in_line_order(mut errors: Vec<SpecError>, more: usize) -> SpecErrors {
        // Stable: problems of one line stay in the order found.
        errors.sort_by_key(|e| (e.line.is_none(), e.line));
        if more > 0 {
            errors.push(SpecError::new(
                "spec",
                format!("{more} more problems not listed (the first {MAX_PROBLEMS} are)"),
            ));
        }
        SpecErrors(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_displays_as_path_colon_message() {
        let e = SpecError::new("pods.data.count", "must be >= 0");
        assert_eq!(e.to_string(), "pods.data.count: must be >= 0");
        assert_eq!(
            SpecErrors::from(e).to_string(),
            "pods.data.count: must be >= 0"
        );
    }

    #[test]
    fn several_errors_display_one_per_line() {
        let errs = SpecErrors(vec![SpecError::new("a", "x"), SpecError::new("b", "y")]);
        assert_eq!(
            errs.to_string(),
            "2 problems in the service spec:\n  a: x\n  b: y"
        );
    }

    #[test]
    fn a_report_lists_the_first_problems_and_counts_the_rest() {
        let mut r = Report::default();
        for i in 0..200_000 {
            r.push(format!("env.V{i}"), "bad");
        }
        let errors = r.finish(()).unwrap_err();
        assert_eq!(errors.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            errors.lines().last().unwrap(),
            "spec: 199900 more problems not listed (the first 100 are)"
        );
    }

    #[test]
    fn report_says_the_same_problem_once() {
        let mut r = Report::default();
        r.push("a", "x");
        r.push("a", "x");
        assert_eq!(r.finish(()).unwrap_err().len(), 1);
    }
}
