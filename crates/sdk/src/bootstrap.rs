//! `bootstrap`: the renderer of a task's config templates, run in its sandbox before its
//! command.
//!
//! The scheduler serves its own executable as the artifact `bootstrap` (fetched executable
//! into the sandbox, on the embedded cluster and on a real Mesos agent alike, since cairn's
//! executor is not involved), and a task with `configs` runs `./bootstrap` first. Started
//! under that name, `cairn::run` (and the `cairn` binary) render and exit instead of doing
//! anything else: each `CONFIG_TEMPLATE_<NAME>=<fetched template>,<dest>` of the environment is
//! rendered with the process environment (the task's: its ports, `MESOS_SANDBOX`, `TASKCFG_*`
//! values, ...) into `<dest>`, relative to the sandbox, by the same strict renderer as svc.yml.
//! A missing value is a line on stderr, `template <name> line N: variable `X` is not set`, and
//! a non-zero exit, which fails the task before its command runs.
//!
//! Specs written for the DC/OS SDK call `./bootstrap` themselves, with its flags
//! (`-resolve=false`, `-resolve-hosts=...`, `-template=false`...). They are accepted and
//! ignored, with a note: cairn's bootstrap only renders templates (it waits for no DNS name).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The file name the renderer is fetched as, and what makes a process one.
pub const BOOTSTRAP_NAME: &str = "bootstrap";

/// Whether this process was started as the renderer (its program's file name is `bootstrap`).
pub fn is_bootstrap_invocation() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == BOOTSTRAP_NAME))
        .unwrap_or(false)
}

/// Renders every config template of the environment; the process's exit status: 0 when all
/// were written, 1 (after a line per problem on stderr) otherwise.
pub fn bootstrap_main() -> std::process::ExitCode {
    for arg in std::env::args().skip(1) {
        eprintln!("bootstrap: ignoring `{arg}`: cairn's bootstrap only renders config templates");
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let sandbox = env
        .get("MESOS_SANDBOX")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let problems = render_all(&env, &sandbox);
    if problems.is_empty() {
        return std::process::ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    std::process::ExitCode::FAILURE
}

/// Renders each `CONFIG_TEMPLATE_*` of `env` under `sandbox`; the problems, every one.
pub fn render_all(env: &BTreeMap<String, String>, sandbox: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in env {
        let Some(var) = key.strip_prefix("CONFIG_TEMPLATE_") else {
            continue;
        };
        let Some((source, dest)) = value.split_once(',') else {
            problems.push(format!(
                "{key}: expected `<template>,<destination>`, found `{value}`"
            ));
            continue;
        };
        // The name the spec gave the config is the fetched file's: it names the template in
        // messages (the variable's name is its upper-cased form).
        let name = Path::new(source)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| var.to_string());
        if let Err(p) = render_one(&name, &sandbox.join(source), &sandbox.join(dest), env) {
            problems.extend(p);
        }
    }
    problems
}

fn render_one(
    name: &str,
    source: &Path,
    dest: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(), Vec<String>> {
    let limit = &cairn_core::spec::limits::TEMPLATE_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(source)
        .and_then(|f| f.take(limit.max + 1).read_to_end(&mut bytes))
        .map_err(|e| {
            vec![format!(
                "template {name}: reading {}: {e}",
                source.display()
            )]
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        vec![format!(
            "template {name}: {} is not UTF-8 text",
            source.display()
        )]
    })?;
    let rendered = cairn_core::spec::template::render_config(name, &text, env)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            vec![format!(
                "template {name}: creating {}: {e}",
                parent.display()
            )]
        })?;
    }
    std::fs::write(dest, rendered)
        .map_err(|e| vec![format!("template {name}: writing {}: {e}", dest.display())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_of_the_environment_is_rendered_and_every_missing_value_is_said() {
        let dir = std::env::temp_dir().join(format!("cairn-bootstrap-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config-templates")).unwrap();
        std::fs::write(dir.join("config-templates/a-conf"), "port={{PORT_HTTP}}\n").unwrap();
        std::fs::write(dir.join("config-templates/b"), "x\n{{MISSING}}\n").unwrap();
        let mut env: BTreeMap<String, String> = [
            ("PORT_HTTP", "31000"),
            (
                "CONFIG_TEMPLATE_A_CONF",
                "config-templates/a-conf,etc/a.conf",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(render_all(&env, &dir).is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.join("etc/a.conf")).unwrap(),
            "port=31000\n"
        );
        env.insert(
            "CONFIG_TEMPLATE_B".into(),
            "config-templates/b,b.out".into(),
        );
        assert_eq!(
            render_all(&env, &dir),
            ["template b line 2: variable `MISSING` is not set"]
        );
        assert!(
            !dir.join("b.out").exists(),
            "nothing half-rendered is written"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
