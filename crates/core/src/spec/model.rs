//! The validated service spec: what a service is made of, independent of how it was written.
//!
//! Everything here serializes to JSON with explicit field names and enum tags, because the
//! config store keeps each target config as JSON by id and later versions of cairn must read
//! configs written by earlier ones. Defaults are resolved when a spec is built (role, principal,
//! user, check timings), so that two configs compare equal exactly when they mean the same.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names::PodInstanceName;
use super::placement::Placement;

/// A whole service: its name, identity on the cluster, pod types and plans.
///
/// Build one with [`ServiceSpec::builder`] or [`crate::spec::parse_yaml`]; both validate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Service name, also the Mesos framework name. May contain `/` folders (`/prod/kafka`).
    pub name: String,
    /// The Mesos role resources are reserved to. Default `<name>-role` ([`Self::default_role`]).
    pub role: String,
    /// The Mesos principal. Default `<name>-principal` ([`Self::default_principal`]).
    pub principal: String,
    /// The OS user tasks run as (unless a pod overrides it). Default [`Self::DEFAULT_USER`].
    pub user: String,
    /// Link shown for the service; the scheduler API when absent.
    #[serde(default)]
    pub web_url: Option<String>,
    /// ZooKeeper connection string (`host:port,...`) for the ZooKeeper state store, if used.
    #[serde(default)]
    pub zookeeper: Option<String>,
    /// Pod types in spec order: the default deploy order (decommission runs in reverse).
    pub pods: Vec<PodSpec>,
    /// Plans in spec order. `deploy` and `update` are special; others are started by hand.
    #[serde(default)]
    pub plans: Vec<PlanSpec>,
    /// When a failed pod counts as lost for good and is replaced elsewhere. `None`: never
    /// automatically (an operator runs `pod replace`), as in dcos-commons.
    #[serde(default)]
    pub replacement_failure_policy: Option<ReplacementFailurePolicy>,
}

impl ServiceSpec {
    /// The OS user of a spec that names none: `nobody`, what the SDK's packages default to.
    /// Tasks run as root only when a spec says so (and the cluster allows it).
    pub const DEFAULT_USER: &'static str = "nobody";

