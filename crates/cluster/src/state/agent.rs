//! The agent half: executors, sandboxes and volumes, and the status update manager that
//! delivers each task's updates to its framework in order, one at a time, until acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_proto::{
    executor, scheduler, AgentId, Bytes, ContainerId, ExecutorId, ExecutorInfo, ExecutorType,
    FrameworkId, FrameworkInfo, KillPolicy, Reason, Resource, Source, TaskGroupInfo, TaskId,
    TaskInfo, TaskState, TaskStatus,
};
use serde::{Deserialize, Serialize};

use super::{new_uuid, AgentStatus, ClusterState, Dirty, Effect, MasterTask, Now, SpawnRequest};
use crate::config::mesos_duration;
use crate::paths::{join_inside, volume_path, PathError};
use crate::serve::StreamCloser;
use crate::stream::{self, EventReceiver, EventSender};
use crate::{process, sandbox, users};

/// How many acknowledged uuids a task remembers, to recognise re-sent duplicates.
const ACKED_MEMORY: usize = 16;

/// Finished tasks the master remembers per framework (Mesos'
/// `--max_completed_tasks_per_framework`).
pub(crate) const COMPLETED_TASKS: usize = 1000;

/// One executor (a pod, or the wrapper of one command task) on one agent.
#[derive(Serialize, Deserialize)]
pub(crate) struct Executor {
    pub framework_id: FrameworkId,
    pub framework_info: FrameworkInfo,
    pub info: ExecutorInfo,
    /// A command executor runs exactly one task, given by LAUNCH rather than LAUNCH_GROUP.
    pub command_task: bool,
    pub container_id: String,
    pub sandbox: PathBuf,
    /// The user the executor and its tasks run as (the cluster's own when it is not root).
    #[serde(default)]
    pub user: String,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub phase: ExecutorPhase,
    /// Tasks whose launch has not been put on an executor stream yet.
    pub undelivered: Vec<TaskId>,
    /// Kills asked for while the executor was not connected.
    #[serde(with = "as_pairs")]
    pub pending_kills: BTreeMap<TaskId, Option<KillPolicy>>,
    #[serde(with = "as_pairs")]
    pub tasks: BTreeMap<TaskId, AgentTask>,
    /// The framework is gone: updates are dropped, and the record goes when the process does.
    pub framework_removed: bool,
    /// The secret the executor was given at launch (on its stdin, not in its environment,
    /// which any process of its user could read): its calls to the agent carry it, and it is
    /// checkpointed so that the executor is still recognised after an agent restart. A
    /// checkpoint from before executors had tokens has none, and its executor cannot call.
    #[serde(default)]
    pub auth_token: String,
    #[serde(skip)]
    pub connection: Option<ExecutorConnection>,
    #[serde(skip)]
    pub deadline: Option<Instant>,
    /// This process spawned the executor and waits on it, so its death is reported without
    /// polling /proc.
    #[serde(skip)]
    pub watched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ExecutorPhase {
    /// Spawned, not subscribed yet.
    Launching,
    Running,
    /// The process is gone; the record stays until its tasks' last updates are acknowledged.
    Terminated,
}

pub(crate) struct ExecutorConnection {
    pub id: u64,
    pub tx: EventSender,
}

/// A task as its agent knows it.
#[derive(Serialize, Deserialize)]
pub(crate) struct AgentTask {
    pub info: TaskInfo,
    /// A task of a group runs in a container of its own, nested in its executor's, whose
    /// sandbox is `containers/<id>` in the executor's (Mesos' layout). `None` for a command
    /// task, and for a task checkpointed before nested containers (it runs in `tasks/<task id>`).
    #[serde(default)]
    pub container_id: Option<String>,
    /// The latest state any update reported.
    pub state: TaskState,
    /// Updates not yet acknowledged; the head is the one in flight.
    pub updates: VecDeque<TaskStatus>,
    pub acked: VecDeque<Bytes>,
    #[serde(skip)]
    pub next_retry: Option<Instant>,
    #[serde(skip)]
    pub backoff: Duration,
}

impl AgentTask {
    fn new(info: TaskInfo, container_id: Option<String>) -> Self {
        AgentTask {
            info,
            container_id,
            state: TaskState::Staging,
            updates: VecDeque::new(),
            acked: VecDeque::new(),
            next_retry: None,
            backoff: Duration::ZERO,
        }
    }

    fn knows(&self, uuid: &Bytes) -> bool {
        self.acked.contains(uuid) || self.updates.iter().any(|u| u.uuid.as_ref() == Some(uuid))
    }

    /// Terminal, and the framework has acknowledged the terminal update.
    fn is_done(&self) -> bool {
        self.state.is_terminal() && self.updates.is_empty()
    }
}

impl Executor {
    fn is_live(&self) -> bool {
        self.phase != ExecutorPhase::Terminated
    }

