//! Rules every service spec must follow, however it was written; all problems are reported.
//!
//! Paths use svc.yml's vocabulary (`pods.data.tasks.node.health-check.interval`) for specs
//! built in Rust too. Volumes, which svc.yml names and the model lists, are addressed as
//! `volumes[i]` here; [`super::parse_yaml`] rewrites that to the key the author wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{Report, SpecErrors};
use super::limits::{self, Limit};
use super::model::*;
use super::names::{
    dns_label, dns_label_problem, env_name_problem, identifier_problem, pod_or_task_name_problem,
    role_problem, DNS_LABEL_MAX,
};

/// The longest kill grace period, as in dcos-commons ([`limits::KILL_GRACE_SECONDS`]).
pub const KILL_GRACE_PERIOD_MAX_S: u32 = limits::KILL_GRACE_SECONDS.max as u32;

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
    } else if let Err(e) = cairn_proto::validation::validate_role(&spec.role) {
        // What Mesos (and the embedded cluster) would refuse at the first RESERVE.
        r.push("role", e.to_string());
    }
    if spec.principal.trim().is_empty() {
        r.push("scheduler.principal", "must not be empty");
    }
    at_most_bytes(r, "role", &limits::STRING_BYTES, &spec.role);
    at_most_bytes(
        r,
        "scheduler.principal",
        &limits::STRING_BYTES,
        &spec.principal,
    );
    at_most_bytes(r, "scheduler.user", &limits::STRING_BYTES, &spec.user);
    if let Some(url) = &spec.web_url {
        at_most_bytes(r, "web-url", &limits::STRING_BYTES, url);
    }
    if let Some(zk) = &spec.zookeeper {
        at_most_bytes(r, "scheduler.zookeeper", &limits::STRING_BYTES, zk);
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
        let p = "replacement-failure-policy";
        let limit = &limits::REPLACE_SECONDS;
        at_most(
            r,
            format!("{p}.permanent-failure-timeout"),
            limit,
            policy.permanent_failure_timeout_s,
        );
        at_most(
            r,
            format!("{p}.min-replace-delay"),
            limit,
            policy.min_replace_delay_s,
        );
    }
    if spec.pods.is_empty() {
        r.push("pods", "a service needs at least one pod type");
    }
    at_most(r, "pods", &limits::POD_TYPES, spec.pods.len() as u64);
    let mut seen = BTreeSet::new();
    let mut labels = DnsLabels::default();
    for pod in &spec.pods {
        if !seen.insert(pod.type_name.as_str()) {
            r.push(format!("pods.{}", pod.type_name), "duplicate pod type");
        }
        labels.check(
            "pod type",
            &pod.type_name,
            format!("pods.{}", pod.type_name),
            r,
        );
        check_pod(pod, r);
    }
    // Products with the count: what the scheduler will hold once every instance runs. Not
    // said again when a pod type's own count or tasks are past their limits already.
    let pods_within = spec.pods.iter().all(|p| {
        !limits::POD_INSTANCES.exceeded_by(u64::from(p.count))
            && !limits::TASKS_PER_POD.exceeded_by(p.tasks.len() as u64)
    });
    let task_instances = spec
        .pods
        .iter()
        .map(|p| u64::from(p.count).saturating_mul(p.tasks.len() as u64))
        .fold(0u64, u64::saturating_add);
    if pods_within {
        at_most(r, "pods", &limits::TASK_INSTANCES, task_instances);
    }
    let launch = spec
        .pods
        .iter()
        .map(|p| {
            let per_instance = p
                .tasks
                .iter()
                .map(|t| launch_bytes(p, t))
                .fold(0u64, u64::saturating_add);
            u64::from(p.count).saturating_mul(per_instance)
        })
        .fold(0u64, u64::saturating_add);
    if pods_within {
        at_most(r, "pods", &limits::SERVICE_LAUNCH_BYTES, launch);
        check_task_names_across_pods(spec, r);
    }
    check_unique_port_names(spec, r);
    check_unique_discovery_prefixes(spec, r);
    at_most(r, "plans", &limits::PLANS, spec.plans.len() as u64);
    let mut seen = BTreeSet::new();
    for plan in &spec.plans {
        if !seen.insert(plan.name.as_str()) {
            r.push(format!("plans.{}", plan.name), "duplicate plan");
        }
        check_plan(spec, plan, r);
    }
    at_most(r, "spec", &limits::SPEC_BYTES, json_bytes(spec));
}

