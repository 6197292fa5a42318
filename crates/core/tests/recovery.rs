//! Recovery (issue 5): relaunch in place, essential tasks, backoff, scheduler restarts,
//! permanent replacement with reclaiming, and the operator's restart and replace.

mod common;

use cairn_core::plan::{Command, Status};
use cairn_core::spec::*;
use cairn_core::store::Store;
use cairn_proto::scheduler::{CallType, Event};
use cairn_proto::{AgentId, OperationType, Reason, Source, TaskInfo, TaskState, TaskStatus};
use common::*;

const MIN: u64 = 60;

/// Persistence ids of a TaskInfo (its own and its executor's resources).
fn volumes(info: &TaskInfo) -> Vec<String> {
    info.resources
        .iter()
        .chain(info.executor.iter().flat_map(|e| &e.resources))
        .filter_map(|r| r.persistence_id().map(str::to_string))
        .collect()
}

/// A status the master itself sends (no uuid: not acknowledged).
fn from_master(sim: &mut Sim, name: &str, state: TaskState) -> TaskStatus {
    let mut s = sim.status_of(name, state);
    s.uuid = None;
    s.source = Some(Source::Master);
    s
}

fn kills_since(sim: &Sim, mark: usize) -> Vec<String> {
    sim.calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect()
}

fn deployed(count: u32, agents: usize) -> Sim {
    let mut sim = Sim::new(node_spec(count, Strategy::Parallel), agents, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim
}

/// A pod with an essential `main` and a non-essential `sidecar`.
fn sidecar_spec() -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("app")
                .task(
                    TaskSpec::builder("main")
                        .cmd("./main")
                        .cpus(0.5)
                        .memory_mb(64),
                )
                .task(
                    TaskSpec::builder("sidecar")
                        .cmd("./side")
                        .cpus(0.1)
                        .memory_mb(32)
                        .essential(false),
                ),
        )
        .build()
        .unwrap()
}

fn sidecar_deployed() -> Sim {
    let mut sim = Sim::new(sidecar_spec(), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("app-0-main", TaskState::Running);
    sim.status("app-0-sidecar", TaskState::Running);
    assert!(sim.sched.is_deployed());
    sim
}

#[test]
fn a_crashed_task_is_relaunched_in_place_with_the_same_volume_and_a_new_task_id() {
    let mut sim = deployed(1, 2);
    let before = sim.info("data-0-node");
    sim.status("data-0-node", TaskState::Failed);
    let plans = sim.sched.plans();
    assert_eq!(plans[1].name, "recovery");
    assert_eq!(plans[1].phases[0].name, "data-0");

    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[1, 0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(
        sim.operations_since(mark),
        vec![OperationType::LaunchGroup],
        "nothing is reserved again"
    );
    let after = sim.info("data-0-node");
    assert_eq!(after.agent_id, before.agent_id);
    assert_eq!(volumes(&after), volumes(&before));
    assert_ne!(after.task_id, before.task_id);

    sim.ready("data-0-node");
    assert!(
        sim.sched.plans()[1].phases.is_empty(),
        "recovered: the recovery plan is empty again"
    );
    assert_eq!(sim.sched.plans()[1].status, Status::Complete);
}

#[test]
fn a_failed_task_shows_why_it_failed_while_it_waits_to_be_relaunched_and_while_it_is_held_back() {
    let mut sim = deployed(1, 1);
    let why = "Command exited with status 3";
    let failed = |sim: &mut Sim| {
        let mut s = sim.status_of("data-0-node", TaskState::Failed);
        s.message = Some(why.to_string());
        sim.send_status(s);
    };
    failed(&mut sim);
    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Delayed, "{message}");
    assert!(
        message.ends_with(&format!("last: data-0-node is TASK_FAILED ({why})")),
        "{message}"
    );
    sim.advance(3);
    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Prepared, "{message}");
    assert!(
        message.starts_with(&format!("data-0-node is TASK_FAILED ({why}); relaunching")),
        "{message}"
    );
}

#[test]
fn a_non_essential_task_is_relaunched_alone_while_its_siblings_keep_running() {
    let mut sim = sidecar_deployed();
    let mark = sim.calls.len();
    sim.status("app-0-sidecar", TaskState::Failed);
    assert!(kills_since(&sim, mark).is_empty());
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-sidecar"]);
}

#[test]
fn an_essential_task_failure_kills_the_surviving_tasks_then_relaunches_the_whole_pod() {
    let mut sim = sidecar_deployed();
    let sidecar = sim.info("app-0-sidecar").task_id.value;
    let mark = sim.calls.len();
    sim.status("app-0-main", TaskState::Failed);
    assert_eq!(kills_since(&sim, mark), vec![sidecar]);
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(
        sim.launched_since(mark).is_empty(),
        "nothing launches while a survivor lives"
    );
    sim.status("app-0-sidecar", TaskState::Killed);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.launched_since(mark),
        vec!["app-0-main", "app-0-sidecar"]
    );
}

#[test]
fn a_health_check_kill_is_recovered_like_a_crash() {
    let mut sim = deployed(1, 1);
    let mut s = sim.status_of("data-0-node", TaskState::Killed);
    s.healthy = Some(false);
    s.reason = Some(Reason::TaskHealthCheckStatusUpdated);
    sim.send_status(s);
    assert!(sim.recovery_step("data-0:[node]").is_some());
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
}

#[test]
fn a_scheduler_restart_with_running_tasks_relaunches_nothing_and_keeps_task_ids() {
    let mut sim = deployed(2, 2);
    let ids: Vec<String> = ["data-0-node", "data-1-node"]
        .iter()
        .map(|n| sim.info(n).task_id.value)
        .collect();
    sim.restart(node_spec(2, Strategy::Parallel));
    let mark = sim.calls.len();
    sim.subscribe();
    assert_eq!(sim.count_since(mark, CallType::Reconcile), 1);
    sim.status("data-0-node", TaskState::Running);
    sim.status("data-1-node", TaskState::Running);
    sim.offers(&[0, 1]);
    sim.advance(60);
    assert!(sim.launched_since(mark).is_empty());
    assert!(kills_since(&sim, mark).is_empty());
    let after: Vec<String> = ["data-0-node", "data-1-node"]
        .iter()
        .map(|n| sim.info(n).task_id.value)
        .collect();
    assert_eq!(after, ids);
    assert!(sim.sched.plans()[1].phases.is_empty());
}

