//! Where a step stands, from the stored tasks alone (no strategy yet).

use std::collections::BTreeMap;

use cairn_proto::{AgentId, TaskId, TaskState};

use crate::decide::{decide, Condition, ConfigAge, Context, Decision, TaskFacts};
use crate::labels;
use crate::spec::{Goal, PodInstanceName, ServiceSpec, TaskSpec};
use crate::store::TaskRecord;

use super::runs::parse_label;
use super::status::Status;
use super::steps::ExpandedStep;

/// What the stored state says about one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    /// Every task reached its goal under the target config.
    Complete,
    /// A task cannot be launched as it is (TASK_ERROR).
    Error(String),
    /// Launched and on its way: STARTING or STARTED, with what its slowest task is doing.
    InFlight(Status, Note),
    /// Held by the recovery policy.
    Held(String),
    /// Tasks must be launched; old tasks in `kills` must die first.
    NeedsLaunch {
        /// Task names inside the pod (`node`) to launch.
        launch: Vec<String>,
        /// Active tasks of an older config that must be killed before the launch.
        kills: Vec<(TaskId, AgentId)>,
    },
}

/// What an in-flight step's slowest task is doing: rendered into words only when a plan is
/// shown, so that deriving a plan on every event allocates nothing per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// Index of the task in its step.
    pub task: usize,
    /// What it is doing.
    pub what: Doing,
}

/// See [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    /// Launched, no status yet.
    Launched,
    /// In this state.
    State(TaskState),
    /// RUNNING, readiness check not passed.
    NotReady,
    /// Stopped in this state; the recovery plan relaunches it.
    Recovering(TaskState),
}

impl Note {
    /// The note in words, for a step whose tasks are `task_names`, stored in `tasks`.
    pub fn message(&self, task_names: &[String], tasks: &BTreeMap<String, TaskRecord>) -> String {
        let name = task_names.get(self.task).map_or("", String::as_str);
        match self.what {
            Doing::Launched => format!("{name} launched"),
            Doing::State(s) => format!("{name} is {s}"),
            // Why it is not ready, in the check's own words when the executor sent them (the
            // embedded cluster's does: exit code and the tail of the output); Mesos' executors
            // send none.
            Doing::NotReady => match tasks.get(name).and_then(check_message) {
                Some(why) => format!("{name} is TASK_RUNNING, not ready: {why}"),
                None => format!("{name} is TASK_RUNNING, readiness check not passed"),
            },
            Doing::Recovering(s) => format!("{name} is {s}; see the recovery plan"),
        }
    }
}

/// What one task needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskNeed {
    Done,
    InFlight(Status, Doing),
    Launch,
    KillFirst(TaskId, AgentId),
    Fatal(String),
    Held(String),
}

/// The Mesos task name of task `task` of `pod_instance`: `data-2-node`.
pub fn task_name(pod_instance: &PodInstanceName, task: &str) -> String {
    format!("{pod_instance}-{task}")
}

/// A step of a plan an operator starts: only launches of `plan` from run `needs` or later
/// count for it (see [`crate::plan::runs`]).
#[derive(Debug, Clone, Copy)]
pub struct RunScope<'a> {
    /// The plan.
    pub plan: &'a str,
    /// The earliest run whose launches count.
    pub needs: u64,
}

impl RunScope<'_> {
    /// Whether the stored launch `record` counts for this step.
    fn counts(&self, record: &TaskRecord) -> bool {
        labels::task_label(&record.info, labels::PLAN_RUN)
            .and_then(parse_label)
            .is_some_and(|(plan, run)| plan == self.plan && run >= self.needs)
    }
}

/// Assesses `step` from the stored tasks, read against `ctx`; `scope` for a step of a plan an
/// operator starts.
pub fn assess_step(
    step: &ExpandedStep,
    spec: &ServiceSpec,
    ctx: &Context<'_>,
    tasks: &BTreeMap<String, TaskRecord>,
    scope: Option<RunScope<'_>>,
) -> StepState {
    let pod_type = step.def.pod_instance.pod_type();
    let Some(pod) = spec.pod(pod_type) else {
        return StepState::Error(format!("no pod type `{pod_type}`"));
    };
    let marked = ctx.is_marked(&step.def.pod_instance);
    let needs = step
        .def
        .tasks
        .iter()
        .zip(&step.task_names)
        .map(|(t, name)| match pod.task(t) {
            Some(task_spec) => {
                let record = tasks.get(name);
                let facts = ctx.facts(task_spec, record, marked);
                match (scope, record) {
                    (Some(scope), Some(r)) => scoped_need(name, task_spec, r, &facts, scope),
                    _ => task_need(name, task_spec, record, &facts),
                }
            }
            None => TaskNeed::Fatal(format!("pod `{pod_type}` has no task `{t}`")),
        });
    combine(&step.def.tasks, needs)
}

/// The step's state from its tasks' needs: an error wins, then any launch, then holds, then
/// the least advanced task in flight.
fn combine(tasks: &[String], needs: impl Iterator<Item = TaskNeed>) -> StepState {
    let mut launch = Vec::new();
    let mut kills = Vec::new();
    let mut held = None;
    let mut slowest: Option<(Status, Note)> = None;
    for (i, need) in needs.enumerate() {
        match need {
            TaskNeed::Fatal(m) => return StepState::Error(m),
            TaskNeed::Launch => launch.push(tasks[i].clone()),
            TaskNeed::KillFirst(t, a) => {
                launch.push(tasks[i].clone());
                kills.push((t, a));
            }
            TaskNeed::Held(m) => held = held.or(Some(m)),
            // STARTING before STARTED: the step is as far as its slowest task.
            TaskNeed::InFlight(s, what) => {
                if slowest.is_none_or(|(prev, _)| prev == Status::Started && s == Status::Starting)
                {
                    slowest = Some((s, Note { task: i, what }));
                }
            }
            TaskNeed::Done => {}
        }
    }
    if !launch.is_empty() {
        return StepState::NeedsLaunch { launch, kills };
    }
    if let Some(m) = held {
        return StepState::Held(m);
    }
    match slowest {
        Some((s, note)) => StepState::InFlight(s, note),
        None => StepState::Complete,
    }
}

