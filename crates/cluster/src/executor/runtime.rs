//! The IO around the machine: one loop that feeds it inputs (agent events, task
//! reports, timers, signals) and carries out its actions (HTTP, fetch, spawn,
//! signals, probes). Every long-running piece of IO is a tokio task that
//! reports back through one channel, so the machine sees one input at a time.

use std::collections::HashMap;
use std::time::Instant;

use cairn_proto::executor::{Call, Event};
use cairn_proto::TaskId;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::agent::{run_poster, AgentClient};
use super::config::ExecutorConfig;
use super::fetch::fetch_all;
use super::launch::TaskContext;
use super::layout::{self, TaskDir};
use super::machine::{Action, ExecutorMachine, ExitReason, MachineConfig};
use super::probe::{probe_client, run_probes, ProbeResult};
use super::process::{self, ExitOutcome};
use super::ExecutorError;

/// The first re-subscribe backoff; it doubles up to the configured maximum.
const BACKOFF_INITIAL: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a finished executor stays for acknowledgements and late launches.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a shutting-down executor waits for its last acknowledgements.
const SHUTDOWN_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Everything that reaches the machine, from whichever tokio task.
#[derive(Debug)]
pub enum Input {
    Event {
        generation: u64,
        event: Box<Event>,
    },
    SubscribeFailed {
        generation: u64,
        reason: String,
    },
    StreamClosed {
        generation: u64,
    },
    PostFailed {
        generation: u64,
    },
    Fetched {
        task_id: TaskId,
        result: Result<TaskDir, String>,
    },
    Exited {
        task_id: TaskId,
        outcome: ExitOutcome,
    },
    Health {
        task_id: TaskId,
        result: ProbeResult,
    },
    Check {
        task_id: TaskId,
        result: ProbeResult,
    },
}

fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

fn machine_config(config: &ExecutorConfig) -> MachineConfig {
    MachineConfig {
        framework_id: config.framework_id.as_str().into(),
        executor_id: config.executor_id.as_str().into(),
        agent_id: config.agent_id.as_deref().map(Into::into),
        context: TaskContext {
            framework_id: config.framework_id.clone(),
            executor_id: config.executor_id.clone(),
            agent_endpoint: config.agent_endpoint,
            hostname: config.hostname.clone(),
            executor_sandbox: config.sandbox.clone(),
            inherited_env: std::env::vars().collect(),
        },
        checkpoint: config.checkpoint,
        recovery_timeout: config.recovery_timeout,
        backoff_initial: BACKOFF_INITIAL.min(config.subscription_backoff_max),
        backoff_max: config.subscription_backoff_max,
        shutdown_grace: config.shutdown_grace_period,
        linger: LINGER,
        shutdown_ack_wait: SHUTDOWN_ACK_WAIT,
        wall_clock,
    }
}

/// The IO handles the loop owns, per task and per subscription.
struct Io {
    agent: AgentClient,
    /// The executor's sandbox, which every task directory is below.
    sandbox: std::path::PathBuf,
    inputs: mpsc::UnboundedSender<Input>,
    posts: mpsc::UnboundedSender<(u64, Call)>,
    fetch_client: reqwest::Client,
    probe_client: reqwest::Client,
    streams: HashMap<u64, JoinHandle<()>>,
    fetches: HashMap<TaskId, JoinHandle<()>>,
    probes: HashMap<TaskId, Vec<JoinHandle<()>>>,
}

impl Drop for Io {
    fn drop(&mut self) {
        // Task processes are never touched here: only our own IO stops.
        for handle in self.streams.values().chain(self.fetches.values()) {
            handle.abort();
        }
        for handle in self.probes.values().flatten() {
            handle.abort();
        }
    }
}

