//! Deploy scenarios: strategies, custom steps, readiness, goals, placement spreading.

mod common;

use cairn_core::plan::{Command, Status};
use cairn_core::spec::*;
use cairn_proto::scheduler::CallType;
use cairn_proto::{OperationType, TaskState};
use common::*;

#[test]
fn serial_deploy_launches_one_pod_at_a_time_and_the_next_only_after_running_and_ready() {
    // Goal: serial means one pod at a time, gated on RUNNING + readiness. Method: offer every
    // agent each round; check what is launched after each status.
    let mut sim = Sim::new(node_spec(3, Strategy::Serial), 3, AGENT);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(sim.step("data-0:[node]").0, Status::Starting);
    assert_eq!(sim.step("data-1:[node]").0, Status::Pending);

    sim.status("data-0-node", TaskState::Running);
    assert_eq!(sim.step("data-0:[node]").0, Status::Started);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert!(
        sim.launched_since(mark).is_empty(),
        "data-1 waits for data-0's readiness"
    );

    sim.ready("data-0-node");
    assert_eq!(sim.step("data-0:[node]").0, Status::Complete);
    assert_eq!(sim.step("data-1:[node]").0, Status::Prepared);
    let mark = sim.calls.len();
    sim.advance(6);
    sim.offers(&[0, 1, 2]);
    assert_eq!(sim.launched_since(mark), vec!["data-1-node"]);
    sim.ready("data-1-node");
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(sim.launched_since(mark), vec!["data-2-node"]);
    sim.ready("data-2-node");
    assert!(sim.sched.is_deployed());
}

#[test]
fn parallel_deploy_launches_every_pod_in_one_cycle() {
    // Goal: parallel releases every step at once. Method: one batch of 3 offers.
    let mut sim = Sim::new(node_spec(3, Strategy::Parallel), 3, AGENT);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(launched, vec!["data-0-node", "data-1-node", "data-2-node"]);
    assert_eq!(
        sim.count_since(mark, CallType::Accept),
        3,
        "spread: one pod per agent"
    );
    for n in ["data-0-node", "data-1-node", "data-2-node"] {
        sim.ready(n);
    }
    assert!(sim.sched.is_deployed());
}

#[test]
fn serial_canary_waits_for_continue_before_the_first_step_and_again_before_the_rest() {
    // Goal: canary gates. Method: offers before and after each `continue`.
    let mut sim = Sim::new(node_spec(3, Strategy::SerialCanary), 3, AGENT);
    sim.subscribe();
    assert_eq!(sim.step("data-0:[node]").0, Status::Waiting);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert!(sim.launched_since(mark).is_empty());
    assert_eq!(
        sim.last_decline_refuse(),
        3600.0,
        "nothing is released: long decline"
    );

    let now = sim.now;
    sim.sched
        .handle_command(
            now,
            Command::Continue {
                plan: "deploy".into(),
                phase: None,
            },
        )
        .unwrap();
    sim.drain();
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    sim.ready("data-0-node");
    assert_eq!(sim.step("data-1:[node]").0, Status::Waiting);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert!(
        sim.launched_since(mark).is_empty(),
        "the rest wait for a second continue"
    );

    let now = sim.now;
    sim.sched
        .handle_command(
            now,
            Command::Continue {
                plan: "deploy".into(),
                phase: Some("data".into()),
            },
        )
        .unwrap();
    sim.drain();
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(
        sim.launched_since(mark),
        vec!["data-1-node"],
        "then serially"
    );
    let refused = sim
        .sched
        .handle_command(
            now,
            Command::Continue {
                plan: "nope".into(),
                phase: None,
            },
        )
        .unwrap_err();
    assert!(refused.0.contains("no plan `nope`"), "{refused}");
}

