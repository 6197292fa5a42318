//! The takeover check (`Scheduler::handle_master_state`): a scheduler whose store lost its
//! framework id or a task record, or whose framework was torn down, stops with what to do
//! instead of deploying the service a second time; the operator's answer (`--adopt-framework`,
//! `--force`, `cairn uninstall`) then goes on without duplicating anything.

mod common;

use cairn_core::scheduler::{SchedulerConfig, TakeoverChoice, TakeoverRefusal};
use cairn_core::spec::Strategy;
use cairn_core::store::{task_info_key, FRAMEWORK_ID};
use cairn_proto::master::{Executor, Framework, GetExecutors, GetFrameworks, GetState, GetTasks};
use cairn_proto::scheduler::CallType;
use cairn_proto::{FrameworkId, FrameworkInfo, OperationType, Task, TaskInfo, TaskState};
use common::*;

/// A framework of `name`/`role` as GET_FRAMEWORKS lists it.
fn framework(id: &str, name: &str, role: &str) -> Framework {
    Framework {
        framework_info: FrameworkInfo {
            id: Some(FrameworkId::new(id)),
            roles: vec![role.to_string()],
            principal: Some(format!("{name}-principal")),
            ..FrameworkInfo::new("root", name)
        },
        active: true,
        connected: true,
        ..Framework::default()
    }
}

/// A launched task as GET_TASKS lists it.
fn task_of(info: &TaskInfo, state: TaskState) -> Task {
    Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: FrameworkId::new(FRAMEWORK),
        executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
        agent_id: info.agent_id.clone(),
        state,
        resources: info.resources.clone(),
        labels: info.labels.clone(),
        check: info.check.clone(),
        ..Task::default()
    }
}

/// What the master holds: `running` and `completed` frameworks, the harness's agents, and
/// `tasks` (live) with their executors.
fn master(
    sim: &Sim,
    running: Vec<Framework>,
    completed: Vec<Framework>,
    tasks: &[TaskInfo],
) -> GetState {
    GetState {
        get_frameworks: Some(GetFrameworks {
            frameworks: running,
            completed_frameworks: completed,
        }),
        get_agents: Some(sim.get_agents()),
        get_tasks: Some(GetTasks {
            tasks: tasks
                .iter()
                .map(|t| task_of(t, TaskState::Running))
                .collect(),
            ..GetTasks::default()
        }),
        get_executors: Some(GetExecutors {
            executors: tasks
                .iter()
                .filter_map(|t| {
                    Some(Executor {
                        executor_info: t.executor.clone()?,
                        agent_id: t.agent_id.clone(),
                    })
                })
                .collect(),
            ..GetExecutors::default()
        }),
    }
}

fn ours() -> Framework {
    framework(FRAMEWORK, "svc", "svc-role")
}

const NAMES: [&str; 2] = ["data-0-node", "data-1-node"];

/// Two pods deployed on two agents, their TaskInfos.
fn deployed() -> (Sim, Vec<TaskInfo>) {
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    let infos = NAMES.iter().map(|n| sim.info(n)).collect();
    (sim, infos)
}

fn restart_with(sim: &mut Sim, takeover: TakeoverChoice) {
    let cfg = SchedulerConfig {
        takeover,
        ..config()
    };
    sim.restart_with(node_spec(2, Strategy::Parallel), cfg);
}

/// After a passed check: subscribe, hear every stored task RUNNING and ready, and offer every
/// agent; the task names launched.
fn resume(sim: &mut Sim) -> Vec<String> {
    let mark = sim.calls.len();
    sim.subscribe();
    for n in NAMES {
        if sim.sched.task_info(n).is_some() {
            sim.ready(n);
        }
    }
    sim.advance(6);
    sim.offers(&[0, 1]);
    sim.launched_since(mark)
}