    /// Resources the executor holds while it is alive: its own and its live tasks'.
    pub(crate) fn used_resources(&self) -> Vec<&Resource> {
        let mut used = Vec::new();
        if self.is_live() {
            used.extend(self.info.resources.iter());
        }
        for t in self.tasks.values() {
            if !t.state.is_terminal() {
                used.extend(t.info.resources.iter());
            }
        }
        used
    }
}

/// Where a persistent volume lives on the agent's disk (see [`volume_path`]).
pub(crate) fn volume_dir(agent_dir: &Path, r: &Resource) -> Result<PathBuf, PathError> {
    let disk = r
        .disk
        .as_ref()
        .and_then(|d| d.source.as_ref())
        .and_then(|s| Some((s.type_, s.root()?)));
    volume_path(
        agent_dir,
        r.reservation_role().unwrap_or("*"),
        r.persistence_id().unwrap_or_default(),
        disk,
    )
}

fn container_path(r: &Resource) -> Option<&str> {
    r.disk
        .as_ref()
        .and_then(|d| d.volume.as_ref())
        .map(|v| v.container_path.as_str())
}

/// What the agent adds to an executor's update, as a Mesos agent merges in what its
/// containerizer knows of the container the update names while that container exists: its id,
/// its process and its network (the agent's own address, which its tasks share). A task of a
/// group names its own container (`nested`), which exists until the task ends and whose process
/// only its executor knows; a command task names its executor's container, which exists while
/// the executor runs (`executor_process`, its pid). The id is the agent's record, whatever the
/// executor said.
fn merge_container_status(
    status: &mut TaskStatus,
    nested: Option<&str>,
    executor_container: ContainerId,
    executor_process: Option<u32>,
    ip: Ipv4Addr,
) {
    let ended = status.state.is_terminal();
    let merged = status.container_status.get_or_insert_with(Default::default);
    let exists = match nested {
        Some(nested) => {
            merged.container_id = Some(ContainerId::nested(executor_container, nested));
            !ended
        }
        None => {
            merged.container_id = Some(executor_container);
            match executor_process {
                Some(pid) => {
                    merged.executor_pid = Some(pid);
                    true
                }
                // A task of a group in the older layout: its container is its executor's.
                None => !ended,
            }
        }
    };
    if !exists {
        merged.executor_pid = None;
        merged.network_infos.clear();
    } else if merged.network_infos.is_empty() {
        merged.network_infos = vec![serde_json::json!({
            "ip_addresses": [{"protocol": "IPv4", "ip_address": ip.to_string()}],
        })];
    }
}

/// Whether a running pod executor with these tasks started before tasks had containers of their
/// own: it looks for a task in `tasks/<task id>` (a directory then, a link now), so its new
/// tasks are laid out as its old ones were.
fn keeps_older_layout<'a>(mut tasks: impl Iterator<Item = &'a AgentTask>) -> bool {
    let mut any = false;
    let older = tasks.all(|t| {
        any = true;
        t.container_id.is_none()
    });
    any && older
}

/// A directory to make in a sandbox before the executor or a task needs it.
#[derive(Debug, Clone)]
pub(crate) struct SandboxDir {
    /// The sandbox itself, or a task's directory in it.
    pub dir: PathBuf,
    /// The resources whose persistent volumes are linked into it.
    pub resources: Vec<Resource>,
    /// For a task of a group, `tasks/<task id>`: made a link to `dir` once `dir` is ready, so
    /// that an executor that finds the link finds everything in place.
    pub link: Option<PathBuf>,
}

/// Makes `want.dir` (`sandbox` itself, or a task's directory in it) and links each persistent
/// volume among its resources into it at its container path, making the volume's directory if
/// it is missing; then the task's link to it. What is made, and each volume's directory, belong
/// to the sandbox's owner: the user the executor runs as. Inside the sandbox nothing is made
/// through a name a task could have re-pointed (see `sandbox::Sandbox`).
pub(crate) fn prepare_dir(
    agent_dir: &Path,
    sandbox: &Path,
    want: &SandboxDir,
) -> Result<(), PathError> {
    let held = sandbox::Sandbox::open(sandbox)?;
    let outside = |path: &Path| PathError::Outside {
        root: sandbox.to_path_buf(),
        name: path.display().to_string(),
        reason: "it is not below the sandbox",
    };
    let dir = &want.dir;
    let rel = dir.strip_prefix(sandbox).map_err(|_| outside(dir))?;
    held.dir(sandbox, rel)?;
    for r in &want.resources {
        let (Some(_), Some(path)) = (r.persistence_id(), container_path(r)) else {
            continue;
        };
        let volume = volume_dir(agent_dir, r)?;
        sandbox::create_volume(agent_dir, &volume, held.owner())?;
        let link = join_inside(dir, &[path])?;
        let rel = link.strip_prefix(sandbox).map_err(|_| outside(&link))?;
        held.link(sandbox, rel, &volume)?;
    }
    if let Some(link) = &want.link {
        let rel = link.strip_prefix(sandbox).map_err(|_| outside(link))?;
        held.link(sandbox, rel, dir)?;
    }
    Ok(())
}

impl ClusterState {
    fn runtime_executor(&mut self, agent: usize, container: &str) -> Option<&mut Executor> {
        self.agents[agent]
            .runtime
            .as_mut()
            .and_then(|r| r.executors.get_mut(container))
    }

    /// The container of the live executor with this id, if any.
    pub(crate) fn live_container(
        &self,
        agent: usize,
        framework: &FrameworkId,
        executor_id: &ExecutorId,
    ) -> Option<String> {
        let rt = self.agents[agent].runtime.as_ref()?;
        rt.executors
            .values()
            .find(|e| {
                &e.framework_id == framework && &e.info.executor_id == executor_id && e.is_live()
            })
            .map(|e| e.container_id.clone())
    }

    /// The container holding a task (live or waiting for acknowledgements).
    pub(crate) fn task_container(
        &self,
        agent: usize,
        framework: &FrameworkId,
        task: &TaskId,
    ) -> Option<String> {
        let rt = self.agents[agent].runtime.as_ref()?;
        rt.executors
            .values()
            .find(|e| &e.framework_id == framework && e.tasks.contains_key(task))
            .map(|e| e.container_id.clone())
    }

