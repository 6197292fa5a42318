//! `cairn bench cluster`: how fast the embedded cluster launches pods, and what it costs.
//!
//! The cluster runs as a separate `cairn cluster` process, exactly as a user runs it, and this
//! process acts as a scheduler over the v1 HTTP API: it launches N one-task pods (LAUNCH_GROUP,
//! `sleep 3600`), spreading what is left to launch over the offers of each OFFERS event (all of
//! it at once by default; `--max-per-offer` paces it), and acknowledges every update. It
//! measures
//!
//! * launches per second: N / (first ACCEPT sent → last TASK_RUNNING received),
//! * per-pod launch latency: its ACCEPT sent → its TASK_RUNNING received (p50, p99),
//! * the cluster process's resident memory once all N pods run,
//!
//! then tears the framework down, waits until every task is gone, stops the cluster and kills
//! whatever pod process is left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cairn_proto::scheduler::{Call, Event, EventType};
use cairn_proto::{
    AgentId, CommandInfo, ExecutorId, ExecutorInfo, ExecutorType, Filters, FrameworkId,
    FrameworkInfo, Offer, OfferOperation, Resource, TaskGroupInfo, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::procfs::{pss_kb, send_signal, status_kb};
use crate::duration;
use crate::mesos_client::{operator_call, EventStream, SchedulerClient};

/// Room for tens of thousands of tiny pods per agent, so that offers never run dry.
const AGENT_RESOURCES: &str = "cpus:400;mem:400000;disk:400000;ports:[31000-32000]";
const TASK_CPUS: f64 = 0.01;
const TASK_MEM: f64 = 1.0;
/// Mesos' floor for a task group's executor: 0.01 CPUs, 32 MB and some disk.
const EXECUTOR_CPUS: f64 = 0.01;
const EXECUTOR_MEM: f64 = 32.0;
const EXECUTOR_DISK: f64 = 1.0;
const TASK_COMMAND: &str = "sleep 3600";
/// Offers left over once every pod is launched are refused for this long, so they stop coming.
const REFUSE_WHEN_DONE_SECS: f64 = 3600.0;
/// Calls in flight at once: enough to keep up, few enough not to swamp two cores.
const MAX_CALLS_IN_FLIGHT: usize = 16;
const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(60);
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(300);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

const TARGET_LAUNCHES_PER_SEC: f64 = 100.0;
const TARGET_P99_SECS: f64 = 1.0;
const TARGET_RSS_MB: f64 = 100.0;

#[derive(Args, Debug)]
pub struct ClusterBenchArgs {
    /// How many one-task pods to launch.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// How many agents the cluster has.
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Where the cluster keeps its state; must be empty or absent (default: a fresh
    /// temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work dir afterwards (checkpoints, sandboxes, the cluster's log).
    #[arg(long)]
    keep: bool,
    /// The cluster's allocation interval.
    #[arg(long, default_value = "50ms", value_parser = duration::parse)]
    allocation_interval: Duration,
    /// At most this many pods per ACCEPT (0: as many as the offer holds).
    #[arg(long, default_value_t = 0)]
    max_per_offer: usize,
    /// Give up if the pods are not all running within this time.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    timeout: Duration,
}

pub fn run_cluster_bench(args: ClusterBenchArgs) -> anyhow::Result<()> {
    if args.tasks == 0 || args.agents == 0 {
        bail!("--tasks and --agents must be at least 1");
    }
    // One thread: the scheduler side should take as little as possible from the cluster it
    // measures, and it mostly waits on sockets anyway.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: ClusterBenchArgs) -> anyhow::Result<()> {
    let work_dir = prepare_work_dir(args.work_dir.as_deref())?;
    eprintln!("bench: work dir {}", work_dir.display());
    let mut cluster = ClusterProcess::start(&work_dir, &args).await?;
    let measured = measure(&cluster, &args).await;
    let stopped = cluster.stop().await;
    // A failed run keeps its work dir: the cluster's log there says what went wrong.
    if args.keep || measured.is_err() || stopped.is_err() {
        eprintln!("bench: kept {}", work_dir.display());
    } else {
        std::fs::remove_dir_all(&work_dir)
            .with_context(|| format!("removing {}", work_dir.display()))?;
    }
    let report = measured?;
    stopped?;
    report.print(&args);
    Ok(())
}

fn prepare_work_dir(asked: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match asked {
        Some(dir) => std::path::absolute(dir)?,
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            let name = format!("cairn-bench-{}-{nanos}", std::process::id());
            std::env::temp_dir().join(name)
        }
    };
    // A cluster recovers what it finds in its work dir: old agents and tasks would skew the run.
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} is not empty; give an empty or new --work-dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// The measurement
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Pod {
    agent: Option<AgentId>,
    accepted: Option<Instant>,
    starting: Option<Instant>,
    running: Option<Instant>,
}

struct Report {
    tasks: usize,
    agents: usize,
    subscribe_to_first_offer: Duration,
    launch_window: Duration,
    latency: Vec<Duration>,
    to_starting: Vec<Duration>,
    starting_to_running: Vec<Duration>,
    cluster_rss_kb: u64,
    pod_processes: usize,
    /// Proportional set size: RSS would count the executor binary's shared pages once per pod.
    pod_processes_pss_kb: u64,
    accept_calls: Vec<CallDone>,
    offer_gaps: Vec<Duration>,
    teardown: Duration,
}

/// What the scheduler loop sees: an event with the moment it was decoded, or the end of input.
type Received = (Instant, anyhow::Result<Option<Event>>);

/// Launches every pod, takes the cluster's footprint once they all run, then tears the
/// framework down.
async fn measure(cluster: &ClusterProcess, args: &ClusterBenchArgs) -> anyhow::Result<Report> {
    let mut subscription = subscribe(cluster, args).await?;
    let mut launch = Launch::new(args.tasks);
    launch.until_all_running(&mut subscription, args).await?;
    // Everything runs: this is the footprint the target is about.
    let footprint = Footprint::sample(cluster)?;
    launch.finish_calls().await?;
    let mut report = Report::new(args, subscription.subscribed_at, launch, footprint);
    eprintln!("bench: all {} pods running; tearing down", args.tasks);
    report.teardown = tear_down(subscription, cluster).await?;
    Ok(report)
}

/// The bench's framework, subscribed.
struct Subscription {
    http: reqwest::Client,
    client: SchedulerClient,
    fid: FrameworkId,
    /// Taken just before the SUBSCRIBE: where the wait for the first offer starts.
    subscribed_at: Instant,
    events: mpsc::UnboundedReceiver<Received>,
    reader: JoinHandle<()>,
}

/// Subscribes a framework with the cluster's credential and starts reading its events.
async fn subscribe(
    cluster: &ClusterProcess,
    args: &ClusterBenchArgs,
) -> anyhow::Result<Subscription> {
    let http =
        cairn_cluster::http_client::build_plain(|| reqwest::Client::builder().tcp_nodelay(true))?;
    // What cairn's own services run as by default; a cluster running as root switches each
    // executor to it, as it would theirs.
    let mut info = FrameworkInfo::new("nobody", "cairn-bench");
    // If this process dies, the master tears the framework down at once and kills the pods.
    info.failover_timeout = Some(0.0);
    let subscribed_at = Instant::now();
    // The principal the cluster generated a credential for (the master fills it in).
    let (credential, _) = cairn_cluster::auth::ensure_credential(
        &cluster
            .cluster_dir
            .join(cairn_cluster::auth::CREDENTIALS_FILE),
        cairn_cluster::auth::DEFAULT_PRINCIPAL,
    )?;
    let (client, stream) =
        SchedulerClient::subscribe(http.clone(), &cluster.master, info, Some(&credential)).await?;
    let fid = client.framework_id().clone();
    eprintln!("bench: subscribed as {fid}; launching {} pods", args.tasks);

    // Events are read and timestamped on their own task, so a slow call never delays a stamp.
    let (tx, events) = mpsc::unbounded_channel::<Received>();
    let reader = tokio::spawn(read_events(stream, tx));
    Ok(Subscription {
        http,
        client,
        fid,
        subscribed_at,
        events,
        reader,
    })
}

/// The launch as the scheduler sees it: what each pod went through, the calls it sent and the
/// offers it got.
struct Launch {
    pods: Vec<Pod>,
    launched: usize,
    running: usize,
    first_offer: Option<Instant>,
    last_offer: HashMap<AgentId, Instant>,
    /// Gaps between offers of one agent: the allocation interval, unless the cluster is too
    /// busy to allocate on time.
    offer_gaps: Vec<Duration>,
    calls: JoinSet<anyhow::Result<CallDone>>,
    accept_calls: Vec<CallDone>,
    in_flight: Arc<Semaphore>,
}

impl Launch {
    fn new(tasks: usize) -> Launch {
        Launch {
            pods: (0..tasks).map(|_| Pod::default()).collect(),
            launched: 0,
            running: 0,
            first_offer: None,
            last_offer: HashMap::new(),
            offer_gaps: Vec::new(),
            calls: JoinSet::new(),
            accept_calls: Vec::new(),
            in_flight: Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT)),
        }
    }

    /// The scheduler's loop: launches pods on the offers and acknowledges the updates until
    /// every pod runs; fails at the timeout, on an ERROR, or if a pod ends first.
    async fn until_all_running(
        &mut self,
        subscription: &mut Subscription,
        args: &ClusterBenchArgs,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + args.timeout;
        while self.running < args.tasks {
            let (at, event) = tokio::select! {
                received = subscription.events.recv() => received.context("the event reader stopped")?,
                _ = tokio::time::sleep_until(deadline) => bail!(
                    "timed out after {:?}: {} of {} pods launched, {} running",
                    args.timeout, self.launched, args.tasks, self.running
                ),
                Some(done) = self.calls.join_next() => {
                    self.record(done)?;
                    continue;
                }
            };
            let event = event?.context("the master closed the event stream")?;
            match event.type_ {
                EventType::Offers => {
                    let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                    self.answer_offers(at, offers, subscription, args).await;
                }
                EventType::Update => {
                    let status = event.update.context("UPDATE without 'update'")?.status;
                    self.handle_update(at, status, subscription).await?;
                }
                EventType::Error => bail!(
                    "the master sent ERROR: {}",
                    event.error.map(|e| e.message).unwrap_or_default()
                ),
                EventType::Failure => eprintln!("bench: FAILURE event: {:?}", event.failure),
                _ => {}
            }
        }
        Ok(())
    }

    /// Launches on the offers of one OFFERS event their share of the pods left to launch, and
    /// declines those that get none.
    async fn answer_offers(
        &mut self,
        at: Instant,
        offers: Vec<Offer>,
        subscription: &Subscription,
        args: &ClusterBenchArgs,
    ) {
        self.first_offer.get_or_insert(at);
        let fid = &subscription.fid;
        // Spread the pods over the agents offered together, as a scheduler placing pods on
        // distinct hosts would, rather than piling them on the first.
        let share = (args.tasks - self.launched).div_ceil(offers.len().max(1));
        for offer in offers {
            if let Some(last) = self.last_offer.insert(offer.agent_id.clone(), at) {
                self.offer_gaps.push(at - last);
            }
            let want = share
                .min(args.tasks - self.launched)
                .min(match args.max_per_offer {
                    0 => usize::MAX,
                    n => n,
                });
            let count = pods_that_fit(&offer).min(want);
            let call = if count == 0 {
                let refuse = if self.launched == args.tasks {
                    REFUSE_WHEN_DONE_SECS
                } else {
                    0.0
                };
                Call::decline(fid.clone(), vec![offer.id.clone()], Some(filters(refuse)))
            } else {
                let pods = self.launched..self.launched + count;
                let ops = pods
                    .clone()
                    .map(|i| launch_pod(i, fid, &offer.agent_id))
                    .collect();
                for pod in &mut self.pods[pods] {
                    pod.agent = Some(offer.agent_id.clone());
                }
                self.launched += count;
                // Refuse nothing: what the pods leave over is offered again next round.
                Call::accept(fid.clone(), vec![offer.id.clone()], ops, Some(filters(0.0)))
            };
            let first_pod = self.launched - count;
            let pods = first_pod..self.launched;
            spawn_call(
                &mut self.calls,
                &self.in_flight,
                &subscription.client,
                call,
                pods,
            )
            .await;
        }
    }

    /// Acknowledges an update and stamps when its pod reached STARTING and RUNNING.
    async fn handle_update(
        &mut self,
        at: Instant,
        status: TaskStatus,
        subscription: &Subscription,
    ) -> anyhow::Result<()> {
        let i = pod_index(&status.task_id)
            .filter(|&i| i < self.pods.len())
            .with_context(|| format!("an update for a task not ours: {status:?}"))?;
        if let Some(uuid) = status.uuid.clone() {
            let agent = status
                .agent_id
                .clone()
                .or_else(|| self.pods[i].agent.clone())
                .unwrap_or_default();
            let ack = Call::acknowledge(
                subscription.fid.clone(),
                agent,
                status.task_id.clone(),
                uuid,
            );
            spawn_call(
                &mut self.calls,
                &self.in_flight,
                &subscription.client,
                ack,
                0..0,
            )
            .await;
        }
        let pod = &mut self.pods[i];
        match status.state {
            TaskState::Starting => {
                pod.starting.get_or_insert(at);
            }
            TaskState::Running if pod.running.is_none() => {
                pod.running = Some(at);
                self.running += 1;
            }
            state if state.is_terminal() => bail!(
                "pod {i} ended before all were running: {state} ({})",
                describe(&status)
            ),
            _ => {}
        }
        Ok(())
    }

    /// Keeps an answered call if it launched pods; a call that failed fails the run.
    fn record(&mut self, done: Result<anyhow::Result<CallDone>, JoinError>) -> anyhow::Result<()> {
        let done = done??;
        if !done.pods.is_empty() {
            self.accept_calls.push(done);
        }
        Ok(())
    }

    /// Waits for the calls still in flight, then stamps each pod with when its ACCEPT was sent.
    async fn finish_calls(&mut self) -> anyhow::Result<()> {
        while let Some(done) = self.calls.join_next().await {
            self.record(done)?;
        }
        for call in &self.accept_calls {
            for pod in &mut self.pods[call.pods.clone()] {
                pod.accepted = Some(call.sent);
            }
        }
        Ok(())
    }
}

