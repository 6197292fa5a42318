//! Behaviour of the executor state machine, driven event by event with a
//! hand-held clock.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_proto::executor::{Call, CallType, Event};
use cairn_proto::{
    AgentInfo, Bytes, CapabilityType, CommandInfo, ContainerId, DurationInfo, ExecutorInfo,
    FrameworkInfo, KillPolicy, Reason, TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

use super::{Action, ExecutorMachine, ExitReason, MachineConfig};
use crate::executor::launch::TaskContext;
use crate::executor::layout::TaskDir;
use crate::executor::process::{ExitOutcome, GroupSignal};
use crate::executor::task::TaskKind;

const RECOVERY: Duration = Duration::from_secs(60);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn config() -> MachineConfig {
    MachineConfig {
        framework_id: "fw".into(),
        executor_id: "exec".into(),
        agent_id: Some("agent-S0".into()),
        context: TaskContext {
            framework_id: "fw".to_owned(),
            executor_id: "exec".to_owned(),
            agent_endpoint: "127.0.0.2:5051".parse().unwrap(),
            hostname: "127.0.0.2".to_owned(),
            executor_sandbox: PathBuf::from("/sandbox"),
            inherited_env: Vec::new(),
        },
        checkpoint: true,
        recovery_timeout: RECOVERY,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
        shutdown_grace: SHUTDOWN_GRACE,
        linger: Duration::from_secs(1),
        shutdown_ack_wait: Duration::from_secs(1),
        wall_clock: || 1_700_000_000.0,
    }
}

/// A machine plus a clock, with helpers that read its actions.
struct Harness {
    machine: ExecutorMachine,
    now: Instant,
    generation: u64,
    /// Tasks launched as command tasks.
    commands: Vec<String>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(config())
    }

    fn with_config(config: MachineConfig) -> Self {
        let now = Instant::now();
        Harness {
            machine: ExecutorMachine::new(now, config),
            now,
            generation: 0,
            commands: Vec::new(),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.timeout();
    }

    /// Runs the timer, and checks that the next deadline is in the future:
    /// a past one would make the runtime spin.
    fn timeout(&mut self) {
        self.machine.handle_timeout(self.now);
        if let Some(next) = self.machine.poll_timeout() {
            assert!(next > self.now, "the next deadline is already due");
        }
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.machine.poll_action()).collect()
    }

    /// Runs the timer, expects a SUBSCRIBE, answers SUBSCRIBED.
    fn subscribe(&mut self, framework: FrameworkInfo) -> Call {
        self.timeout();
        let call = self
            .actions()
            .into_iter()
            .find_map(|action| match action {
                Action::Subscribe { generation, call } => {
                    self.generation = generation;
                    Some(*call)
                }
                _ => None,
            })
            .expect("a SUBSCRIBE");
        let subscribed = Event::subscribed(
            ExecutorInfo::default(),
            framework,
            AgentInfo::default(),
            ContainerId::new("container-1"),
        );
        self.event(subscribed);
        call
    }

    fn event(&mut self, event: Event) {
        self.machine.handle_event(self.now, self.generation, event);
    }

    fn launch_group(&mut self, ids: &[&str]) {
        let tasks = ids.iter().map(|id| task(id)).collect();
        self.event(Event::launch_group(TaskGroupInfo { tasks }));
    }

    /// Reports `id`'s directory ready (its own container's, for a task of a group).
    fn fetched(&mut self, id: &str) {
        let dir = if self.commands.iter().any(|c| c == id) {
            TaskDir {
                path: PathBuf::from("/sandbox"),
                container: None,
            }
        } else {
            TaskDir {
                path: PathBuf::from(format!("/sandbox/containers/c-{id}")),
                container: Some(format!("c-{id}")),
            }
        };
        self.machine.handle_fetched(self.now, &id.into(), Ok(dir));
    }

    /// Fetches and spawns `id` with `pid`: it is running afterwards.
    fn start(&mut self, id: &str, pid: u32) {
        self.fetched(id);
        self.machine.handle_spawned(self.now, &id.into(), Ok(pid));
    }

    /// LAUNCHes `id` as a command task.
    fn launch_command(&mut self, id: &str) {
        self.commands.push(id.to_owned());
        self.event(Event::launch(task(id)));
    }

    fn exit(&mut self, id: &str, outcome: ExitOutcome) {
        self.machine
            .handle_exited(self.now, &id.into(), outcome, None);
    }

    fn ack(&mut self, status: &TaskStatus) {
        let uuid = status.uuid.clone().unwrap();
        self.event(Event::acknowledged(status.task_id.clone(), uuid));
    }
}

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.to_owned(),
        task_id: id.into(),
        command: Some(CommandInfo::shell("sleep 100")),
        ..Default::default()
    }
}

