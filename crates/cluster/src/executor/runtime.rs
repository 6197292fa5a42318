//! The IO around the machine: one loop that feeds it inputs (agent events, task
//! reports, timers, signals) and carries out its actions (HTTP, fetch, spawn,
//! signals, probes). Every long-running piece of IO is a tokio task that
//! reports back through one channel, so the machine sees one input at a time.

use std::collections::HashMap;
use std::time::Instant;

use cairn_proto::executor::{Call, Event};
use cairn_proto::TaskId;
use tokio::process::Child;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::agent::{run_poster, AgentClient};
use super::cache::Cache;
use super::config::ExecutorConfig;
use super::fetch::{Fetcher, UriSpec};
use super::launch::TaskContext;
use super::layout::{self, TaskDir};
use super::machine::{Action, ExecutorMachine, ExitReason, MachineConfig};
use super::probe::{
    probe_client, run_probes, ProbeReport, ProbeResult, ProbeSchedule, ProbeTarget,
};
use super::process::{self, ExitOutcome, GroupSignal, LaunchSpec};
use super::task::TaskKind;
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
        /// The last lines of its stderr, when it failed and wrote any.
        last_words: Option<String>,
    },
    Health {
        task_id: TaskId,
        result: ProbeResult,
    },
    Check {
        task_id: TaskId,
        report: ProbeReport,
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
    fetcher: Fetcher,
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
        fetcher: fetcher(&config),
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
        Input::Exited {
            task_id,
            outcome,
            last_words,
        } => machine.handle_exited(now, &task_id, outcome, last_words.as_deref()),
        Input::Health { task_id, result } => machine.handle_health(now, &task_id, result),
        Input::Check { task_id, report } => machine.handle_check(now, &task_id, report),
    }
}

/// Carries out every pending action; returns the exit reason once the machine
/// has decided to exit.
fn perform_actions(machine: &mut ExecutorMachine, io: &mut Io) -> Option<ExitReason> {
    while let Some(action) = machine.poll_action() {
        match action {
            Action::Subscribe { generation, call } => io.subscribe(generation, call),
            Action::Post { generation, call } => io.post(generation, call),
            Action::CloseStream { generation } => io.close_stream(generation),
            Action::Fetch {
                task_id,
                kind,
                uris,
            } => io.start_fetch(task_id, kind, uris),
            Action::CancelFetch { task_id } => io.cancel_fetch(&task_id),
            Action::Spawn { task_id, launch } => {
                let result = io.spawn_task(&task_id, &launch);
                machine.handle_spawned(Instant::now(), &task_id, result);
            }
            Action::StartProbes {
                task_id,
                health,
                check,
            } => io.start_probes(task_id, health, check),
            Action::StopProbes { task_id } => io.stop_probes(&task_id),
            Action::Signal {
                task_id,
                pid,
                signal,
            } => signal_task(&task_id, pid, signal),
            Action::Exit(reason) => return Some(reason),
        }
    }
    None
}

impl Io {
    /// Opens subscription `generation` on a tokio task of its own, which
    /// reports its events, and finishes every older stream.
    fn subscribe(&mut self, generation: u64, call: Box<Call>) {
        tracing::debug!(generation, "subscribing");
        let agent = self.agent.clone();
        let inputs = self.inputs.clone();
        let handle =
            tokio::spawn(async move { agent.run_subscription(generation, *call, inputs).await });
        // Only one stream is ever live; older ones are finished.
        for (_, old) in self.streams.drain() {
            old.abort();
        }
        self.streams.insert(generation, handle);
    }

    /// Hands a call to the poster, which sends the calls in order.
    fn post(&mut self, generation: u64, call: Box<Call>) {
        if self.posts.send((generation, *call)).is_err() {
            tracing::error!("the update poster stopped");
        }
    }

    /// Drops the event stream of `generation`, if it is still open.
    fn close_stream(&mut self, generation: u64) {
        if let Some(handle) = self.streams.remove(&generation) {
            handle.abort();
        }
    }

    /// Prepares the task's directory and fetches its URIs into it on a tokio
    /// task, which reports the outcome as `Input::Fetched`.
    fn start_fetch(&mut self, task_id: TaskId, kind: TaskKind, uris: Vec<UriSpec>) {
        let handle = tokio::spawn(fetch_task(
            self.fetcher.clone(),
            self.sandbox.clone(),
            kind,
            task_id.clone(),
            uris,
            self.inputs.clone(),
        ));
        self.fetches.insert(task_id, handle);
    }

