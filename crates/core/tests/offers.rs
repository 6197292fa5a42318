//! Offer decisions: declines and their reasons, relaunch in place, volumes, ports, demand
//! (SUPPRESS/REVIVE), config rollouts and author overrides.

mod common;

use cairn_core::offer::{OfferCheck, OfferView, PlacementContext, PodRequirement};
use cairn_core::plan::Status;
use cairn_core::scheduler::{ApiEndpoint, Overrides, SchedulerConfig};
use cairn_core::spec::*;
use cairn_proto::scheduler::CallType;
use cairn_proto::{OperationType, TaskState};
use common::*;

#[test]
fn an_offer_too_small_is_declined_short_and_the_record_names_the_failing_check() {
    // Goal: "why is my step stuck" is answered by data. Method: an agent with half a cpu.
    let mut sim = Sim::new(
        node_spec(1, Strategy::Serial),
        1,
        "cpus:0.5;mem:4096;disk:10000",
    );
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.count_since(mark, CallType::Decline), 1);
    assert_eq!(
        sim.last_decline_refuse(),
        5.0,
        "a step waits for a better offer: short"
    );
    let record = sim.sched.decisions().pop().unwrap();
    assert_eq!(record.outcome, "declined");
    assert_eq!(record.evaluations[0].pod_instance, "data-0");
    assert_eq!(
        record.evaluations[0].failure().unwrap(),
        "cpus: offered 0.5, need 1.05",
        "task 1.0 + executor 0.05"
    );
    let checks: Vec<&str> = record.evaluations[0]
        .checks
        .iter()
        .map(|c| c.check.as_str())
        .collect();
    assert_eq!(checks, vec!["role", "reservation", "placement", "cpus"]);
    let (status, message) = sim.step("data-0:[node]");
    assert_eq!(status, Status::Prepared);
    assert!(
        message.contains("cpus: 1 of 1 agents short; largest offer 0.5 of 1.05"),
        "{message}"
    );
}

#[test]
fn offers_nobody_needs_are_declined_long() {
    // Goal: unneeded offers stay away for an hour. Method: deploy, then offer again.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    sim.offers(&[0, 1]);
    assert_eq!(sim.last_decline_refuse(), 3600.0);
    assert_eq!(
        sim.sched.decisions().pop().unwrap().outcome,
        "declined: no step needs resources"
    );
}