/// The memory the cluster and its pods hold.
struct Footprint {
    cluster_rss_kb: u64,
    pod_processes: usize,
    pod_processes_pss_kb: u64,
}

impl Footprint {
    fn sample(cluster: &ClusterProcess) -> anyhow::Result<Footprint> {
        let cluster_rss_kb =
            status_kb(cluster.pid, "VmRSS:").context("reading the cluster's VmRSS")?;
        let pod_pids = pod_processes(&cluster.cluster_dir);
        let pod_processes_pss_kb = pod_pids.iter().filter_map(|&p| pss_kb(p)).sum();
        Ok(Footprint {
            cluster_rss_kb,
            pod_processes: pod_pids.len(),
            pod_processes_pss_kb,
        })
    }
}

impl Report {
    /// The figures of a launch in which every pod runs and every call was answered; the
    /// teardown is timed after.
    fn new(
        args: &ClusterBenchArgs,
        subscribed_at: Instant,
        launch: Launch,
        footprint: Footprint,
    ) -> Report {
        let Launch {
            pods,
            first_offer,
            mut offer_gaps,
            accept_calls,
            ..
        } = launch;
        Report {
            tasks: args.tasks,
            agents: args.agents,
            subscribe_to_first_offer: first_offer.unwrap_or(subscribed_at) - subscribed_at,
            launch_window: {
                let first = pods.iter().filter_map(|p| p.accepted).min();
                let last = pods.iter().filter_map(|p| p.running).max();
                match (first, last) {
                    (Some(f), Some(l)) => l - f,
                    _ => Duration::ZERO,
                }
            },
            latency: durations(&pods, |p| Some(p.running? - p.accepted?)),
            to_starting: durations(&pods, |p| Some(p.starting? - p.accepted?)),
            starting_to_running: durations(&pods, |p| Some(p.running? - p.starting?)),
            cluster_rss_kb: footprint.cluster_rss_kb,
            pod_processes: footprint.pod_processes,
            pod_processes_pss_kb: footprint.pod_processes_pss_kb,
            accept_calls,
            offer_gaps: {
                offer_gaps.sort_unstable();
                offer_gaps
            },
            teardown: Duration::ZERO,
        }
    }
}