    /// Stops the task's fetch if it is still running.
    fn cancel_fetch(&mut self, task_id: &TaskId) {
        if let Some(handle) = self.fetches.remove(task_id) {
            handle.abort();
        }
    }

    /// Starts the task's process and a tokio task that reports its exit;
    /// returns its pid, or why it did not start, for `handle_spawned`.
    fn spawn_task(&mut self, task_id: &TaskId, launch: &LaunchSpec) -> Result<u32, String> {
        self.fetches.remove(task_id);
        let child = process::spawn(launch)
            .map_err(|error| format!("cannot start the task command: {error}"))?;
        let pid = child
            .id()
            .ok_or_else(|| "the task process vanished as it started".to_owned())?;
        tracing::info!(task = %task_id, pid, "task process started");
        let stderr = launch.output.as_ref().map(|o| o.stderr.clone());
        tokio::spawn(report_exit(
            child,
            task_id.clone(),
            stderr,
            self.inputs.clone(),
        ));
        Ok(pid)
    }

    /// Starts the task's health and check probes, each on a tokio task that
    /// reports every result.
    fn start_probes(
        &mut self,
        task_id: TaskId,
        health: Option<Box<Probe>>,
        check: Option<Box<Probe>>,
    ) {
        let mut handles = Vec::new();
        if let Some(probe) = health {
            handles.push(
                self.spawn_probe(*probe, task_id.clone(), |task_id, report| Input::Health {
                    task_id,
                    result: report.result,
                }),
            );
        }
        if let Some(probe) = check {
            handles.push(
                self.spawn_probe(*probe, task_id.clone(), |task_id, report| Input::Check {
                    task_id,
                    report,
                }),
            );
        }
        self.probes.insert(task_id, handles);
    }

    /// Runs one probe on a tokio task that reports each result as `report`
    /// makes it, until the loop stops listening.
    fn spawn_probe(
        &self,
        (target, schedule): Probe,
        task_id: TaskId,
        report: fn(TaskId, ProbeReport) -> Input,
    ) -> JoinHandle<()> {
        let inputs = self.inputs.clone();
        tokio::spawn(run_probes(
            target,
            schedule,
            self.probe_client.clone(),
            move |result| {
                let sent = inputs.send(report(task_id.clone(), result));
                std::future::ready(sent.is_ok())
            },
        ))
    }

    /// Stops the task's probes.
    fn stop_probes(&mut self, task_id: &TaskId) {
        for handle in self.probes.remove(task_id).into_iter().flatten() {
            handle.abort();
        }
    }
}

/// The fetcher: its HTTP client, and the agent's cache for this executor's user when the agent
/// keeps one (a cache directory that is not there is not used: URIs are then downloaded for
/// each task, as Mesos does when its cache cannot serve).
fn fetcher(config: &ExecutorConfig) -> Fetcher {
    let client = crate::http_client::build(|| {
        reqwest::Client::builder()
            // Artifacts of an embedded cluster are served from this machine; a
            // proxy from the environment would only get in the way.
            .no_proxy()
            .connect_timeout(FETCH_STALL_TIMEOUT)
            // Mesos' `--fetcher_stall_timeout`: a download that stalls this long fails.
            .read_timeout(FETCH_STALL_TIMEOUT)
    })
    .unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot build the fetcher's HTTP client; using the default one");
        crate::http_client::HttpClient {
            client: reqwest::Client::new(),
            no_trusted_roots: None,
        }
    });
    let cache = config.fetcher_cache.as_ref().and_then(|(dir, size)| {
        if dir.is_dir() {
            Some(Cache::new(dir, *size))
        } else {
            tracing::warn!(dir = %dir.display(), "the fetcher cache directory is not there; fetching without it");
            None
        }
    });
    Fetcher::new(client, cache)
}

/// Mesos' default `--fetcher_stall_timeout`.
const FETCH_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a probe checks and when.
type Probe = (ProbeTarget, ProbeSchedule);

