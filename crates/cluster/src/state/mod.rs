//! The cluster's state: the master's view (frameworks, offers, a mirror of every task) and each
//! agent's own (resources with reservations and volumes, executors, status update streams).
//!
//! Everything lives behind one lock and is changed by plain methods that never await. A change
//! records what must be said to the outside in an outbox; [`ClusterState::finish`] first writes
//! the checkpoints the change made dirty and only then hands the outbox over, so nothing is ever
//! announced that a crash could take back.
//!
//! The state never reads the clock itself: whatever needs the time is given a [`Now`], read once
//! where the change comes in, so a change sees one time throughout and a test can choose it.

mod accept;
mod agent;
mod alloc;
mod framework;
mod metrics;
mod recover;
mod subscribers;
mod users;
mod v0;
mod views;
pub use views::utc_date;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes as WireBytes;
use cairn_proto::{
    executor, scheduler, AgentId, Attribute, Bytes, CapabilityType, ExecutorId, FrameworkId,
    FrameworkInfo, OfferId, OperationId, OperationStatus, Resource, Resources, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError};
use crate::config::ClusterConfig;
use crate::stream::EventSender;

pub(crate) use agent::{prepare_dir, Executor, ExecutorPhase, SandboxDir};
pub(crate) use recover::load;

/// The whole cluster.
pub(crate) struct ClusterState {
    pub cfg: Arc<ClusterConfig>,
    pub master: Master,
    pub agents: Vec<AgentSlot>,
    /// Messages to send once the checkpoints are written.
    outbox: Vec<Outgoing>,
    /// Side effects (processes, servers) to carry out once the lock is released.
    effects: Vec<Effect>,
    /// Checkpoint files this change touched.
    dirty: BTreeSet<Dirty>,
    /// A counter that tells executor connections apart.
    next_connection: u64,
}

/// The master's own state.
pub(crate) struct Master {
    pub id: String,
    pub start_time: f64,
    pub next_framework: u64,
    pub next_offer: u64,
    /// How many times this master has started on its work directory (0 for a fresh one).
    pub incarnation: u64,
    pub frameworks: BTreeMap<FrameworkId, Framework>,
    /// Frameworks torn down (by TEARDOWN or a failover timeout). They may not come back.
    pub completed: VecDeque<CompletedFramework>,
    pub offers: HashMap<OfferId, OutstandingOffer>,
    /// Round-robin start for allocation, so no framework is always served first.
    pub allocation_cursor: usize,
    pub next_allocation: Instant,
    /// What `/metrics/snapshot` counts (in memory, as Mesos keeps its metrics).
    pub metrics: metrics::Metrics,
    /// The operator API's event streams (`SUBSCRIBE`).
    pub subscribers: subscribers::Subscribers,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct CompletedFramework {
    pub info: FrameworkInfo,
    pub id: FrameworkId,
    #[serde(default)]
    pub tasks: Vec<cairn_proto::Task>,
    /// Seconds since the epoch: when it first subscribed, last subscribed, was removed.
    #[serde(default)]
    pub registered_time: f64,
    #[serde(default)]
    pub reregistered_time: f64,
    #[serde(default)]
    pub unregistered_time: f64,
}

/// A framework the master knows.
pub(crate) struct Framework {
    pub id: FrameworkId,
    pub info: FrameworkInfo,
    pub registered_time: f64,
    /// When it last subscribed (its first subscription included, as Mesos counts it).
    pub reregistered_time: f64,
    pub stream: Option<StreamHandle>,
    /// When the scheduler's stream broke; the failover timeout runs from here.
    pub disconnected_at: Option<Instant>,
    pub suppressed: BTreeSet<String>,
    pub filters: Vec<OfferFilter>,
    pub next_heartbeat: Instant,
    pub tasks: HashMap<TaskId, MasterTask>,
    pub completed_tasks: VecDeque<cairn_proto::Task>,
    /// Operation statuses sent with a uuid and not yet acknowledged, with their operation's type.
    pub operations: BTreeMap<OperationId, (cairn_proto::OperationType, OperationStatus)>,
}

/// The open SUBSCRIBE stream of a framework.
pub(crate) struct StreamHandle {
    pub id: String,
    pub tx: EventSender,
}

/// Declined resources a framework does not want to see again for a while, under one of its
/// roles (Mesos keeps offer filters per role: what a MULTI_ROLE framework declined under one
/// role may still be offered to it under another).
pub(crate) struct OfferFilter {
    pub agent: usize,
    pub role: String,
    pub resources: Resources,
    pub until: Instant,
}

/// An offer that has been sent and not yet answered.
pub(crate) struct OutstandingOffer {
    /// The offer as the framework got it (refined format), for the operator API's views.
    pub offer: cairn_proto::Offer,
    pub framework: FrameworkId,
    pub agent: usize,
    pub role: String,
    /// In the refined format, with `allocation_info` set.
    pub resources: Resources,
    /// When it is rescinded if still unanswered (the offer timeout).
    pub expires: Option<Instant>,
}

/// The master's mirror of one task.
#[derive(Clone)]
pub(crate) struct MasterTask {
    pub agent: usize,
    pub executor_id: Option<ExecutorId>,
    pub info: TaskInfo,
    pub state: TaskState,
    pub statuses: Vec<TaskStatus>,
    /// The update the agent is waiting to have acknowledged.
    pub pending: Option<TaskStatus>,
    pub unreachable_time: Option<f64>,
}

/// How an agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) enum AgentStatus {
    Running,
    /// Stopped by fault injection; its processes keep running.
    Stopped,
    /// Lost for good: processes killed, disk erased.
    Gone,
}

