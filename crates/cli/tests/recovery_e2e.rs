//! Proof 2, with real processes: `cairn cluster`, the scheduler (`cairn scheduler`) and the
//! pods' tasks all run as processes of their own, and the tests break them the way machines
//! break (SIGKILL, a stopped or lost agent, a master that crashes) and then look at what is
//! left: which tasks the master runs, which reservations and volumes the agents hold, and what
//! the tasks wrote into their volumes.
//!
//! Every task appends `<task name> <pid>` to `data/marker` in its persistent volume and then
//! runs forever as that pid, so a marker file tells how many times its volume was launched on,
//! and by which process.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::{master, Task as MasterTask, TaskState};
use serde_json::{json, Value};
use support::{eventually, pid_alive, signal, ClusterOptions, ClusterProcess, CAIRN};

/// How long a deploy or a recovery may take. Generous: the machine is shared.
const RECOVERY: Duration = Duration::from_secs(60);
const ROLE: &str = "rsvc-role";
const PODS: [&str; 3] = ["node-0", "node-1", "node-2"];

/// Three pods, one per agent, each one task with a small ROOT volume at `data` and a
/// readiness check that passes once the task has written its marker.
const SPEC: &str = r#"
name: rsvc
pods:
  node:
    count: 3
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'echo "$TASK_NAME $$" >> data/marker && exec sleep 100000'
        cpus: 0.1
        memory: 32
        volume: {path: data, type: ROOT, size: 10}
        readiness-check: {cmd: 'test -s data/marker', interval: 1, delay: 0, timeout: 5}
"#;

// ---------------------------------------------------------------------------
// The scheduler process
// ---------------------------------------------------------------------------

/// `cairn scheduler` as a child process; every incarnation has its own stdout/stderr files.
/// Dropping it kills it (the cluster's own drop kills the pods).
struct SchedulerProcess {
    child: Option<Child>,
    spec: PathBuf,
    master: String,
    /// The cluster's framework credentials file.
    credentials: PathBuf,
    state_dir: PathBuf,
    dir: PathBuf,
    extra_args: Vec<String>,
    incarnation: usize,
    lines: Arc<Mutex<Vec<String>>>,
}

impl SchedulerProcess {
    fn start(cluster: &ClusterProcess, extra_args: &[&str]) -> SchedulerProcess {
        let spec = cluster.scratch.join("svc.yml");
        std::fs::write(&spec, SPEC).unwrap();
        let mut s = SchedulerProcess {
            child: None,
            spec,
            master: cluster.master.clone(),
            credentials: cluster.credentials_path(),
            state_dir: cluster.scratch.join("state"),
            dir: cluster.scratch.clone(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            incarnation: 0,
            lines: Arc::default(),
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "the scheduler is already running");
        self.incarnation += 1;
        let stderr = self.dir.join(format!("scheduler-{}.err", self.incarnation));
        let mut child = Command::new(CAIRN)
            .arg("scheduler")
            .arg(&self.spec)
            .arg("--master")
            .arg(&self.master)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--credentials")
            .arg(&self.credentials)
            .args(&self.extra_args)
            .env("CAIRN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
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
        self.lines = lines;
        self.child = Some(child);
    }

    /// SIGKILL, as a crash would; waits for it to be gone.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running scheduler").id()
    }

    /// This incarnation's stdout so far.
    fn stdout(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every incarnation's output, for failure messages.
    fn output(&self) -> String {
        let mut out = format!("--- stdout (incarnation {}) ---\n", self.incarnation);
        out += &self.stdout().join("\n");
        for i in 1..=self.incarnation {
            let err = std::fs::read_to_string(self.dir.join(format!("scheduler-{i}.err")))
                .unwrap_or_default();
            let tail: Vec<&str> = err.lines().collect();
            out += &format!(
                "\n--- stderr (incarnation {i}, last lines) ---\n{}",
                tail[tail.len().saturating_sub(40)..].join("\n")
            );
        }
        out
    }

    /// Panics unless the process is still running.
    fn assert_alive(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the scheduler exited ({status})\n{}", self.output());
            }
        }
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
        self.kill9();
    }
}

// ---------------------------------------------------------------------------
// What the cluster says
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Task {
    id: String,
    name: String,
    state: String,
    agent: String,
    /// `resource_id`s of the task's reserved resources.
    resource_ids: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Reservation {
    agent: String,
    name: String,
    resource_id: Option<String>,
    pod_instance: Option<String>,
    persistence_id: Option<String>,
}

/// The framework's tasks and the service role's reservations, as the master reports them.
#[derive(Debug, Clone)]
struct View {
    tasks: Vec<Task>,
    reservations: Vec<Reservation>,
    /// Agent id -> index in the fault API.
    agent_index: BTreeMap<String, usize>,
}

fn label(labels: &Value, key: &str) -> Option<String> {
    labels["labels"]
        .as_array()?
        .iter()
        .find(|l| l["key"] == key)
        .and_then(|l| l["value"].as_str())
        .map(str::to_string)
}

async fn operator(cluster: &ClusterProcess, call: &str) -> Value {
    let (status, body) = cluster.operator_raw(&json!({ "type": call })).await;
    assert!(status.is_success(), "{call}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{call} answer {body}: {e}"))
}

