//! Decommission and uninstall (issue 6): taking pods away frees exactly their reservations
//! and volumes; an uninstall releases everything, tolerates lost and stopped agents, survives
//! a scheduler restart, tears the framework down and deletes the state.

mod common;

use std::collections::BTreeSet;

use cairn_core::labels::resource_id;
use cairn_core::plan::{Command, Status};
use cairn_core::scheduler::SchedulerConfig;
use cairn_core::spec::*;
use cairn_core::store::Store;
use cairn_proto::scheduler::{CallType, Event};
use cairn_proto::{OperationType, TaskInfo, TaskState};
use common::*;

fn spec(count: u32, allow: bool) -> ServiceSpec {
    let mut s = node_spec(count, Strategy::Serial);
    s.pods[0].allow_decommission = allow;
    s
}

fn deployed(count: u32, agents: usize) -> Sim {
    let mut sim = Sim::new(spec(count, true), agents, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim
}

/// Resource ids a TaskInfo holds (its own and its executor's).
fn resource_ids(info: &TaskInfo) -> BTreeSet<String> {
    info.resources
        .iter()
        .chain(info.executor.iter().flat_map(|e| &e.resources))
        .filter_map(|r| resource_id(r).map(str::to_string))
        .collect()
}

/// Resource ids DESTROYed and UNRESERVEd by the ACCEPTs since `mark`.
fn released_since(sim: &Sim, mark: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut destroyed = BTreeSet::new();
    let mut unreserved = BTreeSet::new();
    for op in sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| &a.operations)
    {
        match op.type_ {
            OperationType::Destroy => destroyed.extend(
                op.destroy
                    .as_ref()
                    .unwrap()
                    .volumes
                    .iter()
                    .filter_map(|r| resource_id(r).map(str::to_string)),
            ),
            OperationType::Unreserve => unreserved.extend(
                op.unreserve
                    .as_ref()
                    .unwrap()
                    .resources
                    .iter()
                    .filter_map(|r| resource_id(r).map(str::to_string)),
            ),
            _ => {}
        }
    }
    (destroyed, unreserved)
}

fn volume_ids(info: &TaskInfo) -> BTreeSet<String> {
    info.resources
        .iter()
        .chain(info.executor.iter().flat_map(|e| &e.resources))
        .filter(|r| r.persistence_id().is_some())
        .filter_map(|r| resource_id(r).map(str::to_string))
        .collect()
}

/// Answers every KILL since `mark` for the given task names with TASK_KILLED.
fn answer_kills(sim: &mut Sim, mark: usize, names: &[&str]) {
    let killed: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    for n in names {
        if let Some(info) = sim.sched.task_info(n) {
            if killed.contains(&info.task_id.value) {
                sim.status(n, TaskState::Killed);
            }
        }
    }
}

/// Reconciliation answers for a restarted scheduler: every stored task is RUNNING and ready.
fn reconcile(sim: &mut Sim, names: &[&str]) {
    for n in names {
        if sim.sched.task_info(n).is_some() {
            sim.ready(n);
        }
    }
}

#[test]
fn a_count_decrease_with_allow_decommission_frees_exactly_that_pods_reservations_and_volumes() {
    let mut sim = deployed(3, 3);
    let gone = sim.info("data-2-node");
    let kept: Vec<_> = ["data-0-node", "data-1-node"]
        .iter()
        .map(|n| sim.info(n))
        .collect();
    sim.restart(spec(2, true));
    assert!(sim.sched.config_errors().is_empty());
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node", "data-1-node", "data-2-node"]);
    let kills: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    assert_eq!(
        kills,
        std::slice::from_ref(&gone.task_id.value),
        "only data-2 is killed"
    );
    let plan = &sim.sched.plans()[2];
    assert_eq!(plan.name, "decommission");
    assert_eq!(plan.phases[0].name, "data-2");
    answer_kills(&mut sim, mark, &["data-2-node"]);
    assert!(sim.sched.task_info("data-2-node").is_none(), "erased");
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    let (destroyed, unreserved) = released_since(&sim, mark);
    assert_eq!(unreserved, resource_ids(&gone));
    assert_eq!(destroyed, volume_ids(&gone));
    assert_eq!(destroyed.len(), 1, "its one volume");
    assert_ne!(
        sim.sched.plans()[2].status,
        Status::Complete,
        "not yet seen applied"
    );
    confirm_released(&mut sim, &[0, 1, 2]);
    assert_eq!(sim.sched.plans()[2].status, Status::Complete);
    assert!(sim.sched.is_deployed());
    for k in kept {
        assert_eq!(sim.info(&k.name).task_id, k.task_id, "untouched");
    }
    let entries = sim.store.load().unwrap();
    assert!(!entries.keys().any(|k| k.starts_with("Properties/reclaim/")));
}

