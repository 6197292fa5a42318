//! Config updates (issue 6): rollouts by strategy on the pods' own reservations and volumes,
//! growing a count, refusals by the config validators, the `update` plan, restarts in the
//! middle, and garbage collection of configs no task refers to.

mod common;

use std::collections::BTreeMap;

use cairn_core::plan::Status;
use cairn_core::scheduler::UpdateCheck;
use cairn_core::spec::*;
use cairn_core::store::Store;
use cairn_proto::{OperationType, TaskInfo, TaskState};
use common::*;

/// Persistence ids of a TaskInfo's resources.
fn volumes(info: &TaskInfo) -> Vec<String> {
    info.resources
        .iter()
        .filter_map(|r| r.persistence_id().map(str::to_string))
        .collect()
}

fn deployed(count: u32, strategy: Strategy, agents: usize) -> Sim {
    let mut sim = Sim::new(node_spec(count, strategy), agents, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim
}

fn names(count: u32) -> Vec<String> {
    (0..count).map(|i| format!("data-{i}-node")).collect()
}

/// Task name → (task id, agent, volumes), for every launched task of `count` pods.
fn homes(sim: &Sim, count: u32) -> BTreeMap<String, (String, String, Vec<String>)> {
    names(count)
        .into_iter()
        .filter_map(|n| {
            let i = sim.sched.task_info(&n)?;
            Some((
                n,
                (
                    i.task_id.value.clone(),
                    i.agent_id.value.clone(),
                    volumes(i),
                ),
            ))
        })
        .collect()
}

/// Answers every KILL since `mark` with TASK_KILLED; returns the task names killed.
fn answer_kills(sim: &mut Sim, mark: usize, count: u32) -> Vec<String> {
    let killed: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    let mut out = Vec::new();
    for n in names(count) {
        let Some(info) = sim.sched.task_info(&n) else {
            continue;
        };
        if killed.contains(&info.task_id.value) {
            sim.status(&n, TaskState::Killed);
            out.push(n);
        }
    }
    out
}

/// A restarted scheduler subscribes; its running tasks answer reconciliation (RUNNING and
/// ready), and the kills it sends at once are answered. Returns the task names killed.
fn resubscribe(sim: &mut Sim, count: u32) -> Vec<String> {
    let mark = sim.calls.len();
    sim.subscribe();
    for n in names(count) {
        if sim.sched.task_info(&n).is_some() {
            sim.ready(&n);
        }
    }
    answer_kills(sim, mark, count)
}

fn with_cpus(count: u32, cpus: f64) -> ServiceSpec {
    let mut s = node_spec(count, Strategy::Serial);
    s.pods[0].tasks[0].resources.cpus = cpus;
    s
}

/// Offers from every agent until nothing more happens, answering kills and readiness. Returns
/// the most pods that were down (killed and not yet ready again) at any one time.
fn roll_out(sim: &mut Sim, count: u32) -> usize {
    roll_out_watching(sim, count, Vec::new(), |_, _, _| {})
}

/// [`roll_out`] from pods already `down`, telling `on_kill` of each kill the rollout sends
/// (the pod, and those down when it was sent) before counting it as down.
fn roll_out_watching(
    sim: &mut Sim,
    count: u32,
    mut down: Vec<String>,
    mut on_kill: impl FnMut(&Sim, &str, &[String]),
) -> usize {
    let mut most_down = down.len();
    for _ in 0..40 {
        if sim.sched.is_deployed() {
            break;
        }
        let mark = sim.calls.len();
        let all: Vec<usize> = (0..sim.agents.len()).collect();
        sim.offers(&all);
        for n in sim.launched_since(mark) {
            sim.ready(&n);
            down.retain(|d| *d != n);
        }
        // Kills sent for the offers or for a pod that just became ready.
        for n in answer_kills(sim, mark, count) {
            on_kill(sim, &n, &down);
            down.push(n);
        }
        most_down = most_down.max(down.len());
        sim.advance(6);
    }
    assert!(sim.sched.is_deployed(), "{:#?}", sim.sched.plans());
    most_down
}

#[test]
fn a_cpu_change_restarts_pods_one_at_a_time_each_keeping_its_agent_and_volume() {
    let mut sim = deployed(3, Strategy::Serial, 3);
    let before = homes(&sim, 3);
    let old_config = sim.sched.config_id().clone();
    sim.restart(with_cpus(3, 1.5));
    assert_ne!(sim.sched.config_id(), &old_config);
    let mark = sim.calls.len();
    let first = resubscribe(&mut sim, 3);
    assert_eq!(first.len(), 1, "serial: one pod is killed first");
    let most_down = roll_out(&mut sim, 3);
    assert_eq!(most_down, 1, "serial: never two pods down at once");
    let after = homes(&sim, 3);
    for (name, (id, agent, vols)) in &before {
        let (new_id, new_agent, new_vols) = &after[name];
        assert_ne!(new_id, id, "{name} was relaunched");
        assert_eq!(new_agent, agent, "{name} kept its agent");
        assert_eq!(new_vols, vols, "{name} kept its volume");
    }
    // The extra 0.5 cpus were reserved on the same agents, with no new volume.
    let ops = sim.operations_since(mark);
    assert!(ops.contains(&OperationType::Reserve), "{ops:?}");
    assert!(!ops.contains(&OperationType::Create), "{ops:?}");
    assert!(!ops.contains(&OperationType::Unreserve), "{ops:?}");
}

#[test]
fn a_grown_reservation_that_does_not_fit_its_agent_waits_and_says_why() {
    let mut sim = deployed(1, Strategy::Serial, 1);
    sim.restart(with_cpus(1, 8.0));
    resubscribe(&mut sim, 1);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(sim.launched_since(mark).is_empty());
    let (status, message) = sim.step("data-0:[node]");
    assert_eq!(status, Status::Prepared);
    assert!(message.contains("cpus"), "{message}");
}

#[test]
fn raising_the_count_launches_the_new_pod_and_touches_no_other() {
    let mut sim = deployed(3, Strategy::Serial, 3);
    let before = homes(&sim, 3);
    sim.restart(node_spec(4, Strategy::Serial));
    let mark = sim.calls.len();
    resubscribe(&mut sim, 3);
    sim.deploy_all();
    assert_eq!(sim.launched_since(mark), ["data-3-node"]);
    assert_eq!(
        sim.count_since(mark, cairn_proto::scheduler::CallType::Kill),
        0
    );
    let after = homes(&sim, 4);
    for (name, home) in &before {
        assert_eq!(&after[name], home, "{name} untouched");
    }
}

#[test]
fn a_volume_size_change_is_refused_by_name_and_nothing_changes() {
    let mut sim = deployed(2, Strategy::Serial, 2);
    let before = homes(&sim, 2);
    let target = sim.sched.config_id().clone();
    let mut bigger = node_spec(2, Strategy::Serial);
    bigger.pods[0].volumes[0].size_mb = 500;
    bigger.pods[0].tasks[0].resources.cpus = 2.0;
    let batches = sim.batches.len();
    sim.restart(bigger);
    assert_eq!(sim.batches.len(), batches, "nothing is written");
    assert_eq!(sim.sched.config_id(), &target);
    let errors = &sim.sched.plans()[0].errors;
    assert!(
        errors.iter().any(|e| e.contains("volumes_cannot_change")),
        "{errors:?}"
    );
    assert!(resubscribe(&mut sim, 2).is_empty());
    sim.offers(&[0, 1]);
    assert!(sim.sched.is_deployed());
    assert_eq!(homes(&sim, 2), before, "same task ids, agents and volumes");
}

// Goal: a restart with a spec whose role or principal changed would strand every pod (its
// reservations belong to the old role and principal); it is refused by name, nothing is
// written, and the service keeps running on its reservations under the stored target.
#[test]
fn a_role_or_principal_change_on_restart_is_refused_by_name_and_nothing_changes() {
    for (field, validator) in [
        ("role", "role_cannot_change"),
        ("principal", "principal_cannot_change"),
    ] {
        let mut sim = deployed(2, Strategy::Serial, 2);
        let before = homes(&sim, 2);
        let target = sim.sched.config_id().clone();
        let mut moved = node_spec(2, Strategy::Serial);
        match field {
            "role" => moved.role = "elsewhere-role".into(),
            _ => moved.principal = "someone-else".into(),
        }
        let batches = sim.batches.len();
        sim.restart(moved);
        assert_eq!(sim.batches.len(), batches, "{field}: nothing is written");
        assert_eq!(sim.sched.config_id(), &target);
        let rules: Vec<_> = sim
            .sched
            .config_errors()
            .iter()
            .map(|v| v.validator.clone())
            .collect();
        assert_eq!(rules, [validator]);
        assert_eq!(
            sim.sched.framework_info().roles,
            vec![node_spec(2, Strategy::Serial).role],
            "{field}: the scheduler subscribes under the stored target's role"
        );
        assert!(
            resubscribe(&mut sim, 2).is_empty(),
            "{field}: nothing killed"
        );
        sim.offers(&[0, 1]);
        assert!(sim.sched.is_deployed());
        assert_eq!(
            homes(&sim, 2),
            before,
            "{field}: same tasks, agents, volumes"
        );
    }
}

#[test]
fn a_count_decrease_without_allow_decommission_is_refused_and_nothing_changes() {
    let mut sim = deployed(3, Strategy::Serial, 3);
    let before = homes(&sim, 3);
    let target = sim.sched.config_id().clone();
    sim.restart(node_spec(2, Strategy::Serial));
    assert_eq!(sim.sched.config_id(), &target);
    assert_eq!(sim.sched.spec().pods[0].count, 3, "the old target runs");
    let v = sim.sched.config_errors();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].validator, "pod_count_cannot_shrink");
    let mark = sim.calls.len();
    resubscribe(&mut sim, 3);
    sim.offers(&[0, 1, 2]);
    assert_eq!(
        sim.count_since(mark, cairn_proto::scheduler::CallType::Kill),
        0
    );
    assert_eq!(homes(&sim, 3), before);
}