fn posted(actions: &[Action]) -> Vec<TaskStatus> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Post { call, .. } => {
                assert_eq!(call.type_, CallType::Update);
                Some(call.update.clone().unwrap().status)
            }
            _ => None,
        })
        .collect()
}

fn states_of(statuses: &[TaskStatus], id: &str) -> Vec<TaskState> {
    statuses
        .iter()
        .filter(|status| status.task_id.as_str() == id)
        .map(|status| status.state)
        .collect()
}

fn signals(actions: &[Action]) -> Vec<(String, u32, GroupSignal)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Signal {
                task_id,
                pid,
                signal,
            } => Some((task_id.as_str().to_owned(), *pid, *signal)),
            _ => None,
        })
        .collect()
}

fn exit_reason(actions: &[Action]) -> Option<ExitReason> {
    actions.iter().find_map(|action| match action {
        Action::Exit(reason) => Some(*reason),
        _ => None,
    })
}

fn killing_framework() -> FrameworkInfo {
    let mut framework = FrameworkInfo::new("nobody", "svc");
    framework.capabilities = vec![CapabilityType::TaskKillingState.into()];
    framework
}

#[test]
fn a_new_executor_subscribes_at_once_with_nothing_pending() {
    let mut h = Harness::new();
    assert_eq!(h.machine.poll_timeout(), Some(h.now));
    let call = h.subscribe(FrameworkInfo::default());
    assert_eq!(call.type_, CallType::Subscribe);
    assert_eq!(call.framework_id.as_str(), "fw");
    assert_eq!(call.executor_id.as_str(), "exec");
    let subscribe = call.subscribe.unwrap();
    assert!(subscribe.unacknowledged_tasks.is_empty());
    assert!(subscribe.unacknowledged_updates.is_empty());
}

#[test]
fn each_task_of_a_launch_group_is_fetched_into_a_directory_of_its_own() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a", "b"]);
    let fetches: Vec<_> = h
        .actions()
        .into_iter()
        .filter_map(|action| match action {
            Action::Fetch { task_id, kind, .. } => Some((task_id.as_str().to_owned(), kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fetches,
        vec![
            ("a".to_owned(), TaskKind::Group),
            ("b".to_owned(), TaskKind::Group),
        ]
    );
}

#[test]
fn a_task_of_a_group_runs_in_its_container_and_its_updates_name_it_nested_in_the_executors() {
    let mut h = Harness::new();
    h.subscribe(killing_framework());
    h.launch_group(&["a"]);
    h.fetched("a");
    let actions = h.actions();
    let launch = actions
        .iter()
        .find_map(|action| match action {
            Action::Spawn { launch, .. } => Some(launch.clone()),
            _ => None,
        })
        .expect("a spawn");
    let dir = PathBuf::from("/sandbox/containers/c-a");
    assert_eq!(launch.cwd, dir);
    assert!(launch
        .env
        .contains(&("MESOS_SANDBOX".to_owned(), dir.display().to_string())));
    h.machine.handle_spawned(h.now, &"a".into(), Ok(321));
    h.event(Event::kill("a".into(), None));
    h.exit("a", ExitOutcome::Signal(libc::SIGTERM));
    let mut statuses = posted(&actions);
    statuses.extend(posted(&h.actions()));
    let nested = ContainerId::nested(ContainerId::new("container-1"), "c-a");
    let seen: Vec<(TaskState, Option<ContainerId>, Option<u32>)> = statuses
        .iter()
        .map(|s| {
            let c = s.container_status.clone().unwrap();
            (s.state, c.container_id, c.executor_pid)
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            // Not started yet, then running as pid 321, then gone.
            (TaskState::Starting, Some(nested.clone()), None),
            (TaskState::Running, Some(nested.clone()), Some(321)),
            (TaskState::Killing, Some(nested.clone()), Some(321)),
            (TaskState::Killed, Some(nested), None),
        ]
    );
}

#[test]
fn a_command_task_runs_in_the_executor_sandbox_and_its_updates_name_the_executors_container() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_command("t");
    let actions = h.actions();
    assert!(actions
        .iter()
        .any(|action| matches!(action, Action::Fetch { kind, .. } if *kind == TaskKind::Command)));
    h.start("t", 10);
    let statuses = posted(&h.actions());
    for status in &statuses {
        let c = status.container_status.clone().unwrap();
        assert_eq!(c.container_id, Some(ContainerId::new("container-1")));
        // Its process is the agent's to tell: the executor's own.
        assert_eq!(c.executor_pid, None);
    }
}

#[test]
fn a_task_goes_starting_running_finished_with_stamped_updates() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.fetched("a");
    let actions = h.actions();
    assert!(actions
        .iter()
        .any(|action| matches!(action, Action::Spawn { task_id, .. } if task_id.as_str() == "a")));
    h.machine.handle_spawned(h.now, &"a".into(), Ok(321));
    h.exit("a", ExitOutcome::Code(0));
    let mut statuses = posted(&actions);
    statuses.extend(posted(&h.actions()));
    assert_eq!(
        states_of(&statuses, "a"),
        vec![TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    let finished = &statuses[2];
    assert_eq!(finished.source, Some(cairn_proto::Source::Executor));
    assert_eq!(
        finished.agent_id.as_ref().map(|id| id.as_str()),
        Some("agent-S0")
    );
    assert_eq!(
        finished.executor_id.as_ref().map(|id| id.as_str()),
        Some("exec")
    );
    assert_eq!(finished.timestamp, Some(1_700_000_000.0));
    assert_eq!(finished.uuid.as_ref().map(Bytes::len), Some(16));
    assert_ne!(statuses[0].uuid, statuses[1].uuid);
}

#[test]
fn the_executor_exits_after_the_linger_once_every_update_is_acknowledged() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.exit("a", ExitOutcome::Code(0));
    let statuses = posted(&h.actions());
    assert_eq!(h.machine.unacknowledged(), 3);
    for status in &statuses[..2] {
        h.ack(status);
    }
    h.advance(Duration::from_secs(5));
    assert_eq!(
        exit_reason(&h.actions()),
        None,
        "the last update is not acknowledged yet"
    );
    h.ack(&statuses[2]);
    assert_eq!(h.machine.unacknowledged(), 0);
    h.advance(Duration::from_millis(500));
    assert_eq!(exit_reason(&h.actions()), None, "still lingering");
    h.advance(Duration::from_millis(500));
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::Completed));
    assert!(h.machine.has_exited());
}

