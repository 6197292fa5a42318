//! The spec's plans beyond deploy and update: idle until started, started with parameters that
//! reach the tasks' environment, run beside the pod on its own agent and executor, run again on
//! a later start, stopped, force-completed and restarted, and all of it kept across a restart.

mod common;

use std::collections::BTreeMap;

use cairn_core::plan::{Command, Status};
use cairn_core::spec::*;
use cairn_proto::TaskState;
use common::*;

/// Pod `hello` x2 with a pod volume: `server` runs, `sidecar` (FINISH) is what plan `sidecar`
/// runs, one step per instance, in parallel.
fn spec() -> ServiceSpec {
    let task = |n: &str| TaskSpec::builder(n).cpus(0.1).memory_mb(32);
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("hello")
                .count(2)
                .volume(VolumeSpec::root("data", 100))
                .task(task("server").cmd("sleep 1000"))
                .task(
                    task("sidecar")
                        .goal(Goal::Finish)
                        .cmd("echo $PLAN_PARAM > data/out")
                        .env("PLAN_PARAM", "from-the-spec"),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("hello", "hello").step(StepSpec::default_for([["server"]]))),
        )
        .plan(
            PlanSpec::new("sidecar").phase(
                PhaseSpec::new("run", "hello")
                    .strategy(Strategy::Parallel)
                    .step(StepSpec::default_for([["sidecar"]])),
            ),
        )
        .build()
        .unwrap()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn start(sim: &mut Sim, pairs: &[(&str, &str)]) {
    let now = sim.now;
    sim.sched
        .handle_command(
            now,
            Command::Start {
                plan: "sidecar".into(),
                parameters: params(pairs),
            },
        )
        .unwrap();
    sim.drain();
}

fn command(sim: &mut Sim, c: Command) -> Result<(), String> {
    let now = sim.now;
    let r = sim.sched.handle_command(now, c).map_err(|e| e.0);
    sim.drain();
    r
}

/// The sidecar plan's status and its steps' statuses and messages.
fn sidecar(sim: &Sim) -> (Status, Vec<(String, Status, String)>) {
    let plans = sim.sched.plans();
    let plan = plans
        .iter()
        .find(|p| p.name == "sidecar")
        .expect("the sidecar plan is listed");
    let steps = plan
        .phases
        .iter()
        .flat_map(|p| &p.steps)
        .map(|s| (s.name.clone(), s.status, s.message.clone()))
        .collect();
    (plan.status, steps)
}

/// Offers from every agent; the task names launched.
fn offer_all(sim: &mut Sim) -> Vec<String> {
    let mark = sim.calls.len();
    let all: Vec<usize> = (0..sim.agents.len()).collect();
    sim.offers(&all);
    sim.launched_since(mark)
}

fn env(sim: &Sim, task: &str, key: &str) -> Option<String> {
    sim.info(task)
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .and_then(|e| e.variables.iter().find(|v| v.name == key))
        .and_then(|v| v.value.clone())
}

