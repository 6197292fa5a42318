//! The flagship example, `examples/zookeeper.yml`, with everything real: `cairn cluster` (four
//! agents, one spare for a replace), `cairn scheduler`, Debian's ZooKeeper server in every pod,
//! and a ZooKeeper client (the `zookeeper-client` crate, as a user's program would be) that
//! connects through the connect string `cairn endpoints client` prints.
//!
//! Each test runs one ensemble through its scenarios in sequence, and the two tests take turns
//! (a ZooKeeper JVM takes seconds of a loaded machine's two cores to start); each scenario checks
//! what it claims on its own: the data written so far is all there, read through the member the
//! scenario touched.
//!
//! Skipped, saying so, only where the `zookeeper` package is not installed (CI installs it).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::service::{cairn, output_text, ServiceScheduler};
use support::{ClusterOptions, ClusterProcess};
use zookeeper_client as zk;

const SERVICE: &str = "zookeeper";
const ROLE: &str = "zookeeper-role";
const MEMBERS: usize = 3;
const CLIENT_PORT: u16 = 31181;
/// How long a member, a rollout or a recovery may take: JVMs on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// What the tests need installed: the server's jars, its log binding, a Java runtime.
const NEEDED: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
    "/usr/bin/java",
];

/// Why the tests cannot run here, if they cannot.
fn missing_zookeeper() -> Option<String> {
    NEEDED.iter().find(|p| !Path::new(p).exists()).map(|p| {
        format!("{p} is missing: install Debian's zookeeper package (apt-get install zookeeper)")
    })
}

/// ZooKeeper's tick made short for a test (the example keeps ZooKeeper's 2 s): an operator's
/// TASKCFG_ALL_* setting, which the scheduler routes into every task over the spec's `env`.
const TASKCFG: &[(&str, &str)] = &[("TASKCFG_ALL_ZK_TICK_TIME", "1000")];

// ---------------------------------------------------------------------------
// The spec, as files a test can change
// ---------------------------------------------------------------------------

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Writes the example (svc.yml and its templates) into `dir`, each text passed through `edit`
/// (file name, text) first; returns the svc.yml's path.
fn write_spec(dir: &Path, edit: impl Fn(&str, String) -> String) -> PathBuf {
    std::fs::create_dir_all(dir.join("zookeeper")).unwrap();
    for name in ["zoo.cfg.mustache", "myid.mustache", "4lw.sh.mustache"] {
        let text = std::fs::read_to_string(examples().join("zookeeper").join(name)).unwrap();
        std::fs::write(dir.join("zookeeper").join(name), edit(name, text)).unwrap();
    }
    let text = std::fs::read_to_string(examples().join("zookeeper.yml")).unwrap();
    let spec = dir.join("zookeeper.yml");
    std::fs::write(&spec, edit("zookeeper.yml", text)).unwrap();
    spec
}

/// `edit` that changes nothing.
fn as_is(_: &str, text: String) -> String {
    text
}

/// The example whose zoo.cfg gives member 2 the name of a member that does not exist.
fn naming_a_member_that_does_not_exist(name: &str, text: String) -> String {
    if name != "zoo.cfg.mustache" {
        return text;
    }
    let wrong = text.replace(
        "server.2=zookeeper-2-server.",
        "server.2=zookeeper-3-server.",
    );
    assert_ne!(
        wrong, text,
        "the example's zoo.cfg lists server.2 by its name"
    );
    wrong
}

/// The example with syncLimit 6 rather than ZooKeeper's 5, in the task's environment.
fn sync_limit_6(name: &str, text: String) -> String {
    if name != "zookeeper.yml" {
        return text;
    }
    let changed = text.replace("ZK_SYNC_LIMIT: \"5\"", "ZK_SYNC_LIMIT: \"6\"");
    assert_ne!(changed, text, "the example sets ZK_SYNC_LIMIT");
    changed
}

/// The example with a readiness check that never passes: it asks for a mode ZooKeeper never
/// reports.
fn readiness_never_passing(name: &str, text: String) -> String {
    if name != "zookeeper.yml" {
        return text;
    }
    let wrong = text.replace("^Mode: (leader|follower)", "^Mode: (primary|secondary)");
    assert_ne!(
        wrong, text,
        "the example's readiness check greps srvr's mode"
    );
    wrong
}

