//! Shared messages of `mesos/v1/mesos.proto`: frameworks, masters, agents,
//! offers and their operations, tasks, executors, commands, checks and status
//! updates.

use crate::common::{
    null_as_default, Address, Attribute, Bytes, DomainInfo, DurationInfo, Environment, Labels,
    Scalar, TimeInfo, Url, Uuid,
};
use crate::ids::{
    AgentId, ContainerId, ExecutorId, FrameworkId, OfferId, OperationId, ResourceProviderId, TaskId,
};
use crate::resources::{AllocationInfo, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------
// Frameworks, masters, agents
// ---------------------------------------------------------------------------

wire_enum! {
    /// `FrameworkInfo.Capability.Type`.
    pub enum CapabilityType {
        RevocableResources = "REVOCABLE_RESOURCES",
        TaskKillingState = "TASK_KILLING_STATE",
        GpuResources = "GPU_RESOURCES",
        SharedResources = "SHARED_RESOURCES",
        PartitionAware = "PARTITION_AWARE",
        MultiRole = "MULTI_ROLE",
        ReservationRefinement = "RESERVATION_REFINEMENT",
        RegionAware = "REGION_AWARE",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `FrameworkInfo.Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FrameworkCapability {
    #[serde(rename = "type")]
    pub type_: CapabilityType,
}

impl From<CapabilityType> for FrameworkCapability {
    fn from(type_: CapabilityType) -> Self {
        FrameworkCapability { type_ }
    }
}

/// `FrameworkInfo`: who the framework is and what it can handle.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkInfo {
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    /// Seconds the master waits for a disconnected scheduler before tearing
    /// the framework down. Unset means 0: tear down at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub failover_timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Deprecated single role; superseded by `roles` with `MULTI_ROLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<FrameworkCapability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Role → `OfferFilters`; passed through untouched.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub offer_filters: BTreeMap<String, serde_json::Value>,
}

impl FrameworkInfo {
    pub fn new(user: impl Into<String>, name: impl Into<String>) -> Self {
        FrameworkInfo {
            user: user.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn has_capability(&self, capability: CapabilityType) -> bool {
        self.capabilities.iter().any(|c| c.type_ == capability)
    }

    /// The roles the framework subscribes to: `roles` for a multi-role
    /// framework, otherwise the legacy `role`, which defaults to `*`.
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability(CapabilityType::MultiRole) || !self.roles.is_empty() {
            self.roles.clone()
        } else {
            vec![self.role.clone().unwrap_or_else(|| "*".to_string())]
        }
    }

    /// `failover_timeout` with the Mesos default (0 s) applied.
    pub fn failover_timeout_secs(&self) -> f64 {
        self.failover_timeout.unwrap_or(0.0)
    }

    /// `checkpoint` with the Mesos default (false) applied.
    pub fn is_checkpointing(&self) -> bool {
        self.checkpoint.unwrap_or(false)
    }
}

fn default_master_port() -> u32 {
    MasterInfo::DEFAULT_PORT
}

/// `MasterInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    /// IPv4 address in network byte order, as Mesos packs it.
    #[serde(with = "crate::num::one")]
    pub ip: u32,
    #[serde(default = "default_master_port", with = "crate::num::one")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
}

impl MasterInfo {
    pub const DEFAULT_PORT: u32 = 5050;
}

impl Default for MasterInfo {
    fn default() -> Self {
        MasterInfo {
            id: String::new(),
            ip: 0,
            port: Self::DEFAULT_PORT,
            pid: None,
            hostname: None,
            version: None,
            address: None,
            domain: None,
        }
    }
}

wire_enum! {
    /// `AgentInfo.Capability.Type`.
    pub enum AgentCapabilityType {
        MultiRole = "MULTI_ROLE",
        HierarchicalRole = "HIERARCHICAL_ROLE",
        ReservationRefinement = "RESERVATION_REFINEMENT",
        ResourceProvider = "RESOURCE_PROVIDER",
        ResizeVolume = "RESIZE_VOLUME",
        AgentOperationFeedback = "AGENT_OPERATION_FEEDBACK",
        AgentDraining = "AGENT_DRAINING",
        TaskResourceLimits = "TASK_RESOURCE_LIMITS",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `AgentInfo.Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AgentCapability {
    #[serde(rename = "type")]
    pub type_: AgentCapabilityType,
}

impl From<AgentCapabilityType> for AgentCapability {
    fn from(type_: AgentCapabilityType) -> Self {
        AgentCapability { type_ }
    }
}

/// `AgentInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    /// Mesos default 5051. (`int32` in the proto; ports are never negative.)
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub port: Option<u32>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    /// Whether the agent checkpoints its tasks so they survive its restart (deprecated in
    /// Mesos, where every agent does, and still written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Not a field of the proto's `AgentInfo` (Mesos reports capabilities
    /// beside it, in `master::Agent`); kept here for convenience. Real Mesos
    /// ignores it as an unknown key.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<AgentCapability>,
}

// ---------------------------------------------------------------------------
// Offers and offer operations
// ---------------------------------------------------------------------------

/// `Offer`: resources of one agent, offered to one framework for one role.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<Attribute>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub executor_ids: Vec<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Maintenance window; passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<serde_json::Value>,
}

wire_enum! {
    /// `Offer.Operation.Type`.
    pub enum OperationType {
        Launch = "LAUNCH",
        LaunchGroup = "LAUNCH_GROUP",
        Reserve = "RESERVE",
        Unreserve = "UNRESERVE",
        Create = "CREATE",
        Destroy = "DESTROY",
        GrowVolume = "GROW_VOLUME",
        ShrinkVolume = "SHRINK_VOLUME",
        CreateDisk = "CREATE_DISK",
        DestroyDisk = "DESTROY_DISK",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `Offer.Operation.Launch`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationLaunch {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationLaunchGroup {
    pub executor: ExecutorInfo,
    pub task_group: TaskGroupInfo,
}

/// `Offer.Operation.Reserve`. `source` (optional) names the resources being
/// re-reserved, for a reservation refinement or re-labelling.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationReserve {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub source: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Unreserve`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationUnreserve {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Create`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationCreate {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.Destroy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationDestroy {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.GrowVolume`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationGrowVolume {
    pub volume: Resource,
    pub addition: Resource,
}

/// `Offer.Operation.ShrinkVolume`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationShrinkVolume {
    pub volume: Resource,
    pub subtract: Scalar,
}

/// `Offer.Operation` (one step of an ACCEPT).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OfferOperation {
    #[serde(rename = "type")]
    pub type_: OperationType,
    /// Asks for `UPDATE_OPERATION_STATUS` feedback. Rejected on LAUNCH and
    /// LAUNCH_GROUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<OperationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<OperationLaunch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<OperationLaunchGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve: Option<OperationReserve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreserve: Option<OperationUnreserve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<OperationCreate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy: Option<OperationDestroy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grow_volume: Option<OperationGrowVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_volume: Option<OperationShrinkVolume>,
    /// CSI operations are out of scope; passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_disk: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_disk: Option<serde_json::Value>,
}

impl OfferOperation {
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        OfferOperation {
            type_: OperationType::Launch,
            launch: Some(OperationLaunch { task_infos }),
            ..Default::default()
        }
    }

    pub fn launch_group(executor: ExecutorInfo, task_group: TaskGroupInfo) -> Self {
        OfferOperation {
            type_: OperationType::LaunchGroup,
            launch_group: Some(OperationLaunchGroup {
                executor,
                task_group,
            }),
            ..Default::default()
        }
    }

    pub fn reserve(resources: Vec<Resource>) -> Self {
        OfferOperation {
            type_: OperationType::Reserve,
            reserve: Some(OperationReserve {
                source: Vec::new(),
                resources,
            }),
            ..Default::default()
        }
    }

    pub fn unreserve(resources: Vec<Resource>) -> Self {
        OfferOperation {
            type_: OperationType::Unreserve,
            unreserve: Some(OperationUnreserve { resources }),
            ..Default::default()
        }
    }

    pub fn create(volumes: Vec<Resource>) -> Self {
        OfferOperation {
            type_: OperationType::Create,
            create: Some(OperationCreate { volumes }),
            ..Default::default()
        }
    }

    pub fn destroy(volumes: Vec<Resource>) -> Self {
        OfferOperation {
            type_: OperationType::Destroy,
            destroy: Some(OperationDestroy { volumes }),
            ..Default::default()
        }
    }

    pub fn with_id(mut self, id: impl Into<OperationId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The payload key the type requires, if its payload is missing
    /// (`"launch_group"` for a LAUNCH_GROUP without `launch_group`).
    pub fn missing_payload(&self) -> Option<&'static str> {
        let (key, present) = match self.type_ {
            OperationType::Launch => ("launch", self.launch.is_some()),
            OperationType::LaunchGroup => ("launch_group", self.launch_group.is_some()),
            OperationType::Reserve => ("reserve", self.reserve.is_some()),
            OperationType::Unreserve => ("unreserve", self.unreserve.is_some()),
            OperationType::Create => ("create", self.create.is_some()),
            OperationType::Destroy => ("destroy", self.destroy.is_some()),
            OperationType::GrowVolume => ("grow_volume", self.grow_volume.is_some()),
            OperationType::ShrinkVolume => ("shrink_volume", self.shrink_volume.is_some()),
            OperationType::CreateDisk => ("create_disk", self.create_disk.is_some()),
            OperationType::DestroyDisk => ("destroy_disk", self.destroy_disk.is_some()),
            OperationType::Unknown => return None,
        };
        (!present).then_some(key)
    }
}

// ---------------------------------------------------------------------------
// Tasks, executors, commands
// ---------------------------------------------------------------------------

/// `TaskInfo`: what to run, where, with which resources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub task_id: TaskId,
    pub agent_id: AgentId,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// `ContainerInfo`, passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    /// Resource name → `Value.Scalar` (may be `"Infinity"`); passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, serde_json::Value>>,
}

