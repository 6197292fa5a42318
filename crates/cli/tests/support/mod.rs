//! Test support for end-to-end tests of `cairn cluster`: the cluster as a real process on
//! loopback ([`ClusterProcess`]), a small Mesos v1 scheduler client over HTTP ([`Scheduler`]),
//! and helpers to build the resources, tasks and pods the tests launch.
//!
//! Everything here is at the IO boundary on purpose: the tests talk to the cluster only the
//! way a real framework, operator or datacenter would (HTTP, signals, files on disk).

#![allow(dead_code)] // not every test file uses every helper

pub mod mesos;
pub mod service;

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_cluster::auth::Credential;
use cairn_proto::recordio::Decoder;
use cairn_proto::scheduler::{
    AcknowledgeOperationStatus, Call, CallType, Event, EventType, ReconcileTask,
};
use cairn_proto::{
    master, AgentId, CapabilityType, CommandInfo, ExecutorId, ExecutorInfo, ExecutorType,
    FrameworkId, FrameworkInfo, Labels, Offer, OfferId, OfferOperation, ReservationInfo, Resource,
    TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use reqwest::StatusCode;
use tokio::sync::mpsc;

/// The `cairn` binary under test.
pub const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

/// The `cairn` the cluster tests start: [`CAIRN`], or the one `CAIRN_E2E_BINARY` names (to
/// run the same tests against another build, e.g. to see a regression test fail on an older
/// one).
pub fn cairn_binary() -> PathBuf {
    std::env::var_os("CAIRN_E2E_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CAIRN))
}

/// The framework credentials files of the clusters this test process started, by master
/// URL: a [`Scheduler`] subscribing to a master authenticates with a credential of its
/// principal from there, as a framework given the cluster's credentials would.
static CREDENTIALS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// The credential of `principal` for the cluster at `master`, added to its credentials file
/// when missing (the master re-reads the file); `None` when that cluster keeps no credentials
/// file (an older build).
pub fn cluster_credential(master: &str, principal: &str) -> Option<Credential> {
    let path = CREDENTIALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .rev()
        .find(|(m, _)| m == master)
        .map(|(_, p)| p.clone())?;
    if !path.exists() {
        return None;
    }
    let (credential, _) = cairn_cluster::auth::ensure_credential(&path, principal)
        .unwrap_or_else(|e| panic!("a credential for {principal}: {e}"));
    Some(credential)
}

/// How long any condition may take before a test gives up. Generous: a deadline only costs
/// time when something is already wrong, and CI machines are slow.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The fast timers every test cluster runs with.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
pub const UPDATE_RETRY: Duration = Duration::from_secs(1);

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// (session id, start time) of a process, from `/proc/<pid>/stat`.
fn session_and_start(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    Some((fields.get(3)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes (not this one) whose command line or environment mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let needle = needle.as_bytes();
    let mentions = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid))
        .filter(|pid| {
            let read =
                |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
            mentions(&read("cmdline")) || mentions(&read("environ"))
        })
        .collect()
}

/// Members of the session led by `leader` that started no earlier than it did.
fn session_members(leader: u32, leader_start: Option<u64>) -> Vec<u32> {
    let me = std::process::id();
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid))
        .filter(|&pid| {
            session_and_start(pid).is_some_and(|(sid, start)| {
                sid == leader && leader_start.is_none_or(|ls| start >= ls)
            })
        })
        .collect()
}

/// Executors (pid, start time) the agents under `work_dir` checkpointed.
fn checkpointed_executors(work_dir: &Path) -> Vec<(u32, Option<u64>)> {
    let mut out = Vec::new();
    let Ok(agents) = std::fs::read_dir(work_dir.join("agents")) else {
        return out;
    };
    for agent in agents.flatten() {
        let Ok(files) = std::fs::read_dir(agent.path().join("executors")) else {
            continue;
        };
        for f in files.flatten() {
            let Ok(text) = std::fs::read_to_string(f.path()) else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(pid) = doc["pid"].as_u64() {
                out.push((pid as u32, doc["pid_start"].as_u64()));
            }
        }
    }
    out
}

/// Waits for `cond` to hold, polling; panics with `what` after the deadline.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {DEADLINE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the asynchronous `check` until it gives a value, for at most `within` (generous: the
/// machine is shared); panics naming `what` past it.
pub async fn poll_until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a pid a task wrote to a file, once the file has one.
pub async fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    eventually(&format!("a pid in {}", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.unwrap()
}

// ---------------------------------------------------------------------------
// The cluster process
// ---------------------------------------------------------------------------

/// How to start a cluster.
#[derive(Clone)]
pub struct ClusterOptions {
    pub agents: usize,
    /// What single agents offer besides the default resources: `(index, resources)`, passed
    /// as `--agent-extra-resources INDEX=RESOURCES` (GPUs, static reservations to a role).
    pub agent_extra_resources: Vec<(usize, String)>,
    pub extra_args: Vec<String>,
    /// `--allow-root`. On by default: the frameworks of these tests ([`framework`]) name root,
    /// because their tasks write pid files and markers into the test's own directories. Tests
    /// of the user policy turn it off.
    pub allow_root: bool,
    /// Variables added to the cluster's environment (its executors inherit them).
    pub env: Vec<(String, String)>,
    /// A command the cluster is started through (`setpriv ...` to take a capability away):
    /// the cluster's command line follows it. Empty: the cluster is started directly.
    pub wrapper: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            agents: 3,
            agent_extra_resources: Vec::new(),
            extra_args: Vec::new(),
            allow_root: true,
            env: Vec::new(),
            wrapper: Vec::new(),
        }
    }
}

