//! Task reconciliation: learning from the master what became of the tasks we know.
//!
//! After every SUBSCRIBED, every task we know to be non-terminal is reconciled explicitly;
//! those the master has not answered for are asked again with a truncated exponential backoff
//! (4 s, ×2, at most 30 s, as dcos-commons) until all have answered. Then an implicit
//! reconciliation (an empty list: "tell me every task of mine") runs periodically, to find
//! tasks we do not know, which are then killed.
//!
//! The first implicit run waits a whole period rather than starting at once: thanks to
//! persist-before-act every task the master can know was written to the store first, so a task
//! unknown to us needs a lost or replaced store, which is rare; the explicit pass covers the
//! rest.
//!
//! Offers are declined until the explicit pass is answered, so no launch can duplicate a task
//! the master still runs; a task persisted but never launched (the scheduler died between the
//! Persist and the ACCEPT) is answered TASK_LOST by the master and then goes through recovery
//! like any failure (see `crate::recovery`).

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_proto::scheduler::ReconcileTask;
use cairn_proto::{AgentId, TaskId};

use crate::time::Time;

/// First retry delay of explicit reconciliation.
pub const BACKOFF_BASE: Duration = Duration::from_secs(4);
/// Longest retry delay of explicit reconciliation.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Period of implicit reconciliation.
pub const IMPLICIT_PERIOD: Duration = Duration::from_secs(15 * 60);

/// A RECONCILE the scheduler should send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconcile {
    /// Ask about these tasks.
    Explicit(Vec<ReconcileTask>),
    /// Ask about every task (an empty list).
    Implicit,
}

/// The reconciliation state machine. Inputs: `start` (subscribed), `heard` (any status),
/// `handle_timeout`, `stop` (disconnected). Output: [`Reconcile`]s to send.
#[derive(Debug, Clone, Default)]
pub struct Reconciler {
    /// Tasks not yet answered for: task id → agent id.
    pending: BTreeMap<String, Option<AgentId>>,
    backoff: Duration,
    next_explicit: Option<Time>,
    next_implicit: Option<Time>,
    running: bool,
}

impl Reconciler {
    /// Starts a reconciliation of `tasks` (id, agent); returns the first explicit RECONCILE,
    /// or nothing when there is nothing to ask about.
    pub fn start(
        &mut self,
        now: Time,
        tasks: impl IntoIterator<Item = (TaskId, Option<AgentId>)>,
    ) -> Option<Reconcile> {
        self.pending = tasks.into_iter().map(|(t, a)| (t.value, a)).collect();
        self.running = true;
        self.backoff = BACKOFF_BASE;
        if self.pending.is_empty() {
            self.finish_explicit(now);
            return None;
        }
        self.next_explicit = Some(now.plus(self.backoff));
        self.next_implicit = None;
        Some(self.explicit())
    }

    /// A status arrived for `task_id`: it has been answered for.
    pub fn heard(&mut self, now: Time, task_id: &str) {
        if self.pending.remove(task_id).is_some() && self.pending.is_empty() {
            self.finish_explicit(now);
        }
    }

    /// Whether the explicit pass is over (offers may be used: we know what runs).
    pub fn is_settled(&self) -> bool {
        self.running && self.pending.is_empty()
    }

    /// Whether it is running at all (between SUBSCRIBED and a disconnection).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The subscription is gone: nothing to send until the next `start`.
    pub fn stop(&mut self) {
        *self = Reconciler::default();
    }

    /// The next time `handle_timeout` has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        if !self.running {
            return None;
        }
        self.next_explicit.or(self.next_implicit)
    }

    /// Retries the explicit pass or runs the periodic implicit one, when due.
    pub fn handle_timeout(&mut self, now: Time) -> Option<Reconcile> {
        if !self.running {
            return None;
        }
        if let Some(due) = self.next_explicit {
            if now < due {
                return None;
            }
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            self.next_explicit = Some(now.plus(self.backoff));
            return Some(self.explicit());
        }
        match self.next_implicit {
            Some(due) if now >= due => {
                self.next_implicit = Some(now.plus(IMPLICIT_PERIOD));
                Some(Reconcile::Implicit)
            }
            _ => None,
        }
    }

    fn explicit(&self) -> Reconcile {
        Reconcile::Explicit(
            self.pending
                .iter()
                .map(|(t, a)| ReconcileTask {
                    task_id: TaskId::new(t.clone()),
                    agent_id: a.clone(),
                })
                .collect(),
        )
    }

    fn finish_explicit(&mut self, now: Time) {
        self.next_explicit = None;
        self.next_implicit = Some(now.plus(IMPLICIT_PERIOD));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Time {
        Time::from_millis(s * 1000)
    }

    #[test]
    fn unanswered_tasks_are_asked_again_with_a_capped_backoff() {
        // Goal: 4, 8, 16, 30, 30 s between retries. Method: never answer, step the clock.
        let mut r = Reconciler::default();
        let first = r.start(
            secs(0),
            [(TaskId::new("a"), None), (TaskId::new("b"), None)],
        );
        assert!(matches!(first, Some(Reconcile::Explicit(t)) if t.len() == 2));
        let mut at = Vec::new();
        let mut now = secs(0);
        for _ in 0..5 {
            now = r.poll_timeout().unwrap();
            assert!(r.handle_timeout(now).is_some());
            at.push(now.as_millis() / 1000);
        }
        assert_eq!(at, vec![4, 12, 28, 58, 88]);
        r.heard(now, "a");
        let Some(Reconcile::Explicit(rest)) = r.handle_timeout(secs(1000)) else {
            panic!("expected a retry");
        };
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].task_id.value, "b");
        assert!(!r.is_settled());
        r.heard(secs(1000), "b");
        assert!(r.is_settled());
    }

    #[test]
    fn once_all_answered_an_implicit_reconcile_runs_every_period() {
        // Goal: the periodic implicit pass. Method: settle at once, step the clock.
        let mut r = Reconciler::default();
        assert_eq!(r.start(secs(10), []), None);
        assert!(r.is_settled());
        let due = r.poll_timeout().unwrap();
        assert_eq!(due, secs(10).plus(IMPLICIT_PERIOD));
        assert_eq!(r.handle_timeout(secs(11)), None);
        assert_eq!(r.handle_timeout(due), Some(Reconcile::Implicit));
        assert_eq!(r.poll_timeout(), Some(due.plus(IMPLICIT_PERIOD)));
        r.stop();
        assert_eq!(r.poll_timeout(), None);
    }
}