/// A number as the author would write it: `4097`, `0.0004`, `1e16`, `1e-300` (Rust's own
/// display writes the last two out in full, 300 zeros and all).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v}")
    } else {
        format!("{v:?}")
    }
}

/// Reports `value` at `path` when it is beyond `limit`.
fn at_most(r: &mut Report, path: impl Into<String>, limit: &Limit, value: u64) {
    if limit.exceeded_by(value) {
        r.push(path, limit.refusal(value));
    }
}

/// Reports `text` at `path` when it is longer than `limit` bytes.
fn at_most_bytes(r: &mut Report, path: impl Into<String>, limit: &Limit, text: &str) {
    if limit.exceeded_by(text.len() as u64) {
        r.push(path, limit.length_refusal(text.len()));
    }
}

/// What one instance of `task` puts in its TaskInfo besides resources: the command, the
/// environment, labels, URIs (its pod's too) and check commands.
fn launch_bytes(pod: &PodSpec, task: &TaskSpec) -> u64 {
    let env: usize = task.env.iter().map(|(k, v)| k.len() + v.len() + 1).sum();
    let labels: usize = task.labels.iter().map(|(k, v)| k.len() + v.len()).sum();
    let uris: usize = pod.uris.iter().chain(&task.uris).map(String::len).sum();
    let checks = task.health_check.as_ref().map_or(0, |h| h.cmd.len())
        + task.readiness_check.as_ref().map_or(0, |c| c.cmd.len());
    (task.cmd.len() + env + labels + uris + checks) as u64
}

/// The size of the spec's stored form (JSON), counted without building it.
fn json_bytes(spec: &ServiceSpec) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A spec is plain data and always serializes.
    let _ = serde_json::to_writer(&mut count, spec);
    count.0
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
    if let Some(problem) = pod_or_task_name_problem(&pod.type_name) {
        r.push(path.clone(), format!("pod type {problem}"));
    }
    at_most(
        r,
        format!("{path}.count"),
        &limits::POD_INSTANCES,
        u64::from(pod.count),
    );
    at_most(
        r,
        format!("{path}.tasks"),
        &limits::TASKS_PER_POD,
        pod.tasks.len() as u64,
    );
    at_most(
        r,
        format!("{path}.resource-sets"),
        &limits::RESOURCE_SETS,
        pod.resource_sets.len() as u64,
    );
    let volumes = pod.volumes.len()
        + pod
            .resource_sets
            .iter()
            .map(|s| s.volumes.len())
            .sum::<usize>()
        + pod.tasks.iter().map(|t| t.volumes.len()).sum::<usize>();
    at_most(r, path.clone(), &limits::VOLUMES, volumes as u64);
    check_uris(&pod.uris, &format!("{path}.uris"), r);
    check_volumes(pod, &pod.volumes, &format!("{path}.volumes"), &[], r);
    if let Some(role) = &pod.pre_reserved_role {
        if let Some(problem) = role_problem(role) {
            r.push(format!("{path}.pre-reserved-role"), problem);
        } else if let Err(e) = cairn_proto::validation::validate_role(role) {
            r.push(format!("{path}.pre-reserved-role"), e.to_string());
        }
        at_most_bytes(
            r,
            format!("{path}.pre-reserved-role"),
            &limits::STRING_BYTES,
            role,
        );
    }
    if let Some(problem) = pod.user.as_deref().and_then(user_problem) {
        r.push(format!("{path}.user"), problem);
    }
    if let Some(user) = &pod.user {
        at_most_bytes(r, format!("{path}.user"), &limits::STRING_BYTES, user);
    }
    if let Some(placement) = &pod.placement {
        at_most_bytes(
            r,
            format!("{path}.placement"),
            &limits::STRING_BYTES,
            placement.as_str(),
        );
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
        check_limits(&set.resource_limits, &set.resources, &sp, r);
        check_volumes(pod, &set.volumes, &format!("{sp}.volumes"), &pod.volumes, r);
    }

    if pod.tasks.is_empty() {
        r.push(format!("{path}.tasks"), "a pod needs at least one task");
    }
    let mut task_names = BTreeSet::new();
    let mut labels = DnsLabels::default();
    for task in &pod.tasks {
        let tp = format!("{path}.tasks.{}", task.name);
        if !task_names.insert(task.name.as_str()) {
            r.push(tp.clone(), "duplicate task");
        }
        labels.check("task", &task.name, tp, r);
        check_task(pod, task, r);
    }
    check_fixed_ports_in_pod(pod, r);
    check_rlimits(pod, &path, r);
}

