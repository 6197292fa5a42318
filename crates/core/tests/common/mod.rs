//! A Send/Expect harness over the core: a `Scheduler`, a `MemStore`, a virtual clock and a
//! few fake agents that apply accepted operations the way a Mesos agent would (reservations,
//! volumes, resources in use), so offers look like what Mesos sends: refined reservations,
//! `allocation_info` set, reserved resources back on offer once their task ends.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cairn_core::scheduler::{Action, Overrides, Scheduler, SchedulerConfig};
use cairn_core::spec::ServiceSpec;
use cairn_core::store::{MemStore, Store, StoredState, WriteBatch};
use cairn_core::Time;
use cairn_proto::scheduler::{Call, CallType, Event};
use cairn_proto::{
    AgentId, Attribute, Bytes, CheckStatusCommand, CheckStatusInfo, CheckType, FrameworkId, Offer,
    OfferId, OperationType, Resource, Resources, Source, TaskInfo, TaskState, TaskStatus,
};

pub const FRAMEWORK: &str = "fw-1";

/// A fake agent: what it has free, and what each live task and executor holds.
pub struct Agent {
    pub id: String,
    pub hostname: String,
    pub attributes: Vec<Attribute>,
    /// The agent's fault domain, offered with its resources.
    pub domain: Option<cairn_proto::DomainInfo>,
    pub free: Resources,
    /// Task id → (executor id, resources).
    pub tasks: BTreeMap<String, (String, Vec<Resource>)>,
    /// Executor id → resources.
    pub executors: BTreeMap<String, Vec<Resource>>,
}

impl Agent {
    pub fn new(i: usize, resources: &str) -> Agent {
        Agent {
            id: format!("agent-{i}"),
            hostname: format!("10.0.0.{}", i + 1),
            attributes: Vec::new(),
            domain: None,
            free: Resources::parse(resources).expect("agent resources"),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
        }
    }

    fn take(&mut self, r: &[Resource]) {
        let plain: Vec<Resource> = r.iter().map(strip).collect();
        self.free
            .subtract_all(plain.iter())
            .unwrap_or_else(|e| panic!("agent {} cannot provide {plain:?}: {e}", self.id));
    }

    fn give(&mut self, r: &[Resource]) {
        for x in r {
            self.free.add(&strip(x));
        }
    }

    /// Applies one accepted operation.
    fn apply(&mut self, op: &cairn_proto::OfferOperation) {
        match op.type_ {
            OperationType::Reserve => {
                for r in &op.reserve.as_ref().unwrap().resources {
                    self.take(&[r.without_top_reservation()]);
                    self.give(std::slice::from_ref(r));
                }
            }
            OperationType::Create => {
                for v in &op.create.as_ref().unwrap().volumes {
                    self.take(&[v.without_volume()]);
                    self.give(std::slice::from_ref(v));
                }
            }
            OperationType::LaunchGroup => {
                let lg = op.launch_group.as_ref().unwrap();
                let exec = lg.executor.executor_id.value.clone();
                if !self.executors.contains_key(&exec) {
                    self.take(&lg.executor.resources);
                    self.executors
                        .insert(exec.clone(), lg.executor.resources.clone());
                }
                for t in &lg.task_group.tasks {
                    assert!(t.executor.is_none(), "LAUNCH_GROUP tasks carry no executor");
                    self.take(&t.resources);
                    self.tasks
                        .insert(t.task_id.value.clone(), (exec.clone(), t.resources.clone()));
                }
            }
            OperationType::Destroy => {
                for v in &op.destroy.as_ref().unwrap().volumes {
                    self.take(std::slice::from_ref(v));
                    self.give(&[v.without_volume()]);
                }
            }
            OperationType::Unreserve => {
                for r in &op.unreserve.as_ref().unwrap().resources {
                    self.take(std::slice::from_ref(r));
                    self.give(&[r.without_top_reservation()]);
                }
            }
            other => panic!("unexpected operation {other:?}"),
        }
    }

    /// A task ended: its resources (and its executor's, if it was the last) come back.
    pub fn end(&mut self, task_id: &str) {
        let Some((exec, res)) = self.tasks.remove(task_id) else {
            return;
        };
        self.give(&res);
        if !self.tasks.values().any(|(e, _)| *e == exec) {
            if let Some(r) = self.executors.remove(&exec) {
                self.give(&r);
            }
        }
    }
}

fn strip(r: &Resource) -> Resource {
    Resource {
        allocation_info: None,
        ..r.to_refined_format()
    }
}

