//! What becomes of each task now: one pure decision from typed facts.
//!
//! Every reader of a stored task used to judge it on its own: the deploy plan (launch it? is
//! it done?), recovery (failed? for good?), the failure timers (is the pod healthy?). Each
//! seam between those readings was a bug the simulator found: a task one reader left to the
//! other, which left it back. Here the stored task and what the scheduler knows around it
//! (the target config, the master's list of agents, replacement marks, the author's recovery
//! policy) are read once into [`TaskFacts`], and [`decide`] returns the one [`Decision`] that
//! every plan renders: the deploy (or update) plan launches what is `Launch`, recovery
//! relaunches what is `Relaunch`, the failure timer runs while a decision says so
//! ([`Decision::runs_failure_timer`]).
//!
//! The rules are in DESIGN.md ("What becomes of a task") as a table, row by row; a unit test
//! reads that table and checks every row against [`decide`], so the two cannot drift.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::{Reason, TaskState, TaskStatus};

use crate::labels::launched_under;
use crate::recovery::state::ReplaceReason;
use crate::recovery::{Recovery, RecoveryPolicy};
use crate::spec::{Goal, PodInstanceName, TaskSpec};
use crate::store::{ConfigId, TaskRecord};

#[cfg(test)]
mod tests;

/// Where a task stands, from its last persisted status (and its readiness check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Not stored: never launched, or its pod was replaced.
    Absent,
    /// Launched, not heard from yet.
    Launched,
    /// STAGING, STARTING or KILLING: on its way up or down.
    Starting,
    /// RUNNING, readiness check not passed yet.
    Running,
    /// RUNNING and ready: its readiness check passed, or it has none.
    Ready,
    /// UNREACHABLE or UNKNOWN: its agent may come back with it.
    Unreachable,
    /// Exited 0.
    Finished,
    /// FAILED, KILLED, LOST, DROPPED: may run again if relaunched.
    Failed,
    /// TASK_LOST from the explicit reconciliation after a (re)subscription: the master may only
    /// not know the task yet (MESOS-6250), so never a reason to give up on the pod.
    LostReconciling,
    /// TASK_GONE: gone with its agent's state, or its agent was removed.
    Gone,
    /// TASK_GONE_BY_OPERATOR: the operator marked its agent gone.
    GoneByOperator,
    /// TASK_ERROR: Mesos refused the TaskInfo; the same one would fail again.
    Errored,
}

impl Condition {
    /// The condition of a task whose last status is `status` (none: just launched); `ready`:
    /// whether its readiness check passed; `reconciling`: whether the explicit reconciliation
    /// is still running.
    pub fn read(status: Option<&TaskStatus>, ready: bool, reconciling: bool) -> Condition {
        let Some(status) = status else {
            return Condition::Launched;
        };
        match status.state {
            TaskState::Staging | TaskState::Starting | TaskState::Killing => Condition::Starting,
            TaskState::Running if ready => Condition::Ready,
            TaskState::Running => Condition::Running,
            TaskState::Unreachable | TaskState::Unknown => Condition::Unreachable,
            TaskState::Finished => Condition::Finished,
            TaskState::Error => Condition::Errored,
            TaskState::Gone => Condition::Gone,
            TaskState::GoneByOperator => Condition::GoneByOperator,
            TaskState::Lost if reconciling && status.reason == Some(Reason::Reconciliation) => {
                Condition::LostReconciling
            }
            TaskState::Failed | TaskState::Killed | TaskState::Lost | TaskState::Dropped => {
                Condition::Failed
            }
        }
    }

    /// Whether the task may still be running somewhere (a kill makes sense).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Condition::Launched
                | Condition::Starting
                | Condition::Running
                | Condition::Ready
                | Condition::Unreachable
        )
    }

    /// Whether it stopped and runs again only if launched again.
    pub fn is_stopped(self) -> bool {
        self != Condition::Absent && !self.is_active()
    }
}

/// Whether a task whose last status is `status` may still be running somewhere.
pub fn is_active(status: Option<&TaskStatus>) -> bool {
    Condition::read(status, false, false).is_active()
}

/// What the master last said about a task's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentCondition {
    /// Registered: in the master's latest list, offered since, or the list was never read.
    Listed,
    /// Not in the master's latest list, and not offered since: removed or unreachable.
    Away,
    /// Away, and a TASK_GONE named it: the master removed it.
    Removed,
}

impl AgentCondition {
    fn is_away(self) -> bool {
        self != AgentCondition::Listed
    }
}

/// Whether a task was launched under the target config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigAge {
    /// The target config.
    Target,
    /// An older config: the rollout replaces it.
    Older,
}

