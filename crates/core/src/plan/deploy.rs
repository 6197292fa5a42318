//! The deploy plan, derived from the target config and the stored tasks: statuses plus the
//! steps released to run now. Nothing of it is stored; the same state gives the same plan.
//!
//! The scheduler derives it after every event, so the walk is lean: the steps are expanded
//! once ([`ExpandedPlan`]), and words (step messages) are only written when a plan is shown
//! ([`derive()`]); the scheduler's own use ([`derive_work`]) allocates little beyond its answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use cairn_proto::{AgentId, TaskId};

use crate::decide::Context;
use crate::spec::{PodInstanceName, ServiceSpec, Strategy};
use crate::store::TaskRecord;

use super::assess::{assess_step, RunScope, StepState};
use super::overrides::PlanOverrides;
use super::runs::PlanRun;
use super::status::{PhaseStatus, PlanStatus, Status, StepStatus};
use super::steps::{ExpandedPhase, ExpandedPlan, ExpandedStep};
use super::strategy::{release, PhaseGate, Release, INTERRUPTED};

/// What a plan is derived from.
pub struct PlanInput<'a> {
    /// The target spec.
    pub spec: &'a ServiceSpec,
    /// What the stored tasks are read against (the target config, agents, marks, policy).
    pub context: Context<'a>,
    /// Every stored task, by task name.
    pub tasks: &'a BTreeMap<String, TaskRecord>,
    /// Operator overrides.
    pub overrides: &'a PlanOverrides,
    /// For a plan an operator starts (every plan but deploy and update): its state. `None`
    /// for the rollout plan, which runs by itself.
    pub run: Option<&'a PlanRun>,
}

/// What a launch by a started plan carries: the run's label and the start's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTag {
    /// The [`crate::labels::PLAN_RUN`] label, `<plan>:<run>`.
    pub label: String,
    /// The start's parameters, added to each task's environment.
    pub parameters: BTreeMap<String, String>,
}

/// A step that may run now and needs something done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedStep {
    /// The step's name, e.g. `data-2:[node]`.
    pub step: String,
    /// Its pod instance.
    pub pod_instance: PodInstanceName,
    /// Task names inside the pod to launch.
    pub launch: Vec<String>,
    /// Old tasks to kill before the launch (their resources are needed).
    pub kills: Vec<(TaskId, AgentId)>,
    /// Set for a step of a started plan: what its launches carry.
    pub run: Option<Arc<RunTag>>,
    /// A relaunch in place (the recovery plan's): each task launched again carries the plan
    /// run and parameters of its stored launch, so that it comes back as it was started.
    pub keeps_runs: bool,
}

/// The work a plan releases, without the words: what the scheduler needs after every event.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// The plan's status.
    pub status: Status,
    /// Steps released to launch, in plan order.
    pub released: Vec<ReleasedStep>,
    /// Phases held by a canary gate (a `continue` advances them).
    pub held_phases: Vec<String>,
}

/// A plan with its statuses and the work it releases.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedPlan {
    /// Statuses for the API.
    pub status: PlanStatus,
    /// The released work.
    pub work: Work,
}

/// One phase walked: its steps' states and releases.
struct Walked<'p> {
    phase: &'p ExpandedPhase,
    steps: &'p [ExpandedStep],
    states: Vec<StepState>,
    releases: Vec<Release>,
    /// The earlier phase of a serial plan this one waits for.
    blocked_by: Option<&'p str>,
}

/// Why the steps of an idle plan wait.
pub fn idle_message(plan: &str) -> String {
    format!("the plan is idle: `cairn plan start {plan}` starts it")
}

