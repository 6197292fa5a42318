//! The `recovery` plan, derived from the state like the deploy plan: one phase per pod
//! instance in recovery (failed, or relaunched and not yet ready again), one step per task
//! group (the deploy plan's groups for that pod, the last with the pod's tasks no deploy step
//! launches, such as a sidecar plan's RUNNING task). Phases run in parallel, steps of a phase one
//! after the other.
//!
//! A pod is in recovery when a task's [`decide`] decision runs the failure timer; the plan
//! renders those decisions:
//! * `Replace`: the pod's live tasks are killed, then the scheduler replaces it (see
//!   `scheduler/recovery.rs`): its records go, its reservations are queued for reclaiming, and
//!   the deploy plan launches it afresh.
//! * otherwise (Transient): the `Relaunch` tasks, and RUNNING ones whose agent is gone, are
//!   relaunched in place (the requirement pins them to their reservations). A failed
//!   *essential* task relaunches the whole pod: its surviving tasks are killed first. Which
//!   tasks survived is remembered ([`RecoveryState::survivors`]): a pod whose tasks several
//!   deploy steps launch comes back one step after the other, and a task an early step brought
//!   back must not be taken for a survivor while a later step's task is still down. A
//!   crash-loop backoff holds the relaunch (step DELAYED).
//!
//! Steps of a pod run one after the other, as in the deploy plan: a step waits until the tasks
//! of the steps before it are running and ready. FINISH and ONCE tasks are not relaunched (the
//! deploy or update plan runs them), so an init step the deploy plan completed stays complete.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::{AgentId, TaskId, TaskState};

use crate::decide::{decide, Condition, Context, Decision, TaskFacts};
use crate::plan::assess::task_name;
use crate::plan::{ExpandedPlan, PhaseStatus, PlanStatus, ReleasedStep, Status, StepStatus};
use crate::spec::{Goal, PodInstanceName, PodSpec, ServiceSpec};
use crate::store::TaskRecord;
use crate::time::Time;

use super::{Backoff, RecoveryState, ReplacementPolicy};

/// The plan's name.
pub const RECOVERY_PLAN: &str = "recovery";

/// What the recovery plan is derived from.
pub struct RecoveryInput<'a> {
    /// The target spec.
    pub spec: &'a ServiceSpec,
    /// What the stored tasks are read against (the same as the deploy plan's).
    pub context: Context<'a>,
    /// Every stored task, by task name.
    pub tasks: &'a BTreeMap<String, TaskRecord>,
    /// The deploy plan, for each pod's task groups.
    pub deploy: &'a ExpandedPlan,
    /// The persisted recovery state.
    pub state: &'a RecoveryState,
    /// The crash-loop backoff.
    pub backoff: &'a Backoff,
    /// The replacement policy in force.
    pub replacement: &'a ReplacementPolicy,
    /// The time of the latest input.
    pub now: Time,
}

/// How a pod in recovery comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// In place: failed tasks are relaunched on the pod's reservations and volumes, or the pod
    /// waits for its agent or its failure timer.
    Transient,
    /// Elsewhere: the pod is replaced with fresh reservations and volumes.
    Permanent,
}

/// One pod instance in recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecovery {
    /// The pod instance.
    pub pod: PodInstanceName,
    /// Transient or Permanent.
    pub category: Category,
    /// The decision that put the pod here (a replacement's, else the first failing task's);
    /// none for a pod relaunched and not yet ready again.
    pub decision: Option<Decision>,
    /// Live tasks to kill first (survivors of an essential failure, or a pod to replace).
    pub kills: Vec<(TaskId, AgentId)>,
    /// An essential task failed and the whole pod is relaunched: the task ids of its survivors
    /// (alive when the relaunch began), for the scheduler to remember until the pod is healthy.
    pub survivors: Option<BTreeSet<String>>,
    /// The failure is over: every RUNNING-goal task is running and ready, and no task's
    /// decision runs the failure timer (a pod marked for replacement is never healthy).
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
    facts: TaskFacts,
    decision: Decision,
    essential: bool,
}