#[test]
fn raising_the_count_again_cancels_a_decommission_not_yet_erased() {
    let mut sim = deployed(3, 3);
    let before = sim.info("data-2-node");
    sim.restart(spec(2, true));
    sim.subscribe();
    // data-2 is asked to die but has not answered when the count goes back up.
    reconcile(&mut sim, &["data-0-node", "data-1-node"]);
    sim.restart(spec(3, true));
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node", "data-1-node", "data-2-node"]);
    assert_eq!(sim.count_since(mark, CallType::Kill), 0);
    assert_eq!(sim.info("data-2-node").task_id, before.task_id);
    assert!(sim.sched.is_deployed());
    assert!(sim.sched.plans()[2].phases.is_empty());
}

#[test]
fn a_scheduler_restart_during_a_decommission_continues_it() {
    let mut sim = deployed(3, 3);
    let gone = sim.info("data-2-node");
    sim.restart(spec(2, true));
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node", "data-1-node", "data-2-node"]);
    answer_kills(&mut sim, mark, &["data-2-node"]);
    // Erased and queued; the scheduler dies before the offers come.
    sim.restart(spec(2, true));
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node", "data-1-node"]);
    assert_eq!(sim.sched.plans()[2].phases[0].name, "data-2");
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(released_since(&sim, mark).1, resource_ids(&gone));
    confirm_released(&mut sim, &[0, 1, 2]);
    assert_eq!(sim.sched.plans()[2].status, Status::Complete);
}

/// The offers, a little later, that show released reservations gone (a reclaim is done when
/// an offer no longer carries what its ACCEPT released).
fn confirm_released(sim: &mut Sim, agents: &[usize]) {
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(agents);
    assert!(released_since(sim, mark).1.is_empty(), "released once");
}

const ALL: [&str; 3] = ["data-0-node", "data-1-node", "data-2-node"];

/// Kills answered, then offers from `agents` until the uninstall finished (bounded).
fn uninstall_until_done(sim: &mut Sim, agents: &[usize]) {
    for _ in 0..5 {
        if sim.sched.is_uninstalled() {
            return;
        }
        sim.offers(agents);
        sim.advance(6);
    }
}

#[test]
fn uninstall_kills_everything_releases_every_reservation_tears_down_and_deletes_the_state() {
    let mut sim = deployed(3, 3);
    let infos: Vec<TaskInfo> = ALL.iter().map(|n| sim.info(n)).collect();
    let mark = sim.calls.len();
    sim.sched
        .handle_command(sim.now, Command::Uninstall)
        .unwrap();
    sim.drain();
    assert!(sim
        .store
        .load()
        .unwrap()
        .contains_key("Properties/uninstalling"));
    assert_eq!(sim.sched.plans()[0].name, "uninstall");
    assert_eq!(sim.count_since(mark, CallType::Kill), 3);
    answer_kills(&mut sim, mark, &ALL);
    uninstall_until_done(&mut sim, &[0, 1, 2]);
    assert!(sim.sched.is_uninstalled(), "{:#?}", sim.sched.plans());
    let (destroyed, unreserved) = released_since(&sim, mark);
    let all_ids: BTreeSet<String> = infos.iter().flat_map(resource_ids).collect();
    let all_vols: BTreeSet<String> = infos.iter().flat_map(volume_ids).collect();
    assert_eq!(unreserved, all_ids);
    assert_eq!(destroyed, all_vols);
    assert_eq!(sim.calls.last().unwrap().type_, CallType::Teardown);
    assert!(sim.store.load().unwrap().is_empty(), "every key deleted");
    assert_eq!(sim.sched.plans()[0].status, Status::Complete);
}