/// `cairn cluster` as a child process with its own work directory.
///
/// Dropping it kills the cluster and every executor and task it left running (the cluster
/// itself deliberately leaves them running when it stops), then removes the directory unless
/// the test failed.
pub struct ClusterProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub master: String,
    /// The cluster's own directory (`<--work-dir>/cluster`): checkpoints, sandboxes, volumes.
    pub work_dir: PathBuf,
    /// A directory of the test's own (pid files and the like), next to the work dir.
    pub scratch: PathBuf,
    root: PathBuf,
    log: PathBuf,
    options: ClusterOptions,
    http: reqwest::Client,
}

/// The cluster exited before it was ready.
#[derive(Debug)]
pub struct StartFailure {
    pub code: Option<i32>,
    pub stderr: String,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .expect("an HTTP client")
}

impl ClusterProcess {
    /// Starts a fresh 3-agent cluster; `name` names its directory.
    pub async fn start(name: &str) -> ClusterProcess {
        Self::start_with(name, ClusterOptions::default()).await
    }

    /// [`ClusterProcess::start_with`] the default options but `agents` agents.
    pub async fn start_with_agents(name: &str, agents: usize) -> ClusterProcess {
        Self::start_with(
            name,
            ClusterOptions {
                agents,
                ..ClusterOptions::default()
            },
        )
        .await
    }