async fn view(cluster: &ClusterProcess) -> View {
    let tasks_doc = operator(cluster, "GET_TASKS").await;
    let agents_doc = operator(cluster, "GET_AGENTS").await;
    let tasks = tasks_doc["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| Task {
            id: t["task_id"]["value"].as_str().unwrap_or("").to_string(),
            name: t["name"].as_str().unwrap_or("").to_string(),
            state: t["state"].as_str().unwrap_or("").to_string(),
            agent: t["agent_id"]["value"].as_str().unwrap_or("").to_string(),
            resource_ids: t["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| {
                    label(
                        &r["reservations"].as_array()?.last()?["labels"],
                        "resource_id",
                    )
                })
                .collect(),
        })
        .collect();
    let mut reservations = Vec::new();
    for agent in agents_doc["get_agents"]["agents"]
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
            let Some(res) = r["reservations"].as_array().and_then(|rs| rs.last()) else {
                continue;
            };
            if res["role"] != ROLE {
                continue;
            }
            reservations.push(Reservation {
                agent: id.clone(),
                name: r["name"].as_str().unwrap_or("").to_string(),
                resource_id: label(&res["labels"], "resource_id"),
                pod_instance: label(&res["labels"], "pod_instance"),
                persistence_id: r["disk"]["persistence"]["id"].as_str().map(str::to_string),
            });
        }
    }
    let agent_index = cluster
        .agents()
        .await
        .iter()
        .filter_map(|a| Some((a["id"].as_str()?.to_string(), a["index"].as_u64()? as usize)))
        .collect();
    View {
        tasks,
        reservations,
        agent_index,
    }
}

fn live(state: &str) -> bool {
    matches!(
        state,
        "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING" | "TASK_UNREACHABLE"
    )
}

/// Where one pod is: its live task, its agent and its volume.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    task_id: String,
    agent: String,
    agent_index: usize,
    persistence_id: String,
    volume: PathBuf,
}

impl View {
    fn live_tasks_of(&self, pod: &str) -> Vec<&Task> {
        let name = format!("{pod}-server");
        self.tasks
            .iter()
            .filter(|t| t.name == name && live(&t.state))
            .collect()
    }

    fn running_ids(&self) -> BTreeMap<String, String> {
        self.tasks
            .iter()
            .filter(|t| t.state == "TASK_RUNNING")
            .map(|t| (t.name.clone(), t.id.clone()))
            .collect()
    }

    fn any_reservation(&self) -> bool {
        !self.reservations.is_empty()
    }

    fn any_volume(&self) -> bool {
        self.reservations.iter().any(|r| r.persistence_id.is_some())
    }

    /// Why the service is not (yet) deployed as it should be, if it is not: every pod has
    /// exactly one live task, RUNNING; every reservation of the role is labelled and belongs to
    /// a pod whose running task is on that agent; each pod holds exactly its own resources
    /// (cpus and mem for executor and task, disk for the executor and the volume), and the task's
    /// reserved resources are among them.
    fn problems(&self, cluster: &ClusterProcess) -> Vec<String> {
        let mut problems = Vec::new();
        for pod in PODS {
            let live = self.live_tasks_of(pod);
            match live.as_slice() {
                [t] if t.state == "TASK_RUNNING" => {}
                [t] => problems.push(format!("{pod}: its task is {}", t.state)),
                [] => problems.push(format!("{pod}: no live task")),
                many => problems.push(format!("{pod}: {} live tasks: {many:?}", many.len())),
            }
        }
        for r in &self.reservations {
            let (Some(_), Some(pod)) = (&r.resource_id, &r.pod_instance) else {
                problems.push(format!("an unlabelled reservation: {r:?}"));
                continue;
            };
            let running_here = self
                .live_tasks_of(pod)
                .iter()
                .any(|t| t.state == "TASK_RUNNING" && t.agent == r.agent);
            if !running_here {
                problems.push(format!(
                    "a reservation of {pod} on {} where {pod} does not run: {r:?}",
                    r.agent
                ));
            }
        }
        for pod in PODS {
            let mine: Vec<&Reservation> = self
                .reservations
                .iter()
                .filter(|r| r.pod_instance.as_deref() == Some(pod))
                .collect();
            let mut names: Vec<&str> = mine.iter().map(|r| r.name.as_str()).collect();
            names.sort_unstable();
            if names != ["cpus", "cpus", "disk", "disk", "mem", "mem"] {
                problems.push(format!("{pod} holds {names:?}: {mine:?}"));
            }
            if mine.iter().filter(|r| r.persistence_id.is_some()).count() != 1 {
                problems.push(format!("{pod} has not exactly one volume: {mine:?}"));
            }
            let ids: BTreeSet<&String> =
                mine.iter().filter_map(|r| r.resource_id.as_ref()).collect();
            for t in self.live_tasks_of(pod) {
                if !t.resource_ids.iter().all(|id| ids.contains(id)) {
                    problems.push(format!(
                        "{pod}'s task uses resources it does not hold: {t:?}"
                    ));
                }
            }
            if let Some(p) = self.placed(cluster, pod) {
                if marker(&p.volume).is_empty() {
                    problems.push(format!("{pod}: no marker in {} yet", p.volume.display()));
                }
            }
        }
        problems
    }