#[test]
fn tasks_that_never_answer_reconciliation_keep_being_asked_with_backoff() {
    let mut sim = deployed(1, 1);
    sim.restart(node_spec(1, Strategy::Parallel));
    let mark = sim.calls.len();
    sim.subscribe();
    for _ in 0..4 {
        sim.advance(31);
    }
    assert_eq!(sim.count_since(mark, CallType::Reconcile), 5);
    let m2 = sim.calls.len();
    sim.offers(&[0]);
    assert!(
        sim.launched_since(m2).is_empty(),
        "no launch until answered"
    );
}

#[test]
fn a_restart_between_persist_and_accept_launches_no_duplicate_and_relaunches_eventually() {
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.auto_commit = false;
    let mark = sim.calls.len();
    sim.offers(&[0]);
    // The TaskInfo is durable, the scheduler dies before the ACCEPT goes out.
    for b in std::mem::take(&mut sim.uncommitted) {
        cairn_core::store::Store::commit(&mut sim.store, &b).unwrap();
    }
    assert_eq!(sim.count_since(mark, CallType::Accept), 0);
    let ghost = sim.info("data-0-node").task_id;
    sim.auto_commit = true;
    sim.restart(node_spec(1, Strategy::Serial));
    let mark = sim.calls.len();
    sim.subscribe();
    let asked = sim
        .calls_since(mark)
        .iter()
        .find_map(|c| c.reconcile.as_ref())
        .expect("explicit reconciliation");
    assert_eq!(asked.tasks[0].task_id, ghost);
    // The master never heard of it.
    let mut lost = from_master(&mut sim, "data-0-node", TaskState::Lost);
    lost.reason = Some(Reason::Reconciliation);
    sim.send_status(lost);
    assert!(kills_since(&sim, mark).is_empty(), "no kill loop");
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_ne!(sim.info("data-0-node").task_id, ghost);
    assert_eq!(sim.agents[0].tasks.len(), 1, "one live incarnation");
}

#[test]
fn a_relaunch_in_place_lost_between_persist_and_accept_comes_back_on_the_same_reservations() {
    let mut sim = deployed(1, 2);
    let first = sim.info("data-0-node");
    sim.status("data-0-node", TaskState::Failed);
    sim.advance(3);
    sim.auto_commit = false;
    let mark = sim.calls.len();
    sim.offers(&[0]);
    for b in std::mem::take(&mut sim.uncommitted) {
        cairn_core::store::Store::commit(&mut sim.store, &b).unwrap();
    }
    assert_eq!(
        sim.count_since(mark, CallType::Accept),
        0,
        "died before the ACCEPT"
    );
    sim.auto_commit = true;
    sim.restart(node_spec(1, Strategy::Parallel));
    sim.subscribe();
    let mut lost = from_master(&mut sim, "data-0-node", TaskState::Lost);
    lost.reason = Some(Reason::Reconciliation);
    sim.send_status(lost);
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[1, 0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(
        sim.operations_since(mark),
        vec![OperationType::LaunchGroup],
        "its reservations exist: nothing is reserved again"
    );
    assert_eq!(volumes(&sim.info("data-0-node")), volumes(&first));
}

#[test]
fn a_status_for_an_unknown_task_is_killed_until_it_is_terminal() {
    let mut sim = deployed(1, 1);
    let stray = TaskStatus {
        agent_id: Some(AgentId::new("agent-0")),
        ..TaskStatus::new("stray", TaskState::Running)
    };
    let mark = sim.calls.len();
    sim.event(Event::update(stray.clone()));
    sim.advance(5);
    assert_eq!(kills_since(&sim, mark), vec!["stray", "stray"]);
    sim.event(Event::update(TaskStatus {
        state: TaskState::Killed,
        ..stray
    }));
    let mark = sim.calls.len();
    sim.advance(5);
    assert!(kills_since(&sim, mark).is_empty());
}

/// Deploys one pod on agent 0 of 2, then loses agent 0 (its task UNREACHABLE).
fn lost_agent() -> (Sim, TaskInfo) {
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    let old = sim.info("data-0-node");
    let s = from_master(&mut sim, "data-0-node", TaskState::Unreachable);
    sim.send_status(s);
    (sim, old)
}

#[test]
fn a_pod_on_a_lost_agent_waits_then_is_replaced_elsewhere_and_its_old_reservations_are_reclaimed() {
    let (mut sim, old) = lost_agent();
    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
    sim.advance(19 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "still waiting");

    sim.advance(MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    let ops = sim.operations_since(mark);
    assert!(ops.contains(&OperationType::Reserve) && ops.contains(&OperationType::Create));
    let new = sim.info("data-0-node");
    assert_eq!(new.agent_id.value, "agent-1");
    assert_ne!(volumes(&new), volumes(&old), "a fresh volume");

    // Agent 0 comes back: its old task is unknown now and killed; once it ended, its
    // reservations are offered and reclaimed in one ACCEPT.
    let mark = sim.calls.len();
    sim.event(Event::update(TaskStatus {
        agent_id: Some(old.agent_id.clone()),
        ..TaskStatus::new(old.task_id.value.clone(), TaskState::Running)
    }));
    assert_eq!(kills_since(&sim, mark), vec![old.task_id.value.clone()]);
    sim.agents[0].end(&old.task_id.value);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.operations_since(mark),
        vec![OperationType::Destroy, OperationType::Unreserve]
    );
    assert_eq!(
        sim.agents[0].free,
        cairn_proto::Resources::parse(AGENT).unwrap(),
        "nothing of the old pod is left reserved"
    );
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(sim.operations_since(mark).is_empty(), "reclaimed once");
}

#[test]
fn a_reclaim_whose_accept_was_lost_is_sent_again_and_forgotten_only_once_an_offer_shows_it_applied()
{
    // Goal: an ACCEPT can fail without a word (its offer rescinded, the call lost); the
    // reservations it was to release must not leak. Method: the lost-agent replacement above;
    // the first reclaiming ACCEPT is undone on the fake agent (as a rescinded offer would),
    // then agent 0 offers again, and again.
    let mut sim = replaced_and_agent_back();

    let held = sim.agents[0].free.clone();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    let reclaim = vec![OperationType::Destroy, OperationType::Unreserve];
    assert_eq!(sim.operations_since(mark), reclaim);
    sim.agents[0].free = held; // the ACCEPT never took effect
    assert!(
        reclaims_queued(&sim),
        "kept until an offer shows it applied"
    );

    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.operations_since(mark),
        reclaim,
        "offered again: sent again"
    );
    assert_eq!(
        sim.agents[0].free,
        cairn_proto::Resources::parse(AGENT).unwrap(),
        "nothing of the old pod is left reserved"
    );
    assert!(reclaims_queued(&sim), "not yet seen applied");

    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(
        sim.operations_since(mark).is_empty(),
        "nothing left to reclaim"
    );
    assert!(
        !reclaims_queued(&sim),
        "an offer without them: applied, forgotten"
    );
}

