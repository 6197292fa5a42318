//! The operator API subset (`mesos/v1/master/master.proto`) served on
//! `POST /api/v1`: calls, synchronous responses and the SUBSCRIBE event
//! stream.

use crate::common::{null_as_default, DurationInfo, Scalar, TimeInfo};
use crate::ids::{AgentId, FrameworkId};
use crate::messages::{
    AgentCapability, AgentInfo, ExecutorInfo, FrameworkInfo, MasterInfo, Offer, Role, Task,
    TaskInfo, TaskState, TaskStatus, WeightInfo,
};
use crate::resources::Resource;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// `master.Call.Type`.
    pub enum CallType {
        GetHealth = "GET_HEALTH",
        GetFlags = "GET_FLAGS",
        GetVersion = "GET_VERSION",
        GetMetrics = "GET_METRICS",
        GetLoggingLevel = "GET_LOGGING_LEVEL",
        SetLoggingLevel = "SET_LOGGING_LEVEL",
        ListFiles = "LIST_FILES",
        ReadFile = "READ_FILE",
        GetState = "GET_STATE",
        GetAgents = "GET_AGENTS",
        GetFrameworks = "GET_FRAMEWORKS",
        GetExecutors = "GET_EXECUTORS",
        GetOperations = "GET_OPERATIONS",
        GetTasks = "GET_TASKS",
        GetRoles = "GET_ROLES",
        GetWeights = "GET_WEIGHTS",
        UpdateWeights = "UPDATE_WEIGHTS",
        GetMaster = "GET_MASTER",
        Subscribe = "SUBSCRIBE",
        ReserveResources = "RESERVE_RESOURCES",
        UnreserveResources = "UNRESERVE_RESOURCES",
        CreateVolumes = "CREATE_VOLUMES",
        DestroyVolumes = "DESTROY_VOLUMES",
        GrowVolume = "GROW_VOLUME",
        ShrinkVolume = "SHRINK_VOLUME",
        GetMaintenanceStatus = "GET_MAINTENANCE_STATUS",
        GetMaintenanceSchedule = "GET_MAINTENANCE_SCHEDULE",
        UpdateMaintenanceSchedule = "UPDATE_MAINTENANCE_SCHEDULE",
        StartMaintenance = "START_MAINTENANCE",
        StopMaintenance = "STOP_MAINTENANCE",
        DrainAgent = "DRAIN_AGENT",
        DeactivateAgent = "DEACTIVATE_AGENT",
        ReactivateAgent = "REACTIVATE_AGENT",
        GetQuota = "GET_QUOTA",
        UpdateQuota = "UPDATE_QUOTA",
        SetQuota = "SET_QUOTA",
        RemoveQuota = "REMOVE_QUOTA",
        Teardown = "TEARDOWN",
        MarkAgentGone = "MARK_AGENT_GONE",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

impl CallType {
    /// Whether the call only reads: the `GET_*` calls, and `SUBSCRIBE`, whose event stream
    /// tells what they tell as it changes. Mesos' defaults serve those without
    /// authentication (and authorizes them with the same view permissions), while every other
    /// call changes something.
    pub fn is_read(self) -> bool {
        self == CallType::Subscribe || self.as_str().starts_with("GET_")
    }
}

/// `master.Call.GetMetrics`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetMetricsCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationInfo>,
}

/// `master.Call.SetLoggingLevel`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SetLoggingLevel {
    #[serde(with = "crate::num::one")]
    pub level: u32,
    pub duration: DurationInfo,
}

/// `master.Call.UpdateWeights`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateWeights {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub weight_infos: Vec<WeightInfo>,
}

/// `master.Call.ReserveResources`: resources in the refined format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReserveResources {
    pub agent_id: AgentId,
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

/// `master.Call.UnreserveResources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnreserveResources {
    pub agent_id: AgentId,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
}

/// `master.Call.CreateVolumes` / `master.Call.DestroyVolumes`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Volumes {
    pub agent_id: AgentId,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<Resource>,
}

/// `master.Call.GrowVolume`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrowVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    pub volume: Resource,
    pub addition: Resource,
}

/// `master.Call.ShrinkVolume`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShrinkVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    pub volume: Resource,
    pub subtract: Scalar,
}

