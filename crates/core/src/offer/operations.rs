//! The operations of one accepted placement: RESERVE, CREATE, LAUNCH_GROUP.
//!
//! Every fresh resource is reserved dynamically to the pod's role (the service's, or for a pod
//! with a pre-reserved role `R`, `R/<service role>` pushed on top of the static reservation to
//! `R`: a refinement) and the service's principal, with two labels, a unique `resource_id` and
//! the `pod_instance`; volumes are created with a unique persistence id at the spec's path. A
//! relaunch on existing reservations sends only LAUNCH_GROUP, on the very resources the offer
//! carries under the pod's resource ids.

use std::collections::BTreeMap;

use cairn_proto::{
    CheckCommand, CheckInfo, CheckType, CommandInfo, CommandUri, DiscoveryInfo,
    DiscoveryVisibility, Environment, ExecutorInfo, ExecutorType, FrameworkId, HealthCheck,
    HealthCheckType, KillPolicy, Label, Labels, Offer, OfferOperation, Port, Ports,
    ReservationInfo, Resource, TaskGroupInfo, TaskInfo,
};

use crate::ids::IdSource;
use crate::labels::{self, reservation_labels, resource_id};
use crate::scheduler::ApiEndpoint;
use crate::spec::{
    PodSpec, PortSpec, ServiceSpec, TaskSpec, Visibility, VolumeSpec, VolumeType, BOOTSTRAP_URI,
};
use crate::store::ConfigId;

use super::evaluate::Match;
use super::requirement::{ExecutorNeed, ExecutorSize, PodRequirement, TaskLaunch, TaskResources};
use super::view::AgentFacts;

/// What the operations need besides the requirement and the offer.
pub struct LaunchContext<'a> {
    /// The target spec.
    pub spec: &'a ServiceSpec,
    /// The target config id, labelled on every task.
    pub config_id: &'a ConfigId,
    /// The framework id, set on the executor.
    pub framework_id: &'a FrameworkId,
    /// The executor's own resources.
    pub executor: ExecutorSize,
    /// Where tasks reach the scheduler's API (its artifacts); `None`: no API.
    pub api: Option<&'a ApiEndpoint>,
    /// The domain of `FRAMEWORK_HOST`.
    pub service_tld: &'a str,
    /// Pod instances an operator paused: their RUNNING tasks are launched with
    /// [`labels::PAUSED_COMMAND`] and no checks.
    pub paused: &'a std::collections::BTreeSet<String>,
}

/// What a task with config templates runs before its command: the renderer, whose failure
/// (a template's missing value) fails the task with its exit status rather than run the
/// command on a missing file. A line of its own, so the command is run as written (an `exec`
/// in it still replaces the shell).
const RENDER_FIRST: &str = "./bootstrap || exit\n";

/// The operations for one pod on one offer, and the TaskInfos to store before they are sent.
#[derive(Debug, Clone)]
pub struct Launch {
    /// RESERVE, CREATE (when anything is fresh), LAUNCH_GROUP.
    pub operations: Vec<OfferOperation>,
    /// The launched TaskInfos in their stored form: with `executor` set, so a relaunch knows
    /// the executor's reservations.
    pub tasks: Vec<TaskInfo>,
}

/// Builds the operations of `m` (requirement `req` on `offer`).
pub fn launch(
    req: &PodRequirement,
    m: &Match,
    offer: &Offer,
    facts: &AgentFacts,
    ctx: &LaunchContext<'_>,
    ids: &mut IdSource,
) -> Launch {
    let pod = ctx
        .spec
        .pod(req.pod_instance.pod_type())
        .expect("requirements are built from pod types of the target spec");
    let role = offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.clone())
        .unwrap_or_else(|| req.role.clone());
    let mut r = Reserver {
        role,
        reservation_role: req.role.clone(),
        // What a fresh resource of the pod's pool carries already: nothing (unreserved), or
        // the operator's static reservation to the pre-reserved role, refined on top.
        base: req
            .pre_reserved
            .iter()
            .map(|pre| ReservationInfo::static_(pre.clone()))
            .collect(),
        principal: ctx.spec.principal.clone(),
        pod_instance: req.pod_instance.to_string(),
        reserve: Vec::new(),
        create: Vec::new(),
        mounts: m.mounts.iter(),
        ports: m.ports.iter(),
        m,
        ids,
    };
    let executor = executor_info(req, pod, ctx, &mut r);
    let tasks: Vec<TaskInfo> = req
        .tasks
        .iter()
        .map(|t| task_info(t, req, pod, offer, facts, ctx, &mut r))
        .collect();
    let mut operations = Vec::new();
    if !r.reserve.is_empty() {
        operations.push(OfferOperation::reserve(std::mem::take(&mut r.reserve)));
    }
    if !r.create.is_empty() {
        operations.push(OfferOperation::create(std::mem::take(&mut r.create)));
    }
    operations.push(OfferOperation::launch_group(
        executor.clone(),
        TaskGroupInfo {
            tasks: tasks.clone(),
        },
    ));
    let stored = tasks
        .into_iter()
        .map(|t| TaskInfo {
            executor: Some(executor.clone()),
            ..t
        })
        .collect();
    Launch {
        operations,
        tasks: stored,
    }
}