#[test]
fn a_new_launch_during_the_linger_keeps_the_executor_alive() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.exit("a", ExitOutcome::Code(0));
    for status in posted(&h.actions()) {
        h.ack(&status);
    }
    h.advance(Duration::from_millis(500));
    h.launch_group(&["b"]);
    h.advance(Duration::from_secs(2));
    assert_eq!(exit_reason(&h.actions()), None);
}

#[test]
fn a_failing_group_member_kills_the_rest_of_its_group_but_not_other_groups() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a", "b"]);
    h.launch_group(&["sidecar"]);
    h.start("a", 10);
    h.start("b", 11);
    h.start("sidecar", 12);
    h.actions();
    h.exit("a", ExitOutcome::Code(1));
    let actions = h.actions();
    let statuses = posted(&actions);
    assert_eq!(states_of(&statuses, "a"), vec![TaskState::Failed]);
    assert_eq!(
        statuses[0].message.as_deref(),
        Some("Command exited with status 1")
    );
    assert_eq!(
        statuses[0].reason, None,
        "group tasks carry no command-executor reason"
    );
    assert!(signals(&actions).contains(&("b".to_owned(), 11, GroupSignal::Terminate)));
    assert!(!signals(&actions).iter().any(|(id, _, _)| id == "sidecar"));
    h.exit("b", ExitOutcome::Signal(libc::SIGTERM));
    let statuses = posted(&h.actions());
    assert_eq!(states_of(&statuses, "b"), vec![TaskState::Killed]);
    assert!(statuses[0].message.as_deref().unwrap().contains("'a'"));
}

#[test]
fn a_finished_group_member_leaves_the_others_running() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["init", "server"]);
    h.start("init", 10);
    h.start("server", 11);
    h.actions();
    h.exit("init", ExitOutcome::Code(0));
    let actions = h.actions();
    assert!(!signals(&actions).iter().any(|(id, _, _)| id == "server"));
}