/// A call whose only payload is an agent (`MARK_AGENT_GONE`,
/// `DEACTIVATE_AGENT`, `REACTIVATE_AGENT`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentRef {
    pub agent_id: AgentId,
}

/// `master.Call.DrainAgent`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DrainAgent {
    pub agent_id: AgentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_gone: Option<bool>,
}

/// `master.Call.Teardown`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Teardown {
    pub framework_id: FrameworkId,
}

/// `master.Call`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type")]
    pub type_: CallType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_metrics: Option<GetMetricsCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_logging_level: Option<SetLoggingLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_files: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_file: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_weights: Option<UpdateWeights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_resources: Option<ReserveResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreserve_resources: Option<UnreserveResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_volumes: Option<Volumes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_volumes: Option<Volumes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grow_volume: Option<GrowVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_volume: Option<ShrinkVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_agent: Option<DrainAgent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivate_agent: Option<AgentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactivate_agent: Option<AgentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_quota: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<Teardown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_agent_gone: Option<AgentRef>,
}

impl Call {
    pub fn new(type_: CallType) -> Self {
        Call {
            type_,
            ..Default::default()
        }
    }

    pub fn reserve_resources(agent_id: AgentId, resources: Vec<Resource>) -> Self {
        Call {
            reserve_resources: Some(ReserveResources {
                agent_id,
                source: Vec::new(),
                resources,
            }),
            ..Call::new(CallType::ReserveResources)
        }
    }

    pub fn unreserve_resources(agent_id: AgentId, resources: Vec<Resource>) -> Self {
        Call {
            unreserve_resources: Some(UnreserveResources {
                agent_id,
                resources,
            }),
            ..Call::new(CallType::UnreserveResources)
        }
    }

    pub fn create_volumes(agent_id: AgentId, volumes: Vec<Resource>) -> Self {
        Call {
            create_volumes: Some(Volumes { agent_id, volumes }),
            ..Call::new(CallType::CreateVolumes)
        }
    }

    pub fn destroy_volumes(agent_id: AgentId, volumes: Vec<Resource>) -> Self {
        Call {
            destroy_volumes: Some(Volumes { agent_id, volumes }),
            ..Call::new(CallType::DestroyVolumes)
        }
    }

    pub fn teardown(framework_id: FrameworkId) -> Self {
        Call {
            teardown: Some(Teardown { framework_id }),
            ..Call::new(CallType::Teardown)
        }
    }

    pub fn mark_agent_gone(agent_id: AgentId) -> Self {
        Call {
            mark_agent_gone: Some(AgentRef { agent_id }),
            ..Call::new(CallType::MarkAgentGone)
        }
    }

    /// Checks that the payload the type needs is present and that the IDs it
    /// names follow Mesos' rules; the error is the text of the master's 400
    /// reply. `Unknown` passes (the master answers
    /// 501 for it).
    pub fn validate(&self) -> Result<(), String> {
        let (key, present) = match self.type_ {
            CallType::GetMetrics => ("get_metrics", self.get_metrics.is_some()),
            CallType::SetLoggingLevel => ("set_logging_level", self.set_logging_level.is_some()),
            CallType::ListFiles => ("list_files", self.list_files.is_some()),
            CallType::ReadFile => ("read_file", self.read_file.is_some()),
            CallType::UpdateWeights => ("update_weights", self.update_weights.is_some()),
            CallType::ReserveResources => ("reserve_resources", self.reserve_resources.is_some()),
            CallType::UnreserveResources => {
                ("unreserve_resources", self.unreserve_resources.is_some())
            }
            CallType::CreateVolumes => ("create_volumes", self.create_volumes.is_some()),
            CallType::DestroyVolumes => ("destroy_volumes", self.destroy_volumes.is_some()),
            CallType::GrowVolume => ("grow_volume", self.grow_volume.is_some()),
            CallType::ShrinkVolume => ("shrink_volume", self.shrink_volume.is_some()),
            CallType::DrainAgent => ("drain_agent", self.drain_agent.is_some()),
            CallType::DeactivateAgent => ("deactivate_agent", self.deactivate_agent.is_some()),
            CallType::ReactivateAgent => ("reactivate_agent", self.reactivate_agent.is_some()),
            CallType::UpdateQuota => ("update_quota", self.update_quota.is_some()),
            CallType::Teardown => ("teardown", self.teardown.is_some()),
            CallType::MarkAgentGone => ("mark_agent_gone", self.mark_agent_gone.is_some()),
            _ => return Ok(()),
        };
        if !present {
            return Err(format!("Expecting '{key}' to be present"));
        }
        self.validate_ids()
    }

