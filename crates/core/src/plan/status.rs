//! Plan, phase and step statuses as the terminal, the HTTP API and tests see them.

use serde::{Deserialize, Serialize};

/// The status of a step, phase or plan. Always derived from the state, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Something went wrong that retrying will not fix (e.g. TASK_ERROR: a bad task).
    Error,
    /// Held: interrupted, or a canary waiting for an operator `continue`.
    Waiting,
    /// Not started, and not yet released by its strategy.
    Pending,
    /// Released: its requirement is out (kills sent, waiting for an offer).
    Prepared,
    /// Operations sent; the tasks are staging or starting.
    Starting,
    /// Running, but a readiness check has not passed yet.
    Started,
    /// Held by a backoff (issue 5).
    Delayed,
    /// Some children are done and some not (phases and plans only).
    InProgress,
    /// Done.
    Complete,
}

impl Status {
    /// The status of a parent from its children's: ERROR wins, then all-equal statuses carry
    /// over, COMPLETE needs every child complete, untouched children leave it PENDING (or
    /// WAITING when any is held), anything else is IN_PROGRESS.
    pub fn aggregate(children: impl IntoIterator<Item = Status>) -> Status {
        let all: Vec<Status> = children.into_iter().collect();
        if all.contains(&Status::Error) {
            return Status::Error;
        }
        if all.iter().all(|s| *s == Status::Complete) {
            return Status::Complete;
        }
        let untouched = |s: &Status| matches!(s, Status::Pending | Status::Waiting);
        if all.iter().all(untouched) {
            return if all.contains(&Status::Waiting) {
                Status::Waiting
            } else {
                Status::Pending
            };
        }
        Status::InProgress
    }

    /// The SCREAMING_CASE name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Error => "ERROR",
            Status::Waiting => "WAITING",
            Status::Pending => "PENDING",
            Status::Prepared => "PREPARED",
            Status::Starting => "STARTING",
            Status::Started => "STARTED",
            Status::Delayed => "DELAYED",
            Status::InProgress => "IN_PROGRESS",
            Status::Complete => "COMPLETE",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plan with derived statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStatus {
    /// `deploy`, ...
    pub name: String,
    /// Derived from the phases.
    pub status: Status,
    /// Across phases: `serial` or `parallel`.
    pub strategy: String,
    /// Phases in order.
    pub phases: Vec<PhaseStatus>,
    /// Problems that keep the plan from progressing.
    pub errors: Vec<String>,
    /// For a started plan beyond deploy and update: the parameters of its start.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub parameters: std::collections::BTreeMap<String, String>,
    /// An operator interrupted the plan, or one of its phases: no new step starts there
    /// until a `continue`.
    #[serde(default)]
    pub interrupted: bool,
}

/// A phase with derived statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStatus {
    /// Phase name (the pod type for a default deploy plan).
    pub name: String,
    /// Derived from the steps (WAITING when held by its strategy or an interrupt).
    pub status: Status,
    /// Across steps: `serial`, `parallel`, `serial-canary`, `parallel-canary`.
    pub strategy: String,
    /// Steps in order.
    pub steps: Vec<StepStatus>,
}

/// A step with its derived status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStatus {
    /// `<pod-instance>:[<task>,...]`, e.g. `data-2:[node]`.
    pub name: String,
    /// Derived from the step's tasks and its strategy.
    pub status: Status,
    /// Why it has this status, in words (`waiting for an offer`, `data-2-node is TASK_RUNNING,
    /// readiness not passed`).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_complete_only_when_every_child_is_and_error_wins() {
        // Goal: aggregation rules. Method: one case per rule.
        use Status::*;
        assert_eq!(Status::aggregate([Complete, Complete]), Complete);
        assert_eq!(Status::aggregate([Complete, Pending]), InProgress);
        assert_eq!(Status::aggregate([Pending, Pending]), Pending);
        assert_eq!(Status::aggregate([Pending, Waiting]), Waiting);
        assert_eq!(Status::aggregate([Starting, Error]), Error);
        assert_eq!(Status::aggregate([]), Complete);
        assert_eq!(
            serde_json::to_string(&InProgress).unwrap(),
            "\"IN_PROGRESS\""
        );
    }
}
