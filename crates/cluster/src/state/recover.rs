//! Checkpoint layout, recovery at start, and the agent lifecycle that fault injection drives:
//! stop, restart, lose, add, and the ping timeout that makes a silent agent unreachable.
//!
//! Layout under the work directory:
//! `master.json` (master id, frameworks, agents and their status),
//! `agents/<i>/agent.json` (id, address, resources with reservations and volumes),
//! `agents/<i>/executors/<container>.json` (an executor, its tasks, their unacknowledged updates),
//! `agents/<i>/slaves/...` (sandboxes, Mesos' layout), `agents/<i>/volumes/roles/<role>/<id>`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_proto::{
    scheduler, AgentId, Attribute, FrameworkId, FrameworkInfo, Reason, Resource, Resources,
    TaskState,
};
use serde::{Deserialize, Serialize};

use super::{
    AgentRuntime, AgentSlot, AgentStatus, ClusterState, CompletedFramework, Dirty, Effect,
    Executor, ExecutorPhase, Framework, Master, MasterTask, Now, Stopwatch,
};
use crate::checkpoint::{self, CheckpointError};
use crate::config::ClusterConfig;
use crate::paths::{join_inside, PathError};
use crate::process::Orphan;

pub(crate) fn master_path(work: &Path) -> PathBuf {
    work.join("master.json")
}

pub(crate) fn agent_path(agent_dir: &Path) -> PathBuf {
    agent_dir.join("agent.json")
}