/// Assesses every step and applies the strategies, phase by phase.
fn walk<'p>(plan: &'p ExpandedPlan, input: &PlanInput<'_>) -> Vec<Walked<'p>> {
    let mut out = Vec::with_capacity(plan.phases.len());
    let mut earlier_incomplete = false;
    let mut first_incomplete_phase: Option<&'p str> = None;
    for phase in &plan.phases {
        let Some(steps) = &phase.steps else {
            continue;
        };
        let states: Vec<StepState> = steps
            .iter()
            .map(|s| match input.run {
                Some(run) if run.is_forced(&phase.spec.name, &s.name) => StepState::Complete,
                Some(run) => {
                    let scope = RunScope {
                        plan: &plan.spec.name,
                        needs: run.needs(&phase.spec.name, &s.name),
                    };
                    assess_step(s, input.spec, &input.context, input.tasks, Some(scope))
                }
                None if input
                    .overrides
                    .is_forced(&plan.spec.name, &phase.spec.name, &s.name) =>
                {
                    StepState::Complete
                }
                None => assess_step(s, input.spec, &input.context, input.tasks, None),
            })
            .collect();
        let gate = PhaseGate {
            strategy: phase.spec.strategy,
            continues: input.overrides.continues(&plan.spec.name, &phase.spec.name),
            interrupted: input
                .overrides
                .is_interrupted(&plan.spec.name, &phase.spec.name),
            blocked: earlier_incomplete && plan.spec.strategy == Strategy::Serial,
        };
        let pods: Vec<&PodInstanceName> = steps.iter().map(|s| &s.def.pod_instance).collect();
        // Only the rollout takes members down; a plan an operator starts runs beside them.
        // Every step of a pod that is down counts as down, so that its first incomplete step
        // (an init task's, say) is the one released.
        // Under an interrupt every plan needs to know it: the step of a pod that is down
        // finishes, so that an interrupt never leaves a pod down.
        let serial_rollout = input.run.is_none()
            && matches!(
                phase.spec.strategy,
                Strategy::Serial | Strategy::SerialCanary
            );
        let down: Vec<bool> = if serial_rollout || gate.interrupted {
            {
                let down_pods: HashSet<&PodInstanceName> = steps
                    .iter()
                    .zip(&states)
                    .filter(|(s, st)| **st != StepState::Complete && is_down(s, input.tasks))
                    .map(|(s, _)| &s.def.pod_instance)
                    .collect();
                steps
                    .iter()
                    .map(|s| down_pods.contains(&s.def.pod_instance))
                    .collect()
            }
        } else {
            Vec::new()
        };
        let mut releases = release(&pods, &states, &down, gate);
        if input.run.is_some_and(|r| !r.started) {
            let why = idle_message(&plan.spec.name);
            releases
                .iter_mut()
                .filter(|r| **r == Release::Released)
                .for_each(|r| *r = Release::Waiting(why.clone()));
        }
        let blocked_by = first_incomplete_phase.filter(|_| gate.blocked);
        if first_incomplete_phase.is_none() && states.iter().any(|s| *s != StepState::Complete) {
            first_incomplete_phase = Some(phase.spec.name.as_str());
        }
        earlier_incomplete |= states.iter().any(|s| *s != StepState::Complete);
        out.push(Walked {
            phase,
            steps,
            states,
            releases,
            blocked_by,
        });
    }
    out
}

/// Whether a task of `step` that is to keep running was launched and is not running and ready
/// now, by its own launch: stopped, starting, or running with its readiness check not passed.
fn is_down(step: &ExpandedStep, tasks: &BTreeMap<String, TaskRecord>) -> bool {
    step.task_names
        .iter()
        .filter_map(|n| tasks.get(n))
        .any(|r| {
            let keeps_running =
                crate::labels::task_label(&r.info, crate::labels::GOAL) == Some("RUNNING");
            let ready = r.status.as_ref().is_some_and(|s| {
                s.state == cairn_proto::TaskState::Running
                    && (r.info.check.is_none() || super::assess::readiness_passed(s))
            });
            keeps_running && !ready
        })
}

/// The released work and statuses, without words.
pub fn derive_work(plan: &ExpandedPlan, input: &PlanInput<'_>) -> Work {
    let walked = walk(plan, input);
    work(&walked, run_tag(plan, input))
}

/// What the launches of a started plan carry.
fn run_tag(plan: &ExpandedPlan, input: &PlanInput<'_>) -> Option<Arc<RunTag>> {
    input.run.map(|r| {
        Arc::new(RunTag {
            label: r.label(&plan.spec.name),
            parameters: r.parameters.clone(),
        })
    })
}

