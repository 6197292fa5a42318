//! What happens to a task that stopped: relaunch it where it was, replace it elsewhere, or
//! leave it.
//!
//! Failed pods are recovered by a `recovery` plan of their own, derived from the state like
//! the deploy plan ([`plan`]). Which tasks count as failed, and what becomes of them, is one
//! decision per task ([`crate::decide`]), which the deploy plan renders too. A transient failure relaunches the pod in place (the same agent, the same
//! reservations and volumes), with a crash-loop [`backoff`]; a pod that stays failed longer
//! than the [`ReplacementPolicy`] allows, whose agent the operator marked gone, or that an
//! operator `replace`s, is replaced elsewhere with fresh reservations, and its old ones are
//! reclaimed when offered again ([`state`]). The [`RecoveryPolicy`] trait is the seam an author
//! plugs into.

pub mod backoff;
pub mod plan;
pub mod state;

use std::time::Duration;

pub use backoff::{Backoff, BackoffPolicy};
pub use plan::Category;
pub use state::{ReclaimEntry, RecoveryState};

use cairn_proto::TaskStatus;

/// What to do with a task that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// What to do with task `task_name` of the target config, stopped short of its goal with
    /// the last status `status` (a RUNNING task that exited, a FINISH or ONCE task that failed).
    fn recover(&self, task_name: &str, status: &TaskStatus) -> Recovery;
    /// How long a pod may stay failed before it is replaced; `None`: never automatically.
    /// Kept for compatibility; the scheduler reads [`RecoveryPolicy::replacement`], whose
    /// default uses this value only when it is `Some`.
    fn permanent_failure_timeout(&self) -> Option<Duration> {
        None
    }

    /// The replacement policy in force, given the one configured in `SchedulerConfig`. The
    /// default keeps the configured one (with this policy's `permanent_failure_timeout` when
    /// it sets one).
    fn replacement(&self, configured: &ReplacementPolicy) -> ReplacementPolicy {
        ReplacementPolicy {
            permanent_failure_timeout: self
                .permanent_failure_timeout()
                .or(configured.permanent_failure_timeout),
            ..*configured
        }
    }
}

/// When a failed pod is given up on and replaced elsewhere (losing its volumes' data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplacementPolicy {
    /// How long a pod may stay failed (not back to running and ready) before it is replaced;
    /// `None` turns automatic replacement off (an operator `replace` still works). Default 20
    /// minutes: dcos-commons' builder default; long enough for an agent reboot or a short
    /// partition, short enough that a dead machine does not leave a replica missing for hours.
    pub permanent_failure_timeout: Option<Duration>,
    /// The least time between two automatic destructive replacements, so that a fault hitting
    /// many agents at once (a rack, a bad network change) does not wipe many replicas' data in
    /// one go. Default 10 minutes (what dcos-commons' comment says, its code never read it).
    /// Operator `replace`s are not held by it, but count as replacements.
    pub min_replace_delay: Duration,
}

impl Default for ReplacementPolicy {
    fn default() -> Self {
        Self {
            permanent_failure_timeout: Some(Duration::from_secs(20 * 60)),
            min_replace_delay: Duration::from_secs(10 * 60),
        }
    }
}

impl ReplacementPolicy {
    /// When a pod failing since `since` is due for replacement (`None`: never).
    pub fn due(&self, since: crate::time::Time) -> Option<crate::time::Time> {
        self.permanent_failure_timeout.map(|t| since.plus(t))
    }

    /// The earliest time an automatic replacement may happen, after the last one at `last`.
    pub fn next_allowed(&self, last: Option<crate::time::Time>) -> Option<crate::time::Time> {
        last.map(|l| l.plus(self.min_replace_delay))
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
    use crate::time::Time;

    #[test]
    fn the_replacement_policy_defaults_to_twenty_minutes_and_ten_between_replacements() {
        let p = ReplacementPolicy::default();
        let t = Time::from_millis(1_000);
        assert_eq!(p.due(t), Some(t.plus(Duration::from_secs(1200))));
        assert_eq!(p.next_allowed(None), None, "no replacement yet: no wait");
        assert_eq!(
            p.next_allowed(Some(t)),
            Some(t.plus(Duration::from_secs(600)))
        );
        let off = ReplacementPolicy {
            permanent_failure_timeout: None,
            ..p
        };
        assert_eq!(off.due(t), None, "None turns automatic replacement off");
    }

    #[test]
    fn a_policy_s_own_timeout_overrides_the_configured_one() {
        struct Fast;
        impl RecoveryPolicy for Fast {
            fn recover(&self, _: &str, _: &TaskStatus) -> Recovery {
                Recovery::RelaunchInPlace
            }
            fn permanent_failure_timeout(&self) -> Option<Duration> {
                Some(Duration::from_secs(60))
            }
        }
        let configured = ReplacementPolicy::default();
        assert_eq!(InPlaceRecovery.replacement(&configured), configured);
        assert_eq!(
            Fast.replacement(&configured).permanent_failure_timeout,
            Some(Duration::from_secs(60))
        );
    }
}
