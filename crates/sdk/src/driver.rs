//! The tokio loop around the sans-IO scheduler: it does the IO the scheduler asks for and feeds
//! back what the world says.
//!
//! * **In:** the events of the subscription go to `handle_events` (what has arrived already
//!   goes together: one plan re-derivation for a burst), the scheduler's own timer
//!   (`poll_timeout`) to `handle_timeout`, a broken or silent stream to `handle_disconnected`.
//! * **Out:** every action is drained after every input. `Persist(batch)` is committed to the
//!   store *before* anything else happens, then `handle_committed` releases the calls waiting
//!   for it (on failure `handle_commit_failed`, whose error stops the driver: the scheduler is
//!   ahead of its store and must restart from it). `Call(call)` goes to the master, in order,
//!   on the subscription it was made for.
//! * **Reconnects:** when the stream ends or goes silent for [`DriverOptions::missed_heartbeats`]
//!   heartbeat intervals, the driver re-subscribes with the framework id (the scheduler's
//!   `framework_info()` carries it once known), after a backoff from 1 s doubling to 15 s.
//! * **Status:** a [`Snapshot`] of plans, pods and decisions is published on a watch channel
//!   for the terminal and the HTTP API.
//!
//! * **Takeover check:** before every SUBSCRIBE the driver reads the master's state (the
//!   operator API's GET_STATE) and hands it to `Scheduler::handle_master_state`; a refusal (the
//!   store lost its framework id while the master runs the service, the framework was torn
//!   down, ...) stops the driver with [`Error::Takeover`], which says what to do. A master that
//!   cannot be read is retried like a failed SUBSCRIBE.
//! * **Reads of the agents:** `Action::ReadAgents` starts a GET_AGENTS (retried until it is
//!   answered) whose answer goes to `Scheduler::handle_agents`, like any input.
//!
//! An uninstalled scheduler (`Scheduler::is_uninstalled`) stops the driver once its TEARDOWN
//! went out and the final batch (deleting the state) is committed.
//!
//! Stopping (the `stop` future of [`Driver::run`] completing) just stops: no TEARDOWN, so the
//! master keeps the framework's tasks for the failover timeout and the next run takes over.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::offer::DecisionRecord;
use cairn_core::plan::PlanStatus;
use cairn_core::plan::{Command, CommandRefusal};
use cairn_core::scheduler::{Action, Endpoint, Overrides, PodStatus, Scheduler, UpdateCheck};
use cairn_core::spec::ServiceSpec;
use cairn_core::store::{Store, WriteBatch};
use cairn_core::time::Time;
use cairn_proto::master::GetAgents;
use cairn_proto::scheduler::{Call, CallType, Event, EventType};
use cairn_proto::{TaskInfo, TaskState};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::mesos::{Client, Events, MesosError};
use crate::metrics::Metrics;
use crate::Error;

/// How many ACKNOWLEDGE calls may be in flight at once (see `send_calls`).
const ACK_CONCURRENCY: usize = 16;

/// The most events handed to the scheduler at once (those already received when one is).
const MAX_BATCH: usize = 512;

/// The least time between two `handle_timeout` calls.
const MIN_TIMEOUT_INTERVAL: Duration = Duration::from_millis(10);

/// Waits between attempts of a read of the master's agents that failed.
const READ_RETRY: Duration = Duration::from_secs(2);

/// Timing of the driver. `Default` is what the Mesos docs recommend.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// First wait before re-subscribing.
    pub backoff_min: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// The stream is dead after this many heartbeat intervals without an event.
    pub missed_heartbeats: u32,
    /// How long a new subscription may take to say SUBSCRIBED.
    pub subscribed_timeout: Duration,
    /// Snapshots are published at most this often (a deploy of a thousand tasks changes
    /// something on every event; the terminal needs no more than a few frames a second).
    pub publish_interval: Duration,
    /// Stop with [`Error::MasterUnreachable`] once no subscription has been up for this long.
    /// `None` (a scheduler's default): retry for ever, as a service waits for its master. An
    /// uninstall sets it: one that waits for a master gone for good would never end.
    pub give_up_after: Option<Duration>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(15),
            missed_heartbeats: 5,
            subscribed_timeout: Duration::from_secs(30),
            publish_interval: Duration::from_millis(100),
            give_up_after: None,
        }
    }
}