#[test]
fn the_pure_check_reports_what_a_restart_would_refuse() {
    let old = node_spec(3, Strategy::Serial);
    let mut new = node_spec(2, Strategy::Serial);
    new.pods[0].volumes[0].size_mb = 1;
    let v = cairn_core::config::validate_update(
        Some(&old),
        &new,
        &cairn_core::config::default_validators(),
    );
    let rules: Vec<&str> = v.iter().map(|v| v.validator.as_str()).collect();
    assert_eq!(rules, ["pod_count_cannot_shrink", "volumes_cannot_change"]);
}

#[test]
fn a_spec_handed_to_a_running_scheduler_is_judged_as_a_restart_would_judge_it_and_changes_nothing()
{
    // Goal: `cairn update` against a running scheduler. The check runs the built-in validators
    // and the author's, names every violation, and writes and sends nothing; an author's
    // validator survives a restart through `into_overrides`. Method: a deployed service, specs
    // handed to it, then the scheduler rebuilt from its own overrides.
    struct NoMoreThanFour;
    impl cairn_core::config::ConfigValidator for NoMoreThanFour {
        fn name(&self) -> &str {
            "no_more_than_four"
        }
        fn validate(
            &self,
            _old: Option<&ServiceSpec>,
            new: &ServiceSpec,
        ) -> Vec<cairn_core::config::ConfigViolation> {
            new.pods
                .iter()
                .filter(|p| p.count > 4)
                .map(|p| cairn_core::config::ConfigViolation {
                    validator: self.name().into(),
                    path: Some(format!("pods.{}.count", p.type_name)),
                    message: "at most 4".into(),
                })
                .collect()
        }
    }
    let overrides = cairn_core::scheduler::Overrides {
        config_validators: vec![Box::new(NoMoreThanFour)],
        ..Default::default()
    };
    let mut sim = Sim::with(node_spec(3, Strategy::Serial), 3, AGENT, overrides);
    sim.subscribe();
    sim.deploy_all();
    let (batches, calls) = (sim.batches.len(), sim.calls.len());
    let check =
        |sim: &Sim, spec: &ServiceSpec| sim.sched.check_update(spec).expect("not uninstalling");

    assert_eq!(
        check(&sim, &node_spec(3, Strategy::Serial)),
        UpdateCheck::Unchanged
    );
    assert_eq!(check(&sim, &with_cpus(3, 2.0)), UpdateCheck::Accepted);
    let mut shrunk = node_spec(2, Strategy::Serial);
    shrunk.pods[0].volumes[0].size_mb = 1;
    let UpdateCheck::Refused(v) = check(&sim, &shrunk) else {
        panic!("a shrink with a volume change is refused");
    };
    let rules: Vec<&str> = v.iter().map(|v| v.validator.as_str()).collect();
    assert_eq!(rules, ["pod_count_cannot_shrink", "volumes_cannot_change"]);
    let UpdateCheck::Refused(v) = check(&sim, &node_spec(5, Strategy::Serial)) else {
        panic!("the author's validator refuses 5 pods");
    };
    assert_eq!(v[0].validator, "no_more_than_four");
    assert_eq!(v[0].path.as_deref(), Some("pods.data.count"));
    assert_eq!(
        (sim.batches.len(), sim.calls.len()),
        (batches, calls),
        "checking writes and sends nothing"
    );

    // A scheduler restarted with the running one's overrides keeps the author's validator.
    sim.restart_keeping_overrides(node_spec(5, Strategy::Serial));
    assert_eq!(sim.sched.config_errors()[0].validator, "no_more_than_four");
    assert_eq!(sim.sched.spec().pods[0].count, 3, "the old target runs");
}

