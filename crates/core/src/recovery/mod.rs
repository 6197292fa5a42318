//! What happens to a task that stopped: relaunch it where it was, replace it elsewhere, or
//! leave it.
//!
//! Issue 4 ships the classification of task states and the default policy, "relaunch in place"
//! (the same agent, the same reservations and volumes), applied by the deploy plan. Issue 5
//! moves failed pods into a recovery plan of their own, adds permanent-failure timers and
//! replacement; the [`RecoveryPolicy`] trait is the seam it plugs into.

use std::time::Duration;

use cairn_proto::{TaskState, TaskStatus};

/// Where a task stands, from its last status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskCondition {
    /// Launched (no status yet), staging, starting, running, being killed, or unreachable (it
    /// may come back; a partition-aware framework does not give up on it yet).
    Active,
    /// Exited 0 (TASK_FINISHED).
    Finished,
    /// Stopped and may run again if relaunched (FAILED, KILLED, LOST, DROPPED, GONE, ...).
    Failed,
    /// Refused by Mesos as malformed (TASK_ERROR): relaunching the same TaskInfo fails again.
    Errored,
}

impl TaskCondition {
    /// The condition of a task whose last persisted status is `status` (none: just launched).
    pub fn of(status: Option<&TaskStatus>) -> TaskCondition {
        let Some(status) = status else {
            return TaskCondition::Active;
        };
        match status.state {
            TaskState::Finished => TaskCondition::Finished,
            TaskState::Error => TaskCondition::Errored,
            TaskState::Unreachable | TaskState::Unknown => TaskCondition::Active,
            s if s.is_terminal() => TaskCondition::Failed,
            _ => TaskCondition::Active,
        }
    }

    /// Whether the task may still be running somewhere.
    pub fn is_active(self) -> bool {
        self == TaskCondition::Active
    }
}

/// What to do with a task that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Relaunch on the same agent, reusing the pod's reservations and volumes.
    RelaunchInPlace,
    /// Give up on the agent: relaunch elsewhere with fresh reservations (issue 5).
    Replace,
    /// Leave it stopped for now (e.g. wait for an operator).
    Leave,
}

/// Decides how failed tasks are recovered. An author may replace it (DESIGN.md principle 5).
pub trait RecoveryPolicy: Send {
    /// What to do with task `task_name`, whose last status is the failure `status`.
    fn recover(&self, task_name: &str, status: &TaskStatus) -> Recovery;
    /// How long a pod may stay failed before it is replaced; `None`: never automatically.
    /// (Read by issue 5's failure timers.)
    fn permanent_failure_timeout(&self) -> Option<Duration> {
        None
    }
}

/// The built-in policy: every failure is transient; relaunch in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct InPlaceRecovery;

impl RecoveryPolicy for InPlaceRecovery {
    fn recover(&self, _task_name: &str, _status: &TaskStatus) -> Recovery {
        Recovery::RelaunchInPlace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_follow_the_last_state() {
        // Goal: one condition per state. Method: a table.
        let c = |s| TaskCondition::of(Some(&TaskStatus::new("t", s)));
        assert_eq!(TaskCondition::of(None), TaskCondition::Active);
        assert_eq!(c(TaskState::Running), TaskCondition::Active);
        assert_eq!(c(TaskState::Killing), TaskCondition::Active);
        assert_eq!(c(TaskState::Unreachable), TaskCondition::Active);
        assert_eq!(c(TaskState::Finished), TaskCondition::Finished);
        assert_eq!(c(TaskState::Error), TaskCondition::Errored);
        assert_eq!(c(TaskState::Failed), TaskCondition::Failed);
        assert_eq!(c(TaskState::Lost), TaskCondition::Failed);
        assert_eq!(c(TaskState::GoneByOperator), TaskCondition::Failed);
    }
}