#[test]
fn a_kill_uses_the_kill_events_grace_over_the_tasks_and_three_seconds_by_default() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let mut with_policy = task("a");
    with_policy.kill_policy = Some(KillPolicy::grace_period(DurationInfo::from_secs_f64(10.0)));
    h.event(Event::launch_group(TaskGroupInfo {
        tasks: vec![with_policy, task("b"), task("c")],
    }));
    h.start("a", 10);
    h.start("b", 11);
    h.start("c", 12);
    h.actions();
    let start = h.now;

    h.event(Event::kill("a".into(), None));
    assert_eq!(
        signals(&h.actions()),
        vec![("a".to_owned(), 10, GroupSignal::Terminate)]
    );
    assert_eq!(
        h.machine.poll_timeout(),
        Some(start + Duration::from_secs(10))
    );

    h.advance(Duration::from_secs(9));
    assert!(signals(&h.actions()).is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        signals(&h.actions()),
        vec![("a".to_owned(), 10, GroupSignal::Kill)]
    );
}

#[test]
fn a_kill_event_policy_overrides_the_task_policy() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let mut with_policy = task("a");
    with_policy.kill_policy = Some(KillPolicy::grace_period(DurationInfo::from_secs_f64(10.0)));
    h.event(Event::launch_group(TaskGroupInfo {
        tasks: vec![with_policy],
    }));
    h.start("a", 10);
    h.actions();
    let short = KillPolicy::grace_period(DurationInfo::from_secs_f64(1.0));
    h.event(Event::kill("a".into(), Some(short)));
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_secs(1))
    );
}

#[test]
fn a_task_without_a_kill_policy_gets_three_seconds() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.event(Event::kill("a".into(), None));
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_secs(3))
    );
}

#[test]
fn frameworks_with_the_killing_capability_get_task_killing() {
    let mut h = Harness::new();
    h.subscribe(killing_framework());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.actions();
    h.event(Event::kill("a".into(), None));
    assert_eq!(
        states_of(&posted(&h.actions()), "a"),
        vec![TaskState::Killing]
    );
}

#[test]
fn a_broken_stream_resubscribes_with_backoff_and_everything_unacknowledged() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a", "b"]);
    h.start("a", 10);
    h.start("b", 11);
    let statuses = posted(&h.actions());
    // The agent saw and acknowledged a's STARTING only.
    h.ack(&statuses[0]);

    h.machine.handle_stream_closed(h.now, h.generation);
    assert!(h.actions().is_empty());
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_millis(100))
    );
    h.advance(Duration::from_millis(100));
    let call = h
        .actions()
        .into_iter()
        .find_map(|action| match action {
            Action::Subscribe { generation, call } => {
                assert_eq!(generation, h.generation + 1);
                Some(call)
            }
            _ => None,
        })
        .expect("a re-SUBSCRIBE");
    let subscribe = call.subscribe.unwrap();
    let task_ids: Vec<_> = subscribe
        .unacknowledged_tasks
        .iter()
        .map(|task| task.task_id.as_str())
        .collect();
    assert_eq!(task_ids, vec!["b"]);
    let updates: Vec<_> = subscribe
        .unacknowledged_updates
        .into_iter()
        .map(|u| u.status)
        .collect();
    assert_eq!(updates, statuses[1..].to_vec());
}

#[test]
fn the_resubscribe_backoff_doubles_up_to_its_cap() {
    let mut h = Harness::new();
    let mut delays = Vec::new();
    for _ in 0..5 {
        let before = h.now;
        let deadline = h.machine.poll_timeout().unwrap();
        delays.push(deadline - before);
        h.now = deadline;
        h.timeout();
        let generation = h
            .actions()
            .into_iter()
            .find_map(|action| match action {
                Action::Subscribe { generation, .. } => Some(generation),
                _ => None,
            })
            .unwrap();
        h.machine
            .handle_subscribe_failed(h.now, generation, "connection refused");
    }
    assert_eq!(
        delays,
        [0, 100, 200, 400, 500].map(Duration::from_millis).to_vec()
    );
}

#[test]
fn updates_made_while_subscribing_are_posted_after_subscribed() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    let first = posted(&h.actions());
    h.machine.handle_stream_closed(h.now, h.generation);
    h.advance(Duration::from_millis(100));
    let generation = h
        .actions()
        .into_iter()
        .find_map(|action| match action {
            Action::Subscribe { generation, .. } => Some(generation),
            _ => None,
        })
        .unwrap();
    h.generation = generation;
    // The task ends while the SUBSCRIBE is in flight.
    h.exit("a", ExitOutcome::Code(0));
    assert!(
        posted(&h.actions()).is_empty(),
        "nothing is posted without a subscription"
    );
    h.event(Event::subscribed(
        ExecutorInfo::default(),
        FrameworkInfo::default(),
        AgentInfo::default(),
        ContainerId::new("container-1"),
    ));
    let after = posted(&h.actions());
    assert_eq!(states_of(&after, "a"), vec![TaskState::Finished]);
    assert_eq!(first.len(), 2);
}

