//! The master half of the scheduler API: subscriptions, every call, heartbeats and the
//! failover timeout.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes as WireBytes;
use cairn_proto::scheduler::{self, Call, CallType};
use cairn_proto::validation::validate_role;
use cairn_proto::{
    AgentId, CapabilityType, FrameworkId, FrameworkInfo, MasterInfo, Reason, Source, TaskId,
    TaskState, TaskStatus,
};

use super::{AgentStatus, ClusterState, CompletedFramework, Dirty, Framework, Now, StreamHandle};
use crate::serve::StreamCloser;
use crate::stream::{self, EventReceiver};

/// A call the master refuses synchronously: an HTTP status and a plain-text reason.
#[derive(Debug)]
pub(crate) struct CallError {
    pub status: u16,
    pub message: String,
}

impl CallError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        CallError {
            status,
            message: message.into(),
        }
    }
}

/// What a successful call answers.
pub(crate) enum CallReply {
    /// 202 Accepted, empty body.
    Accepted,
    /// 200 OK, empty body.
    Ok,
}

/// A new SUBSCRIBE stream.
pub(crate) struct Subscription {
    pub framework_id: FrameworkId,
    pub stream_id: String,
    pub rx: EventReceiver,
}

/// How many torn-down frameworks the master remembers (Mesos' `--max_completed_frameworks`).
pub(crate) const COMPLETED_FRAMEWORKS: usize = 50;

impl ClusterState {
    pub(crate) fn master_info(&self) -> MasterInfo {
        let ip = match self.cfg.listen.ip() {
            std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
            std::net::IpAddr::V6(_) => 0,
        };
        MasterInfo {
            id: self.master.id.clone(),
            ip,
            port: u32::from(self.cfg.listen.port()),
            pid: Some(format!("master@{}", self.cfg.listen)),
            hostname: Some(self.cfg.listen.ip().to_string()),
            version: Some(cairn_proto::MESOS_VERSION.to_string()),
            address: Some(cairn_proto::Address {
                hostname: Some(self.cfg.listen.ip().to_string()),
                ip: Some(self.cfg.listen.ip().to_string()),
                port: i32::from(self.cfg.listen.port()),
            }),
            domain: None,
        }
    }