#[test]
fn a_failed_task_is_relaunched_in_place_only_on_an_offer_carrying_its_reservations() {
    // Goal: reservations pin a relaunch to its agent and data. Method: deploy on agent 0, fail
    // the task, offer agent 1 (refused: reservation), then agent 0 (LAUNCH_GROUP only, same
    // volume and resource ids).
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    let before = sim.info("data-0-node");
    sim.status("data-0-node", TaskState::Failed);
    // The recovery plan owns the relaunch: held by the first backoff delay, then released.
    assert_eq!(sim.step("data-0:[node]").0, Status::Starting);
    assert_eq!(
        sim.recovery_step("data-0:[node]").unwrap().0,
        Status::Delayed
    );

    sim.advance(6);
    assert_eq!(
        sim.recovery_step("data-0:[node]").unwrap().0,
        Status::Prepared
    );
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert!(sim.launched_since(mark).is_empty());
    let why = sim.sched.decisions().pop().unwrap().evaluations[0]
        .failure()
        .unwrap();
    assert!(
        why.starts_with("reservation: data-0 holds reservations on agent agent-0 (10.0.0.1)"),
        "{why}"
    );
    assert_eq!(
        sim.last_decline_refuse(),
        3600.0,
        "no waiting pod can use agent-1"
    );

    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
    let after = sim.info("data-0-node");
    assert_ne!(after.task_id, before.task_id);
    let ids = |i: &cairn_proto::TaskInfo| {
        let mut v: Vec<String> = i
            .resources
            .iter()
            .chain(&i.executor.as_ref().unwrap().resources)
            .map(|r| {
                r.persistence_id()
                    .map(str::to_string)
                    .or_else(|| cairn_core::labels::resource_id(r).map(str::to_string))
                    .unwrap()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&after),
        ids(&before),
        "the same reservations and volume"
    );
    assert_ne!(
        after.executor.as_ref().unwrap().executor_id,
        before.executor.as_ref().unwrap().executor_id,
        "a new executor per launch"
    );
}

#[test]
fn a_relaunch_waits_while_its_reservations_are_still_in_use() {
    // Goal: a pinned pod is not launched on an offer lacking its resource ids. Method: offer
    // agent 0 before the old task's resources are released (the fake agent still holds them).
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    sim.ready("data-0-node");
    // The status says FAILED, but the agent has not released the resources yet.
    let mut s = sim.status_of("data-0-node", TaskState::Failed);
    s.agent_id = None;
    sim.send_status(s);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(sim.launched_since(mark).is_empty());
    let why = sim.sched.decisions().pop().unwrap().evaluations[0]
        .failure()
        .unwrap();
    assert!(why.starts_with("reservation: the offer lacks"), "{why}");
    assert_eq!(
        sim.last_decline_refuse(),
        5.0,
        "its resources may be freed any moment"
    );
}

#[test]
fn a_mount_volume_takes_a_whole_mount_disk_of_at_least_its_size() {
    // Goal: MOUNT volumes. Method: agents with MOUNT disks of 100 and 500 MB; the pod asks 200.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("db")
                .volume(VolumeSpec::mount("data", 200))
                .task(
                    TaskSpec::builder("server")
                        .cmd("./s")
                        .cpus(0.5)
                        .memory_mb(64),
                ),
        )
        .build()
        .unwrap();
    let small = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":4}},
        {"name":"mem","type":"SCALAR","scalar":{"value":4096}},
        {"name":"disk","type":"SCALAR","scalar":{"value":1000}},
        {"name":"disk","type":"SCALAR","scalar":{"value":100},"disk":{"source":{"type":"MOUNT","mount":{"root":"/mnt/a"}}}}]"#;
    let mut sim = Sim::new(spec.clone(), 1, small);
    sim.subscribe();
    sim.offers(&[0]);
    let why = sim.sched.decisions().pop().unwrap().evaluations[0]
        .failure()
        .unwrap();
    assert_eq!(
        why,
        "volumes: need a MOUNT disk of at least 200 MB, offered [100.0]"
    );

    let big = small.replace("100},\"disk\"", "500},\"disk\"");
    let mut sim = Sim::new(spec, 1, &big);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(sim.launched_since(mark), vec!["db-0-server"]);
    let exec = sim.info("db-0-server").executor.unwrap();
    let vol = exec
        .resources
        .iter()
        .find(|r| r.persistence_id().is_some())
        .unwrap();
    assert_eq!(vol.scalar_value(), 500.0, "the whole disk");
    assert_eq!(
        vol.disk
            .as_ref()
            .unwrap()
            .volume
            .as_ref()
            .unwrap()
            .container_path,
        "data"
    );
}

