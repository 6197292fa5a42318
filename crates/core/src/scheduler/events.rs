//! Subscription, status updates and the after-every-event refresh.

use std::collections::{BTreeSet, HashSet};

use cairn_proto::scheduler::{AcknowledgeOperationStatus, Call, Event, EventType, Subscribed};
use cairn_proto::{AgentId, Reason, TaskId, TaskState, TaskStatus};

use crate::decide::is_active;
use crate::plan::assess::readiness_passed;
use crate::reconcile::Reconcile;
use crate::store::{task_status_key, WriteOp, FRAMEWORK_ID};
use crate::time::Time;

use super::demand::DemandCall;
use super::Scheduler;

impl Scheduler {
    pub(super) fn on_event(&mut self, now: Time, event: Event) {
        match event.type_ {
            EventType::Subscribed => {
                if let Some(s) = event.subscribed {
                    self.on_subscribed(now, s);
                }
            }
            EventType::Offers => {
                let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                self.on_offers(now, offers);
            }
            EventType::Update => {
                if let Some(u) = event.update {
                    self.on_status(now, u.status);
                }
            }
            EventType::UpdateOperationStatus => {
                if let Some(u) = event.update_operation_status {
                    self.on_operation_status(u.status);
                }
            }
            EventType::Error => {
                self.last_error = event.error.map(|e| e.message);
            }
            // An agent's FAILURE, not an executor's (which names the executor too).
            EventType::Failure
                if event
                    .failure
                    .as_ref()
                    .is_some_and(|f| f.agent_id.is_some() && f.executor_id.is_none()) =>
            {
                self.agent_failed();
            }
            // Offers are not held between cycles, so a rescind has nothing to take back. An
            // agent FAILURE says nothing about whether the agent is gone: the master sends it
            // when an agent becomes unreachable (it may come back, with its reservations) as
            // well as when it is removed. Nor does a TASK_GONE alone (a registered agent that
            // forgot a task says it too): an agent is removed when the master's list of agents,
            // read after a TASK_GONE naming it, no longer has it (`agents`). Forgetting its
            // reclaims on a FAILURE leaked them when it returned. An agent that holds nothing
            // but reclaims sends no update: an uninstall gives up on it after
            // `uninstall_agent_timeout`, or when an operator forces it.
            // Heartbeats, messages and inverse offers need no action either.
            _ => {}
        }
    }

    /// SUBSCRIBED: store a new framework id before anything else, then reconcile.
    fn on_subscribed(&mut self, now: Time, s: Subscribed) {
        let failover = self.framework_id.is_some();
        if self.framework_id.as_ref() != Some(&s.framework_id) {
            self.outbox.persist(vec![WriteOp::Put {
                key: FRAMEWORK_ID.to_string(),
                value: s.framework_id.value.as_bytes().to_vec(),
            }]);
            self.framework_id = Some(s.framework_id);
        }
        self.subscribed = true;
        self.subscribed_at = Some(now);
        let active: Vec<(TaskId, Option<AgentId>)> = self
            .tasks
            .values()
            .filter(|r| is_active(r.status.as_ref()))
            .map(|r| (r.info.task_id.clone(), Some(r.info.agent_id.clone())))
            .collect();
        if let Some(r) = self.reconciler.start(now, active) {
            self.send_reconcile(r);
        }
        let wanted = self.wanted();
        if let Some(c) = self
            .demand
            .subscribed(now, wanted, failover, self.cfg.revive_min_interval)
        {
            self.send_demand(c);
        }
    }