#[test]
fn uninstall_finishes_with_a_lost_agent_and_after_a_restart_in_the_middle() {
    let mut sim = deployed(3, 3);
    let lost = sim.info("data-1-node").agent_id;
    let lost_index: usize = lost.value.rsplit('-').next().unwrap().parse().unwrap();
    let cfg = SchedulerConfig {
        uninstall: true,
        ..config()
    };
    sim.restart_with(spec(3, true), cfg.clone());
    assert!(sim.sched.is_uninstalling());
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &ALL);
    assert_eq!(sim.count_since(mark, CallType::Kill), 3);
    // Two tasks die; the agent of the third is removed by the master.
    let others: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|n| sim.info(n).agent_id != lost)
        .collect();
    answer_kills(&mut sim, mark, &others);
    sim.remove_agent(lost_index);
    sim.event(Event::failure(Some(lost.clone()), None, None));
    // The scheduler dies before any reservation was released; a plain restart (without the
    // flag) continues the uninstall.
    sim.restart_with(spec(3, true), config());
    assert!(sim.sched.is_uninstalling());
    sim.subscribe();
    if sim.sched.task_info("data-1-node").is_some() {
        let s = sim.status_of("data-1-node", TaskState::Gone);
        sim.send_status(s);
    }
    let live: Vec<usize> = (0..3).filter(|i| *i != lost_index).collect();
    uninstall_until_done(&mut sim, &live);
    assert!(sim.sched.is_uninstalled(), "{:#?}", sim.sched.plans());
    assert!(sim.store.load().unwrap().is_empty());
}

#[test]
fn a_stopped_agent_blocks_uninstall_and_is_named_until_an_operator_forces_it() {
    let mut sim = deployed(2, 2);
    let stopped = sim.info("data-1-node").agent_id;
    let stopped_index: usize = stopped.value.rsplit('-').next().unwrap().parse().unwrap();
    let mark = sim.calls.len();
    sim.sched
        .handle_command(sim.now, Command::Uninstall)
        .unwrap();
    sim.drain();
    answer_kills(&mut sim, mark, &["data-0-node", "data-1-node"]);
    let live: Vec<usize> = (0..2).filter(|i| *i != stopped_index).collect();
    uninstall_until_done(&mut sim, &live);
    let waiting = sim.sched.task_info("data-0-node").is_none()
        && sim.sched.task_info("data-1-node").is_none();
    assert!(waiting, "every task erased");
    assert!(!sim.sched.is_uninstalled());
    let plan = &sim.sched.plans()[0];
    assert!(
        plan.errors.iter().any(|e| e.contains(&stopped.value)),
        "{:?}",
        plan.errors
    );
    assert!(plan
        .phases
        .iter()
        .any(|p| p.name == format!("unreserve-resources-{}", stopped.value)));
    sim.sched
        .handle_command(
            sim.now,
            Command::ForceCompleteUninstall {
                agent: stopped.value.clone(),
            },
        )
        .unwrap();
    sim.drain();
    assert!(sim.sched.is_uninstalled());
    assert!(sim.store.load().unwrap().is_empty());
}

