//! The executor's brain: a pure state machine over agent events, task
//! reports and time, in the shape of the scheduler core (`handle_*` in,
//! `poll_action` / `poll_timeout` out).
//!
//! It owns the tasks, the ledger of status updates not yet acknowledged, and
//! the link to the agent (subscribed, or re-subscribing with backoff until the
//! recovery timeout). It never touches a socket, a process or the clock: the
//! runtime does what the actions say and reports back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use cairn_proto::executor::{Call, Event, EventType, Subscribe, Update};
use cairn_proto::{
    AgentId, Bytes, CapabilityType, ContainerId, ContainerStatus, ExecutorId, FrameworkId,
    FrameworkInfo, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};

use super::fetch::UriSpec;
use super::launch::{
    kill_grace, plan_task, plan_task_in, TaskContext, TaskPlan, DEFAULT_KILL_GRACE,
};
use super::layout::TaskDir;
use super::probe::{ProbeReport, ProbeResult, ProbeSchedule, ProbeTarget};
use super::process::{ExitOutcome, GroupSignal, LaunchSpec};
use super::task::{KillCause, StatusDraft, TaskEffect, TaskKind, TaskMachine};

/// How the core is tuned; the runtime fills it from `ExecutorConfig`.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub agent_id: Option<AgentId>,
    pub context: TaskContext,
    /// Without checkpointing the agent cannot recover us, so a lost agent
    /// means the end (as in Mesos).
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub shutdown_grace: Duration,
    /// How long to stay after the last acknowledgement, in case the
    /// framework launches more tasks on this executor.
    pub linger: Duration,
    /// How long to wait for acknowledgements of the final updates when
    /// shutting down.
    pub shutdown_ack_wait: Duration,
    /// Wall-clock time in seconds since the epoch, for update timestamps.
    pub wall_clock: fn() -> f64,
}

/// Why the executor stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Every task ended and every update was acknowledged.
    Completed,
    /// The agent sent SHUTDOWN.
    Shutdown,
    /// The executor process was asked to terminate (SIGTERM/SIGINT).
    Signalled,
    /// The agent stayed away longer than the recovery timeout.
    RecoveryTimedOut,
    /// The agent went away and, without checkpointing, cannot recover us.
    AgentLost,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a subscription: POST this SUBSCRIBE and stream the events,
    /// reporting them under `generation`.
    Subscribe {
        generation: u64,
        call: Box<Call>,
    },
    /// POST this call (an UPDATE) on behalf of subscription `generation`.
    /// Posts must go out in the order given.
    Post {
        generation: u64,
        call: Box<Call>,
    },
    /// Drop the event stream of `generation`.
    CloseStream {
        generation: u64,
    },
    /// Find or make the task's directory (see `layout::prepare`) and fetch its URIs into it;
    /// report the directory with `handle_fetched`.
    Fetch {
        task_id: TaskId,
        kind: TaskKind,
        uris: Vec<UriSpec>,
    },
    CancelFetch {
        task_id: TaskId,
    },
    /// Start the task's process and report the pid.
    Spawn {
        task_id: TaskId,
        launch: Box<LaunchSpec>,
    },
    StartProbes {
        task_id: TaskId,
        health: Option<Box<(ProbeTarget, ProbeSchedule)>>,
        check: Option<Box<(ProbeTarget, ProbeSchedule)>>,
    },
    StopProbes {
        task_id: TaskId,
    },
    Signal {
        task_id: TaskId,
        pid: u32,
        signal: GroupSignal,
    },
    /// Stop the executor.
    Exit(ExitReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No subscription and no attempt in flight; the next at `retry_at`.
    Disconnected {
        since: Instant,
        retry_at: Instant,
    },
    /// A SUBSCRIBE is in flight.
    Subscribing {
        since: Instant,
        generation: u64,
    },
    Subscribed {
        generation: u64,
    },
}

/// A status update sent (or to send) and not yet acknowledged.
#[derive(Debug, Clone)]
struct PendingUpdate {
    status: TaskStatus,
    /// The subscription it was last handed to, if any.
    delivered_in: Option<u64>,
}

