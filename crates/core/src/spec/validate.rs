//! Rules every service spec must follow, however it was written; all problems are reported.
//!
//! Paths use svc.yml's vocabulary (`pods.data.tasks.node.health-check.interval`) for specs
//! built in Rust too. Volumes, which svc.yml names and the model lists, are addressed as
//! `volumes[i]` here; [`super::parse_yaml`] rewrites that to the key the author wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::convert::{CONFIGS, GPUS};
use super::error::{Report, SpecErrors};
use super::model::*;
use super::names::{
    dns_label_problem, env_name_problem, identifier_problem, role_problem, DNS_LABEL_MAX,
};

/// The longest kill grace period, as in dcos-commons.
pub const KILL_GRACE_PERIOD_MAX_S: u32 = 3600;

pub(crate) const KILL_GRACE_RANGE: &str = "must be within 0..=3600 seconds";

/// Checks `spec` against every rule and reports every problem, each with its path.
pub fn validate(spec: &ServiceSpec) -> Result<(), SpecErrors> {
    let mut report = Report::default();
    check_service(spec, &mut report);
    report.finish(())
}

pub(crate) fn check_service(spec: &ServiceSpec, r: &mut Report) {
    let name_problem = service_name_problem(&spec.name);
    // A role derived from a bad name is bad for the same reason; say it once, at the name.
    let derived_role = spec.role == ServiceSpec::default_role(&spec.name);
    if let Some(problem) = name_problem.clone() {
        r.push("name", problem);
    }
    if let Some(problem) = role_problem(&spec.role) {
        if name_problem.is_none() || !derived_role {
            r.push("role", problem);
        }
    }
    if spec.principal.trim().is_empty() {
        r.push("scheduler.principal", "must not be empty");
    }
    if let Some(problem) = user_problem(&spec.user) {
        r.push("scheduler.user", problem);
    }
    if spec.web_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
        r.push("web-url", "must not be empty when given");
    }
    if spec
        .zookeeper
        .as_deref()
        .is_some_and(|z| z.trim().is_empty())
    {
        r.push("scheduler.zookeeper", "must not be empty when given");
    }
    if let Some(policy) = &spec.replacement_failure_policy {
        if policy.permanent_failure_timeout_s == 0 {
            r.push(
                "replacement-failure-policy.permanent-failure-timeout",
                "must be > 0 (leave the policy out to never replace automatically)",
            );
        }
    }
    if spec.pods.is_empty() {
        r.push("pods", "a service needs at least one pod type");
    }
    let mut seen = BTreeSet::new();
    for pod in &spec.pods {
        if !seen.insert(pod.type_name.as_str()) {
            r.push(format!("pods.{}", pod.type_name), "duplicate pod type");
        }
        check_pod(pod, r);
    }
    check_unique_port_names(spec, r);
    check_unique_discovery_prefixes(spec, r);
    let mut seen = BTreeSet::new();
    for plan in &spec.plans {
        if !seen.insert(plan.name.as_str()) {
            r.push(format!("plans.{}", plan.name), "duplicate plan");
        }
        check_plan(spec, plan, r);
    }
}

/// A service name: DNS labels separated by `/` (Marathon folders), at most 63 characters.
fn service_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > DNS_LABEL_MAX {
        return Some(format!(
            "`{name}` is {} characters; at most {DNS_LABEL_MAX} (it becomes part of DNS names)",
            name.len()
        ));
    }
    let folders = name.strip_prefix('/').unwrap_or(name);
    folders.split('/').find_map(dns_label_problem).map(|p| {
        format!("{p} (a service name is DNS labels of `[a-z0-9-]`, optionally in `/` folders)")
    })
}

fn user_problem(user: &str) -> Option<String> {
    if user.is_empty() {
        Some("must not be empty".into())
    } else if user
        .chars()
        .any(|c| c.is_whitespace() || c == ':' || c == '/')
    {
        Some(format!("`{user}` is not a user name"))
    } else {
        None
    }
}