    /// A task status: persisted before it is acknowledged; unknown tasks are killed.
    fn on_status(&mut self, now: Time, status: TaskStatus) {
        let settled = self.reconciler.is_settled();
        self.reconciler.heard(now, &status.task_id.value);
        let Some(name) = self.task_ids.get(&status.task_id.value).cloned() else {
            self.on_unknown_status(now, status);
            return;
        };
        if self.confirms_stored(&name, &status) {
            // Nothing any plan reads has changed: skip the after-event refresh, which derives
            // every plan over every task. This is what keeps a takeover linear: reconciling
            // 10,000 running tasks is 10,000 of these, within the 10 s takeover goal.
            self.skip_refresh = settled == self.reconciler.is_settled();
            return;
        }
        if self.is_stale(&name, &status) {
            // Mesos delivers a task's updates in order but re-delivers one whose
            // acknowledgement it did not keep (an agent or master failover), after newer news
            // may have come another way (a reconciliation answer). Acting on it would move the
            // task back (a running task reported STARTING after a takeover); not acknowledging
            // it would have it re-sent forever.
            self.skip_refresh = settled == self.reconciler.is_settled();
            let agent = status
                .agent_id
                .clone()
                .or_else(|| self.tasks.get(&name).map(|r| r.info.agent_id.clone()));
            self.acknowledge(&status, agent);
            return;
        }
        let mut writes = Vec::new();
        if status.state.is_terminal() {
            let killed_by_us = self.kills.contains(&status.task_id.value);
            self.kills.forget(&status.task_id.value);
            if !killed_by_us {
                self.note_failure(now, &name, &status);
            }
            writes.extend(self.record_exit(now, &name, &status, killed_by_us));
        }
        let Some(record) = self.tasks.get_mut(&name) else {
            return;
        };
        let merged = merge(record.status.as_ref(), status.clone());
        if record
            .status
            .as_ref()
            .is_none_or(|old| !same_news(old, &merged))
        {
            let value = serde_json::to_vec(&merged).unwrap_or_default();
            record.status = Some(merged);
            writes.push(WriteOp::Put {
                key: task_status_key(&name),
                value,
            });
        }
        if !writes.is_empty() {
            self.outbox.persist(writes);
        }
        // A TASK_GONE says the task is gone, not that its agent is: the master's list of
        // agents decides that (see `agents`), and whether its reservations are still there.
        self.question_agents(&status);
        let agent = status
            .agent_id
            .clone()
            .or_else(|| self.tasks.get(&name).map(|r| r.info.agent_id.clone()));
        self.acknowledge(&status, agent);
    }

    /// Whether `status` is the master's reconciliation answer repeating what the store says of
    /// the task's current incarnation. It is neither stored (the stored status is the agent's
    /// own, richer one: checks, health, message) nor acknowledged (it has no uuid).
    fn confirms_stored(&self, name: &str, status: &TaskStatus) -> bool {
        status.reason == Some(Reason::Reconciliation)
            && status.uuid.is_none()
            && self
                .tasks
                .get(name)
                .and_then(|r| r.status.as_ref())
                .is_some_and(|old| old.task_id == status.task_id && old.state == status.state)
    }

    /// Whether `status` is older than what the store holds of the same task: a re-delivered
    /// update, to be acknowledged and not acted on. Two things show it. A task's states only
    /// move forward from STAGING to STARTING to RUNNING, so a STAGING or STARTING after RUNNING
    /// or KILLING, whoever said the later state, is old. And two updates of the agent's stream
    /// (both with a uuid) carry the agent's clock: an earlier timestamp is an earlier update.
    /// A master's answer (no uuid) is not compared by time: its timestamp is when it answered,
    /// not when the task changed, and the agent's richer update (its readiness check) may come
    /// after it and must be taken. Nor is a terminal update dismissed by its time: it ends the
    /// agent's stream, so one that looks older is a clock that stepped back, and missing a
    /// task's end is worse than taking an old one (at worst the pod is relaunched).
    fn is_stale(&self, name: &str, status: &TaskStatus) -> bool {
        let Some(old) = self.tasks.get(name).and_then(|r| r.status.as_ref()) else {
            return false;
        };
        if old.task_id != status.task_id {
            return false;
        }
        let started = |s: TaskState| matches!(s, TaskState::Running | TaskState::Killing);
        if matches!(status.state, TaskState::Staging | TaskState::Starting) && started(old.state) {
            return true;
        }
        match (old.uuid.as_ref(), status.uuid.as_ref()) {
            (Some(a), Some(b)) if a != b && !status.state.is_terminal() => {
                matches!((old.timestamp, status.timestamp), (Some(t0), Some(t1)) if t1 < t0)
            }
            _ => false,
        }
    }