/// Mesos' rules for `RLimitInfo` (a type once; both limits or neither; soft <= hard), and
/// Linux's: open files cannot be unlimited (the kernel caps them at `fs.nr_open`), so such a
/// task could never start.
fn check_rlimits(pod: &PodSpec, pod_path: &str, r: &mut Report) {
    let mut seen = BTreeSet::new();
    for limit in &pod.rlimits {
        let name = limit.resource.posix_name();
        let path = format!("{pod_path}.rlimits.{name}");
        if limit.resource == cairn_proto::RlimitType::Unknown {
            r.push(path, "unknown resource limit");
            continue;
        }
        if !seen.insert(limit.resource) {
            r.push(path.clone(), "duplicate resource limit");
        }
        match (limit.soft, limit.hard) {
            (Some(soft), Some(hard)) if soft > hard => r.push(
                path,
                format!("soft limit {soft} is above the hard limit {hard}"),
            ),
            (Some(_), None) | (None, Some(_)) => r.push(
                path,
                "give both `soft` and `hard`, or neither for unlimited",
            ),
            (None, None) if limit.resource == cairn_proto::RlimitType::Nofile => r.push(
                path,
                "open files cannot be unlimited on Linux (the kernel caps them at fs.nr_open); give `soft` and `hard`",
            ),
            _ => {}
        }
    }
}

fn check_task(pod: &PodSpec, task: &TaskSpec, r: &mut Report) {
    let path = format!("pods.{}.tasks.{}", pod.type_name, task.name);
    match pod_or_task_name_problem(&task.name) {
        Some(problem) => r.push(path.clone(), format!("task name {problem}")),
        None if pod_or_task_name_problem(&pod.type_name).is_none() => {
            // The Mesos task name `<pod>-<index>-<task>` must still make one DNS label whole:
            // cut to 63 characters, two tasks could be published under the same name.
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
    check_port_variables(task, &path, r);
    if task.cmd.trim().is_empty() {
        r.push(format!("{path}.cmd"), "must not be empty");
    }
    at_most_bytes(r, format!("{path}.cmd"), &limits::COMMAND_BYTES, &task.cmd);
    at_most(
        r,
        format!("{path}.env"),
        &limits::ENV,
        task.env.len() as u64,
    );
    for (key, value) in &task.env {
        if let Some(problem) = env_name_problem(key) {
            r.push(format!("{path}.env.{key}"), problem);
        }
        // Passed to exec as one `NAME=value` string.
        let bytes = key.len() + 1 + value.len();
        if limits::ENV_BYTES.exceeded_by(bytes as u64) {
            r.push(
                format!("{path}.env.{key}"),
                limits::ENV_BYTES.length_refusal(bytes),
            );
        }
    }
    at_most(
        r,
        path.clone(),
        &limits::LAUNCH_BYTES,
        launch_bytes(pod, task),
    );
    check_configs(&task.configs, &path, r);
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
            if !task.resource_limits.is_empty() {
                r.push(
                    format!("{path}.resource-limits"),
                    format!("a task using resource set `{id}` takes the set's resource-limits: give them there"),
                );
            }
        }
        None => {
            check_own_resources(&task.resources, &path, r);
            check_limits(&task.resource_limits, &task.resources, &path, r);
        }
    }
    check_volumes(
        pod,
        &task.volumes,
        &format!("{path}.volumes"),
        &pod.volumes,
        r,
    );
    if let Some(h) = &task.health_check {
        let hp = format!("{path}.health-check");
        check_cmd_and_timing(&h.cmd, h.interval_s, h.timeout_s, &hp, r);
        if h.max_consecutive_failures == 0 {
            r.push(format!("{hp}.max-consecutive-failures"), "must be >= 1");
        }
        at_most(
            r,
            format!("{hp}.max-consecutive-failures"),
            &limits::CHECK_FAILURES,
            u64::from(h.max_consecutive_failures),
        );
        for (key, seconds) in [("grace-period", h.grace_period_s), ("delay", h.delay_s)] {
            at_most(
                r,
                format!("{hp}.{key}"),
                &limits::CHECK_SECONDS,
                u64::from(seconds),
            );
        }
    }
    if let Some(c) = &task.readiness_check {
        let cp = format!("{path}.readiness-check");
        check_cmd_and_timing(&c.cmd, c.interval_s, c.timeout_s, &cp, r);
        at_most(
            r,
            format!("{cp}.delay"),
            &limits::CHECK_SECONDS,
            u64::from(c.delay_s),
        );
    }
    if let Some(seconds) = task.kill_grace_period_s {
        at_most(
            r,
            format!("{path}.kill-grace-period"),
            &limits::KILL_GRACE_SECONDS,
            u64::from(seconds),
        );
    }
    if task.labels.keys().any(|k| k.trim().is_empty()) {
        r.push(format!("{path}.labels"), "a label key must not be empty");
    }
    at_most(
        r,
        format!("{path}.labels"),
        &limits::LABELS,
        task.labels.len() as u64,
    );
    for (key, value) in &task.labels {
        let lp = format!("{path}.labels.{key}");
        if limits::STRING_BYTES.exceeded_by(key.len().max(value.len()) as u64) {
            r.push(
                lp,
                limits::STRING_BYTES.length_refusal(key.len().max(value.len())),
            );
        }
    }
    if let Some(set) = &task.resource_set {
        at_most_bytes(
            r,
            format!("{path}.resource-set"),
            &limits::STRING_BYTES,
            set,
        );
    }
    if let Some(prefix) = task.discovery.as_ref().and_then(|d| d.prefix.as_deref()) {
        if let Some(problem) = dns_label_problem(prefix) {
            r.push(format!("{path}.discovery.prefix"), problem);
        }
    }
    check_uris(&task.uris, &format!("{path}.uris"), r);
}

