//! The service spec: what a service is made of, from svc.yml or from Rust, always validated.
//!
//! Two ways in, one model out:
//!
//! * [`parse_yaml`]: render the Mustache template with the caller's environment map
//!   ([`template`]), read the YAML into [`raw`] structs (unknown keys, wrong types and repeated
//!   keys are errors, all of them collected: `shape`), convert to the model ([`convert`]:
//!   defaults, refused DC/OS-only keys), and [`validate()`].
//! * [`ServiceSpec::builder`] ([`builder`]): collect values, then `build()` runs [`validate()`].
//!
//! Every number, list and string of a spec is bounded ([`limits`]: one table, also in
//! README.md), and so are the template and the YAML (size, nesting), so that nothing is
//! allocated in proportion to a number before it has been checked.
//!
//! Problems come back as [`SpecErrors`]: all of them at once, each `path: message` with a
//! svc.yml path such as `pods.data.tasks.node.cpus`, and from svc.yml also with the template
//! line of that path (`outline` finds it in the rendered text), listed in line order. Two
//! things stop the reading because nothing after them can be read reliably: a template syntax
//! error and a YAML syntax error (bad indentation, an unclosed quote); the message says that
//! the rest is not checked. Shape problems (unknown key, wrong type, repeated key) do not stop
//! it: `shape` reads past each, up to `shape::MAX_ROUNDS` of them.

pub mod builder;
pub mod convert;
mod error;
pub mod limits;
mod model;
mod names;
mod nesting;
mod outline;
mod placement;
pub mod raw;
mod shape;
mod taskcfg;
pub mod template;
mod validate;

use std::collections::BTreeMap;

pub use builder::{PodSpecBuilder, ServiceSpecBuilder, TaskSpecBuilder};
pub use error::{SpecError, SpecErrors};
pub use model::*;
pub use names::{
    discovery_name, dns_label, framework_host, task_host, NameError, PodInstanceName, TaskName,
};
pub use placement::{Placement, PlacementError, PlacementField, PlacementRule};
pub use taskcfg::{route_task_env, taskcfg_settings};
pub use validate::{validate, KILL_GRACE_PERIOD_MAX_S};

use error::Report;

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
/// variables are not routed into the tasks here: they are the settings of the scheduler that
/// runs the spec, which routes its own into every spec it takes (`SchedulerConfig::taskcfg`,
/// [`route_task_env`]), whoever rendered it. A spec with `configs:` needs [`parse_yaml_with`],
/// which can read their templates.
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
        return Err(SpecErrors::from(SpecError::at_line(
            rendered.template_line(line),
            format!(
                "nests {depth} levels deep, more than the limit of {} {}",
                nesting.max, nesting.what
            ),
        )));
    }
    let read = shape::read(&rendered);
    let Some(raw) = read.raw else {
        return Err(SpecErrors::in_line_order(read.problems, 0));
    };
    let converted = convert::convert(raw, files);
    let mut checks = Report::default();
    validate::check_service(&converted.spec, &mut checks);
    // Validation names model places (`volumes[1]`); the author wrote `volume` or
    // `volumes.data`, and the line is that of what the author wrote.
    checks.rewrite_paths(|p| converted.yaml_path(p));
    let convert::Converted {
        spec, mut report, ..
    } = converted;
    report.extend(checks);
    let (found, more) = report.into_parts();
    if found.is_empty() && read.problems.is_empty() {
        return Ok(spec);
    }
    let outline = outline::Outline::of(&read.text);
    let mut problems = read.problems;
    problems.extend(
        found
            .into_iter()
            // A value read as neutral after its shape problem: what follows from it is that
            // problem again (`count: many`, then `count: is required`).
            .filter(|e| !read.mended.iter().any(|m| within(&e.path, m)))
            .map(|e| {
                let line = outline.line_of(&e.path).map(|l| rendered.template_line(l));
                e.with_line(line)
            }),
    );
    Err(SpecErrors::in_line_order(problems, more))
}

/// Whether `path` is `root` or a place inside it.
fn within(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}
