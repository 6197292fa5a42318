//! GPUs and pre-reserved roles in the offer pipeline: which offers a pod takes, what it
//! reserves and launches, and what a waiting pod says.

mod common;

use cairn_core::plan::Status;
use cairn_core::spec::*;
use cairn_proto::scheduler::CallType;
use cairn_proto::{CapabilityType, OperationType, ReservationType, Resource, Resources, TaskState};
use common::*;

/// One pod `gpu` of one task `train` asking for `gpus` GPUs.
fn gpu_spec(gpus: u32) -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("gpu").count(1).task(
                TaskSpec::builder("train")
                    .cmd("./train")
                    .cpus(0.5)
                    .memory_mb(128)
                    .gpus(gpus),
            ),
        )
        .build()
        .unwrap()
}

/// The RESERVE operations' resources since `mark`.
fn reserved_since(sim: &Sim, mark: usize) -> Vec<Resource> {
    sim.calls_since(mark)
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| &a.operations)
        .filter_map(|o| o.reserve.as_ref())
        .flat_map(|r| r.resources.clone())
        .collect()
}

#[test]
fn a_gpu_pod_lands_only_on_the_agent_with_gpus_and_reserves_and_launches_them() {
    // Goal: GPUs are a scalar like cpus: only an agent offering them fits, they are reserved
    // with the pod's labels and the task gets them. Method: two agents, GPUs on the second.
    let mut sim = Sim::new(gpu_spec(1), 2, AGENT);
    sim.agents[1].free = Resources::parse(&format!("{AGENT};gpus:2")).unwrap();
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    let info = sim.info("gpu-0-train");
    assert_eq!(info.agent_id.value, "agent-1");
    let gpus: f64 = info
        .resources
        .iter()
        .filter(|r| r.name == "gpus")
        .map(Resource::scalar_value)
        .sum();
    assert_eq!(gpus, 1.0, "the task holds one GPU: {:?}", info.resources);
    assert!(reserved_since(&sim, mark)
        .iter()
        .any(|r| r.name == "gpus" && r.scalar_value() == 1.0));
    let refused = sim
        .sched
        .decisions()
        .into_iter()
        .find(|d| d.agent_id == "agent-0")
        .unwrap();
    assert_eq!(
        refused.evaluations[0].failure().unwrap(),
        "gpus: offers no GPUs, need 1"
    );
}

#[test]
fn a_gpu_pod_needing_more_gpus_than_any_agent_has_waits_saying_so() {
    // Goal: a GPU pod that cannot be placed says why in its step. Method: agents of one GPU,
    // a task of two.
    let mut sim = Sim::new(gpu_spec(2), 2, &format!("{AGENT};gpus:1"));
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(sim.count_since(mark, CallType::Accept), 0);
    let (status, message) = sim.step("gpu-0:[train]");
    assert_eq!(status, Status::Prepared);
    assert!(
        message.contains("gpus: 2 of 2 agents short; largest offer 1 of 2"),
        "{message}"
    );
}

#[test]
fn the_framework_says_gpu_resources_only_when_its_spec_asks_for_gpus() {
    // Goal: a service without GPUs must not be offered a GPU agent's resources on a cluster
    // that keeps those for GPU work (Mesos' default): it does not claim the capability.
    let has = |spec: ServiceSpec| {
        let sim = Sim::new(spec, 1, AGENT);
        sim.sched
            .framework_info()
            .capabilities
            .iter()
            .any(|c| c.type_ == CapabilityType::GpuResources)
    };
    assert!(has(gpu_spec(1)));
    assert!(!has(gpu_spec(0)));
}

/// Pod `edge` (pre-reserved to `slave_public`, one task `proxy`, a volume) beside pod `data`.
fn pre_reserved_spec() -> ServiceSpec {
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("edge")
                .count(1)
                .pre_reserved_role("slave_public")
                .volume(VolumeSpec::root("state", 100))
                .task(
                    TaskSpec::builder("proxy")
                        .cmd("./proxy")
                        .cpus(0.5)
                        .memory_mb(128)
                        .port(PortSpec::new("http", 0)),
                ),
        )
        .build()
        .unwrap()
}