#[test]
fn ports_are_picked_from_the_offer_and_given_to_the_task_environment() {
    // Goal: dynamic ports pick a free number; fixed ports must be offered. Method: one task
    // with a dynamic and a fixed port, then a fixed port outside the offered range.
    let spec = |fixed: u16| {
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("web").task(
                    TaskSpec::builder("server")
                        .cmd("./s")
                        .cpus(0.5)
                        .memory_mb(64)
                        .port(PortSpec::new("http", 0))
                        .port(PortSpec::new("admin", fixed).env_key("ADMIN")),
                ),
            )
            .build()
            .unwrap()
    };
    let mut sim = Sim::new(spec(31050), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let info = sim.info("web-0-server");
    let env = info.command.unwrap().environment.unwrap();
    assert_eq!(env.get("PORT_HTTP"), Some("31000"));
    assert_eq!(env.get("ADMIN"), Some("31050"));
    assert_eq!(env.get("TASK_NAME"), Some("web-0-server"));

    let mut sim = Sim::new(spec(8080), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let why = sim.sched.decisions().pop().unwrap().evaluations[0]
        .failure()
        .unwrap();
    assert_eq!(
        why,
        "ports: port 8080 (`admin`) is not offered (offered [31000-31100])"
    );
}

#[test]
fn resource_set_ports_get_their_env_key_and_are_advertised_like_task_ports() {
    // Goal: a port declared in a resource set reaches the task exactly as one declared on the
    // task: `env-key` names its variable, `advertise` and `vip` publish it in the discovery
    // info, a VIP with the labels DC/OS' load balancer and DNS read and its own protocol.
    // Method: one task using a resource set with four ports of each kind, and one task
    // declaring the same ports itself; compare what each is launched with.
    let ports = "          native:
            port: 0
            env-key: NATIVE_PORT
            advertise: true
          stats:
            port: 0
            vip:
              prefix: stats
              port: 8125
              protocol: udp
          web:
            port: 0
            vip:
              prefix: web
              port: 80
          quiet:
            port: 0
";
    let set = format!(
        "name: svc\npods:\n  db:\n    count: 1\n    resource-sets:\n      server-resources:\n        cpus: 0.5\n        memory: 64\n        ports:\n{}    tasks:\n      server:\n        cmd: ./s\n        resource-set: server-resources\n",
        ports
    );
    let own = format!(
        "name: svc\npods:\n  db:\n    count: 1\n    tasks:\n      server:\n        cmd: ./s\n        cpus: 0.5\n        memory: 64\n        ports:\n{ports}"
    );
    for yaml in [set, own] {
        let spec = parse_yaml(&yaml, &Default::default()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let mut sim = Sim::new(spec, 1, AGENT);
        sim.subscribe();
        sim.offers(&[0]);
        let info = sim.info("db-0-server");
        let env = info.command.clone().unwrap().environment.unwrap();
        assert_eq!(env.get("NATIVE_PORT"), Some("31000"), "{yaml}");
        assert_eq!(env.get("PORT_NATIVE"), None, "{yaml}");
        assert_eq!(env.get("PORT_STATS"), Some("31001"), "{yaml}");
        assert_eq!(env.get("PORT_QUIET"), Some("31003"), "{yaml}");
        let discovery = info.discovery.expect("advertised ports are discoverable");
        let ports = discovery.ports.unwrap().ports;
        let shown: Vec<_> = ports
            .iter()
            .map(|p| {
                let labels: Vec<_> = p
                    .labels
                    .iter()
                    .flat_map(|l| &l.labels)
                    .map(|l| {
                        let key = if l.key.starts_with("VIP_") {
                            "VIP_*"
                        } else {
                            &l.key
                        };
                        format!("{key}={}", l.value.as_deref().unwrap_or(""))
                    })
                    .collect();
                (
                    p.name.clone().unwrap(),
                    p.number,
                    p.protocol.clone().unwrap(),
                    labels.join(","),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("native".into(), 31000, "tcp".into(), String::new()),
                (
                    "stats".into(),
                    31001,
                    "udp".into(),
                    "VIP_*=stats:8125,network-scope=host".into()
                ),
                (
                    "web".into(),
                    31002,
                    "tcp".into(),
                    "VIP_*=web:80,network-scope=host".into()
                ),
            ],
            "{yaml}"
        );
        // Each VIP label key is its own: the load balancer keys backends by it.
        let keys: std::collections::BTreeSet<_> = ports
            .iter()
            .flat_map(|p| p.labels.iter().flat_map(|l| &l.labels))
            .filter(|l| l.key.starts_with("VIP_"))
            .map(|l| l.key.clone())
            .collect();
        assert_eq!(keys.len(), 2);
    }
}

#[test]
fn a_task_of_a_pod_named_with_capitals_and_underscores_is_launched_under_its_name_and_published_under_a_dns_label(
) {
    // Goal: the names the SDK accepts reach Mesos as written, and what DNS publishes is a
    // valid label. Method: pod `Custom_Pod-A`, task `init_x` with an advertised port.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("Custom_Pod-A").task(
                TaskSpec::builder("init_x")
                    .cmd("./s")
                    .cpus(0.5)
                    .memory_mb(64)
                    .port(PortSpec::new("http", 0).advertise()),
            ),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let info = sim.info("Custom_Pod-A-0-init_x");
    assert_eq!(info.name, "Custom_Pod-A-0-init_x");
    let env = info.command.unwrap().environment.unwrap();
    assert_eq!(env.get("TASK_NAME"), Some("Custom_Pod-A-0-init_x"));
    assert_eq!(env.get("POD_TYPE"), Some("Custom_Pod-A"));
    let discovery = info.discovery.expect("an advertised port is discoverable");
    assert_eq!(discovery.name.as_deref(), Some("custom-pod-a-0-init-x"));
    sim.ready("Custom_Pod-A-0-init_x");
    assert_eq!(sim.step("Custom_Pod-A-0:[init_x]").0, Status::Complete);
}

#[test]
fn suppress_when_no_step_needs_resources_and_revive_when_one_does() {
    // Goal: SUPPRESS once, REVIVE on new work, rate-limited. Method: serial deploy of two pods.
    let mut sim = Sim::new(node_spec(2, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(
        sim.count_since(mark, CallType::Suppress),
        1,
        "data-0 launched, data-1 not yet released"
    );
    let mark = sim.calls.len();
    sim.status("data-0-node", TaskState::Running);
    assert_eq!(sim.count_since(mark, CallType::Suppress), 0, "only once");
    sim.ready("data-0-node");
    assert_eq!(
        sim.count_since(mark, CallType::Revive),
        1,
        "data-1 needs resources now"
    );

    // data-1 launches; then a crash of data-0 needs resources again within 5 s: deferred.
    sim.offers(&[0, 1]);
    let mark = sim.calls.len();
    sim.status("data-0-node", TaskState::Failed);
    assert_eq!(
        sim.count_since(mark, CallType::Revive),
        0,
        "too soon after the last revive"
    );
    let due = sim.sched.poll_timeout().unwrap();
    assert!(due <= sim.now.plus(std::time::Duration::from_secs(5)));
    sim.advance(5);
    assert_eq!(
        sim.count_since(mark, CallType::Revive),
        1,
        "sent when the interval passed"
    );
}

#[test]
fn a_config_change_kills_old_tasks_one_step_at_a_time_and_relaunches_them_in_place() {
    // Goal: a new target rolls through the deploy plan. Method: deploy 2 pods serially,
    // restart with a new command; data-0 is killed first and relaunched on its reservations,
    // data-1 only after data-0 is ready.
    let mut sim = Sim::new(node_spec(2, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    sim.deploy_all();
    let old0 = sim.info("data-0-node");
    let mut v2 = node_spec(2, Strategy::Serial);
    v2.pods[0].tasks[0].cmd = "./node --v2".into();
    sim.restart(v2);
    let mark = sim.calls.len();
    sim.subscribe();
    sim.status("data-0-node", TaskState::Running);
    sim.status("data-1-node", TaskState::Running);
    let kills: Vec<String> = sim
        .calls_since(mark)
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect();
    assert_eq!(
        kills,
        vec![old0.task_id.value.clone()],
        "only the released step's task"
    );
    assert!(sim.step("data-0:[node]").1.contains("older config"));

    sim.status("data-0-node", TaskState::Killed);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[0, 1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert_eq!(sim.operations_since(mark), vec![OperationType::LaunchGroup]);
    assert_eq!(sim.info("data-0-node").agent_id, old0.agent_id);
    assert_eq!(
        sim.info("data-0-node").command.unwrap().value.as_deref(),
        Some("./node --v2")
    );
    assert_eq!(sim.step("data-1:[node]").0, Status::Pending);
}

#[test]
fn a_kill_is_resent_until_the_task_is_heard_to_be_terminal() {
    // Goal: a lost KILL is retried. Method: config change, no answer, advance 5 s.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.deploy_all();
    let mut v2 = node_spec(1, Strategy::Serial);
    v2.pods[0].tasks[0].cmd = "./v2".into();
    sim.restart(v2);
    sim.subscribe();
    sim.status("data-0-node", TaskState::Running);
    let mark = sim.calls.len();
    sim.advance(5);
    assert_eq!(sim.count_since(mark, CallType::Kill), 1);
    sim.status("data-0-node", TaskState::Killed);
    let mark = sim.calls.len();
    sim.advance(5);
    assert_eq!(sim.count_since(mark, CallType::Kill), 0);
}

struct NoAgentOne;

impl OfferCheck for NoAgentOne {
    fn name(&self) -> &str {
        "not-agent-0"
    }
    fn check(
        &self,
        _: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        if offer.agent_id.value == "agent-0" {
            Err("agent-0 is being drained".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn an_authors_check_runs_after_the_built_in_ones_and_explains_itself() {
    // Goal: checks are overridable. Method: a check refusing agent-0.
    let overrides = Overrides {
        checks: vec![Box::new(NoAgentOne)],
        ..Overrides::default()
    };
    let mut sim = Sim::with(node_spec(1, Strategy::Serial), 2, AGENT, overrides);
    sim.subscribe();
    sim.offers(&[0, 1]);
    assert_eq!(sim.info("data-0-node").agent_id.value, "agent-1");
    let refused = sim
        .sched
        .decisions()
        .into_iter()
        .find(|d| d.agent_id == "agent-0")
        .unwrap();
    let eval = &refused.evaluations[0];
    assert_eq!(eval.checks.len(), 10, "9 built-ins, then the author's");
    assert_eq!(
        eval.failure().unwrap(),
        "not-agent-0: agent-0 is being drained"
    );
}

#[test]
fn a_plan_customizer_reshapes_the_deploy_plan() {
    // Goal: plans are overridable. Method: turn the serial phase parallel.
    struct AllAtOnce;
    impl cairn_core::plan::PlanCustomizer for AllAtOnce {
        fn customize(&self, mut plan: PlanSpec) -> PlanSpec {
            for p in &mut plan.phases {
                p.strategy = Strategy::Parallel;
            }
            plan
        }
    }
    let overrides = Overrides {
        plan_customizer: Some(Box::new(AllAtOnce)),
        ..Overrides::default()
    };
    let mut sim = Sim::with(node_spec(3, Strategy::Serial), 3, AGENT, overrides);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 1, 2]);
    assert_eq!(sim.launched_since(mark).len(), 3);
    assert_eq!(sim.sched.plans()[0].phases[0].strategy, "parallel");
}

#[test]
fn a_task_error_puts_its_step_in_error_and_it_is_not_relaunched() {
    // Goal: TASK_ERROR (a bad TaskInfo) is not retried in a loop. Method: error, offer again.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let mut s = sim.status_of("data-0-node", TaskState::Error);
    s.message = Some("Task uses invalid resources".into());
    sim.send_status(s);
    let (status, message) = sim.step("data-0:[node]");
    assert_eq!(status, Status::Error);
    assert_eq!(
        message,
        "data-0-node: TASK_ERROR: Task uses invalid resources"
    );
    assert_eq!(sim.sched.plans()[0].status, Status::Error);
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert!(sim.launched_since(mark).is_empty());
}

#[test]
fn a_launch_the_master_dropped_does_not_pin_the_pod_to_reservations_never_made() {
    // Goal: an ACCEPT refused as a whole (invalid offer) leaves no reservations; the pod must
    // be placed afresh, not wait forever. Method: TASK_DROPPED from the master with
    // REASON_INVALID_OFFERS, then an offer from another agent.
    let mut sim = Sim::new(node_spec(1, Strategy::Serial), 2, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let mut s = sim.status_of("data-0-node", TaskState::Dropped);
    s.source = Some(cairn_proto::Source::Master);
    s.reason = Some(cairn_proto::Reason::InvalidOffers);
    s.uuid = None;
    sim.send_status(s);
    sim.advance(6);
    let mark = sim.calls.len();
    sim.offers(&[1]);
    assert_eq!(sim.launched_since(mark), vec!["data-0-node"]);
    assert!(sim.operations_since(mark).contains(&OperationType::Reserve));
}

/// Pods launched per ACCEPT since `mark`, in order, and the refuse_seconds of each.
fn accepts_since(sim: &Sim, mark: usize) -> Vec<(Vec<String>, f64)> {
    sim.calls_since(mark)
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .map(|a| {
            let pods = a
                .operations
                .iter()
                .filter_map(|o| o.launch_group.as_ref())
                .flat_map(|lg| lg.task_group.tasks.iter().map(|t| t.name.clone()))
                .collect();
            let refuse = a.filters.as_ref().and_then(|f| f.refuse_seconds).unwrap();
            (pods, refuse)
        })
        .collect()
}

#[test]
fn an_offer_with_room_for_many_pods_launches_at_most_the_cap_and_later_offers_launch_the_rest() {
    // Goal: one ACCEPT carries a bounded number of pods (a Mesos master blocks on each ACCEPT
    // as long as its operations take), the rest launch from the next offers. Method: ten pods,
    // one agent that holds them all, at most three pods per offer.
    let cfg = SchedulerConfig {
        max_pods_per_offer: 3,
        ..config()
    };
    let big = "cpus:64;mem:65536;disk:100000;ports:[31000-31100]";
    let spec = node_spec(10, Strategy::Parallel);
    let mut sim = Sim::with_config(spec, 1, big, Overrides::default(), cfg);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0]);
    let first = accepts_since(&sim, mark);
    assert_eq!(first.len(), 1, "one offer, one ACCEPT");
    assert_eq!(
        first[0].0,
        vec!["data-0-node", "data-1-node", "data-2-node"]
    );
    assert_eq!(
        first[0].1, 0.0,
        "the rest of the offer is wanted back at once: no refuse filter"
    );
    assert_eq!(
        sim.operations_since(mark).len(),
        9,
        "RESERVE, CREATE and LAUNCH_GROUP for each of three pods"
    );
    let record = sim.sched.decisions().pop().unwrap();
    assert!(
        record
            .outcome
            .contains("3 pods, the most one offer takes in a cycle"),
        "{}",
        record.outcome
    );
    let (status, message) = sim.step("data-3:[node]");
    assert_eq!(status, Status::Prepared, "a pod past the cap waits");
    assert!(message.contains("max-pods-per-offer"), "{message}");

    let mut launched: Vec<String> = first[0].0.clone();
    for _ in 0..10 {
        if launched.len() == 10 {
            break;
        }
        let mark = sim.calls.len();
        sim.offers(&[0]);
        for (pods, _) in accepts_since(&sim, mark) {
            assert!(pods.len() <= 3, "{pods:?}");
            launched.extend(pods);
        }
    }
    let mut unique = launched.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "every pod launched once: {launched:?}");
    assert_eq!(launched.len(), 10, "and none twice: {launched:?}");
    for name in launched {
        sim.ready(&name);
    }
    assert!(sim.sched.is_deployed(), "{:#?}", sim.sched.plans());
    let mark = sim.calls.len();
    sim.offers(&[0]);
    assert_eq!(
        sim.last_decline_refuse(),
        3600.0,
        "nothing waits any more: back to a long decline"
    );
    assert_eq!(sim.count_since(mark, CallType::Accept), 0);
}

#[test]
fn a_full_offer_leaves_its_pods_to_other_agents_without_breaking_hostname_unique() {
    // Goal: a pod an offer is too full to take is not counted as placed there. Method: three
    // `hostname:UNIQUE` pods, one pod per offer, and two offers of the first agent in the
    // batch: the second may not take a pod, and the other agents take one each.
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("data")
                .count(3)
                .placement("hostname:UNIQUE")
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(1.0)
                        .memory_mb(256),
                ),
        )
        .plan(
            PlanSpec::new("deploy")
                .phase(PhaseSpec::new("data", "data").strategy(Strategy::Parallel)),
        )
        .build()
        .unwrap();
    let cfg = SchedulerConfig {
        max_pods_per_offer: 1,
        ..config()
    };
    let big = "cpus:16;mem:65536;disk:10000;ports:[31000-31100]";
    let mut sim = Sim::with_config(spec, 3, big, Overrides::default(), cfg);
    sim.subscribe();
    let mark = sim.calls.len();
    sim.offers(&[0, 0, 1, 2]);
    let accepts = accepts_since(&sim, mark);
    assert_eq!(accepts.len(), 3, "{accepts:?}");
    assert!(
        accepts.iter().all(|(pods, _)| pods.len() == 1),
        "{accepts:?}"
    );
    let mut hosts: Vec<String> = sim
        .sched
        .pods()
        .iter()
        .map(|p| p.hostname.clone().unwrap())
        .collect();
    hosts.sort();
    assert_eq!(hosts, vec!["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
}

#[test]
fn a_step_no_offer_fits_says_how_many_agents_each_check_refused_and_the_largest_offer() {
    // Goal: "why is my step stuck" counts every offer, not just the first that failed (a
    // cluster of a hundred agents, one of them too small, is not "short of cpus"). Method:
    // three agents with half a cpu each, offered together.
    let mut sim = Sim::new(
        node_spec(1, Strategy::Serial),
        3,
        "cpus:0.5;mem:4096;disk:10000",
    );
    sim.subscribe();
    sim.offers(&[0, 1, 2]);
    let (status, message) = sim.step("data-0:[node]");
    assert_eq!(status, Status::Prepared);
    assert_eq!(
        message,
        "waiting for an offer: cpus: 3 of 3 agents short; largest offer 0.5 of 1.05"
    );
}

#[test]
fn a_task_gets_the_sdk_s_environment_and_its_configs_are_fetched_and_rendered_first() {
    // Goal: the environment table of README ("The task environment") is what a task gets,
    // and a task with configs fetches the renderer and its templates from the scheduler's
    // API and renders them before its command. Method: a task with a port, an env, a config
    // and BOOTSTRAP_URI in its URIs, on an agent with a fault domain, with the API set.
    let spec = ServiceSpec::builder("/prod/my-svc")
        .pod(
            PodSpec::builder("hello-world").uri(BOOTSTRAP_URI).task(
                TaskSpec::builder("server")
                    .cmd("exec ./serve")
                    .cpus(0.5)
                    .memory_mb(64)
                    .port(PortSpec::new("http", 0))
                    .env("OWN", "x")
                    .config("server-conf", "etc/server.conf", "port={{PORT_HTTP}}"),
            ),
        )
        .build()
        .unwrap();
    let cfg = SchedulerConfig {
        api: Some(ApiEndpoint {
            host: "10.0.0.9".into(),
            port: 8080,
            artifact_key: "KEY".into(),
            bootstrap_id: "B1".into(),
        }),
        service_tld: "example.org".into(),
        ..config()
    };
    let mut sim = Sim::with_config(spec, 1, AGENT, Overrides::default(), cfg);
    sim.agents[0].domain = Some(cairn_proto::DomainInfo {
        fault_domain: Some(cairn_proto::FaultDomain {
            region: cairn_proto::DomainName { name: "eu".into() },
            zone: cairn_proto::DomainName {
                name: "eu-1a".into(),
            },
        }),
    });
    sim.subscribe();
    sim.offers(&[0]);
    let info = sim.info("hello-world-0-server");
    let command = info.command.unwrap();
    let env = command.environment.clone().unwrap();
    for (name, value) in [
        ("TASK_NAME", "hello-world-0-server"),
        ("hello-world-0-server", "true"),
        ("FRAMEWORK_NAME", "/prod/my-svc"),
        ("FRAMEWORK_HOST", "prodmy-svc.example.org"),
        ("POD_TYPE", "hello-world"),
        ("POD_INSTANCE_INDEX", "0"),
        ("PORT_HTTP", "31000"),
        ("SCHEDULER_API_HOSTNAME", "10.0.0.9"),
        ("SCHEDULER_API_PORT", "8080"),
        ("ZONE", "eu-1a"),
        ("REGION", "eu"),
        (
            "CONFIG_TEMPLATE_SERVER_CONF",
            "config-templates/server-conf,etc/server.conf",
        ),
        ("OWN", "x"),
    ] {
        assert_eq!(env.get(name), Some(value), "{name}");
    }
    assert_eq!(
        command.value.as_deref(),
        Some("./bootstrap || exit\nexec ./serve")
    );
    let config_id = sim.sched.config_id().0.clone();
    let uris: Vec<(String, bool, Option<String>)> = command
        .uris
        .iter()
        .map(|u| (u.value.clone(), u.is_executable(), u.output_file.clone()))
        .collect();
    assert_eq!(
        uris,
        vec![
            (
                "http://10.0.0.9:8080/v1/artifacts/KEY/bootstrap/B1/bootstrap".to_string(),
                true,
                Some("bootstrap".to_string())
            ),
            (
                format!("http://10.0.0.9:8080/v1/artifacts/KEY/template/{config_id}/hello-world/server/server-conf"),
                false,
                Some("config-templates/server-conf".to_string())
            ),
        ],
        "BOOTSTRAP_URI is the renderer, fetched once"
    );
    assert_eq!(command.uris[0].cache, Some(true));
}

#[test]
fn every_task_is_published_under_its_stable_name_even_without_advertised_ports() {
    // Goal: Mesos-DNS names every task from its DiscoveryInfo, so every task carries one (not
    // only those that advertise ports), and its stable name is that label under the service's
    // FRAMEWORK_HOST. Method: a service in a folder whose pod type has capitals and `_`, with
    // a task that has no port and one with a discovery prefix.
    let spec = ServiceSpec::builder("/prod/my-svc")
        .pod(
            PodSpec::builder("Zoo_Keeper")
                .task(TaskSpec::builder("server").cmd("x").cpus(0.1).memory_mb(32))
                .task(
                    TaskSpec::builder("side")
                        .cmd("x")
                        .cpus(0.1)
                        .memory_mb(32)
                        .discovery(DiscoverySpec {
                            prefix: Some("zk".into()),
                            visibility: None,
                        }),
                ),
        )
        .build()
        .unwrap();
    let cfg = SchedulerConfig {
        service_tld: "example.org".into(),
        ..config()
    };
    let mut sim = Sim::with_config(spec.clone(), 1, AGENT, Overrides::default(), cfg);
    sim.subscribe();
    sim.offers(&[0]);
    let pod = PodInstanceName::parse("Zoo_Keeper-0").unwrap();
    for (task, label) in [("server", "zoo-keeper-0-server"), ("side", "zk-0")] {
        let info = sim.info(&format!("Zoo_Keeper-0-{task}"));
        let discovery = info.discovery.expect("every task is discoverable");
        assert_eq!(discovery.name.as_deref(), Some(label), "{task}");
        assert_eq!(
            discovery.visibility,
            cairn_proto::DiscoveryVisibility::Cluster
        );
        let env = info.command.unwrap().environment.unwrap();
        let host = format!("{label}.{}", env.get("FRAMEWORK_HOST").unwrap());
        assert_eq!(host, format!("{label}.prodmy-svc.example.org"));
        let spec_task = spec.pod("Zoo_Keeper").unwrap().task(task).unwrap();
        assert_eq!(task_host(&spec.name, "example.org", &pod, spec_task), host);
        // The cluster's resolver derives the same name from the TaskInfo alone.
        assert_eq!(
            cairn_proto::dns::task_host(label, &spec.name, "example.org"),
            host
        );
    }
}

#[test]
fn a_task_s_resource_limits_and_its_pod_s_rlimits_reach_its_task_info_as_mesos_reads_them() {
    // Goal: `resource-limits` become `TaskInfo.limits` (Value.Scalar, Infinity for unlimited)
    // and `rlimits` the task's `ContainerInfo.rlimit_info`, for the task's own resources and
    // for a resource set's alike.
    let mut set = ResourceSetSpec::new("shared").cpus(0.5).memory_mb(64);
    set.resource_limits = ResourceLimits {
        cpus: Some(ResourceLimit::Unlimited),
        memory_mb: None,
    };
    let mut own = TaskSpec::builder("own")
        .cmd("run")
        .cpus(0.5)
        .memory_mb(64)
        .build();
    own.resource_limits = ResourceLimits {
        cpus: Some(ResourceLimit::At(2.0)),
        memory_mb: Some(ResourceLimit::At(128.0)),
    };
    let spec = ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("app")
                .rlimit(RlimitSpec::new(cairn_proto::RlimitType::Nofile, 1000, 2000))
                .resource_set(set)
                .task(own)
                .task(
                    TaskSpec::builder("shared")
                        .cmd("run")
                        .resource_set("shared"),
                ),
        )
        .build()
        .unwrap();
    let mut sim = Sim::new(spec, 1, AGENT);
    sim.subscribe();
    sim.offers(&[0]);
    let limits = |task: &str| serde_json::to_value(sim.info(task).limits).unwrap();
    assert_eq!(
        limits("app-0-own"),
        serde_json::json!({"cpus": {"value": 2.0}, "mem": {"value": 128.0}})
    );
    assert_eq!(
        limits("app-0-shared"),
        serde_json::json!({"cpus": {"value": "Infinity"}})
    );
    assert_eq!(
        sim.info("app-0-own").container.unwrap()["rlimit_info"],
        serde_json::json!({"rlimits": [{"type": "RLMT_NOFILE", "soft": 1000, "hard": 2000}]})
    );
}