#[test]
fn an_agent_failure_alone_does_not_give_up_on_an_unreachable_agent_whose_reservations_are_released_when_it_returns(
) {
    // Goal: the master sends an agent FAILURE when an agent becomes unreachable, not only
    // when it is removed. Giving up on the agent then erased its task without queueing its
    // reservations: when the agent came back they were left behind. Method: uninstall; one
    // agent goes unreachable (FAILURE, TASK_UNREACHABLE with REASON_AGENT_REMOVED, as the
    // master says it); the uninstall waits for it; it returns, the kill lands, its
    // reservations are released and the uninstall finishes.
    let mut sim = deployed(2, 2);
    let infos: Vec<TaskInfo> = ["data-0-node", "data-1-node"]
        .iter()
        .map(|n| sim.info(n))
        .collect();
    let lost = infos[1].agent_id.clone();
    let lost_index: usize = lost.value.rsplit('-').next().unwrap().parse().unwrap();
    let mark = sim.calls.len();
    sim.sched
        .handle_command(sim.now, Command::Uninstall)
        .unwrap();
    sim.drain();
    answer_kills(&mut sim, mark, &["data-0-node"]);
    sim.event(Event::failure(Some(lost.clone()), None, None));
    let mut s = sim.status_of("data-1-node", TaskState::Unreachable);
    s.uuid = None;
    s.source = Some(cairn_proto::Source::Master);
    s.reason = Some(cairn_proto::Reason::AgentRemoved);
    sim.send_status(s);
    let live: Vec<usize> = (0..2).filter(|i| *i != lost_index).collect();
    uninstall_until_done(&mut sim, &live);
    assert!(!sim.sched.is_uninstalled(), "waiting for {}", lost.value);
    assert!(sim.sched.task_info("data-1-node").is_some(), "not given up");

    // The agent is back: the kill is retried and lands; its reservations are offered.
    sim.status("data-1-node", TaskState::Killed);
    uninstall_until_done(&mut sim, &[0, 1]);
    assert!(sim.sched.is_uninstalled(), "{:#?}", sim.sched.plans());
    let (destroyed, unreserved) = released_since(&sim, mark);
    let all_ids: BTreeSet<String> = infos.iter().flat_map(resource_ids).collect();
    let all_vols: BTreeSet<String> = infos.iter().flat_map(volume_ids).collect();
    assert_eq!(
        unreserved, all_ids,
        "nothing left behind on the returning agent"
    );
    assert_eq!(destroyed, all_vols);
}

#[test]
fn an_uninstall_finishes_after_the_agent_timeout_when_a_removed_agent_held_only_reservations() {
    // Goal: an agent removed with no task left on it sends no status, only a FAILURE, which
    // does not tell removed from unreachable: the uninstall still finishes, giving up on it
    // after `uninstall_agent_timeout` (or when an operator forces it). Method: every task
    // killed and erased; agent 1 is removed (FAILURE only) before offering its reservations.
    let mut sim = deployed(2, 2);
    let removed = sim.info("data-1-node").agent_id;
    let removed_index: usize = removed.value.rsplit('-').next().unwrap().parse().unwrap();
    let cfg = SchedulerConfig {
        uninstall: true,
        uninstall_agent_timeout: Some(std::time::Duration::from_secs(600)),
        ..config()
    };
    sim.restart_with(spec(2, true), cfg);
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node", "data-1-node"]);
    answer_kills(&mut sim, mark, &["data-0-node", "data-1-node"]);
    sim.event(Event::failure(Some(removed.clone()), None, None));
    let live: Vec<usize> = (0..2).filter(|i| *i != removed_index).collect();
    uninstall_until_done(&mut sim, &live);
    assert!(!sim.sched.is_uninstalled());
    let plan = &sim.sched.plans()[0];
    assert!(
        plan.errors.iter().any(|e| e.contains(&removed.value)),
        "{:?}",
        plan.errors
    );
    sim.advance(600);
    assert!(sim.sched.is_uninstalled(), "{:#?}", sim.sched.plans());
    assert!(sim.store.load().unwrap().is_empty());
}