/// Everything the decision looks at for one task, as types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskFacts {
    /// The task's goal (from the target spec).
    pub goal: Goal,
    /// The config it was launched under.
    pub age: ConfigAge,
    /// Where it stands.
    pub condition: Condition,
    /// Where its agent stands.
    pub agent: AgentCondition,
    /// Whether its pod is marked for replacement (operator `replace`, or the failure timer).
    pub marked: bool,
    /// What the author's recovery policy says of it, when it stopped.
    pub policy: Recovery,
}

impl TaskFacts {
    /// Whether recovery relaunches the task when it stops: a RUNNING-goal task of the target.
    /// The rollout (deploy or update plan) launches every other one again.
    pub fn is_recoverys(&self) -> bool {
        self.goal == Goal::Running && self.age == ConfigAge::Target
    }
}

/// Why a pod is replaced now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplaceCause {
    /// Marked: an operator `replace`, or the permanent-failure timer ran out.
    Marked,
    /// The operator marked its agent gone, and the master removed it.
    GoneByOperator,
    /// The author's recovery policy asked for it.
    Policy,
}

/// Why a pod can only come back by a replacement (after its failure timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentLoss {
    /// TASK_GONE, and the master removed the agent.
    Gone,
    /// The task must be launched again by the rollout, on reservations of an agent the master
    /// no longer lists; no TASK_GONE need ever come for a task that already stopped.
    Away,
}

/// Why a task is relaunched in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelaunchCause {
    /// It stopped (FAILED, KILLED, FINISHED, LOST, DROPPED, or GONE from a registered agent).
    Stopped,
    /// TASK_LOST during reconciliation: the master may only not know it yet.
    LostReconciling,
}

/// What becomes of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// It reached its goal.
    Done,
    /// On its way: nothing to do but wait.
    InFlight,
    /// The rollout (deploy or update plan) launches it: first launch, a FINISH or ONCE retry on
    /// its reservations, or a stopped task of an older config.
    Launch,
    /// Alive under an older config: the rollout kills it, then launches it under the target.
    KillThenLaunch,
    /// The rollout's task stopped and the recovery policy leaves it stopped.
    Held,
    /// TASK_ERROR under the target: the rollout shows the error; relaunching would fail again.
    Error,
    /// A RUNNING-goal task of the target stopped: recovery relaunches it in place.
    Relaunch(RelaunchCause),
    /// A RUNNING-goal task of the target stopped and the recovery policy leaves it stopped.
    Left,
    /// Its agent is unreachable: wait for it.
    AwaitAgent,
    /// Its agent is gone: it is retried where it was, and the pod is replaced when its failure
    /// timer runs out.
    AwaitReplacement(AgentLoss),
    /// Replace the pod elsewhere now (its live tasks are killed first).
    Replace(ReplaceCause),
}

impl Decision {
    /// Whether the pod's failure timer runs while a task is so decided: every decision that
    /// waits on a failure (the permanent-failure timeout then replaces the pod).
    pub fn runs_failure_timer(self) -> bool {
        matches!(
            self,
            Decision::Relaunch(_)
                | Decision::Left
                | Decision::AwaitAgent
                | Decision::AwaitReplacement(_)
                | Decision::Replace(_)
        )
    }

    /// Whether recovery replaces the pod.
    pub fn is_replace(self) -> bool {
        matches!(self, Decision::Replace(_))
    }