#[test]
fn a_store_that_lost_its_framework_id_stops_naming_the_running_framework_and_adopting_it_resumes_without_launching(
) {
    // Goal: a deleted, emptied or garbled FrameworkID must not register a second framework
    // beside the running one (it deployed the service twice). Method: each damage, the check
    // against a master running the service's framework: refused, naming it and the way out,
    // with nothing written or sent; then `--adopt-framework` takes it over: the id is stored
    // again and no pod is launched.
    for damage in [
        None,
        Some(&b""[..]),
        Some(&b"\xff\x00"[..]),
        Some(&b"garbage-9"[..]),
    ] {
        let (mut sim, infos) = deployed();
        match damage {
            None => sim.store.entries.remove(FRAMEWORK_ID),
            Some(v) => sim.store.entries.insert(FRAMEWORK_ID.into(), v.to_vec()),
        };
        restart_with(&mut sim, TakeoverChoice::Check);
        let (batches, calls) = (sim.batches.len(), sim.calls.len());
        let state = master(&sim, vec![ours()], Vec::new(), &infos);
        let refusal = sim
            .sched
            .handle_master_state(sim.now, &state)
            .expect_err("refused");
        assert!(
            matches!(&refusal, TakeoverRefusal::FrameworkLost { running, .. } if running == &[FRAMEWORK.to_string()]),
            "{damage:?}: {refusal:?}"
        );
        let text = refusal.to_string();
        assert!(
            text.contains(&format!("--adopt-framework {FRAMEWORK}")),
            "{text}"
        );
        sim.drain();
        assert_eq!(sim.batches.len(), batches, "nothing written");
        assert_eq!(sim.calls.len(), calls, "nothing sent");

        restart_with(&mut sim, TakeoverChoice::Adopt(FRAMEWORK.into()));
        let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
        assert_eq!(report.adopted.as_deref(), Some(FRAMEWORK));
        sim.drain();
        assert_eq!(
            sim.store.entries.get(FRAMEWORK_ID).map(Vec::as_slice),
            Some(FRAMEWORK.as_bytes()),
            "the adopted id is stored"
        );
        assert_eq!(
            sim.sched.framework_info().id,
            Some(FrameworkId::new(FRAMEWORK)),
            "it subscribes as the running framework"
        );
        assert!(resume(&mut sim).is_empty(), "{damage:?}: nothing launched");
        assert!(sim.sched.is_deployed());
    }
}

#[test]
fn adopting_a_framework_that_is_not_the_service_s_or_unknown_is_refused() {
    let (mut sim, infos) = deployed();
    sim.store.entries.remove(FRAMEWORK_ID);
    restart_with(&mut sim, TakeoverChoice::Adopt("other-0001".into()));
    let state = master(
        &sim,
        vec![ours(), framework("other-0001", "kafka", "kafka-role")],
        Vec::new(),
        &infos,
    );
    let refusal = sim.sched.handle_master_state(sim.now, &state).unwrap_err();
    assert!(
        refusal.to_string().contains("`kafka`"),
        "names what it is: {refusal}"
    );
    restart_with(&mut sim, TakeoverChoice::Adopt("nope".into()));
    let refusal = sim.sched.handle_master_state(sim.now, &state).unwrap_err();
    assert!(
        refusal.to_string().contains("does not know it"),
        "{refusal}"
    );
}

#[test]
fn a_first_start_and_a_framework_the_master_forgot_pass_the_check() {
    // Goal: nothing of the service on the master is no reason to stop. Method: a fresh store
    // against an empty master; a stored id the master does not know while no framework of
    // the service runs (a master that lost its state re-registers it).
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    let state = master(&sim, Vec::new(), Vec::new(), &[]);
    sim.sched.handle_master_state(sim.now, &state).unwrap();
    let (mut sim, infos) = deployed();
    restart_with(&mut sim, TakeoverChoice::Check);
    let state = master(&sim, Vec::new(), Vec::new(), &infos);
    let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(
        sim.sched.framework_info().id,
        Some(FrameworkId::new(FRAMEWORK))
    );
}

