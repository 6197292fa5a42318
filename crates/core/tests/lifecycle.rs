//! Persist-before-act, acknowledgements, reconciliation, restarts and commit failures.

mod common;

use cairn_core::scheduler::{Action, Scheduler, SchedulerError};
use cairn_core::spec::*;
use cairn_core::store::{StoredState, WriteOp, FRAMEWORK_ID};
use cairn_proto::scheduler::{CallType, Event};
use cairn_proto::{Reason, Source, TaskState, TaskStatus};
use common::*;

fn keys(op: &[WriteOp]) -> Vec<String> {
    op.iter()
        .map(|o| match o {
            WriteOp::Put { key, .. } => format!("put {key}"),
            WriteOp::Delete { key } => format!("delete {key}"),
        })
        .collect()
}

#[test]
fn the_first_actions_store_the_schema_version_the_config_and_the_target() {
    // Goal: a first start writes the target config before anything. Method: poll a fresh
    // scheduler.
    let sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    let first = &sim.batches[0];
    let k = keys(&first.ops);
    assert_eq!(k[0], "put SchemaVersion");
    assert!(k[1].starts_with("put Configurations/"), "{k:?}");
    assert_eq!(k[2], "put ConfigTarget");
    let id = sim.sched.config_id().0.clone();
    assert_eq!(id.len(), 36, "uuid-shaped: {id}");
    assert_eq!(k[1], format!("put Configurations/{id}"));
    // And when it was stored, in the same batch.
    assert_eq!(k[3], format!("put Properties/config-stored-{id}"));
}

#[test]
fn a_new_framework_id_is_persisted_before_any_call() {
    // Goal: SUBSCRIBED → FrameworkID is written first. Method: hold commits, then release.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.auto_commit = false;
    sim.subscribe();
    let b = sim.uncommitted.last().unwrap().clone();
    assert_eq!(keys(&b.ops), vec![format!("put {FRAMEWORK_ID}")]);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.calls.len(),
        mark,
        "no call before the framework id is durable"
    );
    sim.commit_pending();
    assert_eq!(sim.count_since(mark, CallType::Accept), 1);
    assert_eq!(sim.sched.framework_id().unwrap().value, FRAMEWORK);
}

#[test]
fn the_accept_is_not_released_before_its_task_infos_are_committed() {
    // Goal: persist before act, as a property of the API. Method: hold commits during the
    // offer cycle; the ACCEPT appears only after the TaskInfo batch is committed.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.auto_commit = false;
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.count_since(mark, CallType::Accept), 0);
    let batch = sim.uncommitted.last().unwrap().clone();
    let k = keys(&batch.ops);
    assert_eq!(
        k,
        vec![
            "put Tasks/data-0-node/TaskInfo",
            "delete Tasks/data-0-node/TaskStatus"
        ]
    );
    assert!(sim.sched.poll_action().is_none(), "the ACCEPT waits");
    sim.commit_pending();
    assert_eq!(sim.count_since(mark, CallType::Accept), 1);
    assert!(sim.store.entries.contains_key("Tasks/data-0-node/TaskInfo"));
}

#[test]
fn a_status_update_is_acknowledged_only_after_it_is_persisted() {
    // Goal: ack after persist. Method: hold commits, send RUNNING, look for the ACKNOWLEDGE.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.auto_commit = false;
    let mark = sim.calls.len();
    let status = sim.status_of("data-0-node", TaskState::Running);
    sim.send_status(status.clone());
    assert_eq!(sim.count_since(mark, CallType::Acknowledge), 0);
    assert_eq!(
        keys(&sim.uncommitted.last().unwrap().ops),
        vec!["put Tasks/data-0-node/TaskStatus"]
    );
    sim.commit_pending();
    let ack = sim
        .calls_since(mark)
        .iter()
        .find_map(|c| c.acknowledge.clone())
        .expect("acknowledged after the commit");
    assert_eq!(ack.uuid, status.uuid.unwrap());
    assert_eq!(ack.task_id, status.task_id);
}

