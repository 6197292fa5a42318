//! Pod requirements: what a released step needs from an offer, resolved against the store.
//!
//! A pod instance that has launched before owns reservations, labelled with `resource_id`s, on
//! one agent; relaunching it must reuse exactly those (and its volumes, by persistence id),
//! which pins it to that agent and its data. A pod instance that never launched needs fresh
//! resources anywhere its placement allows.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use cairn_proto::{AgentId, ExecutorInfo, Reason, Resource, Source, TaskInfo};

use crate::decide::is_active;
use crate::labels::{resource_id, task_label, OFFER_HOSTNAME, RESOURCE_SET, REUSED_RESERVATIONS};
use crate::plan::assess::task_name;
use crate::plan::ReleasedStep;
use crate::spec::{PodInstanceName, PodSpec, PortSpec, ServiceSpec, VolumeSpec, VolumeType};
use crate::store::TaskRecord;

use super::placement::CompiledRule;
use super::view::{milli, Milli};

/// What one released step needs from an offer.
#[derive(Debug, Clone)]
pub struct PodRequirement {
    /// The pod instance, e.g. `data-2`.
    pub pod_instance: PodInstanceName,
    /// The step that asks, e.g. `data-2:[node]`.
    pub step: String,
    /// The tasks to launch.
    pub tasks: Vec<TaskLaunch>,
    /// The executor to launch them under.
    pub executor: ExecutorNeed,
    /// The agent holding the pod's reservations, if it has any: only that agent fits.
    pub pinned: Option<Pinned>,
    /// Placement rules (only for a pod that is not pinned: a placed pod stays put).
    pub placement: Arc<[CompiledRule]>,
    /// The role the pod reserves to, and so the role of the offers it can take: the service's,
    /// or `<pre-reserved role>/<service role>` ([`ServiceSpec::reservation_role`]).
    pub role: String,
    /// The pod's pre-reserved role: it takes only resources statically reserved to it.
    pub pre_reserved: Option<String>,
    /// Fresh cpus, in thousandths, executor included.
    pub cpus: Milli,
    /// Fresh memory (MB), in thousandths.
    pub mem: Milli,
    /// Fresh GPUs, in thousandths.
    pub gpus: Milli,
    /// Fresh ROOT disk (MB) for volumes, in thousandths.
    pub disk: Milli,
    /// Sizes (MB) of fresh MOUNT volumes, in the order operations create them.
    pub mounts: Vec<u64>,
    /// `resource_id`s the offer must hold.
    pub resource_ids: Vec<String>,
    /// Persistence ids of volumes the offer must hold.
    pub persistence_ids: Vec<String>,
}

/// Where a pod's reservations live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The agent.
    pub agent_id: AgentId,
    /// Its hostname when the pod was placed.
    pub hostname: String,
}

/// One task to launch.
#[derive(Debug, Clone)]
pub struct TaskLaunch {
    /// The task inside the pod, e.g. `node`.
    pub task: String,
    /// The Mesos task name, e.g. `data-2-node`.
    pub name: String,
    /// Where its resources come from.
    pub resources: TaskResources,
    /// The plan run (label and parameters) the launch carries: a started plan's step's, or,
    /// relaunched in place, the one its stored launch carried.
    pub run: Option<Arc<crate::plan::RunTag>>,
}

/// A task's resources: reserved afresh, or the ones it (or its resource set) holds already.
#[derive(Debug, Clone)]
pub enum TaskResources {
    /// Reserve these now.
    Fresh {
        /// CPUs.
        cpus: f64,
        /// Memory in MB.
        mem_mb: f64,
        /// Whole GPUs (0: none).
        gpus: u32,
        /// Ports to reserve (0: pick one).
        ports: Vec<PortSpec>,
        /// Volumes to reserve and create.
        volumes: Vec<VolumeSpec>,
        /// The resource set they belong to, if any.
        resource_set: Option<String>,
    },
    /// Reuse these reserved resources (as stored with the task's last launch).
    Reuse {
        /// The stored resources, reserved with `resource_id`s.
        resources: Vec<Resource>,
        /// The resource set they belong to, if any.
        resource_set: Option<String>,
        /// Port name → number, as reserved.
        ports: BTreeMap<String, u64>,
        /// CPUs the spec asks for beyond what is reserved (a grown config): reserved now, on
        /// the same agent, next to the old reservation.
        extra_cpus: f64,
        /// Memory (MB) beyond what is reserved, likewise.
        extra_mem_mb: f64,
        /// GPUs beyond what is reserved, likewise.
        extra_gpus: f64,
    },
}

