//! Building a spec in Rust: `ServiceSpec`, `PodSpec` and `TaskSpec` as builders.
//!
//! Builders only collect values; `build()` validates and returns every problem at once, with
//! the same svc.yml-style paths as [`super::parse_yaml`]. Defaults match svc.yml's, so a
//! builder and the equivalent YAML produce equal specs. The one difference: the builder reads
//! no environment, so the user defaults to `root` unless [`ServiceSpecBuilder::user`] is set.
//!
//! ```
//! use cairn_core::spec::{PodSpec, ServiceSpec, TaskSpec, VolumeSpec};
//!
//! let spec = ServiceSpec::builder("my-service")
//!     .pod(
//!         PodSpec::builder("metadata").count(2).task(
//!             TaskSpec::builder("node")
//!                 .cmd("./metadata")
//!                 .cpus(1.0)
//!                 .memory_mb(1024)
//!                 .volume(VolumeSpec::root("my-service-container-path", 5000))
//!                 .uri("http://path/to/my/metadata/bits"),
//!         ),
//!     )
//!     .build()
//!     .unwrap();
//! assert_eq!(spec.role, "my-service-role");
//! ```

use std::collections::BTreeMap;

use super::error::{Report, SpecErrors};
use super::model::*;
use super::placement::Placement;
use super::validate::check_service;

impl ServiceSpec {
    /// Starts a spec for service `name`.
    pub fn builder(name: impl Into<String>) -> ServiceSpecBuilder {
        ServiceSpecBuilder {
            name: name.into(),
            role: None,
            principal: None,
            user: None,
            web_url: None,
            zookeeper: None,
            pods: Vec::new(),
            plans: Vec::new(),
            replacement_failure_policy: None,
        }
    }
}

/// Collects a [`ServiceSpec`]; see [`ServiceSpec::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build()"]
pub struct ServiceSpecBuilder {
    name: String,
    role: Option<String>,
    principal: Option<String>,
    user: Option<String>,
    web_url: Option<String>,
    zookeeper: Option<String>,
    pods: Vec<PodSpecBuilder>,
    plans: Vec<PlanSpec>,
    replacement_failure_policy: Option<ReplacementFailurePolicy>,
}

impl ServiceSpecBuilder {
    /// Mesos role; default `<name>-role`.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Mesos principal; default `<name>-principal`.
    pub fn principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// OS user of the tasks; default [`ServiceSpec::DEFAULT_USER`] (`nobody`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Link shown for the service.
    pub fn web_url(mut self, url: impl Into<String>) -> Self {
        self.web_url = Some(url.into());
        self
    }

    /// ZooKeeper connection string for the ZooKeeper state store.
    pub fn zookeeper(mut self, connect: impl Into<String>) -> Self {
        self.zookeeper = Some(connect.into());
        self
    }

    /// Appends a pod type (a [`PodSpecBuilder`] or a ready [`PodSpec`]).
    pub fn pod(mut self, pod: impl Into<PodSpecBuilder>) -> Self {
        self.pods.push(pod.into());
        self
    }

    /// Appends a plan.
    pub fn plan(mut self, plan: PlanSpec) -> Self {
        self.plans.push(plan);
        self
    }

    /// Replaces failed pods automatically under `policy`.
    pub fn replacement_failure_policy(mut self, policy: ReplacementFailurePolicy) -> Self {
        self.replacement_failure_policy = Some(policy);
        self
    }

    /// The validated spec, or every problem found.
    pub fn build(self) -> Result<ServiceSpec, SpecErrors> {
        let mut report = Report::default();
        let pods = self
            .pods
            .into_iter()
            .map(|p| p.into_spec(&mut report))
            .collect();
        let spec = ServiceSpec {
            role: self
                .role
                .unwrap_or_else(|| ServiceSpec::default_role(&self.name)),
            principal: self
                .principal
                .unwrap_or_else(|| ServiceSpec::default_principal(&self.name)),
            name: self.name,
            user: self
                .user
                .unwrap_or_else(|| ServiceSpec::DEFAULT_USER.to_string()),
            web_url: self.web_url,
            zookeeper: self.zookeeper,
            pods,
            plans: self.plans,
            replacement_failure_policy: self.replacement_failure_policy,
        };
        check_service(&spec, &mut report);
        report.finish(spec)
    }
}