/// Tears the framework down and waits until none of its tasks or pod processes is left;
/// returns how long that took.
async fn tear_down(
    subscription: Subscription,
    cluster: &ClusterProcess,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    subscription
        .client
        .call(&Call::teardown(subscription.fid.clone()))
        .await?;
    wait_until_gone(&subscription.http, cluster, &subscription.fid).await?;
    subscription.reader.abort();
    Ok(started.elapsed())
}

async fn read_events(mut events: EventStream, tx: mpsc::UnboundedSender<Received>) {
    loop {
        let event = events.next().await;
        let end = !matches!(event, Ok(Some(_)));
        if tx.send((Instant::now(), event)).is_err() || end {
            return;
        }
    }
}

/// A call answered: the pods it launched (none for anything but an ACCEPT that launches),
/// when it was sent, and how long the master took to answer it.
struct CallDone {
    pods: std::ops::Range<usize>,
    sent: Instant,
    took: Duration,
}

/// Sends a call on its own task, at most MAX_CALLS_IN_FLIGHT at once: the ACCEPT of a big batch
/// is answered only after the agent started its executors, and the event loop must not wait
/// for that.
async fn spawn_call(
    calls: &mut JoinSet<anyhow::Result<CallDone>>,
    in_flight: &Arc<Semaphore>,
    client: &SchedulerClient,
    call: Call,
    pods: std::ops::Range<usize>,
) {
    let permit = in_flight.clone().acquire_owned().await;
    let client = client.clone();
    calls.spawn(async move {
        let _permit = permit;
        // Stamped here, not when queued: a launch's latency starts when its ACCEPT leaves.
        let sent = Instant::now();
        client.call(&call).await?;
        Ok(CallDone {
            pods,
            sent,
            took: sent.elapsed(),
        })
    });
}

