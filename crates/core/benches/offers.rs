//! Offer evaluations per second of the core alone, at 100 agents × 1,000 pods.
//!
//! Goal: the pipeline keeps up with a big deploy on one core. Method: a spec of 1,000 pod
//! instances (parallel, `hostname:MAX_PER:20`, a ROOT volume, a dynamic port) and 100 offers;
//! (1) the pure pipeline (`offer::evaluate`: 1,000 requirements × 100 offers, placing every pod),
//! (2) the whole scheduler handling one OFFERS event (plan derivation, requirements, pipeline,
//! operations, the Persist and the ACCEPTs). An evaluation is one (requirement, offer) pair
//! run through the checks. Plain `Instant` timing; run with `cargo bench -p cairn-core`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::decide::Context;
use cairn_core::offer::{
    builtin_checks, evaluate, requirement, CompiledRule, ExecutorSize, OfferView, Pipeline,
    PlacementContext, SpreadRank,
};
use cairn_core::plan::{deploy_plan_spec, derive, ExpandedPlan, PlanInput, PlanOverrides};
use cairn_core::recovery::InPlaceRecovery;
use cairn_core::scheduler::{Scheduler, SchedulerConfig};
use cairn_core::spec::*;
use cairn_core::store::{ConfigId, StoredState};
use cairn_core::Time;
use cairn_proto::scheduler::Event;
use cairn_proto::{AgentId, AllocationInfo, FrameworkId, Offer, OfferId, Resources};

const AGENTS: usize = 100;
const PODS: u32 = 1_000;

