//! The `recovery` plan, derived from the state like the deploy plan: one phase per pod
//! instance in recovery (failed, or relaunched and not yet ready again), one step per task
//! group (the deploy plan's groups for that pod). Phases run in parallel, steps of a phase one
//! after the other.
//!
//! A pod is in recovery when a task's [`classify()`](super::classify()) verdict is Transient or Permanent:
//! * Transient: the failed tasks are relaunched in place (the requirement pins them to their
//!   reservations). A failed *essential* task relaunches the whole pod: its surviving tasks are
//!   killed first. A crash-loop backoff holds the relaunch (step DELAYED).
//! * Permanent: the pod's live tasks are killed, then the scheduler replaces it (see
//!   `scheduler/recovery.rs`): its records go, its reservations are queued for reclaiming, and
//!   the deploy plan launches it afresh.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::{AgentId, TaskId, TaskState};

use crate::labels::{task_label, TARGET_CONFIGURATION};
use crate::plan::assess::{is_ready, task_name};
use crate::plan::{ExpandedPlan, PhaseStatus, PlanStatus, ReleasedStep, Status, StepStatus};
use crate::spec::{Goal, PodInstanceName, PodSpec, ServiceSpec};
use crate::store::{ConfigId, TaskRecord};
use crate::time::Time;

use super::classify::{classify, Category, Observation, Rule, AGENT_AWAY, AGENT_GONE};
use super::{Backoff, Recovery, RecoveryPolicy, RecoveryState, ReplacementPolicy, TaskCondition};

/// The plan's name.
pub const RECOVERY_PLAN: &str = "recovery";

/// What the recovery plan is derived from.
pub struct RecoveryInput<'a> {
    /// The target spec.
    pub spec: &'a ServiceSpec,
    /// The target config id.
    pub config_id: &'a ConfigId,
    /// Every stored task, by task name.
    pub tasks: &'a BTreeMap<String, TaskRecord>,
    /// The deploy plan, for each pod's task groups.
    pub deploy: &'a ExpandedPlan,
    /// The persisted recovery state.
    pub state: &'a RecoveryState,
    /// The crash-loop backoff.
    pub backoff: &'a Backoff,
    /// The author's policy (may leave a task stopped).
    pub policy: &'a dyn RecoveryPolicy,
    /// The replacement policy in force.
    pub replacement: &'a ReplacementPolicy,
    /// Whether explicit reconciliation is still running.
    pub reconciling: bool,
    /// Agents the master removed (a TASK_GONE named them, its list of agents no longer has
    /// them).
    pub removed_agents: &'a BTreeSet<String>,
    /// The agents the master listed last (registered), if it was asked.
    pub listed_agents: Option<&'a BTreeSet<String>>,
    /// The time of the latest input.
    pub now: Time,
}

/// One pod instance in recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecovery {
    /// The pod instance.
    pub pod: PodInstanceName,
    /// Transient or Permanent.
    pub category: Category,
    /// The rule that decided, for the first task that made the pod fail.
    pub rule: &'static str,
    /// Live tasks to kill first (survivors of an essential failure, or a pod to replace).
    pub kills: Vec<(TaskId, AgentId)>,
    /// Every RUNNING-goal task is running and ready (the failure is over).
    pub healthy: bool,
    /// A Permanent pod with nothing left alive: the scheduler may replace it now.
    pub replaceable: bool,
    /// A Permanent pod whose replacement waits for the min replace delay.
    pub replace_held_until: Option<Time>,
}

/// The derived plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPlan {
    /// Statuses for the API.
    pub status: PlanStatus,
    /// Steps released to launch (each pod's first step with work, unless delayed).
    pub released: Vec<ReleasedStep>,
    /// The pods in recovery.
    pub pods: Vec<PodRecovery>,
}

/// One task as recovery sees it.
struct Seen<'a> {
    /// Name inside the pod (`node`).
    task: String,
    record: &'a TaskRecord,
    rule: &'static Rule,
    essential: bool,
    running_goal: bool,
    on_target: bool,
    ready: bool,
}

impl Seen<'_> {
    /// Alive as far as a kill is concerned: unreachable tasks are not waited for (their agent
    /// may never answer), but a kill is sent to them all the same.
    fn alive(&self) -> bool {
        TaskCondition::of(self.record.status.as_ref()).is_active()
    }

    fn unreachable(&self) -> bool {
        matches!(
            self.record.status.as_ref().map(|s| s.state),
            Some(TaskState::Unreachable | TaskState::Unknown)
        )
    }

    /// Whether recovery relaunches it when it stops: a RUNNING-goal task of the target config
    /// (the deploy or update plan relaunches the others).
    fn relaunched_here(&self) -> bool {
        self.running_goal && self.on_target
    }

    /// Its agent was removed (or, for a FINISH or ONCE task, is no longer listed): only a
    /// replacement brings it back.
    fn agent_gone(&self) -> bool {
        self.rule.name == AGENT_GONE || self.rule.name == AGENT_AWAY
    }

    fn kill(&self) -> (TaskId, AgentId) {
        (
            self.record.info.task_id.clone(),
            self.record.info.agent_id.clone(),
        )
    }
}