fn deployed() -> Sim {
    let mut sim = Sim::new(spec(), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim
}

#[test]
fn a_plan_beyond_deploy_is_listed_and_idle_until_started_and_launches_nothing() {
    let mut sim = deployed();
    let (status, steps) = sidecar(&sim);
    assert_eq!(status, Status::Waiting);
    assert_eq!(steps.len(), 2);
    for (name, status, message) in &steps {
        assert_eq!(*status, Status::Waiting, "{name}");
        assert!(message.contains("cairn plan start sidecar"), "{message}");
    }
    assert_eq!(offer_all(&mut sim), Vec::<String>::new());
}

#[test]
fn a_started_plan_runs_its_task_in_the_pods_executor_with_the_parameters_then_completes() {
    let mut sim = deployed();
    let server = sim.info("hello-0-server");
    start(&mut sim, &[("PLAN_PARAM", "first")]);
    let mut launched = offer_all(&mut sim);
    launched.sort();
    assert_eq!(launched, ["hello-0-sidecar", "hello-1-sidecar"]);
    let side = sim.info("hello-0-sidecar");
    assert_eq!(side.agent_id, server.agent_id, "on the pod's own agent");
    assert_eq!(
        env(&sim, "hello-0-sidecar", "PLAN_PARAM").as_deref(),
        Some("first"),
        "the parameter wins over the spec's value"
    );
    // In the pod's running executor: its volumes are the pod's.
    let executor_of = |name: &str| {
        sim.calls
            .iter()
            .filter_map(|c| c.accept.as_ref())
            .flat_map(|a| &a.operations)
            .filter_map(|o| o.launch_group.as_ref())
            .find(|lg| lg.task_group.tasks.iter().any(|t| t.name == name))
            .map(|lg| lg.executor.executor_id.clone())
    };
    assert_eq!(
        executor_of("hello-0-sidecar"),
        executor_of("hello-0-server")
    );
    assert_eq!(sidecar(&sim).0, Status::InProgress);
    sim.status("hello-0-sidecar", TaskState::Finished);
    sim.status("hello-1-sidecar", TaskState::Finished);
    assert_eq!(sidecar(&sim).0, Status::Complete);
    assert_eq!(offer_all(&mut sim), Vec::<String>::new(), "nothing more");
}

#[test]
fn a_completed_plan_started_again_runs_its_tasks_again_with_the_new_parameters() {
    let mut sim = deployed();
    start(&mut sim, &[("PLAN_PARAM", "first")]);
    for name in offer_all(&mut sim) {
        sim.status(&name, TaskState::Finished);
    }
    assert_eq!(sidecar(&sim).0, Status::Complete);
    let first = sim.info("hello-0-sidecar").task_id;

    start(&mut sim, &[("PLAN_PARAM", "second")]);
    assert_eq!(sidecar(&sim).0, Status::InProgress);
    let mut launched = offer_all(&mut sim);
    launched.sort();
    assert_eq!(launched, ["hello-0-sidecar", "hello-1-sidecar"]);
    assert_ne!(sim.info("hello-0-sidecar").task_id, first);
    assert_eq!(
        env(&sim, "hello-1-sidecar", "PLAN_PARAM").as_deref(),
        Some("second")
    );
}

#[test]
fn a_start_of_a_plan_in_progress_with_other_parameters_is_refused_and_changes_nothing() {
    let mut sim = deployed();
    start(&mut sim, &[("PLAN_PARAM", "first")]);
    let batches = sim.batches.len();
    let again = command(
        &mut sim,
        Command::Start {
            plan: "sidecar".into(),
            parameters: params(&[("PLAN_PARAM", "first")]),
        },
    );
    assert_eq!(again, Ok(()), "the same start again is nothing new");
    let other = command(
        &mut sim,
        Command::Start {
            plan: "sidecar".into(),
            parameters: params(&[("PLAN_PARAM", "other")]),
        },
    )
    .unwrap_err();
    assert!(
        other.contains("in progress with parameters PLAN_PARAM=first")
            && other.contains("cairn plan stop sidecar"),
        "{other}"
    );
    assert_eq!(sim.batches.len(), batches, "nothing written");
}

#[test]
fn bad_plan_commands_are_refused_naming_what_and_change_nothing() {
    let mut sim = deployed();
    let batches = sim.batches.len();
    let plans_before = sim.sched.plans();
    let cases = [
        (
            Command::Start {
                plan: "backup".into(),
                parameters: params(&[]),
            },
            "no plan `backup` (plans: deploy, sidecar)",
        ),
        (
            Command::Start {
                plan: "sidecar".into(),
                parameters: params(&[("1BAD", "x")]),
            },
            "parameter `1BAD` is not an environment variable name",
        ),
        (
            Command::Start {
                plan: "deploy".into(),
                parameters: params(&[]),
            },
            "the `deploy` plan runs by itself",
        ),
        (
            Command::Continue {
                plan: "sidecar".into(),
                phase: None,
            },
            "plan `sidecar` is idle: `cairn plan start sidecar [-p KEY=VALUE]...` starts it",
        ),
        (
            Command::Stop {
                plan: "recovery".into(),
            },
            "plan `recovery` is cairn's own",
        ),
        (
            Command::ForceComplete {
                plan: "sidecar".into(),
                phase: Some("nope".into()),
                step: None,
            },
            "plan `sidecar` has no phase `nope` (phases: run)",
        ),
        (
            Command::RestartPlan {
                plan: "sidecar".into(),
                phase: Some("run".into()),
                step: Some("hello-7:[sidecar]".into()),
            },
            "phase `run` of plan `sidecar` has no step `hello-7:[sidecar]` (steps: hello-0:[sidecar], hello-1:[sidecar])",
        ),
        (
            Command::ForceComplete {
                plan: "sidecar".into(),
                phase: None,
                step: Some("hello-0:[sidecar]".into()),
            },
            "step `hello-0:[sidecar]` needs its phase",
        ),
    ];
    for (c, says) in cases {
        let why = command(&mut sim, c.clone()).unwrap_err();
        assert!(why.contains(says), "{c:?}: {why}");
    }
    assert_eq!(sim.batches.len(), batches, "nothing written");
    assert_eq!(sim.sched.plans(), plans_before, "nothing changed");
    assert_eq!(offer_all(&mut sim), Vec::<String>::new(), "nothing started");
}

#[test]
fn a_step_whose_task_keeps_failing_is_force_completed_and_the_plan_completes() {
    let mut sim = deployed();
    start(&mut sim, &[]);
    for name in offer_all(&mut sim) {
        if name == "hello-1-sidecar" {
            sim.status(&name, TaskState::Finished);
        } else {
            sim.status(&name, TaskState::Failed);
        }
    }
    // A FINISH task that failed is launched again, and fails again.
    assert_eq!(offer_all(&mut sim), ["hello-0-sidecar"]);
    sim.status("hello-0-sidecar", TaskState::Failed);
    assert_eq!(sidecar(&sim).0, Status::InProgress);

    command(
        &mut sim,
        Command::ForceComplete {
            plan: "sidecar".into(),
            phase: Some("run".into()),
            step: Some("hello-0:[sidecar]".into()),
        },
    )
    .unwrap();
    assert_eq!(sidecar(&sim).0, Status::Complete);
    assert_eq!(offer_all(&mut sim), Vec::<String>::new());

    // A restart of the step undoes it: the task runs again.
    command(
        &mut sim,
        Command::RestartPlan {
            plan: "sidecar".into(),
            phase: Some("run".into()),
            step: Some("hello-0:[sidecar]".into()),
        },
    )
    .unwrap();
    assert_eq!(offer_all(&mut sim), ["hello-0-sidecar"]);
    let (_, steps) = sidecar(&sim);
    assert_eq!(steps[1].1, Status::Complete, "the other step stays done");
}

#[test]
fn stop_returns_a_plan_to_idle_and_a_later_start_kills_the_old_run_first() {
    let mut sim = deployed();
    start(&mut sim, &[("PLAN_PARAM", "first")]);
    offer_all(&mut sim);
    sim.status("hello-0-sidecar", TaskState::Running);
    let old = sim.info("hello-0-sidecar").task_id;
    command(
        &mut sim,
        Command::Stop {
            plan: "sidecar".into(),
        },
    )
    .unwrap();
    let (status, steps) = sidecar(&sim);
    assert_eq!(status, Status::Waiting, "{steps:?}");
    assert_eq!(offer_all(&mut sim), Vec::<String>::new());

    let mark = sim.calls.len();
    start(&mut sim, &[("PLAN_PARAM", "second")]);
    let mut killed: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    killed.sort();
    let mut old_run = vec![old.value.clone(), sim.info("hello-1-sidecar").task_id.value];
    old_run.sort();
    assert_eq!(killed, old_run, "the old run's tasks are killed first");
    sim.status("hello-0-sidecar", TaskState::Killed);
    sim.status("hello-1-sidecar", TaskState::Killed);
    let mut launched = offer_all(&mut sim);
    launched.sort();
    assert_eq!(launched, ["hello-0-sidecar", "hello-1-sidecar"]);
}

#[test]
fn a_restarted_scheduler_keeps_a_started_plan_its_parameters_and_force_completes() {
    let mut sim = deployed();
    start(&mut sim, &[("PLAN_PARAM", "kept")]);
    command(
        &mut sim,
        Command::ForceComplete {
            plan: "sidecar".into(),
            phase: Some("run".into()),
            step: Some("hello-1:[sidecar]".into()),
        },
    )
    .unwrap();
    sim.restart(spec());
    sim.subscribe();
    // The master confirms what runs; then the plan goes on where it was.
    for name in ["hello-0-server", "hello-1-server"] {
        let mut s = sim.status_of(name, TaskState::Running);
        s.uuid = None;
        s.source = Some(cairn_proto::Source::Master);
        s.reason = Some(cairn_proto::Reason::Reconciliation);
        sim.send_status(s);
    }
    let (_, steps) = sidecar(&sim);
    assert_eq!(steps[1].1, Status::Complete, "{steps:?}");
    assert_eq!(offer_all(&mut sim), ["hello-0-sidecar"]);
    assert_eq!(
        env(&sim, "hello-0-sidecar", "PLAN_PARAM").as_deref(),
        Some("kept")
    );
}

#[test]
fn a_stuck_deploy_step_is_force_completed_kept_across_a_restart_and_undone_by_a_plan_restart() {
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    let launched = offer_all(&mut sim);
    assert_eq!(launched.len(), 2);
    sim.ready("data-1-node");
    sim.status("data-0-node", TaskState::Error);
    assert_eq!(sim.step("data-0:[node]").0, Status::Error);
    assert!(!sim.sched.is_deployed());

    let refused = command(
        &mut sim,
        Command::RestartPlan {
            plan: "deploy".into(),
            phase: Some("data".into()),
            step: Some("data-0:[node]".into()),
        },
    )
    .unwrap_err();
    assert!(refused.contains("cairn pod restart"), "{refused}");

    command(
        &mut sim,
        Command::ForceComplete {
            plan: "deploy".into(),
            phase: Some("data".into()),
            step: Some("data-0:[node]".into()),
        },
    )
    .unwrap();
    assert_eq!(sim.step("data-0:[node]").0, Status::Complete);
    assert!(sim.sched.is_deployed());

    // Kept across a restart with the same config.
    sim.restart(node_spec(2, Strategy::Parallel));
    assert_eq!(sim.step("data-0:[node]").0, Status::Complete);

    command(
        &mut sim,
        Command::RestartPlan {
            plan: "deploy".into(),
            phase: None,
            step: None,
        },
    )
    .unwrap();
    assert_eq!(sim.step("data-0:[node]").0, Status::Error);
}

// Goal: an update that removes a plan drops its state with the new target, so a later spec
// bringing back a plan of that name finds it idle, not started with the old run's parameters.
// Method: start `sidecar`, restart with a spec without it (a new target), look at the batch
// that moves the target and at the stored plan states; bring the plan back: idle, nothing
// launched.
#[test]
fn a_plan_removed_by_an_update_loses_its_state_with_the_new_target_and_comes_back_idle() {
    let mut sim = deployed();
    start(&mut sim, &[("PLAN_PARAM", "old")]);
    let mut without = spec();
    without.plans.retain(|p| p.name != "sidecar");
    let mark = sim.batches.len();
    sim.restart(without);
    let target = cairn_core::store::CONFIG_TARGET;
    let plan_runs = cairn_core::store::property_key(cairn_core::plan::runs::PLAN_RUNS_PROPERTY);
    let put = |batch: &cairn_core::store::WriteBatch, key: &str| {
        batch.ops.iter().find_map(|op| match op {
            cairn_core::store::WriteOp::Put { key: k, value } if k == key => Some(value.clone()),
            _ => None,
        })
    };
    let moved = sim.batches[mark..]
        .iter()
        .find(|b| put(b, target).is_some())
        .expect("the new target is written");
    let runs = put(moved, &plan_runs).expect("the plans' states go in the target's batch");
    let runs = cairn_core::plan::PlanRuns::from_stored(Some(&runs));
    assert!(!runs.plans.contains_key("sidecar"), "{runs:?}");
    let stored = cairn_core::store::Store::load(&sim.store).unwrap();
    let stored = cairn_core::store::StoredState::from_entries(&stored).unwrap();
    let kept = cairn_core::plan::PlanRuns::from_stored(
        stored
            .properties
            .get(cairn_core::plan::runs::PLAN_RUNS_PROPERTY)
            .map(Vec::as_slice),
    );
    assert!(kept.plans.is_empty(), "{kept:?}");

    sim.restart(spec());
    let (status, steps) = sidecar(&sim);
    assert_eq!(status, Status::Waiting, "{steps:?}");
    assert_eq!(offer_all(&mut sim), Vec::<String>::new(), "nothing started");
}

/// Pod `hello` x1: the deploy plan runs `server`; plan `watch` runs `agent`, a RUNNING task
/// (essential, as tasks are by default: its failure takes the pod down).
fn watch_spec() -> ServiceSpec {
    let task = |n: &str| {
        TaskSpec::builder(n)
            .cpus(0.1)
            .memory_mb(32)
            .cmd("sleep 1000")
    };
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("hello")
                .count(1)
                .task(task("server"))
                .task(task("agent").env("LEVEL", "from-the-spec")),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("hello", "hello").step(StepSpec::default_for([["server"]]))),
        )
        .plan(
            PlanSpec::new("watch")
                .phase(PhaseSpec::new("run", "hello").step(StepSpec::default_for([["agent"]]))),
        )
        .build()
        .unwrap()
}

