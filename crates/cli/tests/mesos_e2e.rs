//! cairn's own scheduler on real Apache Mesos: my-service's whole life on a real master and
//! three real agents (the default executor runs its pods), exactly as on `cairn cluster`.
//! Skipped, with a message, where no Mesos is installed (`CAIRN_TEST_MESOS`).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::mesos::{self, MesosCluster};
use support::service::{cairn, output_text, ServiceScheduler};
use support::{eventually, DEADLINE, PRE_RESERVED_SPEC};

const ROLE: &str = "my-service-role";

/// A rollout restarts five pods one at a time; on a loaded machine that is more than a
/// condition's usual deadline.
const ROLLOUT: Duration = Duration::from_secs(180);

fn my_service() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-service.yml");
    std::fs::read_to_string(path).expect("examples/my-service.yml")
}

/// A running task: its id, agent id and the persistence id of its volume.
#[derive(Debug, Clone, PartialEq)]
struct Running {
    id: String,
    agent: String,
    volume: String,
    cpus: f64,
}

/// RUNNING tasks by name, as the master reports them.
async fn running(mesos: &MesosCluster) -> BTreeMap<String, Running> {
    let (_, body) = mesos.operator_raw(&json!({"type": "GET_TASKS"})).await;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    doc["get_tasks"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let resources = t["resources"].as_array().cloned().unwrap_or_default();
            let volume = resources
                .iter()
                .find_map(|r| r["disk"]["persistence"]["id"].as_str())
                .unwrap_or_default()
                .to_string();
            let cpus = resources
                .iter()
                .filter(|r| r["name"] == "cpus")
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum();
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                Running {
                    id: t["task_id"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    agent: t["agent_id"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    volume,
                    cpus,
                },
            )
        })
        .collect()
}