    /// A status for a task id we do not know: a task from a lost store or an old launch. Kill
    /// it unless it is terminal already, or the master merely says it does not know it either
    /// (TASK_LOST from reconciliation: killing would loop).
    /// Kills go through the retrying kill list when the agent is known, so a lost KILL is
    /// re-sent until the task is heard to be terminal.
    fn on_unknown_status(&mut self, now: Time, status: TaskStatus) {
        // A replaced pod's old task may be the one to say its agent is gone.
        self.question_agents(&status);
        let unknown_to_master =
            status.state == TaskState::Lost && status.reason == Some(Reason::Reconciliation);
        if status.state.is_terminal() {
            self.kills.forget(&status.task_id.value);
        } else if !unknown_to_master {
            let fresh = match &status.agent_id {
                Some(agent) => self.kills.request(now, &status.task_id, agent),
                None => true,
            };
            if fresh {
                self.send_kill(status.task_id.clone(), status.agent_id.clone());
            }
        }
        let agent = status.agent_id.clone();
        self.acknowledge(&status, agent);
    }

    /// Acknowledges a reliable update (one with a uuid); others must not be acknowledged.
    fn acknowledge(&mut self, status: &TaskStatus, agent: Option<AgentId>) {
        let (Some(uuid), Some(agent), Some(fid)) =
            (status.uuid.clone(), agent, self.framework_id.clone())
        else {
            return;
        };
        self.send(Call::acknowledge(fid, agent, status.task_id.clone(), uuid));
    }

    /// cairn sets no operation ids, but an update with a uuid must be acknowledged all the
    /// same or the agent re-sends it forever.
    fn on_operation_status(&mut self, status: cairn_proto::OperationStatus) {
        let (Some(uuid), Some(op), Some(fid)) =
            (status.uuid, status.operation_id, self.framework_id.clone())
        else {
            return;
        };
        let ack = AcknowledgeOperationStatus {
            agent_id: status.agent_id,
            resource_provider_id: status.resource_provider_id,
            uuid: uuid.value,
            operation_id: op,
        };
        self.send(Call::acknowledge_operation_status(fid, ack));
    }

    /// After every input: kill what released steps need dead, and tell the master whether we
    /// want offers.
    pub(super) fn refresh(&mut self, now: Time) {
        if !self.subscribed || self.failed {
            return;
        }
        self.ask_back(now);
        if self.is_uninstalling() {
            // Nothing is deployed or recovered any more: only taken away.
            self.refresh_teardown(now);
            if self.is_uninstalled() {
                // TEARDOWN is out: the framework is gone, nothing may follow it.
                return;
            }
            let wanted = self.reclaim_wants();
            if let Some(c) = self
                .demand
                .update(now, wanted, self.cfg.revive_min_interval)
            {
                self.send_demand(c);
            }
            return;
        }
        let recovery = self.refresh_recovery(now);
        // Teardown touches only pods leaving the target, which no recovery plan covers.
        self.refresh_teardown(now);
        let work = self.work_with(recovery);
        for step in &work.released {
            for (task, agent) in &step.kills {
                if self.kills.request(now, task, agent) {
                    self.send_kill(task.clone(), Some(agent.clone()));
                }
            }
        }
        self.note_deploy_completed(&work);
        let wanted = self.wanted_from(&work);
        if let Some(c) = self
            .demand
            .update(now, wanted, self.cfg.revive_min_interval)
        {
            self.send_demand(c);
        }
    }

