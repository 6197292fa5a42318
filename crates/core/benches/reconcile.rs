//! Scheduler takeover with many live tasks, in the core alone (cairn's goal:
//! "a killed scheduler re-subscribes and finishes explicit reconciliation of 10,000 tasks in
//! ≤ 10 s, with zero task restarts").
//!
//! Method: a spec of N one-task pods (ROOT volume, parallel) is deployed by the scheduler
//! itself against 10 big fake offers, its Persists applied to a `MemStore`; every task is then
//! recorded RUNNING in the store (written directly: what a scheduler that saw them run would
//! have stored). The timed part is a restart: `StoredState::from_entries` → `Scheduler::new` →
//! SUBSCRIBED (same framework id) → the explicit RECONCILE it sends → one RUNNING answer per
//! task (REASON_RECONCILIATION, from the master, no uuid, as Mesos sends them), each followed
//! by draining the actions. Done when every task asked about has been answered (the core's own
//! criterion); then an offer round must launch nothing, and no KILL may have been sent.
//! N is 1,000, 2,000 and 10,000 (`CAIRN_RECONCILE_TASKS=n,n,..` to change), so that the
//! growth with N shows. A pass that would outlast `CAIRN_RECONCILE_BUDGET_SECS` (default 60) is
//! cut there: the answers handled so far give the cost of one answer at that N (it does not
//! change during a pass: the task count is fixed), and the full pass is projected from it. Plain `Instant` timing; `cargo bench -p cairn-core --bench reconcile`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn_core::scheduler::{Scheduler, SchedulerConfig};
use cairn_core::spec::*;
use cairn_core::store::{task_status_key, MemStore, Store, StoredState, TASKS};
use cairn_core::{Action, Time};
use cairn_proto::scheduler::{Call, Event};
use cairn_proto::{
    AgentId, AllocationInfo, FrameworkId, Offer, OfferId, OperationType, Reason, Resources, Source,
    TaskId, TaskInfo, TaskState, TaskStatus,
};

const AGENTS: usize = 10;
const FRAMEWORK: &str = "fw-reconcile";