/// Runs the executor until it decides to exit.
pub async fn run(config: ExecutorConfig) -> Result<(), ExecutorError> {
    tracing::info!(
        framework = %config.framework_id,
        executor = %config.executor_id,
        agent = %config.agent_endpoint,
        sandbox = %config.sandbox.display(),
        "executor starting"
    );
    let mut terminate = signal(SignalKind::terminate()).map_err(ExecutorError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ExecutorError::Signals)?;

    let (inputs, mut input_rx) = mpsc::unbounded_channel();
    let (posts, post_rx) = mpsc::unbounded_channel();
    let agent = AgentClient::new(config.executor_api_url(), config.auth_token.as_deref());
    let poster = tokio::spawn(run_poster(agent.clone(), post_rx, inputs.clone()));
    let mut io = Io {
        agent,
        sandbox: config.sandbox.clone(),
        inputs,
        posts,
        // Artifacts of an embedded cluster are served from this machine; a
        // proxy from the environment would only get in the way.
        fetch_client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new()),
        probe_client: probe_client(),
        streams: HashMap::new(),
        fetches: HashMap::new(),
        probes: HashMap::new(),
    };
    let mut machine = ExecutorMachine::new(Instant::now(), machine_config(&config));

    let reason = loop {
        if let Some(reason) = perform_actions(&mut machine, &mut io) {
            break reason;
        }
        let deadline = machine.poll_timeout();
        let sleep = async {
            match deadline {
                Some(deadline) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = input_rx.recv() => match input {
                Some(input) => dispatch(&mut machine, input),
                // Impossible while `io` holds a sender; never spin on it.
                None => break ExitReason::Completed,
            },
            () = sleep => machine.handle_timeout(Instant::now()),
            _ = terminate.recv() => {
                tracing::info!("SIGTERM received; shutting down");
                machine.handle_terminate_signal(Instant::now());
            }
            _ = interrupt.recv() => {
                tracing::info!("SIGINT received; shutting down");
                machine.handle_terminate_signal(Instant::now());
            }
        }
    };
    drop(io);
    poster.abort();
    tracing::info!(?reason, "executor exiting");
    match reason {
        ExitReason::Completed | ExitReason::Shutdown | ExitReason::Signalled => Ok(()),
        ExitReason::RecoveryTimedOut => {
            Err(ExecutorError::RecoveryTimedOut(config.recovery_timeout))
        }
        ExitReason::AgentLost => Err(ExecutorError::AgentLost),
    }
}

fn dispatch(machine: &mut ExecutorMachine, input: Input) {
    let now = Instant::now();
    match input {
        Input::Event { generation, event } => machine.handle_event(now, generation, *event),
        Input::SubscribeFailed { generation, reason } => {
            machine.handle_subscribe_failed(now, generation, &reason)
        }
        Input::StreamClosed { generation } => machine.handle_stream_closed(now, generation),
        Input::PostFailed { generation } => machine.handle_post_failed(now, generation),
        Input::Fetched { task_id, result } => machine.handle_fetched(now, &task_id, result),
        Input::Exited { task_id, outcome } => machine.handle_exited(now, &task_id, outcome),
        Input::Health { task_id, result } => machine.handle_health(now, &task_id, result),
        Input::Check { task_id, result } => machine.handle_check(now, &task_id, result),
    }
}