/// `TaskGroupInfo`: tasks launched together under one executor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tasks: Vec<TaskInfo>,
}

wire_enum! {
    /// `ExecutorInfo.Type`.
    pub enum ExecutorType {
        Default = "DEFAULT",
        Custom = "CUSTOM",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `ExecutorInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutorInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ExecutorType>,
    pub executor_id: ExecutorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

wire_enum! {
    /// `RLimitInfo.RLimit.Type`: Mesos writes `RLMT_` where POSIX writes `RLIMIT_`.
    pub enum RlimitType {
        As = "RLMT_AS",
        Core = "RLMT_CORE",
        Cpu = "RLMT_CPU",
        Data = "RLMT_DATA",
        Fsize = "RLMT_FSIZE",
        Locks = "RLMT_LOCKS",
        Memlock = "RLMT_MEMLOCK",
        Msgqueue = "RLMT_MSGQUEUE",
        Nice = "RLMT_NICE",
        Nofile = "RLMT_NOFILE",
        Nproc = "RLMT_NPROC",
        Rss = "RLMT_RSS",
        Rtprio = "RLMT_RTPRIO",
        Rttime = "RLMT_RTTIME",
        Sigpending = "RLMT_SIGPENDING",
        Stack = "RLMT_STACK",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

impl RlimitType {
    /// The POSIX name, e.g. `RLIMIT_NOFILE` (what svc.yml and `ulimit` documentation say).
    pub fn posix_name(self) -> String {
        match self.as_str().strip_prefix("RLMT_") {
            Some(rest) => format!("RLIMIT_{rest}"),
            None => self.as_str().to_string(),
        }
    }

    /// Parses a POSIX name (`RLIMIT_NOFILE`); `None` for a name Mesos has no type for.
    pub fn from_posix_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("RLIMIT_")?;
        match RlimitType::from_wire(&format!("RLMT_{rest}")) {
            RlimitType::Unknown => None,
            known => Some(known),
        }
    }
}

/// `RLimitInfo.RLimit`: both limits set, or neither (unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type", default)]
    pub type_: RlimitType,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub hard: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub soft: Option<u64>,
}

/// `RLimitInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RlimitInfo {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rlimits: Vec<Rlimit>,
}

impl RlimitInfo {
    /// The `rlimit_info` of a `ContainerInfo` (kept as JSON in [`TaskInfo::container`]), if it
    /// has one; an `rlimit_info` that is not `RLimitInfo` is an error naming why.
    pub fn of_container(
        container: Option<&serde_json::Value>,
    ) -> Result<Option<RlimitInfo>, String> {
        let Some(info) = container.and_then(|c| c.get("rlimit_info")) else {
            return Ok(None);
        };
        serde_json::from_value(info.clone())
            .map(Some)
            .map_err(|e| format!("container.rlimit_info is not an RLimitInfo: {e}"))
    }
}

/// `CommandInfo.URI`: something to fetch into the sandbox before the task
/// starts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandUri {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Mesos default true: archives are unpacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl CommandUri {
    pub fn new(value: impl Into<String>) -> Self {
        CommandUri {
            value: value.into(),
            ..Default::default()
        }
    }

    pub fn is_executable(&self) -> bool {
        self.executable.unwrap_or(false)
    }

    pub fn should_extract(&self) -> bool {
        self.extract.unwrap_or(true)
    }
}

/// `CommandInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uris: Vec<CommandUri>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Mesos default true: `value` runs under `/bin/sh -c`. When false,
    /// `value` is the program and `arguments` its argv (including `argv[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CommandInfo {
    /// A shell command.
    pub fn shell(command: impl Into<String>) -> Self {
        CommandInfo {
            shell: Some(true),
            value: Some(command.into()),
            ..Default::default()
        }
    }

    pub fn is_shell(&self) -> bool {
        self.shell.unwrap_or(true)
    }
}

