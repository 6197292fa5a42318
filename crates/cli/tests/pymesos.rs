//! A third-party Mesos v1 client, unmodified, against the embedded cluster: pymesos 0.3.15
//! (`tests/pymesos/scheduler.py`) authenticates with the credential the cluster generated (its
//! own `principal`/`secret` support, HTTP Basic), subscribes, launches a command task, sees it
//! run and finish, acknowledges the updates and tears its framework down.
//!
//! The Python side is set up by `tests/pymesos/install.sh` (CI runs it first; this test runs it
//! again, which is a no-op once the venv is complete). If Python or pymesos cannot be set up,
//! the test fails: a skipped compatibility test would hide exactly the regressions it exists for.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(30);
const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(90);
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn pymesos_scheduler_launches_a_task_and_tears_down_against_the_embedded_cluster() {
    let python = install_pymesos().expect("setting up pymesos (tests/pymesos/install.sh)");
    let cluster = TestCluster::start().expect("starting `cairn cluster`");

    let script = repo_root().join("tests/pymesos/scheduler.py");
    let run = run_with_deadline(
        Command::new(&python)
            .arg(&script)
            .arg(&cluster.host_port)
            .args(["--deadline", "60"])
            .arg("--credentials")
            .arg(cluster.work_dir.join("cluster/credentials"))
            .args(["--principal", cairn_cluster::auth::DEFAULT_PRINCIPAL]),
        SCHEDULER_TIMEOUT,
    )
    .expect("running the pymesos scheduler");
    // Shown by `cargo test -- --nocapture`, and on failure: the scheduler narrates the protocol.
    println!("--- pymesos scheduler stdout ---\n{}", run.stdout);
    println!("--- pymesos scheduler stderr ---\n{}", run.stderr);
    assert!(
        run.success,
        "the pymesos scheduler failed ({}); stdout:\n{}\nstderr:\n{}",
        run.status, run.stdout, run.stderr
    );

    let framework_id = summary_field(&run.stdout, "framework_id")
        .expect("the scheduler's summary names its framework id");
    let task_id =
        summary_field(&run.stdout, "task_id").expect("the scheduler's summary names its task id");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let frameworks = cluster
            .operator_until(json!({"type": "GET_FRAMEWORKS"}), |reply| {
                let fw = &reply["get_frameworks"];
                has_id(
                    &fw["completed_frameworks"],
                    "/framework_info/id/value",
                    &framework_id,
                ) && !has_id(&fw["frameworks"], "/framework_info/id/value", &framework_id)
            })
            .await;
        assert!(
            frameworks.is_ok(),
            "framework {framework_id} is not (only) among completed_frameworks: {frameworks:?}"
        );

        let tasks = cluster
            .operator_until(json!({"type": "GET_TASKS"}), |reply| {
                list(&reply["get_tasks"]["completed_tasks"])
                    .iter()
                    .any(|t| {
                        t.pointer("/task_id/value") == Some(&json!(task_id))
                            && t["state"] == "TASK_FINISHED"
                    })
            })
            .await;
        assert!(
            tasks.is_ok(),
            "task {task_id} is not a TASK_FINISHED completed task: {tasks:?}"
        );
    });

    // Teardown leaves nothing of the framework running on the machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = work_dir_sessions(&cluster.work_dir);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pod processes (sessions {left:?}) still running 10 s after TEARDOWN"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the installer (idempotent; quick once the venv is complete) and returns the venv's python.