#[test]
fn a_lost_task_record_is_rebuilt_from_the_master_and_its_pod_is_not_launched_again() {
    // Goal: with one TaskInfo deleted, that pod ran twice on two volumes. Method: delete
    // data-1-node's TaskInfo; the check rebuilds the record from GET_TASKS (same task id,
    // agent, reserved resources, executor with the pod's volume) and stores it; offers of
    // every agent launch nothing.
    let (mut sim, infos) = deployed();
    sim.store.entries.remove(&task_info_key("data-1-node"));
    restart_with(&mut sim, TakeoverChoice::Check);
    let state = master(&sim, vec![ours()], Vec::new(), &infos);
    let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
    assert_eq!(report.rebuilt, vec!["data-1-node".to_string()]);
    sim.drain();
    let rebuilt = sim.info("data-1-node");
    assert_eq!(rebuilt.task_id, infos[1].task_id);
    assert_eq!(rebuilt.agent_id, infos[1].agent_id);
    assert_eq!(rebuilt.resources, infos[1].resources);
    assert_eq!(rebuilt.executor, infos[1].executor, "with the pod's volume");
    assert!(sim
        .store
        .entries
        .contains_key(&task_info_key("data-1-node")));
    assert!(resume(&mut sim).is_empty(), "no second copy");
    assert!(sim.sched.is_deployed());
}

#[test]
fn a_lost_record_of_a_task_whose_executor_the_master_does_not_report_stops_the_start() {
    let (mut sim, infos) = deployed();
    sim.store.entries.remove(&task_info_key("data-1-node"));
    restart_with(&mut sim, TakeoverChoice::Check);
    let mut state = master(&sim, vec![ours()], Vec::new(), &infos);
    state.get_executors = None;
    let refusal = sim.sched.handle_master_state(sim.now, &state).unwrap_err();
    assert!(
        matches!(refusal, TakeoverRefusal::TaskUnrecoverable { ref name, .. } if name == "data-1-node"),
        "{refusal:?}"
    );
}