// ---------------------------------------------------------------------------
// What the cluster and the members say
// ---------------------------------------------------------------------------

/// A member's running task, as the master reports it.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    task_id: String,
    agent_id: String,
    /// Its agent's address, where it serves.
    address: String,
    /// The persistence id of its data volume.
    volume: String,
}

/// The members with a TASK_RUNNING task, by index.
async fn running(cluster: &ClusterProcess) -> BTreeMap<usize, Member> {
    let agents: BTreeMap<String, String> = cluster
        .agents()
        .await
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_string(),
                a["hostname"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    for t in cluster.running_tasks_json().await {
        let Some(index) = member_index(t["name"].as_str().unwrap_or_default()) else {
            continue;
        };
        let agent_id = t["agent_id"]["value"].as_str().unwrap_or("").to_string();
        let volume = t["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|r| r["disk"]["persistence"]["id"].as_str())
            .unwrap_or_default()
            .to_string();
        out.insert(
            index,
            Member {
                task_id: t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                address: agents.get(&agent_id).cloned().unwrap_or_default(),
                agent_id,
                volume,
            },
        );
    }
    out
}

/// `zookeeper-2-server` → 2.
fn member_index(task_name: &str) -> Option<usize> {
    task_name
        .strip_prefix("zookeeper-")?
        .strip_suffix("-server")?
        .parse()
        .ok()
}

/// A four-letter word's answer from the member serving at `address`; empty when it does not
/// answer.
fn four_letter_word(address: &str, word: &str) -> String {
    let Ok(addr) = format!("{address}:{CLIENT_PORT}").parse() else {
        return String::new();
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

/// `leader` or `follower` (or what else srvr says) of the member at `address`.
fn mode(address: &str) -> String {
    four_letter_word(address, "srvr")
        .lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .unwrap_or("not serving")
        .to_string()
}

/// The ensemble as it serves: every member's mode, by index.
fn modes(members: &BTreeMap<usize, Member>) -> BTreeMap<usize, String> {
    members
        .iter()
        .map(|(i, m)| (*i, mode(&m.address)))
        .collect()
}

/// Whether these modes are one ensemble of all three: one leader, two followers.
fn one_leader_two_followers(modes: &BTreeMap<usize, String>) -> bool {
    let leaders = modes.values().filter(|m| *m == "leader").count();
    let followers = modes.values().filter(|m| *m == "follower").count();
    modes.len() == MEMBERS && leaders == 1 && followers == MEMBERS - 1
}

/// The pid of member `index`'s server (the JVM), among the processes of this cluster.
fn server_pid(cluster: &ClusterProcess, index: usize) -> Option<u32> {
    let task = format!("TASK_NAME=zookeeper-{index}-server");
    let sandbox = format!("MESOS_SANDBOX={}", cluster.work_dir.display());
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if !String::from_utf8_lossy(&cmdline).contains("QuorumPeerMain") {
            return None;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        (vars.contains(&task) && vars.iter().any(|v| v.starts_with(&sandbox))).then_some(pid)
    })
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/// The cluster, the scheduler and what the tests wrote.
struct Ensemble {
    cluster: ClusterProcess,
    sched: Option<ServiceScheduler>,
    spec: PathBuf,
    starts: usize,
    /// Every znode a client was told it created, with its data.
    acked: Vec<(String, Vec<u8>)>,
}

impl Ensemble {
    async fn start(spec_edit: impl Fn(&str, String) -> String) -> Ensemble {
        let cluster = ClusterProcess::start_with(
            "zookeeper",
            ClusterOptions {
                agents: MEMBERS + 1,
                ..ClusterOptions::default()
            },
        )
        .await;
        let spec = write_spec(&cluster.scratch.join("spec"), spec_edit);
        let mut ensemble = Ensemble {
            cluster,
            sched: None,
            spec,
            starts: 0,
            acked: Vec::new(),
        };
        ensemble.start_scheduler();
        ensemble
    }

    fn start_scheduler(&mut self) {
        self.sched = Some(ServiceScheduler::on_cluster(
            &self.cluster,
            &self.spec,
            self.starts,
            TASKCFG,
        ));
        self.starts += 1;
    }

    fn sched(&mut self) -> &mut ServiceScheduler {
        self.sched.as_mut().expect("a scheduler")
    }

    fn state_dir(&self) -> PathBuf {
        self.cluster.scratch.join("state")
    }

    /// The scheduler's output and the members' last log lines, for a failure message.
    fn output(&self) -> String {
        let mut out = self
            .sched
            .as_ref()
            .map(ServiceScheduler::output)
            .unwrap_or_default();
        for i in 0..MEMBERS {
            out.push_str(&format!("\n--- zookeeper-{i} stderr (last lines) ---\n"));
            out.push_str(&self.member_log(i));
        }
        out
    }

    /// The end of the newest stderr of member `index`'s sandboxes.
    fn member_log(&self, index: usize) -> String {
        let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
        let mut stack = vec![self.cluster.work_dir.join("agents")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = e.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "stderr")
                    && path
                        .to_string_lossy()
                        .contains(&format!("/zookeeper-{index}__"))
                {
                    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                    if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                        newest = Some((modified, path));
                    }
                }
            }
        }
        let text = newest
            .and_then(|(_, p)| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// A GET of the scheduler's API, with its token.
    async fn api(&self, path: &str) -> (u16, Value) {
        let state = self.state_dir();
        let base = std::fs::read_to_string(state.join(format!("{SERVICE}.api")))
            .unwrap_or_default()
            .trim()
            .to_string();
        let token = std::fs::read_to_string(state.join(format!("{SERVICE}.api-token")))
            .unwrap_or_default()
            .trim()
            .to_string();
        if base.is_empty() {
            return (0, Value::Null);
        }
        let Ok(r) = support::http_client()
            .get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
        else {
            return (0, Value::Null);
        };
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// The steps of a plan (name, status, message), or none while the API does not answer.
    async fn steps(&self, plan: &str) -> Vec<(String, String, String)> {
        let (code, page) = self.api(&format!("/v1/plans/{plan}?limit=100")).await;
        if code != 200 {
            return Vec::new();
        }
        page["page"]["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or_default().to_string(),
                    s["status"].as_str().unwrap_or_default().to_string(),
                    s["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// A plan's status, if the API answers.
    async fn plan_status(&self, plan: &str) -> String {
        let (_, p) = self.api(&format!("/v1/plans/{plan}")).await;
        p["status"].as_str().unwrap_or_default().to_string()
    }

    /// Waits for `cond` on what runs and how it serves; panics with `what` and the scheduler's
    /// and members' output after [`DEADLINE`].
    async fn until<T>(
        &mut self,
        what: &str,
        mut cond: impl FnMut(&BTreeMap<usize, Member>, &BTreeMap<usize, String>) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self.sched.as_mut() {
                s.assert_alive();
            }
            let members = running(&self.cluster).await;
            let modes = modes(&members);
            if let Some(t) = cond(&members, &modes) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {DEADLINE:?} waiting for {what}: running {members:#?}, modes \
                 {modes:?}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for a whole ensemble (one leader, two followers) whose rollout plan is complete.
    async fn serving(&mut self, what: &str) -> BTreeMap<usize, Member> {
        let members = self
            .until(what, |members, modes| {
                one_leader_two_followers(modes).then(|| members.clone())
            })
            .await;
        let deadline = Instant::now() + DEADLINE;
        loop {
            let plan = rollout_plan(self).await;
            if self.plan_status(&plan).await == "COMPLETE" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the {plan} plan is not COMPLETE: {:#?}\n{}",
                self.steps(&plan).await,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        members
    }

    /// `cairn update <spec>`, returning once the scheduler accepted it.
    fn update(&self) {
        let out = cairn(
            &[
                "update",
                self.spec.to_str().unwrap(),
                "--state-dir",
                self.state_dir().to_str().unwrap(),
                "--no-wait",
            ],
            DEADLINE,
        );
        assert!(out.status.success(), "cairn update: {}", output_text(&out));
    }

    /// The connect string `cairn endpoints client` prints, checked against
    /// `GET /v1/endpoints/client`.
    async fn connect_string(&self) -> String {
        let out = cairn(
            &[
                "endpoints",
                "client",
                "--state-dir",
                self.state_dir().to_str().unwrap(),
            ],
            DEADLINE,
        );
        assert!(
            out.status.success(),
            "cairn endpoints: {}",
            output_text(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let connect = text
            .lines()
            .find_map(|l| l.strip_prefix("connect: "))
            .unwrap_or_else(|| panic!("no `connect:` line in cairn endpoints client: {text}"))
            .trim()
            .to_string();
        let (code, endpoint) = self.api("/v1/endpoints/client").await;
        assert_eq!(code, 200, "GET /v1/endpoints/client: {endpoint}");
        let addresses: Vec<&str> = endpoint["address"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            connect,
            addresses.join(","),
            "cairn endpoints and /v1/endpoints/client give the same addresses: {endpoint}"
        );
        let dns: Vec<&str> = endpoint["dns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let names: Vec<String> = (0..MEMBERS)
            .map(|i| format!("zookeeper-{i}-server.{SERVICE}.mesos:{CLIENT_PORT}"))
            .collect();
        assert_eq!(dns, names, "the endpoint's stable names: {endpoint}");
        connect
    }

    /// Creates `count` znodes `/e2e/<tag>-<n>` through `connect`, each acknowledged.
    async fn write(&mut self, connect: &str, tag: &str, count: usize) {
        let client = connect_client(connect).await;
        ensure_parent(&client).await;
        for n in 0..count {
            let path = format!("/e2e/{tag}-{n}");
            let data = format!("{tag} {n}").into_bytes();
            client
                .create(&path, &data, &create_options())
                .await
                .unwrap_or_else(|e| panic!("creating {path} through {connect}: {e}"));
            self.acked.push((path, data));
        }
    }

    /// Every acknowledged znode, read through the member at `address` alone (after a sync, so
    /// it has caught up with the leader): proves that member has all the data.
    async fn all_there(&self, address: &str, after: &str) {
        let connect = format!("{address}:{CLIENT_PORT}");
        let client = connect_client(&connect).await;
        client
            .sync("/e2e")
            .await
            .unwrap_or_else(|e| panic!("sync through {connect}: {e}"));
        let (children, _) = client
            .get_children("/e2e")
            .await
            .unwrap_or_else(|e| panic!("listing /e2e through {connect}: {e}"));
        let children: BTreeSet<String> = children.into_iter().collect();
        let missing: Vec<&str> = self
            .acked
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| !children.contains(p.trim_start_matches("/e2e/")))
            .collect();
        assert!(
            missing.is_empty(),
            "after {after}, {} of {} acknowledged znodes are missing on {address}: {:?}",
            missing.len(),
            self.acked.len(),
            &missing[..missing.len().min(10)]
        );
        for (path, data) in &self.acked {
            let (got, _) = client
                .get_data(path)
                .await
                .unwrap_or_else(|e| panic!("after {after}, reading {path} on {address}: {e}"));
            assert_eq!(&got, data, "after {after}, {path} on {address}");
        }
    }

    /// Kills member `index`'s server with SIGKILL; returns the task it ran in.
    async fn kill9_member(&self, index: usize) -> Member {
        let before = running(&self.cluster).await;
        let member = before
            .get(&index)
            .cloned()
            .unwrap_or_else(|| panic!("zookeeper-{index} is not running: {before:#?}"));
        let pid = server_pid(&self.cluster, index)
            .unwrap_or_else(|| panic!("no server process of zookeeper-{index}"));
        support::signal(pid, libc::SIGKILL);
        member
    }

    /// Waits for member `index` to run again in a new task on `old`'s agent and volume, serving
    /// in a whole ensemble.
    async fn relaunched_in_place(&mut self, index: usize, old: &Member, what: &str) -> Member {
        let members = self
            .until(what, |members, modes| {
                let m = members.get(&index)?;
                (m.task_id != old.task_id && one_leader_two_followers(modes)).then(|| m.clone())
            })
            .await;
        assert_eq!(
            (&members.agent_id, &members.volume),
            (&old.agent_id, &old.volume),
            "{what}: zookeeper-{index} came back on its agent and its volume"
        );
        members
    }
}

fn create_options() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// A client session through `connect` (a ZooKeeper connect string), retried until the
/// deadline: a member may be electing when asked.
async fn connect_client(connect: &str) -> zk::Client {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let attempt = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_connection_timeout(Duration::from_secs(5))
            .connect(connect);
        match tokio::time::timeout(Duration::from_secs(15), attempt).await {
            Ok(Ok(client)) => return client,
            Ok(Err(e)) if Instant::now() > deadline => panic!("connecting to {connect}: {e}"),
            Err(_) if Instant::now() > deadline => panic!("connecting to {connect}: timed out"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn ensure_parent(client: &zk::Client) {
    match client.create("/e2e", b"", &create_options()).await {
        Ok(_) | Err(zk::Error::NodeExists) => {}
        Err(e) => panic!("creating /e2e: {e}"),
    }
}

// ---------------------------------------------------------------------------
// A client that writes and reads all the time, and a watcher of the members' tasks
// ---------------------------------------------------------------------------

/// What the continuous client saw.
#[derive(Debug, Default)]
struct ClientReport {
    acked: Vec<(String, Vec<u8>)>,
    /// The longest time between two acknowledged writes.
    longest_gap: Duration,
    /// Reads of an acknowledged znode that did not find it, or found other data.
    lost: Vec<String>,
    errors: usize,
}

/// Writes `/e2e/<tag>-<n>` one after the other through `connect` until `stop`, reading back an
/// earlier acknowledged one after each write.
async fn write_and_read_until(connect: String, tag: &str, stop: Arc<AtomicBool>) -> ClientReport {
    let mut report = ClientReport::default();
    let mut client = connect_client(&connect).await;
    ensure_parent(&client).await;
    let mut last_ok = Instant::now();
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/e2e/{tag}-{n}");
        let data = format!("{tag} {n}").into_bytes();
        let created = tokio::time::timeout(
            Duration::from_secs(5),
            client.create(&path, &data, &create_options()),
        )
        .await;
        match created {
            Ok(Ok(_)) => {
                let now = Instant::now();
                report.longest_gap = report.longest_gap.max(now - last_ok);
                last_ok = now;
                report.acked.push((path, data));
                n += 1;
                // Read back one written earlier: an acknowledged write must never vanish.
                let (p, d) = &report.acked[n / 2];
                match tokio::time::timeout(Duration::from_secs(5), client.get_data(p)).await {
                    Ok(Ok((got, _))) if &got == d => {}
                    Ok(Ok((got, _))) => report
                        .lost
                        .push(format!("{p}: {:?}", String::from_utf8_lossy(&got))),
                    Ok(Err(zk::Error::NoNode)) => report.lost.push(format!("{p}: no node")),
                    _ => report.errors += 1,
                }
            }
            // The create was applied though its answer was lost: the next one goes on.
            Ok(Err(zk::Error::NodeExists)) => n += 1,
            Ok(Err(e @ (zk::Error::SessionExpired | zk::Error::ClientClosed))) => {
                report.errors += 1;
                eprintln!("client: {e}; a new session");
                client = connect_client(&connect).await;
            }
            _ => {
                report.errors += 1;
                // The ensemble is electing: try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Pace the client: a steady trickle, not a load test.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.longest_gap = report.longest_gap.max(last_ok.elapsed());
    report
}

/// What the watcher of the members' tasks saw.
#[derive(Debug, Default)]
struct WatchReport {
    samples: usize,
    /// The most members without a TASK_RUNNING task at one sample.
    most_down: usize,
    /// The members seen down at least once.
    seen_down: BTreeSet<usize>,
}

/// Samples the cluster's task states until `stop`: how many members are down at once.
async fn watch_members(cluster_master: String, stop: Arc<AtomicBool>) -> WatchReport {
    let http = support::http_client();
    let mut report = WatchReport::default();
    while !stop.load(Ordering::SeqCst) {
        let answer = http
            .post(format!("{cluster_master}/api/v1"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(r#"{"type":"GET_TASKS"}"#)
            .send()
            .await;
        let doc = match answer {
            Ok(answer) => answer.json::<Value>().await.ok(),
            Err(_) => None,
        };
        let Some(doc) = doc else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let up: BTreeSet<usize> = doc["get_tasks"]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .filter_map(|t| member_index(t["name"].as_str().unwrap_or_default()))
            .collect();
        let down: Vec<usize> = (0..MEMBERS).filter(|i| !up.contains(i)).collect();
        report.samples += 1;
        report.most_down = report.most_down.max(down.len());
        report.seen_down.extend(down);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report
}

// ---------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------

/// One ensemble at a time: each is three JVMs on a machine of two cores.
static ONE_ENSEMBLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_ensemble_forms_keeps_its_data_through_failures_rolls_updates_one_member_at_a_time_and_moves_a_replaced_member(
) {
    if let Some(why) = missing_zookeeper() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let _one = ONE_ENSEMBLE.lock().await;
    let started = Instant::now();

    // Deploy: the three members form one ensemble, one leader and two followers.
    let mut zk = Ensemble::start(as_is).await;
    let members = zk.serving("the deployed ensemble").await;
    println!(
        "ensemble of three serving {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );

    // Endpoints: `cairn endpoints client` and /v1/endpoints/client give the members'
    // addresses, which a client uses as they are.
    let connect = zk.connect_string().await;
    let addresses: BTreeSet<String> = members
        .values()
        .map(|m| format!("{}:{CLIENT_PORT}", m.address))
        .collect();
    assert_eq!(
        connect
            .split(',')
            .map(str::to_string)
            .collect::<BTreeSet<_>>(),
        addresses,
        "the connect string lists every member's address"
    );
    zk.write(&connect, "deploy", 20).await;
    for m in members.values() {
        zk.all_there(&m.address, "the deploy").await;
    }

    // (a) kill -9 of each member's server in turn: relaunched in place, rejoins with its data.
    for i in 0..MEMBERS {
        let old = zk.kill9_member(i).await;
        let what = format!("zookeeper-{i} relaunched after kill -9 of its server");
        let new = zk.relaunched_in_place(i, &old, &what).await;
        zk.all_there(&new.address, &what).await;
        zk.write(&connect, &format!("kill-{i}"), 10).await;
    }

    // (b) kill -9 of the scheduler and of a member at once.
    zk.sched().kill9();
    let old = zk.kill9_member(0).await;
    zk.start_scheduler();
    let what = "zookeeper-0 relaunched after kill -9 of it and the scheduler";
    let new = zk.relaunched_in_place(0, &old, what).await;
    zk.all_there(&new.address, what).await;
    zk.write(&connect, "scheduler", 10).await;

    // (c) a stopped agent that comes back: its member's server dies while the agent is away
    // (the ensemble keeps a quorum and takes writes), and is relaunched in place once the agent
    // is back, with everything written meanwhile.
    let member = running(&zk.cluster).await[&2].clone();
    let agent = zk
        .cluster
        .agent_index(&cairn_proto::AgentId::new(member.agent_id.clone()))
        .await;
    zk.cluster.agent_action(agent, "stop").await;
    let deadline = Instant::now() + DEADLINE;
    while zk.cluster.agent_status(agent).await != "unreachable" {
        assert!(
            Instant::now() < deadline,
            "agent {agent} not marked unreachable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = server_pid(&zk.cluster, 2).expect("zookeeper-2's server process");
    support::signal(pid, libc::SIGKILL);
    let old = member;
    zk.write(&connect, "agent-away", 10).await;
    zk.cluster.agent_action(agent, "restart").await;
    let what = "zookeeper-2 relaunched once its agent came back";
    let new = zk.relaunched_in_place(2, &old, what).await;
    zk.all_there(&new.address, what).await;

    // Rolling update of a zoo.cfg value (syncLimit), with a client writing and reading all
    // along and a watcher of the task states: one member at a time, no acknowledged write
    // lost, short quorum gaps only.
    let before = zk.serving("the ensemble before the rolling update").await;
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn(write_and_read_until(
        connect.clone(),
        "rolling",
        stop.clone(),
    ));
    let watcher = tokio::spawn(watch_members(zk.cluster.master.clone(), stop.clone()));
    write_spec(&zk.cluster.scratch.join("spec"), sync_limit_6);
    zk.update();
    let after = zk
        .until(
            "every member relaunched with syncLimit=6",
            |members, modes| {
                let all_new = (0..MEMBERS).all(|i| {
                    members.get(&i).map(|m| &m.task_id) != before.get(&i).map(|m| &m.task_id)
                });
                (all_new
                    && one_leader_two_followers(modes)
                    && members
                        .values()
                        .all(|m| four_letter_word(&m.address, "conf").contains("syncLimit=6")))
                .then(|| members.clone())
            },
        )
        .await;
    zk.serving("the rolling update complete").await;
    stop.store(true, Ordering::SeqCst);
    let report = client.await.unwrap();
    let watched = watcher.await.unwrap();
    println!(
        "rolling update: {} writes acknowledged, longest gap {:.1} s, {} errors; watcher: {} \
         samples, at most {} member(s) down at once",
        report.acked.len(),
        report.longest_gap.as_secs_f64(),
        report.errors,
        watched.samples,
        watched.most_down
    );
    assert!(
        report.lost.is_empty(),
        "acknowledged writes lost: {:?}",
        report.lost
    );
    assert!(
        report.longest_gap < Duration::from_secs(15),
        "the longest time without a quorum: {:?}",
        report.longest_gap
    );
    assert_eq!(
        watched.most_down, 1,
        "never two members down at once, and each one down once: {watched:?}"
    );
    assert_eq!(
        watched.seen_down,
        (0..MEMBERS).collect(),
        "the watcher saw each member go down: {watched:?}"
    );
    zk.acked.extend(report.acked);
    for m in after.values() {
        zk.all_there(&m.address, "the rolling update").await;
    }

    // Replace: zookeeper-1 moves to the spare agent with a fresh volume; the other members
    // resolve its new address, it resyncs from the leader, and the data is all there.
    let old = members[&1].clone();
    let out = cairn(
        &[
            "pod",
            "replace",
            "zookeeper-1",
            "--state-dir",
            zk.state_dir().to_str().unwrap(),
        ],
        DEADLINE,
    );
    assert!(
        out.status.success(),
        "cairn pod replace: {}",
        output_text(&out)
    );
    let members = zk
        .until("zookeeper-1 serving on another agent", |members, modes| {
            let m = members.get(&1)?;
            (m.agent_id != old.agent_id && one_leader_two_followers(modes)).then(|| members.clone())
        })
        .await;
    let moved = &members[&1];
    assert_ne!(moved.volume, old.volume, "a fresh volume");
    let old_agent = zk
        .cluster
        .agent_index(&cairn_proto::AgentId::new(old.agent_id.clone()))
        .await;
    let old_dir = zk.cluster.volume_dir(old_agent, ROLE, &old.volume);
    support::eventually("the old volume destroyed", || !old_dir.exists()).await;
    for i in [0, 2] {
        let pid = server_pid(&zk.cluster, i).expect("a server process");
        let resolved = resolve_in(pid, &format!("zookeeper-1-server.{SERVICE}.mesos"));
        assert_eq!(
            resolved, moved.address,
            "zookeeper-{i} resolves zookeeper-1's name to its new agent"
        );
    }
    zk.all_there(&moved.address, "the replace").await;
    // The endpoint follows the move, and a client uses its new connect string as it is.
    let connect = zk.connect_string().await;
    assert!(
        connect.contains(&format!("{}:{CLIENT_PORT}", moved.address)),
        "{connect}"
    );
    zk.write(&connect, "replaced", 10).await;
    zk.all_there(&moved.address, "writes after the replace")
        .await;
    println!(
        "every scenario done {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zoo_cfg_naming_a_member_that_does_not_exist_or_a_readiness_check_that_never_passes_holds_the_rollout_with_the_check_s_output_until_a_fixed_spec_rescues_it(
) {
    if let Some(why) = missing_zookeeper() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let _one = ONE_ENSEMBLE.lock().await;

    // A zoo.cfg naming a member that does not exist (server.2 is zookeeper-3). Members 0 and 1 form a quorum; member 2 waits for a name that never
    // resolves, and its deploy step is held with its readiness check's last output.
    let mut zk = Ensemble::start(naming_a_member_that_does_not_exist).await;
    let pair = zk
        .until("members 0 and 1 serving as a pair", |members, modes| {
            let serving: Vec<&String> = modes
                .iter()
                .filter(|(i, _)| **i < 2)
                .map(|(_, m)| m)
                .collect();
            (serving.len() == 2
                && serving.iter().any(|m| *m == "leader")
                && serving.iter().any(|m| *m == "follower"))
            .then(|| members.clone())
        })
        .await;
    let deadline = Instant::now() + DEADLINE;
    let (status, message) = loop {
        let steps = zk.steps("deploy").await;
        let others_complete = steps
            .iter()
            .filter(|(n, _, _)| !n.starts_with("zookeeper-2:"))
            .all(|(_, status, _)| status == "COMPLETE");
        let step2 = steps.iter().find(|(n, _, _)| n.starts_with("zookeeper-2:"));
        if let Some((_, status, message)) = step2 {
            if others_complete && (message.contains("zookeeper-3-server")) {
                break (status.clone(), message.clone());
            }
        }
        assert!(
            Instant::now() < deadline,
            "the deploy steps of zookeeper-0 and -1 never completed while zookeeper-2's showed its \
             readiness check's output: {steps:#?}\n{}",
            zk.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(status, "COMPLETE", "{message}");
    assert!(
        message.contains("not serving in a quorum"),
        "the step shows the check's output: {message}"
    );
    assert_eq!(zk.plan_status("deploy").await, "IN_PROGRESS");
    // Nothing else was touched: the pair runs in the tasks it ran in before the hold.
    let now = running(&zk.cluster).await;
    for i in 0..2 {
        assert_eq!(now.get(&i), pair.get(&i), "zookeeper-{i} was left alone");
    }

    // `cairn update` with the fixed template rescues it: one ensemble of three.
    write_spec(&zk.cluster.scratch.join("spec"), as_is);
    zk.update();
    let members = zk.serving("the ensemble after the fixed zoo.cfg").await;
    let connect = zk.connect_string().await;
    zk.write(&connect, "rescued", 10).await;
    for m in members.values() {
        zk.all_there(&m.address, "the rescue").await;
    }

    // An update whose readiness check never passes holds the rollout at its
    // first member, with the check's output, and touches no other member; the fixed spec
    // rescues it.
    let before = running(&zk.cluster).await;
    write_spec(&zk.cluster.scratch.join("spec"), readiness_never_passing);
    zk.update();
    let deadline = Instant::now() + DEADLINE;
    let (plan, steps) = loop {
        let plan = rollout_plan(&zk).await;
        let steps = zk.steps(&plan).await;
        let first = steps.first().cloned().unwrap_or_default();
        if first.2.contains("not serving in a quorum") {
            break (plan, steps);
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never held at zookeeper-0 with its readiness output: {steps:#?}\n{}",
            zk.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(steps[0].1, "COMPLETE", "{plan}: {steps:#?}");
    assert_eq!(
        steps[1..].iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["PENDING", "PENDING"],
        "{plan}: the rollout holds at its first step: {steps:#?}"
    );
    let now = running(&zk.cluster).await;
    for i in 1..MEMBERS {
        assert_eq!(now.get(&i), before.get(&i), "zookeeper-{i} was left alone");
    }
    write_spec(&zk.cluster.scratch.join("spec"), as_is);
    zk.update();
    let members = zk
        .serving("the ensemble after the fixed readiness check")
        .await;
    for i in 1..MEMBERS {
        assert_eq!(
            members.get(&i),
            before.get(&i),
            "zookeeper-{i} already ran the fixed spec"
        );
    }
    zk.all_there(&members[&0].address, "the fixed readiness check")
        .await;
}

/// The name of the plan rolling out the current config: `update` while an update rolls out.
async fn rollout_plan(zk: &Ensemble) -> String {
    let (_, plans) = zk.api("/v1/plans").await;
    plans[0]["name"].as_str().unwrap_or("deploy").to_string()
}

/// What `name` resolves to in the mount namespace of process `pid` (a task sees its own
/// `/etc/hosts`).
fn resolve_in(pid: u32, name: &str) -> String {
    let out = std::process::Command::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(["-m", "getent", "hosts", name])
        .output()
        .expect("running nsenter");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