#[test]
fn a_reclaim_sent_before_a_scheduler_restart_is_confirmed_by_the_next_schedulers_offers() {
    // Goal: the scheduler is killed between a reclaiming ACCEPT and the offer that shows it
    // applied; the next one must not wait for reservations that are gone (an uninstall would
    // hang on them). Method: the ACCEPT is applied, the scheduler restarted from the store.
    let mut sim = replaced_and_agent_back();
    sim.offers(&[0]);
    assert!(reclaims_queued(&sim));

    sim.restart(node_spec(1, Strategy::Serial));
    sim.subscribe();
    sim.status("data-0-node", TaskState::Running);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(sim.operations_since(mark).is_empty());
    assert!(
        reclaims_queued(&sim),
        "not judged on the first offers of a subscription"
    );
    sim.advance(6);
    sim.offers(&[0]);
    assert!(
        !reclaims_queued(&sim),
        "an offer without them: applied, forgotten"
    );
}

#[test]
fn a_reclaim_no_offer_carries_again_is_taken_for_released_after_a_minute() {
    // Goal: an agent whose freed resources all go to other frameworks offers nothing that
    // would confirm a reclaim; it must not stay queued (an uninstall would wait on it).
    // Method: the reclaim is sent, then agent 0 makes no more offers.
    let mut sim = replaced_and_agent_back();
    sim.offers(&[0]);
    sim.advance(59);
    assert!(reclaims_queued(&sim), "not before the minute");
    sim.advance(2);
    assert!(!reclaims_queued(&sim), "nothing carried it again: released");
}

/// The lost-agent pod replaced on agent 1 after the timeout, then agent 0 back: its old task
/// killed and ended, so agent 0's next offer carries the old reservations to reclaim.
fn replaced_and_agent_back() -> Sim {
    let (mut sim, old) = lost_agent();
    sim.advance(20 * MIN + 1);
    sim.offers(&[1]);
    assert_eq!(
        sim.info("data-0-node").agent_id.value,
        "agent-1",
        "replaced"
    );
    sim.event(Event::update(TaskStatus {
        agent_id: Some(old.agent_id.clone()),
        ..TaskStatus::new(old.task_id.value.clone(), TaskState::Running)
    }));
    sim.agents[0].end(&old.task_id.value);
    sim
}

/// Whether any reservation is queued for reclaiming.
fn reclaims_queued(sim: &Sim) -> bool {
    sim.store
        .entries
        .keys()
        .any(|k| k.starts_with("Properties/reclaim/"))
}

#[test]
fn reservations_to_reclaim_are_kept_through_an_agent_failure_and_dropped_when_the_master_removed_the_agent(
) {
    // Goal: an agent FAILURE is sent for an unreachable agent (it may come back with its
    // reservations) as well as for a removed one, and a TASK_GONE comes from registered
    // agents too: only the master's list of agents, read after a TASK_GONE, says removed.
    // Method: the pod on the lost agent is replaced; a FAILURE keeps its old reservations
    // queued; a TASK_GONE for its old (now unknown) task while the agent is still listed keeps
    // them; the same once the master no longer lists it drops them.
    let (mut sim, old) = lost_agent();
    sim.advance(20 * MIN + 1);
    assert!(reclaims_queued(&sim));
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));
    assert!(reclaims_queued(&sim), "the agent may still return");
    let gone = TaskStatus {
        agent_id: Some(old.agent_id.clone()),
        source: Some(Source::Master),
        reason: Some(Reason::AgentRemoved),
        ..TaskStatus::new(old.task_id.value.clone(), TaskState::Gone)
    };
    let reads = sim.agent_reads;
    sim.send_status(gone.clone());
    assert_eq!(sim.agent_reads, reads + 1, "the master's agents are read");
    assert!(reclaims_queued(&sim), "still registered: not removed");
    sim.remove_agent(0);
    sim.send_status(gone);
    assert!(
        !reclaims_queued(&sim),
        "removed: nothing there will be offered"
    );
}

#[test]
fn a_pod_replaced_while_it_waits_for_a_removed_agent_revives_the_offers_it_declined_when_pinned() {
    // Goal: regression for cairn-sim seed 1653. A two-task pod on agent 0: `main` crashes
    // (TASK_FAILED from the executor) and agent 0 is removed (`sidecar` TASK_GONE,
    // REASON_AGENT_REMOVED). While the pod is pinned to agent 0's reservations, agent 1's
    // offers are useless to it and declined for long. When the permanent-failure timer
    // replaces it, the pod waits for resources as before (no new pod instance), but now any
    // agent fits: the scheduler must REVIVE, else the long filters keep every offer away.
    let mut sim = Sim::new(sidecar_spec(), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("app-0-main", TaskState::Running);
    sim.status("app-0-sidecar", TaskState::Running);
    let old = sim.info("app-0-main");
    sim.status("app-0-main", TaskState::Failed);
    sim.remove_agent(0);
    let mut gone = from_master(&mut sim, "app-0-sidecar", TaskState::Gone);
    gone.reason = Some(Reason::AgentRemoved);
    sim.send_status(gone);
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));

    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "pinned to agent 0");
    assert_eq!(
        sim.last_decline_refuse(),
        config().long_decline_secs,
        "agent 1 is no use to a pod pinned to agent 0"
    );

    sim.advance(20 * MIN - 10);
    let mark = sim.calls.len();
    sim.advance(10);
    assert_eq!(
        sim.count_since(mark, CallType::Revive),
        1,
        "replaced: agent 1's declined offers are wanted again"
    );
    let mark = sim.calls.len();
    sim.offers(&[1]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(launched, vec!["app-0-main", "app-0-sidecar"]);
    assert_eq!(sim.info("app-0-main").agent_id.value, "agent-1");
    assert!(
        !sim.store
            .entries
            .keys()
            .any(|k| k.starts_with("Properties/reclaim/")),
        "nothing is queued for reclaiming on the removed agent"
    );
}