    /// The spec as YAML, in its stored form (what `cairn describe` prints): the same fields
    /// as the JSON the state store keeps, for people to read and diff.
    pub fn to_yaml(&self) -> String {
        // A spec is plain data (strings, numbers, maps with string keys): it always serializes.
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// `<name>-role`, with a leading `/` dropped and other `/` written `__` (roles are flat).
    pub fn default_role(name: &str) -> String {
        format!("{}-role", escape_slashes(name))
    }

    /// `<name>-principal`, escaped like [`Self::default_role`].
    pub fn default_principal(name: &str) -> String {
        format!("{}-principal", escape_slashes(name))
    }

    /// The pod type called `type_name`.
    pub fn pod(&self, type_name: &str) -> Option<&PodSpec> {
        self.pods.iter().find(|p| p.type_name == type_name)
    }

    /// The plan called `name`.
    pub fn plan(&self, name: &str) -> Option<&PlanSpec> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// The role pod type `pod`'s reservations are made to: the service's role, or, for a pod
    /// with a pre-reserved role `R`, `R/<service role>` — the SDK's refinement: a dynamic
    /// reservation pushed on top of the static one to `R`, which Mesos accepts only for a
    /// sub-role of `R`, and which the framework must also subscribe with (Mesos offers what is
    /// reserved to `R` to that sub-role and lets a framework reserve only to the role an offer
    /// was allocated to).
    pub fn reservation_role(&self, pod: &PodSpec) -> String {
        match &pod.pre_reserved_role {
            Some(pre) => format!("{pre}/{}", self.role),
            None => self.role.clone(),
        }
    }

    /// Every role the framework subscribes with: the service's role first, then each pod's
    /// [`Self::reservation_role`] that differs from it, once.
    pub fn roles(&self) -> Vec<String> {
        let mut roles = vec![self.role.clone()];
        for pod in &self.pods {
            let role = self.reservation_role(pod);
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        roles
    }

    /// Whether any task or resource set asks for GPUs: only then does the framework say
    /// GPU_RESOURCES, so a service without them is never offered a GPU agent's resources on a
    /// cluster that keeps GPU agents for GPU work (Mesos' `--filter_gpu_resources`, its
    /// default), as the SDK decides.
    pub fn uses_gpus(&self) -> bool {
        self.pods.iter().any(|p| {
            p.tasks.iter().any(|t| t.resources.gpus > 0)
                || p.resource_sets.iter().any(|s| s.resources.gpus > 0)
        })
    }

    /// The plans of the spec that do not run by themselves: every plan but `deploy` and
    /// `update` (a sidecar plan such as a backup or a repair), idle until an operator starts
    /// them (`cairn plan start`).
    pub fn plans_not_run(&self) -> impl Iterator<Item = &PlanSpec> {
        self.plans
            .iter()
            .filter(|p| p.name != "deploy" && p.name != "update")
    }
}

fn escape_slashes(name: &str) -> String {
    name.trim_start_matches('/').replace('/', "__")
}

/// One pod type: `count` instances, each a group of tasks launched together on one agent and
/// sharing the pod's volumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodSpec {
    /// The pod type, e.g. `data`. Instances are `data-0` … `data-<count-1>`.
    pub type_name: String,
    /// How many instances. It can always grow; it shrinks only with `allow_decommission`.
    pub count: u32,
    /// Whether instances may be removed (count lowered, or the pod type deleted).
    #[serde(default)]
    pub allow_decommission: bool,
    /// Marathon-style placement constraints, if any.
    #[serde(default)]
    pub placement: Option<Placement>,
    /// Artifacts fetched into the sandbox of every task of the pod.
    #[serde(default)]
    pub uris: Vec<String>,
    /// Persistent volumes of the pod (the executor's), shared by all its tasks.
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Named resource bundles that several tasks use one at a time.
    #[serde(default)]
    pub resource_sets: Vec<ResourceSetSpec>,
    /// Tasks in spec order.
    pub tasks: Vec<TaskSpec>,
    /// Take only resources statically reserved to this role (e.g. `slave_public`).
    #[serde(default)]
    pub pre_reserved_role: Option<String>,
    /// OS user for this pod's tasks instead of the service's.
    #[serde(default)]
    pub user: Option<String>,
    /// POSIX resource limits every task of the pod starts with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<RlimitSpec>,
}

/// A POSIX resource limit (svc.yml `rlimits: {RLIMIT_NOFILE: {soft: …, hard: …}}`), sent to the
/// agent in the task's `ContainerInfo.rlimit_info` as Mesos defines it: both limits, or neither
/// for unlimited. Validation requires `soft <= hard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitSpec {
    /// Which limit; written `RLMT_NOFILE` (Mesos' name) in a stored config.
    pub resource: cairn_proto::RlimitType,
    /// The limit the task starts with; `None` with `hard` also `None` means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<u64>,
    /// The most the task may raise `soft` to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<u64>,
}

impl RlimitSpec {
    /// `resource` limited to `soft` and `hard`.
    pub fn new(resource: cairn_proto::RlimitType, soft: u64, hard: u64) -> Self {
        Self {
            resource,
            soft: Some(soft),
            hard: Some(hard),
        }
    }

    /// `resource` unlimited.
    pub fn unlimited(resource: cairn_proto::RlimitType) -> Self {
        Self {
            resource,
            soft: None,
            hard: None,
        }
    }
}

impl PodSpec {
    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The resource set called `id`.
    pub fn resource_set(&self, id: &str) -> Option<&ResourceSetSpec> {
        self.resource_sets.iter().find(|r| r.id == id)
    }

    /// The instances the count asks for: `data-0`, `data-1`, …
    pub fn instances(&self) -> impl Iterator<Item = PodInstanceName> + '_ {
        (0..self.count).map(|i| PodInstanceName::new(self.type_name.clone(), i))
    }
}

/// A named bundle of resources in a pod, used by the tasks that name it, one at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSetSpec {
    /// The name tasks refer to with `resource-set`.
    pub id: String,
    /// cpus, memory, ports, gpus.
    pub resources: ResourceSpec,
    /// Persistent volumes of the set.
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// How far the task using the set may use more than the set reserves.
    #[serde(default, skip_serializing_if = "ResourceLimits::is_empty")]
    pub resource_limits: ResourceLimits,
}

/// Limits above a task's reserved cpus and memory (svc.yml `resource-limits`), sent as Mesos
/// 1.9+ sends them (`TaskInfo.limits`): where the cluster enforces them, the task may burst up
/// to them when the machine has room. cairn's own agents record them (they show in the
/// master's task state) and enforce neither limits nor requests: they have no cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// CPUs the task may use, at least its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<ResourceLimit>,
    /// Memory in MB the task may use, at least its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<ResourceLimit>,
}

