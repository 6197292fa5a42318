//! Config changes and uninstall with real processes: `cairn cluster`, `cairn scheduler`,
//! `cairn update` and `cairn uninstall`, observed through the cluster's operator API and the
//! state directory.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{ClusterProcess, CAIRN};

/// How long a deploy or an uninstall may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(90);
const ROLE: &str = "usvc-role";
const SERVICE: &str = "usvc";

/// Three pods, one per agent, each one task with a small ROOT volume. `{size}` and `{cpus}`
/// are what the tests change.
fn spec(size: u32, cpus: f64) -> String {
    format!(
        r#"
name: {SERVICE}
pods:
  node:
    count: 3
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo "$TASK_NAME $$" >> data/marker && exec sleep 100000'
        cpus: {cpus}
        memory: 32
        volume: {{path: data, type: ROOT, size: {size}}}
"#
    )
}

/// `cairn scheduler` as a child process, its stdout collected line by line.
struct SchedulerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
}

impl SchedulerProcess {
    fn start(cluster: &ClusterProcess, spec_file: &Path, n: usize) -> SchedulerProcess {
        let stderr = cluster.scratch.join(format!("scheduler-{n}.err"));
        let mut child = Command::new(CAIRN)
            .arg("scheduler")
            .arg(spec_file)
            .arg("--master")
            .arg(&cluster.master)
            .arg("--state-dir")
            .arg(cluster.scratch.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting cairn scheduler");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        SchedulerProcess {
            child,
            lines,
            stderr,
        }
    }

    fn stdout(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        format!(
            "--- scheduler stdout ---\n{}\n--- scheduler stderr ---\n{}",
            self.stdout().join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// SIGTERM, and waits for it to exit.
    fn stop(&mut self) {
        support::signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the scheduler exited ({status})\n{}", self.output());
        }
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn operator(cluster: &ClusterProcess, call: &str) -> Value {
    let (status, body) = cluster.operator_raw(&json!({ "type": call })).await;
    assert!(status.is_success(), "{call}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{call} answer {body}: {e}"))
}

/// The role's reservations on every agent: (agent id, resource name, persistence id).
async fn reservations(cluster: &ClusterProcess) -> Vec<(String, String, Option<String>)> {
    let doc = operator(cluster, "GET_AGENTS").await;
    let mut out = Vec::new();
    for agent in doc["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = agent["agent_info"]["id"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for r in agent["total_resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let on_role = r["reservations"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|res| res["role"] == ROLE));
            if on_role || r["disk"]["persistence"].is_object() {
                out.push((
                    id.clone(),
                    r["name"].as_str().unwrap_or("").to_string(),
                    r["disk"]["persistence"]["id"].as_str().map(str::to_string),
                ));
            }
        }
    }
    out
}

/// RUNNING tasks by name: (task id, agent id, the persistence id of its volume).
async fn running(cluster: &ClusterProcess) -> BTreeMap<String, (String, String, Option<String>)> {
    let doc = operator(cluster, "GET_TASKS").await;
    doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let volume = t["resources"].as_array().and_then(|rs| {
                rs.iter()
                    .find_map(|r| r["disk"]["persistence"]["id"].as_str().map(str::to_string))
            });
            (
                t["name"].as_str().unwrap_or("").to_string(),
                (
                    t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                    t["agent_id"]["value"].as_str().unwrap_or("").to_string(),
                    volume,
                ),
            )
        })
        .collect()
}