/// Two tasks of different pod types whose Mesos task names (`<pod>-<index>-<task>`) coincide, or
/// differ only in case or in `-` and `_`: pod type `a` with task `1-x` and pod type `A-1` with
/// task `x` both make `a-1-1-x` once each has two instances. Their records would share a store
/// key, a command naming one could mean either, and DNS would publish them under one name. Each
/// pair is said once, at the later task, naming the earlier. Run only within the task-instance
/// limit, so it walks at most that many names.
fn check_task_names_across_pods(spec: &ServiceSpec, r: &mut Report) {
    // Label → (pod type, task, the Mesos task name that made it).
    let mut first: std::collections::HashMap<String, (&str, &str, String)> =
        std::collections::HashMap::new();
    let mut said = BTreeSet::new();
    for pod in &spec.pods {
        if pod_or_task_name_problem(&pod.type_name).is_some() {
            continue;
        }
        for task in &pod.tasks {
            if pod_or_task_name_problem(&task.name).is_some() {
                continue;
            }
            for index in 0..pod.count {
                let name = format!("{}-{index}-{}", pod.type_name, task.name);
                let label = dns_label(&name);
                match first.get(&label) {
                    Some((other_pod, other_task, other_name)) if *other_pod != pod.type_name => {
                        let pair = (
                            *other_pod,
                            *other_task,
                            pod.type_name.as_str(),
                            task.name.as_str(),
                        );
                        if said.insert(pair) {
                            r.push(
                                format!("pods.{}.tasks.{}", pod.type_name, task.name),
                                format!(
                                    "task `{}` of pod type `{}` is named `{name}` in Mesos, as task `{other_task}` of pod type `{other_pod}` at pods.{other_pod}.tasks.{other_task} is named `{other_name}`: task names that differ only in case or in `-` and `_` cannot be told apart",
                                    task.name, pod.type_name
                                ),
                            );
                        }
                    }
                    Some(_) => {}
                    None => {
                        first.insert(label, (&pod.type_name, &task.name, name));
                    }
                }
            }
        }
    }
}

/// The DNS labels the names of one kind (pod types of a service, tasks of a pod) derive, with
/// where each was first seen: two names that differ only in case or in `-` and `_` would be
/// published under one DNS name (and, on a file system that ignores case, share files).
#[derive(Default)]
struct DnsLabels(BTreeMap<String, (String, String)>);