fn check_pod(pod: &PodSpec, r: &mut Report) {
    let path = format!("pods.{}", pod.type_name);
    if let Some(problem) = dns_label_problem(&pod.type_name) {
        r.push(path.clone(), format!("pod type {problem}"));
    }
    check_uris(&pod.uris, &format!("{path}.uris"), r);
    check_volumes(&pod.volumes, &format!("{path}.volumes"), &[], r);
    if let Some(role) = &pod.pre_reserved_role {
        if let Some(problem) = role_problem(role) {
            r.push(format!("{path}.pre-reserved-role"), problem);
        }
    }
    if let Some(problem) = pod.user.as_deref().and_then(user_problem) {
        r.push(format!("{path}.user"), problem);
    }

    let mut set_ids = BTreeSet::new();
    for set in &pod.resource_sets {
        let sp = format!("{path}.resource-sets.{}", set.id);
        if !set_ids.insert(set.id.as_str()) {
            r.push(sp.clone(), "duplicate resource set");
        }
        if let Some(problem) = identifier_problem(&set.id) {
            r.push(sp.clone(), format!("resource set name {problem}"));
        }
        check_own_resources(&set.resources, &sp, r);
        check_volumes(&set.volumes, &format!("{sp}.volumes"), &pod.volumes, r);
    }

    if pod.tasks.is_empty() {
        r.push(format!("{path}.tasks"), "a pod needs at least one task");
    }
    let mut task_names = BTreeSet::new();
    for task in &pod.tasks {
        if !task_names.insert(task.name.as_str()) {
            r.push(format!("{path}.tasks.{}", task.name), "duplicate task");
        }
        check_task(pod, task, r);
    }
    check_fixed_ports_in_pod(pod, r);
}

fn check_task(pod: &PodSpec, task: &TaskSpec, r: &mut Report) {
    let path = format!("pods.{}.tasks.{}", pod.type_name, task.name);
    match dns_label_problem(&task.name) {
        Some(problem) => r.push(path.clone(), format!("task name {problem}")),
        None if dns_label_problem(&pod.type_name).is_none() => {
            // The Mesos task name `<pod>-<index>-<task>` must still be one DNS label.
            let longest = format!(
                "{}-{}-{}",
                pod.type_name,
                pod.count.saturating_sub(1),
                task.name
            );
            if longest.len() > DNS_LABEL_MAX {
                r.push(
                    path.clone(),
                    format!(
                        "task name `{longest}` is {} characters; at most {DNS_LABEL_MAX} fit a DNS label",
                        longest.len()
                    ),
                );
            }
        }
        None => {}
    }
    if task.cmd.trim().is_empty() {
        r.push(format!("{path}.cmd"), "must not be empty");
    }
    for key in task.env.keys() {
        if let Some(problem) = env_name_problem(key) {
            r.push(format!("{path}.env.{key}"), problem);
        }
    }
    if !task.configs.is_empty() {
        r.push(format!("{path}.configs"), CONFIGS);
    }
    match &task.resource_set {
        Some(id) => {
            if pod.resource_set(id).is_none() {
                let known: Vec<_> = pod.resource_sets.iter().map(|s| s.id.as_str()).collect();
                r.push(
                    format!("{path}.resource-set"),
                    format!(
                        "`{id}` is not a resource set of pod `{}` ({})",
                        pod.type_name,
                        listing("resource sets", &known)
                    ),
                );
            }
            if !task.resources.is_empty() || !task.volumes.is_empty() {
                r.push(
                    format!("{path}.resource-set"),
                    "a task has either its own resources (cpus, memory, gpus, ports, volumes) or a resource-set, not both",
                );
            }
        }
        None => check_own_resources(&task.resources, &path, r),
    }
    check_volumes(&task.volumes, &format!("{path}.volumes"), &pod.volumes, r);
    if let Some(h) = &task.health_check {
        let hp = format!("{path}.health-check");
        check_cmd_and_timing(&h.cmd, h.interval_s, h.timeout_s, &hp, r);
        if h.max_consecutive_failures == 0 {
            r.push(format!("{hp}.max-consecutive-failures"), "must be >= 1");
        }
    }
    if let Some(c) = &task.readiness_check {
        check_cmd_and_timing(
            &c.cmd,
            c.interval_s,
            c.timeout_s,
            &format!("{path}.readiness-check"),
            r,
        );
    }
    if task
        .kill_grace_period_s
        .is_some_and(|s| s > KILL_GRACE_PERIOD_MAX_S)
    {
        r.push(format!("{path}.kill-grace-period"), KILL_GRACE_RANGE);
    }
    if task.labels.keys().any(|k| k.trim().is_empty()) {
        r.push(format!("{path}.labels"), "a label key must not be empty");
    }
    if let Some(prefix) = task.discovery.as_ref().and_then(|d| d.prefix.as_deref()) {
        if let Some(problem) = dns_label_problem(prefix) {
            r.push(format!("{path}.discovery.prefix"), problem);
        }
    }
    check_uris(&task.uris, &format!("{path}.uris"), r);
}

fn check_cmd_and_timing(cmd: &str, interval_s: u32, timeout_s: u32, path: &str, r: &mut Report) {
    if cmd.trim().is_empty() {
        r.push(format!("{path}.cmd"), "must not be empty");
    }
    if interval_s == 0 {
        r.push(format!("{path}.interval"), "must be > 0");
    }
    if timeout_s == 0 {
        r.push(format!("{path}.timeout"), "must be > 0");
    }
}