fn filters(refuse_seconds: f64) -> Filters {
    Filters {
        refuse_seconds: Some(refuse_seconds),
    }
}

fn pods_that_fit(offer: &Offer) -> usize {
    let scalar = |name: &str| -> f64 {
        offer
            .resources
            .iter()
            .filter(|r| r.name == name)
            .map(Resource::scalar_value)
            .sum()
    };
    // A hair of slack: offered scalars are rounded to three decimals.
    let by_cpus = (scalar("cpus") + 1e-9) / (TASK_CPUS + EXECUTOR_CPUS);
    let by_mem = (scalar("mem") + 1e-9) / (TASK_MEM + EXECUTOR_MEM);
    let by_disk = (scalar("disk") + 1e-9) / EXECUTOR_DISK;
    by_cpus.min(by_mem).min(by_disk).floor().max(0.0) as usize
}

fn launch_pod(i: usize, fid: &cairn_proto::FrameworkId, agent: &AgentId) -> OfferOperation {
    let executor = ExecutorInfo {
        type_: Some(ExecutorType::Default),
        executor_id: ExecutorId::new(format!("bench-{i}")),
        framework_id: Some(fid.clone()),
        resources: vec![
            Resource::scalar("cpus", EXECUTOR_CPUS),
            Resource::scalar("mem", EXECUTOR_MEM),
            Resource::scalar("disk", EXECUTOR_DISK),
        ],
        ..Default::default()
    };
    let task = TaskInfo {
        name: format!("bench-{i}"),
        task_id: TaskId::new(format!("bench-{i}")),
        agent_id: agent.clone(),
        command: Some(CommandInfo::shell(TASK_COMMAND)),
        resources: vec![
            Resource::scalar("cpus", TASK_CPUS),
            Resource::scalar("mem", TASK_MEM),
        ],
        ..Default::default()
    };
    OfferOperation::launch_group(executor, TaskGroupInfo { tasks: vec![task] })
}