#[test]
fn updates_without_a_uuid_are_stored_but_not_acknowledged() {
    // Goal: master-generated updates (no uuid) must not be acknowledged.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let mut s = sim.status_of("data-0-node", TaskState::Running);
    s.uuid = None;
    s.source = Some(Source::Master);
    let mark = sim.calls.len();
    sim.send_status(s);
    assert_eq!(sim.count_since(mark, CallType::Acknowledge), 0);
    assert!(sim
        .store
        .entries
        .contains_key("Tasks/data-0-node/TaskStatus"));
}

#[test]
fn statuses_of_unknown_tasks_are_killed_except_lost_from_reconciliation() {
    // Goal: unknown task ids are killed, without kill loops. Method: three unknown statuses.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    let unknown = |state, reason| TaskStatus {
        reason,
        agent_id: Some("agent-0".into()),
        ..TaskStatus::new("ghost__1", state)
    };
    let mark = sim.calls.len();
    sim.event(Event::update(unknown(TaskState::Running, None)));
    assert_eq!(sim.count_since(mark, CallType::Kill), 1);
    let mark = sim.calls.len();
    sim.event(Event::update(unknown(
        TaskState::Lost,
        Some(Reason::Reconciliation),
    )));
    sim.event(Event::update(unknown(TaskState::Killed, None)));
    assert_eq!(sim.count_since(mark, CallType::Kill), 0);
}

#[test]
fn a_restart_with_the_same_spec_keeps_the_config_and_reconciles_before_using_offers() {
    // Goal: a restarted scheduler rebuilds its picture from the store and asks the master
    // before acting. Method: deploy, restart over the same MemStore, subscribe, offer.
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    let id = sim.sched.config_id().clone();
    let batches = sim.batches.len();
    sim.restart(node_spec(2, Strategy::Parallel));
    assert_eq!(sim.sched.config_id(), &id, "same spec, same target");
    assert_eq!(sim.batches.len(), batches, "nothing written at start");
    assert!(sim.sched.is_deployed());

    let mark = sim.calls.len();
    sim.subscribe();
    let reconcile = sim
        .calls_since(mark)
        .iter()
        .find_map(|c| c.reconcile.clone())
        .expect("explicit reconciliation");
    assert_eq!(reconcile.tasks.len(), 2);
    assert_eq!(
        sim.count_since(mark, CallType::Suppress),
        1,
        "nothing to do"
    );
    sim.offers(&[0]);
    assert_eq!(
        sim.sched.decisions().pop().unwrap().outcome,
        "declined: reconciling task states first"
    );

    // The master answers for one task; the other is retried with backoff.
    let mut s = sim.status_of("data-0-node", TaskState::Running);
    s.uuid = None;
    s.reason = Some(Reason::Reconciliation);
    sim.send_status(s);
    let mark = sim.calls.len();
    sim.advance(4);
    let retry = sim
        .calls_since(mark)
        .iter()
        .find_map(|c| c.reconcile.clone())
        .expect("retried after 4 s");
    assert_eq!(retry.tasks.len(), 1);
    assert!(retry.tasks[0].task_id.value.starts_with("data-1-node__"));
    sim.status("data-1-node", TaskState::Running);
    sim.offers(&[0]);
    assert_eq!(
        sim.sched.decisions().pop().unwrap().outcome,
        "declined: no step needs resources"
    );
    assert_eq!(sim.last_decline_refuse(), 3600.0);
}