fn spec(pods: u32) -> ServiceSpec {
    ServiceSpec::builder("bench")
        .pod(
            PodSpec::builder("data")
                .count(pods)
                .volume(VolumeSpec::root("data", 1))
                .task(
                    TaskSpec::builder("node")
                        .cmd("sleep 3600")
                        .cpus(0.01)
                        .memory_mb(1),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .build()
        .expect("bench spec")
}

fn offers(role: &str, round: usize) -> Vec<Offer> {
    let resources = Resources::parse("cpus:100000;mem:100000000;disk:100000000")
        .expect("agent resources")
        .with_allocation_info(role)
        .to_refined_format();
    (0..AGENTS)
        .map(|i| Offer {
            id: OfferId::new(format!("O{round}-{i}")),
            framework_id: FrameworkId::new(FRAMEWORK),
            agent_id: AgentId::new(format!("agent-{i}")),
            hostname: format!("10.0.0.{}", i + 1),
            resources: resources.clone(),
            allocation_info: Some(AllocationInfo::role(role)),
            ..Offer::default()
        })
        .collect()
}

/// Commits every Persist to `store` and returns the calls.
fn drain(s: &mut Scheduler, store: &mut MemStore) -> Vec<Call> {
    let mut calls = Vec::new();
    while let Some(a) = s.poll_action() {
        match a {
            Action::Persist(b) => {
                store.commit(&b).expect("mem store");
                s.handle_committed(b.id);
            }
            Action::Call(c) => calls.push(c),
            // Only a TASK_GONE or a master-made terminal status asks; the bench's tasks run.
            Action::ReadAgents => {}
        }
    }
    calls
}

fn launches(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| &a.operations)
        .filter(|o| matches!(o.type_, OperationType::Launch | OperationType::LaunchGroup))
        .count()
}

/// A store as a scheduler leaves it with `pods` tasks launched and RUNNING.
fn deployed_store(pods: u32) -> (ServiceSpec, MemStore) {
    let spec = spec(pods);
    let role = spec.role.clone();
    let mut store = MemStore::default();
    // What is measured is the takeover of the store a deploy leaves, not the deploy: one
    // offer may carry every pod (a real master gets at most `max_pods_per_offer` per cycle).
    let cfg = SchedulerConfig {
        max_pods_per_offer: usize::MAX,
        ..SchedulerConfig::default()
    };
    let mut s =
        Scheduler::new(cfg, spec.clone(), StoredState::default(), Time(1)).expect("scheduler");
    s.handle_event(
        Time(2),
        Event::subscribed(FrameworkId::new(FRAMEWORK), 15.0, None),
    );
    drain(&mut s, &mut store);
    let mut launched = 0;
    for round in 0..10 {
        s.handle_event(Time(3 + round as u64), Event::offers(offers(&role, round)));
        launched += launches(&drain(&mut s, &mut store));
        if launched >= pods as usize {
            break;
        }
    }
    assert_eq!(launched, pods as usize, "every pod launched");
    // RUNNING for every task, written as the scheduler writes a status it persisted.
    let infos: Vec<(String, TaskInfo)> = store
        .entries
        .iter()
        .filter_map(|(k, v)| {
            let name = k
                .strip_prefix(&format!("{TASKS}/"))?
                .strip_suffix("/TaskInfo")?;
            Some((name.to_string(), serde_json::from_slice(v).ok()?))
        })
        .collect();
    for (name, info) in infos {
        let mut status = TaskStatus::new(info.task_id.clone(), TaskState::Running);
        status.agent_id = Some(info.agent_id.clone());
        status.timestamp = Some(4.0);
        store.entries.insert(
            task_status_key(&name),
            serde_json::to_vec(&status).expect("status json"),
        );
    }
    (spec, store)
}

struct Takeover {
    tasks: usize,
    build: Duration,
    subscribed: Duration,
    answers: Duration,
    asked: usize,
    /// How many answers were handled before the budget ran out (`asked` when all were).
    answered: usize,
    launches: usize,
    kills: usize,
}

fn takeover(spec: ServiceSpec, mut store: MemStore, budget: Duration) -> Takeover {
    let role = spec.role.clone();
    let t0 = Instant::now();
    let stored = StoredState::from_entries(&store.load().expect("load")).expect("stored state");
    let tasks = stored.tasks.len();
    let mut s =
        Scheduler::new(SchedulerConfig::default(), spec, stored, Time(10_000)).expect("scheduler");
    let build = t0.elapsed();
    s.handle_event(
        Time(10_001),
        Event::subscribed(FrameworkId::new(FRAMEWORK), 15.0, None),
    );
    let mut calls = drain(&mut s, &mut store);
    let subscribed = t0.elapsed();
    let asked: Vec<(TaskId, Option<AgentId>)> = calls
        .iter()
        .filter_map(|c| c.reconcile.as_ref())
        .flat_map(|r| &r.tasks)
        .map(|t| (t.task_id.clone(), t.agent_id.clone()))
        .collect();
    let mut pending: BTreeSet<String> = asked.iter().map(|(t, _)| t.value.clone()).collect();
    let mut answered = 0;
    for (id, agent) in &asked {
        if t0.elapsed() > budget {
            break;
        }
        let mut status = TaskStatus::new(id.clone(), TaskState::Running);
        status.agent_id = agent.clone();
        status.source = Some(Source::Master);
        status.reason = Some(Reason::Reconciliation);
        s.handle_event(Time(10_002), Event::update(status));
        calls.extend(drain(&mut s, &mut store));
        pending.remove(&id.value);
        answered += 1;
    }
    let answers = t0.elapsed();
    if !pending.is_empty() {
        return Takeover {
            tasks,
            build,
            subscribed,
            answers,
            asked: asked.len(),
            answered,
            launches: launches(&calls),
            kills: calls.iter().filter(|c| c.kill.is_some()).count(),
        };
    }
    // The pass is over: an offer round must now be evaluated, and launch nothing.
    s.handle_event(Time(10_003), Event::offers(offers(&role, 99)));
    calls.extend(drain(&mut s, &mut store));
    assert!(
        !s.decisions()
            .iter()
            .any(|d| format!("{d:?}").contains("reconciling task states first")),
        "offers still declined for reconciliation after every answer"
    );
    assert!(
        s.is_deployed(),
        "the deploy plan is complete after the takeover"
    );
    Takeover {
        tasks,
        build,
        subscribed,
        answers,
        asked: asked.len(),
        answered: asked.len(),
        launches: launches(&calls),
        kills: calls.iter().filter(|c| c.kill.is_some()).count(),
    }
}

fn main() {
    let sizes: Vec<u32> = std::env::var("CAIRN_RECONCILE_TASKS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 2_000, 10_000]);
    let budget = Duration::from_secs_f64(
        std::env::var("CAIRN_RECONCILE_BUDGET_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60.0),
    );
    for n in sizes {
        let setup = Instant::now();
        let (spec, store) = deployed_store(n);
        let setup = setup.elapsed();
        let t = takeover(spec, store, budget);
        let per_answer = (t.answers - t.subscribed).as_secs_f64() / t.answered.max(1) as f64;
        if t.answered < t.asked {
            println!(
                "{n} tasks: cut after {budget:?}: {} of {} answers handled, {:.1} ms each; projected takeover -> reconciled {:.0} s (2 cores; target <= 10 s at 10,000); store load + build {:.3} s, SUBSCRIBED handled {:.3} s; {} launches, {} kills so far (setup {:.1} s)",
                t.answered,
                t.asked,
                per_answer * 1000.0,
                t.subscribed.as_secs_f64() + per_answer * t.asked as f64,
                t.build.as_secs_f64(),
                (t.subscribed - t.build).as_secs_f64(),
                t.launches,
                t.kills,
                setup.as_secs_f64(),
            );
            assert_eq!(t.launches + t.kills, 0, "a takeover restarts nothing");
            continue;
        }
        println!(
            "{n} tasks: takeover -> reconciled in {:.3} s (2 cores; target <= 10 s at 10,000): store load + build {:.3} s, SUBSCRIBED handled {:.3} s, {} answers in {:.3} s ({:.2} ms each); {} launches, {} kills (setup {:.1} s)",
            t.answers.as_secs_f64(),
            t.build.as_secs_f64(),
            (t.subscribed - t.build).as_secs_f64(),
            t.asked,
            (t.answers - t.subscribed).as_secs_f64(),
            per_answer * 1000.0,
            t.launches,
            t.kills,
            setup.as_secs_f64(),
        );
        assert_eq!(
            t.asked, t.tasks,
            "every stored task is reconciled explicitly"
        );
        assert_eq!(t.launches + t.kills, 0, "a takeover restarts nothing");
    }
}