fn work(walked: &[Walked<'_>], run: Option<Arc<RunTag>>) -> Work {
    let mut out = Work {
        status: Status::Complete,
        released: Vec::new(),
        held_phases: Vec::new(),
    };
    let mut phase_statuses = Vec::with_capacity(walked.len());
    for w in walked {
        for ((step, state), rel) in w.steps.iter().zip(&w.states).zip(&w.releases) {
            if let (StepState::NeedsLaunch { launch, kills }, Release::Released) = (state, rel) {
                out.released.push(ReleasedStep {
                    step: step.name.clone(),
                    pod_instance: step.def.pod_instance.clone(),
                    launch: launch.clone(),
                    kills: kills.clone(),
                    run: run.clone(),
                    keeps_runs: false,
                });
            }
        }
        if w.releases
            .iter()
            .any(|r| matches!(r, Release::Waiting(m) if m.starts_with("canary")))
        {
            out.held_phases.push(w.phase.spec.name.clone());
        }
        phase_statuses.push(Status::aggregate(
            w.states
                .iter()
                .zip(&w.releases)
                .map(|(s, r)| step_status(s, r)),
        ));
    }
    out.status = Status::aggregate(phase_statuses);
    out
}

/// The plan with every status and message, and its work.
pub fn derive(plan: &ExpandedPlan, input: &PlanInput<'_>) -> DerivedPlan {
    let walked = walk(plan, input);
    let work = work(&walked, run_tag(plan, input));
    let mut errors = Vec::new();
    for phase in &plan.phases {
        if phase.steps.is_none() {
            errors.push(format!(
                "phase `{}` names pod type `{}`, which the spec does not have",
                phase.spec.name, phase.spec.pod
            ));
        }
    }
    let phases: Vec<PhaseStatus> = walked
        .iter()
        .map(|w| phase_status(&plan.spec.name, w, input.tasks))
        .collect();
    DerivedPlan {
        status: PlanStatus {
            name: plan.spec.name.clone(),
            status: work.status,
            strategy: plan.spec.strategy.as_str().to_string(),
            phases,
            errors,
            parameters: input
                .run
                .filter(|r| r.started)
                .map(|r| r.parameters.clone())
                .unwrap_or_default(),
            interrupted: input.overrides.is_any_interrupted(&plan.spec.name),
        },
        work,
    }
}

fn phase_status(plan: &str, w: &Walked<'_>, tasks: &BTreeMap<String, TaskRecord>) -> PhaseStatus {
    let statuses: Vec<Status> = w
        .states
        .iter()
        .zip(&w.releases)
        .map(|(s, r)| step_status(s, r))
        .collect();
    // What a pending step waits for, found in one pass (phases have thousands of steps): the
    // phase's step under way, and the first unfinished step of each pod instance.
    let under_way = w
        .steps
        .iter()
        .zip(&statuses)
        .find(|(_, s)| !matches!(s, Status::Pending | Status::Complete))
        .map(|(step, _)| step.name.as_str());
    let mut first_of_pod: HashMap<&PodInstanceName, &str> = HashMap::new();
    let steps: Vec<StepStatus> = w
        .steps
        .iter()
        .zip(&w.states)
        .zip(&w.releases)
        .zip(&statuses)
        .map(|(((step, state), rel), status)| {
            let message = match (state, rel) {
                (StepState::NeedsLaunch { .. }, Release::Pending) => {
                    let before = first_of_pod.get(&step.def.pod_instance).copied();
                    pending_message(w, before, under_way)
                }
                (StepState::NeedsLaunch { .. }, Release::Waiting(m)) if m == INTERRUPTED => {
                    format!("interrupted: `cairn plan continue {plan}` lets it start")
                }
                _ => step_message(step, state, rel, tasks),
            };
            if *state != StepState::Complete {
                first_of_pod
                    .entry(&step.def.pod_instance)
                    .or_insert(step.name.as_str());
            }
            StepStatus {
                name: step.name.clone(),
                status: *status,
                message,
            }
        })
        .collect();
    PhaseStatus {
        name: w.phase.spec.name.clone(),
        status: Status::aggregate(statuses),
        strategy: w.phase.spec.strategy.as_str().to_string(),
        steps,
    }
}

/// Why a step whose turn has not come waits: an earlier phase of a serial plan, an earlier
/// step of its own pod, or the step under way in a serial phase.
fn pending_message(w: &Walked<'_>, own_pod: Option<&str>, under_way: Option<&str>) -> String {
    if let Some(phase) = w.blocked_by {
        return format!("waiting for phase {phase} to complete (the plan is serial)");
    }
    if let Some(step) = own_pod {
        return format!("waiting for {step}, an earlier step of its pod");
    }
    match under_way {
        Some(step) => format!(
            "waiting for {step} (the phase is {})",
            w.phase.spec.strategy.as_str()
        ),
        None => format!(
            "waiting for its turn (the phase is {})",
            w.phase.spec.strategy.as_str()
        ),
    }
}

fn step_status(state: &StepState, rel: &Release) -> Status {
    match (state, rel) {
        (StepState::Complete, _) => Status::Complete,
        (StepState::Error(_), _) => Status::Error,
        (StepState::InFlight(s, _), _) => *s,
        (StepState::Held(_), _) => Status::Waiting,
        (StepState::NeedsLaunch { .. }, Release::Released) => Status::Prepared,
        (StepState::NeedsLaunch { .. }, Release::Pending) => Status::Pending,
        (StepState::NeedsLaunch { .. }, Release::Waiting(_)) => Status::Waiting,
    }
}

fn step_message(
    step: &ExpandedStep,
    state: &StepState,
    rel: &Release,
    tasks: &BTreeMap<String, TaskRecord>,
) -> String {
    match (state, rel) {
        (StepState::Complete, _) | (StepState::NeedsLaunch { .. }, Release::Pending) => {
            String::new()
        }
        (StepState::Error(m), _) | (StepState::Held(m), _) => m.clone(),
        (StepState::InFlight(_, note), _) => note.message(&step.task_names, tasks),
        (StepState::NeedsLaunch { kills, .. }, Release::Released) if !kills.is_empty() => {
            let names: Vec<&str> = kills.iter().map(|(t, _)| t.as_str()).collect();
            format!("killing {} (older config) first", names.join(", "))
        }
        (StepState::NeedsLaunch { .. }, Release::Released) => "waiting for an offer".into(),
        (StepState::NeedsLaunch { .. }, Release::Waiting(m)) => m.clone(),
    }
}