/// An agent as the master knows it, with its runtime when it is running.
pub(crate) struct AgentSlot {
    pub index: usize,
    pub id: AgentId,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub dir: PathBuf,
    pub attributes: Vec<Attribute>,
    /// Everything the agent has, reservations and volumes included (refined format).
    pub total: Resources,
    pub status: AgentStatus,
    /// When the agent stopped talking; it turns unreachable after the ping timeout.
    pub disconnected_at: Option<Instant>,
    pub unreachable: bool,
    pub registered_time: f64,
    /// The running agent's executors; `None` while the agent is stopped or gone.
    pub runtime: Option<AgentRuntime>,
    /// Kills asked for while the agent was away, sent when it comes back (Mesos' master keeps
    /// them in memory the same way, as `Slave::killedTasks`).
    pub kills_while_away: Vec<(FrameworkId, TaskId, Option<cairn_proto::KillPolicy>)>,
    /// Why the agent may not start: its disk lost a checkpoint or a volume while other traces
    /// of it remain, and starting would offer what is in use or hand a pod an empty volume.
    /// Such an agent stays stopped (its processes keep running) until its disk is whole again
    /// or it is lost; the text says what the operator does.
    pub held_back: Option<String>,
}

/// What exists only while an agent runs.
#[derive(Default)]
pub(crate) struct AgentRuntime {
    pub executors: BTreeMap<String, Executor>,
    /// Executors waiting to re-subscribe after a restart of the agent, until this instant.
    pub recovering_until: Option<Instant>,
    /// The sweep for processes the agent has no checkpoint for, still running: the agent
    /// offers nothing until it is done (see `process::kill_orphans`).
    pub sweeping: Option<u64>,
}

/// A message to deliver after the checkpoints are written.
pub(crate) enum Outgoing {
    Framework(EventSender, WireBytes),
    Executor(EventSender, WireBytes),
    Operator(EventSender, WireBytes),
}

/// Work that has to happen outside the lock.
pub(crate) enum Effect {
    /// Start an executor process.
    Spawn(SpawnRequest),
    /// SIGKILL every process in the session of this executor (the executor and its tasks).
    KillSession { pid: u32, start: Option<u64> },
    /// After the grace period, SIGKILL whatever is left of the executor's session (the executor
    /// was told to shut down and should have ended its tasks itself by then).
    TerminateSession {
        pid: u32,
        start: Option<u64>,
        grace: Duration,
    },
    /// Start the agent's HTTP server on its address.
    StartAgentServer { agent: usize },
    /// Stop the agent's HTTP server.
    StopAgentServer { agent: usize },
    /// Delete a directory tree (a lost agent's disk, a destroyed volume) below `root`, without
    /// following links (see `paths::remove_dir_inside`).
    RemoveDir { root: PathBuf, dir: PathBuf },
    /// Kill the pod processes in an agent's sandboxes (`sandboxes`) that none of its executors
    /// (`known`: pid, start time, sandbox) account for, then report sweep `sweep` done.
    SweepOrphans {
        agent: usize,
        sweep: u64,
        sandboxes: PathBuf,
        known: Vec<(Option<u32>, Option<u64>, PathBuf)>,
    },
}

/// An executor process to start.
pub(crate) struct SpawnRequest {
    pub agent: usize,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub env: Vec<(String, String)>,
    /// The executor's token, written to its stdin (see `auth`).
    pub token: String,
    /// The user it runs as, when the cluster switches users.
    pub user: String,
    /// The agent's directory, where its volumes live.
    pub agent_dir: PathBuf,
    /// Sandbox directories to make before the executor starts: its sandbox, then its tasks'.
    pub prepare: Vec<SandboxDir>,
    /// The highest hard resource limit each resource's tasks ask for, which a root agent gives
    /// the executor before it drops to the task user (see `executor::rlimits::ceilings`).
    pub rlimit_ceilings: Vec<(cairn_proto::RlimitType, u64)>,
}