    /// SUBSCRIBE: registers a new framework or fails an old one over to this connection.
    /// `closer` closes that connection if the scheduler stops reading it.
    pub(crate) fn subscribe(
        &mut self,
        now: Now,
        call: Call,
        closer: Option<StreamCloser>,
    ) -> Result<Subscription, CallError> {
        let sub = call
            .subscribe
            .ok_or_else(|| CallError::new(400, "Expecting 'subscribe' to be present"))?;
        let mut info = sub.framework_info;
        validate_framework_info(&info)?;
        // A framework failing over keeps the user it registered with.
        let known = info
            .id
            .as_ref()
            .and_then(|id| self.master.frameworks.get(id));
        let user = known.map_or(&info.user, |f| &f.info.user);
        if let Some(why) = self.cfg.refuse_user(user) {
            return Err(CallError::new(
                403,
                format!("'FrameworkInfo.user' '{user}' is not allowed: {why}"),
            ));
        }
        if known.is_none() && !crate::users::switching() && user != crate::users::own_name() {
            tracing::info!(
                "framework '{}' names user '{user}', but the cluster does not run as root and \
                 cannot switch users: its tasks run as '{}'",
                info.name,
                crate::users::own_name()
            );
        }
        let roles: BTreeSet<String> = info.effective_roles().into_iter().collect();
        for r in &sub.suppressed_roles {
            if !roles.contains(r) {
                return Err(CallError::new(
                    400,
                    format!("Suppressed role '{r}' is not contained in the list of roles"),
                ));
            }
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let id = match info.id.clone() {
            Some(id) => {
                if self.master.completed.iter().any(|c| c.id == id) {
                    // A torn-down framework may not come back: it hears why, then the stream ends.
                    let (tx, rx) = stream::channel(format!("framework {id}"), usize::MAX, None);
                    let ev = scheduler::Event::error("Framework has been removed");
                    let bytes = cairn_proto::recordio::encode_json(&ev);
                    let _ = tx.send(WireBytes::from(bytes));
                    return Ok(Subscription {
                        framework_id: id,
                        stream_id,
                        rx,
                    });
                }
                id
            }
            None => {
                let id = FrameworkId::new(format!(
                    "{}-{:04}",
                    self.master.id, self.master.next_framework
                ));
                self.master.next_framework += 1;
                id
            }
        };
        info.id = Some(id.clone());
        if let Some(fw) = self.master.frameworks.get(&id) {
            if fw.info.principal != info.principal {
                // Another principal may not take a framework over by its id (which anyone can
                // read in /state): it hears why, as Mesos says it, and the framework keeps its
                // own connection. The old principal is not told to the caller.
                tracing::warn!(
                    "framework {id} of principal {:?} was subscribed to with principal {:?}: refused",
                    fw.info.principal,
                    info.principal
                );
                let (tx, rx) = stream::channel(format!("framework {id}"), usize::MAX, None);
                let ev = scheduler::Event::error("Changing framework's principal is not allowed.");
                let _ = tx.send(WireBytes::from(cairn_proto::recordio::encode_json(&ev)));
                return Ok(Subscription {
                    framework_id: id,
                    stream_id,
                    rx,
                });
            }
        }
        let (tx, rx) = stream::channel(
            format!("framework {id} ({})", info.name),
            self.cfg.max_stream_backlog,
            closer,
        );
        let heartbeat = self.cfg.heartbeat_interval;
        if let Some(fw) = self.master.frameworks.get_mut(&id) {
            // Failover: the old stream hears why and closes; user and checkpoint stay as they were.
            if let Some(old) = fw.stream.take() {
                let ev = scheduler::Event::error("Framework failed over");
                let _ = old
                    .tx
                    .send(WireBytes::from(cairn_proto::recordio::encode_json(&ev)));
            }
            info.user = fw.info.user.clone();
            info.checkpoint = fw.info.checkpoint;
            fw.info = info;
            fw.stream = Some(StreamHandle {
                id: stream_id.clone(),
                tx,
            });
            fw.disconnected_at = None;
            fw.suppressed = sub.suppressed_roles.into_iter().collect();
            fw.filters.clear();
            fw.next_heartbeat = now.instant + heartbeat;
            fw.reregistered_time = now.epoch_secs();
            let name = fw.info.name.clone();
            let principal = fw.info.principal.clone();
            let metrics = &mut self.master.metrics;
            metrics.framework_added(&id, &name);
            metrics.inc("master/messages_reregister_framework");
            metrics.framework_call(&id, principal.as_deref(), CallType::Subscribe);
            self.publish_framework(&id, false);
        } else {
            let name = info.name.clone();
            let principal = info.principal.clone();
            let registered = now.epoch_secs();
            self.master.frameworks.insert(
                id.clone(),
                Framework {
                    id: id.clone(),
                    info,
                    registered_time: registered,
                    reregistered_time: registered,
                    stream: Some(StreamHandle {
                        id: stream_id.clone(),
                        tx,
                    }),
                    disconnected_at: None,
                    suppressed: sub.suppressed_roles.into_iter().collect(),
                    filters: Vec::new(),
                    next_heartbeat: now.instant + heartbeat,
                    tasks: HashMap::new(),
                    completed_tasks: VecDeque::new(),
                    operations: Default::default(),
                },
            );
            // Tasks recovered from agent checkpoints belong to this framework again.
            self.adopt_recovered_tasks(&id);
            let metrics = &mut self.master.metrics;
            metrics.framework_added(&id, &name);
            metrics.inc("master/messages_register_framework");
            metrics.framework_call(&id, principal.as_deref(), CallType::Subscribe);
            self.publish_framework(&id, true);
        }
        // Offers made to the old connection are void; the allocator will make new ones.
        self.remove_offers_of(&id, false);
        self.mark(Dirty::Master);
        let subscribed = scheduler::Event::subscribed(
            id.clone(),
            heartbeat.as_secs_f64(),
            Some(self.master_info()),
        );
        self.send_to_framework(&id, &subscribed);
        self.send_to_framework(&id, &scheduler::Event::heartbeat());
        self.resend_pending(now, &id);
        self.master.next_allocation = now.instant;
        Ok(Subscription {
            framework_id: id,
            stream_id,
            rx,
        })
    }

    /// The body of a SUBSCRIBE response was dropped: the scheduler is gone.
    pub(crate) fn framework_stream_closed(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        stream_id: &str,
    ) {
        let Some(fw) = self.master.frameworks.get_mut(framework) else {
            return;
        };
        if fw.stream.as_ref().is_some_and(|s| s.id == stream_id) {
            fw.stream = None;
            fw.disconnected_at = Some(now.instant);
            tracing::info!("framework {framework} disconnected");
            self.remove_offers_of(framework, false);
        }
    }

    /// Every call other than SUBSCRIBE, after the checks the master makes in its order.
    /// `principal` is the caller's authenticated one (`None` when frameworks do not
    /// authenticate): it may act on frameworks of that principal only.
    pub(crate) fn handle_call(
        &mut self,
        now: Now,
        call: Call,
        stream_id: Option<&str>,
        principal: Option<&str>,
    ) -> Result<CallReply, CallError> {
        let Some(fid) = call.framework_id.clone() else {
            return Err(CallError::new(
                400,
                "Expecting 'framework_id' to be present",
            ));
        };
        let Some(fw) = self.master.frameworks.get(&fid) else {
            return Err(CallError::new(400, "Framework cannot be found"));
        };
        if let Some(p) = principal {
            let own = fw.info.principal.as_deref().unwrap_or("");
            if p != own {
                // Mesos answers this with 400 and these words.
                return Err(CallError::new(
                    400,
                    format!(
                        "Authenticated principal '{p}' does not match principal '{own}' set in \
                         `FrameworkInfo`"
                    ),
                ));
            }
        }
        let Some(stream) = &fw.stream else {
            return Err(CallError::new(403, "Framework is not subscribed"));
        };
        match stream_id {
            None => return Err(CallError::new(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")),
            Some(s) if s != stream.id => {
                return Err(CallError::new(
                    400,
                    format!("The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {fid}"),
                ))
            }
            Some(_) => {}
        }
        let own = fw.info.principal.clone();
        self.master
            .metrics
            .framework_call(&fid, own.as_deref(), call.type_);
        match call.type_ {
            CallType::Teardown => self.remove_framework(now, &fid, "Framework torn down"),
            CallType::Accept => self.accept(now, &fid, call.accept.unwrap_or_default()),
            CallType::Decline => self.decline(now, &fid, call.decline.unwrap_or_default()),
            CallType::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.revive(now, &fid, roles);
            }
            CallType::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                self.suppress(&fid, roles);
            }
            CallType::Kill => {
                let kill = call.kill.unwrap_or_default();
                self.kill(
                    now,
                    &fid,
                    &kill.task_id,
                    kill.agent_id.as_ref(),
                    kill.kill_policy,
                );
            }
            CallType::Shutdown => self.shutdown(now, &fid, call.shutdown.unwrap_or_default()),
            CallType::Acknowledge => {
                self.acknowledge(now, &fid, call.acknowledge.unwrap_or_default());
            }
            CallType::AcknowledgeOperationStatus => {
                self.acknowledge_operation_status(&fid, call.acknowledge_operation_status);
            }
            CallType::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                self.reconcile(now, &fid, &tasks);
            }
            CallType::ReconcileOperations => self.reconcile_operations(&fid),
            CallType::Message => self.message(&fid, call.message.unwrap_or_default()),
            CallType::Request | CallType::AcceptInverseOffers | CallType::DeclineInverseOffers => {
                // The built-in allocator ignores requests, and there is no maintenance schedule.
            }
            CallType::UpdateFramework => {
                let u = call.update_framework.unwrap_or_default();
                self.update_framework(now, &fid, u)?;
                return Ok(CallReply::Ok);
            }
            CallType::Subscribe => {
                return Err(CallError::new(
                    400,
                    "SUBSCRIBE must be sent on its own connection without a stream id",
                ))
            }
            CallType::Unknown => return Err(CallError::new(501, "Received an unknown call type")),
        }
        Ok(CallReply::Accepted)
    }