    /// Starts tasks on an agent: in the named executor (a pod) or in a fresh command executor.
    /// The caller has already checked the resources and the task ids. The sandbox and task
    /// directories are worked out first: when one cannot be (see [`join_inside`]), nothing
    /// changes and the error says why.
    pub(crate) fn agent_launch(
        &mut self,
        now: Now,
        agent: usize,
        framework_id: &FrameworkId,
        executor_info: Option<ExecutorInfo>,
        tasks: Vec<TaskInfo>,
    ) -> Result<(), String> {
        let framework_info = match self.master.frameworks.get(framework_id) {
            Some(f) => f.info.clone(),
            None => return Ok(()),
        };
        let command_task = executor_info.is_none();
        let user = users::task_user(&framework_info, &tasks[0]).to_string();
        let info = executor_info.unwrap_or_else(|| command_executor_info(framework_id, &tasks[0]));
        let existing = self.live_container(agent, framework_id, &info.executor_id);
        let slot_dir = self.agents[agent].dir.clone();
        let agent_id = self.agents[agent].id.clone();
        let (container, sandbox, exec_resources) = match &existing {
            Some(c) => {
                let Some(exec) = self.runtime_executor(agent, c) else {
                    return Ok(());
                };
                (c.clone(), exec.sandbox.clone(), exec.info.resources.clone())
            }
            None => {
                let container_id = uuid::Uuid::new_v4().to_string();
                let sandbox = join_inside(
                    &slot_dir,
                    &[
                        "slaves",
                        &agent_id.value,
                        "frameworks",
                        &framework_id.value,
                        "executors",
                        &info.executor_id.value,
                        "runs",
                        &container_id,
                    ],
                )
                .map_err(|e| format!("Failed to prepare the sandbox: {e}"))?;
                (container_id, sandbox, info.resources.clone())
            }
        };
        let older_layout = existing.as_ref().is_some_and(|c| {
            self.agents[agent]
                .runtime
                .as_ref()
                .and_then(|r| r.executors.get(c))
                .is_some_and(|e| !e.command_task && keeps_older_layout(e.tasks.values()))
        });
        let bad_sandbox = |e: PathError| format!("Failed to prepare the sandbox: {e}");
        let mut prepare = Vec::with_capacity(tasks.len());
        let mut containers = Vec::with_capacity(tasks.len());
        for task in &tasks {
            let mut resources = task.resources.clone();
            let (dir, link, container) = if command_task {
                (sandbox.clone(), None, None)
            } else {
                // Pod-level volumes are visible to every task of the pod.
                resources.extend(exec_resources.iter().cloned());
                let link =
                    join_inside(&sandbox, &["tasks", &task.task_id.value]).map_err(bad_sandbox)?;
                if older_layout {
                    (link, None, None)
                } else {
                    let container = uuid::Uuid::new_v4().to_string();
                    let dir =
                        join_inside(&sandbox, &["containers", &container]).map_err(bad_sandbox)?;
                    (dir, Some(link), Some(container))
                }
            };
            prepare.push(SandboxDir {
                dir,
                resources,
                link,
            });
            containers.push(container);
        }
        let spawn = match existing {
            Some(_) => {
                // The executor runs: the new tasks' directories are made here, before the
                // launch reaches it.
                for want in &prepare {
                    prepare_dir(&slot_dir, &sandbox, want).map_err(|e| {
                        format!("Failed to prepare the sandbox {}: {e}", want.dir.display())
                    })?;
                }
                None
            }
            None => {
                let exec = Executor {
                    framework_id: framework_id.clone(),
                    framework_info,
                    info: info.clone(),
                    command_task,
                    container_id: container.clone(),
                    sandbox: sandbox.clone(),
                    user: user.clone(),
                    pid: None,
                    pid_start: None,
                    phase: ExecutorPhase::Launching,
                    undelivered: Vec::new(),
                    pending_kills: BTreeMap::new(),
                    tasks: BTreeMap::new(),
                    framework_removed: false,
                    auth_token: crate::auth::generate_secret(),
                    connection: None,
                    deadline: Some(now.instant + self.cfg.executor_registration_timeout),
                    watched: false,
                };
                let env = self.executor_env(agent, &exec);
                let token = exec.auth_token.clone();
                if let Some(rt) = self.agents[agent].runtime.as_mut() {
                    rt.executors.insert(container.clone(), exec);
                }
                // The sandbox is made by the spawn, outside the lock: a launch of hundreds of
                // pods must not hold every other call up while directories are created.
                let mut dirs = vec![SandboxDir {
                    dir: sandbox.clone(),
                    resources: info.resources.clone(),
                    link: None,
                }];
                dirs.append(&mut prepare);
                let rlimit_ceilings =
                    crate::executor::rlimits::ceilings(tasks.iter().map(|t| t.container.as_ref()));
                Some(SpawnRequest {
                    agent,
                    container_id: container.clone(),
                    sandbox,
                    env,
                    token,
                    user,
                    agent_dir: slot_dir,
                    prepare: dirs,
                    rlimit_ceilings,
                })
            }
        };
        let Some(exec) = self.runtime_executor(agent, &container) else {
            return Ok(());
        };
        let connected = exec.connection.is_some();
        let mut launched = Vec::new();
        for (task, container) in tasks.into_iter().zip(containers) {
            launched.push(task.task_id.clone());
            exec.tasks
                .insert(task.task_id.clone(), AgentTask::new(task, container));
        }
        if connected {
            self.deliver_launches(agent, &container, launched);
        } else if let Some(exec) = self.runtime_executor(agent, &container) {
            exec.undelivered.extend(launched);
        }
        if let Some(req) = spawn {
            self.effect(Effect::Spawn(req));
        }
        self.mark(Dirty::Executor(agent, container));
        Ok(())
    }

