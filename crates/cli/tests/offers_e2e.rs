//! GPUs and pre-reserved roles end to end: the real `cairn cluster` with per-agent resources
//! (`--agent-extra-resources`), the real `cairn scheduler` deploying a svc.yml, and what the
//! master then reports.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::service::{cairn, output_text, ServiceScheduler};
use support::*;

/// How long a deploy may take on a loaded machine.
const DEPLOY: Duration = Duration::from_secs(180);

/// Writes `text` as the scratch directory's `svc.yml` and starts `cairn scheduler` on it.
fn scheduler(cluster: &ClusterProcess, text: &str) -> (ServiceScheduler, PathBuf) {
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, text).unwrap();
    let state = cluster.scratch.join("state");
    let sched = ServiceScheduler::start(
        &cluster.master,
        &spec,
        &state,
        Some(&cluster.credentials_path()),
        cluster.scratch.join("scheduler.err"),
        &[],
    );
    (sched, state)
}

/// The master's tasks (GET_TASKS) as JSON.
async fn tasks(cluster: &ClusterProcess) -> Vec<Value> {
    let (_, body) = cluster
        .operator_raw(&serde_json::json!({"type": "GET_TASKS"}))
        .await;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the RUNNING task named `name`; the task as the master reports it.
async fn running(cluster: &ClusterProcess, sched: &mut ServiceScheduler, name: &str) -> Value {
    let deadline = Instant::now() + DEPLOY;
    loop {
        sched.assert_alive();
        if let Some(t) = tasks(cluster)
            .await
            .into_iter()
            .find(|t| t["name"] == name && t["state"] == "TASK_RUNNING")
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no RUNNING task {name}: {:#?}",
            tasks(cluster).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sum of scalar `name` among JSON resources.
fn scalar(resources: &Value, name: &str) -> f64 {
    resources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .filter_map(|r| r["scalar"]["value"].as_f64())
        .sum()
}

const GPU_SPEC: &str = r#"
name: gpu-svc
pods:
  plain:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      serve:
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
  trainer:
    count: 1
    tasks:
      train:
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
        gpus: 1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_pod_lands_only_on_the_agent_that_has_gpus() {
    // Goal: the done-when of GPUs: of three agents only the second has GPUs; the GPU pod runs
    // there holding one, and the service (which claims GPU_RESOURCES) still places its other
    // pods anywhere.
    let cluster = ClusterProcess::start_with(
        "offers-gpu",
        ClusterOptions {
            agents: 3,
            agent_extra_resources: vec![(1, "gpus:2".into())],
            ..Default::default()
        },
    )
    .await;
    let gpu_agent = cluster.agent_id(1).await;
    let (mut sched, _) = scheduler(&cluster, GPU_SPEC);
    let task = running(&cluster, &mut sched, "trainer-0-train").await;
    assert_eq!(
        task["agent_id"]["value"],
        gpu_agent.value.as_str(),
        "{task:#}"
    );
    assert_eq!(scalar(&task["resources"], "gpus"), 1.0, "{task:#}");
    for name in ["plain-0-serve", "plain-1-serve"] {
        let t = running(&cluster, &mut sched, name).await;
        assert_eq!(scalar(&t["resources"], "gpus"), 0.0, "{t:#}");
    }
    let frameworks = cluster.get_frameworks().await;
    let info = &frameworks.frameworks[0].framework_info;
    assert!(
        info.has_capability(cairn_proto::CapabilityType::GpuResources),
        "{info:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_needing_more_gpus_than_any_agent_has_waits_saying_so() {
    // Goal: a GPU pod no agent can hold is not launched, and its step says why (the offers'
    // GPUs against its need). Method: two agents of one GPU each, a task of two.
    let cluster = ClusterProcess::start_with(
        "offers-gpu-wait",
        ClusterOptions {
            agents: 2,
            agent_extra_resources: vec![(0, "gpus:1".into()), (1, "gpus:1".into())],
            ..Default::default()
        },
    )
    .await;
    let spec = GPU_SPEC
        .replace("gpus: 1.0", "gpus: 2")
        .replace("count: 2", "count: 1");
    let (mut sched, state) = scheduler(&cluster, &spec);
    let state_arg = state.to_str().unwrap().to_string();
    let deadline = Instant::now() + DEPLOY;
    loop {
        sched.assert_alive();
        let out = cairn(
            &["update", "status", "--state-dir", &state_arg],
            Duration::from_secs(60),
        );
        let text = output_text(&out);
        if text.contains("gpus: 2 of 2 agents short; largest offer 1 of 2") {
            break;
        }
        assert!(Instant::now() < deadline, "no step says why:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !tasks(&cluster)
            .await
            .iter()
            .any(|t| t["name"] == "trainer-0-train"),
        "the GPU pod was launched"
    );
}

const PUBLIC: &str = "cpus(slave_public):1;mem(slave_public):512;disk(slave_public):200;\
                      ports(slave_public):[33000-33010]";

/// An agent's resources of `role` with exactly `depth` reservations, from GET_AGENTS.
async fn agent_reserved(
    cluster: &ClusterProcess,
    agent: &cairn_proto::AgentId,
    depth: usize,
) -> cairn_proto::Resources {
    let total = cluster.agent_total(agent).await.expect("the agent");
    let mut out = cairn_proto::Resources::new();
    for r in total {
        let r = r.to_refined_format();
        if r.reservations.len() == depth
            && r.reservations[0].role.as_deref() == Some("slave_public")
        {
            out.add(&r);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_reserved_pod_lands_only_on_static_reservations_refined_and_uninstall_leaves_them() {
    // Goal: the done-when of pre-reserved-role: of three agents only the last has resources
    // statically reserved to `slave_public`; the pre-reserved pod runs there, on those
    // resources, refined to the service's role as the SDK does (`slave_public/<role>` pushed on
    // the static reservation); the uninstall gives back only the refinement, and the static
    // reservation is whole again.
    let cluster = ClusterProcess::start_with(
        "offers-pre-reserved",
        ClusterOptions {
            agents: 3,
            agent_extra_resources: vec![(2, PUBLIC.into())],
            ..Default::default()
        },
    )
    .await;
    let public_agent = cluster.agent_id(2).await;
    let before = agent_reserved(&cluster, &public_agent, 1).await;
    assert_eq!(before.scalar("cpus"), 1.0, "{before:?}");
    let (mut sched, state) = scheduler(&cluster, PRE_RESERVED_SPEC);

    let task = running(&cluster, &mut sched, "edge-0-proxy").await;
    assert_eq!(
        task["agent_id"]["value"],
        public_agent.value.as_str(),
        "{task:#}"
    );
    let refined = "slave_public/edge-svc-role";
    for r in task["resources"].as_array().unwrap() {
        let stack: Vec<(&str, &str)> = r["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["type"].as_str().unwrap(), x["role"].as_str().unwrap()))
            .collect();
        assert_eq!(
            stack,
            [("STATIC", "slave_public"), ("DYNAMIC", refined)],
            "{r:#}"
        );
    }
    let port = task["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ports")
        .unwrap()["ranges"]["range"][0]["begin"]
        .as_u64()
        .unwrap();
    assert!((33000..=33010).contains(&port), "{port}");
    // The master holds the refinement on the agent, beside what is left of the static pool.
    let refinements = agent_reserved(&cluster, &public_agent, 2).await;
    assert_eq!(
        refinements.scalar("mem"),
        64.0 + 32.0,
        "task and executor: {refinements:?}"
    );
    let plain = running(&cluster, &mut sched, "plain-0-serve").await;
    assert!(
        plain["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reservations"].as_array().unwrap().len() == 1
                && r["reservations"][0]["role"] == "edge-svc-role"),
        "a pod without a pre-reserved role reserves unreserved resources: {plain:#}"
    );
    let frameworks = cluster.get_frameworks().await;
    assert_eq!(
        frameworks.frameworks[0].framework_info.roles,
        ["edge-svc-role".to_string(), refined.to_string()]
    );

    sched.stop();
    let uninstall = cairn(
        &[
            "uninstall",
            "--master",
            &cluster.master,
            "--state-dir",
            state.to_str().unwrap(),
            "--credentials",
            cluster.credentials_path().to_str().unwrap(),
        ],
        DEPLOY,
    );
    assert!(uninstall.status.success(), "{}", output_text(&uninstall));
    // The uninstall ends once everything is released; the master's books say so at once.
    let left = agent_reserved(&cluster, &public_agent, 2).await;
    assert!(left.is_empty(), "refinements left: {left:?}");
    let after = agent_reserved(&cluster, &public_agent, 1).await;
    for name in ["cpus", "mem", "disk"] {
        assert_eq!(after.scalar(name), before.scalar(name), "{name}: {after:?}");
    }
    assert_eq!(after.ranges("ports"), before.ranges("ports"));
}