    /// Mesos' rules for IDs, for the agent and framework IDs an operator call names.
    fn validate_ids(&self) -> Result<(), String> {
        use crate::validation::validate_id;
        let agents = [
            (
                "reserve_resources.agent_id",
                self.reserve_resources.as_ref().map(|r| &r.agent_id),
            ),
            (
                "unreserve_resources.agent_id",
                self.unreserve_resources.as_ref().map(|r| &r.agent_id),
            ),
            (
                "create_volumes.agent_id",
                self.create_volumes.as_ref().map(|r| &r.agent_id),
            ),
            (
                "destroy_volumes.agent_id",
                self.destroy_volumes.as_ref().map(|r| &r.agent_id),
            ),
            (
                "drain_agent.agent_id",
                self.drain_agent.as_ref().map(|r| &r.agent_id),
            ),
            (
                "deactivate_agent.agent_id",
                self.deactivate_agent.as_ref().map(|r| &r.agent_id),
            ),
            (
                "reactivate_agent.agent_id",
                self.reactivate_agent.as_ref().map(|r| &r.agent_id),
            ),
            (
                "mark_agent_gone.agent_id",
                self.mark_agent_gone.as_ref().map(|r| &r.agent_id),
            ),
        ];
        let check = |field: &str, value: &str| {
            validate_id(value).map_err(|e| format!("'{field}' is not a valid ID: {e}"))
        };
        for (field, id) in agents {
            if let Some(id) = id {
                check(field, &id.value)?;
            }
        }
        if let Some(t) = &self.teardown {
            check("teardown.framework_id", &t.framework_id.value)?;
        }
        Ok(())
    }
}

wire_enum! {
    /// `master.Response.Type`.
    pub enum ResponseType {
        GetHealth = "GET_HEALTH",
        GetFlags = "GET_FLAGS",
        GetVersion = "GET_VERSION",
        GetMetrics = "GET_METRICS",
        GetLoggingLevel = "GET_LOGGING_LEVEL",
        ListFiles = "LIST_FILES",
        ReadFile = "READ_FILE",
        GetState = "GET_STATE",
        GetAgents = "GET_AGENTS",
        GetFrameworks = "GET_FRAMEWORKS",
        GetExecutors = "GET_EXECUTORS",
        GetOperations = "GET_OPERATIONS",
        GetTasks = "GET_TASKS",
        GetRoles = "GET_ROLES",
        GetWeights = "GET_WEIGHTS",
        GetMaster = "GET_MASTER",
        GetMaintenanceStatus = "GET_MAINTENANCE_STATUS",
        GetMaintenanceSchedule = "GET_MAINTENANCE_SCHEDULE",
        GetQuota = "GET_QUOTA",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `master.Response.GetHealth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetHealth {
    pub healthy: bool,
}

/// `Flag`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Flag {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `master.Response.GetFlags`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetFlags {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<Flag>,
}

/// `VersionInfo` (also the body of the legacy `GET /version`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub build_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_tag: Option<String>,
}

/// `master.Response.GetVersion`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetVersion {
    pub version_info: VersionInfo,
}

/// `Metric`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub value: Option<f64>,
}

/// `master.Response.GetMetrics`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetMetrics {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub metrics: Vec<Metric>,
}

/// `master.Response.GetLoggingLevel`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetLoggingLevel {
    #[serde(with = "crate::num::one")]
    pub level: u32,
}

/// `master.Response.GetAgents.Agent`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Agent {
    pub agent_info: AgentInfo,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub total_resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allocated_resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offered_resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<AgentCapability>,
}

/// `master.Response.GetAgents`. Mesos writes both lists even when they are empty (its
/// writer emits the fields one by one), and so does cairn.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetAgents {
    #[serde(default, deserialize_with = "null_as_default")]
    pub agents: Vec<Agent>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recovered_agents: Vec<AgentInfo>,
}

/// `master.Response.GetFrameworks.Framework`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Framework {
    pub framework_info: FrameworkInfo,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered_time: Option<TimeInfo>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offers: Vec<Offer>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inverse_offers: Vec<serde_json::Value>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allocated_resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offered_resources: Vec<Resource>,
    /// `OfferConstraints`, passed through (cairn sets none: `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

/// `master.Response.GetFrameworks`: both lists always written, as Mesos writes them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetFrameworks {
    #[serde(default, deserialize_with = "null_as_default")]
    pub frameworks: Vec<Framework>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub completed_frameworks: Vec<Framework>,
}

/// `master.Response.GetExecutors.Executor`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Executor {
    pub executor_info: ExecutorInfo,
    pub agent_id: AgentId,
}

