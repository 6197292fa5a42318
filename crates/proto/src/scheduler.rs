//! The v1 scheduler API (`mesos/v1/scheduler/scheduler.proto`): the `Call`
//! a scheduler POSTs to `/api/v1/scheduler` and the `Event`s the master
//! streams back on the SUBSCRIBE connection.

use crate::common::{null_as_default, Bytes, Filters};
use crate::ids::{
    AgentId, ExecutorId, FrameworkId, OfferId, OperationId, ResourceProviderId, TaskId,
};
use crate::messages::{
    FrameworkInfo, KillPolicy, MasterInfo, Offer, OfferOperation, OperationStatus, TaskStatus,
};
use serde::{Deserialize, Serialize};

wire_enum! {
    /// `Call.Type`.
    pub enum CallType {
        Subscribe = "SUBSCRIBE",
        Teardown = "TEARDOWN",
        Accept = "ACCEPT",
        Decline = "DECLINE",
        AcceptInverseOffers = "ACCEPT_INVERSE_OFFERS",
        DeclineInverseOffers = "DECLINE_INVERSE_OFFERS",
        Revive = "REVIVE",
        Kill = "KILL",
        Shutdown = "SHUTDOWN",
        Acknowledge = "ACKNOWLEDGE",
        AcknowledgeOperationStatus = "ACKNOWLEDGE_OPERATION_STATUS",
        Reconcile = "RECONCILE",
        ReconcileOperations = "RECONCILE_OPERATIONS",
        Message = "MESSAGE",
        Request = "REQUEST",
        Suppress = "SUPPRESS",
        UpdateFramework = "UPDATE_FRAMEWORK",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `Call.Subscribe`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    /// Deprecated in Mesos; kept for old clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

/// `Call.Accept`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Accept {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offer_ids: Vec<OfferId>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub operations: Vec<OfferOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Decline {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.AcceptInverseOffers` / `Call.DeclineInverseOffers` (maintenance).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InverseOfferAnswer {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inverse_offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Revive` and `Call.Suppress`: empty `roles` means all roles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Roles {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
}

/// `Call.Kill`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Shutdown {
    pub executor_id: ExecutorId,
    pub agent_id: AgentId,
}

/// `Call.Acknowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acknowledge {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub uuid: Bytes,
}

/// `Call.AcknowledgeOperationStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
    pub uuid: Bytes,
    pub operation_id: OperationId,
}

/// `Call.Reconcile.Task`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileTask {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `Call.Reconcile`: empty `tasks` asks for every task the master knows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconcile {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.ReconcileOperations.Operation`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileOperation {
    pub operation_id: OperationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
}

/// `Call.ReconcileOperations`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileOperations {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub operations: Vec<ReconcileOperation>,
}

/// `Call.Message`: framework → executor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    pub data: Bytes,
}

/// `Call.Request` (ignored by the built-in allocator).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requests: Vec<serde_json::Value>,
}

/// `Call.UpdateFramework`: the full new `FrameworkInfo`, not a delta.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

/// `Call`: `{"type": ..., "framework_id": ..., "<payload>": {...}}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type")]
    pub type_: CallType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_inverse_offers: Option<InverseOfferAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_inverse_offers: Option<InverseOfferAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_operation_status: Option<AcknowledgeOperationStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_operations: Option<ReconcileOperations>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_framework: Option<UpdateFramework>,
}

impl Call {
    pub fn new(type_: CallType) -> Self {
        Call {
            type_,
            ..Default::default()
        }
    }

    pub fn with_framework_id(mut self, framework_id: impl Into<FrameworkId>) -> Self {
        self.framework_id = Some(framework_id.into());
        self
    }

