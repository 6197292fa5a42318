//! The core's own overhead per rolling-update step, for a service of 100 pods (target: ≤ 100 ms
//! per step).
//!
//! Method: a spec of 100 one-task pods (a ROOT volume, a readiness check; a parallel deploy
//! plan, and an `update` plan whose phase is serial) is deployed to completion on 10 fake agents
//! by the `Sim` harness of the integration tests. The spec's cpus are then raised and the
//! scheduler restarted with it (`restart`): the update plan rolls the pods one at a time, each
//! on its own reservation and volume. The restarted scheduler subscribes and its tasks answer
//! reconciliation RUNNING and ready (the "takeover", timed apart); the first KILL goes out
//! there. Then, until the update plan is COMPLETE, one step is: answer the KILL with
//! TASK_KILLED (the harness gives the task's resources back to its agent), offer every agent's
//! free resources, observe the LAUNCH_GROUP (with the RESERVE of the extra cpus), answer it
//! RUNNING with the readiness check passed — which releases the next pod and its KILL. A round
//! that launches nothing advances the virtual clock (timers, backoffs) and offers again.
//!
//! Timed: only the calls into the core — each event handed to the `Scheduler` (OFFERS, UPDATE,
//! timeouts) with the draining of its actions (the `MemStore` commit of its Persists and the
//! fake agents applying its ACCEPTs are inside that, a small over-count). Building the offers
//! and statuses is not timed; the task's start and readiness are simulated (zero).
//! Plain `Instant` timing; `cargo bench -p cairn-core --bench rollout`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cairn_core::plan::Status;
use cairn_core::spec::*;
use cairn_proto::scheduler::CallType;
use cairn_proto::{
    CheckStatusCommand, CheckStatusInfo, CheckType, OperationType, TaskState, TaskStatus,
};
use common::Sim;

const PODS: u32 = 100;
const AGENTS: usize = 10;
const AGENT_RESOURCES: &str = "cpus:32;mem:32768;disk:100000;ports:[31000-31100]";
/// Offer rounds a step may take before the rollout is called stalled.
const MAX_ROUNDS: usize = 20;

fn spec(cpus: f64) -> ServiceSpec {
    ServiceSpec::builder("bench")
        .pod(
            PodSpec::builder("data")
                .count(PODS)
                .volume(VolumeSpec::root("data", 100))
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(cpus)
                        .memory_mb(256)
                        .readiness_check(ReadinessCheckSpec::new("./ready")),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .plan(
            PlanSpec::new("update")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Serial)),
        )
        .build()
        .expect("bench spec")
}

/// Runs `f` against the harness and returns how long it took.
fn timed(sim: &mut Sim, f: impl FnOnce(&mut Sim)) -> Duration {
    let t = Instant::now();
    f(sim);
    t.elapsed()
}

/// Offers every agent's free resources (the offers built outside the timing).
fn offer_all(sim: &mut Sim) -> Duration {
    let offers: Vec<_> = (0..sim.agents.len()).map(|i| sim.offer(i)).collect();
    timed(sim, |s| {
        s.event(cairn_proto::scheduler::Event::offers(offers))
    })
}

/// Task names whose current task was killed by a call since `mark`.
fn killed_since(sim: &Sim, mark: usize) -> Vec<String> {
    let ids: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    (0..PODS)
        .map(|i| format!("data-{i}-node"))
        .filter(|n| {
            sim.sched
                .task_info(n)
                .is_some_and(|info| ids.contains(&info.task_id.value))
        })
        .collect()
}

/// RUNNING with the readiness check passed, as `Sim::ready` sends it.
fn ready_status(sim: &mut Sim, name: &str) -> TaskStatus {
    let mut s = sim.status_of(name, TaskState::Running);
    s.check_status = Some(CheckStatusInfo {
        type_: Some(CheckType::Command),
        command: Some(CheckStatusCommand { exit_code: Some(0) }),
        ..CheckStatusInfo::default()
    });
    s
}

fn stalled(sim: &Sim, why: &str) -> ! {
    let plan = &sim.sched.plans()[0];
    let steps: Vec<String> = plan
        .phases
        .iter()
        .flat_map(|p| &p.steps)
        .filter(|s| s.status != Status::Complete)
        .take(5)
        .map(|s| format!("{} {:?} {}", s.name, s.status, s.message))
        .collect();
    panic!(
        "rollout stalled: {why}; plan {} {:?}, errors {:?}, first steps not complete: {steps:#?}",
        plan.name, plan.status, plan.errors
    );
}