/// `KillPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

impl KillPolicy {
    pub fn grace_period(grace: impl Into<DurationInfo>) -> Self {
        KillPolicy {
            grace_period: Some(grace.into()),
        }
    }
}

// ---------------------------------------------------------------------------
// Health checks and checks
// ---------------------------------------------------------------------------

wire_enum! {
    /// `HealthCheck.Type`.
    pub enum HealthCheckType {
        Command = "COMMAND",
        Http = "HTTP",
        Tcp = "TCP",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `HealthCheck.HTTPCheckInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpCheckInfo {
    /// `NetworkInfo.Protocol` (`IPv4`/`IPv6`), kept as its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(with = "crate::num::one")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Statuses counted as healthy; empty means 200–399.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::num::many"
    )]
    pub statuses: Vec<u32>,
}

/// `HealthCheck.TCPCheckInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpCheckInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(with = "crate::num::one")]
    pub port: u32,
}

/// `HealthCheck`. Unset timings take the Mesos defaults, see the accessors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub delay_seconds: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub interval_seconds: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub timeout_seconds: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub consecutive_failures: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub grace_period_seconds: Option<f64>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<HealthCheckType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheckInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheckInfo>,
}

impl HealthCheck {
    /// Seconds before the first check (default 15).
    pub fn delay(&self) -> f64 {
        self.delay_seconds.unwrap_or(15.0)
    }