    /// Puts launches on a connected executor's stream.
    fn deliver_launches(&mut self, agent: usize, container: &str, tasks: Vec<TaskId>) {
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let infos: Vec<TaskInfo> = tasks
            .iter()
            .filter_map(|t| exec.tasks.get(t))
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.info.clone())
            .collect();
        if infos.is_empty() {
            return;
        }
        let event = if exec.command_task {
            executor::Event::launch(infos[0].clone())
        } else {
            executor::Event::launch_group(TaskGroupInfo { tasks: infos })
        };
        self.send_to_executor(agent, container, &event);
    }

    fn executor_env(&self, agent: usize, exec: &Executor) -> Vec<(String, String)> {
        let slot = &self.agents[agent];
        let sandbox = exec.sandbox.display().to_string();
        vec![
            ("MESOS_FRAMEWORK_ID".into(), exec.framework_id.value.clone()),
            (
                "MESOS_EXECUTOR_ID".into(),
                exec.info.executor_id.value.clone(),
            ),
            ("MESOS_AGENT_ID".into(), slot.id.value.clone()),
            (
                "MESOS_AGENT_ENDPOINT".into(),
                format!("{}:{}", slot.ip, slot.port),
            ),
            ("MESOS_HOSTNAME".into(), slot.ip.to_string()),
            ("MESOS_DIRECTORY".into(), sandbox.clone()),
            ("MESOS_SANDBOX".into(), sandbox),
            ("MESOS_CHECKPOINT".into(), "1".into()),
            (
                "MESOS_RECOVERY_TIMEOUT".into(),
                mesos_duration(self.cfg.executor_recovery_timeout),
            ),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2000ms".into()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
                mesos_duration(
                    exec.info
                        .shutdown_grace_period
                        .as_ref()
                        .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
                        .unwrap_or(Duration::from_secs(5)),
                ),
            ),
        ]
    }

    /// Records the pid of a freshly spawned executor, or fails its tasks if it could not start.
    pub(crate) fn executor_spawned(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        pid: Result<(u32, Option<u64>), String>,
    ) {
        match pid {
            Ok((pid, start)) => {
                if let Some(exec) = self.runtime_executor(agent, container) {
                    exec.pid = Some(pid);
                    exec.watched = true;
                    exec.pid_start = start;
                    self.mark(Dirty::Executor(agent, container.to_string()));
                } else {
                    // The agent went away while the process started: do not leave it behind.
                    self.effect(Effect::KillSession { pid, start });
                }
            }
            Err(message) => {
                self.executor_terminated(
                    now,
                    agent,
                    container,
                    Reason::ContainerLaunchFailed,
                    &format!("Failed to launch executor: {message}"),
                );
            }
        }
    }

    /// The executor's sandbox could not be made for its user (there is no such user, or it
    /// cannot reach the work dir): it never started. As a Mesos agent does, its tasks are
    /// reported dropped (lost, to a framework that is not partition-aware), with why.
    pub(crate) fn executor_not_started(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        message: &str,
    ) {
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let framework = exec.framework_id.clone();
        let unfinished: Vec<TaskId> = exec
            .tasks
            .iter()
            .filter(|(_, t)| !t.state.is_terminal())
            .map(|(id, _)| id.clone())
            .collect();
        let state = if self.partition_aware(&framework) {
            TaskState::Dropped
        } else {
            TaskState::Lost
        };
        for task in unfinished {
            self.agent_status(
                now,
                agent,
                container,
                &task,
                state,
                Reason::ExecutorTerminated,
                message,
            );
        }
        self.executor_terminated(now, agent, container, Reason::ExecutorTerminated, message);
    }

    /// An executor subscribed (or re-subscribed) on its agent's executor API. `closer` closes
    /// its connection if it stops reading.
    pub(crate) fn executor_subscribe(
        &mut self,
        now: Now,
        agent: usize,
        call: &executor::Call,
        closer: Option<StreamCloser>,
    ) -> Result<(u64, EventReceiver), String> {
        let container = self
            .live_container(agent, &call.framework_id, &call.executor_id)
            .ok_or_else(|| {
                format!(
                    "Executor '{}' of framework '{}' is not known to this agent",
                    call.executor_id, call.framework_id
                )
            })?;
        let conn_id = self.connection_id();
        let (tx, rx) = stream::channel(
            format!(
                "executor {} of framework {} on agent {}",
                call.executor_id, call.framework_id, self.agents[agent].id
            ),
            self.cfg.max_stream_backlog,
            closer,
        );
        let agent_info = self.agent_info(agent);
        let Some(exec) = self.runtime_executor(agent, &container) else {
            return Err("executor vanished".to_string());
        };
        exec.connection = Some(ExecutorConnection { id: conn_id, tx });
        exec.phase = ExecutorPhase::Running;
        exec.deadline = None;
        let subscribed = executor::Event::subscribed(
            exec.info.clone(),
            exec.framework_info.clone(),
            agent_info,
            cairn_proto::ContainerId::new(exec.container_id.clone()),
        );
        // Launches the executor never saw: the undelivered ones, and staged tasks it does not
        // report (a launch lost in a stream that broke).
        let reported: Vec<&TaskId> = call
            .subscribe
            .as_ref()
            .map(|s| s.unacknowledged_tasks.iter().map(|t| &t.task_id).collect())
            .unwrap_or_default();
        let mut launches: Vec<TaskId> = std::mem::take(&mut exec.undelivered);
        for (id, t) in &exec.tasks {
            if t.state == TaskState::Staging
                && t.updates.is_empty()
                && t.acked.is_empty()
                && !reported.contains(&id)
                && !launches.contains(id)
            {
                launches.push(id.clone());
            }
        }
        let kills = std::mem::take(&mut exec.pending_kills);
        let framework_removed = exec.framework_removed;
        self.send_to_executor(agent, &container, &subscribed);
        if framework_removed {
            // Its framework is gone (removed while the agent was away): nothing more to run,
            // only to stop.
            self.send_to_executor(agent, &container, &executor::Event::shutdown());
        } else {
            self.deliver_launches(agent, &container, launches);
            for (task_id, policy) in kills {
                self.send_to_executor(agent, &container, &executor::Event::kill(task_id, policy));
            }
        }
        // Updates the executor sent while we were away: of its own tasks only.
        if let Some(sub) = &call.subscribe {
            for u in &sub.unacknowledged_updates {
                let owner = self.task_container(agent, &call.framework_id, &u.status.task_id);
                if owner.as_ref().is_some_and(|c| c != &container) {
                    tracing::warn!(
                        "executor {} re-sent an update of task {}, which is not its own: dropped",
                        call.executor_id,
                        u.status.task_id
                    );
                    continue;
                }
                self.executor_update(
                    now,
                    agent,
                    &call.framework_id,
                    &call.executor_id,
                    u.status.clone(),
                );
            }
        }
        self.mark(Dirty::Executor(agent, container));
        Ok((conn_id, rx))
    }

    /// The executor's stream ended (it died, or the agent dropped it).
    pub(crate) fn executor_stream_closed(&mut self, agent: usize, container: &str, conn_id: u64) {
        if let Some(exec) = self.runtime_executor(agent, container) {
            if exec.connection.as_ref().is_some_and(|c| c.id == conn_id) {
                exec.connection = None;
            }
        }
    }

    /// A status update from an executor (or made by the agent itself).
    pub(crate) fn executor_update(
        &mut self,
        now: Now,
        agent: usize,
        framework: &FrameworkId,
        executor_id: &ExecutorId,
        mut status: TaskStatus,
    ) {
        let Some(container) = self
            .task_container(agent, framework, &status.task_id)
            .or_else(|| self.live_container(agent, framework, executor_id))
        else {
            tracing::warn!("dropping an update for unknown task {}", status.task_id);
            return;
        };
        let agent_id = self.agents[agent].id.clone();
        let agent_ip = self.agents[agent].ip;
        let Some(exec) = self.runtime_executor(agent, &container) else {
            return;
        };
        let executor_container = ContainerId::new(exec.container_id.clone());
        let executor_process = (exec.command_task && exec.phase != ExecutorPhase::Terminated)
            .then_some(exec.pid)
            .flatten();
        let Some(task) = exec.tasks.get_mut(&status.task_id) else {
            tracing::warn!("dropping an update for unknown task {}", status.task_id);
            return;
        };
        let uuid = status.uuid.clone().unwrap_or_else(new_uuid);
        if task.knows(&uuid) {
            // A re-sent duplicate: if it was acknowledged, tell the executor again.
            if task.acked.contains(&uuid) {
                let ev = executor::Event::acknowledged(status.task_id.clone(), uuid);
                self.send_to_executor(agent, &container, &ev);
            }
            return;
        }
        status.uuid = Some(uuid);
        status.agent_id = Some(agent_id);
        status
            .executor_id
            .get_or_insert_with(|| exec.info.executor_id.clone());
        status.timestamp.get_or_insert_with(|| now.epoch_secs());
        status.source.get_or_insert(Source::Executor);
        if status.source == Some(Source::Executor) {
            merge_container_status(
                &mut status,
                task.container_id.as_deref(),
                executor_container,
                executor_process,
                agent_ip,
            );
        }
        // A terminal state is final: a later "running" from a confused executor must not revive it.
        if !task.state.is_terminal() {
            task.state = status.state;
        }
        let task_id = status.task_id.clone();
        let removed = exec.framework_removed;
        task.updates.push_back(status);
        let first = task.updates.len() == 1;
        self.mark(Dirty::Executor(agent, container.clone()));
        if removed {
            // Nobody will acknowledge: settle it here so the executor can finish.
            let uuid = self
                .runtime_executor(agent, &container)
                .and_then(|e| e.tasks.get(&task_id))
                .and_then(|t| t.updates.back())
                .and_then(|u| u.uuid.clone());
            if let Some(uuid) = uuid {
                self.agent_acknowledge(now, agent, &container, &task_id, &uuid);
            }
            return;
        }
        if first {
            self.forward_update(now, agent, &container, &task_id, true);
        } else {
            // The master learns the latest state even while an older update waits.
            self.mirror_latest(agent, &container, &task_id);
        }
    }

    /// An agent-made status update (executor gone, kill before launch, ...).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn agent_status(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        task_id: &TaskId,
        state: TaskState,
        reason: Reason,
        message: &str,
    ) {
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let framework = exec.framework_id.clone();
        let executor_id = exec.info.executor_id.clone();
        let status = TaskStatus {
            task_id: task_id.clone(),
            state,
            reason: Some(reason),
            message: Some(message.to_string()),
            source: Some(Source::Agent),
            uuid: Some(new_uuid()),
            timestamp: Some(now.epoch_secs()),
            ..Default::default()
        };
        self.executor_update(now, agent, &framework, &executor_id, status);
    }

    /// Sends the head update of a task's stream to the master and on to the framework.
    pub(crate) fn forward_update(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        task_id: &TaskId,
        fresh: bool,
    ) {
        let retry_min = self.cfg.status_update_retry_min;
        let retry_max = self.cfg.status_update_retry_max;
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let framework = exec.framework_id.clone();
        let Some(task) = exec.tasks.get_mut(task_id) else {
            return;
        };
        let Some(head) = task.updates.front().cloned() else {
            return;
        };
        task.backoff = if fresh {
            retry_min
        } else {
            (task.backoff * 2).clamp(retry_min, retry_max)
        };
        task.next_retry = Some(now.instant + task.backoff);
        self.mirror_latest(agent, container, task_id);
        // The update reaching the master is Mesos' status update message from the agent.
        let known = self.master.frameworks.contains_key(&framework);
        let metrics = &mut self.master.metrics;
        metrics.inc("master/messages_status_update");
        metrics.inc(if known {
            "master/valid_status_updates"
        } else {
            "master/invalid_status_updates"
        });
        self.send_to_framework(&framework, &scheduler::Event::update(head));
    }

    /// Brings the master's mirror of a task up to date with the agent's.
    fn mirror_latest(&mut self, agent: usize, container: &str, task_id: &TaskId) {
        let Some(exec) = self.agents[agent]
            .runtime
            .as_ref()
            .and_then(|r| r.executors.get(container))
        else {
            return;
        };
        let framework = exec.framework_id.clone();
        let Some(task) = exec.tasks.get(task_id) else {
            return;
        };
        let executor_id = (!exec.command_task).then(|| exec.info.executor_id.clone());
        let state = task.state;
        let pending = task.updates.front().cloned();
        let latest = task.updates.back().cloned();
        let info = task.info.clone();
        let Some(fw) = self.master.frameworks.get_mut(&framework) else {
            return;
        };
        let entry = fw
            .tasks
            .entry(task_id.clone())
            .or_insert_with(|| MasterTask {
                agent,
                executor_id,
                info,
                state,
                statuses: Vec::new(),
                pending: None,
                unreachable_time: None,
            });
        let changed = entry.state != state;
        entry.state = state;
        entry.unreachable_time = None;
        if let Some(latest) = &latest {
            if entry.statuses.last().map(|s| &s.uuid) != Some(&latest.uuid) {
                // One status per state in a row, as Mesos' master keeps them: a newer update
                // of the same state (a health or check result) takes the last one's place.
                if entry.statuses.last().map(|s| s.state) == Some(latest.state) {
                    entry.statuses.pop();
                }
                entry.statuses.push(latest.clone());
                // Keep the history short: the operator API shows it, nothing depends on it.
                if entry.statuses.len() > 8 {
                    entry.statuses.remove(0);
                }
            }
        }
        entry.pending = pending;
        if let (true, Some(latest)) = (changed, latest) {
            self.task_changed(&framework, &latest);
        }
    }

    /// The framework acknowledged an update.
    pub(crate) fn framework_acknowledge(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        agent_id: &AgentId,
        task_id: &TaskId,
        uuid: &Bytes,
    ) {
        let Some(agent) = self.agent_index(agent_id) else {
            return;
        };
        if self.agents[agent].status != AgentStatus::Running {
            // The agent is away: it will re-send the update when it is back.
            return;
        }
        let Some(container) = self.task_container(agent, framework, task_id) else {
            return;
        };
        self.agent_acknowledge(now, agent, &container, task_id, uuid);
    }

    fn agent_acknowledge(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        task_id: &TaskId,
        uuid: &Bytes,
    ) {
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let framework = exec.framework_id.clone();
        let Some(task) = exec.tasks.get_mut(task_id) else {
            return;
        };
        if task.updates.front().and_then(|u| u.uuid.as_ref()) != Some(uuid) {
            // Not the update in flight: a late duplicate acknowledgement. Mesos ignores it too.
            return;
        }
        task.updates.pop_front();
        task.acked.push_back(uuid.clone());
        if task.acked.len() > ACKED_MEMORY {
            task.acked.pop_front();
        }
        task.next_retry = None;
        let more = !task.updates.is_empty();
        let done = task.is_done();
        self.send_to_executor(
            agent,
            container,
            &executor::Event::acknowledged(task_id.clone(), uuid.clone()),
        );
        if more {
            self.forward_update(now, agent, container, task_id, true);
        } else {
            self.mirror_latest(agent, container, task_id);
        }
        // Every acknowledgement is written down before anything is announced (`finish()`
        // writes the checkpoint before the outbox goes out), as Mesos' agent checkpoints an ACK
        // record before it acts on it. Not writing it cost more than "one duplicate": the
        // checkpoint still held every update queued when it was last written, so a restarted
        // cluster re-sent STARTING and RUNNING the framework had long acknowledged, and
        // schedulers saw running tasks go back to TASK_STARTING after a takeover.
        if done {
            self.task_completed(agent, container, task_id, &framework);
        }
        self.mark(Dirty::Executor(agent, container.to_string()));
    }

    /// A task's terminal update was acknowledged: it leaves the books.
    fn task_completed(
        &mut self,
        agent: usize,
        container: &str,
        task_id: &TaskId,
        framework: &FrameworkId,
    ) {
        let agent_id = self.agents[agent].id.clone();
        if let Some(fw) = self.master.frameworks.get_mut(framework) {
            if let Some(t) = fw.tasks.remove(task_id) {
                let task = super::views::task_view(framework, &agent_id, task_id, &t);
                fw.completed_tasks.push_back(task);
                if fw.completed_tasks.len() > COMPLETED_TASKS {
                    fw.completed_tasks.pop_front();
                }
            }
        }
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        exec.tasks.remove(task_id);
        let finished = exec.tasks.is_empty();
        let phase = exec.phase;
        if finished && phase == ExecutorPhase::Terminated {
            self.remove_executor(agent, container);
        }
    }

    fn remove_executor(&mut self, agent: usize, container: &str) {
        if let Some(rt) = self.agents[agent].runtime.as_mut() {
            rt.executors.remove(container);
        }
        self.mark(Dirty::Executor(agent, container.to_string()));
    }

    /// The executor process is gone. Its unfinished tasks fail, and its resources free up.
    pub(crate) fn executor_terminated(
        &mut self,
        now: Now,
        agent: usize,
        container: &str,
        reason: Reason,
        message: &str,
    ) {
        let live = self
            .runtime_executor(agent, container)
            .is_some_and(|e| e.phase != ExecutorPhase::Terminated);
        if !live {
            return;
        }
        self.master.metrics.inc("master/messages_exited_executor");
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        exec.phase = ExecutorPhase::Terminated;
        exec.connection = None;
        exec.undelivered.clear();
        let framework = exec.framework_id.clone();
        let executor_id = exec.info.executor_id.clone();
        let command_task = exec.command_task;
        let session = exec.pid.map(|pid| (pid, exec.pid_start));
        let unfinished: Vec<(TaskId, bool)> = exec
            .tasks
            .iter()
            .filter(|(_, t)| !t.state.is_terminal())
            .map(|(id, _)| (id.clone(), exec.pending_kills.contains_key(id)))
            .collect();
        // The pod is one container: when its executor is gone, Mesos destroys the container,
        // and so must we. Task processes of an executor that was SIGKILLed (or crashed) would
        // otherwise run on, orphaned, after their tasks were reported failed. (An executor
        // whose tasks all ended has nothing left: no need to scan for its session then.)
        if let (Some((pid, start)), false) = (session, unfinished.is_empty()) {
            self.effect(Effect::KillSession { pid, start });
        }
        for (task_id, kill_requested) in unfinished {
            if kill_requested {
                self.agent_status(
                    now,
                    agent,
                    container,
                    &task_id,
                    TaskState::Killed,
                    Reason::ExecutorTerminated,
                    "Killed: the executor terminated",
                );
            } else {
                self.agent_status(
                    now,
                    agent,
                    container,
                    &task_id,
                    TaskState::Failed,
                    reason,
                    message,
                );
            }
        }
        if !command_task {
            let agent_id = self.agents[agent].id.clone();
            self.send_to_framework(
                &framework,
                &scheduler::Event::failure(Some(agent_id), Some(executor_id), None),
            );
        }
        let empty = self
            .runtime_executor(agent, container)
            .is_some_and(|e| e.tasks.values().all(|t| t.is_done()) || e.framework_removed);
        if empty {
            self.remove_executor(agent, container);
        } else {
            self.mark(Dirty::Executor(agent, container.to_string()));
        }
    }

    /// Kills a task: through its executor, or directly when it never reached one.
    pub(crate) fn agent_kill(
        &mut self,
        now: Now,
        agent: usize,
        framework: &FrameworkId,
        task_id: &TaskId,
        policy: Option<KillPolicy>,
    ) {
        let Some(container) = self.task_container(agent, framework, task_id) else {
            return;
        };
        let Some(exec) = self.runtime_executor(agent, &container) else {
            return;
        };
        let Some(task) = exec.tasks.get(task_id) else {
            return;
        };
        if task.state.is_terminal() {
            return;
        }
        if let Some(pos) = exec.undelivered.iter().position(|t| t == task_id) {
            exec.undelivered.remove(pos);
            self.agent_status(
                now,
                agent,
                &container,
                task_id,
                TaskState::Killed,
                Reason::TaskKilledDuringLaunch,
                "Killed before it was delivered to its executor",
            );
            self.stop_idle_executor(now, agent, &container);
            return;
        }
        if exec.connection.is_some() {
            self.send_to_executor(
                agent,
                &container,
                &executor::Event::kill(task_id.clone(), policy),
            );
        } else {
            exec.pending_kills.insert(task_id.clone(), policy);
            self.mark(Dirty::Executor(agent, container));
        }
    }

    /// An executor that has nothing left to run is told to shut down.
    fn stop_idle_executor(&mut self, now: Now, agent: usize, container: &str) {
        let idle = self
            .runtime_executor(agent, container)
            .is_some_and(|e| e.tasks.values().all(|t| t.state.is_terminal()));
        if idle {
            self.shutdown_executor(now, agent, container);
        }
    }

    /// Asks an executor to shut down, and makes sure its processes go even if it does not.
    pub(crate) fn shutdown_executor(&mut self, now: Now, agent: usize, container: &str) {
        let Some(exec) = self.runtime_executor(agent, container) else {
            return;
        };
        let grace = exec
            .info
            .shutdown_grace_period
            .as_ref()
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(Duration::from_secs(5));
        let pid = exec.pid;
        let start = exec.pid_start;
        let connected = exec.connection.is_some();
        if connected {
            self.send_to_executor(agent, container, &executor::Event::shutdown());
        }
        if let Some(pid) = pid {
            // The executor gets its grace period plus a little to kill its tasks itself.
            self.effect(Effect::TerminateSession {
                pid,
                start,
                grace: grace + Duration::from_secs(2),
            });
        } else {
            self.executor_terminated(
                now,
                agent,
                container,
                Reason::ExecutorTerminated,
                "Executor shut down before it started",
            );
        }
    }

    /// A MESSAGE from an executor to its framework.
    pub(crate) fn executor_message(
        &mut self,
        agent: usize,
        framework: &FrameworkId,
        executor_id: &ExecutorId,
        data: Bytes,
    ) {
        let agent_id = self.agents[agent].id.clone();
        let known = self.master.frameworks.contains_key(framework);
        let metrics = &mut self.master.metrics;
        metrics.inc("master/messages_executor_to_framework");
        metrics.inc(if known {
            "master/valid_executor_to_framework_messages"
        } else {
            "master/invalid_executor_to_framework_messages"
        });
        self.send_to_framework(
            framework,
            &scheduler::Event::message(agent_id, executor_id.clone(), data),
        );
    }

    /// Periodic agent work: update retries, executors that never subscribed or died unseen.
    pub(crate) fn agent_tick(&mut self, now: Now, agent: usize, check_pids: bool) {
        let Some(rt) = self.agents[agent].runtime.as_ref() else {
            return;
        };
        let recovering = rt.recovering_until.is_some_and(|t| now.instant < t);
        let mut retries = Vec::new();
        let mut dead = Vec::new();
        let mut timed_out = Vec::new();
        for (container, exec) in &rt.executors {
            if !exec.framework_removed {
                for (id, t) in &exec.tasks {
                    if t.next_retry.is_some_and(|r| r <= now.instant) {
                        retries.push((container.clone(), id.clone()));
                    }
                }
            }
            if exec.phase == ExecutorPhase::Terminated {
                continue;
            }
            if exec.phase == ExecutorPhase::Launching
                && exec.deadline.is_some_and(|d| d <= now.instant)
            {
                timed_out.push(container.clone());
                continue;
            }
            if check_pids && exec.connection.is_none() && !exec.watched && !recovering {
                if let Some(pid) = exec.pid {
                    if !process::alive(pid, exec.pid_start) {
                        dead.push(container.clone());
                    }
                }
            }
        }
        if let Some(rt) = self.agents[agent].runtime.as_mut() {
            if rt.recovering_until.is_some_and(|t| now.instant >= t) {
                rt.recovering_until = None;
            }
        }
        for (container, task) in retries {
            self.forward_update(now, agent, &container, &task, false);
        }
        for container in timed_out {
            let pid = self
                .runtime_executor(agent, &container)
                .and_then(|e| e.pid.map(|p| (p, e.pid_start)));
            if let Some((pid, start)) = pid {
                self.effect(Effect::KillSession { pid, start });
            }
            self.executor_terminated(
                now,
                agent,
                &container,
                Reason::ExecutorRegistrationTimeout,
                "Executor did not subscribe in time",
            );
        }
        for container in dead {
            self.executor_terminated(
                now,
                agent,
                &container,
                Reason::ExecutorTerminated,
                "Executor terminated",
            );
        }
    }

    pub(crate) fn agent_info(&self, agent: usize) -> cairn_proto::AgentInfo {
        let slot = &self.agents[agent];
        cairn_proto::AgentInfo {
            hostname: slot.ip.to_string(),
            port: Some(u32::from(slot.port)),
            resources: slot.total.to_vec(),
            attributes: slot.attributes.clone(),
            id: Some(slot.id.clone()),
            ..Default::default()
        }
    }

    /// Forwards every pending head update of a framework at once (used when it re-subscribes,
    /// so a recovering scheduler does not wait out a long retry backoff).
    pub(crate) fn resend_pending(&mut self, now: Now, framework: &FrameworkId) {
        let mut heads = Vec::new();
        for (i, slot) in self.agents.iter().enumerate() {
            let Some(rt) = &slot.runtime else { continue };
            for (container, exec) in &rt.executors {
                if &exec.framework_id != framework {
                    continue;
                }
                for (id, t) in &exec.tasks {
                    if !t.updates.is_empty() {
                        heads.push((i, container.clone(), id.clone()));
                    }
                }
            }
        }
        for (agent, container, task) in heads {
            self.forward_update(now, agent, &container, &task, true);
        }
    }

    /// The framework is gone: its executors are shut down and their records dropped.
    pub(crate) fn agent_remove_framework(&mut self, now: Now, framework: &FrameworkId) {
        for agent in 0..self.agents.len() {
            self.shutdown_framework_on(now, agent, framework);
        }
    }

    /// Shuts down a framework's executors on one running agent; their updates are dropped.
    pub(crate) fn shutdown_framework_on(
        &mut self,
        now: Now,
        agent: usize,
        framework: &FrameworkId,
    ) {
        let containers: Vec<String> = match &self.agents[agent].runtime {
            Some(rt) => rt
                .executors
                .iter()
                .filter(|(_, e)| &e.framework_id == framework)
                .map(|(c, _)| c.clone())
                .collect(),
            None => return,
        };
        for c in containers {
            if let Some(exec) = self.runtime_executor(agent, &c) {
                exec.framework_removed = true;
                for t in exec.tasks.values_mut() {
                    t.updates.clear();
                    t.next_retry = None;
                }
            }
            let live = self
                .runtime_executor(agent, &c)
                .is_some_and(|e| e.is_live());
            if live {
                self.shutdown_executor(now, agent, &c);
                self.mark(Dirty::Executor(agent, c));
            } else {
                self.remove_executor(agent, &c);
            }
        }
    }
}