    /// DECLINE: each offer goes back, filtered for the framework as the call asks.
    fn decline(&mut self, now: Now, fid: &FrameworkId, decline: scheduler::Decline) {
        let refuse = decline.filters.as_ref().and_then(|f| f.refuse_seconds);
        for id in &decline.offer_ids {
            self.decline_offer(now, fid, id, refuse);
        }
    }

    /// REVIVE: offers again, for the roles named (every role when none is).
    fn revive(&mut self, now: Now, fid: &FrameworkId, roles: Vec<String>) {
        if let Some(fw) = self.master.frameworks.get_mut(fid) {
            if roles.is_empty() {
                fw.suppressed.clear();
                fw.filters.clear();
            } else {
                for r in &roles {
                    fw.suppressed.remove(r);
                }
                fw.filters.retain(|f| !roles.contains(&f.role));
            }
        }
        self.master.next_allocation = now.instant;
    }

    /// SUPPRESS: no more offers for the roles named (every role when none is).
    fn suppress(&mut self, fid: &FrameworkId, roles: Vec<String>) {
        if let Some(fw) = self.master.frameworks.get_mut(fid) {
            let roles = if roles.is_empty() {
                fw.info.effective_roles()
            } else {
                roles
            };
            fw.suppressed.extend(roles);
        }
    }