    pub async fn start_with(name: &str, options: ClusterOptions) -> ClusterProcess {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cluster-e2e/{name}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("scratch")).expect("creating the test directory");
        let mut cluster = ClusterProcess {
            child: None,
            master: String::new(),
            work_dir: root.join("work").join("cluster"),
            scratch: root.join("scratch"),
            log: root.join("cluster.log"),
            root,
            options,
            http: http_client(),
        };
        if let Err(e) = cluster.launch(None).await {
            panic!("cairn cluster did not start: {e:?}");
        }
        cluster
    }

    /// Starts the process and waits for its ready line. `port` reuses a master port.
    pub async fn launch(&mut self, port: Option<u16>) -> Result<(), StartFailure> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening the cluster log");
        let mut cmd = match self.options.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(cairn_binary());
                cmd
            }
            None => Command::new(cairn_binary()),
        };
        cmd.arg("cluster")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", port.unwrap_or(0)))
            .arg("--agents")
            .arg(self.options.agents.to_string())
            .arg("--work-dir")
            .arg(self.service_work_dir())
            .args(["--allocation-interval", "100ms"])
            .args(["--heartbeat-interval", "1s"])
            .arg("--agent-ping-timeout")
            .arg(format!("{}ms", PING_TIMEOUT.as_millis()))
            .arg("--status-update-retry")
            .arg(format!("{}ms", UPDATE_RETRY.as_millis()))
            .args(
                self.options
                    .agent_extra_resources
                    .iter()
                    .flat_map(|(i, r)| ["--agent-extra-resources".to_string(), format!("{i}={r}")]),
            )
            .args(&self.options.extra_args)
            .args(self.options.allow_root.then_some("--allow-root"))
            .env("CAIRN_LOG", "warn,cairn_cluster=info,cairn_cli=info")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawning cairn cluster");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The ready line arrives on a blocking pipe: read it on a thread of its own, then keep
        // draining so the cluster never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(|l| l.ok());
            let _ = tx.send(first);
            for _ in lines {}
        });
        let line = tokio::time::timeout(DEADLINE, rx).await;
        let line = match line {
            Ok(Ok(Some(line))) => line,
            _ => {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(StartFailure {
                    code: status.and_then(|s| s.code()),
                    stderr: std::fs::read_to_string(&self.log).unwrap_or_default(),
                });
            }
        };
        let master = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("master="))
            .unwrap_or_else(|| panic!("no master= in the ready line {line:?}"));
        assert!(
            line.starts_with("cairn cluster ready "),
            "unexpected first line {line:?}"
        );
        self.master = master.to_string();
        CREDENTIALS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.master.clone(), self.credentials_path()));
        self.child = Some(child);
        // Connections to a previous incarnation are dead: start with a fresh pool.
        self.http = http_client();
        Ok(())
    }

    /// The `--work-dir` the cluster was started with (as `cairn run` takes it): the cluster
    /// lives in its `cluster/`, and other commands find it from there.
    pub fn service_work_dir(&self) -> &Path {
        self.work_dir
            .parent()
            .expect("the cluster dir is below the work dir")
    }

    fn port(&self) -> u16 {
        self.master
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the master URL")
    }

    /// The cluster's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running cluster").id()
    }

    /// Stops the cluster with SIGTERM and waits for it to exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cairn cluster did not exit on SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the cluster with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then a new cluster process on the same work dir and master port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Starts the cluster again (after [`stop`](Self::stop) or [`kill9`](Self::kill9)) on the
    /// same work dir and master port.
    pub async fn start_again(&mut self) {
        let port = self.port();
        if let Err(e) = self.launch(Some(port)).await {
            panic!("cairn cluster did not start again: {e:?}");
        }
    }

    /// Replaces the extra arguments the next [`start_again`](Self::start_again) passes.
    pub fn set_extra_args(&mut self, args: Vec<String>) {
        self.options.extra_args = args;
    }

    /// The cluster's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    // --- credentials -------------------------------------------------------------------

    /// The framework credentials file the cluster generated.
    pub fn credentials_path(&self) -> PathBuf {
        self.work_dir.join("credentials")
    }

    /// The file holding the operator's token.
    pub fn operator_token_path(&self) -> PathBuf {
        self.work_dir.join("operator-token")
    }

    /// The operator's token; `None` when the cluster wrote none (an older build).
    pub fn operator_token(&self) -> Option<String> {
        cairn_cluster::auth::read_token(&self.operator_token_path()).ok()
    }

    /// A framework credential of `principal` (added to the cluster's file when missing).
    pub fn credential(&self, principal: &str) -> Option<Credential> {
        cluster_credential(&self.master, principal)
    }

    /// `request` with the operator's token, when there is one.
    pub fn as_operator(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.operator_token() {
            Some(t) => request.header(
                "Authorization",
                cairn_cluster::auth::bearer_authorization(&t),
            ),
            None => request,
        }
    }

    // --- fault injection ---------------------------------------------------------------

    /// `GET /cluster/agents`.
    pub async fn agents(&self) -> Vec<serde_json::Value> {
        let doc: serde_json::Value = self
            .as_operator(self.http.get(format!("{}/cluster/agents", self.master)))
            .send()
            .await
            .expect("GET /cluster/agents")
            .json()
            .await
            .expect("an agent list");
        doc["agents"].as_array().cloned().unwrap_or_default()
    }

    /// The id of the agent with this index.
    pub async fn agent_id(&self, index: usize) -> AgentId {
        let agents = self.agents().await;
        AgentId::new(agents[index]["id"].as_str().expect("an agent id"))
    }

    /// The index of the agent with this id.
    pub async fn agent_index(&self, id: &AgentId) -> usize {
        self.agents()
            .await
            .iter()
            .find(|a| a["id"].as_str() == Some(id.value.as_str()))
            .and_then(|a| a["index"].as_u64())
            .unwrap_or_else(|| panic!("no agent {id}")) as usize
    }

    /// `POST /cluster/agents/{agent}/{action}`; panics unless it succeeds.
    pub async fn agent_action(&self, agent: usize, action: &str) {
        let resp = self
            .as_operator(
                self.http
                    .post(format!("{}/cluster/agents/{agent}/{action}", self.master)),
            )
            .send()
            .await
            .expect("POST /cluster/agents/..");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{action} agent {agent}: {status} {body}"
        );
    }

    /// An agent's status in the fault API (`running`, `stopped`, `unreachable`, `gone`).
    pub async fn agent_status(&self, agent: usize) -> String {
        self.agents().await[agent]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The work directory of an agent.
    pub fn agent_dir(&self, agent: usize) -> PathBuf {
        self.work_dir.join("agents").join(agent.to_string())
    }

    /// Where a persistent volume of `role` lives on an agent's disk.
    pub fn volume_dir(&self, agent: usize, role: &str, persistence_id: &str) -> PathBuf {
        self.agent_dir(agent)
            .join("volumes/roles")
            .join(role.replace('/', "__"))
            .join(persistence_id)
    }

    // --- operator API ------------------------------------------------------------------

    /// `POST /api/v1` with a JSON body, as the operator; the status and the body text.
    pub async fn operator_raw(&self, body: &serde_json::Value) -> (StatusCode, String) {
        post_operator(
            self.as_operator(self.http.post(format!("{}/api/v1", self.master))),
            body,
        )
        .await
    }

    /// An operator call; the status and the body.
    pub async fn operator(&self, call: &master::Call) -> (StatusCode, String) {
        self.operator_raw(&serde_json::to_value(call).unwrap())
            .await
    }

    /// An operator call that must answer 200 with a body.
    pub async fn operator_get(&self, type_: master::CallType) -> master::Response {
        let (status, body) = self.operator(&master::Call::new(type_)).await;
        assert_eq!(status, StatusCode::OK, "{type_:?}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{type_:?} answer {body}: {e}"))
    }

    pub async fn get_agents(&self) -> master::GetAgents {
        self.operator_get(master::CallType::GetAgents)
            .await
            .get_agents
            .expect("get_agents")
    }

    pub async fn get_frameworks(&self) -> master::GetFrameworks {
        self.operator_get(master::CallType::GetFrameworks)
            .await
            .get_frameworks
            .expect("get_frameworks")
    }

    /// The tasks the master holds in TASK_RUNNING, as its GET_TASKS answers them in JSON (the
    /// fields a test reads: name, ids, resources, statuses).
    pub async fn running_tasks_json(&self) -> Vec<serde_json::Value> {
        let (status, body) = self
            .operator_raw(&serde_json::json!({ "type": "GET_TASKS" }))
            .await;
        assert!(status.is_success(), "GET_TASKS: {status} {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("GET_TASKS is JSON");
        doc["get_tasks"]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .cloned()
            .collect()
    }

    pub async fn get_tasks(&self) -> master::GetTasks {
        self.operator_get(master::CallType::GetTasks)
            .await
            .get_tasks
            .expect("get_tasks")
    }

    pub async fn get_roles(&self) -> Vec<cairn_proto::Role> {
        self.operator_get(master::CallType::GetRoles)
            .await
            .get_roles
            .expect("get_roles")
            .roles
    }

    /// The resources GET_AGENTS reports for one agent in total, if the master lists it.
    pub async fn agent_total(&self, agent: &AgentId) -> Option<Vec<Resource>> {
        self.get_agents()
            .await
            .agents
            .into_iter()
            .find(|a| a.agent_info.id.as_ref() == Some(agent))
            .map(|a| a.total_resources)
    }

    /// Polls GET_FRAMEWORKS until `cond` holds for it.
    pub async fn wait_for_frameworks(
        &self,
        what: &str,
        cond: impl Fn(&master::GetFrameworks) -> bool,
    ) -> master::GetFrameworks {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let fws = self.get_frameworks().await;
            if cond(&fws) {
                return fws;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; GET_FRAMEWORKS: {fws:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every process the cluster left behind: what mentions the work dir, and the sessions
    /// of the executors its agents checkpointed.
    fn leftovers(&self) -> Vec<u32> {
        let mut pids: HashSet<u32> = processes_mentioning(&self.work_dir.display().to_string())
            .into_iter()
            .collect();
        for (pid, start) in checkpointed_executors(&self.work_dir) {
            pids.extend(session_members(pid, start));
        }
        pids.into_iter().collect()
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        self.kill9();
        // Executors may be starting tasks while we look: repeat until nothing is left.
        for _ in 0..50 {
            let left = self.leftovers();
            if left.is_empty() {
                break;
            }
            for pid in left {
                signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.leftovers();
        if std::thread::panicking() {
            eprintln!(
                "cluster work dir kept at {}; last lines of its log:\n{}",
                self.root.display(),
                tail(&self.log(), 60)
            );
        } else {
            let described: Vec<String> = left.iter().map(|pid| describe(*pid)).collect();
            assert!(
                left.is_empty(),
                "processes survived the cluster: {described:#?}"
            );
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn describe(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    format!(
        "{} [{}]",
        stat.trim(),
        String::from_utf8_lossy(&cmdline).replace('\0', " ")
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// The scheduler client
// ---------------------------------------------------------------------------

/// `POST /api/v1` (the request already addressed and authorised) with a JSON body; the status
/// and the body text.
pub async fn post_operator(
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> (StatusCode, String) {
    let resp = request
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/v1");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// What a framework subscribes with: a name, a role and capabilities.
pub fn framework(name: &str, role: &str, caps: &[CapabilityType]) -> FrameworkInfo {
    let mut info = FrameworkInfo::new("root", name);
    info.roles = vec![role.to_string()];
    info.principal = Some(format!("{name}-principal"));
    info.checkpoint = Some(true);
    info.failover_timeout = Some(3600.0);
    info.capabilities = std::iter::once(CapabilityType::MultiRole)
        .chain(caps.iter().copied())
        .map(Into::into)
        .collect();
    info
}

/// A framework with every capability a modern scheduler (and cairn's SDK) has.
pub fn modern_framework(name: &str, role: &str) -> FrameworkInfo {
    framework(
        name,
        role,
        &[
            CapabilityType::ReservationRefinement,
            CapabilityType::PartitionAware,
        ],
    )
}

/// A small Mesos v1 scheduler client: one SUBSCRIBE stream read into a channel, calls on
/// other connections with the stream id, and waits with deadlines on what arrives.
pub struct Scheduler {
    http: reqwest::Client,
    /// The framework's credential as an `Authorization` value, on every call.
    authorization: Option<String>,
    pub master: String,
    pub framework_id: FrameworkId,
    pub stream_id: String,
    pub info: FrameworkInfo,
    rx: mpsc::UnboundedReceiver<Event>,
    /// Every event received, in order, as the JSON that came over the wire (what a typed event
    /// cannot show: fields cairn's types do not know, and how values were written).
    raw: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    reader: tokio::task::JoinHandle<()>,
    auto_ack: Arc<AtomicBool>,
    /// Events received and not consumed by a wait (offers and heartbeats excepted).
    pending: VecDeque<Event>,
    /// Offers received and neither used, declined nor rescinded.
    offers: Vec<Offer>,
    /// Every event received, in order.
    pub history: Vec<Event>,
    closed: bool,
}

impl Scheduler {
    /// Subscribes (a new framework when `info.id` is unset); panics unless SUBSCRIBED.
    pub async fn subscribe(master: &str, info: FrameworkInfo) -> Scheduler {
        match Self::try_subscribe(master, info).await {
            Ok(s) => s,
            Err((status, body)) => panic!("SUBSCRIBE answered {status}: {body}"),
        }
    }

    /// Subscribes again with the id this scheduler had (a scheduler failing over).
    pub async fn resubscribe(master: &str, info: &FrameworkInfo, id: &FrameworkId) -> Scheduler {
        let mut info = info.clone();
        info.id = Some(id.clone());
        let s = Self::subscribe(master, info).await;
        assert_eq!(&s.framework_id, id, "re-subscribed under another id");
        s
    }

    /// SUBSCRIBE; the HTTP status and body when it is refused. An ERROR event as the first
    /// record also counts as refused (status 200, the error's message).
    pub async fn try_subscribe(
        master: &str,
        info: FrameworkInfo,
    ) -> Result<Scheduler, (StatusCode, String)> {
        Self::connect(master, info, true).await
    }

    /// SUBSCRIBE with acknowledgements automatic or not from the first event on,
    /// authenticating with the cluster's credential of the framework's principal.
    pub async fn connect(
        master: &str,
        info: FrameworkInfo,
        auto_ack: bool,
    ) -> Result<Scheduler, (StatusCode, String)> {
        let principal = info
            .principal
            .clone()
            .unwrap_or_else(|| cairn_cluster::auth::DEFAULT_PRINCIPAL.to_string());
        let credential = cluster_credential(master, &principal);
        Self::connect_with(master, info, auto_ack, credential.as_ref()).await
    }

    /// SUBSCRIBE with `credential` (none: no `Authorization` at all).
    pub async fn connect_with(
        master: &str,
        info: FrameworkInfo,
        auto_ack: bool,
        credential: Option<&Credential>,
    ) -> Result<Scheduler, (StatusCode, String)> {
        let http = http_client();
        let authorization = credential.map(Credential::authorization);
        let call = Call::subscribe(info.clone());
        // No overall timeout on the stream: it lives as long as the test wants it.
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let mut req = client
            .post(format!("{master}/api/v1/scheduler"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(auth) = &authorization {
            req = req.header("Authorization", auth);
        }
        let resp = req
            .body(serde_json::to_vec(&call).unwrap())
            .send()
            .await
            .expect("POST SUBSCRIBE");
        let status = resp.status();
        if status != StatusCode::OK {
            return Err((status, resp.text().await.unwrap_or_default()));
        }
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .expect("a Mesos-Stream-Id header")
            .to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let auto_ack = Arc::new(AtomicBool::new(auto_ack));
        let raw = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = tokio::spawn(read_stream(
            resp,
            tx,
            raw.clone(),
            http.clone(),
            authorization.clone(),
            master.to_string(),
            stream_id.clone(),
            auto_ack.clone(),
        ));
        let mut s = Scheduler {
            http,
            authorization,
            master: master.to_string(),
            framework_id: FrameworkId::default(),
            stream_id,
            info,
            rx,
            raw,
            reader,
            auto_ack,
            pending: VecDeque::new(),
            offers: Vec::new(),
            history: Vec::new(),
            closed: false,
        };
        let first = s.wait_for("the first event", |e| Some(e.clone())).await;
        match first.type_ {
            EventType::Subscribed => {
                s.framework_id = first.subscribed.unwrap().framework_id;
                s.info.id = Some(s.framework_id.clone());
                Ok(s)
            }
            EventType::Error => Err((status, first.error.unwrap().message)),
            other => panic!("first event was {other:?}"),
        }
    }

    /// Whether updates are acknowledged as they arrive (the default).
    pub fn set_auto_ack(&self, on: bool) {
        self.auto_ack.store(on, Ordering::SeqCst);
    }

    /// Drops the SUBSCRIBE connection, as a scheduler that dies does.
    pub fn disconnect(&mut self) {
        self.reader.abort();
        self.closed = true;
    }

    /// POSTs a call with this scheduler's stream id; the status and body.
    pub async fn call(&self, call: &Call) -> (StatusCode, String) {
        self.call_with_stream_id(call, Some(&self.stream_id)).await
    }

    /// POSTs a call written as JSON with this scheduler's stream id; the status and body.
    pub async fn call_json(&self, call: &serde_json::Value) -> (StatusCode, String) {
        self.call_json_with_stream_id(call, Some(&self.stream_id))
            .await
    }

    /// POSTs a call written as JSON, with `stream_id` (none: no header); the status and body.
    pub async fn call_json_with_stream_id(
        &self,
        call: &serde_json::Value,
        stream_id: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/scheduler", self.master))
            .header("Content-Type", "application/json")
            .body(call.to_string());
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        if let Some(id) = stream_id {
            req = req.header("Mesos-Stream-Id", id);
        }
        let resp = req.send().await.expect("POST a scheduler call");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// How many events have arrived so far (for [`raw_event_after`](Self::raw_event_after)).
    pub fn raw_len(&self) -> usize {
        self.raw.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The first event received, as its wire JSON, that `pred` accepts; waits for it.
    pub async fn raw_event(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.raw_event_after(0, what, pred).await
    }

    /// The first event from the `skip`-th on, as its wire JSON, that `pred` accepts; waits.
    pub async fn raw_event_after(
        &self,
        skip: usize,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self
                .raw
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .skip(skip)
                .find(|e| pred(e))
                .cloned();
            if let Some(e) = found {
                return e;
            }
            if Instant::now() > deadline {
                panic!("timed out after {DEADLINE:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn call_with_stream_id(
        &self,
        call: &Call,
        stream_id: Option<&str>,
    ) -> (StatusCode, String) {
        let call = serde_json::to_value(call).expect("a call encodes");
        self.call_json_with_stream_id(&call, stream_id).await
    }

    /// A call that must be accepted (202).
    pub async fn call_ok(&self, call: &Call) {
        let (status, body) = self.call(call).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{:?}: {body}", call.type_);
    }

    pub async fn accept(&mut self, offer: &OfferId, ops: Vec<OfferOperation>) {
        self.offers.retain(|o| &o.id != offer);
        // Refuse nothing: what the operations leave is offered again at once.
        let call = Call::accept(
            self.framework_id.clone(),
            vec![offer.clone()],
            ops,
            Some(cairn_proto::Filters::refuse_seconds(0.0)),
        );
        self.call_ok(&call).await;
    }

    pub async fn decline(&mut self, offer: &OfferId, refuse_seconds: f64) {
        self.offers.retain(|o| &o.id != offer);
        let call = Call::decline(
            self.framework_id.clone(),
            vec![offer.clone()],
            Some(cairn_proto::Filters::refuse_seconds(refuse_seconds)),
        );
        self.call_ok(&call).await;
    }

    /// Declines every offer held, refusing nothing.
    pub async fn decline_all(&mut self) {
        let ids: Vec<OfferId> = self.offers.iter().map(|o| o.id.clone()).collect();
        for id in ids {
            self.decline(&id, 0.0).await;
        }
    }

    pub async fn reconcile(&self, tasks: &[(&TaskId, Option<&AgentId>)]) {
        let tasks = tasks
            .iter()
            .map(|(t, a)| ReconcileTask {
                task_id: (*t).clone(),
                agent_id: a.cloned(),
            })
            .collect();
        self.call_ok(&Call::reconcile(self.framework_id.clone(), tasks))
            .await;
    }

    pub async fn kill(&self, task: &TaskId, policy: Option<cairn_proto::KillPolicy>) {
        self.call_ok(&Call::kill(
            self.framework_id.clone(),
            task.clone(),
            None,
            policy,
        ))
        .await;
    }

    pub async fn acknowledge(&self, status: &TaskStatus) {
        let call = Call::acknowledge(
            self.framework_id.clone(),
            status.agent_id.clone().expect("an update with an agent id"),
            status.task_id.clone(),
            status.uuid.clone().expect("an update with a uuid"),
        );
        self.call_ok(&call).await;
    }

    /// Takes in an event: offers go to the offer book, the rest waits to be consumed.
    fn absorb(&mut self, event: Event) {
        self.history.push(event.clone());
        match event.type_ {
            EventType::Heartbeat => {}
            EventType::Offers => {
                self.offers
                    .extend(event.offers.map(|o| o.offers).unwrap_or_default());
            }
            EventType::Rescind => {
                if let Some(r) = &event.rescind {
                    self.offers.retain(|o| o.id != r.offer_id);
                }
                self.pending.push_back(event);
            }
            _ => self.pending.push_back(event),
        }
    }

    /// The next event before `deadline`: `Ok(None)` on timeout, `Err` when the stream ended.
    async fn recv(&mut self, deadline: Instant) -> Result<Option<Event>, ()> {
        match tokio::time::timeout_at(deadline.into(), self.rx.recv()).await {
            Ok(Some(e)) => Ok(Some(e)),
            Ok(None) => Err(()),
            Err(_) => Ok(None),
        }
    }

    /// Waits for the first event (pending or new) for which `f` answers; it is consumed, the
    /// others stay pending. Panics after [`DEADLINE`] or when the stream ends.
    pub async fn wait_for<T>(&mut self, what: &str, f: impl FnMut(&Event) -> Option<T>) -> T {
        self.wait_for_within(what, DEADLINE, f).await
    }

    pub async fn wait_for_within<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        match self.try_wait_for(timeout, f).await {
            Some(t) => t,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}; pending events: {}",
                summary(self.pending.iter())
            ),
        }
    }

    /// Like [`wait_for`](Self::wait_for), but `None` when nothing matched within `timeout`.
    pub async fn try_wait_for<T>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            while scanned < self.pending.len() {
                if let Some(t) = f(&self.pending[scanned]) {
                    self.pending.remove(scanned);
                    return Some(t);
                }
                scanned += 1;
            }
            match self.recv(deadline).await {
                Ok(Some(e)) => {
                    // Offers and heartbeats are not pending events, but a wait may want them.
                    if matches!(e.type_, EventType::Offers | EventType::Heartbeat) {
                        if let Some(t) = f(&e) {
                            self.history.push(e);
                            return Some(t);
                        }
                    }
                    self.absorb(e);
                }
                Ok(None) => return None,
                Err(()) => panic!(
                    "the event stream ended while waiting; pending events: {}",
                    summary(self.pending.iter())
                ),
            }
        }
    }

    /// Waits for the stream to end; the events it still carried.
    pub async fn wait_for_close(&mut self) -> Vec<Event> {
        let deadline = Instant::now() + DEADLINE;
        let mut last = Vec::new();
        loop {
            match self.recv(deadline).await {
                Ok(Some(e)) => {
                    last.push(e.clone());
                    self.absorb(e);
                }
                Ok(None) => panic!("the event stream did not end"),
                Err(()) => {
                    self.closed = true;
                    return last;
                }
            }
        }
    }

    /// Waits for an offer (held, or new) matching `pred`, and takes it out of the offer book.
    pub async fn offer(&mut self, what: &str, pred: impl Fn(&Offer) -> bool) -> Offer {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.offers.iter().position(&pred) {
                return self.offers.remove(i);
            }
            match self.recv(deadline).await {
                Ok(Some(e)) => self.absorb(e),
                Ok(None) => panic!(
                    "timed out waiting for an offer {what}; held offers: {:#?}",
                    self.offers
                ),
                Err(()) => panic!("the event stream ended while waiting for an offer {what}"),
            }
        }
    }

    /// Any offer.
    pub async fn any_offer(&mut self) -> Offer {
        self.offer("of anything", |_| true).await
    }

    /// An offer from the agent with this id.
    pub async fn offer_from(&mut self, agent: &AgentId) -> Offer {
        self.offer(&format!("from {agent}"), |o| &o.agent_id == agent)
            .await
    }

    /// Receives events for `window` and fails if an offer matching `pred` is held or arrives.
    pub async fn expect_no_offer(
        &mut self,
        what: &str,
        window: Duration,
        pred: impl Fn(&Offer) -> bool,
    ) {
        let deadline = Instant::now() + window;
        loop {
            if let Some(o) = self.offers.iter().find(|o| pred(o)) {
                panic!("unexpected offer {what}: {o:#?}");
            }
            match self.recv(deadline).await {
                Ok(Some(e)) => self.absorb(e),
                Ok(None) => return,
                Err(()) => panic!("the event stream ended while watching for offers"),
            }
        }
    }

    /// Waits for an UPDATE of `task` in `state`.
    pub async fn update(&mut self, task: &TaskId, state: TaskState) -> TaskStatus {
        self.wait_for(&format!("{task} in {state:?}"), |e| {
            let s = &e.update.as_ref()?.status;
            (e.type_ == EventType::Update && &s.task_id == task && s.state == state)
                .then(|| s.clone())
        })
        .await
    }

    /// Waits for any UPDATE of `task`.
    pub async fn any_update(&mut self, task: &TaskId) -> TaskStatus {
        self.wait_for(&format!("an update of {task}"), |e| {
            let s = &e.update.as_ref()?.status;
            (e.type_ == EventType::Update && &s.task_id == task).then(|| s.clone())
        })
        .await
    }

    /// Waits for an UPDATE of `task` that answers a reconciliation.
    pub async fn reconciled(&mut self, task: &TaskId) -> TaskStatus {
        self.wait_for(&format!("a reconciliation answer for {task}"), |e| {
            let s = &e.update.as_ref()?.status;
            (e.type_ == EventType::Update
                && &s.task_id == task
                && s.reason == Some(cairn_proto::Reason::Reconciliation))
            .then(|| s.clone())
        })
        .await
    }

    /// Waits for an UPDATE_OPERATION_STATUS of the operation with this id.
    pub async fn operation_status(&mut self, id: &str) -> cairn_proto::OperationStatus {
        self.wait_for(&format!("a status of operation {id}"), |e| {
            let s = &e.update_operation_status.as_ref()?.status;
            (s.operation_id.as_ref().map(|o| o.value.as_str()) == Some(id)).then(|| s.clone())
        })
        .await
    }

    /// Makes sure every event the master sent before now has been received: reconciles a
    /// task nobody has and waits for the answer, which travels behind them on the stream.
    pub async fn sync(&mut self) {
        let marker = TaskId::new(format!("sync-{}", NEXT_DIR.fetch_add(1, Ordering::SeqCst)));
        self.reconcile(&[(&marker, None)]).await;
        self.any_update(&marker).await;
    }

    /// Forgets the events received so far that no wait consumed.
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn summary<'a>(events: impl Iterator<Item = &'a Event>) -> String {
    let parts: Vec<String> = events
        .map(
            |e| match (&e.update, &e.error, &e.update_operation_status) {
                (Some(u), _, _) => format!(
                    "UPDATE({} {:?} {:?} {:?})",
                    u.status.task_id, u.status.state, u.status.reason, u.status.message
                ),
                (_, Some(err), _) => format!("ERROR({})", err.message),
                (_, _, Some(op)) => {
                    format!("OPERATION({:?} {:?})", op.status.state, op.status.message)
                }
                _ => format!("{:?}", e.type_),
            },
        )
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Reads the SUBSCRIBE stream into the channel; acknowledges what needs it when asked to.
// One reader per stream, started in one place: its arguments are the stream's whole context.
#[allow(clippy::too_many_arguments)]
async fn read_stream(
    mut resp: reqwest::Response,
    tx: mpsc::UnboundedSender<Event>,
    raw: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    http: reqwest::Client,
    authorization: Option<String>,
    master: String,
    stream_id: String,
    auto_ack: Arc<AtomicBool>,
) {
    let mut decoder = Decoder::new();
    let mut framework_id = None;
    while let Ok(Some(chunk)) = resp.chunk().await {
        let records: Vec<serde_json::Value> = match decoder.feed_json(&chunk) {
            Ok(records) => records,
            Err(e) => panic!("a bad record on the event stream: {e}"),
        };
        for record in records {
            let event: Event = serde_json::from_value(record.clone())
                .unwrap_or_else(|e| panic!("an event cairn cannot read ({e}): {record}"));
            raw.lock().unwrap_or_else(|e| e.into_inner()).push(record);
            if let Some(s) = &event.subscribed {
                framework_id = Some(s.framework_id.clone());
            }
            if auto_ack.load(Ordering::SeqCst) {
                if let (Some(fid), Some(call)) = (&framework_id, ack_for(&event)) {
                    let call = call.with_framework_id(fid.clone());
                    let mut req = http
                        .post(format!("{master}/api/v1/scheduler"))
                        .header("Content-Type", "application/json")
                        .header("Mesos-Stream-Id", &stream_id);
                    if let Some(auth) = &authorization {
                        req = req.header("Authorization", auth);
                    }
                    let _ = req.body(serde_json::to_vec(&call).unwrap()).send().await;
                }
            }
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

/// The acknowledgement an event needs, if any (only updates with a uuid are acknowledged).
fn ack_for(event: &Event) -> Option<Call> {
    if let Some(u) = &event.update {
        let s = &u.status;
        let uuid = s.uuid.clone()?;
        let mut call = Call::new(CallType::Acknowledge);
        call.acknowledge = Some(cairn_proto::scheduler::Acknowledge {
            agent_id: s.agent_id.clone()?,
            task_id: s.task_id.clone(),
            uuid,
        });
        return Some(call);
    }
    if let Some(u) = &event.update_operation_status {
        let s = &u.status;
        let mut call = Call::new(CallType::AcknowledgeOperationStatus);
        call.acknowledge_operation_status = Some(AcknowledgeOperationStatus {
            agent_id: s.agent_id.clone(),
            resource_provider_id: None,
            uuid: s.uuid.clone()?.value,
            operation_id: s.operation_id.clone()?,
        });
        return Some(call);
    }
    None
}

// ---------------------------------------------------------------------------
// Resources, tasks and pods
// ---------------------------------------------------------------------------

/// Resources reserved (refined format) to `role` by `principal`, with `labels`, allocated
/// to `role` as an offer's are.
pub fn reserved(r: Resource, role: &str, principal: &str, labels: &Labels) -> Resource {
    let mut res = ReservationInfo::dynamic(role).with_principal(principal);
    if !labels.is_empty() {
        res = res.with_labels(labels.clone());
    }
    r.with_reservation(res).with_allocation_role(role)
}

/// An unreserved scalar as an offer to `role` carries it.
pub fn scalar(name: &str, value: f64, role: &str) -> Resource {
    Resource::scalar(name, value).with_allocation_role(role)
}

/// The resources an offer holds of a name.
pub fn offered<'a>(offer: &'a Offer, name: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
    offer.resources.iter().filter(move |r| r.name == name)
}

/// A command task (for LAUNCH, or in a pod when `executor` is none).
pub fn task(id: &str, agent: &AgentId, command: &str, resources: Vec<Resource>) -> TaskInfo {
    TaskInfo {
        name: id.to_string(),
        task_id: TaskId::new(id),
        agent_id: agent.clone(),
        resources,
        command: Some(CommandInfo::shell(command)),
        ..Default::default()
    }
}

/// A DEFAULT executor for a pod.
pub fn pod_executor(id: &str, fid: &FrameworkId, resources: Vec<Resource>) -> ExecutorInfo {
    ExecutorInfo {
        type_: Some(ExecutorType::Default),
        executor_id: ExecutorId::new(id),
        framework_id: Some(fid.clone()),
        resources,
        ..Default::default()
    }
}

/// LAUNCH_GROUP of `tasks` in the executor.
pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> OfferOperation {
    OfferOperation::launch_group(executor, TaskGroupInfo { tasks })
}

/// A shell command that writes its pid to `pid_file` and then runs forever as that pid.
pub fn sleeper(pid_file: &Path) -> String {
    format!(
        "echo $$ > {}.tmp && mv {0}.tmp {0} && exec sleep 3600",
        pid_file.display()
    )
}

/// One pod of one task on a fresh reservation (labelled `resource_id`) and a 32 MB volume at
/// `data`, made in a single ACCEPT (RESERVE, CREATE, LAUNCH_GROUP): the shape several tests
/// start from.
pub struct VolumePod<'a> {
    pub role: &'a str,
    pub principal: &'a str,
    pub resource_id: &'a str,
    pub volume: &'a str,
    pub task: &'a str,
    pub executor: &'a str,
    pub command: String,
}

/// Launches a [`VolumePod`] on the offer's agent.
pub async fn launch_volume_pod(sched: &mut Scheduler, offer: &Offer, pod: VolumePod<'_>) {
    let labels = Labels::from_pairs([("resource_id", pod.resource_id)]);
    let res = |r: Resource| reserved(r, pod.role, pod.principal, &labels);
    let disk = res(Resource::scalar("disk", 32.0));
    let volume = disk
        .clone()
        .with_persistence(pod.volume, Some(pod.principal), "data");
    let t = task(
        pod.task,
        &offer.agent_id,
        &pod.command,
        vec![
            res(Resource::scalar("cpus", 0.2)),
            res(Resource::scalar("mem", 32.0)),
            volume.clone(),
        ],
    );
    let executor = pod_executor(
        pod.executor,
        &sched.framework_id,
        vec![
            res(Resource::scalar("cpus", 0.1)),
            res(Resource::scalar("mem", 32.0)),
            res(Resource::scalar("disk", 16.0)),
        ],
    );
    let ops = vec![
        OfferOperation::reserve(vec![
            res(Resource::scalar("cpus", 0.3)),
            res(Resource::scalar("mem", 64.0)),
            disk,
            res(Resource::scalar("disk", 16.0)),
        ]),
        OfferOperation::create(vec![volume]),
        launch_group(executor, vec![t]),
    ];
    sched.accept(&offer.id, ops).await;
}

/// Launches a long-running command task with small unreserved resources on the offer's
/// agent; returns its id. It writes its pid to `<scratch>/<id>.pid`.
pub async fn launch_sleeper(
    sched: &mut Scheduler,
    offer: &Offer,
    id: &str,
    scratch: &Path,
) -> TaskId {
    let role = offer_role(offer);
    let t = task(
        id,
        &offer.agent_id,
        &sleeper(&scratch.join(format!("{id}.pid"))),
        vec![scalar("cpus", 0.1, &role), scalar("mem", 32.0, &role)],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    TaskId::new(id)
}

/// The role an offer was made to.
pub fn offer_role(offer: &Offer) -> String {
    offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.clone())
        .expect("an offer with an allocation role")
}

/// A pod with a pre-reserved role (`slave_public`) and a volume, beside one without: the spec
/// the pre-reserved tests run on `cairn cluster` and on real Mesos.
pub const PRE_RESERVED_SPEC: &str = r#"
name: edge-svc
pods:
  plain:
    count: 1
    tasks:
      serve:
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
  edge:
    count: 1
    pre-reserved-role: slave_public
    volume: {path: state, type: ROOT, size: 10}
    tasks:
      proxy:
        cmd: 'echo here > state/mark && exec sleep 100000'
        cpus: 0.2
        memory: 64
        ports:
          http: {port: 0}
"#;
