//! The simulated Mesos master and its agents, as Mesos behaves (offers, operations, updates, reconciliation).
//!
//! Agents own the truth: their resources (reservations and volumes included), executors and
//! tasks. The master offers an agent's unused resources to the one framework, applies ACCEPT
//! operations in order against the offer, forwards each task's reliable status updates one at a
//! time until acknowledged, and answers reconciliation. Nothing here is random: the driver
//! ([`crate::sim`]) decides when faults happen and calls the methods that make them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_core::labels;
use cairn_proto::master;
use cairn_proto::operations::{apply_resource_operation, Agent as Books, ResourceOperation};
use cairn_proto::scheduler::{Call, CallType, Event};
use cairn_proto::{
    AgentId, AgentInfo, AllocationInfo, Bytes, CheckStatusCommand, CheckStatusInfo, CheckType,
    FrameworkId, FrameworkInfo, Offer, OfferId, OfferOperation, OperationType, Reason, Resource,
    Resources, Source, TaskInfo, TaskState, TaskStatus,
};

/// Milliseconds before an unacknowledged reliable update is sent again (Mesos starts at 10 s
/// and backs off; a fixed interval keeps the model simple and retries frequent).
const RETRY_MS: u64 = 10_000;
/// Mesos' default `refuse_seconds` when an ACCEPT or DECLINE names no filter.
const DEFAULT_REFUSE_MS: u64 = 5_000;

/// Whether an agent is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Registered; runs tasks; offered.
    Up,
    /// Crashed: its tasks died with it (the simulator's model of agent
    /// loss), the master calls them UNREACHABLE. It may come back with its checkpointed
    /// reservations and volumes.
    Down,
    /// Removed for good (marked gone): it never comes back.
    Gone,
    /// Cut off from the master: its tasks run on, but nothing reaches or leaves it; the
    /// master calls its tasks UNREACHABLE. It heals and re-registers with its tasks.
    Partitioned,
}

/// A task as its agent knows it.
#[derive(Debug, Clone)]
pub struct Task {
    /// The TaskInfo as launched.
    pub info: TaskInfo,
    /// The pod instance it belongs to (`data-2`), from its labels.
    pub pod_instance: String,
    /// The executor it runs under.
    pub executor: String,
    /// The truth: what the task is actually doing.
    pub state: TaskState,
    /// Whether its readiness check has passed (the truth).
    pub ready: bool,
    /// The latest check result the agent forwarded: the master copies it into the updates it
    /// makes (reconciliation, re-registration), as Mesos' `_reconcileTasks` does.
    pub check_status: Option<CheckStatusInfo>,
    /// Reliable updates not yet acknowledged; the head is the one being (re)sent.
    pub pending: VecDeque<TaskStatus>,
    /// The state of the latest update the agent forwarded: the master's view of the task
    /// (none yet: STAGING to the master). Agent removal and reconciliation answer from it,
    /// not from the truth the master has not heard.
    pub forwarded: Option<TaskState>,
    /// When the head is sent (again).
    pub next_send: u64,
    /// When the task makes its next step of its own (STARTING → RUNNING → ready → FINISHED).
    pub next_step: Option<u64>,
}

impl Task {
    fn has_check(&self) -> bool {
        self.info.check.is_some()
    }

    fn finishes(&self) -> bool {
        matches!(
            labels::task_label(&self.info, labels::GOAL),
            Some("FINISH" | "ONCE")
        )
    }

    /// Whether it is alive in truth.
    pub fn is_live(&self) -> bool {
        !self.state.is_terminal()
    }
}

/// One agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: String,
    /// Its hostname (distinct per agent, so `hostname:UNIQUE` means something).
    pub hostname: String,
    /// Up, down, partitioned or gone.
    pub state: AgentState,
    /// Resources neither offered nor used, in refined format without allocation info.
    pub pool: Resources,
    /// Executor id → its resources, while any of its tasks is live.
    pub executors: BTreeMap<String, Vec<Resource>>,
    /// Task id → task; a terminal task stays until its terminal update is acknowledged.
    pub tasks: BTreeMap<String, Task>,
    /// Offers from this agent are held back until then (DECLINE / ACCEPT filters).
    pub filtered_until: u64,
    /// The outstanding offer from this agent, if any.
    pub offer: Option<String>,
}

/// What happened inside the cluster that the invariant checkers care about.
#[derive(Debug, Clone)]
pub enum Observed {
    /// A LAUNCH_GROUP was applied (or refused) for these tasks.
    Launch {
        /// The agent.
        agent: usize,
        /// The tasks.
        tasks: Vec<TaskInfo>,
        /// Whether the master refused it.
        refused: bool,
    },
    /// A volume was created.
    Create {
        /// The agent.
        agent: usize,
        /// The volume's pod instance label.
        pod_instance: Option<String>,
    },
    /// A volume was destroyed.
    Destroy {
        /// The agent.
        agent: usize,
        /// The volume's pod instance label.
        pod_instance: Option<String>,
    },
    /// A KILL reached a task.
    Kill {
        /// The task id.
        task_id: String,
    },
    /// A reliable update was acknowledged.
    Acked {
        /// The task id.
        task_id: String,
        /// Its state.
        state: TaskState,
    },
}

/// A delivery on its way to the scheduler.
#[derive(Debug, Clone)]
struct InFlight {
    at: u64,
    seq: u64,
    event: Event,
}