#[test]
fn a_scheduler_restart_in_the_middle_of_an_update_finishes_it() {
    let mut sim = deployed(3, Strategy::Serial, 3);
    let before = homes(&sim, 3);
    let changed = with_cpus(3, 1.5);
    sim.restart(changed.clone());
    let target = sim.sched.config_id().clone();
    // One pod is killed and relaunched, then the scheduler dies.
    resubscribe(&mut sim, 3);
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    let relaunched = sim.launched_since(mark);
    assert_eq!(relaunched.len(), 1);
    sim.restart(changed);
    assert_eq!(sim.sched.config_id(), &target, "the same spec keeps its id");
    let mark = sim.calls.len();
    sim.subscribe();
    for n in names(3) {
        let state = if relaunched.contains(&n) {
            TaskState::Staging
        } else {
            TaskState::Running
        };
        if state == TaskState::Running {
            sim.ready(&n);
        } else {
            sim.status(&n, state);
        }
    }
    sim.ready(&relaunched[0]);
    assert_eq!(
        answer_kills(&mut sim, mark, 3).len(),
        1,
        "the next pod goes"
    );
    roll_out(&mut sim, 3);
    let after = homes(&sim, 3);
    for (name, (id, agent, _)) in &before {
        assert_ne!(&after[name].0, id);
        assert_eq!(&after[name].1, agent);
    }
}