/// The time of one change to the state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    /// What timers run on: heartbeats, timeouts, offer filters, retries, allocation.
    pub instant: Instant,
    /// What is written down for others to read: timestamps, registration times.
    pub wall: SystemTime,
}

impl Now {
    /// Seconds since the epoch, as Mesos timestamps are written.
    pub(crate) fn epoch_secs(self) -> f64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// What the state times its own work with, for the metrics alone (an allocation pass, the
/// registry's reads and writes): the monotonic clock, handed in where the state is driven.
/// Nothing the state decides depends on it.
pub(crate) type Stopwatch = fn() -> Instant;

/// Checkpoint files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dirty {
    Master,
    Agent(usize),
    Executor(usize, String),
}

/// What `finish` hands back to the caller.
pub(crate) struct Finished {
    pub outbox: Vec<Outgoing>,
    pub effects: Vec<Effect>,
    /// Whether the change touched what the hosts file is made from: every change to a task, an
    /// agent or a framework is checkpointed, so a change that wrote nothing changed no name.
    pub hosts_may_change: bool,
}

impl ClusterState {
    pub(crate) fn new(cfg: Arc<ClusterConfig>, master: Master, agents: Vec<AgentSlot>) -> Self {
        ClusterState {
            cfg,
            master,
            agents,
            outbox: Vec::new(),
            effects: Vec::new(),
            dirty: BTreeSet::new(),
            next_connection: 1,
        }
    }

    /// Writes the dirty checkpoints, then releases the messages and effects of this change.
    pub(crate) fn finish(&mut self, stopwatch: Stopwatch) -> Finished {
        let hosts_may_change = !self.dirty.is_empty();
        for d in std::mem::take(&mut self.dirty) {
            let started = stopwatch();
            match self.write_checkpoint(&d) {
                // `master.json` is the master's registry: its writes are what Mesos' registrar
                // metrics time.
                Ok(()) if d == Dirty::Master => {
                    let size = std::fs::metadata(recover::master_path(&self.cfg.work_dir))
                        .map_or(0, |m| m.len());
                    let took = stopwatch().duration_since(started);
                    self.master.metrics.registry_stored(took, size);
                }
                Ok(()) => {}
                // A checkpoint that cannot be written is loud but not fatal: the in-memory state
                // is still right, and the next change to the same file retries.
                Err(e) => tracing::error!("{e}"),
            }
        }
        Finished {
            outbox: std::mem::take(&mut self.outbox),
            effects: std::mem::take(&mut self.effects),
            hosts_may_change,
        }
    }

    /// The name of every task that is placed and not terminal, with its agent's address (what
    /// the hosts file lists): `<label of its discovery name, else of its name>.<framework
    /// label>.<domain>`, as Mesos-DNS names a task. A lost agent's tasks are gone; a stopped
    /// one's still run, and keep their names.
    pub(crate) fn host_entries(&self) -> Vec<crate::hosts::HostEntry> {
        let domain = &self.cfg.dns_domain;
        let mut entries = Vec::new();
        for fw in self.master.frameworks.values() {
            if cairn_proto::dns::framework_label(&fw.info.name).is_empty() {
                continue;
            }
            for t in fw.tasks.values() {
                if t.state.is_terminal() {
                    continue;
                }
                let Some(agent) = self.agents.get(t.agent) else {
                    continue;
                };
                if agent.status == AgentStatus::Gone {
                    continue;
                }
                let task = t
                    .info
                    .discovery
                    .as_ref()
                    .and_then(|d| d.name.as_deref())
                    .filter(|n| !cairn_proto::dns::label(n).is_empty())
                    .unwrap_or(&t.info.name);
                if cairn_proto::dns::label(task).is_empty() {
                    continue;
                }
                entries.push(crate::hosts::HostEntry {
                    name: cairn_proto::dns::task_host(task, &fw.info.name, domain),
                    ip: agent.ip,
                    reachable: agent.status == AgentStatus::Running && !agent.unreachable,
                    since: t.statuses.last().and_then(|s| s.timestamp).unwrap_or(0.0),
                });
            }
        }
        entries
    }