fn main() {
    let setup = Instant::now();
    let mut sim = Sim::new(spec(0.5), AGENTS, AGENT_RESOURCES);
    sim.subscribe();
    sim.deploy_all();
    let deployed = setup.elapsed();

    // The change: more cpus per task, rolled out by the serial update plan.
    let t = Instant::now();
    sim.restart(spec(0.6));
    let restart = t.elapsed();
    assert_eq!(sim.sched.plans()[0].name, "update", "the update plan runs");

    // Takeover: SUBSCRIBED, then every task answers reconciliation running and ready.
    let start = sim.calls.len();
    let mut takeover = timed(&mut sim, |s| s.subscribe());
    for i in 0..PODS {
        let status = ready_status(&mut sim, &format!("data-{i}-node"));
        takeover += timed(&mut sim, |s| s.send_status(status));
    }

    let mut steps: Vec<Duration> = Vec::new();
    // Per kind of call into the core: [TASK_KILLED answers, OFFERS, RUNNING+ready, timeouts].
    let mut by_kind = [Duration::ZERO; 4];
    let mut rounds_max = 0;
    let mut kill_mark = start;
    let mut answered_kills = 0;
    while !sim.sched.is_deployed() {
        if steps.len() >= PODS as usize {
            stalled(&sim, "more steps than pods");
        }
        let mut step = Duration::ZERO;
        let mut launched = Vec::new();
        for round in 0.. {
            if round == MAX_ROUNDS {
                stalled(&sim, &format!("step {} launched nothing", steps.len() + 1));
            }
            // The kills sent so far, answered TASK_KILLED.
            let killed = killed_since(&sim, kill_mark);
            kill_mark = sim.calls.len();
            for n in killed {
                let status = sim.status_of(&n, TaskState::Killed);
                let d = timed(&mut sim, |s| s.send_status(status));
                by_kind[0] += d;
                step += d;
                answered_kills += 1;
            }
            let mark = sim.calls.len();
            let d = offer_all(&mut sim);
            by_kind[1] += d;
            step += d;
            launched = sim.launched_since(mark);
            rounds_max = rounds_max.max(round + 1);
            if !launched.is_empty() {
                break;
            }
            let d = timed(&mut sim, |s| s.advance(6));
            by_kind[3] += d;
            step += d;
        }
        assert_eq!(launched.len(), 1, "serial: one pod per step");
        for n in &launched {
            let status = ready_status(&mut sim, n);
            let d = timed(&mut sim, |s| s.send_status(status));
            by_kind[2] += d;
            step += d;
        }
        steps.push(step);
    }

    let launches = sim.launched_since(start).len();
    let kills = sim.count_since(start, CallType::Kill);
    let ops = sim.operations_since(start);
    let total: Duration = steps.iter().sum();
    let mean = total / steps.len().max(1) as u32;
    let max = steps.iter().max().copied().unwrap_or_default();
    let slowest = steps.iter().position(|s| *s == max).unwrap_or(0) + 1;
    println!(
        "rolling update of {PODS} pods (cpus 0.5 -> 0.6, serial, {AGENTS} agents): {} steps, core overhead {:.3} s total, {:.2} ms per step mean, {:.2} ms max (step {slowest}) (2 cores; target <= 100 ms per step); {launches} launches, {kills} kills; at most {rounds_max} offer round(s) per step; takeover (SUBSCRIBED + {PODS} reconciliation answers) {:.1} ms, restart {:.1} ms (setup: deploy {:.2} s)",
        steps.len(),
        total.as_secs_f64(),
        mean.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0,
        takeover.as_secs_f64() * 1000.0,
        restart.as_secs_f64() * 1000.0,
        deployed.as_secs_f64(),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  per step, by call: TASK_KILLED {:.3} ms, OFFERS ({AGENTS} offers) {:.3} ms, RUNNING+ready {:.3} ms, timeouts {:.3} ms; operations accepted: {} RESERVE, {} CREATE, {} UNRESERVE",
        ms(by_kind[0]) / steps.len() as f64,
        ms(by_kind[1]) / steps.len() as f64,
        ms(by_kind[2]) / steps.len() as f64,
        ms(by_kind[3]) / steps.len() as f64,
        ops.iter().filter(|o| **o == OperationType::Reserve).count(),
        ops.iter().filter(|o| **o == OperationType::Create).count(),
        ops.iter().filter(|o| **o == OperationType::Unreserve).count(),
    );
    assert_eq!(steps.len(), PODS as usize, "one step per pod");
    assert_eq!(launches, PODS as usize, "every pod relaunched once");
    assert_eq!(kills, PODS as usize, "every old task killed once");
    assert_eq!(answered_kills, PODS as usize, "every kill answered");
    for i in 0..PODS {
        let info = sim.info(&format!("data-{i}-node"));
        let cpus: f64 = info
            .resources
            .iter()
            .filter(|r| r.name == "cpus")
            .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
            .sum();
        assert!(
            (cpus - 0.6).abs() < 1e-9,
            "data-{i} runs the new cpus: {cpus}"
        );
    }
}