/// What the scheduler says about the service, as of the last publication.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Whether a subscription is up (SUBSCRIBED received, stream alive).
    pub connected: bool,
    /// Whether the driver has stopped (this is its last snapshot).
    pub stopped: bool,
    /// The master the driver talks to.
    pub master: String,
    /// The framework id, once the master gave one.
    pub framework_id: Option<String>,
    /// Whether the deploy plan is complete.
    pub deployed: bool,
    /// The target config in force.
    pub config_id: String,
    /// Every plan with its phases and steps.
    pub plans: Vec<PlanStatus>,
    /// Every pod instance and its tasks.
    pub pods: Vec<PodStatus>,
    /// The service's endpoints by name (every advertised port of the running tasks).
    pub endpoints: std::collections::BTreeMap<String, Endpoint>,
    /// Recent offer decisions, newest last.
    pub decisions: Vec<DecisionRecord>,
}

/// Drives one [`Scheduler`] against one master with one store.
pub struct Driver {
    scheduler: Scheduler,
    store: Box<dyn Store>,
    client: Client,
    options: DriverOptions,
    snapshot: watch::Sender<Snapshot>,
    /// Calls go out in order from one task, so a slow call never stalls the event loop.
    calls: mpsc::UnboundedSender<(String, Call)>,
    call_worker: tokio::task::JoinHandle<()>,
    /// The subscription calls belong to; `None` while disconnected (calls are then dropped:
    /// the scheduler learns what happened by reconciling after it re-subscribes).
    stream_id: Option<String>,
    publish_at: Option<Instant>,
    stopped: bool,
    last_timeout: Option<Instant>,
    /// Answers of the reads of the master's agents the scheduler asked for.
    agents_tx: mpsc::UnboundedSender<GetAgents>,
    agents_rx: mpsc::UnboundedReceiver<GetAgents>,
    /// The read in flight, if one is.
    reading: Option<tokio::task::JoinHandle<()>>,
    /// What the driver counts (`GET /v1/metrics`).
    metrics: Arc<Metrics>,
    /// What the metrics need to remember between events.
    seen: Seen,
}

/// What the driver remembers for its metrics: when each unacknowledged status update arrived,
/// and each task's latest launch and state (to tell a relaunch from a launch, and a failure
/// from the same failure re-sent).
#[derive(Debug, Default)]
struct Seen {
    /// Arrival of each status update not yet acknowledged, by its uuid.
    unacknowledged: HashMap<Vec<u8>, Instant>,
    /// The task name of each task id the driver knows of (the latest launch of each task).
    names: HashMap<String, String>,
    /// Each task's latest task id and state, by task name.
    tasks: HashMap<String, (String, Option<TaskState>)>,
    /// When the current subscription's reconciliation began, until it settles.
    reconciling_since: Option<Instant>,
}

/// What ended a subscription.
enum Ended {
    Stop,
    Broken(String),
    /// An accepted new spec: the driver stops so that a scheduler can be built with it.
    Update(Box<ServiceSpec>),
}

/// What an operator asks of a running driver (the HTTP API's requests).
#[derive(Debug)]
pub enum Request {
    /// Judge `spec` against the target in force (`Scheduler::check_update`) and reply with
    /// the verdict. An accepted spec stops the driver with [`Outcome::Update`].
    Update {
        /// The new spec, validated.
        spec: Box<ServiceSpec>,
        /// Stage the rollout interrupted: an accepted spec's rollout waits for `continue`.
        paused: bool,
        /// Where the verdict goes.
        reply: oneshot::Sender<Result<UpdateCheck, CommandRefusal>>,
    },
    /// An operator command (`Scheduler::handle_command`): restart or replace a pod, continue
    /// or interrupt a plan. The reply is done, or why it was refused (nothing changed then).
    Command {
        /// The command.
        command: Command,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<(), CommandRefusal>>,
    },
    /// The stored TaskInfos of a pod instance (`Scheduler::pod_task_infos`): `None` when the
    /// spec has no such instance. Asked for, not published: they are large.
    PodInfo {
        /// The pod instance, e.g. `data-2`.
        pod: String,
        /// Where the TaskInfos go.
        reply: oneshot::Sender<Option<Vec<cairn_proto::TaskInfo>>>,
    },
}