/// Collects RESERVE and CREATE while handing out reserved resources.
struct Reserver<'a, 'm> {
    /// The role the offer was allocated to (which Mesos requires the reservation's to be).
    role: String,
    /// The role reserved to.
    reservation_role: String,
    /// The reservations a fresh resource of the offer carries.
    base: Vec<ReservationInfo>,
    principal: String,
    pod_instance: String,
    reserve: Vec<Resource>,
    create: Vec<Resource>,
    mounts: std::slice::Iter<'m, Resource>,
    ports: std::slice::Iter<'m, u64>,
    m: &'m Match,
    ids: &'a mut IdSource,
}

impl Reserver<'_, '_> {
    fn reservation(&mut self) -> ReservationInfo {
        let id = self.ids.uuid();
        ReservationInfo::dynamic(self.reservation_role.clone())
            .with_principal(self.principal.clone())
            .with_labels(reservation_labels(&id, &self.pod_instance))
    }

    /// Reserves `resource` (fresh, from the offer's pool) and returns it reserved.
    fn reserve(&mut self, resource: Resource) -> Resource {
        let reservation = self.reservation();
        let reserved = resource
            .with_allocation_role(self.role.clone())
            .with_reservation(reservation);
        self.reserve.push(reserved.clone());
        reserved
    }

    /// A resource of the offer's pool, as the offer carries it: with the pool's reservations.
    fn fresh(&self, mut resource: Resource) -> Resource {
        resource.reservations = self.base.clone();
        resource
    }

    fn scalar(&mut self, name: &str, value: f64) -> Resource {
        let fresh = self.fresh(Resource::scalar(name, value));
        self.reserve(fresh)
    }

    fn port(&mut self) -> (u64, Resource) {
        let p = self.ports.next().copied().unwrap_or(0);
        let fresh = self.fresh(Resource::ranges("ports", &[(p, p)]));
        (p, self.reserve(fresh))
    }

    /// Reserves the disk of a fresh volume and creates the volume on it.
    fn volume(&mut self, v: &VolumeSpec) -> Resource {
        let disk = match v.type_ {
            VolumeType::Root => self.fresh(Resource::scalar("disk", v.size_mb as f64)),
            // The whole disk as offered, its reservations (if any) included.
            VolumeType::Mount => {
                let mut whole = self.mounts.next().cloned().unwrap_or_default();
                whole.allocation_info = None;
                whole
            }
        };
        let reserved = self.reserve(disk);
        let persistence_id = persistence_id(&self.pod_instance, &v.path, &self.ids.uuid());
        let volume =
            reserved.with_persistence(persistence_id, Some(&self.principal), v.path.clone());
        self.create.push(volume.clone());
        volume
    }

    /// The offer's own copy of a reserved resource the pod reuses (falling back to the stored
    /// one, which carries the same reservation).
    fn reuse(&self, stored: &Resource) -> Resource {
        let key = stored
            .persistence_id()
            .or_else(|| resource_id(stored))
            .unwrap_or_default();
        self.m
            .reused
            .get(key)
            .cloned()
            .unwrap_or_else(|| stored.clone())
    }
}

/// A path as one file name: persistence ids name directories on the agent.
/// The persistence id of a volume at `path` of `pod_instance`: `data-2-my_path__<uuid>`. Spec
/// validation measures the longest one a spec can make (Mesos takes ids of at most 255 bytes).
pub(crate) fn persistence_id(pod_instance: &str, path: &str, uuid: &str) -> String {
    format!("{pod_instance}-{}__{uuid}", flat(path))
}