/// Waits for the scheduler to say the deploy is complete and the master to run three tasks.
async fn deployed(
    cluster: &ClusterProcess,
    sched: &mut SchedulerProcess,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> BTreeMap<String, (String, String, Option<String>)> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let said = done(&sched.stdout());
        let tasks = running(cluster).await;
        if said && tasks.len() == 3 {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not done after {DEADLINE:?}; running: {tasks:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file of a directory tree with its contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in listing.map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// The store's files but the task records (the running scheduler may record a status update
/// at any time): the target, the configs, the framework id and the properties.
fn config_tree(state: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let tasks = state.join(SERVICE).join("Tasks");
    let all = tree(state);
    assert!(
        all.keys().any(|p| p.ends_with("ConfigTarget")),
        "no target stored: {:#?}",
        all.keys().collect::<Vec<_>>()
    );
    all.into_iter()
        .filter(|(p, _)| !p.starts_with(&tasks))
        .collect()
}

/// Runs a `cairn` command to its end (it must end within `within`).
fn cairn(args: &[&str], within: Duration) -> Output {
    let mut child = Command::new(CAIRN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cairn");
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("the output of cairn");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the output of cairn");
            panic!(
                "cairn {args:?} did not end within {within:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_update_changes_nothing_and_uninstall_releases_everything() {
    let cluster = ClusterProcess::start("update-uninstall").await;
    let state = cluster.scratch.join("state");
    let state_arg = state.to_str().unwrap().to_string();
    let v1 = cluster.scratch.join("v1.yml");
    std::fs::write(&v1, spec(10, 0.1)).unwrap();
    let mut sched = SchedulerProcess::start(&cluster, &v1, 1);
    let tasks = deployed(&cluster, &mut sched, "deploy", |l| {
        l.iter().any(|l| l == "deploy COMPLETE")
    })
    .await;
    assert!(
        tasks.values().all(|(_, _, v)| v.is_some()),
        "every task has its volume: {tasks:#?}"
    );
    assert!(
        reservations(&cluster)
            .await
            .iter()
            .any(|(_, _, v)| v.is_some()),
        "the role holds volumes"
    );

    // A bigger volume is refused: every violation named, non-zero, the store untouched.
    let before = config_tree(&state);
    let v2 = cluster.scratch.join("v2.yml");
    std::fs::write(&v2, spec(20, 0.1)).unwrap();
    let update = cairn(
        &[
            "update",
            v2.to_str().unwrap(),
            "--master",
            &cluster.master,
            "--state-dir",
            &state_arg,
        ],
        Duration::from_secs(30),
    );
    assert!(!update.status.success(), "{}", text(&update));
    let stdout = String::from_utf8_lossy(&update.stdout);
    assert!(
        stdout.contains("volumes_cannot_change: "),
        "{}",
        text(&update)
    );
    assert_eq!(
        config_tree(&state),
        before,
        "cairn update changed the store"
    );

    // An accepted change (cpus) is accepted by the same front door, and changes nothing either.
    let v3 = cluster.scratch.join("v3.yml");
    std::fs::write(&v3, spec(10, 0.2)).unwrap();
    let update = cairn(
        &["update", v3.to_str().unwrap(), "--state-dir", &state_arg],
        Duration::from_secs(30),
    );
    assert!(update.status.success(), "{}", text(&update));
    assert!(
        String::from_utf8_lossy(&update.stdout).contains("update accepted"),
        "{}",
        text(&update)
    );
    assert_eq!(
        config_tree(&state),
        before,
        "cairn update changed the store"
    );

    // The scheduler started with the refused spec says so, and keeps the stored target.
    sched.stop();
    let mut sched = SchedulerProcess::start(&cluster, &v2, 2);
    let again = deployed(&cluster, &mut sched, "restart with the refused spec", |l| {
        l.iter()
            .any(|l| l.contains("config change refused") && l.contains("volumes_cannot_change"))
    })
    .await;
    assert_eq!(again, tasks, "nothing was relaunched");
    sched.stop();

    // Uninstall: everything of the role goes, the framework is torn down, the state deleted.
    let uninstall = cairn(
        &[
            "uninstall",
            "--master",
            &cluster.master,
            "--state-dir",
            &state_arg,
            "--agent-timeout",
            "2m",
        ],
        DEADLINE,
    );
    assert!(uninstall.status.success(), "{}", text(&uninstall));
    assert!(
        String::from_utf8_lossy(&uninstall.stdout).contains("usvc: uninstalled"),
        "{}",
        text(&uninstall)
    );
    let left = reservations(&cluster).await;
    assert!(
        left.is_empty(),
        "reservations or volumes left: {left:#?}\n{}",
        text(&uninstall)
    );
    let frameworks = operator(&cluster, "GET_FRAMEWORKS").await;
    let named = |key: &str| {
        frameworks["get_frameworks"][key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|f| f["framework_info"]["name"] == SERVICE)
            .count()
    };
    assert_eq!(named("frameworks"), 0, "{frameworks:#}");
    assert_eq!(named("completed_frameworks"), 1, "{frameworks:#}");
    let running = running(&cluster).await;
    assert!(running.is_empty(), "tasks left: {running:#?}");
    let stored = tree(&state);
    assert!(
        stored.keys().all(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))),
        "state left: {:#?}",
        stored.keys().collect::<Vec<_>>()
    );
}

/// The cpus of a RUNNING task's own resources, by task name.
async fn task_cpus(cluster: &ClusterProcess) -> BTreeMap<String, f64> {
    let doc = operator(cluster, "GET_TASKS").await;
    doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let cpus = t["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|r| r["name"] == "cpus")
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum();
            (t["name"].as_str().unwrap_or("").to_string(), cpus)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_change_is_rolled_out_one_pod_at_a_time_on_the_same_agents_and_volumes() {
    let cluster = ClusterProcess::start("update-rollout").await;
    let state_arg = cluster.scratch.join("state").to_str().unwrap().to_string();
    let v1 = cluster.scratch.join("v1.yml");
    std::fs::write(&v1, spec(10, 0.1)).unwrap();
    let mut sched = SchedulerProcess::start(&cluster, &v1, 1);
    let before = deployed(&cluster, &mut sched, "deploy", |l| {
        l.iter().any(|l| l == "deploy COMPLETE")
    })
    .await;
    sched.stop();

    let v2 = cluster.scratch.join("v2.yml");
    std::fs::write(&v2, spec(10, 0.2)).unwrap();
    let update = cairn(
        &["update", v2.to_str().unwrap(), "--state-dir", &state_arg],
        Duration::from_secs(30),
    );
    assert!(update.status.success(), "{}", text(&update));

    // Restart with the new spec; watch every pod go, one at a time, until all run the new one.
    let mut sched = SchedulerProcess::start(&cluster, &v2, 2);
    let deadline = Instant::now() + DEADLINE;
    let after = loop {
        sched.assert_alive();
        let now = running(&cluster).await;
        let down = before.keys().filter(|n| !now.contains_key(*n)).count();
        assert!(
            down <= 1,
            "{down} pods down at once: {now:#?}\n{}",
            sched.output()
        );
        let replaced = now
            .iter()
            .filter(|(n, (id, _, _))| before.get(*n).is_some_and(|b| &b.0 != id))
            .count();
        let said = sched.stdout().iter().any(|l| l == "deploy COMPLETE");
        if said && replaced == 3 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "rollout not done after {DEADLINE:?}: {now:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for (name, (id, agent, volume)) in &after {
        let (old_id, old_agent, old_volume) = &before[name];
        assert_ne!(id, old_id, "{name} relaunched");
        assert_eq!(agent, old_agent, "{name} on the same agent");
        assert_eq!(volume, old_volume, "{name} on the same volume");
    }
    let cpus = task_cpus(&cluster).await;
    assert!(
        cpus.values().all(|c| (c - 0.2).abs() < 1e-9),
        "every task runs with the new cpus: {cpus:?}"
    );
    sched.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_that_times_out_on_a_stopped_agent_fails_naming_it() {
    let cluster = ClusterProcess::start("uninstall-timeout").await;
    let state_arg = cluster.scratch.join("state").to_str().unwrap().to_string();
    let v1 = cluster.scratch.join("v1.yml");
    std::fs::write(&v1, spec(10, 0.1)).unwrap();
    let mut sched = SchedulerProcess::start(&cluster, &v1, 1);
    let tasks = deployed(&cluster, &mut sched, "deploy", |l| {
        l.iter().any(|l| l == "deploy COMPLETE")
    })
    .await;
    sched.stop();
    let stopped = tasks["node-1-server"].1.clone();
    let index = cluster
        .agent_index(&cairn_proto::AgentId::new(stopped.clone()))
        .await;
    cluster.agent_action(index, "stop").await;

    let uninstall = cairn(
        &[
            "uninstall",
            "--master",
            &cluster.master,
            "--state-dir",
            &state_arg,
            // Past before the master could declare the stopped agent gone (its ping timeout
            // is 2s): the uninstall gives up on the agents it still waits for.
            "--agent-timeout",
            "1ms",
        ],
        DEADLINE,
    );
    assert!(!uninstall.status.success(), "{}", text(&uninstall));
    let stderr = String::from_utf8_lossy(&uninstall.stderr);
    assert!(
        stderr.contains("agent timeout passed") && stderr.contains(&stopped),
        "{}",
        text(&uninstall)
    );
    // The uninstall still finished: the framework is gone.
    let frameworks = operator(&cluster, "GET_FRAMEWORKS").await;
    let active = frameworks["get_frameworks"]["frameworks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|f| f["framework_info"]["name"] == SERVICE)
        .count();
    assert_eq!(active, 0, "{frameworks:#}");
}