/// The ExecutorInfo cairn makes up for a command task, as Mesos' command executor does.
fn command_executor_info(framework: &FrameworkId, task: &TaskInfo) -> ExecutorInfo {
    ExecutorInfo {
        type_: Some(ExecutorType::Custom),
        executor_id: ExecutorId::new(task.task_id.value.clone()),
        framework_id: Some(framework.clone()),
        name: Some(format!("Command Executor (Task: {})", task.task_id)),
        source: Some(task.task_id.value.clone()),
        ..Default::default()
    }
}

/// JSON object keys must be strings, and task ids are objects: maps keyed by them are written
/// as lists of pairs.
mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::ContainerStatus;

    fn from_executor(state: TaskState, container: Option<ContainerStatus>) -> TaskStatus {
        TaskStatus {
            container_status: container,
            ..TaskStatus::new("t", state)
        }
    }

    fn network(status: &TaskStatus) -> Vec<serde_json::Value> {
        status.container_status.clone().unwrap().network_infos
    }

    const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

    #[test]
    fn a_running_task_of_a_group_is_shown_in_its_nested_container_with_its_process_and_network() {
        // The executor says which process; it cannot say which container.
        let said = ContainerStatus {
            container_id: Some(ContainerId::new("made-up")),
            executor_pid: Some(4242),
            ..Default::default()
        };
        let mut status = from_executor(TaskState::Running, Some(said));
        merge_container_status(&mut status, Some("c-1"), ContainerId::new("e-1"), None, IP);
        let merged = status.container_status.clone().unwrap();
        assert_eq!(
            merged.container_id,
            Some(ContainerId::nested(ContainerId::new("e-1"), "c-1"))
        );
        assert_eq!(merged.executor_pid, Some(4242));
        assert_eq!(
            network(&status),
            vec![serde_json::json!({
                "ip_addresses": [{"protocol": "IPv4", "ip_address": "127.0.0.3"}]
            })]
        );
    }

    #[test]
    fn an_ended_task_of_a_group_has_no_container_left_but_its_id() {
        let said = ContainerStatus {
            executor_pid: Some(4242),
            ..Default::default()
        };
        let mut status = from_executor(TaskState::Killed, Some(said));
        merge_container_status(&mut status, Some("c-1"), ContainerId::new("e-1"), None, IP);
        let merged = status.container_status.unwrap();
        assert_eq!(
            merged,
            ContainerStatus {
                container_id: Some(ContainerId::nested(ContainerId::new("e-1"), "c-1")),
                ..Default::default()
            }
        );
    }

    #[test]
    fn only_a_pod_executor_whose_tasks_all_lack_containers_keeps_the_older_layout() {
        let task = |container: Option<&str>| {
            AgentTask::new(TaskInfo::default(), container.map(ToString::to_string))
        };
        let older = [task(None), task(None)];
        let newer = [task(Some("c-1")), task(Some("c-2"))];
        assert!(keeps_older_layout(older.iter()));
        assert!(!keeps_older_layout(newer.iter()));
        assert!(!keeps_older_layout([].iter()));
    }

    #[test]
    fn a_command_task_is_shown_in_its_executors_container_while_the_executor_runs() {
        for state in [TaskState::Running, TaskState::Finished] {
            let mut status = from_executor(state, None);
            merge_container_status(&mut status, None, ContainerId::new("e-1"), Some(77), IP);
            let merged = status.container_status.clone().unwrap();
            assert_eq!(merged.container_id, Some(ContainerId::new("e-1")));
            assert_eq!(merged.executor_pid, Some(77), "{state:?}");
            assert_eq!(network(&status).len(), 1);
        }
    }
}