/// `master.Response.GetExecutors`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetExecutors {
    #[serde(default, deserialize_with = "null_as_default")]
    pub executors: Vec<Executor>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub orphan_executors: Vec<Executor>,
}

/// `master.Response.GetTasks`: `tasks`, `unreachable_tasks` and `completed_tasks` always
/// written, as Mesos writes them; it never writes the pending and orphan lists (gone since 1.x).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetTasks {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pending_tasks: Vec<TaskInfo>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<Task>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub unreachable_tasks: Vec<Task>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub completed_tasks: Vec<Task>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub orphan_tasks: Vec<Task>,
}

/// `master.Response.GetState`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_tasks: Option<GetTasks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_executors: Option<GetExecutors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_frameworks: Option<GetFrameworks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_agents: Option<GetAgents>,
}

/// `master.Response.GetOperations` (operations passed through).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetOperations {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub operations: Vec<serde_json::Value>,
}

/// `master.Response.GetRoles`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetRoles {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<Role>,
}

/// `master.Response.GetWeights`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetWeights {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub weight_infos: Vec<WeightInfo>,
}

/// `master.Response.GetMaster`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetMaster {
    pub master_info: MasterInfo,
    /// Seconds since the epoch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub start_time: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub elected_time: Option<f64>,
}

/// `master.Response`: `{"type": X, "<lower_x>": {...}}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Response {
    #[serde(rename = "type")]
    pub type_: ResponseType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_health: Option<GetHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_flags: Option<GetFlags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_version: Option<GetVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_metrics: Option<GetMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_logging_level: Option<GetLoggingLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_state: Option<GetState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_agents: Option<GetAgents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_frameworks: Option<GetFrameworks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_executors: Option<GetExecutors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_operations: Option<GetOperations>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_tasks: Option<GetTasks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_roles: Option<GetRoles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_weights: Option<GetWeights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_master: Option<GetMaster>,
}

impl Response {
    fn of(type_: ResponseType) -> Self {
        Response {
            type_,
            ..Default::default()
        }
    }

    pub fn get_health(healthy: bool) -> Self {
        Response {
            get_health: Some(GetHealth { healthy }),
            ..Response::of(ResponseType::GetHealth)
        }
    }

    pub fn get_version(version_info: VersionInfo) -> Self {
        Response {
            get_version: Some(GetVersion { version_info }),
            ..Response::of(ResponseType::GetVersion)
        }
    }

    pub fn get_flags(flags: Vec<Flag>) -> Self {
        Response {
            get_flags: Some(GetFlags { flags }),
            ..Response::of(ResponseType::GetFlags)
        }
    }

    pub fn get_metrics(metrics: Vec<Metric>) -> Self {
        Response {
            get_metrics: Some(GetMetrics { metrics }),
            ..Response::of(ResponseType::GetMetrics)
        }
    }

    pub fn get_state(state: GetState) -> Self {
        Response {
            get_state: Some(state),
            ..Response::of(ResponseType::GetState)
        }
    }

    pub fn get_agents(agents: GetAgents) -> Self {
        Response {
            get_agents: Some(agents),
            ..Response::of(ResponseType::GetAgents)
        }
    }

    pub fn get_frameworks(frameworks: GetFrameworks) -> Self {
        Response {
            get_frameworks: Some(frameworks),
            ..Response::of(ResponseType::GetFrameworks)
        }
    }

    pub fn get_executors(executors: GetExecutors) -> Self {
        Response {
            get_executors: Some(executors),
            ..Response::of(ResponseType::GetExecutors)
        }
    }

    pub fn get_tasks(tasks: GetTasks) -> Self {
        Response {
            get_tasks: Some(tasks),
            ..Response::of(ResponseType::GetTasks)
        }
    }