impl ResourceLimits {
    /// No limit given.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_none() && self.memory_mb.is_none()
    }
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceLimit {
    /// As much as the machine has.
    Unlimited,
    /// Up to this much.
    At(f64),
}

/// What a task must reach and whether it is run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Goal {
    /// Keep running; relaunch when it exits.
    #[default]
    #[serde(rename = "RUNNING")]
    Running,
    /// Run to exit 0; run again when its config changes.
    #[serde(rename = "FINISH")]
    Finish,
    /// Run to exit 0 once; not again on config change.
    #[serde(rename = "ONCE")]
    Once,
}

/// One task of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The task name inside its pod, e.g. `node`; the Mesos task is `<pod>-<index>-<name>`.
    pub name: String,
    /// What the task must reach.
    #[serde(default)]
    pub goal: Goal,
    /// When an essential task fails, every task of the pod instance is relaunched; otherwise
    /// only this one. Default true.
    pub essential: bool,
    /// Shell command.
    pub cmd: String,
    /// Environment variables, on top of those cairn sets (`TASK_NAME`, `PORT_<NAME>`, …; the
    /// table is README's "The task environment"). The scheduler's `TASKCFG_*` settings are
    /// routed in here when it takes the spec.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config file templates rendered into the sandbox before the command runs, in spec
    /// order; each template's text is part of the config, so a changed template is a changed
    /// config that the update plan rolls out.
    #[serde(default)]
    pub configs: Vec<ConfigFileSpec>,
    /// The task's own resources; all zero when it uses a resource set.
    pub resources: ResourceSpec,
    /// The task's own persistent volumes.
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// A resource set of the pod to use instead of own resources.
    #[serde(default)]
    pub resource_set: Option<String>,
    /// Kills the task when it fails too often.
    #[serde(default)]
    pub health_check: Option<HealthCheckSpec>,
    /// Holds its deploy step in STARTED until it passes.
    #[serde(default)]
    pub readiness_check: Option<ReadinessCheckSpec>,
    /// Seconds between SIGTERM and SIGKILL, 0..=3600. `None`: the cluster's default.
    #[serde(default)]
    pub kill_grace_period_s: Option<u32>,
    /// Mesos task labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Custom DNS name and visibility.
    #[serde(default)]
    pub discovery: Option<DiscoverySpec>,
    /// Artifacts fetched into this task's sandbox (after the pod's).
    #[serde(default)]
    pub uris: Vec<String>,
    /// How far the task may use more than it reserves (Mesos' `TaskInfo.limits`).
    #[serde(default, skip_serializing_if = "ResourceLimits::is_empty")]
    pub resource_limits: ResourceLimits,
}

/// Scalar and port resources of a task or resource set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Fractional CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub memory_mb: u64,
    /// Named ports.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Whole GPUs (the `gpus` scalar; the framework then has GPU_RESOURCES).
    #[serde(default)]
    pub gpus: u32,
}

impl ResourceSpec {
    /// True when nothing is asked for: the shape of a task that uses a resource set.
    pub fn is_empty(&self) -> bool {
        self.cpus == 0.0 && self.memory_mb == 0 && self.ports.is_empty() && self.gpus == 0
    }
}

/// A named port. Names are unique across the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// Port name, e.g. `http`.
    pub name: String,
    /// The port number; 0 asks for any free port (from `ranges` if given).
    pub port: u16,
    /// Environment variable that carries the port; `None`: `PORT_<NAME>` ([`Self::env_var`]).
    #[serde(default)]
    pub env_key: Option<String>,
    /// Whether the port is listed in the service's endpoints.
    #[serde(default)]
    pub advertise: bool,
    /// A named virtual address for the port.
    #[serde(default)]
    pub vip: Option<VipSpec>,
    /// Where a dynamic port may be picked from.
    #[serde(default)]
    pub ranges: Vec<PortRange>,
}