#[test]
fn a_failed_post_drops_the_stream_and_resubscribes() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let generation = h.generation;
    h.machine.handle_post_failed(h.now, generation);
    let actions = h.actions();
    assert!(actions.contains(&Action::CloseStream { generation }));
    h.advance(Duration::from_millis(100));
    assert!(h
        .actions()
        .iter()
        .any(|action| matches!(action, Action::Subscribe { .. })));
}

#[test]
fn events_of_an_abandoned_stream_are_ignored() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let old = h.generation;
    h.machine.handle_stream_closed(h.now, old);
    h.machine.handle_event(
        h.now,
        old,
        Event::launch_group(TaskGroupInfo {
            tasks: vec![task("a")],
        }),
    );
    assert!(h.actions().is_empty());
}

#[test]
fn when_the_agent_stays_away_past_the_recovery_timeout_every_task_is_killed() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.actions();
    h.machine.handle_stream_closed(h.now, h.generation);
    let lost_at = h.now;
    // Re-subscribing keeps failing.
    while h.machine.poll_timeout().unwrap() < lost_at + RECOVERY {
        h.now = h.machine.poll_timeout().unwrap();
        h.timeout();
        for action in h.actions() {
            if let Action::Subscribe { generation, .. } = action {
                h.machine
                    .handle_subscribe_failed(h.now, generation, "refused");
            }
            assert!(!matches!(action, Action::Signal { .. }), "killed too early");
        }
    }
    h.now += Duration::from_secs(1);
    h.timeout();
    let actions = h.actions();
    assert_eq!(
        signals(&actions),
        vec![("a".to_owned(), 10, GroupSignal::Terminate)]
    );
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Subscribe { .. })),
        "no more subscribing once given up"
    );
    h.exit("a", ExitOutcome::Signal(libc::SIGTERM));
    assert_eq!(
        exit_reason(&h.actions()),
        Some(ExitReason::RecoveryTimedOut)
    );
}

#[test]
fn shutdown_kills_within_the_shutdown_grace_and_exits_after_the_acknowledgements() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let mut patient = task("a");
    patient.kill_policy = Some(KillPolicy::grace_period(DurationInfo::from_secs_f64(60.0)));
    h.event(Event::launch_group(TaskGroupInfo {
        tasks: vec![patient, task("b")],
    }));
    h.start("a", 10);
    h.start("b", 11);
    for status in posted(&h.actions()) {
        h.ack(&status);
    }
    h.event(Event::shutdown());
    let actions = h.actions();
    assert_eq!(signals(&actions).len(), 2);
    // a's own 60 s is cut to the executor's shutdown grace; b keeps its 3 s.
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_secs(3))
    );
    h.exit("b", ExitOutcome::Signal(libc::SIGTERM));
    h.advance(SHUTDOWN_GRACE);
    assert!(signals(&h.actions()).contains(&("a".to_owned(), 10, GroupSignal::Kill)));
    h.exit("a", ExitOutcome::Signal(libc::SIGKILL));
    let statuses = posted(&h.actions());
    assert_eq!(states_of(&statuses, "a"), vec![TaskState::Killed]);
    assert_eq!(
        exit_reason(&h.actions()),
        None,
        "waits for the acknowledgements"
    );
    let b_killed = h
        .machine
        .ledger
        .iter()
        .find(|p| p.status.task_id.as_str() == "b")
        .unwrap()
        .status
        .clone();
    h.ack(&b_killed);
    h.ack(&statuses[0]);
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::Shutdown));
}

#[test]
fn shutdown_does_not_wait_forever_for_acknowledgements() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.event(Event::shutdown());
    h.exit("a", ExitOutcome::Signal(libc::SIGTERM));
    h.actions();
    h.advance(Duration::from_secs(1));
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::Shutdown));
}

#[test]
fn shutdown_with_no_tasks_exits_at_once() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.event(Event::shutdown());
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::Shutdown));
}

#[test]
fn a_task_that_ignores_sigkill_cannot_hold_the_executor_past_the_hard_deadline() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.event(Event::shutdown());
    h.advance(SHUTDOWN_GRACE + super::STOP_MARGIN);
    let actions = h.actions();
    assert_eq!(exit_reason(&actions), Some(ExitReason::Shutdown));
}

