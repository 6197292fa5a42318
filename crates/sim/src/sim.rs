//! One seeded run: a scheduler over a [`MemStore`] against a [`Cluster`], a fault phase, a
//! liveness phase, and the safety and liveness invariants checked as it goes.
//!
//! The invariants, numbered as failures name them: 1 at most one live incarnation per pod
//! instance; 2 no volume destroyed, no data lost, without replace, decommission, uninstall or
//! the permanent-failure timeout; 3 persist before launch; 4 no acknowledged status lost;
//! 5 no reservation leaked; 6 healthy tasks survive a scheduler restart; 7 liveness: every plan
//! COMPLETE within a bound after faults stop, and COMPLETE means running; 8 task ids are never
//! reused; 9 one framework per service.
//!
//! The scheduler is driven exactly as the sdk's driver drives it: poll every action after every
//! input, commit write batches in order and report them, send calls, restart from the store
//! after a failed commit. The simulator adds what a datacenter adds: crashes between any two
//! writes, failed writes, dropped streams, lost agents, crashed tasks, late, duplicated and
//! reordered updates, rescinded offers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use cairn_core::plan::Status;
use cairn_core::scheduler::{Action, Scheduler, SchedulerConfig, TakeoverChoice, TakeoverRefusal};
use cairn_core::spec::{Goal, PodInstanceName, ServiceSpec};
use cairn_core::store::{
    task_info_key, task_status_key, MemStore, Store, StoredState, FRAMEWORK_ID,
};
use cairn_core::Time;
use cairn_proto::scheduler::{Call, CallType, Event, EventType};
use cairn_proto::{TaskInfo, TaskState, TaskStatus};

use crate::cluster::{pod_name, AgentState, Cluster, Observed};
use crate::rng::Rng;
use crate::shape::{self, AGENT_RESOURCES};

/// Wall-clock origin of every run (the core takes epoch milliseconds).
const EPOCH_MS: u64 = 1_700_000_000_000;

/// Fault probabilities. `per step` ones are drawn once per simulated step during the fault
/// phase; `per write` ones at every write batch the scheduler emits.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Per step: a random live task crashes (TASK_FAILED).
    pub task_crash: f64,
    /// Per step: a random agent dies with its tasks (it may return).
    pub agent_loss: f64,
    /// Per step: a dead agent returns with its reservations and volumes.
    pub agent_return: f64,
    /// Per step: an agent is partitioned away (its tasks run on unseen).
    pub agent_partition: f64,
    /// Per step: a partition heals.
    pub agent_heal: f64,
    /// Per step: the scheduler process dies between two inputs (not only between writes).
    pub scheduler_crash_step: f64,
    /// Per step: an agent is removed for good (a fresh one joins in the liveness phase). Its
    /// pods are replaced elsewhere by the permanent-failure timer (20 min), one per min replace
    /// delay (10 min): the liveness bound grows by 10 minutes per pod instance when an agent
    /// was removed.
    pub agent_gone: f64,
    /// Per delivered reliable update: it is delivered twice.
    pub duplicate: f64,
    /// Upper bound of an update's delay (ms); delays differ per update, so updates of
    /// different tasks reorder. One task's stream keeps its order.
    pub max_delay_ms: u64,
    /// Per step: an outstanding offer is rescinded.
    pub rescind: f64,
    /// Per step: the subscription stream drops.
    pub disconnect: f64,
    /// Per step: an agent restarts without the checkpoint of one of its executors: that
    /// executor's tasks died and are forgotten, the master reports them TASK_GONE, and the
    /// agent stays registered with the pod's reservations and volumes.
    pub executor_forgotten: f64,
    /// Per scheduler restart: the store comes back without a key: its `FrameworkID`, or the
    /// `TaskInfo` of a task the master runs. The operator answers the takeover check's refusal
    /// as it says (`--adopt-framework`).
    pub store_loss: f64,
    /// Per write: the store refuses the batch (the scheduler stops; the driver restarts it).
    pub write_failure: f64,
    /// Per write: the scheduler process dies before the batch is written.
    pub scheduler_crash: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            task_crash: 0.02,
            agent_loss: 0.004,
            agent_return: 0.02,
            agent_partition: 0.003,
            agent_heal: 0.03,
            scheduler_crash_step: 0.003,
            agent_gone: 0.002,
            duplicate: 0.05,
            max_delay_ms: 3_000,
            rescind: 0.02,
            disconnect: 0.004,
            executor_forgotten: 0.003,
            store_loss: 0.2,
            write_failure: 0.01,
            scheduler_crash: 0.01,
        }
    }
}

