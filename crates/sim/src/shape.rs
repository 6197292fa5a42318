//! Service shapes drawn per seed: 1–3 pod types of 1–5 instances, with or without volumes,
//! readiness checks, non-essential sidecars, goal FINISH/ONCE pods, serial or parallel
//! phases, `hostname:UNIQUE` when there are enough agents for it, and pods with a sidecar
//! whose deploy phase launches its tasks in steps of their own (`[[node], [sidecar]]`, the
//! SDK's custom-steps idiom).

use cairn_core::spec::{
    Goal, PhaseSpec, PlanSpec, PodSpec, ReadinessCheckSpec, ServiceSpec, StepSpec, Strategy,
    TaskSpec, VolumeSpec,
};

use crate::rng::Rng;

/// Resources of every simulated agent: room for the largest drawn service on one agent (3 pod
/// types × 5 instances × (1 + 0.1 + 0.05) cpus, 576 MB, 500 MB disk). Why: faults can pile every
/// pod onto one agent, and finished pods keep their reservations; with less room, a seed could
/// end in a true capacity deadlock (`hostname:UNIQUE` with one agent full), which is not a
/// scheduler bug (seed 36898 did, with 8 cpus).
pub const AGENT_RESOURCES: &str = "cpus:24;mem:16384;disk:20000;ports:[31000-31100]";

/// Salt of the seed of the stream multi-step pods are drawn from.
pub const STEPS_STREAM: u64 = 0x5354_4550_5321;

/// A service and the cluster size to run it on.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The spec.
    pub spec: ServiceSpec,
    /// Agents at start.
    pub agents: usize,
}

/// Draws a shape. Whether a pod is launched in steps is drawn from `steps`, a stream of its
/// own: the shape's other draws, and the run's faults after them, stay what they were before
/// multi-step pods were drawn, so a seed named for an older bug replays the same faults.
pub fn draw(rng: &mut Rng, steps: &mut Rng) -> Shape {
    let agents = rng.range(2, 6) as usize;
    let types = rng.range(1, 3) as usize;
    let mut b = ServiceSpec::builder("sim");
    let mut plan = PlanSpec::new("deploy").strategy(Strategy::Serial);
    let names = ["data", "meta", "init"];
    for name in names.iter().take(types) {
        let count = rng.range(1, 5) as u32;
        // A run-once pod type, occasionally: its tasks finish and stay finished.
        let goal = match rng.range(0, 9) {
            0 => Goal::Finish,
            1 => Goal::Once,
            _ => Goal::Running,
        };
        let mut pod = PodSpec::builder(*name).count(count);
        if goal == Goal::Running && rng.chance(0.6) {
            pod = pod.volume(VolumeSpec::root("data", rng.range(50, 500)));
        }
        // hostname:UNIQUE only when every instance can have its own agent.
        if count as usize <= agents && rng.chance(0.5) {
            pod = pod.placement("hostname:UNIQUE");
        }
        let mut task = TaskSpec::builder("node")
            .cmd("./node")
            .goal(goal)
            .cpus(rng.range(1, 10) as f64 / 10.0)
            .memory_mb(rng.range(32, 512));
        if rng.chance(0.5) {
            task = task.readiness_check(ReadinessCheckSpec::new("./ready"));
        }
        let sidecar = (goal == Goal::Running && rng.chance(0.3)).then(|| {
            TaskSpec::builder("sidecar")
                .cmd("./sidecar")
                .essential(rng.chance(0.5))
                .cpus(0.1)
                .memory_mb(32)
        });
        let in_steps = sidecar.is_some() && steps.chance(0.5);
        pod = pod.task(task);
        if let Some(sidecar) = sidecar {
            pod = pod.task(sidecar);
        }
        b = b.pod(pod);
        let strategy = if rng.chance(0.5) {
            Strategy::Serial
        } else {
            Strategy::Parallel
        };
        let mut phase = PhaseSpec::new(*name, *name).strategy(strategy);
        if in_steps {
            phase = phase.step(StepSpec::default_for([["node"], ["sidecar"]]));
        }
        plan = plan.phase(phase);
    }
    let spec = b.plan(plan).build().expect("drawn specs are valid");
    Shape { spec, agents }
}