    /// Where a pod is: its one live task and the volume on that task's agent.
    fn placed(&self, cluster: &ClusterProcess, pod: &str) -> Option<Placed> {
        let [task] = self.live_tasks_of(pod)[..] else {
            return None;
        };
        let persistence_id = self.reservations.iter().find_map(|r| {
            (r.agent == task.agent && r.pod_instance.as_deref() == Some(pod))
                .then(|| r.persistence_id.clone())
                .flatten()
        })?;
        let agent_index = *self.agent_index.get(&task.agent)?;
        Some(Placed {
            task_id: task.id.clone(),
            agent: task.agent.clone(),
            agent_index,
            volume: cluster.volume_dir(agent_index, ROLE, &persistence_id),
            persistence_id,
        })
    }
}

/// The marker's lines: (task name, pid) per launch on the volume.
fn marker(volume: &std::path::Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(volume.join("marker"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, pid) = l.split_once(' ')?;
            Some((name.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

/// Polls until `cond` holds for the view (and the scheduler lives); panics with the view and
/// the scheduler's output after `within`.
async fn wait_view(
    what: &str,
    within: Duration,
    cluster: &ClusterProcess,
    sched: &mut SchedulerProcess,
    mut cond: impl FnMut(&View) -> bool,
) -> View {
    let deadline = Instant::now() + within;
    loop {
        sched.assert_alive();
        let v = view(cluster).await;
        if cond(&v) {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {within:?} waiting for {what}\nview: {v:#?}\nproblems: {:#?}\n{}",
                v.problems(cluster),
                sched.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the scheduler says the deploy is complete and the cluster agrees (see
/// [`View::problems`]); where every pod is.
async fn deployed(
    cluster: &ClusterProcess,
    sched: &mut SchedulerProcess,
) -> BTreeMap<&'static str, Placed> {
    let deadline = Instant::now() + RECOVERY;
    loop {
        sched.assert_alive();
        let said = sched.stdout().iter().any(|l| l == "deploy COMPLETE");
        let v = view(cluster).await;
        let problems = v.problems(cluster);
        if said && problems.is_empty() {
            return PODS
                .iter()
                .map(|p| (*p, v.placed(cluster, p).expect("a placed pod")))
                .collect();
        }
        if Instant::now() > deadline {
            panic!(
                "not deployed after {RECOVERY:?} (scheduler said COMPLETE: {said})\n\
                 problems: {problems:#?}\nview: {v:#?}\n{}",
                sched.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A cluster with fast timers and a scheduler for it, deployed.
async fn deployed_service(
    name: &str,
    agents: usize,
    scheduler_args: &[&str],
) -> (
    ClusterProcess,
    SchedulerProcess,
    BTreeMap<&'static str, Placed>,
) {
    let cluster = ClusterProcess::start_with(
        name,
        ClusterOptions {
            agents,
            ..ClusterOptions::default()
        },
    )
    .await;
    let mut sched = SchedulerProcess::start(&cluster, scheduler_args);
    let placed = deployed(&cluster, &mut sched).await;
    for (pod, p) in &placed {
        assert_eq!(
            marker(&p.volume),
            [(format!("{pod}-server"), marker(&p.volume)[0].1)],
            "{pod} was launched once"
        );
    }
    (cluster, sched, placed)
}

/// The pid the last launch on a pod's volume wrote.
fn task_pid(p: &Placed) -> u32 {
    marker(&p.volume).last().expect("a marker line").1
}

/// Watches for `window` that nothing changes: the same tasks, each pid alive, each marker
/// with as many lines as before.
async fn stays_put(
    window: Duration,
    cluster: &ClusterProcess,
    sched: &mut SchedulerProcess,
    before: &BTreeMap<&'static str, Placed>,
) {
    let lines: BTreeMap<&str, usize> = before
        .iter()
        .map(|(pod, p)| (*pod, marker(&p.volume).len()))
        .collect();
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        sched.assert_alive();
        let v = view(cluster).await;
        for (pod, p) in before {
            assert_eq!(
                v.placed(cluster, pod).as_ref(),
                Some(p),
                "{pod} moved or was relaunched\n{v:#?}\n{}",
                sched.output()
            );
            assert_eq!(marker(&p.volume).len(), lines[pod], "{pod} launched again");
            assert!(pid_alive(task_pid(p)), "{pod}'s process died");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------
// A task dies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_killed_with_sigkill_is_relaunched_in_place_on_its_volume_and_other_pods_keep_running(
) {
    let (cluster, mut sched, before) = deployed_service("task-kill9", 3, &[]).await;
    let victim = &before["node-1"];
    let old_pid = task_pid(victim);
    signal(old_pid, libc::SIGKILL);

    // A new task of node-1, on the same agent with the same volume, wrote a second line.
    wait_view("node-1 relaunched", RECOVERY, &cluster, &mut sched, |v| {
        v.placed(&cluster, "node-1")
            .is_some_and(|p| p.task_id != victim.task_id && marker(&p.volume).len() == 2)
            && v.problems(&cluster).is_empty()
    })
    .await;
    let after = deployed(&cluster, &mut sched).await;
    let p = &after["node-1"];
    assert_ne!(p.task_id, victim.task_id, "a new task id");
    assert_eq!(p.agent, victim.agent, "relaunched on the same agent");
    assert_eq!(
        p.persistence_id, victim.persistence_id,
        "on the same volume"
    );
    let lines = marker(&p.volume);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], ("node-1-server".to_string(), old_pid));
    assert_eq!(lines[1].0, "node-1-server");
    assert_ne!(lines[1].1, old_pid);
    assert!(pid_alive(lines[1].1));
    for pod in ["node-0", "node-2"] {
        assert_eq!(after[pod], before[pod], "{pod} was not touched");
        assert_eq!(marker(&after[pod].volume).len(), 1);
        assert!(pid_alive(task_pid(&after[pod])));
    }
}

// ---------------------------------------------------------------------------
// The scheduler dies
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    FirstReservation,
    FirstVolume,
    FirstTaskRunning,
    DeployComplete,
}

/// Kills the scheduler with SIGKILL at `point` of a deploy, starts it again on the same state
/// directory, and checks the deploy completes with every volume and task where it was.
async fn scheduler_killed_at(name: &str, point: KillPoint) {
    let cluster = ClusterProcess::start(name).await;
    let mut sched = SchedulerProcess::start(&cluster, &[]);
    let at_kill = match point {
        KillPoint::FirstReservation => {
            wait_view(
                "a reservation",
                RECOVERY,
                &cluster,
                &mut sched,
                View::any_reservation,
            )
            .await
        }
        KillPoint::FirstVolume => {
            wait_view("a volume", RECOVERY, &cluster, &mut sched, View::any_volume).await
        }
        KillPoint::FirstTaskRunning => {
            wait_view("a running task", RECOVERY, &cluster, &mut sched, |v| {
                !v.running_ids().is_empty()
            })
            .await
        }
        KillPoint::DeployComplete => {
            deployed(&cluster, &mut sched).await;
            view(&cluster).await
        }
    };
    sched.kill9();
    // What the master holds right after the kill: tasks launched just before it may still
    // be starting, so the running ones are read again a moment later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let running_at_kill = view(&cluster).await.running_ids();
    println!(
        "killed at {point:?}: {} reservations, {} running then, {:?} running now",
        at_kill.reservations.len(),
        at_kill.running_ids().len(),
        running_at_kill
    );

    sched.launch();
    let after = deployed(&cluster, &mut sched).await;
    let ids: BTreeMap<String, String> = after
        .values()
        .map(|p| {
            let name = marker(&p.volume)[0].0.clone();
            (name, p.task_id.clone())
        })
        .collect();
    for (name, id) in &running_at_kill {
        assert_eq!(
            ids.get(name),
            Some(id),
            "{name} was running when the scheduler died and keeps its task\n{}",
            sched.output()
        );
    }
    for (pod, p) in &after {
        let lines = marker(&p.volume);
        assert!(
            lines.iter().all(|(n, _)| n == &format!("{pod}-server")),
            "only {pod} wrote to its volume: {lines:?}"
        );
        assert!(pid_alive(task_pid(p)), "{pod}'s last launch runs");
        if running_at_kill.contains_key(&format!("{pod}-server")) {
            assert_eq!(lines.len(), 1, "{pod} was not relaunched: {lines:?}");
        }
    }
    // And it stays that way.
    stays_put(Duration::from_secs(3), &cluster, &mut sched, &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_right_after_its_first_reservation_completes_the_deploy_when_restarted()
{
    scheduler_killed_at("sched-kill-reserve", KillPoint::FirstReservation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_right_after_its_first_volume_completes_the_deploy_when_restarted() {
    scheduler_killed_at("sched-kill-volume", KillPoint::FirstVolume).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_after_its_first_task_runs_completes_the_deploy_without_relaunching_it()
{
    scheduler_killed_at("sched-kill-running", KillPoint::FirstTaskRunning).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_after_the_deploy_takes_over_every_task_without_relaunching() {
    scheduler_killed_at("sched-kill-complete", KillPoint::DeployComplete).await;
}

// ---------------------------------------------------------------------------
// An agent dies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_that_restarts_keeps_its_tasks_running_and_nothing_is_relaunched() {
    let (cluster, mut sched, before) = deployed_service("agent-restart", 3, &[]).await;
    let p = &before["node-2"];
    let pid = task_pid(p);

    // Stopped for longer than the ping timeout: the master sees it unreachable. Meanwhile
    // the task keeps running, node-2 starts nowhere else, and the other pods are untouched.
    cluster.agent_action(p.agent_index, "stop").await;
    let deadline = Instant::now() + support::PING_TIMEOUT * 3;
    while Instant::now() < deadline {
        sched.assert_alive();
        assert!(pid_alive(pid), "the task outlives its agent");
        assert_eq!(marker(&p.volume).len(), 1, "node-2 launched again");
        let v = view(&cluster).await;
        let elsewhere: Vec<&Task> = v
            .live_tasks_of("node-2")
            .into_iter()
            .filter(|t| t.agent != p.agent)
            .collect();
        assert!(
            elsewhere.is_empty(),
            "node-2 moved: {elsewhere:?}\n{}",
            sched.output()
        );
        for pod in ["node-0", "node-1"] {
            assert_eq!(v.placed(&cluster, pod).as_ref(), Some(&before[pod]));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.agent_action(p.agent_index, "restart").await;

    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after, before, "every pod where it was, with the same task");
    assert_eq!(task_pid(&after["node-2"]), pid, "the same process");
    assert!(pid_alive(pid));
    stays_put(Duration::from_secs(3), &cluster, &mut sched, &after).await;
}

/// `lose` makes the master send TASK_GONE (reason AGENT_REMOVED) and remove the agent from
/// GET_AGENTS: the pod stays pinned to its reservations and waits for the permanent-failure
/// timer (or `min_replace_delay`), never moving on a status alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_on_a_lost_agent_waits_for_it_by_default_and_moves_at_once_when_the_operator_replaces_it(
) {
    let (cluster, mut sched, before) = deployed_service("agent-lose", 4, &[]).await;
    let p = &before["node-0"];
    cluster.agent_action(p.agent_index, "lose").await;

    // Within the window, node-0 starts nowhere else (replacement waits 20 minutes), and the
    // others keep running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        sched.assert_alive();
        let v = view(&cluster).await;
        let elsewhere: Vec<&Task> = v
            .live_tasks_of("node-0")
            .into_iter()
            .filter(|t| t.agent != p.agent)
            .collect();
        assert!(
            elsewhere.is_empty(),
            "node-0 moved: {elsewhere:?}\n{}",
            sched.output()
        );
        for pod in ["node-1", "node-2"] {
            assert_eq!(v.placed(&cluster, pod).as_ref(), Some(&before[pod]));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The operator gives up on the agent: `cairn pod replace` moves node-0 now, onto a fresh
    // volume, and touches no other pod; a pod that does not exist is refused by name.
    let state = sched.state_dir.to_str().unwrap().to_string();
    let pod = |args: &[&str]| {
        std::process::Command::new(CAIRN)
            .args(["pod"])
            .args(args)
            .args(["--state-dir", &state])
            .output()
            .expect("running cairn pod")
    };
    let refused = pod(&["replace", "node-9"]);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        !refused.status.success() && said.contains("node-9"),
        "{said}"
    );
    let replaced = pod(&["replace", "node-0"]);
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    let q = wait_moved(&cluster, &mut sched, p).await;
    assert_ne!(q.persistence_id, p.persistence_id, "a fresh volume");
    let v = view(&cluster).await;
    for pod in ["node-1", "node-2"] {
        assert_eq!(v.placed(&cluster, pod).as_ref(), Some(&before[pod]));
    }
}

/// Deploys on four agents with a 3 s permanent-failure timeout, stops node-0's agent and
/// waits until node-0 runs elsewhere. The old placement and the new one.
async fn replaced_after_the_timeout(
    name: &str,
) -> (
    ClusterProcess,
    SchedulerProcess,
    BTreeMap<&'static str, Placed>,
    Placed,
) {
    let (cluster, mut sched, before) =
        deployed_service(name, 4, &["--permanent-failure-timeout", "3s"]).await;
    let p = before["node-0"].clone();
    cluster.agent_action(p.agent_index, "stop").await;

    // Unreachable after the ping timeout, failed for 3 s more: replaced on the free agent.
    let new = wait_moved(&cluster, &mut sched, &p).await;
    (cluster, sched, before, new)
}

/// Waits until node-0 runs on another agent than in `p`, with a volume of its own there that
/// it wrote its marker to: the new placement.
async fn wait_moved(cluster: &ClusterProcess, sched: &mut SchedulerProcess, p: &Placed) -> Placed {
    let mut new = None;
    wait_view("node-0 replaced", RECOVERY, cluster, sched, |v| {
        new = v
            .live_tasks_of("node-0")
            .iter()
            .find(|t| t.agent != p.agent && t.state == "TASK_RUNNING")
            .and_then(|t| {
                let persistence_id = v.reservations.iter().find_map(|r| {
                    (r.agent == t.agent && r.pod_instance.as_deref() == Some("node-0"))
                        .then(|| r.persistence_id.clone())
                        .flatten()
                })?;
                let agent_index = *v.agent_index.get(&t.agent)?;
                Some(Placed {
                    task_id: t.id.clone(),
                    agent: t.agent.clone(),
                    agent_index,
                    volume: cluster.volume_dir(agent_index, ROLE, &persistence_id),
                    persistence_id,
                })
            })
            .filter(|q| !marker(&q.volume).is_empty());
        new.is_some()
    })
    .await;
    new.expect("seen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_on_an_unreachable_agent_is_replaced_elsewhere_with_a_fresh_volume_after_the_permanent_failure_timeout(
) {
    let (cluster, mut sched, before, q) =
        replaced_after_the_timeout("agent-unreachable-replace").await;
    let p = &before["node-0"];
    assert_ne!(q.agent, p.agent, "on another agent");
    assert_ne!(q.persistence_id, p.persistence_id, "a fresh volume");
    assert_ne!(q.task_id, p.task_id);
    assert_eq!(
        marker(&q.volume),
        [("node-0-server".to_string(), task_pid(&q))],
        "a fresh volume has one launch"
    );
    assert_eq!(
        marker(&p.volume).len(),
        1,
        "the old volume is not launched on again"
    );
    let v = view(&cluster).await;
    for pod in ["node-1", "node-2"] {
        assert_eq!(
            v.placed(&cluster, pod).as_ref(),
            Some(&before[pod]),
            "{pod} was not touched"
        );
        assert_ne!(before[pod].agent, q.agent, "hostname UNIQUE holds");
    }

    // The agent comes back: the replaced task, unknown to the scheduler now, is killed.
    let old_pid = task_pid(p);
    cluster.agent_action(p.agent_index, "restart").await;
    let deadline = Instant::now() + RECOVERY;
    while pid_alive(old_pid) {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the replaced task still runs on the returned agent\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = wait_view("one live node-0", RECOVERY, &cluster, &mut sched, |v| {
        v.live_tasks_of("node-0").len() == 1
    })
    .await;
    assert_eq!(v.placed(&cluster, "node-0"), Some(q));
}

/// After a permanent replacement the old reservations are queued for reclaiming; the
/// scheduler must keep asking for offers of their agent (it was found SUPPRESSing them once
/// the replacement was deployed, so a returning agent's reservations and volume leaked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reservations_and_volume_of_a_replaced_pod_are_reclaimed_when_its_agent_returns() {
    let (cluster, mut sched, before, q) =
        replaced_after_the_timeout("agent-unreachable-reclaim").await;
    let p = &before["node-0"];
    cluster.agent_action(p.agent_index, "restart").await;
    // `deployed` checks every reservation of the role belongs to a running pod on its agent.
    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after["node-0"], q);
}

// ---------------------------------------------------------------------------
// The master dies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_killed_and_started_again_is_rejoined_by_the_running_scheduler_and_nothing_restarts(
) {
    let (mut cluster, mut sched, before) = deployed_service("cluster-restart", 3, &[]).await;
    let pids: BTreeMap<&str, u32> = before.iter().map(|(pod, p)| (*pod, task_pid(p))).collect();
    let connected = |s: &SchedulerProcess| {
        s.stdout()
            .iter()
            .filter(|l| l.starts_with("connected to "))
            .count()
    };
    assert_eq!(connected(&sched), 1);

    cluster.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_again().await;

    // The scheduler re-subscribes by itself (backoff up to 15 s).
    let deadline = Instant::now() + RECOVERY;
    while connected(&sched) < 2 {
        sched.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the scheduler did not reconnect\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after, before, "every pod where it was, with the same task");
    for (pod, p) in &after {
        assert_eq!(task_pid(p), pids[pod], "{pod} runs in the same process");
        assert!(pid_alive(pids[pod]));
    }
    stays_put(Duration::from_secs(3), &cluster, &mut sched, &after).await;
    assert!(sched.pid() > 0);
}

/// The master's tasks once `count` are listed (a restarted cluster lists them as its agents
/// recover).
async fn listed_tasks(cluster: &ClusterProcess, count: usize) -> Vec<MasterTask> {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let tasks = cluster.get_tasks().await.tasks;
        if tasks.len() >= count {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "the master lists {} tasks, not {count}: {tasks:#?}",
            tasks.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the master has an update older than RUNNING of a task to deliver (the latest the
/// agent forwarded, awaiting acknowledgement or acknowledged).
fn delivers_older_than_running(t: &MasterTask) -> bool {
    matches!(
        t.status_update_state,
        Some(TaskState::Staging | TaskState::Starting)
    )
}

/// `cairn run`, Ctrl-C, `cairn run` again: the scheduler and its cluster stop together and
/// start together. Found by using the product: the second run reported running pods as
/// TASK_STARTING (`deploy: IN_PROGRESS  data-0:[node] STARTING`), because the restarted
/// cluster re-sent updates the scheduler had acknowledged long before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_scheduler_and_the_cluster_restart_together_no_task_is_reported_in_a_state_older_than_running(
) {
    // Deployed means every task's RUNNING reached the scheduler, which the agent forwards only
    // once the STARTING before it is acknowledged.
    let (mut cluster, mut sched, before) = deployed_service("restart-together", 3, &[]).await;

    // Ctrl-C: the scheduler stops, then the cluster; the tasks keep running.
    signal(sched.pid(), libc::SIGINT);
    sched.wait_exit(RECOVERY).await;
    cluster.stop().await;
    cluster.start_again().await;
    let recovered = listed_tasks(&cluster, PODS.len()).await;
    assert!(
        recovered
            .iter()
            .all(|t| t.state == TaskState::Running && !delivers_older_than_running(t)),
        "the restarted cluster has acknowledged updates older than RUNNING to deliver again: \
         {recovered:#?}"
    );

    sched.launch();
    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after, before, "every pod where it was, with the same task");
    let deadline = Instant::now() + RECOVERY;
    loop {
        sched.assert_alive();
        let connected = sched
            .stdout()
            .iter()
            .any(|l| l.starts_with("connected to "));
        let tasks = listed_tasks(&cluster, PODS.len()).await;
        if connected && !tasks.iter().any(delivers_older_than_running) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not taken over: {tasks:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backwards: Vec<String> = sched
        .stdout()
        .into_iter()
        .filter(|l| l.contains("STAGING") || l.contains("STARTING"))
        .collect();
    assert!(
        backwards.is_empty(),
        "running tasks were reported in an earlier state: {backwards:?}\n{}",
        sched.output()
    );
    for (pod, p) in &after {
        assert_eq!(marker(&p.volume).len(), 1, "{pod} was not relaunched");
        assert!(pid_alive(task_pid(p)), "{pod} still runs");
    }
}

// ---------------------------------------------------------------------------
// The scheduler's state is lost, or the cluster forgets
// ---------------------------------------------------------------------------

impl SchedulerProcess {
    /// Waits for the process to exit by itself; its status and this incarnation's stderr.
    async fn wait_exit(&mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("a running scheduler");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let err = std::fs::read_to_string(
                    self.dir.join(format!("scheduler-{}.err", self.incarnation)),
                )
                .unwrap_or_default();
                return (status, err);
            }
            if Instant::now() > deadline {
                panic!(
                    "the scheduler did not stop within {within:?}\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The service's directory in the state store.
    fn store(&self) -> PathBuf {
        self.state_dir.join("rsvc")
    }
}

/// Ids of the frameworks named `rsvc` the master has (torn-down ones not counted).
async fn service_frameworks(cluster: &ClusterProcess) -> Vec<String> {
    cluster
        .get_frameworks()
        .await
        .frameworks
        .iter()
        .filter(|f| f.framework_info.name == "rsvc")
        .filter_map(|f| f.framework_info.id.as_ref().map(|i| i.value.clone()))
        .collect()
}

/// SIGKILLs every process of the session `pid` belongs to: what a machine's reboot does to an
/// executor and its tasks.
fn kill_session_of(pid: u32) {
    let session = |p: &str| -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // Fields after the command name `(...)`: state ppid pgrp session ...
        let rest = &stat[stat.rfind(')')? + 2..];
        rest.split(' ').nth(3).map(str::to_string)
    };
    let Some(sid) = session(&pid.to_string()) else {
        return;
    };
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_ok() && session(&name).as_deref() == Some(sid.as_str()) {
            signal(name.parse().unwrap(), libc::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_lost_its_framework_id_stops_the_scheduler_with_the_way_out_and_adopting_brings_every_pod_back_on_its_volume(
) {
    let (cluster, mut sched, before) = deployed_service("lost-framework-id", 3, &[]).await;
    let [fid] = &service_frameworks(&cluster).await[..] else {
        panic!("one framework of the service");
    };
    let reservations = view(&cluster).await.reservations.len();
    sched.kill9();
    let file = sched.store().join("FrameworkID");

    // Deleted, emptied, garbled, or an id the master does not know: each start stops at once,
    // saying how to go on, and leaves the cluster as it was: one framework, the same
    // reservations, every pod untouched.
    let damages: [Option<&[u8]>; 4] = [
        None,
        Some(b""),
        Some(b"\xffgarbage-0042"),
        Some(b"9d2f61c4-0000-4000-8000-000000000000-0042"),
    ];
    for damage in damages {
        match damage {
            None => std::fs::remove_file(&file).unwrap(),
            Some(bytes) => std::fs::write(&file, bytes).unwrap(),
        }
        sched.launch();
        let (status, err) = sched.wait_exit(RECOVERY).await;
        assert!(!status.success(), "{damage:?}: {err}");
        assert!(
            err.contains(&format!("--adopt-framework {fid}")),
            "{damage:?}: the way out, with the framework to adopt: {err}"
        );
        assert_eq!(
            service_frameworks(&cluster).await,
            std::slice::from_ref(fid),
            "{damage:?}"
        );
        let v = view(&cluster).await;
        assert_eq!(
            v.reservations.len(),
            reservations,
            "{damage:?}: nothing reserved"
        );
        for (pod, p) in &before {
            assert_eq!(
                v.placed(&cluster, pod).as_ref(),
                Some(p),
                "{damage:?}: {pod}"
            );
            assert_eq!(
                marker(&p.volume).len(),
                1,
                "{damage:?}: {pod} launched again"
            );
        }
    }

    // The documented way out: every pod where it was, the same task, nothing relaunched.
    sched.extra_args = vec!["--adopt-framework".into(), fid.clone()];
    sched.launch();
    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after, before, "every pod on its volume, with the same task");
    assert_eq!(
        service_frameworks(&cluster).await,
        std::slice::from_ref(fid)
    );
    // The pods ran all along, so the view above may be seen before the adopting scheduler has
    // subscribed and stored the id.
    eventually("the adopted id stored", || {
        std::fs::read_to_string(&file).is_ok_and(|id| id == *fid)
    })
    .await;
    stays_put(Duration::from_secs(3), &cluster, &mut sched, &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_task_record_is_rebuilt_from_the_master_and_its_pod_is_not_launched_a_second_time() {
    let (cluster, mut sched, before) = deployed_service("lost-task-info", 3, &[]).await;
    sched.kill9();
    std::fs::remove_file(sched.store().join("Tasks/node-1-server/TaskInfo")).unwrap();

    sched.launch();
    let after = deployed(&cluster, &mut sched).await;
    assert_eq!(after, before, "node-1 keeps its task and its volume");
    assert_eq!(marker(&after["node-1"].volume).len(), 1, "launched once");
    assert!(
        sched.store().join("Tasks/node-1-server/TaskInfo").exists(),
        "the record is stored again"
    );
    stays_put(Duration::from_secs(3), &cluster, &mut sched, &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_whose_agents_lost_their_executor_checkpoints_are_relaunched_on_their_own_agents_with_their_data(
) {
    let (mut cluster, mut sched, before) = deployed_service("lost-executors", 3, &[]).await;
    // The cluster dies with the machines: every executor and task is gone, and so are the
    // agents' executor checkpoints; reservations and volumes stay.
    let pids: BTreeMap<&str, u32> = before.iter().map(|(pod, p)| (*pod, task_pid(p))).collect();
    cluster.kill9();
    for pid in pids.values() {
        kill_session_of(*pid);
    }
    for agent in 0..3 {
        let dir = cluster.agent_dir(agent).join("executors");
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    cluster.start_again().await;

    // The agents report the tasks TASK_GONE while they stay registered: each pod is
    // relaunched on its own agent, on its own volume, with the data it wrote.
    let mut after = None;
    wait_view(
        "every pod relaunched in place",
        RECOVERY,
        &cluster,
        &mut sched,
        |v| {
            let placed: Option<BTreeMap<&str, Placed>> = PODS
                .iter()
                .map(|pod| Some((*pod, v.placed(&cluster, pod)?)))
                .collect();
            after = placed.filter(|p| {
                p.values().all(|q| marker(&q.volume).len() == 2) && v.problems(&cluster).is_empty()
            });
            after.is_some()
        },
    )
    .await;
    let after = after.expect("seen");
    for (pod, p) in &before {
        let q = &after[pod];
        assert_ne!(q.task_id, p.task_id, "{pod}: a new task");
        assert_eq!(q.agent, p.agent, "{pod}: on its own agent");
        assert_eq!(
            q.persistence_id, p.persistence_id,
            "{pod}: on its own volume"
        );
        let lines = marker(&q.volume);
        assert_eq!(
            lines[0],
            (format!("{pod}-server"), pids[pod]),
            "{pod}: its data"
        );
        assert!(pid_alive(lines[1].1), "{pod}: the relaunch runs");
    }
    let v = view(&cluster).await;
    // Three pods of six reservations each (cpus, mem and disk of executor and task).
    assert_eq!(v.reservations.len(), 18, "nothing reserved beside: {v:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_teardown_stops_the_scheduler_with_the_way_out_and_uninstall_leaves_no_reservation(
) {
    let (cluster, mut sched, _) = deployed_service("teardown", 3, &[]).await;
    let [fid] = &service_frameworks(&cluster).await[..] else {
        panic!("one framework of the service");
    };
    let call = master::Call {
        teardown: Some(master::Teardown {
            framework_id: cairn_proto::FrameworkId::new(fid.clone()),
        }),
        ..master::Call::new(master::CallType::Teardown)
    };
    let (status, body) = cluster.operator(&call).await;
    assert!(status.is_success(), "TEARDOWN: {status} {body}");

    // It stops, saying what happened and what to do, instead of retrying forever.
    let (status, err) = sched.wait_exit(RECOVERY).await;
    assert!(!status.success());
    assert!(
        err.contains(&format!("framework {fid}")) && err.contains("torn down"),
        "{err}"
    );
    assert!(
        err.contains("cairn uninstall") && err.contains("--force"),
        "{err}"
    );
    assert!(
        view(&cluster).await.any_volume(),
        "the role still holds them"
    );

    let out = Command::new(CAIRN)
        .args(["uninstall", "--master", &cluster.master, "--state-dir"])
        .arg(&sched.state_dir)
        .arg("--credentials")
        .arg(cluster.credentials_path())
        .env("CAIRN_LOG", "info")
        .output()
        .expect("running cairn uninstall");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = view(&cluster).await;
    assert!(v.reservations.is_empty(), "{v:#?}");
    assert!(
        !sched.store().join("FrameworkID").exists(),
        "the service's state is gone"
    );
}