    fn write_checkpoint(&self, d: &Dirty) -> Result<(), CheckpointError> {
        match d {
            Dirty::Master => checkpoint::write(
                &recover::master_path(&self.cfg.work_dir),
                &recover::MasterCheckpoint::of(self),
            ),
            Dirty::Agent(i) => {
                let slot = &self.agents[*i];
                // A held-back agent's books are not known (or not trusted): writing them would
                // make the loss permanent.
                if slot.status == AgentStatus::Gone || slot.held_back.is_some() {
                    return Ok(());
                }
                // The agent's directory holds its sandboxes and volumes as well as this file:
                // made here, before the checkpoint would make it private, so that task users
                // may pass through it.
                crate::sandbox::create_dirs(&slot.dir, crate::sandbox::passage_mode()).map_err(
                    |source| CheckpointError::Io {
                        path: slot.dir.clone(),
                        source,
                    },
                )?;
                checkpoint::write(
                    &recover::agent_path(&slot.dir),
                    &recover::AgentCheckpoint::of(slot),
                )
            }
            Dirty::Executor(i, container) => {
                let slot = &self.agents[*i];
                let path = recover::executor_path(&slot.dir, container)?;
                match slot
                    .runtime
                    .as_ref()
                    .and_then(|r| r.executors.get(container))
                {
                    Some(e) => checkpoint::write(&path, e),
                    None if slot.status == AgentStatus::Running => checkpoint::remove(&path),
                    // A stopped agent's executors are not in memory; its files stay as they are.
                    None => Ok(()),
                }
            }
        }
    }

    pub(crate) fn mark(&mut self, d: Dirty) {
        self.dirty.insert(d);
    }

    pub(crate) fn effect(&mut self, e: Effect) {
        self.effects.push(e);
    }

    /// Queues an event for a framework's stream, if it has one.
    pub(crate) fn send_to_framework(&mut self, framework: &FrameworkId, event: &scheduler::Event) {
        let Some(fw) = self.master.frameworks.get(framework) else {
            return;
        };
        let Some(stream) = &fw.stream else {
            return;
        };
        let event = render_event_for(&fw.info, event);
        let bytes = cairn_proto::recordio::encode_json(&event);
        self.outbox.push(Outgoing::Framework(
            stream.tx.clone(),
            WireBytes::from(bytes),
        ));
        self.master.metrics.framework_event(framework, &event);
    }

    /// Queues an event for an executor's stream, if it is connected.
    pub(crate) fn send_to_executor(
        &mut self,
        agent: usize,
        container: &str,
        event: &executor::Event,
    ) {
        let Some(tx) = self.agents[agent]
            .runtime
            .as_ref()
            .and_then(|r| r.executors.get(container))
            .and_then(|e| e.connection.as_ref())
            .map(|c| c.tx.clone())
        else {
            return;
        };
        let bytes = cairn_proto::recordio::encode_json(event);
        self.outbox
            .push(Outgoing::Executor(tx, WireBytes::from(bytes)));
    }

    pub(crate) fn connection_id(&mut self) -> u64 {
        self.next_connection += 1;
        self.next_connection
    }

    /// Finds an agent by its id.
    pub(crate) fn agent_index(&self, id: &AgentId) -> Option<usize> {
        self.agents.iter().position(|a| &a.id == id)
    }

    /// Whether a framework asked for the partition-aware task states.
    pub(crate) fn partition_aware(&self, framework: &FrameworkId) -> bool {
        self.master
            .frameworks
            .get(framework)
            .is_some_and(|f| f.info.has_capability(CapabilityType::PartitionAware))
    }

    /// The next id in the master's `<uuid>-O<n>` offer series.
    pub(crate) fn next_offer_id(&mut self) -> OfferId {
        self.master.next_offer += 1;
        OfferId::new(format!("{}-O{}", self.master.id, self.master.next_offer))
    }
}

/// Converts an event to the wire format a framework asked for: resources in the legacy
/// reservation format unless the framework has RESERVATION_REFINEMENT.
fn render_event_for(info: &FrameworkInfo, event: &scheduler::Event) -> scheduler::Event {
    if info.has_capability(CapabilityType::ReservationRefinement) {
        return event.clone();
    }
    let mut event = event.clone();
    if let Some(offers) = event.offers.as_mut() {
        for offer in &mut offers.offers {
            offer.resources = offer
                .resources
                .iter()
                .map(|r| r.to_legacy_format())
                .collect();
        }
    }
    event
}

/// A fresh 16-byte uuid for a reliable status update.
pub(crate) fn new_uuid() -> Bytes {
    Bytes(uuid::Uuid::new_v4().as_bytes().to_vec())
}

/// One resource without its allocation info.
pub(crate) fn strip(r: &Resource) -> Resource {
    let mut r = r.clone();
    r.allocation_info = None;
    r
}

pub(crate) use framework::CallReply;
pub(crate) use metrics::Queue;
pub(crate) use v0::TasksQuery;
pub(crate) use views::{version_info, OperatorReply};

/// The HTTP answer to a call the master accepted.
pub(crate) fn framework_reply(reply: CallReply) -> axum::response::Response {
    use axum::response::IntoResponse;
    match reply {
        CallReply::Accepted => axum::http::StatusCode::ACCEPTED.into_response(),
        CallReply::Ok => axum::http::StatusCode::OK.into_response(),
    }
}