#[test]
fn a_once_task_whose_agent_is_removed_during_the_deploy_is_replaced_when_its_timer_runs_out() {
    // Goal: regression for cairn-sim seeds 368, 552, 669, 983 and 984. The deploy plan retries
    // a ONCE (or FINISH) task in place, on the reservations its pod holds; recovery ignored
    // such tasks. When their agent is removed (TASK_GONE) no offer of those reservations ever
    // comes again, so the pod waited forever. Now the decision `agent-gone` runs the pod's failure
    // timer whatever the task's goal, and the replacement relaunches it elsewhere. Method: a
    // ONCE pod on agent 0, TASK_GONE from the master, then the timer.
    let mut sim = Sim::new(job_spec(Goal::Once), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("job-0-run", TaskState::Running);
    let old = sim.info("job-0-run");
    sim.remove_agent(0);
    let mut gone = from_master(&mut sim, "job-0-run", TaskState::Gone);
    gone.reason = Some(Reason::AgentRemoved);
    sim.send_status(gone);
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));

    let (status, message) = sim.recovery_step("job-0:[run]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
    assert!(message.contains("permanent-failure timer"), "{message}");
    sim.advance(19 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(
        sim.launched_since(mark).is_empty(),
        "still pinned to agent 0"
    );

    sim.advance(MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["job-0-run"]);
    let ops = sim.operations_since(mark);
    assert!(ops.contains(&OperationType::Reserve), "fresh reservations");
    assert_eq!(sim.info("job-0-run").agent_id.value, "agent-1");
    sim.status("job-0-run", TaskState::Finished);
    assert!(sim.sched.is_deployed());
    assert!(sim.sched.plans()[1].phases.is_empty(), "recovery is over");
}

/// A pod `job` with one task `run` of goal `goal` and a volume.
fn job_spec(goal: Goal) -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("job")
                .volume(VolumeSpec::root("data", 50))
                .task(
                    TaskSpec::builder("run")
                        .goal(goal)
                        .cmd("./run")
                        .cpus(0.5)
                        .memory_mb(64),
                ),
        )
        .build()
        .unwrap()
}

/// job-0 launched on agent 0 and RUNNING; then agent 0 is gone from the master's list and its
/// task UNREACHABLE.
fn lose_the_agent_of_running_job_0(sim: &mut Sim) {
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("job-0-run", TaskState::Running);
    let old = sim.info("job-0-run");
    sim.remove_agent(0);
    let unreachable = from_master(sim, "job-0-run", TaskState::Unreachable);
    sim.send_status(unreachable);
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));
}

#[test]
fn a_finish_task_unreachable_for_longer_than_the_permanent_failure_timeout_is_replaced() {
    // Goal: every goal has a failure timer (DESIGN.md, row 24). A RUNNING task on an agent
    // that never comes back was always replaced after the timeout; a FINISH task there was
    // left to the deploy plan, which waits for its status forever. Method: a FINISH task
    // goes UNREACHABLE and its agent leaves the master's list; before the timeout nothing
    // moves, after it the pod is launched on the other agent.
    let mut sim = Sim::new(job_spec(Goal::Finish), 2, AGENT);
    lose_the_agent_of_running_job_0(&mut sim);

    let (status, message) = sim.recovery_step("job-0:[run]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
    assert!(message.contains("waiting for its agent"), "{message}");
    sim.advance(19 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "waits for its agent");

    sim.advance(MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["job-0-run"]);
    assert_eq!(sim.info("job-0-run").agent_id.value, "agent-1");
    sim.status("job-0-run", TaskState::Finished);
    assert!(sim.sched.is_deployed());
}

#[test]
fn the_spec_s_replacement_failure_policy_sets_when_a_lost_pod_is_replaced() {
    // Goal: `replacement-failure-policy` in the spec is the timer recovery runs (it was read
    // and ignored: always 20 minutes). Method: the FINISH-task scenario above, with a 2-minute
    // timeout in the spec.
    let mut spec = job_spec(Goal::Finish);
    spec.replacement_failure_policy = Some(ReplacementFailurePolicy {
        permanent_failure_timeout_s: 120,
        min_replace_delay_s: 0,
    });
    let mut sim = Sim::new(spec, 2, AGENT);
    lose_the_agent_of_running_job_0(&mut sim);
    sim.advance(MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "waits for its agent");
    sim.advance(MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["job-0-run"]);
}

/// A deployed data-0 whose update to `./node --v2` has just sent the kill of its task: the
/// sim, the old TaskInfo, and the index of the agent it ran on.
fn updating_data_0() -> (Sim, TaskInfo, usize) {
    let mut sim = deployed(1, 2);
    let old = sim.info("data-0-node");
    let home: usize = old
        .agent_id
        .value
        .trim_start_matches("agent-")
        .parse()
        .unwrap();
    let mut v2 = node_spec(1, Strategy::Parallel);
    v2.pods[0].tasks[0].cmd = "./node --v2".into();
    let mark = sim.calls.len();
    sim.restart(v2);
    sim.subscribe();
    assert_eq!(kills_since(&sim, mark), vec![old.task_id.value.clone()]);
    (sim, old, home)
}

/// data-0, cut off from agent `home`, is not launched on the other agent before its
/// 20-minute failure timer runs out (`waiting` says why), and then is, under `./node --v2`.
fn replaced_under_v2_when_the_timer_runs_out(sim: &mut Sim, home: usize, waiting: &str) {
    let other = 1 - home;
    sim.advance(19 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[other]);
    assert!(sim.launched_since(mark).is_empty(), "{waiting}");

    sim.advance(MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[other]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    let new = sim.info("data-0-node");
    assert_eq!(new.agent_id.value, format!("agent-{other}"));
    assert!(new
        .command
        .as_ref()
        .unwrap()
        .value
        .as_deref()
        .unwrap()
        .contains("--v2"));
}

#[test]
fn a_task_the_rollout_stopped_on_an_agent_the_master_then_drops_is_replaced_when_its_timer_runs_out(
) {
    // Goal: DESIGN.md's row 19 for an older config. The update kills data-0's task to launch
    // it again under the new config on its reservations; its agent is removed before that
    // launch, and no TASK_GONE comes for a task that already stopped. The update plan can
    // only launch it on reservations that will never be offered again, so the pod waited
    // forever. Now its failure timer runs, and the replacement launches it elsewhere under
    // the new config. Method: kill, KILLED, agent removed, then the timer.
    let (mut sim, old, home) = updating_data_0();
    sim.status("data-0-node", TaskState::Killed);
    sim.remove_agent(home);
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));

    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
    assert!(message.contains("permanent-failure timer"), "{message}");
    replaced_under_v2_when_the_timer_runs_out(&mut sim, home, "still pinned to its agent");
}

#[test]
fn a_task_of_an_older_config_on_an_agent_that_never_comes_back_is_replaced_when_its_timer_runs_out()
{
    // Goal: DESIGN.md's row 20. The update kills data-0's task to launch it under the new
    // config, but its agent is cut off: the task turns UNREACHABLE and no kill can reach it.
    // The update plan waited for its death forever. Now its failure timer runs, and the
    // replacement launches it elsewhere under the new config. Method: kill, UNREACHABLE, the
    // agent leaves the master's list, then the timer.
    let (mut sim, old, home) = updating_data_0();
    sim.remove_agent(home);
    let unreachable = from_master(&mut sim, "data-0-node", TaskState::Unreachable);
    sim.send_status(unreachable);
    sim.event(Event::failure(Some(old.agent_id.clone()), None, None));

    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
    assert!(message.contains("waiting for its agent"), "{message}");
    replaced_under_v2_when_the_timer_runs_out(&mut sim, home, "waits for its agent");
}