    /// Seconds between checks (default 10).
    pub fn interval(&self) -> f64 {
        self.interval_seconds.unwrap_or(10.0)
    }

    /// Seconds before one check counts as failed (default 20).
    pub fn timeout(&self) -> f64 {
        self.timeout_seconds.unwrap_or(20.0)
    }

    /// Failures in a row that kill the task (default 3).
    pub fn max_consecutive_failures(&self) -> u32 {
        self.consecutive_failures.unwrap_or(3)
    }

    /// Seconds after start during which failures do not count (default 10).
    pub fn grace_period(&self) -> f64 {
        self.grace_period_seconds.unwrap_or(10.0)
    }
}

wire_enum! {
    /// `CheckInfo.Type`.
    pub enum CheckType {
        Command = "COMMAND",
        Http = "HTTP",
        Tcp = "TCP",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `CheckInfo.Command`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckCommand {
    pub command: CommandInfo,
}

/// `CheckInfo.Http`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckHttp {
    #[serde(with = "crate::num::one")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `CheckInfo.Tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckTcp {
    #[serde(with = "crate::num::one")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `CheckInfo`: a general check whose result is reported, not acted on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<CheckType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CheckCommand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<CheckHttp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<CheckTcp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub delay_seconds: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub interval_seconds: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub timeout_seconds: Option<f64>,
}

impl CheckInfo {
    /// Seconds before the first check (default 15).
    pub fn delay(&self) -> f64 {
        self.delay_seconds.unwrap_or(15.0)
    }

    /// Seconds between checks (default 10).
    pub fn interval(&self) -> f64 {
        self.interval_seconds.unwrap_or(10.0)
    }

    /// Seconds before one check is abandoned (default 20).
    pub fn timeout(&self) -> f64 {
        self.timeout_seconds.unwrap_or(20.0)
    }
}

/// `CheckStatusInfo.Command`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckStatusCommand {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub exit_code: Option<i32>,
}