impl DnsLabels {
    /// Reports `name` at `path` when an earlier, different name derived the same label.
    fn check(&mut self, what: &str, name: &str, path: String, r: &mut Report) {
        // A name refused for its characters is reported there; an empty label is a refusal.
        if pod_or_task_name_problem(name).is_some() {
            return;
        }
        let label = dns_label(name);
        match self.0.get(&label) {
            Some((earlier, earlier_path)) if earlier != name => r.push(
                path,
                format!(
                    "{what} `{name}` makes the DNS label `{label}`, as does {what} `{earlier}` at {earlier_path}; names that differ only in case or in `-` and `_` cannot be told apart"
                ),
            ),
            Some(_) => {}
            None => {
                self.0.insert(label, (name.to_string(), path));
            }
        }
    }
}

/// Each port of a task sets one environment variable (`PORT_<NAME>`, or its `env-key`): two
/// that set the same one would leave the task one of the two numbers.
fn check_port_variables(task: &TaskSpec, path: &str, r: &mut Report) {
    let mut first: BTreeMap<String, &str> = BTreeMap::new();
    for port in &task.resources.ports {
        let var = port.env_var();
        match first.get(&var) {
            Some(earlier) if *earlier != port.name => r.push(
                format!("{path}.ports.{}", port.name),
                format!(
                    "port `{}` sets the environment variable `{var}`, as does port `{earlier}` of this task",
                    port.name
                ),
            ),
            Some(_) => {}
            None => {
                first.insert(var, &port.name);
            }
        }
    }
}

fn check_cmd_and_timing(cmd: &str, interval_s: u32, timeout_s: u32, path: &str, r: &mut Report) {
    if cmd.trim().is_empty() {
        r.push(format!("{path}.cmd"), "must not be empty");
    }
    at_most_bytes(r, format!("{path}.cmd"), &limits::COMMAND_BYTES, cmd);
    if interval_s == 0 {
        r.push(format!("{path}.interval"), "must be > 0");
    }
    if timeout_s == 0 {
        r.push(format!("{path}.timeout"), "must be > 0");
    }
    at_most(
        r,
        format!("{path}.interval"),
        &limits::CHECK_SECONDS,
        u64::from(interval_s),
    );
    at_most(
        r,
        format!("{path}.timeout"),
        &limits::CHECK_SECONDS,
        u64::from(timeout_s),
    );
}

/// cpus, memory, gpus and ports of a task without a resource set, or of a resource set.
/// A limit is at least the request, as Mesos requires (a task is never limited below what it
/// reserved).
fn check_limits(limits: &ResourceLimits, res: &ResourceSpec, path: &str, r: &mut Report) {
    if let Some(ResourceLimit::At(cpus)) = limits.cpus {
        if cpus < res.cpus {
            r.push(
                format!("{path}.resource-limits.cpus"),
                format!("{cpus} is below the {} cpus the task reserves", res.cpus),
            );
        }
    }
    if let Some(ResourceLimit::At(memory)) = limits.memory_mb {
        if memory < res.memory_mb as f64 {
            r.push(
                format!("{path}.resource-limits.memory"),
                format!(
                    "{memory} is below the {} MB the task reserves",
                    res.memory_mb
                ),
            );
        }
    }
}

fn check_own_resources(res: &ResourceSpec, path: &str, r: &mut Report) {
    // `!(x > 0)` rather than `x <= 0`: NaN must fail too.
    if !(res.cpus > 0.0 && res.cpus.is_finite()) {
        r.push(format!("{path}.cpus"), "must be > 0");
    } else if (res.cpus / limits::SCALAR_PRECISION).round() < 1.0 {
        // Mesos would reserve it as 0: a task asking for nothing, which no offer check sees.
        r.push(
            format!("{path}.cpus"),
            format!(
                "{} rounds to 0 at Mesos' precision of {} (three decimals)",
                number(res.cpus),
                limits::SCALAR_PRECISION
            ),
        );
    } else if res.cpus > limits::CPUS.max as f64 {
        r.push(
            format!("{path}.cpus"),
            limits::CPUS.refusal(number(res.cpus)),
        );
    }
    if res.memory_mb == 0 {
        r.push(format!("{path}.memory"), "must be > 0");
    }
    at_most(
        r,
        format!("{path}.memory"),
        &limits::MEMORY_MB,
        res.memory_mb,
    );
    at_most(
        r,
        format!("{path}.gpus"),
        &limits::GPUS,
        u64::from(res.gpus),
    );
    at_most(
        r,
        format!("{path}.ports"),
        &limits::PORTS,
        res.ports.len() as u64,
    );
    for port in &res.ports {
        check_port(port, &format!("{path}.ports.{}", port.name), r);
    }
}