impl Seen<'_> {
    /// Alive as far as a kill is concerned: unreachable tasks are not waited for (their agent
    /// may never answer), but a kill is sent to them all the same.
    fn alive(&self) -> bool {
        self.facts.condition.is_active()
    }

    fn unreachable(&self) -> bool {
        self.facts.condition == Condition::Unreachable
    }

    fn ready(&self) -> bool {
        self.facts.condition == Condition::Ready
    }

    /// Its last state (TASK_UNKNOWN when none came yet), for messages.
    fn state(&self) -> TaskState {
        self.record
            .status
            .as_ref()
            .map(|s| s.state)
            .unwrap_or_default()
    }

    /// What its last status said, as ` (message)`, or nothing: the operator's first clue to why
    /// a task keeps failing. Cut at a bound, since a message may be long.
    fn last_message(&self) -> String {
        const MAX_CHARS: usize = 300;
        let message = self
            .record
            .status
            .as_ref()
            .and_then(|s| s.message.as_deref())
            .map(str::trim)
            .unwrap_or("");
        // A step's message is one line: a failure's stderr lines (cairn's executor sends a
        // few) are joined.
        let joined;
        let message = if message.contains('\n') {
            joined = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" | ");
            joined.as_str()
        } else {
            message
        };
        if message.is_empty() {
            return String::new();
        }
        let mut cut: String = message.chars().take(MAX_CHARS).collect();
        if cut.len() < message.len() {
            cut.push('…');
        }
        format!(" ({cut})")
    }

    /// Whether recovery relaunches it when it stops: a RUNNING-goal task of the target config
    /// (the deploy or update plan relaunches the others).
    fn relaunched_here(&self) -> bool {
        self.facts.is_recoverys()
    }

    /// Its agent is gone: only a replacement brings it back.
    fn agent_gone(&self) -> bool {
        matches!(self.decision, Decision::AwaitReplacement(_))
    }

    /// Recovery relaunches it now: stopped, and the decision is to bring it back in place.
    fn to_relaunch(&self) -> bool {
        self.relaunched_here()
            && matches!(
                self.decision,
                Decision::Relaunch(_) | Decision::AwaitReplacement(_)
            )
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
            parameters: Default::default(),
            interrupted: false,
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
    let marked = input.context.is_marked(instance);
    pod_spec
        .tasks
        .iter()
        .filter_map(|t| {
            let record = input.tasks.get(&task_name(instance, &t.name))?;
            let facts = input.context.facts(t, Some(record), marked);
            Some(Seen {
                task: t.name.clone(),
                record,
                facts,
                decision: decide(&facts),
                essential: t.essential,
            })
        })
        .collect()
}

