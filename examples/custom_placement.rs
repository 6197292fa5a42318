//! Replacing cairn's defaults, end to end: my-service (examples/my_service.rs) with
//! two of the scheduler's defaults replaced by the author's own code.
//!
//! * An **offer check**: data nodes never land on one agent (it holds another system's data,
//!   say, or is about to be retired). Built-in checks run first, then this one; an offer it
//!   refuses takes no data pod, and its reason is in the decision records ("why is my step
//!   stuck" is answered by data).
//! * A **plan customizer**: the data phase deploys its three nodes in parallel instead of one
//!   after another.
//!
//! ```sh
//! cargo run -p cairn --example custom_placement            # data nodes avoid 127.0.0.2
//! KEEP_DATA_OFF=127.0.0.3 cargo run -p cairn --example custom_placement -- --work-dir .cairn-custom
//! ```
//!
//! The embedded cluster's agents are 127.0.0.2, 127.0.0.3 and 127.0.0.4, so by default the
//! three data nodes share the other two (at most two per agent, as the spec's placement says),
//! and the table printed once deployed shows it.

use cairn::core::offer::{OfferCheck, OfferView, PlacementContext, PodRequirement};
use cairn::core::plan::PlanCustomizer;
use cairn::spec::{PlanSpec, PodSpec, PodSpecBuilder, ServiceSpec, Strategy, TaskSpec, VolumeSpec};

/// Refuses offers from one host for pods of one type.
struct KeepOff {
    pod_type: String,
    hostname: String,
    name: String,
}

impl KeepOff {
    fn new(pod_type: &str, hostname: &str) -> KeepOff {
        KeepOff {
            pod_type: pod_type.to_string(),
            hostname: hostname.to_string(),
            name: format!("keep-{pod_type}-off-{hostname}"),
        }
    }
}

impl OfferCheck for KeepOff {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _ctx: &PlacementContext,
    ) -> Result<(), String> {
        if req.pod_instance.pod_type() == self.pod_type && offer.facts.hostname == self.hostname {
            return Err(format!(
                "{} pods are kept off {} by the service's author",
                self.pod_type, self.hostname
            ));
        }
        Ok(())
    }
}

/// Deploys the phase over `pod_type` in parallel.
struct ParallelPhase(&'static str);

impl PlanCustomizer for ParallelPhase {
    fn customize(&self, mut plan: PlanSpec) -> PlanSpec {
        for phase in plan.phases.iter_mut().filter(|p| p.pod == self.0) {
            phase.strategy = Strategy::Parallel;
        }
        plan
    }
}

fn node_type(name: &str, count: u32) -> PodSpecBuilder {
    PodSpec::builder(name)
        .count(count)
        .placement(r#"[["hostname", "MAX_PER", "2"]]"#)
        .task(
            TaskSpec::builder("node")
                .cmd(r#"echo "$TASK_NAME" >> my-service-container-path/marker && sleep 100000"#)
                .cpus(0.1)
                .memory_mb(64)
                .volume(VolumeSpec::root("my-service-container-path", 5000)),
        )
}

fn main() -> Result<(), cairn::Error> {
    let spec = ServiceSpec::builder("my-service")
        .pod(node_type("metadata", 2))
        .pod(node_type("data", 3))
        .build()?;
    let avoid = std::env::var("KEEP_DATA_OFF").unwrap_or_else(|_| "127.0.0.2".to_string());
    cairn::Service::new(spec)
        .offer_check(KeepOff::new("data", &avoid))
        .plan_customizer(ParallelPhase("data"))
        .run()
}