    /// The short stable name shown in the recovery plan and the table.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Done => "done",
            Decision::InFlight => "in-flight",
            Decision::Launch => "launch",
            Decision::KillThenLaunch => "kill-then-launch",
            Decision::Held => "held",
            Decision::Error => "error",
            Decision::Relaunch(RelaunchCause::Stopped) => "relaunch",
            Decision::Relaunch(RelaunchCause::LostReconciling) => "relaunch-lost-reconciling",
            Decision::Left => "left",
            Decision::AwaitAgent => "await-agent",
            Decision::AwaitReplacement(AgentLoss::Gone) => "agent-gone",
            Decision::AwaitReplacement(AgentLoss::Away) => "agent-away",
            Decision::Replace(ReplaceCause::Marked) => "replace-marked",
            Decision::Replace(ReplaceCause::GoneByOperator) => "replace-gone-by-operator",
            Decision::Replace(ReplaceCause::Policy) => "replace-policy",
        }
    }

    /// Why, in words, for the recovery plan.
    pub fn reason(self) -> &'static str {
        match self {
            Decision::Replace(ReplaceCause::Marked) => {
                "the pod is marked for replacement (operator `replace` or the permanent-failure timer)"
            }
            Decision::Replace(ReplaceCause::GoneByOperator) => {
                "the operator marked its agent gone: its reservations and volumes will not come back"
            }
            Decision::Replace(ReplaceCause::Policy) => "the recovery policy asked for a replacement",
            Decision::AwaitReplacement(AgentLoss::Gone) => {
                "its agent was removed (TASK_GONE, and the master no longer lists it): it cannot run there again; the failure timer runs, then the pod is replaced elsewhere"
            }
            Decision::AwaitReplacement(AgentLoss::Away) => {
                "it must be launched again on an agent the master no longer lists: the failure timer runs, then the pod is replaced elsewhere"
            }
            Decision::Relaunch(RelaunchCause::Stopped) => {
                "stopped (FAILED, KILLED, FINISHED, LOST, DROPPED, or GONE from an agent still registered): relaunch in place on its reservations"
            }
            Decision::Relaunch(RelaunchCause::LostReconciling) => {
                "TASK_LOST from reconciliation may only mean the master does not know the task yet (MESOS-6250): relaunch in place; the loss alone is no reason to replace"
            }
            Decision::Left => "stopped; the recovery policy leaves it (the failure timer runs)",
            Decision::AwaitAgent => {
                "its agent is unreachable: it may come back, so wait (the failure timer runs)"
            }
            Decision::Held => "stopped; the recovery policy leaves it",
            Decision::Error => "TASK_ERROR: the same TaskInfo would fail again",
            Decision::Launch => "launched by the deploy or update plan",
            Decision::KillThenLaunch => "alive under an older config: killed, then launched under the target",
            Decision::InFlight => "on its way",
            Decision::Done => "reached its goal",
        }
    }
}

/// The one decision for a task with facts `f`. The checks run in the order of the table in
/// DESIGN.md: the first that applies decides.
pub fn decide(f: &TaskFacts) -> Decision {
    use Condition as C;
    let c = f.condition;
    let target = f.age == ConfigAge::Target;
    let removed = f.agent == AgentCondition::Removed;
    if c == C::Absent {
        return Decision::Launch;
    }
    if f.marked {
        return Decision::Replace(ReplaceCause::Marked);
    }
    // ONCE means once, whatever config it ran under and wherever its agent is.
    if f.goal == Goal::Once && c == C::Finished {
        return Decision::Done;
    }
    if c == C::GoneByOperator && removed {
        return Decision::Replace(ReplaceCause::GoneByOperator);
    }
    if f.is_recoverys() {
        return running_on_target(f, removed);
    }
    // From here on the rollout owns the task: a FINISH or ONCE task, or any older config's.
    if target && c == C::Finished {
        return Decision::Done;
    }
    if target && c == C::Errored {
        return Decision::Error;
    }
    // The author's word holds wherever the agent is.
    if target && c.is_stopped() && f.policy == Recovery::Leave {
        return Decision::Held;
    }
    // What the rollout launches again goes on the task's reservations, so an agent that is
    // gone must run the failure timer (found by cairn-sim: such a pod waited forever).
    if c == C::Gone && removed {
        return Decision::AwaitReplacement(AgentLoss::Gone);
    }
    if c.is_stopped() && f.agent.is_away() {
        return Decision::AwaitReplacement(AgentLoss::Away);
    }
    if !target {
        return match c {
            // A kill cannot reach it, and the rollout would wait for its death forever: wait
            // for the agent instead, under the failure timer, as for a task of the target.
            C::Unreachable => Decision::AwaitAgent,
            _ if c.is_active() => Decision::KillThenLaunch,
            _ => Decision::Launch,
        };
    }
    match c {
        C::Launched | C::Starting | C::Running | C::Ready => Decision::InFlight,
        C::Unreachable => Decision::AwaitAgent,
        _ => Decision::Launch,
    }
}

/// A RUNNING-goal task of the target config: recovery's.
fn running_on_target(f: &TaskFacts, removed: bool) -> Decision {
    use Condition as C;
    match f.condition {
        C::Launched | C::Starting | C::Running => Decision::InFlight,
        C::Ready => Decision::Done,
        C::Unreachable => Decision::AwaitAgent,
        C::Errored => Decision::Error,
        _ if f.policy == Recovery::Replace => Decision::Replace(ReplaceCause::Policy),
        _ if f.policy == Recovery::Leave => Decision::Left,
        C::Gone if removed => Decision::AwaitReplacement(AgentLoss::Gone),
        C::LostReconciling => Decision::Relaunch(RelaunchCause::LostReconciling),
        _ => Decision::Relaunch(RelaunchCause::Stopped),
    }
}