    pub fn get_roles(roles: Vec<Role>) -> Self {
        Response {
            get_roles: Some(GetRoles { roles }),
            ..Response::of(ResponseType::GetRoles)
        }
    }

    pub fn get_master(get_master: GetMaster) -> Self {
        Response {
            get_master: Some(get_master),
            ..Response::of(ResponseType::GetMaster)
        }
    }
}

wire_enum! {
    /// `master.Event.Type` (the operator SUBSCRIBE stream).
    pub enum EventType {
        Subscribed = "SUBSCRIBED",
        TaskAdded = "TASK_ADDED",
        TaskUpdated = "TASK_UPDATED",
        AgentAdded = "AGENT_ADDED",
        AgentRemoved = "AGENT_REMOVED",
        FrameworkAdded = "FRAMEWORK_ADDED",
        FrameworkUpdated = "FRAMEWORK_UPDATED",
        FrameworkRemoved = "FRAMEWORK_REMOVED",
        Heartbeat = "HEARTBEAT",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `master.Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribed {
    pub get_state: GetState,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub heartbeat_interval_seconds: Option<f64>,
}

/// `master.Event.TaskAdded`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskAdded {
    pub task: Task,
}

/// `master.Event.TaskUpdated`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskUpdated {
    pub framework_id: FrameworkId,
    pub status: TaskStatus,
    pub state: TaskState,
}

/// `master.Event.AgentAdded`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentAdded {
    pub agent: Agent,
}

/// `master.Event.AgentRemoved`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentRemoved {
    pub agent_id: AgentId,
}

/// `master.Event.FrameworkAdded` / `FrameworkUpdated`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkChanged {
    pub framework: Framework,
}

/// `master.Event.FrameworkRemoved`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkRemoved {
    pub framework_info: FrameworkInfo,
}

/// `master.Event`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub type_: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_added: Option<TaskAdded>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_updated: Option<TaskUpdated>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_added: Option<AgentAdded>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_removed: Option<AgentRemoved>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_added: Option<FrameworkChanged>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_updated: Option<FrameworkChanged>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_removed: Option<FrameworkRemoved>,
}

impl Event {
    pub fn heartbeat() -> Self {
        Event {
            type_: EventType::Heartbeat,
            ..Default::default()
        }
    }

    pub fn subscribed(get_state: GetState, heartbeat_interval_seconds: f64) -> Self {
        Event {
            type_: EventType::Subscribed,
            subscribed: Some(Subscribed {
                get_state,
                heartbeat_interval_seconds: Some(heartbeat_interval_seconds),
            }),
            ..Default::default()
        }
    }

    pub fn task_added(task: Task) -> Self {
        Event {
            type_: EventType::TaskAdded,
            task_added: Some(TaskAdded { task }),
            ..Default::default()
        }
    }

    pub fn task_updated(framework_id: FrameworkId, status: TaskStatus) -> Self {
        let state = status.state;
        Event {
            type_: EventType::TaskUpdated,
            task_updated: Some(TaskUpdated {
                framework_id,
                status,
                state,
            }),
            ..Default::default()
        }
    }

    pub fn agent_added(agent: Agent) -> Self {
        Event {
            type_: EventType::AgentAdded,
            agent_added: Some(AgentAdded { agent }),
            ..Default::default()
        }
    }

    pub fn framework_added(framework: Framework) -> Self {
        Event {
            type_: EventType::FrameworkAdded,
            framework_added: Some(FrameworkChanged { framework }),
            ..Default::default()
        }
    }

    pub fn framework_updated(framework: Framework) -> Self {
        Event {
            type_: EventType::FrameworkUpdated,
            framework_updated: Some(FrameworkChanged { framework }),
            ..Default::default()
        }
    }

    pub fn framework_removed(framework_info: FrameworkInfo) -> Self {
        Event {
            type_: EventType::FrameworkRemoved,
            framework_removed: Some(FrameworkRemoved { framework_info }),
            ..Default::default()
        }
    }

    pub fn agent_removed(agent_id: AgentId) -> Self {
        Event {
            type_: EventType::AgentRemoved,
            agent_removed: Some(AgentRemoved { agent_id }),
            ..Default::default()
        }
    }
}