/// The master with its agents.
#[derive(Debug)]
pub struct Cluster {
    /// The agents, by index (agent ids are `a<index>`).
    pub agents: Vec<Agent>,
    role: String,
    principal: String,
    framework_id: Option<String>,
    /// The framework's name, as it subscribed.
    framework_name: String,
    /// SUBSCRIBEs without a framework id made while the service's framework was registered:
    /// each one a second framework of the same service (invariant 9).
    pub second_registrations: u64,
    /// Whether a scheduler is subscribed.
    pub connected: bool,
    suppressed: bool,
    offers: BTreeMap<String, (usize, Vec<Resource>)>,
    next_offer: u64,
    next_uuid: u64,
    next_seq: u64,
    in_flight: Vec<InFlight>,
    /// Per task id: the latest delivery time already scheduled, so one task's updates keep
    /// their order however the network delays them.
    last_delivery: BTreeMap<String, u64>,
    /// For the checkers: what happened since they last looked.
    pub observed: Vec<Observed>,
    /// Agent resources, for fresh agents.
    agent_resources: String,
}

fn strip(r: &Resource) -> Resource {
    Resource {
        allocation_info: None,
        ..r.to_refined_format()
    }
}

fn strip_all(rs: &[Resource]) -> Vec<Resource> {
    rs.iter().map(strip).collect()
}

impl Cluster {
    /// A cluster of `n` agents, each with `resources` (Mesos' `--resources` syntax).
    pub fn new(n: usize, resources: &str, role: &str, principal: &str) -> Cluster {
        let mut c = Cluster {
            agents: Vec::new(),
            role: role.to_string(),
            principal: principal.to_string(),
            framework_id: None,
            framework_name: String::new(),
            second_registrations: 0,
            connected: false,
            suppressed: false,
            offers: BTreeMap::new(),
            next_offer: 0,
            next_uuid: 0,
            next_seq: 0,
            in_flight: Vec::new(),
            last_delivery: BTreeMap::new(),
            observed: Vec::new(),
            agent_resources: resources.to_string(),
        };
        for _ in 0..n {
            c.add_agent();
        }
        c
    }

    /// Adds a fresh agent (a new machine).
    pub fn add_agent(&mut self) -> usize {
        let i = self.agents.len();
        self.agents.push(Agent {
            id: format!("a{i}"),
            hostname: format!("host-{i}"),
            state: AgentState::Up,
            pool: Resources::parse(&self.agent_resources).expect("agent resources parse"),
            executors: BTreeMap::new(),
            tasks: BTreeMap::new(),
            filtered_until: 0,
            offer: None,
        });
        i
    }

