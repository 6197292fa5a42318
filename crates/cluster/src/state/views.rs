//! What the master shows: the operator API (`POST /api/v1`), the v0-style `/state`, and the
//! cluster's own agent list used by fault injection.

use cairn_proto::master::{self, CallType, Response};
use cairn_proto::{AgentId, FrameworkId, Resources, Task, TaskId, TimeInfo};
use serde_json::json;

use super::accept::ResourceOp;
use super::framework::CallError;
use super::{AgentStatus, ClusterState, MasterTask};

/// The operator API's view of a task.
pub(crate) fn task_view(
    fid: &FrameworkId,
    agent_id: &AgentId,
    id: &TaskId,
    t: &MasterTask,
) -> Task {
    Task {
        name: t.info.name.clone(),
        task_id: id.clone(),
        framework_id: fid.clone(),
        executor_id: t.executor_id.clone(),
        agent_id: agent_id.clone(),
        state: t.state,
        resources: t.info.resources.clone(),
        statuses: t.statuses.clone(),
        status_update_state: t.pending.as_ref().map(|p| p.state),
        status_update_uuid: t.pending.as_ref().and_then(|p| p.uuid.clone()),
        labels: t.info.labels.clone(),
        discovery: t.info.discovery.clone(),
        container: t.info.container.clone(),
        health_check: t.info.health_check.clone(),
        check: t.info.check.clone(),
        kill_policy: t.info.kill_policy.clone(),
        ..Default::default()
    }
}