fn install_pymesos() -> anyhow::Result<PathBuf> {
    let root = repo_root();
    // Relative paths are taken from the repo root, as install.sh takes them.
    let venv = root.join(
        std::env::var_os("CAIRN_PYMESOS_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/pymesos-venv")),
    );
    let out = Command::new("bash")
        .arg(root.join("tests/pymesos/install.sh"))
        .env("CAIRN_PYMESOS_VENV", &venv)
        .current_dir(&root)
        .output()
        .context("running bash tests/pymesos/install.sh")?;
    if !out.status.success() {
        bail!(
            "tests/pymesos/install.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let python = venv.join("bin/python");
    if !python.exists() {
        bail!("install.sh succeeded but {} is missing", python.display());
    }
    Ok(python)
}

struct Finished {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion, killing it at the deadline. Output goes to files so that a chatty
/// child can never block on a full pipe while we wait for it.
fn run_with_deadline(cmd: &mut Command, timeout: Duration) -> anyhow::Result<Finished> {
    let dir = unique_temp_dir("cairn-pymesos-out")?;
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status.to_string();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break format!("killed after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let finished = Finished {
        success: status == "exit status: 0",
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(finished)
}

/// A field of the `summary: {json}` line the scheduler prints.
fn summary_field(stdout: &str, field: &str) -> Option<String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pymesos-probe: summary: "))?;
    let summary: Value = serde_json::from_str(line).ok()?;
    summary[field].as_str().map(str::to_string)
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn has_id(items: &Value, pointer: &str, id: &str) -> bool {
    list(items)
        .iter()
        .any(|item| item.pointer(pointer).and_then(Value::as_str) == Some(id))
}

/// `cairn cluster` as a child process in a temporary work dir. Dropping it stops the cluster,
/// kills whatever executor sessions of that work dir remain (they outlive the cluster by
/// design) and removes the work dir.
struct TestCluster {
    child: Child,
    work_dir: PathBuf,
    host_port: String,
    master_url: String,
    http: reqwest::Client,
}

impl TestCluster {
    fn start() -> anyhow::Result<Self> {
        let work_dir = unique_temp_dir("cairn-pymesos-cluster")?;
        let log = std::fs::File::create(work_dir.join("cluster.log"))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["cluster", "--listen", "127.0.0.1:0", "--agents", "3"])
            // The cluster lives in <work-dir>/cluster, as `cairn run`'s does.
            .arg("--work-dir")
            .arg(&work_dir)
            .args([
                "--allocation-interval",
                "100ms",
                "--heartbeat-interval",
                "1s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawning cairn cluster")?;
        // The ready line is read on a thread so that waiting for it has a deadline.
        let stdout = child.stdout.take().context("cluster stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut cluster = TestCluster {
            child,
            work_dir,
            host_port: String::new(),
            master_url: String::new(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + CLUSTER_START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => bail!(
                    "no ready line from cairn cluster ({e}); its log:\n{}",
                    std::fs::read_to_string(cluster.work_dir.join("cluster.log"))
                        .unwrap_or_default()
                ),
            };
            let master = line.strip_prefix("cairn cluster ready ").and_then(|rest| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix("master="))
            });
            if let Some(master) = master {
                cluster.master_url = master.to_string();
                cluster.host_port = master.trim_start_matches("http://").to_string();
                return Ok(cluster);
            }
        }
    }

    /// Polls an operator call until `done` holds for its reply; on timeout, returns the last reply.
    async fn operator_until(
        &self,
        call: Value,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + OPERATOR_TIMEOUT;
        loop {
            let last = match self.operator(&call).await {
                Ok(reply) if done(&reply) => return Ok(reply),
                Ok(reply) => reply.to_string(),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn operator(&self, call: &Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/api/v1", self.master_url))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(call.to_string())
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("operator call {call}: HTTP {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_pod_sessions(&self.work_dir);
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

fn unique_temp_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Sessions of the pods this work dir's agents started: each `cairn executor` leads a session,
/// and it and its tasks carry the sandbox, which lies under the work dir, in their environment.
/// Matching on the environment rather than only on executor command lines also finds tasks
/// whose executor already died.
fn work_dir_sessions(work_dir: &Path) -> Vec<u32> {
    let needle = work_dir.as_os_str().as_encoded_bytes();
    let own = session_of(std::process::id());
    let mut sessions: Vec<u32> = pids()
        .filter(|&pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.windows(needle.len()).any(|w| w == needle)
        })
        .filter_map(session_of)
        .filter(|&sid| Some(sid) != own)
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    sessions
}

/// Kills every process in the sessions of this work dir's pods, until none is left.
fn kill_pod_sessions(work_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = work_dir_sessions(work_dir);
        if sessions.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in pids() {
            if session_of(pid).is_some_and(|sid| sessions.contains(&sid)) {
                send_sigkill(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself contain spaces and ')': state, ppid,
    // pgrp, session.
    stat[stat.rfind(')')? + 2..].split(' ').nth(3)?.parse().ok()
}

#[allow(unsafe_code)]
fn send_sigkill(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}