/// Carries out every pending action; returns the exit reason once the machine
/// has decided to exit.
fn perform_actions(machine: &mut ExecutorMachine, io: &mut Io) -> Option<ExitReason> {
    while let Some(action) = machine.poll_action() {
        match action {
            Action::Subscribe { generation, call } => {
                tracing::debug!(generation, "subscribing");
                let agent = io.agent.clone();
                let inputs = io.inputs.clone();
                let handle =
                    tokio::spawn(
                        async move { agent.run_subscription(generation, *call, inputs).await },
                    );
                // Only one stream is ever live; older ones are finished.
                for (_, old) in io.streams.drain() {
                    old.abort();
                }
                io.streams.insert(generation, handle);
            }
            Action::Post { generation, call } => {
                if io.posts.send((generation, *call)).is_err() {
                    tracing::error!("the update poster stopped");
                }
            }
            Action::CloseStream { generation } => {
                if let Some(handle) = io.streams.remove(&generation) {
                    handle.abort();
                }
            }
            Action::Fetch {
                task_id,
                kind,
                uris,
            } => {
                let client = io.fetch_client.clone();
                let inputs = io.inputs.clone();
                let id = task_id.clone();
                let root = io.sandbox.clone();
                let handle = tokio::spawn(async move {
                    // The task's directory is below the executor's sandbox (a link to read,
                    // a few mkdirs at most).
                    let result = match layout::prepare(&root, kind, id.as_str()) {
                        Ok(dir) => fetch_all(&client, &uris, &dir.path)
                            .await
                            .map(|()| dir)
                            .map_err(|error| error.to_string()),
                        Err(error) => Err(format!("cannot prepare the task's sandbox: {error}")),
                    };
                    let _ = inputs.send(Input::Fetched {
                        task_id: id,
                        result,
                    });
                });
                io.fetches.insert(task_id, handle);
            }
            Action::CancelFetch { task_id } => {
                if let Some(handle) = io.fetches.remove(&task_id) {
                    handle.abort();
                }
            }
            Action::Spawn { task_id, launch } => {
                io.fetches.remove(&task_id);
                let result = match process::spawn(&launch) {
                    Ok(mut child) => match child.id() {
                        Some(pid) => {
                            tracing::info!(task = %task_id, pid, "task process started");
                            let inputs = io.inputs.clone();
                            let id = task_id.clone();
                            tokio::spawn(async move {
                                let outcome = match child.wait().await {
                                    Ok(status) => ExitOutcome::from_status(status),
                                    Err(error) => {
                                        tracing::error!(task = %id, %error, "cannot wait for the task process");
                                        ExitOutcome::Code(-1)
                                    }
                                };
                                let _ = inputs.send(Input::Exited {
                                    task_id: id,
                                    outcome,
                                });
                            });
                            Ok(pid)
                        }
                        None => Err("the task process vanished as it started".to_owned()),
                    },
                    Err(error) => Err(format!("cannot start the task command: {error}")),
                };
                machine.handle_spawned(Instant::now(), &task_id, result);
            }
            Action::StartProbes {
                task_id,
                health,
                check,
            } => {
                let mut handles = Vec::new();
                if let Some(probe) = health {
                    let (target, schedule) = *probe;
                    let inputs = io.inputs.clone();
                    let id = task_id.clone();
                    handles.push(tokio::spawn(run_probes(
                        target,
                        schedule,
                        io.probe_client.clone(),
                        move |result| {
                            let sent = inputs.send(Input::Health {
                                task_id: id.clone(),
                                result,
                            });
                            std::future::ready(sent.is_ok())
                        },
                    )));
                }
                if let Some(probe) = check {
                    let (target, schedule) = *probe;
                    let inputs = io.inputs.clone();
                    let id = task_id.clone();
                    handles.push(tokio::spawn(run_probes(
                        target,
                        schedule,
                        io.probe_client.clone(),
                        move |result| {
                            let sent = inputs.send(Input::Check {
                                task_id: id.clone(),
                                result,
                            });
                            std::future::ready(sent.is_ok())
                        },
                    )));
                }
                io.probes.insert(task_id, handles);
            }
            Action::StopProbes { task_id } => {
                for handle in io.probes.remove(&task_id).into_iter().flatten() {
                    handle.abort();
                }
            }
            Action::Signal {
                task_id,
                pid,
                signal,
            } => {
                tracing::debug!(task = %task_id, pid, ?signal, "signalling the task's process group");
                if let Err(error) = process::signal_group(pid, signal) {
                    tracing::warn!(task = %task_id, pid, %error, "cannot signal the task's process group");
                }
            }
            Action::Exit(reason) => return Some(reason),
        }
    }
    None
}
