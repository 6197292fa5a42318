//! `cairn bench deploy` and `cairn bench recovery`: the service-level goals of
//! perf-reliability.md §4 (1: deploy throughput, 3: scheduler footprint, 4: recovery speed),
//! measured on real processes.
//!
//! Both start `cairn cluster` as a child process (this executable, a fresh work dir, loopback,
//! a 100 ms allocation interval), write a generated svc.yml (one pod type, `count: N`, one
//! `sleep` task with a 1 MB ROOT volume, a `parallel` deploy phase) and run the scheduler as
//! `cairn scheduler` in a process of its own, exactly as a user runs it. What the master says
//! (operator API GET_TASKS, polled) is the ground truth; per-task times are taken from the
//! status timestamps the master records, so the poll interval does not blur them.
//!
//! * `deploy`: scheduler start → all N tasks RUNNING; pods/s; the scheduler's peak RSS
//!   (VmHWM) and its RSS at the end.
//! * `recovery`: (a) SIGKILL a task's process, one pod after another, and time the kill → the
//!   pod's new task RUNNING in place (same agent, same persistence id, new task id); (b) SIGKILL
//!   the scheduler with N tasks running, start it again, time re-subscription and explicit
//!   reconciliation, and check that no task was restarted.
//!
//! Everything started is cleaned up: the framework is torn down (operator TEARDOWN), the
//! cluster stopped, and any pod process left (found by the work dir in its environment) killed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use cairn::core::scheduler::{Scheduler, SchedulerConfig};
use cairn::core::store::{Store, StoredState};
use cairn::core::Action;
use cairn::proto::master::Response;
use cairn::proto::scheduler::{Call, EventType};
use cairn::proto::{OperationType, Task, TaskState};
use cairn::store::FileStore;
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

use crate::duration;

/// Room for thousands of tiny pods per agent. Per pod the core adds its executor's overhead
/// (0.05 cpus, 32 MB) to the task's 0.01 cpus / 1 MB and the 1 MB volume.
const AGENT_RESOURCES: &str = "cpus:400;mem:400000;disk:4000000;ports:[31000-32000]";
/// Short, so that the allocator is never what a deploy waits for.
const ALLOCATION_INTERVAL: &str = "100ms";
/// How often the master is asked while waiting for a deploy or a restart.
const POLL: Duration = Duration::from_millis(200);
/// How often the master is asked while waiting for a killed task to come back. Only detects;
/// the figure itself comes from the master's status timestamps. Not faster: a GET_TASKS of
/// 1,000 tasks is a large reply, and asking for it 10 times a second took enough of the
/// cluster's time (2 cores) to delay the very ACCEPT being measured by seconds.
const KILL_POLL: Duration = Duration::from_millis(1000);
const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(300);
/// A killed task must be back within this; the crash-loop backoff of a first failure is 2 s.
const RELAUNCH_TIMEOUT: Duration = Duration::from_secs(120);
/// After a scheduler restart, how long to keep watching for a launch or a kill it should not
/// make: longer than the core's first explicit-reconciliation retry (4 s), so a pass that
/// never settled would show as a retry, and long enough for a few offer rounds.
const RESTART_WATCH: Duration = Duration::from_secs(6);

const TARGET_DEPLOY_SECS: f64 = 30.0;
const TARGET_RSS_MB: f64 = 64.0;
const TARGET_RELAUNCH_P99_SECS: f64 = 2.0;
const TARGET_RECONCILE_SECS: f64 = 10.0;

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// How many pods (one `sleep` task and one ROOT volume each).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// How many agents the cluster has.
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Keep the work dir (cluster and scheduler logs, state, sandboxes).
    #[arg(long)]
    keep: bool,
    /// Give up if the pods are not all running within this time.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    timeout: Duration,
}

#[derive(Args, Debug)]
pub struct RecoveryArgs {
    /// How many task kills, one after another, each on the next pod.
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// How many pods are deployed (and running when the scheduler is killed).
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// How many agents the cluster has.
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Keep the work dir (cluster and scheduler logs, state, sandboxes).
    #[arg(long)]
    keep: bool,
    /// Give up if the first deploy is not running within this time.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    timeout: Duration,
}

pub fn run_deploy(args: DeployArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.pods > 0 && args.agents > 0,
        "--pods and --agents must be at least 1"
    );
    runtime()?.block_on(async {
        let bench = Bench::start(args.agents).await?;
        let result = deploy(&bench, &args).await;
        bench.finish(result, args.keep).await
    })
}