fn spec() -> ServiceSpec {
    ServiceSpec::builder("bench")
        .pod(
            PodSpec::builder("data")
                .count(PODS)
                .placement("hostname:MAX_PER:20")
                .volume(VolumeSpec::root("data", 10))
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(0.1)
                        .memory_mb(64)
                        .port(PortSpec::new("http", 0)),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .build()
        .expect("bench spec")
}

fn offers(role: &str) -> Vec<Offer> {
    let resources = Resources::parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
        .expect("agent resources")
        .with_allocation_info(role)
        .to_refined_format();
    (0..AGENTS)
        .map(|i| Offer {
            id: OfferId::new(format!("O{i}")),
            framework_id: FrameworkId::new("fw"),
            agent_id: AgentId::new(format!("agent-{i}")),
            hostname: format!("10.0.{}.{}", i / 250, i % 250 + 1),
            resources: resources.clone(),
            allocation_info: Some(AllocationInfo::role(role)),
            ..Offer::default()
        })
        .collect()
}

fn report(what: &str, evaluations: usize, elapsed: Duration, runs: u32) {
    let per_run = elapsed / runs;
    let rate = evaluations as f64 * f64::from(runs) / elapsed.as_secs_f64();
    println!(
        "{what}: {evaluations} evaluations per run, {per_run:?} per run, {rate:.0} offer evaluations/s (2 cores)"
    );
}

fn pipeline_alone() {
    let spec = spec();
    let config = ConfigId("c".into());
    let tasks = BTreeMap::new();
    let overrides = PlanOverrides::default();
    let derived = derive(
        &ExpandedPlan::new(&spec, deploy_plan_spec(&spec)),
        &PlanInput {
            run: None,
            spec: &spec,
            context: Context::new(&config, &InPlaceRecovery),
            tasks: &tasks,
            overrides: &overrides,
        },
    );
    let rules: Arc<[CompiledRule]> = CompiledRule::all(spec.pods[0].placement.as_ref()).into();
    let size = ExecutorSize {
        cpus: 0.05,
        mem_mb: 32.0,
        disk_mb: 32.0,
    };
    let reqs: Vec<_> = derived
        .work
        .released
        .iter()
        .map(|s| {
            requirement(s, &spec, &tasks, &Default::default(), rules.clone(), size)
                .expect("requirement")
        })
        .collect();
    assert_eq!(reqs.len(), PODS as usize);
    let offers = offers(&spec.role);
    let checks = builtin_checks(&spec.role);
    let rank = SpreadRank;
    let pipeline = Pipeline {
        checks: &checks,
        rank: &rank,
        // Measures placing every pod in one cycle: no offer is ever full.
        max_pods_per_offer: usize::MAX,
    };
    let run = || {
        let mut views: Vec<OfferView> = offers
            .iter()
            .enumerate()
            .map(|(i, o)| OfferView::new(i, o, &spec.role))
            .collect();
        let mut ctx = PlacementContext::new(7);
        evaluate(Time(0), &reqs, &mut views, &mut ctx, &pipeline)
    };
    let warm = run();
    assert_eq!(warm.matches.len(), PODS as usize, "every pod is placed");
    let runs = 10;
    let start = Instant::now();
    let mut evaluations = 0;
    for _ in 0..runs {
        evaluations = black_box(run()).evaluations;
    }
    report(
        "pipeline (offer::evaluate)",
        evaluations,
        start.elapsed(),
        runs,
    );
}

fn whole_scheduler() {
    let runs = 5;
    let mut total = Duration::ZERO;
    let mut launched = 0;
    let mut last = None;
    for _ in 0..runs {
        let spec = spec();
        let role = spec.role.clone();
        let mut s = Scheduler::new(
            SchedulerConfig::default(),
            spec,
            StoredState::default(),
            Time(1),
        )
        .expect("scheduler");
        s.handle_event(
            Time(2),
            Event::subscribed(FrameworkId::new("fw"), 15.0, None),
        );
        while let Some(a) = s.poll_action() {
            if let cairn_core::Action::Persist(b) = a {
                s.handle_committed(b.id);
            }
        }
        let event = Event::offers(offers(&role));
        let start = Instant::now();
        s.handle_event(Time(3), event);
        let mut accepts = 0;
        while let Some(a) = s.poll_action() {
            match a {
                cairn_core::Action::Persist(b) => s.handle_committed(b.id),
                cairn_core::Action::Call(c) => accepts += usize::from(c.accept.is_some()),
                // Only a TASK_GONE or a master-made terminal status asks; none comes here.
                cairn_core::Action::ReadAgents => {}
            }
        }
        total += start.elapsed();
        launched = accepts;
        black_box(s.plans());
        last = Some(s);
    }
    assert_eq!(launched, AGENTS, "every offer took pods");
    status_updates(last.expect("a scheduler ran"));
    report(
        "scheduler (OFFERS event, end to end)",
        PODS as usize * AGENTS,
        total,
        runs,
    );
}

/// Every launched task reports RUNNING once: each update is persisted, acknowledged, and the
/// plan derived again (1,000 steps).
fn status_updates(mut s: Scheduler) {
    let tasks: Vec<_> = s
        .pods()
        .iter()
        .flat_map(|p| p.tasks.iter().map(|t| t.task_id.clone()))
        .collect();
    let start = Instant::now();
    for (i, id) in tasks.iter().enumerate() {
        let mut status = cairn_proto::TaskStatus::new(id.clone(), cairn_proto::TaskState::Running);
        status.agent_id = Some(AgentId::new("agent-0"));
        status.uuid = Some(cairn_proto::Bytes::from((i as u128).to_be_bytes()));
        s.handle_event(Time(4), Event::update(status));
        while let Some(a) = s.poll_action() {
            if let cairn_core::Action::Persist(b) = a {
                s.handle_committed(b.id);
            }
        }
    }
    let elapsed = start.elapsed();
    assert!(s.is_deployed());
    println!(
        "status updates: {} in {elapsed:?}, {:.0} updates/s (2 cores)",
        tasks.len(),
        tasks.len() as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    println!("{AGENTS} agents × {PODS} pods");
    pipeline_alone();
    whole_scheduler();
}