const PUBLIC: &str = "cpus(slave_public):2;mem(slave_public):1024;disk(slave_public):1000;\
                      ports(slave_public):[32000-32010]";

#[test]
fn a_pre_reserved_pod_takes_only_statically_reserved_resources_and_refines_them_to_the_service_role(
) {
    // Goal: the SDK's pre-reserved-role: the framework subscribes with the refined role, a
    // pre-reserved pod takes nothing but what is statically reserved to its role, and every
    // RESERVE pushes a dynamic reservation for `<role>/<service role>` on the static one.
    // Method: agent 0 unreserved only, agent 1 with a static reservation to `slave_public`;
    // offers as a Mesos master makes them for each of the framework's roles.
    let mut sim = Sim::new(pre_reserved_spec(), 2, AGENT);
    sim.agents[1].free = Resources::parse(&format!("{AGENT};{PUBLIC}")).unwrap();
    let refined = "slave_public/svc-role";
    assert_eq!(
        sim.sched.framework_info().roles,
        ["svc-role".to_string(), refined.to_string()]
    );
    sim.subscribe();

    // Unreserved resources, offered to either role, are not for it.
    let mark = sim.calls.len();
    let offers = vec![
        sim.offer_to(0, "svc-role"),
        sim.offer_to(0, refined),
        sim.offer_to(1, "svc-role"),
    ];
    sim.event(cairn_proto::scheduler::Event::offers(offers));
    assert_eq!(sim.count_since(mark, CallType::Accept), 0);
    let why: Vec<String> = sim
        .sched
        .decisions()
        .iter()
        .rev()
        .take(3)
        .map(|d| d.evaluations[0].failure().unwrap())
        .collect();
    assert!(
        why.contains(&"role: nothing in it is statically reserved to `slave_public`".to_string()),
        "{why:?}"
    );
    assert!(
        why.contains(
            &"role: offered to role `svc-role`; edge-0 takes only resources statically reserved \
              to `slave_public`, offered to role `slave_public/svc-role`"
                .to_string()
        ),
        "{why:?}"
    );

    // The static reservation, offered to the refined role: taken and refined.
    let mark = sim.calls.len();
    let offer = sim.offer_to(1, refined);
    sim.event(cairn_proto::scheduler::Event::offers(vec![offer]));
    let info = sim.info("edge-0-proxy");
    assert_eq!(info.agent_id.value, "agent-1");
    let reserved = reserved_since(&sim, mark);
    assert!(!reserved.is_empty());
    for r in &reserved {
        assert_eq!(r.reservations.len(), 2, "{r:?}");
        assert_eq!(r.reservations[0].type_, Some(ReservationType::Static));
        assert_eq!(r.reservations[0].role.as_deref(), Some("slave_public"));
        assert_eq!(r.reservations[1].type_, Some(ReservationType::Dynamic));
        assert_eq!(r.reservations[1].role.as_deref(), Some(refined));
        assert_eq!(r.allocation_role(), Some(refined));
    }
    let port = info.resources.iter().find(|r| r.name == "ports").unwrap();
    let number = port.range_values()[0].begin;
    assert!((32000..=32010).contains(&number), "{number}");
    // What is left statically reserved is what the agent had less what the pod took.
    assert_eq!(
        sim.agents[1]
            .free
            .filter(|r| r.reservations.len() == 1 && r.is_reserved_to("slave_public"))
            .scalar("cpus"),
        2.0 - 0.5 - 0.05,
        "the task's and the executor's cpus"
    );

    // A relaunch in place reuses the refined reservations, offered to the refined role.
    sim.status("edge-0-proxy", TaskState::Failed);
    sim.advance(10);
    let mark = sim.calls.len();
    let offer = sim.offer_to(1, refined);
    sim.event(cairn_proto::scheduler::Event::offers(vec![offer]));
    assert_eq!(sim.launched_since(mark), vec!["edge-0-proxy"]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
}