async fn deploy(bench: &Bench, args: &DeployArgs) -> anyhow::Result<()> {
    let mut sched = bench.start_scheduler(args.pods).await?;
    let deployed = bench
        .wait_deployed(&mut sched, args.pods, args.timeout)
        .await;
    // Footprint is read before anything is stopped: this is what the goal is about.
    let hwm = proc_status_kb(sched.pid, "VmHWM:");
    let rss = proc_status_kb(sched.pid, "VmRSS:");
    sched.kill().await;
    let deployed = deployed?;
    bench.teardown().await?;
    print_deploy(args.pods, args.agents, &deployed, hwm, rss);
    Ok(())
}

pub fn run_recovery(args: RecoveryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tasks > 0 && args.agents > 0,
        "--tasks and --agents must be at least 1"
    );
    runtime()?.block_on(async {
        let bench = Bench::start(args.agents).await?;
        let result = recovery(&bench, &args).await;
        bench.finish(result, args.keep).await
    })
}

async fn recovery(bench: &Bench, args: &RecoveryArgs) -> anyhow::Result<()> {
    let mut sched = bench.start_scheduler(args.tasks).await?;
    let deployed = bench
        .wait_deployed(&mut sched, args.tasks, args.timeout)
        .await?;
    eprintln!(
        "bench: {} pods running {:.1} s after the scheduler started",
        args.tasks,
        deployed.all_running.as_secs_f64()
    );
    // Kills start once the scheduler has caught up with the deploy's status updates: a kill
    // queued behind a thousand of them measures the backlog, not the recovery.
    let caught_up = bench.wait_scheduler_deployed(&sched, args.timeout).await?;
    eprintln!(
        "bench: the scheduler's deploy plan COMPLETE {:.1} s after it started",
        caught_up.as_secs_f64()
    );
    let kills = bench.task_kills(args.kills, args.tasks).await?;
    let restart = bench.scheduler_restart(sched, args.tasks).await?;
    bench.teardown().await?;
    print_recovery(args, &kills, &restart);
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: this process should take as little as possible from the two it measures.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

// ---------------------------------------------------------------------------------------------
// The cluster, the scheduler process, the master's view
// ---------------------------------------------------------------------------------------------

struct Bench {
    work_dir: PathBuf,
    /// The cluster's work dir (its credentials and the operator's token are there).
    cluster_dir: PathBuf,
    master: String,
    http: reqwest::Client,
    cluster: tokio::sync::Mutex<Child>,
    cluster_pid: u32,
    /// Where the spec and the state live, as the scheduler processes see them.
    spec_path: PathBuf,
    state_dir: PathBuf,
    /// The framework of the service, once known (for TEARDOWN).
    framework: std::sync::Mutex<Option<String>>,
}

const SERVICE: &str = "bench-svc";

impl Bench {
    /// A fresh work dir and a cluster in it. On failure the work dir is kept (its log says why).
    async fn start(agents: usize) -> anyhow::Result<Bench> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let work_dir =
            std::env::temp_dir().join(format!("cairn-bench-svc-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&work_dir)?;
        eprintln!("bench: work dir {}", work_dir.display());
        let cluster_dir = work_dir.join("cluster");
        let log_path = work_dir.join("cluster.log");
        let exe = std::env::current_exe().context("finding the cairn executable")?;
        let mut child = tokio::process::Command::new(&exe)
            .arg("cluster")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--agents", &agents.to_string()])
            .arg("--work-dir")
            .arg(&cluster_dir)
            .args(["--agent-resources", AGENT_RESOURCES])
            .args(["--allocation-interval", ALLOCATION_INTERVAL])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} cluster", exe.display()))?;
        let pid = child.id().context("the cluster exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().context("cluster stdout")?).lines();
        let ready = tokio::time::timeout(CLUSTER_START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("cairn cluster ready ") {
                    if let Some(m) = rest
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix("master="))
                    {
                        return anyhow::Ok(m.to_string());
                    }
                }
            }
            bail!("the cluster exited")
        })
        .await;
        let master = match ready {
            Ok(Ok(m)) => m,
            other => {
                let why = match other {
                    Err(_) => format!("no ready line within {CLUSTER_START_TIMEOUT:?}"),
                    Ok(Err(e)) => format!("{e:#}"),
                    Ok(Ok(_)) => unreachable!(),
                };
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("`cairn cluster` did not start: {why}; its log:\n{log}");
            }
        };
        // The cluster prints nothing more on stdout; keep the pipe drained regardless.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        eprintln!("bench: cluster pid {pid} at {master}");
        Ok(Bench {
            spec_path: work_dir.join("svc.yml"),
            state_dir: work_dir.join("state"),
            work_dir,
            cluster_dir,
            master,
            http: reqwest::Client::builder().tcp_nodelay(true).build()?,
            cluster: tokio::sync::Mutex::new(child),
            cluster_pid: pid,
            framework: std::sync::Mutex::new(None),
        })
    }

    async fn start_scheduler(&self, pods: usize) -> anyhow::Result<SchedulerProcess> {
        std::fs::write(&self.spec_path, spec_yaml(pods))?;
        SchedulerProcess::start(self, "scheduler-1").await
    }

    /// Every task of the cluster (one service runs on it), live and completed.
    async fn tasks(&self) -> anyhow::Result<(Vec<Task>, Vec<Task>)> {
        let reply = crate::mesos_client::operator_call(
            &self.http,
            &self.master,
            None,
            &serde_json::json!({"type": "GET_TASKS"}),
        )
        .await?;
        let response: Response = serde_json::from_value(reply).context("GET_TASKS reply")?;
        let t = response.get_tasks.unwrap_or_default();
        if let Some(task) = t.tasks.first() {
            self.framework
                .lock()
                .expect("not poisoned")
                .get_or_insert_with(|| task.framework_id.value.clone());
        }
        Ok((t.tasks, t.completed_tasks))
    }

    /// Polls until `n` tasks run; the figure is the last RUNNING's master timestamp minus the
    /// scheduler's start.
    async fn wait_deployed(
        &self,
        sched: &mut SchedulerProcess,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Deployed> {
        let deadline = Instant::now() + timeout;
        let mut peak_rss_seen = 0;
        loop {
            peak_rss_seen = peak_rss_seen.max(proc_status_kb(sched.pid, "VmRSS:").unwrap_or(0));
            if let Some(status) = sched.child.try_wait()? {
                bail!(
                    "the scheduler exited ({status}); see {}",
                    sched.log.display()
                );
            }
            let (live, _) = self.tasks().await?;
            let running: Vec<&Task> = live
                .iter()
                .filter(|t| t.state == TaskState::Running)
                .collect();
            if running.len() >= n {
                let detected = sched.started.elapsed();
                let last = running
                    .iter()
                    .filter_map(|t| running_since(t))
                    .fold(0.0, f64::max);
                let first_launch = live
                    .iter()
                    .filter_map(|t| t.statuses.first().and_then(|s| s.timestamp))
                    .fold(f64::INFINITY, f64::min);
                let all_running = Duration::from_secs_f64((last - sched.started_wall).max(0.0));
                let since_start = |mut v: Vec<f64>| -> Vec<Duration> {
                    v.sort_by(f64::total_cmp);
                    v.iter()
                        .map(|t| Duration::from_secs_f64((t - sched.started_wall).max(0.0)))
                        .collect()
                };
                return Ok(Deployed {
                    running_times: since_start(
                        running.iter().filter_map(|t| running_since(t)).collect(),
                    ),
                    first_status_times: since_start(
                        live.iter()
                            .filter_map(|t| t.statuses.first().and_then(|s| s.timestamp))
                            .collect(),
                    ),
                    scheduler_cpu: cpu_time(sched.pid),
                    cluster_cpu: cpu_time(self.cluster_pid),
                    all_running,
                    detected,
                    first_status: Duration::from_secs_f64(
                        (first_launch - sched.started_wall).max(0.0),
                    ),
                    connected: sched.connected_after(),
                    peak_rss_sampled_kb: peak_rss_seen,
                });
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?}: {} of {n} tasks running ({} known)",
                    running.len(),
                    live.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the scheduler's API until it says the deploy is complete; the time since it started.
    async fn wait_scheduler_deployed(
        &self,
        sched: &SchedulerProcess,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            let api = cairn::api::ApiClient::find(&self.state_dir, SERVICE)?;
            if let Some(api) = api {
                if api.status().await.is_ok_and(|s| s.deployed) {
                    return Ok(sched.started.elapsed());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the scheduler did not say deployed within {timeout:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// (a) Kills the task of pod 0, 1, 2, ... (wrapping) `kills` times, each time waiting for
    /// the pod to run again in place.
    async fn task_kills(&self, kills: usize, pods: usize) -> anyhow::Result<Vec<Relaunch>> {
        let mut out = Vec::with_capacity(kills);
        let mut per_pod: HashMap<String, u32> = HashMap::new();
        for k in 0..kills {
            let (live, _) = self.tasks().await?;
            let mut by_name: BTreeMap<&str, &Task> =
                live.iter().map(|t| (t.name.as_str(), t)).collect();
            let name = pod_task_name(k % pods);
            let old = by_name
                .remove(name.as_str())
                .with_context(|| format!("no live task {name}"))?;
            anyhow::ensure!(
                old.state == TaskState::Running,
                "{name} is {} before kill {k}",
                old.state
            );
            let old_id = old.task_id.value.clone();
            let old_agent = old.agent_id.value.clone();
            let old_volumes = persistence_ids(old);
            let pids = task_pids(&self.work_dir, &name);
            anyhow::ensure!(!pids.is_empty(), "no process of task {old_id} found");
            let killed_wall = wall_now();
            let killed = Instant::now();
            for &pid in &pids {
                send_signal(pid, libc::SIGKILL);
            }
            let nth = {
                let n = per_pod.entry(name.clone()).or_default();
                *n += 1;
                *n
            };
            // Wait for a new task of the same name to run; then check where.
            let new = loop {
                tokio::time::sleep(KILL_POLL).await;
                let (live, completed) = self.tasks().await?;
                let new = live.iter().find(|t| {
                    t.name == name && t.task_id.value != old_id && t.state == TaskState::Running
                });
                if let Some(new) = new {
                    let failed_at = completed
                        .iter()
                        .chain(live.iter())
                        .find(|t| t.task_id.value == old_id)
                        .and_then(|t| {
                            t.statuses
                                .iter()
                                .filter(|s| s.state.is_terminal())
                                .find_map(|s| s.timestamp)
                        });
                    break (new.clone(), failed_at);
                }
                if killed.elapsed() > RELAUNCH_TIMEOUT {
                    bail!("{name} not running again {RELAUNCH_TIMEOUT:?} after kill {k}");
                }
            };
            let (new, failed_at) = new;
            anyhow::ensure!(
                new.agent_id.value == old_agent,
                "{name} moved from agent {old_agent} to {}",
                new.agent_id.value
            );
            anyhow::ensure!(
                persistence_ids(&new) == old_volumes,
                "{name} has volumes {:?}, had {old_volumes:?}",
                persistence_ids(&new)
            );
            let running_at = running_since(&new).context("RUNNING without a timestamp")?;
            let launched_at = new.statuses.first().and_then(|s| s.timestamp);
            let secs = |t: f64| Duration::from_secs_f64((t - killed_wall).max(0.0));
            out.push(Relaunch {
                total: secs(running_at),
                failed: failed_at.map(secs),
                first_new_status: launched_at.map(secs),
                backoff: SchedulerConfig::default().backoff.delay(nth),
            });
            if (k + 1) % 10 == 0 {
                eprintln!("bench: {} kills done", k + 1);
            }
        }
        Ok(out)
    }

    /// (b) SIGKILL the scheduler with every task running, start a new scheduler process, and
    /// wait for it to re-subscribe; then SIGKILL that one too and take over in this process
    /// with the same code the `cairn scheduler` driver runs (store, core scheduler, client),
    /// where the end of the explicit reconciliation pass can be seen; check that no task was
    /// restarted throughout.
    async fn scheduler_restart(
        &self,
        mut sched: SchedulerProcess,
        n: usize,
    ) -> anyhow::Result<Restart> {
        let before = running_ids(&self.tasks().await?.0);
        anyhow::ensure!(before.len() == n, "{} of {n} tasks running", before.len());
        sched.kill().await;
        let mut second = SchedulerProcess::start(self, "scheduler-2").await?;
        let connected = second.wait_connected(Duration::from_secs(60)).await;
        let process_rss_kb = proc_status_kb(second.pid, "VmRSS:");
        // Give it the time to launch or kill what it wrongly thought it should (see
        // RESTART_WATCH); the master's task list afterwards is the verdict.
        tokio::time::sleep(RESTART_WATCH).await;
        let process_hwm_kb = proc_status_kb(second.pid, "VmHWM:");
        second.kill().await;
        let connected = connected?;
        let after_process = running_ids(&self.tasks().await?.0);

        let in_process = reconcile_in_process(self).await?;
        let after = running_ids(&self.tasks().await?.0);
        Ok(Restart {
            process_connected: connected,
            process_rss_kb,
            process_hwm_kb,
            restarted_by_process: before.difference(&after_process).count(),
            in_process,
            restarted: before.difference(&after).count(),
            tasks: n,
        })
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        let Some(fid) = self.framework.lock().expect("not poisoned").clone() else {
            return Ok(());
        };
        let token = cairn_cluster::auth::read_token(
            &self
                .cluster_dir
                .join(cairn_cluster::auth::OPERATOR_TOKEN_FILE),
        )?;
        crate::mesos_client::operator_call(
            &self.http,
            &self.master,
            Some(&token),
            &serde_json::json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid}}}),
        )
        .await?;
        let deadline = Instant::now() + TEARDOWN_TIMEOUT;
        loop {
            let (live, _) = self.tasks().await?;
            if live.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} tasks live {TEARDOWN_TIMEOUT:?} after TEARDOWN",
                    live.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the cluster, kills any pod process left, and removes the work dir unless asked to
    /// keep it or something failed (then its logs say what went wrong).
    async fn finish(self, result: anyhow::Result<()>, keep: bool) -> anyhow::Result<()> {
        let stopped = self.stop().await;
        let left = kill_pod_sessions(&self.work_dir);
        if keep || result.is_err() || stopped.is_err() || left > 0 {
            eprintln!("bench: kept {}", self.work_dir.display());
        } else {
            std::fs::remove_dir_all(&self.work_dir)
                .with_context(|| format!("removing {}", self.work_dir.display()))?;
        }
        result?;
        stopped?;
        anyhow::ensure!(left == 0, "{left} pod processes could not be killed");
        Ok(())
    }

    async fn stop(&self) -> anyhow::Result<()> {
        send_signal(self.cluster_pid, libc::SIGTERM);
        let mut child = self.cluster.lock().await;
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            eprintln!("bench: the cluster ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
            child.kill().await?;
        }
        Ok(())
    }
}

/// `cairn scheduler` as a child: its stdout is logged and watched for the "connected" line.
struct SchedulerProcess {
    child: Child,
    pid: u32,
    started: Instant,
    started_wall: f64,
    log: PathBuf,
    connected: tokio::sync::watch::Receiver<Option<Duration>>,
}

impl SchedulerProcess {
    async fn start(bench: &Bench, name: &str) -> anyhow::Result<SchedulerProcess> {
        let exe = std::env::current_exe()?;
        let log = bench.work_dir.join(format!("{name}.log"));
        let mut file = std::fs::File::create(&log)?;
        let started_wall = wall_now();
        let started = Instant::now();
        let mut child = tokio::process::Command::new(exe)
            .arg("scheduler")
            .arg(&bench.spec_path)
            .args(["--master", &bench.master])
            .arg("--state-dir")
            .arg(&bench.state_dir)
            .arg("--credentials")
            .arg(
                bench
                    .cluster_dir
                    .join(cairn_cluster::auth::CREDENTIALS_FILE),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file.try_clone()?)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("the scheduler exited at once")?;
        let stdout = child.stdout.take().context("scheduler stdout")?;
        let (tx, connected) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("connected to ") {
                    let _ = tx.send(Some(started.elapsed()));
                }
                let _ = writeln!(file, "{line}");
            }
        });
        eprintln!("bench: {name} pid {pid}");
        Ok(SchedulerProcess {
            child,
            pid,
            started,
            started_wall,
            log,
            connected,
        })
    }

    fn connected_after(&self) -> Option<Duration> {
        *self.connected.borrow()
    }

    async fn wait_connected(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let got = tokio::time::timeout(timeout, self.connected.wait_for(Option::is_some)).await;
        match got {
            Ok(Ok(d)) => Ok(d.expect("waited for Some")),
            _ => bail!(
                "the restarted scheduler did not connect within {timeout:?}; see {}",
                self.log.display()
            ),
        }
    }

    /// SIGKILL: a crash, as the goal says; the store's lock goes with the process.
    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) in this process: explicit reconciliation seen from inside