#[test]
fn a_finish_task_reruns_after_a_config_change() {
    let spec = |cmd: &str| {
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("job").task(
                    TaskSpec::builder("run")
                        .cmd(cmd)
                        .cpus(0.1)
                        .memory_mb(32)
                        .goal(Goal::Finish),
                ),
            )
            .build()
            .unwrap()
    };
    let mut sim = Sim::new(spec("./a"), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.status("job-0-run", TaskState::Finished);
    assert!(sim.sched.is_deployed());
    sim.restart(spec("./b"));
    sim.subscribe();
    sim.status("job-0-run", TaskState::Finished);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), ["job-0-run"]);
}

#[test]
fn the_update_plan_rolls_out_changes_once_the_first_deploy_completed() {
    let spec = |cpus: f64| {
        let mut s = with_cpus(2, cpus);
        s.plans.push(
            PlanSpec::new("update")
                .strategy(Strategy::Parallel)
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        );
        s
    };
    let mut sim = Sim::new(spec(1.0), 2, AGENT);
    sim.subscribe();
    assert_eq!(sim.sched.plans()[0].name, "deploy");
    sim.deploy_all();
    assert!(sim
        .store
        .load()
        .unwrap()
        .contains_key("Properties/deploy-completed"));
    sim.restart(spec(1.5));
    assert_eq!(sim.sched.plans()[0].name, "update");
    // Parallel: both pods are killed at once.
    assert_eq!(resubscribe(&mut sim, 2).len(), 2);
}