fn flat(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn executor_info(
    req: &PodRequirement,
    pod: &PodSpec,
    ctx: &LaunchContext<'_>,
    r: &mut Reserver<'_, '_>,
) -> ExecutorInfo {
    let new_id = format!("{}__{}", req.pod_instance, r.ids.uuid());
    match &req.executor {
        ExecutorNeed::Running(info) => info.clone(),
        ExecutorNeed::Reuse(info) => ExecutorInfo {
            executor_id: new_id.into(),
            framework_id: Some(ctx.framework_id.clone()),
            resources: info.resources.iter().map(|s| r.reuse(s)).collect(),
            ..info.clone()
        },
        ExecutorNeed::Fresh { volumes } => {
            let mut resources = vec![
                r.scalar("cpus", ctx.executor.cpus),
                r.scalar("mem", ctx.executor.mem_mb),
                r.scalar("disk", ctx.executor.disk_mb),
            ];
            resources.extend(volumes.iter().map(|v| r.volume(v)));
            ExecutorInfo {
                type_: Some(ExecutorType::Default),
                executor_id: new_id.into(),
                framework_id: Some(ctx.framework_id.clone()),
                resources,
                name: Some(format!("{} ({})", req.pod_instance, pod.type_name)),
                ..ExecutorInfo::default()
            }
        }
    }
}

fn task_info(
    t: &TaskLaunch,
    req: &PodRequirement,
    pod: &PodSpec,
    offer: &Offer,
    facts: &AgentFacts,
    ctx: &LaunchContext<'_>,
    r: &mut Reserver<'_, '_>,
) -> TaskInfo {
    let spec = pod
        .task(&t.task)
        .expect("requirements name tasks of their pod");
    let (resources, ports, set) = task_resources(t, r);
    let port_specs = port_specs(pod, spec, set.as_deref());
    let env = environment(ctx, spec, req, t, &ports, port_specs, facts);
    // Only a task meant to keep running is paused: a FINISH or ONCE task running the no-op
    // would never finish, and its pod's later steps would wait for it.
    let paused = spec.goal == crate::spec::Goal::Running
        && !ctx.paused.is_empty()
        && ctx.paused.contains(&req.pod_instance.to_string());
    let cmd = if paused {
        labels::PAUSED_COMMAND.to_string()
    } else if spec.configs.is_empty() {
        spec.cmd.clone()
    } else {
        format!("{RENDER_FIRST}{}", spec.cmd)
    };
    let mut task_labels = task_labels(ctx, spec, req, facts, &ports, set.as_deref());
    if matches!(t.resources, TaskResources::Reuse { .. }) {
        task_labels.insert(labels::REUSED_RESERVATIONS, "true");
    }
    if paused {
        task_labels.insert(labels::PAUSED, "true");
    }
    if let Some(run) = &t.run {
        task_labels.insert(labels::PLAN_RUN, run.label.clone());
        if !run.parameters.is_empty() {
            let names: Vec<&str> = run.parameters.keys().map(String::as_str).collect();
            task_labels.insert(labels::PLAN_PARAMETERS, names.join(","));
        }
    }
    TaskInfo {
        name: t.name.clone(),
        task_id: format!("{}__{}", t.name, r.ids.uuid()).into(),
        agent_id: offer.agent_id.clone(),
        resources,
        command: Some(CommandInfo {
            uris: task_uris(pod, spec, ctx),
            environment: Some(env.clone()),
            user: pod.user.clone(),
            ..CommandInfo::shell(cmd)
        }),
        // A paused task is not the service: nothing checks it.
        health_check: spec
            .health_check
            .as_ref()
            .filter(|_| !paused)
            .map(|h| health_check(h, &env)),
        check: spec
            .readiness_check
            .as_ref()
            .filter(|_| !paused)
            .map(|c| readiness_check(c, &env)),
        kill_policy: spec
            .kill_grace_period_s
            .map(|s| KillPolicy::grace_period(std::time::Duration::from_secs(u64::from(s)))),
        labels: Some(task_labels),
        discovery: Some(discovery(spec, req, &ports, port_specs, r.ids)),
        container: container(pod),
        limits: task_limits(pod, spec),
        ..TaskInfo::default()
    }
}

/// `TaskInfo.limits` (Mesos 1.9+): the task's `resource-limits`, or its resource set's. Each a
/// `Value.Scalar`, `Infinity` for unlimited.
fn task_limits(
    pod: &crate::spec::PodSpec,
    spec: &TaskSpec,
) -> Option<BTreeMap<String, serde_json::Value>> {
    use crate::spec::ResourceLimit;
    let limits = match &spec.resource_set {
        Some(id) => pod.resource_set(id).map(|s| s.resource_limits)?,
        None => spec.resource_limits,
    };
    let scalar = |limit: ResourceLimit| match limit {
        ResourceLimit::Unlimited => serde_json::json!({ "value": "Infinity" }),
        ResourceLimit::At(value) => serde_json::json!({ "value": value }),
    };
    let mut out = BTreeMap::new();
    if let Some(cpus) = limits.cpus {
        out.insert("cpus".to_string(), scalar(cpus));
    }
    if let Some(memory) = limits.memory_mb {
        out.insert("mem".to_string(), scalar(memory));
    }
    (!out.is_empty()).then_some(out)
}

/// The task's `ContainerInfo`, only when the pod has something for it: its rlimits, which a
/// Mesos agent applies with the `posix/rlimits` isolator and cairn's agent with `setrlimit`.
fn container(pod: &crate::spec::PodSpec) -> Option<serde_json::Value> {
    if pod.rlimits.is_empty() {
        return None;
    }
    let info = cairn_proto::RlimitInfo {
        rlimits: pod
            .rlimits
            .iter()
            .map(|l| cairn_proto::Rlimit {
                type_: l.resource,
                soft: l.soft,
                hard: l.hard,
            })
            .collect(),
    };
    Some(serde_json::json!({ "type": "MESOS", "rlimit_info": info }))
}

/// The pod's and the task's URIs, then, for a task with config templates, the renderer and
/// each template from the scheduler's API. [`BOOTSTRAP_URI`] in the spec is the renderer, once.
fn task_uris(pod: &PodSpec, task: &TaskSpec, ctx: &LaunchContext<'_>) -> Vec<CommandUri> {
    let base = ctx.api.map(ApiEndpoint::artifact_base);
    // Fetched executable and cached: the same file for every task of the scheduler.
    let bootstrap = ctx.api.map(|api| CommandUri {
        value: format!(
            "{}/bootstrap/{}/bootstrap",
            api.artifact_base(),
            api.bootstrap_id
        ),
        executable: Some(true),
        extract: Some(false),
        cache: Some(true),
        output_file: Some("bootstrap".into()),
    });
    let mut uris = Vec::new();
    let mut has_bootstrap = false;
    for u in pod.uris.iter().chain(&task.uris) {
        match &bootstrap {
            Some(b) if u == BOOTSTRAP_URI => {
                if !has_bootstrap {
                    uris.push(b.clone());
                    has_bootstrap = true;
                }
            }
            _ => uris.push(CommandUri::new(u.clone())),
        }
    }
    if let (Some(base), Some(b), false) = (base, bootstrap, task.configs.is_empty()) {
        if !has_bootstrap {
            uris.push(b);
        }
        let pod_type = &pod.type_name;
        for c in &task.configs {
            uris.push(CommandUri {
                value: format!(
                    "{base}/template/{}/{pod_type}/{}/{}",
                    ctx.config_id.0, task.name, c.name
                ),
                extract: Some(false),
                output_file: Some(c.fetched_path()),
                ..CommandUri::default()
            });
        }
    }
    uris
}

/// A COMMAND health check with the spec's timings; Mesos kills the task when it fails too
/// often, and recovery relaunches it.
fn health_check(h: &crate::spec::HealthCheckSpec, env: &Environment) -> HealthCheck {
    HealthCheck {
        type_: Some(HealthCheckType::Command),
        command: Some(CommandInfo {
            environment: Some(env.clone()),
            ..CommandInfo::shell(h.cmd.clone())
        }),
        delay_seconds: Some(f64::from(h.delay_s)),
        interval_seconds: Some(f64::from(h.interval_s)),
        timeout_seconds: Some(f64::from(h.timeout_s)),
        consecutive_failures: Some(h.max_consecutive_failures),
        grace_period_seconds: Some(f64::from(h.grace_period_s)),
        ..HealthCheck::default()
    }
}

/// The readiness check as a Mesos COMMAND check: only reported, never acted on by Mesos; its
/// exit code 0 in a status update completes the deploy step.
fn readiness_check(c: &crate::spec::ReadinessCheckSpec, env: &Environment) -> CheckInfo {
    CheckInfo {
        type_: Some(CheckType::Command),
        command: Some(CheckCommand {
            command: CommandInfo {
                environment: Some(env.clone()),
                ..CommandInfo::shell(c.cmd.clone())
            },
        }),
        delay_seconds: Some(f64::from(c.delay_s)),
        interval_seconds: Some(f64::from(c.interval_s)),
        timeout_seconds: Some(f64::from(c.timeout_s)),
        ..CheckInfo::default()
    }
}

/// The task's resources, its ports (name → number) and its resource set.
fn task_resources(
    t: &TaskLaunch,
    r: &mut Reserver<'_, '_>,
) -> (Vec<Resource>, BTreeMap<String, u64>, Option<String>) {
    match &t.resources {
        TaskResources::Reuse {
            resources,
            resource_set,
            ports,
            extra_cpus,
            extra_mem_mb,
            extra_gpus,
        } => {
            let mut held: Vec<Resource> = resources.iter().map(|s| r.reuse(s)).collect();
            // A grown spec: the difference is reserved on the same agent with the pod's
            // labels, so later relaunches reuse old and new reservations together.
            if *extra_cpus > 0.0 {
                held.push(r.scalar("cpus", *extra_cpus));
            }
            if *extra_mem_mb > 0.0 {
                held.push(r.scalar("mem", *extra_mem_mb));
            }
            if *extra_gpus > 0.0 {
                held.push(r.scalar("gpus", *extra_gpus));
            }
            (held, ports.clone(), resource_set.clone())
        }
        TaskResources::Fresh {
            cpus,
            mem_mb,
            gpus,
            ports,
            volumes,
            resource_set,
        } => {
            let mut resources = vec![r.scalar("cpus", *cpus), r.scalar("mem", *mem_mb)];
            if *gpus > 0 {
                resources.push(r.scalar("gpus", f64::from(*gpus)));
            }
            let mut numbers = BTreeMap::new();
            for p in ports {
                let (n, res) = r.port();
                numbers.insert(p.name.clone(), n);
                resources.push(res);
            }
            resources.extend(volumes.iter().map(|v| r.volume(v)));
            (resources, numbers, resource_set.clone())
        }
    }
}

/// The ports a task gets: its resource set's when it uses one, else its own. Both kinds honour
/// `env-key`, `advertise` and `vip` alike.
fn port_specs<'a>(pod: &'a PodSpec, task: &'a TaskSpec, set: Option<&str>) -> &'a [PortSpec] {
    match set.and_then(|id| pod.resource_set(id)) {
        Some(s) => &s.resources.ports,
        None => &task.resources.ports,
    }
}

/// The task's environment (README, "The task environment"): cairn's variables, then the
/// spec's own `env` (with the scheduler's `TASKCFG_*` routed into it when it took the spec),
/// which win: the author asked for them; then a started plan's parameters, which win over both: the
/// operator asked for them for this run, as the SDK's plan parameters override a task's
/// environment.
fn environment(
    ctx: &LaunchContext<'_>,
    task: &TaskSpec,
    req: &PodRequirement,
    launch: &TaskLaunch,
    ports: &BTreeMap<String, u64>,
    port_specs: &[PortSpec],
    facts: &AgentFacts,
) -> Environment {
    let service = ctx.spec;
    let task_name = launch.name.as_str();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.insert("TASK_NAME".into(), task_name.to_string());
    // For a template's `{{#<task name>}}`, as the SDK gives it.
    vars.insert(task_name.to_string(), "true".into());
    vars.insert("FRAMEWORK_NAME".into(), service.name.clone());
    vars.insert(
        "FRAMEWORK_HOST".into(),
        framework_host(&service.name, ctx.service_tld),
    );
    vars.insert("POD_TYPE".into(), req.pod_instance.pod_type().to_string());
    vars.insert(
        "POD_INSTANCE_INDEX".into(),
        req.pod_instance.index().to_string(),
    );
    for (name, number) in ports {
        let var = port_specs
            .iter()
            .find(|p| &p.name == name)
            .map(PortSpec::env_var)
            .unwrap_or_else(|| PortSpec::new(name.clone(), 0).env_var());
        vars.insert(var, number.to_string());
    }
    if let Some(api) = ctx.api {
        vars.insert("SCHEDULER_API_HOSTNAME".into(), api.host.clone());
        vars.insert("SCHEDULER_API_PORT".into(), api.port.to_string());
    }
    if let Some(zone) = &facts.zone {
        vars.insert("ZONE".into(), zone.clone());
    }
    if let Some(region) = &facts.region {
        vars.insert("REGION".into(), region.clone());
    }
    for c in &task.configs {
        vars.insert(c.env_var(), format!("{},{}", c.fetched_path(), c.dest));
    }
    vars.extend(task.env.clone());
    if let Some(run) = &launch.run {
        vars.extend(run.parameters.clone());
    }
    Environment::from_pairs(vars)
}

/// Kept here too, where the task environment is made, for callers that found it here.
pub use crate::spec::framework_host;

fn task_labels(
    ctx: &LaunchContext<'_>,
    spec: &TaskSpec,
    req: &PodRequirement,
    facts: &AgentFacts,
    ports: &BTreeMap<String, u64>,
    set: Option<&str>,
) -> Labels {
    let mut l = Labels::from_pairs(spec.labels.clone());
    l.insert(labels::TARGET_CONFIGURATION, ctx.config_id.0.clone());
    l.insert(labels::TASK_TYPE, req.pod_instance.pod_type());
    l.insert(labels::INDEX, req.pod_instance.index().to_string());
    l.insert(labels::OFFER_HOSTNAME, facts.hostname.clone());
    if !facts.attributes.is_empty() {
        l.insert(
            labels::OFFER_ATTRIBUTES,
            labels::format_attributes(&facts.attributes),
        );
    }
    if let Some(z) = &facts.zone {
        l.insert(labels::OFFER_ZONE, z.clone());
    }
    if let Some(r) = &facts.region {
        l.insert(labels::OFFER_REGION, r.clone());
    }
    let goal = serde_json::to_value(spec.goal)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    l.insert(labels::GOAL, goal);
    if let Some(s) = set {
        l.insert(labels::RESOURCE_SET, s);
    }
    if !ports.is_empty() {
        let text: Vec<String> = ports.iter().map(|(n, p)| format!("{n}:{p}")).collect();
        l.insert(labels::PORTS, text.join(","));
    }
    l
}

/// Discovery info, on every task: the name DNS publishes it under (Mesos-DNS reads
/// `DiscoveryInfo.name`, so every task has its stable name, not only those that advertise
/// ports) and its advertised ports. A port with a `vip`
/// carries the labels DC/OS' load balancer and DNS read, as dcos-commons writes them:
/// `VIP_<uuid>` = `<prefix>:<vip port>` (the key only has to be unique and start with `VIP_`)
/// and `network-scope` = `host` (tasks use the agent's network); the port's protocol is the
/// VIP's.
fn discovery(
    spec: &TaskSpec,
    req: &PodRequirement,
    ports: &BTreeMap<String, u64>,
    port_specs: &[PortSpec],
    ids: &mut IdSource,
) -> DiscoveryInfo {
    let advertised: Vec<&PortSpec> = port_specs
        .iter()
        .filter(|p| p.advertise || p.vip.is_some())
        .collect();
    let visibility = match spec.discovery.as_ref().and_then(|d| d.visibility) {
        Some(Visibility::Framework) => DiscoveryVisibility::Framework,
        Some(Visibility::External) => DiscoveryVisibility::External,
        Some(Visibility::Cluster) | None => DiscoveryVisibility::Cluster,
    };
    // A label, whatever the case and `_` of the pod and task names (the Mesos task name
    // itself keeps them).
    let name = crate::spec::discovery_name(&req.pod_instance, spec);
    let ports = advertised
        .iter()
        .filter_map(|p| {
            let number = *ports.get(&p.name)?;
            let (protocol, labels) = match &p.vip {
                Some(vip) => (
                    vip.protocol.as_str(),
                    Some(Labels {
                        labels: vec![
                            Label::new(
                                format!("{VIP_LABEL_PREFIX}{}", ids.uuid()),
                                format!("{}:{}", vip.prefix, vip.port),
                            ),
                            Label::new(NETWORK_SCOPE_LABEL, "host"),
                        ],
                    }),
                ),
                None => ("tcp", None),
            };
            Some(Port {
                number: number as u32,
                name: Some(p.name.clone()),
                protocol: Some(protocol.into()),
                visibility: Some(visibility),
                labels,
            })
        })
        .collect();
    DiscoveryInfo {
        visibility,
        name: Some(name),
        ports: Some(Ports { ports }),
        ..DiscoveryInfo::default()
    }
}

/// Prefix of the port label naming a VIP (DC/OS' load balancer reads every label with it).
pub const VIP_LABEL_PREFIX: &str = "VIP_";
/// Port label saying which network a VIP's backends are on.
pub const NETWORK_SCOPE_LABEL: &str = "network-scope";