// ---------------------------------------------------------------------------------------------

/// Takes over the service with the pieces `cairn scheduler` is made of, timing: store opened
/// and scheduler built → SUBSCRIBED → every task of the explicit RECONCILE answered (the
/// core's own criterion: a status heard for each). Then watches for RESTART_WATCH, counting
/// launches and kills it sends (there must be none).
async fn reconcile_in_process(bench: &Bench) -> anyhow::Result<InProcess> {
    let t0 = Instant::now();
    let spec = cairn::load_spec(&bench.spec_path)?;
    let mut store = FileStore::open_service(&bench.state_dir, &spec.name)?;
    let stored = StoredState::from_entries(&store.load()?)?;
    let stored_tasks = stored.tasks.len();
    let mut s = Scheduler::new(
        SchedulerConfig::default(),
        spec,
        stored,
        cairn::driver::now(),
    )?;
    let loaded = t0.elapsed();
    let (credential, _) = cairn_cluster::auth::ensure_credential(
        &bench
            .cluster_dir
            .join(cairn_cluster::auth::CREDENTIALS_FILE),
        &s.framework_info().principal.unwrap_or_default(),
    )?;
    let client = cairn::mesos::Client::new(&bench.master)?.with_credential(credential);
    let (stream_id, mut events) = client.subscribe(s.framework_info()).await?;
    // Calls go out in order from their own task, as the driver sends them.
    let (calls, mut rx) = mpsc::unbounded_channel::<Call>();
    let sender = {
        let client = client.clone();
        let stream_id = stream_id.clone();
        tokio::spawn(async move {
            while let Some(call) = rx.recv().await {
                if let Err(e) = client.call_on(&stream_id, &call).await {
                    eprintln!("bench: {} call: {e}", call.type_);
                }
            }
        })
    };
    let mut subscribed = None;
    let mut pending: Option<BTreeSet<String>> = None;
    let mut reconciled = None;
    let mut reconcile_calls = 0;
    let mut launches = 0;
    let mut kills = 0;
    let mut updates = 0;
    let mut watch_until = None;
    loop {
        let timer = s
            .poll_timeout()
            .map(|at| at.since(cairn::driver::now()))
            .unwrap_or(Duration::from_secs(3600));
        let left = watch_until.map_or(Duration::from_secs(60), |u: Instant| {
            u.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            break;
        }
        tokio::select! {
            event = events.recv() => {
                let event = event.context("the event stream ended")??;
                match event.type_ {
                    EventType::Subscribed => {
                        subscribed.get_or_insert(t0.elapsed());
                    }
                    EventType::Update => {
                        updates += 1;
                        if let (Some(p), Some(u)) = (pending.as_mut(), event.update.as_ref()) {
                            p.remove(&u.status.task_id.value);
                        }
                    }
                    _ => {}
                }
                s.handle_event(cairn::driver::now(), event);
            }
            () = tokio::time::sleep(timer) => s.handle_timeout(cairn::driver::now()),
            () = tokio::time::sleep(left) => {
                if watch_until.is_none() {
                    bail!("reconciliation did not finish within 60 s");
                }
            }
        }
        while let Some(action) = s.poll_action() {
            match action {
                Action::Persist(batch) => {
                    store.commit(&batch)?;
                    s.handle_committed(batch.id);
                }
                Action::Call(call) => {
                    if let Some(r) = &call.reconcile {
                        reconcile_calls += 1;
                        // The first explicit pass defines what must be answered.
                        if pending.is_none() && !r.tasks.is_empty() {
                            pending =
                                Some(r.tasks.iter().map(|t| t.task_id.value.clone()).collect());
                        }
                    }
                    if let Some(a) = &call.accept {
                        launches += a
                            .operations
                            .iter()
                            .filter(|o| {
                                matches!(
                                    o.type_,
                                    OperationType::Launch | OperationType::LaunchGroup
                                )
                            })
                            .count();
                    }
                    kills += usize::from(call.kill.is_some());
                    let _ = calls.send(call);
                }
                // Asked after a TASK_GONE or a master-made terminal status; this bench takes
                // over running tasks only, which cause neither.
                Action::ReadAgents => {}
            }
        }
        if reconciled.is_none() && pending.as_ref().is_some_and(BTreeSet::is_empty) {
            reconciled = Some(t0.elapsed());
            watch_until = Some(Instant::now() + RESTART_WATCH);
        }
    }
    drop(calls);
    let _ = sender.await;
    Ok(InProcess {
        stored_tasks,
        loaded,
        subscribed: subscribed.context("no SUBSCRIBED")?,
        reconciled: reconciled.context("not reconciled")?,
        reconcile_calls,
        updates,
        launches,
        kills,
    })
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

struct Deployed {
    /// Per task, scheduler start → its RUNNING, sorted.
    running_times: Vec<Duration>,
    /// Per task, scheduler start → its first status (the agent has the launch), sorted.
    first_status_times: Vec<Duration>,
    /// CPU (user + system) the scheduler and the cluster process used up to all RUNNING.
    scheduler_cpu: Option<Duration>,
    cluster_cpu: Option<Duration>,
    /// Scheduler process start → the last task's RUNNING (master timestamp).
    all_running: Duration,
    /// Scheduler process start → this bench saw all running (poll granularity).
    detected: Duration,
    /// Scheduler process start → the first task's first status.
    first_status: Duration,
    connected: Option<Duration>,
    peak_rss_sampled_kb: u64,
}

struct Relaunch {
    /// Kill → new task RUNNING (master timestamp).
    total: Duration,
    /// Kill → the old task's terminal status.
    failed: Option<Duration>,
    /// Kill → the new task's first status (launched).
    first_new_status: Option<Duration>,
    /// The crash-loop backoff the scheduler holds this relaunch for (the pod's n-th failure).
    backoff: Duration,
}

struct InProcess {
    stored_tasks: usize,
    loaded: Duration,
    subscribed: Duration,
    reconciled: Duration,
    reconcile_calls: usize,
    updates: usize,
    launches: usize,
    kills: usize,
}

struct Restart {
    process_connected: Duration,
    process_rss_kb: Option<u64>,
    process_hwm_kb: Option<u64>,
    restarted_by_process: usize,
    in_process: InProcess,
    restarted: usize,
    tasks: usize,
}

fn cores() -> String {
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("({n} cores)")
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

fn row(name: &str, value: String, target: &str, ok: Option<bool>) {
    println!(
        "{name:<44} {:>26}   {target:<16} {}",
        format!("{value} {}", cores()),
        ok.map(verdict).unwrap_or("")
    );
}

fn print_deploy(pods: usize, agents: usize, d: &Deployed, hwm: Option<u64>, rss: Option<u64>) {
    let rate = pods as f64 / d.all_running.as_secs_f64().max(1e-9);
    println!();
    println!(
        "cairn deploy benchmark: {pods} pods (1 `sleep` task + 1 ROOT volume each, parallel), {agents} agents, scheduler and cluster in separate processes"
    );
    println!();
    row(
        "scheduler start -> all RUNNING",
        secs(d.all_running),
        "<= 30 s",
        Some(d.all_running.as_secs_f64() <= TARGET_DEPLOY_SECS),
    );
    row(
        "pods per second",
        format!("{rate:.1} /s"),
        ">= 33 /s",
        Some(rate >= 33.0),
    );
    let hwm_mb = hwm.map(|kb| kb as f64 / 1024.0);
    row(
        "scheduler peak RSS (VmHWM)",
        mb(hwm),
        "<= 64 MB",
        hwm_mb.map(|m| m <= TARGET_RSS_MB),
    );
    row("scheduler RSS at the end (VmRSS)", mb(rss), "", None);
    println!();
    println!("details:");
    println!(
        "  scheduler start -> connected line      {}",
        d.connected.map_or("?".into(), secs)
    );
    println!(
        "  scheduler start -> first task status   {}",
        secs(d.first_status)
    );
    println!(
        "  scheduler start -> bench saw all       {} (polled every {POLL:?})",
        secs(d.detected)
    );
    println!(
        "  highest sampled VmRSS while deploying  {}",
        mb(Some(d.peak_rss_sampled_kb))
    );
    // Where the time goes: an even rate means a steady per-pod cost, a slowing one a cost that
    // grows with the pods already placed.
    let at = |v: &[Duration], p: f64| secs(percentile(v, p));
    println!(
        "  first status of 10/50/90/100% of tasks {} / {} / {} / {}",
        at(&d.first_status_times, 10.0),
        at(&d.first_status_times, 50.0),
        at(&d.first_status_times, 90.0),
        at(&d.first_status_times, 100.0)
    );
    println!(
        "  RUNNING of 10/50/90/100% of tasks      {} / {} / {} / {}",
        at(&d.running_times, 10.0),
        at(&d.running_times, 50.0),
        at(&d.running_times, 90.0),
        at(&d.running_times, 100.0)
    );
    println!(
        "  CPU used until all RUNNING             scheduler {}, cluster {} (of {} wall)",
        d.scheduler_cpu.map_or("?".into(), secs),
        d.cluster_cpu.map_or("?".into(), secs),
        secs(d.detected)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort_unstable();
    v
}

fn print_recovery(args: &RecoveryArgs, kills: &[Relaunch], r: &Restart) {
    println!();
    println!(
        "cairn recovery benchmark: {} pods running on {} agents; {} task kills (SIGKILL), each on the next pod",
        args.tasks, args.agents, kills.len()
    );
    let max_backoff = kills.iter().map(|k| k.backoff).max().unwrap_or_default();
    println!(
        "  (each pod killed at most {} time(s): the crash-loop backoff applied was at most {})",
        args.kills.div_ceil(args.tasks.max(1)),
        secs(max_backoff)
    );
    println!();
    let raw = sorted(kills.iter().map(|k| k.total).collect());
    let net = sorted(
        kills
            .iter()
            .map(|k| k.total.saturating_sub(k.backoff))
            .collect(),
    );
    if !kills.is_empty() {
        row(
            "task kill -> RUNNING in place, p50",
            secs(percentile(&raw, 50.0)),
            "",
            None,
        );
        row(
            "task kill -> RUNNING in place, p99",
            secs(percentile(&raw, 99.0)),
            "<= 2 s + backoff",
            Some(percentile(&net, 99.0).as_secs_f64() <= TARGET_RELAUNCH_P99_SECS),
        );
        row(
            "  minus the backoff applied, p50",
            secs(percentile(&net, 50.0)),
            "",
            None,
        );
        row(
            "  minus the backoff applied, p99",
            secs(percentile(&net, 99.0)),
            "<= 2 s",
            Some(percentile(&net, 99.0).as_secs_f64() <= TARGET_RELAUNCH_P99_SECS),
        );
    }
    row(
        &format!("scheduler restart -> reconciled, {} tasks", r.tasks),
        secs(r.in_process.reconciled),
        "<= 10 s (10k)",
        Some(r.in_process.reconciled.as_secs_f64() <= TARGET_RECONCILE_SECS),
    );
    row(
        "tasks restarted by the scheduler restarts",
        format!("{}", r.restarted),
        "0",
        Some(r.restarted == 0),
    );
    println!();
    println!("details:");
    if !kills.is_empty() {
        let phase = |f: &dyn Fn(&Relaunch) -> Option<Duration>| {
            let v = sorted(kills.iter().filter_map(f).collect());
            format!(
                "{} / {}",
                secs(percentile(&v, 50.0)),
                secs(percentile(&v, 99.0))
            )
        };
        println!(
            "  kill -> old task terminal       p50 / p99   {}",
            phase(&|k| k.failed)
        );
        println!(
            "  terminal -> new task's 1st status p50 / p99 {}",
            phase(&|k| Some(k.first_new_status?.saturating_sub(k.failed?)))
        );
        println!(
            "  new task's 1st status -> RUNNING p50 / p99  {}",
            phase(&|k| Some(k.total.saturating_sub(k.first_new_status?)))
        );
        println!(
            "  max kill -> RUNNING                         {}",
            secs(raw.last().copied().unwrap_or_default())
        );
    }
    let p = &r.in_process;
    println!(
        "  restarted `cairn scheduler` process: start -> connected {}, VmRSS {} then, VmHWM {} after {RESTART_WATCH:?}; tasks it restarted: {}",
        secs(r.process_connected),
        mb(r.process_rss_kb),
        mb(r.process_hwm_kb),
        r.restarted_by_process
    );
    println!(
        "  in-process takeover ({} stored tasks): store + scheduler built {}, SUBSCRIBED {}, reconciled {}",
        p.stored_tasks,
        secs(p.loaded),
        secs(p.subscribed),
        secs(p.reconciled)
    );
    println!(
        "  in-process takeover: {} RECONCILE calls, {} updates, {} launches, {} kills in {RESTART_WATCH:?} after",
        p.reconcile_calls, p.updates, p.launches, p.kills
    );
}

// ---------------------------------------------------------------------------------------------
// The spec, the master's task records, processes
// ---------------------------------------------------------------------------------------------

/// One pod type, `count` instances, a `sleep` task with a 1 MB ROOT volume, deployed in
/// parallel. `exec`: the task's process is the `sleep` itself, which is what gets killed.
fn spec_yaml(count: usize) -> String {
    format!(
        "name: {SERVICE}
pods:
  node:
    count: {count}
    tasks:
      server:
        goal: RUNNING
        cmd: 'exec sleep 3600'
        cpus: 0.01
        memory: 1
        volume:
          path: data
          type: ROOT
          size: 1
plans:
  deploy:
    strategy: serial
    phases:
      node-deploy:
        strategy: parallel
        pod: node
"
    )
}

/// The task name of pod `i` (`node-<i>-server`, as the core names them).
fn pod_task_name(i: usize) -> String {
    format!("node-{i}-server")
}

fn running_since(t: &Task) -> Option<f64> {
    t.statuses
        .iter()
        .filter(|s| s.state == TaskState::Running)
        .find_map(|s| s.timestamp)
}

fn persistence_ids(t: &Task) -> Vec<String> {
    let mut ids: Vec<String> = t
        .resources
        .iter()
        .filter_map(|r| Some(r.disk.as_ref()?.persistence.as_ref()?.id.clone()))
        .collect();
    ids.sort();
    ids
}

fn running_ids(tasks: &[Task]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .map(|t| t.task_id.value.clone())
        .collect()
}

fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User + system CPU time of a process so far (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks(),
    ))
}

#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

fn environ_has(pid: u32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
}

/// The processes of the live task named `name` under this bench's work dir: those whose
/// environment holds `TASK_NAME=<name>` exactly, which cairn's scheduler gives each task (a task
/// of a group has no `MESOS_TASK_ID`, as on Mesos; the executor has neither).
fn task_pids(work_dir: &Path, name: &str) -> Vec<u32> {
    let needle = format!("\0TASK_NAME={name}\0").into_bytes();
    let dir = work_dir.as_os_str().as_encoded_bytes();
    pids()
        .filter(|&pid| environ_has(pid, &needle) && environ_has(pid, dir))
        .collect()
}

fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold spaces and ')': state, ppid, pgrp, session.
    stat[stat.rfind(')')? + 2..].split(' ').nth(3)?.parse().ok()
}

/// Kills every session (executor and its tasks) one of whose processes mentions the work dir
/// in its environment, until none is left or a deadline passes; returns how many remain.
fn kill_pod_sessions(work_dir: &Path) -> usize {
    let needle = work_dir.as_os_str().as_encoded_bytes();
    let own = session_of(std::process::id());
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let mut sessions: Vec<u32> = pids()
            .filter(|&pid| environ_has(pid, needle))
            .filter_map(session_of)
            .filter(|&sid| Some(sid) != own)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        let left: Vec<u32> = pids()
            .filter(|&pid| session_of(pid).is_some_and(|s| sessions.binary_search(&s).is_ok()))
            .collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left.len();
        }
        for pid in left {
            send_signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_spec_is_valid() {
        let spec = cairn::core::parse_yaml(&spec_yaml(7), &BTreeMap::new()).expect("valid");
        assert_eq!(spec.pods[0].count, 7);
        let plans = cairn::preview_plans(&spec).expect("plans");
        assert_eq!(plans[0].phases[0].steps.len(), 7);
    }

    #[test]
    fn nearest_rank_percentile() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