#[derive(Debug)]
struct TaskEntry {
    info: TaskInfo,
    plan: Option<TaskPlan>,
    machine: TaskMachine,
    /// The LAUNCH_GROUP it came in; `None` for a command task.
    group: Option<u64>,
    /// Its own container, nested in the executor's (a task of a group), once its directory is
    /// found.
    container: Option<String>,
    /// Once any of its updates is acknowledged, the agent knows the task and
    /// it is no longer listed in `unacknowledged_tasks`.
    acknowledged_any: bool,
}

impl TaskEntry {
    fn kill_grace(&self) -> Duration {
        self.plan
            .as_ref()
            .and_then(|plan| plan.kill_grace)
            .unwrap_or(DEFAULT_KILL_GRACE)
    }
}

#[derive(Debug, Clone, Copy)]
struct Stopping {
    reason: ExitReason,
    /// Whatever happens, we are gone by then.
    hard_deadline: Instant,
    /// Set once every task is terminal: how long acknowledgements may take.
    acks_until: Option<Instant>,
}

/// Margin past the shutdown grace period for the last SIGKILL to land and
/// the process to be reaped.
const STOP_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct ExecutorMachine {
    config: MachineConfig,
    tasks: Vec<TaskEntry>,
    /// Which API launched us; a command executor runs exactly one task.
    kind: Option<TaskKind>,
    next_group: u64,
    ledger: Vec<PendingUpdate>,
    link: Link,
    backoff: Duration,
    generation: u64,
    framework_info: Option<FrameworkInfo>,
    container_id: Option<ContainerId>,
    stopping: Option<Stopping>,
    linger_until: Option<Instant>,
    actions: VecDeque<Action>,
    exited: bool,
}