#[test]
fn a_reconciliation_answer_confirming_the_stored_state_writes_nothing_but_a_changed_one_is_acted_on(
) {
    // Goal: a takeover costs one lookup per running task, and the agent's own status (with its
    // readiness result) is what stays stored; yet an answer that says something new is handled
    // like any update. Method: restart a deployed service, answer RUNNING for one task and
    // TASK_LOST for the other.
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim.ready("data-0-node");
    sim.restart(node_spec(2, Strategy::Parallel));
    sim.subscribe();
    let batches = sim.batches.len();
    let mut s = sim.status_of("data-0-node", TaskState::Running);
    s.uuid = None;
    s.source = Some(cairn_proto::Source::Master);
    s.reason = Some(Reason::Reconciliation);
    sim.send_status(s);
    assert_eq!(sim.batches.len(), batches, "a confirmation is not written");
    assert!(
        sim.sched.pods()[0].tasks[0].ready,
        "the stored status keeps its readiness result"
    );

    let mut lost = sim.status_of("data-1-node", TaskState::Lost);
    lost.uuid = None;
    lost.source = Some(cairn_proto::Source::Master);
    lost.reason = Some(Reason::Reconciliation);
    sim.send_status(lost);
    assert!(sim.batches.len() > batches, "the news is stored");
    assert!(
        !sim.sched.is_deployed() || sim.recovery_step("data-1").is_some(),
        "the lost task is being recovered"
    );
    let mark = sim.calls.len();
    sim.advance(3);
    sim.offers(&[0, 1]);
    assert_eq!(
        sim.launched_since(mark),
        vec!["data-1-node".to_string()],
        "only the lost task is relaunched"
    );
}

#[test]
fn a_readiness_check_once_passed_stays_passed_across_later_updates() {
    // Goal: a health update without check results does not undo readiness. Method: ready,
    // then a plain RUNNING update; restart and check again from the store.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    let mut s = sim.status_of("data-0-node", TaskState::Running);
    s.healthy = Some(true);
    sim.send_status(s);
    assert!(sim.sched.is_deployed());
    sim.restart(node_spec(1, Strategy::Serial));
    assert!(sim.sched.is_deployed());
    assert!(sim.sched.pods()[0].tasks[0].ready);
}

#[test]
fn a_failed_commit_stops_the_scheduler_and_drops_what_depended_on_it() {
    // Goal: the simplest correct reaction to a failed write. Method: fail the launch batch.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.auto_commit = false;
    sim.offers(&[0]);
    let batch = sim.uncommitted.pop().unwrap();
    let err = sim.sched.handle_commit_failed(batch.id).unwrap_err();
    assert!(matches!(err, SchedulerError::Commit { batch_id } if batch_id == batch.id));
    assert!(
        sim.sched.poll_action().is_none(),
        "the ACCEPT never goes out"
    );
}

#[test]
fn no_call_is_emitted_while_disconnected() {
    // Goal: after the stream breaks, queued calls are dropped and nothing is sent until the
    // next SUBSCRIBED. Method: queue an ACCEPT behind a held batch, disconnect.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.auto_commit = false;
    sim.offers(&[0]);
    sim.sched.handle_disconnected(sim.now);
    let mark = sim.calls.len();
    sim.commit_pending();
    assert_eq!(
        sim.calls.len(),
        mark,
        "the batch is committed, the ACCEPT is dropped"
    );
    sim.offers(&[0]);
    assert_eq!(sim.calls.len(), mark);
    assert_eq!(sim.sched.poll_timeout(), None);
}

#[test]
fn an_invalid_spec_builds_no_scheduler_and_a_refused_change_keeps_the_target() {
    // Goal: bad input changes nothing. Method: a spec with a zero-cpu task; a validator that
    // refuses every change.
    use cairn_core::config::{ConfigValidator, ConfigViolation};
    let mut bad = node_spec(1, Strategy::Serial);
    bad.pods[0].tasks[0].resources.cpus = 0.0;
    let now = cairn_core::Time::from_millis(0);
    let err = Scheduler::new(config(), bad, StoredState::default(), now).unwrap_err();
    assert!(matches!(err, SchedulerError::Spec(_)), "{err}");

    struct Frozen;
    impl ConfigValidator for Frozen {
        fn name(&self) -> &str {
            "nothing_can_change"
        }
        fn validate(&self, old: Option<&ServiceSpec>, _: &ServiceSpec) -> Vec<ConfigViolation> {
            old.map(|_| ConfigViolation {
                validator: self.name().into(),
                path: None,
                message: "frozen".into(),
            })
            .into_iter()
            .collect()
        }
    }
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    let stored = StoredState::from_entries(&sim.store.entries).unwrap();
    let overrides = cairn_core::scheduler::Overrides {
        config_validators: vec![Box::new(Frozen)],
        ..Default::default()
    };
    // A refused change keeps the stored target in force and says why (issue 6); only a
    // refused first install builds no scheduler.
    let target = sim.sched.config_id().clone();
    let mut sched = Scheduler::with_overrides(
        config(),
        node_spec(2, Strategy::Serial),
        stored,
        now,
        overrides,
    )
    .unwrap();
    assert_eq!(sched.config_id(), &target);
    assert_eq!(sched.spec().pods[0].count, 1);
    assert_eq!(
        sched.config_errors()[0].to_string(),
        "nothing_can_change: frozen"
    );
    assert!(sched.plans()[0]
        .errors
        .contains(&"config: nothing_can_change: frozen".to_string()));
    assert_eq!(sched.poll_action(), None, "nothing is written");
}