fn time(secs: f64) -> Option<TimeInfo> {
    Some(TimeInfo {
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

impl ClusterState {
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

    pub(crate) fn get_agents(&self) -> master::GetAgents {
        let mut out = master::GetAgents::default();
        for (i, slot) in self.agents.iter().enumerate() {
            if slot.status == AgentStatus::Gone || slot.unreachable {
                continue;
            }
            let used = self.used(i);
            let mut offered = Resources::new();
            for o in self.master.offers.values().filter(|o| o.agent == i) {
                offered.add_all(o.resources.iter());
            }
            out.agents.push(master::Agent {
                agent_info: self.agent_info(i),
                active: slot.status == AgentStatus::Running,
                deactivated: Some(false),
                version: cairn_proto::MESOS_VERSION.to_string(),
                pid: Some(format!("slave({})@{}:{}", i + 1, slot.ip, slot.port)),
                registered_time: time(slot.registered_time),
                total_resources: slot.total.to_vec(),
                allocated_resources: used.to_vec(),
                offered_resources: offered.to_vec(),
                ..Default::default()
            });
        }
        out
    }

    pub(crate) fn get_frameworks(&self) -> master::GetFrameworks {
        let mut out = master::GetFrameworks::default();
        for fw in self.master.frameworks.values() {
            let offers: Vec<cairn_proto::Offer> = Vec::new();
            let mut offered = Resources::new();
            for o in self.master.offers.values().filter(|o| o.framework == fw.id) {
                offered.add_all(o.resources.iter());
            }
            let mut allocated = Resources::new();
            for t in fw.tasks.values().filter(|t| !t.state.is_terminal()) {
                allocated.add_all(t.info.resources.iter());
            }
            out.frameworks.push(master::Framework {
                framework_info: fw.info.clone(),
                // Mesos deactivates a framework whose scheduler disconnected (it gets no offers
                // until it re-subscribes): `active` is false while it is away, as `connected` is.
                active: fw.stream.is_some(),
                connected: fw.stream.is_some(),
                recovered: false,
                registered_time: time(fw.registered_time),
                offers,
                allocated_resources: allocated.to_vec(),
                offered_resources: offered.to_vec(),
                ..Default::default()
            });
        }
        for c in &self.master.completed {
            out.completed_frameworks.push(master::Framework {
                framework_info: c.info.clone(),
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

    fn get_roles(&self) -> Vec<cairn_proto::Role> {
        let mut roles: std::collections::BTreeMap<String, cairn_proto::Role> = Default::default();
        for fw in self.master.frameworks.values() {
            for r in fw.info.effective_roles() {
                let role = roles.entry(r.clone()).or_insert_with(|| cairn_proto::Role {
                    name: r.clone(),
                    weight: 1.0,
                    ..Default::default()
                });
                role.frameworks.push(fw.id.clone());
            }
        }
        for slot in &self.agents {
            for r in slot.total.iter() {
                if let Some(name) = r.reservation_role() {
                    roles
                        .entry(name.to_string())
                        .or_insert_with(|| cairn_proto::Role {
                            name: name.to_string(),
                            weight: 1.0,
                            ..Default::default()
                        });
                }
            }
        }
        roles.into_values().collect()
    }

    /// Every operator call. Reads are synchronous; writes change the books at once.
    pub(crate) fn operator_call(&mut self, call: master::Call) -> Result<OperatorReply, CallError> {
        call.validate().map_err(|e| CallError::new(400, e))?;
        let version = master::VersionInfo {
            version: cairn_proto::MESOS_VERSION.to_string(),
            build_user: Some("cairn".to_string()),
            ..Default::default()
        };
        Ok(match call.type_ {
            CallType::GetHealth => json_reply(Response::get_health(true)),
            CallType::GetVersion => json_reply(Response::get_version(version)),
            CallType::GetState => json_reply(Response::get_state(master::GetState {
                get_tasks: Some(self.get_tasks()),
                get_executors: Some(self.get_executors()),
                get_frameworks: Some(self.get_frameworks()),
                get_agents: Some(self.get_agents()),
            })),
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
            CallType::GetFlags => json_reply(Response::get_flags(self.flags())),
            CallType::GetMetrics => json_reply(Response::get_metrics(Vec::new())),
            CallType::ReserveResources
            | CallType::UnreserveResources
            | CallType::CreateVolumes
            | CallType::DestroyVolumes => {
                self.operator_resource_call(call)?;
                OperatorReply::Accepted
            }
            CallType::MarkAgentGone => {
                let id = call.mark_agent_gone.map(|m| m.agent_id).unwrap_or_default();
                let agent = self
                    .agent_index(&id)
                    .ok_or_else(|| CallError::new(404, format!("Agent {id} is not known")))?;
                self.lose_agent(agent, true)
                    .map_err(|e| CallError::new(400, e))?;
                OperatorReply::Ok
            }
            CallType::Teardown => {
                let id = call.teardown.map(|t| t.framework_id).unwrap_or_default();
                if !self.master.frameworks.contains_key(&id) {
                    return Err(CallError::new(400, format!("Framework {id} is not known")));
                }
                self.remove_framework(&id, "torn down by the operator");
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

    fn flags(&self) -> Vec<master::Flag> {
        let c = &self.cfg;
        let flag = |n: &str, v: String| master::Flag {
            name: n.to_string(),
            value: Some(v),
        };
        vec![
            flag(
                "allocation_interval",
                crate::config::mesos_duration(c.allocation_interval),
            ),
            flag(
                "agent_ping_timeout",
                crate::config::mesos_duration(c.agent_ping_timeout),
            ),
            flag("work_dir", c.work_dir.display().to_string()),
        ]
    }

    fn operator_resource_call(&mut self, call: master::Call) -> Result<(), CallError> {
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
        self.master.next_allocation = std::time::Instant::now();
        Ok(())
    }

    /// The v0-style `/state` document: enough for a human and the common tools.
    pub(crate) fn state_json(&self) -> serde_json::Value {
        let tasks = self.get_tasks();
        let frameworks: Vec<serde_json::Value> = self
            .master
            .frameworks
            .values()
            .map(|fw| {
                let fw_tasks: Vec<&Task> = tasks.tasks.iter().chain(tasks.unreachable_tasks.iter()).filter(|t| t.framework_id == fw.id).collect();
                json!({
                    "id": fw.id.value,
                    "name": fw.info.name,
                    "user": fw.info.user,
                    "roles": fw.info.effective_roles(),
                    "principal": fw.info.principal,
                    "active": fw.stream.is_some(),
                    "connected": fw.stream.is_some(),
                    "failover_timeout": fw.info.failover_timeout_secs(),
                    "capabilities": fw.info.capabilities.iter().map(|c| c.type_).collect::<Vec<_>>(),
                    "registered_time": fw.registered_time,
                    "tasks": fw_tasks.iter().map(|t| v0_task(t)).collect::<Vec<_>>(),
                    "completed_tasks": fw.completed_tasks.iter().map(v0_task).collect::<Vec<_>>(),
                    "offers": self.master.offers.iter().filter(|(_, o)| o.framework == fw.id).map(|(id, o)| json!({"id": id.value, "agent_id": self.agents[o.agent].id.value, "role": o.role, "resources": o.resources.to_vec()})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let slaves: Vec<serde_json::Value> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status != AgentStatus::Gone)
            .map(|(i, s)| {
                json!({
                    "id": s.id.value,
                    "hostname": s.ip.to_string(),
                    "pid": format!("slave({})@{}:{}", i + 1, s.ip, s.port),
                    "active": s.status == AgentStatus::Running,
                    "unreachable": s.unreachable,
                    "registered_time": s.registered_time,
                    "resources": scalars(&s.total),
                    "used_resources": scalars(&self.used(i)),
                    "reserved_resources_full": reserved_by_role(&s.total),
                    "attributes": s.attributes.iter().map(|a| (a.name.clone(), a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default())).collect::<std::collections::BTreeMap<_, _>>(),
                    "work_dir": s.dir.display().to_string(),
                })
            })
            .collect();
        json!({
            "version": cairn_proto::MESOS_VERSION,
            "id": self.master.id,
            "pid": format!("master@{}", self.cfg.listen),
            "hostname": self.cfg.listen.ip().to_string(),
            "start_time": self.master.start_time,
            "elected_time": self.master.start_time,
            "activated_slaves": self.agents.iter().filter(|s| s.status == AgentStatus::Running).count(),
            "deactivated_slaves": 0,
            "unreachable_slaves": self.agents.iter().filter(|s| s.unreachable && s.status != AgentStatus::Gone).count(),
            "frameworks": frameworks,
            "completed_frameworks": self.master.completed.iter().map(|c| json!({"id": c.id.value, "name": c.info.name})).collect::<Vec<_>>(),
            "slaves": slaves,
            "flags": self.flags().into_iter().map(|f| (f.name, f.value.unwrap_or_default())).collect::<std::collections::BTreeMap<_, _>>(),
        })
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

fn v0_task(t: &Task) -> serde_json::Value {
    json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": t.agent_id.value,
        "state": t.state,
        "resources": scalars(&Resources::from(t.resources.as_slice())),
        "statuses": t.statuses.iter().map(|s| json!({"state": s.state, "timestamp": s.timestamp})).collect::<Vec<_>>(),
        "labels": t.labels.as_ref().map(|l| l.labels.clone()).unwrap_or_default(),
    })
}

fn scalars(r: &Resources) -> serde_json::Value {
    let ports: Vec<String> = r
        .ranges("ports")
        .iter()
        .map(|p| format!("{}-{}", p.begin, p.end))
        .collect();
    json!({
        "cpus": r.scalar("cpus"),
        "mem": r.scalar("mem"),
        "disk": r.scalar("disk"),
        "ports": format!("[{}]", ports.join(", ")),
    })
}

fn reserved_by_role(r: &Resources) -> serde_json::Value {
    let mut by: std::collections::BTreeMap<String, Vec<cairn_proto::Resource>> = Default::default();
    for res in r.iter() {
        if let Some(role) = res.reservation_role() {
            by.entry(role.to_string()).or_default().push(res.clone());
        }
    }
    json!(by)
}