/// Derives the recovery plan.
pub fn derive(input: &RecoveryInput<'_>) -> RecoveryPlan {
    let mut phases = Vec::new();
    let mut released = Vec::new();
    let mut pods = Vec::new();
    for pod_spec in &input.spec.pods {
        for instance in pod_spec.instances() {
            let Some((pod, phase, step)) = pod_recovery(input, pod_spec, &instance) else {
                continue;
            };
            phases.push(phase);
            released.extend(step);
            pods.push(pod);
        }
    }
    RecoveryPlan {
        status: PlanStatus {
            name: RECOVERY_PLAN.into(),
            status: Status::aggregate(phases.iter().map(|p: &PhaseStatus| p.status)),
            strategy: "parallel".into(),
            phases,
            errors: Vec::new(),
        },
        released,
        pods,
    }
}

fn seen_tasks<'a>(
    input: &RecoveryInput<'a>,
    pod_spec: &PodSpec,
    instance: &PodInstanceName,
) -> Vec<Seen<'a>> {
    let marked = input.state.replace.contains_key(&instance.to_string());
    pod_spec
        .tasks
        .iter()
        .filter_map(|t| {
            let record = input.tasks.get(&task_name(instance, &t.name))?;
            let on_target =
                task_label(&record.info, TARGET_CONFIGURATION) == Some(input.config_id.0.as_str());
            let o = Observation {
                goal: t.goal,
                status: record.status.as_ref(),
                on_target,
                marked_for_replacement: marked,
                reconciling: input.reconciling,
                agent_removed: input.removed_agents.contains(&record.info.agent_id.value),
                agent_away: input
                    .listed_agents
                    .is_some_and(|l| !l.contains(&record.info.agent_id.value)),
            };
            Some(Seen {
                task: t.name.clone(),
                record,
                rule: classify(&o),
                essential: t.essential,
                running_goal: t.goal == Goal::Running,
                on_target,
                ready: is_ready(t, record),
            })
        })
        .collect()
}

/// The task groups of a pod instance: the deploy plan's steps for it, else all its tasks.
fn groups(
    input: &RecoveryInput<'_>,
    pod_spec: &PodSpec,
    instance: &PodInstanceName,
) -> Vec<(String, Vec<String>)> {
    let from_deploy: Vec<(String, Vec<String>)> = input
        .deploy
        .phases
        .iter()
        .filter_map(|p| p.steps.as_ref())
        .flatten()
        .filter(|s| &s.def.pod_instance == instance)
        .map(|s| (s.name.clone(), s.def.tasks.clone()))
        .collect();
    if !from_deploy.is_empty() {
        return from_deploy;
    }
    let all: Vec<String> = pod_spec.tasks.iter().map(|t| t.name.clone()).collect();
    vec![(format!("{instance}:[{}]", all.join(",")), all)]
}

fn pod_recovery(
    input: &RecoveryInput<'_>,
    pod_spec: &PodSpec,
    instance: &PodInstanceName,
) -> Option<(PodRecovery, PhaseStatus, Option<ReleasedStep>)> {
    let seen = seen_tasks(input, pod_spec, instance);
    let name = instance.to_string();
    let worst = seen
        .iter()
        .find(|s| s.rule.category == Category::Permanent)
        .or_else(|| seen.iter().find(|s| s.rule.category == Category::Transient));
    // A task on a removed agent keeps its pod failing whatever its goal: a FINISH or ONCE one
    // too, or its failure timer would never run.
    let healthy = seen.iter().filter(|s| s.running_goal).all(|s| s.ready)
        && !seen.iter().any(Seen::agent_gone)
        && pod_spec
            .tasks
            .iter()
            .filter(|t| t.goal == Goal::Running)
            .all(|t| seen.iter().any(|s| s.task == t.name));
    let was_failing = input.state.failure_since.contains_key(&name);
    if worst.is_none() && (!was_failing || healthy) {
        // The common case, a healthy pod: decided before the (per-pod linear) search of the
        // deploy plan's steps, which made every status update cost O(pods²).
        return None;
    }
    let groups = groups(input, pod_spec, instance);
    let policy_replace = seen.iter().any(|s| {
        s.rule.category == Category::Transient
            && s.relaunched_here()
            && !s.alive()
            && input.policy.recover(
                &s.record.info.name,
                &s.record.status.clone().unwrap_or_default(),
            ) == Recovery::Replace
    });
    let (pod, steps, rel) = match worst {
        Some(w) if w.rule.category == Category::Permanent => {
            permanent(input, instance, &seen, w.rule, &groups)
        }
        Some(_) if policy_replace => permanent(
            input,
            instance,
            &seen,
            &super::classify::POLICY_REPLACE,
            &groups,
        ),
        Some(w) => transient(input, instance, &seen, w.rule, &groups),
        None if was_failing && !healthy => recovering(instance, &seen, &groups),
        None => return None,
    };
    let pod = PodRecovery { healthy, ..pod };
    let phase = PhaseStatus {
        name: name.clone(),
        status: Status::aggregate(steps.iter().map(|s| s.status)),
        strategy: "serial".into(),
        steps,
    };
    Some((pod, phase, rel))
}

