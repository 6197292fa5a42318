//! `TASKCFG_*`: settings of the scheduler's environment routed into the tasks' environments,
//! as the DC/OS SDK routes them (a package's options reach its tasks this way without a
//! change to svc.yml).
//!
//! `TASKCFG_ALL_X=v` gives every task `X=v`; `TASKCFG_<POD>_X=v` gives `X=v` to the tasks of
//! the pod type whose name, as an environment name ([`env_name`]: upper-cased, other
//! characters than letters, digits and `_` written `_`), is `<POD>` — `TASKCFG_HELLO_WORLD_X`
//! for pod type `hello-world`. A pod's own setting wins over an `ALL` one. Both win over the
//! spec's `env`, as in the SDK: they are the operator's override of what the author wrote.
//! The scheduler routes its own settings into every spec it takes (`SchedulerConfig::taskcfg`):
//! the one it starts with and each one `cairn update` hands it, which the operator renders
//! with another environment. Routed into the stored config, a changed value (a scheduler
//! restarted with another) is a changed config that the update plan rolls out.

use std::collections::BTreeMap;

use super::model::{env_name, ServiceSpec};

const PREFIX: &str = "TASKCFG_";
const ALL: &str = "TASKCFG_ALL_";

/// The `TASKCFG_*` settings among `vars` (a process environment): what a scheduler routes.
pub fn taskcfg_settings(
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(key, _)| key.starts_with(PREFIX))
        .collect()
}

/// The variables `env` routes to the tasks of `pod_type`, prefixes stripped.
pub(crate) fn routed(pod_type: &str, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let pod_prefix = format!("{PREFIX}{}_", env_name(pod_type));
    let mut vars = BTreeMap::new();
    // ALL first, so that a pod's own setting overrides it.
    for (key, value) in env {
        if let Some(name) = key.strip_prefix(ALL).filter(|n| !n.is_empty()) {
            vars.insert(name.to_string(), value.clone());
        }
    }
    for (key, value) in env {
        if let Some(name) = key.strip_prefix(&pod_prefix).filter(|n| !n.is_empty()) {
            vars.insert(name.to_string(), value.clone());
        }
    }
    vars
}

/// Routes `env`'s `TASKCFG_*` variables into every task of `spec` (see the module doc): what
/// [`super::parse_yaml`] does for svc.yml, for a spec built in Rust.
pub fn route_task_env(spec: &mut ServiceSpec, env: &BTreeMap<String, String>) {
    for pod in &mut spec.pods {
        let vars = routed(&pod.type_name, env);
        for task in &mut pod.tasks {
            task.env.extend(vars.clone());
        }
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

    #[test]
    fn all_goes_to_every_pod_and_a_pod_s_own_setting_wins() {
        let e = env(&[
            ("TASKCFG_ALL_LEVEL", "info"),
            ("TASKCFG_ALL_SIZE", "1"),
            ("TASKCFG_HELLO_WORLD_SIZE", "2"),
            ("TASKCFG_OTHER_SIZE", "3"),
            ("TASKCFG_ALL_", "nameless"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(
            routed("hello-world", &e),
            env(&[("LEVEL", "info"), ("SIZE", "2")])
        );
        assert_eq!(routed("web", &e), env(&[("LEVEL", "info"), ("SIZE", "1")]));
    }
}