/// The checkpoint of the executor in `container` (an id the agent made, but a checkpoint names
/// a file: it goes through the same join as every other name).
pub(crate) fn executor_path(agent_dir: &Path, container: &str) -> Result<PathBuf, PathError> {
    join_inside(agent_dir, &["executors", &format!("{container}.json")])
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MasterCheckpoint {
    id: String,
    start_time: f64,
    next_framework: u64,
    /// Starts so far; offer ids are numbered per incarnation (see `load`).
    #[serde(default)]
    incarnation: u64,
    frameworks: Vec<FrameworkCheckpoint>,
    completed: Vec<CompletedFramework>,
    agents: Vec<AgentEntry>,
}

#[derive(Serialize, Deserialize)]
struct FrameworkCheckpoint {
    id: FrameworkId,
    info: FrameworkInfo,
    registered_time: f64,
    #[serde(default)]
    reregistered_time: f64,
    suppressed: BTreeSet<String>,
}

#[derive(Serialize, Deserialize)]
struct AgentEntry {
    index: usize,
    status: AgentStatus,
}

impl MasterCheckpoint {
    pub(crate) fn of(s: &ClusterState) -> Self {
        MasterCheckpoint {
            id: s.master.id.clone(),
            start_time: s.master.start_time,
            next_framework: s.master.next_framework,
            incarnation: s.master.incarnation,
            frameworks: s
                .master
                .frameworks
                .values()
                .map(|f| FrameworkCheckpoint {
                    id: f.id.clone(),
                    info: f.info.clone(),
                    registered_time: f.registered_time,
                    reregistered_time: f.reregistered_time,
                    suppressed: f.suppressed.clone(),
                })
                .collect(),
            completed: s.master.completed.iter().cloned().collect(),
            agents: s
                .agents
                .iter()
                .map(|a| AgentEntry {
                    index: a.index,
                    // Held back only by its disk: once that is whole, the next start runs it.
                    status: if a.held_back.is_some() {
                        AgentStatus::Running
                    } else {
                        a.status
                    },
                })
                .collect(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AgentCheckpoint {
    id: AgentId,
    ip: Ipv4Addr,
    port: u16,
    total: Vec<Resource>,
    attributes: Vec<Attribute>,
    registered_time: f64,
}

impl AgentCheckpoint {
    pub(crate) fn of(slot: &AgentSlot) -> Self {
        AgentCheckpoint {
            id: slot.id.clone(),
            ip: slot.ip,
            port: slot.port,
            total: slot.total.to_vec(),
            attributes: slot.attributes.clone(),
            registered_time: slot.registered_time,
        }
    }
}

/// Loads a cluster from its work directory, or makes a fresh one there.
pub(crate) fn load(
    now: Now,
    stopwatch: Stopwatch,
    cfg: Arc<ClusterConfig>,
) -> Result<ClusterState, CheckpointError> {
    let started = stopwatch();
    let saved: Option<MasterCheckpoint> = checkpoint::read(&master_path(&cfg.work_dir))?;
    let registry_fetched = stopwatch().duration_since(started);
    let on_disk = agents_on_disk(&cfg.work_dir)?;
    let fresh = saved.is_none() && on_disk.is_empty();
    let saved = saved.unwrap_or_else(|| {
        let agents = if fresh {
            (0..cfg.agents)
                .map(|index| AgentEntry {
                    index,
                    status: AgentStatus::Running,
                })
                .collect()
        } else {
            // The master's checkpoint is gone but its agents' are not. Like a Mesos master that
            // lost its registry, the master recovers from its agents: every agent directory is
            // an agent again (a missing index was lost for good), frameworks re-subscribe with
            // their ids. What only the master knew is gone: which frameworks were torn down, and
            // how long disconnected ones have been away (their failover timeouts start over).
            tracing::error!(
                "{} is missing, but {} holds {} agents: recovering them; frameworks must \
                 subscribe again",
                master_path(&cfg.work_dir).display(),
                cfg.work_dir.join("agents").display(),
                on_disk.len()
            );
            let last = on_disk.iter().copied().max().unwrap_or(0);
            (0..=last)
                .map(|index| AgentEntry {
                    index,
                    status: if on_disk.contains(&index) {
                        AgentStatus::Running
                    } else {
                        AgentStatus::Gone
                    },
                })
                .collect()
        };
        MasterCheckpoint {
            id: uuid::Uuid::new_v4().to_string(),
            start_time: now.epoch_secs(),
            next_framework: 0,
            incarnation: 0,
            frameworks: Vec::new(),
            completed: Vec::new(),
            agents,
        }
    });
    let mut frameworks = BTreeMap::new();
    for f in saved.frameworks {
        frameworks.insert(
            f.id.clone(),
            Framework {
                id: f.id,
                info: f.info,
                registered_time: f.registered_time,
                // A checkpoint from before this was kept: its first subscription is the last known.
                reregistered_time: if f.reregistered_time > 0.0 {
                    f.reregistered_time
                } else {
                    f.registered_time
                },
                stream: None,
                // A restarted master gives every framework its failover timeout to come back.
                disconnected_at: Some(now.instant),
                suppressed: f.suppressed,
                filters: Vec::new(),
                next_heartbeat: now.instant,
                tasks: HashMap::new(),
                completed_tasks: VecDeque::new(),
                operations: BTreeMap::new(),
            },
        );
    }
    // Offers are not checkpointed, but their ids must never repeat: a scheduler may still hold
    // one from before a restart, and accepting it must fail (as it does against a new Mesos
    // master, which has a new id) rather than hit a new offer that reuses the number. Each
    // incarnation numbers its offers in a range of its own.
    let incarnation = if fresh { 0 } else { saved.incarnation + 1 };
    let master = Master {
        id: saved.id,
        // This master process starts (and is elected) now, whatever the checkpoint says of the
        // first one.
        start_time: now.epoch_secs(),
        next_framework: saved.next_framework,
        next_offer: incarnation << 32,
        incarnation,
        frameworks,
        completed: saved.completed.into_iter().collect(),
        offers: HashMap::new(),
        allocation_cursor: 0,
        next_allocation: now.instant,
        metrics: super::metrics::Metrics::new(now.instant, registry_fetched),
        subscribers: super::subscribers::Subscribers::default(),
    };
    let mut state = ClusterState::new(cfg.clone(), master, Vec::new());
    for entry in saved.agents {
        let slot = load_agent(now, &mut state, entry.index, entry.status)?;
        state.agents.push(slot);
    }
    for i in 0..state.agents.len() {
        state.mirror_agent_tasks(i);
        state.start_sweep(i);
        // Agents that run register with the new master: anew on a fresh cluster, again after
        // a restart.
        if state.agents[i].status == AgentStatus::Running {
            let metrics = &mut state.master.metrics;
            if fresh {
                metrics.inc("master/messages_register_slave");
                metrics.inc("master/slave_registrations");
            } else {
                metrics.inc("master/messages_reregister_slave");
                metrics.inc("master/slave_reregistrations");
            }
        }
    }
    // The new incarnation is written before any offer is made.
    state.mark(Dirty::Master);
    if fresh {
        for i in 0..state.agents.len() {
            state.mark(Dirty::Agent(i));
        }
    }
    Ok(state)
}

fn agent_dir(cfg: &ClusterConfig, index: usize) -> PathBuf {
    cfg.work_dir.join("agents").join(index.to_string())
}

/// The indices of the agent directories under the work directory.
fn agents_on_disk(work: &Path) -> Result<BTreeSet<usize>, CheckpointError> {
    let dir = work.join("agents");
    match std::fs::read_dir(&dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(source) => Err(CheckpointError::Io { path: dir, source }),
    }
}

/// Builds an agent slot from its checkpoint, or a fresh agent when there is none and nothing
/// else of it either. An agent whose disk lost something it cannot start without is held back
/// (see [`AgentSlot::held_back`]).
fn load_agent(
    now: Now,
    state: &mut ClusterState,
    index: usize,
    status: AgentStatus,
) -> Result<AgentSlot, CheckpointError> {
    let cfg = state.cfg.clone();
    let dir = agent_dir(&cfg, index);
    if status == AgentStatus::Gone {
        let mut slot = fresh_agent(now, state, index, dir, status);
        slot.unreachable = true;
        return Ok(slot);
    }
    let mut slot = match checkpoint::read::<AgentCheckpoint>(&agent_path(&dir))? {
        Some(saved) => {
            let mut slot = fresh_agent(now, state, index, dir.clone(), status);
            saved.restore(&mut slot);
            slot
        }
        None => {
            let mut slot = fresh_agent(now, state, index, dir.clone(), status);
            let traces = traces_of(&dir);
            if !traces.is_empty() {
                hold_back_without_checkpoint(&mut slot, &traces);
            }
            slot
        }
    };
    if slot.held_back.is_none() {
        slot.held_back = missing_volumes(&slot);
    }
    if let Some(why) = &slot.held_back {
        tracing::error!("{why}");
        slot.status = AgentStatus::Stopped;
        slot.disconnected_at = Some(now.instant);
        return Ok(slot);
    }
    if status == AgentStatus::Running {
        slot.runtime = Some(load_runtime(now, &dir, &cfg)?);
    } else {
        slot.disconnected_at = Some(now.instant);
    }
    Ok(slot)
}

impl AgentCheckpoint {
    /// Puts what the checkpoint says into `slot`.
    fn restore(self, slot: &mut AgentSlot) {
        slot.id = self.id;
        slot.ip = self.ip;
        slot.port = self.port;
        slot.attributes = self.attributes;
        slot.total = Resources::from(self.total);
        slot.registered_time = self.registered_time;
    }
}

/// What an agent directory holds besides its checkpoint: anything there means the agent has
/// run (executors, sandboxes, volumes), so a missing `agent.json` is a loss, not a fresh start.
/// (A checkpoint write that never finished leaves only its temporary file.)
fn traces_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n != "agent.json" && n != "agent.json.tmp")
        .collect();
    names.sort();
    names
}

/// The agent's id as its sandboxes name it (`slaves/<agent-id>/...`), when its checkpoint
/// that says so is gone.
fn id_from_sandboxes(dir: &Path) -> Option<AgentId> {
    let mut ids = std::fs::read_dir(dir.join("slaves"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string));
    let id = ids.next()?;
    ids.next().is_none().then(|| AgentId::new(id))
}

/// `agents/<i>/agent.json` is gone while the agent's executors, sandboxes or volumes are not.
/// Its reservations and volumes were only in that file: a pod's reservation cannot be told
/// from free resources, so starting it would offer what running pods use (as a Mesos agent
/// whose checkpointed resources do not match refuses to start, in its strict recovery).
fn hold_back_without_checkpoint(slot: &mut AgentSlot, traces: &[String]) {
    if let Some(id) = id_from_sandboxes(&slot.dir) {
        slot.id = id;
    }
    // Unknown, so nothing: it offers nothing anyway while held back.
    slot.total = Resources::new();
    let i = slot.index;
    slot.held_back = Some(format!(
        "agent {i} ({}) is held back: its checkpoint {} is missing, but {} still holds {}. \
         Its reservations and volumes were recorded only there, so it is not started and \
         nothing of it is offered; its tasks keep running. Restore the file (from a backup) \
         and run `cairn cluster agent restart {i}`, or give the agent up with \
         `cairn cluster agent lose {i}` (kills its tasks and erases its disk).",
        slot.id,
        agent_path(&slot.dir).display(),
        slot.dir.display(),
        traces.join(", "),
    ));
}

/// The agent's persistent volumes whose directories are gone, as a reason to hold it back:
/// starting it would hand their pods empty directories as if they were their data.
fn missing_volumes(slot: &AgentSlot) -> Option<String> {
    let missing: Vec<String> = slot
        .total
        .iter()
        .filter(|r| r.persistence_id().is_some())
        .filter_map(|r| {
            // A volume whose name cannot be a path was refused when it was created.
            let dir = super::agent::volume_dir(&slot.dir, r).ok()?;
            (!dir.exists()).then(|| {
                format!(
                    "'{}' (role {}) at {}",
                    r.persistence_id().unwrap_or_default(),
                    r.reservation_role().unwrap_or("*"),
                    dir.display()
                )
            })
        })
        .collect();
    if missing.is_empty() {
        return None;
    }
    let i = slot.index;
    Some(format!(
        "agent {i} ({}) is held back: persistent volume {} is missing. Starting it would hand \
         the pod an empty directory as its data, so it is not started and nothing of it is \
         offered; its tasks keep running. Restore the directory and run `cairn cluster agent \
         restart {i}`; to accept that the data is gone, create it empty (`mkdir -p PATH`) and \
         restart the agent; or give the agent up with `cairn cluster agent lose {i}`.",
        slot.id,
        missing.join(", "),
    ))
}

fn fresh_agent(
    now: Now,
    state: &ClusterState,
    index: usize,
    dir: PathBuf,
    status: AgentStatus,
) -> AgentSlot {
    let cfg = &state.cfg;
    let ip = Ipv4Addr::from(u32::from(cfg.agent_ip_start).wrapping_add(index as u32));
    let mut total = cfg.agent_resources.clone();
    if let Some(extra) = cfg.agent_extra_resources.get(&index) {
        total.add_all(extra.iter());
    }
    let (disks, size) = cfg.agent_mount_disks;
    for d in 0..disks {
        let root = dir.join("mounts").join(format!("disk{d}"));
        total.add(
            &Resource::scalar("disk", size as f64)
                .with_disk_source(cairn_proto::DiskSource::mount(root.display().to_string())),
        );
    }
    AgentSlot {
        index,
        id: AgentId::new(format!("{}-S{index}", state.master.id)),
        ip,
        port: 0,
        dir,
        attributes: parse_attributes(&cfg.agent_attributes, index),
        total,
        status,
        disconnected_at: None,
        unreachable: false,
        registered_time: now.epoch_secs(),
        runtime: None,
        kills_while_away: Vec::new(),
        held_back: None,
    }
}

/// `rack:r{i};ssd:true` → text attributes, `{i}` being the agent's index.
pub(crate) fn parse_attributes(text: &str, index: usize) -> Vec<Attribute> {
    text.split(';')
        .filter(|p| !p.trim().is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once(':')?;
            Some(Attribute::text(
                k.trim(),
                v.trim().replace("{i}", &index.to_string()),
            ))
        })
        .collect()
}

/// An agent's executors from disk. They are waiting to re-subscribe.
fn load_runtime(
    now: Now,
    dir: &Path,
    cfg: &ClusterConfig,
) -> Result<AgentRuntime, CheckpointError> {
    let mut rt = AgentRuntime {
        executors: BTreeMap::new(),
        recovering_until: Some(now.instant + cfg.executor_reregister_timeout),
        sweeping: None,
    };
    for exec in read_executors(dir)? {
        let mut exec = exec;
        if exec.phase == ExecutorPhase::Launching {
            exec.deadline = Some(now.instant + cfg.executor_registration_timeout);
        }
        for t in exec.tasks.values_mut() {
            if !t.updates.is_empty() {
                t.next_retry = Some(now.instant);
                t.backoff = cfg.status_update_retry_min;
            }
        }
        rt.executors.insert(exec.container_id.clone(), exec);
    }
    Ok(rt)
}

fn read_executors(dir: &Path) -> Result<Vec<Executor>, CheckpointError> {
    let edir = dir.join("executors");
    let entries = match std::fs::read_dir(&edir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CheckpointError::Io { path: edir, source }),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        if let Some(e) = checkpoint::read::<Executor>(&path)? {
            out.push(e);
        }
    }
    Ok(out)
}

impl ClusterState {
    /// Starts the sweep for pod processes a just-started agent has no checkpoint for (see
    /// `process::kill_orphans`); the agent offers nothing until it is done.
    fn start_sweep(&mut self, agent: usize) {
        let sweep = self.connection_id();
        let slot = &mut self.agents[agent];
        let Some(rt) = slot.runtime.as_mut() else {
            return;
        };
        rt.sweeping = Some(sweep);
        let known = rt
            .executors
            .values()
            .map(|e| (e.pid, e.pid_start, e.sandbox.clone()))
            .collect();
        let sandboxes = slot.dir.join("slaves");
        self.effect(Effect::SweepOrphans {
            agent,
            sweep,
            sandboxes,
            known,
        });
    }

    /// Sweep `sweep` of an agent is done: what it killed is said loudly, and the agent may
    /// offer again.
    pub(crate) fn orphans_swept(&mut self, now: Now, agent: usize, sweep: u64, orphans: &[Orphan]) {
        let slot = &mut self.agents[agent];
        let mut sessions: BTreeMap<u32, (Vec<u32>, &Path)> = BTreeMap::new();
        for o in orphans {
            let entry = sessions
                .entry(o.session)
                .or_insert_with(|| (Vec::new(), o.sandbox.as_path()));
            entry.0.push(o.pid);
            if o.pid == o.session {
                entry.1 = o.sandbox.as_path();
            }
        }
        for (session, (pids, sandbox)) in sessions {
            if slot.status == AgentStatus::Gone {
                tracing::warn!(
                    "agent {} ({}): killed pod processes {pids:?} (session {session}) in {} \
                     that no executor checkpoint accounted for, with the lost agent",
                    slot.index,
                    slot.id,
                    sandbox.display()
                );
                continue;
            }
            tracing::error!(
                "agent {} ({}): killed pod processes {pids:?} (session {session}) running in \
                 {}: no executor checkpoint under {} accounts for them, so what they use cannot \
                 be known. Their tasks are gone; their reservations and volumes stay with the \
                 agent for the framework to relaunch on.",
                slot.index,
                slot.id,
                sandbox.display(),
                slot.dir.join("executors").display()
            );
        }
        let Some(rt) = slot.runtime.as_mut() else {
            return;
        };
        if rt.sweeping == Some(sweep) {
            rt.sweeping = None;
            self.master.next_allocation = now.instant;
        }
    }

    /// Checks a stopped agent's disk before it starts again: its checkpoint (read again if it
    /// was missing: the operator may have restored it) and its volumes' directories. Holds it
    /// back, with the reason, when something is missing.
    fn check_disk(&mut self, now: Now, agent: usize) -> Result<(), String> {
        let dir = self.agents[agent].dir.clone();
        let saved: Option<AgentCheckpoint> =
            checkpoint::read(&agent_path(&dir)).map_err(|e| e.to_string())?;
        let new_machine = fresh_agent(now, self, agent, dir, AgentStatus::Stopped);
        let slot = &mut self.agents[agent];
        if slot.held_back.is_some() {
            slot.held_back = None;
            match saved {
                Some(saved) => saved.restore(slot),
                None => {
                    let traces = traces_of(&slot.dir);
                    if traces.is_empty() {
                        // Nothing of it is left at all: it starts as a new, empty machine.
                        slot.total = new_machine.total;
                    } else {
                        hold_back_without_checkpoint(slot, &traces);
                    }
                }
            }
        }
        // A stopped agent that was not held back kept its books in memory: a checkpoint lost
        // meanwhile is written again at its next change.
        if slot.held_back.is_none() {
            slot.held_back = missing_volumes(slot);
        }
        match &slot.held_back {
            Some(why) => {
                tracing::error!("{why}");
                Err(why.clone())
            }
            None => Ok(()),
        }
    }

    /// Rebuilds the master's mirror of an agent's tasks (after a start or a re-registration).
    fn mirror_agent_tasks(&mut self, agent: usize) {
        let executors: Vec<Executor> = match &self.agents[agent].runtime {
            Some(_) => Vec::new(),
            None if self.agents[agent].status == AgentStatus::Stopped => {
                read_executors(&self.agents[agent].dir).unwrap_or_default()
            }
            None => return,
        };
        let owned;
        let list: Vec<&Executor> = match &self.agents[agent].runtime {
            Some(rt) => rt.executors.values().collect(),
            None => {
                owned = executors;
                owned.iter().collect()
            }
        };
        let mut entries = Vec::new();
        for e in list {
            for (id, t) in &e.tasks {
                if t.state.is_terminal() && t.updates.is_empty() {
                    continue;
                }
                entries.push((
                    e.framework_id.clone(),
                    id.clone(),
                    MasterTask {
                        agent,
                        executor_id: (!e.command_task).then(|| e.info.executor_id.clone()),
                        info: t.info.clone(),
                        state: t.state,
                        statuses: t.updates.back().cloned().into_iter().collect(),
                        pending: t.updates.front().cloned(),
                        unreachable_time: None,
                    },
                ));
            }
        }
        for (fid, id, task) in entries {
            if let Some(fw) = self.master.frameworks.get_mut(&fid) {
                fw.tasks.insert(id, task);
            }
        }
    }

    /// A framework the master had forgotten re-subscribed: its tasks on the agents are its again.
    pub(crate) fn adopt_recovered_tasks(&mut self, _fid: &FrameworkId) {
        for i in 0..self.agents.len() {
            self.mirror_agent_tasks(i);
        }
    }

    /// Fault injection: the agent process dies. Its tasks keep running; the master notices
    /// the silence after the ping timeout.
    pub(crate) fn stop_agent(&mut self, now: Now, agent: usize) -> Result<(), String> {
        if self.agents[agent].status != AgentStatus::Running {
            return Err(format!("agent {} is not running", self.agents[agent].id));
        }
        let slot = &mut self.agents[agent];
        // Dropping the runtime closes every executor stream, as a dying agent would.
        slot.runtime = None;
        slot.status = AgentStatus::Stopped;
        slot.disconnected_at = Some(now.instant);
        self.rescind_agent_offers(agent);
        self.effect(Effect::StopAgentServer { agent });
        self.mark(Dirty::Master);
        Ok(())
    }

    /// Fault injection: the stopped agent starts again, recovers its executors from its
    /// checkpoints and re-registers.
    pub(crate) fn restart_agent(&mut self, now: Now, agent: usize) -> Result<(), String> {
        if self.agents[agent].status != AgentStatus::Stopped {
            return Err(format!("agent {} is not stopped", self.agents[agent].id));
        }
        self.check_disk(now, agent)?;
        let dir = self.agents[agent].dir.clone();
        let runtime = load_runtime(now, &dir, &self.cfg).map_err(|e| e.to_string())?;
        let was_unreachable = self.agents[agent].unreachable;
        let slot = &mut self.agents[agent];
        slot.runtime = Some(runtime);
        slot.status = AgentStatus::Running;
        slot.disconnected_at = None;
        slot.unreachable = false;
        // Tasks the master thought were here but the agent does not know are gone.
        let known: BTreeSet<(FrameworkId, cairn_proto::TaskId)> = self.agents[agent]
            .runtime
            .iter()
            .flat_map(|rt| rt.executors.values())
            .flat_map(|e| {
                e.tasks
                    .keys()
                    .map(move |t| (e.framework_id.clone(), t.clone()))
            })
            .collect();
        let mut vanished = Vec::new();
        for (fid, fw) in &self.master.frameworks {
            for (id, t) in &fw.tasks {
                if t.agent == agent && !known.contains(&(fid.clone(), id.clone())) {
                    vanished.push((fid.clone(), id.clone()));
                }
            }
        }
        let agent_id = self.agents[agent].id.clone();
        let metrics = &mut self.master.metrics;
        metrics.inc("master/messages_reregister_slave");
        metrics.inc("master/slave_reregistrations");
        for (fid, id) in vanished {
            if let Some(fw) = self.master.frameworks.get_mut(&fid) {
                fw.tasks.remove(&id);
            }
            let s = self.master_status(
                now,
                &fid,
                &id,
                Some(agent_id.clone()),
                TaskState::Gone,
                Reason::AgentRestarted,
                "Task was not found on the re-registered agent",
            );
            self.task_changed(&fid, &s);
            self.send_to_framework(&fid, &scheduler::Event::update(s));
        }
        self.mirror_agent_tasks(agent);
        self.start_sweep(agent);
        self.mark(Dirty::Agent(agent));
        // Frameworks the agent must stop running for, as Mesos' master tells a re-registering
        // agent to: those removed while it was away (torn down, failover timeout), and, when
        // it had been unreachable, those that are not partition-aware: they were told
        // TASK_LOST, and a lost task must not come back to life.
        let to_shut_down: BTreeSet<FrameworkId> = self.agents[agent]
            .runtime
            .iter()
            .flat_map(|rt| rt.executors.values())
            .map(|e| e.framework_id.clone())
            .filter(|fid| {
                !self.master.frameworks.contains_key(fid)
                    || (was_unreachable && !self.partition_aware(fid))
            })
            .collect();
        for fid in to_shut_down {
            self.shutdown_framework_on(now, agent, &fid);
            if let Some(fw) = self.master.frameworks.get_mut(&fid) {
                fw.tasks.retain(|_, t| t.agent != agent);
            }
        }
        // Kills the agent missed while it was away reach it now.
        for (fid, task_id, policy) in std::mem::take(&mut self.agents[agent].kills_while_away) {
            self.agent_kill(now, agent, &fid, &task_id, policy);
        }
        if was_unreachable {
            // Partition-aware frameworks heard UNREACHABLE; now they hear the task is back.
            let back: Vec<(FrameworkId, cairn_proto::TaskId, TaskState)> = self
                .master
                .frameworks
                .iter()
                .flat_map(|(fid, fw)| {
                    fw.tasks
                        .iter()
                        .filter(|(_, t)| t.agent == agent && !t.state.is_terminal())
                        .map(move |(id, t)| (fid.clone(), id.clone(), t.state))
                })
                .collect();
            for (fid, id, state) in back {
                let s = self.master_status(
                    now,
                    &fid,
                    &id,
                    Some(agent_id.clone()),
                    state,
                    Reason::AgentReregistered,
                    "Agent re-registered",
                );
                self.send_to_framework(&fid, &scheduler::Event::update(s));
            }
        }
        self.effect(Effect::StartAgentServer { agent });
        self.mark(Dirty::Master);
        self.master.next_allocation = now.instant;
        if was_unreachable {
            // An unreachable agent had left the registered ones; it is registered again.
            self.publish_agent_added(agent);
        }
        Ok(())
    }

    /// Fault injection (`lose`) or the operator's MARK_AGENT_GONE: the machine is gone for
    /// good, with its processes, reservations and volumes.
    pub(crate) fn lose_agent(
        &mut self,
        now: Now,
        agent: usize,
        by_operator: bool,
    ) -> Result<(), String> {
        if self.agents[agent].status == AgentStatus::Gone {
            return Err(format!("agent {} is already gone", self.agents[agent].id));
        }
        let dir = self.agents[agent].dir.clone();
        // Executors with a known process are killed by their session; the sweep below takes
        // whatever else runs in the sandboxes (one not yet started when it was written down,
        // or one whose checkpoint is lost).
        let known: Vec<(Option<u32>, Option<u64>, PathBuf)> = match &self.agents[agent].runtime {
            Some(rt) => rt
                .executors
                .values()
                .filter(|e| e.pid.is_some())
                .map(|e| (e.pid, e.pid_start, e.sandbox.clone()))
                .collect(),
            None => read_executors(&dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.pid.is_some())
                .map(|e| (e.pid, e.pid_start, e.sandbox))
                .collect(),
        };
        for (pid, start, _) in &known {
            if let Some(pid) = *pid {
                self.effect(Effect::KillSession { pid, start: *start });
            }
        }
        // And whatever runs in its sandboxes without a checkpoint: the disk goes, so must they.
        let sweep = self.connection_id();
        self.effect(Effect::SweepOrphans {
            agent,
            sweep,
            sandboxes: dir.join("slaves"),
            known,
        });
        if self.agents[agent].status == AgentStatus::Running {
            self.effect(Effect::StopAgentServer { agent });
        }
        let was_registered = !self.agents[agent].unreachable;
        self.master.metrics.inc("master/slave_removals");
        let slot = &mut self.agents[agent];
        slot.runtime = None;
        slot.status = AgentStatus::Gone;
        slot.unreachable = true;
        slot.total = Resources::new();
        self.rescind_agent_offers(agent);
        let agent_id = self.agents[agent].id.clone();
        let (state, reason) = if by_operator {
            (TaskState::GoneByOperator, Reason::AgentRemovedByOperator)
        } else {
            (TaskState::Gone, Reason::AgentRemoved)
        };
        let mut lost = Vec::new();
        for (fid, fw) in &mut self.master.frameworks {
            let ids: Vec<_> = fw
                .tasks
                .iter()
                .filter(|(_, t)| t.agent == agent)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                fw.tasks.remove(&id);
                lost.push((fid.clone(), id));
            }
        }
        for (fid, id) in &lost {
            let s = self.master_status(
                now,
                fid,
                id,
                Some(agent_id.clone()),
                state,
                reason,
                "Agent is gone",
            );
            self.task_changed(fid, &s);
            self.send_to_framework(fid, &scheduler::Event::update(s));
        }
        if was_registered {
            self.publish(cairn_proto::master::Event::agent_removed(agent_id.clone()));
        }
        let fids: Vec<FrameworkId> = self.master.frameworks.keys().cloned().collect();
        for fid in fids {
            self.send_to_framework(
                &fid,
                &scheduler::Event::failure(Some(agent_id.clone()), None, None),
            );
        }
        self.effect(Effect::RemoveDir {
            root: self.cfg.work_dir.clone(),
            dir,
        });
        self.mark(Dirty::Master);
        Ok(())
    }

    /// Fault injection: a new machine joins. Returns its index.
    pub(crate) fn add_agent(&mut self, now: Now) -> usize {
        let index = self.agents.len();
        let dir = agent_dir(&self.cfg, index);
        let mut slot = fresh_agent(now, self, index, dir, AgentStatus::Running);
        slot.runtime = Some(AgentRuntime::default());
        self.agents.push(slot);
        self.effect(Effect::StartAgentServer { agent: index });
        self.mark(Dirty::Agent(index));
        self.mark(Dirty::Master);
        self.master.next_allocation = now.instant;
        let metrics = &mut self.master.metrics;
        metrics.inc("master/messages_register_slave");
        metrics.inc("master/slave_registrations");
        self.publish_agent_added(index);
        index
    }

    /// A stopped agent that has been silent past the ping timeout becomes unreachable.
    pub(crate) fn agent_health_tick(&mut self, now: Now) {
        let timeout = self.cfg.agent_ping_timeout;
        for agent in 0..self.agents.len() {
            let slot = &self.agents[agent];
            let due = slot.status == AgentStatus::Stopped
                && !slot.unreachable
                && slot
                    .disconnected_at
                    .is_some_and(|at| now.instant.duration_since(at) >= timeout);
            if !due {
                continue;
            }
            self.agents[agent].unreachable = true;
            let agent_id = self.agents[agent].id.clone();
            // Mesos schedules marking an agent unreachable (rate-limited) and then does it;
            // cairn does it at once. It leaves the registered agents.
            let metrics = &mut self.master.metrics;
            metrics.inc("master/slave_unreachable_scheduled");
            metrics.inc("master/slave_unreachable_completed");
            self.publish(cairn_proto::master::Event::agent_removed(agent_id.clone()));
            let time = now.epoch_secs();
            let mut hit = Vec::new();
            for (fid, fw) in &mut self.master.frameworks {
                for (id, t) in &mut fw.tasks {
                    if t.agent == agent && !t.state.is_terminal() {
                        t.unreachable_time = Some(time);
                        hit.push((fid.clone(), id.clone()));
                    }
                }
            }
            for (fid, id) in hit {
                let mut s = self.master_status(
                    now,
                    &fid,
                    &id,
                    Some(agent_id.clone()),
                    TaskState::Unreachable,
                    Reason::AgentRemoved,
                    "Agent is unreachable",
                );
                s.unreachable_time = Some(cairn_proto::TimeInfo {
                    nanoseconds: (time * 1e9) as i64,
                });
                self.task_changed(&fid, &s);
                self.send_to_framework(&fid, &scheduler::Event::update(s));
            }
            let fids: Vec<FrameworkId> = self.master.frameworks.keys().cloned().collect();
            for fid in fids {
                self.send_to_framework(
                    &fid,
                    &scheduler::Event::failure(Some(agent_id.clone()), None, None),
                );
            }
        }
    }
}
