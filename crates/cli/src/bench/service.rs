//! `cairn bench deploy` and `cairn bench recovery`: cairn's service-level goals (deploy
//! throughput, scheduler footprint, recovery speed), measured on real processes.
//!
//! Both start `cairn cluster` as a child process (this executable, a fresh work dir, loopback,
//! a 100 ms allocation interval), write a generated svc.yml (one pod type, `count: N`, one
//! `sleep` task with a 1 MB ROOT volume, a `parallel` deploy phase) and run the scheduler as
//! `cairn scheduler` in a process of its own, exactly as a user runs it. What the master says
//! (operator API GET_TASKS, polled) is the ground truth; per-task times are taken from the
//! status timestamps the master records, so the poll interval does not blur them.
//!
//! * `deploy`: scheduler start → all N tasks RUNNING; pods/s; the scheduler's peak RSS
//!   (VmHWM) and its RSS at the end; the memory of the pods' processes and of the cluster's.
//!   With `--mesos DIR` (or `CAIRN_TEST_MESOS`) the same deploy then runs on real Apache Mesos
//!   (a `mesos-master` and one `mesos-agent` per 127.0.0.N, the same agent resources and
//!   allocation interval, the same spec and `cairn scheduler`; its pods run under Mesos'
//!   default executor), measured the same way, and both are printed side by side with the
//!   ratio.
//! * `recovery`: (a) SIGKILL a task's process, one pod after another, and time the kill → the
//!   pod's new task RUNNING in place (same agent, same persistence id, new task id); (b) SIGKILL
//!   the scheduler with N tasks running, start it again, time re-subscription and explicit
//!   reconciliation, and check that no task was restarted.
//!
//! Everything started is cleaned up: the framework is torn down (operator TEARDOWN), the
//! cluster stopped, and any pod process left (found by the work dir in its environment) killed;
//! on Mesos the daemons are killed, then every executor and task (they outlive their agent).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use cairn::core::scheduler::{Scheduler, SchedulerConfig};
use cairn::core::store::{Store, StoredState};
use cairn::core::Action;
use cairn::proto::master::{GetTasks, Response};
use cairn::proto::scheduler::{Call, EventType};
use cairn::proto::{OperationType, Task, TaskState};
use cairn::store::FileStore;
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

use super::mesos as bench_mesos;
use super::procfs::{busy_share, cpu_ticks, meminfo_kb, pss_kb, send_signal, status_kb};
use crate::duration;

/// Room for thousands of tiny pods per agent. Per pod the core adds its executor's overhead
/// (0.05 cpus, 32 MB) to the task's 0.01 cpus / 1 MB and the 1 MB volume.
const AGENT_RESOURCES: &str = "cpus:400;mem:400000;disk:4000000;ports:[31000-32000]";
/// Short, so that the allocator is never what a deploy waits for.
const ALLOCATION_INTERVAL: &str = "100ms";
/// How often the master is asked while waiting for a deploy or a restart.
const POLL: Duration = Duration::from_millis(200);
/// The deploy stops when the work dir's disk has less free than this.
const DISK_FLOOR_BYTES: u64 = 256 * 1024 * 1024;
/// How often a deploy's progress is told on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);
/// The longest wait between two polls of a master slow to answer.
const MAX_POLL: Duration = Duration::from_secs(5);
/// How long a GET_TASKS may take outside a deploy's wait.
const TASKS_TIMEOUT: Duration = Duration::from_secs(60);
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

