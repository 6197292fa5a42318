//! What the master shows through the operator API (`POST /api/v1`: the `GET_*` calls and the
//! calls that change something), and the cluster's own agent list used by fault injection.
//! The v0 endpoints (`/state` and its kin) are in `v0.rs`, built from the same books.

use cairn_proto::master::{self, CallType, Response};
use cairn_proto::{
    AgentCapability, AgentCapabilityType, AgentId, FrameworkId, Resource, Resources, Task, TaskId,
    TimeInfo,
};
use serde_json::json;

use super::accept::ResourceOp;
use super::framework::CallError;
use super::{AgentStatus, ClusterState, MasterTask, Now};

/// The capabilities every cairn agent has: frameworks of several roles, hierarchical roles,
/// refined reservations, and feedback for operations with an id. (Mesos' agents also have
/// RESOURCE_PROVIDER, RESIZE_VOLUME, AGENT_DRAINING and TASK_RESOURCE_LIMITS, for machinery
/// cairn does not have: resource providers, GROW/SHRINK_VOLUME, draining, task limits.)
pub(crate) const AGENT_CAPABILITIES: &[AgentCapabilityType] = &[
    AgentCapabilityType::MultiRole,
    AgentCapabilityType::HierarchicalRole,
    AgentCapabilityType::ReservationRefinement,
    AgentCapabilityType::AgentOperationFeedback,
];

/// The operator API's view of a task: Mesos' `Task`. `status_update_state` and
/// `status_update_uuid` are those of the latest update the agent forwarded (the one awaiting
/// acknowledgement, else the last one acknowledged).
pub(crate) fn task_view(
    fid: &FrameworkId,
    agent_id: &AgentId,
    id: &TaskId,
    t: &MasterTask,
) -> Task {
    let forwarded = t
        .pending
        .as_ref()
        .or_else(|| t.statuses.iter().rev().find(|s| s.uuid.is_some()));
    Task {
        name: t.info.name.clone(),
        task_id: id.clone(),
        framework_id: fid.clone(),
        executor_id: t.executor_id.clone(),
        agent_id: agent_id.clone(),
        state: t.state,
        resources: t.info.resources.clone(),
        statuses: t.statuses.clone(),
        status_update_state: forwarded.map(|p| p.state),
        status_update_uuid: forwarded.and_then(|p| p.uuid.clone()),
        labels: t.info.labels.clone(),
        discovery: t.info.discovery.clone(),
        container: t.info.container.clone(),
        health_check: t.info.health_check.clone().map(with_check_defaults),
        // Mesos' master copies the health check into its task but not the check (a
        // readiness check's), so neither shows one.
        check: None,
        kill_policy: t.info.kill_policy.clone(),
        ..Default::default()
    }
}

/// A health check as Mesos writes it back: its JSON writer fills every field that has a
/// declared default (the times, the failures, and `IPv4` for an HTTP or TCP check).
fn with_check_defaults(mut h: cairn_proto::HealthCheck) -> cairn_proto::HealthCheck {
    h.delay_seconds = Some(h.delay());
    h.interval_seconds = Some(h.interval());
    h.timeout_seconds = Some(h.timeout());
    h.consecutive_failures = Some(h.max_consecutive_failures());
    h.grace_period_seconds = Some(h.grace_period());
    if let Some(http) = h.http.as_mut() {
        http.protocol.get_or_insert_with(|| "IPv4".to_string());
    }
    if let Some(tcp) = h.tcp.as_mut() {
        tcp.protocol.get_or_insert_with(|| "IPv4".to_string());
    }
    h
}

pub(crate) fn time(secs: f64) -> Option<TimeInfo> {
    (secs > 0.0).then_some(TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    })
}

fn json_reply(r: Response) -> OperatorReply {
    OperatorReply::Json(Box::new(r))
}

/// What an operator call answers.
pub(crate) enum OperatorReply {
    Json(Box<Response>),
    Ok,
    Accepted,
}