/// How long a run is.
#[derive(Debug, Clone)]
pub struct Options {
    /// Simulated time per step (ms).
    pub step_ms: u64,
    /// Length of the fault phase (simulated ms).
    pub fault_ms: u64,
    /// Every plan must be COMPLETE this long after faults stop, else a liveness violation.
    pub liveness_ms: u64,
    /// After COMPLETE, how long the run goes on before the leak check (cleanup may trail).
    pub settle_ms: u64,
    /// How many trace lines a failure shows.
    pub trace_lines: usize,
    /// The faults.
    pub faults: Faults,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step_ms: 500,
            fault_ms: 120_000,
            liveness_ms: 1_800_000,
            settle_ms: 30_000,
            trace_lines: 40,
            faults: Faults::default(),
        }
    }
}

/// What a passing run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Steps simulated.
    pub steps: u64,
    /// Scheduler restarts (crashes and failed writes).
    pub restarts: u64,
    /// Faults injected.
    pub faults: u64,
    /// Tasks launched.
    pub launches: u64,
    /// Simulated ms until every plan was COMPLETE after faults stopped.
    pub liveness_ms: u64,
    /// Takeover checks that refused a store that lost its framework id, answered with
    /// `--adopt-framework`.
    pub adoptions: u64,
    /// Task records the takeover check rebuilt from the master.
    pub rebuilt: u64,
    /// Takeover checks answered with `--force` (a pod's record lost after its task died).
    pub forced: u64,
}