type Derived = (PodRecovery, Vec<StepStatus>, Option<ReleasedStep>);

fn base(instance: &PodInstanceName, category: Category, rule: &'static str) -> PodRecovery {
    PodRecovery {
        pod: instance.clone(),
        category,
        rule,
        kills: Vec::new(),
        healthy: false,
        replaceable: false,
        replace_held_until: None,
    }
}

/// Relaunched and on its way back: steps show how far.
fn recovering(
    instance: &PodInstanceName,
    seen: &[Seen<'_>],
    groups: &[(String, Vec<String>)],
) -> Derived {
    let steps = groups
        .iter()
        .map(|(step, tasks)| in_flight_step(step, tasks, seen))
        .collect();
    (
        base(instance, Category::Transient, "relaunched"),
        steps,
        None,
    )
}

fn in_flight_step(step: &str, tasks: &[String], seen: &[Seen<'_>]) -> StepStatus {
    let slow = seen
        .iter()
        .filter(|s| tasks.contains(&s.task) && s.running_goal && !s.ready)
        .map(|s| {
            let state = s.record.status.as_ref().map(|st| st.state);
            match state {
                Some(TaskState::Running) => (
                    Status::Started,
                    format!(
                        "{} is TASK_RUNNING, readiness check not passed",
                        s.record.info.name
                    ),
                ),
                Some(st) => (Status::Starting, format!("{} is {st}", s.record.info.name)),
                None => (Status::Starting, format!("{} launched", s.record.info.name)),
            }
        })
        .min_by_key(|(st, _)| *st == Status::Started);
    let (status, message) = slow.unwrap_or((Status::Complete, String::new()));
    StepStatus {
        name: step.to_string(),
        status,
        message,
    }
}

/// What a transient failure relaunches.
struct Relaunch<'s, 'a> {
    /// Task names inside the pod to relaunch.
    tasks: BTreeSet<&'s str>,
    /// Stopped tasks the author's policy leaves alone.
    left: Vec<&'s Seen<'a>>,
    /// Live tasks to kill first.
    kills: Vec<(TaskId, AgentId)>,
}

fn relaunch<'s, 'a>(input: &RecoveryInput<'_>, seen: &'s [Seen<'a>]) -> Relaunch<'s, 'a> {
    let (left, stopped): (Vec<&Seen<'a>>, Vec<&Seen<'a>>) = seen
        .iter()
        .filter(|s| s.rule.category == Category::Transient && s.relaunched_here() && !s.alive())
        .partition(|s| {
            let status = s.record.status.clone().unwrap_or_default();
            input.policy.recover(&s.record.info.name, &status) == Recovery::Leave
        });
    // An essential task's failure takes its pod down: relaunch every RUNNING-goal task
    // together, after killing the ones still alive (they would hold the pod's executor).
    if !stopped.iter().any(|s| s.essential) {
        let tasks = stopped.iter().map(|s| s.task.as_str()).collect();
        return Relaunch {
            tasks,
            left,
            kills: Vec::new(),
        };
    }
    let whole: Vec<&Seen<'a>> = seen
        .iter()
        .filter(|s| s.relaunched_here() && s.rule.category != Category::Ignore)
        .collect();
    Relaunch {
        tasks: whole.iter().map(|s| s.task.as_str()).collect(),
        kills: whole
            .iter()
            .filter(|s| s.alive())
            .map(|s| s.kill())
            .collect(),
        left,
    }
}

/// A step with nothing to relaunch: how far its tasks are, or why one of them waits.
fn idle_step(step: &str, tasks: &[String], seen: &[Seen<'_>], left: &[&Seen<'_>]) -> StepStatus {
    let mut s = in_flight_step(step, tasks, seen);
    if let Some(l) = left.iter().find(|l| tasks.contains(&l.task)) {
        s.status = Status::Waiting;
        s.message = format!(
            "{} stopped; the recovery policy leaves it",
            l.record.info.name
        );
    } else if let Some(u) = seen
        .iter()
        .find(|s| tasks.contains(&s.task) && s.unreachable())
    {
        let state = u
            .record
            .status
            .as_ref()
            .map(|s| s.state)
            .unwrap_or_default();
        s.status = Status::Waiting;
        s.message = format!(
            "{} is {state}: waiting for its agent (or the permanent-failure timer)",
            u.record.info.name
        );
    } else if let Some(g) = seen
        .iter()
        .find(|s| tasks.contains(&s.task) && s.agent_gone())
    {
        let state = g
            .record
            .status
            .as_ref()
            .map(|s| s.state)
            .unwrap_or_default();
        s.status = Status::Waiting;
        s.message = format!(
            "{} is {state} and the master no longer lists its agent; the pod is replaced elsewhere when the permanent-failure timer runs out",
            g.record.info.name
        );
    }
    s
}

fn prepared_message(rule: &Rule, kills: &[(TaskId, AgentId)]) -> String {
    if kills.is_empty() {
        return format!(
            "relaunching in place ({}): waiting for an offer of its reservations",
            rule.name
        );
    }
    let names: Vec<&str> = kills.iter().map(|(t, _)| t.as_str()).collect();
    format!(
        "an essential task failed: killing {} first",
        names.join(", ")
    )
}

fn transient(
    input: &RecoveryInput<'_>,
    instance: &PodInstanceName,
    seen: &[Seen<'_>],
    rule: &'static Rule,
    groups: &[(String, Vec<String>)],
) -> Derived {
    let mut pod = base(instance, Category::Transient, rule.name);
    let r = relaunch(input, seen);
    pod.kills = r.kills.clone();
    let name = instance.to_string();
    let delayed = input
        .backoff
        .delayed_until(&name)
        .filter(|u| *u > input.now);
    let mut released = None;
    let mut steps = Vec::new();
    for (step, tasks) in groups {
        let launch: Vec<String> = tasks
            .iter()
            .filter(|t| r.tasks.contains(t.as_str()))
            .cloned()
            .collect();
        let (status, message) = if launch.is_empty() {
            steps.push(idle_step(step, tasks, seen, &r.left));
            continue;
        } else if let Some(until) = delayed {
            let failures = input.backoff.failures(&name);
            let why = format!(
                "crash-loop backoff: {failures} failures in a row; relaunch in {:.1} s",
                until.since(input.now).as_secs_f64()
            );
            (Status::Delayed, why)
        } else if released.is_some() {
            // Steps of a pod run one after the other.
            (Status::Pending, String::new())
        } else {
            released = Some(ReleasedStep {
                step: step.clone(),
                pod_instance: instance.clone(),
                launch,
                kills: r.kills.clone(),
            });
            (Status::Prepared, prepared_message(rule, &r.kills))
        };
        steps.push(StepStatus {
            name: step.clone(),
            status,
            message,
        });
    }
    (pod, steps, released)
}

fn permanent(
    input: &RecoveryInput<'_>,
    instance: &PodInstanceName,
    seen: &[Seen<'_>],
    rule: &'static Rule,
    groups: &[(String, Vec<String>)],
) -> Derived {
    let mut pod = base(instance, Category::Permanent, rule.name);
    pod.kills = seen.iter().filter(|s| s.alive()).map(Seen::kill).collect();
    // Unreachable tasks cannot confirm their death; the replacement does not wait for them
    // (if their agent returns, their updates are for unknown task ids and they are killed).
    let waiting_kills: Vec<&str> = seen
        .iter()
        .filter(|s| s.alive() && !s.unreachable())
        .map(|s| s.record.info.task_id.as_str())
        .collect();
    let automatic = input
        .state
        .replace
        .get(&instance.to_string())
        .is_some_and(|why| why.is_automatic());
    pod.replace_held_until = input
        .replacement
        .next_allowed(input.state.last_replace)
        .filter(|t| automatic && *t > input.now);
    pod.replaceable = waiting_kills.is_empty() && pod.replace_held_until.is_none();
    let (status, message) = match (waiting_kills.is_empty(), pod.replace_held_until) {
        (false, _) => (
            Status::Prepared,
            format!(
                "replacing ({}): killing {} first",
                rule.reason,
                waiting_kills.join(", ")
            ),
        ),
        (true, Some(t)) => (
            Status::Delayed,
            format!(
                "replacing ({}): held by the min replace delay until {t}",
                rule.reason
            ),
        ),
        (true, None) => (Status::Prepared, format!("replacing ({})", rule.reason)),
    };
    let steps = groups
        .iter()
        .map(|(step, _)| StepStatus {
            name: step.clone(),
            status,
            message: message.clone(),
        })
        .collect();
    (pod, steps, None)
}
