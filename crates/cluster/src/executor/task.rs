//! The life of one task, as a pure state machine.
//!
//! ```text
//! Fetching ──fetched──► Starting ──spawned──► Running ──exited──► Terminal
//!    │ fetch failed        │ spawn failed        │ kill                ▲
//!    ▼                     ▼                     ▼                     │
//!  Terminal(FAILED)    Terminal(FAILED)      Killing ──exited──────────┘
//! ```
//!
//! It decides which status update comes next and which signal to send; the
//! executor around it spawns, signals and talks HTTP. Time comes in as an
//! argument so tests can drive it.

use std::time::{Duration, Instant};

use cairn_proto::{CheckStatusInfo, CheckType, Reason, TaskState};

use super::health::{CheckTracker, HealthPolicy, HealthTracker};
use super::probe::{ProbeReport, ProbeResult};
use super::process::{ExitOutcome, GroupSignal};

/// Whether the task came in a LAUNCH (the command executor) or a
/// LAUNCH_GROUP (the default executor): Mesos words their failures
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Command,
    Group,
}

/// Why the executor is killing a task. It decides the message of the
/// terminal update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillCause {
    /// The scheduler asked (a KILL event).
    Requested,
    /// The task failed its health check this many times in a row.
    HealthCheck { failures: u32 },
    /// Another task of its task group ended unsuccessfully.
    GroupMemberEnded { task_id: String },
    /// The agent asked the executor to shut down, or the executor was
    /// signalled.
    Shutdown,
    /// The agent stayed unreachable for longer than the recovery timeout.
    RecoveryTimeout,
}

impl KillCause {
    fn describe(&self) -> String {
        match self {
            KillCause::Requested => "killed by the scheduler".to_owned(),
            KillCause::HealthCheck { failures } => {
                format!("Task killed because it failed its health check {failures} times")
            }
            KillCause::GroupMemberEnded { task_id } => {
                format!("killed because task '{task_id}' of its task group ended unsuccessfully")
            }
            KillCause::Shutdown => "killed because the executor is shutting down".to_owned(),
            KillCause::RecoveryTimeout => {
                "killed because the agent did not come back within the recovery timeout".to_owned()
            }
        }
    }
}

/// A status update, before the executor stamps ids, uuid and time on it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusDraft {
    pub state: TaskState,
    pub message: Option<String>,
    pub reason: Option<Reason>,
    pub healthy: Option<bool>,
    pub check_status: Option<CheckStatusInfo>,
}

impl StatusDraft {
    fn new(state: TaskState) -> Self {
        StatusDraft {
            state,
            message: None,
            reason: None,
            healthy: None,
            check_status: None,
        }
    }

    fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    fn reason(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// What the executor must do for a task, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEffect {
    /// Send this status update.
    Send(StatusDraft),
    /// Stop fetching: the task will not start.
    CancelFetch,
    /// Start the task's process now.
    Spawn,
    /// Start the task's health check and check probes.
    StartProbes,
    /// Stop them.
    StopProbes,
    /// Signal the task's process group.
    Signal { pid: u32, signal: GroupSignal },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Fetching,
    /// STARTING is sent and the spawn requested; the pid is not known yet.
    Starting,
    Running {
        pid: u32,
    },
    /// SIGTERM is sent; SIGKILL follows at `escalate_at` (`None` once sent).
    Killing {
        pid: u32,
        escalate_at: Option<Instant>,
    },
    Terminal(TaskState),
}

#[derive(Debug, Clone)]
pub struct TaskMachine {
    kind: TaskKind,
    phase: Phase,
    /// A kill that arrived while the spawn was in flight.
    pending_kill: Option<(KillCause, Duration)>,
    kill_cause: Option<KillCause>,
    health_policy: Option<HealthPolicy>,
    health: Option<HealthTracker>,
    check: Option<CheckTracker>,
}

impl TaskMachine {
    /// A task about to be fetched. `check` is the type of its `CheckInfo`.
    pub fn new(kind: TaskKind, health: Option<HealthPolicy>, check: Option<CheckType>) -> Self {
        TaskMachine {
            kind,
            phase: Phase::Fetching,
            pending_kill: None,
            kill_cause: None,
            health_policy: health,
            health: None,
            check: check.map(CheckTracker::new),
        }
    }