/// The pods marked for replacement, as stored by recovery.
pub type Marks = BTreeMap<String, ReplaceReason>;

/// What the scheduler knows around its stored tasks: what [`TaskFacts`] are read against.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The target config id.
    pub config_id: &'a ConfigId,
    /// The author's recovery policy.
    pub policy: &'a dyn RecoveryPolicy,
    /// Whether the explicit reconciliation after a (re)subscription is still running.
    pub reconciling: bool,
    /// Agents the master removed (a TASK_GONE named them, its list no longer has them).
    pub removed_agents: &'a BTreeSet<String>,
    /// The agents the master listed last (plus those offered since), if it was asked.
    pub listed_agents: Option<&'a BTreeSet<String>>,
    /// Pods marked for replacement.
    pub marked: &'a Marks,
    /// Pods an operator paused: a RUNNING task whose launch disagrees (paused or not) is read
    /// as one of an older config, which the rollout relaunches.
    pub paused: &'a BTreeSet<String>,
}

static NO_AGENTS: BTreeSet<String> = BTreeSet::new();
static NO_MARKS: Marks = BTreeMap::new();

impl<'a> Context<'a> {
    /// A context with nothing known beyond the target and the policy: no reconciliation
    /// running, no list of agents read, no pod marked.
    pub fn new(config_id: &'a ConfigId, policy: &'a dyn RecoveryPolicy) -> Self {
        Context {
            config_id,
            policy,
            reconciling: false,
            removed_agents: &NO_AGENTS,
            listed_agents: None,
            marked: &NO_MARKS,
            paused: &NO_AGENTS,
        }
    }

    /// Whether pod `pod` is marked for replacement.
    pub fn is_marked(&self, pod: &PodInstanceName) -> bool {
        // Most of the time nothing is marked: no name is formatted then.
        !self.marked.is_empty() && self.marked.contains_key(&pod.to_string())
    }

    /// The facts of task `spec` of pod `pod`, stored as `record` (none: never launched);
    /// `marked`: whether the pod is marked for replacement ([`Context::is_marked`]).
    pub fn facts(&self, spec: &TaskSpec, record: Option<&TaskRecord>, marked: bool) -> TaskFacts {
        let Some(record) = record else {
            return TaskFacts {
                goal: spec.goal,
                age: ConfigAge::Target,
                condition: Condition::Absent,
                agent: AgentCondition::Listed,
                marked,
                policy: Recovery::RelaunchInPlace,
            };
        };
        let ready = crate::plan::assess::is_ready(spec, record);
        let condition = Condition::read(record.status.as_ref(), ready, self.reconciling);
        let agent_id = &record.info.agent_id.value;
        // Removed needs the master's word that the agent is gone (a TASK_GONE, then a list
        // without it): a later offer cannot bring back an agent id Mesos removed.
        let agent = if self.removed_agents.contains(agent_id) {
            AgentCondition::Removed
        } else if self.listed_agents.is_some_and(|l| !l.contains(agent_id)) {
            AgentCondition::Away
        } else {
            AgentCondition::Listed
        };
        // The author is asked only where the verdict counts: a task of the target that
        // stopped short of its goal, and not refused by Mesos.
        let age = match config_age(record, self.config_id) {
            ConfigAge::Target if spec.goal == Goal::Running && self.pause_differs(spec, record) => {
                ConfigAge::Older
            }
            age => age,
        };
        let done = condition == Condition::Finished && spec.goal != Goal::Running;
        let asked = age == ConfigAge::Target
            && condition.is_stopped()
            && condition != Condition::Errored
            && !done;
        let policy = match &record.status {
            Some(status) if asked => self.policy.recover(&record.info.name, status),
            _ => Recovery::RelaunchInPlace,
        };
        TaskFacts {
            goal: spec.goal,
            age,
            condition,
            agent,
            marked,
            policy,
        }
    }
}

impl Context<'_> {
    /// Whether a RUNNING task's launch disagrees with its pod's pause.
    fn pause_differs(&self, spec: &TaskSpec, record: &TaskRecord) -> bool {
        // The pod instance is the task's name without `-<task>` (no label parsed: this runs
        // for every task after every event).
        let pod = record
            .info
            .name
            .strip_suffix(spec.name.as_str())
            .and_then(|p| p.strip_suffix('-'))
            .unwrap_or("");
        crate::scheduler::pause_differs(&record.info, pod, self.paused)
    }
}

/// The config `record` was launched under, against the target `target`.
pub fn config_age(record: &TaskRecord, target: &ConfigId) -> ConfigAge {
    if launched_under(&record.info, target) {
        ConfigAge::Target
    } else {
        ConfigAge::Older
    }
}
