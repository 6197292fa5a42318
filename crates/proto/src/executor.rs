//! The v1 executor API (`mesos/v1/executor/executor.proto`): the `Call` an
//! executor POSTs to its agent's `/api/v1/executor` and the `Event`s the
//! agent streams back.

use crate::common::{null_as_default, Bytes};
use crate::ids::{ContainerId, ExecutorId, FrameworkId, TaskId};
use crate::messages::{
    AgentInfo, ExecutorInfo, FrameworkInfo, KillPolicy, Source, TaskGroupInfo, TaskInfo, TaskState,
    TaskStatus,
};
use serde::{Deserialize, Serialize};

/// What cairn's executor puts between a failed task's own words (`Command exited with status
/// 3`) and the last lines of its stderr, in the TASK_FAILED status's message. Not Mesos': the
/// scheduler reads the lines back by it, so the writer and the reader share this one spelling.
pub const FAILURE_STDERR_SEPARATOR: &str = "; stderr ends: ";

wire_enum! {
    /// `executor.Call.Type`.
    pub enum CallType {
        Subscribe = "SUBSCRIBE",
        Update = "UPDATE",
        Message = "MESSAGE",
        Heartbeat = "HEARTBEAT",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `executor.Call.Update`: a status update the agent must deliver reliably.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `executor.Call.Subscribe`: on re-subscription (agent restart) the
/// executor lists what the agent may not have seen yet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unacknowledged_updates: Vec<Update>,
}

/// `executor.Call.Message` / `executor.Event.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    pub data: Bytes,
}

/// `executor.Call`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type")]
    pub type_: CallType,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

impl Call {
    pub fn new(type_: CallType, framework_id: FrameworkId, executor_id: ExecutorId) -> Self {
        Call {
            type_,
            framework_id,
            executor_id,
            ..Default::default()
        }
    }

    pub fn subscribe(
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        subscribe: Subscribe,
    ) -> Self {
        Call {
            subscribe: Some(subscribe),
            ..Call::new(CallType::Subscribe, framework_id, executor_id)
        }
    }

    pub fn update(framework_id: FrameworkId, executor_id: ExecutorId, status: TaskStatus) -> Self {
        Call {
            update: Some(Update { status }),
            ..Call::new(CallType::Update, framework_id, executor_id)
        }
    }

    pub fn message(framework_id: FrameworkId, executor_id: ExecutorId, data: Bytes) -> Self {
        Call {
            message: Some(Message { data }),
            ..Call::new(CallType::Message, framework_id, executor_id)
        }
    }

    pub fn heartbeat(framework_id: FrameworkId, executor_id: ExecutorId) -> Self {
        Call::new(CallType::Heartbeat, framework_id, executor_id)
    }

    /// The checks an agent makes before accepting the call, Mesos' rules for
    /// its IDs among them; the error is the text of its 400 reply. An UPDATE must be reliable (a 16-byte `uuid`),
    /// come from the executor (`source: SOURCE_EXECUTOR`), not be
    /// TASK_STAGING, and name this executor if it names one.
    pub fn validate(&self) -> Result<(), String> {
        let expect = |present: bool, key: &str| {
            if present {
                Ok(())
            } else {
                Err(format!("Expecting '{key}' to be present"))
            }
        };
        self.validate_ids()?;
        match self.type_ {
            CallType::Subscribe => expect(self.subscribe.is_some(), "subscribe"),
            CallType::Update => {
                let Some(update) = &self.update else {
                    return Err("Expecting 'update' to be present".to_string());
                };
                self.validate_update(&update.status)
            }
            CallType::Message => expect(self.message.is_some(), "message"),
            CallType::Heartbeat | CallType::Unknown => Ok(()),
        }
    }
}

impl Call {
    /// Mesos' rules for IDs, for every ID the call carries: the agent finds its executor and
    /// that executor's tasks by them.
    fn validate_ids(&self) -> Result<(), String> {
        use crate::validation::validate_id;
        let check = |field: &str, value: &str| {
            validate_id(value).map_err(|e| format!("'{field}' is not a valid ID: {e}"))
        };
        check("framework_id", &self.framework_id.value)?;
        check("executor_id", &self.executor_id.value)?;
        if let Some(u) = &self.update {
            check("update.status.task_id", &u.status.task_id.value)?;
        }
        if let Some(s) = &self.subscribe {
            for t in &s.unacknowledged_tasks {
                check("subscribe.unacknowledged_tasks.task_id", &t.task_id.value)?;
            }
            for u in &s.unacknowledged_updates {
                check(
                    "subscribe.unacknowledged_updates.status.task_id",
                    &u.status.task_id.value,
                )?;
            }
        }
        Ok(())
    }