/// Why [`Driver::serve`] returned.
#[derive(Debug)]
pub enum Outcome {
    /// `stop` completed (or the service was uninstalled).
    Stopped,
    /// A new spec was accepted; `overrides` are the author's, taken from the scheduler that
    /// accepted it, for the next one.
    Update {
        /// The accepted spec.
        spec: Box<ServiceSpec>,
        /// The author's overrides, for the next scheduler.
        overrides: Overrides,
    },
}

/// The next operator request; never, without a channel or once it closed.
async fn next_request(requests: &mut Option<&mut mpsc::UnboundedReceiver<Request>>) -> Request {
    if let Some(rx) = requests {
        if let Some(request) = rx.recv().await {
            return request;
        }
        *requests = None;
    }
    std::future::pending().await
}

impl Driver {
    /// A driver for `scheduler`, persisting to `store` and talking through `client`. Must be
    /// called inside a tokio runtime (it starts the task that sends calls).
    pub fn new(scheduler: Scheduler, store: Box<dyn Store>, client: Client) -> Driver {
        Driver::with_options(scheduler, store, client, DriverOptions::default())
    }

    /// [`Driver::new`] with explicit timing.
    pub fn with_options(
        scheduler: Scheduler,
        store: Box<dyn Store>,
        client: Client,
        options: DriverOptions,
    ) -> Driver {
        let (calls, rx) = mpsc::unbounded_channel();
        let call_worker = tokio::spawn(send_calls(client.clone(), rx));
        let snapshot = watch::Sender::new(Snapshot {
            master: client.master(),
            ..Snapshot::default()
        });
        let (agents_tx, agents_rx) = mpsc::unbounded_channel();
        let mut seen = Seen::default();
        for task in scheduler.pods().into_iter().flat_map(|p| p.tasks) {
            if !task.task_id.is_empty() {
                seen.names.insert(task.task_id.clone(), task.name.clone());
                seen.tasks.insert(task.name, (task.task_id, task.state));
            }
        }
        let mut driver = Driver {
            scheduler,
            store,
            client,
            options,
            snapshot,
            calls,
            call_worker,
            stream_id: None,
            publish_at: None,
            stopped: false,
            last_timeout: None,
            agents_tx,
            agents_rx,
            reading: None,
            metrics: Arc::new(Metrics::new()),
            seen,
        };
        driver.publish(false);
        driver
    }