#[test]
fn every_action_is_a_persist_or_a_call_and_the_batch_ids_increase() {
    // Goal: the driver contract. Method: poll a whole deploy.
    let mut sim = Sim::new(node_spec(2, Strategy::Parallel), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    let ids: Vec<u64> = sim.batches.iter().map(|b| b.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(matches!(
        sim.sched.poll_action(),
        None | Some(Action::Call(_))
    ));
}

#[test]
fn a_stored_target_without_its_config_is_refused_as_corrupt() {
    // Goal: a damaged store is not mistaken for a first start (which would skip the config
    // validators). Method: delete the target's config, build a scheduler.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    let id = sim.sched.config_id().clone();
    sim.store.entries.remove(&format!("Configurations/{id}"));
    let stored = StoredState::from_entries(&sim.store.entries).unwrap();
    let err =
        Scheduler::new(config(), node_spec(1, Strategy::Serial), stored, sim.now).unwrap_err();
    assert!(matches!(err, SchedulerError::Store(_)), "{err}");
}

/// RUNNING with the readiness check passed, for a batch (what `Sim::ready` sends one by one).
fn ready_status(sim: &mut Sim, name: &str) -> TaskStatus {
    let mut s = sim.status_of(name, TaskState::Running);
    s.check_status = Some(cairn_proto::CheckStatusInfo {
        type_: Some(cairn_proto::CheckType::Command),
        command: Some(cairn_proto::CheckStatusCommand { exit_code: Some(0) }),
        ..Default::default()
    });
    s
}

#[test]
fn events_handed_over_together_act_exactly_as_the_same_events_one_by_one() {
    // Goal: the driver hands a burst of events over at once (one plan re-derivation for the
    // lot); nothing a user could see may change: the same calls in the same order, the same
    // store, the same plans. Method: two schedulers, the same inputs, one event at a time and
    // in batches. Batch 1: every serial pod's readiness, each releasing the next, with OFFERS
    // between them (the offers must see the plans as the updates before them left them).
    // Batch 2: the acknowledgements' worth of a parallel deploy's updates in one burst.
    for strategy in [Strategy::Serial, Strategy::Parallel] {
        let [mut one, mut batched] = [(); 2].map(|_| Sim::new(node_spec(4, strategy), 4, AGENT));
        let mut mark = 0;
        for sim in [&mut one, &mut batched] {
            sim.subscribe();
            mark = sim.calls.len();
            sim.offers(&[0, 1, 2, 3]);
        }
        let mut launched = one.launched_since(mark);
        assert!(!launched.is_empty());
        while !launched.is_empty() {
            let mut events = Vec::new();
            for name in &launched {
                let s1 = ready_status(&mut one, name);
                let s2 = ready_status(&mut batched, name);
                assert_eq!(s1, s2);
                one.send_status(s1);
                events.push(Event::update(s2));
            }
            let mark = one.calls.len();
            let o1 = (0..4).map(|i| one.offer(i)).collect::<Vec<_>>();
            let o2 = (0..4).map(|i| batched.offer(i)).collect::<Vec<_>>();
            one.event(Event::offers(o1));
            events.push(Event::offers(o2));
            let now = batched.now;
            batched.sched.handle_events(now, events);
            batched.drain();
            launched = one.launched_since(mark);
        }
        assert!(
            one.sched.is_deployed(),
            "{strategy:?}: {:#?}",
            one.sched.plans()
        );
        let types = |sim: &Sim| sim.calls.iter().map(|c| c.type_).collect::<Vec<_>>();
        assert!(
            one.calls == batched.calls,
            "{strategy:?}: the calls differ: {:?} vs {:?}",
            types(&one),
            types(&batched)
        );
        assert_eq!(one.store.entries, batched.store.entries, "{strategy:?}");
        assert_eq!(one.sched.plans(), batched.sched.plans(), "{strategy:?}");
    }
}

/// The acknowledgements among `calls`, as (task id, uuid).
fn acks(calls: &[cairn_proto::scheduler::Call]) -> Vec<(String, cairn_proto::Bytes)> {
    calls
        .iter()
        .filter_map(|c| c.acknowledge.as_ref())
        .map(|a| (a.task_id.value.clone(), a.uuid.clone()))
        .collect()
}

#[test]
fn a_starting_update_re_delivered_after_a_takeover_is_acknowledged_and_the_running_task_stays_running(
) {
    // Goal: after a failover Mesos may re-deliver an update the scheduler had acknowledged
    // (the agent did not keep the acknowledgement); a task never moves back because of it.
    // Method: deploy (STARTING, then RUNNING and ready), restart the scheduler, have the master
    // confirm RUNNING by reconciliation and then re-deliver the old STARTING, with its uuid.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let mut starting = sim.status_of("data-0-node", TaskState::Starting);
    starting.timestamp = Some(100.0);
    sim.send_status(starting.clone());
    let mut running = ready_status(&mut sim, "data-0-node");
    running.timestamp = Some(101.0);
    sim.send_status(running);
    assert!(sim.sched.is_deployed());

    sim.restart(node_spec(1, Strategy::Serial));
    sim.subscribe();
    let mut confirmed = sim.status_of("data-0-node", TaskState::Running);
    confirmed.uuid = None;
    confirmed.source = Some(Source::Master);
    confirmed.reason = Some(Reason::Reconciliation);
    confirmed.timestamp = Some(200.0);
    sim.send_status(confirmed);
    let (batches, mark) = (sim.batches.len(), sim.calls.len());
    sim.send_status(starting.clone());

    assert_eq!(
        acks(sim.calls_since(mark)),
        vec![(
            starting.task_id.value.clone(),
            starting.uuid.clone().unwrap()
        )],
        "the re-delivered update is acknowledged, or the agent re-sends it forever"
    );
    assert_eq!(sim.batches.len(), batches, "nothing is written");
    let task = &sim.sched.pods()[0].tasks[0];
    assert_eq!(task.state, Some(TaskState::Running), "{task:?}");
    assert!(task.ready, "{task:?}");
    assert!(sim.sched.is_deployed());
    assert_eq!(sim.count_since(mark, CallType::Kill), 0);
}

#[test]
fn an_agent_update_older_by_its_timestamp_than_the_stored_one_is_acknowledged_and_not_acted_on() {
    // Goal: a re-delivered RUNNING must not bring a failed task back (the pod would never be
    // relaunched), while a terminal update is taken whatever its time. Method: RUNNING at
    // t=100, FAILED at t=200, the RUNNING again; then a relaunch on the next offer.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let mut running = ready_status(&mut sim, "data-0-node");
    running.timestamp = Some(100.0);
    sim.send_status(running.clone());
    let mut failed = sim.status_of("data-0-node", TaskState::Failed);
    failed.timestamp = Some(200.0);
    sim.send_status(failed);

    let (batches, mark) = (sim.batches.len(), sim.calls.len());
    sim.event(Event::update(running.clone()));
    assert_eq!(
        acks(sim.calls_since(mark)),
        vec![(running.task_id.value.clone(), running.uuid.clone().unwrap())]
    );
    assert_eq!(sim.batches.len(), batches, "nothing is written");
    assert_eq!(
        sim.sched.pods()[0].tasks[0].state,
        Some(TaskState::Failed),
        "the task stays failed"
    );

    sim.advance(60);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.launched_since(mark),
        vec!["data-0-node".to_string()],
        "the failed pod is relaunched"
    );
}