#[test]
fn a_pod_marked_for_replacement_is_not_relaunched_in_place_by_the_deploy_plan() {
    // Goal: a pod is decided once. A pod with a FINISH task `init` and a RUNNING task `main`:
    // `init` failed, so the deploy plan retries it in place; then an operator replaces the
    // pod. While recovery waits for `main` to die, an offer of the old agent came and the
    // deploy plan relaunched `init` there, on the volume the replacement is about to destroy.
    // Method: replace, offer the old agent before `main` is KILLED: nothing is launched; after
    // it, the pod is launched afresh on the other agent.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("app")
                .volume(VolumeSpec::root("data", 50))
                .task(
                    TaskSpec::builder("init")
                        .goal(Goal::Finish)
                        .essential(false)
                        .cmd("./init")
                        .cpus(0.1)
                        .memory_mb(32),
                )
                .task(
                    TaskSpec::builder("main")
                        .cmd("./main")
                        .cpus(0.5)
                        .memory_mb(64),
                ),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("app-0-init", TaskState::Running);
    sim.status("app-0-main", TaskState::Running);
    sim.status("app-0-init", TaskState::Failed);
    let main = sim.info("app-0-main");
    let mark = sim.calls.len();
    sim.sched
        .handle_command(
            sim.now,
            Command::Replace {
                pod: "app-0".into(),
            },
        )
        .unwrap();
    sim.drain();
    assert_eq!(kills_since(&sim, mark), vec![main.task_id.value.clone()]);
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.launched_since(mark),
        Vec::<String>::new(),
        "relaunched in place in a pod being replaced"
    );

    sim.status("app-0-main", TaskState::Killed);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    let mut launched = sim.launched_since(mark);
    launched.sort();
    assert_eq!(launched, vec!["app-0-init", "app-0-main"]);
    assert_eq!(sim.info("app-0-init").agent_id.value, "agent-1");
}

#[test]
fn the_permanent_failure_timer_survives_a_scheduler_restart() {
    let (mut sim, _) = lost_agent();
    sim.advance(15 * MIN);
    sim.restart(node_spec(1, Strategy::Serial));
    sim.subscribe();
    let s = from_master(&mut sim, "data-0-node", TaskState::Unreachable);
    sim.send_status(s);
    sim.advance(5 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(
        sim.launched_since(mark),
        vec!["data-0-node"],
        "replaced 20 minutes after the first failure, not after the restart"
    );
}

#[test]
fn automatic_replacements_are_spaced_by_the_min_replace_delay() {
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 4, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    sim.offers(&[1]);
    sim.ready("data-1-node");
    for name in ["data-0-node", "data-1-node"] {
        let s = from_master(&mut sim, name, TaskState::Unreachable);
        sim.send_status(s);
    }
    sim.advance(20 * MIN + 1);
    let replaced = |sim: &Sim, name: &str| sim.info(name).agent_id.value.as_str() > "agent-1";
    let mark = sim.calls.len();
    sim.offers(&[2, 3]);
    assert_eq!(sim.launched_since(mark).len(), 1, "one replacement");
    let held = if replaced(&sim, "data-0-node") {
        "data-1"
    } else {
        "data-0"
    };
    let (status, message) = sim.recovery_step(&format!("{held}:[node]")).unwrap();
    assert_eq!(status, Status::Delayed, "{message}");
    assert!(message.contains("min replace delay"), "{message}");

    sim.advance(10 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[2, 3]);
    assert_eq!(
        sim.launched_since(mark),
        vec![format!("{held}-node")],
        "the second one after the delay"
    );
}

#[test]
fn backoff_shows_delayed_grows_with_each_crash_and_resets_after_a_healthy_spell() {
    let mut sim = deployed(1, 1);
    let crash_and_relaunch = |sim: &mut Sim, wait: u64| {
        // Past the revive rate limit (5 s), so the revive at the end of the delay is not
        // deferred; 5 s of health is far from the 5 min that reset the backoff.
        sim.advance(5);
        let mark = sim.calls.len();
        sim.status("data-0-node", TaskState::Failed);
        assert_eq!(
            sim.recovery_step("data-0:[node]").unwrap().0,
            Status::Delayed
        );
        assert_eq!(
            sim.count_since(mark, CallType::Revive),
            0,
            "everything waiting is delayed"
        );
        sim.offers(&[0]);
        assert!(sim.launched_since(mark).is_empty(), "held by the backoff");
        sim.advance(wait - 1);
        assert_eq!(
            sim.recovery_step("data-0:[node]").unwrap().0,
            Status::Delayed,
            "still delayed 1 s before the end"
        );
        sim.advance(1);
        assert_eq!(
            sim.recovery_step("data-0:[node]").unwrap().0,
            Status::Prepared
        );
        let calls: Vec<_> = sim.calls_since(mark).iter().map(|c| c.type_).collect();
        assert_eq!(
            sim.count_since(mark, CallType::Revive),
            1,
            "revived: {calls:?}"
        );
        let m2 = sim.calls.len();
        sim.offers(&[0]);
        assert_eq!(sim.launched_since(m2), vec!["data-0-node"]);
    };
    crash_and_relaunch(&mut sim, 2);
    sim.ready("data-0-node");
    crash_and_relaunch(&mut sim, 4);
    sim.ready("data-0-node");
    crash_and_relaunch(&mut sim, 8);
    sim.ready("data-0-node");
    sim.advance(5 * MIN);
    crash_and_relaunch(&mut sim, 2);
}

#[test]
fn an_operator_restart_kills_and_relaunches_in_place_without_backoff() {
    let mut sim = deployed(1, 2);
    let before = sim.info("data-0-node");
    let mark = sim.calls.len();
    sim.sched
        .handle_command(
            sim.now,
            Command::Restart {
                pod: "data-0".into(),
            },
        )
        .unwrap();
    sim.drain();
    assert_eq!(kills_since(&sim, mark), vec![before.task_id.value.clone()]);
    sim.status("data-0-node", TaskState::Killed);
    assert_eq!(
        sim.recovery_step("data-0:[node]").unwrap().0,
        Status::Prepared,
        "a requested kill is not a crash"
    );
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
    assert_eq!(volumes(&sim.info("data-0-node")), volumes(&before));
}

#[test]
fn an_operator_replace_relaunches_the_pod_with_fresh_reservations_at_once() {
    let mut sim = deployed(1, 2);
    let before = sim.info("data-0-node");
    let mark = sim.calls.len();
    sim.sched
        .handle_command(
            sim.now,
            Command::Replace {
                pod: "data-0".into(),
            },
        )
        .unwrap();
    sim.drain();
    assert_eq!(kills_since(&sim, mark), vec![before.task_id.value.clone()]);
    sim.status("data-0-node", TaskState::Killed);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_ne!(volumes(&sim.info("data-0-node")), volumes(&before));
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.operations_since(mark),
        vec![OperationType::Destroy, OperationType::Unreserve]
    );
}

