//! Wrapped IDs. Mesos writes every ID as an object `{"value": "..."}` rather
//! than a bare string; keeping distinct types stops a task ID from being
//! passed where an agent ID is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

wire_id!(
    /// Assigned by the master on first SUBSCRIBE (`<master-uuid>-<NNNN>`).
    FrameworkId
);
wire_id!(
    /// Assigned by the master per offer (`<master-uuid>-O<n>`).
    OfferId
);
wire_id!(
    /// Assigned by the master per agent registration (`<master-uuid>-S<n>`).
    AgentId
);
wire_id!(
    /// Chosen by the framework; unique within the framework.
    TaskId
);
wire_id!(
    /// Chosen by the framework; unique within the framework on one agent.
    ExecutorId
);
wire_id!(
    /// Chosen by the framework for an offer operation that wants feedback.
    OperationId
);
wire_id!(
    /// Identifies a local resource provider on an agent.
    ResourceProviderId
);

/// A container ID. Nested containers (tasks of a task group under the default
/// executor) name their parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct ContainerId {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ContainerId>>,
}

impl ContainerId {
    pub fn new(value: impl Into<String>) -> Self {
        ContainerId {
            value: value.into(),
            parent: None,
        }
    }

    /// A nested container under `parent`.
    pub fn nested(parent: ContainerId, value: impl Into<String>) -> Self {
        ContainerId {
            value: value.into(),
            parent: Some(Box::new(parent)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ContainerId {
    /// Written as Mesos prints nested IDs: `parent.child`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = &self.parent {
            write!(f, "{parent}.")?;
        }
        f.write_str(&self.value)
    }
}

impl From<&str> for ContainerId {
    fn from(value: &str) -> Self {
        ContainerId::new(value)
    }
}

impl From<String> for ContainerId {
    fn from(value: String) -> Self {
        ContainerId::new(value)
    }
}