fn pod_index(task: &TaskId) -> Option<usize> {
    task.value.strip_prefix("bench-")?.parse().ok()
}

fn describe(status: &TaskStatus) -> String {
    format!(
        "reason {:?}, source {:?}, message {:?}",
        status.reason, status.source, status.message
    )
}

fn durations(pods: &[Pod], f: impl Fn(&Pod) -> Option<Duration>) -> Vec<Duration> {
    let mut d: Vec<Duration> = pods.iter().filter_map(f).collect();
    d.sort_unstable();
    d
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Polls the operator API until the master lists no live task of the framework and no pod
/// process is left on the machine.
async fn wait_until_gone(
    http: &reqwest::Client,
    cluster: &ClusterProcess,
    fid: &cairn_proto::FrameworkId,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + TEARDOWN_TIMEOUT;
    loop {
        let tasks = operator_call(
            http,
            &cluster.master,
            None,
            &serde_json::json!({"type": "GET_TASKS"}),
        )
        .await?;
        let live = tasks["get_tasks"]["tasks"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter(|t| t["framework_id"]["value"] == fid.value.as_str())
                    .count()
            })
            .unwrap_or(0);
        let processes = pod_processes(&cluster.cluster_dir).len();
        if live == 0 && processes == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{live} tasks still live and {processes} pod processes left {TEARDOWN_TIMEOUT:?} after TEARDOWN"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Report {
    fn print(&self, args: &ClusterBenchArgs) {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let on = format!("({cores} cores)");
        let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());
        let launches_per_sec = self.tasks as f64 / self.launch_window.as_secs_f64().max(1e-9);
        let p50 = percentile(&self.latency, 50.0);
        let p99 = percentile(&self.latency, 99.0);
        let rss_mb = self.cluster_rss_kb as f64 / 1024.0;
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };

        println!();
        println!(
            "cairn cluster benchmark: {} one-task pods (LAUNCH_GROUP, `{TASK_COMMAND}`), {} agents, allocation interval {:?}",
            self.tasks, self.agents, args.allocation_interval
        );
        println!();
        println!("{:<34} {:>24}   {:<12} ", "figure", "measured", "target");
        let row = |name: &str, value: String, target: &str, ok: Option<bool>| {
            println!(
                "{name:<34} {:>24}   {target:<12} {}",
                format!("{value} {on}"),
                ok.map(verdict).unwrap_or("")
            );
        };
        row(
            "launches per second",
            format!("{launches_per_sec:.1} /s"),
            ">= 100 /s",
            Some(launches_per_sec >= TARGET_LAUNCHES_PER_SEC),
        );
        row("launch -> RUNNING latency p50", secs(p50), "", None);
        row(
            "launch -> RUNNING latency p99",
            secs(p99),
            "<= 1 s",
            Some(p99.as_secs_f64() <= TARGET_P99_SECS),
        );
        row(
            "cluster RSS, all pods running",
            format!("{rss_mb:.1} MB"),
            "<= 100 MB",
            Some(rss_mb <= TARGET_RSS_MB),
        );
        println!();
        println!("details:");
        println!(
            "  first ACCEPT -> last RUNNING        {}",
            secs(self.launch_window)
        );
        println!(
            "  SUBSCRIBE -> first offer            {}",
            secs(self.subscribe_to_first_offer)
        );
        println!(
            "  offers of one agent, gap p50 / p99  {} / {} (allocation interval {:?})",
            secs(percentile(&self.offer_gaps, 50.0)),
            secs(percentile(&self.offer_gaps, 99.0)),
            args.allocation_interval
        );
        let (pods, took) = self
            .accept_calls
            .iter()
            .fold((0, Duration::ZERO), |(n, t), c| {
                (n + c.pods.len(), t + c.took)
            });
        let slowest = self.accept_calls.iter().map(|c| c.took).max();
        println!(
            "  ACCEPT calls                        {} for {pods} pods; answered in {} in all, slowest {}",
            self.accept_calls.len(),
            secs(took),
            secs(slowest.unwrap_or_default())
        );
        // Growth from the first calls to the last ones shows work that scales with live pods.
        if self.accept_calls.len() >= 10 {
            let tenth = self.accept_calls.len() / 10;
            let per_pod = |calls: &[CallDone]| {
                let (pods, took) = calls.iter().fold((0u32, Duration::ZERO), |(n, t), c| {
                    (n + c.pods.len() as u32, t + c.took)
                });
                took / pods.max(1)
            };
            println!(
                "  ACCEPT answer time per pod          {} in the first tenth of calls, {} in the last",
                secs(per_pod(&self.accept_calls[..tenth])),
                secs(per_pod(&self.accept_calls[self.accept_calls.len() - tenth..]))
            );
        }
        println!(
            "  ACCEPT -> STARTING      p50 / p99   {} / {}",
            secs(percentile(&self.to_starting, 50.0)),
            secs(percentile(&self.to_starting, 99.0))
        );
        println!(
            "  STARTING -> RUNNING     p50 / p99   {} / {}",
            secs(percentile(&self.starting_to_running, 50.0)),
            secs(percentile(&self.starting_to_running, 99.0))
        );
        println!(
            "  max launch -> RUNNING               {}",
            secs(self.latency.last().copied().unwrap_or_default())
        );
        println!(
            "  pod processes (executors + tasks)   {} using {:.1} MB PSS in all",
            self.pod_processes,
            self.pod_processes_pss_kb as f64 / 1024.0
        );
        println!(
            "  TEARDOWN -> all gone                {}",
            secs(self.teardown)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster process and the pods it leaves behind
// ---------------------------------------------------------------------------------------------

/// `cairn cluster` as a child process. Its pods' executors lead sessions of their own and
/// outlive it by design, so stopping it also kills what is left of them.
struct ClusterProcess {
    child: Child,
    pid: u32,
    master: String,
    cluster_dir: PathBuf,
    /// Held open so that the cluster never writes into a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
    stopped: bool,
}

impl ClusterProcess {
    async fn start(work_dir: &Path, args: &ClusterBenchArgs) -> anyhow::Result<Self> {
        let cluster_dir = work_dir.join("cluster");
        let log_path = work_dir.join("cluster.log");
        let log = std::fs::File::create(&log_path)?;
        let exe = std::env::current_exe().context("finding the cairn executable")?;
        let mut child = tokio::process::Command::new(&exe)
            .arg("cluster")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--agents", &args.agents.to_string()])
            .arg("--work-dir")
            .arg(&cluster_dir)
            .args(["--agent-resources", AGENT_RESOURCES])
            .args([
                "--allocation-interval",
                &format!("{}ms", args.allocation_interval.as_millis()),
            ])
            .args(["--heartbeat-interval", "5s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} cluster", exe.display()))?;
        let pid = child.id().context("the cluster exited at once")?;
        let mut stdout = BufReader::new(child.stdout.take().context("cluster stdout")?).lines();
        let ready = tokio::time::timeout(CLUSTER_START_TIMEOUT, async {
            while let Some(line) = stdout.next_line().await? {
                let master = line.strip_prefix("cairn cluster ready ").and_then(|rest| {
                    rest.split_whitespace()
                        .find_map(|kv| kv.strip_prefix("master="))
                });
                if let Some(master) = master {
                    return Ok(Some(master.to_string()));
                }
            }
            anyhow::Ok(None)
        })
        .await;
        // On failure `child` is dropped, which kills it; no pod can have started yet.
        let master = match ready {
            Ok(Ok(Some(master))) => master,
            outcome => {
                let why = match outcome {
                    Err(_) => format!("no ready line within {CLUSTER_START_TIMEOUT:?}"),
                    Ok(Err(e)) => format!("{e:#}"),
                    Ok(Ok(_)) => "it exited".to_string(),
                };
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("`cairn cluster` did not start: {why}; its log:\n{log}");
            }
        };
        eprintln!("bench: cluster pid {pid} at {master}");
        Ok(ClusterProcess {
            child,
            pid,
            master,
            cluster_dir,
            _stdout: stdout,
            stopped: false,
        })
    }

    /// SIGTERM, then SIGKILL if it lingers; then kill any pod process still alive.
    async fn stop(&mut self) -> anyhow::Result<()> {
        self.stopped = true;
        send_signal(self.pid, libc::SIGTERM);
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("bench: the cluster ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
            self.child.kill().await?;
        }
        let left = kill_pod_sessions(&self.cluster_dir);
        if left > 0 {
            bail!("{left} pod processes could not be killed");
        }
        Ok(())
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.start_kill();
            kill_pod_sessions(&self.cluster_dir);
        }
    }
}

/// Every process in the session of a pod of this cluster: each `cairn executor` leads a
/// session, and it and its tasks carry their sandbox, under the cluster's work dir, in their
/// environment. Matching on the environment also finds tasks whose executor already died.
fn pod_processes(cluster_dir: &Path) -> Vec<u32> {
    let needle = cluster_dir.as_os_str().as_encoded_bytes();
    let own = session_of(std::process::id());
    let mut sessions: Vec<u32> = pids()
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
        })
        .filter_map(session_of)
        .filter(|&sid| Some(sid) != own)
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    if sessions.is_empty() {
        return Vec::new();
    }
    pids()
        .filter(|&pid| session_of(pid).is_some_and(|sid| sessions.binary_search(&sid).is_ok()))
        .collect()
}