impl PortSpec {
    /// A port called `name`; `port` 0 means dynamic.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            env_key: None,
            advertise: false,
            vip: None,
            ranges: Vec::new(),
        }
    }

    /// Sets the environment variable name.
    pub fn env_key(mut self, key: impl Into<String>) -> Self {
        self.env_key = Some(key.into());
        self
    }

    /// Lists the port in the service's endpoints.
    pub fn advertise(mut self) -> Self {
        self.advertise = true;
        self
    }

    /// Gives the port a named virtual address.
    pub fn vip(mut self, vip: VipSpec) -> Self {
        self.vip = Some(vip);
        self
    }

    /// Adds a range a dynamic port may be picked from.
    pub fn range(mut self, begin: u16, end: u16) -> Self {
        self.ranges.push(PortRange { begin, end });
        self
    }

    /// The environment variable carrying the port: `env_key`, else `PORT_<NAME>` with the name
    /// upper-cased and `-` written `_`.
    pub fn env_var(&self) -> String {
        self.env_key
            .clone()
            .unwrap_or_else(|| format!("PORT_{}", self.name.to_ascii_uppercase().replace('-', "_")))
    }
}

/// An inclusive range of port numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub begin: u16,
    /// Last port, inclusive.
    pub end: u16,
}

/// Transport protocol of a VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VipProtocol {
    /// TCP.
    #[default]
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp")]
    Udp,
}

impl VipProtocol {
    /// The svc.yml spelling, also Mesos' `Port.protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A virtual address `<prefix>.<service>...:<port>` published in the task's discovery info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSpec {
    /// Name part of the VIP; defaults to the port name in svc.yml.
    pub prefix: String,
    /// The VIP's port (not the task's).
    pub port: u16,
    /// tcp or udp.
    #[serde(default)]
    pub protocol: VipProtocol,
}

/// A Mesos command health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckSpec {
    /// Shell command; exit 0 means healthy.
    pub cmd: String,
    /// Seconds between checks.
    pub interval_s: u32,
    /// Seconds after launch during which failures do not count.
    pub grace_period_s: u32,
    /// Failures in a row after which the task is killed.
    pub max_consecutive_failures: u32,
    /// Seconds before the first check.
    pub delay_s: u32,
    /// Seconds a check may take.
    pub timeout_s: u32,
}

impl HealthCheckSpec {
    /// A check running `cmd` with Mesos' default timings (interval 10 s, grace 10 s, 3
    /// failures, delay 15 s, timeout 20 s); svc.yml uses the same defaults for omitted keys.
    pub fn new(cmd: impl Into<String>) -> Self {
        Self {
            cmd: cmd.into(),
            interval_s: 10,
            grace_period_s: 10,
            max_consecutive_failures: 3,
            delay_s: 15,
            timeout_s: 20,
        }
    }
}

/// A check that must pass before the task's deploy step completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheckSpec {
    /// Shell command; exit 0 means ready.
    pub cmd: String,
    /// Seconds between checks.
    pub interval_s: u32,
    /// Seconds before the first check.
    pub delay_s: u32,
    /// Seconds a check may take.
    pub timeout_s: u32,
}

impl ReadinessCheckSpec {
    /// A check running `cmd` with Mesos' default check timings (interval 10 s, delay 15 s,
    /// timeout 20 s); svc.yml uses the same defaults for omitted keys.
    pub fn new(cmd: impl Into<String>) -> Self {
        Self {
            cmd: cmd.into(),
            interval_s: 10,
            delay_s: 15,
            timeout_s: 20,
        }
    }
}

/// Who can resolve a task's discovery name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    /// Only the framework.
    #[serde(rename = "FRAMEWORK")]
    Framework,
    /// The whole cluster.
    #[serde(rename = "CLUSTER")]
    Cluster,
    /// Outside the cluster too.
    #[serde(rename = "EXTERNAL")]
    External,
}

/// Custom discovery name of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverySpec {
    /// Replaces the task name in DNS: `<prefix>-<index>`. Unique across pod types.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Who can resolve it.
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

/// A config file template (svc.yml `configs`): rendered with the task's environment into
/// `dest` in its sandbox when the task starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFileSpec {
    /// Name of the config: letters, digits, `.`, `_`, `-`. It names the fetched template
    /// (`config-templates/<name>`) and its variable (`CONFIG_TEMPLATE_<NAME>`).
    pub name: String,
    /// Where the rendered file goes, relative to the sandbox (no `..`).
    pub dest: String,
    /// The template's text (Mustache, rendered as strictly as svc.yml). svc.yml names a file
    /// beside the spec; its text is read when the spec is loaded.
    pub template: String,
}