#[test]
fn parallel_canary_releases_the_rest_together_after_the_second_continue() {
    // Goal: parallel-canary runs the rest in parallel. Method: two continues, one batch.
    let mut sim = Sim::new(node_spec(3, Strategy::ParallelCanary), 3, AGENT);
    sim.subscribe();
    let go = |sim: &mut Sim| {
        let now = sim.now;
        sim.sched
            .handle_command(
                now,
                Command::Continue {
                    plan: "deploy".into(),
                    phase: None,
                },
            )
            .unwrap();
        sim.drain();
    };
    go(&mut sim);
    sim.offers(&[0, 1, 2]);
    sim.ready("data-0-node");
    go(&mut sim);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(launched, vec!["data-1-node", "data-2-node"]);
}

#[test]
fn an_interrupted_plan_starts_nothing_new_until_continued() {
    // Goal: interrupt holds released steps. Method: interrupt, offer, continue, offer.
    let mut sim = Sim::new(node_spec(2, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    let now = sim.now;
    sim.sched
        .handle_command(
            now,
            Command::Interrupt {
                plan: "deploy".into(),
                phase: None,
            },
        )
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.step("data-0:[node]"),
        (
            Status::Waiting,
            "interrupted: `cairn plan continue deploy` lets it start".into()
        )
    );
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert!(sim.launched_since(mark).is_empty());
    sim.sched
        .handle_command(
            now,
            Command::Continue {
                plan: "deploy".into(),
                phase: None,
            },
        )
        .unwrap();
    sim.drain();
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
}

fn init_server_spec() -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("db")
                .count(2)
                .volume(VolumeSpec::root("data", 50))
                .task(
                    TaskSpec::builder("init")
                        .goal(Goal::Once)
                        .cmd("./init")
                        .cpus(0.5)
                        .memory_mb(64),
                )
                .task(
                    TaskSpec::builder("server")
                        .cmd("./serve")
                        .cpus(1.0)
                        .memory_mb(256),
                ),
        )
        .plan(
            PlanSpec::new("deploy").phase(
                PhaseSpec::new("db", "db")
                    .strategy(Strategy::Parallel)
                    .step(StepSpec::default_for([["init"], ["server"]])),
            ),
        )
        .build()
        .unwrap()
}

#[test]
fn custom_steps_run_init_to_completion_then_server_on_the_same_agent_and_volume() {
    // Goal: `[[init],[server]]` makes two ordered steps per instance; the second reuses the
    // pod's executor reservations and volume. Method: parallel phase, finish init, offer again.
    let mut sim = Sim::new(init_server_spec(), 2, AGENT);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(
        launched,
        vec!["db-0-init", "db-1-init"],
        "server waits for its init"
    );
    assert_eq!(sim.step("db-0:[server]").0, Status::Pending);

    let volume = |sim: &Sim, task: &str| {
        let info = sim.info(task);
        info.executor
            .unwrap()
            .resources
            .iter()
            .find_map(|r| r.persistence_id().map(str::to_string))
            .unwrap()
    };
    let init_volume = volume(&sim, "db-0-init");
    let init_agent = sim.info("db-0-init").agent_id;
    sim.status("db-0-init", TaskState::Running);
    sim.status("db-0-init", TaskState::Finished);
    assert_eq!(sim.step("db-0:[init]").0, Status::Complete);
    assert_eq!(sim.step("db-0:[server]").0, Status::Prepared);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(sim.launched_since(mark), vec!["db-0-server"]);
    assert_eq!(sim.info("db-0-server").agent_id, init_agent);
    assert_eq!(volume(&sim, "db-0-server"), init_volume, "same pod volume");
    assert!(
        !sim.operations_since(mark).contains(&OperationType::Create),
        "the volume is not created twice"
    );
}