    /// Pod instances that need resources now.
    pub(super) fn wanted(&self) -> BTreeSet<String> {
        if self.is_uninstalling() {
            return self.reclaim_wants();
        }
        self.wanted_from(&self.work())
    }

    /// Pod instances with released steps, and agents holding reservations to reclaim (their
    /// offers are needed even when no step is).
    fn wanted_from(&self, work: &crate::plan::Work) -> BTreeSet<String> {
        let mut seen = HashSet::new();
        let mut wanted: BTreeSet<String> = work
            .released
            .iter()
            .filter(|s| s.kills.is_empty())
            .filter(|s| seen.insert(s.pod_instance.clone()))
            .map(|s| self.demand_key(&s.pod_instance))
            .collect();
        wanted.extend(self.reclaim_wants());
        wanted
    }

    /// What a pod instance waiting for resources asks of the offers: `data-1@<agent>` while
    /// its reservations pin it to one agent, `data-1` when any agent may do. Offers no waiting
    /// pod could use are declined for long (`refuse_secs`); when a pod is unpinned (replaced)
    /// while it waits, its key changes, which counts as new work and REVIVEs, clearing those
    /// filters. (Found by cairn-sim, seed 1653: a pod replaced after its agent was removed
    /// waited an hour for the other agents' declined offers.)
    fn demand_key(&self, pod: &crate::spec::PodInstanceName) -> String {
        let pin = self.spec.pod(pod.pod_type()).and_then(|p| {
            crate::offer::requirement::pinned_agent(p, pod, &self.tasks, &self.agents.unheld)
        });
        match pin {
            Some(agent) => format!("{pod}@{}", agent.value),
            None => pod.to_string(),
        }
    }

    /// The first time the deploy plan completes, remember it: later config changes roll out
    /// by the spec's `update` plan.
    fn note_deploy_completed(&mut self, work: &crate::plan::Work) {
        if self.deploy_completed || work.status != crate::plan::Status::Complete {
            return;
        }
        self.deploy_completed = true;
        self.outbox.persist(vec![WriteOp::Put {
            key: crate::store::property_key(super::teardown::DEPLOY_COMPLETED),
            value: Vec::new(),
        }]);
    }

    pub(super) fn send_reconcile(&mut self, r: Reconcile) {
        let Some(fid) = self.framework_id.clone() else {
            return;
        };
        let tasks = match r {
            Reconcile::Explicit(tasks) => tasks,
            Reconcile::Implicit => Vec::new(),
        };
        self.send(Call::reconcile(fid, tasks));
    }

    pub(super) fn send_demand(&mut self, c: DemandCall) {
        let Some(fid) = self.framework_id.clone() else {
            return;
        };
        let roles = self.spec.roles();
        self.send(match c {
            DemandCall::Suppress => Call::suppress(fid, roles),
            DemandCall::Revive => Call::revive(fid, roles),
        });
    }

    pub(super) fn send_kill(&mut self, task: TaskId, agent: Option<AgentId>) {
        let Some(fid) = self.framework_id.clone() else {
            return;
        };
        self.send(Call::kill(fid, task, agent, None));
    }
}

/// The status to store: the new one, carrying a passed readiness check forward when the new
/// status of a running task lacks check results (a health or reconciliation update), so
/// readiness once passed stays passed.
fn merge(old: Option<&TaskStatus>, mut new: TaskStatus) -> TaskStatus {
    if let Some(old) = old {
        let same_task = old.task_id == new.task_id;
        if same_task
            && new.state == TaskState::Running
            && new.check_status.is_none()
            && readiness_passed(old)
        {
            new.check_status = old.check_status.clone();
        }
    }
    new
}

/// Whether two statuses say the same thing (ignoring the delivery's uuid and timestamp): a
/// repeated status need not be written again.
fn same_news(a: &TaskStatus, b: &TaskStatus) -> bool {
    let strip = |s: &TaskStatus| TaskStatus {
        uuid: None,
        timestamp: None,
        ..s.clone()
    };
    strip(a) == strip(b)
}