    /// SUBSCRIBE; a re-subscribing framework also sets the top-level
    /// `framework_id` to `framework_info.id`, as Mesos requires.
    pub fn subscribe(framework_info: FrameworkInfo) -> Self {
        Call {
            type_: CallType::Subscribe,
            framework_id: framework_info.id.clone(),
            subscribe: Some(Subscribe {
                framework_info,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn teardown(framework_id: FrameworkId) -> Self {
        Call::new(CallType::Teardown).with_framework_id(framework_id)
    }

    pub fn accept(
        framework_id: FrameworkId,
        offer_ids: Vec<OfferId>,
        operations: Vec<OfferOperation>,
        filters: Option<Filters>,
    ) -> Self {
        Call {
            accept: Some(Accept {
                offer_ids,
                operations,
                filters,
            }),
            ..Call::new(CallType::Accept).with_framework_id(framework_id)
        }
    }

    pub fn decline(
        framework_id: FrameworkId,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Self {
        Call {
            decline: Some(Decline { offer_ids, filters }),
            ..Call::new(CallType::Decline).with_framework_id(framework_id)
        }
    }

    pub fn revive(framework_id: FrameworkId, roles: Vec<String>) -> Self {
        Call {
            revive: Some(Roles { roles }),
            ..Call::new(CallType::Revive).with_framework_id(framework_id)
        }
    }

    pub fn suppress(framework_id: FrameworkId, roles: Vec<String>) -> Self {
        Call {
            suppress: Some(Roles { roles }),
            ..Call::new(CallType::Suppress).with_framework_id(framework_id)
        }
    }

    pub fn kill(
        framework_id: FrameworkId,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
    ) -> Self {
        Call {
            kill: Some(Kill {
                task_id,
                agent_id,
                kill_policy,
            }),
            ..Call::new(CallType::Kill).with_framework_id(framework_id)
        }
    }

    pub fn acknowledge(
        framework_id: FrameworkId,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: Bytes,
    ) -> Self {
        Call {
            acknowledge: Some(Acknowledge {
                agent_id,
                task_id,
                uuid,
            }),
            ..Call::new(CallType::Acknowledge).with_framework_id(framework_id)
        }
    }

    pub fn acknowledge_operation_status(
        framework_id: FrameworkId,
        ack: AcknowledgeOperationStatus,
    ) -> Self {
        Call {
            acknowledge_operation_status: Some(ack),
            ..Call::new(CallType::AcknowledgeOperationStatus).with_framework_id(framework_id)
        }
    }

    /// RECONCILE; an empty list asks for every known task (implicit).
    pub fn reconcile(framework_id: FrameworkId, tasks: Vec<ReconcileTask>) -> Self {
        Call {
            reconcile: Some(Reconcile { tasks }),
            ..Call::new(CallType::Reconcile).with_framework_id(framework_id)
        }
    }

    pub fn message(
        framework_id: FrameworkId,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Bytes,
    ) -> Self {
        Call {
            message: Some(Message {
                agent_id,
                executor_id,
                data,
            }),
            ..Call::new(CallType::Message).with_framework_id(framework_id)
        }
    }

    pub fn update_framework(framework_id: FrameworkId, framework_info: FrameworkInfo) -> Self {
        Call {
            update_framework: Some(UpdateFramework {
                framework_info,
                ..Default::default()
            }),
            ..Call::new(CallType::UpdateFramework).with_framework_id(framework_id)
        }
    }

    /// The structural checks the master makes before anything else, and
    /// Mesos' rules for every ID the call carries; the error is the text
    /// body of its 400 reply. An `Unknown` type passes: the master answers
    /// that with 501 Not Implemented instead.
    pub fn validate(&self) -> Result<(), String> {
        let expect = |present: bool, key: &str| {
            if present {
                Ok(())
            } else {
                Err(format!("Expecting '{key}' to be present"))
            }
        };
        if self.type_ == CallType::Subscribe {
            expect(self.subscribe.is_some(), "subscribe")?;
            let info_id = self
                .subscribe
                .as_ref()
                .and_then(|s| s.framework_info.id.as_ref());
            if let (Some(top), Some(info)) = (&self.framework_id, info_id) {
                if top != info {
                    return Err(
                        "'framework_id' differs from 'subscribe.framework_info.id'".to_string()
                    );
                }
            }
            return self.validate_ids();
        }
        if self.type_ == CallType::Unknown {
            return Ok(());
        }
        expect(self.framework_id.is_some(), "framework_id")?;
        self.validate_payload()?;
        self.validate_ids()
    }

    fn validate_payload(&self) -> Result<(), String> {
        let expect = |present: bool, key: &str| {
            if present {
                Ok(())
            } else {
                Err(format!("Expecting '{key}' to be present"))
            }
        };
        match self.type_ {
            CallType::Accept => expect(self.accept.is_some(), "accept"),
            CallType::Decline => expect(self.decline.is_some(), "decline"),
            CallType::AcceptInverseOffers => expect(
                self.accept_inverse_offers.is_some(),
                "accept_inverse_offers",
            ),
            CallType::DeclineInverseOffers => expect(
                self.decline_inverse_offers.is_some(),
                "decline_inverse_offers",
            ),
            CallType::Kill => expect(self.kill.is_some(), "kill"),
            CallType::Shutdown => expect(self.shutdown.is_some(), "shutdown"),
            CallType::Acknowledge => {
                expect(self.acknowledge.is_some(), "acknowledge")?;
                match &self.acknowledge {
                    Some(ack) if ack.uuid.len() != 16 => {
                        Err("'acknowledge.uuid' is not a valid 16-byte UUID".to_string())
                    }
                    _ => Ok(()),
                }
            }
            CallType::AcknowledgeOperationStatus => expect(
                self.acknowledge_operation_status.is_some(),
                "acknowledge_operation_status",
            ),
            CallType::Reconcile => expect(self.reconcile.is_some(), "reconcile"),
            CallType::ReconcileOperations => {
                expect(self.reconcile_operations.is_some(), "reconcile_operations")
            }
            CallType::Message => expect(self.message.is_some(), "message"),
            CallType::Request => expect(self.request.is_some(), "request"),
            CallType::UpdateFramework => {
                expect(self.update_framework.is_some(), "update_framework")
            }
            // No payload, or (REVIVE/SUPPRESS) an optional one meaning "all roles".
            CallType::Teardown
            | CallType::Revive
            | CallType::Suppress
            | CallType::Subscribe
            | CallType::Unknown => Ok(()),
        }
    }

    /// Every ID the call carries follows Mesos' rules for IDs (the master maps framework,
    /// executor and task IDs to directories; the others are checked alike so that a bad one is
    /// refused with its field's name rather than looked up). An empty framework ID is refused
    /// too: Mesos would take it for "no ID", which is a new framework nobody asked for.
    fn validate_ids(&self) -> Result<(), String> {
        use crate::validation::validate_id;
        let check = |field: &str, value: &str| {
            validate_id(value).map_err(|e| format!("'{field}' is not a valid ID: {e}"))
        };
        if let Some(s) = &self.subscribe {
            if let Some(id) = &s.framework_info.id {
                check("subscribe.framework_info.id", &id.value)?;
            }
        }
        if let Some(id) = &self.framework_id {
            check("framework_id", &id.value)?;
        }
        if let Some(u) = &self.update_framework {
            if let Some(id) = &u.framework_info.id {
                check("update_framework.framework_info.id", &id.value)?;
            }
        }
        let offers = [
            (
                "accept.offer_ids",
                self.accept.as_ref().map(|a| &a.offer_ids),
            ),
            (
                "decline.offer_ids",
                self.decline.as_ref().map(|d| &d.offer_ids),
            ),
            (
                "accept_inverse_offers.inverse_offer_ids",
                self.accept_inverse_offers
                    .as_ref()
                    .map(|a| &a.inverse_offer_ids),
            ),
            (
                "decline_inverse_offers.inverse_offer_ids",
                self.decline_inverse_offers
                    .as_ref()
                    .map(|d| &d.inverse_offer_ids),
            ),
        ];
        for (field, ids) in offers {
            for id in ids.into_iter().flatten() {
                check(field, &id.value)?;
            }
        }
        if let Some(k) = &self.kill {
            check("kill.task_id", &k.task_id.value)?;
            if let Some(a) = &k.agent_id {
                check("kill.agent_id", &a.value)?;
            }
        }
        if let Some(s) = &self.shutdown {
            check("shutdown.executor_id", &s.executor_id.value)?;
            check("shutdown.agent_id", &s.agent_id.value)?;
        }
        if let Some(a) = &self.acknowledge {
            check("acknowledge.agent_id", &a.agent_id.value)?;
            check("acknowledge.task_id", &a.task_id.value)?;
        }
        if let Some(a) = &self.acknowledge_operation_status {
            if let Some(agent) = &a.agent_id {
                check("acknowledge_operation_status.agent_id", &agent.value)?;
            }
            check(
                "acknowledge_operation_status.operation_id",
                &a.operation_id.value,
            )?;
        }
        if let Some(r) = &self.reconcile {
            for t in &r.tasks {
                check("reconcile.tasks.task_id", &t.task_id.value)?;
                if let Some(a) = &t.agent_id {
                    check("reconcile.tasks.agent_id", &a.value)?;
                }
            }
        }
        if let Some(r) = &self.reconcile_operations {
            for o in &r.operations {
                check(
                    "reconcile_operations.operations.operation_id",
                    &o.operation_id.value,
                )?;
                if let Some(a) = &o.agent_id {
                    check("reconcile_operations.operations.agent_id", &a.value)?;
                }
            }
        }
        if let Some(m) = &self.message {
            check("message.agent_id", &m.agent_id.value)?;
            check("message.executor_id", &m.executor_id.value)?;
        }
        Ok(())
    }
}

wire_enum! {
    /// `Event.Type`.
    pub enum EventType {
        Subscribed = "SUBSCRIBED",
        Offers = "OFFERS",
        InverseOffers = "INVERSE_OFFERS",
        Rescind = "RESCIND",
        RescindInverseOffer = "RESCIND_INVERSE_OFFER",
        Update = "UPDATE",
        UpdateOperationStatus = "UPDATE_OPERATION_STATUS",
        Message = "MESSAGE",
        Failure = "FAILURE",
        Error = "ERROR",
        Heartbeat = "HEARTBEAT",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkId,
    /// Mesos default 15 s.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

impl Subscribed {
    pub const DEFAULT_HEARTBEAT_INTERVAL_SECONDS: f64 = 15.0;

    pub fn heartbeat_interval(&self) -> f64 {
        self.heartbeat_interval_seconds
            .unwrap_or(Self::DEFAULT_HEARTBEAT_INTERVAL_SECONDS)
    }
}

/// `Event.Offers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offers {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offers: Vec<Offer>,
}

/// `Event.InverseOffers` (maintenance; passed through).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InverseOffers {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inverse_offers: Vec<serde_json::Value>,
}

/// `Event.Rescind`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferId,
}

/// `Event.RescindInverseOffer`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    pub inverse_offer_id: OfferId,
}

/// `Event.Update`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `Event.UpdateOperationStatus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateOperationStatus {
    pub status: OperationStatus,
}

/// `Event.Failure`: an executor exited (with `executor_id`) or an agent was
/// lost (without).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Exit status as `waitpid` reports it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::num::opt"
    )]
    pub status: Option<i32>,
}