// Goal: a RUNNING task a started plan launched, relaunched in place by recovery after it
// failed, comes back with its run label and its parameters: the plan does not take it for an
// older run's (no kill, no launch of its own), and the task keeps what it was started with.
// Method: start `watch` with LEVEL=debug, fail its task (essential: the pod's server is killed
// and relaunched with it), let recovery relaunch both; compare labels and environments.
#[test]
fn a_plan_s_running_task_relaunched_by_recovery_keeps_its_run_and_parameters() {
    let mut sim = Sim::new(watch_spec(), 1, AGENT);
    sim.subscribe();
    sim.deploy_all();
    command(
        &mut sim,
        Command::Start {
            plan: "watch".into(),
            parameters: params(&[("LEVEL", "debug"), ("ZONE_HINT", "a")]),
        },
    )
    .unwrap();
    assert_eq!(offer_all(&mut sim), ["hello-0-agent"]);
    sim.ready("hello-0-agent");
    let label = |sim: &Sim, task: &str, key: &str| {
        cairn_core::labels::task_label(&sim.info(task), key).map(str::to_string)
    };
    let started = label(&sim, "hello-0-agent", cairn_core::labels::PLAN_RUN);
    assert!(started.is_some());

    sim.status("hello-0-agent", TaskState::Failed);
    sim.status("hello-0-server", TaskState::Killed);
    sim.advance(3);
    let mark = sim.calls.len();
    let mut relaunched = offer_all(&mut sim);
    relaunched.sort();
    assert_eq!(relaunched, ["hello-0-agent", "hello-0-server"]);
    assert_eq!(
        label(&sim, "hello-0-agent", cairn_core::labels::PLAN_RUN),
        started,
        "the relaunch carries the run it was started in"
    );
    assert_eq!(
        env(&sim, "hello-0-agent", "LEVEL").as_deref(),
        Some("debug"),
        "and its parameters, over the spec's value"
    );
    assert_eq!(
        env(&sim, "hello-0-agent", "ZONE_HINT").as_deref(),
        Some("a")
    );
    assert_eq!(
        label(&sim, "hello-0-server", cairn_core::labels::PLAN_RUN),
        None,
        "the deploy plan's task carries none"
    );
    assert_eq!(env(&sim, "hello-0-server", "LEVEL"), None);

    sim.ready("hello-0-agent");
    sim.ready("hello-0-server");
    let plans = sim.sched.plans();
    let watch = plans.iter().find(|p| p.name == "watch").unwrap();
    assert_eq!(watch.status, Status::Complete, "{watch:?}");
    assert_eq!(
        offer_all(&mut sim),
        Vec::<String>::new(),
        "nothing launched again"
    );
    let kills = sim
        .calls_since(mark)
        .iter()
        .filter(|c| c.kill.is_some())
        .count();
    assert_eq!(kills, 0, "the plan killed nothing");
}