impl ConfigFileSpec {
    /// A config `name` rendered from `template` (the text) into `dest`.
    pub fn new(
        name: impl Into<String>,
        dest: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            dest: dest.into(),
            template: template.into(),
        }
    }

    /// Where the fetcher puts the template in the sandbox, as the SDK does.
    pub fn fetched_path(&self) -> String {
        format!("config-templates/{}", self.name)
    }

    /// The variable telling the renderer about this config: `CONFIG_TEMPLATE_<NAME>`.
    pub fn env_var(&self) -> String {
        format!("CONFIG_TEMPLATE_{}", env_name(&self.name))
    }
}

/// The value svc.yml's `{{BOOTSTRAP_URI}}` renders to when the scheduler's environment does not
/// set it: a URI the scheduler replaces, at launch, with its own `bootstrap` artifact (the
/// renderer of config templates, fetched executable), so a spec written for the DC/OS SDK
/// (`uris: [{{BOOTSTRAP_URI}}]`, `cmd: ./bootstrap -resolve=false && ...`) runs as it is. A
/// stable placeholder rather than the URL itself, which holds the API's address and key:
/// those may change between starts and must not change the config.
pub const BOOTSTRAP_URI: &str = "cairn-artifact:bootstrap";

/// A name as an environment variable's, as the SDK makes them: upper-cased, and every
/// character other than a letter, digit or `_` written `_` (`hello-world.x` → `HELLO_WORLD_X`).
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Kind of persistent disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VolumeType {
    /// A directory carved out of the agent's root disk; exactly `size_mb` is reserved.
    #[serde(rename = "ROOT")]
    Root,
    /// A whole dedicated disk of at least `size_mb`.
    #[serde(rename = "MOUNT")]
    Mount,
}

/// A persistent volume: reserved once, kept across task restarts, found again after failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// Path inside the sandbox (relative), e.g. `data`.
    pub path: String,
    /// ROOT or MOUNT.
    #[serde(rename = "type")]
    pub type_: VolumeType,
    /// Size in MB.
    pub size_mb: u64,
}

impl VolumeSpec {
    /// A ROOT volume of `size_mb` at `path`.
    pub fn root(path: impl Into<String>, size_mb: u64) -> Self {
        Self {
            path: path.into(),
            type_: VolumeType::Root,
            size_mb,
        }
    }

    /// A MOUNT volume of at least `size_mb` at `path`.
    pub fn mount(path: impl Into<String>, size_mb: u64) -> Self {
        Self {
            path: path.into(),
            type_: VolumeType::Mount,
            size_mb,
        }
    }
}

/// How the children of a plan or phase are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Strategy {
    /// One after another.
    #[default]
    #[serde(rename = "serial")]
    Serial,
    /// All at once.
    #[serde(rename = "parallel")]
    Parallel,
    /// Waits for an operator `continue` before the first child and again before the rest,
    /// which then run serially. (svc.yml also accepts `canary`.)
    #[serde(rename = "serial-canary")]
    SerialCanary,
    /// Like serial-canary, but the rest run in parallel.
    #[serde(rename = "parallel-canary")]
    ParallelCanary,
}

impl Strategy {
    /// The svc.yml spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serial => "serial",
            Self::Parallel => "parallel",
            Self::SerialCanary => "serial-canary",
            Self::ParallelCanary => "parallel-canary",
        }
    }
}

/// A plan: phases run under a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSpec {
    /// Plan name, e.g. `deploy`.
    pub name: String,
    /// Across phases: serial or parallel.
    #[serde(default)]
    pub strategy: Strategy,
    /// Phases in spec order.
    pub phases: Vec<PhaseSpec>,
}

impl PlanSpec {
    /// An empty serial plan called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            strategy: Strategy::Serial,
            phases: Vec::new(),
        }
    }

    /// Sets the strategy across phases.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Appends a phase.
    pub fn phase(mut self, phase: PhaseSpec) -> Self {
        self.phases.push(phase);
        self
    }
}

/// A phase: the instances of one pod type, as steps under a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpec {
    /// Phase name.
    pub name: String,
    /// The pod type this phase walks over.
    pub pod: String,
    /// Across steps.
    #[serde(default)]
    pub strategy: Strategy,
    /// Which tasks each instance's steps launch. Empty: one step per instance launching all
    /// of the pod's tasks together. An instance without its own entry uses the `default` one.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