#[test]
fn a_finish_task_completes_on_task_finished_and_is_retried_when_it_fails() {
    // Goal: FINISH goal semantics. Method: fail once (relaunch in place), then finish.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("job").task(
                TaskSpec::builder("run")
                    .goal(Goal::Finish)
                    .cmd("./job")
                    .cpus(0.5)
                    .memory_mb(64),
            ),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("job-0-run", TaskState::Running);
    assert_eq!(sim.step("job-0:[run]").0, Status::Started);
    let first = sim.info("job-0-run").task_id;
    sim.status("job-0-run", TaskState::Failed);
    assert_eq!(sim.step("job-0:[run]").0, Status::Prepared);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["job-0-run"]);
    assert_ne!(
        sim.info("job-0-run").task_id,
        first,
        "task ids are never reused"
    );
    assert_eq!(
        sim.operations_since(mark),
        vec![OperationType::LaunchGroup],
        "relaunched in place on its reservations"
    );
    sim.status("job-0-run", TaskState::Finished);
    assert!(sim.sched.is_deployed());
}

#[test]
fn a_once_task_that_finished_is_not_run_again_after_a_config_change() {
    // Goal: ONCE means once. Method: finish init, restart with a changed server command.
    let mut sim = Sim::new(init_server_spec(), 2, AGENT);
    sim.subscribe();
    sim.deploy_all_with_init();
    let changed = {
        let mut s = init_server_spec();
        s.pods[0].tasks[1].cmd = "./serve --v2".into();
        s
    };
    sim.restart(changed);
    sim.subscribe();
    for t in ["db-0-server", "db-1-server"] {
        sim.status(t, TaskState::Running);
    }
    assert_eq!(sim.step("db-0:[init]").0, Status::Complete);
    assert_eq!(sim.step("db-1:[init]").0, Status::Complete);
    assert_eq!(sim.step("db-0:[server]").0, Status::Prepared);
}

trait InitDeploy {
    fn deploy_all_with_init(&mut self);
}

impl InitDeploy for Sim {
    /// Deploys init_server_spec: init runs and finishes, then server runs.
    fn deploy_all_with_init(&mut self) {
        self.offers(&[0, 1]);
        for i in 0..2 {
            self.status(&format!("db-{i}-init"), TaskState::Finished);
        }
        self.advance(6);
        self.offers(&[0, 1]);
        for i in 0..2 {
            self.status(&format!("db-{i}-server"), TaskState::Running);
        }
        assert!(self.sched.is_deployed(), "{:#?}", self.sched.plans());
    }
}

#[test]
fn hostname_unique_spreads_three_pods_over_three_agents() {
    // Goal: placement counts this cycle's decisions. Method: three pods, `hostname:UNIQUE`,
    // one batch with two offers from each of three agents... and big agents that could hold
    // all three pods.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("data")
                .count(3)
                .placement("hostname:UNIQUE")
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(1.0)
                        .memory_mb(256),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 3, "cpus:16;mem:65536;disk:10000;ports:[31000-31100]");
    sim.subscribe();
    sim.offers(&[0, 1, 2]);
    let mut hosts: Vec<String> = sim
        .sched
        .pods()
        .iter()
        .map(|p| p.hostname.clone().unwrap())
        .collect();
    hosts.sort();
    assert_eq!(hosts, vec!["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
}

#[test]
fn hostname_unique_refuses_an_agent_that_already_has_an_instance_and_says_why() {
    // Goal: the decision record names the placement rule. Method: two pods, one agent.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("data")
                .count(2)
                .placement("hostname:UNIQUE")
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(1.0)
                        .memory_mb(256),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 1, "cpus:16;mem:65536;disk:10000");
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark).len(), 1);
    sim.advance(6);
    sim.offers(&[0]);
    let last = sim.sched.decisions().pop().unwrap();
    assert_eq!(last.outcome, "declined");
    let why = last.evaluations[0].failure().unwrap();
    assert!(
        why.starts_with("placement: hostname:UNIQUE: data-")
            && why.ends_with("is already on hostname 10.0.0.1"),
        "{why}"
    );
    assert_eq!(
        sim.last_decline_refuse(),
        5.0,
        "a step is waiting: short decline"
    );
}