/// Waits until the master runs exactly `n` tasks that `ok` accepts and the scheduler has said
/// `says`.
async fn until(
    mesos: &MesosCluster,
    sched: &mut ServiceScheduler,
    what: &str,
    within: Duration,
    says: &str,
    n: usize,
    ok: impl Fn(&BTreeMap<String, Running>) -> bool,
) -> BTreeMap<String, Running> {
    let deadline = Instant::now() + within;
    loop {
        sched.assert_alive();
        let tasks = running(mesos).await;
        let said = sched.stdout().iter().any(|l| l.contains(says));
        if said && tasks.len() == n && ok(&tasks) {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not done after {within:?}; running: {tasks:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The lines of a pod's marker file in its volume, once it has `n` of them (a task is RUNNING
/// as soon as its shell starts, a moment before its `echo` has written).
async fn marker(mesos: &MesosCluster, task: &Running, n: usize) -> Vec<String> {
    let agent = cairn_proto::AgentId::new(task.agent.clone());
    let file = mesos
        .volume_dir(&agent, ROLE, &task.volume)
        .await
        .join("marker");
    let read = || -> Vec<String> {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let deadline = Instant::now() + DEADLINE;
    while read().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    read()
}

/// The pid of the `sleep` a task of my-service runs, found by the task's name in its
/// environment and the Mesos directory in its sandbox.
fn task_sleep_pid(mesos: &MesosCluster, task_name: &str) -> Option<u32> {
    let root = mesos.root.display().to_string();
    let name = format!("TASK_NAME={task_name}");
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let cmdline = read("cmdline");
            let environ = String::from_utf8_lossy(&read("environ")).into_owned();
            cmdline.starts_with(b"sleep\0")
                && environ.split('\0').any(|v| v == name)
                && environ.contains(&root)
        })
}

/// Agents holding reservations of my-service's role, with the `pod_instance` labels on them.
async fn reserved_pods(mesos: &MesosCluster) -> Vec<String> {
    let (_, body) = mesos.operator_raw(&json!({"type": "GET_AGENTS"})).await;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut pods = Vec::new();
    for agent in doc["get_agents"]["agents"].as_array().into_iter().flatten() {
        for r in agent["total_resources"].as_array().into_iter().flatten() {
            for res in r["reservations"].as_array().into_iter().flatten() {
                if res["role"] == ROLE {
                    let pod = res["labels"]["labels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|l| l["key"] == "pod_instance")
                        .and_then(|l| l["value"].as_str())
                        .unwrap_or("?");
                    pods.push(pod.to_string());
                }
            }
        }
    }
    pods
}

fn write(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name);
    std::fs::write(&path, text).expect("writing a spec");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_service_lives_its_whole_life_on_real_mesos_deploy_kill_restart_update_decommission_uninstall(
) {
    let Some(home) = mesos::installation("my-service on real Mesos") else {
        return;
    };
    let mesos = MesosCluster::start(&home, "my-service-life", 3).await;
    let root = mesos.root.clone();
    let state = root.join("state");
    let v1 = write(&root, "v1.yml", &my_service());
    let start = |n: usize| {
        ServiceScheduler::start(
            &mesos.master,
            &v1,
            &state,
            None,
            root.join(format!("scheduler-{n}.err")),
            &[],
        )
    };

    // Deploy: five pods, each on its own volume, each volume with its task's name once.
    let mut sched = start(1);
    let deployed = until(
        &mesos,
        &mut sched,
        "deploy",
        ROLLOUT,
        "deploy COMPLETE",
        5,
        |_| true,
    )
    .await;
    for (name, task) in &deployed {
        assert!(!task.volume.is_empty(), "{name} has no volume: {task:?}");
        assert_eq!(
            marker(&mesos, task, 1).await,
            vec![name.clone()],
            "{name}'s marker"
        );
    }

    // kill -9 of a task: relaunched in place, same agent and volume, its data kept.
    let victim = "metadata-0-node";
    let pid = task_sleep_pid(&mesos, victim).expect("the sleep of metadata-0-node");
    support::signal(pid, libc::SIGKILL);
    let old = deployed[victim].clone();
    let after_kill = until(
        &mesos,
        &mut sched,
        "relaunch after kill -9",
        DEADLINE,
        "",
        5,
        |t| t.get(victim).is_some_and(|n| n.id != old.id),
    )
    .await;
    let new = &after_kill[victim];
    assert_eq!(
        (&new.agent, &new.volume),
        (&old.agent, &old.volume),
        "moved"
    );
    assert_eq!(
        marker(&mesos, new, 2).await,
        vec![victim; 2],
        "the marker of {victim}"
    );

    // kill -9 of the scheduler: the next one takes over and restarts nothing.
    sched.kill9();
    let mut sched = start(2);
    let taken_over = until(
        &mesos,
        &mut sched,
        "takeover",
        DEADLINE,
        "is deployed",
        5,
        |_| true,
    )
    .await;
    assert_eq!(
        taken_over, after_kill,
        "the restarted scheduler changed tasks"
    );
    // Through a few offer rounds and the first reconciliation retries, nothing is touched.
    let watch = Instant::now() + Duration::from_secs(6);
    while Instant::now() < watch {
        assert_eq!(
            running(&mesos).await,
            after_kill,
            "a task changed after the takeover"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Rolling update: cpus 0.1 -> 0.2, every pod restarted in place with its data.
    let v2 = write(
        &root,
        "v2.yml",
        &my_service().replace("cpus: 0.1", "cpus: 0.2"),
    );
    let state_arg = state.to_str().unwrap();
    let update = cairn(
        &["update", v2.to_str().unwrap(), "--state-dir", state_arg],
        ROLLOUT,
    );
    assert!(
        update.status.success()
            && String::from_utf8_lossy(&update.stdout).contains("update complete"),
        "{}",
        output_text(&update)
    );
    let updated = until(&mesos, &mut sched, "rollout", DEADLINE, "", 5, |t| {
        t.values().all(|r| (r.cpus - 0.2).abs() < 1e-9)
    })
    .await;
    for (name, task) in &updated {
        let before = &after_kill[name];
        assert_ne!(task.id, before.id, "{name} was not restarted");
        assert_eq!(
            (&task.agent, &task.volume),
            (&before.agent, &before.volume),
            "{name} moved"
        );
        let launches = launches_by_now(name, victim);
        let lines = marker(&mesos, task, launches).await;
        assert_eq!(lines, vec![name.clone(); launches], "{name}'s marker");
    }

    // Decommission: data 3 -> 2 frees exactly data-2's reservations and its volume.
    let data2 = updated["data-2-node"].clone();
    let data2_dir = mesos
        .volume_dir(
            &cairn_proto::AgentId::new(data2.agent.clone()),
            ROLE,
            &data2.volume,
        )
        .await;
    let v3 = write(
        &root,
        "v3.yml",
        &my_service()
            .replace("cpus: 0.1", "cpus: 0.2")
            .replace("count: 3", "count: 2\n    allow-decommission: true"),
    );
    let update = cairn(
        &["update", v3.to_str().unwrap(), "--state-dir", state_arg],
        ROLLOUT,
    );
    assert!(update.status.success(), "{}", output_text(&update));
    let left = until(&mesos, &mut sched, "decommission", DEADLINE, "", 4, |t| {
        !t.contains_key("data-2-node")
    })
    .await;
    for (name, task) in &left {
        assert_eq!(
            task.id, updated[name].id,
            "{name} was touched by the decommission"
        );
    }
    let mut freed = false;
    eventually("data-2's reservations and volume released", || {
        freed = !data2_dir.exists();
        freed
    })
    .await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let pods = reserved_pods(&mesos).await;
        if !pods.iter().any(|p| p == "data-2") {
            assert!(
                pods.iter().any(|p| p == "data-0"),
                "others' reservations: {pods:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "data-2 still reserved: {pods:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Uninstall: nothing left reserved, running or on disk.
    sched.stop();
    let uninstall = cairn(
        &[
            "uninstall",
            "--master",
            &mesos.master,
            "--state-dir",
            state_arg,
        ],
        ROLLOUT,
    );
    assert!(uninstall.status.success(), "{}", output_text(&uninstall));
    assert!(
        running(&mesos).await.is_empty(),
        "tasks left after uninstall"
    );
    assert_eq!(
        reserved_pods(&mesos).await,
        Vec::<String>::new(),
        "reservations left"
    );
    for agent in mesos.agents() {
        let volumes = agent.work_dir.join("volumes/roles").join(ROLE);
        let left: Vec<_> = std::fs::read_dir(&volumes)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "volumes left on {}: {left:?}", agent.ip);
    }
}

/// How many times a pod has been launched after the rollout, so how many lines its marker has:
/// the deploy, the victim's relaunch after its kill, the rollout.
fn launches_by_now(name: &str, victim: &str) -> usize {
    if name == victim {
        3
    } else {
        2
    }
}

/// The reservation stacks (type, role) of every resource of `agent` whose first reservation
/// is to `slave_public`, with the resource's name and amount, as GET_AGENTS reports them.
async fn public_resources(mesos: &MesosCluster, ip: &str) -> Vec<(String, f64, Vec<String>)> {
    let (_, body) = mesos.operator_raw(&json!({"type": "GET_AGENTS"})).await;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for agent in doc["get_agents"]["agents"].as_array().into_iter().flatten() {
        if agent["agent_info"]["hostname"] != ip {
            continue;
        }
        for r in agent["total_resources"].as_array().into_iter().flatten() {
            let stack: Vec<String> = r["reservations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    format!(
                        "{} {}",
                        x["type"].as_str().unwrap_or(""),
                        x["role"].as_str().unwrap_or("")
                    )
                })
                .collect();
            if stack.first().is_some_and(|s| s == "STATIC slave_public") {
                let amount = r["scalar"]["value"].as_f64().unwrap_or(0.0);
                out.push((r["name"].as_str().unwrap_or("").to_string(), amount, stack));
            }
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_reserved_pod_runs_on_the_refined_static_reservation_on_real_mesos() {
    // Goal: pre-reserved-role against a real master: an agent started with resources
    // statically reserved to `slave_public` is offered them under the framework's refined
    // role, the pod's RESERVE refines them (Mesos validates the refinement), the pod runs
    // there, and the uninstall gives back only the refinement.
    let Some(home) = mesos::installation("a pre-reserved pod on real Mesos") else {
        return;
    };
    let public = format!(
        "{};cpus(slave_public):1;mem(slave_public):512;disk(slave_public):200;\
         ports(slave_public):[33000-33010]",
        mesos::AGENT_RESOURCES
    );
    let mesos =
        MesosCluster::start_each(&home, "pre-reserved", &[mesos::AGENT_RESOURCES, &public]).await;
    let public_ip = mesos.agents()[1].ip.clone();
    let before = public_resources(&mesos, &public_ip).await;
    assert!(!before.is_empty(), "the agent's static reservation");
    let root = mesos.root.clone();
    let state = root.join("state");
    let spec = write(&root, "edge.yml", PRE_RESERVED_SPEC);
    let mut sched = ServiceScheduler::start(
        &mesos.master,
        &spec,
        &state,
        None,
        root.join("scheduler.err"),
        &[],
    );
    let refined = "slave_public/edge-svc-role";
    let deadline = Instant::now() + ROLLOUT;
    let task = loop {
        sched.assert_alive();
        let (_, body) = mesos.operator_raw(&json!({"type": "GET_TASKS"})).await;
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let found = doc["get_tasks"]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == "edge-0-proxy" && t["state"] == "TASK_RUNNING")
            .cloned();
        if let Some(t) = found {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "edge-0-proxy is not running: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for r in task["resources"].as_array().unwrap() {
        let stack: Vec<String> = r["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x["type"].as_str().unwrap(),
                    x["role"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            stack,
            [
                "STATIC slave_public".to_string(),
                format!("DYNAMIC {refined}")
            ],
            "{r:#}"
        );
    }
    let holds = public_resources(&mesos, &public_ip).await;
    assert!(
        holds.iter().any(|(_, _, stack)| stack.len() == 2),
        "the master holds the refinement: {holds:?}"
    );

    sched.stop();
    let uninstall = cairn(
        &[
            "uninstall",
            "--master",
            &mesos.master,
            "--state-dir",
            state.to_str().unwrap(),
        ],
        ROLLOUT,
    );
    assert!(uninstall.status.success(), "{}", output_text(&uninstall));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = public_resources(&mesos, &public_ip).await;
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the static reservation is not whole again:\n{now:?}\nbefore:\n{before:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