/// An invariant broke.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed that replays it.
    pub seed: u64,
    /// Which invariant, by its number in the module's list where it has one.
    pub invariant: &'static str,
    /// What was seen.
    pub message: String,
    /// Simulated ms at the violation.
    pub at_ms: u64,
    /// The last lines of the trace.
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} violated {} at {}ms: {}",
            self.seed, self.invariant, self.at_ms, self.message
        )?;
        writeln!(
            f,
            "replay: CAIRN_SEED={} cargo test -p cairn-sim replay",
            self.seed
        )?;
        writeln!(f, "trace tail:")?;
        for l in &self.trace {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// Runs seed `seed` with the default options.
pub fn run(seed: u64) -> Result<Report, Box<Failure>> {
    run_with(seed, &Options::default())
}

/// Runs seed `seed`.
pub fn run_with(seed: u64, opts: &Options) -> Result<Report, Box<Failure>> {
    let mut sim = Sim::new(seed, opts.clone())?;
    sim.go()?;
    Ok(sim.report)
}

fn rank(s: TaskState) -> u8 {
    match s {
        TaskState::Staging => 0,
        TaskState::Starting => 1,
        TaskState::Running => 2,
        TaskState::Killing => 3,
        TaskState::Unreachable | TaskState::Unknown => 4,
        _ => 5,
    }
}

struct Sim {
    seed: u64,
    opts: Options,
    rng: Rng,
    now: u64,
    spec: ServiceSpec,
    cfg: SchedulerConfig,
    cluster: Cluster,
    store: MemStore,
    sched: Scheduler,
    faults_on: bool,
    /// When a dropped stream is subscribed again.
    reconnect_at: Option<u64>,
    /// Bumped at every restart or disconnect: events fetched for an older stream are dropped.
    generation: u64,
    trace: VecDeque<String>,
    report: Report,
    /// Invariant 8: every task id ever launched.
    launched: BTreeSet<String>,
    /// Task id → task name, for the acknowledgement check.
    names: BTreeMap<String, String>,
    /// Invariant 4: the latest acknowledged state per task id.
    acked: BTreeMap<String, TaskState>,
    /// Invariant 6: task id → task name of tasks that were running and ready at the last
    /// scheduler restart and have seen no fault since.
    healthy: BTreeMap<String, String>,
    /// When the read of the master's agents the scheduler asked for is answered.
    agents_read_at: Option<u64>,
    /// The operator's answer to the takeover check, for the next start only.
    takeover: TakeoverChoice,
    /// Pod instances the operator deployed afresh with `--force`: their old volumes' data was
    /// given up, so the data-loss checks (invariant 2) no longer apply to them.
    forced: BTreeSet<String>,
}

type Checked<T> = Result<T, Box<Failure>>;

impl Sim {
    fn new(seed: u64, opts: Options) -> Checked<Sim> {
        let mut rng = Rng::new(seed);
        let shape = shape::draw(&mut rng, &mut Rng::new(seed ^ shape::STEPS_STREAM));
        let cfg = SchedulerConfig {
            seed,
            // Three seeds in four cap the pods per offer below what a shape's pod types need
            // (at most 4 instances each), so full offers, pods waiting on them and the
            // unfiltered leftovers run under every fault; the shape's draws stay as they were.
            max_pods_per_offer: match seed % 4 {
                0 => SchedulerConfig::default().max_pods_per_offer,
                n => n as usize,
            },
            ..SchedulerConfig::default()
        };
        let cluster = Cluster::new(
            shape.agents,
            AGENT_RESOURCES,
            &shape.spec.role,
            &shape.spec.principal,
        );
        let now = 0;
        let sched = Scheduler::new(
            cfg.clone(),
            shape.spec.clone(),
            StoredState::default(),
            Time(EPOCH_MS + now),
        )
        .map_err(|e| {
            Box::new(Failure {
                seed,
                invariant: "the scheduler starts",
                message: e.to_string(),
                at_ms: 0,
                trace: Vec::new(),
            })
        })?;
        let mut sim = Sim {
            seed,
            opts,
            rng,
            now,
            spec: shape.spec,
            cfg,
            cluster,
            store: MemStore::default(),
            sched,
            faults_on: true,
            reconnect_at: Some(0),
            generation: 0,
            trace: VecDeque::new(),
            report: Report::default(),
            launched: BTreeSet::new(),
            names: BTreeMap::new(),
            acked: BTreeMap::new(),
            healthy: BTreeMap::new(),
            agents_read_at: None,
            takeover: TakeoverChoice::Check,
            forced: BTreeSet::new(),
        };
        let pods: Vec<String> = sim
            .spec
            .pods
            .iter()
            .map(|p| {
                let goal = p.tasks.first().map(|t| t.goal).unwrap_or_default();
                let vols = if p.volumes.is_empty() { "" } else { "+vol" };
                format!("{}x{}({goal:?}{vols})", p.type_name, p.count)
            })
            .collect();
        sim.log(format!(
            "shape: {} agents, pods {}",
            sim.cluster.agents.len(),
            pods.join(" ")
        ));
        sim.drain()?;
        Ok(sim)
    }

    fn t(&self) -> Time {
        Time(EPOCH_MS + self.now)
    }

    fn log(&mut self, line: String) {
        if self.trace.len() >= self.opts.trace_lines {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>7} {line}", self.now));
    }

    fn fail<T>(&self, invariant: &'static str, message: String) -> Checked<T> {
        Err(Box::new(Failure {
            seed: self.seed,
            invariant,
            message,
            at_ms: self.now,
            trace: self.trace.iter().cloned().collect(),
        }))
    }

    fn go(&mut self) -> Checked<()> {
        // Fault phase.
        while self.now < self.opts.fault_ms {
            self.inject_faults();
            self.crash_between_inputs()?;
            self.step()?;
        }
        // Liveness phase: faults off, dead agents back, a fresh agent per removed one.
        self.faults_on = false;
        self.log("faults off".into());
        let mut removed = 0;
        for i in 0..self.cluster.agents.len() {
            match self.cluster.agents[i].state {
                AgentState::Down => self.cluster.restore_agent(self.now, i),
                AgentState::Partitioned => self.cluster.heal_agent(self.now, i),
                AgentState::Gone => {
                    removed += 1;
                    self.cluster.add_agent();
                }
                AgentState::Up => {}
            }
        }
        if !self.cluster.connected {
            self.reconnect_at = Some(self.now);
        }
        // Pods of a removed agent are replaced one per min replace delay (10 min by default,
        // after the 20-minute permanent-failure timer): the bound grows with what may need it.
        let instances: u64 = self.spec.pods.iter().map(|p| u64::from(p.count)).sum();
        let bound = self.opts.liveness_ms + if removed > 0 { instances * 600_000 } else { 0 };
        let start = self.now;
        while !(self.complete() && self.not_running().is_none()) {
            if self.now - start > bound {
                let stuck: Vec<String> = self
                    .sched
                    .plans()
                    .iter()
                    .flat_map(|p| &p.phases)
                    .flat_map(|p| &p.steps)
                    .filter(|s| s.status != Status::Complete)
                    .map(|s| format!("{} {}: {}", s.name, s.status.as_str(), s.message))
                    .chain(self.not_running().map(|t| format!("{t} is not running")))
                    .collect();
                return self.fail(
                    "7 liveness: every plan COMPLETE within the bound after faults stop",
                    format!("not complete after {bound}ms: {}", stuck.join("; ")),
                );
            }
            self.step()?;
        }
        self.report.liveness_ms = self.now - start;
        let end = self.now + self.opts.settle_ms;
        while self.now < end {
            self.step()?;
        }
        if !self.complete() {
            return self.fail(
                "7 liveness: COMPLETE stays COMPLETE without faults",
                "a plan left COMPLETE during the settle time".into(),
            );
        }
        if let Some(t) = self.not_running() {
            return self.fail(
                "7 liveness: COMPLETE means running",
                format!("every plan is COMPLETE but {t} is not running"),
            );
        }
        self.check_acked_all()?;
        self.check_no_leaks()
    }

    fn complete(&self) -> bool {
        self.cluster.connected
            && self
                .sched
                .plans()
                .iter()
                .all(|p| p.status == Status::Complete)
    }

    /// One step of simulated time: the cluster moves, due events reach the scheduler, its
    /// timers fire, and the invariants are checked.
    fn step(&mut self) -> Checked<()> {
        self.now += self.opts.step_ms;
        self.report.steps += 1;
        if !self.cluster.connected && self.reconnect_at.is_some_and(|t| t <= self.now) {
            self.subscribe()?;
        }
        let max_delay = if self.faults_on {
            self.opts.faults.max_delay_ms
        } else {
            200
        };
        {
            let rng = &mut self.rng;
            let mut delay = || rng.range(0, max_delay);
            self.cluster.tick(self.now, &mut delay);
        }
        let generation = self.generation;
        let events = self.cluster.due(self.now);
        for e in events {
            if self.generation != generation {
                break; // the stream these came on is gone
            }
            let twice = self.faults_on
                && e.type_ == EventType::Update
                && e.update.as_ref().is_some_and(|u| u.status.uuid.is_some())
                && self.rng.chance(self.opts.faults.duplicate);
            if twice {
                self.log("fault: duplicate delivery".into());
                self.deliver(e.clone())?;
                if self.generation != generation {
                    break;
                }
            }
            self.deliver(e)?;
        }
        if self.agents_read_at.is_some_and(|t| t <= self.now) {
            self.agents_read_at = None;
            let answer = self.cluster.get_agents();
            let up: Vec<&str> = answer
                .agents
                .iter()
                .filter_map(|a| Some(a.agent_info.id.as_ref()?.value.as_str()))
                .collect();
            self.log(format!("-> agents registered: {}", up.join(",")));
            self.sched.handle_agents(self.t(), &answer);
            self.drain()?;
        }
        if self.sched.poll_timeout().is_some_and(|t| t <= self.t()) {
            self.sched.handle_timeout(self.t());
            self.drain()?;
        }
        self.check_one_live_incarnation()
    }

    fn deliver(&mut self, e: Event) -> Checked<()> {
        self.log(describe_event(&e));
        self.sched.handle_event(self.t(), e);
        self.drain()
    }

    /// The driver's way in: the takeover check against what the master holds, then SUBSCRIBE.
    /// A refusal for a lost framework id is answered as it says, by the operator:
    /// `--adopt-framework` with the framework it names (a new scheduler process).
    fn subscribe(&mut self) -> Checked<()> {
        let generation = self.generation;
        let state = self.cluster.master_state();
        match self.sched.handle_master_state(self.t(), &state) {
            Ok(report) => {
                if !report.rebuilt.is_empty() {
                    self.log(format!("takeover: rebuilt {}", report.rebuilt.join(",")));
                }
                self.report.rebuilt += report.rebuilt.len() as u64;
                self.takeover = TakeoverChoice::Check;
            }
            Err(TakeoverRefusal::FrameworkLost { running, .. })
                if self.takeover == TakeoverChoice::Check
                    && running.len() == 1
                    && self.cluster.framework_id() == Some(running[0].as_str()) =>
            {
                self.log(format!(
                    "takeover refused: framework id lost; operator: --adopt-framework {}",
                    running[0]
                ));
                self.takeover = TakeoverChoice::Adopt(running[0].clone());
                self.report.adoptions += 1;
                self.new_process()?;
                return self.subscribe();
            }
            // The store lost a pod's record after its task died too (two faults): nothing
            // can tell its reservations apart any more, and the operator deploys it afresh.
            // The operator's choice, as a replace is: data loss is theirs to allow.
            Err(TakeoverRefusal::UnknownReservations { pods, .. })
                if self.takeover == TakeoverChoice::Check =>
            {
                self.log(format!(
                    "takeover refused: the store does not know reservations of {}; operator: --force",
                    pods.join(",")
                ));
                self.forced.extend(pods);
                self.takeover = TakeoverChoice::Force;
                self.report.forced += 1;
                self.new_process()?;
                return self.subscribe();
            }
            Err(refusal) => {
                return self.fail(
                    "a restarted scheduler starts from its store",
                    format!("the takeover check refused: {refusal}"),
                )
            }
        }
        self.drain()?;
        if self.generation != generation {
            // The check's batch failed or the process died writing it: the new process checks
            // again when it subscribes.
            return Ok(());
        }
        let call = Call::subscribe(self.sched.framework_info());
        let ev = self.cluster.subscribe(self.now, &call);
        if self.cluster.second_registrations > 0 {
            return self.fail(
                "9 one framework per service",
                "SUBSCRIBE without a framework id while the service's framework is registered"
                    .into(),
            );
        }
        self.reconnect_at = None;
        self.log("SUBSCRIBE".into());
        self.deliver(ev)
    }

    /// Polls every action: write batches are committed (or fail, or the process dies before
    /// them), calls go to the cluster.
    fn drain(&mut self) -> Checked<()> {
        while let Some(a) = self.sched.poll_action() {
            match a {
                Action::Persist(b) => {
                    if self.faults_on && self.rng.chance(self.opts.faults.scheduler_crash) {
                        self.log(format!("fault: scheduler crash before batch {}", b.id));
                        self.restart()?;
                        continue;
                    }
                    if self.faults_on && self.rng.chance(self.opts.faults.write_failure) {
                        self.log(format!("fault: write of batch {} fails", b.id));
                        let _ = self.sched.handle_commit_failed(b.id);
                        self.restart()?;
                        continue;
                    }
                    // MemStore's commit cannot fail; the failures above are the simulated ones.
                    let _ = self.store.commit(&b);
                    self.sched.handle_committed(b.id);
                }
                Action::Call(c) => self.call(c)?,
                Action::ReadAgents => {
                    if self.agents_read_at.is_none() {
                        let delay = self.rng.range(0, 2_000);
                        self.agents_read_at = Some(self.now + delay);
                    }
                }
            }
        }
        Ok(())
    }

    /// A new scheduler process from the store's content, as after a crash; the old stream
    /// is gone with the old process.
    fn restart(&mut self) -> Checked<()> {
        self.report.restarts += 1;
        self.report.faults += 1;
        self.generation += 1;
        self.cluster.disconnect();
        self.reconnect_at = Some(self.now + self.rng.range(0, 3_000));
        if self.faults_on && self.rng.chance(self.opts.faults.store_loss) {
            self.lose_a_key();
        }
        self.new_process()?;
        self.log("scheduler restarted from the store".into());
        // Invariant 6 baseline: pods whose every task is running (and ready, if it has a
        // check) must keep their task ids. A pod with a task down is mid-recovery: the
        // restarted scheduler may legitimately restart the rest of it.
        self.healthy.clear();
        let mut live: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
        for a in self
            .cluster
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Up)
        {
            for t in a.tasks.values().filter(|t| t.is_live()) {
                let ok = t.state == TaskState::Running && (t.ready || t.info.check.is_none());
                live.insert(&t.info.name, (&t.info.task_id.value, ok));
            }
        }
        let mut healthy = BTreeMap::new();
        for pod in &self.spec.pods {
            if pod.tasks.iter().any(|t| t.goal != Goal::Running) {
                continue;
            }
            for i in 0..pod.count {
                let names: Vec<String> = pod
                    .tasks
                    .iter()
                    .map(|t| format!("{}-{i}-{}", pod.type_name, t.name))
                    .collect();
                if names
                    .iter()
                    .all(|n| live.get(n.as_str()).is_some_and(|(_, ok)| *ok))
                {
                    for n in names {
                        let id = live[n.as_str()].0.to_string();
                        healthy.insert(id, n);
                    }
                }
            }
        }
        self.healthy = healthy;
        Ok(())
    }

    /// A new scheduler process over the store, with the operator's takeover choice. A read of
    /// the master's agents the old process asked for dies with it.
    fn new_process(&mut self) -> Checked<()> {
        self.agents_read_at = None;
        let entries = self.store.load().unwrap_or_default();
        let stored = match StoredState::from_entries(&entries) {
            Ok(s) => s,
            Err(e) => return self.fail("the store reads back after a restart", e.to_string()),
        };
        let cfg = SchedulerConfig {
            takeover: self.takeover.clone(),
            ..self.cfg.clone()
        };
        match Scheduler::new(cfg, self.spec.clone(), stored, self.t()) {
            Ok(s) => self.sched = s,
            Err(e) => {
                return self.fail("a restarted scheduler starts from its store", e.to_string())
            }
        }
        Ok(())
    }

    /// The fault "the store lost a key": its `FrameworkID`, or the `TaskInfo` of a task the
    /// master runs on a registered agent (the ones the master can tell about again).
    fn lose_a_key(&mut self) {
        if self.rng.chance(0.5) {
            if self.store.entries.remove(FRAMEWORK_ID).is_some() {
                self.log("fault: the store lost its FrameworkID".into());
            }
            return;
        }
        let state = self.cluster.master_state();
        let live: Vec<String> = state
            .get_tasks
            .iter()
            .flat_map(|t| &t.tasks)
            .map(|t| t.name.clone())
            .filter(|n| self.store.entries.contains_key(&task_info_key(n)))
            .collect();
        if live.is_empty() {
            return;
        }
        let name = live[self.rng.index(live.len())].clone();
        self.store.entries.remove(&task_info_key(&name));
        self.log(format!("fault: the store lost the TaskInfo of {name}"));
    }

    fn call(&mut self, c: Call) -> Checked<()> {
        self.log(describe_call(&c));
        if c.type_ == CallType::Accept {
            self.check_launches(&c)?;
        }
        self.cluster.handle_call(self.now, c);
        self.observe()
    }

    /// Invariants 3 and 8 at the moment an ACCEPT is delivered.
    fn check_launches(&mut self, c: &Call) -> Checked<()> {
        let tasks: Vec<&TaskInfo> = c
            .accept
            .iter()
            .flat_map(|a| &a.operations)
            .filter_map(|o| o.launch_group.as_ref())
            .flat_map(|lg| &lg.task_group.tasks)
            .collect();
        for t in tasks {
            let id = t.task_id.value.clone();
            let stored = self
                .store
                .entries
                .get(&task_info_key(&t.name))
                .and_then(|v| serde_json::from_slice::<TaskInfo>(v).ok());
            if stored.as_ref().map(|s| &s.task_id.value) != Some(&id) {
                return self.fail(
                    "3 persist-before-launch: a launched task is in the store first",
                    format!(
                        "{} ({id}) launched; the store holds {:?}",
                        t.name,
                        stored.map(|s| s.task_id.value)
                    ),
                );
            }
            if !self.launched.insert(id.clone()) {
                return self.fail(
                    "8 task ids are never reused",
                    format!("{id} launched twice"),
                );
            }
            if let Some((old, _)) = self.healthy.iter().find(|(_, n)| **n == t.name) {
                let old = old.clone();
                return self.fail(
                    "6 healthy tasks survive a scheduler restart",
                    format!("{} relaunched as {id}, replacing healthy {old}", t.name),
                );
            }
            self.names.insert(id, t.name.clone());
            self.report.launches += 1;
        }
        Ok(())
    }

    /// What the cluster saw: kills (invariant 6), destroys (2), acknowledgements (4).
    fn observe(&mut self) -> Checked<()> {
        for o in std::mem::take(&mut self.cluster.observed) {
            match o {
                Observed::Kill { task_id } => {
                    if self.healthy.contains_key(&task_id) {
                        return self.fail(
                            "6 healthy tasks survive a scheduler restart",
                            format!("KILL of {task_id}, running and ready at the restart, no fault since"),
                        );
                    }
                }
                Observed::Destroy {
                    agent,
                    pod_instance,
                } => self.check_destroy(agent, pod_instance)?,
                Observed::Acked { task_id, state } => {
                    let e = self.acked.entry(task_id.clone()).or_insert(state);
                    if rank(state) >= rank(*e) {
                        *e = state;
                    }
                    self.check_acked(&task_id)?;
                }
                Observed::Create {
                    agent,
                    pod_instance: Some(p),
                } if !self.forced.contains(&p) => {
                    let homes = self.cluster.volume_homes(&p, agent);
                    if !homes.is_empty() {
                        return self.fail(
                            "2 no data loss without the permanent-failure timeout",
                            format!(
                                "a volume of {p} created on agent {agent} while agents {homes:?}, not removed, hold its volume"
                            ),
                        );
                    }
                }
                Observed::Create { .. } | Observed::Launch { .. } => {}
            }
        }
        Ok(())
    }

    /// Invariant 2: a volume of a pod instance still in the target config goes only when the
    /// instance was replaced (its current task lives on another agent).
    fn check_destroy(&mut self, agent: usize, pod_instance: Option<String>) -> Checked<()> {
        let agent_id = self.cluster.agents[agent].id.clone();
        let Some(p) = pod_instance else {
            return Ok(());
        };
        if !self.in_target(&p) || self.forced.contains(&p) {
            return Ok(());
        }
        let homes: Vec<String> = self
            .stored_tasks()
            .into_iter()
            .filter(|(pi, _)| *pi == p)
            .map(|(_, info)| info.agent_id.value)
            .collect();
        if homes.is_empty() || homes.contains(&agent_id) {
            return self.fail(
                "2 no volume destroyed without replace/decommission/uninstall",
                format!(
                    "DESTROY of {p}'s volume on {agent_id}; its stored tasks live on {homes:?}"
                ),
            );
        }
        Ok(())
    }

    fn in_target(&self, pod_instance: &str) -> bool {
        let Ok(pod) = PodInstanceName::parse(pod_instance) else {
            return false;
        };
        self.spec
            .pods
            .iter()
            .any(|p| p.type_name == pod.pod_type() && pod.index() < p.count)
    }

    /// Every stored TaskInfo with its pod instance.
    fn stored_tasks(&self) -> Vec<(String, TaskInfo)> {
        self.store
            .entries
            .iter()
            .filter(|(k, _)| k.ends_with("/TaskInfo"))
            .filter_map(|(_, v)| serde_json::from_slice::<TaskInfo>(v).ok())
            .map(|info| (pod_name(&info), info))
            .collect()
    }

    /// Invariant 4 for one task: the store holds its acknowledged state or a later one (or the
    /// task was relaunched under a new id since).
    fn check_acked(&self, task_id: &str) -> Checked<()> {
        let (Some(name), Some(state)) = (self.names.get(task_id), self.acked.get(task_id)) else {
            return Ok(());
        };
        let info = self
            .store
            .entries
            .get(&task_info_key(name))
            .and_then(|v| serde_json::from_slice::<TaskInfo>(v).ok());
        if info.is_some_and(|i| i.task_id.value != task_id) {
            return Ok(()); // relaunched: something later
        }
        let status = self
            .store
            .entries
            .get(&task_status_key(name))
            .and_then(|v| serde_json::from_slice::<TaskStatus>(v).ok());
        match status {
            Some(s) if s.task_id.value == task_id && rank(s.state) >= rank(*state) => Ok(()),
            other => self.fail(
                "4 no acknowledged status lost",
                format!(
                    "{task_id} acknowledged {}; the store holds {:?}",
                    state.as_str(),
                    other.map(|s| (s.task_id.value, s.state.as_str()))
                ),
            ),
        }
    }

    fn check_acked_all(&self) -> Checked<()> {
        for id in self.acked.keys() {
            self.check_acked(id)?;
        }
        Ok(())
    }

    /// Invariant 1: no two live tasks of one name, no pod instance live on two agents.
    fn check_one_live_incarnation(&self) -> Checked<()> {
        let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
        let mut by_pod: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, a) in self.cluster.agents.iter().enumerate() {
            for t in a.tasks.values().filter(|t| t.is_live()) {
                if let Some(other) = by_name.insert(&t.info.name, &t.info.task_id.value) {
                    return self.fail(
                        "1 at most one live incarnation per pod instance",
                        format!(
                            "{} live twice: {other} and {}",
                            t.info.name, t.info.task_id.value
                        ),
                    );
                }
                if let Some(j) = by_pod.insert(&t.pod_instance, i) {
                    if j != i {
                        return self.fail(
                            "1 at most one live incarnation per pod instance",
                            format!("{} live on agents {j} and {i}", t.pod_instance),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Liveness, cross-checked with the truth: the first goal-RUNNING task of the target that
    /// the cluster does not run (a plan can be COMPLETE on a stored status that is stale).
    fn not_running(&self) -> Option<String> {
        let running: BTreeSet<&str> = self
            .cluster
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Up)
            .flat_map(|a| a.tasks.values())
            .filter(|t| t.state == TaskState::Running)
            .map(|t| t.info.name.as_str())
            .collect();
        self.spec.pods.iter().find_map(|pod| {
            (0..pod.count).find_map(|i| {
                pod.tasks
                    .iter()
                    .filter(|t| t.goal == Goal::Running)
                    .map(|t| format!("{}-{i}-{}", pod.type_name, t.name))
                    .find(|name| !running.contains(name.as_str()))
            })
        })
    }

    /// Invariant 5: after liveness, every reserved resource on a live agent belongs to a pod
    /// instance of the target config, at that instance's current home.
    fn check_no_leaks(&self) -> Checked<()> {
        let homes: BTreeMap<String, String> = self
            .stored_tasks()
            .into_iter()
            .map(|(p, info)| (p, info.agent_id.value))
            .collect();
        for (i, pod, r) in self.cluster.reservations() {
            let agent = &self.cluster.agents[i].id;
            let ok = pod
                .as_ref()
                .is_some_and(|p| self.in_target(p) && homes.get(p).is_none_or(|h| h == agent));
            if !ok {
                return self.fail(
                    "5 no reservation leaked",
                    format!("{r} on {agent} (pod instance {pod:?}, homes {homes:?})"),
                );
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ faults

    fn inject_faults(&mut self) {
        let f = self.opts.faults.clone();
        let now = self.now;
        if self.rng.chance(f.task_crash) {
            let live = self.cluster.live_tasks();
            if !live.is_empty() {
                let (i, id) = live[self.rng.index(live.len())].clone();
                let pod = self.cluster.agents[i].tasks[&id].pod_instance.clone();
                self.log(format!("fault: task {id} crashes"));
                self.cluster.crash_task(now, i, &id);
                self.touch_pod(&pod);
                self.report.faults += 1;
            }
        }
        let n = self.cluster.agents.len();
        if self.rng.chance(f.agent_loss) {
            let i = self.rng.index(n);
            if self.cluster.agents[i].state == AgentState::Up {
                self.log(format!("fault: agent {i} lost"));
                self.touch_agent(i);
                self.cluster.lose_agent(now, i, false);
                self.report.faults += 1;
            }
        }
        if self.rng.chance(f.agent_gone) {
            let i = self.rng.index(n);
            if self.cluster.agents[i].state == AgentState::Up {
                self.log(format!("fault: agent {i} gone for good"));
                self.touch_agent(i);
                self.cluster.lose_agent(now, i, true);
                self.report.faults += 1;
            }
        }
        if self.rng.chance(f.agent_partition) {
            let i = self.rng.index(n);
            if self.cluster.agents[i].state == AgentState::Up {
                self.log(format!("fault: agent {i} partitioned"));
                self.touch_agent(i);
                self.cluster.partition_agent(now, i);
                self.report.faults += 1;
            }
        }
        if self.rng.chance(f.agent_heal) {
            let i = self.rng.index(n);
            if self.cluster.agents[i].state == AgentState::Partitioned {
                self.log(format!("fault: partition of agent {i} heals"));
                self.cluster.heal_agent(now, i);
            }
        }
        if self.rng.chance(f.agent_return) {
            let i = self.rng.index(n);
            if self.cluster.agents[i].state == AgentState::Down {
                self.log(format!("fault: agent {i} returns"));
                self.cluster.restore_agent(now, i);
            }
        }
        if self.rng.chance(f.executor_forgotten) {
            let live: Vec<(usize, String)> = self
                .cluster
                .live_tasks()
                .into_iter()
                .filter(|(i, _)| self.cluster.agents[*i].state == AgentState::Up)
                .collect();
            if !live.is_empty() {
                let (i, id) = live[self.rng.index(live.len())].clone();
                let pod = self.cluster.agents[i].tasks[&id].pod_instance.clone();
                self.touch_pod(&pod);
                let gone = self.cluster.forget_executor(now, i, &id);
                self.log(format!(
                    "fault: agent {i} lost the executor checkpoint of {}",
                    gone.join(",")
                ));
                self.report.faults += 1;
            }
        }
        if self.rng.chance(f.rescind) {
            let k = self.rng.index(64);
            if let Some(id) = self.cluster.rescind_one(now, k) {
                self.log(format!("fault: offer {id} rescinded"));
                self.report.faults += 1;
            }
        }
        if self.cluster.connected && self.rng.chance(f.disconnect) {
            self.log("fault: stream dropped".into());
            self.report.faults += 1;
            self.generation += 1;
            self.sched.handle_disconnected(self.t());
            self.cluster.disconnect();
            self.reconnect_at = Some(now + self.rng.range(0, 5_000));
        }
    }

    /// Restarts the scheduler between two inputs (the fault phase's per-step crash).
    fn crash_between_inputs(&mut self) -> Checked<()> {
        if self.rng.chance(self.opts.faults.scheduler_crash_step) {
            self.log("fault: scheduler crash between inputs".into());
            self.restart()?;
        }
        Ok(())
    }

    /// A fault hit this pod instance: its tasks may legitimately be relaunched or killed.
    fn touch_pod(&mut self, pod: &str) {
        let ids: Vec<String> = self
            .cluster
            .agents
            .iter()
            .flat_map(|a| a.tasks.values())
            .filter(|t| t.pod_instance == pod)
            .map(|t| t.info.task_id.value.clone())
            .collect();
        for id in ids {
            self.healthy.remove(&id);
        }
    }

    fn touch_agent(&mut self, i: usize) {
        let pods: BTreeSet<String> = self.cluster.agents[i]
            .tasks
            .values()
            .map(|t| t.pod_instance.clone())
            .collect();
        for p in pods {
            self.touch_pod(&p);
        }
    }
}

fn describe_event(e: &Event) -> String {
    match e.type_ {
        EventType::Update => {
            let s = &e.update.as_ref().expect("update").status;
            format!(
                "-> UPDATE {} {}{}{}",
                s.task_id.value,
                s.state.as_str(),
                if s.uuid.is_some() { "" } else { " (no uuid)" },
                if s.check_status.is_some() {
                    " ready"
                } else {
                    ""
                }
            )
        }
        EventType::Offers => {
            let ids: Vec<&str> = e
                .offers
                .iter()
                .flat_map(|o| &o.offers)
                .map(|o| o.id.value.as_str())
                .collect();
            format!("-> OFFERS {}", ids.join(","))
        }
        other => format!("-> {other:?}"),
    }
}

fn describe_call(c: &Call) -> String {
    match c.type_ {
        CallType::Accept => {
            let a = c.accept.as_ref().expect("accept");
            let ops: Vec<String> = a
                .operations
                .iter()
                .map(|o| match &o.launch_group {
                    Some(lg) => {
                        let ids: Vec<&str> = lg
                            .task_group
                            .tasks
                            .iter()
                            .map(|t| t.task_id.value.as_str())
                            .collect();
                        format!("LAUNCH_GROUP[{}]", ids.join(","))
                    }
                    None => format!("{:?}", o.type_),
                })
                .collect();
            let offers: Vec<&str> = a.offer_ids.iter().map(|o| o.value.as_str()).collect();
            format!("<- ACCEPT {} {}", offers.join(","), ops.join(" "))
        }
        CallType::Acknowledge => {
            let a = c.acknowledge.as_ref().expect("ack");
            format!("<- ACKNOWLEDGE {}", a.task_id.value)
        }
        CallType::Kill => format!("<- KILL {}", c.kill.as_ref().expect("kill").task_id.value),
        CallType::Reconcile => format!(
            "<- RECONCILE {} tasks",
            c.reconcile.as_ref().map_or(0, |r| r.tasks.len())
        ),
        other => format!("<- {other:?}"),
    }
}