#[test]
fn reservations_of_a_pod_the_store_lost_stop_the_start_and_force_releases_them_and_deploys_afresh()
{
    // Goal: a pod whose records are gone while its reservations and volume stay on its agent
    // (its task is dead, so the master cannot rebuild it) must not be deployed a second time
    // on a fresh volume unasked. Method: data-1's task ends, its record is deleted; the check
    // refuses naming the pod; `--force` queues its reservations for release, DESTROYs and
    // UNRESERVEs them when offered, and deploys data-1 afresh.
    let (mut sim, infos) = deployed();
    sim.status("data-1-node", TaskState::Failed);
    sim.store
        .entries
        .retain(|k, _| !k.starts_with("Tasks/data-1-node"));
    restart_with(&mut sim, TakeoverChoice::Check);
    let state = master(&sim, vec![ours()], Vec::new(), &infos[..1]);
    let refusal = sim.sched.handle_master_state(sim.now, &state).unwrap_err();
    match &refusal {
        TakeoverRefusal::UnknownReservations { pods, agents, .. } => {
            assert_eq!(pods, &["data-1".to_string()]);
            assert_eq!(agents, &[infos[1].agent_id.value.clone()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(refusal.to_string().contains("--force"), "{refusal}");

    restart_with(&mut sim, TakeoverChoice::Force);
    let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
    assert!(report.released > 0, "{report:?}");
    sim.drain();
    let mark = sim.calls.len();
    sim.subscribe();
    sim.ready("data-0-node");
    sim.offers(&[0, 1]);
    let ops = sim.operations_since(mark);
    assert!(
        ops.contains(&OperationType::Destroy) && ops.contains(&OperationType::Unreserve),
        "the old volume and reservations are released: {ops:?}"
    );
    for n in sim.launched_since(mark) {
        sim.ready(&n);
    }
    sim.advance(6);
    sim.deploy_all();
    let new = sim.info("data-1-node");
    assert_ne!(new.task_id, infos[1].task_id, "deployed afresh");
}

#[test]
fn a_torn_down_framework_stops_the_start_and_uninstall_or_force_go_on_with_a_new_one() {
    // Goal: after an operator's TEARDOWN the scheduler retried forever. Method: the stored
    // framework is among the master's completed ones: refused with what to do; an uninstall
    // and `--force` drop the id (deleted from the store) and register anew, and the pods are
    // relaunched on their own reservations and volumes (force) once the master's agents show
    // them held.
    let (mut sim, infos) = deployed();
    for n in NAMES {
        sim.status(n, TaskState::Killed);
    }
    restart_with(&mut sim, TakeoverChoice::Check);
    let state = master(&sim, Vec::new(), vec![ours()], &[]);
    let refusal = sim.sched.handle_master_state(sim.now, &state).unwrap_err();
    assert!(
        matches!(refusal, TakeoverRefusal::TornDown { .. }),
        "{refusal:?}"
    );
    let text = refusal.to_string();
    assert!(
        text.contains("cairn uninstall") && text.contains("--force"),
        "{text}"
    );

    let cfg = SchedulerConfig {
        uninstall: true,
        ..config()
    };
    let mut uninstall = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    uninstall.store = sim.store.clone();
    uninstall.restart_with(node_spec(2, Strategy::Parallel), cfg);
    let report = uninstall
        .sched
        .handle_master_state(uninstall.now, &state)
        .unwrap();
    assert_eq!(report.dropped.as_deref(), Some(FRAMEWORK));

    restart_with(&mut sim, TakeoverChoice::Force);
    let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
    assert_eq!(report.dropped.as_deref(), Some(FRAMEWORK));
    sim.drain();
    assert!(!sim.store.entries.contains_key(FRAMEWORK_ID));
    assert_eq!(sim.sched.framework_info().id, None, "a new framework");
    let mark = sim.calls.len();
    sim.subscribe();
    sim.offers(&[0, 1]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(launched, NAMES);
    for (n, old) in NAMES.iter().zip(&infos) {
        let new = sim.info(n);
        assert_eq!(new.agent_id, old.agent_id, "{n} on its agent");
        assert_eq!(
            new.executor.as_ref().map(|e| &e.resources),
            old.executor.as_ref().map(|e| &e.resources),
            "{n} on its volume"
        );
    }
    assert_eq!(
        sim.count_since(mark, CallType::Accept),
        2,
        "no RESERVE or CREATE beside"
    );
    assert!(!sim.operations_since(mark).contains(&OperationType::Create));
}

#[test]
fn the_operator_s_answer_holds_for_one_check_and_a_teardown_later_stops_the_scheduler_again() {
    // Goal: `--force` answers one refusal, not every later one: a reconnecting scheduler whose
    // framework an operator tore down meanwhile must stop, not register yet another. Method:
    // force past a torn-down framework, subscribe as a new one, then that one is torn down
    // too: the next check (a reconnection) refuses.
    let (mut sim, _) = deployed();
    restart_with(&mut sim, TakeoverChoice::Force);
    let state = master(&sim, Vec::new(), vec![ours()], &[]);
    sim.sched.handle_master_state(sim.now, &state).unwrap();
    sim.drain();
    sim.event(cairn_proto::scheduler::Event::subscribed(
        FrameworkId::new("fw-2"),
        15.0,
        None,
    ));
    let later = master(
        &sim,
        Vec::new(),
        vec![ours(), framework("fw-2", "svc", "svc-role")],
        &[],
    );
    let refusal = sim.sched.handle_master_state(sim.now, &later).unwrap_err();
    assert!(
        matches!(&refusal, TakeoverRefusal::TornDown { framework_id, .. } if framework_id == "fw-2"),
        "{refusal:?}"
    );
}

#[test]
fn the_old_incarnation_of_a_replaced_pod_the_master_still_runs_is_not_rebuilt() {
    // Goal: a replacement is not undone by the rebuild. Method: data-0's agent is unreachable
    // past the permanent-failure timeout, so the pod is replaced (its record goes, its
    // reservations are queued for release); the master still lists the old task: the check
    // leaves it to reconciliation, which kills it as unknown.
    let mut sim = Sim::new(node_spec(1, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    let old = sim.info("data-0-node");
    let mut s = sim.status_of("data-0-node", TaskState::Unreachable);
    s.uuid = None;
    s.source = Some(cairn_proto::Source::Master);
    sim.send_status(s);
    sim.advance(20 * 60 + 1);
    assert!(sim.sched.task_info("data-0-node").is_none(), "replaced");
    let state = master(&sim, vec![ours()], Vec::new(), std::slice::from_ref(&old));
    let report = sim.sched.handle_master_state(sim.now, &state).unwrap();
    assert!(report.rebuilt.is_empty(), "{report:?}");
    assert!(sim.sched.task_info("data-0-node").is_none());
}