impl ExecutorMachine {
    /// A fresh executor: it subscribes at once.
    pub fn new(now: Instant, config: MachineConfig) -> Self {
        let backoff = config.backoff_initial;
        ExecutorMachine {
            config,
            tasks: Vec::new(),
            kind: None,
            next_group: 0,
            ledger: Vec::new(),
            link: Link::Disconnected {
                since: now,
                retry_at: now,
            },
            backoff,
            generation: 0,
            framework_info: None,
            container_id: None,
            stopping: None,
            linger_until: None,
            actions: VecDeque::new(),
            exited: false,
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.exited {
            return None;
        }
        let mut deadlines: Vec<Instant> = self
            .tasks
            .iter()
            .filter_map(|task| task.machine.poll_timeout())
            .collect();
        match self.link {
            // Once we gave up on the agent its deadlines are past for good;
            // reporting them would make the runtime spin.
            _ if self.given_up_on_agent() => {}
            Link::Disconnected { since, retry_at } => {
                deadlines.push(retry_at);
                deadlines.push(since + self.config.recovery_timeout);
            }
            Link::Subscribing { since, .. } => deadlines.push(since + self.config.recovery_timeout),
            Link::Subscribed { .. } => {}
        }
        deadlines.extend(self.linger_until);
        if let Some(stopping) = self.stopping {
            deadlines.push(stopping.hard_deadline);
            deadlines.extend(stopping.acks_until);
        }
        deadlines.into_iter().min()
    }

    /// Whether the executor has decided to exit.
    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// The number of updates waiting for an acknowledgement.
    pub fn unacknowledged(&self) -> usize {
        self.ledger.len()
    }

    // -- inputs from the agent ----------------------------------------------

    pub fn handle_event(&mut self, now: Instant, generation: u64, event: Event) {
        if self.exited {
            return;
        }
        match self.link {
            Link::Subscribing { generation: g, .. } if g == generation => {
                // An agent that does not know us answers with SHUTDOWN
                // instead of SUBSCRIBED; it has the last word either way.
                if !matches!(event.type_, EventType::Subscribed | EventType::Shutdown) {
                    tracing::warn!(event = ?event.type_, "event before SUBSCRIBED ignored");
                    return;
                }
            }
            Link::Subscribed { generation: g } if g == generation => {}
            // An event from a stream we already gave up on.
            _ => return,
        }
        match event.type_ {
            EventType::Subscribed => self.on_subscribed(generation, event),
            EventType::Launch => match event.launch {
                Some(launch) => self.launch(now, vec![launch.task], TaskKind::Command),
                None => tracing::warn!("LAUNCH without `launch` ignored"),
            },
            EventType::LaunchGroup => match event.launch_group {
                Some(group) => self.launch(now, group.task_group.tasks, TaskKind::Group),
                None => tracing::warn!("LAUNCH_GROUP without `launch_group` ignored"),
            },
            EventType::Kill => match event.kill {
                Some(kill) => {
                    self.kill_requested(now, &kill.task_id, kill_grace(kill.kill_policy.as_ref()))
                }
                None => tracing::warn!("KILL without `kill` ignored"),
            },
            EventType::Acknowledged => match event.acknowledged {
                Some(ack) => self.acknowledged(&ack.task_id, &ack.uuid),
                None => tracing::warn!("ACKNOWLEDGED without `acknowledged` ignored"),
            },
            EventType::Shutdown => {
                tracing::info!("the agent asked us to shut down");
                self.begin_stop(now, ExitReason::Shutdown);
            }
            EventType::Message => {
                let size = event.message.map(|message| message.data.len()).unwrap_or(0);
                tracing::info!(
                    size,
                    "framework message received (the executor has no use for it)"
                );
            }
            EventType::Error => {
                let message = event.error.map(|error| error.message).unwrap_or_default();
                tracing::warn!(%message, "the agent reported an error");
            }
            EventType::Heartbeat | EventType::Unknown => {}
        }
        self.settle(now);
    }

    /// The SUBSCRIBE of `generation` could not be made (refused, connection
    /// error, no response).
    pub fn handle_subscribe_failed(&mut self, now: Instant, generation: u64, reason: &str) {
        if let Link::Subscribing {
            since,
            generation: g,
        } = self.link
        {
            if g == generation {
                tracing::debug!(%reason, backoff = ?self.backoff, "subscribe failed; retrying");
                self.retry_later(now, since);
            }
        }
        self.settle(now);
    }

    /// The event stream of `generation` ended.
    pub fn handle_stream_closed(&mut self, now: Instant, generation: u64) {
        match self.link {
            Link::Subscribed { generation: g } if g == generation => self.lost_agent(now),
            Link::Subscribing {
                since,
                generation: g,
            } if g == generation => self.retry_later(now, since),
            _ => {}
        }
        self.settle(now);
    }

    /// A POST for `generation` failed: the agent did not take an update.
    /// We re-subscribe, which hands it every pending update in order.
    pub fn handle_post_failed(&mut self, now: Instant, generation: u64) {
        if self.link == (Link::Subscribed { generation }) {
            self.actions.push_back(Action::CloseStream { generation });
            self.lost_agent(now);
        }
        self.settle(now);
    }

    // -- inputs from the tasks -----------------------------------------------

    /// The task's directory is there (with its URIs in it), or could not be made.
    pub fn handle_fetched(
        &mut self,
        now: Instant,
        task_id: &TaskId,
        result: Result<TaskDir, String>,
    ) {
        let context = self.config.context.clone();
        self.with_task(now, task_id, |task, _| {
            let result = result.and_then(|dir| {
                // Planned at its link; it runs where the link leads.
                let kind = task.machine.kind();
                let plan = plan_task_in(&task.info, kind, &context, &dir.path)?;
                task.plan = Some(plan);
                task.container = dir.container;
                Ok(())
            });
            task.machine.fetched(result)
        });
    }

    pub fn handle_spawned(&mut self, now: Instant, task_id: &TaskId, result: Result<u32, String>) {
        let killing = self.killing_state();
        self.with_task(now, task_id, |task, now| {
            task.machine.spawned(now, result, killing)
        });
    }

    pub fn handle_exited(
        &mut self,
        now: Instant,
        task_id: &TaskId,
        outcome: ExitOutcome,
        last_words: Option<&str>,
    ) {
        self.with_task(now, task_id, |task, _| {
            task.machine.exited_saying(outcome, last_words)
        });
    }

    pub fn handle_health(&mut self, now: Instant, task_id: &TaskId, result: ProbeResult) {
        let killing = self.killing_state();
        self.with_task(now, task_id, |task, now| {
            let grace = task.kill_grace();
            task.machine.health_result(now, result, grace, killing)
        });
    }

    pub fn handle_check(&mut self, now: Instant, task_id: &TaskId, report: ProbeReport) {
        self.with_task(now, task_id, |task, now| {
            task.machine.check_result(now, report)
        });
    }

    /// The executor process was asked to stop: behave as on SHUTDOWN.
    pub fn handle_terminate_signal(&mut self, now: Instant) {
        if !self.exited {
            self.begin_stop(now, ExitReason::Signalled);
            self.settle(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.exited {
            return;
        }
        for index in 0..self.tasks.len() {
            let effects = self.tasks[index].machine.handle_timeout(now);
            self.apply(now, index, effects);
        }
        match self.link {
            Link::Disconnected { since, .. } | Link::Subscribing { since, .. }
                if now >= since + self.config.recovery_timeout =>
            {
                if self.stopping.is_none() {
                    tracing::warn!(timeout = ?self.config.recovery_timeout, "the agent did not come back; killing all tasks");
                }
                self.begin_stop(now, ExitReason::RecoveryTimedOut);
            }
            _ => {}
        }
        if let Link::Disconnected { since, retry_at } = self.link {
            if now >= retry_at && !self.given_up_on_agent() {
                self.subscribe(since);
            }
        }
        if let Some(stopping) = self.stopping {
            if now >= stopping.hard_deadline {
                tracing::warn!("tasks did not all end in time; exiting anyway");
                for index in 0..self.tasks.len() {
                    if let Some(pid) = self.tasks[index].machine.pid() {
                        let task_id = self.tasks[index].info.task_id.clone();
                        self.actions.push_back(Action::Signal {
                            task_id,
                            pid,
                            signal: GroupSignal::Kill,
                        });
                    }
                }
                self.exit(stopping.reason);
                return;
            }
            if stopping.acks_until.is_some_and(|until| now >= until) {
                tracing::warn!(
                    unacknowledged = self.ledger.len(),
                    "exiting without every acknowledgement"
                );
                self.exit(stopping.reason);
                return;
            }
        }
        if self.linger_until.is_some_and(|until| now >= until) && self.is_done() {
            tracing::info!("every task ended and every update was acknowledged");
            self.exit(ExitReason::Completed);
            return;
        }
        self.settle(now);
    }

    // -- internals -------------------------------------------------------------

    /// Whether we stopped trying to reach the agent (and only wait for the
    /// tasks to die).
    fn given_up_on_agent(&self) -> bool {
        matches!(
            self.stopping,
            Some(Stopping {
                reason: ExitReason::RecoveryTimedOut | ExitReason::AgentLost,
                ..
            })
        )
    }

    fn killing_state(&self) -> bool {
        self.framework_info
            .as_ref()
            .is_some_and(|info| info.has_capability(CapabilityType::TaskKillingState))
    }

    fn subscribe(&mut self, since: Instant) {
        self.generation += 1;
        let generation = self.generation;
        for pending in &mut self.ledger {
            pending.delivered_in = Some(generation);
        }
        let subscribe = Subscribe {
            unacknowledged_tasks: self
                .tasks
                .iter()
                .filter(|task| !task.acknowledged_any)
                .map(|task| task.info.clone())
                .collect(),
            unacknowledged_updates: self
                .ledger
                .iter()
                .map(|pending| Update {
                    status: pending.status.clone(),
                })
                .collect(),
        };
        let call = Call::subscribe(
            self.config.framework_id.clone(),
            self.config.executor_id.clone(),
            subscribe,
        );
        self.link = Link::Subscribing { since, generation };
        self.actions.push_back(Action::Subscribe {
            generation,
            call: Box::new(call),
        });
    }

    fn retry_later(&mut self, now: Instant, since: Instant) {
        self.link = Link::Disconnected {
            since,
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
    }

    fn lost_agent(&mut self, now: Instant) {
        tracing::warn!("lost the agent; re-subscribing");
        self.backoff = self.config.backoff_initial;
        self.retry_later(now, now);
        if !self.config.checkpoint {
            self.begin_stop(now, ExitReason::AgentLost);
        }
    }

    fn on_subscribed(&mut self, generation: u64, event: Event) {
        if self.link == (Link::Subscribed { generation }) {
            return;
        }
        self.link = Link::Subscribed { generation };
        self.backoff = self.config.backoff_initial;
        if let Some(subscribed) = event.subscribed {
            if self.config.agent_id.is_none() {
                self.config.agent_id = subscribed.agent_info.id.clone();
            }
            self.framework_info = Some(subscribed.framework_info);
            self.container_id = subscribed.container_id;
        }
        tracing::info!(
            generation,
            pending = self.ledger.len(),
            "subscribed to the agent"
        );
        // Updates made while the SUBSCRIBE was in flight were not in it.
        for index in 0..self.ledger.len() {
            if self.ledger[index].delivered_in != Some(generation) {
                self.post(index, generation);
            }
        }
    }

    fn post(&mut self, ledger_index: usize, generation: u64) {
        let pending = &mut self.ledger[ledger_index];
        pending.delivered_in = Some(generation);
        let call = Call::update(
            self.config.framework_id.clone(),
            self.config.executor_id.clone(),
            pending.status.clone(),
        );
        self.actions.push_back(Action::Post {
            generation,
            call: Box::new(call),
        });
    }

    fn launch(&mut self, now: Instant, infos: Vec<TaskInfo>, kind: TaskKind) {
        let group = match kind {
            TaskKind::Group => {
                self.next_group += 1;
                Some(self.next_group)
            }
            TaskKind::Command => None,
        };
        for info in infos {
            let task_id = info.task_id.clone();
            if self.task_index(&task_id).is_some() {
                // A re-delivered launch (say, after an agent restart): the
                // task is already ours.
                tracing::info!(task = %task_id, "duplicate launch ignored");
                continue;
            }
            let mismatch = match (self.kind, kind) {
                (Some(TaskKind::Command), _) => Some("a command executor runs exactly one task"),
                (Some(TaskKind::Group), TaskKind::Command) => {
                    Some("a default executor only runs tasks from LAUNCH_GROUP")
                }
                _ => None,
            };
            self.kind.get_or_insert(kind);
            let plan = match mismatch {
                Some(reason) => Err(reason.to_owned()),
                None => plan_task(&info, kind, &self.config.context),
            };
            let (machine, plan, effects) = match plan {
                Ok(plan) => {
                    let machine = TaskMachine::new(
                        kind,
                        plan.health.as_ref().map(|health| health.policy.clone()),
                        plan.check.as_ref().map(|check| check.kind),
                    );
                    (machine, Some(plan), Vec::new())
                }
                Err(message) => {
                    tracing::warn!(task = %task_id, %message, "task refused");
                    let mut machine = TaskMachine::new(kind, None, None);
                    let effects = machine.reject(message);
                    (machine, None, effects)
                }
            };
            let fetch = plan.as_ref().map(|plan| Action::Fetch {
                task_id: task_id.clone(),
                kind,
                uris: plan.uris.clone(),
            });
            tracing::info!(task = %task_id, "launching");
            self.tasks.push(TaskEntry {
                info,
                plan,
                machine,
                group,
                container: None,
                acknowledged_any: false,
            });
            let index = self.tasks.len() - 1;
            self.apply(now, index, effects);
            if let Some(fetch) = fetch {
                if self.stopping.is_some() {
                    // Too late to start anything.
                    let effects = self.tasks[index].machine.kill(
                        now,
                        KillCause::Shutdown,
                        Duration::ZERO,
                        false,
                    );
                    self.apply(now, index, effects);
                } else {
                    self.actions.push_back(fetch);
                }
            }
        }
    }

    fn kill_requested(&mut self, now: Instant, task_id: &TaskId, override_grace: Option<Duration>) {
        let Some(index) = self.task_index(task_id) else {
            tracing::warn!(task = %task_id, "KILL for an unknown task ignored");
            return;
        };
        let killing = self.killing_state();
        let task = &mut self.tasks[index];
        // Mesos: the KILL's own policy overrides the task's.
        let grace = override_grace.unwrap_or_else(|| task.kill_grace());
        tracing::info!(task = %task_id, ?grace, "killing on request");
        let effects = task.machine.kill(now, KillCause::Requested, grace, killing);
        self.apply(now, index, effects);
    }

    fn acknowledged(&mut self, task_id: &TaskId, uuid: &Bytes) {
        let before = self.ledger.len();
        self.ledger.retain(|pending| {
            !(pending.status.task_id == *task_id && pending.status.uuid.as_ref() == Some(uuid))
        });
        if self.ledger.len() == before {
            tracing::debug!(task = %task_id, "acknowledgement for an update we no longer hold");
        }
        if let Some(index) = self.task_index(task_id) {
            self.tasks[index].acknowledged_any = true;
        }
    }

    fn begin_stop(&mut self, now: Instant, reason: ExitReason) {
        if let Some(stopping) = &mut self.stopping {
            // Losing the agent while shutting down means no more acks will
            // come; remember that so we do not wait for them.
            if matches!(reason, ExitReason::RecoveryTimedOut | ExitReason::AgentLost) {
                stopping.reason = reason;
            }
            return;
        }
        self.stopping = Some(Stopping {
            reason,
            hard_deadline: now + self.config.shutdown_grace + STOP_MARGIN,
            acks_until: None,
        });
        let cause = match reason {
            ExitReason::RecoveryTimedOut | ExitReason::AgentLost => KillCause::RecoveryTimeout,
            _ => KillCause::Shutdown,
        };
        let killing = self.killing_state();
        for index in 0..self.tasks.len() {
            let task = &mut self.tasks[index];
            let grace = task.kill_grace().min(self.config.shutdown_grace);
            let effects = task.machine.kill(now, cause.clone(), grace, killing);
            self.apply(now, index, effects);
        }
    }

    fn exit(&mut self, reason: ExitReason) {
        if !self.exited {
            self.exited = true;
            self.actions.push_back(Action::Exit(reason));
        }
    }

    /// All tasks ended and the agent has acknowledged everything.
    fn is_done(&self) -> bool {
        !self.tasks.is_empty()
            && self.tasks.iter().all(|task| task.machine.is_terminal())
            && self.ledger.is_empty()
    }

    /// Re-evaluates the exit conditions after any input.
    fn settle(&mut self, now: Instant) {
        if self.exited {
            return;
        }
        if let Some(stopping) = &mut self.stopping {
            let all_ended = self.tasks.iter().all(|task| task.machine.is_terminal());
            if !all_ended {
                return;
            }
            let agent_gone = matches!(
                stopping.reason,
                ExitReason::RecoveryTimedOut | ExitReason::AgentLost
            );
            if agent_gone || self.ledger.is_empty() {
                let reason = stopping.reason;
                self.exit(reason);
            } else if stopping.acks_until.is_none() {
                stopping.acks_until = Some(now + self.config.shutdown_ack_wait);
            }
            return;
        }
        if self.is_done() {
            self.linger_until.get_or_insert(now + self.config.linger);
        } else {
            self.linger_until = None;
        }
    }

    fn task_index(&self, task_id: &TaskId) -> Option<usize> {
        self.tasks
            .iter()
            .position(|task| task.info.task_id == *task_id)
    }

    fn with_task(
        &mut self,
        now: Instant,
        task_id: &TaskId,
        step: impl FnOnce(&mut TaskEntry, Instant) -> Vec<TaskEffect>,
    ) {
        if self.exited {
            return;
        }
        let Some(index) = self.task_index(task_id) else {
            tracing::warn!(task = %task_id, "report for an unknown task ignored");
            return;
        };
        let effects = step(&mut self.tasks[index], now);
        self.apply(now, index, effects);
        self.settle(now);
    }

    /// Turns a task's effects into actions and updates.
    fn apply(&mut self, now: Instant, index: usize, effects: Vec<TaskEffect>) {
        let mut ended_badly = false;
        for effect in effects {
            let task_id = self.tasks[index].info.task_id.clone();
            let action = match effect {
                TaskEffect::Send(draft) => {
                    if draft.state.is_terminal() && draft.state != TaskState::Finished {
                        ended_badly = true;
                    }
                    tracing::info!(task = %task_id, state = ?draft.state, detail = draft.message.as_deref().unwrap_or(""), "status update");
                    let container = self.container_status(index, draft.state);
                    self.send(task_id, draft, container);
                    continue;
                }
                TaskEffect::CancelFetch => Action::CancelFetch { task_id },
                TaskEffect::Spawn => {
                    let Some(plan) = &self.tasks[index].plan else {
                        continue;
                    };
                    Action::Spawn {
                        task_id,
                        launch: Box::new(plan.launch.clone()),
                    }
                }
                TaskEffect::StartProbes => {
                    let Some(plan) = &self.tasks[index].plan else {
                        continue;
                    };
                    if plan.health.is_none() && plan.check.is_none() {
                        continue;
                    }
                    Action::StartProbes {
                        task_id,
                        health: plan
                            .health
                            .as_ref()
                            .map(|h| Box::new((h.target.clone(), h.schedule))),
                        check: plan
                            .check
                            .as_ref()
                            .map(|c| Box::new((c.target.clone(), c.schedule))),
                    }
                }
                TaskEffect::StopProbes => Action::StopProbes { task_id },
                TaskEffect::Signal { pid, signal } => Action::Signal {
                    task_id,
                    pid,
                    signal,
                },
            };
            self.actions.push_back(action);
        }
        if ended_badly && self.stopping.is_none() {
            self.kill_group_of(now, index);
        }
    }

    /// Pod semantics of the Mesos default executor: a task of a task group
    /// that ends unsuccessfully takes the rest of its group with it. Tasks
    /// launched in other LAUNCH_GROUPs on this executor are not touched.
    fn kill_group_of(&mut self, now: Instant, index: usize) {
        let Some(group) = self.tasks[index].group else {
            return;
        };
        let ended = self.tasks[index].info.task_id.as_str().to_owned();
        let killing = self.killing_state();
        for other in 0..self.tasks.len() {
            let sibling = &mut self.tasks[other];
            if other == index || sibling.group != Some(group) || sibling.machine.is_terminal() {
                continue;
            }
            tracing::info!(task = %sibling.info.task_id, ended = %ended, "killing the rest of the task group");
            let grace = sibling.kill_grace();
            let cause = KillCause::GroupMemberEnded {
                task_id: ended.clone(),
            };
            let effects = sibling.machine.kill(now, cause, grace, killing);
            self.apply(now, other, effects);
        }
    }

    /// What the executor says of the container an update is about, as Mesos' default
    /// executor does: a task of a group names its own container, nested in the executor's, and
    /// while it runs, its process (the agent adds the network). A command task names the
    /// executor's container; the agent adds the rest.
    fn container_status(&self, index: usize, state: TaskState) -> Option<ContainerStatus> {
        let executor = self.container_id.clone()?;
        let task = &self.tasks[index];
        let container_id = match &task.container {
            Some(nested) => ContainerId::nested(executor, nested.clone()),
            None => executor,
        };
        let executor_pid = task
            .container
            .as_ref()
            .filter(|_| !state.is_terminal())
            .and_then(|_| task.machine.pid());
        Some(ContainerStatus {
            container_id: Some(container_id),
            executor_pid,
            ..Default::default()
        })
    }

    fn send(&mut self, task_id: TaskId, draft: StatusDraft, container: Option<ContainerStatus>) {
        let status = TaskStatus {
            task_id,
            state: draft.state,
            message: draft.message,
            source: Some(Source::Executor),
            reason: draft.reason,
            agent_id: self.config.agent_id.clone(),
            executor_id: Some(self.config.executor_id.clone()),
            timestamp: Some((self.config.wall_clock)()),
            uuid: Some(Bytes::new(uuid::Uuid::new_v4().into_bytes())),
            healthy: draft.healthy,
            check_status: draft.check_status,
            container_status: container,
            ..Default::default()
        };
        self.ledger.push(PendingUpdate {
            status,
            delivered_in: None,
        });
        if let Link::Subscribed { generation } = self.link {
            self.post(self.ledger.len() - 1, generation);
        }
    }
}

#[cfg(test)]
mod tests;