/// Fetches a task's URIs into its directory below the executor's sandbox and
/// reports the directory, or what went wrong, as `Input::Fetched`.
async fn fetch_task(
    fetcher: Fetcher,
    root: std::path::PathBuf,
    kind: TaskKind,
    task_id: TaskId,
    uris: Vec<UriSpec>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    // The task's directory is below the executor's sandbox (a link to read,
    // a few mkdirs at most).
    let result = match layout::prepare(&root, kind, task_id.as_str()) {
        Ok(dir) => fetcher
            .fetch_all(&uris, &dir.path)
            .await
            .map(|()| dir)
            .map_err(|error| error.to_string()),
        Err(error) => Err(format!("cannot prepare the task's sandbox: {error}")),
    };
    let _ = inputs.send(Input::Fetched { task_id, result });
}

/// Waits for a task's process to end and reports how it ended, with the last lines of its
/// stderr when it failed.
async fn report_exit(
    mut child: Child,
    task_id: TaskId,
    stderr: Option<std::path::PathBuf>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let outcome = match child.wait().await {
        Ok(status) => ExitOutcome::from_status(status),
        Err(error) => {
            tracing::error!(task = %task_id, %error, "cannot wait for the task process");
            ExitOutcome::Code(-1)
        }
    };
    let last_words = match (&stderr, outcome.succeeded()) {
        (Some(path), false) => last_lines(path),
        _ => None,
    };
    let _ = inputs.send(Input::Exited {
        task_id,
        outcome,
        last_words,
    });
}

/// The last lines of stderr a failure's message carries: enough for the error that ended the
/// task and what led to it, few enough that the message stays short, as Mesos' are.
const TAIL_LINES: usize = 5;
/// At most this many bytes of them (a line past it is cut, and marked so).
const TAIL_MAX_BYTES: usize = 1024;

/// The last non-empty lines of a task's output file (at most [`TAIL_LINES`], [`TAIL_MAX_BYTES`]
/// in all, control characters dropped), joined by newlines, oldest first; only the file's end is
/// read, however long it is. Not through a link (the file is the task's to replace).
fn last_lines(path: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    const TAIL_BYTES: u64 = 8192;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let length = file.seek(SeekFrom::End(0)).ok()?;
    file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail).ok()?;
    tail_of(&String::from_utf8_lossy(&tail))
}

/// [`last_lines`] of a text already read.
fn tail_of(text: &str) -> Option<String> {
    let mut kept: Vec<String> = Vec::new();
    let mut budget = TAIL_MAX_BYTES;
    for line in text.lines().rev().map(str::trim).filter(|l| !l.is_empty()) {
        if kept.len() == TAIL_LINES || budget == 0 {
            break;
        }
        let clean: String = line.chars().filter(|c| !c.is_control()).collect();
        if clean.len() <= budget {
            budget -= clean.len();
            kept.push(clean);
            continue;
        }
        // The newest line is kept even when it alone is too long: cut, not dropped.
        if kept.is_empty() {
            let mut cut = String::new();
            for c in clean.chars() {
                if cut.len() + c.len_utf8() > budget {
                    break;
                }
                cut.push(c);
            }
            cut.push('…');
            kept.push(cut);
        }
        break;
    }
    if kept.is_empty() {
        return None;
    }
    kept.reverse();
    Some(kept.join("\n"))
}

/// Sends `signal` to the task's process group; a failure is only logged.
fn signal_task(task_id: &TaskId, pid: u32, signal: GroupSignal) {
    tracing::debug!(task = %task_id, pid, ?signal, "signalling the task's process group");
    if let Err(error) = process::signal_group(pid, signal) {
        tracing::warn!(task = %task_id, pid, %error, "cannot signal the task's process group");
    }
}

#[cfg(test)]
mod tests {
    use super::tail_of;

    #[test]
    fn the_tail_keeps_the_last_five_non_empty_lines_oldest_first() {
        let text = "1\n2\n3\n\n4\n5\n6\n7\n\n";
        assert_eq!(tail_of(text).as_deref(), Some("3\n4\n5\n6\n7"));
        assert_eq!(tail_of("\n  \n"), None);
    }

    #[test]
    fn the_tail_stays_within_a_kilobyte_cutting_only_a_lone_long_line() {
        let long = "x".repeat(3000);
        let tail = tail_of(&format!("before\n{long}\n")).unwrap();
        assert!(tail.len() <= 1024 + '…'.len_utf8(), "{}", tail.len());
        assert!(tail.ends_with('…') && !tail.contains("before"));
        let lines = format!("{}\n{}\nlast\n", "a".repeat(600), "b".repeat(600));
        assert_eq!(
            tail_of(&lines).as_deref(),
            Some(format!("{}\nlast", "b".repeat(600)).as_str())
        );
    }
}