/// What a step of a started plan makes of its task: a launch from an earlier run (or by
/// another plan) is not this run's, so the task runs again, after a kill if it still runs; a
/// launch of this run that finished is done even if the config changed since (a backup is not
/// run again for a new config); the rest is read as the deploy plan reads it.
fn scoped_need(
    name: &str,
    spec: &TaskSpec,
    record: &TaskRecord,
    facts: &TaskFacts,
    scope: RunScope<'_>,
) -> TaskNeed {
    // A pod being replaced is recovery's whatever the run.
    if facts.marked {
        return task_need(name, spec, Some(record), facts);
    }
    if !scope.counts(record) {
        return match facts.condition {
            Condition::Unreachable => active_need(spec, record),
            c if c.is_active() => {
                TaskNeed::KillFirst(record.info.task_id.clone(), record.info.agent_id.clone())
            }
            _ => TaskNeed::Launch,
        };
    }
    if facts.condition == Condition::Finished {
        return TaskNeed::Done;
    }
    task_need(name, spec, Some(record), facts)
}

/// What the deploy (or update) plan makes of a task's decision.
fn task_need(
    name: &str,
    spec: &TaskSpec,
    record: Option<&TaskRecord>,
    facts: &TaskFacts,
) -> TaskNeed {
    let decision = decide(facts);
    let Some(record) = record else {
        return TaskNeed::Launch;
    };
    let state = record.status.as_ref().map(|s| s.state);
    match decision {
        Decision::Done => TaskNeed::Done,
        Decision::Launch => TaskNeed::Launch,
        Decision::KillThenLaunch => {
            TaskNeed::KillFirst(record.info.task_id.clone(), record.info.agent_id.clone())
        }
        Decision::InFlight | Decision::AwaitAgent => active_need(spec, record),
        Decision::Error => TaskNeed::Fatal(format!(
            "{name}: TASK_ERROR{}",
            record
                .status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        Decision::Held => TaskNeed::Held(format!(
            "{name} is {}; the recovery policy leaves it",
            state.unwrap_or_default()
        )),
        // The rollout retries its own task where it was: should the agent come back, it runs
        // there; if not, recovery's failure timer replaces the pod.
        Decision::AwaitReplacement(_) if !facts.is_recoverys() => TaskNeed::Launch,
        // A pod being replaced is recovery's: what is alive under the target shows how far
        // it is, a finished FINISH or ONCE task stays done, the rest (an older config's live
        // task included: it is not done) is on its way back through recovery.
        Decision::Replace(_) if facts.condition.is_active() && facts.age == ConfigAge::Target => {
            active_need(spec, record)
        }
        Decision::Replace(_)
            if facts.goal != Goal::Running && facts.condition == Condition::Finished =>
        {
            TaskNeed::Done
        }
        // A RUNNING task of the target that stopped is the recovery plan's: the deploy step
        // shows it as on its way again, and does not launch it itself.
        Decision::Relaunch(_)
        | Decision::Left
        | Decision::AwaitReplacement(_)
        | Decision::Replace(_) => TaskNeed::InFlight(
            Status::Starting,
            Doing::Recovering(state.unwrap_or_default()),
        ),
    }
}

/// A task that may be running: how far it got.
fn active_need(spec: &TaskSpec, record: &TaskRecord) -> TaskNeed {
    let Some(status) = &record.status else {
        return TaskNeed::InFlight(Status::Starting, Doing::Launched);
    };
    match status.state {
        TaskState::Running if spec.goal == Goal::Running => {
            if is_ready(spec, record) {
                TaskNeed::Done
            } else {
                TaskNeed::InFlight(Status::Started, Doing::NotReady)
            }
        }
        s @ (TaskState::Running | TaskState::Unreachable) => {
            TaskNeed::InFlight(Status::Started, Doing::State(s))
        }
        s => TaskNeed::InFlight(Status::Starting, Doing::State(s)),
    }
}

/// Whether a running task passed its readiness check (a task without one is ready when
/// RUNNING, and so is a task launched paused: it runs no check). Readiness is the COMMAND
/// check's exit code 0 in the latest status; the scheduler carries a passed check status
/// forward into later statuses that lack one.
pub fn is_ready(spec: &TaskSpec, record: &TaskRecord) -> bool {
    let Some(status) = &record.status else {
        return false;
    };
    if status.state != TaskState::Running {
        return false;
    }
    spec.readiness_check.is_none()
        || readiness_passed(status)
        || labels::launched_paused(&record.info)
}

/// What the task's last check said: the message of its latest status when that is a RUNNING
/// status of a checked task (cairn's executor puts the check's exit code and the tail of its
/// output there; Mesos' executors leave it empty).
pub fn check_message(record: &TaskRecord) -> Option<&str> {
    let status = record.status.as_ref()?;
    let message = status.message.as_deref().filter(|m| !m.trim().is_empty())?;
    (status.state == TaskState::Running && status.check_status.is_some()).then_some(message)
}

/// Whether `status` carries a passed COMMAND check.
pub fn readiness_passed(status: &cairn_proto::TaskStatus) -> bool {
    status
        .check_status
        .as_ref()
        .and_then(|c| c.command.as_ref())
        .and_then(|c| c.exit_code)
        == Some(0)
}