/// An agent's resources without what frameworks made of them (dynamic reservations and
/// volumes): what it was started with, as Mesos' `AgentInfo.resources` says.
fn static_resources(total: &Resources) -> Vec<Resource> {
    let mut out = Resources::new();
    for r in total.iter() {
        let mut r = r.without_volume();
        while r.reservations.last().is_some_and(|top| top.is_dynamic()) {
            r.reservations.pop();
        }
        out.add(&r);
    }
    out.to_vec()
}

fn endpoint_format<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Vec<Resource> {
    resources
        .into_iter()
        .map(Resource::to_endpoint_format)
        .collect()
}

/// `master.MasterInfo`'s version of this build, and when and by whom it was built: the time
/// the running program was written (its file's), and the user who built it.
pub(crate) fn version_info() -> master::VersionInfo {
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    master::VersionInfo {
        version: cairn_proto::MESOS_VERSION.to_string(),
        build_date: built.map(utc_date),
        build_time: built.map(|s| s as f64),
        build_user: Some(option_env!("USER").unwrap_or_default().to_string()),
        ..Default::default()
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch, as Mesos writes its build date.
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (proleptic Gregorian), by eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl ClusterState {
    /// What the tasks and executors of `fid` hold, with the role each was allocated to.
    pub(crate) fn framework_used(&self, fid: &FrameworkId) -> Resources {
        let mut used = Resources::new();
        for (i, slot) in self.agents.iter().enumerate() {
            match &slot.runtime {
                Some(rt) => {
                    for e in rt.executors.values().filter(|e| &e.framework_id == fid) {
                        used.add_all(e.used_resources());
                    }
                }
                None => {
                    // A stopped agent's tasks still run: the master still counts them.
                    if let Some(fw) = self.master.frameworks.get(fid) {
                        for t in fw.tasks.values() {
                            if t.agent == i && !t.state.is_terminal() {
                                used.add_all(t.info.resources.iter());
                            }
                        }
                    }
                }
            }
        }
        used
    }

    /// What is offered to `fid` now.
    pub(crate) fn framework_offered(&self, fid: &FrameworkId) -> Resources {
        let mut offered = Resources::new();
        for o in self.master.offers.values().filter(|o| &o.framework == fid) {
            offered.add_all(o.resources.iter());
        }
        offered
    }

    /// What an agent's tasks and executors hold, with the role each was allocated to.
    pub(crate) fn allocated(&self, agent: usize) -> Resources {
        let mut allocated = Resources::new();
        self.for_each_used(agent, |r| allocated.add(r));
        allocated
    }

    /// What is offered of an agent now.
    pub(crate) fn agent_offered(&self, agent: usize) -> Resources {
        let mut offered = Resources::new();
        for o in self.master.offers.values().filter(|o| o.agent == agent) {
            offered.add_all(o.resources.iter());
        }
        offered
    }

    pub(crate) fn get_tasks(&self) -> master::GetTasks {
        let mut out = master::GetTasks::default();
        for (fid, fw) in &self.master.frameworks {
            for (id, t) in &fw.tasks {
                let view = task_view(fid, &self.agents[t.agent].id, id, t);
                if t.unreachable_time.is_some() {
                    out.unreachable_tasks.push(view);
                } else {
                    out.tasks.push(view);
                }
            }
            out.completed_tasks
                .extend(fw.completed_tasks.iter().cloned());
        }
        for c in &self.master.completed {
            out.completed_tasks.extend(c.tasks.iter().cloned());
        }
        out
    }

    /// The registered agents (Mesos drops an unreachable agent from them until it comes back).
    pub(crate) fn get_agents(&self) -> master::GetAgents {
        let mut out = master::GetAgents::default();
        for (i, slot) in self.agents.iter().enumerate() {
            if slot.status == AgentStatus::Gone || slot.unreachable {
                continue;
            }
            let mut info = self.agent_info(i);
            info.resources = static_resources(&slot.total);
            info.checkpoint = Some(true);
            out.agents.push(master::Agent {
                agent_info: info,
                active: slot.status == AgentStatus::Running,
                deactivated: Some(false),
                version: cairn_proto::MESOS_VERSION.to_string(),
                pid: Some(agent_pid(slot)),
                registered_time: time(slot.registered_time),
                total_resources: endpoint_format(slot.total.iter()),
                allocated_resources: endpoint_format(self.allocated(i).iter()),
                offered_resources: endpoint_format(self.agent_offered(i).iter()),
                capabilities: AGENT_CAPABILITIES
                    .iter()
                    .map(|c| AgentCapability::from(*c))
                    .collect(),
                ..Default::default()
            });
        }
        out
    }

    pub(crate) fn get_frameworks(&self) -> master::GetFrameworks {
        let mut out = master::GetFrameworks::default();
        for fw in self.master.frameworks.values() {
            let offers = self
                .master
                .offers
                .values()
                .filter(|o| o.framework == fw.id)
                .map(|o| o.offer.clone())
                .collect();
            out.frameworks.push(master::Framework {
                framework_info: fw.info.clone(),
                // Mesos deactivates a framework whose scheduler disconnected (it gets no offers
                // until it re-subscribes): `active` is false while it is away, as `connected` is.
                active: fw.stream.is_some(),
                connected: fw.stream.is_some(),
                recovered: false,
                registered_time: time(fw.registered_time),
                reregistered_time: time(fw.reregistered_time),
                offers,
                allocated_resources: endpoint_format(self.framework_used(&fw.id).iter()),
                offered_resources: endpoint_format(self.framework_offered(&fw.id).iter()),
                offer_constraints: Some(json!({})),
                ..Default::default()
            });
        }
        for c in &self.master.completed {
            out.completed_frameworks.push(master::Framework {
                framework_info: c.info.clone(),
                registered_time: time(c.registered_time),
                reregistered_time: time(c.reregistered_time),
                unregistered_time: time(c.unregistered_time),
                offer_constraints: Some(json!({})),
                ..Default::default()
            });
        }
        out
    }

    pub(crate) fn get_executors(&self) -> master::GetExecutors {
        let mut out = master::GetExecutors::default();
        for slot in &self.agents {
            let Some(rt) = &slot.runtime else { continue };
            for e in rt.executors.values() {
                if e.command_task || e.phase == super::ExecutorPhase::Terminated {
                    continue;
                }
                out.executors.push(master::Executor {
                    executor_info: e.info.clone(),
                    agent_id: slot.id.clone(),
                });
            }
        }
        out
    }

    pub(crate) fn get_state(&self) -> master::GetState {
        master::GetState {
            get_tasks: Some(self.get_tasks()),
            get_executors: Some(self.get_executors()),
            get_frameworks: Some(self.get_frameworks()),
            get_agents: Some(self.get_agents()),
        }
    }

    /// The roles the master knows: those of frameworks, and those of reservations.
    pub(crate) fn known_roles(&self) -> std::collections::BTreeMap<String, Vec<FrameworkId>> {
        let mut roles: std::collections::BTreeMap<String, Vec<FrameworkId>> = Default::default();
        for fw in self.master.frameworks.values() {
            for r in fw.info.effective_roles() {
                roles.entry(r).or_default().push(fw.id.clone());
            }
        }
        for slot in self.agents.iter().filter(|a| a.status != AgentStatus::Gone) {
            for r in slot.total.iter() {
                if let Some(name) = r.reservation_role() {
                    roles.entry(name.to_string()).or_default();
                }
            }
        }
        roles
    }

    /// What the frameworks of `role` hold (`allocated`) and are offered (`offered`).
    pub(crate) fn role_holdings(&self, role: &str) -> (Resources, Resources) {
        let mut allocated = Resources::new();
        for i in 0..self.agents.len() {
            self.for_each_used(i, |r| {
                if r.allocation_role() == Some(role) {
                    allocated.add(&super::strip(r));
                }
            });
        }
        let mut offered = Resources::new();
        for o in self.master.offers.values().filter(|o| o.role == role) {
            offered.add_all(
                o.resources
                    .iter()
                    .map(super::strip)
                    .collect::<Vec<_>>()
                    .iter(),
            );
        }
        (allocated, offered)
    }

    fn get_roles(&self) -> Vec<cairn_proto::Role> {
        self.known_roles()
            .into_iter()
            .map(|(name, frameworks)| {
                let (allocated, offered) = self.role_holdings(&name);
                let mut held = allocated;
                held.add_all(offered.iter());
                // Mesos lists cpus, mem, disk and gpus here, by name, as bare quantities.
                let mut resources: Vec<Resource> = ["cpus", "disk", "gpus", "mem"]
                    .into_iter()
                    .filter(|n| held.iter().any(|r| &r.name == n))
                    .map(|n| Resource::scalar(n, held.scalar(n)))
                    .collect();
                resources.sort_by(|a, b| a.name.cmp(&b.name));
                cairn_proto::Role {
                    name,
                    weight: 1.0,
                    frameworks,
                    resources,
                    ..Default::default()
                }
            })
            .collect()
    }

    /// Every operator call. Reads are synchronous; writes change the books at once.
    pub(crate) fn operator_call(
        &mut self,
        now: Now,
        call: master::Call,
    ) -> Result<OperatorReply, CallError> {
        call.validate().map_err(|e| CallError::new(400, e))?;
        Ok(match call.type_ {
            CallType::GetHealth => json_reply(Response::get_health(true)),
            CallType::GetVersion => json_reply(Response::get_version(version_info())),
            CallType::GetState => json_reply(Response::get_state(self.get_state())),
            CallType::GetAgents => json_reply(Response::get_agents(self.get_agents())),
            CallType::GetFrameworks => json_reply(Response::get_frameworks(self.get_frameworks())),
            CallType::GetTasks => json_reply(Response::get_tasks(self.get_tasks())),
            CallType::GetExecutors => json_reply(Response::get_executors(self.get_executors())),
            CallType::GetRoles => json_reply(Response::get_roles(self.get_roles())),
            CallType::GetMaster => json_reply(Response::get_master(master::GetMaster {
                master_info: self.master_info(),
                start_time: Some(self.master.start_time),
                elected_time: Some(self.master.start_time),
            })),
            CallType::GetFlags => json_reply(Response::get_flags(
                self.flags()
                    .into_iter()
                    .map(|(name, value)| master::Flag {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            )),
            CallType::GetMetrics => json_reply(Response::get_metrics(
                self.metrics_snapshot(now, Default::default())
                    .into_iter()
                    .map(|(name, value)| master::Metric {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            )),
            CallType::ReserveResources
            | CallType::UnreserveResources
            | CallType::CreateVolumes
            | CallType::DestroyVolumes => {
                self.operator_resource_call(now, call)?;
                OperatorReply::Accepted
            }
            CallType::MarkAgentGone => {
                let id = call.mark_agent_gone.map(|m| m.agent_id).unwrap_or_default();
                let agent = self
                    .agent_index(&id)
                    .ok_or_else(|| CallError::new(404, format!("Agent {id} is not known")))?;
                self.lose_agent(now, agent, true)
                    .map_err(|e| CallError::new(400, e))?;
                OperatorReply::Ok
            }
            CallType::Teardown => {
                let id = call.teardown.map(|t| t.framework_id).unwrap_or_default();
                if !self.master.frameworks.contains_key(&id) {
                    return Err(CallError::new(400, format!("Framework {id} is not known")));
                }
                self.remove_framework(now, &id, "torn down by the operator");
                OperatorReply::Ok
            }
            other => {
                return Err(CallError::new(
                    501,
                    format!("Operator call {other:?} is not supported by cairn cluster"),
                ))
            }
        })
    }

    fn operator_resource_call(&mut self, now: Now, call: master::Call) -> Result<(), CallError> {
        let (agent_id, op) = match call.type_ {
            CallType::ReserveResources => {
                let r = call.reserve_resources.unwrap_or_default();
                (r.agent_id, ResourceOp::Reserve(r.resources))
            }
            CallType::UnreserveResources => {
                let r = call.unreserve_resources.unwrap_or_default();
                (r.agent_id, ResourceOp::Unreserve(r.resources))
            }
            CallType::CreateVolumes => {
                let r = call.create_volumes.unwrap_or_default();
                (r.agent_id, ResourceOp::Create(r.volumes))
            }
            _ => {
                let r = call.destroy_volumes.unwrap_or_default();
                (r.agent_id, ResourceOp::Destroy(r.volumes))
            }
        };
        let agent = self
            .agent_index(&agent_id)
            .ok_or_else(|| CallError::new(400, format!("Agent {agent_id} is not known")))?;
        if self.agents[agent].status != AgentStatus::Running {
            return Err(CallError::new(
                409,
                format!("Agent {agent_id} is not running"),
            ));
        }
        let strip_all =
            |rs: Vec<cairn_proto::Resource>| -> Result<Vec<cairn_proto::Resource>, CallError> {
                rs.into_iter()
                    .map(|r| {
                        r.validate_format()
                            .map_err(|e| CallError::new(400, e.to_string()))?;
                        let r = r.to_refined_format();
                        super::accept::validate_names(&r).map_err(|e| CallError::new(400, e))?;
                        Ok(super::strip(&r))
                    })
                    .collect()
            };
        let op = match op {
            ResourceOp::Reserve(r) => ResourceOp::Reserve(strip_all(r)?),
            ResourceOp::Unreserve(r) => ResourceOp::Unreserve(strip_all(r)?),
            ResourceOp::Create(r) => ResourceOp::Create(strip_all(r)?),
            ResourceOp::Destroy(r) => ResourceOp::Destroy(strip_all(r)?),
        };
        // Outstanding offers hold resources the operator may want: take them back first, as
        // the Mesos master rescinds offers to satisfy an operator reservation.
        self.rescind_agent_offers(agent);
        let mut pool = self.available(agent);
        self.apply_resource_op(agent, &mut pool, op)
            .map_err(|e| CallError::new(409, e))?;
        self.master.next_allocation = now.instant;
        Ok(())
    }

    /// The cluster's own agent list (fault injection and `cairn cluster agent list`).
    pub(crate) fn agents_json(&self) -> serde_json::Value {
        json!({
            "agents": self.agents.iter().map(|s| json!({
                "index": s.index,
                "id": s.id.value,
                "hostname": s.ip.to_string(),
                "endpoint": format!("{}:{}", s.ip, s.port),
                "status": match (s.status, s.unreachable) {
                    (AgentStatus::Running, _) => "running",
                    (AgentStatus::Stopped, false) => "stopped",
                    (AgentStatus::Stopped, true) => "unreachable",
                    (AgentStatus::Gone, _) => "gone",
                },
                "work_dir": s.dir.display().to_string(),
                "executors": s.runtime.as_ref().map(|r| r.executors.len()).unwrap_or(0),
                "held_back": s.held_back,
            })).collect::<Vec<_>>()
        })
    }

    /// Resolves an agent named by index, id or hostname.
    pub(crate) fn find_agent(&self, name: &str) -> Option<usize> {
        self.agents.iter().position(|s| {
            s.index.to_string() == name || s.id.value == name || s.ip.to_string() == name
        })
    }
}

/// The pid Mesos would give an agent: its libprocess id at its address.
pub(crate) fn agent_pid(slot: &super::AgentSlot) -> String {
    format!("slave(1)@{}:{}", slot.ip, slot.port)
}