/// The task groups of a pod instance: the deploy plan's steps for it, the last of them with the
/// tasks no such step launches (a task only another plan launches, such as a sidecar plan's
/// RUNNING task, is recovered too, and with the rest of its pod when an essential task failed),
/// else all its tasks.
fn groups(
    input: &RecoveryInput<'_>,
    pod_spec: &PodSpec,
    instance: &PodInstanceName,
) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = input
        .deploy
        .phases
        .iter()
        .filter_map(|p| p.steps.as_ref())
        .flatten()
        .filter(|s| &s.def.pod_instance == instance)
        .map(|s| (s.name.clone(), s.def.tasks.clone()))
        .collect();
    let rest: Vec<String> = pod_spec
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .filter(|t| !groups.iter().any(|(_, tasks)| tasks.contains(t)))
        .collect();
    match groups.last_mut() {
        _ if rest.is_empty() => {}
        Some((name, tasks)) => {
            tasks.extend(rest);
            *name = format!("{instance}:[{}]", tasks.join(","));
        }
        None => groups.push((format!("{instance}:[{}]", rest.join(",")), rest)),
    }
    groups
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
        .find(|s| s.decision.is_replace())
        .or_else(|| seen.iter().find(|s| s.decision.runs_failure_timer()));
    // A task whose decision runs the failure timer keeps its pod failing whatever its goal: a
    // FINISH or ONCE one too, or its failure timer would never run. A task never launched is
    // the deploy plan's to launch, not a failure: a pod whose later deploy step waits (behind
    // another pod in a serial plan) is healthy once the tasks it has are back, or its failure
    // timer would run out and replace it, destroying its data.
    let healthy = seen
        .iter()
        .filter(|s| s.facts.goal == Goal::Running)
        .all(Seen::ready)
        && !seen.iter().any(|s| s.decision.runs_failure_timer());
    let was_failing = input.state.failure_since.contains_key(&name);
    if worst.is_none() && (!was_failing || healthy) {
        // The common case, a healthy pod: decided before the (per-pod linear) search of the
        // deploy plan's steps, which made every status update cost O(pods²).
        return None;
    }
    let groups = groups(input, pod_spec, instance);
    let (pod, steps, rel) = match worst {
        Some(w) if w.decision.is_replace() => {
            permanent(input, instance, &seen, w.decision, &groups)
        }
        Some(w) => transient(input, instance, &seen, w, &groups),
        None => recovering(instance, &seen, &groups),
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

fn base(instance: &PodInstanceName, category: Category, decision: Option<Decision>) -> PodRecovery {
    PodRecovery {
        pod: instance.clone(),
        category,
        decision,
        kills: Vec::new(),
        survivors: None,
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
    (base(instance, Category::Transient, None), steps, None)
}

fn in_flight_step(step: &str, tasks: &[String], seen: &[Seen<'_>]) -> StepStatus {
    let slow = seen
        .iter()
        .filter(|s| tasks.contains(&s.task) && s.facts.goal == Goal::Running && !s.ready())
        .map(|s| {
            let state = s.record.status.as_ref().map(|st| st.state);
            match state {
                Some(cairn_proto::TaskState::Running) => (
                    Status::Started,
                    match crate::plan::assess::check_message(s.record) {
                        Some(why) => {
                            format!("{} is TASK_RUNNING, not ready: {why}", s.record.info.name)
                        }
                        None => format!(
                            "{} is TASK_RUNNING, readiness check not passed",
                            s.record.info.name
                        ),
                    },
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
    /// The survivors' task ids, when the whole pod is relaunched.
    survivors: Option<BTreeSet<String>>,
}

/// What to relaunch; `stored` are the survivors remembered from when the pod's whole-pod
/// relaunch began, if it has.
fn relaunch<'s, 'a>(seen: &'s [Seen<'a>], stored: Option<&BTreeSet<String>>) -> Relaunch<'s, 'a> {
    let left: Vec<&Seen<'a>> = seen
        .iter()
        .filter(|s| s.decision == Decision::Left)
        .collect();
    let stopped: Vec<&Seen<'a>> = seen.iter().filter(|s| s.to_relaunch()).collect();
    // An essential task's failure takes its pod down: relaunch every RUNNING-goal task
    // together, after killing the ones still alive (they would hold the pod's executor).
    if !stopped.iter().any(|s| s.essential) {
        let tasks = stopped.iter().map(|s| s.task.as_str()).collect();
        return Relaunch {
            tasks,
            left,
            kills: Vec::new(),
            survivors: None,
        };
    }
    let whole: Vec<&Seen<'a>> = seen
        .iter()
        .filter(|s| s.relaunched_here() && s.decision != Decision::Error)
        .collect();
    // Before the relaunch began every live task is a survivor; after, only those it found
    // alive: one alive with another task id was launched by this relaunch, and stays.
    let survivor = |s: &Seen<'_>| {
        s.alive() && stored.is_none_or(|ids| ids.contains(&s.record.info.task_id.value))
    };
    let survivors: BTreeSet<String> = match stored {
        Some(ids) => ids.clone(),
        None => whole
            .iter()
            .filter(|s| survivor(s))
            .map(|s| s.record.info.task_id.value.clone())
            .collect(),
    };
    Relaunch {
        tasks: whole
            .iter()
            .filter(|s| !s.alive() || survivor(s))
            .map(|s| s.task.as_str())
            .collect(),
        kills: whole
            .iter()
            .filter(|s| survivor(s))
            .map(|s| s.kill())
            .collect(),
        left,
        survivors: Some(survivors),
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
        let state = u.state();
        s.status = Status::Waiting;
        s.message = format!(
            "{} is {state}: waiting for its agent (or the permanent-failure timer)",
            u.record.info.name
        );
    } else if let Some(g) = seen
        .iter()
        .find(|s| tasks.contains(&s.task) && s.agent_gone())
    {
        let state = g.state();
        s.status = Status::Waiting;
        s.message = format!(
            "{} is {state} and the master no longer lists its agent; the pod is replaced elsewhere when the permanent-failure timer runs out",
            g.record.info.name
        );
    }
    s
}

/// Why a pod is relaunched in place, from the task that decided it.
fn prepared_message(worst: &Seen<'_>, kills: &[(TaskId, AgentId)]) -> String {
    if !kills.is_empty() {
        let names: Vec<&str> = kills.iter().map(|(t, _)| t.as_str()).collect();
        return format!(
            "an essential task failed: killing {} first",
            names.join(", ")
        );
    }
    let state = worst.state();
    let task = &worst.record.info.name;
    let why = match worst.decision {
        Decision::AwaitReplacement(_) => format!(
            "{task} is {state}, {}; replaced elsewhere when the permanent-failure timer runs out",
            worst.decision.name()
        ),
        Decision::Relaunch(crate::decide::RelaunchCause::LostReconciling) => {
            format!("{task} is {state} from reconciliation")
        }
        _ => format!("{task} is {state}{}", worst.last_message()),
    };
    format!("{why}; relaunching in place: waiting for an offer of its reservations")
}

fn transient(
    input: &RecoveryInput<'_>,
    instance: &PodInstanceName,
    seen: &[Seen<'_>],
    worst: &Seen<'_>,
    groups: &[(String, Vec<String>)],
) -> Derived {
    let mut pod = base(instance, Category::Transient, Some(worst.decision));
    let name = instance.to_string();
    let r = relaunch(seen, input.state.survivors.get(&name));
    pod.kills = r.kills.clone();
    pod.survivors = r.survivors.clone();
    let delayed = input
        .backoff
        .delayed_until(&name)
        .filter(|u| *u > input.now);
    let mut released = None;
    // A step whose tasks are back but not yet ready, which the later steps wait for.
    let mut coming_back: Option<&str> = None;
    let mut steps = Vec::new();
    for (step, tasks) in groups {
        let launch: Vec<String> = tasks
            .iter()
            .filter(|t| r.tasks.contains(t.as_str()))
            .cloned()
            .collect();
        let (status, message) = if launch.is_empty() {
            let idle = idle_step(step, tasks, seen, &r.left);
            if matches!(idle.status, Status::Starting | Status::Started) {
                coming_back = coming_back.or(Some(step));
            }
            steps.push(idle);
            continue;
        } else if let Some(until) = delayed {
            let failures = input.backoff.failures(&name);
            let why = format!(
                "crash-loop backoff: {failures} failure{} in a row; relaunch in {:.1} s; last: {} is {}{}",
                if failures == 1 { "" } else { "s" },
                until.since(input.now).as_secs_f64(),
                worst.record.info.name,
                worst.state(),
                worst.last_message()
            );
            (Status::Delayed, why)
        } else if released.is_some() {
            // Steps of a pod run one after the other.
            (Status::Pending, String::new())
        } else if let Some(before) = coming_back {
            // As in the deploy plan: a step starts once the steps before it are back and ready.
            (
                Status::Pending,
                format!("waiting for {before} to be running and ready"),
            )
        } else {
            // The words come from a task this step relaunches, not one that only waits.
            let why = seen
                .iter()
                .find(|s| s.to_relaunch() && launch.contains(&s.task))
                .unwrap_or(worst);
            let message = prepared_message(why, &r.kills);
            released = Some(ReleasedStep {
                step: step.clone(),
                pod_instance: instance.clone(),
                launch,
                kills: r.kills.clone(),
                run: None,
                // A RUNNING task a started plan launched comes back with that plan's run and
                // parameters: the plan must not take it for an older run's and launch it again,
                // and the task keeps what it was started with.
                keeps_runs: true,
            });
            (Status::Prepared, message)
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
    decision: Decision,
    groups: &[(String, Vec<String>)],
) -> Derived {
    let mut pod = base(instance, Category::Permanent, Some(decision));
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
                decision.reason(),
                waiting_kills.join(", ")
            ),
        ),
        (true, Some(t)) => (
            Status::Delayed,
            format!(
                "replacing ({}): held by the min replace delay until {t}",
                decision.reason()
            ),
        ),
        (true, None) => (
            Status::Prepared,
            format!("replacing ({})", decision.reason()),
        ),
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