    fn validate_update(&self, status: &TaskStatus) -> Result<(), String> {
        match &status.uuid {
            None => return Err("Expecting 'uuid' to be present".to_string()),
            Some(uuid) if uuid.len() != 16 => {
                return Err("'uuid' is not a valid 16-byte UUID".to_string())
            }
            Some(_) => {}
        }
        if status.source != Some(Source::Executor) {
            return Err(format!(
                "Received an update from executor {} with an invalid source, expecting 'SOURCE_EXECUTOR'",
                self.executor_id
            ));
        }
        if status.state == TaskState::Staging {
            return Err(format!(
                "Received TASK_STAGING from executor {}, which is not allowed",
                self.executor_id
            ));
        }
        if let Some(id) = status
            .executor_id
            .as_ref()
            .filter(|id| **id != self.executor_id)
        {
            return Err(format!(
                "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {id}",
                self.executor_id
            ));
        }
        Ok(())
    }
}

wire_enum! {
    /// `executor.Event.Type`.
    pub enum EventType {
        Subscribed = "SUBSCRIBED",
        Launch = "LAUNCH",
        LaunchGroup = "LAUNCH_GROUP",
        Kill = "KILL",
        Acknowledged = "ACKNOWLEDGED",
        Message = "MESSAGE",
        Error = "ERROR",
        Shutdown = "SHUTDOWN",
        Heartbeat = "HEARTBEAT",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `executor.Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribed {
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
}

/// `executor.Event.Launch`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Launch {
    pub task: TaskInfo,
}

/// `executor.Event.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub task_group: TaskGroupInfo,
}

/// `executor.Event.Kill`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `executor.Event.Acknowledged`: the scheduler acknowledged an update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acknowledged {
    pub task_id: TaskId,
    pub uuid: Bytes,
}

/// `executor.Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Error {
    pub message: String,
}

/// `executor.Event`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub type_: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledged>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

impl Event {
    fn of(type_: EventType) -> Self {
        Event {
            type_,
            ..Default::default()
        }
    }

    pub fn subscribed(
        executor_info: ExecutorInfo,
        framework_info: FrameworkInfo,
        agent_info: AgentInfo,
        container_id: ContainerId,
    ) -> Self {
        Event {
            subscribed: Some(Subscribed {
                executor_info,
                framework_info,
                agent_info,
                container_id: Some(container_id),
            }),
            ..Event::of(EventType::Subscribed)
        }
    }

    pub fn launch(task: TaskInfo) -> Self {
        Event {
            launch: Some(Launch { task }),
            ..Event::of(EventType::Launch)
        }
    }

    pub fn launch_group(task_group: TaskGroupInfo) -> Self {
        Event {
            launch_group: Some(LaunchGroup { task_group }),
            ..Event::of(EventType::LaunchGroup)
        }
    }

    pub fn kill(task_id: TaskId, kill_policy: Option<KillPolicy>) -> Self {
        Event {
            kill: Some(Kill {
                task_id,
                kill_policy,
            }),
            ..Event::of(EventType::Kill)
        }
    }

    pub fn acknowledged(task_id: TaskId, uuid: Bytes) -> Self {
        Event {
            acknowledged: Some(Acknowledged { task_id, uuid }),
            ..Event::of(EventType::Acknowledged)
        }
    }

    pub fn message(data: Bytes) -> Self {
        Event {
            message: Some(Message { data }),
            ..Event::of(EventType::Message)
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Event {
            error: Some(Error {
                message: message.into(),
            }),
            ..Event::of(EventType::Error)
        }
    }

    pub fn shutdown() -> Self {
        Event::of(EventType::Shutdown)
    }

    pub fn heartbeat() -> Self {
        Event::of(EventType::Heartbeat)
    }
}