/// cpus, memory, gpus and ports of a task without a resource set, or of a resource set.
fn check_own_resources(res: &ResourceSpec, path: &str, r: &mut Report) {
    // `!(x > 0)` rather than `x <= 0`: NaN must fail too.
    if !(res.cpus > 0.0 && res.cpus.is_finite()) {
        r.push(format!("{path}.cpus"), "must be > 0");
    }
    if res.memory_mb == 0 {
        r.push(format!("{path}.memory"), "must be > 0");
    }
    if res.gpus > 0 {
        r.push(format!("{path}.gpus"), GPUS);
    }
    for port in &res.ports {
        check_port(port, &format!("{path}.ports.{}", port.name), r);
    }
}

fn check_port(port: &PortSpec, path: &str, r: &mut Report) {
    if let Some(problem) = identifier_problem(&port.name) {
        r.push(path.to_string(), format!("port name {problem}"));
    }
    if let Some(key) = &port.env_key {
        if let Some(problem) = env_name_problem(key) {
            r.push(format!("{path}.env-key"), problem);
        }
    }
    if let Some(vip) = &port.vip {
        if vip.port == 0 {
            r.push(format!("{path}.vip.port"), "must be > 0");
        }
        if let Some(problem) = dns_label_problem(&vip.prefix) {
            r.push(format!("{path}.vip.prefix"), problem);
        }
    }
    for (i, range) in port.ranges.iter().enumerate() {
        if range.begin == 0 || range.begin > range.end {
            r.push(
                format!("{path}.ranges[{i}]"),
                format!(
                    "`{}..{}` is not a range of ports (1 <= begin <= end)",
                    range.begin, range.end
                ),
            );
        }
    }
    if !port.ranges.is_empty() && port.port != 0 {
        r.push(
            format!("{path}.port"),
            "must be 0 (dynamic) when ranges are given: ranges say where a dynamic port comes from",
        );
    }
}

/// Paths must be relative, plain and distinct; sizes positive. `shared` are the pod's own
/// volumes, which are mounted into every task too.
fn check_volumes(volumes: &[VolumeSpec], path: &str, shared: &[VolumeSpec], r: &mut Report) {
    let mut seen = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let vp = format!("{path}[{i}]");
        let plain = !v.path.is_empty()
            && !v.path.starts_with('/')
            && v.path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !plain {
            r.push(
                format!("{vp}.path"),
                format!("`{}` must be a relative path inside the sandbox, without `.`, `..` or empty parts", v.path),
            );
        }
        if v.size_mb == 0 {
            r.push(format!("{vp}.size"), "must be > 0");
        }
        if !seen.insert(v.path.as_str()) || shared.iter().any(|s| s.path == v.path) {
            r.push(
                format!("{vp}.path"),
                format!("`{}` is used by another volume of this pod", v.path),
            );
        }
    }
}

fn check_uris(uris: &[String], path: &str, r: &mut Report) {
    for (i, uri) in uris.iter().enumerate() {
        if uri.trim().is_empty() {
            r.push(format!("{path}[{i}]"), "must not be empty");
        }
    }
}

/// Every port of a pod, with its path.
fn pod_ports(pod: &PodSpec) -> impl Iterator<Item = (String, &PortSpec)> {
    let sets = pod.resource_sets.iter().flat_map(move |s| {
        s.resources.ports.iter().map(move |p| {
            (
                format!(
                    "pods.{}.resource-sets.{}.ports.{}",
                    pod.type_name, s.id, p.name
                ),
                p,
            )
        })
    });
    let tasks = pod.tasks.iter().flat_map(move |t| {
        t.resources.ports.iter().map(move |p| {
            (
                format!("pods.{}.tasks.{}.ports.{}", pod.type_name, t.name, p.name),
                p,
            )
        })
    });
    sets.chain(tasks)
}

/// Port names become `PORT_<NAME>` and endpoint names, so they are unique across the service.
fn check_unique_port_names(spec: &ServiceSpec, r: &mut Report) {
    let mut first: BTreeMap<&str, String> = BTreeMap::new();
    for pod in &spec.pods {
        for (path, port) in pod_ports(pod) {
            match first.get(port.name.as_str()) {
                Some(earlier) => r.push(
                    path,
                    format!("port name `{}` is also used at {earlier}; port names are unique across the service", port.name),
                ),
                None => {
                    first.insert(&port.name, path);
                }
            }
        }
    }
}