impl PodSpec {
    /// Starts pod type `type_name` with count 1.
    pub fn builder(type_name: impl Into<String>) -> PodSpecBuilder {
        PodSpecBuilder {
            type_name: type_name.into(),
            count: 1,
            allow_decommission: false,
            placement: None,
            uris: Vec::new(),
            volumes: Vec::new(),
            resource_sets: Vec::new(),
            tasks: Vec::new(),
            pre_reserved_role: None,
            user: None,
            rlimits: Vec::new(),
        }
    }
}

/// Collects a [`PodSpec`]; see [`PodSpec::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until added to a service"]
pub struct PodSpecBuilder {
    type_name: String,
    count: u32,
    allow_decommission: bool,
    placement: Option<String>,
    uris: Vec<String>,
    volumes: Vec<VolumeSpec>,
    resource_sets: Vec<ResourceSetSpec>,
    tasks: Vec<TaskSpec>,
    pre_reserved_role: Option<String>,
    user: Option<String>,
    rlimits: Vec<RlimitSpec>,
}

impl PodSpecBuilder {
    /// Number of instances.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Allows removing instances.
    pub fn allow_decommission(mut self, allow: bool) -> Self {
        self.allow_decommission = allow;
        self
    }

    /// Marathon-style constraints, e.g. `[["hostname", "UNIQUE"]]`; checked by `build()`.
    pub fn placement(mut self, placement: impl Into<String>) -> Self {
        self.placement = Some(placement.into());
        self
    }

    /// Adds an artifact fetched for every task of the pod.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uris.push(uri.into());
        self
    }

    /// Adds a pod-level volume shared by the pod's tasks.
    pub fn volume(mut self, volume: VolumeSpec) -> Self {
        self.volumes.push(volume);
        self
    }

    /// Adds a resource set.
    pub fn resource_set(mut self, set: ResourceSetSpec) -> Self {
        self.resource_sets.push(set);
        self
    }

    /// Appends a task (a [`TaskSpecBuilder`] or a ready [`TaskSpec`]).
    pub fn task(mut self, task: impl Into<TaskSpec>) -> Self {
        self.tasks.push(task.into());
        self
    }

    /// Uses only resources statically reserved to `role`.
    pub fn pre_reserved_role(mut self, role: impl Into<String>) -> Self {
        self.pre_reserved_role = Some(role.into());
        self
    }

    /// Runs this pod's tasks as `user`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Adds a POSIX resource limit for every task of the pod, e.g.
    /// `RlimitSpec::new(RlimitType::Nofile, 128_000, 128_000)`; checked by `build()`.
    pub fn rlimit(mut self, rlimit: RlimitSpec) -> Self {
        self.rlimits.push(rlimit);
        self
    }

    fn into_spec(self, report: &mut Report) -> PodSpec {
        // Same rule as svc.yml: an empty placement is no placement.
        let placement = self
            .placement
            .filter(|p| !p.trim().is_empty())
            .and_then(|text| match Placement::parse(&text) {
                Ok(p) => Some(p),
                Err(e) => {
                    report.push(format!("pods.{}.placement", self.type_name), e.to_string());
                    None
                }
            });
        PodSpec {
            type_name: self.type_name,
            count: self.count,
            allow_decommission: self.allow_decommission,
            placement,
            uris: self.uris,
            volumes: self.volumes,
            resource_sets: self.resource_sets,
            tasks: self.tasks,
            pre_reserved_role: self.pre_reserved_role,
            user: self.user,
            rlimits: self.rlimits,
        }
    }
}

impl From<PodSpec> for PodSpecBuilder {
    fn from(pod: PodSpec) -> Self {
        Self {
            type_name: pod.type_name,
            count: pod.count,
            allow_decommission: pod.allow_decommission,
            placement: pod.placement.map(|p| p.as_str().to_string()),
            uris: pod.uris,
            volumes: pod.volumes,
            resource_sets: pod.resource_sets,
            tasks: pod.tasks,
            pre_reserved_role: pod.pre_reserved_role,
            user: pod.user,
            rlimits: pod.rlimits,
        }
    }
}

impl TaskSpec {
    /// Starts task `name`: goal RUNNING, essential, no resources yet.
    pub fn builder(name: impl Into<String>) -> TaskSpecBuilder {
        TaskSpecBuilder {
            spec: TaskSpec {
                name: name.into(),
                goal: Goal::Running,
                essential: true,
                cmd: String::new(),
                env: BTreeMap::new(),
                configs: Vec::new(),
                resources: ResourceSpec::default(),
                volumes: Vec::new(),
                resource_set: None,
                health_check: None,
                readiness_check: None,
                kill_grace_period_s: None,
                labels: BTreeMap::new(),
                discovery: None,
                uris: Vec::new(),
                resource_limits: ResourceLimits::default(),
            },
        }
    }
}