    /// SHUTDOWN: one of the framework's executors, if it runs.
    fn shutdown(&mut self, now: Now, fid: &FrameworkId, s: scheduler::Shutdown) {
        if let Some(agent) = self.agent_index(&s.agent_id) {
            if let Some(c) = self.live_container(agent, fid, &s.executor_id) {
                self.shutdown_executor(now, agent, &c);
            }
        }
    }

    /// ACKNOWLEDGE of a status update, passed on to the task's agent.
    fn acknowledge(&mut self, now: Now, fid: &FrameworkId, ack: scheduler::Acknowledge) {
        // Valid when it acknowledges the update in flight (the master's mirror knows it).
        let valid = self
            .master
            .frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(&ack.task_id))
            .and_then(|t| t.pending.as_ref())
            .is_some_and(|p| p.uuid.as_ref() == Some(&ack.uuid));
        self.master.metrics.inc(if valid {
            "master/valid_status_update_acknowledgements"
        } else {
            "master/invalid_status_update_acknowledgements"
        });
        self.framework_acknowledge(now, fid, &ack.agent_id, &ack.task_id, &ack.uuid);
    }

    /// ACKNOWLEDGE_OPERATION_STATUS: the master stops tracking the operation's status.
    fn acknowledge_operation_status(
        &mut self,
        fid: &FrameworkId,
        ack: Option<scheduler::AcknowledgeOperationStatus>,
    ) {
        let mut acked = None;
        if let (Some(a), Some(fw)) = (ack, self.master.frameworks.get_mut(fid)) {
            let matches = fw
                .operations
                .get(&a.operation_id)
                .is_some_and(|(_, s)| s.uuid.as_ref().map(|u| &u.value) == Some(&a.uuid));
            if matches {
                acked = fw.operations.remove(&a.operation_id);
            }
        }
        let metrics = &mut self.master.metrics;
        match acked {
            Some((op_type, status)) => {
                metrics.inc("master/valid_operation_status_update_acknowledgements");
                metrics.operation_state(op_type, status.state, -1);
            }
            None => metrics.inc("master/invalid_operation_status_update_acknowledgements"),
        }
    }

    /// RECONCILE_OPERATIONS: the status of every operation the master still tracks.
    fn reconcile_operations(&mut self, fid: &FrameworkId) {
        let statuses: Vec<_> = self
            .master
            .frameworks
            .get(fid)
            .map(|f| f.operations.values().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default();
        for s in statuses {
            self.send_to_framework(fid, &scheduler::Event::update_operation_status(s));
        }
    }

    /// MESSAGE: to one of the framework's executors, if it runs.
    fn message(&mut self, fid: &FrameworkId, m: scheduler::Message) {
        let container = self
            .agent_index(&m.agent_id)
            .and_then(|agent| Some((agent, self.live_container(agent, fid, &m.executor_id)?)));
        match container {
            Some((agent, c)) => {
                self.master
                    .metrics
                    .inc("master/valid_framework_to_executor_messages");
                self.send_to_executor(agent, &c, &cairn_proto::executor::Event::message(m.data));
            }
            None => self
                .master
                .metrics
                .inc("master/invalid_framework_to_executor_messages"),
        }
    }

    fn update_framework(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        u: scheduler::UpdateFramework,
    ) -> Result<(), CallError> {
        let mut info = u.framework_info;
        validate_framework_info(&info)?;
        let fw = self
            .master
            .frameworks
            .get_mut(fid)
            .ok_or_else(|| CallError::new(400, "Framework cannot be found"))?;
        if info.id.as_ref().is_some_and(|i| i != fid) {
            return Err(CallError::new(
                400,
                "Updating 'FrameworkInfo.id' is unsupported",
            ));
        }
        if info.user != fw.info.user {
            return Err(CallError::new(
                400,
                "Updating 'FrameworkInfo.user' is unsupported",
            ));
        }
        if info.principal != fw.info.principal {
            return Err(CallError::new(
                400,
                "Changing framework's principal is not allowed",
            ));
        }
        if info.checkpoint.unwrap_or(false) != fw.info.checkpoint.unwrap_or(false) {
            return Err(CallError::new(
                400,
                "Updating 'FrameworkInfo.checkpoint' is unsupported",
            ));
        }
        let roles: BTreeSet<String> = info.effective_roles().into_iter().collect();
        for r in &u.suppressed_roles {
            if !roles.contains(r) {
                return Err(CallError::new(
                    400,
                    format!("Suppressed role '{r}' is not contained in the list of roles"),
                ));
            }
        }
        info.id = Some(fid.clone());
        fw.info = info;
        fw.suppressed = u.suppressed_roles.into_iter().collect();
        self.remove_offers_of(fid, true);
        self.mark(Dirty::Master);
        self.publish_framework(fid, false);
        self.master.next_allocation = now.instant;
        Ok(())
    }

    /// KILL: through the task's agent, or an answer from the master when it cannot be reached.
    pub(crate) fn kill(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        task_id: &TaskId,
        agent_id: Option<&AgentId>,
        policy: Option<cairn_proto::KillPolicy>,
    ) {
        let known = self
            .master
            .frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(task_id))
            .map(|t| t.agent);
        match known {
            Some(agent) if self.agents[agent].status == AgentStatus::Running => {
                self.agent_kill(now, agent, fid, task_id, policy);
            }
            Some(agent) => {
                // The agent is away: it gets the kill when it comes back, as Mesos' master
                // sends a disconnected agent's `killedTasks` when it re-registers.
                let kills = &mut self.agents[agent].kills_while_away;
                if !kills.iter().any(|(f, t, _)| f == fid && t == task_id) {
                    kills.push((fid.clone(), task_id.clone(), policy));
                }
            }
            None => {
                let state = match agent_id.and_then(|a| self.agent_index(a)) {
                    Some(i) if self.agents[i].status == AgentStatus::Running => TaskState::Gone,
                    _ => TaskState::Unknown,
                };
                let status = self.master_status(
                    now,
                    fid,
                    task_id,
                    agent_id.cloned(),
                    state,
                    Reason::Reconciliation,
                    "Attempted to kill an unknown task",
                );
                self.send_to_framework(fid, &scheduler::Event::update(status));
            }
        }
    }

    /// A status the master makes up itself (no uuid: never acknowledged, never retried).
    /// Non-partition-aware frameworks see TASK_LOST for every "don't know" state.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn master_status(
        &self,
        now: Now,
        fid: &FrameworkId,
        task_id: &TaskId,
        agent_id: Option<AgentId>,
        state: TaskState,
        reason: Reason,
        message: &str,
    ) -> TaskStatus {
        let state = if self.partition_aware(fid) {
            state
        } else {
            match state {
                TaskState::Unreachable
                | TaskState::Gone
                | TaskState::GoneByOperator
                | TaskState::Unknown
                | TaskState::Dropped => TaskState::Lost,
                s => s,
            }
        };
        TaskStatus {
            task_id: task_id.clone(),
            state,
            reason: Some(reason),
            message: Some(message.to_string()),
            source: Some(Source::Master),
            agent_id,
            timestamp: Some(now.epoch_secs()),
            ..Default::default()
        }
    }

    /// RECONCILE: explicit for the listed tasks, implicit (every known task) when empty.
    fn reconcile(&mut self, now: Now, fid: &FrameworkId, tasks: &[scheduler::ReconcileTask]) {
        let mut answers = Vec::new();
        let Some(fw) = self.master.frameworks.get(fid) else {
            return;
        };
        if tasks.is_empty() {
            for (id, t) in &fw.tasks {
                answers.push(self.reconcile_known(now, fid, id, t));
            }
        } else {
            for rt in tasks {
                if let Some(t) = fw.tasks.get(&rt.task_id) {
                    answers.push(self.reconcile_known(now, fid, &rt.task_id, t));
                    continue;
                }
                let state = match rt.agent_id.as_ref().and_then(|a| self.agent_index(a)) {
                    None => TaskState::Unknown,
                    Some(i) => match (self.agents[i].status, self.agents[i].unreachable) {
                        (AgentStatus::Gone, _) => TaskState::GoneByOperator,
                        (_, true) => TaskState::Unreachable,
                        (AgentStatus::Running, false) => TaskState::Gone,
                        // Disconnected but not yet unreachable: like a recovering agent, no
                        // answer; the scheduler asks again with backoff.
                        (AgentStatus::Stopped, false) => continue,
                    },
                };
                let mut s = self.master_status(
                    now,
                    fid,
                    &rt.task_id,
                    rt.agent_id.clone(),
                    state,
                    Reason::Reconciliation,
                    "Reconciliation: Task is unknown",
                );
                if state == TaskState::Unknown && rt.agent_id.is_none() {
                    s.agent_id = None;
                }
                answers.push(s);
            }
        }
        for s in answers {
            self.send_to_framework(fid, &scheduler::Event::update(s));
        }
    }

    fn reconcile_known(
        &self,
        now: Now,
        fid: &FrameworkId,
        task_id: &TaskId,
        t: &super::MasterTask,
    ) -> TaskStatus {
        let agent_id = self.agents[t.agent].id.clone();
        let mut latest = t
            .statuses
            .last()
            .cloned()
            .unwrap_or_else(|| TaskStatus::new(task_id.clone(), t.state));
        let state = if t.unreachable_time.is_some() {
            TaskState::Unreachable
        } else {
            t.state
        };
        let mut s = self.master_status(
            now,
            fid,
            task_id,
            Some(agent_id),
            state,
            Reason::Reconciliation,
            "Reconciliation: Latest task state",
        );
        s.executor_id = latest.executor_id.take();
        s.healthy = latest.healthy;
        s.check_status = latest.check_status.take();
        s.labels = latest.labels.take();
        s.container_status = latest.container_status.take();
        if let Some(time) = t.unreachable_time {
            s.unreachable_time = Some(cairn_proto::TimeInfo {
                nanoseconds: (time * 1e9) as i64,
            });
        }
        s
    }

    /// Tears a framework down: its tasks are killed and it may never subscribe again. Its
    /// reservations belong to its role and stay.
    pub(crate) fn remove_framework(&mut self, now: Now, fid: &FrameworkId, why: &str) {
        let Some(mut fw) = self.master.frameworks.remove(fid) else {
            return;
        };
        tracing::info!("removing framework {fid}: {why}");
        self.remove_offers_of_removed(fid);
        self.agent_remove_framework(now, fid);
        // Dropping the stream's sender ends the SUBSCRIBE response.
        fw.stream = None;
        let mut tasks: Vec<cairn_proto::Task> = fw.completed_tasks.into_iter().collect();
        let mut killed = Vec::new();
        for (id, t) in &fw.tasks {
            let agent_id = self.agents[t.agent].id.clone();
            let mut view = super::views::task_view(fid, &agent_id, id, t);
            if !view.state.is_terminal() {
                // The master's last word on the task, as Mesos records it.
                let status = TaskStatus {
                    task_id: id.clone(),
                    state: TaskState::Killed,
                    message: Some(format!("Framework {fid} removed")),
                    source: Some(Source::Master),
                    reason: Some(Reason::FrameworkRemoved),
                    agent_id: Some(agent_id),
                    timestamp: Some(now.epoch_secs()),
                    ..Default::default()
                };
                view.state = TaskState::Killed;
                view.statuses.push(status.clone());
                killed.push(status);
            }
            tasks.push(view);
        }
        for status in killed {
            self.master.metrics.task_terminal(fid, &status);
            self.publish(cairn_proto::master::Event::task_updated(
                fid.clone(),
                status,
            ));
        }
        self.publish(cairn_proto::master::Event::framework_removed(
            fw.info.clone(),
        ));
        self.master.completed.push_back(CompletedFramework {
            info: fw.info,
            id: fid.clone(),
            tasks,
            registered_time: fw.registered_time,
            reregistered_time: fw.reregistered_time,
            unregistered_time: now.epoch_secs(),
        });
        if self.master.completed.len() > COMPLETED_FRAMEWORKS {
            if let Some(gone) = self.master.completed.pop_front() {
                self.master.metrics.forget_framework(&gone.id);
            }
        }
        self.mark(Dirty::Master);
    }

    /// Heartbeats and failover timeouts.
    pub(crate) fn framework_tick(&mut self, now: Now) {
        let heartbeat = self.cfg.heartbeat_interval;
        let mut beats = Vec::new();
        let mut expired = Vec::new();
        for (id, fw) in &mut self.master.frameworks {
            if fw.stream.is_some() && fw.next_heartbeat <= now.instant {
                fw.next_heartbeat = now.instant + heartbeat;
                beats.push(id.clone());
            }
            if let Some(at) = fw.disconnected_at {
                let timeout =
                    Duration::from_secs_f64(fw.info.failover_timeout_secs().clamp(0.0, 1e9));
                if now.instant.duration_since(at) >= timeout {
                    expired.push(id.clone());
                }
            }
            let before = fw.filters.len();
            fw.filters.retain(|f| f.until > now.instant);
            if fw.filters.len() != before {
                self.master.next_allocation = self.master.next_allocation.min(now.instant);
            }
        }
        for id in beats {
            self.send_to_framework(&id, &scheduler::Event::heartbeat());
        }
        self.subscribers_tick(now);
        for id in expired {
            self.remove_framework(now, &id, "failover timeout elapsed");
        }
    }
}