    /// Whether it came in a LAUNCH or a LAUNCH_GROUP.
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// The task's terminal state, once it has one.
    pub fn terminal_state(&self) -> Option<TaskState> {
        match self.phase {
            Phase::Terminal(state) => Some(state),
            _ => None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal_state().is_some()
    }

    /// The pid of the task's process (its process group id) while it runs.
    pub fn pid(&self) -> Option<u32> {
        match self.phase {
            Phase::Running { pid } | Phase::Killing { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Killing { escalate_at, .. } => escalate_at,
            _ => None,
        }
    }

    /// The task cannot run as described: it ends at once in TASK_ERROR,
    /// which tells the scheduler that retrying the same task is pointless.
    pub fn reject(&mut self, message: String) -> Vec<TaskEffect> {
        if self.phase != Phase::Fetching {
            return Vec::new();
        }
        self.phase = Phase::Terminal(TaskState::Error);
        vec![TaskEffect::Send(
            StatusDraft::new(TaskState::Error)
                .message(message)
                .reason(Reason::TaskInvalid),
        )]
    }

    /// The URIs are in the sandbox (or could not be fetched).
    pub fn fetched(&mut self, result: Result<(), String>) -> Vec<TaskEffect> {
        if self.phase != Phase::Fetching {
            return Vec::new();
        }
        match result {
            Ok(()) => {
                self.phase = Phase::Starting;
                vec![
                    TaskEffect::Send(self.fresh(TaskState::Starting)),
                    TaskEffect::Spawn,
                ]
            }
            Err(message) => self.fail_launch(message),
        }
    }

    /// The process started (or could not).
    pub fn spawned(
        &mut self,
        now: Instant,
        result: Result<u32, String>,
        killing_state: bool,
    ) -> Vec<TaskEffect> {
        if self.phase != Phase::Starting {
            return Vec::new();
        }
        let pid = match result {
            Ok(pid) => pid,
            Err(message) => return self.fail_launch(message),
        };
        self.phase = Phase::Running { pid };
        self.health = self
            .health_policy
            .clone()
            .map(|policy| HealthTracker::new(policy, now));
        if let Some((cause, grace)) = self.pending_kill.take() {
            // Killed while it was being spawned: it never counts as running.
            return self.kill(now, cause, grace, killing_state);
        }
        vec![
            TaskEffect::Send(self.running_update()),
            TaskEffect::StartProbes,
        ]
    }

    /// Starts killing the task: SIGTERM to its group now, SIGKILL after
    /// `grace`. A task not yet started just ends as TASK_KILLED. A second
    /// kill may only shorten the grace period.
    pub fn kill(
        &mut self,
        now: Instant,
        cause: KillCause,
        grace: Duration,
        killing_state: bool,
    ) -> Vec<TaskEffect> {
        match self.phase {
            Phase::Fetching => {
                let message = format!("Task {} before it started", cause.describe());
                self.kill_cause = Some(cause);
                self.phase = Phase::Terminal(TaskState::Killed);
                vec![
                    TaskEffect::CancelFetch,
                    TaskEffect::Send(self.fresh(TaskState::Killed).message(message)),
                ]
            }
            Phase::Starting => {
                if self.pending_kill.is_none() {
                    self.pending_kill = Some((cause, grace));
                }
                Vec::new()
            }
            Phase::Running { pid } => {
                self.kill_cause = Some(cause);
                let mut effects = Vec::new();
                if killing_state {
                    // A fresh status, as Mesos' executors make it: no health, the check's
                    // type without a result.
                    effects.push(TaskEffect::Send(self.fresh(TaskState::Killing)));
                }
                // A task being killed is no longer judged: a failing probe
                // must not start a second kill.
                effects.push(TaskEffect::StopProbes);
                if grace.is_zero() {
                    self.phase = Phase::Killing {
                        pid,
                        escalate_at: None,
                    };
                    effects.push(TaskEffect::Signal {
                        pid,
                        signal: GroupSignal::Kill,
                    });
                } else {
                    self.phase = Phase::Killing {
                        pid,
                        escalate_at: Some(now + grace),
                    };
                    effects.push(TaskEffect::Signal {
                        pid,
                        signal: GroupSignal::Terminate,
                    });
                }
                effects
            }
            Phase::Killing {
                pid,
                escalate_at: Some(at),
            } => {
                let sooner = now + grace;
                if sooner >= at {
                    return Vec::new();
                }
                if grace.is_zero() {
                    self.phase = Phase::Killing {
                        pid,
                        escalate_at: None,
                    };
                    vec![TaskEffect::Signal {
                        pid,
                        signal: GroupSignal::Kill,
                    }]
                } else {
                    self.phase = Phase::Killing {
                        pid,
                        escalate_at: Some(sooner),
                    };
                    Vec::new()
                }
            }
            Phase::Killing {
                escalate_at: None, ..
            }
            | Phase::Terminal(_) => Vec::new(),
        }
    }

    /// The grace period is over: SIGKILL.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<TaskEffect> {
        match self.phase {
            Phase::Killing {
                pid,
                escalate_at: Some(at),
            } if now >= at => {
                self.phase = Phase::Killing {
                    pid,
                    escalate_at: None,
                };
                vec![TaskEffect::Signal {
                    pid,
                    signal: GroupSignal::Kill,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// The task's main process ended.
    pub fn exited(&mut self, outcome: ExitOutcome) -> Vec<TaskEffect> {
        self.exited_saying(outcome, None)
    }

    /// The task's main process ended; `last_words` are the last lines it wrote to stderr (a few,
    /// newline-separated), which a failure's message ends with: the first thing an operator
    /// needs, in the update every scheduler shows, rather than in a file in the sandbox.
    pub fn exited_saying(
        &mut self,
        outcome: ExitOutcome,
        last_words: Option<&str>,
    ) -> Vec<TaskEffect> {
        let pid = match self.phase {
            Phase::Running { pid } | Phase::Killing { pid, .. } => pid,
            _ => return Vec::new(),
        };
        let update = match &self.kill_cause {
            Some(KillCause::HealthCheck { failures }) => StatusDraft {
                healthy: Some(false),
                ..self.fresh(TaskState::Killed).message(
                    KillCause::HealthCheck {
                        failures: *failures,
                    }
                    .describe(),
                )
            },
            Some(cause) => self.fresh(TaskState::Killed).message(format!(
                "{}: {}",
                outcome.describe(),
                cause.describe()
            )),
            None if outcome.succeeded() => {
                self.fresh(TaskState::Finished).message(outcome.describe())
            }
            None => {
                let message = match last_words {
                    Some(words) => format!(
                        "{}{}{words}",
                        outcome.describe(),
                        cairn_proto::executor::FAILURE_STDERR_SEPARATOR
                    ),
                    None => outcome.describe(),
                };
                let failed = self.fresh(TaskState::Failed).message(message);
                match self.kind {
                    TaskKind::Command => failed.reason(Reason::CommandExecutorFailed),
                    TaskKind::Group => failed,
                }
            }
        };
        self.phase = Phase::Terminal(update.state);
        vec![
            TaskEffect::StopProbes,
            // Whatever the task left behind in its group goes with it, as
            // when Mesos destroys a container. The group id outlives the
            // reaped leader while members remain, and with none left the
            // signal finds nothing (pids are handed out in sequence, so the
            // id is not reused within the moment this takes).
            TaskEffect::Signal {
                pid,
                signal: GroupSignal::Kill,
            },
            TaskEffect::Send(update),
        ]
    }

    /// A health check result arrived.
    pub fn health_result(
        &mut self,
        now: Instant,
        result: ProbeResult,
        grace: Duration,
        killing_state: bool,
    ) -> Vec<TaskEffect> {
        if !matches!(self.phase, Phase::Running { .. }) {
            return Vec::new();
        }
        let Some(health) = self.health.as_mut() else {
            return Vec::new();
        };
        let verdict = health.observe(now, result);
        let mut effects = Vec::new();
        if verdict.report.is_some() {
            let update = self
                .running_update()
                .reason(Reason::TaskHealthCheckStatusUpdated);
            effects.push(TaskEffect::Send(update));
        }
        if let Some(failures) = verdict.kill_after_failures {
            effects.extend(self.kill(
                now,
                KillCause::HealthCheck { failures },
                grace,
                killing_state,
            ));
        }
        effects
    }

    /// A check result arrived.
    pub fn check_result(&mut self, now: Instant, report: ProbeReport) -> Vec<TaskEffect> {
        if !matches!(self.phase, Phase::Running { .. }) {
            return Vec::new();
        }
        let Some(check) = self.check.as_mut() else {
            return Vec::new();
        };
        if check.observe(now, report).is_none() {
            return Vec::new();
        }
        vec![TaskEffect::Send(
            self.running_update().reason(Reason::TaskCheckStatusUpdated),
        )]
    }

    /// TASK_RUNNING with the latest health and check status, so that no
    /// update erases what an earlier one said (Mesos does the same), and the
    /// check's words for its result as the message (Mesos sends none).
    fn running_update(&self) -> StatusDraft {
        StatusDraft {
            healthy: self.health.as_ref().and_then(HealthTracker::reported),
            check_status: self.check.as_ref().map(CheckTracker::current),
            message: self
                .check
                .as_ref()
                .and_then(|c| c.said().map(str::to_owned)),
            ..StatusDraft::new(TaskState::Running)
        }
    }

    /// A status made from scratch rather than from the last one: a checked task's carries the
    /// check's type with no result (Mesos' executors set `check_status` on every status of a
    /// checked task), and none carries health.
    fn fresh(&self, state: TaskState) -> StatusDraft {
        StatusDraft {
            check_status: self.check.as_ref().map(CheckTracker::empty),
            ..StatusDraft::new(state)
        }
    }

    fn fail_launch(&mut self, message: String) -> Vec<TaskEffect> {
        self.phase = Phase::Terminal(TaskState::Failed);
        vec![TaskEffect::Send(
            self.fresh(TaskState::Failed)
                .message(message)
                .reason(Reason::ContainerLaunchFailed),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(3);

    fn sent_states(effects: &[TaskEffect]) -> Vec<TaskState> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                TaskEffect::Send(draft) => Some(draft.state),
                _ => None,
            })
            .collect()
    }

    fn only_update(effects: &[TaskEffect]) -> &StatusDraft {
        let updates: Vec<_> = effects
            .iter()
            .filter_map(|effect| match effect {
                TaskEffect::Send(draft) => Some(draft),
                _ => None,
            })
            .collect();
        assert_eq!(updates.len(), 1, "{effects:?}");
        updates[0]
    }

    fn running(
        kind: TaskKind,
        health: Option<HealthPolicy>,
        check: Option<CheckType>,
    ) -> (TaskMachine, Instant) {
        let now = Instant::now();
        let mut task = TaskMachine::new(kind, health, check);
        task.fetched(Ok(()));
        task.spawned(now, Ok(4242), false);
        (task, now)
    }

    #[test]
    fn a_fetched_task_sends_starting_then_spawns_then_sends_running() {
        let now = Instant::now();
        let mut task = TaskMachine::new(TaskKind::Group, None, None);
        let effects = task.fetched(Ok(()));
        assert_eq!(sent_states(&effects), vec![TaskState::Starting]);
        assert_eq!(effects.last(), Some(&TaskEffect::Spawn));
        let effects = task.spawned(now, Ok(100), false);
        assert_eq!(sent_states(&effects), vec![TaskState::Running]);
        assert!(effects.contains(&TaskEffect::StartProbes));
        assert_eq!(task.pid(), Some(100));
    }

    #[test]
    fn a_fetch_failure_fails_the_task_as_a_launch_failure() {
        let mut task = TaskMachine::new(TaskKind::Group, None, None);
        let effects = task.fetched(Err("Failed to fetch 'x': gone".to_owned()));
        let update = only_update(&effects);
        assert_eq!(update.state, TaskState::Failed);
        assert_eq!(update.reason, Some(Reason::ContainerLaunchFailed));
        assert_eq!(update.message.as_deref(), Some("Failed to fetch 'x': gone"));
        assert_eq!(task.terminal_state(), Some(TaskState::Failed));
    }

    #[test]
    fn exit_zero_finishes_and_sweeps_the_process_group() {
        let (mut task, _) = running(TaskKind::Group, None, None);
        let effects = task.exited(ExitOutcome::Code(0));
        assert!(effects.contains(&TaskEffect::Signal {
            pid: 4242,
            signal: GroupSignal::Kill
        }));
        let update = only_update(&effects);
        assert_eq!(update.state, TaskState::Finished);
        assert_eq!(
            update.message.as_deref(),
            Some("Command exited with status 0")
        );
    }

    #[test]
    fn a_non_zero_exit_fails_with_the_command_executor_reason_only_for_command_tasks() {
        let (mut command, _) = running(TaskKind::Command, None, None);
        let update = only_update(&command.exited(ExitOutcome::Code(2))).clone();
        assert_eq!(update.state, TaskState::Failed);
        assert_eq!(update.reason, Some(Reason::CommandExecutorFailed));
        assert_eq!(
            update.message.as_deref(),
            Some("Command exited with status 2")
        );

        let (mut grouped, _) = running(TaskKind::Group, None, None);
        let update = only_update(&grouped.exited(ExitOutcome::Code(2))).clone();
        assert_eq!(update.state, TaskState::Failed);
        assert_eq!(update.reason, None);
    }

    #[test]
    fn a_signal_we_did_not_send_is_a_failure() {
        let (mut task, _) = running(TaskKind::Group, None, None);
        let update = only_update(&task.exited(ExitOutcome::Signal(libc::SIGSEGV))).clone();
        assert_eq!(update.state, TaskState::Failed);
        assert_eq!(
            update.message.as_deref(),
            Some("Command terminated with signal Segmentation fault")
        );
    }

    #[test]
    fn a_kill_sends_sigterm_then_sigkill_after_the_grace_period() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        let effects = task.kill(now, KillCause::Requested, GRACE, false);
        assert!(sent_states(&effects).is_empty());
        assert!(effects.contains(&TaskEffect::Signal {
            pid: 4242,
            signal: GroupSignal::Terminate
        }));
        assert_eq!(task.poll_timeout(), Some(now + GRACE));
        assert!(task.handle_timeout(now + Duration::from_secs(1)).is_empty());
        assert_eq!(
            task.handle_timeout(now + GRACE),
            vec![TaskEffect::Signal {
                pid: 4242,
                signal: GroupSignal::Kill
            }]
        );
        assert_eq!(task.poll_timeout(), None);
        let update = only_update(&task.exited(ExitOutcome::Signal(libc::SIGKILL))).clone();
        assert_eq!(update.state, TaskState::Killed);
    }

    #[test]
    fn a_task_that_exits_zero_after_sigterm_is_still_killed() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        task.kill(now, KillCause::Requested, GRACE, false);
        let update = only_update(&task.exited(ExitOutcome::Code(0))).clone();
        assert_eq!(update.state, TaskState::Killed);
    }

    #[test]
    fn killing_state_frameworks_see_task_killing_first() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        let effects = task.kill(now, KillCause::Requested, GRACE, true);
        assert_eq!(sent_states(&effects), vec![TaskState::Killing]);
    }

    #[test]
    fn a_zero_grace_period_goes_straight_to_sigkill() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        let effects = task.kill(now, KillCause::Requested, Duration::ZERO, false);
        assert!(effects.contains(&TaskEffect::Signal {
            pid: 4242,
            signal: GroupSignal::Kill
        }));
        assert_eq!(task.poll_timeout(), None);
    }

    #[test]
    fn a_second_kill_can_shorten_the_grace_period_but_not_extend_it() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        task.kill(now, KillCause::Requested, Duration::from_secs(30), false);
        assert!(task
            .kill(now, KillCause::Shutdown, Duration::from_secs(60), false)
            .is_empty());
        assert_eq!(task.poll_timeout(), Some(now + Duration::from_secs(30)));
        task.kill(now, KillCause::Shutdown, Duration::from_secs(5), false);
        assert_eq!(task.poll_timeout(), Some(now + Duration::from_secs(5)));
    }

    #[test]
    fn a_task_killed_while_fetching_never_starts() {
        let now = Instant::now();
        let mut task = TaskMachine::new(TaskKind::Group, None, None);
        let effects = task.kill(now, KillCause::Requested, GRACE, true);
        assert_eq!(effects.first(), Some(&TaskEffect::CancelFetch));
        assert_eq!(only_update(&effects).state, TaskState::Killed);
        assert!(task.fetched(Ok(())).is_empty());
    }

    #[test]
    fn a_task_killed_while_spawning_is_signalled_as_soon_as_it_has_a_pid() {
        let now = Instant::now();
        let mut task = TaskMachine::new(TaskKind::Group, None, None);
        task.fetched(Ok(()));
        assert!(task
            .kill(now, KillCause::Requested, GRACE, false)
            .is_empty());
        let effects = task.spawned(now, Ok(77), false);
        assert!(sent_states(&effects).is_empty());
        assert!(effects.contains(&TaskEffect::Signal {
            pid: 77,
            signal: GroupSignal::Terminate
        }));
    }

    fn health_policy(max_failures: u32) -> HealthPolicy {
        HealthPolicy {
            grace_period: Duration::ZERO,
            max_consecutive_failures: max_failures,
            healthy_statuses: Vec::new(),
        }
    }

    const PASS: ProbeResult = ProbeResult::Command { exit_code: Some(0) };
    const FAIL: ProbeResult = ProbeResult::Command { exit_code: Some(1) };

    #[test]
    fn health_changes_are_reported_as_running_updates_with_the_health_reason() {
        let (mut task, now) = running(TaskKind::Group, Some(health_policy(3)), None);
        let update = only_update(&task.health_result(now, PASS, GRACE, false)).clone();
        assert_eq!(update.state, TaskState::Running);
        assert_eq!(update.healthy, Some(true));
        assert_eq!(update.reason, Some(Reason::TaskHealthCheckStatusUpdated));
        assert!(task.health_result(now, PASS, GRACE, false).is_empty());
        let update = only_update(&task.health_result(now, FAIL, GRACE, false)).clone();
        assert_eq!(update.healthy, Some(false));
    }

    #[test]
    fn too_many_health_failures_kill_the_task_and_it_ends_killed_and_unhealthy() {
        let (mut task, now) = running(TaskKind::Group, Some(health_policy(3)), None);
        task.health_result(now, FAIL, GRACE, false);
        task.health_result(now, FAIL, GRACE, false);
        let effects = task.health_result(now, FAIL, GRACE, false);
        assert!(effects.contains(&TaskEffect::Signal {
            pid: 4242,
            signal: GroupSignal::Terminate
        }));
        // Probes stop: further results change nothing.
        assert!(task.health_result(now, FAIL, GRACE, false).is_empty());
        let update = only_update(&task.exited(ExitOutcome::Signal(libc::SIGTERM))).clone();
        assert_eq!(update.state, TaskState::Killed);
        assert_eq!(update.healthy, Some(false));
        assert_eq!(
            update.message.as_deref(),
            Some("Task killed because it failed its health check 3 times")
        );
    }

    #[test]
    fn the_first_running_update_of_a_checked_task_carries_an_empty_check_status() {
        let now = Instant::now();
        let mut task = TaskMachine::new(TaskKind::Group, None, Some(CheckType::Command));
        task.fetched(Ok(()));
        let effects = task.spawned(now, Ok(5), false);
        let status = only_update(&effects).check_status.clone().unwrap();
        assert_eq!(status.type_, Some(CheckType::Command));
        assert_eq!(status.command.unwrap().exit_code, None);
    }

    fn report(result: ProbeResult, said: &str) -> ProbeReport {
        ProbeReport {
            result,
            said: said.to_owned(),
        }
    }

    #[test]
    fn check_results_are_reported_only_when_they_change() {
        let (mut task, now) = running(TaskKind::Group, None, Some(CheckType::Command));
        let update = only_update(&task.check_result(now, report(FAIL, "exit 1"))).clone();
        assert_eq!(update.reason, Some(Reason::TaskCheckStatusUpdated));
        assert_eq!(
            update.check_status.unwrap().command.unwrap().exit_code,
            Some(1)
        );
        assert!(task.check_result(now, report(FAIL, "exit 1")).is_empty());
        let update = only_update(&task.check_result(now, report(PASS, "exit 0"))).clone();
        assert_eq!(
            update.check_status.unwrap().command.unwrap().exit_code,
            Some(0)
        );
    }

    #[test]
    fn a_check_update_carries_what_the_check_said_and_so_does_a_later_health_update() {
        let (mut task, now) = running(
            TaskKind::Group,
            Some(health_policy(3)),
            Some(CheckType::Command),
        );
        let effects = task.check_result(now, report(FAIL, "exit 1: Mode: looking"));
        let update = only_update(&effects).clone();
        assert_eq!(update.message.as_deref(), Some("exit 1: Mode: looking"));
        let health = task.health_result(now, PASS, GRACE, false);
        assert_eq!(
            only_update(&health).message.as_deref(),
            Some("exit 1: Mode: looking"),
            "a health update does not erase why the task is not ready"
        );
    }

    #[test]
    fn a_check_update_keeps_the_last_reported_health() {
        let (mut task, now) = running(
            TaskKind::Group,
            Some(health_policy(3)),
            Some(CheckType::Command),
        );
        task.health_result(now, PASS, GRACE, false);
        let update = only_update(&task.check_result(now, report(PASS, "exit 0"))).clone();
        assert_eq!(update.healthy, Some(true));
    }

    #[test]
    fn killing_is_a_fresh_status_without_health_and_with_the_checks_type_only() {
        let (mut task, now) = running(
            TaskKind::Group,
            Some(health_policy(3)),
            Some(CheckType::Command),
        );
        task.health_result(now, PASS, GRACE, true);
        task.check_result(now, report(PASS, "exit 0"));
        let effects = task.kill(now, KillCause::Requested, GRACE, true);
        let killing = only_update(&effects).clone();
        assert_eq!(killing.state, TaskState::Killing);
        assert_eq!(killing.healthy, None);
        let check = killing.check_status.unwrap();
        assert_eq!(check.type_, Some(CheckType::Command));
        assert_eq!(check.command.unwrap().exit_code, None);
        let killed = only_update(&task.exited(ExitOutcome::Signal(libc::SIGTERM))).clone();
        assert_eq!(killed.healthy, None);
        assert_eq!(
            killed.check_status.unwrap().command.unwrap().exit_code,
            None
        );
    }

    #[test]
    fn the_starting_update_of_a_checked_task_carries_the_checks_type() {
        let mut task = TaskMachine::new(TaskKind::Group, None, Some(CheckType::Http));
        let effects = task.fetched(Ok(()));
        let starting = only_update(&effects).clone();
        assert_eq!(starting.state, TaskState::Starting);
        assert_eq!(starting.check_status.unwrap().type_, Some(CheckType::Http));
    }

    #[test]
    fn a_kill_caused_by_a_group_member_names_it() {
        let (mut task, now) = running(TaskKind::Group, None, None);
        let cause = KillCause::GroupMemberEnded {
            task_id: "web".to_owned(),
        };
        task.kill(now, cause, GRACE, false);
        let update = only_update(&task.exited(ExitOutcome::Signal(libc::SIGTERM))).clone();
        assert_eq!(update.state, TaskState::Killed);
        assert!(update.message.unwrap().contains("'web'"));
    }
}