/// Collects a [`TaskSpec`]; see [`TaskSpec::builder`]. Validated with its service.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until added to a pod"]
pub struct TaskSpecBuilder {
    spec: TaskSpec,
}

impl TaskSpecBuilder {
    /// How far the task may use more cpus and memory than it reserves; checked by `build()`.
    pub fn resource_limits(mut self, limits: ResourceLimits) -> Self {
        self.spec.resource_limits = limits;
        self
    }

    /// What the task must reach.
    pub fn goal(mut self, goal: Goal) -> Self {
        self.spec.goal = goal;
        self
    }

    /// Whether the task's failure restarts the whole pod instance.
    pub fn essential(mut self, essential: bool) -> Self {
        self.spec.essential = essential;
        self
    }

    /// Shell command.
    pub fn cmd(mut self, cmd: impl Into<String>) -> Self {
        self.spec.cmd = cmd.into();
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.env.insert(key.into(), value.into());
        self
    }

    /// Fractional CPUs.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.spec.resources.cpus = cpus;
        self
    }

    /// Memory in MB.
    pub fn memory_mb(mut self, memory_mb: u64) -> Self {
        self.spec.resources.memory_mb = memory_mb;
        self
    }

    /// Whole GPUs.
    pub fn gpus(mut self, gpus: u32) -> Self {
        self.spec.resources.gpus = gpus;
        self
    }

    /// Adds a named port.
    pub fn port(mut self, port: PortSpec) -> Self {
        self.spec.resources.ports.push(port);
        self
    }

    /// Adds a persistent volume.
    pub fn volume(mut self, volume: VolumeSpec) -> Self {
        self.spec.volumes.push(volume);
        self
    }

    /// Uses the pod's resource set `id` instead of own resources.
    pub fn resource_set(mut self, id: impl Into<String>) -> Self {
        self.spec.resource_set = Some(id.into());
        self
    }

    /// Adds a health check.
    pub fn health_check(mut self, check: HealthCheckSpec) -> Self {
        self.spec.health_check = Some(check);
        self
    }

    /// Adds a readiness check.
    pub fn readiness_check(mut self, check: ReadinessCheckSpec) -> Self {
        self.spec.readiness_check = Some(check);
        self
    }

    /// Seconds between SIGTERM and SIGKILL.
    pub fn kill_grace_period_s(mut self, seconds: u32) -> Self {
        self.spec.kill_grace_period_s = Some(seconds);
        self
    }

    /// Adds a Mesos task label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the discovery name and visibility.
    pub fn discovery(mut self, discovery: DiscoverySpec) -> Self {
        self.spec.discovery = Some(discovery);
        self
    }

    /// Adds an artifact fetched into the task's sandbox.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.spec.uris.push(uri.into());
        self
    }

    /// Adds a config file: `template` (the Mustache text itself, e.g. from `include_str!`) is
    /// rendered with the task's environment into `dest` in its sandbox before the command runs.
    pub fn config(
        mut self,
        name: impl Into<String>,
        dest: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        self.spec
            .configs
            .push(ConfigFileSpec::new(name, dest, template));
        self
    }

    /// The task as built so far (validated only with its service).
    pub fn build(self) -> TaskSpec {
        self.spec
    }
}

impl From<TaskSpecBuilder> for TaskSpec {
    fn from(b: TaskSpecBuilder) -> Self {
        b.build()
    }
}

impl ResourceSetSpec {
    /// An empty resource set called `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            resources: ResourceSpec::default(),
            volumes: Vec::new(),
            resource_limits: ResourceLimits::default(),
        }
    }

    /// Fractional CPUs.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.resources.cpus = cpus;
        self
    }

    /// Memory in MB.
    pub fn memory_mb(mut self, memory_mb: u64) -> Self {
        self.resources.memory_mb = memory_mb;
        self
    }

    /// Adds a named port.
    pub fn port(mut self, port: PortSpec) -> Self {
        self.resources.ports.push(port);
        self
    }

    /// Adds a persistent volume.
    pub fn volume(mut self, volume: VolumeSpec) -> Self {
        self.volumes.push(volume);
        self
    }
}