#[test]
fn a_launch_during_shutdown_is_killed_before_it_starts() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.event(Event::shutdown());
    h.actions();
    h.launch_group(&["late"]);
    let actions = h.actions();
    assert!(!actions
        .iter()
        .any(|action| matches!(action, Action::Fetch { .. })));
    assert_eq!(
        states_of(&posted(&actions), "late"),
        vec![TaskState::Killed]
    );
}

#[test]
fn a_duplicate_launch_is_ignored() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.actions();
    h.launch_group(&["a"]);
    assert!(h.actions().is_empty());
}

#[test]
fn a_command_executor_refuses_a_second_task() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_command("first");
    h.actions();
    h.launch_command("second");
    let statuses = posted(&h.actions());
    assert_eq!(states_of(&statuses, "second"), vec![TaskState::Error]);
    assert_eq!(statuses[0].reason, Some(Reason::TaskInvalid));
}

#[test]
fn a_command_task_failure_carries_the_command_executor_reason() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_command("t");
    h.start("t", 10);
    h.actions();
    h.exit("t", ExitOutcome::Code(3));
    let statuses = posted(&h.actions());
    assert_eq!(statuses[0].state, TaskState::Failed);
    assert_eq!(statuses[0].reason, Some(Reason::CommandExecutorFailed));
}

#[test]
fn a_task_without_a_command_is_an_error() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    let mut bare = task("bare");
    bare.command = None;
    h.event(Event::launch_group(TaskGroupInfo { tasks: vec![bare] }));
    let statuses = posted(&h.actions());
    assert_eq!(states_of(&statuses, "bare"), vec![TaskState::Error]);
}

#[test]
fn a_fetch_failure_fails_the_task_and_its_group() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a", "b"]);
    h.start("b", 11);
    h.actions();
    h.machine.handle_fetched(
        h.now,
        &"a".into(),
        Err("Failed to fetch 'x': gone".to_owned()),
    );
    let actions = h.actions();
    let statuses = posted(&actions);
    assert_eq!(states_of(&statuses, "a"), vec![TaskState::Failed]);
    assert_eq!(statuses[0].reason, Some(Reason::ContainerLaunchFailed));
    assert!(signals(&actions).contains(&("b".to_owned(), 11, GroupSignal::Terminate)));
}

#[test]
fn a_kill_for_a_task_still_fetching_cancels_the_fetch() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.actions();
    h.event(Event::kill("a".into(), None));
    let actions = h.actions();
    let id: TaskId = "a".into();
    assert!(actions.contains(&Action::CancelFetch { task_id: id }));
    assert_eq!(states_of(&posted(&actions), "a"), vec![TaskState::Killed]);
}

#[test]
fn without_checkpointing_a_lost_agent_ends_the_executor() {
    let mut config = config();
    config.checkpoint = false;
    let mut h = Harness::with_config(config);
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.actions();
    h.machine.handle_stream_closed(h.now, h.generation);
    let actions = h.actions();
    assert_eq!(
        signals(&actions),
        vec![("a".to_owned(), 10, GroupSignal::Terminate)]
    );
    h.exit("a", ExitOutcome::Signal(libc::SIGTERM));
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::AgentLost));
}

#[test]
fn a_shutdown_instead_of_subscribed_ends_the_executor_and_its_tasks() {
    let mut h = Harness::new();
    h.subscribe(FrameworkInfo::default());
    h.launch_group(&["a"]);
    h.start("a", 10);
    h.actions();
    h.machine.handle_stream_closed(h.now, h.generation);
    h.advance(Duration::from_millis(100));
    let generation = h
        .actions()
        .into_iter()
        .find_map(|action| match action {
            Action::Subscribe { generation, .. } => Some(generation),
            _ => None,
        })
        .unwrap();
    // The agent came back without us in its books.
    h.machine.handle_event(h.now, generation, Event::shutdown());
    let actions = h.actions();
    assert_eq!(
        signals(&actions),
        vec![("a".to_owned(), 10, GroupSignal::Terminate)]
    );
    h.machine.handle_stream_closed(h.now, generation);
    h.exit("a", ExitOutcome::Signal(libc::SIGTERM));
    h.advance(Duration::from_secs(1));
    assert_eq!(exit_reason(&h.actions()), Some(ExitReason::Shutdown));
}