/// Kills the pods' processes until none is left or a deadline passes; returns how many remain.
fn kill_pod_sessions(cluster_dir: &Path) -> usize {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let left = pod_processes(cluster_dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left.len();
        }
        for pid in left {
            send_signal(pid, libc::SIGKILL);
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
    // After the command name, which may hold spaces and ')': state, ppid, pgrp, session.
    stat[stat.rfind(')')? + 2..].split(' ').nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let d = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&d, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms(&[7]), 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn an_offer_fits_as_many_pods_as_its_scarcest_resource_allows() {
        // A pod takes 0.02 CPUs, 33 MB and 1 MB of disk (its task and its executor).
        let offer = |cpus: f64, mem: f64, disk: f64| Offer {
            resources: vec![
                Resource::scalar("cpus", cpus),
                Resource::scalar("mem", mem),
                Resource::scalar("disk", disk),
            ],
            ..Default::default()
        };
        assert_eq!(pods_that_fit(&offer(1.0, 15.0 * 33.0, 100.0)), 15);
        assert_eq!(pods_that_fit(&offer(0.1, 1000.0, 100.0)), 5);
        assert_eq!(pods_that_fit(&offer(1.0, 1000.0, 3.0)), 3);
    }

    #[test]
    fn pods_are_found_again_from_their_task_ids() {
        assert_eq!(pod_index(&TaskId::new("bench-42")), Some(42));
        assert_eq!(pod_index(&TaskId::new("other-42")), None);
    }
}
