//! Pod instances and their tasks, as the terminal and the API show them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_proto::{DiskSourceType, Resource, TaskState};
use serde::{Deserialize, Serialize};

use crate::labels::{launched_paused, task_label, task_pod_instance, OFFER_HOSTNAME};
use crate::plan::assess::{is_ready, task_name};
use crate::spec::{PodInstanceName, ServiceSpec};
use crate::store::{TaskExit, TaskRecord};
use crate::time::Time;

use super::exits::{is_crash_looping, recent_failures};

/// A task that failed this many times within [`CRASH_LOOP_WINDOW`] is crash-looping: its pod's
/// status says so, and the service is not healthy. Three: one failure is an accident, two may
/// be a bad moment, three in a row of relaunches is the task itself.
pub const CRASH_LOOP_FAILURES: u32 = 3;

/// How far back failures count toward a crash loop. Ten minutes: the crash-loop backoff
/// (2 s doubling, at most 5 min) relaunches a task at least three times within it.
pub const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(600);

/// A pod instance and its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStatus {
    /// `data-2`.
    pub name: String,
    /// `data`.
    pub pod_type: String,
    /// 2.
    pub index: u32,
    /// The agent it was last launched on.
    pub agent_id: Option<String>,
    /// That agent's hostname.
    pub hostname: Option<String>,
    /// Its tasks, in spec order (launched or not).
    pub tasks: Vec<PodTaskStatus>,
    /// An operator paused it (`cairn pod pause`): its RUNNING tasks are, or are being,
    /// relaunched with a no-op command.
    #[serde(default)]
    pub paused: bool,
    /// One of its tasks is crash-looping.
    #[serde(default)]
    pub crash_looping: bool,
}

/// A task of a pod instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodTaskStatus {
    /// `data-2-node`.
    pub name: String,
    /// The Mesos task id of its latest launch (empty if never launched).
    pub task_id: String,
    /// Its latest state (none: never launched, or launched and not heard from yet).
    pub state: Option<TaskState>,
    /// RUNNING with its readiness check passed (or no readiness check).
    pub ready: bool,
    /// Persistent volumes it uses (its own and its pod's).
    pub volumes: Vec<TaskVolume>,
    /// Since when it has been in `state` (the latest status's time, milliseconds since the
    /// epoch); none before its first status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Its latest launch runs the no-op of a paused pod.
    #[serde(default)]
    pub paused: bool,
    /// How its last launch that ended ended: state, exit code, message (with the last lines
    /// of stderr, from cairn's executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<TaskExit>,
    /// Its failures within the last [`CRASH_LOOP_WINDOW`].
    #[serde(default)]
    pub failures: u32,
    /// [`CRASH_LOOP_FAILURES`] failures or more within the window.
    #[serde(default)]
    pub crash_looping: bool,
}

/// A persistent volume a task uses, and the disk it was made on: what places it on the
/// agent's disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskVolume {
    /// Its persistence id.
    pub persistence_id: String,
    /// The role it is reserved to.
    pub role: String,
    /// The MOUNT or PATH disk it is on, with the disk's root; none: the agent's own disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<(DiskSourceType, String)>,
}

impl TaskVolume {
    fn of(resource: &Resource) -> Option<TaskVolume> {
        let disk = resource.disk.as_ref()?;
        Some(TaskVolume {
            persistence_id: disk.persistence.as_ref()?.id.clone(),
            role: resource.reservation_role().unwrap_or("*").to_string(),
            disk: disk
                .source
                .as_ref()
                .and_then(|s| Some((s.type_, s.root()?.to_string()))),
        })
    }
}

/// Every pod instance the spec asks for, plus any other the store holds tasks of; `paused`:
/// the pods an operator paused; `now`: what recent failures are counted from.
pub fn pods(
    spec: &ServiceSpec,
    tasks: &BTreeMap<String, TaskRecord>,
    paused: &BTreeSet<String>,
    now: Time,
) -> Vec<PodStatus> {
    let mut instances: Vec<PodInstanceName> =
        spec.pods.iter().flat_map(|p| p.instances()).collect();
    for record in tasks.values() {
        if let Some(extra) = task_pod_instance(&record.info) {
            if !instances.contains(&extra) {
                instances.push(extra);
            }
        }
    }
    instances
        .iter()
        .map(|i| pod(spec, i, tasks, paused, now))
        .collect()
}

fn pod(
    spec: &ServiceSpec,
    instance: &PodInstanceName,
    tasks: &BTreeMap<String, TaskRecord>,
    paused: &BTreeSet<String>,
    now: Time,
) -> PodStatus {
    let pod_spec = spec.pod(instance.pod_type());
    let prefix = format!("{instance}-");
    let names: Vec<String> = match pod_spec {
        Some(p) => p
            .tasks
            .iter()
            .map(|t| task_name(instance, &t.name))
            .collect(),
        None => tasks
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect(),
    };
    let mut agent = None;
    let mut hostname = None;
    let statuses = names
        .iter()
        .map(|name| {
            let record = tasks.get(name);
            if let Some(r) = record {
                agent = Some(r.info.agent_id.value.clone());
                hostname = task_label(&r.info, OFFER_HOSTNAME).map(str::to_string);
            }
            let task_spec = pod_spec.and_then(|p| p.task(name.strip_prefix(&prefix).unwrap_or("")));
            task_status(name, record, task_spec, now)
        })
        .collect::<Vec<PodTaskStatus>>();
    let name = instance.to_string();
    PodStatus {
        paused: paused.contains(&name),
        crash_looping: statuses.iter().any(|t| t.crash_looping),
        name,
        pod_type: instance.pod_type().to_string(),
        index: instance.index(),
        agent_id: agent,
        hostname,
        tasks: statuses,
    }
}

fn task_status(
    name: &str,
    record: Option<&TaskRecord>,
    spec: Option<&crate::spec::TaskSpec>,
    now: Time,
) -> PodTaskStatus {
    let Some(r) = record else {
        return PodTaskStatus {
            name: name.to_string(),
            task_id: String::new(),
            state: None,
            ready: false,
            volumes: Vec::new(),
            since: None,
            paused: false,
            last_exit: None,
            failures: 0,
            crash_looping: false,
        };
    };
    let executor_resources = r.info.executor.iter().flat_map(|e| e.resources.iter());
    PodTaskStatus {
        name: name.to_string(),
        task_id: r.info.task_id.value.clone(),
        state: r.status.as_ref().map(|s| s.state),
        ready: spec.is_some_and(|s| is_ready(s, r)),
        volumes: r
            .info
            .resources
            .iter()
            .chain(executor_resources)
            .filter_map(TaskVolume::of)
            .collect(),
        since: r
            .status
            .as_ref()
            .and_then(|s| s.timestamp)
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| Time((t * 1000.0) as u64)),
        paused: launched_paused(&r.info),
        last_exit: r.history.last_exit.clone(),
        failures: recent_failures(&r.history, now),
        crash_looping: is_crash_looping(&r.history, now),
    }
}