#[test]
fn configs_no_task_refers_to_are_deleted_at_start() {
    let mut sim = deployed(1, Strategy::Serial, 1);
    let first = sim.sched.config_id().clone();
    sim.restart(with_cpus(1, 1.5));
    let second = sim.sched.config_id().clone();
    let key = |id: &cairn_core::store::ConfigId| format!("Configurations/{id}");
    // The running task still refers to the first config: kept.
    assert!(sim.store.load().unwrap().contains_key(&key(&first)));
    resubscribe(&mut sim, 1);
    roll_out(&mut sim, 1);
    sim.restart(with_cpus(1, 1.5));
    let entries = sim.store.load().unwrap();
    assert!(!entries.contains_key(&key(&first)), "unreferenced: deleted");
    assert!(entries.contains_key(&key(&second)), "the target stays");
}

// Goal: a spec handed to a running scheduler is judged with the scheduler's own TASKCFG_*
// settings routed in, as the next scheduler will run it: a spec that differs from the target
// only by lacking them is the target already, one whose new pod type gets a variable the
// rules refuse is refused before anything restarts, and a spec's own value is overridden.
// Method: a scheduler configured with settings; three specs handed to `check_update`.
#[test]
fn an_update_is_judged_with_the_scheduler_s_own_taskcfg_settings() {
    let taskcfg: BTreeMap<String, String> =
        [("TASKCFG_ALL_LEVEL", "debug"), ("TASKCFG_EXTRA_1X", "bad")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let spec = node_spec(1, Strategy::Serial);
    let sim = Sim::with_config(
        spec.clone(),
        1,
        AGENT,
        Default::default(),
        cairn_core::SchedulerConfig {
            taskcfg,
            ..config()
        },
    );
    assert_eq!(
        sim.sched.spec().pods[0].tasks[0]
            .env
            .get("LEVEL")
            .map(String::as_str),
        Some("debug")
    );
    assert_eq!(sim.sched.check_update(&spec), Ok(UpdateCheck::Unchanged));

    let mut own_value = spec.clone();
    own_value.pods[0].tasks[0]
        .env
        .insert("LEVEL".into(), "info".into());
    assert_eq!(
        sim.sched.check_update(&own_value),
        Ok(UpdateCheck::Unchanged)
    );

    let mut extra = spec.clone();
    let mut pod = extra.pods[0].clone();
    pod.type_name = "extra".into();
    extra.pods.push(pod);
    let refusal = sim.sched.check_update(&extra).unwrap_err();
    assert!(
        refusal.0.contains("TASKCFG_* settings routed in")
            && refusal.0.contains("pods.extra.tasks.node.env.1X"),
        "{}",
        refusal.0
    );
}

#[test]
fn a_pod_restarted_during_a_serial_rollout_is_rolled_next_and_no_other_pod_is_killed_while_it_is_down(
) {
    // Goal: an operator's restart of a member during a serial rollout does not let the
    // rollout take down a second member. Method: roll a cpu change; while data-0 is rolled,
    // restart data-2; answer every kill and launch, and check that whenever the rollout kills
    // a pod, no other pod is down.
    let mut sim = deployed(3, Strategy::Serial, 3);
    sim.restart(with_cpus(3, 1.5));
    let first = resubscribe(&mut sim, 3);
    assert_eq!(first, ["data-0-node"]);
    let mark = sim.calls.len();
    sim.sched
        .handle_command(
            sim.now,
            cairn_core::plan::Command::Restart {
                pod: "data-2".into(),
            },
        )
        .unwrap();
    sim.drain();
    let mut down = answer_kills(&mut sim, mark, 3);
    assert_eq!(down, ["data-2-node"]);
    down.push("data-0-node".into());
    let mut killed_by_rollout = Vec::new();
    roll_out_watching(&mut sim, 3, down, |sim, n, down| {
        assert!(
            down.is_empty(),
            "{n} was killed while {down:?} was down\n{:#?}",
            sim.sched.plans()
        );
        killed_by_rollout.push(n.to_string());
    });
    assert_eq!(
        killed_by_rollout,
        ["data-1-node"],
        "data-2 was down already"
    );
    let target = sim.sched.config_id().clone();
    for n in names(3) {
        assert!(
            cairn_core::labels::launched_under(&sim.info(&n), &target),
            "{n} runs the new config"
        );
    }
}

fn command(sim: &mut Sim, command: cairn_core::plan::Command) {
    let now = sim.now;
    sim.sched.handle_command(now, command).unwrap();
    sim.drain();
}

fn interrupt_deploy() -> cairn_core::plan::Command {
    cairn_core::plan::Command::Interrupt {
        plan: "deploy".into(),
        phase: None,
    }
}

// Goal: an interrupt during a rollout never leaves a pod down: the pod whose old task the
// rollout killed is relaunched and becomes ready, and nothing new starts; the interrupt
// survives a restart and a new spec; a `continue` finishes the rollout.
#[test]
fn an_interrupt_mid_rollout_lets_the_killed_pod_come_back_and_starts_nothing_new() {
    let count = 3;
    let mut sim = deployed(count, Strategy::Serial, 3);
    sim.restart(with_cpus(count, 1.5));
    let killed = resubscribe(&mut sim, count);
    assert_eq!(killed, ["data-0-node"], "serial: one pod is killed first");
    command(&mut sim, interrupt_deploy());
    let mark = sim.calls.len();
    for _ in 0..3 {
        sim.offers(&[0, 1, 2]);
        for n in sim.launched_since(mark) {
            sim.ready(&n);
        }
        sim.advance(6);
    }
    assert_eq!(
        sim.launched_since(mark),
        ["data-0-node"],
        "the killed pod is relaunched, and only it"
    );
    assert_eq!(
        sim.count_since(mark, cairn_proto::scheduler::CallType::Kill),
        0
    );
    assert_eq!(sim.step("data-0:[node]").0, Status::Complete);
    let (status, why) = sim.step("data-1:[node]");
    assert_eq!(status, Status::Waiting);
    assert!(why.contains("cairn plan continue deploy"), "{why}");
    // A restart, and then a new spec: still interrupted, nothing killed or launched.
    sim.restart(with_cpus(count, 1.5));
    let mark = sim.calls.len();
    assert!(resubscribe(&mut sim, count).is_empty());
    sim.restart(with_cpus(count, 2.0));
    assert!(resubscribe(&mut sim, count).is_empty());
    sim.offers(&[0, 1, 2]);
    assert!(sim.launched_since(mark).is_empty());
    assert_eq!(sim.step("data-0:[node]").0, Status::Waiting);
    let mark = sim.calls.len();
    command(
        &mut sim,
        cairn_core::plan::Command::Continue {
            plan: "deploy".into(),
            phase: None,
        },
    );
    let down = answer_kills(&mut sim, mark, count);
    assert_eq!(down.len(), 1, "the continue takes one pod down");
    let most_down = roll_out_watching(&mut sim, count, down, |_, _, _| {});
    assert_eq!(most_down, 1, "one pod down at a time");
}