/// `Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Error {
    pub message: String,
}

/// `Event`: one record of the SUBSCRIBE stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub type_: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<Offers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverse_offers: Option<InverseOffers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind: Option<Rescind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind_inverse_offer: Option<RescindInverseOffer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_operation_status: Option<UpdateOperationStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

impl Event {
    pub fn heartbeat() -> Self {
        Event {
            type_: EventType::Heartbeat,
            ..Default::default()
        }
    }

    pub fn subscribed(
        framework_id: FrameworkId,
        heartbeat_interval_seconds: f64,
        master_info: Option<MasterInfo>,
    ) -> Self {
        Event {
            type_: EventType::Subscribed,
            subscribed: Some(Subscribed {
                framework_id,
                heartbeat_interval_seconds: Some(heartbeat_interval_seconds),
                master_info,
            }),
            ..Default::default()
        }
    }

    pub fn offers(offers: Vec<Offer>) -> Self {
        Event {
            type_: EventType::Offers,
            offers: Some(Offers { offers }),
            ..Default::default()
        }
    }

    pub fn rescind(offer_id: OfferId) -> Self {
        Event {
            type_: EventType::Rescind,
            rescind: Some(Rescind { offer_id }),
            ..Default::default()
        }
    }

    pub fn update(status: TaskStatus) -> Self {
        Event {
            type_: EventType::Update,
            update: Some(Update { status }),
            ..Default::default()
        }
    }

    pub fn update_operation_status(status: OperationStatus) -> Self {
        Event {
            type_: EventType::UpdateOperationStatus,
            update_operation_status: Some(UpdateOperationStatus { status }),
            ..Default::default()
        }
    }

    pub fn message(agent_id: AgentId, executor_id: ExecutorId, data: Bytes) -> Self {
        Event {
            type_: EventType::Message,
            message: Some(Message {
                agent_id,
                executor_id,
                data,
            }),
            ..Default::default()
        }
    }

    pub fn failure(
        agent_id: Option<AgentId>,
        executor_id: Option<ExecutorId>,
        status: Option<i32>,
    ) -> Self {
        Event {
            type_: EventType::Failure,
            failure: Some(Failure {
                agent_id,
                executor_id,
                status,
            }),
            ..Default::default()
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Event {
            type_: EventType::Error,
            error: Some(Error {
                message: message.into(),
            }),
            ..Default::default()
        }
    }
}