/// The executor a launch goes to.
#[derive(Debug, Clone)]
pub enum ExecutorNeed {
    /// Tasks of the pod run under this executor now: add the new tasks to it.
    Running(ExecutorInfo),
    /// The pod's executor is gone but its reservations remain: a new executor on them.
    Reuse(ExecutorInfo),
    /// First launch: reserve the executor's cpus and memory and the pod's volumes.
    Fresh {
        /// Pod volumes.
        volumes: Vec<VolumeSpec>,
    },
}

/// Settings requirements need from the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorSize {
    /// Executor CPUs.
    pub cpus: f64,
    /// Executor memory (MB).
    pub mem_mb: f64,
    /// Executor disk (MB): Mesos refuses a default executor that uses no disk.
    pub disk_mb: f64,
}

/// Builds the requirement of a released step. `unheld`: task ids the master showed to hold
/// none of their reservations (see [`holds_reservations`]). `Err` says why it cannot be asked
/// for yet.
pub fn requirement(
    step: &ReleasedStep,
    spec: &ServiceSpec,
    tasks: &BTreeMap<String, TaskRecord>,
    unheld: &HashSet<String>,
    placement: Arc<[CompiledRule]>,
    executor_size: ExecutorSize,
) -> Result<PodRequirement, String> {
    let pod = spec
        .pod(step.pod_instance.pod_type())
        .ok_or_else(|| format!("no pod type `{}`", step.pod_instance.pod_type()))?;
    let records = pod_records(pod, &step.pod_instance, tasks, unheld);
    let launches = step
        .launch
        .iter()
        .map(|t| task_launch(pod, &step.pod_instance, t, &records))
        .map(|launch| {
            launch.map(|mut l| {
                l.run = match &step.run {
                    Some(run) => Some(run.clone()),
                    None if step.keeps_runs => tasks.get(&l.name).and_then(kept_run),
                    None => None,
                };
                l
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_shared_sets(&launches)?;
    let mut req = PodRequirement {
        pod_instance: step.pod_instance.clone(),
        step: step.step.clone(),
        executor: executor_need(pod, &records),
        pinned: pinned(&records),
        placement,
        role: spec.reservation_role(pod),
        pre_reserved: pod.pre_reserved_role.clone(),
        tasks: launches,
        cpus: 0,
        mem: 0,
        gpus: 0,
        disk: 0,
        mounts: Vec::new(),
        resource_ids: Vec::new(),
        persistence_ids: Vec::new(),
    };
    totals(&mut req, executor_size);
    Ok(req)
}

/// The stored records of the pod instance's tasks that hold their reservations (see
/// [`holds_reservations`]), by task name inside the pod: what pins it, what it relaunches on.
fn pod_records<'a>(
    pod: &PodSpec,
    instance: &PodInstanceName,
    tasks: &'a BTreeMap<String, TaskRecord>,
    unheld: &HashSet<String>,
) -> BTreeMap<String, &'a TaskRecord> {
    pod.tasks
        .iter()
        .filter_map(|t| {
            tasks
                .get(&task_name(instance, &t.name))
                .filter(|r| holds_reservations(r, unheld))
                .map(|r| (t.name.clone(), r))
        })
        .collect()
}

/// Whether a stored task's reservations can be counted on, which pins its pod to them.
///
/// Only two things say they cannot. The master refused the ACCEPT (TASK_DROPPED,
/// REASON_INVALID_OFFERS): nothing of it was applied, so a first launch's reservations were
/// never made (a relaunch in place, label `reused_reservations`, runs on reservations an
/// earlier launch made, which stay). Or the master's list of agents, read after a terminal
/// status of the master's own making, shows the task's agent registered and holding none of
/// its reservations (`unheld`): the launch never reached it (the scheduler died between
/// persisting it and the ACCEPT), or the agent lost them. A status alone (TASK_GONE,
/// TASK_LOST, TASK_UNKNOWN from reconciliation, an agent removal) never unpins: an agent that
/// forgot its tasks, or is away, still holds its reservations and volumes, and moving the pod
/// would leave its data behind. A pod pinned to an agent that is gone for good is moved by
/// the permanent-failure timer. (Found twice: by cairn-sim seed 30, a reconciliation
/// TASK_FAILED unpinned a pod and leaked its reservations; with real processes, an agent that
/// lost its executor checkpoints answered TASK_GONE and every pod moved onto empty volumes.)
pub fn holds_reservations(record: &TaskRecord, unheld: &HashSet<String>) -> bool {
    if unheld.contains(&record.info.task_id.value) {
        return false;
    }
    let Some(status) = &record.status else {
        return true;
    };
    let refused = status.state.is_terminal()
        && status.source == Some(Source::Master)
        && status.reason == Some(Reason::InvalidOffers);
    let made_earlier = task_label(&record.info, REUSED_RESERVATIONS) == Some("true");
    !refused || made_earlier
}

fn pinned(records: &BTreeMap<String, &TaskRecord>) -> Option<Pinned> {
    records
        .values()
        .filter(|r| has_reservations(&r.info))
        .map(|r| Pinned {
            agent_id: r.info.agent_id.clone(),
            hostname: task_label(&r.info, OFFER_HOSTNAME)
                .unwrap_or_default()
                .to_string(),
        })
        .next()
}

/// The agent holding pod instance `instance`'s reservations, if it holds any: the only agent a
/// launch of it can use (what its requirement's [`PodRequirement::pinned`] says).
pub fn pinned_agent(
    pod: &PodSpec,
    instance: &PodInstanceName,
    tasks: &BTreeMap<String, TaskRecord>,
    unheld: &HashSet<String>,
) -> Option<AgentId> {
    pinned(&pod_records(pod, instance, tasks, unheld)).map(|p| p.agent_id)
}

fn has_reservations(info: &TaskInfo) -> bool {
    info.resources.iter().any(|r| resource_id(r).is_some())
}

fn executor_need(pod: &PodSpec, records: &BTreeMap<String, &TaskRecord>) -> ExecutorNeed {
    let with_executor = || {
        records
            .values()
            .filter_map(|r| r.info.executor.as_ref().map(|e| (r, e)))
    };
    if let Some((_, e)) = with_executor().find(|(r, _)| is_active(r.status.as_ref())) {
        return ExecutorNeed::Running(e.clone());
    }
    match with_executor().next() {
        Some((_, e)) => ExecutorNeed::Reuse(e.clone()),
        None => ExecutorNeed::Fresh {
            volumes: pod.volumes.clone(),
        },
    }
}

fn task_launch(
    pod: &PodSpec,
    instance: &PodInstanceName,
    task: &str,
    records: &BTreeMap<String, &TaskRecord>,
) -> Result<TaskLaunch, String> {
    let spec = pod
        .task(task)
        .ok_or_else(|| format!("pod `{}` has no task `{task}`", pod.type_name))?;
    let set = spec.resource_set.clone();
    // The record whose reservations this task reuses: its own, or (resource set) any task's
    // that used the same set.
    let holder = records
        .iter()
        .filter(|(_, r)| has_reservations(&r.info))
        .find(|(name, r)| match &set {
            Some(id) => task_label(&r.info, RESOURCE_SET) == Some(id.as_str()),
            None => name.as_str() == task,
        });
    let resources = match holder {
        Some((holder_name, r)) => {
            if holder_name != task && is_active(r.status.as_ref()) {
                return Err(format!(
                    "resource set `{}` is in use by {}",
                    set.unwrap_or_default(),
                    task_name(instance, holder_name)
                ));
            }
            let wanted = wanted_scalars(pod, spec, set.as_deref());
            TaskResources::Reuse {
                extra_cpus: extra(wanted.0, reserved_scalar(&r.info.resources, "cpus")),
                extra_mem_mb: extra(wanted.1, reserved_scalar(&r.info.resources, "mem")),
                extra_gpus: extra(wanted.2, reserved_scalar(&r.info.resources, "gpus")),
                resources: r.info.resources.clone(),
                resource_set: set,
                ports: stored_ports(&r.info),
            }
        }
        None => fresh_resources(pod, spec, set),
    };
    Ok(TaskLaunch {
        task: task.to_string(),
        name: task_name(instance, task),
        resources,
        run: None,
    })
}

/// The plan run a stored launch carried, to carry again.
fn kept_run(record: &TaskRecord) -> Option<Arc<crate::plan::RunTag>> {
    let (label, parameters) = crate::labels::task_plan_run(&record.info)?;
    Some(Arc::new(crate::plan::RunTag { label, parameters }))
}

/// The cpus, memory (MB) and GPUs the spec asks for the task (or its resource set).
fn wanted_scalars(
    pod: &PodSpec,
    spec: &crate::spec::TaskSpec,
    set: Option<&str>,
) -> (f64, f64, f64) {
    let res = match set.and_then(|id| pod.resource_set(id)) {
        Some(s) => &s.resources,
        None => &spec.resources,
    };
    (res.cpus, res.memory_mb as f64, f64::from(res.gpus))
}

/// The amount of scalar `name` among reserved resources.
fn reserved_scalar(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// What must be reserved on top of `reserved` to hold `wanted`. A shrunk spec keeps its larger
/// reservation (nothing is given back while the pod lives; a replace gives it back).
fn extra(wanted: f64, reserved: f64) -> f64 {
    // Thousandths, as offers are matched: float noise must not ask for 0.0000001 cpus.
    let more = milli(wanted) - milli(reserved);
    if more > 0 {
        more as f64 / 1000.0
    } else {
        0.0
    }
}

fn fresh_resources(
    pod: &PodSpec,
    spec: &crate::spec::TaskSpec,
    set: Option<String>,
) -> TaskResources {
    let (res, volumes) = match set.as_deref().and_then(|id| pod.resource_set(id)) {
        Some(s) => (&s.resources, s.volumes.clone()),
        None => (&spec.resources, spec.volumes.clone()),
    };
    TaskResources::Fresh {
        cpus: res.cpus,
        mem_mb: res.memory_mb as f64,
        gpus: res.gpus,
        ports: res.ports.clone(),
        volumes,
        resource_set: set,
    }
}

/// Port name → number, from the `ports` label written at launch.
pub fn stored_ports(info: &TaskInfo) -> BTreeMap<String, u64> {
    task_label(info, crate::labels::PORTS)
        .map(|text| {
            text.split(',')
                .filter_map(|p| p.split_once(':'))
                .filter_map(|(n, v)| v.parse().ok().map(|v| (n.to_string(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Two tasks of one launch cannot share a resource set: a set serves one task at a time.
fn check_shared_sets(launches: &[TaskLaunch]) -> Result<(), String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for l in launches {
        let set = match &l.resources {
            TaskResources::Fresh { resource_set, .. }
            | TaskResources::Reuse { resource_set, .. } => resource_set.as_deref(),
        };
        if let Some(set) = set {
            if let Some(other) = seen.insert(set, &l.task) {
                return Err(format!(
                    "tasks `{other}` and `{}` share resource set `{set}` and cannot launch together",
                    l.task
                ));
            }
        }
    }
    Ok(())
}

/// Sums what the requirement takes fresh and lists what it reuses.
fn totals(req: &mut PodRequirement, executor: ExecutorSize) {
    let mut fresh_volumes: Vec<&VolumeSpec> = Vec::new();
    let mut reused: Vec<&Resource> = Vec::new();
    match &req.executor {
        ExecutorNeed::Fresh { volumes } => {
            req.cpus += milli(executor.cpus);
            req.mem += milli(executor.mem_mb);
            req.disk += milli(executor.disk_mb);
            fresh_volumes.extend(volumes);
        }
        ExecutorNeed::Reuse(info) => reused.extend(&info.resources),
        ExecutorNeed::Running(_) => {}
    }
    for t in &req.tasks {
        match &t.resources {
            TaskResources::Fresh {
                cpus,
                mem_mb,
                gpus,
                volumes,
                ..
            } => {
                req.cpus += milli(*cpus);
                req.mem += milli(*mem_mb);
                req.gpus += milli(f64::from(*gpus));
                fresh_volumes.extend(volumes);
            }
            TaskResources::Reuse {
                resources,
                extra_cpus,
                extra_mem_mb,
                extra_gpus,
                ..
            } => {
                req.cpus += milli(*extra_cpus);
                req.mem += milli(*extra_mem_mb);
                req.gpus += milli(*extra_gpus);
                reused.extend(resources);
            }
        }
    }
    for v in fresh_volumes {
        match v.type_ {
            VolumeType::Root => req.disk += milli(v.size_mb as f64),
            VolumeType::Mount => req.mounts.push(v.size_mb),
        }
    }
    for r in reused {
        if let Some(p) = r.persistence_id() {
            req.persistence_ids.push(p.to_string());
        } else if let Some(id) = resource_id(r) {
            req.resource_ids.push(id.to_string());
        }
    }
}

impl PodRequirement {
    /// Fresh ports of every task, in order: (task index, port spec).
    pub fn fresh_ports(&self) -> impl Iterator<Item = (usize, &PortSpec)> {
        self.tasks.iter().enumerate().flat_map(|(i, t)| {
            let ports: &[PortSpec] = match &t.resources {
                TaskResources::Fresh { ports, .. } => ports,
                TaskResources::Reuse { .. } => &[],
            };
            ports.iter().map(move |p| (i, p))
        })
    }

    /// Whether any resource is reused (the pod was placed before).
    pub fn reuses(&self) -> bool {
        !self.resource_ids.is_empty() || !self.persistence_ids.is_empty()
    }
}