/// The deploy stops when the machine has less memory available than this (or a sixth of it,
/// on a smaller machine), before the kernel has to kill something: the machine is shared (a
/// compiler or a test run elsewhere may need a few GB at once) and may have no swap.
const MEMORY_FLOOR_KB: u64 = 4 * 1024 * 1024;

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
    /// Then run the same deploy on real Apache Mesos installed here (bin/mesos-master,
    /// bin/mesos-agent, lib/), one agent per 127.0.0.N, and print both and the ratio
    /// [default: $CAIRN_TEST_MESOS, if set].
    #[arg(long, value_name = "DIR")]
    mesos: Option<PathBuf>,
    /// Deploy on real Mesos only (needs --mesos or $CAIRN_TEST_MESOS).
    #[arg(long)]
    mesos_only: bool,
    /// The scheduler's `--max-pods-per-offer` (how many pods one ACCEPT carries at most).
    #[arg(long, default_value_t = cairn::core::scheduler::DEFAULT_MAX_PODS_PER_OFFER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_pods_per_offer: usize,
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
    let mesos = args.mesos.clone().or_else(|| {
        std::env::var_os(bench_mesos::MESOS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    anyhow::ensure!(
        mesos.is_some() || !args.mesos_only,
        "--mesos-only needs a Mesos installation: --mesos DIR or ${}",
        bench_mesos::MESOS_ENV
    );
    // Before anything is started: a wrong directory should not cost a whole cairn run first.
    if let Some(home) = &mesos {
        bench_mesos::check_installation(home)?;
    }
    runtime()?.block_on(async {
        let mut signals = Signals::install()?;
        let mut runs = Vec::new();
        if !args.mesos_only {
            let run = deploy_on(&mut signals, &args, None).await?;
            print_deploy(&args, &run);
            runs.push(run);
        }
        if let Some(home) = &mesos {
            let run = deploy_on(&mut signals, &args, Some(home)).await?;
            print_deploy(&args, &run);
            runs.push(run);
        }
        if let [cairn, mesos] = &runs[..] {
            print_comparison(&args, cairn, mesos);
        }
        for run in &runs {
            if let Some(why) = &run.deployed.stopped_short {
                bail!(
                    "{} ran {} of {} pods: {why}",
                    run.target,
                    run.deployed.running,
                    args.pods
                );
            }
        }
        Ok(())
    })
}

/// One deploy on a fresh work dir, on `cairn cluster` or (with `mesos`) on real Mesos, and
/// everything it started cleaned up after, also when a step fails or a signal comes.
async fn deploy_on(
    signals: &mut Signals,
    args: &DeployArgs,
    mesos: Option<&Path>,
) -> anyhow::Result<DeployRun> {
    let mut bench = Bench::start(signals, mesos, args.agents, args.keep).await?;
    bench.max_pods_per_offer = Some(args.max_pods_per_offer);
    let result = signals.or_interrupted(deploy(&bench, args)).await;
    bench.finish(result, args.keep).await
}

async fn deploy(bench: &Bench, args: &DeployArgs) -> anyhow::Result<DeployRun> {
    let mut sched = bench.start_scheduler(args.pods).await?;
    let deployed = bench
        .wait_deployed(&mut sched, args.pods, args.timeout)
        .await;
    // Footprint is read before anything is stopped: this is what the goal is about.
    let hwm = status_kb(sched.pid, "VmHWM:");
    let rss = status_kb(sched.pid, "VmRSS:");
    // What the pods and the cluster's daemons hold with every pod running (read after the
    // times are taken: reading a few thousand processes' memory maps costs CPU).
    let pods_memory = deployed
        .is_ok()
        .then(|| memory_of(&bench.pod_pids(sched.pid)));
    let daemons_memory = memory_of(&bench.daemon_pids());
    sched.kill().await;
    let deployed = deployed?;
    bench.teardown().await?;
    Ok(DeployRun {
        target: bench.name(),
        deployed,
        hwm,
        rss,
        pods_memory: pods_memory.unwrap_or_default(),
        daemons_memory,
    })
}

pub fn run_recovery(args: RecoveryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tasks > 0 && args.agents > 0,
        "--tasks and --agents must be at least 1"
    );
    runtime()?.block_on(async {
        let mut signals = Signals::install()?;
        let bench = Bench::start(&mut signals, None, args.agents, args.keep).await?;
        let result = signals.or_interrupted(recovery(&bench, &args)).await;
        bench.finish(result, args.keep).await
    })
}

async fn recovery(bench: &Bench, args: &RecoveryArgs) -> anyhow::Result<()> {
    let mut sched = bench.start_scheduler(args.tasks).await?;
    let deployed = bench
        .wait_deployed(&mut sched, args.tasks, args.timeout)
        .await?;
    if let Some(why) = &deployed.stopped_short {
        bail!("{} of {} pods run: {why}", deployed.running, args.tasks);
    }
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

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: this process should take as little as possible from the two it measures.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The signals that end a bench early: Ctrl-C, a `kill`, a closed terminal. Once installed they
/// no longer end the process at once; the step running is abandoned and everything started is
/// cleaned up (a Mesos agent's executors outlive it, and a bench that died here would leave a
/// thousand of them running).
pub(super) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            term: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            hup: signal(SignalKind::hangup()).context("handling SIGHUP")?,
        })
    }

    /// `step`, or an error once a signal comes first (the step is then dropped: its scheduler
    /// process is killed with it).
    pub(super) async fn or_interrupted<T>(
        &mut self,
        step: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let name = tokio::select! {
            result = step => return result,
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        };
        eprintln!("bench: {name}: stopping and cleaning up");
        bail!("interrupted by {name}")
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster, the scheduler process, the master's view
// ---------------------------------------------------------------------------------------------

pub(super) struct Bench {
    work_dir: PathBuf,
    master: String,
    http: reqwest::Client,
    target: Target,
    /// Where the spec and the state live, as the scheduler processes see them.
    spec_path: PathBuf,
    pub(super) state_dir: PathBuf,
    /// The framework of the service, once known (for TEARDOWN).
    framework: std::sync::Mutex<Option<String>>,
    /// The scheduler's `--max-pods-per-offer`, when not its default.
    max_pods_per_offer: Option<usize>,
}

/// What the scheduler deploys on.
enum Target {
    /// A `cairn cluster` child process.
    Cairn {
        /// The cluster's work dir (its credentials and the operator's token are there).
        dir: PathBuf,
        child: Child,
        pid: u32,
    },
    /// A real Mesos master and agents.
    Mesos(bench_mesos::MesosDaemons),
}

pub(super) const SERVICE: &str = "bench-svc";

/// A fresh work dir for one run, named after what it runs on.
pub(super) fn new_work_dir(kind: &str) -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let work_dir =
        std::env::temp_dir().join(format!("cairn-bench-{kind}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    eprintln!("bench: work dir {}", work_dir.display());
    Ok(work_dir)
}

impl Bench {
    fn new(work_dir: PathBuf, master: String, target: Target) -> anyhow::Result<Bench> {
        Ok(Bench {
            spec_path: work_dir.join("svc.yml"),
            state_dir: work_dir.join("state"),
            work_dir,
            master,
            http: http_client()?,
            target,
            framework: std::sync::Mutex::new(None),
            max_pods_per_offer: None,
        })
    }

    /// A fresh work dir and in it a `cairn cluster`, or with `mesos` a real Mesos master and
    /// agents. On failure or a signal whatever was started is killed, and the work dir removed
    /// unless `keep`.
    pub(super) async fn start(
        signals: &mut Signals,
        mesos: Option<&Path>,
        agents: usize,
        keep: bool,
    ) -> anyhow::Result<Bench> {
        let work_dir = new_work_dir(if mesos.is_some() { "mesos" } else { "svc" })?;
        let started = match mesos {
            None => {
                signals
                    .or_interrupted(Bench::start_cairn(&work_dir, agents))
                    .await
            }
            Some(home) => {
                signals
                    .or_interrupted(Bench::start_mesos(&work_dir, home, agents))
                    .await
            }
        };
        // A start abandoned half way has dropped what it started (`cairn cluster` is killed
        // on drop, Mesos' daemons and their processes by `MesosDaemons`' drop); whatever still
        // names the work dir goes here.
        started.map_err(|e| match clean_work_dir(&work_dir, keep) {
            Ok(()) => e,
            Err(cleanup) => e.context(format!("{cleanup:#}")),
        })
    }

    /// A `cairn cluster` in `work_dir`.
    async fn start_cairn(work_dir: &Path, agents: usize) -> anyhow::Result<Bench> {
        let work_dir = work_dir.to_path_buf();
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
        Bench::new(
            work_dir,
            master,
            Target::Cairn {
                dir: cluster_dir,
                child,
                pid,
            },
        )
    }

    /// A real Mesos master and agents in `work_dir`, with the agent resources and allocation
    /// interval of [`Bench::start_cairn`]'s cluster.
    async fn start_mesos(work_dir: &Path, home: &Path, agents: usize) -> anyhow::Result<Bench> {
        let work_dir = work_dir.to_path_buf();
        let daemons = bench_mesos::MesosDaemons::start(
            home,
            &work_dir.join("mesos"),
            agents,
            AGENT_RESOURCES,
            ALLOCATION_INTERVAL,
            &http_client()?,
        )
        .await
        .context("starting Mesos")?;
        eprintln!(
            "bench: Mesos {} master pid {} at {}, {agents} agents",
            daemons.version,
            daemons.pids()[0],
            daemons.master
        );
        Bench::new(work_dir, daemons.master.clone(), Target::Mesos(daemons))
    }

    /// What the deploy runs on, for the report.
    fn name(&self) -> String {
        match &self.target {
            Target::Cairn { .. } => "cairn cluster".to_string(),
            Target::Mesos(m) => format!("Apache Mesos {}", m.version),
        }
    }

    /// The `cairn cluster`'s work dir; the recovery bench and TEARDOWN need its files.
    fn cluster_dir(&self) -> anyhow::Result<&Path> {
        match &self.target {
            Target::Cairn { dir, .. } => Ok(dir),
            Target::Mesos(_) => bail!("this bench runs on `cairn cluster` only"),
        }
    }

    /// The cluster's own processes: `cairn cluster`, or the Mesos master and agents.
    fn daemon_pids(&self) -> Vec<u32> {
        match &self.target {
            Target::Cairn { pid, .. } => vec![*pid],
            Target::Mesos(m) => m.pids(),
        }
    }

    /// The pods' processes (executors, tasks, and with Mesos the container launchers): every
    /// process that names this run's work dir, but the cluster's daemons and the scheduler.
    fn pod_pids(&self, scheduler: u32) -> Vec<u32> {
        let daemons = self.daemon_pids();
        bench_mesos::processes_mentioning(&self.work_dir)
            .into_iter()
            .filter(|p| *p != scheduler && !daemons.contains(p))
            .collect()
    }

    pub(super) async fn start_scheduler(&self, pods: usize) -> anyhow::Result<SchedulerProcess> {
        std::fs::write(&self.spec_path, spec_yaml(pods))?;
        SchedulerProcess::start(self, "scheduler-1").await
    }

    /// Every task of the cluster (one service runs on it), live and completed.
    async fn tasks(&self) -> anyhow::Result<(Vec<Task>, Vec<Task>)> {
        let t = self.tasks_within(TASKS_TIMEOUT).await?;
        Ok((t.tasks, t.completed_tasks))
    }

    /// The master's GET_TASKS answer, waiting up to `timeout` for it.
    async fn tasks_within(&self, timeout: Duration) -> anyhow::Result<GetTasks> {
        let url = format!("{}/api/v1", self.master.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .body(r#"{"type":"GET_TASKS"}"#)
            .send()
            .await
            .with_context(|| format!("GET_TASKS to {url}"))?;
        let status = response.status();
        let body = response.bytes().await.context("GET_TASKS reply")?;
        anyhow::ensure!(
            status.is_success(),
            "GET_TASKS: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let response: Response = serde_json::from_slice(&body).context("GET_TASKS reply")?;
        let t = response.get_tasks.unwrap_or_default();
        if let Some(task) = t.tasks.first() {
            self.framework
                .lock()
                .expect("not poisoned")
                .get_or_insert_with(|| task.framework_id.value.clone());
        }
        Ok(t)
    }

    /// Polls until `n` tasks run; the figure is the last RUNNING's master timestamp minus the
    /// scheduler's start. Stops short, with the tasks running by then and the reason, at the
    /// timeout or when the machine is about to run out of memory or disk (see [`memory_low`],
    /// [`disk_low`]); the recovery bench needs them all, the deploy bench compares what got
    /// that far.
    pub(super) async fn wait_deployed(
        &self,
        sched: &mut SchedulerProcess,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Deployed> {
        let deadline = Instant::now() + timeout;
        let mut peak_rss_seen = 0;
        let mut told = Instant::now();
        let mut last: Option<GetTasks> = None;
        // How busy the machine's cores are, since the wait began and since the last progress
        // line: on a machine with every core busy, a slow deploy is the machine's limit.
        let began = cpu_ticks();
        let mut told_cpu = began;
        loop {
            peak_rss_seen = peak_rss_seen.max(status_kb(sched.pid, "VmRSS:").unwrap_or(0));
            if let Some(status) = sched.child.try_wait()? {
                bail!(
                    "the scheduler exited ({status}); the end of its log:\n{}",
                    log_tail(&sched.log)
                );
            }
            let mut low = memory_low();
            let asked = Instant::now();
            // A master busy with a thousand launches may answer late (Mesos' queues the read
            // behind every call it has not handled yet, for minutes): wait for it, up to the
            // deadline, watching the memory meanwhile; if it runs low first, the last answer
            // is what the deploy got to.
            let left = deadline.saturating_duration_since(asked);
            if low.is_none() {
                tokio::select! {
                    answer = self.tasks_within(left.max(POLL)) => match answer {
                        Ok(answer) => last = Some(answer),
                        // A master that has not answered by the deadline is a result (real
                        // Mesos, busy with a large ACCEPT, answers nothing for minutes): the
                        // deploy got as far as its last answer said, or nowhere.
                        Err(e) if Instant::now() >= deadline => {
                            low = Some(format!(
                                "timed out after {timeout:?} (--timeout) with the master not answering GET_TASKS for {} ({e:#})",
                                secs(asked.elapsed())
                            ));
                            last.get_or_insert_with(GetTasks::default);
                        }
                        Err(e) => return Err(e),
                    },
                    why = memory_running_low() => low = Some(why),
                }
            }
            let Some(GetTasks {
                tasks: live,
                completed_tasks: completed,
                unreachable_tasks: unreachable,
                ..
            }) = last.clone()
            else {
                bail!(
                    "{}, before the master listed any task",
                    low.unwrap_or_default()
                );
            };
            let answered_in = asked.elapsed();
            let low = low.or_else(|| disk_low(&self.work_dir));
            let running: Vec<&Task> = live
                .iter()
                .filter(|t| t.state == TaskState::Running)
                .collect();
            let timed_out = Instant::now() >= deadline;
            let low = low.or_else(|| {
                timed_out.then(|| {
                    format!(
                        "timed out after {timeout:?} (--timeout), {} tasks unreachable",
                        unreachable.len()
                    )
                })
            });
            // Stopped short with no task running is a result too: the other run is then
            // compared with the time this one gave up after.
            if running.len() >= n || low.is_some() {
                let detected = sched.started.elapsed();
                let since_start = |mut v: Vec<f64>| -> Vec<Duration> {
                    v.sort_by(f64::total_cmp);
                    v.iter()
                        .map(|t| Duration::from_secs_f64((t - sched.started_wall).max(0.0)))
                        .collect()
                };
                let running_times =
                    since_start(running.iter().filter_map(|t| running_since(t)).collect());
                let first_status_times = since_start(
                    live.iter()
                        .filter_map(|t| t.statuses.first().and_then(|s| s.timestamp))
                        .collect(),
                );
                return Ok(Deployed {
                    running: running.len(),
                    known: live.len(),
                    stopped_short: low.filter(|_| running.len() < n),
                    all_running: running_times.last().copied().unwrap_or_default(),
                    first_status: first_status_times.first().copied().unwrap_or_default(),
                    running_times,
                    first_status_times,
                    scheduler_cpu: cpu_time(sched.pid),
                    daemons_cpu: self
                        .daemon_pids()
                        .into_iter()
                        .map(cpu_time)
                        .sum::<Option<Duration>>(),
                    failed: completed.len(),
                    ended: ended_by_reason(&completed),
                    detected,
                    connected: sched.connected_after(),
                    peak_rss_sampled_kb: peak_rss_seen,
                    machine_busy: began.zip(cpu_ticks()).and_then(|(a, b)| busy_share(a, b)),
                });
            }
            if told.elapsed() >= PROGRESS_EVERY {
                told = Instant::now();
                let now_cpu = cpu_ticks();
                let busy = told_cpu.zip(now_cpu).and_then(|(a, b)| busy_share(a, b));
                told_cpu = now_cpu;
                eprintln!(
                    "bench: {:.0} s: {} of {n} tasks running, {} known, {} ended, {} unreachable; the master answered in {:.1} s; CPU {} busy",
                    sched.started.elapsed().as_secs_f64(),
                    running.len(),
                    live.len(),
                    completed.len(),
                    unreachable.len(),
                    answered_in.as_secs_f64(),
                    percent(busy)
                );
            }
            // The figures come from the master's timestamps, so polling only detects the end;
            // it must not slow the master it measures. A master that takes long to list the
            // tasks is asked less often (up to MAX_POLL apart): this bench keeps to a fifth of
            // its time or less. The memory is watched meanwhile at the usual pace.
            let next = Instant::now() + (answered_in * 4).clamp(POLL, MAX_POLL);
            loop {
                tokio::time::sleep(POLL).await;
                if Instant::now() >= next || memory_low().is_some() {
                    break;
                }
            }
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
        let process_rss_kb = status_kb(second.pid, "VmRSS:");
        // Give it the time to launch or kill what it wrongly thought it should (see
        // RESTART_WATCH); the master's task list afterwards is the verdict.
        tokio::time::sleep(RESTART_WATCH).await;
        let process_hwm_kb = status_kb(second.pid, "VmHWM:");
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

    pub(super) async fn teardown(&self) -> anyhow::Result<()> {
        let token = match &self.target {
            Target::Cairn { dir, .. } => cairn_cluster::auth::read_token(
                &dir.join(cairn_cluster::auth::OPERATOR_TOKEN_FILE),
            )?,
            // Nothing to ask of Mesos: `finish` kills its daemons and then every executor and
            // task they started, which is all a TEARDOWN would end, one executor at a time.
            Target::Mesos(_) => return Ok(()),
        };
        let Some(fid) = self.framework.lock().expect("not poisoned").clone() else {
            return Ok(());
        };
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

    /// Stops the cluster, kills any process of it left, and removes the work dir unless asked
    /// to keep it. A failure does not keep it (a bench run is large; `--keep` keeps it for a
    /// look at the logs); processes that could not be killed do, as they may still write there.
    pub(super) async fn finish<T>(
        self,
        result: anyhow::Result<T>,
        keep: bool,
    ) -> anyhow::Result<T> {
        let work_dir = self.work_dir.clone();
        let stopped = match self.target {
            Target::Cairn { mut child, pid, .. } => stop_cluster(&mut child, pid).await,
            Target::Mesos(mut daemons) => match daemons.stop() {
                0 => Ok(()),
                left => Err(anyhow::anyhow!(
                    "{left} processes of Mesos could not be killed"
                )),
            },
        };
        let cleaned = clean_work_dir(&work_dir, keep);
        let value = result?;
        stopped?;
        cleaned?;
        Ok(value)
    }
}

/// Kills every process left that names `work_dir`: in its environment (pods, executors: with
/// the sessions they lead) or on its command line (a daemon); then removes the work dir unless
/// `keep`. Keeps it, and says so, if some process could not be killed.
pub(super) fn clean_work_dir(work_dir: &Path, keep: bool) -> anyhow::Result<()> {
    let left = kill_pod_sessions(work_dir);
    if keep || left > 0 {
        eprintln!("bench: kept {}", work_dir.display());
        anyhow::ensure!(
            left == 0,
            "{left} processes under {} could not be killed",
            work_dir.display()
        );
        return Ok(());
    }
    std::fs::remove_dir_all(work_dir).with_context(|| format!("removing {}", work_dir.display()))
}

/// SIGTERM, then SIGKILL if the cluster takes too long.
async fn stop_cluster(child: &mut Child, pid: u32) -> anyhow::Result<()> {
    send_signal(pid, libc::SIGTERM);
    if tokio::time::timeout(STOP_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        eprintln!("bench: the cluster ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
        child.kill().await?;
    }
    Ok(())
}

/// `cairn scheduler` as a child: its stdout is logged and watched for the "connected" line.
pub(super) struct SchedulerProcess {
    child: Child,
    pub(super) pid: u32,
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
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("scheduler")
            .arg(&bench.spec_path)
            .args(["--master", &bench.master])
            .arg("--state-dir")
            .arg(&bench.state_dir)
            .args(
                bench
                    .max_pods_per_offer
                    .map(|n| format!("--max-pods-per-offer={n}")),
            )
            // Without --credentials the scheduler would look for a `cairn cluster`'s under
            // its working directory: on Mesos (which asks for none) there must be none.
            .current_dir(&bench.work_dir);
        if let Target::Cairn { dir, .. } = &bench.target {
            cmd.arg("--credentials")
                .arg(dir.join(cairn_cluster::auth::CREDENTIALS_FILE));
        }
        let mut child = cmd
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
                "the restarted scheduler did not connect within {timeout:?}; the end of its log:\n{}",
                log_tail(&self.log)
            ),
        }
    }

    /// SIGKILL: a crash, as the goal says; the store's lock goes with the process.
    pub(super) async fn kill(&mut self) {
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
            .cluster_dir()?
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

pub(super) struct Deployed {
    /// How many tasks run: all that were asked for, unless the deploy stopped short.
    pub(super) running: usize,
    /// How many tasks the master knows (launched, in any state but ended).
    known: usize,
    /// Why the deploy stopped before all ran (the machine's memory).
    pub(super) stopped_short: Option<String>,
    /// Per task, scheduler start → its RUNNING, sorted.
    running_times: Vec<Duration>,
    /// Per task, scheduler start → its first status (the agent has the launch), sorted.
    first_status_times: Vec<Duration>,
    /// CPU (user + system) the scheduler and the cluster's daemons (`cairn cluster`, or the
    /// Mesos master and agents) used up to all RUNNING.
    scheduler_cpu: Option<Duration>,
    daemons_cpu: Option<Duration>,
    /// Tasks that ended during the deploy (each relaunched, or the deploy would not finish).
    failed: usize,
    /// How they ended: their last state, reason and message, and how many so.
    ended: Vec<(String, usize)>,
    /// Scheduler process start → the last task's RUNNING (master timestamp).
    pub(super) all_running: Duration,
    /// Scheduler process start → this bench saw all running (poll granularity).
    detected: Duration,
    /// Scheduler process start → the first task's first status.
    first_status: Duration,
    connected: Option<Duration>,
    peak_rss_sampled_kb: u64,
    /// The share of the machine's CPU time that was busy while the bench waited.
    machine_busy: Option<f64>,
}

/// One deploy, on one kind of cluster.
struct DeployRun {
    /// "cairn cluster", "Apache Mesos 1.12.0".
    target: String,
    deployed: Deployed,
    /// The scheduler's peak and final RSS.
    hwm: Option<u64>,
    rss: Option<u64>,
    /// With every pod running: the pods' processes, and the cluster's own.
    pods_memory: Vec<ProcessGroup>,
    daemons_memory: Vec<ProcessGroup>,
}

/// Processes of one program, and the memory they hold.
#[derive(Debug, Default, Clone, PartialEq)]
struct ProcessGroup {
    /// The program's file name, and its subcommand if it has one (`cairn executor`).
    program: String,
    count: usize,
    threads: u64,
    /// Resident memory, every shared page counted in each process that maps it.
    rss_kb: u64,
    /// Proportional set size: each shared page divided among the processes that map it, so
    /// the sum is what the group costs the machine.
    pss_kb: u64,
    /// Anonymous resident memory (heap, stacks): each process's own.
    anon_kb: u64,
    /// User + system CPU time the processes used so far.
    cpu: Duration,
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

pub(super) fn cores() -> String {
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("({n} cores)")
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn percent(share: Option<f64>) -> String {
    share.map_or("?".into(), |s| format!("{:.0}%", s * 100.0))
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

/// Pods per second: the pods running over the time until the last of them ran.
fn rate(d: &Deployed) -> f64 {
    d.running as f64 / d.all_running.as_secs_f64().max(1e-9)
}

fn print_deploy(args: &DeployArgs, run: &DeployRun) {
    let (pods, agents, d) = (args.pods, args.agents, &run.deployed);
    let rate = rate(d);
    // The goals are cairn's own: they are judged on cairn's cluster.
    let on_cairn = run.target == "cairn cluster";
    let goal = |target: &'static str, ok: Option<bool>| {
        if on_cairn {
            (target, ok)
        } else {
            ("", None)
        }
    };
    println!();
    println!(
        "deploy benchmark on {}: {pods} pods (1 `sleep` task + 1 ROOT volume each, parallel), {agents} agents, scheduler and cluster in separate processes, at most {} pods per offer",
        run.target, args.max_pods_per_offer
    );
    if let Some(why) = &d.stopped_short {
        println!(
            "STOPPED SHORT {} after the scheduler started, with {} of {pods} pods running ({} tasks listed by the master's last answer): {why}",
            secs(d.detected),
            d.running,
            d.known
        );
    }
    println!();
    let (t, ok) = goal(
        "<= 30 s",
        Some(d.all_running.as_secs_f64() <= TARGET_DEPLOY_SECS && d.stopped_short.is_none()),
    );
    let all = if d.running < pods {
        format!("{} pods", d.running)
    } else {
        "all".to_string()
    };
    let value = if d.running == 0 {
        format!("none in {}", secs(d.detected))
    } else {
        secs(d.all_running)
    };
    row(&format!("scheduler start -> {all} RUNNING"), value, t, ok);
    let (t, ok) = goal(">= 33 /s", Some(rate >= 33.0));
    row("pods per second", format!("{rate:.1} /s"), t, ok);
    let hwm_mb = run.hwm.map(|kb| kb as f64 / 1024.0);
    let (t, ok) = goal("<= 64 MB", hwm_mb.map(|m| m <= TARGET_RSS_MB));
    row("scheduler peak RSS (VmHWM)", mb(run.hwm), t, ok);
    row("scheduler RSS at the end (VmRSS)", mb(run.rss), "", None);
    println!();
    println!("details:");
    println!(
        "  scheduler start -> connected line      {}",
        d.connected.map_or("?".into(), secs)
    );
    println!(
        "  scheduler start -> first task status   {}",
        if d.first_status_times.is_empty() {
            "-".to_string()
        } else {
            secs(d.first_status)
        }
    );
    println!(
        "  scheduler start -> bench saw all       {} (polled every {POLL:?} or more)",
        secs(d.detected)
    );
    println!(
        "  highest sampled VmRSS while deploying  {}",
        mb(Some(d.peak_rss_sampled_kb))
    );
    // Where the time goes: an even rate means a steady per-pod cost, a slowing one a cost that
    // grows with the pods already placed.
    // No task seen is no time, not a time of zero.
    let at = |v: &[Duration], p: f64| {
        if v.is_empty() {
            "-".to_string()
        } else {
            secs(percentile(v, p))
        }
    };
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
        "  CPU used until all RUNNING             scheduler {}, {} {} (of {} wall)",
        d.scheduler_cpu.map_or("?".into(), secs),
        if on_cairn {
            "cluster"
        } else {
            "master + agents"
        },
        d.daemons_cpu.map_or("?".into(), secs),
        secs(d.detected)
    );
    println!(
        "  the machine's CPU meanwhile            {} busy {}",
        percent(d.machine_busy),
        cores()
    );
    println!(
        "  tasks that ended during the deploy     {} (each relaunched)",
        d.failed
    );
    for (how, count) in &d.ended {
        println!("    {count:>5} x {how}");
    }
    println!();
    println!(
        "memory with {} pods running, {} launched (CPU: what the processes used since they started):",
        d.running, d.known
    );
    print_memory(
        "the pods' processes",
        &run.pods_memory,
        Some(d.known).filter(|n| *n > 0),
    );
    print_memory("the cluster's daemons", &run.daemons_memory, None);
}

fn print_memory(what: &str, groups: &[ProcessGroup], per_pod: Option<usize>) {
    println!(
        "  {what:<34} {:>9} {:>8} {:>11} {:>11} {:>11} {:>10}",
        "processes", "threads", "RSS", "PSS", "anon RSS", "CPU"
    );
    let line = |name: &str, g: &ProcessGroup| {
        println!(
            "    {name:<32} {:>9} {:>8} {:>11} {:>11} {:>11} {:>10}",
            g.count,
            g.threads,
            mb(Some(g.rss_kb)),
            mb(Some(g.pss_kb)),
            mb(Some(g.anon_kb)),
            secs(g.cpu)
        );
    };
    for g in groups {
        line(&g.program, g);
    }
    let all = total(groups);
    line("all", &all);
    if let Some(n) = per_pod.filter(|n| *n > 0) {
        let n64 = n as u64;
        println!(
            "    {:<32} {:>9.1} {:>8.1} {:>11} {:>11} {:>11} {:>10}",
            "per pod launched",
            all.count as f64 / n as f64,
            all.threads as f64 / n as f64,
            mb(Some(all.rss_kb / n64)),
            mb(Some(all.pss_kb / n64)),
            mb(Some(all.anon_kb / n64)),
            secs(all.cpu / u32::try_from(n).unwrap_or(u32::MAX))
        );
    }
}

fn total(groups: &[ProcessGroup]) -> ProcessGroup {
    groups
        .iter()
        .fold(ProcessGroup::default(), |a, g| ProcessGroup {
            program: String::new(),
            count: a.count + g.count,
            threads: a.threads + g.threads,
            rss_kb: a.rss_kb + g.rss_kb,
            pss_kb: a.pss_kb + g.pss_kb,
            anon_kb: a.anon_kb + g.anon_kb,
            cpu: a.cpu + g.cpu,
        })
}

/// Both runs side by side, each figure with the cores it was measured on, and Mesos' figure
/// over cairn's.
fn print_comparison(args: &DeployArgs, cairn: &DeployRun, mesos: &DeployRun) {
    let on = cores();
    println!();
    println!(
        "the same deploy on both: {} pods, {} agents, the same svc.yml, `cairn scheduler` and agent resources",
        args.pods, args.agents
    );
    for run in [cairn, mesos] {
        if run.deployed.running < args.pods {
            println!(
                "({} stopped with {} pods running{})",
                run.target,
                run.deployed.running,
                if run.deployed.running > 0 {
                    "; both compared at the pods the shorter run got running"
                } else {
                    ""
                }
            );
        }
    }
    println!();
    println!(
        "{:<34} {:>26} {:>26} {:>24}",
        "", cairn.target, mesos.target, "Mesos / cairn"
    );
    let line = |name: &str, c: String, m: String, ratio: Option<f64>| {
        println!(
            "{name:<34} {:>26} {:>26} {:>24}",
            format!("{c} {on}"),
            format!("{m} {on}"),
            ratio.map_or("?".to_string(), |r| format!("{r:.2} {on}"))
        );
    };
    let over = |m: f64, c: f64| (c > 0.0).then(|| m / c);
    let (cd, md) = (&cairn.deployed, &mesos.deployed);
    // A run that stopped short took longer than it ran to get all running: its time is a
    // bound, and so is the ratio.
    if cd.stopped_short.is_some() || md.stopped_short.is_some() {
        let all = |d: &Deployed| match d.stopped_short {
            None => (secs(d.all_running), d.all_running),
            Some(_) => (format!("> {}", secs(d.detected)), d.detected),
        };
        let ((c, ct), (m, mt)) = (all(cd), all(md));
        let ratio = match (&cd.stopped_short, &md.stopped_short) {
            (None, Some(_)) => {
                over(mt.as_secs_f64(), ct.as_secs_f64()).map(|r| format!("> {r:.2} {on}"))
            }
            (Some(_), None) => {
                over(mt.as_secs_f64(), ct.as_secs_f64()).map(|r| format!("< {r:.2} {on}"))
            }
            _ => None,
        };
        println!(
            "{:<34} {:>26} {:>26} {:>24}",
            format!("scheduler start -> all {} RUNNING", args.pods),
            format!("{c} {on}"),
            format!("{m} {on}"),
            ratio.unwrap_or_else(|| "?".to_string())
        );
    }
    // Where one run stopped short, both are compared at the pods it got running: each run's
    // time to its n-th RUNNING.
    let n = cd.running.min(md.running);
    if n > 0 {
        let at_n = |d: &Deployed| d.running_times.get(n - 1).copied().unwrap_or_default();
        let (ct, mt) = (at_n(cd), at_n(md));
        let name = if n < args.pods {
            format!("scheduler start -> {n} pods RUNNING")
        } else {
            "scheduler start -> all RUNNING".to_string()
        };
        line(
            &name,
            secs(ct),
            secs(mt),
            over(mt.as_secs_f64(), ct.as_secs_f64()),
        );
        let per_sec = |t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
        let (cr, mr) = (per_sec(ct), per_sec(mt));
        line(
            "pods per second",
            format!("{cr:.1} /s"),
            format!("{mr:.1} /s"),
            over(mr, cr),
        );
    }
    let kb = |v: Option<u64>| v.map_or(0.0, |v| v as f64);
    line(
        "scheduler peak RSS (VmHWM)",
        mb(cairn.hwm),
        mb(mesos.hwm),
        over(kb(mesos.hwm), kb(cairn.hwm)),
    );
    line(
        "scheduler RSS at the end (VmRSS)",
        mb(cairn.rss),
        mb(mesos.rss),
        over(kb(mesos.rss), kb(cairn.rss)),
    );
    // Memory per pod: the runs may have stopped at different counts.
    let (cp, mp) = (total(&cairn.pods_memory), total(&mesos.pods_memory));
    let per = |kb: u64, d: &Deployed| kb / d.known.max(1) as u64;
    // With no task listed (a master that never answered) there is no per-pod figure.
    let per = |kb: u64, d: &Deployed| (d.known > 0).then(|| per(kb, d));
    let (cpp, mpp) = (per(cp.pss_kb, cd), per(mp.pss_kb, md));
    line(
        "pods' processes, PSS per pod launched",
        mb(cpp),
        mb(mpp),
        cpp.zip(mpp).and_then(|(c, m)| over(m as f64, c as f64)),
    );
    let (cdm, mdm) = (total(&cairn.daemons_memory), total(&mesos.daemons_memory));
    line(
        "cluster daemons, PSS",
        mb(Some(cdm.pss_kb)),
        mb(Some(mdm.pss_kb)),
        over(mdm.pss_kb as f64, cdm.pss_kb as f64),
    );
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
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

/// What a process runs: its program's file name, and the subcommand after it if there is one
/// (`cairn executor`, `mesos-containerizer launch`). None for a process that is gone.
fn program_of(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let argv0 = args.next().filter(|a| !a.is_empty())?;
    let name = argv0.rsplit('/').next().unwrap_or(&argv0).to_string();
    Some(match args.next() {
        Some(sub) if !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_lowercase()) => {
            format!("{name} {sub}")
        }
        _ => name,
    })
}

/// The processes by program, with the memory each group holds.
fn memory_of(pids: &[u32]) -> Vec<ProcessGroup> {
    let mut groups: BTreeMap<String, ProcessGroup> = BTreeMap::new();
    for &pid in pids {
        let Some(program) = program_of(pid) else {
            continue;
        };
        let g = groups
            .entry(program.clone())
            .or_insert_with(|| ProcessGroup {
                program,
                ..ProcessGroup::default()
            });
        g.count += 1;
        g.threads += status_kb(pid, "Threads:").unwrap_or(0);
        g.rss_kb += status_kb(pid, "VmRSS:").unwrap_or(0);
        g.anon_kb += status_kb(pid, "RssAnon:").unwrap_or(0);
        g.pss_kb += pss_kb(pid).unwrap_or(0);
        g.cpu += cpu_time(pid).unwrap_or_default();
    }
    groups.into_values().collect()
}

/// The last lines of a log, for an error: the work dir holding it is removed after a failure.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(cairn_cluster::http_client::build_plain(|| {
        reqwest::Client::builder().tcp_nodelay(true)
    })?)
}

/// How the tasks ended, most frequent first: their last state, reason and the start of their
/// message, with counts.
fn ended_by_reason(completed: &[Task]) -> Vec<(String, usize)> {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for t in completed {
        let Some(last) = t.statuses.last() else {
            continue;
        };
        let reason = last
            .reason
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let message: String = last
            .message
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect();
        *by.entry(format!("{} {reason}: {message}", last.state))
            .or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Why the work dir cannot take more, if it cannot: under [`DISK_FLOOR_BYTES`] free on its
/// filesystem. A Mesos agent aborts when a checkpoint cannot be written, and a full disk
/// fails whatever else shares it.
fn disk_low(dir: &Path) -> Option<String> {
    let free = free_bytes(dir)?;
    (free < DISK_FLOOR_BYTES).then(|| {
        format!(
            "the disk of {} has {} free, under the {} this bench leaves free",
            dir.display(),
            mb(Some(free / 1024)),
            mb(Some(DISK_FLOOR_BYTES / 1024))
        )
    })
}

#[allow(unsafe_code)]
fn free_bytes(dir: &Path) -> Option<u64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid statvfs, both alive for the
    // call; statvfs(3) writes only into `stat`.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    // The fields' widths differ between targets; on 64-bit Linux they are u64 already.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize));
    (rc == 0).then_some(free)
}

/// Why the machine cannot take more pods, if it cannot: less memory available than
/// [`MEMORY_FLOOR_KB`] (or a sixth of it), counting free swap: idle executors are swapped
/// out, not killed. Past this the kernel could have to kill some process, maybe not one of
/// ours.
fn memory_low() -> Option<String> {
    let available = meminfo_kb("MemAvailable:")? + meminfo_kb("SwapFree:").unwrap_or(0);
    let total = meminfo_kb("MemTotal:")? + meminfo_kb("SwapTotal:").unwrap_or(0);
    let floor = MEMORY_FLOOR_KB.min(total / 6);
    (available < floor).then(|| {
        format!(
            "the machine has {} of {} memory and swap available, under the {} this bench leaves free",
            mb(Some(available)),
            mb(Some(total)),
            mb(Some(floor))
        )
    })
}

/// Resolves, with the reason, once [`memory_low`] says the machine is low on memory.
async fn memory_running_low() -> String {
    loop {
        tokio::time::sleep(POLL).await;
        if let Some(why) = memory_low() {
            return why;
        }
    }
}

/// User + system CPU time of a process so far (`/proc/<pid>/stat` fields 14 and 15).
pub(super) fn cpu_time(pid: u32) -> Option<Duration> {
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
/// in its environment, and every process that names it on its command line (one that escaped
/// its daemon's stop), until none is left or a deadline passes; returns how many remain.
/// Sessions are found by environment only: a process that merely names the dir on its command
/// line (someone's `tail -f` of a log) may lead nothing of ours.
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
        let mut left: Vec<u32> = pids()
            .filter(|&pid| session_of(pid).is_some_and(|s| sessions.binary_search(&s).is_ok()))
            .chain(bench_mesos::processes_mentioning(work_dir))
            .collect();
        left.sort_unstable();
        left.dedup();
        if left.is_empty() || Instant::now() >= deadline {
            return left.len();
        }
        for pid in left {
            send_signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
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