fn check_port(port: &PortSpec, path: &str, r: &mut Report) {
    at_most(
        r,
        format!("{path}.ranges"),
        &limits::PORT_RANGES,
        port.ranges.len() as u64,
    );
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
        if range.begin > range.end {
            r.push(
                format!("{path}.ranges[{i}]"),
                format!(
                    "`{}..{}` is not a range of ports (begin <= end)",
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
fn check_volumes(
    pod: &PodSpec,
    volumes: &[VolumeSpec],
    path: &str,
    shared: &[VolumeSpec],
    r: &mut Report,
) {
    // The longest persistence id a volume of this pod gets: its last instance, a full uuid.
    let last_instance = format!("{}-{}", pod.type_name, pod.count.saturating_sub(1));
    let uuid = "00000000-0000-4000-8000-000000000000";
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
        } else if let Err(e) = cairn_proto::validation::validate_relative_path(&v.path) {
            r.push(format!("{vp}.path"), e.to_string());
        } else {
            let id = crate::offer::operations::persistence_id(&last_instance, &v.path, uuid);
            let max = cairn_proto::validation::NAME_MAX;
            if id.len() > max && !limits::STRING_BYTES.exceeded_by(v.path.len() as u64) {
                r.push(
                    format!("{vp}.path"),
                    format!(
                        "is too long: it makes persistence ids of {} bytes (`<pod>-<index>-<path>__<uuid>`, e.g. `{last_instance}-...`), and Mesos takes at most {max}",
                        id.len()
                    ),
                );
            }
        }
        at_most_bytes(r, format!("{vp}.path"), &limits::STRING_BYTES, &v.path);
        if v.size_mb == 0 {
            r.push(format!("{vp}.size"), "must be > 0");
        }
        at_most(r, format!("{vp}.size"), &limits::VOLUME_MB, v.size_mb);
        if !seen.insert(v.path.as_str()) || shared.iter().any(|s| s.path == v.path) {
            r.push(
                format!("{vp}.path"),
                format!("`{}` is used by another volume of this pod", v.path),
            );
        }
    }
}

/// A task's config templates: a name that can be a file name and a variable's, a destination
/// inside the sandbox, a template of bounded size whose syntax parses.
fn check_configs(configs: &[ConfigFileSpec], task_path: &str, r: &mut Report) {
    at_most(
        r,
        format!("{task_path}.configs"),
        &limits::CONFIGS,
        configs.len() as u64,
    );
    let mut variables: BTreeMap<String, &str> = BTreeMap::new();
    let mut dests: BTreeMap<&str, &str> = BTreeMap::new();
    for c in configs {
        let path = format!("{task_path}.configs.{}", c.name);
        let plain = c
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if c.name.is_empty() || !plain || c.name == "." || c.name == ".." {
            r.push(
                path.clone(),
                "a config's name is letters, digits, `.`, `_` and `-` (it names a file in the sandbox and a variable)",
            );
        }
        at_most_bytes(r, path.clone(), &limits::STRING_BYTES, &c.name);
        // Two names the same variable would tell the renderer of one of them only.
        match variables.get(&c.env_var()) {
            Some(other) if *other != c.name => r.push(
                path.clone(),
                format!(
                    "its variable {} is config `{other}`'s too: rename one",
                    c.env_var()
                ),
            ),
            _ => {
                variables.insert(c.env_var(), &c.name);
            }
        }
        if let Err(e) = cairn_proto::validation::validate_relative_path(&c.dest) {
            r.push(
                format!("{path}.dest"),
                format!("must be a path inside the sandbox: {e}"),
            );
        }
        at_most_bytes(r, format!("{path}.dest"), &limits::STRING_BYTES, &c.dest);
        if let Some(other) = dests.insert(&c.dest, &c.name) {
            r.push(
                format!("{path}.dest"),
                format!("`{}` is config `{other}`'s destination too", c.dest),
            );
        }
        if limits::TEMPLATE_BYTES.exceeded_by(c.template.len() as u64) {
            r.push(
                format!("{path}.template"),
                limits::TEMPLATE_BYTES.length_refusal(c.template.len()),
            );
        } else if let Err(errors) = super::template::check_syntax(&c.template) {
            for e in errors.errors() {
                r.push(format!("{path}.template"), e.to_string());
            }
        }
    }
}

fn check_uris(uris: &[String], path: &str, r: &mut Report) {
    at_most(r, path.to_string(), &limits::URIS, uris.len() as u64);
    for (i, uri) in uris.iter().enumerate() {
        if uri.trim().is_empty() {
            r.push(format!("{path}[{i}]"), "must not be empty");
        } else if let Err(e) = cairn_proto::validation::validate_uri(uri, None) {
            // The fetcher would refuse it at launch.
            r.push(format!("{path}[{i}]"), e.to_string());
        }
        at_most_bytes(r, format!("{path}[{i}]"), &limits::STRING_BYTES, uri);
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

/// The plans the scheduler makes itself, listed beside the spec's. The DC/OS SDK names its
/// recovery and decommission plans the same and tells plans apart by name, so a spec plan of
/// that name is taken for its own in places and shadowed in others; cairn refuses it.
const CAIRNS_PLANS: [&str; 3] = [
    crate::recovery::plan::RECOVERY_PLAN,
    crate::scheduler::DECOMMISSION_PLAN,
    crate::scheduler::UNINSTALL_PLAN,
];

fn check_plan(spec: &ServiceSpec, plan: &PlanSpec, r: &mut Report) {
    let path = format!("plans.{}", plan.name);
    if let Some(problem) = identifier_problem(&plan.name) {
        r.push(path.clone(), format!("plan name {problem}"));
    }
    if CAIRNS_PLANS.contains(&plan.name.as_str()) {
        r.push(
            path.clone(),
            format!(
                "`{}` is the name of one of cairn's own plans ({}): the API, `cairn plan` and \
                 the store could not tell the two apart; give this plan another name",
                plan.name,
                CAIRNS_PLANS.join(", ")
            ),
        );
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
    at_most(
        r,
        format!("{path}.phases"),
        &limits::PHASES,
        plan.phases.len() as u64,
    );
    at_most(r, path.clone(), &limits::STEPS, plan_steps(spec, plan));
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
        if !phase.steps.is_empty() && phase_is_empty(pod, phase) {
            r.push(
                format!("{pp}.steps"),
                format!(
                    "gives no instance of pod `{}` a step: a phase with nothing to do is a \
                     mistake (list task groups, e.g. `default: [[server]]`)",
                    pod.type_name
                ),
            );
        }
    }
}

/// Whether `phase`'s step entries leave every instance of `pod` without a step.
fn phase_is_empty(pod: &PodSpec, phase: &PhaseSpec) -> bool {
    let groups = |want: StepIndex| {
        phase
            .steps
            .iter()
            .find(|s| s.index == want)
            .map(|s| s.task_groups.len())
    };
    (0..pod.count).all(|i| {
        groups(StepIndex::Index(i))
            .or_else(|| groups(StepIndex::Default))
            .unwrap_or(1)
            == 0
    })
}

/// How many steps `plan` expands into (as `plan::steps` builds them), counted without
/// building them: instances with an entry of their own get its task groups, the others the
/// `default` entry's (or one step of every task).
fn plan_steps(spec: &ServiceSpec, plan: &PlanSpec) -> u64 {
    let mut total = 0u64;
    for phase in &plan.phases {
        let Some(pod) = spec.pod(&phase.pod) else {
            continue;
        };
        let count = u64::from(pod.count);
        let mut own = BTreeSet::new();
        let mut steps = 0u64;
        let mut default_groups = 1u64;
        let mut default_seen = false;
        for entry in &phase.steps {
            match entry.index {
                StepIndex::Index(n) if u64::from(n) < count && own.insert(n) => {
                    steps = steps.saturating_add(entry.task_groups.len() as u64);
                }
                StepIndex::Default if !default_seen => {
                    default_seen = true;
                    default_groups = entry.task_groups.len() as u64;
                }
                _ => {}
            }
        }
        let rest = count - own.len() as u64;
        total = total
            .saturating_add(steps)
            .saturating_add(rest.saturating_mul(default_groups));
    }
    total
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
        // An empty list (`default: []`, `2: []`) gives those instances no step in this
        // phase, as dcos-commons reads it: e.g. a one-off task run on instance 0 only.
        let kp = format!("{sp}.{}", step.index);
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