#[test]
fn a_failed_task_joins_its_running_siblings_executor() {
    // Goal: a pod whose executor still runs a sibling gets the relaunched task in that same
    // executor, on the task's own reservations. Method: two tasks in one step, fail the
    // non-essential one (an essential one takes its pod down: see tests/recovery.rs).
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("app")
                .task(
                    TaskSpec::builder("main")
                        .cmd("./main")
                        .cpus(0.5)
                        .memory_mb(64)
                        .essential(false),
                )
                .task(
                    TaskSpec::builder("sidecar")
                        .cmd("./side")
                        .cpus(0.1)
                        .memory_mb(32),
                ),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("app-0-main", TaskState::Running);
    sim.status("app-0-sidecar", TaskState::Running);
    assert!(sim.sched.is_deployed());
    let executor = sim.info("app-0-sidecar").executor.unwrap();
    sim.status("app-0-main", TaskState::Failed);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-main"]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
    assert_eq!(
        sim.info("app-0-main").executor.unwrap(),
        executor,
        "the same executor"
    );
}

#[test]
fn tasks_sharing_a_resource_set_reuse_its_reservations_one_after_the_other() {
    // Goal: a resource set is reserved once and serves its tasks in turn. Method: init and
    // server share `node-resources`; server launches with LAUNCH_GROUP only, on init's
    // resource ids.
    let spec =
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("db")
                    .resource_set(
                        ResourceSetSpec::new("node-resources")
                            .cpus(1.0)
                            .memory_mb(256),
                    )
                    .task(
                        TaskSpec::builder("init")
                            .goal(Goal::Once)
                            .cmd("./init")
                            .resource_set("node-resources"),
                    )
                    .task(
                        TaskSpec::builder("server")
                            .cmd("./serve")
                            .resource_set("node-resources"),
                    ),
            )
            .plan(PlanSpec::new("deploy").phase(
                PhaseSpec::new("db", "db").step(StepSpec::default_for([["init"], ["server"]])),
            ))
            .build()
            .unwrap();
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let ids = |i: cairn_proto::TaskInfo| -> Vec<String> {
        i.resources
            .iter()
            .filter_map(|r| cairn_core::labels::resource_id(r).map(str::to_string))
            .collect()
    };
    let init_ids = ids(sim.info("db-0-init"));
    assert_eq!(init_ids.len(), 2, "cpus and mem of the set");
    sim.status("db-0-init", TaskState::Finished);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["db-0-server"]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
    assert_eq!(ids(sim.info("db-0-server")), init_ids);
}

#[test]
fn a_failing_readiness_check_holds_the_serial_deploy_showing_the_checks_last_output() {
    // Goal: a step is held at a failing readiness check and says why, in the check's words,
    // also after a restart from the store. Method: RUNNING with a failed check and a message,
    // offers, restart, offers again.
    let spec = node_spec(3, Strategy::Serial);
    let mut sim = Sim::new(spec.clone(), 3, AGENT);
    sim.subscribe();
    sim.offers(&[0, 1, 2]);
    let mut failed = sim.status_of("data-0-node", TaskState::Running);
    failed.check_status = Some(cairn_proto::CheckStatusInfo {
        type_: Some(cairn_proto::CheckType::Command),
        command: Some(cairn_proto::CheckStatusCommand { exit_code: Some(1) }),
        ..Default::default()
    });
    failed.message = Some("exit 1: Mode: looking".into());
    sim.send_status(failed);
    let held = (
        Status::Started,
        "data-0-node is TASK_RUNNING, not ready: exit 1: Mode: looking".to_string(),
    );
    assert_eq!(sim.step("data-0:[node]"), held);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert!(sim.launched_since(mark).is_empty(), "data-1 waits");

    sim.restart(spec);
    sim.subscribe();
    assert_eq!(sim.step("data-0:[node]"), held, "the output is stored");
}