/// Tasks of one pod instance share an agent, so the same fixed port cannot serve two of them.
fn check_fixed_ports_in_pod(pod: &PodSpec, r: &mut Report) {
    let mut first: BTreeMap<u16, String> = BTreeMap::new();
    for (path, port) in pod_ports(pod) {
        if port.port == 0 {
            continue;
        }
        match first.get(&port.port) {
            Some(earlier) => r.push(
                format!("{path}.port"),
                format!("port {} is also asked for at {earlier}; tasks of a pod instance share one agent", port.port),
            ),
            None => {
                first.insert(port.port, path);
            }
        }
    }
}

/// A discovery prefix replaces the pod type in DNS names, so two pod types cannot share one.
fn check_unique_discovery_prefixes(spec: &ServiceSpec, r: &mut Report) {
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let Some(prefix) = task.discovery.as_ref().and_then(|d| d.prefix.as_deref()) else {
                continue;
            };
            match owner.get(prefix) {
                Some(other) if *other != pod.type_name => r.push(
                    format!("pods.{}.tasks.{}.discovery.prefix", pod.type_name, task.name),
                    format!("prefix `{prefix}` is also used by pod `{other}`; pod types cannot share a discovery prefix"),
                ),
                Some(_) => {}
                None => {
                    owner.insert(prefix, &pod.type_name);
                }
            }
        }
    }
}

fn check_plan(spec: &ServiceSpec, plan: &PlanSpec, r: &mut Report) {
    let path = format!("plans.{}", plan.name);
    if let Some(problem) = identifier_problem(&plan.name) {
        r.push(path.clone(), format!("plan name {problem}"));
    }
    if !matches!(plan.strategy, Strategy::Serial | Strategy::Parallel) {
        r.push(
            format!("{path}.strategy"),
            format!(
                "`{}`: a plan's strategy is serial or parallel (canaries are for phases)",
                plan.strategy.as_str()
            ),
        );
    }
    if plan.phases.is_empty() {
        r.push(format!("{path}.phases"), "a plan needs at least one phase");
    }
    let mut seen = BTreeSet::new();
    for phase in &plan.phases {
        let pp = format!("{path}.phases.{}", phase.name);
        if !seen.insert(phase.name.as_str()) {
            r.push(pp.clone(), "duplicate phase");
        }
        if let Some(problem) = identifier_problem(&phase.name) {
            r.push(pp.clone(), format!("phase name {problem}"));
        }
        if phase.pod.is_empty() {
            r.push(
                format!("{pp}.pod"),
                "is required: the pod type this phase deploys",
            );
            continue;
        }
        let Some(pod) = spec.pod(&phase.pod) else {
            let known: Vec<_> = spec.pods.iter().map(|p| p.type_name.as_str()).collect();
            r.push(
                format!("{pp}.pod"),
                format!(
                    "`{}` is not a pod type of this service ({})",
                    phase.pod,
                    listing("pod types", &known)
                ),
            );
            continue;
        };
        check_steps(pod, phase, &pp, r);
    }
}

fn check_steps(pod: &PodSpec, phase: &PhaseSpec, phase_path: &str, r: &mut Report) {
    let mut seen: BTreeMap<StepIndex, usize> = BTreeMap::new();
    for (i, step) in phase.steps.iter().enumerate() {
        let sp = format!("{phase_path}.steps[{i}]");
        if let Some(earlier) = seen.insert(step.index, i) {
            r.push(
                format!("{sp}.{}", step.index),
                format!(
                    "instance `{}` already has steps at steps[{earlier}]",
                    step.index
                ),
            );
        }
        if let StepIndex::Index(n) = step.index {
            if n >= pod.count {
                r.push(
                    format!("{sp}.{n}"),
                    format!(
                        "pod `{}` has {} instance(s), so there is no instance {n}",
                        pod.type_name, pod.count
                    ),
                );
            }
        }
        let kp = format!("{sp}.{}", step.index);
        if step.task_groups.is_empty() {
            r.push(kp.clone(), "needs at least one task group, e.g. [[server]]");
        }
        for (g, group) in step.task_groups.iter().enumerate() {
            if group.is_empty() {
                r.push(format!("{kp}[{g}]"), "a task group names at least one task");
            }
            for task in group {
                if pod.task(task).is_none() {
                    let known: Vec<_> = pod.tasks.iter().map(|t| t.name.as_str()).collect();
                    r.push(
                        format!("{kp}[{g}]"),
                        format!(
                            "`{task}` is not a task of pod `{}` ({})",
                            pod.type_name,
                            listing("tasks", &known)
                        ),
                    );
                }
            }
        }
    }
}

fn listing(what: &str, names: &[&str]) -> String {
    if names.is_empty() {
        format!("it has no {what}")
    } else {
        format!("{what}: {}", names.join(", "))
    }
}