/// The harness.
pub struct Sim {
    pub sched: Scheduler,
    pub store: MemStore,
    pub now: Time,
    pub agents: Vec<Agent>,
    /// Every call released, in order.
    pub calls: Vec<Call>,
    /// Every batch emitted, in order.
    pub batches: Vec<WriteBatch>,
    /// Commit batches as soon as they are polled (else they wait in `uncommitted`).
    pub auto_commit: bool,
    pub uncommitted: Vec<WriteBatch>,
    /// Agents the master removed: missing from its answers to `ReadAgents`.
    pub removed: std::collections::BTreeSet<usize>,
    /// How many `ReadAgents` were answered.
    pub agent_reads: usize,
    offers: u64,
    uuids: u64,
}

pub fn config() -> SchedulerConfig {
    SchedulerConfig {
        seed: 42,
        ..SchedulerConfig::default()
    }
}

impl Sim {
    /// A scheduler over an empty store and `agents` fake agents, each with `resources`.
    pub fn new(spec: ServiceSpec, agents: usize, resources: &str) -> Sim {
        Sim::with(spec, agents, resources, Overrides::default())
    }

    pub fn with(spec: ServiceSpec, agents: usize, resources: &str, o: Overrides) -> Sim {
        Sim::with_config(spec, agents, resources, o, config())
    }

    /// A scheduler with a config of its own over an empty store.
    pub fn with_config(
        spec: ServiceSpec,
        agents: usize,
        resources: &str,
        o: Overrides,
        cfg: SchedulerConfig,
    ) -> Sim {
        let now = Time::from_millis(1_700_000_000_000);
        let sched = Scheduler::with_overrides(cfg, spec, StoredState::default(), now, o).unwrap();
        let mut sim = Sim {
            sched,
            store: MemStore::default(),
            now,
            agents: (0..agents).map(|i| Agent::new(i, resources)).collect(),
            calls: Vec::new(),
            batches: Vec::new(),
            auto_commit: true,
            uncommitted: Vec::new(),
            removed: Default::default(),
            agent_reads: 0,
            offers: 0,
            uuids: 0,
        };
        sim.drain();
        sim
    }

    /// A new scheduler process over the same store (a restart), with `spec`.
    pub fn restart(&mut self, spec: ServiceSpec) {
        self.restart_with(spec, config());
    }

    /// A restart with a scheduler config of its own.
    pub fn restart_with(&mut self, spec: ServiceSpec, cfg: SchedulerConfig) {
        self.now = self.now.plus(std::time::Duration::from_secs(1));
        let stored = StoredState::from_entries(&self.store.load().unwrap()).unwrap();
        self.sched = Scheduler::new(cfg, spec, stored, self.now).unwrap();
        self.uncommitted.clear();
        self.drain();
    }

    /// A restart with `spec` that keeps the running scheduler's overrides, as a scheduler
    /// handed a new spec does.
    pub fn restart_keeping_overrides(&mut self, spec: ServiceSpec) {
        self.now = self.now.plus(std::time::Duration::from_secs(1));
        let stored = StoredState::from_entries(&self.store.load().unwrap()).unwrap();
        // Only a stand-in while the running scheduler gives up its overrides.
        let stand_in = Scheduler::new(
            config(),
            self.sched.spec().clone(),
            StoredState::default(),
            self.now,
        )
        .unwrap();
        let overrides = std::mem::replace(&mut self.sched, stand_in).into_overrides();
        self.sched =
            Scheduler::with_overrides(config(), spec, stored, self.now, overrides).unwrap();
        self.uncommitted.clear();
        self.drain();
    }

    /// Polls every action: batches are committed (unless `auto_commit` is off), calls are
    /// recorded and ACCEPTs applied to the fake agents, reads of the master's agents answered
    /// (after the actions before them, as a driver's read arrives later).
    pub fn drain(&mut self) {
        loop {
            let mut read = false;
            while let Some(a) = self.sched.poll_action() {
                match a {
                    Action::Persist(b) => {
                        self.batches.push(b.clone());
                        if self.auto_commit {
                            self.commit(b);
                        } else {
                            self.uncommitted.push(b);
                        }
                    }
                    Action::Call(c) => self.on_call(c),
                    Action::ReadAgents => read = true,
                }
            }
            if !read {
                return;
            }
            self.agent_reads += 1;
            let answer = self.get_agents();
            self.sched.handle_agents(self.now, &answer);
        }
    }

