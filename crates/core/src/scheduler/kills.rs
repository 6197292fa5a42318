//! Kills the scheduler wants to see through: re-sent every few seconds until the task is
//! heard to be terminal (a KILL can be lost, e.g. while the agent is partitioned).

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_proto::{AgentId, TaskId};

use crate::time::Time;

/// How often an unanswered kill is re-sent (dcos-commons' TaskKiller: 5 s).
pub const KILL_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub(crate) struct Kills {
    /// Task id → (agent, next retry).
    pending: BTreeMap<String, (AgentId, Time)>,
}

impl Kills {
    /// Wants `task` dead; true when this is news (a KILL should go out now).
    pub fn request(&mut self, now: Time, task: &TaskId, agent: &AgentId) -> bool {
        if self.pending.contains_key(&task.value) {
            return false;
        }
        self.pending
            .insert(task.value.clone(), (agent.clone(), now.plus(KILL_RETRY)));
        true
    }

    /// Whether a kill of `task` is outstanding (its end was asked for, not a failure).
    pub fn contains(&self, task: &str) -> bool {
        self.pending.contains_key(task)
    }

    /// The task is terminal (or gone from our records).
    pub fn forget(&mut self, task: &str) {
        self.pending.remove(task);
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.pending.values().map(|(_, t)| *t).min()
    }

    /// Kills to re-send now.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<(TaskId, AgentId)> {
        let mut due = Vec::new();
        for (task, (agent, next)) in self.pending.iter_mut() {
            if *next <= now {
                *next = now.plus(KILL_RETRY);
                due.push((TaskId::new(task.clone()), agent.clone()));
            }
        }
        due
    }
}