    /// The same driver, counting into `metrics` (which outlives it: a scheduler restarted in
    /// process with an accepted spec counts on where this one stopped).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Driver {
        self.metrics = metrics;
        self
    }

    /// What this driver counts.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Snapshots of the service, updated as the scheduler changes them.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.subscribe()
    }

    /// Runs until `stop` completes (then `Ok`), or the scheduler must stop (then the error).
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), Error> {
        self.serve(stop, None).await.map(|_| ())
    }

    /// [`Driver::run`], also answering operator `requests` (the HTTP API's). Returns
    /// [`Outcome::Update`] when a new spec was accepted: the caller builds the next scheduler
    /// with it (a restart, in process) from the same store.
    pub async fn serve(
        mut self,
        stop: impl Future<Output = ()>,
        mut requests: Option<&mut mpsc::UnboundedReceiver<Request>>,
    ) -> Result<Outcome, Error> {
        tokio::pin!(stop);
        // Actions the scheduler queued while being built (e.g. storing its config).
        self.drain()?;
        let mut backoff = self.options.backoff_min;
        // Since when no subscription has been up (the start counts: a master that never
        // answers is given up on too).
        let mut down_since = Instant::now();
        let result = loop {
            let master = self.client.master();
            let checked = tokio::select! {
                () = &mut stop => break Ok(Ended::Stop),
                r = self.client.get_state() => r,
            };
            let subscribed = match checked {
                Ok(state) => {
                    if let Err(e) = self.take_over(&state) {
                        break Err(e);
                    }
                    let info = self.scheduler.framework_info();
                    tokio::select! {
                        () = &mut stop => break Ok(Ended::Stop),
                        r = self.client.subscribe(info) => r,
                    }
                }
                Err(e) if e.is_transient() => Err(e),
                Err(e) => break Err(Error::Mesos(e)),
            };
            let outcome = match subscribed {
                Ok((stream_id, events)) => {
                    tracing::debug!("subscribed to {master}, stream {stream_id}");
                    self.stream_id = Some(stream_id);
                    let outcome = self
                        .connected(events, &mut stop, &mut requests, &mut backoff)
                        .await;
                    self.stream_id = None;
                    down_since = Instant::now();
                    self.stopped = !matches!(outcome, Ok(Ended::Broken(_)));
                    self.scheduler.handle_disconnected(now());
                    if let Err(e) = self.drain() {
                        break Err(e);
                    }
                    self.publish(false);
                    outcome
                }
                // The master refuses this framework (a user it does not allow, say): trying
                // again changes nothing, and the reason is the operator's to read.
                Err(e @ MesosError::Status { code: 403, .. }) => break Err(Error::Mesos(e)),
                // A master that does not accept the credential will not accept it on the
                // next attempt either: stop and say so rather than retry forever.
                Err(e @ MesosError::Unauthenticated { .. }) => break Err(Error::Mesos(e)),
                Err(e) => Ok(Ended::Broken(format!("subscribing to {master}: {e}"))),
            };
            match outcome {
                Ok(Ended::Broken(why)) => {
                    if let Some(limit) = self
                        .options
                        .give_up_after
                        .filter(|l| down_since.elapsed() >= *l)
                    {
                        break Err(Error::MasterUnreachable {
                            master: master.to_string(),
                            after: limit,
                            why,
                        });
                    }
                    tracing::warn!("{why}; re-subscribing in {backoff:?}");
                }
                other => break other,
            }
            // Wait out the backoff, still serving the scheduler's timers and the operator.
            let retry_at = Instant::now() + backoff;
            backoff = (backoff * 2).min(self.options.backoff_max);
            let waited = loop {
                let timer = self.timer();
                tokio::select! {
                    () = &mut stop => break Some(Ok(Ended::Stop)),
                    () = tokio::time::sleep_until(retry_at) => break None,
                    () = sleep_until_opt(timer) => {
                        if let Err(e) = self.handle_timeout() {
                            break Some(Err(e));
                        }
                    }
                    request = next_request(&mut requests) => {
                        match self.handle_request(request) {
                            Ok(Some(spec)) => break Some(Ok(Ended::Update(spec))),
                            Ok(None) => {}
                            Err(e) => break Some(Err(e)),
                        }
                    }
                    answer = next_answer(&mut self.agents_rx) => {
                        if let Err(e) = self.handle_agents(answer) {
                            break Some(Err(e));
                        }
                    }
                }
            };
            if let Some(end) = waited {
                break end;
            }
        };
        self.stopped = true;
        self.publish(false);
        self.call_worker.abort();
        if let Some(read) = self.reading.take() {
            read.abort();
        }
        match result {
            Ok(Ended::Update(spec)) => Ok(Outcome::Update {
                spec,
                overrides: self.scheduler.into_overrides(),
            }),
            Ok(_) => Ok(Outcome::Stopped),
            Err(e) => Err(e),
        }
    }

    /// Answers one operator request; an accepted spec is returned (the driver then stops).
    /// Errs when the store failed to commit what a command wrote (the driver then stops).
    fn handle_request(&mut self, request: Request) -> Result<Option<Box<ServiceSpec>>, Error> {
        match request {
            Request::Update {
                spec,
                paused,
                reply,
            } => {
                let verdict = self.scheduler.check_update(&spec);
                let accepted = matches!(verdict, Ok(UpdateCheck::Accepted));
                if accepted && paused {
                    // Persisted before the verdict and before the restart: interrupts carry
                    // over to the new target, so its rollout starts interrupted.
                    let rollout = self.scheduler.rollout_plan().to_string();
                    let interrupted = self.scheduler.handle_command(
                        now(),
                        Command::Interrupt {
                            plan: rollout,
                            phase: None,
                        },
                    );
                    self.drain()?;
                    if let Err(refusal) = interrupted {
                        let _ = reply.send(Err(refusal));
                        return Ok(None);
                    }
                }
                // The asker may have given up; the verdict stands either way.
                let _ = reply.send(verdict);
                Ok(accepted.then_some(spec))
            }
            Request::Command { command, reply } => {
                let outcome = self.scheduler.handle_command(now(), command);
                // What the command asked for (writes, kills) is done before the answer.
                self.drain()?;
                // And shows before it: whoever asks right after a `plan continue` reads the
                // plan as the command left it, not the one of up to a publish interval ago.
                let connected = self.snapshot.borrow().connected;
                self.publish(connected);
                let _ = reply.send(outcome);
                Ok(None)
            }
            Request::PodInfo { pod, reply } => {
                let infos = self
                    .scheduler
                    .pod_task_infos(&pod)
                    .map(|infos| infos.into_iter().cloned().collect());
                let _ = reply.send(infos);
                Ok(None)
            }
        }
    }

    /// Serves one subscription until it breaks or the driver stops.
    async fn connected(
        &mut self,
        mut events: Events,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        requests: &mut Option<&mut mpsc::UnboundedReceiver<Request>>,
        backoff: &mut Duration,
    ) -> Result<Ended, Error> {
        let mut last_event = Instant::now();
        // Until SUBSCRIBED says how often heartbeats come, allow the subscribe timeout.
        let mut silence_limit = self.options.subscribed_timeout;
        let mut connected = false;
        loop {
            let timer = self.timer();
            let publish_at = self.publish_at;
            tokio::select! {
                () = stop.as_mut() => return Ok(Ended::Stop),
                event = events.recv() => match event {
                    Some(Ok(event)) => {
                        last_event = Instant::now();
                        // What else has arrived already goes with it: the scheduler then
                        // re-derives its plans once for the lot (a deploy's updates come in
                        // bursts of hundreds).
                        let mut batch = vec![event];
                        let mut broken = None;
                        while batch.len() < MAX_BATCH {
                            match events.try_recv() {
                                Some(Ok(e)) => batch.push(e),
                                Some(Err(e)) => {
                                    broken = Some(Ended::Broken(error_chain(&e)));
                                    break;
                                }
                                None => break,
                            }
                        }
                        for event in &batch {
                            match event.type_ {
                                EventType::Subscribed => {
                                    let interval = event
                                        .subscribed
                                        .as_ref()
                                        .map_or(15.0, |s| s.heartbeat_interval());
                                    silence_limit = Duration::from_secs_f64(interval.max(0.1))
                                        * self.options.missed_heartbeats;
                                    connected = true;
                                    *backoff = self.options.backoff_min;
                                }
                                EventType::Error => tracing::warn!(
                                    "the master says: {}",
                                    event.error.as_ref().map_or("", |e| e.message.as_str())
                                ),
                                _ => {}
                            }
                        }
                        self.handle_events(batch)?;
                        if connected && !self.snapshot.borrow().connected {
                            self.publish(true);
                        }
                        if let Some(ended) = broken {
                            return Ok(ended);
                        }
                    }
                    Some(Err(e)) => return Ok(Ended::Broken(error_chain(&e))),
                    None => return Ok(Ended::Broken("the event stream ended".into())),
                },
                () = tokio::time::sleep_until(last_event + silence_limit) => {
                    return Ok(Ended::Broken(format!(
                        "no event from the master for {silence_limit:?}"
                    )));
                }
                () = sleep_until_opt(timer) => self.handle_timeout()?,
                () = sleep_until_opt(publish_at) => self.publish(connected),
                request = next_request(requests) => {
                    if let Some(spec) = self.handle_request(request)? {
                        return Ok(Ended::Update(spec));
                    }
                }
                answer = next_answer(&mut self.agents_rx) => self.handle_agents(answer)?,
            }
            if self.scheduler.is_uninstalled() {
                // The TEARDOWN is queued behind the final commit: send it on this subscription
                // before the stream is dropped, then stop.
                self.flush_calls().await;
                return Ok(Ended::Stop);
            }
        }
    }

    /// Sends every queued call (waiting at most a few seconds), then sends no more.
    async fn flush_calls(&mut self) {
        // Dropping the only sender ends the worker once it has sent what is queued.
        let (closed, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.calls, closed));
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.call_worker).await;
    }

    /// The takeover check with what the master holds now; says what it did, or refuses.
    fn take_over(&mut self, state: &cairn_proto::master::GetState) -> Result<(), Error> {
        let report = self
            .scheduler
            .handle_master_state(now(), state)
            .map_err(Error::Takeover)?;
        if let Some(id) = &report.adopted {
            tracing::info!("adopting framework {id}, as the operator asked");
        }
        if let Some(id) = &report.dropped {
            tracing::info!("framework {id} is not taken over (torn down, or --force): registering a new framework");
        }
        if !report.rebuilt.is_empty() {
            tracing::warn!(
                "the state store had lost the records of {}; rebuilt from the master's report",
                report.rebuilt.join(", ")
            );
        }
        if report.released > 0 {
            tracing::warn!(
                "--force: releasing {} reservations the state store did not know",
                report.released
            );
        }
        self.drain()
    }

    /// An answer to a read of the master's agents.
    fn handle_agents(&mut self, answer: GetAgents) -> Result<(), Error> {
        self.reading = None;
        self.scheduler.handle_agents(now(), &answer);
        self.drain()
    }

    /// Starts a read of the master's agents unless one is in flight (its answer serves).
    fn read_agents(&mut self) {
        if self.reading.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        let client = self.client.clone();
        let tx = self.agents_tx.clone();
        self.reading = Some(tokio::spawn(async move {
            loop {
                match client.get_agents().await {
                    Ok(answer) => {
                        let _ = tx.send(answer);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(
                            "reading the master's agents: {}; again in {READ_RETRY:?}",
                            error_chain(&e)
                        );
                        tokio::time::sleep(READ_RETRY).await;
                    }
                }
            }
        }));
    }

    fn handle_events(&mut self, events: Vec<Event>) -> Result<(), Error> {
        for event in &events {
            self.count_event(event);
        }
        self.scheduler.handle_events(now(), events);
        self.drain()
    }

    /// Counts what an event says: offers, failures; notes when a status update arrived (for
    /// its acknowledgement's latency) and when a subscription began (for its reconciliation).
    fn count_event(&mut self, event: &Event) {
        match event.type_ {
            EventType::Offers => {
                let n = event.offers.as_ref().map_or(0, |o| o.offers.len());
                self.metrics.offers_received(n);
            }
            EventType::Subscribed => {
                self.seen.reconciling_since = Some(Instant::now());
                // Updates of an earlier subscription are sent again, with the same uuids:
                // their first arrival is not what this subscription's acknowledgement answers.
                self.seen.unacknowledged.clear();
            }
            EventType::Update => {
                let Some(update) = &event.update else { return };
                let status = &update.status;
                if let Some(uuid) = &status.uuid {
                    self.seen
                        .unacknowledged
                        .insert(uuid.0.clone(), Instant::now());
                }
                let id = &status.task_id.value;
                let Some(name) = self.seen.names.get(id) else {
                    return;
                };
                let Some((latest, state)) = self.seen.tasks.get_mut(name) else {
                    return;
                };
                // A re-sent update (the same task, the same state) is one failure, not two.
                if latest != id || *state == Some(status.state) {
                    return;
                }
                *state = Some(status.state);
                if is_failure(status.state) {
                    let reason = status.reason.map_or("none", |r| r.as_str());
                    self.metrics.task_failed(status.state.as_str(), reason);
                }
            }
            _ => {}
        }
    }

    /// Counts a call on its way to the master: offers answered, tasks launched, status
    /// updates acknowledged.
    fn count_call(&mut self, call: &Call) {
        match call.type_ {
            CallType::Decline => {
                let n = call.decline.as_ref().map_or(0, |d| d.offer_ids.len());
                self.metrics.offers_declined(n);
            }
            CallType::Accept => {
                let Some(accept) = &call.accept else { return };
                // An ACCEPT without operations gives the offers back: a decline.
                if accept.operations.is_empty() {
                    self.metrics.offers_declined(accept.offer_ids.len());
                    return;
                }
                self.metrics.offers_accepted(accept.offer_ids.len());
                for op in &accept.operations {
                    let launched = op
                        .launch
                        .iter()
                        .flat_map(|l| &l.task_infos)
                        .chain(op.launch_group.iter().flat_map(|g| &g.task_group.tasks));
                    for task in launched {
                        self.count_launch(task);
                    }
                }
            }
            CallType::Acknowledge => {
                let Some(ack) = &call.acknowledge else { return };
                if let Some(arrived) = self.seen.unacknowledged.remove(&ack.uuid.0) {
                    self.metrics.status_acknowledged(arrived.elapsed());
                }
            }
            _ => {}
        }
    }

    fn count_launch(&mut self, task: &TaskInfo) {
        let id = task.task_id.value.clone();
        let previous = self
            .seen
            .tasks
            .insert(task.name.clone(), (id.clone(), None));
        let ended = match &previous {
            Some((old, state)) if *old != id => {
                self.seen.names.remove(old);
                Some(state.map_or("unknown", |s| s.as_str()))
            }
            _ => None,
        };
        self.metrics.task_launched(ended);
        self.seen.names.insert(id, task.name.clone());
    }

    /// Observes the reconciliation's time once it settles.
    fn count_reconciliation(&mut self) {
        if let Some(since) = self.seen.reconciling_since {
            if !self.scheduler.is_reconciling() {
                self.seen.reconciling_since = None;
                self.metrics.reconciled(since.elapsed());
            }
        }
    }

    fn handle_timeout(&mut self) -> Result<(), Error> {
        self.last_timeout = Some(Instant::now());
        self.scheduler.handle_timeout(now());
        self.drain()
    }

    /// Does everything the scheduler asks, in order: commits before the calls they guard.
    fn drain(&mut self) -> Result<(), Error> {
        // Every batch queued by the last input(s) in one commit: a burst of status updates is
        // one durable write, not one per update (each is a file write, rename and fsync).
        let batches = self.scheduler.poll_persists();
        self.commit(batches)?;
        while let Some(action) = self.scheduler.poll_action() {
            match action {
                Action::Persist(batch) => self.commit(vec![batch])?,
                Action::Call(call) => match self.stream_id.clone() {
                    Some(id) => {
                        self.count_call(&call);
                        // The worker only ends when the driver does.
                        let _ = self.calls.send((id, call));
                    }
                    None => tracing::debug!("not subscribed: dropping {}", call.type_),
                },
                Action::ReadAgents => self.read_agents(),
            }
        }
        self.count_reconciliation();
        // Every input may change what the scheduler reports, actions or not.
        if self.publish_at.is_none() {
            self.publish_at = Some(Instant::now() + self.options.publish_interval);
        }
        Ok(())
    }

    /// Commits `batches` as one store write, then tells the scheduler each is durable.
    /// Committed inline, on this task: a commit is about a millisecond (FileStore), and
    /// nothing the scheduler does next may happen before it is durable anyway.
    fn commit(&mut self, batches: Vec<WriteBatch>) -> Result<(), Error> {
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return Ok(());
        };
        let (first, last) = (first.id, last.id);
        let ids: Vec<u64> = batches.iter().map(|b| b.id).collect();
        let merged = WriteBatch {
            id: last,
            ops: batches.into_iter().flat_map(|b| b.ops).collect(),
        };
        let started = Instant::now();
        let committed = self.store.commit(&merged);
        self.metrics.store_committed(started.elapsed());
        match committed {
            Ok(()) => {
                for id in ids {
                    self.scheduler.handle_committed(id);
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(
                    "committing write batches {first}..={last}: {}",
                    error_chain(&e)
                );
                self.scheduler
                    .handle_commit_failed(first)
                    .map_err(Error::Scheduler)
            }
        }
    }

    fn timer(&self) -> Option<Instant> {
        let at = self.scheduler.poll_timeout()?;
        let due = Instant::now() + at.since(now());
        // A deadline still in the past right after `handle_timeout` would spin this loop; the
        // scheduler's timers are coarse (seconds), so a floor between firings changes nothing.
        Some(match self.last_timeout {
            Some(last) => due.max(last + MIN_TIMEOUT_INTERVAL),
            None => due,
        })
    }

    fn publish(&mut self, connected: bool) {
        self.publish_at = None;
        let s = &self.scheduler;
        let snapshot = Snapshot {
            connected,
            stopped: self.stopped,
            master: self.client.master(),
            framework_id: s.framework_id().map(|id| id.value.clone()),
            deployed: s.is_deployed(),
            config_id: s.config_id().to_string(),
            plans: s.plans(),
            pods: s.pods(),
            endpoints: s.endpoints(),
            decisions: s.decisions(),
        };
        self.snapshot.send_replace(snapshot);
    }
}