    /// The master's GET_AGENTS: every agent not removed, with what it holds.
    pub fn get_agents(&self) -> cairn_proto::master::GetAgents {
        let agents = self
            .agents
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.removed.contains(i))
            .map(|(_, a)| {
                let mut total = a.free.clone();
                for (_, r) in a.tasks.values() {
                    total.add_all(r.iter().map(strip).collect::<Vec<_>>().iter());
                }
                for r in a.executors.values() {
                    total.add_all(r.iter().map(strip).collect::<Vec<_>>().iter());
                }
                cairn_proto::master::Agent {
                    agent_info: cairn_proto::AgentInfo {
                        id: Some(AgentId::new(a.id.clone())),
                        hostname: a.hostname.clone(),
                        ..Default::default()
                    },
                    active: true,
                    total_resources: total.into_vec(),
                    ..Default::default()
                }
            })
            .collect();
        cairn_proto::master::GetAgents {
            agents,
            ..Default::default()
        }
    }

    /// The master removes agent `i` (it is missing from every later answer).
    pub fn remove_agent(&mut self, i: usize) {
        self.removed.insert(i);
    }

    fn commit(&mut self, b: WriteBatch) {
        self.store.commit(&b).unwrap();
        self.sched.handle_committed(b.id);
    }

    /// Commits the batches held back while `auto_commit` was off, then drains.
    pub fn commit_pending(&mut self) {
        for b in std::mem::take(&mut self.uncommitted) {
            self.commit(b);
        }
        self.drain();
    }

    fn on_call(&mut self, c: Call) {
        if c.type_ == CallType::Accept {
            let accept = c.accept.as_ref().unwrap();
            let agent = self.agent_of_offer(&accept.offer_ids[0]);
            for op in &accept.operations {
                self.agents[agent].apply(op);
            }
        }
        self.calls.push(c);
    }

    fn agent_of_offer(&self, id: &OfferId) -> usize {
        // Offer ids are `O<n>-<agent index>`.
        id.value.rsplit('-').next().unwrap().parse().unwrap()
    }

    pub fn advance(&mut self, secs: u64) {
        self.now = self.now.plus(std::time::Duration::from_secs(secs));
        if self.sched.poll_timeout().is_some_and(|t| t <= self.now) {
            self.sched.handle_timeout(self.now);
        }
        self.drain();
    }

    pub fn event(&mut self, e: Event) {
        self.sched.handle_event(self.now, e);
        self.drain();
    }

    pub fn subscribe(&mut self) {
        self.event(Event::subscribed(FrameworkId::new(FRAMEWORK), 15.0, None));
    }

    /// An offer of everything agent `i` has free, as Mesos sends it.
    pub fn offer(&mut self, i: usize) -> Offer {
        self.offers += 1;
        let role = self.sched.spec().role.clone();
        let a = &self.agents[i];
        Offer {
            id: OfferId::new(format!("O{}-{i}", self.offers)),
            framework_id: FrameworkId::new(FRAMEWORK),
            agent_id: AgentId::new(a.id.clone()),
            hostname: a.hostname.clone(),
            resources: a.free.with_allocation_info(&role).to_refined_format(),
            attributes: a.attributes.clone(),
            domain: a.domain.clone(),
            allocation_info: Some(cairn_proto::AllocationInfo::role(role)),
            ..Offer::default()
        }
    }

    /// An offer of what agent `i` has free for `role`, allocated to it, as a Mesos master
    /// makes one for a MULTI_ROLE framework: unreserved resources and those reserved to
    /// `role` or one of its ancestors.
    pub fn offer_to(&mut self, i: usize, role: &str) -> Offer {
        self.offers += 1;
        let a = &self.agents[i];
        let free = a.free.filter(|r| r.is_allocatable_to(role));
        Offer {
            id: OfferId::new(format!("O{}-{i}", self.offers)),
            framework_id: FrameworkId::new(FRAMEWORK),
            agent_id: AgentId::new(a.id.clone()),
            hostname: a.hostname.clone(),
            resources: free.with_allocation_info(role).to_refined_format(),
            attributes: a.attributes.clone(),
            allocation_info: Some(cairn_proto::AllocationInfo::role(role.to_string())),
            ..Offer::default()
        }
    }

    /// Sends one OFFERS event with an offer from each of `agents`.
    pub fn offers(&mut self, agents: &[usize]) -> Vec<Offer> {
        let offers: Vec<Offer> = agents.iter().map(|i| self.offer(*i)).collect();
        self.event(Event::offers(offers.clone()));
        offers
    }

    /// The current TaskInfo of task `name`.
    pub fn info(&self, name: &str) -> TaskInfo {
        self.sched
            .task_info(name)
            .unwrap_or_else(|| panic!("{name} was never launched"))
            .clone()
    }

    fn next_uuid(&mut self) -> Bytes {
        self.uuids += 1;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.uuids.to_be_bytes());
        Bytes::from(b)
    }

    /// A reliable status update (with a uuid) from the executor for task `name`.
    pub fn status_of(&mut self, name: &str, state: TaskState) -> TaskStatus {
        let info = self.info(name);
        TaskStatus {
            agent_id: Some(info.agent_id.clone()),
            source: Some(Source::Executor),
            uuid: Some(self.next_uuid()),
            ..TaskStatus::new(info.task_id.value.clone(), state)
        }
    }

    pub fn send_status(&mut self, status: TaskStatus) {
        if status.state.is_terminal() {
            let agent = self
                .agents
                .iter_mut()
                .find(|a| Some(&a.id) == status.agent_id.as_ref().map(|x| &x.value));
            if let Some(a) = agent {
                a.end(&status.task_id.value);
            }
        }
        self.event(Event::update(status));
    }

    pub fn status(&mut self, name: &str, state: TaskState) {
        let s = self.status_of(name, state);
        self.send_status(s);
    }

    /// RUNNING with the readiness check passed (exit code 0).
    pub fn ready(&mut self, name: &str) {
        let mut s = self.status_of(name, TaskState::Running);
        s.check_status = Some(CheckStatusInfo {
            type_: Some(CheckType::Command),
            command: Some(CheckStatusCommand { exit_code: Some(0) }),
            ..CheckStatusInfo::default()
        });
        self.send_status(s);
    }

    pub fn calls_since(&self, mark: usize) -> &[Call] {
        &self.calls[mark..]
    }

    /// Task names launched by the calls since `mark`, in order.
    pub fn launched_since(&self, mark: usize) -> Vec<String> {
        self.calls_since(mark)
            .iter()
            .filter_map(|c| c.accept.as_ref())
            .flat_map(|a| &a.operations)
            .filter_map(|o| o.launch_group.as_ref())
            .flat_map(|lg| lg.task_group.tasks.iter().map(|t| t.name.clone()))
            .collect()
    }

    /// Operation types of every ACCEPT since `mark`.
    pub fn operations_since(&self, mark: usize) -> Vec<OperationType> {
        self.calls_since(mark)
            .iter()
            .filter_map(|c| c.accept.as_ref())
            .flat_map(|a| a.operations.iter().map(|o| o.type_))
            .collect()
    }

    pub fn count_since(&self, mark: usize, t: CallType) -> usize {
        self.calls_since(mark)
            .iter()
            .filter(|c| c.type_ == t)
            .count()
    }

    /// The refuse_seconds of the last DECLINE.
    pub fn last_decline_refuse(&self) -> f64 {
        self.calls
            .iter()
            .rev()
            .find_map(|c| c.decline.as_ref())
            .and_then(|d| d.filters.as_ref())
            .and_then(|f| f.refuse_seconds)
            .expect("a DECLINE was sent")
    }

    /// Status of step `step` of the deploy plan.
    pub fn step(&self, step: &str) -> (cairn_core::plan::Status, String) {
        self.plan_step(0, step)
            .unwrap_or_else(|| panic!("no step {step}"))
    }

    /// Status of step `step` of the recovery plan, if the pod is in recovery.
    pub fn recovery_step(&self, step: &str) -> Option<(cairn_core::plan::Status, String)> {
        self.plan_step(1, step)
    }

    fn plan_step(&self, plan: usize, step: &str) -> Option<(cairn_core::plan::Status, String)> {
        let plans = self.sched.plans();
        plans[plan]
            .phases
            .iter()
            .flat_map(|p| &p.steps)
            .find(|s| s.name == step)
            .map(|s| (s.status, s.message.clone()))
    }

    /// Deploys every pod instance the plan releases: offers from all agents, then RUNNING and
    /// ready for everything launched, until the plan is complete (bounded).
    pub fn deploy_all(&mut self) {
        for _ in 0..50 {
            if self.sched.is_deployed() {
                return;
            }
            let mark = self.calls.len();
            let all: Vec<usize> = (0..self.agents.len()).collect();
            self.offers(&all);
            for name in self.launched_since(mark) {
                self.ready(&name);
            }
            self.advance(6);
        }
        panic!("not deployed: {:#?}", self.sched.plans());
    }
}

/// A one-pod-type spec: `count` instances of pod `data` with one task `node`.
pub fn node_spec(count: u32, strategy: cairn_core::spec::Strategy) -> ServiceSpec {
    use cairn_core::spec::*;
    ServiceSpec::builder("svc")
        .pod(
            PodSpec::builder("data")
                .count(count)
                .volume(VolumeSpec::root("data", 100))
                .task(
                    TaskSpec::builder("node")
                        .cmd("./node")
                        .cpus(1.0)
                        .memory_mb(256)
                        .readiness_check(ReadinessCheckSpec::new("./ready")),
                ),
        )
        .plan(PlanSpec::new("deploy").phase(PhaseSpec::new("data", "data").strategy(strategy)))
        .build()
        .unwrap()
}

pub const AGENT: &str = "cpus:4;mem:4096;disk:10000;ports:[31000-31100]";