/// `CheckStatusInfo.Http`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckStatusHttp {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub status_code: Option<u32>,
}

/// `CheckStatusInfo.Tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckStatusTcp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<bool>,
}

/// `CheckStatusInfo`: the latest result of a `CheckInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckStatusInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<CheckType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CheckStatusCommand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<CheckStatusHttp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<CheckStatusTcp>,
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

wire_enum! {
    /// `DiscoveryInfo.Visibility`.
    pub enum DiscoveryVisibility {
        Framework = "FRAMEWORK",
        Cluster = "CLUSTER",
        External = "EXTERNAL",
    }
    unknown = "UNKNOWN";
    default = Framework;
}

/// `Port` (inside `DiscoveryInfo.ports`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Port {
    #[serde(with = "crate::num::one")]
    pub number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<DiscoveryVisibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `Ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ports {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<Port>,
}

/// `DiscoveryInfo`: how a task is advertised (names its endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    pub visibility: DiscoveryVisibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Ports>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

// ---------------------------------------------------------------------------
// Status updates
// ---------------------------------------------------------------------------

wire_enum! {
    /// `TaskState`.
    pub enum TaskState {
        Staging = "TASK_STAGING",
        Starting = "TASK_STARTING",
        Running = "TASK_RUNNING",
        Killing = "TASK_KILLING",
        Finished = "TASK_FINISHED",
        Failed = "TASK_FAILED",
        Killed = "TASK_KILLED",
        Error = "TASK_ERROR",
        Lost = "TASK_LOST",
        Dropped = "TASK_DROPPED",
        Unreachable = "TASK_UNREACHABLE",
        Gone = "TASK_GONE",
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
    }
    unknown = "TASK_UNKNOWN";
    default = Unknown;
}

impl TaskState {
    /// States after which the task never runs again. `TASK_LOST` counts:
    /// a lost task may reappear, but its resources are released and a
    /// scheduler must treat it as gone.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }
}

wire_enum! {
    /// `TaskStatus.Source`: who generated a status update.
    pub enum Source {
        Master = "SOURCE_MASTER",
        Agent = "SOURCE_AGENT",
        Executor = "SOURCE_EXECUTOR",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

wire_enum! {
    /// `TaskStatus.Reason`: why a status update happened (v1 names, `AGENT`
    /// where v0 said `SLAVE`).
    pub enum Reason {
        CommandExecutorFailed = "REASON_COMMAND_EXECUTOR_FAILED",
        ContainerLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED",
        ContainerLimitation = "REASON_CONTAINER_LIMITATION",
        ContainerLimitationDisk = "REASON_CONTAINER_LIMITATION_DISK",
        ContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY",
        ContainerPreempted = "REASON_CONTAINER_PREEMPTED",
        ContainerUpdateFailed = "REASON_CONTAINER_UPDATE_FAILED",
        MaxCompletionTimeReached = "REASON_MAX_COMPLETION_TIME_REACHED",
        ExecutorRegistrationTimeout = "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        ExecutorReregistrationTimeout = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        ExecutorTerminated = "REASON_EXECUTOR_TERMINATED",
        ExecutorUnregistered = "REASON_EXECUTOR_UNREGISTERED",
        FrameworkRemoved = "REASON_FRAMEWORK_REMOVED",
        GcError = "REASON_GC_ERROR",
        InvalidFrameworkid = "REASON_INVALID_FRAMEWORKID",
        InvalidOffers = "REASON_INVALID_OFFERS",
        IoSwitchboardExited = "REASON_IO_SWITCHBOARD_EXITED",
        MasterDisconnected = "REASON_MASTER_DISCONNECTED",
        Reconciliation = "REASON_RECONCILIATION",
        ResourcesUnknown = "REASON_RESOURCES_UNKNOWN",
        AgentDisconnected = "REASON_AGENT_DISCONNECTED",
        AgentRemoved = "REASON_AGENT_REMOVED",
        AgentRemovedByOperator = "REASON_AGENT_REMOVED_BY_OPERATOR",
        AgentReregistered = "REASON_AGENT_REREGISTERED",
        AgentRestarted = "REASON_AGENT_RESTARTED",
        AgentUnknown = "REASON_AGENT_UNKNOWN",
        TaskKilledDuringLaunch = "REASON_TASK_KILLED_DURING_LAUNCH",
        TaskCheckStatusUpdated = "REASON_TASK_CHECK_STATUS_UPDATED",
        TaskHealthCheckStatusUpdated = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        TaskGroupInvalid = "REASON_TASK_GROUP_INVALID",
        TaskGroupUnauthorized = "REASON_TASK_GROUP_UNAUTHORIZED",
        TaskInvalid = "REASON_TASK_INVALID",
        TaskUnauthorized = "REASON_TASK_UNAUTHORIZED",
        TaskUnknown = "REASON_TASK_UNKNOWN",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `ContainerStatus`: what the agent knows about the task's container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
    /// `NetworkInfo`s (IP addresses), passed through.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub network_infos: Vec<serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub executor_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_info: Option<serde_json::Value>,
}

/// `TaskStatus`: one status update of one task.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskId,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Seconds since the epoch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub timestamp: Option<f64>,
    /// Present on reliable updates only; those, and only those, must be
    /// acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<CheckStatusInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    /// `TaskResourceLimitation`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<serde_json::Value>,
}

impl TaskStatus {
    pub fn new(task_id: impl Into<TaskId>, state: TaskState) -> Self {
        TaskStatus {
            task_id: task_id.into(),
            state,
            ..Default::default()
        }
    }

    /// Whether the scheduler must ACKNOWLEDGE this update.
    pub fn needs_acknowledgement(&self) -> bool {
        self.uuid.is_some()
    }
}

wire_enum! {
    /// `OperationState`.
    pub enum OperationState {
        Unsupported = "OPERATION_UNSUPPORTED",
        Pending = "OPERATION_PENDING",
        Finished = "OPERATION_FINISHED",
        Failed = "OPERATION_FAILED",
        Error = "OPERATION_ERROR",
        Dropped = "OPERATION_DROPPED",
        Unreachable = "OPERATION_UNREACHABLE",
        GoneByOperator = "OPERATION_GONE_BY_OPERATOR",
        Recovering = "OPERATION_RECOVERING",
    }
    unknown = "OPERATION_UNKNOWN";
    default = Unknown;
}

impl OperationState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationState::Unsupported
                | OperationState::Finished
                | OperationState::Failed
                | OperationState::Error
                | OperationState::Dropped
                | OperationState::GoneByOperator
        )
    }
}

/// `OperationStatus`: feedback on an offer operation that had an `id`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<OperationId>,
    pub state: OperationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub converted_resources: Vec<Resource>,
    /// An object `{"value": <base64>}`, unlike `TaskStatus.uuid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
}

// ---------------------------------------------------------------------------
// Operator-API views
// ---------------------------------------------------------------------------

/// `Task`: the master's view of a task (operator API, state endpoints).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    pub task_id: TaskId,
    pub framework_id: FrameworkId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    pub agent_id: AgentId,
    pub state: TaskState,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub statuses: Vec<TaskStatus>,
    /// The latest unacknowledged update, when one is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_state: Option<TaskState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_uuid: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, serde_json::Value>>,
}

/// `WeightInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WeightInfo {
    #[serde(with = "crate::num::one")]
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Role`, as GET_ROLES reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(with = "crate::num::one")]
    pub weight: f64,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub frameworks: Vec<FrameworkId>,
    /// Deprecated: the allocated resources as a list.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<serde_json::Value>,
    /// Resource name → quantity.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocated: BTreeMap<String, Scalar>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub offered: BTreeMap<String, Scalar>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub reserved: BTreeMap<String, Scalar>,
}