/// Sends calls in the order the scheduler made them; a call made for a subscription that has
/// been replaced since is dropped (its offers and the like mean nothing in the new one).
/// ACKNOWLEDGEs are the exception: up to [`ACK_CONCURRENCY`] go at once, beside the ordered
/// calls. Nothing depends on their order, an agent holds a task's next status update until the
/// previous one is acknowledged, and a deploy of a thousand tasks makes two thousand of them:
/// one at a time, they were what the deploy waited for.
async fn send_calls(client: Client, mut rx: mpsc::UnboundedReceiver<(String, Call)>) {
    let acks = std::sync::Arc::new(tokio::sync::Semaphore::new(ACK_CONCURRENCY));
    // Dropped with this task (a stopped driver aborts it): in-flight acks go with it.
    let mut in_flight = tokio::task::JoinSet::new();
    while let Some((stream_id, call)) = rx.recv().await {
        while in_flight.try_join_next().is_some() {}
        if client.stream_id().as_deref() != Some(stream_id.as_str()) {
            tracing::debug!("dropping {} made for an earlier subscription", call.type_);
            continue;
        }
        if call.type_ == CallType::Acknowledge {
            let Ok(permit) = acks.clone().acquire_owned().await else {
                continue;
            };
            let client = client.clone();
            in_flight.spawn(async move {
                send_call(&client, &stream_id, &call).await;
                drop(permit);
            });
            continue;
        }
        send_call(&client, &stream_id, &call).await;
    }
    while in_flight.join_next().await.is_some() {}
}

async fn send_call(client: &Client, stream_id: &str, call: &Call) {
    if let Err(e) = client.call_on(stream_id, call).await {
        // The scheduler repairs lost calls itself (offers are re-offered, kills retried,
        // status updates re-sent until acknowledged); a broken master shows on the stream.
        tracing::warn!("{}", error_chain(&e));
    }
}

/// The scheduler's wall clock: milliseconds since the epoch (its deadlines are persisted, so a
/// monotonic clock of this process would mean nothing to the next).
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Time::from_millis(ms)
}

/// Whether a task that reached `state` failed (a kill the scheduler asked for is no failure).
fn is_failure(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Failed
            | TaskState::Error
            | TaskState::Lost
            | TaskState::Dropped
            | TaskState::Unreachable
            | TaskState::Gone
            | TaskState::GoneByOperator
    )
}

/// The next answer to a read of the master's agents (the driver holds a sender: never closed).
async fn next_answer(rx: &mut mpsc::UnboundedReceiver<GetAgents>) -> GetAgents {
    match rx.recv().await {
        Some(answer) => answer,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `e: cause: cause`, for one-line logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