    fn agent_index(&self, id: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.id == id)
    }

    // ------------------------------------------------------------------ subscription

    /// SUBSCRIBE: a framework id (the stored one, or a new one), then SUBSCRIBED at the head
    /// of the new stream. Pending reliable updates are re-sent right away. The model has one
    /// framework: a registration without an id while it exists is counted (a real master
    /// would register a second framework of the service beside it).
    pub fn subscribe(&mut self, now: u64, call: &Call) -> Event {
        let info = call.subscribe.as_ref().map(|s| &s.framework_info);
        let asked = info.and_then(|i| i.id.clone()).map(|f| f.value);
        if asked.is_none() && self.framework_id.is_some() {
            self.second_registrations += 1;
        }
        if let Some(i) = info {
            self.framework_name = i.name.clone();
        }
        let fid = asked
            .or_else(|| self.framework_id.clone())
            .unwrap_or_else(|| "fw-sim".to_string());
        self.framework_id = Some(fid.clone());
        self.connected = true;
        // A new subscription starts with filters cleared and offers flowing (Mesos resets
        // the framework's suppression from the SUBSCRIBE's suppressed_roles, empty here).
        self.suppressed = false;
        for a in &mut self.agents {
            for t in a.tasks.values_mut() {
                t.next_send = t.next_send.min(now);
            }
        }
        Event::subscribed(FrameworkId::new(fid), 15.0, None)
    }

    /// The stream broke: nothing more is delivered until SUBSCRIBE; outstanding offers are
    /// rescinded (Mesos recovers them when the framework disconnects).
    pub fn disconnect(&mut self) {
        self.connected = false;
        self.in_flight.clear();
        self.last_delivery.clear();
        let ids: Vec<String> = self.offers.keys().cloned().collect();
        for id in ids {
            self.take_back_offer(&id);
        }
    }

    // ------------------------------------------------------------------ delivery

    fn push_event(&mut self, at: u64, event: Event) {
        if !self.connected {
            return;
        }
        self.next_seq += 1;
        self.in_flight.push(InFlight {
            at,
            seq: self.next_seq,
            event,
        });
    }

    /// Queues a status update for delivery at `at`, never before an earlier one of the same
    /// task (Mesos keeps one task's stream in order).
    fn push_update(&mut self, at: u64, status: TaskStatus) {
        let last = self
            .last_delivery
            .entry(status.task_id.value.clone())
            .or_insert(0);
        let at = at.max(*last);
        *last = at;
        self.push_event(at, Event::update(status));
    }

    /// Events due by `now`, in delivery order.
    pub fn due(&mut self, now: u64) -> Vec<Event> {
        self.in_flight.sort_by_key(|f| (f.at, f.seq));
        let n = self.in_flight.iter().take_while(|f| f.at <= now).count();
        self.in_flight.drain(..n).map(|f| f.event).collect()
    }

    // ------------------------------------------------------------------ time

    /// Advances tasks, re-sends unacknowledged updates (with `delay` chosen per update by the
    /// driver) and makes offers.
    pub fn tick(&mut self, now: u64, delay: &mut dyn FnMut() -> u64) {
        for i in 0..self.agents.len() {
            let state = self.agents[i].state;
            if !matches!(state, AgentState::Up | AgentState::Partitioned) {
                continue;
            }
            let ids: Vec<String> = self.agents[i].tasks.keys().cloned().collect();
            for id in ids {
                self.step_task(now, i, &id);
                let t = &self.agents[i].tasks[&id];
                if self.connected && state == AgentState::Up && t.next_send <= now {
                    if let Some(head) = t.pending.front().cloned() {
                        let t = self.agents[i].tasks.get_mut(&id).expect("task");
                        t.next_send = now + RETRY_MS;
                        t.forwarded = Some(head.state);
                        if head.check_status.is_some() {
                            t.check_status = head.check_status.clone();
                        }
                        let d = delay();
                        self.push_update(now + d, head);
                    }
                }
            }
        }
        if self.connected && !self.suppressed {
            let mut batch = Vec::new();
            for i in 0..self.agents.len() {
                let a = &self.agents[i];
                if a.state == AgentState::Up
                    && a.offer.is_none()
                    && a.filtered_until <= now
                    && !a.pool.0.is_empty()
                {
                    batch.push(self.make_offer(i));
                }
            }
            if !batch.is_empty() {
                self.push_event(now, Event::offers(batch));
            }
        }
    }

    fn make_offer(&mut self, i: usize) -> Offer {
        self.next_offer += 1;
        let id = format!("o{}", self.next_offer);
        let a = &mut self.agents[i];
        let resources = std::mem::take(&mut a.pool).0;
        a.offer = Some(id.clone());
        self.offers.insert(id.clone(), (i, resources.clone()));
        let a = &self.agents[i];
        Offer {
            id: OfferId::new(id),
            framework_id: FrameworkId::new(self.framework_id.clone().unwrap_or_default()),
            agent_id: AgentId::new(a.id.clone()),
            hostname: a.hostname.clone(),
            resources: resources
                .iter()
                .map(|r| Resource {
                    allocation_info: Some(AllocationInfo::role(self.role.clone())),
                    ..r.clone()
                })
                .collect(),
            allocation_info: Some(AllocationInfo::role(self.role.clone())),
            ..Offer::default()
        }
    }

    /// Returns an outstanding offer's resources to its agent's pool.
    fn take_back_offer(&mut self, id: &str) -> Option<usize> {
        let (i, resources) = self.offers.remove(id)?;
        let a = &mut self.agents[i];
        a.offer = None;
        a.pool.add_all(resources.iter());
        Some(i)
    }

    /// Rescinds an outstanding offer (the `n`-th, modulo): the fault "offer rescinded".
    pub fn rescind_one(&mut self, now: u64, n: usize) -> Option<String> {
        if self.offers.is_empty() {
            return None;
        }
        let id = self.offers.keys().nth(n % self.offers.len())?.clone();
        self.take_back_offer(&id);
        self.push_event(now, Event::rescind(OfferId::new(id.clone())));
        Some(id)
    }

    fn next_uuid(&mut self) -> Bytes {
        self.next_uuid += 1;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_uuid.to_be_bytes());
        Bytes::from(b)
    }

    fn status(&self, i: usize, t: &Task, state: TaskState) -> TaskStatus {
        TaskStatus {
            agent_id: Some(AgentId::new(self.agents[i].id.clone())),
            executor_id: t.info.executor.as_ref().map(|e| e.executor_id.clone()),
            source: Some(Source::Executor),
            ..TaskStatus::new(t.info.task_id.value.clone(), state)
        }
    }

    /// Appends a reliable update to a task's stream (sent now if it is the head).
    fn report(&mut self, now: u64, i: usize, id: &str, mut status: TaskStatus) {
        status.uuid = Some(self.next_uuid());
        let t = self.agents[i].tasks.get_mut(id).expect("task");
        if t.pending.is_empty() {
            t.next_send = now;
        }
        t.pending.push_back(status);
    }

    /// A task's own progress: STARTING → RUNNING → (check passes) → FINISHED for a goal
    /// FINISH/ONCE task.
    fn step_task(&mut self, now: u64, i: usize, id: &str) {
        let t = &self.agents[i].tasks[id];
        if t.next_step.is_none_or(|at| at > now) || t.state.is_terminal() {
            return;
        }
        let (state, ready, has_check, finishes) = (t.state, t.ready, t.has_check(), t.finishes());
        let mut s;
        let mut next = Some(now + 1_000);
        let (new_state, new_ready) = match (state, ready) {
            (TaskState::Staging, _) => (TaskState::Starting, false),
            (TaskState::Starting, _) => (TaskState::Running, false),
            (TaskState::Running, false) if has_check => (TaskState::Running, true),
            (TaskState::Running, _) if finishes => (TaskState::Finished, ready),
            _ => {
                self.agents[i].tasks.get_mut(id).expect("task").next_step = None;
                return;
            }
        };
        s = self.status(i, &self.agents[i].tasks[id], new_state);
        if new_ready {
            s.check_status = Some(CheckStatusInfo {
                type_: Some(CheckType::Command),
                command: Some(CheckStatusCommand { exit_code: Some(0) }),
                ..CheckStatusInfo::default()
            });
            s.reason = Some(Reason::TaskCheckStatusUpdated);
        }
        if new_state.is_terminal() {
            next = None;
        }
        let t = self.agents[i].tasks.get_mut(id).expect("task");
        t.state = new_state;
        t.ready = new_ready;
        t.next_step = next;
        if new_state.is_terminal() {
            self.release(i, id);
        }
        self.report(now, i, id, s);
    }

    /// A task ended: its resources (and its executor's, when it was the last) go back.
    fn release(&mut self, i: usize, id: &str) {
        let a = &mut self.agents[i];
        let Some(t) = a.tasks.get(id) else { return };
        let exec = t.executor.clone();
        let res = strip_all(&t.info.resources);
        a.pool.add_all(res.iter());
        let others = a
            .tasks
            .values()
            .any(|o| o.executor == exec && o.info.task_id.value != id && o.is_live());
        if !others {
            if let Some(r) = a.executors.remove(&exec) {
                a.pool.add_all(r.iter());
            }
        }
    }

    // ------------------------------------------------------------------ faults

    /// The fault "task crash": a live task fails (reliable TASK_FAILED).
    pub fn crash_task(&mut self, now: u64, i: usize, id: &str) {
        let a = &self.agents[i];
        let Some(t) = a.tasks.get(id) else { return };
        if !t.is_live() || !matches!(a.state, AgentState::Up | AgentState::Partitioned) {
            return;
        }
        let mut s = self.status(i, t, TaskState::Failed);
        s.message = Some("simulated crash".into());
        s.reason = Some(Reason::ExecutorTerminated);
        let t = self.agents[i].tasks.get_mut(id).expect("task");
        t.state = TaskState::Failed;
        t.next_step = None;
        self.release(i, id);
        self.report(now, i, id, s);
    }

    /// The fault "agent lost": the machine dies with its tasks. The master tells the framework
    /// TASK_UNREACHABLE (master-made, no uuid) and rescinds its offer.
    pub fn lose_agent(&mut self, now: u64, i: usize, gone: bool) {
        if self.agents[i].state != AgentState::Up {
            return;
        }
        if let Some(o) = self.agents[i].offer.clone() {
            self.take_back_offer(&o);
            self.push_event(now, Event::rescind(OfferId::new(o)));
        }
        self.agents[i].state = if gone {
            AgentState::Gone
        } else {
            AgentState::Down
        };
        let ids: Vec<String> = self.agents[i].tasks.keys().cloned().collect();
        for id in ids {
            let t = &self.agents[i].tasks[&id];
            // The master's view, not the truth: a task whose terminal update it has not
            // forwarded yet is still live to it.
            let live_to_master = t.forwarded.is_none_or(|s| !s.is_terminal());
            if !live_to_master {
                continue;
            }
            let was_live = t.is_live();
            let state = if gone {
                TaskState::Gone
            } else {
                TaskState::Unreachable
            };
            let mut s = self.status(i, t, state);
            s.source = Some(Source::Master);
            s.reason = Some(if gone {
                Reason::AgentRemoved
            } else {
                Reason::AgentDisconnected
            });
            // The truth: the processes died with the machine. The agent reports it when it
            // is back (the uuid is set then).
            let failed = TaskStatus {
                reason: Some(Reason::AgentRestarted),
                message: Some("agent restarted".into()),
                ..self.status(i, t, TaskState::Failed)
            };
            self.push_update(now, s);
            if !was_live {
                continue; // its own terminal update is already queued
            }
            let t = self.agents[i].tasks.get_mut(&id).expect("task");
            t.state = TaskState::Failed;
            t.next_step = None;
            t.pending.push_back(failed);
            self.release(i, &id);
        }
        if gone {
            // A gone agent's tasks are forgotten with it.
            self.agents[i].tasks.clear();
        }
        // As Mesos does for an agent it marks unreachable or removes.
        let id = AgentId::new(self.agents[i].id.clone());
        self.push_event(now, Event::failure(Some(id), None, None));
    }

    /// An agent that was down re-registers with its checkpointed reservations and volumes;
    /// its tasks' pending updates (the TASK_FAILED of what died with it) are sent.
    pub fn restore_agent(&mut self, now: u64, i: usize) {
        if self.agents[i].state != AgentState::Down {
            return;
        }
        self.agents[i].state = AgentState::Up;
        let uuids: Vec<Bytes> = (0..self.agents[i]
            .tasks
            .values()
            .map(|t| t.pending.len())
            .sum::<usize>())
            .map(|_| self.next_uuid())
            .collect();
        let mut u = uuids.into_iter();
        for t in self.agents[i].tasks.values_mut() {
            for s in &mut t.pending {
                if s.uuid.is_none() {
                    s.uuid = u.next();
                }
            }
            t.next_send = now;
        }
    }

    /// The fault "partition": the agent is cut off; its tasks run on unseen, the master
    /// reports them UNREACHABLE (no uuid) and rescinds the agent's offer.
    pub fn partition_agent(&mut self, now: u64, i: usize) {
        if self.agents[i].state != AgentState::Up {
            return;
        }
        if let Some(o) = self.agents[i].offer.clone() {
            self.take_back_offer(&o);
            self.push_event(now, Event::rescind(OfferId::new(o)));
        }
        self.agents[i].state = AgentState::Partitioned;
        let unreachable: Vec<TaskStatus> = self.agents[i]
            .tasks
            .values()
            .filter(|t| t.is_live())
            .map(|t| TaskStatus {
                source: Some(Source::Master),
                reason: Some(Reason::AgentDisconnected),
                check_status: t.check_status.clone(),
                ..self.status(i, t, TaskState::Unreachable)
            })
            .collect();
        for s in unreachable {
            self.push_update(now, s);
        }
        let id = AgentId::new(self.agents[i].id.clone());
        self.push_event(now, Event::failure(Some(id), None, None));
    }

    /// A partition heals: the agent re-registers; the master tells the framework the current
    /// state of every task that has no update pending (reason AGENT_REREGISTERED, no uuid),
    /// and pending reliable updates flow again.
    pub fn heal_agent(&mut self, now: u64, i: usize) {
        if self.agents[i].state != AgentState::Partitioned {
            return;
        }
        self.agents[i].state = AgentState::Up;
        let current: Vec<TaskStatus> = self.agents[i]
            .tasks
            .values()
            .filter(|t| t.pending.is_empty())
            .map(|t| TaskStatus {
                source: Some(Source::Master),
                reason: Some(Reason::AgentReregistered),
                check_status: t.check_status.clone(),
                ..self.status(i, t, t.state)
            })
            .collect();
        for s in current {
            self.push_update(now, s);
        }
        for t in self.agents[i].tasks.values_mut() {
            t.next_send = now;
        }
    }

    /// The fault "executor checkpoints lost": the agent restarts without the checkpoint of the
    /// executor running task `id` (a registered agent, its reservations and volumes intact).
    /// Every task of that executor died with the restart and is forgotten, pending updates
    /// included; the master tells the framework TASK_GONE (REASON_AGENT_RESTARTED, no uuid),
    /// as Mesos does for tasks a re-registering agent no longer reports. Returns the tasks.
    pub fn forget_executor(&mut self, now: u64, i: usize, id: &str) -> Vec<String> {
        if self.agents[i].state != AgentState::Up {
            return Vec::new();
        }
        let Some(exec) = self.agents[i].tasks.get(id).map(|t| t.executor.clone()) else {
            return Vec::new();
        };
        let ids: Vec<String> = self.agents[i]
            .tasks
            .values()
            .filter(|t| t.executor == exec)
            .map(|t| t.info.task_id.value.clone())
            .collect();
        for id in &ids {
            let t = &self.agents[i].tasks[id];
            let live_to_master = t.forwarded.is_none_or(|s| !s.is_terminal());
            let mut s = self.status(i, t, TaskState::Gone);
            s.source = Some(Source::Master);
            s.reason = Some(Reason::AgentRestarted);
            s.message = Some("Task was not found on the re-registered agent".into());
            if t.is_live() {
                self.release(i, id);
            }
            self.agents[i].tasks.remove(id);
            if live_to_master {
                self.push_update(now, s);
            }
        }
        if let Some(r) = self.agents[i].executors.remove(&exec) {
            self.agents[i].pool.add_all(r.iter());
        }
        ids
    }

    /// Everything agent `i` has: free, offered, used by live tasks and executors (with
    /// reservations and volumes), as GET_AGENTS reports an agent's total.
    fn total(&self, i: usize) -> Vec<Resource> {
        let a = &self.agents[i];
        let used = a
            .tasks
            .values()
            .filter(|t| t.is_live())
            .flat_map(|t| t.info.resources.iter())
            .chain(a.executors.values().flatten())
            .map(strip);
        let offered = a
            .offer
            .as_ref()
            .and_then(|o| self.offers.get(o))
            .map(|(_, r)| strip_all(r))
            .unwrap_or_default();
        let mut total = Resources(Vec::new());
        total.add_all(
            a.pool
                .0
                .iter()
                .cloned()
                .chain(used)
                .chain(offered)
                .collect::<Vec<_>>()
                .iter(),
        );
        total.0
    }

    /// The operator API's GET_AGENTS: the registered agents (up; a crashed or partitioned one
    /// is unreachable to the master, a removed one is gone) and everything each holds.
    pub fn get_agents(&self) -> master::GetAgents {
        let agents = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.state == AgentState::Up)
            .map(|(i, a)| master::Agent {
                agent_info: AgentInfo {
                    id: Some(AgentId::new(a.id.clone())),
                    hostname: a.hostname.clone(),
                    ..AgentInfo::default()
                },
                active: true,
                total_resources: self.total(i),
                ..master::Agent::default()
            })
            .collect();
        master::GetAgents {
            agents,
            ..master::GetAgents::default()
        }
    }

    /// The operator API's GET_STATE: the service's framework, the agents, the tasks the
    /// master takes for live (from what the agents forwarded), and their executors.
    pub fn master_state(&self) -> master::GetState {
        let frameworks = self
            .framework_id
            .iter()
            .map(|id| master::Framework {
                framework_info: FrameworkInfo {
                    id: Some(FrameworkId::new(id.clone())),
                    roles: vec![self.role.clone()],
                    principal: Some(self.principal.clone()),
                    ..FrameworkInfo::new("root", self.framework_name.clone())
                },
                active: self.connected,
                connected: self.connected,
                ..master::Framework::default()
            })
            .collect();
        let fid = FrameworkId::new(self.framework_id.clone().unwrap_or_default());
        let mut tasks = master::GetTasks::default();
        let mut executors = BTreeMap::new();
        for a in self.agents.iter().filter(|a| a.state != AgentState::Gone) {
            for t in a.tasks.values() {
                let state = t.forwarded.unwrap_or(TaskState::Staging);
                if state.is_terminal() {
                    continue;
                }
                let view = cairn_proto::Task {
                    name: t.info.name.clone(),
                    task_id: t.info.task_id.clone(),
                    framework_id: fid.clone(),
                    executor_id: t.info.executor.as_ref().map(|e| e.executor_id.clone()),
                    agent_id: AgentId::new(a.id.clone()),
                    state,
                    resources: t.info.resources.clone(),
                    statuses: vec![TaskStatus {
                        check_status: t.check_status.clone(),
                        ..TaskStatus::new(t.info.task_id.value.clone(), state)
                    }],
                    labels: t.info.labels.clone(),
                    check: t.info.check.clone(),
                    health_check: t.info.health_check.clone(),
                    ..cairn_proto::Task::default()
                };
                if a.state == AgentState::Up {
                    tasks.tasks.push(view);
                } else {
                    tasks.unreachable_tasks.push(view);
                }
                // The master's view, like its view of the task: the executor of a task it takes
                // for live (the agent may not have told it yet that both ended).
                if let Some(e) = &t.info.executor {
                    executors.insert(
                        (a.id.clone(), t.executor.clone()),
                        master::Executor {
                            executor_info: e.clone(),
                            agent_id: AgentId::new(a.id.clone()),
                        },
                    );
                }
            }
        }
        master::GetState {
            get_tasks: Some(tasks),
            get_executors: Some(master::GetExecutors {
                executors: executors.into_values().collect(),
                ..master::GetExecutors::default()
            }),
            get_frameworks: Some(master::GetFrameworks {
                frameworks,
                ..master::GetFrameworks::default()
            }),
            get_agents: Some(self.get_agents()),
        }
    }

    /// The framework id the master has for the service, once it registered.
    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    /// Agents other than `except` that hold a persistent volume of `pod_instance` and are not
    /// removed: its homes besides a new one.
    pub fn volume_homes(&self, pod_instance: &str, except: usize) -> Vec<usize> {
        (0..self.agents.len())
            .filter(|i| *i != except && self.agents[*i].state != AgentState::Gone)
            .filter(|i| {
                self.total(*i).iter().any(|r| {
                    r.persistence_id().is_some()
                        && r.reservation_labels()
                            .and_then(|l| l.get(labels::POD_INSTANCE))
                            == Some(pod_instance)
                })
            })
            .collect()
    }

    /// Live tasks in truth, as (agent, task id).
    pub fn live_tasks(&self) -> Vec<(usize, String)> {
        self.agents
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                a.tasks
                    .values()
                    .filter(|t| t.is_live())
                    .map(move |t| (i, t.info.task_id.value.clone()))
            })
            .collect()
    }

    // ------------------------------------------------------------------ calls

    /// One call from the scheduler. SUBSCRIBE is handled by [`Cluster::subscribe`].
    pub fn handle_call(&mut self, now: u64, call: Call) {
        if !self.connected {
            return;
        }
        match call.type_ {
            CallType::Accept => {
                if let Some(a) = call.accept {
                    self.accept(now, a);
                }
            }
            CallType::Decline => {
                if let Some(d) = call.decline {
                    let refuse = refuse_ms(d.filters.as_ref());
                    for o in d.offer_ids {
                        if let Some(i) = self.take_back_offer(&o.value) {
                            self.agents[i].filtered_until = now + refuse;
                        }
                    }
                }
            }
            CallType::Revive => {
                self.suppressed = false;
                for a in &mut self.agents {
                    a.filtered_until = 0;
                }
            }
            CallType::Suppress => self.suppressed = true,
            CallType::Kill => {
                if let Some(k) = call.kill {
                    self.kill(now, &k.task_id.value);
                }
            }
            CallType::Acknowledge => {
                if let Some(a) = call.acknowledge {
                    self.acknowledge(now, &a.agent_id.value, &a.task_id.value, &a.uuid);
                }
            }
            CallType::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                self.reconcile(now, tasks);
            }
            _ => {}
        }
    }

    fn kill(&mut self, now: u64, task_id: &str) {
        self.observed.push(Observed::Kill {
            task_id: task_id.to_string(),
        });
        let Some(i) = self
            .agents
            .iter()
            // A partitioned or dead agent never hears the KILL; the scheduler retries.
            .position(|a| a.state == AgentState::Up && a.tasks.contains_key(task_id))
        else {
            return;
        };
        let t = &self.agents[i].tasks[task_id];
        if !t.is_live() {
            return;
        }
        let s = self.status(i, t, TaskState::Killed);
        let t = self.agents[i].tasks.get_mut(task_id).expect("task");
        t.state = TaskState::Killed;
        t.next_step = None;
        self.release(i, task_id);
        self.report(now, i, task_id, s);
    }

    fn acknowledge(&mut self, now: u64, agent: &str, task_id: &str, uuid: &Bytes) {
        let Some(i) = self.agent_index(agent) else {
            return;
        };
        if self.agents[i].state != AgentState::Up {
            return;
        }
        let Some(t) = self.agents[i].tasks.get_mut(task_id) else {
            return;
        };
        if t.pending.front().and_then(|s| s.uuid.as_ref()) != Some(uuid) {
            return; // a stale ack (of a duplicate) changes nothing
        }
        let s = t.pending.pop_front().expect("head");
        t.next_send = now;
        let gc = t.pending.is_empty() && !t.is_live();
        self.observed.push(Observed::Acked {
            task_id: task_id.to_string(),
            state: s.state,
        });
        if gc {
            // An acknowledged terminal update lets the agent forget the task.
            self.agents[i].tasks.remove(task_id);
        }
    }

    /// The master's answer about one task (Mesos' PARTITION_AWARE states).
    fn reconcile_answer(&self, task_id: &str, agent: Option<&str>) -> TaskStatus {
        let found = self
            .agents
            .iter()
            .enumerate()
            .find(|(_, a)| a.tasks.contains_key(task_id));
        let (state, agent_id) = match found {
            Some((_, a)) if matches!(a.state, AgentState::Down | AgentState::Partitioned) => {
                (TaskState::Unreachable, Some(a.id.clone()))
            }
            Some((_, a)) => {
                let t = &a.tasks[task_id];
                // The master's view: the latest update the agent forwarded.
                let st = t.forwarded.unwrap_or(TaskState::Staging);
                return TaskStatus {
                    agent_id: Some(AgentId::new(a.id.clone())),
                    source: Some(Source::Master),
                    reason: Some(Reason::Reconciliation),
                    message: Some("Reconciliation: Latest task state".into()),
                    check_status: t.check_status.clone(),
                    ..TaskStatus::new(task_id.to_string(), st)
                };
            }
            None => match agent.and_then(|a| self.agent_index(a)) {
                Some(i) => match self.agents[i].state {
                    AgentState::Up => (TaskState::Gone, Some(self.agents[i].id.clone())),
                    AgentState::Down | AgentState::Partitioned => {
                        (TaskState::Unreachable, Some(self.agents[i].id.clone()))
                    }
                    AgentState::Gone => {
                        (TaskState::GoneByOperator, Some(self.agents[i].id.clone()))
                    }
                },
                None => (TaskState::Unknown, agent.map(str::to_string)),
            },
        };
        TaskStatus {
            agent_id: agent_id.map(AgentId::new),
            source: Some(Source::Master),
            reason: Some(Reason::Reconciliation),
            message: Some("Reconciliation: Latest task state".into()),
            ..TaskStatus::new(task_id.to_string(), state)
        }
    }

    fn reconcile(&mut self, now: u64, tasks: Vec<cairn_proto::scheduler::ReconcileTask>) {
        let answers: Vec<TaskStatus> = if tasks.is_empty() {
            self.agents
                .iter()
                .filter(|a| a.state != AgentState::Gone)
                .flat_map(|a| a.tasks.keys())
                .map(|id| self.reconcile_answer(id, None))
                .collect()
        } else {
            tasks
                .iter()
                .map(|t| {
                    self.reconcile_answer(
                        &t.task_id.value,
                        t.agent_id.as_ref().map(|a| a.value.as_str()),
                    )
                })
                .collect()
        };
        for s in answers {
            self.push_update(now, s);
        }
    }

    fn accept(&mut self, now: u64, accept: cairn_proto::scheduler::Accept) {
        let refuse = refuse_ms(accept.filters.as_ref());
        // Every offer must be outstanding and from one agent; else the whole ACCEPT is
        // refused and its tasks are DROPPED (REASON_INVALID_OFFERS, master-made).
        let mut agent = None;
        let mut resources = Vec::new();
        let mut valid = !accept.offer_ids.is_empty();
        for o in &accept.offer_ids {
            match self.offers.get(&o.value) {
                Some((i, _)) if agent.is_none_or(|a| a == *i) => agent = Some(*i),
                _ => valid = false,
            }
        }
        let tasks_of = |op: &OfferOperation| -> Vec<TaskInfo> {
            op.launch_group
                .as_ref()
                .map(|lg| lg.task_group.tasks.clone())
                .unwrap_or_default()
        };
        if !valid {
            for op in &accept.operations {
                let tasks = tasks_of(op);
                for t in &tasks {
                    self.push_update(
                        now,
                        TaskStatus {
                            source: Some(Source::Master),
                            reason: Some(Reason::InvalidOffers),
                            agent_id: Some(t.agent_id.clone()),
                            ..TaskStatus::new(t.task_id.value.clone(), TaskState::Dropped)
                        },
                    );
                }
                if !tasks.is_empty() {
                    self.observed.push(Observed::Launch {
                        agent: usize::MAX,
                        tasks,
                        refused: true,
                    });
                }
            }
            return;
        }
        let i = agent.expect("validated");
        for o in &accept.offer_ids {
            if let Some((_, r)) = self.offers.remove(&o.value) {
                resources.extend(r);
            }
        }
        self.agents[i].offer = None;
        let mut scratch = Resources(Vec::new());
        scratch.add_all(resources.iter());
        for op in &accept.operations {
            let mut next = scratch.clone();
            let ok = self.apply(now, i, &mut next, op);
            if ok {
                scratch = next;
            } else {
                let tasks = tasks_of(op);
                for t in &tasks {
                    self.push_update(
                        now,
                        TaskStatus {
                            source: Some(Source::Master),
                            reason: Some(Reason::TaskGroupInvalid),
                            agent_id: Some(t.agent_id.clone()),
                            message: Some("invalid operation".into()),
                            ..TaskStatus::new(t.task_id.value.clone(), TaskState::Error)
                        },
                    );
                }
                if !tasks.is_empty() {
                    self.observed.push(Observed::Launch {
                        agent: i,
                        tasks,
                        refused: true,
                    });
                }
            }
        }
        let a = &mut self.agents[i];
        a.pool.add_all(scratch.0.iter());
        a.filtered_until = now + refuse;
    }

    /// Applies one operation to `scratch` (the offer's remaining resources); false when Mesos
    /// would refuse it.
    fn apply(&mut self, now: u64, i: usize, scratch: &mut Resources, op: &OfferOperation) -> bool {
        let take = |s: &mut Resources, r: &Resource| s.subtract(&strip(r)).is_ok();
        match op.type_ {
            OperationType::Reserve => {
                let Some(rs) = op.reserve.as_ref() else {
                    return false;
                };
                let rs: Vec<Resource> = rs.resources.iter().map(strip).collect();
                // The master's check of the framework's role and principal, before the books.
                let ours = rs.iter().all(|r| {
                    r.reservations.last().is_some_and(|top| {
                        top.role.as_deref() == Some(self.role.as_str())
                            && top.principal.as_deref().is_none_or(|p| p == self.principal)
                    })
                });
                ours && self.apply_books(i, scratch, ResourceOperation::Reserve(rs))
            }
            OperationType::Unreserve => {
                let Some(rs) = op.unreserve.as_ref() else {
                    return false;
                };
                let rs = rs.resources.iter().map(strip).collect();
                self.apply_books(i, scratch, ResourceOperation::Unreserve(rs))
            }
            OperationType::Create => {
                let Some(c) = op.create.as_ref() else {
                    return false;
                };
                let vs = c.volumes.iter().map(strip).collect();
                self.apply_books(i, scratch, ResourceOperation::Create(vs))
            }
            OperationType::Destroy => {
                let Some(d) = op.destroy.as_ref() else {
                    return false;
                };
                let vs = d.volumes.iter().map(strip).collect();
                self.apply_books(i, scratch, ResourceOperation::Destroy(vs))
            }
            OperationType::LaunchGroup => {
                let Some(lg) = op.launch_group.as_ref() else {
                    return false;
                };
                let exec = lg.executor.executor_id.value.clone();
                let mut used = scratch.clone();
                let new_exec = !self.agents[i].executors.contains_key(&exec);
                if new_exec {
                    for r in &lg.executor.resources {
                        if !take(&mut used, r) {
                            return false;
                        }
                    }
                }
                let mut seen = BTreeSet::new();
                for t in &lg.task_group.tasks {
                    let dup = self
                        .agents
                        .iter()
                        .any(|a| a.tasks.contains_key(&t.task_id.value));
                    if dup || !seen.insert(t.task_id.value.clone()) || t.executor.is_some() {
                        return false;
                    }
                    for r in &t.resources {
                        if !take(&mut used, r) {
                            return false;
                        }
                    }
                }
                *scratch = used;
                if new_exec {
                    self.agents[i]
                        .executors
                        .insert(exec.clone(), strip_all(&lg.executor.resources));
                }
                for t in &lg.task_group.tasks {
                    let pod_instance = pod_name(t);
                    let mut info = t.clone();
                    info.executor = Some(lg.executor.clone());
                    self.agents[i].tasks.insert(
                        t.task_id.value.clone(),
                        Task {
                            info,
                            pod_instance,
                            executor: exec.clone(),
                            state: TaskState::Staging,
                            ready: false,
                            check_status: None,
                            forwarded: None,
                            pending: VecDeque::new(),
                            next_send: now,
                            next_step: Some(now + 500),
                        },
                    );
                }
                self.observed.push(Observed::Launch {
                    agent: i,
                    tasks: lg.task_group.tasks.clone(),
                    refused: false,
                });
                true
            }
            _ => false,
        }
    }

    /// A resource operation on the offer's resources, as Mesos applies it
    /// ([`apply_resource_operation`]); the volumes it made and removed are observed. False when
    /// Mesos would refuse it.
    fn apply_books(&mut self, i: usize, scratch: &mut Resources, op: ResourceOperation) -> bool {
        // The simulated agent keeps no total apart from its pool, the offer and its tasks; the
        // offer stands in for it (what the operation takes must be offered anyway).
        let mut total = scratch.clone();
        let agent = SimAgent { cluster: self, i };
        if apply_resource_operation(scratch, &mut total, &op, &agent).is_err() {
            return false;
        }
        let pod = |v: &Resource| {
            v.reservation_labels()
                .and_then(|l| l.get(labels::POD_INSTANCE))
                .map(str::to_string)
        };
        // Accepted: every volume of the operation was made or removed.
        match &op {
            ResourceOperation::Create(vs) => {
                for v in vs {
                    self.observed.push(Observed::Create {
                        agent: i,
                        pod_instance: pod(v),
                    });
                }
            }
            ResourceOperation::Destroy(vs) => {
                for v in vs {
                    self.observed.push(Observed::Destroy {
                        agent: i,
                        pod_instance: pod(v),
                    });
                }
            }
            ResourceOperation::Reserve(_) | ResourceOperation::Unreserve(_) => {}
        }
        true
    }

    fn volume_exists(&self, i: usize, pid: &str) -> bool {
        let a = &self.agents[i];
        let in_pool = a.pool.0.iter().any(|r| r.persistence_id() == Some(pid));
        let in_use = a
            .tasks
            .values()
            .filter(|t| t.is_live())
            .flat_map(|t| &t.info.resources)
            .any(|r| r.persistence_id() == Some(pid));
        in_pool || in_use
    }

    /// Every reserved resource on live agents, with its pod instance label, for the leak check.
    pub fn reservations(&self) -> Vec<(usize, Option<String>, String)> {
        let mut out = Vec::new();
        for (i, a) in self.agents.iter().enumerate() {
            if a.state == AgentState::Gone {
                continue;
            }
            let used = a
                .tasks
                .values()
                .filter(|t| t.is_live())
                .flat_map(|t| t.info.resources.iter())
                .chain(a.executors.values().flatten());
            let offered = a
                .offer
                .as_ref()
                .and_then(|o| self.offers.get(o))
                .map(|(_, r)| r.as_slice())
                .unwrap_or_default();
            for r in a.pool.0.iter().chain(used).chain(offered) {
                if r.is_reserved_to(&self.role) {
                    out.push((
                        i,
                        r.reservation_labels()
                            .and_then(|l| l.get(labels::POD_INSTANCE))
                            .map(str::to_string),
                        r.to_string(),
                    ));
                }
            }
        }
        out
    }
}

fn refuse_ms(f: Option<&cairn_proto::Filters>) -> u64 {
    f.and_then(|f| f.refuse_seconds)
        .map(|s| (s * 1000.0) as u64)
        .unwrap_or(DEFAULT_REFUSE_MS)
}

/// What the books alone cannot tell of a simulated agent.
struct SimAgent<'a> {
    cluster: &'a Cluster,
    i: usize,
}

impl Books for SimAgent<'_> {
    /// A persistence ID already on the agent: in its unoffered pool, used by a live task, or
    /// in the offer itself.
    fn volume_taken(&self, volume: &Resource, total: &Resources) -> bool {
        let pid = volume.persistence_id().unwrap_or_default();
        self.cluster.volume_exists(self.i, pid)
            || total.iter().any(|t| t.persistence_id() == Some(pid))
    }

    /// A volume in use is not offered, so the offer cannot give it up: the books refuse first.
    fn volume_in_use(&self, _volume: &Resource) -> bool {
        false
    }
}

/// The pod instance a task belongs to, as a name (`?` for a task cairn did not label).
pub(crate) fn pod_name(info: &TaskInfo) -> String {
    labels::task_pod_instance(info).map_or_else(|| "?".to_string(), |p| p.to_string())
}