fn validate_framework_info(info: &FrameworkInfo) -> Result<(), CallError> {
    if info.name.is_empty() {
        return Err(CallError::new(400, "'FrameworkInfo.name' must be set"));
    }
    if info.user.is_empty() {
        return Err(CallError::new(400, "'FrameworkInfo.user' must be set"));
    }
    let multi = info.has_capability(CapabilityType::MultiRole);
    if !multi && info.roles.len() > 1 {
        return Err(CallError::new(
            400,
            "'FrameworkInfo.roles' with more than one role needs the MULTI_ROLE capability",
        ));
    }
    if multi && info.role.is_some() {
        return Err(CallError::new(
            400,
            "'FrameworkInfo.role' must not be set together with the MULTI_ROLE capability",
        ));
    }
    // Roles name directories of the agents' volumes: Mesos' rules, in Mesos' words.
    if let Some(role) = &info.role {
        validate_role(role).map_err(|e| {
            CallError::new(
                400,
                format!("'FrameworkInfo.role' is not a valid role: {e}"),
            )
        })?;
    }
    let mut seen = BTreeSet::new();
    for role in &info.roles {
        validate_role(role).map_err(|e| {
            CallError::new(
                400,
                format!("'FrameworkInfo.roles' contains invalid role: {e}"),
            )
        })?;
        if !seen.insert(role) {
            return Err(CallError::new(
                400,
                format!("'FrameworkInfo.roles' contains duplicate items: {role}"),
            ));
        }
    }
    if let Some(t) = info.failover_timeout {
        if !t.is_finite() || t < 0.0 {
            return Err(CallError::new(
                400,
                "'FrameworkInfo.failover_timeout' must be a non-negative number",
            ));
        }
    }
    Ok(())
}