#[test]
fn a_task_gone_by_operator_replaces_its_pod_without_waiting_for_the_timer() {
    let mut sim = deployed(1, 2);
    sim.remove_agent(0);
    let s = from_master(&mut sim, "data-0-node", TaskState::GoneByOperator);
    sim.send_status(s);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(sim.info("data-0-node").agent_id.value, "agent-1");
    assert!(
        !sim.store
            .entries
            .keys()
            .any(|k| k.starts_with("Properties/reclaim/")),
        "nothing to reclaim on a gone agent"
    );
}

#[test]
fn restart_and_replace_of_unknown_or_never_launched_pods_are_refused_and_change_nothing() {
    let mut sim = Sim::new(node_spec(2, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    let batches = sim.batches.len();
    let r = |pod: &str| Command::Restart { pod: pod.into() };
    let now = sim.now;
    assert!(sim.sched.handle_command(now, r("nope-0")).is_err());
    assert!(sim.sched.handle_command(now, r("data-1")).is_err());
    assert!(sim
        .sched
        .handle_command(
            now,
            Command::Replace {
                pod: "data-0".into()
            }
        )
        .is_err());
    sim.drain();
    assert_eq!(sim.batches.len(), batches);
}

#[test]
fn automatic_replacement_can_be_turned_off() {
    let (mut sim, _) = lost_agent();
    let mut cfg = config();
    cfg.replacement.permanent_failure_timeout = None;
    sim.restart_with(node_spec(1, Strategy::Serial), cfg);
    sim.subscribe();
    let s = from_master(&mut sim, "data-0-node", TaskState::Unreachable);
    sim.send_status(s);
    sim.advance(3 * 60 * MIN);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty());
    let (status, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert_eq!(status, Status::Waiting, "{message}");
}

struct ReplaceOnFailure;

impl cairn_core::recovery::RecoveryPolicy for ReplaceOnFailure {
    fn recover(&self, _task: &str, status: &TaskStatus) -> cairn_core::recovery::Recovery {
        match status.state {
            TaskState::Failed => cairn_core::recovery::Recovery::Replace,
            _ => cairn_core::recovery::Recovery::RelaunchInPlace,
        }
    }
}

#[test]
fn an_author_policy_answering_replace_replaces_the_pod_with_fresh_reservations() {
    let o = cairn_core::scheduler::Overrides {
        recovery: Box::new(ReplaceOnFailure),
        ..Default::default()
    };
    let mut sim = Sim::with(node_spec(1, Strategy::Serial), 2, AGENT, o);
    sim.subscribe();
    sim.deploy_all();
    let before = sim.info("data-0-node");
    sim.status("data-0-node", TaskState::Failed);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_ne!(volumes(&sim.info("data-0-node")), volumes(&before));
}

#[test]
fn an_operator_replace_is_not_held_by_the_min_replace_delay() {
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 4, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    sim.offers(&[1]);
    sim.ready("data-1-node");
    for name in ["data-0-node", "data-1-node"] {
        let s = from_master(&mut sim, name, TaskState::Unreachable);
        sim.send_status(s);
    }
    sim.advance(20 * MIN + 1);
    let held = ["data-0", "data-1"]
        .into_iter()
        .find(|p| {
            sim.recovery_step(&format!("{p}:[node]"))
                .is_some_and(|(s, _)| s == Status::Delayed)
        })
        .expect("one pod waits for the min replace delay");
    sim.sched
        .handle_command(sim.now, Command::Replace { pod: held.into() })
        .unwrap();
    sim.drain();
    let mark = sim.calls.len();
    sim.offers(&[2, 3]);
    assert_eq!(sim.launched_since(mark).len(), 2, "both placed now");
}

#[test]
fn a_task_gone_from_an_agent_still_registered_is_relaunched_in_place_on_its_volume_at_once() {
    // Goal: an agent that lost its executor checkpoints reports its tasks TASK_GONE (on
    // re-registration, REASON_AGENT_RESTARTED; to reconciliation, REASON_RECONCILIATION); the
    // scheduler took that for a removed agent and within seconds launched the pod on another
    // agent with an empty volume. A registered agent still holds the pod's reservations and
    // volume: the pod is a failed one, relaunched in place, without waiting for any timer.
    // Method: each reason; offers from both agents; the relaunch reuses agent 0's
    // reservations and volume (no RESERVE, no CREATE) and nothing is queued for reclaiming.
    for reason in [Reason::AgentRestarted, Reason::Reconciliation] {
        let mut sim = deployed(1, 2);
        let old = sim.info("data-0-node");
        let mut gone = from_master(&mut sim, "data-0-node", TaskState::Gone);
        gone.reason = Some(reason);
        let reads = sim.agent_reads;
        sim.send_status(gone);
        assert_eq!(
            sim.agent_reads,
            reads + 1,
            "{reason:?}: the master is asked"
        );
        sim.advance(3);
        let mark = sim.calls.len();
        sim.offers(&[1, 0]);
        assert_eq!(sim.launched_since(mark), vec!["data-0-node"], "{reason:?}");
        let new = sim.info("data-0-node");
        assert_eq!(new.agent_id, old.agent_id, "{reason:?}: on its agent");
        assert_eq!(volumes(&new), volumes(&old), "{reason:?}: on its volume");
        let ops = sim.operations_since(mark);
        assert!(
            !ops.contains(&OperationType::Reserve) && !ops.contains(&OperationType::Create),
            "{reason:?}: {ops:?}"
        );
        assert!(!reclaims_queued(&sim), "{reason:?}");
    }
}

#[test]
fn a_task_gone_waits_pinned_until_the_master_says_whether_its_agent_holds_its_reservations() {
    // Goal: between a TASK_GONE and the master's answer the scheduler neither moves the pod
    // nor assumes the agent removed. Method: hold the answer back (the read is not answered);
    // offers of the other agent launch nothing; the answer (agent registered) then lets the
    // pod relaunch in place.
    let mut sim = deployed(1, 2);
    let old = sim.info("data-0-node");
    let mut gone = from_master(&mut sim, "data-0-node", TaskState::Gone);
    gone.reason = Some(Reason::Reconciliation);
    sim.sched.handle_event(sim.now, Event::update(gone.clone()));
    sim.agents[0].end(&old.task_id.value);
    let mut read = false;
    while let Some(a) = sim.sched.poll_action() {
        read |= a == cairn_core::scheduler::Action::ReadAgents;
        if let cairn_core::scheduler::Action::Persist(b) = a {
            sim.store.commit(&b).unwrap();
            sim.sched.handle_committed(b.id);
        }
    }
    assert!(read, "the master's agents are read");
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "not moved meanwhile");
    let answer = sim.get_agents();
    sim.sched.handle_agents(sim.now, &answer);
    sim.drain();
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(volumes(&sim.info("data-0-node")), volumes(&old));
}

#[test]
fn a_launch_that_never_reached_its_registered_agent_is_launched_afresh_once_the_master_shows_it_holds_nothing(
) {
    // Goal: the other side of the same answer. The scheduler died between persisting a first
    // launch and its ACCEPT: reconciliation answers TASK_GONE, and the registered agent holds
    // none of the task's reservations. Pinning the pod to reservations never made would leave
    // it waiting forever. Method: the launch is undone on the fake agent, the scheduler
    // restarts, reconciliation says GONE; the pod is launched afresh.
    let mut sim = Sim::new(node_spec(1, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let never = sim.info("data-0-node");
    sim.agents[0] = Agent::new(0, AGENT);
    sim.restart(node_spec(1, Strategy::Parallel));
    sim.subscribe();
    let mut gone = from_master(&mut sim, "data-0-node", TaskState::Gone);
    gone.reason = Some(Reason::Reconciliation);
    sim.send_status(gone);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    let ops = sim.operations_since(mark);
    assert!(ops.contains(&OperationType::Reserve), "fresh: {ops:?}");
    assert_ne!(sim.info("data-0-node").task_id, never.task_id);
}

#[test]
fn a_restarted_scheduler_asks_the_master_again_about_an_agent_a_stored_task_gone_names() {
    // Goal: the master's word on removal is not persisted; a restart must not forget a removal
    // nor take a stored TASK_GONE for one. Method: GONE stored while the agent is registered,
    // then the agent is removed and the scheduler restarts: it reads the agents again, takes
    // the agent for removed, and the pod waits for the permanent-failure timer, then moves.
    let mut sim = deployed(1, 2);
    let old = sim.info("data-0-node");
    let mut gone = from_master(&mut sim, "data-0-node", TaskState::Gone);
    gone.reason = Some(Reason::AgentRestarted);
    sim.send_status(gone);
    sim.remove_agent(0);
    let reads = sim.agent_reads;
    sim.restart(node_spec(1, Strategy::Parallel));
    assert_eq!(sim.agent_reads, reads + 1, "asked again at start");
    sim.subscribe();
    let (_, message) = sim.recovery_step("data-0:[node]").unwrap();
    assert!(message.contains("agent-gone"), "{message}");
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty(), "waits for the timer");
    sim.advance(20 * MIN + 1);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_ne!(volumes(&sim.info("data-0-node")), volumes(&old));
}

#[test]
fn a_task_last_heard_unreachable_is_asked_about_every_half_minute_and_relaunched_in_place_when_gone(
) {
    // Goal: an agent that comes back without a task (its executor checkpoint lost) says
    // nothing of it, and the master, which forgot it, answers only when asked; unasked, the
    // pod waited for its permanent-failure timer and was moved onto an empty volume (found by
    // cairn-sim, seeds 3601, 5849, 5874). Method: the task is reported unreachable; within
    // half a minute it is reconciled explicitly; the answer TASK_GONE (its agent registered)
    // relaunches it in place.
    let mut sim = deployed(1, 2);
    let old = sim.info("data-0-node");
    let s = from_master(&mut sim, "data-0-node", TaskState::Unreachable);
    sim.send_status(s);
    let mark = sim.calls.len();
    sim.advance(31);
    let asked: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.reconcile.as_ref())
        .flat_map(|r| r.tasks.iter().map(|t| t.task_id.value.clone()))
        .collect();
    assert_eq!(asked, vec![old.task_id.value.clone()]);
    let mut gone = from_master(&mut sim, "data-0-node", TaskState::Gone);
    gone.reason = Some(Reason::Reconciliation);
    sim.send_status(gone);
    sim.advance(3);
    let mark = sim.calls.len();
    sim.offers(&[1, 0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    let new = sim.info("data-0-node");
    assert_eq!(new.agent_id, old.agent_id);
    assert_eq!(volumes(&new), volumes(&old));
}

/// Pod `app` with a pod volume and the given tasks, launched by a custom deploy plan with one
/// step per task (`[[a], [b]]`: the SDK's custom-steps idiom). `init`, if named, is a FINISH
/// task; the tasks in `non_essential` are not essential; `a` has a readiness check.
fn multi_step_spec(tasks: &[&str], non_essential: &[&str]) -> ServiceSpec {
    let mut pod = PodSpec::builder("app").volume(VolumeSpec::root("data", 100));
    for name in tasks {
        let task = TaskSpec::builder(*name)
            .cmd("./run")
            .cpus(0.1)
            .memory_mb(32)
            .essential(!non_essential.contains(name));
        pod = pod.task(match *name {
            "init" => task.goal(Goal::Finish),
            "a" => task.readiness_check(ReadinessCheckSpec::new("./ready")),
            _ => task,
        });
    }
    let steps: Vec<Vec<&str>> = tasks.iter().map(|t| vec![*t]).collect();
    ServiceSpec::builder("svc")
        .pod(pod)
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("app", "app").step(StepSpec::default_for(steps))),
        )
        .build()
        .unwrap()
}

/// Deploys `spec` on one agent, one step at a time: a FINISH task finishes, the others run.
fn multi_step_deployed(spec: ServiceSpec) -> Sim {
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    for _ in 0..10 {
        if sim.sched.is_deployed() {
            return sim;
        }
        let mark = sim.calls.len();
        sim.offers(&[0]);
        for name in sim.launched_since(mark) {
            if name.ends_with("-init") {
                sim.status(&name, TaskState::Finished);
            } else {
                sim.ready(&name);
            }
        }
        sim.advance(6);
    }
    panic!("not deployed: {:#?}", sim.sched.plans());
}

/// What a recovery did, offer cycle after offer cycle, until the pod's recovery plan is empty
/// (bounded): the tasks it launched and killed, in order. Every launched task runs and is
/// ready; every killed one reports KILLED.
fn recover(sim: &mut Sim, names: &[&str]) -> (Vec<String>, Vec<String>) {
    let (mut launched, mut killed) = (Vec::new(), Vec::new());
    let mut mark = 0;
    for _ in 0..30 {
        let kills = kills_since(sim, mark);
        mark = sim.calls.len();
        for task_id in &kills {
            let name = names
                .iter()
                .find(|n| &sim.info(n).task_id.value == task_id)
                .map(|n| n.to_string());
            if let Some(name) = name {
                killed.push(name.clone());
                sim.status(&name, TaskState::Killed);
            }
        }
        if sim.sched.plans()[1].phases.is_empty() && kills_since(sim, mark).is_empty() {
            return (launched, killed);
        }
        sim.advance(6);
        let before = sim.calls.len();
        sim.offers(&[0]);
        for name in sim.launched_since(before) {
            launched.push(name.clone());
            sim.ready(&name);
        }
    }
    panic!(
        "no recovery after 30 offer cycles: launched {launched:?}, killed {killed:?}, plans {:#?}",
        sim.sched.plans()
    );
}

#[test]
fn an_essential_task_of_the_second_deploy_step_failing_brings_the_whole_pod_back_each_task_launched_once(
) {
    let mut sim = multi_step_deployed(multi_step_spec(&["a", "b"], &[]));
    let (a, b) = (sim.info("app-0-a"), sim.info("app-0-b"));
    sim.status("app-0-b", TaskState::Failed);

    let (launched, killed) = recover(&mut sim, &["app-0-a", "app-0-b"]);
    assert_eq!(killed, vec!["app-0-a"], "only the survivor is killed, once");
    assert_eq!(
        launched,
        vec!["app-0-a", "app-0-b"],
        "the pod comes back step by step, each task once"
    );
    for (before, name) in [(a, "app-0-a"), (b, "app-0-b")] {
        let after = sim.info(name);
        assert_eq!(after.agent_id, before.agent_id, "{name} is back in place");
        assert_eq!(volumes(&after), volumes(&before), "{name} keeps its volume");
        assert_ne!(after.task_id, before.task_id, "{name} is a new incarnation");
    }
    assert_eq!(sim.sched.plans()[1].status, Status::Complete);
}

#[test]
fn a_pod_whose_deploy_steps_begin_with_an_init_task_comes_back_without_running_init_again() {
    // A FINISH task is the deploy plan's, not recovery's (as in the SDK): its step completed
    // and stays so; the pod's RUNNING tasks come back step by step.
    let spec = multi_step_spec(&["init", "a", "b"], &[]);
    let mut sim = multi_step_deployed(spec);
    let init = sim.info("app-0-init").task_id;
    sim.status("app-0-b", TaskState::Failed);
    assert_eq!(
        sim.recovery_step("app-0:[init]").map(|(s, _)| s),
        Some(Status::Complete)
    );

    let (launched, killed) = recover(&mut sim, &["app-0-a", "app-0-b"]);
    assert_eq!(killed, vec!["app-0-a"]);
    assert_eq!(
        launched,
        vec!["app-0-a", "app-0-b"],
        "init is not run again"
    );
    assert_eq!(sim.info("app-0-init").task_id, init);
    assert_eq!(
        sim.sched.plans()[0].status,
        Status::Complete,
        "deploy stays complete"
    );
}

#[test]
fn a_non_essential_task_of_a_multi_step_pod_is_relaunched_alone() {
    let mut sim = multi_step_deployed(multi_step_spec(&["a", "b"], &["b"]));
    let a = sim.info("app-0-a").task_id;
    sim.status("app-0-b", TaskState::Failed);
    let (launched, killed) = recover(&mut sim, &["app-0-a", "app-0-b"]);
    assert!(killed.is_empty(), "{killed:?}");
    assert_eq!(launched, vec!["app-0-b"]);
    assert_eq!(sim.info("app-0-a").task_id, a, "a kept running");
}

/// app-0's `b` fails and its `a` is killed: the recovery relaunches `a` first, alone.
fn both_down_and_the_first_step_relaunched(sim: &mut Sim) {
    sim.status("app-0-b", TaskState::Failed);
    sim.status("app-0-a", TaskState::Killed);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-a"]);
}

#[test]
fn a_later_step_of_a_relaunched_pod_waits_for_the_earlier_ones_to_be_ready() {
    let mut sim = multi_step_deployed(multi_step_spec(&["a", "b"], &[]));
    both_down_and_the_first_step_relaunched(&mut sim);
    sim.status("app-0-a", TaskState::Running);

    for _ in 0..3 {
        sim.advance(6);
        let mark = sim.calls.len();
        sim.offers(&[0]);
        assert!(
            sim.launched_since(mark).is_empty(),
            "b waits for a's readiness"
        );
        assert!(kills_since(&sim, mark).is_empty(), "a is not killed again");
    }
    let (status, message) = sim.recovery_step("app-0:[b]").unwrap();
    assert_eq!(status, Status::Pending, "{message}");
    assert_eq!(message, "waiting for app-0:[a] to be running and ready");

    sim.ready("app-0-a");
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-b"]);
}

#[test]
fn a_scheduler_restart_in_the_middle_of_a_multi_step_recovery_does_not_kill_what_it_relaunched() {
    let spec = multi_step_spec(&["a", "b"], &[]);
    let mut sim = multi_step_deployed(spec.clone());
    both_down_and_the_first_step_relaunched(&mut sim);
    sim.ready("app-0-a");
    let a = sim.info("app-0-a").task_id;

    sim.restart(spec);
    sim.subscribe();
    sim.ready("app-0-a");
    let (launched, killed) = recover(&mut sim, &["app-0-a", "app-0-b"]);
    assert!(killed.is_empty(), "{killed:?}");
    assert_eq!(launched, vec!["app-0-b"]);
    assert_eq!(sim.info("app-0-a").task_id, a);
}

#[test]
fn a_pod_whose_later_deploy_step_has_not_run_yet_is_healthy_once_its_launched_tasks_are_back() {
    // A task the deploy plan has not launched yet is not a failure: counting it as one kept
    // the pod failing until the permanent-failure timer replaced it and destroyed its volume.
    let mut sim = Sim::new(multi_step_spec(&["a", "b"], &[]), 1, AGENT);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-a"]);
    sim.ready("app-0-a");
    sim.status("app-0-a", TaskState::Failed);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-a"], "b waits for a");
    sim.ready("app-0-a");
    assert!(
        sim.sched.plans()[1].phases.is_empty(),
        "recovered: {:#?}",
        sim.sched.plans()[1]
    );

    // No offer comes for a long while (the deploy plan cannot launch b): nothing is replaced.
    let mark = sim.calls.len();
    for _ in 0..25 {
        sim.advance(MIN);
    }
    assert!(kills_since(&sim, mark).is_empty());
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["app-0-b"]);
}