#[test]
fn a_stopped_agent_is_given_up_after_the_configured_timeout() {
    let mut sim = deployed(1, 1);
    let cfg = SchedulerConfig {
        uninstall: true,
        uninstall_agent_timeout: Some(std::time::Duration::from_secs(600)),
        ..config()
    };
    sim.restart_with(spec(1, true), cfg);
    let mark = sim.calls.len();
    sim.subscribe();
    reconcile(&mut sim, &["data-0-node"]);
    answer_kills(&mut sim, mark, &["data-0-node"]);
    // The agent never offers again.
    for _ in 0..9 {
        sim.advance(60);
    }
    assert!(!sim.sched.is_uninstalled());
    sim.advance(120);
    assert!(sim.sched.is_uninstalled(), "{:#?}", sim.sched.plans());
}

/// Pod types `a` and `b`, both allowed to be decommissioned; `b` only if `with_b`.
fn two_types(a_count: u32, with_b: bool) -> ServiceSpec {
    let pod = |name: &str, count: u32| {
        PodSpec::builder(name)
            .count(count)
            .allow_decommission(true)
            .volume(VolumeSpec::root("data", 10))
            .task(
                TaskSpec::builder("node")
                    .cmd("./node")
                    .cpus(0.5)
                    .memory_mb(64),
            )
    };
    let mut b = ServiceSpec::builder("svc").pod(pod("a", a_count));
    if with_b {
        b = b.pod(pod("b", 2));
    }
    b.build().unwrap()
}

#[test]
fn removed_pod_types_go_first_then_the_highest_index_one_instance_at_a_time() {
    let mut sim = Sim::new(two_types(2, true), 2, AGENT);
    sim.subscribe();
    for _ in 0..6 {
        let mark = sim.calls.len();
        sim.offers(&[0, 1]);
        for n in sim.launched_since(mark) {
            sim.status(&n, TaskState::Running);
        }
    }
    assert!(sim.sched.is_deployed(), "{:#?}", sim.sched.plans());
    let all = ["a-0-node", "a-1-node", "b-0-node", "b-1-node"];
    sim.restart(two_types(1, false));
    assert!(sim.sched.config_errors().is_empty());
    let mark = sim.calls.len();
    sim.subscribe();
    for n in all {
        sim.status(n, TaskState::Running);
    }
    let phases: Vec<String> = sim.sched.plans()[2]
        .phases
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(phases, ["b-1", "b-0", "a-1"]);
    // Serial: only b-1 is being killed.
    assert_eq!(sim.count_since(mark, CallType::Kill), 1);
    for pod in ["b-1", "b-0", "a-1"] {
        let task = format!("{pod}-node");
        assert!(sim.sched.task_info(&task).is_some());
        let mark = sim.calls.len();
        sim.status(&task, TaskState::Killed);
        assert!(sim.sched.task_info(&task).is_none(), "{task} erased");
        sim.offers(&[0, 1]);
        assert!(!released_since(&sim, mark).1.is_empty(), "{pod} released");
        confirm_released(&mut sim, &[0, 1]);
    }
    assert_eq!(sim.sched.plans()[2].status, Status::Complete);
    assert!(sim.sched.task_info("a-0-node").is_some());
}

#[test]
fn an_uninstall_calls_an_agents_silence_an_error_only_after_half_a_minute() {
    let mut sim = deployed(3, 3);
    let mark = sim.calls.len();
    sim.sched
        .handle_command(sim.now, Command::Uninstall)
        .unwrap();
    sim.drain();
    answer_kills(&mut sim, mark, &ALL);
    // The reservations wait for their agents' offers: a normal part of every uninstall.
    sim.advance(5);
    let plan = &sim.sched.plans()[0];
    assert_eq!(plan.name, "uninstall");
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    // An agent that has not offered for 30 s is worth telling, with the way out.
    sim.advance(30);
    let plan = &sim.sched.plans()[0];
    assert!(
        plan.errors.iter().any(|e| e.contains("--force-agent")),
        "{:?}",
        plan.errors
    );
}