impl PhaseSpec {
    /// A serial phase called `name` over pod type `pod`, with default steps.
    pub fn new(name: impl Into<String>, pod: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pod: pod.into(),
            strategy: Strategy::Serial,
            steps: Vec::new(),
        }
    }

    /// Sets the strategy across steps.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Appends a step entry.
    pub fn step(mut self, step: StepSpec) -> Self {
        self.steps.push(step);
        self
    }
}

/// Which instance a step entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepIndex {
    /// Every instance without an entry of its own.
    Default,
    /// Instance `n`.
    Index(u32),
}

impl fmt::Display for StepIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Index(n) => write!(f, "{n}"),
        }
    }
}

// JSON: `"default"` or the index as a number, as in svc.yml.
impl Serialize for StepIndex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Default => s.serialize_str("default"),
            Self::Index(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for StepIndex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StepIndex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"default\" or an instance index")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<StepIndex, E> {
                u32::try_from(n)
                    .map(StepIndex::Index)
                    .map_err(|_| E::custom("instance index out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<StepIndex, E> {
                match s {
                    "default" => Ok(StepIndex::Default),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The steps of one instance (or of every instance, for `default`): each task group is one
/// step that launches those tasks together, groups in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// Which instance.
    pub index: StepIndex,
    /// Task names per step, e.g. `[["init"], ["server"]]`.
    pub task_groups: Vec<Vec<String>>,
}

impl StepSpec {
    /// Steps for every instance without its own entry.
    pub fn default_for<G, T>(task_groups: G) -> Self
    where
        G: IntoIterator,
        G::Item: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(StepIndex::Default, task_groups)
    }

    /// Steps for `index`.
    pub fn new<G, T>(index: StepIndex, task_groups: G) -> Self
    where
        G: IntoIterator,
        G::Item: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            index,
            task_groups: task_groups
                .into_iter()
                .map(|g| g.into_iter().map(Into::into).collect())
                .collect(),
        }
    }
}

/// When a failed pod instance is declared lost for good and replaced on other resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacementFailurePolicy {
    /// Seconds a pod instance may stay failed before it is replaced.
    pub permanent_failure_timeout_s: u64,
    /// Least seconds between two automatic replacements in the service.
    pub min_replace_delay_s: u64,
}

impl Default for ReplacementFailurePolicy {
    /// 20 minutes, as dcos-commons' builder default; 10 minutes between replacements, which is
    /// what dcos-commons' comment intended (its code used 10 s and never enforced it).
    fn default() -> Self {
        Self {
            permanent_failure_timeout_s: 1200,
            min_replace_delay_s: 600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_principal_defaults_escape_folder_slashes() {
        assert_eq!(ServiceSpec::default_role("my-service"), "my-service-role");
        assert_eq!(
            ServiceSpec::default_principal("/prod/kafka"),
            "prod__kafka-principal"
        );
        assert_eq!(ServiceSpec::default_role("prod/kafka"), "prod__kafka-role");
    }

    #[test]
    fn port_env_var_defaults_to_port_upper_name() {
        assert_eq!(PortSpec::new("dyn-port", 0).env_var(), "PORT_DYN_PORT");
        assert_eq!(PortSpec::new("http", 0).env_key("MY").env_var(), "MY");
    }

    #[test]
    fn step_index_is_default_or_a_number_in_json() {
        assert_eq!(
            serde_json::to_string(&StepIndex::Default).unwrap(),
            "\"default\""
        );
        assert_eq!(serde_json::to_string(&StepIndex::Index(3)).unwrap(), "3");
        assert_eq!(
            serde_json::from_str::<StepIndex>("3").unwrap(),
            StepIndex::Index(3)
        );
        assert_eq!(
            serde_json::from_str::<StepIndex>("\"default\"").unwrap(),
            StepIndex::Default
        );
        assert!(serde_json::from_str::<StepIndex>("\"other\"").is_err());
    }

    #[test]
    fn enums_use_their_svc_yml_spelling_in_json() {
        assert_eq!(serde_json::to_string(&Goal::Once).unwrap(), "\"ONCE\"");
        assert_eq!(
            serde_json::to_string(&Strategy::SerialCanary).unwrap(),
            "\"serial-canary\""
        );
        assert_eq!(
            serde_json::to_string(&VolumeType::Mount).unwrap(),
            "\"MOUNT\""
        );
        assert_eq!(
            serde_json::to_string(&Visibility::External).unwrap(),
            "\"EXTERNAL\""
        );
    }
}
