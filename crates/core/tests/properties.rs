//! Safety properties of plan derivation and the offer pipeline, over generated states.

mod common;

use cairn_core::decide::Context;
use cairn_core::plan::{deploy_plan_spec, derive, ExpandedPlan, PlanInput, PlanOverrides, Status};
use cairn_core::recovery::InPlaceRecovery;
use cairn_core::scheduler::Scheduler;
use cairn_core::spec::Strategy as Rollout;
use cairn_core::store::{ConfigId, TaskRecord};
use cairn_proto::{Labels, TaskInfo, TaskState, TaskStatus};
use common::*;
use proptest::prelude::{
    any, prop_assert, prop_assert_eq, prop_assert_ne, prop_oneof, proptest, Just,
};

fn assert_send<T: Send>() {}

#[test]
fn the_scheduler_can_move_between_threads() {
    // Goal: the sdk's driver can own it in a tokio task. Method: a compile-time check.
    assert_send::<Scheduler>();
}

const STATES: &[Option<TaskState>] = &[
    None,
    Some(TaskState::Staging),
    Some(TaskState::Running),
    Some(TaskState::Failed),
    Some(TaskState::Finished),
    Some(TaskState::Killed),
];

/// A stored task of `data-<i>-node` on config `config` in `state` (None: not launched).
fn record(i: u32, config: &str, state: Option<TaskState>, ready: bool) -> TaskRecord {
    let mut status = state.map(|s| TaskStatus::new(format!("t{i}"), s));
    if ready {
        if let Some(s) = status.as_mut() {
            s.check_status = Some(cairn_proto::CheckStatusInfo {
                command: Some(cairn_proto::CheckStatusCommand { exit_code: Some(0) }),
                ..Default::default()
            });
        }
    }
    TaskRecord {
        info: TaskInfo {
            name: format!("data-{i}-node"),
            task_id: format!("t{i}").into(),
            labels: Some(Labels::from_pairs([("target_configuration", config)])),
            ..TaskInfo::default()
        },
        status,
        history: Default::default(),
    }
}

proptest! {
    // Goal: strategies never release more than they allow, and a COMPLETE step is never
    // released. Method: random task states per instance, every strategy.
    #[test]
    fn serial_releases_at_most_one_step_and_complete_steps_are_never_released(
        states in proptest::collection::vec((0usize..STATES.len(), any::<bool>(), any::<bool>()), 1..8),
        strategy in prop_oneof![Just(Rollout::Serial), Just(Rollout::Parallel),
                                Just(Rollout::SerialCanary), Just(Rollout::ParallelCanary)],
        continues in 0u32..3,
    ) {
        let spec = node_spec(states.len() as u32, strategy);
        let target = ConfigId("target".into());
        let tasks = states
            .iter()
            .enumerate()
            .filter(|(_, (s, _, _))| *s != 0)
            .map(|(i, (s, ready, on_target))| {
                let config = if *on_target { "target" } else { "old" };
                (format!("data-{i}-node"), record(i as u32, config, STATES[*s], *ready))
            })
            .collect();
        let mut overrides = PlanOverrides::default();
        overrides.continues.insert("deploy/data".into(), continues);
        let plan = derive(&ExpandedPlan::new(&spec, deploy_plan_spec(&spec)), &PlanInput {
            run: None,
            spec: &spec,
            context: Context::new(&target, &InPlaceRecovery),
            tasks: &tasks,
            overrides: &overrides,
        });
        let steps = &plan.status.phases[0].steps;
        if matches!(strategy, Rollout::Serial | Rollout::SerialCanary) {
            prop_assert!(plan.work.released.len() <= 1);
        }
        if continues == 0 && matches!(strategy, Rollout::SerialCanary | Rollout::ParallelCanary) {
            prop_assert!(plan.work.released.is_empty(), "a canary starts nothing before a continue");
        }
        for r in &plan.work.released {
            let s = steps.iter().find(|s| s.name == r.step).unwrap();
            prop_assert_ne!(s.status, Status::Complete);
            prop_assert_eq!(s.status, Status::Prepared);
        }
        let all_complete = steps.iter().all(|s| s.status == Status::Complete);
        prop_assert_eq!(all_complete, plan.status.status == Status::Complete);
    }

    // Goal: every launch is preceded by its write; a deployed service launches nothing more.
    // Method: a random number of pods and agents, deploy, then offer everything again.
    #[test]
    fn a_deployed_service_launches_nothing_more_and_every_launch_was_persisted_first(
        pods in 1u32..6,
        agents in 1usize..4,
        parallel in any::<bool>(),
    ) {
        let strategy = if parallel { Rollout::Parallel } else { Rollout::Serial };
        let mut sim = Sim::new(node_spec(pods, strategy), agents, "cpus:16;mem:16384;disk:10000");
        sim.subscribe();
        sim.deploy_all();
        let mark = sim.calls.len();
        let all: Vec<usize> = (0..agents).collect();
        sim.offers(&all);
        prop_assert!(sim.launched_since(mark).is_empty());
        for name in sim.launched_since(0) {
            let key = format!("Tasks/{name}/TaskInfo");
            prop_assert!(sim.store.entries.contains_key(&key), "{} was launched unpersisted", name);
        }
    }
}
