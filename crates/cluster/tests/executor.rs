//! The executor as a real process against a stand-in agent.
//!
//! The agent here is a small axum server that serves `/api/v1/executor` the
//! way the cluster's agent does: SUBSCRIBE answers with a RecordIO event
//! stream, UPDATE with 202 and (unless a test says otherwise) an
//! ACKNOWLEDGED event. Each agent incarnation runs on a tokio runtime of its
//! own, so stopping it closes every connection, as a dying process would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use cairn_proto::executor::{Call, CallType, Event};
use cairn_proto::recordio::encode_json;
use cairn_proto::{
    AgentInfo, CapabilityType, CheckCommand, CheckInfo, CheckType, CommandInfo, CommandUri,
    ContainerId, DurationInfo, ExecutorInfo, FrameworkInfo, HealthCheck, HealthCheckType,
    KillPolicy, Reason, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

const EXECUTOR: &str = env!("CARGO_BIN_EXE_cairn-test-executor");
/// Generous: CI machines are slow, and a deadline only costs time on failure.
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The stand-in agent
// ---------------------------------------------------------------------------

type EventSender = mpsc::UnboundedSender<Result<Vec<u8>, Infallible>>;

#[derive(Default)]
struct AgentState {
    subscribes: Vec<Call>,
    /// Every status received in an UPDATE, in arrival order.
    updates: Vec<TaskStatus>,
    stream: Option<EventSender>,
    auto_ack: bool,
    framework: FrameworkInfo,
    /// Sent right after SUBSCRIBED on the next subscription.
    on_subscribe: Vec<Event>,
    /// The `Authorization` header of every call, in arrival order.
    authorizations: Vec<Option<String>>,
}

struct FakeAgent {
    addr: SocketAddr,
    state: Arc<Mutex<AgentState>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeAgent {
    fn start(framework: FrameworkInfo) -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), framework)
    }

    fn start_at(addr: SocketAddr, framework: FrameworkInfo) -> Self {
        let state = Arc::new(Mutex::new(AgentState {
            auto_ack: true,
            framework,
            ..Default::default()
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/api/v1/executor", post(executor_api))
            .with_state(state.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FakeAgent {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// Kills this incarnation: the listener and every connection go.
    fn stop(&mut self) {
        self.state.lock().unwrap().stream = None;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    fn send(&self, event: Event) {
        let state = self.state.lock().unwrap();
        let stream = state.stream.as_ref().expect("no executor is subscribed");
        stream.send(Ok(encode_json(&event))).unwrap();
    }

    fn set_auto_ack(&self, on: bool) {
        self.state.lock().unwrap().auto_ack = on;
    }

    fn launch_on_subscribe(&self, event: Event) {
        self.state.lock().unwrap().on_subscribe.push(event);
    }

    fn authorizations(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().authorizations.clone()
    }

    fn subscribes(&self) -> Vec<Call> {
        self.state.lock().unwrap().subscribes.clone()
    }

    fn updates(&self) -> Vec<TaskStatus> {
        self.state.lock().unwrap().updates.clone()
    }

    fn states_of(&self, task: &str) -> Vec<TaskState> {
        self.updates()
            .iter()
            .filter(|status| status.task_id.as_str() == task)
            .map(|status| status.state)
            .collect()
    }

    /// Waits until some update of `task` satisfies `matches`, and returns it.
    fn wait_for_update(
        &self,
        task: &str,
        what: &str,
        matches: impl Fn(&TaskStatus) -> bool,
    ) -> TaskStatus {
        let mut found = None;
        wait_until(&format!("{task}: {what}"), || {
            found = self
                .updates()
                .into_iter()
                .find(|status| status.task_id.as_str() == task && matches(status));
            found.is_some()
        });
        found.unwrap()
    }

    fn wait_for_state(&self, task: &str, state: TaskState) -> TaskStatus {
        self.wait_for_update(task, &format!("{state:?}"), |status| status.state == state)
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn executor_api(
    State(state): State<Arc<Mutex<AgentState>>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let call: Call = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let mut state = state.lock().unwrap();
    state.authorizations.push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    match call.type_ {
        CallType::Subscribe => {
            let (sender, receiver) = mpsc::unbounded_channel();
            let subscribed = Event::subscribed(
                ExecutorInfo {
                    executor_id: call.executor_id.clone(),
                    ..Default::default()
                },
                state.framework.clone(),
                AgentInfo {
                    hostname: "127.0.0.1".to_owned(),
                    ..Default::default()
                },
                ContainerId::new("container-1"),
            );
            sender.send(Ok(encode_json(&subscribed))).unwrap();
            if state.auto_ack {
                // What a real agent does for updates it already has: the
                // executor must not keep them forever.
                for update in call
                    .subscribe
                    .iter()
                    .flat_map(|s| &s.unacknowledged_updates)
                {
                    let status = &update.status;
                    let ack =
                        Event::acknowledged(status.task_id.clone(), status.uuid.clone().unwrap());
                    sender.send(Ok(encode_json(&ack))).unwrap();
                }
            }
            for event in std::mem::take(&mut state.on_subscribe) {
                sender.send(Ok(encode_json(&event))).unwrap();
            }
            state.subscribes.push(call);
            state.stream = Some(sender);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(UnboundedReceiverStream::new(receiver)))
                .unwrap()
        }
        CallType::Update => {
            let status = call.update.expect("UPDATE without update").status;
            assert_eq!(status.uuid.as_ref().map(|uuid| uuid.len()), Some(16));
            if state.auto_ack {
                let ack = Event::acknowledged(status.task_id.clone(), status.uuid.clone().unwrap());
                if let Some(stream) = &state.stream {
                    let _ = stream.send(Ok(encode_json(&ack)));
                }
            }
            state.updates.push(status);
            StatusCode::ACCEPTED.into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "unexpected call").into_response(),
    }
}

// ---------------------------------------------------------------------------
// The executor process
// ---------------------------------------------------------------------------

struct Executor {
    child: Child,
    sandbox: PathBuf,
    status: Option<ExitStatus>,
}

impl Executor {
    fn start(agent: &FakeAgent, sandbox: &Path, extra_env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(sandbox).unwrap();
        let stdout = std::fs::File::create(sandbox.join("executor.stdout")).unwrap();
        let stderr = std::fs::File::create(sandbox.join("executor.stderr")).unwrap();
        let mut command = Command::new(EXECUTOR);
        command
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()),
            )
            .env("RUST_LOG", "info,cairn_cluster=debug")
            .env("MESOS_FRAMEWORK_ID", "fw-1")
            .env("MESOS_EXECUTOR_ID", "pod-0-exec")
            .env("MESOS_AGENT_ID", "agent-S0")
            .env("MESOS_AGENT_ENDPOINT", agent.addr.to_string())
            .env("MESOS_DIRECTORY", sandbox)
            .env("MESOS_SANDBOX", sandbox)
            .env("MESOS_CHECKPOINT", "1")
            .env("MESOS_RECOVERY_TIMEOUT", "15mins")
            .env("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms")
            .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs")
            .env("MESOS_HOSTNAME", "127.0.0.1");
        for (name, value) in extra_env {
            command.env(name, value);
        }
        // Like the agent: a process group of its own, outliving its parent.
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        Executor {
            child: command.spawn().unwrap(),
            sandbox: sandbox.to_path_buf(),
            status: None,
        }
    }

    fn wait_for_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        let mut status = None;
        wait_until("the executor exits", || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        self.status = status;
        status.unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.sandbox.join("executor.stderr")).unwrap_or_default()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if self.status.is_none() && self.child.try_wait().ok().flatten().is_none() {
            // SIGTERM makes it kill its tasks; SIGKILL if it does not go.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- executor log ----\n{}", self.log());
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Polls `condition` until it holds or the deadline passes.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory, removed when the test passes and kept (with its logs)
/// when it fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cairn-executor-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn temp_dir(name: &str) -> TempDir {
    TempDir::new(name)
}

fn shell_task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.to_owned(),
        task_id: id.into(),
        agent_id: "agent-S0".into(),
        command: Some(CommandInfo::shell(command)),
        ..Default::default()
    }
}

fn group(tasks: Vec<TaskInfo>) -> Event {
    Event::launch_group(TaskGroupInfo { tasks })
}

/// The agent's part of a LAUNCH_GROUP: the task's sandbox, in a container of its
/// own (`containers/<id>`), and `tasks/<task>` linking to it exist before the
/// executor hears of the task.
fn prepare_task_sandbox(sandbox: &Path, task: &str) -> PathBuf {
    let dir = sandbox
        .join("containers")
        .join(format!("container-of-{task}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(sandbox.join("tasks")).unwrap();
    std::os::unix::fs::symlink(&dir, sandbox.join("tasks").join(task)).unwrap();
    dir
}

/// A task whose command's environment names it, as a scheduler sets what
/// its tasks need (Mesos gives a task of a group no task id of its own).
fn named_shell_task(id: &str, command: &str) -> TaskInfo {
    let mut task = shell_task(id, command);
    if let Some(command) = task.command.as_mut() {
        command.environment = Some(cairn_proto::Environment::from_pairs([("TASK_NAME", id)]));
    }
    task
}

fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has ended; it only waits for its parent to reap it.
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    wait_until(&format!("{} to be written", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

fn framework(killing_state: bool) -> FrameworkInfo {
    let mut framework = FrameworkInfo::new("nobody", "test");
    if killing_state {
        framework.capabilities = vec![CapabilityType::TaskKillingState.into()];
    }
    framework
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn a_pod_of_two_tasks_writes_into_its_volume_and_both_finish_in_order() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("pod");
    let volume = temp_dir("volume");
    for task in ["writer-a", "writer-b"] {
        let dir = prepare_task_sandbox(&sandbox, task);
        std::os::unix::fs::symlink(&volume, dir.join("data")).unwrap();
    }
    let command = "echo \"$TASK_NAME in $MESOS_SANDBOX\" > data/$TASK_NAME.txt";
    agent.launch_on_subscribe(group(vec![
        named_shell_task("writer-a", command),
        named_shell_task("writer-b", command),
    ]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let status = executor.wait_for_exit();
    assert!(
        status.success(),
        "executor exited with {status}\n{}",
        executor.log()
    );
    for task in ["writer-a", "writer-b"] {
        assert_eq!(
            agent.states_of(task),
            vec![TaskState::Starting, TaskState::Running, TaskState::Finished],
            "{task}"
        );
        let written = std::fs::read_to_string(volume.join(format!("{task}.txt"))).unwrap();
        let task_sandbox = std::fs::read_link(sandbox.join("tasks").join(task)).unwrap();
        assert_eq!(written, format!("{task} in {}\n", task_sandbox.display()));
    }
    let finished = agent.wait_for_state("writer-a", TaskState::Finished);
    assert_eq!(finished.source, Some(cairn_proto::Source::Executor));
    assert_eq!(finished.executor_id.unwrap().as_str(), "pod-0-exec");
    assert_eq!(finished.agent_id.unwrap().as_str(), "agent-S0");
    assert!(finished.timestamp.unwrap() > 1.6e9);
    // One subscription was enough, and it carried nothing to recover.
    let subscribes = agent.subscribes();
    assert_eq!(subscribes.len(), 1);
    assert!(subscribes[0]
        .subscribe
        .as_ref()
        .unwrap()
        .unacknowledged_updates
        .is_empty());
}

#[test]
fn the_executor_sends_its_token_on_every_call_and_its_tasks_never_see_it() {
    // Goal: the agent can tell this executor's calls from anyone else's (Mesos' executor
    // token), and a task, which may run anything, cannot read the token to impersonate it.
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("token");
    let dir = prepare_task_sandbox(&sandbox, "envdump");
    agent.launch_on_subscribe(group(vec![shell_task("envdump", "env > env.txt")]));
    let mut executor = Executor::start(
        &agent,
        &sandbox,
        &[("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "the-token")],
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
    let calls = agent.authorizations();
    assert!(calls.len() >= 4, "a SUBSCRIBE and three updates: {calls:?}");
    assert!(
        calls
            .iter()
            .all(|a| a.as_deref() == Some("Bearer the-token")),
        "{calls:?}"
    );
    let env = std::fs::read_to_string(dir.join("env.txt")).unwrap();
    assert!(
        env.contains(&format!("MESOS_SANDBOX={}\n", dir.display())),
        "{env}"
    );
    assert!(!env.contains("the-token"), "{env}");
}

#[test]
fn a_failed_task_s_message_ends_with_the_last_lines_it_wrote_to_stderr() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("last-words");
    agent.launch_on_subscribe(group(vec![shell_task(
        "complainer",
        "echo starting; echo 'first trouble' >&2; printf 'disk full on /data\\n\\n' >&2; exit 4",
    )]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let failed = agent.wait_for_state("complainer", TaskState::Failed);
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 4; stderr ends: first trouble\ndisk full on /data")
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn a_failing_task_takes_its_sibling_down() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("failing");
    agent.launch_on_subscribe(group(vec![
        shell_task("crasher", "sleep 0.2; exit 3"),
        shell_task("server", "exec sleep 1000"),
    ]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let failed = agent.wait_for_state("crasher", TaskState::Failed);
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    let killed = agent.wait_for_state("server", TaskState::Killed);
    assert!(killed.message.unwrap().contains("'crasher'"));
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn a_kill_escalates_to_sigkill_after_the_grace_period_and_takes_the_whole_process_group() {
    let agent = FakeAgent::start(framework(true));
    let sandbox = temp_dir("kill");
    let task_dir = prepare_task_sandbox(&sandbox, "stubborn");
    // The task ignores SIGTERM (so does its child, which inherits that).
    let mut task = shell_task(
        "stubborn",
        "trap '' TERM; sleep 1000 & echo $! > child.pid; echo $$ > task.pid; wait",
    );
    task.kill_policy = Some(KillPolicy::grace_period(DurationInfo::from_secs_f64(1.0)));
    agent.launch_on_subscribe(group(vec![task]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    agent.wait_for_state("stubborn", TaskState::Running);
    let task_pid = read_pid(&task_dir.join("task.pid"));
    let child_pid = read_pid(&task_dir.join("child.pid"));
    assert!(process_alive(task_pid) && process_alive(child_pid));

    let kill_sent = Instant::now();
    agent.send(Event::kill("stubborn".into(), None));
    agent.wait_for_state("stubborn", TaskState::Killing);
    let killed = agent.wait_for_state("stubborn", TaskState::Killed);
    assert!(
        kill_sent.elapsed() >= Duration::from_millis(900),
        "SIGTERM was ignored, so only SIGKILL after the 1 s grace could end it"
    );
    assert_eq!(
        killed
            .message
            .as_deref()
            .map(|m| m.starts_with("Command terminated with signal Killed")),
        Some(true),
        "{killed:?}"
    );
    wait_until("the task's child to be gone", || !process_alive(child_pid));
    assert!(!process_alive(task_pid));
    assert_eq!(
        agent.states_of("stubborn"),
        vec![
            TaskState::Starting,
            TaskState::Running,
            TaskState::Killing,
            TaskState::Killed
        ]
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn a_task_failing_its_health_check_three_times_is_killed_unhealthy() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("health");
    let mut task = shell_task("sick", "exec sleep 1000");
    task.health_check = Some(HealthCheck {
        type_: Some(HealthCheckType::Command),
        command: Some(CommandInfo::shell("test -f healthy")),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.2),
        timeout_seconds: Some(5.0),
        consecutive_failures: Some(3),
        grace_period_seconds: Some(0.0),
        ..Default::default()
    });
    agent.launch_on_subscribe(group(vec![task]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let unhealthy = agent.wait_for_update("sick", "an unhealthy report", |status| {
        status.state == TaskState::Running && status.healthy == Some(false)
    });
    assert_eq!(unhealthy.reason, Some(Reason::TaskHealthCheckStatusUpdated));
    let killed = agent.wait_for_state("sick", TaskState::Killed);
    assert_eq!(killed.healthy, Some(false));
    assert_eq!(
        killed.message.as_deref(),
        Some("Task killed because it failed its health check 3 times")
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn a_readiness_check_reports_its_result_as_check_status() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("check");
    let mut task = shell_task("slow-starter", "sleep 0.6; touch ready; exec sleep 1000");
    task.check = Some(CheckInfo {
        type_: Some(CheckType::Command),
        command: Some(CheckCommand {
            command: CommandInfo::shell("test -f ready"),
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(5.0),
        ..Default::default()
    });
    agent.launch_on_subscribe(group(vec![task]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let exit_code = |status: &TaskStatus| {
        status
            .check_status
            .as_ref()
            .and_then(|check| check.command.as_ref())
            .and_then(|command| command.exit_code)
    };
    let not_ready = agent.wait_for_update("slow-starter", "a failing check", |s| {
        exit_code(s) == Some(1)
    });
    assert_eq!(not_ready.state, TaskState::Running);
    assert_eq!(not_ready.reason, Some(Reason::TaskCheckStatusUpdated));
    let ready = agent.wait_for_update("slow-starter", "a passing check", |s| {
        exit_code(s) == Some(0)
    });
    assert_eq!(ready.check_status.unwrap().type_, Some(CheckType::Command));
    // The first RUNNING says the check exists but has no result yet.
    let first_running = agent.wait_for_state("slow-starter", TaskState::Running);
    assert_eq!(exit_code(&first_running), None);
    assert!(first_running.check_status.is_some());

    agent.send(Event::kill("slow-starter".into(), None));
    agent.wait_for_state("slow-starter", TaskState::Killed);
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn a_tarball_fetched_from_a_file_uri_is_unpacked_into_the_sandbox() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("fetch");
    let artifacts = temp_dir("artifacts");
    std::fs::create_dir_all(artifacts.join("app/bin")).unwrap();
    std::fs::write(
        artifacts.join("app/bin/hello.sh"),
        "echo hello from the tarball\n",
    )
    .unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&*artifacts)
        .args(["-czf", "app.tar.gz", "app"])
        .current_dir(&artifacts)
        .status()
        .unwrap();
    assert!(tar.success());
    let mut command = CommandInfo::shell("sh app/bin/hello.sh > out.txt");
    command.uris = vec![CommandUri::new(format!(
        "file://{}",
        artifacts.join("app.tar.gz").display()
    ))];
    let mut broken = CommandInfo::shell("true");
    broken.uris = vec![CommandUri::new("file:///nonexistent/cairn/artifact.tgz")];
    agent.launch_on_subscribe(group(vec![TaskInfo {
        command: Some(command),
        ..shell_task("unpacker", "")
    }]));
    agent.launch_on_subscribe(group(vec![TaskInfo {
        command: Some(broken),
        ..shell_task("unfetchable", "")
    }]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    agent.wait_for_state("unpacker", TaskState::Finished);
    let task_dir = sandbox.join("tasks/unpacker");
    assert_eq!(
        std::fs::read_to_string(task_dir.join("out.txt")).unwrap(),
        "hello from the tarball\n"
    );
    assert!(task_dir.join("app.tar.gz").exists());

    let failed = agent.wait_for_state("unfetchable", TaskState::Failed);
    assert_eq!(failed.reason, Some(Reason::ContainerLaunchFailed));
    assert!(failed
        .message
        .unwrap()
        .contains("file:///nonexistent/cairn/artifact.tgz"));
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn without_ca_certificates_the_executor_still_runs_its_tasks_and_an_https_uri_fails_saying_why() {
    // A machine without a CA bundle (or an SSL_CERT_FILE naming nothing) still runs pods: the
    // executor talks plain HTTP to its agent; only https URIs fail, naming the missing roots.
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("no-ca");
    let plain = CommandInfo::shell("true");
    let mut https = CommandInfo::shell("true");
    https.uris = vec![CommandUri::new("https://127.0.0.1:1/dist/app.tgz")];
    agent.launch_on_subscribe(group(vec![TaskInfo {
        command: Some(plain),
        ..shell_task("plain", "")
    }]));
    agent.launch_on_subscribe(group(vec![TaskInfo {
        command: Some(https),
        ..shell_task("https", "")
    }]));
    let mut executor = Executor::start(
        &agent,
        &sandbox,
        &[("SSL_CERT_FILE", "/nonexistent/cairn/ca-bundle.pem")],
    );

    agent.wait_for_state("plain", TaskState::Finished);
    let failed = agent.wait_for_state("https", TaskState::Failed);
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains("https://127.0.0.1:1/dist/app.tgz")
            && message.contains("no CA certificate")
            && message.contains("SSL_CERT_FILE"),
        "{message}"
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
}

#[test]
fn after_an_agent_restart_the_executor_resubscribes_with_its_unacknowledged_updates_and_the_task_survives(
) {
    let mut agent = FakeAgent::start(framework(false));
    agent.set_auto_ack(false);
    let sandbox = temp_dir("restart");
    let task_dir = prepare_task_sandbox(&sandbox, "survivor");
    agent.launch_on_subscribe(group(vec![shell_task(
        "survivor",
        "echo $$ > task.pid; exec sleep 1000",
    )]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let running = agent.wait_for_state("survivor", TaskState::Running);
    let pid = read_pid(&task_dir.join("task.pid"));
    let addr = agent.addr;
    agent.stop();
    // The agent stays away while the executor tries to come back.
    wait_until("failed re-subscriptions", || {
        executor.log().matches("subscribe failed").count() >= 2
    });
    assert!(process_alive(pid));
    assert!(
        executor.child.try_wait().unwrap().is_none(),
        "{}",
        executor.log()
    );

    let agent = FakeAgent::start_at(addr, framework(false));
    wait_until("a re-subscription", || !agent.subscribes().is_empty());
    let subscribe = agent.subscribes()[0].subscribe.clone().unwrap();
    let unacknowledged: Vec<_> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|update| update.status.clone())
        .collect();
    assert_eq!(
        unacknowledged
            .iter()
            .map(|status| status.state)
            .collect::<Vec<_>>(),
        vec![TaskState::Starting, TaskState::Running]
    );
    assert_eq!(
        unacknowledged[1].uuid, running.uuid,
        "the same update, not a new one"
    );
    let tasks: Vec<_> = subscribe
        .unacknowledged_tasks
        .iter()
        .map(|task| task.task_id.as_str())
        .collect();
    assert_eq!(tasks, vec!["survivor"]);
    assert!(
        process_alive(pid),
        "the task kept running across the restart"
    );
    assert_eq!(read_pid(&task_dir.join("task.pid")), pid);

    agent.send(Event::kill("survivor".into(), None));
    agent.wait_for_state("survivor", TaskState::Killed);
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
    assert!(!process_alive(pid));
}

#[test]
fn when_the_agent_does_not_return_within_the_recovery_timeout_tasks_are_killed_and_the_executor_exits(
) {
    let mut agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("recovery");
    let task_dir = prepare_task_sandbox(&sandbox, "orphan");
    agent.launch_on_subscribe(group(vec![shell_task(
        "orphan",
        "echo $$ > task.pid; exec sleep 1000",
    )]));
    let mut executor = Executor::start(&agent, &sandbox, &[("MESOS_RECOVERY_TIMEOUT", "1secs")]);
    agent.wait_for_state("orphan", TaskState::Running);
    let pid = read_pid(&task_dir.join("task.pid"));

    let lost_at = Instant::now();
    agent.stop();
    let status = executor.wait_for_exit();
    assert!(!status.success(), "a lost agent is an abnormal end");
    assert!(lost_at.elapsed() >= Duration::from_millis(900));
    assert!(!process_alive(pid));
    assert!(
        executor.log().contains("recovery timeout"),
        "{}",
        executor.log()
    );
}

#[test]
fn shutdown_kills_every_task_and_the_executor_exits_cleanly() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("shutdown");
    let dirs: HashMap<_, _> = ["one", "two"]
        .into_iter()
        .map(|task| (task, prepare_task_sandbox(&sandbox, task)))
        .collect();
    let command = "echo $$ > task.pid; exec sleep 1000";
    agent.launch_on_subscribe(group(vec![
        shell_task("one", command),
        shell_task("two", command),
    ]));
    let mut executor = Executor::start(&agent, &sandbox, &[]);
    agent.wait_for_state("one", TaskState::Running);
    agent.wait_for_state("two", TaskState::Running);
    let pids: Vec<_> = dirs
        .values()
        .map(|dir| read_pid(&dir.join("task.pid")))
        .collect();

    agent.send(Event::shutdown());
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
    assert_eq!(agent.states_of("one").last(), Some(&TaskState::Killed));
    assert_eq!(agent.states_of("two").last(), Some(&TaskState::Killed));
    for pid in pids {
        assert!(!process_alive(pid));
    }
}

#[test]
fn a_command_task_runs_in_the_executor_sandbox_and_reports_its_failure() {
    let agent = FakeAgent::start(framework(false));
    let sandbox = temp_dir("command");
    let mut task = shell_task("lone", "echo out; echo err >&2; exit 4");
    task.command.as_mut().unwrap().environment =
        Some(cairn_proto::Environment::from_pairs([("GREETING", "hi")]));
    agent.launch_on_subscribe(Event::launch(task));
    let mut executor = Executor::start(&agent, &sandbox, &[]);

    let failed = agent.wait_for_state("lone", TaskState::Failed);
    assert_eq!(failed.reason, Some(Reason::CommandExecutorFailed));
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 4; stderr ends: err")
    );
    assert!(executor.wait_for_exit().success(), "{}", executor.log());
    assert_eq!(
        std::fs::read_to_string(sandbox.join("stdout")).unwrap(),
        "out\n"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.join("stderr")).unwrap(),
        "err\n"
    );
}
